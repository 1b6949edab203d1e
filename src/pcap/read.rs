//! One reader for both capture formats: classic pcap (any byte order,
//! micro- or nanosecond timestamps) and pcapng (several sections and
//! interfaces, each with its own link type and timestamp resolution).
//!
//! The format is told by the magic number. Files are parsed with
//! `pcap-file`, with two deliberate detours:
//! - classic pcap records are read raw, because `pcap-file`'s validated
//!   packets reject an original length above the snap length, which is
//!   exactly what a capture with `-s 96` holds;
//! - pcapng packet blocks (enhanced, simple, obsolete packet) are decoded
//!   here from the raw block, so the timestamp is scaled by the interface's
//!   `if_tsresol`/`if_tsoffset`, a malformed packet block is skipped and
//!   counted rather than fatal, and blocks this summary does not need (name
//!   resolution, statistics) are never decoded at all.

use std::io::{self, Cursor, Read};

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::PcapNgReader;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::{Endianness, TsResolution};

use super::error::PcapError;

/// A link-layer header type (the `LINKTYPE_*` registry of tcpdump.org).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: a 4-byte address family in the capturing host's order.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II, with optional VLAN tags.
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP as some BSDs number it (`DLT_RAW` = 12).
    pub const RAW_BSD: LinkType = LinkType(12);
    /// Raw IP, version told by the first nibble.
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: a 4-byte address family in network order.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1 (`any` device): a 16-byte header.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture v2: a 20-byte header.
    pub const LINUX_SLL2: LinkType = LinkType(276);
}

/// The container format of a capture file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Classic libpcap format.
    Pcap,
    /// pcapng.
    PcapNg,
}

/// One captured frame, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Link type of the interface that captured it.
    pub link: LinkType,
    /// Interface index (pcapng; always 0 for classic pcap).
    pub interface: u32,
    /// Capture time in nanoseconds since the Unix epoch, when known.
    pub timestamp_ns: Option<u64>,
    /// Length of the frame on the wire (`frame.len`).
    pub original_len: u32,
    /// The captured bytes (`frame.cap_len` of them).
    pub data: &'a [u8],
}

/// What the next record of a capture turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    /// A frame.
    Frame(Frame<'a>),
    /// A packet record that could not be decoded; it is skipped.
    Malformed(&'static str),
}

/// Per-interface facts a pcapng packet block needs.
#[derive(Debug, Clone, Copy)]
struct Interface {
    link: LinkType,
    snaplen: u32,
    /// `if_tsresol`: bit 7 clear = 10^-n seconds, set = 2^-n seconds.
    tsresol: u8,
    tsoffset_s: u64,
}

enum Inner<R: Read> {
    Pcap {
        reader: PcapReader<Source<R>>,
        link: LinkType,
        nanos: bool,
    },
    PcapNg {
        reader: PcapNgReader<Source<R>>,
    },
}

/// The stream after the magic number was read: the magic put back in front.
type Source<R> = io::Chain<Cursor<[u8; 4]>, R>;

/// Reads frames from a pcap or pcapng stream.
pub struct CaptureReader<R: Read> {
    inner: Inner<R>,
    frames: u64,
    /// pcapng: the current section's interfaces.
    interfaces: Vec<Interface>,
    /// pcapng: the current frame's bytes, copied out of the block.
    buf: Vec<u8>,
}

const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x4d, 0x3c, 0xb2, 0xa1],
];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

const SECTION_HEADER: u32 = 0x0a0d_0d0a;
const INTERFACE_DESCRIPTION: u32 = 1;
const ENHANCED_PACKET: u32 = 6;
const SIMPLE_PACKET: u32 = 3;
const OBSOLETE_PACKET: u32 = 2;

impl<R: Read> CaptureReader<R> {
    /// Reads the file header and tells the format by its magic number.
    pub fn new(mut reader: R) -> Result<CaptureReader<R>, PcapError> {
        let mut magic = [0u8; 4];
        let got = read_up_to(&mut reader, &mut magic)?;
        if got == 0 {
            return Err(PcapError::Empty);
        }
        if got < magic.len() {
            return Err(PcapError::HeaderCut("file"));
        }
        // A cut before the first record is a cut header, not a cut frame.
        let header_cut = |format| {
            move |e| match PcapError::from_parser(e, 0) {
                PcapError::Truncated { .. } => PcapError::HeaderCut(format),
                other => other,
            }
        };
        let chained = Cursor::new(magic).chain(reader);
        let inner = if PCAP_MAGICS.contains(&magic) {
            let reader = PcapReader::new(chained).map_err(header_cut("pcap file"))?;
            let header = reader.header();
            // The upper bits of the link type field may carry FCS flags.
            let link = LinkType(u32::from(header.datalink) & 0x0fff_ffff);
            let nanos = header.ts_resolution == TsResolution::NanoSecond;
            Inner::Pcap {
                reader,
                link,
                nanos,
            }
        } else if magic == PCAPNG_MAGIC {
            let reader = PcapNgReader::new(chained).map_err(header_cut("pcapng section"))?;
            Inner::PcapNg { reader }
        } else {
            return Err(PcapError::NotACapture { magic });
        };
        Ok(CaptureReader {
            inner,
            frames: 0,
            interfaces: Vec::new(),
            buf: Vec::new(),
        })
    }

    /// The container format.
    pub fn format(&self) -> Format {
        match self.inner {
            Inner::Pcap { .. } => Format::Pcap,
            Inner::PcapNg { .. } => Format::PcapNg,
        }
    }

    /// Frames returned so far.
    pub fn frames_read(&self) -> u64 {
        self.frames
    }

    /// The next record, `None` at the end of the file.
    pub fn next_record(&mut self) -> Option<Result<Record<'_>, PcapError>> {
        let frames = self.frames;
        let record = match &mut self.inner {
            Inner::Pcap {
                reader,
                link,
                nanos,
            } => next_pcap(reader, *link, *nanos, frames),
            Inner::PcapNg { reader } => {
                match next_pcapng(reader, &mut self.interfaces, &mut self.buf, frames) {
                    None => None,
                    Some(Err(e)) => Some(Err(e)),
                    Some(Ok(Err(why))) => Some(Ok(Record::Malformed(why))),
                    Some(Ok(Ok(m))) => Some(Ok(Record::Frame(Frame {
                        link: m.link,
                        interface: m.interface,
                        timestamp_ns: m.timestamp_ns,
                        original_len: m.original_len,
                        data: &self.buf,
                    }))),
                }
            }
        };
        if let Some(Ok(Record::Frame(_))) = record {
            self.frames += 1;
        }
        record
    }
}

fn next_pcap<R: Read>(
    reader: &mut PcapReader<Source<R>>,
    link: LinkType,
    nanos: bool,
    frames: u64,
) -> Option<Result<Record<'_>, PcapError>> {
    let packet = match reader.next_raw_packet()? {
        Ok(p) => p,
        Err(e) => return Some(Err(PcapError::from_parser(e, frames))),
    };
    let frac = u64::from(packet.ts_frac);
    let frac_ns = if nanos { frac } else { frac * 1000 };
    let data = match packet.data {
        std::borrow::Cow::Borrowed(d) => d,
        // The raw parser always borrows; an owned buffer cannot be lent out.
        std::borrow::Cow::Owned(_) => {
            return Some(Ok(Record::Malformed("unexpected owned record")));
        }
    };
    Some(Ok(Record::Frame(Frame {
        link,
        interface: 0,
        timestamp_ns: u64::from(packet.ts_sec)
            .checked_mul(1_000_000_000)
            .and_then(|s| s.checked_add(frac_ns)),
        original_len: packet.orig_len,
        data,
    })))
}

/// A frame's facts apart from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    link: LinkType,
    interface: u32,
    timestamp_ns: Option<u64>,
    original_len: u32,
}

/// Reads blocks up to the next packet block and copies its bytes into
/// `buf`. Interface descriptions are cached in `ifs` as they go by.
fn next_pcapng<R: Read>(
    reader: &mut PcapNgReader<Source<R>>,
    ifs: &mut Vec<Interface>,
    buf: &mut Vec<u8>,
    frames: u64,
) -> Option<Result<Result<Meta, &'static str>, PcapError>> {
    loop {
        let big = reader.section().endianness == Endianness::Big;
        let raw = match reader.next_raw_block()? {
            Ok(b) => b,
            Err(e) => return Some(Err(PcapError::from_parser(e, frames))),
        };
        let decoded = match raw.type_ {
            SECTION_HEADER | INTERFACE_DESCRIPTION => None,
            ENHANCED_PACKET => Some(enhanced_packet(&raw.body, big, ifs, false)),
            OBSOLETE_PACKET => Some(enhanced_packet(&raw.body, big, ifs, true)),
            SIMPLE_PACKET => Some(simple_packet(&raw.body, big, ifs)),
            _ => continue,
        };
        let Some(decoded) = decoded else {
            // The parser has taken the section or interface in; copy it.
            *ifs = reader.interfaces().iter().map(interface).collect();
            continue;
        };
        return Some(Ok(decoded.map(|(meta, data)| {
            buf.clear();
            buf.extend_from_slice(data);
            meta
        })));
    }
}

fn interface(idb: &InterfaceDescriptionBlock) -> Interface {
    let mut tsresol = 6;
    let mut tsoffset_s = 0;
    for option in &idb.options {
        match option {
            InterfaceDescriptionOption::IfTsResol(r) => tsresol = *r,
            InterfaceDescriptionOption::IfTsOffset(o) => tsoffset_s = *o,
            _ => {}
        }
    }
    Interface {
        link: LinkType(u32::from(idb.linktype)),
        snaplen: idb.snaplen,
        tsresol,
        tsoffset_s,
    }
}

fn u32_at(b: &[u8], at: usize, big: bool) -> Option<u32> {
    let bytes: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(bytes)
    } else {
        u32::from_le_bytes(bytes)
    })
}

fn u16_at(b: &[u8], at: usize, big: bool) -> Option<u16> {
    let bytes: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
    Some(if big {
        u16::from_be_bytes(bytes)
    } else {
        u16::from_le_bytes(bytes)
    })
}

/// Decodes an enhanced packet block, or (`obsolete`) a packet block, whose
/// interface id is 16 bits followed by a 16-bit drop count.
fn enhanced_packet<'a>(
    body: &'a [u8],
    big: bool,
    ifs: &[Interface],
    obsolete: bool,
) -> Result<(Meta, &'a [u8]), &'static str> {
    let fields = (|| {
        let id = if obsolete {
            u32::from(u16_at(body, 0, big)?)
        } else {
            u32_at(body, 0, big)?
        };
        let ts = (u64::from(u32_at(body, 4, big)?) << 32) | u64::from(u32_at(body, 8, big)?);
        let cap = u32_at(body, 12, big)? as usize;
        let orig = u32_at(body, 16, big)?;
        Some((id, ts, cap, orig))
    })();
    let Some((id, ts, cap, orig)) = fields else {
        return Err("packet block shorter than its fixed fields");
    };
    let Some(iface) = ifs.get(id as usize) else {
        return Err("packet block names an interface that was not described");
    };
    let Some(data) = body.get(20..20usize.saturating_add(cap)) else {
        return Err("packet block captured length exceeds the block");
    };
    let meta = Meta {
        link: iface.link,
        interface: id,
        timestamp_ns: timestamp_ns(ts, iface),
        original_len: orig,
    };
    Ok((meta, data))
}

/// Decodes a simple packet block: interface 0, no timestamp, and a captured
/// length that is the smaller of the original length and the snap length.
fn simple_packet<'a>(
    body: &'a [u8],
    big: bool,
    ifs: &[Interface],
) -> Result<(Meta, &'a [u8]), &'static str> {
    let (Some(orig), Some(iface)) = (u32_at(body, 0, big), ifs.first()) else {
        return Err("simple packet block without length or interface");
    };
    let rest = body.get(4..).unwrap_or_default();
    let mut cap = rest.len().min(orig as usize);
    if iface.snaplen != 0 {
        cap = cap.min(iface.snaplen as usize);
    }
    let meta = Meta {
        link: iface.link,
        interface: 0,
        timestamp_ns: None,
        original_len: orig,
    };
    Ok((meta, rest.get(..cap).unwrap_or(rest)))
}

/// Scales a raw pcapng timestamp to nanoseconds.
fn timestamp_ns(raw: u64, iface: &Interface) -> Option<u64> {
    let exp = u32::from(iface.tsresol & 0x7f);
    let raw = u128::from(raw);
    let ns = if iface.tsresol & 0x80 == 0 {
        let units = 10u128.checked_pow(exp)?;
        raw * 1_000_000_000 / units
    } else {
        let units = 2u128.checked_pow(exp)?;
        raw * 1_000_000_000 / units
    };
    let offset = u128::from(iface.tsoffset_s) * 1_000_000_000;
    u64::try_from(ns.checked_add(offset)?).ok()
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_up_to<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<usize, PcapError> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(PcapError::Io(e)),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(tsresol: u8) -> Interface {
        Interface {
            link: LinkType::ETHERNET,
            snaplen: 0,
            tsresol,
            tsoffset_s: 0,
        }
    }

    #[test]
    fn timestamps_scale_by_resolution() {
        assert_eq!(timestamp_ns(1_500_000, &iface(6)), Some(1_500_000_000));
        assert_eq!(timestamp_ns(1_500_000_000, &iface(9)), Some(1_500_000_000));
        assert_eq!(timestamp_ns(3, &iface(0)), Some(3_000_000_000));
        // 2^-10 seconds per unit.
        assert_eq!(timestamp_ns(1024, &iface(0x80 | 10)), Some(1_000_000_000));
        // 10^-127 overflows; no timestamp rather than a wrong one.
        assert_eq!(timestamp_ns(1, &iface(127)), None);
    }

    #[test]
    fn unknown_magic_is_not_a_capture() {
        let r = CaptureReader::new(&b"GIF89a......"[..]);
        assert!(matches!(r, Err(PcapError::NotACapture { .. })));
    }

    #[test]
    fn short_file_is_a_cut_header() {
        assert!(matches!(CaptureReader::new(&[][..]), Err(PcapError::Empty)));
        assert!(matches!(
            CaptureReader::new(&[0xd4u8, 0xc3][..]),
            Err(PcapError::HeaderCut("file"))
        ));
        let header_only = [0xd4u8, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        assert!(matches!(
            CaptureReader::new(&header_only[..]),
            Err(PcapError::HeaderCut("pcap file"))
        ));
        let section_start = [0x0au8, 0x0d, 0x0d, 0x0a, 0, 0, 0, 28, 0x1a, 0x2b];
        assert!(matches!(
            CaptureReader::new(&section_start[..]),
            Err(PcapError::HeaderCut("pcapng section"))
        ));
    }

    #[test]
    fn packet_block_with_unknown_interface_is_malformed() {
        let mut body = vec![0u8; 24];
        body[12] = 4;
        assert!(enhanced_packet(&body, false, &[], false).is_err());
        let got = enhanced_packet(&body, false, &[iface(6)], false);
        assert!(matches!(got, Ok((_, data)) if data.len() == 4));
        body[12] = 8;
        assert!(enhanced_packet(&body, false, &[iface(6)], false).is_err());
    }
}
