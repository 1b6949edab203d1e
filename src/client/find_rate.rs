//! `--find-rate`: runs the trials of the search for the fastest rate that
//! loses nothing ([`crate::rate_search`], RFC 2544 §26.1) over one UDP
//! client: each trial a timed file transfer at the pace the search asks
//! (the lab's own `--rate` pacing, the first unpaced), its counts handed
//! back to the search, until it says where the rate lies.
//!
//! Rates are bits of UDP payload per second, lab header included, as
//! `--rate` counts them: a trial's sent and received rates are its
//! datagrams sent and received times the segment size over the trial's
//! time.

use std::time::Duration;

use super::report::{FindRate, Report, TrialFigures};
use super::transfer::{Direction, Transfer};
use super::{Client, ClientError};
use crate::rate_search::{self, Next, Outcome, Search, Trial};
use crate::sched::Timely;

/// How long each trial sends unless `--trial` says.
pub const DEFAULT_TRIAL: Duration = Duration::from_secs(2);

/// Runs the search with trials like `template` (its direction, size cap
/// and time; the pace is the search's), each trial's figures handed to
/// `each` as it ends. The report of the fastest trial that passed, with
/// the search in `find_rate`; every trial lost: [`ClientError::NoRate`].
/// With `realtime`, a downloading search receives at `SCHED_FIFO`
/// ([`receiver_priority`]).
pub fn run(
    c: &mut Client,
    template: &Transfer,
    loss_target: f64,
    realtime: bool,
    each: &mut dyn FnMut(usize, &TrialFigures),
) -> Result<Report, ClientError> {
    let time = template.time.unwrap_or(DEFAULT_TRIAL);
    let (priority, _timely) = receiver_priority(template.direction, realtime);
    let mut search = Search::new(loss_target);
    let mut trials = Vec::new();
    // The fastest passing trial's report (with its offered rate), and the
    // last trial's.
    let (mut best, mut last): (Option<(u64, Report)>, Option<Report>) = (None, None);
    let outcome = loop {
        let rate = match search.next_step() {
            Next::Trial(r) => r,
            Next::Done(o) => break o,
        };
        let t = Transfer {
            time: Some(time),
            rate_bps: rate,
            ..*template
        };
        let report = c.transfer(&t, None)?;
        let trial = trial_of(&report, time);
        search.record(trial);
        let passed = trial.loss_percent() <= search.loss_target();
        let figures = TrialFigures {
            offered_bps: search.trials().last().map_or(rate, |t| t.offered_bps),
            sent_bps: sent_bps(&report, time),
            received_bps: trial.received_bps,
            sent: trial.sent,
            lost: trial.lost,
            loss_percent: trial.loss_percent().min(100.0),
            passed,
            unpaced: rate == 0,
        };
        each(trials.len() + 1, &figures);
        trials.push(figures);
        if passed && best.as_ref().is_none_or(|(r, _)| *r <= figures.offered_bps) {
            best = Some((figures.offered_bps, report));
        } else {
            last = Some(report);
        }
    };
    let (rate_bps, failed_bps) = match outcome {
        Outcome::Found {
            rate_bps,
            failed_bps,
        } => (Some(rate_bps), failed_bps),
        Outcome::AllLost => (None, None),
    };
    let found = FindRate {
        rate_bps,
        failed_bps,
        loss_target: search.loss_target(),
        resolution: rate_search::RESOLUTION,
        trial_seconds: time.as_secs_f64(),
        direction: template.direction.name(),
        receiver_priority: priority,
        trials,
    };
    let best = best.map(|(_, r)| r);
    let Some(mut report) = best.or(last).filter(|_| rate_bps.is_some()) else {
        return Err(ClientError::NoRate(Box::new(found)));
    };
    report.find_rate = Some(found);
    Ok(report)
}

/// How the client's thread runs the trials, and the guard that keeps it so.
///
/// A trial fails on one lost datagram, and a receiver that the scheduler
/// leaves off its CPU for a few milliseconds lets its socket's buffer fill
/// however fast it is: at 20 Gbit/s an 8 MiB buffer lasts 3 ms. So while
/// a download's trials run, the receiving thread asks for `SCHED_FIFO`
/// ([`Timely`]): it sleeps in its receive call whenever the socket is
/// empty, and runs as soon as datagrams wait. Not on one CPU (there the
/// receiver would take the server's CPU from it while the unpaced trial
/// runs), not for an upload (the server receives), and not with
/// `--no-realtime`.
fn receiver_priority(direction: Direction, realtime: bool) -> (String, Option<Timely>) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let why = match (direction, realtime) {
        (Direction::Upload, _) => "the server receives an upload",
        (_, false) => "--no-realtime",
        _ if cpus < 2 => "one CPU: the receiver would starve the server's sender",
        _ => {
            let t = Timely::enter();
            return (t.priority().to_string(), Some(t));
        }
    };
    (format!("normal priority ({why})"), None)
}

/// What a trial's report counted, as the search takes it.
fn trial_of(r: &Report, time: Duration) -> Trial {
    let (sent, lost, received) = r
        .udp
        .as_ref()
        .map_or((0, 0, 0), |u| (u.sent, u.lost, u.datagrams));
    Trial {
        offered_bps: sent_bps(r, time),
        received_bps: bits_per_second(received, r, time),
        sent,
        lost,
    }
}

/// The rate the trial's sender reached.
fn sent_bps(r: &Report, time: Duration) -> u64 {
    bits_per_second(r.udp.as_ref().map_or(0, |u| u.sent), r, time)
}

/// `datagrams` of the report's segment size over `time`, bit/s.
fn bits_per_second(datagrams: u64, r: &Report, time: Duration) -> u64 {
    let segment = r.udp.as_ref().map_or(0, |u| u64::from(u.segment_size));
    let secs = time.as_secs_f64().max(1e-9);
    (datagrams as f64 * segment as f64 * 8.0 / secs) as u64
}
