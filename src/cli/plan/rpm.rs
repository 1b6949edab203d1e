//! The flags of `--rpm`: which of the others go with it (`-t`, `-P`,
//! `--phases`, `--json`, the timeline's, the socket options and marking)
//! and which do not,
//! and the [`RpmConfig`] they make.

use std::time::Duration;

use super::PlanError;
use crate::cli::args::ClientArgs;
use crate::client::rpm::RpmConfig;
use crate::responsiveness::{FlowPolicy, Load};

/// Each loaded phase's default length.
pub const DEFAULT_PHASE: Duration = Duration::from_secs(10);

/// The rules of `--rpm`, tried in a fixed order.
pub(super) fn check(a: &ClientArgs) -> Result<(), PlanError> {
    if !a.rpm {
        return Ok(());
    }
    let why = if a.socket.udp {
        "loads the path with TCP flows and probes it over TCP and UDP itself: leave --udp out"
    } else if a.find_rate {
        "does not go with --find-rate"
    } else if a.upload || a.bidir {
        "chooses its directions with --phases down,up,bidir: leave --upload and --bidir out"
    } else if a.rate.is_some() {
        "loads the path as fast as it goes: leave --rate out"
    } else if a.print_file {
        "does not go with --print-file"
    } else if a.count.is_some() || a.interval.is_some() || a.size.is_some() {
        "spaces its own probes: leave --count, --interval and --size out"
    } else if a.spin || a.timestamps || a.no_timestamps {
        "does not go with --spin, --timestamps or --no-timestamps"
    } else if a.interval_report.is_some() || a.json_stream {
        "reports at the end: leave -i and --json-stream out"
    } else if a.hgrm.is_some() || a.plot.is_some() {
        "writes no --hgrm or --plot file yet"
    } else if a.pcap.is_some() || a.capture.is_some() {
        "records no captures: leave --pcap and --capture out"
    } else {
        return Ok(());
    };
    Err(PlanError::Rpm { why })
}

/// The run `--rpm` asks for, from flags [`check`] accepted.
pub(super) fn config(a: &ClientArgs) -> Result<RpmConfig, PlanError> {
    let loads = if a.phases.is_empty() {
        vec![Load::Down, Load::Up, Load::Bidir]
    } else {
        a.phases
            .iter()
            .map(|p| Load::parse(p.trim()).ok_or_else(|| PlanError::Phases { given: p.clone() }))
            .collect::<Result<_, _>>()?
    };
    Ok(RpmConfig {
        loads,
        each: a.time.unwrap_or(DEFAULT_PHASE),
        policy: if a.parallel > 1 {
            FlowPolicy::Fixed(a.parallel)
        } else {
            FlowPolicy::Ramp
        },
    })
}
