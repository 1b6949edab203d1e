//! A UDP transfer thread: a file or a stream to one peer, paced, ended by
//! an End message sent [`END_COPIES`] times, every datagram recorded in the
//! peer's model flow when there is one. At its end the thread leaves what it
//! sent in the session's [`Finish`], for the receive loop to report.
//!
//! A file leaves in batches: every datagram that the pace allows now, up
//! to the kernel's GSO limits, built back to back and handed over in one
//! `sendmsg` with `UDP_SEGMENT`. A stream sends one segment per interval,
//! one `sendto` each.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::session::{Carried, Finish, Outcome, Tally};
use super::{END_COPIES, END_SPACING, Sender};
use crate::content;
use crate::net::batch;
use crate::net::counters;
use crate::pace::{self, Epoch, Pacer};
use crate::pcap::model::Direction;
use crate::proto::ErrorCode;
use crate::proto::datagram::{
    self, Body, DGRAM_HEADER, DgramHeader, KIND_FILE_DATA, SendInfo, SendMethod,
};
use crate::sched::Timely;
use crate::server::record::{SharedFlow, record_datagram};
use crate::session::udp::server::FilePlan;

/// What a transfer thread needs.
pub(super) struct Transfer {
    /// The peer's flow in the model capture.
    pub(super) model: Option<SharedFlow>,
    pub(super) sender: Arc<Sender>,
    pub(super) peer: SocketAddr,
    pub(super) session: u32,
    pub(super) id: u64,
    pub(super) stop: Arc<AtomicBool>,
    /// Where the outcome goes at the end.
    pub(super) finish: Finish,
    /// Every datagram sent so far.
    pub(super) sent: Cell<Tally>,
}

impl Transfer {
    fn header(&self, seq: u32, offset: u64, epoch: &Epoch) -> DgramHeader {
        DgramHeader {
            session: self.session,
            seq,
            offset,
            sent_ns: epoch.unix_ns_of(Instant::now()),
        }
    }

    /// Sends one datagram, waiting out a full send buffer.
    fn send(&self, buf: &[u8], fragment: bool) -> io::Result<()> {
        loop {
            match self.sender.send_to(buf, self.peer, fragment) {
                Ok(_) => {
                    self.count(1, buf.len());
                    if let Some(m) = &self.model {
                        record_datagram(m, Direction::ToClient, buf);
                    }
                    return Ok(());
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    std::thread::sleep(Duration::from_micros(50))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_micros(50))
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn send_end(&self, body: &Body, epoch: &Epoch, fragment: bool) {
        for i in 0..END_COPIES {
            if i > 0 {
                std::thread::sleep(END_SPACING);
            }
            let b = datagram::to_vec(&self.header(i, 0, epoch), body);
            let _ = self.send(&b, fragment);
        }
    }

    fn fail(&self, e: &io::Error, segment: u32, epoch: &Epoch) {
        let message = if e.raw_os_error() == Some(libc::EMSGSIZE) {
            format!(
                "a datagram of {segment} bytes does not fit the path MTU (the kernel said EMSGSIZE); pick a smaller --segment-size or use --fragment"
            )
        } else {
            format!("the server could not send: {e}")
        };
        tracing::warn!("session {} to {}: {message}", self.id, self.peer);
        let b = datagram::to_vec(
            &self.header(0, 0, epoch),
            &Body::Error {
                code: ErrorCode::BadSize,
                message,
            },
        );
        let _ = self.send(&b, false);
    }

    fn count(&self, datagrams: u64, bytes: usize) {
        let mut t = self.sent.get();
        t.datagrams += datagrams;
        t.bytes += bytes as u64;
        self.sent.set(t);
    }

    /// Hands the outcome to the receive loop, which logs the session's end.
    fn finish(&self, what: String, carried: Carried) {
        let _ = self.finish.set(Outcome {
            what,
            at: Instant::now(),
            sent: self.sent.get(),
            carried,
            kernel: counters::read(self.peer.ip().to_canonical().is_ipv6()),
        });
    }
}

/// How a file may be sent.
#[derive(Debug, Clone, Copy)]
pub(super) struct FileSend {
    /// IP may fragment the datagrams (`--fragment`): one per send, no GSO.
    pub(super) fragment: bool,
    /// The client allows UDP GSO (it did not ask `--no-gso`).
    pub(super) gso: bool,
}

/// A file's send calls, for its End message.
#[derive(Debug, Default)]
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

    fn sent(&mut self, datagrams: u64) {
        self.calls += 1;
        self.max_batch = self.max_batch.max(datagrams as u32);
    }
}

impl Transfer {
    /// Sends datagrams `seq..seq + n` of `plan`, built back to back in
    /// `buf`: one GSO send when `gso` allows and there are several, else
    /// one send each (also when the kernel refuses GSO: then `sends` says
    /// so and later batches are single).
    fn send_batch(
        &self,
        plan: &FilePlan,
        (seq, n): (u64, u64),
        epoch: &Epoch,
        buf: &mut Vec<u8>,
        sends: &mut Sends,
        fragment: bool,
    ) -> io::Result<()> {
        buf.clear();
        let mut starts = Vec::with_capacity(n as usize);
        // One send call: one send time for all its datagrams.
        let sent_ns = epoch.unix_ns_of(Instant::now());
        for s in seq..seq + n {
            let at = buf.len();
            starts.push(at);
            let offset = plan.offset(s);
            let h = DgramHeader {
                session: self.session,
                seq: s as u32,
                offset,
                sent_ns,
            };
            datagram::append_header(buf, KIND_FILE_DATA, &h);
            buf.resize(at + plan.wire(s) as usize, 0);
            content::fill(offset, &mut buf[at + DGRAM_HEADER..]);
        }
        starts.push(buf.len());
        let segment = plan.wire(seq) as u16;
        if n > 1 && !sends.gso_refused {
            match self.send_gso(buf, segment) {
                Ok(()) => {
                    self.count(n, buf.len());
                    sends.gso_used = true;
                    sends.sent(n);
                    if let Some(m) = &self.model {
                        for w in starts.windows(2) {
                            record_datagram(m, Direction::ToClient, &buf[w[0]..w[1]]);
                        }
                    }
                    return Ok(());
                }
                Err(e) if batch::gso_refused(&e) && batch::lower_gso_segments(n as usize) => {
                    // Older kernels take at most 64 datagrams per GSO send.
                    tracing::info!(
                        "session {} to {}: the kernel refused a GSO send of {n} datagrams ({e}); at most {} per send from now on",
                        self.id,
                        self.peer,
                        batch::GSO_OLD_SEGMENTS
                    );
                    let step = batch::GSO_OLD_SEGMENTS as u64;
                    let mut s = seq;
                    while s < seq + n {
                        let k = step.min(seq + n - s);
                        self.send_batch(plan, (s, k), epoch, buf, sends, fragment)?;
                        s += k;
                    }
                    if sends.gso_refused {
                        // Refused at 64 too: not the limit, but no GSO at all
                        // on this route (already logged); other routes may
                        // still take 128.
                        batch::restore_gso_segments();
                    }
                    return Ok(());
                }
                Err(e) if batch::gso_refused(&e) => {
                    tracing::info!(
                        "session {} to {}: the kernel refused UDP GSO ({e}); one datagram per send from now on",
                        self.id,
                        self.peer
                    );
                    sends.gso_refused = true;
                }
                Err(e) => return Err(e),
            }
        }
        for w in starts.windows(2) {
            self.send(&buf[w[0]..w[1]], fragment)?;
            sends.sent(1);
        }
        Ok(())
    }

    /// One GSO send, waiting out a full send buffer.
    fn send_gso(&self, buf: &[u8], segment: u16) -> io::Result<()> {
        loop {
            match self.sender.send_gso(buf, self.peer, segment) {
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
}

pub(super) fn run_file(ctx: Transfer, size: u64, rate_bps: u64, segment: u32, how: FileSend) {
    let epoch = pace::epoch_now();
    // The server's checks keep a segment larger than the lab header.
    let Some(plan) = FilePlan::new(size, segment) else {
        return ctx.finish(
            "refused: no room for file bytes".to_string(),
            Carried::default(),
        );
    };
    let datagrams = plan.datagrams();
    let gso = how.gso && !how.fragment;
    tracing::debug!(
        "session {} from {}: udp file of {size} bytes in {datagrams} datagrams of {segment} bytes{}",
        ctx.id,
        ctx.peer,
        if gso { ", UDP GSO" } else { ", one per send" }
    );
    let ready = datagram::to_vec(
        &ctx.header(0, 0, &epoch),
        &Body::FileReady {
            size,
            segment,
            datagrams,
        },
    );
    if let Err(e) = ctx.send(&ready, how.fragment) {
        ctx.fail(&e, segment, &epoch);
        return ctx.finish("failed".to_string(), file_carried(&plan, 0, None));
    }
    let mut pacer = Pacer::new(rate_bps);
    let mut buf = Vec::with_capacity(batch::GSO_MAX_BYTES);
    let mut sends = Sends::default();
    let mut seq = 0u64;
    while seq < datagrams {
        if ctx.stop.load(Ordering::Relaxed) {
            break;
        }
        // Wait until the next datagram is due, then send every one that is
        // due by now, up to a batch: at a low rate a batch is one datagram.
        if !pacer.ready(plan.wire(seq), &ctx.stop) {
            break;
        }
        // The limit may drop to an older kernel's at the first send.
        let max = if gso { batch::gso_segments() as u64 } else { 1 };
        let n = plan.batch(seq, max, pacer.room(Instant::now()));
        if let Err(e) = ctx.send_batch(&plan, (seq, n), &epoch, &mut buf, &mut sends, how.fragment)
        {
            ctx.fail(&e, segment, &epoch);
            let info = sends.info();
            return ctx.finish("failed".to_string(), file_carried(&plan, seq, Some(info)));
        }
        pacer.count(plan.bytes(seq, n));
        seq += n;
    }
    let info = sends.info();
    let carried = file_carried(&plan, seq, Some(info));
    ctx.send_end(
        &Body::FileEnd {
            datagrams: seq,
            bytes: carried.payload,
            sent_with: Some(info),
        },
        &epoch,
        how.fragment,
    );
    ctx.finish(
        format!(
            "sent {seq} datagrams, {} bytes in {} send calls ({}{}, up to {} per call)",
            carried.payload,
            info.calls,
            info.method.name(),
            if sends.gso_refused {
                ", GSO refused by the kernel"
            } else {
                ""
            },
            info.max_batch
        ),
        carried,
    );
}

/// What the first `sent` datagrams of `plan` carried, sent as `info` says.
fn file_carried(plan: &FilePlan, sent: u64, info: Option<SendInfo>) -> Carried {
    let wire = plan.bytes(0, sent);
    Carried {
        data: Tally {
            datagrams: sent,
            bytes: wire,
        },
        payload: wire - sent * DGRAM_HEADER as u64,
        segment: plan.segment(),
        gso: info
            .filter(|i| i.method == SendMethod::Gso)
            .map(|i| (i.calls, sent)),
    }
}

pub(super) fn run_stream(ctx: Transfer, interval: Duration, count: u32, size: u32, fragment: bool) {
    let timely = Timely::for_interval(interval);
    tracing::debug!("stream sender: {}", timely.priority());
    let mut schedule = pace::Schedule::new(interval);
    let epoch = pace::epoch_now();
    let t0 = Instant::now() + Duration::from_micros(200);
    let start = datagram::to_vec(
        &ctx.header(0, 0, &epoch),
        &Body::StreamStart {
            interval_ns: interval.as_nanos() as u64,
            count,
            size,
            t0_ns: epoch.unix_ns_of(t0),
        },
    );
    if let Err(e) = ctx.send(&start, fragment) {
        ctx.fail(&e, size, &epoch);
        return ctx.finish("failed".to_string(), stream_carried(0, size));
    }
    let mut buf = Vec::with_capacity(size as usize);
    let mut sent = 0u32;
    for seq in 0..count {
        if ctx.stop.load(Ordering::Relaxed) {
            break;
        }
        let due = pace::deadline(t0, interval, seq);
        if !schedule.wait(due, &ctx.stop) {
            break;
        }
        datagram::encode(
            &ctx.header(seq, 0, &epoch),
            &Body::StreamSegment {
                scheduled_ns: epoch.unix_ns_of(due),
                size,
            },
            &mut buf,
        );
        if let Err(e) = ctx.send(&buf, fragment) {
            ctx.fail(&e, size, &epoch);
            return ctx.finish("failed".to_string(), stream_carried(sent, size));
        }
        sent += 1;
    }
    crate::server::session::log_schedule(&schedule, sent, interval);
    ctx.send_end(&Body::StreamEnd { sent }, &epoch, fragment);
    ctx.finish(
        format!("sent {sent} stream segments"),
        stream_carried(sent, size),
    );
}

/// What `sent` stream segments of `size` bytes carried.
fn stream_carried(sent: u32, size: u32) -> Carried {
    let bytes = u64::from(sent) * u64::from(size);
    Carried {
        data: Tally {
            datagrams: u64::from(sent),
            bytes,
        },
        payload: bytes,
        segment: size,
        gso: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::udp::Sender;
    use std::net::UdpSocket;
    use std::sync::Mutex;

    /// A transfer from a fresh socket to `peer`; `no_check` sets
    /// `SO_NO_CHECK`, with which the kernel refuses GSO (EINVAL).
    fn transfer(peer: SocketAddr, no_check: bool) -> Transfer {
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
        Transfer {
            model: None,
            sender: Arc::new(Sender {
                sock,
                v6: false,
                dont_fragment: Mutex::new(false),
            }),
            peer,
            session: 7,
            id: 1,
            stop: Arc::new(AtomicBool::new(false)),
            finish: Finish::default(),
            sent: Cell::new(Tally::default()),
        }
    }

    /// Runs a 64-byte-segment file of `size` bytes to a local socket and
    /// returns the data datagrams' sequence numbers and the End's counts.
    fn file(size: u64, no_check: bool, gso: bool) -> (Vec<u32>, Body) {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        // Room for the whole unpaced burst (the kernel caps it at rmem_max).
        let _ = socket2::SockRef::from(&rx).set_recv_buffer_size(1 << 20);
        let ctx = transfer(rx.local_addr().unwrap(), no_check);
        let how = FileSend {
            fragment: false,
            gso,
        };
        let t = std::thread::spawn(move || run_file(ctx, size, 0, 64, how));
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
