//! The kernel's UDP and IP counters, from `/proc/net/snmp` and
//! `/proc/net/snmp6`, so a report can put the kernel's count beside the
//! lab's own. The counters belong to the network namespace, not the socket:
//! other traffic in the namespace during a run shows in the deltas too.
//!
//! The value read is the accounting's own type ([`UdpCounters`], defined in
//! `account::kernel`): this module only fills it in from `/proc`.

pub use crate::account::kernel::UdpCounters;

/// Reads one protocol's table of `/proc/net/snmp` (a line of names, then a
/// line of values, both starting with `Proto:`).
fn snmp_table<'a>(text: &'a str, proto: &str) -> Vec<(&'a str, u64)> {
    let prefix = format!("{proto}:");
    let mut lines = text.lines().filter(|l| l.starts_with(&prefix));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return Vec::new();
    };
    names
        .split_whitespace()
        .skip(1)
        .zip(values.split_whitespace().skip(1))
        .filter_map(|(n, v)| v.parse().ok().map(|v| (n, v)))
        .collect()
}

/// Parses the IPv4 counters from the text of `/proc/net/snmp`.
pub fn parse_snmp(text: &str) -> UdpCounters {
    let udp = snmp_table(text, "Udp");
    let ip = snmp_table(text, "Ip");
    let get = |t: &[(&str, u64)], k: &str| t.iter().find(|(n, _)| *n == k).map_or(0, |x| x.1);
    UdpCounters {
        in_datagrams: get(&udp, "InDatagrams"),
        no_ports: get(&udp, "NoPorts"),
        in_errors: get(&udp, "InErrors"),
        out_datagrams: get(&udp, "OutDatagrams"),
        rcvbuf_errors: get(&udp, "RcvbufErrors"),
        sndbuf_errors: get(&udp, "SndbufErrors"),
        frag_creates: get(&ip, "FragCreates"),
        reasm_oks: get(&ip, "ReasmOKs"),
        reasm_reqds: get(&ip, "ReasmReqds"),
    }
}

/// Parses the IPv6 counters from the text of `/proc/net/snmp6` (one
/// `Name value` per line).
pub fn parse_snmp6(text: &str) -> UdpCounters {
    let get = |k: &str| {
        text.lines()
            .filter_map(|l| l.split_once(char::is_whitespace))
            .find(|(n, _)| *n == k)
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0)
    };
    UdpCounters {
        in_datagrams: get("Udp6InDatagrams"),
        no_ports: get("Udp6NoPorts"),
        in_errors: get("Udp6InErrors"),
        out_datagrams: get("Udp6OutDatagrams"),
        rcvbuf_errors: get("Udp6RcvbufErrors"),
        sndbuf_errors: get("Udp6SndbufErrors"),
        frag_creates: get("Ip6FragCreates"),
        reasm_oks: get("Ip6ReasmOKs"),
        reasm_reqds: get("Ip6ReasmReqds"),
    }
}

/// Reads the counters of this namespace for one IP family; `None` when the
/// files cannot be read (a kernel without procfs, say).
pub fn read(v6: bool) -> Option<UdpCounters> {
    if v6 {
        std::fs::read_to_string("/proc/net/snmp6")
            .ok()
            .map(|t| parse_snmp6(&t))
    } else {
        std::fs::read_to_string("/proc/net/snmp")
            .ok()
            .map(|t| parse_snmp(&t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_net_snmp() {
        let text = "Ip: Forwarding DefaultTTL InReceives FragOKs FragCreates ReasmOKs\n\
                    Ip: 1 64 100 2 6 3\n\
                    Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors\n\
                    Udp: 10 1 5 20 4 0 0\n\
                    UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors\n\
                    UdpLite: 0 0 0 0 0 0 0\n";
        let c = parse_snmp(text);
        assert_eq!(c.in_datagrams, 10);
        assert_eq!(c.in_errors, 5);
        assert_eq!(c.rcvbuf_errors, 4);
        assert_eq!(c.frag_creates, 6);
        assert_eq!(c.reasm_oks, 3);
        let later = UdpCounters {
            in_datagrams: 15,
            ..c
        };
        assert_eq!(later.since(&c).in_datagrams, 5);
    }

    #[test]
    fn parses_proc_net_snmp6() {
        let text = "Ip6InReceives  7\nIp6FragCreates 9\nUdp6InDatagrams 3\nUdp6RcvbufErrors 2\n";
        let c = parse_snmp6(text);
        assert_eq!((c.in_datagrams, c.rcvbuf_errors, c.frag_creates), (3, 2, 9));
    }

    #[test]
    fn this_machine_has_them() {
        assert!(read(false).is_some());
    }
}
