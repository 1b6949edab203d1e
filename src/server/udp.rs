//! The UDP server: one socket, one receive loop, and a thread per file or
//! stream transfer.
//!
//! A client's datagrams are told apart by its address and the session id in
//! each header; each session (an echo, a file, a stream, or a text peer) is
//! logged when it starts and when it ends, and with `--json` printed as one
//! JSON object at its end (see [`session`] and [`table`]).
//!
//! Echoes are answered from the receive loop. A file or a stream first
//! needs a valid cookie (see [`crate::proto::cookie`]); then a transfer
//! thread sends it, paced, and ends it with an explicit End message sent
//! three times. A file goes out in batches of datagrams, one UDP GSO
//! send each, unless the client asked otherwise or the kernel refuses GSO. Everything sent to an address that has not shown a
//! cookie stays within 3× what it sent (RFC 9000 §8.1): larger replies are
//! cut (text) or dropped (framed). Garbage, unknown kinds and datagrams that
//! belong to no session are answered with an error, within that budget, or
//! dropped; the loop never stops for them.
//!
//! With `--spin`, the receive loop busy-polls the socket (see
//! [`crate::net::spin`]) instead of blocking in `recvfrom`: one CPU core at
//! 100 % for as long as the server runs. Echoes are answered sooner; the
//! transfer threads are as before.
//!
//! With a model capture (`--pcap`), every datagram received and sent is
//! recorded in its peer's flow (see [`super::record::UdpModels`]); the
//! transfer threads write to the same flow through its lock.
//!
//! With `--once`, the server exits when its first session has ended (a
//! transfer's End, or an echo or text peer quiet for `--idle-timeout`) and
//! no other session is still running.

use std::cell::Cell;
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod session;
mod table;
mod transfer;

use super::ServerConfig;
use super::record::UdpModels;
use crate::content;
use crate::instruments::ModelFile;
use crate::net::NetError;
use crate::net::batch::send_gso;
use crate::net::spin::{self, Polled};
use crate::net::udp::{UdpApplied, UdpOpts, set_dont_fragment, udp_bind};
use crate::pcap::model::Direction;
use crate::proto::cookie::{Budgets, Validator};
use crate::proto::datagram::{
    self, Body, DGRAM_HEADER, DGRAM_SEGMENT_MIN, DgramError, DgramHeader, FLAG_FRAGMENT,
    FLAG_NO_GSO, MAX_UDP_PAYLOAD_V4, MAX_UDP_PAYLOAD_V6,
};
use crate::proto::text::{self, TextReply};
use crate::proto::{ErrorCode, Refusal};
use session::{Finish, Key, Kind, Outcome, Running, Session, Tally};
use transfer::{FileSend, Transfer, run_file, run_stream};

/// How often the receive loop looks at the stop flag and old sessions.
const POLL: Duration = Duration::from_millis(100);
/// How many times an End message is sent.
pub const END_COPIES: u32 = 3;
/// Time between copies of an End message.
pub const END_SPACING: Duration = Duration::from_millis(10);
/// Most addresses whose amplification budget is tracked at once.
const BUDGET_TABLE: usize = 16_384;

/// The socket, shared by the receive loop and the transfer threads.
///
/// Don't-fragment is a socket option, and a transfer may ask for
/// fragmentation (`--fragment`), so every send sets it first if it differs,
/// under one lock.
#[derive(Debug)]
struct Sender {
    sock: UdpSocket,
    v6: bool,
    dont_fragment: Mutex<bool>,
}

impl Sender {
    fn send_to(&self, buf: &[u8], to: SocketAddr, fragment: bool) -> io::Result<usize> {
        let mut df = self.dont_fragment.lock().unwrap_or_else(|p| p.into_inner());
        if *df == fragment {
            set_dont_fragment(&self.sock, self.v6, !fragment)?;
            *df = !fragment;
        }
        self.sock.send_to(buf, to)
    }

    /// Sends `buf` as datagrams of `segment` bytes in one call (UDP GSO),
    /// don't-fragment on: GSO and IP fragmentation do not mix.
    fn send_gso(&self, buf: &[u8], to: SocketAddr, segment: u16) -> io::Result<usize> {
        let mut df = self.dont_fragment.lock().unwrap_or_else(|p| p.into_inner());
        if !*df {
            set_dont_fragment(&self.sock, self.v6, true)?;
            *df = true;
        }
        send_gso(&self.sock, buf, to, segment)
    }
}

/// A bound UDP server, ready to serve.
#[derive(Debug)]
pub struct UdpServer {
    sender: Arc<Sender>,
    config: ServerConfig,
    local: SocketAddr,
    applied: UdpApplied,
}

impl UdpServer {
    /// Binds the socket with the configured buffer sizes and don't-fragment.
    pub fn bind(config: ServerConfig) -> Result<UdpServer, NetError> {
        let opts = UdpOpts {
            sndbuf: config.opts.sndbuf,
            rcvbuf: config.opts.rcvbuf,
            fragment: false,
        };
        let (sock, applied) = udp_bind(config.bind, &opts)?;
        let err = |name| move |source| NetError::Option { name, source };
        let local = sock.local_addr().map_err(err("getsockname"))?;
        sock.set_read_timeout(Some(POLL))
            .map_err(err("SO_RCVTIMEO"))?;
        Ok(UdpServer {
            sender: Arc::new(Sender {
                sock,
                v6: local.is_ipv6(),
                dont_fragment: Mutex::new(true),
            }),
            config,
            local,
            applied,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The socket's options as the kernel applied them.
    pub fn applied(&self) -> UdpApplied {
        self.applied
    }

    /// Records every peer's datagrams in `model` (the `--pcap` file), or none.
    pub fn record_to(&mut self, model: Option<ModelFile>) {
        self.config.model = model;
    }

    /// Serves until `stop` is set (or after one session with `--once`).
    pub fn serve(self, stop: Arc<AtomicBool>) {
        let models = self
            .config
            .model
            .clone()
            .map(|f| UdpModels::new(f, self.local, self.config.max_sessions));
        let mut lp = Loop {
            models,
            sender: self.sender,
            config: self.config,
            budgets: Budgets::new(BUDGET_TABLE),
            validator: Validator::new(),
            sessions: HashMap::new(),
            light: 0,
            started: Instant::now(),
            next_id: 1,
            stop,
            served_once: false,
            out: Vec::with_capacity(65_536),
        };
        lp.run();
    }
}

struct Loop {
    models: Option<UdpModels>,
    sender: Arc<Sender>,
    config: ServerConfig,
    budgets: Budgets,
    validator: Validator,
    sessions: HashMap<Key, Session>,
    /// Echo and text sessions in the table (at most `--max-sessions`).
    light: usize,
    started: Instant,
    next_id: u64,
    stop: Arc<AtomicBool>,
    served_once: bool,
    /// The reply being built: one buffer for all, so that an echo costs no
    /// allocation.
    out: Vec<u8>,
}

impl Loop {
    fn run(&mut self) {
        let mut buf = vec![0u8; 65_536];
        let mut last_reap = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            match self.recv_from(&mut buf) {
                Ok((n, peer)) => {
                    let d = &buf[..n];
                    self.budgets.received(peer, n);
                    self.record(peer, Direction::ToServer, d);
                    if datagram::is_lab(d) {
                        self.on_lab(peer, d);
                    } else {
                        self.on_text(peer, d);
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                // ICMP errors from earlier sends surface here; they are not ours to stop for.
                Err(e) => tracing::debug!("udp receive: {e}"),
            }
            if last_reap.elapsed() >= POLL {
                self.reap();
                last_reap = Instant::now();
            }
            if self.config.once && self.served_once && self.live() == 0 {
                break;
            }
        }
        self.end_all();
    }

    /// The next datagram, within [`POLL`] (then `WouldBlock`, so the loop
    /// looks at the stop flag and old sessions): a blocking receive with the
    /// socket's timeout, or with `--spin` a busy-poll.
    fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        if !self.config.spin {
            return self.sender.sock.recv_from(buf);
        }
        let deadline = Instant::now() + POLL;
        match spin::spin_until(deadline, Some(&self.stop), || {
            spin::recv_from_dontwait(&self.sender.sock, buf)
        })? {
            Polled::Ready(x) => Ok(x),
            Polled::TimedOut | Polled::Stopped => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn record(&mut self, peer: SocketAddr, dir: Direction, d: &[u8]) {
        if let Some(m) = self.models.as_mut() {
            m.record(peer, dir, d);
        }
    }

    /// Sends a reply within the address's amplification budget, or not at
    /// all, and counts it in its session if there is one; whether it went.
    fn reply(&mut self, to: SocketAddr, h: &DgramHeader, body: &Body) -> bool {
        let mut bytes = std::mem::take(&mut self.out);
        bytes.clear();
        datagram::encode(h, body, &mut bytes);
        let mut sent = false;
        if self.budgets.take(&to, bytes.len()) < bytes.len() {
            tracing::debug!(
                "{to}: {} of {} bytes dropped: over 3x what it sent (amplification limit)",
                body.name(),
                bytes.len()
            );
        } else {
            match self.sender.send_to(&bytes, to, false) {
                Ok(_) => {
                    self.record(to, Direction::ToClient, &bytes);
                    self.count_sent(&Key::lab(to, h.session), bytes.len());
                    sent = true;
                }
                Err(e) => tracing::debug!("{to}: send failed: {e}"),
            }
        }
        self.out = bytes;
        sent
    }

    fn refuse(&mut self, to: SocketAddr, h: &DgramHeader, code: ErrorCode, message: String) {
        tracing::info!("{to} session {:#x}: refused: {message}", h.session);
        self.reply(to, h, &Body::Error { code, message });
    }

    fn on_lab(&mut self, peer: SocketAddr, d: &[u8]) {
        let (h, body) = match datagram::decode(d) {
            Ok(x) => x,
            Err(e) => {
                let h = datagram::parse_header(d).map(|x| x.1).unwrap_or_default();
                if !matches!(e, DgramError::NotLab) {
                    self.refuse(peer, &h, e.code(), e.to_string());
                }
                return;
            }
        };
        let key = Key::lab(peer, h.session);
        let now = Instant::now();
        if let Body::EchoRequest { data } = body {
            return self.on_echo(key, &h, data, d.len(), now);
        }
        self.count_received(&key, d.len(), now);
        let len = d.len();
        match body {
            Body::Hello => {
                let token = self.validator.issue(&peer, self.now_s());
                let _ = self.reply(peer, &h, &Body::Cookie { token });
            }
            Body::FileRequest {
                size,
                rate_bps,
                segment,
                flags,
                token,
            } => {
                let check = self.check_file(size, segment, rate_bps);
                let how = FileSend {
                    fragment: flags & FLAG_FRAGMENT != 0,
                    gso: flags & FLAG_NO_GSO == 0,
                };
                let ask = Ask {
                    h,
                    token,
                    len,
                    kind: Kind::File,
                    what: describe_file(size, segment, rate_bps, how),
                };
                self.start(peer, ask, check, move |ctx| {
                    run_file(ctx, size, rate_bps, segment, how)
                });
            }
            Body::StreamRequest {
                interval_ns,
                count,
                size,
                flags,
                token,
            } => {
                let check = self.check_stream(interval_ns, count, size);
                let interval = Duration::from_nanos(interval_ns);
                let ask = Ask {
                    h,
                    token,
                    len,
                    kind: Kind::Stream,
                    what: format!(
                        "udp stream of {count} segments of {size} bytes, one every {interval:?}"
                    ),
                };
                self.start(peer, ask, check, move |ctx| {
                    run_stream(ctx, interval, count, size, flags & FLAG_FRAGMENT != 0)
                });
            }
            other => self.refuse(
                peer,
                &h,
                ErrorCode::Unexpected,
                format!(
                    "a server does not accept {} from a client (session {:#x})",
                    other.name(),
                    h.session
                ),
            ),
        }
    }

    fn now_s(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    fn max_payload(&self) -> u32 {
        if self.sender.v6 {
            MAX_UDP_PAYLOAD_V6 as u32
        } else {
            MAX_UDP_PAYLOAD_V4 as u32
        }
    }

    fn check_file(&self, size: u64, segment: u32, rate_bps: u64) -> Result<(), Refusal> {
        self.config.limits.check_paced_file(size, rate_bps)?;
        let max = self.max_payload();
        if segment as usize <= DGRAM_HEADER || segment > max {
            return Err(Refusal {
                code: ErrorCode::BadSize,
                message: format!(
                    "a segment of {segment} bytes is outside {}..={max} (UDP payload, lab header included)",
                    DGRAM_HEADER + 1
                ),
            });
        }
        Ok(())
    }

    fn check_stream(&self, interval_ns: u64, count: u32, size: u32) -> Result<(), Refusal> {
        // The TCP size bounds do not apply; check count and interval, then
        // the datagram's own bounds.
        self.config
            .limits
            .check_stream(interval_ns, count, crate::proto::SEGMENT_MIN as u32)?;
        let max = self.max_payload();
        if (size as usize) < DGRAM_SEGMENT_MIN || size > max {
            return Err(Refusal {
                code: ErrorCode::BadSize,
                message: format!(
                    "a stream segment of {size} bytes is outside {DGRAM_SEGMENT_MIN}..={max}"
                ),
            });
        }
        Ok(())
    }

    /// Starts a file or stream transfer once the cookie and the limits allow.
    fn start(
        &mut self,
        peer: SocketAddr,
        ask: Ask,
        check: Result<(), Refusal>,
        run: impl FnOnce(Transfer) + Send + 'static,
    ) {
        let h = ask.h;
        if !self.validator.check(&peer, ask.token, self.now_s()) {
            self.refuse(
                peer,
                &h,
                ErrorCode::Unexpected,
                "no valid cookie: send Hello first and use the token it returns".to_string(),
            );
            return;
        }
        if let Err(r) = check {
            self.refuse(peer, &h, r.code, r.message);
            // A validated client whose request is refused was served (as a
            // TCP session that ends in a refusal is): --once may end.
            self.served_once = true;
            return;
        }
        let key = Key::lab(peer, h.session);
        match self.sessions.get(&key) {
            // A repeated request: the transfer is already under way (or done).
            Some(s) if s.kind.is_transfer() => return,
            Some(_) => self.end(key, "the client asked for a transfer in this session"),
            None => {}
        }
        if self.live_transfers() >= self.config.max_sessions {
            let max = self.config.max_sessions;
            self.refuse(
                peer,
                &h,
                ErrorCode::Busy,
                format!(
                    "the server is busy: {max} sessions at once (--max-sessions); try again later"
                ),
            );
            return;
        }
        let mut s = self.new_session(key, ask.kind, &ask.what);
        s.traffic.received(ask.len);
        s.requests = 1;
        s.transfer = Some(self.spawn(key, s.id, run));
        self.sessions.insert(key, s);
    }

    /// Starts the thread of transfer `id` to `key`; when no thread can
    /// start, the transfer is at once finished, and says why.
    fn spawn(&mut self, key: Key, id: u64, run: impl FnOnce(Transfer) + Send + 'static) -> Running {
        let finish = Finish::default();
        let ctx = Transfer {
            model: self.models.as_mut().map(|m| m.flow(key.peer)),
            sender: Arc::clone(&self.sender),
            peer: key.peer,
            session: key.id.unwrap_or_default(),
            id,
            stop: Arc::clone(&self.stop),
            finish: Arc::clone(&finish),
            sent: Cell::new(Tally::default()),
        };
        let spawned = std::thread::Builder::new()
            .name(format!("udp-session-{id}"))
            .spawn(move || run(ctx));
        let handle = match spawned {
            Ok(handle) => Some(handle),
            Err(e) => {
                tracing::warn!("session {id} from {}: cannot start a thread: {e}", key.peer);
                let _ = finish.set(Outcome {
                    what: format!("not started: no thread ({e})"),
                    at: Instant::now(),
                    sent: Tally::default(),
                    carried: Default::default(),
                    kernel: None,
                });
                None
            }
        };
        Running { finish, handle }
    }

    /// Answers an echo in its session (started by this request if new).
    fn on_echo(&mut self, key: Key, h: &DgramHeader, data: Vec<u8>, len: usize, now: Instant) {
        self.open(key, Kind::Echo, len, now);
        let asked = data.len();
        match self.config.limits.check_echo(asked) {
            Ok(()) => {
                let sent = self.reply(key.peer, h, &Body::EchoReply { data });
                self.answered(&key, false, if sent { asked } else { 0 });
            }
            Err(r) => {
                self.refuse(key.peer, h, r.code, r.message);
                self.answered(&key, true, 0);
            }
        }
        // A request's offset field holds its run's number of requests (0:
        // not said): the session ends with the answer to the last one
        // rather than after --idle-timeout of quiet.
        if h.offset > 0 && u64::from(h.seq) + 1 >= h.offset {
            self.end(key, "the client's last echo was answered");
        }
    }

    /// Answers a plain-text datagram in its peer's text session.
    fn on_text(&mut self, peer: SocketAddr, d: &[u8]) {
        let key = Key::text(peer);
        self.open(key, Kind::Text, d.len(), Instant::now());
        let (reply, refused) = self.text_reply(peer, d);
        let n = self.budgets.take(&peer, reply.len());
        let mut sent = 0;
        if n > 0 {
            match self.sender.send_to(&reply[..n], peer, false) {
                Ok(_) => {
                    self.record(peer, Direction::ToClient, &reply[..n]);
                    self.count_sent(&key, n);
                    sent = n;
                }
                Err(e) => tracing::debug!("{peer}: send failed: {e}"),
            }
        }
        self.answered(&key, refused, sent);
    }

    /// The answer to a text datagram (whether it refuses), before the
    /// amplification limit cuts it.
    fn text_reply(&self, peer: SocketAddr, d: &[u8]) -> (Vec<u8>, bool) {
        let line = d.strip_suffix(b"\n").unwrap_or(d);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match text::interpret(line, &self.config.limits) {
            TextReply::Echo(_) => (d.to_vec(), false),
            TextReply::File(n) => {
                let room = self.budgets.get(&peer).room();
                if n <= room && n as usize <= MAX_UDP_PAYLOAD_V4 {
                    let mut v = vec![0u8; n as usize];
                    content::fill(0, &mut v);
                    (v, false)
                } else {
                    let r = Refusal {
                        code: ErrorCode::FileTooLarge,
                        message: format!(
                            "{n} bytes is over 3x what you sent; files over UDP need `ardei-lab client --udp`"
                        ),
                    };
                    (text::refusal_line(&r), true)
                }
            }
            TextReply::Refuse(r) => (text::refusal_line(&r), true),
        }
    }
}

/// A transfer request, as the receive loop got it.
struct Ask {
    h: DgramHeader,
    token: u64,
    /// Bytes of the request datagram.
    len: usize,
    kind: Kind,
    /// What the session's start line says it is.
    what: String,
}

/// A file request, for the session's start line.
fn describe_file(size: u64, segment: u32, rate_bps: u64, how: FileSend) -> String {
    let pace = if rate_bps > 0 {
        format!("at {rate_bps} bit/s")
    } else {
        "unpaced".to_string()
    };
    let send = if how.fragment {
        ", IP may fragment"
    } else if !how.gso {
        ", one datagram per send"
    } else {
        ""
    };
    format!("udp file of {size} bytes in datagrams of {segment} bytes, {pace}{send}")
}
