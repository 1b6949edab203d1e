//! UDP sockets with explicit options: buffer sizes, don't-fragment, path MTU.
//!
//! - Don't-fragment: `IP_MTU_DISCOVER = IP_PMTUDISC_DO` on IPv4, and
//!   `IPV6_MTU_DISCOVER = IPV6_PMTUDISC_DO` with `IPV6_DONTFRAG` on IPv6
//!   (ip(7), ipv6(7)): a datagram larger than the path MTU fails with
//!   `EMSGSIZE` instead of leaving in fragments. `--fragment` sets
//!   `PMTUDISC_DONT`, and the kernel fragments.
//! - Path MTU: `IP_MTU` / `IPV6_MTU` on a connected socket: the MTU the
//!   kernel knows for the route to the peer (the interface MTU until a
//!   smaller one is learnt).
//! - A datagram with its sender and TOS byte ([`recv_from_tos`]): what a
//!   server with one socket for every peer needs to answer each request
//!   with the marking it came with.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use serde::Serialize;
use socket2::{Protocol, Socket, Type};

use super::NetError;
use super::cmsg;
use super::socket::{base_socket, bind_any, get_int, opt, set_int};

/// Options the user asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpOpts {
    /// `SO_SNDBUF`, bytes.
    pub sndbuf: Option<usize>,
    /// `SO_RCVBUF`, bytes.
    pub rcvbuf: Option<usize>,
    /// Let IP fragment datagrams larger than the path MTU.
    pub fragment: bool,
}

/// What the kernel applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UdpApplied {
    /// `SO_SNDBUF` as the kernel reports it.
    pub sndbuf: usize,
    /// `SO_RCVBUF` as the kernel reports it.
    pub rcvbuf: usize,
    /// Whether don't-fragment is set.
    pub dont_fragment: bool,
}

/// Sets don't-fragment on (`on`) or off for a socket of the given family.
pub fn set_dont_fragment(fd: &impl AsRawFd, v6: bool, on: bool) -> io::Result<()> {
    if v6 {
        let mode = if on {
            libc::IPV6_PMTUDISC_DO
        } else {
            libc::IPV6_PMTUDISC_DONT
        };
        set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER, mode)?;
        set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_DONTFRAG, i32::from(on))
    } else {
        let mode = if on {
            libc::IP_PMTUDISC_DO
        } else {
            libc::IP_PMTUDISC_DONT
        };
        set_int(fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, mode)
    }
}

/// Whether don't-fragment is set.
pub fn dont_fragment(fd: &impl AsRawFd, v6: bool) -> io::Result<bool> {
    if v6 {
        Ok(get_int(fd, libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER)? == libc::IPV6_PMTUDISC_DO)
    } else {
        Ok(get_int(fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER)? == libc::IP_PMTUDISC_DO)
    }
}

/// The path MTU of a connected socket (`IP_MTU` / `IPV6_MTU`).
pub fn path_mtu(fd: &impl AsRawFd, v6: bool) -> io::Result<u32> {
    let v = if v6 {
        get_int(fd, libc::IPPROTO_IPV6, libc::IPV6_MTU)?
    } else {
        get_int(fd, libc::IPPROTO_IP, libc::IP_MTU)?
    };
    Ok(v.max(0) as u32)
}

/// IP header bytes before the UDP header, without options.
pub fn ip_header_len(v6: bool) -> u32 {
    if v6 { 40 } else { 20 }
}

fn udp_socket(family: &SocketAddr, opts: &UdpOpts) -> Result<Socket, NetError> {
    let sock = base_socket(family, Type::DGRAM, Protocol::UDP, opts.sndbuf, opts.rcvbuf)?;
    set_dont_fragment(&sock, family.is_ipv6(), !opts.fragment).map_err(opt("IP_MTU_DISCOVER"))?;
    Ok(sock)
}

fn applied(sock: &Socket, v6: bool) -> Result<UdpApplied, NetError> {
    Ok(UdpApplied {
        sndbuf: sock.send_buffer_size().map_err(opt("SO_SNDBUF"))?,
        rcvbuf: sock.recv_buffer_size().map_err(opt("SO_RCVBUF"))?,
        dont_fragment: dont_fragment(sock, v6).map_err(opt("IP_MTU_DISCOVER"))?,
    })
}

/// A UDP socket bound to `addr` (a server's).
pub fn udp_bind(addr: SocketAddr, opts: &UdpOpts) -> Result<(UdpSocket, UdpApplied), NetError> {
    let sock = udp_socket(&addr, opts)?;
    sock.bind(&addr.into())
        .map_err(|source| NetError::Bind { addr, source })?;
    let a = applied(&sock, addr.is_ipv6())?;
    Ok((sock.into(), a))
}

/// A UDP socket on an ephemeral port, connected to `target` (a client's):
/// only the server's datagrams reach it, and ICMP errors come back as
/// socket errors.
pub fn udp_connect(
    target: SocketAddr,
    opts: &UdpOpts,
) -> Result<(UdpSocket, UdpApplied), NetError> {
    udp_connect_with(target, opts, |_| Ok::<(), NetError>(()))
}

/// As [`udp_connect`], with `before` told the local port once the socket is
/// bound and before anything is sent.
pub fn udp_connect_with<E: From<NetError>>(
    target: SocketAddr,
    opts: &UdpOpts,
    before: impl FnOnce(SocketAddr) -> Result<(), E>,
) -> Result<(UdpSocket, UdpApplied), E> {
    let sock = udp_socket(&target, opts)?;
    let local = bind_any(&sock, &target)?;
    before(local)?;
    sock.connect(&target.into())
        .map_err(|source| NetError::Connect {
            addr: target,
            source,
        })?;
    let a = applied(&sock, target.is_ipv6())?;
    Ok((sock.into(), a))
}

/// One datagram (`recvmsg(2)`): its length, its sender, and its TOS byte
/// (IPv4) or traffic class (IPv6) when the socket reports it
/// ([`crate::net::marking::set_recv_tos`]). With `dontwait`, `WouldBlock`
/// at once when none waits; else as long as `SO_RCVTIMEO` allows.
pub fn recv_from_tos(
    sock: &impl AsRawFd,
    buf: &mut [u8],
    dontwait: bool,
) -> io::Result<(usize, SocketAddr, Option<u8>)> {
    let mut from = socket2::SockAddrStorage::zeroed();
    // SAFETY: an all-zero msghdr is a valid empty header.
    let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
    // u64s keep the control area aligned for the cmsg headers.
    let mut control = [0u64; 8];
    debug_assert!(std::mem::size_of_val(&control) >= cmsg::recv_space());
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    h.msg_namelen = from.size_of();
    // SAFETY: the storage is a sockaddr_storage, the largest address.
    h.msg_name =
        (unsafe { from.view_as::<libc::sockaddr_storage>() } as *mut libc::sockaddr_storage).cast();
    h.msg_iov = &mut iov;
    h.msg_iovlen = 1;
    h.msg_control = control.as_mut_ptr().cast();
    h.msg_controllen = std::mem::size_of_val(&control) as _;
    let flags = if dontwait { libc::MSG_DONTWAIT } else { 0 };
    // SAFETY: the header points at the live buffer, address and control
    // area, each with its size, unaliased until the call returns.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut h, flags) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel wrote a socket address of `msg_namelen` bytes.
    let addr = unsafe { socket2::SockAddr::new(from, h.msg_namelen) };
    let from = addr.as_socket().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "a datagram from an address that is not IP",
        )
    })?;
    Ok((n as usize, from, cmsg::parse(&h).tos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_path_mtu_and_dont_fragment() {
        let (server, _) = udp_bind("127.0.0.1:0".parse().unwrap(), &UdpOpts::default()).unwrap();
        let (c, applied) = udp_connect(server.local_addr().unwrap(), &UdpOpts::default()).unwrap();
        assert!(applied.dont_fragment);
        // lo has MTU 65536; IP_MTU caps it at the largest IPv4 packet.
        assert_eq!(path_mtu(&c, false).unwrap(), 65535);
        let (c2, a2) = udp_connect(
            server.local_addr().unwrap(),
            &UdpOpts {
                fragment: true,
                ..UdpOpts::default()
            },
        )
        .unwrap();
        assert!(!a2.dont_fragment);
        drop((c2, server));
    }

    #[test]
    fn dont_fragment_refuses_oversized_datagrams() {
        let (server, _) = udp_bind("127.0.0.1:0".parse().unwrap(), &UdpOpts::default()).unwrap();
        let (c, _) = udp_connect(server.local_addr().unwrap(), &UdpOpts::default()).unwrap();
        // 65507 bytes is the most a UDP/IPv4 datagram can carry.
        assert!(c.send(&vec![0u8; 65_507]).is_ok());
        assert!(c.send(&vec![0u8; 65_508]).is_err());
    }
}
