//! Directory and object store outputs: which `--output` is one, the sink's options, and how
//! its errors map to exit codes.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use asana_audit_log::AuditLogEvent;
use asana_audit_log_ocsf::{Mapper, OcsfClass, OcsfEvent};
use asana_audit_log_pipeline::arrow as sink_arrow;
use asana_audit_log_pipeline::{
    Commit, CommitError, Destination, Encoding, Layout, ParquetRows, Partitioning, Record,
    Recovery, RowBuilder, Sink, SinkError, SinkOptions, Table,
};
use chrono::{DateTime, Utc};

use crate::checkpoint::ArchiveMark;
use crate::cli::{ArchiveArgs, PartitionBy};
use crate::error::{CliError, Failure};

/// What an `--output` names.
pub enum Target {
    /// `-`: standard output, NDJSON.
    Stdout,
    /// A single NDJSON file, appended to.
    File,
    /// A directory or object store prefix, for partitioned files.
    Archive(Destination),
}

impl Target {
    /// Reads `--output` with `--encoding`: a URL, an existing directory, a path ending in `/`,
    /// or any path with an encoding other than ndjson is an archive. Refuses what cannot work
    /// (a compressed or Parquet encoding to standard output, an unknown URL scheme) before
    /// anything is sent.
    pub fn classify(output: &Path, args: &ArchiveArgs) -> Result<Target, CliError> {
        let text = output.to_string_lossy();
        let encoding = encoding(args);
        if args.security_lake.is_some() && encoding != Encoding::Parquet {
            return Err(CliError::input(
                "--security-lake writes Parquet (Security Lake reads nothing else); drop --encoding",
            ));
        }
        if text == "-" {
            if encoding != Encoding::Ndjson {
                return Err(CliError::input(format!(
                    "--encoding {encoding} cannot be written to standard output{}; give a \
                     directory or URL as --output",
                    if encoding.streams() {
                        ""
                    } else {
                        " (a Parquet file's footer is written last)"
                    }
                )));
            }
            return Ok(Target::Stdout);
        }
        let is_archive = asana_audit_log_pipeline::is_url(&text)
            || output.is_dir()
            || text.ends_with('/')
            || encoding != Encoding::Ndjson;
        if !is_archive {
            return Ok(Target::File);
        }
        Destination::parse(&text)
            .map(Target::Archive)
            .map_err(|e| CliError::input(e.to_string()))
    }
}

/// The encoding `args` ask for: `--encoding`, else Parquet for Security Lake, else ndjson.
pub fn encoding(args: &ArchiveArgs) -> Encoding {
    match (args.encoding, &args.security_lake) {
        (Some(encoding), _) => encoding,
        (None, Some(_)) => Encoding::Parquet,
        (None, None) => Encoding::Ndjson,
    }
}

/// The sink options `args` ask for.
pub fn options(args: &ArchiveArgs) -> SinkOptions {
    let layout = match &args.security_lake {
        Some((region, account_id)) => Layout::SecurityLake {
            source_prefix: "asana-".to_owned(),
            region: region.clone(),
            account_id: account_id.clone(),
        },
        None => Layout::Hive(match args.partition {
            PartitionBy::Day => Partitioning::Day,
            PartitionBy::Hour => Partitioning::Hour,
        }),
    };
    let mut options = SinkOptions::new(encoding(args))
        .with_layout(layout)
        .with_max_file_bytes(args.rotate_size)
        .with_max_file_age(args.rotate_after)
        .with_row_group_rows(usize::try_from(args.row_group_rows).unwrap_or(usize::MAX));
    if let Some(dir) = &args.staging_dir {
        options = options.with_staging_dir(dir);
    }
    options
}

/// What a checkpoint records of the archive, to refuse resuming into another one.
pub fn mark(destination: &Destination, args: &ArchiveArgs) -> ArchiveMark {
    ArchiveMark {
        url: destination.url().to_owned(),
        encoding: encoding(args).to_string(),
        partition: match (&args.security_lake, args.partition) {
            (Some((region, account)), _) => format!("security-lake {region}:{account}"),
            (None, PartitionBy::Day) => "day".to_owned(),
            (None, PartitionBy::Hour) => "hour".to_owned(),
        },
        format: match (args.format, &args.security_lake) {
            (crate::cli::Format::Raw, None) => None,
            _ => Some("ocsf".to_owned()),
        },
    }
}

/// An error and its causes on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let more = error.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = error.source();
    }
    text
}

/// A sink failure during a run: the object store failing is exit 4 (like the API failing), a
/// local write failure exit 1.
pub fn sink_error(error: SinkError) -> CliError {
    let failure = match error {
        SinkError::Store { .. } => Failure::Api,
        // A checkpoint altered by hand, or not ours: bad input, and nothing was touched.
        SinkError::InvalidCommit { .. } => Failure::Input,
        _ => Failure::Local,
    };
    CliError {
        failure,
        message: format!(
            "{}; the checkpoint covers only the files already in place",
            chain(&error)
        ),
    }
}

/// A failure of a commit: of the sink, or of the checkpoint save around it.
pub fn commit_error(error: CommitError<CliError>) -> CliError {
    match error {
        CommitError::Sink(error) => sink_error(error),
        CommitError::Checkpoint(error) => error,
    }
}

/// An OCSF event as the sink lands it: in a folder of its class (`class_uid=3002/`, or the
/// Security Lake source `asana-3002`), Parquet rows by the class's schema.
pub struct OcsfRecord {
    json: OcsfText,
    created_at: DateTime<Utc>,
    class_uid: &'static str,
}

/// An OCSF event's JSON text: its own, or its part of a text that the events mapped together
/// share (see [`Batch`]).
enum OcsfText {
    Own(OcsfEvent),
    Shared(Arc<String>, Range<usize>),
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

impl Record for OcsfRecord {
    fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    fn json(&self) -> &str {
        match &self.json {
            OcsfText::Own(event) => event.json(),
            OcsfText::Shared(text, range) => text.get(range.clone()).unwrap_or_default(),
        }
    }

    fn table(&self) -> Option<Table<'_>> {
        Some(Table {
            key: "class_uid",
            value: self.class_uid,
        })
    }
}

/// Parquet rows of OCSF events: one schema per class (`asana_audit_log_ocsf::arrow`).
struct OcsfRows;

/// The rows of one OCSF class, built by the OCSF crate.
struct OcsfColumns(asana_audit_log_ocsf::arrow::BatchBuilder);

impl RowBuilder<OcsfRecord> for OcsfColumns {
    fn schema(&self) -> sink_arrow::SchemaRef {
        asana_audit_log_ocsf::arrow::arrow_schema(self.0.class())
    }

    fn push(&mut self, record: &OcsfRecord) -> Result<(), SinkError> {
        // Records reach the builder of their own class: the class is their table.
        self.0.push_json(record.json()).map_err(SinkError::arrow)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn finish(&mut self) -> Result<sink_arrow::RecordBatch, SinkError> {
        self.0.finish().map_err(SinkError::arrow)
    }
}

impl ParquetRows<OcsfRecord> for OcsfRows {
    fn builder(
        &self,
        table: Option<Table<'_>>,
    ) -> Result<Box<dyn RowBuilder<OcsfRecord>>, SinkError> {
        let class = table
            .and_then(|t| {
                OcsfClass::ALL
                    .into_iter()
                    .find(|&c| class_folder(c) == t.value)
            })
            .ok_or_else(|| SinkError::Encode {
                source: format!("no OCSF class for {table:?}").into(),
            })?;
        Ok(Box::new(OcsfColumns(
            asana_audit_log_ocsf::arrow::BatchBuilder::new(class),
        )))
    }
}

/// What `--format` asks events to be written as.
#[derive(Clone)]
pub enum Format {
    /// As received.
    Raw,
    /// Mapped to OCSF.
    Ocsf(Mapper),
}

impl Format {
    /// The format of `args`; `tenant` (the workspace gid, when known) goes into OCSF's
    /// `metadata.tenant_uid`.
    pub fn new(args: &ArchiveArgs, tenant: Option<&str>) -> Format {
        match (args.format, &args.security_lake) {
            (crate::cli::Format::Raw, None) => Format::Raw,
            _ => Format::Ocsf(match tenant {
                Some(tenant) => Mapper::new().tenant_uid(tenant),
                None => Mapper::new(),
            }),
        }
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

    /// A batch of events to prepare in this format, e.g. one chunk of `convert`'s input: about
    /// `events` events in `bytes` of input JSON.
    pub fn batch(&self, events: usize, bytes: usize) -> Batch<'_> {
        Batch {
            format: self,
            prepared: Vec::with_capacity(events),
            // OCSF text is up to about three times the size of its source (2.7 times on the
            // mock's events): room for it all at once, as growing the text would copy it.
            text_capacity: bytes.saturating_mul(3).saturating_add(4096),
            text: String::new(),
            mapped: match self {
                Format::Raw => Vec::new(),
                Format::Ocsf(_) => Vec::with_capacity(events),
            },
        }
    }

    fn record(mapper: &Mapper, event: &AuditLogEvent) -> OcsfRecord {
        let event_ocsf = mapper.map(event);
        OcsfRecord {
            class_uid: class_folder(event_ocsf.class()),
            created_at: event.created_at(),
            json: OcsfText::Own(event_ocsf),
        }
    }
}

/// Events being put in the run's format together, ready for [`AnySink::write_prepared`] or
/// as lines: mapping is the costly step, and a batch lets it run on other threads than the
/// writer's. Mapped OCSF events are written one after the other into one text that they
/// share, which saves an allocation and a copy per event.
pub struct Batch<'f> {
    format: &'f Format,
    prepared: Vec<Prepared>,
    /// OCSF: what `text` starts with room for.
    text_capacity: usize,
    /// OCSF: the text of the events mapped since the last [`take`](Self::take).
    text: String,
    /// OCSF: each of those events' part of `text`, class and time.
    mapped: Vec<(Range<usize>, OcsfClass, DateTime<Utc>)>,
}

impl Batch<'_> {
    /// Adds an event.
    pub fn push(&mut self, event: AuditLogEvent) {
        match self.format {
            Format::Raw => self.prepared.push(Prepared::Raw(event)),
            Format::Ocsf(mapper) => {
                if self.text.capacity() == 0 {
                    self.text.reserve(self.text_capacity);
                }
                let start = self.text.len();
                let mapped = mapper.map_into(&event, &mut self.text);
                self.mapped
                    .push((start..self.text.len(), mapped.class, event.created_at()));
            }
        }
    }

    /// The events added since the last call, in order.
    pub fn take(&mut self) -> Vec<Prepared> {
        if !self.mapped.is_empty() {
            let text = Arc::new(std::mem::take(&mut self.text));
            self.prepared
                .extend(self.mapped.drain(..).map(|(range, class, created_at)| {
                    Prepared::Ocsf(OcsfRecord {
                        json: OcsfText::Shared(Arc::clone(&text), range),
                        created_at,
                        class_uid: class_folder(class),
                    })
                }));
        }
        std::mem::take(&mut self.prepared)
    }
}

/// An event in the run's format (see [`Batch`]).
pub enum Prepared {
    /// As received.
    Raw(AuditLogEvent),
    /// Mapped to OCSF.
    Ocsf(OcsfRecord),
}

impl Prepared {
    /// The event as one line of JSON.
    pub fn json(&self) -> &str {
        match self {
            Prepared::Raw(event) => event.json(),
            Prepared::Ocsf(record) => record.json(),
        }
    }
}

/// A sink of the run's format: the events as received, or mapped to OCSF on the way in.
pub enum AnySink {
    /// Events as received.
    Raw(Sink),
    /// OCSF events.
    Ocsf(Sink<OcsfRecord>, Mapper),
}

impl AnySink {
    /// Opens the sink `args` ask for, checking that the destination takes writes: a failure
    /// here is bad input (exit 2), found before the first request.
    pub async fn open(
        destination: Destination,
        args: &ArchiveArgs,
        format: Format,
    ) -> Result<AnySink, CliError> {
        let url = destination.url().to_owned();
        let hint = if destination.is_local() {
            "check that the directory can be created and written"
        } else {
            "check the URL, that the bucket exists, and the credentials (AWS_*, GOOGLE_*, \
             AZURE_* environment variables)"
        };
        let options = options(args);
        let opened = match format {
            Format::Raw => Sink::open(destination, options).await.map(AnySink::Raw),
            Format::Ocsf(mapper) => {
                Sink::open_with(destination, options, std::sync::Arc::new(OcsfRows))
                    .await
                    .map(|sink| AnySink::Ocsf(sink, mapper))
            }
        };
        opened.map_err(|e| {
            CliError::input(format!(
                "cannot write to {url}: {}; {hint}; nothing was sent",
                chain(&e)
            ))
        })
    }

    /// Writes one event (mapped first, for OCSF).
    pub fn write(&mut self, event: &AuditLogEvent) -> Result<(), CliError> {
        match self {
            AnySink::Raw(sink) => sink.write(event),
            AnySink::Ocsf(sink, mapper) => sink.write(&Format::record(mapper, event)),
        }
        .map_err(sink_error)
    }

    /// Writes one event prepared by the format this sink was opened with.
    pub fn write_prepared(&mut self, event: &Prepared) -> Result<(), CliError> {
        match (self, event) {
            (AnySink::Raw(sink), Prepared::Raw(event)) => sink.write(event),
            (AnySink::Ocsf(sink, _), Prepared::Ocsf(record)) => sink.write(record),
            _ => {
                return Err(CliError::local(
                    "an event prepared for another format than the sink's (a bug)",
                ));
            }
        }
        .map_err(sink_error)
    }

    /// See [`Sink::commit_due`].
    pub fn commit_due(&self) -> bool {
        match self {
            AnySink::Raw(sink) => sink.commit_due(),
            AnySink::Ocsf(sink, _) => sink.commit_due(),
        }
    }

    /// See [`Sink::commit_deadline`].
    pub fn commit_deadline(&self) -> Option<std::time::Instant> {
        match self {
            AnySink::Raw(sink) => sink.commit_deadline(),
            AnySink::Ocsf(sink, _) => sink.commit_deadline(),
        }
    }

    /// See [`Sink::commit`].
    pub async fn commit(
        &mut self,
        record: impl FnMut(Option<&Commit>) -> Result<(), CliError>,
    ) -> Result<u64, CliError> {
        match self {
            AnySink::Raw(sink) => sink.commit(record).await,
            AnySink::Ocsf(sink, _) => sink.commit(record).await,
        }
        .map_err(commit_error)
    }

    /// See [`Sink::recover`].
    pub async fn recover(&self, commit: &Commit) -> Result<Recovery, CliError> {
        match self {
            AnySink::Raw(sink) => sink.recover(commit).await,
            AnySink::Ocsf(sink, _) => sink.recover(commit).await,
        }
        .map_err(sink_error)
    }
}
