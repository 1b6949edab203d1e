//! Marking: the IP header's TOS byte (IPv4) or traffic class (IPv6), the
//! six bits of DSCP and the two of ECN (RFC 2474, RFC 3168), set on a socket
//! and read back, read from received datagrams, and counted.
//!
//! - A socket's marking is `IP_TOS` (ip(7)) or `IPV6_TCLASS` (ipv6(7)):
//!   [`set_tos`] picks the one of the socket's family. Set before `connect`
//!   it marks the SYN; set on a listener before `listen` it marks the
//!   SYN-ACKs, and accepted sockets inherit it.
//! - **Linux TCP keeps the ECN bits to itself**: on a TCP socket the kernel
//!   drops the two low bits of what `IP_TOS` / `IPV6_TCLASS` is given and
//!   keeps its own (ECT(0) once ECN is negotiated, `net.ipv4.tcp_ecn`), so
//!   only the DSCP of a TCP socket is the user's. UDP sends the byte as
//!   given.
//! - UDP may mark each datagram on its own with a control message
//!   ([`crate::net::batch::send_marked`]), and learns each received
//!   datagram's byte once [`set_recv_tos`] (`IP_RECVTOS`,
//!   `IPV6_RECVTCLASS`) is on ([`crate::net::batch::Received::tos`]).
//! - [`Ecn`], [`Dscp`] and [`EcnCounts`] are pure values over the byte.

use std::io;
use std::os::fd::AsRawFd;

use serde::Serialize;

use super::socket::{get_int, set_int};

/// The ECN field: the low two bits of the TOS byte (RFC 3168).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ecn {
    /// `00`: the sender does not do ECN.
    NotEct,
    /// `01`: ECN-capable transport (1).
    Ect1,
    /// `10`: ECN-capable transport (0), what senders use.
    Ect0,
    /// `11`: congestion experienced, set by a router.
    Ce,
}

impl Ecn {
    /// The ECN field of a TOS byte.
    pub fn of(tos: u8) -> Ecn {
        match tos & 0b11 {
            0 => Ecn::NotEct,
            1 => Ecn::Ect1,
            2 => Ecn::Ect0,
            _ => Ecn::Ce,
        }
    }

    /// Its two bits.
    pub fn bits(self) -> u8 {
        match self {
            Ecn::NotEct => 0,
            Ecn::Ect1 => 1,
            Ecn::Ect0 => 2,
            Ecn::Ce => 3,
        }
    }

    /// Whether the sender does ECN: ECT(0), ECT(1) or CE.
    pub fn capable(self) -> bool {
        self != Ecn::NotEct
    }

    /// Its name as Wireshark prints it.
    pub fn name(self) -> &'static str {
        match self {
            Ecn::NotEct => "Not-ECT",
            Ecn::Ect1 => "ECT(1)",
            Ecn::Ect0 => "ECT(0)",
            Ecn::Ce => "CE",
        }
    }
}

/// A DSCP, the high six bits of the TOS byte (0 to 63).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct Dscp(u8);

impl Dscp {
    /// Expedited forwarding (RFC 3246): 46, TOS byte 0xB8.
    pub const EF: Dscp = Dscp(46);
    /// The largest DSCP.
    pub const MAX: u8 = 63;

    /// A DSCP, if `value` fits in six bits.
    pub fn new(value: u8) -> Option<Dscp> {
        (value <= Dscp::MAX).then_some(Dscp(value))
    }

    /// The DSCP of a TOS byte.
    pub fn of(tos: u8) -> Dscp {
        Dscp(tos >> 2)
    }

    /// Its value, 0 to 63.
    pub fn value(self) -> u8 {
        self.0
    }

    /// The TOS byte with this DSCP and `ecn`: `dscp << 2 | ecn`.
    pub fn tos(self, ecn: Ecn) -> u8 {
        self.0 << 2 | ecn.bits()
    }
}

/// Datagrams counted by their ECN field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EcnCounts {
    /// Not-ECT.
    pub not_ect: u64,
    /// ECT(0).
    pub ect0: u64,
    /// ECT(1).
    pub ect1: u64,
    /// CE.
    pub ce: u64,
}

impl EcnCounts {
    /// Counts one datagram of TOS byte `tos`.
    pub fn add(&mut self, tos: u8) {
        self.add_n(tos, 1);
    }

    /// Counts `n` datagrams of TOS byte `tos` (a GRO buffer: one byte for
    /// all the datagrams it holds).
    pub fn add_n(&mut self, tos: u8, n: u64) {
        let c = match Ecn::of(tos) {
            Ecn::NotEct => &mut self.not_ect,
            Ecn::Ect0 => &mut self.ect0,
            Ecn::Ect1 => &mut self.ect1,
            Ecn::Ce => &mut self.ce,
        };
        *c = c.saturating_add(n);
    }

    /// All the datagrams counted.
    pub fn total(&self) -> u64 {
        self.not_ect
            .saturating_add(self.ect0)
            .saturating_add(self.ect1)
            .saturating_add(self.ce)
    }
}

/// Whether a socket is IPv6 (`SO_DOMAIN`): which of the IPv4 and IPv6
/// options marks it.
pub fn is_v6(sock: &impl AsRawFd) -> io::Result<bool> {
    Ok(get_int(sock, libc::SOL_SOCKET, libc::SO_DOMAIN)? == libc::AF_INET6)
}

/// Sets the TOS byte (DSCP and ECN) of what the socket sends: `IP_TOS` on
/// an IPv4 socket, `IPV6_TCLASS` on an IPv6 one. On TCP the kernel keeps
/// the ECN bits its own (see the module doc).
pub fn set_tos(sock: &impl AsRawFd, tos: u8) -> io::Result<()> {
    if is_v6(sock)? {
        set_int(sock, libc::IPPROTO_IPV6, libc::IPV6_TCLASS, i32::from(tos))
    } else {
        set_int(sock, libc::IPPROTO_IP, libc::IP_TOS, i32::from(tos))
    }
}

/// The TOS byte the socket sends with, as the kernel holds it.
pub fn tos_of(sock: &impl AsRawFd) -> io::Result<u8> {
    let v = if is_v6(sock)? {
        get_int(sock, libc::IPPROTO_IPV6, libc::IPV6_TCLASS)?
    } else {
        get_int(sock, libc::IPPROTO_IP, libc::IP_TOS)?
    };
    // IPV6_TCLASS reads -1 for "the route's default", which is 0.
    Ok(u8::try_from(v).unwrap_or(0))
}

/// Turns on (or off) the report of each received datagram's TOS byte in a
/// control message: `IP_RECVTOS` on IPv4, `IPV6_RECVTCLASS` on IPv6.
pub fn set_recv_tos(sock: &impl AsRawFd, on: bool) -> io::Result<()> {
    if is_v6(sock)? {
        set_int(sock, libc::IPPROTO_IPV6, libc::IPV6_RECVTCLASS, on.into())
    } else {
        set_int(sock, libc::IPPROTO_IP, libc::IP_RECVTOS, on.into())
    }
}

/// `net.ipv4.tcp_reflect_tos`: whether a listener answers a SYN with the
/// SYN's own TOS byte (and the accepted socket keeps it) instead of the
/// listener's. `None` when the kernel has no such setting (before 5.10).
pub fn tcp_reflect_tos() -> Option<bool> {
    sysctl("/proc/sys/net/ipv4/tcp_reflect_tos").map(|v| v != 0)
}

/// `net.ipv4.tcp_ecn`: 0 no ECN, 1 ask for it and accept it, 2 accept it
/// when asked (the default); newer kernels add values for accurate ECN.
/// `None` when it cannot be read.
pub fn tcp_ecn() -> Option<u32> {
    sysctl("/proc/sys/net/ipv4/tcp_ecn")
}

fn sysctl(path: &str) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream, UdpSocket};

    #[test]
    fn dscp_and_ecn_make_and_split_the_byte() {
        assert_eq!(Dscp::EF.tos(Ecn::NotEct), 0xB8);
        assert_eq!(Dscp::new(46).unwrap().tos(Ecn::Ect0), 0xBA);
        assert_eq!(Dscp::new(63).unwrap().tos(Ecn::Ce), 0xFF);
        assert_eq!(Dscp::new(64), None);
        assert_eq!(Dscp::of(0xBA), Dscp::EF);
        for b in 0..4u8 {
            assert_eq!(Ecn::of(0xB8 | b).bits(), b);
        }
        assert_eq!(Ecn::of(0xBA), Ecn::Ect0);
        assert_eq!(Ecn::of(0x01), Ecn::Ect1);
        assert!(Ecn::Ce.capable() && !Ecn::NotEct.capable());
    }

    #[test]
    fn ecn_counts_count_by_the_low_bits() {
        let mut c = EcnCounts::default();
        c.add(0xB8);
        c.add(0xBA);
        c.add_n(0x02, 10);
        c.add(0x01);
        c.add(0x03);
        assert_eq!(
            c,
            EcnCounts {
                not_ect: 1,
                ect0: 11,
                ect1: 1,
                ce: 1
            }
        );
        assert_eq!(c.total(), 14);
        let j = serde_json::to_value(c).unwrap();
        assert_eq!(j["ect0"], 11);
        assert_eq!(j["not_ect"], 1);
    }

    #[test]
    fn udp_sockets_keep_the_whole_byte() {
        for addr in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(s) = UdpSocket::bind(addr) else {
                continue; // no IPv6 on this host
            };
            assert_eq!(tos_of(&s).unwrap(), 0);
            set_tos(&s, 0xBA).unwrap();
            assert_eq!(tos_of(&s).unwrap(), 0xBA, "{addr}");
            set_recv_tos(&s, true).unwrap();
        }
    }

    /// Linux TCP drops the ECN bits of `IP_TOS` and `IPV6_TCLASS`: a TCP
    /// socket reads back the DSCP asked for, and the connection it accepts
    /// inherits it.
    #[test]
    fn tcp_sockets_read_back_their_dscp() {
        for addr in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(l) = TcpListener::bind(addr) else {
                continue;
            };
            set_tos(&l, 0xB8).unwrap();
            assert_eq!(tos_of(&l).unwrap(), 0xB8, "{addr}");
            let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (s, _) = l.accept().unwrap();
            assert_eq!(Dscp::of(tos_of(&s).unwrap()), Dscp::EF, "{addr}");
            set_tos(&c, 0xBB).unwrap();
            assert_eq!(Dscp::of(tos_of(&c).unwrap()), Dscp::new(46).unwrap());
            assert_eq!(Ecn::of(tos_of(&c).unwrap()), Ecn::NotEct, "{addr}");
        }
    }

    #[test]
    fn the_sysctls_read_as_numbers() {
        if std::path::Path::new("/proc/sys/net/ipv4/tcp_ecn").exists() {
            assert!(tcp_ecn().is_some());
        }
        if std::path::Path::new("/proc/sys/net/ipv4/tcp_reflect_tos").exists() {
            assert!(tcp_reflect_tos().is_some());
        }
        assert_eq!(sysctl("/proc/sys/net/ipv4/no_such_setting"), None);
    }
}
