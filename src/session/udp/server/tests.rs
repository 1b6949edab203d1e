//! The endpoint on virtual time: cookies, budgets, limits, the session
//! table and transfers, each test in milliseconds, and the endpoint
//! against a scripted client through a bad test network.

use super::receive::{FileReceive, Verdict};
use super::*;
use crate::proto::ErrorCode;
use crate::proto::datagram::{self, Body, DgramHeader};
use crate::session::testnet::{Faults, TestNet};

const MS: Duration = Duration::from_millis(1);
const IDLE: Duration = Duration::from_secs(2);

fn config(max_sessions: usize) -> (Config, Instant) {
    let t0 = Instant::now();
    let config = Config {
        limits: Limits::default(),
        max_sessions,
        max_per_client: max_sessions,
        idle_timeout: IDLE,
        v6: false,
        epoch: Epoch::pin(t0, 1_700_000_000_000_000_000),
        max_time: Duration::from_secs(60),
        cpu: None,
        gro: false,
    };
    (config, t0)
}

fn endpoint(max_sessions: usize) -> (Endpoint, Instant) {
    let (c, t0) = config(max_sessions);
    (Endpoint::new(c, t0), t0)
}

fn client(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn hdr(session: u32, seq: u32) -> DgramHeader {
    DgramHeader {
        session,
        seq,
        ..DgramHeader::default()
    }
}

fn send(ep: &mut Endpoint, now: Instant, from: SocketAddr, h: DgramHeader, body: &Body) {
    ep.handle_datagram(now, from, &datagram::to_vec(&h, body));
}

/// Every datagram the endpoint has to send at `now`, GSO batches split.
fn drain(ep: &mut Endpoint, now: Instant) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some((to, t)) = ep.poll_transmit(now, &mut buf) {
        let size = t.segment.unwrap_or(t.len).max(1);
        if t.len == 0 {
            out.push((to, Vec::new()));
        }
        out.extend(buf[..t.len].chunks(size).map(|d| (to, d.to_vec())));
    }
    out
}

fn bodies(out: &[(SocketAddr, Vec<u8>)]) -> Vec<Body> {
    out.iter()
        .map(|(_, d)| datagram::decode(d).unwrap().1)
        .collect()
}

fn events(ep: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| ep.poll_event()).collect()
}

fn ended(events: &[Event]) -> Vec<&Figures> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Ended(f) => Some(f),
            Event::Started { .. } => None,
        })
        .collect()
}

/// Runs the endpoint until nothing is left to send or wake for before
/// `until`; every datagram sent.
fn run_until(ep: &mut Endpoint, mut now: Instant, until: Instant) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        ep.handle_timeout(now);
        out.extend(drain(ep, now));
        match ep.poll_timeout() {
            Some(t) if t <= until => now = now.max(t),
            _ => return out,
        }
    }
}

fn cookie(ep: &mut Endpoint, now: Instant, from: SocketAddr) -> u64 {
    send(ep, now, from, hdr(1, 0), &Body::Hello);
    match &bodies(&drain(ep, now))[..] {
        [Body::Cookie { token }] => *token,
        other => panic!("{other:?}"),
    }
}

fn file_request(size: u64, segment: u32, token: u64) -> Body {
    Body::FileRequest {
        size,
        rate_bps: 0,
        segment,
        flags: 0,
        token,
        time_ns: 0,
    }
}

fn error_code(out: &[(SocketAddr, Vec<u8>)]) -> Vec<ErrorCode> {
    bodies(out)
        .into_iter()
        .filter_map(|b| match b {
            Body::Error { code, .. } => Some(code),
            _ => None,
        })
        .collect()
}

#[test]
fn a_file_needs_a_cookie_and_then_goes_whole_with_three_ends() {
    let (mut ep, t0) = endpoint(4);
    let c = client(5000);
    send(&mut ep, t0, c, hdr(7, 0), &file_request(1000, 100, 0xBAD));
    assert_eq!(error_code(&drain(&mut ep, t0)), vec![ErrorCode::Unexpected]);
    assert!(events(&mut ep).is_empty(), "no session without a cookie");
    let token = cookie(&mut ep, t0, c);
    send(&mut ep, t0, c, hdr(7, 0), &file_request(1000, 100, token));
    let ev = events(&mut ep);
    assert!(
        matches!(&ev[..], [Event::Started { id: 1, kind: Kind::File, key, what }]
            if *key == Key::lab(c, 7) && what.contains("udp file of 1000 bytes")),
        "{ev:?}"
    );
    let out = run_until(&mut ep, t0, t0 + IDLE / 2);
    let b = bodies(&out);
    assert!(
        matches!(b[0], Body::FileReady { datagrams: 14, .. }),
        "{b:?}"
    );
    let mut r = FileReceive::new(FilePlan::new(1000, 100).unwrap());
    for (_, d) in &out {
        if let (h, Body::FileData { data }) = datagram::decode(d).unwrap() {
            r.handle(&h, &data);
        }
    }
    assert!(r.complete());
    assert_eq!(b.iter().filter(|b| b.name() == "FileEnd").count(), 3);
    let ev = events(&mut ep);
    let f = ended(&ev);
    assert_eq!(f.len(), 1, "{ev:?}");
    assert_eq!((f[0].id, f[0].kind, f[0].payload), (1, Kind::File, 1000));
    assert_eq!(f[0].traffic.inbound.datagrams, 1);
    assert_eq!(f[0].traffic.outbound.datagrams, 1 + 14 + 3);
    assert_eq!(f[0].last, t0 + 2 * END_SPACING);
    assert!(
        f[0].why
            .starts_with("sent 14 datagrams, 1000 bytes in 1 send calls (gso")
    );
    assert_eq!(ep.live(), 0);
    assert!(ep.served());
}

#[test]
fn a_cookie_is_bound_to_its_address_and_expires_on_virtual_time() {
    use crate::proto::cookie::TOKEN_LIFETIME_S;
    let (mut ep, t0) = endpoint(4);
    let c = client(5007);
    let token = cookie(&mut ep, t0, c);
    // Another address cannot use it.
    send(
        &mut ep,
        t0,
        client(5008),
        hdr(1, 0),
        &file_request(10, 64, token),
    );
    assert_eq!(error_code(&drain(&mut ep, t0)), vec![ErrorCode::Unexpected]);
    // Three lifetimes later it is stale: refused, no session.
    let late = t0 + Duration::from_secs(3 * TOKEN_LIFETIME_S);
    send(&mut ep, late, c, hdr(1, 0), &file_request(10, 64, token));
    assert_eq!(
        error_code(&drain(&mut ep, late)),
        vec![ErrorCode::Unexpected]
    );
    assert!(!ep.served());
    // Within its lifetime it starts the file.
    let soon = t0 + Duration::from_secs(TOKEN_LIFETIME_S);
    send(&mut ep, soon, c, hdr(1, 0), &file_request(10, 64, token));
    assert!(matches!(
        &events(&mut ep)[..],
        [Event::Started {
            kind: Kind::File,
            ..
        }]
    ));
}

#[test]
fn an_ended_transfer_is_remembered_until_quiet_so_a_late_copy_does_not_restart_it() {
    let (mut ep, t0) = endpoint(4);
    let c = client(5001);
    let token = cookie(&mut ep, t0, c);
    let req = file_request(100, 64, token);
    send(&mut ep, t0, c, hdr(2, 0), &req);
    run_until(&mut ep, t0, t0 + MS * 100);
    events(&mut ep);
    // A late copy, within the idle timeout: nothing starts, nothing is sent.
    let late = t0 + IDLE - MS;
    send(&mut ep, late, c, hdr(2, 0), &req);
    assert!(drain(&mut ep, late).is_empty());
    assert!(events(&mut ep).is_empty());
    // Quiet for the idle timeout after it: forgotten; a copy starts it anew.
    let later = late + IDLE + SWEEP;
    ep.handle_timeout(later);
    let token = cookie(&mut ep, later, c);
    send(&mut ep, later, c, hdr(2, 0), &file_request(100, 64, token));
    assert!(matches!(
        &events(&mut ep)[..],
        [Event::Started { id: 2, .. }]
    ));
}

#[test]
fn transfers_beyond_max_sessions_are_busy_and_echoes_do_not_count() {
    let (mut ep, t0) = endpoint(2);
    let c = client(5002);
    let token = cookie(&mut ep, t0, c);
    let slow = |token| Body::StreamRequest {
        interval_ns: 1_000_000,
        count: 1000,
        size: 100,
        flags: 0,
        token,
    };
    for s in 1..=2 {
        send(&mut ep, t0, c, hdr(s, 0), &slow(token));
    }
    send(
        &mut ep,
        t0,
        c,
        hdr(9, 0),
        &Body::EchoRequest { data: vec![1; 10] },
    );
    drain(&mut ep, t0);
    send(&mut ep, t0, c, hdr(3, 0), &slow(token));
    let out = drain(&mut ep, t0);
    assert_eq!(error_code(&out), vec![ErrorCode::Busy]);
    assert_eq!(ep.live(), 3, "two streams and an echo");
    // A refused request with a valid cookie still counts as served.
    let (mut ep, t0) = endpoint(2);
    let token = cookie(&mut ep, t0, c);
    send(
        &mut ep,
        t0,
        c,
        hdr(1, 0),
        &file_request(u64::MAX, 1000, token),
    );
    assert_eq!(
        error_code(&drain(&mut ep, t0)),
        vec![ErrorCode::FileTooLarge]
    );
    assert!(ep.served() && ep.live() == 0);
}

#[test]
fn transfers_beyond_max_per_client_are_busy_for_that_address_only() {
    let (mut c, t0) = config(16);
    c.max_per_client = 2;
    let mut ep = Endpoint::new(c, t0);
    let slow = |token| Body::StreamRequest {
        interval_ns: 1_000_000,
        count: 1000,
        size: 100,
        flags: 0,
        token,
    };
    let (a, b) = (client(5002), SocketAddr::from(([127, 0, 0, 2], 5002)));
    let (ta, tb) = (cookie(&mut ep, t0, a), cookie(&mut ep, t0, b));
    for s in 1..=2 {
        send(&mut ep, t0, a, hdr(s, 0), &slow(ta));
    }
    drain(&mut ep, t0);
    send(&mut ep, t0, a, hdr(3, 0), &slow(ta));
    let out = drain(&mut ep, t0);
    assert_eq!(error_code(&out), vec![ErrorCode::Busy]);
    let said = bodies(&out).into_iter().find_map(|b| match b {
        Body::Error { message, .. } => Some(message),
        _ => None,
    });
    assert_eq!(
        said.as_deref(),
        Some(
            "the server is busy: 2 sessions at once from 127.0.0.1 (--max-per-client); try again later"
        )
    );
    send(&mut ep, t0, b, hdr(1, 0), &slow(tb));
    assert!(error_code(&drain(&mut ep, t0)).is_empty());
    assert_eq!(
        ep.live(),
        3,
        "two streams from one address, one from another"
    );
}

#[test]
fn echo_sessions_end_when_quiet_or_answered_and_the_quietest_makes_room() {
    let (mut ep, t0) = endpoint(2);
    let echo = |seq, of| {
        let mut h = hdr(5, seq);
        h.offset = of;
        h
    };
    let body = Body::EchoRequest { data: vec![7; 20] };
    // A run of 3 said in the offset field: ends with the third answer.
    for seq in 0..3 {
        send(&mut ep, t0 + MS * seq, client(1), echo(seq, 3), &body);
    }
    let out = drain(&mut ep, t0);
    assert_eq!(bodies(&out), vec![Body::EchoReply { data: vec![7; 20] }; 3]);
    let ev = events(&mut ep);
    let f = ended(&ev);
    assert_eq!((f.len(), f[0].requests, f[0].payload), (1, 3, 60));
    assert_eq!(f[0].why, "the client's last echo was answered");
    assert_eq!(f[0].carried.data.datagrams, 6, "equal sizes: all data");
    // Three peers at a cap of two: the quietest ends early.
    for p in 2..=4 {
        send(&mut ep, t0 + MS * p as u32, client(p), echo(0, 0), &body);
    }
    assert_eq!(drain(&mut ep, t0).len(), 3);
    let ev = events(&mut ep);
    let f = ended(&ev);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].key.peer, client(2));
    assert!(
        f[0].why
            .starts_with("ended early: 2 echo and text sessions")
    );
    // The others end after the idle timeout, on virtual time.
    ep.handle_timeout(t0 + IDLE);
    assert!(
        ended(&events(&mut ep)).is_empty(),
        "not yet quiet that long"
    );
    let at = ep.poll_timeout().unwrap();
    assert!(
        at >= t0 + IDLE + MS * 3 && at <= t0 + IDLE + MS * 4 + SWEEP,
        "{:?}",
        at - t0
    );
    ep.handle_timeout(at);
    let ev = events(&mut ep);
    let f = ended(&ev);
    assert_eq!(
        f.iter().map(|f| f.id).collect::<Vec<_>>(),
        vec![3, 4],
        "oldest first"
    );
    assert!(f[0].why.starts_with("idle timeout"));
    assert_eq!(ep.live(), 0);
    assert_eq!(ep.poll_timeout(), None, "nothing left to wake for");
}

#[test]
fn an_unvalidated_address_gets_at_most_three_times_what_it_sent() {
    let (mut ep, t0) = endpoint(8);
    let c = client(5003);
    let mut received = 0;
    let mut sent = 0;
    let probes: Vec<Vec<u8>> = vec![
        b"123456789\n".to_vec(),
        b"60000\n".to_vec(),
        b"20\n".to_vec(),
        b"50\n".to_vec(),
        datagram::to_vec(&hdr(3, 0), &Body::Hello),
        datagram::to_vec(&hdr(3, 0), &file_request(123_456_789, 65_507, 0)),
        datagram::to_vec(&hdr(4, 0), &Body::EchoRequest { data: vec![7; 500] }),
        vec![0xAD, 0xE1, 1, 0x7F],
        vec![0xAD],
        (0..200u8).collect(),
    ];
    for (i, p) in probes.iter().cycle().take(200).enumerate() {
        let now = t0 + MS * i as u32;
        ep.handle_datagram(now, c, p);
        received += p.len();
        for (_, d) in drain(&mut ep, now) {
            sent += d.len();
            if !datagram::is_lab(&d) && !d.is_empty() && d.len() != 20 && !d.ends_with(b"\n") {
                // Text answers are echoes, small files or whole sentences.
                assert!(d.len() <= 60_000, "{d:?}");
            }
        }
        assert!(sent <= 3 * received, "{sent} > 3 x {received} at probe {i}");
    }
    assert!(sent > received, "answers went out");
}

#[test]
fn garbage_and_unknown_kinds_are_refused_within_the_budget() {
    let (mut ep, t0) = endpoint(8);
    let c = client(5004);
    let mut unknown = datagram::to_vec(&hdr(2, 0), &Body::Hello);
    unknown[3] = 0x7F;
    ep.handle_datagram(t0, c, &unknown);
    // 28 bytes in, 84 may go back: an Error of a sentence fits.
    let out = drain(&mut ep, t0);
    assert_eq!(error_code(&out), vec![ErrorCode::UnknownKind]);
    // A tiny datagram that starts like the lab's: too short to answer.
    ep.handle_datagram(t0, c, &[0xAD, 0xE1]);
    for (_, d) in drain(&mut ep, t0) {
        assert!(d.len() <= 6, "{d:?}");
    }
    // A server's own messages from a client: refused as unexpected.
    let big = Body::EchoReply { data: vec![0; 200] };
    send(&mut ep, t0, c, hdr(3, 0), &big);
    assert_eq!(error_code(&drain(&mut ep, t0)), vec![ErrorCode::Unexpected]);
    assert!(ep.live() <= 1);
}

#[test]
fn text_peers_get_whole_sentences_never_cut_ones() {
    let (mut ep, t0) = endpoint(8);
    let c = client(5005);
    ep.handle_datagram(t0, c, b"50\n");
    assert_eq!(drain(&mut ep, t0), vec![(c, b"too big\n".to_vec())]);
    let (mut ep, t0) = endpoint(8);
    ep.handle_datagram(t0, c, b"100000\n");
    assert_eq!(
        drain(&mut ep, t0),
        vec![(c, b"error: too large\n".to_vec())]
    );
    ep.handle_datagram(t0, c, b"hello\n");
    assert_eq!(drain(&mut ep, t0), vec![(c, b"hello\n".to_vec())]);
    let ev = events(&mut ep);
    assert!(matches!(&ev[..], [Event::Started { kind: Kind::Text, key, .. }] if key.id.is_none()));
    ep.close(t0 + MS);
    let ev = events(&mut ep);
    let f = ended(&ev);
    assert_eq!(
        (f[0].requests, f[0].refused, f[0].why.as_str()),
        (2, 1, "the server stopped")
    );
}

#[test]
fn a_transfer_taken_by_the_driver_ends_when_it_says_so() {
    let (mut ep, t0) = endpoint(4);
    let c = client(5006);
    let token = cookie(&mut ep, t0, c);
    send(&mut ep, t0, c, hdr(4, 0), &file_request(500, 100, token));
    let key = Key::lab(c, 4);
    let mut t = ep.take_transfer(&key).unwrap();
    assert!(ep.take_transfer(&key).is_none());
    assert!(drain(&mut ep, t0).is_empty(), "the driver sends it now");
    let mut buf = Vec::new();
    let mut now = t0;
    while let Some(at) = t.poll_timeout() {
        now = now.max(at);
        while t.poll_transmit(now, &mut buf).is_some() {}
    }
    assert_eq!(ep.live(), 1);
    ep.transfer_ended(&key, t.end().unwrap().clone(), now);
    ep.handle_timeout(now);
    let ev = events(&mut ep);
    let f = ended(&ev);
    assert_eq!(
        (f[0].payload, f[0].traffic.outbound.datagrams),
        (500, 1 + 7 + 3)
    );
    assert_eq!(ep.live(), 0);
}

/// What a scripted client got of a file through a test network.
struct Fetch {
    got: FileReceive,
    ends: u32,
    starts: usize,
    ended: Vec<Figures>,
}

/// A scripted client fetches a file of `size` bytes in `segment`-byte
/// datagrams through a network with `faults`: it retries Hello and its
/// request every 20 ms until the file starts, and listens until an End
/// arrives or 5 s of virtual time have passed.
fn fetch(seed: u64, faults: Faults, size: u64, segment: u32) -> Fetch {
    let (mut ep, t0) = endpoint(4);
    let (c, s) = (client(6000), client(4000));
    let mut net = TestNet::new(seed, faults);
    let plan = FilePlan::new(size, segment).unwrap();
    let mut got = FileReceive::new(plan);
    let (mut token, mut ends, mut ready) = (None, 0, false);
    let (mut now, mut retry) = (t0, t0);
    let mut buf = Vec::new();
    let mut events = Vec::new();
    while ends == 0 && now < t0 + Duration::from_secs(5) {
        if now >= retry && !ready {
            let body = match token {
                None => Body::Hello,
                Some(token) => file_request(size, segment, token),
            };
            net.send(now, c, s, &datagram::to_vec(&hdr(11, 0), &body));
            retry = now + MS * 20;
        }
        while let Some(d) = net.deliver(now) {
            if d.to == s {
                ep.handle_datagram(now, d.from, &d.bytes);
                continue;
            }
            let (h, body) = datagram::decode(&d.bytes).unwrap();
            match body {
                Body::Cookie { token: t } => token = Some(t),
                Body::FileReady { .. } => ready = true,
                Body::FileEnd { datagrams, .. } => {
                    assert_eq!(datagrams, plan.datagrams());
                    ends += 1;
                }
                Body::FileData { data } => {
                    ready = true;
                    assert!(!matches!(got.handle(&h, &data), Verdict::Corrupt(_)));
                }
                other => panic!("{other:?}"),
            }
        }
        ep.handle_timeout(now);
        while let Some((to, t)) = ep.poll_transmit(now, &mut buf) {
            net.send_transmit(now, s, to, &buf, t);
        }
        events.extend(std::iter::from_fn(|| ep.poll_event()));
        let next = [ep.poll_timeout(), net.next_arrival(), Some(retry)];
        let next = next.into_iter().flatten().min().unwrap_or(now);
        now = next.max(now + Duration::from_micros(10));
    }
    ep.close(now);
    events.extend(std::iter::from_fn(|| ep.poll_event()));
    Fetch {
        got,
        ends,
        starts: events
            .iter()
            .filter(|e| matches!(e, Event::Started { .. }))
            .count(),
        ended: ended(&events).into_iter().cloned().collect(),
    }
}

/// Through a network that loses, duplicates and reorders, the server
/// starts one session however many copies of the request arrive, sends
/// every datagram once, and every byte that arrives verifies.
#[test]
fn a_scripted_client_gets_its_file_through_a_bad_network() {
    for seed in 1..=20 {
        let f = fetch(seed, Faults::lossy(0.2, 0.1, 0.1), 20_000, 500);
        assert!(f.ends > 0, "seed {seed}: no End arrived");
        assert_eq!(f.got.corrupt, 0);
        assert!(f.got.received() > 0, "seed {seed}");
        assert_eq!(f.starts, 1, "seed {seed}");
        assert_eq!(f.ended.len(), 1);
        assert_eq!(f.ended[0].carried.data.datagrams, 43, "each sent once");
        assert_eq!(f.ended[0].payload, 20_000);
    }
    let clean = fetch(1, Faults::clean(MS), 20_000, 500);
    assert!(
        clean.got.complete() && clean.ends == 1,
        "listens until the first End"
    );
}

proptest::proptest! {
    /// For any loss pattern: what arrived and what was lost add up to what
    /// the server sent, every delivered byte verifies, and one session
    /// started at most.
    #[test]
    fn received_and_lost_add_up_whatever_the_network_does(
        seed in 1u64..u64::MAX,
        loss in 0.0f64..0.6,
        duplicate in 0.0f64..0.3,
        reorder in 0.0f64..0.3,
        size in 0u64..30_000,
    ) {
        let f = fetch(seed, Faults::lossy(loss, duplicate, reorder), size, 700);
        proptest::prop_assert_eq!(f.got.corrupt, 0);
        proptest::prop_assert!(f.starts <= 1);
        let plan = FilePlan::new(size, 700).unwrap();
        proptest::prop_assert_eq!(f.got.received() + f.got.missing(), plan.datagrams());
        if let Some(e) = f.ended.first() {
            proptest::prop_assert_eq!(e.carried.data.datagrams, plan.datagrams());
        }
    }
}
