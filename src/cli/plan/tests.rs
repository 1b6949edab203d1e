//! Each rule of the plan, accepted and refused, with the sentence it says.

use std::time::Duration;

use clap::Parser;

use super::*;
use crate::cli::args::Cli;

/// The plan of `ardei-lab ARGS…` (which must parse).
fn plan(args: &[&str]) -> Result<Plan, PlanError> {
    let mut all = vec!["ardei-lab"];
    all.extend(args);
    Plan::build(Cli::try_parse_from(all).expect("parses").command)
}

/// The plan of `ardei-lab client 127.0.0.1:9 ARGS…`.
fn client(args: &[&str]) -> Result<ClientPlan, PlanError> {
    let mut all = vec!["client", "127.0.0.1:9"];
    all.extend(args);
    match plan(&all)? {
        Plan::Client(p) => Ok(p),
        p => panic!("not a client: {p:?}"),
    }
}

/// The sentence `args` are refused with.
fn refused(args: &[&str]) -> String {
    match client(args) {
        Ok(p) => panic!("{args:?} accepted: {p:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn reports_need_an_action() {
    let said = "--json, --json-stream and -i report on one action: add --echo, --file or --stream \
                (the interactive prompt prints its reports as text)";
    for flags in [&["--json"][..], &["--json-stream"], &["-i", "1s"]] {
        assert_eq!(refused(flags), said, "{flags:?}");
    }
    let p = client(&["--echo", "x", "--json", "-i", "1s"]).unwrap();
    assert!(p.json());
    assert_eq!(p.output.every, Some(Duration::from_secs(1)));
}

#[test]
fn spin_goes_with_echo() {
    let said = "--spin busy-polls the wait for echo replies: use it with --echo \
                (the interactive prompt always waits in a blocking read)";
    assert_eq!(refused(&["--spin"]), said);
    assert_eq!(refused(&["--file", "10", "--spin"]), said);
    assert_eq!(refused(&["--stream", "5ms", "--spin"]), said);
    let p = client(&["--echo", "x", "--spin"]).unwrap();
    assert!(matches!(p.action, ClientAction::Echo { spin: true, .. }));
}

#[test]
fn rate_goes_with_a_file_or_the_prompt() {
    let said = "--rate paces a file: use it with --file (or at the prompt, for its file requests)";
    assert_eq!(refused(&["--echo", "x", "--rate", "1M"]), said);
    assert_eq!(refused(&["--stream", "5ms", "--rate", "1M"]), said);
    let p = client(&["--file", "10", "--rate", "1M"]).unwrap();
    assert_eq!(p.config.tcp.rate_bps, 1_000_000);
    let p = client(&["--rate", "1M"]).unwrap();
    assert!(matches!(p.action, ClientAction::Prompt(_)));
    // UDP files default to 1 Gbit/s, TCP files to as fast as they can.
    let p = client(&["--udp", "--file", "10"]).unwrap();
    assert_eq!(p.config.udp.map(|u| u.rate_bps), Some(1_000_000_000));
    assert_eq!(p.config.tcp.rate_bps, 0);
}

#[test]
fn size_goes_with_a_stream_or_the_prompt() {
    let said = "--size sets the size of stream segments: use it with --stream \
                (or without an action, for the prompt's streams)";
    assert_eq!(refused(&["--echo", "x", "--size", "100"]), said);
    assert_eq!(refused(&["--file", "10", "--size", "100"]), said);
    let p = client(&["--stream", "5ms", "--size", "1K"]).unwrap();
    assert!(matches!(p.action, ClientAction::Stream { size: 1024, .. }));
    let p = client(&["--size", "100", "--count", "3"]).unwrap();
    let ClientAction::Prompt(d) = p.action else {
        panic!("{:?}", p.action)
    };
    assert_eq!((d.count, d.size), (3, 100));
}

#[test]
fn count_is_not_for_a_file() {
    assert_eq!(
        refused(&["--file", "10", "--count", "2"]),
        "--count applies to --echo and --stream, not --file"
    );
    let p = client(&["--echo", "x", "--count", "7"]).unwrap();
    assert!(matches!(p.action, ClientAction::Echo { count: 7, .. }));
    let p = client(&["--stream", "5ms", "--count", "7"]).unwrap();
    assert!(matches!(p.action, ClientAction::Stream { count: 7, .. }));
}

#[test]
fn interval_goes_with_echo() {
    let said =
        "--interval spaces echo requests: use it with --echo (a stream's interval is --stream DUR)";
    assert_eq!(refused(&["--stream", "1ms", "--interval", "5ms"]), said);
    assert_eq!(refused(&["--file", "10", "--interval", "5ms"]), said);
    let p = client(&["--echo", "x", "--interval", "5ms"]).unwrap();
    assert!(matches!(
        p.action,
        ClientAction::Echo { interval, .. } if interval == Duration::from_millis(5)
    ));
}

#[test]
fn print_file_goes_with_a_file() {
    let said = "--print-file writes the file of --file to stdout: use it with --file";
    assert_eq!(refused(&["--echo", "x", "--print-file"]), said);
    assert_eq!(refused(&["--stream", "5ms", "--print-file"]), said);
    let p = client(&["--file", "10", "--print-file"]).unwrap();
    assert!(p.print_file() && p.config.print_file);
    // The reports then go to stderr, and no bar is drawn over them.
    assert!(p.ticker().to_stderr);
}

#[test]
fn exports_need_an_action_and_hgrm_a_latency() {
    let said = "--hgrm and --plot need an action: --echo, --file or --stream";
    assert_eq!(refused(&["--hgrm", "x.hgrm"]), said);
    assert_eq!(refused(&["--plot", "x.svg"]), said);
    assert_eq!(
        refused(&["--file", "10", "--hgrm", "x.hgrm"]),
        "--hgrm writes a latency histogram: use it with --echo or --stream"
    );
    assert!(client(&["--file", "10", "--plot", "x.svg"]).is_ok());
    let p = client(&["--echo", "x", "--hgrm", "x.hgrm"]).unwrap();
    assert_eq!(p.hgrm.as_deref(), Some(std::path::Path::new("x.hgrm")));
}

#[test]
fn interval_reports_are_at_least_10ms_apart() {
    assert_eq!(
        refused(&["--echo", "x", "-i", "9ms"]),
        "-i needs at least 10ms between reports"
    );
    assert!(client(&["--echo", "x", "-i", "10ms"]).is_ok());
}

#[test]
fn a_udp_echo_must_fit_the_largest_datagram() {
    let most = "a".repeat(65_507 - 28);
    assert!(client(&["--udp", "--echo", &most]).is_ok());
    let over = "a".repeat(65_507 - 28 + 1);
    let e = client(&["--udp", "--echo", &over]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "an echo of 65480 bytes makes a 65508-byte datagram, over the largest UDP payload \
         of 65507 bytes over IPv4: send at most 65479 bytes"
    );
    assert_eq!(e.context(), (Some("echo"), Some(4)));
    // IPv6 carries 20 bytes more; TCP carries any echo.
    let mut all = vec!["client", "[::1]:9", "--udp", "--echo", &over];
    assert!(plan(&all).is_ok());
    let v6 = "a".repeat(65_527 - 28 + 1);
    all[4] = &v6;
    let e = plan(&all).unwrap_err();
    assert!(
        e.to_string()
            .ends_with("over IPv6: send at most 65499 bytes"),
        "{e}"
    );
    assert!(client(&["--echo", &over]).is_ok());
}

#[test]
fn rules_are_tried_in_a_fixed_order() {
    // Broken twice: the first rule in the order speaks.
    assert_eq!(
        refused(&["--udp", "--nodelay", "--json"]),
        "--nodelay and --mss are TCP options; UDP has no segments to size or delay"
    );
    assert!(refused(&["--json", "--spin"]).starts_with("--json, --json-stream and -i"));
    assert!(refused(&["--echo", "x", "--spin", "--rate", "1M"]).starts_with("--rate"));
}

#[test]
fn the_action_takes_its_defaults() {
    let p = client(&["--echo", "hi"]).unwrap();
    assert_eq!(p.action.mode(), Some("echo"));
    assert!(matches!(
        p.action,
        ClientAction::Echo { count: 1, interval, spin: false, .. } if interval.is_zero()
    ));
    let p = client(&["--stream", "5ms"]).unwrap();
    assert!(matches!(
        p.action,
        ClientAction::Stream {
            count: 100,
            size: 64,
            ..
        }
    ));
    let p = client(&["--file", "1K", "--pcap", "x.pcapng"]).unwrap();
    assert!(matches!(
        p.action,
        ClientAction::File {
            transfer: crate::client::transfer::Transfer {
                size: Some(1024),
                time: None,
                ..
            },
            print: false,
            ..
        }
    ));
    assert_eq!(
        p.config.recording.pcap.as_deref(),
        Some(std::path::Path::new("captures/x.pcapng"))
    );
    assert!(p.ticker().bar);
    assert_eq!(p.target(), "127.0.0.1:9".parse().unwrap());
    assert!(!p.udp());
}

#[test]
fn a_server_plan_holds_its_limits_and_captures() {
    let Plan::Server(p) = plan(&[
        "server",
        "--bind",
        "127.0.0.1:0",
        "--udp",
        "--max-file",
        "1M",
        "--max-sessions",
        "3",
        "--no-realtime",
        "--pcap",
        "s.pcapng",
        "--capture",
    ])
    .unwrap() else {
        panic!("not a server")
    };
    assert!(p.udp && !p.realtime);
    assert_eq!(p.config.limits.max_file, 1 << 20);
    assert_eq!(p.config.max_sessions, 3);
    assert_eq!(
        p.pcap.as_deref(),
        Some(std::path::Path::new("captures/s.pcapng"))
    );
    assert_eq!(p.capture.as_deref(), Some(""));
    let e = plan(&["server", "--bind", "127.0.0.1:0", "--udp", "--mss", "1000"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "--nodelay and --mss are TCP options; UDP has no segments to size or delay"
    );
}

#[test]
fn failures_are_told_as_the_flags_ask() {
    let cmd = |args: &[&str]| {
        let mut all = vec!["ardei-lab"];
        all.extend(args);
        Reporting::of(&Cli::try_parse_from(all).unwrap().command)
    };
    let r = cmd(&["client", "--udp", "--json-stream"]);
    assert_eq!((r.json, r.transport), (true, Some("udp")));
    let r = cmd(&["client"]);
    assert_eq!((r.json, r.transport), (false, Some("tcp")));
    let r = cmd(&["overhead", "100", "--json"]);
    assert_eq!((r.json, r.transport), (true, None));
    // pcap summary prints its own object.
    let r = cmd(&["pcap", "summary", "x", "--json"]);
    assert_eq!((r.json, r.transport), (false, None));
}

#[test]
fn overhead_asks_the_model_what_the_flags_say() {
    let Plan::Overhead(p) = plan(&["overhead", "1K", "--udp", "-6", "--link", "raw"]).unwrap()
    else {
        panic!("not overhead")
    };
    use crate::account::overhead::LinkKind;
    use crate::wire::Transport;
    assert_eq!(p.request.payload, 1024);
    assert_eq!(p.request.transport, Transport::Udp);
    assert_eq!(p.request.link, LinkKind::Raw);
    assert!(p.request.handshake && p.request.tcp_timestamps && !p.json);
}

#[test]
fn a_udp_datagram_size_is_one_a_datagram_can_have() {
    let said = |flag: &str, n: u32, min: usize| {
        format!("{flag} {n} is outside {min}..=65507 (the whole UDP payload, lab header included)")
    };
    let e = client(&["--udp", "--file", "1000", "--segment-size", "70000"]).unwrap_err();
    assert_eq!(e.to_string(), said("--segment-size", 70000, 29));
    assert_eq!(e.context(), (Some("file"), Some(4)));
    let e = client(&["--udp", "--file", "1000", "--segment-size", "28"]).unwrap_err();
    assert_eq!(e.to_string(), said("--segment-size", 28, 29));
    let e = client(&["--udp", "--stream", "5ms", "--size", "10"]).unwrap_err();
    assert_eq!(e.to_string(), said("--size", 10, 36));
    assert_eq!(e.context(), (Some("stream"), Some(4)));
    assert!(client(&["--udp", "--file", "1000", "--segment-size", "29"]).is_ok());
    assert!(client(&["--udp", "--stream", "5ms", "--size", "36"]).is_ok());
    // Over IPv6 a datagram carries 20 bytes more.
    let v6 = plan(&[
        "client",
        "[::1]:9",
        "--udp",
        "--file",
        "1000",
        "--segment-size",
        "65527",
    ]);
    assert!(v6.is_ok());
    // Over TCP, --size is the server's to judge; the prompt's streams are
    // judged when they are asked for.
    assert!(client(&["--stream", "5ms", "--size", "10"]).is_ok());
    assert!(client(&["--udp", "--size", "10"]).is_ok());
}
