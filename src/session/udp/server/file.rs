//! The data of a UDP file, paced by rate: which datagrams are due at an
//! instant, built back to back for one UDP GSO send within the kernel's
//! limits, and how they were sent, for the End message.

use std::time::Instant;

use super::figures::{Carried, Tally};
use super::plan::{FilePlan, GSO_MAX_SEGMENTS};
use crate::content;
use crate::proto::datagram::{
    self, DGRAM_HEADER, DgramHeader, KIND_FILE_DATA, SendInfo, SendMethod,
};
use crate::session::Pacer;

/// How a file may be sent, as its request asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSend {
    /// IP may fragment the datagrams (`--fragment`): one per send, no GSO.
    pub fragment: bool,
    /// The client allows UDP GSO (it did not ask `--no-gso`).
    pub gso: bool,
}

/// A file's send calls, for its End message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Sends {
    calls: u64,
    max_batch: u32,
    gso_used: bool,
    gso_refused: bool,
}

impl Sends {
    fn info(&self) -> SendInfo {
        SendInfo {
            method: if self.gso_used {
                SendMethod::Gso
            } else if self.gso_refused {
                SendMethod::SendtoGsoRefused
            } else {
                SendMethod::Sendto
            },
            calls: self.calls,
            max_batch: self.max_batch,
        }
    }

    fn sent(&mut self, calls: u64, largest: u64) {
        self.calls += calls;
        self.max_batch = self.max_batch.max(largest as u32);
        self.gso_used |= largest > 1;
    }
}

/// The last batch handed out, so that the driver can say how it really
/// went (see [`FileData::sent_as`], [`FileData::undo`]).
#[derive(Debug, Clone, Copy)]
struct Last {
    seq: u64,
    n: u64,
    sends: Sends,
}

/// The data datagrams of one file.
#[derive(Debug, Clone)]
pub struct FileData {
    plan: FilePlan,
    rate_bps: u64,
    pacer: Pacer,
    seq: u64,
    gso: bool,
    gso_limit: u64,
    sends: Sends,
    last: Option<Last>,
    /// The file bytes of the batch being written, generated once in one
    /// piece: small datagrams each carry a few dozen bytes, and generating
    /// each piece alone costs more than the copy.
    scratch: Vec<u8>,
}

impl FileData {
    /// The data of `plan`, at `rate_bps` (0: unpaced), sent as `how` says.
    pub fn new(plan: FilePlan, rate_bps: u64, how: FileSend, now: Instant) -> FileData {
        FileData {
            plan,
            rate_bps,
            pacer: Pacer::new(now, rate_bps),
            seq: 0,
            gso: how.gso && !how.fragment,
            gso_limit: GSO_MAX_SEGMENTS as u64,
            sends: Sends::default(),
            last: None,
            scratch: Vec::new(),
        }
    }

    /// The plan.
    pub fn plan(&self) -> &FilePlan {
        &self.plan
    }

    /// Starts the pace at `now` (as the FileReady leaves).
    pub fn start(&mut self, now: Instant) {
        self.pacer = Pacer::new(now, self.rate_bps);
    }

    /// Most datagrams per GSO send from now on (the kernel's limit, lower
    /// on older kernels).
    pub fn set_gso_limit(&mut self, n: u64) {
        self.gso_limit = n.max(1);
    }

    /// Whether every datagram has been handed out.
    pub fn done(&self) -> bool {
        self.seq >= self.plan.datagrams()
    }

    /// Datagrams handed out so far.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// When the next datagram is due (`None` when all are out).
    pub fn next_due(&self) -> Option<Instant> {
        if self.done() {
            return None;
        }
        let due = self.pacer.due(self.plan.wire(self.seq));
        Some(due.checked_sub(Pacer::EARLY).unwrap_or(due))
    }

    /// Writes into `buf` every datagram due at `now`, up to a batch, with
    /// `header` for their session and send time; how many and the segment
    /// size of a GSO send (`None`: one datagram).
    pub fn poll(
        &mut self,
        now: Instant,
        header: DgramHeader,
        buf: &mut Vec<u8>,
    ) -> Option<(u64, Option<usize>)> {
        if self.done() || self.pacer.due(self.plan.wire(self.seq)) > now + Pacer::EARLY {
            return None;
        }
        let max = if self.gso && !self.sends.gso_refused {
            self.gso_limit
        } else {
            1
        };
        let (seq, n) = (
            self.seq,
            self.plan.batch(self.seq, max, self.pacer.room(now)),
        );
        buf.clear();
        if self.plan.len(seq) as usize >= content::Window::IN_PLACE {
            // Long pieces: generated in place, each a few whole records.
            for s in seq..seq + n {
                let at = buf.len();
                let offset = self.plan.offset(s);
                datagram::append_header(buf, KIND_FILE_DATA, &header_of(header, s, offset));
                buf.resize(at + self.plan.wire(s) as usize, 0);
                content::fill(offset, &mut buf[at + DGRAM_HEADER..]);
            }
        } else {
            // Short pieces: the batch's bytes generated in one run, each
            // datagram's share copied out.
            let first = self.plan.offset(seq);
            let end = self.plan.offset(seq + n - 1) + self.plan.len(seq + n - 1);
            self.scratch.resize((end - first) as usize, 0);
            content::fill(first, &mut self.scratch);
            buf.reserve(self.scratch.len() + n as usize * DGRAM_HEADER);
            for s in seq..seq + n {
                let offset = self.plan.offset(s);
                datagram::append_header(buf, KIND_FILE_DATA, &header_of(header, s, offset));
                let at = (offset - first) as usize;
                buf.extend_from_slice(&self.scratch[at..at + self.plan.len(s) as usize]);
            }
        }
        self.last = Some(Last {
            seq,
            n,
            sends: self.sends,
        });
        self.sends.sent(1, n);
        self.pacer.count(self.plan.bytes(seq, n));
        self.seq += n;
        let segment = (n > 1).then(|| self.plan.segment() as usize);
        Some((n, segment))
    }

    /// The last batch went out in `calls` sends of at most `largest`
    /// datagrams rather than in one; with `gso_refused`, the kernel refused
    /// GSO and every later datagram goes in a send of its own.
    pub fn sent_as(&mut self, calls: u64, largest: u64, gso_refused: bool) {
        if let Some(last) = self.last {
            self.sends = last.sends;
            self.sends.sent(calls, largest);
        }
        self.sends.gso_refused |= gso_refused;
    }

    /// The last batch did not go out: it is not counted; its datagrams and
    /// bytes are returned.
    pub fn undo(&mut self) -> Tally {
        let Some(last) = self.last.take() else {
            return Tally::default();
        };
        self.sends = last.sends;
        self.seq = last.seq;
        Tally {
            datagrams: last.n,
            bytes: self.plan.bytes(last.seq, last.n),
        }
    }

    /// How the file was sent, for its End.
    pub fn info(&self) -> SendInfo {
        self.sends.info()
    }

    /// Whether the kernel refused GSO.
    pub fn gso_refused(&self) -> bool {
        self.sends.gso_refused
    }

    /// What the datagrams handed out carried.
    pub fn carried(&self) -> Carried {
        let sent = self.seq;
        let wire = self.plan.bytes(0, sent);
        let info = self.info();
        Carried {
            data: Tally {
                datagrams: sent,
                bytes: wire,
            },
            payload: wire - sent * DGRAM_HEADER as u64,
            segment: self.plan.segment(),
            gso: (info.method == SendMethod::Gso).then_some((info.calls, sent)),
        }
    }

    /// The session's end, in words.
    pub fn summary(&self) -> String {
        let info = self.info();
        format!(
            "sent {} datagrams, {} bytes in {} send calls ({}{}, up to {} per call)",
            self.seq,
            self.carried().payload,
            info.calls,
            info.method.name(),
            if self.sends.gso_refused {
                ", GSO refused by the kernel"
            } else {
                ""
            },
            info.max_batch
        )
    }
}

/// The header of data datagram `seq`, at file offset `offset`.
fn header_of(header: DgramHeader, seq: u64, offset: u64) -> DgramHeader {
    DgramHeader {
        seq: seq as u32,
        offset,
        ..header
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn data(size: u64, rate: u64, gso: bool, t0: Instant) -> FileData {
        let how = FileSend {
            fragment: false,
            gso,
        };
        FileData::new(FilePlan::new(size, 64).unwrap(), rate, how, t0)
    }

    #[test]
    fn an_unpaced_file_goes_in_full_batches() {
        let t0 = Instant::now();
        let mut f = data(130 * 36 - 5, 0, true, t0);
        let mut buf = Vec::new();
        let h = DgramHeader::default();
        assert_eq!(f.poll(t0, h, &mut buf), Some((128, Some(64))));
        assert_eq!(buf.len(), 128 * 64);
        assert_eq!(f.poll(t0, h, &mut buf), Some((2, Some(64))));
        assert_eq!(buf.len(), 64 + 59);
        let (hd, body) = datagram::decode(&buf[64..]).unwrap();
        assert_eq!((hd.seq, hd.offset), (129, 129 * 36));
        let crate::proto::datagram::Body::FileData { data } = body else {
            panic!()
        };
        content::check_at(hd.offset, &data).unwrap();
        assert_eq!(f.poll(t0, h, &mut buf), None);
        assert!(f.done());
        let i = f.info();
        assert_eq!((i.method, i.calls, i.max_batch), (SendMethod::Gso, 2, 128));
        assert_eq!(f.carried().payload, 130 * 36 - 5);
        assert_eq!(f.carried().gso, Some((2, 130)));
    }

    #[test]
    fn a_refused_gso_counts_single_sends_and_sends_singles_after() {
        let t0 = Instant::now();
        let mut f = data(130 * 36, 0, true, t0);
        let mut buf = Vec::new();
        let h = DgramHeader::default();
        assert_eq!(f.poll(t0, h, &mut buf), Some((128, Some(64))));
        f.sent_as(128, 1, true);
        assert_eq!(f.poll(t0, h, &mut buf), Some((1, None)));
        assert_eq!(f.poll(t0, h, &mut buf), Some((1, None)));
        let i = f.info();
        assert_eq!(
            (i.method, i.calls, i.max_batch),
            (SendMethod::SendtoGsoRefused, 130, 1)
        );
        assert_eq!(f.carried().gso, None);
    }

    #[test]
    fn a_paced_file_is_due_by_its_rate() {
        let t0 = Instant::now();
        // 64 bytes per datagram at 512 kbit/s: one every millisecond.
        let mut f = data(36 * 100, 512_000, true, t0);
        let mut buf = Vec::new();
        let h = DgramHeader::default();
        let ms = Duration::from_millis(1);
        assert_eq!(f.next_due(), Some(t0 + ms - Pacer::EARLY));
        assert_eq!(f.poll(t0, h, &mut buf), None, "not yet due");
        assert_eq!(f.poll(t0 + ms, h, &mut buf), Some((1, None)));
        // Ten milliseconds late: the nine due go at once, in one batch.
        assert_eq!(f.poll(t0 + ms * 10, h, &mut buf), Some((9, Some(64))));
        assert_eq!(f.poll(t0 + ms * 10, h, &mut buf), None);
        assert_eq!(f.next_due(), Some(t0 + ms * 11 - Pacer::EARLY));
        // A failed send is not counted, and is sent again.
        assert_eq!(f.poll(t0 + ms * 11, h, &mut buf), Some((1, None)));
        assert_eq!(
            f.undo(),
            Tally {
                datagrams: 1,
                bytes: 64
            }
        );
        assert_eq!(f.seq(), 10);
    }
}
