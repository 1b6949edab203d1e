//! When probes go. A round of probes (one of each foreign kind) costs a
//! known number of bytes on the wire; rounds are spaced so that they take
//! under 1 % of the bottleneck's rate, taken as the goodput the load moves,
//! and never closer than [`MIN_INTERVAL`]. Before any goodput is known (the
//! idle phase, a loaded phase's first second) rounds go every
//! [`IDLE_INTERVAL`].

use std::time::Duration;

/// The closest rounds go.
pub const MIN_INTERVAL: Duration = Duration::from_millis(20);
/// The spacing of rounds before any goodput is known.
pub const IDLE_INTERVAL: Duration = Duration::from_millis(50);
/// The share of the bottleneck's rate probes may take.
const SHARE: f64 = 0.01;

/// The spacing of probe rounds of `round_bytes` on the wire each, with the
/// bottleneck moving `goodput_bps` (`None`: not known yet).
pub fn probe_interval(round_bytes: u64, goodput_bps: Option<f64>) -> Duration {
    let Some(g) = goodput_bps.filter(|g| *g > 0.0) else {
        return IDLE_INTERVAL;
    };
    let secs = round_bytes as f64 * 8.0 / (SHARE * g);
    Duration::from_secs_f64(secs.min(10.0)).max(MIN_INTERVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_stay_under_one_percent() {
        // 1000 bytes a round at 50 Mbit/s: 1 % is 500 kbit/s, 62.5 rounds
        // a second at most: every 16 ms, raised to the 20 ms floor.
        assert_eq!(probe_interval(1000, Some(50e6)), MIN_INTERVAL);
        // At 1 Mbit/s: 10 kbit/s for probes, 8000 bits a round: 0.8 s.
        assert_eq!(probe_interval(1000, Some(1e6)), Duration::from_millis(800));
        assert_eq!(probe_interval(1000, None), IDLE_INTERVAL);
        assert_eq!(probe_interval(1000, Some(0.0)), IDLE_INTERVAL);
    }
}
