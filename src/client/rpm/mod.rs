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
//! - [`report`]: the figures, as text and JSON.

mod load;
mod probes;
pub mod report;

use std::time::{Duration, Instant};

use load::LoadFlow;
use probes::{PROBE_TIMEOUT, Probers, probe_once};
pub use report::RpmReport;
use report::{PhaseFigures, percentiles};

use super::transfer::Direction;
use super::{ClientConfig, ClientError};
use crate::responsiveness::{
    CONFIDENCE_RULE, Command, FlowPolicy, IDLE_INTERVAL, Kind, Load, Phase, PhaseDriver, ProbeSet,
    RPM_RULE, probe_interval,
};

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
    flows: Vec<LoadFlow>,
    per_direction: u32,
    set: ProbeSet,
    /// Bytes and time at the last spacing update.
    last: (u64, Instant),
}

/// Runs `--rpm` against the server of `config`.
pub fn run(config: &ClientConfig, rpm: &RpmConfig) -> Result<RpmReport, ClientError> {
    let udp = check_server(config)?;
    let mut kinds = vec![Kind::Connect, Kind::Echo];
    if udp.is_ok() {
        kinds.push(Kind::Udp);
    }
    let idle = rpm.each.min(MAX_IDLE);
    let mut driver = PhaseDriver::new(&rpm.loads, idle, rpm.each, rpm.policy);
    let probers = Probers::start(config, &kinds, IDLE_INTERVAL);
    let start = Instant::now();
    let mut running: Option<Running> = None;
    let mut done: Vec<PhaseFigures> = Vec::new();
    let mut sets: Vec<(ProbeSet, bool)> = Vec::new();
    let outcome = loop {
        if let Some(r) = running.as_mut() {
            take_readings(r, &probers);
            pace_probes(r, &probers);
        }
        let bytes = running
            .as_ref()
            .map_or(0, |r| r.flows.iter().map(LoadFlow::bytes).sum());
        let mut failed = None;
        let mut finished = false;
        while let Some(cmd) = driver.poll(start.elapsed(), bytes) {
            match cmd {
                Command::Begin(phase, n) => {
                    running = Some(begin(config, phase, n, rpm.each, &probers));
                }
                Command::Add(n) => {
                    if let Some(r) = running.as_mut() {
                        add(config, r, n, rpm.each);
                    }
                }
                Command::End(_) => {
                    let Some(r) = running.take() else { continue };
                    match end(r, driver.stable()) {
                        Ok((fig, set, stable)) => {
                            done.push(fig);
                            sets.push((set, stable));
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
    probers.stop();
    outcome?;
    Ok(summary(config, done, &sets, udp))
}

/// Checks that the server answers what `--rpm` needs: a connection and an
/// echo over TCP (else a clear error), and a UDP echo on the same port
/// (else the UDP probes are left out, and the report says why).
fn check_server(config: &ClientConfig) -> Result<Result<(), String>, ClientError> {
    let target = config.target;
    let mut echo = None;
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        ClientError::Protocol(format!(
            "--rpm needs a lab TCP server at {target} that answers {what}: {e}"
        ))
    };
    match probe_once(config, Kind::Echo, &mut echo) {
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
    let mut udp = None;
    Ok(match probe_once(config, Kind::Udp, &mut udp) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(format!(
            "not run: no UDP echo answered on {target} within {PROBE_TIMEOUT:?} (start `ardei-lab server --udp` on the same port to add them)"
        )),
        Err(e) => Err(format!(
            "not run: the UDP echo on {target} failed ({e}); a server serves one transport per port, so start `ardei-lab server --udp` on the same port to add them"
        )),
    })
}

fn begin(config: &ClientConfig, phase: Phase, n: u32, each: Duration, p: &Probers) -> Running {
    let _ = p.drain();
    p.set_spacing(IDLE_INTERVAL);
    let now = Instant::now();
    let mut r = Running {
        phase,
        began: now,
        flows: Vec::new(),
        per_direction: 0,
        set: ProbeSet::default(),
        last: (0, now),
    };
    add(config, &mut r, n, each);
    r
}

/// Adds `n` flows per direction of `r`'s phase, for what is left of it.
fn add(config: &ClientConfig, r: &mut Running, n: u32, each: Duration) {
    let Phase::Load(load) = r.phase else { return };
    let left = each.saturating_sub(r.began.elapsed());
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
            r.flows.push(LoadFlow::start(config, *d, left));
        }
    }
    r.per_direction += n;
}

/// Files the probes' readings of `r`'s phase and reads its flows' RTTs.
fn take_readings(r: &mut Running, p: &Probers) {
    for reading in p.drain() {
        if reading.at < r.began {
            continue;
        }
        match reading.rtt_us {
            Some(us) => r.set.sample(reading.kind, us),
            None => r.set.lose(reading.kind),
        }
    }
    for f in &mut r.flows {
        if let Some(us) = f.read() {
            r.set.sample(Kind::SelfRtt, us);
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

/// Ends a phase: waits for its flows; its figures, or the first flow's
/// failure.
fn end(mut r: Running, stable: bool) -> Result<(PhaseFigures, ProbeSet, bool), ClientError> {
    let seconds = r.began.elapsed().as_secs_f64();
    // The phase's goodput counts what its flows moved within it: a flow
    // still drains its socket buffers and the bottleneck's queue after its
    // time, and what arrives then belongs to no phase.
    for f in r.flows.iter_mut() {
        f.read();
    }
    let bytes = r.flows.iter().map(LoadFlow::bytes).sum();
    for f in r.flows {
        f.join()?;
    }
    let direction = match r.phase {
        Phase::Idle => "idle",
        Phase::Load(l) => l.name(),
    };
    // With no load there is no goodput to settle: the idle phase's
    // confidence rests on its probes alone.
    let stable = stable || r.phase == Phase::Idle;
    let fig = PhaseFigures::new(direction, seconds, r.per_direction, bytes, stable, &r.set);
    Ok((fig, r.set, stable))
}

/// The report of the phases run.
fn summary(
    config: &ClientConfig,
    mut done: Vec<PhaseFigures>,
    sets: &[(ProbeSet, bool)],
    udp: Result<(), String>,
) -> RpmReport {
    let idle = if done.is_empty() {
        PhaseFigures::new("idle", 0.0, 0, 0, false, &ProbeSet::default())
    } else {
        done.remove(0)
    };
    let idle_rtt_us = sets
        .first()
        .and_then(|(s, _)| percentiles(&s.foreign_samples()));
    let mut loaded = ProbeSet::default();
    for (s, _) in sets.iter().skip(1) {
        loaded.merge(s);
    }
    let stable = sets.iter().skip(1).all(|(_, st)| *st);
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
        idle,
        phases: done,
    }
}
