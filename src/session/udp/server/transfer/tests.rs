use super::*;
use crate::content;

const MS: Duration = Duration::from_millis(1);

fn peer() -> SocketAddr {
    "127.0.0.1:4000".parse().unwrap()
}

/// Drives `t` from `t0` on virtual time until it is over; every datagram
/// sent, with the instant it left.
fn run(t: &mut Transfer, t0: Instant) -> Vec<(Instant, DgramHeader, Body)> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut now = t0;
    while let Some(at) = t.poll_timeout() {
        now = now.max(at);
        while let Some(tx) = t.poll_transmit(now, &mut buf) {
            let size = tx.segment.unwrap_or(tx.len);
            for d in buf[..tx.len].chunks(size) {
                let (h, b) = datagram::decode(d).unwrap();
                out.push((now, h, b));
            }
        }
        assert!(out.len() < 100_000, "runs away");
    }
    out
}

fn epoch(t0: Instant) -> Epoch {
    Epoch::pin(t0, 1_000_000_000)
}

#[test]
fn a_stream_sends_each_segment_at_its_deadline_then_three_ends() {
    let t0 = Instant::now();
    let mut t = Transfer::stream((peer(), 9), (5 * MS, 4, 100), false, epoch(t0), t0);
    let out = run(&mut t, t0);
    let names: Vec<&str> = out.iter().map(|(_, _, b)| b.name()).collect();
    assert_eq!(
        names,
        [
            "StreamStart",
            "StreamSegment",
            "StreamSegment",
            "StreamSegment",
            "StreamSegment",
            "StreamEnd",
            "StreamEnd",
            "StreamEnd"
        ]
    );
    let Body::StreamStart { t0_ns, count, .. } = out[0].2 else {
        panic!()
    };
    assert_eq!(count, 4);
    let first = t0 + STREAM_LEAD;
    assert_eq!(t0_ns, epoch(t0).unix_ns_of(first));
    for (i, (at, h, b)) in out[1..5].iter().enumerate() {
        let due = first + 5 * MS * i as u32;
        assert_eq!((*at, h.seq, h.session), (due, i as u32, 9));
        assert_eq!(
            *b,
            Body::StreamSegment {
                scheduled_ns: epoch(t0).unix_ns_of(due),
                size: 100
            }
        );
        assert_eq!(h.sent_ns, epoch(t0).unix_ns_of(due));
    }
    // End copies 0, 1, 2, END_SPACING apart.
    for (i, (at, h, b)) in out[5..].iter().enumerate() {
        assert_eq!(h.seq, i as u32);
        assert_eq!(*at, out[4].0 + END_SPACING * i as u32);
        assert_eq!(*b, Body::StreamEnd { sent: 4 });
    }
    let end = t.end().unwrap();
    assert_eq!(end.what, "sent 4 stream segments");
    assert_eq!(end.sent.datagrams, 8);
    assert_eq!((end.carried.data.datagrams, end.carried.payload), (4, 400));
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn a_paced_file_goes_at_its_rate_and_says_how_it_was_sent() {
    let t0 = Instant::now();
    let plan = FilePlan::new(36 * 10, 64).unwrap();
    let how = FileSend {
        fragment: false,
        gso: true,
    };
    // 64-byte datagrams at 512 kbit/s: one a millisecond.
    let mut t = Transfer::file((peer(), 3), plan, 512_000, how, epoch(t0), t0);
    let out = run(&mut t, t0);
    assert!(matches!(
        out[0].2,
        Body::FileReady {
            size: 360,
            segment: 64,
            datagrams: 10
        }
    ));
    let data: Vec<_> = out
        .iter()
        .filter(|(_, _, b)| b.name() == "FileData")
        .collect();
    assert_eq!(data.len(), 10);
    for (i, (at, h, b)) in data.iter().enumerate() {
        assert_eq!(h.seq as usize, i);
        assert_eq!(*at, t0 + MS * (i as u32 + 1) - crate::session::Pacer::EARLY);
        let Body::FileData { data } = b else { panic!() };
        content::check_at(h.offset, data).unwrap();
    }
    let ends: Vec<_> = out
        .iter()
        .filter(|(_, _, b)| b.name() == "FileEnd")
        .collect();
    assert_eq!(ends.len(), END_COPIES as usize);
    let Body::FileEnd {
        datagrams,
        bytes,
        sent_with: Some(w),
    } = &ends[0].2
    else {
        panic!()
    };
    assert_eq!((*datagrams, *bytes, w.calls, w.max_batch), (10, 360, 10, 1));
    let end = t.end().unwrap();
    assert!(
        end.what
            .starts_with("sent 10 datagrams, 360 bytes in 10 send calls"),
        "{}",
        end.what
    );
    assert_eq!(end.sent.datagrams, 1 + 10 + 3);
}

#[test]
fn a_failed_send_is_not_counted_and_an_error_goes_instead() {
    let t0 = Instant::now();
    let plan = FilePlan::new(36 * 300, 64).unwrap();
    let how = FileSend {
        fragment: false,
        gso: true,
    };
    let mut t = Transfer::file((peer(), 3), plan, 0, how, epoch(t0), t0);
    let mut buf = Vec::new();
    assert!(t.poll_transmit(t0, &mut buf).is_some(), "FileReady");
    let tx = t.poll_transmit(t0, &mut buf).unwrap();
    assert_eq!(tx.segment, Some(64));
    assert_eq!(tx.len, 128 * 64);
    t.failed(SendFailure::TooBig);
    let tx = t.poll_transmit(t0, &mut buf).unwrap();
    let (_, b) = datagram::decode(&buf[..tx.len]).unwrap();
    let Body::Error { code, message } = b else {
        panic!()
    };
    assert_eq!(code, ErrorCode::BadSize);
    assert!(message.contains("EMSGSIZE"), "{message}");
    assert_eq!(t.poll_transmit(t0, &mut buf), None);
    let end = t.end().unwrap();
    assert_eq!(end.what, "failed");
    assert_eq!(end.carried.data.datagrams, 0);
    assert_eq!(end.sent.datagrams, 2, "FileReady and the Error");
}

#[test]
fn a_stopped_transfer_ends_at_once_with_what_it_sent() {
    let t0 = Instant::now();
    let mut t = Transfer::stream((peer(), 1), (MS, 1000, 64), false, epoch(t0), t0);
    let mut buf = Vec::new();
    let mut now = t0;
    for _ in 0..4 {
        now = t.poll_timeout().unwrap();
        t.poll_transmit(now, &mut buf).unwrap();
    }
    t.stop(now);
    let out = run(&mut t, now);
    assert_eq!(out.len(), 3);
    assert!(
        out.iter()
            .all(|(_, _, b)| *b == Body::StreamEnd { sent: 3 })
    );
    assert_eq!(t.end().unwrap().carried.data.datagrams, 3);
}

#[test]
fn a_stamped_stream_follows_each_stamp_with_stream_stamps_and_each_end_too() {
    let t0 = Instant::now();
    let mut t = Transfer::stream((peer(), 9), (5 * MS, 3, 64), false, epoch(t0), t0).stamped();
    assert!(t.is_stamped());
    let (mut buf, mut now, mut out) = (Vec::new(), t0, Vec::new());
    while let Some(at) = t.poll_timeout() {
        now = now.max(at);
        while let Some(tx) = t.poll_transmit(now, &mut buf) {
            let (h, b) = datagram::decode(&buf[..tx.len]).unwrap();
            // The driver stamps every segment but the second.
            if let Some(seq) = t.stamp_wanted() {
                assert_eq!(seq, h.seq);
                if seq != 1 {
                    t.handle_tx_stamp(seq, 7_000 + u64::from(seq));
                }
            }
            out.push((now, b));
        }
    }
    let names: Vec<&str> = out.iter().map(|(_, b)| b.name()).collect();
    assert_eq!(
        names,
        [
            "StreamStart",
            "StreamSegment",
            "StreamStamps",
            "StreamSegment",
            "StreamSegment",
            "StreamStamps",
            "StreamStamps",
            "StreamEnd",
            "StreamStamps",
            "StreamEnd",
            "StreamStamps",
            "StreamEnd"
        ]
    );
    let stamps = |i: usize| match &out[i].1 {
        Body::StreamStamps { stamps } => stamps.0.clone(),
        b => panic!("{b:?}"),
    };
    assert_eq!(stamps(2), [(0, 7_000)]);
    assert_eq!(stamps(5), [(0, 7_000), (2, 7_002)]);
    assert_eq!(stamps(10), [(0, 7_000), (2, 7_002)]);
    // The End waited for the last stamp.
    assert_eq!(out[7].0, out[4].0 + TAIL_WAIT);
    // A plain stream's segments are the same bytes, and it sends no stamps.
    let mut plain = Transfer::stream((peer(), 9), (5 * MS, 3, 64), false, epoch(t0), t0);
    let p = run(&mut plain, t0);
    assert!(p.iter().all(|(_, _, b)| b.name() != "StreamStamps"));
    assert!(plain.stamp_wanted().is_none() && !plain.is_stamped());
}
