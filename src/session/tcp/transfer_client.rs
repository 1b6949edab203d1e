//! The client's side of a TransferRequest: a download or an upload, sized
//! or timed, every byte verified by whichever side receives it, ending
//! with the server's FileSent and its [`Results`].
//!
//! Download: the request, FileReady, then the file as raw bytes (sized)
//! or FileData messages until a FileEnd (timed), each byte verified here.
//! Upload: the request, FileReady (the server's go-ahead), then the file
//! from here, raw (sized) or as FileData and a FileEnd (timed: until the
//! time, measured from the request, or the cap); the server verifies it
//! and an Error naming the offset of a wrong byte fails the upload.

use std::ops::Range;
use std::time::{Duration, Instant};

use super::{
    Bulk, ChunkReader, Events, FileReceiver, FileSender, Inbox, Patience, Piece, Record,
    SessionError, Toward,
};
use crate::account::beside::Shape;
use crate::proto::{
    ErrorCode, HEADER_LEN, Message, Results, TransferDirection, TransferFlags, codec,
};
use crate::session::Transmit;

/// What the client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferAsk {
    /// Which way the file goes.
    pub direction: TransferDirection,
    /// The file's size; with a time, its cap (0: none).
    pub size: u64,
    /// How long a timed transfer runs (`None`: sized).
    pub time: Option<Duration>,
    /// The sender's pace, bit/s of payload (0: as fast as it goes).
    pub rate_bps: u64,
    /// What the server's socket is asked for.
    pub flags: TransferFlags,
    /// The TOS byte to apply with [`TransferFlags::TOS`].
    pub tos: u8,
    /// The congestion control of the server's socket (empty: its default).
    pub congestion: String,
}

impl TransferAsk {
    fn request(&self) -> Message {
        Message::TransferRequest {
            direction: self.direction,
            flags: self.flags,
            tos: self.tos,
            size: self.size,
            rate_bps: self.rate_bps,
            time_ns: self.time.map_or(0, |t| t.as_nanos().max(1) as u64),
            congestion: self.congestion.clone(),
        }
    }

    /// The size cap of a timed transfer (`u64::MAX`: none).
    fn cap(&self) -> u64 {
        if self.size == 0 { u64::MAX } else { self.size }
    }
}

/// What a transfer measured.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferFigures {
    /// Which way the file went.
    pub direction: TransferDirection,
    /// File bytes moved, every one verified by the receiver.
    pub bytes: u64,
    /// Download: when the first byte came; upload: when the go-ahead came.
    pub first: Instant,
    /// Download: when the last byte came; upload: when FileSent came.
    pub end: Instant,
    /// Seconds since the start and bytes so far (downloads).
    pub progress: Vec<(f64, u64)>,
    /// The server's FileSent: its last write returned (download) or its
    /// first to last byte received (upload), seconds.
    pub written: f64,
    /// The server's FileSent: its last byte acknowledged, if seen.
    pub acked: Option<f64>,
    /// The server's figures.
    pub results: Results,
    /// What the accounting prices.
    pub shape: Shape,
}

/// Where a transfer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Request,
    Ready,
    Body,
    Trailer,
    Done,
}

/// The client's side of one TransferRequest.
#[derive(Debug)]
pub struct TransferClient {
    ask: TransferAsk,
    step: Step,
    start: Instant,
    patience: Patience,
    inbox: Inbox,
    chunks: ChunkReader,
    receiver: FileReceiver,
    sender: Option<FileSender>,
    ready_at: Option<Instant>,
    sent: Option<(u64, u64)>,
    results: Option<Results>,
    done_at: Option<Instant>,
    /// A timed download's stream from the server before FileSent.
    down_wire: u64,
    pub(super) events: Events,
}

impl TransferClient {
    /// The transfer `ask` from `start`; nothing heard for `timeout` fails it.
    pub fn new(start: Instant, ask: TransferAsk, timeout: Duration) -> TransferClient {
        let size = if ask.time.is_some() {
            ask.cap()
        } else {
            ask.size
        };
        TransferClient {
            step: Step::Request,
            start,
            patience: Patience::new(start, timeout),
            inbox: Inbox::new(),
            chunks: ChunkReader::new(),
            receiver: FileReceiver::new(start, size),
            sender: None,
            ready_at: None,
            sent: None,
            results: None,
            done_at: None,
            down_wire: 0,
            events: Events::default(),
            ask,
        }
    }

    fn upload(&self) -> bool {
        self.ask.direction == TransferDirection::Upload
    }

    fn timed(&self) -> bool {
        self.ask.time.is_some()
    }

    /// The request first; an upload's file once the go-ahead came.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        match self.step {
            Step::Request => {
                let request = self.ask.request();
                buf.clear();
                codec::encode(&request, buf).ok()?;
                self.events.message(Toward::Server, &request);
                self.step = Step::Ready;
                self.start = now;
                self.patience.heard(now);
                Some(Transmit {
                    len: buf.len(),
                    segment: None,
                })
            }
            Step::Body if self.upload() => {
                let sender = self.sender.as_mut()?;
                let t = sender.poll_transmit(now, buf)?;
                self.patience.heard(now);
                if sender.is_done() {
                    self.upload_written();
                }
                Some(t)
            }
            _ => None,
        }
    }

    /// The upload's last write went: the model records it, and the
    /// server's answer is awaited.
    fn upload_written(&mut self) {
        let Some(s) = self.sender.as_ref() else {
            return;
        };
        if self.events.recording() {
            let r = if s.is_timed() {
                Record::Timed {
                    toward: Toward::Server,
                    head: Vec::new(),
                    len: s.offset(),
                    end: true,
                    comment: "upload".to_string(),
                }
            } else {
                Record::File {
                    toward: Toward::Server,
                    head: Vec::new(),
                    len: s.offset(),
                    comment: "upload".to_string(),
                }
            };
            self.events.record(r);
        }
        self.step = Step::Trailer;
    }

    /// Bytes arrived at `now`: the range of them that is file data of a
    /// sized download (empty for a timed one, whose data is framed).
    pub fn handle_bytes(
        &mut self,
        now: Instant,
        bytes: &[u8],
    ) -> Result<Range<usize>, SessionError> {
        self.patience.heard(now);
        let mut data = 0..0;
        let mut at = 0;
        while at < bytes.len() {
            match self.step {
                Step::Body if !self.upload() && !self.timed() => {
                    let n = self.receiver.feed(now, &bytes[at..])?;
                    data = at..at + n;
                    at += n;
                    if self.receiver.left() == 0 {
                        self.download_over();
                    }
                }
                Step::Body if !self.upload() => {
                    let (n, piece) = self.chunks.take(&bytes[at..]);
                    self.down_wire += n as u64;
                    match piece {
                        Some(Piece::Data(d)) => self.data(now, d)?,
                        Some(Piece::Message(m)) => self.message(now, m)?,
                        Some(Piece::Bad(e)) => return Err(SessionError::Protocol(e.to_string())),
                        None => {}
                    }
                    at += n;
                }
                Step::Ready | Step::Trailer | Step::Body => {
                    let (n, r) = self.inbox.take(&bytes[at..]);
                    at += n;
                    match r {
                        Ok(Some(m)) => self.message(now, m)?,
                        Ok(None) => {}
                        Err(e) => return Err(SessionError::Protocol(e.to_string())),
                    }
                }
                Step::Request | Step::Done => break,
            }
        }
        Ok(data)
    }

    /// File bytes of a timed download: verified, and no more than the cap.
    fn data(&mut self, now: Instant, d: &[u8]) -> Result<(), SessionError> {
        if self.receiver.feed(now, d)? < d.len() {
            return Err(SessionError::Protocol(format!(
                "the server sent more than the {} bytes asked for",
                self.ask.size
            )));
        }
        Ok(())
    }

    /// A whole message arrived.
    fn message(&mut self, now: Instant, msg: Message) -> Result<(), SessionError> {
        match (self.step, msg) {
            (_, Message::Error { code, message }) => {
                self.events
                    .message(Toward::Client, &Message::error(code, message.clone()));
                Err(refusal(code, message))
            }
            (Step::Ready, Message::FileReady { size }) if size == self.ask.size => {
                if self.upload() {
                    // A write of its own; a download's rides with the file.
                    self.events
                        .message(Toward::Client, &Message::FileReady { size });
                }
                self.ready_at = Some(now);
                self.step = Step::Body;
                self.down_wire = (HEADER_LEN + 8) as u64;
                if self.upload() {
                    self.sender = Some(match self.ask.time {
                        Some(t) => {
                            let deadline = self.start + t;
                            FileSender::timed(
                                now,
                                Vec::new(),
                                self.ask.cap(),
                                deadline,
                                self.ask.rate_bps,
                            )
                        }
                        None => FileSender::new(now, Vec::new(), self.ask.size, self.ask.rate_bps),
                    });
                } else if !self.timed() && self.ask.size == 0 {
                    self.download_over();
                }
                Ok(())
            }
            (Step::Ready, other) => Err(SessionError::Protocol(format!(
                "expected FileReady for {} bytes, got {other:?}",
                self.ask.size
            ))),
            (Step::Body, Message::FileData { data }) if self.timed() && !self.upload() => {
                self.data(now, &data)
            }
            (Step::Body, Message::FileEnd { bytes }) if self.timed() && !self.upload() => {
                let got = self.receiver.got();
                if bytes != got {
                    return Err(SessionError::Protocol(format!(
                        "the server says it sent {bytes} bytes, {got} came"
                    )));
                }
                self.download_over();
                Ok(())
            }
            (
                Step::Trailer,
                Message::FileSent {
                    written_ns,
                    acked_ns,
                },
            ) if self.sent.is_none() => {
                self.sent = Some((written_ns, acked_ns));
                Ok(())
            }
            (Step::Trailer, Message::Results(r)) if self.sent.is_some() => {
                if self.events.recording() {
                    // FileSent and Results leave in one write.
                    let (written_ns, acked_ns) = self.sent.unwrap_or_default();
                    let sent = Message::FileSent {
                        written_ns,
                        acked_ns,
                    };
                    let mut bytes = codec::to_vec(&sent).unwrap_or_default();
                    let _ = codec::encode(&Message::Results(r.clone()), &mut bytes);
                    let n = r.bytes.unwrap_or(0);
                    self.events
                        .bytes(Toward::Client, &bytes, || format!("file sent; results {n}"));
                }
                self.results = Some(*r);
                self.done_at = Some(now);
                self.step = Step::Done;
                Ok(())
            }
            (_, other) => Err(SessionError::Protocol(format!(
                "unexpected {:?} in a {}",
                other.kind(),
                self.ask.direction.name()
            ))),
        }
    }

    /// The download's last byte came: the model holds the server's stream
    /// as the one write it made of it.
    fn download_over(&mut self) {
        if self.events.recording() {
            let head = codec::to_vec(&Message::FileReady {
                size: self.ask.size,
            })
            .unwrap_or_default();
            let len = self.receiver.got();
            let comment = "file".to_string();
            let r = if self.timed() {
                Record::Timed {
                    toward: Toward::Client,
                    head,
                    len,
                    end: true,
                    comment,
                }
            } else {
                Record::File {
                    toward: Toward::Client,
                    head,
                    len,
                    comment,
                }
            };
            self.events.record(r);
        }
        self.step = Step::Trailer;
    }

    /// The connection ended.
    pub fn handle_eof(&mut self) -> SessionError {
        match self.step {
            Step::Body if !self.upload() && !self.timed() => SessionError::Short {
                expected: self.ask.size,
                got: self.receiver.got(),
            },
            _ if self.inbox.is_empty() && self.chunks.is_idle() => SessionError::closed(),
            _ => SessionError::truncated(),
        }
    }

    /// An upload's next paced write, or the deadline of silence.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if let (Step::Body, Some(s)) = (self.step, self.sender.as_ref()) {
            return s.poll_timeout();
        }
        self.patience.deadline(self.wants_input())
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        self.patience.check(now, self.wants_input())
    }

    /// Whether bytes are awaited (an upload's body is sent, not awaited).
    pub fn wants_input(&self) -> bool {
        match self.step {
            Step::Ready | Step::Trailer => true,
            Step::Body => !self.upload(),
            Step::Request | Step::Done => false,
        }
    }

    /// Whether the server's Results came.
    pub fn is_done(&self) -> bool {
        self.step == Step::Done
    }

    /// Whether the file's bytes are going out from here now.
    pub fn uploading(&self) -> bool {
        self.step == Step::Body && self.upload()
    }

    /// What a driver reading a download's bytes in blocks may count on,
    /// while they are coming.
    pub fn bulk(&self) -> Option<Bulk> {
        if self.step != Step::Body || self.upload() {
            return None;
        }
        // The server's deadline is its time after the request reached it,
        // so no earlier than the same time after it left here.
        Some(match self.ask.time {
            Some(time) => Bulk::timed(&self.receiver, self.start + time),
            None => Bulk::sized(&self.receiver),
        })
    }

    /// File bytes moved so far.
    pub fn bytes(&self) -> u64 {
        match &self.sender {
            Some(s) => s.offset(),
            None => self.receiver.got(),
        }
    }

    /// The download's receiver, for its running figures.
    pub fn receiver(&self) -> &FileReceiver {
        &self.receiver
    }

    /// The figures, once done.
    pub fn finish(self) -> Option<TransferFigures> {
        let (written_ns, acked_ns) = self.sent?;
        let timed = self.timed();
        let results = self.results?;
        let ready = self.ready_at?;
        let done = self.done_at?;
        let up = codec::to_vec(&self.ask.request()).ok()?.len() as u64;
        let trailer = (HEADER_LEN + 16) as u64
            + codec::to_vec(&Message::Results(Box::new(results.clone())))
                .ok()?
                .len() as u64;
        let (bytes, first, end, shape) = match &self.sender {
            Some(s) => (
                s.offset(),
                ready,
                done,
                Shape::Upload {
                    up,
                    ready: (HEADER_LEN + 8) as u64,
                    data: s.wire_len(),
                    trailer,
                },
            ),
            None => {
                let end = self.receiver.last().unwrap_or(ready);
                let down = if timed {
                    self.down_wire
                } else {
                    (HEADER_LEN + 8) as u64 + self.ask.size
                };
                let shape = Shape::File { up, down, trailer };
                (
                    self.receiver.got(),
                    self.receiver.first().unwrap_or(end),
                    end,
                    shape,
                )
            }
        };
        Some(TransferFigures {
            direction: self.ask.direction,
            bytes,
            first,
            end,
            progress: self.receiver.progress().to_vec(),
            written: written_ns as f64 / 1e9,
            acked: (acked_ns > 0).then_some(acked_ns as f64 / 1e9),
            results,
            shape,
        })
    }
}

/// The server's Error as the session's: a wrong uploaded byte names its
/// offset ("upload: verification failed at offset N: …").
fn refusal(code: ErrorCode, message: String) -> SessionError {
    const AT: &str = "upload: verification failed at offset ";
    let offset = message
        .strip_prefix(AT)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok());
    match offset {
        Some(offset) => SessionError::Rejected { offset, message },
        None => SessionError::Refused { code, message },
    }
}
