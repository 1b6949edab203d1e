//! A generated file sent over UDP (an upload): the cookie round trip and
//! the request with the upload bit ([`Handshake`]) until the server's
//! FileReady gives the go-ahead; then the lab's content cut into datagrams
//! of one segment size, each placed by its sequence number and offset,
//! paced at a bit rate of UDP payload, until the file (the cap) is sent or
//! the time is up; then the sender's counts in a FileEnd, [`END_COPIES`]
//! at once and again every [`RETRY`] until the server's [`Results`] come
//! ([`TRIES`] FileEnds in all; without them the server's figures are not
//! available). With `batch` above one, due datagrams go out together in
//! one [`Transmit`] of equal segments (UDP GSO). Nothing is sent again:
//! UDP loss is the receiver's to count, and the server reports it.

use std::time::{Duration, Instant};

use super::handshake::{Handshake, RETRY, TRIES};
use super::{SessionError, Tally};
use crate::content;
use crate::proto::Results;
use crate::proto::datagram::{
    self, Body, DGRAM_HEADER, DgramHeader, FLAG_ECN, FLAG_FRAGMENT, FLAG_RESULTS, FLAG_UPLOAD,
    KIND_FILE_DATA, SendInfo, SendMethod,
};
use crate::proto::message::ErrorCode;
use crate::session::{Epoch, Pacer, Transmit};

/// How many FileEnd copies go out at once, so that one loss does not hide
/// it.
pub const END_COPIES: u32 = 3;

/// What an upload sends.
#[derive(Debug, Clone, Copy)]
pub struct SendPlan {
    /// File bytes: the whole file, or with `time` a cap (0: none).
    pub size: u64,
    /// Whole UDP payload per datagram, lab header included.
    pub segment: u32,
    /// Pace, bit/s of UDP payload (0: as fast as the driver sends).
    pub rate_bps: u64,
    /// Most datagrams in one transmit (1: one send per datagram).
    pub batch: u32,
    /// Send for this long from the go-ahead (with `size` a cap).
    pub time: Option<Duration>,
    /// Ask the server to count the ECN field of what it receives.
    pub ecn: bool,
    /// Let IP fragment datagrams larger than the path MTU.
    pub fragment: bool,
}

/// Where the upload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The cookie round trip and the request.
    Asking,
    /// The file's datagrams.
    Data,
    /// FileEnds until the Results come.
    Ending,
    /// Over, with or without the server's figures.
    Done,
}

/// A file being sent.
#[derive(Debug)]
pub struct FileSend {
    hs: Handshake,
    epoch: Epoch,
    plan: SendPlan,
    phase: Phase,
    per: u64,
    /// The datagrams the file (the cap) takes.
    planned: u64,
    /// The next datagram to send.
    next: u64,
    /// When the data began, and when it must stop (timed).
    go: Instant,
    deadline: Option<Instant>,
    /// When the first and the last datagram left.
    first: Option<Instant>,
    last: Option<Instant>,
    ends_sent: u32,
    last_end: Instant,
    /// Transmits that carried file data, and the most datagrams in one.
    calls: u64,
    max_batch: u32,
    results: Option<Results>,
    tally: Tally,
}

impl FileSend {
    /// An upload of session `session`, begun at `start`.
    pub fn new(session: u32, epoch: Epoch, start: Instant, plan: SendPlan) -> FileSend {
        let per = u64::from(plan.segment)
            .saturating_sub(DGRAM_HEADER as u64)
            .max(1);
        let cap = if plan.size == 0 && plan.time.is_some() {
            u64::MAX
        } else {
            plan.size
        };
        let flags = FLAG_UPLOAD
            | FLAG_RESULTS
            | if plan.ecn { FLAG_ECN } else { 0 }
            | if plan.fragment { FLAG_FRAGMENT } else { 0 };
        let request = Body::FileRequest {
            size: plan.size,
            rate_bps: plan.rate_bps,
            segment: plan.segment,
            flags,
            token: 0,
            time_ns: plan.time.map_or(0, |t| t.as_nanos() as u64),
        };
        FileSend {
            hs: Handshake::new(session, epoch, start, request, Duration::from_secs(3600)),
            epoch,
            plan,
            phase: Phase::Asking,
            per,
            planned: cap.div_ceil(per),
            next: 0,
            go: start,
            deadline: None,
            first: None,
            last: None,
            ends_sent: 0,
            last_end: start,
            calls: 0,
            max_batch: 0,
            results: None,
            tally: Tally::default(),
        }
    }

    /// The session id.
    pub fn id(&self) -> u32 {
        self.hs.session()
    }

    /// The datagrams sent so far.
    pub fn sent(&self) -> u64 {
        self.next
    }

    /// File bytes sent so far: every datagram full but perhaps the last.
    pub fn bytes(&self) -> u64 {
        match self.next {
            0 => 0,
            n => (n - 1) * self.per + self.len_of(n - 1),
        }
    }

    /// The server's figures, once they came.
    pub fn results(&self) -> Option<&Results> {
        self.results.as_ref()
    }

    /// When the go-ahead came, and the first and last datagram left.
    pub fn times(&self) -> (Instant, Option<Instant>, Option<Instant>) {
        (self.go, self.first, self.last)
    }

    /// How the file was sent: GSO batches or one datagram per send.
    pub fn sent_with(&self) -> SendInfo {
        SendInfo {
            method: if self.plan.batch > 1 {
                SendMethod::Gso
            } else {
                SendMethod::Sendto
            },
            calls: self.calls,
            max_batch: self.max_batch,
        }
    }

    /// When datagram `n` may leave: after the bytes before it at the rate.
    fn due(&self, n: u64) -> Instant {
        Pacer::new(self.go, self.plan.rate_bps).due(n.saturating_mul(u64::from(self.plan.segment)))
    }

    /// Whether the data is over at `now`: the file (cap) sent, or the
    /// time up.
    fn data_over(&self, now: Instant) -> bool {
        self.next >= self.planned || self.deadline.is_some_and(|d| now >= d)
    }

    /// The Hello or the request, the data that is due, then the FileEnds.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        buf.clear();
        match self.phase {
            Phase::Asking => {
                let t = self.hs.poll_transmit(now, buf)?;
                self.tally.sent(t);
                Some(t)
            }
            Phase::Data if self.data_over(now) => {
                self.phase = Phase::Ending;
                self.poll_transmit(now, buf)
            }
            Phase::Data => self.data(now, buf),
            Phase::Ending => self.end(now, buf),
            Phase::Done => None,
        }
    }

    /// The datagrams due at `now`, in one transmit.
    fn data(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if now < self.due(self.next) {
            return None;
        }
        let mut n = 0u32;
        while !self.data_over(now) && n < self.plan.batch.max(1) {
            if n > 0 && (now < self.due(self.next) || self.len_of(self.next) < self.per) {
                break;
            }
            self.append(now, buf);
            n += 1;
        }
        self.calls += 1;
        self.max_batch = self.max_batch.max(n);
        self.first.get_or_insert(now);
        self.last = Some(now);
        let t = Transmit {
            len: buf.len(),
            segment: (n > 1).then_some(self.plan.segment as usize),
        };
        self.tally.sent(t);
        Some(t)
    }

    /// A FileEnd when one is due: [`END_COPIES`] at once, then one every
    /// [`RETRY`].
    fn end(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let due =
            self.ends_sent < END_COPIES || (self.ends_sent < TRIES && now >= self.last_end + RETRY);
        if !due {
            return None;
        }
        self.ends_sent += 1;
        self.last_end = now;
        let h = DgramHeader {
            session: self.id(),
            seq: self.ends_sent - 1,
            offset: 0,
            sent_ns: self.epoch.unix_ns_of(now),
        };
        let body = Body::FileEnd {
            datagrams: self.next,
            bytes: self.bytes(),
            sent_with: Some(self.sent_with()),
        };
        datagram::encode(&h, &body, buf);
        let t = Transmit {
            len: buf.len(),
            segment: None,
        };
        self.tally.sent(t);
        Some(t)
    }

    /// File bytes datagram `n` carries.
    fn len_of(&self, n: u64) -> u64 {
        let cap = if self.plan.size == 0 && self.plan.time.is_some() {
            u64::MAX
        } else {
            self.plan.size
        };
        self.per.min(cap - n * self.per)
    }

    /// Appends datagram `next` to `buf`.
    fn append(&mut self, now: Instant, buf: &mut Vec<u8>) {
        let n = self.next;
        let offset = n * self.per;
        let h = DgramHeader {
            session: self.id(),
            seq: n as u32,
            offset,
            sent_ns: self.epoch.unix_ns_of(now),
        };
        datagram::append_header(buf, KIND_FILE_DATA, &h);
        let at = buf.len();
        buf.resize(at + self.len_of(n) as usize, 0);
        content::fill(offset, &mut buf[at..]);
        self.next += 1;
    }

    /// When the session next wants to be woken.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Asking => self.hs.poll_timeout(),
            Phase::Data => {
                let due = self.due(self.next);
                Some(self.deadline.map_or(due, |d| due.min(d)))
            }
            Phase::Ending => Some(self.last_end + RETRY),
            Phase::Done => None,
        }
    }

    /// Retries of the request; the end of the wait for the Results.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        match self.phase {
            Phase::Asking => self.hs.handle_timeout(now),
            Phase::Ending if self.ends_sent >= TRIES && now >= self.last_end + RETRY => {
                self.phase = Phase::Done;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Answers may come while asking and while ending; the data needs
    /// nothing from the peer to go on.
    pub fn awaits_datagram(&self) -> bool {
        matches!(self.phase, Phase::Asking | Phase::Ending)
    }

    /// The Results came, or the FileEnds ran out.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The server's answers: the Cookie, the go-ahead, the Results, or a
    /// refusal (one naming a wrong byte's offset is [`SessionError::Rejected`]).
    pub fn handle_datagram(&mut self, now: Instant, d: &[u8]) -> Result<(), SessionError> {
        self.tally.received(d);
        self.hs.heard(now);
        let Ok((_, body)) = datagram::decode(d) else {
            return Ok(());
        };
        match body {
            Body::FileReady { size, segment, .. } if self.phase == Phase::Asking => {
                if size != self.plan.size || segment != self.plan.segment {
                    return Err(SessionError::Protocol(format!(
                        "asked to send {} bytes in {}-byte segments, the server expects {size} in {segment}",
                        self.plan.size, self.plan.segment
                    )));
                }
                self.hs.started();
                self.phase = Phase::Data;
                self.go = now;
                self.deadline = self.plan.time.map(|t| now + t);
            }
            Body::Results(r) if self.phase == Phase::Ending => {
                self.results = Some(*r);
                self.phase = Phase::Done;
            }
            Body::Error { code, message } => return Err(rejected(code, message)),
            body => self.hs.handle_control(now, &body)?,
        }
        Ok(())
    }

    /// File bytes sent so far; a sender counts no loss.
    pub fn totals(&self) -> (u64, u64) {
        (self.bytes(), 0)
    }

    /// What the upload sent and received.
    pub fn tally(&self) -> Tally {
        self.tally
    }
}

/// The session's error for a refusal: one that names the offset of a
/// wrong byte the server found is a rejected upload.
fn rejected(code: ErrorCode, message: String) -> SessionError {
    const AT: &str = "upload: verification failed at offset ";
    let offset = message
        .strip_prefix(AT)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok());
    match (code, offset) {
        (ErrorCode::Malformed, Some(offset)) => SessionError::Rejected { offset, message },
        _ => SessionError::Refused { code, message },
    }
}
