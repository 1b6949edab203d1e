//! Any of the client's actions behind one type, so that one driver loop
//! runs them all.

use std::ops::Range;
use std::time::Instant;

use super::Bulk;
use super::echo::EchoClient;
use super::file_client::{FileClient, FileFigures, UploadClient};
use super::stream::{StreamClient, StreamFigures};
use super::transfer_client::{TransferClient, TransferFigures};
use super::{Event, SessionError};
use crate::account::beside::Shape;
use crate::latency::Recorder;
use crate::session::Transmit;

/// One action of the client over a TCP connection.
#[derive(Debug)]
pub enum ClientAction {
    /// Round trips.
    Echo(EchoClient),
    /// A download.
    File(FileClient),
    /// A stream.
    Stream(StreamClient),
    /// An upload.
    Upload(UploadClient),
    /// A TransferRequest, either way.
    Transfer(Box<TransferClient>),
}

/// What a finished action measured.
#[derive(Debug)]
pub enum Finished {
    /// An echo's round trips.
    Echo {
        /// The round-trip times.
        rtt: Recorder,
        /// Echo payload bytes.
        bytes: u64,
        /// What the accounting prices.
        shape: Shape,
        /// A stamped echo's four stamps and what they make.
        stamps: Option<Box<crate::session::stamps::EchoStamps>>,
    },
    /// A download.
    File(FileFigures),
    /// A stream.
    Stream(Box<StreamFigures>),
    /// An upload of this many bytes, received in this many ns.
    Upload {
        /// File bytes sent.
        bytes: u64,
        /// The receiver's time from FileReady to the last byte.
        received_ns: u64,
    },
    /// A transfer.
    Transfer(Box<TransferFigures>),
}

macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            ClientAction::Echo($s) => $e,
            ClientAction::File($s) => $e,
            ClientAction::Stream($s) => $e,
            ClientAction::Upload($s) => $e,
            ClientAction::Transfer($s) => $e,
        }
    };
}

impl ClientAction {
    /// What to send now, written into `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        each!(self, s => s.poll_transmit(now, buf))
    }

    /// Bytes of the stream arrived at `now`: the range of them that is file
    /// data (a download's, for a copy of it), empty for other actions.
    pub fn handle_bytes(
        &mut self,
        now: Instant,
        bytes: &[u8],
    ) -> Result<Range<usize>, SessionError> {
        match self {
            ClientAction::File(s) => s.handle_bytes(now, bytes),
            ClientAction::Echo(s) => s.handle_bytes(now, bytes).map(|()| 0..0),
            ClientAction::Stream(s) => s.handle_bytes(now, bytes).map(|()| 0..0),
            ClientAction::Upload(s) => s.handle_bytes(now, bytes).map(|()| 0..0),
            ClientAction::Transfer(s) => s.handle_bytes(now, bytes),
        }
    }

    /// The peer closed the connection: why the action cannot end well.
    pub fn handle_eof(&mut self) -> SessionError {
        match self {
            ClientAction::Echo(s) => s.handle_eof(),
            ClientAction::File(s) => s.handle_eof(),
            ClientAction::Stream(s) => s.handle_eof(),
            ClientAction::Upload(_) => SessionError::closed(),
            ClientAction::Transfer(s) => s.handle_eof(),
        }
    }

    /// When the action next wants [`ClientAction::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        each!(self, s => s.poll_timeout())
    }

    /// Time passed: a deadline that passed with nothing heard fails it.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        each!(self, s => s.handle_timeout(now))
    }

    /// Whether the action waits for bytes (rather than for its own next
    /// deadline).
    pub fn wants_input(&self) -> bool {
        each!(self, s => s.wants_input())
    }

    /// Whether the action is over, successfully.
    pub fn is_done(&self) -> bool {
        each!(self, s => s.is_done())
    }

    /// Whether the action is sending a file's bytes (an upload's body):
    /// the driver then looks for an early answer between writes.
    pub fn uploading(&self) -> bool {
        match self {
            ClientAction::Transfer(s) => s.uploading(),
            _ => false,
        }
    }

    /// What a driver reading a download's bytes in blocks may count on,
    /// while they are coming.
    pub fn bulk(&self) -> Option<Bulk> {
        match self {
            ClientAction::File(s) => s.bulk(),
            ClientAction::Transfer(s) => s.bulk(),
            _ => None,
        }
    }

    /// Payload bytes moved so far (for a running report).
    pub fn bytes(&self) -> u64 {
        match self {
            ClientAction::Echo(s) => s.bytes(),
            ClientAction::File(s) => s.receiver().got(),
            ClientAction::Stream(s) => s.bytes(),
            ClientAction::Upload(s) => s.bytes(),
            ClientAction::Transfer(s) => s.bytes(),
        }
    }

    /// Turns the model capture's records on (they cost a copy each).
    pub fn set_recording(&mut self, on: bool) {
        match self {
            ClientAction::Echo(s) => s.events.set_recording(on),
            ClientAction::File(s) => s.events.set_recording(on),
            ClientAction::Stream(s) => s.events.set_recording(on),
            ClientAction::Transfer(s) => s.events.set_recording(on),
            ClientAction::Upload(_) => {}
        }
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<Event> {
        match self {
            ClientAction::Echo(s) => s.events.pop(),
            ClientAction::File(s) => s.events.pop(),
            ClientAction::Stream(s) => s.events.pop(),
            ClientAction::Transfer(s) => s.events.pop(),
            ClientAction::Upload(_) => None,
        }
    }

    /// The figures of a finished action (`None` before it is done).
    /// The stamped echo request outstanding: its send asks for a TX stamp.
    pub fn stamped_outstanding(&self) -> Option<u32> {
        match self {
            ClientAction::Echo(e) => e.stamped_outstanding(),
            _ => None,
        }
    }

    /// What the driver read of its kernel's stamps (a stamped echo's, or
    /// the RX stamp of a read of a stamped stream).
    pub fn handle_stamp(&mut self, s: crate::session::stamps::ClientStamp) {
        use crate::session::stamps::ClientStamp;
        match (self, s) {
            (ClientAction::Echo(e), s) => e.handle_stamp(s),
            (ClientAction::Stream(st), ClientStamp::Received { rx_ns, .. }) => {
                st.handle_rx_stamp(rx_ns)
            }
            _ => {}
        }
    }

    pub fn finish(self) -> Option<Finished> {
        match self {
            ClientAction::Echo(s) => {
                let (rtt, bytes, shape, stamps) = s.finish();
                Some(Finished::Echo {
                    rtt,
                    bytes,
                    shape,
                    stamps,
                })
            }
            ClientAction::File(s) => s.finish().map(Finished::File),
            ClientAction::Stream(s) => Some(Finished::Stream(Box::new(s.finish()))),
            ClientAction::Upload(s) => Some(Finished::Upload {
                bytes: s.bytes(),
                received_ns: s.received_ns()?,
            }),
            ClientAction::Transfer(s) => s.finish().map(|f| Finished::Transfer(Box::new(f))),
        }
    }
}
