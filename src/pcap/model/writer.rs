//! The model capture file: pcapng by default, classic pcap when the path
//! ends in `.pcap`.
//!
//! - pcapng: a Section Header Block naming the application (`ardei-lab`),
//!   one Interface Description Block (link type Ethernet, the snap length,
//!   `if_tsresol` = 9: nanoseconds), then one Enhanced Packet Block per
//!   frame with the lab's event in its `opt_comment`. Written with
//!   `pcap-file`'s `PcapNgWriter`.
//! - classic pcap: the nanosecond magic (`a1 b2 3c 4d`), link type
//!   Ethernet, the snap length; no comments, which the format cannot hold.
//!   The file header is `pcap-file`'s; the 16-byte record headers are
//!   written here, because `PcapWriter` offers no way to flush the file it
//!   owns short of giving it up, and its record encoder is generic over a
//!   byte-order type the crate does not export.
//!
//! Both are written in little-endian order, as they go, through a
//! `BufWriter`: memory does not grow with the capture. The file at `path`
//! is the capture itself, not a temporary renamed at the end, so whatever
//! was flushed stays readable even if the process is killed later:
//! [`ModelCapture::flush`] pushes every frame written so far to the
//! operating system, [`ModelCapture::finish`] flushes and reports, and
//! dropping a capture flushes too (ignoring errors, which `finish` would
//! have reported).

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::PcapHeader;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::{DataLink, Endianness, TsResolution};

use super::headers::{MAX_SNAPLEN, MIN_SNAPLEN};
use super::{FrameSink, ModelError, ModelFrame};

/// The application named in the pcapng section header.
pub const APPLICATION: &str = "ardei-lab";
/// The interface description in the pcapng file.
pub const INTERFACE_DESCRIPTION: &str = "ardei-lab model: the frames the lab meant to send";
/// `if_tsresol` for nanoseconds (10^-9 s).
const TSRESOL_NANOS: u8 = 9;
/// Longest comment kept, in bytes; longer ones are cut at a character
/// boundary (a pcapng option holds at most 65535 bytes).
pub const MAX_COMMENT_LEN: usize = 1024;

/// How the capture is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelOptions {
    /// Frames are cut to this many bytes, their original length kept:
    /// headers and the start of the payload, enough to follow a bulk
    /// transfer without storing it. From 128 to 262144; 256 by default.
    pub snaplen: u32,
    /// Write each frame's comment (pcapng only). On by default.
    pub comments: bool,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            snaplen: 256,
            comments: true,
        }
    }
}

/// What a capture holds so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelStats {
    /// Frames written.
    pub frames: u64,
    /// Bytes stored: the sum of captured lengths.
    pub bytes: u64,
    /// Bytes on the wire: the sum of original lengths.
    pub original_bytes: u64,
}

enum Out {
    PcapNg(PcapNgWriter<BufWriter<File>>),
    Pcap(BufWriter<File>),
}

/// A model capture file being written.
pub struct ModelCapture {
    out: Out,
    opts: ModelOptions,
    stats: ModelStats,
}

impl std::fmt::Debug for ModelCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelCapture")
            .field("pcapng", &matches!(self.out, Out::PcapNg(_)))
            .field("opts", &self.opts)
            .field("stats", &self.stats)
            .finish()
    }
}

impl ModelCapture {
    /// Creates (or truncates) the file at `path` and writes its header:
    /// classic pcap if the path ends in `.pcap` (any case), pcapng
    /// otherwise.
    pub fn create(path: &Path, opts: ModelOptions) -> Result<ModelCapture, ModelError> {
        if !(MIN_SNAPLEN..=MAX_SNAPLEN).contains(&opts.snaplen) {
            return Err(ModelError::SnaplenOutOfRange {
                snaplen: opts.snaplen,
                min: MIN_SNAPLEN,
                max: MAX_SNAPLEN,
            });
        }
        let file = File::create(path).map_err(|source| ModelError::Create {
            path: path.to_path_buf(),
            source,
        })?;
        let mut file = BufWriter::new(file);
        let classic = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("pcap"));
        let out = if classic {
            let header = PcapHeader {
                snaplen: opts.snaplen,
                datalink: DataLink::ETHERNET,
                ts_resolution: TsResolution::NanoSecond,
                endianness: Endianness::Little,
                ..PcapHeader::default()
            };
            header.write_to(&mut file).map_err(pcap_error)?;
            Out::Pcap(file)
        } else {
            let section = SectionHeaderBlock {
                endianness: Endianness::Little,
                options: vec![SectionHeaderOption::UserApplication(Cow::Borrowed(
                    APPLICATION,
                ))],
                ..SectionHeaderBlock::default()
            };
            let mut w = PcapNgWriter::with_section_header(file, section).map_err(pcap_error)?;
            let interface = InterfaceDescriptionBlock {
                linktype: DataLink::ETHERNET,
                snaplen: opts.snaplen,
                options: vec![
                    InterfaceDescriptionOption::IfDescription(Cow::Borrowed(INTERFACE_DESCRIPTION)),
                    InterfaceDescriptionOption::IfTsResol(TSRESOL_NANOS),
                ],
            };
            w.write_pcapng_block(interface).map_err(pcap_error)?;
            Out::PcapNg(w)
        };
        Ok(ModelCapture {
            out,
            opts,
            stats: ModelStats::default(),
        })
    }

    /// What has been written so far.
    pub fn stats(&self) -> ModelStats {
        self.stats
    }

    /// Pushes every frame written so far to the operating system: the file
    /// is a complete capture of them from here on.
    pub fn flush(&mut self) -> Result<(), ModelError> {
        let file = match &mut self.out {
            Out::PcapNg(w) => w.get_mut(),
            Out::Pcap(f) => f,
        };
        file.flush().map_err(ModelError::Write)
    }

    /// Flushes the file and says what it holds.
    pub fn finish(mut self) -> Result<ModelStats, ModelError> {
        self.flush()?;
        Ok(self.stats)
    }
}

impl FrameSink for ModelCapture {
    fn snaplen(&self) -> u32 {
        self.opts.snaplen
    }

    fn write_frame(&mut self, frame: &ModelFrame<'_>) -> Result<(), ModelError> {
        let data = frame
            .data
            .get(..self.opts.snaplen as usize)
            .unwrap_or(frame.data);
        // A frame never claims fewer bytes than it stores.
        let original_len = frame.original_len.max(data.len() as u32);
        match &mut self.out {
            Out::PcapNg(w) => {
                let mut options = Vec::new();
                if self.opts.comments && !frame.comment.is_empty() {
                    let comment = clip(frame.comment, MAX_COMMENT_LEN);
                    options.push(EnhancedPacketOption::Comment(Cow::Borrowed(comment)));
                }
                let block = EnhancedPacketBlock {
                    interface_id: 0,
                    timestamp: Duration::from_nanos(frame.t_ns),
                    original_len,
                    data: Cow::Borrowed(data),
                    options,
                };
                w.write_pcapng_block(block).map_err(pcap_error)?;
            }
            Out::Pcap(f) => {
                let secs = u32::try_from(frame.t_ns / 1_000_000_000)
                    .map_err(|_| ModelError::TimestampOutOfRange { t_ns: frame.t_ns })?;
                let nanos = (frame.t_ns % 1_000_000_000) as u32;
                let mut record = [0u8; 16];
                record[0..4].copy_from_slice(&secs.to_le_bytes());
                record[4..8].copy_from_slice(&nanos.to_le_bytes());
                record[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
                record[12..16].copy_from_slice(&original_len.to_le_bytes());
                f.write_all(&record).map_err(ModelError::Write)?;
                f.write_all(data).map_err(ModelError::Write)?;
            }
        }
        self.stats.frames += 1;
        self.stats.bytes += data.len() as u64;
        self.stats.original_bytes += u64::from(original_len);
        Ok(())
    }
}

impl Drop for ModelCapture {
    fn drop(&mut self) {
        // Errors were `finish`'s to report; a drop can only try.
        let _ = self.flush();
    }
}

fn pcap_error(e: pcap_file::PcapError) -> ModelError {
    match e {
        pcap_file::PcapError::IoError(io) => ModelError::Write(io),
        other => ModelError::Encode(other),
    }
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pcap::read::{CaptureReader, Format, Record};

    const T: u64 = 1_700_000_000_123_456_789;

    fn frame<'a>(t_ns: u64, data: &'a [u8], comment: &'a str) -> ModelFrame<'a> {
        ModelFrame {
            t_ns,
            original_len: 1000,
            data,
            comment,
        }
    }

    /// Writes two frames of 300 bytes and reads them back.
    fn round_trip(name: &str, opts: ModelOptions) -> (Vec<u8>, Format, Vec<(u64, u32, usize)>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        let mut cap = ModelCapture::create(&path, opts).unwrap();
        let data = [0xabu8; 300];
        cap.write_frame(&frame(T, &data, "echo 17 request"))
            .unwrap();
        cap.write_frame(&frame(T + 1, &data[..60], "ACK")).unwrap();
        let stats = cap.finish().unwrap();
        assert_eq!(stats.frames, 2);
        assert_eq!(stats.bytes, 256 + 60);
        assert_eq!(stats.original_bytes, 2000);
        let bytes = std::fs::read(&path).unwrap();
        let mut r = CaptureReader::new(&bytes[..]).unwrap();
        let format = r.format();
        let mut frames = Vec::new();
        while let Some(rec) = r.next_record() {
            let Record::Frame(f) = rec.unwrap() else {
                panic!("malformed record")
            };
            frames.push((f.timestamp_ns.unwrap(), f.original_len, f.data.len()));
        }
        (bytes, format, frames)
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn pcapng_has_nanoseconds_the_application_and_comments() {
        let (bytes, format, frames) = round_trip("m.pcapng", ModelOptions::default());
        assert_eq!(format, Format::PcapNg);
        assert_eq!(frames, [(T, 1000, 256), (T + 1, 1000, 60)]);
        assert!(contains(&bytes, APPLICATION.as_bytes()));
        assert!(contains(&bytes, b"echo 17 request"));
        // if_tsresol: option 9, length 1, value 9.
        assert!(contains(&bytes, &[9, 0, 1, 0, 9]));
        let quiet = ModelOptions {
            comments: false,
            ..ModelOptions::default()
        };
        let (bytes, _, _) = round_trip("q.pcapng", quiet);
        assert!(!contains(&bytes, b"echo 17 request"));
    }

    #[test]
    fn classic_pcap_has_the_nanosecond_magic() {
        let (bytes, format, frames) = round_trip("m.PCAP", ModelOptions::default());
        assert_eq!(format, Format::Pcap);
        assert_eq!(&bytes[..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
        assert_eq!(u32::from_le_bytes(bytes[16..20].try_into().unwrap()), 256);
        assert_eq!(frames, [(T, 1000, 256), (T + 1, 1000, 60)]);
        assert!(!contains(&bytes, b"echo 17 request"));
    }

    #[test]
    fn out_of_range_inputs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for snaplen in [0, 127, 262_145] {
            let opts = ModelOptions {
                snaplen,
                comments: true,
            };
            let r = ModelCapture::create(&dir.path().join("x.pcapng"), opts);
            assert!(matches!(r, Err(ModelError::SnaplenOutOfRange { .. })));
        }
        let path = dir.path().join("x.pcap");
        let mut cap = ModelCapture::create(&path, ModelOptions::default()).unwrap();
        let late = 1u64 << 32;
        let r = cap.write_frame(&frame(late * 1_000_000_000, b"x", ""));
        assert!(matches!(r, Err(ModelError::TimestampOutOfRange { .. })));
        let missing = dir.path().join("no/such/dir/x.pcapng");
        let r = ModelCapture::create(&missing, ModelOptions::default());
        assert!(matches!(r, Err(ModelError::Create { .. })));
    }

    #[test]
    fn long_comments_are_cut_at_a_character_boundary() {
        // "é" is two bytes: an odd limit falls inside one.
        let s = "é".repeat(MAX_COMMENT_LEN);
        assert_eq!(clip(&s, MAX_COMMENT_LEN).len(), MAX_COMMENT_LEN);
        assert_eq!(clip(&s, 3), "é");
        assert_eq!(clip("abc", 10), "abc");
    }
}
