//! Link kinds and their framing: what surrounds an IP packet on the link.
//!
//! ```text
//! Ethernet (IEEE 802.3), bytes on the wire for one frame:
//! +----------+-----------+---------+-----------+---------+-----+-----+
//! | preamble | dst, src, | 802.1Q  | IP packet | padding | FCS | IFG |
//! | + SFD  8 | type   14 | tag (4) |           | to 64   |  4  | 12  |
//! +----------+-----------+---------+-----------+---------+-----+-----+
//!            |<------- frame: at least 64 bytes incl. FCS ------>|
//! ```
//!
//! - `Ethernet`: a real NIC. Short frames are padded to 64 bytes including
//!   the FCS (with an 802.1Q tag the minimum still counts the tag, so the
//!   client data may be as short as 42 bytes, as IEEE 802.3 allows for
//!   tagged frames).
//!   Jumbo MTUs are allowed.
//! - `Loopback`: what Linux `lo` shows in a capture: a 14-byte Ethernet
//!   header and the packet; no preamble, FCS, padding or gap.
//! - `Raw`: the IP packet alone.
//!
//! A capture tool does not see the preamble, SFD, gap or FCS; on the sending
//! host it does not see the padding either (the NIC adds it later), so a
//! 1-byte UDP/IPv4 datagram is a 43-byte frame there; a capture on a
//! receiving NIC shows the padding (60 bytes) but not the FCS.

use super::ip::Packet;
use super::tally::Layers;

/// Ethernet preamble (7 bytes) and start frame delimiter (1 byte).
pub const PREAMBLE_SFD_LEN: u32 = 8;
/// Ethernet II header: destination, source, EtherType.
pub const ETHERNET_HEADER_LEN: u32 = 14;
/// IEEE 802.1Q tag: TPID and TCI.
pub const VLAN_TAG_LEN: u32 = 4;
/// Frame check sequence (CRC-32).
pub const FCS_LEN: u32 = 4;
/// Minimum inter-frame gap: 96 bit times.
pub const INTER_FRAME_GAP_LEN: u32 = 12;
/// Minimum Ethernet frame, header to FCS inclusive.
pub const MIN_FRAME_LEN: u32 = 64;
/// The usual Ethernet MTU.
pub const ETHERNET_DEFAULT_MTU: u32 = 1500;
/// The header Linux loopback shows in a capture (an Ethernet II header).
pub const LOOPBACK_HEADER_LEN: u32 = 14;
/// The default MTU of Linux `lo`.
pub const LOOPBACK_DEFAULT_MTU: u32 = 65536;
/// The MTU assumed for raw IP when none is given.
pub const RAW_DEFAULT_MTU: u32 = 1500;

/// The link an IP packet travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Link {
    /// A real Ethernet NIC, optionally with an 802.1Q VLAN tag.
    Ethernet {
        /// Whether every frame carries a 4-byte 802.1Q tag.
        vlan: bool,
    },
    /// Linux loopback as a capture shows it: a 14-byte header, nothing else.
    Loopback,
    /// The IP packet only.
    Raw,
}

/// Where a capture tool sits, which decides whether it sees padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaptureSide {
    /// On the sending host (tcpdump on the sender, veth): no padding yet.
    Sender,
    /// On a receiving NIC: padding present, FCS stripped.
    Receiver,
}

impl Link {
    /// The name used on the command line and in JSON.
    pub const fn name(&self) -> &'static str {
        match self {
            Link::Ethernet { .. } => "ethernet",
            Link::Loopback => "loopback",
            Link::Raw => "raw",
        }
    }

    /// The MTU used when none is given.
    pub const fn default_mtu(&self) -> u32 {
        match self {
            Link::Ethernet { .. } => ETHERNET_DEFAULT_MTU,
            Link::Loopback => LOOPBACK_DEFAULT_MTU,
            Link::Raw => RAW_DEFAULT_MTU,
        }
    }

    /// Link header bytes before the IP packet, VLAN tag included.
    pub const fn header_len(&self) -> u32 {
        match self {
            Link::Ethernet { vlan: false } => ETHERNET_HEADER_LEN,
            Link::Ethernet { vlan: true } => ETHERNET_HEADER_LEN + VLAN_TAG_LEN,
            Link::Loopback => LOOPBACK_HEADER_LEN,
            Link::Raw => 0,
        }
    }

    /// Link trailer bytes after the IP packet (the FCS).
    pub const fn trailer_len(&self) -> u32 {
        match self {
            Link::Ethernet { .. } => FCS_LEN,
            Link::Loopback | Link::Raw => 0,
        }
    }

    /// Smallest frame, header to trailer inclusive; 0 when there is none.
    pub const fn min_frame_len(&self) -> u32 {
        match self {
            Link::Ethernet { .. } => MIN_FRAME_LEN,
            Link::Loopback | Link::Raw => 0,
        }
    }

    /// Bytes of line time outside the frame: preamble, SFD and gap.
    pub const fn preamble_gap_len(&self) -> u32 {
        match self {
            Link::Ethernet { .. } => PREAMBLE_SFD_LEN + INTER_FRAME_GAP_LEN,
            Link::Loopback | Link::Raw => 0,
        }
    }

    /// Padding added to a frame carrying an IP packet of `packet_len` bytes.
    pub const fn padding_len(&self, packet_len: u32) -> u32 {
        let frame = self.header_len() + packet_len + self.trailer_len();
        self.min_frame_len().saturating_sub(frame)
    }

    /// Frame length, header to FCS, padding included (what IEEE 802.3 and
    /// the RFC 2544 tables call the frame size).
    pub const fn frame_len(&self, packet_len: u32) -> u32 {
        self.header_len() + packet_len + self.padding_len(packet_len) + self.trailer_len()
    }

    /// Line time of one frame in bytes: the frame plus preamble, SFD and gap.
    pub const fn wire_len(&self, packet_len: u32) -> u32 {
        self.frame_len(packet_len) + self.preamble_gap_len()
    }

    /// The frame length a capture tool records (pcap's original length):
    /// no preamble, gap or FCS; padding only when captured on a receiver.
    pub const fn captured_len(&self, packet_len: u32, side: CaptureSide) -> u32 {
        let bare = self.header_len() + packet_len;
        match side {
            CaptureSide::Sender => bare,
            CaptureSide::Receiver => bare + self.padding_len(packet_len),
        }
    }

    /// Bytes per layer of one frame carrying `packet`.
    pub fn frame_layers(&self, packet: &Packet) -> Layers {
        Layers {
            payload: u64::from(packet.payload),
            l4: u64::from(packet.l4),
            l3: u64::from(packet.l3),
            l2: u64::from(self.header_len() + self.trailer_len()),
            padding: u64::from(self.padding_len(packet.len())),
            preamble_gap: u64::from(self.preamble_gap_len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETH: Link = Link::Ethernet { vlan: false };
    const ETH_VLAN: Link = Link::Ethernet { vlan: true };

    // Wikipedia, "Ethernet frame", Maximum throughput:
    // https://en.wikipedia.org/wiki/Ethernet_frame#Maximum_throughput
    // "1500 byte payload + 8 byte preamble + 14 byte header + 4 byte trailer
    // + minimum interframe gap corresponding to 12 bytes = 1538 bytes";
    // 1542 bytes with an 802.1Q tag.
    #[test]
    fn full_frame_is_1538_bytes_on_the_wire_and_1542_tagged() {
        assert_eq!(ETH.frame_len(1500), 1518);
        assert_eq!(ETH.wire_len(1500), 1538);
        assert_eq!(ETH_VLAN.frame_len(1500), 1522);
        assert_eq!(ETH_VLAN.wire_len(1500), 1542);
    }

    // RFC 5180, Appendix A.1 (https://www.rfc-editor.org/rfc/rfc5180#appendix-A.1):
    // "The 20 bytes in the formula is the sum of the preamble (8 bytes) and
    // the inter-frame gap (12 bytes)"; the smallest frame is 64 bytes, i.e.
    // 84 bytes of line time. Wikipedia "Ethernet frame": payload minimum
    // 46 octets untagged, 42 with an 802.1Q tag.
    #[test]
    fn short_frames_are_padded_to_64_bytes() {
        assert_eq!(ETH.preamble_gap_len(), 20);
        assert_eq!(ETH.frame_len(46), 64);
        assert_eq!(ETH.padding_len(46), 0);
        assert_eq!(ETH.frame_len(29), 64);
        assert_eq!(ETH.padding_len(29), 17);
        assert_eq!(ETH.wire_len(1), 84);
        assert_eq!(ETH_VLAN.padding_len(42), 0);
        assert_eq!(ETH_VLAN.padding_len(41), 1);
    }

    // Capture veth-udp4-frag.pcap (tests/corpus): a 1-byte UDP/IPv4 datagram
    // (29-byte IP packet) is a 43-byte frame on the sending host; an
    // 18-byte one (46-byte packet) is 60 bytes.
    #[test]
    fn capture_lengths_on_sender_and_receiver() {
        assert_eq!(ETH.captured_len(29, CaptureSide::Sender), 43);
        assert_eq!(ETH.captured_len(29, CaptureSide::Receiver), 60);
        assert_eq!(ETH.captured_len(46, CaptureSide::Sender), 60);
        assert_eq!(Link::Loopback.captured_len(29, CaptureSide::Receiver), 43);
        assert_eq!(Link::Raw.captured_len(29, CaptureSide::Sender), 29);
    }

    #[test]
    fn loopback_and_raw_have_no_line_overhead() {
        for link in [Link::Loopback, Link::Raw] {
            assert_eq!(link.preamble_gap_len(), 0);
            assert_eq!(link.trailer_len(), 0);
            assert_eq!(link.padding_len(1), 0);
        }
        assert_eq!(Link::Loopback.frame_len(100), 114);
        assert_eq!(Link::Raw.wire_len(100), 100);
        assert_eq!(Link::Loopback.default_mtu(), 65536);
    }

    #[test]
    fn frame_layers_split_one_frame() {
        let packet = Packet {
            l3: 20,
            l4: 8,
            payload: 1,
        };
        let layers = ETH.frame_layers(&packet);
        assert_eq!(layers.l2, 18);
        assert_eq!(layers.padding, 17);
        assert_eq!(layers.preamble_gap, 20);
        assert_eq!(layers.total(), 84);
    }
}
