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

/// Writes the bytes of the record that starts at `start`, from `within` on,
/// into `out` (at most `RECORD - within` bytes): a record cut by a
/// chunk's edge.
fn record_part(start: u64, within: usize, out: &mut [u8]) {
    let mut rec = [0u8; RECORD as usize];
    write_record(start, &mut rec);
    out.copy_from_slice(&rec[within..within + out.len()]);
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
/// always `00` and the first eight count records; each record's eight digits
/// are one store (see [`stamp`]), which keeps generation at memory speed.
pub fn fill(offset: u64, buf: &mut [u8]) {
    let mut pos = 0usize;
    let mut off = offset;
    // A partial first record.
    let within = (off % RECORD) as usize;
    if within != 0 {
        let n = (RECORD as usize - within).min(buf.len());
        record_part(off - within as u64, within, &mut buf[..n]);
        pos = n;
        off += n as u64;
    }
    if pos == buf.len() {
        return;
    }
    // Whole records, then a partial last one.
    let rest = &mut buf[pos..];
    let whole = rest.len() - rest.len() % RECORD as usize;
    let (records, tail) = rest.split_at_mut(whole);
    for rec in records.chunks_exact_mut(RECORD as usize) {
        rec.copy_from_slice(&TEMPLATE);
    }
    stamp(records, off / RECORD);
    record_part(off + whole as u64, 0, tail);
}

/// The last two counting digits, `00` to `99`, as the two top bytes of a
/// little-endian word whose six low bytes are the other six digits.
const LOW_PAIRS: [u64; 100] = {
    let mut t = [0u64; 100];
    let mut j = 0;
    while j < 100 {
        t[j] = ((b'0' + (j / 10) as u8) as u64) << 48 | ((b'0' + (j % 10) as u8) as u64) << 56;
        j += 1;
    }
    t
};

/// Records counted by the eight digits before they wrap (offsets modulo
/// 10^10 in steps of 100).
const RECORD_WRAP: u64 = 100_000_000;

/// The first six of the eight counting digits of record `n` (`n / 100`,
/// below 10^6) as the six low bytes of a little-endian word.
fn six_digits(mut hundreds: u64) -> u64 {
    let mut w = 0u64;
    for i in (0..6).rev() {
        w |= ((b'0' + (hundreds % 10) as u8) as u64) << (8 * i);
        hundreds /= 10;
    }
    w
}

/// Writes the eight counting digits into whole records that already hold
/// the template, the first being record number `first` (its offset / 100).
///
/// The digits are one 8-byte store per record: six leading digits that
/// change once per hundred records, or'ed with the last two from a table.
fn stamp(records: &mut [u8], first: u64) {
    debug_assert_eq!(records.len() % RECORD as usize, 0);
    let mut n = first % RECORD_WRAP;
    let mut left = records.len() / RECORD as usize;
    let mut recs = records.chunks_exact_mut(RECORD as usize);
    while left > 0 {
        let low = (n % 100) as usize;
        let k = (100 - low).min(left);
        let high = six_digits(n / 100);
        // The table first: zip stops on it without taking a record.
        for (pair, rec) in LOW_PAIRS[low..low + k].iter().zip(&mut recs) {
            rec[..DIGITS - 2].copy_from_slice(&(high | pair).to_le_bytes());
        }
        left -= k;
        n = (n + k as u64) % RECORD_WRAP;
    }
}

/// The eight counting digits of record number `n` (below [`RECORD_WRAP`])
/// as the little-endian word a record's first eight bytes read as.
fn digits_word(n: u64) -> u64 {
    six_digits(n / 100) | LOW_PAIRS[(n % 100) as usize]
}

/// The Internet-checksum sum of the file's `len` bytes from `offset`, as
/// if they sat at an even position of a segment: the same value, once
/// folded, as summing the generated bytes in native 16-bit words
/// (`wire::checksum::fast_sum`), without generating them. A model capture
/// of a bulk transfer needs every segment's checksum but keeps only its
/// first bytes.
///
/// Every whole record is the template plus its eight digits, and records
/// are 100 bytes (even), so they all sit at the same parity: the whole
/// records add up to `count` times the template's sum plus the digits'
/// sums, which change only once per hundred records but for the last two
/// digits (a table). Partial records at either end are generated and
/// summed. A piece at an odd position counts byte-swapped (`× 256` modulo
/// `0xffff`).
pub fn sum16(offset: u64, len: u64) -> u64 {
    let end = offset + len;
    let (mut even, mut odd) = (0u64, 0u64);
    let mut pos = 0u64;
    let mut off = offset;
    let mut piece = |pos: u64, sum: u64| {
        if pos % 2 == 0 {
            even += sum;
        } else {
            odd += sum;
        }
    };
    let within = off % RECORD;
    let mut part = [0u8; RECORD as usize];
    if within != 0 && off < end {
        let n = (RECORD - within).min(end - off);
        let part = &mut part[..n as usize];
        record_part(off - within, within as usize, part);
        piece(pos, words(part));
        pos += n;
        off += n;
    }
    let count = (end - off) / RECORD;
    if count > 0 {
        piece(pos, records_sum(off / RECORD, count));
        pos += count * RECORD;
        off += count * RECORD;
    }
    if off < end {
        let part = &mut part[..(end - off) as usize];
        record_part(off, 0, part);
        piece(pos, words(part));
    }
    even + crate::wire::checksum::at_position(odd, 1)
}

/// The sum of `bytes` in native 16-bit words from an even position, a
/// last odd byte padded with zero.
fn words(bytes: &[u8]) -> u64 {
    let mut pairs = bytes.chunks_exact(2);
    let mut sum = 0u64;
    for p in &mut pairs {
        sum += u64::from(u16::from_ne_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        sum += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    sum
}

/// The native 16-bit word sum of the four words of a little-endian digits
/// word (bytes 0..8 of a record).
const fn digit_words(w: u64) -> u64 {
    let b = w.to_le_bytes();
    let mut sum = 0u64;
    let mut i = 0;
    while i < 8 {
        sum += u16::from_ne_bytes([b[i], b[i + 1]]) as u64;
        i += 2;
    }
    sum
}

/// The template's sum past the digits (bytes 8..100, from an even
/// position), and the running sums of the last-two-digit words:
/// `PAIR_SUMS[j]` adds pairs `00..j`.
const TEMPLATE_REST_SUM: u64 = {
    let mut sum = 0u64;
    let mut i = DIGITS - 2;
    while i < RECORD as usize {
        sum += u16::from_ne_bytes([TEMPLATE[i], TEMPLATE[i + 1]]) as u64;
        i += 2;
    }
    sum
};
const PAIR_SUMS: [u64; 101] = {
    let mut t = [0u64; 101];
    let mut j = 0;
    while j < 100 {
        t[j + 1] = t[j] + digit_words(LOW_PAIRS[j]);
        j += 1;
    }
    t
};

/// The sum of `count` whole records from record number `first`, from an
/// even position.
fn records_sum(first: u64, count: u64) -> u64 {
    let mut sum = count * TEMPLATE_REST_SUM;
    let mut n = first % RECORD_WRAP;
    let mut left = count;
    while left > 0 {
        let low = n % 100;
        let k = (100 - low).min(left);
        let high = digit_words(six_digits(n / 100));
        sum += k * high + PAIR_SUMS[(low + k) as usize] - PAIR_SUMS[low as usize];
        left -= k;
        n = (n + k) % RECORD_WRAP;
    }
    sum
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
}

impl Verifier {
    /// A verifier that expects the file from offset 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// A verifier that expects bytes starting at `offset`.
    pub fn at(offset: u64) -> Self {
        Self { next: offset }
    }

    /// Bytes checked so far (the offset the next chunk should start at).
    pub fn checked(&self) -> u64 {
        self.next
    }

    /// Checks the next chunk of the file; fails at the first wrong byte.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), Mismatch> {
        let result = check_at(self.next, chunk);
        self.next += chunk.len() as u64;
        result
    }
}

/// Checks that `data` is the pattern at `offset`.
///
/// Whole records are compared in place: the eight counting digits against
/// the record's number, the other 92 bytes against the template, so no
/// copy of the expected bytes is built; partial records at either end
/// likewise ([`check_slow`]). On a mismatch the first wrong byte is found.
pub fn check_at(offset: u64, data: &[u8]) -> Result<(), Mismatch> {
    let rec = RECORD as usize;
    let head = ((RECORD - offset % RECORD) % RECORD) as usize;
    let head = head.min(data.len());
    let mut ok = check_slow(offset, &data[..head]);
    let body = &data[head..];
    let body_off = offset + head as u64;
    if ok.is_ok() && !body.is_empty() {
        let mut n = (body_off / RECORD) % RECORD_WRAP;
        // Groups of four records as 64-bit words, then single records.
        if let Some(i) = first_bad_group(body, &mut n) {
            let at = i * GROUP_BYTES;
            return check_slow(body_off + at as u64, &body[at..at + GROUP_BYTES]);
        }
        let rest = &body[body.len() - body.len() % GROUP_BYTES..];
        let rest_off = body_off + (body.len() - rest.len()) as u64;
        let mut chunks = rest.chunks_exact(rec);
        for (i, r) in (&mut chunks).enumerate() {
            if r[..DIGITS - 2] != digits_word(n).to_le_bytes()
                || r[DIGITS - 2..] != TEMPLATE[DIGITS - 2..]
            {
                let at = rest_off + (i * rec) as u64;
                return check_slow(at, r);
            }
            n = (n + 1) % RECORD_WRAP;
        }
        let tail = chunks.remainder();
        let tail_off = body_off + (body.len() - tail.len()) as u64;
        ok = check_slow(tail_off, tail);
    }
    ok
}

/// Records per step of the fast check: four records are 400 bytes, 50
/// whole 64-bit words.
const GROUP_BYTES: usize = 4 * RECORD as usize;
const GROUP_WORDS: usize = GROUP_BYTES / 8;

/// Four records' template as little-endian words, and a mask that keeps
/// every byte but each record's eight counting digits.
const fn group_template() -> ([u64; GROUP_WORDS], [u64; GROUP_WORDS]) {
    let mut words = [0u64; GROUP_WORDS];
    let mut masks = [0u64; GROUP_WORDS];
    let mut j = 0;
    while j < GROUP_BYTES {
        let within = j % RECORD as usize;
        let shift = 8 * (j % 8);
        words[j / 8] |= (TEMPLATE[within] as u64) << shift;
        if within >= DIGITS - 2 {
            masks[j / 8] |= 0xff << shift;
        }
        j += 1;
    }
    (words, masks)
}

const GROUP: ([u64; GROUP_WORDS], [u64; GROUP_WORDS]) = group_template();

/// The index of the first group of four whole records in `body` that is
/// not the pattern counting from record number `n`, or `None` (then `n` has
/// counted past every whole group). Uses AVX2 where the CPU has it.
fn first_bad_group(body: &[u8], n: &mut u64) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { first_bad_group_avx2(body, n) };
        }
    }
    first_bad_group_any(body, n)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn first_bad_group_avx2(body: &[u8], n: &mut u64) -> Option<usize> {
    first_bad_group_any(body, n)
}

#[inline(always)]
fn first_bad_group_any(body: &[u8], n: &mut u64) -> Option<usize> {
    let mut high = six_digits(*n / 100);
    for (i, g) in body.chunks_exact(GROUP_BYTES).enumerate() {
        let g: &[u8; GROUP_BYTES] = g.try_into().expect("chunks_exact");
        let low = (*n % 100) as usize;
        let digits = if low <= 96 {
            // The four records share their six leading digits.
            let p = &LOW_PAIRS[low..low + 4];
            [high | p[0], high | p[1], high | p[2], high | p[3]]
        } else {
            [0, 1, 2, 3].map(|k| digits_word((*n + k) % RECORD_WRAP))
        };
        if !group_matches(g, &digits) {
            return Some(i);
        }
        *n = (*n + 4) % RECORD_WRAP;
        if low + 4 >= 100 {
            // The next group starts in the next hundred.
            high = six_digits(*n / 100);
        }
    }
    None
}

/// Whether four whole records are the template with `digits` as their
/// counting digits. One OR of masked XORs over 50 words: no branch per
/// record.
#[inline(always)]
fn group_matches(g: &[u8; GROUP_BYTES], digits: &[u64; 4]) -> bool {
    let word_at = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&g[at..at + 8]);
        u64::from_le_bytes(w)
    };
    let mut diff = 0u64;
    for i in 0..GROUP_WORDS {
        diff |= (word_at(8 * i) ^ GROUP.0[i]) & GROUP.1[i];
    }
    for (k, d) in digits.iter().enumerate() {
        diff |= word_at(k * RECORD as usize) ^ d;
    }
    diff == 0
}

/// Compares `data.len()` bytes at `offset`, record by record, without
/// generating them: a record's bytes before [`DIGITS`]` - 2` are its eight
/// counting digits ([`digits_word`]), every other byte is the template's.
/// A UDP file arrives as small pieces at any offset, and this is their
/// check.
fn check_slow(offset: u64, data: &[u8]) -> Result<(), Mismatch> {
    let mut off = offset;
    let mut rest = data;
    while !rest.is_empty() {
        let within = (off % RECORD) as usize;
        let take = (RECORD as usize - within).min(rest.len());
        let (piece, next) = rest.split_at(take);
        let counted = (DIGITS - 2).saturating_sub(within).min(take);
        // Most pieces of a record miss its digits: no need to work them out.
        let digits = if counted > 0 {
            digits_word((off / RECORD) % RECORD_WRAP).to_le_bytes()
        } else {
            [0; DIGITS - 2]
        };
        let expected = |i: usize| {
            if i < counted {
                digits[within + i]
            } else {
                TEMPLATE[within + i]
            }
        };
        let from = within.min(DIGITS - 2);
        let same = piece[..counted] == digits[from..from + counted]
            && piece[counted..] == TEMPLATE[within + counted..within + take];
        if !same {
            // The first wrong byte: the piece differs somewhere.
            let i = (0..take).find(|&i| piece[i] != expected(i)).unwrap_or(0);
            return Err(Mismatch {
                offset: off + i as u64,
                expected: expected(i),
                found: piece[i],
            });
        }
        off += take as u64;
        rest = next;
    }
    Ok(())
}

/// Generates the file chunk by chunk into one buffer. Chunks that start on
/// a record boundary only have their counting digits rewritten where the
/// buffer already holds records laid out from its start: the rest of each
/// record is the same in every chunk.
#[derive(Debug, Default)]
pub struct Generator {
    buf: Vec<u8>,
    /// How many bytes from the buffer's start are records (or the start of
    /// one) laid out from offset 0 of the buffer: the template, with some
    /// record's digits.
    shaped: usize,
}

impl Generator {
    /// An empty generator.
    pub fn new() -> Generator {
        Generator::default()
    }

    /// The file's `len` bytes from `offset`.
    pub fn chunk(&mut self, offset: u64, len: usize) -> &[u8] {
        self.buf.resize(self.buf.len().max(len), 0);
        self.shaped = fill_shaped(offset, &mut self.buf[..len], self.shaped);
        &self.buf[..len]
    }
}

/// As [`fill`], into a buffer whose first `shaped` bytes already hold
/// records laid out from its start (the template, with some record's
/// digits): when `offset` starts a record and `buf` fits in them, only the
/// counting digits are rewritten. Returns how many bytes from the start of
/// `buf` are so laid out afterwards (bytes past `buf` keep the layout they
/// had), the `shaped` of the next call on the same buffer.
pub fn fill_shaped(offset: u64, buf: &mut [u8], shaped: usize) -> usize {
    let len = buf.len();
    let aligned = offset % RECORD == 0;
    if aligned && len <= shaped {
        // Same layout as before: only the digits change.
        let whole = len - len % RECORD as usize;
        let (records, tail) = buf.split_at_mut(whole);
        stamp(records, offset / RECORD);
        record_part(offset + whole as u64, 0, tail);
        return shaped;
    }
    fill(offset, buf);
    // An aligned fill lays records out from the buffer's start (a partial
    // last one is a record's start). An unaligned one breaks it.
    if aligned { shaped.max(len) } else { 0 }
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
    fn in_place_check_agrees_with_the_pattern() {
        let mut whole = vec![0u8; 10_000];
        fill(250, &mut whole);
        for (start, len) in [
            (0usize, 10_000usize),
            (50, 99),
            (1, 1),
            (150, 5000),
            (9_999, 1),
        ] {
            assert_eq!(
                check_at(250 + start as u64, &whole[start..start + len]),
                Ok(())
            );
        }
        for bad in [0usize, 49, 50, 57, 58, 4_321, 9_999] {
            let mut b = whole.clone();
            b[bad] ^= 1;
            let e = check_at(250, &b).unwrap_err();
            assert_eq!(e.offset, 250 + bad as u64, "flipped byte {bad}");
        }
    }

    /// A sum folded to 16 bits, as the checksum field sees it.
    fn folded(s: u64) -> u64 {
        u64::from(crate::wire::checksum::fold(s))
    }

    #[test]
    fn sum16_of_a_few_known_ranges() {
        for (offset, len) in [
            (0u64, 0u64),
            (0, 1),
            (0, 100),
            (1, 99),
            (3, 2),
            (99, 3),
            (12_345, 200_001),
        ] {
            let b = fill_vec(offset, len as usize);
            assert_eq!(
                folded(sum16(offset, len)),
                folded(words(&b)),
                "{offset}+{len}"
            );
            let fast = crate::wire::checksum::fast_sum(&b);
            assert_eq!(folded(sum16(offset, len)) % 0xffff, folded(fast) % 0xffff);
        }
    }

    proptest::proptest! {
        /// The sum of a range without its bytes equals the sum of its
        /// bytes, at any offset (across the digit wrap) and length.
        #[test]
        fn sum16_agrees_with_the_generated_bytes(
            offset in proptest::prop_oneof![0u64..1_000_000, 9_999_900_000u64..10_000_100_000],
            len in 0u64..70_000,
        ) {
            let b = fill_vec(offset, len as usize);
            proptest::prop_assert_eq!(folded(sum16(offset, len)), folded(words(&b)));
        }

        /// The fast fill (digits from a table, six leading digits once per
        /// hundred records) and the generator's rewrite agree with the
        /// record-by-record definition, across the wrap at 10^10.
        #[test]
        fn fill_and_generator_agree_with_byte_at(
            offset in proptest::prop_oneof![0u64..100_000, 9_999_900_000u64..10_000_100_000],
            lens in proptest::collection::vec(1usize..25_000, 1..4),
        ) {
            // The definition: each record written on its own.
            let reference = |at: u64, len: usize| {
                let first = at - at % RECORD;
                let mut v = Vec::new();
                let mut rec = [0u8; RECORD as usize];
                let mut r = first;
                while r < at + len as u64 {
                    write_record(r, &mut rec);
                    v.extend_from_slice(&rec);
                    r += RECORD;
                }
                let skip = (at - first) as usize;
                v[skip..skip + len].to_vec()
            };
            let mut g = Generator::new();
            let mut at = offset;
            for len in lens {
                let b = fill_vec(at, len);
                proptest::prop_assert!(b == reference(at, len), "fill at {}", at);
                proptest::prop_assert!(g.chunk(at, len) == &b[..], "chunk at {}", at);
                at += len as u64;
            }
        }

        /// Every offset (the digit wrap at 10^10 included), every length,
        /// every flipped byte: the check passes the pattern and names the
        /// first wrong byte, through the four-record words and the single
        /// records alike.
        #[test]
        fn the_check_finds_any_flipped_byte(
            offset in proptest::prop_oneof![0u64..100_000, 9_999_990_000u64..10_000_010_000],
            len in 1usize..3_000,
            at in proptest::prelude::any::<proptest::sample::Index>(),
            bit in 0u8..8,
        ) {
            let mut b = fill_vec(offset, len);
            proptest::prop_assert_eq!(check_at(offset, &b), Ok(()));
            let i = at.index(len);
            let right = b[i];
            b[i] ^= 1 << bit;
            let e = check_at(offset, &b).unwrap_err();
            proptest::prop_assert_eq!(e.offset, offset + i as u64);
            proptest::prop_assert_eq!((e.expected, e.found), (right, b[i]));
        }
    }

    #[test]
    fn generator_chunks_equal_fill() {
        let mut g = Generator::new();
        let mut offset = 0u64;
        for len in [65_500usize, 1_048_500, 1_048_500, 333, 1_048_500, 777] {
            let expect = fill_vec(offset, len);
            assert_eq!(g.chunk(offset, len), &expect[..], "chunk at {offset}");
            offset += len as u64;
        }
    }

    #[test]
    fn large_offsets_wrap_the_digits_only() {
        let mut b = vec![0u8; 11];
        fill(12_345_678_900, &mut b);
        assert_eq!(&b, b"2345678900 ");
    }
}
