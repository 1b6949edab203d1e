//! Carries out `client --rpm`: the phases and probes of
//! [`crate::client::rpm`], then the report as text or JSON.

use super::failure::Failure;
use crate::cli::plan::ClientPlan;
use crate::client::rpm::{self, RpmConfig};

/// Runs `--rpm` as planned and prints its report.
pub(super) fn run(plan: &ClientPlan, cfg: &RpmConfig) -> Result<(), Failure> {
    let sampling = plan.timeline.as_ref().map(|t| &t.sampling);
    let report = rpm::run(&plan.config, cfg, sampling)
        .map_err(|e| Failure::client(e, Some("rpm"), plan.target(), false))?;
    crate::client::interrupt::claim_or_wait();
    if let Some(path) = plan.timeline.as_ref().and_then(|t| t.plot.as_ref()) {
        write_plot(path, &report)?;
    }
    if plan.output.json {
        if let Ok(s) = crate::schema::to_pretty(&report) {
            println!("{s}");
        }
    } else {
        print!("{}", report.render_text());
    }
    Ok(())
}

/// `--plot-timeline`: the run's timeline as a chart, its phases shaded.
fn write_plot(path: &std::path::Path, report: &rpm::RpmReport) -> Result<(), Failure> {
    let Some(t) = &report.timeline else {
        return Err(Failure::other("the run took no timeline to draw"));
    };
    let title = format!("ardei-lab --rpm over tcp to {}", report.target);
    let svg = crate::plot::timeline::timeline_svg(&title, &t.timeline).map_err(Failure::other)?;
    crate::outfile::write_whole(path, svg.as_bytes())
        .map_err(|e| Failure::other(format!("cannot write {}: {e}", path.display())))
}
