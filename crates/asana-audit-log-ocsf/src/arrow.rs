//! OCSF events as Arrow record batches, one schema per class, for Parquet files and data
//! lakes such as Amazon Security Lake (feature `arrow`, off by default).
//!
//! ```
//! use asana_audit_log::AuditLogEvent;
//! use asana_audit_log_ocsf::arrow::{BatchBuilder, arrow_schema};
//! use asana_audit_log_ocsf::{Mapper, OcsfClass};
//!
//! let event = AuditLogEvent::from_json(r#"{
//!     "gid": "1208000000001000", "created_at": "2024-05-01T12:00:00.250Z",
//!     "event_type": "user_login_failed", "event_category": "logins",
//!     "actor": {"actor_type": "user", "gid": "7", "name": "Zoë Lind"},
//!     "resource": {"resource_type": "user", "gid": "7", "name": "Zoë Lind"},
//!     "context": {"client_ip_address": "203.0.113.9"},
//!     "details": {"method": "password"}
//! }"#)?;
//! let ocsf = Mapper::new().map(&event);
//!
//! // One builder (one table, one Parquet file) per class.
//! let mut builder = BatchBuilder::new(ocsf.class());
//! builder.push(&ocsf)?;
//! let batch = builder.finish()?;
//! assert_eq!(batch.schema(), arrow_schema(OcsfClass::Authentication));
//! assert_eq!(batch.num_rows(), 1);
//!
//! use arrow_array::{Array, Int64Array, StringArray, StructArray};
//! let time = batch.column_by_name("time").unwrap();
//! let time = time.as_any().downcast_ref::<Int64Array>().unwrap();
//! assert_eq!(time.value(0), 1714564800250);
//! let src = batch.column_by_name("src_endpoint").unwrap();
//! let src = src.as_any().downcast_ref::<StructArray>().unwrap();
//! let ip = src.column_by_name("ip").unwrap();
//! assert_eq!(ip.as_any().downcast_ref::<StringArray>().unwrap().value(0), "203.0.113.9");
//! // `unmapped` is the JSON text of the OCSF event's `unmapped` object, exactly.
//! let unmapped = batch.column_by_name("unmapped").unwrap();
//! let unmapped = unmapped.as_any().downcast_ref::<StringArray>().unwrap();
//! assert!(unmapped.value(0).contains(r#""details":{"method":"password"}"#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Write the batch with `parquet::arrow::ArrowWriter` (the `parquet` crate, features
//! `arrow` and e.g. `zstd`); [`SecurityLakeSource`] gives the object prefix for Security Lake.
//!
//! # The schemas
//!
//! [`arrow_schema()`] has one column per top-level attribute the mapper can write for the
//! class (see the crate docs), in the order it writes them, with nested structs for objects
//! (`metadata`, `metadata.product`, `actor`, `actor.user`, `user`, `group`, `entity`,
//! `file`, `service`, `src_endpoint`, `http_request`) and lists for arrays (`observables`,
//! `web_resources`, `privileges`). Types follow OCSF 1.8.0: `integer_t` (`*_id`,
//! `class_uid`, `category_uid`) is `Int32`, `long_t` (`type_uid`) and `timestamp_t` (`time`)
//! are `Int64`, everything else is `Utf8`. An attribute an event lacks is null.
//! [`arrow_schema_for()`] gives the schema of another OCSF version: OCSF 1.1.0's has the same
//! types and only the attributes the mapper writes in 1.1.0 (no `actor`, `src_endpoint` or
//! `http_request` in Entity Management, User Access Management and Group Management, no
//! `http_request` in File Hosting Activity, no `actor.app_name`, no `entity.type_id`).
//!
//! * **`time` is `Int64`, epoch milliseconds**, not an Arrow `Timestamp`: that is OCSF's
//!   `timestamp_t` exactly, the same number as in the JSON form, and what Security Lake's own
//!   OCSF tables keep in `time` (they add a separate `time_dt` timestamp column, which OCSF
//!   only allows with the `datetime` profile, which this crate does not use). Athena reads it
//!   as `bigint`; `from_unixtime(time / 1000e0)` gives a timestamp.
//! * **`unmapped` is a `Utf8` column holding the JSON text** of the event's `unmapped`
//!   object, byte for byte as in the JSON form (null when the event has none). Its members
//!   differ from event to event (every source field the mapper did not take, with unknown
//!   fields from newer Asana versions), while a Parquet table needs one schema for all rows;
//!   a struct column would have to change with every new field, and a
//!   `map<string,string>` of flattened paths would lose the JSON types (`1` vs `"1"`,
//!   `null`) and numbers beyond 64 bits. The text keeps everything; Athena queries it with
//!   `json_extract_scalar(unmapped, '$.details.method')`.
//! * Required OCSF attributes present in every event (`class_uid`, `category_uid`,
//!   `activity_id`, `type_uid`, `severity_id`, `time`, `metadata`) are non-nullable; the rest
//!   are nullable.
//!
//! [`BatchBuilder`] refuses an event of another class and an attribute the schema does not
//! have, so a batch never drops a value silently.
//!
//! # Amazon Security Lake
//!
//! What this crate relies on from the Security Lake user guide ("Collecting data from custom
//! sources in Security Lake"):
//!
//! * A custom source writes OCSF events as **Parquet** objects under the prefix Security
//!   Lake assigns it, and **every record of one object is of the same OCSF class**; a source
//!   with several classes should be registered as one custom source per class. Hence one
//!   schema and one [`BatchBuilder`] per class here.
//! * Objects are partitioned by source, region, account and day: the path is the source's
//!   location (`provider.location` of `CreateCustomLogSource`, e.g.
//!   `s3://<bucket>/ext/<custom source name>/<version>/`) followed by
//!   `region=<region>/accountId=<account id>/eventDay=<YYYYMMDD>/`
//!   ([`SecurityLakeSource::prefix`]).
//! * Objects should be sent between every 5 minutes and once per event day (more often is
//!   fine for objects over 256 MB), records within an object should be sorted by `time`,
//!   Parquet 1.x and 2.x are accepted, data pages should be at most 1 MB uncompressed and row
//!   groups at most 256 MB compressed, and zstd is the preferred compression.
//! * The guide says it validates custom sources against OCSF 1.1 (its validation tool): map
//!   with [`Mapper::ocsf_version`]`(OcsfVersion::V1_1)` and build with
//!   [`BatchBuilder::for_version`]`(class, OcsfVersion::V1_1)`, so that every row and every
//!   column is OCSF 1.1.0 and the schema's `ocsf.version` says `1.1.0`.
//!
//! [`Mapper::ocsf_version`]: crate::Mapper::ocsf_version
//! * A custom source name is at most 20 characters (the provider role's name embeds it).
//!
//! Batching, sorting, rotation and upload are the writer's job (the sink crate).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use arrow_array::RecordBatch;
use arrow_array::builder::{
    ArrayBuilder, Int32Builder, Int64Builder, ListBuilder, StringBuilder, StructBuilder,
    make_builder,
};
use arrow_schema::{ArrowError, DataType, Field, Fields, Schema, SchemaRef};
use chrono::{DateTime, NaiveDate};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::mapping_table::version_facts;
use crate::{OcsfClass, OcsfEvent, OcsfVersion};

/// A nullable `Utf8` field.
fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

/// A nullable `Int32` field (OCSF `integer_t`).
fn int(name: &str) -> Field {
    Field::new(name, DataType::Int32, true)
}

/// A nullable struct field.
fn object(name: &str, fields: Vec<Field>) -> Field {
    Field::new(name, DataType::Struct(Fields::from(fields)), true)
}

/// A nullable list field of `item`.
fn list(name: &str, item: DataType) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new("item", item, true))),
        true,
    )
}

/// The fields of `uid`, `name`, then `more`.
fn identity(more: Vec<Field>) -> Vec<Field> {
    let mut fields = vec![text("uid"), text("name")];
    fields.extend(more);
    fields
}

fn build_schema(class: OcsfClass, version: OcsfVersion) -> Schema {
    let facts = version_facts(version);
    let attributes = class.attributes(version);
    let mut fields = vec![
        Field::new("class_uid", DataType::Int32, false),
        text("class_name"),
        Field::new("category_uid", DataType::Int32, false),
        text("category_name"),
        Field::new("activity_id", DataType::Int32, false),
        text("activity_name"),
        Field::new("type_uid", DataType::Int64, false),
        text("type_name"),
        Field::new("severity_id", DataType::Int32, false),
        text("severity"),
        int("status_id"),
        text("status"),
        text("status_detail"),
        Field::new("time", DataType::Int64, false),
        Field::new(
            "metadata",
            DataType::Struct(Fields::from(vec![
                text("version"),
                object("product", vec![text("name"), text("vendor_name")]),
                text("log_name"),
                text("uid"),
                text("event_code"),
                text("original_time"),
                text("tenant_uid"),
            ])),
            false,
        ),
    ];
    if attributes.actor {
        let mut actor = vec![object(
            "user",
            identity(vec![text("email_addr"), int("type_id"), text("type")]),
        )];
        if facts.actor_app_name {
            actor.push(text("app_name"));
        }
        fields.push(object("actor", actor));
    }
    match class.resource_in() {
        Some(crate::ResourceIn::User) => {
            fields.push(object("user", identity(vec![text("email_addr")])));
        }
        Some(crate::ResourceIn::Group) => {
            fields.push(object("group", identity(vec![text("type")])))
        }
        Some(crate::ResourceIn::WebResource) => fields.push(list(
            "web_resources",
            DataType::Struct(Fields::from(identity(vec![text("type")]))),
        )),
        Some(crate::ResourceIn::File) => {
            fields.push(object("file", identity(vec![int("type_id"), text("type")])))
        }
        Some(crate::ResourceIn::Entity) => {
            let mut entity = identity(vec![]);
            if facts.entity_type_id {
                entity.push(int("type_id"));
            }
            entity.push(text("type"));
            fields.push(object("entity", entity));
        }
        None => {}
    }
    match class {
        OcsfClass::Authentication => fields.push(object("service", vec![text("name")])),
        OcsfClass::UserAccess => fields.push(list("privileges", DataType::Utf8)),
        // `details.member` of Group Management.
        OcsfClass::GroupManagement => fields.push(object("user", identity(vec![]))),
        _ => {}
    }
    if attributes.src_endpoint {
        fields.push(object("src_endpoint", vec![text("ip")]));
    }
    if attributes.http_request {
        fields.push(object("http_request", vec![text("user_agent")]));
    }
    fields.push(list(
        "observables",
        DataType::Struct(Fields::from(vec![
            text("name"),
            int("type_id"),
            text("type"),
            text("value"),
        ])),
    ));
    fields.push(text("unmapped"));
    let metadata = HashMap::from([
        ("ocsf.version".to_owned(), facts.version.to_owned()),
        ("ocsf.class_uid".to_owned(), class.uid().to_string()),
        ("ocsf.class_name".to_owned(), class.schema_name().to_owned()),
    ]);
    Schema::new(fields).with_metadata(metadata)
}

/// The Arrow schema of `class`'s OCSF 1.8.0 events (built once per class). Its metadata
/// records `ocsf.version` (`1.8.0`), `ocsf.class_uid` and `ocsf.class_name`.
pub fn arrow_schema(class: OcsfClass) -> SchemaRef {
    arrow_schema_for(class, OcsfVersion::V1_8)
}

/// The Arrow schema of `class`'s events in OCSF `version` (built once per class and
/// version); its metadata's `ocsf.version` is the version (`1.1.0`, `1.8.0`).
pub fn arrow_schema_for(class: OcsfClass, version: OcsfVersion) -> SchemaRef {
    static SCHEMAS: OnceLock<HashMap<(OcsfVersion, OcsfClass), SchemaRef>> = OnceLock::new();
    let schemas = SCHEMAS.get_or_init(|| {
        OcsfVersion::ALL
            .into_iter()
            .flat_map(|version| OcsfClass::ALL.map(|class| (version, class)))
            .map(|(version, class)| ((version, class), Arc::new(build_schema(class, version))))
            .collect()
    });
    Arc::clone(&schemas[&(version, class)])
}

/// Collects events of one class and OCSF version and builds a [`RecordBatch`] with
/// [`arrow_schema_for()`]'s schema.
pub struct BatchBuilder {
    class: OcsfClass,
    version: OcsfVersion,
    schema: SchemaRef,
    /// Each column's position, by name.
    positions: HashMap<String, usize>,
    /// Where `class_uid`, `metadata` and `unmapped` are.
    class_uid: usize,
    metadata: usize,
    unmapped: usize,
    /// One builder per column, in schema order: each event is appended as it comes, so the
    /// builder holds Arrow buffers, not the events.
    columns: Vec<Box<dyn ArrayBuilder>>,
    rows: usize,
}

impl std::fmt::Debug for BatchBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchBuilder")
            .field("class", &self.class)
            .field("version", &self.version)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl BatchBuilder {
    /// An empty builder for `class`'s OCSF 1.8.0 events.
    pub fn new(class: OcsfClass) -> Self {
        BatchBuilder::for_version(class, OcsfVersion::V1_8)
    }

    /// An empty builder for `class`'s events in OCSF `version`.
    pub fn for_version(class: OcsfClass, version: OcsfVersion) -> Self {
        let schema = arrow_schema_for(class, version);
        let positions: HashMap<String, usize> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, field)| (field.name().clone(), i))
            .collect();
        let columns = schema
            .fields()
            .iter()
            .map(|field| make_builder(field.data_type(), 0))
            .collect();
        BatchBuilder {
            class,
            version,
            class_uid: positions["class_uid"],
            metadata: positions["metadata"],
            unmapped: positions["unmapped"],
            positions,
            schema,
            columns,
            rows: 0,
        }
    }

    /// The class of the events this builder takes.
    pub fn class(&self) -> OcsfClass {
        self.class
    }

    /// The OCSF version of the events this builder takes.
    pub fn version(&self) -> OcsfVersion {
        self.version
    }

    /// How many events were pushed since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no event was pushed since the last [`finish`](Self::finish).
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Adds one event. Fails when it is of another class or OCSF version, or is not an OCSF
    /// event of this crate (an attribute outside the schema, a value of the wrong type).
    pub fn push(&mut self, event: &OcsfEvent) -> Result<(), ArrowError> {
        if event.class() != self.class || event.version() != self.version {
            return Err(ArrowError::InvalidArgumentError(format!(
                "a {} {} event in a {} {} batch",
                event.class().schema_name(),
                event.version(),
                self.class.schema_name(),
                self.version,
            )));
        }
        self.push_json(event.json())
    }

    /// Adds one event from its OCSF JSON text (e.g. what [`Mapper::map_into`] wrote); the
    /// text's `class_uid` and `metadata.version` must be this builder's class and version. A
    /// refused event leaves the builder as it was.
    ///
    /// [`Mapper::map_into`]: crate::Mapper::map_into
    pub fn push_json(&mut self, json: &str) -> Result<(), ArrowError> {
        let invalid = |e: serde_json::Error| ArrowError::JsonError(e.to_string());
        let members: HashMap<&str, &RawValue> = serde_json::from_str(json).map_err(invalid)?;
        // Every attribute is read and checked before any column grows, so a refused event
        // leaves no partial row.
        let mut values: Vec<Option<Value>> = vec![None; self.columns.len()];
        let mut unmapped = None;
        for (key, raw) in members {
            if key == "unmapped" {
                unmapped = Some(raw.get());
            } else if let Some(&at) = self.positions.get(key) {
                let value = parse_value(raw.get()).map_err(invalid)?;
                check(&value, self.schema.field(at).data_type(), key)?;
                values[at] = Some(value);
            } else {
                return Err(ArrowError::SchemaError(format!(
                    "`{key}` is not a column of the {} schema",
                    self.class.schema_name()
                )));
            }
        }
        let class_uid = values[self.class_uid].as_ref();
        if class_uid.and_then(Value::as_u64) != Some(u64::from(self.class.uid())) {
            return Err(ArrowError::InvalidArgumentError(format!(
                "not a {} event (class_uid {})",
                self.class.schema_name(),
                self.class.uid()
            )));
        }
        let version = values[self.metadata].as_ref().map(|m| &m["version"]);
        if version.and_then(Value::as_str) != Some(self.version.as_str()) {
            return Err(ArrowError::InvalidArgumentError(format!(
                "not an OCSF {} event (metadata.version {})",
                self.version,
                version.unwrap_or(&Value::Null)
            )));
        }
        for (at, value) in values.iter().enumerate() {
            let column = self.columns[at].as_mut();
            if at == self.unmapped {
                text_builder(column).append_option(unmapped);
            } else {
                append(column, self.schema.field(at).data_type(), value.as_ref());
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Builds the batch of the events pushed so far (in push order) and empties the builder.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        self.rows = 0;
        let columns = self.columns.iter_mut().map(|c| c.finish()).collect();
        RecordBatch::try_new(Arc::clone(&self.schema), columns)
    }
}

/// An attribute's JSON text as a value. A lone surrogate escape (`"\ud800"`: valid JSON, as
/// Asana may send in a name, but no Unicode text) becomes U+FFFD, the replacement character,
/// since a Parquet text column holds UTF-8 only; the NDJSON encoding keeps the escape as sent.
fn parse_value(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str(text).or_else(|error| match replace_lone_surrogates(text) {
        Some(replaced) => serde_json::from_str(&replaced),
        None => Err(error),
    })
}

/// `json` with each lone surrogate escape replaced by `\ufffd`, or `None` when it has none.
fn replace_lone_surrogates(json: &str) -> Option<String> {
    /// The code unit of a `\uXXXX` escape starting at `at`.
    fn unit(bytes: &[u8], at: usize) -> Option<u16> {
        let digits = bytes.get(at..at + 6)?.strip_prefix(b"\\u")?;
        u16::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    }
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len());
    let (mut copied, mut at, mut replaced) = (0, 0, false);
    while at < bytes.len() {
        if bytes[at] != b'\\' {
            at += 1;
            continue;
        }
        match unit(bytes, at) {
            // A pair: one character.
            Some(0xD800..=0xDBFF)
                if unit(bytes, at + 6).is_some_and(|low| (0xDC00..=0xDFFF).contains(&low)) =>
            {
                at += 12;
            }
            Some(0xD800..=0xDFFF) => {
                out.push_str(&json[copied..at]);
                out.push_str("\\ufffd");
                at += 6;
                copied = at;
                replaced = true;
            }
            // Any other escape: two bytes (`\\` must not start another one), or six.
            Some(_) => at += 6,
            None => at += 2,
        }
    }
    out.push_str(&json[copied..]);
    replaced.then_some(out)
}

/// Builds `[OcsfEvent]`s of one class and OCSF version (that of the first; 1.8.0 when there
/// are none) into a batch: [`BatchBuilder`] in one call.
pub fn record_batch(class: OcsfClass, events: &[OcsfEvent]) -> Result<RecordBatch, ArrowError> {
    let version = events.first().map_or(OcsfVersion::V1_8, OcsfEvent::version);
    let mut builder = BatchBuilder::for_version(class, version);
    for event in events {
        builder.push(event)?;
    }
    builder.finish()
}

/// Whether `value` fits `data_type` (the checks [`column`] makes, at push time, so that a
/// bad event is refused alone).
fn check(value: &Value, data_type: &DataType, path: &str) -> Result<(), ArrowError> {
    match (data_type, value) {
        (_, Value::Null) | (DataType::Utf8, Value::String(_)) => Ok(()),
        (DataType::Int32, Value::Number(n))
            if n.as_i64().is_some_and(|n| i32::try_from(n).is_ok()) =>
        {
            Ok(())
        }
        (DataType::Int64, Value::Number(n)) if n.as_i64().is_some() => Ok(()),
        (DataType::Struct(fields), Value::Object(map)) => {
            for (key, member) in map {
                let Some((_, field)) = fields.find(key) else {
                    return Err(ArrowError::SchemaError(format!(
                        "`{path}.{key}` is not in the schema"
                    )));
                };
                check(member, field.data_type(), &format!("{path}.{key}"))?;
            }
            Ok(())
        }
        (DataType::List(item), Value::Array(items)) => items
            .iter()
            .try_for_each(|v| check(v, item.data_type(), &format!("{path}[]"))),
        _ => Err(wrong_type(path, value, data_type)),
    }
}

fn wrong_type(path: &str, value: &Value, expected: &DataType) -> ArrowError {
    ArrowError::JsonError(format!("`{path}` is {value}, not of type {expected}"))
}

/// The string builder [`make_builder`] made for a `Utf8` column.
fn text_builder(builder: &mut dyn ArrayBuilder) -> &mut StringBuilder {
    builder
        .as_any_mut()
        .downcast_mut::<StringBuilder>()
        .expect("make_builder makes a StringBuilder for Utf8")
}

/// Appends `value` (absent or `null`: a null) to `builder`, which [`make_builder`] made for
/// `data_type`; [`check`] has found that the value fits the type.
fn append(builder: &mut dyn ArrayBuilder, data_type: &DataType, value: Option<&Value>) {
    let value = value.filter(|v| !v.is_null());
    match data_type {
        DataType::Utf8 => text_builder(builder).append_option(value.and_then(Value::as_str)),
        DataType::Int32 => builder
            .as_any_mut()
            .downcast_mut::<Int32Builder>()
            .expect("make_builder makes an Int32Builder for Int32")
            .append_option(
                value
                    .and_then(Value::as_i64)
                    .and_then(|n| i32::try_from(n).ok()),
            ),
        DataType::Int64 => builder
            .as_any_mut()
            .downcast_mut::<Int64Builder>()
            .expect("make_builder makes an Int64Builder for Int64")
            .append_option(value.and_then(Value::as_i64)),
        DataType::Struct(fields) => {
            let builder = builder
                .as_any_mut()
                .downcast_mut::<StructBuilder>()
                .expect("make_builder makes a StructBuilder for Struct");
            let object = value.and_then(Value::as_object);
            for (child, field) in builder.field_builders_mut().iter_mut().zip(fields.iter()) {
                let member = object.and_then(|o| o.get(field.name()));
                append(child.as_mut(), field.data_type(), member);
            }
            builder.append(object.is_some());
        }
        DataType::List(item) => {
            let builder = builder
                .as_any_mut()
                .downcast_mut::<ListBuilder<Box<dyn ArrayBuilder>>>()
                .expect("make_builder makes a ListBuilder for List");
            let items = value.and_then(Value::as_array);
            for element in items.into_iter().flatten() {
                append(builder.values().as_mut(), item.data_type(), Some(element));
            }
            builder.append(items.is_some());
        }
        other => unreachable!("the OCSF schemas have no {other} column"),
    }
}

/// An Amazon Security Lake custom source: where its Parquet objects go.
///
/// Its location is the `provider.location` that `CreateCustomLogSource` returned for it (the
/// console shows the same URL), `s3://<bucket>/ext/<source name>/<source version>/` for newer
/// sources, `s3://<bucket>/ext/<source name>/` for older ones; objects go below it, in a
/// folder per region, account and day.
///
/// ```
/// use asana_audit_log_ocsf::arrow::SecurityLakeSource;
///
/// let source = SecurityLakeSource::new(
///     "s3://aws-security-data-lake-eu-west-1-abc123/ext/asana-auth/1.0/",
///     "eu-west-1",
///     "123456789012",
/// )?;
/// assert_eq!(source.bucket(), "aws-security-data-lake-eu-west-1-abc123");
/// assert_eq!(
///     source.prefix_for_time(1714564800250).unwrap(),
///     "ext/asana-auth/1.0/region=eu-west-1/accountId=123456789012/eventDay=20240501/"
/// );
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityLakeSource {
    bucket: String,
    /// The location's path below the bucket, ending in `/`.
    path: String,
    region: String,
    account_id: String,
}

impl SecurityLakeSource {
    /// The custom source at `location` (its `provider.location`, an `s3://` URL with a path
    /// below the bucket; a missing final `/` is added), in AWS region `region`, with
    /// `account_id` (the AWS account id or the external id given when the source was
    /// created). Fails on a location that is no such URL (or has `//`, `.`, `..` or `=` in
    /// its path, or a query), and on an empty region or account id or one that holds `/`,
    /// `=` or whitespace (which would break the partition path).
    pub fn new(
        location: &str,
        region: impl Into<String>,
        account_id: impl Into<String>,
    ) -> Result<Self, String> {
        let (region, account_id) = (region.into(), account_id.into());
        for (what, part) in [("region", &region), ("account id", &account_id)] {
            if part.is_empty() || part.contains(|c: char| c == '/' || c == '=' || c.is_whitespace())
            {
                return Err(format!("invalid Security Lake {what} `{part}`"));
            }
        }
        let invalid = |why: &str| {
            Err(format!(
                "`{location}` is not a Security Lake location ({why}): give the \
                 provider.location of the custom source, e.g. \
                 s3://aws-security-data-lake-eu-west-1-abc123/ext/asana-auth/1.0/"
            ))
        };
        let Some(rest) = location.strip_prefix("s3://") else {
            return invalid("it does not start with s3://");
        };
        let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() || bucket.contains(|c: char| c.is_whitespace() || c == '?') {
            return invalid("it names no bucket");
        }
        let path = path.trim_end_matches('/');
        if path.is_empty() {
            return invalid("it has no path below the bucket");
        }
        let sound = path.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && !part.contains(|c: char| c == '=' || c == '?' || c == '#' || c.is_whitespace())
        });
        if !sound {
            return invalid("its path has an empty, `.` or `..` part, or `=`, `?`, `#` or a space");
        }
        Ok(SecurityLakeSource {
            bucket: bucket.to_owned(),
            path: format!("{path}/"),
            region,
            account_id,
        })
    }

    /// The bucket of the source's location.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The source's location, `s3://<bucket>/<path>/`.
    pub fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.path)
    }

    /// The object prefix (below the bucket) of the events of `day`:
    /// `<location's path>/region=<region>/accountId=<account id>/eventDay=<YYYYMMDD>/`.
    pub fn prefix(&self, day: NaiveDate) -> String {
        format!(
            "{}region={}/accountId={}/eventDay={}/",
            self.path,
            self.region,
            self.account_id,
            day.format("%Y%m%d")
        )
    }

    /// [`prefix`](Self::prefix) of the UTC day of an OCSF `time` (epoch milliseconds);
    /// `None` when out of chrono's range.
    pub fn prefix_for_time(&self, time_ms: i64) -> Option<String> {
        DateTime::from_timestamp_millis(time_ms).map(|t| self.prefix(t.date_naive()))
    }
}
