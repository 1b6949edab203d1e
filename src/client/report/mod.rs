//! What a client run measured: one [`Report`] per action, rendered as text
//! for people or as the JSON object of the command-line contract.
//!
//! Every figure is measured by the client (round-trip times, receive times,
//! byte counts) or carried from the server (a stream segment's scheduled and
//! real send times). One-way delays compare the server's clock with the
//! client's: meaningful on one host, where both read the same clock.
//!
//! The text report is written part by part, in the order it prints:
//! - `flows`: with several flows, a line per flow and their sums.
//! - `figures`: the headline and the action's own figures (echo, file,
//!   stream).
//! - `cpu`: each side's CPU over the transfer; `server`: the server's view
//!   of it.
//! - `udp`: UDP's datagram accounting and how the datagrams crossed the
//!   system-call boundary.
//! - `overhead`: the on-wire table, model beside kernel (and capture), or
//!   several flows' tables summed.
//! - `captures`: where the model and live captures went.
//! - `socket`: the socket's options as the kernel applied them.
//! - `timeline`: the samples of `--timeline` and the queue check.

mod capture_rtt;
mod captures;
mod cpu;
mod figures;
mod find_rate;
mod flows;
mod one_way;
mod overhead;
mod server;
mod socket;
mod stamps;
pub mod timeline;
mod udp;

use serde::Serialize;

pub use capture_rtt::CaptureObserver;
pub use cpu::{CpuFigures, CpuUse};
pub use find_rate::{FindRate, TrialFigures};
pub use flows::{DirectionSum, FlowFigures};
pub use one_way::{OneWayReport, SegmentsMissing};
pub use server::{EcnView, ServerView};
pub use socket::SocketReport;
pub use stamps::{MissingStamps, TimestampsReport, hardware_note};
pub use timeline::TimelineReport;
pub use udp::{Ending, Missing, TransferIo, UdpFigures};

use super::record::CapturesReport;
use super::ticker::Interval;
use crate::account::beside::{Overhead, OverheadSum};
use crate::histograms::NamedHistogram;
use crate::latency::Percentiles;

/// One action's measurements.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// "echo", "file" or "stream".
    pub mode: &'static str,
    /// A file's direction: "download", "upload" or "bidir" (empty, and
    /// left out, for echo and stream).
    #[serde(skip_serializing_if = "str::is_empty")]
    pub direction: &'static str,
    /// "tcp" or "udp".
    pub transport: &'static str,
    /// 4 or 6.
    pub ip: u8,
    /// The server's address.
    pub target: String,
    /// Payload bytes received (several flows: their sum).
    pub bytes: u64,
    /// From the request to the last byte, seconds (several flows: from
    /// their common start to the last one's end).
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
    /// With several flows, in place of `overhead`: every flow's table
    /// summed row by row (each flow's own is in `flows`).
    #[serde(rename = "overhead", skip_serializing_if = "Option::is_none")]
    pub overhead_sum: Option<OverheadSum>,
    /// Where the model and live captures went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub captures: Option<CapturesReport>,
    /// The latency histogram behind `latency_us` (for `--hgrm`, `--plot`).
    #[serde(skip)]
    pub histogram: Option<NamedHistogram>,
    /// File bytes received over time: (seconds since the request, bytes).
    #[serde(skip)]
    pub progress: Vec<(f64, u64)>,
    /// Interval reports (`-i`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub intervals: Vec<Interval>,
    /// Whether the client busy-polled its receives (`--spin`).
    pub spin: bool,
    /// An echo's kernel timestamps: network RTT, server time, send path
    /// and wake-up, or why there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamps: Option<TimestampsReport>,
    /// Each side's CPU over the action (the client's measured with
    /// `--spin` and with several flows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuFigures>,
    /// The server's view of the transfer, when it sent its results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerView>,
    /// UDP with `--ecn`: the ECN fields of the datagrams the client
    /// received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecn: Option<EcnView>,
    /// With several flows: each flow's figures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<FlowFigures>,
    /// With `--bidir`: the download flows' sum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download: Option<DirectionSum>,
    /// With `--bidir`: the upload flows' sum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<DirectionSum>,
    /// With `--find-rate`: the search; the rest of the report is that of
    /// the fastest trial that passed (or the last one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub find_rate: Option<FindRate>,
    /// `--timeline`: the samples (`timeline`) and, with `--qdisc`,
    /// `queue_check`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<TimelineReport>,
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
            direction: match detail {
                Detail::File { .. } => "download",
                _ => "",
            },
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
            overhead_sum: None,
            captures: None,
            histogram: None,
            progress: Vec::new(),
            intervals: Vec::new(),
            spin: false,
            timestamps: None,
            cpu: None,
            server: None,
            ecn: None,
            flows: Vec::new(),
            download: None,
            upload: None,
            find_rate: None,
            timeline: None,
        }
    }

    /// The text report for people: the action's figures, then UDP's
    /// datagram accounting, the overhead table, the captures and the socket.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        if let Some(f) = &self.find_rate {
            f.write_text(&mut s);
            s.push_str("the report of that trial:\n");
        }
        if !self.flows.is_empty() {
            flows::write(&mut s, self);
        }
        figures::write(&mut s, self);
        if let (false, Some(c)) = (self.spin, &self.cpu) {
            c.write_text(&mut s);
        }
        if let Some(v) = &self.server {
            v.write_text(&mut s);
        }
        if let Some(u) = &self.udp {
            u.write_text(&mut s);
        }
        if let Some(e) = &self.ecn {
            s.push_str(&format!(
                "  ECN received: {} Not-ECT, {} ECT(0), {} ECT(1), {} CE\n",
                e.not_ect, e.ect0, e.ect1, e.ce
            ));
        }
        if let Some(o) = &self.overhead {
            overhead::write(&mut s, o, self.goodput_bps);
        }
        if let Some(o) = &self.overhead_sum {
            overhead::write_sum(&mut s, o, &self.flows, self.goodput_bps);
        }
        if let Some(t) = &self.timeline {
            t.write_text(&mut s);
        }
        if let Some(c) = &self.captures {
            captures::write(&mut s, c);
        }
        self.socket.write_text(&mut s);
        s
    }
}

#[cfg(test)]
mod tests;
