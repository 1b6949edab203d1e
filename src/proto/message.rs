//! The typed messages of the lab protocol over TCP, their bodies and the
//! error codes of both framings.

use std::fmt;

use super::body::body_codec;
pub use super::kind::Kind;
use super::results::Results;
use super::stamps::ServerStamps;
use super::transfer::{TransferDirection, TransferFlags};

/// Why the server refused or failed a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The requested file exceeds the server's `--max-file`.
    FileTooLarge,
    /// The stream asks for more segments than `--max-segments`.
    TooManySegments,
    /// The stream interval is outside the server's bounds.
    BadInterval,
    /// The echo data exceeds the maximum echo size.
    EchoTooLong,
    /// A message kind the server does not know.
    UnknownKind,
    /// A protocol version the server does not speak.
    BadVersion,
    /// A message whose body does not match its kind.
    Malformed,
    /// The server is at `--max-sessions`.
    Busy,
    /// The stream segment size is outside the server's bounds.
    BadSize,
    /// A message that a server does not accept from a client.
    Unexpected,
    /// The bytes did not start with the protocol's magic.
    BadMagic,
    /// A length above the protocol's maximum.
    TooLong,
    /// A congestion control or a marking the server cannot apply.
    Unavailable,
    /// A code this build does not know.
    Unknown(u16),
}

impl ErrorCode {
    /// The code's value on the wire.
    pub fn to_u16(self) -> u16 {
        match self {
            ErrorCode::FileTooLarge => 1,
            ErrorCode::TooManySegments => 2,
            ErrorCode::BadInterval => 3,
            ErrorCode::EchoTooLong => 4,
            ErrorCode::UnknownKind => 5,
            ErrorCode::BadVersion => 6,
            ErrorCode::Malformed => 7,
            ErrorCode::Busy => 8,
            ErrorCode::BadSize => 9,
            ErrorCode::Unexpected => 10,
            ErrorCode::BadMagic => 11,
            ErrorCode::TooLong => 12,
            ErrorCode::Unavailable => 13,
            ErrorCode::Unknown(c) => c,
        }
    }

    /// The code a value on the wire names.
    pub fn from_u16(c: u16) -> ErrorCode {
        match c {
            1 => ErrorCode::FileTooLarge,
            2 => ErrorCode::TooManySegments,
            3 => ErrorCode::BadInterval,
            4 => ErrorCode::EchoTooLong,
            5 => ErrorCode::UnknownKind,
            6 => ErrorCode::BadVersion,
            7 => ErrorCode::Malformed,
            8 => ErrorCode::Busy,
            9 => ErrorCode::BadSize,
            10 => ErrorCode::Unexpected,
            11 => ErrorCode::BadMagic,
            12 => ErrorCode::TooLong,
            13 => ErrorCode::Unavailable,
            other => ErrorCode::Unknown(other),
        }
    }

    /// A short name for logs and JSON.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::FileTooLarge => "file-too-large",
            ErrorCode::TooManySegments => "too-many-segments",
            ErrorCode::BadInterval => "bad-interval",
            ErrorCode::EchoTooLong => "echo-too-long",
            ErrorCode::UnknownKind => "unknown-kind",
            ErrorCode::BadVersion => "bad-version",
            ErrorCode::Malformed => "malformed",
            ErrorCode::Busy => "busy",
            ErrorCode::BadSize => "bad-size",
            ErrorCode::Unexpected => "unexpected",
            ErrorCode::BadMagic => "bad-magic",
            ErrorCode::TooLong => "too-long",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Unknown(_) => "unknown",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.to_u16())
    }
}

/// One message of the lab protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Send `data` back, tagged `seq`.
    EchoRequest {
        /// Sequence number chosen by the client.
        seq: u32,
        /// The bytes to echo.
        data: Vec<u8>,
    },
    /// The echo of a request.
    EchoReply {
        /// The request's sequence number.
        seq: u32,
        /// The request's bytes.
        data: Vec<u8>,
    },
    /// Ask for a file of `size` bytes.
    FileRequest {
        /// Bytes wanted.
        size: u64,
        /// The pace asked for, bits of payload per second; 0: as fast as
        /// the connection goes. Encoded only when not 0, so an unpaced
        /// request is the 8-byte body it always was.
        rate_bps: u64,
    },
    /// The file is coming: exactly `size` raw bytes follow this message.
    FileReady {
        /// Bytes that follow.
        size: u64,
    },
    /// Ask for `count` segments of `size` bytes, one every `interval_ns`.
    StreamRequest {
        /// Interval between segments, nanoseconds.
        interval_ns: u64,
        /// Segments wanted.
        count: u32,
        /// Whole message size of each segment, header included.
        size: u32,
    },
    /// The stream is accepted; segment `i` is scheduled at `t0_ns + i·interval_ns`.
    StreamStart {
        /// Interval between segments, nanoseconds.
        interval_ns: u64,
        /// Segments that will be sent.
        count: u32,
        /// Whole message size of each segment.
        size: u32,
        /// When segment 0 is scheduled, ns since the Unix epoch.
        t0_ns: u64,
    },
    /// One stream segment. The filler is pattern bytes and is not kept.
    StreamSegment {
        /// Sequence number, from 0.
        seq: u32,
        /// When the segment was scheduled to leave, ns since the epoch.
        scheduled_ns: u64,
        /// When it really left, ns since the epoch.
        sent_ns: u64,
        /// Whole message size, header included (at least [`super::SEGMENT_MIN`]).
        size: u32,
    },
    /// The stream is over; `sent` segments left the server.
    StreamEnd {
        /// Segments sent.
        sent: u32,
    },
    /// A refusal or failure.
    Error {
        /// What went wrong, for programs.
        code: ErrorCode,
        /// What went wrong, for people.
        message: String,
    },
    /// After the last file byte: the server's own timing of the file.
    FileSent {
        /// From FileReady to the return of the last write, ns: when the
        /// kernel had taken every byte.
        written_ns: u64,
        /// From FileReady to the acknowledgement of the last byte, ns (0 if
        /// it was not seen within the server's wait).
        acked_ns: u64,
    },
    /// The next bytes of a timed file, in order (TCP keeps it). A sized
    /// file is sent unframed after FileReady instead. Senders on the hot
    /// path write [`super::codec::file_data_header`] and the bytes straight
    /// into their buffer.
    FileData {
        /// The bytes, 1 to [`super::MAX_BODY`].
        data: Vec<u8>,
    },
    /// The sender of a timed file is done.
    FileEnd {
        /// File bytes it sent in all.
        bytes: u64,
    },
    /// Ask for a transfer: download or upload, sized, timed or both, with
    /// the marking and congestion control of the server's socket.
    TransferRequest {
        /// Which way the file goes.
        direction: TransferDirection,
        /// What the client asks of the server's socket.
        flags: TransferFlags,
        /// The TOS byte (DSCP << 2 | ECN) to apply with [`TransferFlags::TOS`].
        tos: u8,
        /// Bytes: the file's size, or the cap of a timed transfer (0: none).
        size: u64,
        /// The pace asked for, bits of payload per second; 0: full speed.
        rate_bps: u64,
        /// How long a timed transfer runs, ns (0: sized).
        time_ns: u64,
        /// The congestion control the server's socket should use (empty:
        /// its default).
        congestion: String,
    },
    /// After a transfer: the server's figures of it (boxed: they are
    /// several times the size of any other message, and sent once).
    Results(Box<Results>),
    /// As an EchoRequest, and the reply should carry the server's stamps.
    StampedEchoRequest {
        /// Sequence number chosen by the client.
        seq: u32,
        /// The bytes to echo.
        data: Vec<u8>,
    },
    /// The echo of a stamped request, with the server's stamps.
    StampedEchoReply {
        /// The request's sequence number.
        seq: u32,
        /// The server's times of this echo, and the previous reply's t3.
        stamps: ServerStamps,
        /// The request's bytes.
        data: Vec<u8>,
    },
    /// As a StreamRequest, and each segment's kernel TX stamp should follow
    /// it in a StreamStamp.
    StampedStreamRequest {
        /// Interval between segments, nanoseconds.
        interval_ns: u64,
        /// Segments wanted.
        count: u32,
        /// Whole message size of each segment, header included.
        size: u32,
    },
    /// The server's kernel TX stamp of segment `seq` of a stamped stream,
    /// on its clock, ns since the Unix epoch (0: none came).
    StreamStamp {
        /// The segment.
        seq: u32,
        /// When the server's kernel sent its last byte.
        tx_ns: u64,
    },
}

// The bodies over TCP, field by field in wire order (the table in
// `proto`'s docs). Every body but a segment's, an echo's and an error's has a
// fixed size: bytes after it are refused. A file's data, a transfer
// request's and results' congestion control run to the end of the body.
body_codec!(Message {
    EchoRequest { seq, data } "shorter than its sequence number";
    EchoReply { seq, data } "shorter than its sequence number";
    FileRequest { size, rate_bps as RateIfPaced } "body is not an 8-byte size"
        strict "body is not a size and a rate, 8 bytes each";
    FileReady { size } "body is not an 8-byte size" strict "body is not an 8-byte size";
    StreamRequest { interval_ns, count, size } "body is not interval, count and size"
        strict "trailing bytes after the size";
    StreamStart { interval_ns, count, size, t0_ns } "body is not interval, count, size and t0"
        strict "trailing bytes after t0";
    StreamSegment { seq, scheduled_ns, sent_ns, size as Filler } "shorter than seq and two timestamps";
    StreamEnd { sent } "body is not a 4-byte count" strict "body is not a 4-byte count";
    Error { code, message } "shorter than its code";
    FileSent { written_ns, acked_ns } "body is not two 8-byte times"
        strict "trailing bytes after the times";
    FileData { data as NonEmpty } "";
    FileEnd { bytes } "body is not an 8-byte count" strict "body is not an 8-byte count";
    TransferRequest { direction, flags, tos as ThenReserved, size, rate_bps, time_ns, congestion }
        "shorter than a transfer request's 28 bytes of fields";
    Results(results) "shorter than the results' sixteen 8-byte fields";
    StampedEchoRequest { seq, data } "shorter than its sequence number";
    StampedEchoReply { seq, stamps, data } "shorter than its sequence number and stamps";
    StampedStreamRequest { interval_ns, count, size } "body is not interval, count and size"
        strict "trailing bytes after the size";
    StreamStamp { seq, tx_ns } "body is not a sequence number and a stamp"
        strict "trailing bytes after the stamp";
});

impl Message {
    /// A refusal with a code and a sentence.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Message {
        Message::Error {
            code,
            message: message.into(),
        }
    }
}
