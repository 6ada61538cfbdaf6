//! OCSF events of every class → Arrow batch → Parquet file → read back: every row equals the
//! event's OCSF JSON, attribute for attribute, with `unmapped` byte for byte.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;

use arrow_array::{
    Array, ArrayRef, Int32Array, Int64Array, ListArray, RecordBatch, StringArray, StructArray,
};
use arrow_schema::DataType;
use asana_audit_log::AuditLogEvent;
use asana_audit_log_ocsf::arrow::{BatchBuilder, SecurityLakeSource, arrow_schema, record_batch};
use asana_audit_log_ocsf::{Mapper, OcsfClass, OcsfEvent};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use common::mock_events;

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

/// Checks that every row of `batch` is the matching event.
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
        assert_eq!(
            Value::Object(got),
            Value::Object(expected),
            "row {row} differs from {}",
            event.json()
        );
    }
}

#[tokio::test]
async fn every_class_round_trips_through_parquet() {
    let mapper = Mapper::new().tenant_uid(TENANT);
    let mut sources = mock_events(1500, 11, true).await;
    sources.extend(mock_events(300, 12, false).await);
    sources.extend(HAND_MADE.map(String::from));

    let mut by_class: BTreeMap<u32, Vec<OcsfEvent>> = BTreeMap::new();
    for json in &sources {
        let event = AuditLogEvent::from_json(json).unwrap();
        let ocsf = mapper.map(&event);
        by_class.entry(ocsf.class().uid()).or_default().push(ocsf);
    }
    for class in OcsfClass::ALL {
        let events = by_class
            .get(&class.uid())
            .unwrap_or_else(|| panic!("no {class:?} event"));
        let batch = record_batch(class, events).unwrap();
        assert_eq!(batch.schema(), arrow_schema(class));
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
                "{}: `{}` is null in every row",
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
    for class in OcsfClass::ALL {
        let schema = arrow_schema(class);
        let ty = |name: &str| schema.field_with_name(name).unwrap().data_type().clone();
        assert_eq!(ty("time"), DataType::Int64);
        assert_eq!(ty("type_uid"), DataType::Int64);
        assert_eq!(ty("class_uid"), DataType::Int32);
        assert_eq!(ty("unmapped"), DataType::Utf8);
        assert!(!schema.field_with_name("metadata").unwrap().is_nullable());
        assert!(matches!(ty("observables"), DataType::List(_)));
        assert_eq!(schema.metadata()["ocsf.version"], "1.8.0");
        assert_eq!(schema.metadata()["ocsf.class_uid"], class.uid().to_string());
        assert_eq!(
            schema.field_with_name("actor").is_ok(),
            !matches!(
                class,
                OcsfClass::BaseEvent | OcsfClass::WebResourcesActivity
            )
        );
    }
}

#[test]
fn security_lake_prefixes() {
    let source = SecurityLakeSource::new("asana-audit", "us-east-1", "123456789012").unwrap();
    assert_eq!(
        source.prefix("2025-12-31".parse().unwrap()),
        "ext/asana-audit/region=us-east-1/accountId=123456789012/eventDay=20251231/"
    );
    // The UTC day of the event's time, in milliseconds.
    assert_eq!(
        source.prefix_for_time(1_767_225_599_999).unwrap(),
        "ext/asana-audit/region=us-east-1/accountId=123456789012/eventDay=20251231/"
    );
    assert_eq!(
        source.prefix_for_time(1_767_225_600_000).unwrap(),
        "ext/asana-audit/region=us-east-1/accountId=123456789012/eventDay=20260101/"
    );
    assert_eq!(source.prefix_for_time(i64::MAX), None);
    for (name, region, account) in [
        ("", "us-east-1", "1"),
        ("a/b", "us-east-1", "1"),
        ("a", "us east", "1"),
        ("a", "us-east-1", "x=1"),
        ("twenty-one-characters", "us-east-1", "1"),
    ] {
        assert!(
            SecurityLakeSource::new(name, region, account).is_err(),
            "{name}"
        );
    }
}
