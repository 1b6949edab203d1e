//! What can go wrong when reading a capture file.
//!
//! Only problems with the file as a whole are errors. A single packet record
//! that cannot be decoded, or a frame on a link type this crate does not
//! dissect, is counted in the [`Summary`] and
//! reading goes on.

use std::io;
use std::path::PathBuf;

use super::summary::Summary;

/// Why a capture file could not be summarised.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    /// The file could not be opened.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The path given.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// Reading failed for a reason other than the data itself.
    #[error("read error: {0}")]
    Io(#[source] io::Error),
    /// The first four bytes are neither a pcap nor a pcapng magic number.
    #[error(
        "not a capture file: it starts with {:02x} {:02x} {:02x} {:02x}, which is neither pcap nor pcapng",
        .magic[0], .magic[1], .magic[2], .magic[3]
    )]
    NotACapture {
        /// The first four bytes of the file.
        magic: [u8; 4],
    },
    /// The file has no byte at all.
    #[error(
        "empty file: a capture starts with a file header (pcap) or a section header block (pcapng)"
    )]
    Empty,
    /// The file ends before its file header (pcap) or first section header
    /// block (pcapng) is whole.
    #[error("truncated capture: the file ends inside its {0} header, before any frame")]
    HeaderCut(&'static str),
    /// The file ends in the middle of a record.
    #[error("truncated capture: the file ends in the middle of a record after {frames} frames")]
    Truncated {
        /// Frames read completely before the cut.
        frames: u64,
        /// What those frames add up to, when the caller summarised them.
        partial: Option<Box<Summary>>,
    },
    /// The file header or a block that frames the rest of the file (a pcapng
    /// section or interface description) is invalid, so reading cannot go on.
    #[error("malformed capture after {frames} frames: {reason}")]
    Malformed {
        /// Frames read before the problem.
        frames: u64,
        /// What is wrong, as the parser reports it.
        reason: String,
    },
}

impl PcapError {
    /// Maps an error of the `pcap-file` parser, `frames` records in.
    pub(crate) fn from_parser(e: pcap_file::PcapError, frames: u64) -> PcapError {
        match e {
            pcap_file::PcapError::IncompleteBuffer => PcapError::Truncated {
                frames,
                partial: None,
            },
            pcap_file::PcapError::IoError(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
                PcapError::Truncated {
                    frames,
                    partial: None,
                }
            }
            pcap_file::PcapError::IoError(io) => PcapError::Io(io),
            other => PcapError::Malformed {
                frames,
                reason: other.to_string(),
            },
        }
    }
}
