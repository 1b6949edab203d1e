//! The TCP server and client, end to end: real processes, real sockets,
//! ephemeral ports, IPv4 and IPv6.

mod common;

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use ardei_lab::proto::{self, ErrorCode, Message, codec};
use common::*;

fn hosts() -> Vec<&'static str> {
    let mut h = vec!["127.0.0.1"];
    if has_ipv6() {
        h.push("[::1]");
    }
    h
}

#[test]
fn echo_round_trips_on_v4_and_v6() {
    for host in hosts() {
        let s = Server::start(host, &[]);
        let (out, v) = s.client_json(&["--echo", "hello lab", "--count", "50"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(v["mode"], "echo");
        assert_eq!(v["transport"], "tcp");
        assert_eq!(v["ip"], if host.starts_with('[') { 6 } else { 4 });
        assert_eq!(v["replies"], 50);
        assert_eq!(v["bytes"], 50 * 9);
        let lat = &v["latency_us"];
        for k in ["p50", "p90", "p99", "p999", "max"] {
            assert!(lat[k].as_f64().unwrap() > 0.0, "{k}: {lat}");
        }
        assert!(lat["p50"].as_f64() <= lat["p99"].as_f64());
        assert!(lat["p99"].as_f64() <= lat["max"].as_f64());
    }
}

#[test]
fn echo_text_report_has_percentiles() {
    let s = Server::v4(&[]);
    let out = s.client(&["--echo", "hi", "--count", "5", "--interval", "1ms"]);
    assert!(out.status.success());
    let text = stdout(&out);
    for k in ["min", "p50", "p90", "p99", "p99.9", "max"] {
        assert!(text.contains(k), "{k} missing in {text}");
    }
}

#[test]
fn files_of_every_edge_size_are_verified() {
    let s = Server::v4(&[]);
    for size in [0u64, 1, 1448, 1 << 20, 123_456_789] {
        let (out, v) = s.client_json(&["--file", &size.to_string()]);
        assert!(out.status.success(), "size {size}: {}", stderr(&out));
        assert_eq!(v["bytes"], size, "{v}");
        assert_eq!(v["verified"], true);
        assert!(v["seconds"].as_f64().unwrap() >= 0.0);
        assert!(v["time_to_first_byte_us"].as_f64().is_some());
    }
}

/// The client raises the receive low-water mark to its block while two
/// blocks or more remain; a mark the rest of the file cannot reach would
/// leave the read waiting for the 30 s timeout. Sizes around the block
/// edges (256 KiB blocks) must each end at once.
#[test]
fn files_around_the_read_block_end_without_waiting() {
    let s = Server::v4(&[]);
    let block = 256u64 << 10;
    for size in [
        2 * block - 1,
        2 * block + 1,
        3 * block - 1,
        3 * block + 65_500,
        5 * block + 7,
        64 << 20,
        (64 << 20) + block + 1,
    ] {
        let started = std::time::Instant::now();
        let (out, v) = s.client_json(&["--file", &size.to_string()]);
        assert!(out.status.success(), "size {size}: {}", stderr(&out));
        assert_eq!(v["bytes"], size, "{v}");
        assert_eq!(v["verified"], true);
        let took = started.elapsed();
        assert!(
            took < std::time::Duration::from_secs(10),
            "a file of {size} bytes took {took:?}: a read waited for its timeout"
        );
    }
}

#[test]
fn files_over_ipv6() {
    if !has_ipv6() {
        return;
    }
    let s = Server::start("[::1]", &[]);
    let (out, v) = s.client_json(&["--file", "1M"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["ip"], 6);
    assert_eq!(v["bytes"], 1 << 20);
    assert_eq!(v["verified"], true);
}

#[test]
fn print_file_writes_exactly_the_pattern_to_stdout() {
    let s = Server::v4(&[]);
    let out = s.client(&["--file", "12345", "--print-file"]);
    assert!(out.status.success());
    assert_eq!(out.stdout, pattern(0, 12345));
    assert!(stderr(&out).contains("every byte verified"));
}

/// `--print-file` into a full device: the failure is stdout's, said with
/// what stdout holds, never a failed connection.
#[test]
fn print_file_into_a_full_device_says_what_stdout_holds() {
    // A device node of its own (as /dev/full: char 1,7); needs root.
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    let c = std::ffi::CString::new(full.to_str().unwrap()).unwrap();
    if unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 7)) } != 0 {
        eprintln!("skipped: mknod needs root");
        return;
    }
    for udp in [false, true] {
        let s = if udp {
            Server::v4(&["--udp"])
        } else {
            Server::v4(&[])
        };
        let mut args = vec!["client", "--file", "1M", "--print-file"];
        if udp {
            args.push("--udp");
        }
        let mut child = Command::new(bin())
            .args(&args)
            .arg(s.target())
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&full).unwrap())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        wait_timeout(&mut child, Duration::from_secs(20)).expect("the client hung");
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(4), "udp {udp}: {err}");
        assert!(
            err.contains("stdout holds only the first 0 of the file's 1048576 bytes"),
            "udp {udp}: {err}"
        );
        assert!(!err.contains("connection"), "udp {udp}: {err}");
    }
}

#[test]
fn stream_keeps_count_and_schedule() {
    let s = Server::v4(&["--nodelay"]);
    let (out, v) = s.client_json(&["--stream", "2ms", "--count", "100", "--size", "100"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["mode"], "stream");
    assert_eq!(v["segments"], 100);
    assert_eq!(v["sent"], 100);
    assert_eq!(v["bytes"], 100 * 100);
    // 100 segments 2 ms apart take about 0.2 s: the schedule neither
    // rushes nor drifts by whole intervals (loose bounds for a busy host).
    let secs = v["seconds"].as_f64().unwrap();
    assert!((0.19..2.0).contains(&secs), "took {secs} s");
    let sched = &v["schedule_error_us"];
    assert!(sched["min"].as_f64().unwrap() >= 0.0, "{sched}");
    assert!(sched["p50"].as_f64().unwrap() < 2000.0, "{sched}");
    // The end drift is the last segment's error, one of those above.
    let drift = v["end_drift_us"].as_f64().unwrap();
    assert!(
        drift >= 0.0 && drift <= sched["max"].as_f64().unwrap() + 1.0,
        "{drift}"
    );
    assert!(v["jitter_us"].as_f64().is_some());
    assert!(v["latency_us"]["p50"].as_f64().unwrap() > 0.0);
    assert!(v["clocks"].as_str().unwrap().contains("share a host"));
}

fn refused(out: &std::process::Output, needle: &str) {
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(out));
    let e = stderr(out);
    assert!(e.contains("refused") && e.contains(needle), "{e}");
}

#[test]
fn every_limit_is_refused_with_a_sentence() {
    let s = Server::v4(&["--max-file", "1000", "--max-segments", "10"]);
    refused(&s.client(&["--file", "1001"]), "--max-file");
    refused(
        &s.client(&["--stream", "5ms", "--count", "11"]),
        "--max-segments",
    );
    refused(&s.client(&["--stream", "50us", "--count", "2"]), "interval");
    refused(&s.client(&["--stream", "61s", "--count", "1"]), "interval");
    refused(
        &s.client(&["--stream", "5ms", "--count", "2", "--size", "10"]),
        "segment",
    );
    refused(&s.client(&["--echo", &"x".repeat(60_001)]), "echo");
    // JSON carries the error too.
    let (out, v) = s.client_json(&["--file", "5000"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(v["error"].as_str().unwrap().contains("1000"), "{v}");
    let log = s.drain_log().join("\n");
    assert!(log.contains("refused"), "{log}");
    s.assert_alive();
}

#[test]
fn unknown_kind_and_wrong_version_get_protocol_errors() {
    let s = Server::v4(&[]);
    // An unknown kind is answered and skipped: the connection goes on.
    let mut c = s.raw();
    let mut bytes = proto::Header::emit(proto::Kind::Unknown(0x7F), 3).to_vec();
    bytes.extend_from_slice(b"abc");
    codec::encode(
        &Message::EchoRequest {
            seq: 1,
            data: b"ok".to_vec(),
        },
        &mut bytes,
    )
    .unwrap();
    c.write_all(&bytes).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let msgs = loop {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "closed early");
        got.extend_from_slice(&buf[..n]);
        let mut msgs = Vec::new();
        let mut at = 0;
        while let Ok(Some((m, used))) = proto::decode(&got[at..]) {
            msgs.push(m);
            at += used;
        }
        if msgs.len() == 2 {
            break msgs;
        }
    };
    assert!(
        matches!(
            &msgs[0],
            Message::Error {
                code: ErrorCode::UnknownKind,
                ..
            }
        ),
        "{msgs:?}"
    );
    assert_eq!(
        msgs[1],
        Message::EchoReply {
            seq: 1,
            data: b"ok".to_vec()
        }
    );

    // A wrong version is answered, then the connection is closed.
    let mut c = s.raw();
    let mut bytes = codec::to_vec(&Message::FileRequest {
        size: 1,
        rate_bps: 0,
    })
    .unwrap();
    bytes[2] = 9;
    let reply = exchange(&mut c, &bytes, Duration::from_secs(5));
    match proto::decode(&reply) {
        Ok(Some((Message::Error { code, message }, _))) => {
            assert_eq!(code, ErrorCode::BadVersion);
            assert!(message.contains("version 9"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    s.assert_alive();
}

#[test]
fn malformed_frames_and_garbage_leave_the_server_serving() {
    let s = Server::v4(&[]);
    let cases: Vec<Vec<u8>> = vec![
        vec![0xAD, 0xE1, 1, 1, 0xFF, 0xFF, 0xFF, 0xFF], // length 2^32-1
        vec![0xAD, 0xE1, 1, 3, 0, 0, 0, 0],             // file request with no size
        vec![0xAD, 0xE1, 1, 9, 0, 0, 0, 3, 0, 1, 0xFF], // error with invalid UTF-8
        vec![
            0xAD, 0xE1, 1, 5, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 64,
        ], // zero interval
        vec![0xAD, 0x00, 0xFF, 0x10],                   // wrong magic
        vec![0xAD, 0xE1, 1],                            // truncated header, then close
        (0..=255u8).cycle().skip(0xAD).take(5000).collect(), // garbage that starts with AD
        vec![0xFF; 70_000],                             // garbage without a newline
    ];
    for (i, bytes) in cases.iter().enumerate() {
        let mut c = s.raw();
        let _ = c.write_all(bytes);
        let _ = c.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = c.read_to_end(&mut sink);
        s.assert_alive();
        assert!(
            !sink.is_empty() || i == 5,
            "case {i}: the server neither answered nor explained"
        );
    }
}

#[test]
fn text_mode_serves_plain_lines() {
    let s = Server::v4(&[]);
    let mut c = s.raw();
    c.write_all(b"hello\n").unwrap();
    assert_eq!(read_n(&mut c, 6), b"hello\n");
    c.write_all(b"1000\r\n").unwrap();
    assert_eq!(read_n(&mut c, 1000), pattern(0, 1000));
    c.write_all(b"123456790\n").unwrap();
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while b[0] != b'\n' {
        c.read_exact(&mut b).unwrap();
        line.push(b[0]);
    }
    let line = String::from_utf8(line).unwrap();
    assert!(
        line.starts_with("error: ") && line.contains("123456789"),
        "{line}"
    );
    c.write_all(b"still here\n").unwrap();
    assert_eq!(read_n(&mut c, 11), b"still here\n");
}

#[test]
fn sixty_four_concurrent_clients() {
    let s = Server::v4(&[]);
    let target = s.target();
    let handles: Vec<_> = (0..64)
        .map(|i| {
            let t = target.clone();
            std::thread::spawn(move || {
                let args: Vec<String> = if i % 2 == 0 {
                    vec!["--file".into(), (100_000 + i).to_string(), "--json".into()]
                } else {
                    vec![
                        "--echo".into(),
                        format!("client {i}"),
                        "--count".into(),
                        "20".into(),
                        "--json".into(),
                    ]
                };
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                client(&t, &a)
            })
        })
        .collect();
    for h in handles {
        let out = h.join().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = parse_json(&out.stdout).unwrap();
        assert!(v["bytes"].as_u64().unwrap() > 0);
    }
}

#[test]
fn a_stuck_client_does_not_delay_others_and_idles_out() {
    let s = Server::v4(&["--idle-timeout", "1s"]);
    // Asks for a big file and never reads it: its session blocks on write.
    let mut stuck = s.raw();
    stuck
        .write_all(
            &codec::to_vec(&Message::FileRequest {
                size: 100_000_000,
                rate_bps: 0,
            })
            .unwrap(),
        )
        .unwrap();
    // And one that connects and says nothing.
    let _silent = s.raw();
    std::thread::sleep(Duration::from_millis(200));
    let t = std::time::Instant::now();
    s.assert_alive();
    let (out, v) = s.client_json(&["--file", "1M"]);
    assert!(out.status.success() && v["verified"] == true);
    assert!(t.elapsed() < Duration::from_secs(5));
    // Both idle sessions are cut by the timeout (the stuck writer once a
    // write has made no progress for 1 s).
    let mut log = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while log.matches("idle timeout").count() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        for l in s.drain_log() {
            log.push_str(&l);
            log.push('\n');
        }
    }
    assert!(log.matches("idle timeout").count() >= 2, "{log}");
}

#[test]
fn max_sessions_refuses_cleanly() {
    let s = Server::v4(&["--max-sessions", "2"]);
    let a = s.raw();
    let b = s.raw();
    std::thread::sleep(Duration::from_millis(200));
    let out = s.client(&["--echo", "third"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("busy"), "{}", stderr(&out));
    drop((a, b));
    std::thread::sleep(Duration::from_millis(300));
    s.assert_alive();
}

#[test]
fn once_serves_one_client_then_exits() {
    let mut s = Server::v4(&["--once"]);
    let out = s.client(&["--echo", "only"]);
    assert!(out.status.success());
    let status = wait_timeout(&mut s.child, Duration::from_secs(10)).expect("still running");
    assert!(status.success());
}

#[test]
fn sigterm_and_sigint_stop_the_server_cleanly() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let s = Server::v4(&[]);
        s.assert_alive();
        let status = s.signal_and_wait(sig);
        assert_eq!(status.code(), Some(0), "signal {sig}");
    }
}

#[test]
fn sigterm_during_a_transfer_ends_it_and_exits_zero() {
    let s = Server::v4(&["--max-file", "100G"]);
    let target = s.target();
    let h = std::thread::spawn(move || client(&target, &["--file", "50G"]));
    std::thread::sleep(Duration::from_millis(500));
    let status = s.signal_and_wait(libc::SIGTERM);
    assert_eq!(status.code(), Some(0));
    let out = h.join().unwrap();
    // The transfer was cut: the client says so and fails.
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("ended after") || stderr(&out).contains("failed"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn prompt_driven_through_a_pipe() {
    let s = Server::v4(&[]);
    let out = prompt(
        &[&s.target(), "--count", "5"],
        b"hello prompt\n2000\ns\n2ms\nquit\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("1 of 1 round trips of 12 bytes"), "{text}");
    assert!(
        text.contains("(2000 bytes) received, every byte verified"),
        "{text}"
    );
    assert!(text.contains("5 of 5 segments"), "{text}");
}

#[test]
fn prompt_quits_at_end_of_input_and_survives_errors() {
    let s = Server::v4(&["--max-file", "10"]);
    let out = prompt(&[&s.target()], b"100\nafter\n");
    assert!(out.status.success());
    assert!(stderr(&out).contains("--max-file"), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("round trips of 5 bytes"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn prompt_skips_lines_that_are_not_text() {
    let s = Server::v4(&[]);
    // Bytes that are not UTF-8, as a command and as a stream's interval.
    let out = prompt(&[&s.target()], b"\xff\xfe\x00bin\ns\n\xffms\nafter\n");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).matches("not UTF-8 text").count(),
        2,
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("round trips of 5 bytes"),
        "the line after was not served: {}",
        stdout(&out)
    );
}

#[test]
fn no_server_gives_a_hint_and_nonzero_exit() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    let out = client(&addr, &["--echo", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("start one with `ardei-lab server --bind"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    for args in [
        vec!["client", "127.0.0.1:1", "--file", "-5"],
        vec!["client", "127.0.0.1:1", "--stream", "5 parsecs"],
        vec!["client", "127.0.0.1:1", "--echo", "a", "--file", "1"],
        vec!["client", "not a target", "--echo", "a"],
        vec!["server", "--bind", "127.0.0.1:0", "--max-sessions", "0"],
    ] {
        let out = Command::new(bin()).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty());
    }
}

#[test]
fn server_options_are_applied_and_logged() {
    let s = Server::v4(&[
        "--sndbuf",
        "64K",
        "--rcvbuf",
        "64K",
        "--nodelay",
        "--mss",
        "1000",
    ]);
    s.assert_alive();
    std::thread::sleep(Duration::from_millis(100));
    let log = s.drain_log().join("\n");
    assert!(log.contains("sndbuf 131072 (asked 65536)"), "{log}");
    assert!(log.contains("nodelay true"), "{log}");
}

#[test]
fn server_rss_stays_small_during_a_large_file() {
    let s = Server::v4(&[]);
    let (out, v) = s.client_json(&["--file", "123456789"]);
    assert!(out.status.success() && v["verified"] == true);
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).unwrap();
    let hwm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(hwm_kib < 16 * 1024, "server peak RSS {hwm_kib} KiB");
}

#[test]
fn interval_reports_add_up_to_the_transfer() {
    let s = Server::v4(&[]);
    let (out, v) = s.client_json(&["--file", "100M", "-i", "20ms"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let iv = v["intervals"].as_array().unwrap();
    assert!(!iv.is_empty());
    let sum: u64 = iv.iter().map(|i| i["bytes"].as_u64().unwrap()).sum();
    assert_eq!(sum, 100 << 20);
    for i in iv {
        assert!(i["wire_bps"].as_f64().unwrap() >= i["goodput_bps"].as_f64().unwrap());
        assert!(i["retransmissions"].is_u64());
    }
    // Text mode prints them as they happen, iperf3-style.
    let out = s.client(&["--stream", "5ms", "--count", "30", "-i", "50ms"]);
    assert!(stdout(&out).contains(" s] "), "{}", stdout(&out));
}

#[test]
fn json_stream_is_one_line_per_interval_then_the_summary() {
    for udp in [false, true] {
        let s = if udp {
            Server::v4(&["--udp"])
        } else {
            Server::v4(&[])
        };
        let mut args = vec![
            "--stream",
            "5ms",
            "--count",
            "40",
            "-i",
            "50ms",
            "--json-stream",
        ];
        if udp {
            args.push("--udp");
        }
        let out = s.client(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let lines: Vec<serde_json::Value> = stdout(&out)
            .lines()
            .map(|l| parse_json(l).unwrap())
            .collect();
        let (last, intervals) = lines.split_last().unwrap();
        assert!(intervals.len() >= 2, "{lines:?}");
        assert!(intervals.iter().all(|l| l["interval"]["end"].is_f64()));
        assert_eq!(last["summary"]["segments"], 40);
        if udp {
            assert!(intervals.iter().all(|l| l["interval"]["lost"].is_u64()));
        }
    }
}

#[test]
fn cpu_pins_the_process() {
    let s = Server::v4(&["--cpu", "0"]);
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).unwrap();
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(allowed, "0");
    s.assert_alive();
    let (out, _) = s.client_json(&["--echo", "pinned", "--cpu", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = s.client(&["--echo", "x", "--cpu", "4096"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--cpu 4096"), "{}", stderr(&out));
}
