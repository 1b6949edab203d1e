//! The figures: the trimmed mean of each probe kind, the RPM they make and
//! how far to trust it (see the module above for the rules).

/// The rule RPM is computed by, as reports state it.
pub const RPM_RULE: &str = "RPM = 60 s / (1/2 mean of foreign TM(connect, echo, udp) + 1/2 TM(self)); TM = mean without the largest 10 % (draft-ietf-ippm-responsiveness)";

/// The rule of the confidence, as reports state it.
pub const CONFIDENCE_RULE: &str = "high: goodput stable, >= 20 samples per kind, <= 5 % lost; medium: >= 8 samples per kind, <= 20 % lost; low: otherwise";

/// Samples every kind measured needs for `high`.
pub const HIGH_SAMPLES: usize = 20;
/// Samples every kind measured needs for `medium`.
pub const MEDIUM_SAMPLES: usize = 8;

/// What share of the samples the trimmed mean drops, from the top.
const TRIM: f64 = 0.10;

/// A kind of probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Foreign: a new TCP connection's handshake time.
    Connect,
    /// Foreign: an echo round trip on a connection of its own.
    Echo,
    /// Foreign: a UDP echo round trip.
    Udp,
    /// Self: a load connection's round-trip time from `TCP_INFO`.
    SelfRtt,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 4] = [Kind::Connect, Kind::Echo, Kind::Udp, Kind::SelfRtt];

    /// Its name in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Connect => "connect",
            Kind::Echo => "echo",
            Kind::Udp => "udp",
            Kind::SelfRtt => "self",
        }
    }

    /// Its name in a timeline's probes: `tcp_connect`, `tcp_echo`,
    /// `udp_echo` or `self`.
    pub fn timeline_name(self) -> &'static str {
        match self {
            Kind::Connect => "tcp_connect",
            Kind::Echo => "tcp_echo",
            Kind::Udp => "udp_echo",
            Kind::SelfRtt => "self",
        }
    }

    /// Whether it runs on a connection of its own (the draft's foreign
    /// probes), rather than on the load.
    pub fn foreign(self) -> bool {
        self != Kind::SelfRtt
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How far an RPM figure can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Confidence {
    /// Few samples, many lost, or both.
    Low,
    /// Enough samples, but goodput never settled or some were lost.
    Medium,
    /// Stable goodput, plenty of samples, hardly any lost.
    High,
}

impl Confidence {
    /// `low`, `medium` or `high`.
    pub fn name(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// The mean of `values` without the largest 10 % of them (rounded down);
/// `None` when there are none.
pub fn trimmed_mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let keep = v.len() - (v.len() as f64 * TRIM).floor() as usize;
    let kept = &v[..keep];
    Some(kept.iter().sum::<f64>() / kept.len() as f64)
}

/// Probe round trips of one phase (or several), per kind, in µs, and the
/// probes of each kind that were lost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeSet {
    samples: [Vec<f64>; 4],
    lost: [u64; 4],
}

/// A set's RPM with what it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Responsiveness {
    /// Round trips per minute.
    pub rpm: f64,
    /// How far to trust it.
    pub confidence: Confidence,
    /// The weighted mean round trip RPM is computed from, µs.
    pub delay_us: f64,
    /// Each kind measured: its name, trimmed mean (µs), samples and losses.
    pub kinds: Vec<KindFigures>,
}

/// One kind's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct KindFigures {
    /// The kind.
    pub kind: Kind,
    /// Its trimmed mean, µs; `None` with no sample.
    pub trimmed_mean_us: Option<f64>,
    /// Samples taken.
    pub samples: usize,
    /// Probes lost.
    pub lost: u64,
}

impl ProbeSet {
    /// Adds a round trip of `kind`, µs.
    pub fn sample(&mut self, kind: Kind, rtt_us: f64) {
        self.samples[kind.index()].push(rtt_us);
    }

    /// Counts a probe of `kind` that got no answer in time.
    pub fn lose(&mut self, kind: Kind) {
        self.lost[kind.index()] += 1;
    }

    /// Adds every sample and loss of `other`.
    pub fn merge(&mut self, other: &ProbeSet) {
        for k in Kind::ALL {
            let i = k.index();
            self.samples[i].extend_from_slice(&other.samples[i]);
            self.lost[i] += other.lost[i];
        }
    }

    /// The samples of `kind`, µs, in the order taken.
    pub fn samples(&self, kind: Kind) -> &[f64] {
        &self.samples[kind.index()]
    }

    /// Probes of `kind` lost.
    pub fn lost(&self, kind: Kind) -> u64 {
        self.lost[kind.index()]
    }

    /// Every foreign sample (connect, echo, udp), µs: the RTT distribution
    /// reports show.
    pub fn foreign_samples(&self) -> Vec<f64> {
        Kind::ALL
            .iter()
            .filter(|k| k.foreign())
            .flat_map(|k| self.samples(*k).iter().copied())
            .collect()
    }

    /// The kinds' figures, in report order.
    pub fn kinds(&self) -> Vec<KindFigures> {
        Kind::ALL
            .iter()
            .map(|&kind| KindFigures {
                kind,
                trimmed_mean_us: trimmed_mean(self.samples(kind)),
                samples: self.samples(kind).len(),
                lost: self.lost(kind),
            })
            .collect()
    }

    /// The set's RPM, with `stable` saying whether goodput reached
    /// stability while it was taken; `None` when no kind has a sample.
    pub fn responsiveness(&self, stable: bool) -> Option<Responsiveness> {
        let kinds = self.kinds();
        let half = |foreign: bool| {
            let tms: Vec<f64> = kinds
                .iter()
                .filter(|k| k.kind.foreign() == foreign)
                .filter_map(|k| k.trimmed_mean_us)
                .collect();
            (!tms.is_empty()).then(|| tms.iter().sum::<f64>() / tms.len() as f64)
        };
        let delay_us = match (half(true), half(false)) {
            (Some(f), Some(s)) => 0.5 * f + 0.5 * s,
            (Some(one), None) | (None, Some(one)) => one,
            (None, None) => return None,
        };
        if delay_us <= 0.0 {
            return None;
        }
        Some(Responsiveness {
            rpm: 60e6 / delay_us,
            confidence: confidence(&kinds, stable),
            delay_us,
            kinds,
        })
    }
}

/// The confidence of figures from `kinds`, per [`CONFIDENCE_RULE`].
fn confidence(kinds: &[KindFigures], stable: bool) -> Confidence {
    let measured: Vec<&KindFigures> = kinds.iter().filter(|k| k.samples > 0).collect();
    let fewest = measured.iter().map(|k| k.samples).min().unwrap_or(0);
    let sent: u64 = kinds.iter().map(|k| k.samples as u64 + k.lost).sum();
    let lost: u64 = kinds.iter().map(|k| k.lost).sum();
    let lost_share = if sent == 0 {
        1.0
    } else {
        lost as f64 / sent as f64
    };
    if stable && fewest >= HIGH_SAMPLES && lost_share <= 0.05 {
        Confidence::High
    } else if fewest >= MEDIUM_SAMPLES && lost_share <= 0.20 {
        Confidence::Medium
    } else {
        Confidence::Low
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trimmed_mean_drops_the_largest_tenth() {
        // 1..=10 and one outlier of 1000: 11 values, one dropped (the
        // 1000), the mean of 1..=10 is 5.5.
        let mut v: Vec<f64> = (1..=10).map(f64::from).collect();
        v.push(1000.0);
        assert_eq!(trimmed_mean(&v), Some(5.5));
        // Under 10 values nothing is dropped.
        assert_eq!(trimmed_mean(&[4.0, 2.0, 9.0]), Some(5.0));
        // 20 values: the 2 largest go, 1..=18 averages 9.5.
        let v: Vec<f64> = (1..=20).rev().map(f64::from).collect();
        assert_eq!(trimmed_mean(&v), Some(9.5));
        assert_eq!(trimmed_mean(&[]), None);
    }

    fn set(kinds: &[(Kind, f64, usize)]) -> ProbeSet {
        let mut s = ProbeSet::default();
        for &(k, v, n) in kinds {
            for _ in 0..n {
                s.sample(k, v);
            }
        }
        s
    }

    #[test]
    fn rpm_weighs_foreign_and_self_halves() {
        // Foreign TMs 30, 40 and 50 ms: their half is 40 ms; self 100 ms.
        // D = 0.5·40 + 0.5·100 = 70 ms, RPM = 60 000 / 70 = 857.14.
        let s = set(&[
            (Kind::Connect, 30_000.0, 20),
            (Kind::Echo, 40_000.0, 20),
            (Kind::Udp, 50_000.0, 20),
            (Kind::SelfRtt, 100_000.0, 20),
        ]);
        let r = s.responsiveness(true).unwrap();
        assert!((r.delay_us - 70_000.0).abs() < 1e-6);
        assert!((r.rpm - 857.142_857).abs() < 1e-3, "{}", r.rpm);
        assert_eq!(r.confidence, Confidence::High);
        // The draft's own weights: 1/6 each foreign, 1/2 self.
        let draft = (30.0 + 40.0 + 50.0) / 6.0 + 100.0 / 2.0;
        assert!((r.rpm - 60_000.0 / draft).abs() < 1e-6);
    }

    #[test]
    fn a_missing_kind_gives_its_weight_to_its_half() {
        // No UDP: foreign half (30 + 40) / 2 = 35 ms; no self either: D = 35.
        let s = set(&[(Kind::Connect, 30_000.0, 10), (Kind::Echo, 40_000.0, 10)]);
        let r = s.responsiveness(false).unwrap();
        assert!((r.rpm - 60_000.0 / 35.0).abs() < 1e-6);
        assert_eq!(r.confidence, Confidence::Medium);
        assert_eq!(ProbeSet::default().responsiveness(true), None);
    }

    #[test]
    fn confidence_follows_samples_losses_and_stability() {
        let mut s = set(&[(Kind::Echo, 1000.0, 20), (Kind::SelfRtt, 1000.0, 20)]);
        assert_eq!(s.responsiveness(true).unwrap().confidence, Confidence::High);
        assert_eq!(
            s.responsiveness(false).unwrap().confidence,
            Confidence::Medium
        );
        // 3 lost of 43: 7 %, over 5 %: medium even when stable.
        for _ in 0..3 {
            s.lose(Kind::Echo);
        }
        assert_eq!(
            s.responsiveness(true).unwrap().confidence,
            Confidence::Medium
        );
        // 7 samples of a kind: low.
        let few = set(&[(Kind::Echo, 1000.0, 7), (Kind::SelfRtt, 1000.0, 20)]);
        assert_eq!(
            few.responsiveness(true).unwrap().confidence,
            Confidence::Low
        );
    }

    #[test]
    fn merged_sets_keep_every_sample_and_loss() {
        let mut a = set(&[(Kind::Connect, 1.0, 2)]);
        let mut b = set(&[(Kind::Connect, 3.0, 1), (Kind::Udp, 5.0, 1)]);
        b.lose(Kind::Udp);
        a.merge(&b);
        assert_eq!(a.samples(Kind::Connect), &[1.0, 1.0, 3.0]);
        assert_eq!(a.lost(Kind::Udp), 1);
        assert_eq!(a.foreign_samples().len(), 4);
    }
}
