//! The UDP client's uploads and the one entry point for a transfer: the
//! file sent in paced (GSO) datagrams, the server's figures awaited, and
//! the report built from them: what the server received and verified, what
//! it lost, duplicated and reordered, its CPU, and the ECN fields it saw.
//! Without the server's figures the loss is unknown, and said to be.

use std::io::Write;
use std::time::{Duration, Instant};

use super::UdpClient;
use crate::account::beside;
use crate::client::report::{
    CpuFigures, CpuUse, Detail, Ending, Report, ServerView, TransferIo, UdpFigures,
};
use crate::client::ticker::Totals;
use crate::client::transfer::{Direction, Transfer};
use crate::client::{ClientError, UdpSettings};
use crate::net::batch::{self, GSO_MAX_BYTES};
use crate::net::counters;
use crate::pace;
use crate::proto::Results;
use crate::proto::datagram::{DGRAM_HEADER, SendMethod};
use crate::session::udp::client::ClientSession;
use crate::session::udp::client::file_send::{FileSend, SendPlan};
use crate::session::udp::client::handshake::TRIES;
use crate::wire::Transport;

impl UdpClient {
    /// Carries out `t` over UDP with the settings `u`: a download (sized,
    /// timed, or both) or an upload.
    pub fn transfer(
        &mut self,
        t: &Transfer,
        u: &UdpSettings,
        sink: Option<&mut dyn Write>,
    ) -> Result<Report, ClientError> {
        if t.size.is_none() && t.time.is_none() {
            return Err(ClientError::Usage(
                "a transfer needs a size (--file N) or a time (-t DUR)".to_string(),
            ));
        }
        let size = t.size.unwrap_or(0);
        match t.direction {
            Direction::Download => self.file(size, t.time, t.rate_bps, u.segment_size, sink),
            Direction::Upload => self.upload(size, t.time, t.rate_bps, u.segment_size),
        }
    }

    /// Fills the server's view, the client's CPU since `cpu_before` and
    /// what the client's ECN counts saw.
    pub(super) fn server_view(
        &self,
        r: &mut Report,
        results: Option<&Results>,
        start: Instant,
        cpu_before: Option<(f64, f64)>,
    ) {
        r.server = results.map(|x| ServerView::from_results(x, Transport::Udp));
        let wall = start.elapsed().as_secs_f64();
        let client = cpu_before
            .zip(pace::process_cpu())
            .map(|(b, a)| CpuUse::between(b, a, wall));
        let server = r.server.as_ref().and_then(|v| v.cpu);
        if client.is_some() || server.is_some() {
            r.cpu = Some(CpuFigures { client, server });
        }
        if self.ecn {
            r.ecn = Some(self.ecn_counts.into());
        }
    }

    /// Sends a generated file of `size` bytes (with `time`, for that long
    /// and `size` a cap, 0: none) paced at `rate_bps`; the server verifies
    /// every byte and sends its figures.
    pub fn upload(
        &mut self,
        size: u64,
        time: Option<Duration>,
        rate_bps: u64,
        segment: Option<u32>,
    ) -> Result<Report, ClientError> {
        let segment = self.segment_size(segment, DGRAM_HEADER + 1, "--segment-size")?;
        let session = self.new_session(2048);
        let before = counters::read(self.target.is_ipv6());
        let cpu_before = pace::process_cpu();
        let epoch = pace::epoch_now();
        let start = Instant::now();
        let batch = if self.gso_send && !self.fragment {
            (batch::gso_segments())
                .min(GSO_MAX_BYTES / segment as usize)
                .max(1)
        } else {
            1
        };
        let plan = SendPlan {
            size,
            segment,
            rate_bps,
            batch: batch as u32,
            time,
            ecn: self.ecn,
            fragment: self.fragment,
        };
        let counted = segment.saturating_sub(DGRAM_HEADER as u32);
        let total = (time.is_none() || size > 0).then_some(size);
        let mut ticker = self.ticker(start, total, segment, counted);
        let mut s = ClientSession::Upload(FileSend::new(session, epoch, start, plan));
        self.run(&mut s, &mut ticker, None)?;
        let ClientSession::Upload(f) = s else {
            unreachable!("the session stays an upload")
        };
        let Some(res) = f.results().cloned() else {
            return Err(ClientError::NoResults {
                tries: TRIES,
                datagrams: f.sent(),
                bytes: f.bytes(),
            });
        };
        let (go, first, last) = f.times();
        let (first, last) = (first.unwrap_or(go), last.unwrap_or(go));
        let verified = res.bytes;
        let lost = res.lost;
        // A timed run's size is what the client sent in its time.
        let size = if time.is_some() && size == 0 {
            f.bytes()
        } else {
            size
        };
        let detail = Detail::File {
            size,
            verified: verified.is_some(),
            complete: lost == Some(0),
            time_to_first_byte_us: (first - start).as_secs_f64() * 1e6,
            transfer_seconds: (last - first).as_secs_f64(),
            server_written_seconds: None,
            server_acked_seconds: None,
        };
        let bytes = verified.unwrap_or(f.bytes());
        let mut r = self.report("file", bytes, (last - start).as_secs_f64(), detail);
        r.direction = "upload";
        r.intervals = ticker.finish(Totals::udp(f.bytes(), lost.unwrap_or(0)));
        self.server_view(&mut r, Some(&res), start, cpu_before);
        let with = f.sent_with();
        let gso = self.gso_send && with.method == SendMethod::Gso && with.max_batch > 1;
        r.udp = Some(self.upload_figures(&res, &f, segment, gso, before));
        let sent = f.sent();
        let data_wire = f.bytes() + sent * DGRAM_HEADER as u64;
        self.account(&mut r, segment, sent, data_wire, f.tally(), before);
        if let Some(o) = r.overhead.as_mut() {
            let received = res.datagrams.unwrap_or(0) + res.duplicates.unwrap_or(0);
            o.add_udp_batching(&beside::UdpBatching {
                upload: true,
                gso: gso.then_some((with.calls, sent)),
                gro: None,
                gro_buffers: res.buffers.filter(|_| res.gro()).map(|b| (b, received)),
            });
        }
        Ok(r)
    }

    /// The datagram accounting of an upload, from the server's figures.
    fn upload_figures(
        &self,
        res: &Results,
        f: &FileSend,
        segment: u32,
        gso: bool,
        before: Option<counters::UdpCounters>,
    ) -> UdpFigures {
        let sent = f.sent();
        let lost = res.lost.unwrap_or(0);
        let with = f.sent_with();
        UdpFigures {
            datagrams: res.datagrams.unwrap_or(0),
            sent,
            lost,
            duplicates: res.duplicates.unwrap_or(0),
            reordered: res.reordered.unwrap_or(0),
            loss_percent: if sent > 0 {
                lost as f64 * 100.0 / sent as f64
            } else {
                0.0
            },
            segment_size: segment,
            path_mtu: self.mtu,
            ended_by: Some(Ending::EndMessage),
            missing: Vec::new(),
            kernel: before
                .zip(counters::read(self.target.is_ipv6()))
                .map(|(b, a)| a.since(&b)),
            io: TransferIo {
                send: Some(if gso { "gso" } else { "sendto" }),
                send_calls: Some(with.calls),
                send_batch_max: Some(with.max_batch),
                gso_refused: !self.gso_send && !self.fragment && self.gso,
                receive: self.inbox.method().name(),
                receive_calls: self.rx_calls,
                coalesced: None,
                receive_buffers: None,
                datagrams_per_buffer: None,
                upload: true,
            },
        }
    }
}
