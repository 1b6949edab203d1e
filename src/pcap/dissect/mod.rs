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
//!
//! One file per layer, as a frame is taken apart:
//! - `link`: the link header, per link type.
//! - `ip`: the IPv4 or IPv6 header, lengths and fragment facts.
//! - `transport`: the TCP or UDP header and a whole segment's checksum.
//! - `fragment`: fragments joined to their datagram, checksummed once.
//! - [`carried`]: a TCP or UDP frame's payload, for readers of the lab's
//!   framing.

pub mod carried;
mod fragment;
mod ip;
mod link;
mod transport;

use std::collections::HashMap;
use std::net::IpAddr;

use etherparse::{LaxNetSlice, LenSource};

use super::read::Frame;
use crate::wire::checksum::{FragmentSums, Verdict};
use ip::{IpParts, ipv4_parts, ipv6_parts, offset_in};
use link::slice_link;
use transport::{TransportHeader, segment_checksum};

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

/// The TCP facts retransmission counting and the time-sequence graph need.
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
    /// Acknowledgment number, when the ACK flag is set.
    pub ack: Option<u32>,
    /// The window field as sent, before any scaling.
    pub window: u16,
    /// The window scale option's shift count, when the header carries one
    /// (only SYNs may).
    pub window_scale: Option<u8>,
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

    /// An IP frame, step by step: the IP header and lengths, the transport
    /// header, the checksum (of the segment, or of the datagram a fragment
    /// completes), and the flow's ports.
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
        let header = match p.fragment {
            Some(f) if f.offset != 0 => TransportHeader::default(),
            _ => TransportHeader::parse(protocol, payload),
        };
        let l4 = header.len.min(ip_payload_len);
        let (ports, l4_checksum, checks_l4) = match p.fragment {
            None => {
                let verdict = whole
                    .then(|| segment_checksum((p.src, p.dst), protocol, payload, header.stored))
                    .flatten();
                (header.ports, verdict, transport::checksummed(protocol))
            }
            Some(f) => {
                let got = fragment::add(&mut self.fragments, &p, f, ip_payload_len, whole, &header);
                (got.ports, got.l4_checksum, got.checks_l4)
            }
        };
        let ports = self.flow_ports((p.src, p.dst, protocol), ports, p.fragment.is_some());

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
                tcp: header.tcp,
            }),
            unsupported_link: false,
        }
    }

    /// Remembers the last ports seen between two addresses over one
    /// protocol, and lends them to a fragment that has none of its own.
    fn flow_ports(
        &mut self,
        key: (IpAddr, IpAddr, u8),
        ports: Option<(u16, u16)>,
        fragment: bool,
    ) -> Option<(u16, u16)> {
        match ports {
            Some(ports) => {
                self.last_ports.insert(key, ports);
                Some(ports)
            }
            None if fragment => self.last_ports.get(&key).copied(),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcap::read::LinkType;
    use crate::wire::checksum;
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
