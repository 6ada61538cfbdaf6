//! What each event is written as: [`Format::Raw`] (exactly as received) or [`Format::Ocsf`]
//! (mapped to an OCSF event by `asana-audit-log-ocsf`), and a [`FormatSink`] that lands
//! either. OCSF records go in a folder (and, in Parquet, a schema) per OCSF class.

use std::sync::Arc;

use asana_audit_log::AuditLogEvent;
use asana_audit_log_ocsf::{Mapper, OcsfClass, OcsfEvent, OcsfVersion};
use chrono::{DateTime, Utc};

use crate::arrow as sink_arrow;
use crate::destination::Destination;
use crate::error::{Error, chain};
use crate::lake::BASE_EVENT;
use crate::record::{ParquetRows, Record, RowBuilder, Table};
use crate::sink::{Commit, CommitError, Layout, Recovery, Sink, SinkOptions};

/// An OCSF event as the sink lands it: in a folder of its class (`class_uid=3002/`, or the
/// Security Lake source `asana-3002`), Parquet rows by the class's schema.
#[derive(Debug)]
pub struct OcsfRecord {
    event: OcsfEvent,
    created_at: DateTime<Utc>,
    class_uid: &'static str,
    /// The event as received, kept for Base Event (class 0), which has no Security Lake
    /// class: a Security Lake sink lands those as received in its fallback destination.
    raw: Option<AuditLogEvent>,
}

/// A class's uid as text (`"3002"`), the value of its folder: made once per class, so a
/// record costs no string of its own.
fn class_folder(class: OcsfClass) -> &'static str {
    static FOLDERS: std::sync::OnceLock<Vec<(OcsfClass, String)>> = std::sync::OnceLock::new();
    let folders = FOLDERS.get_or_init(|| {
        OcsfClass::ALL
            .into_iter()
            .map(|class| (class, class.uid().to_string()))
            .collect()
    });
    folders
        .iter()
        .find(|(c, _)| *c == class)
        .map(|(_, uid)| uid.as_str())
        .expect("OcsfClass::ALL lists every class")
}

impl OcsfRecord {
    /// The event as received, when the record keeps it: Base Event records do (see
    /// [`Written::Fallback`]).
    pub fn received(&self) -> Option<&AuditLogEvent> {
        self.raw.as_ref()
    }
}

impl Record for OcsfRecord {
    fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    fn json(&self) -> &str {
        self.event.json()
    }

    fn table(&self) -> Option<Table<'_>> {
        Some(Table {
            key: "class_uid",
            value: self.class_uid,
        })
    }
}

/// Parquet rows of OCSF events of one OCSF version (1.8.0 by default): one schema per class
/// (`asana_audit_log_ocsf::arrow`).
#[derive(Clone, Copy, Debug, Default)]
pub struct OcsfRows {
    version: OcsfVersion,
    raw_base_events: bool,
}

impl OcsfRows {
    /// The rows of OCSF `version`'s events.
    pub fn new(version: OcsfVersion) -> OcsfRows {
        OcsfRows {
            version,
            raw_base_events: false,
        }
    }

    /// The same, but Base Event records (class 0) as received, in the rows of
    /// [`parquet_schema`](crate::parquet_schema): what a Security Lake's fallback
    /// destination holds.
    pub fn with_raw_base_events(self) -> OcsfRows {
        OcsfRows {
            raw_base_events: true,
            ..self
        }
    }
}

/// The rows of Base Event records as received (see [`OcsfRows::with_raw_base_events`]).
struct RawColumns(crate::parquet::EventColumns);

impl RowBuilder<OcsfRecord> for RawColumns {
    fn schema(&self) -> sink_arrow::SchemaRef {
        self.0.schema()
    }

    fn push(&mut self, record: &OcsfRecord) -> Result<(), Error> {
        let raw = record.raw.as_ref().ok_or_else(|| Error::Encode {
            source: "a Base Event record without its event as received".into(),
        })?;
        self.0.push(raw)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn finish(&mut self) -> Result<sink_arrow::RecordBatch, Error> {
        self.0.finish()
    }
}

/// The rows of one OCSF class, built by the OCSF crate.
struct OcsfColumns(asana_audit_log_ocsf::arrow::BatchBuilder);

impl RowBuilder<OcsfRecord> for OcsfColumns {
    fn schema(&self) -> sink_arrow::SchemaRef {
        asana_audit_log_ocsf::arrow::arrow_schema_for(self.0.class(), self.0.version())
    }

    fn push(&mut self, record: &OcsfRecord) -> Result<(), Error> {
        // Records reach the builder of their own class: the class is their table.
        self.0.push_json(record.json()).map_err(Error::arrow)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn finish(&mut self) -> Result<sink_arrow::RecordBatch, Error> {
        self.0.finish().map_err(Error::arrow)
    }
}

impl ParquetRows<OcsfRecord> for OcsfRows {
    fn builder(&self, table: Option<Table<'_>>) -> Result<Box<dyn RowBuilder<OcsfRecord>>, Error> {
        if self.raw_base_events && table.is_some_and(|t| t.value == BASE_EVENT) {
            return Ok(Box::new(RawColumns(crate::parquet::EventColumns::new())));
        }
        let class = table
            .and_then(|t| {
                OcsfClass::ALL
                    .into_iter()
                    .find(|&c| class_folder(c) == t.value)
            })
            .ok_or_else(|| Error::Encode {
                source: format!("no OCSF class for {table:?}").into(),
            })?;
        Ok(Box::new(OcsfColumns(
            asana_audit_log_ocsf::arrow::BatchBuilder::for_version(class, self.version),
        )))
    }
}

/// What each event is written as.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Format {
    /// As received.
    Raw,
    /// Mapped to OCSF.
    Ocsf(Mapper),
}

impl Format {
    /// OCSF 1.8.0; `tenant` (the workspace gid, when known) goes into each event's
    /// `metadata.tenant_uid`.
    pub fn ocsf(tenant: Option<&str>) -> Format {
        Format::ocsf_in(OcsfVersion::V1_8, tenant)
    }

    /// OCSF `version` (1.1.0 for Amazon Security Lake, which validates custom sources against
    /// OCSF 1.1); `tenant` as for [`Format::ocsf`].
    pub fn ocsf_in(version: OcsfVersion, tenant: Option<&str>) -> Format {
        let mapper = Mapper::new().ocsf_version(version);
        Format::Ocsf(match tenant {
            Some(tenant) => mapper.tenant_uid(tenant),
            None => mapper,
        })
    }

    /// Whether events are mapped to OCSF.
    pub fn is_ocsf(&self) -> bool {
        matches!(self, Format::Ocsf(_))
    }

    /// The line to write for `event` (NDJSON to a file or standard output).
    pub fn line<'a>(&self, event: &'a AuditLogEvent, buffer: &'a mut String) -> &'a str {
        match self {
            Format::Raw => event.json(),
            Format::Ocsf(mapper) => {
                buffer.clear();
                mapper.map_into(event, buffer);
                buffer
            }
        }
    }

    /// `event` in this format, ready for [`FormatSink::write_prepared`] or as a line: mapping
    /// to OCSF can so run on other threads than the writer's (as `convert` does).
    pub fn prepare(&self, event: AuditLogEvent) -> Prepared {
        match self {
            Format::Raw => Prepared::Raw(event),
            Format::Ocsf(mapper) => Prepared::Ocsf(Format::record(mapper, &event)),
        }
    }

    fn record(mapper: &Mapper, event: &AuditLogEvent) -> OcsfRecord {
        let mapped = mapper.map(event);
        OcsfRecord {
            class_uid: class_folder(mapped.class()),
            created_at: event.created_at(),
            raw: (mapped.class() == OcsfClass::BaseEvent).then(|| event.clone()),
            event: mapped,
        }
    }
}

/// An event in the run's format (see [`Format::prepare`]).
#[derive(Debug)]
pub enum Prepared {
    /// As received.
    Raw(AuditLogEvent),
    /// Mapped to OCSF.
    Ocsf(OcsfRecord),
}

impl Prepared {
    /// The event as received, when it is kept (always for [`Prepared::Raw`]; for OCSF, see
    /// [`OcsfRecord::received`]).
    pub fn received(&self) -> Option<&AuditLogEvent> {
        match self {
            Prepared::Raw(event) => Some(event),
            Prepared::Ocsf(record) => record.received(),
        }
    }

    /// The event as one line of JSON.
    pub fn json(&self) -> &str {
        match self {
            Prepared::Raw(event) => event.json(),
            Prepared::Ocsf(record) => record.json(),
        }
    }
}

/// A sink of the run's format: the events as received, or mapped to OCSF on the way in.
///
/// Its errors after opening are [`Error::Commit`]: the caller's checkpoint covers only the
/// files already in place.
#[derive(Debug)]
pub enum FormatSink {
    /// Events as received.
    Raw(Sink),
    /// OCSF events.
    Ocsf(Sink<OcsfRecord>, Mapper),
}

impl FormatSink {
    /// Opens a sink of `format` into `destination`, checking that the destination takes
    /// writes: a failure here is [`Error::Refused`], found before any event is read.
    pub async fn open(
        destination: Destination,
        options: SinkOptions,
        format: Format,
    ) -> Result<FormatSink, Error> {
        let url = destination.url().to_owned();
        let hint = if destination.is_local() {
            "check that the directory can be created and written"
        } else {
            "check the URL, that the bucket exists, and the credentials (AWS_*, GOOGLE_*, \
             AZURE_* environment variables)"
        };
        let opened = match format {
            Format::Raw => Sink::open(destination, options).await.map(FormatSink::Raw),
            Format::Ocsf(mapper) => {
                let rows = OcsfRows::new(mapper.version());
                // A Security Lake's Base Event records land as received in its fallback
                // destination.
                let rows = match &options.layout {
                    Layout::SecurityLake(_) => rows.with_raw_base_events(),
                    Layout::Hive(_) => rows,
                };
                let rows = Arc::new(rows);
                Sink::open_with(destination, options, rows)
                    .await
                    .map(|sink| FormatSink::Ocsf(sink, mapper))
            }
        };
        opened.map_err(|e| {
            Error::refused(format!(
                "cannot write to {url}: {}; {hint}; nothing was sent",
                chain(&e)
            ))
        })
    }

    /// Writes one event (mapped first, for OCSF); says where it went.
    pub fn write(&mut self, event: &AuditLogEvent) -> Result<Written, Error> {
        match self {
            FormatSink::Raw(sink) => sink.write(event).map(|()| Written::Archive),
            FormatSink::Ocsf(sink, mapper) => {
                let record = Format::record(mapper, event);
                sink.write(&record).map(|()| written(sink, &record))
            }
        }
        .map_err(committing)
    }

    /// Writes one event prepared by the format this sink was opened with; says where it
    /// went.
    pub fn write_prepared(&mut self, event: &Prepared) -> Result<Written, Error> {
        match (self, event) {
            (FormatSink::Raw(sink), Prepared::Raw(event)) => {
                sink.write(event).map(|()| Written::Archive)
            }
            (FormatSink::Ocsf(sink, _), Prepared::Ocsf(record)) => {
                sink.write(record).map(|()| written(sink, record))
            }
            _ => Err(Error::io(
                "write an event",
                std::io::Error::other("it was prepared for another format than the sink's"),
            )),
        }
        .map_err(committing)
    }

    /// See [`Sink::commit_due`].
    pub fn commit_due(&self) -> bool {
        match self {
            FormatSink::Raw(sink) => sink.commit_due(),
            FormatSink::Ocsf(sink, _) => sink.commit_due(),
        }
    }

    /// See [`Sink::commit_deadline`].
    pub fn commit_deadline(&self) -> Option<std::time::Instant> {
        match self {
            FormatSink::Raw(sink) => sink.commit_deadline(),
            FormatSink::Ocsf(sink, _) => sink.commit_deadline(),
        }
    }

    /// See [`Sink::commit`]; `save_checkpoint`'s errors come back as they are.
    pub async fn commit(
        &mut self,
        save_checkpoint: impl AsyncFnMut(Option<&Commit>) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        match self {
            FormatSink::Raw(sink) => sink.commit(save_checkpoint).await,
            FormatSink::Ocsf(sink, _) => sink.commit(save_checkpoint).await,
        }
        .map_err(|error| match error {
            CommitError::Sink(error) => committing(error),
            CommitError::Checkpoint(error) => error,
        })
    }

    /// See [`Sink::recover`].
    pub async fn recover(&self, commit: &Commit) -> Result<Recovery, Error> {
        match self {
            FormatSink::Raw(sink) => sink.recover(commit).await,
            FormatSink::Ocsf(sink, _) => sink.recover(commit).await,
        }
        .map_err(committing)
    }
}

/// Where [`FormatSink::write`] put an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Written {
    /// In the archive (or the Security Lake source of its class).
    Archive,
    /// In a Security Lake's fallback destination: it maps to OCSF Base Event, which no
    /// Security Lake source takes ([`SecurityLake::with_fallback`](crate::SecurityLake::with_fallback)).
    Fallback,
}

/// Where `sink` put `record`.
fn written(sink: &Sink<OcsfRecord>, record: &OcsfRecord) -> Written {
    match sink.layout() {
        Layout::SecurityLake(_) if record.class_uid == BASE_EVENT => Written::Fallback,
        _ => Written::Archive,
    }
}

/// A sink's failure during a run.
fn committing(error: Error) -> Error {
    Error::Commit {
        source: Box::new(error),
    }
}
