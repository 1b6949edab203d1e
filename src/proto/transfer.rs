//! The typed fields of a TCP TransferRequest: which way the file goes
//! ([`TransferDirection`]) and what the client asks of the server's socket
//! ([`TransferFlags`]).
//!
//! ```text
//! direction u8 (0 download, 1 upload), flags u8, tos u8, reserved u8 (0),
//! size u64, rate_bps u64, time_ns u64, congestion (UTF-8, the rest)
//! ```
//!
//! `size` 0 with `time_ns` > 0: no size cap; both > 0: whichever comes
//! first; both 0: an empty transfer. A non-empty `congestion` asks the
//! server to set `TCP_CONGESTION` before it sends anything.

use std::ops::BitOr;

use super::body::{Cut, Field, Reader, Sink};

/// Which way a transfer's file goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TransferDirection {
    /// The server sends, the client verifies (0 on the wire).
    #[default]
    Download,
    /// The client sends, the server verifies (1 on the wire).
    Upload,
}

impl TransferDirection {
    /// Its name in reports: `download` or `upload`.
    pub fn name(self) -> &'static str {
        match self {
            TransferDirection::Download => "download",
            TransferDirection::Upload => "upload",
        }
    }

    /// Its byte on the wire.
    pub fn to_u8(self) -> u8 {
        match self {
            TransferDirection::Download => 0,
            TransferDirection::Upload => 1,
        }
    }

    /// The direction a byte names, or `None` for any other byte.
    pub fn from_u8(b: u8) -> Option<TransferDirection> {
        match b {
            0 => Some(TransferDirection::Download),
            1 => Some(TransferDirection::Upload),
            _ => None,
        }
    }
}

/// A direction byte other than 0 or 1 is malformed: the server could only
/// guess which way to send.
impl Field for TransferDirection {
    fn put<S: Sink>(&self, s: &mut S) {
        self.to_u8().put(s);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Cut> {
        TransferDirection::from_u8(u8::get(r)?)
            .ok_or(Cut::Bad("direction is neither 0 (download) nor 1 (upload)"))
    }
}

/// What a TransferRequest asks of the server's socket: a set of bits,
/// unknown ones kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TransferFlags(pub u8);

impl TransferFlags {
    /// Nothing asked.
    pub const NONE: TransferFlags = TransferFlags(0);
    /// Bit 0: the client wants ECN (over TCP, reported only).
    pub const ECN: TransferFlags = TransferFlags(1);
    /// Bit 1: apply the request's `tos` to the server's socket for this
    /// connection (`IP_TOS` / `IPV6_TCLASS`).
    pub const TOS: TransferFlags = TransferFlags(2);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: TransferFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for TransferFlags {
    type Output = TransferFlags;
    fn bitor(self, o: TransferFlags) -> TransferFlags {
        TransferFlags(self.0 | o.0)
    }
}

impl Field for TransferFlags {
    fn put<S: Sink>(&self, s: &mut S) {
        self.0.put(s);
    }
    fn get(r: &mut Reader<'_>) -> Result<Self, Cut> {
        u8::get(r).map(TransferFlags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directions_and_flags_have_their_documented_bytes() {
        for (d, b) in [
            (TransferDirection::Download, 0),
            (TransferDirection::Upload, 1),
        ] {
            assert_eq!(d.to_u8(), b);
            assert_eq!(TransferDirection::from_u8(b), Some(d));
        }
        assert_eq!(TransferDirection::from_u8(2), None);
        let both = TransferFlags::ECN | TransferFlags::TOS;
        assert_eq!(both, TransferFlags(3));
        assert!(both.contains(TransferFlags::TOS) && both.contains(TransferFlags::NONE));
        assert!(!TransferFlags::ECN.contains(TransferFlags::TOS));
        assert!(matches!(
            TransferDirection::get(&mut Reader::new(&[7], 1)),
            Err(Cut::Bad(_))
        ));
    }
}
