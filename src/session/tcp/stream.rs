//! The client's side of a stream: StreamStart, `count` segments in order,
//! StreamEnd; each segment's delay, schedule error and jitter measured on
//! arrival.

use std::time::{Duration, Instant};

use super::stream_stamps::{ReceivedStamps, STAMP_MESSAGE_LEN, StampPairs};
use super::{Events, Inbox, Patience, Record, SessionError, Toward};
use crate::account::beside::Shape;
use crate::latency::{Jitter, Recorder};
use crate::proto::{HEADER_LEN, Message, codec};
use crate::session::{Epoch, Transmit};

/// The comment of one write of a stream: segment `seq`, with the
/// StreamStart before it (`first`) and the StreamEnd after it (`last`) when
/// they share its write.
pub fn stream_comment(seq: u32, first: bool, last: bool) -> String {
    let start = if first { "stream start; " } else { "" };
    let end = if last { "; stream end" } else { "" };
    format!("{start}stream seq {seq}{end}")
}

/// What a stream measured.
#[derive(Debug, Clone)]
pub struct StreamFigures {
    /// Segments that arrived.
    pub segments: u32,
    /// Segments asked for.
    pub count: u32,
    /// What the server says it sent.
    pub sent: u32,
    /// Segment payload bytes that arrived.
    pub bytes: u64,
    /// Each segment's one-way delay, sent to received.
    pub delay: Recorder,
    /// Each segment's schedule error, scheduled to sent.
    pub schedule: Recorder,
    /// The interarrival jitter.
    pub jitter: Jitter,
    /// The last segment's schedule error, µs.
    pub end_drift_us: Option<f64>,
    /// What the accounting prices.
    pub shape: Shape,
    /// A stamped stream's kernel stamps, paired by segment.
    pub stamps: Option<StampPairs>,
}

/// Where a stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Request,
    Start,
    Segments,
    Done,
}

/// The client's side of a stream.
#[derive(Debug)]
pub struct StreamClient {
    step: Step,
    interval: Duration,
    count: u32,
    size: u32,
    patience: Patience,
    epoch: Epoch,
    inbox: Inbox,
    held: HeldWrite,
    delay: Recorder,
    schedule: Recorder,
    jitter: Jitter,
    end_drift: Option<f64>,
    segments: u32,
    bytes: u64,
    sent: u32,
    /// A stamped stream's kernel stamps (boxed: most streams have none).
    stamps: Option<Box<ReceivedStamps>>,
    pub(super) events: Events,
}

impl StreamClient {
    /// `count` segments of `size` bytes every `interval`, from `start`;
    /// nothing heard for `timeout` fails it. `epoch` turns arrival instants
    /// into the Unix-epoch stamps the segments carry.
    pub fn new(
        start: Instant,
        epoch: Epoch,
        (interval, count, size): (Duration, u32, u32),
        timeout: Duration,
    ) -> StreamClient {
        StreamClient {
            step: Step::Request,
            interval,
            count,
            size,
            patience: Patience::new(start, timeout),
            epoch,
            inbox: Inbox::new(),
            held: HeldWrite::default(),
            delay: Recorder::new(),
            schedule: Recorder::new(),
            jitter: Jitter::new(),
            end_drift: None,
            segments: 0,
            bytes: 0,
            sent: 0,
            stamps: None,
            events: Events::default(),
        }
    }

    /// As [`StreamClient::new`], asking for each segment's kernel TX stamp
    /// (a StampedStreamRequest); the driver hands in its RX stamps.
    pub fn stamped(
        start: Instant,
        epoch: Epoch,
        plan: (Duration, u32, u32),
        timeout: Duration,
    ) -> StreamClient {
        StreamClient {
            stamps: Some(Box::default()),
            ..StreamClient::new(start, epoch, plan, timeout)
        }
    }

    /// The bytes about to be handed over came in a read whose kernel RX
    /// stamp is `rx_ns` (`None`: it had none).
    pub fn handle_rx_stamp(&mut self, rx_ns: Option<u64>) {
        if let Some(st) = self.stamps.as_mut() {
            st.read(rx_ns);
        }
    }

    /// The request, first.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if self.step != Step::Request {
            return None;
        }
        let (interval_ns, count, size) = (self.interval.as_nanos() as u64, self.count, self.size);
        let request = if self.stamps.is_some() {
            Message::StampedStreamRequest {
                interval_ns,
                count,
                size,
            }
        } else {
            Message::StreamRequest {
                interval_ns,
                count,
                size,
            }
        };
        buf.clear();
        codec::encode(&request, buf).ok()?;
        let stamped = self.stamps.is_some();
        self.events.bytes(Toward::Server, buf, || {
            if stamped {
                "stream request, stamped".to_string()
            } else {
                "stream request".to_string()
            }
        });
        self.step = Step::Start;
        self.patience.heard(now);
        Some(Transmit {
            len: buf.len(),
            segment: None,
        })
    }

    /// Bytes arrived at `now`.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) -> Result<(), SessionError> {
        self.patience.heard(now);
        let mut at = 0;
        while at < bytes.len() && matches!(self.step, Step::Start | Step::Segments) {
            let (n, r) = self.inbox.take(&bytes[at..]);
            at += n;
            match r {
                Ok(Some(m)) => self.message(now, m)?,
                Ok(None) => {}
                Err(e) => return Err(SessionError::Protocol(e.to_string())),
            }
        }
        if let Some(st) = self.stamps.as_mut() {
            st.end_read();
        }
        Ok(())
    }

    fn message(&mut self, now: Instant, msg: Message) -> Result<(), SessionError> {
        match (self.step, msg) {
            (_, Message::Error { code, message }) => {
                let m = Message::error(code, message.clone());
                self.events.bytes(
                    Toward::Client,
                    &codec::to_vec(&m).unwrap_or_default(),
                    || format!("error: {message}"),
                );
                Err(SessionError::Refused { code, message })
            }
            (Step::Start, start @ Message::StreamStart { .. }) => {
                if self.events.recording() {
                    self.held.add(&start, None);
                }
                self.step = Step::Segments;
                Ok(())
            }
            (Step::Start, other) => Err(SessionError::Protocol(format!(
                "expected StreamStart, got {:?}",
                other.kind()
            ))),
            (Step::Segments, seg @ Message::StreamSegment { .. }) => self.segment(now, seg),
            (Step::Segments, m @ Message::StreamStamp { seq, tx_ns }) if self.stamps.is_some() => {
                if self.events.recording() {
                    self.held.add(&m, None);
                }
                if let Some(st) = self.stamps.as_mut() {
                    st.stamp(seq, tx_ns);
                }
                Ok(())
            }
            (_, Message::StreamEnd { sent }) => self.end(sent),
            (_, other) => Err(SessionError::Protocol(format!(
                "expected a stream segment, got {:?}",
                other.kind()
            ))),
        }
    }

    fn segment(&mut self, now: Instant, seg: Message) -> Result<(), SessionError> {
        let Message::StreamSegment {
            seq,
            scheduled_ns,
            sent_ns,
            size,
        } = seg
        else {
            return Ok(());
        };
        let recv_ns = self.epoch.unix_ns_of(now) as i128;
        let due = self.segments;
        if seq != due {
            return Err(SessionError::Protocol(format!(
                "segment {seq} arrived where {due} was due"
            )));
        }
        if seq >= self.count {
            return Err(SessionError::Protocol(format!(
                "segment {seq} arrived, beyond the {} asked for",
                self.count
            )));
        }
        self.segments += 1;
        self.bytes += u64::from(size);
        if let Some(st) = self.stamps.as_mut() {
            st.segment(seq);
        }
        if self.events.recording() {
            self.held.add(&seg, Some(seq));
            // A stamped stream's end comes in a write of its own.
            if self.segments < self.count || self.stamps.is_some() {
                self.held.record(&mut self.events, false);
            }
        }
        let late = sent_ns as i128 - scheduled_ns as i128;
        self.delay.record_ns(recv_ns - sent_ns as i128);
        self.schedule.record_ns(late);
        self.end_drift = Some(late as f64 / 1e3);
        self.jitter.add(sent_ns as i128, recv_ns);
        Ok(())
    }

    fn end(&mut self, sent: u32) -> Result<(), SessionError> {
        if self.events.recording() {
            self.held.add(&Message::StreamEnd { sent }, None);
            self.held.record(&mut self.events, true);
        }
        // TCP loses nothing: what the server says it sent is what arrived,
        // or one of the two is wrong.
        if sent != self.segments {
            return Err(SessionError::Protocol(format!(
                "the stream's end says {sent} segments were sent, but {} arrived",
                self.segments
            )));
        }
        if sent < self.count {
            return Err(SessionError::Cut {
                sent: u64::from(sent),
                planned: u64::from(self.count),
            });
        }
        self.sent = sent;
        self.step = Step::Done;
        Ok(())
    }

    /// The connection ended.
    pub fn handle_eof(&mut self) -> SessionError {
        if self.inbox.is_empty() {
            SessionError::closed()
        } else {
            SessionError::truncated()
        }
    }

    /// When silence fails the stream.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.patience.deadline(self.wants_input())
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        self.patience.check(now, self.wants_input())
    }

    /// Whether bytes are awaited.
    pub fn wants_input(&self) -> bool {
        matches!(self.step, Step::Start | Step::Segments)
    }

    /// Whether StreamEnd came, with every segment.
    pub fn is_done(&self) -> bool {
        self.step == Step::Done
    }

    /// Segment bytes so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The figures.
    pub fn finish(self) -> StreamFigures {
        // A stamped stream's segments are each followed by a StreamStamp,
        // priced here with the segment.
        let extra = if self.stamps.is_some() {
            STAMP_MESSAGE_LEN
        } else {
            0
        };
        StreamFigures {
            segments: self.segments,
            count: self.count,
            sent: self.sent,
            bytes: self.bytes,
            delay: self.delay,
            schedule: self.schedule,
            jitter: self.jitter,
            end_drift_us: self.end_drift,
            shape: Shape::Stream {
                up: (HEADER_LEN + 16) as u64,
                count: u64::from(self.segments),
                size: u64::from(self.size) + extra,
                start: (HEADER_LEN + 24) as u64,
                end: (HEADER_LEN + 4) as u64,
            },
            stamps: self.stamps.map(|s| s.finish()),
        }
    }
}

/// One write of a stream's server in the making, for the model capture:
/// the messages that left together and the segment among them.
#[derive(Debug, Default)]
struct HeldWrite {
    bytes: Vec<u8>,
    start: bool,
    seq: Option<u32>,
}

impl HeldWrite {
    /// Adds a message; `seq` for a segment.
    fn add(&mut self, msg: &Message, seq: Option<u32>) {
        if matches!(msg, Message::StreamStart { .. }) {
            self.start = true;
        }
        if seq.is_some() {
            self.seq = seq;
        }
        // A message that came in decoded encodes again.
        let _ = codec::encode(msg, &mut self.bytes);
    }

    /// Records what is held as one send, named as the server names it
    /// (`end`: StreamEnd is in it), and starts the next.
    fn record(&mut self, events: &mut Events, end: bool) {
        let comment = match self.seq {
            Some(seq) => stream_comment(seq, self.start, end),
            None if self.start => "stream start; stream end".to_string(),
            None => "stream end".to_string(),
        };
        events.record(Record::Bytes {
            toward: Toward::Client,
            bytes: std::mem::take(&mut self.bytes),
            comment,
        });
        *self = HeldWrite::default();
    }
}
