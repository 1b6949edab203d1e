//! Several flows in one report (`-P N`, `--bidir`): a line per flow, as
//! iperf3 prints its streams (`[  1] …`), then the sums (`[SUM] …`), one
//! per direction with `--bidir`.

use std::fmt::Write as _;

use serde::Serialize;

use super::Report;
use crate::account::beside::Overhead;
use crate::units::format_bitrate;

/// One flow of several.
#[derive(Debug, Clone, Serialize)]
pub struct FlowFigures {
    /// Its number, from 1.
    pub flow: u32,
    /// `download` or `upload`.
    pub direction: &'static str,
    /// Payload bytes that arrived, verified.
    pub bytes: u64,
    /// From its request to its last byte, seconds.
    pub seconds: f64,
    /// `bytes` × 8 / `seconds`.
    pub goodput_bps: f64,
    /// Every byte of it arrived and was verified.
    pub verified: bool,
    /// Why it failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Its own on-wire table: model, kernel (and its frames in the live
    /// capture).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overhead: Option<Overhead>,
    /// Its bytes over time: (seconds since the flows' common start,
    /// bytes so far), for `--plot`.
    #[serde(skip)]
    pub progress: Vec<(f64, u64)>,
    /// The client's port of it, to find its frames in a capture.
    #[serde(skip)]
    pub port: Option<u16>,
}

impl FlowFigures {
    /// Flow `flow`'s figures: `bytes` in `seconds`.
    pub fn new(flow: u32, direction: &'static str, bytes: u64, seconds: f64) -> FlowFigures {
        FlowFigures {
            flow,
            direction,
            bytes,
            seconds,
            goodput_bps: rate(bytes, seconds),
            verified: false,
            error: None,
            overhead: None,
            progress: Vec::new(),
            port: None,
        }
    }

    /// Its line: `[  1] download  …`.
    pub fn line(&self) -> String {
        let tail = match &self.error {
            Some(e) => format!("FAILED: {e}"),
            None if self.verified => "verified".to_string(),
            None => "NOT verified".to_string(),
        };
        row(
            &format!("{:3}", self.flow),
            self.direction,
            self.bytes,
            self.seconds,
            tail,
        )
    }
}

/// One direction's flows, summed (`--bidir`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DirectionSum {
    /// Payload bytes of its flows.
    pub bytes: u64,
    /// From the common start to its last flow's end, seconds.
    pub seconds: f64,
    /// `bytes` × 8 / `seconds`.
    pub goodput_bps: f64,
    /// Every flow arrived whole and verified.
    pub verified: bool,
}

impl DirectionSum {
    /// The sum of `flows` of `direction`, over the time from the common
    /// start to the last one's end (`ends`: seconds since the start, per flow).
    pub fn of(flows: &[FlowFigures], ends: &[f64], direction: &str) -> DirectionSum {
        let mine = || {
            flows
                .iter()
                .zip(ends)
                .filter(move |(f, _)| f.direction == direction)
        };
        let bytes = mine().map(|(f, _)| f.bytes).sum();
        let seconds = mine().map(|(_, e)| *e).fold(0.0, f64::max);
        DirectionSum {
            bytes,
            seconds,
            goodput_bps: rate(bytes, seconds),
            verified: mine().all(|(f, _)| f.verified),
        }
    }
}

/// `bytes` × 8 / `seconds`, 0 over no time.
pub fn rate(bytes: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        bytes as f64 * 8.0 / seconds
    } else {
        0.0
    }
}

fn row(id: &str, direction: &str, bytes: u64, seconds: f64, tail: String) -> String {
    format!(
        "[{id}] {direction:<9} {:>14} in {seconds:9.6} s  {:>14}  {tail}",
        crate::units::format_bytes_short(bytes),
        format_bitrate(rate(bytes, seconds))
    )
}

/// The table of a report of several flows: a line per flow, the sum per
/// direction with `--bidir`, and the sum of all.
pub(super) fn write(s: &mut String, r: &Report) {
    let _ = writeln!(
        s,
        "[ ID] direction          bytes in   seconds         goodput"
    );
    for f in &r.flows {
        let _ = writeln!(s, "{}", f.line());
    }
    let verdict = |v: bool| if v { "verified" } else { "NOT verified" }.to_string();
    for (name, sum) in [("download", &r.download), ("upload", &r.upload)] {
        if let Some(d) = sum {
            let _ = writeln!(
                s,
                "{}",
                row("SUM", name, d.bytes, d.seconds, verdict(d.verified))
            );
        }
    }
    let all = r.flows.iter().all(|f| f.verified);
    let _ = writeln!(
        s,
        "{}",
        row("SUM", r.direction, r.bytes, r.seconds, verdict(all))
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flows() -> Vec<FlowFigures> {
        let mut v = vec![
            FlowFigures::new(1, "download", 4 << 20, 0.5),
            FlowFigures::new(2, "download", 4 << 20, 1.0),
            FlowFigures::new(3, "upload", 1 << 20, 0.25),
        ];
        for f in &mut v {
            f.verified = true;
        }
        v
    }

    #[test]
    fn a_direction_sums_its_flows_over_the_time_to_its_last_end() {
        let f = flows();
        let d = DirectionSum::of(&f, &[0.5, 1.0, 0.25], "download");
        assert_eq!(d.bytes, 8 << 20);
        assert_eq!(d.seconds, 1.0);
        assert!((d.goodput_bps - (8u64 << 20) as f64 * 8.0).abs() < 1e-6);
        assert!(d.verified);
        let u = DirectionSum::of(&f, &[0.5, 1.0, 0.25], "upload");
        assert_eq!((u.bytes, u.seconds), (1 << 20, 0.25));
    }

    #[test]
    fn a_flow_line_says_its_verdict_or_its_failure() {
        let mut f = FlowFigures::new(12, "download", 1 << 20, 0.5);
        assert_eq!(
            f.line(),
            "[ 12] download        1.00 MiB in  0.500000 s    16.78 Mbit/s  NOT verified"
        );
        f.error = Some("the server refused: busy".into());
        assert!(f.line().ends_with("FAILED: the server refused: busy"));
    }
}
