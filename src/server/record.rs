//! The server's instruments: the model capture (`--pcap`) of every session
//! and the live capture (`--capture`) around the whole run.
//!
//! - [`Recorder`]: one TCP session's messages in the model, each frame
//!   commented with the lab event it carries ("echo 17 request", "file",
//!   "stream seq 42"). A session without `--pcap` gets [`Recorder::off`],
//!   and every call is then a test of one `Option`.
//! - [`UdpModels`]: one UDP flow model per peer, at most a fixed number of
//!   peers (the least recently heard from is dropped), shared by the
//!   receive loop and the transfer threads.
//! - [`ServerCaptures`]: both files for one server run: started before the
//!   first client, finished (and logged) when the server returns.
//!
//! A TCP write is recorded once it has completed, as one send: a file
//! reply is one record of its FileReady and all its bytes, not one per
//! chunk written, so the model stays out of the transfer's way.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::instruments::comment::{dgram_comment, message_comment};
use crate::instruments::{
    CaptureRequest, FlowModel, InstrumentError, Live, LiveReport, ModelFile, default_path,
    live_path_beside,
};
use crate::pcap::capture::interface_for;
use crate::pcap::model::Direction;
use crate::proto::{Message, codec};
use crate::wire::Transport;

/// lo's MTU. IPv4 caps it at its largest packet, 65535; IPv6 carries it
/// whole (a 65488-byte payload leaves unfragmented).
pub const LOOPBACK_MTU: u32 = 65_536;
/// The model's MTU for a UDP flow when the interface's is unknown.
pub const DEFAULT_UDP_MTU: u32 = 1500;

/// Records one TCP session in the model capture, or nothing.
#[derive(Debug)]
pub struct Recorder<'a> {
    flow: Option<&'a mut FlowModel>,
}

impl<'a> Recorder<'a> {
    /// Records into `flow`, or nothing when it is `None`.
    pub fn new(flow: Option<&'a mut FlowModel>) -> Recorder<'a> {
        Recorder { flow }
    }

    /// Records nothing.
    pub fn off() -> Recorder<'static> {
        Recorder { flow: None }
    }

    /// Whether anything is recorded.
    pub fn is_on(&self) -> bool {
        self.flow.is_some()
    }

    /// Records `bytes` sent in `dir`; `comment` is only built when recording.
    pub fn bytes(&mut self, dir: Direction, bytes: &[u8], comment: impl FnOnce() -> String) {
        if let Some(f) = self.flow.as_deref_mut() {
            f.send(dir, bytes, &comment());
        }
    }

    /// Records a message the client sent.
    pub fn received(&mut self, msg: &Message) {
        self.message(Direction::ToServer, msg);
    }

    /// Records a message the server sent.
    pub fn sent(&mut self, msg: &Message) {
        self.message(Direction::ToClient, msg);
    }

    fn message(&mut self, dir: Direction, msg: &Message) {
        if let Some(f) = self.flow.as_deref_mut() {
            // A message that decoded encodes again to the same bytes.
            if let Ok(bytes) = codec::to_vec(msg) {
                f.send(dir, &bytes, &message_comment(msg));
            }
        }
    }

    /// Records a text line the client sent (its newline put back).
    pub fn line_received(&mut self, line: &[u8]) {
        if let Some(f) = self.flow.as_deref_mut() {
            let mut v = Vec::with_capacity(line.len() + 1);
            v.extend_from_slice(line);
            v.push(b'\n');
            f.send(Direction::ToServer, &v, "text line");
        }
    }

    /// Records a file reply the server wrote: `head` (its framing) and `len`
    /// file bytes, as one send.
    pub fn file(&mut self, head: &[u8], len: u64, comment: impl FnOnce() -> String) {
        if let Some(f) = self.flow.as_deref_mut() {
            f.send_file(Direction::ToClient, head, len, &comment());
        }
    }

    /// Records a timed file sent `dir`: `head`, `len` file bytes as
    /// FileData messages, and FileEnd when `end`.
    pub fn timed(&mut self, dir: Direction, head: &[u8], len: u64, end: bool, comment: &str) {
        if let Some(f) = self.flow.as_deref_mut() {
            f.send_timed(dir, head, len, end, comment);
        }
    }

    /// Records the teardown: the client's FIN first, or the server's.
    pub fn close(&mut self, client_first: bool) {
        if let Some(f) = self.flow.as_deref_mut() {
            f.close(if client_first {
                Direction::ToServer
            } else {
                Direction::ToClient
            });
        }
    }

    /// Why the model stopped recording this session, if it did.
    pub fn error(&self) -> Option<&str> {
        self.flow.as_deref().and_then(FlowModel::error)
    }
}

/// One peer's flow in a UDP model capture, shared between threads.
pub type SharedFlow = Arc<Mutex<FlowModel>>;

/// Records `d` sent in `dir` on `flow`.
pub fn record_datagram(flow: &SharedFlow, dir: Direction, d: &[u8]) {
    let comment = dgram_comment(dir, d);
    let mut f = flow.lock().unwrap_or_else(|p| p.into_inner());
    f.send(dir, d, &comment);
}

/// The UDP server's flow models: one per peer address, at most `max`.
#[derive(Debug)]
pub struct UdpModels {
    file: ModelFile,
    local: SocketAddr,
    max: usize,
    flows: HashMap<SocketAddr, (Instant, SharedFlow)>,
}

impl UdpModels {
    /// Flows of the server at `local`, into `file`, for at most `max` peers.
    pub fn new(file: ModelFile, local: SocketAddr, max: usize) -> UdpModels {
        UdpModels {
            file,
            local,
            max: max.max(1),
            flows: HashMap::new(),
        }
    }

    /// The flow with `peer`, made if new; the least recently used one is
    /// forgotten when there are too many.
    pub fn flow(&mut self, peer: SocketAddr) -> SharedFlow {
        if let Some((used, f)) = self.flows.get_mut(&peer) {
            *used = Instant::now();
            return Arc::clone(f);
        }
        if self.flows.len() >= self.max {
            let oldest = self
                .flows
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(a, _)| *a);
            if let Some(a) = oldest {
                self.flows.remove(&a);
            }
        }
        let local = model_local(self.local, peer);
        let mtu = udp_mtu(peer.ip());
        let f = Arc::new(Mutex::new(FlowModel::udp(&self.file, peer, local, mtu)));
        if let Some(e) = f.lock().ok().as_deref().and_then(FlowModel::error) {
            tracing::warn!("model capture: {peer}: not recorded: {e}");
        }
        self.flows.insert(peer, (Instant::now(), Arc::clone(&f)));
        f
    }

    /// Records `d` exchanged with `peer` in `dir`.
    pub fn record(&mut self, peer: SocketAddr, dir: Direction, d: &[u8]) {
        let f = self.flow(peer);
        record_datagram(&f, dir, d);
    }

    /// Peers with a flow now.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether no peer has a flow.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }
}

/// The server's address as the model writes it: a server bound to the
/// wildcard answers a loopback peer from the peer's own loopback address.
fn model_local(local: SocketAddr, peer: SocketAddr) -> SocketAddr {
    if local.ip().is_unspecified() && peer.ip().is_loopback() {
        SocketAddr::new(peer.ip(), local.port())
    } else {
        local
    }
}

/// The MTU the model gives a UDP flow with `peer`: loopback's, else the
/// interface's as sysfs says, else Ethernet's.
pub fn udp_mtu(peer: IpAddr) -> u32 {
    let peer = peer.to_canonical();
    let mtu = if peer.is_loopback() {
        LOOPBACK_MTU
    } else {
        interface_for(&peer)
            .and_then(|i| std::fs::read_to_string(format!("/sys/class/net/{i}/mtu")).ok())
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(DEFAULT_UDP_MTU)
    };
    mtu.min(crate::pcap::model::udp::max_mtu(peer.is_ipv6()))
}

/// The model capture and the live capture of one server run.
#[derive(Debug, Default)]
pub struct ServerCaptures {
    model: Option<ModelFile>,
    live: Option<Live>,
}

impl ServerCaptures {
    /// Starts what was asked for: the live capture of the server at `local`
    /// (on `capture`'s interface, or the one carrying `local`; "" means
    /// that one), then the model file at `pcap`. The live capture goes
    /// beside the model file, or under `captures/`.
    pub fn start(
        pcap: Option<&Path>,
        capture: Option<&str>,
        transport: Transport,
        local: SocketAddr,
    ) -> Result<ServerCaptures, InstrumentError> {
        let live = match capture {
            None => None,
            Some(iface) => {
                let what = match transport {
                    Transport::Tcp => "tcp",
                    Transport::Udp => "udp",
                };
                let req = CaptureRequest {
                    iface: (!iface.is_empty()).then(|| iface.to_string()),
                    path: pcap.map_or_else(|| default_path("server", what), live_path_beside),
                };
                let live = Live::start(&req, transport, local, local.ip())?;
                tracing::info!("live capture: {}", req.path.display());
                Some(live)
            }
        };
        let model = match pcap {
            None => None,
            Some(p) => {
                let m = ModelFile::create(p)?;
                tracing::info!("model capture: {}", p.display());
                Some(m)
            }
        };
        Ok(ServerCaptures { model, live })
    }

    /// The model file, for the sessions to write to.
    pub fn model(&self) -> Option<ModelFile> {
        self.model.clone()
    }

    /// Stops the live capture and finishes the model file, logging one line
    /// for each; both files are whole after this.
    pub fn finish(self) -> Result<(), InstrumentError> {
        let live = self.live.map(Live::stop).transpose();
        if let Ok(Some(LiveReport {
            iface,
            path,
            frames,
            bytes,
            dropped,
            ..
        })) = &live
        {
            tracing::info!(
                "live capture on {iface}: {frames} frames, {bytes} bytes, {dropped} dropped: {path}"
            );
        }
        let model = match &self.model {
            Some(m) => m.finish().map(|frames| {
                tracing::info!("model capture: {frames} frames: {}", m.path().display());
            }),
            None => Ok(()),
        };
        live.map(|_| ()).and(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_peers_are_bounded_and_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.pcap");
        let file = ModelFile::create(&path).unwrap();
        let local: SocketAddr = "127.0.0.1:5005".parse().unwrap();
        let mut m = UdpModels::new(file.clone(), local, 2);
        for port in 40_000..40_005 {
            let peer = SocketAddr::new(local.ip(), port);
            m.record(peer, Direction::ToServer, b"ping\n");
            m.record(peer, Direction::ToClient, b"ping\n");
        }
        assert_eq!(m.len(), 2);
        assert_eq!(file.finish().unwrap(), 10);
        let s = crate::pcap::summarize_path(&path).unwrap();
        assert_eq!((s.frames, s.checksums.bad), (10, 0));
    }

    #[test]
    fn loopback_udp_has_the_largest_ipv4_mtu() {
        assert_eq!(udp_mtu("127.0.0.1".parse().unwrap()), 65_535);
        assert_eq!(udp_mtu("::1".parse().unwrap()), 65_536);
        assert_eq!(udp_mtu("::ffff:127.0.0.1".parse().unwrap()), 65_535);
    }

    #[test]
    fn a_recorder_that_is_off_records_nothing() {
        let mut r = Recorder::off();
        assert!(!r.is_on());
        r.bytes(Direction::ToServer, b"x", || unreachable!());
        r.close(true);
        assert!(r.error().is_none());
    }
}
