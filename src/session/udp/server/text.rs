//! Answers to a text peer over UDP (`nc -u`): each datagram is one line,
//! echoed, or a whole number asking for that many bytes of the file.
//!
//! An address that has shown no cookie gets at most 3× what it sent (RFC
//! 9000 §8.1). A file that does not fit is refused; and a refusal is always
//! a whole sentence ending in a newline: the longest of a few, from the
//! full one down to two words, that fits the room left; none when not even
//! those fit. A refusal is never cut.

use crate::content;
use crate::proto::datagram::MAX_UDP_PAYLOAD_V4;
use crate::proto::text::{self, TextReply};
use crate::proto::{ErrorCode, Limits, Refusal};

/// What to send a text peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextAnswer {
    /// The bytes, within the room given (possibly none).
    pub bytes: Vec<u8>,
    /// Whether it refuses the request.
    pub refused: bool,
}

/// The answer to text datagram `d` when `room` bytes may be sent back.
pub fn answer(d: &[u8], limits: &Limits, room: u64) -> TextAnswer {
    let line = d.strip_suffix(b"\n").unwrap_or(d);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match text::interpret(line, limits) {
        // An echo is as long as what came in: within 3x unless the room
        // was spent already; then only what fits goes back.
        TextReply::Echo(_) => {
            let n = (d.len() as u64).min(room) as usize;
            TextAnswer {
                bytes: d[..n].to_vec(),
                refused: false,
            }
        }
        TextReply::File(n) if n <= room && n as usize <= MAX_UDP_PAYLOAD_V4 => {
            let mut v = vec![0u8; n as usize];
            content::fill(0, &mut v);
            TextAnswer {
                bytes: v,
                refused: false,
            }
        }
        TextReply::File(n) => refuse(&over_budget(n), room),
        TextReply::Refuse(r) => refuse(&sentences(&r), room),
    }
}

/// The longest of `ladder` that fits `room`, or nothing.
fn refuse(ladder: &[String], room: u64) -> TextAnswer {
    let bytes = ladder
        .iter()
        .find(|s| s.len() as u64 <= room)
        .map(|s| s.clone().into_bytes())
        .unwrap_or_default();
    TextAnswer {
        bytes,
        refused: true,
    }
}

/// A file over the room: from the full sentence down to two words.
fn over_budget(n: u64) -> Vec<String> {
    vec![
        format!(
            "error: {n} bytes is over 3x what you sent; files over UDP need `ardei-lab client --udp`\n"
        ),
        format!("error: {n} bytes is over 3x what you sent\n"),
        "error: over 3x what you sent\n".to_string(),
        "error: too large\n".to_string(),
        "too large\n".to_string(),
        "too big\n".to_string(),
    ]
}

/// A refusal, from its full sentence down to two words.
fn sentences(r: &Refusal) -> Vec<String> {
    let full = String::from_utf8_lossy(&text::refusal_line(r)).into_owned();
    let short = match r.code {
        ErrorCode::FileTooLarge => "file too large",
        ErrorCode::EchoTooLong => "line too long",
        _ => "refused",
    };
    vec![
        full,
        format!("error: {short}\n"),
        format!("{short}\n"),
        "refused\n".to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    #[test]
    fn echoes_and_small_files_are_served() {
        let a = answer(b"hello\n", &limits(), 18);
        assert_eq!((a.bytes, a.refused), (b"hello\n".to_vec(), false));
        let a = answer(b"5\n", &limits(), 6);
        assert_eq!(a.bytes.len(), 5);
        assert!(!a.refused);
        let a = answer(b"0\n", &limits(), 6);
        assert!(a.bytes.is_empty() && !a.refused);
    }

    #[test]
    fn a_refusal_is_a_whole_sentence_within_the_room_never_a_cut_one() {
        // `50` from nc: 3 bytes in, 9 may go back.
        let a = answer(b"50\n", &limits(), 9);
        assert_eq!(a.bytes, b"too big\n");
        assert!(a.refused);
        // `100000`: 7 bytes in, 21 back.
        let a = answer(b"100000\n", &limits(), 21);
        assert_eq!(a.bytes, b"error: too large\n");
        // More room, longer sentences; the full one when it fits.
        let a = answer(b"100000\n", &limits(), 34);
        assert_eq!(a.bytes, b"error: over 3x what you sent\n");
        let a = answer(b"100000\n", &limits(), 1000);
        assert!(a.bytes.starts_with(b"error: 100000 bytes is over 3x"));
        assert!(a.bytes.ends_with(b"--udp`\n"));
        // No room for two words: nothing at all.
        let a = answer(b"50", &limits(), 6);
        assert!(a.bytes.is_empty() && a.refused);
        // Every answer, at every room, is one of the whole sentences.
        for room in 0..200 {
            for d in [
                &b"50\n"[..],
                b"100000\n",
                b"-5\n",
                b"99999999999999999999999\n",
            ] {
                let a = answer(d, &limits(), room);
                assert!(a.bytes.len() as u64 <= room, "{d:?} {room}");
                if !a.refused {
                    assert_eq!((d, a.bytes.len()), (&b"50\n"[..], 50), "served");
                    continue;
                }
                assert!(
                    a.bytes.is_empty() || a.bytes.ends_with(b"\n"),
                    "{d:?} {room}"
                );
                let text = String::from_utf8(a.bytes).unwrap();
                let ladder = match text::interpret(d.trim_ascii(), &limits()) {
                    TextReply::File(n) => over_budget(n),
                    TextReply::Refuse(r) => sentences(&r),
                    TextReply::Echo(_) => unreachable!(),
                };
                assert!(text.is_empty() || ladder.contains(&text), "{text:?}");
            }
        }
    }

    #[test]
    fn other_refusals_shorten_by_their_code() {
        let a = answer(b"-5\n", &limits(), 1000);
        assert_eq!(a.bytes, b"error: a file size cannot be negative\n");
        let a = answer(b"-5\n", &limits(), 25);
        assert_eq!(a.bytes, b"error: file too large\n");
        let a = answer(b"99999999999999999999999\n", &limits(), 16);
        assert_eq!(a.bytes, b"file too large\n");
    }
}
