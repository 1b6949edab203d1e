//! `--hgrm` and `--plot`: the files a client writes beside its report,
//! each whole or not at all (see [`crate::outfile`]).

use std::path::Path;

use super::failure::Failure;
use crate::cli::plan::ClientPlan;
use crate::client::report::Report;

/// Writes the files the plan asks for from the action's report.
pub fn write_exports(plan: &ClientPlan, report: &Report) -> Result<(), Failure> {
    let write = |path: &Path, bytes: &[u8]| -> Result<(), Failure> {
        crate::outfile::write_whole(path, bytes)
            .map_err(|e| Failure::other(format!("cannot write {}: {e}", path.display())))
    };
    if let Some(path) = &plan.hgrm {
        let Some(h) = &report.histogram else {
            return Err(Failure::other(
                "no latency was measured, so there is no histogram to write",
            ));
        };
        let mut out = Vec::new();
        crate::hgrm::write_hgrm(h.histogram(), 1000.0, &mut out).map_err(Failure::other)?;
        write(path, &out)?;
    }
    if let Some(path) = &plan.plot {
        let title = format!(
            "ardei-lab {} over {} to {}",
            report.mode, report.transport, report.target
        );
        let svg = match (&report.histogram, report.mode) {
            (Some(h), mode) => {
                let name = if mode == "echo" {
                    "round trip"
                } else {
                    "one-way delay"
                };
                crate::plot::latency_svg(&title, &[(name, h.histogram())], 1000.0)
            }
            (None, _) => crate::plot::goodput_svg(&title, &goodput_points(&report.progress)),
        }
        .map_err(Failure::other)?;
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

#[cfg(test)]
mod tests {
    use super::goodput_points;

    #[test]
    fn goodput_is_taken_between_progress_points() {
        let p = goodput_points(&[(0.0, 0), (1.0, 1000), (1.0, 2000), (2.0, 3000)]);
        assert_eq!(p, vec![(1.0, 8000.0), (2.0, 8000.0)]);
    }
}
