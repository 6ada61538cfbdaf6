//! Every mapped event, in OCSF 1.8.0 and in 1.1.0, validates against its OCSF class's JSON
//! Schema of that version, has consistent ids and keeps every leaf of the source event (mapped
//! or in `unmapped`).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use asana_audit_log::AuditLogEvent;
use asana_audit_log_mock::event_types;
use asana_audit_log_ocsf::{
    Mapper, OcsfClass, OcsfEvent, OcsfVersion, fallback_class, mapping_for,
};
use common::{mock_events, validator};
use serde_json::Value;

const TENANT: &str = "1200000000000001";

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

/// Everything the tests check about one event mapped to `version`; returns its problems.
fn problems(source_json: &str, ocsf: &OcsfEvent, version: OcsfVersion) -> Vec<String> {
    let mut errors = Vec::new();
    let source: Value = serde_json::from_str(source_json).unwrap();
    let out: Value = match ocsf.to_value() {
        Ok(v) => v,
        Err(e) => return vec![format!("output is not JSON: {e}: {}", ocsf.json())],
    };
    let class = ocsf.class();
    errors.extend(validator(version, class).iter_errors(&out).map(|e| {
        format!(
            "schema {} {version}: {}: {e}",
            class.schema_name(),
            e.instance_path()
        )
    }));
    if ocsf.version() != version {
        errors.push(format!("mapped to {}, not {version}", ocsf.version()));
    }
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
    if out["metadata"]["version"] != version.as_str() || out["metadata"]["tenant_uid"] != TENANT {
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
    let mut events = mock_events(1500, 11, true).await;
    events.extend(mock_events(300, 12, false).await);
    for version in OcsfVersion::ALL {
        every_event_maps_to_a_valid_lossless_event_in(version, &events);
    }
}

/// The checks of [`problems`] and of the class each event maps to, for every event of
/// `events` mapped to `version`; and that they cover every catalogue type (each in the class
/// and activity of its row at least once), the fallback, the degraded path and every class.
fn every_event_maps_to_a_valid_lossless_event_in(version: OcsfVersion, events: &[String]) {
    let mapper = Mapper::new().tenant_uid(TENANT).ocsf_version(version);
    let mut failures = Vec::new();
    let mut types_seen = BTreeSet::new();
    let mut types_as_their_row = BTreeSet::new();
    let mut classes_seen: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut unknown_types, mut degraded) = (0, 0);
    for json in events {
        let event = AuditLogEvent::from_json(json).unwrap();
        let ocsf = mapper.map(&event);
        let event_type = event.event_type().as_str().to_owned();
        *classes_seen.entry(ocsf.class().schema_name()).or_default() += 1;
        let mut errors = problems(json, &ocsf, version);
        match mapping_for(&event_type).map(|row| row.in_version(version)) {
            Some(row) if row.class == ocsf.class() => {
                if row.activity_id != ocsf.activity_id() {
                    errors.push("activity differs from the row".into());
                }
                types_as_their_row.insert(event_type.clone());
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
        "{version}: {} of {} events fail:\n{}",
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
        assert!(
            types_as_their_row.contains(info.event_type),
            "{version}: no {} event maps to its row's class and activity",
            info.event_type
        );
    }
    assert!(unknown_types > 0, "no unknown event type was generated");
    assert!(
        degraded > 0,
        "{version}: no event exercised the degraded path"
    );
    // Base Event needs a resource without gid and name, which the mock never sends (see the
    // hand-made cases below).
    for class in OcsfClass::ALL
        .into_iter()
        .filter(|c| *c != OcsfClass::BaseEvent)
    {
        assert!(
            classes_seen.contains_key(class.schema_name()),
            "{version}: no {class:?} event: {classes_seen:?}"
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

/// `json` mapped to OCSF 1.8.0, checked; it is checked mapped to 1.1.0 too.
fn map_one(json: &str) -> (OcsfEvent, Value) {
    let (_, _) = map_one_in(OcsfVersion::V1_1, json);
    map_one_in(OcsfVersion::V1_8, json)
}

/// `json` mapped to `version`, checked.
fn map_one_in(version: OcsfVersion, json: &str) -> (OcsfEvent, Value) {
    let event = AuditLogEvent::from_json(json).unwrap();
    let ocsf = Mapper::new()
        .tenant_uid(TENANT)
        .ocsf_version(version)
        .map(&event);
    let errors = problems(json, &ocsf, version);
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

/// One mapped event per class and version, from the mock's deterministic data, for review.
#[tokio::test]
async fn snapshots_one_event_per_class() {
    let events = mock_events(600, 3, false).await;
    for version in OcsfVersion::ALL {
        // 1.8.0's snapshots are named as before there was another version.
        let suffix = if version == OcsfVersion::V1_8 {
            String::new()
        } else {
            format!("_ocsf_{}", version.as_str().replace('.', "_"))
        };
        let mapper = Mapper::new().tenant_uid(TENANT).ocsf_version(version);
        let mut seen = BTreeSet::new();
        for json in &events {
            let event = AuditLogEvent::from_json(json).unwrap();
            let ocsf = mapper.map(&event);
            // Prefer events with a user actor and a client IP, so the snapshot shows them.
            let rich = event.actor().gid.is_some() && event.context().client_ip_address.is_some();
            if (rich || ocsf.class() == OcsfClass::BaseEvent) && seen.insert(ocsf.class().uid()) {
                insta::assert_json_snapshot!(
                    format!("class_{}{suffix}", ocsf.class().schema_name()),
                    ocsf.to_value().unwrap()
                );
            }
        }
        // The degraded kinds do not come from rich events; map one of each by hand.
        let (_, value) = map_one_in(
            version,
            r#"{"gid":"2","created_at":"2025-02-01T10:00:00Z","event_type":"attachment_uploaded","event_category":"creation","actor":{"actor_type":"asana","name":"Asana"},"resource":{"resource_type":"attachment","gid":"6","name":"plan.pdf"},"context":{"context_type":"asana","rule_name":"Archive"},"details":{"file_size_bytes":1200}}"#,
        );
        insta::assert_json_snapshot!(format!("degraded_file_hosting_without_ip{suffix}"), value);
        let (_, value) = map_one_in(
            version,
            r#"{"gid":"3","created_at":"2025-02-01T10:00:00Z","event_type":"user_logged_out","actor":{"actor_type":"anonymous"}}"#,
        );
        insta::assert_json_snapshot!(format!("degraded_base_event{suffix}"), value);
        assert!(
            seen.len() >= 7,
            "{version}: classes with a snapshot: {seen:?}"
        );
    }
}

/// What OCSF 1.1.0 lacks stays in `unmapped` (and the row's 1.1.0 class and activity apply),
/// where 1.8.0 maps it.
#[test]
fn ocsf_1_1_keeps_in_unmapped_what_it_lacks() {
    let both = |json: &str| {
        (
            map_one_in(OcsfVersion::V1_8, json),
            map_one_in(OcsfVersion::V1_1, json),
        )
    };
    let actor =
        r#""actor":{"actor_type":"user","gid":"7","name":"Ana","email":"o'brien@example.com"}"#;
    let context = r#""context":{"context_type":"api","client_ip_address":"203.0.113.9","user_agent":"curl/8","oauth_app_name":"Zapier"}"#;

    // Entity Management: no actor, src_endpoint, http_request, entity.type_id; no Enable.
    let json = format!(
        r#"{{"gid":"1","created_at":"2025-01-01T00:00:00Z","event_type":"workspace_view_links_enabled",{actor},{context},"resource":{{"resource_type":"workspace","gid":"5","name":"Northwind"}}}}"#
    );
    let ((v18, e18), (v11, e11)) = both(&json);
    assert_eq!((v18.type_uid(), v11.type_uid()), (300408, 300403));
    assert_eq!(e11["activity_name"], "Update");
    assert_eq!(e18["actor"]["user"]["name"], "Ana");
    assert_eq!(e18["entity"]["type_id"], 4);
    assert_eq!(
        e11["entity"],
        serde_json::json!({"uid": "5", "name": "Northwind", "type": "Organization"})
    );
    for absent in ["actor", "src_endpoint", "http_request"] {
        assert!(e11.get(absent).is_none(), "{absent}: {e11}");
    }
    assert_eq!(e11["unmapped"]["actor"]["gid"], "7");
    assert_eq!(e11["unmapped"]["context"]["user_agent"], "curl/8");
    let observed: Vec<&str> = e11["observables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert!(
        observed.contains(&"unmapped.context.client_ip_address")
            && observed.contains(&"unmapped.actor.name"),
        "{observed:?}"
    );

    // Authentication: no actor.app_name; an email 1.1.0's `email_t` refuses stays unmapped.
    let json = format!(
        r#"{{"gid":"2","created_at":"2025-01-01T00:00:00Z","event_type":"user_login_succeeded",{actor},{context},"resource":{{"resource_type":"user","gid":"7","name":"Ana"}}}}"#
    );
    let ((_, e18), (_, e11)) = both(&json);
    assert_eq!(e18["actor"]["app_name"], "Zapier");
    assert_eq!(e18["actor"]["user"]["email_addr"], "o'brien@example.com");
    assert!(e11["actor"].get("app_name").is_none());
    assert!(e11["actor"]["user"].get("email_addr").is_none());
    assert_eq!(e11["unmapped"]["context"]["oauth_app_name"], "Zapier");
    assert_eq!(e11["unmapped"]["actor"]["email"], "o'brien@example.com");
    assert_eq!(e11["src_endpoint"]["ip"], "203.0.113.9");

    // File Hosting: an actor that is only an app is no actor in 1.1.0, which File Hosting
    // requires.
    let json = format!(
        r#"{{"gid":"3","created_at":"2025-01-01T00:00:00Z","event_type":"attachment_downloaded","actor":{{"actor_type":"anonymous"}},{context},"resource":{{"resource_type":"attachment","gid":"6","name":"plan.pdf"}}}}"#
    );
    let ((v18, e18), (v11, _)) = both(&json);
    assert_eq!(v18.class(), OcsfClass::FileHosting);
    assert_eq!(e18["http_request"]["user_agent"], "curl/8");
    assert_eq!(
        (v11.class(), v11.activity_id()),
        (OcsfClass::EntityManagement, 99)
    );

    // Group Management needs a `user` in 1.1.0: `team_created` is Entity Management there,
    // a member change without its member degrades.
    let json = r#"{"gid":"4","created_at":"2025-01-01T00:00:00Z","event_type":"team_created","resource":{"resource_type":"team","gid":"8","name":"Ops"}}"#;
    let ((v18, _), (v11, e11)) = both(json);
    assert_eq!((v18.type_uid(), v11.type_uid()), (300606, 300401));
    assert_eq!(e11["entity"]["type"], "Group");
    let json = r#"{"gid":"5","created_at":"2025-01-01T00:00:00Z","event_type":"team_member_added","resource":{"resource_type":"team","gid":"8","name":"Ops"},"details":{"member":null}}"#;
    let ((v18, _), (v11, _)) = both(json);
    assert_eq!((v18.type_uid(), v11.type_uid()), (300603, 300499));

    // A string longer than 1.1.0's `string_t` allows is not copied.
    let long = "n".repeat(65_536);
    let json = format!(
        r#"{{"gid":"6","created_at":"2025-01-01T00:00:00Z","event_type":"user_login_succeeded","resource":{{"resource_type":"user","gid":"7","name":"{long}"}}}}"#
    );
    let ((_, e18), (_, e11)) = both(&json);
    assert_eq!(e18["user"]["name"], long.as_str());
    assert_eq!(e11["user"], serde_json::json!({"uid": "7"}));
    assert_eq!(e11["unmapped"]["resource"]["name"], long.as_str());
}
