//! `ardei-lab pcap summary` from the command line: the contract's JSON keys,
//! tshark's counts, and a clear word on damaged files.

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
