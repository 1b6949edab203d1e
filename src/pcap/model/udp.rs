//! UDP datagrams as the model sends them, fragmented by IP as Linux does
//! when a datagram exceeds the MTU.
//!
//! ```text
//! fits the MTU:  [ IP | UDP 8 | payload ]                 IPv4: DF set
//! fragmented:    [ IP (+Frag 8 on IPv6) | UDP 8 | data ]   first
//!                [ IP (+Frag 8 on IPv6) | data ]           the others
//! ```
//!
//! The fragmentable part (UDP header and payload) is cut into pieces of
//! the MTU less the per-fragment IP headers, rounded down to a multiple of
//! 8 (`ip_fragment()` and `ip6_fragment()` in Linux): 1480 bytes on a
//! 1500-byte IPv4 link, 1448 on IPv6. Only the first fragment carries the
//! UDP header. All fragments of a datagram share its identification: the
//! IPv4 header's 16 bits (MF flag and offsets in 8-byte units, DF clear),
//! or the 32 bits of the IPv6 Fragment header (RFC 8200 §4.5).
//!
//! Each side numbers its IPv4 datagrams with a counter, as Linux does on a
//! connected socket, and its fragmented IPv6 datagrams with another; both
//! start from values derived from the ports.
//!
//! The UDP checksum covers the whole datagram, even when the frames that
//! hold it are cut to the snap length. A datagram is at most 64 KiB, so it
//! is held whole while its fragments are built.

use etherparse::{IpNumber, UdpHeader};

use super::headers::{Endpoints, FragmentAt, IPV6_FRAGMENT_LEN, IpFields, flow_seed};
use super::{Direction, FrameSink, ModelError, ModelFrame};

/// UDP header.
pub const UDP_HEADER_LEN: usize = UdpHeader::LEN;
/// Smallest IPv4 MTU (RFC 791).
pub const MIN_MTU_V4: u32 = 68;
/// Smallest IPv6 MTU (RFC 8200 §5).
pub const MIN_MTU_V6: u32 = 1280;
/// Largest IPv4 MTU: the total length field counts 16 bits.
pub const MAX_MTU: u32 = 65_535;
/// Largest IPv6 MTU worth modelling: a 16-bit payload length after the
/// 40-byte header (lo's 65536 lies within it).
pub const MAX_MTU_V6: u32 = 40 + 65_535;

/// The largest MTU the model takes for IPv6 (`v6`) or IPv4.
pub const fn max_mtu(v6: bool) -> u32 {
    if v6 { MAX_MTU_V6 } else { MAX_MTU }
}

/// UDP between a client and a server over a link of a given MTU.
#[derive(Debug, Clone)]
pub struct UdpFlow {
    ends: Endpoints,
    mtu: u32,
    /// Next IPv4 identification, per side (client, server).
    ip_ids: [u16; 2],
    /// Next IPv6 fragment identification, per side.
    frag_ids: [u32; 2],
    /// The datagram being sent: UDP header and whole payload.
    datagram: Vec<u8>,
    /// The frame being built.
    frame: Vec<u8>,
}

impl UdpFlow {
    /// Datagrams between `client` and `server` on a link of `mtu` bytes.
    pub fn new(
        client: std::net::SocketAddr,
        server: std::net::SocketAddr,
        mtu: u32,
    ) -> Result<UdpFlow, ModelError> {
        let ends = Endpoints::new(client, server)?;
        let (min, ip) = if ends.is_v6() {
            (MIN_MTU_V6, 6)
        } else {
            (MIN_MTU_V4, 4)
        };
        let max = max_mtu(ends.is_v6());
        if !(min..=max).contains(&mtu) {
            return Err(ModelError::MtuOutOfRange { mtu, min, max, ip });
        }
        let seed = |salt| flow_seed(&ends, salt);
        Ok(UdpFlow {
            ends,
            mtu,
            ip_ids: [seed(3) as u16, seed(4) as u16],
            frag_ids: [seed(5) as u32, seed(6) as u32],
            datagram: Vec::new(),
            frame: Vec::new(),
        })
    }

    /// The largest payload one datagram carries: 65507 bytes over IPv4,
    /// 65527 over IPv6.
    pub fn max_payload(&self) -> u64 {
        let ip = if self.ends.is_v6() {
            0
        } else {
            self.ends.ip_header_len()
        };
        (MAX_MTU as usize - ip - UDP_HEADER_LEN) as u64
    }

    /// Bytes of the fragmentable part each fragment but the last carries.
    pub fn fragment_len(&self) -> usize {
        let ext = if self.ends.is_v6() {
            IPV6_FRAGMENT_LEN
        } else {
            0
        };
        (self.mtu as usize - self.ends.ip_header_len() - ext) / 8 * 8
    }

    /// Sends one datagram holding `payload` in `dir` at `t_ns`. The frames
    /// of a fragmented datagram are labelled "fragment I of N of `comment`".
    pub fn send(
        &mut self,
        sink: &mut impl FrameSink,
        dir: Direction,
        payload: &[u8],
        t_ns: u64,
        comment: &str,
    ) -> Result<(), ModelError> {
        let fill = |_: u64, out: &mut [u8]| {
            if let Some(src) = payload.get(..out.len()) {
                out.copy_from_slice(src);
            }
        };
        self.send_len(sink, dir, payload.len() as u64, fill, t_ns, comment)
    }

    /// Sends one datagram of `len` payload bytes, as [`send`](Self::send)
    /// does; `fill(offset, buf)` writes the payload bytes at
    /// `offset..offset + buf.len()`.
    pub fn send_len(
        &mut self,
        sink: &mut impl FrameSink,
        dir: Direction,
        len: u64,
        fill: impl FnOnce(u64, &mut [u8]),
        t_ns: u64,
        comment: &str,
    ) -> Result<(), ModelError> {
        let max = self.max_payload();
        if len > max {
            let ip = if self.ends.is_v6() { 6 } else { 4 };
            return Err(ModelError::DatagramTooLarge { len, max, ip });
        }
        let len = len as usize;
        let (src, dst) = (self.ends.src(dir), self.ends.dst(dir));
        let mut h = UdpHeader {
            source_port: src.port(),
            destination_port: dst.port(),
            length: (UDP_HEADER_LEN + len) as u16,
            checksum: 0,
        };
        self.datagram.clear();
        self.datagram.resize(UDP_HEADER_LEN + len, 0);
        fill(0, &mut self.datagram[UDP_HEADER_LEN..]);
        h.checksum = self
            .ends
            .udp_checksum(dir, &h, &self.datagram[UDP_HEADER_LEN..])?;
        self.datagram[..UDP_HEADER_LEN].copy_from_slice(&h.to_bytes());

        let s = dir.sender();
        let ip_id = self.ip_ids[s];
        self.ip_ids[s] = ip_id.wrapping_add(1);
        let whole = self.ends.ip_header_len() + self.datagram.len();
        if whole <= self.mtu as usize {
            let ip = IpFields {
                protocol: IpNumber::UDP,
                payload_len: self.datagram.len(),
                ident: u32::from(ip_id),
                fragment: None,
            };
            return self.emit(sink, dir, &ip, 0..self.datagram.len(), t_ns, comment);
        }

        let ident = if self.ends.is_v6() {
            let id = self.frag_ids[s];
            self.frag_ids[s] = id.wrapping_add(1);
            id
        } else {
            u32::from(ip_id)
        };
        let piece = self.fragment_len();
        let count = self.datagram.len().div_ceil(piece);
        for i in 0..count {
            let offset = i * piece;
            let end = (offset + piece).min(self.datagram.len());
            let ip = IpFields {
                protocol: IpNumber::UDP,
                payload_len: end - offset,
                ident: 0,
                fragment: Some(FragmentAt {
                    offset,
                    more: end < self.datagram.len(),
                    ident,
                }),
            };
            let label = format!("fragment {} of {count} of {comment}", i + 1);
            self.emit(sink, dir, &ip, offset..end, t_ns, &label)?;
        }
        Ok(())
    }

    /// Builds one frame holding `range` of the datagram and hands it to
    /// `sink`.
    fn emit(
        &mut self,
        sink: &mut impl FrameSink,
        dir: Direction,
        ip: &IpFields,
        range: std::ops::Range<usize>,
        t_ns: u64,
        comment: &str,
    ) -> Result<(), ModelError> {
        self.frame.clear();
        self.ends.push_headers(&mut self.frame, dir, ip)?;
        let data = self.datagram.get(range).unwrap_or_default();
        self.frame.extend_from_slice(data);
        let cut = self.frame.len().min(sink.snaplen() as usize);
        sink.write_frame(&ModelFrame {
            t_ns,
            original_len: self.frame.len() as u32,
            data: &self.frame[..cut],
            comment,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcap::model::FrameLog;
    use crate::pcap::model::check::{all_valid, dissect};

    const T: u64 = 1_700_000_000_000_000_000;

    fn flow(v6: bool, mtu: u32) -> UdpFlow {
        let (c, s) = if v6 {
            ("[2001:db8::1]:40000", "[2001:db8::2]:5005")
        } else {
            ("192.0.2.1:40000", "192.0.2.2:5005")
        };
        UdpFlow::new(c.parse().unwrap(), s.parse().unwrap(), mtu).unwrap()
    }

    fn payload(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 + 7) as u8).collect()
    }

    #[test]
    fn a_small_datagram_is_one_frame_with_df() {
        let mut log = FrameLog::new(65_535);
        let mut f = flow(false, 1500);
        f.send(&mut log, Direction::ToServer, b"hello", T, "echo 1 request")
            .unwrap();
        let fr = &log.frames[0];
        assert_eq!(fr.original_len, 14 + 20 + 8 + 5);
        assert_eq!(fr.data[14 + 6] & 0x40, 0x40, "DF");
        assert_eq!(&fr.data[14 + 28..], b"hello");
        assert_eq!(fr.comment, "echo 1 request");
        assert_eq!(all_valid(&log.frames), 1);
    }

    #[test]
    fn ipv6_on_lo_carries_the_largest_datagram_whole() {
        // lo's MTU is 65536: 40 + 8 + 65488 bytes leave in one packet, as
        // the kernel sends them (IPV6_MTU on a connected socket says 65536).
        let mut log = FrameLog::new(65_535);
        let mut f = flow(true, 65_536);
        f.send(&mut log, Direction::ToServer, &payload(65_488), T, "big")
            .unwrap();
        assert_eq!(log.frames.len(), 1);
        let mut f = flow(true, 65_536);
        f.send(&mut log, Direction::ToServer, &payload(65_489), T, "big")
            .unwrap();
        assert_eq!(log.frames.len(), 3, "one byte more: two fragments");
        let (c, s) = (
            "[::1]:40000".parse().unwrap(),
            "[::1]:5005".parse().unwrap(),
        );
        assert!(UdpFlow::new(c, s, MAX_MTU_V6).is_ok());
        assert!(UdpFlow::new(c, s, MAX_MTU_V6 + 1).is_err());
    }

    #[test]
    fn ipv4_fragments_as_linux_cuts_them() {
        let mut log = FrameLog::new(65_535);
        let mut f = flow(false, 1500);
        let data = payload(4000);
        f.send(&mut log, Direction::ToServer, &data, T, "datagram")
            .unwrap();
        assert_eq!(log.frames.len(), 3);
        let mut ids = Vec::new();
        for (i, (fr, (len, off, mf))) in log
            .frames
            .iter()
            .zip([(1480, 0, true), (1480, 185, true), (1048, 370, false)])
            .enumerate()
        {
            let ip = &fr.data[14..];
            let total = u16::from_be_bytes([ip[2], ip[3]]);
            assert_eq!(usize::from(total) - 20, len, "fragment {i}");
            let flags = u16::from_be_bytes([ip[6], ip[7]]);
            assert_eq!(flags & 0x1fff, off, "offset in 8-byte units");
            assert_eq!(flags & 0x2000 != 0, mf, "MF");
            assert_eq!(flags & 0x4000, 0, "no DF on a fragment");
            ids.push([ip[4], ip[5]]);
            assert_eq!(fr.comment, format!("fragment {} of 3 of datagram", i + 1));
        }
        assert!(ids.iter().all(|id| *id == ids[0]));
        // Only the first fragment carries the UDP header; the rest is data.
        assert_eq!(&log.frames[0].data[34..36], &40000u16.to_be_bytes());
        assert_eq!(&log.frames[1].data[34..], &data[1472..2952]);
        assert_eq!(all_valid(&log.frames), 1);
        // The next datagram has the next identification.
        f.send(&mut log, Direction::ToServer, b"x", T, "next")
            .unwrap();
        let next = u16::from_be_bytes(ids[0]).wrapping_add(1);
        assert_eq!(&log.frames[3].data[18..20], &next.to_be_bytes());
    }

    #[test]
    fn ipv6_fragments_carry_a_fragment_header() {
        let mut log = FrameLog::new(65_535);
        let mut f = flow(true, 1500);
        f.send(&mut log, Direction::ToClient, &payload(4000), T, "d")
            .unwrap();
        let mut idents = Vec::new();
        for (fr, (len, off, m)) in
            log.frames
                .iter()
                .zip([(1448, 0, 1), (1448, 181, 1), (1112, 362, 0)])
        {
            let ip = &fr.data[14..];
            assert_eq!(ip[6], 44, "next header: fragment");
            let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            assert_eq!(plen - 8, len);
            let frag = &ip[40..48];
            assert_eq!(frag[0], 17);
            let word = u16::from_be_bytes([frag[2], frag[3]]);
            assert_eq!((word >> 3, word & 1), (off, m));
            idents.push(frag[4..8].to_vec());
        }
        assert!(idents.iter().all(|id| *id == idents[0]));
        assert_eq!(all_valid(&log.frames), 1);
        assert_eq!(f.fragment_len(), 1448);
    }

    #[test]
    fn cut_fragments_keep_the_whole_datagrams_checksum() {
        for v6 in [false, true] {
            let mut whole = FrameLog::new(65_535);
            let mut cut = FrameLog::new(128);
            for log in [&mut whole, &mut cut] {
                let mut f = flow(v6, 1500);
                let max = f.max_payload();
                f.send_len(
                    log,
                    Direction::ToServer,
                    max,
                    crate::content::fill,
                    T,
                    "max",
                )
                .unwrap();
            }
            assert_eq!(whole.frames.len(), cut.frames.len());
            for (w, c) in whole.frames.iter().zip(&cut.frames) {
                assert_eq!(c.data.len(), 128);
                assert_eq!(&w.data[..128], &c.data[..]);
            }
            assert_eq!(all_valid(&whole.frames), 1);
            // The reassembled datagram is as long as asked.
            let last = dissect(&whole.frames).pop().unwrap();
            assert!(last.checks_l4 && last.fragment);
        }
    }

    #[test]
    fn limits_are_refused() {
        let mut log = FrameLog::new(256);
        let mut f = flow(false, 1500);
        assert_eq!(f.max_payload(), 65_507);
        let r = f.send_len(&mut log, Direction::ToServer, 65_508, |_, _| {}, T, "x");
        assert!(matches!(r, Err(ModelError::DatagramTooLarge { .. })));
        assert_eq!(flow(true, 1500).max_payload(), 65_527);
        let c = "[2001:db8::1]:1".parse().unwrap();
        let s = "[2001:db8::2]:2".parse().unwrap();
        assert!(matches!(
            UdpFlow::new(c, s, 1279),
            Err(ModelError::MtuOutOfRange { min: 1280, .. })
        ));
        // The smallest IPv4 MTU still fragments: 48 bytes per fragment.
        let mut tiny = flow(false, 68);
        tiny.send(&mut log, Direction::ToServer, &payload(100), T, "x")
            .unwrap();
        assert_eq!(log.frames.len(), 3);
        assert_eq!(all_valid(&log.frames), 1);
    }
}
