//! Kernel timestamps of a socket's packets (`SO_TIMESTAMPING`,
//! Documentation/networking/timestamping.rst): when the kernel received a
//! packet, when it handed one to the queueing discipline and to the
//! device, read beside the application's own clock.
//!
//! - [`enable`] asks a TCP or UDP socket, IPv4 or IPv6, for software
//!   stamps: RX on every receive, TX (`TX_SOFTWARE`) on the sends that
//!   ask ([`send_stamped`]), each TX stamp tagged with an `OPT_ID` key and without the
//!   packet's bytes (`OPT_TSONLY`).
//! - [`recv_stamped`] is `recvmsg(2)` that also reads the RX stamp
//!   (`SCM_TIMESTAMPING`) of what it received.
//! - [`read_tx`] drains the error queue (`MSG_ERRQUEUE | MSG_DONTWAIT`): it
//!   never waits, so a sender's hot path never stalls on a stamp.
//! - [`TxKeys`] matches those stamps to the sends they belong to: for TCP
//!   the key counts bytes (a send's key is its last byte's offset), for
//!   UDP datagrams; a send whose stamp never came is counted as lost.
//! - [`hardware`] asks the interface (`ETHTOOL_GET_TS_INFO` through
//!   `SIOCETHTOOL`) whether it has a hardware clock. `lo` and `veth` have
//!   none: their figures are software stamps, and say so.
//!
//! Every stamp is nanoseconds since the Unix epoch on `CLOCK_REALTIME`, the
//! clock the lab protocol's timestamps use. The kernel turns RX stamping
//! on for the host from a work queue once the first socket asks, so the
//! first packets after [`enable`] may come without a stamp: callers enable
//! it when they connect, and count what came unstamped rather than guess.

use std::collections::VecDeque;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};

use super::cmsg;
pub use super::hwstamp::{Hardware, hardware, interface_of};

/// `SCM_TSTAMP_SND`: the device (driver) took the packet.
const TSTAMP_SND: u32 = 0;
/// `SCM_TSTAMP_SCHED`: the packet entered the queueing discipline.
const TSTAMP_SCHED: u32 = 1;

/// The flags [`enable`] sets on a socket: software stamps, RX on every
/// receive, TX stamps keyed (`OPT_ID`) and without the packet's bytes.
/// TX stamps are asked per send ([`send_stamped`]), so only the sends that
/// want one fill the error queue: a file sent on a stamping socket costs
/// nothing more.
pub const FLAGS: u32 = libc::SOF_TIMESTAMPING_SOFTWARE
    | libc::SOF_TIMESTAMPING_RX_SOFTWARE
    | libc::SOF_TIMESTAMPING_OPT_ID
    | libc::SOF_TIMESTAMPING_OPT_TSONLY;

/// The flags one [`send_stamped`] asks for: a stamp when the device takes
/// the packet. No report uses the queueing discipline's stamp
/// (`TX_SCHED`), and asking for it doubled the error queue's entries, each
/// a clone of the packet's header and a `recvmsg` to read it back.
pub const TX_FLAGS: u32 = libc::SOF_TIMESTAMPING_TX_SOFTWARE;

/// [`TX_FLAGS`] and the queueing discipline's stamp (`TX_SCHED`), taken as
/// the packet enters it: what a send asks for when the time spent in the
/// queue is wanted (`--stamp-qdisc`).
pub const TX_FLAGS_QDISC: u32 = TX_FLAGS | libc::SOF_TIMESTAMPING_TX_SCHED;

/// Now on `CLOCK_REALTIME`, Unix-epoch ns: the application's times beside
/// the kernel's stamps, on the same clock.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Which clock took a stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StampKind {
    /// The kernel's clock, read by the network stack.
    Software,
    /// The interface's own clock (a PTP hardware clock).
    Hardware,
}

impl StampKind {
    /// Its name in reports: `software` or `hardware`.
    pub fn name(self) -> &'static str {
        match self {
            StampKind::Software => "software",
            StampKind::Hardware => "hardware",
        }
    }
}

/// One kernel timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Nanoseconds since the Unix epoch.
    pub ns: u64,
    /// The clock that took it.
    pub kind: StampKind,
}

/// Where on its way out a TX stamp was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxPoint {
    /// Entering the queueing discipline (`SCM_TSTAMP_SCHED`).
    Sched,
    /// Handed to the device (`SCM_TSTAMP_SND`): the send time, t1 or t3.
    Sent,
}

/// One TX stamp from the error queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxStamp {
    /// The `OPT_ID` key of the send it belongs to.
    pub key: u32,
    /// Where it was taken.
    pub point: TxPoint,
    /// The stamp.
    pub stamp: Stamp,
}

/// Turns software timestamping on (`true`) or off on `sock`, a TCP or UDP
/// socket of either family. `OPT_ID` counts from this call: set it before
/// the first send so keys start at the connection's first byte (TCP) or
/// datagram (UDP). A kernel that refuses returns its error; the caller
/// reports the stamps as not available and goes on.
pub fn enable(sock: &impl AsFd, on: bool) -> io::Result<()> {
    let set = |flags: u32| {
        super::socket::set_int(
            &sock.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPING,
            flags as i32,
        )
    };
    if !on {
        return set(0);
    }
    // `OPT_ID_TCP` (Linux 6.2) counts a TCP socket's keys from its next
    // byte written rather than its oldest unacknowledged one; an older
    // kernel refuses it, and the keys then count from the latter.
    set(FLAGS | libc::SOF_TIMESTAMPING_OPT_ID_TCP).or_else(|_| set(FLAGS))
}

/// One `sendmsg(2)` of `buf` (to `to` on an unconnected datagram socket)
/// that asks for its TX stamps ([`TX_FLAGS`]) in a control message. On a
/// TCP socket the stamps are of the last byte this call took.
pub fn send_stamped(sock: &impl AsFd, buf: &[u8], to: Option<SocketAddr>) -> io::Result<usize> {
    send_stamped_marked(sock, buf, to, None)
}

/// As [`send_stamped`], to `to` (when given) with TOS byte `tos` in a
/// second control message (`IP_TOS`, or `IPV6_TCLASS` for an IPv6 `to`):
/// a server's stamped echo reply carries its asker's marking as every
/// reply does. `tos` is sent only with `to`, whose family it needs.
pub fn send_stamped_marked(
    sock: &impl AsFd,
    buf: &[u8],
    to: Option<SocketAddr>,
    tos: Option<u8>,
) -> io::Result<usize> {
    send_stamped_asking(sock, buf, to, tos, TX_FLAGS)
}

/// As [`send_stamped_marked`], asking for the TX stamps `flags`
/// ([`TX_FLAGS`] or [`TX_FLAGS_QDISC`]).
pub fn send_stamped_asking(
    sock: &impl AsFd,
    buf: &[u8],
    to: Option<SocketAddr>,
    tos: Option<u8>,
    flags: u32,
) -> io::Result<usize> {
    send_stamped_with(sock, buf, to, tos, flags, None)
}

/// As [`send_stamped_asking`]; on a UDP socket with `id`, the stamp keyed
/// `id` (`SCM_TS_OPT_ID`), leaving the socket's count of stamped sends to
/// the thread whose keys it is. Linux before 6.13 refuses (`EINVAL`).
pub fn send_stamped_with(
    sock: &impl AsFd,
    buf: &[u8],
    to: Option<SocketAddr>,
    tos: Option<u8>,
    flags: u32,
    id: Option<u32>,
) -> io::Result<usize> {
    let mut control = [0u64; 12];
    let mark = tos.zip(to).map(|(t, a)| {
        if a.is_ipv6() {
            (libc::IPPROTO_IPV6, libc::IPV6_TCLASS, libc::c_int::from(t))
        } else {
            (libc::IPPROTO_IP, libc::IP_TOS, libc::c_int::from(t))
        }
    });
    let to = to.map(socket2::SockAddr::from);
    let mut iov = libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: a zeroed msghdr is valid; its pointers are set below to
    // buffers that outlive the call, and the control messages are written
    // within `control`, which three CMSG_SPACE(4) fit.
    let n = unsafe {
        let mut h: libc::msghdr = std::mem::zeroed();
        if let Some(a) = &to {
            h.msg_name = a.as_ptr() as *mut libc::c_void;
            h.msg_namelen = a.len();
        }
        h.msg_iov = &mut iov;
        h.msg_iovlen = 1;
        h.msg_control = control.as_mut_ptr().cast();
        let one = libc::CMSG_SPACE(4) as usize;
        let parts = 1 + usize::from(mark.is_some()) + usize::from(id.is_some());
        h.msg_controllen = (parts * one) as _;
        let mut c = libc::CMSG_FIRSTHDR(&h);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SO_TIMESTAMPING;
        (*c).cmsg_len = libc::CMSG_LEN(4) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u32>(), flags);
        if let Some((level, kind, value)) = mark {
            c = libc::CMSG_NXTHDR(&h, c);
            (*c).cmsg_level = level;
            (*c).cmsg_type = kind;
            if kind == libc::IP_TOS {
                // IPv4's TOS is one byte.
                (*c).cmsg_len = libc::CMSG_LEN(1) as _;
                *libc::CMSG_DATA(c) = value as u8;
            } else {
                (*c).cmsg_len = libc::CMSG_LEN(4) as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>(), value);
            }
        }
        if let Some(id) = id {
            c = libc::CMSG_NXTHDR(&h, c);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = 81; // SCM_TS_OPT_ID (Linux 6.13)
            (*c).cmsg_len = libc::CMSG_LEN(4) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u32>(), id);
        }
        libc::sendmsg(sock.as_fd().as_raw_fd(), &h, libc::MSG_NOSIGNAL)
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Waits, up to `max`, until the kernel stamps what it receives: it turns
/// RX stamping on for the whole host from a work queue once a socket asks
/// ([`enable`]), and packets in between come without a stamp. A datagram
/// sent to itself on a stamping loopback socket shows when it is on.
/// Returns whether it is; a caller that enabled its own socket first then
/// finds its first packets stamped.
pub fn settle(max: std::time::Duration) -> bool {
    let start = std::time::Instant::now();
    let Ok(probe) = std::net::UdpSocket::bind("127.0.0.1:0") else {
        return false;
    };
    let ready = probe
        .local_addr()
        .and_then(|a| probe.connect(a))
        .and_then(|()| enable(&probe, true))
        .and_then(|()| probe.set_read_timeout(Some(std::time::Duration::from_millis(10))));
    if ready.is_err() {
        return false;
    }
    let mut buf = [0u8; 1];
    loop {
        if probe.send(b"?").is_err() {
            return false;
        }
        match recv_stamped(&probe, &mut buf, 0) {
            Ok(r) if r.stamp.is_some() => return true,
            Ok(_) | Err(_) if start.elapsed() < max => {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            _ => return false,
        }
    }
}

/// The flags `SO_TIMESTAMPING` holds on `sock` (0: off).
pub fn flags(sock: &impl AsFd) -> io::Result<u32> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for the kernel to write an int into.
    let r = unsafe {
        libc::getsockopt(
            sock.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPING,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(v as u32)
}

/// Room for the control messages of one received message or error-queue
/// entry: `SCM_TIMESTAMPING` (three timespecs) and a `sock_extended_err`
/// with its offender address, with room to spare for others.
const CONTROL: usize = 256;

/// What one `recvmsg` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Bytes read (0: end of stream on TCP).
    pub len: usize,
    /// The sender, for a datagram socket.
    pub from: Option<SocketAddr>,
    /// The RX stamp of what was read, when the kernel gave one.
    pub stamp: Option<Stamp>,
}

/// `recvmsg(2)` into `buf` with `flags` (`MSG_DONTWAIT` for a busy-poll),
/// reading the RX stamp the kernel attached. For TCP the stamp is the
/// arrival of the last segment whose bytes this read returned.
pub fn recv_stamped(sock: &impl AsFd, buf: &mut [u8], flags: i32) -> io::Result<Received> {
    let mut control = [0u64; CONTROL / 8];
    let mut addr: MaybeUninit<libc::sockaddr_storage> = MaybeUninit::zeroed();
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: a zeroed msghdr is valid; its pointers are set below to
    // buffers that outlive the call.
    let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
    h.msg_name = addr.as_mut_ptr().cast();
    h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    h.msg_iov = &mut iov;
    h.msg_iovlen = 1;
    h.msg_control = control.as_mut_ptr().cast();
    h.msg_controllen = CONTROL as _;
    // SAFETY: `h` points at live buffers of the lengths it states.
    let n = unsafe { libc::recvmsg(sock.as_fd().as_raw_fd(), &mut h, flags) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the storage was zeroed and the kernel wrote at most its size.
    let from = address(unsafe { addr.assume_init_ref() }, h.msg_namelen);
    let stamp = parse(&h).stamp;
    Ok(Received {
        len: n as usize,
        from,
        stamp,
    })
}

/// The IP address and port of a sender's `sockaddr`, if it is one.
fn address(sa: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match i32::from(sa.ss_family) {
        libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let v4: libc::sockaddr_in =
                unsafe { std::ptr::read_unaligned((sa as *const libc::sockaddr_storage).cast()) };
            let ip = std::net::Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Some(SocketAddr::new(ip.into(), u16::from_be(v4.sin_port)))
        }
        libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let v6: libc::sockaddr_in6 =
                unsafe { std::ptr::read_unaligned((sa as *const libc::sockaddr_storage).cast()) };
            let ip = std::net::Ipv6Addr::from(v6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                ip,
                u16::from_be(v6.sin6_port),
                v6.sin6_flowinfo,
                v6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// What the control messages of one `recvmsg` held.
#[derive(Debug, Clone, Copy, Default)]
struct Parsed {
    stamp: Option<Stamp>,
    /// From a `sock_extended_err` of origin `SO_EE_ORIGIN_TIMESTAMPING`:
    /// the key (`ee_data`) and what kind of TX stamp (`ee_info`).
    tx: Option<(u32, u32)>,
}

/// Reads `SCM_TIMESTAMPING` and `IP_RECVERR`/`IPV6_RECVERR` out of `h`.
fn parse(h: &libc::msghdr) -> Parsed {
    let mut p = Parsed::default();
    cmsg::each(h, |level, kind, data| match (level, kind) {
        (libc::SOL_SOCKET, libc::SCM_TIMESTAMPING) => {
            if let Some(ts) = cmsg::read::<[libc::timespec; 3]>(data) {
                p.stamp = stamp_of(&ts);
            }
        }
        (libc::SOL_IP, libc::IP_RECVERR) | (libc::SOL_IPV6, libc::IPV6_RECVERR) => {
            if let Some(e) = cmsg::read::<libc::sock_extended_err>(data) {
                if e.ee_errno == libc::ENOMSG as u32
                    && e.ee_origin == libc::SO_EE_ORIGIN_TIMESTAMPING
                {
                    p.tx = Some((e.ee_data, e.ee_info));
                }
            }
        }
        _ => {}
    });
    p
}

/// The stamp of an `SCM_TIMESTAMPING` triple: the hardware one (`[2]`)
/// when the interface took one, else the software one (`[0]`).
pub(crate) fn stamp_of(ts: &[libc::timespec; 3]) -> Option<Stamp> {
    let ns = |t: &libc::timespec| {
        u64::try_from(t.tv_sec)
            .ok()?
            .checked_mul(1_000_000_000)?
            .checked_add(u64::try_from(t.tv_nsec).ok()?)
            .filter(|n| *n > 0)
    };
    if let Some(n) = ns(&ts[2]) {
        return Some(Stamp {
            ns: n,
            kind: StampKind::Hardware,
        });
    }
    ns(&ts[0]).map(|n| Stamp {
        ns: n,
        kind: StampKind::Software,
    })
}

/// Drains the TX stamps waiting on `sock`'s error queue into `out`, without
/// waiting: returns how many it read (0 when none waits). Entries that are
/// not timestamps (an ICMP error queued by `IP_RECVERR`) are read and
/// dropped.
pub fn read_tx(sock: &impl AsFd, out: &mut Vec<TxStamp>) -> io::Result<usize> {
    read_tx_up_to(sock, out, usize::MAX)
}

/// As [`read_tx`], but stops once `sent` device stamps ([`TxPoint::Sent`])
/// came: a caller that knows how many sends await their stamp spares the
/// last look that finds the queue empty.
pub fn read_tx_up_to(sock: &impl AsFd, out: &mut Vec<TxStamp>, sent: usize) -> io::Result<usize> {
    let mut got = 0;
    let mut sent_got = 0;
    if sent == 0 {
        return Ok(0);
    }
    let mut control = [0u64; CONTROL / 8];
    let mut byte = [0u8; 1];
    loop {
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: byte.len(),
        };
        // SAFETY: as in `recv_stamped`.
        let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
        h.msg_iov = &mut iov;
        h.msg_iovlen = 1;
        h.msg_control = control.as_mut_ptr().cast();
        h.msg_controllen = CONTROL as _;
        let flags = libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT;
        // SAFETY: `h` points at live buffers of the lengths it states.
        let n = unsafe { libc::recvmsg(sock.as_fd().as_raw_fd(), &mut h, flags) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(got),
                io::ErrorKind::Interrupted => continue,
                _ => Err(e),
            };
        }
        let p = parse(&h);
        let (Some(stamp), Some((key, info))) = (p.stamp, p.tx) else {
            continue;
        };
        let point = match info {
            TSTAMP_SND => TxPoint::Sent,
            TSTAMP_SCHED => TxPoint::Sched,
            _ => continue,
        };
        out.push(TxStamp { key, point, stamp });
        got += 1;
        if point == TxPoint::Sent {
            sent_got += 1;
            if sent_got >= sent {
                return Ok(got);
            }
        }
    }
}

/// The sends whose TX stamps are awaited, each with the `OPT_ID` key the
/// kernel will tag its stamp with and a caller's tag (an echo's sequence
/// number), matched as stamps come. Pure bookkeeping, no socket.
///
/// A TCP socket's keys count every byte written; a UDP socket's count only
/// the sends that asked for a stamp, so a UDP caller tells it of those
/// alone.
#[derive(Debug, Clone)]
pub struct TxKeys {
    /// Whether keys count bytes (TCP) or sends (UDP).
    bytes: bool,
    /// The key the next byte or datagram will have.
    next: u32,
    pending: VecDeque<Pending>,
    /// Sends whose stamp never came before a later one's did, or that
    /// were given up at the end.
    lost: u64,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    key: u32,
    tag: u32,
    sched: Option<Stamp>,
}

/// A send's TX stamps, matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched {
    /// The caller's tag of the send.
    pub tag: u32,
    /// Handed to the device: t1 or t3.
    pub sent: Stamp,
    /// Entered the queueing discipline, when seen.
    pub sched: Option<Stamp>,
}

impl TxKeys {
    /// Keys of a TCP socket (bytes) when `tcp`, else of a UDP one (sends).
    pub fn new(tcp: bool) -> TxKeys {
        TxKeys {
            bytes: tcp,
            next: 0,
            pending: VecDeque::new(),
            lost: 0,
        }
    }

    /// A send of `len` bytes left, its stamp awaited under `tag`; with
    /// `tag` `None` its key is counted but no stamp awaited.
    pub fn sent(&mut self, len: usize, tag: Option<u32>) {
        let key = if self.bytes {
            let k = self.next.wrapping_add(len as u32).wrapping_sub(1);
            self.next = self.next.wrapping_add(len as u32);
            k
        } else {
            let k = self.next;
            self.next = self.next.wrapping_add(1);
            k
        };
        if let Some(tag) = tag {
            self.pending.push_back(Pending {
                key,
                tag,
                sched: None,
            });
        }
    }

    /// Matches `stamps` to the sends awaited; returns the sends whose
    /// device stamp came. A send older than one matched whose stamp never
    /// came is counted lost: the kernel gives stamps in order.
    pub fn take(&mut self, stamps: &[TxStamp], out: &mut Vec<Matched>) {
        for s in stamps {
            let Some(at) = self.pending.iter().position(|p| p.key == s.key) else {
                continue;
            };
            match s.point {
                TxPoint::Sched => self.pending[at].sched = Some(s.stamp),
                TxPoint::Sent => {
                    self.lost += at as u64;
                    self.pending.drain(..at);
                    if let Some(p) = self.pending.pop_front() {
                        out.push(Matched {
                            tag: p.tag,
                            sent: s.stamp,
                            sched: p.sched,
                        });
                    }
                }
            }
        }
    }

    /// Stamps still awaited.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Gives up on every stamp still awaited, counting them lost.
    pub fn give_up(&mut self) {
        self.lost += self.pending.len() as u64;
        self.pending.clear();
    }

    /// Sends whose stamp never came.
    pub fn lost(&self) -> u64 {
        self.lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream, UdpSocket};
    use std::time::{Duration, Instant};

    /// Reads TX stamps until `want` device stamps came or a second passed.
    fn tx_until(sock: &impl AsFd, want: usize) -> Vec<TxStamp> {
        let mut out: Vec<TxStamp> = Vec::new();
        let end = Instant::now() + Duration::from_secs(1);
        while out.iter().filter(|s| s.point == TxPoint::Sent).count() < want && Instant::now() < end
        {
            read_tx(sock, &mut out).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        out
    }

    /// The kernel turns RX stamping on for the whole host from a work
    /// queue, soon after the first socket asks: packets in between have
    /// no stamp. The tests wait for it.
    fn settle() {
        std::thread::sleep(Duration::from_millis(50));
    }

    fn now_ns() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    }

    fn udp_both_ways(local: &str) {
        let a = UdpSocket::bind(local).unwrap();
        let b = UdpSocket::bind(local).unwrap();
        a.connect(b.local_addr().unwrap()).unwrap();
        enable(&a, true).unwrap();
        enable(&b, true).unwrap();
        settle();
        assert_eq!(flags(&a).unwrap() & FLAGS, FLAGS);
        let before = now_ns();
        let mut keys = TxKeys::new(false);
        for tag in 10..13 {
            // A send that asks for no stamp has no key either.
            a.send(b"not me!!").unwrap();
            send_stamped(&a, b"stamp me", None).unwrap();
            keys.sent(8, Some(tag));
        }
        let mut buf = [0u8; 64];
        for _ in 0..6 {
            let r = recv_stamped(&b, &mut buf, 0).unwrap();
            assert_eq!(r.len, 8);
            assert_eq!(r.from, Some(a.local_addr().unwrap()));
            let s = r.stamp.expect("an RX stamp");
            assert_eq!(s.kind, StampKind::Software);
            assert!(s.ns >= before && s.ns <= now_ns(), "{s:?}");
        }
        let stamps = tx_until(&a, 3);
        let mut matched = Vec::new();
        keys.take(&stamps, &mut matched);
        assert_eq!(
            matched.iter().map(|m| m.tag).collect::<Vec<_>>(),
            [10, 11, 12]
        );
        assert!(matched.iter().all(|m| m.sent.ns >= before));
        // Only the device's stamp is asked for.
        assert!(matched.iter().all(|m| m.sched.is_none()));
        assert_eq!((keys.pending(), keys.lost()), (0, 0));
        // Nothing more waits: the drain returns at once.
        let t = Instant::now();
        assert_eq!(read_tx(&a, &mut Vec::new()).unwrap(), 0);
        assert!(t.elapsed() < Duration::from_millis(100));
    }

    fn qdisc_stamp_comes_first(local: &str) {
        let a = UdpSocket::bind(local).unwrap();
        let b = UdpSocket::bind(local).unwrap();
        a.connect(b.local_addr().unwrap()).unwrap();
        enable(&a, true).unwrap();
        let before = now_ns();
        let mut keys = TxKeys::new(false);
        for tag in 0..3 {
            send_stamped_asking(&a, b"queue me", None, None, TX_FLAGS_QDISC).unwrap();
            keys.sent(8, Some(tag));
        }
        let stamps = tx_until(&a, 3);
        assert_eq!(stamps.len(), 6, "{stamps:?}");
        let mut matched = Vec::new();
        keys.take(&stamps, &mut matched);
        assert_eq!(matched.len(), 3);
        for m in &matched {
            let sched = m.sched.expect("the queueing discipline's stamp");
            assert!(before <= sched.ns && sched.ns <= m.sent.ns, "{m:?}");
        }
    }

    #[test]
    fn udp_sends_asking_for_the_qdisc_stamp_get_it_before_the_device_stamp() {
        qdisc_stamp_comes_first("127.0.0.1:0");
        qdisc_stamp_comes_first("[::1]:0");
    }

    #[test]
    fn a_send_keyed_by_its_own_id_leaves_the_count_alone() {
        for local in ["127.0.0.1:0", "[::1]:0"] {
            let a = UdpSocket::bind(local).unwrap();
            let b = UdpSocket::bind(local).unwrap();
            enable(&a, true).unwrap();
            let to = b.local_addr().unwrap();
            send_stamped_with(&a, b"mine", Some(to), Some(0), TX_FLAGS, Some(0x8000_0007)).unwrap();
            send_stamped(&a, b"counted", Some(to)).unwrap();
            let keys: Vec<u32> = tx_until(&a, 2).iter().map(|s| s.key).collect();
            assert_eq!(keys, [0x8000_0007, 0], "{local}");
        }
    }

    #[test]
    fn udp_v4_datagrams_are_stamped_both_ways_and_keyed_by_count() {
        udp_both_ways("127.0.0.1:0");
    }

    #[test]
    fn udp_v6_datagrams_are_stamped_both_ways_and_keyed_by_count() {
        udp_both_ways("[::1]:0");
    }

    fn tcp_both_ways(local: &str) {
        let l = TcpListener::bind(local).unwrap();
        let mut a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        a.set_nodelay(true).unwrap();
        enable(&a, true).unwrap();
        enable(&b, true).unwrap();
        settle();
        let mut keys = TxKeys::new(true);
        let mut buf = [0u8; 64];
        for (tag, len) in [(1u32, 10usize), (2, 30), (3, 5)] {
            if tag == 1 {
                // Bytes written without a stamp still count in the keys.
                a.write_all(&vec![7u8; len]).unwrap();
                keys.sent(len, None);
            } else {
                assert_eq!(send_stamped(&a, &vec![7u8; len], None).unwrap(), len);
                keys.sent(len, Some(tag));
            }
            let mut got = 0;
            while got < len {
                let r = recv_stamped(&b, &mut buf, 0).unwrap();
                assert!(r.stamp.is_some());
                got += r.len;
            }
        }
        let stamps = tx_until(&a, 2);
        // Keys are each stamped send's last byte: 39, 44.
        let sent: Vec<u32> = stamps
            .iter()
            .filter(|s| s.point == TxPoint::Sent)
            .map(|s| s.key)
            .collect();
        assert_eq!(sent, [39, 44]);
        let mut matched = Vec::new();
        keys.take(&stamps, &mut matched);
        assert_eq!(matched.iter().map(|m| m.tag).collect::<Vec<_>>(), [2, 3]);
        assert!(matched.windows(2).all(|w| w[0].sent.ns <= w[1].sent.ns));
    }

    #[test]
    fn tcp_v4_reads_and_sends_are_stamped_and_keyed_by_bytes() {
        tcp_both_ways("127.0.0.1:0");
    }

    #[test]
    fn tcp_v6_reads_and_sends_are_stamped_and_keyed_by_bytes() {
        tcp_both_ways("[::1]:0");
    }

    #[test]
    fn a_socket_without_stamps_reads_none() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.send_to(b"x", b.local_addr().unwrap()).unwrap();
        let r = recv_stamped(&b, &mut [0u8; 8], 0).unwrap();
        assert_eq!((r.len, r.stamp), (1, None));
        // A stamped send on a socket that stamps nothing queues nothing.
        send_stamped(&a, b"y", Some(b.local_addr().unwrap())).unwrap();
        assert_eq!(read_tx(&a, &mut Vec::new()).unwrap(), 0);
        assert_eq!(flags(&a).unwrap(), 0);
    }

    #[test]
    fn a_stamp_that_never_came_is_counted_lost_not_guessed() {
        let sw = |ns| Stamp {
            ns,
            kind: StampKind::Software,
        };
        let mut keys = TxKeys::new(false);
        for tag in 0..4 {
            keys.sent(100, Some(tag));
        }
        keys.sent(100, None);
        // The stamps of sends 0 and 1 never came; 2's did.
        let stamps = [TxStamp {
            key: 2,
            point: TxPoint::Sent,
            stamp: sw(5),
        }];
        let mut out = Vec::new();
        keys.take(&stamps, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].tag, out[0].sent.ns), (2, 5));
        assert_eq!((keys.lost(), keys.pending()), (2, 1));
        // A stamp of a send nobody awaits is ignored.
        keys.take(
            &[TxStamp {
                key: 4,
                point: TxPoint::Sent,
                stamp: sw(6),
            }],
            &mut out,
        );
        assert_eq!(out.len(), 1);
        keys.give_up();
        assert_eq!((keys.lost(), keys.pending()), (3, 0));
    }

    #[test]
    fn tcp_keys_wrap_with_the_byte_count() {
        let mut keys = TxKeys::new(true);
        keys.next = u32::MAX - 1;
        keys.sent(4, Some(9));
        assert_eq!(keys.pending[0].key, 1);
    }

    #[test]
    fn loopback_has_no_hardware_clock() {
        let lo = interface_of("127.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(lo, "lo");
        let hw = hardware(&lo).unwrap();
        assert_eq!(hw.phc, None);
        assert_eq!(hw.kind(), StampKind::Software);
        assert!(hardware("").is_err());
        assert!(hardware("no-such-if0").is_err());
    }
}
