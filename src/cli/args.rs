//! The raw flags, as clap parses them: the contract of DESIGN §1 (names,
//! help texts, defaults, value parsers). Nothing here decides whether flags
//! go together; [`super::plan`] does, and the rest of the program sees only
//! its plans.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use super::plan::rules::parse_mss;
use crate::units::{parse_duration, parse_positive_duration, parse_size, parse_size_u32};

/// A low-level, instrumented TCP/UDP socket lab.
#[derive(Debug, Parser)]
#[command(name = "ardei-lab", version, about, propagate_version = true)]
pub struct Cli {
    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less log output: warnings and errors only.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
// Parsed once per run: the client's many flags make its variant the
// largest, and boxing it would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve echo, file and stream requests.
    Server(ServerArgs),
    /// Ask a server for an echo, a file or a stream, or start the prompt.
    Client(ClientArgs),
    /// What a payload costs on the wire, layer by layer (a model, no traffic).
    Overhead(OverheadArgs),
    /// Read packet captures (any pcap or pcapng).
    #[command(subcommand)]
    Pcap(PcapCommand),
    /// The tour: a server and a client on loopback, every mode, with reports.
    Demo,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff); `ardei-lab man | man -l -` shows it.
    Man,
}

/// `ardei-lab pcap …`.
#[derive(Debug, Subcommand)]
pub enum PcapCommand {
    /// Frames and bytes per flow and per layer, retransmissions, checksums.
    Summary {
        /// The capture: pcap or pcapng, ours, tcpdump's or Wireshark's.
        file: PathBuf,
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Draw one TCP flow of a capture as a time-sequence graph (SVG).
    Plot {
        /// The capture: pcap or pcapng, ours, tcpdump's or Wireshark's.
        file: PathBuf,
        /// Write the time-sequence graph here: sequence number against
        /// time, the ACK line and the receive window, retransmissions
        /// marked, as tcptrace and Wireshark's Stevens graph draw it.
        #[arg(long, value_name = "OUT.svg", required = true)]
        tsg: PathBuf,
        /// The flow to draw: its number, from 1, in the order `pcap summary`
        /// lists flows (default: the TCP flow carrying the most data).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        flow: Option<u32>,
    },
}

/// Link kinds for `overhead --link`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LinkArg {
    /// A real NIC: preamble, SFD, header, FCS, padding, inter-frame gap.
    Ethernet,
    /// Linux lo as a capture shows it: a 14-byte header and nothing else.
    Loopback,
    /// IP packets only.
    Raw,
}

/// `ardei-lab overhead`.
#[derive(Debug, Args)]
pub struct OverheadArgs {
    /// Application payload in bytes (64K, 1M… allowed).
    #[arg(value_name = "PAYLOAD_BYTES", value_parser = parse_size)]
    pub payload: u64,
    /// Model TCP (the default).
    #[arg(long, conflicts_with = "udp")]
    pub tcp: bool,
    /// Model UDP: the payload is one datagram, fragmented if it exceeds the MTU.
    #[arg(long)]
    pub udp: bool,
    /// IPv4 (the default).
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// IPv6.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// The link MTU (default: 1500 on ethernet, 65536 on loopback).
    #[arg(long, value_name = "N")]
    pub mtu: Option<u32>,
    /// The link kind.
    #[arg(long, value_enum, default_value = "ethernet")]
    pub link: LinkArg,
    /// Add an 802.1Q VLAN tag (ethernet only).
    #[arg(long)]
    pub vlan: bool,
    /// TCP without the timestamps option (12 bytes more payload per segment).
    #[arg(long)]
    pub no_tcp_timestamps: bool,
    /// Link speed for the goodput and frame-rate ceilings (100M, 1G, 10G…).
    #[arg(long, value_name = "BITRATE", value_parser = crate::units::parse_bitrate, default_value = "1G")]
    pub speed: u64,
    /// TCP data segments per pure ACK from the receiver (0: count no ACKs).
    #[arg(long, value_name = "N", default_value_t = crate::wire::tcp::DEFAULT_ACK_EVERY)]
    pub ack_every: u32,
    /// Leave out the TCP handshake and teardown frames.
    #[arg(long)]
    pub no_handshake: bool,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Where to find the endpoint: hosts file, pick, family.
#[derive(Debug, Args, Clone)]
pub struct Endpoint {
    /// Use IPv4 (the first IPv4 entry of hosts.txt).
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Use IPv6 (the first IPv6 entry of hosts.txt).
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// The hosts file (default: ./hosts.txt, else 127.0.0.1 5005 and [::1]:5005).
    #[arg(long, value_name = "FILE")]
    pub hosts: Option<PathBuf>,
    /// Take the N-th entry (from 1) of the hosts file for the chosen family.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub pick: Option<u64>,
}

/// Socket options shared by server and client.
#[derive(Debug, Args, Clone)]
pub struct SocketArgs {
    /// Use TCP (the default).
    #[arg(long, conflicts_with = "udp")]
    pub tcp: bool,
    /// Use UDP.
    #[arg(long)]
    pub udp: bool,
    /// SO_SNDBUF in bytes (64K, 1M…); the kernel doubles it.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub sndbuf: Option<u64>,
    /// SO_RCVBUF in bytes (64K, 1M…); the kernel doubles it.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub rcvbuf: Option<u64>,
    /// Turn Nagle's algorithm off (TCP_NODELAY).
    #[arg(long)]
    pub nodelay: bool,
    /// Pin the process (and every thread it starts) to CPU N, as iperf3's -A.
    #[arg(long, value_name = "N")]
    pub cpu: Option<usize>,
    /// TCP maximum segment size (TCP_MAXSEG), 88 to 32767 bytes, set before the handshake.
    #[arg(long, value_name = "BYTES", value_parser = parse_mss)]
    pub mss: Option<u32>,
}

/// `ardei-lab server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Where the server listens.
    #[command(flatten)]
    pub endpoint: Endpoint,
    /// Listen on ADDR:PORT instead of the hosts file's entry (port 0: any free port).
    #[arg(long, value_name = "ADDR:PORT")]
    pub bind: Option<String>,
    /// Socket options.
    #[command(flatten)]
    pub socket: SocketArgs,
    /// Most sessions (TCP connections, UDP transfers) at once from one
    /// client address; more are refused with a busy error naming the cap.
    #[arg(long, value_name = "N", default_value_t = crate::server::DEFAULT_MAX_PER_CLIENT as u64,
          value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub max_per_client: u64,
    /// The longest timed transfer (-t) a client may ask for.
    #[arg(long, value_name = "DUR", value_parser = parse_positive_duration, default_value = "60s")]
    pub max_time: Duration,
    /// Mark what the server sends with DSCP N (0 to 63): IP_TOS or
    /// IPV6_TCLASS on the listener and every socket it serves from.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=63))]
    pub dscp: Option<u8>,
    /// Serve one client, then exit. Over UDP: once the first session (of
    /// any kind) has ended, a transfer at its End, an echo run with the
    /// answer to its last request, a text session after --idle-timeout
    /// without a datagram.
    #[arg(long)]
    pub once: bool,
    /// Largest file served, bytes.
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "123456789")]
    pub max_file: u64,
    /// Most segments in one stream.
    #[arg(long, value_name = "N", default_value_t = crate::proto::limits::DEFAULT_MAX_SEGMENTS)]
    pub max_segments: u32,
    /// Most sessions at once; more are refused with a busy error.
    #[arg(long, value_name = "N", default_value_t = crate::server::DEFAULT_MAX_SESSIONS as u64,
          value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub max_sessions: u64,
    /// Close a session that sends and receives nothing for this long (a UDP
    /// text session, which has no end message, ends this way; so does a UDP
    /// echo run whose last request was lost).
    #[arg(long, value_name = "DUR", value_parser = parse_positive_duration, default_value = "30s")]
    pub idle_timeout: Duration,
    /// Send streams at normal priority. By default the sender of a stream
    /// with an interval of 1 ms or more asks for SCHED_FIFO while it runs
    /// (as root or with CAP_SYS_NICE), so that a busy machine does not wake
    /// it late.
    #[arg(long)]
    pub no_realtime: bool,
    /// Busy-poll every receive instead of blocking: lower echo latency, at
    /// the cost of a whole CPU core per TCP session (each session thread
    /// spins on its socket; --max-sessions bounds how many cores that takes),
    /// or one core for the UDP receive loop, all the time. Pair it with --cpu N.
    #[arg(long)]
    pub spin: bool,
    /// UDP: receive without UDP GRO (one datagram per recvmmsg slot), to
    /// compare: by default the server's socket has UDP_GRO, so an upload's
    /// datagrams may come up several to a buffer.
    #[arg(long, requires = "udp")]
    pub no_gro: bool,
    /// One JSON object per session on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write a model capture of every session: the frames the lab meant to
    /// send, from its own events (pcapng; a .pcap name gives classic pcap).
    /// A bare file name goes into captures/.
    #[arg(long, value_name = "PATH")]
    pub pcap: Option<PathBuf>,
    /// Capture the real packets of every session live (AF_PACKET; needs root
    /// or CAP_NET_RAW), on IFACE or the interface that carries the bind
    /// address; written beside --pcap or under captures/.
    #[arg(long, value_name = "IFACE", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub capture: Option<String>,
}

/// `ardei-lab client`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The server, HOST:PORT or [V6]:PORT (default: the hosts file's first entry).
    #[arg(value_name = "TARGET")]
    pub target: Option<String>,
    /// Where the server is.
    #[command(flatten)]
    pub endpoint: Endpoint,
    /// Echo TEXT: round trips, with their times.
    #[arg(long, value_name = "TEXT", group = "action")]
    pub echo: Option<String>,
    /// Ask for a file of N bytes, verified byte by byte.
    #[arg(long, value_name = "N", value_parser = parse_size, group = "action")]
    pub file: Option<u64>,
    /// Ask for a stream of segments, one every DUR (5ms, 250us; bare number: ms).
    #[arg(long, value_name = "DUR", value_parser = parse_positive_duration, group = "action")]
    pub stream: Option<Duration>,
    /// Run the transfer for DUR instead of a size (10s, 500ms); with --file,
    /// whichever comes first. Without --file: a timed file transfer.
    #[arg(short = 't', long = "time", value_name = "DUR", value_parser = parse_positive_duration)]
    pub time: Option<Duration>,
    /// UDP: find the fastest rate that loses nothing (RFC 2544 §26.1): timed
    /// downloads (or uploads) at rates found by binary search, from the
    /// unpaced rate down, to 1 % of the rate. --file N caps each trial.
    #[arg(long)]
    pub find_rate: bool,
    /// Responsiveness under load (RPM, draft-ietf-ippm-responsiveness): an
    /// idle phase, then each of --phases for -t DUR (default 10s) with TCP
    /// load flows (-P N, or added each second until goodput is stable) and
    /// latency probes beside them: new connections, an echo, a UDP echo.
    #[arg(long, group = "action")]
    pub rpm: bool,
    /// With --rpm: the loaded phases, in order (down, up, bidir; default all three).
    #[arg(long, value_name = "LIST", value_delimiter = ',', requires = "rpm")]
    pub phases: Vec<String>,
    /// With --find-rate: how long each trial sends (default 2s).
    #[arg(long, value_name = "DUR", value_parser = parse_positive_duration, requires = "find_rate")]
    pub trial: Option<Duration>,
    /// With --find-rate: the most loss a passing trial may have, percent
    /// (0 to 100, default 0: none).
    #[arg(long, value_name = "PCT", value_parser = parse_percent, requires = "find_rate")]
    pub loss_target: Option<f64>,
    /// With --find-rate: receive at normal priority. By default the
    /// receiving thread of a downloading search asks for SCHED_FIFO while
    /// the trials run (root or CAP_SYS_NICE, two CPUs or more), so that a
    /// moment's preemption of the receiver does not fail a trial.
    #[arg(long, requires = "find_rate")]
    pub no_realtime: bool,
    /// Send the file to the server instead (it verifies every byte and
    /// returns its figures).
    #[arg(long)]
    pub upload: bool,
    /// Download and upload at once, on separate connections (TCP) or
    /// sessions (UDP): N each with -P N.
    #[arg(long, conflicts_with = "upload")]
    pub bidir: bool,
    /// Run N flows at once (1 to 128), each on its own connection or
    /// session and thread, each verified; per-flow and summed figures.
    #[arg(short = 'P', long = "parallel", value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=128))]
    pub parallel: u32,
    /// TCP congestion control for every sending socket (TCP_CONGESTION):
    /// one of /proc/sys/net/ipv4/tcp_available_congestion_control.
    #[arg(short = 'C', long = "congestion", value_name = "ALGO")]
    pub congestion: Option<String>,
    /// Mark every packet of the flow, both ways, with DSCP N (0 to 63).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=63))]
    pub dscp: Option<u8>,
    /// ECN: UDP datagrams leave ECT(0) both ways and the receiver counts
    /// the ECN field of each; TCP asks for ECN and reports whether it was
    /// negotiated.
    #[arg(long)]
    pub ecn: bool,
    /// Round trips (echo, default 1) or segments (stream, default 100; without
    /// an action, of the prompt's streams).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub count: Option<u32>,
    /// Time between echo requests (default: back to back).
    #[arg(long, value_name = "DUR", value_parser = parse_duration, requires = "echo")]
    pub interval: Option<Duration>,
    /// Whole size of each stream segment in bytes, lab header included
    /// (default 64); without an action, the size of the prompt's streams.
    #[arg(long, value_name = "BYTES", value_parser = parse_size_u32)]
    pub size: Option<u32>,
    /// Echo: wait for each reply in a busy-poll loop (non-blocking recv, tried
    /// again and again) instead of a blocking read: lower latency, at the cost
    /// of one CPU core at 100 % for the whole run. Pair it with --cpu N.
    #[arg(long)]
    pub spin: bool,
    /// Echo (TCP or UDP): read the kernel's timestamps (SO_TIMESTAMPING) of
    /// the requests and replies and split each round trip into network,
    /// server, send path and wake-up. Stream (TCP or UDP): each segment's
    /// kernel-to-kernel one-way delay, with the clock offset that stamped
    /// echoes before and after it estimate. Off by default: the stamps
    /// still cost a fifth or more of a loopback round trip.
    #[arg(long, conflicts_with = "no_timestamps")]
    pub timestamps: bool,
    /// Echo: plain EchoRequests, the round trip alone (the default), to
    /// compare what --timestamps costs.
    #[arg(long)]
    pub no_timestamps: bool,
    /// Echo with --timestamps: also stamp each request as it enters the
    /// client's queueing discipline (TX_SCHED), which splits the send path
    /// into the stack before the queue and the queue itself (the qdisc
    /// row). Each request then leaves two stamps to read instead of one.
    #[arg(long, requires = "timestamps")]
    pub stamp_qdisc: bool,
    /// Write the file to stdout (reports go to stderr; stdout then holds the
    /// file alone, so --json and --json-stream do not go with it).
    #[arg(long, requires = "file", conflicts_with_all = ["json", "json_stream"])]
    pub print_file: bool,
    /// File: the server's pace in bit/s of payload (100M, 1G; 0: as fast as it
    /// can). UDP default 1G; TCP default 0, and a TCP pace is kept by the
    /// server's writes and the kernel's TCP pacing (SO_MAX_PACING_RATE).
    #[arg(long, value_name = "BITRATE", value_parser = crate::units::parse_bitrate)]
    pub rate: Option<u64>,
    /// UDP: silence that ends a file or stream when no End message arrives
    /// (default 2s), and the wait for each echo (default 1s). TCP: the wait
    /// for each reply and each read (default 30s).
    #[arg(long, value_name = "DUR", value_parser = parse_positive_duration)]
    pub recv_timeout: Option<Duration>,
    /// UDP file: the whole UDP payload per datagram, lab header included (default: what fits the path MTU).
    #[arg(long, value_name = "BYTES", value_parser = parse_size_u32, requires = "udp")]
    pub segment_size: Option<u32>,
    /// UDP: let IP fragment datagrams larger than the path MTU (don't-fragment off).
    #[arg(long, requires = "udp")]
    pub fragment: bool,
    /// UDP: one datagram per system call both ways: the server sends each
    /// with its own sendto (no UDP GSO) and the client receives each with
    /// its own recv (no recvmmsg), for comparison with the batched default.
    #[arg(long, requires = "udp", conflicts_with = "gro")]
    pub no_gso: bool,
    /// UDP: UDP GRO on at the client, so the kernel may hand up several
    /// datagrams in one buffer (cut apart again by the client). The default
    /// where the kernel has UDP_GRO; the flag is kept for older command lines.
    #[arg(long, requires = "udp", conflicts_with = "no_gro")]
    pub gro: bool,
    /// UDP: receive a download without UDP GRO (recvmmsg, one datagram per
    /// slot), to compare. An upload's receiver is the server: `server --no-gro`.
    #[arg(long, requires = "udp")]
    pub no_gro: bool,
    /// Socket options.
    #[command(flatten)]
    pub socket: SocketArgs,
    /// One JSON object on stdout at the end.
    #[arg(long, conflicts_with = "json_stream")]
    pub json: bool,
    /// Report every DUR while the action runs: bytes, goodput, wire rate,
    /// retransmissions (TCP) or loss (UDP), as iperf3's -i does.
    #[arg(short = 'i', long = "interval-report", value_name = "DUR", value_parser = parse_duration)]
    pub interval_report: Option<Duration>,
    /// One JSON line per interval (with -i) as it ends, and a last line with
    /// the summary.
    #[arg(long)]
    pub json_stream: bool,
    /// Write a model capture: the frames the lab meant to send and received,
    /// from its own events (pcapng with a comment per frame; a .pcap name
    /// gives classic pcap). A bare file name goes into captures/.
    #[arg(long, value_name = "PATH")]
    pub pcap: Option<PathBuf>,
    /// Capture the flow's real packets live (AF_PACKET; needs root or
    /// CAP_NET_RAW), on IFACE or the interface that carries the flow
    /// (lo for loopback); written beside --pcap or under captures/.
    #[arg(long, value_name = "IFACE", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub capture: Option<String>,
    /// Echo and stream: write the latency histogram in HdrHistogram's
    /// percentile-distribution text format (µs), for its plotter.
    #[arg(long, value_name = "PATH")]
    pub hgrm: Option<PathBuf>,
    /// Draw an SVG: a latency percentile curve (echo, stream) or goodput
    /// over time (file).
    #[arg(long, value_name = "PATH.svg")]
    pub plot: Option<PathBuf>,
    /// The timeline and its flags.
    #[command(flatten)]
    pub timeline: TimelineArgs,
}

/// The timeline of a TCP file transfer: each flow's `TCP_INFO` and a
/// queue's backlog, sampled on one clock. Any of these flags turns it on.
#[derive(Debug, Args, Clone, Default)]
pub struct TimelineArgs {
    /// TCP file transfer: sample every flow's TCP_INFO (cwnd, RTT,
    /// delivery and pacing rates, retransmissions, bytes in flight) and
    /// its goodput every 10 ms, as `timeline` in the JSON.
    #[arg(long)]
    pub timeline: bool,
    /// The timeline, sampled every DUR (1ms at least; turns it on).
    #[arg(long, value_name = "DUR", value_parser = parse_positive_duration)]
    pub sample: Option<Duration>,
    /// Add a queue to the timeline: the root qdisc of interface IFACE in
    /// network namespace NETNS (its backlog and drops), and check the RTTs
    /// against it (`queue_check`). Needs root; turns the timeline on.
    #[arg(long, value_name = "NETNS:IFACE")]
    pub qdisc: Option<String>,
    /// Draw the timeline as an SVG: goodput, RTT, cwnd and the queue on one
    /// time axis (turns the timeline on).
    #[arg(long, value_name = "OUT.svg")]
    pub plot_timeline: Option<PathBuf>,
}

/// A percentage, 0 to 100 (`0.5`, `1`, `2%`).
fn parse_percent(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{s:?} is not a percentage (0 to 100)"))?;
    if (0.0..=100.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s} is outside 0..=100 (a percentage)"))
    }
}
