//! The four kernel timestamps of an echo in the report: network RTT,
//! server time, send path and wake-up beside the application's round trip,
//! each as percentiles, with the kind of clock that took them and the
//! stamps that never came; or, when there are none, why.

use std::fmt::Write as _;
use std::net::IpAddr;

use serde::Serialize;

use super::one_way::OneWayReport;
use crate::histograms::NamedHistogram;
use crate::latency::Percentiles;
use crate::session::stamps::EchoStamps;

/// What the interface that holds `local` can stamp, for the report: "not
/// available" without a hardware clock (lo, veth), never faked.
pub fn hardware_note(local: IpAddr) -> Option<String> {
    let name = crate::net::timestamping::interface_of(local).ok()?;
    Some(match crate::net::timestamping::hardware(&name) {
        Ok(h) => match h.phc {
            Some(n) => format!("{name} has PTP clock /dev/ptp{n}, not used: software stamps"),
            None => format!("not available ({name} has no hardware clock)"),
        },
        Err(e) => format!("not available ({name}: {e})"),
    })
}

/// The `timestamps` object of an echo's report.
#[derive(Debug, Clone, Serialize)]
pub struct TimestampsReport {
    /// Which clock took the stamps: "software", "hardware" or "none".
    pub kind: &'static str,
    /// Why there are no stamps (`kind` "none"), or what is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The interface the client's socket sends on, and whether it has a
    /// hardware clock ("not available" on lo and veth).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardware: Option<String>,
    /// (t4 − t1) − (t3 − t2): the round trip without either application.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_rtt_us: Option<Percentiles>,
    /// t3 − t2: the server between its kernel's RX and TX stamps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_us: Option<Percentiles>,
    /// t1 − the client's send call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_path_us: Option<Percentiles>,
    /// The client's read returning − t4.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wakeup_us: Option<Percentiles>,
    /// t1 − the request's entry into the client's queueing discipline
    /// (`--stamp-qdisc`): the part of the send path spent in that queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qdisc_us: Option<Percentiles>,
    /// Echoes whose stamp never came, per stamp.
    pub missing: MissingStamps,
    /// A stamped stream's one-way delay and clock offset (its `missing`
    /// counts the stamped echoes that estimated the offset).
    #[serde(flatten)]
    pub stream: Option<OneWayReport>,
    /// The histograms behind the percentiles (for `--hgrm` and `--plot`).
    #[serde(skip)]
    pub histograms: Vec<NamedHistogram>,
}

/// Echoes missing each of the four stamps.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct MissingStamps {
    /// The client's kernel TX stamp of the request.
    pub t1: u64,
    /// The server's kernel RX stamp of the request.
    pub t2: u64,
    /// The server's kernel TX stamp of the reply.
    pub t3: u64,
    /// The client's kernel RX stamp of the reply.
    pub t4: u64,
}

impl TimestampsReport {
    /// No stamps, for the reason given.
    pub fn none(why: impl Into<String>) -> TimestampsReport {
        TimestampsReport {
            kind: "none",
            note: Some(why.into()),
            hardware: None,
            network_rtt_us: None,
            server_us: None,
            send_path_us: None,
            wakeup_us: None,
            qdisc_us: None,
            missing: MissingStamps::default(),
            stream: None,
            histograms: Vec::new(),
        }
    }

    /// The figures of a stamped echo; `hardware` says what the client's
    /// interface has.
    pub fn of(book: EchoStamps, hardware: Option<String>) -> TimestampsReport {
        let [t1, t2, t3, t4] = book.missing;
        let missing = MissingStamps { t1, t2, t3, t4 };
        let server_kind = book.server_kind().map(|k| k.name());
        if server_kind.is_none_or(|k| k == "none") {
            let why = if book.replies == 0 {
                "the server sent no stamped reply"
            } else {
                "the server does not stamp (an older server, or its kernel refused SO_TIMESTAMPING): application figures only"
            };
            let mut r = TimestampsReport::none(why);
            r.hardware = hardware;
            return r;
        }
        let lost = t1 + t2 + t3 + t4;
        let note = (lost > 0).then(|| {
            format!(
                "stamps that never came: t1 {t1}, t2 {t2}, t3 {t3}, t4 {t4}; their echoes are left out of the figures that need them"
            )
        });
        let qdisc = (!book.qdisc.is_empty()).then_some(book.qdisc);
        let mut histograms = vec![
            NamedHistogram::new("network RTT", "network-rtt", book.network_rtt),
            NamedHistogram::new("server", "server", book.server),
            NamedHistogram::new("send path", "send-path", book.send_path),
            NamedHistogram::new("wake-up", "wakeup", book.wakeup),
        ];
        if let Some(q) = qdisc {
            histograms.push(NamedHistogram::new("qdisc", "qdisc", q));
        }
        let p = |i: usize| histograms.get(i).and_then(NamedHistogram::percentiles);
        TimestampsReport {
            kind: "software",
            note,
            hardware,
            network_rtt_us: p(0),
            server_us: p(1),
            send_path_us: p(2),
            wakeup_us: p(3),
            qdisc_us: p(4),
            missing,
            stream: None,
            histograms,
        }
    }

    /// Says so when the queueing discipline's stamps were asked for
    /// (`--stamp-qdisc`) and none came: its row is then absent.
    pub fn asked_qdisc(mut self, asked: bool) -> TimestampsReport {
        if asked && self.kind != "none" && self.qdisc_us.is_none() {
            let why = "qdisc: not available: the kernel gave no TX_SCHED stamp";
            self.note = Some(match self.note.take() {
                Some(n) => format!("{n}; {why}"),
                None => why.to_string(),
            });
        }
        self
    }

    /// The lines under the round trip.
    pub(super) fn write_text(&self, s: &mut String) {
        if self.kind == "none" {
            let why = self.note.as_deref().unwrap_or("timestamps are off");
            let _ = writeln!(s, "  kernel timestamps: not available: {why}");
            return;
        }
        let _ = writeln!(
            s,
            "  kernel timestamps ({}; hardware: {}):",
            self.kind,
            self.hardware.as_deref().unwrap_or("not available")
        );
        if let Some(w) = &self.stream {
            w.write_text(s);
            if let Some(n) = &self.note {
                let _ = writeln!(s, "  {n}");
            }
            return;
        }
        for h in &self.histograms {
            let _ = writeln!(s, "  {}", h.line(11));
        }
        if let Some(n) = &self.note {
            let _ = writeln!(s, "  {n}");
        }
    }
}
