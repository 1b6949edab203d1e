//! UDP uploads, timed transfers, the server's Results and ECN, end to end:
//! real processes and sockets on loopback, IPv4 and IPv6.

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use ardei_lab::proto::ErrorCode;
use ardei_lab::proto::datagram::{self, Body, DgramHeader, FLAG_RESULTS, FLAG_UPLOAD};
use common::*;

fn hosts() -> Vec<&'static str> {
    let mut h = vec!["127.0.0.1"];
    if has_ipv6() {
        h.push("[::1]");
    }
    h
}

fn udp(s: &Server, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--udp"];
    a.extend_from_slice(args);
    let (out, v) = s.client_json(&a);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    v
}

fn n(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn an_upload_is_verified_and_the_servers_figures_add_up() {
    for host in hosts() {
        let s = Server::start(host, &["--udp"]);
        let v = udp(&s, &["--file", "10M", "--upload", "--segment-size", "1400"]);
        assert_eq!(v["direction"], "upload");
        assert_eq!(v["verified"], true, "{v}");
        let server = &v["server"];
        let (got, lost) = (n(&server["datagrams"]), n(&server["lost"]));
        assert_eq!(got + lost, n(&v["sent"]), "{v}");
        assert_eq!(n(&v["datagrams"]), got);
        if lost == 0 {
            assert_eq!(n(&server["bytes"]), 10 << 20);
        }
        assert!(v["cpu"]["client"]["user_seconds"].is_number(), "{v}");
        assert!(v["cpu"]["server"]["wall_seconds"].is_number(), "{v}");
    }
}

/// An upload's datagrams reach the server through its batched receive:
/// with UDP GRO by default (several to a buffer when the client sends them
/// in GSO batches), one to a slot with `server --no-gro`; the client's
/// report says which, with the buffers, and every datagram is counted.
#[test]
fn an_upload_says_how_its_datagrams_reached_the_server() {
    for (server_flags, receive) in [
        (&["--udp"][..], "gro"),
        (&["--udp", "--no-gro"], "recvmmsg"),
    ] {
        let s = Server::v4(server_flags);
        let v = udp(
            &s,
            &[
                "--file",
                "4M",
                "--upload",
                "--segment-size",
                "64",
                "--rate",
                "200M",
            ],
        );
        let server = &v["server"];
        assert_eq!(server["receive"], receive, "{v}");
        let (got, dups, buffers) = (
            n(&server["datagrams"]),
            n(&server["duplicates"]),
            n(&server["buffers"]),
        );
        assert_eq!(got + n(&server["lost"]), n(&v["sent"]), "{v}");
        let per = server["datagrams_per_buffer"].as_f64().unwrap();
        assert!(
            (per - (got + dups) as f64 / buffers as f64).abs() < 1e-9,
            "{v}"
        );
        if receive == "recvmmsg" {
            assert_eq!(buffers, got + dups, "{v}");
        } else {
            assert!(buffers <= got + dups, "{v}");
        }
        let out = s.client(&["--udp", "--file", "1M", "--upload"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("server: received with {receive}: ")),
            "{text}"
        );
    }
}

#[test]
fn a_download_carries_the_servers_results() {
    let s = Server::v4(&["--udp"]);
    let v = udp(&s, &["--file", "1M"]);
    assert_eq!(v["direction"], "download");
    assert_eq!(n(&v["server"]["bytes"]), 1 << 20);
    assert_eq!(v["server"]["datagrams"], v["sent"]);
}

#[test]
fn timed_runs_end_within_the_time_and_a_round_trip() {
    let s = Server::v4(&["--udp"]);
    for way in [&[][..], &["--upload"][..]] {
        let mut args = vec!["-t", "1s", "--rate", "200M"];
        args.extend_from_slice(way);
        let t0 = Instant::now();
        let v = udp(&s, &args);
        let wall = t0.elapsed();
        assert!(wall < Duration::from_millis(1800), "{way:?}: {wall:?}");
        let seconds = v["seconds"].as_f64().unwrap();
        assert!((0.9..1.3).contains(&seconds), "{way:?}: {seconds} s: {v}");
        let server = &v["server"];
        assert!(n(&server["bytes"]) > 10 << 20, "{way:?}: {v}");
        assert_eq!(v["verified"], true);
        // A timed run's size is what was sent in the time, never 0.
        assert!(n(&v["size"]) > 10 << 20, "{way:?}: {v}");
        assert!(n(&v["size"]) >= n(&v["bytes"]), "{way:?}: {v}");
        if way.is_empty() {
            assert_eq!(n(&v["size"]), n(&server["bytes"]), "{v}");
        }
    }
    // The text says so too, and an upload's line of send calls leaves the
    // receive to the server's line.
    let out = s.client(&["--udp", "-t", "300ms", "--rate", "100M", "--upload"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains(": 0 bytes"), "{text}");
    assert!(
        text.contains("the server's receive is on its own line"),
        "{text}"
    );
    assert!(!text.contains("the client read with"), "{text}");
}

#[test]
fn ecn_marks_every_datagram_both_ways() {
    let s = Server::v4(&["--udp"]);
    let v = udp(&s, &["--file", "2M", "--ecn"]);
    let e = &v["ecn"];
    assert_eq!((n(&e["not_ect"]), n(&e["ce"])), (0, 0), "{v}");
    assert!(n(&e["ect0"]) >= n(&v["datagrams"]), "{v}");
    let v = udp(&s, &["--file", "2M", "--ecn", "--upload"]);
    let e = &v["server"]["ecn"];
    assert_eq!((n(&e["not_ect"]), n(&e["ce"])), (0, 0), "{v}");
    assert!(n(&e["ect0"]) >= n(&v["server"]["datagrams"]), "{v}");
}

#[test]
fn a_timed_transfer_over_max_time_is_refused() {
    let s = Server::v4(&["--udp", "--max-time", "1s"]);
    let out = s.client(&["--udp", "-t", "2s", "--upload"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("--max-time"), "{}", stderr(&out));
}

/// A client that uploads a wrong byte: the server names its offset.
#[test]
fn a_wrong_upload_byte_is_answered_with_its_offset() {
    let s = Server::v4(&["--udp"]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(s.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let h = DgramHeader {
        session: 77,
        ..DgramHeader::default()
    };
    let ask = |body: &Body| -> Body {
        sock.send(&datagram::to_vec(&h, body)).unwrap();
        let mut buf = [0u8; 2048];
        let n = sock.recv(&mut buf).unwrap();
        datagram::decode(&buf[..n]).unwrap().1
    };
    let Body::Cookie { token } = ask(&Body::Hello) else {
        panic!("no cookie")
    };
    let request = Body::FileRequest {
        size: 1000,
        rate_bps: 0,
        segment: 228,
        flags: FLAG_UPLOAD | FLAG_RESULTS,
        token,
        time_ns: 0,
    };
    assert!(matches!(ask(&request), Body::FileReady { size: 1000, .. }));
    let mut data = pattern(200, 200);
    data[17] ^= 0x55;
    let d = DgramHeader {
        seq: 1,
        offset: 200,
        ..h
    };
    sock.send(&datagram::to_vec(&d, &Body::FileData { data }))
        .unwrap();
    let mut buf = [0u8; 2048];
    let got = sock.recv(&mut buf).unwrap();
    match datagram::decode(&buf[..got]).unwrap().1 {
        Body::Error { code, message } => {
            assert_eq!(code, ErrorCode::Malformed);
            assert!(
                message.starts_with("upload: verification failed at offset 217"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
}
