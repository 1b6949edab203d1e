//! TransferRequests end to end on virtual time: downloads and uploads,
//! sized and timed, the server's Results, its refusals, and the model's
//! shapes on both sides.

use std::time::Duration;

use super::*;
use crate::account::beside::Shape;
use crate::proto::{HEADER_LEN, Results, TransferDirection, TransferFlags};

fn ask(direction: TransferDirection, size: u64, time: Option<Duration>, rate: u64) -> TransferAsk {
    TransferAsk {
        direction,
        size,
        time,
        rate_bps: rate,
        flags: TransferFlags::NONE,
        tos: 0,
        congestion: String::new(),
    }
}

fn transfer_net(t: std::time::Instant, seed: u64, a: TransferAsk) -> Net {
    let client =
        ClientAction::Transfer(Box::new(TransferClient::new(t, a, Duration::from_secs(5))));
    let mut net = Net::new(t, seed, 70_000, MS, client);
    net.driver = true;
    net
}

fn finished(net: Net) -> (TransferFigures, ServerFigures) {
    let figures = net.server.figures();
    let Some(Finished::Transfer(f)) = net.client.finish() else {
        panic!("not a transfer");
    };
    (*f, figures)
}

/// The Results message's length with the test driver's "cubic".
const TRAILER: u64 =
    (HEADER_LEN + 16) as u64 + (HEADER_LEN + crate::proto::results::RESULTS_FIXED_LEN + 5) as u64;

#[test]
fn a_sized_download_ends_with_file_sent_and_the_server_s_results() {
    let t = base();
    let size = 2 * FILE_CHUNK as u64 + 99;
    let mut net = transfer_net(t, 5, ask(TransferDirection::Download, size, None, 0));
    net.run().unwrap();
    let (f, s) = finished(net);
    assert_eq!(f.bytes, size);
    assert_eq!(f.results.bytes, Some(size));
    assert_eq!(f.results.cwnd, Some(10));
    assert_eq!(f.results.congestion, "cubic");
    assert_eq!(
        (f.results.cpu_user_ns, f.results.cpu_sys_ns),
        (Some(1_000), Some(2_000))
    );
    let shape = Shape::File {
        up: (HEADER_LEN + 28) as u64,
        down: (HEADER_LEN + 8) as u64 + size,
        trailer: TRAILER,
    };
    assert_eq!(f.shape, shape);
    assert_eq!(s.shapes, vec![shape]);
    assert_eq!(s.bytes_out, size);
}

#[test]
fn a_timed_download_ends_at_its_time_and_a_cap_first_when_it_comes_first() {
    // 80 Mbit/s for 200 ms: about 2 MB, paced in 5 ms slices.
    let t = base();
    let time = Duration::from_millis(200);
    let a = ask(TransferDirection::Download, 0, Some(time), 80_000_000);
    let mut net = transfer_net(t, 11, a);
    net.run().unwrap();
    let end = net.now;
    let (f, s) = finished(net);
    // The FileData under way at the deadline is finished: up to one
    // message's bytes more.
    assert!(
        (1_900_000..=2_000_000 + 65_500 + 50_000).contains(&f.bytes),
        "{}",
        f.bytes
    );
    assert_eq!(f.results.bytes, Some(f.bytes));
    // The time from the request, plus the trailer's round trip.
    assert!(end <= t + time + 5 * MS, "{:?}", end - t);
    assert_eq!(s.shapes, vec![f.shape]);
    let Shape::File { down, .. } = f.shape else {
        panic!("{:?}", f.shape);
    };
    // The model capture's layout of the stream is the one that went.
    let head = codec::to_vec(&Message::FileReady { size: 0 }).unwrap();
    let model = crate::proto::timed::TimedStream {
        head: &head,
        len: f.bytes,
        end: true,
    };
    assert_eq!(down, model.total());
    // A cap of 500 kB comes first.
    let a = ask(TransferDirection::Download, 500_000, Some(time), 80_000_000);
    let mut net = transfer_net(t, 12, a);
    net.run().unwrap();
    assert!(net.now < t + 60 * MS, "{:?}", net.now - t);
    let (f, _) = finished(net);
    assert_eq!(f.bytes, 500_000);
}

#[test]
fn an_upload_is_verified_by_the_server_sized_or_timed() {
    let t = base();
    let size = 2_000_000;
    let a = ask(TransferDirection::Upload, size, None, 80_000_000);
    let mut net = transfer_net(t, 21, a);
    net.run().unwrap();
    let (f, s) = finished(net);
    assert_eq!((f.bytes, f.results.bytes), (size, Some(size)));
    let shape = Shape::Upload {
        up: (HEADER_LEN + 28) as u64,
        ready: (HEADER_LEN + 8) as u64,
        data: size,
        trailer: TRAILER,
    };
    assert_eq!(f.shape, shape);
    assert_eq!(s.shapes, vec![shape]);
    // Timed: 100 ms at 80 Mbit/s, framed, ended by FileEnd.
    let a = ask(TransferDirection::Upload, 0, Some(100 * MS), 80_000_000);
    let mut net = transfer_net(t, 22, a);
    net.run().unwrap();
    assert!(net.now <= t + 100 * MS + 5 * MS, "{:?}", net.now - t);
    let (f, s) = finished(net);
    assert!(
        (950_000..=1_000_000 + 65_500 + 50_000).contains(&f.bytes),
        "{}",
        f.bytes
    );
    assert_eq!(f.results.bytes, Some(f.bytes));
    assert_eq!(s.shapes, vec![f.shape]);
}

#[test]
fn a_wrong_uploaded_byte_is_answered_with_its_offset_and_ends_the_session() {
    let t = base();
    let request = Message::TransferRequest {
        direction: TransferDirection::Upload,
        flags: TransferFlags::NONE,
        tos: 0,
        size: 1000,
        rate_bps: 0,
        time_ns: 0,
        congestion: String::new(),
    };
    let mut s = ServerSession::new(1, Limits::default(), epoch(t));
    s.handle_bytes(t, &codec::to_vec(&request).unwrap());
    assert!(matches!(
        s.poll_event(),
        Some(Event::TransferStarting {
            tos: None,
            congestion: None
        })
    ));
    s.handle_applied(t, Ok(()));
    let mut data = content::fill_vec(0, 1000);
    data[500] ^= 1;
    s.handle_bytes(t, &data);
    let (mut out, mut buf) = (Vec::new(), Vec::new());
    while let Some(tx) = s.poll_transmit(t, &mut buf) {
        out.extend_from_slice(&buf[..tx.len]);
    }
    let (ready, n) = codec::decode(&out).unwrap().unwrap();
    assert_eq!(ready, Message::FileReady { size: 1000 });
    let (error, _) = codec::decode(&out[n..]).unwrap().unwrap();
    let Message::Error { code, message } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(*code, ErrorCode::Malformed);
    assert!(
        message.starts_with("upload: verification failed at offset 500: "),
        "{message}"
    );
    assert!(s.ended().is_some() && s.cut_upload());
    // The client reads the offset back.
    let a = ask(TransferDirection::Upload, 1000, None, 0);
    let mut c = TransferClient::new(t, a, Duration::from_secs(5));
    c.poll_transmit(t, &mut buf).unwrap();
    let e = c.handle_bytes(t, &out).unwrap_err();
    assert!(
        matches!(e, SessionError::Rejected { offset: 500, .. }),
        "{e:?}"
    );
}

#[test]
fn what_the_server_cannot_apply_or_allow_is_refused_and_the_session_goes_on() {
    let t = base();
    let mut a = ask(TransferDirection::Download, 1000, None, 0);
    a.congestion = "nope".to_string();
    let mut net = transfer_net(t, 31, a);
    let e = net.run().unwrap_err();
    assert!(
        matches!(&e, SessionError::Refused { code: ErrorCode::Unavailable, message } if message.contains("nope")),
        "{e:?}"
    );
    assert!(net.server.ended().is_none());
    // The same server serves the next request.
    let mut b = ask(TransferDirection::Download, 1000, None, 0);
    b.flags = TransferFlags::TOS | TransferFlags::ECN;
    b.tos = 0xB8;
    net.client = ClientAction::Transfer(Box::new(TransferClient::new(
        net.now,
        b,
        Duration::from_secs(5),
    )));
    net.run().unwrap();
    let (f, _) = finished(net);
    assert!(f.results.tos_applied() && !f.results.ecn_negotiated());
    assert_eq!(f.results.flags, Results::TOS_APPLIED);
    // Over --max-time.
    let request = Message::TransferRequest {
        direction: TransferDirection::Download,
        flags: TransferFlags::NONE,
        tos: 0,
        size: 0,
        rate_bps: 0,
        time_ns: 5_000_000_000,
        congestion: String::new(),
    };
    let limits = Limits {
        max_time: Duration::from_secs(1),
        ..Limits::default()
    };
    let mut s = ServerSession::new(1, limits, epoch(t));
    s.handle_bytes(t, &codec::to_vec(&request).unwrap());
    let mut buf = Vec::new();
    let tx = s.poll_transmit(t, &mut buf).unwrap();
    assert_eq!(first_error(&buf[..tx.len]), ErrorCode::BadInterval);
    assert!(s.ended().is_none() && s.poll_event().is_none());
}
