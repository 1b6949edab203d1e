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
//! - **TOS** per datagram: a send may carry its own TOS byte in an
//!   `IP_TOS` / `IPV6_TCLASS` control message ([`send_marked`],
//!   [`send_gso_marked`]), so one socket marks each peer's datagrams as it
//!   should; an inbox told to ([`Inbox::set_tos`], with
//!   [`crate::net::marking::set_recv_tos`] on the socket) reports the byte
//!   each buffer came with ([`Received::tos`]). The kernel coalesces only
//!   datagrams of one TOS into a GRO buffer, so one byte stands for all.
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

use super::cmsg::{self, Mark};

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

/// One received buffer: where it lies in the inbox, the datagram size the
/// kernel reported if it coalesced several (GRO), and its TOS byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Bytes in the inbox.
    pub range: Range<usize>,
    /// `UDP_GRO`'s datagram size, when the buffer holds several.
    pub gso: Option<u16>,
    /// The datagram was longer than its slot and was cut (`MSG_TRUNC`).
    pub truncated: bool,
    /// The TOS byte (IPv4) or traffic class (IPv6) it came with, when the
    /// inbox reads it ([`Inbox::set_tos`]); with GRO, that of every
    /// datagram in the buffer.
    pub tos: Option<u8>,
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
    tos: bool,
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
            tos: false,
        };
        i.prepare(largest);
        i
    }

    /// How it receives.
    pub fn method(&self) -> RecvMethod {
        self.method
    }

    /// Reads (or stops reading) each buffer's TOS byte from its control
    /// message into [`Received::tos`]. The socket must report it
    /// ([`crate::net::marking::set_recv_tos`]). Off, the receive does no
    /// control-message work but GRO's.
    pub fn set_tos(&mut self, on: bool) {
        self.tos = on;
    }

    /// Whether it reads each buffer's TOS byte.
    pub fn reads_tos(&self) -> bool {
        self.tos
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
            self.cmsgs = vec![0u8; cmsg::recv_space() * slots];
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
            if self.tos {
                return self.recv_one_tos(sock, flags);
            }
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
                tos: None,
            });
            return Ok(1);
        }
        let space = cmsg::recv_space();
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
        let ctl = self.method == RecvMethod::Gro || self.tos;
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
            let found = if ctl {
                cmsg::parse(&m.msg_hdr)
            } else {
                cmsg::Found::default()
            };
            self.got.push(Received {
                range: i * self.slot..i * self.slot + len,
                gso: found.gro,
                truncated: m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
                tos: found.tos.filter(|_| self.tos),
            });
        }
        Ok(self.got.len())
    }

    /// One datagram into the single slot with `recvmsg`, for its TOS
    /// control message.
    fn recv_one_tos(&mut self, sock: &impl AsRawFd, flags: libc::c_int) -> io::Result<usize> {
        let mut iov = libc::iovec {
            iov_base: self.buf.as_mut_ptr().cast(),
            iov_len: self.buf.len(),
        };
        // SAFETY: an all-zero msghdr is a valid empty header.
        let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
        h.msg_iov = &mut iov;
        h.msg_iovlen = 1;
        h.msg_control = self.cmsgs.as_mut_ptr().cast();
        h.msg_controllen = cmsg::recv_space().min(self.cmsgs.len()) as _;
        // SAFETY: the header points at the live slot and control area,
        // unaliased until the call returns.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut h, flags) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        self.got.push(Received {
            range: 0..(n as usize).min(self.buf.len()),
            gso: None,
            truncated: h.msg_flags & libc::MSG_TRUNC != 0,
            tos: cmsg::parse(&h).tos,
        });
        Ok(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::marking;
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

    /// A receiver on `addr` that reports TOS bytes, and a sender beside it;
    /// `None` when the host has no such address (no IPv6).
    fn marked_pair(addr: &str, method: RecvMethod) -> Option<(UdpSocket, UdpSocket)> {
        let rx = UdpSocket::bind(addr).ok()?;
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        marking::set_recv_tos(&rx, true).unwrap();
        if method == RecvMethod::Gro {
            set_gro(&rx, true).unwrap();
        }
        Some((rx, UdpSocket::bind(addr).unwrap()))
    }

    /// Datagrams and their TOS bytes until `want` datagrams came.
    fn take_marked(inbox: &mut Inbox, rx: &UdpSocket, want: usize) -> Vec<(Vec<u8>, Option<u8>)> {
        let mut out = Vec::new();
        while out.len() < want {
            for g in inbox.recv(rx).unwrap().to_vec() {
                for r in split(g.range.len(), g.gso) {
                    let b = inbox.bytes(g.range.start + r.start..g.range.start + r.end);
                    out.push((b.to_vec(), g.tos));
                }
            }
        }
        out
    }

    /// Each datagram comes with the TOS byte its send gave it (0xB8, DSCP
    /// 46, or 0xBA, DSCP 46 and ECT(0)), whatever the socket's own, over
    /// IPv4 and IPv6, through `recv`, `recvmmsg` and GRO; GSO sends mark
    /// every datagram they carry.
    #[test]
    fn each_datagram_comes_with_the_tos_it_was_sent_with() {
        for addr in ["127.0.0.1:0", "[::1]:0"] {
            for method in [RecvMethod::Recv, RecvMethod::Recvmmsg, RecvMethod::Gro] {
                let Some((rx, tx)) = marked_pair(addr, method) else {
                    continue;
                };
                let to = rx.local_addr().unwrap();
                marking::set_tos(&tx, 0x20).unwrap();
                let mut inbox = Inbox::new(method, 64);
                inbox.set_tos(true);
                send_marked(&tx, b"ef", to, Some(0xB8)).unwrap();
                send_marked(&tx, b"own", to, None).unwrap();
                send_marked(&tx, b"ect0", to, Some(0xBA)).unwrap();
                let got = take_marked(&mut inbox, &rx, 3);
                let want = [
                    (b"ef".to_vec(), Some(0xB8)),
                    (b"own".to_vec(), Some(0x20)),
                    (b"ect0".to_vec(), Some(0xBA)),
                ];
                assert_eq!(got, want, "{addr} {method:?}");
                let buf: Vec<u8> = (0..8u8).flat_map(|i| [i; 64]).collect();
                match send_gso_marked(&tx, &buf, to, 64, Some(0xBA)) {
                    Ok(n) => assert_eq!(n, buf.len()),
                    Err(e) if gso_refused(&e) => continue,
                    Err(e) => panic!("{e}"),
                }
                let got = take_marked(&mut inbox, &rx, 8);
                let mut ecn = marking::EcnCounts::default();
                for (i, (d, tos)) in got.iter().enumerate() {
                    assert_eq!(d, &vec![i as u8; 64], "{addr} {method:?}");
                    assert_eq!(*tos, Some(0xBA), "{addr} {method:?} {i}");
                    ecn.add(tos.unwrap());
                }
                assert_eq!(ecn.ect0, 8, "{addr} {method:?}");
                assert_eq!(ecn.total(), 8);
            }
        }
    }

    /// Off, the inbox reports no TOS, even from a socket that sends it.
    #[test]
    fn an_inbox_that_does_not_read_the_tos_reports_none() {
        for method in [RecvMethod::Recv, RecvMethod::Recvmmsg, RecvMethod::Gro] {
            let (rx, tx) = marked_pair("127.0.0.1:0", method).unwrap();
            let mut inbox = Inbox::new(method, 64);
            assert!(!inbox.reads_tos());
            send_marked(&tx, b"x", rx.local_addr().unwrap(), Some(0xB8)).unwrap();
            assert_eq!(take_marked(&mut inbox, &rx, 1), [(b"x".to_vec(), None)]);
        }
    }

    /// A server's receive learns the sender and the TOS of each datagram.
    #[test]
    fn recv_from_tos_gives_the_sender_and_the_byte() {
        for addr in ["127.0.0.1:0", "[::1]:0"] {
            let Some((rx, tx)) = marked_pair(addr, RecvMethod::Recv) else {
                continue;
            };
            send_marked(&tx, b"hello", rx.local_addr().unwrap(), Some(0xB8)).unwrap();
            let mut buf = [0u8; 64];
            let (n, from, tos) = crate::net::udp::recv_from_tos(&rx, &mut buf, false).unwrap();
            assert_eq!(&buf[..n], b"hello");
            assert_eq!(from, tx.local_addr().unwrap());
            assert_eq!(tos, Some(0xB8), "{addr}");
            let e = crate::net::udp::recv_from_tos(&rx, &mut buf, true).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
        }
    }
}
