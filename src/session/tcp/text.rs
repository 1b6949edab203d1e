//! The server's side of a plain-text peer, such as `nc`: one line, one
//! answer.
//!
//! A whole number asks for a file of that many bytes; `stream`, then an
//! interval in milliseconds on the next line, streams segments as text
//! lines; `quit` closes the connection; any other line is echoed back with
//! its newline. Refusals come back as one line, `error: <sentence>`.
//!
//! A text stream sends as many segments as the server allows
//! ([`Limits::max_segments`], fewer when that many would last longer than
//! [`Limits::max_stream_time`]), one line each: the segment's number and
//! the time it left, nanoseconds since the Unix epoch, in fixed-width
//! columns (`0000000003 1767225600123456789`); then `end <sent>`.

use std::time::{Duration, Instant};

use super::server::Ended;
use super::server_reply::{FileReply, Replier, Reply, StreamSender, TEXT_SEGMENT_LEN};
use super::{Event, FileSender, Toward};
use crate::account::beside::Shape;
use crate::proto::text::{self, LineBuffer, TextReply};
use crate::proto::{ErrorCode, Limits, Refusal, SEGMENT_MIN};
use crate::session::{Epoch, Transmit};

/// The server's side of a text peer.
#[derive(Debug)]
pub struct TextServer {
    limits: Limits,
    epoch: Epoch,
    lines: LineBuffer,
    out: Replier,
    /// The last line was `stream`: this one is its interval.
    interval_next: bool,
    eof: bool,
}

impl TextServer {
    /// Session `id` under `limits`.
    pub fn new(id: u64, limits: Limits, epoch: Epoch) -> TextServer {
        TextServer {
            lines: LineBuffer::new(limits.max_echo),
            limits,
            epoch,
            out: Replier::new(id, "text"),
            interval_next: false,
            eof: false,
        }
    }

    pub(super) fn replier(&self) -> &Replier {
        &self.out
    }

    pub(super) fn replier_mut(&mut self) -> &mut Replier {
        &mut self.out
    }

    fn busy(&self) -> bool {
        self.out.busy()
    }

    /// Bytes arrived.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        self.lines.push(bytes);
        self.advance(now);
    }

    /// The peer closed its side: a last line without a newline is still
    /// answered.
    pub fn handle_eof(&mut self, now: Instant) {
        self.eof = true;
        self.advance(now);
    }

    /// Answers whole lines while no answer is going out.
    fn advance(&mut self, now: Instant) {
        while !self.busy() {
            match self.lines.next_line() {
                Ok(Some(line)) => {
                    let mut v = line.clone();
                    v.push(b'\n');
                    self.out
                        .events
                        .bytes(Toward::Server, &v, || "text line".to_string());
                    self.answer(now, &line);
                }
                Ok(None) => break,
                Err(e) => {
                    self.out.figures.refused += 1;
                    let reply = format!("error: {e}\n").into_bytes();
                    self.out.reply = Some(Reply::Bytes(reply, format!("error: {e}")));
                    self.out.ending = Some(Ended::server(format!("text protocol error: {e}")));
                }
            }
        }
        if self.eof && !self.busy() {
            let rest = self.lines.take_rest();
            if !rest.is_empty() {
                self.out
                    .events
                    .bytes(Toward::Server, &rest, || "text line".to_string());
                self.answer(now, &rest);
            }
            if self.out.ending.is_none() {
                self.out.ending = Some(Ended::client("closed by the client"));
            }
        }
    }

    /// Answers one line (without its line ending).
    fn answer(&mut self, now: Instant, line: &[u8]) {
        let word = line.trim_ascii();
        if std::mem::take(&mut self.interval_next) {
            return self.start_stream(now, line);
        }
        if word == b"quit" {
            self.out.ending = Some(Ended::server("the client said quit".to_string()));
            return;
        }
        self.out.figures.requests += 1;
        if word == b"stream" {
            self.interval_next = true;
            return;
        }
        match text::interpret(line, &self.limits) {
            TextReply::Echo(bytes) => {
                self.out.figures.bytes_out += bytes.len() as u64;
                self.out
                    .figures
                    .echoed(line.len() as u64 + 1, bytes.len() as u64);
                self.out.reply = Some(Reply::Bytes(bytes, "text echo".to_string()));
            }
            TextReply::File(size) => {
                self.out.figures.shapes.push(Shape::File {
                    up: line.len() as u64 + 1,
                    down: size,
                    trailer: 0,
                });
                self.out.reply = Some(Reply::File(FileReply {
                    sender: FileSender::new(now, Vec::new(), size, 0),
                    framed: false,
                    started: now,
                }));
            }
            TextReply::Refuse(r) => self.refuse(&r),
        }
    }

    fn refuse(&mut self, r: &Refusal) {
        self.out.figures.refused += 1;
        let reply = text::refusal_line(r);
        self.out.reply = Some(Reply::Bytes(reply, format!("error: {}", r.message)));
    }

    /// The line after `stream`: the interval in milliseconds.
    fn start_stream(&mut self, now: Instant, line: &[u8]) {
        let ms = std::str::from_utf8(line.trim_ascii())
            .ok()
            .and_then(|s| s.parse::<u64>().ok());
        let Some(ms) = ms else {
            return self.refuse(&Refusal {
                code: ErrorCode::BadInterval,
                message: "a stream's interval is a whole number of milliseconds, on the line after `stream`".to_string(),
            });
        };
        let interval = Duration::from_millis(ms);
        let by_time = self.limits.max_stream_time.as_nanos() / interval.as_nanos().max(1);
        let count = (self.limits.max_segments as u128).min(by_time.max(1)) as u32;
        let interval_ns = interval.as_nanos().min(u64::MAX as u128) as u64;
        if let Err(r) = self
            .limits
            .check_stream(interval_ns, count, SEGMENT_MIN as u32)
        {
            return self.refuse(&r);
        }
        self.out.figures.shapes.push(Shape::Stream {
            up: "stream\n".len() as u64 + line.len() as u64 + 1,
            count: u64::from(count),
            size: TEXT_SEGMENT_LEN as u64,
            start: 0,
            end: format!("end {count}\n").len() as u64,
        });
        self.out.events.push(Event::StreamStarted { interval });
        self.out.reply = Some(Reply::Stream(StreamSender {
            interval,
            count,
            size: TEXT_SEGMENT_LEN as u32,
            t0: now,
            epoch: self.epoch,
            sent: 0,
            text: true,
            stopped: false,
            over: false,
            stamps: None,
        }));
    }

    /// The next write.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if self.out.reply.is_none() {
            self.advance(now);
        }
        self.out.poll_transmit(now, buf)
    }

    /// Whether the session waits for lines.
    pub fn wants_input(&self) -> bool {
        !self.busy() && !self.eof
    }

    /// The server is stopping.
    pub fn handle_stop(&mut self) {
        self.out.stop();
    }

    /// Why the session is over, once its last answer went out.
    pub fn ended(&self) -> Option<&Ended> {
        self.out.ended()
    }
}
