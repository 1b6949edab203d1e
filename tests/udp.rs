//! The UDP server and client, end to end: real processes and sockets on
//! ephemeral loopback ports, IPv4 and IPv6; loss that adds up exactly; the
//! End message and its timeout fallback; the amplification limit.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use ardei_lab::proto::datagram::{self, Body, DGRAM_HEADER, DgramHeader};
use common::*;

fn udp_server(host: &str, args: &[&str]) -> Server {
    let mut a = vec!["--udp"];
    a.extend_from_slice(args);
    Server::start(host, &a)
}

fn hosts() -> Vec<&'static str> {
    let mut h = vec!["127.0.0.1"];
    if has_ipv6() {
        h.push("[::1]");
    }
    h
}

fn json_udp(s: &Server, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--udp"];
    a.extend_from_slice(args);
    let (out, v) = s.client_json(&a);
    assert!(out.status.success(), "{:?}: {}", args, stderr(&out));
    v
}

fn adds_up(v: &serde_json::Value) {
    let d = v["datagrams"].as_u64().unwrap();
    let l = v["lost"].as_u64().unwrap();
    let s = v["sent"].as_u64().unwrap();
    assert_eq!(d + l, s, "datagrams + lost = sent: {v}");
}

#[test]
fn echo_over_v4_and_v6() {
    for host in hosts() {
        let s = udp_server(host, &[]);
        let v = json_udp(&s, &["--echo", "hello udp", "--count", "20"]);
        assert_eq!(v["transport"], "udp");
        assert_eq!(v["mode"], "echo");
        assert_eq!(v["replies"], 20);
        assert_eq!(v["lost"], 0);
        assert_eq!(v["sent"], 20);
        assert!(v["latency_us"]["p50"].as_f64().unwrap() > 0.0);
        adds_up(&v);
    }
}

#[test]
fn files_at_the_edges_arrive_whole_and_verified() {
    for host in hosts() {
        let s = udp_server(host, &[]);
        // On loopback one datagram carries 65507 (IPv4: the UDP maximum) or
        // 65488 (IPv6: the 65536-byte MTU less 48 bytes of headers)
        // bytes of UDP payload, 28 of them the lab header.
        let per: u64 = if host.starts_with('[') {
            65_488 - 28
        } else {
            65_507 - 28
        };
        for size in [0, 1, per - 1, per, per + 1, 10_000_000] {
            let v = json_udp(&s, &["--file", &size.to_string()]);
            assert_eq!(v["bytes"], size, "{host} {size}: {v}");
            assert_eq!(v["verified"], true);
            assert_eq!(v["complete"], true);
            assert_eq!(v["lost"], 0, "{host} {size}: loss at the default rate");
            assert_eq!(v["ended_by"], "end-message");
            assert_eq!(v["sent"], size.div_ceil(per), "{host} {size}");
            assert_eq!(v["segment_size"], per + 28);
            adds_up(&v);
        }
    }
}

/// 64-byte datagrams: 28 bytes of lab header, 36 of file.
const PER_64: u64 = 64 - 28;

#[test]
fn small_datagrams_with_gso_and_without_add_up_and_say_how_they_went() {
    for host in hosts() {
        let s = udp_server(host, &[]);
        // GRO is the default receive where the kernel has it (this one does).
        for (flag, send, receive) in [
            (None, "gso", "gro"),
            (Some("--no-gso"), "sendto", "recv"),
            (Some("--gro"), "gso", "gro"),
            (Some("--no-gro"), "gso", "recvmmsg"),
        ] {
            let mut args = vec!["--file", "2M", "--rate", "0", "--segment-size", "64"];
            args.extend(flag);
            let v = json_udp(&s, &args);
            let what = format!("{host} {flag:?}: {v}");
            assert_eq!(v["verified"], true, "{what}");
            assert_eq!(v["ended_by"], "end-message", "{what}");
            assert_eq!(v["sent"], (2u64 << 20).div_ceil(PER_64), "{what}");
            adds_up(&v);
            // Every byte that arrived was counted once: the bitmap's view.
            let d = v["datagrams"].as_u64().unwrap();
            assert_eq!(v["complete"], v["lost"] == 0, "{what}");
            assert!(d > 0, "{what}");
            assert_eq!(v["send"], send, "{what}");
            assert_eq!(v["receive"], receive, "{what}");
            let calls = v["send_calls"].as_u64().unwrap();
            let max = v["send_batch_max"].as_u64().unwrap();
            let rcalls = v["receive_calls"].as_u64().unwrap();
            if send == "gso" {
                // Unpaced: full batches but the last, of the kernel's
                // limit (128 on current kernels, 64 on older ones).
                assert!(max == 128 || max == 64, "{what}");
                assert_eq!(calls, v["sent"].as_u64().unwrap().div_ceil(max), "{what}");
            } else {
                assert_eq!((calls, max), (v["sent"].as_u64().unwrap(), 1), "{what}");
                // One recv per datagram: the data, the cookie, FileReady, End.
                assert!(rcalls >= d + 2, "{what}");
            }
            if receive == "gro" {
                assert!(v["coalesced"].as_u64().is_some(), "{what}");
            }
            // Buffers: one per datagram without GRO, fewer with it; the
            // control datagrams that came (cookie, FileReady, End and
            // Results copies) are buffers of their own.
            let buffers = v["receive_buffers"].as_u64().unwrap();
            let dups = v["duplicates"].as_u64().unwrap();
            let per = v["datagrams_per_buffer"].as_f64().unwrap();
            assert!(
                (per - (d + dups) as f64 / buffers as f64).abs() < 1e-9,
                "{what}"
            );
            if receive == "gro" {
                assert!(buffers <= d + dups + 8, "{what}");
            } else {
                assert!(buffers >= d + dups && buffers <= d + dups + 8, "{what}");
            }
            // The kernel counts one InDatagram per datagram read, batched
            // or not (GRO aside): the note for GSO's OutDatagrams is there.
            let notes = v["overhead"]["notes"].to_string();
            assert_eq!(
                notes.contains("OutDatagrams counts each call once"),
                send == "gso",
                "{what}"
            );
            assert_eq!(
                notes.contains("read with UDP GRO"),
                receive == "gro",
                "{what}"
            );
        }
    }
}

#[test]
fn gso_files_at_batch_edges_arrive_whole() {
    let s = udp_server("127.0.0.1", &[]);
    // One batch is as many datagrams of 36 file bytes as the kernel takes
    // in one GSO send (128 on current kernels, 64 on older ones): an
    // unpaced file shows the limit.
    let probe = json_udp(&s, &["--file", "1M", "--rate", "0", "--segment-size", "64"]);
    let limit = probe["send_batch_max"].as_u64().unwrap();
    assert!(limit == 128 || limit == 64, "{probe}");
    let batch = limit * PER_64;
    for (size, calls) in [
        (0, 0),
        (1, 1),
        (PER_64, 1),
        (PER_64 + 1, 1),
        (batch - 1, 1),
        (batch, 1),
        (batch + 1, 2),
        (100_000, 100_000u64.div_ceil(PER_64).div_ceil(limit)),
    ] {
        let v = json_udp(
            &s,
            &[
                "--file",
                &size.to_string(),
                "--rate",
                "0",
                "--segment-size",
                "64",
            ],
        );
        let what = format!("{size}: {v}");
        assert_eq!(v["bytes"], size, "{what}");
        assert_eq!(v["complete"], true, "{what}");
        assert_eq!(v["verified"], true, "{what}");
        assert_eq!(v["lost"], 0, "{what}");
        assert_eq!(v["sent"], size.div_ceil(PER_64), "{what}");
        adds_up(&v);
        assert_eq!(v["send_calls"], calls, "{what}");
        // A single datagram needs no GSO; the method says what was asked.
        assert_eq!(
            v["send"],
            if size == 0 || size <= PER_64 {
                "sendto"
            } else {
                "gso"
            },
            "{what}"
        );
    }
}

#[test]
fn a_paced_gso_file_keeps_its_rate() {
    let s = udp_server("127.0.0.1", &[]);
    // 1 MB in 64-byte datagrams at 20 Mbit/s of UDP payload: 0.75 s.
    let size = 1_000_000u64;
    let v = json_udp(
        &s,
        &[
            "--file",
            &size.to_string(),
            "--rate",
            "20M",
            "--segment-size",
            "64",
        ],
    );
    assert_eq!(v["complete"], true, "{v}");
    assert_eq!(v["send"], "gso", "{v}");
    let sent = v["sent"].as_u64().unwrap();
    let expected = (sent * 28 + size) as f64 * 8.0 / 20e6;
    let t = v["seconds"].as_f64().unwrap();
    assert!(
        t > expected * 0.85 && t < expected * 3.0 + 0.5,
        "{t} s for {expected} s: {v}"
    );
    // Paced batches are small: only what is due at each wake-up (a busy
    // machine wakes the sender late, so allow half a full batch on average).
    let calls = v["send_calls"].as_u64().unwrap();
    assert!(
        calls * 32 >= sent,
        "{calls} calls for {sent} datagrams: {v}"
    );
}

/// A 30 MiB file sent as fast as the server can into a 4 KiB receive
/// buffer: the kernel drops datagrams, every run.
const FORCED_LOSS: [&str; 10] = [
    "--file",
    "30M",
    "--rate",
    "0",
    "--rcvbuf",
    "4K",
    "--segment-size",
    "1400",
    "--recv-timeout",
    "500ms",
];

#[test]
fn forced_loss_adds_up_exactly() {
    let s = udp_server("127.0.0.1", &[]);
    let v = json_udp(&s, &FORCED_LOSS);
    assert!(
        v["lost"].as_u64().unwrap() > 0,
        "no loss with a tiny buffer: {v}"
    );
    assert_eq!(v["ended_by"], "end-message");
    assert_eq!(v["complete"], false);
    adds_up(&v);
    // Every byte that did arrive was verified, and the missing ranges are listed.
    assert_eq!(v["verified"], true);
    assert!(!v["missing"].as_array().unwrap().is_empty());
    let k = &v["kernel"];
    assert!(k["rcvbuf_errors"].as_u64().unwrap() > 0, "{k}");
}

#[test]
fn stream_over_udp_counts_every_segment() {
    let s = udp_server("127.0.0.1", &[]);
    let v = json_udp(&s, &["--stream", "2ms", "--count", "100", "--size", "200"]);
    assert_eq!(v["segments"], 100);
    assert_eq!(v["sent"], 100);
    assert_eq!(v["lost"], 0);
    assert_eq!(v["bytes"], 100 * 200);
    assert!(v["jitter_us"].as_f64().is_some());
    assert!(v["schedule_error_us"]["p50"].as_f64().unwrap() < 2000.0);
    let drift = v["end_drift_us"].as_f64().unwrap();
    assert!(drift >= 0.0 && drift <= v["schedule_error_us"]["max"].as_f64().unwrap() + 1.0);
    adds_up(&v);
}

/// A server that answers like ours but never sends the End message.
fn endless_server(size: u64, per: u64) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = vec![0u8; 65536];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                return;
            };
            let Ok((h, body)) = datagram::decode(&buf[..n]) else {
                continue;
            };
            match body {
                Body::Hello => {
                    let _ = sock.send_to(&datagram::to_vec(&h, &Body::Cookie { token: 1 }), peer);
                }
                Body::FileRequest { segment, .. } => {
                    let ready = Body::FileReady {
                        size,
                        segment,
                        datagrams: size.div_ceil(per),
                    };
                    let _ = sock.send_to(&datagram::to_vec(&h, &ready), peer);
                    for seq in 0..size.div_ceil(per) {
                        let offset = seq * per;
                        let data = pattern(offset, per.min(size - offset) as usize);
                        let dh = DgramHeader {
                            session: h.session,
                            seq: seq as u32,
                            offset,
                            sent_ns: 0,
                        };
                        let _ =
                            sock.send_to(&datagram::to_vec(&dh, &Body::FileData { data }), peer);
                    }
                    return;
                }
                _ => {}
            }
        }
    });
    (addr, h)
}

#[test]
fn without_an_end_message_the_timeout_ends_the_transfer() {
    let (addr, h) = endless_server(50_000, 1000 - 28);
    let out = client(
        &addr.to_string(),
        &[
            "--udp",
            "--file",
            "50000",
            "--segment-size",
            "1000",
            "--recv-timeout",
            "300ms",
            "--json",
        ],
    );
    h.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = parse_json(&out.stdout).unwrap();
    assert_eq!(v["ended_by"], "timeout");
    assert_eq!(v["bytes"], 50_000);
    assert_eq!(
        v["sent"],
        50_000u64.div_ceil(972),
        "the plan stands in for the count"
    );
    adds_up(&v);
}

#[test]
fn segment_sizes_are_checked_against_the_limits() {
    let s = udp_server("127.0.0.1", &[]);
    let out = s.client(&["--udp", "--file", "1000", "--segment-size", "70000"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--segment-size 70000"),
        "{}",
        stderr(&out)
    );
    let out = s.client(&["--udp", "--file", "1000", "--segment-size", "20"]);
    assert_eq!(out.status.code(), Some(2));
    let out = s.client(&["--udp", "--stream", "5ms", "--count", "2", "--size", "10"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // An echo past the largest UDP payload: no flag helps, so none is
    // suggested (it was --fragment, which then failed with EMSGSIZE).
    let text = "a".repeat(65_507 - 28 + 1);
    for extra in [None, Some("--fragment")] {
        let mut args = vec!["--udp", "--echo", &text];
        args.extend(extra);
        let out = s.client(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains("largest UDP payload of 65507"), "{err}");
        assert!(!err.contains("add --fragment"), "{err}");
    }
}

#[test]
fn limits_are_refused_with_a_sentence() {
    let s = udp_server("127.0.0.1", &["--max-file", "1000", "--max-segments", "5"]);
    let out = s.client(&["--udp", "--file", "1001"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("--max-file"));
    let out = s.client(&["--udp", "--stream", "5ms", "--count", "6"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("--max-segments"));
    let out = s.client(&["--udp", "--echo", &"x".repeat(60_001)]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    s.assert_alive();
}

fn raw(s: &Server) -> UdpSocket {
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.connect(s.addr).unwrap();
    u.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    u
}

fn drain(u: &UdpSocket) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = u.recv(&mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

#[test]
fn text_datagrams_get_echoes_and_clear_refusals() {
    let s = udp_server("127.0.0.1", &[]);
    let u = raw(&s);
    u.send(b"hello\n").unwrap();
    assert_eq!(drain(&u), vec![b"hello\n".to_vec()]);
    u.send(b"5\n").unwrap();
    assert_eq!(drain(&u), vec![pattern(0, 5)]);
    u.send(b"100000\n").unwrap();
    let r = drain(&u);
    assert_eq!(r.len(), 1);
    assert!(
        r[0].starts_with(b"error: "),
        "{:?}",
        String::from_utf8_lossy(&r[0])
    );
}

#[test]
fn garbage_and_spoofed_sessions_leave_the_server_serving() {
    let s = udp_server("127.0.0.1", &[]);
    let u = raw(&s);
    let h = DgramHeader {
        session: 0x5EED,
        seq: 0,
        offset: 0,
        sent_ns: 0,
    };
    let cases: Vec<Vec<u8>> = vec![
        vec![0xAD],
        vec![0xAD, 0xE1, 9, 0x21],
        vec![
            0xAD, 0xE1, 1, 0x7F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0,
        ],
        datagram::to_vec(
            &h,
            &Body::FileData {
                data: b"spoofed".to_vec(),
            },
        ),
        datagram::to_vec(
            &h,
            &Body::FileEnd {
                datagrams: 1,
                bytes: 1,
                sent_with: None,
            },
        ),
        datagram::to_vec(
            &h,
            &Body::FileRequest {
                size: 1000,
                rate_bps: 0,
                segment: 1400,
                flags: 0,
                token: 42,
                time_ns: 0,
            },
        ),
        datagram::to_vec(
            &h,
            &Body::StreamRequest {
                interval_ns: 0,
                count: 0,
                size: 0,
                flags: 0,
                token: 0,
            },
        ),
        (0..=255u8).collect(),
        vec![0u8; 65_000],
    ];
    for c in &cases {
        u.send(c).unwrap();
        for reply in drain(&u) {
            if let Ok((_, Body::Error { message, .. })) = datagram::decode(&reply) {
                assert!(!message.is_empty());
            }
        }
        s.assert_alive();
    }
    // A forged request with a wrong token gets no file.
    u.send(&datagram::to_vec(
        &h,
        &Body::FileRequest {
            size: 1000,
            rate_bps: 0,
            segment: 1400,
            flags: 0,
            token: 7,
            time_ns: 0,
        },
    ))
    .unwrap();
    for reply in drain(&u) {
        assert!(!matches!(
            datagram::decode(&reply),
            Ok((_, Body::FileData { .. }))
        ));
    }
}

#[test]
fn an_unvalidated_address_never_gets_more_than_three_times_what_it_sent() {
    let s = udp_server("127.0.0.1", &[]);
    let u = raw(&s);
    let h = DgramHeader {
        session: 1,
        seq: 0,
        offset: 0,
        sent_ns: 0,
    };
    let probes: Vec<Vec<u8>> = vec![
        b"123456789\n".to_vec(),
        b"60000\n".to_vec(),
        b"x\n".to_vec(),
        datagram::to_vec(&h, &Body::Hello),
        datagram::to_vec(
            &h,
            &Body::FileRequest {
                size: 123456789,
                rate_bps: 0,
                segment: 65507,
                flags: 0,
                token: 0,
                time_ns: 0,
            },
        ),
        datagram::to_vec(
            &h,
            &Body::StreamRequest {
                interval_ns: 1_000_000,
                count: 10_000,
                size: 65507,
                flags: 0,
                token: 0,
            },
        ),
        vec![0xAD, 0xE1, 1, 0x7F],
        b"1\n".to_vec(),
    ];
    let mut sent = 0usize;
    let mut got = 0usize;
    for p in probes.iter().cycle().take(64) {
        u.send(p).unwrap();
        sent += p.len();
        got += drain(&u).iter().map(Vec::len).sum::<usize>();
        assert!(got <= 3 * sent, "received {got} bytes for {sent} sent");
    }
    assert!(got > 0, "the server answered nothing at all");
}

#[test]
fn two_hundred_concurrent_sessions() {
    use ardei_lab::client::udp::UdpClient;
    use ardei_lab::net::udp::UdpOpts;
    // Every session comes from one address: lift the per-client cap.
    let s = udp_server("127.0.0.1", &["--max-per-client", "1024"]);
    let addr = s.addr;
    let handles: Vec<_> = (0..200u64)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = UdpClient::connect(addr, &UdpOpts::default(), None).unwrap();
                c.file(20_000 + i, None, 200_000_000, Some(1400), None)
                    .unwrap()
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let r = h.join().unwrap();
        let u = r.udp.unwrap();
        assert_eq!(r.bytes, 20_000 + i as u64);
        assert_eq!(u.lost, 0);
        assert_eq!(u.datagrams + u.lost, u.sent);
    }
}

#[test]
fn no_server_is_said_plainly() {
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = u.local_addr().unwrap().to_string();
    drop(u);
    let out = client(&addr, &["--udp", "--file", "1000"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("ardei-lab server --udp"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn udp_prompt_through_a_pipe() {
    let s = udp_server("127.0.0.1", &[]);
    let out = prompt(
        &["--udp", &s.target(), "--count", "5"],
        b"hi\n3000\ns\n2ms\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let t = stdout(&out);
    assert!(t.contains("echo   udp"), "{t}");
    assert!(
        t.contains("(3000 bytes) received, every byte verified"),
        "{t}"
    );
    assert!(t.contains("5 of 5 segments"), "{t}");
}

#[test]
fn udp_server_stops_cleanly_on_sigterm() {
    let s = udp_server("127.0.0.1", &[]);
    s.assert_alive_udp();
    assert_eq!(s.signal_and_wait(libc::SIGTERM).code(), Some(0));
}

#[test]
fn header_is_28_bytes() {
    assert_eq!(DGRAM_HEADER, 28);
}

#[test]
fn server_udp_ipv6_from_a_hosts_file() {
    if !has_ipv6() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts.txt");
    std::fs::write(&hosts, "# v4 first, then v6\n127.0.0.1 0\n[::1]:0\n").unwrap();
    let mut cmd = Command::new(bin());
    cmd.args([
        "server",
        "--udp",
        "--ipv6",
        "--hosts",
        hosts.to_str().unwrap(),
    ]);
    let s = Server::from_command(cmd);
    assert!(s.addr.is_ipv6(), "{}", s.addr);
    s.assert_alive();
}

#[test]
fn an_unanswered_echo_counts_as_lost_never_a_hang() {
    let (addr, h) = half_deaf_server();
    let out = client(
        &addr.to_string(),
        &[
            "--udp",
            "--echo",
            "anyone?",
            "--count",
            "6",
            "--recv-timeout",
            "100ms",
            "--json",
        ],
    );
    h.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = parse_json(&out.stdout).unwrap();
    assert_eq!(v["replies"], 3);
    assert_eq!(v["lost"], 3);
    assert_eq!(v["latency_us"]["count"], 3);
    adds_up(&v);
}

/// Runs a client for at most 30 s with its address space capped at `cap`
/// bytes: memory sized from what was asked rather than from what the
/// server accepted and sent fails there at once.
fn capped_client(target: &str, args: &[&str], cap: u64) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(bin());
    cmd.arg("client")
        .arg(target)
        .args(args)
        .env("MALLOC_ARENA_MAX", "2");
    // SAFETY: between fork and exec the child only calls setrlimit, which
    // is async-signal-safe, and reads the errno it sets.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: cap,
                rlim_max: cap,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    output_within(&mut cmd, Duration::from_secs(30))
}

/// The address space a client may use in the tests below: room for the
/// binary, its threads and its buffers, far from the hundreds of MiB a
/// bitmap sized from a huge request would take.
const CLIENT_CAP: u64 = 256 << 20;

#[test]
fn huge_requests_end_with_the_refusal_and_allocate_nothing() {
    let s = udp_server("127.0.0.1", &["--max-file", "100000"]);
    // Within the cap, an ordinary run succeeds.
    let out = capped_client(
        &s.target(),
        &["--udp", "--file", "100000", "--segment-size", "29"],
        CLIENT_CAP,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for (args, limit) in [
        (
            &["--udp", "--file", "1T", "--segment-size", "29"][..],
            "--max-file",
        ),
        (
            &["--udp", "--stream", "5ms", "--count", "4294967295"][..],
            "--max-segments",
        ),
    ] {
        let started = std::time::Instant::now();
        let out = capped_client(&s.target(), args, CLIENT_CAP);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(
            err.contains("the server refused") && err.contains(limit),
            "{args:?}: {err}"
        );
        assert!(!err.contains("memory allocation"), "{args:?}: {err}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} took {:?}",
            started.elapsed()
        );
    }
    s.assert_alive();
}

#[test]
fn print_file_writes_exactly_the_file_in_order() {
    let s = udp_server("127.0.0.1", &[]);
    for extra in [&[][..], &["--segment-size", "500"][..], &["--no-gso"][..]] {
        let mut args = vec!["--udp", "--file", "100000", "--print-file"];
        args.extend_from_slice(extra);
        let out = output_within(
            Command::new(bin())
                .arg("client")
                .arg(s.target())
                .args(&args),
            Duration::from_secs(30),
        );
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert_eq!(out.stdout.len(), 100_000, "{args:?}");
        assert!(out.stdout == pattern(0, 100_000), "{args:?}: not the file");
    }
}

#[test]
fn print_file_that_cannot_be_whole_says_how_much_stdout_holds() {
    let s = udp_server("127.0.0.1", &[]);
    let size = 30u64 << 20;
    let mut args = vec!["--udp"];
    args.extend(FORCED_LOSS);
    args.push("--print-file");
    let out = output_within(
        Command::new(bin()).arg("client").arg(s.target()).args(args),
        Duration::from_secs(60),
    );
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(4),
        "no loss with a tiny buffer? {err}"
    );
    let line = err
        .lines()
        .find(|l| l.contains("stdout holds only the first"))
        .unwrap_or_else(|| panic!("no reason given: {err}"));
    let k: u64 = line
        .split("stdout holds only the first ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte count in {line:?}"));
    assert!(
        line.contains(&format!("of the file's {size} bytes")),
        "{line}"
    );
    assert!(k < size, "{line}");
    assert_eq!(out.stdout.len() as u64, k, "{line}");
    assert!(
        out.stdout == pattern(0, k as usize),
        "stdout is not the file's first {k} bytes"
    );
}

/// `-i` prices each file byte with its share of the datagram's headers:
/// 200-byte datagrams carry 172 file bytes (after the lab's 28-byte
/// header) and are 242 bytes on lo (14 + 20 + 8 + 200), so every interval's
/// wire rate is 242/172 of its goodput.
#[test]
fn interval_wire_rate_prices_file_bytes_with_their_headers() {
    let s = Server::v4(&["--udp"]);
    let out = s.client(&[
        "--udp",
        "--file",
        "2M",
        "--rate",
        "40M",
        "--segment-size",
        "200",
        "-i",
        "100ms",
        "--json-stream",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut intervals = 0;
    for line in text.lines() {
        let v: serde_json::Value = parse_json(line).unwrap();
        let Some(i) = v.get("interval") else { continue };
        let (good, wire) = (
            i["goodput_bps"].as_f64().unwrap(),
            i["wire_bps"].as_f64().unwrap(),
        );
        if good > 0.0 {
            intervals += 1;
            let ratio = wire / good;
            assert!((ratio - 242.0 / 172.0).abs() < 1e-6, "{ratio}: {line}");
        }
    }
    assert!(intervals >= 2, "{text}");
}
