//! `TCP_INFO` (tcp(7)): what the kernel knows about a TCP connection:
//! segment sizes, segments and bytes in and out, retransmissions, round-trip
//! time, the congestion window and the options the handshake negotiated
//! (timestamps, SACK, window scaling, ECN).
//!
//! The value read is the accounting's own type ([`TcpInfo`], defined in
//! `account::kernel`), or the timeline's ([`FlowReading`], defined in
//! `timeline`: the congestion window, RTT, delivery and pacing rates and
//! what is in flight, read every few milliseconds): this module only fills
//! them in from the socket.

use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;

pub use crate::account::kernel::TcpInfo;
pub use crate::timeline::FlowReading;

const TCPI_OPT_TIMESTAMPS: u8 = 1;
const TCPI_OPT_SACK: u8 = 2;
const TCPI_OPT_WSCALE: u8 = 4;
const TCPI_OPT_ECN: u8 = 8;

/// Reads the raw `tcp_info` of a connected socket.
fn read_raw(stream: &TcpStream) -> io::Result<libc::tcp_info> {
    // SAFETY: tcp_info is plain old data; all-zero is a valid value.
    let mut raw: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `raw` and `len` are live and sized for tcp_info; the kernel
    // writes at most `len` bytes and reports how many.
    let r = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut raw as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(raw)
}

impl FlowReading {
    /// Reads what the timeline keeps of `TCP_INFO` from a connected socket.
    /// An older kernel that fills in less of the structure leaves the
    /// newer fields 0 (`delivery_rate` and `bytes_sent` came in 4.9 and
    /// 4.19).
    pub fn read(stream: &TcpStream) -> io::Result<FlowReading> {
        Ok(FlowReading::from_raw(&read_raw(stream)?))
    }

    fn from_raw(raw: &libc::tcp_info) -> FlowReading {
        let sent_once = raw.tcpi_bytes_sent.saturating_sub(raw.tcpi_bytes_retrans);
        FlowReading {
            cwnd: raw.tcpi_snd_cwnd,
            snd_mss: raw.tcpi_snd_mss,
            rtt_us: raw.tcpi_rtt,
            rttvar_us: raw.tcpi_rttvar,
            min_rtt_us: raw.tcpi_min_rtt,
            rcv_rtt_us: raw.tcpi_rcv_rtt,
            delivery_rate: raw.tcpi_delivery_rate,
            pacing_rate: raw.tcpi_pacing_rate,
            total_retrans: raw.tcpi_total_retrans,
            bytes_in_flight: sent_once.saturating_sub(raw.tcpi_bytes_acked),
            // Linux's tcp_packets_in_flight().
            segments_in_flight: (raw.tcpi_unacked + raw.tcpi_retrans)
                .saturating_sub(raw.tcpi_sacked + raw.tcpi_lost),
            progress_bytes: raw.tcpi_bytes_acked.saturating_add(raw.tcpi_bytes_received),
        }
    }
}

impl TcpInfo {
    /// Reads `TCP_INFO` from a connected socket.
    pub fn read(stream: &TcpStream) -> io::Result<TcpInfo> {
        Ok(TcpInfo::from_raw(&read_raw(stream)?))
    }

    fn from_raw(raw: &libc::tcp_info) -> TcpInfo {
        let o = raw.tcpi_options;
        TcpInfo {
            snd_mss: raw.tcpi_snd_mss,
            rcv_mss: raw.tcpi_rcv_mss,
            pmtu: raw.tcpi_pmtu,
            segs_out: u64::from(raw.tcpi_segs_out),
            segs_in: u64::from(raw.tcpi_segs_in),
            data_segs_out: u64::from(raw.tcpi_data_segs_out),
            data_segs_in: u64::from(raw.tcpi_data_segs_in),
            total_retrans: u64::from(raw.tcpi_total_retrans),
            rtt_us: raw.tcpi_rtt,
            rttvar_us: raw.tcpi_rttvar,
            min_rtt_us: raw.tcpi_min_rtt,
            bytes_acked: raw.tcpi_bytes_acked,
            bytes_received: raw.tcpi_bytes_received,
            notsent_bytes: raw.tcpi_notsent_bytes,
            unacked: raw.tcpi_unacked,
            snd_cwnd: raw.tcpi_snd_cwnd,
            timestamps: o & TCPI_OPT_TIMESTAMPS != 0,
            sack: o & TCPI_OPT_SACK != 0,
            ecn_negotiated: o & TCPI_OPT_ECN != 0,
            wscale: (o & TCPI_OPT_WSCALE != 0).then(|| {
                let w = raw.tcpi_snd_rcv_wscale;
                (w & 0x0F, w >> 4)
            }),
        }
    }
}

/// The round-trip times the kernel keeps of a connection, µs: as a sender
/// (`tcpi_rtt`, smoothed from the ACKs of its data) and as a receiver
/// (`tcpi_rcv_rtt`, estimated from the timestamps its peer's data echoes;
/// 0 until the kernel has one); and the bytes it has moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundTrips {
    /// `tcpi_rtt`, µs.
    pub rtt_us: u32,
    /// `tcpi_rcv_rtt`, µs.
    pub rcv_rtt_us: u32,
    /// `tcpi_bytes_acked + tcpi_bytes_received`: bytes delivered either
    /// way so far (plus one for the handshake).
    pub moved_bytes: u64,
}

impl RoundTrips {
    /// Reads them from a connected socket.
    pub fn read(stream: &TcpStream) -> io::Result<RoundTrips> {
        let raw = read_raw(stream)?;
        Ok(RoundTrips {
            rtt_us: raw.tcpi_rtt,
            rcv_rtt_us: raw.tcpi_rcv_rtt,
            moved_bytes: raw.tcpi_bytes_acked.saturating_add(raw.tcpi_bytes_received),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn counts_a_loopback_exchange() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        let before = TcpInfo::read(&c).unwrap();
        c.write_all(&[7u8; 100_000]).unwrap();
        let mut buf = vec![0u8; 100_000];
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"ok").unwrap();
        let mut ok = [0u8; 2];
        c.read_exact(&mut ok).unwrap();
        let d = TcpInfo::read(&c).unwrap().since(&before);
        assert_eq!(d.bytes_acked, 100_000);
        assert_eq!(d.bytes_received, 2);
        assert!(d.data_segs_out >= 2, "{d:?}");
        assert!(d.timestamps && d.sack && d.wscale.is_some(), "{d:?}");
        // lo allows 65535 - 20 - 20 - 12 = 65483 bytes per segment, but the
        // current MSS may be lower: Linux keeps it at most half the peer's
        // largest window (tcp_bound_to_half_wnd).
        assert!((1..=65483).contains(&d.snd_mss), "{d:?}");
        assert!(d.snd_cwnd > 0 && d.rtt_us > 0, "{d:?}");
        // The client asks for ECN only with net.ipv4.tcp_ecn = 1 (or 3).
        if crate::net::marking::tcp_ecn() == Some(2) {
            assert!(!d.ecn_negotiated, "{d:?}");
        }
    }

    #[test]
    fn the_options_byte_says_which_were_negotiated() {
        // SAFETY: tcp_info is plain old data; all-zero is a valid value.
        let mut raw: libc::tcp_info = unsafe { std::mem::zeroed() };
        raw.tcpi_options = TCPI_OPT_SACK | TCPI_OPT_ECN;
        raw.tcpi_total_retrans = 3;
        raw.tcpi_snd_cwnd = 10;
        raw.tcpi_rtt = 250;
        raw.tcpi_rttvar = 40;
        let i = TcpInfo::from_raw(&raw);
        assert!(i.ecn_negotiated && i.sack && !i.timestamps && i.wscale.is_none());
        assert_eq!(
            (i.total_retrans, i.snd_cwnd, i.rtt_us, i.rttvar_us),
            (3, 10, 250, 40)
        );
    }

    #[test]
    fn a_flow_reading_sees_the_bytes_move_and_the_window() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        // The handshake counts too (the SYN's sequence number is
        // acknowledged), so the payload is the difference.
        let before = FlowReading::read(&c).unwrap();
        c.write_all(&[7u8; 100_000]).unwrap();
        let mut buf = vec![0u8; 100_000];
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"ok").unwrap();
        let mut ok = [0u8; 2];
        c.read_exact(&mut ok).unwrap();
        let r = FlowReading::read(&c).unwrap();
        // Everything sent was acknowledged once the reply came.
        assert_eq!(r.progress_bytes - before.progress_bytes, 100_002, "{r:?}");
        assert_eq!(r.bytes_in_flight, 0, "{r:?}");
        assert!(r.cwnd > 0 && r.snd_mss > 0 && r.rtt_us > 0, "{r:?}");
        assert!(r.delivery_rate > 0, "{r:?}");
    }

    #[test]
    fn in_flight_follows_the_kernels_counting() {
        // SAFETY: tcp_info is plain old data; all-zero is a valid value.
        let mut raw: libc::tcp_info = unsafe { std::mem::zeroed() };
        raw.tcpi_unacked = 20;
        raw.tcpi_sacked = 4;
        raw.tcpi_lost = 3;
        raw.tcpi_retrans = 2;
        raw.tcpi_bytes_sent = 50_000;
        raw.tcpi_bytes_retrans = 2_000;
        raw.tcpi_bytes_acked = 30_000;
        raw.tcpi_bytes_received = 36;
        raw.tcpi_pacing_rate = u64::MAX;
        let r = FlowReading::from_raw(&raw);
        assert_eq!(r.segments_in_flight, 15);
        assert_eq!(r.bytes_in_flight, 18_000);
        assert_eq!(r.progress_bytes, 30_036);
        assert_eq!(r.pacing_rate, u64::MAX);
    }
}
