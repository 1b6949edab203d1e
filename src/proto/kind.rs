//! The one set of message kinds of both framings, and the one table that
//! gives each kind its byte on the wire in each framing.
//!
//! A kind is a meaning (an echo request, a stream's end); its byte depends on
//! the framing: over TCP the kinds are 0x01..0x12, over UDP 0x21..0x32, and
//! some kinds exist in one framing only (Hello and Cookie over UDP, FileSent
//! and TransferRequest over TCP). A byte that names no kind of its framing decodes as
//! [`Kind::Unknown`], so nothing is lost in a round trip.

/// The two framings of the lab protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// Over TCP: an 8-byte header with the body's length ([`super::codec`]).
    Tcp,
    /// Over UDP: one message per datagram, a 28-byte header
    /// ([`super::datagram`]).
    Udp,
}

/// What a message is, in either framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Asks for a cookie (UDP).
    Hello,
    /// A token that proves the client receives at its address (UDP).
    Cookie,
    /// Client asks the server to send `data` back.
    EchoRequest,
    /// Server sends the data back.
    EchoReply,
    /// Client asks for a file of `size` bytes.
    FileRequest,
    /// Server confirms; the file follows.
    FileReady,
    /// File bytes: from the header's offset over UDP; over TCP the next
    /// bytes of a timed file (a sized one is unframed).
    FileData,
    /// The sender is done with a file; its counts.
    FileEnd,
    /// After a file: how long the server took to write it and to see it
    /// acknowledged (TCP).
    FileSent,
    /// Client asks for a stream of segments.
    StreamRequest,
    /// Server confirms the stream and its schedule.
    StreamStart,
    /// One segment of a stream.
    StreamSegment,
    /// The stream is over.
    StreamEnd,
    /// A refusal or failure: a code and a sentence.
    Error,
    /// Client asks for a transfer in either direction, sized or timed,
    /// with its marking and congestion control (TCP).
    TransferRequest,
    /// After a transfer: the server's figures of it.
    Results,
    /// An echo that asks for the server's timestamps.
    StampedEchoRequest,
    /// The echo with the server's timestamps.
    StampedEchoReply,
    /// A stream whose segments' kernel TX stamps should follow them.
    StampedStreamRequest,
    /// The kernel TX stamp of one segment of a stamped stream (TCP).
    StreamStamp,
    /// The kernel TX stamps of a stamped stream's latest segments (UDP).
    StreamStamps,
    /// A kind this build does not know (kept so nothing is lost).
    Unknown(u8),
}

/// One row of the table: a kind's name and its byte per framing.
struct Row {
    name: &'static str,
    tcp: Option<u8>,
    udp: Option<u8>,
}

const fn row(name: &'static str, tcp: Option<u8>, udp: Option<u8>) -> Row {
    Row { name, tcp, udp }
}

impl Kind {
    /// Every kind this build knows.
    pub const ALL: [Kind; 21] = [
        Kind::Hello,
        Kind::Cookie,
        Kind::EchoRequest,
        Kind::EchoReply,
        Kind::FileRequest,
        Kind::FileReady,
        Kind::FileData,
        Kind::FileEnd,
        Kind::FileSent,
        Kind::StreamRequest,
        Kind::StreamStart,
        Kind::StreamSegment,
        Kind::StreamEnd,
        Kind::Error,
        Kind::TransferRequest,
        Kind::Results,
        Kind::StampedEchoRequest,
        Kind::StampedEchoReply,
        Kind::StampedStreamRequest,
        Kind::StreamStamp,
        Kind::StreamStamps,
    ];

    /// The table: the only place a kind's bytes are written down.
    const fn row(self) -> Row {
        match self {
            Kind::Hello => row("Hello", None, Some(0x21)),
            Kind::Cookie => row("Cookie", None, Some(0x22)),
            Kind::EchoRequest => row("EchoRequest", Some(0x01), Some(0x23)),
            Kind::EchoReply => row("EchoReply", Some(0x02), Some(0x24)),
            Kind::FileRequest => row("FileRequest", Some(0x03), Some(0x25)),
            Kind::FileReady => row("FileReady", Some(0x04), Some(0x26)),
            Kind::FileData => row("FileData", Some(0x0B), Some(0x27)),
            Kind::FileEnd => row("FileEnd", Some(0x0C), Some(0x28)),
            Kind::FileSent => row("FileSent", Some(0x0A), None),
            Kind::StreamRequest => row("StreamRequest", Some(0x05), Some(0x29)),
            Kind::StreamStart => row("StreamStart", Some(0x06), Some(0x2A)),
            Kind::StreamSegment => row("StreamSegment", Some(0x07), Some(0x2B)),
            Kind::StreamEnd => row("StreamEnd", Some(0x08), Some(0x2C)),
            Kind::Error => row("Error", Some(0x09), Some(0x2D)),
            Kind::TransferRequest => row("TransferRequest", Some(0x0D), None),
            Kind::Results => row("Results", Some(0x0E), Some(0x2E)),
            Kind::StampedEchoRequest => row("StampedEchoRequest", Some(0x0F), Some(0x2F)),
            Kind::StampedEchoReply => row("StampedEchoReply", Some(0x10), Some(0x30)),
            Kind::StampedStreamRequest => row("StampedStreamRequest", Some(0x11), Some(0x31)),
            Kind::StreamStamp => row("StreamStamp", Some(0x12), None),
            Kind::StreamStamps => row("StreamStamps", None, Some(0x32)),
            Kind::Unknown(b) => row("Unknown", Some(b), Some(b)),
        }
    }

    /// The kind's byte in `framing`, or `None` when the kind has no message
    /// there (a Hello over TCP). An unknown kind keeps its byte.
    pub const fn code(self, framing: Framing) -> Option<u8> {
        let row = self.row();
        match framing {
            Framing::Tcp => row.tcp,
            Framing::Udp => row.udp,
        }
    }

    /// The kind a byte names in `framing`.
    pub fn from_code(framing: Framing, b: u8) -> Kind {
        match framing {
            Framing::Tcp => BY_TCP_CODE[usize::from(b)],
            Framing::Udp => BY_UDP_CODE[usize::from(b)],
        }
    }

    /// The kind's byte in a TCP header. A kind with no TCP message is
    /// written with its UDP byte, which a TCP decoder reads as unknown.
    pub fn to_byte(self) -> u8 {
        let row = self.row();
        row.tcp.or(row.udp).unwrap_or(0)
    }

    /// The kind a byte in a TCP header names.
    pub fn from_byte(b: u8) -> Kind {
        Kind::from_code(Framing::Tcp, b)
    }

    /// The kind's name, as in logs ("Unknown" for an unknown one).
    pub const fn name(self) -> &'static str {
        self.row().name
    }
}

/// The table read the other way, one lookup per framing, built at compile
/// time from [`Kind::code`].
static BY_TCP_CODE: [Kind; 256] = by_code(Framing::Tcp);
static BY_UDP_CODE: [Kind; 256] = by_code(Framing::Udp);

const fn by_code(framing: Framing) -> [Kind; 256] {
    let mut t = [Kind::Unknown(0); 256];
    let mut b = 0;
    while b < 256 {
        t[b] = Kind::Unknown(b as u8);
        b += 1;
    }
    let mut i = 0;
    while i < Kind::ALL.len() {
        if let Some(code) = Kind::ALL[i].code(framing) {
            t[code as usize] = Kind::ALL[i];
        }
        i += 1;
    }
    t
}

/// Checks that `kinds` (a framing's test samples) hold every kind of
/// `framing` and no other.
#[cfg(test)]
pub(crate) fn assert_covers(framing: Framing, kinds: impl Iterator<Item = Kind>) {
    let mut kinds: Vec<Kind> = kinds.collect();
    kinds.sort_by_key(|k| k.code(framing));
    kinds.dedup();
    let mut all: Vec<Kind> = Kind::ALL
        .into_iter()
        .filter(|k| k.code(framing).is_some())
        .collect();
    all.sort_by_key(|k| k.code(framing));
    assert_eq!(kinds, all, "{framing:?}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes as they are on the wire, written out again so that a slip
    /// in the table shows here.
    #[test]
    fn the_wire_bytes_are_the_documented_ones() {
        let documented = [
            (Kind::Hello, None, Some(0x21)),
            (Kind::Cookie, None, Some(0x22)),
            (Kind::EchoRequest, Some(0x01), Some(0x23)),
            (Kind::EchoReply, Some(0x02), Some(0x24)),
            (Kind::FileRequest, Some(0x03), Some(0x25)),
            (Kind::FileReady, Some(0x04), Some(0x26)),
            (Kind::FileData, Some(0x0B), Some(0x27)),
            (Kind::FileEnd, Some(0x0C), Some(0x28)),
            (Kind::FileSent, Some(0x0A), None),
            (Kind::StreamRequest, Some(0x05), Some(0x29)),
            (Kind::StreamStart, Some(0x06), Some(0x2A)),
            (Kind::StreamSegment, Some(0x07), Some(0x2B)),
            (Kind::StreamEnd, Some(0x08), Some(0x2C)),
            (Kind::Error, Some(0x09), Some(0x2D)),
            (Kind::TransferRequest, Some(0x0D), None),
            (Kind::Results, Some(0x0E), Some(0x2E)),
            (Kind::StampedEchoRequest, Some(0x0F), Some(0x2F)),
            (Kind::StampedEchoReply, Some(0x10), Some(0x30)),
            (Kind::StampedStreamRequest, Some(0x11), Some(0x31)),
            (Kind::StreamStamp, Some(0x12), None),
            (Kind::StreamStamps, None, Some(0x32)),
        ];
        let table = Kind::ALL.map(|k| (k, k.code(Framing::Tcp), k.code(Framing::Udp)));
        assert_eq!(table, documented);
    }

    #[test]
    fn every_byte_round_trips_in_both_framings() {
        for framing in [Framing::Tcp, Framing::Udp] {
            for b in 0..=255u8 {
                let k = Kind::from_code(framing, b);
                assert_eq!(k.code(framing), Some(b), "{framing:?} {b:#04x}");
            }
            for k in Kind::ALL {
                if let Some(b) = k.code(framing) {
                    assert_eq!(Kind::from_code(framing, b), k);
                }
            }
        }
    }

    #[test]
    fn a_byte_of_the_other_framing_is_unknown() {
        assert_eq!(Kind::from_code(Framing::Tcp, 0x23), Kind::Unknown(0x23));
        assert_eq!(Kind::from_code(Framing::Udp, 0x01), Kind::Unknown(0x01));
        assert_eq!(Kind::from_byte(Kind::Hello.to_byte()), Kind::Unknown(0x21));
        assert_eq!(Kind::Unknown(0x7F).to_byte(), 0x7F);
        assert_eq!(Kind::Unknown(0x7F).name(), "Unknown");
    }
}
