//! The network layer: an IPv4 or IPv6 packet's header length (options and
//! extension headers included), its length on the wire, its addresses, and
//! whether it is a fragment of a larger datagram.

use std::net::IpAddr;

use etherparse::{Ipv6ExtensionSlice, LaxIpPayloadSlice};

use crate::wire::checksum::{self, Verdict};

#[derive(Debug, Clone, Copy)]
pub(super) struct FragmentFacts {
    /// The datagram's identification (IPv4's 16 bits widened).
    pub ident: u32,
    /// Where this fragment's bytes start in the datagram.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
}

/// The parts of an IP packet the accounting needs.
pub(super) struct IpParts<'a> {
    pub header: &'a [u8],
    pub header_len: usize,
    /// Length of the whole IP packet from its header, `None` when unset.
    pub ip_len: Option<u64>,
    pub payload: LaxIpPayloadSlice<'a>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub fragment: Option<FragmentFacts>,
    pub ipv4_checksum: Option<Verdict>,
}

pub(super) fn ipv4_parts<'a>(v4: &'a etherparse::LaxIpv4Slice<'a>) -> IpParts<'a> {
    let h = v4.header();
    let header = h.slice();
    let auth = v4.extensions().auth.map_or(0, |a| a.slice().len());
    let total = usize::from(h.total_len());
    let fragment = h.is_fragmenting_payload().then(|| FragmentFacts {
        ident: u32::from(h.identification()),
        offset: u32::from(h.fragments_offset().value()) * 8,
        more: h.more_fragments(),
    });
    IpParts {
        header,
        header_len: header.len() + auth,
        ip_len: (total >= header.len()).then_some(total as u64),
        payload: v4.payload().clone(),
        src: IpAddr::V4(h.source_addr()),
        dst: IpAddr::V4(h.destination_addr()),
        fragment,
        ipv4_checksum: Some(checksum::ipv4_header(header)),
    }
}

pub(super) fn ipv6_parts<'a>(v6: &etherparse::LaxIpv6Slice<'a>) -> IpParts<'a> {
    let h = v6.header();
    let exts = v6.extensions();
    let fragment = exts.clone().into_iter().find_map(|e| match e {
        Ipv6ExtensionSlice::Fragment(f) if f.is_fragmenting_payload() => Some(FragmentFacts {
            ident: f.identification(),
            offset: u32::from(f.fragment_offset().value()) * 8,
            more: f.more_fragments(),
        }),
        _ => None,
    });
    let payload_len = h.payload_length();
    IpParts {
        header: h.slice(),
        header_len: h.slice().len() + exts.slice().len(),
        ip_len: (payload_len != 0).then_some(40 + u64::from(payload_len)),
        payload: v6.payload().clone(),
        src: IpAddr::V6(h.source_addr()),
        dst: IpAddr::V6(h.destination_addr()),
        fragment,
        ipv4_checksum: None,
    }
}

/// Where `sub` starts inside `data` (0 if it is not inside).
pub(super) fn offset_in(data: &[u8], sub: &[u8]) -> usize {
    (sub.as_ptr() as usize)
        .checked_sub(data.as_ptr() as usize)
        .filter(|o| *o <= data.len())
        .unwrap_or(0)
}
