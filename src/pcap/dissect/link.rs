//! The link layer: how long a frame's link header is, and where its network
//! layer starts, for each link type the reader hands over (Ethernet II with
//! VLAN tags, Linux cooked capture v1 and v2, raw IP, BSD loopback).

use etherparse::{EtherType, LaxSlicedPacket};

use crate::pcap::read::LinkType;

/// Splits off the link header. Returns its length and the packet from the
/// network layer down (`None` inside when the link header is cut short), or
/// `None` for a link type not handled here.
pub(super) fn slice_link(
    link: LinkType,
    data: &[u8],
) -> Option<(usize, Option<LaxSlicedPacket<'_>>)> {
    let by_type = |len: usize, ether_type: Option<u16>| {
        let packet = match (data.get(len..), ether_type) {
            (Some(rest), Some(t)) => Some(LaxSlicedPacket::from_ether_type(EtherType(t), rest)),
            _ => None,
        };
        Some((len, packet))
    };
    let be16 = |at: usize| {
        data.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    match link {
        LinkType::ETHERNET => Some((14, LaxSlicedPacket::from_ethernet(data).ok())),
        LinkType::LINUX_SLL => by_type(16, be16(14)),
        LinkType::LINUX_SLL2 => by_type(20, be16(0)),
        LinkType::RAW | LinkType::RAW_BSD => by_type(0, version_type(data)),
        LinkType::IPV4 => by_type(0, Some(EtherType::IPV4.0)),
        LinkType::IPV6 => by_type(0, Some(EtherType::IPV6.0)),
        LinkType::NULL | LinkType::LOOP => {
            let family = data.get(..4).and_then(|b| {
                let [a, b, c, d] = [b[0], b[1], b[2], b[3]];
                // NULL is in the capturing host's byte order: try both.
                [
                    u32::from_be_bytes([a, b, c, d]),
                    u32::from_le_bytes([a, b, c, d]),
                ]
                .into_iter()
                .find_map(family_type)
            });
            by_type(4, family)
        }
        _ => None,
    }
}

/// The ether type of a raw IP packet, from its version nibble.
fn version_type(data: &[u8]) -> Option<u16> {
    match data.first().map(|b| b >> 4) {
        Some(4) => Some(EtherType::IPV4.0),
        Some(6) => Some(EtherType::IPV6.0),
        _ => None,
    }
}

/// The ether type for a BSD address family (AF_INET6 differs by system).
fn family_type(family: u32) -> Option<u16> {
    match family {
        2 => Some(EtherType::IPV4.0),
        10 | 24 | 28 | 30 => Some(EtherType::IPV6.0),
        _ => None,
    }
}
