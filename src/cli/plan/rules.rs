//! The rules server and client share: the CPU to pin to, the endpoint from
//! a target or the hosts file, the socket options, the `--mss` range
//! (checked as clap parses the flag, so its error is clap's), and the
//! congestion controls the kernel offers.

use std::net::SocketAddr;

use super::PlanError;
use crate::cli::args::{Endpoint, SocketArgs};
use crate::hosts::{self, Family};
use crate::net::SockOpts;
use crate::units::parse_size_u32;

/// `--cpu N`: a CPU this process may run on.
pub(crate) fn cpu(asked: Option<usize>) -> Result<Option<usize>, PlanError> {
    if let Some(cpu) = asked {
        crate::pace::check_cpu(cpu).map_err(PlanError::Cpu)?;
    }
    Ok(asked)
}

/// The IP family `-4` and `-6` ask for.
pub(crate) fn family(e: &Endpoint) -> Family {
    match (e.ipv4, e.ipv6) {
        (true, _) => Family::V4,
        (_, true) => Family::V6,
        _ => Family::Any,
    }
}

/// The address: `given` (a target or `--bind`) resolved in the family
/// asked for, else the hosts file's entry for that family at `--pick`.
pub(crate) fn address(given: Option<&str>, e: &Endpoint) -> Result<SocketAddr, PlanError> {
    let family = family(e);
    Ok(match given {
        Some(t) => hosts::resolve_target(t, family)?,
        None => {
            let list = hosts::load(e.hosts.as_deref())?;
            hosts::choose(&list, family, e.pick.map(|p| p as usize))?
        }
    })
}

/// The socket options: TCP's only over TCP, buffers from 1 byte to 1 GiB.
pub(crate) fn sock_opts(s: &SocketArgs) -> Result<SockOpts, PlanError> {
    if s.udp && (s.nodelay || s.mss.is_some()) {
        return Err(PlanError::TcpOptionOverUdp);
    }
    let buf = |v: Option<u64>, flag: &'static str| match v {
        None => Ok(None),
        Some(n) if (1..=(1u64 << 30)).contains(&n) => Ok(Some(n as usize)),
        Some(value) => Err(PlanError::BufferSize { flag, value }),
    };
    Ok(SockOpts {
        sndbuf: buf(s.sndbuf, "sndbuf")?,
        rcvbuf: buf(s.rcvbuf, "rcvbuf")?,
        nodelay: s.nodelay,
        mss: s.mss,
        ..SockOpts::default()
    })
}

/// Where Linux lists the congestion controls a socket may set.
const AVAILABLE_CONGESTION: &str = "/proc/sys/net/ipv4/tcp_available_congestion_control";

/// `-C ALGO`: a congestion control the kernel offers, as
/// `/proc/sys/net/ipv4/tcp_available_congestion_control` lists them, or
/// one a TCP socket accepts (which, as root, loads its module: `bbr` is
/// often not listed until then).
pub(crate) fn congestion(name: &str) -> Result<(), PlanError> {
    match std::fs::read_to_string(AVAILABLE_CONGESTION) {
        Ok(offered) => congestion_among(name, &offered)
            .or_else(|e| crate::net::congestion::check(name).map_err(|_| e)),
        Err(e) => Err(PlanError::Congestion {
            name: name.to_string(),
            offered: format!("none known: cannot read {AVAILABLE_CONGESTION}: {e}"),
        }),
    }
}

/// `name` if it is one of the space-separated names of `offered`.
fn congestion_among(name: &str, offered: &str) -> Result<(), PlanError> {
    let names: Vec<&str> = offered.split_whitespace().collect();
    if names.contains(&name) {
        return Ok(());
    }
    Err(PlanError::Congestion {
        name: name.to_string(),
        offered: format!(
            "choose one of {} ({AVAILABLE_CONGESTION})",
            names.join(", ")
        ),
    })
}

/// The TCP maximum segment size: a size (`1448`, `1K`) Linux accepts for
/// `TCP_MAXSEG`: from `TCP_MIN_MSS` (88) to `MAX_TCP_WINDOW` (32767); it
/// refuses anything larger with `EINVAL`.
pub(crate) fn parse_mss(s: &str) -> Result<u32, String> {
    let n = parse_size_u32(s).map_err(|e| e.to_string())?;
    if (88..=32767).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "{n} is outside 88..=32767 (what Linux takes for TCP_MAXSEG)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    use crate::cli::args::{Cli, Command};

    fn server(args: &[&str]) -> crate::cli::args::ServerArgs {
        let mut all = vec!["ardei-lab", "server"];
        all.extend(args);
        match Cli::try_parse_from(all).expect("parses").command {
            Command::Server(a) => a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_congestion_control_is_one_the_kernel_offers() {
        assert!(congestion_among("cubic", "reno cubic bbr\n").is_ok());
        let e = congestion_among("vegas", "reno cubic\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "-C vegas: not a congestion control this kernel offers: choose one of reno, cubic \
             (/proc/sys/net/ipv4/tcp_available_congestion_control)"
        );
        // The real list has at least the one the kernel was built with.
        let real = std::fs::read_to_string(AVAILABLE_CONGESTION).unwrap();
        let first = real.split_whitespace().next().unwrap();
        assert!(congestion(first).is_ok());
        let e = congestion("no-such-algorithm").unwrap_err().to_string();
        assert!(e.contains(first), "{e}");
    }

    #[test]
    fn mss_is_taken_from_88_to_32767() {
        assert_eq!(parse_mss("88"), Ok(88));
        assert_eq!(parse_mss("1K"), Ok(1024));
        assert_eq!(parse_mss("32767"), Ok(32767));
        assert_eq!(
            parse_mss("32768"),
            Err("32768 is outside 88..=32767 (what Linux takes for TCP_MAXSEG)".into())
        );
        assert_eq!(
            parse_mss("87"),
            Err("87 is outside 88..=32767 (what Linux takes for TCP_MAXSEG)".into())
        );
    }

    #[test]
    fn tcp_options_are_refused_over_udp() {
        for flags in [&["--udp", "--nodelay"][..], &["--udp", "--mss", "1000"]] {
            let e = sock_opts(&server(flags).socket).unwrap_err();
            assert_eq!(
                e.to_string(),
                "--nodelay and --mss are TCP options; UDP has no segments to size or delay"
            );
        }
        let o = sock_opts(&server(&["--nodelay", "--mss", "1000"]).socket).unwrap();
        assert!(o.nodelay);
        assert_eq!(o.mss, Some(1000));
    }

    #[test]
    fn buffers_are_taken_from_1_byte_to_1_gib() {
        let e = sock_opts(&server(&["--sndbuf", "0"]).socket).unwrap_err();
        assert_eq!(e.to_string(), "--sndbuf 0 is outside 1..=1G");
        let e = sock_opts(&server(&["--rcvbuf", "2G"]).socket).unwrap_err();
        assert_eq!(e.to_string(), "--rcvbuf 2147483648 is outside 1..=1G");
        let o = sock_opts(&server(&["--sndbuf", "1G", "--rcvbuf", "1"]).socket).unwrap();
        assert_eq!((o.sndbuf, o.rcvbuf), (Some(1 << 30), Some(1)));
    }

    #[test]
    fn a_cpu_outside_the_allowed_set_is_refused() {
        let e = cpu(Some(100_000)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--cpu 100000: this process may run on CPUs "),
            "{e}"
        );
        assert_eq!(cpu(None).unwrap(), None);
    }

    #[test]
    fn the_address_comes_from_the_target_or_the_hosts_file() {
        let any = server(&[]).endpoint;
        let got = address(Some("127.0.0.1:5005"), &any).unwrap();
        assert_eq!(got, "127.0.0.1:5005".parse().unwrap());
        let e = address(Some("127.0.0.1:99999"), &any).unwrap_err();
        assert_eq!(
            e.to_string(),
            "'127.0.0.1:99999': 99999 is not a port number (0 to 65535)"
        );
        let e = address(Some("localhost"), &any).unwrap_err();
        assert_eq!(
            e.to_string(),
            "'localhost' is not HOST:PORT (write IPv6 as [ADDR]:PORT)"
        );
        let e = address(
            None,
            &server(&["--hosts", "/nonexistent/hosts.txt"]).endpoint,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read hosts file /nonexistent/hosts.txt: "),
            "{e}"
        );
    }

    #[test]
    fn the_hosts_file_gives_the_picked_entry_of_the_family() {
        let path = std::env::temp_dir().join(format!("plan-hosts-{}.txt", std::process::id()));
        std::fs::write(&path, "127.0.0.1 5005\n127.0.0.2:5006\n[::1]:5007\n").unwrap();
        let file = path.to_str().unwrap();
        let at = |flags: &[&str]| {
            let mut all = vec!["--hosts", file];
            all.extend(flags);
            address(None, &server(&all).endpoint)
        };
        assert_eq!(at(&[]).unwrap(), "127.0.0.1:5005".parse().unwrap());
        assert_eq!(
            at(&["--pick", "2"]).unwrap(),
            "127.0.0.2:5006".parse().unwrap()
        );
        assert_eq!(at(&["-6"]).unwrap(), "[::1]:5007".parse().unwrap());
        let e = at(&["-6", "--pick", "2"]).unwrap_err();
        assert_eq!(e.to_string(), "no hosts entry for IPv6 at --pick 2");
        std::fs::write(&path, "not an entry\n").unwrap();
        let e = at(&[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "hosts file line 1: 'not an entry' is not 'HOST PORT' or 'HOST:PORT'"
        );
        let _ = std::fs::remove_file(&path);
    }
}
