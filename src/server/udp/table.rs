//! The receive loop's session table: starting a session with its first
//! datagram, counting every datagram in and out, ending a session when its
//! end is due (and printing it with `--json`), and forgetting it.
//!
//! Echo and text sessions cost the server nothing but their entry, and an
//! address needs no cookie for them, so they do not take transfer slots:
//! they are bounded on their own, at `--max-sessions` at once, the one
//! quiet the longest ending early to make room for a new one. Transfers
//! are refused with Busy beyond `--max-sessions` running. An ended transfer stays in the table until it
//! has been quiet for `--idle-timeout`, so that a late copy of its request
//! does not start it again.

use std::time::Instant;

use super::Loop;
use super::session::{Key, Kind, Session};

impl Loop {
    /// Sessions still running.
    pub(super) fn live(&self) -> usize {
        self.sessions.values().filter(|s| s.live()).count()
    }

    /// Transfers still running.
    pub(super) fn live_transfers(&self) -> usize {
        self.sessions
            .values()
            .filter(|s| s.kind.is_transfer() && s.live())
            .count()
    }

    /// A new session, its start logged as `what`.
    pub(super) fn new_session(&mut self, key: Key, kind: Kind, what: &str) -> Session {
        let id = self.next_id;
        self.next_id += 1;
        self.served_once = true;
        Session::start(id, kind, key, Instant::now(), what)
    }

    /// Counts a datagram of `n` bytes from `key`'s peer in its session, if
    /// it has one; whether it has.
    pub(super) fn count_received(&mut self, key: &Key, n: usize, now: Instant) -> bool {
        match self.sessions.get_mut(key) {
            Some(s) => {
                s.last_seen = now;
                s.traffic.received(n);
                true
            }
            None => false,
        }
    }

    /// Counts a datagram of `n` bytes to `key`'s peer in its session, if it
    /// has one.
    pub(super) fn count_sent(&mut self, key: &Key, n: usize) {
        if let Some(s) = self.sessions.get_mut(key) {
            s.traffic.sent(n);
        }
    }

    /// Counts a request answered in `key`'s session: refused or not, and
    /// the payload bytes its answer carried.
    pub(super) fn answered(&mut self, key: &Key, refused: bool, payload: usize) {
        if let Some(s) = self.sessions.get_mut(key) {
            s.requests += 1;
            s.refused += u64::from(refused);
            s.payload_out += payload as u64;
        }
    }

    /// Counts a datagram of `n` bytes in `key`'s echo or text session,
    /// started by it when there is none.
    pub(super) fn open(&mut self, key: Key, kind: Kind, n: usize, now: Instant) {
        if self.count_received(&key, n, now) {
            return;
        }
        if self.light >= self.config.max_sessions {
            self.end_quietest();
        }
        let mut s = self.new_session(key, kind, kind.name());
        s.traffic.received(n);
        self.sessions.insert(key, s);
        self.light += 1;
    }

    /// Ends the echo or text session quiet the longest, to make room.
    fn end_quietest(&mut self) {
        let quietest = self
            .sessions
            .iter()
            .filter(|(_, s)| !s.kind.is_transfer())
            .min_by_key(|(_, s)| s.last_seen)
            .map(|(k, _)| *k);
        if let Some(key) = quietest {
            let why = format!(
                "ended early: {} echo and text sessions at once (--max-sessions), this one the quietest",
                self.config.max_sessions
            );
            self.end(key, &why);
        }
    }

    /// Ends `key`'s session: logs its end, prints it with `--json`, and
    /// forgets it unless it is a transfer (see the module doc).
    pub(super) fn end(&mut self, key: Key, why: &str) {
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        if s.ended {
            return;
        }
        let stats = s.end(why);
        let transfer = s.kind.is_transfer();
        if self.config.json {
            stats.print_json();
        }
        if !transfer {
            self.sessions.remove(&key);
            self.light = self.light.saturating_sub(1);
        }
    }

    /// Ends the sessions whose end is due (a finished transfer, an echo or
    /// text peer quiet for the idle timeout), oldest first, and forgets the
    /// ended transfers that have been quiet as long.
    pub(super) fn reap(&mut self) {
        let now = Instant::now();
        let idle = self.config.idle_timeout;
        let mut due: Vec<(u64, Key)> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.end_due(now, idle))
            .map(|(k, s)| (s.id, *k))
            .collect();
        due.sort_unstable_by_key(|(id, _)| *id);
        let why = format!("idle timeout: quiet for {idle:?}");
        for (_, key) in due {
            self.end(key, &why);
        }
        self.sessions.retain(|key, s| {
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

    /// Ends every session still open as the server returns, oldest first:
    /// a transfer thread, told to stop, is joined and its outcome reported.
    pub(super) fn end_all(&mut self) {
        let mut open: Vec<(u64, Key)> = self
            .sessions
            .iter()
            .filter(|(_, s)| !s.ended)
            .map(|(k, s)| (s.id, *k))
            .collect();
        open.sort_unstable_by_key(|(id, _)| *id);
        for (_, key) in open {
            self.end(key, "the server stopped");
        }
        self.sessions.clear();
        self.light = 0;
    }
}
