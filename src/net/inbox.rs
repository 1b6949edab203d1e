//! The receive side of batched UDP: an [`Inbox`] of slots that one
//! `recvmmsg` fills (udp(7), recvmmsg(2)), each with its datagram or UDP
//! GRO buffer, its TOS byte and, for a socket that serves many peers, its
//! sender.
//!
//! - **recvmmsg** with `MSG_WAITFORONE`: waits (as long as `SO_RCVTIMEO`
//!   allows) for one datagram, then takes every one already queued, up to
//!   the number of slots, in one call.
//! - **GRO** (`UDP_GRO` socket option, [`super::batch::set_gro`]): the
//!   kernel may hand up several datagrams of one flow in one buffer, with
//!   their size in a `UDP_GRO` control message; [`super::batch::split`]
//!   cuts it back into datagrams. The kernel coalesces only datagrams of one
//!   flow (one sender) and one TOS into a buffer, so one sender and one
//!   byte stand for all of them.
//! - **Sender** per buffer ([`Inbox::set_senders`]): a server's socket
//!   takes datagrams from every peer, so each slot gets its own address
//!   (`msg_name`).
//! - **RX stamp** per buffer ([`Inbox::set_stamps`]): the kernel's
//!   `SCM_TIMESTAMPING` of its arrival, for a stamped echo; with GRO, that
//!   of the buffer's first datagram.
//!
//! Only the slot sizing is pure; the rest is the thin layer over the
//! system calls.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ops::Range;
use std::os::fd::AsRawFd;

use serde::Serialize;

use super::cmsg;
use super::timestamping::{Stamp, stamp_of};

/// Most datagrams one `recvmmsg` takes.
pub const RECV_BATCH: usize = 64;
/// Memory the receive slots may use together.
const RECV_MEMORY: usize = 1 << 20;
/// Smallest receive slot: room for any control message the server sends.
const MIN_SLOT: usize = 4096;
/// A slot that holds any UDP datagram (and any GRO buffer).
const MAX_SLOT: usize = 65_536;

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
    /// Who sent it, when the inbox reads senders ([`Inbox::set_senders`]);
    /// with GRO, the sender of every datagram in the buffer.
    pub from: Option<SocketAddr>,
    /// The kernel's RX stamp of it, when the inbox reads stamps
    /// ([`Inbox::set_stamps`]) and the kernel gave one.
    pub stamp: Option<Stamp>,
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
    /// Each slot's sender, when read.
    names: Vec<libc::sockaddr_storage>,
    senders: bool,
    /// Whether each buffer's RX stamp is read.
    stamps: bool,
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
            names: Vec::new(),
            senders: false,
            stamps: false,
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

    /// Reads (or stops reading) each buffer's sender into
    /// [`Received::from`]: what a socket that serves many peers needs.
    pub fn set_senders(&mut self, on: bool) {
        self.senders = on;
        self.names = if on {
            // SAFETY: an all-zero sockaddr_storage is a valid empty address.
            vec![unsafe { std::mem::zeroed() }; self.slots]
        } else {
            Vec::new()
        };
    }

    /// Reads (or stops reading) each buffer's kernel RX stamp
    /// (`SCM_TIMESTAMPING`) into [`Received::stamp`]. The socket must
    /// stamp what it receives ([`super::timestamping::enable`]).
    pub fn set_stamps(&mut self, on: bool) {
        if on != self.stamps {
            self.stamps = on;
            self.cmsgs = vec![0u8; self.space() * self.slots];
        }
    }

    /// Control-message room per slot.
    fn space(&self) -> usize {
        cmsg::recv_space() + if self.stamps { cmsg::stamp_space() } else { 0 }
    }

    /// Whether any control message is read.
    fn reads_control(&self) -> bool {
        self.method == RecvMethod::Gro || self.tos || self.stamps
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
    /// time (an echo's reply): one slot, filled by a plain `recv` (or, with
    /// GRO or the TOS read, one `recvmsg`, its slot room for a whole GRO
    /// buffer). A `recvmmsg` would, after the first datagram, try once more
    /// in the kernel for a second that is not coming.
    pub fn prepare_one(&mut self, largest: usize) {
        let (slot, _) = slots_for(largest, self.method);
        self.resize(slot, 1);
    }

    fn resize(&mut self, slot: usize, slots: usize) {
        if (slot, slots) != (self.slot, self.slots) {
            self.slot = slot;
            self.slots = slots;
            self.buf = vec![0u8; slot * slots];
            self.cmsgs = vec![0u8; self.space() * slots];
            self.set_senders(self.senders);
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
        self.recv_flags(sock, 0, RECV_BATCH)?;
        Ok(&self.got)
    }

    /// As [`Inbox::recv`], but never waits (`MSG_DONTWAIT`): `WouldBlock`
    /// when nothing is queued. Returns how many buffers came; they are in
    /// [`Inbox::received`].
    pub fn try_recv(&mut self, sock: &impl AsRawFd) -> io::Result<usize> {
        self.recv_flags(sock, libc::MSG_DONTWAIT, RECV_BATCH)
    }

    /// As [`Inbox::recv`] (or, with `dontwait`, [`Inbox::try_recv`]), but
    /// at most `max` buffers: with 1, a single `recvmsg`, which spares a
    /// receiver that expects one datagram (an echo's request) the second
    /// look in the kernel that `recvmmsg` takes after the first. Returns
    /// how many buffers came; they are in [`Inbox::received`].
    pub fn recv_up_to(
        &mut self,
        sock: &impl AsRawFd,
        max: usize,
        dontwait: bool,
    ) -> io::Result<usize> {
        let flags = if dontwait { libc::MSG_DONTWAIT } else { 0 };
        self.recv_flags(sock, flags, max)
    }

    /// The buffers of the last receive.
    pub fn received(&self) -> &[Received] {
        &self.got
    }

    fn recv_flags(
        &mut self,
        sock: &impl AsRawFd,
        flags: libc::c_int,
        max: usize,
    ) -> io::Result<usize> {
        self.got.clear();
        let slots = self.slots.min(max).clamp(1, RECV_BATCH);
        if slots == 1 {
            return self.recv_one(sock, flags);
        }
        let space = self.space();
        let base = self.buf.as_mut_ptr();
        let cbase = self.cmsgs.as_mut_ptr();
        let nbase = self.names.as_mut_ptr();
        // The headers live on the stack, built afresh for each call: no
        // allocation on a path a busy-poll takes millions of times.
        let mut iovs = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; RECV_BATCH];
        for (i, iov) in iovs.iter_mut().take(slots).enumerate() {
            // SAFETY: slot i lies inside `buf` (slots × slot bytes).
            iov.iov_base = unsafe { base.add(i * self.slot) }.cast();
            iov.iov_len = self.slot;
        }
        let ctl = self.reads_control();
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
            if self.senders {
                // SAFETY: `names` has one address per slot.
                m.msg_hdr.msg_name = unsafe { nbase.add(i) }.cast();
                m.msg_hdr.msg_namelen = NAME_LEN;
            }
        }
        // SAFETY: every header points at its own iovec, slot, control area
        // and address, all live and unaliased until the call returns.
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
            let from = self.sender(i, m.msg_hdr.msg_namelen);
            self.got.push(Received {
                range: i * self.slot..i * self.slot + len,
                gso: found.gro,
                truncated: m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
                tos: found.tos.filter(|_| self.tos),
                from,
                stamp: found.stamps.as_ref().and_then(stamp_of),
            });
        }
        Ok(self.got.len())
    }

    /// One datagram (or GRO buffer) into the first slot: a plain `recv`
    /// when nothing but the bytes is wanted, else `recvmsg` with the
    /// control area and the sender's address as asked.
    fn recv_one(&mut self, sock: &impl AsRawFd, flags: libc::c_int) -> io::Result<usize> {
        let ctl = self.reads_control();
        let len = self.slot.min(self.buf.len());
        if !ctl && !self.senders {
            // SAFETY: `buf` is live and writable for `len` bytes.
            let n =
                unsafe { libc::recv(sock.as_raw_fd(), self.buf.as_mut_ptr().cast(), len, flags) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            self.got.push(Received {
                range: 0..(n as usize).min(len),
                gso: None,
                truncated: false,
                tos: None,
                from: None,
                stamp: None,
            });
            return Ok(1);
        }
        let mut iov = libc::iovec {
            iov_base: self.buf.as_mut_ptr().cast(),
            iov_len: len,
        };
        // SAFETY: an all-zero msghdr is a valid empty header.
        let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
        h.msg_iov = &mut iov;
        h.msg_iovlen = 1;
        if ctl {
            h.msg_control = self.cmsgs.as_mut_ptr().cast();
            h.msg_controllen = self.space().min(self.cmsgs.len()) as _;
        }
        if self.senders {
            h.msg_name = self.names.as_mut_ptr().cast();
            h.msg_namelen = NAME_LEN;
        }
        // SAFETY: the header points at the live slot, control area and
        // address, unaliased until the call returns.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut h, flags) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let found = if ctl {
            cmsg::parse(&h)
        } else {
            cmsg::Found::default()
        };
        self.got.push(Received {
            range: 0..(n as usize).min(len),
            gso: found.gro,
            truncated: h.msg_flags & libc::MSG_TRUNC != 0,
            tos: found.tos.filter(|_| self.tos),
            from: self.sender(0, h.msg_namelen),
            stamp: found.stamps.as_ref().and_then(stamp_of),
        });
        Ok(1)
    }

    /// Slot `i`'s sender, when senders are read and it is an IP address.
    fn sender(&self, i: usize, len: libc::socklen_t) -> Option<SocketAddr> {
        if !self.senders {
            return None;
        }
        sockaddr(self.names.get(i)?, len)
    }
}

/// Room for any socket address.
const NAME_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;

/// The IP address and port in a socket address the kernel wrote, `len`
/// bytes of it.
fn sockaddr(s: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match libc::c_int::from(s.ss_family) {
        libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, and
            // the storage is larger than one.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddrV4::new(ip, u16::from_be(a.sin_port)).into())
        }
        libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, a sockaddr_in6.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            let port = u16::from_be(a.sin6_port);
            Some(SocketAddrV6::new(ip, port, a.sin6_flowinfo, a.sin6_scope_id).into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::batch::{gso_refused, send_gso_marked, send_marked, set_gro, split};
    use crate::net::marking;
    use std::net::UdpSocket;
    use std::time::Duration;

    #[test]
    fn slots_fit_the_largest_datagram_within_the_memory_budget() {
        assert_eq!(slots_for(64, RecvMethod::Recvmmsg), (4096, 64));
        assert_eq!(slots_for(65_507, RecvMethod::Recvmmsg), (65_507, 16));
        assert_eq!(slots_for(64, RecvMethod::Recv), (4096, 1));
        assert_eq!(slots_for(64, RecvMethod::Gro), (65_536, 16));
        assert_eq!(slots_for(1 << 20, RecvMethod::Recvmmsg), (65_536, 16));
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

    /// Reading senders, each buffer comes with its own sender, from two
    /// peers, through recvmmsg, GRO and a single recvmsg, over IPv4 and
    /// IPv6; a GSO send's buffer with its one sender.
    #[test]
    fn an_inbox_that_reads_senders_tells_each_buffer_its_sender() {
        for addr in ["127.0.0.1:0", "[::1]:0"] {
            for method in [RecvMethod::Recv, RecvMethod::Recvmmsg, RecvMethod::Gro] {
                let Some((rx, a)) = marked_pair(addr, method) else {
                    continue;
                };
                let b = UdpSocket::bind(addr).unwrap();
                let to = rx.local_addr().unwrap();
                let mut inbox = Inbox::new(method, 64);
                inbox.set_senders(true);
                inbox.set_tos(true);
                send_marked(&a, b"from a", to, Some(0xB8)).unwrap();
                send_marked(&b, b"from b", to, None).unwrap();
                let mut got = Vec::new();
                while got.len() < 2 {
                    let max = if got.is_empty() { 1 } else { RECV_BATCH };
                    inbox.recv_up_to(&rx, max, false).unwrap();
                    for g in inbox.received().to_vec() {
                        got.push((inbox.bytes(g.range.clone()).to_vec(), g.from, g.tos));
                    }
                }
                let (pa, pb) = (a.local_addr().unwrap(), b.local_addr().unwrap());
                assert_eq!(
                    got[0],
                    (b"from a".to_vec(), Some(pa), Some(0xB8)),
                    "{method:?}"
                );
                assert_eq!(
                    got[1],
                    (b"from b".to_vec(), Some(pb), Some(0)),
                    "{method:?}"
                );
                let buf: Vec<u8> = (0..8u8).flat_map(|i| [i; 64]).collect();
                match send_gso_marked(&b, &buf, to, 64, None) {
                    Ok(_) => {}
                    Err(e) if gso_refused(&e) => continue,
                    Err(e) => panic!("{e}"),
                }
                let mut n = 0;
                while n < 8 {
                    for g in inbox.recv(&rx).unwrap().to_vec() {
                        assert_eq!(g.from, Some(pb), "{method:?}");
                        n += split(g.range.len(), g.gso).count();
                    }
                }
            }
        }
    }

    /// Not told to, the inbox reads no sender.
    #[test]
    fn an_inbox_that_does_not_read_senders_reports_none() {
        for method in [RecvMethod::Recvmmsg, RecvMethod::Gro] {
            let (rx, tx) = marked_pair("127.0.0.1:0", method).unwrap();
            let mut inbox = Inbox::new(method, 64);
            send_marked(&tx, b"x", rx.local_addr().unwrap(), None).unwrap();
            assert_eq!(inbox.recv(&rx).unwrap()[0].from, None);
        }
    }
}
