//! How the endpoint answers each datagram: a cookie for Hello, an echo,
//! a text reply, a transfer started once the cookie and the limits allow,
//! or a refusal within the address's amplification budget.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::figures::{Key, Kind};
use super::file::FileSend;
use super::plan::FilePlan;
use super::table::Slot;
use super::transfer::{FileOptions, Transfer};
use super::upload::{Upload, UploadAsk};
use super::{Endpoint, Event, text};
use crate::proto::datagram::{
    self, Body, DGRAM_HEADER, DGRAM_SEGMENT_MIN, DgramError, DgramHeader, FLAG_ECN, FLAG_FRAGMENT,
    FLAG_NO_GSO, FLAG_RESULTS, FLAG_UPLOAD, KIND_FILE_DATA,
};
use crate::proto::{ErrorCode, Refusal};

/// The TOS byte of an answer to a datagram that came with `asker`: the
/// same DSCP, and ECT(0) when the asker was ECN-capable or `ecn` asks for
/// it, else Not-ECT. `None` (the socket's own) when the asker's byte is
/// not known and ECN is not asked for.
pub(super) fn answer_tos(asker: Option<u8>, ecn: bool) -> Option<u8> {
    if asker.is_none() && !ecn {
        return None;
    }
    // The DSCP is the high six bits; ECT(0) is 0b10 in the low two.
    let t = asker.unwrap_or(0);
    let capable = t & 0b11 != 0;
    Some(t & 0xFC | if ecn || capable { 0b10 } else { 0 })
}

/// A file request's fields.
struct FileAsk {
    size: u64,
    rate_bps: u64,
    segment: u32,
    flags: u8,
    time_ns: u64,
}

/// A transfer request, as it arrived.
struct Ask {
    h: DgramHeader,
    token: u64,
    /// Bytes of the request datagram.
    len: usize,
    kind: Kind,
    /// What the session's start line says it is.
    what: String,
}

impl Endpoint {
    pub(super) fn on_lab(&mut self, now: Instant, peer: SocketAddr, d: &[u8]) {
        if let Ok((KIND_FILE_DATA, h)) = datagram::parse_header(d) {
            if self.on_upload_data(now, peer, &h, d) {
                return;
            }
        }
        let (h, body) = match datagram::decode(d) {
            Ok(x) => x,
            Err(e) => {
                let h = datagram::parse_header(d).map(|x| x.1).unwrap_or_default();
                if !matches!(e, DgramError::NotLab) {
                    self.refuse(peer, &h, e.code(), e.to_string());
                }
                return;
            }
        };
        let key = Key::lab(peer, h.session);
        let stamped_stream = matches!(body, Body::StampedStreamRequest { .. });
        match body {
            Body::EchoRequest { data } => return self.on_echo(now, key, &h, data, d.len(), false),
            Body::StampedEchoRequest { data } => {
                return self.on_echo(now, key, &h, data, d.len(), true);
            }
            _ => {}
        }
        self.count_received(&key, d.len(), now);
        let len = d.len();
        match body {
            Body::Hello => {
                let token = self.validator.issue(&peer, self.now_s(now));
                self.reply(peer, &h, &Body::Cookie { token });
            }
            Body::FileRequest {
                size,
                rate_bps,
                segment,
                flags,
                token,
                time_ns,
            } => {
                let req = FileAsk {
                    size,
                    rate_bps,
                    segment,
                    flags,
                    time_ns,
                };
                self.on_file_request(now, peer, h, token, len, req);
            }
            Body::FileEnd { datagrams, .. } if self.receiving(&key) => {
                self.on_upload_end(now, key, &h, datagrams);
            }
            Body::StreamRequest {
                interval_ns,
                count,
                size,
                flags,
                token,
            }
            | Body::StampedStreamRequest {
                interval_ns,
                count,
                size,
                flags,
                token,
            } => {
                let ask = (interval_ns, count, size, flags, token);
                self.on_stream_request(now, peer, h, len, ask, stamped_stream);
            }
            other => self.refuse(
                peer,
                &h,
                ErrorCode::Unexpected,
                format!(
                    "a server does not accept {} from a client (session {:#x})",
                    other.name(),
                    h.session
                ),
            ),
        }
    }

    /// A stream request, `stamped` or not, once the cookie and the limits
    /// allow.
    fn on_stream_request(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        h: DgramHeader,
        len: usize,
        (interval_ns, count, size, flags, token): (u64, u32, u32, u8, u64),
        stamped: bool,
    ) {
        let interval = Duration::from_nanos(interval_ns);
        let what = if stamped { "stamped stream" } else { "stream" };
        let ask = Ask {
            h,
            token,
            len,
            kind: Kind::Stream,
            what: format!("udp {what} of {count} segments of {size} bytes, one every {interval:?}"),
        };
        let check = self.check_stream(interval_ns, count, size);
        let tos = answer_tos(self.asker_tos, false);
        self.start(now, peer, ask, check, |(), at, epoch| {
            let fragment = flags & FLAG_FRAGMENT != 0;
            let t = Transfer::stream(
                (peer, h.session),
                (interval, count, size),
                fragment,
                epoch,
                at,
            );
            let t = if stamped { t.stamped() } else { t };
            Slot::Held(Box::new(t.with_tos(tos)))
        });
    }

    /// A file request: a download (sized or timed, with Results if asked)
    /// or an upload, once the cookie and the limits allow.
    fn on_file_request(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        h: DgramHeader,
        token: u64,
        len: usize,
        req: FileAsk,
    ) {
        let FileAsk {
            size,
            rate_bps,
            segment,
            flags,
            time_ns,
        } = req;
        let how = FileSend {
            fragment: flags & FLAG_FRAGMENT != 0,
            gso: flags & FLAG_NO_GSO == 0,
        };
        let time = (time_ns > 0).then(|| Duration::from_nanos(time_ns));
        let ecn = flags & FLAG_ECN != 0;
        let tos = answer_tos(self.asker_tos, ecn);
        let upload = flags & FLAG_UPLOAD != 0;
        let ask = Ask {
            h,
            token,
            len,
            kind: if upload { Kind::Upload } else { Kind::File },
            what: describe_file(size, segment, rate_bps, how, time, upload),
        };
        let check = self
            .check_file(size, segment, if time.is_some() { 0 } else { rate_bps })
            .and_then(|()| self.check_time(time));
        if upload {
            let up = UploadAsk {
                size,
                segment,
                time,
                ecn,
                tos,
            };
            let cpu = self.config.cpu;
            let made = check.and(Upload::new(up, cpu).ok_or_else(no_room));
            let (seen, gro) = (self.asker_tos, self.config.gro);
            return self.start(now, peer, ask, made, |mut u, _, _| {
                u.saw(seen);
                u.set_gro(gro);
                Slot::Receiving(Box::new(u))
            });
        }
        let plan = FilePlan::new(
            if size == 0 && time.is_some() {
                u64::MAX
            } else {
                size
            },
            segment,
        );
        let options = FileOptions {
            time,
            cap: size,
            results: flags & FLAG_RESULTS != 0,
            tos,
            cpu: self.config.cpu,
        };
        self.start(
            now,
            peer,
            ask,
            check.and(plan.ok_or_else(no_room)),
            |plan, at, epoch| {
                let t = Transfer::file((peer, h.session), plan, rate_bps, how, epoch, at);
                Slot::Held(Box::new(t.with_options(options)))
            },
        );
    }

    fn check_file(&self, size: u64, segment: u32, rate_bps: u64) -> Result<(), Refusal> {
        self.config.limits.check_paced_file(size, rate_bps)?;
        let max = self.config.max_payload();
        if segment as usize <= DGRAM_HEADER || segment > max {
            return Err(Refusal {
                code: ErrorCode::BadSize,
                message: format!(
                    "a segment of {segment} bytes is outside {}..={max} (UDP payload, lab header included)",
                    DGRAM_HEADER + 1
                ),
            });
        }
        Ok(())
    }

    /// A timed transfer no longer than `--max-time`.
    fn check_time(&self, time: Option<Duration>) -> Result<(), Refusal> {
        let max = self.config.max_time;
        match time {
            Some(t) if t > max => Err(Refusal {
                code: ErrorCode::BadInterval,
                message: format!(
                    "a timed transfer of {:.3} s is longer than this server allows (--max-time {} s)",
                    t.as_secs_f64(),
                    max.as_secs_f64()
                ),
            }),
            _ => Ok(()),
        }
    }

    fn check_stream(&self, interval_ns: u64, count: u32, size: u32) -> Result<(), Refusal> {
        // The TCP size bounds do not apply; check count and interval, then
        // the datagram's own bounds.
        self.config
            .limits
            .check_stream(interval_ns, count, crate::proto::SEGMENT_MIN as u32)?;
        let max = self.config.max_payload();
        if (size as usize) < DGRAM_SEGMENT_MIN || size > max {
            return Err(Refusal {
                code: ErrorCode::BadSize,
                message: format!(
                    "a stream segment of {size} bytes is outside {DGRAM_SEGMENT_MIN}..={max}"
                ),
            });
        }
        Ok(())
    }

    /// Starts a file, stream or upload once the cookie and the limits
    /// allow.
    fn start<T>(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        ask: Ask,
        check: Result<T, Refusal>,
        make: impl FnOnce(T, Instant, crate::session::Epoch) -> Slot,
    ) {
        let h = ask.h;
        if !self.validator.check(&peer, ask.token, self.now_s(now)) {
            let why = "no valid cookie: send Hello first and use the token it returns";
            return self.refuse(peer, &h, ErrorCode::Unexpected, why.to_string());
        }
        let ok = match check {
            Ok(ok) => ok,
            Err(r) => {
                self.refuse(peer, &h, r.code, r.message);
                // A validated client whose request is refused was served
                // (as a TCP session that ends in a refusal is).
                self.served = true;
                return;
            }
        };
        let key = Key::lab(peer, h.session);
        match self.table.map.get(&key) {
            // A repeated request of an upload nothing of which came yet:
            // its go-ahead was lost.
            Some(s) if matches!(&s.transfer, Slot::Receiving(u) if u.nothing_yet()) => {
                if let Slot::Receiving(u) = &s.transfer {
                    let (ready, tos) = (u.ready(), u.tos());
                    self.reply_marked(peer, &h, &ready, tos);
                }
                return;
            }
            // A repeated request: the transfer is under way (or done).
            Some(s) if s.kind.is_transfer() => return,
            Some(_) => self.end(key, "the client asked for a transfer in this session", now),
            None => {}
        }
        if self.table.live_transfers() >= self.config.max_sessions {
            let max = self.config.max_sessions;
            let why = format!(
                "the server is busy: {max} sessions at once (--max-sessions); try again later"
            );
            return self.refuse(peer, &h, ErrorCode::Busy, why);
        }
        if self.table.live_transfers_from(peer.ip()) >= self.config.max_per_client {
            let max = self.config.max_per_client;
            let why = format!(
                "the server is busy: {max} sessions at once from {} (--max-per-client); try again later",
                peer.ip()
            );
            return self.refuse(peer, &h, ErrorCode::Busy, why);
        }
        let slot = make(ok, now, self.config.epoch);
        let ready = match &slot {
            Slot::Receiving(u) => Some((u.ready(), u.tos())),
            _ => None,
        };
        let s = self.new_session(key, ask.kind, ask.what, now);
        s.traffic.received(ask.len);
        s.requests = 1;
        let held = matches!(slot, Slot::Held(_));
        s.transfer = slot;
        if held {
            self.held.push(key);
        }
        if let Some((ready, tos)) = ready {
            self.reply_marked(peer, &h, &ready, tos);
        }
    }

    /// Answers an echo in its session (started by this request if new);
    /// a `stamped` one with the server's stamps ([`Endpoint::stamped_reply`]).
    fn on_echo(
        &mut self,
        now: Instant,
        key: Key,
        h: &DgramHeader,
        data: Vec<u8>,
        len: usize,
        stamped: bool,
    ) {
        self.open(key, Kind::Echo, len, now);
        let asked = data.len();
        match self.config.limits.check_echo(asked) {
            Ok(()) => {
                let sent = if stamped {
                    self.stamped_reply(now, key, h, data)
                } else {
                    self.reply(key.peer, h, &Body::EchoReply { data })
                };
                self.answered(&key, false, if sent { asked } else { 0 });
            }
            Err(r) => {
                self.refuse(key.peer, h, r.code, r.message);
                self.answered(&key, true, 0);
            }
        }
        // A request's offset field holds its run's number of requests (0:
        // not said): the session ends with the answer to the last one
        // rather than after --idle-timeout of quiet.
        if h.offset > 0 && u64::from(h.seq) + 1 >= h.offset {
            self.end(key, "the client's last echo was answered", now);
        }
    }

    /// Answers a plain-text datagram in its peer's text session.
    pub(super) fn on_text(&mut self, now: Instant, peer: SocketAddr, d: &[u8]) {
        let key = Key::text(peer);
        self.open(key, Kind::Text, d.len(), now);
        let room = self.budgets.get(&peer).room();
        let answer = text::answer(d, &self.config.limits, room);
        let n = self.budgets.take(&peer, answer.bytes.len());
        debug_assert_eq!(n, answer.bytes.len(), "answers fit the room");
        if n > 0 {
            self.queue(peer, answer.bytes);
            self.count_sent(&key, n);
        }
        self.answered(&key, answer.refused, n);
    }

    /// Queues a framed reply marked as the asking datagram was (see
    /// [`answer_tos`]), within the address's amplification budget, or
    /// drops it, and counts it in its session; whether it is queued.
    pub(super) fn reply(&mut self, to: SocketAddr, h: &DgramHeader, body: &Body) -> bool {
        let tos = answer_tos(self.asker_tos, false);
        self.reply_marked(to, h, body, tos)
    }

    /// As [`Endpoint::reply`], with TOS byte `tos`.
    pub(super) fn reply_marked(
        &mut self,
        to: SocketAddr,
        h: &DgramHeader,
        body: &Body,
        tos: Option<u8>,
    ) -> bool {
        let mut bytes = self.spare.pop().unwrap_or_default();
        datagram::encode(h, body, &mut bytes);
        if self.budgets.take(&to, bytes.len()) < bytes.len() {
            tracing::debug!(
                "{to}: {} of {} bytes dropped: over 3x what it sent (amplification limit)",
                body.name(),
                bytes.len()
            );
            self.spare.push(bytes);
            return false;
        }
        self.count_sent(&Key::lab(to, h.session), bytes.len());
        self.queue_marked(to, bytes, tos);
        true
    }

    fn queue(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        let tos = answer_tos(self.asker_tos, false);
        self.queue_marked(to, bytes, tos);
    }

    fn queue_marked(&mut self, to: SocketAddr, bytes: Vec<u8>, tos: Option<u8>) {
        self.replies.push_back((to, bytes, tos, None));
    }

    fn refuse(&mut self, to: SocketAddr, h: &DgramHeader, code: ErrorCode, message: String) {
        tracing::info!("{to} session {:#x}: refused: {message}", h.session);
        self.reply(to, h, &Body::Error { code, message });
    }

    /// A new session, its start reported as `what`.
    fn new_session(
        &mut self,
        key: Key,
        kind: Kind,
        what: String,
        now: Instant,
    ) -> &mut super::table::Entry {
        self.served = true;
        let idle = now + self.config.idle_timeout;
        self.next_sweep = Some(self.next_sweep.map_or(idle, |t| t.min(idle)));
        let s = self.table.insert(key, kind, now);
        self.events.push_back(Event::Started {
            id: s.id,
            key,
            kind,
            what,
        });
        s
    }

    /// Counts a datagram of `n` bytes from `key`'s peer in its session, if
    /// it has one; whether it has.
    fn count_received(&mut self, key: &Key, n: usize, now: Instant) -> bool {
        match self.table.map.get_mut(key) {
            Some(s) => {
                s.last_seen = now;
                s.traffic.received(n);
                true
            }
            None => false,
        }
    }

    fn count_sent(&mut self, key: &Key, n: usize) {
        if let Some(s) = self.table.map.get_mut(key) {
            s.traffic.sent(n);
        }
    }

    /// Counts a request answered in `key`'s session: refused or not, and
    /// the payload bytes its answer carried.
    fn answered(&mut self, key: &Key, refused: bool, payload: usize) {
        if let Some(s) = self.table.map.get_mut(key) {
            s.requests += 1;
            s.refused += u64::from(refused);
            s.payload_out += payload as u64;
        }
    }

    /// Counts a datagram of `n` bytes in `key`'s echo or text session,
    /// started by it when there is none (ending the quietest when full).
    fn open(&mut self, key: Key, kind: Kind, n: usize, now: Instant) {
        if self.count_received(&key, n, now) {
            return;
        }
        if self.table.light >= self.config.max_sessions {
            if let Some(quietest) = self.table.quietest() {
                let why = format!(
                    "ended early: {} echo and text sessions at once (--max-sessions), this one the quietest",
                    self.config.max_sessions
                );
                self.end(quietest, &why, now);
            }
        }
        let what = kind.name().to_string();
        self.new_session(key, kind, what, now).traffic.received(n);
    }
}

fn no_room() -> Refusal {
    Refusal {
        code: ErrorCode::BadSize,
        message: "no room for file bytes in a segment".to_string(),
    }
}

/// A file request, for the session's start line.
fn describe_file(
    size: u64,
    segment: u32,
    rate_bps: u64,
    how: FileSend,
    time: Option<Duration>,
    upload: bool,
) -> String {
    let pace = if rate_bps > 0 {
        format!("at {rate_bps} bit/s")
    } else {
        "unpaced".to_string()
    };
    let send = if how.fragment {
        ", IP may fragment"
    } else if !how.gso {
        ", one datagram per send"
    } else {
        ""
    };
    let what = if upload { "udp upload" } else { "udp file" };
    let amount = match (time, size) {
        (Some(t), 0) => format!("for {t:?}"),
        (Some(t), n) => format!("for {t:?} or {n} bytes"),
        (None, n) => format!("of {n} bytes"),
    };
    if upload {
        return format!("{what} {amount} in datagrams of {segment} bytes");
    }
    format!("{what} {amount} in datagrams of {segment} bytes, {pace}{send}")
}
