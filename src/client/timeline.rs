//! `--timeline` around a transfer or an `--rpm` run: the sampler started on
//! the run's own sockets (clones of them) with the bottleneck's rate read
//! once from the watched queue, and at the end the samples, labelled with
//! each flow's direction and checked against the queue ([`queue_check`]).
//! A transfer's flows are all there at the start; an `--rpm` run's come and
//! go with its phases ([`TimelineRun::add_flow`], [`TimelineRun::end_flow`],
//! [`TimelineRun::mark_phase`]), and its queue is checked phase by phase.
//! Latency probes hand their round trips in through [`TimelineRun::probes`].

use std::net::TcpStream;

use super::report::TimelineReport;
use crate::instruments::sampler::{ProbeSink, RunningSampler, Sampling};
use crate::queue_check::{QueueCheck, queue_check};
use crate::timeline::PhaseSpan;

/// A timeline being taken.
#[derive(Debug)]
pub struct TimelineRun {
    sampler: RunningSampler,
    directions: Vec<&'static str>,
    flow_phases: Vec<&'static str>,
    phases: Vec<PhaseSpan>,
    qdisc: Option<String>,
    rate_bps: Option<u64>,
}

impl TimelineRun {
    /// Starts sampling `flows` (each with its direction, `download` or
    /// `upload`) as `sampling` asks.
    pub fn start(
        flows: Vec<(TcpStream, &'static str)>,
        sampling: &Sampling,
    ) -> std::io::Result<TimelineRun> {
        let (streams, directions): (Vec<_>, Vec<_>) = flows.into_iter().unzip();
        // A rate tc does not show (or that cannot be read) leaves the
        // prediction out, and the report says so.
        let rate_bps = sampling
            .queue
            .as_ref()
            .and_then(|q| q.rate_bps().ok().flatten());
        let sampler = RunningSampler::start(streams, sampling.interval, sampling.queue.clone())?;
        Ok(TimelineRun {
            sampler,
            directions,
            flow_phases: Vec::new(),
            phases: Vec::new(),
            qdisc: sampling.queue.as_ref().map(|q| q.to_string()),
            rate_bps,
        })
    }

    /// Where latency probes hand in their round trips.
    pub fn probes(&self) -> ProbeSink {
        self.sampler.probes()
    }

    /// The timeline's clock, seconds: a sample's `t`.
    pub fn now(&self) -> f64 {
        self.sampler.elapsed().as_secs_f64()
    }

    /// A flow moving bytes `direction` in `phase`, its socket to come
    /// ([`TimelineRun::set_flow`]): its id.
    pub fn add_flow(&mut self, direction: &'static str, phase: &'static str) -> usize {
        let id = self.sampler.add_flow();
        // Ids follow the flows given at the start, one per direction.
        self.directions.resize(id, "download");
        self.directions.push(direction);
        self.flow_phases.resize(id, "");
        self.flow_phases.push(phase);
        id
    }

    /// Flow `id`'s socket (a clone), read from the next sample on.
    pub fn set_flow(&self, id: usize, stream: TcpStream) {
        self.sampler.set_flow(id, stream);
    }

    /// Flow `id` ended: its later samples are gaps.
    pub fn end_flow(&self, id: usize) {
        self.sampler.end_flow(id);
    }

    /// Phase `phase` ran from `start_t` to now, on the timeline's clock.
    pub fn mark_phase(&mut self, phase: &'static str, start_t: f64) {
        let end_t = self.now();
        self.phases.push(PhaseSpan {
            phase,
            start_t,
            end_t,
        });
    }

    /// Takes a last sample and stops: the timeline and its queue check.
    pub fn finish(self) -> TimelineReport {
        let rate_bps = self.rate_bps;
        let mut timeline = self.sampler.stop();
        timeline.directions = self.directions;
        timeline.qdisc = self.qdisc;
        timeline.flow_phases = self.flow_phases;
        timeline.phases = self.phases;
        let queue_check = queue_check(&timeline, rate_bps);
        TimelineReport {
            timeline,
            queue_check,
        }
    }

    /// As [`TimelineRun::finish`], with the queue checked within each
    /// phase marked, in their order, rather than over the whole run, whose
    /// phases load the queue differently.
    pub fn finish_by_phase(self) -> (TimelineReport, Vec<Option<QueueCheck>>) {
        let rate_bps = self.rate_bps;
        let mut report = self.finish();
        report.queue_check = None;
        let t = &report.timeline;
        let checks = t
            .phases
            .iter()
            .map(|span| queue_check(&t.within(span), rate_bps))
            .collect();
        (report, checks)
    }
}
