//! The client's JSON holds each key once per object, in every mode and over
//! both transports: real servers on ephemeral loopback ports, the output
//! read by a parser that refuses a repeated key (as strict parsers do).

mod common;

use std::collections::HashSet;
use std::fmt;
use std::process::{Command, Output};
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use common::*;

/// Any JSON value, read by a parser that fails on a key repeated within
/// one object, at any depth.
struct Strict;

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_str<E>(self, _: &str) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        while seq.next_element::<Strict>()?.is_some() {}
        Ok(Strict)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            map.next_value::<Strict>()?;
        }
        Ok(Strict)
    }
}

/// Parses `text` strictly, then as a plain value to read figures from
/// (checked against its schema document).
fn strict(text: &str, what: &str) -> serde_json::Value {
    if let Err(e) = serde_json::from_str::<Strict>(text) {
        panic!("{what}: {e}\n{text}");
    }
    parse_json(text).unwrap_or_else(|e| panic!("{what}: {e}\n{text}"))
}

/// Runs `ardei-lab client TARGET ARGS…`, for at most 60 s.
fn run(target: &str, args: &[&str]) -> Output {
    output_within(
        Command::new(bin()).arg("client").arg(target).args(args),
        Duration::from_secs(60),
    )
}

/// Runs a client with `--json`: it succeeds, and its one object is strict.
fn json_of(s: &Server, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = run(&s.target(), &a);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    strict(&stdout(&out), &format!("{args:?}"))
}

#[test]
fn the_parser_refuses_a_repeated_key_at_any_depth() {
    assert!(serde_json::from_str::<Strict>(r#"{"a":1,"b":[{"c":null}],"d":"x"}"#).is_ok());
    assert!(serde_json::from_str::<Strict>(r#"{"sent":1,"sent":1}"#).is_err());
    assert!(serde_json::from_str::<Strict>(r#"{"a":[{"b":1,"b":2}]}"#).is_err());
}

#[test]
fn every_tcp_mode_writes_each_key_once() {
    let s = Server::v4(&[]);
    let v = json_of(&s, &["--echo", "hello", "--count", "3"]);
    assert_eq!(v["replies"], 3);
    let v = json_of(&s, &["--file", "100000"]);
    assert_eq!(v["verified"], true);
    let v = json_of(&s, &["--stream", "2ms", "--count", "30", "-i", "20ms"]);
    assert_eq!(v["segments"], 30);
    assert_eq!(v["sent"], 30, "the server's count: {v}");
}

#[test]
fn every_udp_mode_writes_each_key_once() {
    let s = Server::v4(&["--udp"]);
    let v = json_of(&s, &["--udp", "--echo", "hello", "--count", "3"]);
    assert_eq!(v["sent"], 3);
    let v = json_of(&s, &["--udp", "--file", "100000", "--segment-size", "1000"]);
    assert_eq!(v["sent"], 100_000u64.div_ceil(1000 - 28));
    let v = json_of(&s, &["--udp", "--file", "100000", "--no-gso"]);
    assert_eq!(v["verified"], true);
    let v = json_of(
        &s,
        &["--udp", "--stream", "2ms", "--count", "30", "-i", "20ms"],
    );
    // One `sent`: the sender's count from its End message.
    assert_eq!(v["sent"], 30, "{v}");
    assert_eq!(v["segments"], 30);
    assert_eq!(
        v["datagrams"].as_u64().unwrap() + v["lost"].as_u64().unwrap(),
        30
    );
}

#[test]
fn streamed_lines_and_the_error_object_write_each_key_once() {
    let s = Server::v4(&["--udp", "--max-file", "1000"]);
    let t = s.target();
    let out = run(
        &t,
        &[
            "--udp",
            "--stream",
            "2ms",
            "--count",
            "30",
            "-i",
            "20ms",
            "--json-stream",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.lines().count() >= 2, "{text}");
    for line in text.lines() {
        strict(line, "a --json-stream line");
    }
    let out = run(&t, &["--udp", "--file", "1001", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let v = strict(&stdout(&out), "the error object");
    assert!(v["error"].as_str().unwrap().contains("--max-file"), "{v}");
}
