//! Live capture: the real frames of one flow, read from an `AF_PACKET`
//! socket on the interface that carries it and written as pcapng, beside
//! the lab's own model of the same traffic.
//!
//! - [`filter`]: the flow as a classic BPF program and as a Rust predicate.
//! - [`interface_for`]: which interface an address's traffic travels on.
//! - [`LiveCapture`]: the socket, a receive thread and the file.
//!
//! How a frame gets into the file:
//! 1. The socket is opened with protocol 0, so it receives nothing until the
//!    filter is attached and the socket is bound to the interface for every
//!    protocol (`ETH_P_ALL`).
//! 2. The kernel runs the filter, which returns the snap length for a frame
//!    it keeps; the kernel copies that many bytes and the frame's whole
//!    length into a block of the receive ring ([`ring`]: `TPACKET_V3`, as
//!    libpcap), and hands the block over when it is full or 10 ms old.
//! 3. The frame is checked again in Rust ([`FlowFilter::matches`]); one the
//!    two disagree on is counted in [`CaptureStats::rejected`], not written.
//! 4. On a loopback interface every packet passes twice, once going out
//!    (`PACKET_OUTGOING`) and once coming in; the outgoing copy is dropped,
//!    as tcpdump does, so each packet is written once. On other interfaces
//!    frames in both directions are each seen once and all are kept, with
//!    their direction in the packet block's flags.
//! 5. The timestamp is the kernel's, from the ring's frame header, and its
//!    status bits say where the kernel took it ([`StampSources`]).
//!
//! The receive loop runs on its own thread: it reads a whole block of
//! frames per wake-up, in place, without a system call per frame, and
//! flushes whole blocks to the file whenever no block is ready, so the file
//! is valid pcapng on disk at every pause. [`LiveCapture::stop`] (or drop)
//! reads what is still queued, records the kernel's drop count and flushes.
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use std::path::Path;
//! use ardei_lab::pcap::capture::{FlowFilter, LiveCapture, Transport, interface_for};
//!
//! let server: SocketAddr = "127.0.0.1:5005".parse()?;
//! let iface = interface_for(&server.ip()).unwrap_or_else(|| "lo".into());
//! let filter = FlowFilter::server(Transport::Tcp, server);
//! let capture = LiveCapture::start(&iface, filter, Path::new("live.pcapng"), 256)?;
//! // … traffic …
//! let stats = capture.stop()?;
//! println!("{} frames, {} bytes, {} dropped", stats.frames, stats.bytes, stats.dropped);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod filter;
mod iface;
mod ring;
mod sys;
mod writer;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use socket2::Socket;

pub use filter::{FlowFilter, Transport};
pub use iface::interface_for;

use filter::PACKET_OUTGOING;
use iface::Link;
use writer::{EndStats, PcapngFile};

/// The snap length when the caller has no reason to choose another: enough
/// for every header of a TCP or UDP packet over IPv4 or IPv6, with options.
pub const DEFAULT_SNAPLEN: u32 = 256;

/// The largest snap length, as libpcap allows.
pub const MAX_SNAPLEN: u32 = filter::ACCEPT;

/// How long the receive thread waits for a block before it looks at the
/// stop flag and flushes the file.
const WAIT: Duration = Duration::from_millis(50);

/// While draining after a stop: long enough for the kernel to hand over a
/// block that has frames ([`ring::RETIRE_MS`]).
const DRAIN_WAIT: Duration = Duration::from_millis(3 * ring::RETIRE_MS as u64);

/// How long a stop keeps reading frames the kernel already queued.
const DRAIN_FOR: Duration = Duration::from_millis(250);

/// Why a live capture could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The process may not open a packet socket.
    #[error(
        "live capture needs root or CAP_NET_RAW: run as root, or grant it with `sudo setcap cap_net_raw+ep $(which ardei-lab)`"
    )]
    PermissionDenied,
    /// No interface has this name.
    #[error("no network interface named {0:?}")]
    NoSuchInterface(String),
    /// The interface's frames do not start with an Ethernet header.
    #[error(
        "interface {iface:?} is not Ethernet or loopback (ARP hardware type {hatype}); live capture reads Ethernet frames only"
    )]
    UnsupportedLink {
        /// The interface.
        iface: String,
        /// Its `ARPHRD_*` type.
        hatype: u16,
    },
    /// The filter could not be expressed as a classic BPF program.
    #[error(transparent)]
    Filter(#[from] filter::ProgramTooLong),
    /// The capture file could not be created.
    #[error("cannot create {}: {source}", path.display())]
    Create {
        /// The path given.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// A system call or a write failed.
    #[error("live capture: {0}")]
    Io(#[from] io::Error),
}

impl CaptureError {
    /// Maps an error from opening the packet socket: a missing privilege
    /// becomes [`CaptureError::PermissionDenied`].
    pub fn from_open(e: io::Error) -> CaptureError {
        match e.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => CaptureError::PermissionDenied,
            _ => CaptureError::Io(e),
        }
    }
}

/// What a finished capture holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureStats {
    /// Frames written.
    pub frames: u64,
    /// Their lengths on the wire, summed (`frame.len`, not the bytes kept).
    pub bytes: u64,
    /// Frames the kernel dropped for want of buffer room (`tp_drops`).
    pub dropped: u64,
    /// Frames the kernel filter kept but the Rust predicate refused, or that
    /// came from a link that is not Ethernet; 0 unless the two disagree.
    pub rejected: u64,
    /// The file written.
    pub path: PathBuf,
    /// Where the kernel took the written frames' times from.
    pub stamps: StampSources,
}

/// How many written frames carry each kind of kernel time stamp.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StampSources {
    /// The frame's own software stamp (`TP_STATUS_TS_SOFTWARE`).
    pub frame: u64,
    /// The interface's hardware clock (`TP_STATUS_TS_RAW_HARDWARE`).
    pub hardware: u64,
    /// The kernel's clock read as it copied the frame into the ring at the
    /// tap (no stamp bit).
    pub copy: u64,
}

impl StampSources {
    /// What took the stamps, in words: one source, or each with its count.
    pub fn describe(&self) -> String {
        const FRAME: &str = "the frame's own software stamp";
        const HW: &str = "the interface's hardware clock";
        const COPY: &str = "software, the kernel's clock as it copied the frame into the AF_PACKET ring at the tap";
        match (self.frame, self.hardware, self.copy) {
            (0, 0, 0) => "no frame".to_string(),
            (_, 0, 0) => format!("{FRAME} (AF_PACKET)"),
            (0, _, 0) => format!("{HW} (AF_PACKET)"),
            (0, 0, _) => COPY.to_string(),
            (f, h, c) => format!("mixed: {f} frames {FRAME}, {h} {HW}, {c} {COPY}"),
        }
    }
}

/// A capture running on a background thread until [`LiveCapture::stop`] or
/// drop.
#[derive(Debug)]
pub struct LiveCapture {
    stop: Arc<AtomicBool>,
    done: Arc<Done>,
    thread: Option<JoinHandle<Result<Counts, CaptureError>>>,
    path: PathBuf,
}

/// Set by the receive thread once its file is finished (or it gave up).
#[derive(Debug, Default)]
struct Done {
    finished: Mutex<bool>,
    wake: Condvar,
}

/// Marks [`Done`] when the receive thread ends, however it ends.
struct DoneOnDrop(Arc<Done>);

impl Drop for DoneOnDrop {
    fn drop(&mut self) {
        let mut finished = self
            .0
            .finished
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *finished = true;
        self.0.wake.notify_all();
    }
}

/// Stops a running capture from another thread, such as a signal handler's
/// that is about to end the process: the frames already queued are written
/// and the file finished, as [`LiveCapture::stop`] does, without owning the
/// capture.
#[derive(Debug, Clone)]
pub struct CaptureStopper {
    stop: Arc<AtomicBool>,
    done: Arc<Done>,
}

impl CaptureStopper {
    /// Tells the capture to stop and waits up to `wait` for its file to be
    /// finished; whether it was.
    pub fn stop_and_wait(&self, wait: Duration) -> bool {
        self.stop.store(true, Ordering::Release);
        let finished = self
            .done
            .finished
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match self.done.wake.wait_timeout_while(finished, wait, |f| !*f) {
            Ok((f, _)) => *f,
            Err(poisoned) => *poisoned.into_inner().0,
        }
    }
}

/// What the receive thread counted.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    frames: u64,
    bytes: u64,
    dropped: u64,
    rejected: u64,
    stamps: StampSources,
}

impl LiveCapture {
    /// Starts capturing the frames `filter` keeps on interface `iface` into a
    /// new pcapng file at `path`, each cut to `snaplen` bytes (clamped to
    /// 1..=[`MAX_SNAPLEN`]; [`DEFAULT_SNAPLEN`] is a good choice). Frames
    /// sent after this returns are captured.
    pub fn start(
        iface: &str,
        filter: FlowFilter,
        path: &Path,
        snaplen: u32,
    ) -> Result<LiveCapture, CaptureError> {
        let snaplen = snaplen.clamp(1, MAX_SNAPLEN);
        let ifindex = nix::net::if_::if_nametoindex(iface)
            .map_err(|_| CaptureError::NoSuchInterface(iface.to_owned()))?;
        let loopback = match iface::link_of(iface) {
            Link::Loopback => true,
            Link::Ethernet => false,
            Link::Other(hatype) => {
                return Err(CaptureError::UnsupportedLink {
                    iface: iface.to_owned(),
                    hatype,
                });
            }
        };
        let socket = sys::open().map_err(CaptureError::from_open)?;
        sys::attach(&socket, &filter.program(loopback, snaplen)?)?;
        // The ring before the bind: the first frame the socket sees already
        // goes to the ring, none to the plain queue nobody reads.
        let ring = ring::Ring::new(&socket)?;
        sys::bind(&socket, ifindex).map_err(CaptureError::from_open)?;
        let file =
            PcapngFile::create(path, iface, snaplen).map_err(|source| CaptureError::Create {
                path: path.to_path_buf(),
                source,
            })?;
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(Done::default());
        let marker = DoneOnDrop(Arc::clone(&done));
        let receiver = Receiver {
            socket,
            filter,
            loopback,
            file,
            ring,
            stop: Arc::clone(&stop),
        };
        let thread = std::thread::Builder::new()
            .name(format!("capture {iface}"))
            .spawn(move || {
                let _marker = marker;
                receiver.run()
            })?;
        Ok(LiveCapture {
            stop,
            done,
            thread: Some(thread),
            path: path.to_path_buf(),
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A handle that stops this capture from another thread.
    pub fn stopper(&self) -> CaptureStopper {
        CaptureStopper {
            stop: Arc::clone(&self.stop),
            done: Arc::clone(&self.done),
        }
    }

    /// Stops the capture: reads the frames already queued, writes the
    /// interface statistics, flushes and closes the file.
    pub fn stop(mut self) -> Result<CaptureStats, CaptureError> {
        let counts = self.finish()?;
        Ok(CaptureStats {
            frames: counts.frames,
            bytes: counts.bytes,
            dropped: counts.dropped,
            rejected: counts.rejected,
            path: self.path.clone(),
            stamps: counts.stamps,
        })
    }

    fn finish(&mut self) -> Result<Counts, CaptureError> {
        self.stop.store(true, Ordering::Release);
        let Some(thread) = self.thread.take() else {
            return Ok(Counts::default());
        };
        match thread.join() {
            Ok(result) => result,
            Err(_) => Err(CaptureError::Io(io::Error::other(
                "the capture thread panicked",
            ))),
        }
    }
}

impl Drop for LiveCapture {
    fn drop(&mut self) {
        // Nobody is left to hear about an error; the file is flushed anyway.
        let _ = self.finish();
    }
}

/// The receive thread's state.
struct Receiver {
    socket: Socket,
    filter: FlowFilter,
    loopback: bool,
    file: PcapngFile,
    ring: ring::Ring,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    /// Receives until told to stop, then finishes the file, also after an
    /// error, so what was captured stays readable.
    fn run(mut self) -> Result<Counts, CaptureError> {
        let mut counts = Counts::default();
        let received = self.receive_all(&mut counts);
        let stats = sys::statistics(&self.socket);
        if let Ok((_, dropped)) = stats {
            counts.dropped = dropped;
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let end = EndStats {
            accepted: stats.as_ref().map_or(0, |s| s.0),
            dropped: counts.dropped,
            delivered: counts.frames,
        };
        let finished = self.file.finish(now, end);
        received?;
        stats?;
        finished?;
        Ok(counts)
    }

    fn receive_all(&mut self, counts: &mut Counts) -> Result<(), CaptureError> {
        let mut drain_until: Option<Instant> = None;
        loop {
            if drain_until.is_none() && self.stop.load(Ordering::Acquire) {
                drain_until = Some(Instant::now() + DRAIN_FOR);
            }
            let draining = drain_until.is_some();
            if drain_until.is_some_and(|t| Instant::now() >= t) {
                return Ok(());
            }
            // While draining, wait no longer than it takes the kernel to
            // hand over a block that has frames.
            let wait = if draining { DRAIN_WAIT } else { WAIT };
            let (filter, loopback, file) = (&self.filter, self.loopback, &mut self.file);
            let got = self
                .ring
                .next_block(wait, |f| keep(filter, loopback, file, f, counts))?;
            if !got {
                if draining {
                    return Ok(());
                }
                self.file.flush()?;
            }
        }
    }
}

/// Writes one frame if it belongs in the file.
fn keep(
    filter: &FlowFilter,
    loopback: bool,
    file: &mut PcapngFile,
    f: ring::Frame<'_>,
    counts: &mut Counts,
) -> io::Result<()> {
    if loopback && f.pkttype == PACKET_OUTGOING {
        return Ok(());
    }
    let ethernet = matches!(f.hatype, iface::ARPHRD_ETHER | iface::ARPHRD_LOOPBACK);
    if !ethernet || !filter.matches(f.data) {
        counts.rejected += 1;
        return Ok(());
    }
    let original = u32::try_from(f.original).unwrap_or(u32::MAX);
    file.packet(f.timestamp, original, f.data, f.pkttype == PACKET_OUTGOING)?;
    counts.frames += 1;
    counts.bytes += u64::from(original);
    match f.source {
        ring::StampSource::Frame => counts.stamps.frame += 1,
        ring::StampSource::Hardware => counts.stamps.hardware += 1,
        ring::StampSource::Copy => counts.stamps.copy += 1,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eperm_and_eacces_are_permission_denied_with_one_sentence() {
        for errno in [libc::EPERM, libc::EACCES] {
            let e = CaptureError::from_open(io::Error::from_raw_os_error(errno));
            assert!(matches!(e, CaptureError::PermissionDenied));
            assert_eq!(
                e.to_string(),
                "live capture needs root or CAP_NET_RAW: run as root, or grant it with \
                 `sudo setcap cap_net_raw+ep $(which ardei-lab)`"
            );
        }
        let other = CaptureError::from_open(io::Error::from_raw_os_error(libc::EMFILE));
        assert!(matches!(other, CaptureError::Io(_)));
    }

    #[test]
    fn the_stamp_bits_say_where_a_frame_time_came_from() {
        use ring::StampSource;
        assert_eq!(StampSource::of(1 << 29 | 1), StampSource::Frame);
        assert_eq!(StampSource::of(1 << 31 | 1 << 29), StampSource::Hardware);
        assert_eq!(StampSource::of(1), StampSource::Copy);
        let copy = StampSources {
            copy: 4,
            ..StampSources::default()
        };
        assert!(
            copy.describe()
                .contains("copied the frame into the AF_PACKET ring")
        );
        let mixed = StampSources {
            frame: 2,
            hardware: 0,
            copy: 1,
        };
        assert!(
            mixed.describe().starts_with("mixed: 2 frames"),
            "{}",
            mixed.describe()
        );
        assert_eq!(StampSources::default().describe(), "no frame");
    }

    #[test]
    fn unknown_interface_is_named() {
        let got = LiveCapture::start(
            "no-such-if0",
            FlowFilter::server(Transport::Udp, "127.0.0.1:9".parse().unwrap()),
            Path::new("/nonexistent/never-written.pcapng"),
            DEFAULT_SNAPLEN,
        );
        match got {
            Err(CaptureError::NoSuchInterface(name)) => assert_eq!(name, "no-such-if0"),
            other => panic!("expected NoSuchInterface, got {other:?}"),
        }
    }
}
