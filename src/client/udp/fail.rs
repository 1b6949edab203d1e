//! How a UDP session's failure reaches the user: the client's error for
//! each of the session's, with the hint a lost echo deserves.

use std::time::Duration;

use super::UdpClient;
use super::sink::Sink;
use crate::client::ClientError;
use crate::session::udp::client::SessionError;

impl UdpClient {
    /// The client's error for a session's.
    pub(super) fn fail(&self, e: SessionError, sink: Option<&Sink<'_>>) -> ClientError {
        match e {
            SessionError::Refused { code, message } => ClientError::Refused { code, message },
            SessionError::Protocol(m) => ClientError::Protocol(m),
            SessionError::NoAnswer { tries } => ClientError::NoAnswer {
                addr: self.target,
                tries,
            },
            SessionError::NoEcho { count, wait } => self.no_answer_echo(count, wait),
            SessionError::Cut {
                what,
                sent,
                planned,
                unit,
            } => ClientError::Cut {
                what,
                sent,
                planned,
                unit,
            },
            SessionError::Verify(m) => ClientError::Verify(m),
            SessionError::Rejected { offset, message } => ClientError::Rejected { offset, message },
            SessionError::Order(o) => match sink {
                Some(s) => s.incomplete(o.to_string()),
                None => ClientError::Protocol(o.to_string()),
            },
        }
    }

    fn no_answer_echo(&self, count: u32, wait: Duration) -> ClientError {
        ClientError::Protocol(format!(
            "none of {count} echoes came back within {wait:?}: is a UDP server running on {}? start one with `ardei-lab server --udp --bind {}`",
            self.target, self.target
        ))
    }
}
