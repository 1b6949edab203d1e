//! A client session against a server session in memory, on virtual time:
//! the bytes go through a pipe that cuts them into pieces of seeded random
//! sizes and delivers each after a delay. No socket, no sleep: a test of
//! seconds of virtual time runs in milliseconds.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::*;
use crate::content;
use crate::proto::{ErrorCode, Limits, Message, codec};
use crate::session::Epoch;

/// One direction of the connection: bytes in order, cut into pieces.
struct Pipe {
    queue: VecDeque<(Instant, Vec<u8>)>,
    rng: u64,
    max_piece: usize,
    delay: Duration,
    /// Deliver nothing (a peer that never answers).
    deaf: bool,
}

impl Pipe {
    fn new(seed: u64, max_piece: usize, delay: Duration) -> Pipe {
        Pipe {
            queue: VecDeque::new(),
            rng: seed | 1,
            max_piece: max_piece.max(1),
            delay,
            deaf: false,
        }
    }

    fn next_rand(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn send(&mut self, now: Instant, mut bytes: &[u8]) {
        if self.deaf {
            return;
        }
        while !bytes.is_empty() {
            let n = (self.next_rand() as usize % self.max_piece + 1).min(bytes.len());
            // Up to a tenth more delay, never out of order.
            let jitter = self.delay / 10 * (self.next_rand() % 2) as u32;
            let at = self
                .queue
                .back()
                .map_or(now, |(t, _)| *t)
                .max(now + self.delay + jitter);
            self.queue.push_back((at, bytes[..n].to_vec()));
            bytes = &bytes[n..];
        }
    }

    fn deliver(&mut self, now: Instant) -> Option<Vec<u8>> {
        match self.queue.front() {
            Some((t, _)) if *t <= now => self.queue.pop_front().map(|(_, b)| b),
            _ => None,
        }
    }

    fn next_at(&self) -> Option<Instant> {
        self.queue.front().map(|(t, _)| *t)
    }
}

/// The two sessions and the pipes between them.
struct Net {
    now: Instant,
    up: Pipe,
    down: Pipe,
    client: ClientAction,
    server: ServerSession,
}

fn base() -> Instant {
    Instant::now()
}

fn epoch(at: Instant) -> Epoch {
    Epoch::pin(at, 1_700_000_000_000_000_000)
}

impl Net {
    fn new(
        now: Instant,
        seed: u64,
        max_piece: usize,
        delay: Duration,
        client: ClientAction,
    ) -> Net {
        Net {
            now,
            up: Pipe::new(seed, max_piece, delay),
            down: Pipe::new(seed.wrapping_add(7), max_piece, delay),
            client,
            server: ServerSession::new(1, Limits::default(), epoch(now)),
        }
    }

    /// Runs until the client's action is done or fails; the server's
    /// last byte is acknowledged the moment it is written.
    fn run(&mut self) -> Result<(), SessionError> {
        let (mut cbuf, mut sbuf) = (Vec::new(), Vec::new());
        for _ in 0..10_000_000 {
            let now = self.now;
            while let Some(t) = self.client.poll_transmit(now, &mut cbuf) {
                self.up.send(now, &cbuf[..t.len]);
            }
            if self.client.is_done() {
                return Ok(());
            }
            loop {
                while let Some(t) = self.server.poll_transmit(now, &mut sbuf) {
                    self.down.send(now, &sbuf[..t.len]);
                }
                if !self.server.awaiting_ack() {
                    break;
                }
                self.server.handle_acked(now, Some(now));
            }
            let mut moved = false;
            while let Some(b) = self.up.deliver(now) {
                self.server.handle_bytes(now, &b);
                moved = true;
            }
            while let Some(b) = self.down.deliver(now) {
                self.client.handle_bytes(now, &b)?;
                moved = true;
            }
            if moved {
                continue;
            }
            let next = [
                self.up.next_at(),
                self.down.next_at(),
                self.client.poll_timeout(),
                self.server.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min()
            .expect("a session waits for nothing: deadlock");
            self.now = self.now.max(next);
            self.client.handle_timeout(self.now)?;
        }
        panic!("the exchange did not end");
    }
}

const MS: Duration = Duration::from_millis(1);

fn echo(t: Instant, size: usize, count: u32, interval: Duration) -> ClientAction {
    ClientAction::Echo(
        EchoClient::new(t, &vec![b'x'; size], count, interval, 5 * MS * 1000).unwrap(),
    )
}

fn file(t: Instant, size: u64, rate: u64) -> ClientAction {
    ClientAction::File(FileClient::new(t, size, rate, Duration::from_secs(5)))
}

fn stream(t: Instant, interval: Duration, count: u32, size: u32) -> ClientAction {
    ClientAction::Stream(StreamClient::new(
        t,
        epoch(t),
        (interval, count, size),
        Duration::from_secs(5),
    ))
}

#[test]
fn echoes_come_back_one_round_trip_each_whatever_the_pieces() {
    for seed in 1..20 {
        let t = base();
        let mut net = Net::new(t, seed, 7, MS, echo(t, 100, 50, 2 * MS));
        net.run().unwrap();
        let Some(Finished::Echo { rtt, bytes, shape }) = net.client.finish() else {
            panic!("not an echo");
        };
        assert_eq!(bytes, 5000);
        assert_eq!(rtt.len(), 50);
        // Two one-way delays, each up to a tenth longer.
        let p = rtt.percentiles().unwrap();
        assert!(p.min >= 2000.0 && p.max <= 2300.0, "{p:?}");
        assert_eq!(
            shape,
            crate::account::beside::Shape::Echo {
                count: 50,
                request: 112,
                reply: 112
            }
        );
        let f = net.server.figures();
        assert_eq!(
            (f.mode, f.requests, f.refused, f.bytes_out),
            ("framed", 50, 0, 5000)
        );
        // The 50 requests were paced 2 ms apart: the last left at 98 ms.
        assert!(net.now >= t + 98 * MS + 2 * MS);
    }
}

#[test]
fn a_file_arrives_whole_and_verified_in_any_pieces() {
    let t = base();
    let size = 3 * FILE_CHUNK as u64 + 777;
    let mut net = Net::new(t, 42, 70_000, MS, file(t, size, 0));
    net.run().unwrap();
    let Some(Finished::File(f)) = net.client.finish() else {
        panic!("not a file");
    };
    assert_eq!(f.size, size);
    // The request's one-way delay, then the reply's.
    assert!(f.first >= t + 2 * MS && f.first <= t + 2 * MS + 2 * MS / 10);
    assert!(f.progress.len() > 10);
    assert_eq!(net.server.figures().bytes_out, size);
}

#[test]
fn a_paced_file_takes_as_long_as_its_rate_says() {
    let t = base();
    // 800 kbit/s: 100 kB a second, so 50 kB take half a second.
    let mut net = Net::new(t, 3, 1500, MS, file(t, 50_000, 800_000));
    net.run().unwrap();
    let Some(Finished::File(f)) = net.client.finish() else {
        panic!("not a file");
    };
    let took = f.end - f.first;
    assert!(took > 480 * MS && took < 520 * MS, "{took:?}");
    assert_eq!(net.server.poll_event(), Some(Event::Pacing(Some(125_000))));
}

#[test]
fn an_upload_is_verified_by_the_receiving_server() {
    let t = base();
    let mut server = FramedServer::new(1, Limits::default(), epoch(t));
    server.accept_uploads(true);
    // 80 Mbit/s: 2 MB take 200 ms, the last 5 ms slice leaving at 195.
    let client = ClientAction::Upload(UploadClient::new(
        t,
        2_000_000,
        80_000_000,
        Duration::from_secs(5),
    ));
    let mut net = Net::new(t, 9, 9000, MS, client);
    net.server = ServerSession::Framed(server);
    net.run().unwrap();
    let Some(Finished::Upload { bytes, received_ns }) = net.client.finish() else {
        panic!("not an upload");
    };
    assert_eq!(bytes, 2_000_000);
    assert!(
        (190_000_000..205_000_000).contains(&received_ns),
        "{received_ns}"
    );
}

#[test]
fn a_stream_arrives_in_order_on_its_schedule() {
    let t = base();
    let mut net = Net::new(t, 5, 40, 3 * MS, stream(t, 5 * MS, 20, 100));
    net.run().unwrap();
    let Some(Finished::Stream(s)) = net.client.finish() else {
        panic!("not a stream");
    };
    assert_eq!((s.segments, s.sent, s.bytes), (20, 20, 2000));
    // Virtual time keeps every deadline exactly.
    assert_eq!(s.schedule.percentiles().unwrap().max, 0.0);
    assert!(s.delay.percentiles().unwrap().min >= 3000.0);
}

#[test]
fn silence_fails_an_action_after_its_timeout_and_not_before() {
    let t = base();
    let mut net = Net::new(t, 1, 100, MS, file(t, 1000, 0));
    net.down.deaf = true;
    assert_eq!(
        net.run(),
        Err(SessionError::Timeout(Duration::from_secs(5)))
    );
    assert_eq!(net.now, t + Duration::from_secs(5));
    let mut net = Net::new(t, 1, 100, MS, echo(t, 10, 3, Duration::ZERO));
    net.down.deaf = true;
    assert_eq!(
        net.run(),
        Err(SessionError::Timeout(Duration::from_secs(5)))
    );
}

#[test]
fn requests_over_the_limits_are_refused_with_the_right_code() {
    let t = base();
    let cases = [
        (file(t, 1 << 40, 0), ErrorCode::FileTooLarge),
        (echo(t, 60_001, 1, Duration::ZERO), ErrorCode::EchoTooLong),
        (stream(t, MS, 0, 100), ErrorCode::TooManySegments),
        (stream(t, Duration::ZERO, 10, 100), ErrorCode::BadInterval),
        (file(t, 1_000_000, 1000), ErrorCode::BadInterval),
    ];
    for (action, code) in cases {
        let mut net = Net::new(t, 2, 500, MS, action);
        match net.run() {
            Err(SessionError::Refused { code: c, .. }) => assert_eq!(c, code),
            other => panic!("{other:?}"),
        }
        assert_eq!(net.server.figures().refused, 1);
        assert!(
            net.server.ended().is_none(),
            "a refusal does not end the session"
        );
    }
}

/// Feeds `bytes` to a fresh server session and collects what it answers.
fn serve_raw(bytes: &[u8], eof: bool) -> (ServerSession, Vec<u8>) {
    let t = base();
    let mut s = ServerSession::new(1, Limits::default(), epoch(t));
    s.handle_bytes(t, bytes);
    if eof {
        s.handle_eof(t);
    }
    let (mut out, mut buf) = (Vec::new(), Vec::new());
    while let Some(tx) = s.poll_transmit(t, &mut buf) {
        out.extend_from_slice(&buf[..tx.len]);
    }
    (s, out)
}

fn first_error(out: &[u8]) -> ErrorCode {
    match codec::decode(out) {
        Ok(Some((Message::Error { code, .. }, _))) => code,
        other => panic!("{other:?}"),
    }
}

#[test]
fn garbage_and_a_wrong_magic_or_version_are_answered_then_end_the_session() {
    for (bytes, code) in [
        (&[0xAD, 0x00, 1, 1, 0, 0, 0, 0][..], ErrorCode::BadMagic),
        (&[0xAD, 0xE1, 9, 1, 0, 0, 0, 0][..], ErrorCode::BadVersion),
        (&[0xAD, 0xE1, 1, 1, 0x7f, 0, 0, 0][..], ErrorCode::TooLong),
    ] {
        let (s, out) = serve_raw(bytes, false);
        assert_eq!(first_error(&out), code);
        assert!(s.ended().unwrap().why.starts_with("protocol error"));
    }
    // An unknown kind is skipped: the session goes on and serves the echo.
    let mut bytes = vec![0xAD, 0xE1, 1, 0x77, 0, 0, 0, 2, 9, 9];
    let echo = Message::EchoRequest {
        seq: 1,
        data: b"hi".to_vec(),
    };
    bytes.extend(codec::to_vec(&echo).unwrap());
    let (s, out) = serve_raw(&bytes, false);
    assert_eq!(first_error(&out), ErrorCode::UnknownKind);
    assert!(s.ended().is_none());
    let f = s.figures();
    assert_eq!((f.requests, f.refused, f.bytes_out), (2, 1, 2));
    // A server message from a client is refused.
    let (_, out) = serve_raw(
        &codec::to_vec(&Message::StreamEnd { sent: 1 }).unwrap(),
        false,
    );
    assert_eq!(first_error(&out), ErrorCode::Unexpected);
}

#[test]
fn a_server_that_lies_about_its_stream_count_is_a_protocol_error() {
    let t = base();
    let mut c = stream(t, MS, 3, 100);
    let mut buf = Vec::new();
    c.poll_transmit(t, &mut buf).unwrap();
    let mut bytes = Vec::new();
    let start = Message::StreamStart {
        interval_ns: 1_000_000,
        count: 3,
        size: 100,
        t0_ns: 0,
    };
    codec::encode(&start, &mut bytes).unwrap();
    for seq in 0..2 {
        let seg = Message::StreamSegment {
            seq,
            scheduled_ns: 0,
            sent_ns: 0,
            size: 100,
        };
        codec::encode(&seg, &mut bytes).unwrap();
    }
    codec::encode(&Message::StreamEnd { sent: 3 }, &mut bytes).unwrap();
    let e = c.handle_bytes(t, &bytes).unwrap_err();
    assert_eq!(
        e,
        SessionError::Protocol("the stream's end says 3 segments were sent, but 2 arrived".into())
    );
    // A truthful short count is a cut stream.
    let mut c = stream(t, MS, 3, 100);
    c.poll_transmit(t, &mut buf).unwrap();
    let cut = bytes.len() - 12;
    bytes.truncate(cut);
    codec::encode(&Message::StreamEnd { sent: 2 }, &mut bytes).unwrap();
    assert_eq!(
        c.handle_bytes(t, &bytes).unwrap_err(),
        SessionError::Cut {
            sent: 2,
            planned: 3
        }
    );
}

#[test]
fn a_file_cut_by_the_peer_is_short_and_a_wrong_byte_fails_verification() {
    let t = base();
    let mut c = file(t, 1000, 0);
    let mut buf = Vec::new();
    c.poll_transmit(t, &mut buf).unwrap();
    let mut bytes = codec::to_vec(&Message::FileReady { size: 1000 }).unwrap();
    bytes.extend(content::fill_vec(0, 600));
    assert_eq!(c.handle_bytes(t, &bytes).unwrap(), 16..616);
    assert_eq!(
        c.handle_eof(),
        SessionError::Short {
            expected: 1000,
            got: 600
        }
    );
    let mut c = file(t, 1000, 0);
    c.poll_transmit(t, &mut buf).unwrap();
    bytes[16 + 300] ^= 1;
    assert!(matches!(
        c.handle_bytes(t, &bytes),
        Err(SessionError::Verify(_))
    ));
}

#[test]
fn the_model_records_come_in_the_order_the_capture_wants() {
    let t = base();
    let mut action = echo(t, 4, 2, Duration::ZERO);
    action.set_recording(true);
    let mut net = Net::new(t, 11, 3, MS, action);
    net.server.set_recording(true);
    net.run().unwrap();
    let mut comments = Vec::new();
    while let Some(Event::Record(Record::Bytes { comment, .. })) = net.client.poll_event() {
        comments.push(comment);
    }
    assert_eq!(
        comments,
        [
            "echo 0 request",
            "echo 0 reply",
            "echo 1 request",
            "echo 1 reply"
        ]
    );
}

fn text_exchange(lines: &[u8]) -> (ServerSession, String) {
    let (s, out) = serve_raw(lines, true);
    (s, String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn text_mode_echoes_serves_files_and_refuses_in_a_line() {
    let (s, out) = text_exchange(b"hello\n12\n-5\nlast");
    assert_eq!(
        out,
        format!(
            "hello\n{}error: a file size cannot be negative\nlast\n",
            String::from_utf8(content::fill_vec(0, 12)).unwrap()
        )
    );
    let f = s.figures();
    assert_eq!((f.mode, f.requests, f.refused), ("text", 4, 1));
    assert_eq!(s.ended().unwrap().why, "closed by the client");
}

#[test]
fn text_quit_closes_the_connection_from_the_server() {
    let (s, out) = text_exchange(b"hi\nquit\nnot answered\n");
    assert_eq!(out, "hi\n");
    assert_eq!(
        s.ended(),
        Some(&Ended {
            why: "the client said quit".into(),
            by_client: false
        })
    );
}

#[test]
fn text_stream_sends_lines_on_its_interval_up_to_the_segment_limit() {
    let t = base();
    let limits = Limits {
        max_segments: 5,
        ..Limits::default()
    };
    let mut s = ServerSession::new(1, limits, epoch(t));
    s.handle_bytes(t, b"stream\n10\n");
    let (mut out, mut buf, mut now) = (Vec::new(), Vec::new(), t);
    while s.ended().is_none() {
        while let Some(tx) = s.poll_transmit(now, &mut buf) {
            out.extend_from_slice(&buf[..tx.len]);
        }
        match s.poll_timeout() {
            Some(next) => now = next,
            None => s.handle_eof(now),
        }
    }
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    for (i, l) in lines[..5].iter().enumerate() {
        assert_eq!(l.len(), 31);
        let (seq, sent) = l.split_once(' ').unwrap();
        assert_eq!(seq.parse::<u32>().unwrap(), i as u32);
        let at = epoch(t).unix_ns_of(t + 10 * MS * i as u32);
        assert_eq!(sent.parse::<u64>().unwrap(), at);
    }
    assert_eq!(lines[5], "end 5");
    assert_eq!(now, t + 40 * MS);
    assert_eq!(s.figures().bytes_out, 5 * 32);
}

#[test]
fn text_stream_refuses_a_bad_interval_and_stops_with_the_server() {
    let (_, out) = text_exchange(b"stream\nsoon\n");
    assert!(
        out.starts_with("error: a stream's interval is a whole number"),
        "{out}"
    );
    let (_, out) = text_exchange(b"stream\n0\n");
    assert!(out.starts_with("error: a stream interval of 0ns"), "{out}");
    let t = base();
    let mut s = ServerSession::new(1, Limits::default(), epoch(t));
    s.handle_bytes(t, b"stream\n1000\n");
    let mut buf = Vec::new();
    assert!(s.poll_transmit(t, &mut buf).is_some());
    s.handle_stop();
    let tx = s.poll_transmit(t, &mut buf).unwrap();
    assert_eq!(&buf[..tx.len], b"end 1\n");
}

#[test]
fn a_stopping_server_ends_a_framed_stream_with_what_it_sent() {
    let t = base();
    let mut net = Net::new(t, 4, 1000, MS, stream(t, 10 * MS, 100, 64));
    // Run until three segments have left, then stop the server.
    let mut buf = Vec::new();
    net.client.poll_transmit(t, &mut buf).unwrap();
    net.server.handle_bytes(t, &buf);
    let mut wire = Vec::new();
    let mut now = t;
    for _ in 0..3 {
        now = net.server.poll_timeout().unwrap();
        let tx = net.server.poll_transmit(now, &mut buf).unwrap();
        wire.extend_from_slice(&buf[..tx.len]);
    }
    net.server.handle_stop();
    let tx = net.server.poll_transmit(now, &mut buf).unwrap();
    wire.extend_from_slice(&buf[..tx.len]);
    assert_eq!(
        net.client.handle_bytes(now, &wire).unwrap_err(),
        SessionError::Cut {
            sent: 3,
            planned: 100
        }
    );
}

proptest::proptest! {
    /// Whatever pieces the stream is cut into, and whatever the file's
    /// size, every byte arrives and verifies, and nothing else is taken
    /// for file data.
    #[test]
    fn any_chunking_delivers_every_byte_verified(
        seed in 1u64..u64::MAX,
        max_piece in 1usize..5000,
        size in 0u64..300_000,
    ) {
        let t = base();
        let mut net = Net::new(t, seed, max_piece, MS, file(t, size, 0));
        net.run().unwrap();
        match net.client.finish() {
            Some(Finished::File(f)) => proptest::prop_assert_eq!(f.size, size),
            other => proptest::prop_assert!(false, "{:?}", other),
        }
    }
}
