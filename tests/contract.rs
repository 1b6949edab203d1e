//! The command-line contract (DESIGN §1) at its edges: sizes and durations
//! as the contract spells them, usage errors with status 2, exactly one
//! JSON object on stdout whatever happens, the prompt's words, where
//! `--pcap` writes, and a TCP file at the pace `--rate` asks for.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ardei_lab::proto::{Message, codec};
use common::{Server, bin, client, parse_json, stderr, stdout};

/// Runs `ardei-lab ARGS…` with no stdin, for at most 20 s.
fn run(args: &[&str]) -> std::process::Output {
    common::output_within(
        Command::new(bin()).args(args).stdin(Stdio::null()),
        Duration::from_secs(20),
    )
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let s = Server::v4(&[]);
    let t = s.target();
    for args in [
        vec!["client", &t, "--file", "1000", "--recv-timeout", "0"],
        vec!["client", &t, "--file", "1000", "--json", "--print-file"],
        vec![
            "client",
            &t,
            "--file",
            "1000",
            "--json-stream",
            "--print-file",
        ],
        vec!["client", &t, "--echo", "x", "--rate", "1M"],
        vec!["client", &t, "--echo", "x", "--size", "100"],
        vec!["client", &t, "--file", "1000", "--size", "100"],
        vec!["client", &t, "--json"],
        vec!["client", &t, "--stream", "5ms", "--size", "1Q"],
        vec!["client", &t, "--echo", "x", "--mss", "64K"],
        vec!["client", &t, "--stream", "0"],
        vec!["client", "127.0.0.1:99999", "--echo", "x"],
        // Flags of another action, which would be ignored.
        vec!["client", &t, "--stream", "1ms", "--interval", "5ms"],
        vec!["client", &t, "--file", "10", "--interval", "5ms"],
        vec!["client", &t, "--echo", "x", "--print-file"],
        vec!["client", &t, "--echo", "x", "--mss", "32768"],
        vec!["server", "--bind", "127.0.0.1:0", "--mss", "40000"],
        vec!["server", "--bind", "127.0.0.1:0", "--idle-timeout", "0"],
        vec!["client", "--hosts", "/nonexistent/hosts.txt", "--echo", "x"],
        vec!["server", "--hosts", "/nonexistent/hosts.txt"],
        // Endless: refused after a bounded read, not read into memory.
        vec!["client", "--hosts", "/dev/zero", "--echo", "x"],
        vec!["server", "--hosts", "/dev/zero"],
        // Past what the model's counters hold: refused, not wrapped.
        vec!["overhead", "18446744073709551615"],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let reason = stderr(&out);
        let first = reason.lines().next().unwrap_or("");
        assert!(
            first.starts_with("error: ") || first.starts_with("ardei-lab: "),
            "{args:?}: no reason given: {reason}"
        );
    }
}

#[test]
fn sizes_take_the_contracts_suffixes() {
    let s = Server::v4(&[]);
    // A 1K stream segment, and an MSS given as a size.
    let (out, v) = s.client_json(&["--stream", "1ms", "--count", "3", "--size", "1K"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["segments"], 3);
    assert_eq!(v["bytes"], 3 * 1024);
    let (out, v) = s.client_json(&["--echo", "hi", "--mss", "1K"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["bytes"], 2);
    // The largest MSS Linux takes (MAX_TCP_WINDOW).
    let (out, v) = s.client_json(&["--echo", "hi", "--mss", "32767"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["bytes"], 2);
}

#[test]
fn json_failures_are_one_object_on_stdout() {
    let missing = run(&["pcap", "summary", "/nonexistent/x.pcapng", "--json"]);
    assert_ne!(missing.status.code(), Some(0));
    let v: serde_json::Value =
        parse_json(&missing.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&missing)));
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");

    // Flags that do not parse, with JSON asked for: still one object.
    for args in [
        vec![
            "client",
            "127.0.0.1:9",
            "--stream",
            "5ms",
            "--size",
            "1Q",
            "--json",
        ],
        vec!["overhead", "100", "--link", "foo", "--json"],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let v: serde_json::Value =
            parse_json(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&out)));
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }

    let bad = run(&["overhead", "1000", "--mtu", "10", "--json"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    let v: serde_json::Value =
        parse_json(&bad.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&bad)));
    assert!(v["error"].as_str().is_some(), "{v}");
    assert!(v.get("transport").is_none(), "{v}");
}

#[test]
fn only_quit_leaves_the_prompt() {
    let s = Server::v4(&[]);
    let out = common::prompt(&[&s.target()], b"exit\nq\nquit\nnever sent\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("round trips of 4 bytes"), "{text}");
    assert!(text.contains("round trips of 1 bytes"), "{text}");
    assert!(!text.contains("round trips of 10 bytes"), "{text}");
}

#[test]
fn the_prompts_streams_take_count_and_size() {
    let s = Server::v4(&[]);
    let out = common::prompt(
        &[&s.target(), "--count", "2", "--size", "128"],
        b"s\n1ms\nquit\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("2 of 2 segments of 128 bytes"), "{text}");
}

#[test]
fn a_bare_pcap_name_goes_to_the_captures_folder() {
    let s = Server::v4(&[]);
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .current_dir(dir.path())
        .args([
            "client",
            &s.target(),
            "--echo",
            "x",
            "--pcap",
            "echo.pcapng",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let path = dir.path().join("captures").join("echo.pcapng");
    assert!(path.is_file(), "no {}", path.display());
    assert!(!dir.path().join("echo.pcapng").exists());
}

/// Accepts one connection on `listener`, reads a file request, and answers
/// with a 1000-byte file whose byte `wrong_at` is wrong; returns the
/// connection, still open.
fn serve_bad_file(listener: &TcpListener, wrong_at: usize) -> std::net::TcpStream {
    let (mut c, _) = listener.accept().unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = [0u8; 16];
    c.read_exact(&mut req).unwrap();
    let mut reply = codec::to_vec(&Message::FileReady { size: 1000 }).unwrap();
    let mut body = common::pattern(0, 1000);
    body[wrong_at] ^= 1;
    reply.extend_from_slice(&body);
    let _ = c.write_all(&reply);
    c
}

/// A server that sends a wrong byte in its first file, then answers echoes
/// on the next connection: the prompt must start that next command on a
/// clean connection, and keep the first connection's capture.
#[test]
fn the_prompt_reconnects_after_a_bad_file_and_keeps_both_captures() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = std::thread::spawn(move || {
        // First connection: FileReady for 1000 bytes, one of them wrong.
        let _first = serve_bad_file(&listener, 500);
        // Second connection: one echo.
        let (mut c, _) = listener.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = [0u8; 8];
        c.read_exact(&mut head).unwrap();
        let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let mut body = vec![0u8; len];
        c.read_exact(&mut body).unwrap();
        head[3] = 0x02; // EchoReply
        c.write_all(&head).unwrap();
        c.write_all(&body).unwrap();
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
    });
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("p.pcapng");
    let started = Instant::now();
    let out = common::prompt(
        &[&addr.to_string(), "--pcap", cap.to_str().unwrap()],
        b"1000\nafter\nquit\n",
    );
    fake.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(
        stderr(&out).contains("verification failed"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("round trips of 5 bytes"),
        "{}",
        stdout(&out)
    );
    let second = dir.path().join("p-2.pcapng");
    for p in [&cap, &second] {
        let len = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "{} missing or empty", p.display());
    }
}

#[test]
fn a_tcp_file_keeps_the_rate_asked_for() {
    let s = Server::v4(&[]);
    let (out, v) = s.client_json(&["--file", "4M", "--rate", "100M"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["verified"], true);
    let goodput = v["goodput_bps"].as_f64().unwrap();
    // The pace is kept by absolute deadlines, each 5 ms slice leaving when
    // the bytes before it are due (the first at once): within a few per
    // cent of the rate, and not far slower on loopback.
    assert!(goodput <= 100e6 * 1.05, "{goodput}");
    assert!(goodput >= 100e6 * 0.3, "{goodput}");
    // A slow pace: the FileReady and the first bytes still leave at once,
    // and 2000 bytes at 8 kbit/s take about two seconds.
    let (out, v) = s.client_json(&["--file", "2000", "--rate", "8k"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["verified"], true);
    let first_us = v["time_to_first_byte_us"].as_f64().unwrap();
    assert!(first_us < 500_000.0, "first byte after {first_us} us");
    let seconds = v["seconds"].as_f64().unwrap();
    assert!((1.5..10.0).contains(&seconds), "{seconds} s");
    // A pace that would stretch the file past the server's limit is refused.
    let out = s.client(&["--file", "100M", "--rate", "1000"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("--rate"), "{}", stderr(&out));
    s.assert_alive();
}

#[test]
fn a_tcp_recv_timeout_bounds_the_wait_for_a_reply() {
    // A listener that accepts and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let hold = std::thread::spawn(move || {
        let (c, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_secs(3));
        drop(c);
    });
    let started = Instant::now();
    let out = client(&addr, &["--echo", "x", "--recv-timeout", "300ms"]);
    let took = started.elapsed();
    hold.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(took < Duration::from_secs(2), "waited {took:?}");
    assert!(stderr(&out).contains("300ms"), "{}", stderr(&out));
}

#[test]
fn a_failed_file_in_json_says_what_is_known() {
    // Refused by the server: exit 3, and the error object names the action.
    let s = Server::v4(&["--max-file", "10"]);
    let out = s.client(&["--file", "100", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let v: serde_json::Value =
        parse_json(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    assert_eq!(v["mode"], "file", "{v}");
    assert_eq!(v["transport"], "tcp", "{v}");
    assert_eq!(v["ip"], 4, "{v}");
    assert_eq!(v["verified"], false, "{v}");
    assert_eq!(v["bytes"], 0, "{v}");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("--max-file")),
        "{v}"
    );

    // A wrong byte at offset 300: exit 4, verified false.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = std::thread::spawn(move || {
        let mut c = serve_bad_file(&listener, 300);
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
    });
    let out = client(&addr.to_string(), &["--file", "1000", "--json"]);
    fake.join().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let v: serde_json::Value =
        parse_json(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    assert_eq!(v["verified"], false, "{v}");
    assert_eq!(v["bytes"], 300, "{v}");
}

#[test]
fn a_udp_stream_size_error_names_the_size_flag() {
    let s = Server::v4(&["--udp"]);
    let out = s.client(&["--udp", "--stream", "5ms", "--count", "2", "--size", "20"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--size 20"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("--segment-size"), "{}", stderr(&out));
}

/// Starts `ardei-lab client TARGET ARGS…`, sends `signal` once it has run
/// for `after`, and returns what it printed, within 20 s.
fn interrupt_client(
    target: &str,
    args: &[&str],
    signal: i32,
    after: Duration,
) -> std::process::Output {
    let child = common::spawn_client(target, args);
    std::thread::sleep(after);
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    unsafe {
        libc::kill(child.id() as i32, signal);
    }
    common::output_of(
        child,
        Duration::from_secs(20),
        "the client, after the signal,",
    )
}

#[test]
fn an_interrupted_client_says_so_and_ends_by_the_signal() {
    use std::os::unix::process::ExitStatusExt;
    let s = Server::v4(&["--max-file", "10G"]);
    let t = s.target();
    let after = Duration::from_millis(700);
    // A paced file (long enough to be cut at any machine speed), with and
    // without JSON, and a stream; SIGINT and SIGTERM.
    for (args, signal, what) in [
        (
            vec!["--file", "1G", "--rate", "100M"],
            libc::SIGINT,
            "before the file was complete",
        ),
        (
            vec!["--file", "1G", "--rate", "100M", "--print-file"],
            libc::SIGINT,
            "stdout holds only its beginning",
        ),
        (
            vec!["--stream", "5ms", "--count", "5000", "--json"],
            libc::SIGINT,
            "before the stream was complete",
        ),
        (
            vec![
                "--echo",
                "hi",
                "--count",
                "100000",
                "--interval",
                "1ms",
                "--json",
            ],
            libc::SIGTERM,
            "before the echo run was complete",
        ),
    ] {
        let out = interrupt_client(&t, &args, signal, after);
        assert_eq!(
            out.status.signal(),
            Some(signal),
            "{args:?}: {:?}",
            out.status
        );
        let err = stderr(&out);
        let last = err.lines().last().unwrap_or("");
        let name = if signal == libc::SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        assert!(
            last.starts_with(&format!("ardei-lab: interrupted by {name}")) && last.contains(what),
            "{args:?}: {err:?}"
        );
        if args.contains(&"--json") {
            let v: serde_json::Value = parse_json(&out.stdout)
                .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&out)));
            assert!(
                v["error"].as_str().is_some_and(|e| e.contains(what)),
                "{args:?}: {v}"
            );
            assert_eq!(v["transport"], "tcp", "{v}");
            assert_eq!(v["ip"], 4, "{v}");
        } else if args.contains(&"--print-file") {
            // What came before the signal, and nothing else.
            assert!(!out.stdout.is_empty(), "{args:?}");
            assert!(out.stdout.len() < 1 << 30, "{args:?}");
            assert_eq!(out.stdout, common::pattern(0, out.stdout.len()), "{args:?}");
        } else {
            assert!(out.stdout.is_empty(), "{args:?}: {}", stdout(&out));
        }
    }
    // The server served every one of them and serves on.
    let (out, v) = s.client_json(&["--echo", "still there"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["bytes"], 11);
}

/// Reads a pseudo-terminal's master side on a thread of its own, and waits
/// for text to appear in what the program behind it wrote.
struct Terminal {
    master: std::fs::File,
    seen: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Terminal {
    /// Opens a pseudo-terminal; returns it and its slave side, for a child's
    /// stdin, stdout and stderr.
    fn open() -> (Terminal, std::fs::File) {
        use std::os::fd::FromRawFd;
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes two descriptors into the integers given
        // and reads no name, settings or size (all null).
        let r = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors are new and owned by nothing else.
        let (master, slave) = unsafe {
            (
                std::fs::File::from_raw_fd(master),
                std::fs::File::from_raw_fd(slave),
            )
        };
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (mut reader, sink) = (master.try_clone().unwrap(), seen.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once the child has closed the slave side.
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        (Terminal { master, seen }, slave)
    }

    /// What the program wrote so far, as text.
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    /// Waits up to 10 s until `needle` has appeared `times` times.
    fn wait_for(&self, needle: &str, times: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.text().matches(needle).count() < times {
            assert!(
                Instant::now() < deadline,
                "no {times}× {needle:?} in {:?}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types `keys` as a user would.
    fn type_keys(&mut self, keys: &[u8]) {
        self.master.write_all(keys).unwrap();
    }
}

#[test]
fn ctrl_c_at_the_prompt_drops_the_line_and_quit_leaves() {
    let s = Server::v4(&[]);
    let (mut term, slave) = Terminal::open();
    let mut child = Command::new(bin())
        .args(["client", &s.target()])
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave)
        .spawn()
        .expect("run the prompt");
    term.wait_for("ardei> ", 1);
    // A half-typed line, then Ctrl-C: dropped, not sent, and the prompt stays.
    term.type_keys(b"dropped-text\x03");
    term.wait_for("line dropped", 1);
    term.wait_for("ardei> ", 2);
    term.type_keys(b"kept\r");
    term.wait_for("round trips of 4 bytes", 1);
    term.wait_for("ardei> ", 3);
    term.type_keys(b"quit\r");
    let status = common::wait_timeout(&mut child, Duration::from_secs(10)).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("the prompt did not leave at quit: {:?}", term.text())
    });
    assert!(status.success(), "{status:?}: {}", term.text());
    let text = term.text();
    assert!(
        !text.contains("of 12 bytes"),
        "the dropped line was sent: {text}"
    );
    assert_eq!(text.matches("round trips of").count(), 1, "{text}");
}

#[test]
fn ctrl_c_during_a_prompt_command_stops_it_and_the_prompt_goes_on() {
    let s = Server::v4(&[]);
    let mut child = Command::new(bin())
        .args(["client", &s.target()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the prompt");
    let mut stdin = child.stdin.take().unwrap();
    // A stream of 100 segments, one every 100 ms: 10 s, stopped after 1.
    stdin.write_all(b"s\n100\n").unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let signalled = Instant::now();
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    std::thread::sleep(Duration::from_millis(300));
    stdin.write_all(b"hello\nquit\n").unwrap();
    drop(stdin);
    let out = common::output_of(child, Duration::from_secs(20), "the prompt");
    let err = stderr(&out);
    assert!(out.status.success(), "{:?}: {err}", out.status);
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "the stream ran on"
    );
    assert!(err.contains("interrupted (Ctrl-C)"), "{err}");
    let text = stdout(&out);
    assert!(
        !text.contains("stream tcp"),
        "a stopped stream has no report: {text}"
    );
    assert!(text.contains("round trips of 5 bytes"), "{text}");
}
