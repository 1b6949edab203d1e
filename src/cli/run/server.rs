//! Carries out a [`ServerPlan`]: bind, start the captures, serve until
//! `--once` is done or a signal comes, then close the captures.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::failure::Failure;
use crate::cli::plan::ServerPlan;
use crate::instruments::InstrumentError;
use crate::pcap::capture::{CaptureError, Transport};
use crate::server::record::ServerCaptures;
use crate::server::tcp::TcpServer;
use crate::server::udp::UdpServer;

/// Runs the server as planned.
pub fn run(plan: ServerPlan) -> Result<(), Failure> {
    crate::sched::allow_realtime(plan.realtime);
    if let Some(cpu) = plan.cpu {
        crate::pace::pin_to_cpu(cpu).map_err(Failure::usage)?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal ends the process at once.
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&stop)))
            .map_err(Failure::other)?;
    }
    // Both captures start before the first client and finish when the
    // server returns (after --once, SIGINT or SIGTERM), so both files are
    // whole. A capture that cannot start stops the server from starting.
    let start_captures = |transport, local| {
        ServerCaptures::start(
            plan.pcap.as_deref(),
            plan.capture.as_deref(),
            transport,
            local,
        )
        .map_err(|e| match e {
            InstrumentError::Live(c @ CaptureError::PermissionDenied) => Failure::other(c),
            e => Failure::other(e),
        })
    };
    let opts = plan.config.opts.clone();
    let captures = if plan.udp {
        let mut server = UdpServer::bind(plan.config).map_err(Failure::other)?;
        let captures = start_captures(Transport::Udp, server.local_addr())?;
        server.record_to(captures.model());
        eprintln!(
            "ardei-lab server: listening on {} (udp)",
            server.local_addr()
        );
        let a = server.applied();
        tracing::info!(
            "socket options: sndbuf {}, rcvbuf {}, don't-fragment {}",
            a.sndbuf,
            a.rcvbuf,
            a.dont_fragment
        );
        server.serve(Arc::clone(&stop));
        captures
    } else {
        let mut server = TcpServer::bind(plan.config).map_err(Failure::other)?;
        let captures = start_captures(Transport::Tcp, server.local_addr())?;
        server.record_to(captures.model());
        eprintln!(
            "ardei-lab server: listening on {} (tcp)",
            server.local_addr()
        );
        tracing::info!("listener options: {}", server.applied().describe(&opts));
        server.serve(Arc::clone(&stop));
        captures
    };
    tracing::info!("server stopped");
    captures.finish().map_err(Failure::other)
}
