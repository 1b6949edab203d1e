//! The client's side of echo, file and stream over UDP.
//!
//! The socket is connected to the server, so only the server's datagrams
//! reach it, ICMP "port unreachable" comes back as an error, and the kernel
//! reports the path MTU. Each action gets a fresh session id; datagrams of
//! any other session are ignored. Requests are repeated until the server
//! answers (a lossy path may drop them); the server ignores repeats.
//!
//! A file is placed by offset and every byte that arrives is verified; a
//! sink (`--print-file`) gets the bytes in file order, early datagrams
//! waiting in a bounded reorder buffer ([`super::reorder`]). The
//! sender ends with an End message carrying its counts (sent three times);
//! `--recv-timeout`, reset by every datagram, is only the fallback, and the
//! report says which of the two ended the transfer.
//!
//! Datagrams are taken from the kernel in batches, up to 64 per `recvmmsg`
//! (or in UDP GRO buffers with `--gro`, cut back into datagrams), and
//! handed to the action one at a time, each checked exactly as a single
//! `recv` would have it. `--no-gso` keeps one `recv` per datagram and asks
//! the server for one send per datagram: the unbatched path, to compare.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::ops::Range;
use std::time::{Duration, Instant};

use super::ClientError;
use super::record::{Instruments, Recording};
use super::reorder::{InOrder, REORDER_LIMIT};
use super::report::{
    CpuUse, Detail, Ending, Missing, Report, SAME_HOST_CLOCKS, SocketReport, TransferIo, UdpFigures,
};
use super::ticker::{Ticker, TickerConfig, Totals};
use crate::account::beside;
use crate::account::wire::IpVersion;
use crate::arrivals::Arrivals;
use crate::content;
use crate::instruments::FlowModel;
use crate::latency::{Jitter, Recorder};
use crate::net::batch::{self, Inbox, RecvMethod};
use crate::net::counters::{self, UdpCounters};
use crate::net::udp::{UdpApplied, UdpOpts, ip_header_len, path_mtu, udp_connect_with};
use crate::pace;
use crate::pcap::capture::Transport;
use crate::pcap::model::Direction;

use crate::net::spin::{self, Polled};
use crate::proto::datagram::{
    self, Body, DGRAM_HEADER, DGRAM_SEGMENT_MIN, DgramHeader, FLAG_FRAGMENT, FLAG_NO_GSO, KIND_AT,
    KIND_ECHO_REPLY, KIND_ECHO_REQUEST, MAX_UDP_PAYLOAD_V4, MAX_UDP_PAYLOAD_V6, SendMethod,
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
/// Time between repeats of a request that got no answer.
const RETRY: Duration = Duration::from_millis(250);
/// Most times a request is sent.
const TRIES: u32 = 12;
/// After the End message, how long stragglers are awaited.
const LINGER: Duration = Duration::from_millis(50);
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
    /// Datagrams sent in the current action.
    tx: u64,
    /// Datagrams of the current session received in the current action.
    rx: u64,
    instruments: Instruments,
    /// What to show while an action runs.
    pub(crate) ticker: TickerConfig,
    /// The receive timeout last set on the socket.
    timeout_set: Option<Duration>,
    /// UDP payload bytes sent and received in the current action.
    tx_bytes: u64,
    rx_bytes: u64,
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
            tx: 0,
            rx: 0,
            instruments,
            ticker: TickerConfig::default(),
            timeout_set: None,
            tx_bytes: 0,
            rx_bytes: 0,
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
        self.tx = 0;
        self.rx = 0;
        self.rx_calls = 0;
        self.rx_coalesced = 0;
        self.pending.clear();
        self.next = 0;
        self.inbox.prepare(largest);
        self.tx_bytes = 0;
        self.rx_bytes = 0;
        let mut h = self.ids.build_hasher();
        h.write_u64(self.counter);
        h.write_u64(pace::unix_ns());
        (h.finish() as u32).max(1)
    }

    fn report(&self, mode: &'static str, bytes: u64, seconds: f64, detail: Detail) -> Report {
        let socket = SocketReport::Udp(self.applied);
        Report::new(mode, self.target, bytes, seconds, detail, socket)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        match self.sock.send(bytes) {
            Ok(_) => {
                self.tx += 1;
                self.tx_bytes += bytes.len() as u64;
                self.instruments
                    .send(Direction::ToServer, bytes, || describe(bytes));
                Ok(())
            }
            Err(e) => Err(self.io_error(e)),
        }
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

    /// Receives one datagram of `session` within `wait`; `Ok(None)` on
    /// timeout. Datagrams of other sessions and non-lab datagrams are
    /// skipped. The bytes stay in the inbox, at the range returned.
    ///
    /// Datagrams already taken from the kernel by a batch (`recvmmsg`, or
    /// a GRO buffer cut into its datagrams) are handed out first, one per
    /// call, whatever `wait`: they have arrived.
    fn recv(&mut self, session: u32, wait: Duration) -> Result<Option<Range<usize>>, ClientError> {
        // The clock is read once per receive call, not per datagram.
        let mut deadline = None;
        loop {
            if let Some((r, truncated)) = self.pending.get(self.next).cloned() {
                self.next += 1;
                let d = self.inbox.bytes(r.clone());
                match datagram::parse_header(d) {
                    Ok((_, h)) if h.session == session => {
                        if truncated {
                            return Err(ClientError::Protocol(format!(
                                "a datagram longer than the {} bytes expected arrived (cut short by the kernel)",
                                r.len()
                            )));
                        }
                        self.rx += 1;
                        self.rx_bytes += d.len() as u64;
                        self.instruments
                            .send(Direction::ToClient, d, || describe(d));
                        return Ok(Some(r));
                    }
                    _ => continue,
                }
            }
            let now = Instant::now();
            let left = deadline
                .get_or_insert(now + wait)
                .saturating_duration_since(now);
            if left.is_zero() {
                return Ok(None);
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
                let until = now + left;
                let (sock, inbox) = (&self.sock, &mut self.inbox);
                match spin::spin_until(until, None, || inbox.try_recv(sock)) {
                    Ok(Polled::Ready(_)) => Ok(self.inbox.received()),
                    Ok(Polled::TimedOut | Polled::Stopped) => return Ok(None),
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
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    // The loop's clock decides whether the wait is over.
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(e)),
            }
        }
    }

    fn no_answer(&self) -> ClientError {
        ClientError::NoAnswer {
            addr: self.target,
            tries: TRIES,
        }
    }

    /// Gets a cookie: Hello until a Cookie comes back.
    fn cookie(&mut self, session: u32) -> Result<u64, ClientError> {
        let hello = datagram::to_vec(&header(session, 0, 0), &Body::Hello);
        for _ in 0..TRIES {
            self.send(&hello)?;
            let until = Instant::now() + RETRY;
            while let Some(r) =
                self.recv(session, until.saturating_duration_since(Instant::now()))?
            {
                match datagram::decode(self.inbox.bytes(r)) {
                    Ok((_, Body::Cookie { token })) => return Ok(token),
                    Ok((_, Body::Error { code, message })) => {
                        return Err(ClientError::Refused { code, message });
                    }
                    _ => {}
                }
            }
        }
        Err(self.no_answer())
    }

    /// `count` echoes of `data`, one every `interval`; a reply that does not
    /// come within the timeout counts as lost.
    pub fn echo(
        &mut self,
        data: &[u8],
        count: u32,
        interval: Duration,
    ) -> Result<Report, ClientError> {
        let (cap, ip) = if self.target.is_ipv6() {
            (MAX_UDP_PAYLOAD_V6, "IPv6")
        } else {
            (MAX_UDP_PAYLOAD_V4, "IPv4")
        };
        if DGRAM_HEADER + data.len() > cap {
            // Not even IP fragmentation carries it.
            return Err(ClientError::Usage(format!(
                "an echo of {} bytes makes a {}-byte datagram, over the largest UDP payload of {cap} bytes over {ip}: send at most {} bytes",
                data.len(),
                DGRAM_HEADER + data.len(),
                cap - DGRAM_HEADER
            )));
        }
        let session = self.new_session(DGRAM_HEADER + data.len());
        // One reply per request: one plain recv each.
        self.inbox.prepare_one(DGRAM_HEADER + data.len());
        let wait = self.recv_timeout.unwrap_or(DEFAULT_ECHO_TIMEOUT);
        let before = counters::read(self.target.is_ipv6());
        let cpu_before = pace::process_cpu();
        let mut rtt = Recorder::new();
        let mut arrivals = Arrivals::new(u64::from(count));
        let epoch = pace::epoch_now();
        let start = Instant::now();
        let size = (DGRAM_HEADER + data.len()) as u32;
        let mut ticker = self.ticker(start, None, size, data.len() as u32);
        let mut bytes = 0u64;
        let mut out = Vec::new();
        for seq in 0..count {
            if ticker.due() {
                let lost = u64::from(seq).saturating_sub(rtt.len());
                ticker.tick(Totals::udp(bytes, lost));
            }
            if !interval.is_zero() {
                pace::wait_until(pace::deadline(start, interval, seq));
            }
            let sent = Instant::now();
            // An echo's offset field says how many requests the run has,
            // so the server can end the session once it answered the last.
            let h = DgramHeader {
                session,
                seq,
                offset: u64::from(count),
                sent_ns: epoch.unix_ns_of(sent),
            };
            // Built in place: no allocation between the clock and the send.
            datagram::begin(&mut out, KIND_ECHO_REQUEST, &h);
            out.extend_from_slice(data);
            if out.len() > self.max_unfragmented() as usize && !self.fragment {
                return Err(ClientError::Usage(format!(
                    "an echo of {} bytes makes a {}-byte datagram, over the path MTU of {}; add --fragment",
                    data.len(),
                    out.len(),
                    self.mtu
                )));
            }
            self.send(&out)?;
            let until = sent + wait;
            while let Some(r) =
                self.recv(session, until.saturating_duration_since(Instant::now()))?
            {
                let d = self.inbox.bytes(r);
                if is_reply_to(d, &out) {
                    // The server's reply is the request with another kind.
                    rtt.record_ns(sent.elapsed().as_nanos() as i128);
                    arrivals.record(u64::from(seq));
                    bytes += data.len() as u64;
                    break;
                }
                match datagram::decode(d) {
                    Ok((rh, Body::EchoReply { data: d })) => {
                        if d != data {
                            return Err(ClientError::Protocol(format!(
                                "the echo of request {} came back changed",
                                rh.seq
                            )));
                        }
                        if arrivals.record(u64::from(rh.seq)) != crate::arrivals::Arrival::Duplicate
                            && rh.seq == seq
                        {
                            rtt.record_ns(sent.elapsed().as_nanos() as i128);
                            bytes += d.len() as u64;
                            break;
                        }
                    }
                    Ok((_, Body::Error { code, message })) => {
                        return Err(ClientError::Refused { code, message });
                    }
                    _ => {}
                }
            }
        }
        let replies = rtt.len() as u32;
        if replies == 0 && count > 0 {
            return Err(self.no_answer_echo(count, wait));
        }
        let wall = start.elapsed().as_secs_f64();
        let mut r = self.report(
            "echo",
            bytes,
            wall,
            Detail::Echo {
                count,
                replies,
                size: data.len(),
            },
        );
        r.spin = self.spin;
        if self.spin {
            r.cpu = cpu_before
                .zip(pace::process_cpu())
                .map(|(b, a)| CpuUse::between(b, a, wall));
        }
        r.latency_us = rtt.percentiles();
        let lost = u64::from(count).saturating_sub(rtt.len());
        r.intervals = ticker.finish(Totals::udp(bytes, lost));
        r.histogram = Some(rtt);
        r.udp = Some(self.figures(
            &arrivals,
            u64::from(count),
            out.len() as u32,
            None,
            before,
            1,
        ));
        // An echo has no End: every reply is awaited up to its timeout.
        if let Some(u) = r.udp.as_mut() {
            u.datagrams = u64::from(replies);
            u.lost = u64::from(count - replies);
        }
        let n = self.tx + self.rx;
        self.account(&mut r, out.len() as u32, n, n * out.len() as u64, before);
        Ok(r)
    }

    /// Adds the model-beside-kernel report: `data` datagrams of `segment`
    /// bytes, the rest of the action's datagrams being control.
    fn account(
        &self,
        r: &mut Report,
        segment: u32,
        data: u64,
        data_bytes: u64,
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
        let control = (self.tx + self.rx).saturating_sub(data);
        let control_bytes = (self.tx_bytes + self.rx_bytes).saturating_sub(data_bytes);
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
    /// that arrives verified; written to `sink` in file order as it arrives
    /// (see [`InOrder`]). With a sink, a file that cannot be written whole
    /// is an error that says how much of it the sink holds.
    pub fn file(
        &mut self,
        size: u64,
        rate_bps: u64,
        segment: Option<u32>,
        sink: Option<&mut dyn Write>,
    ) -> Result<Report, ClientError> {
        let segment = self.segment_size(segment, DGRAM_HEADER + 1, "--segment-size")?;
        let per = u64::from(segment) - DGRAM_HEADER as u64;
        let planned = size.div_ceil(per);
        let silence = self.recv_timeout.unwrap_or(DEFAULT_RECV_TIMEOUT);
        let session = self.new_session(segment as usize);
        let before = counters::read(self.target.is_ipv6());
        let start = Instant::now();
        let token = self.cookie(session)?;
        let request = datagram::to_vec(
            &header(session, 0, 0),
            &Body::FileRequest {
                size,
                rate_bps,
                segment,
                flags: if self.fragment { FLAG_FRAGMENT } else { 0 }
                    | if self.gso { 0 } else { FLAG_NO_GSO },
                token,
            },
        );
        let mut arrivals = Arrivals::new(planned);
        let mut printer = sink.map(|w| InOrder::new(w, REORDER_LIMIT));
        let mut sent_with = None;
        let mut data_wire = 0u64;
        let mut ticker = self.ticker(
            start,
            Some(size),
            segment,
            segment.saturating_sub(DGRAM_HEADER as u32),
        );
        let mut progress = vec![(0.0, 0)];
        let mut last_point = 0u64;
        let mut first_byte = None;
        let mut last_data = start;
        let mut bytes = 0u64;
        let mut life = Lifecycle::new(request, silence);
        loop {
            let wait = life.before_recv(self)?;
            let Some(range) = self.recv(session, wait)? else {
                if life.over_on_silence() {
                    break;
                }
                continue;
            };
            let d = self.inbox.bytes(range);
            let n = d.len();
            let (kind, h) =
                datagram::parse_header(d).map_err(|e| ClientError::Protocol(e.to_string()))?;
            if kind == datagram::KIND_FILE_DATA {
                life.started = true;
                data_wire += n as u64;
                let data = &d[DGRAM_HEADER..];
                let seq = u64::from(h.seq);
                let expected_len = per.min(size.saturating_sub(seq * per));
                if seq >= planned || h.offset != seq * per || data.len() as u64 != expected_len {
                    return Err(ClientError::Protocol(format!(
                        "datagram {seq} claims offset {} and {} bytes, which does not fit {per}-byte segments of a {size}-byte file",
                        h.offset,
                        data.len()
                    )));
                }
                content::check_at(h.offset, data)?;
                first_byte.get_or_insert(self.read_at);
                last_data = self.read_at;
                if arrivals.record(seq) != crate::arrivals::Arrival::Duplicate {
                    bytes += data.len() as u64;
                    if bytes >= last_point + super::tcp::PROGRESS_STEP {
                        last_point = bytes;
                        progress.push((start.elapsed().as_secs_f64(), bytes));
                    }
                    if let Some(p) = printer.as_mut() {
                        p.take(seq, data)
                            .map_err(|e| incomplete(p, size, e.to_string()))?;
                    }
                }
                if ticker.due_at(self.read_at) {
                    let lost = arrivals.missing_so_far();
                    ticker.tick(Totals::udp(bytes, lost));
                }
                if life.all_arrived(arrivals.received()) {
                    break;
                }
                continue;
            }
            match datagram::decode(d) {
                Ok((
                    _,
                    Body::FileReady {
                        size: s,
                        segment: g,
                        ..
                    },
                )) => {
                    if s != size || g != segment {
                        return Err(ClientError::Protocol(format!(
                            "asked for {size} bytes in {segment}-byte segments, the server offers {s} in {g}"
                        )));
                    }
                    life.started = true;
                }
                Ok((
                    _,
                    Body::FileEnd {
                        datagrams,
                        sent_with: w,
                        ..
                    },
                )) => {
                    sent_with = sent_with.or(w);
                    life.end(datagrams);
                    if life.all_arrived(arrivals.received()) {
                        break;
                    }
                }
                Ok((_, Body::Error { code, message })) => {
                    return Err(ClientError::Refused { code, message });
                }
                _ => {}
            }
        }
        let ending = life.ending(planned, "file", "datagrams");
        if let Some(p) = printer.as_ref().filter(|p| p.written() < size) {
            let why = match &ending {
                Err(e) => e.to_string(),
                Ok((sent, _)) => format!(
                    "{} of {sent} datagrams never arrived, and UDP does not send them again",
                    arrivals.lost(*sent)
                ),
            };
            return Err(incomplete(p, size, why));
        }
        let (sent, ended_by) = ending?;
        let end_at = life.end_at;
        let end = if ended_by == Ending::Timeout {
            last_data
        } else {
            Instant::now().min(last_data.max(end_at.unwrap_or(last_data)))
        };
        let first = first_byte.unwrap_or(end);
        let mut r = self.report(
            "file",
            bytes,
            (end - start).as_secs_f64(),
            Detail::File {
                size,
                verified: true,
                complete: bytes == size,
                time_to_first_byte_us: (first - start).as_secs_f64() * 1e6,
                transfer_seconds: (end - first).as_secs_f64(),
                server_written_seconds: None,
                server_acked_seconds: None,
            },
        );
        progress.push(((end - start).as_secs_f64(), bytes));
        r.progress = progress;
        let lost = arrivals.lost(sent);
        r.intervals = ticker.finish(Totals::udp(bytes, lost));
        r.udp = Some(self.figures(&arrivals, sent, segment, Some(ended_by), before, per));
        if let Some(u) = r.udp.as_mut() {
            u.io.sent(sent_with);
            // Byte ranges end at the file's end, not at a whole segment.
            for m in &mut u.missing {
                m.last = m.last.min(size.saturating_sub(1));
            }
        }
        let data = arrivals.received() + arrivals.duplicates();
        self.account(&mut r, segment, data, data_wire, before);
        let gso = sent_with
            .filter(|w| w.method == SendMethod::Gso)
            .map(|w| (w.calls, sent));
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
        let start = Instant::now();
        let token = self.cookie(session)?;
        let request = datagram::to_vec(
            &header(session, 0, 0),
            &Body::StreamRequest {
                interval_ns: interval.as_nanos() as u64,
                count,
                size,
                flags: if self.fragment { FLAG_FRAGMENT } else { 0 },
                token,
            },
        );
        let epoch = pace::epoch_now();
        let mut arrivals = Arrivals::new(u64::from(count));
        let mut delay = Recorder::new();
        let mut ticker = self.ticker(start, None, size, size);
        let mut schedule = Recorder::new();
        let mut last = None;
        let mut jitter = Jitter::new();
        let mut bytes = 0u64;
        let mut life = Lifecycle::new(request, silence);
        loop {
            let wait = life.before_recv(self)?;
            let Some(range) = self.recv(session, wait)? else {
                if life.over_on_silence() {
                    break;
                }
                continue;
            };
            let recv_ns = epoch.unix_ns_of(self.read_at) as i128;
            match datagram::decode(self.inbox.bytes(range)) {
                Ok((
                    h,
                    Body::StreamSegment {
                        scheduled_ns,
                        size: got,
                    },
                )) => {
                    life.started = true;
                    // A copy, or a segment beyond the count asked for,
                    // adds nothing to the figures.
                    if matches!(
                        arrivals.record(u64::from(h.seq)),
                        crate::arrivals::Arrival::Duplicate | crate::arrivals::Arrival::OutOfRange
                    ) {
                        continue;
                    }
                    bytes += u64::from(got);
                    delay.record_ns(recv_ns - h.sent_ns as i128);
                    schedule.record_ns(h.sent_ns as i128 - scheduled_ns as i128);
                    let err = (h.sent_ns as i128 - scheduled_ns as i128) as f64 / 1e3;
                    if last.is_none_or(|(seq, _)| h.seq > seq) {
                        last = Some((h.seq, err));
                    }
                    jitter.add(h.sent_ns as i128, recv_ns);
                    if ticker.due() {
                        let lost = arrivals.missing_so_far();
                        ticker.tick(Totals::udp(bytes, lost));
                    }
                    if life.all_arrived(arrivals.received()) {
                        break;
                    }
                }
                Ok((_, Body::StreamStart { .. })) => life.started = true,
                Ok((_, Body::StreamEnd { sent })) => {
                    life.end(u64::from(sent));
                    if life.all_arrived(arrivals.received()) {
                        break;
                    }
                }
                Ok((_, Body::Error { code, message })) => {
                    return Err(ClientError::Refused { code, message });
                }
                _ => {}
            }
        }
        let (sent, ended_by) = life.ending(u64::from(count), "stream", "segments")?;
        let mut r = self.report(
            "stream",
            bytes,
            start.elapsed().as_secs_f64(),
            Detail::Stream {
                segments: arrivals.received() as u32,
                count,
                // `sent` is in the datagram accounting below.
                sent: None,
                interval_us: interval.as_secs_f64() * 1e6,
                size,
                jitter_us: jitter.estimate_us(),
                jitter_hist_us: jitter.percentiles(),
                schedule_error_us: schedule.percentiles(),
                end_drift_us: last.map(|(_, e)| e),
                clocks: SAME_HOST_CLOCKS,
            },
        );
        r.latency_us = delay.percentiles();
        r.histogram = Some(delay);
        let lost = arrivals.lost(sent);
        r.intervals = ticker.finish(Totals::udp(bytes, lost));
        r.udp = Some(self.figures(&arrivals, sent, size, Some(ended_by), before, 1));
        let data = arrivals.received() + arrivals.duplicates();
        self.account(&mut r, size, data, data * u64::from(size), before);
        self.note_batching(&mut r, None);
        Ok(r)
    }
}

/// One file or stream transfer, as the client sees it end to end: the
/// request repeated until the server answers, the silence that ends it when
/// no End comes, and the End message with the sender's count, after which
/// stragglers are awaited for [`LINGER`].
#[derive(Debug)]
struct Lifecycle {
    request: Vec<u8>,
    silence: Duration,
    /// Something of the transfer has arrived: stop repeating the request.
    started: bool,
    tries: u32,
    /// The sender's count, from the first End message.
    sent_by_end: Option<u64>,
    /// When that End arrived.
    end_at: Option<Instant>,
}

impl Lifecycle {
    fn new(request: Vec<u8>, silence: Duration) -> Lifecycle {
        Lifecycle {
            request,
            silence,
            started: false,
            tries: 0,
            sent_by_end: None,
            end_at: None,
        }
    }

    /// (Re)sends the request while nothing has come back; how long to wait
    /// for the next datagram.
    fn before_recv(&mut self, c: &mut UdpClient) -> Result<Duration, ClientError> {
        if !self.started {
            if self.tries == TRIES {
                return Err(c.no_answer());
            }
            c.send(&self.request)?;
            self.tries += 1;
        }
        Ok(match (self.started, self.end_at) {
            (_, Some(t)) => (t + LINGER).saturating_duration_since(Instant::now()),
            (false, None) => RETRY,
            (true, None) => self.silence,
        })
    }

    /// After a wait with nothing: whether the transfer is over (else the
    /// request is repeated).
    fn over_on_silence(&self) -> bool {
        self.started || self.end_at.is_some()
    }

    /// The End message arrived with the sender's count.
    fn end(&mut self, sent: u64) {
        self.started = true;
        if self.sent_by_end.is_none() {
            self.sent_by_end = Some(sent);
            self.end_at = Some(Instant::now());
        }
    }

    /// Whether everything the End announced has arrived.
    fn all_arrived(&self, received: u64) -> bool {
        self.sent_by_end.is_some_and(|s| received >= s)
    }

    /// The sender's count and what ended the transfer; a count short of the
    /// plan means the server stopped early, one beyond it that the server
    /// does not keep to the protocol: both errors.
    fn ending(
        &self,
        planned: u64,
        what: &'static str,
        unit: &'static str,
    ) -> Result<(u64, Ending), ClientError> {
        match self.sent_by_end {
            Some(sent) if sent > planned => Err(ClientError::Protocol(format!(
                "the server says it sent {sent} {what} {unit}, more than the {planned} asked for"
            ))),
            Some(sent) if sent < planned => Err(ClientError::Cut {
                what,
                sent,
                planned,
                unit,
            }),
            Some(sent) => Ok((sent, Ending::EndMessage)),
            None => Ok((planned, Ending::Timeout)),
        }
    }
}

/// The error for a file the sink got only the start of.
fn incomplete(printer: &InOrder, size: u64, reason: String) -> ClientError {
    ClientError::Incomplete {
        written: printer.written(),
        size,
        reason,
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

fn header(session: u32, seq: u32, offset: u64) -> DgramHeader {
    DgramHeader {
        session,
        seq,
        offset,
        sent_ns: pace::unix_ns(),
    }
}

/// Whether `reply` is the server's echo of `request`: the same bytes, but
/// for the kind (the server sends the request's header back).
fn is_reply_to(reply: &[u8], request: &[u8]) -> bool {
    reply.len() == request.len()
        && reply.len() > KIND_AT
        && reply[KIND_AT] == KIND_ECHO_REPLY
        && reply[..KIND_AT] == request[..KIND_AT]
        && reply[KIND_AT + 1..] == request[KIND_AT + 1..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_the_request_with_the_reply_kind() {
        let h = header(7, 3, 0);
        let request = datagram::to_vec(
            &h,
            &Body::EchoRequest {
                data: b"hi".to_vec(),
            },
        );
        let reply = datagram::to_vec(
            &h,
            &Body::EchoReply {
                data: b"hi".to_vec(),
            },
        );
        assert!(is_reply_to(&reply, &request));
        assert!(!is_reply_to(&request, &request));
        let changed = datagram::to_vec(
            &h,
            &Body::EchoReply {
                data: b"ho".to_vec(),
            },
        );
        assert!(!is_reply_to(&changed, &request));
        let other_seq = datagram::to_vec(
            &header(7, 4, 0),
            &Body::EchoReply {
                data: b"hi".to_vec(),
            },
        );
        assert!(!is_reply_to(&other_seq, &request) || other_seq == reply);
        assert!(!is_reply_to(&reply[..KIND_AT], &request[..KIND_AT]));
    }
}
