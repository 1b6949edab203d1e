//! The endpoint's session table: a session starts with its first
//! datagram, counts every datagram in and out, and ends when its end is
//! due, with its [`Figures`].
//!
//! Echo and text sessions cost the server nothing but their entry, and an
//! address needs no cookie for them, so they do not take transfer slots:
//! they are bounded on their own, at `--max-sessions` at once, the one
//! quiet the longest ending early to make room for a new one. Transfers
//! are refused with Busy beyond `--max-sessions` running, or beyond
//! `--max-per-client` running from the same client address. An ended
//! transfer stays in the table until it has been quiet for
//! `--idle-timeout`, so that a late copy of its request does not start it
//! again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::figures::{Figures, Key, Kind, Traffic, TransferEnd};
use super::transfer::Transfer;
use super::upload::Upload;
use crate::session::stamps::ReplyStamps;

/// Where a session's transfer is.
#[derive(Debug)]
pub(super) enum Slot {
    /// None: an echo or text session.
    None,
    /// Driven by the endpoint's own `poll_transmit`.
    Held(Box<Transfer>),
    /// Taken by the driver, which says when it has ended.
    Away,
    /// Ended, as this says.
    Finished(TransferEnd),
    /// An upload the endpoint receives: over once the sender's FileEnd
    /// (or a wrong byte) came, and kept so that later End copies get the
    /// figures again.
    Receiving(Box<Upload>),
}

/// One session in the table.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) id: u64,
    pub(super) kind: Kind,
    pub(super) started: Instant,
    /// When its peer last sent it a datagram.
    pub(super) last_seen: Instant,
    /// What the endpoint received and sent for it (its transfer's datagrams
    /// apart).
    pub(super) traffic: Traffic,
    /// Requests served, refusals included.
    pub(super) requests: u64,
    /// Requests refused.
    pub(super) refused: u64,
    /// Payload bytes of the endpoint's answers: echoes, text replies.
    pub(super) payload_out: u64,
    pub(super) transfer: Slot,
    /// Whether its end has been reported.
    pub(super) ended: bool,
    /// A stamped echo's server stamps, from its first stamped request.
    pub(super) stamps: Option<Box<ReplyStamps>>,
}

impl Entry {
    /// Whether it still runs: not ended, and no transfer that has.
    pub(super) fn live(&self) -> bool {
        !self.ended
            && match &self.transfer {
                Slot::Finished(_) => false,
                Slot::Receiving(u) => !u.over(),
                _ => true,
            }
    }

    /// When its end is due: at once when its transfer has finished; for an
    /// echo or text session, once its peer has been quiet for `idle`;
    /// never for a transfer still running or a session already ended.
    pub(super) fn end_due(&self, idle: Duration) -> Option<Instant> {
        if self.ended {
            return None;
        }
        match &self.transfer {
            Slot::Finished(_) => Some(self.started),
            Slot::Receiving(u) if u.over() => Some(self.started),
            Slot::Held(_) | Slot::Away => None,
            Slot::None | Slot::Receiving(_) => Some(self.last_seen + idle),
        }
    }

    /// Its figures as it ends for `why` at `now` (a transfer's own end says
    /// why first when it has one; a transfer cut short counts what it sent).
    pub(super) fn figures(&self, key: Key, why: &str, now: Instant) -> Figures {
        let mut f = Figures {
            id: self.id,
            kind: self.kind,
            key,
            started: self.started,
            last: self.last_seen,
            traffic: self.traffic,
            requests: self.requests,
            refused: self.refused,
            payload: self.payload_out,
            carried: self.traffic.as_data(),
            why: why.to_string(),
        };
        let end = match &self.transfer {
            Slot::Finished(end) => Some(end.clone()),
            Slot::Held(t) => Some(
                t.end()
                    .cloned()
                    .unwrap_or_else(|| t.so_far(why.to_string(), now)),
            ),
            Slot::Receiving(u) => {
                let (datagrams, bytes, _) = u.carried();
                f.carried = super::figures::Carried {
                    data: super::figures::Tally { datagrams, bytes },
                    payload: 0,
                    segment: u.segment(),
                    gso: None,
                };
                f.why = u.summary();
                None
            }
            Slot::None | Slot::Away => None,
        };
        if let Some(end) = end {
            f.traffic.outbound.add(end.sent);
            f.payload += end.carried.payload;
            f.carried = end.carried;
            f.last = end.at;
            f.why = end.what;
        }
        f
    }
}

/// The sessions by key, and how many are echo or text.
#[derive(Debug, Default)]
pub(super) struct Table {
    pub(super) map: HashMap<Key, Entry>,
    /// Echo and text sessions in the table (at most `--max-sessions`).
    pub(super) light: usize,
    next_id: u64,
}

impl Table {
    /// Sessions still running.
    pub(super) fn live(&self) -> usize {
        self.map.values().filter(|s| s.live()).count()
    }

    /// Transfers still running.
    pub(super) fn live_transfers(&self) -> usize {
        self.map
            .values()
            .filter(|s| s.kind.is_transfer() && s.live())
            .count()
    }

    /// Transfers still running from client address `ip`.
    pub(super) fn live_transfers_from(&self, ip: std::net::IpAddr) -> usize {
        self.map
            .iter()
            .filter(|(k, s)| k.peer.ip() == ip && s.kind.is_transfer() && s.live())
            .count()
    }

    /// Puts a new session in the table; its number.
    pub(super) fn insert(&mut self, key: Key, kind: Kind, now: Instant) -> &mut Entry {
        self.next_id += 1;
        if !kind.is_transfer() {
            self.light += 1;
        }
        let entry = Entry {
            id: self.next_id,
            kind,
            started: now,
            last_seen: now,
            traffic: Traffic::default(),
            requests: 0,
            refused: 0,
            payload_out: 0,
            transfer: Slot::None,
            ended: false,
            stamps: None,
        };
        self.map.insert(key, entry);
        self.map.get_mut(&key).expect("just inserted")
    }

    /// Takes `key` out of the table.
    pub(super) fn remove(&mut self, key: &Key) {
        if let Some(s) = self.map.remove(key) {
            if !s.kind.is_transfer() {
                self.light = self.light.saturating_sub(1);
            }
        }
    }

    /// The echo or text session quiet the longest.
    pub(super) fn quietest(&self) -> Option<Key> {
        self.map
            .iter()
            .filter(|(_, s)| !s.kind.is_transfer() && !s.ended)
            .min_by_key(|(_, s)| (s.last_seen, s.id))
            .map(|(k, _)| *k)
    }

    /// The sessions whose end is due at `now`, oldest first.
    pub(super) fn due(&self, now: Instant, idle: Duration) -> Vec<Key> {
        let mut due: Vec<(u64, Key)> = self
            .map
            .iter()
            .filter(|(_, s)| s.end_due(idle).is_some_and(|t| t <= now))
            .map(|(k, s)| (s.id, *k))
            .collect();
        due.sort_unstable_by_key(|(id, _)| *id);
        due.into_iter().map(|(_, k)| k).collect()
    }

    /// Forgets the ended transfers quiet for `idle` at `now`.
    pub(super) fn forget(&mut self, now: Instant, idle: Duration) {
        self.map.retain(|key, s| {
            let keep = !s.ended || now.saturating_duration_since(s.last_seen) < idle;
            if !keep {
                tracing::debug!(
                    "session {} from {}: forgotten after {idle:?} quiet",
                    s.id,
                    key.peer
                );
            }
            keep
        });
    }

    /// The next instant at which a session's end is due or an ended one is
    /// forgotten.
    pub(super) fn next_due(&self, idle: Duration) -> Option<Instant> {
        let results = self.map.values().filter_map(|s| match &s.transfer {
            Slot::Receiving(u) => u.results_at(),
            _ => None,
        });
        self.map
            .values()
            .filter_map(|s| s.end_due(idle).or(s.ended.then_some(s.last_seen + idle)))
            .chain(results)
            .min()
    }

    /// Sessions not yet ended, oldest first.
    pub(super) fn open(&self) -> Vec<Key> {
        let mut open: Vec<(u64, Key)> = self
            .map
            .iter()
            .filter(|(_, s)| !s.ended)
            .map(|(k, s)| (s.id, *k))
            .collect();
        open.sort_unstable_by_key(|(id, _)| *id);
        open.into_iter().map(|(_, k)| k).collect()
    }
}
