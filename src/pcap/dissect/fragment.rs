//! IP fragments: each one joins its datagram (same addresses, protocol and
//! identification), which lends its ports to the fragments that carry no
//! transport header and is checksummed once, on the fragment that
//! completes it.

use super::ip::{FragmentFacts, IpParts};
use super::transport::{self, TransportHeader};
use crate::wire::checksum::{self, DatagramId, Fragment, FragmentSums, Verdict};

/// What one fragment adds to what is known of its datagram.
pub(super) struct FragmentOutcome {
    /// The datagram's ports, from this fragment or its first one.
    pub ports: Option<(u16, u16)>,
    /// The datagram's transport checksum, when this fragment completed it
    /// and every piece was captured whole.
    pub l4_checksum: Option<Verdict>,
    /// Whether this fragment accounts for its datagram's checksum.
    pub checks_l4: bool,
}

/// Adds one fragment to its datagram. `ip_payload_len` is its bytes after
/// the IP header on the wire; `whole` says whether all of them were
/// captured.
pub(super) fn add(
    sums: &mut FragmentSums,
    p: &IpParts<'_>,
    f: FragmentFacts,
    ip_payload_len: u64,
    whole: bool,
    header: &TransportHeader,
) -> FragmentOutcome {
    let protocol = p.payload.ip_number.0;
    let id = DatagramId {
        src: p.src,
        dst: p.dst,
        protocol,
        ident: f.ident,
    };
    let piece = Fragment {
        offset: f.offset,
        more: f.more,
        len: ip_payload_len as u32,
        sum: whole.then(|| checksum::data_sum(p.payload.payload)),
        stored: header.stored,
        ports: header.ports,
    };
    let (learnt, completed) = sums.add(id, piece);
    let base = checksum::pseudo_base(p.src, p.dst, protocol);
    let l4_checksum = completed.and_then(|c| {
        let (sum, stored) = (c.sum?, c.stored?);
        let skip = transport::no_checksum(protocol, p.src, stored);
        let pseudo = checksum::pseudo_with_len(base, c.len);
        (!skip).then(|| checksum::transport(pseudo, sum, stored))
    });
    FragmentOutcome {
        ports: header.ports.or(learnt),
        l4_checksum,
        checks_l4: transport::checksummed(protocol) && completed.is_some(),
    }
}
