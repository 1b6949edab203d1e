//! `ardei-lab demo`: the tour. Servers on ephemeral loopback ports in this
//! process, and a client that runs echo, file and stream against them over
//! TCP and UDP, IPv4 and (where the host has it) IPv6, printing each report.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::path::{Path, PathBuf};

use crate::client::record::Recording;
use crate::client::report::Report;
use crate::client::{Client, ClientConfig, ClientError, UdpSettings, udp};
use crate::instruments::{CAPTURES_DIR, FlowModel, ModelFile};
use crate::net::{NetError, SockOpts};
use crate::pcap::model::Direction;
use crate::pcap::summarize_path;
use crate::server::ServerConfig;
use crate::server::tcp::TcpServer;
use crate::server::udp::UdpServer;

/// Why the tour stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A server could not start.
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

impl Running {
    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
    }
}

fn start(bind: SocketAddr, udp: bool) -> Result<Running, NetError> {
    let mut config = ServerConfig::new(bind);
    // Nagle off, so TCP stream segments leave when they are due.
    config.opts.nodelay = !udp;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let (addr, thread) = if udp {
        let server = UdpServer::bind(config)?;
        (
            server.local_addr(),
            std::thread::spawn(move || server.serve(stop2)),
        )
    } else {
        let server = TcpServer::bind(config)?;
        (
            server.local_addr(),
            std::thread::spawn(move || server.serve(stop2)),
        )
    };
    Ok(Running { addr, stop, thread })
}

/// One step of the tour: its name, what it shows, and the client call
/// that shows it.
type Step = (
    &'static str,
    &'static str,
    Box<dyn Fn(&mut Client) -> Result<Report, ClientError>>,
);

/// Runs each step on a connection of its own, with a model capture (and a
/// live one, as root) under `captures/`, named `demo-<transport><ip>-<step>`.
fn tour(
    config: &ClientConfig,
    tag: &str,
    live: bool,
    out: &mut Vec<Report>,
    files: &mut Vec<String>,
) -> Result<(), ClientError> {
    let steps: [Step; 3] = [
        (
            "echo",
            "echo: 100 round trips of 64 bytes",
            Box::new(|c| c.echo(&[b'e'; 64], 100, Duration::ZERO)),
        ),
        (
            "file",
            "file: 10 MiB, every byte verified",
            Box::new(|c| c.file(10 << 20, None)),
        ),
        (
            "stream",
            "stream: 200 segments of 64 bytes every 5 ms",
            Box::new(|c| c.stream(Duration::from_millis(5), 200, 64)),
        ),
    ];
    for (name, what, step) in steps {
        println!("-- {what}");
        let model = PathBuf::from(CAPTURES_DIR).join(format!("demo-{tag}-{name}.pcapng"));
        let config = ClientConfig {
            recording: Recording {
                pcap: Some(model),
                capture: live.then(String::new),
                shared: None,
            },
            ..config.clone()
        };
        let mut c = Client::connect(&config)?;
        let result = step(&mut c);
        let captures = c.finish()?;
        let mut r = result?;
        if let Some(l) = captures.as_ref().and_then(|c| c.live.as_ref()) {
            if let (Some(o), Ok(s)) = (r.overhead.as_mut(), summarize_path(Path::new(&l.path))) {
                o.add_capture(&s);
            }
        }
        if let Some(c) = &captures {
            files.extend(c.model.iter().map(|m| m.path.clone()));
            files.extend(c.live.iter().map(|l| l.path.clone()));
        }
        r.captures = captures;
        print!("{}", r.render_text());
        out.push(r);
    }
    Ok(())
}

/// The model of one UDP datagram of 4000 bytes over a 1500-byte Ethernet
/// path: what IP fragmentation looks like (loopback's MTU is too large to
/// show it live).
fn fragment_example(files: &mut Vec<String>) -> Result<(), ClientError> {
    let path = PathBuf::from(CAPTURES_DIR).join("example-udp4-fragments.pcapng");
    let file = ModelFile::create(&path)?;
    let client: SocketAddr = ([198, 18, 0, 1], 40000).into();
    let server: SocketAddr = ([198, 18, 0, 2], 5005).into();
    let mut flow = FlowModel::udp(&file, client, server, 1500);
    let payload = crate::content::fill_vec(0, 4000);
    flow.send(
        Direction::ToServer,
        &payload,
        "4000-byte datagram over MTU 1500",
    );
    flow.close(Direction::ToServer);
    file.finish()?;
    files.push(path.display().to_string());
    Ok(())
}

/// Runs the tour and prints what it measured.
pub fn run() -> Result<(), DemoError> {
    println!("ardei-lab demo: servers and a client on loopback, TCP and UDP, every mode");
    println!(
        "(the TCP server runs with --nodelay: with Nagle's algorithm on, a small segment waits\n \
         for the ACK of the one before, and the client delays an ACK by 40 ms or more)\n"
    );
    // SAFETY: geteuid has no preconditions and cannot fail.
    let live = unsafe { libc::geteuid() } == 0;
    if !live {
        println!(
            "(live captures skipped: they need root or CAP_NET_RAW; model captures are written)\n"
        );
    }
    let mut reports = Vec::new();
    let mut files = Vec::new();
    for (bind, family) in [("127.0.0.1:0", "IPv4"), ("[::1]:0", "IPv6")] {
        let Ok(bind) = bind.parse::<SocketAddr>() else {
            continue;
        };
        for udp in [false, true] {
            let transport = if udp { "udp" } else { "tcp" };
            let server = match start(bind, udp) {
                Ok(s) => s,
                Err(e) if bind.is_ipv6() => {
                    println!("(skipping {family}: {e})\n");
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            println!("== {family} {transport}: server on {}", server.addr);
            let config = ClientConfig {
                target: server.addr,
                opts: SockOpts::default(),
                print_file: false,
                udp: udp.then_some(UdpSettings {
                    fragment: false,
                    rate_bps: udp::DEFAULT_RATE_BPS,
                    recv_timeout: None,
                    segment_size: None,
                    no_gso: false,
                    no_gro: false,
                }),
                recording: Default::default(),
                tcp: Default::default(),
                ecn: false,
            };
            let tag = format!("{transport}{}", if bind.is_ipv6() { 6 } else { 4 });
            let result = tour(&config, &tag, live, &mut reports, &mut files);
            server.stop();
            result?;
            println!();
        }
    }
    fragment_example(&mut files)?;
    println!("== summary");
    for r in &reports {
        let figure = match (&r.latency_us, r.mode) {
            (Some(p), "echo") => format!("round trip p50 {:.1} µs, p99 {:.1} µs", p.p50, p.p99),
            (Some(p), _) => format!("one-way delay p50 {:.1} µs, p99 {:.1} µs", p.p50, p.p99),
            (None, _) => format!("goodput {}", crate::units::format_bitrate(r.goodput_bps)),
        };
        let loss = r
            .udp
            .as_ref()
            .map(|u| format!(", {} of {} datagrams lost", u.lost, u.sent))
            .unwrap_or_default();
        println!(
            "  {:<6} {} ipv{}  {figure}{loss}",
            r.mode, r.transport, r.ip
        );
    }
    Ok(())
}
