//! The send side of a stream's segments: one per interval, each at its
//! deadline; and, for a stamped stream (a StampedStreamRequest), the
//! kernel TX stamps of its segments that the driver read and hands in,
//! carried to the client in StreamStamps.
//!
//! A segment's stamp is known only after it left, so each StreamStamps
//! goes right after the stamp came and carries the latest [`CARRIED`]
//! stamps: every stamp rides in several datagrams, and a lost one loses no
//! stamp. After the last segment the End waits [`TAIL_WAIT`] for its
//! stamp, and each End copy is preceded by a StreamStamps. A stamp that
//! never came is in none of them: the client counts it missing.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::figures::{Carried, Tally};
use crate::proto::datagram::Body;
use crate::proto::stamps::SegmentStamps;

pub use crate::session::tcp::stream_stamps::TAIL_WAIT;

/// How many of the latest stamps each StreamStamps carries: a stamp is
/// lost only when that many of them in a row are.
pub const CARRIED: usize = 4;

/// A stream's segments: one per interval, each at its deadline.
#[derive(Debug, Clone)]
pub(super) struct StreamData {
    pub(super) interval: Duration,
    pub(super) count: u32,
    pub(super) size: u32,
    pub(super) t0: Instant,
    pub(super) seq: u32,
    /// A stamped stream's TX stamps.
    pub(super) stamps: Option<Box<SentStamps>>,
}

impl StreamData {
    pub(super) fn deadline(&self, seq: u32) -> Instant {
        self.t0 + self.interval.saturating_mul(seq)
    }

    pub(super) fn carried(&self) -> Carried {
        let bytes = u64::from(self.seq) * u64::from(self.size);
        Carried {
            data: Tally {
                datagrams: u64::from(self.seq),
                bytes,
            },
            payload: bytes,
            segment: self.size,
            gso: None,
        }
    }
}

/// A stamped stream's TX stamps on the server's side.
#[derive(Debug, Clone, Default)]
pub struct SentStamps {
    /// The latest stamps that came, oldest first.
    recent: VecDeque<(u32, u64)>,
    /// A stamp came since the last StreamStamps.
    fresh: bool,
    /// The segment just handed out, whose send asks for a stamp.
    pending: Option<u32>,
    /// End copies that were preceded by a StreamStamps.
    before_end: u32,
}

impl SentStamps {
    /// Segment `seq` was just handed out.
    pub(super) fn written(&mut self, seq: u32) {
        self.pending = Some(seq);
    }

    /// The segment the send just polled holds, once.
    pub(super) fn take_pending(&mut self) -> Option<u32> {
        self.pending.take()
    }

    /// The kernel's TX stamp of segment `seq` (a repeat is ignored).
    pub(super) fn tx(&mut self, seq: u32, ns: u64) {
        if self.recent.iter().any(|(s, _)| *s == seq) {
            return;
        }
        self.recent.push_back((seq, ns));
        while self.recent.len() > CARRIED {
            self.recent.pop_front();
        }
        self.fresh = true;
    }

    /// Whether a StreamStamps is due while segments go out.
    pub(super) fn fresh(&self) -> bool {
        self.fresh
    }

    /// Whether End copy `next` still wants its StreamStamps first.
    pub(super) fn due_before_end(&self, next: u32) -> bool {
        self.before_end <= next
    }

    /// The StreamStamps to send now; `end` marks one sent before an End copy.
    pub(super) fn body(&mut self, end: bool) -> Body {
        self.fresh = false;
        if end {
            self.before_end += 1;
        }
        Body::StreamStamps {
            stamps: SegmentStamps(self.recent.iter().copied().collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_stamps_ride_together_and_repeats_are_ignored() {
        let mut s = SentStamps::default();
        assert!(!s.fresh());
        for seq in 0..6 {
            s.tx(seq, 100 + u64::from(seq));
        }
        s.tx(5, 999);
        assert!(s.fresh());
        let Body::StreamStamps { stamps } = s.body(false) else {
            unreachable!()
        };
        assert_eq!(stamps.0, vec![(2, 102), (3, 103), (4, 104), (5, 105)]);
        assert!(!s.fresh() && s.due_before_end(0));
        s.body(true);
        assert!(!s.due_before_end(0) && s.due_before_end(1));
    }
}
