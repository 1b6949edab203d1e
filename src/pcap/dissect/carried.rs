//! What a TCP or UDP frame carries, for readers of the lab's own framing
//! in a capture: the ports, TCP's sequence number and SYN flag, the
//! payload bytes the capture kept and the payload's length on the wire
//! (which the snap length may have cut).

use etherparse::LaxNetSlice;

use super::ip::{ipv4_parts, ipv6_parts, offset_in};
use super::link::slice_link;
use super::{TCP, UDP};
use crate::pcap::read::Frame;

/// A TCP segment's or UDP datagram's transport facts and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Carried<'a> {
    /// Source and destination port.
    pub ports: (u16, u16),
    /// TCP's sequence number and SYN flag; `None` for UDP.
    pub tcp: Option<(u32, bool)>,
    /// The payload bytes the capture kept.
    pub payload: &'a [u8],
    /// The payload's length on the wire.
    pub wire_len: u64,
}

/// The transport payload of `frame`: `None` for a frame that is not
/// TCP or UDP over IP, a fragment, or one cut inside its transport header.
pub fn carried<'a>(frame: &Frame<'a>) -> Option<Carried<'a>> {
    let (_, packet) = slice_link(frame.link, frame.data)?;
    let packet = packet?;
    let parts = match packet.net.as_ref()? {
        LaxNetSlice::Ipv4(v4) => ipv4_parts(v4),
        LaxNetSlice::Ipv6(v6) => ipv6_parts(v6),
        _ => return None,
    };
    if parts.fragment.is_some() {
        return None;
    }
    // The same bytes, borrowed from the frame rather than from the slicing.
    let start = offset_in(frame.data, parts.payload.payload);
    let ip_payload = frame.data.get(start..start + parts.payload.payload.len())?;
    let ip_wire = parts
        .ip_len
        .map(|l| l.saturating_sub(parts.header_len as u64));
    let be16 = |b: &[u8], at: usize| u16::from_be_bytes([b[at], b[at + 1]]);
    match parts.payload.ip_number.0 {
        TCP => {
            let h = ip_payload.get(..20)?;
            let doff = usize::from(h[12] >> 4) * 4;
            let payload = ip_payload.get(doff..)?;
            let seq = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
            let syn = h[13] & 0x02 != 0;
            let wire = ip_wire.map_or(payload.len() as u64, |l| l.saturating_sub(doff as u64));
            Some(Carried {
                ports: (be16(h, 0), be16(h, 2)),
                tcp: Some((seq, syn)),
                payload,
                wire_len: wire,
            })
        }
        UDP => {
            let h = ip_payload.get(..8)?;
            let wire = u64::from(be16(h, 4)).saturating_sub(8);
            Some(Carried {
                ports: (be16(h, 0), be16(h, 2)),
                tcp: None,
                payload: &ip_payload[8..],
                wire_len: wire,
            })
        }
        _ => None,
    }
}
