//! Every JSON object the tests read from the program is checked against the
//! JSON Schema documents under `schema/`: [`parse_json`] parses it and
//! validates it against the document its shape says, and fails the test when
//! it does not match, or when no document describes it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use jsonschema::{Draft, Retrieve, Uri, Validator};
use serde_json::Value;

/// The documents, one per kind of object the program prints.
pub const DOCUMENTS: [&str; 8] = [
    "client-report.json",
    "client-rpm.json",
    "json-stream-line.json",
    "failure.json",
    "server-session.json",
    "overhead.json",
    "pcap-summary.json",
    "netlab-queue.json",
];

/// The folder of the documents.
pub fn schema_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schema")
}

/// Parses one JSON value the program printed and validates it against its
/// document: the drop-in for `serde_json::from_slice`/`from_str` on the
/// program's output. A value that parses but does not match fails the test.
pub fn parse_json(text: impl AsRef<[u8]>) -> serde_json::Result<Value> {
    let v: Value = serde_json::from_slice(text.as_ref())?;
    assert_valid(&v);
    Ok(v)
}

/// Fails the test, saying why, unless `v` matches the document its shape
/// says.
pub fn assert_valid(v: &Value) {
    let Some(doc) = document_of(v) else {
        panic!("no document under schema/ describes this object: {v}");
    };
    let errors = schema_errors(doc, v);
    assert!(
        errors.is_empty(),
        "the object does not match schema/{doc}:\n  {}\n{v:#}",
        errors.join("\n  ")
    );
}

/// Which document describes `v`, told by its keys: a `--json-stream` line
/// has `interval` or `summary`, a server's session line `session` and `peer`,
/// a capture's summary `checksums`, the overhead report `frame_groups`, a
/// failure `error`, `client --rpm`'s report `rpm` and `phases`, a client's
/// report `mode` and `transport`, and `tools/netlab queue`'s line
/// `backlog_packets`.
pub fn document_of(v: &Value) -> Option<&'static str> {
    let o = v.as_object()?;
    let has = |k: &str| o.contains_key(k);
    Some(if has("interval") || has("summary") || has("sum") {
        "json-stream-line.json"
    } else if has("session") && has("peer") {
        "server-session.json"
    } else if has("checksums") {
        "pcap-summary.json"
    } else if has("frame_groups") {
        "overhead.json"
    } else if has("error") {
        "failure.json"
    } else if has("rpm") && has("phases") {
        "client-rpm.json"
    } else if has("mode") && has("transport") {
        "client-report.json"
    } else if has("backlog_packets") {
        "netlab-queue.json"
    } else {
        return None;
    })
}

/// What is wrong with `v` as an object of `doc`, one line per error
/// (empty when it matches).
pub fn schema_errors(doc: &str, v: &Value) -> Vec<String> {
    let validator = validators()
        .get(doc)
        .unwrap_or_else(|| panic!("no document schema/{doc}"));
    validator
        .iter_errors(v)
        .map(|e| format!("at {:?}: {e}", e.instance_path().to_string()))
        .collect()
}

/// The compiled documents, built once per test binary.
fn validators() -> &'static HashMap<&'static str, Validator> {
    static V: OnceLock<HashMap<&'static str, Validator>> = OnceLock::new();
    V.get_or_init(|| {
        DOCUMENTS
            .iter()
            .map(|&name| {
                let doc = read(name);
                let base = format!("file://{}/{name}", schema_dir().display());
                let v = jsonschema::options()
                    .with_draft(Draft::Draft202012)
                    .with_base_uri(base)
                    .with_retriever(Documents)
                    .build(&doc)
                    .unwrap_or_else(|e| panic!("schema/{name} is not a valid schema: {e}"));
                (name, v)
            })
            .collect()
    })
}

fn read(name: &str) -> Value {
    let path = schema_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Resolves a reference to another document (`client-report.json#/$defs/…`)
/// to the file of that name under `schema/`, and to nothing else.
struct Documents;

impl Retrieve for Documents {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let path = uri.path().as_str();
        let name = path.rsplit('/').next().unwrap_or_default();
        if !DOCUMENTS.contains(&name) || uri.scheme().as_str() != "file" {
            return Err(format!("{uri} is not one of the documents under schema/").into());
        }
        Ok(read(name))
    }
}
