//! The UDP client's three actions: each checks what was asked, sets up
//! its session ([`crate::session::udp::client`]), runs it through the
//! driver's loop, and turns the session's figures, the kernel's counters
//! and the accounting's prices into a report.

use std::io::Write;
use std::time::{Duration, Instant};

use super::{DEFAULT_ECHO_TIMEOUT, DEFAULT_RECV_TIMEOUT, MISSING_LISTED, Sink, UdpClient};
use crate::account::beside;
use crate::arrivals::Arrivals;
use crate::client::ClientError;
use crate::client::report::{
    CpuFigures, CpuUse, Detail, Ending, Missing, Report, SAME_HOST_CLOCKS, SocketReport,
    TimestampsReport, TransferIo, UdpFigures, hardware_note,
};
use crate::client::ticker::{Ticker, Totals};
use crate::histograms::NamedHistogram;
use crate::net::batch::RecvMethod;
use crate::net::counters::{self, UdpCounters};
use crate::pace;
use crate::proto::ErrorCode;
use crate::proto::datagram::{
    DGRAM_HEADER, DGRAM_SEGMENT_MIN, MAX_UDP_PAYLOAD_V4, MAX_UDP_PAYLOAD_V6, SendMethod,
};
use crate::proto::stamps::STAMPS_LEN;
use crate::session::tcp::stream_stamps::StampPairs;
use crate::session::udp::client::echo::{EchoPlan, request_len};
use crate::session::udp::client::file_recv::FilePlan;
use crate::session::udp::client::stream::StreamPlan;
use crate::session::udp::client::{ClientSession, Echo, Ended, FileReceive, StreamReceive, Tally};
use crate::wire::IpVersion;

impl UdpClient {
    /// A ticker for an action of `segment`-byte datagrams begun at `start`,
    /// whose byte count grows by `counted` per datagram (the file's or the
    /// echo's bytes, without the lab's header; a stream's whole segment), so
    /// that its wire rate prices each counted byte with its share of the
    /// datagram's headers.
    pub(super) fn ticker(
        &self,
        start: Instant,
        total: Option<u64>,
        segment: u32,
        counted: u32,
    ) -> Ticker {
        let v6 = self.target.is_ipv6();
        let link = beside::link_for(self.target.ip().is_loopback());
        let ip = if v6 { IpVersion::V6 } else { IpVersion::V4 };
        let per_segment_byte = beside::udp_wire_factor(ip, link, self.mtu, segment);
        let factor = per_segment_byte * f64::from(segment) / f64::from(counted.max(1));
        Ticker::new(self.ticker.clone(), start, total, factor)
    }

    pub(super) fn report(
        &self,
        mode: &'static str,
        bytes: u64,
        seconds: f64,
        detail: Detail,
    ) -> Report {
        let socket = SocketReport::Udp(self.applied);
        Report::new(mode, self.target, bytes, seconds, detail, socket)
    }

    /// `count` echoes of `data`, one every `interval`; a reply that does not
    /// come within the timeout counts as lost.
    ///
    /// With timestamps on, the requests are stamped; a server that does not
    /// know stamped echoes (an older one refuses the kind) gets plain ones,
    /// and the report says why it has no stamps.
    pub fn echo(
        &mut self,
        data: &[u8],
        count: u32,
        interval: Duration,
    ) -> Result<Report, ClientError> {
        let stamping = self.start_stamps();
        let r = match self.echo_with(data, count, interval, stamping.clone()) {
            Err(ClientError::Refused {
                code: ErrorCode::UnknownKind | ErrorCode::Unexpected,
                ..
            }) if stamping.is_ok() => {
                let _ = self.stop_stamps();
                let why = "the server does not know stamped echoes (an older server): application figures only";
                self.echo_with(data, count, interval, Err(why.to_string()))
            }
            r => r,
        };
        let _ = self.stop_stamps();
        r
    }

    /// An echo, stamped when `stamping` is `Ok`.
    fn echo_with(
        &mut self,
        data: &[u8],
        count: u32,
        interval: Duration,
        stamping: Result<(), String>,
    ) -> Result<Report, ClientError> {
        let size = request_len(data.len());
        self.echo_fits(data.len(), count)?;
        let session = self.new_session(size);
        // One reply per request: one plain recv each (a stamped reply is
        // longer by the server's stamps).
        self.inbox.prepare_one(size + STAMPS_LEN);
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
        let mut echo = Echo::new(session, epoch, start, plan);
        if stamping.is_ok() {
            echo = echo.with_stamps();
        }
        let mut s = ClientSession::Echo(echo);
        self.run(&mut s, &mut ticker, None)?;
        let ClientSession::Echo(e) = s else {
            unreachable!("the session stays an echo")
        };
        let mut f = e.finish().map_err(|e| self.fail(e, None))?;
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
                .map(|(b, a)| CpuFigures::client(CpuUse::between(b, a, wall)));
        }
        r.latency_us = f.rtt.percentiles();
        let local = self.sock.local_addr().ok().map(|a| a.ip());
        r.timestamps = Some(match (stamping, f.stamps.take()) {
            (Ok(()), Some(book)) => TimestampsReport::of(*book, local.and_then(hardware_note))
                .asked_qdisc(self.stamp_qdisc),
            (Err(why), _) => TimestampsReport::none(why),
            (Ok(()), None) => TimestampsReport::none("the echo was not stamped"),
        });
        let lost = u64::from(count).saturating_sub(f.rtt.len());
        r.intervals = ticker.finish(Totals::udp(f.bytes, lost));
        r.histogram = Some(NamedHistogram::new("round trip", "rtt", f.rtt));
        let c = u64::from(count);
        let mut u = self.figures(&f.arrivals, c, f.request_len, None, before, 1);
        // An echo has no End: every reply is awaited up to its timeout.
        u.datagrams = u64::from(f.replies);
        u.lost = u64::from(count - f.replies);
        r.udp = Some(u);
        // The requests are the data; a stamped echo's replies, longer by
        // the server's stamps, are priced as what they are.
        let (len, t) = (f.request_len, f.tally);
        let data = if t.rx_bytes == t.rx * u64::from(len) {
            t.tx + t.rx
        } else {
            t.tx
        };
        self.account(&mut r, len, data, data * u64::from(len), t, before);
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
    pub(super) fn account(
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

    /// Says how batching changed the kernel's counts of a download: `gso`
    /// is the server's GSO calls and the datagrams they carried.
    pub(super) fn note_batching(&self, r: &mut Report, gso: Option<(u64, u64)>) {
        if let Some(o) = r.overhead.as_mut() {
            o.add_udp_batching(&beside::UdpBatching {
                gso,
                gro: (self.inbox.method() == RecvMethod::Gro).then_some(self.rx_coalesced),
                ..beside::UdpBatching::default()
            });
        }
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
                receive_buffers: Some(self.rx_buffers),
                datagrams_per_buffer: Some(
                    (arrivals.received() + arrivals.duplicates()) as f64
                        / self.rx_buffers.max(1) as f64,
                ),
                upload: false,
            },
        }
    }

    /// A file of `size` bytes (with `time`, for that long and `size` a cap,
    /// 0: none), paced at `rate_bps` by the server, every byte that arrives
    /// verified; written to `sink` in file order as it arrives. With a
    /// sink, a sized file that cannot be written whole is an error that
    /// says how much of it the sink holds. The server's Results fill the
    /// report's `server`.
    pub fn file(
        &mut self,
        size: u64,
        time: Option<Duration>,
        rate_bps: u64,
        segment: Option<u32>,
        sink: Option<&mut dyn Write>,
    ) -> Result<Report, ClientError> {
        let segment = self.segment_size(segment, DGRAM_HEADER + 1, "--segment-size")?;
        let silence = self.recv_timeout.unwrap_or(DEFAULT_RECV_TIMEOUT);
        let session = self.new_session(segment.max(1024) as usize);
        let before = counters::read(self.target.is_ipv6());
        let cpu_before = pace::process_cpu();
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
            progress_step: crate::client::tcp::PROGRESS_STEP,
            time,
            results: true,
            ecn: self.ecn,
        };
        let mut sink = sink.map(|w| Sink {
            w,
            written: 0,
            size,
        });
        let counted = segment.saturating_sub(DGRAM_HEADER as u32);
        let total = (time.is_none() || size > 0).then_some(size);
        let mut ticker = self.ticker(start, total, segment, counted);
        let mut s = ClientSession::File(FileReceive::new(session, epoch, start, plan));
        self.run(&mut s, &mut ticker, sink.as_mut())?;
        let ClientSession::File(f) = s else {
            unreachable!("the session stays a file")
        };
        let ending = f.ending().map_err(|e| self.fail(e, None));
        if let Some(p) = sink.as_ref().filter(|p| p.written < size && time.is_none()) {
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
        let lost = f.arrivals.lost(f.sent);
        // A timed run asks for a time, not a size: what was offered is what
        // the server says it sent, else (no Results) what arrived.
        let offered = match (time, size) {
            (Some(_), 0) => f.results.as_ref().and_then(|r| r.bytes).unwrap_or(f.bytes),
            _ => size,
        };
        let detail = Detail::File {
            size: offered,
            verified: true,
            complete: if time.is_some() {
                lost == 0
            } else {
                f.bytes == size
            },
            time_to_first_byte_us: (f.first - start).as_secs_f64() * 1e6,
            transfer_seconds: (f.end - f.first).as_secs_f64(),
            server_written_seconds: None,
            server_acked_seconds: None,
        };
        let mut r = self.report("file", f.bytes, (f.end - start).as_secs_f64(), detail);
        r.progress = f.progress;
        self.server_view(&mut r, f.results.as_ref(), start, cpu_before);
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
        clip_missing(&mut u, time, size);
        r.udp = Some(u);
        self.account(&mut r, segment, f.data, f.data_wire, f.tally, before);
        let gso = f
            .sent_with
            .filter(|w| w.method == SendMethod::Gso)
            .map(|w| (w.calls, f.sent));
        self.note_batching(&mut r, gso);
        Ok(r)
    }

    /// `count` segments of `size` bytes (whole UDP payload) every
    /// `interval`, `stamped` (a StampedStreamRequest) or not; with the
    /// stamped stream's kernel stamps.
    pub(super) fn stream_run(
        &mut self,
        (interval, count, size): (Duration, u32, u32),
        stamped: bool,
    ) -> Result<(Report, Option<StampPairs>), ClientError> {
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
            stamped,
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
        r.histogram = Some(NamedHistogram::new("one-way delay", "delay", f.delay));
        let lost = f.arrivals.lost(f.sent);
        r.intervals = ticker.finish(Totals::udp(f.bytes, lost));
        r.udp = Some(self.figures(&f.arrivals, f.sent, size, Some(f.ended.into()), before, 1));
        let data = f.arrivals.received() + f.arrivals.duplicates();
        self.account(&mut r, size, data, data * u64::from(size), f.tally, before);
        self.note_batching(&mut r, None);
        Ok((r, f.stamps))
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

/// Byte ranges of missing datagrams end at the file's end (a `size`-byte
/// file, or none for an uncapped timed run), not at a whole segment.
fn clip_missing(u: &mut UdpFigures, time: Option<Duration>, size: u64) {
    let end = if time.is_some() && size == 0 {
        u64::MAX
    } else {
        size
    };
    for m in &mut u.missing {
        m.last = m.last.min(end.saturating_sub(1));
    }
}
