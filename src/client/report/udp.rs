//! What a UDP run counted, datagram by datagram: received, lost, duplicated
//! and reordered, how the transfer ended, what went missing, the kernel's
//! counters, and how the datagrams crossed the system-call boundary.

use std::fmt::Write as _;

use serde::Serialize;

use crate::net::counters::UdpCounters;
use crate::proto::datagram::{SendInfo, SendMethod};

/// How a UDP transfer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ending {
    /// The sender's End message arrived, with its counts.
    EndMessage,
    /// Nothing arrived for `--recv-timeout`; the sender's counts are
    /// taken from its plan (FileReady, or the stream's count).
    Timeout,
}

/// A run of missing bytes (file) or sequence numbers (stream, echo).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// First missing.
    pub first: u64,
    /// Last missing.
    pub last: u64,
}

/// What a UDP run counted, datagram by datagram.
#[derive(Debug, Clone, Serialize)]
pub struct UdpFigures {
    /// Distinct datagrams received.
    pub datagrams: u64,
    /// Datagrams the sender sent (from its End message, or its plan).
    pub sent: u64,
    /// Sent but never received: `datagrams + lost = sent`.
    pub lost: u64,
    /// Extra copies received.
    pub duplicates: u64,
    /// Received after a higher sequence number.
    pub reordered: u64,
    /// `lost / sent`, percent.
    pub loss_percent: f64,
    /// Whole UDP payload per datagram, lab header included.
    pub segment_size: u32,
    /// The path MTU the client's socket reported (`IP_MTU`/`IPV6_MTU`).
    pub path_mtu: u32,
    /// What ended the transfer (file and stream; an echo waits for each reply).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<Ending>,
    /// The first missing byte ranges (file) or sequence numbers.
    pub missing: Vec<Missing>,
    /// The kernel's UDP counters over the run (namespace-wide deltas).
    pub kernel: Option<UdpCounters>,
    /// How the datagrams crossed the system-call boundary.
    #[serde(flatten)]
    pub io: TransferIo,
}

/// How a UDP transfer's datagrams were sent and received: one system call
/// each, or batches. The send side is what the server's End message said
/// (a file); nothing when it did not say.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TransferIo {
    /// `gso` (batches cut by the kernel) or `sendto` (one per call).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send: Option<&'static str>,
    /// The sender's calls that carried data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_calls: Option<u64>,
    /// The most datagrams one send call carried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_batch_max: Option<u32>,
    /// GSO was allowed, but the kernel refused it: one datagram per call.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub gso_refused: bool,
    /// `recv` (one datagram per call), `recvmmsg` (a batch per call) or
    /// `gro` (recvmmsg on a UDP_GRO socket: a buffer may hold several).
    pub receive: &'static str,
    /// The client's receive calls that returned data, control included.
    pub receive_calls: u64,
    /// With GRO: buffers in which the kernel coalesced several datagrams.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coalesced: Option<u64>,
    /// The receive buffers the transfer's datagrams came in (a GRO buffer
    /// holds several, a `recv` or `recvmmsg` slot one); an upload's are the
    /// server's (`server.buffers`), so none here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receive_buffers: Option<u64>,
    /// Datagrams (copies included) per receive buffer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datagrams_per_buffer: Option<f64>,
    /// An upload: the datagrams were received by the server (its own line
    /// says how), the client's receive calls carried control only.
    #[serde(skip)]
    pub upload: bool,
}

impl TransferIo {
    /// Takes the sender's side from its End message.
    pub fn sent(&mut self, with: Option<SendInfo>) {
        let Some(w) = with else { return };
        self.send = Some(w.method.name());
        self.gso_refused = w.method == SendMethod::SendtoGsoRefused;
        self.send_calls = Some(w.calls);
        self.send_batch_max = Some(w.max_batch);
    }

    /// One line for the text report.
    fn line(&self, received: u64) -> String {
        let mean = |n: u64, calls: u64| n as f64 / calls.max(1) as f64;
        let send = match (self.send, self.send_calls, self.send_batch_max) {
            (Some(m), Some(c), Some(b)) => format!(
                "sent with {}{}: {c} calls, up to {b} datagrams per call; ",
                if m == "gso" { "UDP GSO" } else { m },
                if self.gso_refused {
                    " (the kernel refused GSO)"
                } else {
                    ""
                }
            ),
            _ => String::new(),
        };
        let coalesced = self
            .coalesced
            .map(|c| format!(", {c} buffers coalesced by GRO"))
            .unwrap_or_default();
        let buffers = self
            .receive_buffers
            .zip(self.datagrams_per_buffer)
            .map(|(b, per)| format!(", {b} buffers, {per:.1} datagrams per buffer"))
            .unwrap_or_default();
        if self.upload {
            return format!(
                "  {}the server's receive is on its own line\n",
                send.trim_end_matches("; ").to_string() + "; "
            );
        }
        format!(
            "  {send}received with {}: {} calls, {:.1} datagrams per call{buffers}{coalesced}\n",
            self.receive,
            self.receive_calls,
            mean(received, self.receive_calls)
        )
    }
}

impl UdpFigures {
    /// The datagram lines of the text report.
    pub(super) fn write_text(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "  datagrams: {} received + {} lost = {} sent ({:.3} % loss), {} duplicates, {} reordered; {}-byte segments, path MTU {}",
            self.datagrams,
            self.lost,
            self.sent,
            self.loss_percent,
            self.duplicates,
            self.reordered,
            self.segment_size,
            self.path_mtu
        );
        let ended = match self.ended_by {
            Some(Ending::EndMessage) => "  ended by the sender's End message\n",
            Some(Ending::Timeout) => {
                "  ended by the receive timeout (no End message arrived; sent = the sender's plan)\n"
            }
            None => "",
        };
        s.push_str(ended);
        s.push_str(&self.io.line(self.datagrams + self.duplicates));
        if !self.missing.is_empty() {
            let runs: Vec<String> = self
                .missing
                .iter()
                .map(|m| format!("{}-{}", m.first, m.last))
                .collect();
            let _ = writeln!(s, "  first missing: {}", runs.join(", "));
        }
        if let Some(k) = &self.kernel {
            let _ = writeln!(
                s,
                "  kernel (whole namespace, over the run): {} datagrams in, {} receive-buffer drops, {} in errors",
                k.in_datagrams, k.rcvbuf_errors, k.in_errors
            );
        }
    }
}
