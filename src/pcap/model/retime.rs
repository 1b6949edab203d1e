//! A model capture's frame times moved from the application's clock to the
//! kernel's, where the kernel stamped them: after a stamped echo, each
//! request's frame takes t1 (the client's kernel sent it) and each reply's
//! t4 (the client's kernel received it), and the comments say so with the
//! server's t2 and t3 beside them (on the server's clock). Frames the
//! model wrote at the same instant as one of those (a send's other
//! segments, the ACK it carries) move by the same amount; every other
//! frame keeps the application's time, and the section header's comment
//! says which times are which.
//!
//! The frames are found by the lab's framing ([`crate::pcap::echoes`]), as
//! in a live capture. The file is rewritten beside itself and renamed over
//! the original, so a failure leaves the original as it was.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::pcap::{PcapReader, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
use pcap_file::pcapng::blocks::section_header::SectionHeaderOption;
use pcap_file::pcapng::{Block, PcapNgReader, PcapNgWriter};

use crate::pcap::PcapError;
use crate::pcap::echoes::{Side, scan_path};

/// What the section header of a retimed pcapng says of its times.
pub const TIMES_NOTE: &str = "Frame times: a stamped echo's request frames are at the client kernel's TX stamp (t1) and its reply frames at the client kernel's RX stamp (t4), where the kernel gave them, and each such frame's comment says so; every other frame is at the application's clock (CLOCK_REALTIME) when it sent or read.";

/// Why a model capture could not be retimed (the original stays).
#[derive(Debug, thiserror::Error)]
pub enum RetimeError {
    /// The model capture could not be read.
    #[error(transparent)]
    Read(#[from] PcapError),
    /// The rewritten file could not be written or renamed.
    #[error("cannot rewrite {}: {source}", path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The reason.
        source: io::Error,
    },
}

/// One echo's kernel stamps, t1 to t4 (t2 and t3 on the server's clock).
pub type EchoStampsByNumber = BTreeMap<u32, [Option<u64>; 4]>;

/// A frame's new time and the words its comment gains.
struct Move {
    delta: i128,
    note: String,
}

/// Moves the echo frames of the model capture at `path` to the kernel's
/// stamps in `stamps`; returns how many frames now carry a kernel time
/// (0: the file is left as it was).
pub fn retime(path: &Path, stamps: &EchoStampsByNumber) -> Result<u64, RetimeError> {
    let scan = scan_path(path)?;
    let mut moves: HashMap<u64, Move> = HashMap::new();
    let mut by_time: HashMap<u64, i128> = HashMap::new();
    for f in &scan.frames {
        let (Some(t), Some(s)) = (f.t_ns, stamps.get(&f.seq)) else {
            continue;
        };
        let (kernel, note) = match f.side {
            Side::Request => (
                s[0],
                side_note(
                    "t1, the client kernel's TX stamp",
                    "received it at t2",
                    s[1],
                ),
            ),
            Side::Reply => (
                s[3],
                side_note("t4, the client kernel's RX stamp", "sent it at t3", s[2]),
            ),
        };
        let Some(k) = kernel else {
            continue;
        };
        let delta = i128::from(k) - i128::from(t);
        by_time.entry(t).or_insert(delta);
        moves.entry(f.index).or_insert(Move { delta, note });
    }
    if moves.is_empty() {
        return Ok(0);
    }
    let tmp = path.with_extension("retime.tmp");
    let werr = |source| RetimeError::Write {
        path: tmp.clone(),
        source,
    };
    let n = match rewrite(path, &tmp, &moves, &by_time) {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, path).map_err(werr)?;
    Ok(n)
}

/// What a moved echo frame's comment gains: whose time it now has, and
/// the server's stamp of the same message.
fn side_note(time: &str, server: &str, stamp: Option<u64>) -> String {
    let s = stamp.map_or(": no stamp came".to_string(), |n| {
        format!(" = {n} ns on its clock")
    });
    format!("time: {time}; the server's kernel {server}{s}")
}

/// Writes `tmp`: `path`'s frames with the moves applied.
fn rewrite(
    path: &Path,
    tmp: &Path,
    moves: &HashMap<u64, Move>,
    by_time: &HashMap<u64, i128>,
) -> Result<u64, RetimeError> {
    let open = File::open(path).map_err(|source| PcapError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let out = File::create(tmp).map_err(|source| RetimeError::Write {
        path: tmp.to_path_buf(),
        source,
    })?;
    let werr = |e: pcap_file::PcapError| RetimeError::Write {
        path: tmp.to_path_buf(),
        source: match e {
            pcap_file::PcapError::IoError(e) => e,
            other => io::Error::other(other.to_string()),
        },
    };
    let rerr =
        |e: pcap_file::PcapError| RetimeError::Read(PcapError::Io(io::Error::other(e.to_string())));
    let moved = |index: u64, t: Duration| -> Option<(Duration, Option<&str>)> {
        let t_ns = u64::try_from(t.as_nanos()).ok()?;
        let (delta, note) = match moves.get(&index) {
            Some(m) => (m.delta, Some(m.note.as_str())),
            None => (*by_time.get(&t_ns)?, None),
        };
        let new = u64::try_from(i128::from(t_ns) + delta).ok()?;
        Some((Duration::from_nanos(new), note))
    };
    let mut n = 0u64;
    let classic = is_classic(path)?;
    if classic {
        let mut r = PcapReader::new(BufReader::new(open)).map_err(rerr)?;
        let mut w = PcapWriter::with_header(BufWriter::new(out), r.header()).map_err(werr)?;
        let mut index = 0u64;
        while let Some(p) = r.next_packet() {
            let mut p = p.map_err(rerr)?;
            if let Some((t, _)) = moved(index, p.timestamp) {
                p.timestamp = t;
                n += 1;
            }
            w.write_packet(&p).map_err(werr)?;
            index += 1;
        }
        finish(w.into_writer(), tmp)?;
        return Ok(n);
    }
    let mut r = PcapNgReader::new(BufReader::new(open)).map_err(rerr)?;
    let mut section = r.section().clone();
    section
        .options
        .push(SectionHeaderOption::Comment(Cow::Borrowed(TIMES_NOTE)));
    let mut w = PcapNgWriter::with_section_header(BufWriter::new(out), section).map_err(werr)?;
    let mut index = 0u64;
    while let Some(block) = r.next_block() {
        let mut block = block.map_err(rerr)?;
        if let Block::EnhancedPacket(epb) = &mut block {
            if let Some((t, note)) = moved(index, epb.timestamp) {
                epb.timestamp = t;
                n += 1;
                let note =
                    note.unwrap_or("time: moved with the echo frame sent at the same instant");
                annotate(&mut epb.options, note);
            }
            index += 1;
        }
        if matches!(block, Block::Packet(_) | Block::SimplePacket(_)) {
            index += 1;
        }
        w.write_block(&block).map_err(werr)?;
    }
    finish(w.into_inner(), tmp)?;
    Ok(n)
}

/// Appends `note` to a packet's comment (or gives it one).
fn annotate(options: &mut Vec<EnhancedPacketOption<'_>>, note: &str) {
    for o in options.iter_mut() {
        if let EnhancedPacketOption::Comment(c) = o {
            *c = Cow::Owned(format!("{c}; {note}"));
            return;
        }
    }
    options.push(EnhancedPacketOption::Comment(Cow::Owned(note.to_string())));
}

fn finish(mut w: BufWriter<File>, tmp: &Path) -> Result<(), RetimeError> {
    w.flush()
        .and_then(|()| w.get_ref().sync_data())
        .map_err(|source| RetimeError::Write {
            path: tmp.to_path_buf(),
            source,
        })
}

/// Whether the file is classic pcap (by its magic number).
fn is_classic(path: &Path) -> Result<bool, RetimeError> {
    let mut magic = [0u8; 4];
    let mut f = File::open(path).map_err(|source| PcapError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    io::Read::read_exact(&mut f, &mut magic).map_err(PcapError::Io)?;
    Ok(magic != [0x0a, 0x0d, 0x0d, 0x0a])
}
