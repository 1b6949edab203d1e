//! Frame comments for the model capture: the lab event each frame carries,
//! named from the message or datagram itself ("echo 17 request", "stream
//! seq 42", "FileData seq 12 offset 16464").
//!
//! Both ends record their model captures with these names, so they live
//! here, below the client and the server, and read only the protocol.

use crate::pcap::model::Direction;
use crate::proto::datagram::{self, Body, FLAG_UPLOAD, KIND_FILE_DATA, KIND_STREAM_SEGMENT};

pub use crate::session::tcp::{message_comment, request_amount, stream_comment};

/// The lab event a datagram is, as a frame comment: its kind, and its
/// sequence number and offset where they matter. Only small datagrams are
/// decoded whole; file data and stream segments are named from their header.
pub fn dgram_comment(dir: Direction, d: &[u8]) -> String {
    if !datagram::is_lab(d) {
        return match dir {
            Direction::ToServer => "text line".to_string(),
            Direction::ToClient => "text reply".to_string(),
        };
    }
    match datagram::parse_header(d) {
        Ok((KIND_FILE_DATA, h)) => return format!("FileData seq {} offset {}", h.seq, h.offset),
        Ok((KIND_STREAM_SEGMENT, h)) => return format!("StreamSegment seq {}", h.seq),
        Ok(_) => {}
        Err(e) => return format!("not a valid datagram: {e}"),
    }
    match datagram::decode(d) {
        Ok((h, body)) => match body {
            Body::EchoRequest { .. } | Body::EchoReply { .. } => {
                format!("{} seq {}", body.name(), h.seq)
            }
            Body::FileRequest {
                size,
                flags,
                time_ns,
                ..
            } => {
                let upload = if flags & FLAG_UPLOAD != 0 {
                    " upload"
                } else {
                    ""
                };
                format!("FileRequest{upload} {}", request_amount(size, time_ns))
            }
            Body::FileReady {
                size, datagrams, ..
            } => format!("FileReady {size} in {datagrams} datagrams"),
            Body::FileEnd { .. } | Body::StreamEnd { .. } => {
                format!("{} copy {}", body.name(), h.seq + 1)
            }
            Body::StreamRequest { count, .. } => format!("StreamRequest {count}"),
            Body::Error { message, .. } => format!("Error: {message}"),
            Body::Results(r) => match r.bytes {
                Some(bytes) => format!("Results {bytes} bytes"),
                None => "Results".to_string(),
            },
            other => other.name().to_string(),
        },
        Err(e) => format!("not a valid datagram: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::datagram::DgramHeader;
    use crate::proto::{ErrorCode, MAGIC, Message};

    #[test]
    fn messages_name_their_lab_event() {
        let echo = Message::EchoRequest {
            seq: 17,
            data: b"hi".to_vec(),
        };
        assert_eq!(message_comment(&echo), "echo 17 request");
        let e = Message::error(ErrorCode::Busy, "the server is busy");
        assert_eq!(message_comment(&e), "error: the server is busy");
        assert_eq!(stream_comment(0, true, false), "stream start; stream seq 0");
        assert_eq!(stream_comment(42, false, false), "stream seq 42");
        assert_eq!(stream_comment(9, false, true), "stream seq 9; stream end");
        let upload = Message::TransferRequest {
            direction: crate::proto::TransferDirection::Upload,
            flags: crate::proto::TransferFlags::NONE,
            tos: 0,
            size: 0,
            rate_bps: 0,
            time_ns: 2_500_000_000,
            congestion: String::new(),
        };
        assert_eq!(message_comment(&upload), "transfer request upload for 2.5s");
        let end = Message::FileEnd { bytes: 7 };
        assert_eq!(message_comment(&end), "file end 7");
    }

    #[test]
    fn datagrams_name_their_kind() {
        let h = DgramHeader {
            session: 1,
            seq: 12,
            offset: 16_464,
            sent_ns: 0,
        };
        let mut d = Vec::new();
        datagram::begin(&mut d, KIND_FILE_DATA, &h);
        d.extend_from_slice(&[b'x'; 100]);
        assert_eq!(
            dgram_comment(Direction::ToClient, &d),
            "FileData seq 12 offset 16464"
        );
        let request = |flags, time_ns| Body::FileRequest {
            size: 1000,
            rate_bps: 0,
            segment: 1472,
            flags,
            token: 1,
            time_ns,
        };
        let named = |b: &Body| dgram_comment(Direction::ToServer, &datagram::to_vec(&h, b));
        assert_eq!(named(&request(0, 0)), "FileRequest 1000");
        assert_eq!(
            named(&request(FLAG_UPLOAD, 5_000_000_000)),
            "FileRequest upload 1000 or 5s"
        );
        let results = crate::proto::Results {
            bytes: Some(1000),
            ..Default::default()
        };
        assert_eq!(
            named(&Body::Results(Box::new(results))),
            "Results 1000 bytes"
        );
        assert_eq!(named(&Body::Results(Box::default())), "Results");
        let cookie = datagram::to_vec(&h, &Body::Cookie { token: 5 });
        assert_eq!(dgram_comment(Direction::ToClient, &cookie), "Cookie");
        assert_eq!(dgram_comment(Direction::ToServer, b"hello\n"), "text line");
        assert!(dgram_comment(Direction::ToServer, &[MAGIC[0], 0]).starts_with("not a valid"));
    }
}
