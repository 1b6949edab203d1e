//! Carries out `client --rpm`: the phases and probes of
//! [`crate::client::rpm`], then the report as text or JSON.

use super::failure::Failure;
use crate::cli::plan::ClientPlan;
use crate::client::rpm::{self, RpmConfig};

/// Runs `--rpm` as planned and prints its report.
pub(super) fn run(plan: &ClientPlan, cfg: &RpmConfig) -> Result<(), Failure> {
    let report = rpm::run(&plan.config, cfg)
        .map_err(|e| Failure::client(e, Some("rpm"), plan.target(), false))?;
    crate::client::interrupt::claim_or_wait();
    if plan.output.json {
        if let Ok(s) = crate::schema::to_pretty(&report) {
            println!("{s}");
        }
    } else {
        print!("{}", report.render_text());
    }
    Ok(())
}
