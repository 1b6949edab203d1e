//! Transfers over TCP as the command line asks for them: uploads verified
//! by the server, timed runs either way, a size and a time together, the
//! congestion control on both ends, the server's figures in the client's
//! report, refusals, a receiver that reports a wrong byte, and the
//! accounting of an upload. Real server and client processes on loopback.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use ardei_lab::proto::{ErrorCode, Message, codec};
use common::*;

/// Asserts `v` is a verified TCP transfer `direction` whose server says
/// it moved the same bytes, with its TCP_INFO figures and both sides' CPU.
fn assert_transfer(v: &serde_json::Value, direction: &str) {
    assert_eq!(v["mode"], "file", "{v}");
    assert_eq!(v["transport"], "tcp", "{v}");
    assert_eq!(v["direction"], direction, "{v}");
    assert_eq!(v["verified"], true, "{v}");
    assert!(v["bytes"].as_u64().unwrap() > 0, "{v}");
    let s = &v["server"];
    assert_eq!(s["bytes"], v["bytes"], "the server counted the same: {v}");
    for k in ["retransmits", "cwnd", "rtt_us", "seconds"] {
        assert!(s[k].is_number(), "server.{k}: {v}");
    }
    assert!(s["congestion"].is_string(), "{v}");
    // Whether ECN was negotiated is the kernel's answer (net.ipv4.tcp_ecn),
    // said either way.
    assert!(s["ecn_negotiated"].is_boolean(), "{v}");
    for side in ["client", "server"] {
        let c = &v["cpu"][side];
        for k in ["user_seconds", "sys_seconds", "wall_seconds", "cores"] {
            assert!(c[k].is_number(), "cpu.{side}.{k}: {v}");
        }
    }
}

#[test]
fn an_upload_of_10m_is_verified_by_the_server_over_v4_and_v6() {
    let mut hosts = vec!["127.0.0.1"];
    if has_ipv6() {
        hosts.push("::1");
    }
    for host in hosts {
        let h = if host.contains(':') {
            "[::1]".to_string()
        } else {
            host.to_string()
        };
        let s = Server::start(&h, &[]);
        let (out, v) = s.client_json(&["--file", "10M", "--upload"]);
        assert!(out.status.success(), "{host}: {}", stderr(&out));
        assert_transfer(&v, "upload");
        assert_eq!(v["bytes"], 10 << 20, "{v}");
        assert_eq!(v["ip"], if host == "::1" { 6 } else { 4 }, "{v}");
        let text = s.client(&["--file", "1M", "--upload"]);
        assert!(text.status.success(), "{}", stderr(&text));
        let t = stdout(&text);
        assert!(t.contains("  server: "), "{t}");
        assert!(t.contains("CPU client"), "{t}");
    }
}

#[test]
fn timed_runs_end_within_the_time_and_a_round_trip_either_way() {
    let s = Server::v4(&[]);
    for args in [&["-t", "1s"][..], &["-t", "1s", "--upload"]] {
        let began = Instant::now();
        let (out, v) = s.client_json(args);
        let took = began.elapsed();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let direction = if args.len() == 3 {
            "upload"
        } else {
            "download"
        };
        assert_transfer(&v, direction);
        let secs = v["seconds"].as_f64().unwrap();
        // A round trip on lo is microseconds; a loaded two-core machine
        // may hold a write or a wake-up back for some milliseconds.
        assert!((0.99..1.15).contains(&secs), "{args:?}: {secs} s: {v}");
        assert!(took < Duration::from_secs(4), "{args:?}: {took:?}");
    }
}

#[test]
fn a_size_and_a_time_end_at_whichever_comes_first() {
    let s = Server::v4(&[]);
    // 100 MB on lo take tens of milliseconds: the size comes first.
    let (out, v) = s.client_json(&["--file", "100M", "-t", "1s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_transfer(&v, "download");
    assert_eq!(v["bytes"], 100 << 20, "{v}");
    assert!(v["seconds"].as_f64().unwrap() < 1.0, "{v}");
    // At 80 Mbit/s the time comes first: about 5 MB in half a second.
    let (out, v) = s.client_json(&["--file", "100M", "-t", "500ms", "--rate", "80M"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = v["bytes"].as_u64().unwrap();
    assert!((4_500_000..=5_200_000).contains(&bytes), "{v}");
}

#[test]
fn the_congestion_control_is_read_back_on_both_ends() {
    let s = Server::v4(&[]);
    for up in [false, true] {
        let mut args = vec!["--file", "4M", "-C", "reno"];
        if up {
            args.push("--upload");
        }
        let (out, v) = s.client_json(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(v["socket"]["congestion"], "reno", "{v}");
        assert_eq!(v["server"]["congestion"], "reno", "{v}");
    }
}

#[test]
fn a_server_refuses_a_time_over_its_max_time() {
    let s = Server::v4(&["--max-time", "1s"]);
    let out = s.client(&["-t", "5s"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(e.contains("--max-time"), "{e}");
    s.assert_alive();
}

/// A receiver that takes the upload's first bytes, then says a byte at
/// `offset` was wrong, and reads the rest until the client closes.
fn lying_receiver(offset: u64) -> (String, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let h = std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut got = Vec::new();
        let (req, used) = loop {
            let n = c.read(&mut buf).unwrap();
            assert!(n > 0, "closed before a request");
            got.extend_from_slice(&buf[..n]);
            if let Some(m) = codec::decode(&got).unwrap() {
                break m;
            }
        };
        let Message::TransferRequest { size, .. } = req else {
            panic!("not a transfer request: {req:?}");
        };
        let _ = used;
        let ready = codec::to_vec(&Message::FileReady { size }).unwrap();
        c.write_all(&ready).unwrap();
        let mut seen = got.len() as u64;
        while seen < offset + 1000 {
            let n = c.read(&mut buf).unwrap();
            if n == 0 {
                return;
            }
            seen += n as u64;
        }
        let why = format!(
            "upload: verification failed at offset {offset}: byte {offset} is 0x00, expected 0x30 ('0')"
        );
        let e = codec::to_vec(&Message::error(ErrorCode::Malformed, why)).unwrap();
        c.write_all(&e).unwrap();
        let _ = c.shutdown(std::net::Shutdown::Write);
        let _ = std::io::copy(&mut c, &mut std::io::sink());
    });
    (addr, h)
}

#[test]
fn an_upload_a_receiver_finds_wrong_fails_with_the_offset_it_names() {
    let (addr, h) = lying_receiver(123_456);
    let out = client(&addr, &["--file", "20M", "--upload"]);
    h.join().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(e.contains("offset 123456"), "{e}");
}

#[test]
fn the_model_beside_the_kernel_agrees_for_an_upload() {
    let s = Server::v4(&["--mss", "1000"]);
    let (out, v) = s.client_json(&["--file", "2M", "--upload", "--mss", "1000"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let o = &v["overhead"];
    assert_eq!(
        o["model"]["layers"]["payload"], o["kernel"]["layers"]["payload"],
        "every byte both ways priced: {o}"
    );
    // As for a download: TCP cuts what sits in the send buffer, so a few
    // segments may carry less than the MSS.
    let m = o["model"]["data_frames"].as_f64().unwrap();
    let k = o["kernel"]["data_frames"].as_f64().unwrap();
    assert!((k - m).abs() <= m * 0.04, "kernel {k} vs model {m}: {o}");
    // Timed, both ways: the framing is priced too.
    for args in [&["-t", "300ms"][..], &["-t", "300ms", "--upload"]] {
        let (out, v) = s.client_json(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let o = &v["overhead"];
        assert_eq!(
            o["model"]["layers"]["payload"], o["kernel"]["layers"]["payload"],
            "{args:?}: {o}"
        );
    }
}
