//! The TCP server: a listener, an accept loop, one thread per session, a cap
//! on sessions, and a clean shutdown.
//!
//! Each session runs on its own thread with read and write timeouts of
//! `--idle-timeout`, so a slow, stuck or hostile client holds only its own
//! thread and is cut when it stops moving. Beyond `--max-sessions` a new
//! connection gets a Busy error and is closed, and so is one beyond
//! `--max-per-client` from the same client address. On stop (SIGINT/SIGTERM) the
//! server stops accepting, shuts the read side of every session so that each
//! finishes the reply it is sending, waits [`super::SHUTDOWN_GRACE`], then
//! closes whatever is left.
//!
//! With `--spin`, each session thread busy-polls its socket instead of
//! blocking in `recv` (see [`crate::net::spin`]): it still sees the client
//! close (a receive of 0 bytes), the idle timeout (the clock, read every
//! few dozen tries) and the stop (the flag, and the read side shut as
//! above), but it keeps one CPU core at 100 % for as long as the session
//! lasts, so `--max-sessions` is also the most cores it can take.
//!
//! With a model capture (`--pcap`), each session is one flow in it, its
//! handshake written at accept with the segment size and options the kernel
//! negotiated.

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::record::Recorder;
use super::session::{self, SessionStats};
use super::{SHUTDOWN_GRACE, ServerConfig};
use crate::account::beside;
use crate::instruments::{FlowModel, Handshake, ModelFile};
use crate::net::framed::Spin;
use crate::net::socket::tcp_listen;
use crate::net::tcpinfo::TcpInfo;
use crate::net::{Applied, Framed, NetError};
use crate::proto::{ErrorCode, Message, codec};
use crate::wire::IpVersion;

/// How often the accept loop looks at the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(100);
/// Stack of a session thread: sessions keep their buffers on the heap.
const SESSION_STACK: usize = 256 * 1024;

/// A bound TCP server, ready to serve.
#[derive(Debug)]
pub struct TcpServer {
    listener: TcpListener,
    config: ServerConfig,
    applied: Applied,
    local: SocketAddr,
}

struct Shared {
    config: ServerConfig,
    active: AtomicUsize,
    sessions: Mutex<HashMap<u64, TcpStream>>,
    /// Sessions running per client address.
    per_client: Mutex<HashMap<IpAddr, usize>>,
}

impl TcpServer {
    /// Binds the listener with the configured options. With `--dscp` the
    /// listener is marked before it listens, so its SYN-ACKs carry the
    /// marking and every accepted connection inherits it.
    pub fn bind(mut config: ServerConfig) -> Result<TcpServer, NetError> {
        config.limits.max_time = config.max_time;
        if let Some(d) = config.dscp {
            config.opts.tos = Some(d << 2);
            say_reflection(d);
        }
        let (listener, applied) = tcp_listen(config.bind, &config.opts)?;
        let local = listener.local_addr().map_err(|source| NetError::Option {
            name: "getsockname",
            source,
        })?;
        socket2::SockRef::from(&listener)
            .set_read_timeout(Some(ACCEPT_POLL))
            .map_err(|source| NetError::Option {
                name: "SO_RCVTIMEO",
                source,
            })?;
        Ok(TcpServer {
            listener,
            config,
            applied,
            local,
        })
    }

    /// The address the server listens on (with the real port when bound to 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The listener's options as the kernel applied them.
    pub fn applied(&self) -> Applied {
        self.applied.clone()
    }

    /// Records every session in `model` (the `--pcap` file), or none.
    pub fn record_to(&mut self, model: Option<ModelFile>) {
        self.config.model = model;
    }

    /// Serves until `stop` is set (or after one client with `--once`).
    pub fn serve(self, stop: Arc<AtomicBool>) {
        let shared = Arc::new(Shared {
            config: self.config,
            active: AtomicUsize::new(0),
            sessions: Mutex::new(HashMap::new()),
            per_client: Mutex::new(HashMap::new()),
        });
        let next_id = AtomicU64::new(1);
        let mut handles = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let (stream, peer) = match self.listener.accept() {
                Ok(x) => x,
                Err(e) if crate::net::nothing_came(&e) => {
                    handles.retain(|h: &std::thread::JoinHandle<()>| !h.is_finished());
                    continue;
                }
                Err(e) => {
                    // Out of file descriptors and the like: say so, back off, go on.
                    tracing::warn!("accept failed: {e}");
                    std::thread::sleep(ACCEPT_POLL);
                    continue;
                }
            };
            if shared.active.load(Ordering::SeqCst) >= shared.config.max_sessions {
                let max = shared.config.max_sessions;
                refuse_busy(
                    stream,
                    peer,
                    &format!("{max} sessions at once (--max-sessions)"),
                );
                continue;
            }
            if !shared.take_client_slot(peer.ip()) {
                let max = shared.config.max_per_client;
                let why = format!(
                    "{max} sessions at once from {} (--max-per-client)",
                    peer.ip()
                );
                refuse_busy(stream, peer, &why);
                continue;
            }
            let id = next_id.fetch_add(1, Ordering::Relaxed);
            match spawn_session(&shared, stream, peer, id, &stop) {
                Ok(h) => handles.push(h),
                Err(e) => {
                    shared.release_client_slot(peer.ip());
                    tracing::warn!("session {id} from {peer}: cannot start a thread: {e}");
                }
            }
            if shared.config.once {
                break;
            }
        }
        if shared.config.once && !stop.load(Ordering::Relaxed) {
            for h in handles.drain(..) {
                let _ = h.join();
            }
        }
        drop(self.listener);
        shutdown_sessions(&shared);
        for h in handles {
            let _ = h.join();
        }
    }
}

impl Shared {
    /// Counts a new session from `ip`, unless it already has
    /// `--max-per-client` running.
    fn take_client_slot(&self, ip: IpAddr) -> bool {
        let Ok(mut map) = self.per_client.lock() else {
            return true;
        };
        let n = map.entry(ip).or_insert(0);
        if *n >= self.config.max_per_client {
            return false;
        }
        *n += 1;
        true
    }

    /// Gives back the slot of a session from `ip` that has ended.
    fn release_client_slot(&self, ip: IpAddr) {
        if let Ok(mut map) = self.per_client.lock() {
            if let Some(n) = map.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    map.remove(&ip);
                }
            }
        }
    }
}

/// Says whether the kernel marks SYN-ACKs with the server's `--dscp` or
/// with the client's SYN's own (`net.ipv4.tcp_reflect_tos`).
fn say_reflection(dscp: u8) {
    match crate::net::marking::tcp_reflect_tos() {
        Some(true) => tracing::info!(
            "net.ipv4.tcp_reflect_tos is on: the kernel answers each SYN with the SYN's own marking and the connection keeps it, so --dscp {dscp} marks only what a client leaves unmarked"
        ),
        Some(false) => tracing::info!(
            "--dscp {dscp}: the listener, its SYN-ACKs and every accepted connection are marked (net.ipv4.tcp_reflect_tos is off)"
        ),
        None => tracing::info!(
            "--dscp {dscp}: the listener, its SYN-ACKs and every accepted connection are marked (this kernel has no net.ipv4.tcp_reflect_tos)"
        ),
    }
}

/// Tells `peer` the server is busy (`why`: which cap it is at), and closes.
fn refuse_busy(stream: TcpStream, peer: SocketAddr, why: &str) {
    tracing::warn!("refused {peer}: busy, {why}");
    let msg = Message::error(
        ErrorCode::Busy,
        format!("the server is busy: {why}; try again later"),
    );
    if let Ok(bytes) = codec::to_vec(&msg) {
        // Never let a refusal block the accept loop.
        let _ = stream.set_nonblocking(true);
        let _ = (&stream).write_all(&bytes);
    }
}

fn spawn_session(
    shared: &Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    stop: &Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let idle = shared.config.idle_timeout;
    stream.set_read_timeout(Some(idle))?;
    stream.set_write_timeout(Some(idle))?;
    let registered = stream.try_clone()?;
    shared.active.fetch_add(1, Ordering::SeqCst);
    if let Ok(mut map) = shared.sessions.lock() {
        map.insert(id, registered);
    }
    let shared2 = Arc::clone(shared);
    let stop = Arc::clone(stop);
    let spawned = std::thread::Builder::new()
        .name(format!("session-{id}"))
        .stack_size(SESSION_STACK)
        .spawn(move || run_session(&shared2, stream, peer, id, stop));
    if spawned.is_err() {
        shared.active.fetch_sub(1, Ordering::SeqCst);
        if let Ok(mut map) = shared.sessions.lock() {
            map.remove(&id);
        }
    }
    spawned
}

fn run_session(
    shared: &Shared,
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    stop: Arc<AtomicBool>,
) {
    let applied = crate::net::socket::applied_of(&stream).unwrap_or_default();
    tracing::info!(
        "session {id} from {peer}: start ({}{})",
        applied.describe(&shared.config.opts),
        if shared.config.spin {
            "; busy-poll receive"
        } else {
            ""
        }
    );
    let mut stats = SessionStats {
        session: id,
        peer: peer.to_string(),
        ..SessionStats::default()
    };
    let before = TcpInfo::read(&stream).unwrap_or_default();
    let mut model = shared
        .config
        .model
        .as_ref()
        .map(|file| flow_model(file, &stream, peer, &before, &shared.config));
    let mut rec = Recorder::new(model.as_mut());
    let mut conn = Framed::new(stream);
    if shared.config.spin {
        conn.set_spin(Some(Spin {
            wait: shared.config.idle_timeout,
            stop: Some(Arc::clone(&stop)),
        }));
    }
    session::serve(
        &mut conn,
        &shared.config.limits,
        &shared.active,
        &stop,
        &mut stats,
        &mut rec,
    );
    if let Some(e) = rec.error() {
        tracing::warn!("session {id} from {peer}: the model capture stopped recording it: {e}");
    }
    if !stats.shapes.is_empty() {
        let after = TcpInfo::read(conn.stream()).unwrap_or_default();
        let (mtu, seg) = beside::tcp_segment(&after, peer.is_ipv6(), shared.config.opts.mss);
        let ip = if peer.is_ipv6() {
            IpVersion::V6
        } else {
            IpVersion::V4
        };
        let link = beside::link_for(peer.ip().is_loopback());
        let o = beside::tcp(
            &stats.shapes,
            ip,
            link,
            mtu,
            seg,
            &after.since(&before),
            stats.seconds,
        );
        tracing::info!(
            "session {id} from {peer}: on the wire ({}): model {} frames, {} bytes; kernel {} frames, {} bytes, {} retransmitted",
            o.link,
            o.model.frames,
            o.model.wire_bytes,
            o.kernel.frames,
            o.kernel.wire_bytes,
            o.kernel.retransmissions
        );
        stats.overhead = Some(o);
    }
    tracing::info!(
        "session {id} from {peer}: end after {:.3} s, {} requests ({} refused), {} bytes out: {}",
        stats.seconds,
        stats.requests,
        stats.refused,
        stats.bytes_out,
        stats.end
    );
    if shared.config.json {
        stats.print_json();
    }
    let _ = conn.stream().shutdown(std::net::Shutdown::Both);
    if let Ok(mut map) = shared.sessions.lock() {
        map.remove(&id);
    }
    shared.release_client_slot(peer.ip());
    shared.active.fetch_sub(1, Ordering::SeqCst);
}

/// The session's flow in the model capture, its handshake written: segments
/// of the payload the kernel sends with (`TCP_INFO`'s `snd_mss`), with the
/// timestamps option if the handshake negotiated it.
fn flow_model(
    file: &ModelFile,
    stream: &TcpStream,
    peer: SocketAddr,
    info: &TcpInfo,
    config: &ServerConfig,
) -> FlowModel {
    let local = stream.local_addr().unwrap_or(config.bind);
    let payload = if info.snd_mss > 0 {
        info.snd_mss
    } else {
        beside::tcp_segment(info, peer.is_ipv6(), config.opts.mss).1
    };
    let seen = Handshake {
        rtt_us: info.rtt_us,
        client: false,
    };
    FlowModel::tcp(file, peer, local, payload, info.timestamps, seen)
}

fn shutdown_sessions(shared: &Shared) {
    let close = |how| {
        if let Ok(map) = shared.sessions.lock() {
            for s in map.values() {
                let _ = s.shutdown(how);
            }
        }
    };
    close(std::net::Shutdown::Read);
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    while shared.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    close(std::net::Shutdown::Both);
}
