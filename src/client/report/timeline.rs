//! The timeline of a run in the report: its samples as `timeline` in the
//! JSON, and `queue_check` beside them; in the text, a few lines that sum
//! them up (the samples themselves are for the JSON and the chart).

use std::fmt::Write as _;

use serde::Serialize;

use crate::queue_check::QueueCheck;
use crate::timeline::Timeline;
use crate::units::format_bitrate;

/// The timeline and what was checked against it.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineReport {
    /// The samples.
    pub timeline: Timeline,
    /// With `--qdisc`: the queue's prediction beside the measured RTT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_check: Option<QueueCheck>,
}

impl TimelineReport {
    /// A few lines: the samples taken, each flow's RTT and cwnd range, the
    /// queue's peak, and the check.
    pub fn write_text(&self, s: &mut String) {
        let t = &self.timeline;
        let last = t.samples.last().map_or(0.0, |x| x.t);
        let _ = writeln!(
            s,
            "  timeline: {} samples over {last:.2} s, one due every {} ms",
            t.samples.len(),
            t.sample_us as f64 / 1e3
        );
        if !t.phases.is_empty() {
            let spans: Vec<String> = t
                .phases
                .iter()
                .map(|p| format!("{} {:.2}-{:.2} s", p.phase, p.start_t, p.end_t))
                .collect();
            let _ = writeln!(s, "    phases: {}", spans.join(", "));
        }
        for (i, dir) in t.directions.iter().enumerate() {
            let flows = || {
                t.samples
                    .iter()
                    .filter_map(|x| x.flows.get(i).copied().flatten())
            };
            let rtts: Vec<u32> = flows()
                .filter_map(|f| f.path_rtt_us(*dir == "download"))
                .collect();
            let (Some(lo), Some(hi)) = (rtts.iter().min(), rtts.iter().max()) else {
                continue;
            };
            // A download's sender is the server: its window and
            // retransmissions are not the client's to read.
            let sender = if *dir == "download" {
                " (the receiver's estimate)".to_string()
            } else {
                let cwnd = flows().map(|f| f.cwnd).max().unwrap_or(0);
                let retrans = flows().map(|f| f.retransmissions).max().unwrap_or(0);
                format!(", cwnd up to {cwnd} segments, {retrans} retransmitted")
            };
            let phase = match t.flow_phases.get(i) {
                Some(p) => format!(", {p} phase"),
                None => String::new(),
            };
            let _ = writeln!(
                s,
                "    flow {} ({dir}{phase}): RTT {:.1} to {:.1} ms{sender}",
                i + 1,
                f64::from(*lo) / 1e3,
                f64::from(*hi) / 1e3
            );
        }
        let queues = || t.samples.iter().filter_map(|x| x.queue);
        if let Some(peak) = queues().max_by_key(|q| q.backlog_bytes) {
            let drops = queues().next_back().map_or(0, |q| q.drops);
            let _ = writeln!(
                s,
                "    queue {}: peak backlog {} bytes ({} packets), {drops} drops",
                t.qdisc.as_deref().unwrap_or("?"),
                peak.backlog_bytes,
                peak.backlog_packets
            );
        }
        if let Some(c) = &self.queue_check {
            write_check(s, c);
        }
    }
}

/// The queue check's line (and its note).
pub fn write_check(s: &mut String, c: &QueueCheck) {
    let ms = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.1} ms"));
    let rate = c
        .bottleneck_bps
        .map_or("rate n/a".to_string(), |r| format_bitrate(r as f64));
    let _ = writeln!(
        s,
        "  queue check ({} loaded samples, medians): predicted RTT {} (base {} + backlog at {rate}), measured {} ({}){}",
        c.samples,
        ms(c.predicted_ms),
        ms(c.base_rtt_ms),
        ms(c.measured_ms),
        c.measured_from,
        c.difference_pct
            .map_or(String::new(), |d| format!(": {d:+.1} %"))
    );
    if let Some(n) = &c.note {
        let _ = writeln!(s, "    ({n})");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{FlowReading, QueueReading, Sampler};
    use std::time::Duration;

    #[test]
    fn the_text_sums_up_flows_queue_and_check() {
        let mut s = Sampler::new(Duration::from_millis(10));
        for i in 0..3u64 {
            let r = FlowReading {
                cwnd: 20,
                rtt_us: 2_000,
                min_rtt_us: 2_000,
                rcv_rtt_us: 50_000 + 1000 * i as u32,
                progress_bytes: i * 62_500,
                ..FlowReading::default()
            };
            let q = QueueReading {
                backlog_bytes: 300_000,
                backlog_packets: 200,
                drops: i,
            };
            s.record(Duration::from_millis(10 * i), &[Some(r), Some(r)], Some(q));
        }
        let mut timeline = s.finish();
        timeline.directions = vec!["download", "upload"];
        timeline.qdisc = Some("lab-r:to-a".into());
        let queue_check = crate::queue_check::queue_check(&timeline, Some(50_000_000));
        let mut text = String::new();
        TimelineReport {
            timeline,
            queue_check,
        }
        .write_text(&mut text);
        assert!(
            text.contains("timeline: 3 samples over 0.02 s, one due every 10 ms"),
            "{text}"
        );
        assert!(
            text.contains("flow 1 (download): RTT 50.0 to 52.0 ms (the receiver's estimate)"),
            "{text}"
        );
        assert!(
            text.contains("flow 2 (upload): RTT 2.0 to 2.0 ms, cwnd up to 20 segments"),
            "{text}"
        );
        assert!(
            text.contains("queue lab-r:to-a: peak backlog 300000 bytes (200 packets), 2 drops"),
            "{text}"
        );
        assert!(
            text.contains("queue check (2 loaded samples, medians): predicted RTT 50.0 ms"),
            "{text}"
        );
    }
}
