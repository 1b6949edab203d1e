//! `ardei-lab server`: listens, accepts, and serves each client in a session
//! of its own.
//!
//! - [`tcp`]: the listener, the accept loop, the session cap and shutdown.
//! - [`session`]: the loop that drives one client's conversation (framed
//!   or plain text, [`crate::session::tcp::ServerSession`]) over its socket.
//! - [`udp`]: the UDP server's driver: one socket and one receive loop
//!   around the pure endpoint of [`crate::session::udp::server`], and a
//!   thread per transfer.
//! - [`record`]: the model capture of sessions and datagrams (`--pcap`),
//!   and the live capture around a run (`--capture`).

pub mod record;
pub mod session;
pub mod tcp;
pub mod udp;

use std::net::SocketAddr;
use std::time::Duration;

use crate::instruments::ModelFile;
use crate::net::SockOpts;
use crate::proto::Limits;

/// Default most sessions at once.
pub const DEFAULT_MAX_SESSIONS: usize = 1024;
/// Default most sessions at once from one client address.
pub const DEFAULT_MAX_PER_CLIENT: usize = 128;
/// Default longest timed transfer a client may ask for.
pub const DEFAULT_MAX_TIME: Duration = Duration::from_secs(60);
/// Default time a session may sit idle (no bytes in or out) before it is cut.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a shutdown waits for sessions to finish what they are doing.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A validated server configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen.
    pub bind: SocketAddr,
    /// Socket options for the listener and every accepted socket.
    pub opts: SockOpts,
    /// What the server refuses.
    pub limits: Limits,
    /// Most sessions at once; more are refused with a Busy error.
    pub max_sessions: usize,
    /// Most sessions at once from one client address (TCP connections,
    /// UDP transfers); more are refused with a Busy error.
    pub max_per_client: usize,
    /// The longest timed transfer a client may ask for (`--max-time`);
    /// the TCP server puts it in its [`Limits`].
    pub max_time: Duration,
    /// `--dscp N`: the marking of everything the server sends. The TCP
    /// server marks its listener (its SYN-ACKs) and so every connection.
    pub dscp: Option<u8>,
    /// A session with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Serve one client, then exit.
    pub once: bool,
    /// Print one JSON object per session on stdout.
    pub json: bool,
    /// The model capture every session is recorded in (`--pcap`).
    pub model: Option<ModelFile>,
    /// Busy-poll every receive (`--spin`): each TCP session thread, or the
    /// UDP receive loop, keeps one CPU core at 100 % while it waits.
    pub spin: bool,
    /// Receive UDP with UDP GRO where the kernel has it (not `--no-gro`).
    pub gro: bool,
}

impl ServerConfig {
    /// A configuration with the defaults, listening on `bind`.
    pub fn new(bind: SocketAddr) -> ServerConfig {
        ServerConfig {
            bind,
            opts: SockOpts::default(),
            limits: Limits::default(),
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_per_client: DEFAULT_MAX_PER_CLIENT,
            max_time: DEFAULT_MAX_TIME,
            dscp: None,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            once: false,
            json: false,
            model: None,
            spin: false,
            gro: true,
        }
    }
}
