//! `ardei-lab client`: asks a server for an echo, a file or a stream, measures
//! what comes back, and reports it.
//!
//! - [`tcp`]: the three actions over a TCP connection.
//! - [`report`]: what a run measured, as text for people and JSON for programs.
//! - [`prompt`]: the interactive prompt.

pub mod prompt;
pub mod report;
pub mod tcp;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::content::Mismatch;
use crate::net::{NetError, SockOpts};
use crate::proto::ErrorCode;

/// Default number of echo round trips.
pub const DEFAULT_ECHO_COUNT: u32 = 1;
/// Default number of stream segments.
pub const DEFAULT_STREAM_COUNT: u32 = 100;
/// Default stream segment size, whole message, header included.
pub const DEFAULT_SEGMENT_SIZE: u32 = 64;
/// How long the client waits for a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the client waits for a reply before it gives up.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// One thing to ask the server for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `count` round trips of `data`, one every `interval`.
    Echo {
        /// The bytes to echo.
        data: Vec<u8>,
        /// Round trips.
        count: u32,
        /// Time between sends (0: back to back).
        interval: Duration,
    },
    /// A file of `size` bytes.
    File {
        /// Bytes wanted.
        size: u64,
    },
    /// `count` segments of `size` bytes every `interval`.
    Stream {
        /// Interval between segments.
        interval: Duration,
        /// Segments wanted.
        count: u32,
        /// Whole segment message size.
        size: u32,
    },
}

/// A validated client configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server.
    pub target: SocketAddr,
    /// Socket options.
    pub opts: SockOpts,
    /// Write the file's content to stdout.
    pub print_file: bool,
}

/// Why a client action failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting or setting an option failed.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The connection failed.
    #[error("connection to the server failed: {0}")]
    Io(#[from] io::Error),
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
    /// A byte of the file was wrong.
    #[error("verification failed: {0}")]
    Verify(#[from] Mismatch),
    /// The file ended early.
    #[error("the file ended after {got} of {expected} bytes")]
    Short {
        /// Bytes expected.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// No reply in time.
    #[error("no reply from the server within {0:?}")]
    Timeout(Duration),
}

impl ClientError {
    /// The process exit status for this failure: 3 refused by the server,
    /// 4 verification failed, 1 anything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            ClientError::Refused { .. } => 3,
            ClientError::Verify(_) | ClientError::Short { .. } => 4,
            _ => 1,
        }
    }

    pub(crate) fn from_io(e: io::Error, timeout: Duration) -> ClientError {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ClientError::Timeout(timeout),
            _ => ClientError::Io(e),
        }
    }
}
