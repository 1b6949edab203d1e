//! The server's view of a transfer, as its Results message carries it:
//! what it sent or received, its TCP_INFO, its CPU, and over UDP its
//! datagram counts; in the JSON as `server` and in the text as lines that
//! begin `server:`.

use std::fmt::Write as _;

use serde::Serialize;

use super::cpu::CpuUse;
use crate::proto::Results;
use crate::units::{format_bitrate, format_bytes};
use crate::wire::Transport;

/// ECN fields of the datagrams one side received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EcnView {
    /// Not ECN-capable.
    pub not_ect: u64,
    /// ECT(0).
    pub ect0: u64,
    /// ECT(1).
    pub ect1: u64,
    /// Congestion experienced.
    pub ce: u64,
}

/// What the server says of one transfer (or of several, summed); a figure
/// it did not give is absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServerView {
    /// Payload bytes it sent (download) or received and verified (upload).
    pub bytes: u64,
    /// From its first to its last file byte, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// TCP: segments its socket retransmitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retransmits: Option<u64>,
    /// TCP: its congestion window at the end, segments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwnd: Option<u64>,
    /// TCP: its smoothed round-trip time, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_us: Option<u64>,
    /// TCP: the congestion control its socket used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub congestion: Option<String>,
    /// Its CPU over the transfer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuUse>,
    /// UDP: distinct datagrams it received (upload) or sent (download).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datagrams: Option<u64>,
    /// UDP upload: datagrams the client sent that never arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost: Option<u64>,
    /// UDP upload: extra copies received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicates: Option<u64>,
    /// UDP upload: received after a higher sequence number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reordered: Option<u64>,
    /// UDP upload: how the server took the datagrams from its socket:
    /// `gro` (a buffer may hold several) or `recvmmsg` (one per slot).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receive: Option<&'static str>,
    /// UDP upload: the receive buffers the datagrams came in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buffers: Option<u64>,
    /// UDP upload: datagrams (copies included) per buffer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datagrams_per_buffer: Option<f64>,
    /// UDP with `--ecn`: the ECN fields of what it received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecn: Option<EcnView>,
    /// TCP: whether the connection negotiated ECN, as the server's
    /// `TCP_INFO` says (`tcpi_options & TCPI_OPT_ECN`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecn_negotiated: Option<bool>,
}

impl EcnView {
    /// The four counts, when `r` carries them.
    fn of(r: &Results) -> Option<EcnView> {
        let (not_ect, ect0, ect1, ce) = (r.not_ect?, r.ect0?, r.ect1?, r.ce?);
        Some(EcnView {
            not_ect,
            ect0,
            ect1,
            ce,
        })
    }
}

impl From<crate::net::marking::EcnCounts> for EcnView {
    fn from(c: crate::net::marking::EcnCounts) -> EcnView {
        EcnView {
            not_ect: c.not_ect,
            ect0: c.ect0,
            ect1: c.ect1,
            ce: c.ce,
        }
    }
}

impl ServerView {
    /// The view a Results message of a `transport` transfer gives: the
    /// figures that belong to that transport, each where the server gave
    /// it; the CPU over the server's active time.
    pub fn from_results(r: &Results, transport: Transport) -> ServerView {
        let tcp = transport == Transport::Tcp;
        let only = |v: Option<u64>, on: bool| v.filter(|_| on);
        let seconds = r.active_ns.map(|ns| ns as f64 / 1e9);
        let cpu = r
            .cpu_user_ns
            .zip(r.cpu_sys_ns)
            .map(|(u, s)| CpuUse::of(u as f64 / 1e9, s as f64 / 1e9, seconds.unwrap_or(0.0)));
        ServerView {
            bytes: r.bytes.unwrap_or(0),
            seconds,
            retransmits: only(r.retrans, tcp),
            cwnd: only(r.cwnd, tcp),
            rtt_us: only(r.rtt_us, tcp),
            congestion: (!r.congestion.is_empty()).then(|| r.congestion.clone()),
            cpu,
            datagrams: only(r.datagrams, !tcp),
            lost: only(r.lost, !tcp),
            duplicates: only(r.duplicates, !tcp),
            reordered: only(r.reordered, !tcp),
            receive: r
                .buffers
                .filter(|_| !tcp)
                .map(|_| if r.gro() { "gro" } else { "recvmmsg" }),
            buffers: only(r.buffers, !tcp),
            datagrams_per_buffer: only(r.buffers, !tcp).map(|b| {
                let d = r.datagrams.unwrap_or(0) + r.duplicates.unwrap_or(0);
                d as f64 / b.max(1) as f64
            }),
            ecn: EcnView::of(r).filter(|_| !tcp),
            ecn_negotiated: tcp.then(|| r.ecn_negotiated()),
        }
    }

    /// The views of flows that ran side by side over `wall` seconds,
    /// summed: bytes always, CPU when every flow's view has it; the rest
    /// belongs to one socket each, and is left out.
    pub fn sum(views: &[&ServerView], wall: f64) -> ServerView {
        let cpus: Option<Vec<&CpuUse>> = views.iter().map(|v| v.cpu.as_ref()).collect();
        ServerView {
            bytes: views.iter().map(|v| v.bytes).sum(),
            cpu: cpus.map(|c| CpuUse::sum(c, wall)),
            ..ServerView::default()
        }
    }

    /// The lines of the text report.
    pub(super) fn write_text(&self, s: &mut String) {
        let rate = self
            .seconds
            .filter(|t| *t > 0.0)
            .map(|t| {
                format!(
                    " in {t:.6} s, {}",
                    format_bitrate(self.bytes as f64 * 8.0 / t)
                )
            })
            .unwrap_or_default();
        let _ = writeln!(s, "  server: {}{rate}", format_bytes(self.bytes));
        let mut tcp = Vec::new();
        if let Some(r) = self.retransmits {
            tcp.push(format!("{r} retransmitted"));
        }
        if let Some(c) = self.cwnd {
            tcp.push(format!("cwnd {c} segments"));
        }
        if let Some(r) = self.rtt_us {
            tcp.push(format!("rtt {r} µs"));
        }
        if let Some(c) = &self.congestion {
            tcp.push(format!("congestion control {c}"));
        }
        if let Some(e) = self.ecn_negotiated {
            tcp.push(format!(
                "ECN {}",
                if e { "negotiated" } else { "not negotiated" }
            ));
        }
        if !tcp.is_empty() {
            let _ = writeln!(s, "  server: {}", tcp.join(", "));
        }
        if let Some(d) = self.datagrams {
            let n = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
            let _ = writeln!(
                s,
                "  server: {d} datagrams, {} lost, {} duplicated, {} reordered",
                n(self.lost),
                n(self.duplicates),
                n(self.reordered)
            );
        }
        if let (Some(how), Some(b), Some(per)) =
            (self.receive, self.buffers, self.datagrams_per_buffer)
        {
            let _ = writeln!(
                s,
                "  server: received with {how}: {b} buffers, {per:.1} datagrams per buffer"
            );
        }
        if let Some(e) = &self.ecn {
            let _ = writeln!(
                s,
                "  server: ECN received: {} Not-ECT, {} ECT(0), {} ECT(1), {} CE",
                e.not_ect, e.ect0, e.ect1, e.ce
            );
        }
        if let Some(c) = &self.cpu {
            let _ = writeln!(s, "  server: CPU {}", c.text());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_says_whether_ecn_was_negotiated_and_udp_does_not() {
        let mut r = Results {
            bytes: Some(10),
            flags: Results::ECN_NEGOTIATED,
            ..Results::default()
        };
        let v = ServerView::from_results(&r, Transport::Tcp);
        assert_eq!(v.ecn_negotiated, Some(true));
        let mut s = String::new();
        v.write_text(&mut s);
        assert!(s.contains("ECN negotiated"), "{s}");
        r.flags = 0;
        let v = ServerView::from_results(&r, Transport::Tcp);
        assert_eq!(v.ecn_negotiated, Some(false));
        assert_eq!(
            ServerView::from_results(&r, Transport::Udp).ecn_negotiated,
            None
        );
    }

    #[test]
    fn a_view_renders_what_it_has_and_sums_bytes_and_cpu() {
        let a = ServerView {
            bytes: 1_000_000,
            seconds: Some(0.5),
            retransmits: Some(2),
            cwnd: Some(10),
            rtt_us: Some(40),
            congestion: Some("cubic".into()),
            cpu: Some(CpuUse::of(0.1, 0.2, 0.5)),
            ..ServerView::default()
        };
        let mut s = String::new();
        a.write_text(&mut s);
        assert!(
            s.starts_with("  server: 976.56 KiB (1000000 bytes) in 0.500000 s, 16.00 Mbit/s\n"),
            "{s}"
        );
        assert!(
            s.contains(
                "  server: 2 retransmitted, cwnd 10 segments, rtt 40 µs, congestion control cubic\n"
            ),
            "{s}"
        );
        assert!(
            s.contains("  server: CPU 0.100 s user + 0.200 s sys"),
            "{s}"
        );
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["bytes"], 1_000_000);
        assert!(v.get("datagrams").is_none());
        let b = ServerView {
            bytes: 500,
            cpu: Some(CpuUse::of(0.1, 0.0, 0.5)),
            ..ServerView::default()
        };
        let sum = ServerView::sum(&[&a, &b], 1.0);
        assert_eq!(sum.bytes, 1_000_500);
        let c = sum.cpu.unwrap();
        assert!((c.user_seconds - 0.2).abs() < 1e-12 && (c.cores - 0.4).abs() < 1e-12);
        assert!(sum.retransmits.is_none());
        let none = ServerView::sum(&[&a, &ServerView::default()], 1.0);
        assert!(none.cpu.is_none());
    }
}
