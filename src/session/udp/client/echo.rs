//! Echo over UDP: `count` requests, one every `interval` (or each as soon
//! as the one before is answered or given up), each awaited up to its
//! timeout. A reply is the request with the reply kind; its round trip
//! goes into the histogram, and one that does not come in time is lost.
//!
//! A stamped echo ([`Echo::with_stamps`]) sends StampedEchoRequests: each
//! reply carries the server's stamps of it ([`crate::proto::stamps`]), its
//! data compared, its stamps read into the run's [`EchoStamps`] beside what
//! the driver read of its own kernel ([`Echo::handle_stamp`]); one more
//! exchange after the last brings back the last reply's send stamp (its
//! round trip is not counted).

use std::time::{Duration, Instant};

use super::{SessionError, Tally};
use crate::arrivals::{Arrival, Arrivals};
use crate::latency::Recorder;
use crate::proto::datagram::{
    self, Body, DGRAM_HEADER, DgramHeader, KIND_AT, KIND_ECHO_REPLY, KIND_ECHO_REQUEST,
    KIND_STAMPED_ECHO_REQUEST,
};
use crate::session::stamps::{ClientStamp, EchoStamps};
use crate::session::{Epoch, Transmit};

/// What an echo run asks for.
#[derive(Debug, Clone)]
pub struct EchoPlan {
    /// The bytes each request carries.
    pub data: Vec<u8>,
    /// Requests.
    pub count: u32,
    /// Time between requests' send times (zero: back to back).
    pub interval: Duration,
    /// How long each reply is awaited.
    pub wait: Duration,
}

/// An echo run.
#[derive(Debug)]
pub struct Echo {
    session: u32,
    epoch: Epoch,
    start: Instant,
    plan: EchoPlan,
    /// The next request's sequence number.
    next: u32,
    /// The last request, as sent.
    out: Vec<u8>,
    /// The request awaiting its reply and when it left.
    waiting: Option<(u32, Instant)>,
    rtt: Recorder,
    arrivals: Arrivals,
    bytes: u64,
    tally: Tally,
    /// The stamps of a stamped echo.
    stamps: Option<Box<EchoStamps>>,
    /// The latest read's kernel RX stamp and return, from the driver.
    read: Option<(Option<u64>, u64)>,
}

/// What an echo run measured.
#[derive(Debug)]
pub struct EchoFigures {
    /// Round trips of the replies that came in time.
    pub rtt: Recorder,
    /// Which replies arrived, late ones included.
    pub arrivals: Arrivals,
    /// Echoed bytes that came back in time.
    pub bytes: u64,
    /// Replies that came in time.
    pub replies: u32,
    /// The whole UDP payload of a request (0 when none was sent).
    pub request_len: u32,
    /// What the run sent and received.
    pub tally: Tally,
    /// A stamped echo's four stamps and what they make.
    pub stamps: Option<Box<EchoStamps>>,
}

impl Echo {
    /// A run of session `session` begun at `start`.
    pub fn new(session: u32, epoch: Epoch, start: Instant, plan: EchoPlan) -> Echo {
        let arrivals = Arrivals::new(u64::from(plan.count));
        Echo {
            session,
            epoch,
            start,
            plan,
            next: 0,
            out: Vec::new(),
            waiting: None,
            rtt: Recorder::new(),
            arrivals,
            bytes: 0,
            tally: Tally::default(),
            stamps: None,
            read: None,
        }
    }

    /// The same run with StampedEchoRequests: `count` measured round trips
    /// and one more that brings back the last reply's send stamp.
    pub fn with_stamps(mut self) -> Echo {
        self.stamps = Some(Box::new(EchoStamps::new(self.plan.count)));
        self
    }

    /// Requests sent in all: the measured ones, and a stamped echo's last.
    fn total(&self) -> u32 {
        if self.stamps.is_some() {
            self.plan.count.saturating_add(1)
        } else {
            self.plan.count
        }
    }

    /// The sequence number of the outstanding stamped request: the driver
    /// asks for the TX stamp of the send [`Echo::poll_transmit`] just
    /// returned under it.
    pub fn stamped_outstanding(&self) -> Option<u32> {
        self.stamps.as_ref()?;
        self.waiting.map(|(seq, _)| seq)
    }

    /// What the driver read of its kernel's stamps and its own clock: a
    /// request's send call and t1 ([`ClientStamp::Sent`], [`ClientStamp::Tx`]);
    /// a [`ClientStamp::Received`] with any `seq` tells of the datagram
    /// about to be handed over, and is applied to the reply it is.
    pub fn handle_stamp(&mut self, s: ClientStamp) {
        let Some(book) = self.stamps.as_mut() else {
            return;
        };
        match s {
            ClientStamp::Received { rx_ns, app_ns, .. } => self.read = Some((rx_ns, app_ns)),
            s => book.client(s),
        }
    }

    /// The session id.
    pub fn id(&self) -> u32 {
        self.session
    }

    /// When the next request is due.
    fn send_at(&self) -> Instant {
        self.start + self.plan.interval.saturating_mul(self.next)
    }

    /// The next request, when it is due and the one before is settled.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if self.waiting.is_some() || self.next >= self.total() || now < self.send_at() {
            return None;
        }
        let seq = self.next;
        // An echo's offset field says how many requests the run has, so
        // the server can end the session once it answered the last.
        let h = DgramHeader {
            session: self.session,
            seq,
            offset: u64::from(self.total()),
            sent_ns: self.epoch.unix_ns_of(now),
        };
        let kind = if self.stamps.is_some() {
            KIND_STAMPED_ECHO_REQUEST
        } else {
            KIND_ECHO_REQUEST
        };
        datagram::begin(buf, kind, &h);
        buf.extend_from_slice(&self.plan.data);
        self.out.clear();
        self.out.extend_from_slice(buf);
        self.next += 1;
        self.waiting = Some((seq, now));
        let t = Transmit {
            len: buf.len(),
            segment: None,
        };
        self.tally.sent(t);
        Some(t)
    }

    /// The reply's deadline, or the next request's send time.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.waiting {
            Some((_, sent)) => Some(sent + self.plan.wait),
            None if self.next < self.total() => Some(self.send_at()),
            None => None,
        }
    }

    /// A reply not back by its deadline is lost.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        if self
            .waiting
            .is_some_and(|(_, sent)| now >= sent + self.plan.wait)
        {
            self.waiting = None;
        }
        Ok(())
    }

    /// Only while a request is out may a datagram settle anything.
    pub fn awaits_datagram(&self) -> bool {
        self.waiting.is_some()
    }

    /// Every request sent and settled.
    pub fn is_done(&self) -> bool {
        self.waiting.is_none() && self.next >= self.total()
    }

    /// A datagram of the session arrived at `now`.
    pub fn handle_datagram(&mut self, now: Instant, d: &[u8]) -> Result<(), SessionError> {
        self.tally.received(d);
        if let Some((seq, sent)) = self.waiting {
            if is_reply_to(d, &self.out) {
                // The server's reply is the request with another kind.
                self.answered(sent, now);
                self.arrivals.record(u64::from(seq));
                return Ok(());
            }
        }
        match datagram::decode(d) {
            Ok((rh, Body::EchoReply { data })) => {
                if data != self.plan.data {
                    return Err(SessionError::Protocol(format!(
                        "the echo of request {} came back changed",
                        rh.seq
                    )));
                }
                let fresh = self.arrivals.record(u64::from(rh.seq)) != Arrival::Duplicate;
                if let Some((_, sent)) = self.waiting.filter(|&(s, _)| fresh && rh.seq == s) {
                    self.answered(sent, now);
                }
                Ok(())
            }
            Ok((rh, Body::StampedEchoReply { stamps, data })) if self.stamps.is_some() => {
                if data != self.plan.data {
                    return Err(SessionError::Protocol(format!(
                        "the echo of request {} came back changed",
                        rh.seq
                    )));
                }
                let measured = rh.seq < self.plan.count;
                let fresh =
                    !measured || self.arrivals.record(u64::from(rh.seq)) != Arrival::Duplicate;
                let Some((seq, sent)) = self.waiting.filter(|&(s, _)| fresh && rh.seq == s) else {
                    // Late or doubled: its round trip is over or counted.
                    return Ok(());
                };
                if measured {
                    self.answered(sent, now);
                } else {
                    self.waiting = None;
                }
                let read = self.read.take();
                if let Some(book) = self.stamps.as_mut() {
                    if let Some((rx_ns, app_ns)) = read {
                        book.client(ClientStamp::Received { seq, rx_ns, app_ns });
                    }
                    book.server(seq, &stamps);
                }
                Ok(())
            }
            Ok((_, Body::Error { code, message })) => Err(SessionError::Refused { code, message }),
            _ => Ok(()),
        }
    }

    fn answered(&mut self, sent: Instant, now: Instant) {
        self.rtt.record_ns((now - sent).as_nanos() as i128);
        self.bytes += self.plan.data.len() as u64;
        self.waiting = None;
    }

    /// Echoed bytes so far, and requests settled without a reply.
    pub fn totals(&self) -> (u64, u64) {
        let settled = (self.next - u32::from(self.waiting.is_some())).min(self.plan.count);
        (
            self.bytes,
            u64::from(settled).saturating_sub(self.rtt.len()),
        )
    }

    /// What the run sent and received.
    pub fn tally(&self) -> Tally {
        self.tally
    }

    /// The figures; an error when not one reply came back.
    pub fn finish(self) -> Result<EchoFigures, SessionError> {
        let replies = self.rtt.len() as u32;
        if replies == 0 && self.plan.count > 0 {
            return Err(SessionError::NoEcho {
                count: self.plan.count,
                wait: self.plan.wait,
            });
        }
        Ok(EchoFigures {
            rtt: self.rtt,
            arrivals: self.arrivals,
            bytes: self.bytes,
            replies,
            request_len: self.out.len() as u32,
            tally: self.tally,
            stamps: self.stamps.map(|mut b| {
                b.finish();
                b
            }),
        })
    }
}

/// The whole UDP payload of a request carrying `data_len` bytes.
pub fn request_len(data_len: usize) -> usize {
    DGRAM_HEADER + data_len
}

/// Whether `reply` is the server's echo of `request`: the same bytes, but
/// for the kind (the server sends the request's header back).
pub fn is_reply_to(reply: &[u8], request: &[u8]) -> bool {
    reply.len() == request.len()
        && reply.len() > KIND_AT
        && reply[KIND_AT] == KIND_ECHO_REPLY
        && reply[..KIND_AT] == request[..KIND_AT]
        && reply[KIND_AT + 1..] == request[KIND_AT + 1..]
}

#[cfg(test)]
mod tests {
    use super::super::script::{self, DELAY, Fate, ID, Script};
    use super::*;
    use crate::session::udp::client::ClientSession;

    fn plan(count: u32, interval: Duration) -> EchoPlan {
        EchoPlan {
            data: b"ping".to_vec(),
            count,
            interval,
            wait: Duration::from_millis(100),
        }
    }

    fn run(p: EchoPlan, sc: &Script) -> (Result<EchoFigures, SessionError>, script::Run) {
        let (t0, epoch) = script::base();
        let mut s = ClientSession::Echo(Echo::new(ID, epoch, t0, p));
        let run = script::drive(&mut s, sc, t0, epoch).unwrap();
        let ClientSession::Echo(e) = s else {
            unreachable!()
        };
        (e.finish(), run)
    }

    #[test]
    fn every_reply_gives_a_round_trip() {
        let (f, run) = run(plan(5, Duration::ZERO), &Script::default());
        let f = f.unwrap();
        assert_eq!(f.replies, 5);
        assert_eq!(f.rtt.len(), 5);
        assert_eq!(f.bytes, 20);
        assert_eq!(f.request_len, 32);
        assert_eq!(f.tally.tx, 5);
        assert_eq!(f.tally.rx, 5);
        // Back to back: each request leaves as the reply before arrives.
        assert_eq!(run.end - run.sent[0].0, 10 * DELAY);
        let p = f.rtt.percentiles().unwrap();
        assert!((p.p50 - 2000.0).abs() < 10.0, "{p:?}");
    }

    #[test]
    fn requests_keep_their_interval_and_carry_the_run_count() {
        let every = Duration::from_millis(10);
        let (f, run) = run(plan(4, every), &Script::default());
        assert_eq!(f.unwrap().replies, 4);
        for (i, (at, d)) in run.sent.iter().enumerate() {
            assert_eq!(*at - run.sent[0].0, every * i as u32);
            let (h, _) = datagram::decode(d).unwrap();
            assert_eq!((h.seq, h.offset), (i as u32, 4));
        }
    }

    #[test]
    fn a_lost_reply_is_waited_for_then_counted_lost() {
        let sc = Script {
            fates: vec![Fate::Deliver, Fate::Drop, Fate::Deliver],
            ..Script::default()
        };
        let (f, run) = run(plan(3, Duration::ZERO), &sc);
        let f = f.unwrap();
        assert_eq!(f.replies, 2);
        // The lost one cost its whole wait, on virtual time.
        assert_eq!(
            run.end - run.sent[0].0,
            4 * DELAY + Duration::from_millis(100)
        );
    }

    #[test]
    fn a_doubled_reply_counts_once() {
        let sc = Script {
            fates: vec![Fate::Double; 3],
            ..Script::default()
        };
        let f = run(plan(3, Duration::ZERO), &sc).0.unwrap();
        assert_eq!(f.replies, 3);
        assert_eq!(f.rtt.len(), 3);
    }

    #[test]
    fn no_reply_at_all_is_an_error() {
        let sc = Script {
            answers: false,
            ..Script::default()
        };
        let e = run(plan(2, Duration::ZERO), &sc).0.unwrap_err();
        assert!(matches!(e, SessionError::NoEcho { count: 2, .. }), "{e}");
    }

    #[test]
    fn a_changed_echo_is_a_protocol_error() {
        let (t0, epoch) = script::base();
        let mut e = Echo::new(ID, epoch, t0, plan(1, Duration::ZERO));
        let mut buf = Vec::new();
        e.poll_transmit(t0, &mut buf).unwrap();
        let (h, _) = datagram::decode(&buf).unwrap();
        let bad = datagram::to_vec(
            &h,
            &Body::EchoReply {
                data: b"pong".to_vec(),
            },
        );
        let err = e.handle_datagram(t0 + DELAY, &bad).unwrap_err();
        assert!(matches!(err, SessionError::Protocol(_)), "{err}");
    }

    #[test]
    fn a_reply_is_the_request_with_the_reply_kind() {
        let h = DgramHeader {
            session: 7,
            seq: 3,
            offset: 0,
            sent_ns: 1,
        };
        let data = b"hi".to_vec();
        let request = datagram::to_vec(&h, &Body::EchoRequest { data: data.clone() });
        let reply = datagram::to_vec(&h, &Body::EchoReply { data });
        assert!(is_reply_to(&reply, &request));
        assert!(!is_reply_to(&request, &request));
        let changed = datagram::to_vec(
            &h,
            &Body::EchoReply {
                data: b"ho".to_vec(),
            },
        );
        assert!(!is_reply_to(&changed, &request));
        assert!(!is_reply_to(&reply[..KIND_AT], &request[..KIND_AT]));
    }
}
