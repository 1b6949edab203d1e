//! `ardei-lab pcap summary`: what a capture holds, in totals and per flow.
//!
//! Totals count every frame: `bytes` is the sum of captured lengths, as a
//! capture tool counts the bytes it stored (tshark's `frame.cap_len`), and
//! `original_bytes` the sum of lengths on the wire (`frame.len`); the two
//! differ when a snap length cut frames short. Per-layer bytes and payload
//! bytes are counted on the wire lengths (see [`dissect`](super::dissect)).
//!
//! A flow is directional: the key is (source address, source port,
//! destination address, destination port, transport), so the two halves of
//! a TCP connection are two flows. Flows are listed in order of first
//! appearance. A flow's `bytes` is the sum of its frames' wire lengths.
//!
//! A TCP retransmission is counted, as a simple definition, when a segment
//! carrying data covers only sequence numbers already covered by earlier
//! data in the same direction: each flow remembers the highest sequence end
//! seen and nothing more, so memory per flow is constant. Keep-alive probes
//! (one old byte) count as retransmissions; reordered segments that arrive
//! after a later one count too.
//!
//! Checksums are counted per frame, in three classes plus "unchecked"
//! ([`checksum`](crate::wire::checksum)): the IPv4 header checksum of every IPv4
//! frame, and the TCP or UDP checksum of every unfragmented segment and of
//! every fragmented datagram (once, on the frame that completes it).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufReader, Read};
use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;

use super::dissect::{Dissection, Dissector, Layers, TCP, UDP};
use super::error::PcapError;
use super::read::{CaptureReader, Format, Frame, Record};
use crate::wire::checksum::ChecksumCounts;

/// Everything `pcap summary` reports about a capture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// `"pcap"` or `"pcapng"`.
    pub format: &'static str,
    /// Frames in the file.
    pub frames: u64,
    /// Captured bytes: the sum of captured frame lengths.
    pub bytes: u64,
    /// Bytes on the wire: the sum of original frame lengths.
    pub original_bytes: u64,
    /// Payload bytes carried by TCP, UDP and other IP protocols, on the wire.
    pub payload_bytes: u64,
    /// Bytes by layer, on the wire; they add up to `original_bytes`.
    pub layers: Layers,
    /// Frames the snap length cut short (captured < original length).
    pub cut_frames: u64,
    /// IP fragments (frames that hold part of a fragmented datagram).
    pub ip_fragments: u64,
    /// Frames that are not IP (ARP, LLDP, …) on a supported link.
    pub non_ip_frames: u64,
    /// Frames on a link type this summary does not dissect.
    pub unsupported_frames: u64,
    /// Packet records that could not be decoded and were skipped.
    pub malformed_records: u64,
    /// Link types seen (tcpdump.org `LINKTYPE_*` numbers), in order.
    pub link_types: Vec<u32>,
    /// Timestamp of the earliest frame, nanoseconds since the Unix epoch.
    pub first_ns: Option<u64>,
    /// Timestamp of the latest frame, nanoseconds since the Unix epoch.
    pub last_ns: Option<u64>,
    /// Checksum verdicts, all protocols together.
    pub checksums: ChecksumCounts,
    /// Checksum verdicts by protocol.
    pub checksums_by_protocol: ChecksumsByProtocol,
    /// Flows in order of first appearance.
    pub flows: Vec<FlowSummary>,
}

/// Checksum verdicts by protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ChecksumsByProtocol {
    /// IPv4 header checksums.
    pub ipv4: ChecksumCounts,
    /// TCP checksums.
    pub tcp: ChecksumCounts,
    /// UDP checksums.
    pub udp: ChecksumCounts,
}

/// One direction of one conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowSummary {
    /// Source address.
    pub src: IpAddr,
    /// Source port (`None` for protocols without ports, or fragments whose
    /// datagram's first fragment was never seen).
    pub src_port: Option<u16>,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port.
    pub dst_port: Option<u16>,
    /// `"tcp"`, `"udp"`, `"icmp"`, `"icmpv6"` or `"ip-proto-N"`.
    pub transport: String,
    /// Frames in this direction.
    pub frames: u64,
    /// Bytes on the wire (sum of original frame lengths).
    pub bytes: u64,
    /// Payload bytes (after the TCP/UDP header), on the wire.
    pub payload_bytes: u64,
    /// IP fragments among its frames.
    pub fragments: u64,
    /// TCP data segments whose sequence range was already covered.
    pub retransmissions: u64,
    /// TCP segments with SYN set.
    pub syn: u64,
    /// TCP segments with FIN set.
    pub fin: u64,
    /// TCP segments with RST set.
    pub rst: u64,
    /// Its bytes per layer (not reported: the summary's own `layers` has
    /// every flow's).
    #[serde(skip)]
    pub layers: Layers,
    /// Highest TCP sequence end seen (internal state, not reported).
    #[serde(skip)]
    seq_end: Option<u32>,
}

type FlowKey = (IpAddr, Option<u16>, IpAddr, Option<u16>, u8);

/// Builds a [`Summary`] frame by frame.
#[derive(Debug)]
pub struct Summarizer {
    summary: Summary,
    dissector: Dissector,
    index: HashMap<FlowKey, usize>,
}

impl Summarizer {
    /// An empty summary of a file in `format`.
    pub fn new(format: Format) -> Summarizer {
        Summarizer {
            summary: Summary {
                format: match format {
                    Format::Pcap => "pcap",
                    Format::PcapNg => "pcapng",
                },
                frames: 0,
                bytes: 0,
                original_bytes: 0,
                payload_bytes: 0,
                layers: Layers::default(),
                cut_frames: 0,
                ip_fragments: 0,
                non_ip_frames: 0,
                unsupported_frames: 0,
                malformed_records: 0,
                link_types: Vec::new(),
                first_ns: None,
                last_ns: None,
                checksums: ChecksumCounts::default(),
                checksums_by_protocol: ChecksumsByProtocol::default(),
                flows: Vec::new(),
            },
            dissector: Dissector::new(),
            index: HashMap::new(),
        }
    }

    /// Counts a packet record that could not be decoded.
    pub fn add_malformed(&mut self) {
        self.summary.malformed_records += 1;
    }

    /// Counts one frame.
    pub fn add_frame(&mut self, frame: &Frame<'_>) {
        let s = &mut self.summary;
        let captured = frame.data.len() as u64;
        let original = u64::from(frame.original_len);
        s.frames += 1;
        s.bytes += captured;
        s.original_bytes += original;
        if captured < original {
            s.cut_frames += 1;
        }
        if !s.link_types.contains(&frame.link.0) {
            s.link_types.push(frame.link.0);
        }
        if let Some(t) = frame.timestamp_ns {
            s.first_ns = Some(s.first_ns.map_or(t, |f| f.min(t)));
            s.last_ns = Some(s.last_ns.map_or(t, |l| l.max(t)));
        }
        let d = self.dissector.dissect(frame);
        self.count(&d, original);
    }

    fn count(&mut self, d: &Dissection, original: u64) {
        let s = &mut self.summary;
        s.layers.merge(&d.layers);
        s.payload_bytes += d.layers.payload;
        if d.unsupported_link {
            s.unsupported_frames += 1;
        }
        let Some(ip) = d.ip else {
            if !d.unsupported_link {
                s.non_ip_frames += 1;
            }
            return;
        };
        if let Some(v) = ip.ipv4_checksum {
            s.checksums.add(Some(v));
            s.checksums_by_protocol.ipv4.add(Some(v));
        }
        if ip.checks_l4 {
            s.checksums.add(ip.l4_checksum);
            match ip.protocol {
                TCP => s.checksums_by_protocol.tcp.add(ip.l4_checksum),
                UDP => s.checksums_by_protocol.udp.add(ip.l4_checksum),
                _ => {}
            }
        }
        if ip.fragment {
            s.ip_fragments += 1;
        }

        let (sp, dp) = ip.ports.unzip();
        let key = (ip.src, sp, ip.dst, dp, ip.protocol);
        let at = *self.index.entry(key).or_insert_with(|| {
            s.flows.push(FlowSummary {
                src: ip.src,
                src_port: sp,
                dst: ip.dst,
                dst_port: dp,
                transport: transport_name(ip.protocol, ip.src.is_ipv6()),
                frames: 0,
                bytes: 0,
                payload_bytes: 0,
                fragments: 0,
                retransmissions: 0,
                syn: 0,
                fin: 0,
                rst: 0,
                layers: Layers::default(),
                seq_end: None,
            });
            s.flows.len() - 1
        });
        let Some(flow) = s.flows.get_mut(at) else {
            return;
        };
        flow.frames += 1;
        flow.bytes += original;
        flow.payload_bytes += d.layers.payload;
        flow.layers.merge(&d.layers);
        flow.fragments += u64::from(ip.fragment);
        if let Some(tcp) = ip.tcp {
            flow.syn += u64::from(tcp.syn);
            flow.fin += u64::from(tcp.fin);
            flow.rst += u64::from(tcp.rst);
            let data = d.layers.payload as u32;
            let end = tcp
                .seq
                .wrapping_add(data)
                .wrapping_add(u32::from(tcp.syn) + u32::from(tcp.fin));
            match flow.seq_end {
                Some(high) if data > 0 && !seq_after(end, high) => flow.retransmissions += 1,
                Some(high) if !seq_after(end, high) => {}
                _ => flow.seq_end = Some(end),
            }
        }
    }

    /// The summary so far.
    pub fn finish(self) -> Summary {
        self.summary
    }
}

/// Whether sequence number `a` is after `b`, modulo 2^32 (RFC 1982).
fn seq_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// The name a flow's transport goes by in reports: `tcp`, `udp`, `icmp`,
/// `icmpv6` or `ip-proto-N`.
pub(super) fn transport_name(protocol: u8, v6: bool) -> String {
    match protocol {
        TCP => "tcp".into(),
        UDP => "udp".into(),
        1 if !v6 => "icmp".into(),
        58 => "icmpv6".into(),
        n => format!("ip-proto-{n}"),
    }
}

/// Summarises a pcap or pcapng stream.
///
/// A file cut in the middle of a record gives [`PcapError::Truncated`],
/// which carries the summary of the frames before the cut.
pub fn summarize_reader<R: Read>(r: R) -> Result<Summary, PcapError> {
    let mut reader = CaptureReader::new(r)?;
    let mut summarizer = Summarizer::new(reader.format());
    while let Some(record) = reader.next_record() {
        match record {
            Ok(Record::Frame(frame)) => summarizer.add_frame(&frame),
            Ok(Record::Malformed(_)) => summarizer.add_malformed(),
            Err(PcapError::Truncated { frames, .. }) => {
                return Err(PcapError::Truncated {
                    frames,
                    partial: Some(Box::new(summarizer.finish())),
                });
            }
            Err(e) => return Err(e),
        }
    }
    Ok(summarizer.finish())
}

/// Summarises the capture file at `path`.
pub fn summarize_path(path: &Path) -> Result<Summary, PcapError> {
    let file = File::open(path).map_err(|source| PcapError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    summarize_reader(BufReader::new(file))
}

/// A readable report: one table row per flow, then the totals.
pub fn render_text(s: &Summary) -> String {
    let mut out = String::new();
    flow_table(&mut out, s);
    let _ = writeln!(out);
    totals(&mut out, s);
    out
}

/// The flows as a table: a header, then one row per flow, each column as
/// wide as its widest cell.
fn flow_table(out: &mut String, s: &Summary) {
    let endpoint = |a: &IpAddr, p: Option<u16>| match (a, p) {
        (IpAddr::V6(a), Some(p)) => format!("[{a}]:{p}"),
        (a, Some(p)) => format!("{a}:{p}"),
        (a, None) => a.to_string(),
    };
    let rows: Vec<[String; 9]> = s
        .flows
        .iter()
        .map(|f| {
            let tcp = f.transport == "tcp";
            let tcp_col = |n: u64| if tcp { n.to_string() } else { "-".into() };
            [
                f.transport.clone(),
                endpoint(&f.src, f.src_port),
                endpoint(&f.dst, f.dst_port),
                f.frames.to_string(),
                f.bytes.to_string(),
                f.payload_bytes.to_string(),
                tcp_col(f.retransmissions),
                if tcp {
                    format!("{}/{}/{}", f.syn, f.fin, f.rst)
                } else {
                    "-".into()
                },
                f.fragments.to_string(),
            ]
        })
        .collect();
    let head = [
        "proto",
        "source",
        "destination",
        "frames",
        "bytes",
        "payload",
        "retrans",
        "syn/fin/rst",
        "frags",
    ];
    let mut width = head.map(str::len);
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(width).enumerate() {
            // Text columns left-aligned, numbers right-aligned.
            if i < 3 {
                let _ = write!(l, "{cell:<w$}  ");
            } else {
                let _ = write!(l, "{cell:>w$}  ");
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(&head));
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{}", line(&cells));
    }
}

/// Frames, flows and bytes; bytes by layer; checksum verdicts; the
/// duration; and a line for each kind of frame that was set aside.
fn totals(out: &mut String, s: &Summary) {
    let _ = writeln!(
        out,
        "{} frames ({}), {} flows, {} bytes captured, {} bytes on the wire",
        s.frames,
        s.format,
        s.flows.len(),
        s.bytes,
        s.original_bytes
    );
    let l = &s.layers;
    let _ = writeln!(
        out,
        "layers: l2 {}  l3 {}  l4 {}  payload {}  other {}",
        l.l2, l.l3, l.l4, l.payload, l.other
    );
    let c = &s.checksums;
    let _ = writeln!(
        out,
        "checksums: {} valid, {} partial (left for offload), {} bad, {} unchecked",
        c.valid, c.partial, c.bad, c.unchecked
    );
    if let (Some(first), Some(last)) = (s.first_ns, s.last_ns) {
        let _ = writeln!(out, "duration: {:.6} s", (last - first) as f64 / 1e9);
    }
    let notes = [
        (s.cut_frames, "frames cut by the snap length"),
        (s.ip_fragments, "IP fragments"),
        (s.non_ip_frames, "non-IP frames"),
        (s.unsupported_frames, "frames on an unsupported link type"),
        (s.malformed_records, "malformed records skipped"),
    ];
    for (n, what) in notes {
        if n > 0 {
            let _ = writeln!(out, "{n} {what}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcap::read::LinkType;
    use etherparse::PacketBuilder;

    fn tcp(seq: u32, n: usize, syn: bool) -> Vec<u8> {
        let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).tcp(1, 2, seq, 1000);
        let b = if syn { b.syn() } else { b };
        let mut v = Vec::new();
        b.write(&mut v, &vec![0u8; n]).unwrap();
        v
    }

    fn summarize(packets: &[Vec<u8>]) -> Summary {
        let mut s = Summarizer::new(Format::Pcap);
        for p in packets {
            s.add_frame(&Frame {
                link: LinkType::RAW,
                interface: 0,
                timestamp_ns: None,
                original_len: p.len() as u32,
                data: p,
            });
        }
        s.finish()
    }

    #[test]
    fn retransmission_is_data_already_covered() {
        let s = summarize(&[
            tcp(999, 0, true),
            tcp(1000, 100, false),
            tcp(1100, 100, false),
            tcp(1000, 100, false), // resent
            tcp(1100, 50, false),  // part of what was sent
            tcp(1200, 0, false),   // a pure ACK is not a retransmission
            tcp(1150, 100, false), // half new: not a retransmission
        ]);
        assert_eq!(s.flows.len(), 1);
        assert_eq!(s.flows[0].retransmissions, 2);
        assert_eq!(s.flows[0].syn, 1);
        assert_eq!(s.flows[0].payload_bytes, 450);
    }

    #[test]
    fn retransmission_across_sequence_wrap() {
        let s = summarize(&[
            tcp(u32::MAX - 49, 100, false),
            tcp(50, 100, false),
            tcp(u32::MAX - 49, 100, false),
        ]);
        assert_eq!(s.flows[0].retransmissions, 1);
    }

    /// A pcapng block, little-endian.
    fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let len = (12 + body.len()) as u32;
        [
            &kind.to_le_bytes()[..],
            &len.to_le_bytes(),
            body,
            &len.to_le_bytes(),
        ]
        .concat()
    }

    fn idb(link: u16, tsresol: u8) -> Vec<u8> {
        let mut b = [link.to_le_bytes(), [0, 0]].concat();
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&[9, 0, 1, 0, tsresol, 0, 0, 0, 0, 0, 0, 0]);
        block(1, &b)
    }

    fn epb(iface: u32, ts: u64, data: &[u8]) -> Vec<u8> {
        let mut b = iface.to_le_bytes().to_vec();
        b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&(ts as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        b.resize(b.len().next_multiple_of(4), 0);
        block(6, &b)
    }

    #[test]
    fn pcapng_with_two_interfaces_and_resolutions() {
        let shb_body = [
            &0x1a2b_3c4du32.to_le_bytes()[..],
            &1u16.to_le_bytes(),
            &0u16.to_le_bytes(),
            &(-1i64).to_le_bytes(),
        ]
        .concat();
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x08, 0x00]);
        eth.extend(tcp(7, 10, false));
        let raw = tcp(8, 20, false);
        let file = [
            block(0x0a0d_0d0a, &shb_body),
            idb(1, 6),   // Ethernet, microseconds
            idb(101, 9), // raw IP, nanoseconds
            epb(0, 2_000_000, &eth),
            epb(1, 1_500_000_000, &raw),
            block(5, &[0u8; 12]), // statistics: skipped
        ]
        .concat();
        let s = summarize_reader(&file[..]).unwrap();
        assert_eq!(s.format, "pcapng");
        assert_eq!(s.frames, 2);
        assert_eq!(s.link_types, vec![1, 101]);
        assert_eq!(
            (s.first_ns, s.last_ns),
            (Some(1_500_000_000), Some(2_000_000_000))
        );
        assert_eq!(s.layers.l2, 14);
        assert_eq!(s.payload_bytes, 30);
        assert_eq!(s.flows.len(), 1);
        assert_eq!(s.checksums.valid, 4);

        // A packet block naming an interface never described is skipped.
        let bad = [file.clone(), epb(5, 0, &raw)].concat();
        assert_eq!(summarize_reader(&bad[..]).unwrap().malformed_records, 1);
    }

    #[test]
    fn text_has_a_row_per_flow_and_the_totals() {
        let s = summarize(&[tcp(1, 10, true), tcp(2, 10, false)]);
        let text = render_text(&s);
        assert!(text.contains("10.0.0.1:1"), "{text}");
        assert!(text.contains("2 frames (pcap), 1 flows"), "{text}");
        assert!(text.contains("checksums: 4 valid"), "{text}");
    }

    fn flow(src: &str, sp: Option<u16>, dst: &str, dp: Option<u16>, t: &str) -> FlowSummary {
        FlowSummary {
            src: src.parse().unwrap(),
            src_port: sp,
            dst: dst.parse().unwrap(),
            dst_port: dp,
            transport: t.into(),
            frames: 12,
            bytes: 123_456,
            payload_bytes: 120_000,
            fragments: 3,
            retransmissions: 2,
            syn: 1,
            fin: 1,
            rst: 0,
            layers: Layers::default(),
            seq_end: None,
        }
    }

    #[test]
    fn text_of_every_kind_of_row_and_note_is_unchanged() {
        let mut s = summarize(&[tcp(1, 10, true)]);
        s.flows = vec![
            flow("10.0.0.1", Some(1), "10.0.0.2", Some(2), "tcp"),
            flow("fe80::1", Some(5353), "ff02::fb", Some(5353), "udp"),
            flow("192.168.100.200", None, "10.0.0.2", None, "icmp"),
        ];
        (s.first_ns, s.last_ns) = (None, None);
        (s.cut_frames, s.ip_fragments, s.non_ip_frames) = (1, 2, 3);
        (s.unsupported_frames, s.malformed_records) = (4, 5);
        let want = "\
proto  source           destination      frames   bytes  payload  retrans  syn/fin/rst  frags
tcp    10.0.0.1:1       10.0.0.2:2           12  123456   120000        2        1/1/0      3
udp    [fe80::1]:5353   [ff02::fb]:5353      12  123456   120000        -            -      3
icmp   192.168.100.200  10.0.0.2             12  123456   120000        -            -      3

1 frames (pcap), 3 flows, 50 bytes captured, 50 bytes on the wire
layers: l2 0  l3 20  l4 20  payload 10  other 0
checksums: 2 valid, 0 partial (left for offload), 0 bad, 0 unchecked
1 frames cut by the snap length
2 IP fragments
3 non-IP frames
4 frames on an unsupported link type
5 malformed records skipped
";
        assert_eq!(render_text(&s), want);
    }
}
