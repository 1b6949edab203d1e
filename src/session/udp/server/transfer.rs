//! The send side of one file or stream: its first control datagram
//! (FileReady or StreamStart), its data at the times they are due, and its
//! End message sent [`END_COPIES`] times, [`END_SPACING`] apart.
//!
//! A [`Transfer`] is driven like the endpoint: `poll_transmit(now, buf)`
//! writes what is due, `poll_timeout()` says when more will be. The driver
//! tells it what the kernel did with a send it could not make as asked:
//! [`Transfer::sent_as`] (GSO refused, or a batch cut smaller) and
//! [`Transfer::failed`] (the send failed: an Error goes instead and the
//! transfer ends). [`Transfer::stop`] cuts it short: the End goes at once.
//!
//! A timed file ([`FileOptions::time`]) sends until that time after its
//! request or its cap, whichever comes first; its FileReady says the cap
//! (or 0) and 0 datagrams, its End the real counts. With
//! [`FileOptions::results`], [`RESULTS_COPIES`] Results follow the End
//! copies. Every datagram carries the transfer's TOS byte
//! ([`Transfer::tos`]).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::figures::{Tally, TransferEnd};
use super::file::{FileData, FileSend};
use super::plan::FilePlan;
use super::stream::{SentStamps, StreamData, TAIL_WAIT};
use super::upload::{CpuClock, RESULTS_COPIES};
use crate::proto::datagram::{self, Body, DgramHeader};
use crate::proto::{ErrorCode, Results};
use crate::session::{Epoch, Transmit};

/// How many times an End message is sent.
pub const END_COPIES: u32 = 3;
/// Time between copies of an End message.
pub const END_SPACING: Duration = Duration::from_millis(10);
/// How long after its StreamStart a stream's first segment is due.
pub const STREAM_LEAD: Duration = Duration::from_micros(200);

/// Why a send failed, as far as the transfer cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendFailure {
    /// The datagram does not fit the path MTU (`EMSGSIZE`).
    TooBig,
    /// Any other error, as the system said it.
    Other(String),
}

/// What a file's request asked beyond its plan.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileOptions {
    /// Send for this long after the request (with the plan's size a cap).
    pub time: Option<Duration>,
    /// The cap the request named (0: none), for the FileReady.
    pub cap: u64,
    /// Send the server's figures after the End.
    pub results: bool,
    /// The TOS byte of every datagram (`None`: the socket's).
    pub tos: Option<u8>,
    /// Reads the process's CPU for the figures.
    pub cpu: Option<CpuClock>,
}

/// What is being sent.
#[derive(Debug, Clone)]
enum Data {
    File(FileData),
    Stream(StreamData),
}

/// Where a transfer is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Its first control datagram is due.
    Start,
    /// Its data is going out.
    Data,
    /// End copy `next` is due at `at`.
    End { next: u32, at: Instant },
    /// Results copy `next` is due at `at`.
    Results { next: u32, at: Instant },
    /// A send failed: this Error is due, then the transfer is over.
    Failing(String),
    /// Over.
    Done,
}

/// One file or stream being sent to one peer.
#[derive(Debug, Clone)]
pub struct Transfer {
    peer: SocketAddr,
    session: u32,
    epoch: Epoch,
    fragment: bool,
    created: Instant,
    data: Data,
    phase: Phase,
    sent: Tally,
    /// The last send handed out, and whether it was data: taken back when
    /// the driver says it failed.
    last: Option<(Tally, bool)>,
    end: Option<TransferEnd>,
    options: FileOptions,
    /// When a timed file stops sending.
    deadline: Option<Instant>,
    /// The CPU reading at the start, and the first and last data sends.
    cpu_start: Option<(u64, u64)>,
    active: Option<(Instant, Instant)>,
}

impl Transfer {
    /// A file of `plan` to `peer`'s session `session`, at `rate_bps`.
    pub fn file(
        (peer, session): (SocketAddr, u32),
        plan: FilePlan,
        rate_bps: u64,
        how: FileSend,
        epoch: Epoch,
        now: Instant,
    ) -> Transfer {
        let data = Data::File(FileData::new(plan, rate_bps, how, now));
        Transfer::new(peer, session, epoch, how.fragment, data, now)
    }

    /// A stream of `count` segments of `size` bytes, one every `interval`.
    pub fn stream(
        (peer, session): (SocketAddr, u32),
        (interval, count, size): (Duration, u32, u32),
        fragment: bool,
        epoch: Epoch,
        now: Instant,
    ) -> Transfer {
        let data = Data::Stream(StreamData {
            interval,
            count,
            size,
            t0: now + STREAM_LEAD,
            seq: 0,
            stamps: None,
        });
        Transfer::new(peer, session, epoch, fragment, data, now)
    }

    fn new(
        peer: SocketAddr,
        session: u32,
        epoch: Epoch,
        fragment: bool,
        data: Data,
        now: Instant,
    ) -> Transfer {
        Transfer {
            peer,
            session,
            epoch,
            fragment,
            created: now,
            data,
            phase: Phase::Start,
            sent: Tally::default(),
            last: None,
            end: None,
            options: FileOptions::default(),
            deadline: None,
            cpu_start: None,
            active: None,
        }
    }

    /// The same transfer with a file request's `options` (timed, Results,
    /// marking).
    pub fn with_options(mut self, options: FileOptions) -> Transfer {
        self.deadline = options.time.map(|t| self.created + t);
        self.cpu_start = options.cpu.map(|c| c());
        self.options = options;
        self
    }

    /// The same stream with its segments' TX stamps carried to the client
    /// (a StampedStreamRequest); a file is left as it is.
    pub fn stamped(mut self) -> Transfer {
        if let Data::Stream(s) = &mut self.data {
            s.stamps = Some(Box::default());
        }
        self
    }

    /// Whether it carries its segments' TX stamps.
    pub fn is_stamped(&self) -> bool {
        matches!(&self.data, Data::Stream(s) if s.stamps.is_some())
    }

    /// The segment the datagram just polled holds, when its send should
    /// ask for a TX stamp (once).
    pub fn stamp_wanted(&mut self) -> Option<u32> {
        match &mut self.data {
            Data::Stream(StreamData {
                stamps: Some(st), ..
            }) => st.take_pending(),
            _ => None,
        }
    }

    /// The kernel's TX stamp of segment `seq`, as the driver read it.
    pub fn handle_tx_stamp(&mut self, seq: u32, ns: u64) {
        if let Some(st) = self.sent_stamps() {
            st.tx(seq, ns);
        }
    }

    fn sent_stamps(&mut self) -> Option<&mut SentStamps> {
        match &mut self.data {
            Data::Stream(s) => s.stamps.as_deref_mut(),
            Data::File(_) => None,
        }
    }

    /// The same transfer with every datagram marked `tos`.
    pub fn with_tos(mut self, tos: Option<u8>) -> Transfer {
        self.options.tos = tos;
        self
    }

    /// The TOS byte every datagram goes with (`None`: the socket's).
    pub fn tos(&self) -> Option<u8> {
        self.options.tos
    }

    /// Whether a timed file's time is up at `now`.
    fn past(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }

    /// The peer it goes to.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Whether IP may fragment its datagrams (`--fragment`).
    pub fn fragment(&self) -> bool {
        self.fragment
    }

    /// Whether it is sending data (not yet its End): a stream's driver
    /// waits for these deadlines precisely.
    pub fn in_data(&self) -> bool {
        matches!(self.phase, Phase::Data)
    }

    /// Its stream interval, if it is a stream.
    pub fn interval(&self) -> Option<Duration> {
        match &self.data {
            Data::Stream(s) => Some(s.interval),
            Data::File(_) => None,
        }
    }

    /// Stream segments or file datagrams handed out so far.
    pub fn data_sent(&self) -> u64 {
        match &self.data {
            Data::Stream(s) => u64::from(s.seq),
            Data::File(f) => f.seq(),
        }
    }

    /// How it ended, once over.
    pub fn end(&self) -> Option<&TransferEnd> {
        self.end.as_ref()
    }

    /// When it next has something to send; `None` once over.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Start | Phase::Failing(_) => Some(self.created),
            Phase::Data => match &self.data {
                Data::File(f) => {
                    let due = f.next_due().unwrap_or(self.created);
                    Some(self.deadline.map_or(due, |d| due.min(d)))
                }
                Data::Stream(s) if s.stamps.as_ref().is_some_and(|st| st.fresh()) => {
                    Some(self.created)
                }
                Data::Stream(s) if s.seq < s.count => Some(s.deadline(s.seq)),
                Data::Stream(_) => Some(self.created),
            },
            Phase::End { at, .. } | Phase::Results { at, .. } => Some(*at),
            Phase::Done => None,
        }
    }

    /// Most datagrams per GSO send from now on (see [`FileData::set_gso_limit`]).
    pub fn set_gso_limit(&mut self, n: u64) {
        if let Data::File(f) = &mut self.data {
            f.set_gso_limit(n);
        }
    }

    /// Writes what is due at `now` into `buf`: one datagram, or a batch of
    /// file datagrams for one GSO send.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let header = self.header(0, now);
        match self.phase.clone() {
            Phase::Start => {
                let body = self.start(now);
                self.phase = Phase::Data;
                Some(self.control(header, &body, buf))
            }
            Phase::Data => match self.sent_stamps().filter(|st| st.fresh()) {
                Some(st) => {
                    let body = st.body(false);
                    Some(self.control(header, &body, buf))
                }
                None => self.poll_data(now, header, buf),
            },
            Phase::End { next, at } if at <= now => {
                if let Some(st) = self.sent_stamps().filter(|st| st.due_before_end(next)) {
                    let body = st.body(true);
                    return Some(self.control(header, &body, buf));
                }
                let body = self.end_body();
                let t = self.control(self.header(next, now), &body, buf);
                if next + 1 >= END_COPIES && self.options.results {
                    self.phase = Phase::Results { next: 0, at: now };
                } else if next + 1 >= END_COPIES {
                    self.finish(self.summary(), now);
                } else {
                    self.phase = Phase::End {
                        next: next + 1,
                        at: now + END_SPACING,
                    };
                }
                Some(t)
            }
            Phase::Results { next, at } if at <= now => {
                let body = Body::Results(Box::new(self.results()));
                let t = self.control(self.header(next, now), &body, buf);
                if next + 1 >= RESULTS_COPIES {
                    self.finish(self.summary(), now);
                } else {
                    self.phase = Phase::Results {
                        next: next + 1,
                        at: now + END_SPACING,
                    };
                }
                Some(t)
            }
            Phase::Failing(message) => {
                let t = self.control(header, &Body::error(ErrorCode::BadSize, message), buf);
                self.finish("failed".to_string(), now);
                Some(t)
            }
            Phase::End { .. } | Phase::Results { .. } | Phase::Done => None,
        }
    }

    /// The server's figures of a file sent: bytes, datagrams, the time
    /// between the first and last data send, the CPU over the transfer.
    fn results(&self) -> Results {
        let cpu = self
            .options
            .cpu
            .zip(self.cpu_start)
            .map(|(c, start)| super::upload::cpu_between(start, c()));
        let (bytes, datagrams) = match &self.data {
            Data::File(f) => (f.carried().payload, f.seq()),
            Data::Stream(s) => (s.carried().payload, u64::from(s.seq)),
        };
        Results {
            bytes: Some(bytes),
            active_ns: Some(self.active.map_or(0, |(a, b)| (b - a).as_nanos() as u64)),
            cpu_user_ns: cpu.map(|c| c.0),
            cpu_sys_ns: cpu.map(|c| c.1),
            datagrams: Some(datagrams),
            flags: if self.options.tos.is_some() {
                Results::TOS_APPLIED
            } else {
                0
            },
            ..Results::default()
        }
    }

    fn start(&mut self, now: Instant) -> Body {
        match &mut self.data {
            Data::File(f) => {
                f.start(now);
                let p = f.plan();
                match self.options.time {
                    Some(_) => Body::FileReady {
                        size: self.options.cap,
                        segment: p.segment(),
                        datagrams: 0,
                    },
                    None => Body::FileReady {
                        size: p.size(),
                        segment: p.segment(),
                        datagrams: p.datagrams(),
                    },
                }
            }
            Data::Stream(s) => {
                s.t0 = now + STREAM_LEAD;
                Body::StreamStart {
                    interval_ns: s.interval.as_nanos() as u64,
                    count: s.count,
                    size: s.size,
                    t0_ns: self.epoch.unix_ns_of(s.t0),
                }
            }
        }
    }

    fn poll_data(
        &mut self,
        now: Instant,
        header: DgramHeader,
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        let past = self.past(now);
        let sent = match &mut self.data {
            Data::File(f) if !f.done() && !past => f.poll(now, header, buf).map(|(n, segment)| {
                (
                    n,
                    Transmit {
                        len: buf.len(),
                        segment,
                    },
                )
            }),
            Data::Stream(s) if s.seq < s.count => {
                let due = s.deadline(s.seq);
                if due > now {
                    return None;
                }
                let h = DgramHeader {
                    seq: s.seq,
                    ..header
                };
                let body = Body::StreamSegment {
                    scheduled_ns: self.epoch.unix_ns_of(due),
                    size: s.size,
                };
                datagram::encode(&h, &body, buf);
                if let Some(st) = s.stamps.as_mut() {
                    st.written(s.seq);
                }
                s.seq += 1;
                Some((
                    1,
                    Transmit {
                        len: buf.len(),
                        segment: None,
                    },
                ))
            }
            _ => {
                // A stamped stream's last stamp is awaited a moment.
                let wait = if self.is_stamped() {
                    TAIL_WAIT
                } else {
                    Duration::ZERO
                };
                self.phase = Phase::End {
                    next: 0,
                    at: now + wait,
                };
                return self.poll_transmit(now, buf);
            }
        };
        let (n, t) = sent?;
        self.active = Some(self.active.map_or((now, now), |(a, _)| (a, now)));
        let tally = Tally {
            datagrams: n,
            bytes: t.len as u64,
        };
        self.sent.add(tally);
        self.last = Some((tally, true));
        Some(t)
    }

    fn control(&mut self, h: DgramHeader, body: &Body, buf: &mut Vec<u8>) -> Transmit {
        datagram::encode(&h, body, buf);
        let tally = Tally {
            datagrams: 1,
            bytes: buf.len() as u64,
        };
        self.sent.add(tally);
        self.last = Some((tally, false));
        Transmit {
            len: buf.len(),
            segment: None,
        }
    }

    fn header(&self, seq: u32, now: Instant) -> DgramHeader {
        DgramHeader {
            session: self.session,
            seq,
            offset: 0,
            sent_ns: self.epoch.unix_ns_of(now),
        }
    }

    fn end_body(&self) -> Body {
        match &self.data {
            Data::File(f) => Body::FileEnd {
                datagrams: f.seq(),
                bytes: f.carried().payload,
                sent_with: Some(f.info()),
            },
            Data::Stream(s) => Body::StreamEnd { sent: s.seq },
        }
    }

    fn summary(&self) -> String {
        match &self.data {
            Data::File(f) => f.summary(),
            Data::Stream(s) => format!("sent {} stream segments", s.seq),
        }
    }

    fn finish(&mut self, what: String, now: Instant) {
        self.phase = Phase::Done;
        self.end = Some(self.so_far(what, now));
    }

    /// What it has sent by `now`, as if it ended there for `what`.
    pub fn so_far(&self, what: String, now: Instant) -> TransferEnd {
        let carried = match &self.data {
            Data::File(f) => f.carried(),
            Data::Stream(s) => s.carried(),
        };
        TransferEnd {
            what,
            at: now,
            sent: self.sent,
            carried,
        }
    }

    /// The last batch of file datagrams went out in `calls` sends of at
    /// most `largest` datagrams; with `gso_refused`, the kernel refused GSO
    /// and every later datagram goes alone.
    pub fn sent_as(&mut self, calls: u64, largest: u64, gso_refused: bool) {
        if let Data::File(f) = &mut self.data {
            f.sent_as(calls, largest, gso_refused);
        }
    }

    /// Whether the kernel refused GSO for this file.
    pub fn gso_refused(&self) -> bool {
        matches!(&self.data, Data::File(f) if f.gso_refused())
    }

    /// The last send failed: it is not counted, an Error saying why goes
    /// next, and the transfer ends.
    pub fn failed(&mut self, failure: SendFailure) {
        if matches!(self.phase, Phase::Done | Phase::Failing(_)) {
            return;
        }
        if let Some((undone, data)) = self.last.take() {
            self.sent.datagrams -= undone.datagrams;
            self.sent.bytes -= undone.bytes;
            match &mut self.data {
                Data::File(f) if data => {
                    f.undo();
                }
                Data::Stream(s) if data => s.seq -= 1,
                _ => {}
            }
        }
        let segment = match &self.data {
            Data::File(f) => f.plan().segment(),
            Data::Stream(s) => s.size,
        };
        let message = match failure {
            SendFailure::TooBig => format!(
                "a datagram of {segment} bytes does not fit the path MTU (the kernel said EMSGSIZE); pick a smaller --segment-size or use --fragment"
            ),
            SendFailure::Other(e) => format!("the server could not send: {e}"),
        };
        tracing::warn!("session {:#x} to {}: {message}", self.session, self.peer);
        self.phase = Phase::Failing(message);
    }

    /// Cuts it short at `now`: no more data; its End goes at once.
    pub fn stop(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Start | Phase::Data) {
            self.phase = Phase::End { next: 0, at: now };
        }
    }
}

#[cfg(test)]
mod tests;
