//! The version of the JSON the program prints, and the one way to print it.
//!
//! Every JSON object the program writes (a client's report, its
//! `--json-stream` lines, the error object, a server's session lines, the
//! `overhead` and `pcap summary` reports) opens with `"schema":` [`SCHEMA`],
//! the version of the documents under `schema/` at the repository root that
//! describe it. The objects themselves know nothing of it: the print points
//! write them through [`to_line`] or [`to_pretty`], which put the key first.
//!
//! The version changes when a key is removed or renamed, or changes its
//! type, unit or meaning; an added key keeps it.

use serde::Serialize;

/// The version of the JSON: the value of every printed object's `schema`.
pub const SCHEMA: &str = "ardei-lab/2";

/// An object with the `schema` key before its own keys.
#[derive(Serialize)]
struct Stamped<'a, T: ?Sized> {
    schema: &'static str,
    #[serde(flatten)]
    object: &'a T,
}

/// `object` as one line of JSON, `schema` first. Fails where `object` does
/// not serialize as a JSON object.
pub fn to_line<T: Serialize + ?Sized>(object: &T) -> serde_json::Result<String> {
    serde_json::to_string(&Stamped {
        schema: SCHEMA,
        object,
    })
}

/// `object` as indented JSON, `schema` first. Fails where `object` does
/// not serialize as a JSON object.
pub fn to_pretty<T: Serialize + ?Sized>(object: &T) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&Stamped {
        schema: SCHEMA,
        object,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Two {
        b: u8,
        a: &'static str,
    }

    #[test]
    fn the_schema_comes_first_and_the_keys_keep_their_order() {
        let line = to_line(&Two { b: 1, a: "x" }).unwrap();
        assert_eq!(line, r#"{"schema":"ardei-lab/2","b":1,"a":"x"}"#);
        let pretty = to_pretty(&serde_json::json!({ "error": "no" })).unwrap();
        let v: serde_json::Value = serde_json::from_str(&pretty).unwrap();
        assert_eq!(v, serde_json::json!({ "schema": SCHEMA, "error": "no" }));
    }

    #[test]
    fn only_an_object_can_carry_the_key() {
        assert!(to_line(&3u8).is_err());
        assert!(to_line(&[1, 2]).is_err());
    }
}
