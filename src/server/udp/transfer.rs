//! A UDP transfer thread: a file or a stream to one peer, paced, ended by
//! an End message sent [`END_COPIES`] times, every datagram recorded in the
//! peer's model flow when there is one.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{END_COPIES, END_SPACING, Sender};
use crate::content;
use crate::pace::{self, Epoch, Pacer};
use crate::pcap::model::Direction;
use crate::proto::ErrorCode;
use crate::proto::datagram::{self, Body, DGRAM_HEADER, DgramHeader, KIND_FILE_DATA};
use crate::sched::Timely;
use crate::server::record::{SharedFlow, record_datagram};

/// What a transfer thread needs.
pub(super) struct Transfer {
    /// The peer's flow in the model capture.
    pub(super) model: Option<SharedFlow>,
    pub(super) sender: Arc<Sender>,
    pub(super) peer: SocketAddr,
    pub(super) session: u32,
    pub(super) id: u64,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) done: Arc<AtomicBool>,
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

    fn finish(&self, what: &str, started: Instant) {
        tracing::info!(
            "session {} from {}: {what} in {:.3} s",
            self.id,
            self.peer,
            started.elapsed().as_secs_f64()
        );
        self.done.store(true, Ordering::SeqCst);
    }
}

pub(super) fn run_file(ctx: Transfer, size: u64, rate_bps: u64, segment: u32, fragment: bool) {
    let started = Instant::now();
    let epoch = Epoch::now();
    let per = u64::from(segment) - DGRAM_HEADER as u64;
    let datagrams = size.div_ceil(per);
    tracing::info!(
        "session {} from {}: udp file of {size} bytes in {datagrams} datagrams of {segment} bytes",
        ctx.id,
        ctx.peer
    );
    let ready = datagram::to_vec(
        &ctx.header(0, 0, &epoch),
        &Body::FileReady {
            size,
            segment,
            datagrams,
        },
    );
    if let Err(e) = ctx.send(&ready, fragment) {
        ctx.fail(&e, segment, &epoch);
        return ctx.finish("failed", started);
    }
    let mut pacer = Pacer::new(rate_bps);
    let mut buf = Vec::with_capacity(segment as usize);
    let mut sent = 0u64;
    let mut bytes = 0u64;
    for seq in 0..datagrams {
        if ctx.stop.load(Ordering::Relaxed) {
            break;
        }
        let offset = seq * per;
        let n = per.min(size - offset) as usize;
        if !pacer.wait((DGRAM_HEADER + n) as u64, &ctx.stop) {
            break;
        }
        datagram::begin(
            &mut buf,
            KIND_FILE_DATA,
            &ctx.header(seq as u32, offset, &epoch),
        );
        buf.resize(DGRAM_HEADER + n, 0);
        content::fill(offset, &mut buf[DGRAM_HEADER..]);
        if let Err(e) = ctx.send(&buf, fragment) {
            ctx.fail(&e, segment, &epoch);
            return ctx.finish("failed", started);
        }
        sent += 1;
        bytes += n as u64;
    }
    ctx.send_end(
        &Body::FileEnd {
            datagrams: sent,
            bytes,
        },
        &epoch,
        fragment,
    );
    ctx.finish(&format!("sent {sent} datagrams, {bytes} bytes"), started);
}

pub(super) fn run_stream(ctx: Transfer, interval: Duration, count: u32, size: u32, fragment: bool) {
    let started = Instant::now();
    let timely = Timely::enter();
    tracing::debug!("stream sender: {}", timely.priority());
    let mut schedule = pace::Schedule::new(interval);
    let epoch = Epoch::now();
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
        return ctx.finish("failed", started);
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
            return ctx.finish("failed", started);
        }
        sent += 1;
    }
    crate::server::session::log_schedule(&schedule, sent, interval);
    ctx.send_end(&Body::StreamEnd { sent }, &epoch, fragment);
    ctx.finish(&format!("sent {sent} stream segments"), started);
}
