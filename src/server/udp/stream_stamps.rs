//! A stamped stream's TX stamps at the server's transfer thread.
//!
//! The socket is the server's one socket: the receive loop's stamped echo
//! replies are keyed by the socket's count of stamped sends
//! ([`super::stamps`]), so a stream's segments are keyed by ids of their
//! own from [`STREAM_IDS`] up (`SCM_TS_OPT_ID`), which leave that count
//! alone. Both threads read the one error queue; a stamp one reads for
//! the other is left in the [`Stray`] box for it. A kernel that refuses
//! keyed sends (before Linux 6.13) gets the segments unstamped: the client
//! counts their stamps missing.

use std::collections::VecDeque;
use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use super::Sender;
use crate::net::timestamping::{self, TxPoint, TxStamp};
use crate::session::udp::server::Transfer;

/// The first key of stream segments' stamps; echo replies' keys count
/// from 0 and stay below it.
pub(super) const STREAM_IDS: u32 = 0x8000_0000;

/// Most stamps awaited, or left for another thread, at once: older ones
/// are given up (and counted missing by the client).
const HELD: usize = 1024;

/// Stamps read by a thread they are not for, and the next stream key.
#[derive(Debug, Default)]
pub(super) struct Stray {
    next_id: AtomicU32,
    held: Mutex<Vec<TxStamp>>,
}

impl Stray {
    /// A key for the next stamped segment.
    fn next_id(&self) -> u32 {
        STREAM_IDS | (self.next_id.fetch_add(1, Ordering::Relaxed) & !STREAM_IDS)
    }

    /// Leaves `s` for the thread it belongs to.
    pub(super) fn put(&self, s: TxStamp) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.len() >= HELD {
            held.remove(0);
        }
        held.push(s);
    }

    /// Takes the stamps `mine` claims into `out`.
    pub(super) fn take(&self, mine: impl Fn(u32) -> bool, out: &mut Vec<TxStamp>) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.is_empty() {
            return;
        }
        held.retain(|s| {
            let m = mine(s.key);
            if m {
                out.push(*s);
            }
            !m
        });
    }
}

/// A stamped stream's awaited stamps, on its transfer thread.
#[derive(Debug, Default)]
pub(super) struct StreamStamping {
    /// (key, segment) of each send whose stamp has not come.
    awaited: VecDeque<(u32, u32)>,
    drained: Vec<TxStamp>,
    /// The kernel refused keyed sends: the rest go unstamped.
    refused: bool,
}

impl StreamStamping {
    /// Sends segment `seq`'s datagram `d` to `peer`, asking for its TX
    /// stamp under a key of its own.
    pub(super) fn send(
        &mut self,
        sender: &Sender,
        d: &[u8],
        peer: std::net::SocketAddr,
        tos: Option<u8>,
        seq: u32,
    ) -> io::Result<usize> {
        if !self.refused {
            let id = sender.stray.next_id();
            match sender.send_stamped_id(d, peer, tos, id) {
                Ok(n) => {
                    if self.awaited.len() >= HELD {
                        self.awaited.pop_front();
                    }
                    self.awaited.push_back((id, seq));
                    return Ok(n);
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    tracing::warn!(
                        "this kernel does not key a datagram's TX stamp per send (SCM_TS_OPT_ID, Linux 6.13; {e}): the stream goes unstamped"
                    );
                    self.refused = true;
                }
                Err(e) => return Err(e),
            }
        }
        sender.send_to(d, peer, false, tos)
    }

    /// Reads the TX stamps that came and hands the stream's to `t`; others
    /// are left for their threads.
    pub(super) fn drain(&mut self, sender: &Sender, t: &mut Transfer) {
        if self.awaited.is_empty() {
            return;
        }
        self.drained.clear();
        let _ = timestamping::read_tx(&sender.sock, &mut self.drained);
        let awaited = &self.awaited;
        let mine = |key: u32| awaited.iter().any(|(k, _)| *k == key);
        sender.stray.take(mine, &mut self.drained);
        for s in std::mem::take(&mut self.drained) {
            let at = self.awaited.iter().position(|(k, _)| *k == s.key);
            match (at, s.point) {
                (Some(i), TxPoint::Sent) => {
                    if let Some((_, seq)) = self.awaited.remove(i) {
                        t.handle_tx_stamp(seq, s.stamp.ns);
                    }
                }
                (Some(_), TxPoint::Sched) => {}
                (None, _) => sender.stray.put(s),
            }
        }
    }
}
