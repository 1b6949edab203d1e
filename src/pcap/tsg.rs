//! The time-sequence graph of one TCP flow of a capture, as tcptrace and
//! Wireshark's "Stevens" graph draw it: the sequence number each data
//! segment carries against the time it was captured, the line of the
//! acknowledgments coming back, and the line of the receive window (the ACK
//! plus the window the receiver advertised: how far the sender may go).
//! Pure code: frames in (from [`read`](super::read)), series out; the
//! `plot` module's `tsg` draws them (the plot imports this, not the
//! other way round).
//!
//! - **Flows** are numbered from 1 in the order `pcap summary` lists them
//!   (first appearance of each direction of each conversation). A flow is
//!   one direction: its data segments are drawn, and the ACKs and windows
//!   come from the reverse flow, when the capture holds it. Without a flow
//!   number, the TCP flow that carries the most payload is drawn.
//! - **Sequence numbers** are relative to the flow's initial sequence
//!   number (its SYN's, so the first data byte is 1, as Wireshark counts),
//!   or to the first sequence number seen when the capture missed the SYN.
//!   They are unwrapped past 2^32, each to the value nearest the highest
//!   seen so far.
//! - **Retransmission**, as tshark's `tcp.analysis.retransmission` decides
//!   it: a segment carrying data that starts below the highest sequence
//!   number already sent in its direction. A keep-alive (at most one byte,
//!   one below that highest number) is not one. Unlike tshark, a segment
//!   that comes late because the network reordered it is not told apart: on
//!   a capture taken at the sender, where nothing is reordered yet, the two
//!   agree.
//! - **Receive window**: the window field scaled by the shift the receiver
//!   announced in its SYN, when both SYNs carried the window scale option
//!   (RFC 7323 §2.2; a SYN's own window is never scaled). When the capture
//!   missed a SYN the scale is not known: the window is drawn as sent, and
//!   [`TimeSequence::window_scale`] is `None`.
//! - **Time** is seconds since the first frame of either direction of the
//!   connection. Frames without a timestamp are left out.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::net::IpAddr;
use std::path::Path;

use super::dissect::{Dissector, TCP, TcpFacts};
use super::error::PcapError;
use super::read::{CaptureReader, Frame, Record};
use super::summary::transport_name;

/// The graph of one flow: the series `plot::tsg` draws.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSequence {
    /// The flow's number, from 1, as `pcap summary` lists flows.
    pub flow: usize,
    /// The data's sender: address and port.
    pub src: (IpAddr, u16),
    /// The data's receiver: address and port.
    pub dst: (IpAddr, u16),
    /// The receiver's window scale shift, when both SYNs were captured.
    pub window_scale: Option<u8>,
    /// Every segment of the flow that carries data, in capture order.
    pub segments: Vec<Segment>,
    /// The acknowledgments of the reverse flow, in capture order.
    pub acks: Vec<SeqPoint>,
    /// The receive window's right edge (ACK plus window), one per ACK.
    pub windows: Vec<SeqPoint>,
}

/// One data segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// Its frame's number in the file, from 1 (tshark's `frame.number`).
    pub frame: u64,
    /// Seconds since the connection's first frame.
    pub t: f64,
    /// Relative sequence number of its first byte.
    pub start: i64,
    /// Relative sequence number after its last byte.
    pub end: i64,
    /// Whether it sends again what was sent before.
    pub retransmission: bool,
}

/// A relative sequence number at a time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeqPoint {
    /// Seconds since the connection's first frame.
    pub t: f64,
    /// Relative sequence number.
    pub seq: i64,
}

impl TimeSequence {
    /// How many of its segments are retransmissions.
    pub fn retransmissions(&self) -> usize {
        self.segments.iter().filter(|s| s.retransmission).count()
    }
}

/// Why no graph could be made.
#[derive(Debug, thiserror::Error)]
pub enum TsgError {
    /// The file could not be read.
    #[error(transparent)]
    Pcap(#[from] PcapError),
    /// Nothing in the capture is TCP.
    #[error("the capture holds no TCP flow, so there is no time-sequence graph to draw")]
    NoTcpFlow,
    /// The flow number is past the last flow.
    #[error(
        "--flow {n}: the capture has {flows} flow(s), numbered from 1 in the order `pcap summary` lists them"
    )]
    NoSuchFlow {
        /// The number asked for.
        n: usize,
        /// How many flows there are.
        flows: usize,
    },
    /// The flow asked for is not TCP.
    #[error("--flow {n}: that flow is {transport}, not TCP")]
    NotTcp {
        /// The number asked for.
        n: usize,
        /// Its transport, as `pcap summary` names it.
        transport: String,
    },
    /// The flow asked for carries no data (its ACKs belong to the reverse
    /// flow's graph).
    #[error("--flow {n}: that flow carries no TCP data{}", reverse_hint(*.reverse))]
    NoData {
        /// The number asked for.
        n: usize,
        /// The reverse flow's number, when it carries data.
        reverse: Option<usize>,
    },
}

fn reverse_hint(reverse: Option<usize>) -> String {
    reverse.map_or(String::new(), |r| {
        format!("; its reverse, flow {r}, does (try --flow {r})")
    })
}

impl TsgError {
    /// Whether the error is in what was asked (the flow number) rather than
    /// in the file.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            TsgError::NoSuchFlow { .. } | TsgError::NotTcp { .. } | TsgError::NoData { .. }
        )
    }
}

/// One TCP header of a flow, as captured.
#[derive(Debug, Clone, Copy)]
struct Event {
    frame: u64,
    t_ns: u64,
    tcp: TcpFacts,
    len: u32,
}

/// One direction of one conversation, keyed as `pcap summary` keys flows.
#[derive(Debug)]
struct Flow {
    src: IpAddr,
    src_port: Option<u16>,
    dst: IpAddr,
    dst_port: Option<u16>,
    protocol: u8,
    events: Vec<Event>,
}

impl Flow {
    fn payload(&self) -> u64 {
        self.events.iter().map(|e| u64::from(e.len)).sum()
    }
}

type FlowKey = (IpAddr, Option<u16>, IpAddr, Option<u16>, u8);

/// Gathers the TCP headers of every flow, frame by frame; [`finish`]
/// makes the graph of one.
///
/// [`finish`]: TsgBuilder::finish
#[derive(Debug, Default)]
pub struct TsgBuilder {
    dissector: Dissector,
    flows: Vec<Flow>,
    index: HashMap<FlowKey, usize>,
    frames: u64,
}

impl TsgBuilder {
    /// A builder that has seen nothing.
    pub fn new() -> TsgBuilder {
        TsgBuilder::default()
    }

    /// A record that could not be decoded: it still takes a frame number.
    pub fn add_malformed(&mut self) {
        self.frames += 1;
    }

    /// Takes in one frame.
    pub fn add_frame(&mut self, frame: &Frame<'_>) {
        self.frames += 1;
        let d = self.dissector.dissect(frame);
        let Some(ip) = d.ip else {
            return;
        };
        let (sp, dp) = ip.ports.unzip();
        let key = (ip.src, sp, ip.dst, dp, ip.protocol);
        let flows = &mut self.flows;
        let at = *self.index.entry(key).or_insert_with(|| {
            flows.push(Flow {
                src: ip.src,
                src_port: sp,
                dst: ip.dst,
                dst_port: dp,
                protocol: ip.protocol,
                events: Vec::new(),
            });
            flows.len() - 1
        });
        let (Some(tcp), Some(t_ns), Some(flow)) = (ip.tcp, frame.timestamp_ns, flows.get_mut(at))
        else {
            return;
        };
        flow.events.push(Event {
            frame: self.frames,
            t_ns,
            tcp,
            len: u32::try_from(d.layers.payload).unwrap_or(u32::MAX),
        });
    }

    /// The graph of flow `n` (from 1), or of the TCP flow carrying the most
    /// payload when `n` is `None`.
    pub fn finish(self, n: Option<usize>) -> Result<TimeSequence, TsgError> {
        let tcp = |f: &&Flow| f.protocol == TCP && f.src_port.is_some();
        if !self.flows.iter().any(|f| tcp(&f)) {
            return Err(TsgError::NoTcpFlow);
        }
        let at = match n {
            Some(n) => {
                let flow = self
                    .flows
                    .get(n.wrapping_sub(1))
                    .ok_or(TsgError::NoSuchFlow {
                        n,
                        flows: self.flows.len(),
                    })?;
                if !tcp(&flow) {
                    return Err(TsgError::NotTcp {
                        n,
                        transport: transport_name(flow.protocol, flow.src.is_ipv6()),
                    });
                }
                n - 1
            }
            // The first of the flows with the most payload.
            None => (0..self.flows.len())
                .filter(|&i| tcp(&&self.flows[i]))
                .max_by_key(|&i| (self.flows[i].payload(), std::cmp::Reverse(i)))
                .unwrap_or(0),
        };
        let data = &self.flows[at];
        let reverse = self
            .index
            .get(&(data.dst, data.dst_port, data.src, data.src_port, TCP))
            .copied();
        let back = reverse.map_or(&[][..], |r| &self.flows[r].events[..]);
        if data.payload() == 0 {
            return Err(TsgError::NoData {
                n: at + 1,
                reverse: reverse
                    .filter(|&r| self.flows[r].payload() > 0)
                    .map(|r| r + 1),
            });
        }
        Ok(graph(at + 1, data, back))
    }
}

/// The series of one flow, its data in `data` and its ACKs in `back`.
fn graph(n: usize, data: &Flow, back: &[Event]) -> TimeSequence {
    let syn = data.events.iter().find(|e| e.tcp.syn);
    let back_syn = back.iter().find(|e| e.tcp.syn);
    let base = syn.or(data.events.first()).map_or(0, |e| e.tcp.seq);
    // RFC 7323: scaling is on only when both SYNs carry the option.
    let window_scale = match (syn, back_syn) {
        (Some(s), Some(b)) => Some(match (s.tcp.window_scale, b.tcp.window_scale) {
            (Some(_), Some(shift)) => shift.min(14),
            _ => 0,
        }),
        _ => None,
    };
    let t0 = data
        .events
        .iter()
        .chain(back)
        .map(|e| e.t_ns)
        .min()
        .unwrap_or(0);
    let secs = |e: &Event| e.t_ns.saturating_sub(t0) as f64 / 1e9;

    let mut segments = Vec::new();
    let mut high: Option<i64> = None;
    for e in &data.events {
        let start = unwrap(e.tcp.seq, base, high.unwrap_or(0));
        let end = start + i64::from(e.len);
        if e.len > 0 {
            let retransmission = high.is_some_and(|h| start < h && !(e.len <= 1 && start == h - 1));
            segments.push(Segment {
                frame: e.frame,
                t: secs(e),
                start,
                end,
                retransmission,
            });
        }
        let next = end + i64::from(e.tcp.syn) + i64::from(e.tcp.fin);
        high = Some(high.map_or(next, |h| h.max(next)));
    }

    let mut acks = Vec::new();
    let mut windows = Vec::new();
    let mut near = 0;
    for e in back {
        let Some(ack) = e.tcp.ack else {
            continue;
        };
        let seq = unwrap(ack, base, near);
        near = seq;
        let shift = if e.tcp.syn {
            0
        } else {
            window_scale.unwrap_or(0)
        };
        let t = secs(e);
        acks.push(SeqPoint { t, seq });
        windows.push(SeqPoint {
            t,
            seq: seq + (i64::from(e.tcp.window) << shift),
        });
    }

    TimeSequence {
        flow: n,
        src: (data.src, data.src_port.unwrap_or(0)),
        dst: (data.dst, data.dst_port.unwrap_or(0)),
        window_scale,
        segments,
        acks,
        windows,
    }
}

/// `seq` relative to `base`, as the value nearest `near` of all those equal
/// to it modulo 2^32.
fn unwrap(seq: u32, base: u32, near: i64) -> i64 {
    const SPAN: i64 = 1 << 32;
    let off = i64::from(seq.wrapping_sub(base));
    let k = (near - off + SPAN / 2).div_euclid(SPAN);
    off + k * SPAN
}

/// The graph of flow `n` (or of the busiest TCP flow) of a pcap or pcapng
/// stream.
pub fn time_sequence_reader<R: Read>(r: R, n: Option<usize>) -> Result<TimeSequence, TsgError> {
    let mut reader = CaptureReader::new(r)?;
    let mut builder = TsgBuilder::new();
    while let Some(record) = reader.next_record() {
        match record? {
            Record::Frame(frame) => builder.add_frame(&frame),
            Record::Malformed(_) => builder.add_malformed(),
        }
    }
    builder.finish(n)
}

/// The graph of flow `n` (or of the busiest TCP flow) of the capture file
/// at `path`.
pub fn time_sequence_path(path: &Path, n: Option<usize>) -> Result<TimeSequence, TsgError> {
    let file = File::open(path).map_err(|source| PcapError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    time_sequence_reader(BufReader::new(file), n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/corpus")
            .join(name)
    }

    /// The frame numbers tshark flags, from the file's `.tshark.json`.
    fn tshark_retransmissions(stem: &str) -> Vec<u64> {
        let text = std::fs::read_to_string(corpus(&format!("{stem}.tshark.json"))).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["retransmission_frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_u64().unwrap())
            .collect()
    }

    #[test]
    fn retransmissions_are_found_where_tshark_finds_them() {
        // 300000 bytes from 198.18.0.2:5005 through 5 % loss, captured by
        // tshark at the receiver (before the loss rule): the default flow
        // is the data's, the second the summary lists.
        let g = time_sequence_path(&corpus("netlab-tcp4-loss5.pcap"), None).unwrap();
        assert_eq!(g.flow, 2);
        assert_eq!(g.src, ("198.18.0.2".parse().unwrap(), 5005));
        let ours: Vec<u64> = g
            .segments
            .iter()
            .filter(|s| s.retransmission)
            .map(|s| s.frame)
            .collect();
        assert_eq!(ours, tshark_retransmissions("netlab-tcp4-loss5"));
        assert_eq!(g.retransmissions(), 10);
        // Relative numbers start at 1, after the SYN.
        assert_eq!(g.segments[0].start, 1);
        let top = g.segments.iter().map(|s| s.end).max().unwrap();
        let payload: i64 = g
            .segments
            .iter()
            .filter(|s| !s.retransmission)
            .map(|s| s.end - s.start)
            .sum();
        assert_eq!(top - 1, payload, "first transmissions tile the range");
        // Both SYNs carry window scale 10 (tshark: scalefactor 1024).
        assert_eq!(g.window_scale, Some(10));
        // The ACKs only rise, never past what was sent, and the window
        // stays at or above them.
        assert!(g.acks.windows(2).all(|w| w[0].seq <= w[1].seq));
        assert!(g.acks.iter().all(|a| a.seq <= top + 1));
        assert!(g.acks.iter().zip(&g.windows).all(|(a, w)| w.seq >= a.seq));
        assert_eq!(
            g.acks.last().unwrap().seq,
            top + 1,
            "the FIN is acknowledged"
        );
    }

    #[test]
    fn captures_without_loss_have_no_retransmissions() {
        for (name, payload) in [
            ("veth-tcp4-100000.pcap", 100_000),
            ("veth-tcp6-50000.pcap", 50_000),
            ("lo-tcp4-iperf3.pcapng", 251_941),
        ] {
            let g = time_sequence_path(&corpus(name), None).unwrap();
            assert_eq!(g.retransmissions(), 0, "{name}");
            let sent: i64 = g.segments.iter().map(|s| s.end - s.start).sum();
            assert!(sent >= payload, "{name}: {sent}");
            assert!(g.segments.windows(2).all(|w| w[0].t <= w[1].t), "{name}");
        }
    }

    #[test]
    fn flow_numbers_follow_the_summary_and_bad_ones_say_why() {
        let path = corpus("lo-tcp4-iperf3.pcapng");
        // Flow 3 is iperf3's data connection, flow 4 its ACKs.
        assert_eq!(time_sequence_path(&path, Some(3)).unwrap().flow, 3);
        let e = time_sequence_path(&path, Some(4)).unwrap_err();
        assert!(e.is_usage());
        assert!(e.to_string().contains("try --flow 3"), "{e}");
        let e = time_sequence_path(&path, Some(9)).unwrap_err();
        assert!(matches!(e, TsgError::NoSuchFlow { n: 9, flows: 4 }), "{e}");
        let e = time_sequence_path(&path, Some(0)).unwrap_err();
        assert!(e.is_usage(), "{e}");
        let e = time_sequence_path(&corpus("veth-udp4-frag.pcap"), None).unwrap_err();
        assert!(matches!(e, TsgError::NoTcpFlow), "{e}");
        assert!(!e.is_usage());
        let e = time_sequence_path(&corpus("veth-udp4-frag.pcap"), Some(1)).unwrap_err();
        assert!(matches!(e, TsgError::NoTcpFlow), "{e}");
    }

    #[test]
    fn sequence_numbers_unwrap_past_two_to_the_32() {
        assert_eq!(unwrap(10, 5, 0), 5);
        assert_eq!(unwrap(2, u32::MAX - 1, 0), 4);
        assert_eq!(unwrap(5, 5, (1 << 32) + 100), 1 << 32);
        // A retransmission just below the top stays below it.
        assert_eq!(unwrap(4, 5, (1 << 32) + 10), (1 << 32) - 1);
    }
}
