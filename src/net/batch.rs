//! Many UDP datagrams per system call: UDP GSO on send, and what the
//! receive side shares with it (udp(7)); the receive slots themselves are
//! [`super::inbox`]'s.
//!
//! - **GSO** (`UDP_SEGMENT` as a control message on `sendmsg`): the sender
//!   hands the kernel one buffer of datagrams laid end to end, all
//!   `segment` bytes long but the last, and the kernel cuts it into that
//!   many datagrams (on loopback only when they reach the receiver). At most
//!   [`gso_segments`] datagrams (the kernel's `UDP_MAX_SEGMENTS`: 128 on
//!   current kernels, 64 on older ones, found out at the first refusal) and
//!   [`GSO_MAX_BYTES`] bytes per call.
//! - **GRO** (`UDP_GRO` socket option, [`set_gro`]): the kernel may hand up
//!   several datagrams of one flow in one buffer, with their size in a
//!   `UDP_GRO` control message; [`split`] cuts it back into datagrams.
//! - **TOS** per datagram: a send may carry its own TOS byte in an
//!   `IP_TOS` / `IPV6_TCLASS` control message ([`send_marked`],
//!   [`send_gso_marked`]), so one socket marks each peer's datagrams as it
//!   should; an inbox told to ([`Inbox::set_tos`], with
//!   [`crate::net::marking::set_recv_tos`] on the socket) reports the byte
//!   each buffer came with ([`Received::tos`]).
//!
//! Only [`split`] is pure; the rest is the thin layer over the system
//! calls.

use std::io;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sys::socket::{ControlMessage, MsgFlags, SockaddrStorage, sendmsg};

use super::cmsg::Mark;
pub use super::inbox::{Inbox, RECV_BATCH, Received, RecvMethod, slots_for};

pub use crate::session::udp::server::plan::{GSO_MAX_BYTES, GSO_MAX_SEGMENTS};
/// The same limit on older kernels.
pub const GSO_OLD_SEGMENTS: usize = 64;

/// The limit this process works with: [`GSO_MAX_SEGMENTS`] until a kernel
/// refuses a send of more than [`GSO_OLD_SEGMENTS`].
static GSO_SEGMENTS: AtomicUsize = AtomicUsize::new(GSO_MAX_SEGMENTS);

/// Most datagrams one GSO send carries in this process.
pub fn gso_segments() -> usize {
    GSO_SEGMENTS.load(Ordering::Relaxed)
}

/// After a refused GSO send of `n` datagrams: whether the refusal may be
/// the older kernels' limit of 64 (`n` above it, and the limit not yet
/// lowered). Lowers the limit for the whole process when so; the caller
/// then tries again in batches of 64, and calls [`restore_gso_segments`]
/// if those are refused too (then the refusal had another cause).
pub fn lower_gso_segments(n: usize) -> bool {
    n > GSO_OLD_SEGMENTS
        && GSO_SEGMENTS
            .compare_exchange(
                GSO_MAX_SEGMENTS,
                GSO_OLD_SEGMENTS,
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok()
}

/// Puts the limit back to [`GSO_MAX_SEGMENTS`] (see [`lower_gso_segments`]).
pub fn restore_gso_segments() {
    GSO_SEGMENTS.store(GSO_MAX_SEGMENTS, Ordering::Relaxed);
}

/// Sends `buf` to `to` as datagrams of `segment` bytes (the last may be
/// shorter), cut by the kernel: one `sendmsg` with a `UDP_SEGMENT` control
/// message.
pub fn send_gso(
    sock: &impl AsRawFd,
    buf: &[u8],
    to: SocketAddr,
    segment: u16,
) -> io::Result<usize> {
    send_gso_marked(sock, buf, to, segment, None)
}

/// As [`send_gso`], every datagram with TOS byte `tos` when given (else
/// the socket's own).
pub fn send_gso_marked(
    sock: &impl AsRawFd,
    buf: &[u8],
    to: SocketAddr,
    segment: u16,
    tos: Option<u8>,
) -> io::Result<usize> {
    let mark = tos.map(|t| Mark::new(to.is_ipv6(), t));
    let gso = ControlMessage::UdpGsoSegments(&segment);
    match &mark {
        Some(m) => send_with(sock, buf, to, &[gso, m.cmsg()]),
        None => send_with(sock, buf, to, &[gso]),
    }
}

/// Sends one datagram to `to` with TOS byte `tos` when given (else the
/// socket's own). On a connected socket `to` must be its peer.
pub fn send_marked(
    sock: &impl AsRawFd,
    buf: &[u8],
    to: SocketAddr,
    tos: Option<u8>,
) -> io::Result<usize> {
    match tos.map(|t| Mark::new(to.is_ipv6(), t)) {
        Some(m) => send_with(sock, buf, to, &[m.cmsg()]),
        None => send_with(sock, buf, to, &[]),
    }
}

fn send_with(
    sock: &impl AsRawFd,
    buf: &[u8],
    to: SocketAddr,
    cmsgs: &[ControlMessage<'_>],
) -> io::Result<usize> {
    let addr = SockaddrStorage::from(to);
    let iov = [IoSlice::new(buf)];
    sendmsg(
        sock.as_raw_fd(),
        &iov,
        cmsgs,
        MsgFlags::empty(),
        Some(&addr),
    )
    .map_err(|e| io::Error::from_raw_os_error(e as i32))
}

/// Whether a GSO send failed because the kernel or the route does not do
/// GSO (no checksum offload on the device, an old kernel, IPsec), so that
/// one datagram per call is the way: `EIO`, `EINVAL`, `ENOPROTOOPT`,
/// `EOPNOTSUPP`.
pub fn gso_refused(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EIO | libc::EINVAL | libc::ENOPROTOOPT | libc::EOPNOTSUPP)
    )
}

/// Turns UDP GRO on a socket on (`setsockopt(SOL_UDP, UDP_GRO)`).
pub fn set_gro(sock: &impl AsRawFd, on: bool) -> io::Result<()> {
    let value: libc::c_int = on.into();
    // SAFETY: `value` is a live int and its size is passed; the kernel only
    // reads it for the duration of the call.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_UDP,
            libc::UDP_GRO,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The byte ranges of the datagrams in a buffer of `len` bytes that the
/// kernel coalesced from datagrams of `gso` bytes (the last may be
/// shorter); the whole buffer when `gso` is `None` or 0.
pub fn split(len: usize, gso: Option<u16>) -> impl Iterator<Item = Range<usize>> {
    let step = match gso {
        Some(g) if g > 0 => usize::from(g),
        _ => len.max(1),
    };
    (0..len)
        .step_by(step)
        .map(move |at| at..(at + step).min(len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

    #[test]
    fn split_cuts_at_the_datagram_size_and_keeps_a_short_last() {
        let r: Vec<_> = split(640, Some(64)).collect();
        assert_eq!(r.len(), 10);
        assert_eq!(r[9], 576..640);
        let r: Vec<_> = split(150, Some(64)).collect();
        assert_eq!(r, vec![0..64, 64..128, 128..150]);
        assert_eq!(split(150, None).collect::<Vec<_>>(), vec![0..150]);
        assert_eq!(split(150, Some(0)).collect::<Vec<_>>(), vec![0..150]);
        assert_eq!(split(40, Some(64)).collect::<Vec<_>>(), vec![0..40]);
        assert_eq!(split(0, Some(64)).count(), 0);
        assert_eq!(split(0, None).count(), 0);
    }

    /// A GSO send of 10 datagrams arrives as 10 datagrams, taken in one
    /// recvmmsg; with GRO, possibly as one buffer that splits into the 10.
    #[test]
    fn gso_send_arrives_as_datagrams_in_one_batch() {
        for method in [RecvMethod::Recvmmsg, RecvMethod::Gro, RecvMethod::Recv] {
            let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
            rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            if method == RecvMethod::Gro {
                set_gro(&rx, true).unwrap();
            }
            let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
            let buf: Vec<u8> = (0..10u8).flat_map(|i| [i; 64]).chain([10u8; 20]).collect();
            match send_gso(&tx, &buf, rx.local_addr().unwrap(), 64) {
                Ok(n) => assert_eq!(n, buf.len()),
                Err(e) if gso_refused(&e) => return, // no GSO on this kernel
                Err(e) => panic!("{e}"),
            }
            let mut inbox = Inbox::new(method, 64);
            let mut datagrams = Vec::new();
            while datagrams.len() < 11 {
                let got = inbox.recv(&rx).unwrap().to_vec();
                assert!(!got.is_empty());
                for g in got {
                    assert!(!g.truncated);
                    for r in split(g.range.len(), g.gso) {
                        let b = inbox.bytes(g.range.start + r.start..g.range.start + r.end);
                        datagrams.push(b.to_vec());
                    }
                }
            }
            assert_eq!(datagrams.len(), 11, "{method:?}");
            for (i, d) in datagrams.iter().enumerate() {
                assert!(d.iter().all(|b| usize::from(*b) == i), "{method:?} {i}");
            }
            assert_eq!(datagrams[10].len(), 20);
        }
    }
}
