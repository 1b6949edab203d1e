//! `ardei-lab client`: asks a server for an echo, a file or a stream, measures
//! what comes back, and reports it.
//!
//! - [`tcp`]: the three actions over a TCP connection, and a transfer
//!   either way, sized or timed.
//! - [`udp`]: the three actions over UDP, with exact loss accounting.
//! - [`one_way`]: what a stamped stream does alike over both: the stamped
//!   echoes around it and its `timestamps` object.
//! - [`report`]: what a run measured, as text for people and JSON for programs.
//! - [`prompt`]: the interactive prompt.
//! - [`interrupt`]: SIGINT and SIGTERM: a sentence, the JSON error, status 130 or 143.
//! - [`record`]: the model and live captures around a connection.
//! - [`ticker`]: interval reports and the progress bar while an action runs;
//!   [`probe`]: a flow's running totals for the thread that samples several.
//! - [`transfer`]: which way a file goes, how much and for how long, and
//!   the one place that picks the exchange that carries it.
//! - [`flows`]: several flows at once (`-P N`, `--bidir`), each its own
//!   client on its own thread, and their sums.
//! - [`find_rate`]: the trials of `--find-rate`, run at the pace the
//!   search of [`crate::rate_search`] asks.
//! - [`rpm`]: `--rpm`, responsiveness under load: load flows in phases
//!   and latency probes beside them, as [`crate::responsiveness`] says.
//! - [`timeline`]: `--timeline` sampled around a transfer's sockets.

pub mod find_rate;
pub mod flows;
pub mod interrupt;
pub mod one_way;
pub mod probe;
pub mod prompt;
pub mod record;
pub mod report;
pub mod rpm;
pub mod tcp;
pub mod ticker;
pub mod timeline;
pub mod transfer;
pub mod udp;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::content::Mismatch;
use crate::net::{NetError, SockOpts};
use crate::proto::ErrorCode;

/// Default number of echo round trips.
pub const DEFAULT_ECHO_COUNT: u32 = 1;
/// Default number of stream segments.
pub const DEFAULT_STREAM_COUNT: u32 = 100;
/// Default stream segment size, whole message, header included.
pub const DEFAULT_SEGMENT_SIZE: u32 = 64;
/// How long the client waits for a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the client waits for a reply before it gives up.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// One thing to ask the server for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `count` round trips of `data`, one every `interval`.
    Echo {
        /// The bytes to echo.
        data: Vec<u8>,
        /// Round trips.
        count: u32,
        /// Time between sends (0: back to back).
        interval: Duration,
    },
    /// A file of `size` bytes.
    File {
        /// Bytes wanted.
        size: u64,
    },
    /// `count` segments of `size` bytes every `interval`.
    Stream {
        /// Interval between segments.
        interval: Duration,
        /// Segments wanted.
        count: u32,
        /// Whole segment message size.
        size: u32,
    },
}

/// A validated client configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server.
    pub target: SocketAddr,
    /// Socket options.
    pub opts: SockOpts,
    /// Write the file's content to stdout.
    pub print_file: bool,
    /// UDP instead of TCP, with its settings.
    pub udp: Option<UdpSettings>,
    /// `--pcap` and `--capture`.
    pub recording: record::Recording,
    /// What a TCP client needs beyond the socket options (unused over UDP).
    pub tcp: TcpSettings,
    /// `--ecn`: over UDP the datagrams leave ECT(0) and the receiver counts
    /// the ECN field of each; over TCP the report says whether ECN was
    /// negotiated.
    pub ecn: bool,
}

/// What a TCP client needs beyond the socket options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpSettings {
    /// The pace asked of the server for a file, bit/s of payload (0: as
    /// fast as the connection goes).
    pub rate_bps: u64,
    /// The wait for each reply and each read (default [`REPLY_TIMEOUT`]).
    pub recv_timeout: Option<Duration>,
}

/// What a UDP client needs beyond the socket options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpSettings {
    /// Let IP fragment datagrams larger than the path MTU.
    pub fragment: bool,
    /// The server's pace for a file, bit/s (0: as fast as it can).
    pub rate_bps: u64,
    /// Silence that ends a transfer when no End arrives (and the echo wait).
    pub recv_timeout: Option<Duration>,
    /// Whole UDP payload per file datagram.
    pub segment_size: Option<u32>,
    /// One datagram per system call both ways (no GSO, no recvmmsg).
    pub no_gso: bool,
    /// No UDP GRO on the client's socket (`--no-gro`; GRO is the default
    /// where the kernel has it).
    pub no_gro: bool,
}

/// A client over either transport.
#[derive(Debug)]
pub enum Client {
    /// Over TCP.
    Tcp(tcp::TcpClient),
    /// Over UDP.
    Udp(udp::UdpClient, UdpSettings),
}

impl Client {
    /// Connects as the configuration says.
    pub fn connect(config: &ClientConfig) -> Result<Client, ClientError> {
        match config.udp {
            None => {
                let mut c = tcp::TcpClient::connect_recorded(
                    config.target,
                    &config.opts,
                    &config.recording,
                )?;
                c.set_settings(config.tcp);
                c.set_ecn(config.ecn);
                Ok(Client::Tcp(c))
            }
            Some(u) => {
                let opts = crate::net::udp::UdpOpts {
                    sndbuf: config.opts.sndbuf,
                    rcvbuf: config.opts.rcvbuf,
                    fragment: u.fragment,
                };
                let mut c = udp::UdpClient::connect_recorded(
                    config.target,
                    &opts,
                    u.recv_timeout,
                    &config.recording,
                )?;
                c.set_batching(u.no_gso, u.no_gro)?;
                c.set_marking(config.opts.tos, config.ecn)?;
                Ok(Client::Udp(c, u))
            }
        }
    }

    /// `count` echoes of `data`, one every `interval`.
    pub fn echo(
        &mut self,
        data: &[u8],
        count: u32,
        interval: Duration,
    ) -> Result<report::Report, ClientError> {
        match self {
            Client::Tcp(c) => c.echo(data, count, interval),
            Client::Udp(c, _) => c.echo(data, count, interval),
        }
    }

    /// A file of `size` bytes, written to `sink` too if given.
    pub fn file(
        &mut self,
        size: u64,
        sink: Option<&mut dyn std::io::Write>,
    ) -> Result<report::Report, ClientError> {
        match self {
            Client::Tcp(c) => c.file(size, sink),
            Client::Udp(c, u) => c.file(size, None, u.rate_bps, u.segment_size, sink),
        }
    }

    /// Busy-poll the receives of echoes (`--spin`): a whole CPU core spins
    /// while the client waits for each reply.
    pub fn set_spin(&mut self, on: bool) {
        match self {
            Client::Tcp(c) => c.set_spin(on),
            Client::Udp(c, _) => c.set_spin(on),
        }
    }

    /// Stamp echo requests as they enter the queueing discipline too
    /// (`--stamp-qdisc`).
    pub fn set_stamp_qdisc(&mut self, on: bool) {
        match self {
            Client::Tcp(c) => c.set_stamp_qdisc(on),
            Client::Udp(c, _) => c.set_stamp_qdisc(on),
        }
    }

    /// Read the kernel's timestamps of echoes (on unless
    /// `--no-timestamps`).
    pub fn set_timestamps(&mut self, on: bool) {
        match self {
            Client::Tcp(c) => c.set_timestamps(on),
            Client::Udp(c, _) => c.set_timestamps(on),
        }
    }

    /// Stamp the next streams and estimate the clock offset around them
    /// (`--stream --timestamps`).
    pub fn set_stream_timestamps(&mut self, on: bool) {
        match self {
            Client::Tcp(c) => c.set_stream_timestamps(on),
            Client::Udp(c, _) => c.set_stream_timestamps(on),
        }
    }

    /// What to show while an action runs.
    pub fn set_ticker(&mut self, cfg: ticker::TickerConfig) {
        match self {
            Client::Tcp(c) => c.ticker = cfg,
            Client::Udp(c, _) => c.ticker = cfg,
        }
    }

    /// A clone of the TCP connection's socket, for the timeline to read
    /// its `TCP_INFO`; `None` over UDP.
    pub fn tcp_stream(&self) -> Option<std::net::TcpStream> {
        match self {
            Client::Tcp(c) => c.stream_clone().ok(),
            Client::Udp(..) => None,
        }
    }

    /// A way to stop the running action from another thread (TCP: the
    /// connection is shut down); `None` over UDP, whose actions end by
    /// their own timeouts.
    pub fn abort_handle(&self) -> Option<Box<dyn FnOnce() + Send>> {
        match self {
            Client::Tcp(c) => c.abort_handle(),
            Client::Udp(..) => None,
        }
    }

    /// Closes the instruments (model teardown, files flushed); `None`
    /// when none was on. Over TCP with a live capture the connection is
    /// closed first, so the capture holds its teardown as the model does;
    /// the client is then done.
    pub fn finish(&mut self) -> Result<Option<record::CapturesReport>, ClientError> {
        match self {
            Client::Tcp(c) => {
                if c.instruments().capturing() {
                    c.close_and_wait();
                }
                c.instruments().finish()
            }
            Client::Udp(c, _) => c.instruments().finish(),
        }
    }

    /// `count` segments of `size` bytes every `interval`.
    pub fn stream(
        &mut self,
        interval: Duration,
        count: u32,
        size: u32,
    ) -> Result<report::Report, ClientError> {
        match self {
            Client::Tcp(c) => c.stream(interval, count, size),
            Client::Udp(c, _) => c.stream(interval, count, size),
        }
    }
}

/// Why a client action failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `--find-rate`: every trial lost more than the target, the slowest
    /// too; the search's trials with it.
    #[error("{}", .0.result_line())]
    NoRate(Box<report::FindRate>),
    /// Connecting or setting an option failed.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The connection failed.
    #[error("connection to the server failed: {0}")]
    Io(#[from] io::Error),
    /// The server refused the request.
    #[error("the server refused: {message}")]
    Refused {
        /// The server's code.
        code: ErrorCode,
        /// The server's sentence.
        message: String,
    },
    /// The server said something that does not fit the conversation.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Ctrl-C stopped a command at the prompt.
    #[error(
        "interrupted (Ctrl-C): the command was stopped and its connection closed; \
         the next command opens a new one"
    )]
    Interrupted,
    /// A byte of the file was wrong.
    #[error("verification failed: {0}")]
    Verify(#[from] Mismatch),
    /// The server found a wrong byte in an upload.
    #[error(
        "verification failed: the server found a wrong byte in the upload at offset {offset}: {message}"
    )]
    Rejected {
        /// The offset of the wrong byte in the file.
        offset: u64,
        /// The server's sentence.
        message: String,
    },
    /// The file ended early.
    #[error("the file ended after {got} of {expected} bytes")]
    Short {
        /// Bytes expected.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// No reply in time.
    #[error("no reply from the server within {0:?}")]
    Timeout(Duration),
    /// Nothing listens on the server's UDP port (ICMP port unreachable).
    #[error("nothing listens on {addr} ({}); start a server with `ardei-lab server{} --bind {addr}`",
        if *udp { "UDP port unreachable" } else { "connection refused" }, if *udp { " --udp" } else { "" })]
    NoServer {
        /// The server's address.
        addr: SocketAddr,
        /// Whether over UDP.
        udp: bool,
    },
    /// A UDP request went unanswered every time.
    #[error(
        "no answer from {addr} over UDP after {tries} tries: is a server running there? start one with `ardei-lab server --udp --bind {addr}`"
    )]
    NoAnswer {
        /// The server's address.
        addr: SocketAddr,
        /// Requests sent.
        tries: u32,
    },
    /// An upload's bytes went out but the server's figures never came, so
    /// what arrived is unknown.
    #[error(
        "the server's figures did not come after {tries} FileEnds: {datagrams} datagrams ({bytes} bytes of file) were sent, but what arrived, and so the loss, is unknown"
    )]
    NoResults {
        /// FileEnds sent.
        tries: u32,
        /// Datagrams of file sent.
        datagrams: u64,
        /// File bytes sent.
        bytes: u64,
    },
    /// The request cannot be made as asked.
    #[error("{0}")]
    Usage(String),
    /// The server ended a transfer before it had sent what it announced.
    #[error(
        "the server ended the {what} early: it sent {sent} of {planned} {unit} (was it stopped?)"
    )]
    Cut {
        /// "stream" or "file".
        what: &'static str,
        /// What the server says it sent.
        sent: u64,
        /// What it had announced.
        planned: u64,
        /// "segments" or "datagrams".
        unit: &'static str,
    },
    /// `--print-file` could not write the whole file: the output holds its
    /// first `written` bytes, in order, and nothing after them.
    #[error("stdout holds only the first {written} of the file's {size} bytes: {reason}")]
    Incomplete {
        /// Bytes written, from the file's start.
        written: u64,
        /// The file's size.
        size: u64,
        /// Why the rest could not be written.
        reason: String,
    },
    /// Some of several flows failed: what each got, and the worst failure.
    #[error("{0}")]
    Flows(Box<flows::FlowsFailed>),
    /// A capture could not start or finish.
    #[error(transparent)]
    Instrument(#[from] crate::instruments::InstrumentError),
}

impl ClientError {
    /// The process exit status for this failure: 2 a request that cannot be
    /// made as asked, 3 refused by the server, 4 the file did not arrive
    /// whole and verified, 1 anything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            ClientError::Flows(f) => f.worst.exit_code(),
            ClientError::Usage(_) => 2,
            ClientError::Refused { .. } => 3,
            ClientError::Verify(_)
            | ClientError::Rejected { .. }
            | ClientError::Short { .. }
            | ClientError::Incomplete { .. } => 4,
            _ => 1,
        }
    }

    pub(crate) fn from_io(e: io::Error, timeout: Duration) -> ClientError {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ClientError::Timeout(timeout),
            _ => ClientError::Io(e),
        }
    }
}
