//! Several flows at once (`-P N`, `--bidir`): real servers on ephemeral
//! loopback ports, real client processes; every flow verified, summed, and
//! a failed flow failing the run with what each flow got.

mod common;

use common::*;

/// Asserts `v` is the report of `n` verified download flows of `size` bytes.
fn assert_flows(v: &serde_json::Value, n: u64, size: u64) {
    assert_eq!(v["mode"], "file", "{v}");
    assert_eq!(v["direction"], "download", "{v}");
    assert_eq!(v["bytes"], n * size, "{v}");
    assert_eq!(v["verified"], true, "{v}");
    assert!(v["goodput_bps"].as_f64().unwrap() > 0.0, "{v}");
    let flows = v["flows"].as_array().expect("a flows array");
    assert_eq!(flows.len() as u64, n, "{v}");
    for (i, f) in flows.iter().enumerate() {
        assert_eq!(f["flow"], i as u64 + 1, "{f}");
        assert_eq!(f["direction"], "download", "{f}");
        assert_eq!(f["bytes"], size, "{f}");
        assert_eq!(f["verified"], true, "{f}");
        assert!(f["seconds"].as_f64().unwrap() > 0.0, "{f}");
        assert!(f["goodput_bps"].as_f64().unwrap() > 0.0, "{f}");
    }
    let sum: u64 = flows.iter().map(|f| f["bytes"].as_u64().unwrap()).sum();
    assert_eq!(v["bytes"], sum);
    let wall = v["seconds"].as_f64().unwrap();
    let longest = flows
        .iter()
        .map(|f| f["seconds"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!(
        wall >= longest,
        "the sum's time runs to the last flow's end: {v}"
    );
    let cpu = &v["cpu"]["client"];
    assert!(cpu["wall_seconds"].as_f64().unwrap() > 0.0, "{v}");
    assert!(
        v.get("download").is_none() && v.get("upload").is_none(),
        "{v}"
    );
}

#[test]
fn four_tcp_flows_sum_four_verified_files() {
    let s = Server::v4(&[]);
    let (out, v) = s.client_json(&["--file", "4M", "-P", "4"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_flows(&v, 4, 4 << 20);
}

#[test]
fn four_udp_flows_sum_four_verified_files() {
    let s = Server::v4(&["--udp"]);
    let (out, v) = s.client_json(&["--udp", "--file", "4M", "-P", "4", "--rate", "300M"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_flows(&v, 4, 4 << 20);
    assert_eq!(v["transport"], "udp");
    assert_eq!(v["lost"], 0, "{v}");
}

#[test]
fn the_text_report_has_a_line_per_flow_and_the_sum() {
    let s = Server::v4(&[]);
    let out = s.client(&["--file", "1M", "--parallel", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for id in [
        "[  1] download",
        "[  2] download",
        "[  3] download",
        "[SUM] download",
    ] {
        assert!(text.contains(id), "no {id}:\n{text}");
    }
    assert!(
        text.contains("3.00 MiB (3145728 bytes) received, every byte verified"),
        "{text}"
    );
    assert!(text.contains("  CPU client "), "{text}");
}

#[test]
fn intervals_come_per_flow_with_a_sum() {
    let s = Server::v4(&[]);
    let out = s.client(&["--file", "64M", "-P", "2", "-i", "10ms", "--rate", "2G"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("[  1] [   0.00-"), "{text}");
    assert!(text.contains("[  2] [   0.00-"), "{text}");
    assert!(text.contains("[SUM] [   0.00-"), "{text}");
    let out = s.client(&[
        "--file",
        "64M",
        "-P",
        "2",
        "-i",
        "10ms",
        "--rate",
        "2G",
        "--json-stream",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let per_flow: u64 = lines
        .iter()
        .filter(|l| l.get("flow").is_some())
        .map(|l| l["interval"]["bytes"].as_u64().unwrap())
        .sum();
    let sums: u64 = lines
        .iter()
        .filter_map(|l| l.get("sum"))
        .map(|i| i["bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(per_flow, 128 << 20, "every byte in some flow's interval");
    assert_eq!(sums, 128 << 20, "every byte in some sum");
    assert!(lines.iter().any(|l| l["flow"] == 2));
    let last = lines.last().unwrap();
    assert_eq!(last["summary"]["bytes"], 128 << 20);
    assert_eq!(last["summary"]["flows"].as_array().unwrap().len(), 2);
}

#[test]
fn a_server_refuses_flows_beyond_its_per_client_cap_and_the_client_says_which_ran() {
    let s = Server::v4(&["--max-per-client", "2"]);
    let (out, v) = s.client_json(&["--file", "1M", "-P", "4"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(" of 4 failed (flows "), "{err}");
    assert!(err.contains("ran to the end)"), "{err}");
    assert!(
        err.contains("2 sessions at once from 127.0.0.1 (--max-per-client)"),
        "{err}"
    );
    let flows = v["flows"].as_array().expect("each flow's fate");
    assert_eq!(flows.len(), 4);
    let ran = flows.iter().filter(|f| f["verified"] == true).count();
    let refused = flows
        .iter()
        .filter(|f| f["error"].as_str().is_some_and(|e| e.contains("busy")))
        .count();
    assert_eq!((ran, refused), (2, 2), "{v}");
    assert!(v["bytes"].is_null(), "no partial sum: {v}");
    // The slots come back once the flows have ended.
    s.assert_alive();
    let (out, _) = s.client_json(&["--file", "1M", "-P", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn one_flow_is_reported_as_before_with_its_direction() {
    let s = Server::v4(&[]);
    let (out, v) = s.client_json(&["--file", "1M"]);
    assert!(out.status.success());
    assert_eq!(v["direction"], "download");
    assert!(v.get("flows").is_none(), "{v}");
    // A transfer reports both sides' CPU over its window, one flow or many.
    assert!(
        v["cpu"]["client"].is_object() && v["cpu"]["server"].is_object(),
        "{v}"
    );
    let (_, v) = s.client_json(&["--echo", "x"]);
    assert!(v.get("direction").is_none(), "{v}");
}

#[test]
fn bad_flow_flags_are_usage_errors_that_say_the_range_or_the_choices() {
    let cases: &[(&[&str], &str)] = &[
        (&["--file", "1M", "-P", "0"], "0 is not in 1..=128"),
        (&["--file", "1M", "-P", "129"], "129 is not in 1..=128"),
        (&["-t", "0"], "--time <DUR>"),
        (&["--file", "1M", "--dscp", "64"], "64 is not in 0..=63"),
        (
            &["--file", "1M", "--upload", "--bidir"],
            "cannot be used with",
        ),
        (&["--echo", "x", "-P", "2"], "-P goes with a file transfer"),
        (
            &["--stream", "5ms", "-t", "1s"],
            "-t goes with a file transfer",
        ),
        (
            &["--echo", "x", "--upload"],
            "--upload goes with a file transfer",
        ),
        (&["--file", "1M", "-C", "no-such-cc"], "choose one of"),
    ];
    for (args, said) in cases {
        let out = client("127.0.0.1:9", args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(said), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn a_udp_server_refuses_transfers_beyond_its_per_client_cap() {
    let s = Server::v4(&["--udp", "--max-per-client", "2"]);
    // Paced, so that the first two are still running when the others ask.
    let (out, v) = s.client_json(&["--udp", "--file", "2M", "-P", "4", "--rate", "100M"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let flows = v["flows"].as_array().expect("each flow's fate");
    let ran = flows.iter().filter(|f| f["verified"] == true).count();
    assert_eq!(ran, 2, "{v}");
    assert!(
        stderr(&out).contains("(--max-per-client)"),
        "{}",
        stderr(&out)
    );
}
