//! Over UDP a source address can be forged, so a server that answers large
//! replies can be turned against a third party. Two rules guard against it,
//! both pure code here:
//!
//! - **The amplification limit** (RFC 9000 §8.1): to an address it has not
//!   validated, the server sends at most [`AMPLIFICATION`] times the bytes it
//!   received from it. [`Budgets`] keeps the count per address, in a table of
//!   bounded size.
//! - **Validation by cookie**: before a file or a stream, the client asks
//!   for a token and sends it back in its request. The token is a keyed hash
//!   (SipHash with a random per-server key) of the client's address and a
//!   time bucket, so the server keeps no state for it; only a client that
//!   receives at its address can present it.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::SocketAddr;

/// The most an unvalidated address may receive per byte it sent.
pub const AMPLIFICATION: u64 = 3;
/// How long a token is good for, at least (it is accepted in the bucket it
/// was issued in and the next).
pub const TOKEN_LIFETIME_S: u64 = 30;

/// Issues and checks stateless tokens.
#[derive(Debug, Clone, Default)]
pub struct Validator {
    key: RandomState,
}

impl Validator {
    /// A validator with a fresh random key.
    pub fn new() -> Validator {
        Validator {
            key: RandomState::new(),
        }
    }

    fn token_at(&self, addr: &SocketAddr, bucket: u64) -> u64 {
        let mut h = self.key.build_hasher();
        addr.hash(&mut h);
        bucket.hash(&mut h);
        h.finish()
    }

    /// The token for `addr` at `now_s` (seconds on any steady clock).
    pub fn issue(&self, addr: &SocketAddr, now_s: u64) -> u64 {
        self.token_at(addr, now_s / TOKEN_LIFETIME_S)
    }

    /// Whether `token` was issued to `addr` in this bucket or the last.
    pub fn check(&self, addr: &SocketAddr, token: u64, now_s: u64) -> bool {
        let b = now_s / TOKEN_LIFETIME_S;
        token == self.token_at(addr, b) || (b > 0 && token == self.token_at(addr, b - 1))
    }
}

/// Bytes received from and sent to one unvalidated address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    /// Bytes received from it.
    pub received: u64,
    /// Bytes sent to it.
    pub sent: u64,
}

impl Budget {
    /// Bytes that may still be sent.
    pub fn room(&self) -> u64 {
        (self.received.saturating_mul(AMPLIFICATION)).saturating_sub(self.sent)
    }
}

/// Per-address budgets, at most `cap` addresses; the least recently seen is
/// forgotten first (it then starts again from nothing received).
#[derive(Debug)]
pub struct Budgets {
    map: HashMap<SocketAddr, (Budget, u64)>,
    cap: usize,
    tick: u64,
}

impl Budgets {
    /// A table for up to `cap` addresses.
    pub fn new(cap: usize) -> Budgets {
        Budgets {
            map: HashMap::new(),
            cap: cap.max(1),
            tick: 0,
        }
    }

    /// Counts `n` bytes received from `addr`.
    pub fn received(&mut self, addr: SocketAddr, n: usize) {
        self.tick += 1;
        if !self.map.contains_key(&addr) && self.map.len() >= self.cap {
            if let Some(oldest) = self
                .map
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(a, _)| *a)
            {
                self.map.remove(&oldest);
            }
        }
        let e = self.map.entry(addr).or_default();
        e.0.received = e.0.received.saturating_add(n as u64);
        e.1 = self.tick;
    }

    /// How many of `n` bytes may be sent to `addr` now; counts them as sent.
    pub fn take(&mut self, addr: &SocketAddr, n: usize) -> usize {
        let Some((b, _)) = self.map.get_mut(addr) else {
            return 0;
        };
        let ok = (n as u64).min(b.room()) as usize;
        b.sent += ok as u64;
        ok
    }

    /// The budget of `addr`.
    pub fn get(&self, addr: &SocketAddr) -> Budget {
        self.map.get(addr).map(|(b, _)| *b).unwrap_or_default()
    }

    /// Addresses tracked.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no address is tracked.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn tokens_are_bound_to_address_and_time() {
        let v = Validator::new();
        let t = v.issue(&a(1), 100);
        assert!(v.check(&a(1), t, 100));
        assert!(v.check(&a(1), t, 100 + TOKEN_LIFETIME_S));
        assert!(!v.check(&a(1), t, 100 + 3 * TOKEN_LIFETIME_S));
        assert!(!v.check(&a(2), t, 100));
        assert!(!Validator::new().check(&a(1), t, 100), "another key");
    }

    #[test]
    fn never_more_than_three_times_what_came_in() {
        let mut b = Budgets::new(10);
        assert_eq!(b.take(&a(1), 10), 0, "nothing received yet");
        b.received(a(1), 28);
        assert_eq!(b.take(&a(1), 60), 60);
        assert_eq!(b.take(&a(1), 60), 24);
        assert_eq!(b.take(&a(1), 1), 0);
        assert_eq!(
            b.get(&a(1)),
            Budget {
                received: 28,
                sent: 84
            }
        );
    }

    #[test]
    fn the_table_is_bounded() {
        let mut b = Budgets::new(3);
        for p in 1..=10 {
            b.received(a(p), 1);
        }
        assert_eq!(b.len(), 3);
        assert_eq!(b.get(&a(1)), Budget::default(), "oldest forgotten");
        assert_eq!(b.get(&a(10)).received, 1);
    }
}
