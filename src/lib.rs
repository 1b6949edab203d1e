//! ardei-lab: a low-level, instrumented TCP/UDP socket lab.
//!
//! # Layout
//!
//! The lab is a sans-IO core with a thin ring of I/O around it.
//!
//! The core is pure code, tested without sockets or clocks:
//! - [`proto`]: the lab protocol: framing, typed messages, the server's
//!   limits, and text mode for peers such as `nc`.
//! - [`content`]: the generated file, a function of the offset alone, and
//!   its verifier.
//! - [`units`]: durations, sizes and bitrates as the command line writes them.
//!
//! The ring around it does the I/O:
//! - [`pcap`]: reading any pcap or pcapng file and summarising it: frames,
//!   bytes per layer, flows, retransmissions and checksum verdicts.

pub mod content;
pub mod pcap;
pub mod proto;
pub mod units;
