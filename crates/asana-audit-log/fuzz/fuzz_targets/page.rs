//! Page decoding: bytes -> the generated page type -> every event through
//! `AuditLogEvent::from_json` -> re-encoding gives the same JSON.
//!
//! Checked for every input: nothing panics; an event that decodes re-encodes to exactly its own
//! text without insignificant whitespace, equal as JSON to the original, and decodes again to the
//! same event, whose members read as serde_json reads them; an event that fails to decode really breaks a documented rule (not an object, no
//! usable `gid` or `created_at`, or nested deeper than `MAX_EVENT_DEPTH`).

#![no_main]

use asana_audit_log::fuzzing::{compact, shape};
use asana_audit_log::AuditLogEvent;
use asana_audit_log::limits::MAX_EVENT_DEPTH;
use asana_audit_log_api::types::AuditLogEventPage;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Whether `text` is an event this library must accept, judged independently of it (through
/// `serde_json::Value`); `None` when serde_json cannot judge (numbers beyond f64, too deep).
fn should_decode(text: &str) -> Option<bool> {
    if shape(text).depth > MAX_EVENT_DEPTH {
        return Some(false);
    }
    let value: Value = serde_json::from_str(text).ok()?;
    let Value::Object(map) = value else {
        return Some(false);
    };
    let gid_ok = matches!(map.get("gid"), Some(Value::String(gid)) if !gid.is_empty());
    let at_ok = matches!(map.get("created_at"), Some(Value::String(at))
        if chrono::DateTime::parse_from_rfc3339(at).is_ok());
    Some(gid_ok && at_ok)
}

fuzz_target!(|data: &[u8]| {
    let Ok(page) = serde_json::from_slice::<AuditLogEventPage>(data) else {
        return;
    };
    for raw in &page.data {
        let text = raw.json();
        match AuditLogEvent::from_json(text) {
            Ok(event) => {
                if let Some(expected) = should_decode(text) {
                    assert!(expected, "decoded an event that breaks a rule: {text}");
                }
                let encoded = serde_json::to_string(&event).expect("an event serializes");
                assert_eq!(
                    encoded,
                    compact(text),
                    "re-encoding changed more than whitespace"
                );
                assert_eq!(event.json(), encoded);
                assert!(!shape(&encoded).has_whitespace);
                if let (Ok(a), Ok(b)) = (
                    serde_json::from_str::<Value>(text),
                    serde_json::from_str::<Value>(&encoded),
                ) {
                    assert_eq!(a, b, "re-encoded JSON is not equal to the input");
                }
                let again = AuditLogEvent::from_json(&encoded).expect("re-encoded event decodes");
                assert_eq!(again, event);
                assert_eq!(again.gid(), event.gid());
                assert_eq!(again.created_at(), event.created_at());
                assert_eq!(again.event_type(), event.event_type());
                assert!(!event.gid().is_empty());
                // The typed views and accessors never panic.
                let _ = (
                    event.actor(),
                    event.resource(),
                    event.context(),
                    event.details(),
                );
                let _ = event.extra().count();
                let _ = event.event_type().category();
                let _ = event.to_value();
                let _ = format!("{event:?}");
                // Every top-level member reads as serde_json reads it (the last of a repeated
                // key), and nothing else is there.
                if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) {
                    for (key, value) in &map {
                        let raw = event.get(key).expect("every member is readable");
                        let read: Value = serde_json::from_str(raw.get()).expect("a member is JSON");
                        assert_eq!(&read, value, "member {key:?}");
                    }
                    let extra = event.extra().count();
                    let known = ["gid", "created_at", "event_type", "event_category", "actor",
                        "resource", "context", "details"];
                    let known_present = known.iter().filter(|k| map.contains_key(**k)).count();
                    assert_eq!(extra + known_present, map.len());
                }
                // Decoding through serde (as inside another structure) agrees.
                let via_serde: AuditLogEvent =
                    serde_json::from_str(text).expect("serde decoding agrees with from_json");
                assert_eq!(via_serde, event);
            }
            Err(error) => {
                if let Some(expected) = should_decode(text) {
                    assert!(!expected, "rejected a valid event ({error}): {text}");
                }
                let _ = error.to_string();
                assert!(error.snippet().len() <= 120 + '…'.len_utf8());
            }
        }
    }
});
