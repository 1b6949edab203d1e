//! Which interface carries the traffic of an address, and what kind of link
//! it is.
//!
//! Loopback addresses travel on the loopback interface. An address of this
//! host is found among the interfaces' addresses (`getifaddrs`); that is
//! where its peers on other hosts reach it (traffic from this host to its
//! own addresses goes over loopback). Any other address goes where the
//! kernel's routing table sends it: the longest matching prefix in
//! `/proc/net/route` or `/proc/net/ipv6_route`, the lowest metric among
//! equals.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nix::ifaddrs::getifaddrs;
use nix::net::if_::InterfaceFlags;

/// The interface the traffic to or from `addr` travels on, seen from a peer
/// on another host (or loopback for a loopback address); `None` when no
/// interface owns or routes it.
pub fn interface_for(addr: &IpAddr) -> Option<String> {
    let addr = addr.to_canonical();
    if addr.is_loopback() {
        return Some(loopback_name().unwrap_or_else(|| "lo".to_owned()));
    }
    if let Some(owner) = owner_of(&addr) {
        return Some(owner);
    }
    match addr {
        IpAddr::V4(a) => route_v4(&std::fs::read_to_string("/proc/net/route").ok()?, a),
        IpAddr::V6(a) => route_v6(&std::fs::read_to_string("/proc/net/ipv6_route").ok()?, a),
    }
}

/// The kind of link an interface has, from `/sys/class/net/NAME/type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    /// `ARPHRD_ETHER`: frames start with an Ethernet header.
    Ethernet,
    /// `ARPHRD_LOOPBACK`: an Ethernet header of zero addresses.
    Loopback,
    /// Anything else, by its `ARPHRD_*` number.
    Other(u16),
}

/// `ARPHRD_ETHER`.
pub(crate) const ARPHRD_ETHER: u16 = 1;
/// `ARPHRD_LOOPBACK`.
pub(crate) const ARPHRD_LOOPBACK: u16 = 772;

/// The link kind of `name`; Ethernet when sysfs does not say.
pub(crate) fn link_of(name: &str) -> Link {
    let path = format!("/sys/class/net/{name}/type");
    let kind = std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse::<u16>().ok());
    match kind {
        Some(ARPHRD_LOOPBACK) => Link::Loopback,
        Some(ARPHRD_ETHER) | None => Link::Ethernet,
        Some(other) => Link::Other(other),
    }
}

fn loopback_name() -> Option<String> {
    getifaddrs()
        .ok()?
        .find(|i| i.flags.contains(InterfaceFlags::IFF_LOOPBACK))
        .map(|i| i.interface_name)
}

fn owner_of(addr: &IpAddr) -> Option<String> {
    getifaddrs().ok()?.find_map(|i| {
        let a = i.address.as_ref()?;
        let ip = match (a.as_sockaddr_in(), a.as_sockaddr_in6()) {
            (Some(v4), _) => IpAddr::V4(v4.ip()),
            (_, Some(v6)) => IpAddr::V6(v6.ip()),
            _ => return None,
        };
        (ip == *addr).then_some(i.interface_name)
    })
}

/// `RTF_UP`: the route is usable.
const RTF_UP: u32 = 0x0001;
/// `RTF_REJECT`: the route rejects what it matches.
const RTF_REJECT: u32 = 0x0200;

/// The route for `addr` in the text of `/proc/net/route`: `Iface
/// Destination Gateway Flags RefCnt Use Metric Mask …`, addresses as hex in
/// the kernel's (little-endian) byte order.
pub(crate) fn route_v4(table: &str, addr: Ipv4Addr) -> Option<String> {
    let target = u32::from_le_bytes(addr.octets());
    let mut best: Option<(u32, u32, &str)> = None;
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(iface), Some(dest), Some(flags), Some(metric), Some(mask)) =
            (f.first(), f.get(1), f.get(3), f.get(6), f.get(7))
        else {
            continue;
        };
        let hex = |s: &str| u32::from_str_radix(s, 16).ok();
        let (Some(dest), Some(flags), Some(metric), Some(mask)) =
            (hex(dest), hex(flags), metric.parse::<u32>().ok(), hex(mask))
        else {
            continue;
        };
        if flags & RTF_UP == 0 || flags & RTF_REJECT != 0 || target & mask != dest & mask {
            continue;
        }
        let prefix = mask.count_ones();
        if best.is_none_or(|(p, m, _)| prefix > p || (prefix == p && metric < m)) {
            best = Some((prefix, metric, iface));
        }
    }
    best.map(|(_, _, iface)| iface.to_owned())
}

/// The route for `addr` in the text of `/proc/net/ipv6_route`: destination
/// (32 hex digits), prefix length, source, source prefix length, next hop,
/// metric, reference count, use count, flags, interface.
pub(crate) fn route_v6(table: &str, addr: Ipv6Addr) -> Option<String> {
    let target = u128::from(addr);
    let mut best: Option<(u32, u32, &str)> = None;
    for line in table.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(dest), Some(len), Some(metric), Some(flags), Some(iface)) =
            (f.first(), f.get(1), f.get(5), f.get(8), f.get(9))
        else {
            continue;
        };
        let (Ok(dest), Ok(len), Ok(metric), Ok(flags)) = (
            u128::from_str_radix(dest, 16),
            u32::from_str_radix(len, 16),
            u32::from_str_radix(metric, 16),
            u32::from_str_radix(flags, 16),
        ) else {
            continue;
        };
        if len > 128 || flags & RTF_UP == 0 || flags & RTF_REJECT != 0 {
            continue;
        }
        let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
        if target & mask != dest & mask {
            continue;
        }
        if best.is_none_or(|(p, m, _)| len > p || (len == p && metric < m)) {
            best = Some((len, metric, iface));
        }
    }
    best.map(|(_, _, iface)| iface.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: &str = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t0002A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
wg0\t0000000A\t00000000\t0001\t0\t0\t50\t000000FF\t0\t0\t0
dead\t0000000B\t00000000\t0201\t0\t0\t0\t000000FF\t0\t0\t0
";

    const ROUTE6: &str = "\
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
20010db8000000000000000000000000 20 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth1
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000003 00000000 00200001       lo
";

    #[test]
    fn v4_longest_prefix_then_default() {
        let r = |s: &str| route_v4(ROUTE, s.parse().unwrap());
        assert_eq!(r("192.168.2.7").as_deref(), Some("eth0"));
        assert_eq!(r("10.1.2.3").as_deref(), Some("wg0"));
        assert_eq!(r("8.8.8.8").as_deref(), Some("eth0"));
        // A reject route is skipped; the default route takes over.
        assert_eq!(r("11.0.0.1").as_deref(), Some("eth0"));
        assert_eq!(route_v4("header only\n", Ipv4Addr::LOCALHOST), None);
    }

    #[test]
    fn v6_longest_prefix_then_default() {
        let r = |s: &str| route_v6(ROUTE6, s.parse().unwrap());
        assert_eq!(r("2001:db8::5").as_deref(), Some("eth1"));
        assert_eq!(r("fe80::1234").as_deref(), Some("eth0"));
        assert_eq!(r("2606:4700::1").as_deref(), Some("eth0"));
        assert_eq!(r("::1").as_deref(), Some("lo"));
    }

    #[test]
    fn loopback_addresses_are_on_loopback() {
        let lo = loopback_name().unwrap_or_else(|| "lo".into());
        for a in ["127.0.0.1", "127.3.4.5", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(interface_for(&a.parse().unwrap()), Some(lo.clone()), "{a}");
        }
    }
}
