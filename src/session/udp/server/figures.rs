//! What a server session moved, counted as the endpoint saw it: the
//! figures its driver logs, prints with `--json` and prices on the wire.

use std::net::SocketAddr;
use std::time::Instant;

/// What a session does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Lab echoes.
    Echo,
    /// Plain-text datagrams (a peer such as `nc -u`).
    Text,
    /// A file sent to the client.
    File,
    /// A stream sent to the client.
    Stream,
    /// A file the client sends (an upload), verified.
    Upload,
}

impl Kind {
    /// The name in the log and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Echo => "echo",
            Kind::Text => "text",
            Kind::File => "file",
            Kind::Stream => "stream",
            Kind::Upload => "upload",
        }
    }

    /// Whether it is a transfer (sent paced or received, ended with End).
    pub fn is_transfer(self) -> bool {
        matches!(self, Kind::File | Kind::Stream | Kind::Upload)
    }
}

/// Which session a datagram belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// The peer's address.
    pub peer: SocketAddr,
    /// The session id in the header; none for a text peer.
    pub id: Option<u32>,
}

impl Key {
    /// A lab session: `peer`'s datagrams with session id `id`.
    pub fn lab(peer: SocketAddr, id: u32) -> Key {
        Key { peer, id: Some(id) }
    }

    /// A text peer: all of `peer`'s datagrams that are not the lab's.
    pub fn text(peer: SocketAddr) -> Key {
        Key { peer, id: None }
    }
}

/// Datagrams one way or the other, and their UDP payload bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Datagrams.
    pub datagrams: u64,
    /// Their UDP payload bytes, lab header included.
    pub bytes: u64,
}

impl Tally {
    /// Adds `other`.
    pub fn add(&mut self, other: Tally) {
        self.datagrams += other.datagrams;
        self.bytes += other.bytes;
    }

    /// Counts one datagram of `n` bytes.
    pub fn one(&mut self, n: usize) {
        self.datagrams += 1;
        self.bytes += n as u64;
    }
}

/// The datagrams a session moved either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// From the peer.
    pub inbound: Tally,
    /// To the peer.
    pub outbound: Tally,
    /// The smallest and largest datagram either way.
    sizes: Option<(u64, u64)>,
}

impl Traffic {
    /// Counts a datagram of `n` bytes from the peer.
    pub fn received(&mut self, n: usize) {
        self.inbound.one(n);
        self.size(n as u64);
    }

    /// Counts a datagram of `n` bytes to the peer.
    pub fn sent(&mut self, n: usize) {
        self.outbound.one(n);
        self.size(n as u64);
    }

    fn size(&mut self, n: u64) {
        let (lo, hi) = self.sizes.unwrap_or((n, n));
        self.sizes = Some((lo.min(n), hi.max(n)));
    }

    /// Both ways together.
    pub fn total(&self) -> Tally {
        let mut t = self.inbound;
        t.add(self.outbound);
        t
    }

    /// The data of an echo or text session for the wire model: all its
    /// datagrams when they are all one size, else none (they are then
    /// priced as control datagrams at their mean size).
    pub fn as_data(&self) -> Carried {
        match self.sizes {
            Some((lo, hi)) if lo == hi => Carried {
                data: self.total(),
                segment: u32::try_from(hi).unwrap_or(u32::MAX),
                ..Carried::default()
            },
            _ => Carried::default(),
        }
    }
}

/// What a transfer carried: for the session's counts and the wire model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Carried {
    /// Data datagrams (FileData or StreamSegment) and their bytes.
    pub data: Tally,
    /// File bytes, or stream segment bytes: the session's `bytes_out`.
    pub payload: u64,
    /// UDP payload of a full data datagram.
    pub segment: u32,
    /// GSO send calls and the datagrams they carried, when GSO was used.
    pub gso: Option<(u64, u64)>,
}

/// How a transfer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferEnd {
    /// Why it ended, in a few words (the session's `end`).
    pub what: String,
    /// When its last datagram left.
    pub at: Instant,
    /// Every datagram it sent: control (FileReady, End copies, an error)
    /// and data.
    pub sent: Tally,
    /// The data among them.
    pub carried: Carried,
}

/// A session's figures as it ends: what its driver reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    /// The server's number for it, from 1.
    pub id: u64,
    /// What it did.
    pub kind: Kind,
    /// Its peer and session id.
    pub key: Key,
    /// When its first datagram arrived.
    pub started: Instant,
    /// When it last moved: its transfer's end, or its peer's last datagram.
    pub last: Instant,
    /// Everything it moved, its transfer's datagrams included.
    pub traffic: Traffic,
    /// Requests served, refusals included.
    pub requests: u64,
    /// Requests refused.
    pub refused: u64,
    /// Payload bytes sent: echoes, text replies, file or stream bytes.
    pub payload: u64,
    /// The data among what it moved, for the wire model.
    pub carried: Carried,
    /// Why it ended.
    pub why: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_sizes_are_data_and_mixed_sizes_are_not() {
        let mut t = Traffic::default();
        for _ in 0..4 {
            t.received(40);
            t.sent(40);
        }
        let c = t.as_data();
        assert_eq!((c.data.datagrams, c.data.bytes, c.segment), (8, 320, 40));
        t.sent(41);
        assert_eq!(t.as_data(), Carried::default());
        assert_eq!(t.total().datagrams, 9);
    }
}
