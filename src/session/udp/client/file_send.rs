//! A generated file sent over UDP (an upload): the lab's content cut into
//! datagrams of one segment size, each placed by its sequence number and
//! offset, paced at a bit rate of UDP payload, then the sender's counts
//! in a FileEnd sent [`END_COPIES`] times. With `batch` above one, due
//! datagrams go out together in one [`Transmit`] of equal segments (UDP
//! GSO). Nothing is sent again: UDP loss is the receiver's to count.

use std::time::Instant;

use super::{SessionError, Tally};
use crate::content;
use crate::proto::datagram::{
    self, Body, DGRAM_HEADER, DgramHeader, KIND_FILE_DATA, SendInfo, SendMethod,
};
use crate::session::{Epoch, Pacer, Transmit};

/// How many times the FileEnd goes out, so that one loss does not hide it.
pub const END_COPIES: u32 = 3;

/// What an upload sends.
#[derive(Debug, Clone, Copy)]
pub struct SendPlan {
    /// File bytes.
    pub size: u64,
    /// Whole UDP payload per datagram, lab header included.
    pub segment: u32,
    /// Pace, bit/s of UDP payload (0: as fast as the driver sends).
    pub rate_bps: u64,
    /// Most datagrams in one transmit (1: one send per datagram).
    pub batch: u32,
}

/// A file being sent.
#[derive(Debug)]
pub struct FileSend {
    session: u32,
    epoch: Epoch,
    start: Instant,
    plan: SendPlan,
    per: u64,
    planned: u64,
    /// The next datagram to send.
    next: u64,
    ends_sent: u32,
    /// Transmits that carried file data, and the most datagrams in one.
    calls: u64,
    max_batch: u32,
    tally: Tally,
}

impl FileSend {
    /// An upload of session `session`, begun at `start`.
    pub fn new(session: u32, epoch: Epoch, start: Instant, plan: SendPlan) -> FileSend {
        let per = u64::from(plan.segment)
            .saturating_sub(DGRAM_HEADER as u64)
            .max(1);
        FileSend {
            session,
            epoch,
            start,
            plan,
            per,
            planned: plan.size.div_ceil(per),
            next: 0,
            ends_sent: 0,
            calls: 0,
            max_batch: 0,
            tally: Tally::default(),
        }
    }

    /// The session id.
    pub fn id(&self) -> u32 {
        self.session
    }

    /// The datagrams the file takes.
    pub fn planned(&self) -> u64 {
        self.planned
    }

    /// When datagram `n` may leave: after the bytes before it at the rate.
    fn due(&self, n: u64) -> Instant {
        Pacer::new(self.start, self.plan.rate_bps)
            .due(n.saturating_mul(u64::from(self.plan.segment)))
    }

    /// The data datagrams that are due, then the FileEnd copies.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        buf.clear();
        if self.next < self.planned {
            if now < self.due(self.next) {
                return None;
            }
            let mut n = 0u32;
            while self.next < self.planned && n < self.plan.batch.max(1) {
                if n > 0 && (now < self.due(self.next) || self.len_of(self.next) < self.per) {
                    break;
                }
                self.append(now, buf);
                n += 1;
            }
            self.calls += 1;
            self.max_batch = self.max_batch.max(n);
            let t = Transmit {
                len: buf.len(),
                segment: (n > 1).then_some(self.plan.segment as usize),
            };
            self.tally.sent(t);
            return Some(t);
        }
        if self.ends_sent >= END_COPIES {
            return None;
        }
        self.ends_sent += 1;
        let h = DgramHeader {
            session: self.session,
            seq: 0,
            offset: 0,
            sent_ns: self.epoch.unix_ns_of(now),
        };
        let sent_with = SendInfo {
            method: if self.plan.batch > 1 {
                SendMethod::Gso
            } else {
                SendMethod::Sendto
            },
            calls: self.calls,
            max_batch: self.max_batch,
        };
        let body = Body::FileEnd {
            datagrams: self.planned,
            bytes: self.plan.size,
            sent_with: Some(sent_with),
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
        self.per.min(self.plan.size - n * self.per)
    }

    /// Appends datagram `next` to `buf`.
    fn append(&mut self, now: Instant, buf: &mut Vec<u8>) {
        let n = self.next;
        let offset = n * self.per;
        let h = DgramHeader {
            session: self.session,
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

    /// When the next datagram is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.next < self.planned).then(|| self.due(self.next))
    }

    /// Nothing waits on time but the pace, which `poll_transmit` keeps.
    pub fn handle_timeout(&mut self, _now: Instant) -> Result<(), SessionError> {
        Ok(())
    }

    /// The sender needs nothing from the peer to go on.
    pub fn awaits_datagram(&self) -> bool {
        false
    }

    /// Every datagram and every End copy sent.
    pub fn is_done(&self) -> bool {
        self.next >= self.planned && self.ends_sent >= END_COPIES
    }

    /// A refusal ends the upload; anything else is ignored.
    pub fn handle_datagram(&mut self, _now: Instant, d: &[u8]) -> Result<(), SessionError> {
        self.tally.received(d);
        match datagram::decode(d) {
            Ok((_, Body::Error { code, message })) => Err(SessionError::Refused { code, message }),
            _ => Ok(()),
        }
    }

    /// File bytes sent so far; a sender counts no loss.
    pub fn totals(&self) -> (u64, u64) {
        ((self.next * self.per).min(self.plan.size), 0)
    }

    /// What the upload sent and received.
    pub fn tally(&self) -> Tally {
        self.tally
    }
}

#[cfg(test)]
mod tests {
    use super::super::file_recv::{FilePlan, FileReceive};
    use super::super::handshake::Asking;
    use super::super::script;
    use super::*;
    use std::time::Duration;

    /// A receiver that has its cookie and has sent its request.
    fn receiver(t0: Instant, epoch: Epoch, size: u64, segment: u32) -> FileReceive {
        let plan = FilePlan {
            size,
            rate_bps: 0,
            segment,
            fragment: false,
            gso: true,
            silence: Duration::from_secs(2),
            in_order: true,
            progress_step: 1 << 20,
        };
        let mut r = FileReceive::new(script::ID, epoch, t0, plan);
        let mut buf = Vec::new();
        r.poll_transmit(t0, &mut buf).unwrap();
        let h = DgramHeader {
            session: script::ID,
            ..DgramHeader::default()
        };
        let cookie = datagram::to_vec(&h, &Body::Cookie { token: 1 });
        r.handle_datagram(t0, &cookie).unwrap();
        r.poll_transmit(t0, &mut buf).unwrap();
        r
    }

    #[test]
    fn an_upload_is_paced_batched_and_received_whole() {
        let (t0, epoch) = script::base();
        let (size, segment) = (10_000, 1028);
        let plan = SendPlan {
            size,
            segment,
            rate_bps: 8_224_000, // one 1028-byte datagram per ms
            batch: 4,
        };
        let mut tx = FileSend::new(script::ID, epoch, t0, plan);
        let mut rx = receiver(t0, epoch, size, segment);
        let (mut now, mut buf, mut got) = (t0, Vec::new(), Vec::new());
        while !tx.is_done() {
            while let Some(t) = tx.poll_transmit(now, &mut buf) {
                for d in buf[..t.len].chunks(t.segment.unwrap_or(t.len)) {
                    rx.handle_datagram(now, d).unwrap();
                }
                got.extend_from_slice(rx.ready_bytes());
                rx.consume_ready();
            }
            // Jump 2.5 ms at a time: two or three datagrams fall due.
            now = tx
                .poll_timeout()
                .map_or(now, |_| now + Duration::from_micros(2500));
        }
        assert_eq!(got, content::fill_vec(0, size as usize));
        assert!(rx.is_done());
        assert_eq!(tx.planned(), 10);
        assert_eq!(tx.tally().tx, 10 + END_COPIES as u64);
        assert!(tx.max_batch > 1 && tx.max_batch <= 4, "{}", tx.max_batch);
        assert_eq!(rx.ending().unwrap(), (10, super::super::Ended::EndMessage));
        // Paced: the last datagram left 9 ms after the first, not at once.
        assert!(now - t0 >= Duration::from_millis(9));
    }

    #[test]
    fn unpaced_it_sends_everything_at_once() {
        let (t0, epoch) = script::base();
        let plan = SendPlan {
            size: 100,
            segment: 78,
            rate_bps: 0,
            batch: 1,
        };
        let mut tx = FileSend::new(script::ID, epoch, t0, plan);
        let mut buf = Vec::new();
        let mut n = 0;
        while tx.poll_transmit(t0, &mut buf).is_some() {
            n += 1;
        }
        assert_eq!(n, 2 + END_COPIES);
        assert!(tx.is_done());
        assert_eq!(tx.totals(), (100, 0));
    }
}
