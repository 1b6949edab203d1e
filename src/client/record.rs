//! A client's instruments: the model capture of its own events (`--pcap`)
//! and the live capture of its flow (`--capture`), opened around one
//! connection and closed when it ends.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::Serialize;

use super::ClientError;
use crate::instruments::{
    CaptureRequest, FlowModel, Live, LiveReport, ModelFile, default_path, live_path_beside,
};
use crate::pcap::model::Direction;
use crate::wire::Transport;

/// What `--pcap` and `--capture` asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recording {
    /// The model capture's path.
    pub pcap: Option<PathBuf>,
    /// `--capture`: `Some("")` for the interface that carries the flow.
    pub capture: Option<String>,
    /// One flow of several: the model file every flow writes to, opened
    /// by their runner (which also takes the one live capture of them all).
    pub shared: Option<SharedModel>,
}

/// A model file that several flows share, and the name of one of them,
/// which every comment of its frames begins with ("flow 3/4 upload").
#[derive(Debug, Clone)]
pub struct SharedModel {
    /// The file.
    pub file: ModelFile,
    /// The flow's name in comments.
    pub label: String,
}

impl PartialEq for SharedModel {
    fn eq(&self, other: &SharedModel) -> bool {
        self.file.same_file(&other.file) && self.label == other.label
    }
}

impl Eq for SharedModel {}

impl Recording {
    /// Whether any instrument is on.
    pub fn any(&self) -> bool {
        self.pcap.is_some() || self.capture.is_some() || self.shared.is_some()
    }

    /// The live capture asked for, if any: beside the model file, or a
    /// fresh name under the captures folder.
    pub(crate) fn live_request(&self, what: &str) -> Option<CaptureRequest> {
        let iface = self.capture.as_ref()?;
        Some(CaptureRequest {
            iface: (!iface.is_empty()).then(|| iface.clone()),
            path: match &self.pcap {
                Some(p) => live_path_beside(p),
                None => default_path("client", what),
            },
        })
    }
}

/// Where a run's captures went.
#[derive(Debug, Clone, Serialize)]
pub struct CapturesReport {
    /// The model capture: path and frames.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelReport>,
    /// The live capture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveReport>,
}

/// A finished model capture.
#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    /// The file.
    pub path: String,
    /// Frames written.
    pub frames: u64,
    /// Frames whose times are the kernel's stamps (a stamped echo's
    /// requests and replies), not the application's clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_times: Option<u64>,
}

/// The instruments of one connection (all off by default).
#[derive(Debug, Default)]
pub struct Instruments {
    model: Option<(ModelFile, FlowModel)>,
    live: Option<Live>,
    /// Whether the model file is shared (its owner finishes it).
    shared: bool,
    /// The socket's own address, once bound.
    local: Option<SocketAddr>,
}

impl Instruments {
    /// Starts the live capture, if asked, for a flow from `local` to `peer`:
    /// call it once the socket is bound and before anything is sent.
    pub fn start_live(
        &mut self,
        rec: &Recording,
        transport: Transport,
        local: SocketAddr,
        peer: IpAddr,
    ) -> Result<(), ClientError> {
        self.local = Some(local);
        let what = match transport {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        };
        if let Some(req) = rec.live_request(what) {
            let live = Live::start(&req, transport, local, peer)?;
            super::interrupt::watch_live(live.stopper());
            self.live = Some(live);
        }
        Ok(())
    }

    /// Opens the model capture, if asked, with `flow` as its one flow.
    pub fn open_model(
        &mut self,
        rec: &Recording,
        flow: impl FnOnce(&ModelFile) -> FlowModel,
    ) -> Result<(), ClientError> {
        if let Some(shared) = &rec.shared {
            let file = shared.file.labelled(&shared.label);
            let f = flow(&file);
            self.model = Some((file, f));
            self.shared = true;
        } else if let Some(path) = &rec.pcap {
            let file = ModelFile::create(path)?;
            let f = flow(&file);
            super::interrupt::watch_model(file.clone());
            self.model = Some((file, f));
        }
        Ok(())
    }

    /// Whether the model capture is on (so callers can skip building what
    /// it would record).
    pub fn modelling(&self) -> bool {
        self.model.is_some()
    }

    /// Whether a live capture runs.
    pub fn capturing(&self) -> bool {
        self.live.is_some()
    }

    /// The socket's address as it was bound (the port its own; the
    /// address may be the wildcard), once it is.
    pub fn local(&self) -> Option<SocketAddr> {
        self.local
    }

    /// Records `bytes` sent in `dir`; the comment is built only when recording.
    pub fn send(&mut self, dir: Direction, bytes: &[u8], comment: impl FnOnce() -> String) {
        if let Some((_, f)) = self.model.as_mut() {
            f.send(dir, bytes, &comment());
        }
    }

    /// Records a file reply: `head` then `len` pattern bytes.
    pub fn send_file(&mut self, dir: Direction, head: &[u8], len: u64, comment: &str) {
        if let Some((_, f)) = self.model.as_mut() {
            f.send_file(dir, head, len, comment);
        }
    }

    /// Records a timed file: `head`, `len` file bytes as FileData
    /// messages, and FileEnd when `end`.
    pub fn send_timed(&mut self, dir: Direction, head: &[u8], len: u64, end: bool, comment: &str) {
        if let Some((_, f)) = self.model.as_mut() {
            f.send_timed(dir, head, len, end, comment);
        }
    }

    /// Closes both: the model's teardown (the client closes first), then the
    /// files. `None` when no instrument was on.
    pub fn finish(&mut self) -> Result<Option<CapturesReport>, ClientError> {
        if self.model.is_none() && self.live.is_none() {
            return Ok(None);
        }
        // A signal meanwhile waits for the files to be whole.
        let _closing = super::interrupt::closing();
        if self.shared {
            return self.finish_shared();
        }
        let model = match self.model.take() {
            Some((file, mut flow)) => {
                flow.close(Direction::ToServer);
                let frames = file.finish()?;
                if let Some(e) = flow.error() {
                    return Err(ClientError::Protocol(format!(
                        "the model capture {} stopped: {e}",
                        file.path().display()
                    )));
                }
                Some(ModelReport {
                    path: file.path().display().to_string(),
                    frames,
                    kernel_times: None,
                })
            }
            None => None,
        };
        let live = match self.live.take() {
            Some(l) => Some(l.stop()?),
            None => None,
        };
        if model.is_none() && live.is_none() {
            return Ok(None);
        }
        Ok(Some(CapturesReport { model, live }))
    }

    /// Closes this flow's part of a shared model file (its teardown; the
    /// file stays open for the others and its owner finishes it).
    fn finish_shared(&mut self) -> Result<Option<CapturesReport>, ClientError> {
        if let Some((file, mut flow)) = self.model.take() {
            flow.close(Direction::ToServer);
            if let Some(e) = flow.error() {
                return Err(ClientError::Protocol(format!(
                    "the model capture {} stopped: {e}",
                    file.path().display()
                )));
            }
        }
        Ok(None)
    }
}
