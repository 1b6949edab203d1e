//! The result of the model: frames grouped by kind, bytes per layer, and
//! what they mean at a link speed.
//!
//! A transfer is a handful of frame shapes repeated many times (a gigabyte
//! over TCP is one full-segment shape, one tail, a few control frames), so a
//! [`Tally`] keeps [`FrameGroup`]s (a shape and a count), never one entry
//! per frame.
//!
//! Layers ([`Layers`]), every byte of line time in exactly one of them:
//! `payload` (application bytes), `l4` (UDP/TCP headers with options), `l3`
//! (IP headers with options, extension and Fragment headers), `l2` (link
//! header, VLAN tag, FCS), `padding` (to the minimum frame), `preamble_gap`
//! (preamble, SFD and inter-frame gap).

use std::ops::{Add, AddAssign};

use serde::Serialize;

use super::WireError;
use super::ip::Packet;
use super::link::{CaptureSide, Link};

/// Bytes per layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Layers {
    /// Application payload.
    pub payload: u64,
    /// Transport headers (UDP, TCP with options).
    pub l4: u64,
    /// IP headers (options, extension and Fragment headers included).
    pub l3: u64,
    /// Link header, VLAN tag and FCS.
    pub l2: u64,
    /// Padding of short Ethernet frames.
    pub padding: u64,
    /// Preamble, SFD and inter-frame gap.
    pub preamble_gap: u64,
}

impl Layers {
    /// Sum of all layers: the line time in bytes.
    pub const fn total(&self) -> u64 {
        self.payload + self.l4 + self.l3 + self.l2 + self.padding + self.preamble_gap
    }

    /// Everything that is not payload.
    pub const fn overhead(&self) -> u64 {
        self.total() - self.payload
    }

    /// These layers `n` times over.
    pub const fn times(&self, n: u64) -> Layers {
        Layers {
            payload: self.payload * n,
            l4: self.l4 * n,
            l3: self.l3 * n,
            l2: self.l2 * n,
            padding: self.padding * n,
            preamble_gap: self.preamble_gap * n,
        }
    }

    /// The layers in order, with their JSON names.
    pub const fn named(&self) -> [(&'static str, u64); 6] {
        [
            ("payload", self.payload),
            ("l4", self.l4),
            ("l3", self.l3),
            ("l2", self.l2),
            ("padding", self.padding),
            ("preamble_gap", self.preamble_gap),
        ]
    }
}

impl Add for Layers {
    type Output = Layers;

    fn add(self, o: Layers) -> Layers {
        Layers {
            payload: self.payload + o.payload,
            l4: self.l4 + o.l4,
            l3: self.l3 + o.l3,
            l2: self.l2 + o.l2,
            padding: self.padding + o.padding,
            preamble_gap: self.preamble_gap + o.preamble_gap,
        }
    }
}

impl AddAssign for Layers {
    fn add_assign(&mut self, o: Layers) {
        *self = *self + o;
    }
}

/// What a frame is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// A UDP datagram that fits one packet.
    Datagram,
    /// One IP fragment of a larger UDP datagram.
    Fragment,
    /// A TCP segment carrying data.
    Data,
    /// TCP SYN.
    Syn,
    /// TCP SYN-ACK.
    SynAck,
    /// The ACK that completes the handshake.
    HandshakeAck,
    /// TCP FIN (with ACK set, no data).
    Fin,
    /// The ACK of a FIN.
    FinAck,
    /// A pure ACK from the receiver during the transfer.
    Ack,
}

impl FrameKind {
    /// The name used in JSON and tables.
    pub const fn name(&self) -> &'static str {
        match self {
            FrameKind::Datagram => "datagram",
            FrameKind::Fragment => "fragment",
            FrameKind::Data => "data",
            FrameKind::Syn => "syn",
            FrameKind::SynAck => "syn-ack",
            FrameKind::HandshakeAck => "handshake-ack",
            FrameKind::Fin => "fin",
            FrameKind::FinAck => "fin-ack",
            FrameKind::Ack => "ack",
        }
    }

    /// Whether the frame belongs to the handshake.
    pub const fn is_handshake(&self) -> bool {
        matches!(
            self,
            FrameKind::Syn | FrameKind::SynAck | FrameKind::HandshakeAck
        )
    }

    /// Whether the frame belongs to the teardown.
    pub const fn is_teardown(&self) -> bool {
        matches!(self, FrameKind::Fin | FrameKind::FinAck)
    }
}

/// `count` frames of one kind and one shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameGroup {
    /// What the frames are for.
    pub kind: FrameKind,
    /// The IP packet each frame carries.
    pub packet: Packet,
    /// How many such frames.
    pub count: u64,
}

/// Frames of a transfer on one link, and what they add up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    link: Link,
    groups: Vec<FrameGroup>,
}

impl Tally {
    /// An empty tally on `link`.
    pub const fn new(link: Link) -> Self {
        Tally {
            link,
            groups: Vec::new(),
        }
    }

    /// Adds `count` frames of `kind` carrying `packet`; a count of 0 adds
    /// nothing.
    pub fn push(&mut self, kind: FrameKind, packet: Packet, count: u64) {
        if count > 0 {
            self.groups.push(FrameGroup {
                kind,
                packet,
                count,
            });
        }
    }

    /// Adds every group of `other` (which should be on the same link).
    pub fn extend(&mut self, other: Tally) {
        self.groups.extend(other.groups);
    }

    /// The link the frames travel on.
    pub const fn link(&self) -> Link {
        self.link
    }

    /// The frame groups, in the order they were added.
    pub fn groups(&self) -> &[FrameGroup] {
        &self.groups
    }

    /// Number of frames.
    pub fn frames(&self) -> u64 {
        self.groups.iter().map(|g| g.count).sum()
    }

    /// Number of frames of `kind`.
    pub fn count(&self, kind: FrameKind) -> u64 {
        self.groups
            .iter()
            .filter(|g| g.kind == kind)
            .map(|g| g.count)
            .sum()
    }

    /// Number of IP fragments (0 when nothing was fragmented).
    pub fn fragments(&self) -> u64 {
        self.count(FrameKind::Fragment)
    }

    /// Bytes per layer over all frames.
    pub fn layers(&self) -> Layers {
        self.groups
            .iter()
            .map(|g| self.link.frame_layers(&g.packet).times(g.count))
            .fold(Layers::default(), Add::add)
    }

    /// Payload bytes.
    pub fn payload_bytes(&self) -> u64 {
        self.layers().payload
    }

    /// Line time in bytes: every layer, preamble and gap included.
    pub fn wire_bytes(&self) -> u64 {
        self.layers().total()
    }

    /// Payload over wire bytes, 0 to 1 (0 for an empty tally).
    pub fn efficiency(&self) -> f64 {
        let layers = self.layers();
        match layers.total() {
            0 => 0.0,
            total => layers.payload as f64 / total as f64,
        }
    }

    /// Frame bytes a capture tool records at `side`, summed over frames.
    pub fn captured_bytes(&self, side: CaptureSide) -> u64 {
        self.groups
            .iter()
            .map(|g| u64::from(self.link.captured_len(g.packet.len(), side)) * g.count)
            .sum()
    }

    /// Each frame's length as a capture tool records it at `side`, frame by
    /// frame in the order the groups were added.
    pub fn captured_lens(&self, side: CaptureSide) -> impl Iterator<Item = u32> + '_ {
        self.groups.iter().flat_map(move |g| {
            let len = self.link.captured_len(g.packet.len(), side);
            std::iter::repeat_n(len, g.count as usize)
        })
    }

    /// The highest payload rate the link carries at `speed_bps`:
    /// speed × efficiency.
    pub fn goodput_bps(&self, speed_bps: u64) -> Result<f64, WireError> {
        if speed_bps == 0 {
            return Err(WireError::ZeroSpeed);
        }
        Ok(speed_bps as f64 * self.efficiency())
    }

    /// Frames per second at `speed_bps`: speed / (8 × average wire bytes
    /// per frame).
    pub fn frames_per_second(&self, speed_bps: u64) -> Result<f64, WireError> {
        if speed_bps == 0 {
            return Err(WireError::ZeroSpeed);
        }
        let wire = self.wire_bytes();
        if wire == 0 {
            return Ok(0.0);
        }
        Ok(speed_bps as f64 * self.frames() as f64 / (8.0 * wire as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIGABIT: u64 = 1_000_000_000;
    const TEN_GIGABIT: u64 = 10_000_000_000;

    /// One frame of `frame_len` bytes (header to FCS) on untagged Ethernet.
    fn one_frame(frame_len: u32, vlan: bool) -> Tally {
        let link = Link::Ethernet { vlan };
        let mut tally = Tally::new(link);
        let packet = Packet {
            l3: 0,
            l4: 0,
            payload: frame_len - link.header_len() - link.trailer_len(),
        };
        tally.push(FrameKind::Datagram, packet, 1);
        tally
    }

    // RFC 5180, Appendix A.1, "Theoretical Maximum Frame Rates Reference":
    // https://www.rfc-editor.org/rfc/rfc5180#appendix-A.1
    // 64 bytes: 1,488,095 fps at 1000 Mb/s and 14,880,952 at 10000 Mb/s;
    // 1518 bytes: 81,274 at 1000 Mb/s; 1522 bytes (tagged): 81,063;
    // 9216 bytes: 135,339 at 10000 Mb/s. The table truncates, except for
    // 13,534 at 9216 bytes and 1000 Mb/s (13,533.997 rounded), left out.
    #[test]
    fn rfc5180_frame_rates() {
        let cases: [(u32, bool, u64, u64); 6] = [
            (64, false, GIGABIT, 1_488_095),
            (64, false, TEN_GIGABIT, 14_880_952),
            (1518, false, GIGABIT, 81_274),
            (1518, false, TEN_GIGABIT, 812_743),
            (1522, true, GIGABIT, 81_063),
            (9216, false, TEN_GIGABIT, 135_339),
        ];
        for (len, vlan, speed, fps) in cases {
            let got = one_frame(len, vlan).frames_per_second(speed);
            assert_eq!(got.map(|f| f.floor() as u64), Ok(fps), "{len} bytes");
        }
    }

    // Wikipedia, "Ethernet frame", Maximum throughput:
    // https://en.wikipedia.org/wiki/Ethernet_frame#Maximum_throughput
    // 1500/1538 = 97.53 %, 1500/1542 = 97.28 % with 802.1Q; 100BASE-TX
    // throughput 97.53 Mbit/s.
    #[test]
    fn ethernet_payload_efficiency() {
        let untagged = one_frame(1518, false);
        let tagged = one_frame(1522, true);
        assert_eq!(format!("{:.4}", untagged.efficiency()), "0.9753");
        assert_eq!(format!("{:.4}", tagged.efficiency()), "0.9728");
        let mbps = untagged.goodput_bps(100_000_000).map(|b| b / 1e6);
        assert_eq!(mbps.map(|m| format!("{m:.2}")), Ok("97.53".to_string()));
    }

    #[test]
    fn layers_add_up() {
        let a = Layers {
            payload: 1,
            l4: 2,
            l3: 3,
            l2: 4,
            padding: 5,
            preamble_gap: 6,
        };
        assert_eq!(a.total(), 21);
        assert_eq!(a.overhead(), 20);
        assert_eq!((a + a).total(), 42);
        assert_eq!(a.times(3).l3, 9);
        assert_eq!(a.named()[5], ("preamble_gap", 6));
    }

    #[test]
    fn empty_tally_and_zero_speed() {
        let tally = Tally::new(Link::Raw);
        assert_eq!(tally.frames(), 0);
        assert_eq!(tally.efficiency(), 0.0);
        assert_eq!(tally.frames_per_second(1), Ok(0.0));
        assert_eq!(tally.goodput_bps(0), Err(WireError::ZeroSpeed));
    }
}
