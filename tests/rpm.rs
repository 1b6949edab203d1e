//! `client --rpm` against real servers on loopback: short phases, the JSON
//! checked against schema/client-rpm.json, the UDP probes with a UDP server
//! on the same port and without one, and the usage errors.

mod common;

use std::process::Command;

use common::*;

/// A TCP server on an ephemeral port and, with `udp`, a UDP server on the
/// same port number.
fn servers(udp: bool) -> (Server, Option<Server>) {
    let tcp = Server::v4(&[]);
    let udp = udp.then(|| {
        let mut cmd = Command::new(bin());
        cmd.args(["server", "--udp", "--bind", &tcp.target()]);
        Server::from_command(cmd)
    });
    (tcp, udp)
}

fn kinds(phase: &serde_json::Value) -> Vec<(String, u64, u64)> {
    phase["probes"]
        .as_array()
        .expect("a probes array")
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_string(),
                p["samples"].as_u64().unwrap(),
                p["lost"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn rpm_on_loopback_reports_every_phase_and_matches_its_schema() {
    let (tcp, _udp) = servers(true);
    let (out, v) = tcp.client_json(&["--rpm", "-t", "1s", "--phases", "down,up,bidir"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(v["mode"], "rpm", "{v}");
    assert_eq!(v["udp_probes"], "answered", "{v}");
    let rpm = v["rpm"].as_f64().expect("an RPM");
    assert!(rpm > 0.0, "{v}");
    assert!(["low", "medium", "high"].contains(&v["confidence"].as_str().unwrap()));
    assert!(
        v["rule"].as_str().unwrap().contains("trimmed")
            || v["rule"].as_str().unwrap().contains("TM")
    );
    assert_eq!(v["idle"]["direction"], "idle");
    assert_eq!(v["idle"]["flows"], 0);
    assert!(v["idle_rtt_us"]["count"].as_u64().unwrap() > 0, "{v}");
    assert!(v["loaded_rtt_us"]["count"].as_u64().unwrap() > 0, "{v}");
    let phases = v["phases"].as_array().unwrap();
    let dirs: Vec<&str> = phases
        .iter()
        .map(|p| p["direction"].as_str().unwrap())
        .collect();
    assert_eq!(dirs, ["download", "upload", "bidir"], "{v}");
    for p in phases {
        assert!(p["goodput_bps"].as_f64().unwrap() > 0.0, "{p}");
        assert!(p["flows"].as_u64().unwrap() >= 1, "{p}");
        let k = kinds(p);
        let names: Vec<&str> = k.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(names, ["connect", "echo", "udp", "self"], "{p}");
        for (name, samples, _) in &k {
            assert!(*samples > 0, "no {name} sample in {p}");
        }
        // RPM from the phase's own trimmed means, as the rule says.
        let tm = |kind: &str| {
            p["probes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["kind"] == kind)
                .unwrap()["trimmed_mean_us"]
                .as_f64()
                .unwrap()
        };
        let foreign = (tm("connect") + tm("echo") + tm("udp")) / 3.0;
        let d = 0.5 * foreign + 0.5 * tm("self");
        let want = 60e6 / d;
        let got = p["rpm"].as_f64().unwrap();
        assert!(
            (got - want).abs() <= 1e-6 * want,
            "{got} against {want}: {p}"
        );
    }
}

/// `--rpm --timeline`: one timeline across the idle phase and both loaded
/// ones, each flow labelled with its phase, every kind of probe in the
/// samples, the phases marked in order and the chart drawn with them.
#[test]
fn rpm_with_a_timeline_samples_every_phase_on_one_clock() {
    let (tcp, _udp) = servers(true);
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("rpm.svg");
    let svg_arg = svg.to_str().unwrap();
    let args = [
        "--rpm",
        "-t",
        "1s",
        "--phases",
        "down,up",
        "-P",
        "1",
        "--timeline",
        "--sample",
        "20ms",
        "--plot-timeline",
        svg_arg,
    ];
    let (out, v) = tcp.client_json(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let t = &v["timeline"];
    assert_eq!(t["sample_us"], 20_000, "{t}");
    let spans = t["phases"].as_array().expect("phases");
    let names: Vec<&str> = spans.iter().map(|p| p["phase"].as_str().unwrap()).collect();
    assert_eq!(names, ["idle", "download", "upload"]);
    let mut last = 0.0;
    for p in spans {
        let (a, b) = (p["start_t"].as_f64().unwrap(), p["end_t"].as_f64().unwrap());
        assert!(a >= last && b > a, "phases in order: {spans:?}");
        last = b;
    }
    assert_eq!(t["directions"], serde_json::json!(["download", "upload"]));
    assert_eq!(t["flow_phases"], serde_json::json!(["download", "upload"]));
    let samples = t["samples"].as_array().unwrap();
    assert!(samples.len() >= 50, "{} samples", samples.len());
    let kinds: std::collections::BTreeSet<&str> = samples
        .iter()
        .filter_map(|s| s["probes"].as_array())
        .flatten()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    for k in ["tcp_connect", "tcp_echo", "udp_echo", "self"] {
        assert!(kinds.contains(k), "no {k} probe in the samples: {kinds:?}");
    }
    // The download's flow is read in its phase and is a gap in the
    // upload's: each flow's readings lie within its own phase.
    let within = |i: usize, span: &serde_json::Value| {
        samples
            .iter()
            .filter(|s| s["flows"].get(i).is_some_and(|f| !f.is_null()))
            .all(|s| {
                let t = s["t"].as_f64().unwrap();
                t >= span["start_t"].as_f64().unwrap() - 0.05
                    && t <= span["end_t"].as_f64().unwrap() + 0.05
            })
    };
    assert!(within(0, &spans[1]) && within(1, &spans[2]), "{t}");
    assert!(
        samples
            .iter()
            .any(|s| s["flows"][0]["goodput_bps"].as_f64() > Some(0.0)),
        "the download's flow never moved in the samples"
    );
    // No --qdisc: no queue and no check.
    assert!(v.get("queue_check").is_none() && v["phases"][0].get("queue_check").is_none());
    let drawn = std::fs::read_to_string(&svg).unwrap();
    for name in ["idle", "download", "upload"] {
        assert!(drawn.contains(&format!("\n{name}\n")), "{name} not named");
    }
    assert!(
        !drawn.contains("queue (packets)"),
        "a queue panel without --qdisc"
    );
}

/// The UDP probes' round trips split up and down: client and server read
/// one clock here, so the estimated offset holds 0 within its bound, and a
/// phase is split (up and down each as many as its UDP probes, their
/// medians summing to about its round trip) or says why not.
#[test]
fn rpm_splits_the_udp_round_trips_on_loopback_s_one_clock() {
    let (tcp, _udp) = servers(true);
    let (out, v) = tcp.client_json(&["--rpm", "-t", "1s", "--phases", "down", "-P", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let c = &v["udp_clock"];
    let (offset, bound) = (
        c["offset_us"].as_f64().unwrap(),
        c["bound_us"].as_f64().unwrap(),
    );
    assert!(offset.abs() <= bound, "one clock: {c}");
    assert!(c["exchanges"].as_u64().unwrap() >= 20, "{c}");
    for p in std::iter::once(&v["idle"]).chain(v["phases"].as_array().unwrap()) {
        let split = p["udp_split"].as_str().unwrap();
        let udp = kinds(p).into_iter().find(|(n, _, _)| n == "udp").unwrap();
        if split == "available" {
            let (up, down) = (&p["udp_up_us"], &p["udp_down_us"]);
            assert_eq!(up["count"].as_u64(), Some(udp.1), "{p}");
            assert_eq!(down["count"].as_u64(), Some(udp.1), "{p}");
            let both = up["p50"].as_f64().unwrap() + down["p50"].as_f64().unwrap();
            assert!(
                both <= 4.0 * p["loaded_rtt_us"]["max"].as_f64().unwrap(),
                "{p}"
            );
        } else {
            assert!(split.starts_with("not available: "), "{p}");
            assert!(
                p["udp_up_us"].is_null() && p["udp_down_us"].is_null(),
                "{p}"
            );
        }
    }
}

#[test]
fn without_a_udp_server_the_udp_probes_are_left_out_and_said_so() {
    let (tcp, _) = servers(false);
    let (out, v) = tcp.client_json(&["--rpm", "-t", "1s", "--phases", "up", "-P", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let why = v["udp_probes"].as_str().unwrap();
    assert!(why.starts_with("not run"), "{v}");
    let p = &v["phases"][0];
    assert_eq!(p["flows"], 2, "-P 2 fixes the flows: {p}");
    let udp = kinds(p).into_iter().find(|(n, _, _)| n == "udp").unwrap();
    assert_eq!((udp.1, udp.2), (0, 0), "no UDP probe ran, none lost: {p}");
    assert!(v["udp_clock"].is_null(), "{v}");
    let split = p["udp_split"].as_str().unwrap();
    assert!(split.contains("no UDP probe came back"), "{p}");
    assert!(v["rpm"].as_f64().unwrap() > 0.0, "{v}");
}

#[test]
fn rpm_against_a_udp_only_server_is_a_clear_error() {
    let udp = Server::v4(&["--udp"]);
    let out = client(&udp.target(), &["--rpm", "-t", "1s"]);
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("nothing listens on") || e.contains("--rpm needs"),
        "{e}"
    );
}

#[test]
fn rpm_refuses_flags_it_does_not_go_with() {
    let t = "127.0.0.1:9";
    for (args, says) in [
        (&["--udp"][..], "leave --udp out"),
        (&["--upload"], "--phases"),
        (&["--bidir"], "--phases"),
        (&["--rate", "10M"], "leave --rate out"),
        (&["--json-stream"], "-i and --json-stream"),
        (
            &["--phases", "down,sideways"],
            "each phase is down, up or bidir",
        ),
    ] {
        let a = [&["--rpm"][..], args].concat();
        let out = client(t, &a);
        assert_eq!(out.status.code(), Some(2), "{a:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{a:?}: {}", stderr(&out));
    }
    // clap's own: --rpm is an action, and --phases needs it.
    for a in [
        &["--rpm", "--echo", "x"][..],
        &["--phases", "up", "-t", "1s"],
    ] {
        let out = client(t, a);
        assert_eq!(out.status.code(), Some(2), "{a:?}: {}", stderr(&out));
    }
}
