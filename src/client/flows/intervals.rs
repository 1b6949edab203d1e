//! `-i` with several flows: every interval, a line per flow and a line of
//! their sum (`[  1] …`, `[SUM] …`, as iperf3 prints its streams), or with
//! `--json-stream` a JSON line per flow (`{"flow": N, "interval": …}`) and
//! one of the sum (`{"sum": …}`). One thread samples every flow's
//! [`Probe`]; the flows' own loops print nothing.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::client::probe::Probe;
use crate::client::ticker::{Interval, TickerConfig, Totals};

/// The longest the sampler sleeps before it looks again whether the flows
/// have ended.
const LOOK_EVERY: Duration = Duration::from_millis(10);

/// Samples `probes` every `every` from `start` until `ended` holds the
/// nanoseconds from the start to the last flow's end, printing each
/// interval as `show` says; the sums of every interval.
pub(super) fn sample(
    show: &TickerConfig,
    every: Duration,
    start: Instant,
    probes: &[Arc<Probe>],
    ended: &AtomicU64,
) -> Vec<Interval> {
    let mut s = Sampler::new(probes.len());
    let mut due = start + every;
    let end = loop {
        let end = ended.load(Ordering::Acquire);
        if end != u64::MAX {
            break Duration::from_nanos(end).as_secs_f64();
        }
        let now = Instant::now();
        if now < due {
            std::thread::sleep((due - now).min(LOOK_EVERY));
            continue;
        }
        let (each, sum) = s.close((now - start).as_secs_f64(), &read(probes));
        emit(show, &each, &sum);
        while due <= now {
            due += every;
        }
    };
    let last = read(probes);
    let bytes = last.iter().map(|(t, _)| t.bytes).sum::<u64>();
    // The last, partial interval when it holds bytes; the first, whole
    // run when it was shorter than one interval.
    if end > s.last_at && bytes > s.bytes() {
        let (each, sum) = s.close(end, &last);
        emit(show, &each, &sum);
    }
    s.sums
}

/// Each flow's totals and wire factor, as last published.
fn read(probes: &[Arc<Probe>]) -> Vec<(Totals, f64)> {
    probes
        .iter()
        .map(|p| (p.totals(), p.wire_factor()))
        .collect()
}

/// The intervals of several flows, from their running totals.
#[derive(Debug)]
struct Sampler {
    last: Vec<Totals>,
    last_at: f64,
    sums: Vec<Interval>,
}

impl Sampler {
    fn new(flows: usize) -> Sampler {
        Sampler {
            last: vec![Totals::default(); flows],
            last_at: 0.0,
            sums: Vec::new(),
        }
    }

    /// Payload bytes of every flow so far.
    fn bytes(&self) -> u64 {
        self.last.iter().map(|t| t.bytes).sum()
    }

    /// Closes the interval that ends at `end` seconds with the flows at
    /// `now` (totals, wire factor): each flow's interval, and their sum.
    fn close(&mut self, end: f64, now: &[(Totals, f64)]) -> (Vec<Interval>, Interval) {
        let each: Vec<Interval> = now
            .iter()
            .zip(&self.last)
            .map(|((t, f), l)| Interval::between(self.last_at, end, *l, *t, *f))
            .collect();
        let sum = sum_of(&each, self.last_at, end);
        self.last = now.iter().map(|(t, _)| *t).collect();
        self.last_at = end;
        self.sums.push(sum.clone());
        (each, sum)
    }
}

/// The flows' intervals from `start` to `end`, added up.
fn sum_of(each: &[Interval], start: f64, end: f64) -> Interval {
    let add = |f: fn(&Interval) -> Option<u64>| each.iter().filter_map(f).reduce(|a, b| a + b);
    Interval {
        start,
        end,
        bytes: each.iter().map(|i| i.bytes).sum(),
        goodput_bps: each.iter().map(|i| i.goodput_bps).sum(),
        wire_bps: each.iter().map(|i| i.wire_bps).sum(),
        retransmissions: add(|i| i.retransmissions),
        lost: add(|i| i.lost),
    }
}

/// Prints one interval of every flow and their sum.
fn emit(show: &TickerConfig, each: &[Interval], sum: &Interval) {
    let mut lines = Vec::with_capacity(each.len() + 1);
    if show.json_stream {
        for (n, i) in each.iter().enumerate() {
            let v = serde_json::json!({ "flow": n + 1, "interval": i });
            lines.extend(crate::schema::to_line(&v));
        }
        lines.extend(crate::schema::to_line(&serde_json::json!({ "sum": sum })));
    } else {
        for (n, i) in each.iter().enumerate() {
            lines.push(format!("[{:3}] {}", n + 1, i.line()));
        }
        lines.push(format!("[SUM] {}", sum.line()));
    }
    let text = lines.join("\n") + "\n";
    if show.to_stderr && !show.json_stream {
        eprint!("{text}");
    } else {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_interval_splits_every_flow_and_sums_them() {
        let mut s = Sampler::new(2);
        let tcp = |bytes, r| Totals {
            bytes,
            retransmissions: Some(r),
            lost: None,
        };
        let (each, sum) = s.close(1.0, &[(tcp(1000, 1), 1.5), (tcp(3000, 0), 1.0)]);
        assert_eq!(
            (each[0].bytes, each[1].bytes, sum.bytes),
            (1000, 3000, 4000)
        );
        assert_eq!(sum.goodput_bps, 32_000.0);
        assert_eq!(sum.wire_bps, 1000.0 * 1.5 * 8.0 + 3000.0 * 8.0);
        assert_eq!(sum.retransmissions, Some(1));
        assert_eq!(sum.lost, None);
        let (each, sum) = s.close(1.5, &[(tcp(1500, 3), 1.5), (tcp(3000, 0), 1.0)]);
        assert_eq!((each[0].start, each[0].end), (1.0, 1.5));
        assert_eq!((each[0].bytes, each[1].bytes, sum.bytes), (500, 0, 500));
        assert_eq!(sum.retransmissions, Some(2));
        assert_eq!(s.bytes(), 4500);
        assert_eq!(s.sums.len(), 2);
    }
}
