//! Compaction: `compact` removes JSON whitespace outside strings and nothing else.
//!
//! For any UTF-8 text: the output is the input minus some of its whitespace bytes, has no
//! whitespace left outside strings, is a fixed point, and has the same nesting depth. For valid
//! JSON: the output is valid JSON, equal (as a `serde_json::Value`, when serde_json can hold it)
//! to the input, and the depth `shape` reports is at least that of the parsed value (equal but
//! for repeated keys, whose earlier values a `Value` drops).

#![no_main]

use asana_audit_log::fuzzing::{compact, shape};
use libfuzzer_sys::fuzz_target;
use serde::de::IgnoredAny;
use serde_json::Value;

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let before = shape(text);
    let out = compact(text);

    // The output is a subsequence of the input that drops whitespace bytes only.
    let mut rest = out.as_bytes().iter().peekable();
    for &byte in text.as_bytes() {
        if rest.peek() == Some(&&byte) {
            rest.next();
        } else {
            assert!(
                matches!(byte, b' ' | b'\t' | b'\n' | b'\r'),
                "dropped a non-whitespace byte {byte:#x}"
            );
        }
    }
    assert!(
        rest.next().is_none(),
        "the output has bytes the input lacks"
    );

    let after = shape(&out);
    assert!(!after.has_whitespace);
    assert_eq!(after.depth, before.depth);
    assert_eq!(before.has_whitespace, out.len() != text.len());
    assert_eq!(compact(&out), out, "compaction is idempotent");

    if serde_json::from_str::<IgnoredAny>(text).is_ok() {
        serde_json::from_str::<IgnoredAny>(&out).expect("compacted valid JSON stays valid");
        if let Ok(value) = serde_json::from_str::<Value>(text) {
            let compacted: Value = serde_json::from_str(&out).expect("same depth, parses too");
            assert_eq!(value, compacted);
            // A repeated key keeps its last value in a `Value`, so the text may nest deeper.
            assert!(depth(&value) <= before.depth);
        }
    }
});
