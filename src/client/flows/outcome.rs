//! What several flows come to: their reports summed into one (bytes over
//! the time from the common start to the last flow's end, a line per flow,
//! a sum per direction with `--bidir`, the client's CPU over the window),
//! or, when any flow failed, [`FlowsFailed`]: what each flow got, and the
//! worst failure, whose exit status the run takes.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use super::Flows;
use crate::client::ClientError;
use crate::client::probe::Probe;
use crate::client::report::{
    CpuFigures, CpuUse, Detail, DirectionSum, Ending, FlowFigures, Report, ServerView, UdpFigures,
};
use crate::client::ticker::Interval;
use crate::client::transfer::Direction;

/// One flow's run, as its thread ends it.
#[derive(Debug)]
pub(super) struct FlowRun {
    /// Which way it went.
    pub(super) direction: Direction,
    /// When it began its transfer (once every flow had connected).
    pub(super) began: Instant,
    /// When its transfer ended.
    pub(super) ended: Instant,
    /// Its report, or why it failed.
    pub(super) result: Result<Report, ClientError>,
    /// Its totals as last published.
    pub(super) probe: Arc<Probe>,
    /// The client's port of it, once bound.
    pub(super) port: Option<u16>,
}

impl FlowRun {
    /// A flow whose thread could not start (`spawn` says which way it was
    /// to go, and why) or died.
    pub(super) fn lost(
        start: Instant,
        probe: &Arc<Probe>,
        spawn: Option<(Direction, std::io::Error)>,
    ) -> FlowRun {
        let (direction, why) = match spawn {
            Some((d, e)) => (d, format!("its thread could not start: {e}")),
            None => (Direction::Download, "its thread panicked".to_string()),
        };
        FlowRun {
            direction,
            began: start,
            ended: start,
            result: Err(ClientError::Protocol(why)),
            probe: Arc::clone(probe),
            port: None,
        }
    }
}

/// The window the flows ran in, as the runner measured it.
#[derive(Debug)]
pub(super) struct Window {
    /// When the flows were let go.
    pub(super) start: Instant,
    /// The client process's CPU over the window.
    pub(super) cpu: Option<CpuUse>,
    /// The summed intervals (`-i`).
    pub(super) sums: Vec<Interval>,
}

/// Some of several flows failed.
#[derive(Debug)]
pub struct FlowsFailed {
    /// Every flow: what arrived, and why it failed if it did.
    pub flows: Vec<FlowFigures>,
    /// The worst failure: the run's exit status is its.
    pub worst: ClientError,
}

impl fmt::Display for FlowsFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.flows.len();
        let list = |failed: bool| {
            let v: Vec<String> = self
                .flows
                .iter()
                .filter(|x| x.error.is_some() == failed)
                .map(|x| x.flow.to_string())
                .collect();
            v.join(", ")
        };
        let ran = list(false);
        if ran.is_empty() {
            write!(f, "all {n} flows failed: {}", self.worst)?;
        } else {
            let failed = list(true);
            write!(
                f,
                "flows {failed} of {n} failed (flows {ran} ran to the end): {}",
                self.worst
            )?;
        }
        for x in &self.flows {
            write!(f, "\n  {}", x.line())?;
        }
        Ok(())
    }
}

/// How bad a failure is, to pick the one the run's status comes from: a
/// file that arrived wrong or short, then a flow that broke, then a
/// refusal, then a request this build cannot make.
fn severity(e: &ClientError) -> u8 {
    match e.exit_code() {
        4 => 4,
        1 => 3,
        3 => 2,
        _ => 1,
    }
}

/// The outcome of the `flows` of a transfer `asked` to go one way: one
/// report of them all, or the failure.
pub(super) fn sum(
    runs: Vec<FlowRun>,
    w: Window,
    flows: Flows,
    asked: Direction,
) -> Result<Report, ClientError> {
    let mut figures = Vec::with_capacity(runs.len());
    let mut reports = Vec::with_capacity(runs.len());
    let mut worst: Option<ClientError> = None;
    let mut ends = Vec::with_capacity(runs.len());
    for (i, run) in runs.into_iter().enumerate() {
        let flow = i as u32 + 1;
        let direction = run.direction.name();
        ends.push((run.ended - w.start).as_secs_f64());
        match run.result {
            Ok(r) => {
                let mut f = FlowFigures::new(flow, direction, r.bytes, r.seconds);
                f.goodput_bps = r.goodput_bps;
                f.verified = whole(&r);
                f.overhead = r.overhead.clone();
                let offset = run.began.saturating_duration_since(w.start).as_secs_f64();
                f.progress = r.progress.iter().map(|(t, b)| (t + offset, *b)).collect();
                f.port = run.port;
                figures.push(f);
                reports.push((r, run.began));
            }
            Err(e) => {
                let arrived = match &e {
                    ClientError::Short { got, .. } => *got,
                    _ => run.probe.totals().bytes,
                };
                let secs = (run.ended - run.began).as_secs_f64();
                let mut f = FlowFigures::new(flow, direction, arrived, secs);
                f.error = Some(e.to_string());
                f.port = run.port;
                figures.push(f);
                if worst.as_ref().is_none_or(|w| severity(&e) > severity(w)) {
                    worst = Some(e);
                }
            }
        }
    }
    if let Some(worst) = worst {
        return Err(ClientError::Flows(Box::new(FlowsFailed {
            flows: figures,
            worst,
        })));
    }
    let wall = ends.iter().copied().fold(0.0, f64::max);
    let mut r = summed(&reports, w.start, wall)
        .ok_or_else(|| ClientError::Protocol("no flow ran".to_string()))?;
    r.direction = flows.label(asked);
    if flows.bidir {
        r.download = Some(DirectionSum::of(&figures, &ends, "download"));
        r.upload = Some(DirectionSum::of(&figures, &ends, "upload"));
    }
    let servers: Option<Vec<&ServerView>> =
        reports.iter().map(|(r, _)| r.server.as_ref()).collect();
    r.server = servers.map(|v| ServerView::sum(&v, wall));
    r.cpu = Some(CpuFigures {
        client: w.cpu,
        server: r.server.as_ref().and_then(|s| s.cpu),
    });
    r.intervals = w.sums;
    r.flows = figures;
    Ok(r)
}

/// Whether a flow's file arrived whole and verified.
fn whole(r: &Report) -> bool {
    matches!(
        r.detail,
        Detail::File {
            verified: true,
            complete: true,
            ..
        }
    )
}

/// The flows' reports as one: the first one's target and socket, every
/// byte, over `wall` seconds from the common start; UDP's counts added up.
fn summed(reports: &[(Report, Instant)], start: Instant, wall: f64) -> Option<Report> {
    let (first, _) = reports.first()?;
    let all = || reports.iter().map(|(r, _)| r);
    let bytes: u64 = all().map(|r| r.bytes).sum();
    let (mut size, mut first_byte) = (0u64, f64::INFINITY);
    for r in all() {
        if let Detail::File {
            size: s,
            time_to_first_byte_us: t,
            ..
        } = r.detail
        {
            size += s;
            first_byte = first_byte.min(t);
        }
    }
    let complete = all().all(whole);
    let detail = Detail::File {
        size,
        verified: complete,
        complete,
        time_to_first_byte_us: if first_byte.is_finite() {
            first_byte
        } else {
            0.0
        },
        transfer_seconds: wall,
        server_written_seconds: None,
        server_acked_seconds: None,
    };
    let target = first.target.parse().ok()?;
    let mut r = Report::new(
        first.mode,
        target,
        bytes,
        wall,
        detail,
        first.socket.clone(),
    );
    let udps: Option<Vec<&UdpFigures>> = all().map(|r| r.udp.as_ref()).collect();
    r.udp = udps.and_then(|u| udp_sum(&u));
    r.progress = progress(reports, start);
    Some(r)
}

/// UDP's counts of several flows, added up; the runs of missing bytes and
/// the kernel's namespace-wide counters belong to one flow each, and are
/// left out.
fn udp_sum(all: &[&UdpFigures]) -> Option<UdpFigures> {
    let mut s = (*all.first()?).clone();
    let add = |f: fn(&UdpFigures) -> u64| all.iter().map(|u| f(u)).sum::<u64>();
    s.datagrams = add(|u| u.datagrams);
    s.sent = add(|u| u.sent);
    s.lost = add(|u| u.lost);
    s.duplicates = add(|u| u.duplicates);
    s.reordered = add(|u| u.reordered);
    s.loss_percent = if s.sent > 0 {
        s.lost as f64 * 100.0 / s.sent as f64
    } else {
        0.0
    };
    s.missing = Vec::new();
    s.kernel = None;
    if all.iter().any(|u| u.ended_by == Some(Ending::Timeout)) {
        s.ended_by = Some(Ending::Timeout);
    }
    s.io.receive_calls = add(|u| u.io.receive_calls);
    s.io.send_calls = all.iter().map(|u| u.io.send_calls).sum();
    s.io.send_batch_max = all.iter().filter_map(|u| u.io.send_batch_max).max();
    s.io.coalesced = all.iter().map(|u| u.io.coalesced).sum();
    Some(s)
}

/// Every flow's bytes over time, added up: (seconds since the common
/// start, bytes of all flows so far), for `--plot`.
fn progress(reports: &[(Report, Instant)], start: Instant) -> Vec<(f64, u64)> {
    let mut points: Vec<(f64, usize, u64)> = Vec::new();
    for (i, (r, began)) in reports.iter().enumerate() {
        let offset = began.saturating_duration_since(start).as_secs_f64();
        points.extend(r.progress.iter().map(|(t, b)| (t + offset, i, *b)));
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut each = vec![0u64; reports.len()];
    let mut total = 0u64;
    points
        .into_iter()
        .map(|(t, i, b)| {
            total = total + b - each[i].min(b);
            each[i] = each[i].max(b);
            (t, total)
        })
        .collect()
}
