//! A UDP session's report as the endpoint ends it: its log lines, its
//! wire figure (the model of its datagrams beside the kernel's counters
//! over its life) and its `--json` object.
//!
//! The endpoint counts what a session moved; the kernel's counters are
//! read here, by the driver, when a session starts and when it ends.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::account::beside::{self, Overhead, UdpBatching};
use crate::net::counters::{self, UdpCounters};
use crate::server::record::udp_mtu;
use crate::server::session::{SessionStats, UdpSessionStats};
use crate::session::udp::server::{Figures, Key, Kind};
use crate::wire::IpVersion;

/// The kernel's counters of each running session: at its start, and at
/// its transfer's end.
#[derive(Debug, Default)]
pub(super) struct Kernel {
    at: HashMap<u64, (Option<UdpCounters>, Option<UdpCounters>)>,
}

impl Kernel {
    /// Session `id` of `key` started: the counters as they were before its
    /// first datagram.
    pub(super) fn started(&mut self, id: u64, key: &Key) {
        self.at.insert(id, (kernel_before(key), None));
    }

    /// Session `id`'s transfer ended with the counters `after`.
    pub(super) fn transfer_ended(&mut self, id: u64, after: Option<UdpCounters>) {
        if let Some(e) = self.at.get_mut(&id) {
            e.1 = after;
        }
    }

    /// Session `id` ended: its counters at start and end.
    fn take(&mut self, id: u64, v6: bool) -> (Option<UdpCounters>, Option<UdpCounters>) {
        let (before, after) = self.at.remove(&id).unwrap_or_default();
        if before.is_none() {
            return (None, None);
        }
        (before, after.or_else(|| sample(v6).0))
    }
}

/// Logs the start of session `id`.
pub(super) fn log_start(id: u64, key: &Key, what: &str) {
    tracing::info!(
        "session {id} from {}: start: {what}{}",
        key.peer,
        key.id
            .map(|i| format!(" (session id {i:#x})"))
            .unwrap_or_default()
    );
}

/// Reports a session that ended: logs it, prints it with `json`.
pub(super) fn ended(f: &Figures, kernel: &mut Kernel, json: bool) {
    let v6 = f.key.peer.ip().to_canonical().is_ipv6();
    let (before, after) = kernel.take(f.id, v6);
    let stats = report(f, before.zip(after));
    log_end(&stats);
    if json {
        stats.print_json();
    }
}

/// A session's report, priced with the kernel's counters at its start and
/// end when there are both.
pub(super) fn report(f: &Figures, kernel: Option<(UdpCounters, UdpCounters)>) -> SessionStats {
    let seconds = f.last.saturating_duration_since(f.started).as_secs_f64();
    SessionStats {
        session: f.id,
        peer: f.key.peer.to_string(),
        mode: if f.kind == Kind::Text {
            "text"
        } else {
            "framed"
        },
        requests: f.requests,
        refused: f.refused,
        bytes_out: f.payload,
        seconds,
        overhead: kernel.map(|(before, after)| price(f, &before, &after, seconds)),
        end: f.why.clone(),
        shapes: Vec::new(),
        udp: Some(UdpSessionStats {
            action: f.kind.name(),
            session_id: f.key.id,
            datagrams_in: f.traffic.inbound.datagrams,
            datagrams_out: f.traffic.outbound.datagrams,
        }),
    }
}

/// The session on the wire: the model of its datagrams beside the kernel's
/// counts over its life.
fn price(f: &Figures, before: &UdpCounters, after: &UdpCounters, seconds: f64) -> Overhead {
    let peer = f.key.peer.ip().to_canonical();
    let ip = if peer.is_ipv6() {
        IpVersion::V6
    } else {
        IpVersion::V4
    };
    let all = f.traffic.total();
    let data = f.carried.data;
    let mut o = beside::udp(
        ip,
        beside::link_for(peer.is_loopback()),
        udp_mtu(peer),
        f.carried.segment,
        data.datagrams,
        data.bytes,
        all.datagrams.saturating_sub(data.datagrams),
        all.bytes.saturating_sub(data.bytes),
        &after.since(before),
        seconds,
    );
    o.add_udp_batching(&UdpBatching {
        gso: f.carried.gso,
        ..UdpBatching::default()
    });
    o.notes.push(server_note(f.kind));
    o
}

/// The kernel's UDP counters as they were before the session's first
/// datagram: the kernel counted it in `InDatagrams` when it reached the
/// socket, before the receive loop read it and started the session.
fn kernel_before(key: &Key) -> Option<UdpCounters> {
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
    use crate::session::udp::server::{Carried, Tally, Traffic};

    fn figures(kind: Kind, key: Key) -> Figures {
        let t0 = Instant::now();
        Figures {
            id: 3,
            kind,
            key,
            started: t0,
            last: t0 + Duration::from_millis(30),
            traffic: Traffic::default(),
            requests: 4,
            refused: 0,
            payload: 48,
            carried: Carried::default(),
            why: "idle".to_string(),
        }
    }

    #[test]
    fn an_echo_report_counts_both_ways_and_prices_equal_datagrams_as_data() {
        let mut f = figures(
            Kind::Echo,
            Key::lab("127.0.0.1:4000".parse().unwrap(), 0xAB),
        );
        for _ in 0..4 {
            f.traffic.received(40);
            f.traffic.sent(40);
        }
        f.carried = f.traffic.as_data();
        let k = counters::read(false);
        let r = report(&f, k.zip(k));
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
    fn text_sessions_have_no_session_id() {
        let mut f = figures(Kind::Text, Key::text("[::1]:9".parse().unwrap()));
        f.traffic.received(6);
        f.traffic.sent(1000);
        f.carried = Carried {
            data: Tally::default(),
            ..Carried::default()
        };
        let r = report(&f, None);
        assert_eq!(r.mode, "text");
        let v = serde_json::to_value(&r).unwrap();
        assert!(v.get("session_id").is_none(), "{v}");
        assert_eq!(v["action"], "text");
    }
}
