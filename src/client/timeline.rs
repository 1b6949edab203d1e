//! `--timeline` around a transfer: the sampler started on the transfer's
//! own sockets (clones of them) with the bottleneck's rate read once from
//! the watched queue, and at the end the samples, labelled with each
//! flow's direction and checked against the queue ([`queue_check`]).
//! Latency probes hand their round trips in through [`TimelineRun::probes`].

use std::net::TcpStream;

use super::report::TimelineReport;
use crate::instruments::sampler::{ProbeSink, RunningSampler, Sampling};
use crate::queue_check::queue_check;

/// A timeline being taken.
#[derive(Debug)]
pub struct TimelineRun {
    sampler: RunningSampler,
    directions: Vec<&'static str>,
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
            qdisc: sampling.queue.as_ref().map(|q| q.to_string()),
            rate_bps,
        })
    }

    /// Where latency probes hand in their round trips.
    pub fn probes(&self) -> ProbeSink {
        self.sampler.probes()
    }

    /// Takes a last sample and stops: the timeline and its queue check.
    pub fn finish(self) -> TimelineReport {
        let mut timeline = self.sampler.stop();
        timeline.directions = self.directions;
        timeline.qdisc = self.qdisc;
        let queue_check = queue_check(&timeline, self.rate_bps);
        TimelineReport {
            timeline,
            queue_check,
        }
    }
}
