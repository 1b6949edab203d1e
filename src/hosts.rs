//! `hosts.txt`: the host/port pairs the lab knows, the first one the default.
//!
//! One entry per line: `HOST PORT` or `HOST:PORT`, an IPv6 address in
//! brackets (`[::1]:5005`), `#` starts a comment. The first entry of an IP
//! family is that family's default for the server's bind address and the
//! client's target. Parsing is pure; [`load`] reads the file.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;

/// The list the lab uses when no `hosts.txt` is found: loopback only.
pub const BUILT_IN: &str = "127.0.0.1 5005\n[::1]:5005\n";

/// IP family a command asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    /// Either family; the first entry wins.
    #[default]
    Any,
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
}

impl Family {
    /// Whether `addr` belongs to this family.
    pub fn admits(self, addr: &SocketAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => addr.is_ipv4(),
            Family::V6 => addr.is_ipv6(),
        }
    }
}

/// One line of a hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Host name or address, without brackets.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Line number in the file, from 1.
    pub line: usize,
}

/// Why a hosts file or a target could not be used.
#[derive(Debug, thiserror::Error)]
pub enum HostsError {
    /// The file could not be read.
    #[error("cannot read hosts file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The system's reason.
        source: std::io::Error,
    },
    /// A line is not `HOST PORT` or `HOST:PORT`.
    #[error("hosts file line {line}: '{text}' is not 'HOST PORT' or 'HOST:PORT'")]
    BadLine {
        /// Line number.
        line: usize,
        /// The line.
        text: String,
    },
    /// A target on the command line is not `HOST:PORT`.
    #[error("'{0}' is not HOST:PORT (write IPv6 as [ADDR]:PORT)")]
    BadTarget(String),
    /// A target's port is a number, but not one a port can be.
    #[error("'{text}': {port} is not a port number (0 to 65535)")]
    BadPort {
        /// The target as written.
        text: String,
        /// Its port part.
        port: String,
    },
    /// A name did not resolve to an address of the wanted family.
    #[error("{host} has no {family} address")]
    NoAddress {
        /// The name.
        host: String,
        /// The family wanted.
        family: &'static str,
    },
    /// No entry matches.
    #[error("no hosts entry for {family}{pick}")]
    NoEntry {
        /// The family wanted.
        family: &'static str,
        /// The index asked for, if any.
        pick: String,
    },
}

/// The family as an adjective: "a name has no IPv4 address".
fn family_adjective(f: Family) -> &'static str {
    match f {
        Family::Any => "IP",
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    }
}

fn family_name(f: Family) -> &'static str {
    match f {
        Family::Any => "any IP family",
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    }
}

/// Splits `HOST:PORT`, `[V6]:PORT` or `HOST PORT` into host and port.
pub fn split_host_port(s: &str) -> Option<(String, u16)> {
    let s = s.trim();
    let mut words = s.split_whitespace();
    if let (Some(h), Some(p), None) = (words.next(), words.next(), words.next()) {
        let h = h.trim_start_matches('[').trim_end_matches(']');
        return Some((h.to_string(), p.parse().ok()?));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:")?;
        return Some((h.to_string(), p.parse().ok()?));
    }
    let (h, p) = s.rsplit_once(':')?;
    if h.contains(':') || h.is_empty() {
        return None;
    }
    Some((h.to_string(), p.parse().ok()?))
}

/// Parses the text of a hosts file.
pub fn parse(text: &str) -> Result<Vec<Entry>, HostsError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (host, port) = split_host_port(line).ok_or_else(|| HostsError::BadLine {
            line: i + 1,
            text: raw.to_string(),
        })?;
        out.push(Entry {
            host,
            port,
            line: i + 1,
        });
    }
    Ok(out)
}

/// Reads the hosts list: `explicit` if given, else `./hosts.txt` if it
/// exists, else [`BUILT_IN`].
pub fn load(explicit: Option<&Path>) -> Result<Vec<Entry>, HostsError> {
    let path = match explicit {
        Some(p) => p,
        None if Path::new("hosts.txt").exists() => Path::new("hosts.txt"),
        None => return parse(BUILT_IN),
    };
    let read = |source| HostsError::Read {
        path: path.display().to_string(),
        source,
    };
    let text = read_bounded(path).map_err(read)?;
    parse(&text)
}

/// The most a hosts file may hold: a list of a few thousand entries fits,
/// and a wrong path (a disk image, `/dev/zero`) is refused at once rather
/// than read into memory.
pub const MAX_HOSTS_FILE: u64 = 1 << 20;

/// Reads `path` as text, refusing one larger than [`MAX_HOSTS_FILE`].
fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_HOSTS_FILE + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_HOSTS_FILE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("larger than {MAX_HOSTS_FILE} bytes: not a hosts file"),
        ));
    }
    Ok(text)
}

/// Resolves `host:port` to the first address of `family`.
pub fn resolve(host: &str, port: u16, family: Family) -> Result<SocketAddr, HostsError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        let addr = SocketAddr::new(ip, port);
        return if family.admits(&addr) {
            Ok(addr)
        } else {
            Err(HostsError::NoAddress {
                host: host.to_string(),
                family: family_adjective(family),
            })
        };
    }
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut it| it.find(|a| family.admits(a)))
        .ok_or_else(|| HostsError::NoAddress {
            host: host.to_string(),
            family: family_adjective(family),
        })
}

/// Resolves a command-line target (`HOST:PORT`, `[V6]:PORT`).
pub fn resolve_target(target: &str, family: Family) -> Result<SocketAddr, HostsError> {
    let (host, port) = split_host_port(target).ok_or_else(|| bad_target(target))?;
    resolve(&host, port, family)
}

/// Why `target` is not `HOST:PORT`: a port part of digits too large for a
/// port says so, anything else is the general form.
fn bad_target(target: &str) -> HostsError {
    let port = target.trim().rsplit([':', ' ', '\t']).next().unwrap_or("");
    if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_err()
    {
        return HostsError::BadPort {
            text: target.to_string(),
            port: port.to_string(),
        };
    }
    HostsError::BadTarget(target.to_string())
}

/// Picks an address from the list: the entries of `family` in file order,
/// the `pick`-th of them (from 1), or the first.
pub fn choose(
    entries: &[Entry],
    family: Family,
    pick: Option<usize>,
) -> Result<SocketAddr, HostsError> {
    let mut matching = entries
        .iter()
        .filter_map(|e| resolve(&e.host, e.port, family).ok());
    let index = pick.unwrap_or(1).max(1) - 1;
    matching.nth(index).ok_or_else(|| HostsError::NoEntry {
        family: family_name(family),
        pick: pick.map(|p| format!(" at --pick {p}")).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms_and_comments() {
        let e = parse("# hi\n127.0.0.1 5005\n[::1]:5006 # v6\n\nlocalhost:7\n").unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!((e[0].host.as_str(), e[0].port), ("127.0.0.1", 5005));
        assert_eq!((e[1].host.as_str(), e[1].port), ("::1", 5006));
        assert_eq!(e[2].line, 5);
        assert!(matches!(
            parse("nonsense"),
            Err(HostsError::BadLine { line: 1, .. })
        ));
        assert!(parse("::1:5005").is_err());
    }

    #[test]
    fn chooses_by_family_and_pick() {
        let e = parse(BUILT_IN).unwrap();
        assert_eq!(
            choose(&e, Family::Any, None).unwrap(),
            "127.0.0.1:5005".parse().unwrap()
        );
        assert_eq!(
            choose(&e, Family::V6, None).unwrap(),
            "[::1]:5005".parse().unwrap()
        );
        assert_eq!(
            choose(&e, Family::Any, Some(2)).unwrap(),
            "[::1]:5005".parse().unwrap()
        );
        assert!(choose(&e, Family::V4, Some(2)).is_err());
    }

    #[test]
    fn an_unknown_name_says_it_has_no_address() {
        let e = HostsError::NoAddress {
            host: "nonexistent.invalid".into(),
            family: family_adjective(Family::Any),
        };
        assert_eq!(e.to_string(), "nonexistent.invalid has no IP address");
        let e = resolve_target("127.0.0.1:80", Family::V6).unwrap_err();
        assert_eq!(e.to_string(), "127.0.0.1 has no IPv6 address");
    }

    #[test]
    fn targets() {
        assert_eq!(
            resolve_target("[::1]:80", Family::Any).unwrap(),
            "[::1]:80".parse().unwrap()
        );
        assert!(resolve_target("127.0.0.1:80", Family::V6).is_err());
        assert!(matches!(
            resolve_target("nope", Family::Any),
            Err(HostsError::BadTarget(_))
        ));
        for t in [
            "127.0.0.1:99999",
            "[::1]:65536",
            "localhost:123456789012345678901",
        ] {
            let e = resolve_target(t, Family::Any).unwrap_err();
            assert!(matches!(e, HostsError::BadPort { .. }), "{t}: {e}");
            assert!(e.to_string().contains("is not a port number"), "{e}");
        }
        assert!(matches!(
            resolve_target("127.0.0.1:http", Family::Any),
            Err(HostsError::BadTarget(_))
        ));
    }

    #[test]
    fn shipped_file_is_loopback_only() {
        let text = include_str!("../hosts.txt");
        for e in parse(text).unwrap() {
            let ip: IpAddr = e.host.parse().unwrap();
            assert!(ip.is_loopback(), "{ip}");
        }
    }
}
