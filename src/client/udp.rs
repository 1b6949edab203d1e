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
//! Datagrams are taken from the kernel in batches, up to 64 per `recvmmsg`
//! (or in UDP GRO buffers with `--gro`, cut back into datagrams), and
//! handed to the session one at a time, each stamped with the time its
//! receive call returned. `--no-gso` keeps one `recv` per datagram and
//! asks the server for one send per datagram: the unbatched path, to
//! compare. A file's bytes go to a sink (`--print-file`) in file order as
//! the session hands them out.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::ops::Range;
use std::time::{Duration, Instant};

use super::ClientError;
use super::record::{Instruments, Recording};
use super::report::{
    CpuUse, Detail, Ending, Missing, Report, SAME_HOST_CLOCKS, SocketReport, TransferIo, UdpFigures,
};
use super::ticker::{Ticker, TickerConfig, Totals};
use crate::account::beside;
use crate::account::wire::IpVersion;
use crate::arrivals::Arrivals;
use crate::instruments::FlowModel;
use crate::net::batch::{self, Inbox, RecvMethod};
use crate::net::counters::{self, UdpCounters};
use crate::net::spin::{self, Polled};
use crate::net::udp::{UdpApplied, UdpOpts, ip_header_len, path_mtu, udp_connect_with};
use crate::pace;
use crate::pcap::capture::Transport;
use crate::pcap::model::Direction;
use crate::proto::datagram::{
    self, Body, DGRAM_HEADER, DGRAM_SEGMENT_MIN, MAX_UDP_PAYLOAD_V4, MAX_UDP_PAYLOAD_V6, SendMethod,
};
use crate::session::Transmit;
use crate::session::udp::client::echo::{EchoPlan, request_len};
use crate::session::udp::client::file_recv::FilePlan;
use crate::session::udp::client::stream::StreamPlan;
use crate::session::udp::client::{
    ClientSession, Echo, Ended, FileReceive, SessionError, StreamReceive, Tally,
};

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
    /// Datagrams received and not yet handed out: ranges in the inbox, and
    /// whether the kernel cut one short for want of room.
    pending: Vec<(Range<usize>, bool)>,
    /// The next of `pending` to hand out.
    next: usize,
    /// Receive calls that returned data in the current action.
    rx_calls: u64,
    /// Buffers in which the kernel coalesced datagrams (GRO).
    rx_coalesced: u64,
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
        Ok(UdpClient {
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
            read_at: Instant::now(),
            gso: true,
            ids: RandomState::new(),
            counter: 0,
            instruments,
            ticker: TickerConfig::default(),
            timeout_set: None,
            out: Vec::new(),
            spin: false,
        })
    }

    /// How datagrams go: `no_gso` asks the server for one datagram per send
    /// and receives one per `recv` (the path without batching, for
    /// comparison); else the server may batch with GSO and the client
    /// receives with `recvmmsg`, on a socket with UDP GRO when `gro`.
    pub fn set_batching(&mut self, no_gso: bool, gro: bool) -> Result<(), ClientError> {
        self.gso = !no_gso;
        let method = if no_gso {
            RecvMethod::Recv
        } else if gro {
            batch::set_gro(&self.sock, true).map_err(|source| {
                ClientError::Net(crate::net::NetError::Option {
                    name: "UDP_GRO",
                    source,
                })
            })?;
            RecvMethod::Gro
        } else {
            RecvMethod::Recvmmsg
        };
        *self.inbox = Inbox::new(method, 65_536);
        self.pending.clear();
        self.next = 0;
        Ok(())
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

    /// A ticker for an action of `segment`-byte datagrams begun at `start`,
    /// whose byte count grows by `counted` per datagram (the file's or the
    /// echo's bytes, without the lab's header; a stream's whole segment), so
    /// that its wire rate prices each counted byte with its share of the
    /// datagram's headers.
    fn ticker(&self, start: Instant, total: Option<u64>, segment: u32, counted: u32) -> Ticker {
        let v6 = self.target.is_ipv6();
        let link = beside::link_for(self.target.ip().is_loopback());
        let ip = if v6 { IpVersion::V6 } else { IpVersion::V4 };
        let per_segment_byte = beside::udp_wire_factor(ip, link, self.mtu, segment);
        let factor = per_segment_byte * f64::from(segment) / f64::from(counted.max(1));
        Ticker::new(self.ticker, start, total, factor)
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
        self.pending.clear();
        self.next = 0;
        self.inbox.prepare(largest);
        let mut h = self.ids.build_hasher();
        h.write_u64(self.counter);
        h.write_u64(pace::unix_ns());
        (h.finish() as u32).max(1)
    }

    fn report(&self, mode: &'static str, bytes: u64, seconds: f64, detail: Detail) -> Report {
        let socket = SocketReport::Udp(self.applied);
        Report::new(mode, self.target, bytes, seconds, detail, socket)
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
            let now = Instant::now();
            while let Some(t) = s.poll_transmit(now, &mut self.out) {
                self.transmit(t)?;
            }
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
            while let Some((r, truncated)) = self.pending.get(self.next).cloned() {
                self.next += 1;
                let d = self.inbox.bytes(r.clone());
                if !s.owns(d) {
                    continue;
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
    /// size back to back, each with its own send.
    fn transmit(&mut self, t: Transmit) -> Result<(), ClientError> {
        let bytes = &self.out[..t.len];
        for d in bytes.chunks(t.segment.unwrap_or(t.len).max(1)) {
            if let Err(e) = self.sock.send(d) {
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
                self.rx_calls += 1;
                self.pending.clear();
                self.next = 0;
                for g in got {
                    self.rx_coalesced += u64::from(g.gso.is_some());
                    let at = g.range.start;
                    self.pending.extend(
                        batch::split(g.range.len(), g.gso)
                            .map(|r| (at + r.start..at + r.end, g.truncated)),
                    );
                }
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                // The session's clock decides whether the wait is over.
                Ok(false)
            }
            Err(e) => Err(self.io_error(e)),
        }
    }

    /// The client's error for a session's.
    fn fail(&self, e: SessionError, sink: Option<&Sink<'_>>) -> ClientError {
        match e {
            SessionError::Refused { code, message } => ClientError::Refused { code, message },
            SessionError::Protocol(m) => ClientError::Protocol(m),
            SessionError::NoAnswer { tries } => ClientError::NoAnswer {
                addr: self.target,
                tries,
            },
            SessionError::NoEcho { count, wait } => self.no_answer_echo(count, wait),
            SessionError::Cut {
                what,
                sent,
                planned,
                unit,
            } => ClientError::Cut {
                what,
                sent,
                planned,
                unit,
            },
            SessionError::Verify(m) => ClientError::Verify(m),
            SessionError::Order(o) => match sink {
                Some(s) => s.incomplete(o.to_string()),
                None => ClientError::Protocol(o.to_string()),
            },
        }
    }

    /// `count` echoes of `data`, one every `interval`; a reply that does not
    /// come within the timeout counts as lost.
    pub fn echo(
        &mut self,
        data: &[u8],
        count: u32,
        interval: Duration,
    ) -> Result<Report, ClientError> {
        let size = request_len(data.len());
        self.echo_fits(data.len(), count)?;
        let session = self.new_session(size);
        // One reply per request: one plain recv each.
        self.inbox.prepare_one(size);
        let wait = self.recv_timeout.unwrap_or(DEFAULT_ECHO_TIMEOUT);
        let before = counters::read(self.target.is_ipv6());
        let cpu_before = pace::process_cpu();
        let epoch = pace::epoch_now();
        let start = Instant::now();
        let mut ticker = self.ticker(start, None, size as u32, data.len() as u32);
        let plan = EchoPlan {
            data: data.to_vec(),
            count,
            interval,
            wait,
        };
        let mut s = ClientSession::Echo(Echo::new(session, epoch, start, plan));
        self.run(&mut s, &mut ticker, None)?;
        let ClientSession::Echo(e) = s else {
            unreachable!("the session stays an echo")
        };
        let f = e.finish().map_err(|e| self.fail(e, None))?;
        let wall = start.elapsed().as_secs_f64();
        let detail = Detail::Echo {
            count,
            replies: f.replies,
            size: data.len(),
        };
        let mut r = self.report("echo", f.bytes, wall, detail);
        r.spin = self.spin;
        if self.spin {
            r.cpu = cpu_before
                .zip(pace::process_cpu())
                .map(|(b, a)| CpuUse::between(b, a, wall));
        }
        r.latency_us = f.rtt.percentiles();
        let lost = u64::from(count).saturating_sub(f.rtt.len());
        r.intervals = ticker.finish(Totals::udp(f.bytes, lost));
        r.histogram = Some(f.rtt);
        let c = u64::from(count);
        let mut u = self.figures(&f.arrivals, c, f.request_len, None, before, 1);
        // An echo has no End: every reply is awaited up to its timeout.
        u.datagrams = u64::from(f.replies);
        u.lost = u64::from(count - f.replies);
        r.udp = Some(u);
        let n = f.tally.tx + f.tally.rx;
        let len = f.request_len;
        self.account(&mut r, len, n, n * u64::from(len), f.tally, before);
        Ok(r)
    }

    /// Whether an echo of `len` bytes fits a datagram: the largest UDP
    /// payload always, the path MTU unless `--fragment`.
    fn echo_fits(&self, len: usize, count: u32) -> Result<(), ClientError> {
        let (cap, ip) = if self.target.is_ipv6() {
            (MAX_UDP_PAYLOAD_V6, "IPv6")
        } else {
            (MAX_UDP_PAYLOAD_V4, "IPv4")
        };
        let size = request_len(len);
        if size > cap {
            // Not even IP fragmentation carries it.
            return Err(ClientError::Usage(format!(
                "an echo of {len} bytes makes a {size}-byte datagram, over the largest UDP payload of {cap} bytes over {ip}: send at most {} bytes",
                cap - DGRAM_HEADER
            )));
        }
        if count > 0 && size > self.max_unfragmented() as usize && !self.fragment {
            return Err(ClientError::Usage(format!(
                "an echo of {len} bytes makes a {size}-byte datagram, over the path MTU of {}; add --fragment",
                self.mtu
            )));
        }
        Ok(())
    }

    /// Adds the model-beside-kernel report: `data` datagrams of `segment`
    /// bytes, the rest of the action's datagrams being control.
    fn account(
        &self,
        r: &mut Report,
        segment: u32,
        data: u64,
        data_bytes: u64,
        tally: Tally,
        before: Option<UdpCounters>,
    ) {
        let Some(before) = before else { return };
        let Some(after) = counters::read(self.target.is_ipv6()) else {
            return;
        };
        let ip = if self.target.is_ipv6() {
            IpVersion::V6
        } else {
            IpVersion::V4
        };
        let link = beside::link_for(self.target.ip().is_loopback());
        let control = (tally.tx + tally.rx).saturating_sub(data);
        let control_bytes = (tally.tx_bytes + tally.rx_bytes).saturating_sub(data_bytes);
        r.overhead = Some(beside::udp(
            ip,
            link,
            self.mtu,
            segment,
            data,
            data_bytes,
            control,
            control_bytes,
            &after.since(&before),
            r.seconds,
        ));
    }

    /// Says how batching changed the kernel's counts: `gso` is the
    /// sender's GSO calls and the datagrams they carried.
    fn note_batching(&self, r: &mut Report, gso: Option<(u64, u64)>) {
        if let Some(o) = r.overhead.as_mut() {
            o.add_udp_batching(&beside::UdpBatching {
                gso,
                gro: (self.inbox.method() == RecvMethod::Gro).then_some(self.rx_coalesced),
            });
        }
    }

    fn no_answer_echo(&self, count: u32, wait: Duration) -> ClientError {
        ClientError::Protocol(format!(
            "none of {count} echoes came back within {wait:?}: is a UDP server running on {}? start one with `ardei-lab server --udp --bind {}`",
            self.target, self.target
        ))
    }

    fn figures(
        &self,
        arrivals: &Arrivals,
        sent: u64,
        segment_size: u32,
        ended_by: Option<Ending>,
        before: Option<UdpCounters>,
        unit: u64,
    ) -> UdpFigures {
        let lost = arrivals.lost(sent);
        let after = counters::read(self.target.is_ipv6());
        UdpFigures {
            datagrams: arrivals.received(),
            sent,
            lost,
            duplicates: arrivals.duplicates(),
            reordered: arrivals.reordered(),
            loss_percent: if sent > 0 {
                lost as f64 * 100.0 / sent as f64
            } else {
                0.0
            },
            segment_size,
            path_mtu: self.mtu,
            ended_by,
            missing: arrivals
                .gaps(sent, MISSING_LISTED)
                .into_iter()
                .map(|g| Missing {
                    first: g.first * unit,
                    last: (g.last + 1) * unit - 1,
                })
                .collect(),
            kernel: match (before, after) {
                (Some(b), Some(a)) => Some(a.since(&b)),
                _ => None,
            },
            io: TransferIo {
                send: None,
                send_calls: None,
                send_batch_max: None,
                gso_refused: false,
                receive: self.inbox.method().name(),
                receive_calls: self.rx_calls,
                coalesced: (self.inbox.method() == RecvMethod::Gro).then_some(self.rx_coalesced),
            },
        }
    }

    /// A file of `size` bytes, paced at `rate_bps` by the server, every byte
    /// that arrives verified; written to `sink` in file order as it arrives.
    /// With a sink, a file that cannot be written whole is an error that
    /// says how much of it the sink holds.
    pub fn file(
        &mut self,
        size: u64,
        rate_bps: u64,
        segment: Option<u32>,
        sink: Option<&mut dyn Write>,
    ) -> Result<Report, ClientError> {
        let segment = self.segment_size(segment, DGRAM_HEADER + 1, "--segment-size")?;
        let silence = self.recv_timeout.unwrap_or(DEFAULT_RECV_TIMEOUT);
        let session = self.new_session(segment as usize);
        let before = counters::read(self.target.is_ipv6());
        let epoch = pace::epoch_now();
        let start = Instant::now();
        let plan = FilePlan {
            size,
            rate_bps,
            segment,
            fragment: self.fragment,
            gso: self.gso,
            silence,
            in_order: sink.is_some(),
            progress_step: super::tcp::PROGRESS_STEP,
        };
        let mut sink = sink.map(|w| Sink {
            w,
            written: 0,
            size,
        });
        let counted = segment.saturating_sub(DGRAM_HEADER as u32);
        let mut ticker = self.ticker(start, Some(size), segment, counted);
        let mut s = ClientSession::File(FileReceive::new(session, epoch, start, plan));
        self.run(&mut s, &mut ticker, sink.as_mut())?;
        let ClientSession::File(f) = s else {
            unreachable!("the session stays a file")
        };
        let ending = f.ending().map_err(|e| self.fail(e, None));
        if let Some(p) = sink.as_ref().filter(|p| p.written < size) {
            let why = match &ending {
                Err(e) => e.to_string(),
                Ok((sent, _)) => format!(
                    "{} of {sent} datagrams never arrived, and UDP does not send them again",
                    f.arrivals().lost(*sent)
                ),
            };
            return Err(p.incomplete(why));
        }
        ending?;
        let per = u64::from(segment) - DGRAM_HEADER as u64;
        let f = f.finish(Instant::now()).map_err(|e| self.fail(e, None))?;
        let detail = Detail::File {
            size,
            verified: true,
            complete: f.bytes == size,
            time_to_first_byte_us: (f.first - start).as_secs_f64() * 1e6,
            transfer_seconds: (f.end - f.first).as_secs_f64(),
            server_written_seconds: None,
            server_acked_seconds: None,
        };
        let mut r = self.report("file", f.bytes, (f.end - start).as_secs_f64(), detail);
        r.progress = f.progress;
        let lost = f.arrivals.lost(f.sent);
        r.intervals = ticker.finish(Totals::udp(f.bytes, lost));
        let mut u = self.figures(
            &f.arrivals,
            f.sent,
            segment,
            Some(f.ended.into()),
            before,
            per,
        );
        u.io.sent(f.sent_with);
        // Byte ranges end at the file's end, not at a whole segment.
        for m in &mut u.missing {
            m.last = m.last.min(size.saturating_sub(1));
        }
        r.udp = Some(u);
        self.account(&mut r, segment, f.data, f.data_wire, f.tally, before);
        let gso = f
            .sent_with
            .filter(|w| w.method == SendMethod::Gso)
            .map(|w| (w.calls, f.sent));
        self.note_batching(&mut r, gso);
        Ok(r)
    }

    /// `count` segments of `size` bytes (whole UDP payload) every `interval`.
    pub fn stream(
        &mut self,
        interval: Duration,
        count: u32,
        size: u32,
    ) -> Result<Report, ClientError> {
        let size = self.segment_size(Some(size), DGRAM_SEGMENT_MIN, "--size")?;
        let silence = self
            .recv_timeout
            .unwrap_or(DEFAULT_RECV_TIMEOUT.max(interval * 2 + Duration::from_secs(1)));
        let session = self.new_session(size as usize);
        let before = counters::read(self.target.is_ipv6());
        let epoch = pace::epoch_now();
        let start = Instant::now();
        let plan = StreamPlan {
            interval,
            count,
            size,
            fragment: self.fragment,
            silence,
        };
        let mut ticker = self.ticker(start, None, size, size);
        let mut s = ClientSession::Stream(StreamReceive::new(session, epoch, start, plan));
        self.run(&mut s, &mut ticker, None)?;
        let ClientSession::Stream(st) = s else {
            unreachable!("the session stays a stream")
        };
        let f = st.finish().map_err(|e| self.fail(e, None))?;
        let detail = Detail::Stream {
            segments: f.arrivals.received() as u32,
            count,
            // `sent` is in the datagram accounting below.
            sent: None,
            interval_us: interval.as_secs_f64() * 1e6,
            size,
            jitter_us: f.jitter.estimate_us(),
            jitter_hist_us: f.jitter.percentiles(),
            schedule_error_us: f.schedule.percentiles(),
            end_drift_us: f.end_drift_us,
            clocks: SAME_HOST_CLOCKS,
        };
        let mut r = self.report("stream", f.bytes, start.elapsed().as_secs_f64(), detail);
        r.latency_us = f.delay.percentiles();
        r.histogram = Some(f.delay);
        let lost = f.arrivals.lost(f.sent);
        r.intervals = ticker.finish(Totals::udp(f.bytes, lost));
        r.udp = Some(self.figures(&f.arrivals, f.sent, size, Some(f.ended.into()), before, 1));
        let data = f.arrivals.received() + f.arrivals.duplicates();
        self.account(&mut r, size, data, data * u64::from(size), f.tally, before);
        self.note_batching(&mut r, None);
        Ok(r)
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

/// Where a file's bytes go in file order (`--print-file`), and how much of
/// the file it holds.
struct Sink<'a> {
    w: &'a mut dyn Write,
    /// Bytes written, from the file's start.
    written: u64,
    size: u64,
}

impl Sink<'_> {
    /// Writes the bytes the session made ready in file order.
    fn write(&mut self, f: &mut FileReceive) -> Result<(), ClientError> {
        let ready = f.ready_bytes();
        if ready.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.w.write_all(ready) {
            return Err(self.incomplete(format!("writing the file out failed: {e}")));
        }
        self.written += ready.len() as u64;
        f.consume_ready();
        Ok(())
    }

    /// The error for a file the sink got only the start of.
    fn incomplete(&self, reason: String) -> ClientError {
        ClientError::Incomplete {
            written: self.written,
            size: self.size,
            reason,
        }
    }
}

impl From<Ended> for Ending {
    fn from(e: Ended) -> Ending {
        match e {
            Ended::EndMessage => Ending::EndMessage,
            Ended::Silence => Ending::Timeout,
        }
    }
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
