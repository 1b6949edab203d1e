//! The versioned JSON: every kind of object the program prints carries
//! `"schema": "ardei-lab/2"` and matches its JSON Schema document under
//! `schema/`, and the documents refuse what breaks them (a missing contract
//! key, a wrong type), so the check the other tests run on every object
//! they read (`common::parse_json`) is known to bite.

mod common;

use std::io::Read;
use std::process::{Command, Output};
use std::time::Duration;

use ardei_lab::SCHEMA;
use serde_json::{Value, json};

use common::*;

/// Runs `ardei-lab ARGS…`, for at most 60 s.
fn run(args: &[&str]) -> Output {
    output_within(Command::new(bin()).args(args), Duration::from_secs(60))
}

/// Checks one printed object: it carries the version, is the kind `doc`
/// describes, and matches it.
fn check(v: &Value, doc: &str) {
    assert_eq!(v["schema"], SCHEMA, "{v}");
    assert_eq!(document_of(v), Some(doc), "{v}");
    assert_valid(v);
}

/// The one object `out` printed, checked against `doc`.
fn one(out: &Output, doc: &str) -> Value {
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\nstderr: {}", stdout(out), stderr(out)));
    check(&v, doc);
    v
}

/// Each line `out` printed, checked against `doc`.
fn lines(out: &Output, doc: &str) -> Vec<Value> {
    let text = stdout(out);
    let v: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(!v.is_empty(), "no line: {}", stderr(out));
    for line in &v {
        check(line, doc);
    }
    v
}

/// What a `--once` server printed on stdout once its one client is done.
fn server_lines(mut s: Server) -> Output {
    let status = wait_timeout(&mut s.child, Duration::from_secs(20)).expect("--once exits");
    let mut text = Vec::new();
    s.child
        .stdout
        .take()
        .expect("stdout is piped")
        .read_to_end(&mut text)
        .unwrap();
    Output {
        status,
        stdout: text,
        stderr: Vec::new(),
    }
}

#[test]
fn every_document_is_a_2020_12_schema_that_requires_this_version() {
    let mut names: Vec<String> = std::fs::read_dir(schema_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut known: Vec<String> = DOCUMENTS.iter().map(|d| d.to_string()).collect();
    known.sort();
    assert_eq!(names, known, "every document under schema/ is checked");
    for name in DOCUMENTS {
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(schema_dir().join(name)).unwrap())
                .unwrap();
        assert_eq!(
            doc["$schema"], "https://json-schema.org/draft/2020-12/schema",
            "{name}"
        );
        assert_eq!(doc["properties"]["schema"]["const"], SCHEMA, "{name}");
        let required = doc["required"].as_array().unwrap();
        assert!(required.contains(&json!("schema")), "{name}");
        // New keys are not a new version: nothing refuses a key it does not know.
        assert!(
            !std::fs::read_to_string(schema_dir().join(name))
                .unwrap()
                .contains(r#""additionalProperties": false"#),
            "{name}"
        );
    }
}

#[test]
fn client_reports_over_tcp_and_udp_match_and_name_the_version() {
    let tcp = Server::v4(&[]);
    let udp = Server::v4(&["--udp"]);
    for (s, udp_flag) in [(&tcp, None), (&udp, Some("--udp"))] {
        for action in [
            &["--echo", "hello", "--count", "3"][..],
            &["--file", "100000"],
            &["--stream", "2ms", "--count", "20", "-i", "20ms"],
        ] {
            let target = s.target();
            let mut args = vec!["client", &target[..]];
            args.extend(udp_flag);
            args.extend(action);
            args.push("--json");
            let out = run(&args);
            assert!(out.status.success(), "{args:?}: {}", stderr(&out));
            let v = one(&out, "client-report.json");
            assert_eq!(
                v["transport"],
                if udp_flag.is_some() { "udp" } else { "tcp" }
            );
        }
    }
}

#[test]
fn streamed_lines_match_each_as_an_interval_or_the_summary() {
    let tcp = Server::v4(&[]);
    let udp = Server::v4(&["--udp"]);
    for (s, udp_flag) in [(&tcp, None), (&udp, Some("--udp"))] {
        let target = s.target();
        let mut args = vec!["client", &target[..], "--stream", "2ms", "--count", "30"];
        args.extend(udp_flag);
        args.extend(["-i", "20ms", "--json-stream"]);
        let out = run(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        let v = lines(&out, "json-stream-line.json");
        assert!(v.len() >= 2, "{v:?}");
        assert!(v[..v.len() - 1].iter().all(|l| l.get("interval").is_some()));
        assert_eq!(v.last().unwrap()["summary"]["mode"], "stream");
    }
}

#[test]
fn failures_match_whatever_failed() {
    // Refused by the server: what is known of the action.
    let s = Server::v4(&["--max-file", "1000"]);
    let out = run(&["client", &s.target(), "--file", "1001", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let v = one(&out, "failure.json");
    assert_eq!(v["mode"], "file");
    assert_eq!(v["verified"], false);
    // Nobody listening.
    let out = run(&["client", "127.0.0.1:1", "--udp", "--echo", "x", "--json"]);
    assert!(!out.status.success());
    one(&out, "failure.json");
    // A command line that does not parse, and one the plan refuses.
    let out = run(&["client", "127.0.0.1:1", "--bogus", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    one(&out, "failure.json");
    let out = run(&["overhead", "100000", "--udp", "-6", "--json"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    one(&out, "failure.json");
    let out = run(&["pcap", "summary", "/nonexistent.pcap", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    one(&out, "failure.json");
}

#[test]
fn servers_session_lines_match_over_tcp_and_udp() {
    for udp in [false, true] {
        let mut args = vec!["--once", "--json"];
        if udp {
            args.push("--udp");
        }
        let s = Server::v4(&args);
        let target = s.target();
        let mut c = vec!["client", &target[..], "--file", "100000"];
        if udp {
            c.push("--udp");
        }
        let out = run(&c);
        assert!(out.status.success(), "{}", stderr(&out));
        let v = lines(&server_lines(s), "server-session.json");
        assert_eq!(v[0]["bytes_out"], 100000, "{v:?}");
        assert_eq!(v[0].get("action").is_some(), udp, "{v:?}");
    }
}

#[test]
fn overhead_and_pcap_summaries_match() {
    let out = run(&["overhead", "100000", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    one(&out, "overhead.json");
    let out = run(&["overhead", "3000", "--udp", "-6", "--json"]);
    one(&out, "overhead.json");

    // A model capture of a real transfer, read back whole and cut short.
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("file.pcap");
    let pcap = pcap.to_str().unwrap();
    let s = Server::v4(&[]);
    let out = run(&["client", &s.target(), "--file", "100000", "--pcap", pcap]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["pcap", "summary", pcap, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v = one(&out, "pcap-summary.json");
    assert!(v.get("error").is_none(), "{v}");
    let bytes = std::fs::read(pcap).unwrap();
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let out = run(&["pcap", "summary", cut.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = one(&out, "pcap-summary.json");
    assert!(v["error"].is_string(), "{v}");
}

/// A client report as the program prints it, for the broken copies below.
fn report() -> Value {
    let s = Server::v4(&["--udp"]);
    let out = run(&["client", &s.target(), "--udp", "--file", "10000", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    one(&out, "client-report.json")
}

/// `v` changed by `f` no longer matches `doc`.
fn refused(doc: &str, v: &Value, what: &str, f: impl FnOnce(&mut Value)) {
    let mut broken = v.clone();
    f(&mut broken);
    assert!(
        !schema_errors(doc, &broken).is_empty(),
        "schema/{doc} took {what}: {broken}"
    );
}

#[test]
fn the_documents_refuse_a_missing_contract_key_or_a_wrong_type() {
    let v = report();
    let doc = "client-report.json";
    assert!(schema_errors(doc, &v).is_empty());
    let without = |k: &'static str| {
        move |v: &mut Value| {
            v.as_object_mut().unwrap().remove(k);
        }
    };
    refused(doc, &v, "no schema", without("schema"));
    refused(doc, &v, "another version", |v| {
        v["schema"] = json!("ardei-lab/1")
    });
    refused(doc, &v, "no bytes", without("bytes"));
    refused(doc, &v, "a UDP run without lost", without("lost"));
    refused(doc, &v, "a file without verified", without("verified"));
    refused(doc, &v, "bytes as text", |v| v["bytes"] = json!("10000"));
    refused(doc, &v, "a negative count", |v| v["duplicates"] = json!(-1));
    refused(doc, &v, "an unknown mode", |v| v["mode"] = json!("ping"));
    refused(doc, &v, "a model without layers", |v| {
        v["overhead"]["model"]
            .as_object_mut()
            .unwrap()
            .remove("layers");
    });

    let line = json!({ "schema": SCHEMA, "interval": { "start": 0.0, "end": 1.0, "bytes": 5, "goodput_bps": 40.0 } });
    assert!(schema_errors("json-stream-line.json", &line).is_empty());
    refused(
        "json-stream-line.json",
        &line,
        "an interval without end",
        |l| {
            l["interval"].as_object_mut().unwrap().remove("end");
        },
    );
    refused("json-stream-line.json", &line, "neither kind", |l| {
        l.as_object_mut().unwrap().remove("interval");
    });
    let mut summary = v.clone();
    summary.as_object_mut().unwrap().remove("schema");
    let line = json!({ "schema": SCHEMA, "summary": summary });
    assert!(schema_errors("json-stream-line.json", &line).is_empty());
    refused(
        "json-stream-line.json",
        &line,
        "a summary without mode",
        |l| {
            l["summary"].as_object_mut().unwrap().remove("mode");
        },
    );

    let failure = json!({ "schema": SCHEMA, "error": "no" });
    assert!(schema_errors("failure.json", &failure).is_empty());
    refused("failure.json", &failure, "no error", without("error"));
    refused("failure.json", &failure, "an error that is not text", |f| {
        f["error"] = json!(1)
    });

    let out = run(&["overhead", "1000", "--json"]);
    let o = one(&out, "overhead.json");
    refused("overhead.json", &o, "no efficiency", without("efficiency"));
    refused("overhead.json", &o, "frames as text", |o| {
        o["frames"] = json!("1")
    });

    let session = json!({ "schema": SCHEMA, "session": 1, "peer": "127.0.0.1:1", "mode": "framed",
        "requests": 1, "refused": 0, "bytes_out": 5, "seconds": 0.1, "end": "closed by the client" });
    assert!(schema_errors("server-session.json", &session).is_empty());
    refused("server-session.json", &session, "no peer", without("peer"));
    refused("server-session.json", &session, "a fractional count", |s| {
        s["bytes_out"] = json!(1.5)
    });

    let summary = json!({ "schema": SCHEMA, "frames": 1, "bytes": 60, "checksums": { "valid": 1, "partial": 0, "bad": 0 },
        "flows": [{ "src": "::1", "dst": "::1", "transport": "udp", "frames": 1, "bytes": 60, "payload_bytes": 4 }] });
    assert!(schema_errors("pcap-summary.json", &summary).is_empty());
    refused("pcap-summary.json", &summary, "a flow without dst", |s| {
        s["flows"][0].as_object_mut().unwrap().remove("dst");
    });
    refused("pcap-summary.json", &summary, "no checksums.bad", |s| {
        s["checksums"].as_object_mut().unwrap().remove("bad");
    });
}

#[test]
fn the_keys_of_directions_flows_and_the_servers_view_are_checked_once_they_appear() {
    let doc = "client-report.json";
    let cpu =
        json!({ "user_seconds": 0.5, "sys_seconds": 0.25, "wall_seconds": 1.0, "cores": 0.75 });
    let flow = json!({ "direction": "download", "bytes": 100, "seconds": 1.0, "goodput_bps": 800.0, "verified": true });
    let mut v = report();
    v["direction"] = json!("bidir");
    v["flows"] = json!([flow.clone(), { "direction": "upload", "bytes": 100, "seconds": 1.0, "goodput_bps": 800.0, "verified": true }]);
    v["download"] = json!({ "bytes": 100, "goodput_bps": 800.0, "verified": true });
    v["upload"] = json!({ "bytes": 100, "goodput_bps": 800.0, "verified": true });
    v["server"] = json!({ "bytes": 200, "retransmits": null, "congestion": "cubic", "cpu": cpu });
    v["cpu"] = json!({ "client": cpu, "server": cpu });
    v["ecn"] = json!({ "not_ect": 0, "ect0": 10, "ect1": 0, "ce": 1 });
    v["socket"]["congestion"] = json!("cubic");
    let errors = schema_errors(doc, &v);
    assert!(errors.is_empty(), "{errors:?}");
    // A key no document knows is still fine: it is not a new version.
    v["something_new"] = json!({ "any": [1, "thing"] });
    assert!(schema_errors(doc, &v).is_empty());

    refused(doc, &v, "a direction sideways", |v| {
        v["direction"] = json!("sideways")
    });
    refused(doc, &v, "a flow without verified", |v| {
        v["flows"][1].as_object_mut().unwrap().remove("verified");
    });
    refused(doc, &v, "flows that are not a list", |v| v["flows"] = flow);
    refused(doc, &v, "an upload without bytes", |v| {
        v["upload"].as_object_mut().unwrap().remove("bytes");
    });
    refused(doc, &v, "a server without bytes", |v| {
        v["server"].as_object_mut().unwrap().remove("bytes");
    });
    refused(doc, &v, "the client's CPU without cores", |v| {
        v["cpu"]["client"].as_object_mut().unwrap().remove("cores");
    });
    refused(doc, &v, "ECN counts without ce", |v| {
        v["ecn"].as_object_mut().unwrap().remove("ce");
    });
    refused(doc, &v, "a congestion control that is a number", |v| {
        v["socket"]["congestion"] = json!(1)
    });
}
