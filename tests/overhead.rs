//! `ardei-lab overhead` from the command line: the contract's JSON keys,
//! layers that add up, and clear usage errors.

mod common;

use std::process::Command;

fn overhead(args: &[&str]) -> std::process::Output {
    Command::new(common::bin())
        .arg("overhead")
        .args(args)
        .output()
        .unwrap()
}

fn json(args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = overhead(&a);
    assert!(out.status.success(), "{}", common::stderr(&out));
    common::parse_json(&out.stdout).unwrap()
}

#[test]
fn json_has_the_contract_keys_and_layers_add_up() {
    for args in [
        vec!["100000"],
        vec!["1472", "--udp"],
        vec!["4000", "--udp", "-6"],
        vec![
            "1M",
            "--tcp",
            "-6",
            "--vlan",
            "--no-tcp-timestamps",
            "--speed",
            "10G",
        ],
        vec!["65536", "--link", "loopback"],
        vec!["1", "--udp", "--link", "raw"],
    ] {
        let v = json(&args);
        for k in [
            "frames",
            "fragments",
            "payload_bytes",
            "wire_bytes",
            "efficiency",
            "goodput_bps",
            "frames_per_second",
            "layers",
        ] {
            assert!(v.get(k).is_some(), "{args:?}: no {k}");
        }
        let layers = v["layers"].as_object().unwrap();
        let sum: u64 = layers.values().map(|x| x.as_u64().unwrap()).sum();
        assert_eq!(sum, v["wire_bytes"].as_u64().unwrap(), "{args:?}");
        assert_eq!(layers["payload"], v["payload_bytes"], "{args:?}");
        let eff = v["efficiency"].as_f64().unwrap();
        assert!(eff > 0.0 && eff <= 1.0);
    }
}

#[test]
fn one_full_udp_frame_at_one_gigabit() {
    // 1472 bytes of UDP payload fill a 1500-byte IPv4 packet: a 1538-byte
    // slot on the wire, 81274 frames/s at 1 Gbit/s (RFC 5180 appendix A.1).
    let v = json(&["1472", "--udp"]);
    assert_eq!(v["frames"], 1);
    assert_eq!(v["wire_bytes"], 1538);
    assert_eq!(v["frames_per_second"].as_f64().unwrap().floor(), 81274.0);
}

#[test]
fn fragments_of_a_large_udp_datagram() {
    let v = json(&["4000", "--udp"]);
    assert_eq!(v["fragments"], 3);
}

#[test]
fn text_report_is_a_table() {
    let out = overhead(&["100000"]);
    let t = common::stdout(&out);
    for k in [
        "payload",
        "preamble+gap",
        "efficiency",
        "goodput",
        "assumptions",
    ] {
        assert!(t.contains(k), "{k}: {t}");
    }
}

#[test]
fn bad_input_is_a_usage_error() {
    for args in [
        vec!["70000", "--udp"],
        vec!["100", "--link", "loopback", "--vlan"],
        vec!["100", "--mtu", "10"],
        vec!["-5"],
        vec!["100", "--link", "token-ring"],
    ] {
        let out = overhead(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!common::stderr(&out).is_empty());
    }
}
