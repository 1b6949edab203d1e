//! The Ethernet and IP headers of the model's frames, as a Linux host fills
//! them in, and the TCP/UDP checksums over their pseudo-headers.
//!
//! - Ethernet II with made-up, stable, locally administered MAC addresses:
//!   [`CLIENT_MAC`] and [`SERVER_MAC`]. No padding of short frames and no
//!   FCS, as a capture on the sending host shows them.
//! - IPv4: 20 bytes, no options, TTL 64, DSCP/ECN 0, the identification
//!   given by the flow; DF set, except on fragments (RFC 791).
//! - IPv6: 40 bytes, traffic class 0, flow label 0, hop limit 64; a
//!   fragment is followed by a Fragment extension header (RFC 8200 §4.5)
//!   with a 32-bit identification.
//!
//! The headers are built with `etherparse` and its checksum functions.

use std::net::{IpAddr, SocketAddr};

use etherparse::{
    EtherType, Ethernet2Header, IpFragOffset, IpNumber, Ipv4Header, Ipv6FlowLabel,
    Ipv6FragmentHeader, Ipv6Header, TcpHeader, UdpHeader,
};

use super::{Direction, ModelError};
use crate::wire::checksum;

/// The client's MAC address: locally administered (bit 1 of the first
/// byte), unicast.
pub const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// The server's MAC address.
pub const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// IPv4 TTL and IPv6 hop limit, Linux's default.
pub const HOP_LIMIT: u8 = 64;
/// Ethernet II header.
pub const ETHERNET_LEN: usize = Ethernet2Header::LEN;
/// IPv4 header without options.
pub const IPV4_LEN: usize = Ipv4Header::MIN_LEN;
/// IPv6 fixed header.
pub const IPV6_LEN: usize = Ipv6Header::LEN;
/// IPv6 Fragment extension header.
pub const IPV6_FRAGMENT_LEN: usize = Ipv6FragmentHeader::LEN;
/// Smallest snap length: the longest headers the model writes (Ethernet,
/// IPv6, a fragment header, TCP with 40 bytes of options) fit in it, so
/// every frame keeps all its headers.
pub const MIN_SNAPLEN: u32 = 128;
/// Largest snap length Wireshark reads.
pub const MAX_SNAPLEN: u32 = 262_144;

/// The two ends of a flow, of one IP version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Endpoints {
    client: SocketAddr,
    server: SocketAddr,
}

/// Where a fragment sits in its datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FragmentAt {
    /// Offset of its data in the fragmentable part, a multiple of 8.
    pub offset: usize,
    /// More fragments follow.
    pub more: bool,
    /// The datagram's identification (16 bits used on IPv4).
    pub ident: u32,
}

/// What one IP header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpFields {
    /// The upper-layer protocol.
    pub protocol: IpNumber,
    /// Bytes after the IP header(s): the TCP/UDP segment or fragment data.
    pub payload_len: usize,
    /// IPv4 identification of an unfragmented packet (low 16 bits).
    pub ident: u32,
    /// Set on a fragment.
    pub fragment: Option<FragmentAt>,
}

impl Endpoints {
    /// Checks that both ends are of one IP version.
    pub(crate) fn new(client: SocketAddr, server: SocketAddr) -> Result<Endpoints, ModelError> {
        if client.is_ipv4() != server.is_ipv4() {
            return Err(ModelError::MixedFamilies { client, server });
        }
        Ok(Endpoints { client, server })
    }

    /// Whether the flow runs over IPv6.
    pub(crate) fn is_v6(&self) -> bool {
        self.client.is_ipv6()
    }

    /// The IP header bytes of an unfragmented packet.
    pub(crate) fn ip_header_len(&self) -> usize {
        if self.is_v6() { IPV6_LEN } else { IPV4_LEN }
    }

    /// The sender's address in `dir`.
    pub(crate) fn src(&self, dir: Direction) -> SocketAddr {
        match dir {
            Direction::ToServer => self.client,
            Direction::ToClient => self.server,
        }
    }

    /// The receiver's address in `dir`.
    pub(crate) fn dst(&self, dir: Direction) -> SocketAddr {
        self.src(dir.reverse())
    }

    /// Appends the Ethernet header and the IP header(s) of one packet.
    pub(crate) fn push_headers(
        &self,
        out: &mut Vec<u8>,
        dir: Direction,
        ip: &IpFields,
    ) -> Result<(), ModelError> {
        let (src_mac, dst_mac) = match dir {
            Direction::ToServer => (CLIENT_MAC, SERVER_MAC),
            Direction::ToClient => (SERVER_MAC, CLIENT_MAC),
        };
        let (src, dst) = (self.src(dir).ip(), self.dst(dir).ip());
        let ether_type = if self.is_v6() {
            EtherType::IPV6
        } else {
            EtherType::IPV4
        };
        out.extend_from_slice(
            &Ethernet2Header {
                source: src_mac,
                destination: dst_mac,
                ether_type,
            }
            .to_bytes(),
        );
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => push_ipv4(out, s.octets(), d.octets(), ip),
            (IpAddr::V6(s), IpAddr::V6(d)) => push_ipv6(out, s.octets(), d.octets(), ip),
            _ => Err(ModelError::MixedFamilies {
                client: self.client,
                server: self.server,
            }),
        }
    }

    /// The TCP checksum of `header` over a payload of `len` bytes whose
    /// sum (as [`checksum::fast_sum`] gives it) is `sum`, sent in `dir`.
    pub(crate) fn tcp_checksum_of(
        &self,
        dir: Direction,
        header: &TcpHeader,
        len: u64,
        sum: u64,
    ) -> Result<u16, ModelError> {
        let mut h = header.clone();
        h.checksum = 0;
        self.transport_checksum_of(dir, 6, &h.to_bytes(), len, sum)
    }

    /// The UDP checksum of `header` over the whole datagram's `payload`,
    /// sent in `dir`.
    pub(crate) fn udp_checksum(
        &self,
        dir: Direction,
        header: &UdpHeader,
        payload: &[u8],
    ) -> Result<u16, ModelError> {
        let mut h = header.clone();
        h.checksum = 0;
        let c = self.transport_checksum(dir, 17, &h.to_bytes(), payload)?;
        // UDP sends a computed 0 as all ones (0 means "no checksum").
        Ok(if c == 0 { 0xffff } else { c })
    }

    /// A TCP or UDP checksum: the pseudo-header for `protocol`, the header
    /// (its checksum field zero) and the payload, summed at memory speed
    /// ([`checksum::fast_sum`]): a model of a bulk transfer sums every byte
    /// it carries.
    fn transport_checksum(
        &self,
        dir: Direction,
        protocol: u8,
        header: &[u8],
        payload: &[u8],
    ) -> Result<u16, ModelError> {
        let sum = checksum::fast_sum(payload);
        self.transport_checksum_of(dir, protocol, header, payload.len() as u64, sum)
    }

    /// As `transport_checksum`, from the payload's length and sum.
    fn transport_checksum_of(
        &self,
        dir: Direction,
        protocol: u8,
        header: &[u8],
        payload_len: u64,
        payload_sum: u64,
    ) -> Result<u16, ModelError> {
        let (s, d) = (self.src(dir).ip(), self.dst(dir).ip());
        if s.is_ipv4() != d.is_ipv4() {
            return Err(self.mixed());
        }
        let len = u32::try_from(header.len() as u64 + payload_len)
            .map_err(|e| header_error(if protocol == 6 { "TCP" } else { "UDP" }, e))?;
        let pseudo = checksum::pseudo_with_len(checksum::pseudo_base(s, d, protocol), len);
        let data = checksum::add(checksum::fast_sum(header), payload_sum);
        Ok(checksum::field(checksum::add(pseudo, data)))
    }

    fn mixed(&self) -> ModelError {
        ModelError::MixedFamilies {
            client: self.client,
            server: self.server,
        }
    }
}

fn push_ipv4(
    out: &mut Vec<u8>,
    src: [u8; 4],
    dst: [u8; 4],
    ip: &IpFields,
) -> Result<(), ModelError> {
    let len = u16::try_from(ip.payload_len).map_err(|e| header_error("IPv4", e))?;
    let mut h = Ipv4Header::new(len, HOP_LIMIT, ip.protocol, src, dst)
        .map_err(|e| header_error("IPv4", e))?;
    match ip.fragment {
        None => {
            h.identification = ip.ident as u16;
            h.dont_fragment = true;
        }
        Some(f) => {
            h.identification = f.ident as u16;
            h.dont_fragment = false;
            h.more_fragments = f.more;
            h.fragment_offset = fragment_offset(f.offset)?;
        }
    }
    h.header_checksum = h.calc_header_checksum();
    out.extend_from_slice(&h.to_bytes());
    Ok(())
}

fn push_ipv6(
    out: &mut Vec<u8>,
    src: [u8; 16],
    dst: [u8; 16],
    ip: &IpFields,
) -> Result<(), ModelError> {
    let (next_header, ext_len) = match ip.fragment {
        None => (ip.protocol, 0),
        Some(_) => (IpNumber::IPV6_FRAGMENTATION_HEADER, IPV6_FRAGMENT_LEN),
    };
    let payload_length =
        u16::try_from(ip.payload_len + ext_len).map_err(|e| header_error("IPv6", e))?;
    let h = Ipv6Header {
        traffic_class: 0,
        flow_label: Ipv6FlowLabel::ZERO,
        payload_length,
        next_header,
        hop_limit: HOP_LIMIT,
        source: src,
        destination: dst,
    };
    out.extend_from_slice(&h.to_bytes());
    if let Some(f) = ip.fragment {
        let frag =
            Ipv6FragmentHeader::new(ip.protocol, fragment_offset(f.offset)?, f.more, f.ident);
        out.extend_from_slice(&frag.to_bytes());
    }
    Ok(())
}

/// A fragment offset in the 8-byte units both IP versions count.
fn fragment_offset(bytes: usize) -> Result<IpFragOffset, ModelError> {
    let units = u16::try_from(bytes / 8).map_err(|e| header_error("fragment", e))?;
    IpFragOffset::try_new(units).map_err(|e| header_error("fragment", e))
}

fn header_error(header: &'static str, e: impl std::fmt::Display) -> ModelError {
    ModelError::Header {
        header,
        reason: e.to_string(),
    }
}

/// A stable, random-looking 64-bit value from `seed` (splitmix64): initial
/// sequence numbers, timestamp offsets and IP identifications that differ
/// between flows yet are the same on every run.
pub(crate) fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of a flow's derived values: its ports and a salt that tells
/// the derived values apart.
pub(crate) fn flow_seed(ends: &Endpoints, salt: u64) -> u64 {
    let ports = (u64::from(ends.client.port()) << 16) | u64::from(ends.server.port());
    mix(ports ^ (salt << 32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::{Verdict, ipv4_header};

    fn v4() -> Endpoints {
        Endpoints::new(
            "192.0.2.1:40000".parse().unwrap(),
            "192.0.2.2:5005".parse().unwrap(),
        )
        .unwrap()
    }

    proptest::proptest! {
        /// The fast sums give etherparse's checksums, TCP and UDP, IPv4 and
        /// IPv6, for any payload (odd lengths and UDP's 0 included).
        #[test]
        fn fast_checksums_equal_etherparse(
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
            seq: u32,
            v6: bool,
        ) {
            let ends = if v6 {
                Endpoints::new("[2001:2::1]:40000".parse().unwrap(), "[2001:2::2]:5005".parse().unwrap()).unwrap()
            } else {
                v4()
            };
            let (s, d) = (ends.src(Direction::ToServer).ip(), ends.dst(Direction::ToServer).ip());
            let mut t = TcpHeader::new(40000, 5005, seq, 1000);
            t.ack = true;
            t.acknowledgment_number = seq.rotate_left(7);
            let u = UdpHeader { source_port: 40000, destination_port: 5005, length: (8 + payload.len()) as u16, checksum: 0 };
            let (want_t, want_u) = match (s, d) {
                (IpAddr::V4(s), IpAddr::V4(d)) => (
                    t.calc_checksum_ipv4_raw(s.octets(), d.octets(), &payload).unwrap(),
                    u.calc_checksum_ipv4_raw(s.octets(), d.octets(), &payload).unwrap(),
                ),
                (IpAddr::V6(s), IpAddr::V6(d)) => (
                    t.calc_checksum_ipv6_raw(s.octets(), d.octets(), &payload).unwrap(),
                    u.calc_checksum_ipv6_raw(s.octets(), d.octets(), &payload).unwrap(),
                ),
                _ => unreachable!(),
            };
            proptest::prop_assert_eq!(ends.tcp_checksum_of(Direction::ToServer, &t, payload.len() as u64, checksum::fast_sum(&payload)).unwrap(), want_t);
            proptest::prop_assert_eq!(ends.udp_checksum(Direction::ToServer, &u, &payload).unwrap(), want_u);
        }
    }

    #[test]
    fn mixed_families_are_refused() {
        let r = Endpoints::new(
            "192.0.2.1:1".parse().unwrap(),
            "[2001:db8::1]:2".parse().unwrap(),
        );
        assert!(matches!(r, Err(ModelError::MixedFamilies { .. })));
    }

    #[test]
    fn ipv4_headers_carry_df_ttl_and_a_valid_checksum() {
        let mut out = Vec::new();
        let ip = IpFields {
            protocol: IpNumber::TCP,
            payload_len: 32,
            ident: 0x1_2345,
            fragment: None,
        };
        v4().push_headers(&mut out, Direction::ToClient, &ip)
            .unwrap();
        assert_eq!(out.len(), ETHERNET_LEN + IPV4_LEN);
        assert_eq!(&out[0..6], &CLIENT_MAC);
        assert_eq!(&out[6..12], &SERVER_MAC);
        let h = &out[ETHERNET_LEN..];
        assert_eq!(u16::from_be_bytes([h[2], h[3]]), 52);
        assert_eq!(u16::from_be_bytes([h[4], h[5]]), 0x2345);
        assert_eq!(h[6] & 0x40, 0x40, "DF");
        assert_eq!(h[8], 64);
        assert_eq!(&h[12..16], &[192, 0, 2, 2]);
        assert_eq!(ipv4_header(h), Verdict::Valid);
    }

    #[test]
    fn ipv6_fragments_carry_a_fragment_header() {
        let ends = Endpoints::new(
            "[2001:db8::1]:40000".parse().unwrap(),
            "[2001:db8::2]:5005".parse().unwrap(),
        )
        .unwrap();
        let mut out = Vec::new();
        let ip = IpFields {
            protocol: IpNumber::UDP,
            payload_len: 1448,
            ident: 0,
            fragment: Some(FragmentAt {
                offset: 1448,
                more: true,
                ident: 0xdead_beef,
            }),
        };
        ends.push_headers(&mut out, Direction::ToServer, &ip)
            .unwrap();
        assert_eq!(out.len(), ETHERNET_LEN + IPV6_LEN + IPV6_FRAGMENT_LEN);
        let h = &out[ETHERNET_LEN..];
        assert_eq!(u16::from_be_bytes([h[4], h[5]]), 1456);
        assert_eq!(h[6], 44);
        assert_eq!(h[7], 64);
        let f = &h[IPV6_LEN..];
        assert_eq!(f[0], 17);
        assert_eq!(u16::from_be_bytes([f[2], f[3]]), (1448 / 8) << 3 | 1);
        assert_eq!(&f[4..8], &0xdead_beef_u32.to_be_bytes());
    }

    #[test]
    fn derived_values_are_stable_and_differ_by_salt() {
        let e = v4();
        assert_eq!(flow_seed(&e, 1), flow_seed(&e, 1));
        assert_ne!(flow_seed(&e, 1), flow_seed(&e, 2));
    }
}
