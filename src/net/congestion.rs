//! TCP congestion control per socket: `TCP_CONGESTION` (tcp(7)).
//!
//! The kernel offers the algorithms built in or loaded as modules
//! (`/proc/sys/net/ipv4/tcp_available_congestion_control`). A privileged
//! process (`CAP_NET_ADMIN`) may name one that is not loaded yet, and the
//! kernel loads its module (`tcp_bbr`, …) on the spot; so a name is tried on
//! a socket before it is called unknown, and [`check`] answers for the
//! command line by trying it on a probe socket.

use std::io;
use std::os::fd::AsRawFd;

/// Longest algorithm name the kernel takes (`TCP_CA_NAME_MAX`, with its
/// terminating zero).
const NAME_MAX: usize = 16;

const AVAILABLE: &str = "/proc/sys/net/ipv4/tcp_available_congestion_control";

/// The algorithms the kernel offers now, in its order; empty when the list
/// cannot be read.
pub fn available() -> Vec<String> {
    std::fs::read_to_string(AVAILABLE)
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Sets the socket's congestion control to `name`. `ENOENT` when the
/// kernel has no such algorithm (and could not load it), `EPERM` when it
/// is not in `tcp_allowed_congestion_control` and the process may not
/// use others.
pub fn set(sock: &impl AsRawFd, name: &str) -> io::Result<()> {
    if name.is_empty() || name.len() >= NAME_MAX || name.contains('\0') {
        return Err(io::Error::from_raw_os_error(libc::ENOENT));
    }
    // SAFETY: the name is live for the call and its length is passed; the
    // kernel copies at most that many bytes.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The socket's congestion control, read back.
pub fn get(sock: &impl AsRawFd) -> io::Result<String> {
    let mut buf = [0u8; NAME_MAX];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: `buf` and `len` are live and `len` is its size; the kernel
    // writes at most `len` bytes and reports how many.
    let r = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let got = &buf[..(len as usize).min(buf.len())];
    let end = got.iter().position(|b| *b == 0).unwrap_or(got.len());
    Ok(String::from_utf8_lossy(&got[..end]).into_owned())
}

/// Whether `name` can be used, tried on a probe TCP socket: `Ok`, or a
/// sentence for the command line that names what the kernel offers.
pub fn check(name: &str) -> Result<(), String> {
    let probe = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .map_err(|e| format!("cannot open a TCP socket to try {name:?}: {e}"))?;
    match set(&probe, name) {
        Ok(()) => Ok(()),
        Err(e) => Err(refusal(name, &e, &available())),
    }
}

/// The sentence for an algorithm the kernel refused.
pub fn refusal(name: &str, e: &io::Error, offered: &[String]) -> String {
    let why = match e.raw_os_error() {
        Some(libc::ENOENT) => "this kernel has no such algorithm".to_string(),
        Some(libc::EPERM) => {
            "it is not in net.ipv4.tcp_allowed_congestion_control and this process may not use others"
                .to_string()
        }
        _ => e.to_string(),
    };
    let offer = if offered.is_empty() {
        "the kernel's list cannot be read".to_string()
    } else {
        format!("this kernel offers {}", offered.join(", "))
    };
    format!("congestion control {name:?} is not available ({why}): {offer}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn cubic_and_reno_set_and_read_back() {
        let offered = available();
        assert!(offered.iter().any(|a| a == "reno"), "{offered:?}");
        for addr in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(l) = TcpListener::bind(addr) else {
                continue; // no IPv6 on this host
            };
            let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            for name in ["cubic", "reno"] {
                set(&c, name).unwrap();
                assert_eq!(get(&c).unwrap(), name);
                assert_eq!(check(name), Ok(()));
            }
            set(&l, "reno").unwrap();
            let _c2 = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (s, _) = l.accept().unwrap();
            // Accepted sockets inherit the listener's algorithm.
            let (s2, _) = l.accept().unwrap();
            assert!(!get(&s).unwrap().is_empty());
            assert_eq!(get(&s2).unwrap(), "reno");
        }
    }

    #[test]
    fn a_bogus_name_is_refused_with_what_the_kernel_offers() {
        let e = check("no-such-algo").unwrap_err();
        assert!(e.contains("\"no-such-algo\" is not available"), "{e}");
        assert!(e.contains("this kernel offers"), "{e}");
        for a in available() {
            assert!(e.contains(&a), "{e}");
        }
        let e = check("a-name-far-too-long-for-the-kernel").unwrap_err();
        assert!(e.contains("no such algorithm"), "{e}");
        assert!(check("").is_err());
    }
}
