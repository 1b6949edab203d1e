//! The one body codec of both framings: a [`Reader`] and a [`Sink`] for the
//! fields of a body, the [`Field`] layout of each field type, and
//! [`body_codec!`], which declares a message set's bodies as their fields in
//! wire order.
//!
//! A body is laid out the same way whichever framing carries it: integers
//! big-endian, a sentence or data to the end of the message. So an Error's
//! code and sentence, a StreamStart's four fields or an echo's data are
//! written and read by the same code over TCP and over UDP, and a message's
//! encoded length is measured by the very code that writes it: the writer
//! and the [`Counter`] are two sinks of one `put_body`.
//!
//! The framings ([`super::codec`], [`super::datagram`]) wrap a body in their
//! header and decide what is left to check: TCP refuses bytes after a
//! fixed-size body, UDP ignores them.

use super::message::ErrorCode;

/// A cursor over a body that reads big-endian integers.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    /// Length of the whole message, header included.
    whole: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `body`, the end of a message of `whole` bytes.
    pub(crate) fn new(body: &'a [u8], whole: usize) -> Reader<'a> {
        Reader { rest: body, whole }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], Cut> {
        let (head, tail) = self.rest.split_first_chunk::<N>().ok_or(Cut::Short)?;
        self.rest = tail;
        Ok(*head)
    }

    /// Everything left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    /// Whether every byte has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

/// Why a field could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// The body ended first: the message's own reason says what was missing.
    Short,
    /// The bytes are there but wrong, for this reason.
    Bad(&'static str),
}

/// Where a body's bytes go: a buffer ([`Writer`]) or a count ([`Counter`]).
pub(crate) trait Sink {
    /// Appends bytes.
    fn put(&mut self, b: &[u8]);
    /// Pads with pattern bytes until the message is `len` bytes long, header
    /// included: never shorter than it already is, never longer than the
    /// framing's cap.
    fn pad_to(&mut self, len: usize);
}

/// A sink that appends to a buffer holding one message from `start`.
pub(crate) struct Writer<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    cap: usize,
}

impl<'a> Writer<'a> {
    /// Writes after `out[start..]`, a message's header; pads to at most
    /// `cap` bytes of message.
    pub(crate) fn new(out: &'a mut Vec<u8>, start: usize, cap: usize) -> Writer<'a> {
        Writer { out, start, cap }
    }
}

impl Sink for Writer<'_> {
    fn put(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    fn pad_to(&mut self, len: usize) {
        let at = self.out.len();
        let end = self.start + padded(len, at - self.start, self.cap);
        self.out.resize(end, 0);
        crate::content::fill(0, &mut self.out[at..]);
    }
}

/// A sink that only counts: the length a [`Writer`] would write.
pub(crate) struct Counter {
    len: usize,
    cap: usize,
}

impl Counter {
    /// Counts from a header of `header` bytes; pads to at most `cap`.
    pub(crate) fn new(header: usize, cap: usize) -> Counter {
        Counter { len: header, cap }
    }

    /// The message's length so far, header included.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Sink for Counter {
    fn put(&mut self, b: &[u8]) {
        self.len += b.len();
    }

    fn pad_to(&mut self, len: usize) {
        self.len = padded(len, self.len, self.cap);
    }
}

/// The length a padded message ends at: `want`, at least `now`, at most
/// `cap` (unless it is already longer).
fn padded(want: usize, now: usize, cap: usize) -> usize {
    want.min(cap).max(now)
}

/// How one field type is laid out in a body.
pub(crate) trait Field: Sized {
    /// Writes the field.
    fn put<S: Sink>(&self, s: &mut S);
    /// Reads the field.
    fn get(r: &mut Reader<'_>) -> Result<Self, Cut>;
}

macro_rules! big_endian {
    ($($t:ty),*) => {$(
        impl Field for $t {
            fn put<S: Sink>(&self, s: &mut S) {
                s.put(&self.to_be_bytes());
            }
            fn get(r: &mut Reader<'_>) -> Result<Self, Cut> {
                r.take().map(<$t>::from_be_bytes)
            }
        }
    )*};
}
big_endian!(u8, u16, u32, u64);

impl Field for ErrorCode {
    fn put<S: Sink>(&self, s: &mut S) {
        self.to_u16().put(s);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Cut> {
        u16::get(r).map(ErrorCode::from_u16)
    }
}

/// A boxed field is laid out as what it holds.
impl<T: Field> Field for Box<T> {
    fn put<S: Sink>(&self, s: &mut S) {
        T::put(self, s);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Cut> {
        T::get(r).map(Box::new)
    }
}

/// Data: every byte to the end of the message.
impl Field for Vec<u8> {
    fn put<S: Sink>(&self, s: &mut S) {
        s.put(self);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Cut> {
        Ok(r.rest().to_vec())
    }
}

/// A sentence: UTF-8 to the end of the message.
impl Field for String {
    fn put<S: Sink>(&self, s: &mut S) {
        s.put(self.as_bytes());
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Cut> {
        std::str::from_utf8(r.rest())
            .map(str::to_string)
            .map_err(|_| Cut::Bad("the sentence is not UTF-8"))
    }
}

/// A field laid out other than by its type: the adapters of
/// [`body_codec!`]'s `field as Adapter`.
pub(crate) trait Adapter<T> {
    /// Writes the field.
    fn put<S: Sink>(v: &T, s: &mut S);
    /// Reads the field.
    fn get(r: &mut Reader<'_>) -> Result<T, Cut>;
}

/// A message's whole length, header included, as a size field that is not
/// on the wire: writing pads the message with pattern bytes to it, reading
/// takes the message's length (a stream segment's filler).
pub(crate) struct Filler;

impl Adapter<u32> for Filler {
    fn put<S: Sink>(v: &u32, s: &mut S) {
        s.pad_to(*v as usize);
    }
    fn get(r: &mut Reader<'_>) -> Result<u32, Cut> {
        r.rest();
        Ok(r.whole as u32)
    }
}

/// A TCP FileRequest's pace: 8 bytes when paced, absent when 0, so an
/// unpaced request is the 8-byte body it always was.
pub(crate) struct RateIfPaced;

impl Adapter<u64> for RateIfPaced {
    fn put<S: Sink>(v: &u64, s: &mut S) {
        put_unless_zero(*v, s);
    }
    fn get(r: &mut Reader<'_>) -> Result<u64, Cut> {
        get_unless_absent(r, "body is not a size and a rate, 8 bytes each")
    }
}

/// A UDP FileRequest's time: 8 bytes when timed, absent when 0, so an
/// untimed request is the body it always was.
pub(crate) struct TimeIfTimed;

impl Adapter<u64> for TimeIfTimed {
    fn put<S: Sink>(v: &u64, s: &mut S) {
        put_unless_zero(*v, s);
    }
    fn get(r: &mut Reader<'_>) -> Result<u64, Cut> {
        get_unless_absent(r, "the time after the token is cut short")
    }
}

/// A trailing u64 that is written only when it is not 0.
fn put_unless_zero<S: Sink>(v: u64, s: &mut S) {
    if v != 0 {
        v.put(s);
    }
}

/// A trailing u64 that reads as 0 when the body ends before it, and as
/// malformed (`cut`) when only part of it is there.
fn get_unless_absent(r: &mut Reader<'_>, cut: &'static str) -> Result<u64, Cut> {
    if r.is_empty() {
        return Ok(0);
    }
    u64::get(r).map_err(|_| Cut::Bad(cut))
}

/// A byte followed by a reserved byte: 0 when written, ignored when read
/// (a TransferRequest's `tos`).
pub(crate) struct ThenReserved;

impl Adapter<u8> for ThenReserved {
    fn put<S: Sink>(v: &u8, s: &mut S) {
        v.put(s);
        0u8.put(s);
    }
    fn get(r: &mut Reader<'_>) -> Result<u8, Cut> {
        let v = u8::get(r)?;
        u8::get(r)?;
        Ok(v)
    }
}

/// Data that must hold at least one byte (a TCP FileData's).
pub(crate) struct NonEmpty;

impl Adapter<Vec<u8>> for NonEmpty {
    fn put<S: Sink>(v: &Vec<u8>, s: &mut S) {
        v.put(s);
    }
    fn get(r: &mut Reader<'_>) -> Result<Vec<u8>, Cut> {
        match r.rest() {
            [] => Err(Cut::Bad("a FileData carries at least one byte")),
            data => Ok(data.to_vec()),
        }
    }
}

/// Reads one body with `fields`, and names what went wrong: `short` when the
/// body ended before its fields, `trailing` (when given) when bytes are left
/// after them.
pub(crate) fn read<T>(
    r: &mut Reader<'_>,
    short: &'static str,
    trailing: Option<&'static str>,
    fields: impl FnOnce(&mut Reader<'_>) -> Result<T, Cut>,
) -> Result<T, &'static str> {
    let body = fields(r).map_err(|cut| match cut {
        Cut::Short => short,
        Cut::Bad(reason) => reason,
    })?;
    match trailing {
        Some(reason) if !r.is_empty() => Err(reason),
        _ => Ok(body),
    }
}

/// Declares the bodies of a message set, an enum whose variants are named as
/// their [`Kind`](super::Kind)s: for each variant its fields in wire order
/// (`{ a, b as Adapter }` for a struct variant, `field as Adapter` for one
/// laid out other than by its type; `(name)` for a variant that holds one
/// value, laid out by its type), the reason given when the body is too
/// short, and with `strict` the reason given when bytes are left after it.
/// It writes the set's `kind()`, `put_body` (to any [`Sink`]) and
/// `read_body`.
macro_rules! body_codec {
    ($Set:ident {
        $( $V:ident $fields:tt $short:literal $(strict $trailing:literal)? ; )*
    }) => {
        impl $Set {
            /// The message's kind.
            pub fn kind(&self) -> $crate::proto::Kind {
                match self {
                    $( $Set::$V { .. } => $crate::proto::Kind::$V, )*
                }
            }

            /// Writes the body's fields to `s`.
            pub(crate) fn put_body<S: $crate::proto::body::Sink>(&self, s: &mut S) {
                match self {
                    $( $crate::proto::body::body_codec!(@pat $Set $V $fields) => {
                        $crate::proto::body::body_codec!(@puts s $fields);
                    } )*
                }
            }

            /// Reads a body of `kind`: `None` when the set has no such kind,
            /// else the message or the reason it is malformed.
            #[allow(unused_variables)] // a body without fields reads nothing
            pub(crate) fn read_body(
                kind: $crate::proto::Kind,
                r: &mut $crate::proto::body::Reader<'_>,
            ) -> Option<Result<$Set, &'static str>> {
                use $crate::proto::body::read;
                Some(match kind {
                    $( $crate::proto::Kind::$V => read(r, $short, None $(.or(Some($trailing)))?, |r| {
                        Ok($crate::proto::body::body_codec!(@build $Set $V r $fields))
                    }), )*
                    _ => return None,
                })
            }
        }
    };
    (@pat $Set:ident $V:ident { $( $f:ident $(as $A:ident)? ),* }) => { $Set::$V { $($f),* } };
    (@pat $Set:ident $V:ident ( $f:ident )) => { $Set::$V($f) };
    (@puts $s:ident { $( $f:ident $(as $A:ident)? ),* }) => {
        $( $crate::proto::body::body_codec!(@put $s, $f $(as $A)?); )*
    };
    (@puts $s:ident ( $f:ident )) => { $crate::proto::body::body_codec!(@put $s, $f) };
    (@build $Set:ident $V:ident $r:ident { $( $f:ident $(as $A:ident)? ),* }) => {
        $Set::$V { $( $f: $crate::proto::body::body_codec!(@get $r, $f $(as $A)?) ),* }
    };
    (@build $Set:ident $V:ident $r:ident ( $f:ident )) => {
        $Set::$V($crate::proto::body::body_codec!(@get $r, $f))
    };
    (@put $s:ident, $f:ident) => { $crate::proto::body::Field::put($f, $s) };
    (@put $s:ident, $f:ident as $A:ident) => {
        <$crate::proto::body::$A as $crate::proto::body::Adapter<_>>::put($f, $s)
    };
    (@get $r:ident, $f:ident) => { $crate::proto::body::Field::get($r)? };
    (@get $r:ident, $f:ident as $A:ident) => {
        <$crate::proto::body::$A as $crate::proto::body::Adapter<_>>::get($r)?
    };
}
pub(crate) use body_codec;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_counts_what_a_writer_writes() {
        let mut out = vec![9; 3];
        let mut w = Writer::new(&mut out, 1, 40);
        let mut c = Counter::new(2, 40);
        w.put(b"abc");
        c.put(b"abc");
        w.pad_to(10);
        c.pad_to(10);
        assert_eq!(out.len() - 1, 10);
        assert_eq!(c.len(), 10);
    }

    #[test]
    fn padding_never_cuts_and_never_passes_the_cap() {
        assert_eq!(padded(5, 8, 100), 8);
        assert_eq!(padded(500, 8, 100), 100);
        assert_eq!(padded(500, 120, 100), 120);
    }

    #[test]
    fn fields_read_back_and_short_bodies_say_so() {
        let mut out = Vec::new();
        let mut w = Writer::new(&mut out, 0, 100);
        7u8.put(&mut w);
        300u16.put(&mut w);
        ErrorCode::Busy.put(&mut w);
        "ok".to_string().put(&mut w);
        let mut r = Reader::new(&out, out.len());
        assert_eq!(u8::get(&mut r), Ok(7));
        assert_eq!(u16::get(&mut r), Ok(300));
        assert_eq!(ErrorCode::get(&mut r), Ok(ErrorCode::Busy));
        assert_eq!(String::get(&mut r), Ok("ok".to_string()));
        assert_eq!(u32::get(&mut r), Err(Cut::Short));
        let mut bad = Reader::new(&[0xFF], 1);
        assert!(matches!(String::get(&mut bad), Err(Cut::Bad(_))));
    }
}
