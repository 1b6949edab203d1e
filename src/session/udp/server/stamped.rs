//! The endpoint's stamped echoes: a StampedEchoRequest is answered as an
//! echo, its reply carrying the server's stamps of it
//! ([`crate::proto::stamps`]) and the send stamp (t3) of the session's
//! reply before it.
//!
//! The driver reads its kernel; the endpoint only keeps the books. Before
//! handing a datagram over it says the datagram's RX stamp and read time
//! ([`Endpoint::handle_read_stamp`]); after sending a reply that
//! [`Endpoint::take_stamped`] names, it asks that send's TX stamp and hands
//! it back ([`Endpoint::handle_tx_stamp`]) for the session's next reply.
//! [`Endpoint::set_stamps_kind`] says whether its socket stamps at all:
//! until it does, replies say "none" and carry no stamp, and the client
//! reports why.

use std::time::Instant;

use super::{Endpoint, Key};
use crate::proto::datagram::{Body, DgramHeader};
use crate::proto::stamps::StampsKind;

impl Endpoint {
    /// Which clock takes the driver's kernel stamps from now on.
    pub fn set_stamps_kind(&mut self, kind: StampsKind) {
        self.stamps_kind = kind;
    }

    /// The next datagram handed over came with kernel RX stamp `rx_ns`
    /// (when one came) and was read at `app_ns` (Unix-epoch ns).
    pub fn handle_read_stamp(&mut self, rx_ns: Option<u64>, app_ns: u64) {
        self.asker_read = Some((rx_ns, app_ns));
    }

    /// The session and sequence number of the stamped echo reply the last
    /// [`Endpoint::poll_transmit_tos`] returned, once: the driver sends it
    /// asking for its TX stamp.
    pub fn take_stamped(&mut self) -> Option<(Key, u32)> {
        self.sent_stamped.take()
    }

    /// t3: the driver's kernel sent stamped reply `seq` of `key` at `ns`.
    /// The session's next reply carries it; a session already over has no
    /// use for it.
    pub fn handle_tx_stamp(&mut self, key: &Key, seq: u32, ns: u64) {
        if let Some(s) = self.table.map.get_mut(key).and_then(|s| s.stamps.as_mut()) {
            s.tx(seq, ns);
        }
    }

    /// Queues the stamped reply to request `h` of `key`'s session: the
    /// request's RX stamp and read, built at `now`; whether it is queued
    /// (see [`Endpoint::reply`]).
    pub(super) fn stamped_reply(
        &mut self,
        now: Instant,
        key: Key,
        h: &DgramHeader,
        data: Vec<u8>,
    ) -> bool {
        let kind = self.stamps_kind;
        let read = self.asker_read.take();
        let now_ns = self.config.epoch.unix_ns_of(now);
        let Some(entry) = self.table.map.get_mut(&key) else {
            return false;
        };
        let book = entry.stamps.get_or_insert_with(Box::default);
        book.set_kind(kind);
        let (rx, read_ns) = match (kind, read) {
            (StampsKind::None, _) | (_, None) => (None, now_ns),
            (_, Some(r)) => r,
        };
        book.read(rx, read_ns);
        let stamps = book.reply(h.seq, now_ns.max(read_ns));
        let queued = self.reply(key.peer, h, &Body::StampedEchoReply { stamps, data });
        if queued && kind != StampsKind::None {
            if let Some(last) = self.replies.back_mut() {
                last.3 = Some((key, h.seq));
            }
        }
        queued
    }
}
