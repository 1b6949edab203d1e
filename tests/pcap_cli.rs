//! `ardei-lab pcap summary` and `pcap plot` from the command line: the
//! contract's JSON keys, tshark's counts, a time-sequence graph drawn, and a
//! clear word on damaged files and flows that do not fit.

mod common;

use std::process::Command;

fn summary(args: &[&str]) -> std::process::Output {
    Command::new(common::bin())
        .args(["pcap", "summary"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn json_keys_and_tshark_counts_for_every_corpus_file() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
    for name in [
        "lo-tcp4-iperf3.pcapng",
        "lo-udp4-iperf3-snap96.pcap",
        "netlab-tcp4-loss5.pcap",
        "veth-tcp4-100000.pcap",
        "veth-tcp6-50000.pcap",
        "veth-udp4-frag.pcap",
        "veth-udp6-frag.pcap",
    ] {
        let path = format!("{dir}/{name}");
        let out = summary(&[&path, "--json"]);
        assert!(out.status.success(), "{name}: {}", common::stderr(&out));
        let v: serde_json::Value = common::parse_json(&out.stdout).unwrap();
        let stem = name.rsplit_once('.').unwrap().0;
        let want: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{dir}/{stem}.tshark.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(v["frames"], want["frames"], "{name}");
        assert_eq!(v["bytes"], want["bytes_captured"], "{name}");
        for k in ["valid", "partial", "bad"] {
            assert!(v["checksums"][k].is_u64(), "{name}: checksums.{k}");
        }
        for f in v["flows"].as_array().unwrap() {
            for k in [
                "src",
                "dst",
                "transport",
                "frames",
                "bytes",
                "payload_bytes",
            ] {
                assert!(f.get(k).is_some(), "{name}: flow without {k}");
            }
        }
        let text = summary(&[&path]);
        assert!(common::stdout(&text).contains("frames"), "{name}");
    }
}

#[test]
fn damaged_and_missing_files_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/corpus/veth-tcp4-100000.pcap"
    ))
    .unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &whole[..50_000]).unwrap();
    let out = summary(&[cut.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        common::stderr(&out).contains("middle of a record"),
        "{}",
        common::stderr(&out)
    );
    let v: serde_json::Value = common::parse_json(&out.stdout).unwrap();
    assert!(v["frames"].as_u64().unwrap() > 0);

    let junk = dir.path().join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture at all").unwrap();
    let out = summary(&[junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!common::stderr(&out).is_empty());

    let out = summary(&["/nonexistent/file.pcap"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(common::stderr(&out).contains("/nonexistent/file.pcap"));
}

/// A file cut before its first frame (empty, or inside the pcap file header
/// or the pcapng section header) is named as such, not as a cut record.
#[test]
fn a_file_cut_before_any_frame_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
    let pcap = std::fs::read(format!("{corpus}/veth-tcp4-100000.pcap")).unwrap();
    let pcapng = std::fs::read(format!("{corpus}/lo-tcp4-iperf3.pcapng")).unwrap();
    for (name, bytes, want) in [
        ("empty.pcap", &pcap[..0], "empty file"),
        ("magic.pcap", &pcap[..3], "inside its file header"),
        ("header.pcap", &pcap[..20], "inside its pcap file header"),
        (
            "section.pcapng",
            &pcapng[..12],
            "inside its pcapng section header",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = summary(&[path.to_str().unwrap(), "--json"]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = common::stderr(&out);
        assert!(err.contains(want), "{name}: {err}");
        assert!(!err.contains("record"), "{name}: {err}");
        let v: serde_json::Value = common::parse_json(&out.stdout).unwrap();
        assert!(v["error"].as_str().unwrap().contains(want), "{name}: {v}");
    }
}

fn pcap(args: &[&str]) -> std::process::Output {
    Command::new(common::bin())
        .arg("pcap")
        .args(args)
        .output()
        .expect("run ardei-lab pcap")
}

/// `pcap plot --tsg` writes an SVG of the busiest TCP flow or of the one
/// asked for, in the lab's model and live captures and in tshark's, and
/// says what it drew; a flow number that does not fit is a usage error (2),
/// a capture without TCP a failure (1), and neither writes a file.
#[test]
fn pcap_plot_draws_a_time_sequence_graph() {
    let dir = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    for (file, flow, want) in [
        (
            "tests/corpus/netlab-tcp4-loss5.pcap",
            None,
            "flow 2 (198.18.0.2:5005 to 198.18.0.1:35635): 219 data segments, 10 retransmitted",
        ),
        ("tests/corpus/lo-tcp4-iperf3.pcapng", Some("3"), "flow 3 "),
        ("captures/netlab-tcp4-file.pcapng", None, "0 retransmitted"),
        (
            "captures/netlab-tcp4-file-live.pcapng",
            None,
            "0 retransmitted",
        ),
    ] {
        let svg = dir.path().join("tsg.svg");
        let _ = std::fs::remove_file(&svg);
        let path = format!("{root}/{file}");
        let mut args = vec![path.as_str(), "--tsg", svg.to_str().unwrap()];
        args.extend(flow.iter().flat_map(|f| ["--flow", *f]));
        let out = pcap(&[&["plot"], &args[..]].concat());
        assert!(out.status.success(), "{file}: {}", common::stderr(&out));
        assert!(
            common::stdout(&out).contains(want),
            "{file}: {}",
            common::stdout(&out)
        );
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(
            text.starts_with("<svg") && text.trim_end().ends_with("</svg>"),
            "{file}"
        );
        for label in [
            "time (s)",
            "relative sequence number",
            "ACK",
            "receive window",
        ] {
            assert!(text.contains(label), "{file}: no {label:?}");
        }
    }

    let corpus = format!("{root}/tests/corpus");
    let svg = dir.path().join("refused.svg");
    let out_path = svg.to_str().unwrap();
    for (args, code, says) in [
        (
            vec![
                format!("{corpus}/lo-tcp4-iperf3.pcapng"),
                "--flow".into(),
                "9".into(),
            ],
            2,
            "the capture has 4 flow(s)",
        ),
        (
            vec![
                format!("{corpus}/lo-tcp4-iperf3.pcapng"),
                "--flow".into(),
                "4".into(),
            ],
            2,
            "try --flow 3",
        ),
        (
            vec![
                format!("{corpus}/lo-tcp4-iperf3.pcapng"),
                "--flow".into(),
                "0".into(),
            ],
            2,
            "0 is not in 1..",
        ),
        (
            vec![format!("{corpus}/veth-udp4-frag.pcap")],
            1,
            "no TCP flow",
        ),
        (
            vec![
                format!("{corpus}/veth-udp4-frag.pcap"),
                "--flow".into(),
                "1".into(),
            ],
            1,
            "no TCP flow",
        ),
        (
            vec!["/nonexistent/file.pcap".into()],
            1,
            "/nonexistent/file.pcap",
        ),
    ] {
        let mut all: Vec<&str> = vec!["plot", "--tsg", out_path];
        all.extend(args.iter().map(String::as_str));
        let out = pcap(&all);
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!svg.exists(), "{args:?} wrote a file");
    }
}
