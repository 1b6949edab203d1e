//! Messages out of a byte stream that arrives in pieces of any size.

use crate::proto::{DecodeError, HEADER_LEN, Message, decode};

/// The bytes of a message not yet whole. Whole messages in a piece are
/// decoded where they lie; only a message cut by a piece's end is copied,
/// and only its own bytes, never what follows it.
#[derive(Debug, Default)]
pub struct Inbox {
    buf: Vec<u8>,
}

impl Inbox {
    /// An empty inbox.
    pub fn new() -> Inbox {
        Inbox::default()
    }

    /// Whether part of a message is held.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Takes the next message from what is held and then `bytes`: how many
    /// bytes of `bytes` it used, and the message, `Ok(None)` ("not enough
    /// bytes yet", all of `bytes` used) or the decoding error (a skippable
    /// message is used up whole).
    pub fn take(&mut self, bytes: &[u8]) -> (usize, Result<Option<Message>, DecodeError>) {
        if self.buf.is_empty() {
            return match decode(bytes) {
                Ok(Some((m, n))) => (n, Ok(Some(m))),
                Ok(None) => {
                    self.buf.extend_from_slice(bytes);
                    (bytes.len(), Ok(None))
                }
                Err(e) => (e.skip().unwrap_or(bytes.len()), Err(e)),
            };
        }
        let mut used = 0;
        loop {
            match decode(&self.buf) {
                Ok(Some((m, _))) => {
                    self.buf.clear();
                    return (used, Ok(Some(m)));
                }
                Err(e) => {
                    self.buf.clear();
                    return (used, Err(e));
                }
                Ok(None) => {}
            }
            if used == bytes.len() {
                return (used, Ok(None));
            }
            let need = if self.buf.len() < HEADER_LEN {
                HEADER_LEN
            } else {
                let l = [self.buf[4], self.buf[5], self.buf[6], self.buf[7]];
                HEADER_LEN + u32::from_be_bytes(l) as usize
            };
            let take = need
                .saturating_sub(self.buf.len())
                .max(1)
                .min(bytes.len() - used);
            self.buf.extend_from_slice(&bytes[used..used + take]);
            used += take;
        }
    }

    /// Drops what is held.
    pub fn clear(&mut self) {
        self.buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::codec;

    #[test]
    fn a_message_cut_anywhere_comes_out_whole_and_alone() {
        let a = Message::EchoReply {
            seq: 3,
            data: b"hello".to_vec(),
        };
        let b = Message::StreamEnd { sent: 9 };
        let mut bytes = codec::to_vec(&a).unwrap();
        bytes.extend(codec::to_vec(&b).unwrap());
        for cut in 0..bytes.len() {
            let mut inbox = Inbox::new();
            let mut got = Vec::new();
            for piece in [&bytes[..cut], &bytes[cut..]] {
                let mut at = 0;
                while at < piece.len() {
                    let (n, m) = inbox.take(&piece[at..]);
                    at += n;
                    if let Some(m) = m.unwrap() {
                        got.push(m);
                    }
                }
            }
            assert_eq!(got, vec![a.clone(), b.clone()], "cut at {cut}");
        }
    }

    #[test]
    fn a_wrong_magic_is_an_error_at_the_first_byte() {
        let (_, r) = Inbox::new().take(b"hello");
        assert!(matches!(r, Err(DecodeError::BadMagic(_))));
    }
}
