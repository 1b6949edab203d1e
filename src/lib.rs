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
//! - [`account`]: on-wire accounting: the per-layer model of frames and bytes
//!   for a transfer, and the report of the `overhead` command.
//! - [`latency`]: HDR histograms and the RFC 3550 jitter estimator.
//! - [`hgrm`]: a histogram's percentile distribution as HdrHistogram's
//!   `.hgrm` text, which HdrHistogram's plotter reads.
//! - [`plot`]: SVG charts, with no font files needed: latency by percentile
//!   as HdrHistogram plots it, and goodput over time.
//! - [`session`]: the exchanges as pure state machines, both sides: handed
//!   the time and the bytes that arrived, a session says what to send and
//!   when it next wants to be woken; the drivers in `client` and `server`
//!   move the bytes. TCP's are in [`session::tcp`].
//! - [`arrivals`]: which datagrams arrived: loss, duplicates, reordering.
//! - [`units`]: durations, sizes and bitrates as the command line writes them.
//! - [`hosts`]: the `hosts.txt` list and how an address is chosen from it.
//! - [`pcap`]: reading any pcap or pcapng file and summarising it per flow
//!   and per layer, with checksum verdicts; writing model captures from the
//!   lab's own events; capturing a flow live from an `AF_PACKET` socket.
//!
//! The ring around it does the I/O:
//! - [`net`]: sockets built with `socket2`, options read back from the
//!   kernel, and a framed connection over the codec.
//! - [`pace`]: absolute deadlines and the clocks timestamps come from.
//! - [`instruments`]: the model capture and the live capture around a
//!   transfer.
//! - [`outfile`]: `--hgrm` and `--plot` files, written whole or not at all,
//!   with links followed and devices or pipes written in place.
//! - [`server`]: the accept loop, the session cap, one client's session.
//! - [`client`]: the three actions, their reports, and the prompt.
//! - [`cli`] and [`demo`]: the command line and the tour.

pub mod account;
pub mod arrivals;
pub mod cli;
pub mod client;
pub mod content;
pub mod demo;
pub mod hgrm;
pub mod hosts;
pub mod instruments;
pub mod latency;
pub mod manual;
pub mod net;
pub mod outfile;
pub mod pace;
pub mod pcap;
pub mod plot;
pub mod proto;
pub mod sched;
pub mod server;
pub mod session;
pub mod units;
