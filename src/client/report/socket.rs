//! The client socket's options as the kernel applied them, and the report's
//! last line, which says what they were.

use std::fmt::Write as _;

use serde::Serialize;

use crate::net::Applied;
use crate::net::udp::UdpApplied;

/// The client socket's options, per transport.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum SocketReport {
    /// A TCP socket.
    Tcp(Applied),
    /// A UDP socket.
    Udp(UdpApplied),
}

impl SocketReport {
    /// The line of the text report: the options as the kernel applied them.
    pub(super) fn write_text(&self, s: &mut String) {
        match self {
            SocketReport::Tcp(a) => {
                let cc = a
                    .congestion
                    .as_ref()
                    .map_or(String::new(), |c| format!(" congestion {c}"));
                let _ = writeln!(
                    s,
                    "  socket: sndbuf {} rcvbuf {} nodelay {} mss {}{cc} (as the kernel applied them)",
                    a.sndbuf, a.rcvbuf, a.nodelay, a.mss
                );
            }
            SocketReport::Udp(a) => {
                let _ = writeln!(
                    s,
                    "  socket: sndbuf {} rcvbuf {} don't-fragment {} (as the kernel applied them)",
                    a.sndbuf, a.rcvbuf, a.dont_fragment
                );
            }
        }
    }
}
