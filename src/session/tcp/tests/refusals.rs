//! What a server refuses and how, and what a client takes for a broken
//! conversation.

use std::time::Duration;

use super::*;

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

/// A server session that took `request` at `t`, recording.
fn serving(t: std::time::Instant, request: &Message) -> ServerSession {
    let mut s = ServerSession::new(1, Limits::default(), epoch(t));
    s.set_recording(true);
    s.handle_bytes(t, &codec::to_vec(request).unwrap());
    s
}

/// The model's file records and pacing changes the session reported.
fn file_events(s: &mut ServerSession) -> (Vec<(u64, String)>, Vec<Option<u64>>) {
    let (mut files, mut pacing) = (Vec::new(), Vec::new());
    while let Some(e) = s.poll_event() {
        match e {
            Event::Record(Record::File { len, comment, .. }) => files.push((len, comment)),
            Event::Pacing(p) => pacing.push(p),
            _ => {}
        }
    }
    (files, pacing)
}

#[test]
fn a_stopping_server_cuts_a_paced_file_and_prices_what_went() {
    let t = base();
    // 8 Mbit/s: 5000-byte slices.
    let request = Message::FileRequest {
        size: 100_000,
        rate_bps: 8_000_000,
    };
    let mut s = serving(t, &request);
    let mut buf = Vec::new();
    for i in 0..3 {
        let at = t + 5 * MS * i;
        assert!(s.poll_transmit(at, &mut buf).is_some());
        assert!(
            s.poll_transmit(at, &mut buf).is_none(),
            "one slice per 5 ms"
        );
    }
    s.handle_stop();
    assert_eq!(s.ended().unwrap().why, "error: the server is stopping");
    let (files, pacing) = file_events(&mut s);
    assert_eq!(
        files,
        [(15_000, "file, cut short after 15000 bytes".to_string())]
    );
    assert_eq!(pacing, [Some(1_250_000), None]);
    let f = s.figures();
    assert_eq!(f.bytes_out, 15_000);
    assert_eq!(
        f.shapes,
        [crate::account::beside::Shape::File {
            up: 24,
            down: 16 + 15_000,
            trailer: 0
        }]
    );
}

#[test]
fn a_failed_write_counts_only_the_file_bytes_before_it() {
    let t = base();
    let mut s = serving(
        t,
        &Message::FileRequest {
            size: 5_000_000,
            rate_bps: 0,
        },
    );
    let mut buf = Vec::new();
    assert!(s.poll_transmit(t, &mut buf).is_some());
    assert!(s.poll_transmit(t, &mut buf).is_some());
    s.handle_send_failed();
    let (files, _) = file_events(&mut s);
    let first = FIRST_CHUNK as u64;
    assert_eq!(
        files,
        [(first, format!("file, cut short after {first} bytes"))]
    );
    assert_eq!(s.figures().bytes_out, first);
}

#[test]
fn a_file_s_last_byte_acknowledged_brings_file_sent() {
    let t = base();
    let mut s = serving(
        t,
        &Message::FileRequest {
            size: 10,
            rate_bps: 0,
        },
    );
    let mut buf = Vec::new();
    assert!(s.poll_transmit(t, &mut buf).is_some());
    assert!(s.poll_transmit(t, &mut buf).is_none());
    assert!(s.awaiting_ack());
    s.handle_acked(t + 2 * MS, Some(t + 3 * MS));
    let tx = s.poll_transmit(t + 3 * MS, &mut buf).unwrap();
    let sent = codec::decode(&buf[..tx.len]).unwrap().unwrap().0;
    assert_eq!(
        sent,
        Message::FileSent {
            written_ns: 2_000_000,
            acked_ns: 3_000_000
        }
    );
    assert!(s.wants_input());
}
