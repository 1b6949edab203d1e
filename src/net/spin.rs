//! Busy-poll receive (`--spin`): a receive that never sleeps.
//!
//! A receiver blocked in `recv` is woken by the scheduler when data arrives:
//! an interrupt to its CPU, a context switch, caches gone cold, microseconds
//! each round trip. A receiver that spins tries a non-blocking receive
//! again and again, and sees the data on its next try. The price is a whole
//! CPU core for as long as it waits, whether anything comes or not.
//!
//! The receives here pass `MSG_DONTWAIT` (`recv(2)`), so the socket itself
//! stays blocking: its sends keep their timeouts, and no `fcntl` toggles
//! `O_NONBLOCK` around each wait. Between two empty tries the loop hints
//! the CPU that it spins ([`std::hint::spin_loop`]); it reads the clock (for
//! the deadline) and the stop flag only every [`CLOCK_EVERY`] tries.

use std::io;
use std::mem::MaybeUninit;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::socket::MsgFlags;

/// Empty tries between two looks at the clock and the stop flag. One empty
/// `recv` costs a few hundred nanoseconds, so a deadline is seen within tens
/// of microseconds of passing.
pub const CLOCK_EVERY: u32 = 64;

/// How a busy-poll wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polled<T> {
    /// The receive returned this.
    Ready(T),
    /// The deadline passed first.
    TimedOut,
    /// The stop flag was set first.
    Stopped,
}

/// Tries `attempt` (a non-blocking receive) until it returns something
/// other than "would block", `deadline` passes, or `stop` is set. An
/// interrupted try is tried again; any other error is returned.
pub fn spin_until<T>(
    deadline: Instant,
    stop: Option<&AtomicBool>,
    mut attempt: impl FnMut() -> io::Result<T>,
) -> io::Result<Polled<T>> {
    let mut tries = 0u32;
    loop {
        match attempt() {
            Ok(v) => return Ok(Polled::Ready(v)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
        tries = tries.wrapping_add(1);
        if tries % CLOCK_EVERY == 0 {
            if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                return Ok(Polled::Stopped);
            }
            if Instant::now() >= deadline {
                return Ok(Polled::TimedOut);
            }
        }
        std::hint::spin_loop();
    }
}

/// `deadline` for a wait of `wait` from now, saturating far in the future.
pub fn deadline_in(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
}

/// One `recv(2)` with `MSG_DONTWAIT`: the bytes waiting, at most
/// `buf.len()`, or `WouldBlock` at once when there are none.
pub fn recv_dontwait(sock: &impl AsFd, buf: &mut [u8]) -> io::Result<usize> {
    nix::sys::socket::recv(sock.as_fd().as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT)
        .map_err(io::Error::from)
}

/// One `recvfrom(2)` with `MSG_DONTWAIT`: a datagram and its sender, or
/// `WouldBlock` at once when none waits.
pub fn recv_from_dontwait(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
    // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and every byte of
    // `buf` is initialised; `recv_from_with_flags` only writes initialised
    // bytes into it, so `buf` stays initialised.
    let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
    let (n, from) =
        socket2::SockRef::from(sock).recv_from_with_flags(uninit, libc::MSG_DONTWAIT)?;
    let from = from.as_socket().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "a datagram from an address that is not IP",
        )
    })?;
    Ok((n, from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_socket_times_out_and_a_full_one_is_read() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut buf = [0u8; 64];
        let t = Instant::now();
        let r = spin_until(t + Duration::from_millis(20), None, || {
            recv_from_dontwait(&a, &mut buf)
        })
        .unwrap();
        assert_eq!(r, Polled::TimedOut);
        assert!(t.elapsed() >= Duration::from_millis(20));
        assert!(t.elapsed() < Duration::from_secs(2));
        b.send_to(b"hi", a.local_addr().unwrap()).unwrap();
        let r = spin_until(deadline_in(Duration::from_secs(5)), None, || {
            recv_from_dontwait(&a, &mut buf)
        })
        .unwrap();
        assert_eq!(r, Polled::Ready((2, b.local_addr().unwrap())));
        assert_eq!(&buf[..2], b"hi");
    }

    #[test]
    fn a_stop_ends_the_wait() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(a.local_addr().unwrap()).unwrap();
        let stop = AtomicBool::new(true);
        let mut buf = [0u8; 8];
        let r = spin_until(deadline_in(Duration::MAX), Some(&stop), || {
            recv_dontwait(&a, &mut buf)
        })
        .unwrap();
        assert_eq!(r, Polled::Stopped);
    }
}
