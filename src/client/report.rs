//! What a client run measured: one [`Report`] per action, rendered as text
//! for people or as the JSON object of the command-line contract.
//!
//! Every figure is measured by the client (round-trip times, receive times,
//! byte counts) or carried from the server (a stream segment's scheduled and
//! real send times). One-way delays compare the server's clock with the
//! client's: meaningful on one host, where both read the same clock.

use std::fmt::Write as _;

use serde::Serialize;

use crate::latency::Percentiles;
use crate::net::Applied;
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
    /// The client socket's options as the kernel applied them.
    pub socket: Applied,
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
        /// Every byte checked against the pattern.
        verified: bool,
        /// From the request to the first file byte, µs.
        time_to_first_byte_us: f64,
        /// From the first to the last file byte, seconds.
        transfer_seconds: f64,
    },
    /// Stream.
    Stream {
        /// Segments received.
        segments: u32,
        /// Segments asked for.
        count: u32,
        /// Segments the server says it sent.
        sent: u32,
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
        /// Where the one-way delays come from.
        clocks: &'static str,
    },
}

/// The note attached to one-way delays.
pub const SAME_HOST_CLOCKS: &str = "one-way delay = client receive time - server send time, both CLOCK_REALTIME; exact only when client and server share a host";

impl Report {
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
            }
            Detail::File {
                size,
                verified,
                time_to_first_byte_us,
                transfer_seconds,
            } => {
                let _ = writeln!(
                    s,
                    "{head}: {} {}",
                    format_bytes(*size),
                    if *verified {
                        "received, every byte verified"
                    } else {
                        "NOT verified"
                    }
                );
                let _ = writeln!(
                    s,
                    "  time to first byte {time_to_first_byte_us:.1} µs, transfer {transfer_seconds:.6} s, total {:.6} s, goodput {}",
                    self.seconds,
                    format_bitrate(self.goodput_bps)
                );
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
                ..
            } => {
                let _ = writeln!(
                    s,
                    "{head}: {segments} of {count} segments of {size} bytes every {interval_us:.0} µs received (server sent {sent})"
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
            }
        }
        let _ = writeln!(
            s,
            "  socket: sndbuf {} rcvbuf {} nodelay {} mss {} (as the kernel applied them)",
            self.socket.sndbuf, self.socket.rcvbuf, self.socket.nodelay, self.socket.mss
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                time_to_first_byte_us: 50.0,
                transfer_seconds: 0.0009,
            },
            socket: Applied::default(),
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
}
