//! A stamped stream's figures in the report: the one-way delay from the
//! server's kernel TX stamp to the client's kernel RX stamp, corrected by
//! the clock offset that stamped echoes before and after the stream
//! estimated ([`crate::session::offset`]), with that estimate's bound and
//! drift; and a warning when the bound is wider than the spread of the
//! delays it qualifies.

use std::fmt::Write as _;

use serde::Serialize;

use crate::latency::{Percentiles, Recorder};
use crate::session::offset::Offset;
use crate::session::tcp::stream_stamps::StampPairs;

/// The stream's part of the `timestamps` object.
#[derive(Debug, Clone, Serialize)]
pub struct OneWayReport {
    /// Server's kernel TX stamp to client's kernel RX stamp, corrected by
    /// the offset, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub one_way_delay_us: Option<Percentiles>,
    /// The server's clock minus the client's, from the echoes before the
    /// stream (after it, when those before gave none), µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_offset_us: Option<f64>,
    /// The offset, and every one-way delay, is within ± this, µs: half
    /// the best echo's network RTT, the wider of the two estimates'.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset_bound_us: Option<f64>,
    /// The estimate after the stream minus the one before, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset_drift_us: Option<f64>,
    /// Echoes with all four stamps that the estimates chose from, before
    /// and after.
    pub offset_exchanges: [usize; 2],
    /// Segments with both stamps.
    pub segments_stamped: u64,
    /// Segments without their own RX stamp (a read that returned several
    /// segments stamps the last), and without a TX stamp from the server.
    pub segments_missing: SegmentsMissing,
    /// Corrected delays below zero, recorded as 0: the offset's error
    /// exceeds them.
    pub below_zero: u64,
    /// The bound is wider than the delays' spread (p99 − min).
    pub bound_exceeds_spread: bool,
    /// The histogram behind `one_way_delay_us`.
    #[serde(skip)]
    pub histogram: Recorder,
}

/// A stamped stream's segments missing a stamp.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SegmentsMissing {
    /// The client's kernel RX stamp.
    pub rx: u64,
    /// The server's kernel TX stamp.
    pub tx: u64,
}

impl OneWayReport {
    /// The figures of `stamps`, corrected by `offset` (`None`: no echo had
    /// its four stamps, and no delay can be given); `exchanges` counts the
    /// echoes each estimate chose from.
    pub fn of(stamps: &StampPairs, offset: Option<Offset>, exchanges: [usize; 2]) -> OneWayReport {
        let mut histogram = Recorder::new();
        let mut below_zero = 0;
        if let Some(o) = offset {
            for (tx, rx) in &stamps.pairs {
                let d = o.one_way_ns(*tx, *rx);
                if d < 0 {
                    below_zero += 1;
                }
                histogram.record_ns(d);
            }
        }
        let us = |ns: i128| ns as f64 / 1e3;
        let p = histogram.percentiles();
        let bound = offset.map(|o| us(o.bound_ns()));
        let bound_exceeds_spread = match (&p, bound) {
            (Some(p), Some(b)) => b > p.p99 - p.min,
            _ => false,
        };
        OneWayReport {
            one_way_delay_us: p,
            clock_offset_us: offset.map(|o| us(o.before.offset_ns)),
            offset_bound_us: bound,
            offset_drift_us: offset.and_then(|o| o.drift_ns()).map(us),
            offset_exchanges: exchanges,
            segments_stamped: stamps.pairs.len() as u64,
            segments_missing: SegmentsMissing {
                rx: stamps.no_rx,
                tx: stamps.no_tx,
            },
            below_zero,
            bound_exceeds_spread,
            histogram,
        }
    }

    /// The lines under the stream's figures.
    pub(super) fn write_text(&self, s: &mut String) {
        let bound = self
            .offset_bound_us
            .map_or(String::new(), |b| format!(" ± {b:.1} µs"));
        match &self.one_way_delay_us {
            Some(p) => {
                let _ = writeln!(s, "  one-way, kernel {}{bound}", p.line());
            }
            None => {
                let _ = writeln!(s, "  one-way, kernel not available");
            }
        }
        match self.clock_offset_us {
            Some(o) => {
                let [b, a] = self.offset_exchanges;
                let drift = match (self.offset_drift_us, b) {
                    (Some(d), _) => format!("drift {d:.1} µs over the stream"),
                    (None, 0) => "no estimate before the stream".to_string(),
                    (None, _) => "no estimate after the stream".to_string(),
                };
                let _ = writeln!(
                    s,
                    "  clock offset     {o:.1}{bound} (server - client; {drift}; best of {b} echoes before, {a} after)"
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "  clock offset     not available: no stamped echo had its four stamps"
                );
            }
        }
        let m = self.segments_missing;
        if m.rx + m.tx > 0 {
            let _ = writeln!(
                s,
                "  segments without a stamp: RX {} (none of their own: a read returned several), TX {}; left out",
                m.rx, m.tx
            );
        }
        if self.below_zero > 0 {
            let _ = writeln!(
                s,
                "  {} corrected delays fell below 0 and count as 0: the offset's error exceeds them",
                self.below_zero
            );
        }
        if self.bound_exceeds_spread {
            let _ = writeln!(
                s,
                "  warning: the offset's bound is wider than the delays' spread (p99 - min): their differences hold, their level only within the bound"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::offset::{Estimate, Offset};

    #[test]
    fn delays_are_corrected_and_a_wide_bound_is_flagged() {
        let est = |offset_ns, bound_ns| Estimate {
            offset_ns,
            bound_ns,
            at_ns: 0,
            exchanges: 3,
        };
        // Server 1 ms ahead; delays of 20, 25 and 30 µs; bound 50 µs.
        let pairs = StampPairs {
            pairs: vec![
                (1_020_000 + 1_000_000, 1_040_000),
                (2_020_000 + 1_000_000, 2_045_000),
                (3_020_000 + 1_000_000, 3_050_000),
            ],
            no_rx: 1,
            no_tx: 0,
            carried: 4,
        };
        let o = Offset {
            before: est(1_000_000, 50_000),
            after: Some(est(1_000_000, 10_000)),
        };
        let r = OneWayReport::of(&pairs, Some(o), [3, 3]);
        let p = r.one_way_delay_us.as_ref().unwrap();
        assert!(
            (p.min - 20.0).abs() < 0.1 && (p.max - 30.0).abs() < 0.1,
            "{p:?}"
        );
        assert_eq!(
            (r.offset_bound_us, r.offset_drift_us),
            (Some(50.0), Some(0.0))
        );
        assert!(r.bound_exceeds_spread);
        let mut s = String::new();
        r.write_text(&mut s);
        assert!(
            s.contains("± 50.0 µs") && s.contains("warning") && s.contains("RX 1"),
            "{s}"
        );
        // Without an offset there is no delay to give.
        let none = OneWayReport::of(&pairs, None, [0, 0]);
        assert!(none.one_way_delay_us.is_none() && none.clock_offset_us.is_none());
        let mut s = String::new();
        none.write_text(&mut s);
        assert!(s.contains("not available"), "{s}");
    }
}
