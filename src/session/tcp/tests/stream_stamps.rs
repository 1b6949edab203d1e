//! Stamped streams on virtual time: the test stands in for both drivers'
//! kernels, stamping each segment's send on a server clock set ahead of
//! the client's and each read on the client's, and loses the stamps it is
//! told to.

use super::*;
use crate::session::stamps::ClientStamp;
use crate::session::tcp::stream_stamps::StampPairs;

/// The server's clock is this far ahead of the client's, ns.
const AHEAD: u64 = 5_000_000;

fn ns(t0: Instant, now: Instant) -> u64 {
    epoch(t0).unix_ns_of(t0) + (now - t0).as_nanos() as u64
}

fn stamped_stream(t: Instant, count: u32) -> ClientAction {
    ClientAction::Stream(StreamClient::stamped(
        t,
        epoch(t),
        (MS, count, 100),
        Duration::from_secs(5),
    ))
}

/// Runs a stamped stream; the server's kernel sends each segment 300 ns
/// after its write, and the TX stamps of the segments in `lose` never come.
fn run(net: &mut Net, lose: &[u32]) -> Box<StreamFigures> {
    let (mut cbuf, mut sbuf) = (Vec::new(), Vec::new());
    let t0 = net.now;
    for _ in 0..1_000_000 {
        let now = net.now;
        while let Some(t) = net.client.poll_transmit(now, &mut cbuf) {
            net.up.send(now, &cbuf[..t.len]);
        }
        if net.client.is_done() {
            let done = std::mem::replace(&mut net.client, stream(t0, MS, 1, 64)).finish();
            let Some(Finished::Stream(f)) = done else {
                panic!("not a stream");
            };
            return f;
        }
        while let Some(t) = net.server.poll_transmit(now, &mut sbuf) {
            net.down.send(now, &sbuf[..t.len]);
            if let Some(seq) = net.server.take_stamped_reply() {
                if !lose.contains(&seq) {
                    net.server.handle_tx_stamp(seq, ns(t0, now) + 300 + AHEAD);
                }
            }
        }
        let mut moved = false;
        while let Some(b) = net.up.deliver(now) {
            net.server.handle_bytes(now, &b);
            moved = true;
        }
        while let Some(b) = net.down.deliver(now) {
            net.client.handle_stamp(ClientStamp::Received {
                seq: 0,
                rx_ns: Some(ns(t0, now)),
                app_ns: ns(t0, now) + 2000,
            });
            net.client.handle_bytes(now, &b).unwrap();
            moved = true;
        }
        if moved {
            continue;
        }
        let next = [
            net.up.next_at(),
            net.down.next_at(),
            net.client.poll_timeout(),
            net.server.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
        .expect("deadlock");
        net.now = net.now.max(next);
        net.client.handle_timeout(net.now).unwrap();
    }
    panic!("the stream did not end");
}

fn pairs(f: &StreamFigures) -> &StampPairs {
    f.stamps.as_ref().expect("a stamped stream has stamps")
}

#[test]
fn every_segment_pairs_its_send_stamp_with_its_arrival() {
    for seed in 1..6 {
        let t = base();
        // Pieces as large as a segment's write: one read per write.
        let mut net = Net::new(t, seed, 100_000, MS, stamped_stream(t, 20));
        let f = run(&mut net, &[]);
        assert_eq!((f.segments, f.sent), (20, 20));
        let p = pairs(&f);
        assert_eq!((p.pairs.len(), p.no_rx, p.no_tx, p.carried), (20, 0, 0, 20));
        for (tx, rx) in &p.pairs {
            // One-way: 1 ms, up to a tenth more, less the kernel's 300 ns.
            let d = *rx as i64 - (*tx - AHEAD) as i64;
            assert!((999_700..=1_099_700).contains(&d), "seed {seed}: {d}");
        }
    }
}

#[test]
fn lost_stamps_and_shared_reads_are_counted_never_guessed() {
    let t = base();
    // Segments every ms cut in pieces of up to 7 bytes: each segment
    // completes in a read of its own, but its stamp is of its last piece.
    let mut net = Net::new(t, 3, 7, MS, stamped_stream(t, 10));
    let f = run(&mut net, &[2, 9]);
    let p = pairs(&f);
    assert_eq!((p.no_tx, p.carried), (2, 10));
    assert_eq!(p.pairs.len() as u64 + p.no_rx + p.no_tx, 10);
}

#[test]
fn the_stamped_stream_prices_its_stamps_and_a_plain_one_is_unchanged() {
    let t = base();
    let mut net = Net::new(t, 1, 100_000, MS, stamped_stream(t, 5));
    let f = run(&mut net, &[]);
    let crate::account::beside::Shape::Stream { size, .. } = f.shape else {
        panic!("not a stream shape");
    };
    assert_eq!(size, 100 + 20);
    let mut plain = Net::new(t, 1, 100_000, MS, stream(t, MS, 5, 100));
    plain.run().unwrap();
    let Some(Finished::Stream(f)) = plain.client.finish() else {
        panic!("not a stream");
    };
    assert!(f.stamps.is_none());
}
