//! One frame taken apart: which bytes belong to which layer, the flow it
//! belongs to, its TCP flags and sequence range, and its checksum verdicts.
//!
//! Link layers handled: Ethernet II (with VLAN tags, via etherparse), Linux
//! cooked capture v1 and v2, raw IP, and BSD/OpenBSD loopback. Headers are
//! parsed with etherparse's lax slicing, so a frame cut by the snap length
//! still yields its headers.
//!
//! Layer bytes are counted on the frame as it was on the wire (`frame.len`),
//! not as captured: the IP length fields say how long the packet was even
//! when the capture kept only its first bytes. For an IP frame
//! `l2 + l3 + l4 + payload == frame.len`, where `l2` is the link header plus
//! any trailer (Ethernet padding, FCS), `l3` the IP header with its options
//! or extension headers (the IPv6 Fragment header included), `l4` the TCP or
//! UDP header, and `payload` the rest. A frame that is not IP counts its
//! link header as `l2` and the rest as `other`.
//!
//! A non-first IP fragment carries no TCP/UDP header: its bytes after the
//! IP header are payload, and it joins the flow of its datagram's first
//! fragment (same addresses, protocol and identification) when that was
//! seen, else the last flow between the same addresses and protocol.

use std::collections::HashMap;
use std::net::IpAddr;

use etherparse::{
    EtherType, Ipv6ExtensionSlice, LaxIpPayloadSlice, LaxNetSlice, LaxSlicedPacket, LenSource,
    TcpHeaderSlice, UdpHeaderSlice,
};

use super::read::{Frame, LinkType};
use crate::wire::checksum::{self, DatagramId, Fragment, FragmentSums, Verdict};

/// IP protocol number of TCP.
pub const TCP: u8 = 6;
/// IP protocol number of UDP.
pub const UDP: u8 = 17;

/// Bytes of one frame (or of many) by layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Layers {
    /// Link header and trailer (padding, FCS).
    pub l2: u64,
    /// IP header, options and extension headers.
    pub l3: u64,
    /// TCP or UDP header.
    pub l4: u64,
    /// What the transport carries (for other IP protocols: the IP payload).
    pub payload: u64,
    /// Bytes of frames that are not IP or could not be parsed.
    pub other: u64,
}

impl Layers {
    /// Adds another count to this one.
    pub fn merge(&mut self, o: &Layers) {
        self.l2 += o.l2;
        self.l3 += o.l3;
        self.l4 += o.l4;
        self.payload += o.payload;
        self.other += o.other;
    }

    /// Sum of all layers.
    pub fn total(&self) -> u64 {
        self.l2 + self.l3 + self.l4 + self.payload + self.other
    }
}

/// The TCP facts retransmission counting needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFacts {
    /// Sequence number.
    pub seq: u32,
    /// SYN flag.
    pub syn: bool,
    /// FIN flag.
    pub fin: bool,
    /// RST flag.
    pub rst: bool,
}

/// An IP frame's addressing and verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpFacts {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The protocol of the IP payload (after extension headers).
    pub protocol: u8,
    /// Source and destination port, when known.
    pub ports: Option<(u16, u16)>,
    /// Whether this frame is one fragment of a larger datagram.
    pub fragment: bool,
    /// The IPv4 header checksum (`None` for IPv6, which has none).
    pub ipv4_checksum: Option<Verdict>,
    /// The TCP/UDP checksum: `None` when not verifiable on this frame (not
    /// captured whole, a fragment that does not complete its datagram, or
    /// UDP/IPv4 without checksum). Applies only when `checks_l4` is set.
    pub l4_checksum: Option<Verdict>,
    /// Whether this frame accounts for a TCP/UDP checksum (every unfragmented
    /// TCP/UDP packet, and the fragment that completes a datagram).
    pub checks_l4: bool,
    /// TCP header facts, when there is a TCP header.
    pub tcp: Option<TcpFacts>,
}

/// What one frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dissection {
    /// Bytes by layer, on the wire.
    pub layers: Layers,
    /// IP facts, for IP frames.
    pub ip: Option<IpFacts>,
    /// Whether the link type is one this module does not dissect.
    pub unsupported_link: bool,
}

/// Dissects frames, keeping what fragmented datagrams need across frames.
#[derive(Debug, Default)]
pub struct Dissector {
    fragments: FragmentSums,
    last_ports: HashMap<(IpAddr, IpAddr, u8), (u16, u16)>,
}

impl Dissector {
    /// A dissector with no datagrams in flight.
    pub fn new() -> Dissector {
        Dissector::default()
    }

    /// Takes one frame apart.
    pub fn dissect(&mut self, frame: &Frame<'_>) -> Dissection {
        let data = frame.data;
        let wire = u64::from(frame.original_len);
        let Some(sliced) = slice_link(frame.link, data) else {
            return Dissection {
                layers: Layers {
                    other: wire,
                    ..Layers::default()
                },
                ip: None,
                unsupported_link: true,
            };
        };
        let (l2_header, packet) = sliced;
        let net = packet.as_ref().and_then(|p| p.net.as_ref());
        let ip = match net {
            Some(LaxNetSlice::Ipv4(v4)) => Some(ipv4_parts(v4)),
            Some(LaxNetSlice::Ipv6(v6)) => Some(ipv6_parts(v6)),
            _ => None,
        };
        let Some(parts) = ip else {
            let l2 = (l2_header as u64).min(wire);
            return Dissection {
                layers: Layers {
                    l2,
                    other: wire - l2,
                    ..Layers::default()
                },
                ip: None,
                unsupported_link: false,
            };
        };
        self.ip_frame(data, wire, parts)
    }

    fn ip_frame(&mut self, data: &[u8], wire: u64, p: IpParts<'_>) -> Dissection {
        let ip_start = offset_in(data, p.header);
        let room = wire.saturating_sub(ip_start as u64);
        // IPv4 total length 0 (TSO, BIG TCP) or IPv6 payload length 0
        // (jumbogram): the packet runs to the end of the frame.
        let ip_len = p.ip_len.map_or(room, |l| l.min(room));
        let l3 = (p.header_len as u64).min(ip_len);
        let payload = &p.payload.payload;
        let whole = !p.payload.incomplete
            && (p.payload.len_source != LenSource::Slice || data.len() as u64 >= wire);
        let ip_payload_len = ip_len - l3;

        let protocol = p.payload.ip_number.0;
        let first = p.fragment.is_none_or(|f| f.offset == 0);
        let mut ports = None;
        let mut tcp = None;
        let mut l4_header = 0u64;
        let mut stored = None;
        if first {
            if protocol == TCP {
                if let Ok(h) = TcpHeaderSlice::from_slice(payload) {
                    ports = Some((h.source_port(), h.destination_port()));
                    l4_header = h.slice().len() as u64;
                    stored = Some(h.checksum());
                    tcp = Some(TcpFacts {
                        seq: h.sequence_number(),
                        syn: h.syn(),
                        fin: h.fin(),
                        rst: h.rst(),
                    });
                }
            } else if protocol == UDP {
                if let Ok(h) = UdpHeaderSlice::from_slice(payload) {
                    ports = Some((h.source_port(), h.destination_port()));
                    l4_header = 8;
                    stored = Some(h.checksum());
                }
            }
        }
        let l4 = l4_header.min(ip_payload_len);
        let checksummed = protocol == TCP || protocol == UDP;
        let base = checksum::pseudo_base(p.src, p.dst, protocol);
        // UDP over IPv4 may carry no checksum at all (field 0).
        let no_checksum = protocol == UDP && p.src.is_ipv4() && stored == Some(0);

        let (l4_checksum, checks_l4) = match p.fragment {
            None => {
                let verdict = match stored {
                    Some(stored) if checksummed && whole && !no_checksum => {
                        let seg_len = if protocol == UDP {
                            udp_len(payload)
                        } else {
                            payload.len()
                        };
                        let segment = payload.get(..seg_len).unwrap_or(payload);
                        let pseudo = checksum::pseudo_with_len(base, segment.len() as u32);
                        Some(checksum::transport(
                            pseudo,
                            checksum::data_sum(segment),
                            stored,
                        ))
                    }
                    _ => None,
                };
                (verdict, checksummed)
            }
            Some(f) => {
                let id = DatagramId {
                    src: p.src,
                    dst: p.dst,
                    protocol,
                    ident: f.ident,
                };
                let piece = Fragment {
                    offset: f.offset,
                    more: f.more,
                    len: ip_payload_len as u32,
                    sum: whole.then(|| checksum::data_sum(payload)),
                    stored,
                    ports,
                };
                let (learnt, completed) = self.fragments.add(id, piece);
                ports = ports.or(learnt);
                let verdict = completed.and_then(|c| {
                    let (sum, stored) = (c.sum?, c.stored?);
                    let skip = protocol == UDP && p.src.is_ipv4() && stored == 0;
                    let pseudo = checksum::pseudo_with_len(base, c.len);
                    (!skip).then(|| checksum::transport(pseudo, sum, stored))
                });
                (verdict, checksummed && completed.is_some())
            }
        };

        let key = (p.src, p.dst, protocol);
        match ports {
            Some(ports) => {
                self.last_ports.insert(key, ports);
            }
            None if p.fragment.is_some() => ports = self.last_ports.get(&key).copied(),
            None => {}
        }

        Dissection {
            layers: Layers {
                l2: wire - ip_len,
                l3,
                l4,
                payload: ip_payload_len - l4,
                other: 0,
            },
            ip: Some(IpFacts {
                src: p.src,
                dst: p.dst,
                protocol,
                ports,
                fragment: p.fragment.is_some(),
                ipv4_checksum: p.ipv4_checksum,
                l4_checksum,
                checks_l4,
                tcp,
            }),
            unsupported_link: false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct FragmentFacts {
    ident: u32,
    offset: u32,
    more: bool,
}

/// The parts of an IP packet the accounting needs.
struct IpParts<'a> {
    header: &'a [u8],
    header_len: usize,
    /// Length of the whole IP packet from its header, `None` when unset.
    ip_len: Option<u64>,
    payload: LaxIpPayloadSlice<'a>,
    src: IpAddr,
    dst: IpAddr,
    fragment: Option<FragmentFacts>,
    ipv4_checksum: Option<Verdict>,
}

fn ipv4_parts<'a>(v4: &'a etherparse::LaxIpv4Slice<'a>) -> IpParts<'a> {
    let h = v4.header();
    let header = h.slice();
    let auth = v4.extensions().auth.map_or(0, |a| a.slice().len());
    let total = usize::from(h.total_len());
    let fragment = h.is_fragmenting_payload().then(|| FragmentFacts {
        ident: u32::from(h.identification()),
        offset: u32::from(h.fragments_offset().value()) * 8,
        more: h.more_fragments(),
    });
    IpParts {
        header,
        header_len: header.len() + auth,
        ip_len: (total >= header.len()).then_some(total as u64),
        payload: v4.payload().clone(),
        src: IpAddr::V4(h.source_addr()),
        dst: IpAddr::V4(h.destination_addr()),
        fragment,
        ipv4_checksum: Some(checksum::ipv4_header(header)),
    }
}

fn ipv6_parts<'a>(v6: &etherparse::LaxIpv6Slice<'a>) -> IpParts<'a> {
    let h = v6.header();
    let exts = v6.extensions();
    let fragment = exts.clone().into_iter().find_map(|e| match e {
        Ipv6ExtensionSlice::Fragment(f) if f.is_fragmenting_payload() => Some(FragmentFacts {
            ident: f.identification(),
            offset: u32::from(f.fragment_offset().value()) * 8,
            more: f.more_fragments(),
        }),
        _ => None,
    });
    let payload_len = h.payload_length();
    IpParts {
        header: h.slice(),
        header_len: h.slice().len() + exts.slice().len(),
        ip_len: (payload_len != 0).then_some(40 + u64::from(payload_len)),
        payload: v6.payload().clone(),
        src: IpAddr::V6(h.source_addr()),
        dst: IpAddr::V6(h.destination_addr()),
        fragment,
        ipv4_checksum: None,
    }
}

/// Length a UDP header claims for its datagram, bounded by what is there.
fn udp_len(payload: &[u8]) -> usize {
    match payload.get(4..6) {
        Some(l) => usize::from(u16::from_be_bytes([l[0], l[1]])).min(payload.len()),
        None => payload.len(),
    }
}

/// Where `sub` starts inside `data` (0 if it is not inside).
fn offset_in(data: &[u8], sub: &[u8]) -> usize {
    (sub.as_ptr() as usize)
        .checked_sub(data.as_ptr() as usize)
        .filter(|o| *o <= data.len())
        .unwrap_or(0)
}

/// Splits off the link header. Returns its length and the packet from the
/// network layer down (`None` inside when the link header is cut short), or
/// `None` for a link type not handled here.
fn slice_link(link: LinkType, data: &[u8]) -> Option<(usize, Option<LaxSlicedPacket<'_>>)> {
    let by_type = |len: usize, ether_type: Option<u16>| {
        let packet = match (data.get(len..), ether_type) {
            (Some(rest), Some(t)) => Some(LaxSlicedPacket::from_ether_type(EtherType(t), rest)),
            _ => None,
        };
        Some((len, packet))
    };
    let be16 = |at: usize| {
        data.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    match link {
        LinkType::ETHERNET => Some((14, LaxSlicedPacket::from_ethernet(data).ok())),
        LinkType::LINUX_SLL => by_type(16, be16(14)),
        LinkType::LINUX_SLL2 => by_type(20, be16(0)),
        LinkType::RAW | LinkType::RAW_BSD => by_type(0, version_type(data)),
        LinkType::IPV4 => by_type(0, Some(EtherType::IPV4.0)),
        LinkType::IPV6 => by_type(0, Some(EtherType::IPV6.0)),
        LinkType::NULL | LinkType::LOOP => {
            let family = data.get(..4).and_then(|b| {
                let [a, b, c, d] = [b[0], b[1], b[2], b[3]];
                // NULL is in the capturing host's byte order: try both.
                [
                    u32::from_be_bytes([a, b, c, d]),
                    u32::from_le_bytes([a, b, c, d]),
                ]
                .into_iter()
                .find_map(family_type)
            });
            by_type(4, family)
        }
        _ => None,
    }
}

/// The ether type of a raw IP packet, from its version nibble.
fn version_type(data: &[u8]) -> Option<u16> {
    match data.first().map(|b| b >> 4) {
        Some(4) => Some(EtherType::IPV4.0),
        Some(6) => Some(EtherType::IPV6.0),
        _ => None,
    }
}

/// The ether type for a BSD address family (AF_INET6 differs by system).
fn family_type(family: u32) -> Option<u16> {
    match family {
        2 => Some(EtherType::IPV4.0),
        10 | 24 | 28 | 30 => Some(EtherType::IPV6.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{IpFragOffset, IpNumber, Ipv4Header, PacketBuilder};

    const SRC: [u8; 4] = [198, 18, 0, 1];
    const DST: [u8; 4] = [198, 18, 0, 2];

    /// An IPv4/TCP packet with correct checksums and `n` bytes of payload.
    fn tcp4(n: usize) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ipv4(SRC, DST, 64)
            .tcp(40000, 5001, 1000, 65535)
            .write(&mut v, &vec![b'x'; n])
            .unwrap();
        v
    }

    fn frame(link: LinkType, data: &[u8], original_len: usize) -> Frame<'_> {
        Frame {
            link,
            interface: 0,
            timestamp_ns: None,
            original_len: original_len as u32,
            data,
        }
    }

    fn dissect(link: LinkType, data: &[u8]) -> Dissection {
        Dissector::new().dissect(&frame(link, data, data.len()))
    }

    fn with_prefix(prefix: &[u8], ip: &[u8]) -> Vec<u8> {
        [prefix, ip].concat()
    }

    #[test]
    fn every_link_type_yields_the_same_ip_layers() {
        let ip = tcp4(100);
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x08, 0x00]);
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0u8; 18]);
        let cases = [
            (LinkType::ETHERNET, eth, 14),
            (LinkType::LINUX_SLL, sll, 16),
            (LinkType::LINUX_SLL2, sll2, 20),
            (LinkType::NULL, 2u32.to_le_bytes().to_vec(), 4),
            (LinkType::NULL, 2u32.to_be_bytes().to_vec(), 4),
            (LinkType::LOOP, 2u32.to_be_bytes().to_vec(), 4),
            (LinkType::RAW, vec![], 0),
            (LinkType::IPV4, vec![], 0),
        ];
        for (link, prefix, l2) in cases {
            let d = dissect(link, &with_prefix(&prefix, &ip));
            let want = Layers {
                l2,
                l3: 20,
                l4: 20,
                payload: 100,
                other: 0,
            };
            assert_eq!(d.layers, want, "{link:?}");
            let ip = d.ip.unwrap();
            assert_eq!(ip.ports, Some((40000, 5001)));
            assert_eq!(ip.ipv4_checksum, Some(Verdict::Valid));
            assert_eq!((ip.checks_l4, ip.l4_checksum), (true, Some(Verdict::Valid)));
            assert_eq!(ip.tcp.map(|t| t.seq), Some(1000));
        }
    }

    #[test]
    fn unknown_link_and_non_ip_frames_go_to_other() {
        let d = dissect(LinkType(147), &[1, 2, 3]);
        assert!(d.unsupported_link && d.ip.is_none());
        assert_eq!(d.layers.other, 3);
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0u8; 28]);
        let d = dissect(LinkType::ETHERNET, &arp);
        assert!(!d.unsupported_link && d.ip.is_none());
        assert_eq!((d.layers.l2, d.layers.other), (14, 28));
        // A frame shorter than its link header.
        let d = dissect(LinkType::LINUX_SLL, &[0u8; 5]);
        assert_eq!((d.layers.l2, d.layers.other), (5, 0));
    }

    #[test]
    fn snap_cut_counts_wire_bytes_and_leaves_checksum_unchecked() {
        let ip = tcp4(1000);
        let d = Dissector::new().dissect(&frame(LinkType::RAW, &ip[..60], ip.len()));
        assert_eq!(d.layers.total(), ip.len() as u64);
        assert_eq!(d.layers.payload, 1000);
        let ip = d.ip.unwrap();
        assert_eq!(ip.ipv4_checksum, Some(Verdict::Valid));
        assert_eq!((ip.checks_l4, ip.l4_checksum), (true, None));
    }

    #[test]
    fn offload_checksum_is_partial() {
        let mut ip = tcp4(10);
        let base = checksum::pseudo_base(SRC.into(), DST.into(), TCP);
        let pseudo = checksum::pseudo_with_len(base, 30);
        // The folded pseudo-header sum, as Linux leaves it.
        let folded = !etherparse::checksum::u64_16bit_word::ones_complement(pseudo).to_be();
        ip[36..38].copy_from_slice(&folded.to_be_bytes());
        let d = dissect(LinkType::RAW, &ip);
        assert_eq!(d.ip.unwrap().l4_checksum, Some(Verdict::Partial));
        ip[36] ^= 0x55;
        let d = dissect(LinkType::RAW, &ip);
        assert_eq!(d.ip.unwrap().l4_checksum, Some(Verdict::Bad));
    }

    /// An IPv4 fragment of `segment` (a UDP header and payload).
    fn fragment(segment: &[u8], from: usize, to: usize) -> Vec<u8> {
        let mut h = Ipv4Header::new((to - from) as u16, 64, IpNumber::UDP, SRC, DST).unwrap();
        h.identification = 77;
        h.more_fragments = to < segment.len();
        h.fragment_offset = IpFragOffset::try_new((from / 8) as u16).unwrap();
        h.header_checksum = h.calc_header_checksum();
        let mut v = h.to_bytes().to_vec();
        v.extend_from_slice(&segment[from..to]);
        v
    }

    #[test]
    fn fragments_join_their_datagram_and_verify_once() {
        let mut whole = Vec::new();
        PacketBuilder::ipv4(SRC, DST, 64)
            .udp(1234, 5003)
            .write(&mut whole, &[9u8; 2000])
            .unwrap();
        let segment = &whole[20..];
        let mut d = Dissector::new();
        let pieces = [(0, 1480), (1480, 2008)];
        let got: Vec<Dissection> = pieces
            .iter()
            .map(|&(a, b)| {
                let bytes = fragment(segment, a, b);
                d.dissect(&frame(LinkType::RAW, &bytes, bytes.len()))
            })
            .collect();
        let first = got[0].ip.unwrap();
        let last = got[1].ip.unwrap();
        assert!(first.fragment && last.fragment);
        assert_eq!(
            (first.ports, last.ports),
            (Some((1234, 5003)), Some((1234, 5003)))
        );
        assert_eq!((first.checks_l4, first.l4_checksum), (false, None));
        assert_eq!(
            (last.checks_l4, last.l4_checksum),
            (true, Some(Verdict::Valid))
        );
        assert_eq!((got[0].layers.l4, got[1].layers.l4), (8, 0));
        assert_eq!(got[0].layers.payload + got[1].layers.payload, 2000);
    }

    #[test]
    fn ipv6_fragment_header_is_layer_three() {
        let mut v = Vec::new();
        PacketBuilder::ipv6([1; 16], [2; 16], 64)
            .udp(1, 2)
            .write(&mut v, &[0u8; 16])
            .unwrap();
        // Insert a Fragment header (offset 0, more fragments) after the
        // fixed header: next header 44, then UDP.
        let mut frag = v[..40].to_vec();
        frag[6] = 44;
        let payload_len = u16::from_be_bytes([v[4], v[5]]) + 8;
        frag[4..6].copy_from_slice(&payload_len.to_be_bytes());
        frag.extend_from_slice(&[17, 0, 0, 1, 0, 0, 0, 9]);
        frag.extend_from_slice(&v[40..]);
        let d = dissect(LinkType::IPV6, &frag);
        assert_eq!(d.layers.l3, 48);
        assert_eq!(d.layers.l4, 8);
        let ip = d.ip.unwrap();
        assert!(ip.fragment);
        assert_eq!(ip.protocol, UDP);
        assert_eq!(ip.ipv4_checksum, None);
    }
}
