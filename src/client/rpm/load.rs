//! The load: timed file transfers, each a [`Client`] on a thread of its
//! own (as `-P N` runs them), handing back its socket so that the driver
//! can read the connection's round-trip time and the bytes it delivered
//! from `TCP_INFO` while it runs (a timed upload publishes no running
//! total of its own).

use std::net::TcpStream;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::client::probe::Probe;
use crate::client::ticker::TickerConfig;
use crate::client::transfer::{Direction, Transfer};
use crate::client::{Client, ClientConfig, ClientError};
use crate::net::tcpinfo::RoundTrips;

/// One load flow while it runs.
pub(super) struct LoadFlow {
    direction: Direction,
    probe: Arc<Probe>,
    socket: Receiver<TcpStream>,
    stream: Option<TcpStream>,
    moved: u64,
    handle: Option<JoinHandle<Result<u64, ClientError>>>,
    /// Its id in the timeline, when one is taken.
    pub(super) timeline_id: Option<usize>,
    /// Whether its socket went to the timeline yet.
    sampled: bool,
}

impl LoadFlow {
    /// Starts a flow that connects and moves bytes `direction` for `time`.
    pub(super) fn start(config: &ClientConfig, direction: Direction, time: Duration) -> LoadFlow {
        let probe = Arc::new(Probe::default());
        let (tx, socket) = mpsc::channel();
        let (config, p) = (config.clone(), Arc::clone(&probe));
        let t = Transfer {
            direction,
            size: None,
            time: Some(time),
            rate_bps: 0,
        };
        let handle = std::thread::Builder::new()
            .name("rpm-load".to_string())
            .spawn(move || {
                let mut c = Client::connect(&config)?;
                if let Client::Tcp(tcp) = &c {
                    if let Some(s) = tcp.socket_handle() {
                        let _ = tx.send(s);
                    }
                }
                c.set_ticker(TickerConfig {
                    probe: Some(p),
                    ..TickerConfig::default()
                });
                let r = c.transfer(&t, None);
                let closed = c.finish();
                let r = r?;
                closed.map(|_| r.bytes)
            })
            .ok();
        LoadFlow {
            direction,
            probe,
            socket,
            stream: None,
            moved: 0,
            handle,
            timeline_id: None,
            sampled: false,
        }
    }

    /// A clone of its socket, once, as soon as [`LoadFlow::read`] has it:
    /// for the timeline to sample.
    pub(super) fn new_stream(&mut self) -> Option<TcpStream> {
        if self.sampled {
            return None;
        }
        let s = self.stream.as_ref()?.try_clone().ok()?;
        self.sampled = true;
        Some(s)
    }

    /// Bytes moved so far: those its connection delivered as `TCP_INFO`
    /// last said (the lab's framing included), or before the socket is
    /// read, those its transfer last published.
    pub(super) fn bytes(&self) -> u64 {
        self.moved.max(self.probe.totals().bytes)
    }

    /// Reads the connection's `TCP_INFO`: keeps the bytes it has moved
    /// and answers its round-trip time as the kernel keeps it, µs: the
    /// sender's smoothed RTT on an upload, the receiver's estimate on a
    /// download; `None` before it connects or while the kernel has none.
    pub(super) fn read(&mut self) -> Option<f64> {
        if self.stream.is_none() {
            self.stream = self.socket.try_recv().ok();
        }
        let rt = RoundTrips::read(self.stream.as_ref()?).ok()?;
        self.moved = self.moved.max(rt.moved_bytes);
        let us = match self.direction {
            Direction::Upload => rt.rtt_us,
            Direction::Download => rt.rcv_rtt_us,
        };
        (us > 0).then_some(f64::from(us))
    }

    /// Waits for the flow to end: its bytes in all, or why it failed.
    pub(super) fn join(mut self) -> Result<u64, ClientError> {
        let Some(h) = self.handle.take() else {
            return Err(ClientError::Protocol(
                "could not start a load flow's thread".to_string(),
            ));
        };
        h.join().unwrap_or_else(|_| {
            Err(ClientError::Protocol(
                "a load flow's thread panicked".to_string(),
            ))
        })
    }
}
