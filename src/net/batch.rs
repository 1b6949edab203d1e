//! Many UDP datagrams per system call: UDP GSO on send, `recvmmsg` and UDP
//! GRO on receive (udp(7), recvmmsg(2)).
//!
//! - **GSO** (`UDP_SEGMENT` as a control message on `sendmsg`): the sender
//!   hands the kernel one buffer of datagrams laid end to end, all
//!   `segment` bytes long but the last, and the kernel cuts it into that
//!   many datagrams (on loopback only when they reach the receiver). At most
//!   [`gso_segments`] datagrams (the kernel's `UDP_MAX_SEGMENTS`: 128 on
//!   current kernels, 64 on older ones, found out at the first refusal) and
//!   [`GSO_MAX_BYTES`] bytes per call.
//! - **recvmmsg** with `MSG_WAITFORONE`: waits (as long as `SO_RCVTIMEO`
//!   allows) for one datagram, then takes every one already queued, up to
//!   the number of slots, in one call.
//! - **GRO** (`UDP_GRO` socket option): the kernel may hand up several
//!   datagrams of one flow in one buffer, with their size in a `UDP_GRO`
//!   control message; [`split`] cuts it back into datagrams.
//!
//! Only [`split`] and the slot sizing are pure; the rest is the thin layer
//! over the system calls.

use std::io;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sys::socket::{ControlMessage, MsgFlags, SockaddrStorage, sendmsg};
use serde::Serialize;

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
/// Most datagrams one `recvmmsg` takes.
pub const RECV_BATCH: usize = 64;
/// Memory the receive slots may use together.
const RECV_MEMORY: usize = 1 << 20;
/// Smallest receive slot: room for any control message the server sends.
const MIN_SLOT: usize = 4096;
/// A slot that holds any UDP datagram (and any GRO buffer).
const MAX_SLOT: usize = 65_536;

/// Sends `buf` to `to` as datagrams of `segment` bytes (the last may be
/// shorter), cut by the kernel: one `sendmsg` with a `UDP_SEGMENT` control
/// message.
pub fn send_gso(
    sock: &impl AsRawFd,
    buf: &[u8],
    to: SocketAddr,
    segment: u16,
) -> io::Result<usize> {
    let addr = SockaddrStorage::from(to);
    let iov = [IoSlice::new(buf)];
    let cmsg = [ControlMessage::UdpGsoSegments(&segment)];
    sendmsg(
        sock.as_raw_fd(),
        &iov,
        &cmsg,
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

/// How a receiver takes datagrams from its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecvMethod {
    /// One `recv` per datagram.
    Recv,
    /// Up to [`RECV_BATCH`] datagrams per `recvmmsg`.
    Recvmmsg,
    /// `recvmmsg` on a socket with `UDP_GRO`: each buffer may hold several
    /// datagrams of one size.
    Gro,
}

impl RecvMethod {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            RecvMethod::Recv => "recv",
            RecvMethod::Recvmmsg => "recvmmsg",
            RecvMethod::Gro => "gro",
        }
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

/// Slot size and count for datagrams of at most `largest` bytes: every
/// slot holds one whole, within [`RECV_MEMORY`] together (at least one
/// slot, at most [`RECV_BATCH`]). With GRO a slot must hold a whole
/// coalesced buffer, up to 64 KiB.
pub fn slots_for(largest: usize, method: RecvMethod) -> (usize, usize) {
    let slot = match method {
        RecvMethod::Gro => MAX_SLOT,
        _ => largest.clamp(MIN_SLOT, MAX_SLOT),
    };
    let count = match method {
        RecvMethod::Recv => 1,
        _ => (RECV_MEMORY / slot).clamp(1, RECV_BATCH),
    };
    (slot, count)
}

/// One received buffer: where it lies in the inbox, and the datagram size
/// the kernel reported if it coalesced several (GRO).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Bytes in the inbox.
    pub range: Range<usize>,
    /// `UDP_GRO`'s datagram size, when the buffer holds several.
    pub gso: Option<u16>,
    /// The datagram was longer than its slot and was cut (`MSG_TRUNC`).
    pub truncated: bool,
}

/// Receive buffers for one socket: one slot per datagram (or GRO buffer)
/// of a `recvmmsg`, or a single slot for plain `recv`.
#[derive(Debug)]
pub struct Inbox {
    method: RecvMethod,
    slot: usize,
    slots: usize,
    buf: Vec<u8>,
    cmsgs: Vec<u8>,
    got: Vec<Received>,
}

/// Control-message room per slot: one `UDP_GRO` int.
fn cmsg_space() -> usize {
    // SAFETY: CMSG_SPACE only computes a size.
    unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) as usize }
}

impl Inbox {
    /// An inbox for datagrams of at most `largest` bytes.
    pub fn new(method: RecvMethod, largest: usize) -> Inbox {
        let mut i = Inbox {
            method,
            slot: 0,
            slots: 0,
            buf: Vec::new(),
            cmsgs: Vec::new(),
            got: Vec::new(),
        };
        i.prepare(largest);
        i
    }

    /// How it receives.
    pub fn method(&self) -> RecvMethod {
        self.method
    }

    /// Resizes the slots for datagrams of at most `largest` bytes.
    pub fn prepare(&mut self, largest: usize) {
        let (slot, slots) = slots_for(largest, self.method);
        self.resize(slot, slots);
    }

    /// As [`Inbox::prepare`], for a receiver that expects one datagram at a
    /// time (an echo's reply): one slot, filled by a plain `recv`. A
    /// `recvmmsg` would, after the first datagram, try once more in the
    /// kernel for a second that is not coming. With GRO, as `prepare`.
    pub fn prepare_one(&mut self, largest: usize) {
        let (slot, slots) = slots_for(largest, self.method);
        let slots = if self.method == RecvMethod::Gro {
            slots
        } else {
            1
        };
        self.resize(slot, slots);
    }

    fn resize(&mut self, slot: usize, slots: usize) {
        if (slot, slots) != (self.slot, self.slots) {
            self.slot = slot;
            self.slots = slots;
            self.buf = vec![0u8; slot * slots];
            self.cmsgs = vec![0u8; cmsg_space() * slots];
        }
    }

    /// The bytes of a received range.
    pub fn bytes(&self, r: Range<usize>) -> &[u8] {
        self.buf.get(r).unwrap_or(&[])
    }

    /// Receives what the socket has: blocks for the first datagram as long
    /// as `SO_RCVTIMEO` allows, then (`recvmmsg`) takes every one already
    /// queued. Returns the buffers received, in order.
    pub fn recv(&mut self, sock: &impl AsRawFd) -> io::Result<&[Received]> {
        self.recv_flags(sock, 0)?;
        Ok(&self.got)
    }

    /// As [`Inbox::recv`], but never waits (`MSG_DONTWAIT`): `WouldBlock`
    /// when nothing is queued. Returns how many buffers came; they are in
    /// [`Inbox::received`].
    pub fn try_recv(&mut self, sock: &impl AsRawFd) -> io::Result<usize> {
        self.recv_flags(sock, libc::MSG_DONTWAIT)
    }

    /// The buffers of the last receive.
    pub fn received(&self) -> &[Received] {
        &self.got
    }

    fn recv_flags(&mut self, sock: &impl AsRawFd, flags: libc::c_int) -> io::Result<usize> {
        self.got.clear();
        if self.method == RecvMethod::Recv || (self.slots == 1 && self.method != RecvMethod::Gro) {
            // SAFETY: `buf` is live and writable for its whole length.
            let n = unsafe {
                libc::recv(
                    sock.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    flags,
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            self.got.push(Received {
                range: 0..n as usize,
                gso: None,
                truncated: false,
            });
            return Ok(1);
        }
        let space = cmsg_space();
        let base = self.buf.as_mut_ptr();
        let cbase = self.cmsgs.as_mut_ptr();
        // The headers live on the stack, built afresh for each call: no
        // allocation on a path a busy-poll takes millions of times.
        let slots = self.slots.min(RECV_BATCH);
        let mut iovs = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; RECV_BATCH];
        for (i, iov) in iovs.iter_mut().take(slots).enumerate() {
            // SAFETY: slot i lies inside `buf` (slots × slot bytes).
            iov.iov_base = unsafe { base.add(i * self.slot) }.cast();
            iov.iov_len = self.slot;
        }
        let ctl = self.method == RecvMethod::Gro;
        // SAFETY: an all-zero mmsghdr is a valid empty header.
        let mut msgs: [libc::mmsghdr; RECV_BATCH] = unsafe { std::mem::zeroed() };
        for (i, (m, iov)) in msgs.iter_mut().zip(iovs.iter_mut()).take(slots).enumerate() {
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            if ctl {
                // SAFETY: control area i lies inside `cmsgs`.
                m.msg_hdr.msg_control = unsafe { cbase.add(i * space) }.cast();
                m.msg_hdr.msg_controllen = space as _;
            }
        }
        // SAFETY: every header points at its own iovec, slot and control
        // area, all live and unaliased until the call returns.
        let n = unsafe {
            libc::recvmmsg(
                sock.as_raw_fd(),
                msgs.as_mut_ptr(),
                slots as libc::c_uint,
                libc::MSG_WAITFORONE | flags,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        for (i, m) in msgs.iter().take(n as usize).enumerate() {
            let len = (m.msg_len as usize).min(self.slot);
            let gso = if ctl { gro_size(&m.msg_hdr) } else { None };
            self.got.push(Received {
                range: i * self.slot..i * self.slot + len,
                gso,
                truncated: m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
            });
        }
        Ok(self.got.len())
    }
}

/// The `UDP_GRO` datagram size in a received message's control data.
fn gro_size(h: &libc::msghdr) -> Option<u16> {
    // SAFETY: the kernel filled `msg_control` up to `msg_controllen`; the
    // CMSG macros stay within it, and the int is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_UDP && (*c).cmsg_type == libc::UDP_GRO {
                let v: libc::c_int = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                return u16::try_from(v).ok().filter(|v| *v > 0);
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    None
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

    #[test]
    fn slots_fit_the_largest_datagram_within_the_memory_budget() {
        assert_eq!(slots_for(64, RecvMethod::Recvmmsg), (4096, 64));
        assert_eq!(slots_for(65_507, RecvMethod::Recvmmsg), (65_507, 16));
        assert_eq!(slots_for(64, RecvMethod::Recv), (4096, 1));
        assert_eq!(slots_for(64, RecvMethod::Gro), (65_536, 16));
        assert_eq!(slots_for(1 << 20, RecvMethod::Recvmmsg), (65_536, 16));
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
