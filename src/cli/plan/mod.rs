//! The second stage of the command line: the raw flags of [`super::args`]
//! checked together and turned into a plan of typed values (addresses,
//! durations, sizes, the chosen action), one builder per subcommand. Every
//! rule on which flags go together is here, each a [`PlanError`] with the
//! sentence the user reads; the rules clap itself enforces (`requires`,
//! `conflicts_with`, value parsers such as [`rules::parse_mss`]) stay on
//! the flags, so their messages stay clap's.

mod client;
mod error;
mod rpm;
pub(crate) mod rules;
mod server;
mod timeline;
mod transfer;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_rpm;
#[cfg(test)]
mod tests_transfer;

use std::path::PathBuf;

pub use client::{ClientAction, ClientOutput, ClientPlan};
pub use error::PlanError;
pub use server::ServerPlan;
pub use timeline::TimelinePlan;
pub use transfer::Marking;

use crate::account::overhead::OverheadRequest;
use crate::cli::args::{Command, LinkArg, OverheadArgs, PcapCommand};

/// What the program is asked to do, checked.
#[derive(Debug)]
pub enum Plan {
    /// `server`.
    Server(ServerPlan),
    /// `client`.
    Client(ClientPlan),
    /// `overhead`.
    Overhead(OverheadPlan),
    /// `pcap summary FILE [--json]`.
    PcapSummary {
        /// The capture.
        file: PathBuf,
        /// One JSON object on stdout.
        json: bool,
    },
    /// `pcap plot FILE --tsg OUT.svg [--flow N]`.
    PcapPlot {
        /// The capture.
        file: PathBuf,
        /// Where the time-sequence graph goes.
        tsg: PathBuf,
        /// The flow, from 1 (`None`: the busiest TCP flow).
        flow: Option<usize>,
    },
    /// `completions SHELL`.
    Completions(clap_complete::Shell),
    /// `man`.
    Man,
    /// `demo`.
    Demo,
}

impl Plan {
    /// The plan of a parsed command.
    pub fn build(command: Command) -> Result<Plan, PlanError> {
        Ok(match command {
            Command::Server(a) => Plan::Server(ServerPlan::build(a)?),
            Command::Client(a) => Plan::Client(ClientPlan::build(a)?),
            Command::Overhead(a) => Plan::Overhead(OverheadPlan::build(&a)),
            Command::Pcap(PcapCommand::Summary { file, json }) => Plan::PcapSummary { file, json },
            Command::Pcap(PcapCommand::Plot { file, tsg, flow }) => Plan::PcapPlot {
                file,
                tsg,
                flow: flow.map(|n| n as usize),
            },
            Command::Completions { shell } => Plan::Completions(shell),
            Command::Man => Plan::Man,
            Command::Demo => Plan::Demo,
        })
    }
}

/// How a failure is told: whether stdout takes a JSON error object, and
/// for a client the transport that object names. Known from the raw flags,
/// since the failure may be that they make no plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reporting {
    /// A JSON error object on stdout.
    pub json: bool,
    /// A client's transport, `tcp` or `udp` (`None`: not a client).
    pub transport: Option<&'static str>,
}

impl Reporting {
    /// How a failure of `command` is told. A `pcap summary --json` prints
    /// its own object, so none is added after it.
    pub fn of(command: &Command) -> Reporting {
        match command {
            Command::Client(a) => Reporting {
                json: a.json || a.json_stream,
                transport: Some(if a.socket.udp { "udp" } else { "tcp" }),
            },
            Command::Overhead(a) => Reporting {
                json: a.json,
                transport: None,
            },
            _ => Reporting {
                json: false,
                transport: None,
            },
        }
    }
}

/// `ardei-lab overhead`: the model's request (which the model checks:
/// its MTU, link and size limits are its own).
#[derive(Debug, Clone)]
pub struct OverheadPlan {
    /// What to model.
    pub request: OverheadRequest,
    /// One JSON object on stdout.
    pub json: bool,
}

impl OverheadPlan {
    /// The model's request from the flags.
    pub fn build(a: &OverheadArgs) -> OverheadPlan {
        use crate::account::overhead::LinkKind;
        use crate::wire::IpVersion;
        use crate::wire::Transport;
        let request = OverheadRequest {
            payload: a.payload,
            transport: if a.udp {
                Transport::Udp
            } else {
                Transport::Tcp
            },
            ip: if a.ipv6 { IpVersion::V6 } else { IpVersion::V4 },
            mtu: a.mtu,
            link: match a.link {
                LinkArg::Ethernet => LinkKind::Ethernet,
                LinkArg::Loopback => LinkKind::Loopback,
                LinkArg::Raw => LinkKind::Raw,
            },
            vlan: a.vlan,
            tcp_timestamps: !a.no_tcp_timestamps,
            speed_bps: a.speed,
            ack_every: a.ack_every,
            handshake: !a.no_handshake,
        };
        OverheadPlan {
            request,
            json: a.json,
        }
    }
}
