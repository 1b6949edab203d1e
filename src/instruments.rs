//! The lab's instruments around a transfer: the model capture (`--pcap`),
//! written from the lab's own events, and the live capture (`--capture`),
//! what really crossed the interface.
//!
//! A [`ModelFile`] is one capture file that any number of flows write to (a
//! server's sessions share one); a [`FlowModel`] is one connection's or one
//! UDP session's frames in it. Recording never stops a transfer: the first
//! error is kept, recording stops, and the caller reports it at the end.
//! [`comment`] names the lab event each frame of a model capture carries.
//! [`sampler`] reads each flow's `TCP_INFO` and a watched queue on one
//! clock while a transfer runs (the timeline).

pub mod comment;
pub mod sampler;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::account::beside::CaptureColumn;
use crate::pace::unix_ns;
use crate::pcap::Summary;
use crate::pcap::capture::{
    CaptureError, CaptureStats, CaptureStopper, DEFAULT_SNAPLEN, FlowFilter, LiveCapture,
    StampSources, interface_for,
};
use crate::pcap::model::{
    Direction, FrameSink, ModelCapture, ModelError, ModelFrame, ModelOptions, Payload, TcpFlow,
    UdpFlow,
};
use crate::wire::{Layers, Transport, checksum};

/// Where captures go when no path is given.
pub const CAPTURES_DIR: &str = "captures";

/// Why an instrument could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum InstrumentError {
    /// The model capture failed.
    #[error("model capture {path}: {source}")]
    Model {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: ModelError,
    },
    /// The live capture failed.
    #[error("live capture: {0}")]
    Live(#[from] CaptureError),
    /// No interface carries the flow.
    #[error("no interface carries traffic to {0}; name one with --capture=IFACE")]
    NoInterface(std::net::IpAddr),
}

/// One model capture file, shared by the flows written to it.
#[derive(Debug, Clone)]
pub struct ModelFile {
    path: PathBuf,
    file: Arc<Mutex<Option<ModelCapture>>>,
    /// What every frame written through this handle has before its
    /// comment ("flow 3/4 upload"): a client's flows, one handle each.
    label: Option<Arc<str>>,
}

impl ModelFile {
    /// Creates the file: pcapng with a comment per frame, or classic pcap
    /// when the name ends in `.pcap`.
    pub fn create(path: &Path) -> Result<ModelFile, InstrumentError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let cap = ModelCapture::create(path, ModelOptions::default()).map_err(|source| {
            InstrumentError::Model {
                path: path.to_path_buf(),
                source,
            }
        })?;
        Ok(ModelFile {
            path: path.to_path_buf(),
            file: Arc::new(Mutex::new(Some(cap))),
            label: None,
        })
    }

    /// A handle to the same file whose frames' comments all begin with
    /// `label` ("flow 3/4 upload: handshake SYN").
    pub fn labelled(&self, label: &str) -> ModelFile {
        ModelFile {
            label: Some(Arc::from(label)),
            ..self.clone()
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `other` writes to the same file as this.
    pub fn same_file(&self, other: &ModelFile) -> bool {
        Arc::ptr_eq(&self.file, &other.file)
    }

    /// Flushes what was written so far (the file is whole after this).
    pub fn flush(&self) {
        if let Ok(mut g) = self.file.lock() {
            if let Some(c) = g.as_mut() {
                let _ = c.flush();
            }
        }
    }

    /// Closes the file; returns its frame count.
    pub fn finish(&self) -> Result<u64, InstrumentError> {
        let cap = self.file.lock().ok().and_then(|mut g| g.take());
        match cap {
            Some(c) => c
                .finish()
                .map(|s| s.frames)
                .map_err(|source| InstrumentError::Model {
                    path: self.path.clone(),
                    source,
                }),
            None => Ok(0),
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Sink<'_>) -> Result<T, ModelError>,
    ) -> Result<Option<T>, ModelError> {
        let mut g = self.file.lock().unwrap_or_else(|p| p.into_inner());
        match g.as_mut() {
            Some(cap) => f(&mut Sink {
                cap,
                label: self.label.as_deref(),
            })
            .map(Some),
            None => Ok(None),
        }
    }
}

/// The file as one handle writes to it: its frames' comments after the
/// handle's label, if it has one.
struct Sink<'a> {
    cap: &'a mut ModelCapture,
    label: Option<&'a str>,
}

impl FrameSink for Sink<'_> {
    fn snaplen(&self) -> u32 {
        self.cap.snaplen()
    }

    fn write_frame(&mut self, frame: &ModelFrame<'_>) -> Result<(), ModelError> {
        match self.label {
            None => self.cap.write_frame(frame),
            Some(l) => self.cap.write_frame(&ModelFrame {
                comment: &format!("{l}: {}", frame.comment),
                ..*frame
            }),
        }
    }
}

#[derive(Debug)]
enum Flow {
    Tcp(TcpFlow),
    Udp(UdpFlow),
    /// A flow the model refused (its error is kept); nothing is recorded.
    Refused,
}

/// One flow's frames in a model capture.
#[derive(Debug)]
pub struct FlowModel {
    file: ModelFile,
    flow: Flow,
    error: Option<String>,
    closed: bool,
}

/// A file reply as a model's payload: `head` (the framing before the file,
/// if any) then the file from offset 0. Its checksum sums come from the
/// pattern ([`crate::content::sum16`]), so a segment's bytes are generated
/// only as far as the snap length keeps them.
struct Reply<'a> {
    head: &'a [u8],
}

impl Payload for Reply<'_> {
    fn fill(&mut self, offset: u64, out: &mut [u8]) {
        fill_reply(self.head, offset, out);
    }

    fn sum(&mut self, offset: u64, len: u64) -> Option<u64> {
        let h = self.head.len() as u64;
        let end = offset + len;
        let mut sum = 0u64;
        let mut pos = 0u64;
        if offset < h {
            let part = &self.head[offset as usize..end.min(h) as usize];
            sum = checksum::fast_sum(part);
            pos = part.len() as u64;
        }
        if end > h && pos < len {
            let from = offset.max(h) - h;
            let file = crate::content::sum16(from, end - offset.max(h));
            sum = checksum::add(sum, checksum::at_position(file, pos));
        }
        Some(sum)
    }
}

/// The pattern bytes of a file reply: `head` (the framing before the file,
/// if any) then the file from offset 0.
fn fill_reply(head: &[u8], offset: u64, out: &mut [u8]) {
    let mut pos = 0usize;
    let mut off = offset;
    if (off as usize) < head.len() {
        let from = &head[off as usize..];
        let n = from.len().min(out.len());
        out[..n].copy_from_slice(&from[..n]);
        pos = n;
        off += n as u64;
    }
    if pos < out.len() {
        crate::content::fill(off - head.len() as u64, &mut out[pos..]);
    }
}

/// How one end saw its handshake, which ended (the connection ready) when
/// the model opens: the round trip the kernel measured in it (`TCP_INFO`'s
/// `rtt`), and whose model this is. The client sent its SYN one round trip
/// before it had the SYN-ACK and sent its ACK; the server had the SYN and
/// answered one round trip before the ACK came.
#[derive(Debug, Clone, Copy)]
pub struct Handshake {
    /// The round trip, µs (0: unknown; the three frames then share a time).
    pub rtt_us: u32,
    /// Whether the model is the client's.
    pub client: bool,
}

impl Handshake {
    /// SYN, SYN-ACK and ACK times, for a handshake that ended at `ready_ns`.
    pub fn times(self, ready_ns: u64) -> [u64; 3] {
        let syn = ready_ns.saturating_sub(u64::from(self.rtt_us) * 1000);
        if self.client {
            [syn, ready_ns, ready_ns]
        } else {
            [syn, syn, ready_ns]
        }
    }
}

impl FlowModel {
    /// A TCP connection from `client` to `server` whose segments carry
    /// `segment_payload` bytes, with its handshake written as `seen` says.
    pub fn tcp(
        file: &ModelFile,
        client: SocketAddr,
        server: SocketAddr,
        segment_payload: u32,
        timestamps: bool,
        seen: Handshake,
    ) -> FlowModel {
        let mss = segment_payload + if timestamps { 12 } else { 0 };
        let mss = mss.clamp(
            crate::pcap::model::tcp::MIN_MSS,
            crate::pcap::model::tcp::MAX_MSS,
        );
        let mut m = match TcpFlow::new(client, server, mss, timestamps) {
            Ok(f) => FlowModel {
                file: file.clone(),
                flow: Flow::Tcp(f),
                error: None,
                closed: false,
            },
            Err(e) => return FlowModel::failed(file, e),
        };
        let times = seen.times(unix_ns());
        m.record(|flow, cap| match flow {
            Flow::Tcp(f) => f.handshake_at(cap, times),
            _ => Ok(()),
        });
        m
    }

    /// A UDP session from `client` to `server` over a path of `mtu` bytes.
    pub fn udp(file: &ModelFile, client: SocketAddr, server: SocketAddr, mtu: u32) -> FlowModel {
        let mtu = mtu.min(crate::pcap::model::udp::max_mtu(client.is_ipv6()));
        match UdpFlow::new(client, server, mtu) {
            Ok(f) => FlowModel {
                file: file.clone(),
                flow: Flow::Udp(f),
                error: None,
                closed: false,
            },
            Err(e) => FlowModel::failed(file, e),
        }
    }

    fn failed(file: &ModelFile, e: ModelError) -> FlowModel {
        FlowModel {
            file: file.clone(),
            flow: Flow::Refused,
            error: Some(e.to_string()),
            closed: true,
        }
    }

    fn record(&mut self, f: impl FnOnce(&mut Flow, &mut Sink<'_>) -> Result<(), ModelError>) {
        if self.error.is_some() || self.closed {
            return;
        }
        let flow = &mut self.flow;
        if let Err(e) = self.file.with(|cap| f(flow, cap)) {
            self.error = Some(e.to_string());
        }
    }

    /// Records `bytes` sent in `dir` now.
    pub fn send(&mut self, dir: Direction, bytes: &[u8], comment: &str) {
        let t = unix_ns();
        self.record(|flow, cap| match flow {
            Flow::Tcp(f) => f.send(cap, dir, bytes, t, comment),
            Flow::Udp(f) => f.send(cap, dir, bytes, t, comment),
            Flow::Refused => Ok(()),
        });
    }

    /// Records a file reply: `head` (its framing) then `len` file bytes,
    /// generated from the pattern only as far as the snap length keeps them.
    pub fn send_file(&mut self, dir: Direction, head: &[u8], len: u64, comment: &str) {
        let t = unix_ns();
        let total = head.len() as u64 + len;
        self.record(|flow, cap| match flow {
            Flow::Tcp(f) => f.send_len(cap, dir, total, Reply { head }, t, comment),
            Flow::Udp(f) => f.send_len(
                cap,
                dir,
                total,
                |o, out| fill_reply(head, o, out),
                t,
                comment,
            ),
            Flow::Refused => Ok(()),
        });
    }

    /// Records a timed file: `head`, then `len` file bytes as FileData
    /// messages, then FileEnd when `end` ([`crate::proto::timed::TimedStream`]).
    pub fn send_timed(&mut self, dir: Direction, head: &[u8], len: u64, end: bool, comment: &str) {
        let t = unix_ns();
        let stream = crate::proto::timed::TimedStream { head, len, end };
        let total = stream.total();
        self.record(|flow, cap| match flow {
            Flow::Tcp(f) => f.send_len(
                cap,
                dir,
                total,
                |o, out: &mut [u8]| stream.fill(o, out),
                t,
                comment,
            ),
            _ => Ok(()),
        });
    }

    /// Records the TCP teardown, the side in `first` closing first.
    pub fn close(&mut self, first: Direction) {
        let t = unix_ns();
        self.record(|flow, cap| match flow {
            Flow::Tcp(f) => f.close(cap, first, t),
            _ => Ok(()),
        });
        self.closed = true;
        self.file.flush();
    }

    /// The first recording error, if any.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

/// What `--capture` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureRequest {
    /// The interface, or the one that carries the flow.
    pub iface: Option<String>,
    /// Where the file goes.
    pub path: PathBuf,
}

/// A running live capture.
#[derive(Debug)]
pub struct Live {
    capture: LiveCapture,
    iface: String,
}

/// What a finished live capture holds, for reports.
#[derive(Debug, Clone, Serialize)]
pub struct LiveReport {
    /// The interface.
    pub iface: String,
    /// The file.
    pub path: String,
    /// Frames written.
    pub frames: u64,
    /// Their lengths on the wire.
    pub bytes: u64,
    /// Frames the kernel dropped for want of buffer room.
    pub dropped: u64,
    /// Where the kernel took the frames' times from.
    #[serde(skip)]
    pub stamps: StampSources,
}

impl Live {
    /// Starts capturing the flows of `local` (any peer) on the interface that
    /// carries traffic to `peer_ip`, or the one named.
    pub fn start(
        req: &CaptureRequest,
        transport: Transport,
        local: SocketAddr,
        peer_ip: std::net::IpAddr,
    ) -> Result<Live, InstrumentError> {
        let iface = match &req.iface {
            Some(i) => i.clone(),
            None => interface_for(&peer_ip).ok_or(InstrumentError::NoInterface(peer_ip))?,
        };
        if let Some(dir) = req.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let filter = FlowFilter::server(transport, local);
        let capture = LiveCapture::start(&iface, filter, &req.path, DEFAULT_SNAPLEN)?;
        Ok(Live { capture, iface })
    }

    /// A handle that stops the capture from another thread.
    pub fn stopper(&self) -> CaptureStopper {
        self.capture.stopper()
    }

    /// Stops and flushes; the file is whole.
    pub fn stop(self) -> Result<LiveReport, InstrumentError> {
        let CaptureStats {
            frames,
            bytes,
            dropped,
            path,
            stamps,
            ..
        } = self.capture.stop()?;
        Ok(LiveReport {
            iface: self.iface,
            path: path.display().to_string(),
            frames,
            bytes,
            dropped,
            stamps,
        })
    }
}

/// A live capture's summary as the report after a transfer shows it: its
/// frames, bytes per layer and retransmissions, and its SYN, FIN and RST
/// frames. The conversion lives here, above both the capture reader and
/// the accounting, so neither has to know the other.
impl From<&Summary> for CaptureColumn {
    fn from(s: &Summary) -> CaptureColumn {
        CaptureColumn {
            frames: s.frames,
            wire_bytes: s.original_bytes,
            layers: Layers {
                payload: s.layers.payload,
                l4: s.layers.l4,
                l3: s.layers.l3,
                l2: s.layers.l2,
                padding: 0,
                preamble_gap: 0,
            },
            retransmissions: s.flows.iter().map(|f| f.retransmissions).sum(),
            control_frames: s.flows.iter().map(|f| f.syn + f.fin + f.rst).sum(),
        }
    }
}

/// `PATH` with `-live` before its extension, always `.pcapng`: where a live
/// capture goes beside the model capture `PATH`.
pub fn live_path_beside(model: &Path) -> PathBuf {
    let stem = model
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "capture".to_string());
    model.with_file_name(format!("{stem}-live.pcapng"))
}

/// Where `--pcap PATH` writes: a bare file name (`echo.pcapng`) goes into
/// the default folder [`CAPTURES_DIR`]; a path with a folder in it
/// (`./echo.pcapng`, `/tmp/echo.pcapng`) is used as it is.
pub fn model_path(given: &Path) -> PathBuf {
    let bare =
        given.parent().is_none_or(|p| p.as_os_str().is_empty()) && !given.as_os_str().is_empty();
    if bare {
        PathBuf::from(CAPTURES_DIR).join(given)
    } else {
        given.to_path_buf()
    }
}

/// The path for the `n`-th model capture of one run of the prompt (from
/// 1): the first is `path` itself, later ones `STEM-N.EXT` beside it, so a
/// reconnection never truncates what an earlier connection captured.
pub fn numbered_path(path: &Path, n: u32) -> PathBuf {
    if n <= 1 {
        return path.to_path_buf();
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "capture".to_string());
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{n}"),
    };
    path.with_file_name(name)
}

/// A fresh file name under [`CAPTURES_DIR`]:
/// `ardei-ROLE-WHAT-SECONDS-PID.pcapng`, with `-N` before the extension
/// for the second and later names this process asks for within the same
/// second (the prompt's reconnections), so no capture overwrites another.
pub fn default_path(role: &str, what: &str) -> PathBuf {
    static LAST: std::sync::Mutex<(u64, u32)> = std::sync::Mutex::new((0, 0));
    let secs = unix_ns() / 1_000_000_000;
    let n = match LAST.lock() {
        Ok(mut last) => {
            *last = if last.0 == secs {
                (secs, last.1 + 1)
            } else {
                (secs, 1)
            };
            last.1
        }
        Err(_) => 1,
    };
    let suffix = if n > 1 {
        format!("-{n}")
    } else {
        String::new()
    };
    PathBuf::from(CAPTURES_DIR).join(format!(
        "ardei-{role}-{what}-{secs}-{}{suffix}.pcapng",
        std::process::id()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sum reduced modulo 0xffff: equal for sums that fold alike.
    fn modulo(s: u64) -> u64 {
        s % 0xffff
    }

    #[test]
    fn bare_names_go_to_the_captures_folder() {
        assert_eq!(
            model_path(Path::new("echo.pcapng")),
            Path::new(CAPTURES_DIR).join("echo.pcapng")
        );
        assert_eq!(
            model_path(Path::new("./echo.pcapng")),
            Path::new("./echo.pcapng")
        );
        assert_eq!(
            model_path(Path::new("/tmp/x/echo.pcap")),
            Path::new("/tmp/x/echo.pcap")
        );
    }

    #[test]
    fn default_names_never_repeat_in_one_process() {
        let a = default_path("client", "tcp");
        let b = default_path("client", "tcp");
        assert_ne!(a, b);
    }

    #[test]
    fn later_connections_get_numbered_files() {
        let p = Path::new("/tmp/x/echo.pcapng");
        assert_eq!(numbered_path(p, 1), p);
        assert_eq!(numbered_path(p, 2), Path::new("/tmp/x/echo-2.pcapng"));
        assert_eq!(numbered_path(Path::new("cap"), 3), Path::new("cap-3"));
    }

    #[test]
    fn a_reply_sums_as_its_bytes_do_across_the_head() {
        for head in [
            &[][..],
            &[0xAD][..],
            &[0xAD, 0xE1, 1, 4, 9][..],
            &[7u8; 13][..],
        ] {
            let mut r = Reply { head };
            for (offset, len) in [
                (0u64, 0u64),
                (0, 1),
                (0, 7),
                (1, 200),
                (3, 99),
                (4, 65_483),
                (12, 1),
                (13, 1448),
                (5, 100_001),
            ] {
                let mut bytes = vec![0u8; len as usize];
                r.fill(offset, &mut bytes);
                assert_eq!(
                    modulo(r.sum(offset, len).unwrap()),
                    modulo(checksum::fast_sum(&bytes)),
                    "head {} offset {offset} len {len}",
                    head.len()
                );
            }
        }
    }

    /// A file reply modelled from sums, at a full snap length, carries the
    /// checksums of its bytes (checked by the capture dissector), and the
    /// frames cut to 256 bytes are the same frames cut.
    #[test]
    fn reply_segments_by_sums_have_valid_checksums() {
        use crate::pcap::model::{FrameLog, check::all_valid};
        let head = [0xAD, 0xE1, 0, 0, 0, 0, 0, 5, 1, 2, 3];
        for (mss, v6) in [(65_483u32, false), (1448, true), (1001, false)] {
            let (c, s) = if v6 {
                ("[2001:db8::1]:40000", "[2001:db8::2]:5005")
            } else {
                ("192.0.2.1:40000", "192.0.2.2:5005")
            };
            let mut whole = FrameLog::new(262_144);
            let mut cut = FrameLog::new(256);
            for log in [&mut whole, &mut cut] {
                let mut f =
                    TcpFlow::new(c.parse().unwrap(), s.parse().unwrap(), mss, true).unwrap();
                f.handshake(log, 1).unwrap();
                f.send_len(
                    log,
                    Direction::ToClient,
                    head.len() as u64 + 300_001,
                    Reply { head: &head },
                    2,
                    "file",
                )
                .unwrap();
            }
            assert_eq!(all_valid(&whole.frames), whole.frames.len(), "mss {mss}");
            for (w, k) in whole.frames.iter().zip(&cut.frames) {
                assert_eq!(w.original_len, k.original_len);
                assert_eq!(&w.data[..k.data.len()], &k.data[..]);
            }
        }
    }

    #[test]
    fn file_replies_are_head_then_pattern() {
        let head = [0xAD, 0xE1, 1, 4];
        let mut out = vec![0u8; 10];
        fill_reply(&head, 2, &mut out);
        assert_eq!(&out[..2], &[1, 4]);
        assert_eq!(&out[2..], &crate::content::fill_vec(0, 8)[..]);
        let mut tail = vec![0u8; 5];
        fill_reply(&head, 104, &mut tail);
        assert_eq!(tail, crate::content::fill_vec(100, 5));
    }

    #[test]
    fn live_files_sit_beside_the_model() {
        assert_eq!(
            live_path_beside(Path::new("x/echo.pcap")),
            PathBuf::from("x/echo-live.pcapng")
        );
        assert_eq!(
            live_path_beside(Path::new("run.pcapng")),
            PathBuf::from("run-live.pcapng")
        );
    }

    #[test]
    fn a_model_file_is_written_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.pcapng");
        let file = ModelFile::create(&path).unwrap();
        let a: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:5005".parse().unwrap();
        let seen = Handshake {
            rtt_us: 40,
            client: true,
        };
        assert_eq!(seen.times(1_000_000), [960_000, 1_000_000, 1_000_000]);
        let server = Handshake {
            client: false,
            ..seen
        };
        assert_eq!(server.times(1_000_000), [960_000, 960_000, 1_000_000]);
        let mut flow = FlowModel::tcp(&file, a, b, 1448, true, seen);
        flow.send(Direction::ToServer, b"hello", "echo 0 request");
        flow.send_file(Direction::ToClient, b"\xAD\xE1\x01\x04", 5000, "file");
        flow.close(Direction::ToServer);
        assert!(flow.error().is_none());
        let frames = file.finish().unwrap();
        let s = crate::pcap::summarize_path(&path).unwrap();
        assert_eq!(s.frames, frames);
        assert_eq!(s.checksums.bad, 0);
    }
}
