//! DSCP and ECN proven on the wire: a live capture of the client's flow
//! (AF_PACKET, as root), read by tshark, must show the marking on every
//! packet the lab says it marks, in both directions: the TCP handshake,
//! the requests and the data; every UDP datagram, cookies and Ends
//! included; the ECN field of UDP datagrams with `--ecn`.
//!
//! Without root or tshark each test prints a note and passes, unless the
//! environment variable `CI` is set.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Server, has_ipv6, stderr};

/// Whether tshark and a live capture can run here (CI must have both).
fn live_ok() -> bool {
    let tshark = Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    let root = unsafe { libc::geteuid() } == 0;
    if tshark && root {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run as root with tshark"
    );
    eprintln!("note: marking checks skipped (need root and tshark)");
    false
}

/// One packet as tshark reads it.
#[derive(Debug)]
struct Packet {
    /// The six DSCP bits.
    dscp: u8,
    /// The two ECN bits.
    ecn: u8,
    /// Whether it goes from the client (its source port is the client's).
    from_client: bool,
    /// TCP flags, 0 for UDP.
    tcp_flags: u16,
    /// Transport payload bytes.
    payload: u64,
}

/// Every IP packet of the capture at `path`; `client_port` tells the
/// directions apart.
fn packets(path: &Path, client_port: u16) -> Vec<Packet> {
    let out = Command::new("tshark")
        .args([
            "-r",
            path.to_str().unwrap(),
            "-T",
            "fields",
            "-E",
            "separator=,",
        ])
        .args(["-e", "ip.dsfield", "-e", "ipv6.tclass"])
        .args(["-e", "tcp.srcport", "-e", "udp.srcport", "-e", "tcp.flags"])
        .args(["-e", "tcp.len", "-e", "udp.length"])
        .output()
        .expect("tshark runs");
    assert!(out.status.success(), "tshark: {}", stderr(&out));
    let num = |s: &str| -> u64 {
        let s = s.trim();
        if let Some(h) = s.strip_prefix("0x") {
            u64::from_str_radix(h, 16).unwrap_or(0)
        } else {
            s.parse().unwrap_or(0)
        }
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let tos = if f[0].is_empty() {
                num(f[1])
            } else {
                num(f[0])
            } as u8;
            let port = if f[2].is_empty() {
                num(f[3])
            } else {
                num(f[2])
            } as u16;
            let payload = if f[5].is_empty() {
                num(f[6]).saturating_sub(8)
            } else {
                num(f[5])
            };
            Packet {
                dscp: tos >> 2,
                ecn: tos & 3,
                from_client: port == client_port,
                tcp_flags: num(f[4]) as u16,
                payload,
            }
        })
        .collect()
}

/// Runs the client with a model and a live capture in `dir` and returns
/// its JSON, the live capture's packets, and the client's port.
fn captured(s: &Server, dir: &Path, name: &str, args: &[&str]) -> (serde_json::Value, Vec<Packet>) {
    let model = dir.join(format!("{name}.pcapng"));
    let m = model.to_str().unwrap().to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--pcap", &m, "--capture"]);
    let (out, v) = s.client_json(&all);
    assert!(out.status.success(), "{name}: {}", stderr(&out));
    let live = dir.join(format!("{name}-live.pcapng"));
    assert_eq!(v["captures"]["live"]["path"], live.to_str().unwrap(), "{v}");
    let port = client_port(&model);
    (v, packets(&live, port))
}

/// The client's port: the source port of the model capture's first frame
/// (the client's first packet: its SYN, or its first datagram).
fn client_port(model: &Path) -> u16 {
    let out = Command::new("tshark")
        .args(["-r", model.to_str().unwrap(), "-c", "1", "-T", "fields"])
        .args(["-e", "tcp.srcport", "-e", "udp.srcport"])
        .output()
        .expect("tshark runs");
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    line.split_whitespace()
        .find_map(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in the model's first frame: {line:?}"))
}

fn hosts() -> Vec<&'static str> {
    let mut h = vec!["127.0.0.1"];
    if has_ipv6() {
        h.push("[::1]");
    }
    h
}

/// A TCP client with --dscp against a server with --dscp: every packet of
/// the connection both ways carries it, SYN and SYN-ACK included, in a
/// download and in an upload.
#[test]
fn tcp_marks_every_packet_both_ways() {
    if !live_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for host in hosts() {
        let s = Server::start(host, &["--dscp", "46"]);
        for (what, flags) in [("down", vec![]), ("up", vec!["--upload"])] {
            let name = format!("tcp{}-{what}", host.len());
            let mut args = vec!["--file", "2M", "--dscp", "46"];
            args.extend(flags);
            let (v, ps) = captured(&s, dir.path(), &name, &args);
            assert!(ps.len() > 10, "{name}: {} packets", ps.len());
            let syns = ps.iter().filter(|p| p.tcp_flags & 0x02 != 0).count();
            assert_eq!(syns, 2, "{name}: SYN and SYN-ACK in the capture");
            for dir_client in [true, false] {
                let n = ps.iter().filter(|p| p.from_client == dir_client).count();
                assert!(n > 0, "{name}: no packet from_client={dir_client}");
            }
            let wrong: Vec<&Packet> = ps.iter().filter(|p| p.dscp != 46).collect();
            assert!(wrong.is_empty(), "{name}: unmarked packets {wrong:?}; {v}");
        }
    }
}

/// A TCP client with --dscp against a plain server: the client's packets
/// are marked from its SYN on; the server's from the moment it has read
/// the request, so its data is marked.
#[test]
fn tcp_server_follows_the_request() {
    if !live_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::v4(&[]);
    let (_, ps) = captured(&s, dir.path(), "plain", &["--file", "2M", "--dscp", "10"]);
    let unmarked = |from_client: bool| {
        ps.iter()
            .filter(|p| p.from_client == from_client && p.dscp != 10)
            .count()
    };
    assert_eq!(unmarked(true), 0, "{ps:?}");
    let data: Vec<&Packet> = ps
        .iter()
        .filter(|p| !p.from_client && p.payload > 0)
        .collect();
    assert!(!data.is_empty());
    assert!(data.iter().all(|p| p.dscp == 10), "{data:?}");
}

/// A UDP client with --dscp against a plain server: every datagram both
/// ways carries it, the cookie exchange and the End copies included.
#[test]
fn udp_marks_every_datagram_both_ways() {
    if !live_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for host in hosts() {
        let s = Server::start(host, &["--udp"]);
        for (what, flags) in [("down", vec![]), ("up", vec!["--upload"])] {
            let name = format!("udp{}-{what}", host.len());
            let mut args = vec!["--udp", "--file", "1M", "--dscp", "34"];
            args.extend(flags);
            let (v, ps) = captured(&s, dir.path(), &name, &args);
            for from_client in [true, false] {
                let n = ps.iter().filter(|p| p.from_client == from_client).count();
                assert!(n >= 2, "{name}: {n} datagrams from_client={from_client}");
            }
            let wrong: Vec<&Packet> = ps.iter().filter(|p| p.dscp != 34).collect();
            assert!(wrong.is_empty(), "{name}: unmarked {wrong:?}; {v}");
        }
    }
}

/// UDP with --ecn: every datagram both ways leaves ECT(0), and the
/// receivers count them: the client for a download, the server for an
/// upload.
#[test]
fn udp_ecn_leaves_ect0_and_is_counted() {
    if !live_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::v4(&["--udp"]);
    let (v, ps) = captured(
        &s,
        dir.path(),
        "ecn-down",
        &["--udp", "--file", "1M", "--ecn"],
    );
    assert!(ps.iter().all(|p| p.ecn == 2), "{ps:?}");
    // The client counts every datagram it read, the file's and the
    // control ones (it stops reading once the Results are in, so copies
    // after them go uncounted): all of them ECT(0).
    let from_server = ps.iter().filter(|p| !p.from_client).count() as u64;
    let ect0 = v["ecn"]["ect0"].as_u64().unwrap();
    assert!(ect0 > v["datagrams"].as_u64().unwrap(), "{v}");
    assert!(ect0 <= from_server, "{v}");
    assert_eq!(v["ecn"]["not_ect"].as_u64(), Some(0), "{v}");
    assert_eq!(v["ecn"]["ce"].as_u64(), Some(0), "{v}");
    let (v, ps) = captured(
        &s,
        dir.path(),
        "ecn-up",
        &["--udp", "--file", "1M", "--ecn", "--upload"],
    );
    assert!(ps.iter().all(|p| p.ecn == 2), "{ps:?}");
    // The server counts what it received of the session: every datagram
    // the client sent after its Hello (which has no session yet) at most.
    let from_client = ps.iter().filter(|p| p.from_client).count() as u64;
    let server = &v["server"];
    let ect0 = server["ecn"]["ect0"].as_u64().unwrap();
    assert!(ect0 >= server["datagrams"].as_u64().unwrap(), "{v}");
    assert!(ect0 <= from_client, "{v}");
    assert_eq!(server["ecn"]["not_ect"].as_u64(), Some(0), "{v}");
}
