//! The server's side of a TransferRequest: the socket settings it asks
//! for (applied by the driver before anything is sent), the file either
//! way, sized or timed, every uploaded byte verified, and at the end
//! FileSent and the server's [`Results`], filled from the [`Readings`]
//! the driver takes of its socket and its CPU.
//!
//! The exchange, download: FileReady, the file (raw bytes, or FileData
//! messages and a FileEnd when timed), then once the last byte is
//! acknowledged FileSent and Results in one write. Upload: FileReady as
//! the go-ahead, the client's file (raw, or FileData and FileEnd), then
//! FileSent and Results. A wrong byte is answered with an Error that
//! names its offset, and ends the session.

use std::time::{Duration, Instant};

use super::server::{Ended, FramedServer};
use super::server_reply::{FileReply, Reply};
use super::{Bulk, ChunkReader, Event, FileReceiver, FileSender, Piece};
use crate::account::beside::Shape;
use crate::proto::{
    ErrorCode, HEADER_LEN, Message, Refusal, Results, TransferDirection, TransferFlags, codec,
};

/// What the driver read of the socket and the CPU when the transfer
/// ended, for its Results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Readings {
    /// `tcpi_total_retrans`.
    pub retrans: Option<u64>,
    /// `tcpi_snd_cwnd`, segments.
    pub cwnd: Option<u64>,
    /// `tcpi_rtt`, µs.
    pub rtt_us: Option<u64>,
    /// Whether the connection negotiated ECN.
    pub ecn_negotiated: bool,
    /// User and system CPU spent on the transfer, ns.
    pub cpu_ns: Option<(u64, u64)>,
    /// The congestion control the socket used.
    pub congestion: String,
}

/// What a TransferRequest asked for.
#[derive(Debug, Clone)]
pub(super) struct Asked {
    pub(super) direction: TransferDirection,
    pub(super) size: u64,
    pub(super) rate_bps: u64,
    pub(super) time_ns: u64,
    /// The request message's length, for the model.
    pub(super) len: u64,
}

impl Asked {
    fn timed(&self) -> bool {
        self.time_ns > 0
    }

    /// The size cap of a timed transfer (`u64::MAX`: none).
    fn cap(&self) -> u64 {
        if self.size == 0 { u64::MAX } else { self.size }
    }
}

/// Where a transfer is.
#[derive(Debug)]
pub(super) enum Phase {
    /// Waiting for the driver to apply the socket settings.
    Applying,
    /// The file is going out (the reply is the file).
    Sending,
    /// The client's file is coming.
    Receiving(Upload),
    /// Waiting for the driver's readings.
    Results,
}

/// An upload being received.
#[derive(Debug)]
pub(super) struct Upload {
    receiver: FileReceiver,
    /// A timed upload's messages (`None`: raw bytes).
    chunks: Option<ChunkReader>,
    /// Bytes of the client's stream taken, framing included.
    wire: u64,
}

/// A transfer in progress.
#[derive(Debug)]
pub(super) struct Transfer {
    pub(super) asked: Asked,
    pub(super) phase: Phase,
    started: Instant,
    tos_applied: bool,
    bytes: u64,
    active_ns: u64,
    file_sent: Option<Message>,
}

impl Transfer {
    /// Whether the session waits for the driver (no bytes are taken).
    pub(super) fn waiting(&self) -> bool {
        matches!(self.phase, Phase::Applying | Phase::Results)
    }

    /// Whether the client's file is coming.
    pub(super) fn receiving(&self) -> bool {
        matches!(self.phase, Phase::Receiving(_))
    }

    /// What a driver reading the upload's bytes in blocks may count on,
    /// while they are coming. A timed upload comes until about its time
    /// after the request came: the client counts it from the request's
    /// leaving, and its last bytes take as long to come as the request did.
    pub(super) fn bulk(&self) -> Option<Bulk> {
        let Phase::Receiving(u) = &self.phase else {
            return None;
        };
        Some(if self.asked.timed() {
            let until = self.started + Duration::from_nanos(self.asked.time_ns);
            Bulk::timed(&u.receiver, until)
        } else {
            Bulk::sized(&u.receiver)
        })
    }
}

impl FramedServer {
    /// A TransferRequest: checked, then the driver is asked to apply its
    /// socket settings.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn transfer_request(
        &mut self,
        now: Instant,
        asked: Asked,
        flags: TransferFlags,
        tos: u8,
        congestion: String,
    ) -> Result<(), Refusal> {
        self.limits
            .check_transfer(asked.size, asked.time_ns, asked.rate_bps)?;
        let tos = flags.contains(TransferFlags::TOS).then_some(tos);
        self.out.events.push(Event::TransferStarting {
            tos,
            congestion: (!congestion.is_empty()).then_some(congestion),
        });
        self.transfer = Some(Box::new(Transfer {
            asked,
            phase: Phase::Applying,
            started: now,
            tos_applied: tos.is_some(),
            bytes: 0,
            active_ns: 0,
            file_sent: None,
        }));
        Ok(())
    }

    /// The driver applied the transfer's socket settings (`Ok`), or could
    /// not (`Err`: the sentence that says why): the transfer starts, or
    /// is refused as unavailable and the session goes on.
    pub fn handle_applied(&mut self, now: Instant, applied: Result<(), String>) {
        let Some(t) = self.transfer.as_mut() else {
            return;
        };
        if !matches!(t.phase, Phase::Applying) {
            return;
        }
        if let Err(why) = applied {
            self.transfer = None;
            self.out.figures.refused += 1;
            tracing::info!("session {}: refused: {why}", self.out.id);
            self.out.reply = Some(Reply::Message(Message::error(ErrorCode::Unavailable, why)));
            return;
        }
        let a = t.asked.clone();
        let ready = codec::to_vec(&Message::FileReady { size: a.size }).unwrap_or_default();
        match a.direction {
            TransferDirection::Download => {
                t.phase = Phase::Sending;
                let sender = if a.timed() {
                    let deadline = t.started + Duration::from_nanos(a.time_ns);
                    FileSender::timed(now, ready, a.cap(), deadline, a.rate_bps)
                } else {
                    FileSender::new(now, ready, a.size, a.rate_bps)
                };
                self.out.figures.shapes.push(Shape::File {
                    up: a.len,
                    down: (HEADER_LEN + 8) as u64 + if a.timed() { 0 } else { a.size },
                    trailer: 0,
                });
                if let Some(p) = sender.kernel_pace() {
                    self.out.events.push(Event::Pacing(Some(p)));
                }
                self.out.reply = Some(Reply::File(FileReply {
                    sender,
                    framed: true,
                    started: now,
                }));
            }
            TransferDirection::Upload => {
                let size = if a.timed() { a.cap() } else { a.size };
                t.phase = Phase::Receiving(Upload {
                    receiver: FileReceiver::new(now, size),
                    chunks: a.timed().then(ChunkReader::new),
                    wire: 0,
                });
                self.out.reply = Some(Reply::Message(Message::FileReady { size: a.size }));
                if size == 0 {
                    self.upload_over(now);
                }
            }
        }
    }

    /// Bytes of an upload: verified and counted; returns how many it took.
    pub(super) fn upload_take(&mut self, now: Instant, bytes: &[u8]) -> usize {
        let Some(Phase::Receiving(u)) = self.transfer.as_deref_mut().map(|t| &mut t.phase) else {
            return 0;
        };
        let Some(chunks) = u.chunks.as_mut() else {
            return match u.receiver.feed(now, bytes) {
                Ok(n) => {
                    u.wire += n as u64;
                    if u.receiver.left() == 0 {
                        self.upload_over(now);
                    }
                    n
                }
                Err(e) => self.upload_failed(verify_failed(&e), bytes.len()),
            };
        };
        let (n, piece) = chunks.take(bytes);
        u.wire += n as u64;
        match piece {
            None => n,
            Some(Piece::Data(d)) => match feed_all(&mut u.receiver, now, d) {
                Ok(()) => n,
                Err(why) => self.upload_failed(why, bytes.len()),
            },
            Some(Piece::Message(Message::FileData { data })) => {
                match feed_all(&mut u.receiver, now, &data) {
                    Ok(()) => n,
                    Err(why) => self.upload_failed(why, bytes.len()),
                }
            }
            Some(Piece::Message(Message::FileEnd { bytes: sent })) => {
                let got = u.receiver.got();
                if sent != got {
                    let why = format!("upload: the client says it sent {sent} bytes, {got} came");
                    return self.upload_failed(why, bytes.len());
                }
                self.upload_over(now);
                n
            }
            Some(Piece::Message(other)) => {
                let why = format!(
                    "upload: expected FileData or FileEnd, got {:?}",
                    other.kind()
                );
                self.upload_failed(why, bytes.len())
            }
            Some(Piece::Bad(e)) => self.upload_failed(format!("upload: {e}"), bytes.len()),
        }
    }

    /// The upload cannot go on: an Error says why, and the session ends.
    /// Everything handed over counts as taken.
    fn upload_failed(&mut self, why: String, all: usize) -> usize {
        tracing::info!("session {}: {why}", self.out.id);
        self.transfer = None;
        self.out.reply = Some(Reply::Message(Message::error(
            ErrorCode::Malformed,
            why.clone(),
        )));
        self.out.ending = Some(Ended::server(why));
        self.cut_upload = true;
        all
    }

    /// The whole upload came: FileSent (first to last byte), then the
    /// readings for the Results.
    fn upload_over(&mut self, now: Instant) {
        let Some(t) = self.transfer.as_mut() else {
            return;
        };
        let Phase::Receiving(u) = std::mem::replace(&mut t.phase, Phase::Results) else {
            return;
        };
        let first = u.receiver.first().unwrap_or(now);
        let last = u.receiver.last().unwrap_or(now);
        t.active_ns = last.saturating_duration_since(first).as_nanos() as u64;
        t.bytes = u.receiver.got();
        t.file_sent = Some(Message::FileSent {
            written_ns: t.active_ns,
            acked_ns: 0,
        });
        self.out.figures.shapes.push(Shape::Upload {
            up: t.asked.len,
            ready: (HEADER_LEN + 8) as u64,
            data: u.wire,
            trailer: 0,
        });
        self.out.events.push(Event::WantResults);
    }

    /// A downloaded file's last byte was acknowledged: FileSent waits for
    /// the readings, which the driver is asked for.
    pub(super) fn download_acked(&mut self, written: Instant) {
        let Some(t) = self.transfer.as_mut() else {
            return;
        };
        if !matches!(t.phase, Phase::Sending) {
            return;
        }
        let Some(Reply::Message(sent)) = self.out.reply.take() else {
            return;
        };
        t.file_sent = Some(sent);
        t.phase = Phase::Results;
        t.active_ns = written.saturating_duration_since(t.started).as_nanos() as u64;
        self.out.events.push(Event::WantResults);
    }

    /// A file going out finished its last write: what it sent, framing
    /// included, for the Results and the model.
    pub(super) fn download_written(&mut self, bytes: u64, wire: u64) {
        let Some(t) = self.transfer.as_mut() else {
            return;
        };
        t.bytes = bytes;
        if let Some(Shape::File { down, .. }) = self.out.figures.shapes.last_mut() {
            *down = wire;
        }
    }

    /// The driver's readings: FileSent and Results go out in one write,
    /// and the session takes the next request.
    pub fn handle_results(&mut self, readings: Readings) {
        let Some(t) = self.transfer.take_if(|t| matches!(t.phase, Phase::Results)) else {
            return;
        };
        let t = *t;
        let mut flags = 0;
        if readings.ecn_negotiated {
            flags |= Results::ECN_NEGOTIATED;
        }
        if t.tos_applied {
            flags |= Results::TOS_APPLIED;
        }
        let results = Results {
            bytes: Some(t.bytes),
            active_ns: Some(t.active_ns),
            cpu_user_ns: readings.cpu_ns.map(|c| c.0),
            cpu_sys_ns: readings.cpu_ns.map(|c| c.1),
            retrans: readings.retrans,
            cwnd: readings.cwnd,
            rtt_us: readings.rtt_us,
            flags,
            congestion: readings.congestion,
            ..Results::default()
        };
        let mut bytes = match &t.file_sent {
            Some(m) => codec::to_vec(m).unwrap_or_default(),
            None => Vec::new(),
        };
        let _ = codec::encode(&Message::Results(Box::new(results)), &mut bytes);
        let trailer_len = bytes.len() as u64;
        if let Some(Shape::File { trailer, .. } | Shape::Upload { trailer, .. }) =
            self.out.figures.shapes.last_mut()
        {
            *trailer = trailer_len;
        }
        tracing::info!(
            "session {}: {} of {} bytes in {:.6} s",
            self.out.id,
            t.asked.direction.name(),
            t.bytes,
            t.active_ns as f64 / 1e9
        );
        let comment = format!("file sent; results {}", t.bytes);
        self.out.reply = Some(Reply::Bytes(bytes, comment));
    }
}

/// Feeds all of `d`; bytes past the cap are an error.
fn feed_all(r: &mut FileReceiver, now: Instant, d: &[u8]) -> Result<(), String> {
    match r.feed(now, d) {
        Ok(n) if n == d.len() => Ok(()),
        Ok(_) => Err(format!(
            "upload: more than the {} bytes the request allowed",
            r.size()
        )),
        Err(e) => Err(verify_failed(&e)),
    }
}

/// The sentence of a wrong uploaded byte: its offset first, for the client.
fn verify_failed(e: &crate::content::Mismatch) -> String {
    format!("upload: verification failed at offset {}: {e}", e.offset)
}
