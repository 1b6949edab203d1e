//! `ardei-lab demo`: the tour. A server on an ephemeral loopback port in this
//! process, and a client that runs echo, file and stream against it over
//! IPv4 and (where the host has it) IPv6, printing each report.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::client::ClientError;
use crate::client::report::Report;
use crate::client::tcp::TcpClient;
use crate::net::{NetError, SockOpts};
use crate::server::ServerConfig;
use crate::server::tcp::TcpServer;

/// Why the tour stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The server could not start.
    #[error(transparent)]
    Net(#[from] NetError),
    /// A client action failed.
    #[error(transparent)]
    Client(#[from] ClientError),
}

struct Running {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

fn start(bind: &str) -> Result<Running, NetError> {
    let addr: SocketAddr = bind.parse().map_err(|_| NetError::Option {
        name: "bind address",
        source: std::io::Error::other(format!("bad address {bind}")),
    })?;
    let mut config = ServerConfig::new(addr);
    // Nagle off, so stream segments leave when they are due; see `tour`.
    config.opts.nodelay = true;
    let server = TcpServer::bind(config)?;
    let addr = server.local_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let thread = std::thread::spawn(move || server.serve(stop2));
    Ok(Running { addr, stop, thread })
}

/// One step of the tour: what it shows, and the client call that shows it.
type Step = (
    &'static str,
    Box<dyn Fn(&mut TcpClient) -> Result<Report, ClientError>>,
);

fn tour(addr: SocketAddr, out: &mut Vec<Report>) -> Result<(), ClientError> {
    let mut c = TcpClient::connect(addr, &SockOpts::default())?;
    let steps: [Step; 3] = [
        (
            "echo: 100 round trips of 64 bytes",
            Box::new(|c| c.echo(&[b'e'; 64], 100, Duration::ZERO)),
        ),
        (
            "file: 10 MiB, every byte verified",
            Box::new(|c| c.file(10 << 20, None)),
        ),
        (
            "stream: 200 segments of 64 bytes every 5 ms",
            Box::new(|c| c.stream(Duration::from_millis(5), 200, 64)),
        ),
    ];
    for (what, step) in steps {
        println!("-- {what}");
        let r = step(&mut c)?;
        print!("{}", r.render_text());
        out.push(r);
    }
    Ok(())
}

/// Runs the tour and prints what it measured.
pub fn run() -> Result<(), DemoError> {
    println!("ardei-lab demo: a server and a client on loopback, TCP, every mode");
    println!(
        "(the server runs with --nodelay: with Nagle's algorithm on, a small segment waits\n \
         for the ACK of the one before, and the client delays ACKs by up to 40 ms)\n"
    );
    let mut reports = Vec::new();
    for bind in ["127.0.0.1:0", "[::1]:0"] {
        let server = match start(bind) {
            Ok(s) => s,
            Err(e) if bind.starts_with('[') => {
                println!("(skipping IPv6: {e})");
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        println!("== server on {} (tcp)", server.addr);
        let result = tour(server.addr, &mut reports);
        server.stop.store(true, Ordering::SeqCst);
        let _ = server.thread.join();
        result?;
        println!();
    }
    println!("== summary");
    for r in &reports {
        let figure = match (&r.latency_us, r.mode) {
            (Some(p), "echo") => format!("round trip p50 {:.1} µs, p99 {:.1} µs", p.p50, p.p99),
            (Some(p), _) => format!("one-way delay p50 {:.1} µs, p99 {:.1} µs", p.p50, p.p99),
            (None, _) => format!("goodput {}", crate::units::format_bitrate(r.goodput_bps)),
        };
        println!("  {:<6} ipv{} {}", r.mode, r.ip, figure);
    }
    Ok(())
}
