//! What a client run measured: one [`Report`] per action, rendered as text
//! for people or as the JSON object of the command-line contract.
//!
//! Every figure is measured by the client (round-trip times, receive times,
//! byte counts) or carried from the server (a stream segment's scheduled and
//! real send times). One-way delays compare the server's clock with the
//! client's: meaningful on one host, where both read the same clock.

use std::fmt::Write as _;

use serde::Serialize;

use super::record::CapturesReport;
use super::ticker::Interval;
use crate::account::beside::{KernelRaw, Overhead};
use crate::latency::{Percentiles, Recorder};
use crate::net::Applied;
use crate::net::counters::UdpCounters;
use crate::net::udp::UdpApplied;
use crate::proto::datagram::{SendInfo, SendMethod};
use crate::units::{format_bitrate, format_bytes};

/// One action's measurements.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// "echo", "file" or "stream".
    pub mode: &'static str,
    /// "tcp" or "udp".
    pub transport: &'static str,
    /// 4 or 6.
    pub ip: u8,
    /// The server's address.
    pub target: String,
    /// Payload bytes received.
    pub bytes: u64,
    /// From the request to the last byte, seconds.
    pub seconds: f64,
    /// `bytes` × 8 / `seconds`.
    pub goodput_bps: f64,
    /// Round-trip (echo) or one-way (stream) latency, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<Percentiles>,
    /// Mode-specific figures.
    #[serde(flatten)]
    pub detail: Detail,
    /// UDP's datagram accounting (UDP runs only).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub udp: Option<UdpFigures>,
    /// The client socket's options as the kernel applied them.
    pub socket: SocketReport,
    /// What the action cost on the wire: the model beside the kernel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overhead: Option<Overhead>,
    /// Where the model and live captures went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub captures: Option<CapturesReport>,
    /// The latency histogram behind `latency_us` (for `--hgrm`, `--plot`).
    #[serde(skip)]
    pub histogram: Option<Recorder>,
    /// File bytes received over time: (seconds since the request, bytes).
    #[serde(skip)]
    pub progress: Vec<(f64, u64)>,
    /// Interval reports (`-i`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub intervals: Vec<Interval>,
    /// Whether the client busy-polled its receives (`--spin`).
    pub spin: bool,
    /// The client process's CPU time over the action (measured with `--spin`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuUse>,
}

/// The client process's CPU time over an action (`getrusage(2)`), beside
/// the wall-clock time it took.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CpuUse {
    /// User-mode CPU seconds.
    pub user_seconds: f64,
    /// Kernel-mode CPU seconds.
    pub sys_seconds: f64,
    /// Wall-clock seconds.
    pub wall_seconds: f64,
    /// (user + sys) / wall: 1.0 is one core busy the whole time.
    pub cores: f64,
}

impl CpuUse {
    /// The CPU time between two `(user, sys)` readings over `wall` seconds.
    pub fn between(before: (f64, f64), after: (f64, f64), wall: f64) -> CpuUse {
        let user = (after.0 - before.0).max(0.0);
        let sys = (after.1 - before.1).max(0.0);
        CpuUse {
            user_seconds: user,
            sys_seconds: sys,
            wall_seconds: wall,
            cores: if wall > 0.0 { (user + sys) / wall } else { 0.0 },
        }
    }
}

/// The client socket's options, per transport.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(untagged)]
pub enum SocketReport {
    /// A TCP socket.
    Tcp(Applied),
    /// A UDP socket.
    Udp(UdpApplied),
}

/// How a UDP transfer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ending {
    /// The sender's End message arrived, with its counts.
    EndMessage,
    /// Nothing arrived for `--recv-timeout`; the sender's counts are
    /// taken from its plan (FileReady, or the stream's count).
    Timeout,
}

/// A run of missing bytes (file) or sequence numbers (stream, echo).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// First missing.
    pub first: u64,
    /// Last missing.
    pub last: u64,
}

/// What a UDP run counted, datagram by datagram.
#[derive(Debug, Clone, Serialize)]
pub struct UdpFigures {
    /// Distinct datagrams received.
    pub datagrams: u64,
    /// Datagrams the sender sent (from its End message, or its plan).
    pub sent: u64,
    /// Sent but never received: `datagrams + lost = sent`.
    pub lost: u64,
    /// Extra copies received.
    pub duplicates: u64,
    /// Received after a higher sequence number.
    pub reordered: u64,
    /// `lost / sent`, percent.
    pub loss_percent: f64,
    /// Whole UDP payload per datagram, lab header included.
    pub segment_size: u32,
    /// The path MTU the client's socket reported (`IP_MTU`/`IPV6_MTU`).
    pub path_mtu: u32,
    /// What ended the transfer (file and stream; an echo waits for each reply).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<Ending>,
    /// The first missing byte ranges (file) or sequence numbers.
    pub missing: Vec<Missing>,
    /// The kernel's UDP counters over the run (namespace-wide deltas).
    pub kernel: Option<UdpCounters>,
    /// How the datagrams crossed the system-call boundary.
    #[serde(flatten)]
    pub io: TransferIo,
}

/// How a UDP transfer's datagrams were sent and received: one system call
/// each, or batches. The send side is what the server's End message said
/// (a file); nothing when it did not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TransferIo {
    /// `gso` (batches cut by the kernel) or `sendto` (one per call).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send: Option<&'static str>,
    /// The sender's calls that carried data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_calls: Option<u64>,
    /// The most datagrams one send call carried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_batch_max: Option<u32>,
    /// GSO was allowed, but the kernel refused it: one datagram per call.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub gso_refused: bool,
    /// `recv` (one datagram per call), `recvmmsg` (a batch per call) or
    /// `gro` (recvmmsg on a UDP_GRO socket: a buffer may hold several).
    pub receive: &'static str,
    /// The client's receive calls that returned data, control included.
    pub receive_calls: u64,
    /// With GRO: buffers in which the kernel coalesced several datagrams.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coalesced: Option<u64>,
}

impl TransferIo {
    /// Takes the sender's side from its End message.
    pub fn sent(&mut self, with: Option<SendInfo>) {
        let Some(w) = with else { return };
        self.send = Some(w.method.name());
        self.gso_refused = w.method == SendMethod::SendtoGsoRefused;
        self.send_calls = Some(w.calls);
        self.send_batch_max = Some(w.max_batch);
    }

    /// One line for the text report.
    fn line(&self, received: u64) -> String {
        let mean = |n: u64, calls: u64| n as f64 / calls.max(1) as f64;
        let send = match (self.send, self.send_calls, self.send_batch_max) {
            (Some(m), Some(c), Some(b)) => format!(
                "sent with {}{}: {c} calls, up to {b} datagrams per call; ",
                if m == "gso" { "UDP GSO" } else { m },
                if self.gso_refused {
                    " (the kernel refused GSO)"
                } else {
                    ""
                }
            ),
            _ => String::new(),
        };
        let coalesced = self
            .coalesced
            .map(|c| format!(", {c} buffers coalesced by GRO"))
            .unwrap_or_default();
        format!(
            "  {send}received with {}: {} calls, {:.1} datagrams per call{coalesced}\n",
            self.receive,
            self.receive_calls,
            mean(received, self.receive_calls)
        )
    }
}

/// Figures that belong to one mode.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Detail {
    /// Echo.
    Echo {
        /// Round trips asked for.
        count: u32,
        /// Replies received.
        replies: u32,
        /// Bytes in each request.
        size: usize,
    },
    /// File.
    File {
        /// Bytes asked for.
        size: u64,
        /// Every byte received was checked against the pattern.
        verified: bool,
        /// Every byte of the file arrived.
        complete: bool,
        /// From the request to the first file byte, µs.
        time_to_first_byte_us: f64,
        /// From the first to the last file byte, seconds.
        transfer_seconds: f64,
        /// The server's view (TCP): from FileReady until its last write
        /// returned, seconds — when the kernel had taken the data.
        #[serde(skip_serializing_if = "Option::is_none")]
        server_written_seconds: Option<f64>,
        /// The server's view (TCP): from FileReady until the last byte was
        /// acknowledged, seconds.
        #[serde(skip_serializing_if = "Option::is_none")]
        server_acked_seconds: Option<f64>,
    },
    /// Stream.
    Stream {
        /// Segments received.
        segments: u32,
        /// Segments asked for.
        count: u32,
        /// Segments the server says it sent (TCP). A UDP stream leaves it
        /// out: its datagram accounting carries the same count as `sent`,
        /// and a JSON object holds each key once.
        #[serde(skip_serializing_if = "Option::is_none")]
        sent: Option<u32>,
        /// Interval asked for, µs.
        interval_us: f64,
        /// Whole segment size, bytes.
        size: u32,
        /// RFC 3550 interarrival jitter at the end, µs.
        jitter_us: f64,
        /// Distribution of the |D| values behind it, µs.
        jitter_hist_us: Option<Percentiles>,
        /// Server's send time minus scheduled time, µs.
        schedule_error_us: Option<Percentiles>,
        /// The same for the last segment: how far from `t0 + (n-1)·interval`
        /// the schedule ended, µs.
        end_drift_us: Option<f64>,
        /// Where the one-way delays come from.
        clocks: &'static str,
    },
}

/// The note attached to one-way delays.
pub const SAME_HOST_CLOCKS: &str = "one-way delay = client receive time - server send time, both CLOCK_REALTIME; exact only when client and server share a host";

impl Report {
    /// A report of `bytes` received in `seconds`, its other figures empty.
    pub fn new(
        mode: &'static str,
        target: std::net::SocketAddr,
        bytes: u64,
        seconds: f64,
        detail: Detail,
        socket: SocketReport,
    ) -> Report {
        Report {
            mode,
            transport: match socket {
                SocketReport::Tcp(_) => "tcp",
                SocketReport::Udp(_) => "udp",
            },
            ip: if target.is_ipv6() { 6 } else { 4 },
            target: target.to_string(),
            bytes,
            seconds,
            goodput_bps: if seconds > 0.0 {
                bytes as f64 * 8.0 / seconds
            } else {
                0.0
            },
            latency_us: None,
            detail,
            udp: None,
            socket,
            overhead: None,
            captures: None,
            histogram: None,
            progress: Vec::new(),
            intervals: Vec::new(),
            spin: false,
            cpu: None,
        }
    }

    /// The text report for people.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let head = format!("{:<6} {} {}", self.mode, self.transport, self.target);
        match &self.detail {
            Detail::Echo {
                count,
                replies,
                size,
            } => {
                let _ = writeln!(
                    s,
                    "{head}: {replies} of {count} round trips of {size} bytes in {:.3} s",
                    self.seconds
                );
                if let Some(p) = &self.latency_us {
                    let _ = writeln!(s, "  round trip  {}", p.line());
                }
                if self.spin {
                    s.push_str(
                        "  busy-poll receive (--spin): the client polled a non-blocking recv while it waited, a whole CPU core busy\n",
                    );
                    if let Some(c) = &self.cpu {
                        let _ = writeln!(
                            s,
                            "  CPU time    {:.3} s user + {:.3} s sys in {:.3} s: {:.2} of one core",
                            c.user_seconds, c.sys_seconds, c.wall_seconds, c.cores
                        );
                    }
                }
            }
            Detail::File {
                size,
                verified,
                complete,
                time_to_first_byte_us,
                transfer_seconds,
                server_written_seconds,
                server_acked_seconds,
            } => {
                let what = match (*complete, *verified) {
                    (true, true) => "received, every byte verified".to_string(),
                    (false, true) => format!(
                        "requested: {} received, every one verified",
                        format_bytes(self.bytes)
                    ),
                    (_, false) => "NOT verified".to_string(),
                };
                let _ = writeln!(s, "{head}: {} {what}", format_bytes(*size));
                let _ = writeln!(
                    s,
                    "  time to first byte {time_to_first_byte_us:.1} µs, transfer {transfer_seconds:.6} s, total {:.6} s, goodput {}",
                    self.seconds,
                    format_bitrate(self.goodput_bps)
                );
                if let (Some(w), Some(a)) = (server_written_seconds, server_acked_seconds) {
                    let _ = writeln!(
                        s,
                        "  server: its last write returned after {w:.6} s (the kernel had taken the data, not sent it); the last byte was acknowledged after {a:.6} s"
                    );
                }
            }
            Detail::Stream {
                segments,
                count,
                sent,
                interval_us,
                size,
                jitter_us,
                jitter_hist_us,
                schedule_error_us,
                end_drift_us,
                ..
            } => {
                let sent = sent.map(u64::from).or(self.udp.as_ref().map(|u| u.sent));
                let sent = sent
                    .map(|n| format!(" (server sent {n})"))
                    .unwrap_or_default();
                let _ = writeln!(
                    s,
                    "{head}: {segments} of {count} segments of {size} bytes every {interval_us:.0} µs received{sent}"
                );
                if let Some(p) = &self.latency_us {
                    let _ = writeln!(s, "  one-way delay    {}  (same-host clocks)", p.line());
                }
                let _ = writeln!(s, "  jitter (RFC 3550) {jitter_us:.2} µs");
                if let Some(p) = jitter_hist_us {
                    let _ = writeln!(s, "  |D| per segment  {}", p.line());
                }
                if let Some(p) = schedule_error_us {
                    let _ = writeln!(
                        s,
                        "  schedule error   {}  (server send time - due time)",
                        p.line()
                    );
                }
                if let Some(d) = end_drift_us {
                    let _ = writeln!(
                        s,
                        "  end drift        {d:.2} µs  (the last segment's error)"
                    );
                }
            }
        }
        if let Some(u) = &self.udp {
            let _ = writeln!(
                s,
                "  datagrams: {} received + {} lost = {} sent ({:.3} % loss), {} duplicates, {} reordered; {}-byte segments, path MTU {}",
                u.datagrams,
                u.lost,
                u.sent,
                u.loss_percent,
                u.duplicates,
                u.reordered,
                u.segment_size,
                u.path_mtu
            );
            let ended = match u.ended_by {
                Some(Ending::EndMessage) => "  ended by the sender's End message\n",
                Some(Ending::Timeout) => {
                    "  ended by the receive timeout (no End message arrived; sent = the sender's plan)\n"
                }
                None => "",
            };
            s.push_str(ended);
            s.push_str(&u.io.line(u.datagrams + u.duplicates));
            if !u.missing.is_empty() {
                let runs: Vec<String> = u
                    .missing
                    .iter()
                    .map(|m| format!("{}-{}", m.first, m.last))
                    .collect();
                let _ = writeln!(s, "  first missing: {}", runs.join(", "));
            }
            if let Some(k) = &u.kernel {
                let _ = writeln!(
                    s,
                    "  kernel (whole namespace, over the run): {} datagrams in, {} receive-buffer drops, {} in errors",
                    k.in_datagrams, k.rcvbuf_errors, k.in_errors
                );
            }
        }
        if let Some(o) = &self.overhead {
            render_overhead(&mut s, o, self.goodput_bps);
        }
        if let Some(c) = &self.captures {
            if let Some(m) = &c.model {
                let _ = writeln!(s, "  model capture: {} ({} frames)", m.path, m.frames);
            }
            if let Some(l) = &c.live {
                let _ = writeln!(
                    s,
                    "  live capture on {}: {} ({} frames, {} bytes, {} dropped by the kernel)",
                    l.iface, l.path, l.frames, l.bytes, l.dropped
                );
            }
        }
        match &self.socket {
            SocketReport::Tcp(a) => {
                let _ = writeln!(
                    s,
                    "  socket: sndbuf {} rcvbuf {} nodelay {} mss {} (as the kernel applied them)",
                    a.sndbuf, a.rcvbuf, a.nodelay, a.mss
                );
            }
            SocketReport::Udp(a) => {
                let _ = writeln!(
                    s,
                    "  socket: sndbuf {} rcvbuf {} don't-fragment {} (as the kernel applied them)",
                    a.sndbuf, a.rcvbuf, a.dont_fragment
                );
            }
        }
        s
    }
}

fn render_overhead(s: &mut String, o: &Overhead, goodput_bps: f64) {
    let cap = o.capture.as_ref();
    // A TCP segment's payload is whatever TCP carries; a UDP datagram's
    // figure is what it carries after the lab's own header.
    let per = match o.kernel_raw {
        KernelRaw::Udp(_) => "data bytes per full datagram after the lab's 28-byte header",
        _ => "payload bytes per full segment",
    };
    let _ = writeln!(
        s,
        "  on the wire ({}, MTU {}, {} {per}):   model      kernel{}",
        o.link,
        o.mtu,
        o.segment_payload,
        if cap.is_some() { "     capture" } else { "" }
    );
    let row = |s: &mut String, name: &str, m: u64, k: u64, c: Option<u64>| {
        let c = c.map(|c| format!(" {c:>11}")).unwrap_or_default();
        let _ = writeln!(s, "    {name:<58} {m:>10} {k:>11}{c}");
    };
    row(
        s,
        "frames",
        o.model.frames,
        o.kernel.frames,
        cap.map(|c| c.frames),
    );
    let (m, k) = (&o.model, &o.kernel);
    row(s, "  with data", m.data_frames, k.data_frames, None);
    row(
        s,
        "  without data (pure ACKs, control)",
        m.ack_frames,
        k.ack_frames,
        None,
    );
    let retrans = cap.map(|c| c.retransmissions);
    row(
        s,
        "  retransmitted",
        m.retransmissions,
        k.retransmissions,
        retrans,
    );
    let cl = cap.map(|c| c.layers.named());
    let layers = m
        .layers
        .named()
        .into_iter()
        .zip(k.layers.named())
        .enumerate();
    for (i, ((name, mv), (_, kv))) in layers {
        row(s, &format!("bytes: {name}"), mv, kv, cl.map(|l| l[i].1));
    }
    row(
        s,
        "bytes on the wire",
        m.wire_bytes,
        k.wire_bytes,
        cap.map(|c| c.wire_bytes),
    );
    let _ = writeln!(
        s,
        "    goodput {}, wire rate {} (all headers, {} link)",
        format_bitrate(goodput_bps),
        format_bitrate(o.wire_rate_bps),
        o.link
    );
    match &o.kernel_raw {
        KernelRaw::Tcp(k) => {
            let mut opts = Vec::new();
            if k.timestamps {
                opts.push("timestamps".to_string());
            }
            if k.sack {
                opts.push("SACK".to_string());
            }
            if let Some((snd, rcv)) = k.wscale {
                opts.push(format!("window scale {snd}/{rcv}"));
            }
            let _ = writeln!(
                s,
                "    kernel (TCP_INFO): snd_mss {} rcv_mss {} pmtu {}, rtt {} µs (±{}), {} segments out ({} with data), {} in ({} with data), {} retransmitted; negotiated: {}",
                k.snd_mss,
                k.rcv_mss,
                k.pmtu,
                k.rtt_us,
                k.rttvar_us,
                k.segs_out,
                k.data_segs_out,
                k.segs_in,
                k.data_segs_in,
                k.total_retrans,
                if opts.is_empty() {
                    "no options".to_string()
                } else {
                    opts.join(", ")
                }
            );
        }
        KernelRaw::Udp(k) => {
            let _ = writeln!(
                s,
                "    kernel (/proc/net/snmp, whole namespace): {} datagrams in, {} out, {} fragments created, {} received for reassembly, {} reassembled",
                k.in_datagrams, k.out_datagrams, k.frag_creates, k.reasm_reqds, k.reasm_oks
            );
        }
    }
    for n in &o.notes {
        let _ = writeln!(s, "    why they differ: {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::beside::{CaptureColumn, Column};
    use crate::client::record::ModelReport;
    use crate::instruments::LiveReport;
    use crate::latency::Percentiles;

    fn file_report() -> Report {
        Report {
            mode: "file",
            transport: "tcp",
            ip: 4,
            target: "127.0.0.1:5005".into(),
            bytes: 1000,
            seconds: 0.001,
            goodput_bps: 8e6,
            latency_us: None,
            detail: Detail::File {
                size: 1000,
                verified: true,
                complete: true,
                time_to_first_byte_us: 50.0,
                transfer_seconds: 0.0009,
                server_written_seconds: None,
                server_acked_seconds: None,
            },
            udp: None,
            socket: SocketReport::Tcp(Applied::default()),
            overhead: None,
            captures: None,
            histogram: None,
            progress: Vec::new(),
            intervals: Vec::new(),
            spin: false,
            cpu: None,
        }
    }

    #[test]
    fn json_has_the_contract_keys() {
        let v = serde_json::to_value(file_report()).unwrap();
        for k in [
            "mode",
            "transport",
            "ip",
            "bytes",
            "verified",
            "seconds",
            "goodput_bps",
        ] {
            assert!(v.get(k).is_some(), "missing {k}: {v}");
        }
        assert_eq!(v["mode"], "file");
        assert_eq!(v["ip"], 4);
    }

    #[test]
    fn text_names_the_figures() {
        let t = file_report().render_text();
        assert!(t.contains("every byte verified"), "{t}");
        assert!(t.contains("goodput 8.00 Mbit/s"), "{t}");
    }

    fn pct(base: f64) -> Percentiles {
        Percentiles {
            count: 1000,
            min: base,
            mean: base * 1.5,
            p50: base * 1.4,
            p90: base * 2.0,
            p99: base * 3.25,
            p999: base * 4.5,
            max: base * 9.75,
        }
    }

    fn tcp_socket() -> SocketReport {
        let mut a = Applied::default();
        (a.sndbuf, a.rcvbuf, a.nodelay, a.mss) = (2_626_560, 131_072, true, 65_483);
        SocketReport::Tcp(a)
    }

    fn udp_socket() -> SocketReport {
        let mut a = UdpApplied::default();
        (a.sndbuf, a.rcvbuf, a.dont_fragment) = (212_992, 425_984, true);
        SocketReport::Udp(a)
    }

    fn column(frames: u64, wire_bytes: u64) -> Column {
        let mut c = Column {
            frames,
            data_frames: frames - 3,
            ack_frames: 3,
            retransmissions: 1,
            wire_bytes,
            layers: Default::default(),
        };
        let l = &mut c.layers;
        (l.payload, l.l4, l.l3, l.l2, l.padding, l.preamble_gap) = (1000, 320, 200, 140, 6, 240);
        c
    }

    /// A TCP overhead table with a capture column and every TCP option.
    fn tcp_overhead(options: bool) -> Overhead {
        let mut raw = KernelRaw::Tcp(Default::default());
        if let KernelRaw::Tcp(k) = &mut raw {
            (k.snd_mss, k.rcv_mss, k.pmtu) = (65_483, 536, 65_535);
            (k.rtt_us, k.rttvar_us) = (41, 12);
            (k.segs_out, k.data_segs_out, k.segs_in, k.data_segs_in) = (12, 9, 8, 1);
            k.total_retrans = 1;
            if options {
                (k.timestamps, k.sack, k.wscale) = (true, true, Some((7, 9)));
            }
        }
        let model = column(10, 1906);
        let mut capture_layers = model.layers;
        capture_layers.l2 = 141;
        Overhead {
            link: "loopback",
            mtu: 65_536,
            segment_payload: 65_483,
            model,
            kernel: column(11, 1966),
            kernel_raw: raw,
            capture: options.then_some(CaptureColumn {
                frames: 12,
                wire_bytes: 2000,
                layers: capture_layers,
                retransmissions: 2,
                control_frames: 5,
            }),
            wire_rate_bps: 15_248_000.0,
            notes: vec![
                "loopback carries no Ethernet preamble".into(),
                "the kernel counts GSO super-segments".into(),
            ],
            assumptions: vec!["no loss"],
        }
    }

    fn udp_overhead() -> Overhead {
        let mut raw = KernelRaw::Udp(Default::default());
        if let KernelRaw::Udp(k) = &mut raw {
            (k.in_datagrams, k.out_datagrams) = (700, 3);
            (k.frag_creates, k.reasm_reqds, k.reasm_oks) = (4, 5, 6);
        }
        Overhead {
            link: "ethernet",
            mtu: 1500,
            segment_payload: 1444,
            model: column(700, 1_050_000),
            kernel: column(703, 1_054_000),
            kernel_raw: raw,
            capture: None,
            wire_rate_bps: 8_400_000.5,
            notes: Vec::new(),
            assumptions: Vec::new(),
        }
    }

    fn udp_figures(ended_by: Option<Ending>, full: bool) -> UdpFigures {
        let mut kernel = UdpCounters::default();
        (kernel.in_datagrams, kernel.rcvbuf_errors, kernel.in_errors) = (698, 2, 3);
        UdpFigures {
            datagrams: 695,
            sent: 700,
            lost: 5,
            duplicates: 2,
            reordered: 7,
            loss_percent: 5.0 / 7.0,
            segment_size: 1472,
            path_mtu: 1500,
            ended_by,
            missing: if full {
                vec![
                    Missing {
                        first: 1444,
                        last: 2887,
                    },
                    Missing {
                        first: 10_108,
                        last: 14_439,
                    },
                ]
            } else {
                Vec::new()
            },
            kernel: full.then_some(kernel),
            io: TransferIo {
                send: full.then_some("gso"),
                send_calls: full.then_some(12),
                send_batch_max: full.then_some(64),
                gso_refused: full,
                receive: if full { "gro" } else { "recv" },
                receive_calls: 40,
                coalesced: full.then_some(9),
            },
        }
    }

    fn stream_detail(sent: Option<u32>, full: bool) -> Detail {
        Detail::Stream {
            segments: 98,
            count: 100,
            sent,
            interval_us: 10_000.0,
            size: 64,
            jitter_us: 3.456,
            jitter_hist_us: full.then(|| pct(2.0)),
            schedule_error_us: full.then(|| pct(50.0)),
            end_drift_us: full.then_some(-12.345),
            clocks: SAME_HOST_CLOCKS,
        }
    }

    /// Reports that between them reach every line of the text report.
    fn every_kind_of_report() -> Vec<Report> {
        let target: std::net::SocketAddr = "127.0.0.1:5005".parse().unwrap();
        let target6: std::net::SocketAddr = "[::1]:5005".parse().unwrap();
        let echo = Detail::Echo {
            count: 10,
            replies: 9,
            size: 32,
        };
        let mut spin_echo = Report::new("echo", target, 320, 0.0125, echo.clone(), tcp_socket());
        spin_echo.latency_us = Some(pct(12.3456));
        spin_echo.spin = true;
        spin_echo.cpu = Some(CpuUse::between((1.0, 0.5), (1.01, 0.5025), 0.0125));
        let mut udp_echo = Report::new("echo", target6, 320, 0.5, echo, udp_socket());
        udp_echo.spin = true;
        udp_echo.udp = Some(udp_figures(None, false));

        let file = |complete, verified, server: bool| Detail::File {
            size: 1_048_576,
            verified,
            complete,
            time_to_first_byte_us: 123.456,
            transfer_seconds: 0.0123456,
            server_written_seconds: server.then_some(0.004567891),
            server_acked_seconds: server.then_some(0.0123),
        };
        let mut tcp_file = Report::new(
            "file",
            target,
            1_048_576,
            0.0125,
            file(true, true, true),
            tcp_socket(),
        );
        tcp_file.overhead = Some(tcp_overhead(true));
        tcp_file.captures = Some(CapturesReport {
            model: Some(ModelReport {
                path: "model.pcapng".into(),
                frames: 10,
            }),
            live: Some(LiveReport {
                iface: "lo".into(),
                path: "live.pcapng".into(),
                frames: 12,
                bytes: 2000,
                dropped: 0,
            }),
        });
        let mut bare_file = Report::new(
            "file",
            target6,
            500_000,
            0.25,
            file(false, false, false),
            tcp_socket(),
        );
        bare_file.overhead = Some(tcp_overhead(false));
        bare_file.captures = Some(CapturesReport {
            model: None,
            live: None,
        });
        let mut udp_file = Report::new(
            "file",
            target,
            1_003_520,
            1.5,
            file(false, true, false),
            udp_socket(),
        );
        udp_file.udp = Some(udp_figures(Some(Ending::EndMessage), true));
        udp_file.overhead = Some(udp_overhead());
        udp_file.captures = Some(CapturesReport {
            model: Some(ModelReport {
                path: "/tmp/m.pcap".into(),
                frames: 703,
            }),
            live: None,
        });

        let mut tcp_stream = Report::new(
            "stream",
            target,
            6272,
            1.0,
            stream_detail(Some(100), false),
            tcp_socket(),
        );
        tcp_stream.latency_us = None;
        let mut udp_stream = Report::new(
            "stream",
            target6,
            6272,
            1.0,
            stream_detail(None, true),
            udp_socket(),
        );
        udp_stream.latency_us = Some(pct(30.0));
        udp_stream.udp = Some(udp_figures(Some(Ending::Timeout), false));
        let mut unsent_stream = Report::new(
            "stream",
            target,
            0,
            0.0,
            stream_detail(None, false),
            tcp_socket(),
        );
        unsent_stream.latency_us = Some(pct(1.0));
        if let Some(u) = &mut udp_stream.udp {
            (u.io.send, u.io.send_calls, u.io.send_batch_max) =
                (Some("sendto"), Some(700), Some(1));
            u.io.gso_refused = false;
        }
        vec![
            spin_echo,
            udp_echo,
            tcp_file,
            bare_file,
            udp_file,
            tcp_stream,
            udp_stream,
            unsent_stream,
        ]
    }

    /// The text of [`every_kind_of_report`], one report after another.
    fn every_kind_of_text() -> String {
        every_kind_of_report()
            .iter()
            .map(Report::render_text)
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn text_report_is_unchanged() {
        let want = include_str!("../../tests/data/report-text.txt");
        assert_eq!(every_kind_of_text(), want);
    }
}
