//! The four timestamps of a stamped echo, put together: pure bookkeeping
//! of what the drivers read from their kernels and what the server sent
//! back, with no socket and no clock.
//!
//! For echo `seq`: t1 the client's kernel sent the request, t2 the
//! server's kernel received it, t3 the server's kernel sent the reply, t4
//! the client's kernel received it. From them:
//!
//! - network RTT = (t4 − t1) − (t3 − t2): the round trip without either
//!   host's application in it;
//! - server time = t3 − t2: the server between its own two kernel stamps;
//! - send path = t1 − the client's send call, and wake-up = the client's
//!   read returning − t4: what the client's kernel and scheduler cost on
//!   the way out and the way back;
//! - qdisc = t1 − the request's stamp as it entered the client's queueing
//!   discipline (`TX_SCHED`, when the driver asked for it): the part of
//!   the send path spent waiting in that queue.
//!
//! The stamps come in any order (a reply's t3 rides on the next reply), and
//! one that never comes leaves its figures out: counted, never guessed.
//! Times are nanoseconds since the Unix epoch; the client's are on its
//! clock, the server's on its own, and only differences taken on one
//! host's clock enter a figure.

use std::collections::{BTreeMap, VecDeque};

use super::offset::Exchange;
use crate::latency::Recorder;
use crate::proto::stamps::{ServerStamps, StampsKind};

/// What the client's driver read for one echo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientStamp {
    /// The request's send call began at `app_ns`.
    Sent {
        /// The echo.
        seq: u32,
        /// When the call began.
        app_ns: u64,
    },
    /// Request `seq` entered the client's queueing discipline (its
    /// `TX_SCHED` stamp), before t1.
    Sched {
        /// The echo.
        seq: u32,
        /// The stamp.
        ns: u64,
    },
    /// t1: the client's kernel sent request `seq`.
    Tx {
        /// The echo.
        seq: u32,
        /// The stamp.
        ns: u64,
    },
    /// The read that completed the reply returned at `app_ns`; t4 is its
    /// kernel RX stamp, when one came.
    Received {
        /// The echo.
        seq: u32,
        /// t4.
        rx_ns: Option<u64>,
        /// When the read returned.
        app_ns: u64,
    },
}

/// One echo's times as they come.
#[derive(Debug, Clone, Copy, Default)]
struct Times {
    app_sent: Option<u64>,
    sched: Option<u64>,
    t1: Option<u64>,
    t2: Option<u64>,
    t3: Option<u64>,
    t4: Option<u64>,
    app_received: Option<u64>,
    /// The reply came with the server's stamps (t3 may follow).
    replied: bool,
    /// t3 was carried (or its absence said): nothing more will come.
    t3_said: bool,
}

/// Echoes whose times are still kept: older ones are closed, their
/// missing stamps counted.
const WINDOW: u32 = 8;

/// The most t3s a server keeps for later replies to carry; the client
/// keeps an echo open for [`WINDOW`] newer replies, so older ones are of
/// no use.
const MAX_WAITING_T3: usize = 64;

/// The figures of every stamped echo of a run.
#[derive(Debug, Clone, Default)]
pub struct EchoStamps {
    open: BTreeMap<u32, Times>,
    /// Echoes measured: a later one only brings a stamp back.
    count: u32,
    /// Which clock took the server's stamps (the last reply's word).
    server_kind: Option<StampsKind>,
    /// Replies that came with the server's stamps.
    pub replies: u64,
    /// (t4 − t1) − (t3 − t2), ns.
    pub network_rtt: Recorder,
    /// t3 − t2, ns.
    pub server: Recorder,
    /// t1 − the send call, ns.
    pub send_path: Recorder,
    /// The read returning − t4, ns.
    pub wakeup: Recorder,
    /// t1 − the request's queueing-discipline stamp, ns (empty unless
    /// the driver hands [`ClientStamp::Sched`] in).
    pub qdisc: Recorder,
    /// The server's read of a request returning − t2, ns, and the reply
    /// built − that read, ns (the server's application, on its clock).
    pub server_app: Recorder,
    /// Echoes missing each stamp: t1, t2, t3, t4.
    pub missing: [u64; 4],
    /// The echoes that had all four stamps, for the clock offset.
    pub exchanges: Vec<Exchange>,
}

impl EchoStamps {
    /// An empty book for `count` measured echoes, numbered from 0.
    pub fn new(count: u32) -> EchoStamps {
        EchoStamps {
            count,
            ..EchoStamps::default()
        }
    }

    /// Which clock took the server's kernel stamps (`None` before a
    /// stamped reply came).
    pub fn server_kind(&self) -> Option<StampsKind> {
        self.server_kind
    }

    /// The client's driver read `s`.
    pub fn client(&mut self, s: ClientStamp) {
        match s {
            ClientStamp::Sent { seq, app_ns } => self.entry(seq).app_sent = Some(app_ns),
            ClientStamp::Sched { seq, ns } => self.entry(seq).sched = Some(ns),
            ClientStamp::Tx { seq, ns } => self.entry(seq).t1 = Some(ns),
            ClientStamp::Received { seq, rx_ns, app_ns } => {
                let t = self.entry(seq);
                t.t4 = rx_ns;
                t.app_received = Some(app_ns);
            }
        }
        self.settle();
    }

    /// Reply `seq` came with the server's stamps `s` (and the t3 of the
    /// reply before it).
    pub fn server(&mut self, seq: u32, s: &ServerStamps) {
        self.replies += 1;
        self.server_kind = Some(s.kind);
        let t = self.entry(seq);
        t.replied = true;
        t.t2 = (s.rx_ns != 0).then_some(s.rx_ns);
        if s.rx_ns != 0 && s.read_ns >= s.rx_ns {
            self.server_app.record_ns(i128::from(s.read_ns - s.rx_ns));
        }
        if s.prev_seq != seq && self.open.contains_key(&s.prev_seq) {
            let p = self.entry(s.prev_seq);
            p.t3 = s.prev_tx_ns.filter(|n| *n != 0);
            p.t3_said = true;
        }
        self.settle();
    }

    fn entry(&mut self, seq: u32) -> &mut Times {
        self.open.entry(seq).or_default()
    }

    /// Records what is whole, closes what is too old.
    fn settle(&mut self) {
        let newest = self.open.keys().next_back().copied().unwrap_or(0);
        let done: Vec<u32> = self
            .open
            .iter()
            .filter(|(seq, t)| t.t3_said || newest.saturating_sub(**seq) >= WINDOW && t.replied)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in done {
            if let Some(t) = self.open.remove(&seq) {
                self.close(seq, &t);
            }
        }
    }

    /// One echo's figures, from what came of its times (none for the
    /// exchange after the measured ones).
    fn close(&mut self, seq: u32, t: &Times) {
        if seq >= self.count {
            return;
        }
        let diff = |a: Option<u64>, b: Option<u64>| Some(i128::from(a?) - i128::from(b?));
        if let Some(d) = diff(t.t1, t.app_sent).filter(|d| *d >= 0) {
            self.send_path.record_ns(d);
        }
        if let Some(d) = diff(t.t1, t.sched).filter(|d| *d >= 0) {
            self.qdisc.record_ns(d);
        }
        if let Some(d) = diff(t.app_received, t.t4).filter(|d| *d >= 0) {
            self.wakeup.record_ns(d);
        }
        let server = diff(t.t3, t.t2).filter(|d| *d >= 0);
        if let Some(d) = server {
            self.server.record_ns(d);
        }
        if let (Some(whole), Some(s)) = (diff(t.t4, t.t1), server) {
            // Stamps of one host are of one clock; a negative result would
            // mean they are not, and is left out rather than clamped.
            if whole - s >= 0 {
                self.network_rtt.record_ns(whole - s);
            }
        }
        if let (Some(t1), Some(t2), Some(t3), Some(t4)) = (t.t1, t.t2, t.t3, t.t4) {
            self.exchanges.push(Exchange { t1, t2, t3, t4 });
        }
        for (i, v) in [t.t1, t.t2, t.t3, t.t4].iter().enumerate() {
            if v.is_none() {
                self.missing[i] += 1;
            }
        }
    }

    /// Closes every echo still open (the run is over): whatever did not
    /// come is counted missing.
    pub fn finish(&mut self) {
        let open = std::mem::take(&mut self.open);
        for (seq, t) in open.iter().filter(|(_, t)| t.replied) {
            self.close(*seq, t);
        }
    }
}

/// The server's side of stamped echoes: what its driver read of its kernel
/// and its clock, turned into the block each stamped reply carries.
#[derive(Debug, Clone, Default)]
pub struct ReplyStamps {
    kind: StampsKind,
    /// The latest read: its RX stamp, when one came, and its return.
    read: Option<(Option<u64>, u64)>,
    /// The t3s the driver matched and no reply carried yet, oldest first:
    /// the reply and its stamp.
    tx: VecDeque<(u32, u64)>,
    /// A stamped reply built and not yet handed to the driver.
    pending: Option<u32>,
}

impl ReplyStamps {
    /// Which clock takes the server's kernel stamps (none: its socket
    /// does not stamp).
    pub fn set_kind(&mut self, kind: StampsKind) {
        self.kind = kind;
    }

    /// The driver's read returned at `app_ns`, its RX stamp `rx_ns`.
    pub fn read(&mut self, rx_ns: Option<u64>, app_ns: u64) {
        self.read = Some((rx_ns, app_ns));
    }

    /// t3 of stamped reply `seq`, from the server's error queue.
    pub fn tx(&mut self, seq: u32, ns: u64) {
        if self.tx.len() == MAX_WAITING_T3 {
            // The client closed that echo long ago.
            self.tx.pop_front();
        }
        self.tx.push_back((seq, ns));
    }

    /// The block of reply `seq`, built at `now_ns`: the request's t2 and
    /// read, and the oldest t3 that came and no reply carried yet.
    ///
    /// Usually that is the reply before this one. A reply that waited in a
    /// queue on its way out has no device stamp yet when the next reply
    /// is built: its t3 rides on a later reply, and this one carries none
    /// (its `prev_seq` is its own), rather than saying it never came.
    pub fn reply(&mut self, seq: u32, now_ns: u64) -> ServerStamps {
        let (rx, read) = self.read.unwrap_or((None, now_ns));
        let carried = self.tx.pop_front();
        self.pending = Some(seq);
        ServerStamps {
            rx_ns: rx.unwrap_or(0),
            read_ns: read,
            reply_ns: now_ns,
            prev_seq: carried.map_or(seq, |(s, _)| s),
            kind: self.kind,
            prev_tx_ns: carried.map(|(_, ns)| ns),
        }
    }

    /// The stamped reply the next send carries, once: the driver asks for
    /// that send's TX stamp under this sequence number.
    pub fn take_pending(&mut self) -> Option<u32> {
        self.pending.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(seq: u32, t2: u64, prev: Option<(u32, u64)>) -> ServerStamps {
        ServerStamps {
            rx_ns: t2,
            read_ns: t2 + 3_000,
            reply_ns: t2 + 4_000,
            prev_seq: prev.map_or(seq, |p| p.0),
            kind: StampsKind::Software,
            prev_tx_ns: prev.map(|p| p.1),
        }
    }

    #[test]
    fn four_stamps_make_the_network_rtt_and_the_server_time() {
        let mut b = EchoStamps::new(10);
        // Client clock: send call 1000, t1 1200, t4 9200, read 15200.
        // Server clock (offset by a million): t2 1_004_000, t3 1_009_000.
        b.client(ClientStamp::Sent {
            seq: 0,
            app_ns: 1000,
        });
        b.client(ClientStamp::Tx { seq: 0, ns: 1200 });
        b.server(0, &server(0, 1_004_000, None));
        b.client(ClientStamp::Received {
            seq: 0,
            rx_ns: Some(9200),
            app_ns: 15_200,
        });
        // The next reply carries t3 of reply 0.
        b.server(1, &server(1, 1_020_000, Some((0, 1_009_000))));
        assert_eq!(b.network_rtt.len(), 1);
        let ns = |r: &Recorder| r.histogram().max();
        // (9200 − 1200) − (1_009_000 − 1_004_000) = 3000.
        assert!((ns(&b.network_rtt) as i64 - 3000).abs() < 5);
        assert!((ns(&b.server) as i64 - 5000).abs() < 5);
        assert!((ns(&b.send_path) as i64 - 200).abs() < 2);
        assert!((ns(&b.wakeup) as i64 - 6000).abs() < 5);
        assert_eq!(b.missing, [0; 4]);
        assert_eq!(b.server_kind(), Some(StampsKind::Software));
    }

    #[test]
    fn the_qdisc_stamp_splits_the_send_path() {
        let mut b = EchoStamps::new(10);
        b.client(ClientStamp::Sent {
            seq: 0,
            app_ns: 1000,
        });
        // Into the queue at 1300, out to the device (t1) at 41_300.
        b.client(ClientStamp::Sched { seq: 0, ns: 1300 });
        b.client(ClientStamp::Tx { seq: 0, ns: 41_300 });
        b.server(0, &server(0, 1_004_000, None));
        b.client(ClientStamp::Received {
            seq: 0,
            rx_ns: Some(90_000),
            app_ns: 95_000,
        });
        b.server(1, &server(1, 1_020_000, Some((0, 1_009_000))));
        let ns = |r: &Recorder| r.histogram().max() as i64;
        assert!((ns(&b.qdisc) - 40_000).abs() < 40, "{}", ns(&b.qdisc));
        assert!((ns(&b.send_path) - 40_300).abs() < 40);
        // An echo without the stamp (not asked, or lost) has no qdisc time.
        let mut plain = EchoStamps::new(1);
        plain.client(ClientStamp::Sent { seq: 0, app_ns: 0 });
        plain.client(ClientStamp::Tx { seq: 0, ns: 500 });
        plain.finish();
        assert!(plain.qdisc.is_empty());
    }

    #[test]
    fn each_reply_carries_the_t3_of_the_one_before() {
        let mut r = ReplyStamps::default();
        r.set_kind(StampsKind::Software);
        r.read(Some(100), 150);
        let a = r.reply(0, 160);
        assert_eq!((a.rx_ns, a.read_ns, a.reply_ns), (100, 150, 160));
        assert_eq!((a.prev_seq, a.prev_tx_ns), (0, None));
        assert_eq!(r.take_pending(), Some(0));
        assert_eq!(r.take_pending(), None);
        r.tx(0, 170);
        r.read(None, 300);
        let b = r.reply(1, 310);
        assert_eq!((b.rx_ns, b.prev_seq, b.prev_tx_ns), (0, 0, Some(170)));
        // Reply 1's stamp has not come (it waits in a queue): reply 2
        // carries none, and says nothing of reply 1.
        let c = r.reply(2, 400);
        assert_eq!((c.prev_seq, c.prev_tx_ns), (2, None));
        // Both come late: the next replies carry them, oldest first.
        r.tx(1, 420);
        r.tx(2, 430);
        let d = r.reply(3, 500);
        assert_eq!((d.prev_seq, d.prev_tx_ns), (1, Some(420)));
        let e = r.reply(4, 600);
        assert_eq!((e.prev_seq, e.prev_tx_ns), (2, Some(430)));
    }

    #[test]
    fn a_t3_carried_late_still_makes_its_echo_s_network_rtt() {
        let mut b = EchoStamps::new(10);
        let sent = |b: &mut EchoStamps, seq: u32, at: u64| {
            b.client(ClientStamp::Sent { seq, app_ns: at });
            b.client(ClientStamp::Tx { seq, ns: at + 100 });
        };
        let got = |b: &mut EchoStamps, seq: u32, at: u64| {
            b.client(ClientStamp::Received {
                seq,
                rx_ns: Some(at),
                app_ns: at + 50,
            });
        };
        // Echo 0: t1 100, t2 1000, t4 5100; its t3 (2000) rides on reply 3.
        sent(&mut b, 0, 0);
        b.server(0, &server(0, 1000, None));
        got(&mut b, 0, 5100);
        for seq in 1..3u32 {
            sent(&mut b, seq, 10_000 * u64::from(seq));
            b.server(seq, &server(seq, 10_000 * u64::from(seq) + 1000, None));
            got(&mut b, seq, 10_000 * u64::from(seq) + 5100);
        }
        assert!(b.network_rtt.is_empty());
        sent(&mut b, 3, 30_000);
        b.server(3, &server(3, 31_000, Some((0, 2000))));
        // (5100 − 100) − (2000 − 1000) = 4000.
        assert_eq!(b.network_rtt.len(), 1);
        assert!((b.network_rtt.histogram().max() as i64 - 4000).abs() < 5);
        assert_eq!(b.missing, [0; 4]);
    }

    #[test]
    fn a_lost_stamp_is_counted_and_its_figures_left_out() {
        let mut b = EchoStamps::new(10);
        b.client(ClientStamp::Sent {
            seq: 0,
            app_ns: 1000,
        });
        b.server(0, &server(0, 5000, None));
        b.client(ClientStamp::Received {
            seq: 0,
            rx_ns: None,
            app_ns: 9000,
        });
        // Reply 1 says reply 0's t3 never came.
        let mut s = server(1, 20_000, None);
        s.prev_seq = 0;
        b.server(1, &s);
        assert_eq!(b.network_rtt.len(), 0);
        assert_eq!(b.server.len(), 0);
        assert_eq!(b.missing, [1, 0, 1, 1]);
        // The run ends: echo 1 is closed with what it has.
        b.finish();
        assert_eq!(b.missing, [2, 0, 2, 2]);
    }
}
