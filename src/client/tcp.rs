//! The client's side of echo, file and stream over one TCP connection.
//!
//! One connection carries any number of requests, one after the other (the
//! prompt reuses it). Each method sends a request, reads the answer, and
//! returns a [`Report`] of what it measured.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::record::{Instruments, Recording};
use super::report::{CpuUse, Detail, Report, SAME_HOST_CLOCKS, SocketReport};
use super::ticker::{Ticker, TickerConfig, Totals};
use super::{CONNECT_TIMEOUT, ClientError, REPLY_TIMEOUT, TcpSettings};
use crate::account::beside::{self, Shape};
use crate::account::wire::IpVersion;
use crate::content::Verifier;
use crate::instruments::{FlowModel, Handshake};
use crate::latency::{Jitter, Recorder};
use crate::net::framed::Spin;
use crate::net::socket::{applied_of, tcp_connect_with};
use crate::net::tcpinfo::TcpInfo;
use crate::net::{Applied, ConnError, Framed, SockOpts};
use crate::pace;
use crate::pcap::capture::Transport;
use crate::pcap::model::Direction;
use crate::proto::codec;
use crate::proto::{HEADER_LEN, Message};
use crate::server::record as server_record;

/// Bytes between two points of a file's progress (for `--plot`).
pub const PROGRESS_STEP: u64 = 256 << 10;
/// Most bytes per read when receiving a file: small enough to stay in a
/// core's L2 cache (512 KiB and more on current x86 cores) between the
/// kernel's copy and the verification, large enough that a reader woken
/// once per block (see the receive low-water mark in `file`) costs the
/// sender few wake-ups: 2 GiB took about 20000 wake-ups with 128 KiB
/// blocks and no mark, 3000 with this and the mark.
const READ_CHUNK: usize = 256 << 10;
/// How long a closing client waits for the server's FIN before it stops
/// its live capture.
const TEARDOWN_WAIT: Duration = Duration::from_millis(500);

/// Fewest bytes a file read waits for (unless the file ends first).
const MIN_BLOCK: usize = 16 << 10;
/// A file read waits for about this long's worth of bytes at the rate seen
/// so far: whole blocks on a fast path (one wake-up per block, not one per
/// segment), small ones on a slow link so progress stays smooth.
const BLOCK_TIME: Duration = Duration::from_millis(10);

/// How many bytes the next file read waits for, having `got` bytes
/// `elapsed` after the first.
fn block_size(got: u64, elapsed: Duration) -> usize {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return MIN_BLOCK;
    }
    let per_block = got as f64 / secs * BLOCK_TIME.as_secs_f64();
    (per_block as usize).clamp(MIN_BLOCK, READ_CHUNK)
}

/// The running figures of an echo.
struct EchoRun {
    rtt: Recorder,
    ticker: Ticker,
    bytes: u64,
    start: Instant,
    before: TcpInfo,
}

/// The error for a reply that is not the echo of request `seq`.
fn unexpected_echo(seq: u32, other: &Message) -> ClientError {
    ClientError::Protocol(format!(
        "expected the echo of request {seq}, got {:?}",
        other.kind()
    ))
}

/// A connection to a lab server.
#[derive(Debug)]
pub struct TcpClient {
    conn: Framed,
    target: SocketAddr,
    applied: Applied,
    mss: Option<u32>,
    instruments: Instruments,
    /// What to show while an action runs.
    pub(crate) ticker: TickerConfig,
    /// Busy-poll the echo replies (`--spin`).
    spin: bool,
    /// How long to wait for each reply or read (`--recv-timeout`).
    reply_timeout: Duration,
    /// Whether `reply_timeout` was asked for rather than the default.
    timeout_set: bool,
    /// The pace asked of the server for files, bit/s of payload (0: none).
    rate_bps: u64,
}

impl TcpClient {
    /// Connects with `opts` applied before the handshake.
    pub fn connect(target: SocketAddr, opts: &SockOpts) -> Result<TcpClient, ClientError> {
        TcpClient::connect_recorded(target, opts, &Recording::default())
    }

    /// Connects, with the live capture (if asked) started before the SYN and
    /// the model capture (if asked) opened with the handshake.
    pub fn connect_recorded(
        target: SocketAddr,
        opts: &SockOpts,
        rec: &Recording,
    ) -> Result<TcpClient, ClientError> {
        let mut instruments = Instruments::default();
        let (stream, applied) = tcp_connect_with(target, opts, CONNECT_TIMEOUT, |local| {
            instruments.start_live(rec, Transport::Tcp, local, target.ip())
        })?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
        let info = TcpInfo::read(&stream).unwrap_or_default();
        let local = stream.local_addr()?;
        let (_, seg) = beside::tcp_segment(&info, target.is_ipv6(), opts.mss);
        instruments.open_model(rec, |file| {
            let seen = Handshake {
                rtt_us: info.rtt_us,
                client: true,
            };
            FlowModel::tcp(file, local, target, seg, info.timestamps, seen)
        })?;
        Ok(TcpClient {
            conn: Framed::new(stream),
            target,
            applied,
            mss: opts.mss,
            instruments,
            ticker: TickerConfig::default(),
            spin: false,
            reply_timeout: REPLY_TIMEOUT,
            timeout_set: false,
            rate_bps: 0,
        })
    }

    /// A way to stop, from another thread, whatever this client is waiting
    /// for: it shuts the connection down, so a blocked read or write returns
    /// at once and the action fails.
    pub fn abort_handle(&self) -> Option<Box<dyn FnOnce() + Send>> {
        let s = self.conn.stream().try_clone().ok()?;
        Some(Box::new(move || {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }))
    }

    /// Closes the connection as the model's teardown has it, the client's
    /// FIN first, and waits up to [`TEARDOWN_WAIT`] for the server's FIN
    /// (whatever data comes before it is read and dropped), so that a live
    /// capture stopped next holds the whole teardown the model shows.
    pub fn close_and_wait(&mut self) {
        let s = self.conn.stream();
        if s.shutdown(std::net::Shutdown::Write).is_err() {
            return;
        }
        let deadline = Instant::now() + TEARDOWN_WAIT;
        let mut buf = [0u8; 16384];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
                return;
            }
            match std::io::Read::read(&mut &*s, &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    /// Applies what `--rate` and `--recv-timeout` ask of a TCP client.
    pub fn set_settings(&mut self, s: TcpSettings) {
        self.rate_bps = s.rate_bps;
        if let Some(t) = s.recv_timeout {
            self.reply_timeout = t;
            self.timeout_set = true;
        }
    }

    /// The connection's instruments.
    pub fn instruments(&mut self) -> &mut Instruments {
        &mut self.instruments
    }

    /// Records a message in the model capture, if one is open.
    fn record(&mut self, dir: Direction, msg: &Message, comment: impl FnOnce() -> String) {
        if self.instruments.modelling() {
            if let Ok(bytes) = codec::to_vec(msg) {
                self.instruments.send(dir, &bytes, comment);
            }
        }
    }

    /// The server's address.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    fn report(&self, mode: &'static str, bytes: u64, seconds: f64, detail: Detail) -> Report {
        let socket = SocketReport::Tcp(applied_of(self.conn.stream()).unwrap_or(self.applied));
        Report::new(mode, self.target, bytes, seconds, detail, socket)
    }

    /// A ticker for an action that began at `start`.
    fn ticker(&self, start: Instant, total: Option<u64>) -> Ticker {
        let info = self.info();
        let v6 = self.target.is_ipv6();
        let (_, seg) = beside::tcp_segment(&info, v6, self.mss);
        let l4 = 20 + if info.timestamps { 12 } else { 0 };
        let link = beside::link_for(self.target.ip().is_loopback());
        let factor = beside::wire_factor(link, if v6 { 40 } else { 20 }, l4, seg);
        Ticker::new(self.ticker, start, total, factor)
    }

    /// Running totals for the ticker: `bytes`, and retransmissions since
    /// `before`, read from `TCP_INFO` only when an interval closes.
    fn totals(&self, bytes: u64, before: &TcpInfo) -> Totals {
        Totals {
            bytes,
            retransmissions: Some(
                self.info()
                    .total_retrans
                    .saturating_sub(before.total_retrans),
            ),
            lost: None,
        }
    }

    fn info(&self) -> TcpInfo {
        TcpInfo::read(self.conn.stream()).unwrap_or_default()
    }

    /// Adds the model-beside-kernel report for an action of `shape` that
    /// started with the counters `before`.
    fn account(&self, r: &mut Report, shape: Shape, before: &TcpInfo) {
        let now = self.info();
        let delta = now.since(before);
        let v6 = self.target.is_ipv6();
        let ip = if v6 { IpVersion::V6 } else { IpVersion::V4 };
        let link = beside::link_for(self.target.ip().is_loopback());
        let (mtu, seg) = beside::tcp_segment(&now, v6, self.mss);
        r.overhead = Some(beside::tcp(&[shape], ip, link, mtu, seg, &delta, r.seconds));
    }

    fn set_timeout(&self, t: Duration) -> Result<(), ClientError> {
        self.conn.stream().set_read_timeout(Some(t))?;
        Ok(())
    }

    fn recv(&mut self, timeout: Duration) -> Result<Message, ClientError> {
        match self.conn.read_message() {
            Ok(Some(Message::Error { code, message })) => {
                // The model shows the refusal as the server sent it.
                let refusal = Message::Error {
                    code,
                    message: message.clone(),
                };
                self.record(Direction::ToClient, &refusal, || {
                    format!("error: {message}")
                });
                Err(ClientError::Refused { code, message })
            }
            Ok(Some(m)) => Ok(m),
            Ok(None) => Err(ClientError::Protocol(
                "the server closed the connection".to_string(),
            )),
            Err(ConnError::Io(e)) => Err(ClientError::from_io(e, timeout)),
            Err(e) => Err(ClientError::Protocol(e.to_string())),
        }
    }

    /// Busy-polls the receives of the next echoes (`--spin`), or not.
    pub fn set_spin(&mut self, on: bool) {
        self.spin = on;
    }

    /// `count` round trips of `data`, the i-th sent at start + i·interval.
    /// With `--spin` the client waits for each reply in a busy-poll loop
    /// ([`crate::net::spin`]) instead of a blocking read.
    pub fn echo(
        &mut self,
        data: &[u8],
        count: u32,
        interval: Duration,
    ) -> Result<Report, ClientError> {
        self.set_timeout(self.reply_timeout)?;
        let before = self.info();
        let cpu_before = pace::process_cpu();
        let start = Instant::now();
        let mut run = EchoRun {
            rtt: Recorder::new(),
            ticker: self.ticker(start, None),
            bytes: 0,
            start,
            before,
        };
        if self.spin {
            self.conn.set_spin(Some(Spin {
                wait: self.reply_timeout,
                stop: None,
            }));
            let done = self.echo_loop(data, count, interval, &mut run);
            self.conn.set_spin(None);
            done?;
        } else {
            self.echo_loop(data, count, interval, &mut run)?;
        }
        let EchoRun {
            rtt,
            ticker,
            bytes,
            start,
            before,
        } = run;
        let wall = start.elapsed().as_secs_f64();
        let mut r = self.report(
            "echo",
            bytes,
            wall,
            Detail::Echo {
                count,
                replies: count,
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
        r.histogram = Some(rtt);
        r.intervals = ticker.finish(self.totals(bytes, &before));
        let msg = (HEADER_LEN + 4 + data.len()) as u64;
        let shape = Shape::Echo {
            count: u64::from(count),
            request: msg,
            reply: msg,
        };
        self.account(&mut r, shape, &before);
        Ok(r)
    }

    /// Before echo `seq`: an interval report if one is due, then the wait
    /// for the request's turn.
    fn before_echo(&self, run: &mut EchoRun, interval: Duration, seq: u32) {
        if run.ticker.due() {
            run.ticker.tick(self.totals(run.bytes, &run.before));
        }
        if !interval.is_zero() {
            pace::wait_until(pace::deadline(run.start, interval, seq));
        }
    }

    /// The echo loop, with blocking or busy-polled reads (whichever the
    /// connection does). The request and the reply it should bring are
    /// encoded once, and only their sequence numbers rewritten; the reply's
    /// size is known, so the bytes read are compared with it in place, and
    /// decoded only when they differ (an error from the server, a changed
    /// echo). No allocation and no decoding between the clock reads.
    fn echo_loop(
        &mut self,
        data: &[u8],
        count: u32,
        interval: Duration,
        run: &mut EchoRun,
    ) -> Result<(), ClientError> {
        let wait = self.reply_timeout;
        let encode = |msg: &Message| {
            let mut v = Vec::new();
            codec::encode(msg, &mut v)
                .map(|_| v)
                .map_err(|e| ClientError::Usage(e.to_string()))
        };
        let mut request = encode(&Message::EchoRequest {
            seq: 0,
            data: data.to_vec(),
        })?;
        let mut expected = encode(&Message::EchoReply {
            seq: 0,
            data: data.to_vec(),
        })?;
        let seq_at = HEADER_LEN..HEADER_LEN + 4;
        for seq in 0..count {
            self.before_echo(run, interval, seq);
            request[seq_at.clone()].copy_from_slice(&seq.to_be_bytes());
            expected[seq_at.clone()].copy_from_slice(&seq.to_be_bytes());
            let sent = Instant::now();
            self.conn.send_raw(&request)?;
            let whole = loop {
                let got = self.conn.buffered();
                let n = got.len().min(expected.len());
                if got[..n] != expected[..n] {
                    break false;
                }
                if n == expected.len() {
                    break true;
                }
                let read = self
                    .conn
                    .fill()
                    .map_err(|e| ClientError::from_io(e, wait))?;
                if read == 0 {
                    return Err(ClientError::Protocol(
                        "the server closed the connection".to_string(),
                    ));
                }
            };
            let took = sent.elapsed();
            if !whole {
                // Not the echo: decode what came to say what it is (a
                // refusal goes into the model after its request).
                self.instruments.send(Direction::ToServer, &request, || {
                    format!("echo {seq} request")
                });
                let other = self.recv(wait)?;
                return Err(unexpected_echo(seq, &other));
            }
            self.conn.consume(expected.len());
            run.rtt.record_ns(took.as_nanos() as i128);
            run.bytes += data.len() as u64;
            if self.instruments.modelling() {
                self.instruments.send(Direction::ToServer, &request, || {
                    format!("echo {seq} request")
                });
                self.instruments.send(Direction::ToClient, &expected, || {
                    format!("echo {seq} reply")
                });
            }
        }
        Ok(())
    }

    /// A file of `size` bytes, every byte verified; written to `sink` too if given.
    pub fn file(
        &mut self,
        size: u64,
        mut sink: Option<&mut dyn Write>,
    ) -> Result<Report, ClientError> {
        let wait = self.reply_timeout;
        self.set_timeout(wait)?;
        let before = self.info();
        let start = Instant::now();
        let request = Message::FileRequest {
            size,
            rate_bps: self.rate_bps,
        };
        self.conn.send(&request)?;
        self.record(Direction::ToServer, &request, || {
            format!("file request {size}")
        });
        match self.recv(wait)? {
            Message::FileReady { size: s } if s == size => {}
            other => {
                return Err(ClientError::Protocol(format!(
                    "expected FileReady for {size} bytes, got {other:?}"
                )));
            }
        }
        let mut verifier = Verifier::new();
        let mut ticker = self.ticker(start, Some(size));
        let mut progress = vec![(0.0, 0)];
        let mut last_point = 0u64;
        let mut buf = vec![0u8; READ_CHUNK.min(size.max(1) as usize)];
        let mut first_byte = None;
        // The receive low-water mark follows the block, so the kernel wakes
        // this reader once per block rather than once per arriving segment
        // (each wake-up of a reader on another CPU costs the sender an
        // interprocessor interrupt). Only blocks of the largest size set it
        // (smaller ones change from read to read), and only while at least
        // two blocks remain: a read that copied part of its block and sleeps
        // is woken when a whole mark's worth more has come, which near the
        // end of the file would never happen. The next message read (here
        // FileSent, or any after an error) puts it back to 1.
        while verifier.checked() < size {
            let block = first_byte.map_or(MIN_BLOCK, |t: Instant| {
                block_size(verifier.checked(), t.elapsed())
            });
            let left = size - verifier.checked();
            let want = (left as usize).min(block.min(buf.len()));
            let mark = if want == buf.len() && left >= 2 * want as u64 {
                want
            } else {
                1
            };
            // Without the mark the read is only slower.
            let _ = self.conn.set_recv_lowat(mark);
            let n = self
                .conn
                .read_raw_all(&mut buf[..want])
                .map_err(|e| ClientError::from_io(e, wait))?;
            if n == 0 {
                return Err(ClientError::Short {
                    expected: size,
                    got: verifier.checked(),
                });
            }
            first_byte.get_or_insert_with(Instant::now);
            verifier.feed(&buf[..n])?;
            if verifier.checked() >= last_point + PROGRESS_STEP || verifier.checked() == size {
                last_point = verifier.checked();
                progress.push((start.elapsed().as_secs_f64(), last_point));
            }
            if let Some(w) = sink.as_deref_mut() {
                w.write_all(&buf[..n])?;
            }
            if ticker.due() {
                ticker.tick(self.totals(verifier.checked(), &before));
            }
        }
        let end = Instant::now();
        let first = first_byte.unwrap_or(end);
        // The server reports its own timing once it sees the last byte
        // acknowledged: acknowledge at once rather than after the delayed
        // ACK timer.
        let _ = socket2::SockRef::from(self.conn.stream()).set_tcp_quickack(true);
        if self.instruments.modelling() {
            if let Ok(head) = codec::to_vec(&Message::FileReady { size }) {
                self.instruments
                    .send_file(Direction::ToClient, &head, size, "file");
            }
        }
        let (written, acked) = match self.recv(wait)? {
            Message::FileSent {
                written_ns,
                acked_ns,
            } => {
                let sent = Message::FileSent {
                    written_ns,
                    acked_ns,
                };
                self.record(Direction::ToClient, &sent, || "file sent".to_string());
                (
                    Some(written_ns as f64 / 1e9),
                    (acked_ns > 0).then_some(acked_ns as f64 / 1e9),
                )
            }
            other => {
                return Err(ClientError::Protocol(format!(
                    "expected FileSent after the file, got {:?}",
                    other.kind()
                )));
            }
        };
        let mut r = self.report(
            "file",
            size,
            (end - start).as_secs_f64(),
            Detail::File {
                size,
                verified: true,
                complete: true,
                time_to_first_byte_us: (first - start).as_secs_f64() * 1e6,
                transfer_seconds: (end - first).as_secs_f64(),
                server_written_seconds: written,
                server_acked_seconds: acked,
            },
        );
        r.progress = progress;
        r.intervals = ticker.finish(self.totals(size, &before));
        let head = (HEADER_LEN + 8) as u64;
        // A paced request carries its rate too.
        let request = if self.rate_bps == 0 { head } else { head + 8 };
        let shape = Shape::File {
            up: request,
            down: head + size,
            trailer: (HEADER_LEN + 16) as u64,
        };
        self.account(&mut r, shape, &before);
        Ok(r)
    }

    /// `count` segments of `size` bytes every `interval`.
    pub fn stream(
        &mut self,
        interval: Duration,
        count: u32,
        size: u32,
    ) -> Result<Report, ClientError> {
        // A segment may come up to an interval late; unless a timeout was
        // asked for, allow two intervals and some seconds more.
        let timeout = if self.timeout_set {
            self.reply_timeout.max(interval * 2)
        } else {
            REPLY_TIMEOUT.max(interval * 2 + Duration::from_secs(5))
        };
        self.set_timeout(timeout)?;
        let before = self.info();
        let start = Instant::now();
        let request = Message::StreamRequest {
            interval_ns: interval.as_nanos() as u64,
            count,
            size,
        };
        self.conn.send(&request)?;
        self.record(Direction::ToServer, &request, || {
            "stream request".to_string()
        });
        // The model holds each write of the server as the server made it:
        // StreamStart with segment 0, the last segment with StreamEnd.
        let mut held = HeldWrite::default();
        match self.recv(timeout)? {
            start @ Message::StreamStart { .. } => {
                if self.instruments.modelling() {
                    held.add(&start, None);
                }
            }
            other => {
                return Err(ClientError::Protocol(format!(
                    "expected StreamStart, got {:?}",
                    other.kind()
                )));
            }
        }
        let epoch = pace::epoch_now();
        let mut delay = Recorder::new();
        let mut ticker = self.ticker(start, None);
        let mut schedule = Recorder::new();
        let mut end_drift = None;
        let mut jitter = Jitter::new();
        let mut segments = 0u32;
        let mut bytes = 0u64;
        let sent = loop {
            match self.recv(timeout)? {
                Message::StreamSegment {
                    seq,
                    scheduled_ns,
                    sent_ns,
                    size: got,
                } => {
                    let recv_ns = epoch.unix_ns_of(Instant::now()) as i128;
                    if seq != segments {
                        return Err(ClientError::Protocol(format!(
                            "segment {seq} arrived where {segments} was due"
                        )));
                    }
                    if seq >= count {
                        return Err(ClientError::Protocol(format!(
                            "segment {seq} arrived, beyond the {count} asked for"
                        )));
                    }
                    segments += 1;
                    bytes += u64::from(got);
                    if self.instruments.modelling() {
                        let seg = Message::StreamSegment {
                            seq,
                            scheduled_ns,
                            sent_ns,
                            size: got,
                        };
                        held.add(&seg, Some(seq));
                        if segments < count {
                            held.record(&mut self.instruments, false);
                        }
                    }
                    delay.record_ns(recv_ns - sent_ns as i128);
                    schedule.record_ns(sent_ns as i128 - scheduled_ns as i128);
                    end_drift = Some((sent_ns as i128 - scheduled_ns as i128) as f64 / 1e3);
                    jitter.add(sent_ns as i128, recv_ns);
                    if ticker.due() {
                        ticker.tick(self.totals(bytes, &before));
                    }
                }
                Message::StreamEnd { sent } => {
                    if self.instruments.modelling() {
                        held.add(&Message::StreamEnd { sent }, None);
                        held.record(&mut self.instruments, true);
                    }
                    // TCP loses nothing: what the server says it sent is
                    // what arrived, or one of the two is wrong.
                    if sent != segments {
                        return Err(ClientError::Protocol(format!(
                            "the stream's end says {sent} segments were sent, but {segments} arrived"
                        )));
                    }
                    if sent < count {
                        return Err(ClientError::Cut {
                            what: "stream",
                            sent: u64::from(sent),
                            planned: u64::from(count),
                            unit: "segments",
                        });
                    }
                    break sent;
                }
                other => {
                    return Err(ClientError::Protocol(format!(
                        "expected a stream segment, got {:?}",
                        other.kind()
                    )));
                }
            }
        };
        let mut r = self.report(
            "stream",
            bytes,
            start.elapsed().as_secs_f64(),
            Detail::Stream {
                segments,
                count,
                sent: Some(sent),
                interval_us: interval.as_secs_f64() * 1e6,
                size,
                jitter_us: jitter.estimate_us(),
                jitter_hist_us: jitter.percentiles(),
                schedule_error_us: schedule.percentiles(),
                end_drift_us: end_drift,
                clocks: SAME_HOST_CLOCKS,
            },
        );
        r.latency_us = delay.percentiles();
        r.histogram = Some(delay);
        r.intervals = ticker.finish(self.totals(bytes, &before));
        let shape = Shape::Stream {
            up: (HEADER_LEN + 16) as u64,
            count: u64::from(segments),
            size: u64::from(size),
            start: (HEADER_LEN + 24) as u64,
            end: (HEADER_LEN + 4) as u64,
        };
        self.account(&mut r, shape, &before);
        Ok(r)
    }
}

/// One write of a stream's server in the making, for the model capture:
/// the messages that left together and the segment among them.
#[derive(Default)]
struct HeldWrite {
    bytes: Vec<u8>,
    start: bool,
    seq: Option<u32>,
}

impl HeldWrite {
    /// Adds a message; `seq` for a segment.
    fn add(&mut self, msg: &Message, seq: Option<u32>) {
        if matches!(msg, Message::StreamStart { .. }) {
            self.start = true;
        }
        if seq.is_some() {
            self.seq = seq;
        }
        // A message that came in decoded encodes again.
        let _ = codec::encode(msg, &mut self.bytes);
    }

    /// Records what is held as one send, named as the server names it
    /// (`end`: StreamEnd is in it), and starts the next.
    fn record(&mut self, instruments: &mut Instruments, end: bool) {
        let comment = match self.seq {
            Some(seq) => server_record::stream_comment(seq, self.start, end),
            None if self.start => "stream start; stream end".to_string(),
            None => "stream end".to_string(),
        };
        instruments.send(Direction::ToClient, &self.bytes, || comment);
        *self = HeldWrite::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_follow_the_rate_within_bounds() {
        assert_eq!(block_size(0, Duration::ZERO), MIN_BLOCK);
        // 1 GB/s: 10 ms is 10 MB, more than the largest block.
        assert_eq!(block_size(1 << 30, Duration::from_secs(1)), READ_CHUNK);
        // 10 MB/s: 10 ms is 100 kB.
        assert_eq!(block_size(10_000_000, Duration::from_secs(1)), 100_000);
        // A slow link (1 Mbit/s) waits for the smallest block only.
        assert_eq!(block_size(125_000, Duration::from_secs(1)), MIN_BLOCK);
    }
}
