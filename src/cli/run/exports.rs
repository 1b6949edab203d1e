//! `--hgrm`, `--plot` and `--plot-timeline`: the files a client writes beside its report,
//! each whole or not at all (see [`crate::outfile`]). With several flows
//! the plot has a line per flow and one of their sum. A stamped echo's
//! four figures ([`crate::histograms`]) go beside its round trip: a line
//! each in the plot, and `.hgrm` files named after the round trip's
//! (`rtt.hgrm` gives `rtt.network-rtt.hgrm`, `rtt.server.hgrm`,
//! `rtt.send-path.hgrm`, `rtt.wakeup.hgrm`).

use std::path::Path;

use super::failure::Failure;
use crate::cli::plan::ClientPlan;
use crate::client::report::{FlowFigures, Report};
use crate::histograms::NamedHistogram;

/// Writes the files the plan asks for from the action's report.
pub fn write_exports(plan: &ClientPlan, report: &Report) -> Result<(), Failure> {
    let write = |path: &Path, bytes: &[u8]| -> Result<(), Failure> {
        crate::outfile::write_whole(path, bytes)
            .map_err(|e| Failure::other(format!("cannot write {}: {e}", path.display())))
    };
    // The action's latency first, then its kernel timestamps' figures.
    let stamps = report.timestamps.iter().flat_map(|t| &t.histograms);
    let latencies: Vec<&NamedHistogram> = report.histogram.iter().chain(stamps).collect();
    if let Some(path) = &plan.hgrm {
        let Some(h) = &report.histogram else {
            return Err(Failure::other(
                "no latency was measured, so there is no histogram to write",
            ));
        };
        write(path, &h.hgrm().map_err(Failure::other)?)?;
        // Each timestamp figure beside it; one that is not available has
        // no file.
        for s in latencies.iter().skip(1).filter(|s| !s.recorder.is_empty()) {
            write(&s.path_beside(path), &s.hgrm().map_err(Failure::other)?)?;
        }
    }
    if let Some(path) = &plan.plot {
        let title = format!(
            "ardei-lab {} over {} to {}",
            report.mode, report.transport, report.target
        );
        let svg = match &report.histogram {
            Some(_) => crate::histograms::plot(&title, &latencies),
            None if report.flows.len() > 1 => {
                let series = flow_goodput(&report.flows);
                let named: Vec<(&str, &[(f64, f64)])> = series
                    .iter()
                    .map(|(n, p)| (n.as_str(), p.as_slice()))
                    .collect();
                crate::plot::goodput_series_svg(&title, &named)
            }
            None => crate::plot::goodput_svg(&title, &goodput_points(&report.progress)),
        }
        .map_err(Failure::other)?;
        write(path, svg.as_bytes())?;
    }
    if let Some(path) = plan.timeline.as_ref().and_then(|t| t.plot.as_ref()) {
        let Some(t) = &report.timeline else {
            return Err(Failure::other("the run took no timeline to draw"));
        };
        let title = format!(
            "ardei-lab {} {} over {} to {}",
            report.direction, report.mode, report.transport, report.target
        );
        let svg =
            crate::plot::timeline::timeline_svg(&title, &t.timeline).map_err(Failure::other)?;
        write(path, svg.as_bytes())?;
    }
    Ok(())
}

/// Goodput between successive progress points: (seconds, bit/s).
fn goodput_points(progress: &[(f64, u64)]) -> Vec<(f64, f64)> {
    progress
        .windows(2)
        .filter(|w| w[1].0 > w[0].0)
        .map(|w| (w[1].0, (w[1].1 - w[0].1) as f64 * 8.0 / (w[1].0 - w[0].0)))
        .collect()
}

/// At most this many intervals in a plot of several flows.
const FLOW_BINS: usize = 100;

/// Goodput of each flow and of their sum over the same intervals: the
/// run cut into equal intervals (at most [`FLOW_BINS`], no more than the
/// busiest flow has progress points), each flow's bytes at every cut read
/// from its progress (linear between two of its points), the sum the sum
/// of the flows' goodputs in each interval.
fn flow_goodput(flows: &[FlowFigures]) -> Vec<(String, Vec<(f64, f64)>)> {
    let end = flows
        .iter()
        .filter_map(|f| f.progress.last().map(|p| p.0))
        .fold(0.0, f64::max);
    let bins = flows
        .iter()
        .map(|f| f.progress.len())
        .max()
        .unwrap_or(0)
        .min(FLOW_BINS);
    if end <= 0.0 || bins == 0 {
        return Vec::new();
    }
    let step = end / bins as f64;
    let cuts: Vec<f64> = (0..=bins).map(|i| i as f64 * step).collect();
    let mut series: Vec<(String, Vec<(f64, f64)>)> = flows
        .iter()
        .map(|f| {
            let at: Vec<f64> = cuts.iter().map(|t| bytes_at(&f.progress, *t)).collect();
            let points = cuts
                .windows(2)
                .zip(at.windows(2))
                .map(|(t, b)| (t[1], (b[1] - b[0]) * 8.0 / (t[1] - t[0])))
                .collect();
            (format!("flow {} ({})", f.flow, f.direction), points)
        })
        .collect();
    let sum = (0..bins)
        .map(|i| (cuts[i + 1], series.iter().map(|(_, p)| p[i].1).sum()))
        .collect();
    series.push(("sum".to_string(), sum));
    series
}

/// Bytes a flow had at `t` seconds, from its progress points (seconds,
/// bytes so far): linear between the points around `t`, none before the
/// first, all after the last.
fn bytes_at(progress: &[(f64, u64)], t: f64) -> f64 {
    let after = progress.partition_point(|p| p.0 <= t);
    match (
        after.checked_sub(1).map(|i| progress[i]),
        progress.get(after),
    ) {
        (None, _) => 0.0,
        (Some((_, b)), None) => b as f64,
        (Some((t0, b0)), Some(&(t1, b1))) => {
            b0 as f64 + (b1 as f64 - b0 as f64) * (t - t0) / (t1 - t0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goodput_is_taken_between_progress_points() {
        let p = goodput_points(&[(0.0, 0), (1.0, 1000), (1.0, 2000), (2.0, 3000)]);
        assert_eq!(p, vec![(1.0, 8000.0), (2.0, 8000.0)]);
    }

    #[test]
    fn each_flows_goodput_is_read_at_the_same_cuts_and_summed() {
        let mut a = FlowFigures::new(1, "download", 2000, 2.0);
        a.progress = vec![(0.0, 0), (1.0, 1000), (2.0, 2000)];
        let mut b = FlowFigures::new(2, "upload", 500, 1.0);
        b.progress = vec![(1.0, 0), (2.0, 500)];
        let s = flow_goodput(&[a, b]);
        let names: Vec<&str> = s.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["flow 1 (download)", "flow 2 (upload)", "sum"]);
        // Three cuts a flow of three points allows: 2/3 s apart.
        assert_eq!(s[0].1.len(), 3);
        let rate = |p: &(f64, f64)| p.1.round();
        assert_eq!(s[0].1.iter().map(rate).collect::<Vec<_>>(), [8000.0; 3]);
        assert_eq!(
            s[1].1.iter().map(rate).collect::<Vec<_>>(),
            [0.0, 2000.0, 4000.0]
        );
        assert_eq!(
            s[2].1.iter().map(rate).collect::<Vec<_>>(),
            [8000.0, 10000.0, 12000.0]
        );
        assert_eq!(bytes_at(&[(1.0, 10)], 0.5), 0.0);
        assert_eq!(bytes_at(&[(1.0, 10)], 3.0), 10.0);
    }
}
