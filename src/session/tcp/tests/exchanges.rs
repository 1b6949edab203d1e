//! Each action end to end: echo, file both ways, stream, timeouts, and
//! any chunking of the bytes.

use std::time::Duration;

use super::*;

#[test]
fn echoes_come_back_one_round_trip_each_whatever_the_pieces() {
    for seed in 1..20 {
        let t = base();
        let mut net = Net::new(t, seed, 7, MS, echo(t, 100, 50, 2 * MS));
        net.run().unwrap();
        let Some(Finished::Echo {
            rtt, bytes, shape, ..
        }) = net.client.finish()
        else {
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

proptest::proptest! {
    /// Echoes and streams survive any chunking too: every reply compared
    /// whole, every segment in order, the counts exact.
    #[test]
    fn any_chunking_carries_echoes_and_streams_whole(
        seed in 1u64..u64::MAX,
        max_piece in 1usize..300,
        size in 0usize..2000,
        count in 1u32..30,
    ) {
        let t = base();
        let mut net = Net::new(t, seed, max_piece, MS, echo(t, size, count, Duration::ZERO));
        net.run().unwrap();
        match net.client.finish() {
            Some(Finished::Echo { bytes, rtt, .. }) => {
                proptest::prop_assert_eq!(bytes, size as u64 * u64::from(count));
                proptest::prop_assert_eq!(rtt.len(), u64::from(count));
            }
            other => proptest::prop_assert!(false, "{:?}", other),
        }
        let seg = (crate::proto::SEGMENT_MIN + size) as u32;
        let mut net = Net::new(t, seed, max_piece, MS, stream(t, MS, count, seg));
        net.run().unwrap();
        match net.client.finish() {
            Some(Finished::Stream(s)) => {
                proptest::prop_assert_eq!((s.segments, s.sent), (count, count));
                proptest::prop_assert_eq!(s.bytes, u64::from(seg) * u64::from(count));
            }
            other => proptest::prop_assert!(false, "{:?}", other),
        }
    }
}
