//! One client's conversation with the server, framed or plain text.
//!
//! The first byte decides: the protocol's magic means a lab client (framed
//! messages), anything else a plain-text peer such as `nc` (one line, one
//! answer). Either way every request is checked against the server's
//! [`Limits`] first, a refusal goes back to the client, and the session goes
//! on. Only a broken stream (wrong magic or version, an oversized length, a
//! timeout, a closed socket) ends it.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::account::beside::{Overhead, Shape};
use crate::content;
use crate::net::tcpinfo::TcpInfo;
use crate::net::{ConnError, Framed};
use crate::pace::{self, Epoch};
use crate::proto::text::{self, LineBuffer, TextReply};
use crate::proto::{ErrorCode, HEADER_LEN, Limits, MAGIC, Message, Refusal, codec};

/// Bytes per write when sending a file: about 1 MiB, a whole number of the
/// pattern's 100-byte records, so each chunk after the first only needs its
/// counting digits rewritten.
pub const FILE_CHUNK: usize = 10_485 * 100;
/// The first write of a file is small, so the first byte leaves at once.
const FIRST_CHUNK: usize = 655 * 100;

/// What a session did, logged and (with `--json`) printed when it ends.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionStats {
    /// Session number, from 1.
    pub session: u64,
    /// The client's address.
    pub peer: String,
    /// "framed" or "text".
    pub mode: &'static str,
    /// Requests served (refusals included).
    pub requests: u64,
    /// Requests refused.
    pub refused: u64,
    /// Payload bytes sent: echoes, file bytes, segments.
    pub bytes_out: u64,
    /// How long the session lasted.
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
}

/// Serves one connection until the peer leaves, breaks the protocol, idles
/// out, or the server stops.
pub fn serve(conn: &mut Framed, limits: &Limits, stop: &AtomicBool, stats: &mut SessionStats) {
    let started = Instant::now();
    let result = match first_byte(conn) {
        Ok(Some(b)) if b == MAGIC[0] => {
            stats.mode = "framed";
            serve_framed(conn, limits, stop, stats)
        }
        Ok(Some(_)) => {
            stats.mode = "text";
            serve_text(conn, limits, stats)
        }
        Ok(None) => Ok("closed before a request".to_string()),
        Err(e) => Err(e),
    };
    stats.seconds = started.elapsed().as_secs_f64();
    stats.end = match result {
        Ok(why) => why,
        Err(e) => describe_io(&e),
    };
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
) -> io::Result<String> {
    loop {
        let msg = match conn.read_message() {
            Ok(Some(m)) => m,
            Ok(None) => return Ok("closed by the client".to_string()),
            Err(ConnError::Io(e)) => return Err(e),
            Err(ConnError::Truncated) => return Ok("closed in the middle of a message".into()),
            Err(ConnError::Decode(e)) => {
                stats.requests += 1;
                stats.refused += 1;
                tracing::warn!("session {}: {e}", stats.session);
                conn.send(&Message::error(e.code(), e.to_string()))?;
                if e.skip().is_none() {
                    return Ok(format!("protocol error: {e}"));
                }
                continue;
            }
        };
        stats.requests += 1;
        if let Err(r) = handle(conn, msg, limits, stop, stats)? {
            stats.refused += 1;
            tracing::info!("session {}: refused: {}", stats.session, r.message);
            conn.send(&Message::error(r.code, r.message))?;
        }
    }
}

fn handle(
    conn: &mut Framed,
    msg: Message,
    limits: &Limits,
    stop: &AtomicBool,
    stats: &mut SessionStats,
) -> io::Result<Result<(), Refusal>> {
    match msg {
        Message::EchoRequest { seq, data } => {
            if let Err(r) = limits.check_echo(data.len()) {
                return Ok(Err(r));
            }
            stats.bytes_out += data.len() as u64;
            let msg = (HEADER_LEN + 4 + data.len()) as u64;
            stats.shapes.push(Shape::Echo {
                count: 1,
                request: msg,
                reply: msg,
            });
            conn.send(&Message::EchoReply { seq, data })?;
        }
        Message::FileRequest { size } => {
            if let Err(r) = limits.check_file(size) {
                return Ok(Err(r));
            }
            stats.shapes.push(Shape::File {
                up: (HEADER_LEN + 8) as u64,
                down: (HEADER_LEN + 8) as u64 + size,
                trailer: (HEADER_LEN + 16) as u64,
            });
            send_file(conn, Some(size), size, stats)?;
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

/// Sends `size` bytes of the file pattern, generated chunk by chunk as it
/// goes: memory does not grow with `size`, and the first byte leaves at once.
///
/// A framed reply's FileReady goes out in the same write as the first bytes:
/// two small writes in a row would let Nagle's algorithm hold the second
/// until the client's delayed ACK of the first (up to 40 ms on Linux).
fn send_file(
    conn: &mut Framed,
    ready: Option<u64>,
    size: u64,
    stats: &mut SessionStats,
) -> io::Result<()> {
    let mut head = Vec::new();
    if let Some(size) = ready {
        codec::encode(&Message::FileReady { size }, &mut head).map_err(invalid)?;
    }
    let started = Instant::now();
    let first = (size as usize).min(FIRST_CHUNK);
    let h = head.len();
    head.resize(h + first, 0);
    content::fill(0, &mut head[h..]);
    conn.send_raw(&head)?;
    stats.bytes_out += first as u64;
    let mut offset = first as u64;
    if offset < size {
        let mut generator = content::Generator::new();
        while offset < size {
            let n = ((size - offset) as usize).min(FILE_CHUNK);
            conn.send_raw(generator.chunk(offset, n))?;
            offset += n as u64;
            stats.bytes_out += n as u64;
        }
    }
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
    conn.send(&Message::FileSent {
        written_ns: written.as_nanos() as u64,
        acked_ns: acked.map_or(0, |a| a.as_nanos() as u64),
    })
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
) -> io::Result<()> {
    let epoch = Epoch::now();
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
        if !pace::wait_until_or_stop(due, stop) {
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
        out.clear();
        stats.bytes_out += u64::from(size);
    }
    if sent < count {
        codec::encode(&Message::StreamEnd { sent }, &mut out).map_err(invalid)?;
        conn.send_raw(&out)?;
    }
    Ok(())
}

fn serve_text(conn: &mut Framed, limits: &Limits, stats: &mut SessionStats) -> io::Result<String> {
    let max_line = limits.max_echo;
    let mut lines = LineBuffer::new(max_line);
    loop {
        lines.push(conn.buffered());
        let n = conn.buffered().len();
        conn.consume(n);
        loop {
            match lines.next_line() {
                Ok(Some(line)) => answer_line(conn, &line, limits, stats)?,
                Ok(None) => break,
                Err(e) => {
                    stats.refused += 1;
                    conn.send_raw(format!("error: {e}\n").as_bytes())?;
                    return Ok(format!("text protocol error: {e}"));
                }
            }
        }
        if conn.fill()? == 0 {
            let rest = lines.take_rest();
            if !rest.is_empty() {
                answer_line(conn, &rest, limits, stats)?;
            }
            return Ok("closed by the client".to_string());
        }
    }
}

fn answer_line(
    conn: &mut Framed,
    line: &[u8],
    limits: &Limits,
    stats: &mut SessionStats,
) -> io::Result<()> {
    stats.requests += 1;
    match text::interpret(line, limits) {
        TextReply::Echo(bytes) => {
            stats.bytes_out += bytes.len() as u64;
            stats.shapes.push(Shape::Echo {
                count: 1,
                request: line.len() as u64 + 1,
                reply: bytes.len() as u64,
            });
            conn.send_raw(&bytes)
        }
        TextReply::File(size) => {
            stats.shapes.push(Shape::File {
                up: line.len() as u64 + 1,
                down: size,
                trailer: 0,
            });
            send_file(conn, None, size, stats)
        }
        TextReply::Refuse(r) => {
            stats.refused += 1;
            conn.send_raw(&text::refusal_line(&r))
        }
    }
}
