//! A seeded network for tests: it carries datagrams between endpoints on
//! virtual time and drops, duplicates, reorders and delays them by seeded
//! probabilities, the same way on every run with the same seed.
//!
//! Pure: it reads no clock and owns no socket. A test sends what an
//! endpoint's `poll_transmit` returned ([`TestNet::send_transmit`] splits a
//! GSO batch into its datagrams), asks when the next datagram lands
//! ([`TestNet::next_arrival`]), and takes the datagrams due at an instant
//! ([`TestNet::deliver`]) to hand to the receiving endpoint.

use super::Transmit;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// xorshift64*: a small, fast generator, ample for test faults.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (any value; zero is mapped to a fixed non-zero state).
    pub fn new(seed: u64) -> XorShift {
        XorShift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// A value uniform in `[0, n)` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

/// What the network does to each datagram, as probabilities and delays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a delivered datagram arrives twice.
    pub duplicate: f64,
    /// Probability that a datagram is held back by `reorder_delay` more, so
    /// that later ones overtake it.
    pub reorder: f64,
    /// One-way delay of every datagram.
    pub delay: Duration,
    /// Extra delay, uniform in `[0, jitter)`, added to each datagram.
    pub jitter: Duration,
    /// How much longer a reordered datagram is held back.
    pub reorder_delay: Duration,
}

impl Faults {
    /// A perfect network: no loss, no duplicates, in order, `delay` one way.
    pub fn clean(delay: Duration) -> Faults {
        Faults {
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            delay,
            jitter: Duration::ZERO,
            reorder_delay: Duration::ZERO,
        }
    }

    /// A bad network: `loss`, `duplicate` and `reorder` probabilities, 1 ms
    /// one way, 200 µs jitter, reordered datagrams 3 ms late.
    pub fn lossy(loss: f64, duplicate: f64, reorder: f64) -> Faults {
        Faults {
            loss,
            duplicate,
            reorder,
            delay: Duration::from_millis(1),
            jitter: Duration::from_micros(200),
            reorder_delay: Duration::from_millis(3),
        }
    }
}

/// One datagram landing at its receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// When it lands.
    pub at: Instant,
    /// Its sender.
    pub from: SocketAddr,
    /// Its receiver.
    pub to: SocketAddr,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// What the network did, counted per datagram.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Datagrams handed to the network.
    pub sent: u64,
    /// Datagrams it dropped.
    pub lost: u64,
    /// Extra copies it made.
    pub duplicated: u64,
    /// Datagrams it held back to be overtaken.
    pub reordered: u64,
    /// Datagrams (copies included) it has delivered.
    pub delivered: u64,
}

/// A datagram in flight, ordered by landing time, then by the order it was
/// scheduled in (so equal times keep their order and runs are deterministic).
#[derive(Debug)]
struct Flight {
    at: Instant,
    order: u64,
    delivery: Delivery,
}

impl PartialEq for Flight {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Flight {}
impl PartialOrd for Flight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Flight {
    /// Reversed, so that the max-heap pops the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.order).cmp(&(self.at, self.order))
    }
}

/// The network: datagrams in flight between any addresses.
#[derive(Debug)]
pub struct TestNet {
    rng: XorShift,
    faults: Faults,
    flights: BinaryHeap<Flight>,
    order: u64,
    stats: NetStats,
}

impl TestNet {
    /// A network with `faults`, its choices drawn from `seed`.
    pub fn new(seed: u64, faults: Faults) -> TestNet {
        TestNet {
            rng: XorShift::new(seed),
            faults,
            flights: BinaryHeap::new(),
            order: 0,
            stats: NetStats::default(),
        }
    }

    /// Changes the faults from now on (datagrams in flight keep their fate).
    pub fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// What the network has done so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// How many datagrams are in flight.
    pub fn in_flight(&self) -> usize {
        self.flights.len()
    }

    /// Sends one datagram at `now`; the network decides its fate.
    pub fn send(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, datagram: &[u8]) {
        self.stats.sent += 1;
        if self.rng.chance(self.faults.loss) {
            self.stats.lost += 1;
            return;
        }
        let copies = if self.rng.chance(self.faults.duplicate) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut at = now + self.faults.delay + self.jitter();
            if self.rng.chance(self.faults.reorder) {
                self.stats.reordered += 1;
                at += self.faults.reorder_delay;
            }
            self.order += 1;
            self.flights.push(Flight {
                at,
                order: self.order,
                delivery: Delivery {
                    at,
                    from,
                    to,
                    bytes: datagram.to_vec(),
                },
            });
        }
    }

    /// Sends what an endpoint's `poll_transmit` wrote into `buf`: one
    /// datagram, or each datagram of a GSO batch.
    pub fn send_transmit(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        buf: &[u8],
        transmit: Transmit,
    ) {
        let bytes = &buf[..transmit.len];
        match transmit.segment {
            Some(size) if size > 0 => {
                for datagram in bytes.chunks(size) {
                    self.send(now, from, to, datagram);
                }
            }
            _ => self.send(now, from, to, bytes),
        }
    }

    /// When the next datagram in flight lands.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.flights.peek().map(|f| f.at)
    }

    /// The next datagram that has landed by `now`, earliest first.
    pub fn deliver(&mut self, now: Instant) -> Option<Delivery> {
        if self.next_arrival()? > now {
            return None;
        }
        let flight = self.flights.pop()?;
        self.stats.delivered += 1;
        Some(flight.delivery)
    }

    fn jitter(&mut self) -> Duration {
        let range = self.faults.jitter.as_nanos() as u64;
        Duration::from_nanos(self.rng.below(range))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn run(seed: u64, faults: Faults) -> (Vec<(Duration, u8)>, NetStats) {
        let base = Instant::now();
        let mut net = TestNet::new(seed, faults);
        for i in 0..200u8 {
            let at = base + Duration::from_micros(100 * i as u64);
            net.send(at, addr(1), addr(2), &[i]);
        }
        let mut got = Vec::new();
        while let Some(t) = net.next_arrival() {
            while let Some(d) = net.deliver(t) {
                assert_eq!((d.from, d.to), (addr(1), addr(2)));
                got.push((d.at - base, d.bytes[0]));
            }
        }
        (got, net.stats())
    }

    #[test]
    fn a_clean_network_delivers_everything_in_order_after_its_delay() {
        let (got, stats) = run(7, Faults::clean(Duration::from_millis(2)));
        assert_eq!(got.len(), 200);
        for (i, (at, b)) in got.iter().enumerate() {
            assert_eq!(*b as usize, i);
            assert_eq!(*at, Duration::from_micros(100 * i as u64 + 2000));
        }
        assert_eq!(stats.delivered, 200);
        assert_eq!(stats.lost + stats.duplicated + stats.reordered, 0);
    }

    #[test]
    fn faults_are_seeded_and_counted() {
        let faults = Faults::lossy(0.2, 0.1, 0.1);
        let (a, sa) = run(42, faults);
        let (b, sb) = run(42, faults);
        assert_eq!(a, b, "same seed, same run");
        assert_eq!(sa, sb);
        let (c, _) = run(43, faults);
        assert_ne!(a, c, "another seed, another run");
        assert!(
            sa.lost > 10 && sa.duplicated > 5 && sa.reordered > 5,
            "{sa:?}"
        );
        assert_eq!(sa.delivered, sa.sent - sa.lost + sa.duplicated);
        assert!(a.windows(2).any(|w| w[0].1 > w[1].1), "some overtaken");
        assert!(a.windows(2).all(|w| w[0].0 <= w[1].0), "landing order");
    }

    #[test]
    fn a_gso_batch_is_split_into_its_datagrams() {
        let base = Instant::now();
        let mut net = TestNet::new(1, Faults::clean(Duration::ZERO));
        let buf = [1u8, 1, 1, 2, 2, 2, 3];
        let t = Transmit {
            len: 7,
            segment: Some(3),
        };
        net.send_transmit(base, addr(1), addr(2), &buf, t);
        let mut sizes = Vec::new();
        while let Some(d) = net.deliver(base) {
            sizes.push(d.bytes);
        }
        assert_eq!(sizes, vec![vec![1, 1, 1], vec![2, 2, 2], vec![3]]);
        assert_eq!(net.deliver(base), None);
    }
}
