//! The server's side of one connection: the first byte decides between the
//! framed protocol and plain text, then requests are checked against the
//! server's [`Limits`] and answered.
//!
//! A refusal goes back to the client and the session goes on. Only a
//! broken stream (wrong magic or version, an oversized length) ends it from
//! here; the driver ends it on a timeout or a closed socket.

use std::time::{Duration, Instant};

use super::server_reply::{FileReply, Replier, Reply, StreamSender};
use super::server_transfer::{Asked, Readings, Transfer};
use super::stream_stamps::SentStamps;
use super::{Bulk, Event, FileReceiver, FileSender, Inbox, TextServer, Toward};
use crate::account::beside::Shape;
use crate::proto::stamps::{STAMPS_LEN, StampsKind};
use crate::proto::{DecodeError, ErrorCode, HEADER_LEN, Limits, MAGIC, Message, Refusal, codec};
use crate::session::stamps::ReplyStamps;
use crate::session::{Epoch, Transmit};

pub use super::server_reply::{ACK_WAIT, ServerFigures};

/// How a session ended: why, and whether the client closed first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// Why, for the log and the JSON.
    pub why: String,
    /// Whether the client closed (or broke) the connection first.
    pub by_client: bool,
}

impl Ended {
    pub(super) fn client(why: &str) -> Ended {
        Ended {
            why: why.to_string(),
            by_client: true,
        }
    }

    pub(super) fn server(why: String) -> Ended {
        Ended {
            why,
            by_client: false,
        }
    }
}

/// A stream's first segment is due this long after its request, so that
/// it does not start behind schedule.
const STREAM_LEAD: Duration = Duration::from_micros(200);

/// The server's side of one connection.
#[derive(Debug)]
pub enum ServerSession {
    /// No byte yet.
    Undecided {
        /// The server's limits.
        limits: Limits,
        /// The session's number.
        id: u64,
        /// The clock for the stamps.
        epoch: Epoch,
        /// Whether the model is recorded.
        recording: bool,
        /// Which clock takes the connection's kernel stamps.
        stamps: StampsKind,
        /// The first read's RX stamp and return, for the first request.
        read: Option<(Option<u64>, u64)>,
        /// The connection ended before a byte.
        ended: Option<Ended>,
    },
    /// A lab client.
    Framed(FramedServer),
    /// A plain-text peer.
    Text(TextServer),
}

macro_rules! each {
    ($self:expr, $s:ident => $e:expr, $none:expr) => {
        match $self {
            ServerSession::Framed($s) => $e,
            ServerSession::Text($s) => $e,
            ServerSession::Undecided { .. } => $none,
        }
    };
}

impl ServerSession {
    /// Session number `id`, under `limits`; `epoch` gives its stamps.
    pub fn new(id: u64, limits: Limits, epoch: Epoch) -> ServerSession {
        ServerSession::Undecided {
            limits,
            id,
            epoch,
            recording: false,
            stamps: StampsKind::None,
            read: None,
            ended: None,
        }
    }

    /// Bytes from the client arrived at `now`.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        if let ServerSession::Undecided {
            limits,
            id,
            epoch,
            recording,
            stamps,
            read,
            ..
        } = self
        {
            let Some(&first) = bytes.first() else {
                return;
            };
            let (limits, id, epoch, rec, kind, read) =
                (limits.clone(), *id, *epoch, *recording, *stamps, *read);
            *self = if first == MAGIC[0] {
                ServerSession::Framed(FramedServer::new(id, limits, epoch))
            } else {
                ServerSession::Text(TextServer::new(id, limits, epoch))
            };
            self.set_recording(rec);
            self.set_stamps_kind(kind);
            if let Some((rx, app)) = read {
                self.handle_read_stamp(rx, app);
            }
        }
        each!(self, s => s.handle_bytes(now, bytes), ())
    }

    /// The client closed its side.
    pub fn handle_eof(&mut self, now: Instant) {
        match self {
            ServerSession::Undecided { ended, .. } => {
                *ended = Some(Ended::client("closed before a request"));
            }
            ServerSession::Framed(s) => s.handle_eof(),
            ServerSession::Text(s) => s.handle_eof(now),
        }
    }

    /// The next write, if one is due at `now`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        each!(self, s => s.poll_transmit(now, buf), None)
    }

    /// When the next write is due, when none is due now.
    pub fn poll_timeout(&self) -> Option<Instant> {
        each!(self, s => s.replier().poll_timeout(), None)
    }

    /// Whether the session waits for the client's bytes.
    pub fn wants_input(&self) -> bool {
        each!(self, s => s.wants_input(), self.ended().is_none())
    }

    /// Caps the writes of the files this session sends at about `bytes`
    /// from the next write on ([`FileSender::set_max_write`]): a server
    /// shares its memory among the files going out at once.
    pub fn set_max_write(&mut self, bytes: usize) {
        match self {
            ServerSession::Framed(s) => s.out.max_write = bytes,
            ServerSession::Text(s) => s.replier_mut().max_write = bytes,
            ServerSession::Undecided { .. } => {}
        }
    }

    /// What a driver reading an upload's bytes in blocks may count on,
    /// while they are coming and nothing else waits.
    pub fn bulk(&self) -> Option<Bulk> {
        match self {
            ServerSession::Framed(s) if s.wants_input() => s.transfer.as_ref()?.bulk(),
            _ => None,
        }
    }

    /// Why the session is over, once it is.
    pub fn ended(&self) -> Option<&Ended> {
        match self {
            ServerSession::Undecided { ended, .. } => ended.as_ref(),
            ServerSession::Framed(s) => s.ended(),
            ServerSession::Text(s) => s.ended(),
        }
    }

    /// Whether a file waits for its last byte's acknowledgement (the
    /// driver then watches the socket and calls `handle_acked`).
    pub fn awaiting_ack(&self) -> bool {
        each!(self, s => s.replier().awaiting_ack(), false)
    }

    /// The file's last write returned at `written`; its last byte was
    /// acknowledged at `acked`, if seen.
    pub fn handle_acked(&mut self, written: Instant, acked: Option<Instant>) {
        match self {
            ServerSession::Framed(s) => s.handle_acked(written, acked),
            ServerSession::Text(s) => s.replier_mut().handle_acked(written, acked),
            ServerSession::Undecided { .. } => {}
        }
    }

    /// The driver applied a transfer's socket settings, or could not
    /// ([`Event::TransferStarting`]).
    pub fn handle_applied(&mut self, now: Instant, applied: Result<(), String>) {
        if let ServerSession::Framed(s) = self {
            s.handle_applied(now, applied);
        }
    }

    /// The driver's readings for a transfer's Results ([`Event::WantResults`]).
    pub fn handle_results(&mut self, readings: Readings) {
        if let ServerSession::Framed(s) = self {
            s.handle_results(readings);
        }
    }

    /// Whether the session ended on a wrong uploaded byte: the client may
    /// still be sending, and should read the Error before the connection
    /// is reset.
    pub fn cut_upload(&self) -> bool {
        matches!(self, ServerSession::Framed(s) if s.cut_upload)
    }

    /// The last write did not go out whole.
    pub fn handle_send_failed(&mut self) {
        each!(self, s => s.replier_mut().handle_send_failed(), ())
    }

    /// The server is stopping: a stream ends where it is, a paced file is
    /// cut and the session with it.
    pub fn handle_stop(&mut self) {
        match self {
            ServerSession::Framed(s) => s.handle_stop(),
            ServerSession::Text(s) => s.handle_stop(),
            ServerSession::Undecided { .. } => {}
        }
    }

    /// Turns the model capture's records on.
    pub fn set_recording(&mut self, on: bool) {
        match self {
            ServerSession::Undecided { recording, .. } => *recording = on,
            ServerSession::Framed(s) => s.replier_mut().events.set_recording(on),
            ServerSession::Text(s) => s.replier_mut().events.set_recording(on),
        }
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<Event> {
        each!(self, s => s.replier_mut().events.pop(), None)
    }

    /// What the session did so far.
    pub fn figures(&self) -> ServerFigures {
        each!(self, s => s.replier().figures.clone(), ServerFigures::default())
    }
}

/// The framed side of a server session: lab messages in, lab messages out.
#[derive(Debug)]
pub struct FramedServer {
    pub(super) limits: Limits,
    epoch: Epoch,
    inbox: Inbox,
    backlog: Vec<u8>,
    pub(super) out: Replier,
    upload: Option<FileReceiver>,
    uploads: bool,
    /// A TransferRequest in progress.
    pub(super) transfer: Option<Box<Transfer>>,
    /// The session ended on a wrong uploaded byte.
    pub(super) cut_upload: bool,
    /// The stamps of stamped echoes.
    pub(super) stamps: ReplyStamps,
}

impl FramedServer {
    /// Session `id` under `limits`.
    pub fn new(id: u64, limits: Limits, epoch: Epoch) -> FramedServer {
        FramedServer {
            limits,
            epoch,
            inbox: Inbox::new(),
            backlog: Vec::new(),
            out: Replier::new(id, "framed"),
            upload: None,
            uploads: false,
            transfer: None,
            cut_upload: false,
            stamps: ReplyStamps::default(),
        }
    }

    /// Takes uploads: a FileReady from the client, then its bytes, each
    /// verified, answered with FileSent. Off in the lab's server, which
    /// refuses them for now.
    pub fn accept_uploads(&mut self, on: bool) {
        self.uploads = on;
    }

    pub(super) fn replier(&self) -> &Replier {
        &self.out
    }

    pub(super) fn replier_mut(&mut self) -> &mut Replier {
        &mut self.out
    }

    fn busy(&self) -> bool {
        self.out.busy() || self.transfer.as_ref().is_some_and(|t| t.waiting())
    }

    /// The file's last write returned at `written`, its last byte was
    /// acknowledged at `acked`: FileSent, or for a transfer the readings
    /// its Results need first.
    pub fn handle_acked(&mut self, written: Instant, acked: Option<Instant>) {
        if let Some(Reply::File(f)) = &self.out.reply {
            let (bytes, wire) = (f.sender.offset(), f.sender.wire_len());
            self.download_written(bytes, wire);
        }
        self.out.handle_acked(written, acked);
        self.download_acked(written);
    }

    /// Bytes arrived: requests are taken one at a time; what comes while a
    /// reply is going out waits for it.
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        if !self.backlog.is_empty() || self.busy() {
            self.backlog.extend_from_slice(bytes);
            self.advance(now);
            return;
        }
        let mut at = 0;
        while at < bytes.len() && !self.busy() {
            at += self.take(now, &bytes[at..]);
        }
        self.backlog.extend_from_slice(&bytes[at..]);
    }

    /// Serves what waits in the backlog, as long as no reply is going out.
    fn advance(&mut self, now: Instant) {
        let mut at = 0;
        let backlog = std::mem::take(&mut self.backlog);
        while at < backlog.len() && !self.busy() {
            at += self.take(now, &backlog[at..]);
        }
        self.backlog = backlog;
        self.backlog.drain(..at);
    }

    /// Takes what it can of `bytes`: the rest of an upload, or the next
    /// request. Returns how many bytes it used.
    fn take(&mut self, now: Instant, bytes: &[u8]) -> usize {
        if self.transfer.as_ref().is_some_and(|t| t.receiving()) {
            return self.upload_take(now, bytes);
        }
        if let Some(left) = self.upload.as_ref().map(FileReceiver::left) {
            return self.upload_bytes(now, bytes, left);
        }
        let (n, r) = self.inbox.take(bytes);
        match r {
            Ok(None) => {}
            Ok(Some(msg)) => {
                self.out.figures.requests += 1;
                self.out.events.message(Toward::Server, &msg);
                if let Err(r) = self.request(now, msg) {
                    self.out.figures.refused += 1;
                    tracing::info!("session {}: refused: {}", self.out.id, r.message);
                    self.out.reply = Some(Reply::Message(Message::error(r.code, r.message)));
                }
            }
            Err(e) => self.undecodable(e),
        }
        n
    }

    /// Bytes that are no message: an Error back, and the end when the
    /// stream cannot be trusted any more.
    fn undecodable(&mut self, e: DecodeError) {
        self.out.figures.requests += 1;
        self.out.figures.refused += 1;
        tracing::warn!("session {}: {e}", self.out.id);
        self.out.reply = Some(Reply::Message(Message::error(e.code(), e.to_string())));
        if e.skip().is_none() {
            self.out.ending = Some(Ended::server(format!("protocol error: {e}")));
        }
    }

    /// One request: its reply starts, or it is refused.
    fn request(&mut self, now: Instant, msg: Message) -> Result<(), Refusal> {
        let reply = match msg {
            Message::EchoRequest { seq, data } => {
                self.limits.check_echo(data.len())?;
                self.out.figures.bytes_out += data.len() as u64;
                let msg = (HEADER_LEN + 4 + data.len()) as u64;
                self.out.figures.echoed(msg, msg);
                Reply::Message(Message::EchoReply { seq, data })
            }
            Message::StampedEchoRequest { seq, data } => {
                self.limits.check_echo(data.len())?;
                self.out.figures.bytes_out += data.len() as u64;
                let request = (HEADER_LEN + 4 + data.len()) as u64;
                self.out
                    .figures
                    .echoed(request, request + STAMPS_LEN as u64);
                let stamps = self.stamps.reply(seq, self.epoch.unix_ns_of(now));
                Reply::Message(Message::StampedEchoReply { seq, stamps, data })
            }
            Message::FileRequest { size, rate_bps } => {
                self.limits.check_paced_file(size, rate_bps)?;
                let request = if rate_bps == 0 { 8 } else { 16 };
                self.out.figures.shapes.push(Shape::File {
                    up: (HEADER_LEN + request) as u64,
                    down: (HEADER_LEN + 8) as u64 + size,
                    trailer: (HEADER_LEN + 16) as u64,
                });
                let head = codec::to_vec(&Message::FileReady { size }).unwrap_or_default();
                let sender = FileSender::new(now, head, size, rate_bps);
                if let Some(p) = sender.kernel_pace() {
                    self.out.events.push(Event::Pacing(Some(p)));
                }
                Reply::File(FileReply {
                    sender,
                    framed: true,
                    started: now,
                })
            }
            Message::StreamRequest {
                interval_ns,
                count,
                size,
            } => self.stream(now, (interval_ns, count, size), false)?,
            Message::StampedStreamRequest {
                interval_ns,
                count,
                size,
            } => self.stream(now, (interval_ns, count, size), true)?,
            Message::TransferRequest {
                direction,
                flags,
                tos,
                size,
                rate_bps,
                time_ns,
                congestion,
            } => {
                let asked = Asked {
                    direction,
                    size,
                    rate_bps,
                    time_ns,
                    len: (HEADER_LEN + 28 + congestion.len()) as u64,
                };
                return self.transfer_request(now, asked, flags, tos, congestion);
            }
            Message::FileReady { size } if self.uploads => {
                self.limits.check_file(size)?;
                self.upload = Some(FileReceiver::new(now, size));
                if size == 0 {
                    self.upload_done(now);
                }
                return Ok(());
            }
            other => {
                return Err(Refusal {
                    code: ErrorCode::Unexpected,
                    message: format!("a server does not accept {:?} from a client", other.kind()),
                });
            }
        };
        self.out.reply = Some(reply);
        Ok(())
    }

    /// A stream's reply, its segments' TX stamps carried when `stamped`.
    fn stream(
        &mut self,
        now: Instant,
        (interval_ns, count, size): (u64, u32, u32),
        stamped: bool,
    ) -> Result<Reply, Refusal> {
        self.limits.check_stream(interval_ns, count, size)?;
        let interval = Duration::from_nanos(interval_ns);
        self.out.events.push(Event::StreamStarted { interval });
        Ok(Reply::Stream(StreamSender {
            interval,
            count,
            size,
            t0: now + STREAM_LEAD,
            epoch: self.epoch,
            sent: 0,
            text: false,
            stopped: false,
            over: false,
            stamps: stamped.then(|| (SentStamps::default(), None)),
        }))
    }

    /// Bytes of an upload, verified; a wrong byte ends the session.
    fn upload_bytes(&mut self, now: Instant, bytes: &[u8], left: u64) -> usize {
        let Some(r) = self.upload.as_mut() else {
            return 0;
        };
        match r.feed(now, bytes) {
            Ok(n) => {
                if n as u64 == left {
                    self.upload_done(now);
                }
                n
            }
            Err(e) => {
                let msg = format!("upload: verification failed: {e}");
                self.out.reply = Some(Reply::Message(Message::error(
                    ErrorCode::Malformed,
                    msg.clone(),
                )));
                self.out.ending = Some(Ended::server(msg));
                self.upload = None;
                bytes.len()
            }
        }
    }

    /// The whole upload came: FileSent says how long it took.
    fn upload_done(&mut self, now: Instant) {
        let Some(r) = self.upload.take() else {
            return;
        };
        let from = r.first().unwrap_or(now);
        let ns = now.saturating_duration_since(from).as_nanos() as u64;
        self.out.reply = Some(Reply::Message(Message::FileSent {
            written_ns: ns,
            acked_ns: 0,
        }));
    }

    /// The client closed its side.
    pub fn handle_eof(&mut self) {
        if self.out.ending.is_some() {
            return;
        }
        self.out.ending = Some(if self.inbox.is_empty() && self.backlog.is_empty() {
            Ended::client("closed by the client")
        } else {
            Ended::client("closed in the middle of a message")
        });
    }

    /// The next write.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        if self.out.reply.is_none() && !self.backlog.is_empty() && self.out.ending.is_none() {
            self.advance(now);
        }
        self.out.poll_transmit(now, buf)
    }

    /// Whether the session waits for bytes: no reply going out, nothing
    /// whole waiting.
    pub fn wants_input(&self) -> bool {
        !self.busy() && self.backlog.is_empty()
    }

    /// The server is stopping.
    pub fn handle_stop(&mut self) {
        self.out.stop();
    }

    /// Why the session is over, once its last reply went out.
    pub fn ended(&self) -> Option<&Ended> {
        self.out.ended()
    }
}
