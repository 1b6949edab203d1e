//! A file on the wire, either way: [`FileSender`] writes the generated
//! file after its framing, paced or not; [`FileReceiver`] verifies every
//! byte as it arrives and notes the progress.
//!
//! The server's reply to a FileRequest and the client's upload are both a
//! sender; the client's download and the server's upload receiver are both
//! a receiver.
//!
//! A timed file ([`FileSender::timed`]) goes as FileData messages of
//! [`DATA_BODY`] bytes each, until a deadline or a cap, then a FileEnd
//! with the count: the receiver cannot know its length in advance.

use std::time::{Duration, Instant};

use crate::content::{self, Mismatch, Verifier};
use crate::session::Transmit;

/// Bytes per write when sending a file: about 1 MiB, a whole number of the
/// pattern's 100-byte records, so each chunk after the first only needs its
/// counting digits rewritten.
pub const FILE_CHUNK: usize = 10_485 * 100;
/// The first write of a file is small, so the first byte leaves at once.
pub const FIRST_CHUNK: usize = 655 * 100;
/// The data one paced write carries: this long at the pace.
pub const PACED_SLICE: Duration = Duration::from_millis(5);
/// How early a paced write may leave: a sleep is not finer than this.
const EARLY: Duration = Duration::from_micros(50);
/// Bytes between two points of a file's progress (for `--plot`).
pub const PROGRESS_STEP: u64 = 256 << 10;
pub use crate::proto::timed::DATA_BODY;
/// FileData messages per write of a timed file (after the first, which
/// carries one so the first byte leaves at once).
const DATA_PER_WRITE: usize = 16;

/// Writes a file after its framing: the framing with the first bytes (so
/// Nagle's algorithm never holds a lone small write), then chunks.
///
/// Unpaced, the first chunk is small ([`FIRST_CHUNK`]) so the first byte
/// leaves at once, and the rest go in [`FILE_CHUNK`]s as fast as the
/// driver can write them. Paced at `rate_bps`, each write carries
/// [`PACED_SLICE`] of data and is due when the bytes before it are
/// (absolute deadlines from the first write, so a late write is made up by
/// the next ones leaving back to back).
///
/// The file bytes are generated straight into the driver's buffer. When the
/// driver hands back the same buffer, untouched, only each chunk's counting
/// digits are rewritten: the rest of every record is already there.
#[derive(Debug)]
pub struct FileSender {
    head: Vec<u8>,
    size: u64,
    offset: u64,
    head_sent: bool,
    rate_bps: u64,
    slice: usize,
    t0: Instant,
    last: u64,
    buf_at: usize,
    shaped: usize,
    /// A timed file: FileData messages until this instant (or the cap),
    /// then a FileEnd.
    deadline: Option<Instant>,
    end_sent: bool,
    /// File bytes of the FileData message under way not written yet.
    piece_left: usize,
    /// Bytes handed out, framing included, and those of the last write.
    wire: u64,
    last_wire: u64,
    /// Most bytes per unpaced write after the first (`usize::MAX`: the
    /// sender's own size), see [`FileSender::set_max_write`].
    max_write: usize,
}

impl FileSender {
    /// A sender of `size` bytes after `head`, starting at `now`; paced at
    /// `rate_bps` bits of file per second (0: unpaced).
    pub fn new(now: Instant, head: Vec<u8>, size: u64, rate_bps: u64) -> FileSender {
        let bytes_per_s = rate_bps.div_ceil(8);
        let slice = (bytes_per_s as f64 * PACED_SLICE.as_secs_f64()) as usize;
        FileSender {
            head,
            size,
            offset: 0,
            head_sent: false,
            rate_bps,
            slice: slice.clamp(1, FILE_CHUNK),
            t0: now,
            last: 0,
            buf_at: 0,
            shaped: 0,
            deadline: None,
            end_sent: false,
            piece_left: 0,
            wire: 0,
            last_wire: 0,
            max_write: usize::MAX,
        }
    }

    /// Caps the unpaced writes after the first at about `bytes`: whole
    /// records, or whole FileData messages for a timed file, so a write
    /// laid out as the one before it still only has its digits rewritten;
    /// never below [`FIRST_CHUNK`]. A server with many files going out at
    /// once keeps its memory bounded this way.
    pub fn set_max_write(&mut self, bytes: usize) {
        self.max_write = bytes;
    }

    /// A timed file after `head`, from `now` until `deadline` or `cap`
    /// bytes (`u64::MAX`: none), whichever comes first: FileData messages,
    /// then a FileEnd with the count, which rides with the last data when
    /// the cap ends it.
    pub fn timed(
        now: Instant,
        head: Vec<u8>,
        cap: u64,
        deadline: Instant,
        rate_bps: u64,
    ) -> FileSender {
        FileSender {
            deadline: Some(deadline),
            ..FileSender::new(now, head, cap, rate_bps)
        }
    }

    /// Whether the file is timed (framed as FileData and FileEnd).
    pub fn is_timed(&self) -> bool {
        self.deadline.is_some()
    }

    /// Bytes handed out so far, framing included.
    pub fn wire_len(&self) -> u64 {
        self.wire
    }

    /// The framing before the file bytes.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    /// File bytes handed out so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The file's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether the framing and every byte (a timed file: its FileEnd)
    /// have been handed out.
    pub fn is_done(&self) -> bool {
        match self.deadline {
            Some(_) => self.end_sent,
            None => self.head_sent && self.offset == self.size,
        }
    }

    /// Bytes per second the kernel may pace at: a quarter faster than the
    /// pace, so it smooths the writes without holding back a catching up.
    pub fn kernel_pace(&self) -> Option<u64> {
        (self.rate_bps > 0).then(|| (self.rate_bps.div_ceil(8) as f64 * 1.25) as u64)
    }

    /// How many file bytes the next write carries.
    fn next_len(&self) -> usize {
        let left = usize::try_from(self.size - self.offset).unwrap_or(usize::MAX);
        let (first, rest) = match self.deadline {
            Some(_) => {
                let most = (self.max_write / DATA_BODY).clamp(1, DATA_PER_WRITE);
                (DATA_BODY, DATA_BODY * most)
            }
            None => {
                let whole = self.max_write - self.max_write % content::RECORD as usize;
                (FIRST_CHUNK, whole.clamp(FIRST_CHUNK, FILE_CHUNK))
            }
        };
        if self.rate_bps > 0 {
            left.min(self.slice)
        } else if !self.head_sent {
            left.min(first)
        } else {
            left.min(rest)
        }
    }

    /// When the next write is due (`None`: now, or nothing left).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_done() || self.rate_bps == 0 {
            return None;
        }
        // A write is due when the bytes before it are.
        let bits = self.offset as u128 * 8;
        let ns = bits * 1_000_000_000 / u128::from(self.rate_bps);
        let due = self.t0 + Duration::from_nanos(ns.min(u64::MAX as u128) as u64);
        let due = due.checked_sub(EARLY).unwrap_or(due);
        // A paced timed file ends at its deadline, whatever is due.
        Some(self.deadline.map_or(due, |d| d.min(due)))
    }

    /// The next write, if it is due at `now`: written into `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if self.is_done() {
            return None;
        }
        if let Some(deadline) = self.deadline {
            if now >= deadline || self.offset == self.size {
                return Some(self.end(buf));
            }
        }
        if self.poll_timeout().is_some_and(|t| t > now) {
            return None;
        }
        let n = self.next_len();
        if self.deadline.is_some() {
            return Some(self.chunks(buf, n));
        }
        if buf.as_ptr() as usize != self.buf_at {
            self.shaped = 0;
        }
        if self.head_sent {
            self.resize(buf, n);
            self.shaped = content::fill_shaped(self.offset, &mut buf[..n], self.shaped);
        } else {
            let h = self.head.len();
            self.resize(buf, h + n);
            buf[..h].copy_from_slice(&self.head);
            content::fill(0, &mut buf[h..]);
            self.shaped = if h == 0 { n } else { 0 };
            self.head_sent = true;
        }
        self.buf_at = buf.as_ptr() as usize;
        self.offset += n as u64;
        self.last = n as u64;
        self.wrote(buf.len());
        Some(Transmit {
            len: buf.len(),
            segment: None,
        })
    }

    fn wrote(&mut self, len: usize) {
        self.last_wire = len as u64;
        self.wire += len as u64;
    }

    /// The head if not sent yet, the rest of the FileData message under
    /// way, then FileEnd: a timed file is over.
    fn end(&mut self, buf: &mut Vec<u8>) -> Transmit {
        buf.clear();
        if !self.head_sent {
            buf.extend_from_slice(&self.head);
            self.head_sent = true;
        }
        let rest = self.piece_left;
        let at = buf.len();
        self.put_data(buf, at, rest, false);
        self.put_end(buf);
        self.last = rest as u64;
        self.shaped = 0;
        self.wrote(buf.len());
        Transmit {
            len: buf.len(),
            segment: None,
        }
    }

    fn put_end(&mut self, buf: &mut Vec<u8>) {
        let end = crate::proto::Message::FileEnd { bytes: self.offset };
        let _ = crate::proto::codec::encode(&end, buf);
        self.end_sent = true;
    }

    /// Writes `n` file bytes into `buf` from `at` on, as FileData messages
    /// of [`DATA_BODY`] bytes from the file's start (the last before the
    /// cap shorter), and ends `buf` there: a message cut by the end of a
    /// write goes on, without its header, in the next. `same`: `buf`
    /// already holds this layout from `at`, only the digits change.
    fn put_data(&mut self, buf: &mut Vec<u8>, mut at: usize, n: usize, same: bool) {
        let mut left = n;
        let room = at + n + (n / DATA_BODY + 2) * crate::proto::HEADER_LEN;
        if buf.len() < room {
            buf.resize(room, 0);
        }
        while left > 0 {
            if self.piece_left == 0 {
                let k = usize::try_from(self.size - self.offset)
                    .unwrap_or(usize::MAX)
                    .min(DATA_BODY);
                let header = crate::proto::codec::file_data_header(k);
                buf[at..at + header.len()].copy_from_slice(&header);
                at += header.len();
                self.piece_left = k;
            }
            let m = self.piece_left.min(left);
            let region = &mut buf[at..at + m];
            content::fill_shaped(self.offset, region, if same { m } else { 0 });
            at += m;
            self.offset += m as u64;
            self.piece_left -= m;
            left -= m;
        }
        buf.truncate(at);
    }

    /// `n` file bytes of a timed file as FileData messages (the head
    /// first, on the first write; FileEnd last when they reach the cap).
    /// A write laid out as the one before it in the same buffer only has
    /// each message's counting digits rewritten.
    fn chunks(&mut self, buf: &mut Vec<u8>, n: usize) -> Transmit {
        let h = if self.head_sent { 0 } else { self.head.len() };
        let len = h + n.div_ceil(DATA_BODY) * crate::proto::HEADER_LEN + n;
        let same = buf.as_ptr() as usize == self.buf_at
            && self.shaped == len
            && self.piece_left == 0
            && buf.len() >= len;
        if buf.len() < h {
            buf.resize(h, 0);
        }
        buf[..h].copy_from_slice(&self.head[..h]);
        self.head_sent = true;
        self.put_data(buf, h, n, same);
        self.last = n as u64;
        if self.offset == self.size {
            self.put_end(buf);
        }
        self.buf_at = buf.as_ptr() as usize;
        // The layout holds for a write of the same length only.
        self.shaped = len;
        self.wrote(buf.len());
        Transmit {
            len: buf.len(),
            segment: None,
        }
    }

    /// Sets `buf` to `len` bytes, keeping what it holds: what is past
    /// `len` no longer counts as laid out.
    fn resize(&mut self, buf: &mut Vec<u8>, len: usize) {
        if buf.len() > len {
            buf.truncate(len);
        } else {
            buf.resize(len, 0);
        }
        self.shaped = self.shaped.min(len);
    }

    /// The last write did not go out whole: its file bytes do not count.
    /// Returns how many they were.
    pub fn unsend_last(&mut self) -> u64 {
        let last = std::mem::take(&mut self.last);
        self.offset -= last;
        self.wire -= std::mem::take(&mut self.last_wire);
        last
    }
}

/// Verifies a file as it arrives and notes its progress: the time of the
/// first byte and of the last, and a point every [`PROGRESS_STEP`].
#[derive(Debug)]
pub struct FileReceiver {
    size: u64,
    start: Instant,
    verifier: Verifier,
    first: Option<Instant>,
    last: Option<Instant>,
    progress: Vec<(f64, u64)>,
    last_point: u64,
}

impl FileReceiver {
    /// A receiver of `size` bytes for an action that began at `start`.
    pub fn new(start: Instant, size: u64) -> FileReceiver {
        FileReceiver {
            size,
            start,
            verifier: Verifier::new(),
            first: None,
            last: None,
            progress: vec![(0.0, 0)],
            last_point: 0,
        }
    }

    /// Takes the file's bytes from the front of `bytes` at `now`, every one
    /// verified: how many it took (the rest is what follows the file).
    pub fn feed(&mut self, now: Instant, bytes: &[u8]) -> Result<usize, Mismatch> {
        let n = (self.left() as usize).min(bytes.len());
        if n == 0 {
            return Ok(0);
        }
        self.first.get_or_insert(now);
        self.verifier.feed(&bytes[..n])?;
        let got = self.verifier.checked();
        if got >= self.last_point + PROGRESS_STEP || got == self.size {
            self.last_point = got;
            let at = now.saturating_duration_since(self.start).as_secs_f64();
            self.progress.push((at, got));
        }
        self.last = Some(now);
        Ok(n)
    }

    /// Bytes still to come.
    pub fn left(&self) -> u64 {
        self.size - self.verifier.checked()
    }

    /// Bytes verified.
    pub fn got(&self) -> u64 {
        self.verifier.checked()
    }

    /// The file's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// When the first byte came.
    pub fn first(&self) -> Option<Instant> {
        self.first
    }

    /// When the last byte so far came.
    pub fn last(&self) -> Option<Instant> {
        self.last
    }

    /// The progress points: seconds since the start, bytes so far.
    pub fn progress(&self) -> &[(f64, u64)] {
        &self.progress
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::HEADER_LEN;

    fn drain(s: &mut FileSender, now: Instant, buf: &mut Vec<u8>) -> Vec<u8> {
        let mut all = Vec::new();
        while let Some(t) = s.poll_transmit(now, buf) {
            all.extend_from_slice(&buf[..t.len]);
        }
        all
    }

    #[test]
    fn an_unpaced_file_comes_out_whole_in_one_reused_buffer() {
        let now = Instant::now();
        let size = 3 * FILE_CHUNK as u64 + 1234;
        let mut s = FileSender::new(now, b"HEAD".to_vec(), size, 0);
        let mut buf = Vec::new();
        let all = drain(&mut s, now, &mut buf);
        assert_eq!(&all[..4], b"HEAD");
        assert_eq!(all[4..], content::fill_vec(0, size as usize)[..]);
        assert!(s.is_done());
    }

    #[test]
    fn a_capped_sender_writes_whole_records_and_the_same_file() {
        let now = Instant::now();
        let size = 2 * FILE_CHUNK as u64 + 777;
        let mut s = FileSender::new(now, b"HEAD".to_vec(), size, 0);
        s.set_max_write(200_050);
        let mut buf = Vec::new();
        let mut all = Vec::new();
        let mut lens = Vec::new();
        while let Some(t) = s.poll_transmit(now, &mut buf) {
            lens.push(t.len);
            all.extend_from_slice(&buf[..t.len]);
        }
        assert_eq!(lens[0], 4 + FIRST_CHUNK);
        assert!(
            lens[1..lens.len() - 1].iter().all(|&n| n == 200_000),
            "{lens:?}"
        );
        assert_eq!(all[4..], content::fill_vec(0, size as usize)[..]);
        // A timed file: whole FileData messages per write, never none.
        let end = now + Duration::from_secs(1);
        let mut t = FileSender::timed(now, Vec::new(), u64::MAX, end, 0);
        t.set_max_write(1);
        let first = t.poll_transmit(now, &mut buf).unwrap().len;
        let next = t.poll_transmit(now, &mut buf).unwrap().len;
        assert_eq!(
            (first, next),
            (HEADER_LEN + DATA_BODY, HEADER_LEN + DATA_BODY)
        );
        t.set_max_write(3 * DATA_BODY + 5);
        let capped = t.poll_transmit(now, &mut buf).unwrap().len;
        assert_eq!(capped, 3 * (HEADER_LEN + DATA_BODY));
    }

    #[test]
    fn a_paced_file_leaves_as_its_bytes_fall_due() {
        let t0 = Instant::now();
        // 8 kbit/s: 1000 bytes a second, 5-byte slices.
        let mut s = FileSender::new(t0, Vec::new(), 100, 8_000);
        let mut buf = Vec::new();
        let first = s.poll_transmit(t0, &mut buf).unwrap();
        assert_eq!(first.len, 5);
        assert!(s.poll_transmit(t0, &mut buf).is_none());
        let due = s.poll_timeout().unwrap();
        assert!(due > t0 + Duration::from_millis(4) && due <= t0 + Duration::from_millis(5));
        // By 50 ms the slices from 5 to 50 are due.
        let later = drain(&mut s, t0 + Duration::from_millis(50), &mut buf);
        assert_eq!(later.len(), 50);
        assert_eq!(s.kernel_pace(), Some(1250));
    }

    #[test]
    fn a_receiver_takes_only_the_file_and_notes_its_progress() {
        let t = Instant::now();
        let size = PROGRESS_STEP + 10;
        let mut r = FileReceiver::new(t, size);
        let mut bytes = content::fill_vec(0, size as usize);
        bytes.extend_from_slice(b"after");
        assert_eq!(
            r.feed(t + Duration::from_secs(1), &bytes),
            Ok(size as usize)
        );
        assert_eq!(r.left(), 0);
        assert_eq!(r.progress(), &[(0.0, 0), (1.0, size)]);
        let mut bad = FileReceiver::new(t, 10);
        assert!(bad.feed(t, b"0000000001").is_err());
    }
}
