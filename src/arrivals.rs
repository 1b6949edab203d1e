//! Which datagrams of a transfer arrived: loss, duplicates and reordering,
//! counted exactly. Pure code: sequence numbers are handed in.
//!
//! A bitmap with one bit per datagram says which arrived. It starts empty
//! and grows as datagrams arrive, up to the highest sequence number seen
//! (and never past the transfer's capacity): a request costs nothing until
//! the sender sends, so one the server refuses allocates nothing, however
//! large it was. A datagram is a duplicate when its bit is already set,
//! reordered when it arrives after a higher sequence number, and lost when
//! the sender says it sent it and its bit is clear, so
//! `received + lost = sent` holds exactly.

use serde::Serialize;

/// What one arrival was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// First copy, in order.
    New,
    /// First copy, after a higher sequence number.
    Reordered,
    /// Seen before.
    Duplicate,
    /// Beyond what the transfer can hold.
    OutOfRange,
}

/// Arrivals of one transfer.
#[derive(Debug, Clone)]
pub struct Arrivals {
    bits: Vec<u64>,
    capacity: u64,
    received: u64,
    duplicates: u64,
    reordered: u64,
    highest: Option<u64>,
}

/// A run of missing sequence numbers, `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// First missing sequence number.
    pub first: u64,
    /// Last missing sequence number.
    pub last: u64,
}

impl Arrivals {
    /// Room for sequence numbers `0..capacity`. Nothing is allocated yet:
    /// the bitmap grows as datagrams arrive.
    pub fn new(capacity: u64) -> Arrivals {
        Arrivals {
            bits: Vec::new(),
            capacity,
            received: 0,
            duplicates: 0,
            reordered: 0,
            highest: None,
        }
    }

    /// Records the arrival of `seq`.
    pub fn record(&mut self, seq: u64) -> Arrival {
        if seq >= self.capacity {
            return Arrival::OutOfRange;
        }
        let (w, b) = ((seq / 64) as usize, seq % 64);
        self.grow_to(w);
        let Some(word) = self.bits.get_mut(w) else {
            return Arrival::OutOfRange;
        };
        if *word & (1 << b) != 0 {
            self.duplicates += 1;
            return Arrival::Duplicate;
        }
        *word |= 1 << b;
        self.received += 1;
        match self.highest {
            Some(h) if seq < h => {
                self.reordered += 1;
                Arrival::Reordered
            }
            _ => {
                self.highest = Some(seq);
                Arrival::New
            }
        }
    }

    /// Makes room for word `w` (below the capacity): at least doubling, so
    /// growth costs amortized constant time per datagram, but never past the
    /// capacity's last word.
    fn grow_to(&mut self, w: usize) {
        if w < self.bits.len() {
            return;
        }
        let last = usize::try_from(self.capacity.div_ceil(64)).unwrap_or(usize::MAX);
        // `w` is below `last`: only sequence numbers under the capacity
        // get here.
        let len = (w + 1).max(self.bits.len().saturating_mul(2)).min(last);
        self.bits.resize(len, 0);
    }

    /// Distinct datagrams received.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Copies received more than once.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Datagrams that arrived after a higher sequence number.
    pub fn reordered(&self) -> u64 {
        self.reordered
    }

    /// Datagrams missing below the highest sequence number seen so far (a
    /// running view of loss while a transfer is under way).
    pub fn missing_so_far(&self) -> u64 {
        self.highest
            .map_or(0, |h| (h + 1).saturating_sub(self.received))
    }

    /// Whether `seq` arrived.
    pub fn has(&self, seq: u64) -> bool {
        seq < self.capacity
            && self
                .bits
                .get((seq / 64) as usize)
                .is_some_and(|w| w & (1 << (seq % 64)) != 0)
    }

    /// Datagrams lost of `sent`: those among `0..sent` that never arrived.
    pub fn lost(&self, sent: u64) -> u64 {
        let sent = sent.min(self.capacity);
        let mut arrived = 0u64;
        let full = (sent / 64) as usize;
        for w in self.bits.iter().take(full) {
            arrived += u64::from(w.count_ones());
        }
        if sent % 64 != 0 {
            if let Some(w) = self.bits.get(full) {
                arrived += u64::from((w & ((1u64 << (sent % 64)) - 1)).count_ones());
            }
        }
        sent - arrived
    }

    /// The first `limit` runs of missing sequence numbers among `0..sent`.
    pub fn gaps(&self, sent: u64, limit: usize) -> Vec<Gap> {
        let end = sent.min(self.capacity);
        let mut out = Vec::new();
        let mut at = 0;
        while out.len() < limit {
            let first = self.next_with(at, end, false);
            if first == end {
                break;
            }
            let next = self.next_with(first, end, true);
            out.push(Gap {
                first,
                last: next - 1,
            });
            at = next;
        }
        out
    }

    /// The first sequence number in `from..end` whose bit is `set`, or `end`.
    /// Scans a word at a time; past the bitmap every bit is clear.
    fn next_with(&self, from: u64, end: u64, set: bool) -> u64 {
        let mut seq = from;
        while seq < end {
            let Some(&word) = self.bits.get((seq / 64) as usize) else {
                return if set { end } else { seq };
            };
            let word = if set { word } else { !word };
            let ahead = word >> (seq % 64);
            if ahead != 0 {
                return (seq + u64::from(ahead.trailing_zeros())).min(end);
            }
            seq = (seq / 64 + 1) * 64;
        }
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counts_loss_duplicates_and_reordering() {
        let mut a = Arrivals::new(10);
        for s in [0, 1, 3, 2, 3, 5, 9, 42] {
            a.record(s);
        }
        assert_eq!(a.received(), 6);
        assert_eq!(a.duplicates(), 1);
        assert_eq!(a.reordered(), 1);
        assert_eq!(a.lost(10), 4);
        assert_eq!(a.lost(4), 0);
        assert_eq!(
            a.gaps(10, 5),
            vec![Gap { first: 4, last: 4 }, Gap { first: 6, last: 8 }]
        );
        assert_eq!(a.gaps(10, 1).len(), 1);
    }

    #[test]
    fn a_huge_capacity_allocates_only_what_arrives() {
        let mut a = Arrivals::new(u64::MAX);
        assert!(a.bits.is_empty());
        assert_eq!(a.lost(1 << 40), 1 << 40);
        a.record(3);
        a.record(1 << 20);
        assert!(a.bits.len() <= (1 << 20) / 64 + 1, "{}", a.bits.len());
        assert_eq!(a.received(), 2);
        assert_eq!(a.lost(1 << 40), (1 << 40) - 2);
        assert_eq!(
            a.gaps(1 << 40, 5),
            vec![
                Gap { first: 0, last: 2 },
                Gap {
                    first: 4,
                    last: (1 << 20) - 1
                },
                Gap {
                    first: (1 << 20) + 1,
                    last: (1 << 40) - 1
                },
            ]
        );
    }

    #[test]
    fn growth_stops_at_the_capacity() {
        let mut a = Arrivals::new(130);
        assert_eq!(a.record(129), Arrival::New);
        assert_eq!(a.record(130), Arrival::OutOfRange);
        assert_eq!(a.bits.len(), 3);
        assert_eq!(
            a.gaps(200, 5),
            vec![Gap {
                first: 0,
                last: 128
            }]
        );
    }

    /// Gaps the slow way: one sequence number at a time.
    fn naive_gaps(a: &Arrivals, sent: u64, limit: usize) -> Vec<Gap> {
        let mut out: Vec<Gap> = Vec::new();
        for seq in 0..sent.min(a.capacity) {
            if a.has(seq) {
                continue;
            }
            match out.last_mut() {
                Some(g) if g.last + 1 == seq => g.last = seq,
                _ => out.push(Gap {
                    first: seq,
                    last: seq,
                }),
            }
        }
        out.truncate(limit);
        out
    }

    proptest! {
        #[test]
        fn gaps_match_a_bit_by_bit_scan(seqs in proptest::collection::vec(0u64..400, 0..300), sent in 0u64..500, limit in 0usize..8) {
            let mut a = Arrivals::new(400);
            for s in &seqs {
                a.record(*s);
            }
            prop_assert_eq!(a.gaps(sent, limit), naive_gaps(&a, sent, limit));
        }

        #[test]
        fn received_plus_lost_is_sent(seqs in proptest::collection::vec(0u64..300, 0..600), sent in 0u64..300) {
            let mut a = Arrivals::new(300);
            for s in &seqs {
                a.record(*s);
            }
            let in_range = seqs.iter().filter(|s| **s < sent).collect::<std::collections::BTreeSet<_>>().len() as u64;
            prop_assert_eq!(in_range + a.lost(sent), sent);
        }
    }
}
