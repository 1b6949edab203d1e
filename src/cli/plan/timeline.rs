//! The timeline's flags (`--timeline`, `--sample DUR`, `--qdisc
//! NETNS:IFACE`, `--plot-timeline OUT.svg`): any of them turns it on, for a
//! TCP file transfer or `--rpm` only, and a queue to watch is checked before the run
//! (root, the namespace, the interface), so a wrong one is a usage error
//! that names what is missing.

use std::path::PathBuf;
use std::time::Duration;

use super::{PlanError, transfer};
use crate::cli::args::ClientArgs;
use crate::instruments::sampler::Sampling;
use crate::net::qdisc::QdiscTarget;

/// The interval between samples when `--sample` does not give one.
pub const DEFAULT_SAMPLE: Duration = Duration::from_millis(10);
/// The shortest interval `--sample` takes.
pub const MIN_SAMPLE: Duration = Duration::from_millis(1);

/// What the timeline samples, and where its chart goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelinePlan {
    /// The interval, and the queue to read in each sample, checked
    /// readable.
    pub sampling: Sampling,
    /// `--plot-timeline`: where the SVG goes.
    pub plot: Option<PathBuf>,
}

/// The timeline the flags ask for, if any; the flag that cannot go with
/// the action, or the queue that cannot be read, as the error.
pub(super) fn timeline(a: &ClientArgs) -> Result<Option<TimelinePlan>, PlanError> {
    let t = &a.timeline;
    let flag = if t.timeline {
        "--timeline"
    } else if t.sample.is_some() {
        "--sample"
    } else if t.qdisc.is_some() {
        "--qdisc"
    } else if t.plot_timeline.is_some() {
        "--plot-timeline"
    } else {
        return Ok(None);
    };
    // `--rpm` refuses --udp and --find-rate itself, and loads with TCP
    // transfers of its own.
    let file = transfer::is_transfer(a) && a.echo.is_none() && a.stream.is_none();
    if !a.rpm && (a.socket.udp || !file || a.find_rate) {
        return Err(PlanError::TimelineWithoutTcpFile { flag });
    }
    let interval = t.sample.unwrap_or(DEFAULT_SAMPLE);
    if interval < MIN_SAMPLE {
        return Err(PlanError::SampleTooShort(interval));
    }
    let qdisc = match &t.qdisc {
        Some(spec) => {
            let target: QdiscTarget = spec.parse()?;
            target.check()?;
            Some(target)
        }
        None => None,
    };
    Ok(Some(TimelinePlan {
        sampling: Sampling {
            interval,
            queue: qdisc,
        },
        plot: t.plot_timeline.clone(),
    }))
}
