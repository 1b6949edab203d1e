//! The UDP server's driver: one socket, one receive loop that moves
//! datagrams between the socket and the pure endpoint
//! ([`crate::session::udp::server`]), and a thread per file or stream
//! transfer.
//!
//! The endpoint decides everything: cookies, the amplification limit,
//! refusals, the session table, echo and text answers, and what each
//! transfer sends when. The loop hands it each datagram with the time,
//! sends what it returns, wakes it when it asks, and runs the instruments:
//! the model capture, the kernel's counters, the log and `--json` (see
//! [`report`]). A transfer goes to a thread of its own ([`transfer`]),
//! which only hands its datagrams to the kernel (a file in UDP GSO batches)
//! and waits for its deadlines, so that a file is as fast as the kernel
//! allows while echoes are answered.
//!
//! Datagrams are taken from the kernel as a client's download takes them:
//! on a socket with UDP GRO (unless `--no-gro`, or a kernel without it,
//! which the server says once at start), with their senders, in batches
//! of up to 64 buffers per `recvmmsg` while an upload's data is coming, and
//! one `recvmsg` at a time otherwise, so that an echo's request costs no
//! second look in the kernel. Each buffer is handed to the endpoint whole
//! ([`Endpoint::handle_buffer`]), which cuts it into its datagrams and
//! counts it in the upload it belongs to.
//!
//! Each datagram is read with its TOS byte (`IP_RECVTOS`,
//! `IPV6_RECVTCLASS`), which the endpoint answers with: a reply carries
//! the asker's DSCP, a transfer's every datagram that of its request, each
//! sent with its own marking (a control message per send, GSO included).
//! An upload's datagrams are verified by the endpoint on this loop.
//! `--dscp N` marks what the socket sends otherwise.
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

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod report;
mod stamps;
mod stream_stamps;
mod transfer;

use super::ServerConfig;
use super::record::UdpModels;
use crate::instruments::ModelFile;
use crate::net::NetError;
use crate::net::batch::{self, Inbox, RecvMethod, send_gso_marked, send_marked};
use crate::net::marking;
use crate::net::spin::{self, Polled};
use crate::net::udp::{UdpApplied, UdpOpts, set_dont_fragment, udp_bind};
use crate::pace;
use crate::pcap::model::Direction;
use crate::session::Epoch;
use crate::session::udp::server::{self as endpoint, Endpoint, Event, Key, TransferEnd};
use transfer::{Finish, Job};

pub use crate::session::udp::server::{END_COPIES, END_SPACING};

/// How often the receive loop looks at the stop flag and the endpoint's
/// timers when no datagram comes.
const POLL: Duration = Duration::from_millis(100);
/// The receive buffer the UDP server asks for unless `--rcvbuf` says (the
/// kernel caps it at `net.core.rmem_max`): room for the bursts of an
/// unpaced upload, as a client has for a download.
pub const DEFAULT_RCVBUF: usize = 4 << 20;
/// How long after an upload's last data the receive loop still takes
/// datagrams in batches.
const BATCH_AFTER_UPLOAD: Duration = Duration::from_millis(100);

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
    /// TX stamps one thread read for another, and stream stamps' keys.
    stray: stream_stamps::Stray,
}

impl Sender {
    /// Sends one datagram marked `tos` (`None`: the socket's marking).
    fn send_to(
        &self,
        buf: &[u8],
        to: SocketAddr,
        fragment: bool,
        tos: Option<u8>,
    ) -> io::Result<usize> {
        let mut df = self.dont_fragment.lock().unwrap_or_else(|p| p.into_inner());
        if *df == fragment {
            set_dont_fragment(&self.sock, self.v6, !fragment)?;
            *df = !fragment;
        }
        send_marked(&self.sock, buf, to, tos)
    }

    /// As [`Sender::send_to`] (IP may not fragment), asking for the
    /// datagram's TX stamps: a stamped echo reply.
    fn send_stamped(&self, buf: &[u8], to: SocketAddr, tos: Option<u8>) -> io::Result<usize> {
        let mut df = self.dont_fragment.lock().unwrap_or_else(|p| p.into_inner());
        if !*df {
            set_dont_fragment(&self.sock, self.v6, true)?;
            *df = true;
        }
        crate::net::timestamping::send_stamped_marked(&self.sock, buf, Some(to), tos)
    }

    /// As [`Sender::send_stamped`], the stamp keyed `id`: a stamped
    /// stream's segment.
    fn send_stamped_id(
        &self,
        buf: &[u8],
        to: SocketAddr,
        tos: Option<u8>,
        id: u32,
    ) -> io::Result<usize> {
        let mut df = self.dont_fragment.lock().unwrap_or_else(|p| p.into_inner());
        if !*df {
            set_dont_fragment(&self.sock, self.v6, true)?;
            *df = true;
        }
        use crate::net::timestamping::{TX_FLAGS, send_stamped_with};
        send_stamped_with(&self.sock, buf, Some(to), tos, TX_FLAGS, Some(id))
    }

    /// Sends `buf` as datagrams of `segment` bytes in one call (UDP GSO),
    /// each marked `tos`, don't-fragment on: GSO and IP fragmentation do
    /// not mix.
    fn send_gso(
        &self,
        buf: &[u8],
        to: SocketAddr,
        segment: u16,
        tos: Option<u8>,
    ) -> io::Result<usize> {
        let mut df = self.dont_fragment.lock().unwrap_or_else(|p| p.into_inner());
        if !*df {
            set_dont_fragment(&self.sock, self.v6, true)?;
            *df = true;
        }
        send_gso_marked(&self.sock, buf, to, segment, tos)
    }
}

/// A bound UDP server, ready to serve.
#[derive(Debug)]
pub struct UdpServer {
    sender: Arc<Sender>,
    config: ServerConfig,
    local: SocketAddr,
    applied: UdpApplied,
    /// How the receive loop takes datagrams: GRO, or recvmmsg without it.
    method: RecvMethod,
}

impl UdpServer {
    /// Binds the socket with the configured buffer sizes and don't-fragment.
    pub fn bind(config: ServerConfig) -> Result<UdpServer, NetError> {
        let opts = UdpOpts {
            sndbuf: config.opts.sndbuf,
            rcvbuf: config.opts.rcvbuf.or(Some(DEFAULT_RCVBUF)),
            fragment: false,
        };
        let (sock, applied) = udp_bind(config.bind, &opts)?;
        let err = |name| move |source| NetError::Option { name, source };
        let local = sock.local_addr().map_err(err("getsockname"))?;
        sock.set_read_timeout(Some(POLL))
            .map_err(err("SO_RCVTIMEO"))?;
        marking::set_recv_tos(&sock, true).map_err(err("IP_RECVTOS"))?;
        if let Some(dscp) = config.dscp {
            marking::set_tos(&sock, dscp << 2).map_err(err("IP_TOS"))?;
        }
        let method = match config.gro.then(|| batch::set_gro(&sock, true)) {
            Some(Ok(())) => RecvMethod::Gro,
            Some(Err(e)) => {
                tracing::warn!(
                    "this kernel has no UDP GRO ({e}): uploads are received in recvmmsg batches, one datagram per slot"
                );
                RecvMethod::Recvmmsg
            }
            None => RecvMethod::Recvmmsg,
        };
        Ok(UdpServer {
            sender: Arc::new(Sender {
                sock,
                v6: local.is_ipv6(),
                dont_fragment: Mutex::new(true),
                stray: Default::default(),
            }),
            config,
            local,
            applied,
            method,
        })
    }

    /// How it receives: `gro`, or `recvmmsg` without GRO.
    pub fn recv_method(&self) -> RecvMethod {
        self.method
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
        let now = Instant::now();
        let config = endpoint::Config {
            limits: self.config.limits.clone(),
            max_sessions: self.config.max_sessions,
            max_per_client: self.config.max_per_client,
            idle_timeout: self.config.idle_timeout,
            v6: self.sender.v6,
            epoch: Epoch::pin(now, pace::unix_ns()),
            max_time: self.config.max_time,
            cpu: Some(crate::net::rusage::process_cpu),
            gro: self.method == RecvMethod::Gro,
        };
        let mut inbox = Inbox::new(self.method, 65_536);
        inbox.set_tos(true);
        inbox.set_senders(true);
        let mut lp = Loop {
            endpoint: Endpoint::new(config, now),
            models,
            sender: self.sender,
            config: self.config,
            kernel: report::Kernel::default(),
            transfers: HashMap::new(),
            stop,
            out: Vec::with_capacity(65_536),
            inbox,
            stamping: stamps::Stamping::new(),
        };
        lp.run();
    }
}

/// A transfer thread and the session it sends.
struct Running {
    id: u64,
    finish: Finish,
    handle: Option<JoinHandle<()>>,
}

struct Loop {
    endpoint: Endpoint,
    models: Option<UdpModels>,
    sender: Arc<Sender>,
    config: ServerConfig,
    kernel: report::Kernel,
    /// The transfer threads still to hand back to the endpoint.
    transfers: HashMap<Key, Running>,
    stop: Arc<AtomicBool>,
    /// The datagram being sent: one buffer for all, so that an echo costs
    /// no allocation.
    out: Vec<u8>,
    /// Receive slots, each with its sender and TOS byte.
    inbox: Inbox,
    /// Kernel timestamps, once a stamped echo asks.
    stamping: stamps::Stamping,
}

impl Loop {
    fn run(&mut self) {
        while !self.stop.load(Ordering::Relaxed) {
            match self.receive() {
                Ok(n) => self.hand_in(n),
                Err(e) if crate::net::nothing_came(&e) => {}
                // ICMP errors from earlier sends surface here; they are not ours to stop for.
                Err(e) => tracing::debug!("udp receive: {e}"),
            }
            self.step();
            if self.config.once && self.endpoint.served() && self.endpoint.live() == 0 {
                break;
            }
        }
        self.end_all();
    }

    /// Hands the `n` buffers just received to the endpoint, each with its
    /// sender and TOS byte, all at the time the receive returned.
    fn hand_in(&mut self, n: usize) {
        let now = Instant::now();
        // A transfer's stamps count from the wall clock as it starts, as
        // the client's do.
        let unix_ns = pace::unix_ns();
        self.endpoint.set_epoch(Epoch::pin(now, unix_ns));
        let stamping = self.stamping.on();
        let mut turned_on = false;
        for i in 0..n {
            let Some(g) = self.inbox.received().get(i) else {
                break;
            };
            let (range, gso, tos, stamp) = (g.range.clone(), g.gso, g.tos, g.stamp);
            let Some(peer) = g.from else {
                continue;
            };
            let buf = self.inbox.bytes(range);
            if stamping {
                self.endpoint
                    .handle_read_stamp(stamp.map(|s| s.ns), unix_ns);
            } else {
                turned_on |= self
                    .stamping
                    .look(buf, &self.sender.sock, &mut self.endpoint);
            }
            if let Some(m) = self.models.as_mut() {
                for r in batch::split(buf.len(), gso) {
                    m.record(peer, Direction::ToServer, &buf[r]);
                }
            }
            self.endpoint.handle_buffer(now, peer, buf, gso, tos);
        }
        if turned_on {
            self.inbox.set_stamps(true);
        }
    }

    /// Hands the endpoint its due timers and finished transfers, starts
    /// the transfers it began, sends what it has to send, and reports its
    /// events.
    fn step(&mut self) {
        let now = Instant::now();
        self.collect(now);
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
        }
        self.events();
        while let Some((to, t, tos)) = self.endpoint.poll_transmit_tos(now, &mut self.out) {
            let bytes = &self.out[..t.len];
            let stamped = self.endpoint.take_stamped();
            let sent = match stamped {
                Some(_) => self.sender.send_stamped(bytes, to, tos),
                None => self.sender.send_to(bytes, to, false, tos),
            };
            if let (Ok(_), Some((key, seq))) = (&sent, stamped) {
                self.stamping
                    .sent(&self.sender, key, seq, &mut self.endpoint);
            }
            match sent {
                Ok(_) => {
                    if let Some(m) = self.models.as_mut() {
                        m.record(to, Direction::ToClient, bytes);
                    }
                }
                Err(e) => tracing::debug!("{to}: send failed: {e}"),
            }
        }
        self.events();
    }

    /// The next buffers, within [`POLL`] (then `WouldBlock`, so the loop
    /// looks at the stop flag and the timers): a blocking receive with the
    /// socket's timeout, or with `--spin` a busy-poll. Up to a batch while
    /// an upload's data is coming, else one.
    fn receive(&mut self) -> io::Result<usize> {
        let uploading = self
            .endpoint
            .upload_seen()
            .is_some_and(|t| t.elapsed() < BATCH_AFTER_UPLOAD);
        let max = if uploading { batch::RECV_BATCH } else { 1 };
        let (sock, inbox) = (&self.sender.sock, &mut self.inbox);
        if !self.config.spin {
            return inbox.recv_up_to(sock, max, false);
        }
        let deadline = Instant::now() + POLL;
        match spin::spin_until(deadline, Some(&self.stop), || {
            inbox.recv_up_to(sock, max, true)
        })? {
            Polled::Ready(n) => Ok(n),
            Polled::TimedOut | Polled::Stopped => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Logs and reports the endpoint's events; a transfer that started
    /// goes to a thread of its own.
    fn events(&mut self) {
        while let Some(e) = self.endpoint.poll_event() {
            match e {
                Event::Started {
                    id,
                    key,
                    kind,
                    what,
                } => {
                    report::log_start(id, &key, &what);
                    self.kernel.started(id, &key);
                    if kind.is_transfer() {
                        self.spawn(id, key);
                    }
                }
                Event::Ended(f) => report::ended(&f, &mut self.kernel, self.config.json),
            }
        }
    }

    /// Starts the thread of transfer `id` to `key`; when no thread can
    /// start, the transfer has ended at once, and says why.
    fn spawn(&mut self, id: u64, key: Key) {
        let Some(transfer) = self.endpoint.take_transfer(&key) else {
            return;
        };
        let finish = Finish::default();
        let job = Job {
            transfer,
            model: self.models.as_mut().map(|m| m.flow(key.peer)),
            sender: Arc::clone(&self.sender),
            id,
            stop: Arc::clone(&self.stop),
            finish: Arc::clone(&finish),
        };
        let spawned = std::thread::Builder::new()
            .name(format!("udp-session-{id}"))
            .spawn(move || job.run());
        let handle = match spawned {
            Ok(handle) => Some(handle),
            Err(e) => {
                tracing::warn!("session {id} from {}: cannot start a thread: {e}", key.peer);
                let end = TransferEnd {
                    what: format!("not started: no thread ({e})"),
                    at: Instant::now(),
                    sent: Default::default(),
                    carried: Default::default(),
                };
                let _ = finish.set((end, None));
                None
            }
        };
        self.transfers.insert(key, Running { id, finish, handle });
    }

    /// Hands the transfers whose threads have finished back to the
    /// endpoint.
    fn collect(&mut self, now: Instant) {
        if self.transfers.values().all(|r| r.finish.get().is_none()) {
            return;
        }
        let done: Vec<Key> = self
            .transfers
            .iter()
            .filter(|(_, r)| r.finish.get().is_some())
            .map(|(k, _)| *k)
            .collect();
        for key in done {
            self.hand_back(key, now);
        }
    }

    /// Joins the thread of `key`'s transfer and hands its end to the
    /// endpoint.
    fn hand_back(&mut self, key: Key, now: Instant) {
        let Some(mut r) = self.transfers.remove(&key) else {
            return;
        };
        if let Some(h) = r.handle.take() {
            let _ = h.join();
        }
        if let Some((end, kernel)) = r.finish.get().cloned() {
            self.kernel.transfer_ended(r.id, kernel);
            self.endpoint.transfer_ended(&key, end, now);
        }
    }

    /// Ends every session still open as the server returns, oldest first:
    /// a transfer thread, told to stop, is joined and its end reported.
    fn end_all(&mut self) {
        let keys: Vec<Key> = self.transfers.keys().copied().collect();
        for key in keys {
            self.hand_back(key, Instant::now());
        }
        self.endpoint.close(Instant::now());
        self.events();
    }
}
