//! The UDP server's sessions, end to end: a real server process, real
//! clients and raw sockets on ephemeral loopback ports. Every session, echo
//! and text included, is logged when it starts and ends, printed as one
//! JSON object with `--json`, and counts as the one client of `--once`.

mod common;

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

/// How long a test waits for something the server should do soon.
const PROMPT: Duration = Duration::from_secs(5);
/// The idle timeout the servers here run with: an echo session ends this
/// long after its last datagram. Long enough that a client stalled by a
/// busy machine between two of its datagrams does not split its session.
const IDLE: &str = "1500ms";

fn udp_server(args: &[&str]) -> Server {
    udp_server_idle(IDLE, args)
}

fn udp_server_idle(idle: &str, args: &[&str]) -> Server {
    let mut a = vec!["--udp", "--idle-timeout", idle];
    a.extend_from_slice(args);
    Server::v4(&a)
}

/// Runs a UDP client against `s`, for at most 20 s.
fn udp_client(s: &Server, args: &[&str]) -> std::process::Output {
    let out = output_within(
        Command::new(bin())
            .args(["client", &s.target(), "--udp"])
            .args(args),
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    out
}

/// The server's stderr, gathered as it comes.
struct Log(Vec<String>);

impl Log {
    /// Waits until a line holds every one of `needles`; false after `t`.
    fn wait_for(&mut self, s: &Server, needles: &[&str], t: Duration) -> bool {
        let deadline = Instant::now() + t;
        loop {
            self.0.extend(s.drain_log());
            if self.0.iter().any(|l| needles.iter().all(|n| l.contains(n))) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The lines holding every one of `needles`.
    fn lines(&self, needles: &[&str]) -> Vec<&String> {
        self.0
            .iter()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .collect()
    }

    fn text(&self) -> String {
        self.0.join("\n")
    }
}

/// The server's stdout, line by line, read on a thread of its own.
fn stdout_lines(s: &mut Server) -> mpsc::Receiver<String> {
    let out = s.child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The next line of stdout as JSON, within [`PROMPT`].
fn next_json(rx: &mpsc::Receiver<String>) -> serde_json::Value {
    let line = rx.recv_timeout(PROMPT).expect("no JSON line on stdout");
    parse_json(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// The keys every server session has, TCP or UDP, and those a UDP one adds.
const KEYS: [&str; 12] = [
    "session",
    "peer",
    "mode",
    "requests",
    "refused",
    "bytes_out",
    "seconds",
    "end",
    "overhead",
    "action",
    "datagrams_in",
    "datagrams_out",
];

fn has_keys(v: &serde_json::Value) {
    for k in KEYS {
        assert!(v.get(k).is_some(), "no {k:?} in {v}");
    }
    let o = &v["overhead"];
    for k in ["model", "kernel"] {
        assert!(o[k]["frames"].as_u64().is_some(), "overhead.{k}: {v}");
    }
}

#[test]
fn json_gives_one_object_per_udp_session_with_its_counts() {
    let mut s = udp_server(&["--json"]);
    let json = stdout_lines(&mut s);

    udp_client(&s, &["--echo", "ardei", "--count", "5"]);
    let echo = next_json(&json);
    has_keys(&echo);
    assert_eq!(echo["action"], "echo", "{echo}");
    assert_eq!(echo["mode"], "framed", "{echo}");
    assert_eq!(echo["session"], 1, "{echo}");
    assert_eq!(echo["requests"], 5, "{echo}");
    assert_eq!(echo["refused"], 0, "{echo}");
    assert_eq!(echo["datagrams_in"], 5, "{echo}");
    assert_eq!(echo["datagrams_out"], 5, "{echo}");
    assert_eq!(echo["bytes_out"], 25, "{echo}");
    assert!(echo["session_id"].as_u64().is_some(), "{echo}");
    // It ended with the answer to its last request, not after the idle
    // timeout.
    assert_eq!(echo["end"], "the client's last echo was answered", "{echo}");
    // Each echo is a 33-byte datagram each way: all of it data.
    assert_eq!(echo["overhead"]["model"]["frames"], 10, "{echo}");
    assert_eq!(
        echo["overhead"]["model"]["layers"]["payload"], 330,
        "{echo}"
    );

    udp_client(&s, &["--file", "10000", "--segment-size", "1028"]);
    let file = next_json(&json);
    has_keys(&file);
    assert_eq!(file["action"], "file", "{file}");
    assert_eq!(file["session"], 2, "{file}");
    assert_eq!(file["requests"], 1, "{file}");
    assert_eq!(file["bytes_out"], 10000, "{file}");
    assert!(file["datagrams_in"].as_u64().unwrap() >= 1, "{file}");
    // FileReady, 10 data datagrams of 1000 file bytes, 3 copies of End,
    // 3 copies of the Results the client asks for.
    assert_eq!(file["datagrams_out"], 17, "{file}");
    assert_eq!(file["overhead"]["segment_payload"], 1000, "{file}");
    assert!(
        file["end"].as_str().unwrap().contains("sent 10 datagrams"),
        "{file}"
    );

    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.connect(s.addr).unwrap();
    u.set_read_timeout(Some(PROMPT)).unwrap();
    let mut buf = [0u8; 64];
    for line in ["hello\n", "-5\n"] {
        u.send(line.as_bytes()).unwrap();
        u.recv(&mut buf).expect("a text reply");
    }
    let text = next_json(&json);
    has_keys(&text);
    assert_eq!(text["action"], "text", "{text}");
    assert_eq!(text["mode"], "text", "{text}");
    assert_eq!(text["peer"], u.local_addr().unwrap().to_string(), "{text}");
    assert!(text.get("session_id").is_none(), "{text}");
    assert_eq!(text["requests"], 2, "{text}");
    assert_eq!(text["refused"], 1, "{text}");
    assert_eq!(text["datagrams_in"], 2, "{text}");
    assert_eq!(text["datagrams_out"], 2, "{text}");

    let status = s.signal_and_wait(libc::SIGINT);
    assert_eq!(status.code(), Some(0));
    no_more(&json);
}

/// Asserts stdout ends (the server has exited) with no line left.
fn no_more(rx: &mpsc::Receiver<String>) {
    match rx.recv_timeout(PROMPT) {
        Err(mpsc::RecvTimeoutError::Disconnected) => {}
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("stdout still open"),
        Ok(line) => panic!("a line too many: {line}"),
    }
}

#[test]
fn a_session_still_open_at_a_stop_is_printed_too() {
    let mut s = udp_server_idle("30s", &["--json"]);
    let json = stdout_lines(&mut s);
    // A text peer: its session has no end but the idle timeout.
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.connect(s.addr).unwrap();
    u.set_read_timeout(Some(PROMPT)).unwrap();
    let mut buf = [0u8; 16];
    for _ in 0..2 {
        u.send(b"x\n").unwrap();
        assert_eq!(u.recv(&mut buf).expect("the echo"), 2);
    }
    assert!(json.recv_timeout(Duration::from_millis(300)).is_err());
    let status = s.signal_and_wait(libc::SIGTERM);
    assert_eq!(status.code(), Some(0));
    let v = next_json(&json);
    assert_eq!(v["end"], "the server stopped", "{v}");
    assert_eq!(
        (v["requests"].as_u64(), v["datagrams_in"].as_u64()),
        (Some(2), Some(2)),
        "{v}"
    );
    no_more(&json);
}

#[test]
fn once_exits_after_one_echo_client() {
    // The run's last answer ends its session: no idle wait (30 s here).
    let mut s = udp_server_idle("30s", &["--once"]);
    udp_client(&s, &["--echo", "only one", "--count", "3"]);
    let status = wait_timeout(&mut s.child, PROMPT).expect("still running after the echo");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn once_exits_after_one_text_peer_and_after_one_file() {
    let mut s = udp_server(&["--once"]);
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.connect(s.addr).unwrap();
    u.set_read_timeout(Some(PROMPT)).unwrap();
    u.send(b"hi\n").unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(u.recv(&mut buf).expect("the echo"), 3);
    let status = wait_timeout(&mut s.child, PROMPT).expect("still running after the text peer");
    assert_eq!(status.code(), Some(0));

    // A file ends with its End: no idle wait (30 s here) before the exit.
    let mut s = udp_server_idle("30s", &["--once"]);
    udp_client(&s, &["--file", "100000"]);
    let status = wait_timeout(&mut s.child, PROMPT).expect("still running after the file");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn an_echo_session_logs_one_start_and_one_end() {
    let s = udp_server(&[]);
    let mut log = Log(Vec::new());
    udp_client(&s, &["--echo", "logged", "--count", "50"]);
    assert!(
        log.wait_for(&s, &["session 1 from", "end after"], PROMPT),
        "no end line:\n{}",
        log.text()
    );
    let start = log.lines(&["session 1 from", "start: echo"]);
    let end = log.lines(&["session 1 from", "end after"]);
    assert_eq!((start.len(), end.len()), (1, 1), "{}", log.text());
    assert!(start[0].contains("INFO"), "{}", start[0]);
    assert!(
        end[0].contains("50 requests") && end[0].contains("50 datagrams in, 50 out"),
        "{}",
        end[0]
    );
    // Nothing per datagram: the start, the wire figure and the end.
    let all = log.lines(&["session 1 from"]);
    assert_eq!(all.len(), 3, "{}", log.text());
    assert!(all[1].contains("on the wire (loopback)"), "{}", all[1]);
    // Nothing per datagram from the server at all.
    let per_datagram = log.0.iter().filter(|l| l.contains("logged")).count();
    assert_eq!(per_datagram, 0, "{}", log.text());
}

#[test]
fn past_max_sessions_the_quietest_echo_session_ends_and_every_echo_is_answered() {
    use ardei_lab::proto::datagram::{self, Body, DgramHeader};
    let mut s = udp_server_idle("30s", &["--json", "--max-sessions", "2"]);
    let json = stdout_lines(&mut s);
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.connect(s.addr).unwrap();
    u.set_read_timeout(Some(PROMPT)).unwrap();
    let mut buf = [0u8; 256];
    for id in [11u32, 12, 13] {
        let h = DgramHeader {
            session: id,
            ..DgramHeader::default()
        };
        let data = b"room".to_vec();
        u.send(&datagram::to_vec(&h, &Body::EchoRequest { data }))
            .unwrap();
        let n = u.recv(&mut buf).expect("every echo is answered");
        assert!(
            matches!(datagram::decode(&buf[..n]), Ok((r, Body::EchoReply { .. })) if r.session == id)
        );
    }
    // The third session made the first, the quietest, end early.
    let first = next_json(&json);
    assert_eq!(first["session_id"], 11, "{first}");
    assert!(
        first["end"].as_str().unwrap().contains("--max-sessions"),
        "{first}"
    );
    let status = s.signal_and_wait(libc::SIGINT);
    assert_eq!(status.code(), Some(0));
    let rest: Vec<u64> = (0..2)
        .map(|_| next_json(&json)["session_id"].as_u64().unwrap())
        .collect();
    assert_eq!(rest, vec![12, 13]);
    no_more(&json);
}

/// A text peer that asks for more than 3x what it sent gets a whole short
/// sentence that fits that budget, ending in a newline, never a cut one:
/// `50` from `nc -u` (3 bytes in, 9 may go back) and `100000` (7 in, 21
/// back), each from a fresh address.
#[test]
fn a_text_refusal_over_udp_is_a_whole_sentence_within_the_budget() {
    let s = udp_server(&[]);
    for (line, want) in [
        (&b"50\n"[..], &b"too big\n"[..]),
        (b"100000\n", b"error: too large\n"),
    ] {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        u.connect(s.addr).unwrap();
        u.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        u.send(line).unwrap();
        let mut buf = [0u8; 2048];
        let n = u.recv(&mut buf).expect("an answer");
        assert_eq!(
            &buf[..n],
            want,
            "{:?}: {:?}",
            String::from_utf8_lossy(line),
            String::from_utf8_lossy(&buf[..n])
        );
        assert!(n <= 3 * line.len());
        assert!(u.recv(&mut buf).is_err(), "one answer only");
    }
}
