//! `ardei-lab client`: the plan of one action (or of the prompt), and the
//! rules on which flags go with which action.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::timeline::{self, TimelinePlan};
use super::transfer::{self, Marking};
use super::{PlanError, rpm, rules};
use crate::cli::args::ClientArgs;
use crate::client::flows::Flows;
use crate::client::prompt::StreamDefaults;
use crate::client::record::Recording;
use crate::client::ticker::TickerConfig;
use crate::client::transfer::Transfer;
use crate::client::{self, ClientConfig, TcpSettings, UdpSettings};

/// What the client does once connected.
#[derive(Debug, Clone)]
pub enum ClientAction {
    /// `--echo TEXT`: `count` round trips, one every `interval`.
    Echo {
        /// The bytes echoed.
        text: String,
        /// Round trips.
        count: u32,
        /// Time between requests (zero: back to back).
        interval: Duration,
        /// Busy-poll the wait for each reply (`--spin`).
        spin: bool,
        /// Read the kernel's timestamps (`--timestamps`).
        timestamps: bool,
        /// Stamp the requests at the queueing discipline too
        /// (`--stamp-qdisc`).
        stamp_qdisc: bool,
    },
    /// `--file N` and/or `-t DUR`: a file transfer, verified, in one flow
    /// or several; a download written to stdout too with `--print-file`.
    File {
        /// Which way, how much, for how long, at what pace.
        transfer: Transfer,
        /// How many flows, and whether both ways.
        flows: Flows,
        /// Whether stdout takes the file's bytes.
        print: bool,
    },
    /// `--find-rate`: the fastest rate that loses at most `loss_target`
    /// percent, found by trials of `transfer` (timed, its pace the
    /// search's).
    FindRate {
        /// Each trial: which way, the size cap, `trial` long.
        transfer: Transfer,
        /// The loss a passing trial may have, percent.
        loss_target: f64,
        /// Whether a downloading search's receiver may ask for SCHED_FIFO.
        realtime: bool,
    },
    /// `--stream DUR`: `count` segments of `size` bytes, one every `interval`.
    Stream {
        /// Time between segments.
        interval: Duration,
        /// Segments.
        count: u32,
        /// Whole segment size.
        size: u32,
        /// Stamp the segments and estimate the clock offset
        /// (`--timestamps`, TCP).
        timestamps: bool,
    },
    /// `--rpm`: responsiveness under load, in phases.
    Rpm(crate::client::rpm::RpmConfig),
    /// No action: the interactive prompt, whose streams take these.
    Prompt(StreamDefaults),
}

impl ClientAction {
    /// The action's name in reports and JSON (`None` for the prompt).
    pub fn mode(&self) -> Option<&'static str> {
        match self {
            ClientAction::Echo { .. } => Some("echo"),
            ClientAction::File { .. } | ClientAction::FindRate { .. } => Some("file"),
            ClientAction::Stream { .. } => Some("stream"),
            ClientAction::Rpm(_) => Some("rpm"),
            ClientAction::Prompt(_) => None,
        }
    }
}

/// What the client prints while and after it runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientOutput {
    /// `--json`: one object at the end.
    pub json: bool,
    /// `--json-stream`: a line per interval and one with the summary.
    pub json_stream: bool,
    /// `-i DUR`: an interval report every DUR.
    pub every: Option<Duration>,
}

/// A validated client command line.
#[derive(Debug, Clone)]
pub struct ClientPlan {
    /// `--cpu N`: the CPU to pin the process to.
    pub cpu: Option<usize>,
    /// The connection: target, transport, socket options, captures.
    pub config: ClientConfig,
    /// What to do.
    pub action: ClientAction,
    /// What to print.
    pub output: ClientOutput,
    /// `--hgrm`: where the latency histogram goes.
    pub hgrm: Option<PathBuf>,
    /// `--plot`: where the SVG goes.
    pub plot: Option<PathBuf>,
    /// `-C`, `--dscp`, `--ecn`.
    pub marking: Marking,
    /// `--timeline`, `--sample`, `--qdisc`, `--plot-timeline`.
    pub timeline: Option<TimelinePlan>,
}

impl ClientPlan {
    /// Checks the flags together and builds the plan. The rules are tried
    /// in a fixed order, so a command line that breaks two of them is
    /// always refused for the same one.
    pub fn build(args: ClientArgs) -> Result<ClientPlan, PlanError> {
        let cpu = rules::cpu(args.socket.cpu)?;
        let target = rules::address(args.target.as_deref(), &args.endpoint)?;
        let mut opts = rules::sock_opts(&args.socket)?;
        transfer::check_find_rate(&args)?;
        rpm::check(&args)?;
        let (action, timeline) = if args.rpm {
            let timeline = timeline::timeline(&args)?;
            (ClientAction::Rpm(rpm::config(&args)?), timeline)
        } else {
            transfer::check(&args)?;
            check_combinations(&args)?;
            let timeline = timeline::timeline(&args)?;
            (action(&args, target)?, timeline)
        };
        let marking = transfer::marking(&args);
        opts.tos = marking.tos(args.socket.udp);
        opts.congestion = marking.congestion.clone();
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
                no_gro: args.no_gro,
            }),
            recording: Recording {
                pcap: args.pcap.as_deref().map(crate::instruments::model_path),
                capture: args.capture,
                shared: None,
            },
            ecn: marking.ecn,
            tcp: TcpSettings {
                rate_bps: args.rate.unwrap_or(0),
                recv_timeout: args.recv_timeout,
            },
        };
        Ok(ClientPlan {
            cpu,
            config,
            action,
            output: ClientOutput {
                json: args.json,
                json_stream: args.json_stream,
                every: args.interval_report,
            },
            marking,
            hgrm: args.hgrm,
            plot: args.plot,
            timeline,
        })
    }

    /// The server's address.
    pub fn target(&self) -> SocketAddr {
        self.config.target
    }

    /// Whether over UDP.
    pub fn udp(&self) -> bool {
        self.config.udp.is_some()
    }

    /// Whether stdout takes JSON (`--json` or `--json-stream`).
    pub fn json(&self) -> bool {
        self.output.json || self.output.json_stream
    }

    /// Whether stdout takes the file's bytes (`--print-file`).
    pub fn print_file(&self) -> bool {
        matches!(self.action, ClientAction::File { print: true, .. })
    }

    /// What the action shows while it runs.
    pub fn ticker(&self) -> TickerConfig {
        let json = self.json();
        TickerConfig {
            every: self.output.every,
            json_stream: self.output.json_stream,
            to_stderr: self.print_file() || json,
            bar: !json && matches!(self.action, ClientAction::File { .. }),
            probe: None,
        }
    }
}

/// The flags that belong to one action, refused with another or none.
fn check_combinations(a: &ClientArgs) -> Result<(), PlanError> {
    let (echo, file, stream) = (
        a.echo.is_some(),
        transfer::is_transfer(a),
        a.stream.is_some(),
    );
    let action = echo || file || stream;
    if !action && (a.json || a.json_stream || a.interval_report.is_some()) {
        return Err(PlanError::ReportWithoutAction);
    }
    if a.spin && !echo {
        return Err(PlanError::SpinWithoutEcho);
    }
    if (a.timestamps && !(echo || stream)) || (a.no_timestamps && !echo) {
        return Err(PlanError::NoTimestampsWithoutEcho);
    }
    if a.stamp_qdisc && !echo {
        return Err(PlanError::StampQdiscWithoutEcho);
    }
    if a.rate.is_some() && (echo || stream) {
        return Err(PlanError::RateWithoutFile);
    }
    if a.size.is_some() && (echo || file) {
        return Err(PlanError::SizeWithoutStream);
    }
    if a.count.is_some() && file {
        return Err(PlanError::CountWithFile);
    }
    if a.interval.is_some() && (file || stream) {
        return Err(PlanError::IntervalWithoutEcho);
    }
    if a.print_file && (echo || stream) {
        return Err(PlanError::PrintFileWithoutFile);
    }
    if (a.hgrm.is_some() || a.plot.is_some()) && !action {
        return Err(PlanError::ExportWithoutAction);
    }
    if a.hgrm.is_some() && file {
        return Err(PlanError::HgrmWithFile);
    }
    Ok(())
}

/// The action, with its defaults filled in; an action's own limits
/// (`-i` at least 10 ms, a UDP echo or segment size that a datagram can
/// carry) checked.
fn action(a: &ClientArgs, target: SocketAddr) -> Result<ClientAction, PlanError> {
    let prompt = a.echo.is_none() && !transfer::is_transfer(a) && a.stream.is_none();
    if prompt {
        return Ok(ClientAction::Prompt(StreamDefaults {
            count: a.count.unwrap_or(client::DEFAULT_STREAM_COUNT),
            size: a.size.unwrap_or(client::DEFAULT_SEGMENT_SIZE),
        }));
    }
    if a.interval_report
        .is_some_and(|d| d < Duration::from_millis(10))
    {
        return Err(PlanError::ReportsTooOften);
    }
    if let Some(text) = &a.echo {
        if a.socket.udp {
            if let Some(e) = PlanError::echo_too_large(text.len(), target.is_ipv6()) {
                return Err(e);
            }
        }
        return Ok(ClientAction::Echo {
            text: text.clone(),
            count: a.count.unwrap_or(client::DEFAULT_ECHO_COUNT),
            interval: a.interval.unwrap_or_default(),
            spin: a.spin,
            timestamps: a.timestamps,
            stamp_qdisc: a.stamp_qdisc,
        });
    }
    let ipv6 = target.is_ipv6();
    let udp_size = |flag, size, stream| match PlanError::datagram_size(flag, size, stream, ipv6) {
        Some(e) if a.socket.udp => Err(e),
        _ => Ok(()),
    };
    if transfer::is_transfer(a) {
        if let Some(segment) = a.segment_size {
            udp_size("--segment-size", segment, false)?;
        }
        let rate = match a.socket.udp {
            true => a.rate.unwrap_or(client::udp::DEFAULT_RATE_BPS),
            false => a.rate.unwrap_or(0),
        };
        let (mut transfer, flows) = transfer::transfer(a, rate);
        if a.find_rate {
            transfer.time = Some(a.trial.unwrap_or(client::find_rate::DEFAULT_TRIAL));
            return Ok(ClientAction::FindRate {
                transfer,
                loss_target: a.loss_target.unwrap_or(0.0),
                realtime: !a.no_realtime,
            });
        }
        return Ok(ClientAction::File {
            transfer,
            flows,
            print: a.print_file,
        });
    }
    let size = a.size.unwrap_or(client::DEFAULT_SEGMENT_SIZE);
    udp_size("--size", size, true)?;
    Ok(ClientAction::Stream {
        interval: a.stream.unwrap_or_default(),
        count: a.count.unwrap_or(client::DEFAULT_STREAM_COUNT),
        size,
        timestamps: a.timestamps,
    })
}
