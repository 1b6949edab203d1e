//! The receive side of a UDP file: the server verifying a file a client
//! uploads to it, datagram by datagram, whatever order they arrive in.
//!
//! Each FileData datagram says where its bytes start; they must be the
//! generated content there ([`crate::content`]) and lie on the plan's grid.
//! Which datagrams arrived is an [`Arrivals`] bitmap that grows with the
//! highest sequence number seen, so a timed upload with no size cap costs
//! only what it sends. Duplicates are counted once; what never came is
//! lost. Pure: the datagrams and the time come from the driver.

use super::plan::FilePlan;
use crate::arrivals::{Arrival, Arrivals};
use crate::content::{self, Mismatch};
use crate::proto::datagram::DgramHeader;

/// What one datagram did to the received file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// New bytes, verified.
    New,
    /// A datagram already received.
    Duplicate,
    /// Bytes that are not the content at their offset (the first wrong
    /// byte), or not where the plan puts datagram `seq` (its offset, with
    /// `expected` and `found` both 0).
    Corrupt(Mismatch),
}

/// A file being received.
#[derive(Debug, Clone)]
pub struct FileReceive {
    plan: FilePlan,
    arrivals: Arrivals,
    /// File bytes among the distinct datagrams received.
    pub bytes: u64,
    /// Datagrams whose bytes did not verify.
    pub corrupt: u64,
    /// FileData datagrams that arrived, copies and corrupt ones included,
    /// and their UDP payload bytes.
    pub data: (u64, u64),
    /// The expected bytes around the latest datagram's.
    window: content::Window,
}

impl FileReceive {
    /// Expects the file of `plan` (its size a cap: a timed upload with no
    /// cap has a plan of `u64::MAX` bytes).
    pub fn new(plan: FilePlan) -> FileReceive {
        FileReceive {
            arrivals: Arrivals::new(plan.datagrams()),
            plan,
            bytes: 0,
            corrupt: 0,
            data: (0, 0),
            window: content::Window::new(),
        }
    }

    /// Takes one FileData datagram: its header and its file bytes.
    pub fn handle(&mut self, h: &DgramHeader, data: &[u8]) -> Verdict {
        let seq = u64::from(h.seq);
        self.data.0 += 1;
        self.data.1 += (crate::proto::datagram::DGRAM_HEADER + data.len()) as u64;
        let misplaced = Mismatch {
            offset: h.offset,
            expected: 0,
            found: 0,
        };
        if seq >= self.plan.datagrams()
            || h.offset != self.plan.offset(seq)
            || data.len() as u64 != self.plan.len(seq)
        {
            self.corrupt += 1;
            return Verdict::Corrupt(misplaced);
        }
        if let Err(m) = self.window.check(h.offset, data) {
            self.corrupt += 1;
            return Verdict::Corrupt(m);
        }
        match self.arrivals.record(seq) {
            Arrival::Duplicate => Verdict::Duplicate,
            Arrival::OutOfRange => {
                self.corrupt += 1;
                Verdict::Corrupt(misplaced)
            }
            Arrival::New | Arrival::Reordered => {
                self.bytes += data.len() as u64;
                Verdict::New
            }
        }
    }

    /// Which datagrams arrived.
    pub fn arrivals(&self) -> &Arrivals {
        &self.arrivals
    }

    /// Distinct datagrams received and verified.
    pub fn received(&self) -> u64 {
        self.arrivals.received()
    }

    /// Whether every datagram of the plan has arrived.
    pub fn complete(&self) -> bool {
        self.received() == self.plan.datagrams()
    }

    /// Datagrams of the plan that have not arrived.
    pub fn missing(&self) -> u64 {
        self.plan.datagrams() - self.received()
    }

    /// The plan's datagrams (the cap's).
    pub fn planned(&self) -> u64 {
        self.plan.datagrams()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(plan: &FilePlan, seq: u64) -> (DgramHeader, Vec<u8>) {
        let offset = plan.offset(seq);
        let mut data = vec![0; plan.len(seq) as usize];
        content::fill(offset, &mut data);
        let h = DgramHeader {
            seq: seq as u32,
            offset,
            ..DgramHeader::default()
        };
        (h, data)
    }

    #[test]
    fn every_datagram_is_verified_once_in_any_order() {
        let plan = FilePlan::new(1000, 128).unwrap();
        let mut r = FileReceive::new(plan);
        for seq in [3, 0, 1, 1, 2, 5, 4, 7, 6, 8] {
            let (h, b) = datagram(&plan, seq);
            r.handle(&h, &b);
        }
        assert_eq!(plan.datagrams(), 10);
        let a = r.arrivals();
        assert_eq!((a.received(), a.duplicates(), a.lost(10)), (9, 1, 1));
        assert!(a.reordered() >= 3);
        let (h, b) = datagram(&plan, 9);
        assert_eq!(r.handle(&h, &b), Verdict::New);
        assert_eq!((r.received(), r.bytes), (10, 1000));
        // Wrong bytes, wrong place, beyond the end.
        let (h, _) = datagram(&plan, 2);
        let Verdict::Corrupt(m) = r.handle(&h, &[0; 100]) else {
            panic!("zeros are not the content")
        };
        assert!(m.offset >= 200 && m.offset < 300, "{m}");
        let (mut h, b) = datagram(&plan, 2);
        h.offset += 1;
        assert!(matches!(r.handle(&h, &b), Verdict::Corrupt(m) if m.offset == 201));
        h.seq = 10;
        assert!(matches!(r.handle(&h, &b), Verdict::Corrupt(_)));
        assert_eq!(r.corrupt, 3);
        assert_eq!(r.data.0, 14);
    }

    #[test]
    fn an_uncapped_plan_tracks_only_what_arrives() {
        let plan = FilePlan::new(u64::MAX, 1028).unwrap();
        let mut r = FileReceive::new(plan);
        for seq in [0, 1, 5] {
            let (h, b) = datagram(&plan, seq);
            assert_eq!(r.handle(&h, &b), Verdict::New);
        }
        assert_eq!(r.arrivals().lost(6), 3);
        assert_eq!(r.bytes, 3 * 1000);
    }
}
