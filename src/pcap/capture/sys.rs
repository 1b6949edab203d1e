//! The system calls of a live capture: an `AF_PACKET` socket bound to one
//! interface, one frame read with its length, type and kernel timestamp,
//! and the socket's drop counter.

use std::io::{self, IoSliceMut};
use std::mem;
use std::os::fd::AsRawFd;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{self, ControlMessageOwned, LinkAddr, MsgFlags, sockopt};
use nix::sys::time::TimeSpec;
use socket2::{Domain, SockFilter, Socket, Type};

use super::filter::Insn;

/// `ETH_P_ALL` in network byte order, as `sockaddr_ll` and `socket(2)` take it.
fn eth_p_all_be() -> u16 {
    (libc::ETH_P_ALL as u16).to_be()
}

/// Opens a raw packet socket that receives nothing yet: protocol 0 means no
/// frame is queued before [`bind`] names a protocol, so the filter is in
/// place before the first frame arrives.
pub(crate) fn open() -> io::Result<Socket> {
    Socket::new(Domain::PACKET, Type::RAW, None)
}

/// Attaches a classic BPF program (`SO_ATTACH_FILTER`).
pub(crate) fn attach(socket: &Socket, program: &[Insn]) -> io::Result<()> {
    let filters: Vec<SockFilter> = program
        .iter()
        .map(|i| SockFilter::new(i.code, i.jt, i.jf, i.k))
        .collect();
    socket.attach_filter(&filters)
}

/// Binds the socket to interface `ifindex` for every protocol.
pub(crate) fn bind(socket: &Socket, ifindex: u32) -> io::Result<()> {
    let ifindex =
        i32::try_from(ifindex).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: sockaddr_ll is plain old data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = eth_p_all_be();
    addr.sll_ifindex = ifindex;
    // SAFETY: the pointer and length describe `addr`, which lives across the
    // call; the kernel only reads it.
    let rc = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&raw const addr).cast::<libc::sockaddr>(),
            mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Asks for a kernel receive timestamp with every frame (`SO_TIMESTAMPNS`).
pub(crate) fn want_timestamps(socket: &Socket) -> io::Result<()> {
    socket::setsockopt(socket, sockopt::ReceiveTimestampns, &true).map_err(io::Error::from)
}

/// One frame as read from the socket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received {
    /// Bytes copied into the buffer (at most its length).
    pub captured: usize,
    /// The frame's whole length (the `MSG_TRUNC` return value).
    pub original: usize,
    /// `sll_pkttype`: `PACKET_HOST`, `PACKET_OUTGOING`, …
    pub pkttype: u8,
    /// `sll_hatype`: the ARP hardware type of the link.
    pub hatype: u16,
    /// Kernel receive time since the Unix epoch (`SCM_TIMESTAMPNS`), when
    /// the kernel sent one.
    pub timestamp: Option<Duration>,
}

/// Reads one frame into `buf`, cut at its length. `Ok(None)` when none
/// arrived before the receive timeout (or at once, with `dont_wait`), or
/// the call was interrupted.
pub(crate) fn receive(
    socket: &Socket,
    buf: &mut [u8],
    cmsg: &mut [u8],
    dont_wait: bool,
) -> io::Result<Option<Received>> {
    let mut flags = MsgFlags::MSG_TRUNC;
    if dont_wait {
        flags |= MsgFlags::MSG_DONTWAIT;
    }
    let mut iov = [IoSliceMut::new(buf)];
    let msg = match socket::recvmsg::<LinkAddr>(socket.as_raw_fd(), &mut iov, Some(cmsg), flags) {
        Ok(m) => m,
        Err(Errno::EAGAIN | Errno::EINTR) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let original = msg.bytes;
    let mut timestamp = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmTimestampns(ts) = c {
                timestamp = timespec(ts);
            }
        }
    }
    let (pkttype, hatype) = msg.address.map_or((0, 0), |a| (a.pkttype(), a.hatype()));
    Ok(Some(Received {
        captured: original.min(iov[0].len()),
        original,
        pkttype,
        hatype,
        timestamp,
    }))
}

fn timespec(ts: TimeSpec) -> Option<Duration> {
    let secs = u64::try_from(ts.tv_sec()).ok()?;
    let nanos = u32::try_from(ts.tv_nsec()).ok()?;
    Some(Duration::new(secs, nanos))
}

/// The room a control buffer needs for one `SCM_TIMESTAMPNS`.
pub(crate) fn control_buffer() -> Vec<u8> {
    nix::cmsg_space!(TimeSpec)
}

/// The socket's counters since they were last read (`PACKET_STATISTICS`;
/// reading resets them): frames that passed the filter, and those the
/// kernel dropped for want of buffer room.
pub(crate) fn statistics(socket: &Socket) -> io::Result<(u64, u64)> {
    let mut stats = libc::tpacket_stats {
        tp_packets: 0,
        tp_drops: 0,
    };
    let mut len = mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: the pointer and length describe `stats`, a plain struct the
    // kernel fills in for PACKET_STATISTICS; both outlive the call.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&raw mut stats).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((u64::from(stats.tp_packets), u64::from(stats.tp_drops)))
}
