//! The client's side of an echo: `count` round trips, the i-th request due
//! at start + i·interval, each reply compared in place with the one
//! expected.
//!
//! A stamped echo ([`EchoClient::stamped`]) sends StampedEchoRequests: each
//! reply carries the server's stamps of it, which are read rather than
//! compared, and one more exchange after the last brings back the last
//! reply's send stamp (its round trip is not counted).

use std::time::{Duration, Instant};

use super::{Events, Inbox, SessionError, Toward};
use crate::account::beside::Shape;
use crate::latency::Recorder;
use crate::proto::stamps::{STAMPS_LEN, ServerStamps};
use crate::proto::{HEADER_LEN, Message, codec};
use crate::session::Transmit;
use crate::session::stamps::{ClientStamp, EchoStamps};

/// The client's side of an echo.
///
/// The request and the reply it should bring are encoded once, and only
/// their sequence numbers rewritten; the reply's bytes are compared with
/// the expected ones as they arrive and decoded only when they differ (an
/// error from the server, a changed echo). No allocation and no decoding
/// between a request's send and its reply.
#[derive(Debug)]
pub struct EchoClient {
    request: Vec<u8>,
    expected: Vec<u8>,
    size: usize,
    count: u32,
    interval: Duration,
    start: Instant,
    timeout: Duration,
    seq: u32,
    sent: Option<Instant>,
    matched: usize,
    odd: Option<Inbox>,
    early: Vec<u8>,
    failed: Option<SessionError>,
    rtt: Recorder,
    bytes: u64,
    /// The stamps of a stamped echo.
    stamps: Option<Box<EchoStamps>>,
    /// The latest read's kernel RX stamp and return, from the driver.
    read: Option<(Option<u64>, u64)>,
    pub(super) events: Events,
}

/// Where a request's sequence number sits.
const SEQ_AT: std::ops::Range<usize> = HEADER_LEN..HEADER_LEN + 4;
/// Where a stamped reply's stamps sit.
const STAMPS_AT: std::ops::Range<usize> = SEQ_AT.end..SEQ_AT.end + STAMPS_LEN;

impl EchoClient {
    /// `count` echoes of `data` from `start`, one every `interval` (zero:
    /// each as soon as the one before came back), each reply awaited for
    /// at most `timeout`.
    pub fn new(
        start: Instant,
        data: &[u8],
        count: u32,
        interval: Duration,
        timeout: Duration,
    ) -> Result<EchoClient, SessionError> {
        let encode =
            |msg: &Message| codec::to_vec(msg).map_err(|e| SessionError::Usage(e.to_string()));
        let seq = 0;
        let data = data.to_vec();
        let request = encode(&Message::EchoRequest {
            seq,
            data: data.clone(),
        })?;
        let expected = encode(&Message::EchoReply { seq, data })?;
        Ok(EchoClient {
            size: expected.len() - SEQ_AT.end,
            request,
            expected,
            count,
            interval,
            start,
            timeout,
            seq,
            sent: None,
            matched: 0,
            odd: None,
            early: Vec::new(),
            failed: None,
            rtt: Recorder::new(),
            bytes: 0,
            stamps: None,
            read: None,
            events: Events::default(),
        })
    }

    /// As [`EchoClient::new`], with StampedEchoRequests: `count` measured
    /// round trips and one more that brings back the last reply's stamp.
    pub fn stamped(
        start: Instant,
        data: &[u8],
        count: u32,
        interval: Duration,
        timeout: Duration,
    ) -> Result<EchoClient, SessionError> {
        let encode =
            |msg: &Message| codec::to_vec(msg).map_err(|e| SessionError::Usage(e.to_string()));
        let mut e = EchoClient::new(start, data, count, interval, timeout)?;
        let data = data.to_vec();
        e.request = encode(&Message::StampedEchoRequest {
            seq: 0,
            data: data.clone(),
        })?;
        e.expected = encode(&Message::StampedEchoReply {
            seq: 0,
            stamps: ServerStamps::default(),
            data,
        })?;
        e.stamps = Some(Box::new(EchoStamps::new(count)));
        Ok(e)
    }

    /// Requests sent in all: the measured ones, and a stamped echo's last.
    fn total(&self) -> u32 {
        if self.stamps.is_some() {
            self.count.saturating_add(1)
        } else {
            self.count
        }
    }

    /// The sequence number of the outstanding stamped request.
    pub fn stamped_outstanding(&self) -> Option<u32> {
        (self.stamps.is_some() && self.sent.is_some()).then_some(self.seq)
    }

    /// What the driver read of its kernel's stamps and its own clock: the
    /// request's send call and t1 ([`ClientStamp::Sent`], [`ClientStamp::Tx`]);
    /// a [`ClientStamp::Received`] with any `seq` tells of the read about to
    /// be handed over, and is applied to the reply it completes.
    pub fn handle_stamp(&mut self, s: ClientStamp) {
        let Some(book) = self.stamps.as_mut() else {
            return;
        };
        match s {
            ClientStamp::Received { rx_ns, app_ns, .. } => self.read = Some((rx_ns, app_ns)),
            s => book.client(s),
        }
    }

    /// When request `seq` is due.
    fn due(&self) -> Instant {
        super::deadline(self.start, self.interval, self.seq)
    }

    /// The next request, when it is due at `now` and none is outstanding.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if self.sent.is_some() || self.seq >= self.total() || self.due() > now {
            return None;
        }
        let seq = self.seq.to_be_bytes();
        self.request[SEQ_AT].copy_from_slice(&seq);
        self.expected[SEQ_AT].copy_from_slice(&seq);
        buf.clear();
        buf.extend_from_slice(&self.request);
        self.sent = Some(now);
        if !self.early.is_empty() {
            // Bytes that came before this request are the start of its
            // reply, or wrong: either way they are compared now.
            let early = std::mem::take(&mut self.early);
            if let Err(e) = self.handle_bytes(now, &early) {
                self.failed = Some(e);
            }
        }
        Some(Transmit {
            len: buf.len(),
            segment: None,
        })
    }

    /// Bytes of the stream arrived at `now`.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) -> Result<(), SessionError> {
        let mut at = 0;
        while at < bytes.len() {
            if self.odd.is_some() {
                return self.decode_odd(&bytes[at..]);
            }
            let Some(sent) = self.sent else {
                // Nothing outstanding: kept for the next request.
                self.early.extend_from_slice(&bytes[at..]);
                return Ok(());
            };
            if self.stamps.is_some() && STAMPS_AT.contains(&self.matched) {
                // The server's stamps: read, not compared.
                let n = (STAMPS_AT.end - self.matched).min(bytes.len() - at);
                self.expected[self.matched..self.matched + n].copy_from_slice(&bytes[at..at + n]);
                at += n;
                self.matched += n;
                continue;
            }
            let mut want = &self.expected[self.matched..];
            if self.stamps.is_some() && self.matched < STAMPS_AT.start {
                want = &want[..STAMPS_AT.start - self.matched];
            }
            let n = want.len().min(bytes.len() - at);
            if bytes[at..at + n] != want[..n] {
                let mut inbox = Inbox::new();
                let (_, r) = inbox.take(&self.expected[..self.matched]);
                debug_assert!(matches!(r, Ok(None)));
                self.odd = Some(inbox);
                continue;
            }
            at += n;
            self.matched += n;
            if self.matched == self.expected.len() {
                self.replied(now, sent);
            }
        }
        Ok(())
    }

    /// The reply to the outstanding request came whole at `now`.
    fn replied(&mut self, now: Instant, sent: Instant) {
        let seq = self.seq;
        if seq < self.count {
            self.rtt
                .record_ns(now.saturating_duration_since(sent).as_nanos() as i128);
            self.bytes += self.size as u64;
        }
        if let Some(book) = self.stamps.as_mut() {
            let block = &self.expected[STAMPS_AT];
            let server = ServerStamps::parse(block).unwrap_or_default();
            if let Some((rx_ns, app_ns)) = self.read.take() {
                book.client(ClientStamp::Received { seq, rx_ns, app_ns });
            }
            book.server(seq, &server);
        }
        self.events.bytes(Toward::Server, &self.request, || {
            format!("echo {seq} request")
        });
        self.events.bytes(Toward::Client, &self.expected, || {
            format!("echo {seq} reply")
        });
        self.sent = None;
        self.matched = 0;
        self.seq += 1;
    }

    /// Bytes that are not the echo: decoded, to say what they are (a
    /// refusal goes into the model after its request).
    fn decode_odd(&mut self, bytes: &[u8]) -> Result<(), SessionError> {
        let Some(inbox) = self.odd.as_mut() else {
            return Ok(());
        };
        let (_, r) = inbox.take(bytes);
        let msg = match r {
            Ok(None) => return Ok(()),
            Ok(Some(m)) => m,
            Err(e) => return Err(SessionError::Protocol(e.to_string())),
        };
        let seq = self.seq;
        self.events.bytes(Toward::Server, &self.request, || {
            format!("echo {seq} request")
        });
        Err(match msg {
            Message::Error { code, message } => {
                self.events.message(
                    Toward::Client,
                    &Message::Error {
                        code,
                        message: message.clone(),
                    },
                );
                SessionError::Refused { code, message }
            }
            other => SessionError::Protocol(format!(
                "expected the echo of request {seq}, got {:?}",
                other.kind()
            )),
        })
    }

    /// When the session next wants [`EchoClient::handle_timeout`]: the
    /// outstanding reply's deadline, or the next request's turn.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.failed.is_some() {
            return Some(self.start);
        }
        match self.sent {
            Some(sent) => Some(sent + self.timeout),
            None if self.seq < self.total() => Some(self.due()),
            None => None,
        }
    }

    /// Time passed: a reply overdue fails the echo.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        match self.sent {
            Some(sent) if now >= sent + self.timeout => Err(SessionError::Timeout(self.timeout)),
            _ => Ok(()),
        }
    }

    /// The connection ended.
    pub fn handle_eof(&mut self) -> SessionError {
        match &self.odd {
            Some(inbox) if !inbox.is_empty() => SessionError::truncated(),
            _ => SessionError::closed(),
        }
    }

    /// Whether a reply is awaited.
    pub fn wants_input(&self) -> bool {
        self.sent.is_some() && self.failed.is_none()
    }

    /// Whether every round trip is done.
    pub fn is_done(&self) -> bool {
        self.seq >= self.total() && self.sent.is_none() && self.failed.is_none()
    }

    /// Echo payload bytes that came back so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The figures: the round-trip times, the bytes, the shape, and a
    /// stamped echo's stamps.
    pub fn finish(self) -> (Recorder, u64, Shape, Option<Box<EchoStamps>>) {
        let shape = Shape::Echo {
            count: u64::from(self.total()),
            request: self.request.len() as u64,
            reply: self.expected.len() as u64,
        };
        let stamps = self.stamps.map(|mut s| {
            s.finish();
            s
        });
        (self.rtt, self.bytes, shape, stamps)
    }

    /// Bytes per echo.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Round trips asked for.
    pub fn count(&self) -> u32 {
        self.count
    }
}
