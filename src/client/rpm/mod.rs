//! `client --rpm`: responsiveness under working conditions. An idle phase
//! of probes alone, then each loaded phase with its load flows (timed TCP
//! transfers, `-P N` or added as the ramp of
//! [`crate::responsiveness::phases`] asks) and the same probes running
//! beside them; the pure core decides the phases, the flows, the probes'
//! spacing and the figures, this driver runs the threads and the clock.
//!
//! - `load`: one load flow on its thread, its bytes and its `TCP_INFO`
//!   round-trip time (the self probes).
//! - `probes`: the foreign probes (connect, echo, UDP echo), a thread per
//!   kind; a probe with no answer within its timeout is lost.
//! - `udp`: the UDP probe, a stamped echo whose times split its round
//!   trip up and down ([`crate::responsiveness::split`]).
//! - [`report`]: the figures, as text and JSON.
//!
//! With a timeline ([`TimelineRun`]) the whole run is sampled on one clock:
//! each load flow joins it as it starts (its id, direction and phase) and
//! leaves it when its phase ends, every probe's round trip goes in as it
//! ends, each phase is marked from its start to its end, and the queue,
//! when one is watched, is checked within each loaded phase.

mod load;
mod probes;
pub mod report;
mod udp;

use std::time::{Duration, Instant};

use load::LoadFlow;
use probes::{PROBE_TIMEOUT, ProbeState, Probers, probe_once};
pub use report::RpmReport;
use report::{PhaseFigures, UdpClock, percentiles};

use super::report::TimelineReport;
use super::timeline::TimelineRun;
use super::transfer::Direction;
use super::{ClientConfig, ClientError};
use crate::instruments::sampler::{ProbeSink, Sampling};
use crate::queue_check::QueueCheck;
use crate::responsiveness::split;
use crate::responsiveness::{
    CONFIDENCE_RULE, Command, FlowPolicy, IDLE_INTERVAL, Kind, Load, Phase, PhaseDriver, ProbeSet,
    RPM_RULE, probe_interval,
};
use crate::session::offset::Exchange;

/// The longest idle phase; a shorter `-t` shortens it too.
pub const MAX_IDLE: Duration = Duration::from_secs(2);
/// How often the driver reads the load's `TCP_INFO` and the probes.
const STEP: Duration = Duration::from_millis(50);
/// The bytes a round of foreign probes puts on the wire, both ways, from
/// the header model: a connect (SYN, SYN-ACK, ACK and the close's three
/// segments, about 410 bytes), a TCP echo (request, reply and their ACKs,
/// about 400) and a UDP echo (request and reply, about 250).
const ROUND_WIRE_BYTES: u64 = 1060;
/// A flow added with less of its phase left than this is not started.
const SHORTEST_FLOW: Duration = Duration::from_millis(300);

/// What `--rpm` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmConfig {
    /// The loaded phases, in order (`--phases`).
    pub loads: Vec<Load>,
    /// Each loaded phase's length (`-t`).
    pub each: Duration,
    /// `-P N`, or the ramp.
    pub policy: FlowPolicy,
}

/// A phase while it runs.
struct Running {
    phase: Phase,
    began: Instant,
    /// When it began on the timeline's clock (0 without one).
    began_t: f64,
    flows: Vec<LoadFlow>,
    per_direction: u32,
    set: ProbeSet,
    /// Bytes and time at the last spacing update.
    last: (u64, Instant),
    /// The UDP probes' four times.
    exchanges: Vec<Exchange>,
}

/// What a phase that ended leaves for the summary.
struct PhaseDone {
    set: ProbeSet,
    stable: bool,
    exchanges: Vec<Exchange>,
}

/// What every step of the run works with.
struct Ctx<'a> {
    config: &'a ClientConfig,
    each: Duration,
    probers: Probers,
    timeline: Option<TimelineRun>,
}

/// Runs `--rpm` against the server of `config`, with a timeline of the
/// whole run (idle phase and every loaded one) when `sampling` asks.
pub fn run(
    config: &ClientConfig,
    rpm: &RpmConfig,
    sampling: Option<&Sampling>,
) -> Result<RpmReport, ClientError> {
    let udp = check_server(config)?;
    let mut kinds = vec![Kind::Connect, Kind::Echo];
    if udp.is_ok() {
        kinds.push(Kind::Udp);
    }
    let idle = rpm.each.min(MAX_IDLE);
    let mut driver = PhaseDriver::new(&rpm.loads, idle, rpm.each, rpm.policy);
    let timeline = match sampling {
        Some(s) => Some(TimelineRun::start(Vec::new(), s)?),
        None => None,
    };
    let sink = timeline.as_ref().map(TimelineRun::probes);
    let mut ctx = Ctx {
        config,
        each: rpm.each,
        probers: Probers::start(config, &kinds, IDLE_INTERVAL, sink.as_ref()),
        timeline,
    };
    let start = Instant::now();
    let mut running: Option<Running> = None;
    let mut done: Vec<PhaseFigures> = Vec::new();
    let mut sets: Vec<PhaseDone> = Vec::new();
    let outcome = loop {
        if let Some(r) = running.as_mut() {
            take_readings(r, &ctx, sink.as_ref());
            pace_probes(r, &ctx.probers);
        }
        let bytes = running
            .as_ref()
            .map_or(0, |r| r.flows.iter().map(LoadFlow::bytes).sum());
        let mut failed = None;
        let mut finished = false;
        while let Some(cmd) = driver.poll(start.elapsed(), bytes) {
            match cmd {
                Command::Begin(phase, n) => running = Some(begin(&mut ctx, phase, n)),
                Command::Add(n) => {
                    if let Some(r) = running.as_mut() {
                        add(&mut ctx, r, n);
                    }
                }
                Command::End(_) => {
                    let Some(r) = running.take() else { continue };
                    match end(&mut ctx, r, driver.stable()) {
                        Ok((fig, phase)) => {
                            done.push(fig);
                            sets.push(phase);
                        }
                        Err(e) => failed = Some(e),
                    }
                }
                Command::Done => finished = true,
            }
            if failed.is_some() {
                break;
            }
        }
        if let Some(e) = failed {
            break Err(e);
        }
        if finished {
            break Ok(());
        }
        let wake = start + driver.wake_at();
        std::thread::sleep(wake.saturating_duration_since(Instant::now()).min(STEP));
    };
    ctx.probers.stop();
    let timeline = ctx.timeline.map(TimelineRun::finish_by_phase);
    outcome?;
    Ok(summary(config, done, &sets, udp, timeline))
}

/// Checks that the server answers what `--rpm` needs: a connection and an
/// echo over TCP (else a clear error), and a UDP echo on the same port
/// (else the UDP probes are left out, and the report says why).
fn check_server(config: &ClientConfig) -> Result<Result<(), String>, ClientError> {
    let target = config.target;
    let mut state = ProbeState::default();
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        ClientError::Protocol(format!(
            "--rpm needs a lab TCP server at {target} that answers {what}: {e}"
        ))
    };
    match probe_once(config, Kind::Echo, &mut state) {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Err(fail(
                "an echo",
                &format!("no reply within {PROBE_TIMEOUT:?}"),
            ));
        }
        Err(e @ ClientError::NoServer { .. }) => return Err(e),
        Err(e) => return Err(fail("an echo", &e)),
    }
    Ok(match probe_once(config, Kind::Udp, &mut state) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(format!(
            "not run: no UDP echo answered on {target} within {PROBE_TIMEOUT:?} (start `ardei-lab server --udp` on the same port to add them)"
        )),
        Err(e) => Err(format!(
            "not run: the UDP echo on {target} failed ({e}); a server serves one transport per port, so start `ardei-lab server --udp` on the same port to add them"
        )),
    })
}

fn begin(ctx: &mut Ctx<'_>, phase: Phase, n: u32) -> Running {
    let _ = ctx.probers.drain();
    ctx.probers.set_spacing(IDLE_INTERVAL);
    let now = Instant::now();
    let mut r = Running {
        phase,
        began: now,
        began_t: ctx.timeline.as_ref().map_or(0.0, TimelineRun::now),
        flows: Vec::new(),
        per_direction: 0,
        set: ProbeSet::default(),
        last: (0, now),
        exchanges: Vec::new(),
    };
    add(ctx, &mut r, n);
    r
}

/// Adds `n` flows per direction of `r`'s phase, for what is left of it.
fn add(ctx: &mut Ctx<'_>, r: &mut Running, n: u32) {
    let Phase::Load(load) = r.phase else { return };
    let left = ctx.each.saturating_sub(r.began.elapsed());
    if left < SHORTEST_FLOW || n == 0 {
        return;
    }
    let directions: &[Direction] = match load {
        Load::Down => &[Direction::Download],
        Load::Up => &[Direction::Upload],
        Load::Bidir => &[Direction::Download, Direction::Upload],
    };
    for _ in 0..n {
        for d in directions {
            let mut f = LoadFlow::start(ctx.config, *d, left);
            f.timeline_id = ctx
                .timeline
                .as_mut()
                .map(|t| t.add_flow(d.name(), load.name()));
            r.flows.push(f);
        }
    }
    r.per_direction += n;
}

/// Files the probes' readings of `r`'s phase and reads its flows' RTTs
/// (handing the timeline each flow's socket as it comes, and its RTT as a
/// `self` probe).
fn take_readings(r: &mut Running, ctx: &Ctx<'_>, sink: Option<&ProbeSink>) {
    for reading in ctx.probers.drain() {
        if reading.at < r.began {
            continue;
        }
        match reading.rtt_us {
            Some(us) => r.set.sample(reading.kind, us),
            None => r.set.lose(reading.kind),
        }
        r.exchanges.extend(reading.exchange);
    }
    for f in &mut r.flows {
        let rtt = f.read();
        if let Some(us) = rtt {
            r.set.sample(Kind::SelfRtt, us);
        }
        if let (Some(t), Some(id)) = (&ctx.timeline, f.timeline_id) {
            if let Some(s) = f.new_stream() {
                t.set_flow(id, s);
            }
        }
        if let (Some(sink), Some(us)) = (sink, rtt) {
            sink.probe(
                Kind::SelfRtt.timeline_name(),
                Some(Duration::from_secs_f64(us / 1e6)),
            );
        }
    }
}

/// Spaces the probes by the goodput of the last second or so.
fn pace_probes(r: &mut Running, p: &Probers) {
    let (bytes, at) = r.last;
    let secs = at.elapsed().as_secs_f64();
    if secs < 1.0 {
        return;
    }
    let now: u64 = r.flows.iter().map(LoadFlow::bytes).sum();
    let goodput = now.saturating_sub(bytes) as f64 * 8.0 / secs;
    p.set_spacing(probe_interval(ROUND_WIRE_BYTES, Some(goodput)));
    r.last = (now, Instant::now());
}

/// Ends a phase: waits for its flows, marks it on the timeline; its
/// figures, or the first flow's failure.
fn end(
    ctx: &mut Ctx<'_>,
    mut r: Running,
    stable: bool,
) -> Result<(PhaseFigures, PhaseDone), ClientError> {
    let seconds = r.began.elapsed().as_secs_f64();
    // The phase's goodput counts what its flows moved within it: a flow
    // still drains its socket buffers and the bottleneck's queue after its
    // time, and what arrives then belongs to no phase.
    for f in r.flows.iter_mut() {
        f.read();
    }
    let bytes = r.flows.iter().map(LoadFlow::bytes).sum();
    let direction = match r.phase {
        Phase::Idle => "idle",
        Phase::Load(l) => l.name(),
    };
    if let Some(t) = ctx.timeline.as_mut() {
        t.mark_phase(direction, r.began_t);
    }
    let ids: Vec<usize> = r.flows.iter().filter_map(|f| f.timeline_id).collect();
    let joined: Result<Vec<u64>, ClientError> = r.flows.into_iter().map(LoadFlow::join).collect();
    if let Some(t) = &ctx.timeline {
        ids.into_iter().for_each(|id| t.end_flow(id));
    }
    joined?;
    // With no load there is no goodput to settle: the idle phase's
    // confidence rests on its probes alone.
    let stable = stable || r.phase == Phase::Idle;
    let fig = PhaseFigures::new(direction, seconds, r.per_direction, bytes, stable, &r.set);
    let done = PhaseDone {
        set: r.set,
        stable,
        exchanges: r.exchanges,
    };
    Ok((fig, done))
}

/// The report of the phases run.
fn summary(
    config: &ClientConfig,
    mut done: Vec<PhaseFigures>,
    sets: &[PhaseDone],
    udp: Result<(), String>,
    timeline: Option<(TimelineReport, Vec<Option<QueueCheck>>)>,
) -> RpmReport {
    let timeline = timeline.map(|(report, checks)| {
        // The idle phase loads no queue: its check is left out.
        for (fig, check) in done.iter_mut().zip(checks).skip(1) {
            fig.queue_check = check;
        }
        report
    });
    let exchanges: Vec<Exchange> = sets.iter().flat_map(|p| p.exchanges.clone()).collect();
    let clocks = split::clocks(&exchanges);
    for (fig, phase) in done.iter_mut().zip(sets) {
        fig.set_split(clocks.as_ref(), &phase.exchanges);
    }
    let idle = if done.is_empty() {
        PhaseFigures::new("idle", 0.0, 0, 0, false, &ProbeSet::default())
    } else {
        done.remove(0)
    };
    let idle_rtt_us = sets
        .first()
        .and_then(|p| percentiles(&p.set.foreign_samples()));
    let mut loaded = ProbeSet::default();
    for p in sets.iter().skip(1) {
        loaded.merge(&p.set);
    }
    let stable = sets.iter().skip(1).all(|p| p.stable);
    let r = loaded.responsiveness(stable);
    RpmReport {
        mode: "rpm",
        transport: "tcp",
        ip: if config.target.is_ipv6() { 6 } else { 4 },
        target: config.target.to_string(),
        rpm: r.as_ref().map(|r| r.rpm),
        confidence: r.map(|r| r.confidence.name()),
        rule: RPM_RULE,
        confidence_rule: CONFIDENCE_RULE,
        idle_rtt_us,
        loaded_rtt_us: percentiles(&loaded.foreign_samples()),
        udp_probes: udp.map_or_else(|why| why, |()| "answered".to_string()),
        udp_clock: clocks.map(|c| UdpClock::new(&c)),
        idle,
        phases: done,
        timeline,
    }
}
