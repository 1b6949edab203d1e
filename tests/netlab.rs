//! `tools/netlab`, the two-host network, end to end: real namespaces, real
//! veth pairs and the middle box's bridge, real qdiscs and nftables rules,
//! and the lab's real server and client on either side.
//!
//! These tests need root. Without it they print a note and pass, except
//! when `CI` is set: there a missing root or a failing `ip netns` is a
//! failure, so the tests can never pass by quietly doing nothing.
//!
//! Each test builds its own namespaces (two hosts and the middle box) under
//! a prefix of its own (`nl<pid><n>`), so the tests run in parallel, and a
//! guard tears them down when the test ends, however it ends. Every command
//! runs with a timeout.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::*;

/// Longest any netlab command may take (up, down, status, drops).
const NETLAB_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest a client may take for one file.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a short probe (ping, cat, ethtool) may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

fn netlab_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/netlab")
}

/// A note the test harness shows even for a passing test: written to the
/// stderr file descriptor itself, which libtest does not capture (it only
/// captures `print!` and `eprint!`).
fn note(s: &str) {
    let _ = writeln!(std::io::stderr(), "note: {s}");
}

/// Whether these tests can run here; `false` (after a note) if they should
/// be skipped. Panics instead of skipping when `CI` is set.
fn can_run(test: &str) -> bool {
    let ci = std::env::var_os("CI").is_some();
    let reason = if unsafe { libc::geteuid() } != 0 {
        Some("not running as root".to_string())
    } else if Command::new("ip").arg("-V").output().is_err() {
        Some("`ip` (iproute2) is not installed".to_string())
    } else {
        match output_within(Command::new("ip").args(["netns", "list"]), PROBE_TIMEOUT) {
            o if o.status.success() => None,
            o => Some(format!("`ip netns list` failed: {}", stderr(&o).trim())),
        }
    };
    match reason {
        None => true,
        Some(r) if ci => {
            panic!("{test}: CI is set but {r}; the netlab tests need root and iproute2")
        }
        Some(r) => {
            note(&format!(
                "{test} skipped: {r} (netlab needs root: `sudo -E cargo test --release --test netlab`)"
            ));
            false
        }
    }
}

/// One lab: two hosts and a middle box under a unique prefix, removed on
/// drop.
struct Lab {
    prefix: String,
}

impl Lab {
    /// A fresh, unique prefix; no namespaces yet.
    fn new() -> Lab {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        // Short: namespace names become "nl<pid><n>-a", "-r" and "-b".
        let lab = Lab {
            prefix: format!("nl{}{n}", std::process::id()),
        };
        // Anything a crashed earlier run with the same pid left behind.
        lab.netlab_ok(&["down"]);
        lab
    }

    /// A lab that is up with `args`.
    fn up(args: &[&str]) -> Lab {
        let lab = Lab::new();
        lab.netlab_ok(&[&["up"], args].concat());
        lab
    }

    fn ns(&self, host: char) -> String {
        format!("{}-{host}", self.prefix)
    }

    /// A `tools/netlab ARGS…` command for this lab.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(netlab_script());
        c.args(args).env("NETLAB_PREFIX", &self.prefix);
        c
    }

    fn netlab(&self, args: &[&str]) -> Output {
        output_within(&mut self.cmd(args), NETLAB_TIMEOUT)
    }

    fn netlab_ok(&self, args: &[&str]) -> Output {
        let o = self.netlab(args);
        assert!(
            o.status.success(),
            "netlab {args:?} failed ({}): {}",
            o.status,
            stderr(&o)
        );
        o
    }

    /// Runs `CMD…` in host `a` or `b` through `netlab exec`.
    fn exec(&self, host: char, cmd: &[&str], t: Duration) -> Output {
        let h = host.to_string();
        output_within(&mut self.cmd(&[&["exec", h.as_str()], cmd].concat()), t)
    }

    /// `netlab drops`, which must print a bare integer.
    fn drops(&self) -> u64 {
        let o = self.netlab_ok(&["drops"]);
        let s = stdout(&o);
        s.trim()
            .parse()
            .unwrap_or_else(|e| panic!("drops printed {s:?}, not an integer: {e}"))
    }

    /// A server in host `b`, bound to `bind` (port 0: any free port).
    fn server_in_b(&self, bind: &str) -> Server {
        self.server_in_b_with(bind, &[])
    }

    /// A server in host `b` with more flags (`--udp`, say).
    fn server_in_b_with(&self, bind: &str, args: &[&str]) -> Server {
        let cmd = [&["exec", "b", bin(), "server", "--bind", bind], args].concat();
        Server::from_command(self.cmd(&cmd))
    }

    /// A client in host `a`: `ardei-lab client TARGET ARGS… --json`, parsed.
    fn client_json_in_a(&self, target: &str, args: &[&str]) -> serde_json::Value {
        let cmd = [&[bin(), "client", target], args, &["--json"]].concat();
        let out = self.exec('a', &cmd, CLIENT_TIMEOUT);
        assert!(
            out.status.success(),
            "client {args:?} to {target}: {}",
            stderr(&out)
        );
        parse_json(&out.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {}", stdout(&out)))
    }

    /// `netlab queue HOST`: the queue toward `a` or `b`, parsed and checked
    /// against its schema.
    fn queue(&self, toward: char) -> serde_json::Value {
        let o = self.netlab_ok(&["queue", &toward.to_string()]);
        let v = parse_json(&o.stdout)
            .unwrap_or_else(|e| panic!("queue printed no JSON object ({e}): {}", stdout(&o)));
        assert_eq!(stdout(&o).lines().count(), 1, "one line: {}", stdout(&o));
        assert_eq!(v["toward"], toward.to_string(), "{v}");
        v
    }

    /// The names `ip netns list` shows that belong to this lab.
    fn namespaces(&self) -> Vec<String> {
        let o = output_within(Command::new("ip").args(["netns", "list"]), PROBE_TIMEOUT);
        let ours = [self.ns('a'), self.ns('r'), self.ns('b')];
        stdout(&o)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| ours.iter().any(|o| o == n))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Not netlab_ok: a panic inside a drop during a panic would abort
        // and hide the first failure.
        let o = output_within(&mut self.cmd(&["down"]), NETLAB_TIMEOUT);
        if !o.status.success() {
            eprintln!("netlab down for {} failed: {}", self.prefix, stderr(&o));
        }
    }
}

fn has_ping() -> bool {
    Command::new("ping").arg("-V").output().is_ok()
}

#[test]
fn up_is_idempotent_and_down_removes_everything() {
    if !can_run("up_is_idempotent_and_down_removes_everything") {
        return;
    }
    let lab = Lab::new();
    // Down before anything exists is fine, and status says "down" (3).
    lab.netlab_ok(&["down"]);
    assert_eq!(lab.netlab(&["status"]).status.code(), Some(3));

    lab.netlab_ok(&["up", "--rate", "20M", "--loss", "3"]);
    let first = stdout(&lab.netlab_ok(&["status"]));
    lab.netlab_ok(&["up", "--rate", "20M", "--loss", "3"]);
    let second = stdout(&lab.netlab_ok(&["status"]));
    assert_eq!(first, second, "a second identical `up` changed the lab");
    for want in [
        lab.ns('a'),
        lab.ns('r'),
        lab.ns('b'),
        "to-a".into(),
        "to-b".into(),
        "br0".into(),
        "198.18.0.1/24".into(),
        "198.18.0.2/24".into(),
        "2001:2::1/64".into(),
        "2001:2::2/64".into(),
        "tbf".into(),
        "rate 20Mbit".into(),
        "pfifo 3: parent 2:1".into(),
        "numgen random mod 100 < 3".into(),
    ] {
        assert!(first.contains(&want), "status lacks {want:?}:\n{first}");
    }
    // Two hosts and the middle box.
    assert_eq!(lab.namespaces().len(), 3);

    // `up` describes the whole state: without --rate and --loss, the tbf
    // and the loss rule go away.
    lab.netlab_ok(&["up"]);
    let plain = stdout(&lab.netlab_ok(&["status"]));
    assert!(
        !plain.contains("tbf") && !plain.contains("numgen"),
        "{plain}"
    );
    // The queue is there without a rate too: the default pfifo.
    assert!(plain.contains("pfifo 3: root"), "{plain}");
    assert_eq!(lab.drops(), 0);

    lab.netlab_ok(&["down"]);
    lab.netlab_ok(&["down"]);
    assert!(lab.namespaces().is_empty(), "namespaces left behind");
    assert_eq!(lab.netlab(&["status"]).status.code(), Some(3));
}

#[test]
fn bad_arguments_are_refused_and_a_failed_up_cleans_up() {
    if !can_run("bad_arguments_are_refused_and_a_failed_up_cleans_up") {
        return;
    }
    let lab = Lab::new();
    for args in [
        &["up", "--mtu", "1000"][..], // below the IPv6 minimum
        &["up", "--loss", "101"],
        &["up", "--rate", "fast"],
        &["up", "--frobnicate"],
        &["up", "--queue", "red"],
        &["up", "--queue", "pfifo:many"],
        &["up", "--delay", "20"], // no unit
        &["queue", "c"],
        &["exec", "c", "true"],
        &["sideways"],
    ] {
        let o = lab.netlab(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    assert!(lab.namespaces().is_empty());

    // An `up` that fails half-way (here: an ethtool that always fails, found
    // first on PATH) must remove what it had built.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("ethtool");
    std::fs::write(&fake, "#!/bin/sh\necho 'ethtool: refused' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap()
    );
    let o = output_within(lab.cmd(&["up"]).env("PATH", path), NETLAB_TIMEOUT);
    assert!(!o.status.success(), "up succeeded with a broken ethtool");
    assert!(stderr(&o).contains("removing"), "{}", stderr(&o));
    assert!(
        lab.namespaces().is_empty(),
        "a failed up left namespaces behind"
    );
}

#[test]
fn hosts_reach_each_other_with_the_mtu_and_offloads_asked_for() {
    if !can_run("hosts_reach_each_other_with_the_mtu_and_offloads_asked_for") {
        return;
    }
    let lab = Lab::up(&["--mtu", "9000"]);

    // Both ends of the veth pair have the MTU, read inside each namespace.
    for host in ['a', 'b'] {
        let o = lab.exec(host, &["cat", "/sys/class/net/eth0/mtu"], PROBE_TIMEOUT);
        assert_eq!(stdout(&o).trim(), "9000", "{host}: {}", stderr(&o));

        let o = lab.exec(host, &["ethtool", "-k", "eth0"], PROBE_TIMEOUT);
        let k = stdout(&o);
        for feature in [
            "tcp-segmentation-offload",
            "generic-segmentation-offload",
            "generic-receive-offload",
            "tx-checksumming",
            "rx-checksumming",
        ] {
            let line = k
                .lines()
                .find(|l| l.starts_with(&format!("{feature}:")))
                .unwrap_or_else(|| panic!("{host}: no {feature} in ethtool -k:\n{k}"));
            assert!(line.contains(": off"), "{host}: {line}");
        }
    }

    // IPv4 and IPv6 at once (no duplicate address detection to wait for),
    // both ways.
    if has_ping() {
        for (host, peer) in [
            ('a', "198.18.0.2"),
            ('a', "2001:2::2"),
            ('b', "198.18.0.1"),
            ('b', "2001:2::1"),
        ] {
            let o = lab.exec(host, &["ping", "-c", "1", "-W", "2", peer], PROBE_TIMEOUT);
            assert!(
                o.status.success(),
                "ping from {host} to {peer}: {}{}",
                stdout(&o),
                stderr(&o)
            );
        }
    } else {
        note("ping is not installed (apt-get install iputils-ping); checking with echo only");
    }
    // The lab's own echo, which needs nothing else installed.
    for bind in ["198.18.0.2:0", "[2001:2::2]:0"] {
        let s = lab.server_in_b(bind);
        let v = lab.client_json_in_a(&s.target(), &["--echo", "across", "--count", "3"]);
        assert_eq!(v["replies"], 3, "{v}");
    }

    // A jumbo frame crosses whole: 8972 bytes of ICMP payload + 8 + 20 = 9000,
    // with "don't fragment".
    if has_ping() {
        let o = lab.exec(
            'a',
            &[
                "ping",
                "-c",
                "1",
                "-W",
                "2",
                "-M",
                "do",
                "-s",
                "8972",
                "198.18.0.2",
            ],
            PROBE_TIMEOUT,
        );
        assert!(
            o.status.success(),
            "jumbo ping: {}{}",
            stdout(&o),
            stderr(&o)
        );
    }

    // `up` again with the default MTU puts both ends back to 1500.
    lab.netlab_ok(&["up"]);
    for host in ['a', 'b'] {
        let o = lab.exec(host, &["cat", "/sys/class/net/eth0/mtu"], PROBE_TIMEOUT);
        assert_eq!(stdout(&o).trim(), "1500", "{host}");
    }
}

#[test]
fn exec_hands_its_own_pid_to_the_command() {
    if !can_run("exec_hands_its_own_pid_to_the_command") {
        return;
    }
    let lab = Lab::up(&[]);
    // The full namespace name works as well as the short one.
    let mut child = lab
        .cmd(&["exec", &lab.ns('b'), "sleep", "10"])
        .spawn()
        .expect("start netlab exec");
    // Once the two execs are done, the PID we hold is sleep's own.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let comm = loop {
        let comm =
            std::fs::read_to_string(format!("/proc/{}/comm", child.id())).unwrap_or_default();
        if comm.trim() == "sleep" || std::time::Instant::now() > deadline {
            break comm;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(comm.trim(), "sleep");
}

/// The MSS the client's socket reports (`TCP_MAXSEG` read back after
/// connect) on this veth, as measured. Linux answers `TCP_MAXSEG` on a
/// connected socket with `tp->mss_cache`: the payload a full segment really
/// carries, which is the MTU minus the IP header (20 or 40) and the TCP
/// header (20), minus the 12 bytes of the timestamp option that every
/// segment carries here (both ends enable timestamps, the Linux default).
/// The SYNs themselves advertise the MSS without the timestamps: 1460, 1440,
/// 8960 and 8940, as a capture shows.
fn expected_mss(mtu: u32, ipv6: bool) -> u64 {
    let ip = if ipv6 { 40 } else { 20 };
    u64::from(mtu) - ip - 20 - 12
}

#[test]
fn tcp_files_cross_at_mtu_1500_and_9000_over_v4_and_v6() {
    if !can_run("tcp_files_cross_at_mtu_1500_and_9000_over_v4_and_v6") {
        return;
    }
    let lab = Lab::new();
    let size = 2 * 1024 * 1024u64;
    for (mtu, v4_mss, v6_mss) in [(1500, 1448, 1428), (9000, 8948, 8928)] {
        // The figures we measured, and the formula that explains them.
        assert_eq!(expected_mss(mtu, false), v4_mss);
        assert_eq!(expected_mss(mtu, true), v6_mss);
        lab.netlab_ok(&["up", "--mtu", &mtu.to_string()]);
        for (bind, ip, mss) in [("198.18.0.2:0", 4, v4_mss), ("[2001:2::2]:0", 6, v6_mss)] {
            let server = lab.server_in_b(bind);
            let target = server.target();
            assert!(target.starts_with(&bind[..bind.len() - 2]), "{target}");
            let v = lab.client_json_in_a(&target, &["--file", &size.to_string()]);
            assert_eq!(v["verified"], true, "mtu {mtu}, {target}: {v}");
            assert_eq!(v["bytes"], size, "{v}");
            assert_eq!(v["ip"], ip, "{v}");
            assert_eq!(v["socket"]["mss"], mss, "mtu {mtu}, IPv{ip}: {v}");
        }
    }
}

#[test]
fn a_tcp_file_survives_loss_and_a_rate_limit() {
    if !can_run("a_tcp_file_survives_loss_and_a_rate_limit") {
        return;
    }
    let rate = 50e6;
    let lab = Lab::up(&["--rate", "50M", "--loss", "5"]);
    assert_eq!(lab.drops(), 0, "a fresh lab has dropped nothing");
    let server = lab.server_in_b("198.18.0.2:0");
    let size = 1024 * 1024u64;
    let v = lab.client_json_in_a(&server.target(), &["--file", &size.to_string()]);
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(v["bytes"], size, "{v}");
    // 1 MB is about 725 full segments from b to a: at 5 % an expected 36
    // drops, and the chance of none at all is 0.95^725, about 1e-16.
    let drops = lab.drops();
    assert!(drops > 0, "5 % loss dropped nothing");
    // The report's retransmissions are TCP_INFO's, and the loss made some.
    let o = &v["overhead"];
    assert_eq!(
        o["kernel"]["retransmissions"], o["kernel_raw"]["total_retrans"],
        "{o}"
    );
    // The rate limit holds: goodput (payload only, over the whole request)
    // cannot beat the line rate. 10 % of slack for the bucket's first burst.
    let goodput = v["goodput_bps"].as_f64().unwrap();
    assert!(
        goodput < rate * 1.1,
        "goodput {goodput} over a {rate} bit/s limit"
    );
    eprintln!("1 MB through 5 % loss and 50 Mbit/s: {drops} drops, goodput {goodput:.0} bit/s");
}

#[test]
fn udp_segments_follow_the_path_mtu_and_fragments_need_asking() {
    if !can_run("udp_segments_follow_the_path_mtu_and_fragments_need_asking") {
        return;
    }
    let lab = Lab::new();
    for mtu in [1500u64, 9000] {
        lab.netlab_ok(&["up", "--mtu", &mtu.to_string()]);
        // The UDP payload that fits one packet: MTU - IP header - UDP header.
        for (bind, fits) in [("198.18.0.2:0", mtu - 28), ("[2001:2::2]:0", mtu - 48)] {
            let server = lab.server_in_b_with(bind, &["--udp"]);
            let target = server.target();
            let v = lab.client_json_in_a(&target, &["--udp", "--file", "100000"]);
            assert_eq!(v["segment_size"], fits, "mtu {mtu} {target}: {v}");
            assert_eq!(v["path_mtu"], mtu, "{v}");
            assert_eq!(v["lost"], 0, "{v}");
            assert_eq!(v["complete"], true, "{v}");

            // One byte more than fits is refused, naming the MTU...
            let big = (fits + 1).to_string();
            let cmd = [
                bin(),
                "client",
                &target,
                "--udp",
                "--file",
                "100000",
                "--segment-size",
                &big,
            ];
            let out = lab.exec('a', &cmd, CLIENT_TIMEOUT);
            assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
            assert!(
                stderr(&out).contains(&format!("path MTU of {mtu}")),
                "{}",
                stderr(&out)
            );
            // ...unless IP may fragment it: then it crosses in fragments,
            // which the client's kernel reassembles.
            let v = lab.client_json_in_a(
                &target,
                &[
                    "--udp",
                    "--file",
                    "100000",
                    "--segment-size",
                    &big,
                    "--fragment",
                ],
            );
            assert_eq!(v["complete"], true, "{v}");
            assert_eq!(v["verified"], true, "{v}");
            assert_eq!(v["segment_size"].as_u64(), Some(fits + 1));
            assert!(
                v["kernel"]["reasm_oks"].as_u64().unwrap() > 0,
                "no reassembly counted: {v}"
            );
        }
    }
}

#[test]
fn udp_loss_equals_the_drop_counter_exactly() {
    if !can_run("udp_loss_equals_the_drop_counter_exactly") {
        return;
    }
    // Only datagrams over 200 bytes may be dropped: the file's data, never
    // the cookie, FileReady or End, so the counter counts exactly the data
    // datagrams the client did not get.
    let lab = Lab::up(&["--loss", "5", "--loss-match", "udp length > 200"]);
    let mut drops_before = 0;
    for bind in ["198.18.0.2:0", "[2001:2::2]:0"] {
        let server = lab.server_in_b_with(bind, &["--udp"]);
        let v = lab.client_json_in_a(
            &server.target(),
            &["--udp", "--file", "3000000", "--rate", "200M"],
        );
        let drops = lab.drops();
        let lost = v["lost"].as_u64().unwrap();
        assert!(lost > 0, "5 % loss lost nothing: {v}");
        assert_eq!(
            lost,
            drops - drops_before,
            "lab's count vs the nftables counter: {v}"
        );
        assert_eq!(
            v["datagrams"].as_u64().unwrap() + lost,
            v["sent"].as_u64().unwrap()
        );
        assert_eq!(v["ended_by"], "end-message", "{v}");
        assert_eq!(v["verified"], true);
        eprintln!(
            "UDP 3 MB through 5 % loss ({bind}): {lost} lost = {} dropped",
            drops - drops_before
        );
        drops_before = drops;
    }
}

#[test]
fn udp_model_kernel_and_capture_agree_on_a_real_link() {
    if !can_run("udp_model_kernel_and_capture_agree_on_a_real_link") {
        return;
    }
    // Offloads are off, so every frame on the veth is a real one: the model,
    // the kernel's counters in lab-a and a live capture on lab-a's eth0 see
    // the same frames.
    let lab = Lab::new();
    let dir = tempfile::tempdir().unwrap();
    for (mtu, bind, tag) in [
        ("1500", "198.18.0.2:0", "v4-1500"),
        ("1500", "[2001:2::2]:0", "v6-1500"),
        ("9000", "198.18.0.2:0", "v4-9000"),
        ("9000", "[2001:2::2]:0", "v6-9000"),
    ] {
        lab.netlab_ok(&["up", "--mtu", mtu]);
        let server = lab.server_in_b_with(bind, &["--udp"]);
        let pcap = dir.path().join(format!("{tag}.pcapng"));
        let v = lab.client_json_in_a(
            &server.target(),
            &[
                "--udp",
                "--file",
                "200000",
                "--pcap",
                pcap.to_str().unwrap(),
                "--capture=eth0",
            ],
        );
        let o = &v["overhead"];
        assert_eq!(v["lost"], 0, "{v}");
        assert_eq!(o["link"], "ethernet", "{o}");
        assert_eq!(o["mtu"].to_string(), mtu, "{o}");
        assert_eq!(
            o["model"]["frames"], o["kernel"]["frames"],
            "model vs kernel: {o}"
        );
        // The capture runs until the client closes it, so it may also hold
        // the End message's two later copies (sent 10 and 20 ms after the
        // first, which already ended the transfer).
        let model = o["model"]["frames"].as_u64().unwrap();
        let capture = o["capture"]["frames"].as_u64().unwrap();
        assert!(
            (model..=model + 2).contains(&capture),
            "capture {capture} vs model {model}: {o}"
        );
    }
}

/// The server's `OutDatagrams` (lab-b) and the client's `InDatagrams`
/// (lab-a) over one GSO file of 64-byte datagrams.
#[test]
fn udp_gso_sends_count_once_out_and_their_datagrams_each_in() {
    if !can_run("udp_gso_sends_count_once_out_and_their_datagrams_each_in") {
        return;
    }
    let lab = Lab::up(&[]);
    for (bind, file, key) in [
        ("198.18.0.2:0", "/proc/net/snmp", "OutDatagrams"),
        ("[2001:2::2]:0", "/proc/net/snmp6", "Udp6OutDatagrams"),
    ] {
        let out_in_b = || -> u64 {
            let o = lab.exec('b', &["cat", file], PROBE_TIMEOUT);
            let text = stdout(&o);
            if key.starts_with("Udp6") {
                let line = text.lines().find(|l| l.starts_with(key)).unwrap();
                return line.split_whitespace().nth(1).unwrap().parse().unwrap();
            }
            let udp: Vec<&str> = text.lines().filter(|l| l.starts_with("Udp:")).collect();
            let i = udp[0].split_whitespace().position(|n| n == key).unwrap();
            udp[1].split_whitespace().nth(i).unwrap().parse().unwrap()
        };
        let server = lab.server_in_b_with(bind, &["--udp"]);
        for no_gso in [false, true] {
            let before = out_in_b();
            // Unpaced: full batches. Datagrams the client's buffer drops are
            // lost, yet counted by both sides the same way.
            let mut args = vec![
                "--udp",
                "--file",
                "300000",
                "--segment-size",
                "64",
                "--rate",
                "0",
            ];
            if no_gso {
                args.push("--no-gso");
            }
            let v = lab.client_json_in_a(&server.target(), &args);
            // The End's later copies leave 10 and 20 ms after the first.
            std::thread::sleep(Duration::from_millis(100));
            let after = out_in_b();
            let what = format!("{bind} no_gso {no_gso}: {v}");
            assert_eq!(
                v["datagrams"].as_u64().unwrap() + v["lost"].as_u64().unwrap(),
                v["sent"].as_u64().unwrap(),
                "{what}"
            );
            assert_eq!(v["send"], if no_gso { "sendto" } else { "gso" }, "{what}");
            let calls = v["send_calls"].as_u64().unwrap();
            // Cookie, FileReady, 3 End copies and 3 Results copies, one
            // datagram each.
            assert_eq!(after - before, calls + 8, "{what}");
            if !no_gso {
                assert!(calls * 8 < v["sent"].as_u64().unwrap(), "{what}");
            }
            // The client's namespace: every datagram counted in once.
            let o = &v["overhead"];
            assert_eq!(o["model"]["frames"], o["kernel"]["frames"], "{what}");
            assert_eq!(
                o["notes"]
                    .to_string()
                    .contains("sender's counters are in its own namespace"),
                !no_gso,
                "{what}"
            );
        }
    }
}

/// Four parallel flows share a 100 Mbit/s bottleneck: their sum is the
/// bottleneck's payload rate within 5 %, every flow verified. The payload
/// rate is the line rate times what a full frame carries: at MTU 1500 with
/// TCP timestamps, 1448 payload bytes in a 1514-byte frame (the token
/// bucket counts the Ethernet header too).
#[test]
fn parallel_flows_sum_to_the_bottleneck() {
    if !can_run("parallel_flows_sum_to_the_bottleneck") {
        return;
    }
    let lab = Lab::up(&["--rate", "100M"]);
    let server = lab.server_in_b("198.18.0.2:0");
    let v = lab.client_json_in_a(&server.target(), &["-P", "4", "-t", "3s"]);
    let flows = v["flows"].as_array().expect("a flows array");
    assert_eq!(flows.len(), 4, "{v}");
    let mut sum = 0;
    for f in flows {
        assert_eq!(f["verified"], true, "{f}");
        assert!(f["bytes"].as_u64().unwrap() > 0, "{f}");
        sum += f["bytes"].as_u64().unwrap();
    }
    assert_eq!(v["bytes"].as_u64(), Some(sum), "{v}");
    let payload_rate = 100e6 * 1448.0 / 1514.0;
    let goodput = v["goodput_bps"].as_f64().unwrap();
    assert!(
        (goodput - payload_rate).abs() <= 0.05 * payload_rate,
        "4 flows: {goodput:.0} bit/s against a payload rate of {payload_rate:.0}"
    );
    eprintln!("4 flows through 100 Mbit/s: {goodput:.0} bit/s of payload");
}

/// What tc says when this kernel lacks a qdisc (netem, fq_codel and cake are
/// modules or options of their own, not in every kernel).
const TC_UNKNOWN_KIND: &str = "Specified qdisc kind is unknown";

/// `netlab up ARGS`, which may fail only because the kernel lacks a qdisc:
/// then the failure must carry tc's message and leave nothing behind, and
/// this returns false (after a note); true when the lab is up.
fn up_if_the_kernel_has_it(lab: &Lab, args: &[&str], what: &str) -> bool {
    let o = lab.netlab(&[&["up"], args].concat());
    if o.status.success() {
        return true;
    }
    let e = stderr(&o);
    assert!(e.contains(TC_UNKNOWN_KIND), "up {args:?} failed: {e}");
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("tc refused") && e.contains("removing"), "{e}");
    assert!(lab.namespaces().is_empty(), "a refused up left namespaces");
    note(&format!(
        "this kernel has no {what}: `up {args:?}` failed cleanly with tc's message, \
         which is all that could be checked here"
    ));
    false
}

/// `--delay 20ms` puts netem on both of the middle box's ports, so an echo
/// round trip takes the two delays, 40 ms, plus the little it takes without.
#[test]
fn the_delay_shows_in_an_echo_round_trip() {
    if !can_run("the_delay_shows_in_an_echo_round_trip") {
        return;
    }
    let lab = Lab::new();
    if !up_if_the_kernel_has_it(&lab, &["--delay", "20ms"], "netem") {
        return;
    }
    let status = stdout(&lab.netlab_ok(&["status"]));
    assert!(status.contains("netem 1: root"), "{status}");
    assert!(status.contains("delay 20ms"), "{status}");
    let s = lab.server_in_b("198.18.0.2:0");
    let v = lab.client_json_in_a(&s.target(), &["--echo", "delayed", "--count", "5"]);
    let l = &v["latency_us"];
    let (min, p50) = (l["min"].as_f64().unwrap(), l["p50"].as_f64().unwrap());
    assert!(min >= 40_000.0, "an echo beat two 20 ms delays: {l}");
    assert!(p50 < 50_000.0, "40 ms of delay took {p50} µs: {l}");
    eprintln!("echo through 20 ms each way: min {min:.0} µs, p50 {p50:.0} µs");
}

/// `netlab queue a` reads the queue toward a fill while a server in b sends
/// as fast as cubic will through 20 Mbit/s, never past its 200-packet limit,
/// dropping what does not fit, and empty again once the transfer is over.
#[test]
fn queue_reads_a_backlog_growing_under_load() {
    if !can_run("queue_reads_a_backlog_growing_under_load") {
        return;
    }
    let lab = Lab::up(&["--rate", "20M", "--queue", "pfifo:200"]);
    for toward in ['a', 'b'] {
        let q = lab.queue(toward);
        assert_eq!(q["qdisc"], "pfifo", "{q}");
        assert_eq!(q["backlog_packets"], 0, "an idle lab queues nothing: {q}");
        assert_eq!(q["drops"], 0, "{q}");
    }
    let server = lab.server_in_b("198.18.0.2:0");
    let target = server.target();
    let mut packets = Vec::new();
    std::thread::scope(|scope| {
        let client = scope.spawn(|| lab.client_json_in_a(&target, &["-t", "3s", "-C", "cubic"]));
        let end = std::time::Instant::now() + Duration::from_millis(2500);
        while std::time::Instant::now() < end {
            let q = lab.queue('a');
            let (p, b) = (
                q["backlog_packets"].as_u64().unwrap(),
                q["backlog_bytes"].as_u64().unwrap(),
            );
            // Between a bare ACK (54 bytes) and a full frame (1514) each.
            assert!(p * 54 <= b && b <= p * 1514, "{q}");
            packets.push(p);
            std::thread::sleep(Duration::from_millis(50));
        }
        let v = client.join().expect("the client thread");
        assert_eq!(v["verified"], true, "{v}");
    });
    let max = packets.iter().copied().max().unwrap_or(0);
    assert!(max >= 20, "the queue never held 20 packets: {packets:?}");
    assert!(max <= 200, "past the 200-packet limit: {packets:?}");
    let first_full = packets.iter().position(|&p| p == max).unwrap();
    assert!(
        packets[..first_full].iter().any(|&p| p + 10 <= max),
        "no growth seen before the peak: {packets:?}"
    );
    let after = lab.queue('a');
    assert!(
        after["drops"].as_u64().unwrap() > 0,
        "a full queue dropped nothing: {after}"
    );
    assert_eq!(after["backlog_packets"], 0, "{after}");
    eprintln!(
        "queue toward a under cubic at 20 Mbit/s: peak {max} packets, {} drops",
        after["drops"]
    );
}

/// A queue spec that tc refuses ends `up` with tc's own message, exit 1, and
/// nothing left behind, even where a lab stood before. fq_codel and cake
/// either work (and `status` and `queue` name them) or are refused the same
/// way, on a kernel without them.
#[test]
fn a_queue_tc_refuses_fails_cleanly() {
    if !can_run("a_queue_tc_refuses_fails_cleanly") {
        return;
    }
    let lab = Lab::up(&["--rate", "20M"]);
    let o = lab.netlab(&["up", "--rate", "20M", "--queue", "pfifo:99999999999"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains(r#"Illegal value for "limit""#),
        "not tc's message: {e}"
    );
    assert!(e.contains("removing"), "{e}");
    assert!(lab.namespaces().is_empty(), "a refused up left namespaces");

    for kind in ["fq_codel", "cake"] {
        if !up_if_the_kernel_has_it(&lab, &["--rate", "20M", "--queue", kind], kind) {
            continue;
        }
        let status = stdout(&lab.netlab_ok(&["status"]));
        assert!(status.contains(&format!("{kind} 3:")), "{status}");
        assert_eq!(lab.queue('b')["qdisc"], kind);
    }
}

/// The sampler's `--qdisc` reads the middle box's queue toward a from
/// outside the namespace, every 10 ms, while a cubic download fills it; a
/// namespace or an interface that is not there is named before any run.
#[test]
fn the_sampler_reads_the_queue_in_the_middle_box() {
    use ardei_lab::instruments::sampler::RunningSampler;
    use ardei_lab::net::qdisc::{QdiscError, QdiscTarget};
    if !can_run("the_sampler_reads_the_queue_in_the_middle_box") {
        return;
    }
    let lab = Lab::up(&["--rate", "20M", "--queue", "pfifo:200"]);
    let r = lab.ns('r');
    let bad: QdiscTarget = format!("{r}:no-such").parse().unwrap();
    assert!(
        matches!(bad.check(), Err(QdiscError::NoInterface { .. })),
        "{:?}",
        bad.check()
    );
    let gone: QdiscTarget = format!("{}-x:to-a", lab.prefix).parse().unwrap();
    assert!(matches!(gone.check(), Err(QdiscError::NoNamespace { .. })));
    let target: QdiscTarget = format!("{r}:to-a").parse().unwrap();
    target.check().expect("the middle box's queue toward a");

    let server = lab.server_in_b("198.18.0.2:0");
    let sampler =
        RunningSampler::start(Vec::new(), Duration::from_millis(10), Some(target)).unwrap();
    let v = lab.client_json_in_a(&server.target(), &["-t", "2s", "-C", "cubic"]);
    let t = sampler.stop();
    assert_eq!(v["verified"], true, "{v}");
    let queues: Vec<_> = t.samples.iter().filter_map(|s| s.queue).collect();
    assert!(
        queues.len() * 10 >= t.samples.len() * 9,
        "most readings failed"
    );
    let peak = queues.iter().map(|q| q.backlog_packets).max().unwrap_or(0);
    assert!((20..=200).contains(&peak), "peak backlog {peak} packets");
    let last = t.samples.last().unwrap().t;
    eprintln!(
        "sampler: {} samples in {last:.2} s (one due every 10 ms), queue peak {peak} packets, {} drops",
        t.samples.len(),
        queues.last().map_or(0, |q| q.drops)
    );
}

/// Bufferbloat, measured: `client --rpm` through 50 Mbit/s with a
/// 1000-packet pfifo (about 240 ms of queue when full) and with a 20-packet
/// one (about 5 ms). Four cubic downloads fill whichever queue there is, so
/// the long queue's loaded round trips are many times the short one's and
/// its RPM many times lower; the idle round trips are the same sub-ms
/// either way.
#[test]
fn rpm_falls_with_a_long_queue() {
    if !can_run("rpm_falls_with_a_long_queue") {
        return;
    }
    let run = |queue: &str| {
        let lab = Lab::up(&["--rate", "50M", "--queue", queue]);
        let server = lab.server_in_b("198.18.0.2:0");
        let args = [
            "--rpm", "-t", "4s", "--phases", "down", "-P", "4", "-C", "cubic",
        ];
        let v = lab.client_json_in_a(&server.target(), &args);
        let p50 = |k: &str| v[k]["p50"].as_f64().unwrap_or_else(|| panic!("{k}: {v}"));
        let rpm = v["rpm"].as_f64().expect("an RPM");
        let goodput = v["phases"][0]["goodput_bps"].as_f64().unwrap();
        eprintln!(
            "--rpm through 50 Mbit/s, {queue}: idle p50 {:.0} µs, loaded p50 {:.0} µs, RPM {rpm:.0}, goodput {goodput:.0} bit/s",
            p50("idle_rtt_us"),
            p50("loaded_rtt_us")
        );
        assert!(
            goodput > 30e6,
            "{queue}: the load did not fill the link: {v}"
        );
        assert!(p50("idle_rtt_us") < 5_000.0, "{queue}: {v}");
        (p50("loaded_rtt_us"), rpm)
    };
    let (long_rtt, long_rpm) = run("pfifo:1000");
    let (short_rtt, short_rpm) = run("pfifo:20");
    assert!(
        long_rtt > 40_000.0,
        "a full 1000-packet queue took {long_rtt} µs"
    );
    assert!(
        short_rtt < 20_000.0,
        "a 20-packet queue took {short_rtt} µs"
    );
    assert!(
        long_rtt > 4.0 * short_rtt,
        "{long_rtt} µs against {short_rtt} µs"
    );
    assert!(
        short_rpm > 5.0 * long_rpm,
        "RPM {short_rpm:.0} against {long_rpm:.0}"
    );
}

/// `client --sample 10ms --qdisc R:to-a` on a download through 50 Mbit/s
/// and a 1000-packet pfifo: the queue toward a (the middle box's egress to
/// the receiver) fills under cubic in the timeline's samples, and the RTT
/// the receiver measures follows what the backlog predicts. The target is
/// within 10 % at the median; a loaded machine's timing moves it, so the
/// test asks for a third and prints what it measured.
#[test]
fn the_timeline_s_rtt_follows_the_queue_it_watches() {
    if !can_run("the_timeline_s_rtt_follows_the_queue_it_watches") {
        return;
    }
    let lab = Lab::up(&["--rate", "50mbit", "--queue", "pfifo:1000"]);
    let server = lab.server_in_b("198.18.0.2:0");
    let qdisc = format!("{}:to-a", lab.ns('r'));
    // A receiver starved of CPU by the tests around it reads slowly, and
    // its window, not the queue, then holds the sender back: such a run
    // says nothing of the queue, so it is run again, up to three times.
    let mut peaks = Vec::new();
    let (v, backlog, peak) = loop {
        let v = lab.client_json_in_a(
            &server.target(),
            &[
                "-t", "4s", "-C", "cubic", "--sample", "10ms", "--qdisc", &qdisc,
            ],
        );
        assert_eq!(v["verified"], true, "{v}");
        let t = &v["timeline"];
        assert_eq!(t["qdisc"], qdisc.as_str());
        let samples = t["samples"].as_array().expect("samples");
        let backlog: Vec<u64> = samples
            .iter()
            .filter_map(|s| s["queue"]["backlog_packets"].as_u64())
            .collect();
        assert!(
            backlog.len() * 10 >= samples.len() * 9,
            "most queue readings failed"
        );
        let peak = backlog.iter().copied().max().unwrap_or(0);
        assert!(peak <= 1000, "peak backlog {peak} packets");
        peaks.push(peak);
        if peak >= 300 {
            break (v, backlog, peak);
        }
        assert!(
            peaks.len() < 3,
            "the queue never filled: peaks {peaks:?} packets"
        );
    };
    let samples = v["timeline"]["samples"].as_array().expect("samples");
    let first_high = backlog.iter().position(|&p| p * 2 >= peak).unwrap();
    assert!(
        backlog[..first_high].iter().any(|&p| p * 4 <= peak),
        "no growth seen before the backlog reached half its peak: {backlog:?}"
    );
    let c = &v["queue_check"];
    assert_eq!(c["bottleneck_bps"], 50_000_000, "{c}");
    assert_eq!(c["measured_from"], "tcp_info", "{c}");
    assert!(c["samples"].as_u64().unwrap() >= 100, "{c}");
    let predicted = c["predicted_ms"].as_f64().expect("a prediction");
    let measured = c["measured_ms"].as_f64().expect("a measurement");
    assert!(predicted > 20.0, "a full queue predicts more: {c}");
    assert!(
        (measured - predicted).abs() <= predicted / 3.0,
        "measured {measured:.1} ms against {predicted:.1} ms predicted: {c}"
    );
    eprintln!(
        "queue check through 50 Mbit/s and pfifo:1000: predicted {predicted:.1} ms, measured {measured:.1} ms ({:+.1} %), peak backlog {peak} packets, {} samples",
        c["difference_pct"].as_f64().unwrap_or(f64::NAN),
        samples.len()
    );
}

/// A stamped stream's offset, in `v` of run `what`, against the clock the
/// two namespaces share: the true offset is 0, and every run's estimate
/// must lie within its bound of it, the bound under 100 µs.
fn shared_clock(v: &serde_json::Value, what: &str) {
    let t = &v["timestamps"];
    assert_eq!(t["kind"], "software", "{t}");
    let offset = t["clock_offset_us"].as_f64().unwrap();
    let bound = t["offset_bound_us"].as_f64().unwrap();
    let drift = t["offset_drift_us"].as_f64().unwrap();
    assert!(
        offset.abs() <= bound,
        "{what}: offset {offset} ± {bound} µs"
    );
    assert!(bound < 100.0, "{what}: bound {bound} µs");
    assert!(drift.abs() <= 2.0 * bound, "{what}: {t}");
    let p = &t["one_way_delay_us"];
    assert!(p["count"].as_u64().unwrap() >= 50, "{t}");
    assert!(p["p50"].as_f64().unwrap() > 0.0, "{t}");
    eprintln!(
        "{what}: offset {offset:.2} ± {bound:.2} µs, one-way p50 {} µs",
        p["p50"]
    );
}

#[test]
fn a_stamped_stream_between_two_hosts_finds_their_shared_clock_within_its_bound() {
    if !can_run("a_stamped_stream_between_two_hosts_finds_their_shared_clock_within_its_bound") {
        return;
    }
    let lab = Lab::up(&[]);
    for bind in ["198.18.0.2:0", "[2001:2::2]:0"] {
        let server = lab.server_in_b(bind);
        for run in 0..3 {
            let args = ["--stream", "2ms", "--count", "100", "--timestamps"];
            let v = lab.client_json_in_a(&server.target(), &args);
            shared_clock(&v, &format!("tcp {bind} run {run}"));
        }
    }
}

/// `client --rpm --qdisc R:to-a` through 50 Mbit/s and a 1000-packet pfifo:
/// one download phase of four cubic flows fills the queue toward a (the
/// receiver), and within that phase the probes' round trips follow what
/// the backlog predicts. The target is within 10 % at the median; as in the
/// transfer's timeline test, a loaded machine's timing moves it, so the
/// test asks for a third, prints what it measured, and runs again (up to
/// three times) when a receiver starved of CPU kept the queue from forming.
/// The UDP probes' round trips split on the namespaces' one clock put the
/// download's delay on the way down, where the queue is.
#[test]
fn the_rpm_timeline_s_probes_follow_the_queue_in_the_loaded_phase() {
    if !can_run("the_rpm_timeline_s_probes_follow_the_queue_in_the_loaded_phase") {
        return;
    }
    let lab = Lab::up(&["--rate", "50mbit", "--queue", "pfifo:1000"]);
    let server = lab.server_in_b("198.18.0.2:0");
    let _udp = lab.server_in_b_with(&server.target(), &["--udp"]);
    let qdisc = format!("{}:to-a", lab.ns('r'));
    let args = [
        "--rpm", "-t", "3s", "--phases", "down", "-P", "4", "-C", "cubic", "--sample", "10ms",
        "--qdisc", &qdisc,
    ];
    let mut peaks = Vec::new();
    let (v, peak) = loop {
        let v = lab.client_json_in_a(&server.target(), &args);
        let t = &v["timeline"];
        assert_eq!(t["qdisc"], qdisc.as_str());
        let spans = t["phases"].as_array().expect("phases");
        assert_eq!(spans.len(), 2, "idle and download: {spans:?}");
        let (a, b) = (
            spans[1]["start_t"].as_f64().unwrap(),
            spans[1]["end_t"].as_f64().unwrap(),
        );
        let peak = t["samples"]
            .as_array()
            .expect("samples")
            .iter()
            .filter(|s| (a..=b).contains(&s["t"].as_f64().unwrap()))
            .filter_map(|s| s["queue"]["backlog_packets"].as_u64())
            .max()
            .unwrap_or(0);
        assert!(peak <= 1000, "peak backlog {peak} packets");
        peaks.push(peak);
        if peak >= 300 {
            break (v, peak);
        }
        assert!(
            peaks.len() < 3,
            "the queue never filled: peaks {peaks:?} packets"
        );
    };
    assert!(v.get("queue_check").is_none(), "checked per phase only");
    assert!(
        v["idle"].get("queue_check").is_none(),
        "the idle phase loads no queue"
    );
    let c = &v["phases"][0]["queue_check"];
    assert_eq!(c["bottleneck_bps"], 50_000_000, "{c}");
    assert_eq!(c["measured_from"], "probes", "{c}");
    assert!(c["samples"].as_u64().unwrap() >= 20, "{c}");
    let predicted = c["predicted_ms"].as_f64().expect("a prediction");
    let measured = c["measured_ms"].as_f64().expect("a measurement");
    assert!(predicted > 20.0, "a full queue predicts more: {c}");
    assert!(
        (measured - predicted).abs() <= predicted / 3.0,
        "measured {measured:.1} ms against {predicted:.1} ms predicted: {c}"
    );
    // The namespaces read one clock: the offset holds 0 within its bound,
    // and the download's delay lies in the way down, toward the client,
    // where the queue is.
    let clock = &v["udp_clock"];
    let offset = clock["offset_us"].as_f64().expect("a clock estimate");
    let bound = clock["bound_us"].as_f64().unwrap();
    assert!(offset.abs() <= bound, "one clock: {clock}");
    let p = &v["phases"][0];
    assert_eq!(p["udp_split"], "available", "{p}");
    let up = p["udp_up_us"]["p50"].as_f64().unwrap();
    let down = p["udp_down_us"]["p50"].as_f64().unwrap();
    assert!(down > 20_000.0, "the queue's wait is on the way down: {p}");
    assert!(up * 10.0 < down, "up {up:.0} µs against down {down:.0} µs");
    eprintln!(
        "--rpm queue check through 50 Mbit/s and pfifo:1000, download phase: predicted {predicted:.1} ms, measured {measured:.1} ms ({:+.1} %), peak backlog {peak} packets; UDP up p50 {up:.0} µs, down p50 {down:.0} µs, clocks {offset:+.1} ± {bound:.1} µs",
        c["difference_pct"].as_f64().unwrap_or(f64::NAN),
    );
}

#[test]
fn a_stamped_udp_stream_between_two_hosts_finds_their_shared_clock_and_counts_lost_stamps() {
    if !can_run(
        "a_stamped_udp_stream_between_two_hosts_finds_their_shared_clock_and_counts_lost_stamps",
    ) {
        return;
    }
    let args = ["--udp", "--stream", "2ms", "--count", "100", "--timestamps"];
    {
        let lab = Lab::up(&[]);
        for bind in ["198.18.0.2:0", "[2001:2::2]:0"] {
            let server = lab.server_in_b_with(bind, &["--udp"]);
            for run in 0..3 {
                let v = lab.client_json_in_a(&server.target(), &args);
                shared_clock(&v, &format!("udp {bind} run {run}"));
                assert_eq!(v["timestamps"]["segments_missing"]["tx"], 0, "{v}");
            }
        }
    }
    // Half of the StreamStamps that carry four stamps (85 bytes of UDP)
    // dropped, and nothing else: each stamp rides in four, so about one in
    // sixteen is lost, and counted, with every segment still there.
    let lab = Lab::up(&["--loss", "50", "--loss-match", "udp length 85"]);
    let server = lab.server_in_b_with("198.18.0.2:0", &["--udp"]);
    let long = ["--udp", "--stream", "1ms", "--count", "400", "--timestamps"];
    let v = lab.client_json_in_a(&server.target(), &long);
    let t = &v["timestamps"];
    assert_eq!(v["datagrams"], 400, "{v}");
    assert!(lab.drops() > 0, "nothing dropped: {t}");
    let m = &t["segments_missing"];
    let (n, tx) = (
        t["segments_stamped"].as_u64().unwrap(),
        m["tx"].as_u64().unwrap(),
    );
    assert!(tx > 0 && tx < 100, "{t}");
    assert_eq!(n + tx + m["rx"].as_u64().unwrap(), 400, "{t}");
    eprintln!(
        "udp stamps through 50 % loss of StreamStamps: {tx} of 400 lost, {} dropped",
        lab.drops()
    );
}
