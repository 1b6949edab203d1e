//! The UDP server's sessions: what one is, what it moved, and its report
//! when it ends (the log lines, the wire figure, the `--json` object).
//!
//! A session is one client action: the datagrams from one address that
//! carry one session id (an echo, a file or a stream), or all the
//! datagrams from one address that are not the lab's (a text peer such as
//! `nc -u`). A file or a stream ends when its transfer thread has sent End.
//! An echo session ends with the answer to its last request (each request
//! says how many its run has); a text session has no end message, and
//! ends, as an echo run whose last request was lost does, once its peer has
//! been quiet for `--idle-timeout`.
//!
//! The cookie round trip before a transfer is stateless (the server keeps
//! nothing for an address it has not validated), so it is not part of the
//! session it precedes.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::account::beside::{self, Overhead, UdpBatching};
use crate::net::counters::{self, UdpCounters};
use crate::server::record::udp_mtu;
use crate::server::session::{SessionStats, UdpSessionStats};
use crate::wire::IpVersion;

/// What a session does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Lab echoes, answered by the receive loop.
    Echo,
    /// Plain-text datagrams, answered by the receive loop.
    Text,
    /// A file, sent by a transfer thread.
    File,
    /// A stream, sent by a transfer thread.
    Stream,
}

impl Kind {
    /// The name in the log and the JSON.
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Echo => "echo",
            Kind::Text => "text",
            Kind::File => "file",
            Kind::Stream => "stream",
        }
    }

    /// Whether a transfer thread sends it (and ends it with End).
    pub(super) fn is_transfer(self) -> bool {
        matches!(self, Kind::File | Kind::Stream)
    }
}

/// Which session a datagram belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Key {
    /// The peer's address.
    pub(super) peer: SocketAddr,
    /// The session id in the header; none for a text peer.
    pub(super) id: Option<u32>,
}

impl Key {
    /// A lab session: `peer`'s datagrams with session id `id`.
    pub(super) fn lab(peer: SocketAddr, id: u32) -> Key {
        Key { peer, id: Some(id) }
    }

    /// A text peer: all of `peer`'s datagrams that are not the lab's.
    pub(super) fn text(peer: SocketAddr) -> Key {
        Key { peer, id: None }
    }
}

/// Datagrams one way or the other, and their UDP payload bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Tally {
    /// Datagrams.
    pub(super) datagrams: u64,
    /// Their UDP payload bytes, lab header included.
    pub(super) bytes: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.datagrams += other.datagrams;
        self.bytes += other.bytes;
    }
}

/// The datagrams a session moved, as the receive loop saw them.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Traffic {
    /// From the peer.
    pub(super) inbound: Tally,
    /// To the peer.
    pub(super) outbound: Tally,
    /// The smallest and largest datagram either way.
    sizes: Option<(u64, u64)>,
}

impl Traffic {
    /// Counts a datagram of `n` bytes from the peer.
    pub(super) fn received(&mut self, n: usize) {
        self.inbound.add(Tally {
            datagrams: 1,
            bytes: n as u64,
        });
        self.size(n as u64);
    }

    /// Counts a datagram of `n` bytes to the peer.
    pub(super) fn sent(&mut self, n: usize) {
        self.outbound.add(Tally {
            datagrams: 1,
            bytes: n as u64,
        });
        self.size(n as u64);
    }

    fn size(&mut self, n: u64) {
        let (lo, hi) = self.sizes.unwrap_or((n, n));
        self.sizes = Some((lo.min(n), hi.max(n)));
    }

    fn total(&self) -> Tally {
        let mut t = self.inbound;
        t.add(self.outbound);
        t
    }

    /// The data of an echo or text session for the wire model: all its
    /// datagrams when they are all one size, else none (they are then
    /// priced as control datagrams at their mean size).
    fn as_data(&self) -> Carried {
        match self.sizes {
            Some((lo, hi)) if lo == hi => Carried {
                data: self.total(),
                segment: u32::try_from(hi).unwrap_or(u32::MAX),
                ..Carried::default()
            },
            _ => Carried::default(),
        }
    }
}

/// What a transfer carried: for the session's counts and the wire model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Carried {
    /// Data datagrams (FileData or StreamSegment) and their bytes.
    pub(super) data: Tally,
    /// File bytes, or stream segment bytes: the session's `bytes_out`.
    pub(super) payload: u64,
    /// UDP payload of a full data datagram.
    pub(super) segment: u32,
    /// GSO send calls and the datagrams they carried, when GSO was used.
    pub(super) gso: Option<(u64, u64)>,
}

/// How a transfer thread ended, handed to the receive loop.
#[derive(Debug, Clone)]
pub(super) struct Outcome {
    /// Why it ended, in a few words (the session's `end`).
    pub(super) what: String,
    /// When.
    pub(super) at: Instant,
    /// Every datagram it sent: control (FileReady, End copies, an error)
    /// and data.
    pub(super) sent: Tally,
    /// The data among them.
    pub(super) carried: Carried,
    /// The kernel's UDP counters as it ended.
    pub(super) kernel: Option<UdpCounters>,
}

/// Where a transfer thread leaves its [`Outcome`]: set once, at its end.
pub(super) type Finish = Arc<OnceLock<Outcome>>;

/// A running (or finished) transfer thread.
#[derive(Debug)]
pub(super) struct Running {
    /// Set by the thread as it ends.
    pub(super) finish: Finish,
    /// The thread, joined when the session ends.
    pub(super) handle: Option<JoinHandle<()>>,
}

/// One session in the receive loop's table.
#[derive(Debug)]
pub(super) struct Session {
    /// The server's number for it, from 1.
    pub(super) id: u64,
    /// What it does.
    pub(super) kind: Kind,
    /// Its peer and session id.
    pub(super) key: Key,
    started: Instant,
    /// When its peer last sent it a datagram.
    pub(super) last_seen: Instant,
    /// What the receive loop received and sent for it.
    pub(super) traffic: Traffic,
    /// Requests served, refusals included.
    pub(super) requests: u64,
    /// Requests refused.
    pub(super) refused: u64,
    /// Payload bytes the receive loop sent: echoes, text replies.
    pub(super) payload_out: u64,
    /// The kernel's UDP counters at its start.
    kernel: Option<UdpCounters>,
    /// The thread that sends a file or a stream.
    pub(super) transfer: Option<Running>,
    /// Whether its end has been reported.
    pub(super) ended: bool,
}

impl Session {
    /// A session that starts now, its start logged as `what`.
    pub(super) fn start(id: u64, kind: Kind, key: Key, now: Instant, what: &str) -> Session {
        tracing::info!(
            "session {id} from {}: start: {what}{}",
            key.peer,
            key.id
                .map(|i| format!(" (session id {i:#x})"))
                .unwrap_or_default()
        );
        Session {
            id,
            kind,
            key,
            started: now,
            last_seen: now,
            traffic: Traffic::default(),
            requests: 0,
            refused: 0,
            payload_out: 0,
            kernel: kernel_before(key),
            transfer: None,
            ended: false,
        }
    }

    /// Whether it still runs: not reported as ended, and no transfer
    /// thread that has finished.
    pub(super) fn live(&self) -> bool {
        !self.ended && self.outcome().is_none()
    }

    fn outcome(&self) -> Option<&Outcome> {
        self.transfer.as_ref().and_then(|t| t.finish.get())
    }

    /// Whether its end is due at `now`: its transfer has finished, or (echo
    /// and text) its peer has been quiet for `idle`.
    pub(super) fn end_due(&self, now: Instant, idle: Duration) -> bool {
        if self.ended {
            return false;
        }
        if self.kind.is_transfer() {
            self.outcome().is_some()
        } else {
            now.saturating_duration_since(self.last_seen) >= idle
        }
    }

    /// Ends it: joins its thread, prices it, logs its end and returns its
    /// report. `why` says why it ended; a transfer's own outcome comes
    /// first when it has one.
    pub(super) fn end(&mut self, why: &str) -> SessionStats {
        self.ended = true;
        if let Some(h) = self.transfer.as_mut().and_then(|t| t.handle.take()) {
            let _ = h.join();
        }
        let last = self.last_moves(why);
        let seconds = last
            .at
            .saturating_duration_since(self.started)
            .as_secs_f64();
        let stats = SessionStats {
            session: self.id,
            peer: self.key.peer.to_string(),
            mode: if self.kind == Kind::Text {
                "text"
            } else {
                "framed"
            },
            requests: self.requests,
            refused: self.refused,
            bytes_out: last.payload,
            seconds,
            overhead: self.price(&last, seconds),
            end: last.why,
            shapes: Vec::new(),
            udp: Some(UdpSessionStats {
                action: self.kind.name(),
                session_id: self.key.id,
                datagrams_in: last.traffic.inbound.datagrams,
                datagrams_out: last.traffic.outbound.datagrams,
            }),
        };
        log_end(&stats);
        stats
    }

    /// Everything the session moved, its transfer's included, and how it
    /// ended.
    fn last_moves(&self, why: &str) -> Closing {
        let mut traffic = self.traffic;
        match self.outcome() {
            Some(o) => {
                traffic.outbound.add(o.sent);
                Closing {
                    traffic,
                    payload: self.payload_out + o.carried.payload,
                    carried: o.carried,
                    at: o.at,
                    kernel: o.kernel,
                    why: o.what.clone(),
                }
            }
            None => Closing {
                traffic,
                payload: self.payload_out,
                carried: traffic.as_data(),
                at: self.last_seen,
                kernel: None,
                why: why.to_string(),
            },
        }
    }

    /// The session on the wire: the model of its datagrams beside the
    /// kernel's counts over its life (none when `/proc/net/snmp` cannot
    /// be read).
    fn price(&self, last: &Closing, seconds: f64) -> Option<Overhead> {
        let before = self.kernel?;
        let peer = self.key.peer.ip().to_canonical();
        let after = last.kernel.or_else(|| sample(peer.is_ipv6()).0)?;
        let ip = if peer.is_ipv6() {
            IpVersion::V6
        } else {
            IpVersion::V4
        };
        let all = last.traffic.total();
        let data = last.carried.data;
        let mut o = beside::udp(
            ip,
            beside::link_for(peer.is_loopback()),
            udp_mtu(peer),
            last.carried.segment,
            data.datagrams,
            data.bytes,
            all.datagrams.saturating_sub(data.datagrams),
            all.bytes.saturating_sub(data.bytes),
            &after.since(&before),
            seconds,
        );
        o.add_udp_batching(&UdpBatching {
            gso: last.carried.gso,
            gro: None,
        });
        o.notes.push(server_note(self.kind));
        Some(o)
    }
}

/// A session as it ends: what it moved, when it last did, and why it
/// ended.
#[derive(Debug)]
struct Closing {
    traffic: Traffic,
    payload: u64,
    carried: Carried,
    at: Instant,
    /// The kernel's counters when its transfer ended, if it had one.
    kernel: Option<UdpCounters>,
    why: String,
}

/// The kernel's UDP counters as they were before the session's first
/// datagram: the kernel counted it in `InDatagrams` when it reached the
/// socket, before the receive loop read it and started the session.
fn kernel_before(key: Key) -> Option<UdpCounters> {
    let (mut k, fresh) = sample(key.peer.ip().to_canonical().is_ipv6());
    if fresh {
        if let Some(k) = k.as_mut() {
            k.in_datagrams = k.in_datagrams.saturating_sub(1);
        }
    }
    k
}

/// The shortest time between two reads of the kernel's counters for one
/// family. Reading `/proc/net/snmp` costs tens of microseconds; a peer
/// that starts a new echo session with every datagram would otherwise make
/// the receive loop pay that per datagram, slowing everyone's echoes.
/// Sessions that start or end within one such tick share a sample (the
/// kernel column counts the whole namespace anyway).
const SAMPLE_EVERY: Duration = Duration::from_millis(1);

/// The kernel's UDP counters for one family, and whether they were read
/// just now (`false`: the sample of less than [`SAMPLE_EVERY`] ago).
fn sample(v6: bool) -> (Option<UdpCounters>, bool) {
    static LAST: std::sync::Mutex<[Option<(Instant, UdpCounters)>; 2]> =
        std::sync::Mutex::new([None, None]);
    let now = Instant::now();
    let Ok(mut last) = LAST.lock() else {
        return (counters::read(v6), true);
    };
    let slot = &mut last[usize::from(v6)];
    if let Some((at, k)) = *slot {
        if now.saturating_duration_since(at) < SAMPLE_EVERY {
            return (Some(k), false);
        }
    }
    let k = counters::read(v6);
    *slot = k.map(|k| (now, k));
    (k, true)
}

/// Why a server's session figures are what they are.
fn server_note(kind: Kind) -> String {
    let mut s = String::from(
        "the server's view: the datagrams of this session as its socket received and sent them; the kernel column covers the session's whole life, every other session's datagrams in the namespace included",
    );
    if kind.is_transfer() {
        s.push_str(", and the cookie round trip before the request is not in the session");
    }
    s
}

/// Logs the end of a session: what it cost on the wire, then one line of
/// what it did and why it ended.
fn log_end(s: &SessionStats) {
    if let Some(o) = &s.overhead {
        tracing::info!(
            "session {} from {}: on the wire ({}): model {} frames, {} bytes; kernel {} frames, {} bytes",
            s.session,
            s.peer,
            o.link,
            o.model.frames,
            o.model.wire_bytes,
            o.kernel.frames,
            o.kernel.wire_bytes
        );
    }
    let (din, dout) = s
        .udp
        .as_ref()
        .map_or((0, 0), |u| (u.datagrams_in, u.datagrams_out));
    tracing::info!(
        "session {} from {}: end after {:.3} s, {} requests{}, {din} datagrams in, {dout} out, {} bytes out: {}",
        s.session,
        s.peer,
        s.seconds,
        s.requests,
        if s.refused > 0 {
            format!(" ({} refused)", s.refused)
        } else {
            String::new()
        },
        s.bytes_out,
        s.end
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key::lab("127.0.0.1:4000".parse().unwrap(), 0xAB)
    }

    #[test]
    fn an_echo_session_ends_when_quiet_for_the_idle_timeout() {
        let t0 = Instant::now();
        let s = Session::start(1, Kind::Echo, key(), t0, "echo");
        let idle = Duration::from_millis(500);
        assert!(s.live());
        assert!(!s.end_due(t0 + Duration::from_millis(499), idle));
        assert!(s.end_due(t0 + idle, idle));
    }

    #[test]
    fn an_echo_report_counts_both_ways_and_prices_equal_datagrams_as_data() {
        let t0 = Instant::now();
        let mut s = Session::start(3, Kind::Echo, key(), t0, "echo");
        for _ in 0..4 {
            s.traffic.received(40);
            s.traffic.sent(40);
        }
        s.requests = 4;
        s.payload_out = 4 * 12;
        s.last_seen = t0 + Duration::from_millis(30);
        let r = s.end("idle");
        assert!(s.ended && !s.live());
        assert_eq!(
            (r.session, r.mode, r.requests, r.bytes_out),
            (3, "framed", 4, 48)
        );
        assert!((r.seconds - 0.03).abs() < 1e-9, "{}", r.seconds);
        let u = r.udp.as_ref().unwrap();
        assert_eq!((u.action, u.session_id), ("echo", Some(0xAB)));
        assert_eq!((u.datagrams_in, u.datagrams_out), (4, 4));
        if let Some(o) = &r.overhead {
            assert_eq!(o.model.data_frames, 8);
            assert_eq!(o.model.layers.payload, 8 * 40);
        }
        let v = serde_json::to_value(&r).unwrap();
        for k in [
            "session",
            "peer",
            "mode",
            "requests",
            "refused",
            "bytes_out",
        ] {
            assert!(v.get(k).is_some(), "{k}: {v}");
        }
        assert_eq!(v["datagrams_in"], 4);
        assert_eq!(v["session_id"], 0xAB);
        assert!(v.get("udp").is_none() && v.get("shapes").is_none(), "{v}");
    }

    #[test]
    fn a_transfer_ends_with_its_thread_and_reports_its_outcome() {
        let t0 = Instant::now();
        let mut s = Session::start(2, Kind::File, key(), t0, "file");
        s.traffic.received(57);
        s.requests = 1;
        let finish: Finish = Arc::default();
        s.transfer = Some(Running {
            finish: Arc::clone(&finish),
            handle: None,
        });
        let idle = Duration::from_secs(30);
        assert!(s.live() && !s.end_due(t0 + idle * 2, idle));
        let carried = Carried {
            data: Tally {
                datagrams: 3,
                bytes: 3 * 64 - 8,
            },
            payload: 3 * 36 - 8,
            segment: 64,
            gso: None,
        };
        let _ = finish.set(Outcome {
            what: "sent 3 datagrams".to_string(),
            at: t0 + Duration::from_millis(5),
            sent: Tally {
                datagrams: 7,
                bytes: 400,
            },
            carried,
            kernel: None,
        });
        assert!(!s.live() && s.end_due(t0, idle));
        let r = s.end("the server stopped");
        assert_eq!(r.end, "sent 3 datagrams");
        assert_eq!(r.bytes_out, 100);
        let u = r.udp.unwrap();
        assert_eq!((u.action, u.datagrams_in, u.datagrams_out), ("file", 1, 7));
        assert!(!s.end_due(t0, idle), "ended once");
    }

    #[test]
    fn text_sessions_have_no_session_id_and_mixed_sizes_are_no_data() {
        let mut s = Session::start(
            4,
            Kind::Text,
            Key::text("[::1]:9".parse().unwrap()),
            Instant::now(),
            "text",
        );
        s.traffic.received(6);
        s.traffic.sent(1000);
        assert_eq!(s.traffic.as_data(), Carried::default());
        let r = s.end("idle");
        assert_eq!(r.mode, "text");
        let v = serde_json::to_value(&r).unwrap();
        assert!(v.get("session_id").is_none(), "{v}");
        assert_eq!(v["action"], "text");
    }
}
