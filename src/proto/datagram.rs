//! The lab protocol over UDP: one message per datagram, each with a header
//! that says which session it belongs to, where it sits and when it left.
//!
//! ```text
//!  0        1        2        3        4        5        6        7
//! +--------+--------+--------+--------+--------+--------+--------+--------+
//! |  0xAD  |  0xE1  |version |  kind  |        session id (u32, BE)       |
//! +--------+--------+--------+--------+--------+--------+--------+--------+
//! |        sequence number (u32)      |      byte offset (u64) …          |
//! +--------+--------+--------+--------+--------+--------+--------+--------+
//! |   … byte offset                   |      send timestamp (u64, ns) …   |
//! +--------+--------+--------+--------+--------+--------+--------+--------+
//! |   … send timestamp                |  body, laid out per kind …        |
//! +--------+--------+--------+--------+--------+--------+--------+--------+
//! ```
//!
//! A datagram's length is its message's length: there is no length field.
//!
//! | kind | name          | body                                                         |
//! |------|---------------|--------------------------------------------------------------|
//! | 0x21 | Hello         | (none) — asks for a cookie                                   |
//! | 0x22 | Cookie        | token u64                                                    |
//! | 0x23 | EchoRequest   | data                                                         |
//! | 0x24 | EchoReply     | data                                                         |
//! | 0x25 | FileRequest   | size u64, rate_bps u64, segment u32, flags u8, token u64 [, time_ns u64] |
//! | 0x26 | FileReady     | size u64, segment u32, datagrams u64                         |
//! | 0x27 | FileData      | file bytes from `offset`                                     |
//! | 0x28 | FileEnd       | datagrams u64, bytes u64 (the sender's counts) [, send info] |
//! | 0x29 | StreamRequest | interval_ns u64, count u32, size u32, flags u8, token u64    |
//! | 0x2A | StreamStart   | interval_ns u64, count u32, size u32, t0_ns u64              |
//! | 0x2B | StreamSegment | scheduled_ns u64, filler to `size` bytes                     |
//! | 0x2C | StreamEnd     | sent u32                                                     |
//! | 0x2D | Error         | code u16, a UTF-8 sentence                                   |
//! | 0x2E | Results       | sixteen u64 figures, congestion (rest, UTF-8): [`super::results`] |
//! | 0x2F | StampedEchoRequest | data: an echo that asks for the server's stamps         |
//! | 0x30 | StampedEchoReply | the server's stamps (40 bytes, [`super::stamps`]), data     |
//! | 0x31 | StampedStreamRequest | as StreamRequest: a stream followed by its TX stamps     |
//! | 0x32 | StreamStamps  | n u8, then n × (seq u32, tx_ns u64): kernel TX stamps         |
//!
//! An EchoRequest's byte offset holds how many requests its run has (0: not
//! said); the server ends the echo session once it has answered the last,
//! and its reply carries the request's header back unchanged.
//!
//! `segment` and a stream's `size` count the whole UDP payload, this header
//! included (as iperf3's `-l`). Flag bit 0 lets IP fragment the datagrams;
//! flag bit 1 (file) asks for one datagram per send call, without UDP GSO.
//! A request without bit 1, as every older client sends, allows GSO.
//! File flag bit 2 asks for an upload (the client sends the file, the
//! server verifies), bit 3 for the server's Results at the end, bit 4 for
//! ECN (the server sends ECT(0) and counts the ECN field of every datagram
//! it receives in the session).
//!
//! A FileRequest's `time_ns` after the token makes the transfer timed (run
//! until the time is up, or `size` when that is not 0, whichever comes
//! first). It is written only when not 0, so an untimed request is the
//! body it always was, and a request without it reads as untimed.
//!
//! A StampedStreamRequest is answered as a StreamRequest, its segments
//! byte for byte the same, and after each segment a StreamStamps carries
//! the kernel TX stamps of the latest segments whose stamps came (up to
//! [`super::stamps::SEGMENT_STAMPS_MAX`]), so each stamp rides in several
//! datagrams; the End copies are each preceded by one. A plain
//! StreamRequest gets no StreamStamps.
//!
//! A FileEnd may carry, after its counts, how the sender sent: method u8
//! (0 one datagram per call, 1 UDP GSO, 2 one per call because the kernel
//! refused GSO), send calls u64, and the most datagrams one call carried
//! u32. An End without them (an older server) is still valid.

use super::body::{Counter, Cut, Field, Reader, Sink, Writer, body_codec};
use super::kind::{Framing, Kind};
use super::message::ErrorCode;
use super::results::Results;
use super::stamps::{SegmentStamps, ServerStamps};
use super::{MAGIC, VERSION};

/// Length of the datagram header.
pub const DGRAM_HEADER: usize = 28;
/// The largest UDP payload over IPv4 (65535 − 20 − 8).
pub const MAX_UDP_PAYLOAD_V4: usize = 65_507;
/// The largest UDP payload over IPv6 without jumbograms (65535 − 8).
pub const MAX_UDP_PAYLOAD_V6: usize = 65_527;
/// Smallest stream segment over UDP: header and scheduled time.
pub const DGRAM_SEGMENT_MIN: usize = DGRAM_HEADER + 8;
/// Flag: IP may fragment this transfer's datagrams.
pub const FLAG_FRAGMENT: u8 = 1;
/// Flag: send one datagram per system call (no UDP GSO), for comparison.
pub const FLAG_NO_GSO: u8 = 2;
/// File flag: an upload; the client sends the file, the server verifies it.
pub const FLAG_UPLOAD: u8 = 4;
/// File flag: the server sends its Results after the transfer.
pub const FLAG_RESULTS: u8 = 8;
/// File flag: ECN; the server sends ECT(0) and counts the ECN field of
/// what it receives.
pub const FLAG_ECN: u8 = 16;

/// How a sender handed a file's datagrams to its kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendMethod {
    /// One datagram per `sendto`, as asked (`--no-gso`, `--fragment`).
    Sendto,
    /// Several datagrams per `sendmsg`, cut by the kernel (`UDP_SEGMENT`).
    Gso,
    /// One datagram per `sendto` because the kernel refused GSO.
    SendtoGsoRefused,
    /// A method this build does not know.
    Unknown(u8),
}

impl SendMethod {
    /// Its name in reports: `gso`, `sendto`, or `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            SendMethod::Gso => "gso",
            SendMethod::Sendto | SendMethod::SendtoGsoRefused => "sendto",
            SendMethod::Unknown(_) => "unknown",
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            SendMethod::Sendto => 0,
            SendMethod::Gso => 1,
            SendMethod::SendtoGsoRefused => 2,
            SendMethod::Unknown(n) => n,
        }
    }

    fn from_u8(n: u8) -> SendMethod {
        match n {
            0 => SendMethod::Sendto,
            1 => SendMethod::Gso,
            2 => SendMethod::SendtoGsoRefused,
            n => SendMethod::Unknown(n),
        }
    }
}

/// How the sender sent a file, as its End message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendInfo {
    /// The method.
    pub method: SendMethod,
    /// System calls that carried file data.
    pub calls: u64,
    /// The most datagrams one call carried.
    pub max_batch: u32,
}

/// The header every datagram carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DgramHeader {
    /// The client's session id.
    pub session: u32,
    /// Sequence number within the session's transfer.
    pub seq: u32,
    /// Byte offset in the file (file data), else 0.
    pub offset: u64,
    /// When the datagram left, ns since the Unix epoch.
    pub sent_ns: u64,
}

/// What a datagram says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Asks for a cookie.
    Hello,
    /// A token that proves the client receives at its address.
    Cookie {
        /// The token.
        token: u64,
    },
    /// Send `data` back.
    EchoRequest {
        /// The bytes.
        data: Vec<u8>,
    },
    /// The echo.
    EchoReply {
        /// The bytes.
        data: Vec<u8>,
    },
    /// Ask for a file.
    FileRequest {
        /// Bytes wanted.
        size: u64,
        /// Sender pace, bit/s of UDP payload; 0 = as fast as possible.
        rate_bps: u64,
        /// Whole UDP payload per datagram.
        segment: u32,
        /// [`FLAG_FRAGMENT`], [`FLAG_NO_GSO`], [`FLAG_UPLOAD`],
        /// [`FLAG_RESULTS`], [`FLAG_ECN`], any of them or 0.
        flags: u8,
        /// The cookie's token.
        token: u64,
        /// How long a timed transfer runs, ns; 0: sized (and not written).
        time_ns: u64,
    },
    /// The file is coming.
    FileReady {
        /// Bytes that will be sent.
        size: u64,
        /// Whole UDP payload per datagram.
        segment: u32,
        /// Datagrams that will carry it.
        datagrams: u64,
    },
    /// File bytes from the header's `offset`.
    FileData {
        /// The bytes.
        data: Vec<u8>,
    },
    /// The sender is done; its counts.
    FileEnd {
        /// Datagrams sent.
        datagrams: u64,
        /// File bytes sent.
        bytes: u64,
        /// How they were sent (absent from older servers).
        sent_with: Option<SendInfo>,
    },
    /// Ask for a stream.
    StreamRequest {
        /// Interval, ns.
        interval_ns: u64,
        /// Segments wanted.
        count: u32,
        /// Whole UDP payload per segment.
        size: u32,
        /// [`FLAG_FRAGMENT`] or 0.
        flags: u8,
        /// The cookie's token.
        token: u64,
    },
    /// The stream is accepted.
    StreamStart {
        /// Interval, ns.
        interval_ns: u64,
        /// Segments that will be sent.
        count: u32,
        /// Whole UDP payload per segment.
        size: u32,
        /// When segment 0 is due, ns since the epoch.
        t0_ns: u64,
    },
    /// One segment; the filler is not kept.
    StreamSegment {
        /// When it was due, ns since the epoch.
        scheduled_ns: u64,
        /// Whole UDP payload length.
        size: u32,
    },
    /// The stream is over.
    StreamEnd {
        /// Segments sent.
        sent: u32,
    },
    /// A refusal or failure.
    Error {
        /// For programs.
        code: ErrorCode,
        /// For people.
        message: String,
    },
    /// After a transfer: the server's figures of it (boxed: they are
    /// several times the size of any other body, and sent once).
    Results(Box<Results>),
    /// As an EchoRequest, and the reply should carry the server's stamps.
    StampedEchoRequest {
        /// The bytes.
        data: Vec<u8>,
    },
    /// The echo of a stamped request, with the server's stamps.
    StampedEchoReply {
        /// The server's times of this echo, and the previous reply's t3.
        stamps: ServerStamps,
        /// The bytes.
        data: Vec<u8>,
    },
    /// As a StreamRequest, and each segment's kernel TX stamp should
    /// follow it in StreamStamps.
    StampedStreamRequest {
        /// Interval, ns.
        interval_ns: u64,
        /// Segments wanted.
        count: u32,
        /// Whole UDP payload per segment.
        size: u32,
        /// [`FLAG_FRAGMENT`] or 0.
        flags: u8,
        /// The cookie's token.
        token: u64,
    },
    /// Kernel TX stamps of a stamped stream's latest segments.
    StreamStamps {
        /// `(seq, tx_ns)` of each, on the server's clock.
        stamps: SegmentStamps,
    },
}

// The bodies over UDP, field by field in wire order (the table above).
// Bytes after a body are ignored.
body_codec!(Body {
    Hello {} "";
    Cookie { token } "no token";
    EchoRequest { data } "";
    EchoReply { data } "";
    FileRequest { size, rate_bps, segment, flags, token, time_ns as TimeIfTimed } "too short";
    FileReady { size, segment, datagrams } "too short";
    FileData { data } "";
    FileEnd { datagrams, bytes, sent_with } "too short";
    StreamRequest { interval_ns, count, size, flags, token } "too short";
    StreamStart { interval_ns, count, size, t0_ns } "too short";
    StreamSegment { scheduled_ns, size as Filler } "no scheduled time";
    StreamEnd { sent } "no count";
    Error { code, message } "no code";
    Results(results) "shorter than the sixteen figures";
    StampedEchoRequest { data } "";
    StampedEchoReply { stamps, data } "shorter than the stamps";
    StampedStreamRequest { interval_ns, count, size, flags, token } "too short";
    StreamStamps { stamps } "stamps cut short";
});

/// A FileEnd's send info: absent, or all of method, calls and batch.
impl Field for Option<SendInfo> {
    fn put<S: Sink>(&self, s: &mut S) {
        if let Some(w) = self {
            w.method.to_u8().put(s);
            w.calls.put(s);
            w.max_batch.put(s);
        }
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Cut> {
        if r.is_empty() {
            return Ok(None);
        }
        let info = (|| {
            Ok(SendInfo {
                method: SendMethod::from_u8(u8::get(r)?),
                calls: u64::get(r)?,
                max_batch: u32::get(r)?,
            })
        })();
        info.map(Some)
            .map_err(|_: Cut| Cut::Bad("send info cut short"))
    }
}

impl Body {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// The bytes [`encode`] writes after the header for this body; measured
    /// by the code that writes them, without writing.
    pub fn encoded_len(&self) -> usize {
        let mut c = Counter::new(DGRAM_HEADER, MAX_UDP_PAYLOAD_V6);
        self.put_body(&mut c);
        c.len() - DGRAM_HEADER
    }

    /// A refusal.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Body {
        Body::Error {
            code,
            message: message.into(),
        }
    }
}

/// Why a datagram is not a lab message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DgramError {
    /// Not our magic: plain text or garbage.
    #[error("not the lab protocol")]
    NotLab,
    /// Shorter than the header.
    #[error("a datagram of {0} bytes is shorter than the {DGRAM_HEADER}-byte header")]
    Short(usize),
    /// A version this build does not speak.
    #[error("protocol version {0} is not spoken here (this is version {VERSION})")]
    BadVersion(u8),
    /// A kind this build does not know.
    #[error("unknown datagram kind {0:#04x}")]
    UnknownKind(u8),
    /// A body that does not fit its kind.
    #[error("malformed {kind} datagram: {reason}")]
    Malformed {
        /// The kind's name.
        kind: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
}

impl DgramError {
    /// The error code that answers it.
    pub fn code(&self) -> ErrorCode {
        match self {
            DgramError::NotLab => ErrorCode::BadMagic,
            DgramError::Short(_) | DgramError::Malformed { .. } => ErrorCode::Malformed,
            DgramError::BadVersion(_) => ErrorCode::BadVersion,
            DgramError::UnknownKind(_) => ErrorCode::UnknownKind,
        }
    }
}

/// Whether a datagram starts like a lab message (else: text mode).
pub fn is_lab(d: &[u8]) -> bool {
    d.first() == Some(&MAGIC[0])
}

/// Parses only the header (cheap: no body is copied).
pub fn parse_header(d: &[u8]) -> Result<(u8, DgramHeader), DgramError> {
    if !is_lab(d) || d.get(1) != Some(&MAGIC[1]) {
        return Err(DgramError::NotLab);
    }
    let Some(h) = d.first_chunk::<DGRAM_HEADER>() else {
        return Err(DgramError::Short(d.len()));
    };
    if h[2] != VERSION {
        return Err(DgramError::BadVersion(h[2]));
    }
    let u32_at = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let u64_at = |i: usize| (u64::from(u32_at(i)) << 32) | u64::from(u32_at(i + 4));
    Ok((
        h[3],
        DgramHeader {
            session: u32_at(4),
            seq: u32_at(8),
            offset: u64_at(12),
            sent_ns: u64_at(20),
        },
    ))
}

/// Decodes a whole datagram. Never panics; allocates at most the datagram's
/// own length.
pub fn decode(d: &[u8]) -> Result<(DgramHeader, Body), DgramError> {
    let (byte, header) = parse_header(d)?;
    let kind = Kind::from_code(Framing::Udp, byte);
    match Body::read_body(kind, &mut Reader::new(&d[DGRAM_HEADER..], d.len())) {
        Some(Ok(body)) => Ok((header, body)),
        Some(Err(reason)) => Err(DgramError::Malformed {
            kind: kind.name(),
            reason,
        }),
        None => Err(DgramError::UnknownKind(byte)),
    }
}

/// Writes the header of a datagram of `kind` into `out` (cleared first).
pub fn begin(out: &mut Vec<u8>, kind: u8, h: &DgramHeader) {
    out.clear();
    append_header(out, kind, h);
}

/// Appends the header of a datagram of `kind` to `out`, for a sender that
/// builds several datagrams back to back in one buffer (UDP GSO).
pub fn append_header(out: &mut Vec<u8>, kind: u8, h: &DgramHeader) {
    // Laid out whole, then one copy: a sender of small datagrams writes
    // millions of these a second.
    let mut b = [0u8; DGRAM_HEADER];
    b[..4].copy_from_slice(&[MAGIC[0], MAGIC[1], VERSION, kind]);
    b[4..8].copy_from_slice(&h.session.to_be_bytes());
    b[8..12].copy_from_slice(&h.seq.to_be_bytes());
    b[12..20].copy_from_slice(&h.offset.to_be_bytes());
    b[20..28].copy_from_slice(&h.sent_ns.to_be_bytes());
    out.extend_from_slice(&b);
}

/// The byte of a kind over UDP, for the constants below.
const fn code(kind: Kind) -> u8 {
    match kind.code(Framing::Udp) {
        Some(b) => b,
        None => panic!("not a UDP kind"),
    }
}

/// The kind byte of EchoRequest, for senders that build echoes in place.
pub const KIND_ECHO_REQUEST: u8 = code(Kind::EchoRequest);
/// The kind byte of EchoReply.
pub const KIND_ECHO_REPLY: u8 = code(Kind::EchoReply);
/// Where the kind byte sits in a datagram.
pub const KIND_AT: usize = 3;
/// The kind byte of FileData, for senders that build data datagrams in place.
pub const KIND_FILE_DATA: u8 = code(Kind::FileData);
/// The kind byte of StreamSegment.
pub const KIND_STREAM_SEGMENT: u8 = code(Kind::StreamSegment);
/// The kind byte of StampedEchoRequest: a server's driver turns its RX
/// stamps on when the first one comes.
pub const KIND_STAMPED_ECHO_REQUEST: u8 = code(Kind::StampedEchoRequest);
/// The kind byte of StampedStreamRequest, which turns them on too.
pub const KIND_STAMPED_STREAM_REQUEST: u8 = code(Kind::StampedStreamRequest);

/// Encodes a datagram into `out` (cleared first). A StreamSegment is padded
/// with pattern bytes to its `size` (at least [`DGRAM_SEGMENT_MIN`]).
pub fn encode(h: &DgramHeader, body: &Body, out: &mut Vec<u8>) {
    // Every body's kind has a UDP byte: `Body` holds only UDP kinds, and
    // the tests encode every one.
    begin(out, code(body.kind()), h);
    body.put_body(&mut Writer::new(out, 0, MAX_UDP_PAYLOAD_V6));
}

/// The length of the datagram [`encode`] writes for `body`: the header and
/// the body.
pub fn encoded_len(body: &Body) -> usize {
    DGRAM_HEADER + body.encoded_len()
}

/// Encodes into a new buffer.
pub fn to_vec(h: &DgramHeader, body: &Body) -> Vec<u8> {
    let mut v = Vec::new();
    encode(h, body, &mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h() -> DgramHeader {
        DgramHeader {
            session: 0xDEADBEEF,
            seq: 7,
            offset: 1448,
            sent_ns: 1_700_000_000_000_000_000,
        }
    }

    /// A body of every UDP kind, and the variants with optional parts.
    fn bodies() -> Vec<Body> {
        vec![
            Body::Hello,
            Body::Cookie { token: 42 },
            Body::EchoRequest {
                data: b"hi".to_vec(),
            },
            Body::EchoReply { data: vec![] },
            Body::FileRequest {
                size: 10,
                rate_bps: 1_000_000,
                segment: 1472,
                flags: FLAG_FRAGMENT,
                token: 9,
                time_ns: 0,
            },
            Body::FileReady {
                size: 10,
                segment: 1472,
                datagrams: 1,
            },
            Body::FileData {
                data: b"0000000000".to_vec(),
            },
            Body::FileEnd {
                datagrams: 1,
                bytes: 10,
                sent_with: None,
            },
            Body::FileEnd {
                datagrams: 100,
                bytes: 3600,
                sent_with: Some(SendInfo {
                    method: SendMethod::Gso,
                    calls: 2,
                    max_batch: 64,
                }),
            },
            Body::FileRequest {
                size: 10,
                rate_bps: 0,
                segment: 64,
                flags: FLAG_NO_GSO | FLAG_FRAGMENT,
                token: 9,
                time_ns: 0,
            },
            Body::StreamRequest {
                interval_ns: 5_000_000,
                count: 3,
                size: 100,
                flags: 0,
                token: 1,
            },
            Body::StreamStart {
                interval_ns: 5_000_000,
                count: 3,
                size: 100,
                t0_ns: 5,
            },
            Body::StreamSegment {
                scheduled_ns: 5,
                size: 100,
            },
            Body::StreamEnd { sent: 3 },
            Body::error(ErrorCode::Busy, "busy"),
            Body::FileRequest {
                size: 0,
                rate_bps: 1_000_000,
                segment: 1472,
                flags: FLAG_UPLOAD | FLAG_RESULTS | FLAG_ECN,
                token: 9,
                time_ns: 5_000_000_000,
            },
            Body::Results(Box::new(Results {
                bytes: Some(10),
                datagrams: Some(1),
                lost: Some(0),
                duplicates: Some(0),
                reordered: Some(0),
                not_ect: Some(0),
                ect0: Some(1),
                ect1: Some(0),
                ce: Some(0),
                ..Results::default()
            })),
            Body::Results(Box::default()),
            Body::StampedEchoRequest {
                data: b"hi".to_vec(),
            },
            Body::StampedEchoReply {
                stamps: stamped(),
                data: b"hi".to_vec(),
            },
            Body::StampedStreamRequest {
                interval_ns: 1_000_000,
                count: 3,
                size: 64,
                flags: FLAG_FRAGMENT,
                token: 2,
            },
            Body::StreamStamps {
                stamps: SegmentStamps(vec![(4, 17), (5, u64::MAX)]),
            },
            Body::StreamStamps {
                stamps: SegmentStamps::default(),
            },
        ]
    }

    fn stamped() -> ServerStamps {
        ServerStamps {
            rx_ns: 11,
            read_ns: 12,
            reply_ns: 13,
            prev_seq: 2,
            kind: crate::proto::stamps::StampsKind::Software,
            prev_tx_ns: Some(10),
        }
    }

    #[test]
    fn round_trip_every_kind() {
        let bodies = bodies();
        for b in bodies {
            let bytes = to_vec(&h(), &b);
            assert_eq!(decode(&bytes), Ok((h(), b.clone())), "{}", b.name());
        }
    }

    #[test]
    fn header_layout_matches_the_diagram() {
        let bytes = to_vec(&h(), &Body::Hello);
        assert_eq!(bytes.len(), DGRAM_HEADER);
        assert_eq!(
            &bytes[..8],
            &[0xAD, 0xE1, 1, code(Kind::Hello), 0xDE, 0xAD, 0xBE, 0xEF]
        );
        assert_eq!(&bytes[8..12], &7u32.to_be_bytes());
        assert_eq!(&bytes[12..20], &1448u64.to_be_bytes());
    }

    #[test]
    fn refusals() {
        assert_eq!(decode(b"hello"), Err(DgramError::NotLab));
        assert_eq!(decode(&[0xAD, 0xE1, 1]), Err(DgramError::Short(3)));
        let mut b = to_vec(&h(), &Body::Hello);
        b[2] = 2;
        assert_eq!(decode(&b), Err(DgramError::BadVersion(2)));
        b[2] = 1;
        b[3] = 0x99;
        assert_eq!(decode(&b), Err(DgramError::UnknownKind(0x99)));
        let short = &to_vec(
            &h(),
            &Body::FileEnd {
                datagrams: 1,
                bytes: 1,
                sent_with: None,
            },
        )[..30];
        assert!(matches!(decode(short), Err(DgramError::Malformed { .. })));
        let with = to_vec(
            &h(),
            &Body::FileEnd {
                datagrams: 1,
                bytes: 1,
                sent_with: Some(SendInfo {
                    method: SendMethod::Sendto,
                    calls: 1,
                    max_batch: 1,
                }),
            },
        );
        // Send info cut anywhere is malformed, never misread.
        for cut in DGRAM_HEADER + 17..with.len() {
            assert!(
                matches!(decode(&with[..cut]), Err(DgramError::Malformed { .. })),
                "{cut}"
            );
        }
    }

    #[test]
    fn an_older_file_end_and_request_still_decode() {
        // FileEnd as servers before send info wrote it: the counts only.
        let mut old = Vec::new();
        begin(&mut old, code(Kind::FileEnd), &h());
        old.extend_from_slice(&5u64.to_be_bytes());
        old.extend_from_slice(&180u64.to_be_bytes());
        assert_eq!(
            decode(&old).map(|x| x.1),
            Ok(Body::FileEnd {
                datagrams: 5,
                bytes: 180,
                sent_with: None
            })
        );
        // An unknown method survives a round trip.
        let b = Body::FileEnd {
            datagrams: 5,
            bytes: 180,
            sent_with: Some(SendInfo {
                method: SendMethod::Unknown(9),
                calls: 5,
                max_batch: 1,
            }),
        };
        assert_eq!(decode(&to_vec(&h(), &b)).map(|x| x.1), Ok(b));
        // A request from an older client has flag bit 1 clear: GSO allowed.
        let req = to_vec(
            &h(),
            &Body::FileRequest {
                size: 1,
                rate_bps: 0,
                segment: 64,
                flags: FLAG_FRAGMENT,
                token: 1,
                time_ns: 0,
            },
        );
        assert!(matches!(
            decode(&req),
            Ok((_, Body::FileRequest { flags, .. })) if flags & FLAG_NO_GSO == 0
        ));
    }

    #[test]
    fn the_samples_hold_every_udp_kind() {
        let kinds = bodies().into_iter().map(|b| b.kind());
        crate::proto::kind::assert_covers(Framing::Udp, kinds);
    }

    #[test]
    fn encoded_len_is_the_length_encode_writes() {
        let mut more = bodies();
        more.extend([
            Body::StreamSegment {
                scheduled_ns: 1,
                size: 3,
            },
            Body::StreamSegment {
                scheduled_ns: 1,
                size: u32::MAX,
            },
            Body::error(ErrorCode::Unknown(999), ""),
        ]);
        for b in more {
            let bytes = to_vec(&h(), &b);
            assert_eq!(encoded_len(&b), bytes.len(), "{}", b.name());
            assert_eq!(b.encoded_len(), bytes.len() - DGRAM_HEADER, "{}", b.name());
        }
    }

    #[test]
    fn a_byte_that_names_no_udp_kind_is_an_unknown_kind_with_its_byte() {
        for k in 0..=255u8 {
            let mut d = to_vec(&h(), &Body::Hello);
            d[KIND_AT] = k;
            d.extend_from_slice(&[0; 200]);
            match Kind::from_code(Framing::Udp, k) {
                Kind::Unknown(b) => assert_eq!(decode(&d), Err(DgramError::UnknownKind(b))),
                kind => assert_eq!(decode(&d).map(|x| x.1.kind()), Ok(kind)),
            }
        }
    }

    fn figures() -> Results {
        Results {
            bytes: Some(3600),
            datagrams: Some(100),
            lost: Some(2),
            ce: Some(1),
            flags: Results::TOS_APPLIED,
            congestion: "cubic".to_string(),
            ..Results::default()
        }
    }

    fn file_request(flags: u8, time_ns: u64) -> Body {
        Body::FileRequest {
            size: 10,
            rate_bps: 0,
            segment: 1472,
            flags,
            token: 9,
            time_ns,
        }
    }

    #[test]
    fn an_untimed_request_is_the_body_it_always_was_and_a_timed_one_adds_its_time() {
        let old = to_vec(&h(), &file_request(FLAG_FRAGMENT, 0));
        assert_eq!(old.len(), DGRAM_HEADER + 8 + 8 + 4 + 1 + 8);
        let flags = FLAG_UPLOAD | FLAG_RESULTS | FLAG_ECN;
        assert_eq!(flags, 0b1_1100);
        let timed = to_vec(&h(), &file_request(flags, 7_000_000_000));
        assert_eq!(timed[..old.len() - 9], old[..old.len() - 9]);
        assert_eq!(timed[old.len() - 9], flags);
        assert_eq!(timed[old.len()..], 7_000_000_000u64.to_be_bytes());
        assert_eq!(
            decode(&timed).map(|x| x.1),
            Ok(file_request(flags, 7_000_000_000))
        );
        // A time cut short is malformed, never misread; bytes after it are
        // ignored as after any UDP body.
        for cut in old.len() + 1..timed.len() {
            assert!(
                matches!(decode(&timed[..cut]), Err(DgramError::Malformed { .. })),
                "{cut}"
            );
        }
        let mut longer = timed.clone();
        longer.extend_from_slice(&[1, 2, 3]);
        assert_eq!(
            decode(&longer).map(|x| x.1),
            Ok(file_request(flags, 7_000_000_000))
        );
    }

    #[test]
    fn results_cut_short_are_malformed() {
        let full = to_vec(&h(), &Body::Results(Box::new(figures())));
        for cut in [DGRAM_HEADER, DGRAM_HEADER + 8, DGRAM_HEADER + 127] {
            assert_eq!(
                decode(&full[..cut]),
                Err(DgramError::Malformed {
                    kind: "Results",
                    reason: "shorter than the sixteen figures"
                })
            );
        }
        let fixed = DGRAM_HEADER + crate::proto::results::RESULTS_FIXED_LEN;
        let mut unnamed = Results {
            congestion: String::new(),
            ..figures()
        };
        assert_eq!(
            decode(&full[..fixed]).map(|x| x.1),
            Ok(Body::Results(Box::new(unnamed.clone())))
        );
        unnamed.congestion = "cubic".to_string();
        assert_eq!(
            decode(&full).map(|x| x.1),
            Ok(Body::Results(Box::new(unnamed)))
        );
    }

    #[test]
    fn a_body_laid_out_alike_in_both_framings_is_the_same_bytes() {
        use crate::proto::{HEADER_LEN, Message, codec};
        let pairs = [
            (
                Body::StreamStart {
                    interval_ns: 5,
                    count: 6,
                    size: 64,
                    t0_ns: 7,
                },
                Message::StreamStart {
                    interval_ns: 5,
                    count: 6,
                    size: 64,
                    t0_ns: 7,
                },
            ),
            (Body::StreamEnd { sent: 9 }, Message::StreamEnd { sent: 9 }),
            (
                Body::Results(Box::new(figures())),
                Message::Results(Box::new(figures())),
            ),
            (
                Body::error(ErrorCode::Busy, "busy"),
                Message::error(ErrorCode::Busy, "busy"),
            ),
        ];
        for (body, msg) in pairs {
            let udp = to_vec(&h(), &body);
            let tcp = codec::to_vec(&msg).unwrap();
            assert_eq!(udp[DGRAM_HEADER..], tcp[HEADER_LEN..], "{}", body.name());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2048),
            ..ProptestConfig::default()
        })]

        #[test]
        fn every_body_decodes_to_what_was_encoded_and_measures_its_bytes(
            data in proptest::collection::vec(any::<u8>(), 0..1500),
            size in 0u32..70_000,
            n in any::<u64>(),
        ) {
            let bodies = [
                Body::EchoRequest { data: data.clone() },
                Body::FileData { data },
                Body::StreamSegment { scheduled_ns: n, size },
                Body::Cookie { token: n },
                Body::FileRequest { size: n, rate_bps: n / 3, segment: size, flags: n as u8, token: n, time_ns: n.rotate_left(9) },
                Body::Results(Box::new(Results {
                    bytes: Some(n),
                    datagrams: (n % 2 == 0).then_some(n),
                    ect1: Some(size.into()),
                    flags: n,
                    ..Results::default()
                })),
            ];
            for b in bodies {
                let bytes = to_vec(&h(), &b);
                prop_assert_eq!(bytes.len(), encoded_len(&b));
                let (_, back) = decode(&bytes).unwrap();
                match b {
                    Body::StreamSegment { .. } => prop_assert_eq!(back.encoded_len(), b.encoded_len()),
                    _ => prop_assert_eq!(back, b),
                }
            }
        }

        #[test]
        fn decode_never_panics_after_a_valid_header(kind in 0x20u8..0x34, tail in proptest::collection::vec(any::<u8>(), 0..60)) {
            let mut b = Vec::new();
            begin(&mut b, kind, &h());
            b.extend_from_slice(&tail);
            let _ = decode(&b);
        }
    }
}
