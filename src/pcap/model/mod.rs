//! The model capture: a pcap or pcapng file written from the lab's own
//! events, so what the lab *meant* to send can be opened in Wireshark and
//! set beside a live capture of what really went on the wire.
//!
//! Frame building is pure: a flow model turns "the client sent these 40
//! bytes at time t" into Ethernet frames with the headers, sequence numbers
//! and checksums a Linux host would have put on them, and hands each frame
//! to a [`FrameSink`]. No clock is read and no socket is touched; every
//! timestamp is passed in, in nanoseconds since the Unix epoch.
//!
//! - [`tcp`]: [`TcpFlow`], one TCP connection: handshake, data segments cut
//!   at the MSS, the receiver's ACKs, teardown.
//! - [`udp`]: [`UdpFlow`], UDP datagrams, fragmented by IP as Linux does
//!   when they exceed the MTU.
//! - [`headers`]: the Ethernet and IP headers both share.
//! - [`retime`]: a finished model capture's echo frames moved to the
//!   kernel's stamps, where a stamped echo has them.
//! - [`writer`]: [`ModelCapture`], the file: pcapng with a comment on every
//!   packet, or classic pcap with nanosecond timestamps.
//!
//! ```no_run
//! use std::path::Path;
//! use ardei_lab::pcap::model::{Direction, ModelCapture, ModelOptions, TcpFlow};
//!
//! let mut cap = ModelCapture::create(Path::new("echo.pcapng"), ModelOptions::default())?;
//! let client = "127.0.0.1:40000".parse().expect("address");
//! let server = "127.0.0.1:5005".parse().expect("address");
//! let mut flow = TcpFlow::new(client, server, 1460, true)?;
//! let t = 1_700_000_000_000_000_000;
//! flow.handshake(&mut cap, t)?;
//! flow.send(&mut cap, Direction::ToServer, b"hello", t + 50_000, "echo 1 request")?;
//! flow.send(&mut cap, Direction::ToClient, b"hello", t + 90_000, "echo 1 reply")?;
//! flow.close(&mut cap, Direction::ToServer, t + 120_000)?;
//! cap.finish()?;
//! # Ok::<(), ardei_lab::pcap::model::ModelError>(())
//! ```
//!
//! Every checksum (IPv4 header, TCP, UDP) is computed over the whole packet,
//! even when the stored frame is cut to the snap length: that is why the
//! `send_len` methods take a function that generates the payload rather
//! than the payload itself. Memory stays bounded by one segment or one
//! datagram, whatever the length of the transfer.
//!
//! What the model leaves out: loss, retransmission, reordering, window
//! updates, SACK blocks, delayed-ACK timers, Nagle's algorithm, and the
//! GSO/TSO super-segments a capture on the sending host often shows.

pub mod headers;
pub mod retime;
pub mod tcp;
pub mod udp;
pub mod writer;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

pub use tcp::TcpFlow;
pub use udp::UdpFlow;
pub use writer::{ModelCapture, ModelOptions, ModelStats};

/// Which way a packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client to the server.
    ToServer,
    /// From the server to the client.
    ToClient,
}

impl Direction {
    /// The other way.
    pub const fn reverse(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }

    /// 0 for the client's side, 1 for the server's: an index into per-side
    /// state.
    pub(crate) const fn sender(self) -> usize {
        match self {
            Direction::ToServer => 0,
            Direction::ToClient => 1,
        }
    }
}

/// One frame as the model built it, borrowed from the flow's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelFrame<'a> {
    /// When it was sent, in nanoseconds since the Unix epoch.
    pub t_ns: u64,
    /// Its whole length on the wire.
    pub original_len: u32,
    /// Its bytes, cut to the sink's snap length.
    pub data: &'a [u8],
    /// What the lab meant by it ("echo 17 request", "handshake SYN").
    pub comment: &'a str,
}

/// The bytes of one modelled send, given by offset so that a long send is
/// never held whole. Any `FnMut(offset, buf)` that writes them is one.
pub trait Payload {
    /// Writes the bytes at `offset..offset + out.len()` of the send.
    fn fill(&mut self, offset: u64, out: &mut [u8]);

    /// The checksum sum of `len` bytes at `offset`, as
    /// [`checksum::fast_sum`](crate::wire::checksum::fast_sum) would give
    /// it (equal once folded), when it is known without generating the
    /// bytes; then a segment's payload is generated only as far as the
    /// snap length keeps it.
    fn sum(&mut self, _offset: u64, _len: u64) -> Option<u64> {
        None
    }
}

impl<F: FnMut(u64, &mut [u8])> Payload for F {
    fn fill(&mut self, offset: u64, out: &mut [u8]) {
        self(offset, out)
    }
}

/// Where a flow model puts the frames it builds.
pub trait FrameSink {
    /// Frames are cut to this many bytes (their original length is kept).
    fn snaplen(&self) -> u32;

    /// Takes one frame.
    fn write_frame(&mut self, frame: &ModelFrame<'_>) -> Result<(), ModelError>;
}

/// A [`ModelFrame`] that owns its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedFrame {
    /// When it was sent, in nanoseconds since the Unix epoch.
    pub t_ns: u64,
    /// Its whole length on the wire.
    pub original_len: u32,
    /// Its bytes, cut to the snap length.
    pub data: Vec<u8>,
    /// What the lab meant by it.
    pub comment: String,
}

/// A sink that keeps every frame in memory: for tests, and for callers
/// that want the frames rather than a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameLog {
    snaplen: u32,
    /// The frames, in the order they were built.
    pub frames: Vec<OwnedFrame>,
}

impl FrameLog {
    /// An empty log that cuts frames to `snaplen` bytes.
    pub fn new(snaplen: u32) -> FrameLog {
        FrameLog {
            snaplen,
            frames: Vec::new(),
        }
    }
}

impl FrameSink for FrameLog {
    fn snaplen(&self) -> u32 {
        self.snaplen
    }

    fn write_frame(&mut self, frame: &ModelFrame<'_>) -> Result<(), ModelError> {
        self.frames.push(OwnedFrame {
            t_ns: frame.t_ns,
            original_len: frame.original_len,
            data: frame.data.to_vec(),
            comment: frame.comment.to_string(),
        });
        Ok(())
    }
}

/// Why a model capture could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The capture file could not be created.
    #[error("cannot create {}: {source}", path.display())]
    Create {
        /// The path given.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// Writing to the capture file failed.
    #[error("cannot write the model capture: {0}")]
    Write(#[source] io::Error),
    /// The pcapng encoder refused a block.
    #[error("cannot encode a pcapng block: {0}")]
    Encode(#[source] pcap_file::PcapError),
    /// Classic pcap stores seconds in 32 bits: up to the year 2106.
    #[error("timestamp {t_ns} ns does not fit a classic pcap record (32-bit seconds)")]
    TimestampOutOfRange {
        /// The timestamp given.
        t_ns: u64,
    },
    /// The snap length cannot hold the headers, or exceeds what readers take.
    #[error("snap length {snaplen} is outside {min}..={max} bytes")]
    SnaplenOutOfRange {
        /// The snap length given.
        snaplen: u32,
        /// The smallest one: every header the model writes fits in it.
        min: u32,
        /// The largest one Wireshark reads.
        max: u32,
    },
    /// The client and the server are not of the same IP version.
    #[error("client {client} and server {server} are not of the same IP version")]
    MixedFamilies {
        /// The client's address.
        client: SocketAddr,
        /// The server's address.
        server: SocketAddr,
    },
    /// The TCP maximum segment size is out of range.
    #[error("TCP MSS {mss} is outside {min}..={max} bytes")]
    MssOutOfRange {
        /// The MSS given.
        mss: u32,
        /// Linux's smallest MSS (`TCP_MIN_MSS`).
        min: u32,
        /// The largest MSS one IP packet carries.
        max: u32,
    },
    /// The MTU is below the IP version's minimum or above its maximum.
    #[error("MTU {mtu} is outside {min}..={max} bytes for IPv{ip}")]
    MtuOutOfRange {
        /// The MTU given.
        mtu: u32,
        /// The smallest MTU the IP version allows (68 or 1280).
        min: u32,
        /// The largest (65535 for IPv4, 65575 for IPv6).
        max: u32,
        /// The IP version (4 or 6).
        ip: u8,
    },
    /// The UDP payload does not fit one datagram.
    #[error("UDP payload of {len} bytes exceeds the IPv{ip} maximum of {max} bytes")]
    DatagramTooLarge {
        /// The payload length given.
        len: u64,
        /// The largest payload one datagram carries.
        max: u64,
        /// The IP version (4 or 6).
        ip: u8,
    },
    /// A TCP event that the connection's state does not allow, such as
    /// data before the handshake or after the sender's FIN.
    #[error("TCP {action} not possible: {why}")]
    TcpState {
        /// What was asked for.
        action: &'static str,
        /// Why the connection cannot do it.
        why: &'static str,
    },
    /// A header field was out of range for the header builder; the flow's
    /// checks should have caught it before.
    #[error("cannot build the {header} header: {reason}")]
    Header {
        /// Which header.
        header: &'static str,
        /// The builder's reason.
        reason: String,
    },
}

/// Checks shared by the flow tests: every frame read back by the summary's
/// dissector.
#[cfg(test)]
pub(crate) mod check {
    use super::OwnedFrame;
    use crate::pcap::dissect::{Dissector, IpFacts};
    use crate::pcap::read::{Frame, LinkType};
    use crate::wire::checksum::Verdict;

    /// Dissects `frames` in order; returns each frame's IP facts.
    pub(crate) fn dissect(frames: &[OwnedFrame]) -> Vec<IpFacts> {
        let mut d = Dissector::new();
        frames
            .iter()
            .map(|f| {
                let frame = Frame {
                    link: LinkType::ETHERNET,
                    interface: 0,
                    timestamp_ns: Some(f.t_ns),
                    original_len: f.original_len,
                    data: &f.data,
                };
                d.dissect(&frame).ip.expect("an IP frame")
            })
            .collect()
    }

    /// Asserts that every checksum the dissector could verify is valid, and
    /// returns how many TCP/UDP checksums it verified.
    pub(crate) fn all_valid(frames: &[OwnedFrame]) -> usize {
        let mut verified = 0;
        for (i, ip) in dissect(frames).iter().enumerate() {
            assert_ne!(ip.ipv4_checksum, Some(Verdict::Bad), "frame {i}");
            if ip.checks_l4 {
                if let Some(v) = ip.l4_checksum {
                    assert_eq!(v, Verdict::Valid, "frame {i}");
                    verified += 1;
                }
            }
        }
        verified
    }
}
