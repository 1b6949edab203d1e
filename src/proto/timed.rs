//! The bytes of a timed file over TCP: its framing, then the file as
//! FileData messages of [`DATA_BODY`] bytes each from its first byte (the
//! last, before a cap, may be shorter), then, when it ended, the FileEnd
//! that counts them. A sender cuts its writes anywhere in this stream (a
//! message goes on in the next write); the model capture generates it by
//! offset, so a long send is never held whole.

use super::codec::{self, file_data_header};
use super::{HEADER_LEN, Message};

/// The file bytes one FileData message of a timed file carries: a whole
/// number of the pattern's 100-byte records under 64 KiB, so that every
/// message starts on a record.
pub const DATA_BODY: usize = 655 * 100;

/// A timed file's stream: `head`, `len` file bytes framed, FileEnd if `end`.
#[derive(Debug, Clone, Copy)]
pub struct TimedStream<'a> {
    /// The framing before the first FileData (FileReady, or nothing).
    pub head: &'a [u8],
    /// File bytes.
    pub len: u64,
    /// Whether FileEnd follows.
    pub end: bool,
}

const PIECE: u64 = (HEADER_LEN + DATA_BODY) as u64;

impl TimedStream<'_> {
    /// Bytes in all.
    pub fn total(&self) -> u64 {
        let pieces = self.len.div_ceil(DATA_BODY as u64);
        let end = if self.end { HEADER_LEN as u64 + 8 } else { 0 };
        self.head.len() as u64 + pieces * HEADER_LEN as u64 + self.len + end
    }

    /// Writes the bytes at `offset..offset + out.len()`.
    pub fn fill(&self, offset: u64, out: &mut [u8]) {
        let h = self.head.len() as u64;
        let framed = self.total() - h - if self.end { HEADER_LEN as u64 + 8 } else { 0 };
        let mut pos = 0usize;
        while pos < out.len() {
            let at = offset + pos as u64;
            let rest = &mut out[pos..];
            let n = if at < h {
                copy(&self.head[at as usize..], rest)
            } else if at - h < framed {
                let q = at - h;
                let (piece, within) = (q / PIECE, q % PIECE);
                let start = piece * DATA_BODY as u64;
                let body = (DATA_BODY as u64).min(self.len - start);
                if within < HEADER_LEN as u64 {
                    let header = file_data_header(body as usize);
                    copy(&header[within as usize..], rest)
                } else {
                    let from = within - HEADER_LEN as u64;
                    let n = ((body - from) as usize).min(rest.len());
                    crate::content::fill(start + from, &mut rest[..n]);
                    n
                }
            } else {
                let end = codec::to_vec(&Message::FileEnd { bytes: self.len }).unwrap_or_default();
                let from = (at - h - framed) as usize;
                if from >= end.len() {
                    rest.fill(0);
                    rest.len()
                } else {
                    copy(&end[from..], rest)
                }
            };
            pos += n;
        }
    }
}

fn copy(from: &[u8], to: &mut [u8]) -> usize {
    let n = from.len().min(to.len());
    to[..n].copy_from_slice(&from[..n]);
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_whole_but_the_last_and_fill_by_any_offset() {
        let head = b"HEAD";
        let len = 2 * DATA_BODY as u64 + 10;
        let m = TimedStream {
            head,
            len,
            end: true,
        };
        let mut all = vec![0u8; m.total() as usize];
        m.fill(0, &mut all);
        let mut want = head.to_vec();
        for (off, k) in [(0, DATA_BODY), (DATA_BODY, DATA_BODY), (2 * DATA_BODY, 10)] {
            want.extend_from_slice(&file_data_header(k));
            want.extend(crate::content::fill_vec(off as u64, k));
        }
        codec::encode(&Message::FileEnd { bytes: len }, &mut want).unwrap();
        assert!(all == want);
        let mut piece = vec![0u8; 777];
        m.fill(65_000, &mut piece);
        assert!(piece[..] == want[65_000..65_777]);
    }
}
