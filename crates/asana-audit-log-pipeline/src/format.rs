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
use crate::sink::{Commit, CommitError, Layout, Partitioning, Recovery, Sink, SinkOptions};

/// An OCSF event as the sink lands it: in a folder of its class (`class_uid=3002/`, or the
/// Security Lake source `asana-3002`), Parquet rows by the class's schema.
#[derive(Debug)]
pub struct OcsfRecord {
    event: OcsfEvent,
    created_at: DateTime<Utc>,
    class_uid: &'static str,
    /// The event as received, kept for Base Event (class 0), which has no Security Lake
    /// class: a Security Lake's lands those as received in its fallback destination.
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
}

impl OcsfRows {
    /// The rows of OCSF `version`'s events.
    pub fn new(version: OcsfVersion) -> OcsfRows {
        OcsfRows { version }
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

    /// `event` in this format, ready for [`Landing::write`](crate::Landing::write),
    /// [`FormatSink::write_prepared`] or as a line: mapping to OCSF can so run on other
    /// threads than the writer's (as `convert` does).
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
    Ocsf {
        /// Where the OCSF events land.
        sink: Sink<OcsfRecord>,
        /// How events become OCSF events.
        mapper: Mapper,
        /// For a Security Lake: where the events of no Security Lake class land, as received
        /// (see [`FormatSink::open_with_fallback`]).
        fallback: Option<Box<Sink>>,
    },
}

impl FormatSink {
    /// Opens a sink of `format` into `destination`, checking that the destination takes
    /// writes: a failure here is [`Error::Refused`], found before any event is read.
    pub async fn open(
        destination: Destination,
        options: SinkOptions,
        format: Format,
    ) -> Result<FormatSink, Error> {
        FormatSink::open_with_fallback(destination, options, format, None).await
    }

    /// [`open`](Self::open), with a fallback destination, which OCSF in a Security Lake
    /// ([`Layout::SecurityLake`]) needs and nothing else takes (refused otherwise): events that map to OCSF Base Event, which no Security
    /// Lake source takes (their resource has neither a gid nor a name), land there in full,
    /// as received, in the options' encoding and day folders (`event_date=YYYY-MM-DD/`),
    /// instead of failing the write. Its files are committed with the lake's, in one commit
    /// ([`Commit::fallback_files`]), so one checkpoint keeps both exactly once.
    pub async fn open_with_fallback(
        destination: Destination,
        options: SinkOptions,
        format: Format,
        fallback: Option<Destination>,
    ) -> Result<FormatSink, Error> {
        check_fallback(&format, &options.layout, fallback.as_ref())?;
        let fallback = match fallback {
            Some(destination) => {
                let mut options = options.clone();
                options.layout = Layout::Hive(Partitioning::Day);
                Some(Box::new(opened(
                    destination.clone(),
                    Sink::open(destination, options).await,
                )?))
            }
            None => None,
        };
        let sink = match format {
            Format::Raw => FormatSink::Raw(opened(
                destination.clone(),
                Sink::open(destination, options).await,
            )?),
            Format::Ocsf(mapper) => {
                let rows = Arc::new(OcsfRows::new(mapper.version()));
                FormatSink::Ocsf {
                    sink: opened(
                        destination.clone(),
                        Sink::open_with(destination, options, rows).await,
                    )?,
                    mapper,
                    fallback,
                }
            }
        };
        Ok(sink)
    }

    /// Writes one event (mapped first, for OCSF); says where it went.
    pub fn write(&mut self, event: &AuditLogEvent) -> Result<Written, Error> {
        match self {
            FormatSink::Raw(sink) => sink.write(event).map(|()| Written::Archive),
            FormatSink::Ocsf {
                sink,
                mapper,
                fallback,
            } => {
                let record = Format::record(mapper, event);
                write_ocsf(sink, fallback, &record, event)
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
            (FormatSink::Ocsf { sink, fallback, .. }, Prepared::Ocsf(record)) => {
                match record.received() {
                    Some(received) => write_ocsf(sink, fallback, record, received),
                    None => sink.write(record).map(|()| Written::Archive),
                }
            }
            _ => Err(Error::io(
                "write an event",
                std::io::Error::other("it was prepared for another format than the sink's"),
            )),
        }
        .map_err(committing)
    }

    /// See `Sink::guard_writes`: the archive's sink and the fallback's alike.
    pub(crate) fn guard_writes(&mut self, guard: crate::sink::WriteGuard) {
        match self {
            FormatSink::Raw(sink) => sink.guard_writes(guard),
            FormatSink::Ocsf { sink, fallback, .. } => {
                if let Some(fallback) = fallback {
                    fallback.guard_writes(guard.clone());
                }
                sink.guard_writes(guard);
            }
        }
    }

    /// The sinks, the fallback's after the archive's.
    fn sinks(&self) -> [Option<&dyn Pending>; 2] {
        match self {
            FormatSink::Raw(sink) => [Some(sink), None],
            FormatSink::Ocsf { sink, fallback, .. } => {
                [Some(sink), fallback.as_deref().map(|f| f as &dyn Pending)]
            }
        }
    }

    /// See [`Sink::commit_due`].
    pub fn commit_due(&self) -> bool {
        self.sinks().into_iter().flatten().any(Pending::commit_due)
    }

    /// See [`Sink::commit_deadline`].
    pub fn commit_deadline(&self) -> Option<std::time::Instant> {
        self.sinks()
            .into_iter()
            .flatten()
            .filter_map(Pending::commit_deadline)
            .min()
    }

    /// See [`Sink::commit`]; `save_checkpoint`'s errors come back as they are. With a
    /// fallback destination, its files are committed in the same commit as the archive's:
    /// both are sealed, the checkpoint saved with every file as pending, both put in place,
    /// and the checkpoint saved without them.
    pub async fn commit(
        &mut self,
        save_checkpoint: impl AsyncFnMut(Option<&Commit>) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        match self {
            FormatSink::Raw(sink) => sink.commit(save_checkpoint).await,
            FormatSink::Ocsf {
                sink,
                fallback: None,
                ..
            } => sink.commit(save_checkpoint).await,
            FormatSink::Ocsf {
                sink,
                fallback: Some(fallback),
                ..
            } => commit_both(sink, fallback, save_checkpoint).await,
        }
        .map_err(|error| match error {
            CommitError::Sink(error) => committing(error),
            CommitError::Checkpoint(error) => error,
        })
    }

    /// See [`Sink::recover`]; with a fallback destination, a commit is complete only when
    /// every file is in place in both, and is undone in both otherwise.
    pub async fn recover(&self, commit: &Commit) -> Result<Recovery, Error> {
        match self {
            FormatSink::Raw(sink) => sink.recover(commit).await,
            FormatSink::Ocsf {
                sink,
                fallback: None,
                ..
            } => sink.recover(commit).await,
            FormatSink::Ocsf {
                sink,
                fallback: Some(fallback),
                ..
            } => recover_both(sink, fallback, commit).await,
        }
        .map_err(committing)
    }
}

/// Refuses a fallback destination where it has no place, and its absence where it must be:
/// OCSF in a Security Lake needs one (outside the sources' locations), anything else takes
/// none; and events as received in a Security Lake, which takes OCSF only.
pub(crate) fn check_fallback(
    format: &Format,
    layout: &Layout,
    fallback: Option<&Destination>,
) -> Result<(), Error> {
    match (format, layout, fallback) {
        (Format::Ocsf(_), Layout::SecurityLake(lake), Some(fallback)) => {
            lake.check_fallback(fallback)
        }
        (Format::Ocsf(_), Layout::SecurityLake(_), None) => Err(Error::refused(
            "a Security Lake needs a fallback destination: events that map to OCSF Base Event \
             (their resource has neither a gid nor a name) have no Security Lake class, and \
             land there in full instead",
        )),
        (Format::Raw, Layout::SecurityLake(_), _) => Err(Error::refused(
            "a Security Lake takes OCSF events only: its sources are OCSF classes",
        )),
        (_, _, Some(fallback)) => Err(Error::refused(format!(
            "a fallback destination ({}) is for the events of no Security Lake class: it goes \
             with OCSF in a Security Lake only",
            fallback.url()
        ))),
        (_, _, None) => Ok(()),
    }
}

/// The part of a sink [`FormatSink`] asks about whatever its records.
trait Pending {
    fn commit_due(&self) -> bool;
    fn commit_deadline(&self) -> Option<std::time::Instant>;
}

impl<R: Record> Pending for Sink<R> {
    fn commit_due(&self) -> bool {
        Sink::commit_due(self)
    }

    fn commit_deadline(&self) -> Option<std::time::Instant> {
        Sink::commit_deadline(self)
    }
}

/// A sink opened for `destination`, or why it could not be, as a refusal before any event
/// is read.
fn opened<S>(destination: Destination, sink: Result<S, Error>) -> Result<S, Error> {
    sink.map_err(|e| {
        let hint = if destination.is_local() {
            "check that the directory can be created and written"
        } else {
            "check the URL, that the bucket exists, and the credentials (AWS_*, GOOGLE_*, \
             AZURE_* environment variables)"
        };
        Error::refused(format!(
            "cannot write to {}: {}; {hint}; nothing was sent",
            destination.url(),
            chain(&e)
        ))
    })
}

/// Writes an OCSF `record` of `event`: to the fallback sink when it is a Base Event record
/// of a Security Lake, else to `sink`.
fn write_ocsf(
    sink: &mut Sink<OcsfRecord>,
    fallback: &mut Option<Box<Sink>>,
    record: &OcsfRecord,
    event: &AuditLogEvent,
) -> Result<Written, Error> {
    let lake = matches!(sink.layout(), Layout::SecurityLake(_));
    match fallback {
        Some(fallback) if lake && record.class_uid == BASE_EVENT => {
            fallback.write(event).map(|()| Written::Fallback)
        }
        _ => sink.write(record).map(|()| Written::Archive),
    }
}

/// Commits the open files of `sink` and `fallback` as one (see [`FormatSink::commit`]).
async fn commit_both<E>(
    sink: &mut Sink<OcsfRecord>,
    fallback: &mut Sink,
    mut save_checkpoint: impl AsyncFnMut(Option<&Commit>) -> Result<(), E>,
) -> Result<u64, CommitError<E>> {
    let lake = sink.seal()?;
    let other = match fallback.seal() {
        Ok(other) => other,
        Err(error) => {
            if let Some(lake) = &lake {
                sink.abandon(lake);
            }
            return Err(error.into());
        }
    };
    let (lake_commit, other_commit) = (
        lake.as_ref().map(|s| &s.commit),
        other.as_ref().map(|s| &s.commit),
    );
    if lake_commit.is_none() && other_commit.is_none() {
        return Ok(0);
    }
    let commit = Commit {
        files: lake_commit.map(|c| c.files.clone()).unwrap_or_default(),
        events: lake_commit.map_or(0, |c| c.events) + other_commit.map_or(0, |c| c.events),
        fallback_files: other_commit.map(|c| c.files.clone()).unwrap_or_default(),
    };
    let result = async {
        save_checkpoint(Some(&commit))
            .await
            .map_err(CommitError::Checkpoint)?;
        if let Some(lake) = &lake {
            sink.publish(lake).await?;
        }
        if let Some(other) = &other
            && let Err(error) = fallback.publish(other).await
        {
            if let Some(lake) = &lake {
                sink.unpublish(lake).await;
            }
            return Err(error.into());
        }
        save_checkpoint(None).await.map_err(CommitError::Checkpoint)
    }
    .await;
    if result.is_err() {
        if let Some(lake) = &lake {
            sink.abandon(lake);
        }
        if let Some(other) = &other {
            fallback.abandon(other);
        }
    }
    result.map(|()| commit.events)
}

/// Finishes or undoes a commit of `sink` and `fallback` (see [`FormatSink::recover`]).
async fn recover_both(
    sink: &Sink<OcsfRecord>,
    fallback: &Sink,
    commit: &Commit,
) -> Result<Recovery, Error> {
    commit.validate(sink.options().encoding)?;
    let in_lake = sink.present(&commit.files).await?;
    let in_fallback = fallback.present(&commit.fallback_files).await?;
    if in_lake.len() == commit.files.len() && in_fallback.len() == commit.fallback_files.len() {
        return Ok(Recovery::Completed);
    }
    sink.roll_back(&in_lake, &commit.files).await?;
    fallback
        .roll_back(&in_fallback, &commit.fallback_files)
        .await?;
    Ok(Recovery::RolledBack)
}

/// Where [`FormatSink::write`] put an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Written {
    /// In the archive (or the Security Lake source of its class).
    Archive,
    /// In a Security Lake's fallback destination: it maps to OCSF Base Event, which no
    /// Security Lake source takes ([`FormatSink::open_with_fallback`]).
    Fallback,
}

/// A sink's failure during a run.
fn committing(error: Error) -> Error {
    Error::Commit {
        source: Box::new(error),
    }
}
