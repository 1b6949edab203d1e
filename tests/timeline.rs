//! `--timeline`, `--sample DUR`, `--qdisc` and `--plot-timeline` on
//! loopback: real servers and client processes, every flow's TCP_INFO
//! sampled while the transfer runs, the JSON checked against its schema,
//! the chart parsed as XML, and the flags that cannot go with a run
//! refused with status 2. The queue itself is tested in tests/netlab.rs,
//! where there is one to watch.

mod common;

use common::*;

/// Checks the timeline of `v`: `flows` flows in the given directions,
/// samples in time order on a 10 ms grid, each flow read, moving bytes
/// somewhere, and no queue.
fn assert_timeline(v: &serde_json::Value, directions: &[&str]) {
    let t = &v["timeline"];
    assert_eq!(t["sample_us"], 10_000, "{t}");
    let dirs: Vec<&str> = t["directions"]
        .as_array()
        .expect("directions")
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(dirs, directions);
    let samples = t["samples"].as_array().expect("samples");
    let seconds = v["seconds"].as_f64().unwrap();
    // One due every 10 ms; a loaded 2-core machine may be late for some.
    assert!(
        samples.len() as f64 >= seconds * 100.0 * 0.5,
        "{} samples in {seconds} s",
        samples.len()
    );
    let times: Vec<f64> = samples.iter().map(|s| s["t"].as_f64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    for (i, _) in directions.iter().enumerate() {
        let read: Vec<&serde_json::Value> = samples
            .iter()
            .map(|s| &s["flows"][i])
            .filter(|f| !f.is_null())
            .collect();
        assert!(
            read.len() * 10 >= samples.len() * 9,
            "flow {i} mostly unread"
        );
        assert!(read.iter().all(|f| f["cwnd"].as_u64().unwrap() > 0));
        assert!(
            read.iter()
                .any(|f| f["goodput_bps"].as_f64().unwrap_or(0.0) > 0.0),
            "flow {i} never moved a byte"
        );
    }
    assert!(samples.iter().all(|s| s.get("queue").is_none()));
    assert!(v.get("queue_check").is_none(), "{v}");
}

#[test]
fn a_timed_download_is_sampled_every_10_ms() {
    let s = Server::v4(&[]);
    let (out, v) = s.client_json(&["-t", "1s", "--sample", "10ms"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["verified"], true);
    assert_timeline(&v, &["download"]);
    let text = s.client(&["-t", "300ms", "--timeline"]);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = stdout(&text);
    assert!(
        text.contains("timeline: ") && text.contains("flow 1 (download): RTT"),
        "{text}"
    );
}

#[test]
fn every_flow_of_a_bidir_run_is_sampled() {
    let s = Server::v4(&[]);
    let (out, v) = s.client_json(&["-t", "1s", "-P", "2", "--bidir", "--timeline"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_timeline(&v, &["download", "download", "upload", "upload"]);
}

#[test]
fn an_upload_file_draws_its_timeline() {
    let s = Server::v4(&[]);
    let dir = std::env::temp_dir().join(format!("ardei-timeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("upload.svg");
    let (out, v) = s.client_json(&[
        "--file",
        "100M",
        "--upload",
        "--plot-timeline",
        svg.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["timeline"]["directions"][0], "upload", "{v}");
    let text = std::fs::read_to_string(&svg).expect("the SVG was written");
    let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    for want in ["RTT (ms)", "cwnd (segments)", "time (s)", "flow 1 (upload)"] {
        assert!(texts.contains(&want), "no {want:?} in {texts:?}");
    }
    assert!(texts.iter().any(|t| t.starts_with("goodput (")));
    assert!(doc.descendants().any(|n| n.has_tag_name("polyline")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn timeline_flags_without_a_tcp_file_or_a_readable_queue_are_usage_errors() {
    let s = Server::v4(&[]);
    for (args, says) in [
        (
            &["--echo", "hi", "--timeline"][..],
            "--timeline samples the flows of a TCP file",
        ),
        (
            &["--udp", "--file", "1M", "--sample", "10ms"][..],
            "--sample samples",
        ),
        (&["--file", "1M", "--sample", "500us"][..], "too short"),
        (
            &["--file", "1M", "--qdisc", "no-colon"][..],
            "expected NETNS:IFACE",
        ),
    ] {
        let out = s.client(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    // Root reads another namespace's queue: without it the error says so,
    // with it a namespace that is not there is named.
    let out = s.client(&["--file", "1M", "--qdisc", "ardei-no-such-ns:to-a"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let e = stderr(&out);
    if unsafe { libc::geteuid() } == 0 {
        assert!(e.contains("no network namespace 'ardei-no-such-ns'"), "{e}");
    } else {
        assert!(e.contains("needs root"), "{e}");
    }
}
