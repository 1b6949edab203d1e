//! `--stamp-qdisc`: a stamped echo's requests stamped as they enter the
//! client's queueing discipline too, so the send path splits into the
//! stack and the queue (`qdisc_us`). On lo, which has no queue, the part is
//! a fraction of a microsecond; in a namespace whose lo is shaped by a
//! token bucket that a bulk upload keeps full, it is the queue's delay,
//! most of the send path and about half the round trip, and the replies'
//! wait is in the server's time while their t3s, late, still come back.
//! Without the flag
//! the JSON has no `qdisc_us`; the flag without an echo is refused.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn p50(v: &serde_json::Value, k: &str) -> f64 {
    v["timestamps"][k]["p50"]
        .as_f64()
        .unwrap_or_else(|| panic!("{k}: {v}"))
}

#[test]
fn on_lo_the_queue_is_a_sliver_of_the_send_path() {
    for udp in [false, true] {
        let flag: &[&str] = if udp { &["--udp"] } else { &[] };
        let server = Server::start("127.0.0.1", flag);
        let mut args = vec!["--echo", "queue", "--count", "200", "--timestamps"];
        args.extend(flag);
        let (out, plain) = server.client_json(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(plain["timestamps"].get("qdisc_us").is_none(), "{plain}");
        args.push("--stamp-qdisc");
        let (out, v) = server.client_json(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_valid(&v);
        let q = &v["timestamps"]["qdisc_us"];
        assert!(q["count"].as_u64().unwrap() >= 190, "{v}");
        // lo has no queue (noqueue): the packet goes from the queueing
        // layer's entry to the device within the same call.
        assert!(p50(&v, "qdisc_us") < 100.0, "{v}");
        assert!(p50(&v, "qdisc_us") <= p50(&v, "send_path_us"), "{v}");
        let text = stdout(&server.client(&args));
        assert!(text.contains("  qdisc "), "{text}");
    }
}

#[test]
fn stamp_qdisc_goes_with_a_stamped_echo_only() {
    for args in [
        &["--echo", "x", "--stamp-qdisc"][..],
        &["--stream", "1ms", "--timestamps", "--stamp-qdisc"][..],
    ] {
        let out = client("127.0.0.1:9", args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

/// A namespace of its own, removed when dropped.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(out.status.success(), "ip {args:?}: {}", stderr(&out));
}

fn in_ns(ns: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, bin()]).args(args);
    c
}

#[test]
fn a_full_token_bucket_shows_in_the_qdisc_row() {
    let ci = std::env::var_os("CI").is_some();
    if unsafe { libc::geteuid() } != 0 {
        assert!(!ci, "CI must run as root");
        eprintln!("note: skipped: needs root for a network namespace");
        return;
    }
    let ns = Netns(format!("stq{}", std::process::id()));
    ip(&["netns", "add", &ns.0]);
    // lo at an Ethernet MTU, so TCP's segments fit the bucket's burst,
    // shaped to 20 Mbit/s with a queue of 100 kB: 40 ms when full.
    ip(&["-n", &ns.0, "link", "set", "lo", "mtu", "1500", "up"]);
    let tc = Command::new("tc")
        .args(["-n", &ns.0, "qdisc", "add", "dev", "lo", "root", "tbf"])
        .args(["rate", "20mbit", "burst", "3000", "limit", "100000"])
        .output()
        .expect("tc");
    assert!(tc.status.success(), "tc: {}", stderr(&tc));
    let server = Server::from_command(in_ns(&ns.0, &["server", "--bind", "127.0.0.1:0"]));
    let udp = Server::from_command(in_ns(&ns.0, &["server", "--udp", "--bind", "127.0.0.1:0"]));
    // Cubic fills the queue; BBR would keep it nearly empty.
    let load = in_ns(
        &ns.0,
        &[
            "client",
            &server.target(),
            "--upload",
            "-t",
            "5s",
            "-C",
            "cubic",
        ],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("start the upload");
    std::thread::sleep(Duration::from_millis(800));
    // One request at a time, each waiting some 40 ms both ways: 30 echoes
    // of each take under two seconds.
    let echo = |target: &str, udp: bool| {
        let mut args = vec![
            "client",
            target,
            "--echo",
            "queue",
            "--count",
            "30",
            "--interval",
            "5ms",
            "--timestamps",
            "--stamp-qdisc",
            "--json",
        ];
        if udp {
            args.push("--udp");
        }
        let out = output_within(&mut in_ns(&ns.0, &args), Duration::from_secs(20));
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_valid(&v);
        v
    };
    let echoes = [echo(&server.target(), false), echo(&udp.target(), true)];
    let load = output_of(load, Duration::from_secs(20), "the upload");
    assert!(load.status.success(), "{}", stderr(&load));
    for v in &echoes {
        let (queue, send, rtt) = (
            p50(v, "qdisc_us"),
            p50(v, "send_path_us"),
            v["latency_us"]["p50"].as_f64().unwrap(),
        );
        // The request waited behind the upload's segments: milliseconds
        // (40 at most), nearly all of its send path, and the reply waited
        // as long on the way back.
        assert!(queue > 5_000.0, "{v}");
        assert!(queue <= send && send - queue < 1_000.0, "{v}");
        assert!(queue < rtt, "{v}");
        // The replies waited too, after the server's kernel got the
        // request and before its device stamp: in the server's time, not
        // the network RTT, which the late t3s still give for nearly every
        // echo.
        let t = &v["timestamps"];
        assert!(p50(v, "server_us") > 5_000.0, "{t}");
        assert!(p50(v, "network_rtt_us") < 5_000.0, "{t}");
        assert!(t["network_rtt_us"]["count"].as_u64().unwrap() >= 24, "{t}");
    }
}
