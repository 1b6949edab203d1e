//! The plan of `--rpm`: its defaults, what `-t`, `-P` and `--phases`
//! make of it, and the flags it refuses.

use std::time::Duration;

use clap::Parser;

use super::*;
use crate::cli::args::Cli;
use crate::client::rpm::RpmConfig;
use crate::responsiveness::{FlowPolicy, Load};

fn rpm(args: &[&str]) -> Result<RpmConfig, PlanError> {
    let mut all = vec!["ardei-lab", "client", "127.0.0.1:9", "--rpm"];
    all.extend(args);
    match Plan::build(Cli::try_parse_from(all).expect("parses").command)? {
        Plan::Client(ClientPlan {
            action: ClientAction::Rpm(c),
            ..
        }) => Ok(c),
        p => panic!("not --rpm: {p:?}"),
    }
}

#[test]
fn rpm_defaults_to_three_ten_second_phases_and_the_ramp() {
    let c = rpm(&[]).unwrap();
    assert_eq!(c.loads, [Load::Down, Load::Up, Load::Bidir]);
    assert_eq!(c.each, Duration::from_secs(10));
    assert_eq!(c.policy, FlowPolicy::Ramp);
}

#[test]
fn time_flows_and_phases_shape_the_run() {
    let c = rpm(&["-t", "3s", "-P", "4", "--phases", "up,down"]).unwrap();
    assert_eq!(c.loads, [Load::Up, Load::Down]);
    assert_eq!(c.each, Duration::from_secs(3));
    assert_eq!(c.policy, FlowPolicy::Fixed(4));
    // --json goes with it, as do the socket options and the marking.
    assert!(rpm(&["--json", "-C", "reno", "--dscp", "10", "--nodelay"]).is_ok());
}

#[test]
fn rpm_refuses_what_it_does_not_go_with() {
    for (flags, says) in [
        (&["--udp"][..], "--rpm loads the path with TCP flows"),
        (&["--upload"], "--phases down,up,bidir"),
        (&["--count", "3"], "spaces its own probes"),
        (&["-i", "1s"], "reports at the end"),
        (&["--pcap", "x.pcapng"], "records no captures"),
        (
            &["--phases", "down,left"],
            "\"left\": each phase is down, up or bidir",
        ),
    ] {
        let e = rpm(flags).expect_err("refused").to_string();
        assert!(e.contains(says), "{flags:?}: {e}");
    }
}

#[test]
fn rpm_takes_the_timeline_s_flags() {
    let plan = |args: &[&str]| {
        let mut all = vec!["ardei-lab", "client", "127.0.0.1:9", "--rpm"];
        all.extend(args);
        Plan::build(Cli::try_parse_from(all).expect("parses").command)
    };
    for flags in [
        &["--timeline"][..],
        &["--sample", "20ms"],
        &["--plot-timeline", "t.svg", "-t", "2s"],
    ] {
        let Ok(Plan::Client(p)) = plan(flags) else {
            panic!("{flags:?} refused");
        };
        assert!(matches!(p.action, ClientAction::Rpm(_)), "{flags:?}");
        let t = p.timeline.expect("a timeline");
        assert_eq!(t.sampling.queue, None);
        if flags[0] == "--sample" {
            assert_eq!(t.sampling.interval, Duration::from_millis(20));
        }
        if flags[0] == "--plot-timeline" {
            assert_eq!(t.plot.as_deref(), Some(std::path::Path::new("t.svg")));
        }
    }
    // The timeline's own rules hold with --rpm too; the plan's others stay.
    let e = plan(&["--sample", "500us"]).unwrap_err().to_string();
    assert!(e.contains("--sample"), "{e}");
    let e = plan(&["--qdisc", "nope"]).unwrap_err().to_string();
    assert!(e.contains("NETNS:IFACE"), "{e}");
    let e = plan(&["--timeline", "--udp"]).unwrap_err().to_string();
    assert!(e.contains("--rpm loads the path with TCP flows"), "{e}");
    let e = plan(&["--timeline", "--pcap", "x.pcapng"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("records no captures"), "{e}");
}
