//! The wire and header model, the bottom layer: what each header costs,
//! what a transfer costs on the link, and the checksums that cover it.
//!
//! It imports nothing else of the crate, so every other module may use it:
//! the accounting prices transfers with it, the pcap reader and the model
//! capture take their header sizes and checksums from it, the content and
//! the protocol sum their bytes with it.
//!
//! The model is built bottom-up, one small `Repr` per header, each with a
//! `header_len()`:
//! - [`link`]: the link kinds ([`Link`]): Ethernet (preamble, SFD, header,
//!   802.1Q tag, FCS, padding of short frames, inter-frame gap), Linux
//!   loopback as a capture shows it, and raw IP.
//! - [`ip`]: IPv4 and IPv6 headers ([`IpRepr`]) with options and extension
//!   headers, the largest packet each can carry, and the [`Packet`] that
//!   sums the bytes of one IP packet per layer.
//! - [`udp`]: one UDP datagram ([`UdpDatagram`]), fragmented by IP when it
//!   does not fit the MTU.
//! - [`tcp`]: a TCP bulk transfer ([`TcpTransfer`]): data segments at an MSS,
//!   options, handshake, teardown and pure ACKs.
//! - [`tally`]: the result ([`Tally`]): frames grouped by kind, bytes per
//!   layer ([`Layers`]), efficiency and the ceilings at a link speed.
//! - [`checksum`]: IPv4, TCP and UDP checksums, "partial" ones included.
//! - [`Transport`]: TCP or UDP.
//!
//! Every size is in bytes. The model counts what a sender puts on the link;
//! it does not model loss, retransmission, GSO/TSO super-segments or
//! SACK blocks.

pub mod checksum;
pub mod ip;
pub mod link;
pub mod tally;
pub mod tcp;
pub mod udp;

pub use ip::{IpRepr, IpVersion, Ipv4Repr, Ipv6Repr, Packet};
pub use link::{CaptureSide, Link};
pub use tally::{FrameGroup, FrameKind, Layers, Tally};
pub use tcp::{TcpOptions, TcpRepr, TcpTransfer};
pub use udp::{UdpDatagram, UdpRepr};

/// The transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Transport {
    /// `"tcp"` or `"udp"`, as the JSON writes it.
    pub const fn name(&self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

/// Why the model refused its inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The MTU is below the smallest one the IP version allows
    /// (68 for IPv4, RFC 791; 1280 for IPv6, RFC 8200 §5).
    #[error("MTU {mtu} is below the IPv{ip} minimum of {minimum} bytes")]
    MtuBelowMinimum {
        /// The MTU given.
        mtu: u32,
        /// The IP version (4 or 6).
        ip: u8,
        /// The smallest MTU that version allows.
        minimum: u32,
    },
    /// The MTU leaves no room for payload once the headers are in.
    #[error("MTU {mtu} leaves no room for payload after {headers} bytes of headers")]
    MtuTooSmallForHeaders {
        /// The MTU given.
        mtu: u32,
        /// The IP and transport header bytes that must fit in it.
        headers: u32,
    },
    /// The UDP payload is larger than one datagram can carry.
    #[error(
        "UDP payload of {payload} bytes exceeds the IPv{ip} maximum of {max} bytes (no jumbograms)"
    )]
    UdpPayloadTooLarge {
        /// The payload given.
        payload: u64,
        /// The IP version (4 or 6).
        ip: u8,
        /// The largest payload one datagram carries.
        max: u64,
    },
    /// The TCP maximum segment size is zero.
    #[error("the TCP MSS must be at least 1 byte")]
    ZeroMss,
    /// The MSS does not leave room for data once the options are in.
    #[error("TCP MSS {mss} leaves no room for data after {options} bytes of options")]
    MssTooSmall {
        /// The MSS given.
        mss: u32,
        /// The option bytes every data segment carries.
        options: u32,
    },
    /// The MSS would make segments larger than the MTU.
    #[error("TCP MSS {mss} does not fit the MTU: at most {max}")]
    MssTooLarge {
        /// The MSS given.
        mss: u32,
        /// The largest MSS the MTU allows.
        max: u32,
    },
    /// A payload too large for the model's 64-bit byte counts.
    #[error("a payload of {payload} bytes is more than the model counts (at most {max})")]
    PayloadTooLarge {
        /// The payload given.
        payload: u64,
        /// The largest payload the model counts.
        max: u64,
    },
    /// A TCP transfer of zero bytes has no data segment to count.
    #[error("a TCP transfer needs at least 1 byte of payload")]
    EmptyTcpTransfer,
    /// IPv4 options longer than the 40 bytes the header length field allows.
    #[error("IPv4 options of {len} bytes exceed the 40-byte maximum")]
    Ipv4OptionsTooLong {
        /// The option bytes given.
        len: u32,
    },
    /// IPv6 extension headers come in multiples of 8 bytes (RFC 8200 §4).
    #[error("IPv6 extension headers of {len} bytes are not a multiple of 8")]
    Ipv6ExtensionMisaligned {
        /// The extension header bytes given.
        len: u32,
    },
    /// TCP options longer than the 40 bytes the data offset field allows.
    #[error("TCP options of {len} bytes exceed the 40-byte maximum")]
    TcpOptionsTooLong {
        /// The option bytes given.
        len: u32,
    },
    /// A link speed of zero has no ceiling to compute.
    #[error("the link speed must be above 0 bit/s")]
    ZeroSpeed,
    /// An 802.1Q tag was asked for on a link that is not Ethernet.
    #[error("an 802.1Q VLAN tag needs an Ethernet link, not {link}")]
    VlanNeedsEthernet {
        /// The link that was given.
        link: &'static str,
    },
}

/// Rounds `n` up to a multiple of 4, as header options are padded.
pub(crate) const fn pad4(n: u32) -> u32 {
    n.div_ceil(4) * 4
}

/// Rounds `n` down to a multiple of 8, as fragment payloads are cut.
pub(crate) const fn floor8(n: u32) -> u32 {
    n / 8 * 8
}
