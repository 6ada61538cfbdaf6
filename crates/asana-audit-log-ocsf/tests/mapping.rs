//! Every mapped event validates against its OCSF class's JSON Schema, has consistent ids and
//! keeps every leaf of the source event (mapped or in `unmapped`).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use asana_audit_log::AuditLogEvent;
use asana_audit_log_mock::event_types;
use asana_audit_log_ocsf::{Mapper, OcsfClass, OcsfEvent, fallback_class, mapping_for};
use common::mock_events;
use serde_json::Value;

const TENANT: &str = "1200000000000001";

/// The JSON Schema of `class` (copied into `tests/schemas`, see its README).
fn schema_text(class: OcsfClass) -> &'static str {
    match class {
        OcsfClass::BaseEvent => include_str!("schemas/base_event-1.8.0.json"),
        OcsfClass::AccountChange => include_str!("schemas/account_change-1.8.0.json"),
        OcsfClass::Authentication => include_str!("schemas/authentication-1.8.0.json"),
        OcsfClass::EntityManagement => include_str!("schemas/entity_management-1.8.0.json"),
        OcsfClass::UserAccess => include_str!("schemas/user_access-1.8.0.json"),
        OcsfClass::GroupManagement => include_str!("schemas/group_management-1.8.0.json"),
        OcsfClass::WebResourcesActivity => {
            include_str!("schemas/web_resources_activity-1.8.0.json")
        }
        OcsfClass::FileHosting => include_str!("schemas/file_hosting-1.8.0.json"),
        other => panic!("no schema for {other:?}"),
    }
}

fn validator(class: OcsfClass) -> &'static jsonschema::Validator {
    static CACHE: OnceLock<HashMap<u32, jsonschema::Validator>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| {
        OcsfClass::ALL
            .iter()
            .map(|&class| {
                let schema: Value = serde_json::from_str(schema_text(class)).unwrap();
                let validator = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .build(&schema)
                    .unwrap_or_else(|e| panic!("schema of {class:?}: {e}"));
                (class.uid(), validator)
            })
            .collect()
    });
    &cache[&class.uid()]
}

/// Every leaf of `value` (scalars, `null`, empty objects and arrays) with its path.
fn leaves(value: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Value)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                path.push(k.clone());
                leaves(v, path, out);
                path.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                path.push(i.to_string());
                leaves(v, path, out);
                path.pop();
            }
        }
        leaf => out.push((path.clone(), leaf.clone())),
    }
}

fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| match v {
        Value::Object(map) => map.get(*key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// Where a source leaf may have been copied to (the crate docs' table).
fn mapped_to(path: &[String]) -> &'static [&'static [&'static str]] {
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    match path.as_slice() {
        ["gid"] => &[&["metadata", "uid"]],
        ["created_at"] => &[&["metadata", "original_time"]],
        ["event_type"] => &[&["metadata", "event_code"]],
        ["actor", "gid"] => &[&["actor", "user", "uid"]],
        ["actor", "name"] => &[&["actor", "user", "name"]],
        ["actor", "email"] => &[&["actor", "user", "email_addr"]],
        ["resource", "gid"] => &[
            &["user", "uid"],
            &["group", "uid"],
            &["web_resources", "0", "uid"],
            &["file", "uid"],
            &["entity", "uid"],
        ],
        ["resource", "name"] => &[
            &["user", "name"],
            &["group", "name"],
            &["web_resources", "0", "name"],
            &["file", "name"],
            &["entity", "name"],
        ],
        ["resource", "email"] => &[&["user", "email_addr"]],
        ["resource", "resource_type"] => &[
            &["group", "type"],
            &["web_resources", "0", "type"],
            &["entity", "type"],
        ],
        ["context", "client_ip_address"] => &[&["src_endpoint", "ip"]],
        ["context", "user_agent"] => &[&["http_request", "user_agent"]],
        ["context", "oauth_app_name"] => &[&["actor", "app_name"]],
        ["details", "reason"] => &[&["status_detail"]],
        ["details", "new_value"] => &[&["privileges", "0"]],
        ["details", "member", "gid"] => &[&["user", "uid"]],
        ["details", "member", "name"] => &[&["user", "name"]],
        _ => &[],
    }
}

/// Everything the tests check about one mapped event; returns its problems.
fn problems(source_json: &str, ocsf: &OcsfEvent) -> Vec<String> {
    let mut errors = Vec::new();
    let source: Value = serde_json::from_str(source_json).unwrap();
    let out: Value = match ocsf.to_value() {
        Ok(v) => v,
        Err(e) => return vec![format!("output is not JSON: {e}: {}", ocsf.json())],
    };
    let class = ocsf.class();
    errors.extend(
        validator(class)
            .iter_errors(&out)
            .map(|e| format!("schema {}: {}: {e}", class.schema_name(), e.instance_path())),
    );
    let n = |key: &str| out[key].as_i64().unwrap_or(-1);
    if n("class_uid") != i64::from(class.uid()) {
        errors.push("class_uid".into());
    }
    if n("type_uid") != n("class_uid") * 100 + n("activity_id") {
        errors.push(format!(
            "type_uid {} is not class_uid*100+activity_id",
            n("type_uid")
        ));
    }
    if n("category_uid") != n("class_uid") / 1000 {
        errors.push("category_uid is not class_uid / 1000".into());
    }
    if i64::from(ocsf.type_uid()) != n("type_uid")
        || i64::from(ocsf.activity_id()) != n("activity_id")
    {
        errors.push("OcsfEvent's accessors disagree with its JSON".into());
    }
    let event = AuditLogEvent::from_json(source_json).unwrap();
    if n("time") != event.created_at().timestamp_millis() {
        errors.push("time".into());
    }
    if out["metadata"]["version"] != "1.8.0" || out["metadata"]["tenant_uid"] != TENANT {
        errors.push("metadata.version/tenant_uid".into());
    }
    if out["metadata"]["uid"] != event.gid() {
        errors.push("metadata.uid is not the gid".into());
    }
    if let Some(t) = source["event_type"].as_str()
        && out["metadata"]["event_code"] != t
    {
        errors.push("metadata.event_code is not the event type".into());
    }

    // No `null` anywhere outside `unmapped`.
    let mut out_leaves = Vec::new();
    leaves(&out, &mut Vec::new(), &mut out_leaves);
    for (path, value) in &out_leaves {
        if value.is_null() && path[0] != "unmapped" {
            errors.push(format!("null at {}", path.join(".")));
        }
    }

    // Every source leaf is in `unmapped` at its path, or copied to where the docs say.
    let unmapped = out.get("unmapped").cloned().unwrap_or(Value::Null);
    let mut source_leaves = Vec::new();
    leaves(&source, &mut Vec::new(), &mut source_leaves);
    for (path, value) in &source_leaves {
        let keys: Vec<&str> = path.iter().map(String::as_str).collect();
        if at(&unmapped, &keys) == Some(value) {
            continue;
        }
        let copied = value.is_string()
            && mapped_to(path)
                .iter()
                .any(|target| at(&out, target) == Some(value));
        if !copied {
            errors.push(format!("source leaf {} = {value} is lost", path.join(".")));
        }
    }
    // And `unmapped` holds nothing the source does not.
    let mut unmapped_leaves = Vec::new();
    leaves(&unmapped, &mut Vec::new(), &mut unmapped_leaves);
    for (path, value) in &unmapped_leaves {
        let keys: Vec<&str> = path.iter().map(String::as_str).collect();
        if !unmapped.is_null() && at(&source, &keys) != Some(value) {
            errors.push(format!("unmapped.{} is not in the source", path.join(".")));
        }
    }
    errors
}

#[tokio::test]
async fn every_event_type_maps_to_a_valid_lossless_event() {
    let mapper = Mapper::new().tenant_uid(TENANT);
    let mut events = mock_events(1500, 11, true).await;
    events.extend(mock_events(300, 12, false).await);

    let mut failures = Vec::new();
    let mut types_seen = BTreeSet::new();
    let mut classes_seen: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut unknown_types, mut degraded) = (0, 0);
    for json in &events {
        let event = AuditLogEvent::from_json(json).unwrap();
        let ocsf = mapper.map(&event);
        let event_type = event.event_type().as_str().to_owned();
        *classes_seen.entry(ocsf.class().schema_name()).or_default() += 1;
        let mut errors = problems(json, &ocsf);
        match mapping_for(&event_type) {
            Some(row) if row.class == ocsf.class() => {
                if row.activity_id != ocsf.activity_id() {
                    errors.push("activity differs from the row".into());
                }
            }
            Some(_) => {
                degraded += 1;
                if ocsf.activity_id() != 99
                    || !matches!(
                        ocsf.class(),
                        OcsfClass::EntityManagement | OcsfClass::BaseEvent
                    )
                {
                    errors.push(
                        "a degraded event must be Entity Management or Base Event, 99".into(),
                    );
                }
            }
            None => {
                unknown_types += 1;
                let category = event.event_category().map(|c| c.as_str());
                if ocsf.activity_id() != 99
                    || ![
                        fallback_class(category),
                        OcsfClass::EntityManagement,
                        OcsfClass::BaseEvent,
                    ]
                    .contains(&ocsf.class())
                {
                    errors.push(format!("unknown type mapped to {:?}", ocsf.class()));
                }
            }
        }
        types_seen.insert(event_type);
        if !errors.is_empty() {
            failures.push(format!(
                "{json}\n=> {}\n  - {}",
                ocsf.json(),
                errors.join("\n  - ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} events fail:\n{}",
        failures.len(),
        events.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
    for info in event_types() {
        assert!(
            types_seen.contains(info.event_type),
            "{} not generated",
            info.event_type
        );
    }
    assert!(unknown_types > 0, "no unknown event type was generated");
    assert!(degraded > 0, "no event exercised the degraded path");
    // Base Event needs a resource without gid and name, which the mock never sends (see the
    // hand-made cases below).
    for class in OcsfClass::ALL
        .into_iter()
        .filter(|c| *c != OcsfClass::BaseEvent)
    {
        assert!(
            classes_seen.contains_key(class.schema_name()),
            "no {class:?} event: {classes_seen:?}"
        );
    }
}

#[test]
fn the_table_covers_the_catalogue_exactly() {
    let table = asana_audit_log_ocsf::mapping_table();
    assert_eq!(table.len(), event_types().len());
    for (row, info) in table.iter().zip(event_types()) {
        assert_eq!(row.event_type, info.event_type);
        assert_eq!(mapping_for(info.event_type), Some(row));
        assert_eq!(
            row.type_uid(),
            row.class.uid() * 100 + u32::from(row.activity_id)
        );
        assert_eq!(row.class.resource_in(), Some(row.resource_in));
        assert_ne!(row.activity_id, 0);
    }
    assert_eq!(mapping_for("not_a_type"), None);
}

fn map_one(json: &str) -> (OcsfEvent, Value) {
    let event = AuditLogEvent::from_json(json).unwrap();
    let ocsf = Mapper::new().tenant_uid(TENANT).map(&event);
    let errors = problems(json, &ocsf);
    assert!(errors.is_empty(), "{json}\n=> {}\n{errors:#?}", ocsf.json());
    let value = ocsf.to_value().unwrap();
    (ocsf, value)
}

#[test]
fn unknown_event_types_fall_back_by_category_with_activity_99() {
    let resource = r#""resource":{"resource_type":"widget","gid":"5","name":"W""#;
    let cases = [
        (
            "passkey_login_failed",
            Some("logins"),
            OcsfClass::Authentication,
            2,
        ),
        (
            "user_nickname_changed",
            Some("user_updates"),
            OcsfClass::AccountChange,
            0,
        ),
        ("app_thing_done", Some("apps"), OcsfClass::AccountChange, 0),
        (
            "widget_exported",
            Some("content_export"),
            OcsfClass::WebResourcesActivity,
            0,
        ),
        (
            "widget_deleted",
            Some("deletion"),
            OcsfClass::WebResourcesActivity,
            0,
        ),
        (
            "widget_made",
            Some("creation"),
            OcsfClass::WebResourcesActivity,
            0,
        ),
        (
            "ai_teammate_created",
            Some("ai"),
            OcsfClass::EntityManagement,
            0,
        ),
        ("setting_flipped", None, OcsfClass::EntityManagement, 0),
    ];
    for (event_type, category, class, status_id) in cases {
        let category = category
            .map(|c| format!(r#""event_category":"{c}","#))
            .unwrap_or_default();
        let json = format!(
            r#"{{"gid":"1","created_at":"2025-01-01T00:00:00Z","event_type":"{event_type}",{category}{resource}}},"actor":{{"actor_type":"user","gid":"2","name":"Ana"}}}}"#
        );
        let (ocsf, value) = map_one(&json);
        assert_eq!(ocsf.class(), class, "{event_type}");
        assert_eq!(ocsf.activity_id(), 99);
        assert_eq!(ocsf.type_uid(), class.uid() * 100 + 99);
        assert_eq!(value["activity_name"], event_type);
        assert_eq!(value["metadata"]["event_code"], event_type);
        assert_eq!(value["status_id"], status_id);
    }

    // Without a resource nothing can fill the class's required object: Base Event.
    let (ocsf, value) =
        map_one(r#"{"gid":"1","created_at":"2025-01-01T00:00:00Z","event_type":"brand_new"}"#);
    assert_eq!((ocsf.class(), ocsf.type_uid()), (OcsfClass::BaseEvent, 99));
    assert_eq!(value["type_name"], "Base Event: Other");

    // An `event_type` that is not a string stays in `unmapped`.
    let (ocsf, value) = map_one(
        r#"{"gid":"1","created_at":"2025-01-01T00:00:00Z","event_type":7,"resource":{"gid":"3"}}"#,
    );
    assert_eq!(ocsf.class(), OcsfClass::EntityManagement);
    assert_eq!(value["unmapped"]["event_type"], 7);
    assert_eq!(value["activity_name"], "Other");
}

#[test]
fn odd_values_stay_in_unmapped() {
    let json = r#"{"gid":"77","created_at":"2025-03-04T05:06:07.891Z","event_type":"user_login_succeeded",
        "event_category":"logins",
        "actor":{"actor_type":"robot","gid":null,"name":"Zoë Ærø","email":"zoë@exämple.com","name2":{"x":[]}},
        "resource":{"resource_type":"user","gid":"8","gid":"9","name":"Renée","email":"not an email"},
        "context":{"context_type":"web","client_ip_address":"999.1.1.1","user_agent":null},
        "details":null,
        "huge":18446744073709551616,"nested":{"deep":{"list":[1,{"k":"v"},null]}}}"#;
    let (ocsf, value) = map_one(json);
    assert_eq!(ocsf.class(), OcsfClass::Authentication);
    assert_eq!(value["actor"]["user"]["name"], "Zoë Ærø");
    assert_eq!(value["actor"]["user"]["type_id"], 99);
    assert_eq!(value["actor"]["user"]["type"], "robot");
    assert_eq!(value["unmapped"]["actor"]["email"], "zoë@exämple.com");
    assert_eq!(value["unmapped"]["actor"]["gid"], Value::Null);
    assert_eq!(
        value["user"]["uid"], "9",
        "a repeated key keeps its last value"
    );
    assert_eq!(value["unmapped"]["resource"]["email"], "not an email");
    assert_eq!(
        value["unmapped"]["context"]["client_ip_address"],
        "999.1.1.1"
    );
    assert_eq!(value["unmapped"]["details"], Value::Null);
    assert!(value.get("src_endpoint").is_none() && value.get("http_request").is_none());
    assert!(ocsf.json().contains(r#""huge":18446744073709551616"#));

    // A number no f64 holds is copied exactly (only `to_value` cannot read it).
    let event = AuditLogEvent::from_json(
        r#"{"gid":"1","created_at":"2025-01-01T00:00:00Z","event_type":"team_created","resource":{"gid":"4"},"details":{"n":1e400}}"#,
    )
    .unwrap();
    let ocsf = Mapper::new().map(&event);
    assert!(
        ocsf.json().contains(r#""details":{"n":1e400}"#),
        "{}",
        ocsf.json()
    );
    assert!(serde_json::from_str::<&serde_json::value::RawValue>(ocsf.json()).is_ok());
}

#[test]
fn map_into_appends_and_matches_map() {
    let event = AuditLogEvent::from_json(
        r#"{"gid":"1","created_at":"2025-01-01T00:00:00Z","event_type":"team_created","resource":{"gid":"4","name":"Ops"}}"#,
    )
    .unwrap();
    let mapper = Mapper::new();
    let mut buf = String::from("prefix ");
    let mapped = mapper.map_into(&event, &mut buf);
    let ocsf = mapper.map(&event);
    assert_eq!(buf, format!("prefix {}", ocsf.json()));
    assert_eq!(mapped.type_uid(), 300606);
    assert_eq!(serde_json::to_string(&ocsf).unwrap(), ocsf.json());
}

/// One mapped event per class, from the mock's deterministic data, for review.
#[tokio::test]
async fn snapshots_one_event_per_class() {
    let mapper = Mapper::new().tenant_uid(TENANT);
    let events = mock_events(600, 3, false).await;
    let mut seen = BTreeSet::new();
    for json in &events {
        let event = AuditLogEvent::from_json(json).unwrap();
        let ocsf = mapper.map(&event);
        // Prefer events with a user actor and a client IP, so the snapshot shows them.
        let rich = event.actor().gid.is_some() && event.context().client_ip_address.is_some();
        if (rich || ocsf.class() == OcsfClass::BaseEvent) && seen.insert(ocsf.class().uid()) {
            insta::assert_json_snapshot!(
                format!("class_{}", ocsf.class().schema_name()),
                ocsf.to_value().unwrap()
            );
        }
    }
    // The degraded kinds do not come from rich events; map one of each by hand.
    let (_, value) = map_one(
        r#"{"gid":"2","created_at":"2025-02-01T10:00:00Z","event_type":"attachment_uploaded","event_category":"creation","actor":{"actor_type":"asana","name":"Asana"},"resource":{"resource_type":"attachment","gid":"6","name":"plan.pdf"},"context":{"context_type":"asana","rule_name":"Archive"},"details":{"file_size_bytes":1200}}"#,
    );
    insta::assert_json_snapshot!("degraded_file_hosting_without_ip", value);
    let (_, value) = map_one(
        r#"{"gid":"3","created_at":"2025-02-01T10:00:00Z","event_type":"user_logged_out","actor":{"actor_type":"anonymous"}}"#,
    );
    insta::assert_json_snapshot!("degraded_base_event", value);
    assert!(seen.len() >= 7, "classes with a snapshot: {seen:?}");
}
