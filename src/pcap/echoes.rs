//! The stamped echoes of a capture: which frame carried each request and
//! each reply, and when the capture saw it, found by the lab's own framing
//! in the frames' payloads (pure code: frames in, echoes out).
//!
//! - **UDP**: one message per datagram; a StampedEchoRequest (0x2F) or
//!   StampedEchoReply (0x30) carries its echo's number in the header's
//!   sequence field.
//! - **TCP**: each direction of each connection is a byte stream of
//!   framed messages (8-byte header, body length in it). The stream's
//!   offsets come from the segments' sequence numbers (from the SYN when
//!   the capture holds it, else from the first segment, which must start
//!   a message); the header of each message must lie in the bytes the
//!   capture kept. A StampedEchoRequest (0x0F) or StampedEchoReply (0x10)
//!   is the echo its body's first four bytes name, and its frame is the
//!   one that carries its last byte: the segment the kernel's TX stamp
//!   (t1) and RX stamp (t4) of that message are taken for.
//!
//! A segment that starts below the highest byte already seen in its
//! direction is a retransmission and is passed over: the first copy
//! counts. A direction whose next message header the capture cut off or
//! never held (a frame the ring dropped) is given up from there on and
//! counted in [`EchoScan::lost_streams`]: its later echoes are missing,
//! never guessed.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use super::dissect::carried::{Carried, carried};
use super::error::PcapError;
use super::read::{CaptureReader, Frame, Record};

/// The lab protocol's magic, the first two bytes of every message.
const MAGIC: [u8; 2] = [0xAD, 0xE1];
/// TCP framing: header length, and the kinds of a stamped echo.
const TCP_HEADER: u64 = 8;
const TCP_REQUEST: u8 = 0x0F;
const TCP_REPLY: u8 = 0x10;
/// UDP framing: the kinds of a stamped echo.
const UDP_REQUEST: u8 = 0x2F;
const UDP_REPLY: u8 = 0x30;

/// Which message of an echo a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The client's request.
    Request,
    /// The server's reply.
    Reply,
}

/// A frame that carries (the last byte of) a stamped echo message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoFrame {
    /// The frame's place in the capture, from 0.
    pub index: u64,
    /// When the capture saw it, ns since the Unix epoch.
    pub t_ns: Option<u64>,
    /// Request or reply.
    pub side: Side,
    /// The echo's number.
    pub seq: u32,
}

/// What a capture holds of stamped echoes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EchoScan {
    /// Every echo message's frame, in capture order (retransmitted or
    /// repeated ones too, each once per frame).
    pub frames: Vec<EchoFrame>,
    /// TCP directions whose framing was lost partway (a message header cut
    /// off or never captured).
    pub lost_streams: u64,
    /// Frames read.
    pub frames_read: u64,
}

impl EchoScan {
    /// The first time each echo's `side` was seen, by echo number.
    pub fn first_times(&self, side: Side) -> BTreeMap<u32, u64> {
        let mut out = BTreeMap::new();
        for f in self.frames.iter().filter(|f| f.side == side) {
            if let Some(t) = f.t_ns {
                out.entry(f.seq).or_insert(t);
            }
        }
        out
    }
}

/// One TCP direction's framing.
#[derive(Debug, Default)]
struct Stream {
    /// The sequence number of stream offset 0.
    base: Option<u32>,
    /// The highest stream offset seen (exclusive).
    highest: u64,
    /// Where the next message starts.
    next: u64,
    /// The message under way: its echo (if it is one) and its end.
    pending: Option<(Option<(Side, u32)>, u64)>,
    /// The framing was lost.
    lost: bool,
}

/// Reads stamped echoes out of frames, one at a time.
#[derive(Debug, Default)]
pub struct EchoScanner {
    streams: HashMap<(u16, u16), Stream>,
    scan: EchoScan,
}

impl EchoScanner {
    /// An empty scanner.
    pub fn new() -> EchoScanner {
        EchoScanner::default()
    }

    /// Looks at the next frame of the capture.
    pub fn add(&mut self, frame: &Frame<'_>) {
        let index = self.scan.frames_read;
        self.scan.frames_read += 1;
        let Some(c) = carried(frame) else {
            return;
        };
        let mut emit = |side, seq| {
            self.scan.frames.push(EchoFrame {
                index,
                t_ns: frame.timestamp_ns,
                side,
                seq,
            })
        };
        match c.tcp {
            None => {
                if let Some((side, seq)) = udp_echo(c.payload) {
                    emit(side, seq);
                }
            }
            Some((seq, syn)) => {
                let s = self.streams.entry(c.ports).or_default();
                let was_lost = s.lost;
                s.segment(seq, syn, &c, &mut emit);
                if s.lost && !was_lost {
                    self.scan.lost_streams += 1;
                }
            }
        }
    }

    /// What was found.
    pub fn finish(self) -> EchoScan {
        self.scan
    }
}

/// The echo a UDP payload is, if it is a stamped one.
fn udp_echo(p: &[u8]) -> Option<(Side, u32)> {
    if p.len() < 12 || p[..2] != MAGIC {
        return None;
    }
    let side = match p[3] {
        UDP_REQUEST => Side::Request,
        UDP_REPLY => Side::Reply,
        _ => return None,
    };
    Some((side, u32::from_be_bytes([p[8], p[9], p[10], p[11]])))
}

impl Stream {
    /// One segment of this direction: the messages it completes, and the
    /// headers it starts.
    fn segment(&mut self, seq: u32, syn: bool, c: &Carried<'_>, emit: &mut impl FnMut(Side, u32)) {
        if syn {
            *self = Stream {
                base: Some(seq.wrapping_add(1)),
                ..Stream::default()
            };
            return;
        }
        if self.lost || c.wire_len == 0 {
            return;
        }
        let base = *self.base.get_or_insert(seq);
        let off = u64::from(seq.wrapping_sub(base));
        let end = off + c.wire_len;
        if off < self.highest {
            return;
        }
        self.highest = end;
        loop {
            if let Some((echo, msg_end)) = self.pending {
                if msg_end > end {
                    return;
                }
                if let Some((side, n)) = echo {
                    emit(side, n);
                }
                self.pending = None;
            }
            if self.next >= end {
                return;
            }
            let Some(at) = self.next.checked_sub(off) else {
                self.lost = true;
                return;
            };
            let h = usize::try_from(at)
                .ok()
                .and_then(|at| c.payload.get(at..at + TCP_HEADER as usize));
            let Some(h) = h.filter(|h| h[..2] == MAGIC) else {
                self.lost = true;
                return;
            };
            let len = u64::from(u32::from_be_bytes([h[4], h[5], h[6], h[7]]));
            let side = match h[3] {
                TCP_REQUEST => Some(Side::Request),
                TCP_REPLY => Some(Side::Reply),
                _ => None,
            };
            let body = at as usize + TCP_HEADER as usize;
            let echo = match side {
                Some(side) => match c.payload.get(body..body + 4) {
                    Some(b) => Some((side, u32::from_be_bytes([b[0], b[1], b[2], b[3]]))),
                    None => {
                        self.lost = true;
                        return;
                    }
                },
                None => None,
            };
            self.next += TCP_HEADER + len;
            self.pending = Some((echo, self.next));
        }
    }
}

/// Scans the capture at `path`.
pub fn scan_path(path: &Path) -> Result<EchoScan, PcapError> {
    let file = File::open(path).map_err(|source| PcapError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    scan_reader(BufReader::new(file))
}

/// Scans a capture read from `r`.
pub fn scan_reader<R: Read>(r: R) -> Result<EchoScan, PcapError> {
    let mut reader = CaptureReader::new(r)?;
    let mut scanner = EchoScanner::new();
    while let Some(record) = reader.next_record() {
        match record? {
            Record::Frame(f) => scanner.add(&f),
            Record::Malformed(_) => scanner.scan.frames_read += 1,
        }
    }
    Ok(scanner.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcap::model::{Direction, FrameLog, TcpFlow};
    use crate::pcap::read::LinkType;
    use crate::proto::Message;
    use crate::proto::codec::encode;

    fn request(seq: u32, len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let data = vec![7u8; len];
        encode(&Message::StampedEchoRequest { seq, data }, &mut out).unwrap();
        out
    }

    fn scan(log: &FrameLog) -> EchoScan {
        let mut s = EchoScanner::new();
        for f in &log.frames {
            s.add(&Frame {
                link: LinkType::ETHERNET,
                interface: 0,
                timestamp_ns: Some(f.t_ns),
                original_len: f.original_len,
                data: &f.data,
            });
        }
        s.finish()
    }

    fn flow(mss: u32) -> TcpFlow {
        let client = "127.0.0.1:40000".parse().unwrap();
        let server = "127.0.0.1:5005".parse().unwrap();
        TcpFlow::new(client, server, mss, false).unwrap()
    }

    #[test]
    fn a_tcp_message_is_timed_by_the_segment_with_its_last_byte() {
        let mut log = FrameLog::new(256);
        let mut f = flow(100);
        f.handshake(&mut log, 1_000).unwrap();
        // 312 bytes at an MSS of 100: four segments, the last at index 6.
        f.send(&mut log, Direction::ToServer, &request(0, 300), 2_000, "r0")
            .unwrap();
        // Two messages in one send: one segment holds both.
        let mut two = request(1, 10);
        two.extend(request(2, 10));
        f.send(&mut log, Direction::ToServer, &two, 3_000, "r1 r2")
            .unwrap();
        let s = scan(&log);
        let got: Vec<(Side, u32, u64)> = s
            .frames
            .iter()
            .map(|e| (e.side, e.seq, e.t_ns.unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Side::Request, 0, 2_000),
                (Side::Request, 1, 3_000),
                (Side::Request, 2, 3_000)
            ]
        );
        let data_frames: Vec<usize> = log
            .frames
            .iter()
            .enumerate()
            .filter(|(_, f)| f.comment.starts_with("r0") && f.original_len > 54)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(s.frames[0].index, *data_frames.last().unwrap() as u64);
        assert_eq!(s.lost_streams, 0);
    }

    #[test]
    fn a_header_the_snap_length_cut_off_loses_the_stream_and_guesses_nothing() {
        let mut log = FrameLog::new(128);
        let mut f = flow(1460);
        f.handshake(&mut log, 1_000).unwrap();
        let mut two = request(1, 200);
        two.extend(request(2, 10));
        f.send(&mut log, Direction::ToServer, &two, 3_000, "r1 r2")
            .unwrap();
        f.send(&mut log, Direction::ToServer, &request(3, 10), 4_000, "r3")
            .unwrap();
        let s = scan(&log);
        assert_eq!(s.frames.len(), 1, "{:?}", s.frames);
        assert_eq!((s.frames[0].side, s.frames[0].seq), (Side::Request, 1));
        assert_eq!(s.lost_streams, 1);
    }
}
