//! `ardei-lab server`: where it listens, what it serves, what it records.

use std::path::PathBuf;

use super::{PlanError, rules};
use crate::cli::args::ServerArgs;
use crate::proto::Limits;
use crate::server::ServerConfig;

/// A validated server command line.
#[derive(Debug, Clone)]
pub struct ServerPlan {
    /// `--cpu N`: the CPU to pin the process to.
    pub cpu: Option<usize>,
    /// Whether a stream's sender may ask for SCHED_FIFO (not `--no-realtime`).
    pub realtime: bool,
    /// Whether over UDP.
    pub udp: bool,
    /// The listener and its sessions.
    pub config: ServerConfig,
    /// `--pcap`: the model capture's path (a bare name under captures/).
    pub pcap: Option<PathBuf>,
    /// `--capture[=IFACE]`: a live capture, on IFACE or (empty) the
    /// interface that carries the bind address.
    pub capture: Option<String>,
}

impl ServerPlan {
    /// Checks the flags together and builds the plan.
    pub fn build(args: ServerArgs) -> Result<ServerPlan, PlanError> {
        let cpu = rules::cpu(args.socket.cpu)?;
        let bind = rules::address(args.bind.as_deref(), &args.endpoint)?;
        let opts = rules::sock_opts(&args.socket)?;
        Ok(ServerPlan {
            cpu,
            realtime: !args.no_realtime,
            udp: args.socket.udp,
            config: ServerConfig {
                bind,
                opts,
                limits: Limits {
                    max_file: args.max_file,
                    max_segments: args.max_segments,
                    ..Limits::default()
                },
                max_sessions: args.max_sessions as usize,
                max_per_client: args.max_per_client as usize,
                max_time: args.max_time,
                dscp: args.dscp,
                idle_timeout: args.idle_timeout,
                once: args.once,
                json: args.json,
                model: None,
                spin: args.spin,
                gro: !args.no_gro,
            },
            pcap: args.pcap.as_deref().map(crate::instruments::model_path),
            capture: args.capture,
        })
    }
}
