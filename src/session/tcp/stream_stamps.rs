//! The kernel stamps of a stamped stream (asked for with a
//! StampedStreamRequest): the server's kernel TX stamp of each segment and
//! the client's kernel RX stamp of it, paired by sequence number. Pure
//! bookkeeping of what the drivers read and hand in, with no socket and no
//! clock.
//!
//! The server learns a segment's TX stamp only after it sent it, so a
//! StreamStamp carrying it rides in the next segment's write, and the last
//! segment's in a write of its own with the StreamEnd, [`TAIL_WAIT`] after
//! it. A stamp that had not come by then is carried as 0 and the client
//! counts it missing; nothing is guessed.
//!
//! Over TCP one read may return several segments, and its RX stamp is the
//! arrival of the last bytes it returned: the stamp is given to the last
//! segment that read completed, and the others are counted without one.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::proto::{Message, codec};

/// How long after the last segment the server waits for its TX stamp
/// before the stream's end goes (software stamps come within
/// microseconds).
pub const TAIL_WAIT: Duration = Duration::from_millis(2);

/// Bytes a StreamStamp takes on the wire: the header and 12 bytes.
pub const STAMP_MESSAGE_LEN: u64 = crate::proto::HEADER_LEN as u64 + 12;

/// The server's side: TX stamps the driver matched, carried by the next
/// write.
#[derive(Debug, Clone, Default)]
pub struct SentStamps {
    /// The latest segment whose stamp came, and the stamp.
    tx: Option<(u32, u64)>,
    /// The segment just written, whose send asks for a TX stamp.
    pending: Option<u32>,
}

impl SentStamps {
    /// The kernel's TX stamp of segment `seq`.
    pub fn tx(&mut self, seq: u32, ns: u64) {
        self.tx = Some((seq, ns));
    }

    /// Appends the StreamStamp of segment `seq` to `buf` (0: no stamp came).
    pub fn carry(&self, seq: u32, buf: &mut Vec<u8>) {
        let tx_ns = self.tx.filter(|(s, _)| *s == seq).map_or(0, |(_, ns)| ns);
        let _ = codec::encode(&Message::StreamStamp { seq, tx_ns }, buf);
    }

    /// Segment `seq` was just written: its send asks for a TX stamp.
    pub fn written(&mut self, seq: u32) {
        self.pending = Some(seq);
    }

    /// The segment the write just polled holds, once.
    pub fn take_pending(&mut self) -> Option<u32> {
        self.pending.take()
    }
}

/// What the client's stamps of a stream came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StampPairs {
    /// (server's TX stamp, client's RX stamp) of every segment with both,
    /// in order, ns since the Unix epoch, each on its host's clock.
    pub pairs: Vec<(u64, u64)>,
    /// Segments that arrived without an RX stamp of their own.
    pub no_rx: u64,
    /// Segments whose TX stamp did not come.
    pub no_tx: u64,
    /// StreamStamp messages that came.
    pub carried: u64,
}

/// The client's side: RX stamps of segments and the TX stamps that follow.
#[derive(Debug, Clone, Default)]
pub struct ReceivedStamps {
    /// The RX stamp of the read being handed over.
    read_rx: Option<u64>,
    /// Segments completed by that read.
    this_read: Vec<u32>,
    /// Segments whose RX side is settled, awaiting their TX stamp.
    rx: BTreeMap<u32, Option<u64>>,
    /// TX stamps that came before their segment's RX side was settled.
    tx: BTreeMap<u32, u64>,
    out: StampPairs,
}

impl ReceivedStamps {
    /// The bytes about to be handed over came in a read with RX stamp
    /// `rx_ns` (`None`: the kernel gave none).
    pub fn read(&mut self, rx_ns: Option<u64>) {
        self.read_rx = rx_ns;
    }

    /// Segment `seq` was completed by the read being handed over.
    pub fn segment(&mut self, seq: u32) {
        self.this_read.push(seq);
    }

    /// The StreamStamp of segment `seq` came.
    pub fn stamp(&mut self, seq: u32, tx_ns: u64) {
        self.out.carried += 1;
        match self.rx.remove(&seq) {
            Some(rx) => self.pair(tx_ns, rx),
            None => {
                self.tx.insert(seq, tx_ns);
            }
        }
    }

    /// The read was handed over whole: its RX stamp goes to the last
    /// segment it completed.
    pub fn end_read(&mut self) {
        let last = self.this_read.last().copied();
        for seq in std::mem::take(&mut self.this_read) {
            let rx = if Some(seq) == last {
                self.read_rx
            } else {
                None
            };
            match self.tx.remove(&seq) {
                Some(tx) => self.pair(tx, rx),
                None => {
                    self.rx.insert(seq, rx);
                }
            }
        }
        self.read_rx = None;
    }

    fn pair(&mut self, tx_ns: u64, rx: Option<u64>) {
        match (tx_ns, rx) {
            (0, _) => self.out.no_tx += 1,
            (_, None) => self.out.no_rx += 1,
            (tx, Some(rx)) => self.out.pairs.push((tx, rx)),
        }
    }

    /// The stream is over: a segment whose TX stamp never came is counted.
    pub fn finish(mut self) -> StampPairs {
        self.end_read();
        self.out.no_tx += self.rx.len() as u64;
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_segment_pairs_with_the_stamp_that_follows_it() {
        let mut r = ReceivedStamps::default();
        // Segment 0 alone in a read; its stamp rides with segment 1.
        r.read(Some(1_000));
        r.segment(0);
        r.end_read();
        r.read(Some(2_000));
        r.stamp(0, 900);
        r.segment(1);
        r.end_read();
        // Segment 1's stamp did not come (0); segments 2 and 3 came in one
        // read: 3 gets its stamp, 2 none.
        r.read(Some(4_000));
        r.stamp(1, 0);
        r.segment(2);
        r.stamp(2, 2_900);
        r.segment(3);
        r.end_read();
        r.read(Some(5_000));
        r.stamp(3, 3_900);
        r.end_read();
        let p = r.finish();
        assert_eq!(p.pairs, vec![(900, 1_000), (3_900, 4_000)]);
        assert_eq!((p.no_rx, p.no_tx, p.carried), (1, 1, 4));
    }

    #[test]
    fn a_stamp_that_never_comes_is_counted_at_the_end() {
        let mut r = ReceivedStamps::default();
        r.read(None);
        r.segment(0);
        r.end_read();
        let p = r.finish();
        assert_eq!((p.pairs.len(), p.no_rx, p.no_tx, p.carried), (0, 0, 1, 0));
    }

    #[test]
    fn the_server_carries_only_the_stamp_of_the_segment_named() {
        let mut s = SentStamps::default();
        s.written(0);
        assert_eq!(s.take_pending(), Some(0));
        assert_eq!(s.take_pending(), None);
        s.tx(0, 77);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        s.carry(0, &mut a);
        s.carry(1, &mut b);
        let m = |v: &[u8]| codec::decode(v).unwrap().unwrap().0;
        assert_eq!(m(&a), Message::StreamStamp { seq: 0, tx_ns: 77 });
        assert_eq!(m(&b), Message::StreamStamp { seq: 1, tx_ns: 0 });
        assert_eq!(a.len() as u64, STAMP_MESSAGE_LEN);
    }
}
