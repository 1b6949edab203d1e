//! Uploads, timed transfers and the server's Results: the client's
//! sessions against the real endpoint through the seeded test network,
//! on virtual time.

use std::time::{Duration, Instant};

use super::ClientSession;
use super::SessionError;
use super::file_recv::{FileReceive, RESULTS_WAIT};
use super::file_send::{FileSend, SendPlan};
use super::pair::{base, file_plan, run, run_tampered};
use crate::proto::datagram::{self, KIND_FILE_DATA};
use crate::session::testnet::{Faults, TestNet};

fn upload(size: u64, time: Option<Duration>) -> SendPlan {
    SendPlan {
        size,
        segment: 1200,
        rate_bps: 100_000_000,
        batch: 16,
        time,
        ecn: false,
        fragment: false,
    }
}

fn sender(s: ClientSession) -> FileSend {
    match s {
        ClientSession::Upload(f) => f,
        _ => unreachable!("the session stays an upload"),
    }
}

#[test]
fn an_upload_is_verified_and_the_server_says_so() {
    let (t0, epoch, mut ep) = base();
    let mut net = TestNet::new(3, Faults::clean(Duration::from_millis(1)));
    let size = 200_000;
    let mut s = ClientSession::Upload(FileSend::new(12, epoch, t0, upload(size, None)));
    run(&mut s, &mut ep, &mut net, t0).unwrap();
    let f = sender(s);
    let r = f.results().expect("the server's figures came");
    let sent = size.div_ceil(1200 - 28);
    assert_eq!(f.sent(), sent);
    assert_eq!(f.bytes(), size);
    assert_eq!(r.bytes, Some(size));
    assert_eq!(
        (r.datagrams, r.lost, r.duplicates),
        (Some(sent), Some(0), Some(0))
    );
    assert_eq!(f.sent_with().calls, sent, "paced exactly: one at a time");
    assert!(r.ect0.is_none(), "ECN was not asked for");
}

#[test]
fn an_upload_over_a_bad_path_adds_up_exactly_for_every_seed() {
    for seed in 1..=20 {
        let (t0, epoch, mut ep) = base();
        let mut net = TestNet::new(seed, Faults::lossy(0.1, 0.05, 0.1));
        let size = 60_000;
        let mut s =
            ClientSession::Upload(FileSend::new(seed as u32, epoch, t0, upload(size, None)));
        match run(&mut s, &mut ep, &mut net, t0) {
            Ok(_) => {}
            Err(e) => panic!("seed {seed}: {e}"),
        }
        let f = sender(s);
        let sent = f.sent();
        let dropped = net_dropped(&net);
        match f.results() {
            Some(r) => {
                let (got, lost) = (r.datagrams.unwrap(), r.lost.unwrap());
                assert_eq!(got + lost, sent, "seed {seed}");
                assert!(lost <= dropped, "seed {seed}");
                // Every datagram full but the file's last.
                let (bytes, last) = (r.bytes.unwrap(), size - (sent - 1) * 1172);
                assert!(
                    bytes == got * 1172 || bytes == (got - 1) * 1172 + last,
                    "seed {seed}"
                );
            }
            // Every FileEnd or every Results copy lost: the figures are
            // not available, never guessed.
            None => assert!(dropped > 0, "seed {seed}"),
        }
    }
}

fn net_dropped(net: &TestNet) -> u64 {
    net.stats().lost
}

#[test]
fn a_wrong_byte_in_an_upload_is_named_by_its_offset() {
    let (t0, epoch, mut ep) = base();
    let mut net = TestNet::new(4, Faults::clean(Duration::from_millis(1)));
    let mut s = ClientSession::Upload(FileSend::new(13, epoch, t0, upload(50_000, None)));
    // Flip a byte of datagram 3: file offset 3 × 1172 + 10.
    let e = run_tampered(&mut s, &mut ep, &mut net, t0, |d| {
        if datagram::parse_header(d).is_ok_and(|(k, h)| k == KIND_FILE_DATA && h.seq == 3) {
            d[28 + 10] ^= 0xFF;
        }
    });
    match e {
        Err(SessionError::Rejected { offset, message }) => {
            assert_eq!(offset, 3 * 1172 + 10, "{message}");
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("the server took a wrong byte"),
    }
}

#[test]
fn a_timed_upload_stops_at_its_time_and_counts_what_it_sent() {
    let (t0, epoch, mut ep) = base();
    let mut net = TestNet::new(5, Faults::clean(Duration::from_millis(1)));
    let time = Duration::from_millis(100);
    let mut s = ClientSession::Upload(FileSend::new(14, epoch, t0, upload(0, Some(time))));
    let p = run(&mut s, &mut ep, &mut net, t0).unwrap();
    let f = sender(s);
    let r = f.results().unwrap();
    // 100 Mbit/s of 1200-byte datagrams for 100 ms: about 1042.
    assert!((1030..=1050).contains(&f.sent()), "{}", f.sent());
    assert_eq!((r.datagrams, r.lost), (Some(f.sent()), Some(0)));
    assert_eq!(r.bytes, Some(f.sent() * 1172));
    // The time, the handshake's two round trips and the End's one.
    assert!(
        p.end - t0 <= time + Duration::from_millis(8),
        "{:?}",
        p.end - t0
    );
}

#[test]
fn a_timed_download_with_a_cap_stops_at_whichever_comes_first() {
    for (size, time, datagrams) in [(0, 50, 521), (20_000, 50, 18)] {
        let (t0, epoch, mut ep) = base();
        let mut net = TestNet::new(6, Faults::clean(Duration::from_millis(1)));
        let mut plan = file_plan(size);
        plan.time = Some(Duration::from_millis(time));
        plan.results = true;
        let mut s = ClientSession::File(FileReceive::new(15, epoch, t0, plan));
        let p = run(&mut s, &mut ep, &mut net, t0).unwrap();
        let ClientSession::File(f) = s else {
            unreachable!()
        };
        let figures = f.finish(p.end).unwrap();
        let a = &figures.arrivals;
        assert!(
            figures.sent.abs_diff(datagrams) <= 2,
            "{size} bytes or {time} ms: {} datagrams",
            figures.sent
        );
        assert_eq!((a.received(), a.lost(figures.sent)), (figures.sent, 0));
        let r = figures.results.expect("asked for the Results");
        assert_eq!(r.datagrams, Some(figures.sent));
        assert_eq!(r.bytes, Some(figures.bytes));
        if size > 0 {
            assert_eq!(figures.bytes, size);
        }
    }
}

#[test]
fn a_download_waits_briefly_for_lost_results() {
    let (t0, epoch, mut ep) = base();
    let mut net = TestNet::new(7, Faults::clean(Duration::from_millis(1)));
    let mut plan = file_plan(10_000);
    plan.results = true;
    let mut s = ClientSession::File(FileReceive::new(16, epoch, t0, plan));
    let end = run_lossy_results(&mut s, &mut ep, &mut net, t0);
    let ClientSession::File(f) = s else {
        unreachable!()
    };
    assert!(f.results().is_none());
    let figures = f.finish(end).unwrap();
    assert_eq!(figures.bytes, 10_000);
    // The file took a few ms; then the wait, and not a moment more.
    let waited = end - t0;
    assert!(
        waited >= RESULTS_WAIT && waited < RESULTS_WAIT + Duration::from_millis(10),
        "{waited:?}"
    );
}

/// Runs a download through `clean`, a path that drops every Results
/// copy the server sends; when the client was done.
fn run_lossy_results(
    s: &mut ClientSession,
    ep: &mut crate::session::udp::server::Endpoint,
    clean: &mut TestNet,
    t0: Instant,
) -> Instant {
    let mut buf = Vec::new();
    let mut now = t0;
    let server: std::net::SocketAddr = ([127, 0, 0, 1], 9_000).into();
    let client: std::net::SocketAddr = ([127, 0, 0, 1], 40_000).into();
    for _ in 0..1_000_000 {
        while let Some(t) = s.poll_transmit(now, &mut buf) {
            clean.send_transmit(now, client, server, &buf, t);
        }
        while let Some((to, t)) = ep.poll_transmit(now, &mut buf) {
            let results = datagram::decode(&buf[..t.len])
                .is_ok_and(|(_, b)| matches!(b, datagram::Body::Results(_)));
            if !results {
                clean.send_transmit(now, server, to, &buf, t);
            }
        }
        if s.is_done() {
            return now;
        }
        if let Some(d) = clean.deliver(now) {
            if d.to == server {
                ep.handle_datagram(now, d.from, &d.bytes);
            } else if s.owns(&d.bytes) {
                s.handle_datagram(now, &d.bytes).unwrap();
            }
            continue;
        }
        let next = [s.poll_timeout(), ep.poll_timeout(), clean.next_arrival()]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
        now = now.max(next);
        s.handle_timeout(now).unwrap();
        ep.handle_timeout(now);
    }
    panic!("never finished")
}
