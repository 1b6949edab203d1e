//! The typed messages of the lab protocol and their kinds and error codes.

use std::fmt;

/// The kind byte of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Client asks the server to send `data` back.
    EchoRequest,
    /// Server sends the data back.
    EchoReply,
    /// Client asks for a file of `size` bytes.
    FileRequest,
    /// Server confirms; `size` raw bytes follow.
    FileReady,
    /// Client asks for a stream of segments.
    StreamRequest,
    /// Server confirms the stream and its schedule.
    StreamStart,
    /// One segment of a stream.
    StreamSegment,
    /// The stream is over.
    StreamEnd,
    /// A refusal or failure: a code and a sentence.
    Error,
    /// After a file: how long the server took to write it and to see it
    /// acknowledged.
    FileSent,
    /// A kind this build does not know (kept so nothing is lost).
    Unknown(u8),
}

impl Kind {
    /// The kind's byte on the wire.
    pub fn to_byte(self) -> u8 {
        match self {
            Kind::EchoRequest => 0x01,
            Kind::EchoReply => 0x02,
            Kind::FileRequest => 0x03,
            Kind::FileReady => 0x04,
            Kind::StreamRequest => 0x05,
            Kind::StreamStart => 0x06,
            Kind::StreamSegment => 0x07,
            Kind::StreamEnd => 0x08,
            Kind::Error => 0x09,
            Kind::FileSent => 0x0A,
            Kind::Unknown(b) => b,
        }
    }

    /// The kind a byte on the wire names.
    pub fn from_byte(b: u8) -> Kind {
        match b {
            0x01 => Kind::EchoRequest,
            0x02 => Kind::EchoReply,
            0x03 => Kind::FileRequest,
            0x04 => Kind::FileReady,
            0x05 => Kind::StreamRequest,
            0x06 => Kind::StreamStart,
            0x07 => Kind::StreamSegment,
            0x08 => Kind::StreamEnd,
            0x09 => Kind::Error,
            0x0A => Kind::FileSent,
            other => Kind::Unknown(other),
        }
    }
}

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
}

impl Message {
    /// The message's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Message::EchoRequest { .. } => Kind::EchoRequest,
            Message::EchoReply { .. } => Kind::EchoReply,
            Message::FileRequest { .. } => Kind::FileRequest,
            Message::FileReady { .. } => Kind::FileReady,
            Message::StreamRequest { .. } => Kind::StreamRequest,
            Message::StreamStart { .. } => Kind::StreamStart,
            Message::StreamSegment { .. } => Kind::StreamSegment,
            Message::StreamEnd { .. } => Kind::StreamEnd,
            Message::Error { .. } => Kind::Error,
            Message::FileSent { .. } => Kind::FileSent,
        }
    }

    /// A refusal with a code and a sentence.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Message {
        Message::Error {
            code,
            message: message.into(),
        }
    }
}
