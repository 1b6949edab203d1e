//! The server's figures of a transfer, sent to the client after it:
//! [`Results`], one body layout in both framings (TCP kind 0x0E, UDP 0x2E).
//!
//! ```text
//! bytes u64, active_ns u64, cpu_user_ns u64, cpu_sys_ns u64,
//! retrans u64, cwnd u64, rtt_us u64,
//! datagrams u64, lost u64, duplicates u64, reordered u64,
//! not_ect u64, ect0 u64, ect1 u64, ce u64, buffers u64,
//! flags u64, congestion (UTF-8, the rest of the message)
//! ```
//!
//! Every figure is big-endian; `u64::MAX` on the wire means "not available"
//! and reads as `None` (a UDP server has no cwnd, a TCP one no datagrams).
//! `flags` is a plain bit set ([`Results::ECN_NEGOTIATED`],
//! [`Results::TOS_APPLIED`], [`Results::GRO`]), never "not available".

use super::body::{Cut, Field, Reader, Sink};

/// What a figure is on the wire when it is not available.
const NOT_AVAILABLE: u64 = u64::MAX;

/// The fixed part of a Results body: seventeen u64s.
pub const RESULTS_FIXED_LEN: usize = 17 * 8;

/// The server's figures of one transfer. `None`: the server did not have
/// the figure (or it does not apply to the framing).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Results {
    /// Payload bytes the server sent (download) or received and verified
    /// (upload).
    pub bytes: Option<u64>,
    /// The server's first to last file byte, ns.
    pub active_ns: Option<u64>,
    /// User CPU the server spent on the flow over the transfer window, ns
    /// (the flow's thread over TCP, the process over UDP).
    pub cpu_user_ns: Option<u64>,
    /// System CPU, likewise, ns.
    pub cpu_sys_ns: Option<u64>,
    /// TCP: `tcpi_total_retrans` of the server's socket.
    pub retrans: Option<u64>,
    /// TCP: `tcpi_snd_cwnd` (segments) at the end.
    pub cwnd: Option<u64>,
    /// TCP: `tcpi_rtt`, µs.
    pub rtt_us: Option<u64>,
    /// UDP: distinct datagrams received (upload) or sent (download).
    pub datagrams: Option<u64>,
    /// UDP upload: the sender's count minus those received.
    pub lost: Option<u64>,
    /// UDP upload: datagrams received more than once.
    pub duplicates: Option<u64>,
    /// UDP upload: datagrams that came after a later one.
    pub reordered: Option<u64>,
    /// UDP with ECN: received datagrams marked Not-ECT.
    pub not_ect: Option<u64>,
    /// UDP with ECN: received datagrams marked ECT(0).
    pub ect0: Option<u64>,
    /// UDP with ECN: received datagrams marked ECT(1).
    pub ect1: Option<u64>,
    /// UDP with ECN: received datagrams marked CE.
    pub ce: Option<u64>,
    /// UDP upload: the receive buffers the datagrams came in (a GRO buffer
    /// holds several, a `recvmmsg` slot one).
    pub buffers: Option<u64>,
    /// [`Results::ECN_NEGOTIATED`], [`Results::TOS_APPLIED`],
    /// [`Results::GRO`]; unknown bits are kept.
    pub flags: u64,
    /// The congestion control the server's socket used (empty: not said).
    pub congestion: String,
}

impl Results {
    /// Flag: TCP negotiated ECN on the connection (`tcpi_options &
    /// TCPI_OPT_ECN`).
    pub const ECN_NEGOTIATED: u64 = 1;
    /// Flag: the server applied the requested TOS byte to its socket.
    pub const TOS_APPLIED: u64 = 2;
    /// Flag: the server received the upload on a socket with UDP GRO.
    pub const GRO: u64 = 4;

    /// Whether TCP negotiated ECN.
    pub fn ecn_negotiated(&self) -> bool {
        self.flags & Results::ECN_NEGOTIATED != 0
    }

    /// Whether the server applied the requested TOS byte.
    pub fn tos_applied(&self) -> bool {
        self.flags & Results::TOS_APPLIED != 0
    }

    /// Whether the server received with UDP GRO.
    pub fn gro(&self) -> bool {
        self.flags & Results::GRO != 0
    }

    /// The figures in wire order, the flags excluded.
    fn figures(&self) -> [Option<u64>; 16] {
        [
            self.bytes,
            self.active_ns,
            self.cpu_user_ns,
            self.cpu_sys_ns,
            self.retrans,
            self.cwnd,
            self.rtt_us,
            self.datagrams,
            self.lost,
            self.duplicates,
            self.reordered,
            self.not_ect,
            self.ect0,
            self.ect1,
            self.ce,
            self.buffers,
        ]
    }
}

/// A figure: `u64::MAX` when not available.
fn figure(v: u64) -> Option<u64> {
    (v != NOT_AVAILABLE).then_some(v)
}

/// The whole body: the figures, the flags, then the congestion control to
/// the end of the message.
impl Field for Results {
    fn put<S: Sink>(&self, s: &mut S) {
        for f in self.figures() {
            f.unwrap_or(NOT_AVAILABLE).put(s);
        }
        self.flags.put(s);
        s.put(self.congestion.as_bytes());
    }

    fn get(r: &mut Reader<'_>) -> Result<Self, Cut> {
        let mut next = || u64::get(r).map(figure);
        let results = Results {
            bytes: next()?,
            active_ns: next()?,
            cpu_user_ns: next()?,
            cpu_sys_ns: next()?,
            retrans: next()?,
            cwnd: next()?,
            rtt_us: next()?,
            datagrams: next()?,
            lost: next()?,
            duplicates: next()?,
            reordered: next()?,
            not_ect: next()?,
            ect0: next()?,
            ect1: next()?,
            ce: next()?,
            buffers: next()?,
            flags: u64::get(r)?,
            congestion: String::new(),
        };
        let congestion = std::str::from_utf8(r.rest())
            .map_err(|_| Cut::Bad("the congestion control's name is not UTF-8"))?;
        Ok(Results {
            congestion: congestion.to_string(),
            ..results
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::body::Writer;

    fn bytes_of(r: &Results) -> Vec<u8> {
        let mut out = Vec::new();
        r.put(&mut Writer::new(&mut out, 0, usize::MAX));
        out
    }

    #[test]
    fn not_available_is_all_ones_and_reads_back_as_none() {
        let r = Results {
            bytes: Some(1000),
            flags: Results::TOS_APPLIED,
            congestion: "cubic".to_string(),
            ..Results::default()
        };
        let b = bytes_of(&r);
        assert_eq!(b.len(), RESULTS_FIXED_LEN + 5);
        assert_eq!(&b[..8], &1000u64.to_be_bytes());
        assert_eq!(&b[8..16], &[0xFF; 8]);
        assert_eq!(&b[128..136], &2u64.to_be_bytes());
        assert_eq!(&b[136..], b"cubic");
        let back = Results::get(&mut Reader::new(&b, b.len())).unwrap();
        assert_eq!(back, r);
        assert!(back.tos_applied() && !back.ecn_negotiated());
    }

    #[test]
    fn a_short_body_or_a_bad_name_is_refused() {
        let b = bytes_of(&Results::default());
        for cut in 0..RESULTS_FIXED_LEN {
            assert_eq!(
                Results::get(&mut Reader::new(&b[..cut], cut)),
                Err(Cut::Short)
            );
        }
        let mut bad = b.clone();
        bad.push(0xFF);
        assert!(matches!(
            Results::get(&mut Reader::new(&bad, bad.len())),
            Err(Cut::Bad(_))
        ));
    }
}
