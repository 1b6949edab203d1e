//! The report of `client --rpm`: RPM and its confidence, overall and per
//! phase, idle and loaded round trips, goodput per phase, and each probe
//! kind's trimmed mean, samples and losses; as text for people and JSON
//! for programs.

use std::fmt::Write as _;

use serde::Serialize;

use crate::client::report::TimelineReport;
use crate::client::report::timeline::write_check;
use crate::latency::{Percentiles, Recorder};
use crate::queue_check::QueueCheck;
use crate::responsiveness::{CONFIDENCE_RULE, Kind, ProbeSet, RPM_RULE, Responsiveness, split};
use crate::session::offset::{Estimate, Exchange};
use crate::units::format_bitrate;

/// What `client --rpm` measured.
#[derive(Debug, Clone, Serialize)]
pub struct RpmReport {
    /// `rpm`.
    pub mode: &'static str,
    /// `tcp`: the load's transport.
    pub transport: &'static str,
    /// 4 or 6.
    pub ip: u8,
    /// The server.
    pub target: String,
    /// Round trips per minute under load, every loaded phase's probes
    /// together; `None` with no probe answered.
    pub rpm: Option<f64>,
    /// `low`, `medium` or `high`.
    pub confidence: Option<&'static str>,
    /// How RPM is computed.
    pub rule: &'static str,
    /// How the confidence is decided.
    pub confidence_rule: &'static str,
    /// The foreign probes' round trips of the idle phase, µs.
    pub idle_rtt_us: Option<Percentiles>,
    /// The foreign probes' round trips of every loaded phase, µs.
    pub loaded_rtt_us: Option<Percentiles>,
    /// Whether the UDP probes ran: `answered`, or why not.
    pub udp_probes: String,
    /// The clocks the UDP probes' split rests on; `None` (null) when no
    /// probe came back with the server's times.
    pub udp_clock: Option<UdpClock>,
    /// The idle phase.
    pub idle: PhaseFigures,
    /// Each loaded phase, in the order run.
    pub phases: Vec<PhaseFigures>,
    /// `--timeline`: the samples of the whole run (`timeline`); the queue
    /// is checked per phase, in each phase's `queue_check`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<TimelineReport>,
}

/// One phase's figures.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseFigures {
    /// `idle`, `download`, `upload` or `bidir`.
    pub direction: &'static str,
    /// How long it ran.
    pub seconds: f64,
    /// Load flows per direction at its end (0 idle).
    pub flows: u32,
    /// Bytes the load delivered within the phase (`TCP_INFO`).
    pub bytes: u64,
    /// `bytes` over `seconds`, bit/s.
    pub goodput_bps: f64,
    /// Whether its goodput reached stability.
    pub stable: bool,
    /// Its own RPM.
    pub rpm: Option<f64>,
    /// Its own confidence.
    pub confidence: Option<&'static str>,
    /// The foreign probes' round trips, µs.
    pub loaded_rtt_us: Option<Percentiles>,
    /// The load connections' own round-trip times as read from
    /// `TCP_INFO`, µs.
    pub self_rtt_us: Option<Percentiles>,
    /// Each probe kind.
    pub probes: Vec<ProbeFigures>,
    /// The UDP probes' way up (client to server), µs, when split.
    pub udp_up_us: Option<Percentiles>,
    /// Their way down (server to client), µs, when split.
    pub udp_down_us: Option<Percentiles>,
    /// `available`, or why the UDP round trips are not split.
    pub udp_split: String,
    /// With `--qdisc`, a loaded phase's queue checked against its RTTs
    /// within the phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_check: Option<QueueCheck>,
}

/// One probe kind's figures in a phase.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeFigures {
    /// `connect`, `echo`, `udp` or `self`.
    pub kind: &'static str,
    /// Round trips measured.
    pub samples: usize,
    /// Probes that got no answer in time.
    pub lost: u64,
    /// The mean without the largest 10 %, µs.
    pub trimmed_mean_us: Option<f64>,
}

/// The clocks of the UDP probes' split.
#[derive(Debug, Clone, Serialize)]
pub struct UdpClock {
    /// The server's clock minus the client's, µs.
    pub offset_us: f64,
    /// The true offset is within `offset_us` ± this, µs.
    pub bound_us: f64,
    /// The stamped UDP probes it was estimated from.
    pub exchanges: usize,
    /// How the split is computed and when it is reported.
    pub rule: &'static str,
}

impl UdpClock {
    /// From the estimator's figures.
    pub(super) fn new(e: &Estimate) -> UdpClock {
        UdpClock {
            offset_us: e.offset_ns as f64 / 1e3,
            bound_us: e.bound_ns as f64 / 1e3,
            exchanges: e.exchanges,
            rule: split::SPLIT_RULE,
        }
    }
}

/// Percentiles of µs values.
pub(super) fn percentiles(us: &[f64]) -> Option<Percentiles> {
    let mut r = Recorder::new();
    for v in us {
        r.record_ns((v * 1000.0) as i128);
    }
    r.percentiles()
}

impl PhaseFigures {
    /// A phase's figures from its probes and load.
    pub(super) fn new(
        direction: &'static str,
        seconds: f64,
        flows: u32,
        bytes: u64,
        stable: bool,
        set: &ProbeSet,
    ) -> PhaseFigures {
        let r: Option<Responsiveness> = set.responsiveness(stable);
        PhaseFigures {
            direction,
            seconds,
            flows,
            bytes,
            goodput_bps: if seconds > 0.0 {
                bytes as f64 * 8.0 / seconds
            } else {
                0.0
            },
            stable,
            rpm: r.as_ref().map(|r| r.rpm),
            confidence: r.map(|r| r.confidence.name()),
            loaded_rtt_us: percentiles(&set.foreign_samples()),
            self_rtt_us: percentiles(set.samples(Kind::SelfRtt)),
            probes: set
                .kinds()
                .into_iter()
                .map(|k| ProbeFigures {
                    kind: k.kind.name(),
                    samples: k.samples,
                    lost: k.lost,
                    trimmed_mean_us: k.trimmed_mean_us,
                })
                .collect(),
            udp_up_us: None,
            udp_down_us: None,
            udp_split: split::NO_PROBE.to_string(),
            queue_check: None,
        }
    }

    /// Splits the phase's UDP round trips up and down on `clocks`
    /// ([`split::split`]), or says why not.
    pub(super) fn set_split(&mut self, clocks: Option<&Estimate>, exchanges: &[Exchange]) {
        match split::split(clocks, exchanges) {
            Ok(ways) => {
                let (up, down): (Vec<f64>, Vec<f64>) = ways.into_iter().unzip();
                self.udp_up_us = percentiles(&up);
                self.udp_down_us = percentiles(&down);
                self.udp_split = "available".to_string();
            }
            Err(why) => self.udp_split = why,
        }
    }

    fn lines(&self, out: &mut String) {
        let rpm = match (self.rpm, self.confidence) {
            (Some(r), Some(c)) => format!("RPM {r:.0} ({c} confidence)"),
            _ => "RPM not available (no probe answered)".to_string(),
        };
        if self.direction == "idle" {
            let _ = writeln!(out, "idle      {:.1} s, no load: {rpm}", self.seconds);
        } else {
            let _ = writeln!(
                out,
                "{:<9} {:.1} s, {} flow(s) per direction, goodput {}{}: {rpm}",
                self.direction,
                self.seconds,
                self.flows,
                format_bitrate(self.goodput_bps),
                if self.stable {
                    ", stable"
                } else {
                    ", never stable"
                },
            );
        }
        if let Some(p) = &self.loaded_rtt_us {
            let _ = writeln!(out, "  probe RTT {}", p.line());
        }
        if let Some(p) = &self.self_rtt_us {
            let _ = writeln!(out, "  self RTT  {}", p.line());
        }
        let kinds: Vec<String> = self
            .probes
            .iter()
            .filter(|p| p.samples > 0 || p.lost > 0)
            .map(|p| match p.trimmed_mean_us {
                Some(tm) => format!(
                    "{} {:.2} ms ({}, {} lost)",
                    p.kind,
                    tm / 1000.0,
                    p.samples,
                    p.lost
                ),
                None => format!("{} - (0, {} lost)", p.kind, p.lost),
            })
            .collect();
        let _ = writeln!(out, "  trimmed means: {}", kinds.join(", "));
        match (&self.udp_up_us, &self.udp_down_us) {
            (Some(up), Some(down)) => {
                let _ = writeln!(out, "  udp up    {}", up.line());
                let _ = writeln!(out, "  udp down  {}", down.line());
            }
            _ => {
                let _ = writeln!(out, "  udp up/down: {}", self.udp_split);
            }
        }
        if let Some(c) = &self.queue_check {
            write_check(out, c);
        }
    }
}

impl RpmReport {
    /// The report as text.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "responsiveness under load, {} (tcp load)", self.target);
        self.idle.lines(&mut out);
        for p in &self.phases {
            p.lines(&mut out);
        }
        if let Some(p) = &self.idle_rtt_us {
            let _ = writeln!(out, "idle RTT    {}", p.line());
        }
        if let Some(p) = &self.loaded_rtt_us {
            let _ = writeln!(out, "loaded RTT  {}", p.line());
        }
        let _ = writeln!(out, "udp probes: {}", self.udp_probes);
        if let Some(c) = &self.udp_clock {
            let _ = writeln!(
                out,
                "  their clocks: server minus client {:+.1} µs within {:.1} µs ({} stamped probes); {}",
                c.offset_us, c.bound_us, c.exchanges, c.rule
            );
        }
        if let Some(t) = &self.timeline {
            t.write_text(&mut out);
        }
        match (self.rpm, self.confidence) {
            (Some(r), Some(c)) => {
                let _ = writeln!(out, "RPM {r:.0} ({c} confidence)");
            }
            _ => {
                let _ = writeln!(out, "RPM not available: no probe answered under load");
            }
        }
        let _ = writeln!(out, "  {}", RPM_RULE);
        let _ = writeln!(out, "  confidence: {}", CONFIDENCE_RULE);
        out
    }
}
