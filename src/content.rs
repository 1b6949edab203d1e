//! The generated "file": printable ASCII that is a function of the offset alone.
//!
//! The file is a run of 100-byte records. The record that starts at offset
//! `k·100` holds `k·100` as ten decimal digits (modulo 10^10), a space, and 89
//! letters and digits that are the same in every record:
//!
//! ```text
//! offset 0         10 11                                                    99
//!        0000001200 abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzA
//! ```
//!
//! So a reader of a capture can tell where in the file any segment of 100
//! bytes or more sits, and the client verifies every byte it receives without
//! a copy of the file: [`Verifier`] regenerates what should have arrived and
//! compares. Generating and checking cost a copy and a compare per byte plus
//! ten digits per record, which keeps both at memory speed.

/// Length of one record of the pattern.
pub const RECORD: u64 = 100;
const DIGITS: usize = 10;
const ALPHABET: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

const fn template() -> [u8; RECORD as usize] {
    let mut t = [b'0'; RECORD as usize];
    t[DIGITS] = b' ';
    let mut i = DIGITS + 1;
    while i < RECORD as usize {
        t[i] = ALPHABET[(i - DIGITS - 1) % ALPHABET.len()];
        i += 1;
    }
    t
}

const TEMPLATE: [u8; RECORD as usize] = template();

fn write_record(start: u64, out: &mut [u8; RECORD as usize]) {
    *out = TEMPLATE;
    let mut n = start % 10_000_000_000;
    for i in (0..DIGITS).rev() {
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// The byte of the file at `offset`.
pub fn byte_at(offset: u64) -> u8 {
    let mut rec = [0u8; RECORD as usize];
    write_record(offset - offset % RECORD, &mut rec);
    rec[(offset % RECORD) as usize]
}

/// Fills `buf` with the file's bytes starting at `offset`.
///
/// Whole records are written in place: the template, then the record number.
/// Records start at multiples of 100, so the last two of the ten digits are
/// always `00` and the first eight count records; the count is kept in ASCII
/// and incremented, which keeps generation at memory speed.
pub fn fill(offset: u64, buf: &mut [u8]) {
    let mut pos = 0usize;
    let mut off = offset;
    // A partial first record.
    let within = (off % RECORD) as usize;
    if within != 0 {
        let mut rec = [0u8; RECORD as usize];
        write_record(off - within as u64, &mut rec);
        let n = (RECORD as usize - within).min(buf.len());
        buf[..n].copy_from_slice(&rec[within..within + n]);
        pos = n;
        off += n as u64;
    }
    if pos == buf.len() {
        return;
    }
    // Whole records, then a partial last one.
    let mut counter = [0u8; RECORD as usize];
    write_record(off, &mut counter);
    let mut digits = [0u8; DIGITS - 2];
    digits.copy_from_slice(&counter[..DIGITS - 2]);
    let mut chunks = buf[pos..].chunks_exact_mut(RECORD as usize);
    for rec in &mut chunks {
        rec.copy_from_slice(&TEMPLATE);
        rec[..DIGITS - 2].copy_from_slice(&digits);
        increment(&mut digits);
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        let mut rec = TEMPLATE;
        rec[..DIGITS - 2].copy_from_slice(&digits);
        let n = tail.len();
        tail.copy_from_slice(&rec[..n]);
    }
}

/// Adds one to a number written in ASCII digits, wrapping at all nines.
fn increment(digits: &mut [u8]) {
    for d in digits.iter_mut().rev() {
        if *d == b'9' {
            *d = b'0';
        } else {
            *d += 1;
            return;
        }
    }
}

/// The file's `len` bytes from `offset`, in a new buffer.
pub fn fill_vec(offset: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    fill(offset, &mut v);
    v
}

/// A byte that was not what the pattern says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("byte {offset} is {found:#04x}, expected {expected:#04x} ('{}')", *expected as char)]
pub struct Mismatch {
    /// Offset of the first wrong byte in the file.
    pub offset: u64,
    /// What the pattern says the byte is.
    pub expected: u8,
    /// What arrived.
    pub found: u8,
}

/// Checks a file as it arrives, chunk by chunk, against the pattern.
#[derive(Debug, Default)]
pub struct Verifier {
    next: u64,
    scratch: Vec<u8>,
}

impl Verifier {
    /// A verifier that expects the file from offset 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// A verifier that expects bytes starting at `offset`.
    pub fn at(offset: u64) -> Self {
        Self {
            next: offset,
            scratch: Vec::new(),
        }
    }

    /// Bytes checked so far (the offset the next chunk should start at).
    pub fn checked(&self) -> u64 {
        self.next
    }

    /// Checks the next chunk of the file; fails at the first wrong byte.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), Mismatch> {
        let result = check_at(self.next, chunk, &mut self.scratch);
        self.next += chunk.len() as u64;
        result
    }
}

/// Checks that `data` is the pattern at `offset`, using `scratch` as room to
/// regenerate it.
pub fn check_at(offset: u64, data: &[u8], scratch: &mut Vec<u8>) -> Result<(), Mismatch> {
    scratch.resize(data.len(), 0);
    fill(offset, scratch);
    if scratch[..] == *data {
        return Ok(());
    }
    let i = scratch
        .iter()
        .zip(data)
        .position(|(a, b)| a != b)
        .unwrap_or(0);
    Err(Mismatch {
        offset: offset + i as u64,
        expected: scratch[i],
        found: data[i],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_record_reads_as_documented() {
        let mut b = vec![0u8; 100];
        fill(0, &mut b);
        assert_eq!(&b[..17], b"0000000000 abcdef");
        assert_eq!(b[99], b'A');
        fill(1200, &mut b);
        assert_eq!(&b[..11], b"0000001200 ");
    }

    #[test]
    fn printable_everywhere() {
        let mut b = vec![0u8; 1000];
        fill(123, &mut b);
        assert!(b.iter().all(|c| c.is_ascii_graphic() || *c == b' '));
    }

    #[test]
    fn fill_is_a_function_of_offset_alone() {
        let mut whole = vec![0u8; 5000];
        fill(0, &mut whole);
        for (start, len) in [(0usize, 1usize), (7, 93), (99, 2), (100, 100), (1234, 2000)] {
            let mut part = vec![0u8; len];
            fill(start as u64, &mut part);
            assert_eq!(part, whole[start..start + len]);
            assert_eq!(byte_at(start as u64), whole[start]);
        }
    }

    #[test]
    fn verifier_accepts_chunks_and_finds_first_wrong_byte() {
        let mut whole = vec![0u8; 3000];
        fill(0, &mut whole);
        let mut v = Verifier::new();
        for chunk in whole.chunks(777) {
            v.feed(chunk).unwrap();
        }
        assert_eq!(v.checked(), 3000);
        whole[1500] = b'!';
        let mut v = Verifier::new();
        let err = v.feed(&whole).unwrap_err();
        assert_eq!(err.offset, 1500);
        assert_eq!(err.found, b'!');
    }

    #[test]
    fn counting_carries_across_digits() {
        let start = 99_999_900u64 - 500;
        let mut fast = vec![0u8; 2000];
        fill(start, &mut fast);
        for (i, b) in fast.iter().enumerate() {
            assert_eq!(*b, byte_at(start + i as u64), "offset {}", start + i as u64);
        }
        let mut wrap = vec![0u8; 300];
        fill(9_999_999_900, &mut wrap);
        assert_eq!(&wrap[..11], b"9999999900 ");
        assert_eq!(&wrap[100..111], b"0000000000 ");
    }

    #[test]
    fn large_offsets_wrap_the_digits_only() {
        let mut b = vec![0u8; 11];
        fill(12_345_678_900, &mut b);
        assert_eq!(&b, b"2345678900 ");
    }
}
