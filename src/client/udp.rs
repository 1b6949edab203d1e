//! The client's driver over UDP: one loop that moves datagrams between a
//! connected socket and a session ([`crate::session::udp::client`]), and
//! runs the instruments (model and live captures, kernel counters, the
//! ticker and progress, spin, the report).
//!
//! The socket is connected to the server, so only the server's datagrams
//! reach it, ICMP "port unreachable" comes back as an error, and the kernel
//! reports the path MTU. Each action gets a fresh session id; datagrams of
//! any other session are ignored. What to send, when to give up on a
//! request or a reply, how a file is verified and loss counted, and what
//! ends a transfer are the session's: the driver reads the clock, hands
//! the session the time and what arrived, and sends what it asks.
//!
//! Datagrams are taken from the kernel in batches, up to 64 buffers per
//! `recvmmsg` on a socket with UDP GRO (each buffer possibly several
//! datagrams, cut back apart here), and handed to the session one at a
//! time, each stamped with the time its receive call returned. `--no-gro`
//! (or a kernel without UDP GRO, said once) keeps one datagram per slot;
//! `--no-gso` keeps one `recv` per datagram and asks the server for one
//! send per datagram: the unbatched path, to compare. An upload's datagrams leave in UDP GSO batches (one
//! `sendmsg` each) unless `--no-gso` or the kernel refuses. The socket
//! carries the client's marking (`--dscp`, ECT(0) with `--ecn`) on every
//! datagram, the Hello included; with `--ecn` the ECN field of every
//! datagram of the session that arrives is counted. A file's bytes go to a sink (`--print-file`) in file order as
//! the session hands them out.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::ops::Range;
use std::time::{Duration, Instant};

use super::ClientError;
use super::record::{Instruments, Recording};
use super::ticker::{Ticker, TickerConfig, Totals};
use crate::instruments::FlowModel;
use crate::net::batch::{self, Inbox, RecvMethod};
use crate::net::marking::{self, EcnCounts};
use crate::net::spin::{self, Polled};
use crate::net::udp::{UdpApplied, UdpOpts, ip_header_len, path_mtu, udp_connect_with};
use crate::pace;
use crate::pcap::model::Direction;
use crate::proto::datagram::{self, Body, MAX_UDP_PAYLOAD_V4, MAX_UDP_PAYLOAD_V6};
use crate::session::Transmit;
use crate::session::udp::client::ClientSession;
use crate::wire::Transport;

mod actions;
mod fail;
mod one_way;
mod sink;
mod stamps;
mod upload;

use sink::Sink;

/// Default pace of a UDP file: fast, yet slow enough that a loopback
/// transfer with default buffers loses nothing.
pub const DEFAULT_RATE_BPS: u64 = 1_000_000_000;
/// Default silence after which a file or stream is taken as ended.
pub const DEFAULT_RECV_TIMEOUT: Duration = Duration::from_secs(2);
/// Default wait for each echo reply before it counts as lost.
pub const DEFAULT_ECHO_TIMEOUT: Duration = Duration::from_secs(1);
/// The receive buffer a UDP client asks for (the kernel caps it at
/// `net.core.rmem_max`).
pub const DEFAULT_RCVBUF: usize = 4 << 20;
/// How many missing runs a report lists.
const MISSING_LISTED: usize = 5;

/// A datagram not yet handed out: its inbox range, cut short, TOS byte,
/// first of its buffer, and kernel RX stamp (ns).
type Pending = (Range<usize>, bool, Option<u8>, bool, Option<u64>);

/// A UDP "connection" to a lab server.
#[derive(Debug)]
pub struct UdpClient {
    sock: UdpSocket,
    target: SocketAddr,
    applied: UdpApplied,
    fragment: bool,
    mtu: u32,
    recv_timeout: Option<Duration>,
    /// Receive buffers: one datagram per `recv`, or a batch per `recvmmsg`.
    inbox: Box<Inbox>,
    /// Datagrams received and not yet handed out.
    pending: Vec<Pending>,
    /// The next of `pending` to hand out.
    next: usize,
    /// Receive calls that returned data in the current action.
    rx_calls: u64,
    /// Buffers in which the kernel coalesced datagrams (GRO).
    rx_coalesced: u64,
    /// Buffers that held the session's datagrams (one each without GRO).
    rx_buffers: u64,
    /// When the last receive call returned: the arrival time, as the
    /// client can know it, of every datagram it brought.
    read_at: Instant,
    /// Let the server send a file with UDP GSO (no `--no-gso`).
    gso: bool,
    ids: RandomState,
    counter: u64,
    instruments: Instruments,
    /// What to show while an action runs.
    pub(crate) ticker: TickerConfig,
    /// The receive timeout last set on the socket.
    timeout_set: Option<Duration>,
    /// What the session asks to send, built here.
    out: Vec<u8>,
    /// Busy-poll the receives (`--spin`).
    spin: bool,
    /// Kernel timestamps asked for (`--timestamps`), of echoes and of
    /// streams.
    timestamps: bool,
    stream_timestamps: bool,
    /// Echo requests are stamped at the queueing discipline too
    /// (`--stamp-qdisc`).
    stamp_qdisc: bool,
    /// A stamped echo's TX stamps, while the socket stamps.
    stamping: Option<stamps::Stamping>,
    /// When the last receive call returned, Unix-epoch ns (read only while
    /// the socket stamps).
    read_ns: u64,
    /// Count the ECN field of what arrives (`--ecn`).
    ecn: bool,
    /// The current action's counts of it.
    ecn_counts: EcnCounts,
    /// Send batches with UDP GSO (until the kernel refuses).
    gso_send: bool,
}

impl UdpClient {
    /// Opens a socket connected to `target`. `recv_timeout` overrides the
    /// default silence timeouts.
    pub fn connect(
        target: SocketAddr,
        opts: &UdpOpts,
        recv_timeout: Option<Duration>,
    ) -> Result<UdpClient, ClientError> {
        UdpClient::connect_recorded(target, opts, recv_timeout, &Recording::default())
    }

    /// Opens the socket with the live capture (if asked) started before the
    /// first datagram and the model capture (if asked) opened.
    pub fn connect_recorded(
        target: SocketAddr,
        opts: &UdpOpts,
        recv_timeout: Option<Duration>,
        rec: &Recording,
    ) -> Result<UdpClient, ClientError> {
        let opts = UdpOpts {
            rcvbuf: opts.rcvbuf.or(Some(DEFAULT_RCVBUF)),
            ..*opts
        };
        let mut instruments = Instruments::default();
        let (sock, applied) = udp_connect_with(target, &opts, |local| {
            instruments.start_live(rec, Transport::Udp, local, target.ip())
        })?;
        let mtu = path_mtu(&sock, target.is_ipv6())?;
        let local = sock.local_addr()?;
        instruments.open_model(rec, |file| FlowModel::udp(file, local, target, mtu))?;
        let mut c = UdpClient {
            sock,
            target,
            applied,
            fragment: opts.fragment,
            mtu,
            recv_timeout,
            inbox: Box::new(Inbox::new(RecvMethod::Recvmmsg, 65_536)),
            pending: Vec::new(),
            next: 0,
            rx_calls: 0,
            rx_coalesced: 0,
            rx_buffers: 0,
            read_at: Instant::now(),
            gso: true,
            ids: RandomState::new(),
            counter: 0,
            instruments,
            ticker: TickerConfig::default(),
            timeout_set: None,
            out: Vec::new(),
            spin: false,
            timestamps: false,
            stream_timestamps: false,
            stamp_qdisc: false,
            stamping: None,
            read_ns: 0,
            ecn: false,
            ecn_counts: EcnCounts::default(),
            gso_send: true,
        };
        c.set_batching(false, false)?;
        Ok(c)
    }

    /// Marks every datagram the socket sends with `tos` (`--dscp`, ECT(0)
    /// with `--ecn`); with `ecn`, reads the TOS byte of every datagram that
    /// arrives and counts its ECN field.
    pub fn set_marking(&mut self, tos: Option<u8>, ecn: bool) -> Result<(), ClientError> {
        let err =
            |name| move |source| ClientError::Net(crate::net::NetError::Option { name, source });
        if let Some(t) = tos {
            marking::set_tos(&self.sock, t).map_err(err("IP_TOS"))?;
        }
        if ecn {
            marking::set_recv_tos(&self.sock, true).map_err(err("IP_RECVTOS"))?;
        }
        self.ecn = ecn;
        self.inbox.set_tos(ecn);
        Ok(())
    }

    /// How datagrams go: `no_gso` asks the server for one datagram per send
    /// and receives one per `recv` (the path without batching, for
    /// comparison); else the server may batch with GSO and the client
    /// receives with `recvmmsg`, on a socket with UDP GRO unless `no_gro`
    /// or the kernel has none (said once per process).
    pub fn set_batching(&mut self, no_gso: bool, no_gro: bool) -> Result<(), ClientError> {
        self.gso = !no_gso;
        let want_gro = !no_gso && !no_gro;
        if !want_gro {
            // Off again, whatever asked before; a kernel without it refuses.
            let _ = batch::set_gro(&self.sock, false);
        }
        let method = if no_gso {
            RecvMethod::Recv
        } else if want_gro && self.gro_on()? {
            RecvMethod::Gro
        } else {
            RecvMethod::Recvmmsg
        };
        *self.inbox = Inbox::new(method, 65_536);
        self.inbox.set_tos(self.ecn);
        self.gso_send = !no_gso;
        self.pending.clear();
        self.next = 0;
        Ok(())
    }

    /// Turns UDP GRO on: `false` when the kernel has none, which is said
    /// once per process.
    fn gro_on(&mut self) -> Result<bool, ClientError> {
        match batch::set_gro(&self.sock, true) {
            Ok(()) => Ok(true),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOPROTOOPT | libc::EOPNOTSUPP | libc::EINVAL)
                ) =>
            {
                static SAID: std::sync::Once = std::sync::Once::new();
                SAID.call_once(|| {
                    tracing::warn!("this kernel has no UDP GRO ({e}): datagrams are received in recvmmsg batches, one per slot");
                });
                Ok(false)
            }
            Err(source) => Err(ClientError::Net(crate::net::NetError::Option {
                name: "UDP_GRO",
                source,
            })),
        }
    }

    /// How this client receives.
    pub fn recv_method(&self) -> RecvMethod {
        self.inbox.method()
    }

    /// The socket's instruments.
    pub fn instruments(&mut self) -> &mut Instruments {
        &mut self.instruments
    }

    /// The server's address.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// The largest UDP payload that fits the path MTU in one datagram.
    pub fn max_unfragmented(&self) -> u32 {
        let v6 = self.target.is_ipv6();
        let cap = if v6 {
            MAX_UDP_PAYLOAD_V6
        } else {
            MAX_UDP_PAYLOAD_V4
        } as u32;
        self.mtu.saturating_sub(ip_header_len(v6) + 8).min(cap)
    }

    /// The segment size to use: the path MTU's by default; a larger one only
    /// with `--fragment`. `flag` names the option the size came from in
    /// errors (`--segment-size` for a file, `--size` for a stream).
    pub fn segment_size(
        &self,
        asked: Option<u32>,
        min: usize,
        flag: &str,
    ) -> Result<u32, ClientError> {
        let fits = self.max_unfragmented();
        let v6 = self.target.is_ipv6();
        let cap = if v6 {
            MAX_UDP_PAYLOAD_V6
        } else {
            MAX_UDP_PAYLOAD_V4
        } as u32;
        let Some(s) = asked else {
            return Ok(fits);
        };
        if (s as usize) < min || s > cap {
            return Err(ClientError::Usage(format!(
                "{flag} {s} is outside {min}..={cap} (the whole UDP payload, lab header included)"
            )));
        }
        if s > fits && !self.fragment {
            return Err(ClientError::Usage(format!(
                "{flag} {s} exceeds the path MTU of {} bytes: at most {fits} bytes fit one datagram; add --fragment to let IP fragment it",
                self.mtu
            )));
        }
        Ok(s)
    }

    /// A new session for an action whose datagrams from the server are at
    /// most `largest` bytes.
    fn new_session(&mut self, largest: usize) -> u32 {
        self.counter += 1;
        self.rx_calls = 0;
        self.rx_coalesced = 0;
        self.rx_buffers = 0;
        self.ecn_counts = EcnCounts::default();
        self.pending.clear();
        self.next = 0;
        self.inbox.prepare(largest);
        let mut h = self.ids.build_hasher();
        h.write_u64(self.counter);
        h.write_u64(pace::unix_ns());
        (h.finish() as u32).max(1)
    }

    fn io_error(&self, e: io::Error) -> ClientError {
        if e.kind() == io::ErrorKind::ConnectionRefused {
            ClientError::NoServer {
                addr: self.target,
                udp: true,
            }
        } else {
            ClientError::Io(e)
        }
    }

    /// Busy-polls the receives of the next echoes (`--spin`), or not.
    pub fn set_spin(&mut self, on: bool) {
        self.spin = on;
    }

    /// Runs session `s` to its end: what it asks to send goes out, what
    /// arrives for it goes in stamped with its receive call's time, its
    /// timeouts are kept, and the ticker, the model capture and the sink
    /// (a file's bytes in order) are fed on the way.
    fn run(
        &mut self,
        s: &mut ClientSession,
        ticker: &mut Ticker,
        mut sink: Option<&mut Sink<'_>>,
    ) -> Result<(), ClientError> {
        loop {
            // The clock is read again for every send: an unpaced timed
            // upload has a datagram due at every instant, and only a
            // fresh `now` reaches its end.
            while let Some(t) = s.poll_transmit(Instant::now(), &mut self.out) {
                if !self.transmit_stamped(s, t)? {
                    self.transmit(t)?;
                }
            }
            let now = Instant::now();
            if s.is_done() {
                return Ok(());
            }
            if ticker.due_at(now) {
                tick(ticker, s);
            }
            let deadline = s.poll_timeout().unwrap_or(now + FAR);
            if !s.awaits_datagram() {
                // Nothing can settle early: wait for the time exactly.
                pace::wait_until(deadline);
                s.handle_timeout(Instant::now())
                    .map_err(|e| self.fail(e, None))?;
                continue;
            }
            if !self.receive(deadline)? {
                s.handle_timeout(Instant::now())
                    .map_err(|e| self.fail(e, None))?;
                continue;
            }
            while let Some((r, truncated, tos, first, rx)) = self.pending.get(self.next).cloned() {
                self.next += 1;
                let d = self.inbox.bytes(r.clone());
                if !s.owns(d) {
                    continue;
                }
                self.rx_buffers += u64::from(first);
                if let (true, Some(t)) = (self.ecn, tos) {
                    self.ecn_counts.add(t);
                }
                if truncated {
                    return Err(ClientError::Protocol(format!(
                        "a datagram longer than the {} bytes expected arrived (cut short by the kernel)",
                        r.len()
                    )));
                }
                self.instruments
                    .send(Direction::ToClient, d, || describe(d));
                let at = self.read_at;
                self.received_stamp(s, rx.filter(|_| first));
                let d = self.inbox.bytes(r.clone());
                if let Err(e) = s.handle_datagram(at, d) {
                    return Err(self.fail(e, sink.as_deref()));
                }
                if let (Some(out), ClientSession::File(f)) = (sink.as_mut(), &mut *s) {
                    out.write(f)?;
                }
                if ticker.due_at(at) {
                    tick(ticker, s);
                }
                if s.is_done() {
                    return Ok(());
                }
            }
            if s.poll_timeout().is_some_and(|t| self.read_at >= t) {
                s.handle_timeout(self.read_at)
                    .map_err(|e| self.fail(e, None))?;
            }
        }
    }

    /// Sends what the session asked for: one datagram, or several of one
    /// size back to back in one UDP GSO send (each with its own send once
    /// the kernel refuses GSO).
    fn transmit(&mut self, t: Transmit) -> Result<(), ClientError> {
        let bytes = &self.out[..t.len];
        if let (Some(segment), true) = (t.segment, self.gso_send) {
            match send_retry(|| batch::send_gso(&self.sock, bytes, self.target, segment as u16)) {
                Ok(()) => {
                    for d in bytes.chunks(segment) {
                        self.instruments
                            .send(Direction::ToServer, d, || describe(d));
                    }
                    return Ok(());
                }
                Err(e) if batch::gso_refused(&e) => {
                    tracing::info!("the kernel refused UDP GSO ({e}); one datagram per send");
                    self.gso_send = false;
                }
                Err(e) => return Err(self.io_error(e)),
            }
        }
        for d in bytes.chunks(t.segment.unwrap_or(t.len).max(1)) {
            if let Err(e) = send_retry(|| self.sock.send(d)) {
                return Err(self.io_error(e));
            }
            self.instruments
                .send(Direction::ToServer, d, || describe(d));
        }
        Ok(())
    }

    /// One receive call that waits until `deadline` at most: `true` when
    /// it brought datagrams (now in `pending`), `false` when the wait ended
    /// without any. Datagrams of a batch (`recvmmsg`, or a GRO buffer cut
    /// into its datagrams) all carry the time the call returned.
    fn receive(&mut self, deadline: Instant) -> Result<bool, ClientError> {
        let now = Instant::now();
        let left = deadline.saturating_duration_since(now);
        if left.is_zero() {
            return Ok(false);
        }
        // One setsockopt per change of wait, not per datagram: a timeout
        // up to 1 ms longer than the time left is kept (the wait may end
        // that much late), a much shorter one is replaced.
        let want = left.max(Duration::from_micros(1));
        let stale = self
            .timeout_set
            .is_none_or(|t| t > want + Duration::from_millis(1) || t < want / 2);
        let got = if self.spin {
            // Busy-poll (`--spin`): MSG_DONTWAIT tries until the deadline.
            let (sock, inbox) = (&self.sock, &mut self.inbox);
            match spin::spin_until(deadline, None, || inbox.try_recv(sock)) {
                Ok(Polled::Ready(_)) => Ok(self.inbox.received()),
                Ok(Polled::TimedOut | Polled::Stopped) => return Ok(false),
                Err(e) => Err(e),
            }
        } else {
            if stale {
                self.sock.set_read_timeout(Some(want))?;
                self.timeout_set = Some(want);
            }
            self.inbox.recv(&self.sock)
        };
        match got {
            Ok(got) => {
                self.read_at = Instant::now();
                if self.stamping.is_some() {
                    self.read_ns = crate::net::timestamping::now_ns();
                }
                self.rx_calls += 1;
                self.pending.clear();
                self.next = 0;
                for g in got {
                    self.rx_coalesced += u64::from(g.gso.is_some());
                    let (at, rx) = (g.range.start, g.stamp.map(|s| s.ns));
                    self.pending
                        .extend(batch::split(g.range.len(), g.gso).map(|r| {
                            let first = r.start == 0;
                            (at + r.start..at + r.end, g.truncated, g.tos, first, rx)
                        }));
                }
                Ok(true)
            }
            Err(e) if crate::net::nothing_came(&e) => {
                // The session's clock decides whether the wait is over.
                Ok(false)
            }
            Err(e) => Err(self.io_error(e)),
        }
    }
}

/// Runs `send` until the kernel has room for it (`ENOBUFS`).
fn send_retry(mut send: impl FnMut() -> io::Result<usize>) -> io::Result<()> {
    loop {
        match send() {
            Ok(_) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                std::thread::sleep(Duration::from_micros(50));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Far enough to stand for "no deadline".
const FAR: Duration = Duration::from_secs(3600);

/// Closes the ticker's intervals that have ended, with the session's
/// totals.
fn tick(ticker: &mut Ticker, s: &ClientSession) {
    let (bytes, lost) = s.totals();
    ticker.tick(Totals::udp(bytes, lost));
}

/// A model-capture comment for a datagram: its kind and place.
fn describe(d: &[u8]) -> String {
    match datagram::decode(d) {
        Ok((h, Body::FileData { data })) => format!(
            "FileData seq {} bytes {}-{}",
            h.seq,
            h.offset,
            h.offset + (data.len() as u64).max(1) - 1
        ),
        Ok((h, Body::StreamSegment { .. })) => format!("stream seq {}", h.seq),
        Ok((h, Body::EchoRequest { .. })) => format!("echo {} request", h.seq),
        Ok((h, Body::EchoReply { .. })) => format!("echo {} reply", h.seq),
        Ok((h, b)) => format!("{} (session {:#x})", b.name(), h.session),
        Err(e) => format!("not a lab datagram: {e}"),
    }
}
