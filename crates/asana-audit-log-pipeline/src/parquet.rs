//! The Parquet encoding: its schema (declared once, as a list of columns) and its writer.

use std::fs::File;
use std::io::BufWriter;
use std::sync::{Arc, OnceLock};

use arrow_array::builder::{StringBuilder, TimestampMillisecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use asana_audit_log::AuditLogEvent;
use asana_audit_log::events::EventObject;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::encoding::Counting;
use crate::error::Error;
use crate::record::RowBuilder;

/// Where a text column's value comes from.
#[derive(Clone, Copy)]
enum Source {
    /// `event_type`.
    EventType,
    /// `event_category`.
    EventCategory,
    /// A string member of one of the event's objects.
    Member(Object, &'static str),
}

/// The objects of an event whose string members have columns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Object {
    Actor,
    Resource,
    Context,
}

impl Object {
    const ALL: [Object; 3] = [Object::Actor, Object::Resource, Object::Context];

    /// The library's name for the object.
    fn in_event(self) -> EventObject {
        match self {
            Object::Actor => EventObject::Actor,
            Object::Resource => EventObject::Resource,
            Object::Context => EventObject::Context,
        }
    }

    /// The object's members that have a text column, as (member key, column index), read
    /// from [`TEXT_COLUMNS`] once: each key of each event looks only at its own object's few.
    fn columns(self) -> &'static [(&'static str, usize)] {
        static COLUMNS: OnceLock<[Vec<(&'static str, usize)>; 3]> = OnceLock::new();
        let all = COLUMNS.get_or_init(|| {
            Object::ALL.map(|object| {
                TEXT_COLUMNS
                    .iter()
                    .enumerate()
                    .filter_map(|(index, column)| match column.source {
                        Source::Member(o, key) if o == object => Some((key, index)),
                        _ => None,
                    })
                    .collect()
            })
        });
        &all[self as usize]
    }
}

/// A text column of the Parquet schema: its name and where its value comes from.
struct TextColumn {
    name: &'static str,
    nullable: bool,
    source: Source,
}

const fn member(name: &'static str, object: Object, key: &'static str) -> TextColumn {
    TextColumn {
        name,
        nullable: true,
        source: Source::Member(object, key),
    }
}

/// The text columns between `created_at` and `event_json`, in schema order. A new column is one
/// entry here.
const TEXT_COLUMNS: &[TextColumn] = &[
    TextColumn {
        name: "event_type",
        nullable: false,
        source: Source::EventType,
    },
    TextColumn {
        name: "event_category",
        nullable: true,
        source: Source::EventCategory,
    },
    member("actor_type", Object::Actor, "actor_type"),
    member("actor_gid", Object::Actor, "gid"),
    member("actor_name", Object::Actor, "name"),
    member("actor_email", Object::Actor, "email"),
    member("resource_type", Object::Resource, "resource_type"),
    member("resource_subtype", Object::Resource, "resource_subtype"),
    member("resource_gid", Object::Resource, "gid"),
    member("resource_name", Object::Resource, "name"),
    member("resource_email", Object::Resource, "email"),
    member("context_type", Object::Context, "context_type"),
    member(
        "context_client_ip_address",
        Object::Context,
        "client_ip_address",
    ),
    member("context_user_agent", Object::Context, "user_agent"),
    member(
        "context_api_authentication_method",
        Object::Context,
        "api_authentication_method",
    ),
    member("context_oauth_app_name", Object::Context, "oauth_app_name"),
    member("context_rule_name", Object::Context, "rule_name"),
];

/// The string members the text columns read, from the text of the event's `actor`, `resource`
/// and `context` objects (located by the library when it decoded the event), one step over
/// each with [`AuditLogEvent::for_each_member`], borrowing unescaped strings (no allocation
/// for most events). Same rules as the library's typed views: a member that is not a string
/// is null (so is one holding a lone surrogate escape, which no Rust string holds; its text
/// stays in `event_json`), and when a key repeats the last value counts.
mod members {
    use std::borrow::Cow;

    use asana_audit_log::AuditLogEvent;

    use super::{Object, TEXT_COLUMNS};

    /// Each text column's value, by column.
    pub(super) type Values<'a> = [Option<Cow<'a, str>>; TEXT_COLUMNS.len()];

    /// Reads the member columns of an event into `values` (one slot per text column; the
    /// others are left as they are).
    pub(super) fn read<'a>(event: &'a AuditLogEvent, values: &mut Values<'a>) {
        for object in Object::ALL {
            let columns = object.columns();
            event.for_each_member(object.in_event(), |key, value| {
                if let Some(&(_, index)) = columns.iter().find(|(k, _)| *k == key) {
                    values[index] = value;
                }
            });
        }
    }
}

/// The name of the column that holds each event's exact JSON.
pub const EVENT_JSON_COLUMN: &str = "event_json";

/// The Arrow schema of the Parquet files a [`Sink`](crate::Sink) writes.
///
/// | column | type | |
/// | --- | --- | --- |
/// | `gid` | string | the event's gid |
/// | `created_at` | timestamp (ms, UTC) | when it happened |
/// | `event_type` | string | e.g. `user_login_succeeded` |
/// | `event_category`, `actor_type`, `actor_gid`, `actor_name`, `actor_email` | string, nullable | |
/// | `resource_type`, `resource_subtype`, `resource_gid`, `resource_name`, `resource_email` | string, nullable | |
/// | `context_type`, `context_client_ip_address`, `context_user_agent`, `context_api_authentication_method`, `context_oauth_app_name`, `context_rule_name` | string, nullable | |
/// | `event_json` | string | the event exactly as Asana sent it: nothing is lost |
///
/// A typed column is null when the event lacks the field or holds another JSON type there; the
/// value is still in `event_json`. The partition values (`event_date`, `event_hour`) are in the
/// file's path (Hive style), not in the file.
///
/// ```
/// let schema = asana_audit_log_pipeline::parquet_schema();
/// assert_eq!(schema.field(0).name(), "gid");
/// assert_eq!(schema.fields().last().unwrap().name(), "event_json");
/// ```
pub fn parquet_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let mut fields = vec![
                Field::new("gid", DataType::Utf8, false),
                Field::new(
                    "created_at",
                    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                    false,
                ),
            ];
            fields.extend(
                TEXT_COLUMNS
                    .iter()
                    .map(|c| Field::new(c.name, DataType::Utf8, c.nullable)),
            );
            fields.push(Field::new(EVENT_JSON_COLUMN, DataType::Utf8, false));
            Arc::new(Schema::new(fields))
        })
        .clone()
}

/// Rows gathered before they are handed to the Parquet writer as one batch.
const BATCH_ROWS: usize = 4096;

/// The columns of [`parquet_schema`] being filled for the next batch.
pub(crate) struct EventColumns {
    gid: StringBuilder,
    created_at: TimestampMillisecondBuilder,
    text: Vec<StringBuilder>,
    json: StringBuilder,
    rows: usize,
}

impl EventColumns {
    pub(crate) fn new() -> Self {
        EventColumns {
            gid: StringBuilder::new(),
            created_at: TimestampMillisecondBuilder::new().with_timezone("UTC"),
            text: TEXT_COLUMNS.iter().map(|_| StringBuilder::new()).collect(),
            json: StringBuilder::new(),
            rows: 0,
        }
    }
}

impl RowBuilder<AuditLogEvent> for EventColumns {
    fn schema(&self) -> SchemaRef {
        parquet_schema()
    }

    fn push(&mut self, event: &AuditLogEvent) -> Result<(), Error> {
        let mut values: members::Values = Default::default();
        members::read(event, &mut values);
        self.gid.append_value(event.gid());
        self.created_at
            .append_value(event.created_at().timestamp_millis());
        for ((builder, column), value) in self.text.iter_mut().zip(TEXT_COLUMNS).zip(&values) {
            match column.source {
                Source::EventType => builder.append_value(event.event_type().as_str()),
                Source::EventCategory => {
                    builder.append_option(event.event_category().map(|c| c.as_str()))
                }
                Source::Member(..) => builder.append_option(value.as_deref()),
            }
        }
        self.json.append_value(event.json());
        self.rows += 1;
        Ok(())
    }

    fn len(&self) -> usize {
        self.rows
    }

    fn finish(&mut self) -> Result<RecordBatch, Error> {
        let rows = std::mem::take(&mut self.rows);
        let mut columns: Vec<ArrayRef> = vec![
            finish_text(&mut self.gid, rows),
            Arc::new(self.created_at.finish()),
        ];
        columns.extend(self.text.iter_mut().map(|b| finish_text(b, rows)));
        columns.push(finish_text(&mut self.json, rows));
        RecordBatch::try_new(parquet_schema(), columns).map_err(Error::arrow)
    }
}

/// The column a text builder holds, leaving in its place a builder sized like it (the next batch
/// is likely the same size), so the next batch's values are not copied into ever larger buffers
/// as they arrive. Arrow's `finish` leaves a builder of no capacity.
fn finish_text(builder: &mut StringBuilder, rows: usize) -> ArrayRef {
    let bytes = builder.values_slice().len();
    let sized = StringBuilder::with_capacity(rows, bytes + bytes / 8);
    Arc::new(std::mem::replace(builder, sized).finish())
}

/// The file a Parquet writer writes to.
type Target = Counting<BufWriter<File>>;

/// Batches that may wait for the encoding thread (each of [`BATCH_ROWS`] rows).
const BATCHES_IN_FLIGHT: usize = 2;

/// One Parquet file being written: a row builder for the next batch on the caller's thread,
/// and the Parquet writer on a thread of its own, which encodes and compresses the batches
/// (the heavier half of the work) while the next one is built.
pub(crate) struct ParquetFile<R> {
    rows: Box<dyn RowBuilder<R>>,
    batches: Option<std::sync::mpsc::SyncSender<RecordBatch>>,
    encoder: Option<std::thread::JoinHandle<Result<Target, Error>>>,
    /// The writer's bytes written plus its row group in progress, after the last batch.
    size: Arc<std::sync::atomic::AtomicU64>,
}

impl<R> ParquetFile<R> {
    pub(crate) fn new(
        sink: Target,
        rows: Box<dyn RowBuilder<R>>,
        row_group_rows: usize,
    ) -> Result<Self, Error> {
        // The exact JSON (and the gid) is unique per event: a dictionary or min/max statistics
        // of hundreds of bytes per page would only cost time there. zstd level 1: most of
        // level 3's ratio on JSON text at about twice the speed.
        let unique = |name: &str| ColumnPath::from(name);
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(1).expect("valid level"),
            ))
            .set_max_row_group_row_count(Some(row_group_rows.max(1)))
            .set_column_dictionary_enabled(unique("gid"), false)
            .set_column_dictionary_enabled(unique(EVENT_JSON_COLUMN), false)
            .set_column_statistics_enabled(unique(EVENT_JSON_COLUMN), EnabledStatistics::None)
            .set_created_by(concat!("asana-audit-log-pipeline ", env!("CARGO_PKG_VERSION")).into())
            .build();
        let writer =
            ArrowWriter::try_new(sink, rows.schema(), Some(properties)).map_err(Error::parquet)?;
        let (batches, received) = std::sync::mpsc::sync_channel::<RecordBatch>(BATCHES_IN_FLIGHT);
        let size = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let reported = size.clone();
        let encoder = std::thread::Builder::new()
            .name("parquet-encoder".into())
            .spawn(move || encode(writer, received, &reported))
            .map_err(|e| Error::io("start the Parquet encoder", e))?;
        Ok(ParquetFile {
            rows,
            batches: Some(batches),
            encoder: Some(encoder),
            size,
        })
    }

    pub(crate) fn write(&mut self, record: &R) -> Result<(), Error> {
        self.rows.push(record)?;
        if self.rows.len() == BATCH_ROWS {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn flush_batch(&mut self) -> Result<(), Error> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let batch = self.rows.finish()?;
        let sent = self
            .batches
            .as_ref()
            .is_some_and(|batches| batches.send(batch).is_ok());
        if sent {
            return Ok(());
        }
        // The encoder stopped: its error says why.
        self.batches = None;
        match self.join() {
            Err(error) => Err(error),
            Ok(_) => Err(Error::io(
                "encode Parquet",
                std::io::Error::other("the encoder stopped"),
            )),
        }
    }

    fn join(&mut self) -> Result<Target, Error> {
        join(self.encoder.take())
    }

    /// Bytes written so far plus the row group in progress (an estimate of the file's size,
    /// as of the last batch encoded).
    pub(crate) fn size(&self) -> u64 {
        self.size.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Hands the rows still held to the encoder and closes its input; the closure returned
    /// waits for the encoder to write the footer and returns the file.
    pub(crate) fn close_input(
        mut self,
    ) -> Result<impl FnOnce() -> Result<Target, Error> + Send + 'static, Error> {
        self.flush_batch()?;
        // Closing the channel ends the encoder, which writes the footer.
        self.batches = None;
        let encoder = self.encoder.take();
        Ok(move || join(encoder))
    }
}

/// The encoder thread's work: `batches` into the file (the writer cuts row groups at the row
/// count its properties give), then the footer; `size` follows the file's bytes written plus
/// the row group in progress.
fn encode(
    mut writer: ArrowWriter<Target>,
    batches: std::sync::mpsc::Receiver<RecordBatch>,
    size: &std::sync::atomic::AtomicU64,
) -> Result<Target, Error> {
    for batch in batches {
        writer.write(&batch).map_err(Error::parquet)?;
        size.store(
            (writer.bytes_written() + writer.in_progress_size()) as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
    // Writes the last row group and the footer.
    writer.into_inner().map_err(Error::parquet)
}

/// The encoder's result: the file, or why it stopped.
fn join(encoder: Option<std::thread::JoinHandle<Result<Target, Error>>>) -> Result<Target, Error> {
    match encoder.map(std::thread::JoinHandle::join) {
        Some(Ok(result)) => result,
        Some(Err(_)) | None => Err(Error::io(
            "encode Parquet",
            std::io::Error::other("the encoder thread panicked"),
        )),
    }
}

impl<R> Drop for ParquetFile<R> {
    fn drop(&mut self) {
        // A file dropped unfinished (its sink dropped without a commit): let the encoder end.
        self.batches = None;
        if let Some(encoder) = self.encoder.take() {
            let _ = encoder.join();
        }
    }
}
