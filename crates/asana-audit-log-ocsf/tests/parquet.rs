//! OCSF events of every class and OCSF version → Arrow batch → Parquet file → read back: every
//! row equals the event's OCSF JSON, attribute for attribute, with `unmapped` byte for byte, and
//! is an event of the version's JSON Schema, whose attributes every column is.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;

use arrow_array::{
    Array, ArrayRef, Int32Array, Int64Array, ListArray, RecordBatch, StringArray, StructArray,
};
use arrow_schema::{DataType, Fields};
use asana_audit_log::AuditLogEvent;
use asana_audit_log_ocsf::arrow::{
    BatchBuilder, SecurityLakeSource, arrow_schema, arrow_schema_for, record_batch,
};
use asana_audit_log_ocsf::{Mapper, OcsfClass, OcsfEvent, OcsfVersion};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use common::{mock_events, schema, validator};

const TENANT: &str = "1200000000000001";

/// Hand-made events for what the mock never sends: Base Event (a resource without gid and
/// name), odd values in `unmapped` (a number beyond `f64`, nulls, non-ASCII, escaped keys).
const HAND_MADE: [&str; 3] = [
    r#"{"gid":"3","created_at":"2025-02-01T10:00:00Z","event_type":"user_logged_out","actor":{"actor_type":"anonymous"},"context":{"client_ip_address":"203.0.113.4"}}"#,
    r#"{"gid":"1","created_at":"2025-01-01T00:00:00Z","event_type":"team_created","resource":{"gid":"4"},"details":{"n":1e400,"big":18446744073709551616,"z":null,"é\"\n":"Zoë"}}"#,
    r#"{"gid":"77","created_at":"2025-03-04T05:06:07.891Z","event_type":"user_login_succeeded","actor":{"actor_type":"robot","gid":null,"name":"Zoë Ærø"},"resource":{"resource_type":"user","gid":"9","name":"Renée"},"context":{"client_ip_address":"999.1.1.1","user_agent":null},"details":null}"#,
];

/// The value of row `row` of `array` as JSON; `None` when null.
fn json_at(array: &ArrayRef, row: usize) -> Option<Value> {
    if array.is_null(row) {
        return None;
    }
    let any = array.as_any();
    Some(match array.data_type() {
        DataType::Utf8 => any.downcast_ref::<StringArray>().unwrap().value(row).into(),
        DataType::Int32 => any.downcast_ref::<Int32Array>().unwrap().value(row).into(),
        DataType::Int64 => any.downcast_ref::<Int64Array>().unwrap().value(row).into(),
        DataType::Struct(_) => {
            let s = any.downcast_ref::<StructArray>().unwrap();
            let mut map = Map::new();
            for (field, child) in s.fields().iter().zip(s.columns()) {
                if let Some(v) = json_at(child, row) {
                    map.insert(field.name().clone(), v);
                }
            }
            Value::Object(map)
        }
        DataType::List(_) => {
            let l = any.downcast_ref::<ListArray>().unwrap();
            let items = l.value(row);
            Value::Array(
                (0..items.len())
                    .map(|i| json_at(&items, i).unwrap())
                    .collect(),
            )
        }
        other => panic!("unexpected column type {other}"),
    })
}

/// Writes `batch` to a Parquet file and reads it back as one batch.
fn parquet_round_trip(batch: &RecordBatch) -> RecordBatch {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.parquet");
    let mut writer =
        ArrowWriter::try_new(File::create(&path).unwrap(), batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
        .unwrap()
        .with_batch_size(batch.num_rows().max(1))
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    assert_eq!(batches.len(), 1);
    batches.into_iter().next().unwrap()
}

/// Checks that every row of `batch` is the matching event, and (but for `unmapped`, whose
/// text may hold numbers no `Value` holds) an event of its version's JSON Schema.
fn assert_rows_equal_events(batch: &RecordBatch, events: &[&OcsfEvent]) {
    assert_eq!(batch.num_rows(), events.len());
    for (row, event) in events.iter().enumerate() {
        let members: HashMap<String, Box<RawValue>> = serde_json::from_str(event.json()).unwrap();
        let mut expected = Map::new();
        for (key, raw) in &members {
            if key != "unmapped" {
                expected.insert(key.clone(), serde_json::from_str(raw.get()).unwrap());
            }
        }
        let mut got = Map::new();
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            if field.name() == "unmapped" {
                let text = json_at(column, row);
                let want = members.get("unmapped").map(|raw| Value::from(raw.get()));
                assert_eq!(text, want, "unmapped of {}", event.json());
            } else if let Some(v) = json_at(column, row) {
                got.insert(field.name().clone(), v);
            }
        }
        let got = Value::Object(got);
        assert_eq!(
            got,
            Value::Object(expected),
            "row {row} differs from {}",
            event.json()
        );
        let errors: Vec<String> = validator(event.version(), event.class())
            .iter_errors(&got)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "row {row}: {got}\n{errors:#?}");
    }
}

/// The columns of `fields` (below `path`) that are not attributes of the JSON Schema object
/// `node` (whose `$defs` are in `root`) or not of their JSON type; `unmapped` is JSON text.
fn misfits(fields: &Fields, node: &Value, root: &Value, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for field in fields {
        let at = format!("{path}{}", field.name());
        let Some(property) = node["properties"].get(field.name()) else {
            out.push(format!("{at} is no attribute"));
            continue;
        };
        let (data_type, item) = match field.data_type() {
            DataType::List(item) => (item.data_type(), &property["items"]),
            other => (other, property),
        };
        let json_type = match (data_type, at.as_str()) {
            (DataType::Utf8, "unmapped") => "object",
            (DataType::Utf8, _) => "string",
            (DataType::Int32 | DataType::Int64, _) => "integer",
            (DataType::Struct(nested), _) => {
                let name = item["$ref"].as_str().unwrap_or_default();
                let object = &root["$defs"][name.trim_start_matches("#/$defs/")];
                out.extend(misfits(nested, object, root, &format!("{at}.")));
                continue;
            }
            (other, _) => panic!("{at}: unexpected column type {other}"),
        };
        if matches!(field.data_type(), DataType::List(_)) && property["type"] != "array" {
            out.push(format!("{at} is no array"));
        }
        // A reference is to an object of `$defs`.
        let actual = match item.get("$ref") {
            Some(_) => &Value::from("object"),
            None => &item["type"],
        };
        if actual != json_type {
            out.push(format!("{at} is {actual}, not {json_type}"));
        }
    }
    out
}

#[tokio::test]
async fn every_class_round_trips_through_parquet() {
    let mut sources = mock_events(1500, 11, true).await;
    sources.extend(mock_events(300, 12, false).await);
    sources.extend(HAND_MADE.map(String::from));
    for version in OcsfVersion::ALL {
        every_class_round_trips_in(version, &sources);
    }
}

/// The round trip of `sources` mapped to OCSF `version`, class by class.
fn every_class_round_trips_in(version: OcsfVersion, sources: &[String]) {
    let mapper = Mapper::new().tenant_uid(TENANT).ocsf_version(version);
    let mut by_class: BTreeMap<u32, Vec<OcsfEvent>> = BTreeMap::new();
    for json in sources {
        let event = AuditLogEvent::from_json(json).unwrap();
        let ocsf = mapper.map(&event);
        by_class.entry(ocsf.class().uid()).or_default().push(ocsf);
    }
    for class in OcsfClass::ALL {
        let events = by_class
            .get(&class.uid())
            .unwrap_or_else(|| panic!("{version}: no {class:?} event"));
        let batch = record_batch(class, events).unwrap();
        assert_eq!(batch.schema(), arrow_schema_for(class, version));
        let back = parquet_round_trip(&batch);
        assert_eq!(back.schema().fields(), batch.schema().fields());
        assert_eq!(back.num_rows(), events.len());
        let refs: Vec<&OcsfEvent> = events.iter().collect();
        assert_rows_equal_events(&back, &refs);
        // Every column of the schema is filled by some event of the class (`status_detail`
        // only by failures with a reason, which only logins have here).
        for (field, column) in back.schema().fields().iter().zip(back.columns()) {
            let rare = field.name() == "status_detail" && class != OcsfClass::Authentication;
            assert!(
                rare || column.null_count() < column.len(),
                "{version} {}: `{}` is null in every row",
                class.schema_name(),
                field.name()
            );
        }
    }
}

#[test]
fn lone_surrogates_become_replacement_characters_and_unmapped_keeps_them() {
    // Valid JSON that no Unicode text holds: a lone surrogate escape in a mapped name (beside
    // an escaped backslash before `u` and a real pair, which stay as they are), and one in an
    // unmapped key. The event is kept; Parquet's UTF-8 columns get U+FFFD.
    let event = AuditLogEvent::from_json(
        r#"{"gid":"5","created_at":"2025-01-01T00:00:00Z","event_type":"user_login_succeeded","actor":{"actor_type":"user","gid":"8","name":"a\ud800b \\ud800 \ud83d\ude00 \udc00"},"resource":{"resource_type":"user","gid":"8","name":"Renée"},"details":{"k\udfff":"v"}}"#,
    )
    .unwrap();
    let ocsf = Mapper::new().map(&event);
    assert_eq!(ocsf.class(), OcsfClass::Authentication);
    let batch = parquet_round_trip(&record_batch(OcsfClass::Authentication, &[ocsf]).unwrap());
    let actor = batch.column_by_name("actor").unwrap();
    let name = json_at(actor, 0).unwrap()["user"]["name"].clone();
    assert_eq!(name, "a\u{FFFD}b \\ud800 \u{1F600} \u{FFFD}");
    let unmapped = batch.column_by_name("unmapped").unwrap();
    let unmapped = unmapped.as_any().downcast_ref::<StringArray>().unwrap();
    assert!(
        unmapped.value(0).contains(r#""k\udfff":"v""#),
        "{}",
        unmapped.value(0)
    );
}

#[test]
fn the_builder_refuses_what_it_cannot_keep() {
    let mapper = Mapper::new();
    let event = AuditLogEvent::from_json(
        r#"{"gid":"1","created_at":"2025-01-01T00:00:00Z","event_type":"team_created","resource":{"gid":"4","name":"Ops"}}"#,
    )
    .unwrap();
    let ocsf = mapper.map(&event);
    assert_eq!(ocsf.class(), OcsfClass::GroupManagement);

    let mut other = BatchBuilder::new(OcsfClass::Authentication);
    assert!(other.push(&ocsf).is_err());
    assert!(
        other.push_json(ocsf.json()).is_err(),
        "class_uid is checked too"
    );
    assert!(other.is_empty());
    // An event of another OCSF version, even one whose attributes all are columns.
    let mut other = BatchBuilder::for_version(OcsfClass::GroupManagement, OcsfVersion::V1_1);
    assert_eq!(other.version(), OcsfVersion::V1_1);
    let event = AuditLogEvent::from_json(
        r#"{"gid":"1","created_at":"2025-01-01T00:00:00Z","event_type":"team_member_added","resource":{"gid":"4","name":"Ops"},"details":{"member":{"gid":"5"}}}"#,
    )
    .unwrap();
    let in_1_8 = mapper.map(&event);
    assert!(other.push(&in_1_8).is_err());
    let err = other.push_json(in_1_8.json()).unwrap_err();
    assert!(err.to_string().contains("metadata.version"), "{err}");
    assert!(other.is_empty());
    let in_1_1 = Mapper::new().ocsf_version(OcsfVersion::V1_1).map(&event);
    other.push(&in_1_1).unwrap();
    assert_eq!(other.len(), 1);

    let mut builder = BatchBuilder::new(OcsfClass::GroupManagement);
    let extra = ocsf
        .json()
        .replacen('{', r#"{"cloud":{"provider":"AWS"},"#, 1);
    let err = builder.push_json(&extra).unwrap_err();
    assert!(err.to_string().contains("`cloud`"), "{err}");
    let nested = ocsf
        .json()
        .replacen(r#""group":{"#, r#""group":{"domain":"x","#, 1);
    let err = builder.push_json(&nested).unwrap_err();
    assert!(err.to_string().contains("`group.domain`"), "{err}");
    let typed = ocsf
        .json()
        .replacen(r#""severity_id":1"#, r#""severity_id":"1""#, 1);
    assert!(builder.push_json(&typed).is_err());
    assert!(builder.is_empty(), "refused events are not kept");
    // Nor any part of them: the next event makes a batch of one whole row.
    builder.push(&ocsf).unwrap();
    assert_eq!(builder.finish().unwrap().num_rows(), 1);

    let mut builder = BatchBuilder::new(OcsfClass::GroupManagement);
    builder.push(&ocsf).unwrap();
    builder.push(&ocsf).unwrap();
    assert_eq!(builder.len(), 2);
    let batch = builder.finish().unwrap();
    assert_eq!(batch.num_rows(), 2);
    assert!(builder.is_empty(), "finish empties the builder");
    assert_eq!(builder.finish().unwrap().num_rows(), 0);
}

#[test]
fn schemas_follow_the_ocsf_types() {
    for version in OcsfVersion::ALL {
        for class in OcsfClass::ALL {
            let schema = arrow_schema_for(class, version);
            let ty = |name: &str| schema.field_with_name(name).unwrap().data_type().clone();
            assert_eq!(ty("time"), DataType::Int64);
            assert_eq!(ty("type_uid"), DataType::Int64);
            assert_eq!(ty("class_uid"), DataType::Int32);
            assert_eq!(ty("unmapped"), DataType::Utf8);
            assert!(!schema.field_with_name("metadata").unwrap().is_nullable());
            assert!(matches!(ty("observables"), DataType::List(_)));
            assert_eq!(schema.metadata()["ocsf.version"], version.as_str());
            assert_eq!(schema.metadata()["ocsf.class_uid"], class.uid().to_string());
            let with_actor: &[OcsfClass] = if version == OcsfVersion::V1_1 {
                &[
                    OcsfClass::AccountChange,
                    OcsfClass::Authentication,
                    OcsfClass::FileHosting,
                ]
            } else {
                &[
                    OcsfClass::AccountChange,
                    OcsfClass::Authentication,
                    OcsfClass::EntityManagement,
                    OcsfClass::UserAccess,
                    OcsfClass::GroupManagement,
                    OcsfClass::FileHosting,
                ]
            };
            assert_eq!(
                schema.field_with_name("actor").is_ok(),
                with_actor.contains(&class),
                "{version} {class:?}"
            );
        }
    }
    assert_eq!(
        arrow_schema(OcsfClass::Authentication),
        arrow_schema_for(OcsfClass::Authentication, OcsfVersion::V1_8)
    );
    assert_eq!(
        arrow_schema(OcsfClass::Authentication).metadata()["ocsf.version"],
        "1.8.0"
    );
}

/// Every column (and nested field) is an attribute of the class's JSON Schema in the schema's
/// OCSF version, of the same JSON type: a Parquet file of 1.1.0 events is OCSF 1.1.0.
#[test]
fn every_column_is_an_attribute_of_its_version() {
    for version in OcsfVersion::ALL {
        for class in OcsfClass::ALL {
            let json_schema = schema(version, class);
            let columns = arrow_schema_for(class, version);
            let misfits = misfits(columns.fields(), json_schema, json_schema, "");
            assert!(
                misfits.is_empty(),
                "{version} {}: {misfits:#?}",
                class.schema_name()
            );
        }
    }
    // And the check sees a column 1.1.0 lacks.
    let json_schema = schema(OcsfVersion::V1_1, OcsfClass::EntityManagement);
    let columns = arrow_schema_for(OcsfClass::EntityManagement, OcsfVersion::V1_8);
    let found = misfits(columns.fields(), json_schema, json_schema, "");
    assert!(
        found.contains(&"actor is no attribute".to_owned()),
        "{found:?}"
    );
    assert!(
        found.contains(&"entity.type_id is no attribute".to_owned()),
        "{found:?}"
    );
}

#[test]
fn security_lake_prefixes() {
    // A newer source's location carries its version; an older one's ends at its name.
    let source = SecurityLakeSource::new(
        "s3://aws-security-data-lake-us-east-1-x1/ext/asana-audit/2.0",
        "us-east-1",
        "123456789012",
    )
    .unwrap();
    assert_eq!(source.bucket(), "aws-security-data-lake-us-east-1-x1");
    assert_eq!(
        source.location(),
        "s3://aws-security-data-lake-us-east-1-x1/ext/asana-audit/2.0/"
    );
    assert_eq!(
        source.prefix("2025-12-31".parse().unwrap()),
        "ext/asana-audit/2.0/region=us-east-1/accountId=123456789012/eventDay=20251231/"
    );
    let old = SecurityLakeSource::new("s3://b/ext/asana-audit/", "us-east-1", "1").unwrap();
    // The UTC day of the event's time, in milliseconds.
    assert_eq!(
        old.prefix_for_time(1_767_225_599_999).unwrap(),
        "ext/asana-audit/region=us-east-1/accountId=1/eventDay=20251231/"
    );
    assert_eq!(
        old.prefix_for_time(1_767_225_600_000).unwrap(),
        "ext/asana-audit/region=us-east-1/accountId=1/eventDay=20260101/"
    );
    assert_eq!(old.prefix_for_time(i64::MAX), None);
    for (location, region, account) in [
        ("", "us-east-1", "1"),
        ("ext/asana", "us-east-1", "1"),
        ("gs://b/ext/asana", "us-east-1", "1"),
        ("s3://b", "us-east-1", "1"),
        ("s3://b/", "us-east-1", "1"),
        ("s3:///ext/asana", "us-east-1", "1"),
        ("s3://b/ext//asana", "us-east-1", "1"),
        ("s3://b/ext/../asana", "us-east-1", "1"),
        ("s3://b/ext/region=x", "us-east-1", "1"),
        ("s3://b/ext/a", "us east", "1"),
        ("s3://b/ext/a", "us-east-1", "x=1"),
        ("s3://b/ext/a", "", "1"),
    ] {
        assert!(
            SecurityLakeSource::new(location, region, account).is_err(),
            "{location} {region} {account}"
        );
    }
}
