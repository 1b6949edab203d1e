//! Robustness: a corpus of hostile inputs against a real server process over
//! TCP and UDP, load at and beyond `--max-sessions`, the UDP amplification
//! bound measured from a live capture, signals during transfers, and
//! property tests over every decoder.
//!
//! After each hostile input the server must still serve a well-behaved
//! client, must have logged a line for the session it refused or ended, and
//! must never have exited or panicked. Every load test is bounded in count
//! and time; every socket is on loopback, every port ephemeral.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use ardei_lab::proto::datagram::{self, Body, DGRAM_HEADER, DgramHeader};
use ardei_lab::proto::{self, ErrorCode, Header, Kind, Message, codec};
use common::*;

/// How long a test waits for something the server should do at once.
const PROMPT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// Helpers: the server's log, framed messages over raw sockets.
// ---------------------------------------------------------------------------

/// The server's stderr, gathered as it comes.
struct Log {
    lines: Vec<String>,
}

impl Log {
    fn new() -> Log {
        Log { lines: Vec::new() }
    }

    fn pull(&mut self, s: &Server) {
        self.lines.extend(s.drain_log());
    }

    /// Waits until a line holds every one of `needles`; false after `t`.
    fn wait_for(&mut self, s: &Server, needles: &[&str], t: Duration) -> bool {
        let deadline = Instant::now() + t;
        loop {
            self.pull(s);
            if self
                .lines
                .iter()
                .any(|l| needles.iter().all(|n| l.contains(n)))
            {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `needle` is on at least `n` lines; false after `t`.
    fn wait_count(&mut self, s: &Server, needle: &str, n: usize, t: Duration) -> bool {
        let deadline = Instant::now() + t;
        loop {
            self.pull(s);
            if self.count(needle) >= n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn count(&self, needle: &str) -> usize {
        self.lines.iter().filter(|l| l.contains(needle)).count()
    }

    fn text(&self) -> String {
        self.lines.join("\n")
    }
}

/// The server process is still running and has not panicked.
fn assert_running(s: &mut Server, log: &mut Log) {
    log.pull(s);
    assert!(
        s.child.try_wait().expect("try_wait").is_none(),
        "the server exited; log:\n{}",
        log.text()
    );
    assert!(
        !log.text().contains("panicked"),
        "the server panicked:\n{}",
        log.text()
    );
}

fn frame(m: &Message) -> Vec<u8> {
    codec::to_vec(m).expect("encode")
}

/// A raw frame: a header naming `kind` and `body_len`, then `body`.
fn raw_frame(kind: u8, body_len: u32, body: &[u8]) -> Vec<u8> {
    let mut v = Header::emit(Kind::from_byte(kind), body_len).to_vec();
    v.extend_from_slice(body);
    v
}

/// Reads one framed message, or `None` when the server closes first (or
/// says nothing within the socket's read timeout).
fn read_msg(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Message> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match proto::decode(buf) {
            Ok(Some((m, used))) => {
                buf.drain(..used);
                return Some(m);
            }
            Ok(None) => {}
            Err(e) => panic!("the server sent a broken frame: {e}: {buf:02x?}"),
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// One framed echo on `s`, checked.
fn echo_on(s: &mut TcpStream, seq: u32) {
    let data = format!("echo {seq}").into_bytes();
    s.write_all(&frame(&Message::EchoRequest {
        seq,
        data: data.clone(),
    }))
    .expect("write echo");
    let mut buf = Vec::new();
    assert_eq!(
        read_msg(s, &mut buf),
        Some(Message::EchoReply { seq, data }),
        "echo {seq} not answered"
    );
}

/// A fresh connection does one framed echo: the server still serves.
fn assert_serves(s: &Server) {
    let mut c = s.raw();
    echo_on(&mut c, 4242);
}

/// Reads until the server closes (or `t` passes); true when it closed.
fn closed_within(s: &mut TcpStream, t: Duration) -> bool {
    s.set_read_timeout(Some(t)).unwrap();
    let deadline = Instant::now() + t;
    let mut b = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
    false
}

fn port_of(s: &TcpStream) -> String {
    format!("127.0.0.1:{}", s.local_addr().unwrap().port())
}

/// Raises this process's open-file limit to its hard limit.
fn raise_nofile() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), 0);
        r.rlim_cur = r.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &r), 0);
    }
    r.rlim_cur
}

// ---------------------------------------------------------------------------
// 1. Hostile inputs over TCP.
// ---------------------------------------------------------------------------

/// What the server should do with one hostile input.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// An Error with this code, and the connection goes on.
    Refused(ErrorCode),
    /// An Error with this code, then the connection is closed.
    Fatal(ErrorCode),
    /// No answer; the connection is closed (the input was cut short).
    Dropped,
}

fn stream_request(interval_ns: u64, count: u32, size: u32) -> Vec<u8> {
    frame(&Message::StreamRequest {
        interval_ns,
        count,
        size,
    })
}

fn tcp_corpus() -> Vec<(&'static str, Vec<u8>, Expect)> {
    use ErrorCode::*;
    let file_req = frame(&Message::FileRequest {
        size: 1000,
        rate_bps: 0,
    });
    vec![
        (
            "header cut after 3 bytes",
            file_req[..3].to_vec(),
            Expect::Dropped,
        ),
        ("body cut short", file_req[..12].to_vec(), Expect::Dropped),
        (
            "length 65537",
            raw_frame(0x01, 65_537, &[0; 16]),
            Expect::Fatal(TooLong),
        ),
        (
            "length 2^32-1",
            raw_frame(0x03, u32::MAX, &[]),
            Expect::Fatal(TooLong),
        ),
        (
            "echo of length 0",
            raw_frame(0x01, 0, &[]),
            Expect::Refused(Malformed),
        ),
        (
            "file request of length 0",
            raw_frame(0x03, 0, &[]),
            Expect::Refused(Malformed),
        ),
        (
            "file request with a trailing byte",
            raw_frame(0x03, 9, &[0; 9]),
            Expect::Refused(Malformed),
        ),
        (
            "wrong second magic byte",
            vec![0xAD, 0xE2, 1, 1, 0, 0, 0, 4, 0, 0, 0, 0],
            Expect::Fatal(BadMagic),
        ),
        (
            "version 0",
            {
                let mut v = file_req.clone();
                v[2] = 0;
                v
            },
            Expect::Fatal(BadVersion),
        ),
        (
            "version 255",
            {
                let mut v = file_req.clone();
                v[2] = 255;
                v
            },
            Expect::Fatal(BadVersion),
        ),
        (
            "unknown kind 0x00",
            raw_frame(0x00, 2, b"zz"),
            Expect::Refused(UnknownKind),
        ),
        (
            "client Error with invalid UTF-8",
            raw_frame(0x09, 6, &[0, 1, 0xC3, 0x28, 0xFF, 0xFE]),
            Expect::Refused(Malformed),
        ),
        (
            "client Error, well formed",
            frame(&Message::error(ErrorCode::Busy, "you are busy")),
            Expect::Refused(Unexpected),
        ),
        (
            "server-only FileReady",
            frame(&Message::FileReady { size: 5 }),
            Expect::Refused(Unexpected),
        ),
        (
            "server-only StreamSegment",
            frame(&Message::StreamSegment {
                seq: 0,
                scheduled_ns: 0,
                sent_ns: 0,
                size: 64,
            }),
            Expect::Refused(Unexpected),
        ),
        (
            "file of u64::MAX bytes",
            frame(&Message::FileRequest {
                size: u64::MAX,
                rate_bps: 0,
            }),
            Expect::Refused(FileTooLarge),
        ),
        (
            "stream of u32::MAX segments",
            stream_request(1_000_000, u32::MAX, 64),
            Expect::Refused(TooManySegments),
        ),
        (
            "stream of 0 segments",
            stream_request(1_000_000, 0, 64),
            Expect::Refused(TooManySegments),
        ),
        (
            "stream interval u64::MAX ns",
            stream_request(u64::MAX, 10, 64),
            Expect::Refused(BadInterval),
        ),
        (
            "stream interval 0",
            stream_request(0, 10, 64),
            Expect::Refused(BadInterval),
        ),
        (
            "stream segment size 0",
            stream_request(1_000_000, 10, 0),
            Expect::Refused(BadSize),
        ),
        (
            "stream segment size u32::MAX",
            stream_request(1_000_000, 10, u32::MAX),
            Expect::Refused(BadSize),
        ),
        (
            "echo of 60001 bytes",
            frame(&Message::EchoRequest {
                seq: 1,
                data: vec![b'e'; 60_001],
            }),
            Expect::Refused(EchoTooLong),
        ),
    ]
}

#[test]
fn tcp_hostile_frames_are_refused_or_dropped_and_logged() {
    let mut s = Server::v4(&["--idle-timeout", "500ms"]);
    let mut log = Log::new();
    for (name, bytes, expect) in tcp_corpus() {
        let mut c = s.raw();
        let peer = port_of(&c);
        c.write_all(&bytes).unwrap();
        match expect {
            Expect::Refused(code) | Expect::Fatal(code) => {
                let mut buf = Vec::new();
                match read_msg(&mut c, &mut buf) {
                    Some(Message::Error { code: got, message }) => {
                        assert_eq!(got, code, "{name}: {message}");
                        assert!(!message.is_empty(), "{name}: an empty sentence");
                    }
                    other => panic!("{name}: expected an Error {code:?}, got {other:?}"),
                }
                if matches!(expect, Expect::Refused(_)) {
                    echo_on(&mut c, 1);
                    drop(c);
                } else {
                    assert!(closed_within(&mut c, PROMPT), "{name}: not closed");
                }
            }
            Expect::Dropped => {
                c.shutdown(std::net::Shutdown::Write).unwrap();
                let mut rest = Vec::new();
                let _ = c.read_to_end(&mut rest);
                assert!(rest.is_empty(), "{name}: unexpected answer {rest:02x?}");
            }
        }
        assert!(
            log.wait_for(&s, &[&format!("from {peer}: end after")], PROMPT),
            "{name}: no log line for the end of session {peer}:\n{}",
            log.text()
        );
        assert_serves(&s);
        assert_running(&mut s, &mut log);
    }
    assert!(
        log.count("refused") + log.count("WARN") >= 10,
        "{}",
        log.text()
    );
    s.assert_alive();
    assert_running(&mut s, &mut log);
}

#[test]
fn zero_sized_file_is_served_as_nothing() {
    let s = Server::v4(&[]);
    let mut c = s.raw();
    c.write_all(&frame(&Message::FileRequest {
        size: 0,
        rate_bps: 0,
    }))
    .unwrap();
    let mut buf = Vec::new();
    assert_eq!(
        read_msg(&mut c, &mut buf),
        Some(Message::FileReady { size: 0 })
    );
    // No file bytes follow: the next message is the server's own timing of
    // the (empty) file, then the echo's reply.
    assert!(matches!(
        read_msg(&mut c, &mut buf),
        Some(Message::FileSent { .. })
    ));
    echo_on(&mut c, 9);
}

#[test]
fn text_mode_hostile_lines_are_refused_or_echoed() {
    let mut s = Server::v4(&["--idle-timeout", "500ms"]);
    let mut log = Log::new();
    let mut c = s.raw();
    let peer = port_of(&c);
    // Each line and the first bytes of its answer; "0" asks for nothing, so
    // it is followed by a line whose echo proves the session went on.
    let long = vec![b'a'; 60_001];
    let mut long_line = long.clone();
    long_line.push(b'\n');
    let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"-5\n".to_vec(), b"error: ".to_vec()),
        (b"-0\n".to_vec(), b"error: ".to_vec()),
        (b"18446744073709551615\n".to_vec(), b"error: ".to_vec()),
        (b"18446744073709551616\n".to_vec(), b"error: ".to_vec()),
        (
            b"99999999999999999999999999999\n".to_vec(),
            b"error: ".to_vec(),
        ),
        (b"0\nafter zero\n".to_vec(), b"after zero\n".to_vec()),
        (
            b"\xC3\x28\xFF\xFE\r\n".to_vec(),
            b"\xC3\x28\xFF\xFE\n".to_vec(),
        ),
        (b"\x00\x00\x00\n".to_vec(), b"\x00\x00\x00\n".to_vec()),
        (b"\r\n".to_vec(), b"\n".to_vec()),
        (long_line, b"error: ".to_vec()),
        (b" 12 \n".to_vec(), pattern(0, 12)),
    ];
    for (line, want) in &cases {
        c.write_all(line).unwrap();
        let got = read_n(&mut c, want.len());
        assert_eq!(
            &got,
            want,
            "line {:?}",
            String::from_utf8_lossy(&line[..line.len().min(40)])
        );
        if want.starts_with(b"error: ") {
            // The rest of the refusal line.
            let mut b = [0u8; 1];
            while b[0] != b'\n' {
                c.read_exact(&mut b).unwrap();
            }
        }
    }
    drop(c);
    assert!(
        log.wait_for(
            &s,
            &[&format!("from {peer}: end after"), "closed by the client"],
            PROMPT
        ),
        "{}",
        log.text()
    );
    assert!(log.text().contains(&format!("{peer}: end after")));
    // A line that never ends is refused and ends the session.
    let mut c = s.raw();
    let peer = port_of(&c);
    let answer = exchange(&mut c, &vec![b'z'; 60_010], PROMPT);
    assert!(answer.starts_with(b"error: "), "{answer:?}");
    assert!(
        log.wait_for(
            &s,
            &[&format!("from {peer}: end after"), "text protocol error"],
            PROMPT
        ),
        "{}",
        log.text()
    );
    assert_serves(&s);
    assert_running(&mut s, &mut log);
}

#[test]
fn a_header_then_silence_is_cut_by_the_idle_timeout() {
    let mut s = Server::v4(&["--idle-timeout", "500ms"]);
    let mut log = Log::new();
    let mut c = s.raw();
    let peer = port_of(&c);
    let t = Instant::now();
    c.write_all(&raw_frame(0x01, 100, &[0; 10])).unwrap();
    assert!(closed_within(&mut c, PROMPT), "never cut");
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "cut after {took:?}"
    );
    assert!(
        log.wait_for(
            &s,
            &[&format!("from {peer}: end after"), "idle timeout"],
            PROMPT
        ),
        "{}",
        log.text()
    );
    assert_serves(&s);
    assert_running(&mut s, &mut log);
}

#[test]
fn a_slow_reader_is_cut_without_stalling_others() {
    let mut s = Server::v4(&["--idle-timeout", "500ms"]);
    let mut log = Log::new();
    // A reader with a tiny receive buffer that asks for 100 MB and takes one
    // byte every 100 ms.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&s.addr.into()).unwrap();
    let mut slow: TcpStream = sock.into();
    let peer = port_of(&slow);
    slow.write_all(&frame(&Message::FileRequest {
        size: 100_000_000,
        rate_bps: 0,
    }))
    .unwrap();
    let cut = Arc::new(AtomicBool::new(false));
    let reader = {
        let cut = Arc::clone(&cut);
        std::thread::spawn(move || {
            slow.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(15);
            let mut b = [0u8; 1];
            let mut got = 0u64;
            while !cut.load(Ordering::Relaxed) && Instant::now() < deadline {
                if let Ok(1) = slow.read(&mut b) {
                    got += 1;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            got
        })
    };
    // Meanwhile another client echoes every 5 ms until the slow one is cut.
    let mut other = s.raw();
    let mut rtts = Vec::new();
    let started = Instant::now();
    let mut seq = 0;
    let mut ended = false;
    while started.elapsed() < Duration::from_secs(10) {
        let t = Instant::now();
        echo_on(&mut other, seq);
        rtts.push(t.elapsed());
        seq += 1;
        std::thread::sleep(Duration::from_millis(5));
        if seq % 20 == 0 {
            log.pull(&s);
            if log.count(&format!("from {peer}: end after")) > 0 {
                ended = true;
                break;
            }
        }
    }
    cut.store(true, Ordering::Relaxed);
    let read = reader.join().unwrap();
    assert!(ended, "the slow reader was never cut:\n{}", log.text());
    assert!(
        log.text().contains("idle timeout"),
        "cut, but not by the idle timeout:\n{}",
        log.text()
    );
    assert!(read > 0, "the slow reader read nothing");
    rtts.sort();
    let p50 = rtts[rtts.len() / 2];
    eprintln!(
        "slow reader cut after {:?}; {} echoes meanwhile, p50 {p50:?}, max {:?}",
        started.elapsed(),
        rtts.len(),
        rtts.last().unwrap()
    );
    assert!(rtts.len() >= 20, "too few echoes: {}", rtts.len());
    assert!(p50 < Duration::from_millis(5), "echo p50 {p50:?}");
    assert_running(&mut s, &mut log);
}

// ---------------------------------------------------------------------------
// 1b. Hostile datagrams over UDP.
// ---------------------------------------------------------------------------

fn udp_server(args: &[&str]) -> Server {
    let mut a = vec!["--udp"];
    a.extend_from_slice(args);
    Server::v4(&a)
}

fn udp_raw(s: &Server) -> UdpSocket {
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.connect(s.addr).unwrap();
    u.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    u
}

/// Every datagram that arrives until 300 ms of silence.
fn udp_drain(u: &UdpSocket) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65_536];
    while let Ok(n) = u.recv(&mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

fn hdr(session: u32) -> DgramHeader {
    DgramHeader {
        session,
        seq: 0,
        offset: 0,
        sent_ns: 0,
    }
}

/// A Hello and its Cookie's token.
fn cookie(u: &UdpSocket, session: u32) -> u64 {
    for _ in 0..10 {
        u.send(&datagram::to_vec(&hdr(session), &Body::Hello))
            .unwrap();
        for d in udp_drain(u) {
            if let Ok((_, Body::Cookie { token })) = datagram::decode(&d) {
                return token;
            }
        }
    }
    panic!("no cookie");
}

fn udp_file_request(session: u32, size: u64, rate_bps: u64, segment: u32, token: u64) -> Vec<u8> {
    datagram::to_vec(
        &hdr(session),
        &Body::FileRequest {
            size,
            rate_bps,
            segment,
            flags: 0,
            token,
            time_ns: 0,
        },
    )
}

fn udp_stream_request(
    session: u32,
    interval_ns: u64,
    count: u32,
    size: u32,
    token: u64,
) -> Vec<u8> {
    datagram::to_vec(
        &hdr(session),
        &Body::StreamRequest {
            interval_ns,
            count,
            size,
            flags: 0,
            token,
        },
    )
}

/// The error codes among `replies` (anything else is ignored).
fn error_codes(replies: &[Vec<u8>]) -> Vec<ErrorCode> {
    replies
        .iter()
        .filter_map(|d| match datagram::decode(d) {
            Ok((_, Body::Error { code, message })) => {
                assert!(!message.is_empty());
                Some(code)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn udp_hostile_datagrams_are_refused_or_dropped_and_logged() {
    use ErrorCode::*;
    let mut s = udp_server(&["--idle-timeout", "500ms"]);
    let mut log = Log::new();
    let u = udp_raw(&s);
    let token = cookie(&u, 77);
    // Datagrams that need no cookie: garbage and broken headers.
    let mut bad_version = datagram::to_vec(&hdr(1), &Body::Hello);
    bad_version[2] = 0;
    let mut short_request = udp_file_request(1, 10, 0, 1400, token);
    short_request.truncate(DGRAM_HEADER + 20);
    let mut bad_utf8 = datagram::to_vec(&hdr(1), &Body::error(Busy, "x"));
    bad_utf8.extend_from_slice(&[0xC3, 0x28, 0xFF]);
    let cases: Vec<(&str, Vec<u8>, Option<ErrorCode>)> = vec![
        ("empty datagram", vec![], None),
        ("one magic byte", vec![0xAD], None),
        ("magic then zeros", vec![0xAD, 0xE1, 0, 0], Some(Malformed)),
        ("version 0", bad_version, Some(BadVersion)),
        (
            "unknown kind 0xFF",
            {
                let mut v = datagram::to_vec(&hdr(1), &Body::Hello);
                v[3] = 0xFF;
                v
            },
            Some(UnknownKind),
        ),
        ("truncated FileRequest", short_request, Some(Malformed)),
        ("Error with invalid UTF-8", bad_utf8, Some(Malformed)),
        (
            "spoofed session: FileData",
            datagram::to_vec(
                &hdr(0xFFFF_FFFF),
                &Body::FileData {
                    data: b"forged".to_vec(),
                },
            ),
            Some(Unexpected),
        ),
        (
            "spoofed session: StreamEnd",
            datagram::to_vec(&hdr(0x1234_5678), &Body::StreamEnd { sent: u32::MAX }),
            Some(Unexpected),
        ),
        (
            "spoofed session: Cookie",
            datagram::to_vec(&hdr(0), &Body::Cookie { token }),
            Some(Unexpected),
        ),
        (
            "another address's token",
            udp_file_request(5, 1000, 0, 1400, token ^ 1),
            Some(Unexpected),
        ),
        (
            "file of u64::MAX bytes",
            udp_file_request(6, u64::MAX, 0, 1400, token),
            Some(FileTooLarge),
        ),
        (
            "segment of 0 bytes",
            udp_file_request(7, 1000, 0, 0, token),
            Some(BadSize),
        ),
        (
            "segment of u32::MAX bytes",
            udp_file_request(8, 1000, 0, u32::MAX, token),
            Some(BadSize),
        ),
        (
            "stream of u32::MAX segments",
            udp_stream_request(9, 1_000_000, u32::MAX, 100, token),
            Some(TooManySegments),
        ),
        (
            "stream of 0 segments",
            udp_stream_request(10, 1_000_000, 0, 100, token),
            Some(TooManySegments),
        ),
        (
            "stream interval u64::MAX ns",
            udp_stream_request(11, u64::MAX, 10, 100, token),
            Some(BadInterval),
        ),
        (
            "stream segment size 0",
            udp_stream_request(12, 1_000_000, 10, 0, token),
            Some(BadSize),
        ),
        (
            "echo of 60001 bytes",
            datagram::to_vec(
                &hdr(13),
                &Body::EchoRequest {
                    data: vec![1; 60_001],
                },
            ),
            Some(EchoTooLong),
        ),
        (
            "garbage, 1000 bytes",
            (0..1000u32).map(|i| (i * 7) as u8).collect(),
            None,
        ),
    ];
    // A large datagram first, answered by a short error: from then on the
    // address has room (3x what it sent) for every answer below.
    let mut big = datagram::to_vec(&hdr(2), &Body::Hello);
    big[3] = 0x7F;
    big.resize(60_000, 0);
    u.send(&big).unwrap();
    assert_eq!(error_codes(&udp_drain(&u)), vec![UnknownKind]);
    log.pull(&s);
    let mut refusals = log.count("refused");
    for (name, d, want) in &cases {
        u.send(d).unwrap();
        let replies = udp_drain(&u);
        let codes = error_codes(&replies);
        match want {
            Some(code) => {
                assert_eq!(codes, vec![*code], "{name}: replies {replies:02x?}");
                assert!(
                    log.wait_count(&s, "refused", refusals + 1, PROMPT),
                    "{name}: no log line for the refusal:\n{}",
                    log.text()
                );
                refusals += 1;
            }
            None => assert!(codes.is_empty(), "{name}: {codes:?}"),
        }
        s.assert_alive_udp();
        assert_running(&mut s, &mut log);
    }
    // Text mode over UDP: negative, zero, overflowing, invalid UTF-8.
    for (line, want) in [
        (&b"-5\n"[..], &b"error: "[..]),
        (b"99999999999999999999999\n", b"error: "),
        (b"\xC3\x28\xFF\n", b"\xC3\x28\xFF\n"),
    ] {
        u.send(line).unwrap();
        let r = udp_drain(&u);
        assert_eq!(r.len(), 1, "{line:?}: {r:?}");
        assert!(r[0].starts_with(want), "{line:?}: {:?}", r[0]);
    }
    u.send(b"0\n").unwrap();
    assert!(udp_drain(&u).iter().all(|d| d.is_empty()), "0 bytes asked");
    // A zero-byte file with a valid cookie: FileReady, no data, FileEnd.
    u.send(&udp_file_request(99, 0, 0, 1400, token)).unwrap();
    let kinds: Vec<&str> = udp_drain(&u)
        .iter()
        .filter_map(|d| datagram::decode(d).ok().map(|(_, b)| b.name()))
        .collect();
    assert_eq!(kinds.first(), Some(&"FileReady"), "{kinds:?}");
    assert!(kinds.contains(&"FileEnd"), "{kinds:?}");
    assert!(!kinds.contains(&"FileData"), "{kinds:?}");
    assert!(
        log.wait_for(&s, &["sent 0 datagrams, 0 bytes"], PROMPT),
        "{}",
        log.text()
    );
    s.assert_alive_udp();
    assert_running(&mut s, &mut log);
}

// ---------------------------------------------------------------------------
// 2. Load.
// ---------------------------------------------------------------------------

/// Opens `n` connections, then does one framed echo on each while all are
/// open.
fn open_and_echo(addr: SocketAddr, n: usize, seq0: u32) -> Vec<TcpStream> {
    let mut conns: Vec<TcpStream> = (0..n)
        .map(|i| {
            let c = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {i}: {e}"));
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            c
        })
        .collect();
    for (i, c) in conns.iter_mut().enumerate() {
        c.write_all(&frame(&Message::EchoRequest {
            seq: seq0 + i as u32,
            data: b"load".to_vec(),
        }))
        .unwrap();
    }
    for (i, c) in conns.iter_mut().enumerate() {
        let mut buf = Vec::new();
        assert_eq!(
            read_msg(c, &mut buf),
            Some(Message::EchoReply {
                seq: seq0 + i as u32,
                data: b"load".to_vec()
            }),
            "connection {i} not served"
        );
    }
    conns
}

#[test]
fn a_thousand_concurrent_tcp_clients_are_all_served() {
    raise_nofile();
    // All from one address: above the default per-client cap of 128.
    let mut s = Server::v4(&["-q", "--max-per-client", "1024"]);
    let mut log = Log::new();
    let t = Instant::now();
    let conns = open_and_echo(s.addr, 1000, 0);
    eprintln!("1000 connections open and echoed in {:?}", t.elapsed());
    drop(conns);
    assert_serves(&s);
    assert_running(&mut s, &mut log);
}

#[test]
fn beyond_max_sessions_clients_get_busy_then_are_served_again() {
    raise_nofile();
    let mut s = Server::v4(&["--max-sessions", "100"]);
    let mut log = Log::new();
    let first = open_and_echo(s.addr, 100, 0);
    // Fifty more: each gets a Busy error and is closed, whether it says
    // nothing or sends its request at once.
    for i in 0..50 {
        let mut c = s.raw();
        let peer = port_of(&c);
        if i % 2 == 1 {
            c.write_all(&frame(&Message::EchoRequest {
                seq: 1,
                data: b"me too".to_vec(),
            }))
            .unwrap();
        }
        let mut buf = Vec::new();
        match read_msg(&mut c, &mut buf) {
            Some(Message::Error { code, message }) => {
                assert_eq!(code, ErrorCode::Busy, "{message}");
                assert!(message.contains("100"), "{message}");
            }
            other => panic!("extra connection {i}: expected Busy, got {other:?}"),
        }
        assert!(
            closed_within(&mut c, PROMPT),
            "extra connection {i} left open"
        );
        assert!(
            log.wait_for(&s, &["refused", &peer, "max-sessions"], PROMPT),
            "{}",
            log.text()
        );
    }
    drop(first);
    // Once the first hundred are gone, a hundred new clients are served.
    let deadline = Instant::now() + PROMPT;
    while log.count("end after") < 100 && Instant::now() < deadline {
        log.pull(&s);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(log.count("end after"), 100, "{}", log.text());
    let again = open_and_echo(s.addr, 100, 1000);
    drop(again);
    assert_running(&mut s, &mut log);
}

#[test]
fn out_of_file_descriptors_the_server_logs_and_recovers() {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(bin());
    cmd.args(["server", "--bind", "127.0.0.1:0"]);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
    unsafe {
        cmd.pre_exec(|| {
            let r = libc::rlimit {
                rlim_cur: 48,
                rlim_max: 48,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut s = Server::from_command(cmd);
    let mut log = Log::new();
    // Far more connections than the server has descriptors for.
    let conns: Vec<TcpStream> = (0..80).map(|_| s.raw()).collect();
    assert!(
        log.wait_for(&s, &["Too many open files"], PROMPT),
        "the server never ran out:\n{}",
        log.text()
    );
    assert_running(&mut s, &mut log);
    drop(conns);
    // Descriptors come back as the sessions end; the server serves again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = s.raw();
        c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let _ = c.write_all(&frame(&Message::EchoRequest {
            seq: 5,
            data: b"back".to_vec(),
        }));
        let mut buf = Vec::new();
        if read_msg(&mut c, &mut buf).is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never served again:\n{}",
            log.text()
        );
    }
    assert_running(&mut s, &mut log);
}

/// `n` UDP clients, each on its own socket, ask for a small file at once.
fn udp_files(
    addr: SocketAddr,
    n: usize,
    size: u64,
    rate: u64,
) -> Vec<Result<ardei_lab::client::report::Report, ardei_lab::client::ClientError>> {
    use ardei_lab::client::udp::UdpClient;
    use ardei_lab::net::udp::UdpOpts;
    let go = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let go = Arc::clone(&go);
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let opts = UdpOpts {
                        rcvbuf: Some(256 * 1024),
                        ..UdpOpts::default()
                    };
                    let mut c = UdpClient::connect(addr, &opts, Some(Duration::from_secs(3)))
                        .expect("udp connect");
                    go.wait();
                    c.file(size, None, rate, Some(1400), None)
                })
                .expect("spawn")
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn a_thousand_concurrent_udp_sessions_complete_without_loss() {
    raise_nofile();
    let mut s = udp_server(&["-q"]);
    let mut log = Log::new();
    let t = Instant::now();
    let results = udp_files(s.addr, 1000, 4000, 50_000_000);
    eprintln!("1000 UDP files in {:?}", t.elapsed());
    for (i, r) in results.into_iter().enumerate() {
        let r = r.unwrap_or_else(|e| panic!("client {i}: {e}"));
        let u = r.udp.expect("udp figures");
        assert_eq!(r.bytes, 4000, "client {i}");
        assert_eq!(u.lost, 0, "client {i}");
        assert_eq!(u.datagrams, u.sent, "client {i}");
    }
    s.assert_alive_udp();
    assert_running(&mut s, &mut log);
}

#[test]
fn beyond_max_sessions_udp_clients_get_busy() {
    use ardei_lab::client::ClientError;
    raise_nofile();
    let mut s = udp_server(&["--max-sessions", "100"]);
    let mut log = Log::new();
    // 300 files of 40 kB at 1 Mbit/s each: 0.3 s apiece, so they overlap.
    let results = udp_files(s.addr, 300, 40_000, 1_000_000);
    let (mut served, mut busy) = (0, 0);
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(r) => {
                let u = r.udp.expect("udp figures");
                assert_eq!((r.bytes, u.lost), (40_000, 0), "client {i}");
                served += 1;
            }
            Err(ClientError::Refused {
                code: ErrorCode::Busy,
                message,
            }) => {
                assert!(message.contains("100"), "{message}");
                busy += 1;
            }
            Err(e) => panic!("client {i}: {e}"),
        }
    }
    eprintln!("--max-sessions 100: {served} served, {busy} busy");
    assert!(served >= 100, "{served} served");
    assert!(busy > 0, "none got Busy");
    log.pull(&s);
    assert!(log.count("busy") >= busy, "{}", log.text());
    s.assert_alive_udp();
    assert_running(&mut s, &mut log);
}

// ---------------------------------------------------------------------------
// 3. The amplification bound, from a live capture.
// ---------------------------------------------------------------------------

#[test]
fn amplification_bound_holds_on_the_wire() {
    use ardei_lab::pcap::capture::{
        CaptureError, DEFAULT_SNAPLEN, FlowFilter, LiveCapture, Transport,
    };
    let s = udp_server(&[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("amplification.pcapng");
    let capture = match LiveCapture::start(
        "lo",
        FlowFilter::server(Transport::Udp, s.addr),
        &path,
        DEFAULT_SNAPLEN,
    ) {
        Ok(c) => c,
        Err(CaptureError::PermissionDenied) if std::env::var_os("CI").is_none() => {
            eprintln!("note: skipped, live capture needs root or CAP_NET_RAW");
            return;
        }
        Err(e) => panic!("live capture: {e}"),
    };
    let u = udp_raw(&s);
    u.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
    let client = u.local_addr().unwrap();
    let probes: Vec<Vec<u8>> = vec![
        b"123456789\n".to_vec(),
        b"60000\n".to_vec(),
        b"20\n".to_vec(),
        b"hello\n".to_vec(),
        datagram::to_vec(&hdr(3), &Body::Hello),
        udp_file_request(3, 123_456_789, 0, 65_507, 0),
        udp_file_request(4, 1000, 0, 1400, 0xDEAD_BEEF),
        udp_stream_request(5, 1_000_000, 10_000, 65_507, 1),
        datagram::to_vec(&hdr(6), &Body::EchoRequest { data: vec![7; 500] }),
        vec![0xAD, 0xE1, 1, 0x7F],
        vec![0xAD],
        (0..200u8).collect(),
    ];
    let mut sent = 0u64;
    let mut received = 0u64;
    let mut buf = vec![0u8; 65_536];
    for p in probes.iter().cycle().take(240) {
        u.send(p).unwrap();
        sent += p.len() as u64;
        while let Ok(n) = u.recv(&mut buf) {
            received += n as u64;
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    while let Ok(n) = u.recv(&mut buf) {
        received += n as u64;
    }
    let stats = capture.stop().expect("stop capture");
    assert_eq!(stats.dropped, 0, "the capture dropped frames");
    let summary = ardei_lab::pcap::summarize_path(&path).expect("read the capture");
    let flow = |src: SocketAddr, dst: SocketAddr| {
        summary
            .flows
            .iter()
            .filter(|f| {
                f.transport == "udp"
                    && f.src == src.ip()
                    && f.src_port == Some(src.port())
                    && f.dst == dst.ip()
                    && f.dst_port == Some(dst.port())
            })
            .map(|f| f.payload_bytes)
            .sum::<u64>()
    };
    let up = flow(client, s.addr);
    let down = flow(s.addr, client);
    eprintln!(
        "amplification: client sent {up} bytes (socket count {sent}), server answered {down} (socket count {received}): ratio {:.2}",
        down as f64 / up.max(1) as f64
    );
    assert_eq!(up, sent, "the capture missed client datagrams");
    assert_eq!(down, received, "the capture and the socket disagree");
    assert!(down > 0, "the server answered nothing");
    assert!(down <= 3 * up, "server sent {down} bytes for {up} received");
}

// ---------------------------------------------------------------------------
// 4. Signals during transfers.
// ---------------------------------------------------------------------------

/// Whether process `pid` is gone or a zombie.
fn state_of(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.trim_start().chars().next()
}

/// Signals the server mid-transfer; checks the server exits 0 within a few
/// seconds and is reaped, and returns the client's output.
fn signal_mid_transfer(
    s: Server,
    client_args: &[&str],
    sig: i32,
    after: Duration,
) -> std::process::Output {
    let target = s.target();
    let server_pid = s.child.id();
    let client = spawn_client(&target, client_args);
    let client_pid = client.id();
    std::thread::sleep(after);
    let t = Instant::now();
    let status = s.signal_and_wait(sig);
    let took = t.elapsed();
    assert_eq!(status.code(), Some(0), "signal {sig}: {status:?}");
    assert!(
        took < Duration::from_secs(4),
        "signal {sig}: exit took {took:?}"
    );
    assert_eq!(state_of(server_pid), None, "the server was not reaped");
    let mut client = client;
    let Some(_) = wait_timeout(&mut client, Duration::from_secs(10)) else {
        let _ = client.kill();
        let _ = client.wait();
        panic!("the client did not end within 10 s of the server");
    };
    let out = client.wait_with_output().unwrap();
    assert_eq!(state_of(client_pid), None, "the client was not reaped");
    out
}

fn assert_clear_failure(out: &std::process::Output, what: &str) {
    let err = stderr(out);
    assert!(
        !out.status.success(),
        "{what}: the client exited 0 after the server stopped\nstdout: {}\nstderr: {err}",
        stdout(out)
    );
    let line = err.lines().last().unwrap_or("");
    assert!(
        line.starts_with("ardei-lab: ") && line.len() > 20,
        "{what}: no sentence on stderr: {err:?}"
    );
}

#[test]
fn sigint_during_a_tcp_file_exits_zero_and_the_client_fails_clearly() {
    // Large enough to outlast the server's 2 s shutdown grace on any machine.
    let s = Server::v4(&["--max-file", "100G"]);
    let out = signal_mid_transfer(
        s,
        &["--file", "50G"],
        libc::SIGINT,
        Duration::from_millis(500),
    );
    assert_clear_failure(&out, "tcp file, SIGINT");
}

#[test]
fn sigterm_during_a_tcp_stream_exits_zero_and_the_client_fails_clearly() {
    let s = Server::v4(&[]);
    let out = signal_mid_transfer(
        s,
        &["--stream", "1ms", "--count", "9000"],
        libc::SIGTERM,
        Duration::from_millis(500),
    );
    assert_clear_failure(&out, "tcp stream, SIGTERM");
}

#[test]
fn sigterm_during_a_slow_tcp_stream_exits_within_seconds() {
    let s = Server::v4(&[]);
    let out = signal_mid_transfer(
        s,
        &["--stream", "15s", "--count", "2"],
        libc::SIGTERM,
        Duration::from_millis(500),
    );
    assert_clear_failure(&out, "slow tcp stream, SIGTERM");
}

#[test]
fn signals_during_a_udp_file_stop_the_server_cleanly() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let s = udp_server(&[]);
        let out = signal_mid_transfer(
            s,
            &["--udp", "--file", "100M", "--rate", "200M"],
            sig,
            Duration::from_millis(700),
        );
        // The transfer was cut: whatever the client concludes, it must not
        // claim the whole file.
        assert!(
            !stdout(&out).contains("every byte verified"),
            "{}",
            stdout(&out)
        );
    }
}

#[test]
fn a_udp_client_cut_by_a_server_stop_fails_clearly() {
    let s = udp_server(&[]);
    let out = signal_mid_transfer(
        s,
        &["--udp", "--file", "100M", "--rate", "200M"],
        libc::SIGINT,
        Duration::from_millis(700),
    );
    assert_clear_failure(&out, "udp file, SIGINT");
}

#[test]
fn a_very_slow_udp_file_is_refused_and_sigterm_exits_within_seconds() {
    let mut s = udp_server(&[]);
    let u = udp_raw(&s);
    let token = cookie(&u, 31);
    // 100000 bytes at 1 bit/s would take 9 days: over the 600 s limit.
    u.send(&udp_file_request(31, 100_000, 1, 1400, token))
        .unwrap();
    let replies = udp_drain(&u);
    assert!(
        replies.iter().any(|d| matches!(
            datagram::decode(d),
            Ok((
                _,
                Body::Error {
                    code: ErrorCode::BadInterval,
                    ..
                }
            ))
        )),
        "the slow file was not refused"
    );
    // The longest allowed (600 s) still stops at once on SIGTERM.
    let token = cookie(&u, 32);
    u.send(&udp_file_request(32, 70_000, 1_000, 1400, token))
        .unwrap();
    let replies = udp_drain(&u);
    assert!(
        replies
            .iter()
            .any(|d| matches!(datagram::decode(d), Ok((_, Body::FileReady { .. })))),
        "the transfer did not start"
    );
    unsafe {
        libc::kill(s.child.id() as i32, libc::SIGTERM);
    }
    let status = wait_timeout(&mut s.child, Duration::from_secs(4));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "the server did not exit within 4 s of SIGTERM"
    );
}

// ---------------------------------------------------------------------------
// 4b. Report files at paths that are not plain files.
// ---------------------------------------------------------------------------

#[test]
fn report_files_follow_links_and_write_pipes_in_place() {
    let s = Server::v4(&[]);
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("rtt.hgrm");
    std::os::unix::fs::symlink("kept/real.hgrm", &link).unwrap();
    std::fs::create_dir(dir.path().join("kept")).unwrap();
    let fifo = dir.path().join("plot.svg");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    let hgrm = link.to_str().unwrap();
    let svg = fifo.to_str().unwrap();
    let out = s.client(&[
        "--echo", "hi", "--count", "5", "--hgrm", hgrm, "--plot", svg,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The link is still a link, and its target holds the histogram.
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    let h = std::fs::read_to_string(dir.path().join("kept/real.hgrm")).unwrap();
    assert!(h.contains("Percentile") && h.contains("#[Max"), "{h}");
    // The pipe is still a pipe, and its reader got the whole chart.
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    let chart = reader.join().unwrap();
    assert!(
        chart.starts_with("<svg") || chart.starts_with("<?xml"),
        "{chart:.80}"
    );
    assert!(chart.trim_end().ends_with("</svg>"));
    // Nothing was left beside them.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn a_report_file_on_a_full_device_fails_clearly() {
    // A device node of its own (as /dev/full: char 1,7), so nothing shared
    // is at stake; making one needs root.
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    let c = std::ffi::CString::new(full.to_str().unwrap()).unwrap();
    let dev = libc::makedev(1, 7);
    if unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, dev) } != 0 {
        eprintln!("skipped: mknod needs root");
        return;
    }
    let s = Server::v4(&[]);
    let out = s.client(&["--echo", "hi", "--plot", full.to_str().unwrap()]);
    assert_clear_failure(&out, "--plot on a full device");
    assert!(stderr(&out).contains("No space left"), "{}", stderr(&out));
    use std::os::unix::fs::FileTypeExt;
    let kind = std::fs::metadata(&full).unwrap().file_type();
    assert!(kind.is_char_device(), "the device was replaced: {kind:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

// ---------------------------------------------------------------------------
// 4c. A server that answers wrongly.
// ---------------------------------------------------------------------------

/// A fake TCP server for one connection: reads the client's first message,
/// then sends what `reply` makes of it and closes.
fn fake_server(
    reply: impl FnOnce(Message) -> Vec<Message> + Send + 'static,
) -> (String, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let h = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        c.set_read_timeout(Some(PROMPT)).unwrap();
        let mut buf = Vec::new();
        let Some(req) = read_msg(&mut c, &mut buf) else {
            return;
        };
        for m in reply(req) {
            if c.write_all(&frame(&m)).is_err() {
                return;
            }
        }
        let _ = c.shutdown(std::net::Shutdown::Write);
        let _ = c.read_to_end(&mut buf);
    });
    (addr, h)
}

/// A stream's replies: its start, segments `seqs`, then an end saying `sent`.
fn stream_replies(req: Message, seqs: std::ops::Range<u32>, sent: u32) -> Vec<Message> {
    let Message::StreamRequest {
        interval_ns,
        count,
        size,
    } = req
    else {
        panic!("not a stream request: {req:?}");
    };
    let now = ardei_lab::pace::unix_ns();
    let mut v = vec![Message::StreamStart {
        interval_ns,
        count,
        size,
        t0_ns: now,
    }];
    v.extend(seqs.map(|seq| Message::StreamSegment {
        seq,
        scheduled_ns: now,
        sent_ns: now,
        size,
    }));
    v.push(Message::StreamEnd { sent });
    v
}

#[test]
fn a_stream_end_that_claims_more_than_arrived_is_a_failure() {
    let (addr, h) = fake_server(|req| stream_replies(req, 0..2, 5));
    let out = client(&addr, &["--stream", "1ms", "--count", "5", "--json"]);
    h.join().unwrap();
    assert_clear_failure(&out, "2 of 5 segments, End says 5");
    assert!(stderr(&out).contains("but 2 arrived"), "{}", stderr(&out));
}

#[test]
fn more_segments_than_asked_is_a_failure() {
    let (addr, h) = fake_server(|req| stream_replies(req, 0..7, 7));
    let out = client(&addr, &["--stream", "1ms", "--count", "5", "--json"]);
    h.join().unwrap();
    assert_clear_failure(&out, "7 segments where 5 were asked");
    assert!(
        stderr(&out).contains("segment 5 arrived, beyond"),
        "{}",
        stderr(&out)
    );
}

/// A fake UDP server for one stream: a cookie for the hello, then the
/// stream's start, segments `seqs` and three ends saying `sent`.
fn fake_udp_stream(seqs: std::ops::Range<u32>, sent: u32) -> (String, std::thread::JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap().to_string();
    let h = std::thread::spawn(move || {
        sock.set_read_timeout(Some(PROMPT)).unwrap();
        let mut buf = vec![0u8; 65536];
        while let Ok((n, peer)) = sock.recv_from(&mut buf) {
            let Ok((h, body)) = datagram::decode(&buf[..n]) else {
                continue;
            };
            let send = |hdr: &DgramHeader, b: &Body| {
                let _ = sock.send_to(&datagram::to_vec(hdr, b), peer);
            };
            match body {
                Body::Hello => send(&h, &Body::Cookie { token: 1 }),
                Body::StreamRequest {
                    interval_ns,
                    count,
                    size,
                    ..
                } => {
                    let now = ardei_lab::pace::unix_ns();
                    let start = Body::StreamStart {
                        interval_ns,
                        count,
                        size,
                        t0_ns: now,
                    };
                    send(&h, &start);
                    for seq in seqs.clone() {
                        let sh = DgramHeader {
                            seq,
                            sent_ns: now,
                            ..h
                        };
                        let seg = Body::StreamSegment {
                            scheduled_ns: now,
                            size,
                        };
                        send(&sh, &seg);
                    }
                    for _ in 0..3 {
                        send(&h, &Body::StreamEnd { sent });
                    }
                    return;
                }
                _ => {}
            }
        }
    });
    (addr, h)
}

#[test]
fn a_udp_stream_beyond_the_count_asked_is_a_failure() {
    let (addr, h) = fake_udp_stream(0..7, 7);
    let out = client(
        &addr,
        &["--udp", "--stream", "1ms", "--count", "5", "--json"],
    );
    h.join().unwrap();
    assert_clear_failure(&out, "7 UDP segments where 5 were asked");
    assert!(
        stderr(&out).contains("sent 7 stream segments, more than the 5"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn udp_segments_beyond_the_count_are_not_counted() {
    // The End keeps to the count; two segments past it are ignored.
    let (addr, h) = fake_udp_stream(0..7, 5);
    let (out, v) = {
        let out = client(
            &addr,
            &["--udp", "--stream", "1ms", "--count", "5", "--json"],
        );
        let v: serde_json::Value = parse_json(&out.stdout).unwrap_or_default();
        (out, v)
    };
    h.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["segments"], 5, "{v}");
    assert_eq!(v["bytes"], 5 * 64, "{v}");
    assert_eq!(v["schedule_error_us"]["count"], 5, "{v}");
}

// ---------------------------------------------------------------------------
// 5. Property tests over every decoder.
// ---------------------------------------------------------------------------

mod props {
    use ardei_lab::proto::datagram;
    use ardei_lab::proto::text::{LineBuffer, TextReply, interpret};
    use ardei_lab::proto::{self, HEADER_LEN, Limits, MAX_BODY};
    use proptest::prelude::*;

    fn cases() -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(2048)
    }

    /// The capture files of `tests/corpus`, read once.
    fn corpus() -> &'static [Vec<u8>] {
        static CORPUS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
        CORPUS.get_or_init(|| {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
            let mut files: Vec<_> = std::fs::read_dir(dir)
                .expect("tests/corpus")
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("pcap" | "pcapng")
                    )
                })
                .collect();
            files.sort();
            files.iter().map(|p| std::fs::read(p).unwrap()).collect()
        })
    }

    /// Bytes that start like a lab frame more often than chance would.
    fn frame_like() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<u8>(),
            prop_oneof![Just(1u8), any::<u8>()],
            0u32..80,
            proptest::collection::vec(any::<u8>(), 0..100),
        )
            .prop_map(|(kind, version, len, body)| {
                let mut v = vec![0xAD, 0xE1, version, kind];
                v.extend_from_slice(&len.to_be_bytes());
                v.extend_from_slice(&body);
                v
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

        #[test]
        fn frame_decoder_never_panics_and_never_overreads(
            bytes in prop_oneof![proptest::collection::vec(any::<u8>(), 0..300), frame_like()],
        ) {
            match proto::decode(&bytes) {
                Ok(Some((_, used))) => {
                    prop_assert!(used >= HEADER_LEN && used <= bytes.len());
                    prop_assert!(used <= HEADER_LEN + MAX_BODY);
                }
                Ok(None) => prop_assert!(bytes.len() < HEADER_LEN + MAX_BODY),
                Err(e) => {
                    if let Some(skip) = e.skip() {
                        prop_assert!(skip <= bytes.len());
                    }
                    prop_assert!(!e.to_string().is_empty());
                }
            }
        }

        #[test]
        fn frame_decoder_reads_back_what_it_accepted(bytes in frame_like()) {
            if let Ok(Some((m, used))) = proto::decode(&bytes) {
                let again = proto::codec::to_vec(&m).expect("re-encode");
                // A StreamSegment's filler is not kept, so compare the decoded form.
                let (back, n) = proto::decode(&again).unwrap().unwrap();
                prop_assert_eq!(back, m);
                prop_assert_eq!(n, used);
            }
        }

        #[test]
        fn datagram_decoder_never_panics(
            bytes in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..200),
                (0x20u8..0x30, proptest::collection::vec(any::<u8>(), 24..120)).prop_map(|(k, t)| {
                    let mut v = vec![0xAD, 0xE1, 1, k];
                    v.extend_from_slice(&t);
                    v
                }),
            ],
        ) {
            match datagram::decode(&bytes) {
                Ok((h, body)) => {
                    let again = datagram::to_vec(&h, &body);
                    prop_assert_eq!(datagram::decode(&again).map(|x| x.0), Ok(h));
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }

        #[test]
        fn line_buffer_bounds_lines_and_loses_nothing(
            chunks in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'-'), 0x30u8..0x3A, any::<u8>()], 0..40),
                0..20,
            ),
            max in 1usize..64,
        ) {
            let limits = Limits::default();
            let mut b = LineBuffer::new(max);
            let mut out: Vec<u8> = Vec::new();
            let mut fed: Vec<u8> = Vec::new();
            let mut too_long = false;
            'feed: for c in &chunks {
                b.push(c);
                fed.extend_from_slice(c);
                loop {
                    match b.next_line() {
                        Ok(Some(line)) => {
                            prop_assert!(line.len() <= max + 1);
                            prop_assert!(!line.contains(&b'\n'));
                            match interpret(&line, &limits) {
                                TextReply::Echo(e) => prop_assert_eq!(&e[..line.len()], &line[..]),
                                TextReply::File(n) => prop_assert!(n <= limits.max_file),
                                TextReply::Refuse(r) => prop_assert!(!r.message.is_empty()),
                            }
                            out.extend_from_slice(&line);
                            out.push(b'\n');
                        }
                        Ok(None) => break,
                        Err(_) => { too_long = true; break 'feed; }
                    }
                }
            }
            if !too_long {
                out.extend_from_slice(&b.take_rest());
                // Lines come back as fed, but for the "\r" before each "\n".
                let strip = |v: &[u8]| v.iter().copied().filter(|&c| c != b'\r').collect::<Vec<u8>>();
                prop_assert_eq!(strip(&out), strip(&fed));
            }
        }

        #[test]
        fn pcap_summary_never_panics_on_arbitrary_bytes(
            bytes in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..400),
                // Either magic, then anything.
                (prop_oneof![
                    Just(vec![0xD4, 0xC3, 0xB2, 0xA1]),
                    Just(vec![0xA1, 0xB2, 0xC3, 0xD4]),
                    Just(vec![0x4D, 0x3C, 0xB2, 0xA1]),
                    Just(vec![0x0A, 0x0D, 0x0D, 0x0A]),
                ], proptest::collection::vec(any::<u8>(), 0..400)).prop_map(|(mut m, t)| { m.extend(t); m }),
            ],
        ) {
            let _ = ardei_lab::pcap::summarize_reader(&bytes[..]);
        }

        #[test]
        fn pcap_summary_never_panics_on_mutated_corpus_files(
            file in any::<proptest::sample::Index>(),
            cut in 24usize..6000,
            flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..12),
        ) {
            let corpus = corpus();
            let original = &corpus[file.index(corpus.len())];
            let mut bytes = original[..cut.min(original.len())].to_vec();
            for (at, v) in flips {
                let i = at.index(bytes.len());
                bytes[i] = v;
            }
            if let Ok(s) = ardei_lab::pcap::summarize_reader(&bytes[..]) {
                // Every record takes at least 16 bytes of the file.
                prop_assert!(s.frames.saturating_mul(16) <= bytes.len() as u64);
            }
        }
    }
}
