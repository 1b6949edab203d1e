//! The messages of a timed file as they arrive: FileData bodies handed on
//! where they lie in the received bytes (no copy, whatever the pieces),
//! every other message decoded whole.

use super::Inbox;
use crate::proto::codec::Header;
use crate::proto::{DecodeError, HEADER_LEN, Kind, Message};

/// What the next bytes are.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// File bytes of a FileData message, the next in order.
    Data(&'a [u8]),
    /// A whole message other than FileData (or a FileData whose header
    /// came cut in two, copied whole).
    Message(Message),
    /// Bytes that are no message.
    Bad(DecodeError),
}

/// Reads a timed file's messages out of a byte stream cut anywhere.
#[derive(Debug, Default)]
pub struct ChunkReader {
    /// File bytes still to come of the FileData message being read.
    left: usize,
    inbox: Inbox,
}

impl ChunkReader {
    /// A reader at a message boundary.
    pub fn new() -> ChunkReader {
        ChunkReader::default()
    }

    /// Whether the reader is at a message boundary, nothing held.
    pub fn is_idle(&self) -> bool {
        self.left == 0 && self.inbox.is_empty()
    }

    /// Takes the next piece from the front of `bytes`: how many bytes it
    /// used, and the piece (`None`: a FileData header, or part of a
    /// message, was taken).
    pub fn take<'a>(&mut self, bytes: &'a [u8]) -> (usize, Option<Piece<'a>>) {
        if self.left > 0 {
            let n = self.left.min(bytes.len());
            self.left -= n;
            return (n, Some(Piece::Data(&bytes[..n])));
        }
        if self.inbox.is_empty() {
            if let Some(len) = data_header(bytes) {
                self.left = len;
                return (HEADER_LEN, None);
            }
        }
        let (n, r) = self.inbox.take(bytes);
        let piece = match r {
            Ok(None) => None,
            Ok(Some(m)) => Some(Piece::Message(m)),
            Err(e) => Some(Piece::Bad(e)),
        };
        (n, piece)
    }
}

/// The body length of the FileData header at the front of `bytes`, if
/// one is there whole and valid.
fn data_header(bytes: &[u8]) -> Option<usize> {
    let head: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
    let h = Header::parse(head).ok()?;
    (h.kind == Kind::FileData && h.body_len > 0).then_some(h.body_len as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::codec;

    #[test]
    fn data_comes_out_in_place_and_messages_whole_however_cut() {
        let mut stream = Vec::new();
        for d in [&b"hello"[..], b"world!"] {
            codec::encode(&Message::FileData { data: d.to_vec() }, &mut stream).unwrap();
        }
        codec::encode(&Message::FileEnd { bytes: 11 }, &mut stream).unwrap();
        for cut in 0..stream.len() {
            let mut r = ChunkReader::new();
            let (mut data, mut msgs) = (Vec::new(), Vec::new());
            for piece in [&stream[..cut], &stream[cut..]] {
                let mut at = 0;
                while at < piece.len() {
                    let (n, p) = r.take(&piece[at..]);
                    at += n;
                    match p {
                        Some(Piece::Data(d)) => data.extend_from_slice(d),
                        Some(Piece::Message(Message::FileData { data: d })) => {
                            data.extend_from_slice(&d)
                        }
                        Some(Piece::Message(m)) => msgs.push(m),
                        Some(Piece::Bad(e)) => panic!("{e}"),
                        None => {}
                    }
                }
            }
            assert_eq!(data, b"helloworld!", "cut at {cut}");
            assert_eq!(msgs, vec![Message::FileEnd { bytes: 11 }]);
            assert!(r.is_idle());
        }
    }
}
