//! Frame comments for the model capture: the lab event each frame carries,
//! named from the message or datagram itself ("echo 17 request", "stream
//! seq 42", "FileData seq 12 offset 16464").
//!
//! Both ends record their model captures with these names, so they live
//! here, below the client and the server, and read only the protocol.

use crate::pcap::model::Direction;
use crate::proto::Message;
use crate::proto::datagram::{self, Body, KIND_FILE_DATA, KIND_STREAM_SEGMENT};

/// The lab event a message is, as a frame comment.
pub fn message_comment(msg: &Message) -> String {
    match msg {
        Message::EchoRequest { seq, .. } => format!("echo {seq} request"),
        Message::EchoReply { seq, .. } => format!("echo {seq} reply"),
        Message::FileRequest { size, rate_bps: 0 } => format!("file request {size}"),
        Message::FileRequest { size, rate_bps } => {
            format!("file request {size} at {rate_bps} bit/s")
        }
        Message::FileReady { size } => format!("file ready {size}"),
        Message::FileSent { .. } => "file sent".to_string(),
        Message::StreamRequest {
            count,
            size,
            interval_ns,
        } => format!("stream request {count} x {size} bytes every {interval_ns} ns"),
        Message::StreamStart { .. } => "stream start".to_string(),
        Message::StreamSegment { seq, .. } => format!("stream seq {seq}"),
        Message::StreamEnd { .. } => "stream end".to_string(),
        Message::Error { message, .. } => format!("error: {message}"),
    }
}

/// The comment of one write of a stream: segment `seq`, with the
/// StreamStart before it (`first`) and the StreamEnd after it (`last`) when
/// they share its write.
pub fn stream_comment(seq: u32, first: bool, last: bool) -> String {
    let start = if first { "stream start; " } else { "" };
    let end = if last { "; stream end" } else { "" };
    format!("{start}stream seq {seq}{end}")
}

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
            Body::FileRequest { size, .. } => format!("FileRequest {size}"),
            Body::FileReady {
                size, datagrams, ..
            } => format!("FileReady {size} in {datagrams} datagrams"),
            Body::FileEnd { .. } | Body::StreamEnd { .. } => {
                format!("{} copy {}", body.name(), h.seq + 1)
            }
            Body::StreamRequest { count, .. } => format!("StreamRequest {count}"),
            Body::Error { message, .. } => format!("Error: {message}"),
            other => other.name().to_string(),
        },
        Err(e) => format!("not a valid datagram: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::datagram::DgramHeader;
    use crate::proto::{ErrorCode, MAGIC};

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
        let cookie = datagram::to_vec(&h, &Body::Cookie { token: 5 });
        assert_eq!(dgram_comment(Direction::ToClient, &cookie), "Cookie");
        assert_eq!(dgram_comment(Direction::ToServer, b"hello\n"), "text line");
        assert!(dgram_comment(Direction::ToServer, &[MAGIC[0], 0]).starts_with("not a valid"));
    }
}
