//! One client's conversation with the server, framed or plain text.
//!
//! The first byte decides: the protocol's magic means a lab client (framed
//! messages), anything else a plain-text peer such as `nc` (one line, one
//! answer). Either way every request is checked against the server's
//! [`Limits`] first, a refusal goes back to the client, and the session goes
//! on. Only a broken stream (wrong magic or version, an oversized length, a
//! timeout, a closed socket) ends it.
//!
//! With a [`Recorder`] that is on, every message received and every write
//! completed goes into the model capture, and the teardown at the end.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::record::{Recorder, stream_comment};
use crate::account::beside::{Overhead, Shape};
use crate::content;
use crate::net::tcpinfo::TcpInfo;
use crate::net::{ConnError, Framed};
use crate::pace;
use crate::pcap::model::Direction;
use crate::proto::text::{self, LineBuffer, TextReply};
use crate::proto::{ErrorCode, HEADER_LEN, Limits, MAGIC, Message, Refusal, codec};
use crate::sched::Timely;

/// Bytes per write when sending a file: about 1 MiB, a whole number of the
/// pattern's 100-byte records, so each chunk after the first only needs its
/// counting digits rewritten.
pub const FILE_CHUNK: usize = 10_485 * 100;
/// The first write of a file is small, so the first byte leaves at once.
const FIRST_CHUNK: usize = 655 * 100;

/// What a session did, logged and (with `--json`) printed when it ends:
/// one shape for TCP and UDP sessions, UDP adding [`UdpSessionStats`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionStats {
    /// Session number, from 1.
    pub session: u64,
    /// The client's address.
    pub peer: String,
    /// "framed" (the lab's messages; over UDP, one per datagram) or "text".
    pub mode: &'static str,
    /// Requests served (refusals included).
    pub requests: u64,
    /// Requests refused.
    pub refused: u64,
    /// Payload bytes sent: echoes, file bytes, segments.
    pub bytes_out: u64,
    /// How long the session lasted (UDP: from its first datagram to its
    /// last, or to the transfer's End, without the idle wait after it).
    pub seconds: f64,
    /// Why it ended.
    pub end: String,
    /// What the session cost on the wire: the model of its requests beside
    /// the kernel's counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overhead: Option<Overhead>,
    /// The requests served, as the model sees them.
    #[serde(skip)]
    pub shapes: Vec<Shape>,
    /// What only a UDP session has (absent for TCP).
    #[serde(flatten)]
    pub udp: Option<UdpSessionStats>,
}

/// The keys a UDP session adds to [`SessionStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UdpSessionStats {
    /// What the session was: "echo", "file", "stream" or "text".
    pub action: &'static str,
    /// The session id in its datagrams' headers (none for a text peer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<u32>,
    /// Datagrams received from the peer in the session.
    pub datagrams_in: u64,
    /// Datagrams sent to the peer in the session.
    pub datagrams_out: u64,
}

impl SessionStats {
    /// Prints the session as one line of JSON on stdout (`--json`); a
    /// closed stdout is not the server's failure, so it is ignored.
    pub fn print_json(&self) {
        let Ok(line) = serde_json::to_string(self) else {
            return;
        };
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    /// A file cut short once `sent` of its bytes (FileReady included) had
    /// gone out: the model prices those, and no FileSent after them.
    fn file_cut(&mut self, sent: u64) {
        if let Some(Shape::File { down, trailer, .. }) = self.shapes.last_mut() {
            *down = sent;
            *trailer = 0;
        }
    }

    /// Counts one round trip; a run of equal echoes is one shape, so a long
    /// echo session keeps its accounting small.
    fn echoed(&mut self, request: u64, reply: u64) {
        if let Some(Shape::Echo {
            count,
            request: q,
            reply: r,
        }) = self.shapes.last_mut()
        {
            if *q == request && *r == reply {
                *count += 1;
                return;
            }
        }
        self.shapes.push(Shape::Echo {
            count: 1,
            request,
            reply,
        });
    }
}

/// How a session ended: why, and whether the client closed first.
struct Ended {
    why: String,
    by_client: bool,
}

impl Ended {
    fn client(why: &str) -> Ended {
        Ended {
            why: why.to_string(),
            by_client: true,
        }
    }

    fn server(why: String) -> Ended {
        Ended {
            why,
            by_client: false,
        }
    }
}

/// Serves one connection until the peer leaves, breaks the protocol, idles
/// out, or the server stops; records it all in `rec`.
pub fn serve(
    conn: &mut Framed,
    limits: &Limits,
    stop: &AtomicBool,
    stats: &mut SessionStats,
    rec: &mut Recorder<'_>,
) {
    let started = Instant::now();
    let result = match first_byte(conn) {
        Ok(Some(b)) if b == MAGIC[0] => {
            stats.mode = "framed";
            serve_framed(conn, limits, stop, stats, rec)
        }
        Ok(Some(_)) => {
            stats.mode = "text";
            serve_text(conn, limits, stats, rec)
        }
        Ok(None) => Ok(Ended::client("closed before a request")),
        Err(e) => Err(e),
    };
    stats.seconds = started.elapsed().as_secs_f64();
    let ended = match result {
        Ok(e) => e,
        Err(e) => Ended {
            why: describe_io(&e),
            by_client: matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ),
        },
    };
    // A server that stops shuts the sessions' read side: what looks like
    // the client leaving is the server closing.
    rec.close(ended.by_client && !stop.load(Ordering::Relaxed));
    stats.end = ended.why;
}

/// Sends `msg`, then records it.
fn send(conn: &mut Framed, rec: &mut Recorder<'_>, msg: &Message) -> io::Result<()> {
    conn.send(msg)?;
    rec.sent(msg);
    Ok(())
}

fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => "idle timeout".to_string(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => {
            "the client went away".to_string()
        }
        _ => format!("error: {e}"),
    }
}

fn first_byte(conn: &mut Framed) -> io::Result<Option<u8>> {
    while conn.buffered().is_empty() {
        if conn.fill()? == 0 {
            return Ok(None);
        }
    }
    Ok(conn.buffered().first().copied())
}

fn serve_framed(
    conn: &mut Framed,
    limits: &Limits,
    stop: &AtomicBool,
    stats: &mut SessionStats,
    rec: &mut Recorder<'_>,
) -> io::Result<Ended> {
    loop {
        let msg = match conn.read_message() {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(Ended::client("closed by the client")),
            Err(ConnError::Io(e)) => return Err(e),
            Err(ConnError::Truncated) => {
                return Ok(Ended::client("closed in the middle of a message"));
            }
            Err(ConnError::Decode(e)) => {
                stats.requests += 1;
                stats.refused += 1;
                tracing::warn!("session {}: {e}", stats.session);
                send(conn, rec, &Message::error(e.code(), e.to_string()))?;
                if e.skip().is_none() {
                    return Ok(Ended::server(format!("protocol error: {e}")));
                }
                continue;
            }
        };
        stats.requests += 1;
        rec.received(&msg);
        if let Err(r) = handle(conn, msg, limits, stop, stats, rec)? {
            stats.refused += 1;
            tracing::info!("session {}: refused: {}", stats.session, r.message);
            send(conn, rec, &Message::error(r.code, r.message))?;
        }
    }
}

fn handle(
    conn: &mut Framed,
    msg: Message,
    limits: &Limits,
    stop: &AtomicBool,
    stats: &mut SessionStats,
    rec: &mut Recorder<'_>,
) -> io::Result<Result<(), Refusal>> {
    match msg {
        Message::EchoRequest { seq, data } => {
            if let Err(r) = limits.check_echo(data.len()) {
                return Ok(Err(r));
            }
            stats.bytes_out += data.len() as u64;
            let msg = (HEADER_LEN + 4 + data.len()) as u64;
            stats.echoed(msg, msg);
            send(conn, rec, &Message::EchoReply { seq, data })?;
        }
        Message::FileRequest { size, rate_bps } => {
            if let Err(r) = limits.check_paced_file(size, rate_bps) {
                return Ok(Err(r));
            }
            let request = if rate_bps == 0 { 8 } else { 16 };
            stats.shapes.push(Shape::File {
                up: (HEADER_LEN + request) as u64,
                down: (HEADER_LEN + 8) as u64 + size,
                trailer: (HEADER_LEN + 16) as u64,
            });
            let pace = (rate_bps > 0).then_some(Pace { rate_bps, stop });
            send_file(conn, Some(size), size, pace, stats, rec)?;
        }
        Message::StreamRequest {
            interval_ns,
            count,
            size,
        } => {
            if let Err(r) = limits.check_stream(interval_ns, count, size) {
                return Ok(Err(r));
            }
            send_stream(
                conn,
                Duration::from_nanos(interval_ns),
                count,
                size,
                stop,
                stats,
                rec,
            )?;
        }
        other => {
            return Ok(Err(Refusal {
                code: ErrorCode::Unexpected,
                message: format!("a server does not accept {:?} from a client", other.kind()),
            }));
        }
    }
    Ok(Ok(()))
}

/// A file's pace: bits of payload per second, and the server's stop flag
/// (a paced file may last minutes; a shutdown must not wait for it).
#[derive(Clone, Copy)]
struct Pace<'a> {
    rate_bps: u64,
    stop: &'a AtomicBool,
}

/// Sends `size` bytes of the file pattern, generated chunk by chunk as it
/// goes: memory does not grow with `size`, and the first byte leaves at once.
///
/// A framed reply's FileReady goes out in the same write as the first bytes:
/// two small writes in a row would let Nagle's algorithm hold the second
/// until the client's delayed ACK of the first (40 ms or more on Linux).
///
/// The reply is recorded once, when its last write returned (or failed:
/// then as far as the writes went).
fn send_file(
    conn: &mut Framed,
    ready: Option<u64>,
    size: u64,
    pace: Option<Pace<'_>>,
    stats: &mut SessionStats,
    rec: &mut Recorder<'_>,
) -> io::Result<()> {
    let mut head = Vec::new();
    if let Some(size) = ready {
        codec::encode(&Message::FileReady { size }, &mut head).map_err(invalid)?;
    }
    let h = head.len();
    let started = Instant::now();
    let mut offset = 0;
    let wrote = match pace {
        None => write_file(conn, &mut head, size, &mut offset, stats),
        Some(p) => write_paced(conn, &mut head, size, p, &mut offset, stats),
    };
    if offset > 0 || wrote.is_ok() {
        rec.file(&head[..h], offset, || {
            let what = match ready {
                Some(_) => "file".to_string(),
                None => format!("text file {size}"),
            };
            if offset < size {
                format!("{what}, cut short after {offset} bytes")
            } else {
                what
            }
        });
    }
    if offset < size {
        stats.file_cut(h as u64 + offset);
    }
    wrote?;
    if ready.is_none() {
        return Ok(());
    }
    let written = started.elapsed();
    let acked = wait_acked(conn, ACK_WAIT).map(|t| t.duration_since(started));
    tracing::info!(
        "session {}: file of {size} bytes written in {:.6} s (the kernel took it), {}",
        stats.session,
        written.as_secs_f64(),
        match acked {
            Some(a) => format!("last byte acknowledged after {:.6} s", a.as_secs_f64()),
            None => format!("last byte not acknowledged within {ACK_WAIT:?}"),
        }
    );
    let sent = Message::FileSent {
        written_ns: written.as_nanos() as u64,
        acked_ns: acked.map_or(0, |a| a.as_nanos() as u64),
    };
    send(conn, rec, &sent)
}

/// Writes `size` bytes of the pattern after the framing in `head` (whose
/// buffer it reuses for the first, small write), counting in `offset` the
/// file bytes the kernel took.
fn write_file(
    conn: &mut Framed,
    head: &mut Vec<u8>,
    size: u64,
    offset: &mut u64,
    stats: &mut SessionStats,
) -> io::Result<()> {
    let first = (size as usize).min(FIRST_CHUNK);
    let h = head.len();
    head.resize(h + first, 0);
    content::fill(0, &mut head[h..]);
    conn.send_raw(head)?;
    stats.bytes_out += first as u64;
    *offset = first as u64;
    if *offset < size {
        let mut generator = content::Generator::new();
        while *offset < size {
            let n = ((size - *offset) as usize).min(FILE_CHUNK);
            conn.send_raw(generator.chunk(*offset, n))?;
            *offset += n as u64;
            stats.bytes_out += n as u64;
        }
    }
    Ok(())
}

/// As [`write_file`], at `pace`: writes of about [`PACED_SLICE`] of data
/// (at least one byte), each when the bytes before it are due
/// ([`pace::Pacer`]: absolute deadlines, so the first slice, with the
/// FileReady, leaves at once and a late wake-up is made up by writing the
/// overdue slices back to back). The socket's buffer then never holds more
/// than a few slices, so no blocked write waits long. The kernel's TCP
/// pacing (`SO_MAX_PACING_RATE`, set for the file and lifted after it)
/// spreads each slice's segments on the wire; it runs [`PACING_HEADROOM`]
/// faster than the pace, so that it smooths without holding back the
/// catching up.
fn write_paced(
    conn: &mut Framed,
    head: &mut Vec<u8>,
    size: u64,
    pace: Pace<'_>,
    offset: &mut u64,
    stats: &mut SessionStats,
) -> io::Result<()> {
    let bytes_per_s = pace.rate_bps.div_ceil(8);
    let _ = set_pacing_rate(conn, (bytes_per_s as f64 * PACING_HEADROOM) as u64);
    let slice = (bytes_per_s as f64 * PACED_SLICE.as_secs_f64()) as usize;
    let slice = slice.clamp(1, FILE_CHUNK);
    let mut pacer = pace::Pacer::new(pace.rate_bps);
    let mut generator = content::Generator::new();
    let h = head.len();
    let mut wrote = Ok(());
    // The framing in `head` leaves with the first slice (alone for an empty
    // file), each slice when it is due.
    let mut first = true;
    while first || *offset < size {
        let n = ((size - *offset) as usize).min(slice);
        if !pacer.ready(0, pace.stop) {
            wrote = Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "the server is stopping",
            ));
            break;
        }
        wrote = if first {
            head.resize(h + n, 0);
            content::fill(0, &mut head[h..]);
            conn.send_raw(head)
        } else {
            conn.send_raw(generator.chunk(*offset, n))
        };
        if wrote.is_err() {
            break;
        }
        first = false;
        pacer.count(n as u64);
        *offset += n as u64;
        stats.bytes_out += n as u64;
    }
    let _ = set_pacing_rate(conn, u64::MAX);
    wrote
}

/// The data one paced write carries: this long at the pace.
const PACED_SLICE: Duration = Duration::from_millis(5);

/// How much faster than the pace the kernel may send a paced file's
/// segments.
const PACING_HEADROOM: f64 = 1.25;

/// `SO_MAX_PACING_RATE` in bytes per second (`u64::MAX`: no limit).
fn set_pacing_rate(conn: &Framed, bytes_per_s: u64) -> io::Result<()> {
    crate::net::socket::set_u64(
        conn.stream(),
        libc::SOL_SOCKET,
        libc::SO_MAX_PACING_RATE,
        bytes_per_s,
    )
}

/// How long a server waits for the last byte of a file to be acknowledged.
const ACK_WAIT: Duration = Duration::from_secs(5);

/// Waits until every byte written to `conn` is acknowledged (`TCP_INFO`:
/// nothing unsent, nothing unacknowledged); the instant it saw that, or
/// `None` after `limit`.
fn wait_acked(conn: &Framed, limit: Duration) -> Option<Instant> {
    let deadline = Instant::now() + limit;
    loop {
        let info = TcpInfo::read(conn.stream()).ok()?;
        if info.unacked == 0 && info.notsent_bytes == 0 {
            return Some(Instant::now());
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_micros(50));
    }
}

fn invalid(e: codec::EncodeError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

/// Sends `count` segments on an absolute schedule: segment i leaves at
/// t0 + i·interval, whatever happened to the ones before.
fn send_stream(
    conn: &mut Framed,
    interval: Duration,
    count: u32,
    size: u32,
    stop: &AtomicBool,
    stats: &mut SessionStats,
    rec: &mut Recorder<'_>,
) -> io::Result<()> {
    let timely = Timely::for_interval(interval);
    tracing::debug!("stream sender: {}", timely.priority());
    let mut schedule = pace::Schedule::new(interval);
    let epoch = pace::epoch_now();
    // A little lead, so segment 0 does not start behind schedule.
    let t0 = Instant::now() + Duration::from_micros(200);
    let t0_ns = epoch.unix_ns_of(t0);
    // StreamStart leaves with segment 0 and StreamEnd with the last
    // segment, in one write each, for the same reason FileReady leaves with
    // the first file bytes.
    let mut out = Vec::with_capacity(size as usize + 64);
    codec::encode(
        &Message::StreamStart {
            interval_ns: interval.as_nanos() as u64,
            count,
            size,
            t0_ns,
        },
        &mut out,
    )
    .map_err(invalid)?;
    let mut sent = 0;
    for seq in 0..count {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let due = pace::deadline(t0, interval, seq);
        if !schedule.wait(due, stop) {
            break;
        }
        let now = Instant::now();
        codec::encode(
            &Message::StreamSegment {
                seq,
                scheduled_ns: epoch.unix_ns_of(due),
                sent_ns: epoch.unix_ns_of(now),
                size,
            },
            &mut out,
        )
        .map_err(invalid)?;
        sent += 1;
        if sent == count {
            codec::encode(&Message::StreamEnd { sent }, &mut out).map_err(invalid)?;
        }
        conn.send_raw(&out)?;
        rec.bytes(Direction::ToClient, &out, || {
            stream_comment(seq, seq == 0, sent == count)
        });
        out.clear();
        stats.bytes_out += u64::from(size);
    }
    log_schedule(&schedule, sent, interval);
    if sent < count {
        // Stopped before segment 0, `out` still holds the StreamStart.
        codec::encode(&Message::StreamEnd { sent }, &mut out).map_err(invalid)?;
        conn.send_raw(&out)?;
        rec.bytes(Direction::ToClient, &out, || {
            if sent == 0 {
                "stream start; stream end".to_string()
            } else {
                "stream end".to_string()
            }
        });
    }
    Ok(())
}

/// What keeping a stream's schedule cost, for `-v`.
pub(crate) fn log_schedule(schedule: &pace::Schedule, sent: u32, interval: Duration) {
    let span = interval.saturating_mul(sent).as_secs_f64();
    tracing::debug!(
        "stream schedule: spun {:.1} ms in {:.1} s ({:.1} % of a CPU), {} late wake-ups, tail now {} µs",
        schedule.spun().as_secs_f64() * 1e3,
        span,
        if span > 0.0 {
            schedule.spun().as_secs_f64() / span * 100.0
        } else {
            0.0
        },
        schedule.late_wakes(),
        schedule.tail().as_micros()
    );
}

fn serve_text(
    conn: &mut Framed,
    limits: &Limits,
    stats: &mut SessionStats,
    rec: &mut Recorder<'_>,
) -> io::Result<Ended> {
    let max_line = limits.max_echo;
    let mut lines = LineBuffer::new(max_line);
    loop {
        lines.push(conn.buffered());
        let n = conn.buffered().len();
        conn.consume(n);
        loop {
            match lines.next_line() {
                Ok(Some(line)) => {
                    rec.line_received(&line);
                    answer_line(conn, &line, limits, stats, rec)?;
                }
                Ok(None) => break,
                Err(e) => {
                    stats.refused += 1;
                    let reply = format!("error: {e}\n");
                    conn.send_raw(reply.as_bytes())?;
                    rec.bytes(Direction::ToClient, reply.as_bytes(), || {
                        format!("error: {e}")
                    });
                    return Ok(Ended::server(format!("text protocol error: {e}")));
                }
            }
        }
        if conn.fill()? == 0 {
            let rest = lines.take_rest();
            if !rest.is_empty() {
                rec.bytes(Direction::ToServer, &rest, || "text line".to_string());
                answer_line(conn, &rest, limits, stats, rec)?;
            }
            return Ok(Ended::client("closed by the client"));
        }
    }
}

fn answer_line(
    conn: &mut Framed,
    line: &[u8],
    limits: &Limits,
    stats: &mut SessionStats,
    rec: &mut Recorder<'_>,
) -> io::Result<()> {
    stats.requests += 1;
    match text::interpret(line, limits) {
        TextReply::Echo(bytes) => {
            stats.bytes_out += bytes.len() as u64;
            stats.echoed(line.len() as u64 + 1, bytes.len() as u64);
            conn.send_raw(&bytes)?;
            rec.bytes(Direction::ToClient, &bytes, || "text echo".to_string());
            Ok(())
        }
        TextReply::File(size) => {
            stats.shapes.push(Shape::File {
                up: line.len() as u64 + 1,
                down: size,
                trailer: 0,
            });
            send_file(conn, None, size, None, stats, rec)
        }
        TextReply::Refuse(r) => {
            stats.refused += 1;
            let reply = text::refusal_line(&r);
            conn.send_raw(&reply)?;
            rec.bytes(Direction::ToClient, &reply, || {
                format!("error: {}", r.message)
            });
            Ok(())
        }
    }
}
