//! The client's side of echo, file and stream over one TCP connection.
//!
//! One connection carries any number of requests, one after the other (the
//! prompt reuses it). Each method builds the action's session
//! ([`crate::session::tcp::ClientAction`]), runs it through one driver loop
//! (sends what it asks for, waits for its deadlines, reads what comes, feeds
//! the model capture and the ticker), and returns a [`Report`] of what it
//! measured. [`echo`] holds the echo's driver and its kernel timestamps;
//! [`one_way`] a stream's, with the stamped echoes around it that give the
//! clock offset; [`transfer`] holds the TransferRequest's driver: a file
//! either way, sized or timed, and the server's figures of it.

mod echo;
mod one_way;
mod transfer;

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::record::{Instruments, Recording};
use super::report::{Detail, Report, SAME_HOST_CLOCKS, SocketReport};
use super::ticker::{Ticker, TickerConfig, Totals};
use super::{CONNECT_TIMEOUT, ClientError, REPLY_TIMEOUT, TcpSettings};
use crate::account::beside::{self, Shape};
use crate::histograms::NamedHistogram;
use crate::instruments::{FlowModel, Handshake};
use crate::net::socket::{applied_of, tcp_connect_with};
use crate::net::tcpinfo::TcpInfo;
use crate::net::{Applied, Framed, SockOpts};
use crate::pace;
use crate::pcap::model::Direction;
use crate::session::stamps::ClientStamp;
use crate::session::tcp::stream_stamps::StampPairs;
use crate::session::tcp::{
    Bulk, ClientAction, Event, FileClient, Finished, Record, SessionError, StreamClient, Toward,
};
use crate::wire::IpVersion;
use crate::wire::Transport;

pub use crate::session::tcp::PROGRESS_STEP;
/// How long a closing client waits for the server's FIN before it stops
/// its live capture.
const TEARDOWN_WAIT: Duration = Duration::from_millis(500);

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
    /// The receive timeout of the running action.
    wait: Duration,
    /// The pace asked of the server for files, bit/s of payload (0: none).
    rate_bps: u64,
    /// The TOS byte of the client's socket, asked of the server's too.
    tos: Option<u8>,
    /// The congestion control of the client's socket, asked of the
    /// server's too.
    congestion: Option<String>,
    /// `--ecn`: the server's report says whether ECN was negotiated.
    ecn: bool,
    /// Echoes read the kernel's timestamps (not `--no-timestamps`).
    timestamps: bool,
    /// Streams are stamped, between stamped echoes (`--stream
    /// --timestamps`).
    stream_timestamps: bool,
    /// Echo requests are stamped at the queueing discipline too
    /// (`--stamp-qdisc`).
    stamp_qdisc: bool,
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
            wait: REPLY_TIMEOUT,
            rate_bps: 0,
            tos: opts.tos,
            congestion: opts.congestion.clone(),
            ecn: false,
            timestamps: false,
            stream_timestamps: false,
            stamp_qdisc: false,
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

    /// A clone of the connection's socket (the same connection).
    pub fn stream_clone(&self) -> std::io::Result<std::net::TcpStream> {
        self.conn.stream().try_clone()
    }

    /// Closes the connection as the model's teardown has it, the client's
    /// FIN first, and waits up to [`TEARDOWN_WAIT`] for the server's FIN
    /// (whatever data comes before it is read and dropped), so that a live
    /// capture stopped next holds the whole teardown the model shows.
    pub fn close_and_wait(&mut self) {
        crate::net::close_and_drain(self.conn.stream(), TEARDOWN_WAIT);
    }

    /// Applies what `--rate` and `--recv-timeout` ask of a TCP client.
    pub fn set_settings(&mut self, s: TcpSettings) {
        self.rate_bps = s.rate_bps;
        if let Some(t) = s.recv_timeout {
            self.reply_timeout = t;
            self.timeout_set = true;
        }
    }

    /// `--ecn`: a transfer asks the server to report ECN.
    pub fn set_ecn(&mut self, on: bool) {
        self.ecn = on;
    }

    /// The connection's instruments.
    pub fn instruments(&mut self) -> &mut Instruments {
        &mut self.instruments
    }

    /// The server's address.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// A second handle on the connection's socket, for reading its
    /// `TCP_INFO` from another thread while an action runs.
    pub fn socket_handle(&self) -> Option<std::net::TcpStream> {
        self.conn.stream().try_clone().ok()
    }

    fn report(&self, mode: &'static str, bytes: u64, seconds: f64, detail: Detail) -> Report {
        let socket = SocketReport::Tcp(
            applied_of(self.conn.stream()).unwrap_or_else(|_| self.applied.clone()),
        );
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
        Ticker::new(self.ticker.clone(), start, total, factor)
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

    /// Sets the receive timeout of the action about to run.
    fn set_timeout(&mut self, t: Duration) -> Result<(), ClientError> {
        self.conn.stream().set_read_timeout(Some(t))?;
        self.wait = t;
        Ok(())
    }

    /// A file of `size` bytes, every byte verified; written to `sink` too if given.
    pub fn file(&mut self, size: u64, sink: Option<&mut dyn Write>) -> Result<Report, ClientError> {
        let wait = self.reply_timeout;
        self.set_timeout(wait)?;
        let before = self.info();
        let start = Instant::now();
        let mut action = ClientAction::File(FileClient::new(start, size, self.rate_bps, wait));
        let mut ticker = self.ticker(start, Some(size));
        self.drive(&mut action, sink, &mut ticker, &before)?;
        let Some(Finished::File(f)) = action.finish() else {
            return Err(unfinished());
        };
        let detail = Detail::File {
            size,
            verified: true,
            complete: true,
            time_to_first_byte_us: (f.first - start).as_secs_f64() * 1e6,
            transfer_seconds: (f.end - f.first).as_secs_f64(),
            server_written_seconds: Some(f.written),
            server_acked_seconds: f.acked,
        };
        let mut r = self.report("file", size, (f.end - start).as_secs_f64(), detail);
        r.progress = f.progress;
        r.intervals = ticker.finish(self.totals(size, &before));
        self.account(&mut r, f.shape, &before);
        Ok(r)
    }

    /// `count` segments of `size` bytes every `interval`, each followed by
    /// the server's kernel TX stamp when `stamped`; the stamps' pairs come
    /// back beside the report.
    fn stream_run(
        &mut self,
        (interval, count, size): (Duration, u32, u32),
        stamped: bool,
    ) -> Result<(Report, Option<StampPairs>), ClientError> {
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
        let epoch = pace::epoch_now();
        let plan = (interval, count, size);
        let stream = if stamped {
            StreamClient::stamped(start, epoch, plan, timeout)
        } else {
            StreamClient::new(start, epoch, plan, timeout)
        };
        let mut action = ClientAction::Stream(stream);
        let mut ticker = self.ticker(start, None);
        self.drive(&mut action, None, &mut ticker, &before)?;
        let Some(Finished::Stream(s)) = action.finish() else {
            return Err(unfinished());
        };
        let detail = Detail::Stream {
            segments: s.segments,
            count,
            sent: Some(s.sent),
            interval_us: interval.as_secs_f64() * 1e6,
            size,
            jitter_us: s.jitter.estimate_us(),
            jitter_hist_us: s.jitter.percentiles(),
            schedule_error_us: s.schedule.percentiles(),
            end_drift_us: s.end_drift_us,
            clocks: SAME_HOST_CLOCKS,
        };
        let mut r = self.report("stream", s.bytes, start.elapsed().as_secs_f64(), detail);
        r.latency_us = s.delay.percentiles();
        r.histogram = Some(NamedHistogram::new("one-way delay", "delay", s.delay));
        r.intervals = ticker.finish(self.totals(s.bytes, &before));
        self.account(&mut r, s.shape, &before);
        Ok((r, s.stamps))
    }

    /// Runs `action` to its end: sends what it asks for, waits for its
    /// deadlines, reads what comes and hands it over, copies file data to
    /// `sink`, and runs the instruments (the model's records, the ticker)
    /// as it goes. One loop for every action.
    fn drive(
        &mut self,
        action: &mut ClientAction,
        mut sink: Option<&mut dyn Write>,
        ticker: &mut Ticker,
        before: &TcpInfo,
    ) -> Result<(), ClientError> {
        action.set_recording(self.instruments.modelling());
        let mut out = Vec::new();
        let mut block = Vec::new();
        loop {
            // The time is read for every write: a timed upload ends on it.
            while let Some(t) = action.poll_transmit(Instant::now(), &mut out) {
                let sent = match action.stamped_outstanding() {
                    Some(seq) => {
                        let app_ns = crate::net::timestamping::now_ns();
                        action.handle_stamp(ClientStamp::Sent { seq, app_ns });
                        self.conn.send_stamped(&out[..t.len], seq)
                    }
                    None => self.conn.send_raw(&out[..t.len]),
                };
                if let Err(e) = sent {
                    return Err(self.answer_after(action, &mut sink, e));
                }
                if action.uploading() && self.conn.has_input() {
                    // The server answered before the end: a refusal.
                    self.take_events(action);
                    self.read_some(action, &mut sink)?;
                }
            }
            self.take_events(action);
            if action.is_done() {
                return Ok(());
            }
            if ticker.due() {
                ticker.tick(self.totals(action.bytes(), before));
            }
            if !action.wants_input() {
                if let Some(t) = action.poll_timeout() {
                    pace::wait_until(t);
                }
                action.handle_timeout(Instant::now())?;
                continue;
            }
            let bulk = action.bulk();
            let got = match bulk {
                Some(b) if self.conn.buffered().is_empty() => {
                    self.read_block(action, b, &mut block, &mut sink)
                }
                _ => self.read_some(action, &mut sink),
            };
            self.take_events(action);
            got?;
            if bulk.is_some() && action.bulk().is_none() {
                // The server reports its own timing once it sees the last
                // byte acknowledged: acknowledge at once rather than after
                // the delayed ACK timer.
                let _ = socket2::SockRef::from(self.conn.stream()).set_tcp_quickack(true);
            }
        }
    }

    /// One read of whatever comes, handed to `action`.
    fn read_some(
        &mut self,
        action: &mut ClientAction,
        sink: &mut Option<&mut dyn Write>,
    ) -> Result<(), ClientError> {
        let wait = self.wait;
        let n = self
            .conn
            .fill()
            .map_err(|e| ClientError::from_io(e, wait))?;
        if n == 0 {
            return Err(action.handle_eof().into());
        }
        if let Some((rx, app_ns)) = self.conn.last_read() {
            let rx_ns = rx.map(|s| s.ns);
            action.handle_stamp(ClientStamp::Received {
                seq: 0,
                rx_ns,
                app_ns,
            });
            self.take_tx_stamps(action);
        }
        let bytes = self.conn.buffered();
        let len = bytes.len();
        // What an action took, it took whole, even when it failed on it.
        let data = action.handle_bytes(Instant::now(), bytes);
        let written = match (&data, sink.as_deref_mut()) {
            (Ok(d), Some(w)) => w.write_all(&bytes[d.clone()]),
            _ => Ok(()),
        };
        self.conn.consume(len);
        data?;
        Ok(written?)
    }

    /// One block of a download's bytes, read straight into `buf` as
    /// `bulk` plans it and handed to `action` (a timed file's FileData
    /// headers and its FileEnd among them: the action takes the bytes
    /// however they are cut). The next message read (here FileSent, or any
    /// after an error) puts the low-water mark back to 1.
    fn read_block(
        &mut self,
        action: &mut ClientAction,
        bulk: Bulk,
        buf: &mut Vec<u8>,
        sink: &mut Option<&mut dyn Write>,
    ) -> Result<(), ClientError> {
        if buf.is_empty() {
            buf.resize(bulk.buffer_len(), 0);
        }
        let plan = bulk.next_read(Instant::now(), buf.len());
        let wait = self.wait;
        let n = self
            .conn
            .read_block(buf, plan)
            .map_err(|e| ClientError::from_io(e, wait))?;
        if n == 0 {
            return Err(action.handle_eof().into());
        }
        let data = action.handle_bytes(Instant::now(), &buf[..n])?;
        if let Some(w) = sink.as_deref_mut() {
            w.write_all(&buf[data])?;
        }
        Ok(())
    }

    /// Hands the action's records to the model capture.
    fn take_events(&mut self, action: &mut ClientAction) {
        while let Some(e) = action.poll_event() {
            let Event::Record(r) = e else {
                continue;
            };
            match r {
                Record::Bytes {
                    toward,
                    bytes,
                    comment,
                } => self.instruments.send(direction(toward), &bytes, || comment),
                Record::File {
                    toward,
                    head,
                    len,
                    comment,
                } => self
                    .instruments
                    .send_file(direction(toward), &head, len, &comment),
                Record::Timed {
                    toward,
                    head,
                    len,
                    end,
                    comment,
                } => self
                    .instruments
                    .send_timed(direction(toward), &head, len, end, &comment),
            }
        }
    }
}

/// The model capture's direction for bytes sent `toward`.
fn direction(toward: Toward) -> Direction {
    match toward {
        Toward::Server => Direction::ToServer,
        Toward::Client => Direction::ToClient,
    }
}

/// An action that ended without its figures: a driver's mistake, reported
/// rather than trusted.
fn unfinished() -> ClientError {
    ClientError::Protocol("the exchange ended before its figures were whole".to_string())
}

impl From<SessionError> for ClientError {
    fn from(e: SessionError) -> ClientError {
        match e {
            SessionError::Refused { code, message } => ClientError::Refused { code, message },
            SessionError::Protocol(m) => ClientError::Protocol(m),
            SessionError::Verify(m) => ClientError::Verify(m),
            SessionError::Rejected { offset, message } => ClientError::Rejected { offset, message },
            SessionError::Short { expected, got } => ClientError::Short { expected, got },
            SessionError::Cut { sent, planned } => ClientError::Cut {
                what: "stream",
                sent,
                planned,
                unit: "segments",
            },
            SessionError::Timeout(d) => ClientError::Timeout(d),
            SessionError::Usage(m) => ClientError::Usage(m),
        }
    }
}
