//! `ardei-lab demo`, the README's first command, runs the whole tour and
//! ends with its summary.

mod common;

#[test]
fn the_tour_runs_every_mode_and_sums_up() {
    let out = std::process::Command::new(common::bin())
        .arg("demo")
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
}
