//! Carries out a [`Plan`]: one runner per subcommand (the client's action
//! and its exports, the server, the commands that send no traffic), and
//! [`Failure`], the one place errors become messages and exit statuses.

mod client;
mod exports;
mod failure;
mod offline;
mod rpm;
mod server;

pub use failure::Failure;

use crate::cli::args::Cli;
use crate::cli::plan::Plan;

/// Runs what the plan says.
pub fn run(plan: Plan) -> Result<(), Failure> {
    match plan {
        Plan::Server(p) => server::run(p),
        Plan::Client(p) => client::run(&p),
        Plan::Overhead(p) => offline::overhead(&p),
        // With --json the summary (or the error) is the one object on
        // stdout; no second error object after it.
        Plan::PcapSummary { file, json } => offline::pcap_summary(&file, json),
        Plan::PcapPlot { file, tsg, flow } => offline::pcap_plot(&file, &tsg, flow),
        Plan::Completions(shell) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "ardei-lab", &mut std::io::stdout());
            Ok(())
        }
        Plan::Man => crate::cli::manual::render(&mut std::io::stdout()).map_err(Failure::other),
        Plan::Demo => crate::demo::run().map_err(Failure::other),
    }
}
