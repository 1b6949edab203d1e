//! TCP sockets with explicit options: buffer sizes, Nagle, MSS, IPv6-only,
//! marking (DSCP) and congestion control.
//!
//! Each option the user gives is applied with its own system call before
//! `bind`/`connect` (so that the MSS and buffer sizes shape the handshake,
//! and the SYN and a listener's SYN-ACKs carry the marking),
//! and [`Applied`] reads back what the kernel really took. Linux doubles
//! `SO_SNDBUF` and `SO_RCVBUF` for its own bookkeeping (socket(7)), so the
//! applied value is usually twice the requested one.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};

use super::{congestion, marking};

/// Options the user asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SockOpts {
    /// `SO_SNDBUF`, bytes.
    pub sndbuf: Option<usize>,
    /// `SO_RCVBUF`, bytes.
    pub rcvbuf: Option<usize>,
    /// `TCP_NODELAY`: Nagle's algorithm off.
    pub nodelay: bool,
    /// `TCP_MAXSEG`, bytes.
    pub mss: Option<u32>,
    /// `IP_TOS` / `IPV6_TCLASS`: the whole byte, DSCP << 2 | ECN (TCP keeps
    /// the ECN bits its own: [`crate::net::marking`]).
    pub tos: Option<u8>,
    /// `TCP_CONGESTION`: the congestion control algorithm.
    pub congestion: Option<String>,
}

/// What the kernel really applied, read back after the options were set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// `SO_SNDBUF` as the kernel reports it.
    pub sndbuf: usize,
    /// `SO_RCVBUF` as the kernel reports it.
    pub rcvbuf: usize,
    /// `TCP_NODELAY`.
    pub nodelay: bool,
    /// `TCP_MAXSEG` (on a connected socket: the MSS in use).
    pub mss: u32,
    /// `IP_TOS` / `IPV6_TCLASS` as the kernel holds it, when not 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tos: Option<u8>,
    /// `TCP_CONGESTION`: the algorithm the socket uses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub congestion: Option<String>,
}

impl Applied {
    /// Reads the options back from a socket.
    pub fn read(sock: &Socket) -> io::Result<Applied> {
        Ok(Applied {
            sndbuf: sock.send_buffer_size()?,
            rcvbuf: sock.recv_buffer_size()?,
            nodelay: sock.tcp_nodelay()?,
            mss: sock.tcp_mss()?,
            tos: Some(marking::tos_of(sock)?).filter(|t| *t != 0),
            congestion: congestion::get(sock).ok().filter(|c| !c.is_empty()),
        })
    }

    /// One line for logs: requested beside applied.
    pub fn describe(&self, asked: &SockOpts) -> String {
        let req = |v: Option<usize>| v.map_or("default".to_string(), |v| v.to_string());
        let mut s = format!(
            "sndbuf {} (asked {}), rcvbuf {} (asked {}), nodelay {}, mss {}{}",
            self.sndbuf,
            req(asked.sndbuf),
            self.rcvbuf,
            req(asked.rcvbuf),
            self.nodelay,
            self.mss,
            asked.mss.map_or(String::new(), |m| format!(" (asked {m})")),
        );
        if self.tos.is_some() || asked.tos.is_some() {
            let hex = |t: Option<u8>| t.map_or("0x00".to_string(), |t| format!("{t:#04x}"));
            s += &format!(", tos {} (asked {})", hex(self.tos), hex(asked.tos));
        }
        if let Some(c) = &self.congestion {
            s += &format!(", congestion {c}");
        }
        s
    }
}

/// A socket operation that failed, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The listening address could not be bound.
    #[error("cannot listen on {addr}: {source}{}", bind_hint(source))]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The system's reason.
        source: io::Error,
    },
    /// The server could not be reached.
    #[error(
        "cannot connect to {addr}: {source}; is a server running on {addr}? start one with `ardei-lab server --bind {addr}`"
    )]
    Connect {
        /// The address.
        addr: SocketAddr,
        /// The system's reason.
        source: io::Error,
    },
    /// A congestion control the kernel refused.
    #[error("{}", congestion::refusal(name, source, &congestion::available()))]
    Congestion {
        /// The algorithm asked for.
        name: String,
        /// The system's reason.
        source: io::Error,
    },
    /// An option could not be set.
    #[error("cannot set {name}: {source}")]
    Option {
        /// The option.
        name: &'static str,
        /// The system's reason.
        source: io::Error,
    },
}

fn bind_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::AddrInUse => {
            "; another program holds that port: pick another with --bind HOST:PORT"
        }
        io::ErrorKind::AddrNotAvailable => "; that address is not on this machine",
        io::ErrorKind::PermissionDenied => "; ports below 1024 need root",
        _ => "",
    }
}

/// Maps a failed option call to the error that names the option.
pub(crate) fn opt(name: &'static str) -> impl FnOnce(io::Error) -> NetError {
    move |source| NetError::Option { name, source }
}

/// A socket of `addr`'s family, IPv6-only when IPv6, with the buffer sizes
/// asked for: what TCP and UDP sockets share.
pub(crate) fn base_socket(
    addr: &SocketAddr,
    ty: Type,
    protocol: Protocol,
    sndbuf: Option<usize>,
    rcvbuf: Option<usize>,
) -> Result<Socket, NetError> {
    let sock =
        Socket::new(Domain::for_address(*addr), ty, Some(protocol)).map_err(opt("socket"))?;
    if addr.is_ipv6() {
        // Explicit, whatever net.ipv6.bindv6only says: a v6 socket serves v6.
        sock.set_only_v6(true).map_err(opt("IPV6_V6ONLY"))?;
    }
    if let Some(n) = sndbuf {
        sock.set_send_buffer_size(n).map_err(opt("SO_SNDBUF"))?;
    }
    if let Some(n) = rcvbuf {
        sock.set_recv_buffer_size(n).map_err(opt("SO_RCVBUF"))?;
    }
    Ok(sock)
}

/// A TCP socket for `addr`'s family with the options applied.
pub fn tcp_socket(addr: &SocketAddr, opts: &SockOpts) -> Result<Socket, NetError> {
    let sock = base_socket(addr, Type::STREAM, Protocol::TCP, opts.sndbuf, opts.rcvbuf)?;
    if opts.nodelay {
        sock.set_tcp_nodelay(true).map_err(opt("TCP_NODELAY"))?;
    }
    if let Some(m) = opts.mss {
        sock.set_tcp_mss(m).map_err(opt("TCP_MAXSEG"))?;
    }
    if let Some(t) = opts.tos {
        let name = if addr.is_ipv6() {
            "IPV6_TCLASS"
        } else {
            "IP_TOS"
        };
        marking::set_tos(&sock, t).map_err(opt(name))?;
    }
    if let Some(c) = &opts.congestion {
        congestion::set(&sock, c).map_err(|source| NetError::Congestion {
            name: c.clone(),
            source,
        })?;
    }
    Ok(sock)
}

/// A listening TCP socket on `addr` with the options applied; accepted
/// sockets inherit them.
pub fn tcp_listen(addr: SocketAddr, opts: &SockOpts) -> Result<(TcpListener, Applied), NetError> {
    let sock = tcp_socket(&addr, opts)?;
    sock.set_reuse_address(true).map_err(opt("SO_REUSEADDR"))?;
    sock.bind(&addr.into())
        .map_err(|source| NetError::Bind { addr, source })?;
    sock.listen(1024)
        .map_err(|source| NetError::Bind { addr, source })?;
    let applied = Applied::read(&sock).map_err(opt("getsockopt"))?;
    Ok((sock.into(), applied))
}

/// A TCP connection to `addr` with the options applied before the handshake.
pub fn tcp_connect(
    addr: SocketAddr,
    opts: &SockOpts,
    timeout: Duration,
) -> Result<(TcpStream, Applied), NetError> {
    tcp_connect_with(addr, opts, timeout, |_| Ok::<(), NetError>(()))
}

/// The unspecified address of `addr`'s family, port 0.
pub fn any_of(addr: &SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

/// Binds `sock` to an ephemeral port on the wildcard address of `addr`'s
/// family, and returns the address it got.
pub fn bind_any(sock: &Socket, addr: &SocketAddr) -> Result<SocketAddr, NetError> {
    let any = any_of(addr);
    sock.bind(&any.into())
        .map_err(|source| NetError::Bind { addr: any, source })?;
    Ok(sock
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .unwrap_or(any))
}

/// As [`tcp_connect`], but the socket is first bound to an ephemeral port
/// and `before` learns it before the SYN leaves (a live capture starts
/// there, so it sees the handshake).
pub fn tcp_connect_with<E: From<NetError>>(
    addr: SocketAddr,
    opts: &SockOpts,
    timeout: Duration,
    before: impl FnOnce(SocketAddr) -> Result<(), E>,
) -> Result<(TcpStream, Applied), E> {
    let sock = tcp_socket(&addr, opts)?;
    let local = bind_any(&sock, &addr)?;
    before(local)?;
    sock.connect_timeout(&addr.into(), timeout)
        .map_err(|source| NetError::Connect { addr, source })?;
    let applied = Applied::read(&sock).map_err(opt("getsockopt"))?;
    Ok((sock.into(), applied))
}

/// Reads back the options of a connected stream.
pub fn applied_of(stream: &TcpStream) -> io::Result<Applied> {
    Applied::read(&socket2::SockRef::from(stream))
}

/// Sets an integer socket option (`setsockopt` with a C `int`).
pub(crate) fn set_int(fd: &impl AsRawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    set_plain(fd, level, name, &value)
}

/// Sets a 64-bit socket option (`SO_MAX_PACING_RATE` takes one).
pub(crate) fn set_u64(fd: &impl AsRawFd, level: i32, name: i32, value: u64) -> io::Result<()> {
    set_plain(fd, level, name, &value)
}

/// `setsockopt` with a plain value (an integer) passed by address.
fn set_plain<T: Copy>(fd: &impl AsRawFd, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a live plain value and its size is passed; the
    // kernel only reads it. The descriptor is owned by the caller for the
    // call's length.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads an integer socket option (`getsockopt`).
pub(crate) fn get_int(fd: &impl AsRawFd, level: i32, name: i32) -> io::Result<i32> {
    get_plain(fd, level, name)
}

/// `getsockopt` into a plain value (an integer) of the option's size.
fn get_plain<T: Copy + Default>(fd: &impl AsRawFd, level: i32, name: i32) -> io::Result<T> {
    let mut value = T::default();
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live and sized for the option; the
    // kernel writes at most `len` bytes.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut value as *mut T).cast(),
            &mut len,
        )
    };
    if r == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get_u64(fd: &impl AsRawFd, level: i32, name: i32) -> io::Result<u64> {
        get_plain(fd, level, name)
    }

    #[test]
    fn a_pacing_rate_reads_back_as_set() {
        let sock = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        set_u64(
            &sock,
            libc::SOL_SOCKET,
            libc::SO_MAX_PACING_RATE,
            12_500_000,
        )
        .unwrap();
        let got = get_u64(&sock, libc::SOL_SOCKET, libc::SO_MAX_PACING_RATE).unwrap();
        assert_eq!(got, 12_500_000);
        set_u64(&sock, libc::SOL_SOCKET, libc::SO_MAX_PACING_RATE, u64::MAX).unwrap();
        assert_eq!(
            get_u64(&sock, libc::SOL_SOCKET, libc::SO_MAX_PACING_RATE).unwrap(),
            u64::MAX
        );
    }

    #[test]
    fn options_round_trip_through_the_kernel() {
        let opts = SockOpts {
            sndbuf: Some(65536),
            rcvbuf: Some(65536),
            nodelay: true,
            mss: Some(1000),
            tos: Some(0xB8),
            congestion: Some("reno".into()),
        };
        let (l, applied) = tcp_listen("127.0.0.1:0".parse().unwrap(), &opts).unwrap();
        // Linux doubles the buffer sizes (socket(7)).
        assert_eq!(applied.sndbuf, 131072);
        assert_eq!(applied.rcvbuf, 131072);
        assert!(applied.nodelay);
        assert_eq!(applied.tos, Some(0xB8));
        assert_eq!(applied.congestion.as_deref(), Some("reno"));
        let addr = l.local_addr().unwrap();
        let (c, capplied) = tcp_connect(addr, &opts, Duration::from_secs(2)).unwrap();
        let (s, _) = l.accept().unwrap();
        assert!(capplied.mss <= 1000, "{capplied:?}");
        assert_eq!(capplied.tos, Some(0xB8));
        assert_eq!(capplied.congestion.as_deref(), Some("reno"));
        let sapplied = applied_of(&s).unwrap();
        assert!(sapplied.nodelay);
        // Accepted sockets inherit the listener's marking and algorithm.
        assert_eq!(sapplied.tos, Some(0xB8));
        assert_eq!(sapplied.congestion.as_deref(), Some("reno"));
        let j = serde_json::to_value(&capplied).unwrap();
        assert_eq!(j["congestion"], "reno");
        assert!(
            applied
                .describe(&opts)
                .contains("tos 0xb8 (asked 0xb8), congestion reno")
        );
        drop(c);
    }

    #[test]
    fn v6_sockets_take_the_traffic_class_and_the_algorithm() {
        let opts = SockOpts {
            tos: Some(0xB8),
            congestion: Some("cubic".into()),
            ..SockOpts::default()
        };
        let Ok((l, applied)) = tcp_listen("[::1]:0".parse().unwrap(), &opts) else {
            return; // no IPv6 on this host
        };
        assert_eq!(applied.tos, Some(0xB8));
        let (c, capplied) =
            tcp_connect(l.local_addr().unwrap(), &opts, Duration::from_secs(2)).unwrap();
        assert_eq!(capplied.tos, Some(0xB8));
        assert_eq!(capplied.congestion.as_deref(), Some("cubic"));
        drop(c);
    }

    #[test]
    fn an_unknown_algorithm_is_named_with_what_the_kernel_offers() {
        let opts = SockOpts {
            congestion: Some("no-such-algo".into()),
            ..SockOpts::default()
        };
        let e = tcp_listen("127.0.0.1:0".parse().unwrap(), &opts).unwrap_err();
        assert!(matches!(e, NetError::Congestion { .. }), "{e:?}");
        let m = e.to_string();
        assert!(m.contains("\"no-such-algo\" is not available"), "{m}");
        assert!(m.contains("reno"), "{m}");
    }

    #[test]
    fn a_plain_socket_reports_no_marking() {
        let (l, applied) =
            tcp_listen("127.0.0.1:0".parse().unwrap(), &SockOpts::default()).unwrap();
        assert_eq!(applied.tos, None);
        assert!(applied.congestion.is_some());
        let j = serde_json::to_value(&applied).unwrap();
        assert!(j.get("tos").is_none(), "{j}");
        drop(l);
    }

    #[test]
    fn v6_sockets_are_v6_only() {
        let Ok((l, _)) = tcp_listen("[::1]:0".parse().unwrap(), &SockOpts::default()) else {
            return; // no IPv6 on this host
        };
        assert!(socket2::SockRef::from(&l).only_v6().unwrap());
    }

    #[test]
    fn connect_error_says_what_to_do() {
        let (l, _) = tcp_listen("127.0.0.1:0".parse().unwrap(), &SockOpts::default()).unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let e = tcp_connect(addr, &SockOpts::default(), Duration::from_secs(1)).unwrap_err();
        assert!(e.to_string().contains("ardei-lab server --bind"), "{e}");
    }
}
