//! Stamped echoes on virtual time: the test stands in for both drivers'
//! kernels, stamping every send and arrival from the virtual clock, and
//! loses the stamps it is told to.

use super::*;
use crate::account::beside::Shape;
use crate::proto::stamps::StampsKind;
use crate::session::stamps::{ClientStamp, EchoStamps};

/// The kernels' clock: Unix-epoch ns of a virtual instant.
fn ns(t: Instant) -> u64 {
    epoch(t).unix_ns_of(t)
}

/// Runs a stamped echo; t1 is 100 ns after the client's send call, t3
/// 200 ns after the server's, and the t3 of the replies in `lose` never
/// comes. The client's reads return 2 µs after their RX stamp.
fn run_stamped(net: &mut Net, lose: &[u32]) -> EchoStamps {
    net.server.set_stamps_kind(StampsKind::Software);
    let (mut cbuf, mut sbuf) = (Vec::new(), Vec::new());
    let t0 = net.now;
    for _ in 0..1_000_000 {
        let now = net.now;
        let k = ns(t0) + (now - t0).as_nanos() as u64;
        while let Some(t) = net.client.poll_transmit(now, &mut cbuf) {
            net.up.send(now, &cbuf[..t.len]);
            if let Some(seq) = net.client.stamped_outstanding() {
                net.client
                    .handle_stamp(ClientStamp::Sent { seq, app_ns: k });
                net.client
                    .handle_stamp(ClientStamp::Tx { seq, ns: k + 100 });
            }
        }
        if net.client.is_done() {
            let Some(Finished::Echo { stamps, shape, .. }) =
                std::mem::replace(&mut net.client, echo(t0, 1, 0, MS)).finish()
            else {
                panic!("not an echo");
            };
            assert!(matches!(shape, Shape::Echo { .. }));
            return *stamps.expect("a stamped echo has stamps");
        }
        while let Some(t) = net.server.poll_transmit(now, &mut sbuf) {
            net.down.send(now, &sbuf[..t.len]);
            if let Some(seq) = net.server.take_stamped_reply() {
                if !lose.contains(&seq) {
                    net.server.handle_tx_stamp(seq, k + 200);
                }
            }
        }
        let mut moved = false;
        while let Some(b) = net.up.deliver(now) {
            net.server.handle_read_stamp(Some(k), k + 1000);
            net.server.handle_bytes(now, &b);
            moved = true;
        }
        while let Some(b) = net.down.deliver(now) {
            net.client.handle_stamp(ClientStamp::Received {
                seq: 0,
                rx_ns: Some(k),
                app_ns: k + 2000,
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
        ]
        .into_iter()
        .flatten()
        .min()
        .expect("deadlock");
        net.now = net.now.max(next);
        net.client.handle_timeout(net.now).unwrap();
    }
    panic!("the exchange did not end");
}

fn stamped(t: Instant, size: usize, count: u32) -> ClientAction {
    ClientAction::Echo(
        EchoClient::stamped(t, &vec![b'x'; size], count, Duration::ZERO, 5 * MS).unwrap(),
    )
}

#[test]
fn every_echo_gets_its_four_stamps_whatever_the_pieces() {
    for seed in 1..10 {
        let t = base();
        let mut net = Net::new(t, seed, 7, MS, stamped(t, 50, 20));
        let s = run_stamped(&mut net, &[]);
        // The last reply's t3 came with one more exchange.
        assert_eq!(s.replies, 21);
        assert_eq!(s.network_rtt.len(), 20, "seed {seed}");
        assert_eq!(s.missing, [0, 0, 0, 0]);
        // Two one-way delays of 1 ms (up to a tenth more each), less t1's
        // 100 ns and the server's 200 ns.
        let p = s.network_rtt.percentiles().unwrap();
        assert!(p.min >= 1999.0 && p.max <= 2210.0, "{p:?}");
        let server = s.server.percentiles().unwrap();
        assert!((server.max - 0.2).abs() < 0.01, "{server:?}");
        assert!((s.send_path.percentiles().unwrap().p50 - 0.1).abs() < 0.01);
        assert!((s.wakeup.percentiles().unwrap().p50 - 2.0).abs() < 0.01);
        assert_eq!(s.server_kind(), Some(StampsKind::Software));
        // The server counted the extra exchange: 21 of 20-byte stamps more.
        let f = net.server.figures();
        assert_eq!((f.requests, f.bytes_out), (21, 21 * 50));
    }
}

#[test]
fn lost_send_stamps_leave_their_echoes_out_and_are_counted() {
    let t = base();
    let mut net = Net::new(t, 3, 1000, MS, stamped(t, 10, 10));
    let s = run_stamped(&mut net, &[2, 7, 10]);
    // Echo 10 is the closing exchange: its t3 is never needed, nor counted.
    assert_eq!(s.network_rtt.len(), 8);
    assert_eq!(s.server.len(), 8);
    assert_eq!(s.missing, [0, 0, 2, 0]);
}

#[test]
fn a_stamped_echo_prices_its_longer_replies_and_its_last_exchange() {
    let t = base();
    let mut net = Net::new(t, 5, 1000, MS, stamped(t, 100, 5));
    run_stamped(&mut net, &[]);
    let f = net.server.figures();
    assert_eq!(
        f.shapes,
        vec![Shape::Echo {
            count: 6,
            request: 112,
            reply: 152
        }]
    );
}

#[test]
fn an_old_style_echo_gets_the_old_reply_byte_for_byte() {
    let req = codec::to_vec(&Message::EchoRequest {
        seq: 3,
        data: b"abc".to_vec(),
    })
    .unwrap();
    let (_, out) = serve_raw(&req, false);
    let old = codec::to_vec(&Message::EchoReply {
        seq: 3,
        data: b"abc".to_vec(),
    })
    .unwrap();
    assert_eq!(out, old);
}
