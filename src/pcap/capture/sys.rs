//! The system calls of a live capture: an `AF_PACKET` socket bound to one
//! interface with its filter, and the socket's drop counter (the frames
//! themselves are read from the ring, [`super::ring`]).

use std::io;
use std::mem;
use std::os::fd::AsRawFd;

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
