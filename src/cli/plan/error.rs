//! Why a command line makes no plan: one variant per rule, each with the
//! sentence the user reads. The runner turns every one into exit status 2.

use crate::hosts::HostsError;
use crate::proto::datagram::{
    DGRAM_HEADER, DGRAM_SEGMENT_MIN, MAX_UDP_PAYLOAD_V4, MAX_UDP_PAYLOAD_V6,
};

/// A command line that cannot be carried out as written.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A timeline flag without a TCP file transfer or `--rpm`.
    #[error(
        "{flag} samples the flows of a TCP file transfer or of --rpm: use it with --file N, \
         -t DUR or --rpm, without --udp, --echo, --stream or --find-rate"
    )]
    TimelineWithoutTcpFile {
        /// The flag given.
        flag: &'static str,
    },
    /// `--sample` under a millisecond.
    #[error("--sample {0:?} is too short: sample every 1ms or more")]
    SampleTooShort(std::time::Duration),
    /// `--qdisc` that is not `NETNS:IFACE`, or names a queue that cannot
    /// be read (no root, no such namespace or interface).
    #[error(transparent)]
    Qdisc(#[from] crate::net::qdisc::QdiscError),
    /// `--cpu N` names a CPU this process may not run on.
    #[error("{0}")]
    Cpu(String),
    /// The target, `--bind`, or the hosts file and `--pick`.
    #[error(transparent)]
    Hosts(#[from] HostsError),
    /// `--nodelay` or `--mss` with `--udp`.
    #[error("--nodelay and --mss are TCP options; UDP has no segments to size or delay")]
    TcpOptionOverUdp,
    /// `--sndbuf` or `--rcvbuf` outside 1 byte to 1 GiB.
    #[error("--{flag} {value} is outside 1..=1G")]
    BufferSize {
        /// `sndbuf` or `rcvbuf`.
        flag: &'static str,
        /// What was asked.
        value: u64,
    },
    /// `--json`, `--json-stream` or `-i` without an action.
    #[error(
        "--json, --json-stream and -i report on one action: add --echo, --file or --stream \
         (the interactive prompt prints its reports as text)"
    )]
    ReportWithoutAction,
    /// `--spin` without `--echo`.
    #[error(
        "--spin busy-polls the wait for echo replies: use it with --echo \
         (the interactive prompt always waits in a blocking read)"
    )]
    SpinWithoutEcho,
    /// `--no-timestamps` without `--echo`.
    #[error(
        "--timestamps is about an echo's or a stream's kernel timestamps, --no-timestamps an echo's: use them with --echo (or --timestamps with --stream)"
    )]
    NoTimestampsWithoutEcho,
    /// `--stamp-qdisc` without `--echo`.
    #[error(
        "--stamp-qdisc splits an echo's send path at the queueing discipline: use it with --echo --timestamps"
    )]
    StampQdiscWithoutEcho,
    /// `--rate` with `--echo` or `--stream`.
    #[error("--rate paces a file: use it with --file (or at the prompt, for its file requests)")]
    RateWithoutFile,
    /// `--size` with `--echo` or `--file`.
    #[error(
        "--size sets the size of stream segments: use it with --stream \
         (or without an action, for the prompt's streams)"
    )]
    SizeWithoutStream,
    /// `--count` with `--file`.
    #[error("--count applies to --echo and --stream, not --file")]
    CountWithFile,
    /// `--interval` with `--file` or `--stream`.
    #[error(
        "--interval spaces echo requests: use it with --echo (a stream's interval is --stream DUR)"
    )]
    IntervalWithoutEcho,
    /// `--print-file` with `--echo` or `--stream`.
    #[error("--print-file writes the file of --file to stdout: use it with --file")]
    PrintFileWithoutFile,
    /// `--hgrm` or `--plot` without an action.
    #[error("--hgrm and --plot need an action: --echo, --file or --stream")]
    ExportWithoutAction,
    /// `--hgrm` with `--file`, which measures no latency.
    #[error("--hgrm writes a latency histogram: use it with --echo or --stream")]
    HgrmWithFile,
    /// `-t`, `-P`, `--upload` or `--bidir` without a file transfer.
    #[error(
        "{flag} goes with a file transfer: use it with --file N or -t DUR \
         (not with --echo, --stream or the interactive prompt)"
    )]
    TransferWithoutFile {
        /// The flag.
        flag: &'static str,
    },
    /// `--find-rate` with a flag or a transport it does not go with.
    #[error("--find-rate {why}")]
    FindRate {
        /// The sentence after the flag's name.
        why: &'static str,
    },
    /// `--rpm` with a flag or a transport it does not go with.
    #[error("--rpm {why}")]
    Rpm {
        /// The sentence after the flag's name.
        why: &'static str,
    },
    /// `--phases` naming something other than `down`, `up` or `bidir`.
    #[error("--phases {given:?}: each phase is down, up or bidir, e.g. --phases down,up")]
    Phases {
        /// The name given.
        given: String,
    },
    /// `-C` with `--udp`.
    #[error("-C sets TCP congestion control; UDP has none: leave -C out with --udp")]
    CongestionOverUdp,
    /// `-C ALGO` that the kernel does not offer.
    #[error("-C {name}: not a congestion control this kernel offers: {offered}")]
    Congestion {
        /// What was asked.
        name: String,
        /// What the kernel offers, or why that is not known.
        offered: String,
    },
    /// `--print-file` with an upload or more than one flow.
    #[error(
        "--print-file writes one downloaded file to stdout: it does not go with --upload, \
         --bidir or -P above 1"
    )]
    PrintFileOneDownload,
    /// `-i` shorter than 10 ms.
    #[error("-i needs at least 10ms between reports")]
    ReportsTooOften,
    /// A UDP echo whose datagram no IP packet carries, fragmented or not.
    #[error(
        "an echo of {len} bytes makes a {datagram}-byte datagram, over the largest UDP payload of {cap} bytes over {ip}: send at most {most} bytes"
    )]
    EchoTooLarge {
        /// The echo's bytes.
        len: usize,
        /// Its datagram, lab header included.
        datagram: usize,
        /// The largest UDP payload of the target's IP version.
        cap: usize,
        /// "IPv4" or "IPv6".
        ip: &'static str,
        /// The largest echo that fits.
        most: usize,
    },
    /// A UDP file's `--segment-size` or a UDP stream's `--size` that no
    /// datagram of the target's IP version can be.
    #[error("{flag} {size} is outside {min}..={cap} (the whole UDP payload, lab header included)")]
    DatagramSize {
        /// `--segment-size` (a file) or `--size` (a stream).
        flag: &'static str,
        /// What was asked.
        size: u32,
        /// The smallest datagram the action takes.
        min: usize,
        /// The largest UDP payload of the target's IP version.
        cap: usize,
        /// Over IPv6.
        ipv6: bool,
    },
}

/// The largest UDP payload over IPv6 or IPv4, and the version's name.
fn largest_payload(ipv6: bool) -> (usize, &'static str) {
    if ipv6 {
        (MAX_UDP_PAYLOAD_V6, "IPv6")
    } else {
        (MAX_UDP_PAYLOAD_V4, "IPv4")
    }
}

impl PlanError {
    /// The refusal of a UDP echo of `len` bytes to a target over IPv6 or
    /// not, or `None` when its datagram fits.
    pub(crate) fn echo_too_large(len: usize, ipv6: bool) -> Option<PlanError> {
        let (cap, ip) = largest_payload(ipv6);
        (DGRAM_HEADER + len > cap).then(|| PlanError::EchoTooLarge {
            len,
            datagram: DGRAM_HEADER + len,
            cap,
            ip,
            most: cap - DGRAM_HEADER,
        })
    }

    /// The refusal of a UDP datagram size asked with `flag` for a file
    /// (`stream` false) or a stream, or `None` when a datagram can be that
    /// size (whether it fits the path MTU is known once connected).
    pub(crate) fn datagram_size(
        flag: &'static str,
        size: u32,
        stream: bool,
        ipv6: bool,
    ) -> Option<PlanError> {
        let min = if stream {
            DGRAM_SEGMENT_MIN
        } else {
            DGRAM_HEADER + 1
        };
        let (cap, _) = largest_payload(ipv6);
        ((size as usize) < min || size as usize > cap).then_some(PlanError::DatagramSize {
            flag,
            size,
            min,
            cap,
            ipv6,
        })
    }

    /// For a failure's JSON object: the action the refusal is about and
    /// the IP version of its target, where the rule knows them.
    pub fn context(&self) -> (Option<&'static str>, Option<u8>) {
        match self {
            PlanError::EchoTooLarge { ip, .. } => {
                (Some("echo"), Some(if *ip == "IPv6" { 6 } else { 4 }))
            }
            PlanError::DatagramSize { flag, ipv6, .. } => (
                Some(if *flag == "--size" { "stream" } else { "file" }),
                Some(if *ipv6 { 6 } else { 4 }),
            ),
            _ => (None, None),
        }
    }
}
