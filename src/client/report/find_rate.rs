//! What `--find-rate` found: every trial (the rate it offered, the rate
//! that arrived, what it sent and lost) and the fastest rate whose loss
//! stayed within the target (RFC 2544 §26.1 throughput), in the JSON as
//! `find_rate` and in the text as a table and a result line.

use std::fmt::Write as _;

use serde::Serialize;

use crate::units::format_bitrate;

/// One trial of the search. Rates are bits of UDP payload per second, lab
/// header included, as `--rate` counts them, over the trial's time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrialFigures {
    /// The pace the trial asked of the sender (the unpaced trial: the rate
    /// its sender reached).
    pub offered_bps: u64,
    /// The rate the sender reached: its datagrams over the trial's time
    /// (beside `offered_bps`, how exact the lab's pace is).
    pub sent_bps: u64,
    /// The rate that arrived: the datagrams received over the trial's time.
    pub received_bps: u64,
    /// Datagrams sent (the sender's End).
    pub sent: u64,
    /// Datagrams sent and never received.
    pub lost: u64,
    /// `lost / sent`, percent.
    pub loss_percent: f64,
    /// Whether its loss was within the target.
    pub passed: bool,
    /// Whether it ran unpaced (the top of the range).
    pub unpaced: bool,
}

/// The search and its result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindRate {
    /// The fastest offered rate whose loss was within the target, bit/s;
    /// `null` when every trial lost more.
    pub rate_bps: Option<u64>,
    /// The lowest offered rate that lost more than the target, bit/s
    /// (`null`: none did, the unpaced trial passed).
    pub failed_bps: Option<u64>,
    /// The most loss a passing trial may have, percent.
    pub loss_target: f64,
    /// Where the search stops: the failing rate within this fraction of
    /// the passing one (0.01: 1 % of the rate).
    pub resolution: f64,
    /// How long each trial sent, seconds.
    pub trial_seconds: f64,
    /// Which way the trials' datagrams went: `download` or `upload`.
    pub direction: &'static str,
    /// How the client's thread was scheduled while the trials ran
    /// (`SCHED_FIFO priority 10`, or normal priority and why).
    pub receiver_priority: String,
    /// Every trial, in order.
    pub trials: Vec<TrialFigures>,
}

impl TrialFigures {
    /// The trial's line of the text.
    pub fn line(&self, n: usize) -> String {
        let offered = if self.unpaced {
            "unpaced".to_string()
        } else {
            format_bitrate(self.offered_bps as f64)
        };
        format!(
            "  trial {n:>2}: offered {offered:>15}, sent {:>15}, received {:>15}: {} sent, {} lost ({:.3} %) {}",
            format_bitrate(self.sent_bps as f64),
            format_bitrate(self.received_bps as f64),
            self.sent,
            self.lost,
            self.loss_percent,
            if self.passed { "pass" } else { "LOSS" }
        )
    }
}

impl FindRate {
    /// The result's line.
    pub fn result_line(&self) -> String {
        let target = if self.loss_target == 0.0 {
            "no loss".to_string()
        } else {
            format!("at most {} % loss", self.loss_target)
        };
        match (self.rate_bps, self.failed_bps) {
            (Some(r), Some(f)) => format!(
                "throughput (RFC 2544 §26.1, {target}): {} of UDP payload ({r} bit/s); {} lost more (resolution {} % of the rate)",
                format_bitrate(r as f64),
                format_bitrate(f as f64),
                self.resolution * 100.0
            ),
            (Some(r), None) => format!(
                "throughput (RFC 2544 §26.1, {target}): {} of UDP payload ({r} bit/s), the unpaced rate: nothing faster could be offered",
                format_bitrate(r as f64)
            ),
            (None, _) => format!(
                "throughput (RFC 2544 §26.1, {target}): none: every trial lost more, the slowest too (the receiver cannot keep up)"
            ),
        }
    }

    /// The lines of the text report: the trials, then the result.
    pub fn write_text(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "find-rate: {} trials of {} s each ({}, the client at {}), rates in UDP payload bit/s as --rate counts them",
            self.trials.len(),
            self.trial_seconds,
            self.direction,
            self.receiver_priority
        );
        for (i, t) in self.trials.iter().enumerate() {
            let _ = writeln!(s, "{}", t.line(i + 1));
        }
        let _ = writeln!(s, "{}", self.result_line());
    }
}
