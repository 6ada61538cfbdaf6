//! Removing insignificant whitespace from JSON text, so that an event is one NDJSON line.
//!
//! Hand-written because the job is small and exact: serde_json can only compact by parsing into
//! a `Value` and printing it again, which reorders keys (without `preserve_order`) and rounds
//! numbers beyond 64 bits; both would break the event's byte-for-byte preservation. This scanner
//! copies every byte except whitespace outside string literals, so the output is the same JSON
//! text token for token.

/// JSON's insignificant whitespace (RFC 8259, section 2).
fn is_json_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// Whether `json` has whitespace outside its strings, i.e. whether [`compact`] would change it.
pub(crate) fn needs_compaction(json: &str) -> bool {
    let mut in_string = false;
    let mut escaped = false;
    for &byte in json.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
        } else if byte == b'"' {
            in_string = true;
        } else if is_json_whitespace(byte) {
            return true;
        }
    }
    false
}

/// Copies `json` without the whitespace outside string literals.
///
/// Input is expected to be valid JSON; for any input the function only ever drops the four
/// JSON whitespace bytes outside strings (inside strings those bytes cannot appear raw in valid
/// JSON anyway, and escapes such as `\"` are followed so a quote inside a string never ends it).
/// Multi-byte UTF-8 sequences never contain bytes below 0x80, so scanning bytes is safe.
pub(crate) fn compact(json: &str) -> String {
    let mut out = Vec::with_capacity(json.len());
    let mut in_string = false;
    let mut escaped = false;
    for &byte in json.as_bytes() {
        if in_string {
            out.push(byte);
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
        } else if !is_json_whitespace(byte) {
            if byte == b'"' {
                in_string = true;
            }
            out.push(byte);
        }
    }
    // Only ASCII whitespace bytes were removed, so the bytes are still UTF-8.
    String::from_utf8(out).expect("removing ASCII bytes keeps UTF-8 valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn removes_only_outside_strings() {
        let input = "{ \"a b\" : [ 1 ,\n\t2 ] , \"c\":\"x \\\" y\\\\\" ,\r\n\"d\" : \"\\u0020 \" }";
        let out = compact(input);
        assert_eq!(
            out,
            "{\"a b\":[1,2],\"c\":\"x \\\" y\\\\\",\"d\":\"\\u0020 \"}"
        );
        assert!(needs_compaction(input));
        assert!(!needs_compaction(&out));
    }

    #[test]
    fn keeps_non_ascii_and_big_numbers() {
        let input = "{\"n\": 123456789012345678901234567890, \"s\": \"héllo — 👋\"}";
        assert_eq!(
            compact(input),
            "{\"n\":123456789012345678901234567890,\"s\":\"héllo — 👋\"}"
        );
    }

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "[ \\t\\n\"\\\\a-zé👋]{0,8}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[ a-z\"\\\\]{0,5}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn compacting_pretty_json_gives_compact_json(value in arb_json()) {
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            let compacted = compact(&pretty);
            prop_assert_eq!(&compacted, &serde_json::to_string(&value).unwrap());
            prop_assert!(!compacted.contains('\n'));
            prop_assert!(!needs_compaction(&compacted));
        }
    }
}
