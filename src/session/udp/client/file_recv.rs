//! A file received over UDP: asked for after the cookie round trip,
//! placed by offset, every byte verified against the lab's content, loss,
//! duplicates and reordering counted exactly ([`Arrivals`]). Ended by the
//! sender's FileEnd (sent three times; an End claiming more datagrams than
//! the plan is a protocol error, fewer a cut transfer) or, failing that, by
//! silence. With `in_order`, the file's bytes are handed out in file order
//! as they become whole ([`InOrder`]).
//!
//! A timed transfer ([`FilePlan::time`]) has no known count: the size is a
//! cap (0: none), the tracking grows with what arrives, and the End's
//! count is the sender's. With [`FilePlan::results`], the server's
//! [`Results`] are awaited up to [`RESULTS_WAIT`] after the End.

use std::time::{Duration, Instant};

use super::handshake::{Asking, Ended, Handshake};
use super::reorder::{InOrder, REORDER_LIMIT};
use super::{SessionError, Tally};
use crate::arrivals::{Arrival, Arrivals};
use crate::content;
use crate::proto::Results;
use crate::proto::datagram::{
    self, Body, DGRAM_HEADER, FLAG_ECN, FLAG_FRAGMENT, FLAG_NO_GSO, FLAG_RESULTS, KIND_FILE_DATA,
    SendInfo,
};
use crate::session::Epoch;

/// How long after the End the server's Results are awaited.
pub const RESULTS_WAIT: Duration = Duration::from_millis(200);

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
    /// Ask for this long of data (with `size` a cap, 0: none).
    pub time: Option<Duration>,
    /// Ask for the server's figures after the End.
    pub results: bool,
    /// Ask for ECT(0) datagrams (the driver counts what arrives).
    pub ecn: bool,
}

impl FilePlan {
    /// The most file bytes: the size, or with a time and no size, no cap.
    fn cap(&self) -> u64 {
        if self.size == 0 && self.time.is_some() {
            u64::MAX
        } else {
            self.size
        }
    }
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
    /// The expected bytes around the latest datagram's.
    window: content::Window,
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
    results: Option<Results>,
    /// The wait for the Results ran out.
    no_results: bool,
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
    /// The server's figures, when they came.
    pub results: Option<Results>,
}

impl Asking for FileReceive {
    fn handshake(&self) -> &Handshake {
        &self.hs
    }

    fn handshake_and_tally(&mut self) -> (&mut Handshake, &mut Tally) {
        (&mut self.hs, &mut self.tally)
    }

    /// The handshake's, then the end of the wait for the Results.
    fn poll_timeout(&self) -> Option<Instant> {
        match self.results_due() {
            Some(at) if self.hs.is_done() => Some(at),
            _ => self.hs.poll_timeout(),
        }
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        self.hs.handle_timeout(now)?;
        if self.hs.is_done() && self.results_due().is_some_and(|at| now >= at) {
            self.no_results = true;
        }
        Ok(())
    }

    /// The transfer is over and the Results came (or were not asked for,
    /// or the wait ran out).
    fn is_done(&self) -> bool {
        self.hs.is_done() && self.results_due().is_none()
    }
}

impl FileReceive {
    /// A transfer of session `session`, begun at `start`.
    pub fn new(session: u32, epoch: Epoch, start: Instant, plan: FilePlan) -> FileReceive {
        let per = u64::from(plan.segment)
            .saturating_sub(DGRAM_HEADER as u64)
            .max(1);
        let planned = plan.cap().div_ceil(per);
        let request = Body::FileRequest {
            size: plan.size,
            rate_bps: plan.rate_bps,
            segment: plan.segment,
            flags: if plan.fragment { FLAG_FRAGMENT } else { 0 }
                | if plan.gso { 0 } else { FLAG_NO_GSO }
                | if plan.results { FLAG_RESULTS } else { 0 }
                | if plan.ecn { FLAG_ECN } else { 0 },
            token: 0,
            time_ns: plan.time.map_or(0, |t| t.as_nanos() as u64),
        };
        FileReceive {
            hs: Handshake::new(session, epoch, start, request, plan.silence),
            plan,
            start,
            per,
            planned,
            arrivals: Arrivals::new(planned),
            order: plan.in_order.then(|| InOrder::new(REORDER_LIMIT)),
            window: content::Window::new(),
            ready: Vec::new(),
            sent_with: None,
            data_wire: 0,
            progress: vec![(0.0, 0)],
            last_point: 0,
            first_byte: None,
            last_data: start,
            bytes: 0,
            tally: Tally::default(),
            results: None,
            no_results: false,
        }
    }

    /// When the wait for the Results ends, while they are awaited: asked
    /// for, not come, and the End came.
    fn results_due(&self) -> Option<Instant> {
        if !self.plan.results || self.results.is_some() || self.no_results {
            return None;
        }
        self.hs.end_at().map(|at| at + RESULTS_WAIT)
    }

    /// The server's figures, once they came.
    pub fn results(&self) -> Option<&Results> {
        self.results.as_ref()
    }

    /// A datagram of the session arrived at `now`.
    pub fn handle_datagram(&mut self, now: Instant, d: &[u8]) -> Result<(), SessionError> {
        self.heard(now, d);
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
            Ok((_, Body::Results(r))) => self.results = Some(*r),
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
        let (per, size) = (self.per, self.plan.cap());
        let expected_len = per.min(size.saturating_sub(seq.saturating_mul(per)));
        if seq >= self.planned || offset != seq * per || data.len() as u64 != expected_len {
            return Err(SessionError::Protocol(format!(
                "datagram {seq} claims offset {offset} and {} bytes, which does not fit {per}-byte segments of a {size}-byte file",
                data.len()
            )));
        }
        self.window.check(offset, data)?;
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
    /// A timed transfer takes the End's count (at most the cap's), or
    /// without an End the datagrams up to the highest that came.
    pub fn ending(&self) -> Result<(u64, Ended), SessionError> {
        if self.plan.time.is_none() {
            return self.hs.ending(self.planned, "file", "datagrams");
        }
        match self.hs.end_count() {
            Some(sent) if sent > self.planned => Err(SessionError::Protocol(format!(
                "the server says it sent {sent} datagrams, more than the {} its cap allows",
                self.planned
            ))),
            Some(sent) => Ok((sent, Ended::EndMessage)),
            None => Ok((
                self.arrivals.received() + self.arrivals.missing_so_far(),
                Ended::Silence,
            )),
        }
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
            results: self.results,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::handshake;
    use super::super::script::{self, Fate, ID, Script};
    use super::*;
    use crate::proto::datagram::DgramHeader;
    use crate::session::udp::client::ClientSession;
    use proptest::prelude::*;

    /// 10 datagrams of 100 file bytes, the last 50.
    const SIZE: u64 = 950;
    const SEGMENT: u32 = 128;

    fn plan() -> FilePlan {
        FilePlan {
            size: SIZE,
            rate_bps: 0,
            segment: SEGMENT,
            fragment: false,
            gso: true,
            silence: Duration::from_secs(2),
            in_order: true,
            progress_step: 256,
            time: None,
            results: false,
            ecn: false,
        }
    }

    /// The session and what the run saw, or the session's error.
    fn run(sc: &Script) -> Result<(FileReceive, script::Run), SessionError> {
        let (t0, epoch) = script::base();
        let mut s = ClientSession::File(FileReceive::new(ID, epoch, t0, plan()));
        let run = script::drive(&mut s, sc, t0, epoch)?;
        let ClientSession::File(f) = s else {
            unreachable!()
        };
        Ok((f, run))
    }

    /// Fates for the server's datagrams: Cookie, FileReady, then `data`.
    fn fates(data: &[Fate]) -> Vec<Fate> {
        [Fate::Deliver, Fate::Deliver]
            .iter()
            .chain(data)
            .copied()
            .collect()
    }

    #[test]
    fn a_whole_file_arrives_verified_and_in_order() {
        let (f, run) = run(&Script::default()).unwrap();
        assert_eq!(run.in_order, content::fill_vec(0, SIZE as usize));
        let end = f.finish(run.end).unwrap();
        assert_eq!(
            (end.bytes, end.sent, end.ended),
            (SIZE, 10, Ended::EndMessage)
        );
        assert_eq!(end.arrivals.lost(end.sent), 0);
        assert_eq!(end.data, 10);
        assert_eq!(end.data_wire, SIZE + 10 * DGRAM_HEADER as u64);
        // Hello and the request out; Cookie, FileReady, 10 data and the
        // first End in (the rest came after the transfer was whole).
        assert_eq!((end.tally.tx, end.tally.rx), (2, 13));
        assert_eq!(end.progress.last(), Some(&(0.004, SIZE)));
    }

    #[test]
    fn the_request_carries_the_cookies_token() {
        let (_, run) = run(&Script::default()).unwrap();
        let (_, body) = datagram::decode(&run.sent[1].1).unwrap();
        assert!(matches!(
            body,
            Body::FileRequest {
                token: script::TOKEN,
                size: SIZE,
                ..
            }
        ));
    }

    #[test]
    fn reordered_and_doubled_datagrams_count_exactly() {
        let sc = Script {
            reverse: true,
            fates: fates(&[Fate::Double, Fate::Deliver, Fate::Double]),
            ..Script::default()
        };
        let (f, run) = run(&sc).unwrap();
        assert_eq!(run.in_order, content::fill_vec(0, SIZE as usize));
        let end = f.finish(run.end).unwrap();
        assert_eq!(end.arrivals.received(), 10);
        assert_eq!(end.arrivals.duplicates(), 2);
        assert_eq!(end.arrivals.reordered(), 9);
    }

    #[test]
    fn lost_datagrams_are_counted_and_the_end_waits_only_the_linger() {
        let sc = Script {
            fates: fates(&[Fate::Drop, Fate::Deliver, Fate::Drop]),
            ..Script::default()
        };
        let (f, run) = run(&sc).unwrap();
        assert!(run.in_order.is_empty(), "datagram 0 never came");
        let end = f.finish(run.end).unwrap();
        assert_eq!((end.sent, end.arrivals.lost(10)), (10, 2));
        assert_eq!(end.bytes, SIZE - 200);
        let gaps = end.arrivals.gaps(10, 5);
        assert_eq!((gaps[0].first, gaps[1].first), (0, 2));
        assert_eq!(
            run.end - run.sent[0].0,
            4 * script::DELAY + handshake::LINGER
        );
    }

    #[test]
    fn without_an_end_silence_ends_it() {
        let sc = Script {
            ends: false,
            ..Script::default()
        };
        let (f, run) = run(&sc).unwrap();
        let end = f.finish(run.end).unwrap();
        assert_eq!((end.sent, end.ended), (10, Ended::Silence));
        assert_eq!(run.end - end.end, Duration::from_secs(2));
    }

    #[test]
    fn an_end_claiming_more_than_the_plan_is_a_protocol_error() {
        let sc = Script {
            claim: Some(11),
            ..Script::default()
        };
        let (f, _) = run(&sc).unwrap();
        assert!(matches!(f.ending(), Err(SessionError::Protocol(_))));
        let sc = Script {
            claim: Some(4),
            ..Script::default()
        };
        let (f, _) = run(&sc).unwrap();
        assert!(matches!(
            f.ending(),
            Err(SessionError::Cut {
                sent: 4,
                planned: 10,
                ..
            })
        ));
    }

    #[test]
    fn a_wrong_byte_fails_verification() {
        let sc = Script {
            corrupt: Some(321),
            ..Script::default()
        };
        let e = run(&sc).unwrap_err();
        assert!(matches!(e, SessionError::Verify(m) if m.offset == 321));
    }

    #[test]
    fn a_datagram_out_of_place_is_a_protocol_error() {
        let (t0, epoch) = script::base();
        let mut f = FileReceive::new(ID, epoch, t0, plan());
        let h = DgramHeader {
            session: ID,
            seq: 2,
            offset: 100,
            sent_ns: 0,
        };
        let d = datagram::to_vec(
            &h,
            &Body::FileData {
                data: content::fill_vec(100, 100),
            },
        );
        assert!(matches!(
            f.handle_datagram(t0, &d),
            Err(SessionError::Protocol(_))
        ));
    }

    #[test]
    fn a_refusal_ends_it() {
        let sc = Script {
            refuse: Some("busy".into()),
            ..Script::default()
        };
        let e = run(&sc).unwrap_err();
        assert!(matches!(e, SessionError::Refused { .. }), "{e}");
    }

    #[test]
    fn a_silent_server_gets_twelve_hellos_a_quarter_second_apart() {
        let sc = Script {
            answers: false,
            ..Script::default()
        };
        let (t0, epoch) = script::base();
        let mut s = ClientSession::File(FileReceive::new(ID, epoch, t0, plan()));
        let e = script::drive(&mut s, &sc, t0, epoch).unwrap_err();
        assert!(matches!(e, SessionError::NoAnswer { tries: 12 }), "{e}");
        assert_eq!(s.tally().tx, 12);
    }

    #[test]
    fn a_lost_cookie_or_ready_is_asked_for_again() {
        let sc = Script {
            fates: vec![Fate::Drop],
            ..Script::default()
        };
        let (f, run) = run(&sc).unwrap();
        assert_eq!(run.sent.len(), 3, "Hello twice, then the request");
        assert_eq!(run.sent[1].0 - run.sent[0].0, handshake::RETRY);
        assert_eq!(f.finish(run.end).unwrap().bytes, SIZE);
    }

    proptest! {
        /// Whatever the path drops or doubles, received + lost = sent, and
        /// every byte handed out is the file's.
        #[test]
        fn any_loss_pattern_adds_up(data in prop::collection::vec(0..3u8, 10), ends in any::<bool>()) {
            let fate = |n: &u8| [Fate::Deliver, Fate::Drop, Fate::Double][*n as usize];
            let sc = Script {
                ends,
                fates: fates(&data.iter().map(fate).collect::<Vec<_>>()),
                ..Script::default()
            };
            let (f, run) = run(&sc).unwrap();
            let file = content::fill_vec(0, SIZE as usize);
            prop_assert_eq!(&run.in_order[..], &file[..run.in_order.len()]);
            let end = f.finish(run.end).unwrap();
            let a = &end.arrivals;
            prop_assert_eq!(a.received() + a.lost(end.sent), end.sent);
            let dropped = data.iter().filter(|&&n| n == 1).count() as u64;
            prop_assert_eq!(a.lost(end.sent), dropped);
            let per = u64::from(SEGMENT) - DGRAM_HEADER as u64;
            let lost_bytes: u64 = data.iter().enumerate().filter(|&(_, &n)| n == 1)
                .map(|(i, _)| per.min(SIZE - i as u64 * per)).sum();
            prop_assert_eq!(end.bytes, SIZE - lost_bytes);
        }
    }
}
