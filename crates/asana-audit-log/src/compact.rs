//! Removing insignificant whitespace from JSON text, so that an event is one NDJSON line, and
//! measuring how deeply the text nests.
//!
//! Hand-written because the job is small and exact: serde_json can only compact by parsing into
//! a `Value` and printing it again, which reorders keys (without `preserve_order`) and rounds
//! numbers beyond 64 bits; both would break the event's byte-for-byte preservation. This scanner
//! copies every byte except whitespace outside string literals, so the output is the same JSON
//! text token for token. Both functions are loops over bytes: no input, however deeply nested,
//! can make them recurse.

/// JSON's insignificant whitespace (RFC 8259, section 2).
fn is_json_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// What one pass over a JSON text found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// Whether there is whitespace outside strings, i.e. whether [`compact`] would change it.
    pub has_whitespace: bool,
    /// The deepest nesting of arrays and objects (a scalar is 0, `[]` and `{}` are 1).
    pub depth: usize,
}

/// Scans `json` once: its whitespace outside strings and its nesting depth.
///
/// Brackets inside string literals do not count. For text that is not valid JSON the result is
/// still well defined (unbalanced closing brackets never take the depth below zero).
pub fn shape(json: &str) -> Shape {
    let mut shape = Shape::default();
    let mut depth = 0usize;
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
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                shape.depth = shape.depth.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ if is_json_whitespace(byte) => shape.has_whitespace = true,
            _ => {}
        }
    }
    shape
}

/// Copies `json` without the whitespace outside string literals.
///
/// Input is expected to be valid JSON; for any input the function only ever drops the four
/// JSON whitespace bytes outside strings (inside strings those bytes cannot appear raw in valid
/// JSON anyway, and escapes such as `\"` are followed so a quote inside a string never ends it).
/// Multi-byte UTF-8 sequences never contain bytes below 0x80, so scanning bytes is safe.
pub fn compact(json: &str) -> String {
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
        assert!(shape(input).has_whitespace);
        assert!(!shape(&out).has_whitespace);
    }

    #[test]
    fn keeps_non_ascii_and_big_numbers() {
        let input = "{\"n\": 123456789012345678901234567890, \"s\": \"héllo — 👋\"}";
        assert_eq!(
            compact(input),
            "{\"n\":123456789012345678901234567890,\"s\":\"héllo — 👋\"}"
        );
    }

    #[test]
    fn depth_counts_containers_outside_strings() {
        assert_eq!(shape("1").depth, 0);
        assert_eq!(shape("[]").depth, 1);
        assert_eq!(shape(r#"{"a":[{"b":[]}],"c":{}}"#).depth, 4);
        assert_eq!(shape(r#"["[[[{{{", "\"[["]"#).depth, 1);
        // Unbalanced input never goes below zero.
        assert_eq!(shape("]]]}[").depth, 1);
        // Found while fuzzing (a harness assumption, not a bug): with a repeated key the text
        // nests deeper than the `serde_json::Value` it parses to, which keeps the last value
        // only. The depth limit is about the text every consumer has to parse, so it counts
        // the text.
        let repeated = r#"{"a":[[1]],"a":1}"#;
        assert_eq!(shape(repeated).depth, 3);
        let value: serde_json::Value = serde_json::from_str(repeated).unwrap();
        assert_eq!(value, serde_json::json!({"a": 1}));
    }

    #[test]
    fn a_million_levels_neither_recurse_nor_fail() {
        // Scanning and compacting are loops: depth costs no stack. (The event decoder refuses
        // such an event by its depth; this is about the scanner alone.)
        let depth = 1_000_000;
        let pretty = format!("{}1{}", "[ \n".repeat(depth), " ]".repeat(depth));
        let found = shape(&pretty);
        assert_eq!(found.depth, depth);
        assert!(found.has_whitespace);
        let compacted = compact(&pretty);
        assert_eq!(compacted.len(), 2 * depth + 1);
        assert_eq!(
            shape(&compacted),
            Shape {
                has_whitespace: false,
                depth
            }
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
            prop_assert!(!shape(&compacted).has_whitespace);
        }
    }
}
