//! Pacing to a bit rate, as arithmetic on the time a session is given: when
//! the next bytes are due, and how many are due by an instant. The driver
//! sleeps; the pacer only says until when.

use std::time::{Duration, Instant};

/// Paces bytes to a bitrate: the byte that brings the total to `n` is due
/// at `t0 + 8n / rate`. Deadlines are absolute, so a late wake-up is made
/// up by sending back to back. A rate of 0 never waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacer {
    t0: Instant,
    rate_bps: u64,
    bytes: u64,
}

impl Pacer {
    /// How early a send may go: a sleep is not finer than this anyway.
    pub const EARLY: Duration = Duration::from_micros(50);

    /// A pacer whose first byte is due at `t0`.
    pub fn new(t0: Instant, rate_bps: u64) -> Pacer {
        Pacer {
            t0,
            rate_bps,
            bytes: 0,
        }
    }

    /// When the next `n` bytes may leave.
    pub fn due(&self, n: u64) -> Instant {
        if self.rate_bps == 0 {
            return self.t0;
        }
        let bits = (self.bytes + n) as u128 * 8;
        let ns = bits * 1_000_000_000 / u128::from(self.rate_bps);
        self.t0 + Duration::from_nanos(ns.min(u64::MAX as u128) as u64)
    }

    /// Bytes, beyond those counted, due by `now` (within [`Pacer::EARLY`]):
    /// `u64::MAX` when unpaced.
    pub fn room(&self, now: Instant) -> u64 {
        if self.rate_bps == 0 {
            return u64::MAX;
        }
        let ns = (now + Self::EARLY)
            .saturating_duration_since(self.t0)
            .as_nanos();
        let due = ns * u128::from(self.rate_bps) / 8 / 1_000_000_000;
        (due.min(u64::MAX as u128) as u64).saturating_sub(self.bytes)
    }

    /// Counts `n` bytes as sent.
    pub fn count(&mut self, n: u64) {
        self.bytes += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_deadlines_follow_the_rate() {
        let t0 = Instant::now();
        let p = Pacer::new(t0, 8_000_000); // 1 MB/s
        assert_eq!(p.due(1000) - t0, Duration::from_millis(1));
        let unpaced = Pacer::new(t0, 0);
        assert_eq!(unpaced.due(1 << 30), t0);
    }

    #[test]
    fn room_is_what_the_rate_allows_by_then_less_what_was_counted() {
        let t0 = Instant::now();
        let mut p = Pacer::new(t0, 8_000_000); // 1 MB/s: 1 byte per µs
        let at = t0 + Duration::from_millis(1) - Pacer::EARLY;
        assert_eq!(p.room(at), 1000);
        p.count(600);
        assert_eq!(p.room(at), 400);
        p.count(600);
        assert_eq!(p.room(at), 0, "never negative");
        assert_eq!(p.due(0) - t0, Duration::from_micros(1200));
        assert_eq!(Pacer::new(t0, 0).room(at), u64::MAX);
    }
}
