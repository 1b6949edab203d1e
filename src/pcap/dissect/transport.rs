//! The transport layer: a TCP or UDP header's length, ports, TCP facts and
//! stored checksum, and the checksum verdict of a segment that arrived in
//! one piece.

use std::net::IpAddr;

use etherparse::{TcpHeaderSlice, TcpOptionElement, UdpHeaderSlice};

use super::{TCP, TcpFacts, UDP};
use crate::wire::checksum::{self, Verdict};

/// What a TCP or UDP header says; empty for other protocols, for a header
/// cut short, and for a fragment that does not start the datagram.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TransportHeader {
    /// Source and destination port.
    pub ports: Option<(u16, u16)>,
    /// The TCP facts, for TCP.
    pub tcp: Option<TcpFacts>,
    /// The header's length (TCP options included).
    pub len: u64,
    /// The checksum the header carries.
    pub stored: Option<u16>,
}

impl TransportHeader {
    /// Reads the header of `protocol` at the start of `payload`.
    pub fn parse(protocol: u8, payload: &[u8]) -> TransportHeader {
        if protocol == TCP {
            if let Ok(h) = TcpHeaderSlice::from_slice(payload) {
                return TransportHeader {
                    ports: Some((h.source_port(), h.destination_port())),
                    tcp: Some(TcpFacts {
                        seq: h.sequence_number(),
                        syn: h.syn(),
                        fin: h.fin(),
                        rst: h.rst(),
                        ack: h.ack().then(|| h.acknowledgment_number()),
                        window: h.window_size(),
                        window_scale: h.options_iterator().find_map(|o| match o {
                            Ok(TcpOptionElement::WindowScale(shift)) => Some(shift),
                            _ => None,
                        }),
                    }),
                    len: h.slice().len() as u64,
                    stored: Some(h.checksum()),
                };
            }
        } else if protocol == UDP {
            if let Ok(h) = UdpHeaderSlice::from_slice(payload) {
                return TransportHeader {
                    ports: Some((h.source_port(), h.destination_port())),
                    tcp: None,
                    len: 8,
                    stored: Some(h.checksum()),
                };
            }
        }
        TransportHeader::default()
    }
}

/// Whether `protocol` carries a checksum this module verifies.
pub(super) fn checksummed(protocol: u8) -> bool {
    protocol == TCP || protocol == UDP
}

/// Whether a stored checksum of 0 means "none": UDP over IPv4 may carry
/// no checksum at all.
pub(super) fn no_checksum(protocol: u8, src: IpAddr, stored: u16) -> bool {
    protocol == UDP && src.is_ipv4() && stored == 0
}

/// The verdict on an unfragmented segment captured whole: `None` when its
/// header was not read or it carries no checksum.
pub(super) fn segment_checksum(
    (src, dst): (IpAddr, IpAddr),
    protocol: u8,
    payload: &[u8],
    stored: Option<u16>,
) -> Option<Verdict> {
    let stored = stored.filter(|&s| checksummed(protocol) && !no_checksum(protocol, src, s))?;
    let seg_len = if protocol == UDP {
        udp_len(payload)
    } else {
        payload.len()
    };
    let segment = payload.get(..seg_len).unwrap_or(payload);
    let base = checksum::pseudo_base(src, dst, protocol);
    let pseudo = checksum::pseudo_with_len(base, segment.len() as u32);
    Some(checksum::transport(
        pseudo,
        checksum::data_sum(segment),
        stored,
    ))
}

/// Length a UDP header claims for its datagram, bounded by what is there.
fn udp_len(payload: &[u8]) -> usize {
    match payload.get(4..6) {
        Some(l) => usize::from(u16::from_be_bytes([l[0], l[1]])).min(payload.len()),
        None => payload.len(),
    }
}
