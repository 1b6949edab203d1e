//! The client's sessions against the real server endpoint
//! ([`crate::session::udp::server`]) through the seeded test network, on
//! virtual time: echo, file and stream, over a clean path and a bad one.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::echo::{Echo, EchoPlan};
use super::file_recv::{FilePlan, FileReceive};
use super::stream::{StreamPlan, StreamReceive};
use super::{ClientSession, Ended, SessionError};
use crate::content;
use crate::proto::Limits;
use crate::session::Epoch;
use crate::session::testnet::{Faults, TestNet};
use crate::session::udp::server::{Config, Endpoint};

const CLIENT: ([u8; 4], u16) = ([127, 0, 0, 1], 40_000);
const SERVER: ([u8; 4], u16) = ([127, 0, 0, 1], 9_000);

/// What a pair run ended with: the virtual time, and the file's bytes the
/// client handed out in order.
pub(super) struct Pair {
    pub(super) end: Instant,
    pub(super) in_order: Vec<u8>,
}

pub(super) fn base() -> (Instant, Epoch, Endpoint) {
    let t0 = Instant::now();
    let epoch = Epoch::pin(t0, 1_700_000_000_000_000_000);
    let config = Config {
        limits: Limits::default(),
        max_sessions: 16,
        max_per_client: 16,
        idle_timeout: Duration::from_secs(2),
        v6: false,
        epoch,
        max_time: Duration::from_secs(60),
        cpu: None,
        gro: false,
    };
    (t0, epoch, Endpoint::new(config, t0))
}

/// Runs client session `s` against `ep` through `net` until `s` is done.
pub(super) fn run(
    s: &mut ClientSession,
    ep: &mut Endpoint,
    net: &mut TestNet,
    t0: Instant,
) -> Result<Pair, SessionError> {
    run_tampered(s, ep, net, t0, |_| {})
}

/// As [`run`], with `tamper` applied to every datagram the server gets.
pub(super) fn run_tampered(
    s: &mut ClientSession,
    ep: &mut Endpoint,
    net: &mut TestNet,
    t0: Instant,
    mut tamper: impl FnMut(&mut Vec<u8>),
) -> Result<Pair, SessionError> {
    let (client, server) = (SocketAddr::from(CLIENT), SocketAddr::from(SERVER));
    let mut now = t0;
    let mut buf = Vec::new();
    let mut in_order = Vec::new();
    for _ in 0..10_000_000 {
        while let Some(t) = s.poll_transmit(now, &mut buf) {
            net.send_transmit(now, client, server, &buf, t);
        }
        while let Some((to, t)) = ep.poll_transmit(now, &mut buf) {
            net.send_transmit(now, server, to, &buf, t);
        }
        if s.is_done() {
            return Ok(Pair { end: now, in_order });
        }
        if let Some(mut d) = net.deliver(now) {
            if d.to == server {
                tamper(&mut d.bytes);
                ep.handle_datagram(now, d.from, &d.bytes);
            } else if s.owns(&d.bytes) {
                s.handle_datagram(now, &d.bytes)?;
                if let ClientSession::File(f) = s {
                    in_order.extend_from_slice(f.ready_bytes());
                    f.consume_ready();
                }
            }
            continue;
        }
        let next = [s.poll_timeout(), ep.poll_timeout(), net.next_arrival()]
            .into_iter()
            .flatten()
            .min()
            .expect("the client session always has a timeout");
        now = now.max(next);
        s.handle_timeout(now)?;
        ep.handle_timeout(now);
    }
    panic!("the pair never finished");
}

pub(super) fn file_plan(size: u64) -> FilePlan {
    FilePlan {
        size,
        rate_bps: 100_000_000,
        segment: 1200,
        fragment: false,
        gso: true,
        silence: Duration::from_secs(2),
        in_order: true,
        progress_step: 1 << 20,
        time: None,
        results: false,
        ecn: false,
    }
}

#[test]
fn a_file_goes_whole_over_a_clean_path() {
    let (t0, epoch, mut ep) = base();
    let mut net = TestNet::new(1, Faults::clean(Duration::from_millis(1)));
    let size = 200_000;
    let mut s = ClientSession::File(FileReceive::new(11, epoch, t0, file_plan(size)));
    let p = run(&mut s, &mut ep, &mut net, t0).unwrap();
    assert_eq!(p.in_order, content::fill_vec(0, size as usize));
    let ClientSession::File(f) = s else {
        unreachable!()
    };
    let f = f.finish(p.end).unwrap();
    assert_eq!((f.bytes, f.ended), (size, Ended::EndMessage));
    assert_eq!(f.arrivals.lost(f.sent), 0);
    // Paced at 100 Mb/s: 200 kB of payload and headers take about 17 ms.
    assert!(p.end - t0 > Duration::from_millis(15), "{:?}", p.end - t0);
}

#[test]
fn a_file_over_a_bad_path_adds_up_exactly_for_every_seed() {
    for seed in 1..=20 {
        let (t0, epoch, mut ep) = base();
        let mut net = TestNet::new(seed, Faults::lossy(0.1, 0.05, 0.1));
        let size = 60_000;
        let mut plan = file_plan(size);
        plan.in_order = false;
        let mut s = ClientSession::File(FileReceive::new(seed as u32, epoch, t0, plan));
        let p = match run(&mut s, &mut ep, &mut net, t0) {
            Ok(p) => p,
            // Twelve lost Hellos or requests in a row: possible, not here.
            Err(e) => panic!("seed {seed}: {e}"),
        };
        let ClientSession::File(f) = s else {
            unreachable!()
        };
        let f = f.finish(p.end).unwrap();
        let a = &f.arrivals;
        assert_eq!(a.received() + a.lost(f.sent), f.sent, "seed {seed}");
        assert_eq!(f.sent, size.div_ceil(1200 - 28), "seed {seed}");
        assert!(f.bytes <= size);
    }
}

#[test]
fn an_echo_run_over_a_bad_path_counts_its_losses() {
    let (t0, epoch, mut ep) = base();
    let mut net = TestNet::new(7, Faults::lossy(0.2, 0.1, 0.0));
    let plan = EchoPlan {
        data: b"0123456789".to_vec(),
        count: 50,
        interval: Duration::from_millis(10),
        wait: Duration::from_millis(100),
    };
    let mut s = ClientSession::Echo(Echo::new(3, epoch, t0, plan));
    let p = run(&mut s, &mut ep, &mut net, t0).unwrap();
    let ClientSession::Echo(e) = s else {
        unreachable!()
    };
    let f = e.finish().unwrap();
    assert!(f.replies > 20 && f.replies < 50, "{}", f.replies);
    assert_eq!(f.rtt.len(), u64::from(f.replies));
    let p50 = f.rtt.percentiles().unwrap().p50;
    assert!((2000.0..2500.0).contains(&p50), "{p50}");
    assert!(p.end - t0 >= Duration::from_millis(490));
}

#[test]
fn a_stream_over_a_clean_path_keeps_its_schedule() {
    let (t0, epoch, mut ep) = base();
    let mut net = TestNet::new(5, Faults::clean(Duration::from_millis(2)));
    let plan = StreamPlan {
        interval: Duration::from_millis(5),
        count: 40,
        size: 200,
        fragment: false,
        silence: Duration::from_secs(2),
        stamped: false,
    };
    let mut s = ClientSession::Stream(StreamReceive::new(9, epoch, t0, plan));
    run(&mut s, &mut ep, &mut net, t0).unwrap();
    let ClientSession::Stream(st) = s else {
        unreachable!()
    };
    let f = st.finish().unwrap();
    assert_eq!(
        (f.sent, f.ended, f.arrivals.received()),
        (40, Ended::EndMessage, 40)
    );
    let d = f.delay.percentiles().unwrap();
    assert!((d.p50 - 2000.0).abs() < 50.0, "{d:?}");
    assert!(f.schedule.percentiles().unwrap().max < 50.0);
}

proptest::proptest! {
    /// Through any seeded bad path, received + lost = sent, every byte
    /// handed out in order is the file's, and the bytes counted are those
    /// of the datagrams that arrived.
    #[test]
    fn any_bad_path_adds_up(
        seed in proptest::prelude::any::<u64>(),
        loss in 0.0..0.2f64,
        duplicate in 0.0..0.3f64,
        reorder in 0.0..0.3f64,
    ) {
        let (t0, epoch, mut ep) = base();
        let mut net = TestNet::new(seed, Faults::lossy(loss, duplicate, reorder));
        let size = 20_000;
        let mut s = ClientSession::File(FileReceive::new(21, epoch, t0, file_plan(size)));
        let p = match run(&mut s, &mut ep, &mut net, t0) {
            Ok(p) => p,
            // Every Hello or request of a round lost: the client gives up.
            Err(SessionError::NoAnswer { .. }) => return Ok(()),
            Err(e) => panic!("{e}"),
        };
        let ClientSession::File(f) = s else {
            unreachable!()
        };
        let file = content::fill_vec(0, size as usize);
        proptest::prop_assert_eq!(&p.in_order[..], &file[..p.in_order.len()]);
        let f = f.finish(p.end).unwrap();
        let a = &f.arrivals;
        proptest::prop_assert_eq!(a.received() + a.lost(f.sent), f.sent);
        let per = 1200 - 28;
        let whole = a.received() - u64::from(a.has(f.sent - 1));
        let last = if a.has(f.sent - 1) { size - (f.sent - 1) * per } else { 0 };
        proptest::prop_assert_eq!(f.bytes, whole * per + last);
        if p.in_order.len() as u64 == size {
            proptest::prop_assert_eq!(a.lost(f.sent), 0);
        }
    }
}
