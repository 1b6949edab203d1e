//! A file a client uploads, as the endpoint holds it: the go-ahead, every
//! FileData verified ([`FileReceive`]), the ECN field of every datagram
//! counted when asked, and after the sender's FileEnd the server's figures
//! ([`Results`]): received, lost (from the sender's count), duplicates,
//! reordered, the CPU over the window. The figures wait for stragglers
//! that the End overtook: until every datagram it counts has come, or
//! [`LINGER`] after it. Pure: the time, each datagram's TOS
//! byte and the CPU readings come from the driver.

use std::time::{Duration, Instant};

use super::plan::FilePlan;
use super::receive::{FileReceive, Verdict};
use super::table::Slot;
use crate::content::Mismatch;
use crate::proto::datagram::{self, Body, DGRAM_HEADER, DgramHeader, KIND_FILE_DATA};
use crate::proto::{ErrorCode, Results};

/// How long after the sender's first FileEnd its stragglers are awaited
/// before the figures are made.
pub const LINGER: Duration = Duration::from_millis(50);

/// Received datagrams by their ECN field (the TOS byte's two low bits):
/// Not-ECT, ECT(1), ECT(0), CE.
#[derive(Debug, Clone, Copy, Default)]
struct EcnCounts([u64; 4]);

impl EcnCounts {
    fn add(&mut self, tos: u8) {
        self.0[usize::from(tos & 0b11)] += 1;
    }
}

/// The CPU between two readings, never negative.
pub(super) fn cpu_between(before: (u64, u64), after: (u64, u64)) -> (u64, u64) {
    (
        after.0.saturating_sub(before.0),
        after.1.saturating_sub(before.1),
    )
}

/// Reads the process's CPU so far, `(user_ns, sys_ns)`: the driver's
/// `getrusage`, or nothing in tests.
pub type CpuClock = fn() -> (u64, u64);

/// What an upload's request asked.
#[derive(Debug, Clone, Copy)]
pub struct UploadAsk {
    /// The cap, bytes (0 with a time: none).
    pub size: u64,
    /// The datagram grid.
    pub segment: u32,
    /// How long the client sends, when timed.
    pub time: Option<Duration>,
    /// Count the ECN field of every datagram received.
    pub ecn: bool,
    /// The TOS byte of everything the session sends (`None`: the socket's).
    pub tos: Option<u8>,
}

/// One upload being received.
#[derive(Debug, Clone)]
pub struct Upload {
    ask: UploadAsk,
    rx: FileReceive,
    ecn: EcnCounts,
    first: Option<Instant>,
    last: Option<Instant>,
    cpu: Option<CpuClock>,
    cpu_start: Option<(u64, u64)>,
    /// The first wrong byte, once one came.
    corrupt: Option<Mismatch>,
    /// The sender's count and when its first FileEnd came.
    said: Option<(u64, Instant)>,
    /// The figures, once the sender's FileEnd came.
    results: Option<Results>,
    /// Receive buffers its data came in.
    buffers: u64,
    /// Whether the driver receives with UDP GRO.
    gro: bool,
}

impl Upload {
    /// An upload as `ask` says, on the grid of `plan`; `None` when the
    /// segment has no room for file bytes.
    pub fn new(ask: UploadAsk, cpu: Option<CpuClock>) -> Option<Upload> {
        let cap = if ask.size == 0 && ask.time.is_some() {
            u64::MAX
        } else {
            ask.size
        };
        let plan = FilePlan::new(cap, ask.segment)?;
        Some(Upload {
            ask,
            rx: FileReceive::new(plan),
            ecn: EcnCounts::default(),
            first: None,
            last: None,
            cpu,
            cpu_start: cpu.map(|c| c()),
            corrupt: None,
            said: None,
            results: None,
            buffers: 0,
            gro: false,
        })
    }

    /// The go-ahead: FileReady with the cap (or 0) and the datagrams it
    /// takes (0 when timed: not known).
    pub fn ready(&self) -> Body {
        Body::FileReady {
            size: self.ask.size,
            segment: self.ask.segment,
            datagrams: if self.ask.time.is_some() {
                0
            } else {
                self.rx.planned()
            },
        }
    }

    /// UDP payload of a full FileData datagram.
    pub fn segment(&self) -> u32 {
        self.ask.segment
    }

    /// The TOS byte of what the session sends.
    pub fn tos(&self) -> Option<u8> {
        self.ask.tos
    }

    /// Its data arrives through UDP GRO (or not): its Results say so.
    pub fn set_gro(&mut self, on: bool) {
        self.gro = on;
    }

    /// Another receive buffer of its data arrived.
    pub fn buffer(&mut self) {
        self.buffers += 1;
    }

    /// Receive buffers its data came in.
    pub fn buffers(&self) -> u64 {
        self.buffers
    }

    /// Any datagram of the session arrived with TOS byte `tos`.
    pub fn saw(&mut self, tos: Option<u8>) {
        if let (true, Some(t)) = (self.ask.ecn, tos) {
            self.ecn.add(t);
        }
    }

    /// A FileData datagram at `now`; the first wrong byte when this is it
    /// (the endpoint then refuses the upload with its offset).
    pub fn data(&mut self, now: Instant, h: &DgramHeader, d: &[u8]) -> Option<Mismatch> {
        match self.rx.handle(h, d) {
            Verdict::New => {
                self.first.get_or_insert(now);
                self.last = Some(now);
                None
            }
            Verdict::Duplicate => None,
            Verdict::Corrupt(m) => {
                let first = self.corrupt.is_none();
                self.corrupt.get_or_insert(m);
                first.then_some(m)
            }
        }
    }

    /// The sender's FileEnd came at `now`, saying it sent `datagrams`
    /// (later copies change nothing).
    pub fn said(&mut self, now: Instant, datagrams: u64) {
        self.said.get_or_insert((datagrams, now));
    }

    /// When the figures are due: once the End's datagrams have all come,
    /// or [`LINGER`] after it; `None` before the End, once made, or after
    /// a wrong byte.
    pub fn results_at(&self) -> Option<Instant> {
        if self.results.is_some() || self.corrupt.is_some() {
            return None;
        }
        let (n, at) = self.said?;
        Some(if self.rx.received() >= n {
            at
        } else {
            at + LINGER
        })
    }

    /// The figures, made once the End came (and the same ever after).
    pub fn results(&mut self) -> Option<&Results> {
        let (datagrams, _) = self.said?;
        let (rx, ecn, ask) = (&self.rx, self.ecn, self.ask);
        let (first, last) = (self.first, self.last);
        let (buffers, gro) = (self.buffers, self.gro);
        let (clock, start) = (self.cpu, self.cpu_start);
        Some(self.results.get_or_insert_with(|| {
            let cpu = clock.zip(start).map(|(c, start)| cpu_between(start, c()));
            let a = rx.arrivals();
            Results {
                bytes: Some(rx.bytes),
                active_ns: Some(
                    first
                        .zip(last)
                        .map_or(0, |(f, l)| (l - f).as_nanos() as u64),
                ),
                cpu_user_ns: cpu.map(|c| c.0),
                cpu_sys_ns: cpu.map(|c| c.1),
                datagrams: Some(a.received()),
                lost: Some(a.lost(datagrams.max(a.received()))),
                duplicates: Some(a.duplicates()),
                reordered: Some(a.reordered()),
                not_ect: ask.ecn.then_some(ecn.0[0]),
                ect1: ask.ecn.then_some(ecn.0[1]),
                ect0: ask.ecn.then_some(ecn.0[2]),
                ce: ask.ecn.then_some(ecn.0[3]),
                buffers: Some(buffers),
                flags: if ask.tos.is_some() {
                    Results::TOS_APPLIED
                } else {
                    0
                } | if gro { Results::GRO } else { 0 },
                ..Results::default()
            }
        }))
    }

    /// Whether the sender's FileEnd has come (or a wrong byte ended it).
    pub fn over(&self) -> bool {
        self.results.is_some() || self.corrupt.is_some()
    }

    /// Whether nothing of the file has come yet (a repeated request gets
    /// the go-ahead again).
    pub fn nothing_yet(&self) -> bool {
        self.rx.data.0 == 0
    }

    /// FileData datagrams received (copies and wrong ones included), their
    /// UDP payload bytes, and the verified file bytes among them.
    pub fn carried(&self) -> (u64, u64, u64) {
        (self.rx.data.0, self.rx.data.1, self.rx.bytes)
    }

    /// The session's end, in words.
    pub fn summary(&self) -> String {
        let a = self.rx.arrivals();
        if let Some(m) = &self.corrupt {
            return format!("upload: verification failed at offset {}: {m}", m.offset);
        }
        let lost = self
            .results
            .as_ref()
            .and_then(|r| r.lost)
            .map_or("unknown (no FileEnd)".to_string(), |l| l.to_string());
        format!(
            "received {} datagrams, {} bytes verified, {lost} lost, {} duplicates, {} reordered",
            a.received(),
            self.rx.bytes,
            a.duplicates(),
            a.reordered()
        )
    }
}

/// How the endpoint routes an upload's datagrams to its [`Upload`].
impl super::Endpoint {
    /// Whether `key`'s session is an upload being received.
    pub(super) fn receiving(&self, key: &super::Key) -> bool {
        self.table
            .map
            .get(key)
            .is_some_and(|s| matches!(s.transfer, Slot::Receiving(_)))
    }

    /// A FileData datagram `d` from `peer`: verified and counted in its
    /// upload; `false` when no upload of its session is open (the datagram
    /// is then answered as any other).
    pub(super) fn on_upload_data(
        &mut self,
        now: Instant,
        peer: std::net::SocketAddr,
        h: &DgramHeader,
        d: &[u8],
    ) -> bool {
        self.upload_run(now, peer, h.session, d, d.len().max(1)) > 0
    }

    /// The datagrams of a receive buffer from `peer`, every `step` bytes, as
    /// long as they are FileData of one upload being received: each
    /// verified and counted, with one look-up of the session for them all.
    /// Returns how many bytes of `buf` it took (0: the first is not such a
    /// datagram); the caller hands the rest in one by one.
    pub(super) fn on_upload_buffer(
        &mut self,
        now: Instant,
        peer: std::net::SocketAddr,
        buf: &[u8],
        step: usize,
    ) -> usize {
        let first = &buf[..step.min(buf.len())];
        match datagram::parse_header(first) {
            Ok((KIND_FILE_DATA, h)) => self.upload_run(now, peer, h.session, buf, step),
            _ => 0,
        }
    }

    /// The run of FileData datagrams of session `id` at the start of `buf`
    /// (every `step` bytes), into its upload: the bytes taken.
    fn upload_run(
        &mut self,
        now: Instant,
        peer: std::net::SocketAddr,
        id: u32,
        buf: &[u8],
        step: usize,
    ) -> usize {
        let key = super::Key::lab(peer, id);
        let tos = self.asker_tos;
        let Some(s) = self.table.map.get_mut(&key) else {
            return 0;
        };
        let Slot::Receiving(u) = &mut s.transfer else {
            return 0;
        };
        let (mut took, mut wrong) = (0, None);
        for d in buf.chunks(step) {
            let h = match datagram::parse_header(d) {
                Ok((KIND_FILE_DATA, h)) if h.session == id => h,
                _ => break,
            };
            took += d.len();
            s.last_seen = now;
            s.traffic.received(d.len());
            if std::mem::take(&mut self.new_buffer) {
                u.buffer();
            }
            if u.over() {
                continue;
            }
            u.saw(tos);
            if let Some(m) = u.data(now, &h, &d[DGRAM_HEADER..]) {
                wrong = Some((h, m));
                break;
            }
        }
        if took == 0 {
            return 0;
        }
        self.upload_at = Some(now);
        let Some((h, m)) = wrong else {
            if u.results_at().is_some_and(|at| at <= now) {
                self.send_results(now, key, RESULTS_COPIES);
            }
            return took;
        };
        let message = corrupt_message(&h, &m);
        let mark = u.tos();
        tracing::info!("{peer} session {:#x}: {message}", h.session);
        self.reply_marked(peer, &h, &Body::error(ErrorCode::Malformed, message), mark);
        self.next_sweep = Some(now);
        took
    }

    /// The sender's FileEnd of `key`'s upload: the figures, three times
    /// the first time, once for every later copy (or the refusal again
    /// when a wrong byte ended it).
    pub(super) fn on_upload_end(
        &mut self,
        now: Instant,
        key: super::Key,
        h: &DgramHeader,
        datagrams: u64,
    ) {
        let tos = self.asker_tos;
        let Some(Slot::Receiving(u)) = self.table.map.get_mut(&key).map(|s| &mut s.transfer) else {
            return;
        };
        u.saw(tos);
        let mark = u.tos();
        if let Some(m) = u.corrupt {
            let message = corrupt_message(h, &m);
            let body = Body::error(ErrorCode::Malformed, message);
            self.reply_marked(key.peer, h, &body, mark);
            return;
        }
        if u.results.is_some() {
            return self.send_results(now, key, 1);
        }
        u.said(now, datagrams);
        match u.results_at() {
            Some(at) if at <= now => self.send_results(now, key, RESULTS_COPIES),
            Some(at) => self.next_sweep = Some(self.next_sweep.map_or(at, |t| t.min(at))),
            None => {}
        }
    }

    /// Sends the figures of every upload whose stragglers have been
    /// awaited long enough by `now`.
    pub(super) fn uploads_due(&mut self, now: Instant) {
        let due: Vec<super::Key> = self
            .table
            .map
            .iter()
            .filter(|(_, s)| {
                matches!(&s.transfer, Slot::Receiving(u) if u.results_at().is_some_and(|t| t <= now))
            })
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            self.send_results(now, key, RESULTS_COPIES);
        }
    }

    /// Sends `copies` of the figures of `key`'s upload, and ends it.
    fn send_results(&mut self, now: Instant, key: super::Key, copies: u32) {
        let Some(Slot::Receiving(u)) = self.table.map.get_mut(&key).map(|s| &mut s.transfer) else {
            return;
        };
        let mark = u.tos();
        let Some(r) = u.results() else {
            return;
        };
        let body = Body::Results(Box::new(r.clone()));
        let h = DgramHeader {
            session: key.id.unwrap_or(0),
            seq: 0,
            offset: 0,
            sent_ns: self.config.epoch.unix_ns_of(now),
        };
        for _ in 0..copies {
            self.reply_marked(key.peer, &h, &body, mark);
        }
        self.next_sweep = Some(now);
    }
}

/// How many copies of the Results answer the sender's first FileEnd.
pub const RESULTS_COPIES: u32 = 3;

/// The refusal's sentence for a wrong datagram: the first wrong byte's
/// offset first, so that the client can report it.
fn corrupt_message(h: &DgramHeader, m: &Mismatch) -> String {
    if m.expected == m.found {
        format!(
            "upload: verification failed at offset {}: datagram {} is not where the file's grid puts it",
            m.offset, h.seq
        )
    } else {
        format!("upload: verification failed at offset {}: {m}", m.offset)
    }
}
