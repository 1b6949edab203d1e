//! `--find-rate`: the search for the fastest UDP rate that loses nothing
//! (RFC 2544 §26.1), end to end with real processes and sockets on
//! loopback and short trials: its trials and result in the text and the
//! JSON (validated against the schema), a search whose every trial loses,
//! and the usage errors.

mod common;

use common::*;

fn n(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn a_search_finds_a_rate_that_its_trials_bracket() {
    let s = Server::v4(&["--udp"]);
    let (out, v) = s.client_json(&[
        "--udp",
        "--find-rate",
        "--trial",
        "300ms",
        "--segment-size",
        "1472",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let f = &v["find_rate"];
    assert_eq!(f["loss_target"], 0.0);
    assert_eq!(f["resolution"], 0.01);
    assert_eq!(f["direction"], "download");
    // The receiver ran at SCHED_FIFO (these tests run as root), or says
    // why not.
    let priority = f["receiver_priority"].as_str().unwrap();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // SAFETY: geteuid has no preconditions.
    if cpus >= 2 && unsafe { libc::geteuid() } == 0 {
        assert_eq!(priority, "SCHED_FIFO priority 10", "{f}");
    } else {
        assert!(priority.starts_with("normal priority ("), "{f}");
    }
    let trials = f["trials"].as_array().unwrap();
    assert!(!trials.is_empty(), "{f}");
    assert_eq!(trials[0]["unpaced"], true, "{f}");
    let rate = n(&f["rate_bps"]);
    // Every trial's counts add up and are judged by the loss target; the
    // answer is the fastest passing offered rate, and the failing one (if
    // any) is within 1 % above it.
    let mut fastest_pass = 0;
    for t in trials {
        assert!(n(&t["lost"]) <= n(&t["sent"]), "{t}");
        assert_eq!(t["passed"], n(&t["lost"]) == 0, "{t}");
        if t["passed"] == true {
            fastest_pass = fastest_pass.max(n(&t["offered_bps"]));
        }
    }
    assert_eq!(rate, fastest_pass, "{f}");
    if let Some(fail) = f["failed_bps"].as_u64() {
        assert!(
            fail > rate && (fail - rate) as f64 <= rate as f64 * 0.01,
            "{f}"
        );
    }
    // The rest is the report of a trial that passed: nothing lost.
    assert_eq!(v["lost"], 0, "{v}");
    assert_eq!(v["verified"], true);
    let text = String::from_utf8_lossy(
        &s.client(&["--udp", "--find-rate", "--trial", "200ms"])
            .stdout,
    )
    .to_string();
    assert!(text.contains("trial  1: offered         unpaced"), "{text}");
    let (out, v) = s.client_json(&["--udp", "--find-rate", "--trial", "200ms", "--no-realtime"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        v["find_rate"]["receiver_priority"],
        "normal priority (--no-realtime)"
    );
    assert!(
        text.contains("throughput (RFC 2544 §26.1, no loss): "),
        "{text}"
    );
}

#[test]
fn a_loss_target_and_uploads_are_searched_too() {
    let s = Server::v4(&["--udp"]);
    let (out, v) = s.client_json(&[
        "--udp",
        "--find-rate",
        "--upload",
        "--trial",
        "200ms",
        "--loss-target",
        "5",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let f = &v["find_rate"];
    assert_eq!(f["loss_target"], 5.0);
    assert_eq!(f["direction"], "upload");
    assert_eq!(
        f["receiver_priority"],
        "normal priority (the server receives an upload)"
    );
    for t in f["trials"].as_array().unwrap() {
        let loss = t["loss_percent"].as_f64().unwrap();
        assert_eq!(t["passed"], loss <= 5.0, "{t}");
    }
    assert!(n(&f["rate_bps"]) > 0, "{f}");
}

/// A receiver with the smallest receive buffer and no GRO loses 64-byte
/// datagrams even at the search's lowest rate: no rate is reported, the
/// trials are, and the client exits 1.
#[test]
fn a_search_whose_every_trial_loses_says_so_and_exits_1() {
    let s = Server::v4(&["--udp"]);
    let args = [
        "--udp",
        "--find-rate",
        "--trial",
        "300ms",
        "--segment-size",
        "64",
        "--no-gro",
        "--rcvbuf",
        "1",
    ];
    let (out, v) = s.client_json(&args);
    if out.status.success() {
        // A machine quick enough to take even this: nothing to prove here.
        eprintln!("the lowest rate lost nothing: {}", v["find_rate"]);
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("every trial lost more"),
        "{v}"
    );
    let f = &v["find_rate"];
    assert!(f["rate_bps"].is_null(), "{f}");
    let trials = f["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 2, "{f}");
    assert!(trials.iter().all(|t| t["passed"] == false), "{f}");
    let out = s.client(&args[..]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("trial  1: offered         unpaced"), "{err}");
    assert!(err.contains("trial  2: offered"), "{err}");
}

#[test]
fn find_rate_with_rate_tcp_or_a_stream_is_a_usage_error() {
    let s = Server::v4(&["--udp"]);
    for (args, says) in [
        (
            &["--udp", "--find-rate", "--rate", "1M"][..],
            "leave --rate out",
        ),
        (&["--find-rate"][..], "add --udp"),
        (&["--udp", "--find-rate", "--stream", "5ms"][..], "--stream"),
        (&["--udp", "--find-rate", "-t", "1s"][..], "--trial"),
        (&["--udp", "--find-rate", "-P", "2"][..], "one flow"),
    ] {
        let out = s.client(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    for args in [
        &["--udp", "--file", "1M", "--trial", "1s"][..],
        &["--udp", "--find-rate", "--loss-target", "101"],
    ] {
        let out = s.client(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}
