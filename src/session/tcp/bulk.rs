//! How a driver reads a file's bytes in blocks: [`Bulk`] says what surely
//! still comes, [`Bulk::next_read`] how large the next read is and how
//! many bytes the kernel waits for before it wakes the reader.
//!
//! One wake-up per block rather than one per arriving segment is most of
//! the cost of receiving fast on one machine: each wake-up of a reader on
//! another CPU costs the sender an interprocessor interrupt. The receive
//! low-water mark (`SO_RCVLOWAT`) and a read that waits for all it asks
//! (`MSG_WAITALL`) do it, but a read that waits for bytes that never come
//! sleeps until its timeout: both are used only while the bytes surely
//! come. Pure policy: the clock is passed in.

use std::time::{Duration, Instant};

use super::FileReceiver;

/// Most bytes per read: small enough to stay in a core's L2 cache (512
/// KiB and more on current x86 cores) between the kernel's copy and the
/// verification, large enough that a reader woken once per block costs
/// the sender few wake-ups: 2 GiB took about 20000 wake-ups with 128 KiB
/// blocks and no mark, 3000 with this and the mark.
pub const READ_CHUNK: usize = 256 << 10;
/// Fewest bytes a read waits for (unless the file ends first).
pub const MIN_BLOCK: usize = 16 << 10;
/// A read waits for about this long's worth of bytes at the rate seen so
/// far: whole blocks on a fast path, small ones on a slow link so progress
/// stays smooth.
pub const BLOCK_TIME: Duration = Duration::from_millis(10);
/// A timed file's reads stop waiting for whole blocks this long before it
/// surely ends: at the rate that made blocks whole (25 MB/s and more),
/// many blocks' worth.
pub const MARK_MARGIN: Duration = Duration::from_millis(100);

/// What a driver that reads a file's bytes in blocks may count on: how
/// many surely still come, or until when, and the rate so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bulk {
    /// File bytes that surely still come: a sized file's rest, a timed
    /// file's cap less what came (`u64::MAX` less it without a cap).
    pub left: u64,
    /// A timed file: it keeps coming until about this instant, and ends
    /// with a message whatever the cap.
    pub until: Option<Instant>,
    /// File bytes verified so far.
    pub got: u64,
    /// When the first file byte came.
    pub first: Option<Instant>,
}

/// The next read of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRead {
    /// Bytes to read at most.
    pub want: usize,
    /// The receive low-water mark for it (1: wake on any byte).
    pub mark: usize,
    /// Whether the read may wait for all of `want`.
    pub wait_all: bool,
}

impl Bulk {
    /// The rest of a file whose every byte `receiver` expects.
    pub fn sized(receiver: &FileReceiver) -> Bulk {
        Bulk {
            left: receiver.left(),
            until: None,
            got: receiver.got(),
            first: receiver.first(),
        }
    }

    /// A timed file read by `receiver` (its size being the cap), coming
    /// until about `until`.
    pub fn timed(receiver: &FileReceiver, until: Instant) -> Bulk {
        Bulk {
            until: Some(until),
            ..Bulk::sized(receiver)
        }
    }

    /// The size of the buffer to read blocks into.
    pub fn buffer_len(&self) -> usize {
        let whole = self.got.saturating_add(self.left).max(1);
        READ_CHUNK.min(usize::try_from(whole).unwrap_or(usize::MAX))
    }

    /// The next read at `now` into a buffer of `buf_len` bytes.
    ///
    /// Only blocks of the largest size set the mark (smaller ones change
    /// from read to read), and only while two blocks surely still come: at
    /// least two blocks of the file remain, and a timed file is
    /// [`MARK_MARGIN`] or more from its end. A read that copied part of its
    /// block and sleeps is woken when a whole mark's worth more has come,
    /// which near the end would never happen.
    pub fn next_read(&self, now: Instant, buf_len: usize) -> BlockRead {
        let block = self.first.map_or(MIN_BLOCK, |t| {
            block_size(self.got, now.saturating_duration_since(t))
        });
        let left = usize::try_from(self.left).unwrap_or(usize::MAX);
        let want = match self.until {
            // A timed file ends with a message whatever the cap: read what comes.
            Some(_) => block.min(buf_len),
            None => left.min(block.min(buf_len)),
        };
        let sure = self.until.is_none_or(|t| now + MARK_MARGIN < t);
        let mark = if want == buf_len && left / 2 >= want && sure {
            want
        } else {
            1
        };
        BlockRead {
            want,
            mark,
            wait_all: self.until.is_none() || mark > 1,
        }
    }
}

/// How many bytes the next read waits for, having `got` bytes `elapsed`
/// after the first.
pub fn block_size(got: u64, elapsed: Duration) -> usize {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return MIN_BLOCK;
    }
    let per_block = got as f64 / secs * BLOCK_TIME.as_secs_f64();
    (per_block as usize).clamp(MIN_BLOCK, READ_CHUNK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_follow_the_rate_within_bounds() {
        assert_eq!(block_size(0, Duration::ZERO), MIN_BLOCK);
        // 1 GB/s: 10 ms is 10 MB, more than the largest block.
        assert_eq!(block_size(1 << 30, Duration::from_secs(1)), READ_CHUNK);
        // 10 MB/s: 10 ms is 100 kB.
        assert_eq!(block_size(10_000_000, Duration::from_secs(1)), 100_000);
        // A slow link (1 Mbit/s) waits for the smallest block only.
        assert_eq!(block_size(125_000, Duration::from_secs(1)), MIN_BLOCK);
    }

    fn fast(left: u64, until: Option<Instant>, t0: Instant) -> Bulk {
        Bulk {
            left,
            until,
            got: 1 << 30,
            first: Some(t0),
        }
    }

    #[test]
    fn a_sized_file_waits_for_whole_blocks_until_two_remain() {
        let t0 = Instant::now();
        let now = t0 + Duration::from_secs(1);
        let r = fast(10 << 20, None, t0).next_read(now, READ_CHUNK);
        assert_eq!((r.want, r.mark, r.wait_all), (READ_CHUNK, READ_CHUNK, true));
        // Fewer than two blocks left: the whole rest, no mark, still all of it.
        let r = fast(300 << 10, None, t0).next_read(now, READ_CHUNK);
        assert_eq!((r.want, r.mark, r.wait_all), (READ_CHUNK, 1, true));
        let r = fast(1000, None, t0).next_read(now, READ_CHUNK);
        assert_eq!((r.want, r.mark, r.wait_all), (1000, 1, true));
    }

    #[test]
    fn a_timed_file_stops_waiting_near_its_end() {
        let t0 = Instant::now();
        let end = t0 + Duration::from_secs(2);
        let early = t0 + Duration::from_secs(1);
        let r = fast(u64::MAX, Some(end), t0).next_read(early, READ_CHUNK);
        assert_eq!((r.want, r.mark, r.wait_all), (READ_CHUNK, READ_CHUNK, true));
        // Within the margin: read whatever comes, never wait for it all.
        let late = end - MARK_MARGIN / 2;
        let r = fast(u64::MAX, Some(end), t0).next_read(late, READ_CHUNK);
        assert_eq!((r.want, r.mark, r.wait_all), (READ_CHUNK, 1, false));
        // A cap close ahead: no mark either, and the read may end short.
        let r = fast(100, Some(end), t0).next_read(early, READ_CHUNK);
        assert_eq!((r.want, r.mark, r.wait_all), (READ_CHUNK, 1, false));
    }

    #[test]
    fn the_first_read_waits_for_the_smallest_block() {
        let b = Bulk {
            left: 1 << 30,
            until: None,
            got: 0,
            first: None,
        };
        let r = b.next_read(Instant::now(), b.buffer_len());
        assert_eq!((r.want, r.mark), (MIN_BLOCK, 1));
        assert_eq!(b.buffer_len(), READ_CHUNK);
    }
}
