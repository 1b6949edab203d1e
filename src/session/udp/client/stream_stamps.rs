//! A stamped UDP stream's kernel stamps at the client: each segment's RX
//! stamp, handed in by the driver with the datagram, and the server's TX
//! stamps that StreamStamps datagrams carry, paired by sequence number
//! with the bookkeeping of the TCP stream
//! ([`crate::session::tcp::stream_stamps`]), so both report alike.
//!
//! Over UDP every segment is a datagram of its own, and so is every
//! StreamStamps: either may be lost, doubled or come out of order. A
//! segment counts once (its first copy's RX stamp), a stamp once (the
//! first StreamStamps that carries it; each rides in several); a segment
//! whose stamp never came is counted missing, never guessed.

use crate::session::tcp::stream_stamps::{ReceivedStamps, StampPairs};

/// The client's stamps of one stamped stream.
#[derive(Debug, Clone)]
pub struct StreamStamps {
    pairs: ReceivedStamps,
    /// Which segments' TX stamps came, by sequence number.
    stamped: Vec<bool>,
    /// The RX stamp of the datagram being handed in.
    rx: Option<u64>,
}

impl StreamStamps {
    /// For a stream of `count` segments.
    pub fn new(count: u32) -> StreamStamps {
        StreamStamps {
            pairs: ReceivedStamps::default(),
            stamped: vec![false; count as usize],
            rx: None,
        }
    }

    /// The datagram about to be handed in came with RX stamp `rx_ns`.
    pub fn rx(&mut self, rx_ns: Option<u64>) {
        self.rx = rx_ns;
    }

    /// Segment `seq` arrived for the first time, in the datagram whose RX
    /// stamp was handed in.
    pub fn segment(&mut self, seq: u32) {
        self.pairs.read(self.rx.take());
        self.pairs.segment(seq);
        self.pairs.end_read();
    }

    /// A StreamStamps arrived with these `(seq, tx_ns)`.
    pub fn stamps(&mut self, stamps: &[(u32, u64)]) {
        self.rx = None;
        for &(seq, ns) in stamps {
            match self.stamped.get_mut(seq as usize) {
                Some(seen) if !*seen && ns > 0 => {
                    *seen = true;
                    self.pairs.stamp(seq, ns);
                }
                _ => {}
            }
        }
    }

    /// What the stream's stamps came to: `carried` counts distinct stamps.
    pub fn finish(self) -> StampPairs {
        self.pairs.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_segment_and_each_stamp_counts_once_in_any_order() {
        let mut s = StreamStamps::new(4);
        // Stamp of 1 before segment 1; segment 0, then its stamp twice.
        s.stamps(&[(1, 1_900)]);
        s.rx(Some(1_000));
        s.segment(0);
        s.stamps(&[(1, 1_900), (0, 900)]);
        s.stamps(&[(0, 900), (9, 5)]);
        s.rx(Some(2_000));
        s.segment(1);
        // Segment 2 without an RX stamp, its stamp came; segment 3's never.
        s.rx(None);
        s.segment(2);
        s.stamps(&[(2, 2_900)]);
        s.rx(Some(4_000));
        s.segment(3);
        let p = s.finish();
        assert_eq!(p.pairs, vec![(900, 1_000), (1_900, 2_000)]);
        assert_eq!((p.no_rx, p.no_tx, p.carried), (1, 1, 3));
    }
}
