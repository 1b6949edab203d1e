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

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::figures::{Carried, Tally, TransferEnd};
use super::file::{FileData, FileSend};
use super::plan::FilePlan;
use crate::proto::ErrorCode;
use crate::proto::datagram::{self, Body, DgramHeader};
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

/// A stream's segments: one per interval, each at its deadline.
#[derive(Debug, Clone)]
struct StreamData {
    interval: Duration,
    count: u32,
    size: u32,
    t0: Instant,
    seq: u32,
}

impl StreamData {
    fn deadline(&self, seq: u32) -> Instant {
        self.t0 + self.interval.saturating_mul(seq)
    }

    fn carried(&self) -> Carried {
        let bytes = u64::from(self.seq) * u64::from(self.size);
        Carried {
            data: Tally {
                datagrams: u64::from(self.seq),
                bytes,
            },
            payload: bytes,
            segment: self.size,
            gso: None,
        }
    }
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
        }
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
                Data::File(f) => Some(f.next_due().unwrap_or(self.created)),
                Data::Stream(s) if s.seq < s.count => Some(s.deadline(s.seq)),
                Data::Stream(_) => Some(self.created),
            },
            Phase::End { at, .. } => Some(*at),
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
            Phase::Data => self.poll_data(now, header, buf),
            Phase::End { next, at } if at <= now => {
                let body = self.end_body();
                let t = self.control(self.header(next, now), &body, buf);
                if next + 1 >= END_COPIES {
                    self.finish(self.summary(), now);
                } else {
                    self.phase = Phase::End {
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
            Phase::End { .. } | Phase::Done => None,
        }
    }

    fn start(&mut self, now: Instant) -> Body {
        match &mut self.data {
            Data::File(f) => {
                f.start(now);
                let p = f.plan();
                Body::FileReady {
                    size: p.size(),
                    segment: p.segment(),
                    datagrams: p.datagrams(),
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
        let sent = match &mut self.data {
            Data::File(f) if !f.done() => f.poll(now, header, buf).map(|(n, segment)| {
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
                self.phase = Phase::End { next: 0, at: now };
                return self.poll_transmit(now, buf);
            }
        };
        let (n, t) = sent?;
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
