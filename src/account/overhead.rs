//! The report of `ardei-lab overhead`: what a payload costs on the link.
//!
//! An [`OverheadRequest`] (the command's options, already parsed) goes to
//! [`compute`], which runs the wire model and returns an [`OverheadReport`]:
//! frames and bytes per layer, efficiency, and the goodput and frame-rate
//! ceilings at the link speed. The report serializes to the command's JSON
//! (keys `frames`, `fragments`, `payload_bytes`, `wire_bytes`, `efficiency`,
//! `goodput_bps`, `frames_per_second`, `layers`, and context) and renders as
//! a table with [`render_text`].
//!
//! What is counted:
//! - UDP: the payload is one datagram, fragmented by IP when it exceeds the
//!   MTU; a payload over the UDP maximum is an error.
//! - TCP: a one-way bulk transfer. When it needs more than one data segment,
//!   the handshake and teardown (if `handshake`) and the receiver's pure
//!   ACKs (one per `ack_every` segments) are counted too; a payload that
//!   fits one segment is shown alone, the per-frame view of the published
//!   tables. Each choice is listed in the report's `assumptions`.

use std::fmt::Write as _;

use serde::Serialize;

use crate::units::format_bitrate;
use crate::wire::tcp::DEFAULT_ACK_EVERY;
use crate::wire::{
    CaptureSide, FrameKind, IpRepr, IpVersion, Layers, Link, TcpOptions, TcpTransfer, Transport,
    UdpDatagram, WireError,
};

/// The default link speed: 1 Gbit/s.
pub const DEFAULT_SPEED_BPS: u64 = 1_000_000_000;

/// The link kind as the command line names it (`--link`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkKind {
    /// A real Ethernet NIC.
    Ethernet,
    /// Linux loopback as a capture shows it.
    Loopback,
    /// IP packets only.
    Raw,
}

/// The options of the `overhead` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OverheadRequest {
    /// Application payload bytes.
    pub payload: u64,
    /// TCP or UDP.
    pub transport: Transport,
    /// IPv4 or IPv6.
    pub ip: IpVersion,
    /// The MTU; the link's default (1500, loopback 65536) when `None`.
    pub mtu: Option<u32>,
    /// The link kind.
    pub link: LinkKind,
    /// Whether Ethernet frames carry an 802.1Q tag.
    pub vlan: bool,
    /// Whether TCP negotiates timestamps.
    pub tcp_timestamps: bool,
    /// Link speed in bit/s for the ceilings.
    pub speed_bps: u64,
    /// TCP data segments per pure ACK; 0 counts no ACKs.
    pub ack_every: u32,
    /// Whether a multi-segment TCP transfer counts handshake and teardown.
    pub handshake: bool,
}

impl OverheadRequest {
    /// A request with the command's defaults: TCP over IPv4 on Ethernet at
    /// the default MTU, timestamps on, 1 Gbit/s, one ACK per two segments,
    /// handshake and teardown counted.
    pub const fn new(payload: u64) -> Self {
        OverheadRequest {
            payload,
            transport: Transport::Tcp,
            ip: IpVersion::V4,
            mtu: None,
            link: LinkKind::Ethernet,
            vlan: false,
            tcp_timestamps: true,
            speed_bps: DEFAULT_SPEED_BPS,
            ack_every: DEFAULT_ACK_EVERY,
            handshake: true,
        }
    }

    /// The model's link, checking that a VLAN tag goes with Ethernet.
    pub fn wire_link(&self) -> Result<Link, WireError> {
        match (self.link, self.vlan) {
            (LinkKind::Ethernet, vlan) => Ok(Link::Ethernet { vlan }),
            (LinkKind::Loopback, false) => Ok(Link::Loopback),
            (LinkKind::Raw, false) => Ok(Link::Raw),
            (LinkKind::Loopback, true) => Err(WireError::VlanNeedsEthernet { link: "loopback" }),
            (LinkKind::Raw, true) => Err(WireError::VlanNeedsEthernet { link: "raw" }),
        }
    }
}

/// One group of identical frames in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameGroupReport {
    /// What the frames are for (`data`, `ack`, `syn`, `fragment`, ...).
    pub kind: &'static str,
    /// How many such frames.
    pub count: u64,
    /// Payload bytes in each.
    pub payload: u32,
    /// IP packet length of each.
    pub ip_len: u32,
    /// Frame length as a capture tool on the sender records it.
    pub capture_len: u32,
    /// Line time of each in bytes (preamble, gap, FCS, padding included).
    pub wire_len: u32,
}

/// The `overhead` command's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OverheadReport {
    /// `"tcp"` or `"udp"`.
    pub transport: &'static str,
    /// 4 or 6.
    pub ip: u8,
    /// `"ethernet"`, `"loopback"` or `"raw"`.
    pub link: &'static str,
    /// Whether frames carry an 802.1Q tag.
    pub vlan: bool,
    /// The MTU the model used (after clamping to the largest IP packet).
    pub mtu: u32,
    /// The link speed of the ceilings, bit/s.
    pub speed_bps: u64,
    /// Application payload bytes.
    pub payload_bytes: u64,
    /// Number of frames.
    pub frames: u64,
    /// Number of IP fragments (0 when nothing was fragmented).
    pub fragments: u64,
    /// Line time in bytes: every layer, preamble, SFD, gap, FCS and padding
    /// included on Ethernet.
    pub wire_bytes: u64,
    /// Frame bytes as a capture on the sending host records them.
    pub capture_bytes: u64,
    /// Payload over wire bytes, 0 to 1.
    pub efficiency: f64,
    /// Goodput ceiling at `speed_bps`: speed × efficiency.
    pub goodput_bps: f64,
    /// Frames per second at `speed_bps`.
    pub frames_per_second: f64,
    /// Bytes per layer.
    pub layers: Layers,
    /// TCP: the MSS in use.
    pub mss: Option<u32>,
    /// TCP: payload bytes in a full data segment.
    pub segment_payload: Option<u32>,
    /// TCP data segments (0 for UDP).
    pub data_segments: u64,
    /// Pure ACKs from the receiver.
    pub ack_frames: u64,
    /// SYN, SYN-ACK and ACK frames counted.
    pub handshake_frames: u64,
    /// FIN and ACK frames counted at the end.
    pub teardown_frames: u64,
    /// The frames, grouped by kind and size.
    pub frame_groups: Vec<FrameGroupReport>,
    /// What the figures assume, one sentence each.
    pub assumptions: Vec<String>,
}

/// Runs the wire model for `req`.
pub fn compute(req: &OverheadRequest) -> Result<OverheadReport, WireError> {
    if req.speed_bps == 0 {
        return Err(WireError::ZeroSpeed);
    }
    let link = req.wire_link()?;
    let ip = IpRepr::plain(req.ip);
    let mut assumptions = link_assumptions(link);
    let given_mtu = req.mtu.unwrap_or(link.default_mtu());

    let (tally, mtu, mss, segment_payload) = match req.transport {
        Transport::Udp => {
            let datagram = UdpDatagram {
                ip,
                link,
                mtu: req.mtu,
                payload: req.payload,
            };
            let tally = datagram.tally()?;
            let mtu = datagram.effective_mtu()?;
            assumptions.extend(udp_assumptions(&datagram, tally.fragments())?);
            (tally, mtu, None, None)
        }
        Transport::Tcp => {
            let mut transfer = TcpTransfer::new(req.ip, link, req.payload);
            transfer.mtu = req.mtu;
            transfer.options = TcpOptions {
                timestamps: req.tcp_timestamps,
                ..TcpOptions::default()
            };
            let single = transfer.data_segments()? <= 1;
            transfer.handshake = req.handshake && !single;
            transfer.teardown = transfer.handshake;
            transfer.ack_every = if single { 0 } else { req.ack_every };
            let tally = transfer.tally()?;
            let mtu = transfer.effective_mtu()?;
            assumptions.extend(tcp_assumptions(&transfer, single)?);
            (
                tally,
                mtu,
                Some(transfer.mss()?),
                Some(transfer.segment_payload()?),
            )
        }
    };
    if mtu != given_mtu {
        assumptions.push(format!(
            "MTU {given_mtu} clamped to {mtu}: the largest IPv{} packet",
            req.ip.number()
        ));
    }
    assumptions
        .push("no loss, retransmission or offload (GSO/TSO): every frame fits the MTU".to_string());

    let frame_groups = tally
        .groups()
        .iter()
        .map(|g| FrameGroupReport {
            kind: g.kind.name(),
            count: g.count,
            payload: g.packet.payload,
            ip_len: g.packet.len(),
            capture_len: link.captured_len(g.packet.len(), CaptureSide::Sender),
            wire_len: link.wire_len(g.packet.len()),
        })
        .collect();
    let count_where = |pred: fn(&FrameKind) -> bool| -> u64 {
        tally
            .groups()
            .iter()
            .filter(|g| pred(&g.kind))
            .map(|g| g.count)
            .sum()
    };

    Ok(OverheadReport {
        transport: req.transport.name(),
        ip: req.ip.number(),
        link: link.name(),
        vlan: req.vlan,
        mtu,
        speed_bps: req.speed_bps,
        payload_bytes: tally.payload_bytes(),
        frames: tally.frames(),
        fragments: tally.fragments(),
        wire_bytes: tally.wire_bytes(),
        capture_bytes: tally.captured_bytes(CaptureSide::Sender),
        efficiency: tally.efficiency(),
        goodput_bps: tally.goodput_bps(req.speed_bps)?,
        frames_per_second: tally.frames_per_second(req.speed_bps)?,
        layers: tally.layers(),
        mss,
        segment_payload,
        data_segments: tally.count(FrameKind::Data),
        ack_frames: tally.count(FrameKind::Ack),
        handshake_frames: count_where(FrameKind::is_handshake),
        teardown_frames: count_where(FrameKind::is_teardown),
        frame_groups,
        assumptions,
    })
}

fn link_assumptions(link: Link) -> Vec<String> {
    let mut out = Vec::new();
    match link {
        Link::Ethernet { vlan } => {
            out.push(
                "ethernet: per frame preamble+SFD 8, header 14, FCS 4 and inter-frame gap 12 bytes; \
                 frames padded to 64 bytes"
                    .to_string(),
            );
            if vlan {
                out.push("802.1Q tag: 4 more bytes per frame".to_string());
            }
        }
        Link::Loopback => out.push(
            "loopback: a 14-byte header per frame, as Linux lo shows it; \
             no preamble, FCS, padding or gap"
                .to_string(),
        ),
        Link::Raw => out.push("raw: IP packets only, no link framing".to_string()),
    }
    out.push(
        "capture_bytes: frame lengths a capture on the sender records \
         (no preamble, gap, FCS or padding)"
            .to_string(),
    );
    out
}

fn udp_assumptions(d: &UdpDatagram, fragments: u64) -> Result<Vec<String>, WireError> {
    let mut out = vec!["udp: the payload is one datagram".to_string()];
    if fragments > 0 {
        let piece = d.fragment_sizes()?.first().copied().unwrap_or_default();
        out.push(format!(
            "fragmented by IP into {fragments} fragments of at most {piece} bytes \
             (multiples of 8 but the last); only the first carries the UDP header"
        ));
        if d.ip.version() == IpVersion::V6 {
            out.push("each IPv6 fragment carries an 8-byte Fragment header".to_string());
        }
    }
    Ok(out)
}

fn tcp_assumptions(t: &TcpTransfer, single: bool) -> Result<Vec<String>, WireError> {
    let mut out = Vec::new();
    let (mss, segment) = (t.mss()?, t.segment_payload()?);
    out.push(format!(
        "tcp: MSS {mss} (MTU - IP header - 20), {segment} data bytes per full segment"
    ));
    out.push(if t.options.timestamps {
        "timestamps negotiated: 12 option bytes per segment; SYN and SYN-ACK carry 20 \
         (MSS, SACK-permitted, timestamps, window scale, as Linux sends them)"
            .to_string()
    } else {
        "no timestamps: no options after the SYNs; SYN and SYN-ACK carry 12 \
         (MSS, SACK-permitted, window scale, as Linux sends them)"
            .to_string()
    });
    if single {
        out.push("one data segment: shown alone, without handshake, teardown or ACKs".to_string());
        return Ok(out);
    }
    if t.handshake {
        out.push("handshake counted: SYN, SYN-ACK, ACK".to_string());
        out.push(
            "teardown counted as FIN, ACK, FIN, ACK: each side closes on its own, \
             no FIN rides on an ACK"
                .to_string(),
        );
    } else {
        out.push("handshake and teardown not counted".to_string());
    }
    out.push(match t.ack_every {
        0 => "pure ACKs not counted".to_string(),
        n => format!("receiver sends one pure ACK per {n} data segments, rounded up"),
    });
    Ok(out)
}

/// The report as a readable table.
pub fn render_text(r: &OverheadReport) -> String {
    let mut s = String::new();
    let transport = r.transport.to_uppercase();
    let vlan = if r.vlan { " with 802.1Q" } else { "" };
    // Writing to a String cannot fail.
    let _ = writeln!(
        s,
        "{} bytes over {transport}/IPv{} on {}{vlan}, MTU {}",
        r.payload_bytes, r.ip, r.link, r.mtu
    );
    if let (Some(mss), Some(segment)) = (r.mss, r.segment_payload) {
        let _ = writeln!(s, "MSS {mss}, {segment} bytes of data per full segment");
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "{:<14} {:>14} {:>8}", "layer", "bytes", "share");
    let total = r.layers.total();
    for (name, bytes) in r.layers.named() {
        let label = match name {
            "l4" => format!("l4 ({})", r.transport),
            "l3" => "l3 (ip)".to_string(),
            "l2" => "l2 (link)".to_string(),
            "preamble_gap" => "preamble+gap".to_string(),
            other => other.to_string(),
        };
        let _ = writeln!(s, "{label:<14} {bytes:>14} {:>7.2}%", share(bytes, total));
    }
    let _ = writeln!(s, "{:<14} {total:>14} {:>7.2}%", "wire", 100.0);
    let _ = writeln!(s);
    let _ = writeln!(s, "frames         {} ({} fragments)", r.frames, r.fragments);
    for g in &r.frame_groups {
        let _ = writeln!(
            s,
            "  {:>10} x {:<13} {:>6} B payload, {:>6} B captured, {:>6} B on the wire",
            g.count, g.kind, g.payload, g.capture_len, g.wire_len
        );
    }
    let _ = writeln!(s, "efficiency     {:.2}%", r.efficiency * 100.0);
    let speed = format_bitrate(r.speed_bps as f64);
    let _ = writeln!(
        s,
        "goodput        {} at most, at {speed}",
        format_bitrate(r.goodput_bps)
    );
    let _ = writeln!(s, "frame rate     {:.0} frames/s", r.frames_per_second);
    let _ = writeln!(s);
    let _ = writeln!(s, "assumptions:");
    for a in &r.assumptions {
        let _ = writeln!(s, "  - {a}");
    }
    s
}

fn share(part: u64, total: u64) -> f64 {
    match total {
        0 => 0.0,
        t => part as f64 * 100.0 / t as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp(payload: u64) -> OverheadRequest {
        OverheadRequest {
            transport: Transport::Udp,
            ..OverheadRequest::new(payload)
        }
    }

    // TD-er's Wiki, "Ethernet payload datarates":
    // https://wiki.td-er.nl/index.php?title=Ethernet_payload_datarates
    // UDP: (1500-28)/(38+1500) = 95.7087 % IPv4, 95.4604 % with 802.1Q,
    // 94.4083 % IPv6, 94.1634 % IPv6 with 802.1Q. At 1 Gbit/s the IPv4 one
    // is 957.09 Mbit/s.
    #[test]
    fn udp_full_frame_efficiencies() {
        let cases = [
            (IpVersion::V4, false, 1472, "95.7087"),
            (IpVersion::V4, true, 1472, "95.4604"),
            (IpVersion::V6, false, 1452, "94.4083"),
            (IpVersion::V6, true, 1452, "94.1634"),
        ];
        for (ip, vlan, payload, want) in cases {
            let req = OverheadRequest {
                ip,
                vlan,
                ..udp(payload)
            };
            let r = compute(&req).unwrap();
            assert_eq!(format!("{:.4}", r.efficiency * 100.0), want);
            assert_eq!((r.frames, r.fragments), (1, 0));
        }
        let r = compute(&udp(1472)).unwrap();
        assert_eq!(format!("{:.2}", r.goodput_bps / 1e6), "957.09");
        assert_eq!(r.wire_bytes, 1538);
        assert_eq!(r.layers.l2, 18);
        assert_eq!(r.layers.preamble_gap, 20);
    }

    // Dell Technologies, "PowerScale Network Design Considerations", Table
    // 10: IPv4/UDP 95.71 % standard, 99.27 % jumbo; IPv6/UDP 94.41 %, 99.05 %.
    // https://infohub.delltechnologies.com/l/powerscale-network-design-considerations/data-payload-to-ethernet-frame-efficiency
    #[test]
    fn udp_jumbo_efficiencies() {
        let v4 = OverheadRequest {
            mtu: Some(9000),
            ..udp(8972)
        };
        let v6 = OverheadRequest {
            ip: IpVersion::V6,
            mtu: Some(9000),
            ..udp(8952)
        };
        let pct = |r: &OverheadRequest| format!("{:.2}", compute(r).unwrap().efficiency * 100.0);
        assert_eq!(pct(&v4), "99.27");
        assert_eq!(pct(&v6), "99.05");
    }

    // RFC 5180 Appendix A.1 (https://www.rfc-editor.org/rfc/rfc5180#appendix-A.1):
    // 1,488,095 frames/s of 64 bytes at 1 Gbit/s. A UDP/IPv4 datagram of
    // 18 bytes or less is one minimum frame (padded when shorter).
    #[test]
    fn minimum_frames() {
        for payload in [0, 1, 18] {
            let r = compute(&udp(payload)).unwrap();
            assert_eq!(r.wire_bytes, 84);
            assert_eq!(r.frames_per_second.floor(), 1_488_095.0);
            assert_eq!(r.layers.padding, 18 - payload);
        }
        assert_eq!(compute(&udp(1)).unwrap().capture_bytes, 43);
    }

    // RFC 5180 Appendix A.1 (https://www.rfc-editor.org/rfc/rfc5180#appendix-A.1),
    // the RFC 2544 frame sizes at 1000 Mb/s: 64 -> 1,488,095 frames/s,
    // 128 -> 844,594, 256 -> 452,898, 512 -> 234,962, 1024 -> 119,731,
    // 1280 -> 96,153, 1518 -> 81,274. A UDP/IPv4 datagram of F - 46 bytes
    // is a frame of F bytes (14 + 20 + 8 + payload + 4).
    #[test]
    fn rfc2544_frame_sizes_as_udp_datagrams() {
        let table = [
            (64, 1_488_095.0),
            (128, 844_594.0),
            (256, 452_898.0),
            (512, 234_962.0),
            (1024, 119_731.0),
            (1280, 96_153.0),
            (1518, 81_274.0),
        ];
        for (frame, fps) in table {
            let r = compute(&udp(frame - 46)).unwrap();
            assert_eq!(r.frame_groups[0].wire_len, frame as u32 + 20, "{frame}");
            assert_eq!(r.frames_per_second.floor(), fps, "{frame}");
            assert_eq!(r.layers.padding, 0, "{frame}");
        }
    }

    #[test]
    fn single_tcp_segment_is_shown_alone() {
        let r = compute(&OverheadRequest::new(1448)).unwrap();
        assert_eq!(r.frames, 1);
        assert_eq!(
            (r.handshake_frames, r.teardown_frames, r.ack_frames),
            (0, 0, 0)
        );
        // 1448 / 1538, TD-er's Wiki (see the wire model's tests): 94.1482 %.
        assert_eq!(format!("{:.4}", r.efficiency * 100.0), "94.1482");
        assert_eq!(format!("{:.2}", r.goodput_bps / 1e6), "941.48");
    }

    #[test]
    fn bulk_tcp_counts_control_frames() {
        let r = compute(&OverheadRequest::new(100_000)).unwrap();
        assert_eq!(r.data_segments, 70);
        assert_eq!(r.ack_frames, 35);
        assert_eq!(r.handshake_frames, 3);
        assert_eq!(r.teardown_frames, 4);
        assert_eq!(r.frames, 70 + 35 + 3 + 4);
        assert_eq!(r.mss, Some(1460));
        assert_eq!(r.segment_payload, Some(1448));
        assert_eq!(r.payload_bytes, 100_000);
        assert_eq!(r.wire_bytes, r.layers.total());
        // Data as captured (veth-tcp4-100000.pcap: 69 × 1514 + 154), the
        // handshake (74 + 74 + 66) and 39 other 66-byte control frames.
        assert_eq!(r.capture_bytes, 104_620 + 214 + 39 * 66);
        let no_hs = OverheadRequest {
            handshake: false,
            ack_every: 0,
            ..OverheadRequest::new(100_000)
        };
        assert_eq!(compute(&no_hs).unwrap().frames, 70);
    }

    #[test]
    fn fragmented_udp_report() {
        let r = compute(&udp(4000)).unwrap();
        assert_eq!((r.frames, r.fragments), (3, 3));
        assert_eq!(r.layers.l3, 60);
        assert_eq!(r.layers.l4, 8);
        assert!(r.assumptions.iter().any(|a| a.contains("3 fragments")));
    }

    #[test]
    fn the_largest_payload_counted_fits_at_the_smallest_mtu() {
        let req = OverheadRequest {
            mtu: Some(68),
            vlan: true,
            ack_every: 1,
            ..OverheadRequest::new(crate::wire::tcp::MAX_MODELLED_PAYLOAD)
        };
        let r = compute(&req).unwrap();
        // As efficient as a smaller transfer of the same shape: no counter
        // wrapped.
        let small = compute(&OverheadRequest {
            payload: 1 << 40,
            ..req
        })
        .unwrap();
        assert!(r.wire_bytes > r.payload_bytes * 5, "{}", r.wire_bytes);
        assert!(
            (r.efficiency - small.efficiency).abs() < 1e-6,
            "{} vs {}",
            r.efficiency,
            small.efficiency
        );
    }

    #[test]
    fn errors() {
        assert!(matches!(
            compute(&udp(65508)),
            Err(WireError::UdpPayloadTooLarge { max: 65507, .. })
        ));
        let req = OverheadRequest {
            link: LinkKind::Loopback,
            vlan: true,
            ..OverheadRequest::new(1)
        };
        assert_eq!(
            compute(&req),
            Err(WireError::VlanNeedsEthernet { link: "loopback" })
        );
        let req = OverheadRequest {
            speed_bps: 0,
            ..OverheadRequest::new(1)
        };
        assert_eq!(compute(&req), Err(WireError::ZeroSpeed));
        assert_eq!(
            compute(&OverheadRequest::new(0)),
            Err(WireError::EmptyTcpTransfer)
        );
        assert!(matches!(
            compute(&OverheadRequest::new(u64::MAX)),
            Err(WireError::PayloadTooLarge { .. })
        ));
        let req = OverheadRequest {
            ip: IpVersion::V6,
            mtu: Some(1200),
            ..OverheadRequest::new(1)
        };
        assert!(matches!(
            compute(&req),
            Err(WireError::MtuBelowMinimum { minimum: 1280, .. })
        ));
    }

    #[test]
    fn loopback_mtu_is_clamped_for_ipv4() {
        let req = OverheadRequest {
            link: LinkKind::Loopback,
            ..OverheadRequest::new(1_000_000)
        };
        let r = compute(&req).unwrap();
        assert_eq!(r.mtu, 65535);
        assert_eq!(r.mss, Some(65495));
        assert_eq!(r.layers.preamble_gap, 0);
        assert!(r.assumptions.iter().any(|a| a.contains("clamped")));
    }

    #[test]
    fn json_has_the_contract_keys() {
        let r = compute(&OverheadRequest::new(100_000)).unwrap();
        let v = serde_json::to_value(&r).unwrap();
        for key in [
            "frames",
            "fragments",
            "payload_bytes",
            "wire_bytes",
            "efficiency",
            "goodput_bps",
            "frames_per_second",
            "layers",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        for layer in ["payload", "l4", "l3", "l2", "padding", "preamble_gap"] {
            assert!(v["layers"].get(layer).is_some(), "missing layers.{layer}");
        }
        let eff = v["efficiency"].as_f64().unwrap();
        assert!(eff > 0.0 && eff < 1.0);
        assert_eq!(v["transport"], "tcp");
        assert_eq!(v["ip"], 4);
    }

    #[test]
    fn text_has_table_and_assumptions() {
        let text = render_text(&compute(&OverheadRequest::new(100_000)).unwrap());
        for needle in [
            "payload",
            "preamble+gap",
            "wire",
            "frames",
            "efficiency",
            "goodput",
            "frames/s",
            "assumptions:",
            "FIN, ACK, FIN, ACK",
        ] {
            assert!(text.contains(needle), "missing {needle}:\n{text}");
        }
    }
}
