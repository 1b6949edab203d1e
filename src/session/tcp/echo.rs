//! The client's side of an echo: `count` round trips, the i-th request due
//! at start + i·interval, each reply compared in place with the one
//! expected.

use std::time::{Duration, Instant};

use super::{Events, Inbox, SessionError, Toward};
use crate::account::beside::Shape;
use crate::latency::Recorder;
use crate::proto::{HEADER_LEN, Message, codec};
use crate::session::Transmit;

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
    pub(super) events: Events,
}

/// Where a request's sequence number sits.
const SEQ_AT: std::ops::Range<usize> = HEADER_LEN..HEADER_LEN + 4;

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
            events: Events::default(),
        })
    }

    /// When request `seq` is due.
    fn due(&self) -> Instant {
        super::deadline(self.start, self.interval, self.seq)
    }

    /// The next request, when it is due at `now` and none is outstanding.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if self.sent.is_some() || self.seq >= self.count || self.due() > now {
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
            let want = &self.expected[self.matched..];
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
        self.rtt
            .record_ns(now.saturating_duration_since(sent).as_nanos() as i128);
        self.bytes += self.size as u64;
        let seq = self.seq;
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
            None if self.seq < self.count => Some(self.due()),
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
        self.seq >= self.count && self.sent.is_none() && self.failed.is_none()
    }

    /// Echo payload bytes that came back so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The figures: the round-trip times, the bytes, and the shape.
    pub fn finish(self) -> (Recorder, u64, Shape) {
        let msg = self.expected.len() as u64;
        let shape = Shape::Echo {
            count: u64::from(self.count),
            request: msg,
            reply: msg,
        };
        (self.rtt, self.bytes, shape)
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
