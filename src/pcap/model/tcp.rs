//! One TCP connection as the model sends it: the handshake, data cut at the
//! MSS, the receiver's ACKs and the teardown, with sequence numbers,
//! acknowledgements, windows and timestamps that agree through the session.
//!
//! What each segment carries, as Linux writes it (see also
//! [`crate::wire::tcp`]):
//!
//! ```text
//! SYN, SYN-ACK with timestamps:    MSS | SACK-perm, TS | NOP, WS 7        20 bytes of options
//! SYN, SYN-ACK without timestamps: MSS | NOP, NOP, SACK-perm | NOP, WS 7  12 bytes
//! every later segment:             NOP, NOP, TS                           12 bytes, or none
//! ```
//!
//! - Data segments carry the MSS less the options of a later segment: 1448
//!   bytes at an MSS of 1460 with timestamps. The last segment of each send
//!   has PSH set, as Linux sets it at the end of a `write`.
//! - The receiver sends a pure ACK after every second data segment and
//!   after the last segment of each send (delayed ACKs, RFC 9293 §3.8.6.3).
//! - The initial sequence numbers, the timestamp offsets and the first
//!   IPv4 identification of each side are derived from the ports: random-
//!   looking, and the same on every run.
//! - The window: the SYNs offer the largest multiple of the MSS below
//!   65536 (Linux rounds its initial window to the MSS); later segments
//!   advertise a constant window of at least 64 KiB and four segments,
//!   scaled by 2^7. With an ACK every two segments, the data in flight
//!   never reaches it.
//! - TSval is the sender's millisecond clock (`t_ns / 10^6`) plus its
//!   offset, never going back; TSecr echoes the peer's latest TSval.
//! - Teardown is FIN, ACK, FIN, ACK: each side closes on its own.
//!
//! Every frame of one call shares its timestamp: the model has no link
//! clock to spread them by.

use etherparse::{IpNumber, TcpHeader, TcpOptionElement};

use super::headers::{Endpoints, IpFields, flow_seed};
use super::{Direction, FrameSink, ModelError, ModelFrame, Payload};
use crate::wire::checksum;

/// Linux's smallest MSS (`TCP_MIN_MSS`).
pub const MIN_MSS: u32 = 88;
/// Largest MSS: a 65535-byte IPv4 packet less 40 bytes of headers.
pub const MAX_MSS: u32 = 65_495;
/// The window scale both sides offer (Linux's usual shift).
pub const WINDOW_SCALE: u8 = 7;
/// Options of a segment after the SYNs, with timestamps: NOP, NOP, TS.
const TIMESTAMP_OPTIONS_LEN: u32 = 12;
/// The smallest window a side advertises after the handshake.
const MIN_WINDOW: u32 = 65_536;

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No SYN sent yet.
    Idle,
    /// The handshake is done; data may flow.
    Open,
    /// Both FINs were sent and acknowledged.
    Closed,
}

/// One side's sending state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Side {
    /// Initial sequence number.
    isn: u32,
    /// Next sequence number to send (`SND.NXT`).
    next_seq: u32,
    /// Next IPv4 identification.
    ip_id: u16,
    /// Added to the millisecond clock to make TSval.
    ts_offset: u32,
    /// The latest millisecond clock reading used, so TSval never goes back.
    ts_ms: u64,
    /// The latest TSval sent; the peer echoes it.
    last_tsval: u32,
    /// The right edge of the window this side last advertised, in the
    /// peer's sequence space: the peer sends no byte at or past it.
    window_edge: u32,
}

/// The fields of one segment that vary.
#[derive(Debug, Clone, Copy)]
struct Segment<'c> {
    dir: Direction,
    syn: bool,
    fin: bool,
    psh: bool,
    ack: bool,
    len: usize,
    comment: &'c str,
}

impl<'c> Segment<'c> {
    /// A pure ACK (or data, once `len` and `psh` are set) in `dir`.
    const fn ack(dir: Direction, comment: &'c str) -> Segment<'c> {
        Segment {
            dir,
            syn: false,
            fin: false,
            psh: false,
            ack: true,
            len: 0,
            comment,
        }
    }
}

/// One TCP connection between a client and a server.
#[derive(Debug, Clone)]
pub struct TcpFlow {
    ends: Endpoints,
    mss: u32,
    timestamps: bool,
    state: State,
    /// Index 0: the client; 1: the server.
    sides: [Side; 2],
    /// The frame being built: one segment, headers and whole payload.
    buf: Vec<u8>,
}

impl TcpFlow {
    /// A connection from `client` to `server` whose sides both offer `mss`
    /// (the MSS option: payload bytes without options), with or without the
    /// timestamps option.
    pub fn new(
        client: std::net::SocketAddr,
        server: std::net::SocketAddr,
        mss: u32,
        timestamps: bool,
    ) -> Result<TcpFlow, ModelError> {
        let ends = Endpoints::new(client, server)?;
        if !(MIN_MSS..=MAX_MSS).contains(&mss) {
            return Err(ModelError::MssOutOfRange {
                mss,
                min: MIN_MSS,
                max: MAX_MSS,
            });
        }
        let side = |salt: u64| {
            let seed = flow_seed(&ends, salt);
            let isn = seed as u32;
            Side {
                isn,
                next_seq: isn,
                ip_id: (seed >> 32) as u16,
                ts_offset: (seed >> 48) as u32 * 0x1_0001,
                ts_ms: 0,
                last_tsval: 0,
                window_edge: isn,
            }
        };
        Ok(TcpFlow {
            ends,
            mss,
            timestamps,
            state: State::Idle,
            sides: [side(1), side(2)],
            buf: Vec::new(),
        })
    }

    /// Payload bytes in a full data segment: the MSS less the options every
    /// segment after the SYNs carries.
    pub fn segment_payload(&self) -> u32 {
        if self.timestamps {
            self.mss - TIMESTAMP_OPTIONS_LEN
        } else {
            self.mss
        }
    }

    /// The window both sides advertise after the handshake, in bytes.
    pub fn window(&self) -> u32 {
        let w = MIN_WINDOW.max(4 * self.segment_payload());
        w.div_ceil(1 << WINDOW_SCALE) << WINDOW_SCALE
    }

    /// The initial sequence number of the side that sends in `dir`.
    pub fn isn(&self, dir: Direction) -> u32 {
        self.sides[dir.sender()].isn
    }

    /// The next sequence number the side that sends in `dir` will use.
    pub fn next_seq(&self, dir: Direction) -> u32 {
        self.sides[dir.sender()].next_seq
    }

    /// SYN, SYN-ACK, ACK at `t_ns`.
    pub fn handshake(&mut self, sink: &mut impl FrameSink, t_ns: u64) -> Result<(), ModelError> {
        self.handshake_at(sink, [t_ns; 3])
    }

    /// SYN, SYN-ACK and ACK, each at its own time (`[syn, syn_ack, ack]`,
    /// in that order), so that a reader's initial round trip (Wireshark's
    /// `tcp.analysis.initial_rtt`, SYN to ACK) is the one measured.
    pub fn handshake_at(
        &mut self,
        sink: &mut impl FrameSink,
        [syn_ns, syn_ack_ns, ack_ns]: [u64; 3],
    ) -> Result<(), ModelError> {
        if self.state != State::Idle {
            return Err(ModelError::TcpState {
                action: "handshake",
                why: "the connection was already opened",
            });
        }
        let syn = Segment {
            syn: true,
            ack: false,
            ..Segment::ack(Direction::ToServer, "handshake SYN")
        };
        self.emit(sink, syn, syn_ns, |_| {})?;
        let syn_ack = Segment {
            syn: true,
            ..Segment::ack(Direction::ToClient, "handshake SYN-ACK")
        };
        self.emit(sink, syn_ack, syn_ack_ns.max(syn_ns), |_| {})?;
        self.emit(
            sink,
            Segment::ack(Direction::ToServer, "handshake ACK"),
            ack_ns.max(syn_ack_ns).max(syn_ns),
            |_| {},
        )?;
        self.state = State::Open;
        Ok(())
    }

    /// Sends `bytes` in `dir` at `t_ns`, cut into segments, each followed
    /// by the receiver's ACKs. A send that takes more than one segment
    /// labels each one "`comment` bytes A-B of N" (offsets in this send,
    /// both ends included).
    pub fn send(
        &mut self,
        sink: &mut impl FrameSink,
        dir: Direction,
        bytes: &[u8],
        t_ns: u64,
        comment: &str,
    ) -> Result<(), ModelError> {
        let fill = |offset: u64, out: &mut [u8]| {
            let at = usize::try_from(offset).unwrap_or(usize::MAX);
            if let Some(src) = bytes.get(at..).and_then(|b| b.get(..out.len())) {
                out.copy_from_slice(src);
            }
        };
        self.send_len(sink, dir, bytes.len() as u64, fill, t_ns, comment)
    }

    /// Sends `len` bytes in `dir` at `t_ns`, as [`send`](Self::send) does,
    /// without holding them: `fill(offset, buf)` writes the bytes at
    /// `offset..offset + buf.len()` of this send. Every byte is generated,
    /// once, because the checksum covers it; only one segment is held at a
    /// time.
    pub fn send_len(
        &mut self,
        sink: &mut impl FrameSink,
        dir: Direction,
        len: u64,
        mut fill: impl Payload,
        t_ns: u64,
        comment: &str,
    ) -> Result<(), ModelError> {
        self.check_open("send")?;
        let per = u64::from(self.segment_payload());
        let count = len.div_ceil(per);
        for i in 0..count {
            let offset = i * per;
            let n = per.min(len - offset);
            let last = i + 1 == count;
            let label;
            let comment = if count == 1 {
                comment
            } else {
                label = format!("{comment} bytes {offset}-{} of {len}", offset + n - 1);
                &label
            };
            // A segment that would fill the receiver's window waits for a
            // window update: only the SYN's unscaled window is ever that
            // small, against segments of more than 32 KiB.
            let end = self.sides[dir.sender()].next_seq.wrapping_add(n as u32);
            let edge = self.sides[dir.reverse().sender()].window_edge;
            if edge.wrapping_sub(end) as i32 <= 0 {
                let update = Segment::ack(dir.reverse(), "ACK, window update");
                self.emit(sink, update, t_ns, |_| {})?;
            }
            let data = Segment {
                psh: last,
                len: n as usize,
                ..Segment::ack(dir, comment)
            };
            let sum = fill.sum(offset, n);
            self.emit_part(sink, data, t_ns, |buf| fill.fill(offset, buf), sum)?;
            if (i + 1) % 2 == 0 || last {
                self.emit(sink, Segment::ack(dir.reverse(), "ACK"), t_ns, |_| {})?;
            }
        }
        Ok(())
    }

    /// Closes the connection at `t_ns`: FIN from the side that sends in
    /// `first`, the peer's ACK, the peer's FIN, the last ACK.
    pub fn close(
        &mut self,
        sink: &mut impl FrameSink,
        first: Direction,
        t_ns: u64,
    ) -> Result<(), ModelError> {
        self.check_open("close")?;
        let (a, b) = match first {
            Direction::ToServer => (
                "teardown FIN from the client",
                "teardown FIN from the server",
            ),
            Direction::ToClient => (
                "teardown FIN from the server",
                "teardown FIN from the client",
            ),
        };
        for (dir, comment) in [(first, a), (first.reverse(), b)] {
            let fin = Segment {
                fin: true,
                ..Segment::ack(dir, comment)
            };
            self.emit(sink, fin, t_ns, |_| {})?;
            self.emit(
                sink,
                Segment::ack(dir.reverse(), "teardown ACK"),
                t_ns,
                |_| {},
            )?;
        }
        self.state = State::Closed;
        Ok(())
    }

    fn check_open(&self, action: &'static str) -> Result<(), ModelError> {
        match self.state {
            State::Open => Ok(()),
            State::Idle => Err(ModelError::TcpState {
                action,
                why: "the handshake has not been sent",
            }),
            State::Closed => Err(ModelError::TcpState {
                action,
                why: "the connection is closed",
            }),
        }
    }

    /// Builds one segment, hands it to `sink` and moves the sender's state
    /// on. `fill` writes the segment's whole payload.
    fn emit(
        &mut self,
        sink: &mut impl FrameSink,
        seg: Segment<'_>,
        t_ns: u64,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), ModelError> {
        self.emit_part(sink, seg, t_ns, fill, None)
    }

    /// As [`emit`](Self::emit); with the payload's checksum `sum` known,
    /// `fill` writes only the bytes the snap length keeps.
    fn emit_part(
        &mut self,
        sink: &mut impl FrameSink,
        seg: Segment<'_>,
        t_ns: u64,
        fill: impl FnOnce(&mut [u8]),
        sum: Option<u64>,
    ) -> Result<(), ModelError> {
        let (s, r) = (seg.dir.sender(), seg.dir.reverse().sender());
        let (peer_seq, peer_tsval) = (self.sides[r].next_seq, self.sides[r].last_tsval);
        // The SYNs' window is not scaled (RFC 7323 §2.2).
        let (window, window_bytes) = if seg.syn {
            let w = u32::from(u16::MAX) / self.mss * self.mss;
            (w as u16, w)
        } else {
            ((self.window() >> WINDOW_SCALE) as u16, self.window())
        };
        let me = &mut self.sides[s];
        if seg.ack {
            me.window_edge = peer_seq.wrapping_add(window_bytes);
        }
        me.ts_ms = me.ts_ms.max(t_ns / 1_000_000);
        let tsval = me.ts_offset.wrapping_add(me.ts_ms as u32);
        me.last_tsval = tsval;
        let (seq, ip_id) = (me.next_seq, me.ip_id);
        // A SYN echoes nothing; a SYN-ACK echoes the SYN's TSval.
        let tsecr = if seg.syn && !seg.ack { 0 } else { peer_tsval };

        let (src, dst) = (self.ends.src(seg.dir), self.ends.dst(seg.dir));
        let mut h = TcpHeader::new(src.port(), dst.port(), seq, window);
        h.syn = seg.syn;
        h.fin = seg.fin;
        h.psh = seg.psh;
        h.ack = seg.ack;
        if seg.ack {
            h.acknowledgment_number = peer_seq;
        }
        let options = options(seg.syn, self.timestamps, self.mss as u16, tsval, tsecr);
        h.set_options(&options).map_err(|e| ModelError::Header {
            header: "TCP",
            reason: e.to_string(),
        })?;

        self.buf.clear();
        let ip = IpFields {
            protocol: IpNumber::TCP,
            payload_len: h.header_len() + seg.len,
            ident: u32::from(ip_id),
            fragment: None,
        };
        self.ends.push_headers(&mut self.buf, seg.dir, &ip)?;
        let tcp_at = self.buf.len();
        let payload_at = tcp_at + h.header_len();
        let keep = match sum {
            Some(_) => seg
                .len
                .min((sink.snaplen() as usize).saturating_sub(payload_at)),
            None => seg.len,
        };
        self.buf.resize(payload_at + keep, 0);
        fill(&mut self.buf[payload_at..]);
        let sum = sum.unwrap_or_else(|| checksum::fast_sum(&self.buf[payload_at..]));
        h.checksum = self
            .ends
            .tcp_checksum_of(seg.dir, &h, seg.len as u64, sum)?;
        self.buf[tcp_at..payload_at].copy_from_slice(&h.to_bytes());

        let me = &mut self.sides[s];
        me.ip_id = me.ip_id.wrapping_add(1);
        let consumed = seg.len as u32 + u32::from(seg.syn) + u32::from(seg.fin);
        me.next_seq = me.next_seq.wrapping_add(consumed);

        let cut = self.buf.len().min(sink.snaplen() as usize);
        sink.write_frame(&ModelFrame {
            t_ns,
            original_len: (payload_at + seg.len) as u32,
            data: &self.buf[..cut],
            comment: seg.comment,
        })
    }
}

/// The options of one segment, in Linux's order.
fn options(syn: bool, timestamps: bool, mss: u16, tsval: u32, tsecr: u32) -> Vec<TcpOptionElement> {
    use TcpOptionElement::{
        MaximumSegmentSize, Noop, SelectiveAcknowledgementPermitted, Timestamp, WindowScale,
    };
    match (syn, timestamps) {
        (true, true) => vec![
            MaximumSegmentSize(mss),
            SelectiveAcknowledgementPermitted,
            Timestamp(tsval, tsecr),
            Noop,
            WindowScale(WINDOW_SCALE),
        ],
        (true, false) => vec![
            MaximumSegmentSize(mss),
            Noop,
            Noop,
            SelectiveAcknowledgementPermitted,
            Noop,
            WindowScale(WINDOW_SCALE),
        ],
        (false, true) => vec![Noop, Noop, Timestamp(tsval, tsecr)],
        (false, false) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcap::model::check::all_valid;
    use crate::pcap::model::{FrameLog, OwnedFrame};

    const T: u64 = 1_700_000_000_000_000_000;

    fn flow(v6: bool, timestamps: bool) -> TcpFlow {
        let (c, s) = if v6 {
            ("[2001:db8::1]:40000", "[2001:db8::2]:5005")
        } else {
            ("192.0.2.1:40000", "192.0.2.2:5005")
        };
        TcpFlow::new(c.parse().unwrap(), s.parse().unwrap(), 1460, timestamps).unwrap()
    }

    /// The TCP header of an IPv4 frame.
    fn tcp(f: &OwnedFrame) -> TcpHeader {
        TcpHeader::from_slice(&f.data[34..]).unwrap().0
    }

    fn tsval(h: &TcpHeader) -> (u32, u32) {
        h.options_iterator()
            .find_map(|o| match o {
                Ok(TcpOptionElement::Timestamp(v, e)) => Some((v, e)),
                _ => None,
            })
            .expect("a timestamps option")
    }

    #[test]
    fn handshake_carries_linux_options_and_lengths() {
        let mut log = FrameLog::new(65_535);
        let mut f = flow(false, true);
        f.handshake(&mut log, T).unwrap();
        let lens: Vec<u32> = log.frames.iter().map(|f| f.original_len).collect();
        assert_eq!(lens, [74, 74, 66]);
        let syn = tcp(&log.frames[0]);
        assert!(syn.syn && !syn.ack);
        assert_eq!(syn.sequence_number, f.isn(Direction::ToServer));
        assert_eq!(syn.window_size, 64_240);
        let o = syn.options.as_slice();
        assert_eq!(&o[..6], &[2, 4, 0x05, 0xb4, 4, 2]);
        assert_eq!(&o[6..8], &[8, 10]);
        assert_eq!(&o[16..], &[1, 3, 3, 7]);
        let syn_ack = tcp(&log.frames[1]);
        assert!(syn_ack.syn && syn_ack.ack);
        assert_eq!(syn_ack.acknowledgment_number, syn.sequence_number + 1);
        assert_eq!(tsval(&syn_ack).1, tsval(&syn).0, "TSecr echoes the SYN");
        let ack = tcp(&log.frames[2]);
        assert_eq!(ack.acknowledgment_number, syn_ack.sequence_number + 1);
        assert_eq!(&ack.options.as_slice()[..4], &[1, 1, 8, 10]);
        assert_eq!(all_valid(&log.frames), 3);
        assert_eq!(log.frames[0].comment, "handshake SYN");
    }

    #[test]
    fn without_timestamps_the_syn_has_12_bytes_of_options() {
        let mut log = FrameLog::new(65_535);
        let mut f = flow(false, false);
        f.handshake(&mut log, T).unwrap();
        let o = tcp(&log.frames[0]).options.as_slice().to_vec();
        assert_eq!(o, [2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7]);
        assert_eq!(log.frames[2].original_len, 54);
        assert_eq!(f.segment_payload(), 1460);
    }

    #[test]
    fn data_is_cut_at_the_mss_and_acked_every_two_segments() {
        let mut log = FrameLog::new(65_535);
        let mut f = flow(false, true);
        f.handshake(&mut log, T).unwrap();
        let c0 = f.next_seq(Direction::ToServer);
        let s0 = f.next_seq(Direction::ToClient);
        let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        f.send(
            &mut log,
            Direction::ToServer,
            &data,
            T + 1,
            "echo 1 request",
        )
        .unwrap();
        let frames = &log.frames[3..];
        let kinds: Vec<(u16, u16)> = frames
            .iter()
            .map(|fr| (tcp(fr).source_port, fr.original_len as u16 - 66))
            .collect();
        // D D A D D A: 1448, 1448, ack, 1448, 656, ack.
        assert_eq!(
            kinds,
            [
                (40000, 1448),
                (40000, 1448),
                (5005, 0),
                (40000, 1448),
                (40000, 656),
                (5005, 0)
            ]
        );
        let h: Vec<TcpHeader> = frames.iter().map(tcp).collect();
        assert_eq!(h[0].sequence_number, c0);
        assert_eq!(h[1].sequence_number, c0 + 1448);
        assert_eq!(h[2].acknowledgment_number, c0 + 2896);
        assert_eq!(h[2].sequence_number, s0);
        assert_eq!(h[4].sequence_number, c0 + 4344);
        assert_eq!(h[5].acknowledgment_number, c0 + 5000);
        assert!(h[4].psh && !h[3].psh);
        assert_eq!(f.next_seq(Direction::ToServer), c0 + 5000);
        // The payload is the caller's bytes, in order.
        assert_eq!(&frames[3].data[66..], &data[2896..4344]);
        assert_eq!(frames[0].comment, "echo 1 request bytes 0-1447 of 5000");
        assert_eq!(frames[4].comment, "echo 1 request bytes 4344-4999 of 5000");
        assert_eq!(frames[2].comment, "ACK");
        assert_eq!(all_valid(&log.frames), 9);
        // A window that two segments in flight never fill.
        assert_eq!(u32::from(h[0].window_size) << WINDOW_SCALE, 65_536);
    }

    #[test]
    fn timestamps_follow_the_clock_and_ip_ids_count_up() {
        let mut log = FrameLog::new(65_535);
        let mut f = flow(false, true);
        f.handshake(&mut log, T).unwrap();
        f.send(&mut log, Direction::ToServer, b"a", T + 5_000_000, "one")
            .unwrap();
        f.send(&mut log, Direction::ToClient, b"b", T + 7_000_000, "two")
            .unwrap();
        let client: Vec<&OwnedFrame> = log
            .frames
            .iter()
            .filter(|fr| tcp(fr).source_port == 40000)
            .collect();
        let (ts0, _) = tsval(&tcp(client[0]));
        let (ts_one, _) = tsval(&tcp(client[2]));
        assert_eq!(ts_one.wrapping_sub(ts0), 5, "milliseconds");
        let ids: Vec<u16> = client
            .iter()
            .map(|fr| u16::from_be_bytes([fr.data[18], fr.data[19]]))
            .collect();
        for w in ids.windows(2) {
            assert_eq!(w[1], w[0].wrapping_add(1));
        }
        // The server's ACK of "two"'s reply echoes the client's latest TSval.
        let last = log.frames.last().unwrap();
        let (_, ecr) = tsval(&tcp(last));
        let server_reply = &log.frames[log.frames.len() - 2];
        assert_eq!(ecr, tsval(&tcp(server_reply)).0);
        // A clock that goes back does not take TSval with it.
        f.send(&mut log, Direction::ToServer, b"c", T, "late")
            .unwrap();
        let n = log.frames.len();
        assert!(tsval(&tcp(&log.frames[n - 2])).0 >= ts_one);
    }

    #[test]
    fn snap_length_cuts_frames_but_not_checksums() {
        let mut whole = FrameLog::new(65_535);
        let mut cut = FrameLog::new(128);
        for log in [&mut whole, &mut cut] {
            let mut f = flow(true, true);
            f.handshake(log, T).unwrap();
            f.send_len(
                log,
                Direction::ToClient,
                100_000,
                crate::content::fill,
                T + 1,
                "file",
            )
            .unwrap();
            f.close(log, Direction::ToClient, T + 2).unwrap();
        }
        assert_eq!(whole.frames.len(), cut.frames.len());
        for (w, c) in whole.frames.iter().zip(&cut.frames) {
            assert_eq!(w.original_len, c.original_len);
            assert!(c.data.len() <= 128);
            assert_eq!(&w.data[..c.data.len()], &c.data[..], "{}", c.comment);
        }
        assert_eq!(all_valid(&whole.frames), whole.frames.len());
        // 100000 / 1448 bytes per segment: 70 segments, 35 ACKs.
        assert_eq!(whole.frames.len(), 3 + 70 + 35 + 4);
    }

    #[test]
    fn teardown_is_fin_ack_fin_ack() {
        let mut log = FrameLog::new(65_535);
        let mut f = flow(false, true);
        f.handshake(&mut log, T).unwrap();
        let (c, s) = (
            f.next_seq(Direction::ToServer),
            f.next_seq(Direction::ToClient),
        );
        f.close(&mut log, Direction::ToServer, T + 1).unwrap();
        let h: Vec<TcpHeader> = log.frames[3..].iter().map(tcp).collect();
        assert!(h[0].fin && h[0].source_port == 40000 && h[0].sequence_number == c);
        assert!(!h[1].fin && h[1].acknowledgment_number == c + 1);
        assert!(h[2].fin && h[2].sequence_number == s);
        assert_eq!(h[3].acknowledgment_number, s + 1);
        assert_eq!(all_valid(&log.frames), 7);
    }

    #[test]
    fn events_out_of_order_are_refused() {
        let mut log = FrameLog::new(256);
        let mut f = flow(false, true);
        let early = f.send(&mut log, Direction::ToServer, b"x", T, "x");
        assert!(matches!(early, Err(ModelError::TcpState { .. })));
        f.handshake(&mut log, T).unwrap();
        assert!(f.handshake(&mut log, T).is_err());
        f.close(&mut log, Direction::ToServer, T).unwrap();
        assert!(f.send(&mut log, Direction::ToClient, b"x", T, "x").is_err());
        assert!(f.close(&mut log, Direction::ToServer, T).is_err());
        // An empty send is no segment at all.
        let mut g = flow(false, true);
        g.handshake(&mut log, T).unwrap();
        let n = log.frames.len();
        g.send(&mut log, Direction::ToServer, b"", T, "nothing")
            .unwrap();
        assert_eq!(log.frames.len(), n);
    }

    #[test]
    fn bad_parameters_are_refused() {
        let c = "192.0.2.1:1".parse().unwrap();
        let s6 = "[2001:db8::2]:2".parse().unwrap();
        assert!(matches!(
            TcpFlow::new(c, s6, 1460, true),
            Err(ModelError::MixedFamilies { .. })
        ));
        let s = "192.0.2.2:2".parse().unwrap();
        for mss in [0, 87, 65_496] {
            assert!(matches!(
                TcpFlow::new(c, s, mss, true),
                Err(ModelError::MssOutOfRange { .. })
            ));
        }
        // The largest MSS still makes valid 65535-byte packets.
        let mut f = TcpFlow::new(c, s, MAX_MSS, false).unwrap();
        let mut log = FrameLog::new(262_144);
        f.handshake(&mut log, T).unwrap();
        f.send_len(
            &mut log,
            Direction::ToServer,
            70_000,
            |_: u64, b: &mut [u8]| b.fill(7),
            T,
            "big",
        )
        .unwrap();
        // The SYN's window holds one such segment only: a window update
        // comes before it.
        assert_eq!(log.frames[3].comment, "ACK, window update");
        assert_eq!(log.frames[4].original_len, 14 + 65_535);
        assert_eq!(log.frames.len(), 3 + 1 + 2 + 1);
        assert_eq!(all_valid(&log.frames), log.frames.len());
    }
}
