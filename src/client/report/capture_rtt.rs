//! The live capture as a third observer of a stamped echo, beside the
//! application's clock and the socket's kernel stamps: each echo's
//! request-to-reply time as the capture saw it on the client's interface.
//!
//! A capture frame's time is the kernel's software stamp of the moment the
//! frame passed the packet tap (`AF_PACKET`; `tpacket3_hdr`'s `tp_sec`,
//! `tp_nsec`, nanoseconds in the pcapng): going out, as the stack hands
//! the frame to the device; coming in, as the device hands it to the
//! stack. The header's status bits say where the kernel took it (the
//! frame's own software stamp, the interface's clock, or its own clock read
//! as it copied the frame into the ring), and `kind` reports them
//! ([`crate::pcap::capture::StampSources`]). On loopback every packet passes the tap twice and the file keeps
//! the incoming pass, so there the request's time is the server's side of
//! the loop receiving it (near t2, on the one clock) and the reply's the
//! client's (near t4).
//!
//! The frames are found by the lab's framing ([`crate::pcap::echoes`]) and
//! matched to the echoes the client measured by their numbers. An echo the
//! capture lacks a frame of is counted, never guessed, beside the frames
//! the kernel dropped (`PACKET_STATISTICS`).

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::stamps::TimestampsReport;
use crate::histograms::NamedHistogram;
use crate::instruments::LiveReport;
use crate::latency::{Percentiles, Recorder};
use crate::pcap::echoes::{EchoScan, Side, scan_path};
use crate::session::stamps::EchoTimes;

/// The `capture` object beside the kernel stamps' figures.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureObserver {
    /// What took the capture's stamps, as the ring's status bits said.
    pub kind: String,
    /// The interface captured.
    pub iface: String,
    /// Echoes with both frames in the capture.
    pub matched: u64,
    /// Measured echoes whose request frame the capture lacks.
    pub missing_requests: u64,
    /// Measured echoes whose reply frame the capture lacks.
    pub missing_replies: u64,
    /// Frames the kernel dropped for want of ring room.
    pub dropped: u64,
    /// TCP directions whose framing the capture lost partway.
    pub lost_streams: u64,
    /// |capture RTT − (t4 − t1)| per echo that has both, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_gap_us: Option<Percentiles>,
    /// Why there is no capture RTT, or what is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl CaptureObserver {
    /// The observer's line under the table (whose "capture" row says
    /// "not available" when no echo matched, and this line's note why).
    pub(super) fn write_text(&self, s: &mut String) {
        let gap = self.kernel_gap_us.as_ref().map_or(String::new(), |g| {
            format!("; |capture − (t4 − t1)| p50 {:.1} µs", g.p50)
        });
        let _ = writeln!(
            s,
            "  capture: {} on {}: {} echoes matched, {} requests and {} replies not in it, {} frames dropped by the kernel{gap}",
            self.kind,
            self.iface,
            self.matched,
            self.missing_requests,
            self.missing_replies,
            self.dropped
        );
        if let Some(n) = &self.note {
            let _ = writeln!(s, "  {n}");
        }
    }
}

/// Sets the capture's frames beside the echoes: the capture RTT of each
/// echo with both frames, and the observer's counts.
pub fn observe(
    echoes: &[EchoTimes],
    scan: &EchoScan,
    live: &LiveReport,
) -> (Recorder, CaptureObserver) {
    let requests = scan.first_times(Side::Request);
    let replies = scan.first_times(Side::Reply);
    let mut rtt = Recorder::new();
    let mut gap = Recorder::new();
    let mut obs = CaptureObserver::of(live);
    obs.lost_streams = scan.lost_streams;
    for e in echoes {
        let req = requests.get(&e.seq);
        let rep = replies.get(&e.seq);
        obs.missing_requests += u64::from(req.is_none());
        obs.missing_replies += u64::from(rep.is_none());
        let (Some(&a), Some(&b)) = (req, rep) else {
            continue;
        };
        let capture = i128::from(b) - i128::from(a);
        if capture < 0 {
            // Not one clock's order: left out, as a stamp pair would be.
            continue;
        }
        obs.matched += 1;
        rtt.record_ns(capture);
        if let (Some(t1), Some(t4)) = (e.t[0], e.t[3]) {
            gap.record_ns((capture - (i128::from(t4) - i128::from(t1))).abs());
        }
    }
    obs.kernel_gap_us = gap.percentiles();
    obs.note = note(&obs, echoes.len(), scan);
    (rtt, obs)
}

/// What the report says about what the capture lacks.
fn note(o: &CaptureObserver, echoes: usize, scan: &EchoScan) -> Option<String> {
    if o.matched > 0 && o.missing_requests + o.missing_replies == 0 {
        return None;
    }
    let why = if echoes == 0 {
        "no echo was measured".to_string()
    } else if scan.frames.is_empty() {
        format!(
            "the capture holds no stamped echo frame ({} frames read, {} dropped by the kernel)",
            scan.frames_read, o.dropped
        )
    } else {
        format!(
            "of {echoes} echoes the capture lacks {} requests and {} replies ({} frames dropped by the kernel, {} TCP directions whose framing it lost); those echoes are left out",
            o.missing_requests, o.missing_replies, o.dropped, o.lost_streams
        )
    };
    Some(why)
}

impl TimestampsReport {
    /// Adds the live capture `live` as the third observer: its row in the
    /// table, or why it has none. Only a stamped echo's report takes it.
    pub fn add_capture(&mut self, live: &LiveReport) {
        if self.kind == "none" || self.stream.is_some() {
            return;
        }
        let scan = match scan_path(Path::new(&live.path)) {
            Ok(s) => s,
            Err(e) => {
                self.capture = Some(unreadable(live, &e.to_string()));
                return;
            }
        };
        let (rtt, obs) = observe(&self.echoes, &scan, live);
        self.capture_rtt_us = rtt.percentiles();
        self.capture = Some(obs);
        self.histograms
            .push(NamedHistogram::new("capture", "capture-rtt", rtt));
    }
}

/// The observer of a capture that could not be read.
fn unreadable(live: &LiveReport, why: &str) -> CaptureObserver {
    CaptureObserver {
        note: Some(format!("the capture could not be read: {why}")),
        ..CaptureObserver::of(live)
    }
}

impl CaptureObserver {
    /// What `live` says of itself, before any echo is matched.
    fn of(live: &LiveReport) -> CaptureObserver {
        CaptureObserver {
            kind: live.stamps.describe(),
            iface: live.iface.clone(),
            matched: 0,
            missing_requests: 0,
            missing_replies: 0,
            dropped: live.dropped,
            lost_streams: 0,
            kernel_gap_us: None,
            note: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcap::echoes::EchoFrame;

    fn live() -> LiveReport {
        LiveReport {
            iface: "lo".into(),
            path: "x.pcapng".into(),
            frames: 0,
            bytes: 0,
            dropped: 3,
            stamps: Default::default(),
        }
    }

    fn echo(seq: u32, t1: u64, t4: u64) -> EchoTimes {
        EchoTimes {
            seq,
            app_sent: Some(t1 - 2_000),
            t: [Some(t1), Some(t1 + 1_000), Some(t1 + 5_000), Some(t4)],
            app_received: Some(t4 + 10_000),
        }
    }

    fn frame(index: u64, side: Side, seq: u32, t: u64) -> EchoFrame {
        EchoFrame {
            index,
            t_ns: Some(t),
            side,
            seq,
        }
    }

    #[test]
    fn matched_echoes_give_the_capture_rtt_and_the_missing_are_counted() {
        let echoes = [echo(0, 100_000, 130_000), echo(1, 200_000, 232_000)];
        let scan = EchoScan {
            frames: vec![
                frame(0, Side::Request, 0, 101_000),
                frame(1, Side::Reply, 0, 130_000),
                frame(2, Side::Request, 1, 201_000),
            ],
            lost_streams: 0,
            frames_read: 3,
        };
        let (rtt, obs) = observe(&echoes, &scan, &live());
        assert_eq!(rtt.len(), 1);
        assert!((rtt.histogram().max() as i64 - 29_000).abs() < 30);
        assert_eq!(
            (obs.matched, obs.missing_requests, obs.missing_replies),
            (1, 0, 1)
        );
        assert_eq!(obs.dropped, 3);
        let gap = obs.kernel_gap_us.unwrap();
        assert!((gap.p50 - 1.0).abs() < 0.01, "{gap:?}");
        assert!(obs.note.unwrap().contains("lacks 0 requests and 1 replies"));
    }

    #[test]
    fn a_capture_without_echo_frames_says_why() {
        let echoes = [echo(0, 100_000, 130_000)];
        let scan = EchoScan {
            frames: Vec::new(),
            lost_streams: 0,
            frames_read: 12,
        };
        let (rtt, obs) = observe(&echoes, &scan, &live());
        assert!(rtt.is_empty());
        assert_eq!(obs.matched, 0);
        let note = obs.note.clone().unwrap();
        assert!(
            note.contains("holds no stamped echo frame (12 frames read, 3 dropped"),
            "{note}"
        );
        let mut text = String::new();
        obs.write_text(&mut text);
        assert!(text.contains("0 echoes matched"), "{text}");
    }
}
