//! A UDP transfer thread: it runs one [`Transfer`] that the endpoint
//! started, handing what the transfer decides to send to the kernel, and
//! waiting for the times it names. A file's batches go out in one
//! `sendmsg` with `UDP_SEGMENT` (GSO) each, a stream's segments in one
//! `sendto` each at their deadlines, all with the transfer's marking; a
//! stamped stream's segments ask for their TX stamps, which go back to the
//! transfer as they come ([`super::stream_stamps`]). Every datagram is recorded in the
//! peer's model flow when there is one. At its end the thread leaves the
//! transfer's end and the kernel's counters in its [`Finish`], for the
//! receive loop to hand back to the endpoint.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::Sender;
use super::stream_stamps::StreamStamping;
use crate::net::batch;
use crate::net::counters::{self, UdpCounters};
use crate::pace::{self, Schedule};
use crate::pcap::model::Direction;
use crate::sched::Timely;
use crate::server::record::{SharedFlow, record_datagram};
use crate::session::Transmit;
use crate::session::udp::server::{SendFailure, Transfer, TransferEnd};

/// Where a transfer thread leaves its end: set once.
pub(super) type Finish = Arc<OnceLock<(TransferEnd, Option<UdpCounters>)>>;

/// What a transfer thread needs.
pub(super) struct Job {
    pub(super) transfer: Transfer,
    /// The peer's flow in the model capture.
    pub(super) model: Option<SharedFlow>,
    pub(super) sender: Arc<Sender>,
    /// The server's number for the session.
    pub(super) id: u64,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) finish: Finish,
}

impl Job {
    /// Runs the transfer to its end.
    pub(super) fn run(mut self) {
        let interval = self.transfer.interval();
        let _timely = interval.map(|i| {
            let t = Timely::for_interval(i);
            tracing::debug!("stream sender: {}", t.priority());
            t
        });
        let mut schedule = interval.map(Schedule::new);
        let mut buf = Vec::with_capacity(batch::GSO_MAX_BYTES);
        let mut stopped = false;
        let mut stamping = self.transfer.is_stamped().then(StreamStamping::default);
        while let Some(at) = self.transfer.poll_timeout() {
            if let Some(st) = stamping.as_mut() {
                st.drain(&self.sender, &mut self.transfer);
            }
            if !stopped && self.stop.load(Ordering::Relaxed) {
                self.transfer.stop(Instant::now());
                stopped = true;
                continue;
            }
            let now = Instant::now();
            if at > now {
                match schedule.as_mut() {
                    Some(s) if self.transfer.in_data() => {
                        s.wait(at, &self.stop);
                    }
                    _ => std::thread::sleep((at - now).min(pace::STOP_CHECK)),
                }
                continue;
            }
            // The limit may drop to an older kernel's at the first send.
            self.transfer.set_gso_limit(batch::gso_segments() as u64);
            if let Some(t) = self.transfer.poll_transmit(now, &mut buf) {
                let sent = match (self.transfer.stamp_wanted(), stamping.as_mut()) {
                    (Some(seq), Some(st)) => self.send_stamped(st, seq, &buf[..t.len]),
                    _ => self.send(t, &buf[..t.len]),
                };
                if let Err(e) = sent {
                    self.transfer.failed(failure(&e));
                }
            }
        }
        if let (Some(s), Some(i)) = (&schedule, interval) {
            let sent = self.transfer.data_sent() as u32;
            crate::server::session::log_schedule(s, sent, i);
        }
        let peer = self.transfer.peer();
        let end = self.transfer.end().cloned().unwrap_or_else(|| TransferEnd {
            what: "failed".to_string(),
            at: Instant::now(),
            sent: Default::default(),
            carried: Default::default(),
        });
        let kernel = counters::read(peer.ip().to_canonical().is_ipv6());
        let _ = self.finish.set((end, kernel));
    }

    /// Sends one datagram, or a batch in one GSO send (falling back as the
    /// kernel demands, and telling the transfer how it went).
    fn send(&mut self, t: Transmit, bytes: &[u8]) -> io::Result<()> {
        let Some(segment) = t.segment else {
            return self.send_one(bytes);
        };
        let n = bytes.len().div_ceil(segment);
        match self.send_gso(bytes, segment) {
            Ok(()) => Ok(()),
            Err(e) if batch::gso_refused(&e) && batch::lower_gso_segments(n) => {
                // Older kernels take at most 64 datagrams per GSO send.
                tracing::info!(
                    "session {} to {}: the kernel refused a GSO send of {n} datagrams ({e}); at most {} per send from now on",
                    self.id,
                    self.transfer.peer(),
                    batch::GSO_OLD_SEGMENTS
                );
                self.send_smaller(bytes, segment, batch::GSO_OLD_SEGMENTS)
            }
            Err(e) if batch::gso_refused(&e) => {
                self.refused(&e);
                self.send_smaller(bytes, segment, 1)
            }
            Err(e) => Err(e),
        }
    }

    /// Sends a refused batch again in GSO sends of at most `per`
    /// datagrams, or one by one once GSO is refused at that size too.
    fn send_smaller(&mut self, bytes: &[u8], segment: usize, per: usize) -> io::Result<()> {
        let (mut calls, mut largest, mut refused) = (0, 1, per == 1);
        for chunk in bytes.chunks(segment * per) {
            if !refused {
                match self.send_gso(chunk, segment) {
                    Ok(()) => {
                        calls += 1;
                        largest = largest.max(chunk.len().div_ceil(segment) as u64);
                        continue;
                    }
                    Err(e) if batch::gso_refused(&e) => {
                        // Refused at 64 too: not the limit, but no GSO at
                        // all on this route; other routes may take 128.
                        self.refused(&e);
                        batch::restore_gso_segments();
                        refused = true;
                    }
                    Err(e) => return Err(e),
                }
            }
            for d in chunk.chunks(segment) {
                self.send_one(d)?;
                calls += 1;
            }
        }
        self.transfer.sent_as(calls, largest, refused);
        Ok(())
    }

    fn refused(&self, e: &io::Error) {
        if !self.transfer.gso_refused() {
            tracing::info!(
                "session {} to {}: the kernel refused UDP GSO ({e}); one datagram per send from now on",
                self.id,
                self.transfer.peer()
            );
        }
    }

    /// Stamped segment `seq`, its stamp read at once when it came.
    fn send_stamped(&mut self, st: &mut StreamStamping, seq: u32, d: &[u8]) -> io::Result<()> {
        let (peer, tos) = (self.transfer.peer(), self.transfer.tos());
        retry(|| st.send(&self.sender, d, peer, tos, seq))?;
        if let Some(m) = &self.model {
            record_datagram(m, Direction::ToClient, d);
        }
        st.drain(&self.sender, &mut self.transfer);
        Ok(())
    }

    /// One datagram, waiting out a full send buffer.
    fn send_one(&self, d: &[u8]) -> io::Result<()> {
        let (peer, fragment) = (self.transfer.peer(), self.transfer.fragment());
        let tos = self.transfer.tos();
        retry(|| self.sender.send_to(d, peer, fragment, tos))?;
        if let Some(m) = &self.model {
            record_datagram(m, Direction::ToClient, d);
        }
        Ok(())
    }

    /// One GSO send, waiting out a full send buffer.
    fn send_gso(&self, bytes: &[u8], segment: usize) -> io::Result<()> {
        let (peer, tos) = (self.transfer.peer(), self.transfer.tos());
        retry(|| self.sender.send_gso(bytes, peer, segment as u16, tos))?;
        if let Some(m) = &self.model {
            for d in bytes.chunks(segment) {
                record_datagram(m, Direction::ToClient, d);
            }
        }
        Ok(())
    }
}

/// Runs `send` until the kernel has room for it.
fn retry(mut send: impl FnMut() -> io::Result<usize>) -> io::Result<()> {
    loop {
        match send() {
            Ok(_) => return Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::ENOBUFS)
                    || e.kind() == io::ErrorKind::WouldBlock =>
            {
                std::thread::sleep(Duration::from_micros(50))
            }
            Err(e) => return Err(e),
        }
    }
}

/// What a failed send means to the transfer.
fn failure(e: &io::Error) -> SendFailure {
    if e.raw_os_error() == Some(libc::EMSGSIZE) {
        SendFailure::TooBig
    } else {
        SendFailure::Other(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content;
    use crate::proto::datagram::{self, Body, SendInfo, SendMethod};
    use crate::session::Epoch;
    use crate::session::udp::server::{FilePlan, FileSend};
    use std::net::UdpSocket;
    use std::sync::Mutex;

    /// A job from a fresh socket; `no_check` sets `SO_NO_CHECK`, with which
    /// the kernel refuses GSO (EINVAL).
    fn job(no_check: bool, transfer: Transfer) -> Job {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        if no_check {
            let one: libc::c_int = 1;
            // SAFETY: a live int, its size passed; the kernel only reads it.
            let r = unsafe {
                libc::setsockopt(
                    std::os::fd::AsRawFd::as_raw_fd(&sock),
                    libc::SOL_SOCKET,
                    libc::SO_NO_CHECK,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            assert_eq!(r, 0);
        }
        Job {
            transfer,
            model: None,
            sender: Arc::new(Sender {
                sock,
                v6: false,
                dont_fragment: Mutex::new(false),
                stray: Default::default(),
            }),
            id: 1,
            stop: Arc::new(AtomicBool::new(false)),
            finish: Finish::default(),
        }
    }

    /// Runs a 64-byte-segment file of `size` bytes to a local socket and
    /// returns the data datagrams' sequence numbers and the End's counts.
    fn file(size: u64, no_check: bool, gso: bool) -> (Vec<u32>, Body) {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        // Room for the whole unpaced burst (the kernel caps it at rmem_max).
        let _ = socket2::SockRef::from(&rx).set_recv_buffer_size(1 << 20);
        let peer = rx.local_addr().unwrap();
        let how = FileSend {
            fragment: false,
            gso,
        };
        let now = Instant::now();
        let plan = FilePlan::new(size, 64).unwrap();
        let epoch = Epoch::pin(now, pace::unix_ns());
        let transfer = Transfer::file((peer, 7), plan, 0, how, epoch, now);
        let job = job(no_check, transfer);
        let t = std::thread::spawn(move || job.run());
        let mut seqs = Vec::new();
        let mut buf = vec![0u8; 65_536];
        loop {
            let n = rx.recv(&mut buf).unwrap();
            match datagram::decode(&buf[..n]).unwrap() {
                (h, Body::FileData { data }) => {
                    content::check_at(h.offset, &data).unwrap();
                    seqs.push(h.seq);
                }
                (_, end @ Body::FileEnd { .. }) => {
                    t.join().unwrap();
                    return (seqs, end);
                }
                _ => {}
            }
        }
    }

    #[test]
    fn a_refused_gso_falls_back_to_one_send_per_datagram_losing_nothing() {
        // 130 datagrams: batches of 128 and 2 when GSO works (64, 64 and 2
        // on a kernel that takes at most 64 per send).
        let size = 130 * 36 - 5;
        let (seqs, end) = file(size, true, true);
        assert_eq!(seqs, (0..130).collect::<Vec<u32>>());
        let Body::FileEnd {
            datagrams,
            bytes,
            sent_with: Some(w),
        } = end
        else {
            panic!("{end:?}");
        };
        assert_eq!((datagrams, bytes), (130, size));
        assert_eq!(w.method, SendMethod::SendtoGsoRefused);
        assert_eq!((w.calls, w.max_batch), (130, 1));

        let (seqs, end) = file(size, false, true);
        assert_eq!(seqs.len(), 130);
        let Body::FileEnd {
            sent_with: Some(w), ..
        } = end
        else {
            panic!("{end:?}");
        };
        if w.method == SendMethod::Gso {
            let expect = if batch::gso_segments() == batch::GSO_MAX_SEGMENTS {
                (2, 128)
            } else {
                (3, 64)
            };
            assert_eq!((w.calls, w.max_batch), expect);
        }

        let (seqs, end) = file(size, false, false);
        assert_eq!(seqs.len(), 130);
        assert!(matches!(
            end,
            Body::FileEnd {
                sent_with: Some(SendInfo {
                    method: SendMethod::Sendto,
                    calls: 130,
                    max_batch: 1
                }),
                ..
            }
        ));
    }
}
