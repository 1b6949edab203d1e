//! The timeline: what each flow's congestion control and the bottleneck's
//! queue were doing, sampled on one clock every few milliseconds, so that
//! throughput, latency, the congestion window and the queue can be read off
//! one time axis. Pure code: readings and the time they were taken go in
//! ([`Sampler::record`]), samples come out ([`Sampler::finish`]); reading a
//! socket's `TCP_INFO` or a qdisc's counters is the ring's job (`net`), and
//! running the clock the instruments'.
//!
//! Each sample holds, per flow, the kernel's figures as read at that moment
//! ([`FlowReading`], from `TCP_INFO`) and one computed from two readings:
//! `goodput_bps`, the flow's payload moved (bytes acknowledged out plus
//! bytes received in) since the previous sample, over the time between the
//! two readings. With a queue to watch, the sample holds its backlog as read
//! and its drops since the first sample.
//!
//! [`queue_from_tc_json`] reads a queue's figures from what
//! `tc -s -j qdisc show dev IFACE` prints: the innermost qdiscs of the
//! interface (those no other qdisc is the parent of), summed. For
//! `tools/netlab`'s chain (netem, then tbf, then the queue) that is the
//! queue alone, without the packets on netem's delay line.

use std::time::Duration;

use serde::Serialize;

/// One flow's `TCP_INFO`, the figures the timeline keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowReading {
    /// `tcpi_snd_cwnd`: the congestion window, in segments.
    pub cwnd: u32,
    /// `tcpi_snd_mss`: bytes per full segment.
    pub snd_mss: u32,
    /// `tcpi_rtt`: the smoothed round-trip time, µs.
    pub rtt_us: u32,
    /// `tcpi_rttvar`: its mean deviation, µs.
    pub rttvar_us: u32,
    /// `tcpi_min_rtt`: the least RTT sample seen, µs (on a socket that
    /// only receives, the handshake's).
    pub min_rtt_us: u32,
    /// `tcpi_rcv_rtt`: the receiver's own RTT estimate, µs, from the
    /// timestamps the sender's data echoes (0 until one is measured).
    pub rcv_rtt_us: u32,
    /// `tcpi_delivery_rate`: the rate of the latest delivery sample, bytes/s.
    pub delivery_rate: u64,
    /// `tcpi_pacing_rate`: bytes/s; `u64::MAX` when not paced.
    pub pacing_rate: u64,
    /// `tcpi_total_retrans`: segments retransmitted so far.
    pub total_retrans: u32,
    /// `tcpi_bytes_sent - tcpi_bytes_retrans - tcpi_bytes_acked`: bytes
    /// sent once and not yet acknowledged (SND.NXT − SND.UNA).
    pub bytes_in_flight: u64,
    /// `tcpi_unacked - tcpi_sacked - tcpi_lost + tcpi_retrans`: segments in
    /// flight as Linux counts them for the congestion window.
    pub segments_in_flight: u32,
    /// `tcpi_bytes_acked + tcpi_bytes_received`: payload moved so far (plus
    /// one for the handshake, which differences cancel).
    pub progress_bytes: u64,
}

/// A queue's counters, as read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueReading {
    /// Bytes waiting now (frames with their link header).
    pub backlog_bytes: u64,
    /// Packets waiting now.
    pub backlog_packets: u64,
    /// Packets dropped since the qdisc was made.
    pub drops: u64,
}

/// One flow in one sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FlowSample {
    /// Congestion window, segments.
    pub cwnd: u32,
    /// Congestion window, bytes (segments × MSS).
    pub cwnd_bytes: u64,
    /// Smoothed RTT, µs.
    pub rtt_us: u32,
    /// RTT mean deviation, µs.
    pub rttvar_us: u32,
    /// The least RTT the flow has seen, µs.
    pub min_rtt_us: u32,
    /// The receiver's RTT estimate, µs (0: none yet): what a flow that
    /// receives measures of the path, its `rtt_us` being the handshake's.
    pub rcv_rtt_us: u32,
    /// Latest delivery rate, bit/s.
    pub delivery_rate_bps: u64,
    /// Pacing rate, bit/s; `None` (null) when the socket is not paced.
    pub pacing_rate_bps: Option<u64>,
    /// Segments retransmitted since the connection began.
    pub retransmissions: u32,
    /// Bytes sent and not yet acknowledged.
    pub bytes_in_flight: u64,
    /// Segments in flight, as the congestion window counts them.
    pub segments_in_flight: u32,
    /// Payload moved since the previous sample of this flow, bit/s; `None`
    /// on a flow's first sample.
    pub goodput_bps: Option<f64>,
}

/// A queue in one sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QueueSample {
    /// Bytes waiting.
    pub backlog_bytes: u64,
    /// Packets waiting.
    pub backlog_packets: u64,
    /// Packets dropped since the first sample.
    pub drops: u64,
}

/// Everything read at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// Seconds since the sampler started.
    pub t: f64,
    /// One entry per flow, in the order the flows were given; `None` (null)
    /// when its `TCP_INFO` could not be read.
    pub flows: Vec<Option<FlowSample>>,
    /// The queue, when one is watched and could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueSample>,
    /// The latency probes that ended since the previous sample, in the
    /// order they ended (none without probes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeReading>,
}

/// One latency probe's outcome, handed in with [`Sampler::probe`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeReading {
    /// What kind of probe (`tcp_connect`, `udp_echo`…), as its sender
    /// names it.
    pub kind: String,
    /// Its round trip, µs; `None` (null) for a probe that was lost.
    pub rtt_us: Option<u64>,
}

/// The samples of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// The interval asked for between samples, µs.
    pub sample_us: u64,
    /// Each flow's direction as the client sees it (`download`,
    /// `upload`), in the order of a sample's `flows`: which of a flow's
    /// RTTs measures the path (see [`FlowSample::path_rtt_us`]).
    pub directions: Vec<&'static str>,
    /// The queue watched (`NETNS:IFACE`), if one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qdisc: Option<String>,
    /// With phases (`--rpm`): the phase each flow loaded, in the order of
    /// a sample's `flows`. A flow's id is its place in that order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flow_phases: Vec<&'static str>,
    /// With phases (`--rpm`): when each began and ended, on the samples'
    /// clock.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<PhaseSpan>,
    /// The samples, in time order.
    pub samples: Vec<Sample>,
}

/// One phase of a run on the timeline's clock.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseSpan {
    /// Its name (`idle`, `download`, `upload`, `bidir`).
    pub phase: &'static str,
    /// Seconds since the sampler started, as a sample's `t`.
    pub start_t: f64,
    /// When it ended, likewise.
    pub end_t: f64,
}

impl Timeline {
    /// The part of the timeline within `span`: its samples from its start
    /// to its end, its flows as they are.
    pub fn within(&self, span: &PhaseSpan) -> Timeline {
        Timeline {
            sample_us: self.sample_us,
            directions: self.directions.clone(),
            qdisc: self.qdisc.clone(),
            flow_phases: self.flow_phases.clone(),
            phases: vec![span.clone()],
            samples: self
                .samples
                .iter()
                .filter(|s| s.t >= span.start_t && s.t <= span.end_t)
                .cloned()
                .collect(),
        }
    }
}

/// Turns readings into samples, keeping what a sample needs of the one
/// before it.
#[derive(Debug, Clone)]
pub struct Sampler {
    interval: Duration,
    next: Duration,
    /// Per flow: when it was last read and its progress then.
    last: Vec<Option<(Duration, u64)>>,
    first_drops: Option<u64>,
    probes: Vec<ProbeReading>,
    samples: Vec<Sample>,
}

impl Sampler {
    /// A sampler every `interval` (at least 1 ms, which the caller checks),
    /// the first sample due at once.
    pub fn new(interval: Duration) -> Sampler {
        Sampler {
            interval: interval.max(Duration::from_millis(1)),
            next: Duration::ZERO,
            last: Vec::new(),
            first_drops: None,
            probes: Vec::new(),
            samples: Vec::new(),
        }
    }

    /// When the next sample is due, since the start.
    pub fn next_due(&self) -> Duration {
        self.next
    }

    /// A latency probe that just ended: it goes into the next sample.
    pub fn probe(&mut self, reading: ProbeReading) {
        self.probes.push(reading);
    }

    /// Takes the readings made at `now` (since the start). A sample that
    /// came late moves the schedule on by whole intervals, so samples stay
    /// on the grid and a slow reading never makes a burst of catch-up ones.
    pub fn record(
        &mut self,
        now: Duration,
        flows: &[Option<FlowReading>],
        queue: Option<QueueReading>,
    ) {
        if self.last.len() < flows.len() {
            self.last.resize(flows.len(), None);
        }
        let flows = flows
            .iter()
            .zip(self.last.iter_mut())
            .map(|(reading, last)| {
                let r = reading.as_ref()?;
                let goodput_bps = last.and_then(|(then, bytes)| {
                    let dt = now.checked_sub(then)?.as_secs_f64();
                    (dt > 0.0).then(|| r.progress_bytes.saturating_sub(bytes) as f64 * 8.0 / dt)
                });
                *last = Some((now, r.progress_bytes));
                Some(flow_sample(r, goodput_bps))
            })
            .collect();
        let queue = queue.map(|q| {
            let first = *self.first_drops.get_or_insert(q.drops);
            QueueSample {
                backlog_bytes: q.backlog_bytes,
                backlog_packets: q.backlog_packets,
                drops: q.drops.saturating_sub(first),
            }
        });
        self.samples.push(Sample {
            t: now.as_secs_f64(),
            flows,
            queue,
            probes: std::mem::take(&mut self.probes),
        });
        while self.next <= now {
            self.next += self.interval;
        }
    }

    /// The samples taken.
    pub fn finish(self) -> Timeline {
        Timeline {
            sample_us: u64::try_from(self.interval.as_micros()).unwrap_or(u64::MAX),
            directions: Vec::new(),
            qdisc: None,
            flow_phases: Vec::new(),
            phases: Vec::new(),
            samples: self.samples,
        }
    }
}

impl FlowSample {
    /// The flow's measure of the path's round trip, µs: a sender's
    /// smoothed RTT, or a receiver's own estimate (`tcpi_rcv_rtt`), since
    /// a socket that only receives keeps the handshake's RTT. `None` when
    /// the kernel has none yet.
    pub fn path_rtt_us(&self, receiving: bool) -> Option<u32> {
        let rtt = if receiving {
            self.rcv_rtt_us
        } else {
            self.rtt_us
        };
        (rtt > 0).then_some(rtt)
    }
}

fn flow_sample(r: &FlowReading, goodput_bps: Option<f64>) -> FlowSample {
    FlowSample {
        cwnd: r.cwnd,
        cwnd_bytes: u64::from(r.cwnd) * u64::from(r.snd_mss),
        rtt_us: r.rtt_us,
        rttvar_us: r.rttvar_us,
        min_rtt_us: r.min_rtt_us,
        rcv_rtt_us: r.rcv_rtt_us,
        delivery_rate_bps: r.delivery_rate.saturating_mul(8),
        pacing_rate_bps: (r.pacing_rate != u64::MAX).then(|| r.pacing_rate.saturating_mul(8)),
        retransmissions: r.total_retrans,
        bytes_in_flight: r.bytes_in_flight,
        segments_in_flight: r.segments_in_flight,
        goodput_bps,
    }
}

/// Why `tc`'s JSON gave no queue.
#[derive(Debug, thiserror::Error)]
pub enum QdiscParseError {
    /// It is not the JSON array `tc -j qdisc show` prints.
    #[error("tc's qdisc list is not a JSON array of qdiscs: {0}")]
    Json(String),
    /// The interface has no qdisc at all.
    #[error("the interface has no qdisc")]
    Empty,
    /// A qdisc lacks a counter (`tc` without `-s`).
    #[error("qdisc {0} has no {1} counter (was tc run with -s?)")]
    Missing(String, &'static str),
}

/// The queue of an interface from `tc -s -j qdisc show dev IFACE`: the
/// innermost qdiscs summed (see the [module docs](self)). Ingress and
/// clsact hooks are not queues and are left out.
pub fn queue_from_tc_json(text: &str) -> Result<QueueReading, QdiscParseError> {
    let list: Vec<serde_json::Value> =
        serde_json::from_str(text).map_err(|e| QdiscParseError::Json(e.to_string()))?;
    let qdiscs: Vec<&serde_json::Value> = list
        .iter()
        .filter(|q| !matches!(q["kind"].as_str(), Some("ingress" | "clsact")))
        .collect();
    if qdiscs.is_empty() {
        return Err(QdiscParseError::Empty);
    }
    let major = |s: &str| s.split(':').next().unwrap_or_default().to_string();
    let parents: Vec<String> = qdiscs
        .iter()
        .filter_map(|q| q["parent"].as_str())
        .map(major)
        .collect();
    let mut sum = QueueReading::default();
    for q in qdiscs {
        let handle = q["handle"].as_str().unwrap_or_default();
        if parents.iter().any(|p| *p == major(handle)) {
            continue;
        }
        let count = |key: &'static str| {
            q[key]
                .as_u64()
                .ok_or_else(|| QdiscParseError::Missing(handle.to_string(), key))
        };
        sum.backlog_bytes += count("backlog")?;
        sum.backlog_packets += count("qlen")?;
        sum.drops += count("drops")?;
    }
    Ok(sum)
}

/// The rate the interface's shaper lets through, bit/s, from the same
/// `tc -s -j qdisc show` text: a token bucket's (`tbf`, whose `rate` tc
/// gives in bytes/s) or cake's own shaper (`bandwidth`, bytes/s), the
/// least if there are several. `None` when no qdisc there shapes: an
/// `htb` keeps its rates in its classes ([`htb_rate_from_tc_classes`]).
pub fn rate_from_tc_json(text: &str) -> Option<u64> {
    let list: Vec<serde_json::Value> = serde_json::from_str(text).ok()?;
    list.iter()
        .filter_map(|q| {
            let key = match q["kind"].as_str()? {
                "tbf" => "rate",
                "cake" => "bandwidth",
                _ => return None,
            };
            q["options"][key].as_u64().filter(|r| *r > 0)
        })
        .min()
        .map(|bytes_per_s| bytes_per_s.saturating_mul(8))
}

/// An htb's rate, bit/s, from what `tc class show dev IFACE` prints (tc
/// has no JSON for htb's classes): the least `ceil` of its leaf classes
/// (those with a `leaf` qdisc), the most a lone flow through one of them
/// gets. tc prints rates rounded to about three digits with SI prefixes
/// (`50Mbit`, `1.5Gbit`), so the rate is as exact as that. `None` with no
/// htb leaf class, or a rate this cannot read.
pub fn htb_rate_from_tc_classes(text: &str) -> Option<u64> {
    text.lines()
        .filter(|l| l.starts_with("class htb ") && l.contains(" leaf "))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.find(|w| *w == "ceil")?;
            tc_rate_bps(words.next()?)
        })
        .min()
}

/// A rate as tc prints it: `bit`, `Kbit`, `Mbit`, `Gbit`, `Tbit` (SI), or
/// `bps` and its multiples, bytes/s.
fn tc_rate_bps(word: &str) -> Option<u64> {
    let split = word.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = word.split_at(split);
    let n: f64 = number.parse().ok()?;
    let (prefix, bytes) = match unit.strip_suffix("bit") {
        Some(p) => (p, false),
        None => (unit.strip_suffix("bps")?, true),
    };
    let scale = match prefix {
        "" => 1.0,
        "K" | "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        _ => return None,
    };
    let bits = n * scale * if bytes { 8.0 } else { 1.0 };
    (bits >= 1.0).then(|| bits.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(cwnd: u32, progress_bytes: u64) -> FlowReading {
        FlowReading {
            cwnd,
            snd_mss: 1448,
            rtt_us: 40_000,
            rttvar_us: 2_000,
            min_rtt_us: 30_000,
            rcv_rtt_us: 0,
            delivery_rate: 6_250_000,
            pacing_rate: u64::MAX,
            total_retrans: 3,
            bytes_in_flight: 14_480,
            segments_in_flight: 10,
            progress_bytes,
        }
    }

    #[test]
    fn goodput_comes_from_progress_between_samples() {
        let mut s = Sampler::new(Duration::from_millis(10));
        assert_eq!(s.next_due(), Duration::ZERO);
        s.record(Duration::ZERO, &[Some(reading(10, 0))], None);
        assert_eq!(s.next_due(), Duration::from_millis(10));
        s.record(
            Duration::from_millis(10),
            &[Some(reading(20, 62_500)), None],
            None,
        );
        // Late: the schedule skips to the next whole interval.
        s.record(
            Duration::from_millis(35),
            &[None, Some(reading(5, 1))],
            None,
        );
        assert_eq!(s.next_due(), Duration::from_millis(40));
        let t = s.finish();
        assert_eq!(t.sample_us, 10_000);
        let first = t.samples[0].flows[0].unwrap();
        assert_eq!(first.goodput_bps, None);
        assert_eq!(first.cwnd_bytes, 14_480);
        assert_eq!(first.delivery_rate_bps, 50_000_000);
        assert_eq!(first.pacing_rate_bps, None);
        // 62500 bytes in 10 ms: 50 Mbit/s.
        let second = t.samples[1].flows[0].unwrap();
        assert!((second.goodput_bps.unwrap() - 50e6).abs() < 1.0);
        assert_eq!(t.samples[1].flows[1], None);
        assert_eq!(t.samples[2].flows[0], None);
        assert_eq!(t.samples[2].flows[1].unwrap().goodput_bps, None);
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["samples"][1]["t"], 0.01);
        assert_eq!(json["samples"][0]["flows"][0]["rtt_us"], 40_000);
        assert!(json["samples"][0].get("queue").is_none());
    }

    #[test]
    fn queue_drops_count_from_the_first_sample() {
        let mut s = Sampler::new(Duration::from_millis(10));
        let q = |backlog_packets, drops| QueueReading {
            backlog_bytes: backlog_packets * 1514,
            backlog_packets,
            drops,
        };
        s.record(Duration::ZERO, &[], Some(q(0, 7)));
        s.record(Duration::from_millis(10), &[], Some(q(80, 9)));
        let t = s.finish();
        assert_eq!(t.samples[0].queue.unwrap().drops, 0);
        let second = t.samples[1].queue.unwrap();
        assert_eq!((second.backlog_packets, second.drops), (80, 2));
        assert_eq!(second.backlog_bytes, 80 * 1514);
    }

    /// What `tc -s -j qdisc show dev to-a` printed in the middle box of
    /// `tools/netlab up --rate 20M --queue pfifo:200`, a cubic download
    /// filling the queue.
    const NETLAB_TBF_PFIFO: &str = r#"[{"kind":"tbf","handle":"2:","root":true,"refcnt":3,"options":{"rate":2500000,"burst":12500,"lat":50000},"bytes":2975466,"packets":1971,"drops":0,"overlimits":5976,"requeues":0,"backlog":171082,"qlen":113},{"kind":"pfifo","handle":"3:","parent":"2:1","options":{"limit":200},"bytes":2975466,"packets":1971,"drops":0,"overlimits":0,"requeues":0,"backlog":171082,"qlen":113}]"#;

    #[test]
    fn the_innermost_qdisc_is_the_queue() {
        let q = queue_from_tc_json(NETLAB_TBF_PFIFO).unwrap();
        assert_eq!(
            q,
            QueueReading {
                backlog_bytes: 171_082,
                backlog_packets: 113,
                drops: 0
            }
        );
        // A lone root qdisc is its own queue; ingress is no queue.
        let one = r#"[{"kind":"pfifo","handle":"3:","root":true,"drops":1,"backlog":3028,"qlen":2},
                      {"kind":"ingress","handle":"ffff:","parent":"ffff:fff1","drops":0,"backlog":0,"qlen":0}]"#;
        assert_eq!(queue_from_tc_json(one).unwrap().backlog_packets, 2);
        // Two leaves under one classful root are summed.
        let two = r#"[{"kind":"htb","handle":"1:","root":true,"drops":0,"backlog":0,"qlen":0},
                      {"kind":"pfifo","handle":"10:","parent":"1:10","drops":1,"backlog":100,"qlen":1},
                      {"kind":"pfifo","handle":"20:","parent":"1:20","drops":2,"backlog":200,"qlen":2}]"#;
        let q = queue_from_tc_json(two).unwrap();
        assert_eq!((q.backlog_bytes, q.backlog_packets, q.drops), (300, 3, 3));
    }

    #[test]
    fn the_rate_is_the_token_bucket_s() {
        assert_eq!(rate_from_tc_json(NETLAB_TBF_PFIFO), Some(20_000_000));
        let lone = r#"[{"kind":"pfifo","handle":"3:","root":true,"drops":0,"backlog":0,"qlen":0}]"#;
        assert_eq!(rate_from_tc_json(lone), None);
        let htb = r#"[{"kind":"htb","handle":"1:","root":true,"options":{"r2q":10}}]"#;
        assert_eq!(rate_from_tc_json(htb), None);
        // Its rate is its leaf classes', as `tc class show` prints them.
        let classes = "class htb 1:1 root rate 100Mbit ceil 100Mbit burst 1600b cburst 1600b \n\
                       class htb 1:10 parent 1:1 leaf 10: prio 0 rate 50Mbit ceil 60Mbit burst 1600b cburst 1590b \n\
                       class htb 1:20 parent 1:1 leaf 20: prio 0 rate 1.5Mbit ceil 2500Kbit burst 1600b cburst 1600b \n";
        assert_eq!(htb_rate_from_tc_classes(classes), Some(2_500_000));
        let one = "class htb 1:10 root leaf 10: prio 0 rate 50Mbit ceil 50Mbit burst 1600b cburst 1600b \n";
        assert_eq!(htb_rate_from_tc_classes(one), Some(50_000_000));
        assert_eq!(
            htb_rate_from_tc_classes("class htb 1:10 root leaf 10: ceil 1x"),
            None
        );
        assert_eq!(htb_rate_from_tc_classes(""), None);
        assert_eq!(tc_rate_bps("1.5Gbit"), Some(1_500_000_000));
        assert_eq!(tc_rate_bps("125Kbps"), Some(1_000_000));
        assert_eq!(rate_from_tc_json("nope"), None);
    }

    #[test]
    fn probes_go_into_the_next_sample() {
        let mut s = Sampler::new(Duration::from_millis(10));
        s.record(Duration::ZERO, &[], None);
        s.probe(ProbeReading {
            kind: "udp_echo".into(),
            rtt_us: Some(41_000),
        });
        s.probe(ProbeReading {
            kind: "udp_echo".into(),
            rtt_us: None,
        });
        s.record(Duration::from_millis(10), &[], None);
        s.record(Duration::from_millis(20), &[], None);
        let t = s.finish();
        assert!(t.samples[0].probes.is_empty());
        assert_eq!(t.samples[1].probes.len(), 2);
        assert!(t.samples[2].probes.is_empty());
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(
            json["samples"][1]["probes"][1]["rtt_us"],
            serde_json::Value::Null
        );
        assert!(json["samples"][2].get("probes").is_none());
    }

    #[test]
    fn what_is_not_a_qdisc_list_says_why() {
        assert!(matches!(
            queue_from_tc_json("nope"),
            Err(QdiscParseError::Json(_))
        ));
        assert!(matches!(
            queue_from_tc_json("[]"),
            Err(QdiscParseError::Empty)
        ));
        let no_stats = r#"[{"kind":"pfifo","handle":"3:","root":true}]"#;
        let e = queue_from_tc_json(no_stats).unwrap_err();
        assert!(e.to_string().contains("-s"), "{e}");
    }
}
