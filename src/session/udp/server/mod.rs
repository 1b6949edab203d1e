//! The UDP server's datagram endpoint, as a pure state machine.
//!
//! One [`Endpoint`] stands for the server's socket: its driver hands it
//! every datagram that arrived ([`Endpoint::handle_datagram`]), sends what
//! [`Endpoint::poll_transmit`] returns, wakes it at
//! [`Endpoint::poll_timeout`] ([`Endpoint::handle_timeout`]), and logs and
//! prints the sessions' starts and ends from [`Endpoint::poll_event`].
//!
//! A client's datagrams are told apart by its address and the session id
//! in each header: a session is an echo, a file, a stream, or a text peer
//! (the session table: started by a first datagram, ended when quiet or
//! done). Over UDP a source address can be forged, so everything
//! sent to an address stays within 3× what it sent (RFC 9000 §8.1, see
//! [`crate::proto::cookie`]): larger framed replies are dropped, text
//! refusals shortened to a sentence that fits ([`text`]). A file or a
//! stream needs a cookie first; then a [`Transfer`] sends it, paced, and
//! ends it with End sent three times. The endpoint drives its transfers
//! itself unless the driver takes one ([`Endpoint::take_transfer`]) to
//! run it on a thread of its own, and says when it has ended
//! ([`Endpoint::transfer_ended`]). Garbage, unknown kinds and datagrams
//! that belong to no session are answered with an error, within the
//! budget, or dropped.
//!
//! No socket, clock, thread or file: time is the `now` passed in.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod answer;
pub mod figures;
pub mod file;
pub mod plan;
pub mod receive;
mod stamped;
pub mod stream;
mod table;
pub mod text;
pub mod transfer;
pub mod upload;

pub use figures::{Carried, Figures, Key, Kind, Tally, Traffic, TransferEnd};
pub use file::FileSend;
pub use plan::FilePlan;
pub use transfer::{END_COPIES, END_SPACING, FileOptions, SendFailure, Transfer};
pub use upload::{CpuClock, RESULTS_COPIES, Upload};

use super::super::{Epoch, Transmit};
use crate::proto::Limits;
use crate::proto::cookie::{Budgets, Validator};
use crate::proto::datagram::{MAX_UDP_PAYLOAD_V4, MAX_UDP_PAYLOAD_V6};
use crate::proto::stamps::StampsKind;
use table::{Slot, Table};

/// Most addresses whose amplification budget is tracked at once.
pub const BUDGET_TABLE: usize = 16_384;
/// How often, at most, the table is swept for sessions whose end is due.
pub const SWEEP: Duration = Duration::from_millis(10);

/// What the endpoint allows.
#[derive(Debug, Clone)]
pub struct Config {
    /// What the server refuses.
    pub limits: Limits,
    /// Most transfers at once (beyond: Busy), and most echo and text
    /// sessions at once (beyond: the quietest ends).
    pub max_sessions: usize,
    /// Most transfers at once from one client address (beyond: Busy).
    pub max_per_client: usize,
    /// An echo or text session quiet this long ends; an ended transfer
    /// quiet this long is forgotten.
    pub idle_timeout: Duration,
    /// Whether the socket is IPv6 (its largest UDP payload).
    pub v6: bool,
    /// Maps instants to the protocol's Unix-epoch stamps.
    pub epoch: Epoch,
    /// The longest timed transfer a client may ask for (`--max-time`).
    pub max_time: Duration,
    /// Reads the process's CPU, for the figures a transfer's Results
    /// carry (`None`: not available).
    pub cpu: Option<CpuClock>,
    /// Whether the driver receives with UDP GRO (an upload's Results say
    /// so).
    pub gro: bool,
}

impl Config {
    /// The largest UDP payload of the socket's family.
    pub fn max_payload(&self) -> u32 {
        if self.v6 {
            MAX_UDP_PAYLOAD_V6 as u32
        } else {
            MAX_UDP_PAYLOAD_V4 as u32
        }
    }
}

/// What the driver logs and reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A session started with a datagram from `key.peer`.
    Started {
        /// The server's number for it.
        id: u64,
        /// Its peer and session id.
        key: Key,
        /// What it does.
        kind: Kind,
        /// What its start line says it is.
        what: String,
    },
    /// A session ended, with its figures.
    Ended(Figures),
}

/// An answer waiting to be sent: where to, its bytes, its TOS byte, and for
/// a stamped echo reply its session and sequence number.
type Queued = (SocketAddr, Vec<u8>, Option<u8>, Option<(Key, u32)>);

/// The server's side of every UDP exchange.
#[derive(Debug)]
pub struct Endpoint {
    config: Config,
    budgets: Budgets,
    validator: Validator,
    /// The instant the cookies' clock counts from.
    origin: Instant,
    table: Table,
    /// Answers waiting to be sent, in order, with their TOS byte and, for
    /// a stamped echo reply, its session and sequence number.
    replies: VecDeque<Queued>,
    /// The stamped echo reply [`Endpoint::poll_transmit_tos`] returned last.
    sent_stamped: Option<(Key, u32)>,
    /// Which clock takes the driver's kernel stamps (none: its socket does
    /// not stamp).
    stamps_kind: StampsKind,
    /// The RX stamp and read time (Unix-epoch ns) of the datagram being
    /// handled, when the driver read them.
    asker_read: Option<(Option<u64>, u64)>,
    /// The TOS byte of the datagram being handled, when the driver read it.
    asker_tos: Option<u8>,
    /// Buffers of sent answers, for the next ones.
    spare: Vec<Vec<u8>>,
    /// Transfers the endpoint drives itself.
    held: Vec<Key>,
    events: VecDeque<Event>,
    served: bool,
    next_sweep: Option<Instant>,
    /// The datagram being handled is the first of its receive buffer.
    new_buffer: bool,
    /// When an upload's data last arrived.
    upload_at: Option<Instant>,
}

impl Endpoint {
    /// An endpoint that starts at `now`, with a fresh cookie key.
    pub fn new(config: Config, now: Instant) -> Endpoint {
        Endpoint::with_validator(config, Validator::new(), now)
    }

    /// An endpoint whose cookies `validator` issues and checks.
    pub fn with_validator(config: Config, validator: Validator, now: Instant) -> Endpoint {
        Endpoint {
            config,
            budgets: Budgets::new(BUDGET_TABLE),
            validator,
            origin: now,
            table: Table::default(),
            replies: VecDeque::new(),
            sent_stamped: None,
            stamps_kind: StampsKind::None,
            asker_read: None,
            asker_tos: None,
            spare: Vec::new(),
            held: Vec::new(),
            events: VecDeque::new(),
            served: false,
            next_sweep: None,
            new_buffer: false,
            upload_at: None,
        }
    }

    /// Pins the protocol's clock anew: transfers started from now on stamp
    /// their datagrams with `epoch` (a driver re-pins it as it goes, so
    /// that a long run follows the wall clock's steps).
    pub fn set_epoch(&mut self, epoch: Epoch) {
        self.config.epoch = epoch;
    }

    /// What it allows.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether a session has started, or a validated request been refused
    /// (with `--once`, the server may then end).
    pub fn served(&self) -> bool {
        self.served
    }

    /// Sessions still running.
    pub fn live(&self) -> usize {
        self.table.live()
    }

    /// A datagram `d` arrived from `from` at `now` (its TOS byte not read).
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, d: &[u8]) {
        self.handle_datagram_tos(now, from, d, None);
    }

    /// A datagram `d` arrived from `from` at `now` with TOS byte `tos`
    /// (`IP_RECVTOS`): answers carry its DSCP, sessions it opens that of
    /// their request, and an upload with ECN counts its ECN field.
    pub fn handle_datagram_tos(
        &mut self,
        now: Instant,
        from: SocketAddr,
        d: &[u8],
        tos: Option<u8>,
    ) {
        self.new_buffer = true;
        self.handle_one(now, from, d, tos);
    }

    /// A receive buffer `buf` arrived from `from` at `now` with TOS byte
    /// `tos`: one datagram, or with `gso` (UDP GRO's datagram size) the
    /// datagrams the kernel coalesced, every `gso` bytes (the last may be
    /// shorter). Each is handled as [`Endpoint::handle_datagram_tos`]
    /// does, and an upload counts the buffer.
    pub fn handle_buffer(
        &mut self,
        now: Instant,
        from: SocketAddr,
        buf: &[u8],
        gso: Option<u16>,
        tos: Option<u8>,
    ) {
        let step = gso.map_or(buf.len(), usize::from).max(1);
        self.new_buffer = true;
        // An upload's data, the bulk of what a buffer holds: one look-up
        // of the sender's budget and of the session for the whole run.
        self.asker_tos = tos;
        let took = self.on_upload_buffer(now, from, buf, step);
        if took > 0 {
            self.budgets.received(from, took);
        }
        for d in buf[took..].chunks(step) {
            self.handle_one(now, from, d, tos);
        }
        self.new_buffer = false;
    }

    /// When an upload's data last arrived: a driver takes its datagrams in
    /// batches while they come, and one at a time otherwise.
    pub fn upload_seen(&self) -> Option<Instant> {
        self.upload_at
    }

    fn handle_one(&mut self, now: Instant, from: SocketAddr, d: &[u8], tos: Option<u8>) {
        self.asker_tos = tos;
        self.budgets.received(from, d.len());
        if crate::proto::datagram::is_lab(d) {
            self.on_lab(now, from, d);
        } else {
            self.on_text(now, from, d);
        }
        self.new_buffer = false;
    }

    /// The next datagram (or GSO batch) to send, written into `buf`, and
    /// where to (see [`Endpoint::poll_transmit_tos`]).
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
    ) -> Option<(SocketAddr, Transmit)> {
        self.poll_transmit_tos(now, buf).map(|(to, t, _)| (to, t))
    }

    /// The next datagram (or GSO batch) to send, written into `buf`, where
    /// to, and the TOS byte to send it with (`None`: the socket's).
    pub fn poll_transmit_tos(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
    ) -> Option<(SocketAddr, Transmit, Option<u8>)> {
        self.sent_stamped = None;
        if let Some((to, bytes, tos, stamped)) = self.replies.pop_front() {
            self.sent_stamped = stamped;
            buf.clear();
            buf.extend_from_slice(&bytes);
            self.spare.push(bytes);
            let t = Transmit {
                len: buf.len(),
                segment: None,
            };
            return Some((to, t, tos));
        }
        let mut i = 0;
        while i < self.held.len() {
            let key = self.held[i];
            let Some(s) = self.table.map.get_mut(&key) else {
                self.held.swap_remove(i);
                continue;
            };
            let Slot::Held(t) = &mut s.transfer else {
                self.held.swap_remove(i);
                continue;
            };
            let sent = t.poll_transmit(now, buf);
            let tos = t.tos();
            if let Some(end) = t.end().cloned() {
                s.transfer = Slot::Finished(end);
                self.held.swap_remove(i);
                self.next_sweep = Some(now);
            } else {
                i += 1;
            }
            if let Some(t) = sent {
                return Some((key.peer, t, tos));
            }
        }
        None
    }

    /// When the endpoint next wants [`Endpoint::handle_timeout`] (or
    /// [`Endpoint::poll_transmit`], for its transfers).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.replies.is_empty() {
            return Some(self.origin);
        }
        let transfers = self
            .held
            .iter()
            .filter_map(|k| match &self.table.map.get(k)?.transfer {
                Slot::Held(t) => t.poll_timeout(),
                _ => None,
            });
        transfers.chain(self.next_sweep).min()
    }

    /// Time has come to `now`: ends the sessions whose end is due (a
    /// finished transfer, an echo or text peer quiet for the idle
    /// timeout), oldest first, and forgets ended transfers as quiet.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.next_sweep.is_none_or(|t| t > now) {
            return;
        }
        self.uploads_due(now);
        let idle = self.config.idle_timeout;
        let why = format!("idle timeout: quiet for {idle:?}");
        for key in self.table.due(now, idle) {
            self.end(key, &why, now);
        }
        self.table.forget(now, idle);
        self.next_sweep = self.table.next_due(idle).map(|t| t.max(now + SWEEP));
    }

    /// The next start or end of a session.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Hands the transfer of `key` to the driver, which runs it and says
    /// when it has ended.
    pub fn take_transfer(&mut self, key: &Key) -> Option<Transfer> {
        let s = self.table.map.get_mut(key)?;
        match std::mem::replace(&mut s.transfer, Slot::Away) {
            Slot::Held(t) => Some(*t),
            other => {
                s.transfer = other;
                None
            }
        }
    }

    /// The driver's transfer of `key` has ended as `end` says: its session
    /// ends at the next [`Endpoint::handle_timeout`].
    pub fn transfer_ended(&mut self, key: &Key, end: TransferEnd, now: Instant) {
        if let Some(s) = self.table.map.get_mut(key) {
            if matches!(s.transfer, Slot::Away) {
                s.transfer = Slot::Finished(end);
                self.next_sweep = Some(now);
            }
        }
    }

    /// The server stops at `now`: every session still open ends, oldest
    /// first (a transfer the endpoint drives with what it sent so far).
    pub fn close(&mut self, now: Instant) {
        for key in self.table.open() {
            if let Some(Slot::Held(t)) = self.table.map.get_mut(&key).map(|s| &mut s.transfer) {
                t.stop(now);
            }
            self.end(key, "the server stopped", now);
        }
        self.table = Table::default();
        self.held.clear();
    }

    /// Ends `key`'s session: reports its figures, and forgets it unless it
    /// is a transfer, remembered until quiet so that a late copy of its
    /// request does not start it again.
    fn end(&mut self, key: Key, why: &str, now: Instant) {
        let Some(s) = self.table.map.get_mut(&key) else {
            return;
        };
        if s.ended {
            return;
        }
        s.ended = true;
        let figures = s.figures(key, why, now);
        let transfer = s.kind.is_transfer();
        self.events.push_back(Event::Ended(figures));
        if !transfer {
            self.table.remove(&key);
        }
    }

    /// The cookies' clock: whole seconds since the endpoint started.
    fn now_s(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.origin).as_secs()
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_buffer;
#[cfg(test)]
mod tests_marking;
