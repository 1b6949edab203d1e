//! The timeline checked against itself: for each loaded sample, the round
//! trip the bottleneck's queue predicts beside the one measured at that
//! moment, summed up at their medians (`queue_check` in the report).
//!
//! The model: a packet that joins a queue of `backlog_bytes` behind a
//! shaper of `rate` bit/s waits `backlog_bytes × 8 / rate` before it leaves,
//! so a round trip through it takes the base RTT plus that wait. Both sides
//! count the same bytes: `tc` gives the backlog and a token bucket's rate
//! in frames with their link header. The base RTT is the least RTT the
//! flows saw (`tcpi_min_rtt`, which a flow that only receives keeps from
//! its handshake, before any load), or failing that the least measured.
//!
//! The measurement: the latency probes that ended in the sample when there
//! are any (those that cross the path on connections of their own: a
//! `self` probe is a load flow's own RTT, which the flows' samples hold
//! already), else the flows' own RTTs, each as [`FlowSample::path_rtt_us`]
//! reads it, the median of the flows. A loaded sample is one with a queue
//! reading and a flow that moved payload since the sample before. Pure
//! code: a [`Timeline`] in, a [`QueueCheck`] out.

use serde::Serialize;

use crate::timeline::{FlowSample, ProbeReading, Sample, Timeline};

/// The kind of probe that is a load flow's own RTT, left out of the
/// measurement.
pub const SELF_PROBE: &str = "self";

/// Where the measured RTTs came from.
pub const FROM_PROBES: &str = "probes";
/// The flows' `TCP_INFO`.
pub const FROM_TCP_INFO: &str = "tcp_info";

/// The queue's prediction beside the measurement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueCheck {
    /// The shaper's rate, bit/s, as `tc` gives it; `None` (null) when the
    /// watched interface has no shaper whose rate `tc` shows.
    pub bottleneck_bps: Option<u64>,
    /// The base RTT, ms (see the [module docs](self)).
    pub base_rtt_ms: Option<f64>,
    /// Loaded samples with both a queue reading and a measured RTT.
    pub samples: usize,
    /// The median of the predicted RTTs, ms; `None` without a rate or a
    /// base RTT.
    pub predicted_ms: Option<f64>,
    /// The median of the measured RTTs, ms.
    pub measured_ms: Option<f64>,
    /// `(measured − predicted) / predicted`, percent.
    pub difference_pct: Option<f64>,
    /// `probes` or `tcp_info`.
    pub measured_from: &'static str,
    /// Why a figure is missing, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Checks the timeline's queue against its RTTs; `None` when no sample
/// holds a queue (no `--qdisc`).
pub fn queue_check(t: &Timeline, bottleneck_bps: Option<u64>) -> Option<QueueCheck> {
    if t.samples.iter().all(|s| s.queue.is_none()) {
        return None;
    }
    let receiving: Vec<bool> = t.directions.iter().map(|d| *d == "download").collect();
    let probes = t
        .samples
        .iter()
        .any(|s| foreign(s).any(|p| p.rtt_us.is_some()));
    let base_us = base_rtt_us(t, &receiving);
    let mut predicted = Vec::new();
    let mut measured = Vec::new();
    for s in t.samples.iter().filter(|s| loaded(s)) {
        let (Some(q), Some(m)) = (s.queue, measured_us(s, &receiving, probes)) else {
            continue;
        };
        measured.push(m / 1e3);
        if let (Some(rate), Some(base)) = (bottleneck_bps.filter(|r| *r > 0), base_us) {
            let wait_us = q.backlog_bytes as f64 * 8.0 / rate as f64 * 1e6;
            predicted.push((base + wait_us) / 1e3);
        }
    }
    let predicted_ms = median(&mut predicted);
    let measured_ms = median(&mut measured);
    let note = if bottleneck_bps.is_none() {
        Some(
            "the watched interface has no shaper whose rate tc shows (tbf, cake, htb): no prediction",
        )
    } else if measured.is_empty() {
        Some("no loaded sample had both a queue reading and a measured RTT")
    } else if base_us.is_none() {
        Some("no RTT was measured to serve as the base RTT")
    } else if elsewhere(predicted_ms, measured_ms, base_us) {
        Some(ELSEWHERE)
    } else {
        None
    };
    Some(QueueCheck {
        bottleneck_bps,
        base_rtt_ms: base_us.map(|b| b / 1e3),
        samples: measured.len(),
        predicted_ms,
        measured_ms,
        difference_pct: predicted_ms
            .zip(measured_ms)
            .filter(|(p, _)| *p > 0.0)
            .map(|(p, m)| (m - p) / p * 100.0),
        measured_from: if probes { FROM_PROBES } else { FROM_TCP_INFO },
        note: note.map(str::to_string),
    })
}

/// The note when the delay measured is not the watched queue's.
pub const ELSEWHERE: &str = "the watched queue predicts less than a tenth of the delay measured above the base RTT: the load waits in another queue (the other direction's, or another hop's)";

/// Whether the queue's predicted wait is under a tenth of the measured
/// delay above the base RTT, which a queue that is not the load's gives.
fn elsewhere(predicted_ms: Option<f64>, measured_ms: Option<f64>, base_us: Option<f64>) -> bool {
    let (Some(p), Some(m), Some(b)) = (predicted_ms, measured_ms, base_us) else {
        return false;
    };
    let base_ms = b / 1e3;
    m - base_ms > 1.0 && (p - base_ms) * 10.0 < m - base_ms
}

/// Whether a flow moved payload since the sample before.
fn loaded(s: &Sample) -> bool {
    s.flows
        .iter()
        .flatten()
        .any(|f| f.goodput_bps.is_some_and(|g| g > 0.0))
}

/// The sample's measured RTT, µs: its probes' median, or its flows'.
fn measured_us(s: &Sample, receiving: &[bool], probes: bool) -> Option<f64> {
    let mut v: Vec<f64> = if probes {
        foreign(s)
            .filter_map(|p| p.rtt_us)
            .map(|r| r as f64)
            .collect()
    } else {
        flows_with_role(s, receiving)
            .filter_map(|(f, r)| f.path_rtt_us(r))
            .map(f64::from)
            .collect()
    };
    median(&mut v)
}

/// The sample's probes that are not a load flow's own RTT.
fn foreign(s: &Sample) -> impl Iterator<Item = &ProbeReading> {
    s.probes.iter().filter(|p| p.kind != SELF_PROBE)
}

/// The base RTT, µs: the least `min_rtt_us`, else the least measured.
fn base_rtt_us(t: &Timeline, receiving: &[bool]) -> Option<f64> {
    let all = || t.samples.iter().flat_map(|s| flows_with_role(s, receiving));
    all()
        .map(|(f, _)| f.min_rtt_us)
        .filter(|m| *m > 0)
        .min()
        .or_else(|| all().filter_map(|(f, r)| f.path_rtt_us(r)).min())
        .map(f64::from)
}

/// The sample's flows that were read, each with whether it receives.
fn flows_with_role<'a>(
    s: &'a Sample,
    receiving: &'a [bool],
) -> impl Iterator<Item = (&'a FlowSample, bool)> + 'a {
    s.flows
        .iter()
        .enumerate()
        .filter_map(|(i, f)| Some((f.as_ref()?, receiving.get(i).copied().unwrap_or(false))))
}

/// The median (the mean of the middle two for an even count).
fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{FlowReading, QueueReading, Sampler};
    use std::time::Duration;

    /// A receiver's reading: its handshake RTT of 2 ms as `min_rtt`, and
    /// `rcv_rtt_us` as measured.
    fn receiver(progress_bytes: u64, rcv_rtt_us: u32) -> FlowReading {
        FlowReading {
            cwnd: 10,
            snd_mss: 1448,
            rtt_us: 2_000,
            min_rtt_us: 2_000,
            rcv_rtt_us,
            progress_bytes,
            ..FlowReading::default()
        }
    }

    fn queue(backlog_bytes: u64) -> Option<QueueReading> {
        Some(QueueReading {
            backlog_bytes,
            backlog_packets: backlog_bytes / 1514,
            drops: 0,
        })
    }

    /// A download through 50 Mbit/s: the queue holds 625,000 bytes (100 ms
    /// at the rate) while the receiver measures 100 + 2 ms, then drains.
    fn download(rtts: &[u32]) -> Timeline {
        let mut s = Sampler::new(Duration::from_millis(10));
        s.record(Duration::ZERO, &[Some(receiver(0, 0))], queue(0));
        for (i, &rtt) in rtts.iter().enumerate() {
            let n = i as u64 + 1;
            let at = Duration::from_millis(10 * n);
            s.record(at, &[Some(receiver(n * 62_500, rtt))], queue(625_000));
        }
        let end = Duration::from_millis(10 * (rtts.len() as u64 + 1));
        let done = rtts.len() as u64 * 62_500;
        s.record(end, &[Some(receiver(done, 0))], queue(0));
        let mut t = s.finish();
        t.directions = vec!["download"];
        t
    }

    #[test]
    fn a_full_queue_predicts_its_wait_plus_the_base() {
        let t = download(&[100_000, 102_000, 104_000]);
        let c = queue_check(&t, Some(50_000_000)).unwrap();
        assert_eq!(c.base_rtt_ms, Some(2.0));
        // The idle first and drained last samples are not loaded.
        assert_eq!(c.samples, 3);
        assert!((c.predicted_ms.unwrap() - 102.0).abs() < 1e-9, "{c:?}");
        assert!((c.measured_ms.unwrap() - 102.0).abs() < 1e-9, "{c:?}");
        assert!(c.difference_pct.unwrap().abs() < 1e-9);
        assert_eq!(c.measured_from, FROM_TCP_INFO);
        assert_eq!(c.note, None);
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["predicted_ms"], 102.0);
        assert!(json.get("note").is_none());
    }

    #[test]
    fn a_sender_measures_with_its_own_rtt() {
        let mut t = download(&[100_000]);
        // As an upload the same readings' rtt_us, 2 ms, is the flow's.
        t.directions = vec!["upload"];
        let c = queue_check(&t, Some(50_000_000)).unwrap();
        assert_eq!(c.measured_ms, Some(2.0));
        assert!((c.difference_pct.unwrap() + 98.04).abs() < 0.01, "{c:?}");
    }

    #[test]
    fn without_a_rate_the_prediction_is_said_to_be_missing() {
        let c = queue_check(&download(&[100_000]), None).unwrap();
        assert_eq!((c.predicted_ms, c.difference_pct), (None, None));
        assert_eq!(c.measured_ms, Some(100.0));
        assert!(c.note.unwrap().contains("no shaper"));
    }

    #[test]
    fn probes_take_the_place_of_tcp_info() {
        let mut s = Sampler::new(Duration::from_millis(10));
        s.record(Duration::ZERO, &[Some(receiver(0, 0))], queue(0));
        for rtt in [Some(90_000), None, Some(96_000)] {
            s.probe(ProbeReading {
                kind: "udp_echo".into(),
                rtt_us: rtt,
            });
        }
        // A load flow's own RTT is the flows' figure, not a probe's.
        s.probe(ProbeReading {
            kind: SELF_PROBE.into(),
            rtt_us: Some(1_000),
        });
        s.record(
            Duration::from_millis(10),
            &[Some(receiver(62_500, 50_000))],
            queue(625_000),
        );
        let c = queue_check(&s.finish(), Some(50_000_000)).unwrap();
        assert_eq!(c.measured_from, FROM_PROBES);
        assert_eq!(c.measured_ms, Some(93.0));
    }

    #[test]
    fn an_empty_queue_under_a_delay_says_it_is_not_the_load_s() {
        // The receiver measures 100 ms while the watched queue holds 1.5 KB.
        let mut t = download(&[100_000, 100_000]);
        for s in &mut t.samples {
            if let Some(q) = s.queue.as_mut() {
                q.backlog_bytes = q.backlog_bytes.min(1_514);
            }
        }
        let c = queue_check(&t, Some(50_000_000)).unwrap();
        assert_eq!(c.note.as_deref(), Some(ELSEWHERE), "{c:?}");
        let full = queue_check(&download(&[100_000]), Some(50_000_000)).unwrap();
        assert_eq!(full.note, None);
    }

    #[test]
    fn no_queue_no_check() {
        let mut t = download(&[100_000]);
        for s in &mut t.samples {
            s.queue = None;
        }
        assert_eq!(queue_check(&t, Some(50_000_000)), None);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
