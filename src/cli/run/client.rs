//! Carries out a [`ClientPlan`]: connect, run the action or the prompt,
//! close the captures, write the exports, print the report; several flows
//! of a file transfer go to [`crate::client::flows`], which connects each.
//! A signal ends the client with a sentence saying what did not finish.

use std::io::Write;

use super::exports::write_exports;
use super::failure::{Failure, ip_version};
use crate::cli::plan::{ClientAction, ClientPlan};
use crate::client::report::Report;
use crate::client::timeline::TimelineRun;
use crate::client::transfer::Transfer;
use crate::client::{Client, ClientError, find_rate, flows, interrupt, prompt};

/// Runs the client as planned.
pub fn run(plan: &ClientPlan) -> Result<(), Failure> {
    if let Some(cpu) = plan.cpu {
        crate::pace::pin_to_cpu(cpu).map_err(Failure::usage)?;
    }
    let mode = plan.action.mode();
    let fail = |e| Failure::client(e, mode, plan.target(), plan.udp());
    on_interrupt(plan)?;
    if let ClientAction::Rpm(cfg) = &plan.action {
        return super::rpm::run(plan, cfg);
    }
    if let ClientAction::Prompt(defaults) = plan.action {
        let mut out = std::io::stdout();
        return prompt::run(&plan.config, defaults, &mut out).map_err(fail);
    }
    let report = match &plan.action {
        ClientAction::File {
            transfer, flows, ..
        } if flows.several() => {
            let sampling = plan.timeline.as_ref().map(|t| &t.sampling);
            flows::run(&plan.config, transfer, *flows, &plan.ticker(), sampling)
        }
        _ => one_client(plan),
    }
    .map_err(fail)?;
    interrupt::claim_or_wait();
    write_exports(plan, &report)?;
    if plan.output.json_stream {
        if let Ok(line) = crate::schema::to_line(&serde_json::json!({ "summary": &report })) {
            println!("{line}");
        }
    } else {
        print_report(&report, plan.output.json, plan.print_file());
    }
    Ok(())
}

/// The action on one client: connect, run it, close the captures (whatever
/// happened, so their files are whole) and add the live one's figures.
fn one_client(plan: &ClientPlan) -> Result<Report, ClientError> {
    let mut c = Client::connect(&plan.config)?;
    c.set_spin(matches!(plan.action, ClientAction::Echo { spin: true, .. }));
    c.set_timestamps(!matches!(
        plan.action,
        ClientAction::Echo {
            timestamps: false,
            ..
        }
    ));
    c.set_stamp_qdisc(matches!(
        plan.action,
        ClientAction::Echo {
            stamp_qdisc: true,
            ..
        }
    ));
    c.set_stream_timestamps(matches!(
        plan.action,
        ClientAction::Stream {
            timestamps: true,
            ..
        }
    ));
    c.set_ticker(plan.ticker());
    let timeline = start_timeline(plan, &c)?;
    let action = run_action(plan, &mut c);
    let timeline = timeline.map(TimelineRun::finish);
    let captures = c.finish()?;
    let mut report = action?;
    report.timeline = timeline;
    if let Some(live) = captures.as_ref().and_then(|c| c.live.as_ref()) {
        if let (Some(o), Ok(s)) = (
            report.overhead.as_mut(),
            crate::pcap::summarize_path(std::path::Path::new(&live.path)),
        ) {
            o.add_capture(&s);
        }
    }
    report.captures = captures;
    Ok(report)
}

/// The timeline of a one-flow TCP transfer, when asked for, sampling the
/// client's connection.
fn start_timeline(plan: &ClientPlan, c: &Client) -> Result<Option<TimelineRun>, ClientError> {
    let (Some(t), ClientAction::File { transfer, .. }) = (&plan.timeline, &plan.action) else {
        return Ok(None);
    };
    let Some(stream) = c.tcp_stream() else {
        return Ok(None);
    };
    let flows = vec![(stream, transfer.direction.name())];
    Ok(Some(TimelineRun::start(flows, &t.sampling)?))
}

/// Ends a client that gets SIGINT or SIGTERM with a sentence on stderr
/// saying what did not finish (and which captures were closed), the
/// JSON error object on stdout where JSON was asked for, and status 130 or
/// 143.
fn on_interrupt(plan: &ClientPlan) -> Result<(), Failure> {
    let json = plan.json();
    let print_file = plan.print_file();
    let mode = plan.action.mode();
    let transport = if plan.udp() { "udp" } else { "tcp" };
    let ip = ip_version(plan.target());
    interrupt::install(move |signal, model, live_finished| {
        let what = match mode {
            Some("echo") => " before the echo run was complete",
            Some("file") if print_file => {
                " before the file was complete: stdout holds only its beginning"
            }
            Some("file") => " before the file was complete",
            Some("stream") => " before the stream was complete",
            _ => "",
        };
        let mut message = format!("interrupted by {signal}{what}");
        if let Some(path) = model {
            message.push_str(&format!("; {} is closed", path.display()));
        }
        if live_finished {
            message.push_str("; the live capture is finished");
        }
        let f = Failure {
            message,
            code: 1,
            mode,
            ip: Some(ip),
            bytes: None,
            flows: Vec::new(),
            find_rate: None,
        };
        if json {
            if let Ok(line) = crate::schema::to_line(&f.json(Some(transport))) {
                println!("{line}");
            }
        }
        eprintln!("ardei-lab: {}", f.message);
    })
    .map_err(Failure::other)
}

/// The planned action on a connected client.
fn run_action(plan: &ClientPlan, c: &mut Client) -> Result<Report, ClientError> {
    match &plan.action {
        ClientAction::Echo {
            text,
            count,
            interval,
            ..
        } => c.echo(text.as_bytes(), *count, *interval),
        ClientAction::File {
            transfer,
            print: true,
            ..
        } => print_file(c, transfer),
        ClientAction::File {
            transfer,
            print: false,
            ..
        } => c.transfer(transfer, None),
        ClientAction::Stream {
            interval,
            count,
            size,
            ..
        } => c.stream(*interval, *count, *size),
        ClientAction::FindRate {
            transfer,
            loss_target,
            realtime,
        } => find_rate::run(c, transfer, *loss_target, *realtime, &mut |n, t| {
            eprintln!("{}", t.line(n));
        }),
        // The prompt and --rpm run their own actions (see `run`).
        ClientAction::Prompt(_) | ClientAction::Rpm(_) => {
            Err(ClientError::Protocol("no action".to_string()))
        }
    }
}

/// A downloaded file, written to stdout as it arrives.
fn print_file(c: &mut Client, t: &Transfer) -> Result<Report, ClientError> {
    let mut printed = Printed {
        out: std::io::stdout().lock(),
        written: 0,
        failed: None,
    };
    let mut buf = std::io::BufWriter::with_capacity(1 << 16, &mut printed);
    let r = c.transfer(t, Some(&mut buf));
    let _ = buf.flush();
    drop(buf);
    // A failure to write stdout is said as such, with what it holds
    // (not as a failed connection); any other failure stands.
    match (printed.failed, r) {
        (Some(reason), Ok(_) | Err(ClientError::Io(_) | ClientError::Incomplete { .. })) => {
            Err(ClientError::Incomplete {
                written: printed.written,
                size: t.size.unwrap_or(printed.written),
                reason,
            })
        }
        (_, r) => r,
    }
}

/// Stdout for `--print-file`: counts the bytes that reached it and keeps
/// the first error it met.
struct Printed<W> {
    out: W,
    written: u64,
    failed: Option<String>,
}

impl<W: Write> Write for Printed<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let r = self.out.write(bytes);
        match &r {
            Ok(n) => self.written += *n as u64,
            Err(e) => {
                self.failed.get_or_insert_with(|| e.to_string());
            }
        }
        r
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.out.flush();
        if let Err(e) = &r {
            self.failed.get_or_insert_with(|| e.to_string());
        }
        r
    }
}

fn print_report(report: &Report, json: bool, print_file: bool) {
    if json {
        if let Ok(s) = crate::schema::to_pretty(report) {
            println!("{s}");
        }
    } else if print_file {
        eprint!("{}", report.render_text());
    } else {
        print!("{}", report.render_text());
    }
}
