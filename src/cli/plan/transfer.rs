//! The flags of a file transfer and the sockets that carry it: which way
//! (`--upload`, `--bidir`), how many flows (`-P`), for how long (`-t`), and
//! the congestion control and marking (`-C`, `--dscp`, `--ecn`), checked
//! together and turned into a [`Transfer`], its [`Flows`] and a
//! [`Marking`].

use super::{PlanError, rules};
use crate::cli::args::ClientArgs;
use crate::client::flows::Flows;
use crate::client::transfer::{Direction, Transfer};

/// What the client's sockets are asked to carry beyond their options:
/// TCP congestion control and the IP marking. Checked here; the plan puts
/// them in the client's socket options (`SockOpts::congestion`,
/// `SockOpts::tos`), which the sockets apply before they connect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marking {
    /// `-C ALGO`: a congestion control the kernel offers.
    pub congestion: Option<String>,
    /// `--dscp N`: 0 to 63.
    pub dscp: Option<u8>,
    /// `--ecn`.
    pub ecn: bool,
}

impl Marking {
    /// The TOS / traffic-class byte of the client's sockets: the DSCP in
    /// its six high bits and, over UDP with `--ecn`, ECT(0) in the two low
    /// ones (Linux's TCP sets those itself and clears what a user puts
    /// there). `None` when neither is asked for.
    pub fn tos(&self, udp: bool) -> Option<u8> {
        let ecn = if udp && self.ecn {
            crate::net::marking::Ecn::Ect0.bits()
        } else {
            0
        };
        match (self.dscp, ecn) {
            (None, 0) => None,
            (dscp, ecn) => Some(dscp.unwrap_or(0) << 2 | ecn),
        }
    }
}

/// Whether the flags ask for a file transfer: `--file`, `-t`, or both,
/// or the trials of `--find-rate`.
pub(super) fn is_transfer(a: &ClientArgs) -> bool {
    a.file.is_some() || a.time.is_some() || a.find_rate
}

/// The rules of `--find-rate`, tried in a fixed order: UDP only, a file's
/// trials only (no echo, no stream), the search sets the pace and the
/// time, and it runs one flow.
pub(super) fn check_find_rate(a: &ClientArgs) -> Result<(), PlanError> {
    if !a.find_rate {
        return Ok(());
    }
    let why = if !a.socket.udp {
        "searches the rate of UDP datagrams: add --udp (TCP slows down instead of losing)"
    } else if a.stream.is_some() {
        "runs file trials: it does not go with --stream (a stream's rate is its interval)"
    } else if a.echo.is_some() {
        "runs file trials: it does not go with --echo"
    } else if a.rate.is_some() {
        "chooses each trial's --rate itself: leave --rate out"
    } else if a.time.is_some() {
        "times its trials with --trial DUR, not -t"
    } else if several(a) {
        "runs one flow: leave -P and --bidir out"
    } else if a.print_file {
        "does not go with --print-file (each trial is a file of its own)"
    } else {
        return Ok(());
    };
    Err(PlanError::FindRate { why })
}

/// Whether more than one flow runs.
fn several(a: &ClientArgs) -> bool {
    a.parallel > 1 || a.bidir
}

/// The rules of the transfer flags, tried in a fixed order: each goes
/// with a file transfer only; `-C` with TCP and a name the kernel offers;
/// `--print-file` with one download.
pub(super) fn check(a: &ClientArgs) -> Result<(), PlanError> {
    let other_action = a.echo.is_some() || a.stream.is_some();
    let file = is_transfer(a);
    for (on, flag) in [
        (a.time.is_some(), "-t"),
        (a.parallel > 1, "-P"),
        (a.upload, "--upload"),
        (a.bidir, "--bidir"),
    ] {
        if on && (other_action || !file) {
            return Err(PlanError::TransferWithoutFile { flag });
        }
    }
    if let Some(name) = &a.congestion {
        if a.socket.udp {
            return Err(PlanError::CongestionOverUdp);
        }
        rules::congestion(name)?;
    }
    if a.print_file && (several(a) || a.upload) {
        return Err(PlanError::PrintFileOneDownload);
    }
    Ok(())
}

/// The transfer and its flows, for flags that [`check`] accepted and that
/// ask for a transfer; `rate_bps` is the pace the transport's settings
/// carry.
pub(super) fn transfer(a: &ClientArgs, rate_bps: u64) -> (Transfer, Flows) {
    let transfer = Transfer {
        direction: if a.upload {
            Direction::Upload
        } else {
            Direction::Download
        },
        size: a.file,
        time: a.time,
        rate_bps,
    };
    let flows = Flows {
        parallel: a.parallel,
        bidir: a.bidir,
    };
    (transfer, flows)
}

/// The congestion control and marking asked for.
pub(super) fn marking(a: &ClientArgs) -> Marking {
    Marking {
        congestion: a.congestion.clone(),
        dscp: a.dscp,
        ecn: a.ecn,
    }
}
