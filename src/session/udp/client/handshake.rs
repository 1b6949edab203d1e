//! The part every UDP file or stream shares, as the client sees it: the
//! cookie round trip (Hello until a Cookie comes back), the request with
//! the cookie's token repeated until the server answers, the silence that
//! ends the transfer when no End comes, and the End with the sender's
//! count, after which stragglers are awaited for [`LINGER`].

use std::time::{Duration, Instant};

use super::{SessionError, Tally};
use crate::proto::datagram::{self, Body, DgramHeader};
use crate::session::{Epoch, Transmit};

/// Time between repeats of a Hello or a request that got no answer.
pub const RETRY: Duration = Duration::from_millis(250);
/// Most times a Hello, or a request, is sent.
pub const TRIES: u32 = 12;
/// After the End message, how long stragglers are awaited.
pub const LINGER: Duration = Duration::from_millis(50);

/// What ended a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The sender's End message, with its count.
    EndMessage,
    /// Silence for the whole timeout; the count is the plan's.
    Silence,
}

/// Where the round trip is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Asking for a cookie.
    Hello,
    /// Asking for the transfer, with the cookie's token.
    Request,
    /// Something of the transfer has arrived: nothing more to send.
    Started,
}

/// The request's round trip and the transfer's end.
#[derive(Debug)]
pub struct Handshake {
    session: u32,
    epoch: Epoch,
    phase: Phase,
    /// The request, its token filled in when the cookie arrives.
    request: Body,
    /// What goes out next while unanswered: the Hello, then the request.
    out: Vec<u8>,
    /// Sends of the current phase's message.
    tries: u32,
    /// When the current message is to go (again).
    send_at: Option<Instant>,
    /// When the current message was last sent.
    sent_at: Instant,
    silence: Duration,
    /// When the last datagram of the session arrived.
    heard_at: Instant,
    /// The sender's count, from the first End, and when it came.
    end: Option<(u64, Instant)>,
    /// Over: everything arrived, or the silence or linger ran out.
    done: Option<Ended>,
}

impl Handshake {
    /// A round trip for `request` (a FileRequest or StreamRequest whose
    /// token is filled in later) of session `session`, begun at `now`;
    /// `silence` ends the transfer once it has started.
    pub fn new(session: u32, epoch: Epoch, now: Instant, request: Body, silence: Duration) -> Self {
        let mut out = Vec::new();
        datagram::encode(&header(session, epoch, now), &Body::Hello, &mut out);
        Handshake {
            session,
            epoch,
            phase: Phase::Hello,
            request,
            out,
            tries: 0,
            send_at: Some(now),
            sent_at: now,
            silence,
            heard_at: now,
            end: None,
            done: None,
        }
    }

    /// The session id.
    pub fn session(&self) -> u32 {
        self.session
    }

    /// The Hello or the request, when it is due.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if self.phase == Phase::Started || self.send_at.is_none_or(|t| now < t) {
            return None;
        }
        buf.clear();
        buf.extend_from_slice(&self.out);
        self.tries += 1;
        self.sent_at = now;
        self.send_at = None;
        Some(Transmit {
            len: buf.len(),
            segment: None,
        })
    }

    /// When the handshake wants to be woken.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.done.is_some() {
            return None;
        }
        match (self.phase, self.end) {
            (Phase::Started, Some((_, at))) => Some(at + LINGER),
            (Phase::Started, None) => Some(self.heard_at + self.silence),
            _ => Some(self.send_at.unwrap_or(self.sent_at + RETRY)),
        }
    }

    /// A repeat falls due, the tries run out, or the transfer is over.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        let Some(at) = self.poll_timeout() else {
            return Ok(());
        };
        if now < at || self.send_at.is_some() {
            return Ok(());
        }
        match (self.phase, self.end) {
            (Phase::Started, Some(_)) => self.done = Some(Ended::EndMessage),
            (Phase::Started, None) => self.done = Some(Ended::Silence),
            _ if self.tries >= TRIES => return Err(SessionError::NoAnswer { tries: TRIES }),
            _ => self.send_at = Some(now),
        }
        Ok(())
    }

    /// A datagram of the session arrived at `now`: the silence starts over.
    pub fn heard(&mut self, now: Instant) {
        self.heard_at = now;
    }

    /// The control messages every transfer shares: a Cookie (the request
    /// goes out with its token) and a refusal.
    pub fn handle_control(&mut self, now: Instant, body: &Body) -> Result<(), SessionError> {
        match body {
            Body::Cookie { token } if self.phase == Phase::Hello => {
                match &mut self.request {
                    Body::FileRequest { token: t, .. }
                    | Body::StreamRequest { token: t, .. }
                    | Body::StampedStreamRequest { token: t, .. } => {
                        *t = *token;
                    }
                    _ => {}
                }
                self.out.clear();
                let h = header(self.session, self.epoch, now);
                datagram::encode(&h, &self.request, &mut self.out);
                self.phase = Phase::Request;
                self.tries = 0;
                self.send_at = Some(now);
                Ok(())
            }
            Body::Error { code, message } => Err(SessionError::Refused {
                code: *code,
                message: message.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Something of the transfer arrived: stop repeating the request.
    pub fn started(&mut self) {
        self.phase = Phase::Started;
        self.send_at = None;
    }

    /// The End message arrived at `now` with the sender's count.
    pub fn end(&mut self, now: Instant, sent: u64) {
        self.started();
        if self.end.is_none() {
            self.end = Some((sent, now));
        }
    }

    /// The sender's count, from the first End.
    pub fn end_count(&self) -> Option<u64> {
        self.end.map(|(sent, _)| sent)
    }

    /// When the first End arrived.
    pub fn end_at(&self) -> Option<Instant> {
        self.end.map(|(_, at)| at)
    }

    /// Ends the transfer once everything the End announced has arrived.
    pub fn check_complete(&mut self, received: u64) {
        if self.end.is_some_and(|(s, _)| received >= s) {
            self.done = Some(Ended::EndMessage);
        }
    }

    /// Whether the transfer is over.
    pub fn is_done(&self) -> bool {
        self.done.is_some()
    }

    /// The sender's count and what ended the transfer; a count short of the
    /// plan means the server stopped early, one beyond it that the server
    /// does not keep to the protocol: both errors.
    pub fn ending(
        &self,
        planned: u64,
        what: &'static str,
        unit: &'static str,
    ) -> Result<(u64, Ended), SessionError> {
        match self.end {
            Some((sent, _)) if sent > planned => Err(SessionError::Protocol(format!(
                "the server says it sent {sent} {what} {unit}, more than the {planned} asked for"
            ))),
            Some((sent, _)) if sent < planned => Err(SessionError::Cut {
                what,
                sent,
                planned,
                unit,
            }),
            Some((sent, _)) => Ok((sent, Ended::EndMessage)),
            None => Ok((planned, Ended::Silence)),
        }
    }
}

/// A session that asks with a request and then takes what comes: a file
/// or a stream received. Its handshake answers every call but the datagrams
/// themselves, so the sessions write only what they do with those.
pub trait Asking {
    /// The session's handshake.
    fn handshake(&self) -> &Handshake;
    /// The handshake and the tally of what the session sent and received.
    fn handshake_and_tally(&mut self) -> (&mut Handshake, &mut Tally);

    /// The session id.
    fn id(&self) -> u32 {
        self.handshake().session()
    }

    /// The Hello or the request, while unanswered.
    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let (hs, tally) = self.handshake_and_tally();
        let t = hs.poll_transmit(now, buf)?;
        tally.sent(t);
        Some(t)
    }

    /// The next retry, the silence's end or the linger's.
    fn poll_timeout(&self) -> Option<Instant> {
        self.handshake().poll_timeout()
    }

    /// Retries and the end of the transfer.
    fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        self.handshake_and_tally().0.handle_timeout(now)
    }

    /// Datagrams may come at any time.
    fn awaits_datagram(&self) -> bool {
        true
    }

    /// Whether the transfer is over.
    fn is_done(&self) -> bool {
        self.handshake().is_done()
    }

    /// Counts a datagram that arrived at `now` and tells the handshake.
    fn heard(&mut self, now: Instant, d: &[u8]) {
        let (hs, tally) = self.handshake_and_tally();
        tally.received(d);
        hs.heard(now);
    }
}

/// A header of session `session` stamped at `now`.
pub fn header(session: u32, epoch: Epoch, now: Instant) -> DgramHeader {
    DgramHeader {
        session,
        seq: 0,
        offset: 0,
        sent_ns: epoch.unix_ns_of(now),
    }
}
