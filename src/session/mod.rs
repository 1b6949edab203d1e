//! The lab's exchanges as pure state machines: echo, file and stream, both
//! sides, over both transports.
//!
//! A session owns no socket, reads no clock, starts no thread and opens no
//! file. Its driver (in `client/` or `server/`) hands it the time and what
//! arrived, and asks it what to send and when it next wants to be woken,
//! as quinn-proto's connection does:
//!
//! - `handle…(now, bytes)`: bytes of a TCP stream or one datagram arrived;
//! - `poll_transmit(now, buf)`: what to send now, written into the driver's
//!   buffer (a [`Transmit`] says how long it is and how to hand it over);
//! - `poll_timeout()`: the next instant at which the session wants
//!   `handle_timeout(now)`, whether or not anything arrives;
//! - at the end, its figures and the shape of what it moved, which the
//!   accounting prices.
//!
//! [`stamps`] puts an echo's four kernel timestamps together, which the
//! drivers read and hand in as they hand in the time; [`offset`] estimates
//! how far the server's clock is from the client's from such echoes, and
//! corrects a one-way delay with it.
//!
//! Time is a [`std::time::Instant`] passed in. The protocol's timestamps
//! are nanoseconds on the Unix-epoch clock; an [`Epoch`], pinned once by the
//! driver, turns one into the other by arithmetic alone. Tests drive a
//! client session against a server session in memory on virtual time: a
//! base instant plus simulated durations, deterministic run after run.

mod epoch;
pub mod offset;
mod pacer;
pub mod stamps;
pub mod tcp;
pub mod udp;

/// A seeded network for tests on virtual time.
#[cfg(test)]
pub mod testnet;

pub use epoch::Epoch;
pub use pacer::Pacer;

/// One send that a session asks its driver for: `len` bytes at the start of
/// the buffer it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// How many bytes of the buffer to send.
    pub len: usize,
    /// Over UDP, `Some(n)`: the buffer holds consecutive datagrams of `n`
    /// bytes each (the last may be shorter), to go out in one UDP GSO send
    /// or one send per datagram; `None`: one datagram (or, over TCP, bytes
    /// of the stream).
    pub segment: Option<usize>,
}
