//! One UDP datagram on the link, fragmented by IP when it exceeds the MTU.
//!
//! ```text
//! unfragmented:  [ IP | UDP 8 | payload ]
//! fragmented:    [ IP (+Frag 8 on IPv6) | UDP 8 | data ... ]   first
//!                [ IP (+Frag 8 on IPv6) | data ...         ]   middle
//!                [ IP (+Frag 8 on IPv6) | data (rest)      ]   last
//! ```
//!
//! The fragmentable part (UDP header and payload) is cut into pieces that
//! are multiples of 8 bytes except the last (RFC 791 fragment offsets count
//! 8-byte units; RFC 8200 §4.5): each piece is the MTU minus the per-
//! fragment IP headers, rounded down to 8. Only the first fragment carries
//! the UDP header. On a 1500-byte MTU that is 1480 bytes per IPv4 fragment
//! and 1448 per IPv6 fragment (1500 - 40 - 8 = 1452, rounded down).

use super::ip::{IpRepr, IpVersion, Packet};
use super::link::Link;
use super::tally::{FrameKind, Tally};
use super::{WireError, floor8};

/// UDP header (RFC 768).
pub const UDP_HEADER_LEN: u32 = 8;

/// The UDP header as the model counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct UdpRepr;

impl UdpRepr {
    /// Header bytes.
    pub const fn header_len(&self) -> u32 {
        UDP_HEADER_LEN
    }
}

/// One UDP datagram of `payload` bytes sent on `link`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpDatagram {
    /// The IP header (version, options, extension headers).
    pub ip: IpRepr,
    /// The link.
    pub link: Link,
    /// The MTU; the link's default when `None`.
    pub mtu: Option<u32>,
    /// Application payload bytes.
    pub payload: u64,
}

impl UdpDatagram {
    /// A datagram of `payload` bytes over a plain IP header of `version`,
    /// at the link's default MTU.
    pub const fn new(version: IpVersion, link: Link, payload: u64) -> Self {
        UdpDatagram {
            ip: IpRepr::plain(version),
            link,
            mtu: None,
            payload,
        }
    }

    /// The same datagram at `mtu`.
    pub const fn with_mtu(self, mtu: u32) -> Self {
        UdpDatagram {
            mtu: Some(mtu),
            ..self
        }
    }

    /// Largest payload one datagram carries: 65507 bytes over IPv4, 65527
    /// over IPv6, less any options or extension headers.
    pub const fn max_payload(&self) -> u64 {
        (self.ip.max_datagram_len() - UDP_HEADER_LEN) as u64
    }

    /// The MTU the model uses (checked and clamped).
    pub fn effective_mtu(&self) -> Result<u32, WireError> {
        self.ip
            .effective_mtu(self.mtu.unwrap_or(self.link.default_mtu()))
    }

    /// Bytes of the fragmentable part (UDP header and payload) in each IP
    /// packet; one entry when the datagram is not fragmented.
    pub fn fragment_sizes(&self) -> Result<Vec<u32>, WireError> {
        let (datagram, piece, count) = self.cut()?;
        let mut sizes = vec![piece; count as usize - 1];
        sizes.push(datagram - piece * (count - 1));
        Ok(sizes)
    }

    /// The frames of this datagram.
    pub fn tally(&self) -> Result<Tally, WireError> {
        let (datagram, piece, count) = self.cut()?;
        let mut tally = Tally::new(self.link);
        if count == 1 {
            let packet = Packet {
                l3: self.ip.header_len(),
                l4: UDP_HEADER_LEN,
                payload: datagram - UDP_HEADER_LEN,
            };
            tally.push(FrameKind::Datagram, packet, 1);
            return Ok(tally);
        }
        let l3 = self.ip.fragment_header_len();
        let first = Packet {
            l3,
            l4: UDP_HEADER_LEN,
            payload: piece - UDP_HEADER_LEN,
        };
        let middle = Packet {
            l3,
            l4: 0,
            payload: piece,
        };
        let last = Packet {
            l3,
            l4: 0,
            payload: datagram - piece * (count - 1),
        };
        tally.push(FrameKind::Fragment, first, 1);
        tally.push(FrameKind::Fragment, middle, u64::from(count - 2));
        tally.push(FrameKind::Fragment, last, 1);
        Ok(tally)
    }

    /// Checks the inputs and returns (datagram length, bytes per full
    /// piece, number of IP packets).
    fn cut(&self) -> Result<(u32, u32, u32), WireError> {
        let mtu = self.effective_mtu()?;
        let max = self.max_payload();
        if self.payload > max {
            return Err(WireError::UdpPayloadTooLarge {
                payload: self.payload,
                ip: self.ip.version().number(),
                max,
            });
        }
        // Fits in u32: the payload is at most 65527 bytes.
        let datagram = self.payload as u32 + UDP_HEADER_LEN;
        if self.ip.header_len() + datagram <= mtu {
            return Ok((datagram, datagram, 1));
        }
        // effective_mtu guarantees at least 8 bytes per piece.
        let piece = floor8(mtu - self.ip.fragment_header_len());
        Ok((datagram, piece, datagram.div_ceil(piece)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ip::{Ipv4Repr, Ipv6Repr};
    use crate::wire::link::CaptureSide;

    const ETH: Link = Link::Ethernet { vlan: false };

    fn v4(payload: u64) -> UdpDatagram {
        UdpDatagram::new(IpVersion::V4, ETH, payload)
    }

    fn v6(payload: u64) -> UdpDatagram {
        UdpDatagram::new(IpVersion::V6, ETH, payload)
    }

    /// IP packet lengths of each fragment.
    fn packet_lens(d: &UdpDatagram) -> Vec<u32> {
        let header = if d.fragment_sizes().map(|s| s.len()) == Ok(1) {
            d.ip.header_len()
        } else {
            d.ip.fragment_header_len()
        };
        d.fragment_sizes()
            .unwrap()
            .iter()
            .map(|s| s + header)
            .collect()
    }

    // Kurose & Ross, "Computer Networking: A Top-Down Approach", §4.3.2
    // (IPv4 datagram fragmentation): a 4000-byte datagram (20-byte header,
    // 3980 bytes of data) on a 1500-byte MTU becomes fragments of 1480,
    // 1480 and 1020 data bytes at offsets 0, 185 and 370.
    // Also worked at https://www.scribd.com/document/810683739/IPFragmentationExample
    #[test]
    fn kurose_ross_4000_byte_datagram() {
        let d = v4(3980 - 8).with_mtu(1500);
        assert_eq!(d.fragment_sizes(), Ok(vec![1480, 1480, 1020]));
        assert_eq!(packet_lens(&d), vec![1500, 1500, 1040]);
    }

    // The TCP/IP Guide, "IP Message Fragmentation Process":
    // http://www.tcpipguide.com/free/t_IPMessageFragmentationProcess-2.htm
    // a 12,000-byte message (20-byte header) over an MTU of 3,300: pieces of
    // 3,280, 3,280, 3,280 and 2,140 bytes.
    #[test]
    fn tcpipguide_12000_byte_message() {
        let d = UdpDatagram::new(IpVersion::V4, Link::Raw, 11_980 - 8).with_mtu(3300);
        assert_eq!(d.fragment_sizes(), Ok(vec![3280, 3280, 3280, 2140]));
    }

    // Capture veth-udp4-frag.pcap (tests/corpus, tcpdump on the sending
    // veth, MTU 1500): frame lengths per datagram of 1, 18, 1472, 2000,
    // 4000 and 65507 bytes. IP lengths: 4000 bytes -> 1500, 1500, 1068
    // (fragmentable 1480 + 1480 + 1048 = 4008).
    #[test]
    fn veth_udp4_capture_frame_lengths() {
        let cases: [(u64, u64, u64); 6] = [
            // (payload, frames, sum of frame.len)
            (1, 1, 43),
            (18, 1, 60),
            (1472, 1, 1514),
            (2000, 2, 1514 + 562),
            (4000, 3, 1514 + 1514 + 1082),
            (65507, 45, 44 * 1514 + 429),
        ];
        for (payload, frames, bytes) in cases {
            let tally = v4(payload).tally().unwrap();
            assert_eq!(tally.frames(), frames, "{payload}");
            assert_eq!(
                tally.captured_bytes(CaptureSide::Sender),
                bytes,
                "{payload}"
            );
        }
        assert_eq!(v4(4000).fragment_sizes(), Ok(vec![1480, 1480, 1048]));
        // The whole capture: 53 frames, 74848 bytes (its .tshark.json).
        let total: u64 = [1, 18, 1472, 2000, 4000, 65507]
            .iter()
            .map(|&p| v4(p).tally().unwrap().captured_bytes(CaptureSide::Sender))
            .sum();
        assert_eq!(total, 74848);
    }

    // Capture veth-udp6-frag.pcap (tests/corpus): datagrams of 1, 1452 and
    // 4000 bytes are frames of 63; 1514; 1510, 1510 and 1174 bytes; the
    // 4000-byte one is cut 1448 + 1448 + 1112 (= 4008), as RFC 8200 §4.5
    // requires (pieces are multiples of 8: 1500 - 40 - 8 = 1452 -> 1448).
    #[test]
    fn veth_udp6_capture_frame_lengths() {
        assert_eq!(v6(4000).fragment_sizes(), Ok(vec![1448, 1448, 1112]));
        let cases: [(u64, u64, u64); 3] =
            [(1, 1, 63), (1452, 1, 1514), (4000, 3, 1510 + 1510 + 1174)];
        for (payload, frames, bytes) in cases {
            let tally = v6(payload).tally().unwrap();
            assert_eq!(tally.frames(), frames, "{payload}");
            assert_eq!(
                tally.captured_bytes(CaptureSide::Sender),
                bytes,
                "{payload}"
            );
        }
        assert_eq!(v6(4000).tally().unwrap().fragments(), 3);
        assert_eq!(v6(1452).tally().unwrap().fragments(), 0);
    }

    // Capture lo-udp4-iperf3-snap96.pcap (tests/corpus): on loopback, 200
    // datagrams of 1000 bytes are 1042-byte frames and 2 of 4 bytes are 46;
    // 208492 bytes in all (frame.len, its .tshark.json).
    #[test]
    fn loopback_udp4_capture_frame_lengths() {
        let big = UdpDatagram::new(IpVersion::V4, Link::Loopback, 1000);
        let small = UdpDatagram::new(IpVersion::V4, Link::Loopback, 4);
        let big = big.tally().unwrap().captured_bytes(CaptureSide::Sender);
        let small = small.tally().unwrap().captured_bytes(CaptureSide::Sender);
        assert_eq!((big, small), (1042, 46));
        assert_eq!(200 * big + 2 * small, 208_492);
    }

    #[test]
    fn layers_of_a_fragmented_datagram() {
        let layers = v6(4000).tally().unwrap().layers();
        assert_eq!(layers.payload, 4000);
        assert_eq!(layers.l4, 8);
        assert_eq!(layers.l3, 3 * 48);
        assert_eq!(layers.l2, 3 * 18);
        assert_eq!(layers.padding, 0);
        assert_eq!(layers.preamble_gap, 3 * 20);
    }

    #[test]
    fn payload_limits() {
        assert!(v4(65507).tally().is_ok());
        assert_eq!(
            v4(65508).tally(),
            Err(WireError::UdpPayloadTooLarge {
                payload: 65508,
                ip: 4,
                max: 65507
            })
        );
        assert!(v6(65527).tally().is_ok());
        assert!(matches!(
            v6(65528).tally(),
            Err(WireError::UdpPayloadTooLarge { max: 65527, .. })
        ));
        let with_options = UdpDatagram {
            ip: IpRepr::V4(Ipv4Repr { options_len: 4 }),
            ..v4(0)
        };
        assert_eq!(with_options.max_payload(), 65503);
        let with_ext = UdpDatagram {
            ip: IpRepr::V6(Ipv6Repr { ext_headers_len: 8 }),
            ..v6(0)
        };
        assert_eq!(with_ext.max_payload(), 65519);
    }

    #[test]
    fn empty_datagram_is_one_padded_frame() {
        let tally = v4(0).tally().unwrap();
        assert_eq!(tally.frames(), 1);
        assert_eq!(tally.layers().padding, 18);
        assert_eq!(tally.wire_bytes(), 84);
    }

    #[test]
    fn loopback_default_mtu() {
        // IPv4 packets stop at 65535 bytes, below lo's 65536: never cut.
        let d = UdpDatagram::new(IpVersion::V4, Link::Loopback, 65507);
        assert_eq!(d.tally().unwrap().fragments(), 0);
        // IPv6 packets reach 65575 bytes (40 + 65535), above it: cut in two.
        let d = UdpDatagram::new(IpVersion::V6, Link::Loopback, 65527);
        assert_eq!(d.fragment_sizes(), Ok(vec![65488, 47]));
        let d = UdpDatagram::new(IpVersion::V6, Link::Loopback, 65488);
        assert_eq!(d.tally().unwrap().fragments(), 0);
    }

    proptest::proptest! {
        // Fragments add up to the datagram, are multiples of 8 but the last,
        // and every IP packet fits the MTU.
        #[test]
        fn fragments_cover_the_datagram(
            payload in 0u64..=65527,
            mtu in 68u32..=9216,
            v6 in proptest::bool::ANY,
        ) {
            let (ip, mtu) = if v6 {
                (IpVersion::V6, mtu.max(1280))
            } else {
                (IpVersion::V4, mtu)
            };
            let d = UdpDatagram::new(ip, Link::Raw, 0).with_mtu(mtu);
            let d = UdpDatagram { payload: payload.min(d.max_payload()), ..d };
            let sizes = d.fragment_sizes().unwrap();
            let total: u64 = sizes.iter().map(|&s| u64::from(s)).sum();
            proptest::prop_assert_eq!(total, d.payload + 8);
            if sizes.len() > 1 {
                for s in &sizes[..sizes.len() - 1] {
                    proptest::prop_assert_eq!(s % 8, 0);
                }
            }
            let tally = d.tally().unwrap();
            for g in tally.groups() {
                proptest::prop_assert!(g.packet.len() <= mtu);
            }
            let layers = tally.layers();
            proptest::prop_assert_eq!(layers.payload, d.payload);
            proptest::prop_assert_eq!(layers.l4, 8);
            proptest::prop_assert_eq!(tally.frames(), sizes.len() as u64);
        }
    }
}
