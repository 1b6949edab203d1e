//! The system-call boundary: sockets built with `socket2`, their options,
//! batched UDP I/O (GSO, `recvmmsg`, GRO), a framed connection that turns a
//! TCP stream into lab messages, the busy-poll receive of `--spin`, the
//! marking of packets (DSCP and ECN), congestion control per socket, the
//! CPU a flow used, a queue's counters read from another network namespace
//! (`qdisc`), the kernel's timestamps of packets ([`timestamping`]) and
//! whether an interface has a clock to take them ([`hwstamp`]).
//!
//! Everything here is thin: it sets what the command line asked for, reads
//! back what the kernel really applied, and hands bytes to the sans-IO
//! [`crate::proto`] codec.

pub mod batch;
mod cmsg;
pub mod congestion;
pub mod counters;
pub mod framed;
pub mod hwstamp;
pub mod inbox;
pub mod marking;
pub mod qdisc;
pub mod rusage;
pub mod socket;
pub mod spin;
pub mod tcpinfo;
pub mod timestamping;
pub mod udp;

pub use framed::{ConnError, Framed};
pub use socket::{Applied, NetError, SockOpts};

/// Whether a receive or an accept ended only because nothing came within
/// the socket's timeout (or a signal cut the wait short): the caller looks
/// at its clock and its stop flag and waits again.
pub fn nothing_came(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    )
}

/// Sends our FIN and reads (and drops) what the peer still sends until it
/// closes too, or `wait` has passed: the orderly close both ends use, so
/// that unread bytes do not turn the close into a reset and a capture
/// stopped next holds the whole teardown.
pub fn close_and_drain(s: &std::net::TcpStream, wait: std::time::Duration) {
    if s.shutdown(std::net::Shutdown::Write).is_err() {
        return;
    }
    let deadline = std::time::Instant::now() + wait;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match std::io::Read::read(&mut &*s, &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
