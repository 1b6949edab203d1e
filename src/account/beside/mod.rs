//! The report after a transfer: the model beside what the kernel counted.
//!
//! Pure code. The caller hands in what one action moved (its
//! [`Shape`]), the link and the MSS in use, and the kernel's counters over
//! the action (`TCP_INFO` deltas for TCP, `/proc/net/snmp` deltas for UDP);
//! this module prices both columns per layer with the same wire model and
//! says, in one line each, why they differ. The TCP table is built in
//! [`tcp()`], the UDP one in [`udp()`]; several flows' tables are summed
//! into an [`OverheadSum`].
//!
//! It takes its inputs in the accounting's own types, so it sits below the
//! sockets and the capture reader rather than above them: the kernel's
//! counts are [`super::kernel`]'s values, which the socket layer fills in,
//! and a live capture arrives as a [`CaptureColumn`], which the instruments
//! build from a capture file's summary. The table means the same whether
//! its numbers came from a socket, a capture or a test, so nothing here
//! needs to know where they came from.

use serde::Serialize;

use super::kernel::{TcpInfo, UdpCounters};
use crate::wire::ip::{IPV4_HEADER_LEN, IPV6_HEADER_LEN, Packet};
use crate::wire::udp::UDP_HEADER_LEN;
use crate::wire::{FrameKind, IpVersion, Layers, Link, Tally, UdpDatagram};

mod sum;
mod tcp;
mod udp;

pub use sum::{OverheadSum, add_capture};
pub use tcp::{tcp, tcp_segment};
pub use udp::{udp, udp_kernel_column};

/// Data segments per pure ACK the model assumes for bulk data.
pub const ACK_EVERY: u64 = 2;
/// TCP timestamps option bytes in every segment when negotiated.
const TIMESTAMPS_LEN: u32 = 12;

/// What one action moved, in lab messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `count` requests of `request` bytes and as many replies of `reply`.
    Echo {
        /// Round trips.
        count: u64,
        /// Bytes per request message.
        request: u64,
        /// Bytes per reply message.
        reply: u64,
    },
    /// One request, then one write of `down` bytes (FileReady and the
    /// file), then a `trailer` message once the last byte is acknowledged
    /// (FileSent; 0 in text mode).
    File {
        /// Request message bytes.
        up: u64,
        /// Bytes from the server.
        down: u64,
        /// Bytes of the message after the file.
        trailer: u64,
    },
    /// An upload: one request, the server's go-ahead (FileReady), then
    /// `data` bytes from the client (the file and its framing, in writes
    /// cut at the MSS), then a `trailer` from the server once they are all
    /// in (FileSent and Results).
    Upload {
        /// Request message bytes.
        up: u64,
        /// The go-ahead's bytes.
        ready: u64,
        /// Bytes from the client after it.
        data: u64,
        /// Bytes of the server's answer after the file.
        trailer: u64,
    },
    /// One request, then `count` writes of `size` bytes; the first also
    /// carries `start` bytes (StreamStart), the last `end` (StreamEnd).
    Stream {
        /// Request message bytes.
        up: u64,
        /// Segments.
        count: u64,
        /// Bytes per segment message.
        size: u64,
        /// Bytes riding with the first segment.
        start: u64,
        /// Bytes riding with the last segment.
        end: u64,
    },
}

/// One column of the report: frames and bytes per layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Column {
    /// Frames both ways.
    pub frames: u64,
    /// Frames that carried data.
    pub data_frames: u64,
    /// Frames without data (pure ACKs).
    pub ack_frames: u64,
    /// Retransmitted segments.
    pub retransmissions: u64,
    /// Bytes on the wire, all layers.
    pub wire_bytes: u64,
    /// Bytes per layer.
    pub layers: Layers,
}

/// The model beside the kernel, and why they differ.
#[derive(Debug, Clone, Serialize)]
pub struct Overhead {
    /// The link kind priced (`loopback`, `ethernet`).
    pub link: &'static str,
    /// The MTU the model uses.
    pub mtu: u32,
    /// Payload bytes per full segment or datagram.
    pub segment_payload: u32,
    /// The model's frames.
    pub model: Column,
    /// The kernel's counts, priced with the same header sizes.
    pub kernel: Column,
    /// What the kernel reported as it is.
    pub kernel_raw: KernelRaw,
    /// What a live capture saw (with `--capture`): the whole flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureColumn>,
    /// Bits on the wire per second over the action (the model column's wire
    /// bytes, all layers, times 8, over the action's seconds).
    pub wire_rate_bps: f64,
    /// One line per difference between the columns, and per caveat.
    pub notes: Vec<String>,
    /// The model's assumptions.
    pub assumptions: Vec<&'static str>,
}

/// The capture column: frames and bytes per layer as a live capture on the
/// interface recorded them (frame lengths as on the wire, no preamble, gap
/// or FCS: a capture never sees those).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CaptureColumn {
    /// Frames captured.
    pub frames: u64,
    /// Their lengths, summed.
    pub wire_bytes: u64,
    /// Bytes per layer.
    pub layers: Layers,
    /// Segments whose data had been seen before.
    pub retransmissions: u64,
    /// SYN, FIN and RST frames: the handshake and teardown.
    pub control_frames: u64,
}

impl Overhead {
    /// Adds what a live capture of the flow saw, and the reasons it differs.
    pub fn add_capture(&mut self, capture: impl Into<CaptureColumn>) {
        let c = capture.into();
        // A UDP receiver with GRO has the kernel count its buffers, not its
        // datagrams: the model's datagrams are then the ones the capture
        // is short of.
        let went = match self.kernel_raw {
            KernelRaw::Udp(_) => self.kernel.frames.max(self.model.frames),
            KernelRaw::Tcp(_) => self.kernel.frames,
        };
        if c.frames < went && self.link == Link::Loopback.name() {
            self.notes.push(format!(
                "capture: {} frames where {went} segments or datagrams went (the kernel counted {}): on lo, GSO and TSO hand the capture super-packets of up to 64 KiB, each standing for several MSS-sized segments (TCP) or GSO-sized datagrams (UDP)",
                c.frames, self.kernel.frames
            ));
        }
        self.notes
            .push(capture_note(&self.kernel_raw, c.control_frames));
        self.capture = Some(c);
    }
}

/// Why a live capture holds more than the action: TCP's handshake and
/// teardown (`control` SYN, FIN and RST frames), or UDP datagrams outside
/// the action's counts.
fn capture_note(raw: &KernelRaw, control: u64) -> String {
    let scope = match raw {
        KernelRaw::Tcp(_) => format!(
            "covers the whole flow ({control} SYN/FIN/RST frames of handshake and teardown), while the model and kernel columns cover this action"
        ),
        KernelRaw::Udp(_) => "covers every datagram of the flow until it stops, while the model and kernel columns cover this action's counts (a transfer's End is sent three times, and the copies after the one that ended the action are only in the capture)".to_string(),
    };
    format!("capture: {scope}; it records frame lengths, so preamble, gap and FCS are not in it")
}

/// How a UDP action's datagrams crossed the system-call boundary, as far
/// as it changes what `/proc/net/snmp` counts. Measured on Linux 6.18:
/// `OutDatagrams` counts a GSO send once, however many datagrams the
/// kernel cut it into; `InDatagrams` counts each datagram a receiver
/// reads (one `recvmmsg` of 64 counts 64), but a UDP GRO buffer once, and
/// `RcvbufErrors` counts a dropped GRO buffer once too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpBatching {
    /// The data went from the client to the server (an upload): the client
    /// sent it and the server received it, not the other way round.
    pub upload: bool,
    /// The sender's GSO calls and the data datagrams they carried, when it
    /// said it used GSO.
    pub gso: Option<(u64, u64)>,
    /// The receiver read with UDP GRO: the buffers in which the kernel
    /// coalesced several datagrams.
    pub gro: Option<u64>,
    /// The receiver read with UDP GRO and counted its buffers and the
    /// datagrams they held, but not which buffers held several (the
    /// server's Results of an upload).
    pub gro_buffers: Option<(u64, u64)>,
}

impl Overhead {
    /// Adds one line per way the batching makes the kernel's counts differ
    /// from one count per datagram.
    pub fn add_udp_batching(&mut self, b: &UdpBatching) {
        let KernelRaw::Udp(k) = self.kernel_raw else {
            return;
        };
        let loopback = self.link == Link::Loopback.name();
        let (sender, receiver) = if b.upload {
            ("client", "server")
        } else {
            ("server", "client")
        };
        if let Some((calls, datagrams)) = b.gso {
            let whose = if loopback {
                "the kernel column counts datagrams in only, so it is not affected"
            } else {
                "the sender's counters are in its own namespace, not in these"
            };
            self.notes.push(format!(
                "the {sender} sent with UDP GSO: {calls} send calls carried {datagrams} datagrams, and the kernel's OutDatagrams counts each call once ({} out here); {whose}",
                k.out_datagrams
            ));
        }
        match (b.gro, b.gro_buffers) {
            (Some(0), _) => self.notes.push(format!(
                "the {receiver} read with UDP GRO, but the kernel coalesced no datagrams (GRO is off on the interface, or nothing arrived back to back): every datagram counted once"
            )),
            (Some(c), _) => self.notes.push(format!(
                "the {receiver} read with UDP GRO: InDatagrams counts each coalesced buffer once ({c} buffers held several datagrams), so the kernel's {} datagrams in stand for the {} the model has (the {receiver} cut each buffer at its UDP_GRO size); a buffer dropped for a full receive buffer is one RcvbufError too",
                k.in_datagrams, self.model.frames
            )),
            (None, Some((buffers, datagrams))) if buffers < datagrams => self.notes.push(format!(
                "the {receiver} read with UDP GRO: its {buffers} buffers held {datagrams} data datagrams, and InDatagrams counts each buffer once, so the kernel's {} datagrams in stand for the {} the model has; a buffer dropped for a full receive buffer is one RcvbufError too",
                k.in_datagrams, self.model.frames
            )),
            (None, Some(_)) => self.notes.push(format!(
                "the {receiver} read with UDP GRO, but the kernel coalesced no datagrams (GRO is off on the interface, or nothing arrived back to back): every datagram counted once"
            )),
            (None, None) => {}
        }
    }
}

/// The kernel's own figures, unpriced.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(untagged)]
pub enum KernelRaw {
    /// `TCP_INFO` over the action.
    Tcp(TcpInfo),
    /// `/proc/net/snmp(6)` over the action.
    Udp(UdpCounters),
}

fn ip_len(ip: IpVersion) -> u32 {
    match ip {
        IpVersion::V4 => IPV4_HEADER_LEN,
        IpVersion::V6 => IPV6_HEADER_LEN,
    }
}

/// Wire bytes per payload byte of a full segment (or datagram) of `seg`
/// payload bytes behind `l3` and `l4` header bytes on `link`.
pub fn wire_factor(link: Link, l3: u32, l4: u32, seg: u32) -> f64 {
    let layers = link.frame_layers(&Packet {
        l3,
        l4,
        payload: seg.max(1),
    });
    layers.total() as f64 / f64::from(seg.max(1))
}

/// Wire bytes per payload byte of a UDP datagram of `segment` payload bytes
/// at `mtu`: every IP fragment with its own headers when the datagram does
/// not fit the MTU. Inputs the model refuses fall back to one unfragmented
/// frame ([`wire_factor`]).
pub fn udp_wire_factor(ip: IpVersion, link: Link, mtu: u32, segment: u32) -> f64 {
    match UdpDatagram::new(ip, link, u64::from(segment.max(1)))
        .with_mtu(mtu)
        .tally()
    {
        Ok(t) => t.wire_bytes() as f64 / f64::from(segment.max(1)),
        Err(_) => wire_factor(link, ip_len(ip), UDP_HEADER_LEN, segment),
    }
}

/// The link a flow to `peer_is_loopback` crosses.
pub fn link_for(loopback: bool) -> Link {
    if loopback {
        Link::Loopback
    } else {
        Link::Ethernet { vlan: false }
    }
}

fn column(t: &Tally, retransmissions: u64) -> Column {
    let data =
        t.count(FrameKind::Data) + t.count(FrameKind::Datagram) + t.count(FrameKind::Fragment);
    Column {
        frames: t.frames(),
        data_frames: data,
        ack_frames: t.count(FrameKind::Ack),
        retransmissions,
        wire_bytes: t.wire_bytes(),
        layers: t.layers(),
    }
}

fn rate(bytes: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        bytes as f64 * 8.0 / seconds
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_on_ethernet_with_pinned_mss() {
        // 100000 bytes + 16 of FileReady in 1448-byte segments: 70 segments
        // (69 full, one of 120), 35 pure ACKs, one request segment.
        let info = TcpInfo {
            timestamps: true,
            snd_mss: 1448,
            pmtu: 1500,
            segs_in: 71,
            segs_out: 36,
            data_segs_in: 70,
            data_segs_out: 1,
            bytes_received: 100_016,
            bytes_acked: 16,
            ..TcpInfo::default()
        };
        let o = tcp(
            &[Shape::File {
                up: 16,
                down: 100_016,
                trailer: 0,
            }],
            IpVersion::V4,
            Link::Ethernet { vlan: false },
            1500,
            1448,
            &info,
            1.0,
        );
        assert_eq!(o.model.data_frames, 71);
        assert_eq!(o.model.ack_frames, 35);
        assert_eq!(o.model.frames, 106);
        assert_eq!(o.kernel.frames, 107);
        assert_eq!(o.model.layers.payload, 100_032);
        assert_eq!(o.kernel.layers.payload, 100_032);
        // Every frame: 14 + 4 of Ethernet, 20 of IP, 32 of TCP, 20 of
        // preamble and gap.
        assert_eq!(o.model.layers.l4, 106 * 32);
        assert_eq!(o.model.layers.preamble_gap, 106 * 20);
        assert_eq!(o.model.wire_bytes, o.model.layers.total());
        assert_eq!(o.notes.len(), 1, "{:?}", o.notes);
        assert!(o.notes[0].starts_with("pure ACKs"), "{:?}", o.notes);
    }

    #[test]
    fn echo_acknowledges_by_reply() {
        let o = tcp(
            &[Shape::Echo {
                count: 10,
                request: 20,
                reply: 20,
            }],
            IpVersion::V6,
            Link::Loopback,
            65536,
            65464,
            &TcpInfo {
                timestamps: true,
                ..TcpInfo::default()
            },
            0.001,
        );
        assert_eq!(o.model.data_frames, 20);
        assert_eq!(o.model.ack_frames, 1);
        // lo's frames carry the 14-byte header the report prices in l2.
        let lo = o.notes.iter().find(|n| n.starts_with("loopback")).unwrap();
        assert!(lo.contains("only the 14-byte header"), "{lo}");
        assert_eq!(o.model.layers.l2, 14 * o.model.frames);
    }

    // A 4000-byte datagram on a 1500-byte IPv4 Ethernet link is 3
    // fragments (Kurose & Ross §4.3.2, as in the wire model's tests): 3
    // times 20 + 18 + 20 bytes of IP, Ethernet, preamble and gap, and one
    // UDP header: 4182 bytes on the wire. A datagram that fits is one frame.
    #[test]
    fn udp_wire_factor_counts_every_fragment() {
        let eth = Link::Ethernet { vlan: false };
        let f = udp_wire_factor(IpVersion::V4, eth, 1500, 4000);
        assert_eq!(format!("{f:.6}"), format!("{:.6}", 4182.0 / 4000.0));
        let one = udp_wire_factor(IpVersion::V4, eth, 1500, 1472);
        assert_eq!(one, wire_factor(eth, 20, 8, 1472));
        assert_eq!(one, 1538.0 / 1472.0);
    }

    #[test]
    fn the_capture_line_speaks_of_syn_and_fin_only_for_tcp() {
        let tcp_line = capture_note(&KernelRaw::Tcp(TcpInfo::default()), 4);
        assert!(tcp_line.contains("4 SYN/FIN/RST frames"), "{tcp_line}");
        let udp_line = capture_note(&KernelRaw::Udp(UdpCounters::default()), 0);
        assert!(!udp_line.contains("SYN"), "{udp_line}");
        assert!(udp_line.contains("End is sent three times"), "{udp_line}");
        assert!(udp_line.ends_with("preamble, gap and FCS are not in it"));
    }

    // `client 127.0.0.1:PORT --echo hello --count 5` on lo: 17-byte
    // messages; TCP_INFO showed 6 segments out (5 with data), 6 in (5 with
    // data), snd_mss 32768 and rcv_mss 536 (its first guess).
    fn echo_on_lo() -> Overhead {
        tcp(
            &[Shape::Echo {
                count: 5,
                request: 17,
                reply: 17,
            }],
            IpVersion::V4,
            Link::Loopback,
            65535,
            65483,
            &TcpInfo {
                timestamps: true,
                snd_mss: 32768,
                rcv_mss: 536,
                pmtu: 65535,
                segs_out: 6,
                segs_in: 6,
                data_segs_out: 5,
                data_segs_in: 5,
                bytes_acked: 85,
                bytes_received: 85,
                ..TcpInfo::default()
            },
            0.006,
        )
    }

    /// `client --file 1M` on lo over IPv4 (request 16 bytes, FileReady and
    /// file, FileSent 24), its segments cut at `segment` payload bytes.
    fn file_1m_on_lo(segment: u32, info: &TcpInfo) -> Overhead {
        tcp(
            &[Shape::File {
                up: 16,
                down: 1_048_592,
                trailer: 24,
            }],
            IpVersion::V4,
            Link::Loopback,
            65535,
            segment,
            info,
            0.003,
        )
    }

    #[test]
    fn echo_ack_line_states_the_echo_rule() {
        let o = echo_on_lo();
        assert_eq!((o.model.ack_frames, o.kernel.ack_frames), (1, 2));
        let acks: Vec<_> = o
            .notes
            .iter()
            .filter(|n| n.starts_with("pure ACKs: kernel 2 vs model 1"))
            .collect();
        assert_eq!(acks.len(), 1, "{:?}", o.notes);
        assert!(acks[0].contains("only the last reply gets a pure ACK"));
        assert!(!acks[0].contains("1 in 2") && !acks[0].contains("per 2"));
        assert!(!acks[0].contains("super-segments"), "{}", acks[0]);
    }

    #[test]
    fn a_smaller_kernel_mss_is_a_reason_only_for_segments_above_it() {
        // 17-byte messages fit any MSS: the kernel's 32768 changed nothing.
        let o = echo_on_lo();
        assert!(
            !o.notes.iter().any(|n| n.contains("current MSS")),
            "{:?}",
            o.notes
        );
        // A 1 MiB file is cut at 65483 by the model: 32768 matters there.
        let file = file_1m_on_lo(
            65483,
            &TcpInfo {
                timestamps: true,
                snd_mss: 32768,
                rcv_mss: 32768,
                ..TcpInfo::default()
            },
        );
        assert!(
            file.notes
                .iter()
                .any(|n| n.contains("current MSS is 32768")),
            "{:?}",
            file.notes
        );
    }

    // `client 127.0.0.1:PORT --file 1M --mss 1000` on lo: the model expects
    // 532 pure ACKs, TCP_INFO counted 23 (one per super-segment received).
    #[test]
    fn fewer_acks_on_lo_are_put_down_to_super_segments() {
        let o = file_1m_on_lo(
            988,
            &TcpInfo {
                timestamps: true,
                snd_mss: 988,
                rcv_mss: 988,
                segs_in: 1063,
                segs_out: 25,
                data_segs_in: 1063,
                data_segs_out: 2,
                bytes_received: 1_048_616,
                bytes_acked: 16,
                ..TcpInfo::default()
            },
        );
        assert_eq!((o.model.ack_frames, o.kernel.ack_frames), (532, 23));
        let line = o
            .notes
            .iter()
            .find(|n| n.starts_with("pure ACKs: kernel 23 vs model 532"))
            .expect("a pure-ACK line");
        assert!(line.contains("one pure ACK per 2 data segments"), "{line}");
        assert!(line.contains("GSO super-segments"), "{line}");
    }

    #[test]
    fn batching_notes_say_what_the_counters_count() {
        let k = UdpCounters {
            in_datagrams: 3,
            out_datagrams: 4,
            ..UdpCounters::default()
        };
        let mut o = udp(
            IpVersion::V4,
            Link::Loopback,
            65535,
            64,
            128,
            8192,
            2,
            80,
            &k,
            1.0,
        );
        let before = o.notes.len();
        o.add_udp_batching(&UdpBatching::default());
        assert_eq!(o.notes.len(), before, "no batching, nothing to say");
        o.add_udp_batching(&UdpBatching {
            gso: Some((2, 128)),
            gro: Some(2),
            ..UdpBatching::default()
        });
        assert_eq!(o.notes.len(), before + 2);
        assert!(o.notes[before].contains("2 send calls carried 128 datagrams"));
        assert!(o.notes[before].contains("4 out here"));
        assert!(o.notes[before + 1].contains("kernel's 3 datagrams in stand for the 130"));
        // The numbers themselves are left as the kernel gave them.
        assert_eq!(o.kernel.frames, 3);
    }

    #[test]
    fn udp_fragments_are_frames() {
        let k = UdpCounters {
            in_datagrams: 12,
            out_datagrams: 2,
            reasm_reqds: 30,
            reasm_oks: 10,
            ..UdpCounters::default()
        };
        let o = udp(
            IpVersion::V4,
            Link::Ethernet { vlan: false },
            1500,
            4000,
            10,
            40_000,
            2,
            80,
            &k,
            1.0,
        );
        // 4000 bytes of UDP payload over a 1500 MTU: 3 fragments each.
        assert_eq!(o.model.frames, 32);
        assert_eq!(o.model.layers.payload, 40_080);
        // A short last datagram is priced at its own size.
        let short = udp(
            IpVersion::V4,
            Link::Ethernet { vlan: false },
            1500,
            4000,
            10,
            36_736,
            0,
            0,
            &k,
            1.0,
        );
        assert_eq!(short.model.layers.payload, 36_736);
        // 2 control datagrams each way, and 30 fragments that the kernel
        // reassembled into 10 of the 12 datagrams it delivered.
        assert_eq!(o.kernel.frames, 4 + 30);
        // Of the 30 fragments only the 10 first ones carry a UDP header.
        assert_eq!(o.kernel.layers.l4, 8 * (4 + 10));
        assert_eq!(o.kernel.layers.l3, 20 * 34);
    }

    // A UDP file of 300000 bytes over IPv6 on lo (MTU 65536) in datagrams
    // of 65527 bytes, with --fragment: 4 full datagrams cut in 2 fragments
    // each (65488 + 47, RFC 8200 §4.5), a short last one, 5 control
    // datagrams. The kernel counted 10 datagrams in, 8 fragments received
    // for reassembly and 4 datagrams reassembled: the same 14 frames, the
    // same headers, so the same bytes on the wire.
    #[test]
    fn udp_kernel_column_prices_fragments_as_the_model_does() {
        let k = UdpCounters {
            in_datagrams: 10,
            out_datagrams: 10,
            frag_creates: 8,
            reasm_reqds: 8,
            reasm_oks: 4,
            ..UdpCounters::default()
        };
        let o = udp(
            IpVersion::V6,
            Link::Loopback,
            65536,
            65527,
            5,
            300_140,
            5,
            226,
            &k,
            1.0,
        );
        assert_eq!((o.model.frames, o.kernel.frames), (14, 14));
        assert_eq!(o.kernel.layers.l4, o.model.layers.l4);
        assert_eq!(o.kernel.layers.l4, 10 * 8);
        assert_eq!(o.kernel.layers.l3, o.model.layers.l3);
        assert_eq!(o.kernel.layers.l3, 14 * 40 + 8 * 8);
        assert_eq!(o.kernel.wire_bytes, o.model.wire_bytes);
        // The kernel cannot tell control datagrams from data: one line says
        // so, and it is the only difference left.
        assert_eq!((o.model.data_frames, o.kernel.data_frames), (9, 14));
        let split: Vec<_> = o
            .notes
            .iter()
            .filter(|n| n.starts_with("with data: kernel 14 vs model 9"))
            .collect();
        assert_eq!(split.len(), 1, "{:?}", o.notes);
        assert!(split[0].contains("5 control datagrams"), "{}", split[0]);
    }
}
