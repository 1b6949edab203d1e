//! Why a client's TCP action failed, as the session sees it.

use std::time::Duration;

use crate::content::Mismatch;
use crate::proto::ErrorCode;

/// Why a client session ended before its action was done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The server answered with an Error message.
    #[error("the server refused: {message}")]
    Refused {
        /// The server's code.
        code: ErrorCode,
        /// The server's sentence.
        message: String,
    },
    /// The server said something that does not fit the conversation, or
    /// closed the connection where a message was due.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A byte of the file was wrong.
    #[error("verification failed: {0}")]
    Verify(#[from] Mismatch),
    /// The server found a wrong byte in the upload.
    #[error("the server found a wrong byte in the upload at offset {offset}: {message}")]
    Rejected {
        /// The offset of the wrong byte in the file.
        offset: u64,
        /// The server's sentence.
        message: String,
    },
    /// The file ended early.
    #[error("the file ended after {got} of {expected} bytes")]
    Short {
        /// Bytes expected.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// The server ended the stream before the count it had announced.
    #[error("the server ended the stream early: it sent {sent} of {planned} segments")]
    Cut {
        /// Segments the server says it sent.
        sent: u64,
        /// Segments asked for.
        planned: u64,
    },
    /// Nothing came within the wait.
    #[error("no reply from the server within {0:?}")]
    Timeout(Duration),
    /// The request cannot be made as asked.
    #[error("{0}")]
    Usage(String),
}

impl SessionError {
    /// The server closed the connection where a message was due.
    pub(crate) fn closed() -> SessionError {
        SessionError::Protocol("the server closed the connection".to_string())
    }

    /// The server closed the connection inside a message.
    pub(crate) fn truncated() -> SessionError {
        SessionError::Protocol(
            "the peer closed the connection in the middle of a message".to_string(),
        )
    }
}
