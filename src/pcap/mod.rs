//! Packet captures: reading any pcap or pcapng (this lab's, tcpdump's,
//! tshark's, Wireshark's), summarised as frames, bytes per layer, flows and
//! checksum verdicts (`ardei-lab pcap summary FILE [--json]`) or as the
//! time-sequence graph of one TCP flow (`ardei-lab pcap plot`); writing the
//! lab's own model capture ([`model`]); and capturing a flow live
//! ([`capture`]).
//!
//! - [`read`]: one reader for both formats, told apart by the magic number.
//! - [`dissect`]: one frame taken apart, layer by layer.
//! - [`echoes`]: the frames of a stamped echo's requests and replies, found
//!   by the lab's framing in their payloads.
//! - [`summary`]: totals and flows, as JSON-ready values and as a table.
//! - [`tsg`]: one TCP flow's segments, ACKs and receive window against
//!   time, retransmissions marked: the series of a time-sequence graph.
//! - [`error`]: what stops a file from being read.
//! - [`model`]: writing a model capture: the frames the lab meant to send,
//!   built from its own events, with a comment on each.
//! - [`capture`]: live capture of one flow from an `AF_PACKET` socket into
//!   pcapng.
//!
//! ```no_run
//! use std::path::Path;
//! let s = ardei_lab::pcap::summarize_path(Path::new("capture.pcapng"))?;
//! print!("{}", ardei_lab::pcap::render_text(&s));
//! # Ok::<(), ardei_lab::pcap::PcapError>(())
//! ```

pub mod capture;
pub mod dissect;
pub mod echoes;
pub mod error;
pub mod model;
pub mod read;
pub mod summary;
pub mod tsg;

pub use error::PcapError;
pub use summary::{FlowSummary, Summary, render_text, summarize_path, summarize_reader};
