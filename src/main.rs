//! The `ardei-lab` binary: parse the command line, call the library, turn
//! the outcome into a message and an exit status (0 success, 2 usage, 3
//! refused by the server, 4 verification failed, 1 any other failure).

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::Parser;

use ardei_lab::account::overhead;
use ardei_lab::cli::{Cli, ClientArgs, Command, OverheadArgs, PcapCommand, ServerArgs};
use ardei_lab::client::interrupt;
use ardei_lab::client::prompt::{self, StreamDefaults};
use ardei_lab::client::record::Recording;
use ardei_lab::client::report::Report;
use ardei_lab::client::ticker::TickerConfig;
use ardei_lab::client::{self, Client, ClientConfig, ClientError, TcpSettings, UdpSettings};
use ardei_lab::hosts;
use ardei_lab::instruments::InstrumentError;
use ardei_lab::pcap::capture::CaptureError;
use ardei_lab::proto::Limits;
use ardei_lab::server::ServerConfig;
use ardei_lab::server::record::ServerCaptures;
use ardei_lab::server::tcp::TcpServer;
use ardei_lab::server::udp::UdpServer;
use ardei_lab::wire::Transport;

/// A failure: the sentence for stderr and the exit status, and for a
/// client's `--json` error object what is known of the action.
struct Failure {
    message: String,
    code: u8,
    mode: Option<&'static str>,
    /// The server's IP version, once the target is known.
    ip: Option<u8>,
    /// Payload bytes received before the failure, where the error says
    /// (`null` in the JSON when it does not).
    bytes: Option<u64>,
}

impl Failure {
    fn usage(message: impl ToString) -> Failure {
        Failure {
            message: message.to_string(),
            code: 2,
            mode: None,
            ip: None,
            bytes: None,
        }
    }
    fn other(message: impl ToString) -> Failure {
        Failure {
            message: message.to_string(),
            code: 1,
            mode: None,
            ip: None,
            bytes: None,
        }
    }
}

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
                println!("{}", serde_json::json!({ "error": reason }));
            }
            e.exit()
        }
    };
    // The tour prints reports; session logs would only interleave with them.
    let quiet = cli.quiet || (matches!(cli.command, Command::Demo) && cli.verbose == 0);
    init_logging(cli.verbose, quiet);
    let transport = match &cli.command {
        Command::Client(a) if a.socket.udp => Some("udp"),
        Command::Client(_) => Some("tcp"),
        _ => None,
    };
    let (json, result) = match cli.command {
        Command::Server(args) => (false, run_server(args)),
        Command::Client(args) => {
            restore_sigpipe();
            (args.json || args.json_stream, run_client(args))
        }
        Command::Overhead(args) => {
            restore_sigpipe();
            (args.json, run_overhead(&args))
        }
        Command::Pcap(PcapCommand::Summary { file, json }) => {
            restore_sigpipe();
            // With --json the summary (or the error) is the one object on
            // stdout; no second error object after it.
            (false, run_pcap_summary(&file, json))
        }
        Command::Completions { shell } => {
            restore_sigpipe();
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "ardei-lab", &mut std::io::stdout());
            (false, Ok(()))
        }
        Command::Man => {
            restore_sigpipe();
            let r = ardei_lab::manual::render(&mut std::io::stdout()).map_err(Failure::other);
            (false, r)
        }
        Command::Demo => {
            restore_sigpipe();
            (false, ardei_lab::demo::run().map_err(Failure::other))
        }
    };
    if transport.is_some() {
        // A signal that came first has its handler print the end and exit.
        interrupt::claim_or_wait();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if json {
                println!("{}", failure_json(&f, transport));
            }
            eprintln!("ardei-lab: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// The one JSON object a failed command prints: a client's says what is
/// known of the action (`transport` given), the others' only the error.
fn failure_json(f: &Failure, transport: Option<&str>) -> serde_json::Value {
    match transport {
        Some(t) => {
            let mut v = serde_json::json!({
                "error": f.message,
                "mode": f.mode,
                "transport": t,
                "ip": f.ip,
                "bytes": f.bytes,
            });
            if f.mode == Some("file") {
                v["verified"] = false.into();
            }
            v
        }
        None => serde_json::json!({ "error": f.message }),
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

fn run_server(args: ServerArgs) -> Result<(), Failure> {
    ardei_lab::sched::allow_realtime(!args.no_realtime);
    if let Some(cpu) = args.socket.cpu {
        ardei_lab::pace::pin_to_cpu(cpu).map_err(Failure::usage)?;
    }
    let family = args.endpoint.family();
    let bind = match &args.bind {
        Some(b) => hosts::resolve_target(b, family).map_err(|e| Failure::usage(e.to_string()))?,
        None => {
            let list = hosts::load(args.endpoint.hosts.as_deref()).map_err(Failure::usage)?;
            hosts::choose(&list, family, args.endpoint.pick.map(|p| p as usize))
                .map_err(Failure::usage)?
        }
    };
    let opts = args.socket.opts().map_err(Failure::usage)?;
    let config = ServerConfig {
        bind,
        opts,
        limits: Limits {
            max_file: args.max_file,
            max_segments: args.max_segments,
            ..Limits::default()
        },
        max_sessions: args.max_sessions as usize,
        idle_timeout: args.idle_timeout,
        once: args.once,
        json: args.json,
        model: None,
        spin: args.spin,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal ends the process at once.
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&stop)))
            .map_err(Failure::other)?;
    }
    // Both captures start before the first client and finish when the
    // server returns (after --once, SIGINT or SIGTERM), so both files are
    // whole. A capture that cannot start stops the server from starting.
    let pcap = args.pcap.as_deref().map(ardei_lab::instruments::model_path);
    let start_captures = |transport, local| {
        ServerCaptures::start(pcap.as_deref(), args.capture.as_deref(), transport, local).map_err(
            |e| match e {
                InstrumentError::Live(c @ CaptureError::PermissionDenied) => Failure::other(c),
                e => Failure::other(e),
            },
        )
    };
    let captures = if args.socket.udp {
        let mut server = UdpServer::bind(config).map_err(Failure::other)?;
        let captures = start_captures(Transport::Udp, server.local_addr())?;
        server.record_to(captures.model());
        eprintln!(
            "ardei-lab server: listening on {} (udp)",
            server.local_addr()
        );
        let a = server.applied();
        tracing::info!(
            "socket options: sndbuf {}, rcvbuf {}, don't-fragment {}",
            a.sndbuf,
            a.rcvbuf,
            a.dont_fragment
        );
        server.serve(Arc::clone(&stop));
        captures
    } else {
        let mut server = TcpServer::bind(config).map_err(Failure::other)?;
        let captures = start_captures(Transport::Tcp, server.local_addr())?;
        server.record_to(captures.model());
        eprintln!(
            "ardei-lab server: listening on {} (tcp)",
            server.local_addr()
        );
        tracing::info!("listener options: {}", server.applied().describe(&opts));
        server.serve(Arc::clone(&stop));
        captures
    };
    tracing::info!("server stopped");
    captures.finish().map_err(Failure::other)
}

fn run_overhead(args: &OverheadArgs) -> Result<(), Failure> {
    let report = overhead::compute(&args.request()).map_err(|e| Failure::usage(e.to_string()))?;
    if args.json {
        let s = serde_json::to_string_pretty(&report).map_err(Failure::other)?;
        println!("{s}");
    } else {
        print!("{}", overhead::render_text(&report));
    }
    Ok(())
}

/// Prints the summary of a capture. A file cut in the middle of a record
/// still gets the summary of the frames before the cut, and a failure status.
/// With `json`, stdout gets exactly one object: the summary, the summary
/// with an `error` key (a cut file), or `{"error": …}`.
fn run_pcap_summary(file: &std::path::Path, json: bool) -> Result<(), Failure> {
    let print = |s: &ardei_lab::pcap::Summary, error: Option<&str>| {
        if json {
            let Ok(mut v) = serde_json::to_value(s) else {
                return;
            };
            if let (Some(e), Some(obj)) = (error, v.as_object_mut()) {
                obj.insert("error".into(), e.into());
            }
            if let Ok(text) = serde_json::to_string_pretty(&v) {
                println!("{text}");
            }
        } else {
            print!("{}", ardei_lab::pcap::render_text(s));
        }
    };
    match ardei_lab::pcap::summarize_path(file) {
        Ok(s) => {
            print(&s, None);
            Ok(())
        }
        Err(ardei_lab::pcap::PcapError::Truncated {
            frames,
            partial: Some(s),
        }) => {
            let message = format!(
                "{}: the file ends in the middle of a record; the summary covers the {frames} whole frames before it",
                file.display()
            );
            print(&s, Some(&message));
            Err(Failure::other(message))
        }
        Err(e) => {
            let f = Failure::other(e);
            if json {
                println!("{}", serde_json::json!({ "error": f.message }));
            }
            Err(f)
        }
    }
}

fn run_client(args: ClientArgs) -> Result<(), Failure> {
    if let Some(cpu) = args.socket.cpu {
        ardei_lab::pace::pin_to_cpu(cpu).map_err(Failure::usage)?;
    }
    let family = args.endpoint.family();
    let target = match &args.target {
        Some(t) => hosts::resolve_target(t, family).map_err(|e| Failure::usage(e.to_string()))?,
        None => {
            let list = hosts::load(args.endpoint.hosts.as_deref()).map_err(Failure::usage)?;
            hosts::choose(&list, family, args.endpoint.pick.map(|p| p as usize))
                .map_err(Failure::usage)?
        }
    };
    let opts = args.socket.opts().map_err(Failure::usage)?;
    let action = args.echo.is_some() || args.file.is_some() || args.stream.is_some();
    if !action && (args.json || args.json_stream || args.interval_report.is_some()) {
        return Err(Failure::usage(
            "--json, --json-stream and -i report on one action: add --echo, --file or --stream \
             (the interactive prompt prints its reports as text)",
        ));
    }
    if args.spin && args.echo.is_none() {
        return Err(Failure::usage(
            "--spin busy-polls the wait for echo replies: use it with --echo \
             (the interactive prompt always waits in a blocking read)",
        ));
    }
    if args.rate.is_some() && (args.echo.is_some() || args.stream.is_some()) {
        return Err(Failure::usage(
            "--rate paces a file: use it with --file (or at the prompt, for its file requests)",
        ));
    }
    if args.size.is_some() && (args.echo.is_some() || args.file.is_some()) {
        return Err(Failure::usage(
            "--size sets the size of stream segments: use it with --stream \
             (or without an action, for the prompt's streams)",
        ));
    }
    if args.count.is_some() && args.file.is_some() {
        return Err(Failure::usage(
            "--count applies to --echo and --stream, not --file",
        ));
    }
    if args.interval.is_some() && (args.file.is_some() || args.stream.is_some()) {
        return Err(Failure::usage(
            "--interval spaces echo requests: use it with --echo (a stream's interval is --stream DUR)",
        ));
    }
    if args.print_file && (args.echo.is_some() || args.stream.is_some()) {
        return Err(Failure::usage(
            "--print-file writes the file of --file to stdout: use it with --file",
        ));
    }
    let config = ClientConfig {
        target,
        opts,
        print_file: args.print_file,
        udp: args.socket.udp.then(|| UdpSettings {
            fragment: args.fragment,
            rate_bps: args.rate.unwrap_or(client::udp::DEFAULT_RATE_BPS),
            recv_timeout: args.recv_timeout,
            segment_size: args.segment_size,
            no_gso: args.no_gso,
            gro: args.gro,
        }),
        recording: Recording {
            pcap: args.pcap.as_deref().map(ardei_lab::instruments::model_path),
            capture: args.capture.clone(),
        },
        tcp: TcpSettings {
            rate_bps: args.rate.unwrap_or(0),
            recv_timeout: args.recv_timeout,
        },
    };
    if (args.hgrm.is_some() || args.plot.is_some())
        && args.echo.is_none()
        && args.stream.is_none()
        && args.file.is_none()
    {
        return Err(Failure::usage(
            "--hgrm and --plot need an action: --echo, --file or --stream",
        ));
    }
    if args.hgrm.is_some() && args.file.is_some() {
        return Err(Failure::usage(
            "--hgrm writes a latency histogram: use it with --echo or --stream",
        ));
    }
    let mode = if args.echo.is_some() {
        "echo"
    } else if args.file.is_some() {
        "file"
    } else if args.stream.is_some() {
        "stream"
    } else {
        let defaults = StreamDefaults {
            count: args.count.unwrap_or(client::DEFAULT_STREAM_COUNT),
            size: args.size.unwrap_or(client::DEFAULT_SEGMENT_SIZE),
        };
        on_interrupt(None, &args, target)?;
        let mut out = std::io::stdout();
        return prompt::run(&config, defaults, &mut out).map_err(client_failure(
            None,
            target,
            args.socket.udp,
        ));
    };
    if let Some(d) = args.interval_report {
        if d < std::time::Duration::from_millis(10) {
            return Err(Failure::usage("-i needs at least 10ms between reports"));
        }
    }
    on_interrupt(Some(mode), &args, target)?;
    let mut c =
        Client::connect(&config).map_err(client_failure(Some(mode), target, args.socket.udp))?;
    c.set_spin(args.spin);
    let json = args.json || args.json_stream;
    c.set_ticker(TickerConfig {
        every: args.interval_report,
        json_stream: args.json_stream,
        to_stderr: args.print_file || json,
        bar: !json && args.file.is_some(),
    });
    let action = run_action(&args, &config, &mut c);
    // The captures close whatever happened, so their files are whole.
    let captures = c
        .finish()
        .map_err(client_failure(Some(mode), target, args.socket.udp))?;
    let mut report = action.map_err(client_failure(Some(mode), target, args.socket.udp))?;
    if let Some(live) = captures.as_ref().and_then(|c| c.live.as_ref()) {
        if let (Some(o), Ok(s)) = (
            report.overhead.as_mut(),
            ardei_lab::pcap::summarize_path(std::path::Path::new(&live.path)),
        ) {
            o.add_capture(&s);
        }
    }
    report.captures = captures;
    interrupt::claim_or_wait();
    write_exports(&args, &report)?;
    if args.json_stream {
        if let Ok(line) = serde_json::to_string(&serde_json::json!({ "summary": &report })) {
            println!("{line}");
        }
    } else {
        print_report(&report, args.json, args.print_file);
    }
    Ok(())
}

/// Ends a client that gets SIGINT or SIGTERM with a sentence on stderr
/// saying what did not finish (and which captures were closed), the
/// JSON error object on stdout where JSON was asked for, and status 130 or
/// 143.
fn on_interrupt(
    mode: Option<&'static str>,
    args: &ClientArgs,
    target: std::net::SocketAddr,
) -> Result<(), Failure> {
    let json = args.json || args.json_stream;
    let print_file = args.print_file;
    let transport = if args.socket.udp { "udp" } else { "tcp" };
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
            ip: Some(if target.is_ipv6() { 6 } else { 4 }),
            bytes: None,
        };
        if json {
            println!("{}", failure_json(&f, Some(transport)));
        }
        eprintln!("ardei-lab: {}", f.message);
    })
    .map_err(Failure::other)
}

/// Writes `--hgrm` and `--plot` files, each whole or not at all (see
/// [`ardei_lab::outfile`]).
fn write_exports(args: &ClientArgs, report: &Report) -> Result<(), Failure> {
    let write = |path: &std::path::Path, bytes: &[u8]| -> Result<(), Failure> {
        ardei_lab::outfile::write_whole(path, bytes)
            .map_err(|e| Failure::other(format!("cannot write {}: {e}", path.display())))
    };
    if let Some(path) = &args.hgrm {
        let Some(h) = &report.histogram else {
            return Err(Failure::other(
                "no latency was measured, so there is no histogram to write",
            ));
        };
        let mut out = Vec::new();
        ardei_lab::hgrm::write_hgrm(h.histogram(), 1000.0, &mut out).map_err(Failure::other)?;
        write(path, &out)?;
    }
    if let Some(path) = &args.plot {
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
                ardei_lab::plot::latency_svg(&title, &[(name, h.histogram())], 1000.0)
            }
            (None, _) => ardei_lab::plot::goodput_svg(&title, &goodput_points(&report.progress)),
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

fn run_action(
    args: &ClientArgs,
    config: &ClientConfig,
    c: &mut Client,
) -> Result<Report, ClientError> {
    if let Some(text) = &args.echo {
        let count = args.count.unwrap_or(client::DEFAULT_ECHO_COUNT);
        c.echo(text.as_bytes(), count, args.interval.unwrap_or_default())
    } else if let Some(size) = args.file {
        if config.print_file {
            let mut printed = Printed {
                out: std::io::stdout().lock(),
                written: 0,
                failed: None,
            };
            let mut buf = std::io::BufWriter::with_capacity(1 << 16, &mut printed);
            let r = c.file(size, Some(&mut buf));
            let _ = buf.flush();
            drop(buf);
            // A failure to write stdout is said as such, with what it holds
            // (not as a failed connection); any other failure stands.
            match (printed.failed, r) {
                (
                    Some(reason),
                    Ok(_) | Err(ClientError::Io(_) | ClientError::Incomplete { .. }),
                ) => Err(ClientError::Incomplete {
                    written: printed.written,
                    size,
                    reason,
                }),
                (_, r) => r,
            }
        } else {
            c.file(size, None)
        }
    } else if let Some(interval) = args.stream {
        let count = args.count.unwrap_or(client::DEFAULT_STREAM_COUNT);
        let size = args.size.unwrap_or(client::DEFAULT_SEGMENT_SIZE);
        c.stream(interval, count, size)
    } else {
        Err(ClientError::Protocol("no action".to_string()))
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

fn client_failure(
    mode: Option<&'static str>,
    target: std::net::SocketAddr,
    udp: bool,
) -> impl Fn(ClientError) -> Failure {
    move |e| Failure {
        message: e.to_string(),
        code: e.exit_code() as u8,
        mode,
        ip: Some(if target.is_ipv6() { 6 } else { 4 }),
        bytes: match &e {
            // Nothing of the action arrived before the refusal.
            ClientError::Refused { .. } => Some(0),
            ClientError::Short { got, .. } => Some(*got),
            // A TCP file arrives in order: the first wrong byte's offset is
            // what came before it. UDP datagrams come in any order.
            ClientError::Verify(m) if !udp => Some(m.offset),
            _ => None,
        },
    }
}

fn print_report(report: &Report, json: bool, print_file: bool) {
    if json {
        if let Ok(s) = serde_json::to_string_pretty(report) {
            println!("{s}");
        }
    } else if print_file {
        eprint!("{}", report.render_text());
    } else {
        print!("{}", report.render_text());
    }
}
