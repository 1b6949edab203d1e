//! The system-call boundary: sockets built with `socket2`, their options,
//! batched UDP I/O (GSO, `recvmmsg`, GRO), a framed connection that turns a
//! TCP stream into lab messages, and the busy-poll receive of `--spin`.
//!
//! Everything here is thin: it sets what the command line asked for, reads
//! back what the kernel really applied, and hands bytes to the sans-IO
//! [`crate::proto`] codec.

pub mod batch;
pub mod counters;
pub mod framed;
pub mod socket;
pub mod spin;
pub mod tcpinfo;
pub mod udp;

pub use framed::{ConnError, Framed};
pub use socket::{Applied, NetError, SockOpts};
