//! The UDP probes' round trips split into their two ways, crusader-style:
//! up, from the client's send to the server's receive, and down, from the
//! server's reply to the client's receive. Each UDP probe is a stamped
//! echo whose reply carries the server's times of it
//! ([`crate::proto::stamps`]), so each probe gives the four times of an
//! [`Exchange`]: t1 the client sent, t2 the server received (its kernel's
//! RX stamp, or its read when it took none), t3 the server was about to
//! reply, t4 the client received; t1 and t4 on the client's clock, t2 and
//! t3 on the server's.
//!
//! The two clocks are put on one by the offset estimator of
//! [`crate::session::offset`] over every UDP probe of the run: the
//! exchange with the least network RTT gives the server's clock minus the
//! client's, θ, within a bound of half that RTT. Then
//!
//! - up = (t2 − θ) − t1, down = t4 − (t3 − θ), each within ± the bound.
//!
//! Client and server on one host (loopback, the lab's namespaces) read one
//! kernel clock, and the estimate finds θ ≈ 0 within its bound; between
//! hosts it finds their offset, as far as the least round trip allows. A
//! phase's split is reported only when the bound is under
//! [`SPLIT_FRACTION`] of the phase's median UDP round trip (t4 − t1), so
//! that the error it allows is small beside what it splits; otherwise it
//! is not available, and the report says why. Pure arithmetic: no socket
//! and no clock.

use crate::session::offset::{Estimate, Exchange, estimate};

/// The largest bound, as a fraction of a phase's median UDP round trip,
/// under which the phase's round trips are split.
pub const SPLIT_FRACTION: f64 = 0.25;

/// How the split is computed, for the report.
pub const SPLIT_RULE: &str = "up = t2 - theta - t1, down = t4 - t3 + theta, with theta (the server's clock minus the client's) from the UDP probe with the least network RTT, within half that RTT; reported when that bound is under a quarter of the phase's median UDP round trip";

/// Why a phase with no stamped UDP probe is not split.
pub const NO_PROBE: &str =
    "not available: no UDP probe came back with the server's times in this phase";

/// The clocks of a run, from every UDP probe's exchange: `None` when no
/// probe came back with its times in order.
pub fn clocks(exchanges: &[Exchange]) -> Option<Estimate> {
    estimate(exchanges)
}

/// One phase's round trips split, µs each: (up, down) per probe, in the
/// order given; or why they are not.
pub fn split(clocks: Option<&Estimate>, exchanges: &[Exchange]) -> Result<Vec<(f64, f64)>, String> {
    let mut rtts: Vec<f64> = exchanges
        .iter()
        .map(|e| (i128::from(e.t4) - i128::from(e.t1)) as f64 / 1e3)
        .collect();
    if rtts.is_empty() {
        return Err(NO_PROBE.into());
    }
    let Some(c) = clocks else {
        return Err(
            "not available: no UDP probe came back with the server's times in order".into(),
        );
    };
    rtts.sort_by(f64::total_cmp);
    let median = rtts[rtts.len() / 2];
    let bound = c.bound_ns as f64 / 1e3;
    if bound > SPLIT_FRACTION * median {
        return Err(format!(
            "not available: the clocks' offset is known within {bound:.1} µs, over a quarter of this phase's median UDP round trip ({median:.1} µs)"
        ));
    }
    let theta = c.offset_ns;
    Ok(exchanges
        .iter()
        .map(|e| {
            let (t1, t2, t3, t4) = (
                i128::from(e.t1),
                i128::from(e.t2),
                i128::from(e.t3),
                i128::from(e.t4),
            );
            let up = (t2 - theta - t1) as f64 / 1e3;
            let down = (t4 - (t3 - theta)) as f64 / 1e3;
            (up, down)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An exchange taking `up` and `down` µs on the wire, 10 µs at the
    /// server, sent at `at` µs, with the server's clock `offset` µs ahead.
    fn ex(at: u64, up: u64, down: u64, offset: i64) -> Exchange {
        let ns = |us: u64| us * 1000;
        let server = |us: u64| (us as i64 + offset) as u64 * 1000;
        Exchange {
            t1: ns(at),
            t2: server(at + up),
            t3: server(at + up + 10),
            t4: ns(at + up + 10 + down),
        }
    }

    #[test]
    fn a_shared_clock_splits_a_loaded_download_into_its_ways() {
        // Idle: 50 µs each way; loaded toward the client: 40 ms down.
        let idle = [ex(1_000, 50, 50, 0), ex(2_000, 60, 55, 0)];
        let loaded = [ex(10_000, 55, 40_000, 0), ex(60_000, 50, 41_000, 0)];
        let all: Vec<Exchange> = idle.iter().chain(&loaded).copied().collect();
        let c = clocks(&all).unwrap();
        assert_eq!((c.offset_ns, c.bound_ns), (0, 50_000));
        let s = split(Some(&c), &loaded).unwrap();
        assert_eq!(s, [(55.0, 40_000.0), (50.0, 41_000.0)]);
        // The idle phase's own round trips are too short for the bound.
        let e = split(Some(&c), &idle).unwrap_err();
        assert!(e.contains("within 50.0 µs"), "{e}");
    }

    #[test]
    fn an_offset_between_hosts_is_taken_out() {
        let all = [ex(1_000, 100, 100, 5_000), ex(5_000, 100, 30_000, 5_000)];
        let c = clocks(&all).unwrap();
        assert_eq!(c.offset_ns, 5_000_000);
        let s = split(Some(&c), &all[1..]).unwrap();
        assert_eq!(s, [(100.0, 30_000.0)]);
    }

    #[test]
    fn no_clock_or_no_probe_says_why() {
        assert_eq!(split(None, &[]).unwrap_err(), NO_PROBE);
        let one = [ex(0, 10, 10, 0)];
        assert!(split(None, &one).unwrap_err().contains("in order"));
        let c = clocks(&one).unwrap();
        assert_eq!(split(Some(&c), &[]).unwrap_err(), NO_PROBE);
        // Times out of order are no clock at all.
        let mut bad = ex(0, 10, 10, 0);
        bad.t3 = bad.t2 - 1;
        assert_eq!(clocks(&[bad]), None);
    }
}
