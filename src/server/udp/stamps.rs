//! The UDP server's kernel timestamps for stamped echoes.
//!
//! The socket serves every peer, so its stamping is one switch for all of
//! them. It is turned on when the first StampedEchoRequest arrives, and
//! stays on: a server that only ever sees plain echoes, files and streams
//! never pays for a stamp, and turning it off again between stamped echoes
//! would cost two `setsockopt` calls per echo, where a stamping socket
//! costs a plain datagram only the RX stamp's control message. The first
//! stamped request (and any that arrive while the kernel turns RX stamping
//! on for the host) comes without an RX stamp: its reply says so, and the
//! client counts it missing. TX stamps are asked per send, for stamped
//! replies only, so a transfer's datagrams on the same socket never fill
//! the error queue; they are read right after each stamped reply leaves,
//! while the client is waking up for it, not before the next reply.

use std::collections::VecDeque;
use std::net::UdpSocket;

use super::Sender;
use super::stream_stamps::STREAM_IDS;
use crate::net::timestamping::{self, Matched, TxKeys, TxStamp};
use crate::proto::datagram::{
    KIND_AT, KIND_STAMPED_ECHO_REQUEST, KIND_STAMPED_STREAM_REQUEST, is_lab,
};
use crate::proto::stamps::StampsKind;
use crate::session::udp::server::{Endpoint, Key};

/// The stamped replies whose TX stamps are awaited, and the socket's
/// switch.
#[derive(Debug)]
pub(super) struct Stamping {
    /// Whether stamping was turned on (`None`: not asked yet).
    on: Option<bool>,
    keys: TxKeys,
    /// Each awaited stamp's tag, with its session and reply.
    tags: VecDeque<(u32, Key, u32)>,
    next_tag: u32,
    drained: Vec<TxStamp>,
    matched: Vec<Matched>,
}

impl Stamping {
    pub(super) fn new() -> Stamping {
        Stamping {
            on: None,
            keys: TxKeys::new(false),
            tags: VecDeque::new(),
            next_tag: 0,
            drained: Vec::new(),
            matched: Vec::new(),
        }
    }

    /// Whether the socket stamps.
    pub(super) fn on(&self) -> bool {
        self.on == Some(true)
    }

    /// Turns stamping on when `d` is the first stamped echo or stream
    /// request, and
    /// tells the endpoint which kind: `true` when it did, and the inbox
    /// should read RX stamps from the next receive on.
    pub(super) fn look(&mut self, d: &[u8], sock: &UdpSocket, endpoint: &mut Endpoint) -> bool {
        let stamped = matches!(
            d.get(KIND_AT),
            Some(&KIND_STAMPED_ECHO_REQUEST | &KIND_STAMPED_STREAM_REQUEST)
        );
        if self.on.is_some() || !stamped || !is_lab(d) {
            return false;
        }
        match timestamping::enable(sock, true) {
            Ok(()) => {
                self.on = Some(true);
                endpoint.set_stamps_kind(StampsKind::Software);
                true
            }
            Err(e) => {
                tracing::warn!("no kernel timestamps for stamped echoes: {e}");
                self.on = Some(false);
                false
            }
        }
    }

    /// Stamped reply `seq` of `key` left (`len` bytes): its TX stamp is
    /// awaited, and what the error queue holds is read now.
    /// A stream's stamps read here are left for its thread, and echo
    /// replies' stamps it read are taken back.
    pub(super) fn sent(&mut self, sender: &Sender, key: Key, seq: u32, endpoint: &mut Endpoint) {
        let tag = self.next_tag;
        self.next_tag = self.next_tag.wrapping_add(1);
        self.keys.sent(0, Some(tag));
        self.tags.push_back((tag, key, seq));
        self.drained.clear();
        let want = self.keys.pending();
        if timestamping::read_tx_up_to(&sender.sock, &mut self.drained, want).is_err() {
            return;
        }
        sender.stray.take(|k| k < STREAM_IDS, &mut self.drained);
        self.drained.retain(|s| {
            let echo = s.key < STREAM_IDS;
            if !echo {
                sender.stray.put(*s);
            }
            echo
        });
        self.matched.clear();
        self.keys.take(&self.drained, &mut self.matched);
        for m in &self.matched {
            // Tags before this one were lost: the kernel stamps in order.
            while let Some((tag, key, seq)) = self.tags.pop_front() {
                if tag == m.tag {
                    endpoint.handle_tx_stamp(&key, seq, m.sent.ns);
                    break;
                }
            }
        }
    }
}
