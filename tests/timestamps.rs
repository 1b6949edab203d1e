//! Kernel timestamps of an echo, end to end over real sockets: the four
//! stamps of TCP and UDP echoes over IPv4 and IPv6, blocking and busy-
//! polled, make network RTT, server time, send path and wake-up in the
//! JSON (validated by the schema); lo has no
//! hardware clock and says so; `--no-timestamps` and a server that does not
//! know stamped echoes leave application figures only, and say why. A
//! stamped TCP or UDP stream gives its kernel-to-kernel one-way delay with
//! the clock offset its echoes estimated, which on one host lies within
//! its bound of zero; a plain stream's JSON has no stamps.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;

use ardei_lab::proto::{ErrorCode, HEADER_LEN, Message, codec};
use common::*;

fn hosts() -> Vec<&'static str> {
    let mut h = vec!["127.0.0.1"];
    if has_ipv6() {
        h.push("[::1]");
    }
    h
}

#[test]
fn tcp_echoes_carry_four_stamps_over_both_families() {
    for host in hosts() {
        let server = Server::start(host, &[]);
        let (out, v) = server.client_json(&["--echo", "stamp", "--count", "200", "--timestamps"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_valid(&v);
        let t = &v["timestamps"];
        assert_eq!(t["kind"], "software", "{t}");
        assert!(
            t["hardware"].as_str().unwrap().contains("not available"),
            "{t}"
        );
        let missing = ["t1", "t2", "t3", "t4"]
            .iter()
            .map(|k| t["missing"][k].as_u64().unwrap())
            .sum::<u64>();
        let n = t["network_rtt_us"]["count"].as_u64().unwrap();
        // Every echo has its network RTT, or a stamp it lacks is counted.
        assert!(n + missing >= 200 && n >= 100, "{t}");
        let p50 = |k: &str| t[k]["p50"].as_f64().unwrap();
        let rtt = v["latency_us"]["p50"].as_f64().unwrap();
        // The network is a part of the round trip, the server another.
        assert!(p50("network_rtt_us") < rtt, "{v}");
        assert!(p50("server_us") < rtt, "{v}");
        assert!(p50("send_path_us") > 0.0 && p50("wakeup_us") > 0.0, "{t}");
        // The server turns a connection's stamps on at its first stamped
        // request, which itself came unstamped: one t2 missing, no more.
        assert_eq!(t["missing"]["t2"], 1, "{t}");
        // The text says the same.
        let text = server.client(&["--echo", "stamp", "--count", "20", "--timestamps"]);
        let text = stdout(&text);
        for row in ["network RTT", "server ", "send path", "wake-up"] {
            assert!(text.contains(row), "{text}");
        }
    }
}

/// Checks the four figures of a stamped echo of `count` round trips in `v`:
/// every echo has its network RTT, or a stamp it lacks is counted.
fn four_figures(v: &serde_json::Value, count: u64) {
    assert_valid(v);
    let t = &v["timestamps"];
    assert_eq!(t["kind"], "software", "{t}");
    assert!(
        t["hardware"].as_str().unwrap().contains("not available"),
        "{t}"
    );
    let missing = ["t1", "t2", "t3", "t4"]
        .iter()
        .map(|k| t["missing"][k].as_u64().unwrap())
        .sum::<u64>();
    let n = t["network_rtt_us"]["count"].as_u64().unwrap();
    assert!(n + missing >= count && n >= count / 2, "{t}");
    let p50 = |k: &str| t[k]["p50"].as_f64().unwrap();
    let rtt = v["latency_us"]["p50"].as_f64().unwrap();
    // The network is a part of the round trip, the server another.
    assert!(p50("network_rtt_us") < rtt, "{v}");
    assert!(p50("server_us") < rtt, "{v}");
    assert!(p50("send_path_us") > 0.0 && p50("wakeup_us") > 0.0, "{t}");
}

#[test]
fn udp_echoes_carry_four_stamps_blocking_and_spinning_over_both_families() {
    for host in hosts() {
        for spin in [false, true] {
            let mut server_args = vec!["--udp"];
            if spin {
                server_args.push("--spin");
            }
            let server = Server::start(host, &server_args);
            let mut args = vec!["--udp", "--echo", "stamp", "--count", "200", "--timestamps"];
            if spin {
                args.push("--spin");
            }
            let (out, v) = server.client_json(&args);
            assert!(out.status.success(), "{}", stderr(&out));
            four_figures(&v, 200);
            assert_eq!(v["latency_us"]["count"], 200, "{v}");
            assert_eq!(v["lost"], 0, "{v}");
            // The server stamps from its first stamped request on: a second
            // run finds every stamp.
            let (out, v) = server.client_json(&args);
            assert!(out.status.success(), "{}", stderr(&out));
            four_figures(&v, 200);
            let t = &v["timestamps"];
            assert_eq!(t["missing"]["t2"], 0, "{t}");
            assert_eq!(t["missing"]["t3"], 0, "{t}");
            let text = server.client(&args[..args.len()]);
            let text = stdout(&text);
            for row in ["network RTT", "server ", "send path", "wake-up"] {
                assert!(text.contains(row), "{host} spin {spin}: {text}");
            }
        }
    }
}

#[test]
fn hgrm_and_plot_carry_the_four_figures_beside_the_round_trip() {
    let dir = std::env::temp_dir().join(format!("ardei-ts-exports-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hgrm = dir.join("rtt.hgrm");
    let svg = dir.join("rtt.svg");
    let server = Server::v4(&["--udp"]);
    let out = server.client(&[
        "--udp",
        "--echo",
        "x",
        "--count",
        "50",
        "--timestamps",
        "--hgrm",
        hgrm.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    for name in [
        "rtt",
        "rtt.network-rtt",
        "rtt.server",
        "rtt.send-path",
        "rtt.wakeup",
    ] {
        let f = std::fs::read_to_string(dir.join(format!("{name}.hgrm"))).unwrap();
        assert!(f.contains("#[Mean"), "{name}: {f}");
    }
    let plot = std::fs::read_to_string(&svg).unwrap();
    for line in [
        "round trip",
        "network RTT",
        "server",
        "send path",
        "wake-up",
    ] {
        assert!(plot.contains(line), "{line}");
    }
    // Without stamps, the round trip alone, as before.
    let plain = dir.join("plain.hgrm");
    let out = server.client(&[
        "--udp",
        "--echo",
        "x",
        "--count",
        "5",
        "--hgrm",
        plain.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(plain.exists() && !dir.join("plain.network-rtt.hgrm").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_udp_echo_without_timestamps_stays_plain() {
    let server = Server::v4(&["--udp"]);
    let (out, v) = server.client_json(&["--udp", "--echo", "x", "--count", "5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_valid(&v);
    assert_eq!(v["timestamps"]["kind"], "none");
    // Plain requests and replies, each the 29 bytes of one datagram.
    assert_eq!(v["latency_us"]["count"], 5);
    assert_eq!(v["overhead"]["model"]["layers"]["payload"], 10 * 29, "{v}");
}

/// An older UDP server: it echoes EchoRequests and refuses every other
/// kind, as an older server refuses a StampedEchoRequest.
fn old_udp_server() -> (String, std::thread::JoinHandle<()>) {
    use ardei_lab::proto::datagram::{self, Body};
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap().to_string();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let h = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut answered = 0;
        while answered < 4 {
            let Ok((n, from)) = s.recv_from(&mut buf) else {
                return;
            };
            let Ok((h, body)) = datagram::decode(&buf[..n]) else {
                continue;
            };
            let reply = match body {
                Body::EchoRequest { data } => {
                    answered += 1;
                    Body::EchoReply { data }
                }
                _ => Body::Error {
                    code: ErrorCode::UnknownKind,
                    message: "unknown message kind".to_string(),
                },
            };
            let _ = s.send_to(&datagram::to_vec(&h, &reply), from);
        }
    });
    (addr, h)
}

#[test]
fn an_older_udp_server_gets_plain_echoes_and_the_report_says_why() {
    let (addr, h) = old_udp_server();
    let out = client(
        &addr,
        &[
            "--udp",
            "--echo",
            "hi",
            "--count",
            "4",
            "--json",
            "--timestamps",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v = parse_json(&out.stdout).unwrap();
    assert_valid(&v);
    assert_eq!(v["latency_us"]["count"], 4);
    assert_eq!(v["timestamps"]["kind"], "none");
    let note = v["timestamps"]["note"].as_str().unwrap();
    assert!(note.contains("older server"), "{note}");
    h.join().unwrap();
}

#[test]
fn no_timestamps_sends_plain_echoes_and_says_so() {
    let server = Server::v4(&[]);
    let (out, v) = server.client_json(&["--echo", "x", "--count", "5", "--no-timestamps"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_valid(&v);
    assert_eq!(v["timestamps"]["kind"], "none");
    assert!(
        v["timestamps"]["note"]
            .as_str()
            .unwrap()
            .contains("--no-timestamps")
    );
    assert!(v["timestamps"].get("network_rtt_us").is_none());
    // Plain requests: 5 of them, the model prices 5 exchanges of 14 bytes.
    assert_eq!(v["latency_us"]["count"], 5);
    let bad = client("127.0.0.1:1", &["--file", "10", "--no-timestamps"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}

/// A server of an older build: it echoes EchoRequests and refuses kinds it
/// does not know, as an older server refuses a StampedEchoRequest.
fn old_server() -> (String, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            while buf.len() >= HEADER_LEN {
                let len = u32::from_be_bytes(buf[4..8].try_into().unwrap()) as usize;
                if buf.len() < HEADER_LEN + len {
                    break;
                }
                let msg: Vec<u8> = buf.drain(..HEADER_LEN + len).collect();
                let reply = match codec::decode(&msg) {
                    Ok(Some((Message::EchoRequest { seq, data }, _))) => {
                        Message::EchoReply { seq, data }
                    }
                    _ => Message::error(ErrorCode::UnknownKind, "unknown message kind"),
                };
                if s.write_all(&codec::to_vec(&reply).unwrap()).is_err() {
                    return;
                }
            }
        }
    });
    (addr, h)
}

#[test]
fn an_older_server_gets_plain_echoes_and_the_report_says_why() {
    let (addr, h) = old_server();
    let out = client(
        &addr,
        &["--echo", "hi", "--count", "4", "--json", "--timestamps"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v = parse_json(&out.stdout).unwrap();
    assert_valid(&v);
    assert_eq!(v["latency_us"]["count"], 4);
    assert_eq!(v["timestamps"]["kind"], "none");
    let note = v["timestamps"]["note"].as_str().unwrap();
    assert!(note.contains("older server"), "{note}");
    h.join().unwrap();
}

/// A stamped stream's figures in JSON `v` of `count` segments asked for:
/// software stamps, the offset within its bound of zero (one host, one
/// clock), a drift, and every segment that arrived with its delay or a
/// missing stamp counted; the kernels' p50 under the application's.
fn stamped_stream(v: &serde_json::Value, count: u64) {
    assert_valid(v);
    let t = &v["timestamps"];
    assert_eq!(t["kind"], "software", "{t}");
    assert_eq!(v["segments"], count, "{v}");
    let offset = t["clock_offset_us"].as_f64().unwrap();
    let bound = t["offset_bound_us"].as_f64().unwrap();
    assert!(offset.abs() <= bound, "offset {offset} ± {bound}");
    assert!(bound < 100.0, "{t}");
    // Both estimates had echoes with their four stamps (a host whose
    // RX stamping was off stamps the first echoes late: the client
    // tries once more), so the drift is there.
    assert!(t["offset_drift_us"].as_f64().is_some(), "{t}");
    let n = t["one_way_delay_us"]["count"].as_u64().unwrap();
    let m = &t["segments_missing"];
    let missing = m["rx"].as_u64().unwrap() + m["tx"].as_u64().unwrap();
    assert_eq!(n + missing, count, "{t}");
    assert!(n >= count / 2, "{t}");
    // The kernels' delay leaves out both applications: under the
    // application's own one-way delay, and on loopback well under a
    // millisecond.
    let kernel = t["one_way_delay_us"]["p50"].as_f64().unwrap();
    let app = v["latency_us"]["p50"].as_f64().unwrap();
    assert!(kernel < app, "kernel {kernel} application {app}");
    assert!(kernel > 0.0 && kernel < 2_000.0, "{t}");
}

#[test]
fn a_stamped_tcp_stream_gives_kernel_one_way_delays_and_an_offset_within_its_bound_of_zero() {
    for host in hosts() {
        let server = Server::start(host, &[]);
        let args = ["--stream", "2ms", "--count", "100", "--timestamps"];
        let (out, v) = server.client_json(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        stamped_stream(&v, 100);
        let text = server.client(&["--stream", "2ms", "--count", "20", "--timestamps"]);
        let text = stdout(&text);
        assert!(
            text.contains("one-way, kernel") && text.contains("clock offset"),
            "{text}"
        );
        // Without --timestamps the stream is as it always was.
        let (out, v) = server.client_json(&["--stream", "2ms", "--count", "10"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(v.get("timestamps").is_none(), "{v}");
    }
}

#[test]
fn a_stamped_udp_stream_gives_kernel_one_way_delays_and_an_offset_within_its_bound_of_zero() {
    for host in hosts() {
        let server = Server::start(host, &["--udp"]);
        let args = ["--udp", "--stream", "1ms", "--count", "200", "--timestamps"];
        let (out, v) = server.client_json(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        stamped_stream(&v, 200);
        // The StreamStamps are control datagrams: the segments are all the
        // data, as in a plain stream.
        assert_eq!(v["datagrams"], 200, "{v}");
        assert_eq!(v["lost"], 0, "{v}");
        let text = server.client(&["--udp", "--stream", "1ms", "--count", "20", "--timestamps"]);
        let text = stdout(&text);
        assert!(
            text.contains("one-way, kernel") && text.contains("clock offset"),
            "{text}"
        );
        // Without --timestamps the stream is as it always was: no stamps,
        // and on the wire only its segments and control datagrams.
        let (out, v) = server.client_json(&["--udp", "--stream", "1ms", "--count", "10"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_valid(&v);
        assert!(v.get("timestamps").is_none(), "{v}");
        let model = &v["overhead"]["model"];
        assert_eq!(
            (&model["data_frames"], &model["frames"]),
            (&10.into(), &15.into()),
            "{v}"
        );
    }
}

#[test]
fn a_stamped_stream_falls_back_cleanly_over_tcp_and_udp() {
    // An older server refuses the stamped echoes: the client asks for the
    // plain stream, which this one refuses too; the refusal is reported,
    // never a panic.
    let (addr, h) = old_server();
    let out = client(&addr, &["--stream", "1ms", "--count", "3", "--timestamps"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unknown"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    h.join().unwrap();
    // Over UDP alike: the stamped echoes refused, the plain stream asked
    // for and refused, and the refusal reported.
    let (addr, h) = old_udp_server();
    let args = ["--udp", "--stream", "1ms", "--count", "3", "--timestamps"];
    let out = client(&addr, &args);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unknown"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    drop(h);
}
