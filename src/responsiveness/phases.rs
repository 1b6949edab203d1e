//! The run's phases as a state machine: an idle phase with probes alone,
//! then each loaded phase for its time, and within a loaded phase the ramp
//! that adds flows until goodput stops growing. The driver polls it with
//! the time since the run began and the bytes the phase's flows have moved
//! so far; it answers with what to do next.

use std::time::Duration;

/// Most flows per direction the ramp adds up to.
pub const MAX_RAMP_FLOWS: u32 = 16;
/// Seconds of goodput in one moving average (the draft's MAD).
const AVERAGED: usize = 4;
/// The spread, standard deviation over mean, within which the last
/// [`AVERAGED`] moving averages count as stable (the draft's SDT).
const STABLE_SPREAD: f64 = 0.05;
/// How often goodput is taken and the ramp decides.
const SECOND: Duration = Duration::from_secs(1);

/// A loaded phase: which way the load flows go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// Downloads (`down`).
    Down,
    /// Uploads (`up`).
    Up,
    /// Downloads and uploads at once (`bidir`).
    Bidir,
}

impl Load {
    /// Reads `down`, `up` or `bidir`.
    pub fn parse(s: &str) -> Option<Load> {
        match s {
            "down" => Some(Load::Down),
            "up" => Some(Load::Up),
            "bidir" => Some(Load::Bidir),
            _ => None,
        }
    }

    /// Its name in reports: `download`, `upload` or `bidir`.
    pub fn name(self) -> &'static str {
        match self {
            Load::Down => "download",
            Load::Up => "upload",
            Load::Bidir => "bidir",
        }
    }
}

/// A phase of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Probes alone, before any load.
    Idle,
    /// Probes beside load flows.
    Load(Load),
}

/// How many flows a loaded phase runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowPolicy {
    /// `-P N`: N per direction from the start.
    Fixed(u32),
    /// One per direction, and one more each second until goodput is stable.
    Ramp,
}

/// What the driver does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Start a phase, with this many load flows per direction (0 when idle).
    Begin(Phase, u32),
    /// Add this many load flows per direction to the running phase.
    Add(u32),
    /// The running phase is over: stop its flows and take its figures.
    End(Phase),
    /// Every phase has run.
    Done,
}

/// Goodput per second of a loaded phase, and the flows it calls for.
#[derive(Debug, Clone, PartialEq)]
pub struct Ramp {
    policy: FlowPolicy,
    flows: u32,
    seconds: Vec<f64>,
    averages: Vec<f64>,
}

impl Ramp {
    /// A ramp at its start.
    pub fn new(policy: FlowPolicy) -> Ramp {
        let flows = match policy {
            FlowPolicy::Fixed(n) => n,
            FlowPolicy::Ramp => 1,
        };
        Ramp {
            policy,
            flows,
            seconds: Vec::new(),
            averages: Vec::new(),
        }
    }

    /// Flows per direction now.
    pub fn flows(&self) -> u32 {
        self.flows
    }

    /// Takes one second's goodput (bit/s); answers how many flows per
    /// direction to add (0 or 1).
    pub fn second(&mut self, goodput_bps: f64) -> u32 {
        self.seconds.push(goodput_bps);
        if self.seconds.len() >= AVERAGED {
            let last = &self.seconds[self.seconds.len() - AVERAGED..];
            self.averages
                .push(last.iter().sum::<f64>() / AVERAGED as f64);
        }
        let grow = self.policy == FlowPolicy::Ramp && !self.stable();
        if grow && self.flows < MAX_RAMP_FLOWS {
            self.flows += 1;
            1
        } else {
            0
        }
    }

    /// Whether the last [`AVERAGED`] moving averages lie within 5 %.
    pub fn stable(&self) -> bool {
        if self.averages.len() < AVERAGED {
            return false;
        }
        let last = &self.averages[self.averages.len() - AVERAGED..];
        let mean = last.iter().sum::<f64>() / AVERAGED as f64;
        if mean <= 0.0 {
            return false;
        }
        let var = last.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / AVERAGED as f64;
        var.sqrt() / mean <= STABLE_SPREAD
    }
}

/// Where the run is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Phase `index` is next to begin.
    Before,
    /// Phase `index` runs since `began`; the next second is due at `tick`,
    /// and the phase had moved `bytes` at the last one, at `at`.
    Running {
        began: Duration,
        tick: Duration,
        bytes: u64,
        at: Duration,
    },
    /// Every phase has run.
    Done,
}

/// The run: its phases in order and where it is among them.
#[derive(Debug, Clone)]
pub struct PhaseDriver {
    phases: Vec<Phase>,
    idle: Duration,
    each: Duration,
    policy: FlowPolicy,
    index: usize,
    state: State,
    ramp: Ramp,
}

impl PhaseDriver {
    /// An idle phase of `idle`, then each of `loads` for `each`.
    pub fn new(loads: &[Load], idle: Duration, each: Duration, policy: FlowPolicy) -> PhaseDriver {
        let mut phases = vec![Phase::Idle];
        phases.extend(loads.iter().map(|l| Phase::Load(*l)));
        PhaseDriver {
            phases,
            idle,
            each,
            policy,
            index: 0,
            state: State::Before,
            ramp: Ramp::new(policy),
        }
    }

    /// The phase running or next to run; `None` when all have run.
    pub fn phase(&self) -> Option<Phase> {
        self.phases.get(self.index).copied()
    }

    /// Whether the running phase's goodput has reached stability.
    pub fn stable(&self) -> bool {
        self.ramp.stable()
    }

    /// How long the whole run lasts.
    pub fn total(&self) -> Duration {
        self.idle + self.each * (self.phases.len() as u32 - 1)
    }

    /// What to do at `now` (since the run began), given the bytes the
    /// running phase's flows have moved; `None`: nothing until
    /// [`PhaseDriver::wake_at`]. Call again until it answers `None`.
    pub fn poll(&mut self, now: Duration, bytes: u64) -> Option<Command> {
        match self.state {
            State::Done => None,
            State::Before => match self.phase() {
                None => {
                    self.state = State::Done;
                    Some(Command::Done)
                }
                Some(p) => {
                    self.ramp = Ramp::new(self.policy);
                    self.state = State::Running {
                        began: now,
                        tick: now + SECOND,
                        bytes: 0,
                        at: now,
                    };
                    let flows = if p == Phase::Idle {
                        0
                    } else {
                        self.ramp.flows()
                    };
                    Some(Command::Begin(p, flows))
                }
            },
            State::Running {
                began,
                tick,
                bytes: last,
                at,
            } => {
                let p = self.phases[self.index];
                if now >= began + self.length(p) {
                    self.index += 1;
                    self.state = State::Before;
                    return Some(Command::End(p));
                }
                if now < tick {
                    return None;
                }
                self.state = State::Running {
                    began,
                    tick: tick + SECOND,
                    bytes,
                    at: now,
                };
                if p == Phase::Idle {
                    return None;
                }
                let secs = (now - at).as_secs_f64();
                let goodput = bytes.saturating_sub(last) as f64 * 8.0 / secs.max(1e-9);
                match self.ramp.second(goodput) {
                    0 => None,
                    n => Some(Command::Add(n)),
                }
            }
        }
    }

    /// When the next command may be due (since the run began).
    pub fn wake_at(&self) -> Duration {
        match self.state {
            State::Running { began, tick, .. } => {
                let end = began + self.length(self.phases[self.index]);
                tick.min(end)
            }
            _ => Duration::ZERO,
        }
    }

    fn length(&self, p: Phase) -> Duration {
        if p == Phase::Idle {
            self.idle
        } else {
            self.each
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_ramp_adds_a_flow_each_second_until_goodput_settles() {
        let mut r = Ramp::new(FlowPolicy::Ramp);
        assert_eq!(r.flows(), 1);
        // Growing goodput: 10, 20, 30, 40 Mbit/s... one flow more each time.
        for g in [10e6, 20e6, 30e6, 40e6] {
            assert_eq!(r.second(g), 1);
        }
        assert_eq!(r.flows(), 5);
        // Flat at 50 Mbit/s: the moving averages are 25 (4th second), 35,
        // 42.5, 47.5, 50, 50, 50. At the 9th second the last four (42.5,
        // 47.5, 50, 50) spread 6.4 %; at the 10th (47.5, 50, 50, 50) 2.2 %.
        let added: u32 = (0..7).map(|_| r.second(50e6)).sum();
        assert!(r.stable());
        assert_eq!(r.second(50e6), 0);
        assert_eq!(r.flows(), 5 + added);
        assert_eq!(added, 5, "stable at the 10th second, after 5 more flows");
    }

    #[test]
    fn stability_is_a_spread_under_five_percent() {
        // Averages 100, 104, 96, 100: sd = sqrt(8) = 2.83, 2.8 % of 100.
        let mut r = Ramp::new(FlowPolicy::Fixed(2));
        for g in [100.0, 100.0, 100.0, 100.0, 116.0, 68.0, 116.0] {
            assert_eq!(r.second(g), 0, "-P N never adds");
        }
        assert!(r.stable(), "{:?}", r.averages);
        // Averages 100, 120, 80, 100: sd 14 %: not stable.
        let mut r = Ramp::new(FlowPolicy::Fixed(2));
        for g in [100.0, 100.0, 100.0, 100.0, 180.0, -60.0, 180.0] {
            r.second(g);
        }
        assert!(!r.stable());
        assert_eq!(r.flows(), 2);
    }

    #[test]
    fn the_ramp_stops_at_its_cap() {
        let mut r = Ramp::new(FlowPolicy::Ramp);
        for i in 0..40 {
            r.second(f64::from(i) * 1e6);
        }
        assert_eq!(r.flows(), MAX_RAMP_FLOWS);
    }

    #[test]
    fn the_driver_runs_idle_then_each_phase_for_its_time() {
        let mut d = PhaseDriver::new(&[Load::Down, Load::Up], S, 3 * S, FlowPolicy::Ramp);
        assert_eq!(d.total(), 7 * S);
        let z = Duration::ZERO;
        assert_eq!(d.poll(z, 0), Some(Command::Begin(Phase::Idle, 0)));
        assert_eq!(d.poll(z, 0), None);
        assert_eq!(d.wake_at(), S);
        assert_eq!(d.poll(S, 0), Some(Command::End(Phase::Idle)));
        assert_eq!(
            d.poll(S, 0),
            Some(Command::Begin(Phase::Load(Load::Down), 1))
        );
        // One second at 1 MB: 8 Mbit/s, not stable: one more flow.
        assert_eq!(d.poll(2 * S, 1_000_000), Some(Command::Add(1)));
        assert_eq!(d.poll(2 * S, 1_000_000), None);
        assert_eq!(d.poll(3 * S, 3_000_000), Some(Command::Add(1)));
        assert_eq!(
            d.poll(4 * S, 5_000_000),
            Some(Command::End(Phase::Load(Load::Down)))
        );
        assert_eq!(
            d.poll(4 * S, 0),
            Some(Command::Begin(Phase::Load(Load::Up), 1))
        );
        assert_eq!(d.poll(7 * S, 0), Some(Command::End(Phase::Load(Load::Up))));
        assert_eq!(d.poll(7 * S, 0), Some(Command::Done));
        assert_eq!(d.poll(8 * S, 0), None);
    }

    #[test]
    fn phase_names_parse_and_print() {
        assert_eq!(Load::parse("bidir"), Some(Load::Bidir));
        assert_eq!(Load::parse("sideways"), None);
        assert_eq!(Load::Down.name(), "download");
    }
}
