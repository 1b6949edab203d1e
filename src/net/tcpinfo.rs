//! `TCP_INFO` (tcp(7)): what the kernel knows about a TCP connection:
//! segment sizes, segments and bytes in and out, retransmissions, round-trip
//! time, the congestion window and the options the handshake negotiated
//! (timestamps, SACK, window scaling, ECN).
//!
//! The value read is the accounting's own type ([`TcpInfo`], defined in
//! `account::kernel`): this module only fills it in from the socket.

use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;

pub use crate::account::kernel::TcpInfo;

const TCPI_OPT_TIMESTAMPS: u8 = 1;
const TCPI_OPT_SACK: u8 = 2;
const TCPI_OPT_WSCALE: u8 = 4;
const TCPI_OPT_ECN: u8 = 8;

impl TcpInfo {
    /// Reads `TCP_INFO` from a connected socket.
    pub fn read(stream: &TcpStream) -> io::Result<TcpInfo> {
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
        Ok(TcpInfo::from_raw(&raw))
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
}
