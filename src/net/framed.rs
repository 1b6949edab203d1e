//! A TCP stream that speaks lab messages: one read buffer, the codec, and raw
//! reads for the file bytes that follow a FileReady.
//!
//! Reads block by default (with the socket's timeout); with [`Framed::set_spin`]
//! they busy-poll instead (see [`super::spin`]).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::socket::set_int;
use super::spin::{self, Polled};
use super::timestamping::{self, Matched, Stamp, TxKeys, TxStamp};

use crate::proto::{self, DecodeError, HEADER_LEN, MAX_BODY, Message};
use crate::session::tcp::BlockRead;

/// Why reading a message failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// The socket failed (a timeout is `WouldBlock`/`TimedOut`).
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The bytes were not a valid message. When [`DecodeError::skip`] is
    /// `Some`, the message was skipped and the stream can go on.
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// The peer closed the connection in the middle of a message.
    #[error("the peer closed the connection in the middle of a message")]
    Truncated,
}

/// A TCP stream with a bounded read buffer and the lab codec.
#[derive(Debug)]
pub struct Framed {
    stream: TcpStream,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    out: Vec<u8>,
    spin: Option<Spin>,
    /// The receive low-water mark set on the socket (1: the kernel's).
    lowat: usize,
    /// Kernel timestamps, when on ([`Framed::set_stamping`]).
    stamps: Option<Stamps>,
}

/// A stamping connection's reads and keys.
#[derive(Debug)]
struct Stamps {
    /// The latest read: its RX stamp, and when it returned (Unix-epoch ns).
    rx: Option<Stamp>,
    read_ns: u64,
    /// Every byte written counts in the keys of the TX stamps.
    keys: TxKeys,
    drained: Vec<TxStamp>,
    /// The TX stamps each stamped send asks for.
    tx_flags: u32,
}

/// How a framed connection busy-polls its reads.
#[derive(Debug, Clone)]
pub struct Spin {
    /// Longest wait for one read; past it the read fails with `TimedOut`,
    /// as a blocking read fails past the socket's receive timeout.
    pub wait: Duration,
    /// When set, a waiting read returns 0 (end of input), as it would once
    /// a stopping server shuts the connection's read side.
    pub stop: Option<Arc<AtomicBool>>,
}

const BUF: usize = 2 * (HEADER_LEN + MAX_BODY);

/// A busy-poll read that waited past its limit.
fn spin_timeout(s: &Spin) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("nothing to read within {:?} (busy-poll)", s.wait),
    )
}

impl Framed {
    /// Wraps a connected stream.
    pub fn new(stream: TcpStream) -> Framed {
        Framed {
            stream,
            buf: vec![0u8; BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            out: Vec::with_capacity(256),
            spin: None,
            lowat: 1,
            stamps: None,
        }
    }

    /// Turns the kernel's timestamps on ([`timestamping::enable`]): every
    /// read then takes its RX stamp, and [`Framed::send_stamped`] asks for
    /// TX stamps. Call it before the first byte is written.
    pub fn set_stamping(&mut self) -> io::Result<()> {
        timestamping::enable(&self.stream, true)?;
        self.stamps = Some(Stamps {
            rx: None,
            read_ns: 0,
            keys: TxKeys::new(true),
            drained: Vec::new(),
            tx_flags: timestamping::TX_FLAGS,
        });
        Ok(())
    }

    /// Whether stamped sends ask for the queueing discipline's stamp too
    /// ([`timestamping::TX_FLAGS_QDISC`]); without stamping on, nothing.
    pub fn set_stamp_qdisc(&mut self, on: bool) {
        if let Some(s) = self.stamps.as_mut() {
            s.tx_flags = if on {
                timestamping::TX_FLAGS_QDISC
            } else {
                timestamping::TX_FLAGS
            };
        }
    }

    /// Whether the kernel's timestamps are on.
    pub fn stamping(&self) -> bool {
        self.stamps.is_some()
    }

    /// The latest read's RX stamp and when it returned (Unix-epoch ns).
    pub fn last_read(&self) -> Option<(Option<Stamp>, u64)> {
        self.stamps.as_ref().map(|s| (s.rx, s.read_ns))
    }

    /// Sends `bytes` asking for the TX stamps of their last byte, tagged
    /// `tag` (without stamping on, a plain send).
    pub fn send_stamped(&mut self, bytes: &[u8], tag: u32) -> io::Result<()> {
        let Some(st) = self.stamps.as_mut() else {
            return self.stream.write_all(bytes);
        };
        let n = loop {
            match timestamping::send_stamped_asking(&self.stream, bytes, None, None, st.tx_flags) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        // A send cut short is stamped at its last byte, which the tag does
        // not name: that stamp is counted lost, never moved.
        st.keys.sent(n, (n == bytes.len()).then_some(tag));
        if n < bytes.len() {
            st.keys.sent(bytes.len() - n, None);
            self.stream.write_all(&bytes[n..])?;
        }
        Ok(())
    }

    /// The TX stamps of tagged sends that came since the last call, from
    /// the error queue, without waiting.
    pub fn tx_stamps(&mut self, out: &mut Vec<Matched>) -> io::Result<()> {
        let Some(st) = self.stamps.as_mut() else {
            return Ok(());
        };
        st.drained.clear();
        // Once every awaited stamp came, the queue is not looked at again
        // to find it empty.
        let want = st.keys.pending();
        timestamping::read_tx_up_to(&self.stream, &mut st.drained, want)?;
        st.keys.take(&st.drained, out);
        Ok(())
    }

    /// Whether tagged sends still await their TX stamp (one still queued
    /// on its way out when it was last looked for).
    pub fn awaits_stamps(&self) -> bool {
        self.stamps.as_ref().is_some_and(|s| s.keys.pending() > 0)
    }

    /// Tagged sends whose TX stamp never came (counted once a later one's
    /// did, or [`Framed::give_up_stamps`]).
    pub fn lost_stamps(&self) -> u64 {
        self.stamps.as_ref().map_or(0, |s| s.keys.lost())
    }

    /// Stops waiting for the TX stamps still awaited.
    pub fn give_up_stamps(&mut self) {
        if let Some(s) = self.stamps.as_mut() {
            s.keys.give_up();
        }
    }

    /// Counts bytes written outside [`Framed`] in the TX keys.
    fn count_sent(&mut self, n: usize) {
        if let Some(s) = self.stamps.as_mut() {
            s.keys.sent(n, None);
        }
    }

    /// Busy-polls every read from now on (`Some`), or blocks again (`None`).
    pub fn set_spin(&mut self, spin: Option<Spin>) {
        self.spin = spin;
    }

    /// One read from the socket into `out`: blocking, or busy-polled; a
    /// stamping connection keeps the read's RX stamp and return time.
    fn recv_into(
        stream: &TcpStream,
        spin: Option<&Spin>,
        stamps: Option<&mut Stamps>,
        out: &mut [u8],
    ) -> io::Result<usize> {
        let Some(st) = stamps else {
            return Framed::recv_plain(stream, spin, out);
        };
        let flags = if spin.is_some() {
            libc::MSG_DONTWAIT
        } else {
            0
        };
        let mut attempt = || timestamping::recv_stamped(stream, out, flags);
        let r = match spin {
            None => attempt()?,
            Some(s) => {
                match spin::spin_until(spin::deadline_in(s.wait), s.stop.as_deref(), attempt)? {
                    Polled::Ready(r) => r,
                    Polled::Stopped => return Ok(0),
                    Polled::TimedOut => return Err(spin_timeout(s)),
                }
            }
        };
        st.read_ns = timestamping::now_ns();
        st.rx = r.stamp;
        Ok(r.len)
    }

    fn recv_plain(stream: &TcpStream, spin: Option<&Spin>, out: &mut [u8]) -> io::Result<usize> {
        let Some(s) = spin else {
            return (&*stream).read(out);
        };
        let deadline = spin::deadline_in(s.wait);
        match spin::spin_until(deadline, s.stop.as_deref(), || {
            spin::recv_dontwait(stream, out)
        })? {
            Polled::Ready(n) => Ok(n),
            Polled::Stopped => Ok(0),
            Polled::TimedOut => Err(spin_timeout(s)),
        }
    }

    /// The stream underneath.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Bytes received but not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Marks `n` buffered bytes as consumed.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }

    /// Reads more bytes into the buffer; returns how many (0 at end of input).
    /// A receive low-water mark left from a bulk read goes back to 1 first:
    /// a message shorter than the mark would wait for the timeout.
    pub fn fill(&mut self) -> io::Result<usize> {
        self.set_recv_lowat(1)?;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        loop {
            let (stream, spin, stamps) = (&self.stream, self.spin.as_ref(), self.stamps.as_mut());
            match Framed::recv_into(stream, spin, stamps, &mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads the next message; `Ok(None)` when the peer closed the
    /// connection between messages.
    pub fn read_message(&mut self) -> Result<Option<Message>, ConnError> {
        loop {
            match proto::decode(self.buffered()) {
                Ok(Some((msg, used))) => {
                    self.consume(used);
                    return Ok(Some(msg));
                }
                Ok(None) => {}
                Err(e) => {
                    if let Some(n) = e.skip() {
                        self.consume(n);
                    }
                    return Err(e.into());
                }
            }
            if self.fill()? == 0 {
                return if self.buffered().is_empty() {
                    Ok(None)
                } else {
                    Err(ConnError::Truncated)
                };
            }
        }
    }

    /// Whether a read would not block: bytes are buffered or queued on the
    /// socket, or the peer closed or reset it (a `MSG_PEEK | MSG_DONTWAIT`
    /// look, nothing taken). A sender checks it between writes for an
    /// early answer.
    pub fn has_input(&self) -> bool {
        if !self.buffered().is_empty() {
            return true;
        }
        let mut b = [0u8; 1];
        let flags = nix::sys::socket::MsgFlags::MSG_PEEK | nix::sys::socket::MsgFlags::MSG_DONTWAIT;
        match nix::sys::socket::recv(std::os::fd::AsRawFd::as_raw_fd(&self.stream), &mut b, flags) {
            Ok(_) => true,
            Err(e) => e != nix::errno::Errno::EAGAIN,
        }
    }

    /// Sends one message.
    pub fn send(&mut self, msg: &Message) -> io::Result<()> {
        self.out.clear();
        proto::encode(msg, &mut self.out)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.count_sent(self.out.len());
        self.stream.write_all(&self.out)
    }

    /// Sends bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.count_sent(bytes.len());
        self.stream.write_all(bytes)
    }

    /// Reads raw bytes, first from the buffer, then from the socket.
    pub fn read_raw(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let have = self.buffered().len();
        if have > 0 {
            let n = have.min(out.len());
            out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
            self.consume(n);
            return Ok(n);
        }
        loop {
            match Framed::recv_into(&self.stream, self.spin.as_ref(), self.stamps.as_mut(), out) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }

    /// Sets the socket's receive low-water mark (`SO_RCVLOWAT`) for the
    /// raw reads that follow: the kernel wakes a blocked reader only once
    /// `bytes` are queued (or the stream ends), one wake-up per block
    /// instead of one per arriving segment. A system call only when the
    /// mark changes; the next message read puts it back to 1.
    pub fn set_recv_lowat(&mut self, bytes: usize) -> io::Result<()> {
        let bytes = bytes.max(1);
        if bytes != self.lowat {
            let mark = i32::try_from(bytes).unwrap_or(i32::MAX);
            set_int(&self.stream, libc::SOL_SOCKET, libc::SO_RCVLOWAT, mark)?;
            self.lowat = bytes;
        }
        Ok(())
    }

    /// One read of a block as `r` plans it ([`crate::session::tcp::Bulk`]):
    /// the low-water mark set, then a read that waits for all of `out` if
    /// it may. Without the mark the read is only slower.
    pub fn read_block(&mut self, out: &mut [u8], r: BlockRead) -> io::Result<usize> {
        let _ = self.set_recv_lowat(r.mark);
        let want = r.want.min(out.len());
        let out = &mut out[..want];
        if r.wait_all {
            self.read_raw_all(out)
        } else {
            self.read_raw(out)
        }
    }

    /// As [`Framed::read_raw`], but from the socket waits for all of `out`
    /// (`MSG_WAITALL`): one wake-up and one copy for a large block rather
    /// than one per arriving segment. Returns less on end of stream, and on
    /// a receive timeout once some bytes came.
    pub fn read_raw_all(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if !self.buffered().is_empty() {
            return self.read_raw(out);
        }
        let sock = socket2::SockRef::from(&self.stream);
        loop {
            // SAFETY: recv only writes initialised bytes into the buffer, and
            // `out` is already initialised, so viewing it as MaybeUninit is
            // sound.
            let uninit = unsafe { &mut *(out as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) };
            match sock.recv_with_flags(uninit, libc::MSG_WAITALL) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }
}
