//! The server's timestamps of one echo, carried back in a stamped reply.
//!
//! A client asks for them by sending a StampedEchoRequest instead of an
//! EchoRequest (same body); the server answers a StampedEchoReply: the
//! reply's sequence number (over TCP), then this 40-byte block, then the
//! data as received. An EchoRequest still gets the EchoReply it always got,
//! byte for byte.
//!
//! ```text
//!  0                               8                              16
//! +-------------------------------+-------------------------------+
//! | rx_ns u64: t2, the kernel's   | read_ns u64: the server's     |
//! | RX stamp of this request      | read of it returned           |
//! +-------------------------------+-------------------------------+
//! | reply_ns u64: the server is   | prev_seq u32  |kind u8|fl u8|0 0|
//! | about to send this reply      |               |       |     |   |
//! +-------------------------------+-------------------------------+
//! | prev_tx_ns u64: t3 of reply `prev_seq`                        |
//! +-------------------------------+
//! ```
//!
//! The server learns a reply's kernel TX stamp (t3) only after it sent the
//! reply, so each reply carries the t3 of an earlier one (flag bit 0 says
//! one is there; `prev_seq` says which reply it belongs to): the reply
//! before it, or, when that reply waited in a queue and its stamp came
//! late, the oldest t3 that came and was not carried yet. A client
//! that wants the last reply's t3 sends one more request. Times are
//! nanoseconds since the Unix epoch on the server's `CLOCK_REALTIME`; 0
//! means not available (no stamp came). `kind` says which clock took the
//! server's kernel stamps: 0 none (timestamping off or refused), 1
//! software, 2 hardware.

use super::body::{Cut, Field, Reader, Sink};

/// Length of the block on the wire.
pub const STAMPS_LEN: usize = 40;

/// Flag: `prev_tx_ns` holds the t3 of reply `prev_seq`.
const HAS_PREV_TX: u8 = 1;

/// Which clock took the server's kernel stamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum StampsKind {
    /// The server took none: timestamping is off or its kernel refused it.
    #[default]
    None,
    /// The kernel's clock.
    Software,
    /// The interface's clock.
    Hardware,
    /// A value this build does not know.
    Unknown(u8),
}

impl StampsKind {
    /// Its name in reports: `none`, `software`, `hardware`, `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            StampsKind::None => "none",
            StampsKind::Software => "software",
            StampsKind::Hardware => "hardware",
            StampsKind::Unknown(_) => "unknown",
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            StampsKind::None => 0,
            StampsKind::Software => 1,
            StampsKind::Hardware => 2,
            StampsKind::Unknown(n) => n,
        }
    }

    fn from_u8(n: u8) -> StampsKind {
        match n {
            0 => StampsKind::None,
            1 => StampsKind::Software,
            2 => StampsKind::Hardware,
            n => StampsKind::Unknown(n),
        }
    }
}

/// The server's times of one echo (0: not available).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerStamps {
    /// t2: the server's kernel received the request.
    pub rx_ns: u64,
    /// The server's read of the request returned.
    pub read_ns: u64,
    /// The server was about to send the reply.
    pub reply_ns: u64,
    /// The reply whose TX stamp `prev_tx_ns` is.
    pub prev_seq: u32,
    /// Which clock took the kernel stamps.
    pub kind: StampsKind,
    /// t3 of reply `prev_seq`, when it came.
    pub prev_tx_ns: Option<u64>,
}

impl ServerStamps {
    /// Reads a block of [`STAMPS_LEN`] bytes (`None` when shorter).
    pub fn parse(block: &[u8]) -> Option<ServerStamps> {
        ServerStamps::get(&mut Reader::new(block, block.len())).ok()
    }
}

impl Field for ServerStamps {
    fn put<S: Sink>(&self, s: &mut S) {
        self.rx_ns.put(s);
        self.read_ns.put(s);
        self.reply_ns.put(s);
        self.prev_seq.put(s);
        self.kind.to_u8().put(s);
        let flags = if self.prev_tx_ns.is_some() {
            HAS_PREV_TX
        } else {
            0
        };
        flags.put(s);
        0u16.put(s);
        self.prev_tx_ns.unwrap_or(0).put(s);
    }

    fn get(r: &mut Reader<'_>) -> Result<Self, Cut> {
        let rx_ns = u64::get(r)?;
        let read_ns = u64::get(r)?;
        let reply_ns = u64::get(r)?;
        let prev_seq = u32::get(r)?;
        let kind = StampsKind::from_u8(u8::get(r)?);
        let flags = u8::get(r)?;
        u16::get(r)?;
        let tx = u64::get(r)?;
        Ok(ServerStamps {
            rx_ns,
            read_ns,
            reply_ns,
            prev_seq,
            kind,
            prev_tx_ns: (flags & HAS_PREV_TX != 0).then_some(tx),
        })
    }
}

/// Most stamps one StreamStamps datagram carries.
pub const SEGMENT_STAMPS_MAX: usize = 8;

/// The body of a UDP StreamStamps: the kernel TX stamps of a stamped
/// stream's latest segments, each `(seq u32, tx_ns u64)`, after a count
/// u8. Each stamp rides in several of them, so one lost datagram loses no
/// stamp; a segment whose stamp never came is in none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SegmentStamps(pub Vec<(u32, u64)>);

impl Field for SegmentStamps {
    fn put<S: Sink>(&self, s: &mut S) {
        let n = self.0.len().min(SEGMENT_STAMPS_MAX);
        (n as u8).put(s);
        for (seq, ns) in &self.0[..n] {
            seq.put(s);
            ns.put(s);
        }
    }

    fn get(r: &mut Reader<'_>) -> Result<Self, Cut> {
        let n = u8::get(r)?;
        if usize::from(n) > SEGMENT_STAMPS_MAX {
            return Err(Cut::Bad("more stamps than a StreamStamps carries"));
        }
        let mut v = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            v.push((u32::get(r)?, u64::get(r)?));
        }
        Ok(SegmentStamps(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::body::{Counter, Writer};

    #[test]
    fn the_block_is_forty_bytes_and_round_trips() {
        let s = ServerStamps {
            rx_ns: 1,
            read_ns: 2,
            reply_ns: 3,
            prev_seq: 4,
            kind: StampsKind::Software,
            prev_tx_ns: Some(5),
        };
        let mut out = Vec::new();
        s.put(&mut Writer::new(&mut out, 0, 100));
        let mut c = Counter::new(0, 100);
        s.put(&mut c);
        assert_eq!((out.len(), c.len()), (STAMPS_LEN, STAMPS_LEN));
        assert_eq!(out[28..32], [1, 1, 0, 0]);
        assert_eq!(ServerStamps::get(&mut Reader::new(&out, 40)), Ok(s));
        let none = ServerStamps::default();
        let mut out = Vec::new();
        none.put(&mut Writer::new(&mut out, 0, 100));
        assert_eq!(out, [0; 40]);
        assert_eq!(ServerStamps::get(&mut Reader::new(&out, 40)), Ok(none));
        assert_eq!(
            ServerStamps::get(&mut Reader::new(&out[..39], 39)),
            Err(Cut::Short)
        );
        assert_eq!(StampsKind::from_u8(9).name(), "unknown");
    }
}
