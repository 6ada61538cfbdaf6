//! What the integration tests share: the mock's events and the OCSF JSON Schemas.

use std::collections::HashMap;
use std::sync::OnceLock;

use asana_audit_log_mock::MockServer;
use asana_audit_log_ocsf::{OcsfClass, OcsfVersion};
use serde_json::Value;

/// The mock's events for `seed`, over a fixed window so that every run (and every snapshot)
/// sees the same bytes.
pub async fn mock_events(count: u64, seed: u64, forward_compat: bool) -> Vec<String> {
    let end = "2025-06-01T00:00:00Z".parse().unwrap();
    let server = MockServer::builder()
        .events(count)
        .seed(seed)
        .span_end(end)
        .now(end)
        .forward_compat(forward_compat)
        .start()
        .await
        .unwrap();
    let events: Vec<String> = server
        .all_events_json()
        .into_iter()
        .map(|(_, json)| json)
        .collect();
    assert_eq!(events.len() as u64, count);
    events
}

/// The JSON Schema of `class` in `version`, as text (copied into `tests/schemas`, see its
/// README).
pub fn schema_text(version: OcsfVersion, class: OcsfClass) -> &'static str {
    macro_rules! schemas {
        ($($class:ident => $name:literal),* $(,)?) => {
            match (version, class) {
                $(
                    (OcsfVersion::V1_1, OcsfClass::$class) => {
                        include_str!(concat!("../schemas/", $name, "-1.1.0.json"))
                    }
                    (OcsfVersion::V1_8, OcsfClass::$class) => {
                        include_str!(concat!("../schemas/", $name, "-1.8.0.json"))
                    }
                )*
                other => panic!("no schema for {other:?}"),
            }
        };
    }
    schemas!(
        BaseEvent => "base_event",
        AccountChange => "account_change",
        Authentication => "authentication",
        EntityManagement => "entity_management",
        UserAccess => "user_access",
        GroupManagement => "group_management",
        WebResourcesActivity => "web_resources_activity",
        FileHosting => "file_hosting",
    )
}

/// The JSON Schema of `class` in `version` (parsed once).
pub fn schema(version: OcsfVersion, class: OcsfClass) -> &'static Value {
    static CACHE: OnceLock<HashMap<(OcsfVersion, u32), Value>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| {
        OcsfVersion::ALL
            .into_iter()
            .flat_map(|version| OcsfClass::ALL.map(|class| (version, class)))
            .map(|(version, class)| {
                let schema = serde_json::from_str(schema_text(version, class)).unwrap();
                ((version, class.uid()), schema)
            })
            .collect()
    });
    &cache[&(version, class.uid())]
}

/// A draft 2020-12 validator of [`schema`] (built once).
pub fn validator(version: OcsfVersion, class: OcsfClass) -> &'static jsonschema::Validator {
    static CACHE: OnceLock<HashMap<(OcsfVersion, u32), jsonschema::Validator>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| {
        OcsfVersion::ALL
            .into_iter()
            .flat_map(|version| OcsfClass::ALL.map(|class| (version, class)))
            .map(|(version, class)| {
                let validator = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .build(schema(version, class))
                    .unwrap_or_else(|e| panic!("schema of {class:?} in {version}: {e}"));
                ((version, class.uid()), validator)
            })
            .collect()
    });
    &cache[&(version, class.uid())]
}
