//! A small harness for the integration tests: start a real server process on
//! an ephemeral port, run real client processes against it, and speak raw
//! bytes to it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

mod schema;
pub use schema::*;

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ardei-lab")
}

/// Whether this host has IPv6 loopback.
pub fn has_ipv6() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// A server process, killed when dropped.
pub struct Server {
    pub udp: bool,
    pub child: Child,
    pub addr: SocketAddr,
    pub log: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `ardei-lab server --bind HOST:0 ARGS…` and waits for its
    /// "listening on" line.
    pub fn start(host: &str, args: &[&str]) -> Server {
        let bind = format!("{host}:0");
        let mut cmd = Command::new(bin());
        cmd.args(["server", "--bind", &bind]).args(args);
        Server::from_command(cmd)
    }

    pub fn v4(args: &[&str]) -> Server {
        Server::start("127.0.0.1", args)
    }

    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    /// Runs a client against this server.
    pub fn client(&self, args: &[&str]) -> Output {
        client(&self.target(), args)
    }

    /// Runs a client with --json and parses its one JSON object.
    pub fn client_json(&self, args: &[&str]) -> (Output, serde_json::Value) {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.client(&a);
        let v: serde_json::Value = parse_json(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}): {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out, v)
    }

    /// A raw TCP connection to the server.
    pub fn raw(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    /// Asserts a UDP server still serves a well-behaved client.
    pub fn assert_alive_udp(&self) {
        let (out, v) = self.client_json(&["--udp", "--echo", "still there?"]);
        assert!(out.status.success(), "server stopped serving: {v}");
        assert_eq!(v["bytes"], 12);
    }

    /// Asserts the server still serves a well-behaved client (over the
    /// transport it was started with).
    pub fn assert_alive(&self) {
        if self.udp {
            return self.assert_alive_udp();
        }
        let (out, v) = self.client_json(&["--echo", "still there?"]);
        assert!(out.status.success(), "server stopped serving: {v}");
        assert_eq!(v["bytes"], 12);
    }

    /// Log lines so far.
    pub fn drain_log(&self) -> Vec<String> {
        self.log.try_iter().collect()
    }

    /// Sends a signal and waits for the exit status.
    pub fn signal_and_wait(mut self, sig: i32) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
        wait_timeout(&mut self.child, Duration::from_secs(10)).expect("server did not exit")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for a child up to `t`.
pub fn wait_timeout(child: &mut Child, t: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + t;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Runs `ardei-lab client TARGET ARGS…`.
pub fn client(target: &str, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("client")
        .arg(target)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run client")
}

/// Starts `ardei-lab client TARGET ARGS…` in the background: no stdin,
/// stdout and stderr piped.
pub fn spawn_client(target: &str, args: &[&str]) -> Child {
    Command::new(bin())
        .arg("client")
        .arg(target)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start client")
}

/// Waits for `child` to end and returns what it printed; fails the test,
/// naming `what`, if that takes longer than `t`.
pub fn output_of(child: Child, t: Duration, what: &str) -> Output {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    rx.recv_timeout(t)
        .unwrap_or_else(|_| panic!("{what} did not end within {t:?}"))
        .expect("child output")
}

/// Runs `ardei-lab client ARGS…` as an interactive prompt fed `input` on
/// stdin (the end of input quits it), for at most 60 s.
pub fn prompt(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(bin())
        .arg("client")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the prompt");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("feed the prompt");
    output_of(child, Duration::from_secs(60), "the prompt")
}

/// The pattern's bytes from `offset`.
pub fn pattern(offset: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    ardei_lab::content::fill(offset, &mut v);
    v
}

/// Writes bytes and reads until the peer closes or `t` passes.
pub fn exchange(s: &mut TcpStream, bytes: &[u8], t: Duration) -> Vec<u8> {
    s.write_all(bytes).unwrap();
    s.set_read_timeout(Some(t)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads exactly `n` bytes.
pub fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    s.read_exact(&mut v).expect("read_exact");
    v
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs a command to its end, but for at most `t`: past that it is killed
/// and the test fails, so no test can hang on a stuck process.
pub fn output_within(cmd: &mut Command, t: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    // Read both pipes on their own threads, so a chatty child never blocks
    // on a full pipe while we wait for it.
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let Some(status) = wait_timeout(&mut child, t) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{cmd:?} did not finish within {t:?}; killed");
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

impl Server {
    /// Starts a server from a prepared command (for instance one that runs
    /// the binary inside a network namespace) and waits for its "listening
    /// on" line. The command must end in `server --bind ADDR:PORT …`.
    pub fn from_command(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start server");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let addr = loop {
            let line = match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(l) => l,
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("server ({cmd:?}) said nothing within 10 s");
                }
            };
            if let Some(rest) = line.split("listening on ").nth(1) {
                let a = rest.split_whitespace().next().unwrap();
                break a.parse().unwrap();
            }
        };
        Server {
            udp: cmd.get_args().any(|a| a == "--udp"),
            child,
            addr,
            log: rx,
        }
    }
}

/// A UDP peer that answers only the even echo requests and goes away after
/// request 5 (or 5 s of silence): replies that never come, for the client
/// to count as lost.
pub fn half_deaf_server() -> (SocketAddr, std::thread::JoinHandle<()>) {
    use ardei_lab::proto::datagram::{self, Body};
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = vec![0u8; 65536];
        while let Ok((n, peer)) = sock.recv_from(&mut buf) {
            if let Ok((h, Body::EchoRequest { data })) = datagram::decode(&buf[..n]) {
                if h.seq % 2 == 0 {
                    let _ = sock.send_to(&datagram::to_vec(&h, &Body::EchoReply { data }), peer);
                }
                if h.seq == 5 {
                    return;
                }
            }
        }
    });
    (addr, h)
}
