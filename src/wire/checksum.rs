//! Internet checksums as a capture shows them: valid, bad, or "partial".
//!
//! A frame captured on the sending side of a Linux loopback or veth device
//! often carries a TCP or UDP checksum the kernel left for offload: the
//! field holds only the sum of the pseudo-header (RFC 793/768), and the
//! checksum over the data would be filled in by a card that never comes.
//! Such a field is reported as [`Verdict::Partial`], not as bad. Both the
//! plain and the complemented pseudo-header sum count as partial.
//!
//! The sums are etherparse's 16-bit word sums ([`u64_16bit_word`]); a sum
//! over a whole packet, checksum field included, folds to zero when the
//! checksum is right. Sums add, so a datagram split into IP fragments is
//! verified by adding the sums of its fragments ([`FragmentSums`]) without
//! reassembling its bytes.

use std::net::IpAddr;

use etherparse::checksum::u64_16bit_word;
use serde::Serialize;

/// What a checksum field says about the bytes it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The checksum matches the bytes.
    Valid,
    /// The field holds only the pseudo-header sum: left for offload.
    Partial,
    /// The checksum does not match.
    Bad,
}

/// Checksum verdicts counted by class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ChecksumCounts {
    /// Checksums that match.
    pub valid: u64,
    /// Checksums left for offload (pseudo-header sum only).
    pub partial: u64,
    /// Checksums that do not match.
    pub bad: u64,
    /// Checksums that could not be verified: the packet was not captured
    /// whole (snap length), or a fragmented datagram was never completed.
    pub unchecked: u64,
}

impl ChecksumCounts {
    /// Counts one verdict; `None` counts as unchecked.
    pub fn add(&mut self, verdict: Option<Verdict>) {
        match verdict {
            Some(Verdict::Valid) => self.valid += 1,
            Some(Verdict::Partial) => self.partial += 1,
            Some(Verdict::Bad) => self.bad += 1,
            None => self.unchecked += 1,
        }
    }

    /// Adds another set of counts to this one.
    pub fn merge(&mut self, other: &ChecksumCounts) {
        self.valid += other.valid;
        self.partial += other.partial;
        self.bad += other.bad;
        self.unchecked += other.unchecked;
    }
}

/// The checksum of an IPv4 header (options included).
pub fn ipv4_header(header: &[u8]) -> Verdict {
    if complement(u64_16bit_word::add_slice(0, header)) == 0 {
        Verdict::Valid
    } else {
        Verdict::Bad
    }
}

/// The pseudo-header sum without its length field: addresses and protocol.
pub fn pseudo_base(src: IpAddr, dst: IpAddr, protocol: u8) -> u64 {
    let sum = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let sum = u64_16bit_word::add_4bytes(0, s.octets());
            u64_16bit_word::add_4bytes(sum, d.octets())
        }
        (s, d) => {
            let sum = u64_16bit_word::add_slice(0, &v6_octets(s));
            u64_16bit_word::add_slice(sum, &v6_octets(d))
        }
    };
    u64_16bit_word::add_2bytes(sum, [0, protocol])
}

/// Adds the upper-layer length to a [`pseudo_base`] sum.
pub fn pseudo_with_len(base: u64, len: u32) -> u64 {
    u64_16bit_word::add_4bytes(base, len.to_be_bytes())
}

/// Sums a TCP or UDP segment (or a fragment of one), checksum field included.
pub fn data_sum(bytes: &[u8]) -> u64 {
    u64_16bit_word::add_slice(0, bytes)
}

/// The same sum as [`data_sum`] (equal once folded), at memory speed: native
/// 32-bit words added into 64 bits, with no carry to chain from one add to
/// the next, so the compiler vectorises it. Exact for any slice shorter
/// than 16 GiB.
pub fn fast_sum(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(4);
    let mut sum = 0u64;
    for c in &mut chunks {
        sum += u64::from(u32::from_ne_bytes([c[0], c[1], c[2], c[3]]));
    }
    let mut last = [0u8; 4];
    let rest = chunks.remainder();
    last[..rest.len()].copy_from_slice(rest);
    sum + u64::from(u32::from_ne_bytes(last))
}

/// A sum of bytes taken from an even position, moved to start at `pos`:
/// unchanged at an even position, folded and byte-swapped at an odd one
/// (each byte then weighs in the other half of its 16-bit word).
pub fn at_position(sum: u64, pos: u64) -> u64 {
    if pos % 2 == 0 {
        return sum;
    }
    u64::from(fold(sum).swap_bytes())
}

/// A sum folded to 16 bits with the end-around carry (not complemented).
pub fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Adds two sums with the end-around carry.
pub fn add(a: u64, b: u64) -> u64 {
    add_sums(a, b)
}

/// The checksum field for a folded-to-be sum: its ones' complement.
pub fn field(sum: u64) -> u16 {
    complement(sum)
}

/// Judges a TCP or UDP checksum from the pseudo-header sum (length
/// included), the sum over the whole segment and the field as stored.
pub fn transport(pseudo: u64, data: u64, stored: u16) -> Verdict {
    if complement(add_sums(pseudo, data)) == 0 {
        Verdict::Valid
    } else if stored == complement(pseudo) || stored == !complement(pseudo) {
        Verdict::Partial
    } else {
        Verdict::Bad
    }
}

fn add_sums(a: u64, b: u64) -> u64 {
    let (sum, carry) = a.overflowing_add(b);
    sum + u64::from(carry)
}

/// The ones' complement of the folded sum, in the byte order a field read
/// with `u16::from_be_bytes` has.
fn complement(sum: u64) -> u16 {
    u64_16bit_word::ones_complement(sum).to_be()
}

fn v6_octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Identifies a fragmented datagram: addresses, protocol and IP identification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DatagramId {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The protocol the fragments carry.
    pub protocol: u8,
    /// IPv4 identification or IPv6 fragment identification.
    pub ident: u32,
}

/// One fragment, as [`FragmentSums::add`] needs it.
#[derive(Debug, Clone, Copy)]
pub struct Fragment {
    /// Offset of this fragment's data in the datagram, in bytes.
    pub offset: u32,
    /// Whether more fragments follow (false on the last one).
    pub more: bool,
    /// Length of this fragment's data (from the IP header).
    pub len: u32,
    /// Sum over its data, when the whole fragment was captured.
    pub sum: Option<u64>,
    /// The TCP/UDP checksum field, carried by the first fragment only.
    pub stored: Option<u16>,
    /// The source and destination ports, carried by the first fragment only.
    pub ports: Option<(u16, u16)>,
}

/// What a fragmented datagram adds up to once all its bytes were seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completed {
    /// Length of the reassembled datagram's payload (the L4 segment).
    pub len: u32,
    /// Sum over all its bytes, checksum field included; `None` when a
    /// fragment was not captured whole or fragments overlapped.
    pub sum: Option<u64>,
    /// The checksum field from the first fragment, if it was seen.
    pub stored: Option<u16>,
}

#[derive(Debug, Clone)]
struct Pending {
    id: DatagramId,
    sum: u64,
    seen: u64,
    total: Option<u32>,
    stored: Option<u16>,
    ports: Option<(u16, u16)>,
    whole: bool,
}

/// Datagrams in flight, at most [`FragmentSums::CAPACITY`] of them; the
/// oldest is forgotten when a new one would exceed it. Duplicate or
/// overlapping fragments are not detected: such a datagram never adds up
/// and its checksum stays unchecked.
#[derive(Debug, Clone, Default)]
pub struct FragmentSums {
    pending: Vec<Pending>,
}

impl FragmentSums {
    /// Most datagrams kept in flight at once.
    pub const CAPACITY: usize = 64;

    /// Adds a fragment. Returns the ports learnt for the datagram so far
    /// and, once as many bytes as the datagram holds have been seen, what
    /// it adds up to.
    pub fn add(&mut self, id: DatagramId, f: Fragment) -> (Option<(u16, u16)>, Option<Completed>) {
        let at = match self.pending.iter().position(|p| p.id == id) {
            Some(at) => at,
            None => {
                if self.pending.len() >= Self::CAPACITY {
                    self.pending.remove(0);
                }
                self.pending.push(Pending {
                    id,
                    sum: 0,
                    seen: 0,
                    total: None,
                    stored: None,
                    ports: None,
                    whole: true,
                });
                self.pending.len() - 1
            }
        };
        let p = &mut self.pending[at];
        match f.sum {
            Some(s) => p.sum = add_sums(p.sum, s),
            None => p.whole = false,
        }
        p.seen += u64::from(f.len);
        p.stored = p.stored.or(f.stored);
        p.ports = p.ports.or(f.ports);
        if !f.more {
            p.total = Some(f.offset.saturating_add(f.len));
        }
        let ports = p.ports;
        let Some(total) = p.total else {
            return (ports, None);
        };
        if p.seen < u64::from(total) {
            return (ports, None);
        }
        let done = self.pending.remove(at);
        let exact = done.whole && done.seen == u64::from(total);
        let completed = Completed {
            len: total,
            sum: exact.then_some(done.sum),
            stored: done.stored,
        };
        (ports, Some(completed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn addrs() -> (IpAddr, IpAddr) {
        (
            IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)),
        )
    }

    /// A UDP segment with a correct checksum, built by etherparse.
    fn udp_segment(payload: &[u8]) -> Vec<u8> {
        let (s, d) = addrs();
        let (IpAddr::V4(s), IpAddr::V4(d)) = (s, d) else {
            unreachable!()
        };
        let h = etherparse::UdpHeader::with_ipv4_checksum(
            1000,
            2000,
            &etherparse::Ipv4Header::new(0, 64, etherparse::IpNumber::UDP, s.octets(), d.octets())
                .unwrap(),
            payload,
        )
        .unwrap();
        let mut v = h.to_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    fn verdict(segment: &[u8]) -> Verdict {
        let (s, d) = addrs();
        let pseudo = pseudo_with_len(pseudo_base(s, d, 17), segment.len() as u32);
        transport(
            pseudo,
            data_sum(segment),
            u16::from_be_bytes([segment[6], segment[7]]),
        )
    }

    #[test]
    fn valid_bad_and_partial_udp() {
        let mut seg = udp_segment(b"hello, checksum");
        assert_eq!(verdict(&seg), Verdict::Valid);
        seg[9] ^= 1;
        assert_eq!(verdict(&seg), Verdict::Bad);
        // What Linux leaves for offload: the folded pseudo-header sum.
        let (s, d) = addrs();
        let pseudo = pseudo_with_len(pseudo_base(s, d, 17), seg.len() as u32);
        let folded = !complement(pseudo);
        seg[6..8].copy_from_slice(&folded.to_be_bytes());
        assert_eq!(verdict(&seg), Verdict::Partial);
        seg[6..8].copy_from_slice(&(!folded).to_be_bytes());
        assert_eq!(verdict(&seg), Verdict::Partial);
    }

    #[test]
    fn ipv4_header_checksum() {
        let (IpAddr::V4(s), IpAddr::V4(d)) = addrs() else {
            unreachable!()
        };
        let mut h =
            etherparse::Ipv4Header::new(100, 64, etherparse::IpNumber::UDP, s.octets(), d.octets())
                .unwrap();
        h.header_checksum = h.calc_header_checksum();
        let mut bytes = h.to_bytes().to_vec();
        assert_eq!(ipv4_header(&bytes), Verdict::Valid);
        bytes[8] ^= 0x40;
        assert_eq!(ipv4_header(&bytes), Verdict::Bad);
    }

    #[test]
    fn fragments_add_up_in_any_order() {
        let seg = udp_segment(&[7u8; 100]);
        let (s, d) = addrs();
        let id = DatagramId {
            src: s,
            dst: d,
            protocol: 17,
            ident: 9,
        };
        let frag = |off: usize, end: usize, more| Fragment {
            offset: off as u32,
            more,
            len: (end - off) as u32,
            sum: Some(data_sum(&seg[off..end])),
            stored: (off == 0).then(|| u16::from_be_bytes([seg[6], seg[7]])),
            ports: (off == 0).then_some((1000, 2000)),
        };
        let mut t = FragmentSums::default();
        assert_eq!(t.add(id, frag(48, seg.len(), false)), (None, None));
        // The last fragment came first; the first one completes the datagram.
        let (ports, done) = t.add(id, frag(0, 48, true));
        assert_eq!(ports, Some((1000, 2000)));
        assert!(done.is_some() && t.pending.is_empty());
        let mut t = FragmentSums::default();
        t.add(id, frag(0, 48, true));
        let (_, done) = t.add(id, frag(48, seg.len(), false));
        let done = done.unwrap();
        let pseudo = pseudo_with_len(pseudo_base(s, d, 17), done.len);
        let (sum, stored) = (done.sum.unwrap(), done.stored.unwrap());
        assert_eq!(transport(pseudo, sum, stored), Verdict::Valid);
    }

    #[test]
    fn fragment_table_is_bounded() {
        let (s, d) = addrs();
        let mut t = FragmentSums::default();
        for ident in 0..1000 {
            let id = DatagramId {
                src: s,
                dst: d,
                protocol: 17,
                ident,
            };
            t.add(
                id,
                Fragment {
                    offset: 0,
                    more: true,
                    len: 8,
                    sum: Some(0),
                    stored: Some(0),
                    ports: None,
                },
            );
        }
        assert_eq!(t.pending.len(), FragmentSums::CAPACITY);
    }
}
