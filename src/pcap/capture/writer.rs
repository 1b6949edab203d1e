//! The pcapng file a live capture writes: a section header naming the
//! application, one interface (Ethernet, nanosecond timestamps, the snap
//! length), a packet block per frame, and at the end the interface's
//! statistics.
//!
//! Blocks are built in memory and reach the file only whole, so the file on
//! disk is a valid pcapng after every flush, not only after the last one.
//! The section is big-endian because `pcap-file` writes 64-bit statistics
//! fields as one integer, which matches the pcapng layout (high word first)
//! only in that byte order.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use pcap_file::DataLink;
use pcap_file::Endianness;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::interface_statistics::{
    InterfaceStatisticsBlock, InterfaceStatisticsOption,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};

/// Buffered bytes past which the buffer goes to the file.
const FLUSH_AT: usize = 64 * 1024;

/// `epb_flags` direction bits: inbound and outbound.
const INBOUND: u32 = 1;
const OUTBOUND: u32 = 2;

/// What the interface statistics block records at the end.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EndStats {
    /// Frames the kernel filter accepted.
    pub accepted: u64,
    /// Frames the kernel dropped for want of room.
    pub dropped: u64,
    /// Frames written.
    pub delivered: u64,
}

/// A pcapng file being written.
pub(crate) struct PcapngFile {
    file: File,
    blocks: PcapNgWriter<Vec<u8>>,
}

impl PcapngFile {
    /// Creates (or truncates) `path` and writes the section header and the
    /// interface description.
    pub fn create(path: &Path, iface: &str, snaplen: u32) -> io::Result<PcapngFile> {
        let file = File::create(path)?;
        let section = SectionHeaderBlock {
            endianness: Endianness::Big,
            options: vec![SectionHeaderOption::UserApplication(Cow::Owned(format!(
                "ardei-lab {}",
                env!("CARGO_PKG_VERSION")
            )))],
            ..SectionHeaderBlock::default()
        };
        let blocks = PcapNgWriter::with_section_header(Vec::new(), section).map_err(to_io)?;
        let mut out = PcapngFile { file, blocks };
        let interface = InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Owned(iface.to_owned())),
                InterfaceDescriptionOption::IfTsResol(9),
            ],
        };
        out.blocks.write_pcapng_block(interface).map_err(to_io)?;
        out.flush()?;
        Ok(out)
    }

    /// Adds one frame: its time since the Unix epoch, its length on the
    /// wire, the bytes kept, and its direction.
    pub fn packet(
        &mut self,
        timestamp: Duration,
        original_len: u32,
        data: &[u8],
        outbound: bool,
    ) -> io::Result<()> {
        let block = EnhancedPacketBlock {
            interface_id: 0,
            // With if_tsresol 9, one unit is a nanosecond, which is what
            // pcap-file writes.
            timestamp,
            original_len,
            data: Cow::Borrowed(data),
            options: vec![EnhancedPacketOption::Flags(if outbound {
                OUTBOUND
            } else {
                INBOUND
            })],
        };
        self.blocks.write_pcapng_block(block).map_err(to_io)?;
        if self.blocks.get_ref().len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the blocks built so far to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        let pending = self.blocks.get_mut();
        if pending.is_empty() {
            return Ok(());
        }
        self.file.write_all(pending)?;
        pending.clear();
        Ok(())
    }

    /// Adds the interface statistics, writes everything and syncs the file.
    pub fn finish(mut self, now: Duration, stats: EndStats) -> io::Result<()> {
        let block = InterfaceStatisticsBlock {
            interface_id: 0,
            timestamp: u64::try_from(now.as_nanos()).unwrap_or(u64::MAX),
            options: vec![
                InterfaceStatisticsOption::IsbFilterAccept(stats.accepted),
                InterfaceStatisticsOption::IsbOsDrop(stats.dropped),
                InterfaceStatisticsOption::IsbUsrDeliv(stats.delivered),
            ],
        };
        self.blocks.write_pcapng_block(block).map_err(to_io)?;
        self.flush()?;
        self.file.sync_data()
    }
}

fn to_io(e: pcap_file::PcapError) -> io::Error {
    match e {
        pcap_file::PcapError::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}
