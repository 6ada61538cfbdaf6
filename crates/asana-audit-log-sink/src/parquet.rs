//! The Parquet encoding: its schema (declared once, as a list of columns) and its writer.

use std::fs::File;
use std::io::BufWriter;
use std::sync::{Arc, OnceLock};

use arrow_array::builder::{StringBuilder, TimestampMillisecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use asana_audit_log::AuditLogEvent;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::encoding::Counting;
use crate::error::SinkError;
use crate::record::RowBuilder;

/// A text column of the Parquet schema: its name and how to read it from an event.
struct TextColumn {
    name: &'static str,
    nullable: bool,
    value: fn(&AuditLogEvent) -> Option<&str>,
}

/// The text columns between `created_at` and `event_json`, in schema order. A new column is one
/// entry here.
const TEXT_COLUMNS: &[TextColumn] = &[
    TextColumn {
        name: "event_type",
        nullable: false,
        value: |e| Some(e.event_type().as_str()),
    },
    TextColumn {
        name: "event_category",
        nullable: true,
        value: |e| e.event_category().map(|c| c.as_str()),
    },
    TextColumn {
        name: "actor_type",
        nullable: true,
        value: |e| e.actor().actor_type.as_ref().map(|t| t.as_str()),
    },
    TextColumn {
        name: "actor_gid",
        nullable: true,
        value: |e| e.actor().gid.as_deref(),
    },
    TextColumn {
        name: "actor_name",
        nullable: true,
        value: |e| e.actor().name.as_deref(),
    },
    TextColumn {
        name: "actor_email",
        nullable: true,
        value: |e| e.actor().email.as_deref(),
    },
    TextColumn {
        name: "resource_type",
        nullable: true,
        value: |e| e.resource().resource_type.as_deref(),
    },
    TextColumn {
        name: "resource_subtype",
        nullable: true,
        value: |e| e.resource().resource_subtype.as_deref(),
    },
    TextColumn {
        name: "resource_gid",
        nullable: true,
        value: |e| e.resource().gid.as_deref(),
    },
    TextColumn {
        name: "resource_name",
        nullable: true,
        value: |e| e.resource().name.as_deref(),
    },
    TextColumn {
        name: "resource_email",
        nullable: true,
        value: |e| e.resource().email.as_deref(),
    },
    TextColumn {
        name: "context_type",
        nullable: true,
        value: |e| e.context().context_type.as_ref().map(|t| t.as_str()),
    },
    TextColumn {
        name: "context_client_ip_address",
        nullable: true,
        value: |e| e.context().client_ip_address.as_deref(),
    },
    TextColumn {
        name: "context_user_agent",
        nullable: true,
        value: |e| e.context().user_agent.as_deref(),
    },
    TextColumn {
        name: "context_api_authentication_method",
        nullable: true,
        value: |e| {
            e.context()
                .api_authentication_method
                .as_ref()
                .map(|m| m.as_str())
        },
    },
    TextColumn {
        name: "context_oauth_app_name",
        nullable: true,
        value: |e| e.context().oauth_app_name.as_deref(),
    },
    TextColumn {
        name: "context_rule_name",
        nullable: true,
        value: |e| e.context().rule_name.as_deref(),
    },
];

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
/// let schema = asana_audit_log_sink::parquet_schema();
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

    fn push(&mut self, event: &AuditLogEvent) -> Result<(), SinkError> {
        self.gid.append_value(event.gid());
        self.created_at
            .append_value(event.created_at().timestamp_millis());
        for (builder, column) in self.text.iter_mut().zip(TEXT_COLUMNS) {
            builder.append_option((column.value)(event));
        }
        self.json.append_value(event.json());
        self.rows += 1;
        Ok(())
    }

    fn len(&self) -> usize {
        self.rows
    }

    fn finish(&mut self) -> Result<RecordBatch, SinkError> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.gid.finish()),
            Arc::new(self.created_at.finish()),
        ];
        columns.extend(
            self.text
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        columns.push(Arc::new(self.json.finish()));
        self.rows = 0;
        RecordBatch::try_new(parquet_schema(), columns).map_err(SinkError::arrow)
    }
}

/// One Parquet file being written: a row builder for the next batch, and the writer.
pub(crate) struct ParquetFile<R> {
    writer: ArrowWriter<Counting<BufWriter<File>>>,
    rows: Box<dyn RowBuilder<R>>,
}

impl<R> ParquetFile<R> {
    pub(crate) fn new(
        sink: Counting<BufWriter<File>>,
        rows: Box<dyn RowBuilder<R>>,
        row_group_rows: usize,
    ) -> Result<Self, SinkError> {
        // The exact JSON is unique per event: a dictionary would only cost time there.
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(3).expect("valid level"),
            ))
            .set_max_row_group_row_count(Some(row_group_rows.max(1)))
            .set_column_dictionary_enabled(ColumnPath::from("gid"), false)
            .set_column_dictionary_enabled(ColumnPath::from(EVENT_JSON_COLUMN), false)
            .set_created_by(concat!("asana-audit-log-sink ", env!("CARGO_PKG_VERSION")).into())
            .build();
        let writer = ArrowWriter::try_new(sink, rows.schema(), Some(properties))
            .map_err(SinkError::parquet)?;
        Ok(ParquetFile { writer, rows })
    }

    pub(crate) fn write(&mut self, record: &R) -> Result<(), SinkError> {
        self.rows.push(record)?;
        if self.rows.len() == BATCH_ROWS {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn flush_batch(&mut self) -> Result<(), SinkError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let batch = self.rows.finish()?;
        self.writer.write(&batch).map_err(SinkError::parquet)
    }

    /// Bytes written so far plus the row group in progress (an estimate of the file's size).
    pub(crate) fn size(&self) -> u64 {
        self.writer.bytes_written() as u64 + self.writer.in_progress_size() as u64
    }

    pub(crate) fn finish(mut self) -> Result<Counting<BufWriter<File>>, SinkError> {
        self.flush_batch()?;
        // Flushes the row group in progress and writes the footer.
        self.writer.into_inner().map_err(SinkError::parquet)
    }
}
