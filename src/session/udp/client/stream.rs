//! A stream received over UDP: asked for after the cookie round trip, each
//! segment's one-way delay (the server's send stamp to the arrival),
//! jitter (RFC 3550's estimate) and schedule error (the send stamp against
//! the time the segment was due) recorded; a copy, or a segment beyond the
//! count asked for, adds nothing. Ended by StreamEnd or by silence.
//!
//! A stamped stream ([`StreamPlan::stamped`]) asks with a
//! StampedStreamRequest, takes each segment's kernel RX stamp from the
//! driver ([`StreamReceive::rx_stamp`]) and the server's TX stamps from
//! its StreamStamps ([`super::stream_stamps`]).

use std::time::{Duration, Instant};

use super::handshake::{Asking, Ended, Handshake};
use super::stream_stamps::StreamStamps;
use super::{SessionError, Tally};
use crate::arrivals::{Arrival, Arrivals};
use crate::latency::{Jitter, Recorder};
use crate::proto::datagram::{self, Body, FLAG_FRAGMENT};
use crate::session::Epoch;
use crate::session::tcp::stream_stamps::StampPairs;

/// What a stream asks for.
#[derive(Debug, Clone, Copy)]
pub struct StreamPlan {
    /// Time between segments.
    pub interval: Duration,
    /// Segments.
    pub count: u32,
    /// Whole UDP payload per segment.
    pub size: u32,
    /// Let IP fragment segments larger than the path MTU.
    pub fragment: bool,
    /// Silence that ends the stream when no End comes.
    pub silence: Duration,
    /// Ask for the segments' kernel TX stamps (a StampedStreamRequest).
    pub stamped: bool,
}

/// A stream being received.
#[derive(Debug)]
pub struct StreamReceive {
    hs: Handshake,
    epoch: Epoch,
    plan: StreamPlan,
    arrivals: Arrivals,
    delay: Recorder,
    schedule: Recorder,
    jitter: Jitter,
    /// The highest segment so far and its schedule error, µs.
    last: Option<(u32, f64)>,
    bytes: u64,
    tally: Tally,
    stamps: Option<Box<StreamStamps>>,
}

/// What a stream measured.
#[derive(Debug)]
pub struct StreamFigures {
    /// Which segments arrived.
    pub arrivals: Arrivals,
    /// One-way delays, send stamp to arrival.
    pub delay: Recorder,
    /// Send stamps against the schedule.
    pub schedule: Recorder,
    /// Interarrival jitter.
    pub jitter: Jitter,
    /// The last segment's schedule error, µs.
    pub end_drift_us: Option<f64>,
    /// Segment bytes of distinct segments.
    pub bytes: u64,
    /// The sender's count.
    pub sent: u64,
    /// What ended the stream.
    pub ended: Ended,
    /// What the stream sent and received.
    pub tally: Tally,
    /// A stamped stream's kernel stamps, paired.
    pub stamps: Option<StampPairs>,
}

impl Asking for StreamReceive {
    fn handshake(&self) -> &Handshake {
        &self.hs
    }

    fn handshake_and_tally(&mut self) -> (&mut Handshake, &mut Tally) {
        (&mut self.hs, &mut self.tally)
    }
}

impl StreamReceive {
    /// A stream of session `session`, begun at `start`.
    pub fn new(session: u32, epoch: Epoch, start: Instant, plan: StreamPlan) -> StreamReceive {
        let (interval_ns, count, size) = (plan.interval.as_nanos() as u64, plan.count, plan.size);
        let flags = if plan.fragment { FLAG_FRAGMENT } else { 0 };
        let request = match plan.stamped {
            false => Body::StreamRequest {
                interval_ns,
                count,
                size,
                flags,
                token: 0,
            },
            true => Body::StampedStreamRequest {
                interval_ns,
                count,
                size,
                flags,
                token: 0,
            },
        };
        StreamReceive {
            hs: Handshake::new(session, epoch, start, request, plan.silence),
            epoch,
            plan,
            arrivals: Arrivals::new(u64::from(plan.count)),
            delay: Recorder::new(),
            schedule: Recorder::new(),
            jitter: Jitter::new(),
            last: None,
            bytes: 0,
            tally: Tally::default(),
            stamps: plan
                .stamped
                .then(|| Box::new(StreamStamps::new(plan.count))),
        }
    }

    /// The datagram about to be handed in came with kernel RX stamp
    /// `rx_ns` (a stamped stream's; others ignore it).
    pub fn rx_stamp(&mut self, rx_ns: Option<u64>) {
        if let Some(s) = self.stamps.as_mut() {
            s.rx(rx_ns);
        }
    }

    /// A datagram of the session arrived at `now`.
    pub fn handle_datagram(&mut self, now: Instant, d: &[u8]) -> Result<(), SessionError> {
        self.heard(now, d);
        match datagram::decode(d) {
            Ok((h, Body::StreamSegment { scheduled_ns, size })) => {
                self.hs.started();
                // A copy, or a segment beyond the count asked for, adds
                // nothing to the figures.
                if matches!(
                    self.arrivals.record(u64::from(h.seq)),
                    Arrival::Duplicate | Arrival::OutOfRange
                ) {
                    return Ok(());
                }
                if let Some(s) = self.stamps.as_mut() {
                    s.segment(h.seq);
                }
                let recv_ns = self.epoch.unix_ns_of(now) as i128;
                self.bytes += u64::from(size);
                self.delay.record_ns(recv_ns - h.sent_ns as i128);
                let error_ns = h.sent_ns as i128 - scheduled_ns as i128;
                self.schedule.record_ns(error_ns);
                if self.last.is_none_or(|(seq, _)| h.seq > seq) {
                    self.last = Some((h.seq, error_ns as f64 / 1e3));
                }
                self.jitter.add(h.sent_ns as i128, recv_ns);
            }
            Ok((_, Body::StreamStamps { stamps })) => {
                if let Some(s) = self.stamps.as_mut() {
                    s.stamps(&stamps.0);
                }
            }
            Ok((_, Body::StreamStart { .. })) => self.hs.started(),
            Ok((_, Body::StreamEnd { sent })) => self.hs.end(now, u64::from(sent)),
            Ok((_, body)) => self.hs.handle_control(now, &body)?,
            Err(_) => {}
        }
        self.hs.check_complete(self.arrivals.received());
        Ok(())
    }

    /// Segment bytes so far and segments missing so far.
    pub fn totals(&self) -> (u64, u64) {
        (self.bytes, self.arrivals.missing_so_far())
    }

    /// What the stream sent and received.
    pub fn tally(&self) -> Tally {
        self.tally
    }

    /// The figures of a stream that is over.
    pub fn finish(self) -> Result<StreamFigures, SessionError> {
        let (sent, ended) = self
            .hs
            .ending(u64::from(self.plan.count), "stream", "segments")?;
        Ok(StreamFigures {
            arrivals: self.arrivals,
            delay: self.delay,
            schedule: self.schedule,
            jitter: self.jitter,
            end_drift_us: self.last.map(|(_, e)| e),
            bytes: self.bytes,
            sent,
            ended,
            tally: self.tally,
            stamps: self.stamps.map(|s| s.finish()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::script::{self, Fate, ID, Script};
    use super::*;
    use crate::session::udp::client::ClientSession;

    fn plan() -> StreamPlan {
        StreamPlan {
            interval: Duration::from_millis(5),
            count: 6,
            size: 64,
            fragment: false,
            silence: Duration::from_secs(1),
            stamped: false,
        }
    }

    fn run(sc: &Script) -> Result<(StreamFigures, script::Run), SessionError> {
        let (t0, epoch) = script::base();
        let mut s = ClientSession::Stream(StreamReceive::new(ID, epoch, t0, plan()));
        let run = script::drive(&mut s, sc, t0, epoch)?;
        let ClientSession::Stream(st) = s else {
            unreachable!()
        };
        Ok((st.finish()?, run))
    }

    #[test]
    fn delay_schedule_error_and_loss_are_measured() {
        // Cookie, StreamStart, then six segments: one dropped, one doubled.
        let sc = Script {
            fates: vec![
                Fate::Deliver,
                Fate::Deliver,
                Fate::Deliver,
                Fate::Drop,
                Fate::Double,
            ],
            ..Script::default()
        };
        let (f, _) = run(&sc).unwrap();
        assert_eq!((f.sent, f.ended), (6, Ended::EndMessage));
        assert_eq!(f.arrivals.received(), 5);
        assert_eq!(f.arrivals.lost(f.sent), 1);
        assert_eq!(f.arrivals.duplicates(), 1);
        assert_eq!(f.bytes, 5 * 64);
        // The scripted server stamps each segment 3 µs after it was due.
        let s = f.schedule.percentiles().unwrap();
        assert!((s.p50 - 3.0).abs() < 0.1, "{s:?}");
        assert_eq!(f.end_drift_us, Some(3.0));
        assert_eq!(f.delay.len(), 5);
        assert!(f.jitter.estimate_us() > 0.0);
    }

    #[test]
    fn without_an_end_silence_ends_it_with_the_plans_count() {
        let sc = Script {
            ends: false,
            ..Script::default()
        };
        let (f, run) = run(&sc).unwrap();
        assert_eq!((f.sent, f.ended), (6, Ended::Silence));
        assert_eq!(
            run.end - run.sent[0].0,
            4 * script::DELAY + Duration::from_secs(1)
        );
    }

    #[test]
    fn an_end_beyond_the_count_is_a_protocol_error() {
        let sc = Script {
            claim: Some(7),
            ..Script::default()
        };
        assert!(matches!(run(&sc), Err(SessionError::Protocol(_))));
    }
}
