//! What the server is sending back: a message, a file, or a stream, each
//! handed out write by write, and the figures they add to.

use std::time::{Duration, Instant};

use super::stream_stamps::{SentStamps, TAIL_WAIT};
use super::{Event, Events, FileSender, Record, Toward, stream_comment};
use crate::account::beside::Shape;
use crate::proto::{Message, codec};
use crate::session::{Epoch, Transmit};

/// How long a server waits for the last byte of a file to be acknowledged.
pub const ACK_WAIT: Duration = Duration::from_secs(5);

/// What a server session did, for its log line and its JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFigures {
    /// "framed" or "text" (empty before the first byte).
    pub mode: &'static str,
    /// Requests served (refusals included).
    pub requests: u64,
    /// Requests refused.
    pub refused: u64,
    /// Payload bytes sent: echoes, file bytes, segments.
    pub bytes_out: u64,
    /// The requests served, as the model sees them.
    pub shapes: Vec<Shape>,
}

impl ServerFigures {
    /// A file cut short once `sent` of its bytes (framing included) had
    /// gone out: the model prices those, and nothing after them.
    pub(super) fn file_cut(&mut self, sent: u64) {
        if let Some(Shape::File { down, trailer, .. }) = self.shapes.last_mut() {
            *down = sent;
            *trailer = 0;
        }
    }

    /// Counts one round trip; a run of equal echoes is one shape, so a long
    /// echo session keeps its accounting small.
    pub(super) fn echoed(&mut self, request: u64, reply: u64) {
        if let Some(Shape::Echo {
            count,
            request: q,
            reply: r,
        }) = self.shapes.last_mut()
        {
            if *q == request && *r == reply {
                *count += 1;
                return;
            }
        }
        self.shapes.push(Shape::Echo {
            count: 1,
            request,
            reply,
        });
    }
}

/// A file reply in progress.
#[derive(Debug)]
pub(super) struct FileReply {
    pub(super) sender: FileSender,
    /// Framed (FileReady before, FileSent after) or a text file.
    pub(super) framed: bool,
    pub(super) started: Instant,
}

impl FileReply {
    /// The model's comment for the file as far as it went.
    fn comment(&self) -> String {
        let (size, offset) = (self.sender.size(), self.sender.offset());
        let what = if self.framed {
            "file".to_string()
        } else {
            format!("text file {size}")
        };
        if offset < size {
            format!("{what}, cut short after {offset} bytes")
        } else {
            what
        }
    }

    /// Records the file as far as it went (nothing when not a byte left)
    /// and, cut short, prices only what went.
    pub(super) fn settle(&self, events: &mut Events, figures: &mut ServerFigures, cut: bool) {
        let offset = self.sender.offset();
        if self.sender.is_timed() {
            let end = self.sender.is_done();
            events.record(Record::Timed {
                toward: Toward::Client,
                head: self.sender.head().to_vec(),
                len: offset,
                end,
                comment: if end { "file" } else { "file, cut short" }.to_string(),
            });
            if !end {
                figures.file_cut(self.sender.wire_len());
            }
        } else if !cut || offset > 0 {
            events.record(Record::File {
                toward: Toward::Client,
                head: self.sender.head().to_vec(),
                len: offset,
                comment: self.comment(),
            });
        }
        if !self.sender.is_timed() && offset < self.sender.size() {
            figures.file_cut(self.sender.head().len() as u64 + offset);
        }
        if self.sender.kernel_pace().is_some() {
            events.push(Event::Pacing(None));
        }
    }
}

/// A stream reply in progress: segment i leaves at t0 + i·interval,
/// whatever happened to the ones before. StreamStart leaves with segment 0
/// and StreamEnd with the last, in one write each, as FileReady leaves with
/// the first file bytes.
#[derive(Debug)]
pub(super) struct StreamSender {
    pub(super) interval: Duration,
    pub(super) count: u32,
    pub(super) size: u32,
    pub(super) t0: Instant,
    pub(super) epoch: Epoch,
    pub(super) sent: u32,
    /// Text lines instead of messages.
    pub(super) text: bool,
    /// Cut short: only the end is left to send.
    pub(super) stopped: bool,
    pub(super) over: bool,
    /// A stamped stream's TX stamps, and when its end is due once the last
    /// segment left.
    pub(super) stamps: Option<(SentStamps, Option<Instant>)>,
}

/// A text stream's line: the segment's number and when it left, ns since
/// the Unix epoch, fixed width so that every line is as long.
pub const TEXT_SEGMENT_LEN: usize = 32;

impl StreamSender {
    /// When the next segment is due (or a stamped stream's end).
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        if let Some((_, Some(tail))) = self.stamps {
            return (!self.over && !self.stopped).then_some(tail);
        }
        (!self.over && !self.stopped).then(|| super::deadline(self.t0, self.interval, self.sent))
    }

    /// The StreamStamp of the segment before the next write, when stamped.
    fn carry(&self, buf: &mut Vec<u8>) {
        if let (Some((st, _)), Some(prev)) = (&self.stamps, self.sent.checked_sub(1)) {
            st.carry(prev, buf);
        }
    }

    /// The stamps of a stamped stream, which its driver feeds and asks.
    pub(super) fn stamps_mut(&mut self) -> Option<&mut SentStamps> {
        self.stamps.as_mut().map(|(s, _)| s)
    }

    /// Writes the start, if this is the first write.
    fn start(&self, buf: &mut Vec<u8>) {
        if self.sent > 0 || self.text {
            return;
        }
        let start = Message::StreamStart {
            interval_ns: self.interval.as_nanos() as u64,
            count: self.count,
            size: self.size,
            t0_ns: self.epoch.unix_ns_of(self.t0),
        };
        let _ = codec::encode(&start, buf);
    }

    /// Writes the end.
    fn end(&self, buf: &mut Vec<u8>) {
        if self.text {
            buf.extend_from_slice(format!("end {}\n", self.sent).as_bytes());
        } else {
            let _ = codec::encode(&Message::StreamEnd { sent: self.sent }, buf);
        }
    }

    /// The next segment, if due at `now`, or the end of a stopped stream.
    pub(super) fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        events: &mut Events,
        figures: &mut ServerFigures,
    ) -> Option<Transmit> {
        if self.over {
            return None;
        }
        buf.clear();
        if self.stopped || self.stamps.as_ref().is_some_and(|(_, t)| t.is_some()) {
            if !self.stopped && self.poll_timeout().is_none_or(|t| t > now) {
                return None;
            }
            self.start(buf);
            self.carry(buf);
            self.end(buf);
            let first = self.sent == 0 && !self.text;
            events.bytes(Toward::Client, buf, || {
                if first {
                    "stream start; stream end"
                } else {
                    "stream end"
                }
                .to_string()
            });
            return Some(self.finish(buf, events));
        }
        let due = self.poll_timeout()?;
        if due > now {
            return None;
        }
        let seq = self.sent;
        self.start(buf);
        self.carry(buf);
        let (scheduled_ns, sent_ns) = (self.epoch.unix_ns_of(due), self.epoch.unix_ns_of(now));
        if self.text {
            buf.extend_from_slice(format!("{seq:010} {sent_ns:020}\n").as_bytes());
        } else {
            let seg = Message::StreamSegment {
                seq,
                scheduled_ns,
                sent_ns,
                size: self.size,
            };
            let _ = codec::encode(&seg, buf);
        }
        self.sent += 1;
        let mut last = self.sent == self.count;
        if let Some((st, tail)) = self.stamps.as_mut() {
            // The end waits for the last segment's stamp.
            st.written(seq);
            if last {
                *tail = Some(now + TAIL_WAIT.min(self.interval));
            }
            last = false;
        } else if last {
            self.end(buf);
        }
        figures.bytes_out += u64::from(self.size);
        events.bytes(Toward::Client, buf, || stream_comment(seq, seq == 0, last));
        if last {
            return Some(self.finish(buf, events));
        }
        Some(Transmit {
            len: buf.len(),
            segment: None,
        })
    }

    fn finish(&mut self, buf: &[u8], events: &mut Events) -> Transmit {
        self.over = true;
        events.push(Event::StreamEnded {
            sent: self.sent,
            interval: self.interval,
        });
        Transmit {
            len: buf.len(),
            segment: None,
        }
    }
}

/// What the server is sending back.
#[derive(Debug)]
pub(super) enum Reply {
    /// One message.
    Message(Message),
    /// Bytes as they are (text mode), recorded with the comment.
    Bytes(Vec<u8>, String),
    /// A file; then, framed, the wait for its last byte's acknowledgement.
    File(FileReply),
    /// A stream.
    Stream(StreamSender),
}

/// The reply in progress, the events and the figures: what a framed and a
/// text session share.
#[derive(Debug, Default)]
pub(super) struct Replier {
    pub(super) reply: Option<Reply>,
    pub(super) events: Events,
    pub(super) figures: ServerFigures,
    /// The session's number, for its log lines.
    pub(super) id: u64,
    /// How the session ends once the reply going out has gone.
    pub(super) ending: Option<super::Ended>,
    /// The cap on a file's writes, see [`FileSender::set_max_write`]
    /// (0: none set).
    pub(super) max_write: usize,
}

impl Replier {
    /// The replies of session `id`, in `mode` ("framed" or "text").
    pub(super) fn new(id: u64, mode: &'static str) -> Replier {
        Replier {
            id,
            figures: ServerFigures {
                mode,
                ..ServerFigures::default()
            },
            ..Replier::default()
        }
    }

    /// Whether a reply is going out or the session is ending: no request
    /// is taken then.
    pub(super) fn busy(&self) -> bool {
        self.reply.is_some() || self.ending.is_some()
    }

    /// Why the session is over, once its last reply went out.
    pub(super) fn ended(&self) -> Option<&super::Ended> {
        if self.reply.is_some() {
            return None;
        }
        self.ending.as_ref()
    }

    /// The server is stopping: a stream ends where it is, a paced file is
    /// cut and the session ends with it.
    pub(super) fn stop(&mut self) {
        if self.handle_stop() {
            self.ending = Some(super::Ended::server(
                "error: the server is stopping".to_string(),
            ));
        }
    }

    /// The next write of the reply, if one is due at `now`.
    pub(super) fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let t = match self.reply.as_mut()? {
            Reply::Message(m) => {
                buf.clear();
                let _ = codec::encode(m, buf);
                self.events.message(Toward::Client, m);
                self.reply = None;
                return Some(whole(buf));
            }
            Reply::Bytes(b, comment) => {
                buf.clear();
                buf.extend_from_slice(b);
                let c = std::mem::take(comment);
                self.events.bytes(Toward::Client, buf, || c);
                self.reply = None;
                return Some(whole(buf));
            }
            Reply::File(f) => {
                if self.max_write > 0 {
                    f.sender.set_max_write(self.max_write);
                }
                let before = f.sender.offset();
                let t = f.sender.poll_transmit(now, buf)?;
                self.figures.bytes_out += f.sender.offset() - before;
                if f.sender.is_done() {
                    f.settle(&mut self.events, &mut self.figures, false);
                    if !f.framed {
                        self.reply = None;
                    }
                }
                t
            }
            Reply::Stream(s) => {
                let t = s.poll_transmit(now, buf, &mut self.events, &mut self.figures)?;
                if s.over {
                    self.reply = None;
                }
                t
            }
        };
        Some(t)
    }

    /// When the reply's next write is due.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        match self.reply.as_ref()? {
            Reply::File(f) => f.sender.poll_timeout(),
            Reply::Stream(s) => s.poll_timeout(),
            _ => None,
        }
    }

    /// Whether a framed file's bytes are all written and its FileSent
    /// waits for the last one's acknowledgement.
    pub(super) fn awaiting_ack(&self) -> bool {
        matches!(&self.reply, Some(Reply::File(f)) if f.framed && f.sender.is_done())
    }

    /// The file's last write returned at `written`, its last byte was
    /// acknowledged at `acked` (if seen): FileSent goes next.
    pub(super) fn handle_acked(&mut self, written: Instant, acked: Option<Instant>) {
        let Some(Reply::File(f)) = &self.reply else {
            return;
        };
        let size = f.sender.size();
        let written = written.saturating_duration_since(f.started);
        let acked = acked.map(|t| t.saturating_duration_since(f.started));
        tracing::info!(
            "session {}: file of {size} bytes written in {:.6} s (the kernel took it), {}",
            self.id,
            written.as_secs_f64(),
            match acked {
                Some(a) => format!("last byte acknowledged after {:.6} s", a.as_secs_f64()),
                None => format!("last byte not acknowledged within {ACK_WAIT:?}"),
            }
        );
        self.reply = Some(Reply::Message(Message::FileSent {
            written_ns: written.as_nanos() as u64,
            acked_ns: acked.map_or(0, |a| a.as_nanos() as u64),
        }));
    }

    /// The last write failed: a file counts only what went before it, and
    /// what that write would have recorded is dropped.
    pub(super) fn handle_send_failed(&mut self) {
        self.events.drop_records();
        if let Some(Reply::File(f)) = self.reply.as_mut() {
            let last = f.sender.unsend_last();
            self.figures.bytes_out -= last;
            f.settle(&mut self.events, &mut self.figures, true);
        }
        self.reply = None;
    }

    /// A stream ends where it is (its end still goes out), a paced file
    /// is cut (`true`: the session ends with it).
    fn handle_stop(&mut self) -> bool {
        match self.reply.as_mut() {
            Some(Reply::Stream(s)) => {
                s.stopped = true;
                false
            }
            Some(Reply::File(f)) if f.sender.kernel_pace().is_some() && !f.sender.is_done() => {
                f.settle(&mut self.events, &mut self.figures, true);
                self.reply = None;
                true
            }
            _ => false,
        }
    }
}

/// A transmit of the whole buffer.
fn whole(buf: &[u8]) -> Transmit {
    Transmit {
        len: buf.len(),
        segment: None,
    }
}
