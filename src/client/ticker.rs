//! What a long action shows while it runs: interval reports (`-i DUR`, as
//! iperf3 prints them), one JSON line per interval (`--json-stream`), and a
//! progress bar for a file when stderr is a terminal.
//!
//! The loops of the client call [`Ticker::due`] after each read (a clock
//! read) and [`Ticker::tick`] when it says so, handing in their running
//! totals; the ticker turns them into per-interval figures. One of several
//! flows prints nothing itself: its ticker publishes the totals to a
//! [`Probe`] that the flows' runner samples.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use super::probe::{self, Probe};
use crate::units::{format_bitrate, format_bytes};

/// How often the progress bar is redrawn.
const BAR_EVERY: Duration = Duration::from_millis(100);
/// A file shows a bar only once it has run this long.
const BAR_AFTER: Duration = Duration::from_secs(1);

/// What the command line asked to see while the action runs.
#[derive(Debug, Clone, Default)]
pub struct TickerConfig {
    /// `-i DUR`: an interval report every DUR.
    pub every: Option<Duration>,
    /// `--json-stream`: each interval as a JSON line on stdout.
    pub json_stream: bool,
    /// Text reports go to stderr (stdout carries `--print-file`'s bytes).
    pub to_stderr: bool,
    /// Whether a progress bar may be shown (not with JSON output).
    pub bar: bool,
    /// Where one of several flows publishes its totals.
    pub probe: Option<Arc<Probe>>,
}

/// One interval's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Interval {
    /// Start, seconds since the action began.
    pub start: f64,
    /// End, seconds since the action began.
    pub end: f64,
    /// Payload bytes received in the interval.
    pub bytes: u64,
    /// `bytes` × 8 / length.
    pub goodput_bps: f64,
    /// The same payload with every header of the model's full segments
    /// (or datagrams), per second.
    pub wire_bps: f64,
    /// TCP: segments retransmitted in the interval (`TCP_INFO`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retransmissions: Option<u64>,
    /// UDP: datagrams missing below the highest sequence number seen, new in
    /// the interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost: Option<u64>,
}

/// Running totals a loop hands to the ticker.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    /// Payload bytes so far.
    pub bytes: u64,
    /// TCP retransmissions so far.
    pub retransmissions: Option<u64>,
    /// UDP datagrams missing so far.
    pub lost: Option<u64>,
}

impl Interval {
    /// The interval from `start` to `end` seconds in which the totals went
    /// from `last` to `now`, its wire rate priced at `wire_factor`.
    pub fn between(start: f64, end: f64, last: Totals, now: Totals, wire_factor: f64) -> Interval {
        let len = (end - start).max(1e-9);
        let bytes = now.bytes.saturating_sub(last.bytes);
        Interval {
            start,
            end,
            bytes,
            goodput_bps: bytes as f64 * 8.0 / len,
            wire_bps: bytes as f64 * wire_factor * 8.0 / len,
            retransmissions: now
                .retransmissions
                .map(|r| r.saturating_sub(last.retransmissions.unwrap_or(0))),
            lost: now.lost.map(|l| l.saturating_sub(last.lost.unwrap_or(0))),
        }
    }

    /// The line `-i` prints for it.
    pub fn line(&self) -> String {
        let extra = match (self.retransmissions, self.lost) {
            (Some(r), _) => format!("  {r} retransmitted"),
            (_, Some(l)) => format!("  {l} lost"),
            _ => String::new(),
        };
        format!(
            "[{:7.2}-{:7.2} s] {:>26}  goodput {:>14}  wire {:>14}{extra}",
            self.start,
            self.end,
            format_bytes(self.bytes),
            format_bitrate(self.goodput_bps),
            format_bitrate(self.wire_bps)
        )
    }
}

impl Totals {
    /// A UDP action's totals: bytes, and datagrams missing so far.
    pub fn udp(bytes: u64, lost: u64) -> Totals {
        Totals {
            bytes,
            retransmissions: None,
            lost: Some(lost),
        }
    }
}

/// Interval reports and the progress bar of one action.
#[derive(Debug)]
pub struct Ticker {
    cfg: TickerConfig,
    start: Instant,
    next: Instant,
    last_at: f64,
    last: Totals,
    wire_factor: f64,
    intervals: Vec<Interval>,
    total: Option<u64>,
    bar: Option<ProgressBar>,
    bar_next: Instant,
    /// When the totals are next published to the probe (if any).
    probe_next: Instant,
}

impl Ticker {
    /// A ticker for an action that started at `start`, expecting `total`
    /// payload bytes (a file) or an unknown amount; `wire_factor` is wire
    /// bytes per payload byte of a full segment in the model.
    pub fn new(cfg: TickerConfig, start: Instant, total: Option<u64>, wire_factor: f64) -> Ticker {
        let far = start + Duration::from_secs(365 * 24 * 3600);
        if let Some(p) = &cfg.probe {
            p.set_wire_factor(wire_factor);
        }
        Ticker {
            next: cfg.every.map_or(far, |e| start + e),
            cfg,
            start,
            last_at: 0.0,
            last: Totals::default(),
            wire_factor,
            intervals: Vec::new(),
            total,
            bar: None,
            bar_next: start + BAR_AFTER,
            probe_next: start,
        }
    }

    /// Whether [`tick`](Self::tick) has something to do now.
    pub fn due(&self) -> bool {
        self.due_at(Instant::now())
    }

    /// As [`due`](Self::due), at a time the caller already read.
    pub fn due_at(&self, now: Instant) -> bool {
        now >= self.next
            || (self.cfg.bar && self.total.is_some() && now >= self.bar_next)
            || (self.cfg.probe.is_some() && now >= self.probe_next)
    }

    /// Updates the bar and closes the intervals that have ended.
    pub fn tick(&mut self, t: Totals) {
        let now = Instant::now();
        if let Some(p) = self.cfg.probe.as_ref().filter(|_| now >= self.probe_next) {
            p.publish(t);
            self.probe_next = now + probe::PUBLISH_EVERY;
        }
        if self.cfg.bar && now >= self.bar_next {
            self.draw_bar(t.bytes);
            self.bar_next = now + BAR_EVERY;
        }
        if let Some(every) = self.cfg.every {
            if now >= self.next {
                let end = (now - self.start).as_secs_f64();
                self.close(end, t);
                while self.next <= now {
                    self.next += every;
                }
            }
        }
    }

    fn draw_bar(&mut self, bytes: u64) {
        let Some(total) = self.total else { return };
        if !std::io::stderr().is_terminal() {
            self.cfg.bar = false;
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) =
                ProgressStyle::with_template("{bar:40} {binary_bytes}/{binary_total_bytes}  {msg}")
            {
                b.set_style(style);
            }
            b
        });
        // The rate over the whole transfer so far, and the time left at it:
        // steadier than an estimate over the last few updates.
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let rate = bytes as f64 / secs;
        let left = total.saturating_sub(bytes) as f64 / rate.max(1.0);
        bar.set_message(format!("{}  eta {left:.0} s", format_bitrate(rate * 8.0)));
        bar.set_position(bytes);
    }

    fn close(&mut self, end: f64, t: Totals) {
        let i = Interval::between(self.last_at, end, self.last, t, self.wire_factor);
        self.emit(&i);
        self.intervals.push(i);
        self.last = t;
        self.last_at = end;
    }

    fn emit(&self, i: &Interval) {
        if self.cfg.json_stream {
            if let Ok(line) = crate::schema::to_line(&serde_json::json!({ "interval": i })) {
                println!("{line}");
            }
            return;
        }
        let line = i.line();
        if let Some(b) = &self.bar {
            b.suspend(|| eprintln!("{line}"));
        } else if self.cfg.to_stderr {
            eprintln!("{line}");
        } else {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }

    /// Closes the last, partial interval and the bar; the intervals.
    pub fn finish(mut self, t: Totals) -> Vec<Interval> {
        if let Some(p) = &self.cfg.probe {
            p.publish(t);
        }
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
        if self.cfg.every.is_some() {
            let end = self.start.elapsed().as_secs_f64();
            if end > self.last_at && (t.bytes > self.last.bytes || self.intervals.is_empty()) {
                self.close(end, t);
            }
        }
        self.intervals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_split_the_totals() {
        let cfg = TickerConfig {
            every: Some(Duration::from_millis(20)),
            ..TickerConfig::default()
        };
        let start = Instant::now();
        let mut t = Ticker::new(
            TickerConfig {
                json_stream: true,
                ..cfg
            },
            start,
            None,
            1.5,
        );
        let mut bytes = 0;
        while start.elapsed() < Duration::from_millis(70) {
            bytes += 1000;
            if t.due() {
                t.tick(Totals {
                    bytes,
                    retransmissions: Some(bytes / 10_000),
                    lost: None,
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let iv = t.finish(Totals {
            bytes,
            retransmissions: Some(bytes / 10_000),
            lost: None,
        });
        assert!(iv.len() >= 3, "{iv:?}");
        assert_eq!(iv.iter().map(|i| i.bytes).sum::<u64>(), bytes);
        for w in iv.windows(2) {
            assert!((w[0].end - w[1].start).abs() < 1e-12);
        }
        let i = &iv[0];
        assert!((i.wire_bps / i.goodput_bps - 1.5).abs() < 1e-9);
    }
}
