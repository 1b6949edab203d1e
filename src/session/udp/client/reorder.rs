//! A UDP file's bytes handed out in file order, whatever order its
//! datagrams arrive in (`--print-file`).
//!
//! A datagram that is next in the file goes straight to the ready bytes,
//! followed by any that arrived early and now follow on. A datagram that
//! arrives early waits in a reorder buffer, bounded by [`REORDER_LIMIT`]:
//! when one more early datagram would take it past the bound, the reorder
//! gives up rather than hold more. UDP does not send a lost datagram
//! again, so once the buffer is full the file can no longer be handed out
//! whole. Whatever happens, the bytes handed out are exactly the file's
//! first [`InOrder::ready`] bytes.

use std::collections::BTreeMap;

/// The most memory early datagrams may hold while they wait, bytes.
pub const REORDER_LIMIT: usize = 4 << 20;

/// What one waiting datagram costs beyond its bytes (the vector and the
/// map's share), counted against the limit so that many tiny datagrams
/// cannot hold far more memory than the limit says.
const ENTRY_COST: usize = 64;

/// Why the file could not be handed out further.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// The reorder buffer is full and the next datagram has not come.
    #[error(
        "datagram {waiting_for} had not arrived while {limit} bytes of later datagrams waited for it (the reorder buffer's limit)"
    )]
    Full {
        /// The datagram everything waits for.
        waiting_for: u64,
        /// The buffer's limit, bytes.
        limit: usize,
    },
}

/// The file's bytes on their way out, in order.
#[derive(Debug)]
pub struct InOrder {
    /// The next datagram to hand out.
    next: u64,
    /// Bytes made ready so far: the file's first `ready` bytes.
    ready: u64,
    /// Datagrams that arrived before `next`, by sequence number.
    early: BTreeMap<u64, Vec<u8>>,
    /// What `early` holds, entry costs included.
    held: usize,
    limit: usize,
}

impl InOrder {
    /// A reorder whose early datagrams may hold `limit` bytes.
    pub fn new(limit: usize) -> InOrder {
        InOrder {
            next: 0,
            ready: 0,
            early: BTreeMap::new(),
            held: 0,
            limit,
        }
    }

    /// The file's bytes made ready so far, from the start.
    pub fn ready(&self) -> u64 {
        self.ready
    }

    /// Takes datagram `seq`'s file bytes: appends them to `out` now if they
    /// are next (with the early ones that follow on), else keeps them until
    /// they are. A copy already taken is ignored.
    pub fn take(&mut self, seq: u64, data: &[u8], out: &mut Vec<u8>) -> Result<(), OrderError> {
        if seq < self.next || self.early.contains_key(&seq) {
            return Ok(());
        }
        if seq > self.next {
            return self.hold(seq, data);
        }
        self.emit(data, out);
        while let Some(data) = self.early.remove(&self.next) {
            self.held -= data.len() + ENTRY_COST;
            self.emit(&data, out);
        }
        Ok(())
    }

    fn hold(&mut self, seq: u64, data: &[u8]) -> Result<(), OrderError> {
        let cost = data.len() + ENTRY_COST;
        if self.held + cost > self.limit {
            return Err(OrderError::Full {
                waiting_for: self.next,
                limit: self.limit,
            });
        }
        self.held += cost;
        self.early.insert(seq, data.to_vec());
        Ok(())
    }

    fn emit(&mut self, data: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(data);
        self.ready += data.len() as u64;
        self.next += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The datagrams of `len` bytes cut in `per`-byte pieces.
    fn pieces(len: usize, per: usize) -> Vec<Vec<u8>> {
        let file: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        file.chunks(per).map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn early_datagrams_wait_for_the_one_before() {
        let p = pieces(40, 10);
        let mut out = Vec::new();
        let mut w = InOrder::new(1000);
        for seq in [2, 1, 2, 3] {
            w.take(seq, &p[seq as usize], &mut out).unwrap();
        }
        assert_eq!(w.ready(), 0);
        w.take(0, &p[0], &mut out).unwrap();
        w.take(0, &p[0], &mut out).unwrap();
        assert_eq!(w.ready(), 40);
        assert_eq!(w.held, 0);
        assert_eq!(out, p.concat());
    }

    #[test]
    fn past_the_limit_it_gives_up_with_the_prefix_written() {
        let p = pieces(100, 10);
        let mut out = Vec::new();
        let mut w = InOrder::new(2 * (10 + ENTRY_COST));
        w.take(0, &p[0], &mut out).unwrap();
        w.take(2, &p[2], &mut out).unwrap();
        w.take(3, &p[3], &mut out).unwrap();
        let e = w.take(4, &p[4], &mut out).unwrap_err();
        assert!(matches!(e, OrderError::Full { waiting_for: 1, .. }), "{e}");
        assert_eq!(w.ready(), 10);
        assert_eq!(out, p[0]);
    }

    proptest! {
        #[test]
        fn any_order_writes_the_file(order in Just((0..30u64).collect::<Vec<_>>()).prop_shuffle()) {
            let p = pieces(295, 10);
            let mut out = Vec::new();
            let mut w = InOrder::new(REORDER_LIMIT);
            for seq in order {
                w.take(seq, &p[seq as usize], &mut out).unwrap();
            }
            prop_assert_eq!(w.ready(), 295);
            prop_assert_eq!(out, p.concat());
        }
    }
}
