//! ardei-lab: a low-level, instrumented TCP/UDP socket lab.
//!
//! # Layout
//!
//! The lab is a sans-IO core with a thin ring of I/O around it. Its folders
//! form layers that only point down: a module imports modules of the layers
//! below its own, and, within its layer, only those listed before it. No two
//! folders import each other, the pure core imports nothing of the ring, and
//! the client and the server never import each other.
//!
//! 1. The bottom, importing nothing of the crate:
//!    - [`wire`]: the wire and header model: header sizes per layer, IP
//!      fragmentation, TCP segmentation, what a transfer costs on the link,
//!      the IPv4, TCP and UDP checksums, and [`wire::Transport`].
//! 2. The core, pure code tested without sockets or clocks, in this order:
//!    - [`units`]: durations, sizes and bitrates as the command line writes
//!      them; [`latency`]: HDR histograms and the RFC 3550 jitter estimator;
//!      [`arrivals`]: which datagrams arrived: loss, duplicates, reordering;
//!      [`hgrm`]: a histogram's percentile distribution as HdrHistogram's
//!      `.hgrm` text; [`hosts`]: the `hosts.txt` list and how an address is
//!      chosen from it; [`schema`]: the version every printed JSON object
//!      carries, and the one way to print one; [`timeline`]: readings of
//!      each flow's `TCP_INFO` and of a queue, taken on one clock, made
//!      into samples, and [`queue_check`]: the RTT a sample's queue predicts
//!      beside the one measured (imports `timeline`); [`rate_search`]: the search for the fastest rate that
//!      loses nothing (RFC 2544 §26.1) as a state machine that trials are
//!      fed into; [`responsiveness`]: RPM under working conditions as
//!      draft-ietf-ippm-responsiveness defines it: trimmed means, the
//!      confidence, the phases and the ramp of load flows as a state
//!      machine, the probes' schedule, and the UDP probes' round trips
//!      split up and down (imports `session`'s offset estimator). These
//!      leaves import nothing of the crate but `timeline` and `session`.
//!    - [`content`]: the generated file, a function of the offset alone, and
//!      its verifier (imports `wire`).
//!    - [`proto`]: the lab protocol: framing, typed messages, the server's
//!      limits, and text mode for peers such as `nc` (imports `content`, whose
//!      bytes fill its padding).
//!    - [`account`]: on-wire accounting: the model of a transfer, the
//!      report of the `overhead` command, and the model beside the kernel's
//!      counts, which it defines itself (imports `wire`, `proto`, `units`).
//!    - [`session`]: the exchanges, both sides of echo, file and stream over
//!      TCP and UDP, as state machines that take the time and the bytes or
//!      datagrams that arrived and say what to send, when to wake them, and
//!      at the end the shape the accounting prices (imports `content`,
//!      `proto`, `account`, `latency`, `arrivals`).
//!    - [`pcap`]: reading any pcap or pcapng file and summarising it per
//!      flow and per layer, with checksum verdicts, or as one TCP flow's
//!      time-sequence series, or as the frames of a stamped echo's
//!      requests and replies; writing model captures
//!      from the lab's own events, and moving their echo frames to the
//!      kernel's stamps (imports `wire`). Its `capture` module, the
//!      live capture from an `AF_PACKET` socket, is I/O and belongs to the
//!      ring by meaning, but it lives with the reader whose files it writes
//!      and imports nothing above `wire`.
//!    - [`plot`]: SVG charts, with no font files needed: latency by
//!      percentile as HdrHistogram plots it, goodput over time, and a TCP
//!      flow's time-sequence graph (imports `hgrm`, and `pcap` for the
//!      graph's series).
//!    - [`histograms`]: a named latency histogram that prints its line,
//!      writes its `.hgrm` and draws its curve, for an action's latency
//!      and its kernel timestamps alike (imports `latency`, `hgrm`, `plot`).
//! 3. The ring that does the I/O, importing the core:
//!    - [`net`]: sockets built with `socket2`, options and the kernel's
//!      counters read back from the kernel into `account`'s types, and a
//!      framed connection over the codec; the marking (DSCP and ECN) of
//!      sockets and datagrams, congestion control, and CPU readings.
//!    - [`pace`]: absolute deadlines and the clocks timestamps come from;
//!      [`sched`]: waking a stream's sender on time (imports `pace`).
//!    - [`outfile`]: `--hgrm` and `--plot` files, written whole or not at
//!      all, with links followed and devices or pipes written in place.
//!    - [`instruments`]: the model capture and the live capture around a
//!      transfer, and the frame comments both ends record.
//! 4. The drivers, importing the ring and the core, never each other:
//!    - [`server`]: the accept loop, the session cap, one client's session.
//!    - [`client`]: the three actions, their reports, and the prompt; a file
//!      transfer in several flows at once, each a client on its own thread;
//!      the trials of `--find-rate`.
//! 5. The top: [`demo`], the tour, and [`cli`], the command line in two
//!    stages (raw flags, then a checked plan that its runners carry out)
//!    with the manual page; they may import anything below, and only
//!    `main.rs` imports `cli`.

pub mod account;
pub mod arrivals;
pub mod cli;
pub mod client;
pub mod content;
pub mod demo;
pub mod hgrm;
pub mod histograms;
pub mod hosts;
pub mod instruments;
pub mod latency;
pub mod net;
pub mod outfile;
pub mod pace;
pub mod pcap;
pub mod plot;
pub mod proto;
pub mod queue_check;
pub mod rate_search;
pub mod responsiveness;
pub mod sched;
pub mod schema;
pub mod server;
pub mod session;
pub mod timeline;
pub mod units;
pub mod wire;

pub use schema::SCHEMA;
