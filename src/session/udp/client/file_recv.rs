//! A file received over UDP: asked for after the cookie round trip,
//! placed by offset, every byte verified against the lab's content, loss,
//! duplicates and reordering counted exactly ([`Arrivals`]). Ended by the
//! sender's FileEnd (sent three times; an End claiming more datagrams than
//! the plan is a protocol error, fewer a cut transfer) or, failing that, by
//! silence. With `in_order`, the file's bytes are handed out in file order
//! as they become whole ([`InOrder`]).

use std::time::{Duration, Instant};

use super::handshake::{Ended, Handshake};
use super::reorder::{InOrder, REORDER_LIMIT};
use super::{SessionError, Tally};
use crate::arrivals::{Arrival, Arrivals};
use crate::content;
use crate::proto::datagram::{
    self, Body, DGRAM_HEADER, FLAG_FRAGMENT, FLAG_NO_GSO, KIND_FILE_DATA, SendInfo,
};
use crate::session::{Epoch, Transmit};

/// What a file transfer asks for.
#[derive(Debug, Clone, Copy)]
pub struct FilePlan {
    /// File bytes.
    pub size: u64,
    /// Sender pace, bit/s of UDP payload (0: as fast as it can).
    pub rate_bps: u64,
    /// Whole UDP payload per datagram, lab header included.
    pub segment: u32,
    /// Let IP fragment datagrams larger than the path MTU.
    pub fragment: bool,
    /// Let the server send with UDP GSO.
    pub gso: bool,
    /// Silence that ends the transfer when no End comes.
    pub silence: Duration,
    /// Hand the bytes out in file order.
    pub in_order: bool,
    /// File bytes between two points of the progress curve.
    pub progress_step: u64,
}

/// A file being received.
#[derive(Debug)]
pub struct FileReceive {
    hs: Handshake,
    plan: FilePlan,
    start: Instant,
    /// File bytes per full datagram.
    per: u64,
    /// Datagrams the file takes.
    planned: u64,
    arrivals: Arrivals,
    order: Option<InOrder>,
    /// Bytes in file order not yet taken by the driver.
    ready: Vec<u8>,
    sent_with: Option<SendInfo>,
    /// Whole UDP payload of the data datagrams that arrived, copies too.
    data_wire: u64,
    progress: Vec<(f64, u64)>,
    last_point: u64,
    first_byte: Option<Instant>,
    last_data: Instant,
    bytes: u64,
    tally: Tally,
}

/// What a file transfer measured.
#[derive(Debug)]
pub struct FileFigures {
    /// Which datagrams arrived.
    pub arrivals: Arrivals,
    /// Distinct file bytes that arrived, every one verified.
    pub bytes: u64,
    /// The sender's count and what ended the transfer.
    pub sent: u64,
    /// What ended it.
    pub ended: Ended,
    /// When the first file byte arrived (the end when none did).
    pub first: Instant,
    /// When the transfer ended, as the client can know it.
    pub end: Instant,
    /// (seconds since the start, bytes) points of the transfer.
    pub progress: Vec<(f64, u64)>,
    /// How the sender sent, as its End says.
    pub sent_with: Option<SendInfo>,
    /// Data datagrams that arrived (copies included) and their bytes.
    pub data: u64,
    /// Whole UDP payload of those datagrams.
    pub data_wire: u64,
    /// What the transfer sent and received.
    pub tally: Tally,
}

impl FileReceive {
    /// A transfer of session `session`, begun at `start`.
    pub fn new(session: u32, epoch: Epoch, start: Instant, plan: FilePlan) -> FileReceive {
        let per = u64::from(plan.segment)
            .saturating_sub(DGRAM_HEADER as u64)
            .max(1);
        let planned = plan.size.div_ceil(per);
        let request = Body::FileRequest {
            size: plan.size,
            rate_bps: plan.rate_bps,
            segment: plan.segment,
            flags: if plan.fragment { FLAG_FRAGMENT } else { 0 }
                | if plan.gso { 0 } else { FLAG_NO_GSO },
            token: 0,
        };
        FileReceive {
            hs: Handshake::new(session, epoch, start, request, plan.silence),
            plan,
            start,
            per,
            planned,
            arrivals: Arrivals::new(planned),
            order: plan.in_order.then(|| InOrder::new(REORDER_LIMIT)),
            ready: Vec::new(),
            sent_with: None,
            data_wire: 0,
            progress: vec![(0.0, 0)],
            last_point: 0,
            first_byte: None,
            last_data: start,
            bytes: 0,
            tally: Tally::default(),
        }
    }

    /// The session id.
    pub fn id(&self) -> u32 {
        self.hs.session()
    }

    /// The Hello or the request, while unanswered.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let t = self.hs.poll_transmit(now, buf)?;
        self.tally.sent(t);
        Some(t)
    }

    /// The next retry, the silence's end or the linger's.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.hs.poll_timeout()
    }

    /// Retries and the end of the transfer.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        self.hs.handle_timeout(now)
    }

    /// Datagrams may come at any time.
    pub fn awaits_datagram(&self) -> bool {
        true
    }

    /// Whether the transfer is over.
    pub fn is_done(&self) -> bool {
        self.hs.is_done()
    }

    /// A datagram of the session arrived at `now`.
    pub fn handle_datagram(&mut self, now: Instant, d: &[u8]) -> Result<(), SessionError> {
        self.tally.received(d);
        self.hs.heard(now);
        let (kind, h) =
            datagram::parse_header(d).map_err(|e| SessionError::Protocol(e.to_string()))?;
        if kind == KIND_FILE_DATA {
            return self.data(now, u64::from(h.seq), h.offset, d);
        }
        match datagram::decode(d) {
            Ok((_, Body::FileReady { size, segment, .. })) => {
                if size != self.plan.size || segment != self.plan.segment {
                    return Err(SessionError::Protocol(format!(
                        "asked for {} bytes in {}-byte segments, the server offers {size} in {segment}",
                        self.plan.size, self.plan.segment
                    )));
                }
                self.hs.started();
            }
            Ok((
                _,
                Body::FileEnd {
                    datagrams,
                    sent_with,
                    ..
                },
            )) => {
                self.sent_with = self.sent_with.or(sent_with);
                self.hs.end(now, datagrams);
                self.hs.check_complete(self.arrivals.received());
            }
            Ok((_, body)) => self.hs.handle_control(now, &body)?,
            Err(_) => {}
        }
        Ok(())
    }

    /// A FileData datagram: placed, verified, counted.
    fn data(&mut self, now: Instant, seq: u64, offset: u64, d: &[u8]) -> Result<(), SessionError> {
        self.hs.started();
        self.data_wire += d.len() as u64;
        let data = &d[DGRAM_HEADER..];
        let (per, size) = (self.per, self.plan.size);
        let expected_len = per.min(size.saturating_sub(seq.saturating_mul(per)));
        if seq >= self.planned || offset != seq * per || data.len() as u64 != expected_len {
            return Err(SessionError::Protocol(format!(
                "datagram {seq} claims offset {offset} and {} bytes, which does not fit {per}-byte segments of a {size}-byte file",
                data.len()
            )));
        }
        content::check_at(offset, data)?;
        self.first_byte.get_or_insert(now);
        self.last_data = now;
        if self.arrivals.record(seq) != Arrival::Duplicate {
            self.bytes += data.len() as u64;
            if self.bytes >= self.last_point + self.plan.progress_step {
                self.last_point = self.bytes;
                let at = (now - self.start).as_secs_f64();
                self.progress.push((at, self.bytes));
            }
            if let Some(o) = self.order.as_mut() {
                o.take(seq, data, &mut self.ready)?;
            }
        }
        self.hs.check_complete(self.arrivals.received());
        Ok(())
    }

    /// The file's bytes that became ready in file order since the last
    /// call (with `in_order`); the driver writes them out, then calls
    /// [`consume_ready`](Self::consume_ready).
    pub fn ready_bytes(&self) -> &[u8] {
        &self.ready
    }

    /// The ready bytes were taken.
    pub fn consume_ready(&mut self) {
        self.ready.clear();
    }

    /// File bytes so far and datagrams missing so far.
    pub fn totals(&self) -> (u64, u64) {
        (self.bytes, self.arrivals.missing_so_far())
    }

    /// What the transfer sent and received.
    pub fn tally(&self) -> Tally {
        self.tally
    }

    /// The datagrams the file takes.
    pub fn planned(&self) -> u64 {
        self.planned
    }

    /// Which datagrams arrived so far.
    pub fn arrivals(&self) -> &Arrivals {
        &self.arrivals
    }

    /// The sender's count and what ended the transfer, or why it failed.
    pub fn ending(&self) -> Result<(u64, Ended), SessionError> {
        self.hs.ending(self.planned, "file", "datagrams")
    }

    /// The figures of a transfer over at `now`.
    pub fn finish(self, now: Instant) -> Result<FileFigures, SessionError> {
        let (sent, ended) = self.ending()?;
        let end = match (ended, self.hs.end_at()) {
            (Ended::Silence, _) | (_, None) => self.last_data,
            (Ended::EndMessage, Some(at)) => now.min(self.last_data.max(at)),
        };
        let mut progress = self.progress;
        progress.push(((end - self.start).as_secs_f64(), self.bytes));
        Ok(FileFigures {
            bytes: self.bytes,
            sent,
            ended,
            first: self.first_byte.unwrap_or(end),
            end,
            progress,
            sent_with: self.sent_with,
            data: self.arrivals.received() + self.arrivals.duplicates(),
            data_wire: self.data_wire,
            arrivals: self.arrivals,
            tally: self.tally,
        })
    }
}
