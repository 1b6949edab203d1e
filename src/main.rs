//! The `ardei-lab` binary: parse the command line, check it into a plan,
//! run the plan, and turn a failure into a message and an exit status (0
//! success, 2 usage, 3 refused by the server, 4 verification failed, 1 any
//! other failure).

use std::process::ExitCode;

use clap::Parser;

use ardei_lab::cli::run::{self, Failure};
use ardei_lab::cli::{Cli, Command, Plan, Reporting};
use ardei_lab::client::interrupt;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // A usage error where JSON was asked for still gives the one
            // JSON object on stdout; help and --version print as they are.
            if e.use_stderr() && json_asked() {
                let first = e.to_string();
                let reason = first.lines().next().unwrap_or("usage error");
                let reason = reason.strip_prefix("error: ").unwrap_or(reason);
                if let Ok(line) =
                    ardei_lab::schema::to_line(&serde_json::json!({ "error": reason }))
                {
                    println!("{line}");
                }
            }
            e.exit()
        }
    };
    // The tour prints reports; session logs would only interleave with them.
    let quiet = cli.quiet || (matches!(cli.command, Command::Demo) && cli.verbose == 0);
    init_logging(cli.verbose, quiet);
    if !matches!(cli.command, Command::Server(_)) {
        restore_sigpipe();
    }
    let reporting = Reporting::of(&cli.command);
    let result = Plan::build(cli.command)
        .map_err(Failure::from)
        .and_then(run::run);
    if reporting.transport.is_some() {
        // A signal that came first has its handler print the end and exit.
        interrupt::claim_or_wait();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => ExitCode::from(f.tell(reporting)),
    }
}

/// Whether the command line asks for JSON output (`--json` or
/// `--json-stream`) of a command that prints JSON: read from the raw
/// arguments, for when they did not parse.
fn json_asked() -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.iter().find(|a| !a.starts_with('-'));
    matches!(
        command.map(String::as_str),
        Some("client" | "overhead" | "pcap")
    ) && args.iter().any(|a| a == "--json" || a == "--json-stream")
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ARDEI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// A client writing to a closed pipe (`| head`) ends quietly, as `cat` does.
/// Sockets are unaffected: their writes never raise SIGPIPE.
fn restore_sigpipe() {
    // SAFETY: setting a signal's disposition to the default has no
    // preconditions; no handler of ours is replaced.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
