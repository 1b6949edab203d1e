//! A monotonic instant pinned to the Unix-epoch clock: pure arithmetic
//! between the time a session is given and the stamps the protocol carries.

use std::time::Instant;

/// A monotonic instant mapped onto the Unix-epoch clock, so that times of one
/// run stay consistent even if the wall clock is stepped during it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epoch {
    at: Instant,
    unix_ns: u64,
}

impl Epoch {
    /// Pins `at` to `unix_ns` nanoseconds since the Unix epoch.
    pub fn pin(at: Instant, unix_ns: u64) -> Epoch {
        Epoch { at, unix_ns }
    }

    /// The Unix-epoch time of `t`.
    pub fn unix_ns_of(&self, t: Instant) -> u64 {
        if t >= self.at {
            self.unix_ns + (t - self.at).as_nanos() as u64
        } else {
            self.unix_ns.saturating_sub((self.at - t).as_nanos() as u64)
        }
    }

    /// The instant of a Unix-epoch time `ns` (clamped to the pinned instant
    /// when `ns` is before it).
    pub fn instant_of(&self, ns: u64) -> Instant {
        self.at + std::time::Duration::from_nanos(ns.saturating_sub(self.unix_ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn instants_and_unix_times_map_both_ways() {
        let base = Instant::now();
        let e = Epoch::pin(base, 1_000_000_000);
        let t = base + Duration::from_micros(1500);
        assert_eq!(e.unix_ns_of(t), 1_001_500_000);
        assert_eq!(e.instant_of(1_001_500_000), t);
        assert_eq!(e.unix_ns_of(base - Duration::from_secs(2)), 0);
        assert_eq!(e.instant_of(5), base);
    }
}
