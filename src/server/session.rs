//! The driver of one client's TCP session on the server, framed or plain
//! text, and what the session did ([`SessionStats`]).
//!
//! The conversation itself is [`crate::session::tcp::ServerSession`]: the
//! first byte decides between a lab client and a plain-text peer, requests
//! are checked against the server's [`Limits`], replies come out write by
//! write. This loop moves the bytes between the socket and that session,
//! waits for its deadlines (a paced file's writes, a stream's segments;
//! a stopping server cuts them short), watches the last byte of a file be
//! acknowledged, sets the kernel's pacing, and records what the session
//! reports in the model capture: every message received and every write
//! completed, and the teardown at the end. A timeout or a closed socket
//! ends the session here.
//!
//! For a TransferRequest it also applies the marking and congestion
//! control the request asks of the connection before anything of the
//! transfer is sent, and at its end reads `TCP_INFO` and the CPU this
//! session's thread spent over the transfer window for the Results.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::record::Recorder;
use crate::account::beside::{Overhead, Shape};
use crate::net::tcpinfo::TcpInfo;
use crate::net::{Framed, congestion, marking, rusage};
use crate::pace;
use crate::pcap::model::Direction;
use crate::proto::Limits;
use crate::proto::stamps::StampsKind;
use crate::sched::Timely;
use crate::session::tcp::{ACK_WAIT, Bulk, Ended, Event, Readings, Record, ServerSession, Toward};

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
        let Ok(line) = crate::schema::to_line(self) else {
            return;
        };
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Serves one connection until the peer leaves, breaks the protocol, idles
/// out, or the server stops; records it all in `rec`.
pub fn serve(
    conn: &mut Framed,
    limits: &Limits,
    active: &AtomicUsize,
    stop: &AtomicBool,
    stats: &mut SessionStats,
    rec: &mut Recorder<'_>,
) {
    let started = Instant::now();
    let mut session = ServerSession::new(stats.session, limits.clone(), pace::epoch_now());
    session.set_recording(rec.is_on());
    if conn.stamping() {
        session.set_stamps_kind(StampsKind::Software);
    }
    let mut driver = Driver {
        conn,
        active,
        stop,
        rec,
        stream: None,
        cpu_start: None,
        stamps_refused: false,
    };
    let result = driver.run(&mut session);
    if session.cut_upload() {
        drain(driver.conn);
    }
    stats.seconds = started.elapsed().as_secs_f64();
    let f = session.figures();
    stats.mode = f.mode;
    stats.requests = f.requests;
    stats.refused = f.refused;
    stats.bytes_out = f.bytes_out;
    stats.shapes = f.shapes;
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
    driver
        .rec
        .close(ended.by_client && !stop.load(Ordering::Relaxed));
    stats.end = ended.why;
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

/// The bytes of file writes and upload reads a server keeps in hand
/// across all its sessions: one session writes the session core's largest
/// chunks (1 MiB), 128 at once about 256 KiB each. A write is generated
/// into the session's buffer before the kernel copies it, and an upload is
/// read into one before it is verified, so this is most of a busy server's
/// memory.
const WRITE_BUDGET: usize = 32 << 20;

/// The most bytes one of `active` sessions writes at once.
fn write_share(active: usize) -> usize {
    WRITE_BUDGET / active.max(1)
}

/// The socket and the instruments around one session.
struct Driver<'a, 'r> {
    conn: &'a mut Framed,
    /// How many sessions the server is serving: they share
    /// [`WRITE_BUDGET`].
    active: &'a AtomicUsize,
    stop: &'a AtomicBool,
    rec: &'a mut Recorder<'r>,
    /// A stream's deadlines and the priority its sender runs at.
    stream: Option<(pace::Schedule, Timely)>,
    /// This thread's CPU when the running transfer started.
    cpu_start: Option<(u64, u64)>,
    /// The kernel refused the connection's stamps.
    stamps_refused: bool,
}

impl Driver<'_, '_> {
    /// The loop: write what is due, wait for what is next, read what comes.
    fn run(&mut self, session: &mut ServerSession) -> io::Result<Ended> {
        let mut out = Vec::new();
        let mut block = Vec::new();
        loop {
            session.set_max_write(write_share(self.active.load(Ordering::Relaxed)));
            // A reply still queued on its way out when its stamp was looked
            // for: its t3 may have come since, for this reply to carry.
            if session.wants_tx_stamps() || self.conn.awaits_stamps() {
                self.take_tx_stamps(session);
            }
            while let Some(t) = session.poll_transmit(Instant::now(), &mut out) {
                let stamped = session.take_stamped_reply();
                if stamped.is_some() {
                    self.start_stamps(session);
                }
                let sent = match stamped {
                    Some(seq) => self.conn.send_stamped(&out[..t.len], seq),
                    None => self.conn.send_raw(&out[..t.len]),
                };
                if let Err(e) = sent {
                    session.handle_send_failed();
                    self.take_events(session);
                    return Err(e);
                }
                if stamped.is_some() {
                    self.take_tx_stamps(session);
                }
                self.take_events(session);
            }
            if self.take_events(session) {
                continue;
            }
            if session.awaiting_ack() {
                let written = Instant::now();
                let acked = wait_acked(self.conn, ACK_WAIT);
                session.handle_acked(written, acked);
                continue;
            }
            if let Some(e) = session.ended() {
                return Ok(e.clone());
            }
            if let Some(t) = session.poll_timeout() {
                let on_time = match self.stream.as_mut() {
                    Some((schedule, _)) => schedule.wait(t, self.stop),
                    None => sleep_until_or_stop(t, self.stop),
                };
                if !on_time {
                    session.handle_stop();
                }
                continue;
            }
            if !session.wants_input() {
                return Ok(Ended {
                    why: "the session had nothing left to do".to_string(),
                    by_client: false,
                });
            }
            match session.bulk() {
                Some(b) if self.conn.buffered().is_empty() => {
                    self.read_block(session, b, &mut block)?
                }
                _ => self.read_some(session)?,
            }
            self.take_events(session);
        }
    }

    /// Turns the connection's kernel stamps on at its first stamped reply,
    /// once: RX stamps on every read from then on, TX stamps for the
    /// replies that ask. A connection that never sees a stamped echo never
    /// pays for a stamp; the first stamped request itself came unstamped,
    /// and its reply says so (the client counts its t2 missing). A kernel
    /// that refuses leaves the stamps at 0, which the client reports as
    /// not available.
    fn start_stamps(&mut self, session: &mut ServerSession) {
        if self.conn.stamping() || self.stamps_refused {
            return;
        }
        match self.conn.set_stamping() {
            Ok(()) => session.set_stamps_kind(StampsKind::Software),
            Err(e) => {
                tracing::debug!("no kernel timestamps: {e}");
                self.stamps_refused = true;
            }
        }
    }

    /// Hands the session the TX stamp of the reply just sent, read right
    /// after its send while the client wakes up for it (on loopback the
    /// kernel queued it within the send), so the next reply carries it.
    fn take_tx_stamps(&mut self, session: &mut ServerSession) {
        let mut matched = Vec::new();
        let _ = self.conn.tx_stamps(&mut matched);
        for m in matched {
            session.handle_tx_stamp(m.tag, m.sent.ns);
        }
    }

    /// One read of whatever comes, handed to `session`.
    fn read_some(&mut self, session: &mut ServerSession) -> io::Result<()> {
        if self.conn.fill()? == 0 {
            session.handle_eof(Instant::now());
        } else {
            if let Some((rx, read_ns)) = self.conn.last_read() {
                session.handle_read_stamp(rx.map(|s| s.ns), read_ns);
            }
            let bytes = self.conn.buffered();
            let len = bytes.len();
            session.handle_bytes(Instant::now(), bytes);
            self.conn.consume(len);
        }
        Ok(())
    }

    /// One block of an upload's bytes, read straight into `buf` as `bulk`
    /// plans it (one wake-up per block, see [`Bulk`]) and handed to
    /// `session`, which takes them however they are cut. The next message
    /// read puts the low-water mark back to 1.
    fn read_block(
        &mut self,
        session: &mut ServerSession,
        bulk: Bulk,
        buf: &mut Vec<u8>,
    ) -> io::Result<()> {
        if buf.is_empty() {
            // Uploads' blocks share the server's memory as files' writes do.
            let share = write_share(self.active.load(Ordering::Relaxed));
            buf.resize(bulk.buffer_len().min(share), 0);
        }
        let plan = bulk.next_read(Instant::now(), buf.len());
        let n = self.conn.read_block(buf, plan)?;
        if n == 0 {
            session.handle_eof(Instant::now());
        } else {
            session.handle_bytes(Instant::now(), &buf[..n]);
        }
        Ok(())
    }

    /// Acts on what the session reports: records for the model, the
    /// kernel's pacing, a stream's schedule, a transfer's socket settings
    /// and readings. `true` when it answered the session (which may then
    /// have something to send).
    fn take_events(&mut self, session: &mut ServerSession) -> bool {
        let mut answered = false;
        while let Some(e) = session.poll_event() {
            match e {
                Event::TransferStarting { tos, congestion } => {
                    self.cpu_start = Some(rusage::thread_cpu());
                    let applied = apply(self.conn, tos, congestion.as_deref());
                    session.handle_applied(Instant::now(), applied);
                    answered = true;
                }
                Event::WantResults => {
                    session.handle_results(self.readings());
                    answered = true;
                }
                Event::Record(r) => self.record(r),
                Event::Pacing(rate) => {
                    let _ = set_pacing_rate(self.conn, rate.unwrap_or(u64::MAX));
                }
                Event::StreamStarted { interval } => {
                    if session.wants_tx_stamps() {
                        // Stamped echoes came before a stamped stream and
                        // left the client delaying its ACKs: without Nagle
                        // a segment never waits for the ACK of the one
                        // before, as on a fresh connection.
                        let _ = self.conn.stream().set_nodelay(true);
                    }
                    let timely = Timely::for_interval(interval);
                    tracing::debug!("stream sender: {}", timely.priority());
                    self.stream = Some((pace::Schedule::new(interval), timely));
                }
                Event::StreamEnded { sent, interval } => {
                    if let Some((schedule, _)) = self.stream.take() {
                        log_schedule(&schedule, sent, interval);
                    }
                }
            }
        }
        answered
    }

    /// The socket and the thread's CPU at a transfer's end.
    fn readings(&mut self) -> Readings {
        let stream = self.conn.stream();
        let info = TcpInfo::read(stream).ok();
        let cpu = self
            .cpu_start
            .take()
            .map(|before| rusage::between(before, rusage::thread_cpu()));
        Readings {
            retrans: info.map(|i| i.total_retrans),
            cwnd: info.map(|i| u64::from(i.snd_cwnd)),
            rtt_us: info.map(|i| u64::from(i.rtt_us)),
            ecn_negotiated: info.is_some_and(|i| i.ecn_negotiated),
            cpu_ns: cpu,
            congestion: congestion::get(stream).unwrap_or_default(),
        }
    }

    fn record(&mut self, r: Record) {
        match r {
            Record::Bytes {
                toward,
                bytes,
                comment,
            } => {
                self.rec.bytes(direction(toward), &bytes, || comment);
            }
            Record::File {
                head, len, comment, ..
            } => self.rec.file(&head, len, || comment),
            Record::Timed {
                toward,
                head,
                len,
                end,
                comment,
            } => self.rec.timed(direction(toward), &head, len, end, &comment),
        }
    }
}

/// The model capture's direction for bytes sent `toward`.
fn direction(toward: Toward) -> Direction {
    match toward {
        Toward::Server => Direction::ToServer,
        Toward::Client => Direction::ToClient,
    }
}

/// Applies what a transfer asks of the connection: the congestion control
/// first (it shapes the first byte sent), then the marking; `Err` is the
/// sentence of the Error(Unavailable) that refuses the transfer.
fn apply(conn: &Framed, tos: Option<u8>, algo: Option<&str>) -> Result<(), String> {
    let s = conn.stream();
    if let Some(name) = algo {
        congestion::set(s, name)
            .map_err(|e| congestion::refusal(name, &e, &congestion::available()))?;
    }
    if let Some(t) = tos {
        marking::set_tos(s, t)
            .map_err(|e| format!("cannot mark this connection with TOS {t:#04x}: {e}"))?;
    }
    Ok(())
}

/// How long a server that refused an upload reads what the client still
/// sends, so that its Error is not lost to a reset.
const DRAIN_WAIT: Duration = Duration::from_secs(2);

/// Sends the FIN after the Error and reads what the client still sends
/// until it closes too (or [`DRAIN_WAIT`]): closing with unread bytes
/// would reset the connection, and the client could lose the Error.
fn drain(conn: &mut Framed) {
    crate::net::close_and_drain(conn.stream(), DRAIN_WAIT);
}

/// Sleeps until `t`, `false` at once (within [`pace::STOP_CHECK`]) when
/// `stop` is set: a paced file may last minutes, a shutdown must not wait
/// for it. No spin: a paced sender needs its rate, not each write's
/// microsecond.
fn sleep_until_or_stop(t: Instant, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if t <= now {
            return true;
        }
        std::thread::sleep((t - now).min(pace::STOP_CHECK));
    }
}

/// `SO_MAX_PACING_RATE` in bytes per second (`u64::MAX`: no limit): the
/// kernel spreads each paced write's segments on the wire.
fn set_pacing_rate(conn: &Framed, bytes_per_s: u64) -> io::Result<()> {
    crate::net::socket::set_u64(
        conn.stream(),
        libc::SOL_SOCKET,
        libc::SO_MAX_PACING_RATE,
        bytes_per_s,
    )
}

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
