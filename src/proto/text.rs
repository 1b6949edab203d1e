//! Text mode: serving a peer that speaks plain lines, such as `nc`.
//!
//! A peer whose first byte is not the protocol's magic is served line by
//! line, as the original lab did: a line that is a whole number asks for a
//! file of that many bytes, any other line is echoed back with its newline.
//! Refusals come back as one line, `error: <sentence>`. [`LineBuffer`] cuts
//! incoming bytes into lines without letting a peer that never sends a
//! newline make it grow without bound.

use super::limits::{Limits, Refusal};
use crate::proto::ErrorCode;

/// What to answer one line with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextReply {
    /// Send these bytes back (the line and its newline).
    Echo(Vec<u8>),
    /// Send a file of this many bytes.
    File(u64),
    /// Send `error: <sentence>` and carry on.
    Refuse(Refusal),
}

/// Decides the answer to one line (without its line ending).
pub fn interpret(line: &[u8], limits: &Limits) -> TextReply {
    let trimmed = line.trim_ascii();
    let digits = trimmed.strip_prefix(b"-").unwrap_or(trimmed);
    if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
        if trimmed.starts_with(b"-") {
            return TextReply::Refuse(Refusal {
                code: ErrorCode::FileTooLarge,
                message: "a file size cannot be negative".to_string(),
            });
        }
        // All digits: the only way to fail is overflow.
        let size = std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse::<u64>().ok());
        return match size {
            Some(n) => match limits.check_file(n) {
                Ok(()) => TextReply::File(n),
                Err(r) => TextReply::Refuse(r),
            },
            None => TextReply::Refuse(Refusal {
                code: ErrorCode::FileTooLarge,
                message: format!(
                    "a file of {} digits is over this server's limit of {} bytes (--max-file)",
                    digits.len(),
                    limits.max_file
                ),
            }),
        };
    }
    if let Err(r) = limits.check_echo(line.len()) {
        return TextReply::Refuse(r);
    }
    let mut echo = Vec::with_capacity(line.len() + 1);
    echo.extend_from_slice(line);
    echo.push(b'\n');
    TextReply::Echo(echo)
}

/// The bytes of a refusal line.
pub fn refusal_line(r: &Refusal) -> Vec<u8> {
    format!("error: {}\n", r.message).into_bytes()
}

/// A line longer than the buffer allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a line longer than {0} bytes without a newline")]
pub struct LineTooLong(pub usize);

/// Collects bytes and hands out whole lines, up to a maximum length.
#[derive(Debug)]
pub struct LineBuffer {
    buf: Vec<u8>,
    max: usize,
}

impl LineBuffer {
    /// A buffer that refuses lines longer than `max` bytes.
    pub fn new(max: usize) -> Self {
        LineBuffer {
            buf: Vec::new(),
            max,
        }
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole line without its `\n` or `\r\n`, `Ok(None)` when none
    /// is complete yet, or an error when the peer has sent more than `max`
    /// bytes without a newline.
    pub fn next_line(&mut self) -> Result<Option<Vec<u8>>, LineTooLong> {
        match self.buf.iter().position(|&b| b == b'\n') {
            Some(i) if i <= self.max + 1 => {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Ok(Some(line))
            }
            Some(_) => Err(LineTooLong(self.max)),
            None if self.buf.len() > self.max + 1 => Err(LineTooLong(self.max)),
            None => Ok(None),
        }
    }

    /// What is left without a newline (a last line at end of input).
    pub fn take_rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_ask_for_files_and_text_is_echoed() {
        let l = Limits::default();
        assert_eq!(interpret(b"1000", &l), TextReply::File(1000));
        assert_eq!(interpret(b" 0 ", &l), TextReply::File(0));
        assert_eq!(
            interpret(b"hello", &l),
            TextReply::Echo(b"hello\n".to_vec())
        );
        assert_eq!(interpret(b"", &l), TextReply::Echo(b"\n".to_vec()));
        assert_eq!(interpret(b"12ab", &l), TextReply::Echo(b"12ab\n".to_vec()));
    }

    #[test]
    fn refusals() {
        let l = Limits::default();
        for line in [&b"123456790"[..], b"-5", b"99999999999999999999999999"] {
            match interpret(line, &l) {
                TextReply::Refuse(r) => assert_eq!(r.code, ErrorCode::FileTooLarge),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            interpret(&[b'a'; 60_001], &l),
            TextReply::Refuse(_)
        ));
        let r = Refusal {
            code: ErrorCode::FileTooLarge,
            message: "no".into(),
        };
        assert_eq!(refusal_line(&r), b"error: no\n");
    }

    #[test]
    fn line_buffer_cuts_lines_and_bounds_them() {
        let mut b = LineBuffer::new(10);
        b.push(b"hel");
        assert_eq!(b.next_line(), Ok(None));
        b.push(b"lo\r\nworld\nx");
        assert_eq!(b.next_line(), Ok(Some(b"hello".to_vec())));
        assert_eq!(b.next_line(), Ok(Some(b"world".to_vec())));
        assert_eq!(b.next_line(), Ok(None));
        assert_eq!(b.take_rest(), b"x");
        b.push(&[b'a'; 20]);
        assert_eq!(b.next_line(), Err(LineTooLong(10)));
    }
}
