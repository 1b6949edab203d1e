//! Latency and jitter statistics: HDR histograms and the RFC 3550 jitter
//! estimator. Pure code: values are handed in, nothing is timed here.
//!
//! Values are recorded in nanoseconds with three significant digits
//! (hdrhistogram) and reported in microseconds.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Percentiles of a recorded distribution, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    /// Smallest value.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest value.
    pub max: f64,
}

impl Percentiles {
    /// One line for people: `min 12.1 p50 15.3 … max 80.2 µs`.
    pub fn line(&self) -> String {
        format!(
            "min {:.1}  p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1} µs  ({} values)",
            self.min, self.p50, self.p90, self.p99, self.p999, self.max, self.count
        )
    }
}

/// An HDR histogram of nanosecond values, three significant digits.
#[derive(Debug, Clone)]
pub struct Recorder {
    hist: Histogram<u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// An empty recorder that grows as needed.
    pub fn new() -> Recorder {
        // 3 significant digits is always a valid precision, so this cannot fail;
        // should it, an empty histogram is still returned below.
        let hist = Histogram::new(3).unwrap_or_else(|_| {
            Histogram::new_with_bounds(1, u64::MAX / 2, 3).unwrap_or_else(|_| unreachable!())
        });
        Recorder { hist }
    }

    /// Records one value in nanoseconds (negative values count as 0).
    pub fn record_ns(&mut self, ns: i128) {
        let v = ns.clamp(0, u64::MAX as i128 / 4) as u64;
        // An auto-resizing histogram accepts any value in range.
        let _ = self.hist.record(v);
    }

    /// Values recorded.
    pub fn len(&self) -> u64 {
        self.hist.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.hist.is_empty()
    }

    /// The histogram underneath (nanoseconds).
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }

    /// The percentiles, or `None` when nothing was recorded.
    pub fn percentiles(&self) -> Option<Percentiles> {
        if self.hist.is_empty() {
            return None;
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Some(Percentiles {
            count: self.hist.len(),
            min: us(self.hist.min()),
            mean: self.hist.mean() / 1000.0,
            p50: us(self.hist.value_at_quantile(0.50)),
            p90: us(self.hist.value_at_quantile(0.90)),
            p99: us(self.hist.value_at_quantile(0.99)),
            p999: us(self.hist.value_at_quantile(0.999)),
            max: us(self.hist.max()),
        })
    }
}

/// The interarrival jitter estimator of RFC 3550 §6.4.1 (appendix A.8):
/// for packets i-1 and i with send times S and receive times R,
/// D = (R_i − R_{i−1}) − (S_i − S_{i−1}) and J += (|D| − J)/16.
/// Every |D| also goes into a histogram.
#[derive(Debug, Clone, Default)]
pub struct Jitter {
    j_ns: f64,
    prev_transit: Option<i128>,
    diffs: Recorder,
}

impl Jitter {
    /// A new estimator.
    pub fn new() -> Jitter {
        Jitter::default()
    }

    /// Adds a packet sent at `sent_ns` and received at `recv_ns` (any common
    /// epoch; only differences matter).
    pub fn add(&mut self, sent_ns: i128, recv_ns: i128) {
        let transit = recv_ns - sent_ns;
        if let Some(prev) = self.prev_transit {
            let d = (transit - prev).abs();
            self.j_ns += (d as f64 - self.j_ns) / 16.0;
            self.diffs.record_ns(d);
        }
        self.prev_transit = Some(transit);
    }

    /// The current RFC 3550 estimate, microseconds.
    pub fn estimate_us(&self) -> f64 {
        self.j_ns / 1000.0
    }

    /// Percentiles of |D|, microseconds.
    pub fn percentiles(&self) -> Option<Percentiles> {
        self.diffs.percentiles()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_in_microseconds() {
        let mut r = Recorder::new();
        for v in 1..=1000 {
            r.record_ns(v * 1000);
        }
        let p = r.percentiles().unwrap();
        assert_eq!(p.count, 1000);
        assert!((p.p50 - 500.0).abs() <= 1.0, "{p:?}");
        assert!((p.p99 - 990.0).abs() <= 1.0, "{p:?}");
        assert!((p.max - 1000.0).abs() <= 1.0, "{p:?}");
        assert!(Recorder::new().percentiles().is_none());
    }

    #[test]
    fn jitter_of_a_steady_flow_is_zero() {
        let mut j = Jitter::new();
        for i in 0..100i128 {
            j.add(i * 5_000_000, i * 5_000_000 + 40_000);
        }
        assert_eq!(j.estimate_us(), 0.0);
    }

    #[test]
    fn jitter_follows_rfc3550() {
        // Transit alternates 0 and 1600 ns: every |D| is 1600 ns, so J
        // converges on 1.6 µs from below, J_n = 1600·(1 − (15/16)^n).
        let mut j = Jitter::new();
        for i in 0..200i128 {
            let extra = if i % 2 == 0 { 0 } else { 1600 };
            j.add(i * 1000, i * 1000 + extra);
        }
        let n = 199.0;
        let expect = 1.6 * (1.0 - (15.0f64 / 16.0).powf(n));
        assert!(
            (j.estimate_us() - expect).abs() < 1e-9,
            "{}",
            j.estimate_us()
        );
        assert_eq!(j.percentiles().unwrap().count, 199);
    }
}
