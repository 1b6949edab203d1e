//! The receive side of a UDP file: the server verifying a file a client
//! uploads to it, datagram by datagram, whatever order they arrive in.
//!
//! Each FileData datagram says where its bytes start; they must be the
//! generated content there ([`crate::content`]) and lie on the plan's grid.
//! Duplicates are counted once; what never came is lost. Pure: the
//! datagrams and the time come from the driver.

use super::plan::FilePlan;
use crate::content;
use crate::proto::datagram::{Body, DgramHeader};

/// What one datagram did to the received file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// New bytes, verified.
    New,
    /// A datagram already received.
    Duplicate,
    /// Bytes that are not the content at their offset, or not where the
    /// plan puts datagram `seq`.
    Corrupt,
    /// Not file data of this file.
    Other,
}

/// A file being received.
#[derive(Debug, Clone)]
pub struct FileReceive {
    plan: FilePlan,
    seen: Vec<u64>,
    /// Distinct datagrams received and verified.
    pub received: u64,
    /// File bytes among them.
    pub bytes: u64,
    /// Copies of datagrams already received.
    pub duplicates: u64,
    /// Datagrams whose bytes did not verify.
    pub corrupt: u64,
    /// Datagrams that arrived after one with a higher sequence number.
    pub reordered: u64,
    highest: Option<u64>,
}

impl FileReceive {
    /// Expects the file of `plan`.
    pub fn new(plan: FilePlan) -> FileReceive {
        FileReceive {
            seen: vec![0; plan.datagrams().div_ceil(64) as usize],
            plan,
            received: 0,
            bytes: 0,
            duplicates: 0,
            corrupt: 0,
            reordered: 0,
            highest: None,
        }
    }

    /// Takes one datagram.
    pub fn handle(&mut self, h: &DgramHeader, body: &Body) -> Verdict {
        let Body::FileData { data } = body else {
            return Verdict::Other;
        };
        let seq = u64::from(h.seq);
        if seq >= self.plan.datagrams()
            || h.offset != self.plan.offset(seq)
            || data.len() as u64 != self.plan.len(seq)
            || content::check_at(h.offset, data).is_err()
        {
            self.corrupt += 1;
            return Verdict::Corrupt;
        }
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if self.seen[word] & bit != 0 {
            self.duplicates += 1;
            return Verdict::Duplicate;
        }
        self.seen[word] |= bit;
        self.received += 1;
        self.bytes += data.len() as u64;
        if self.highest.is_some_and(|hi| hi > seq) {
            self.reordered += 1;
        }
        self.highest = Some(self.highest.map_or(seq, |hi| hi.max(seq)));
        Verdict::New
    }

    /// Whether every datagram has arrived.
    pub fn complete(&self) -> bool {
        self.received == self.plan.datagrams()
    }

    /// Datagrams that have not arrived (lost, once the sender has ended).
    pub fn missing(&self) -> u64 {
        self.plan.datagrams() - self.received
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(plan: &FilePlan, seq: u64) -> (DgramHeader, Body) {
        let offset = plan.offset(seq);
        let mut data = vec![0; plan.len(seq) as usize];
        content::fill(offset, &mut data);
        let h = DgramHeader {
            seq: seq as u32,
            offset,
            ..DgramHeader::default()
        };
        (h, Body::FileData { data })
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
        assert_eq!((r.received, r.duplicates, r.missing()), (9, 1, 1));
        assert!(r.reordered >= 3);
        let (h, b) = datagram(&plan, 9);
        assert_eq!(r.handle(&h, &b), Verdict::New);
        assert!(r.complete());
        assert_eq!(r.bytes, 1000);
        // Wrong bytes, wrong place, beyond the end.
        let (h, _) = datagram(&plan, 2);
        let bad = Body::FileData { data: vec![0; 100] };
        assert_eq!(r.handle(&h, &bad), Verdict::Corrupt);
        let (mut h, b) = datagram(&plan, 2);
        h.offset += 1;
        assert_eq!(r.handle(&h, &b), Verdict::Corrupt);
        h.seq = 10;
        assert_eq!(r.handle(&h, &b), Verdict::Corrupt);
        assert_eq!(r.handle(&h, &Body::Hello), Verdict::Other);
        assert_eq!(r.corrupt, 3);
    }
}
