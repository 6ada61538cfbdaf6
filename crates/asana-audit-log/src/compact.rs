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

use std::ops::Range;

/// What one pass over a JSON text found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// Whether there is whitespace outside strings, i.e. whether [`compact`] would change it.
    pub has_whitespace: bool,
    /// The deepest nesting of arrays and objects (a scalar is 0, `[]` and `{}` are 1).
    pub depth: usize,
}

/// The index just past the closing quote of the string literal whose contents start at `from`
/// (the length of `bytes` when it never closes). A backslash escapes the byte after it, so `\"`
/// never ends the string. The contents are skipped eight bytes at a time (a word-wide test for
/// a quote or a backslash), not byte by byte.
fn string_end(bytes: &[u8], from: usize) -> usize {
    string_end_escaped(bytes, from).0
}

/// [`string_end`], and whether the string has an escape (a backslash).
#[inline]
fn string_end_escaped(bytes: &[u8], mut from: usize) -> (usize, bool) {
    let mut escaped = false;
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    /// High bit set in each byte of `word` that is zero; the lowest one is always exact.
    fn zero_bytes(word: u64) -> u64 {
        word.wrapping_sub(ONES) & !word & HIGHS
    }
    loop {
        while let Some(chunk) = bytes.get(from..from + 8) {
            let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            let found = zero_bytes(word ^ (ONES * u64::from(b'"')))
                | zero_bytes(word ^ (ONES * u64::from(b'\\')));
            if found != 0 {
                from += (found.trailing_zeros() / 8) as usize;
                break;
            }
            from += 8;
        }
        match bytes.get(from) {
            None => return (bytes.len(), escaped),
            Some(b'"') => return (from + 1, escaped),
            Some(b'\\') => {
                escaped = true;
                from += 2;
            }
            Some(_) => from += 1,
        }
    }
}

/// Scans `json` once: its whitespace outside strings and its nesting depth.
///
/// Brackets inside string literals do not count. For text that is not valid JSON the result is
/// still well defined (unbalanced closing brackets never take the depth below zero).
#[cfg(any(test, fuzzing))]
pub fn shape(json: &str) -> Shape {
    scan_object(json, |_, _, _| {}).0
}

/// Scans the text of one valid JSON value once, like [`shape`], and also hands each member of
/// the top-level object to `member` as `(key, value, plain)`: the key's string literal with its
/// quotes and the value's JSON text without surrounding whitespace, as byte ranges of `json`,
/// and whether the member is plain: neither its key nor its value (when that is a string) has
/// an escape, so their text between the quotes is their value. Returns the shape and whether
/// the value is an object (when it is not, `member` is never called).
///
/// The one walker over JSON text in this crate: decoding an event, indexing an object's
/// members and visiting its string members all use it. The members are meaningful only for
/// valid JSON (e.g. a `serde_json::value::RawValue`): the scan follows structure, it does not
/// check it. For any text it finishes without panicking, and the shape is as [`shape`]
/// describes. Members are reported in order, repeated keys included.
pub(crate) fn scan_object(
    json: &str,
    mut member: impl FnMut(Range<usize>, Range<usize>, bool),
) -> (Shape, bool) {
    let bytes = json.as_bytes();
    let mut shape = Shape::default();
    let mut depth = 0usize;
    let mut is_object = None;
    // The current top-level member: its key literal, where its value starts, and whether an
    // escape was seen in either.
    let mut key: Option<Range<usize>> = None;
    let mut value_start = None;
    let mut escaped = false;
    // Just past the last byte that was not whitespace.
    let mut end = 0;
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        let start = at;
        at += 1;
        if is_json_whitespace(byte) {
            shape.has_whitespace = true;
            continue;
        }
        let top = depth == 1 && is_object == Some(true);
        match byte {
            b'"' => {
                let (string_end, has_escape) = string_end_escaped(bytes, at);
                at = string_end;
                if top && key.is_none() {
                    key = Some(start..at);
                    escaped = has_escape;
                } else if top && value_start.is_none() {
                    value_start = Some(start);
                    escaped |= has_escape;
                }
            }
            b'[' | b'{' => {
                is_object.get_or_insert(byte == b'{');
                if top && value_start.is_none() {
                    value_start = Some(start);
                }
                depth += 1;
                shape.depth = shape.depth.max(depth);
            }
            b']' | b'}' | b',' => {
                if top && let (Some(key), Some(value)) = (key.take(), value_start.take()) {
                    member(key, value..end, !escaped);
                }
                if byte != b',' {
                    depth = depth.saturating_sub(1);
                }
            }
            b':' => {}
            _ => {
                is_object.get_or_insert(false);
                if top && value_start.is_none() {
                    value_start = Some(start);
                }
            }
        }
        end = at;
    }
    (shape, is_object == Some(true))
}

/// Copies `json` without the whitespace outside string literals.
///
/// Input is expected to be valid JSON; for any input the function only ever drops the four
/// JSON whitespace bytes outside strings (inside strings those bytes cannot appear raw in valid
/// JSON anyway, and escapes such as `\"` are followed so a quote inside a string never ends it).
/// Multi-byte UTF-8 sequences never contain bytes below 0x80, so cutting between ASCII bytes
/// keeps the text valid UTF-8.
pub fn compact(json: &str) -> String {
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte == b'"' {
            let end = string_end(bytes, at + 1).min(bytes.len());
            out.push_str(&json[at..end]);
            at = end;
        } else {
            if !is_json_whitespace(byte) {
                // Outside strings valid JSON is ASCII; a stray non-ASCII byte is copied with the
                // rest of its character.
                let len = json[at..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&json[at..at + len]);
                at += len;
                continue;
            }
            at += 1;
        }
    }
    out
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
    fn members_are_plain_when_neither_key_nor_string_value_has_an_escape() {
        let text = r#"{"a":"x","b\"":{"c":["}",1]},"d":-1.5e3,"e":"\u00e9","f":null}"#;
        let mut plain = Vec::new();
        let (shape, is_object) = scan_object(text, |_, _, is_plain| plain.push(is_plain));
        assert_eq!((shape.depth, is_object), (3, true));
        assert_eq!(plain, [true, false, true, false, true]);
        // An escape inside a value that is not a string does not count.
        let mut plain = Vec::new();
        scan_object(r#"{"a":["\n"], "b" : "\"" }"#, |_, _, p| plain.push(p));
        assert_eq!(plain, [true, false]);
    }

    #[test]
    fn string_ends_are_found_at_any_position() {
        // Every position of the closing quote relative to the eight-byte steps, with escapes
        // before it, and strings that never close.
        for len in 0..40 {
            for escape_at in [None, Some(0), Some(7), Some(8), Some(15)] {
                let mut body = "a".repeat(len);
                if let Some(at) = escape_at.filter(|&at| at + 2 <= len) {
                    body.replace_range(at..at + 2, "\\\"");
                }
                let text = format!("\"{body}\"x");
                assert_eq!(string_end(text.as_bytes(), 1), len + 2, "{text}");
                let open = format!("\"{body}");
                assert_eq!(string_end(open.as_bytes(), 1), open.len(), "{open}");
            }
        }
        assert_eq!(string_end(br#""ab\"#, 1), 4);
        assert_eq!(string_end("\"é👋\"".as_bytes(), 1), 8);
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

    /// The members `scan_object` reports, as (key literal, value text) pairs; a member called
    /// plain is checked to have no escape in its key or string value.
    fn members(json: &str) -> (Shape, bool, Vec<(String, String)>) {
        let mut found = Vec::new();
        let (shape, is_object) = scan_object(json, |k, v, plain| {
            let (key, value) = (&json[k], &json[v]);
            if plain {
                assert!(!key.contains('\\'), "{key}");
                assert!(!value.starts_with('"') || !value.contains('\\'), "{value}");
            }
            found.push((key.to_owned(), value.to_owned()))
        });
        (shape, is_object, found)
    }

    #[test]
    fn scan_object_reports_top_level_members() {
        let text = " {\"a\" : 1 , \"b\\\"\":{\"x\":[1,{\"y\":\"}\"}]} ,\"c\":\"s,}\" ,\"d\":null,\"a\":[ ]}\n";
        let (shape, is_object, found) = members(text);
        assert!(is_object && shape.has_whitespace);
        assert_eq!(shape.depth, 4);
        let expected = [
            ("\"a\"", "1"),
            ("\"b\\\"\"", r#"{"x":[1,{"y":"}"}]}"#),
            ("\"c\"", "\"s,}\""),
            ("\"d\"", "null"),
            ("\"a\"", "[ ]"),
        ];
        let found: Vec<(&str, &str)> = found.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(found, expected);
        for not_object in ["[1,2]", "\"x\"", "3", "[{\"a\":1}]", "{}"] {
            let (_, is_object, found) = members(not_object);
            assert_eq!(is_object, not_object == "{}", "{not_object}");
            assert!(found.is_empty(), "{not_object}");
        }
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

    /// `value` as JSON text, pretty or compact.
    fn text_of(value: &serde_json::Value, pretty: bool) -> String {
        if pretty {
            serde_json::to_string_pretty(value).unwrap()
        } else {
            serde_json::to_string(value).unwrap()
        }
    }

    proptest! {
        #[test]
        fn scan_object_agrees_with_serde_json(value in arb_json(), pretty in any::<bool>()) {
            let text = text_of(&value, pretty);
            let (shape_found, is_object, found) = members(&text);
            prop_assert_eq!(shape_found, shape(&text));
            prop_assert_eq!(is_object, value.is_object());
            if let serde_json::Value::Object(map) = &value {
                prop_assert_eq!(found.len(), map.len());
                for ((key, raw), (want_key, want_value)) in found.iter().zip(map) {
                    prop_assert_eq!(&serde_json::from_str::<String>(key).unwrap(), want_key);
                    prop_assert_eq!(&serde_json::from_str::<serde_json::Value>(raw).unwrap(), want_value);
                }
            }
        }

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
