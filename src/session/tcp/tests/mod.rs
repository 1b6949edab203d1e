//! A client session against a server session in memory, on virtual time:
//! the bytes go through a pipe that cuts them into pieces of seeded random
//! sizes and delivers each after a delay. No socket, no sleep: a test of
//! seconds of virtual time runs in milliseconds.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::*;

mod exchanges;
mod refusals;
mod stamps;
mod stream_stamps;
mod text;
mod transfers;
use crate::content;
use crate::proto::{ErrorCode, Limits, Message, codec};
use crate::session::Epoch;

/// One direction of the connection: bytes in order, cut into pieces.
pub(super) struct Pipe {
    queue: VecDeque<(Instant, Vec<u8>)>,
    rng: u64,
    max_piece: usize,
    delay: Duration,
    /// Deliver nothing (a peer that never answers).
    pub(super) deaf: bool,
}

impl Pipe {
    fn new(seed: u64, max_piece: usize, delay: Duration) -> Pipe {
        Pipe {
            queue: VecDeque::new(),
            rng: seed | 1,
            max_piece: max_piece.max(1),
            delay,
            deaf: false,
        }
    }

    fn next_rand(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn send(&mut self, now: Instant, mut bytes: &[u8]) {
        if self.deaf {
            return;
        }
        while !bytes.is_empty() {
            let n = (self.next_rand() as usize % self.max_piece + 1).min(bytes.len());
            // Up to a tenth more delay, never out of order.
            let jitter = self.delay / 10 * (self.next_rand() % 2) as u32;
            let at = self
                .queue
                .back()
                .map_or(now, |(t, _)| *t)
                .max(now + self.delay + jitter);
            self.queue.push_back((at, bytes[..n].to_vec()));
            bytes = &bytes[n..];
        }
    }

    fn deliver(&mut self, now: Instant) -> Option<Vec<u8>> {
        match self.queue.front() {
            Some((t, _)) if *t <= now => self.queue.pop_front().map(|(_, b)| b),
            _ => None,
        }
    }

    fn next_at(&self) -> Option<Instant> {
        self.queue.front().map(|(t, _)| *t)
    }
}

/// The two sessions and the pipes between them.
pub(super) struct Net {
    pub(super) now: Instant,
    pub(super) up: Pipe,
    pub(super) down: Pipe,
    pub(super) client: ClientAction,
    pub(super) server: ServerSession,
    /// Answer the server's transfer events as a driver would (the
    /// congestion control "nope" cannot be set).
    pub(super) driver: bool,
}

pub(super) fn base() -> Instant {
    Instant::now()
}

pub(super) fn epoch(at: Instant) -> Epoch {
    Epoch::pin(at, 1_700_000_000_000_000_000)
}

impl Net {
    fn new(
        now: Instant,
        seed: u64,
        max_piece: usize,
        delay: Duration,
        client: ClientAction,
    ) -> Net {
        Net {
            now,
            up: Pipe::new(seed, max_piece, delay),
            down: Pipe::new(seed.wrapping_add(7), max_piece, delay),
            client,
            server: ServerSession::new(1, Limits::default(), epoch(now)),
            driver: false,
        }
    }

    /// Acts on the server's transfer events, as its driver does.
    fn drive_server(&mut self) {
        while self.driver {
            let Some(e) = self.server.poll_event() else {
                return;
            };
            match e {
                Event::TransferStarting { congestion, .. } => {
                    let applied = match congestion.as_deref() {
                        Some("nope") => Err("congestion control \"nope\" is not available".into()),
                        _ => Ok(()),
                    };
                    self.server.handle_applied(self.now, applied);
                }
                Event::WantResults => self.server.handle_results(readings()),
                _ => {}
            }
        }
    }

    /// Runs until the client's action is done or fails; the server's
    /// last byte is acknowledged the moment it is written.
    pub(super) fn run(&mut self) -> Result<(), SessionError> {
        let (mut cbuf, mut sbuf) = (Vec::new(), Vec::new());
        for _ in 0..10_000_000 {
            let now = self.now;
            while let Some(t) = self.client.poll_transmit(now, &mut cbuf) {
                self.up.send(now, &cbuf[..t.len]);
            }
            if self.client.is_done() {
                return Ok(());
            }
            loop {
                self.drive_server();
                while let Some(t) = self.server.poll_transmit(now, &mut sbuf) {
                    self.down.send(now, &sbuf[..t.len]);
                }
                self.drive_server();
                if !self.server.awaiting_ack() {
                    break;
                }
                self.server.handle_acked(now, Some(now));
            }
            let mut moved = false;
            while let Some(b) = self.up.deliver(now) {
                self.server.handle_bytes(now, &b);
                moved = true;
            }
            while let Some(b) = self.down.deliver(now) {
                self.client.handle_bytes(now, &b)?;
                moved = true;
            }
            if moved {
                continue;
            }
            let next = [
                self.up.next_at(),
                self.down.next_at(),
                self.client.poll_timeout(),
                self.server.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min()
            .expect("a session waits for nothing: deadlock");
            self.now = self.now.max(next);
            self.client.handle_timeout(self.now)?;
        }
        panic!("the exchange did not end");
    }
}

/// What the test driver reads of the server's socket.
pub(super) fn readings() -> Readings {
    Readings {
        retrans: Some(0),
        cwnd: Some(10),
        rtt_us: Some(2000),
        ecn_negotiated: false,
        cpu_ns: Some((1_000, 2_000)),
        congestion: "cubic".to_string(),
    }
}

pub(super) const MS: Duration = Duration::from_millis(1);

pub(super) fn echo(t: Instant, size: usize, count: u32, interval: Duration) -> ClientAction {
    ClientAction::Echo(
        EchoClient::new(t, &vec![b'x'; size], count, interval, 5 * MS * 1000).unwrap(),
    )
}

pub(super) fn file(t: Instant, size: u64, rate: u64) -> ClientAction {
    ClientAction::File(FileClient::new(t, size, rate, Duration::from_secs(5)))
}

pub(super) fn stream(t: Instant, interval: Duration, count: u32, size: u32) -> ClientAction {
    ClientAction::Stream(StreamClient::new(
        t,
        epoch(t),
        (interval, count, size),
        Duration::from_secs(5),
    ))
}

/// Feeds `bytes` to a fresh server session and collects what it answers.
pub(super) fn serve_raw(bytes: &[u8], eof: bool) -> (ServerSession, Vec<u8>) {
    let t = base();
    let mut s = ServerSession::new(1, Limits::default(), epoch(t));
    s.handle_bytes(t, bytes);
    if eof {
        s.handle_eof(t);
    }
    let (mut out, mut buf) = (Vec::new(), Vec::new());
    while let Some(tx) = s.poll_transmit(t, &mut buf) {
        out.extend_from_slice(&buf[..tx.len]);
    }
    (s, out)
}

pub(super) fn first_error(out: &[u8]) -> ErrorCode {
    match codec::decode(out) {
        Ok(Some((Message::Error { code, .. }, _))) => code,
        other => panic!("{other:?}"),
    }
}
