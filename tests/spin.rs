//! Busy-poll receive (`--spin`), end to end: spinning clients against
//! spinning and ordinary servers over TCP and UDP, IPv4 and IPv6; a spinning
//! server still stops, idles sessions out and sees clients leave; a spinning
//! UDP client still counts a missing reply as lost and ends.
//!
//! Every spinning process takes a whole core, so these tests run one at a
//! time (a lock), with small counts and loose latency bounds: on a busy
//! machine a spinner shares its core with everything else.

mod common;

use std::io::{Read, Write};
use std::net::UdpSocket;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ardei_lab::proto::codec;
use ardei_lab::proto::{HEADER_LEN, Message};
use common::*;

/// One spinning test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn hosts() -> Vec<&'static str> {
    let mut h = vec!["127.0.0.1"];
    if has_ipv6() {
        h.push("[::1]");
    }
    h
}

/// Runs a client against `target`, bounded in time.
fn client_within(target: &str, args: &[&str], t: Duration) -> std::process::Output {
    let mut cmd = Command::new(bin());
    cmd.arg("client").arg(target).args(args);
    output_within(&mut cmd, t)
}

fn json(out: &std::process::Output) -> serde_json::Value {
    parse_json(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {}\nstderr: {}",
            stdout(out),
            stderr(out)
        )
    })
}

#[test]
fn spinning_clients_against_spinning_and_ordinary_servers() {
    let _one = serial();
    for host in hosts() {
        for udp in [false, true] {
            for server_spins in [true, false] {
                let mut args = vec![];
                if udp {
                    args.push("--udp");
                }
                if server_spins {
                    args.push("--spin");
                }
                let s = Server::start(host, &args);
                let mut c = vec!["--echo", "spin lab", "--count", "200", "--spin", "--json"];
                if udp {
                    c.push("--udp");
                }
                let out = client_within(&s.target(), &c, Duration::from_secs(60));
                let what = format!("{host} udp={udp} server --spin={server_spins}");
                assert!(out.status.success(), "{what}: {}", stderr(&out));
                let v = json(&out);
                assert_eq!(v["spin"], true, "{what}: {v}");
                assert_eq!(v["replies"], 200, "{what}: {v}");
                assert_eq!(v["bytes"], 200 * 8, "{what}: {v}");
                assert_eq!(v["transport"], if udp { "udp" } else { "tcp" });
                assert_eq!(v["ip"], if host.starts_with('[') { 6 } else { 4 });
                if udp {
                    assert_eq!(v["lost"], 0, "{what}: {v}");
                }
                let lat = &v["latency_us"];
                let p50 = lat["p50"].as_f64().unwrap();
                // Sane: above zero and under 100 ms even on a loaded machine.
                assert!(p50 > 0.0 && p50 < 100_000.0, "{what}: {lat}");
                assert!(lat["p50"].as_f64() <= lat["p99"].as_f64(), "{what}: {lat}");
                assert!(lat["p99"].as_f64() <= lat["max"].as_f64(), "{what}: {lat}");
                // The client's CPU, under cpu.client as the JSON contract has it.
                let cpu = &v["cpu"]["client"];
                let wall = cpu["wall_seconds"].as_f64().unwrap();
                assert!(wall > 0.0, "{what}: {cpu}");
                assert!(cpu["cores"].as_f64().unwrap() >= 0.0, "{what}: {cpu}");
                s.assert_alive();
            }
        }
    }
}

#[test]
fn the_text_report_says_busy_poll_and_its_cpu_cost() {
    let _one = serial();
    let s = Server::v4(&["--spin"]);
    let out = client_within(
        &s.target(),
        &["--echo", "hi", "--count", "20", "--spin"],
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("busy-poll receive"), "{text}");
    assert!(text.contains("of one core"), "{text}");
    // Without --spin, neither line, and "spin": false in JSON.
    let (out, v) = s.client_json(&["--echo", "hi"]);
    assert!(out.status.success());
    assert_eq!(v["spin"], false);
    assert!(v.get("cpu").is_none(), "{v}");
    let out = s.client(&["--file", "10", "--spin"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn a_spinning_server_stops_promptly_on_sigterm() {
    let _one = serial();
    for udp in [false, true] {
        let s = Server::v4(if udp {
            &["--udp", "--spin"]
        } else {
            &["--spin"]
        });
        s.assert_alive();
        // A session whose thread is spinning on its socket when the signal comes.
        let idle = (!udp).then(|| s.raw());
        std::thread::sleep(Duration::from_millis(200));
        let t = Instant::now();
        let status = s.signal_and_wait(libc::SIGTERM);
        let took = t.elapsed();
        assert_eq!(status.code(), Some(0), "udp={udp}");
        assert!(
            took < Duration::from_secs(3),
            "udp={udp}: the server took {took:?} to stop"
        );
        drop(idle);
    }
}

/// Reads until the peer closes (`Some(bytes)`) or `t` passes (`None`).
fn read_to_close(s: &mut std::net::TcpStream, t: Duration) -> Option<Vec<u8>> {
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + t;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return Some(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(got),
        }
    }
    None
}

#[test]
fn a_spinning_server_idles_sessions_out_and_sees_clients_leave() {
    let _one = serial();
    let s = Server::v4(&["--spin", "--idle-timeout", "500ms"]);
    // One echo, then silence: the session is cut after 500 ms.
    let mut silent = s.raw();
    let request = codec::to_vec(&Message::EchoRequest {
        seq: 0,
        data: b"once".to_vec(),
    })
    .unwrap();
    silent.write_all(&request).unwrap();
    let t = Instant::now();
    let reply = read_to_close(&mut silent, Duration::from_secs(5))
        .expect("the spinning server did not cut an idle session within 5 s");
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(reply.len(), HEADER_LEN + 4 + 4, "{reply:?}");
    // A client that leaves: its session ends as closed by the client.
    let mut leaving = s.raw();
    leaving.write_all(&request).unwrap();
    let mut head = [0u8; HEADER_LEN + 8];
    leaving.read_exact(&mut head).unwrap();
    drop(leaving);
    let mut log = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(log.contains("idle timeout") && log.contains("closed by the client"))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
        for l in s.drain_log() {
            log.push_str(&l);
            log.push('\n');
        }
    }
    assert!(log.contains("idle timeout"), "{log}");
    assert!(log.contains("closed by the client"), "{log}");
    assert!(log.contains("busy-poll receive"), "{log}");
    s.assert_alive();
}

#[test]
fn a_spinning_udp_client_counts_a_missing_reply_lost_and_ends() {
    let _one = serial();
    let (addr, h) = half_deaf_server();
    let t = Instant::now();
    let out = client_within(
        &addr.to_string(),
        &[
            "--udp",
            "--spin",
            "--echo",
            "anyone?",
            "--count",
            "6",
            "--recv-timeout",
            "200ms",
            "--json",
        ],
        Duration::from_secs(20),
    );
    let took = t.elapsed();
    h.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["spin"], true);
    assert_eq!(v["replies"], 3, "{v}");
    assert_eq!(v["lost"], 3, "{v}");
    assert_eq!(v["latency_us"]["count"], 3, "{v}");
    // Three waits of 200 ms, and a margin for a loaded machine.
    assert!(took < Duration::from_secs(5), "{took:?}");
    // With nothing at all to answer, it ends too: every echo lost is an error.
    let deaf = UdpSocket::bind("127.0.0.1:0").unwrap();
    let out = client_within(
        &deaf.local_addr().unwrap().to_string(),
        &[
            "--udp",
            "--spin",
            "--echo",
            "x",
            "--count",
            "2",
            "--recv-timeout",
            "100ms",
        ],
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("none of 2 echoes"),
        "{}",
        stderr(&out)
    );
}
