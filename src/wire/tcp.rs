//! A TCP bulk transfer on the link: segments, options, control frames.
//!
//! Header: 20 bytes plus options, padded to 4 (RFC 9293). Options as Linux
//! writes them (`tcp_options_write()` in `net/ipv4/tcp_output.c`), in 4-byte
//! words:
//!
//! ```text
//! SYN, SYN-ACK with timestamps:    MSS 4 | SACK-perm 2, TS 10 | NOP, WS 3    = 20
//! SYN, SYN-ACK without timestamps: MSS 4 | NOP, NOP, SACK-perm 2 | NOP, WS 3 = 12
//! every later segment:             NOP, NOP, TS 10                           = 12 or 0
//! ```
//!
//! So the usual Linux SYN has a 40-byte TCP header (32 without timestamps)
//! and data segments carry the MSS minus 12 bytes: 1448 bytes on a
//! 1500-byte IPv4 link, 1428 on IPv6. The MSS, as Linux and RFC 9293 §3.7.1
//! count it, excludes options: by default the MTU minus the IP header minus
//! 20.
//!
//! Frames counted for a transfer of P bytes:
//! - data segments: ⌈P / segment payload⌉, all full but the last;
//! - handshake (optional): SYN, SYN-ACK, ACK;
//! - teardown (optional): FIN, ACK, FIN, ACK: each side closes on its own
//!   and nothing is piggybacked (a peer that closes at once may merge its
//!   FIN with the ACK, one frame less);
//! - pure ACKs from the receiver: one per `ack_every` data segments, rounded
//!   up (Linux delayed ACKs default to one per two full segments, RFC 9293
//!   §3.8.6.3); `ack_every == 0` counts none.
//!
//! No loss, retransmission, window updates or SACK blocks; no GSO/TSO (a
//! capture on the sender may show super-segments that the NIC cuts later).

use super::ip::{IpRepr, IpVersion, Packet};
use super::link::Link;
use super::tally::{FrameKind, Tally};
use super::{WireError, pad4};

/// TCP header without options.
pub const TCP_HEADER_LEN: u32 = 20;
/// Longest TCP options (the data offset counts 15 words).
pub const TCP_MAX_OPTIONS_LEN: u32 = 40;
/// Maximum segment size option (kind 2).
pub const MSS_OPTION_LEN: u32 = 4;
/// SACK-permitted option (kind 4).
pub const SACK_PERMITTED_OPTION_LEN: u32 = 2;
/// Timestamps option (kind 8).
pub const TIMESTAMPS_OPTION_LEN: u32 = 10;
/// Window scale option (kind 3).
pub const WINDOW_SCALE_OPTION_LEN: u32 = 3;
/// The largest payload the model counts (512 PiB): beyond it the bytes on
/// the wire, up to ten times the payload at the smallest MTU, would not fit
/// the 64-bit counters.
pub const MAX_MODELLED_PAYLOAD: u64 = 1 << 59;
/// No-operation option (kind 1), used to align the others.
pub const NOP_LEN: u32 = 1;
/// Largest value of the MSS option (16 bits).
pub const MAX_MSS: u32 = 65535;
/// Default delayed-ACK ratio: one pure ACK per two data segments.
pub const DEFAULT_ACK_EVERY: u32 = 2;

/// A TCP header as the model counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpRepr {
    /// Option bytes before padding; padded to a multiple of 4.
    pub options_len: u32,
}

impl TcpRepr {
    /// Header bytes, options and padding included.
    pub const fn header_len(&self) -> u32 {
        TCP_HEADER_LEN + pad4(self.options_len)
    }

    /// Checks the option length.
    pub fn check(&self) -> Result<(), WireError> {
        if pad4(self.options_len) > TCP_MAX_OPTIONS_LEN {
            return Err(WireError::TcpOptionsTooLong {
                len: self.options_len,
            });
        }
        Ok(())
    }
}

/// The options a connection negotiates (all on in a default Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpOptions {
    /// Timestamps (RFC 7323): 12 bytes in every segment after the SYNs.
    pub timestamps: bool,
    /// SACK-permitted in the SYNs (RFC 2018).
    pub sack_permitted: bool,
    /// Window scale in the SYNs (RFC 7323).
    pub window_scale: bool,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            timestamps: true,
            sack_permitted: true,
            window_scale: true,
        }
    }
}

impl TcpOptions {
    /// Option bytes in a SYN or SYN-ACK, laid out as Linux does.
    pub const fn syn_len(&self) -> u32 {
        let mut len = MSS_OPTION_LEN;
        if self.timestamps {
            // SACK-perm rides in the two bytes before TS, or two NOPs do.
            len += 2 + TIMESTAMPS_OPTION_LEN;
        } else if self.sack_permitted {
            len += 2 * NOP_LEN + SACK_PERMITTED_OPTION_LEN;
        }
        if self.window_scale {
            len += NOP_LEN + WINDOW_SCALE_OPTION_LEN;
        }
        len
    }

    /// Option bytes in every segment after the SYNs: NOP, NOP, TS.
    pub const fn segment_len(&self) -> u32 {
        if self.timestamps {
            2 * NOP_LEN + TIMESTAMPS_OPTION_LEN
        } else {
            0
        }
    }

    /// The header of a SYN or SYN-ACK.
    pub const fn syn_header(&self) -> TcpRepr {
        TcpRepr {
            options_len: self.syn_len(),
        }
    }

    /// The header of every later segment.
    pub const fn segment_header(&self) -> TcpRepr {
        TcpRepr {
            options_len: self.segment_len(),
        }
    }
}

/// A one-way bulk transfer of `payload` bytes over TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpTransfer {
    /// The IP header (version, options, extension headers).
    pub ip: IpRepr,
    /// The link.
    pub link: Link,
    /// The MTU; the link's default when `None`.
    pub mtu: Option<u32>,
    /// The MSS; the MTU minus the IP header minus 20 when `None`.
    pub mss: Option<u32>,
    /// Negotiated options.
    pub options: TcpOptions,
    /// Application payload bytes.
    pub payload: u64,
    /// Data segments per pure ACK from the receiver; 0 counts no ACKs.
    pub ack_every: u32,
    /// Whether to count SYN, SYN-ACK and ACK.
    pub handshake: bool,
    /// Whether to count FIN, ACK, FIN, ACK.
    pub teardown: bool,
}

impl TcpTransfer {
    /// A transfer of `payload` bytes with Linux defaults: all options on,
    /// MSS from the link's default MTU, handshake and teardown counted, one
    /// ACK per two data segments.
    pub const fn new(version: IpVersion, link: Link, payload: u64) -> Self {
        TcpTransfer {
            ip: IpRepr::plain(version),
            link,
            mtu: None,
            mss: None,
            options: TcpOptions {
                timestamps: true,
                sack_permitted: true,
                window_scale: true,
            },
            payload,
            ack_every: DEFAULT_ACK_EVERY,
            handshake: true,
            teardown: true,
        }
    }

    /// Only the data segments: no handshake, teardown or ACKs (the view of
    /// the published per-frame tables).
    pub const fn data_only(self) -> Self {
        TcpTransfer {
            ack_every: 0,
            handshake: false,
            teardown: false,
            ..self
        }
    }

    /// The MTU the model uses (checked and clamped).
    pub fn effective_mtu(&self) -> Result<u32, WireError> {
        self.ip
            .effective_mtu(self.mtu.unwrap_or(self.link.default_mtu()))
    }

    /// The largest MSS the MTU allows: MTU - IP header - 20, at most 65535.
    /// The MTU must hold a SYN and a data segment of at least one byte.
    pub fn max_mss(&self) -> Result<u32, WireError> {
        let mtu = self.effective_mtu()?;
        let data = self.ip.header_len() + self.options.segment_header().header_len() + 1;
        let syn = self.ip.header_len() + self.options.syn_header().header_len();
        let headers = data.max(syn);
        if mtu < headers {
            return Err(WireError::MtuTooSmallForHeaders { mtu, headers });
        }
        Ok((mtu - self.ip.header_len() - TCP_HEADER_LEN).min(MAX_MSS))
    }

    /// The MSS in use: the one given, checked against the MTU, or the
    /// largest.
    pub fn mss(&self) -> Result<u32, WireError> {
        self.options.syn_header().check()?;
        let max = self.max_mss()?;
        let Some(mss) = self.mss else {
            return Ok(max);
        };
        if mss == 0 {
            return Err(WireError::ZeroMss);
        }
        if mss > max {
            return Err(WireError::MssTooLarge { mss, max });
        }
        let options = self.options.segment_len();
        if mss <= options {
            return Err(WireError::MssTooSmall { mss, options });
        }
        Ok(mss)
    }

    /// Payload bytes in a full data segment: the MSS minus option bytes.
    pub fn segment_payload(&self) -> Result<u32, WireError> {
        Ok(self.mss()? - self.options.segment_len())
    }

    /// Number of data segments.
    pub fn data_segments(&self) -> Result<u64, WireError> {
        let segment = u64::from(self.segment_payload()?);
        Ok(self.payload.div_ceil(segment))
    }

    /// Number of pure ACKs from the receiver.
    pub fn ack_frames(&self) -> Result<u64, WireError> {
        let segments = self.data_segments()?;
        Ok(match self.ack_every {
            0 => 0,
            n => segments.div_ceil(u64::from(n)),
        })
    }

    /// The frames of this transfer.
    pub fn tally(&self) -> Result<Tally, WireError> {
        if self.payload == 0 {
            return Err(WireError::EmptyTcpTransfer);
        }
        if self.payload > MAX_MODELLED_PAYLOAD {
            return Err(WireError::PayloadTooLarge {
                payload: self.payload,
                max: MAX_MODELLED_PAYLOAD,
            });
        }
        let segment = self.segment_payload()?;
        let segments = self.data_segments()?;
        let l3 = self.ip.header_len();
        let control = Packet {
            l3,
            l4: self.options.segment_header().header_len(),
            payload: 0,
        };
        let syn = Packet {
            l4: self.options.syn_header().header_len(),
            ..control
        };
        let full = Packet {
            payload: segment,
            ..control
        };
        // The last segment carries what is left: 1..=segment bytes.
        let last_len = self.payload - (segments - 1) * u64::from(segment);
        let last = Packet {
            payload: last_len as u32,
            ..control
        };

        let mut tally = Tally::new(self.link);
        if self.handshake {
            tally.push(FrameKind::Syn, syn, 1);
            tally.push(FrameKind::SynAck, syn, 1);
            tally.push(FrameKind::HandshakeAck, control, 1);
        }
        if last == full {
            // A payload that fills its last segment too: one group, not two
            // of the same shape.
            tally.push(FrameKind::Data, full, segments);
        } else {
            tally.push(FrameKind::Data, full, segments - 1);
            tally.push(FrameKind::Data, last, 1);
        }
        tally.push(FrameKind::Ack, control, self.ack_frames()?);
        if self.teardown {
            for _ in 0..2 {
                tally.push(FrameKind::Fin, control, 1);
                tally.push(FrameKind::FinAck, control, 1);
            }
        }
        Ok(tally)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::link::CaptureSide;

    const ETH: Link = Link::Ethernet { vlan: false };
    const ETH_VLAN: Link = Link::Ethernet { vlan: true };
    const GIGABIT: u64 = 1_000_000_000;

    const NO_TS: TcpOptions = TcpOptions {
        timestamps: false,
        sack_permitted: true,
        window_scale: true,
    };

    /// One full segment, alone: the per-frame efficiency of the tables.
    fn full_segment(version: IpVersion, link: Link, mtu: u32, ts: bool) -> TcpTransfer {
        let mut t = TcpTransfer::new(version, link, 0).data_only();
        t.mtu = Some(mtu);
        if !ts {
            t.options = NO_TS;
        }
        t.payload = u64::from(t.segment_payload().unwrap());
        t
    }

    fn percent(t: &TcpTransfer, decimals: usize) -> String {
        format!("{:.*}", decimals, t.tally().unwrap().efficiency() * 100.0)
    }

    // Linux SYN options, as in the capture veth-tcp4-100000.pcap
    // (tests/corpus): 02 04 05b4 | 04 02 08 0a <TSval TSecr> | 01 03 03 0a,
    // a 40-byte header; Linux net/ipv4/tcp_output.c, tcp_options_write():
    // https://github.com/torvalds/linux/blob/master/net/ipv4/tcp_output.c
    #[test]
    fn linux_syn_options() {
        let ts = TcpOptions::default();
        assert_eq!(ts.syn_len(), 20);
        assert_eq!(ts.syn_header().header_len(), 40);
        assert_eq!(NO_TS.syn_len(), 12);
        assert_eq!(NO_TS.syn_header().header_len(), 32);
        assert_eq!(ts.segment_header().header_len(), 32);
        assert_eq!(NO_TS.segment_header().header_len(), 20);
        let bare = TcpOptions {
            timestamps: false,
            sack_permitted: false,
            window_scale: false,
        };
        assert_eq!(bare.syn_header().header_len(), 24);
    }

    // Captures veth-tcp4-100000.pcap and veth-tcp6-50000.pcap: the SYN
    // advertises MSS 1460 (IPv4) and 1440 (IPv6); data segments carry 1448
    // and 1428 bytes. lo-tcp4-iperf3.pcapng: MSS 65495 on lo (MTU 65536,
    // IPv4 packets stop at 65535).
    #[test]
    fn mss_and_segment_payload() {
        let v4 = TcpTransfer::new(IpVersion::V4, ETH, 1);
        let v6 = TcpTransfer::new(IpVersion::V6, ETH, 1);
        assert_eq!(v4.mss(), Ok(1460));
        assert_eq!(v4.segment_payload(), Ok(1448));
        assert_eq!(v6.mss(), Ok(1440));
        assert_eq!(v6.segment_payload(), Ok(1428));
        let lo = TcpTransfer::new(IpVersion::V4, Link::Loopback, 1);
        assert_eq!(lo.mss(), Ok(65495));
        let no_ts = TcpTransfer {
            options: NO_TS,
            ..v4
        };
        assert_eq!(no_ts.segment_payload(), Ok(1460));
    }

    // TD-er's Wiki, "Ethernet payload datarates":
    // https://wiki.td-er.nl/index.php?title=Ethernet_payload_datarates
    // (1500-40)/(38+1500) = 94.9285 % IPv4; (1500-52)/1538 = 94.1482 % with
    // timestamps; (1500-52)/1542 = 93.9040 % 802.1Q; IPv6 93.6281 %,
    // 92.8479 % with timestamps, 92.6070 % with 802.1Q.
    #[test]
    fn td_er_tcp_efficiencies() {
        use IpVersion::{V4, V6};
        let cases = [
            (V4, ETH, false, "94.9285"),
            (V4, ETH, true, "94.1482"),
            (V4, ETH_VLAN, true, "93.9040"),
            (V6, ETH, false, "93.6281"),
            (V6, ETH, true, "92.8479"),
            (V6, ETH_VLAN, true, "92.6070"),
        ];
        for (ip, link, ts, want) in cases {
            let t = full_segment(ip, link, 1500, ts);
            assert_eq!(percent(&t, 4), want, "{ip:?} {link:?} ts={ts}");
        }
    }

    // Dell Technologies, "PowerScale Network Design Considerations", Table
    // 10 "Data payload to Ethernet frame percentage":
    // https://infohub.delltechnologies.com/l/powerscale-network-design-considerations/data-payload-to-ethernet-frame-efficiency
    // standard / jumbo (9000): IPv4/TCP 94.93 / 99.14; with Linux timestamp
    // 94.15 / 99.00; with VLAN 93.90 / 98.96; IPv6/TCP 93.63 / 98.92; with
    // timestamp 92.85 / 98.78; with VLAN 92.59 / 98.74. The one figure not
    // reproduced is that 92.59: 1428/1542 is 92.607 % (TD-er's 92.6070 %
    // above), so only its jumbo figure is checked.
    #[test]
    fn dell_standard_and_jumbo_efficiencies() {
        use IpVersion::{V4, V6};
        let cases = [
            (V4, ETH, false, Some("94.93"), "99.14"),
            (V4, ETH, true, Some("94.15"), "99.00"),
            (V4, ETH_VLAN, true, Some("93.90"), "98.96"),
            (V6, ETH, false, Some("93.63"), "98.92"),
            (V6, ETH, true, Some("92.85"), "98.78"),
            (V6, ETH_VLAN, true, None, "98.74"),
        ];
        for (ip, link, ts, standard, jumbo) in cases {
            if let Some(standard) = standard {
                assert_eq!(percent(&full_segment(ip, link, 1500, ts), 2), standard);
            }
            assert_eq!(percent(&full_segment(ip, link, 9000, ts), 2), jumbo);
        }
    }

    // Goodput ceilings of TCP/IPv4 on 1 GbE, 1500 MTU: 1460/1538 ×
    // 1000 Mbit/s = 949.28 Mbit/s without options, 1448/1538 = 941.48 with
    // timestamps (the efficiencies above; "94.93% ... 94.93 Mbits/s" on
    // 100 Mbit/s in https://blog.a2o.si/2015/06/26/ethernetiptcp-bitrate-vs-packet-size-vs-segment-size-vs-efficiency-vs-speed/).
    #[test]
    fn gigabit_tcp_goodput() {
        let mbps = |t: TcpTransfer| {
            let bps = t.tally().unwrap().goodput_bps(GIGABIT).unwrap();
            format!("{:.2}", bps / 1e6)
        };
        assert_eq!(
            mbps(full_segment(IpVersion::V4, ETH, 1500, false)),
            "949.28"
        );
        assert_eq!(mbps(full_segment(IpVersion::V4, ETH, 1500, true)), "941.48");
        let fps = full_segment(IpVersion::V4, ETH, 1500, true)
            .tally()
            .unwrap()
            .frames_per_second(GIGABIT)
            .unwrap();
        assert_eq!(fps.floor(), 81_274.0);
    }

    // Capture veth-tcp4-100000.pcap (tests/corpus, tcpdump on the sending
    // veth, MTU 1500, offloads off): 100000 bytes in 69 segments of 1448
    // and one of 88 (frames of 1514 and 154 bytes); SYN 74, SYN-ACK 74,
    // ACK 66; FIN, ACK, FIN, ACK of 66 each; 24 pure ACKs of 66 from the
    // receiver; plus a 6-byte reply (72) and its ACK (66): 103 frames,
    // 106820 bytes (its .tshark.json).
    #[test]
    fn veth_tcp4_capture() {
        let mut t = TcpTransfer::new(IpVersion::V4, ETH, 100_000);
        assert_eq!(t.data_segments(), Ok(70));
        let data_only = t.data_only().tally().unwrap();
        assert_eq!(
            data_only.captured_bytes(CaptureSide::Sender),
            69 * 1514 + 154
        );
        t.ack_every = 3; // the capture's receiver acked 70 segments 24 times
        let tally = t.tally().unwrap();
        assert_eq!(tally.count(FrameKind::Ack), 24);
        assert_eq!(tally.frames() + 2, 103);
        assert_eq!(tally.captured_bytes(CaptureSide::Sender) + 72 + 66, 106_820);
        let payload: u64 = tally.payload_bytes();
        assert_eq!(payload + 6, 100_006);
    }

    // Capture veth-tcp6-50000.pcap (tests/corpus): 50000 bytes in 35
    // segments of 1428 and one of 20 (frames 1514 and 106); SYN and SYN-ACK
    // 94, other control frames 86; 23 pure ACKs from the receiver; FIN,
    // FIN and two ACKs; a 5-byte reply (91): 67 frames, 55783 bytes.
    #[test]
    fn veth_tcp6_capture() {
        let t = TcpTransfer::new(IpVersion::V6, ETH, 50_000);
        assert_eq!(t.data_segments(), Ok(36));
        let mut t = t;
        t.ack_every = 0;
        let tally = t.tally().unwrap();
        let link = tally.link();
        let ack = link.captured_len(40 + 32, CaptureSide::Sender);
        assert_eq!(ack, 86);
        assert_eq!(
            tally.captured_bytes(CaptureSide::Sender),
            35 * 1514 + 106 + 94 + 94 + 86 + 4 * 86
        );
        assert_eq!(tally.frames() + 23 + 1, 67);
        assert_eq!(
            tally.captured_bytes(CaptureSide::Sender) + 23 * u64::from(ack) + 91,
            55_783
        );
    }

    // Exactly MSS, MSS + 1 and two full segments: the last segment is its
    // own group only when it is shorter than the others.
    #[test]
    fn full_last_segment_shares_the_group() {
        let groups = |payload: u64| {
            let t = TcpTransfer::new(IpVersion::V4, ETH, payload).data_only();
            let tally = t.tally().unwrap();
            tally
                .groups()
                .iter()
                .map(|g| (g.packet.payload, g.count))
                .collect::<Vec<_>>()
        };
        assert_eq!(groups(1448), vec![(1448, 1)]);
        assert_eq!(groups(1449), vec![(1448, 1), (1, 1)]);
        assert_eq!(groups(2 * 1448), vec![(1448, 2)]);
        assert_eq!(groups(1), vec![(1, 1)]);
    }

    #[test]
    fn acks_round_up() {
        let mut t = TcpTransfer::new(IpVersion::V4, ETH, 3 * 1448).data_only();
        t.ack_every = 2;
        assert_eq!(t.ack_frames(), Ok(2));
        t.ack_every = 1;
        assert_eq!(t.ack_frames(), Ok(3));
        t.ack_every = 0;
        assert_eq!(t.ack_frames(), Ok(0));
    }

    #[test]
    fn invalid_inputs() {
        let t = TcpTransfer::new(IpVersion::V4, ETH, 1000);
        assert_eq!(
            TcpTransfer { payload: 0, ..t }.tally(),
            Err(WireError::EmptyTcpTransfer)
        );
        assert_eq!(
            TcpTransfer { mss: Some(0), ..t }.mss(),
            Err(WireError::ZeroMss)
        );
        assert_eq!(
            TcpTransfer {
                mss: Some(1461),
                ..t
            }
            .mss(),
            Err(WireError::MssTooLarge {
                mss: 1461,
                max: 1460
            })
        );
        assert_eq!(
            TcpTransfer { mss: Some(12), ..t }.mss(),
            Err(WireError::MssTooSmall {
                mss: 12,
                options: 12
            })
        );
        assert_eq!(TcpTransfer { mss: Some(13), ..t }.segment_payload(), Ok(1));
        // IPv4 with 40 option bytes and a SYN of 40: 100 bytes.
        let syn_too_big = TcpTransfer {
            ip: IpRepr::V4(crate::wire::Ipv4Repr { options_len: 40 }),
            mtu: Some(99),
            ..t
        };
        assert_eq!(
            syn_too_big.mss(),
            Err(WireError::MtuTooSmallForHeaders {
                mtu: 99,
                headers: 100
            })
        );
        let tiny = TcpTransfer {
            ip: IpRepr::V4(crate::wire::Ipv4Repr { options_len: 40 }),
            mtu: Some(80),
            ..t
        };
        assert!(matches!(
            tiny.mss(),
            Err(WireError::MtuTooSmallForHeaders { .. })
        ));
    }

    proptest::proptest! {
        // Segments carry the whole payload, none exceeds the MTU, and the
        // layers add up to the wire bytes.
        #[test]
        fn segments_cover_the_payload(
            payload in 1u64..50_000_000,
            mtu in 68u32..=9216,
            ts in proptest::bool::ANY,
            ack_every in 0u32..8,
        ) {
            let mut t = TcpTransfer::new(IpVersion::V4, ETH, payload);
            t.mtu = Some(mtu);
            t.options.timestamps = ts;
            t.ack_every = ack_every;
            let tally = t.tally().unwrap();
            proptest::prop_assert_eq!(tally.payload_bytes(), payload);
            for g in tally.groups() {
                proptest::prop_assert!(g.packet.len() <= mtu);
            }
            proptest::prop_assert_eq!(tally.wire_bytes(), tally.layers().total());
            let segments = t.data_segments().unwrap();
            proptest::prop_assert_eq!(tally.count(FrameKind::Data), segments);
            let expected_acks = if ack_every == 0 { 0 } else { segments.div_ceil(u64::from(ack_every)) };
            proptest::prop_assert_eq!(tally.count(FrameKind::Ack), expected_acks);
        }
    }
}
