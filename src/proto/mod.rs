//! The lab protocol between `ardei-lab client` and `ardei-lab server`: pure
//! code, no sockets.
//!
//! Every message says how long it is. Over TCP a message is an 8-byte header
//! and a body:
//!
//! ```text
//!  0        1        2        3        4        5        6        7
//! +--------+--------+--------+--------+--------+--------+--------+--------+
//! |  0xAD  |  0xE1  |version |  kind  |        body length (u32, BE)      |
//! +--------+--------+--------+--------+--------+--------+--------+--------+
//! |  body: `body length` bytes, laid out per kind (integers big-endian)   …
//! +--------+--------+--------+--------+--------+--------+--------+--------+
//! ```
//!
//! The magic `AD E1` can never start a line of text (0xAD is not a valid first
//! byte in UTF-8), so the server tells a lab client from a plain-text peer
//! such as `nc` by the first byte ([`text`]). The body length is at most
//! [`MAX_BODY`]: the decoder never allocates more than that, whatever it is
//! fed.
//!
//! | kind | name            | body                                                            |
//! |------|-----------------|-----------------------------------------------------------------|
//! | 0x01 | EchoRequest     | seq u32, data                                                   |
//! | 0x02 | EchoReply       | seq u32, data (as received)                                     |
//! | 0x03 | FileRequest     | size u64 [, rate_bps u64 — only when paced: 0 or absent = full speed] |
//! | 0x04 | FileReady       | size u64 — then exactly `size` raw, unframed bytes follow       |
//! | 0x05 | StreamRequest   | interval_ns u64, count u32, size u32                            |
//! | 0x06 | StreamStart     | interval_ns u64, count u32, size u32, t0_ns u64                 |
//! | 0x07 | StreamSegment   | seq u32, scheduled_ns u64, sent_ns u64, filler to `size` bytes  |
//! | 0x08 | StreamEnd       | sent u32                                                        |
//! | 0x09 | Error           | code u16, a UTF-8 sentence                                      |
//! | 0x0A | FileSent        | written_ns u64, acked_ns u64 — after the file's last byte       |
//! | 0x0B | FileData        | the next bytes of a timed file, 1..=MAX_BODY of them            |
//! | 0x0C | FileEnd         | bytes u64 — what the sender of a timed file sent in all         |
//! | 0x0D | TransferRequest | direction u8, flags u8, tos u8, reserved u8 (0), size u64, rate_bps u64, time_ns u64, congestion (rest, UTF-8) |
//! | 0x0E | Results         | sixteen u64 figures, congestion (rest, UTF-8) — [`results`]     |
//! | 0x0F | StampedEchoRequest | seq u32, data: an echo that asks for the server's stamps     |
//! | 0x10 | StampedEchoReply | seq u32, the server's stamps (40 bytes, [`stamps`]), data      |
//! | 0x11 | StampedStreamRequest | interval_ns u64, count u32, size u32: a stream whose TX stamps follow |
//! | 0x12 | StreamStamp     | seq u32, tx_ns u64: the server's kernel TX stamp of segment `seq` |
//!
//! FileSent answers the question the kernel's buffers hide from a sender:
//! `written_ns` is when the last write returned (the kernel had taken the
//! data, not sent it), `acked_ns` when the peer had acknowledged the last
//! byte (`TCP_INFO`: nothing unacknowledged, nothing unsent), both counted
//! from FileReady.
//!
//! A TransferRequest ([`transfer`]) asks for a file either way: download
//! (direction 0) or upload (1), sized (`time_ns` 0: FileReady, then exactly
//! `size` raw bytes either way), or timed (FileReady, then FileData chunks
//! and a FileEnd), and always ends with FileSent and the server's Results.
//! Flag bit 0 asks for ECN, bit 1 for `tos` on the server's socket; a
//! non-empty `congestion` for `TCP_CONGESTION`, refused with the error code
//! `unavailable` (13) when the server cannot set it. The older FileRequest
//! stays valid and is answered as before.
//!
//! Timestamps are nanoseconds since the Unix epoch on the sender's clock
//! (`CLOCK_REALTIME`). A stream segment's `size` counts the whole message,
//! header included, so `--size 64` puts 64 bytes on the stream per segment.
//!
//! [`kind`] names the messages of both framings and gives each its byte per
//! framing; `body` is the one codec of the bodies' fields, which both
//! framings wrap; [`codec`] turns bytes into [`Message`]s and back over TCP;
//! [`datagram`] is the same protocol over UDP, one message per datagram;
//! [`results`] and [`transfer`] hold the typed fields of the newer bodies,
//! [`timed`] the byte layout of a timed file's messages;
//! [`cookie`] holds the address validation and the amplification budget of
//! UDP; [`limits`] holds the server's refusals; [`text`] serves peers that
//! speak plain lines. A message's length is [`Message::encoded_len`] (and
//! [`datagram::encoded_len`]), measured by the code that writes it.

mod body;
pub mod codec;
pub mod cookie;
pub mod datagram;
pub mod kind;
pub mod limits;
pub mod message;
pub mod results;
pub mod stamps;
pub mod text;
pub mod timed;
pub mod transfer;

pub use codec::{DecodeError, Header, decode, encode};
pub use kind::{Framing, Kind};
pub use limits::{Limits, Refusal};
pub use message::{ErrorCode, Message};
pub use results::Results;
pub use transfer::{TransferDirection, TransferFlags};

/// First two bytes of every framed message.
pub const MAGIC: [u8; 2] = [0xAD, 0xE1];
/// The protocol version this build speaks.
pub const VERSION: u8 = 1;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 8;
/// Largest body a message may carry; the decoder refuses longer ones.
pub const MAX_BODY: usize = 65_536;

/// Length of a StreamSegment with no filler: header plus seq and two timestamps.
pub const SEGMENT_MIN: usize = HEADER_LEN + 4 + 8 + 8;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2048),
            ..ProptestConfig::default()
        })]

        /// Whatever arrives, neither framing's decoder panics.
        #[test]
        fn decode_never_panics_in_either_framing(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = super::codec::decode(&bytes);
            let _ = super::datagram::decode(&bytes);
        }
    }
}
