//! The UDP probe: a stamped echo (StampedEchoRequest, answered with the
//! server's times of it, [`crate::proto::stamps`]) on a connected socket of
//! its own, one request a session, so that each probe gives its round trip
//! and the four times that split it up and down
//! ([`crate::responsiveness::split`]). The client's times are its send
//! call and the return of its receive, on the Unix-epoch clock as the
//! server's are. A server that does not know stamped echoes gets plain
//! ones from then on: round trips without a split.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use super::probes::PROBE_TIMEOUT;
use crate::client::{ClientConfig, ClientError};
use crate::net::marking;
use crate::net::udp::{UdpOpts, udp_connect};
use crate::pace;
use crate::proto::datagram::{self, Body, DgramHeader};
use crate::proto::stamps::ServerStamps;
use crate::session::Epoch;
use crate::session::offset::Exchange;

/// The bytes a UDP probe carries.
const PROBE_TEXT: &[u8] = b"rpm";

/// One UDP probe's answer.
#[derive(Debug, Clone, Copy)]
pub(super) struct UdpAnswer {
    /// The round trip, µs.
    pub(super) rtt_us: f64,
    /// Its four times, when the server stamped its reply.
    pub(super) exchange: Option<Exchange>,
}

/// A UDP prober's socket and its sessions.
pub(super) struct UdpProbe {
    sock: UdpSocket,
    epoch: Epoch,
    session: u32,
    stamped: bool,
    buf: Vec<u8>,
}

impl UdpProbe {
    /// A socket connected to the server of `config`, marked as it asks.
    pub(super) fn open(config: &ClientConfig) -> Result<UdpProbe, ClientError> {
        let opts = UdpOpts {
            sndbuf: None,
            rcvbuf: None,
            fragment: false,
        };
        let (sock, _) = udp_connect(config.target, &opts)?;
        if let Some(t) = config.opts.tos {
            marking::set_tos(&sock, t).map_err(|source| {
                ClientError::Net(crate::net::NetError::Option {
                    name: "IP_TOS",
                    source,
                })
            })?;
        }
        Ok(UdpProbe {
            sock,
            epoch: pace::epoch_now(),
            // Each prober its own range of sessions.
            session: (pace::unix_ns() as u32) | 1,
            stamped: true,
            buf: vec![0; 2048],
        })
    }

    /// One probe: its answer, `Ok(None)` when none came within
    /// [`PROBE_TIMEOUT`] (lost), or the socket's error (an ICMP refusal).
    pub(super) fn once(&mut self) -> Result<Option<UdpAnswer>, ClientError> {
        self.session = self.session.wrapping_add(2);
        let sent = Instant::now();
        let h = DgramHeader {
            session: self.session,
            seq: 0,
            // One request: the server ends the session with its answer.
            offset: 1,
            sent_ns: self.epoch.unix_ns_of(sent),
        };
        let data = PROBE_TEXT.to_vec();
        let body = if self.stamped {
            Body::StampedEchoRequest { data }
        } else {
            Body::EchoRequest { data }
        };
        self.sock.send(&datagram::to_vec(&h, &body))?;
        let deadline = sent + PROBE_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.sock
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
            let n = match self.sock.recv(&mut self.buf) {
                Ok(n) => n,
                Err(e) if is_timeout(&e) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let got = Instant::now();
            let Ok((rh, reply)) = datagram::decode(&self.buf[..n]) else {
                continue;
            };
            if rh.session != self.session {
                // A late answer to an earlier probe.
                continue;
            }
            let rtt_us = (got - sent).as_secs_f64() * 1e6;
            match reply {
                Body::StampedEchoReply { stamps, .. } => {
                    let exchange = exchange(&self.epoch, sent, &stamps, got);
                    return Ok(Some(UdpAnswer { rtt_us, exchange }));
                }
                Body::EchoReply { .. } => {
                    return Ok(Some(UdpAnswer {
                        rtt_us,
                        exchange: None,
                    }));
                }
                Body::Error { .. } if self.stamped => {
                    // An older server: plain echoes from now on, and this
                    // probe is taken again.
                    self.stamped = false;
                    return self.once();
                }
                Body::Error { message, .. } => return Err(ClientError::Protocol(message)),
                _ => continue,
            }
        }
    }
}

/// The four times of a stamped echo: `None` when the server took none.
fn exchange(epoch: &Epoch, sent: Instant, s: &ServerStamps, got: Instant) -> Option<Exchange> {
    let t2 = if s.rx_ns != 0 { s.rx_ns } else { s.read_ns };
    (t2 != 0 && s.reply_ns != 0).then(|| Exchange {
        t1: epoch.unix_ns_of(sent),
        t2,
        t3: s.reply_ns.max(t2),
        t4: epoch.unix_ns_of(got),
    })
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}
