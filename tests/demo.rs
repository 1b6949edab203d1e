//! `ardei-lab demo`, the README's first command, runs the whole tour and
//! ends with its summary.

mod common;

#[test]
fn the_tour_runs_every_mode_and_sums_up() {
    // In a directory of its own: the tour writes its captures under
    // ./captures, which in the source tree holds the committed examples.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::bin())
        .arg("demo")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = common::stdout(&out);
    assert!(text.contains("== summary"), "{text}");
    for line in [
        "echo   tcp ipv4",
        "file   tcp ipv4",
        "stream tcp ipv4",
        "echo   udp ipv4",
        "file   udp ipv4",
        "stream udp ipv4",
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
    assert!(text.contains("every byte verified"));
    assert!(!text.contains("NOT verified"));
    // A model capture per step, each readable to its end.
    for name in [
        "tcp4-echo",
        "tcp4-file",
        "tcp4-stream",
        "udp4-echo",
        "udp4-file",
        "udp4-stream",
    ] {
        let path = dir.path().join(format!("captures/demo-{name}.pcapng"));
        let summary = ardei_lab::pcap::summarize_path(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(summary.frames > 0, "{}: no frame", path.display());
    }
}
