//! IPv4 and IPv6 headers as the model counts them, and the IP packet.
//!
//! ```text
//! IPv4: 20 bytes + options (padded to 4, at most 40)      RFC 791
//! IPv6: 40 bytes + extension headers (multiples of 8)     RFC 8200
//!       + 8-byte Fragment header in every fragment        RFC 8200 §4.5
//! ```
//!
//! The largest packet is bounded by the length fields: an IPv4 total length
//! of 65535 bytes, an IPv6 payload length of 65535 bytes (jumbograms, RFC
//! 2675, are not modelled). An MTU above that bound is clamped to it, as
//! Linux does on `lo` (MTU 65536, IPv4 MSS 65495).
//!
//! Extension headers are taken as part of the unfragmentable part, repeated
//! in every fragment; IPv4 options are likewise taken as copied into every
//! fragment. Both are the costlier reading.

use super::{WireError, pad4};

/// IPv4 header without options.
pub const IPV4_HEADER_LEN: u32 = 20;
/// Longest IPv4 options (the header length field counts 15 words).
pub const IPV4_MAX_OPTIONS_LEN: u32 = 40;
/// Smallest IPv4 MTU (RFC 791: every module forwards 68-byte datagrams).
pub const IPV4_MIN_MTU: u32 = 68;
/// Largest IPv4 packet (16-bit total length).
pub const IPV4_MAX_PACKET_LEN: u32 = 65535;
/// IPv6 fixed header.
pub const IPV6_HEADER_LEN: u32 = 40;
/// Smallest IPv6 link MTU (RFC 8200 §5).
pub const IPV6_MIN_MTU: u32 = 1280;
/// Largest IPv6 payload without jumbograms (16-bit payload length).
pub const IPV6_MAX_PAYLOAD_LEN: u32 = 65535;
/// IPv6 Fragment extension header.
pub const IPV6_FRAGMENT_HEADER_LEN: u32 = 8;

/// The IP version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpVersion {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl IpVersion {
    /// 4 or 6, as the JSON writes it.
    pub const fn number(&self) -> u8 {
        match self {
            IpVersion::V4 => 4,
            IpVersion::V6 => 6,
        }
    }
}

/// An IPv4 header as the model counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ipv4Repr {
    /// Option bytes before padding; padded to a multiple of 4.
    pub options_len: u32,
}

impl Ipv4Repr {
    /// Header bytes, options and their padding included.
    pub const fn header_len(&self) -> u32 {
        IPV4_HEADER_LEN + pad4(self.options_len)
    }
}

/// An IPv6 header as the model counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ipv6Repr {
    /// Extension header bytes (hop-by-hop, routing, ...), a multiple of 8.
    pub ext_headers_len: u32,
}

impl Ipv6Repr {
    /// Header bytes, extension headers included (not the Fragment header).
    pub const fn header_len(&self) -> u32 {
        IPV6_HEADER_LEN + self.ext_headers_len
    }
}

/// An IP header of either version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpRepr {
    /// IPv4.
    V4(Ipv4Repr),
    /// IPv6.
    V6(Ipv6Repr),
}

impl IpRepr {
    /// A plain header of `version`: no options, no extension headers.
    pub const fn plain(version: IpVersion) -> Self {
        match version {
            IpVersion::V4 => IpRepr::V4(Ipv4Repr { options_len: 0 }),
            IpVersion::V6 => IpRepr::V6(Ipv6Repr { ext_headers_len: 0 }),
        }
    }

    /// The IP version.
    pub const fn version(&self) -> IpVersion {
        match self {
            IpRepr::V4(_) => IpVersion::V4,
            IpRepr::V6(_) => IpVersion::V6,
        }
    }

    /// Header bytes of an unfragmented packet.
    pub const fn header_len(&self) -> u32 {
        match self {
            IpRepr::V4(r) => r.header_len(),
            IpRepr::V6(r) => r.header_len(),
        }
    }

    /// Header bytes of one fragment: IPv6 adds its Fragment header.
    pub const fn fragment_header_len(&self) -> u32 {
        match self {
            IpRepr::V4(r) => r.header_len(),
            IpRepr::V6(r) => r.header_len() + IPV6_FRAGMENT_HEADER_LEN,
        }
    }

    /// Smallest MTU the version allows.
    pub const fn min_mtu(&self) -> u32 {
        match self {
            IpRepr::V4(_) => IPV4_MIN_MTU,
            IpRepr::V6(_) => IPV6_MIN_MTU,
        }
    }

    /// Largest packet the length fields allow.
    pub const fn max_packet_len(&self) -> u32 {
        match self {
            IpRepr::V4(_) => IPV4_MAX_PACKET_LEN,
            IpRepr::V6(_) => IPV6_HEADER_LEN + IPV6_MAX_PAYLOAD_LEN,
        }
    }

    /// Largest transport datagram (header and payload) one packet carries,
    /// fragmented or not: the length field's bound minus the header bytes
    /// it counts.
    pub const fn max_datagram_len(&self) -> u32 {
        match self {
            IpRepr::V4(r) => IPV4_MAX_PACKET_LEN - r.header_len(),
            IpRepr::V6(r) => IPV6_MAX_PAYLOAD_LEN - r.ext_headers_len,
        }
    }

    /// Checks the header and the MTU, and returns the MTU the model uses:
    /// `mtu` clamped to [`IpRepr::max_packet_len`].
    pub fn effective_mtu(&self, mtu: u32) -> Result<u32, WireError> {
        self.check()?;
        if mtu < self.min_mtu() {
            return Err(WireError::MtuBelowMinimum {
                mtu,
                ip: self.version().number(),
                minimum: self.min_mtu(),
            });
        }
        // A fragment must still carry 8 bytes of data after its headers.
        let headers = self.fragment_header_len();
        if mtu < headers + 8 {
            return Err(WireError::MtuTooSmallForHeaders { mtu, headers });
        }
        Ok(mtu.min(self.max_packet_len()))
    }

    /// Checks options and extension headers.
    pub fn check(&self) -> Result<(), WireError> {
        match self {
            IpRepr::V4(r) if r.options_len > IPV4_MAX_OPTIONS_LEN => {
                Err(WireError::Ipv4OptionsTooLong { len: r.options_len })
            }
            IpRepr::V6(r) if r.ext_headers_len % 8 != 0 => {
                Err(WireError::Ipv6ExtensionMisaligned {
                    len: r.ext_headers_len,
                })
            }
            _ => Ok(()),
        }
    }
}

/// One IP packet split by layer: IP headers, transport headers, payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Packet {
    /// IP header bytes: options, extension and Fragment headers included.
    pub l3: u32,
    /// Transport header bytes (UDP or TCP, options included); 0 in a
    /// non-first fragment.
    pub l4: u32,
    /// Application payload bytes.
    pub payload: u32,
}

impl Packet {
    /// Length of the IP packet.
    pub const fn len(&self) -> u32 {
        self.l3 + self.l4 + self.payload
    }

    /// Whether the packet has no bytes at all (never true for a real one).
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lengths() {
        assert_eq!(IpRepr::plain(IpVersion::V4).header_len(), 20);
        assert_eq!(IpRepr::plain(IpVersion::V6).header_len(), 40);
        assert_eq!(IpRepr::plain(IpVersion::V6).fragment_header_len(), 48);
        // RFC 791: options are padded to a 32-bit boundary.
        assert_eq!(Ipv4Repr { options_len: 3 }.header_len(), 24);
        assert_eq!(Ipv4Repr { options_len: 40 }.header_len(), 60);
        assert_eq!(Ipv6Repr { ext_headers_len: 8 }.header_len(), 48);
    }

    // The classic UDP maxima: 65507 bytes over IPv4 (65535 - 20 - 8) and
    // 65527 over IPv6 (65535 - 8), e.g. Wikipedia "User Datagram Protocol",
    // Length field: https://en.wikipedia.org/wiki/User_Datagram_Protocol
    #[test]
    fn largest_datagrams() {
        assert_eq!(IpRepr::plain(IpVersion::V4).max_datagram_len() - 8, 65507);
        assert_eq!(IpRepr::plain(IpVersion::V6).max_datagram_len() - 8, 65527);
    }

    #[test]
    fn mtu_checks_and_clamp() {
        let v4 = IpRepr::plain(IpVersion::V4);
        let v6 = IpRepr::plain(IpVersion::V6);
        assert_eq!(v4.effective_mtu(65536), Ok(65535));
        assert_eq!(v6.effective_mtu(65536), Ok(65536));
        assert_eq!(v4.effective_mtu(68), Ok(68));
        assert!(matches!(
            v4.effective_mtu(67),
            Err(WireError::MtuBelowMinimum { minimum: 68, .. })
        ));
        assert!(matches!(
            v6.effective_mtu(1279),
            Err(WireError::MtuBelowMinimum { minimum: 1280, .. })
        ));
        let opts = IpRepr::V4(Ipv4Repr { options_len: 41 });
        assert_eq!(
            opts.effective_mtu(1500),
            Err(WireError::Ipv4OptionsTooLong { len: 41 })
        );
        let ext = IpRepr::V6(Ipv6Repr {
            ext_headers_len: 12,
        });
        assert_eq!(
            ext.check(),
            Err(WireError::Ipv6ExtensionMisaligned { len: 12 })
        );
    }
}
