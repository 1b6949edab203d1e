//! Tests' scripted server and network: a client session run on virtual
//! time against a server that answers by rote, through a path whose fate
//! for each datagram (delivered, dropped, doubled) the test decides.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{ClientSession, SessionError};
use crate::content;
use crate::proto::datagram::{self, Body, DGRAM_HEADER, DgramHeader};
use crate::proto::message::ErrorCode;
use crate::session::Epoch;

/// One way's delay on the scripted path.
pub const DELAY: Duration = Duration::from_millis(1);
/// The token the scripted server hands out.
pub const TOKEN: u64 = 0x5eed;
/// The session id tests use.
pub const ID: u32 = 7;

/// What the path does to the n-th datagram from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Arrives once.
    Deliver,
    /// Never arrives.
    Drop,
    /// Arrives twice.
    Double,
}

/// How the scripted server behaves.
#[derive(Debug, Clone)]
pub struct Script {
    /// Answer Hello (else stay silent).
    pub answers: bool,
    /// Refuse every request with this sentence.
    pub refuse: Option<String>,
    /// Send the End messages (else end by silence).
    pub ends: bool,
    /// The count the End claims, if not the true one.
    pub claim: Option<u64>,
    /// Flip a byte of the file at this offset.
    pub corrupt: Option<u64>,
    /// Send the file's datagrams last first.
    pub reverse: bool,
    /// What happens to the n-th datagram from the server (beyond the list:
    /// delivered).
    pub fates: Vec<Fate>,
}

impl Default for Script {
    fn default() -> Script {
        Script {
            answers: true,
            refuse: None,
            ends: true,
            claim: None,
            corrupt: None,
            reverse: false,
            fates: Vec::new(),
        }
    }
}

/// The time base of every test, and its epoch.
pub fn base() -> (Instant, Epoch) {
    let t = Instant::now();
    (t, Epoch::pin(t, 1_700_000_000_000_000_000))
}

/// What a run saw: when it ended, every datagram the client sent, and the
/// datagrams the server sent (before the path's fates).
#[derive(Debug)]
pub struct Run {
    /// Virtual time at the end.
    pub end: Instant,
    /// The client's datagrams, with their send times.
    pub sent: Vec<(Instant, Vec<u8>)>,
    /// Datagrams the server sent.
    pub served: u64,
    /// In-order file bytes the session handed out.
    pub in_order: Vec<u8>,
}

/// Runs `s` against the scripted server from `start`: every datagram takes
/// [`DELAY`] each way, time jumps to the next event.
pub fn drive(
    s: &mut ClientSession,
    script: &Script,
    start: Instant,
    epoch: Epoch,
) -> Result<Run, SessionError> {
    let mut now = start;
    let mut to_client: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let mut run = Run {
        end: start,
        sent: Vec::new(),
        served: 0,
        in_order: Vec::new(),
    };
    let mut buf = Vec::new();
    for _ in 0..1_000_000 {
        while let Some(t) = s.poll_transmit(now, &mut buf) {
            let seg = t.segment.unwrap_or(t.len).max(1);
            for d in buf[..t.len].chunks(seg) {
                run.sent.push((now, d.to_vec()));
                for reply in answer(script, d, now + DELAY, epoch) {
                    let fate = script.fates.get(run.served as usize).copied();
                    run.served += 1;
                    let at = now + 2 * DELAY;
                    match fate.unwrap_or(Fate::Deliver) {
                        Fate::Deliver => to_client.push_back((at, reply)),
                        Fate::Drop => {}
                        Fate::Double => {
                            to_client.push_back((at, reply.clone()));
                            to_client.push_back((at, reply));
                        }
                    }
                }
            }
        }
        if s.is_done() {
            run.end = now;
            return Ok(run);
        }
        let arrival = to_client.front().map(|(t, _)| *t);
        let wake = s.poll_timeout();
        match (arrival, wake) {
            (Some(a), w) if w.is_none_or(|w| a <= w) => {
                now = now.max(a);
                if let Some((_, d)) = to_client.pop_front() {
                    if s.owns(&d) {
                        s.handle_datagram(now, &d)?;
                    }
                    if let ClientSession::File(f) = s {
                        run.in_order.extend_from_slice(f.ready_bytes());
                        f.consume_ready();
                    }
                }
            }
            (_, Some(w)) => {
                now = now.max(w);
                s.handle_timeout(now)?;
            }
            (None, None) => panic!("the session waits for nothing and is not done"),
            // `arrival` is `Some` and `wake` is `None`: handled above.
            (Some(_), None) => unreachable!(),
        }
    }
    panic!("the session never ended")
}

/// The scripted server's answer to `d`, stamped `at`.
fn answer(script: &Script, d: &[u8], at: Instant, epoch: Epoch) -> Vec<Vec<u8>> {
    let Ok((h, body)) = datagram::decode(d) else {
        return Vec::new();
    };
    if !script.answers {
        return Vec::new();
    }
    let stamp = |seq: u32, offset: u64| DgramHeader {
        session: h.session,
        seq,
        offset,
        sent_ns: epoch.unix_ns_of(at),
    };
    let one = |b: &Body| vec![datagram::to_vec(&stamp(0, 0), b)];
    if let Some(why) = script
        .refuse
        .as_ref()
        .filter(|_| !matches!(body, Body::Hello))
    {
        return one(&Body::error(ErrorCode::Busy, why.clone()));
    }
    match body {
        Body::Hello => one(&Body::Cookie { token: TOKEN }),
        Body::EchoRequest { data } => vec![datagram::to_vec(&h, &Body::EchoReply { data })],
        Body::FileRequest {
            size,
            segment,
            token: TOKEN,
            ..
        } => file(script, size, segment, &stamp),
        Body::StreamRequest {
            count,
            size,
            interval_ns,
            token: TOKEN,
            ..
        } => {
            let t0 = epoch.unix_ns_of(at);
            let mut out = one(&Body::StreamStart {
                interval_ns,
                count,
                size,
                t0_ns: t0,
            });
            for i in 0..count {
                let due = t0 + u64::from(i) * interval_ns;
                let h = DgramHeader {
                    sent_ns: due + 3_000,
                    ..stamp(i, 0)
                };
                let seg = Body::StreamSegment {
                    scheduled_ns: due,
                    size,
                };
                out.push(datagram::to_vec(&h, &seg));
            }
            if script.ends {
                let sent = script.claim.map_or(count, |c| c as u32);
                for _ in 0..3 {
                    out.extend(one(&Body::StreamEnd { sent }));
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

/// A file's datagrams as the scripted server sends them.
fn file(
    script: &Script,
    size: u64,
    segment: u32,
    stamp: &dyn Fn(u32, u64) -> DgramHeader,
) -> Vec<Vec<u8>> {
    let per = u64::from(segment) - DGRAM_HEADER as u64;
    let n = size.div_ceil(per);
    let ready = Body::FileReady {
        size,
        segment,
        datagrams: n,
    };
    let mut out = vec![datagram::to_vec(&stamp(0, 0), &ready)];
    let mut data: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let off = i * per;
            let mut bytes = content::fill_vec(off, per.min(size - off) as usize);
            if let Some(c) = script.corrupt.filter(|c| (off..off + per).contains(c)) {
                bytes[(c - off) as usize] ^= 0xff;
            }
            datagram::to_vec(&stamp(i as u32, off), &Body::FileData { data: bytes })
        })
        .collect();
    if script.reverse {
        data.reverse();
    }
    out.extend(data);
    if script.ends {
        let end = Body::FileEnd {
            datagrams: script.claim.unwrap_or(n),
            bytes: size,
            sent_with: None,
        };
        for _ in 0..3 {
            out.push(datagram::to_vec(&stamp(0, 0), &end));
        }
    }
    out
}
