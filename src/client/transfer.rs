//! A file transfer as the command line asks for it: which way the bytes go
//! ([`Direction`]), how much or for how long ([`Transfer`]), and
//! [`Client::transfer`], the one place that picks the exchange that
//! carries it out.

use std::io::Write;
use std::time::Duration;

use super::report::Report;
use super::{Client, ClientError};

/// Which way a file goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The server sends, the client verifies (the default).
    Download,
    /// The client sends, the server verifies.
    Upload,
}

impl Direction {
    /// Its name in reports and JSON: `download` or `upload`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Download => "download",
            Direction::Upload => "upload",
        }
    }
}

/// One flow's transfer: a size, a time, or both (whichever comes first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// Which way the file goes.
    pub direction: Direction,
    /// Bytes to send (`--file N`); `None`: no size cap.
    pub size: Option<u64>,
    /// How long to send (`-t DUR`); `None`: until `size` is sent.
    pub time: Option<Duration>,
    /// The sender's pace, bit/s of payload (0: as fast as it can); the
    /// same pace the client's transport settings carry.
    pub rate_bps: u64,
}

impl Client {
    /// Carries out `t`, writing a downloaded file to `sink` too if given.
    /// Every transfer runs over both transports: a TransferRequest over
    /// TCP, a FileRequest with its upload and time over UDP.
    pub fn transfer(
        &mut self,
        t: &Transfer,
        sink: Option<&mut dyn Write>,
    ) -> Result<Report, ClientError> {
        if t.size.is_none() && t.time.is_none() {
            return Err(ClientError::Usage(
                "a transfer needs a size (--file N) or a time (-t DUR)".to_string(),
            ));
        }
        match self {
            Client::Tcp(c) => c.transfer(t, sink),
            Client::Udp(c, u) => c.transfer(t, u, sink),
        }
    }
}
