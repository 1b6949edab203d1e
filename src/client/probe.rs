//! A flow's running totals, published by the loop that drives it for a
//! thread that samples several flows at once (`-P N` with `-i`, and the
//! figures of a flow that failed): plain atomics, written a few hundred
//! times a second, never waited on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::ticker::Totals;

/// How often, at most, a flow's ticker publishes its totals.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(5);

/// An absent count (`None` in [`Totals`]).
const NONE: u64 = u64::MAX;

/// One flow's totals as last published.
#[derive(Debug)]
pub struct Probe {
    bytes: AtomicU64,
    retransmissions: AtomicU64,
    lost: AtomicU64,
    /// Wire bytes per payload byte of a full segment, as `f64` bits.
    wire_factor: AtomicU64,
}

impl Default for Probe {
    fn default() -> Probe {
        Probe {
            bytes: AtomicU64::new(0),
            retransmissions: AtomicU64::new(NONE),
            lost: AtomicU64::new(NONE),
            wire_factor: AtomicU64::new(1.0f64.to_bits()),
        }
    }
}

impl Probe {
    /// Publishes the flow's totals.
    pub fn publish(&self, t: Totals) {
        self.bytes.store(t.bytes, Ordering::Relaxed);
        let opt = |v: Option<u64>| v.unwrap_or(NONE);
        self.retransmissions
            .store(opt(t.retransmissions), Ordering::Relaxed);
        self.lost.store(opt(t.lost), Ordering::Relaxed);
    }

    /// The totals last published.
    pub fn totals(&self) -> Totals {
        let opt = |v: u64| (v != NONE).then_some(v);
        Totals {
            bytes: self.bytes.load(Ordering::Relaxed),
            retransmissions: opt(self.retransmissions.load(Ordering::Relaxed)),
            lost: opt(self.lost.load(Ordering::Relaxed)),
        }
    }

    /// Sets the flow's wire bytes per payload byte.
    pub fn set_wire_factor(&self, f: f64) {
        self.wire_factor.store(f.to_bits(), Ordering::Relaxed);
    }

    /// The flow's wire bytes per payload byte (1 until its action says).
    pub fn wire_factor(&self) -> f64 {
        f64::from_bits(self.wire_factor.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_come_back_as_published() {
        let p = Probe::default();
        assert_eq!(p.totals().bytes, 0);
        assert_eq!(p.totals().lost, None);
        p.publish(Totals::udp(1000, 3));
        let t = p.totals();
        assert_eq!((t.bytes, t.retransmissions, t.lost), (1000, None, Some(3)));
        p.set_wire_factor(1.25);
        assert_eq!(p.wire_factor(), 1.25);
    }
}
