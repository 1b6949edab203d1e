//! The foreign probes, each kind on a thread of its own: a new TCP
//! connection timed to connect (`connect`), an echo on a connection kept
//! for it (`echo`), a stamped UDP echo to the same port (`udp`, see
//! [`super::udp`]). Each thread sends
//! one probe, waits at most [`PROBE_TIMEOUT`] for it, reports the round
//! trip or the loss, and waits the spacing the driver sets before the next.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::udp::UdpProbe;
use crate::client::{Client, ClientConfig, ClientError, TcpSettings};
use crate::instruments::sampler::ProbeSink;
use crate::net::NetError;
use crate::net::socket::tcp_connect_with;
use crate::responsiveness::Kind;
use crate::session::offset::Exchange;

/// How long a probe may take before it counts as lost.
pub(super) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The bytes an echo probe carries.
const PROBE_TEXT: &[u8] = b"rpm";

/// One probe's outcome.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reading {
    /// When it was sent.
    pub(super) at: Instant,
    /// Which kind.
    pub(super) kind: Kind,
    /// The round trip, µs; `None`: lost.
    pub(super) rtt_us: Option<f64>,
    /// A UDP probe's four times, when the server stamped its reply.
    pub(super) exchange: Option<Exchange>,
}

/// What a prober keeps from one probe to the next: the echo's connection,
/// the UDP probe's socket.
#[derive(Default)]
pub(super) struct ProbeState {
    echo: Option<Client>,
    udp: Option<UdpProbe>,
}

/// The probe threads and what they report.
pub(super) struct Probers {
    stop: Arc<AtomicBool>,
    spacing_us: Arc<AtomicU64>,
    readings: Receiver<Reading>,
    handles: Vec<JoinHandle<()>>,
}

impl Probers {
    /// Starts a thread per kind in `kinds`, spaced `spacing` at first,
    /// each handing its probes to `sink` too as they end, when there is a
    /// timeline.
    pub(super) fn start(
        config: &ClientConfig,
        kinds: &[Kind],
        spacing: Duration,
        sink: Option<&ProbeSink>,
    ) -> Probers {
        let stop = Arc::new(AtomicBool::new(false));
        let spacing_us = Arc::new(AtomicU64::new(spacing.as_micros() as u64));
        let (tx, readings) = mpsc::channel();
        let handles = kinds
            .iter()
            .filter_map(|&kind| {
                let (stop, spacing, tx) = (Arc::clone(&stop), Arc::clone(&spacing_us), tx.clone());
                let (config, sink) = (config.clone(), sink.cloned());
                std::thread::Builder::new()
                    .name(format!("rpm-{}", kind.name()))
                    .spawn(move || probe_loop(&config, kind, &stop, &spacing, &tx, sink.as_ref()))
                    .ok()
            })
            .collect();
        Probers {
            stop,
            spacing_us,
            readings,
            handles,
        }
    }

    /// Sets the spacing between one probe and the next of each kind.
    pub(super) fn set_spacing(&self, d: Duration) {
        self.spacing_us
            .store(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// Every reading reported since the last call.
    pub(super) fn drain(&self) -> Vec<Reading> {
        self.readings.try_iter().collect()
    }

    /// Stops the threads and waits for them.
    pub(super) fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.handles {
            let _ = h.join();
        }
    }
}

/// One probe of `kind` now, on what `state` keeps for it: the round trip
/// in µs (with a UDP probe's times), `Ok(None)` when it was lost.
pub(super) fn probe_once(
    config: &ClientConfig,
    kind: Kind,
    state: &mut ProbeState,
) -> Result<Option<(f64, Option<Exchange>)>, ClientError> {
    match kind {
        Kind::Connect => {
            let t = Instant::now();
            let r = tcp_connect_with::<NetError>(
                config.target,
                &config.opts,
                PROBE_TIMEOUT,
                |_| Ok(()),
            );
            match r {
                Ok(_) => Ok(Some((t.elapsed().as_secs_f64() * 1e6, None))),
                Err(NetError::Connect { source, .. })
                    if source.kind() == std::io::ErrorKind::TimedOut =>
                {
                    Ok(None)
                }
                Err(e) => Err(e.into()),
            }
        }
        Kind::Udp => {
            if state.udp.is_none() {
                state.udp = Some(UdpProbe::open(config)?);
            }
            let Some(u) = state.udp.as_mut() else {
                return Ok(None);
            };
            Ok(u.once()?.map(|a| (a.rtt_us, a.exchange)))
        }
        _ => echo_once(config, &mut state.echo).map(|r| r.map(|us| (us, None))),
    }
}

/// One TCP echo on the connection kept for it (opened when there is none).
fn echo_once(config: &ClientConfig, echo: &mut Option<Client>) -> Result<Option<f64>, ClientError> {
    if echo.is_none() {
        *echo = Some(Client::connect(&probe_config(config))?);
    }
    let Some(c) = echo.as_mut() else {
        return Ok(None);
    };
    match c.echo(PROBE_TEXT, 1, Duration::ZERO) {
        Ok(r) => Ok(r.latency_us.filter(|p| p.count > 0).map(|p| p.mean)),
        // A TCP echo that timed out leaves its connection mid-exchange:
        // the next probe opens another.
        Err(ClientError::Timeout(_)) => {
            *echo = None;
            Ok(None)
        }
        Err(e) => {
            *echo = None;
            Err(e)
        }
    }
}

/// The client configuration of the echo probe: TCP to the same address,
/// no captures, its wait [`PROBE_TIMEOUT`].
fn probe_config(config: &ClientConfig) -> ClientConfig {
    let mut c = config.clone();
    c.recording = Default::default();
    c.tcp = TcpSettings {
        rate_bps: 0,
        recv_timeout: Some(PROBE_TIMEOUT),
    };
    c.udp = None;
    c
}

fn probe_loop(
    config: &ClientConfig,
    kind: Kind,
    stop: &AtomicBool,
    spacing: &AtomicU64,
    tx: &Sender<Reading>,
    sink: Option<&ProbeSink>,
) {
    let mut state = ProbeState::default();
    while !stop.load(Ordering::Relaxed) {
        let at = Instant::now();
        // A probe that fails outright (a refused connection under load)
        // is lost like one that timed out.
        let answer = probe_once(config, kind, &mut state).unwrap_or(None);
        let (rtt_us, exchange) = (answer.map(|a| a.0), answer.and_then(|a| a.1));
        if let Some(sink) = sink {
            let rtt = rtt_us.map(|us| Duration::from_secs_f64(us / 1e6));
            sink.probe(kind.timeline_name(), rtt);
        }
        let reading = Reading {
            at,
            kind,
            rtt_us,
            exchange,
        };
        if tx.send(reading).is_err() {
            return;
        }
        let next = at + Duration::from_micros(spacing.load(Ordering::Relaxed));
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= next {
                break;
            }
            std::thread::sleep((next - now).min(Duration::from_millis(20)));
        }
    }
}
