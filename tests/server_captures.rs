//! A server's `--pcap` and `--capture` files, checked by tshark and by the
//! lab's own reader.
//!
//! A real server process serves real clients (echo, file, stream, and a
//! text line over TCP), then gets SIGINT. Both files must then open in
//! tshark with checksum validation on: no malformed frame in either, no
//! expert warning or error on the model capture, and the same frame and
//! byte totals as `pcap summary`. The model's checksums are all good; the
//! live capture holds only the server's own flows.
//!
//! `--capture` needs root or CAP_NET_RAW: without it the live parts are
//! skipped with a note, unless `CI` is set. tshark likewise.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ardei_lab::pcap::capture::CaptureError;
use ardei_lab::pcap::{Summary, summarize_path};
use ardei_lab::proto::{Message, codec};
use common::{Server, output_within, wait_timeout};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether the live capture can be tested here; a note when not.
fn can_capture() -> bool {
    if is_root() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set: the live capture must be tested as root"
    );
    eprintln!("note: not root; the --capture parts are skipped");
    false
}

fn has_tshark() -> bool {
    let found = Command::new("tshark").arg("--version").output().is_ok();
    if !found {
        assert!(std::env::var_os("CI").is_none(), "tshark is needed on CI");
        eprintln!("note: tshark not found; its checks are skipped");
    }
    found
}

/// What tshark makes of a capture, with checksum validation on.
#[derive(Debug, Default)]
struct Tshark {
    frames: u64,
    wire_bytes: u64,
    cap_bytes: u64,
    comments: Vec<String>,
    /// Expert items at warning or above: "frame N: message".
    problems: Vec<String>,
    malformed: Vec<u64>,
}

/// Expert severity "warning" (epan/proto.h).
const PI_WARN: u64 = 0x0060_0000;

fn severity(s: &str) -> u64 {
    match s {
        "Chat" => 0x0020_0000,
        "Note" => 0x0040_0000,
        "Warning" | "Warn" => 0x0060_0000,
        "Error" => 0x0080_0000,
        other => other
            .strip_prefix("0x")
            .map(|h| u64::from_str_radix(h, 16))
            .unwrap_or_else(|| other.parse())
            .unwrap_or_else(|_| panic!("unknown expert severity {other:?}")),
    }
}

fn tshark(path: &Path) -> Tshark {
    let out = output_within(
        Command::new("tshark")
            .arg("-r")
            .arg(path)
            .args(["-o", "ip.check_checksum:TRUE"])
            .args(["-o", "tcp.check_checksum:TRUE"])
            .args(["-o", "udp.check_checksum:TRUE"])
            .args(["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a"])
            .args(["-E", "aggregator=\u{1f}"])
            .args([
                "-e",
                "frame.number",
                "-e",
                "frame.len",
                "-e",
                "frame.cap_len",
            ])
            .args(["-e", "frame.comment", "-e", "_ws.expert.severity"])
            .args(["-e", "_ws.expert.message", "-e", "_ws.malformed"]),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "tshark failed on {}: {}",
        path.display(),
        common::stderr(&out)
    );
    let mut t = Tshark::default();
    for line in common::stdout(&out).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 7, "unexpected tshark line {line:?}");
        t.frames += 1;
        t.wire_bytes += f[1].parse::<u64>().unwrap();
        t.cap_bytes += f[2].parse::<u64>().unwrap();
        t.comments.push(f[3].to_string());
        let messages: Vec<&str> = f[5].split('\u{1f}').collect();
        for (i, sev) in f[4].split('\u{1f}').filter(|s| !s.is_empty()).enumerate() {
            if severity(sev) >= PI_WARN {
                let what = messages.get(i).copied().unwrap_or("?");
                t.problems.push(format!("frame {}: {what}", f[0]));
            }
        }
        if !f[6].is_empty() {
            t.malformed.push(f[0].parse().unwrap());
        }
    }
    t
}

/// The checks both files pass: `pcap summary` reads it whole, and tshark
/// finds the same frames and bytes and no malformed frame.
fn check_readable(path: &Path) -> (Summary, Option<Tshark>) {
    let s = summarize_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(s.frames > 0, "{}: no frames", path.display());
    assert_eq!(s.malformed_records, 0, "{}", path.display());
    if !has_tshark() {
        return (s, None);
    }
    let t = tshark(path);
    assert!(
        t.malformed.is_empty(),
        "{}: {:?}",
        path.display(),
        t.malformed
    );
    assert_eq!(t.frames, s.frames, "{}: frames", path.display());
    assert_eq!(t.wire_bytes, s.original_bytes, "{}: wire", path.display());
    assert_eq!(t.cap_bytes, s.bytes, "{}: captured", path.display());
    (s, Some(t))
}

/// The model capture: readable, every checksum good, no expert warning.
fn check_model(path: &Path) -> (Summary, Option<Tshark>) {
    let (s, t) = check_readable(path);
    assert_eq!(s.checksums.bad, 0, "{:?}", s.checksums);
    assert!(s.checksums.valid > 0, "nothing verified: {:?}", s.checksums);
    if let Some(t) = &t {
        assert!(t.problems.is_empty(), "tshark: {:#?}", t.problems);
    }
    (s, t)
}

/// The live capture: readable, and only flows to or from the server.
fn check_live(path: &Path, server: std::net::SocketAddr) -> Summary {
    let (s, _) = check_readable(path);
    for f in &s.flows {
        assert!(
            f.src == server.ip() && f.dst == server.ip(),
            "a stranger's flow: {f:?}"
        );
        assert!(
            f.src_port == Some(server.port()) || f.dst_port == Some(server.port()),
            "a flow not to the server's port: {f:?}"
        );
    }
    s
}

/// A temp dir and a server with `--pcap DIR/NAME` (and `--capture` when
/// allowed).
fn start(extra: &[&str], name: &str, capture: bool) -> (tempfile::TempDir, PathBuf, Server) {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join(name);
    let model_arg = model.to_str().unwrap().to_string();
    let mut args = extra.to_vec();
    args.extend(["--pcap", &model_arg]);
    if capture {
        args.push("--capture");
    }
    let server = Server::v4(&args);
    (dir, model, server)
}

/// SIGINT, a clean exit, and the log to the end.
fn interrupt(mut server: Server) -> Vec<String> {
    // SAFETY: kill has no memory preconditions; the pid is our child's.
    unsafe {
        libc::kill(server.child.id() as i32, libc::SIGINT);
    }
    let status = wait_timeout(&mut server.child, Duration::from_secs(20)).expect("server exits");
    assert!(status.success(), "{status}");
    let mut log = Vec::new();
    while let Ok(line) = server.log.recv_timeout(Duration::from_secs(5)) {
        log.push(line);
    }
    log
}

/// The frame count the server logged for its model capture.
fn logged_model_frames(log: &[String]) -> u64 {
    let line = log
        .iter()
        .find(|l| l.contains("model capture: ") && l.contains(" frames: "))
        .unwrap_or_else(|| panic!("no model capture line in {log:#?}"));
    let after = line.split("model capture: ").nth(1).unwrap();
    after.split_whitespace().next().unwrap().parse().unwrap()
}

fn ok(out: &std::process::Output) {
    assert!(out.status.success(), "client: {}", common::stderr(out));
}

#[test]
fn tcp_server_writes_both_captures() {
    let capture = can_capture();
    let (_dir, model, server) = start(&[], "s.pcapng", capture);
    ok(&server.client(&["--echo", "hello", "--timestamps"]));
    ok(&server.client(&["--file", "100000"]));
    ok(&server.client(&["--stream", "1ms", "--count", "20"]));
    let mut raw = server.raw();
    raw.write_all(b"plain text\n").unwrap();
    assert_eq!(common::read_n(&mut raw, 11), b"plain text\n");
    drop(raw);
    std::thread::sleep(Duration::from_millis(100));
    let addr = server.addr;
    let log = interrupt(server);

    let (s, t) = check_model(&model);
    assert_eq!(logged_model_frames(&log), s.frames);
    // Four connections, each with its handshake and both FINs.
    assert_eq!(s.flows.iter().map(|f| f.syn).sum::<u64>(), 8);
    assert_eq!(s.flows.iter().map(|f| f.fin).sum::<u64>(), 8);
    if let Some(t) = t {
        let has = |c: &str| t.comments.iter().any(|x| x == c);
        let request = "transfer request download 100000";
        // The echo is stamped (--timestamps), and its comments say so.
        for c in ["echo 0 request, stamped", "echo 0 reply, stamped", request] {
            assert!(has(c), "no comment {c:?}");
        }
        assert!(has("file sent; results 100000") && has("text line") && has("text echo"));
        assert!(t.comments.iter().any(|c| c.starts_with("stream seq 19")));
        assert!(t.comments.iter().any(|c| c.starts_with("file bytes 0-")));
    }
    if capture {
        let live = ardei_lab::instruments::live_path_beside(&model);
        let l = check_live(&live, addr);
        assert_eq!(l.flows.iter().map(|f| f.syn).sum::<u64>(), 8);
        assert!(log.iter().any(|x| x.contains("live capture on lo: ")));
    }
}

#[test]
fn udp_server_writes_both_captures() {
    let capture = can_capture();
    let (_dir, model, server) = start(&["--udp"], "u.pcap", capture);
    ok(&server.client(&["--udp", "--echo", "hello"]));
    ok(&server.client(&["--udp", "--file", "100000"]));
    ok(&server.client(&["--udp", "--stream", "1ms", "--count", "20"]));
    let addr = server.addr;
    let log = interrupt(server);

    let (s, _) = check_model(&model);
    assert_eq!(s.format, "pcap");
    assert_eq!(logged_model_frames(&log), s.frames);
    assert!(s.checksums_by_protocol.udp.valid > 0);
    // Hello, Cookie, EchoRequest, EchoReply, then a file and a stream.
    assert!(s.payload_bytes > 100_000, "{}", s.payload_bytes);
    if capture {
        let live = ardei_lab::instruments::live_path_beside(&model);
        let l = check_live(&live, addr);
        // Every datagram that crossed lo is in the model, and no other.
        assert_eq!(l.frames, s.frames);
        assert_eq!(l.payload_bytes, s.payload_bytes);
    }
}

#[test]
fn sigint_in_the_middle_of_a_file_leaves_whole_files() {
    let capture = can_capture();
    let (_dir, model, server) = start(&[], "cut.pcapng", capture);
    let mut raw = server.raw();
    let request = codec::to_vec(&Message::FileRequest {
        size: 100_000_000,
        rate_bps: 0,
    })
    .unwrap();
    raw.write_all(&request).unwrap();
    // Take a few megabytes, then stop reading: the server is mid-file.
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0;
    while got < 4_000_000 {
        got += raw.read(&mut buf).unwrap();
    }
    let log = interrupt(server);
    drop(raw);
    let (s, t) = check_model(&model);
    assert_eq!(logged_model_frames(&log), s.frames);
    if let Some(t) = t {
        assert!(
            t.comments.iter().any(|c| c.contains("cut short")),
            "the cut file is not recorded"
        );
    }
    if capture {
        let live = ardei_lab::instruments::live_path_beside(&model);
        let l = check_readable(&live).0;
        assert!(l.payload_bytes >= got as u64);
    }
}

#[test]
fn capture_without_the_right_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd;
    if is_root() {
        if Command::new("setpriv").arg("--version").output().is_err() {
            assert!(std::env::var_os("CI").is_none(), "setpriv is needed on CI");
            eprintln!("note: no setpriv; the refusal is not tested");
            return;
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(common::bin());
    } else {
        cmd = Command::new(common::bin());
    }
    let model = dir.path().join("x.pcapng");
    cmd.current_dir(dir.path())
        .args(["server", "--bind", "127.0.0.1:0", "--capture", "--pcap"])
        .arg(&model);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let Some(status) = wait_timeout(&mut child, Duration::from_secs(10)) else {
        let _ = child.kill();
        let _ = child.wait();
        assert!(!is_root(), "a server as nobody started a live capture");
        eprintln!("note: this process may capture (CAP_NET_RAW); refusal not tested");
        return;
    };
    assert!(!status.success());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.contains(&CaptureError::PermissionDenied.to_string()),
        "{err}"
    );
    assert!(!err.contains("listening on"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
