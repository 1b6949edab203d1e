//! How a UDP file is cut into datagrams, and which datagrams go out in one
//! send call. Pure code: no socket, no clock.
//!
//! Datagram `seq` carries the file bytes from `seq · per`, where `per` is
//! the segment size less the lab header; every datagram is `segment` bytes
//! of UDP payload but the last, which carries what is left. A GSO send
//! carries consecutive datagrams, all full but possibly the last of the
//! file, so the kernel can cut them at `segment` bytes.

use crate::proto::datagram::DGRAM_HEADER;

/// Most datagrams one GSO send may carry on current kernels (their
/// `UDP_MAX_SEGMENTS`; older kernels take 64).
pub const GSO_MAX_SEGMENTS: usize = 128;
/// Most bytes of UDP payload one GSO send may carry: the largest UDP
/// payload of one IPv4 packet (65535 − 20 − 8), for either family.
pub const GSO_MAX_BYTES: usize = 65_507;

/// A file of `size` bytes in datagrams of `segment` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilePlan {
    size: u64,
    segment: u64,
    per: u64,
}

impl FilePlan {
    /// The plan for `size` bytes in datagrams of `segment` bytes of UDP
    /// payload; `None` when a segment has no room for file bytes.
    pub fn new(size: u64, segment: u32) -> Option<FilePlan> {
        let segment = u64::from(segment);
        let per = segment
            .checked_sub(DGRAM_HEADER as u64)
            .filter(|p| *p > 0)?;
        Some(FilePlan { size, segment, per })
    }

    /// File bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// UDP payload bytes of a full datagram.
    pub fn segment(&self) -> u32 {
        u32::try_from(self.segment).unwrap_or(u32::MAX)
    }

    /// Datagrams that carry the file (none for an empty file).
    pub fn datagrams(&self) -> u64 {
        self.size.div_ceil(self.per)
    }

    /// Where datagram `seq`'s bytes start in the file.
    pub fn offset(&self, seq: u64) -> u64 {
        seq * self.per
    }

    /// File bytes in datagram `seq` (0 past the end).
    pub fn len(&self, seq: u64) -> u64 {
        self.per.min(self.size.saturating_sub(self.offset(seq)))
    }

    /// UDP payload bytes of datagram `seq`: lab header and file bytes.
    pub fn wire(&self, seq: u64) -> u64 {
        DGRAM_HEADER as u64 + self.len(seq)
    }

    /// Most datagrams one GSO send of this plan may carry: the kernel's
    /// segment and byte limits, and `max` (1 when GSO is off).
    pub fn max_batch(&self, max: u64) -> u64 {
        let by_bytes = GSO_MAX_BYTES as u64 / self.segment;
        max.min(GSO_MAX_SEGMENTS as u64).min(by_bytes).max(1)
    }

    /// How many datagrams from `seq` the next send carries: as many as
    /// `room` bytes of UDP payload allow (those due now under the pace), at
    /// most `max` (see [`FilePlan::max_batch`]), never past the end, and at
    /// least one (the sender waited until the first was due).
    pub fn batch(&self, seq: u64, max: u64, room: u64) -> u64 {
        let left = self.datagrams().saturating_sub(seq);
        if left == 0 {
            return 0;
        }
        let cap = self.max_batch(max).min(left);
        // All but the file's last datagram are full; the last is no longer.
        let mut n = (room / self.segment).clamp(1, cap);
        if n < cap && seq + n + 1 == self.datagrams() && self.bytes(seq, n + 1) <= room {
            n += 1;
        }
        n
    }

    /// UDP payload bytes of `n` datagrams from `seq`.
    pub fn bytes(&self, seq: u64, n: u64) -> u64 {
        let end = (seq + n).min(self.datagrams());
        let files = self.size.min(self.offset(end)) - self.size.min(self.offset(seq));
        (end.saturating_sub(seq)) * DGRAM_HEADER as u64 + files
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_cover_the_file_with_a_short_last() {
        let p = FilePlan::new(100, 64).unwrap();
        assert_eq!(p.len(0), 36);
        assert_eq!(p.datagrams(), 3);
        assert_eq!((p.len(0), p.len(1), p.len(2), p.len(3)), (36, 36, 28, 0));
        assert_eq!(p.wire(2), 56);
        assert_eq!(p.bytes(0, 3), 64 + 64 + 56);
        assert_eq!(p.bytes(1, 9), 64 + 56);
        assert_eq!(FilePlan::new(0, 64).unwrap().datagrams(), 0);
        assert_eq!(FilePlan::new(1, 64).unwrap().datagrams(), 1);
        assert!(FilePlan::new(1, 28).is_none());
        assert!(FilePlan::new(1, 3).is_none());
    }

    #[test]
    fn batches_respect_the_kernel_limits() {
        let p = FilePlan::new(10 << 20, 64).unwrap();
        assert_eq!(p.max_batch(u64::MAX), 128);
        assert_eq!(p.max_batch(64), 64, "an older kernel's limit");
        assert_eq!(p.batch(0, 64, u64::MAX), 64);
        assert_eq!(p.batch(0, 1, u64::MAX), 1, "GSO off: one at a time");
        // 1472-byte segments: 44 fit 65507 bytes.
        let p = FilePlan::new(10 << 20, 1472).unwrap();
        assert_eq!(p.batch(0, 64, u64::MAX), 44);
        assert!(p.bytes(0, 44) <= GSO_MAX_BYTES as u64);
        // Segments over half the limit: one per send.
        let p = FilePlan::new(10 << 20, 40_000).unwrap();
        assert_eq!(p.batch(0, 64, u64::MAX), 1);
    }

    #[test]
    fn a_batch_follows_the_pace_and_never_passes_the_end() {
        let p = FilePlan::new(36 * 100 + 10, 64).unwrap(); // 101 datagrams, the last 38 bytes
        assert_eq!(p.datagrams(), 101);
        // Only what is due now: 3 whole datagrams' worth, or at least one.
        assert_eq!(p.batch(0, 64, 3 * 64 + 10), 3);
        assert_eq!(p.batch(0, 64, 0), 1);
        // The end: 5 left, all sent when the room allows.
        assert_eq!(p.batch(96, 64, u64::MAX), 5);
        assert_eq!(p.batch(101, 64, u64::MAX), 0);
        // The short last datagram rides along when its own bytes are due.
        assert_eq!(p.batch(99, 64, 64 + 38), 2);
        assert_eq!(p.batch(99, 64, 64 + 37), 1);
        // Every datagram is sent exactly once, whatever the room.
        for room in [0, 63, 64, 100, 1000, u64::MAX] {
            let (mut seq, mut sends) = (0, 0);
            while seq < p.datagrams() {
                let n = p.batch(seq, 64, room);
                assert!(n >= 1 && p.bytes(seq, n) <= GSO_MAX_BYTES as u64);
                seq += n;
                sends += 1;
            }
            assert_eq!(seq, 101, "room {room}");
            assert!(sends >= 2);
        }
    }
}
