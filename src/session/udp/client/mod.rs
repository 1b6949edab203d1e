//! The client's side of echo, file and stream over UDP, as pure sessions.
//!
//! Each action is one session: its driver hands it the datagrams of the
//! session that arrived ([`ClientSession::handle_datagram`]), asks it what
//! to send ([`ClientSession::poll_transmit`]) and when it next wants to be
//! woken ([`ClientSession::poll_timeout`], then
//! [`ClientSession::handle_timeout`]), until it is done; then it takes the
//! session's figures and the shape of what it moved ([`Tally`]), which
//! the accounting prices. No socket, clock, thread or file in here.
//!
//! - [`handshake`]: the cookie round trip, the request's retries, the End
//!   and the silence that end a transfer.
//! - [`echo`]: requests one after another, each awaited up to its timeout.
//! - [`file_recv`]: a file received, every byte verified, loss counted
//!   exactly, the bytes handed out in file order on request
//!   ([`reorder`]).
//! - [`stream`]: a stream received: delay, jitter and schedule error;
//!   [`stream_stamps`]: a stamped one's kernel stamps, paired.
//! - [`file_send`]: a generated file sent in paced datagrams (an upload),
//!   then the server's figures awaited.

pub mod echo;
pub mod file_recv;
pub mod file_send;
pub mod handshake;
#[cfg(test)]
mod pair;
#[cfg(test)]
mod pair_stamps;
#[cfg(test)]
mod pair_transfer;
pub mod reorder;
#[cfg(test)]
mod script;
pub mod stream;
pub mod stream_stamps;

use std::time::Instant;

use crate::content::Mismatch;
use crate::proto::datagram;
use crate::proto::message::ErrorCode;
use crate::session::Transmit;

pub use echo::Echo;
pub use file_recv::FileReceive;
pub use file_send::FileSend;
pub use handshake::{Asking, Ended};
pub use stream::StreamReceive;

/// Why a client session failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The server refused the request.
    #[error("the server refused: {message}")]
    Refused {
        /// The server's code.
        code: ErrorCode,
        /// The server's sentence.
        message: String,
    },
    /// The server said something that does not fit the conversation.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A Hello or a request went unanswered every time.
    #[error("no answer after {tries} tries")]
    NoAnswer {
        /// Sends of it.
        tries: u32,
    },
    /// Not one echo came back within its timeout.
    #[error("none of {count} echoes came back within {wait:?}")]
    NoEcho {
        /// Requests sent.
        count: u32,
        /// How long each was awaited.
        wait: std::time::Duration,
    },
    /// The server ended a transfer before it had sent what it announced.
    #[error("the server ended the {what} early: it sent {sent} of {planned} {unit}")]
    Cut {
        /// "stream" or "file".
        what: &'static str,
        /// What the server says it sent.
        sent: u64,
        /// What it had announced.
        planned: u64,
        /// "segments" or "datagrams".
        unit: &'static str,
    },
    /// A byte of the file was wrong.
    #[error("verification failed: {0}")]
    Verify(#[from] Mismatch),
    /// The server found a wrong byte in what the client uploaded.
    #[error("the server rejected the upload: {message}")]
    Rejected {
        /// Where the first wrong byte is in the file.
        offset: u64,
        /// The server's sentence.
        message: String,
    },
    /// The file can no longer be handed out whole in order.
    #[error(transparent)]
    Order(#[from] reorder::OrderError),
}

/// Every datagram a session sent and received, and their UDP payload
/// bytes: the accounting takes out the data datagrams its figures count
/// (an echo's requests and replies, a file's FileData, a stream's
/// segments) and prices the rest as control.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Datagrams sent.
    pub tx: u64,
    /// UDP payload bytes sent.
    pub tx_bytes: u64,
    /// Datagrams of the session received.
    pub rx: u64,
    /// UDP payload bytes received.
    pub rx_bytes: u64,
}

impl Tally {
    fn sent(&mut self, t: Transmit) {
        let n = t.segment.map_or(1, |s| t.len.div_ceil(s.max(1)));
        self.tx += n as u64;
        self.tx_bytes += t.len as u64;
    }

    fn received(&mut self, d: &[u8]) {
        self.rx += 1;
        self.rx_bytes += d.len() as u64;
    }
}

/// Any client action over UDP, run by one driver loop.
#[derive(Debug)]
pub enum ClientSession {
    /// Echo requests and their replies.
    Echo(Echo),
    /// A file received.
    File(FileReceive),
    /// A stream received.
    Stream(StreamReceive),
    /// A file sent.
    Upload(FileSend),
}

macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            ClientSession::Echo($s) => $e,
            ClientSession::File($s) => $e,
            ClientSession::Stream($s) => $e,
            ClientSession::Upload($s) => $e,
        }
    };
}

impl ClientSession {
    /// The session id its datagrams carry.
    pub fn id(&self) -> u32 {
        each!(self, s => s.id())
    }

    /// Whether `d` is a lab datagram of this session.
    pub fn owns(&self, d: &[u8]) -> bool {
        datagram::parse_header(d).is_ok_and(|(_, h)| h.session == self.id())
    }

    /// A datagram of this session arrived at `now`.
    pub fn handle_datagram(&mut self, now: Instant, d: &[u8]) -> Result<(), SessionError> {
        each!(self, s => s.handle_datagram(now, d))
    }

    /// What to send now, written into `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        each!(self, s => s.poll_transmit(now, buf))
    }

    /// When the session next wants [`handle_timeout`](Self::handle_timeout).
    pub fn poll_timeout(&self) -> Option<Instant> {
        each!(self, s => s.poll_timeout())
    }

    /// Time passed: retries, timeouts, the end of a transfer.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        each!(self, s => s.handle_timeout(now))
    }

    /// Whether a datagram may come before [`poll_timeout`](Self::poll_timeout)
    /// (else the driver may simply wait for that time).
    pub fn awaits_datagram(&self) -> bool {
        each!(self, s => s.awaits_datagram())
    }

    /// Whether the action is over.
    pub fn is_done(&self) -> bool {
        each!(self, s => s.is_done())
    }

    /// Bytes counted so far and datagrams missing so far, for the ticker.
    pub fn totals(&self) -> (u64, u64) {
        each!(self, s => s.totals())
    }

    /// What the session sent and received.
    pub fn tally(&self) -> Tally {
        each!(self, s => s.tally())
    }
}
