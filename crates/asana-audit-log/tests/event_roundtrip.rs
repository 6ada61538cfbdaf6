//! The round-trip law: for any event object, decode → encode gives back the same JSON (minus
//! insignificant whitespace), whatever it holds.

use asana_audit_log::AuditLogEvent;
use proptest::prelude::*;

/// A JSON value kept as text pieces, so numbers beyond `f64`, escapes and odd formatting are
/// all representable.
#[derive(Clone, Debug)]
enum Json {
    Literal(&'static str),
    Number(String),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Renders a string literal either through serde_json or with every non-ASCII or special
/// character as a `\u` escape (both are valid JSON; the escapes must survive as written).
fn string_literal(text: &str, escape_all: bool) -> String {
    if !escape_all {
        return serde_json::to_string(text).unwrap();
    }
    let mut out = String::from("\"");
    for unit in text.encode_utf16() {
        let c = char::from_u32(u32::from(unit));
        match c {
            Some(c) if c.is_ascii_alphanumeric() || c == ' ' => out.push(c),
            _ => out.push_str(&format!("\\u{unit:04x}")),
        }
    }
    out.push('"');
    out
}

fn arb_ws() -> impl Strategy<Value = &'static str> {
    prop_oneof![4 => Just(""), 1 => Just(" "), 1 => Just("\n  "), 1 => Just("\t"), 1 => Just("\r\n")]
}

fn render(value: &Json, ws: &mut dyn Iterator<Item = &'static str>, escape: bool) -> String {
    match value {
        Json::Literal(text) => (*text).to_owned(),
        Json::Number(text) => text.clone(),
        Json::Str(text) => string_literal(text, escape),
        Json::Array(items) => {
            let mut inner = Vec::new();
            for item in items {
                let before = ws.next().unwrap_or("");
                let rendered = render(item, ws, escape);
                let after = ws.next().unwrap_or("");
                inner.push(format!("{before}{rendered}{after}"));
            }
            format!("[{}]", inner.join(","))
        }
        Json::Object(members) => {
            let mut inner = Vec::new();
            for (key, item) in members {
                let a = ws.next().unwrap_or("");
                let b = ws.next().unwrap_or("");
                let rendered = render(item, ws, escape);
                let c = ws.next().unwrap_or("");
                inner.push(format!(
                    "{a}{}{b}:{rendered}{c}",
                    string_literal(key, false)
                ));
            }
            format!("{{{}}}", inner.join(","))
        }
    }
}

fn arb_number() -> impl Strategy<Value = Json> {
    prop_oneof![
        any::<i64>().prop_map(|n| Json::Number(n.to_string())),
        "-?[1-9][0-9]{19,40}".prop_map(Json::Number),
        "-?[0-9]\\.[0-9]{1,6}[eE][+-]?[0-9]{1,3}".prop_map(Json::Number),
        Just(Json::Number("1e400".into())),
        Just(Json::Number("-0.0".into())),
    ]
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_]{1,10}",
        "\\PC{0,6}",
        Just("actor".to_owned()),
        Just("resource".to_owned()),
        Just("context".to_owned()),
        Just("details".to_owned()),
        Just("event_type".to_owned()),
        Just("event_category".to_owned()),
        Just("old_value".to_owned()),
        Just("group".to_owned()),
        Just("actor_type".to_owned()),
        Just("on_behalf_of_user_id".to_owned()),
    ]
    .prop_filter("the required fields are set separately", |k| {
        k != "gid" && k != "created_at"
    })
}

fn arb_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Literal("null")),
        Just(Json::Literal("true")),
        Just(Json::Literal("false")),
        arb_number(),
        "\\PC{0,12}".prop_map(Json::Str),
        "[\"\\\\/\u{0}-\u{1f}é€😀 ]{0,6}".prop_map(Json::Str),
        Just(Json::Str("user".into())),
        Just(Json::Str("api".into())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Array),
            prop::collection::vec((arb_key(), inner), 0..6).prop_map(Json::Object),
        ]
    })
}

/// An event object: a valid gid and created_at at random places among arbitrary members.
fn arb_event() -> impl Strategy<Value = (String, String, String)> {
    (
        "[1-9][0-9]{0,18}",
        prop_oneof![
            Just("2021-10-08T00:00:00.000Z"),
            Just("2024-02-29T23:59:59.999Z"),
            Just("2025-01-01T12:00:00Z"),
            Just("2024-06-01T10:00:00.123+02:00"),
        ],
        prop::collection::vec((arb_key(), arb_json()), 0..8),
        0usize..10,
        0usize..10,
        prop::collection::vec(arb_ws(), 0..200),
        any::<bool>(),
    )
        .prop_map(
            |(gid, created_at, mut members, gid_at, at_at, ws, escape)| {
                // Keys must not repeat the required ones; other duplicates are allowed.
                let gid_pos = gid_at.min(members.len());
                members.insert(gid_pos, ("gid".into(), Json::Str(gid.clone())));
                let at_pos = at_at.min(members.len());
                members.insert(
                    at_pos,
                    ("created_at".into(), Json::Str(created_at.to_owned())),
                );
                let mut ws_iter = ws.into_iter();
                let text = render(&Json::Object(members), &mut ws_iter, escape);
                (text, gid, created_at.to_owned())
            },
        )
}

/// What the text must become: the same bytes without whitespace outside strings.
fn strip_whitespace(json: &str) -> String {
    let value: serde_json::Value = match serde_json::from_str(json) {
        Ok(value) => value,
        // Numbers beyond f64 cannot go through Value; compare structurally only when possible.
        Err(_) => return String::new(),
    };
    serde_json::to_string(&value).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_encode_is_identity((text, gid, created_at) in arb_event()) {
        let event = AuditLogEvent::from_json(&text).unwrap();
        prop_assert_eq!(event.gid(), gid.as_str());
        let expected_at = chrono::DateTime::parse_from_rfc3339(&created_at).unwrap();
        prop_assert_eq!(event.created_at(), expected_at);

        let encoded = serde_json::to_string(&event).unwrap();
        // One line, and exactly the input's tokens.
        prop_assert!(!encoded.contains('\n'));
        prop_assert_eq!(&encoded, event.json());
        // Semantically equal whenever serde_json can represent the value.
        let semantic = strip_whitespace(&text);
        if !semantic.is_empty() {
            prop_assert_eq!(strip_whitespace(&encoded), semantic);
        }
        // Decoding the output again gives the same event (and the same text).
        let again: AuditLogEvent = serde_json::from_str(&encoded).unwrap();
        prop_assert_eq!(again.json(), encoded.as_str());
        prop_assert_eq!(&again, &event);
    }

    #[test]
    fn encoded_text_equals_input_without_whitespace((text, _gid, _at) in arb_event()) {
        // The reference compactor: a second, independent scan written for this test.
        let mut expected = String::new();
        let mut in_string = false;
        let mut escaped = false;
        for c in text.chars() {
            if in_string {
                expected.push(c);
                if escaped { escaped = false } else if c == '\\' { escaped = true } else if c == '"' { in_string = false }
            } else if !matches!(c, ' ' | '\n' | '\t' | '\r') {
                if c == '"' { in_string = true }
                expected.push(c);
            }
        }
        let event = AuditLogEvent::from_json(&text).unwrap();
        prop_assert_eq!(serde_json::to_string(&event).unwrap(), expected);
    }
}

#[test]
fn schema_describes_the_wire_shape() {
    let schema = schemars::schema_for!(AuditLogEvent);
    insta::assert_json_snapshot!("audit_log_event_schema", schema);
}
