//! A stamped stream, client session against the real server endpoint and
//! its transfer, through the seeded test network on virtual time: the
//! driver's part (the kernels' stamps) is played here, the server's TX
//! stamp being the instant a segment left and the client's RX stamp the
//! instant it landed, so every pair's difference is the network's delay.
//! Segments and StreamStamps alike are lost, doubled and reordered; the
//! counts of stamps paired, missing and carried must be exactly what the
//! deliveries say.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use super::ClientSession;
use super::pair::base;
use super::stream::{StreamFigures, StreamPlan, StreamReceive};
use crate::proto::datagram::{self, Body};
use crate::session::testnet::{Faults, TestNet};
use crate::session::udp::server::{Event, Transfer};

const CLIENT: ([u8; 4], u16) = ([127, 0, 0, 1], 40_001);
const SERVER: ([u8; 4], u16) = ([127, 0, 0, 1], 9_001);
const COUNT: u32 = 300;

/// What the client's deliveries were, seen from outside the session.
#[derive(Default)]
struct Seen {
    /// Segments handed in (first copies), and whether with an RX stamp.
    segments: Vec<(u32, bool)>,
    /// Segments whose stamp came in a StreamStamps handed in.
    stamped: BTreeSet<u32>,
}

/// Runs a stamped stream of [`COUNT`] segments through `faults` (seed
/// `seed`); the server's kernel gives no stamp to segments `no_tx` picks,
/// the client's none to those `no_rx` picks.
fn run(
    seed: u64,
    faults: Faults,
    no_tx: impl Fn(u32) -> bool,
    no_rx: impl Fn(u32) -> bool,
) -> (StreamFigures, Seen) {
    let (t0, epoch, mut ep) = base();
    let (client, server) = (SocketAddr::from(CLIENT), SocketAddr::from(SERVER));
    let plan = StreamPlan {
        interval: Duration::from_millis(1),
        count: COUNT,
        size: 64,
        fragment: false,
        silence: Duration::from_secs(2),
        stamped: true,
    };
    let mut s = ClientSession::Stream(StreamReceive::new(7, epoch, t0, plan));
    let mut net = TestNet::new(seed, faults);
    let (mut now, mut buf, mut seen) = (t0, Vec::new(), Seen::default());
    let mut transfer: Option<Transfer> = None;
    let mut first = BTreeSet::new();
    for _ in 0..1_000_000 {
        while let Some(t) = s.poll_transmit(now, &mut buf) {
            net.send_transmit(now, client, server, &buf, t);
        }
        while let Some((to, t)) = ep.poll_transmit(now, &mut buf) {
            net.send_transmit(now, server, to, &buf, t);
        }
        while let Some(e) = ep.poll_event() {
            if let Event::Started { key, .. } = e {
                transfer = ep.take_transfer(&key);
            }
        }
        if let Some(tr) = transfer.as_mut() {
            while let Some(t) = tr.poll_transmit(now, &mut buf) {
                net.send_transmit(now, server, client, &buf, t);
                match tr.stamp_wanted() {
                    Some(seq) if !no_tx(seq) => tr.handle_tx_stamp(seq, epoch.unix_ns_of(now)),
                    _ => {}
                }
            }
        }
        if s.is_done() {
            let ClientSession::Stream(st) = s else {
                unreachable!()
            };
            return (st.finish().unwrap(), seen);
        }
        if let Some(d) = net.deliver(now) {
            if d.to == server {
                ep.handle_datagram(now, d.from, &d.bytes);
            } else if s.owns(&d.bytes) {
                let rx = epoch.unix_ns_of(now);
                let ClientSession::Stream(st) = &mut s else {
                    unreachable!()
                };
                match datagram::decode(&d.bytes) {
                    Ok((h, Body::StreamSegment { .. })) if first.insert(h.seq) => {
                        let stamped = !no_rx(h.seq);
                        seen.segments.push((h.seq, stamped));
                        st.rx_stamp(stamped.then_some(rx));
                    }
                    Ok((_, Body::StreamStamps { stamps })) => {
                        seen.stamped.extend(stamps.0.iter().map(|(seq, _)| *seq));
                        st.rx_stamp(Some(rx));
                    }
                    _ => st.rx_stamp(Some(rx)),
                }
                s.handle_datagram(now, &d.bytes).unwrap();
            }
            continue;
        }
        let next = [
            s.poll_timeout(),
            ep.poll_timeout(),
            transfer.as_ref().and_then(|t| t.poll_timeout()),
            net.next_arrival(),
        ]
        .into_iter()
        .flatten()
        .min()
        .expect("the client session always has a timeout");
        now = now.max(next);
        s.handle_timeout(now).unwrap();
        ep.handle_timeout(now);
    }
    panic!("the stream never finished");
}

/// The counts the deliveries call for, beside the session's.
fn check(f: &StreamFigures, seen: &Seen, faults: Faults) {
    let p = f.stamps.as_ref().expect("a stamped stream's stamps");
    let arrived = seen.segments.len() as u64;
    assert_eq!(f.arrivals.received(), arrived);
    let with_stamp = |rx: bool| {
        seen.segments
            .iter()
            .filter(|(seq, r)| *r == rx && seen.stamped.contains(seq))
            .count()
    };
    let no_tx = seen
        .segments
        .iter()
        .filter(|(seq, _)| !seen.stamped.contains(seq))
        .count();
    assert_eq!(p.pairs.len(), with_stamp(true));
    assert_eq!(p.no_rx as usize, with_stamp(false));
    assert_eq!(p.no_tx as usize, no_tx);
    assert_eq!(p.carried as usize, seen.stamped.len());
    assert_eq!(p.pairs.len() as u64 + p.no_rx + p.no_tx, arrived);
    // Each pair is its segment's own trip: the network's delay, jitter,
    // and the hold-back of a reordered datagram at most.
    let most = faults.delay + faults.jitter + faults.reorder_delay;
    for (tx, rx) in &p.pairs {
        let d = Duration::from_nanos(rx - tx);
        assert!(d >= faults.delay && d <= most, "{d:?}");
    }
}

#[test]
fn a_clean_path_pairs_every_segment_with_its_stamp() {
    let faults = Faults::clean(Duration::from_micros(40));
    let (f, seen) = run(1, faults, |_| false, |_| false);
    let p = f.stamps.as_ref().unwrap();
    assert_eq!((p.pairs.len(), p.no_rx, p.no_tx), (COUNT as usize, 0, 0));
    assert!(p.pairs.iter().all(|(tx, rx)| rx - tx == 40_000));
    check(&f, &seen, faults);
}

#[test]
fn stamps_the_kernels_did_not_give_are_counted_not_guessed() {
    let faults = Faults::clean(Duration::from_micros(40));
    let (f, seen) = run(2, faults, |seq| seq % 10 == 3, |seq| seq % 7 == 0);
    let p = f.stamps.as_ref().unwrap();
    assert_eq!(p.no_tx, 30);
    // 43 multiples of 7 below 300, of which 63, 133, 203 and 273 had no
    // TX stamp either, and count there.
    assert_eq!(p.no_rx, 43 - 4);
    check(&f, &seen, faults);
}

#[test]
fn loss_duplication_and_reordering_of_segments_and_stamps_keep_the_counts_exact() {
    for seed in 1..=12 {
        let mut faults = Faults::lossy(0.2, 0.1, 0.2);
        faults.delay = Duration::from_micros(50);
        faults.jitter = Duration::from_micros(30);
        faults.reorder_delay = Duration::from_millis(3);
        let (f, seen) = run(seed, faults, |seq| seq % 11 == 5, |seq| seq % 13 == 1);
        check(&f, &seen, faults);
        let p = f.stamps.as_ref().unwrap();
        // A stamp rides in several StreamStamps: a fifth of them lost
        // loses few stamps.
        assert!(
            p.carried as f64 > 0.8 * f64::from(COUNT) * 10.0 / 11.0,
            "seed {seed}: {p:?}"
        );
    }
}
