//! The rules of the transfer flags (`-t`, `-P`, `--upload`, `--bidir`,
//! `-C`, `--dscp`, `--ecn`) and the server's `--max-per-client`,
//! `--max-time` and `--dscp`, accepted and refused, with what they say.

use std::time::Duration;

use clap::Parser;

use super::*;
use crate::cli::args::Cli;
use crate::client::transfer::{Direction, Transfer};

/// The plan of `ardei-lab client 127.0.0.1:9 ARGS…` (which must parse).
fn client(args: &[&str]) -> Result<ClientPlan, PlanError> {
    let mut all = vec!["ardei-lab", "client", "127.0.0.1:9"];
    all.extend(args);
    match Plan::build(Cli::try_parse_from(all).expect("parses").command)? {
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

/// clap's first line for `args`, which must not parse: a usage error.
fn unparsed(args: &[&str]) -> String {
    let mut all = vec!["ardei-lab", "client", "127.0.0.1:9"];
    all.extend(args);
    let e = Cli::try_parse_from(all).expect_err("refused");
    assert_eq!(e.exit_code(), 2, "{args:?}");
    e.to_string().lines().next().unwrap_or_default().to_string()
}

/// The transfer and flows of a file action.
fn transfer(args: &[&str]) -> (Transfer, crate::client::flows::Flows) {
    match client(args).unwrap().action {
        ClientAction::File {
            transfer, flows, ..
        } => (transfer, flows),
        a => panic!("not a file: {a:?}"),
    }
}

#[test]
fn ranges_are_clap_usage_errors_that_give_the_range() {
    assert!(unparsed(&["--file", "1M", "-P", "0"]).contains("0 is not in 1..=128"));
    assert!(unparsed(&["--file", "1M", "-P", "129"]).contains("129 is not in 1..=128"));
    assert!(unparsed(&["--file", "1M", "--dscp", "64"]).contains("64 is not in 0..=63"));
    let zero = unparsed(&["-t", "0"]);
    assert!(zero.contains("'0' for '--time <DUR>'"), "{zero}");
    let both = unparsed(&["--file", "1M", "--upload", "--bidir"]);
    assert!(
        both.contains("'--upload' cannot be used with '--bidir'"),
        "{both}"
    );
}

#[test]
fn transfer_flags_go_with_a_file_transfer() {
    for flag in [&["-t", "1s"][..], &["-P", "2"], &["--upload"], &["--bidir"]] {
        let name = flag[0];
        let said = format!(
            "{name} goes with a file transfer: use it with --file N or -t DUR \
             (not with --echo, --stream or the interactive prompt)"
        );
        for action in [&["--echo", "x"][..], &["--stream", "5ms"]] {
            let mut all = action.to_vec();
            all.extend(flag);
            assert_eq!(refused(&all), said, "{all:?}");
        }
        if flag[0] != "-t" {
            assert_eq!(refused(flag), said, "{flag:?} at the prompt");
        }
    }
}

#[test]
fn a_time_alone_is_a_timed_file_and_with_a_size_whichever_comes_first() {
    let (t, f) = transfer(&["-t", "2s"]);
    assert_eq!(
        t,
        Transfer {
            direction: Direction::Download,
            size: None,
            time: Some(Duration::from_secs(2)),
            rate_bps: 0,
        }
    );
    assert!(!f.several());
    let (t, _) = transfer(&["--file", "1M", "--time", "500ms", "--udp"]);
    assert_eq!(t.size, Some(1 << 20));
    assert_eq!(t.time, Some(Duration::from_millis(500)));
    assert_eq!(t.rate_bps, crate::client::udp::DEFAULT_RATE_BPS);
    // -t makes a file action for the other rules too.
    assert_eq!(
        refused(&["-t", "1s", "--count", "3"]),
        "--count applies to --echo and --stream, not --file"
    );
    let p = client(&["-t", "1s", "--json", "-i", "100ms"]).unwrap();
    assert!(p.json());
}

#[test]
fn flows_and_directions_come_from_p_upload_and_bidir() {
    let (t, f) = transfer(&["--file", "4M", "-P", "4"]);
    assert_eq!((f.parallel, f.bidir, f.several()), (4, false, true));
    assert_eq!(f.directions(t.direction), vec![Direction::Download; 4]);
    let (t, f) = transfer(&["--file", "4M", "--upload", "--parallel", "2"]);
    assert_eq!(t.direction, Direction::Upload);
    assert_eq!(f.label(t.direction), "upload");
    let (t, f) = transfer(&["--file", "4M", "--bidir", "-P", "2"]);
    assert_eq!(
        f.directions(t.direction),
        [
            Direction::Download,
            Direction::Download,
            Direction::Upload,
            Direction::Upload
        ]
    );
    assert_eq!(f.label(t.direction), "bidir");
    let (_, f) = transfer(&["--file", "4M", "--upload"]);
    assert!(!f.several());
    let (_, f) = transfer(&["--file", "4M"]);
    assert_eq!((f.parallel, f.bidir), (1, false));
}

#[test]
fn print_file_is_refused_with_several_flows_and_captures_are_not() {
    assert!(client(&["--file", "1M", "-P", "2", "--pcap", "x.pcapng"]).is_ok());
    assert!(client(&["--file", "1M", "--bidir", "--capture"]).is_ok());
    let said = "--print-file writes one downloaded file to stdout: it does not go with --upload, \
                --bidir or -P above 1";
    assert_eq!(refused(&["--file", "1M", "-P", "2", "--print-file"]), said);
    assert_eq!(refused(&["--file", "1M", "--upload", "--print-file"]), said);
    assert!(client(&["--file", "1M", "--print-file", "-t", "1s"]).is_ok());
}

#[test]
fn congestion_is_tcp_and_one_the_kernel_offers() {
    assert_eq!(
        refused(&["--file", "1M", "--udp", "-C", "cubic"]),
        "-C sets TCP congestion control; UDP has none: leave -C out with --udp"
    );
    let e = refused(&["--file", "1M", "-C", "no-such-cc"]);
    assert!(
        e.starts_with("-C no-such-cc: not a congestion control this kernel offers: choose one of "),
        "{e}"
    );
    let offered =
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control").unwrap();
    let name = offered.split_whitespace().next().unwrap();
    assert!(e.contains(name), "{e}");
    let p = client(&["--echo", "x", "-C", name, "--dscp", "46", "--ecn"]).unwrap();
    assert_eq!(
        p.marking,
        Marking {
            congestion: Some(name.to_string()),
            dscp: Some(46),
            ecn: true,
        }
    );
    assert_eq!(
        client(&["--file", "1"]).unwrap().marking,
        Marking::default()
    );
}

#[test]
fn a_server_takes_its_per_client_cap_longest_time_and_marking() {
    let parse = |args: &[&str]| {
        let mut all = vec!["ardei-lab", "server", "--bind", "127.0.0.1:0"];
        all.extend(args);
        match Plan::build(Cli::try_parse_from(all).expect("parses").command).unwrap() {
            Plan::Server(p) => p,
            p => panic!("not a server: {p:?}"),
        }
    };
    let p = parse(&[]);
    assert_eq!(
        p.config.max_per_client,
        crate::server::DEFAULT_MAX_PER_CLIENT
    );
    assert_eq!(p.config.max_time, Duration::from_secs(60));
    assert_eq!(p.config.dscp, None);
    let p = parse(&["--max-per-client", "2", "--max-time", "5s", "--dscp", "10"]);
    assert_eq!(
        (p.config.max_per_client, p.config.max_time, p.config.dscp),
        (2, Duration::from_secs(5), Some(10))
    );
    for bad in [
        &["--max-per-client", "0"][..],
        &["--max-time", "0"],
        &["--dscp", "64"],
    ] {
        let mut all = vec!["ardei-lab", "server"];
        all.extend(bad);
        let e = Cli::try_parse_from(all).expect_err("refused");
        assert_eq!(e.exit_code(), 2, "{bad:?}");
    }
}
