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
    /// Over UDP every kind runs; over TCP this build runs sized downloads,
    /// and refuses uploads and timed runs as not available yet.
    pub fn transfer(
        &mut self,
        t: &Transfer,
        sink: Option<&mut dyn Write>,
    ) -> Result<Report, ClientError> {
        if let Client::Udp(c, u) = self {
            return c.transfer(t, u, sink);
        }
        match (t.direction, t.size, t.time) {
            (Direction::Download, Some(size), None) => self.file(size, sink),
            (Direction::Upload, _, _) => Err(ClientError::Usage(
                "--upload is not available yet in this build".to_string(),
            )),
            (Direction::Download, _, Some(_)) => Err(ClientError::Usage(
                "-t (a timed transfer) is not available yet in this build".to_string(),
            )),
            (Direction::Download, None, None) => Err(ClientError::Usage(
                "a transfer needs a size (--file N) or a time (-t DUR)".to_string(),
            )),
        }
    }
}
