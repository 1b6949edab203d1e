//! The kernel's own counts over an action, as plain values: the fields of
//! `TCP_INFO` and the UDP and IP counters of `/proc/net/snmp(6)` the lab
//! reports.
//!
//! They are the accounting's types, not the socket layer's: [`beside`]
//! prices them beside the model, and it needs no socket to do so (its tests
//! build them by hand). Reading them from the kernel is the socket layer's
//! job (`net::tcpinfo` and `net::counters` fill these values in), so the
//! arrow points from the sockets down to the accounting, never back.
//!
//! [`beside`]: super::beside

use serde::Serialize;

/// The fields of `struct tcp_info` the lab reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TcpInfo {
    /// MSS the connection sends with (payload per segment, options excluded).
    pub snd_mss: u32,
    /// MSS estimated for the peer's segments.
    pub rcv_mss: u32,
    /// Path MTU the kernel uses.
    pub pmtu: u32,
    /// Segments sent, counted in MSS-sized units (a GSO super-segment counts
    /// as the segments it stands for), retransmissions included.
    pub segs_out: u64,
    /// Segments received, in the same units.
    pub segs_in: u64,
    /// Segments sent that carried data.
    pub data_segs_out: u64,
    /// Segments received that carried data.
    pub data_segs_in: u64,
    /// Segments retransmitted over the connection's life.
    pub total_retrans: u64,
    /// Smoothed round-trip time, µs.
    pub rtt_us: u32,
    /// Round-trip time variation, µs.
    pub rttvar_us: u32,
    /// Smallest round-trip time seen, µs.
    pub min_rtt_us: u32,
    /// Bytes the peer acknowledged.
    pub bytes_acked: u64,
    /// Bytes received in order.
    pub bytes_received: u64,
    /// Bytes written but not yet sent.
    pub notsent_bytes: u32,
    /// Segments sent but not yet acknowledged.
    pub unacked: u32,
    /// Congestion window, segments.
    pub snd_cwnd: u32,
    /// Timestamps option negotiated.
    pub timestamps: bool,
    /// SACK negotiated.
    pub sack: bool,
    /// ECN negotiated (`TCPI_OPT_ECN`): both ends asked for it in the
    /// handshake, so the connection's data segments leave ECT(0).
    pub ecn_negotiated: bool,
    /// Window scaling negotiated: (send, receive) shifts.
    pub wscale: Option<(u8, u8)>,
}

impl TcpInfo {
    /// The counters of `self` less those of `earlier` (the gauges — MSS,
    /// RTT, options — are `self`'s).
    pub fn since(&self, earlier: &TcpInfo) -> TcpInfo {
        TcpInfo {
            segs_out: self.segs_out.saturating_sub(earlier.segs_out),
            segs_in: self.segs_in.saturating_sub(earlier.segs_in),
            data_segs_out: self.data_segs_out.saturating_sub(earlier.data_segs_out),
            data_segs_in: self.data_segs_in.saturating_sub(earlier.data_segs_in),
            total_retrans: self.total_retrans.saturating_sub(earlier.total_retrans),
            bytes_acked: self.bytes_acked.saturating_sub(earlier.bytes_acked),
            bytes_received: self.bytes_received.saturating_sub(earlier.bytes_received),
            ..*self
        }
    }
}

/// The UDP and IP counters of one moment, or their change over an action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UdpCounters {
    /// Datagrams delivered to sockets.
    pub in_datagrams: u64,
    /// Datagrams to a port nobody listens on.
    pub no_ports: u64,
    /// Datagrams that could not be delivered (errors, full buffers).
    pub in_errors: u64,
    /// Datagrams sent.
    pub out_datagrams: u64,
    /// Datagrams dropped because a receive buffer was full.
    pub rcvbuf_errors: u64,
    /// Datagrams dropped because a send buffer was full.
    pub sndbuf_errors: u64,
    /// IP fragments created (IPv4 `FragCreates`, IPv6 `Ip6FragCreates`).
    pub frag_creates: u64,
    /// Datagrams reassembled from fragments.
    pub reasm_oks: u64,
    /// Fragments received for reassembly.
    pub reasm_reqds: u64,
}

impl UdpCounters {
    /// `self − earlier`, counter by counter.
    pub fn since(&self, earlier: &UdpCounters) -> UdpCounters {
        UdpCounters {
            in_datagrams: self.in_datagrams.saturating_sub(earlier.in_datagrams),
            no_ports: self.no_ports.saturating_sub(earlier.no_ports),
            in_errors: self.in_errors.saturating_sub(earlier.in_errors),
            out_datagrams: self.out_datagrams.saturating_sub(earlier.out_datagrams),
            rcvbuf_errors: self.rcvbuf_errors.saturating_sub(earlier.rcvbuf_errors),
            sndbuf_errors: self.sndbuf_errors.saturating_sub(earlier.sndbuf_errors),
            frag_creates: self.frag_creates.saturating_sub(earlier.frag_creates),
            reasm_oks: self.reasm_oks.saturating_sub(earlier.reasm_oks),
            reasm_reqds: self.reasm_reqds.saturating_sub(earlier.reasm_reqds),
        }
    }
}
