//! The client's side of a file, both ways: [`FileClient`] asks for a file
//! and verifies every byte of it; [`UploadClient`] sends one.

use std::ops::Range;
use std::time::{Duration, Instant};

use super::{
    Bulk, Events, FileReceiver, FileSender, Inbox, Patience, Record, SessionError, Toward,
};
use crate::account::beside::Shape;
use crate::proto::{HEADER_LEN, Message, codec};
use crate::session::Transmit;

/// Where a download is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The request is to be sent.
    Request,
    /// Waiting for FileReady.
    Ready,
    /// The file's bytes.
    Body,
    /// Waiting for FileSent.
    Trailer,
    /// Done.
    Done,
}

/// What a download measured.
#[derive(Debug, Clone, PartialEq)]
pub struct FileFigures {
    /// The file's size, every byte verified.
    pub size: u64,
    /// When the first byte came (the end, for an empty file).
    pub first: Instant,
    /// When the last byte came.
    pub end: Instant,
    /// Seconds since the start and bytes so far, every
    /// [`super::file::PROGRESS_STEP`].
    pub progress: Vec<(f64, u64)>,
    /// The server's FileSent: when its last write returned, seconds.
    pub written: f64,
    /// The server's FileSent: when its last byte was acknowledged, if seen.
    pub acked: Option<f64>,
    /// What the accounting prices.
    pub shape: Shape,
}

/// The client's side of a download: FileRequest, then FileReady and the
/// file's bytes, every one verified, then the server's FileSent.
#[derive(Debug)]
pub struct FileClient {
    step: Step,
    size: u64,
    rate_bps: u64,
    patience: Patience,
    ready_at: Option<Instant>,
    inbox: Inbox,
    receiver: FileReceiver,
    sent: Option<(u64, u64)>,
    pub(super) events: Events,
}

impl FileClient {
    /// A file of `size` bytes from `start`, paced by the server at
    /// `rate_bps` (0: as fast as it goes); nothing heard for `timeout`
    /// fails it.
    pub fn new(start: Instant, size: u64, rate_bps: u64, timeout: Duration) -> FileClient {
        FileClient {
            step: Step::Request,
            size,
            rate_bps,
            patience: Patience::new(start, timeout),
            ready_at: None,
            inbox: Inbox::new(),
            receiver: FileReceiver::new(start, size),
            sent: None,
            events: Events::default(),
        }
    }

    /// The request, first.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if self.step != Step::Request {
            return None;
        }
        let request = Message::FileRequest {
            size: self.size,
            rate_bps: self.rate_bps,
        };
        buf.clear();
        codec::encode(&request, buf).ok()?;
        let size = self.size;
        self.events
            .bytes(Toward::Server, buf, || format!("file request {size}"));
        self.step = Step::Ready;
        self.patience.heard(now);
        Some(Transmit {
            len: buf.len(),
            segment: None,
        })
    }

    /// Bytes arrived at `now`: the range of them that is file data (for a
    /// copy of the file).
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
                Step::Body => {
                    let n = self.receiver.feed(now, &bytes[at..])?;
                    data = at..at + n;
                    at += n;
                    if self.receiver.left() == 0 {
                        self.body_done();
                    }
                }
                Step::Ready | Step::Trailer => {
                    let (n, r) = self.inbox.take(&bytes[at..]);
                    at += n;
                    match r {
                        Ok(Some(m)) => self.message(now, m)?,
                        Ok(None) => {}
                        Err(e) => return Err(SessionError::Protocol(e.to_string())),
                    }
                }
                // Nothing is due before the request or after the end.
                Step::Request | Step::Done => break,
            }
        }
        Ok(data)
    }

    /// A whole message arrived.
    fn message(&mut self, now: Instant, msg: Message) -> Result<(), SessionError> {
        let size = self.size;
        match (self.step, msg) {
            (_, Message::Error { code, message }) => {
                self.events
                    .bytes(Toward::Client, &error_bytes(code, &message), || {
                        format!("error: {message}")
                    });
                Err(SessionError::Refused { code, message })
            }
            (Step::Ready, Message::FileReady { size: s }) if s == size => {
                self.ready_at = Some(now);
                self.step = Step::Body;
                if size == 0 {
                    self.body_done();
                }
                Ok(())
            }
            (Step::Ready, other) => Err(SessionError::Protocol(format!(
                "expected FileReady for {size} bytes, got {other:?}"
            ))),
            (
                _,
                Message::FileSent {
                    written_ns,
                    acked_ns,
                },
            ) => {
                let sent = Message::FileSent {
                    written_ns,
                    acked_ns,
                };
                self.events.bytes(
                    Toward::Client,
                    &codec::to_vec(&sent).unwrap_or_default(),
                    || "file sent".to_string(),
                );
                self.sent = Some((written_ns, acked_ns));
                self.step = Step::Done;
                Ok(())
            }
            (_, other) => Err(SessionError::Protocol(format!(
                "expected FileSent after the file, got {:?}",
                other.kind()
            ))),
        }
    }

    /// The last byte came: the model holds FileReady and the file as the
    /// one write the server made of them.
    fn body_done(&mut self) {
        if self.events.recording() {
            let head = codec::to_vec(&Message::FileReady { size: self.size }).unwrap_or_default();
            self.events.record(Record::File {
                toward: Toward::Client,
                head,
                len: self.size,
                comment: "file".to_string(),
            });
        }
        self.step = Step::Trailer;
    }

    /// The connection ended.
    pub fn handle_eof(&mut self) -> SessionError {
        match self.step {
            Step::Body => SessionError::Short {
                expected: self.size,
                got: self.receiver.got(),
            },
            _ if self.inbox.is_empty() => SessionError::closed(),
            _ => SessionError::truncated(),
        }
    }

    /// When silence fails the download.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.patience.deadline(self.wants_input())
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        self.patience.check(now, self.wants_input())
    }

    /// Whether bytes are awaited.
    pub fn wants_input(&self) -> bool {
        matches!(self.step, Step::Ready | Step::Body | Step::Trailer)
    }

    /// File bytes still to come while they are coming, for a driver that
    /// reads them in blocks.
    pub fn bulk(&self) -> Option<Bulk> {
        (self.step == Step::Body).then(|| Bulk::sized(&self.receiver))
    }

    /// The receiver, for its running figures.
    pub fn receiver(&self) -> &FileReceiver {
        &self.receiver
    }

    /// Whether FileSent came.
    pub fn is_done(&self) -> bool {
        self.step == Step::Done
    }

    /// The figures, once done.
    pub fn finish(self) -> Option<FileFigures> {
        let (written_ns, acked_ns) = self.sent?;
        let ready = self.ready_at?;
        let end = self.receiver.last().unwrap_or(ready);
        let head = (HEADER_LEN + 8) as u64;
        // A paced request carries its rate too.
        let up = if self.rate_bps == 0 { head } else { head + 8 };
        Some(FileFigures {
            size: self.size,
            first: self.receiver.first().unwrap_or(end),
            end,
            progress: self.receiver.progress().to_vec(),
            written: written_ns as f64 / 1e9,
            acked: (acked_ns > 0).then_some(acked_ns as f64 / 1e9),
            shape: Shape::File {
                up,
                down: head + self.size,
                trailer: (HEADER_LEN + 16) as u64,
            },
        })
    }
}

/// An Error message's bytes.
fn error_bytes(code: crate::proto::ErrorCode, message: &str) -> Vec<u8> {
    codec::to_vec(&Message::error(code, message)).unwrap_or_default()
}

/// The client's side of an upload: FileReady and `size` bytes of the
/// generated file, then the receiver's FileSent.
///
/// The lab's server does not take uploads yet (it refuses a FileReady from
/// a client); this is the exchange the next version speaks, driven in
/// memory against [`super::FramedServer::accept_uploads`].
#[derive(Debug)]
pub struct UploadClient {
    sender: FileSender,
    patience: Patience,
    inbox: Inbox,
    received_ns: Option<u64>,
}

impl UploadClient {
    /// An upload of `size` bytes from `start`, paced at `rate_bps` (0: not).
    pub fn new(start: Instant, size: u64, rate_bps: u64, timeout: Duration) -> UploadClient {
        let head = codec::to_vec(&Message::FileReady { size }).unwrap_or_default();
        UploadClient {
            sender: FileSender::new(start, head, size, rate_bps),
            patience: Patience::new(start, timeout),
            inbox: Inbox::new(),
            received_ns: None,
        }
    }

    /// The next write of the file, when due.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let t = self.sender.poll_transmit(now, buf)?;
        self.patience.heard(now);
        Some(t)
    }

    /// The receiver's answer.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) -> Result<(), SessionError> {
        self.patience.heard(now);
        let mut at = 0;
        while at < bytes.len() && self.received_ns.is_none() {
            let (n, r) = self.inbox.take(&bytes[at..]);
            at += n;
            match r {
                Ok(None) => {}
                Ok(Some(Message::FileSent { written_ns, .. })) if self.sender.is_done() => {
                    self.received_ns = Some(written_ns);
                }
                Ok(Some(Message::Error { code, message })) => {
                    return Err(SessionError::Refused { code, message });
                }
                Ok(Some(other)) => {
                    return Err(SessionError::Protocol(format!(
                        "expected FileSent after the upload, got {:?}",
                        other.kind()
                    )));
                }
                Err(e) => return Err(SessionError::Protocol(e.to_string())),
            }
        }
        Ok(())
    }

    /// The next paced write's turn, or the deadline of the answer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.sender.is_done() {
            return self.sender.poll_timeout();
        }
        self.patience.deadline(self.wants_input())
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        self.patience.check(now, self.wants_input())
    }

    /// Whether the answer is awaited.
    pub fn wants_input(&self) -> bool {
        self.sender.is_done() && self.received_ns.is_none()
    }

    /// Whether the receiver confirmed the whole file.
    pub fn is_done(&self) -> bool {
        self.received_ns.is_some()
    }

    /// File bytes handed out so far.
    pub fn bytes(&self) -> u64 {
        self.sender.offset()
    }

    /// The receiver's time from FileReady to the last byte, ns, once done.
    pub fn received_ns(&self) -> Option<u64> {
        self.received_ns
    }
}
