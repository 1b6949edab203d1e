//! What each fuzz target does with its input, as plain functions: the
//! `fuzz_targets/` call them under libFuzzer, and `replay` calls them on
//! files, so a crash found by one is reproduced by the other.
//!
//! Each function panics only when an invariant of the decoder breaks; the
//! decoders themselves promise never to panic on any input.

use ardei_lab::proto::datagram;
use ardei_lab::proto::text::{self, LineBuffer, TextReply};
use ardei_lab::proto::{self, HEADER_LEN, Limits, MAX_BODY};

/// One target: what it does with an input.
pub type Target = fn(&[u8]);

/// The targets by name, for `replay`.
pub const TARGETS: &[(&str, Target)] = &[
    ("decode_frame", decode_frame),
    ("decode_datagram", decode_datagram),
    ("text_lines", text_lines),
    ("pcap_summary", pcap_summary),
];

/// Decodes framed messages from the front of `data` the way a connection
/// does: a message is consumed, a skippable error is skipped, any other
/// error or a partial message ends it. Every accepted message re-encodes to
/// bytes that decode to the same message.
pub fn decode_frame(data: &[u8]) {
    let mut at = 0;
    while at < data.len() {
        match proto::decode(&data[at..]) {
            Ok(Some((msg, used))) => {
                assert!((HEADER_LEN..=HEADER_LEN + MAX_BODY).contains(&used));
                assert!(at + used <= data.len());
                let again = proto::codec::to_vec(&msg).expect("an accepted message re-encodes");
                let (back, n) = proto::decode(&again)
                    .expect("re-encoded bytes decode")
                    .expect("re-encoded bytes are whole");
                assert_eq!(back, msg);
                assert_eq!(n, used);
                at += used;
            }
            Ok(None) => break,
            Err(e) => match e.skip() {
                Some(n) => {
                    assert!(n >= HEADER_LEN && at + n <= data.len());
                    at += n;
                }
                None => break,
            },
        }
    }
}

/// Decodes one datagram; an accepted one re-encodes to the same header.
pub fn decode_datagram(data: &[u8]) {
    if let Ok((h, body)) = datagram::decode(data) {
        let again = datagram::to_vec(&h, &body);
        let (h2, _) = datagram::decode(&again).expect("re-encoded datagram decodes");
        assert_eq!(h2, h);
    }
}

/// Feeds `data` to a line buffer in chunks (the first byte picks the
/// longest line, the second the chunk size) and answers every line as the
/// server's text mode would.
pub fn text_lines(data: &[u8]) {
    let [max, chunk, rest @ ..] = data else {
        return;
    };
    let max = usize::from(*max) * 4 + 1;
    let chunk = usize::from(*chunk).max(1);
    let limits = Limits {
        max_echo: max,
        max_file: 1 << 20,
        ..Limits::default()
    };
    let mut lines = LineBuffer::new(max);
    for piece in rest.chunks(chunk) {
        lines.push(piece);
        loop {
            match lines.next_line() {
                Ok(Some(line)) => {
                    assert!(line.len() <= max + 1);
                    assert!(!line.contains(&b'\n'));
                    answer(&line, &limits);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    let last = lines.take_rest();
    answer(&last, &limits);
}

fn answer(line: &[u8], limits: &Limits) {
    match text::interpret(line, limits) {
        TextReply::Echo(e) => {
            assert_eq!(&e[..line.len()], line);
            assert_eq!(e.len(), line.len() + 1);
        }
        TextReply::File(n) => assert!(n <= limits.max_file),
        TextReply::Refuse(r) => assert!(!text::refusal_line(&r).is_empty()),
    }
}

/// Summarises `data` as a capture file.
pub fn pcap_summary(data: &[u8]) {
    if let Ok(s) = ardei_lab::pcap::summarize_reader(data) {
        // Every record takes at least 16 bytes of the file.
        assert!(s.frames.saturating_mul(16) <= data.len() as u64);
    }
}
