//! Bytes to messages and back: `decode` checks and parses a buffer, `encode`
//! appends a message to one.
//!
//! Decoding follows "check, then parse": a buffer that does not yet hold a
//! whole message is `Ok(None)`, a normal outcome. Errors say whether the
//! stream can go on: a message of an unknown kind or a malformed body has a
//! known length and can be skipped ([`DecodeError::skip`]); a wrong magic, a
//! wrong version or an oversized length cannot.

use super::body::{Counter, Reader, Writer};
use super::message::{ErrorCode, Kind, Message};
use super::{HEADER_LEN, MAGIC, MAX_BODY, SEGMENT_MIN, VERSION};

/// The fixed header of a framed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Protocol version.
    pub version: u8,
    /// Message kind.
    pub kind: Kind,
    /// Length of the body that follows.
    pub body_len: u32,
}

impl Header {
    /// Parses a header, checking magic, version and length.
    pub fn parse(b: &[u8; HEADER_LEN]) -> Result<Header, DecodeError> {
        if b[..2] != MAGIC {
            return Err(DecodeError::BadMagic([b[0], b[1]]));
        }
        if b[2] != VERSION {
            return Err(DecodeError::BadVersion(b[2]));
        }
        let body_len = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        if body_len as usize > MAX_BODY {
            return Err(DecodeError::TooLong(body_len));
        }
        Ok(Header {
            version: b[2],
            kind: Kind::from_byte(b[3]),
            body_len,
        })
    }

    /// Writes the header for `kind` and `body_len`.
    pub fn emit(kind: Kind, body_len: u32) -> [u8; HEADER_LEN] {
        let l = body_len.to_be_bytes();
        [
            MAGIC[0],
            MAGIC[1],
            VERSION,
            kind.to_byte(),
            l[0],
            l[1],
            l[2],
            l[3],
        ]
    }
}

/// Why bytes are not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes do not start with the magic `AD E1`: not our protocol.
    #[error("not the lab protocol (first bytes {:02x} {:02x}, expected ad e1)", .0[0], .0[1])]
    BadMagic([u8; 2]),
    /// A version this build does not speak.
    #[error("protocol version {0} is not spoken here (this is version {VERSION})")]
    BadVersion(u8),
    /// A body length above [`MAX_BODY`].
    #[error("message body of {0} bytes exceeds the maximum of {MAX_BODY}")]
    TooLong(u32),
    /// A kind this build does not know; its `consumed` bytes can be skipped.
    #[error("unknown message kind {kind:#04x}")]
    UnknownKind {
        /// The kind byte.
        kind: u8,
        /// Bytes the whole message took.
        consumed: usize,
    },
    /// A body that does not match its kind; its `consumed` bytes can be skipped.
    #[error("malformed {kind:?} message: {reason}")]
    Malformed {
        /// The kind the header named.
        kind: Kind,
        /// What was wrong.
        reason: &'static str,
        /// Bytes the whole message took.
        consumed: usize,
    },
}

impl DecodeError {
    /// Bytes to skip to go on after this error, or `None` when the stream
    /// cannot be trusted any more.
    pub fn skip(&self) -> Option<usize> {
        match self {
            DecodeError::UnknownKind { consumed, .. } | DecodeError::Malformed { consumed, .. } => {
                Some(*consumed)
            }
            _ => None,
        }
    }

    /// The protocol error code that answers this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::BadMagic(_) => ErrorCode::BadMagic,
            DecodeError::BadVersion(_) => ErrorCode::BadVersion,
            DecodeError::TooLong(_) => ErrorCode::TooLong,
            DecodeError::UnknownKind { .. } => ErrorCode::UnknownKind,
            DecodeError::Malformed { .. } => ErrorCode::Malformed,
        }
    }
}

/// Why a message could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The body would exceed [`MAX_BODY`].
    #[error(
        "a message of kind {kind:?} with a body of {len} bytes exceeds the maximum of {MAX_BODY}"
    )]
    TooLong {
        /// The message kind.
        kind: Kind,
        /// The body length it would have.
        len: usize,
    },
    /// A stream segment size below the fixed part.
    #[error("a stream segment of {0} bytes is below the minimum of {SEGMENT_MIN}")]
    SegmentTooSmall(u32),
    /// A FileData with no bytes, which a decoder refuses.
    #[error("a FileData message carries at least one byte")]
    EmptyFileData,
}

/// Decodes one message from the front of `buf`.
///
/// Returns the message and the bytes it took, `Ok(None)` when `buf` does not
/// yet hold a whole message, or an error. Never panics and never allocates
/// more than [`MAX_BODY`] bytes, whatever `buf` holds.
pub fn decode(buf: &[u8]) -> Result<Option<(Message, usize)>, DecodeError> {
    // Reject a wrong magic as early as the first byte, so a text peer is
    // recognised without waiting for eight bytes.
    for (i, m) in MAGIC.iter().enumerate() {
        match buf.get(i) {
            Some(b) if b != m => {
                return Err(DecodeError::BadMagic([
                    buf[0],
                    buf.get(1).copied().unwrap_or(0),
                ]));
            }
            Some(_) => {}
            None => return Ok(None),
        }
    }
    let Some(head) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let mut h = [0u8; HEADER_LEN];
    h.copy_from_slice(head);
    let header = Header::parse(&h)?;
    let total = HEADER_LEN + header.body_len as usize;
    let Some(body) = buf.get(HEADER_LEN..total) else {
        return Ok(None);
    };
    parse_body(header.kind, body, total).map(|m| Some((m, total)))
}

fn parse_body(kind: Kind, body: &[u8], consumed: usize) -> Result<Message, DecodeError> {
    match Message::read_body(kind, &mut Reader::new(body, consumed)) {
        Some(Ok(msg)) => Ok(msg),
        Some(Err(reason)) => Err(DecodeError::Malformed {
            kind,
            reason,
            consumed,
        }),
        None => Err(DecodeError::UnknownKind {
            kind: kind.to_byte(),
            consumed,
        }),
    }
}

/// The most a message may grow to while it is written: one byte over the
/// limit, so that an oversized stream segment is refused, not cut.
const CAP: usize = HEADER_LEN + MAX_BODY + 1;

/// Appends `msg`, framed, to `out`.
///
/// A stream segment's filler is pattern bytes, so its `size` bytes are all
/// written here.
pub fn encode(msg: &Message, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if let Message::StreamSegment { size, .. } = msg
        && (*size as usize) < SEGMENT_MIN
    {
        return Err(EncodeError::SegmentTooSmall(*size));
    }
    if let Message::FileData { data } = msg
        && data.is_empty()
    {
        return Err(EncodeError::EmptyFileData);
    }
    let kind = msg.kind();
    let start = out.len();
    out.extend_from_slice(&Header::emit(kind, 0));
    msg.put_body(&mut Writer::new(out, start, CAP));
    let body_len = out.len() - start - HEADER_LEN;
    if body_len > MAX_BODY {
        out.truncate(start);
        return Err(EncodeError::TooLong {
            kind,
            len: body_len,
        });
    }
    out[start + 4..start + 8].copy_from_slice(&(body_len as u32).to_be_bytes());
    Ok(())
}

impl Message {
    /// The bytes [`encode`] writes for this message, header included, when
    /// it encodes it; measured by the code that writes them, without
    /// writing.
    pub fn encoded_len(&self) -> usize {
        let mut c = Counter::new(HEADER_LEN, CAP);
        self.put_body(&mut c);
        c.len()
    }
}

/// The header of a FileData message of `n` bytes, for a sender that writes
/// the header and the file's bytes straight into its buffer; `n` is 1 to
/// [`MAX_BODY`] (a receiver refuses anything else).
pub fn file_data_header(n: usize) -> [u8; HEADER_LEN] {
    debug_assert!((1..=MAX_BODY).contains(&n), "FileData of {n} bytes");
    Header::emit(Kind::FileData, n as u32)
}

/// Encodes `msg` into a new buffer.
pub fn to_vec(msg: &Message) -> Result<Vec<u8>, EncodeError> {
    let mut v = Vec::new();
    encode(msg, &mut v)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Results, TransferDirection, TransferFlags};
    use proptest::prelude::*;

    fn samples() -> Vec<Message> {
        vec![
            Message::EchoRequest {
                seq: 7,
                data: b"hello".to_vec(),
            },
            Message::EchoReply {
                seq: 7,
                data: vec![],
            },
            Message::StampedEchoRequest {
                seq: 8,
                data: b"hi".to_vec(),
            },
            Message::StampedEchoReply {
                seq: 8,
                stamps: crate::proto::stamps::ServerStamps {
                    rx_ns: 1,
                    read_ns: 2,
                    reply_ns: 3,
                    prev_seq: 7,
                    kind: crate::proto::stamps::StampsKind::Software,
                    prev_tx_ns: None,
                },
                data: b"hi".to_vec(),
            },
            Message::FileRequest {
                size: 123456789,
                rate_bps: 0,
            },
            Message::FileReady { size: 0 },
            Message::StreamRequest {
                interval_ns: 5_000_000,
                count: 100,
                size: 64,
            },
            Message::StreamStart {
                interval_ns: 5_000_000,
                count: 100,
                size: 64,
                t0_ns: 1_700_000_000_000_000_000,
            },
            Message::StreamSegment {
                seq: 42,
                scheduled_ns: 1,
                sent_ns: 2,
                size: 64,
            },
            Message::StreamEnd { sent: 100 },
            Message::StampedStreamRequest {
                interval_ns: 1_000_000,
                count: 10,
                size: 64,
            },
            Message::StreamStamp {
                seq: 9,
                tx_ns: 1_700_000_000_000_000_001,
            },
            Message::error(ErrorCode::FileTooLarge, "too big"),
            Message::FileSent {
                written_ns: 5,
                acked_ns: 7,
            },
            Message::FileData {
                data: b"0123456789".to_vec(),
            },
            Message::FileEnd { bytes: 1 << 40 },
            transfer_request(),
            Message::TransferRequest {
                direction: TransferDirection::Download,
                flags: TransferFlags::NONE,
                tos: 0,
                size: 0,
                rate_bps: 0,
                time_ns: 0,
                congestion: String::new(),
            },
            Message::Results(Box::new(results())),
            Message::Results(Box::default()),
        ]
    }

    fn transfer_request() -> Message {
        Message::TransferRequest {
            direction: TransferDirection::Upload,
            flags: TransferFlags::ECN | TransferFlags::TOS,
            tos: 0xB8,
            size: 1_000_000,
            rate_bps: 100_000_000,
            time_ns: 5_000_000_000,
            congestion: "bbr".to_string(),
        }
    }

    fn results() -> Results {
        Results {
            bytes: Some(1_000_000),
            active_ns: Some(2_000_000),
            cpu_user_ns: Some(3),
            cpu_sys_ns: Some(4),
            retrans: Some(0),
            cwnd: Some(10),
            rtt_us: Some(50),
            flags: Results::ECN_NEGOTIATED,
            congestion: "cubic".to_string(),
            ..Results::default()
        }
    }

    #[test]
    fn round_trip_every_kind() {
        for m in samples() {
            let bytes = to_vec(&m).unwrap();
            let (back, used) = decode(&bytes).unwrap().unwrap();
            assert_eq!(back, m);
            assert_eq!(used, bytes.len());
        }
    }

    #[test]
    fn a_paced_file_request_carries_its_rate_and_an_unpaced_one_does_not() {
        let plain = to_vec(&Message::FileRequest {
            size: 1000,
            rate_bps: 0,
        })
        .unwrap();
        assert_eq!(plain.len(), HEADER_LEN + 8);
        let paced = Message::FileRequest {
            size: 1000,
            rate_bps: 100_000_000,
        };
        let bytes = to_vec(&paced).unwrap();
        assert_eq!(bytes.len(), HEADER_LEN + 16);
        assert_eq!(decode(&bytes).unwrap(), Some((paced, bytes.len())));
        // Neither 8 nor 16 bytes: malformed.
        let mut odd = bytes.clone();
        odd.push(0);
        odd[7] = 17;
        assert!(matches!(decode(&odd), Err(DecodeError::Malformed { .. })));
    }

    #[test]
    fn byte_layout_matches_the_diagram() {
        let bytes = to_vec(&Message::FileRequest {
            size: 1000,
            rate_bps: 0,
        })
        .unwrap();
        assert_eq!(
            bytes,
            [
                0xAD, 0xE1, 1, 0x03, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0x03, 0xE8
            ]
        );
    }

    #[test]
    fn partial_input_is_not_an_error() {
        let bytes = to_vec(&Message::FileRequest {
            size: 1000,
            rate_bps: 0,
        })
        .unwrap();
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn text_is_recognised_at_the_first_byte() {
        assert!(matches!(decode(b"h"), Err(DecodeError::BadMagic(_))));
        assert!(matches!(decode(b"\xAD\x00"), Err(DecodeError::BadMagic(_))));
    }

    #[test]
    fn fatal_and_skippable_errors() {
        let mut v = to_vec(&Message::StreamEnd { sent: 1 }).unwrap();
        v[2] = 9;
        assert_eq!(decode(&v), Err(DecodeError::BadVersion(9)));
        let huge = [0xAD, 0xE1, 1, 1, 0xFF, 0xFF, 0xFF, 0xFF];
        assert_eq!(decode(&huge), Err(DecodeError::TooLong(u32::MAX)));
        assert_eq!(decode(&huge).unwrap_err().skip(), None);
        let unknown = [0xAD, 0xE1, 1, 0x7F, 0, 0, 0, 2, 1, 2];
        let e = decode(&unknown).unwrap_err();
        assert_eq!(e.skip(), Some(10));
        let short = [0xAD, 0xE1, 1, 0x03, 0, 0, 0, 2, 1, 2];
        assert_eq!(decode(&short).unwrap_err().skip(), Some(10));
        let bad_utf8 = [0xAD, 0xE1, 1, 0x09, 0, 0, 0, 3, 0, 1, 0xFF];
        assert!(matches!(
            decode(&bad_utf8),
            Err(DecodeError::Malformed { .. })
        ));
    }

    #[test]
    fn encode_refuses_oversized_bodies() {
        let m = Message::EchoRequest {
            seq: 0,
            data: vec![0; MAX_BODY],
        };
        assert!(matches!(to_vec(&m), Err(EncodeError::TooLong { .. })));
        let s = Message::StreamSegment {
            seq: 0,
            scheduled_ns: 0,
            sent_ns: 0,
            size: 3,
        };
        assert_eq!(to_vec(&s), Err(EncodeError::SegmentTooSmall(3)));
    }

    #[test]
    fn the_samples_hold_every_tcp_kind() {
        let kinds = samples().into_iter().map(|m| m.kind());
        crate::proto::kind::assert_covers(crate::proto::Framing::Tcp, kinds);
    }

    #[test]
    fn encoded_len_is_the_length_encode_writes() {
        let mut more = samples();
        more.extend([
            Message::FileRequest {
                size: 1,
                rate_bps: 8,
            },
            Message::StreamSegment {
                seq: 1,
                scheduled_ns: 2,
                sent_ns: 3,
                size: SEGMENT_MIN as u32,
            },
            Message::StreamSegment {
                seq: 1,
                scheduled_ns: 2,
                sent_ns: 3,
                size: (HEADER_LEN + MAX_BODY) as u32,
            },
            Message::error(ErrorCode::Unknown(999), ""),
        ]);
        for m in more {
            let bytes = to_vec(&m).unwrap();
            assert_eq!(m.encoded_len(), bytes.len(), "{m:?}");
        }
    }

    #[test]
    fn a_byte_that_names_no_tcp_kind_is_skipped_with_its_byte() {
        for k in 0..=255u8 {
            let mut bytes = Header::emit(Kind::from_byte(k), 40).to_vec();
            bytes.extend_from_slice(&[0; 40]);
            let got = decode(&bytes);
            match Kind::from_byte(k) {
                Kind::Unknown(b) => assert_eq!(
                    got,
                    Err(DecodeError::UnknownKind {
                        kind: b,
                        consumed: 48
                    })
                ),
                kind => assert!(
                    !matches!(got, Err(DecodeError::UnknownKind { .. })),
                    "{kind:?}"
                ),
            }
        }
    }

    #[test]
    fn a_transfer_request_is_laid_out_as_documented() {
        let bytes = to_vec(&transfer_request()).unwrap();
        let mut want = vec![0xAD, 0xE1, 1, 0x0D, 0, 0, 0, 31, 1, 3, 0xB8, 0];
        want.extend_from_slice(&1_000_000u64.to_be_bytes());
        want.extend_from_slice(&100_000_000u64.to_be_bytes());
        want.extend_from_slice(&5_000_000_000u64.to_be_bytes());
        want.extend_from_slice(b"bbr");
        assert_eq!(bytes, want);
        // The reserved byte is written 0 and ignored when read.
        let mut other = bytes.clone();
        other[11] = 0x55;
        assert_eq!(decode(&other).unwrap().unwrap().0, transfer_request());
    }

    #[test]
    fn new_bodies_cut_short_or_overlong_are_refused_with_their_reason() {
        let reason = |bytes: &[u8]| match decode(bytes) {
            Err(DecodeError::Malformed { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        // A header that claims `len` bytes of the body of `msg`.
        let cut = |msg: &Message, len: usize| {
            let full = to_vec(msg).unwrap();
            let mut b = Header::emit(msg.kind(), len as u32).to_vec();
            b.extend_from_slice(&full[HEADER_LEN..HEADER_LEN + len]);
            b
        };
        let req = transfer_request();
        for len in 0..28 {
            assert_eq!(
                reason(&cut(&req, len)),
                "shorter than a transfer request's 28 bytes of fields"
            );
        }
        let res = Message::Results(Box::new(results()));
        for len in [0, 8, 127] {
            assert_eq!(
                reason(&cut(&res, len)),
                "shorter than the results' sixteen 8-byte fields"
            );
        }
        let end = Message::FileEnd { bytes: 9 };
        assert_eq!(reason(&cut(&end, 7)), "body is not an 8-byte count");
        let mut long = to_vec(&end).unwrap();
        long.push(0);
        long[7] = 9;
        assert_eq!(reason(&long), "body is not an 8-byte count");
        let mut direction = to_vec(&req).unwrap();
        direction[HEADER_LEN] = 2;
        assert!(reason(&direction).contains("direction"));
        let mut name = to_vec(&req).unwrap();
        *name.last_mut().unwrap() = 0xFF;
        assert!(reason(&name).contains("UTF-8"));
        let empty = Header::emit(Kind::FileData, 0);
        assert_eq!(reason(&empty), "a FileData carries at least one byte");
    }

    #[test]
    fn file_data_is_one_to_max_body_bytes_under_the_header_senders_write() {
        for n in [1, 1448, MAX_BODY] {
            let m = Message::FileData { data: vec![7; n] };
            let bytes = to_vec(&m).unwrap();
            assert_eq!(bytes[..HEADER_LEN], file_data_header(n));
            assert_eq!(decode(&bytes).unwrap(), Some((m, HEADER_LEN + n)));
        }
        let empty = Message::FileData { data: vec![] };
        assert_eq!(to_vec(&empty), Err(EncodeError::EmptyFileData));
        let over = Message::FileData {
            data: vec![0; MAX_BODY + 1],
        };
        assert!(matches!(to_vec(&over), Err(EncodeError::TooLong { .. })));
        let huge = Header::emit(Kind::FileData, MAX_BODY as u32 + 1);
        assert!(matches!(decode(&huge), Err(DecodeError::TooLong(_))));
    }

    #[test]
    fn the_unavailable_code_is_13() {
        assert_eq!(ErrorCode::Unavailable.to_u16(), 13);
        assert_eq!(ErrorCode::from_u16(13), ErrorCode::Unavailable);
        assert_eq!(ErrorCode::Unavailable.name(), "unavailable");
        let m = Message::error(ErrorCode::Unavailable, "no bbr here");
        let bytes = to_vec(&m).unwrap();
        assert_eq!(bytes[HEADER_LEN..HEADER_LEN + 2], [0, 13]);
        assert_eq!(decode(&bytes).unwrap().unwrap().0, m);
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2048),
            ..ProptestConfig::default()
        })]

        #[test]
        fn decode_never_panics_after_a_valid_header(
            kind in any::<u8>(),
            len in 0u32..64,
            body in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let mut bytes = Header::emit(Kind::from_byte(kind), len).to_vec();
            bytes.extend_from_slice(&body);
            if let Ok(Some((_, used))) = decode(&bytes) {
                prop_assert!(used <= bytes.len());
                prop_assert_eq!(used, HEADER_LEN + len as usize);
            }
        }

        #[test]
        fn every_message_decodes_to_what_was_encoded_and_measures_its_bytes(
            data in proptest::collection::vec(any::<u8>(), 0..1500),
            size in 0u32..70_000,
            n in any::<u64>(),
        ) {
            let msgs = [
                Message::StreamSegment { seq: 0, scheduled_ns: n, sent_ns: n, size },
                Message::FileRequest { size: n, rate_bps: n % 3 },
                Message::FileSent { written_ns: n, acked_ns: 0 },
                Message::FileEnd { bytes: n },
                Message::TransferRequest {
                    direction: if n % 2 == 0 { TransferDirection::Download } else { TransferDirection::Upload },
                    flags: TransferFlags(n as u8),
                    tos: (n >> 8) as u8,
                    size: n,
                    rate_bps: n.rotate_left(7),
                    time_ns: n.rotate_left(13),
                    congestion: String::from_utf8_lossy(&data[..data.len().min(16)]).into_owned(),
                },
                Message::Results(Box::new(Results {
                    bytes: Some(n),
                    active_ns: (n % 2 == 0).then_some(n / 2),
                    retrans: Some(u64::MAX - 1),
                    flags: n,
                    congestion: String::from_utf8_lossy(&data[..data.len().min(16)]).into_owned(),
                    ..Results::default()
                })),
                Message::FileData { data: data.clone() },
                Message::EchoReply { seq: n as u32, data },
            ];
            for m in msgs {
                match to_vec(&m) {
                    Ok(bytes) => {
                        prop_assert_eq!(bytes.len(), m.encoded_len());
                        prop_assert_eq!(decode(&bytes).unwrap(), Some((m, bytes.len())));
                    }
                    Err(_) => {
                        let may_fail = match &m {
                            Message::StreamSegment { .. } => true,
                            Message::FileData { data } => data.is_empty(),
                            _ => false,
                        };
                        prop_assert!(may_fail, "{:?}", m);
                    }
                }
            }
        }

        #[test]
        fn echo_round_trips(seq in any::<u32>(), data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let m = Message::EchoRequest { seq, data };
            let bytes = to_vec(&m).unwrap();
            prop_assert_eq!(decode(&bytes).unwrap().unwrap(), (m, bytes.len()));
        }
    }
}
