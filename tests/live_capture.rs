//! Live capture on loopback of flows these tests make themselves, checked
//! against the lab's own pcap reader and against tshark.
//!
//! A packet socket needs root or CAP_NET_RAW. Without it each test prints a
//! note and passes, unless the environment variable `CI` is set; likewise
//! for the checks that need tshark.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ardei_lab::pcap::capture::{
    CaptureError, CaptureStats, DEFAULT_SNAPLEN, FlowFilter, LiveCapture, Transport, interface_for,
};
use ardei_lab::pcap::read::{CaptureReader, Record};
use ardei_lab::pcap::{Summary, summarize_path};
use socket2::{Domain, Socket, Type};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Starts a capture, or `None` (after a note) when this process may not.
fn start(iface: &str, filter: FlowFilter, path: &Path) -> Option<LiveCapture> {
    match LiveCapture::start(iface, filter, path, DEFAULT_SNAPLEN) {
        Ok(c) => Some(c),
        Err(CaptureError::PermissionDenied) if std::env::var_os("CI").is_none() => {
            eprintln!(
                "note: live capture tests skipped: {}",
                CaptureError::PermissionDenied
            );
            None
        }
        Err(e) => panic!("live capture failed to start: {e}"),
    }
}

fn has_tshark() -> bool {
    let found = Command::new("tshark").arg("--version").output().is_ok();
    if !found {
        assert!(std::env::var_os("CI").is_none(), "tshark is needed on CI");
        eprintln!("note: tshark not found; its cross-checks are skipped");
    }
    found
}

fn has_ipv6() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A TCP client socket bound to an ephemeral port of `ip` before it
/// connects, so the whole flow is known before the first packet.
fn bound_client(ip: IpAddr) -> (Socket, SocketAddr) {
    let s = Socket::new(
        Domain::for_address(SocketAddr::new(ip, 0)),
        Type::STREAM,
        None,
    )
    .unwrap();
    s.bind(&SocketAddr::new(ip, 0).into()).unwrap();
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    (s, addr)
}

/// Client sends `size` bytes and half-closes; the server reads them all and
/// answers "thanks"; the client reads to the end.
fn transfer(client: Socket, listener: &TcpListener, size: usize) {
    let server_addr = listener.local_addr().unwrap();
    let listener = listener.try_clone().unwrap();
    let server = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).unwrap();
        conn.write_all(b"thanks").unwrap();
        got.len()
    });
    client
        .connect_timeout(&server_addr.into(), TIMEOUT)
        .unwrap();
    let mut client: TcpStream = client.into();
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    client.write_all(&vec![b'x'; size]).unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"thanks");
    assert_eq!(server.join().unwrap(), size);
}

/// Traffic the capture must leave out: a connection to another port on the
/// same interface.
fn noise(ip: IpAddr) {
    let other = TcpListener::bind(SocketAddr::new(ip, 0)).unwrap();
    let (c, _) = bound_client(ip);
    transfer(c, &other, 5000);
}

/// Checks that only the flows between `a` and `b` are in the summary.
fn only_between(s: &Summary, a: SocketAddr, b: SocketAddr) {
    assert!(matches!(s.flows.len(), 1 | 2), "{:?}", s.flows);
    for f in &s.flows {
        let ends = [
            SocketAddr::new(f.src, f.src_port.unwrap()),
            SocketAddr::new(f.dst, f.dst_port.unwrap()),
        ];
        assert!(ends == [a, b] || ends == [b, a], "a stranger's flow: {f:?}");
    }
}

/// Checks the file with the lab's reader and with tshark; returns the
/// summary.
fn check_file(stats: &CaptureStats, a: SocketAddr, b: SocketAddr, t0: u128, t1: u128) -> Summary {
    assert!(stats.frames > 0);
    assert_eq!(stats.dropped, 0, "the kernel dropped frames");
    assert_eq!(stats.rejected, 0, "the kernel and Rust filters disagree");
    let s = summarize_path(&stats.path).unwrap();
    assert_eq!(s.format, "pcapng");
    assert_eq!(s.frames, stats.frames);
    assert_eq!(s.original_bytes, stats.bytes);
    assert_eq!(s.malformed_records, 0);
    only_between(&s, a, b);

    // Each packet once: no frame repeats the one before it.
    let file = std::fs::File::open(&stats.path).unwrap();
    let mut reader = CaptureReader::new(std::io::BufReader::new(file)).unwrap();
    let mut previous: Option<Vec<u8>> = None;
    while let Some(record) = reader.next_record() {
        let Record::Frame(f) = record.unwrap() else {
            panic!("malformed record");
        };
        assert!(f.data.len() <= DEFAULT_SNAPLEN as usize);
        assert!(f.data.len() as u32 <= f.original_len);
        let ts = u128::from(f.timestamp_ns.unwrap());
        assert!(t0 <= ts && ts <= t1, "timestamp {ts} outside {t0}..{t1}");
        assert_ne!(previous.as_deref(), Some(f.data), "a frame repeated");
        previous = Some(f.data.to_vec());
    }

    if has_tshark() {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&stats.path)
            .args(["-T", "fields", "-E", "separator=,"])
            .args([
                "-e",
                "frame.len",
                "-e",
                "frame.cap_len",
                "-e",
                "frame.interface_name",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
        assert_eq!(rows.len() as u64, stats.frames);
        let len: u64 = rows.iter().map(|r| r[0].parse::<u64>().unwrap()).sum();
        assert_eq!(len, stats.bytes);
        let cap: u64 = rows.iter().map(|r| r[1].parse::<u64>().unwrap()).sum();
        assert_eq!(cap, s.bytes);
        assert!(
            rows.iter().all(|r| r[2] == "lo"),
            "interface name: {:?}",
            rows[0]
        );
        let malformed = Command::new("tshark")
            .arg("-r")
            .arg(&stats.path)
            .args(["-Y", "_ws.malformed || _ws.expert.severity >= error"])
            .output()
            .unwrap();
        assert!(malformed.status.success());
        let bad = String::from_utf8_lossy(&malformed.stdout);
        // Loopback leaves checksums to offload; those are the only errors
        // tshark may flag, and only when told to check them (it is not).
        assert!(bad.trim().is_empty(), "tshark flags: {bad}");
    }
    s
}

fn tcp_flow(ip: IpAddr) {
    let iface = interface_for(&ip).unwrap();
    assert_eq!(iface, "lo");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tcp.pcapng");
    let listener = TcpListener::bind(SocketAddr::new(ip, 0)).unwrap();
    let server = listener.local_addr().unwrap();
    let (client, client_addr) = bound_client(ip);
    let t0 = now_ns();
    let Some(capture) = start(
        &iface,
        FlowFilter::new(Transport::Tcp, client_addr, server),
        &path,
    ) else {
        return;
    };
    // Before, during and after the flow: other traffic on the interface,
    // including another client of the same server.
    noise(ip);
    let (other_client, _) = bound_client(ip);
    transfer(client, &listener, 100_000);
    transfer(other_client, &listener, 3000);
    noise(ip);
    thread::sleep(Duration::from_millis(20));
    let stats = capture.stop().unwrap();
    let t1 = now_ns();
    let s = check_file(&stats, client_addr, server, t0, t1);
    // Every byte of the flow once, the handshake and both FINs.
    assert_eq!(s.payload_bytes, 100_006);
    let sum = |f: fn(&ardei_lab::pcap::FlowSummary) -> u64| s.flows.iter().map(f).sum::<u64>();
    assert_eq!(sum(|f| f.retransmissions), 0);
    assert_eq!(sum(|f| f.syn), 2);
    assert_eq!(sum(|f| f.fin), 2);
    assert_eq!(sum(|f| f.rst), 0);
}

#[test]
fn tcp_over_ipv4_loopback() {
    tcp_flow("127.0.0.1".parse().unwrap());
}

#[test]
fn tcp_over_ipv6_loopback() {
    if !has_ipv6() {
        eprintln!("note: no IPv6 loopback; skipped");
        return;
    }
    tcp_flow("::1".parse().unwrap());
}

#[test]
fn udp_datagrams_of_4000_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("udp.pcapng");
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    for s in [&server, &client, &stranger] {
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
    }
    let (s_addr, c_addr) = (server.local_addr().unwrap(), client.local_addr().unwrap());
    let t0 = now_ns();
    let Some(capture) = start("lo", FlowFilter::server(Transport::Udp, s_addr), &path) else {
        return;
    };
    let mut buf = vec![0u8; 8000];
    client.send_to(&[7u8; 4000], s_addr).unwrap();
    let (n, from) = server.recv_from(&mut buf).unwrap();
    assert_eq!((n, from), (4000, c_addr));
    server.send_to(&[9u8; 4000], c_addr).unwrap();
    assert_eq!(client.recv(&mut buf).unwrap(), 4000);
    // The same client to another port: not the server's traffic.
    client
        .send_to(b"elsewhere", stranger.local_addr().unwrap())
        .unwrap();
    assert_eq!(stranger.recv(&mut buf).unwrap(), 9);
    thread::sleep(Duration::from_millis(20));
    let stats = capture.stop().unwrap();
    let t1 = now_ns();
    let s = check_file(&stats, c_addr, s_addr, t0, t1);
    // lo's MTU is 65536: two unfragmented datagrams, each
    // 14 + 20 + 8 + 4000 bytes on the wire, cut to the snap length.
    assert_eq!(stats.frames, 2);
    assert_eq!(stats.bytes, 2 * 4042);
    assert_eq!(s.bytes, 2 * u64::from(DEFAULT_SNAPLEN));
    assert_eq!(s.payload_bytes, 8000);
    assert_eq!(s.ip_fragments, 0);
}

#[test]
fn dropping_a_capture_leaves_a_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dropped.pcapng");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap();
    let Some(capture) = start("lo", FlowFilter::server(Transport::Tcp, server), &path) else {
        return;
    };
    let (a, _) = bound_client("127.0.0.1".parse().unwrap());
    let (b, _) = bound_client("127.0.0.1".parse().unwrap());
    transfer(a, &listener, 20_000);
    transfer(b, &listener, 1);
    thread::sleep(Duration::from_millis(20));
    drop(capture);
    let s = summarize_path(&path).unwrap();
    // Two connections, each way.
    assert_eq!(s.flows.len(), 4);
    assert_eq!(s.payload_bytes, 20_000 + 1 + 2 * 6);
    assert!(
        s.flows
            .iter()
            .all(|f| f.src_port == Some(server.port()) || f.dst_port == Some(server.port()))
    );
}

#[test]
fn an_unknown_interface_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let filter = FlowFilter::server(Transport::Tcp, "127.0.0.1:1".parse().unwrap());
    match LiveCapture::start("nonexistent0", filter, &dir.path().join("x"), 256) {
        Err(CaptureError::NoSuchInterface(name)) => assert_eq!(name, "nonexistent0"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_file_is_readable_while_the_capture_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("running.pcapng");
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let s_addr = server.local_addr().unwrap();
    let filter = FlowFilter::new(Transport::Udp, client.local_addr().unwrap(), s_addr);
    let Some(capture) = start("lo", filter, &path) else {
        return;
    };
    for _ in 0..3 {
        client.send_to(b"tick", s_addr).unwrap();
    }
    // The receive loop flushes whole blocks whenever the socket is idle
    // for one receive timeout (50 ms).
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let s = summarize_path(&path).unwrap();
        if s.frames == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "frames never reached the file"
        );
        thread::sleep(Duration::from_millis(20));
    }
    let stats = capture.stop().unwrap();
    assert_eq!(stats.frames, 3);
    assert_eq!(summarize_path(&path).unwrap().frames, 3);
}
