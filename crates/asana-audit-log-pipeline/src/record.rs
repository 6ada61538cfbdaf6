//! What a sink lands: [`Record`]s, and how records of a kind become Parquet rows.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use asana_audit_log::AuditLogEvent;
use chrono::{DateTime, Utc};

use crate::error::Error;

/// A group of records that never share a file: a folder above the partitions, e.g.
/// `class_uid=3002/` (and, for Parquet, one schema per table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Table<'a> {
    /// The folder's key, e.g. `class_uid`.
    pub key: &'static str,
    /// Its value, e.g. `3002`.
    pub value: &'a str,
}

/// One record a [`Sink`](crate::Sink) lands: an Asana event as received, or a form of it
/// (such as an OCSF event).
pub trait Record {
    /// When the event happened: the record's partition, and the start of its file's name.
    fn created_at(&self) -> DateTime<Utc>;

    /// The record as one line of JSON (what NDJSON files hold).
    fn json(&self) -> &str;

    /// The table the record belongs to (default: none, one table).
    fn table(&self) -> Option<Table<'_>> {
        None
    }
}

impl Record for AuditLogEvent {
    fn created_at(&self) -> DateTime<Utc> {
        AuditLogEvent::created_at(self)
    }

    fn json(&self) -> &str {
        AuditLogEvent::json(self)
    }
}

/// Builds the rows of one Parquet file.
pub trait RowBuilder<R>: Send {
    /// The rows' schema.
    fn schema(&self) -> SchemaRef;
    /// Adds a record.
    fn push(&mut self, record: &R) -> Result<(), Error>;
    /// Records added since the last [`finish`](Self::finish).
    fn len(&self) -> usize;
    /// Whether no record was added since the last [`finish`](Self::finish).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The records added since the last call, as a batch.
    fn finish(&mut self) -> Result<RecordBatch, Error>;
}

/// How records of type `R` become Parquet rows: a row builder per file, by table.
pub trait ParquetRows<R>: Send + Sync {
    /// A builder for a file of `table`.
    fn builder(&self, table: Option<Table<'_>>) -> Result<Box<dyn RowBuilder<R>>, Error>;
}

/// Parquet rows of Asana events as received: [`parquet_schema`](crate::parquet_schema).
#[derive(Clone, Copy, Debug, Default)]
pub struct EventRows;

impl ParquetRows<AuditLogEvent> for EventRows {
    fn builder(
        &self,
        _table: Option<Table<'_>>,
    ) -> Result<Box<dyn RowBuilder<AuditLogEvent>>, Error> {
        Ok(Box::new(crate::parquet::EventColumns::new()))
    }
}

/// The row encoding a sink of `R` uses for Parquet.
pub(crate) type Rows<R> = Arc<dyn ParquetRows<R>>;
