//! The progress bar: on a terminal for a file that lasts more than a
//! second, never on a pipe, never with --json. The terminal is a real
//! pseudo-terminal from `script(1)`. The file is a paced UDP file, so that
//! it lasts about two seconds however fast the machine is (a TCP file of
//! gigabytes may end before the bar's first second on a fast one).

mod common;

use std::process::Command;

use common::*;

/// Runs `command` on a pseudo-terminal; what the terminal showed.
fn on_a_terminal(command: &str) -> Option<String> {
    let out = Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_bar_on_a_terminal_only() {
    let s = Server::v4(&["--udp"]);
    // 64 MiB at 256 Mbit/s: 2.1 s.
    let client = |extra: &str| {
        format!(
            "{} client {} --udp --file 64M --rate 256M {extra} > /dev/null",
            bin(),
            s.target()
        )
    };
    let Some(tty) = on_a_terminal(&client("")) else {
        assert!(std::env::var_os("CI").is_none(), "CI must have script(1)");
        eprintln!("note: script(1) missing: skipped");
        return;
    };
    assert!(
        tty.contains("MiB/64.00 MiB"),
        "no progress bar on a terminal: {tty:?}"
    );
    assert!(tty.contains("eta"), "{tty:?}");
    // --json sends the report to stdout (here /dev/null) and never draws.
    let tty = on_a_terminal(&client("--json")).unwrap();
    assert!(!tty.contains("MiB/64.00 MiB"), "a bar with --json: {tty:?}");
    // On a pipe: no bar either.
    let out = s.client(&["--udp", "--file", "64M", "--rate", "256M"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("MiB/64.00 MiB"));
}
