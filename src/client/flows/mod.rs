//! Several flows at once: `-P N` flows of one direction, or with `--bidir`
//! N downloads and N uploads. Each flow is a [`Client`] of its own (its own
//! connection, or UDP session) on a thread of its own, and verifies every
//! byte it gets; they start together, once every flow has connected. The
//! run succeeds only if every flow does: a flow that fails fails the run,
//! with what each flow got ([`FlowsFailed`]), never a sum of what happened
//! to arrive.
//!
//! - `captures`: `--pcap` and `--capture` of every flow: one model file
//!   with each frame's comment naming its flow, one live capture, and the
//!   flows' tables summed.
//! - `gate`: where the flows wait for each other before they start.
//! - `intervals`: `-i` with several flows: a line per flow and their sum
//!   per interval, sampled from each flow's [`Probe`].
//! - `outcome`: the flows' reports summed into one, or the failure that
//!   says what became of each flow.

mod captures;
mod gate;
mod intervals;
mod outcome;

use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use outcome::FlowsFailed;

use super::probe::Probe;
use super::report::{CpuUse, Report};
use super::ticker::TickerConfig;
use super::timeline::TimelineRun;
use super::transfer::{Direction, Transfer};
use super::{Client, ClientConfig, ClientError};
use crate::instruments::sampler::Sampling;
use gate::Gate;
use outcome::{FlowRun, Window};

/// How many flows run, and which ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flows {
    /// Flows per direction (`-P N`, 1 to 128).
    pub parallel: u32,
    /// Downloads and uploads at once (`--bidir`).
    pub bidir: bool,
}

impl Default for Flows {
    fn default() -> Flows {
        Flows {
            parallel: 1,
            bidir: false,
        }
    }
}

impl Flows {
    /// Whether more than one flow runs.
    pub fn several(&self) -> bool {
        self.parallel > 1 || self.bidir
    }

    /// Each flow's direction, in flow order: `parallel` flows of `asked`,
    /// or with `--bidir` `parallel` downloads, then as many uploads.
    pub fn directions(&self, asked: Direction) -> Vec<Direction> {
        let n = self.parallel as usize;
        if self.bidir {
            let mut v = vec![Direction::Download; n];
            v.extend(vec![Direction::Upload; n]);
            v
        } else {
            vec![asked; n]
        }
    }

    /// The run's direction in reports: `bidir`, or the one asked.
    pub fn label(&self, asked: Direction) -> &'static str {
        if self.bidir { "bidir" } else { asked.name() }
    }
}

/// Runs the flows of `t` that `flows` asks for against the configured
/// server, showing intervals as `show` says, with the captures the
/// configuration asks for taken of them all; one report of them all, or
/// the failure of the run.
pub fn run(
    config: &ClientConfig,
    t: &Transfer,
    flows: Flows,
    show: &TickerConfig,
    sampling: Option<&Sampling>,
) -> Result<Report, ClientError> {
    let caps = captures::RunCaptures::start(config)?;
    let live = caps.live();
    let directions = flows.directions(t.direction);
    let n = directions.len();
    let configs: Vec<ClientConfig> = (1..)
        .zip(&directions)
        .map(|(i, d)| caps.config_for(config, i, n, *d))
        .collect();
    let v6 = config.target.is_ipv6();
    let udp = config.udp.is_some();
    let gate = Gate::default();
    // Nanoseconds from the start to the last flow's end; MAX while they run.
    let ended = AtomicU64::new(u64::MAX);
    let probes: Vec<Arc<Probe>> = directions.iter().map(|_| Arc::default()).collect();
    let sockets = Sockets::new(sampling.is_some(), n);
    let (runs, window, udp_window, timeline) = std::thread::scope(|s| {
        let mut spawned = Vec::new();
        for (i, ((d, p), config)) in directions.iter().zip(&probes).zip(&configs).enumerate() {
            let t = Transfer {
                direction: *d,
                ..*t
            };
            let (probe, gate) = (Arc::clone(p), &gate);
            let socket = sockets.slot(i);
            let h = std::thread::Builder::new()
                .name(format!("flow-{}", i + 1))
                .spawn_scoped(s, move || one_flow(config, &t, gate, probe, live, socket));
            spawned.push(h.map_err(|e| (*d, e)));
        }
        let running = spawned.iter().filter(|h| h.is_ok()).count();
        gate.open_when(running);
        let timeline = sampling.and_then(|sm| sockets.start_timeline(&directions, sm));
        let start = Instant::now();
        let cpu_before = crate::pace::process_cpu();
        let udp_before = udp.then(|| crate::net::counters::read(v6)).flatten();
        let sampler = show.every.map(|every| {
            let (probes, ended) = (&probes, &ended);
            s.spawn(move || intervals::sample(show, every, start, probes, ended))
        });
        let runs: Vec<FlowRun> = spawned
            .into_iter()
            .zip(&probes)
            .map(|(h, p)| match h {
                Ok(h) => h.join().unwrap_or_else(|_| FlowRun::lost(start, p, None)),
                Err((d, e)) => FlowRun::lost(start, p, Some((d, e))),
            })
            .collect();
        let last = runs.iter().map(|r| r.ended).max().unwrap_or(start);
        let udp_after = udp.then(|| crate::net::counters::read(v6)).flatten();
        let udp_window = udp_before.zip(udp_after).map(|(b, a)| a.since(&b));
        let wall = (last - start).as_secs_f64();
        let cpu = cpu_before
            .zip(crate::pace::process_cpu())
            .map(|(b, a)| CpuUse::between(b, a, wall));
        ended.store((last - start).as_nanos() as u64, Ordering::Release);
        let sums = sampler.and_then(|h| h.join().ok()).unwrap_or_default();
        let timeline = timeline.map(TimelineRun::finish);
        (runs, Window { start, cpu, sums }, udp_window, timeline)
    });
    let outcome = outcome::sum(runs, window, flows, t.direction);
    let finished = caps.finish();
    let mut r = outcome?;
    r.timeline = timeline;
    r.captures = finished?;
    captures::account(&mut r, udp_window);
    Ok(r)
}

/// One flow: connect, wait at the gate for the others, transfer with the
/// totals published to `probe`, close (with the teardown waited for when
/// the run's `live` capture should hold it).
fn one_flow(
    config: &ClientConfig,
    t: &Transfer,
    gate: &Gate,
    probe: Arc<Probe>,
    live: bool,
    socket: Option<&Mutex<Option<TcpStream>>>,
) -> FlowRun {
    let mut connected = Client::connect(config);
    if let (Some(slot), Ok(c)) = (socket, &connected) {
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = c.tcp_stream();
    }
    let local = connected.as_mut().ok().and_then(|c| match c {
        Client::Tcp(c) => c.instruments().local(),
        Client::Udp(c, _) => c.instruments().local(),
    });
    gate.arrive_and_wait();
    let began = Instant::now();
    let result = connected.and_then(|mut c| {
        c.set_ticker(TickerConfig {
            probe: Some(Arc::clone(&probe)),
            ..TickerConfig::default()
        });
        let r = c.transfer(t, None);
        if let (true, Client::Tcp(tcp)) = (live, &mut c) {
            tcp.close_and_wait();
        }
        let closed = c.finish();
        let r = r?;
        closed.map(|_| r)
    });
    FlowRun {
        direction: t.direction,
        began,
        ended: Instant::now(),
        result,
        probe,
        port: local.map(|a| a.port()),
    }
}

/// With `--timeline`: each flow's socket, put here by its thread once
/// connected, for the sampler that starts when they all have.
struct Sockets(Option<Vec<Mutex<Option<TcpStream>>>>);

impl Sockets {
    fn new(on: bool, n: usize) -> Sockets {
        Sockets(on.then(|| (0..n).map(|_| Mutex::new(None)).collect()))
    }

    fn slot(&self, i: usize) -> Option<&Mutex<Option<TcpStream>>> {
        self.0.as_ref().and_then(|v| v.get(i))
    }

    /// The sampler, on every flow's socket; `None` over UDP, or when a
    /// flow did not connect (the run fails then) or the thread could not
    /// start (the run goes on without its timeline).
    fn start_timeline(&self, directions: &[Direction], s: &Sampling) -> Option<TimelineRun> {
        let flows = self
            .0
            .as_ref()?
            .iter()
            .zip(directions)
            .map(|(m, d)| {
                let stream = m.lock().unwrap_or_else(|p| p.into_inner()).take()?;
                Some((stream, d.name()))
            })
            .collect::<Option<Vec<_>>>()?;
        TimelineRun::start(flows, s).ok()
    }
}
