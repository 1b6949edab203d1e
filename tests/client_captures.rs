//! The client's instruments from the command line: `--pcap`, `--capture`,
//! the capture column of the report, `--hgrm` and `--plot`; every capture
//! checked by tshark with checksum validation on.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

fn tshark_ok() -> bool {
    match Command::new("tshark").arg("-v").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            assert!(std::env::var_os("CI").is_none(), "CI must have tshark");
            eprintln!("note: tshark missing: capture checks skipped");
            false
        }
    }
}

/// Whether the checks of a live capture can run: tshark is there and the
/// tests run as root (CI must have both).
fn live_checks_ok() -> bool {
    if !tshark_ok() {
        return false;
    }
    if !is_root() {
        assert!(std::env::var_os("CI").is_none(), "CI must run as root");
        eprintln!("note: not root: live capture skipped");
        return false;
    }
    true
}

/// tshark's frame count and worst expert severity for a file.
fn tshark(path: &Path) -> (u64, String) {
    let out = Command::new("tshark")
        .args([
            "-r",
            path.to_str().unwrap(),
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "_ws.expert.severity",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tshark failed on {}: {}",
        path.display(),
        stderr(&out)
    );
    let text = stdout(&out);
    let frames = text.lines().count() as u64;
    let mut worst = String::new();
    for l in text.lines() {
        for sev in l.split('\t').nth(1).unwrap_or("").split(',') {
            // epan/proto.h: PI_WARN 0x00600000, PI_ERROR 0x00800000.
            if sev == "8388608" || (sev == "6291456" && worst.is_empty()) {
                worst = sev.to_string();
            }
        }
    }
    (frames, worst)
}

/// (TCP payload length, comment) of every frame with data.
fn data_frames(path: &Path) -> Vec<(u64, String)> {
    let out = Command::new("tshark")
        .args([
            "-r",
            path.to_str().unwrap(),
            "-Y",
            "tcp.len > 0",
            "-T",
            "fields",
        ])
        .args(["-e", "tcp.len", "-e", "frame.comment"])
        .output()
        .unwrap();
    stdout(&out)
        .lines()
        .map(|l| {
            let (len, comment) = l.split_once('\t').unwrap_or((l, ""));
            (len.parse().unwrap(), comment.to_string())
        })
        .collect()
}

fn check_model(path: &Path) {
    let (frames, worst) = tshark(path);
    assert!(
        worst.is_empty(),
        "{}: expert severity {worst}",
        path.display()
    );
    let s = ardei_lab::pcap::summarize_path(path).unwrap();
    assert_eq!(s.frames, frames, "{}", path.display());
    assert_eq!(s.checksums.bad, 0, "{}", path.display());
}

#[test]
fn model_and_live_captures_of_every_mode_pass_tshark() {
    if !tshark_ok() {
        return;
    }
    let live = is_root();
    if !live {
        assert!(std::env::var_os("CI").is_none(), "CI must run as root");
        eprintln!("note: not root: live captures skipped");
    }
    let dir = tempfile::tempdir().unwrap();
    for udp in [false, true] {
        for host in ["127.0.0.1", "[::1]"] {
            if host.starts_with('[') && !has_ipv6() {
                continue;
            }
            let mut sargs = vec![];
            if udp {
                sargs.push("--udp");
            }
            let s = Server::start(host, &sargs);
            for (mode, action) in [
                ("echo", vec!["--echo", "hello", "--count", "5"]),
                ("file", vec!["--file", "300000"]),
                ("stream", vec!["--stream", "1ms", "--count", "20"]),
            ] {
                let name = format!(
                    "{}{}-{mode}",
                    if udp { "udp" } else { "tcp" },
                    if host.starts_with('[') { 6 } else { 4 }
                );
                let model = dir.path().join(format!("{name}.pcapng"));
                let mut args: Vec<&str> = action.clone();
                if udp {
                    args.push("--udp");
                }
                let m = model.to_str().unwrap().to_string();
                args.extend(["--pcap", &m]);
                if live {
                    args.push("--capture");
                }
                let (out, v) = s.client_json(&args);
                assert!(out.status.success(), "{name}: {}", stderr(&out));
                check_model(&model);
                let c = &v["captures"];
                assert_eq!(c["model"]["path"], m.as_str());
                if live {
                    let lp = dir.path().join(format!("{name}-live.pcapng"));
                    assert_eq!(c["live"]["path"], lp.to_str().unwrap());
                    let (frames, _) = tshark(&lp);
                    let s = ardei_lab::pcap::summarize_path(&lp).unwrap();
                    assert_eq!(s.frames, frames, "{name}");
                    assert_eq!(v["overhead"]["capture"]["frames"], frames, "{name}: {v}");
                }
            }
        }
    }
}

#[test]
fn classic_pcap_by_name() {
    if !tshark_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("echo.pcap");
    let s = Server::v4(&[]);
    let out = s.client(&["--echo", "x", "--pcap", model.to_str().unwrap()]);
    assert!(out.status.success());
    let magic = std::fs::read(&model).unwrap();
    assert_eq!(
        &magic[..4],
        &[0x4d, 0x3c, 0xb2, 0xa1],
        "nanosecond classic pcap"
    );
    check_model(&model);
}

#[test]
fn hgrm_and_plot_files() {
    let dir = tempfile::tempdir().unwrap();
    let hgrm = dir.path().join("rtt.hgrm");
    let svg = dir.path().join("rtt.svg");
    let gsvg = dir.path().join("goodput.svg");
    let s = Server::v4(&[]);
    let out = s.client(&[
        "--echo",
        "x",
        "--count",
        "200",
        "--hgrm",
        hgrm.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let h = std::fs::read_to_string(&hgrm).unwrap();
    assert!(
        h.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"),
        "{h}"
    );
    assert!(h.contains("#[Max     ="), "{h}");
    assert!(h.contains("Total count    =          200"), "{h}");
    let p = std::fs::read_to_string(&svg).unwrap();
    assert!(p.contains("<svg") && p.contains("round trip"), "{p}");
    let out = s.client(&["--file", "20M", "--plot", gsvg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read_to_string(&gsvg).unwrap().contains("<svg"));
    // A histogram of a file is refused before anything runs.
    let out = s.client(&["--file", "1", "--hgrm", hgrm.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

/// Sends `sig` to the client `child` and checks that it ends, within 10 s,
/// by that signal (its handler finished the captures first).
fn ends_by_signal(child: &mut std::process::Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
    let status = wait_timeout(child, std::time::Duration::from_secs(10)).expect("client exited");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(sig),
        "{status:?}"
    );
}

/// Runs a client with a model capture (and a live one as root) under
/// `dir`, interrupts it mid-transfer, and returns the frames tshark reads
/// in each file (tshark fails on a file cut short).
fn interrupted(s: &Server, dir: &Path, args: &[&str]) -> (u64, Option<u64>) {
    let live = is_root();
    let model = dir.join("cut.pcapng");
    let mut cmd = Command::new(bin());
    cmd.arg("client")
        .arg(s.target())
        .args(args)
        .args(["--pcap", model.to_str().unwrap()]);
    if live {
        cmd.arg("--capture");
    }
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(800));
    ends_by_signal(&mut child, libc::SIGINT);
    let (frames, _) = tshark(&model);
    let live_frames = live.then(|| tshark(&dir.join("cut-live.pcapng")).0);
    (frames, live_frames)
}

#[test]
fn a_client_interrupted_mid_transfer_leaves_readable_captures() {
    if !tshark_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::v4(&["--max-file", "100G"]);
    let (frames, live) = interrupted(&s, dir.path(), &["--file", "50G"]);
    // The model file was closed on the signal: tshark reads every frame.
    assert!(frames >= 3, "the handshake at least: {frames}");
    if let Some(live) = live {
        assert!(live > 0);
    }
}

/// A paced UDP file never pauses long enough for the live capture to
/// write what it buffers as it goes: the signal must finish it, or the
/// file holds no frame at all.
#[test]
fn an_interrupted_udp_client_keeps_what_it_captured_live() {
    if !tshark_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::v4(&["--udp"]);
    let args = ["--udp", "--file", "100M", "--rate", "50M"];
    let (frames, live) = interrupted(&s, dir.path(), &args);
    // 800 ms at 50 Mbit/s in 64 KB datagrams: some 70 of them.
    assert!(frames >= 20, "model: {frames}");
    if let Some(live) = live {
        assert!(live >= 20, "live: {live} frames, model {frames}");
    }
}

/// The prompt closes its connection's captures on a signal too: before,
/// a stream interrupted in the prompt left an empty model capture.
#[test]
fn a_prompt_interrupted_mid_stream_leaves_readable_captures() {
    if !tshark_ok() {
        return;
    }
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("prompt.pcapng");
    let s = Server::v4(&[]);
    let mut child = Command::new(bin())
        .args(["client", &s.target(), "--pcap", model.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A stream of 100 segments, one every 100 ms: 10 s, ended by SIGTERM after
    // 1.5 s (SIGINT would stop only the stream: the prompt goes on).
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"s\n100\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    ends_by_signal(&mut child, libc::SIGTERM);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let said = format!("{} is closed", model.display());
    assert!(stderr(&out).contains(&said), "{}", stderr(&out));
    // Handshake, request, start and some ten segments.
    let (frames, _) = tshark(&model);
    assert!(frames >= 10, "{frames} frames");
}

/// An interrupted client's live capture holds the flow up to the signal,
/// also what the writer still had in memory (a paced file keeps the ring
/// busy, so nothing is written at a pause, and without `--pcap`).
#[test]
fn an_interrupted_live_capture_keeps_the_frames_it_had_buffered() {
    if !live_checks_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = Server::v4(&[]);
    let mut child = Command::new(bin())
        .current_dir(dir.path())
        .args(["client", &s.target(), "--file", "100M", "--rate", "10M"])
        .arg("--capture")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(600));
    let signalled = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    ends_by_signal(&mut child, libc::SIGINT);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("the live capture is finished"), "{err}");
    let files: Vec<_> = std::fs::read_dir(dir.path().join("captures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let out = Command::new("tshark")
        .args(["-r", files[0].to_str().unwrap(), "-T", "fields"])
        .args(["-e", "frame.time_epoch", "-e", "tcp.flags.syn"])
        .output()
        .unwrap();
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 20, "{} frames: {text}", lines.len());
    assert!(lines[0].ends_with("\t1"), "the SYN first: {}", lines[0]);
    // The server writes a slice every 5 ms until the signal: the last
    // frame is from its last few milliseconds, not from the writer's last
    // flush long before.
    let last: f64 = lines[lines.len() - 1]
        .split('\t')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        last > signalled - 0.05,
        "the capture ends {:.3} s before the signal",
        signalled - last
    );
    let summary = ardei_lab::pcap::summarize_path(&files[0]).unwrap();
    assert_eq!(summary.frames, lines.len() as u64);
}

/// A refused request: the model capture holds the server's Error reply, as
/// the server's own model and the live capture do, so its sequence numbers
/// go on from there.
#[test]
fn a_refusal_is_in_the_client_model_as_on_the_wire() {
    if !tshark_ok() {
        return;
    }
    let live = is_root();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("refused.pcapng");
    let server_model = dir.path().join("server.pcapng");
    let s = Server::v4(&[
        "--max-file",
        "1000",
        "--pcap",
        server_model.to_str().unwrap(),
    ]);
    let mut args = vec!["--file", "5000", "--pcap", model.to_str().unwrap()];
    if live {
        args.push("--capture");
    }
    let out = s.client(&args);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    check_model(&model);
    let got = data_frames(&model);
    assert_eq!(got.len(), 2, "request and refusal: {got:?}");
    assert!(
        got[1].1.starts_with("error: a file of 5000 bytes is over"),
        "{got:?}"
    );
    if live {
        let lens: Vec<u64> = data_frames(&dir.path().join("refused-live.pcapng"))
            .into_iter()
            .map(|(l, _)| l)
            .collect();
        assert_eq!(lens, vec![got[0].0, got[1].0], "model {got:?}");
    }
    // The server's model of the same connection has the same data frames.
    s.signal_and_wait(libc::SIGTERM);
    let theirs: Vec<u64> = data_frames(&server_model)
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    assert_eq!(theirs, vec![got[0].0, got[1].0], "model {got:?}");
}

/// A TCP stream: the client's model has the server's writes as the server
/// made them (StreamStart with segment 0, the last segment with
/// StreamEnd), as the server's own model and the live capture have them.
#[test]
fn a_stream_in_the_client_model_has_the_servers_writes() {
    if !tshark_ok() {
        return;
    }
    let live = is_root();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("stream.pcapng");
    let server_model = dir.path().join("server.pcapng");
    let s = Server::v4(&["--pcap", server_model.to_str().unwrap()]);
    let mut args = vec!["--stream", "5ms", "--count", "6", "--pcap"];
    args.push(model.to_str().unwrap());
    if live {
        args.push("--capture");
    }
    let out = s.client(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    check_model(&model);
    let ours = data_frames(&model);
    let lens: Vec<u64> = ours.iter().map(|(l, _)| *l).collect();
    // The request, then six writes: 32 + 64, four of 64, 64 + 12.
    assert_eq!(lens, vec![24, 96, 64, 64, 64, 64, 76], "{ours:?}");
    assert_eq!(ours[1].1, "stream start; stream seq 0");
    assert_eq!(ours[6].1, "stream seq 5; stream end");
    if live {
        let wire: u64 = data_frames(&dir.path().join("stream-live.pcapng"))
            .iter()
            .map(|(l, _)| l)
            .sum();
        assert_eq!(wire, lens.iter().sum::<u64>());
    }
    s.signal_and_wait(libc::SIGTERM);
    let theirs: Vec<(u64, String)> = data_frames(&server_model)
        .into_iter()
        .map(|(l, c)| (l, c.replace(" 6 x 64 bytes every 5000000 ns", "")))
        .collect();
    assert_eq!(theirs, ours);
}

/// A UDP file of small datagrams sent with GSO: the model capture has one
/// frame per datagram; a live capture on lo sees the GSO sends as
/// super-packets (the kernel cuts them on delivery), and the report says so
/// in a line of its own rather than changing any count.
#[test]
fn a_gso_file_is_one_frame_per_datagram_in_the_model_and_explained_live() {
    if !tshark_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("gso.pcapng");
    let s = Server::start("127.0.0.1", &["--udp"]);
    let mut args = vec![
        "--udp",
        "--file",
        "100000",
        "--segment-size",
        "64",
        "--pcap",
        pcap.to_str().unwrap(),
    ];
    let live = is_root();
    if live {
        args.push("--capture");
    } else {
        assert!(std::env::var_os("CI").is_none(), "CI must run as root");
        eprintln!("note: not root: live capture skipped");
    }
    let (out, v) = s.client_json(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["send"], "gso", "{v}");
    assert_eq!(v["lost"], 0, "{v}");
    let o = &v["overhead"];
    let datagrams = v["datagrams"].as_u64().unwrap();
    check_model(&pcap);
    let model = ardei_lab::pcap::summarize_path(&pcap).unwrap();
    // Every data datagram and every control one, each its own frame.
    assert_eq!(model.frames, o["model"]["frames"].as_u64().unwrap(), "{o}");
    assert!(model.frames > datagrams, "{o}");
    if live {
        let frames = o["capture"]["frames"].as_u64().unwrap();
        assert!(frames < datagrams / 8, "{frames} live frames: {o}");
        assert!(
            o["notes"].to_string().contains("super-packets"),
            "no note for the super-packets: {o}"
        );
        // The payload is all there, in fewer frames.
        let live_payload = o["capture"]["layers"]["payload"].as_u64().unwrap();
        let model_payload = o["model"]["layers"]["payload"].as_u64().unwrap();
        assert!(live_payload >= model_payload, "{o}");
    }
}

/// The model's handshake is spread over the round trip the kernel measured
/// in it, so Wireshark's initial RTT (SYN to the third ACK) is that round
/// trip, not zero, and the frames' times never go backwards.
#[test]
fn the_model_handshake_spans_the_measured_round_trip() {
    if !tshark_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("hs.pcapng");
    let s = Server::v4(&[]);
    let out = s.client(&["--echo", "hi", "--pcap", model.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = Command::new("tshark")
        .args(["-r", model.to_str().unwrap(), "-T", "fields"])
        .args(["-e", "frame.time_epoch", "-e", "tcp.analysis.initial_rtt"])
        .output()
        .unwrap();
    let text = stdout(&out);
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert!(rows.len() >= 5, "{text}");
    let times: Vec<f64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{text}");
    let irtt: f64 = rows[2][1].parse().unwrap_or_else(|_| panic!("{text}"));
    assert!(irtt > 0.0 && irtt < 0.5, "initial RTT {irtt}: {text}");
    assert!((irtt - (times[2] - times[0])).abs() < 2e-6, "{text}");
}

/// A TCP client with a live capture closes its connection before it stops
/// the capture, so the capture holds the teardown as the model does: a FIN
/// from each side, the client's first, and the last ACK.
#[test]
fn the_live_capture_holds_the_teardown() {
    if !live_checks_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("fin.pcapng");
    let s = Server::v4(&[]);
    let out = s.client(&[
        "--echo",
        "hi",
        "--pcap",
        model.to_str().unwrap(),
        "--capture",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let fins = |path: &Path| -> (Vec<String>, String) {
        let out = Command::new("tshark")
            .args(["-r", path.to_str().unwrap(), "-T", "fields"])
            .args([
                "-e",
                "tcp.srcport",
                "-e",
                "tcp.flags.fin",
                "-e",
                "tcp.flags.ack",
            ])
            .output()
            .unwrap();
        let text = stdout(&out);
        let fins = text
            .lines()
            .filter(|l| l.split('\t').nth(1) == Some("1"))
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect();
        (fins, text)
    };
    let (model_fins, _) = fins(&model);
    let (live_fins, text) = fins(&dir.path().join("fin-live.pcapng"));
    assert_eq!(live_fins.len(), 2, "{text}");
    assert_eq!(
        live_fins, model_fins,
        "the same sides, in the same order: {text}"
    );
    let last = text.lines().last().unwrap();
    assert!(last.ends_with("\t0\t1"), "the last frame is an ACK: {text}");
}

/// Over IPv6 loopback (MTU 65536) a UDP file's default datagrams carry
/// 65488 bytes each and leave whole: the model capture has them as single
/// 65550-byte frames, no fragment header, as the kernel sends them.
#[test]
fn ipv6_loopback_datagrams_are_whole_in_the_model() {
    if !tshark_ok() || !has_ipv6() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("v6.pcapng");
    let s = Server::start("[::1]", &["--udp"]);
    let out = s.client(&[
        "--udp",
        "--file",
        "200000",
        "--pcap",
        model.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = Command::new("tshark")
        .args(["-r", model.to_str().unwrap(), "-T", "fields"])
        .args(["-e", "frame.len", "-e", "ipv6.fraghdr.offset"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.lines()
            .all(|l| l.split('\t').nth(1).unwrap_or("").is_empty()),
        "a fragment in the model: {text}"
    );
    let full = text.lines().filter(|l| l.starts_with("65550\t")).count();
    assert_eq!(
        full, 3,
        "200000 bytes: three full datagrams and a part: {text}"
    );
}
