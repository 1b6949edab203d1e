//! The lab's exchanges over one TCP connection, both sides, as pure state
//! machines.
//!
//! - the client's actions, one [`ClientAction`] each: [`EchoClient`],
//!   [`FileClient`] (a download, every byte verified), [`StreamClient`]
//!   (sequence checks; a server that lies about its count is a protocol
//!   error), [`UploadClient`] (the client sends a generated file) and
//!   [`TransferClient`] (a TransferRequest either way, sized or timed,
//!   ending with the server's [`crate::proto::Results`]);
//! - the server's side, one [`ServerSession`] per connection: the first
//!   byte decides between the framed protocol ([`FramedServer`]: requests
//!   checked against [`crate::proto::Limits`], replies paced or on their
//!   deadlines, refusals as Error messages) and plain text ([`TextServer`]:
//!   one line, one answer, as with `nc`).
//!
//! A session is handed the bytes of the stream as they come, in pieces of
//! any size: half a message is "not enough bytes yet", never an error. What
//! it wants sent comes out of `poll_transmit`, written into the driver's
//! buffer. What the model capture should hold comes out of `poll_event` as
//! [`Record`]s, in the order the instruments want them, and only when the
//! driver asked for them (`set_recording`), so an action without a capture
//! builds no comment and copies no message.

mod bulk;
mod chunks;
mod client;
mod echo;
mod error;
mod file;
mod file_client;
mod inbox;
mod server;
mod server_reply;
mod server_stamps;
mod server_transfer;
mod stream;
pub mod stream_stamps;
mod text;
mod transfer_client;

#[cfg(test)]
mod tests;

pub use bulk::{BlockRead, Bulk};
pub use chunks::{ChunkReader, Piece};
pub use client::{ClientAction, Finished};
pub use echo::EchoClient;
pub use error::SessionError;
pub use file::{DATA_BODY, FILE_CHUNK, FIRST_CHUNK, PACED_SLICE, PROGRESS_STEP};
pub use file::{FileReceiver, FileSender};
pub use file_client::{FileClient, FileFigures, UploadClient};
pub use inbox::Inbox;
pub use server::{ACK_WAIT, Ended, FramedServer, ServerFigures, ServerSession};
pub use server_transfer::Readings;
pub use stream::{StreamClient, StreamFigures, stream_comment};
pub use text::TextServer;
pub use transfer_client::{TransferAsk, TransferClient, TransferFigures};

use std::time::Duration;

/// The instant of the `i`-th of deadlines `interval` apart from `t0`.
pub(crate) fn deadline(t0: std::time::Instant, interval: Duration, i: u32) -> std::time::Instant {
    t0 + interval.saturating_mul(i)
}

/// How long a client's action waits with nothing heard from the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Patience {
    heard: std::time::Instant,
    timeout: Duration,
}

impl Patience {
    /// Waits `timeout` from `now` on.
    pub(crate) fn new(now: std::time::Instant, timeout: Duration) -> Patience {
        Patience {
            heard: now,
            timeout,
        }
    }

    /// Something was sent or heard at `now`: the wait starts again.
    pub(crate) fn heard(&mut self, now: std::time::Instant) {
        self.heard = now;
    }

    /// The deadline, while `waiting`.
    pub(crate) fn deadline(&self, waiting: bool) -> Option<std::time::Instant> {
        waiting.then(|| self.heard + self.timeout)
    }

    /// Fails once the deadline has passed at `now`, while `waiting`.
    pub(crate) fn check(&self, now: std::time::Instant, waiting: bool) -> Result<(), SessionError> {
        match self.deadline(waiting) {
            Some(t) if now >= t => Err(SessionError::Timeout(self.timeout)),
            _ => Ok(()),
        }
    }
}

/// Which way bytes went, for the model capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toward {
    /// From the client to the server.
    Server,
    /// From the server to the client.
    Client,
}

/// One entry of the model capture, as the session saw it happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// One send of `bytes`.
    Bytes {
        /// Which way.
        toward: Toward,
        /// What went, as one write.
        bytes: Vec<u8>,
        /// What the frames carry, for a reader of the capture.
        comment: String,
    },
    /// One write of `head` (a file's framing, maybe empty) and `len` bytes
    /// of the generated file after it.
    File {
        /// Which way.
        toward: Toward,
        /// The framing before the file bytes.
        head: Vec<u8>,
        /// File bytes.
        len: u64,
        /// What the frames carry.
        comment: String,
    },
    /// One write of `head`, then `len` bytes of the generated file from
    /// offset 0 as FileData messages of [`DATA_BODY`] bytes each (the last
    /// may be shorter), then, when `end`, the FileEnd that counts them: a
    /// timed file.
    Timed {
        /// Which way.
        toward: Toward,
        /// The framing before the first FileData.
        head: Vec<u8>,
        /// File bytes.
        len: u64,
        /// Whether the FileEnd follows.
        end: bool,
        /// What the frames carry.
        comment: String,
    },
}

/// Something the driver acts on besides sending: an entry for the model,
/// or a change to the instruments around the transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An entry for the model capture.
    Record(Record),
    /// A paced file starts: the kernel may pace the socket at this many
    /// bytes per second (`Some`), or the pacing ends (`None`).
    Pacing(Option<u64>),
    /// A stream starts: its deadlines come `interval` apart.
    StreamStarted {
        /// The stream's interval.
        interval: Duration,
    },
    /// A transfer asks the server's socket for a marking and a congestion
    /// control before anything of it is sent, and its window starts: the
    /// driver applies them and answers with `handle_applied`.
    TransferStarting {
        /// The TOS byte to set (`IP_TOS` / `IPV6_TCLASS`).
        tos: Option<u8>,
        /// The congestion control to set (`TCP_CONGESTION`).
        congestion: Option<String>,
    },
    /// A transfer is over: the driver reads the socket and the CPU spent
    /// since it started and answers with `handle_results`.
    WantResults,
    /// A stream ended after `sent` segments.
    StreamEnded {
        /// Segments sent.
        sent: u32,
        /// The stream's interval.
        interval: Duration,
    },
}

/// A queue of events, with recording on or off.
#[derive(Debug, Default)]
pub(crate) struct Events {
    queue: std::collections::VecDeque<Event>,
    recording: bool,
}

impl Events {
    /// Turns the model's records on or off.
    pub(crate) fn set_recording(&mut self, on: bool) {
        self.recording = on;
    }

    /// Whether records are wanted.
    pub(crate) fn recording(&self) -> bool {
        self.recording
    }

    /// Queues `bytes` sent `toward`, the comment built only when recording.
    pub(crate) fn bytes(&mut self, toward: Toward, bytes: &[u8], comment: impl FnOnce() -> String) {
        if self.recording {
            self.record(Record::Bytes {
                toward,
                bytes: bytes.to_vec(),
                comment: comment(),
            });
        }
    }

    /// Queues a message sent `toward`, with the comment that names it.
    pub(crate) fn message(&mut self, toward: Toward, msg: &crate::proto::Message) {
        if self.recording {
            if let Ok(bytes) = crate::proto::codec::to_vec(msg) {
                self.record(Record::Bytes {
                    toward,
                    bytes,
                    comment: message_comment(msg),
                });
            }
        }
    }

    /// Queues a record when recording.
    pub(crate) fn record(&mut self, r: Record) {
        if self.recording {
            self.queue.push_back(Event::Record(r));
        }
    }

    /// Queues an event that is not a record.
    pub(crate) fn push(&mut self, e: Event) {
        self.queue.push_back(e);
    }

    /// Drops the records queued since the driver last took events (what
    /// a failed write would have recorded).
    pub(crate) fn drop_records(&mut self) {
        self.queue.retain(|e| !matches!(e, Event::Record(_)));
    }

    /// The next event.
    pub(crate) fn pop(&mut self) -> Option<Event> {
        self.queue.pop_front()
    }
}

/// How much a file request asks for: its size, its time, or both
/// ("1000", "for 5s", "1000 or 5s"); a request without a time reads as it
/// always did.
pub fn request_amount(size: u64, time_ns: u64) -> String {
    let time = std::time::Duration::from_nanos(time_ns);
    match (size, time_ns) {
        (size, 0) => size.to_string(),
        (0, _) => format!("for {time:?}"),
        (size, _) => format!("{size} or {time:?}"),
    }
}

/// The lab event a message is, as a frame comment.
pub fn message_comment(msg: &crate::proto::Message) -> String {
    use crate::proto::Message;
    match msg {
        Message::EchoRequest { seq, .. } => format!("echo {seq} request"),
        Message::EchoReply { seq, .. } => format!("echo {seq} reply"),
        Message::StampedEchoRequest { seq, .. } => format!("echo {seq} request, stamped"),
        Message::StampedEchoReply { seq, .. } => format!("echo {seq} reply, stamped"),
        Message::FileRequest { size, rate_bps: 0 } => format!("file request {size}"),
        Message::FileRequest { size, rate_bps } => {
            format!("file request {size} at {rate_bps} bit/s")
        }
        Message::FileReady { size } => format!("file ready {size}"),
        Message::FileSent { .. } => "file sent".to_string(),
        Message::StreamRequest {
            count,
            size,
            interval_ns,
        } => format!("stream request {count} x {size} bytes every {interval_ns} ns"),
        Message::StampedStreamRequest {
            count,
            size,
            interval_ns,
        } => format!("stream request {count} x {size} bytes every {interval_ns} ns, stamped"),
        Message::StreamStamp { seq, .. } => format!("stream stamp {seq}"),
        Message::StreamStart { .. } => "stream start".to_string(),
        Message::StreamSegment { seq, .. } => format!("stream seq {seq}"),
        Message::StreamEnd { .. } => "stream end".to_string(),
        Message::Error { message, .. } => format!("error: {message}"),
        Message::FileData { data } => format!("file data {} bytes", data.len()),
        Message::FileEnd { bytes } => format!("file end {bytes}"),
        Message::TransferRequest {
            direction,
            size,
            time_ns,
            ..
        } => format!(
            "transfer request {} {}",
            direction.name(),
            request_amount(*size, *time_ns)
        ),
        Message::Results(r) => match r.bytes {
            Some(bytes) => format!("results {bytes}"),
            None => "results".to_string(),
        },
    }
}
