//! [`Sink`]: open files by partition, rotation, and the commit protocol.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::sync::Arc;

use asana_audit_log::AuditLogEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::destination::Destination;
use crate::encoding::{Encoding, FileEncoder};
use crate::error::Error;
use crate::lake::SecurityLake;
use crate::record::{EventRows, ParquetRows, Record, Rows, Table};

/// How files are grouped in folders: Hive-style partitions by the event's UTC day, optionally
/// also its hour (`event_date=2026-11-30/` or `event_date=2026-11-30/event_hour=07/`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Partitioning {
    /// One folder per UTC day.
    #[default]
    Day,
    /// One folder per UTC hour, inside its day's folder.
    Hour,
}

impl Partitioning {
    /// The folder (relative path) of an event created at `at`.
    ///
    /// ```
    /// use asana_audit_log_pipeline::Partitioning;
    ///
    /// let at = "2026-11-30T07:15:00Z".parse().unwrap();
    /// assert_eq!(Partitioning::Day.folder(at), "event_date=2026-11-30");
    /// assert_eq!(Partitioning::Hour.folder(at), "event_date=2026-11-30/event_hour=07");
    /// ```
    pub fn folder(self, at: DateTime<Utc>) -> String {
        match self {
            Partitioning::Day => at.format("event_date=%Y-%m-%d").to_string(),
            Partitioning::Hour => at.format("event_date=%Y-%m-%d/event_hour=%H").to_string(),
        }
    }
}

/// Where files go, by table and time.
///
/// ```
/// use asana_audit_log_pipeline::{Layout, Partitioning, Table};
///
/// let at = "2026-11-30T07:15:00Z".parse().unwrap();
/// let class = Some(Table { key: "class_uid", value: "3002" });
/// assert_eq!(
///     Layout::Hive(Partitioning::Day).folder(class, at).unwrap(),
///     "class_uid=3002/event_date=2026-11-30"
/// );
/// ```
///
/// [`SecurityLake`] has an example of a lake's folders.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layout {
    /// Hive-style partitions, below a folder per table when records have tables:
    /// `[<key>=<table>/]event_date=YYYY-MM-DD[/event_hour=HH]`.
    Hive(Partitioning),
    /// Amazon Security Lake's layout for custom sources, one source per table (an OCSF
    /// class): `<source's location>/region=<region>/accountId=<account>/eventDay=YYYYMMDD`,
    /// relative to the lake's bucket ([`SecurityLake::bucket_url`], the destination).
    SecurityLake(SecurityLake),
}

impl Default for Layout {
    fn default() -> Self {
        Layout::Hive(Partitioning::Day)
    }
}

impl Layout {
    /// The time period one folder covers (a day, or an hour), numbered: two records of one
    /// table share a folder exactly when their periods are equal.
    fn period(&self, at: DateTime<Utc>) -> i64 {
        let seconds = match self {
            Layout::Hive(Partitioning::Hour) => 3600,
            Layout::Hive(Partitioning::Day) | Layout::SecurityLake(_) => 86_400,
        };
        at.timestamp().div_euclid(seconds)
    }

    /// The folder (relative path) of a record of `table` created at `at`; a Security Lake
    /// has none for a table (class) without a source ([`Error::Refused`]).
    pub fn folder(&self, table: Option<Table<'_>>, at: DateTime<Utc>) -> Result<String, Error> {
        match self {
            Layout::Hive(partitioning) => Ok(match table {
                Some(table) => format!("{}={}/{}", table.key, table.value, partitioning.folder(at)),
                None => partitioning.folder(at),
            }),
            Layout::SecurityLake(lake) => {
                let value = table.map_or("", |t| t.value);
                lake.folder(value, at).ok_or_else(|| {
                    Error::refused(format!(
                        "the Security Lake has no source for {}={value}",
                        table.map_or("table", |t| t.key)
                    ))
                })
            }
        }
    }
}

/// How a [`Sink`] encodes, partitions and rotates its files: plain fields, [`new`](Self::new)
/// sets the defaults each names; set those that differ.
///
/// ```
/// use std::time::Duration;
/// use asana_audit_log_pipeline::{Encoding, Layout, Partitioning, SinkOptions};
///
/// let mut options = SinkOptions::new(Encoding::Parquet);
/// options.layout = Layout::Hive(Partitioning::Hour);
/// options.max_file_bytes = 64 << 20;
/// options.max_file_age = Duration::from_secs(300);
/// assert_eq!(options.row_group_rows, 65_536);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SinkOptions {
    /// The files' encoding.
    pub encoding: Encoding,
    /// The folders files go in.
    pub layout: Layout,
    /// A file is committed once it reaches about this many bytes (default 128 MiB).
    pub max_file_bytes: u64,
    /// A file is committed at the latest this long after its first event was written (default
    /// 10 minutes): in `follow`, the archive trails the log by at most about this much.
    pub max_file_age: Duration,
    /// Rows per Parquet row group (default 65,536); a Parquet file's row group is held in
    /// memory until it is written, so this bounds the memory a sink uses.
    pub row_group_rows: usize,
    /// Where files for an object store are staged before upload, in a private folder made
    /// there for each sink (default: the system's temporary folder). Local destinations stage
    /// inside the destination. A sink removes its folder when it is dropped; the folder of a
    /// run that was killed is removed by a later sink once its process is gone and the folder
    /// has been left alone for a day.
    pub staging_dir: Option<PathBuf>,
}

impl SinkOptions {
    /// Default options with `encoding`.
    pub fn new(encoding: Encoding) -> Self {
        SinkOptions {
            encoding,
            layout: Layout::default(),
            max_file_bytes: 128 << 20,
            max_file_age: Duration::from_secs(600),
            row_group_rows: 65_536,
            staging_dir: None,
        }
    }

    fn validate(&self, destination: &Destination) -> Result<(), Error> {
        let invalid = |reason: &str| Error::InvalidDestination {
            destination: destination.url().to_owned(),
            reason: reason.to_owned(),
        };
        if self.max_file_bytes == 0 {
            return Err(invalid("the file size limit must be at least 1 byte"));
        }
        if self.max_file_age.is_zero() {
            return Err(invalid("the file age limit must be above zero"));
        }
        if self.row_group_rows == 0 {
            return Err(invalid("a Parquet row group must hold at least 1 row"));
        }
        if matches!(self.layout, Layout::SecurityLake(_)) && self.encoding != Encoding::Parquet {
            return Err(invalid("Security Lake reads Parquet only"));
        }
        Ok(())
    }
}

/// A set of files being committed: what a checkpoint records between sealing them and having
/// them all in place, so that a run killed in between can finish or undo it
/// ([`Sink::recover`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// The files' names, relative to the destination.
    pub files: Vec<String>,
    /// How many events they hold.
    pub events: u64,
    /// The files of the same commit in a second destination, relative to it: a Security
    /// Lake's fallback destination ([`FormatSink::open_with_fallback`](crate::FormatSink::open_with_fallback)).
    /// `events` counts theirs too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallback_files: Vec<String>,
}

/// The stem of a file name (`<stamp>-<run id>-<sequence>`), from its last path component.
fn staged_stem(name: &str) -> Option<&str> {
    let file = name.rsplit('/').next()?;
    file.split_once('.').map(|(stem, _)| stem)
}

impl Commit {
    /// Checks a commit read from a checkpoint: a non-empty list of names this crate could
    /// have made for `encoding` (relative, no `.` or `..` parts, the encoding's extension).
    pub(crate) fn validate(&self, encoding: Encoding) -> Result<(), Error> {
        let invalid = |reason: String| Error::InvalidCommit { reason };
        if self.files.is_empty() && self.fallback_files.is_empty() {
            return Err(invalid("it names no file".into()));
        }
        for name in self.files.iter().chain(&self.fallback_files) {
            let sound = !name.starts_with('/')
                && !name.contains('\\')
                && name
                    .split('/')
                    .all(|part| !part.is_empty() && part != "." && part != "..")
                && name.ends_with(&format!(".{}", encoding.extension()))
                && staged_stem(name).is_some_and(|stem| {
                    stem.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                });
            if !sound {
                return Err(invalid(format!(
                    "{name:?} is not a {encoding} file name this sink writes"
                )));
            }
        }
        Ok(())
    }
}

/// What [`Sink::recover`] found of an interrupted commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// Every file was in place: the commit is complete, its events are stored.
    Completed,
    /// Some file was missing: the ones in place were removed, and none of the events are
    /// stored; read them again.
    RolledBack,
}

/// A failure of [`Sink::commit`]: of the sink, or of the caller's `save_checkpoint`.
#[derive(Debug, thiserror::Error)]
pub enum CommitError<E> {
    /// Writing or publishing a file failed.
    #[error(transparent)]
    Sink(#[from] Error),
    /// The caller's `save_checkpoint` failed.
    #[error("{0}")]
    Checkpoint(E),
}

/// Where the last record of a table went: its period, folder and open file (one file is
/// written at a time per table).
struct Route {
    table: Option<String>,
    period: i64,
    folder: String,
    /// Its index in [`Sink::open`], until the next commit empties that.
    file: Option<usize>,
}

/// One file not yet committed: being written, or finished and waiting for the commit.
struct OpenFile<R> {
    name: String,
    staged: PathBuf,
    /// `None` once the file is finished (synced, footer written, its memory released) or
    /// finishing.
    encoder: Option<FileEncoder<R>>,
    /// A file left for another folder of its table finishes on a thread of its own while the
    /// next one fills; the commit waits for it.
    finishing: Option<std::thread::JoinHandle<Result<(), Error>>>,
    events: u64,
    opened: Instant,
}

/// A check made before each file of a commit is put in place; an error stops the commit
/// there, as a failed upload would.
pub(crate) type WriteGuard = std::sync::Arc<dyn Fn() -> Result<(), Error> + Send + Sync>;

/// Lands events as files in a [`Destination`], each event once.
///
/// Events are written to staged files, one per partition folder; [`commit`](Self::commit) puts
/// them in place. The caller checkpoints around each commit, through `commit`'s `save_checkpoint`
/// callback, so that its checkpoint only ever covers committed events:
///
/// 1. the open files are finished and synced (staged, under no final name);
/// 2. `save_checkpoint(Some(commit))`: the caller saves a checkpoint that still covers only what was
///    committed before, plus this pending [`Commit`] and the cursor after its events;
/// 3. each file is put in place (renamed, or uploaded: it appears whole or not at all);
/// 4. `save_checkpoint(None)`: the caller saves its checkpoint at the new cursor, without the pending
///    commit.
///
/// A run killed at any instant leaves a checkpoint either without a pending commit (its cursor
/// is exactly what is stored) or with one, which [`recover`](Self::recover) completes (every
/// file in place: the pending cursor holds) or undoes (files in place are removed: the old
/// cursor holds). Either way, a rerun writes every event exactly once and no partial file ever
/// has a final name.
///
/// Files are named `<first event's created_at>-<run id>-<sequence>.<extension>`: they sort in
/// time order and never collide across runs or processes.
///
/// [`write`](Self::write) and [`commit`](Self::commit) do blocking file I/O (a file is synced
/// when it is finished, and its folder when it is put in place): on a single-threaded async
/// runtime they hold up other tasks meanwhile; a multi-threaded runtime, or `spawn_blocking`
/// around them, keeps other tasks going.
pub struct Sink<R: Record = AuditLogEvent> {
    destination: Destination,
    options: SinkOptions,
    rows: Rows<R>,
    staging: PathBuf,
    run_id: String,
    sequence: u64,
    open: Vec<OpenFile<R>>,
    /// Per table, where its last record went: formatting a folder and finding its file for
    /// every record would cost more than the rest of writing an NDJSON line.
    routes: Vec<Route>,
    /// Whether a file reached the size limit when last written.
    size_due: bool,
    /// Set once a write or commit failed: see [`Sink::commit`].
    failed: bool,
    /// Checked before each file is put in place (see [`Sink::guard_writes`]).
    guard: Option<WriteGuard>,
    /// The private staging folder of an object-store sink, removed with the sink.
    _private_staging: Option<tempfile::TempDir>,
}

impl<R: Record> std::fmt::Debug for Sink<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink")
            .field("destination", &self.destination)
            .field("options", &self.options)
            .field("open_files", &self.open.len())
            .finish_non_exhaustive()
    }
}

/// A random id for one run, from the standard library's hasher seed, the time and the process.
fn run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

impl Sink<AuditLogEvent> {
    /// A sink of Asana events as received into `destination` (Parquet rows as
    /// [`parquet_schema`](crate::parquet_schema) says). Checks the options and that the
    /// destination takes writes (a small probe file is written and removed), so that a
    /// destination that cannot work fails here, before any event is read.
    pub async fn open(destination: Destination, options: SinkOptions) -> Result<Self, Error> {
        Sink::open_with(destination, options, Arc::new(EventRows)).await
    }
}

impl<R: Record> Sink<R> {
    /// A sink of records of type `R` (such as OCSF events) into `destination`, Parquet rows
    /// made by `rows`. Checks as [`Sink::open`] does.
    pub async fn open_with(
        destination: Destination,
        options: SinkOptions,
        rows: Arc<dyn ParquetRows<R>>,
    ) -> Result<Self, Error> {
        options.validate(&destination)?;
        let run_id = run_id();
        // An object-store sink stages in a folder of its own (mode 0700), inside the given
        // staging folder or the system's temporary one, so that no other local user can read
        // or replace a file before it is uploaded.
        let (staging, private_staging) = if destination.is_local() {
            let staging = destination.staging_dir(Path::new(""));
            std::fs::create_dir_all(&staging)
                .map_err(|e| Error::io(format!("create {}", staging.display()), e))?;
            (staging, None)
        } else {
            let parent = options
                .staging_dir
                .clone()
                .unwrap_or_else(std::env::temp_dir);
            std::fs::create_dir_all(&parent)
                .map_err(|e| Error::io(format!("create {}", parent.display()), e))?;
            let dir = private_staging(&parent)
                .map_err(|e| Error::io(format!("create a folder in {}", parent.display()), e))?;
            (dir.path().to_owned(), Some(dir))
        };
        destination.probe(&format!("probe-{run_id}")).await?;
        Ok(Sink {
            destination,
            options,
            rows,
            staging,
            run_id,
            sequence: 0,
            open: Vec::new(),
            routes: Vec::new(),
            size_due: false,
            failed: false,
            guard: None,
            _private_staging: private_staging,
        })
    }

    /// The destination.
    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    /// The folders files go in.
    pub fn layout(&self) -> &Layout {
        &self.options.layout
    }

    /// The sink's options.
    pub fn options(&self) -> &SinkOptions {
        &self.options
    }

    /// Writes `record` to the file of its folder (staged: not yet committed).
    ///
    /// One file is written at a time per table: when a record goes to another folder (the
    /// next day, in a stream in time order), the file it leaves starts finishing at once, on a
    /// thread of its own (footer, sync, its Parquet row group out of memory), and waits,
    /// staged, for the next commit. So memory stays bounded by about one row group per table
    /// (two while the last one finishes), however many days a run covers.
    pub fn write(&mut self, record: &R) -> Result<(), Error> {
        self.check_usable()?;
        let written = self.write_record(record);
        self.failed = written.is_err();
        written
    }

    fn write_record(&mut self, record: &R) -> Result<(), Error> {
        let table = record.table();
        let at = record.created_at();
        let period = self.options.layout.period(at);
        let table_value = table.map(|t| t.value);
        let cached = self
            .routes
            .iter()
            .position(|r| r.table.as_deref() == table_value);
        // The file a table's records went to until now, when they move to another folder.
        let mut left = None;
        let route = match cached {
            Some(i) if self.routes[i].period == period => i,
            _ => {
                let route = Route {
                    table: table_value.map(str::to_owned),
                    period,
                    folder: self.options.layout.folder(table, at)?,
                    file: None,
                };
                match cached {
                    Some(i) => {
                        left = std::mem::replace(&mut self.routes[i], route).file;
                        i
                    }
                    None => {
                        self.routes.push(route);
                        self.routes.len() - 1
                    }
                }
            }
        };
        // A route's file is the open file of its table and folder: routes change only here,
        // one per table, and a commit forgets their files.
        let index = match self.routes[route].file {
            Some(index) => index,
            None => {
                // On a thread of its own: the file's footer and sync overlap the next folder's
                // records. Measured gain (2026-12-07, 2 shared cores): finishing it here instead
                // made `asana-audit convert FILE --output DIR/ --encoding parquet` of the
                // 1,000,000-event input of `cargo xtask bench --only convert` (31 day folders)
                // take 12% and 20% more wall time (medians of 5 and 8 interleaved pairs of runs,
                // timed by the "convert finished" log line). In the same runs, syncing a
                // commit's folders on eight threads gained 2%, and is gone; a commit finishes
                // the files still being written in turn (here, one).
                if let Some(left) = left
                    && let Some(encoder) = self.open[left].encoder.take()
                {
                    self.open[left].finishing = Some(encoder.finish_in_background()?);
                }
                // Once per file, not per record.
                let folder = self.routes[route].folder.clone();
                let file = self.open_file(&folder, record)?;
                self.open.push(file);
                self.open.len() - 1
            }
        };
        self.routes[route].file = Some(index);
        let file = &mut self.open[index];
        let encoder = file
            .encoder
            .as_mut()
            .expect("the file found or opened is being written");
        encoder.write(record)?;
        file.events += 1;
        if encoder.size() >= self.options.max_file_bytes {
            self.size_due = true;
        }
        Ok(())
    }

    fn open_file(&mut self, folder: &str, first: &R) -> Result<OpenFile<R>, Error> {
        let table = first.table();
        let first = first.created_at();
        self.sequence += 1;
        let stem = format!(
            "{}-{}-{:06}",
            first.format("%Y%m%dT%H%M%S%.3fZ"),
            self.run_id,
            self.sequence
        );
        let name = format!("{folder}/{stem}.{}", self.options.encoding.extension());
        let staged = self.staging.join(format!("{stem}.partial"));
        let file = std::fs::File::create(&staged)
            .map_err(|e| Error::io(format!("create {}", staged.display()), e))?;
        let rows = &self.rows;
        let encoder = FileEncoder::new(
            self.options.encoding,
            file,
            || rows.builder(table),
            self.options.row_group_rows,
        )?;
        Ok(OpenFile {
            name,
            staged,
            encoder: Some(encoder),
            finishing: None,
            events: 0,
            opened: Instant::now(),
        })
    }

    /// Events written but not yet committed.
    pub fn pending_events(&self) -> u64 {
        self.open.iter().map(|file| file.events).sum()
    }

    /// When the oldest open file must be committed (`None` when no file is open).
    pub fn commit_deadline(&self) -> Option<Instant> {
        // Files are opened in turn and all committed together: the first is the oldest.
        self.open
            .first()
            .map(|file| file.opened + self.options.max_file_age)
    }

    /// Whether a file has reached the size or age limit: time to [`commit`](Self::commit).
    pub fn commit_due(&self) -> bool {
        self.size_due
            || self
                .commit_deadline()
                .is_some_and(|deadline| Instant::now() >= deadline)
    }

    /// Makes every later commit call `guard` before it puts each file in place, and stop
    /// there when it fails (a run that lost its lease must put nothing more in place).
    pub(crate) fn guard_writes(&mut self, guard: WriteGuard) {
        self.guard = Some(guard);
    }

    /// Commits every file not yet committed (see the protocol on [`Sink`]); returns how many
    /// events were committed (0 when there were none: `save_checkpoint` is not called then).
    ///
    /// On an error, the files this commit already put in place are removed again (as far as
    /// the destination lets), the staged copies are deleted, and the sink refuses further
    /// writes and commits ([`Error::Failed`]): the caller's checkpoint may hold the pending
    /// commit, which a new sink's [`recover`](Self::recover) finishes or undoes.
    pub async fn commit<E>(
        &mut self,
        mut save_checkpoint: impl AsyncFnMut(Option<&Commit>) -> Result<(), E>,
    ) -> Result<u64, CommitError<E>> {
        self.check_usable()?;
        let Some(sealed) = self.seal()? else {
            return Ok(0);
        };
        let result = async {
            save_checkpoint(Some(&sealed.commit))
                .await
                .map_err(CommitError::Checkpoint)?;
            self.publish(&sealed).await?;
            save_checkpoint(None).await.map_err(CommitError::Checkpoint)
        }
        .await;
        if result.is_err() {
            self.abandon(&sealed);
        }
        result.map(|()| sealed.commit.events)
    }

    /// Step 1 of a commit: finishes and syncs every file not yet committed (staged, under no
    /// final name); `None` when there is none. On an error the sink is [`abandon`]ed.
    ///
    /// [`abandon`]: Self::abandon
    pub(crate) fn seal(&mut self) -> Result<Option<Sealed>, Error> {
        self.check_usable()?;
        if self.open.is_empty() {
            return Ok(None);
        }
        let mut files = std::mem::take(&mut self.open);
        self.size_due = false;
        for route in &mut self.routes {
            route.file = None;
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        let commit = Commit {
            files: files.iter().map(|file| file.name.clone()).collect(),
            events: files.iter().map(|file| file.events).sum(),
            fallback_files: Vec::new(),
        };
        // Files still being written are finished here, in turn; a file left for another
        // folder is finishing on its own thread, which is joined. Every file is waited for,
        // even after one failed: none may still be written to when the staged copies are
        // removed.
        let mut sealed = Sealed {
            commit,
            files: Vec::with_capacity(files.len()),
        };
        let mut finished = Ok(());
        for file in files {
            if let Some(encoder) = file.encoder {
                finished = finished.and(encoder.finish());
            }
            if let Some(thread) = file.finishing {
                finished = finished.and(join_finishing(thread));
            }
            sealed.files.push((file.staged, file.name));
        }
        if let Err(error) = finished {
            self.abandon(&sealed);
            return Err(error);
        }
        Ok(Some(sealed))
    }

    /// Step 3 of a commit: puts the sealed files in place. On an error, those it put in place
    /// are removed again (so that a caller that saves another checkpoint over this pending
    /// commit leaves no stray file behind) and the error is returned; the caller then
    /// [`abandon`](Self::abandon)s the sink.
    pub(crate) async fn publish(&self, sealed: &Sealed) -> Result<(), Error> {
        let published = self
            .destination
            .publish_all(&sealed.files, self.guard.as_deref())
            .await;
        if let Err((placed, error)) = published {
            for (_, published) in &sealed.files[..placed] {
                let _ = self.destination.remove(published).await;
            }
            return Err(error);
        }
        Ok(())
    }

    /// Takes back sealed files [`publish`](Self::publish) put in place, when the commit they
    /// belong to failed after it (as far as the destination lets).
    pub(crate) async fn unpublish(&self, sealed: &Sealed) {
        for (_, published) in &sealed.files {
            let _ = self.destination.remove(published).await;
        }
    }

    /// Gives up a commit that failed: the staged copies are deleted and the sink refuses
    /// further writes and commits.
    pub(crate) fn abandon(&mut self, sealed: &Sealed) {
        self.failed = true;
        for (staged, _) in &sealed.files {
            let _ = std::fs::remove_file(staged);
        }
    }

    /// An error once a write or a commit has failed: the sink's files are then in an unknown
    /// state, and only a new sink (after [`recover`](Self::recover)) may go on.
    fn check_usable(&self) -> Result<(), Error> {
        if self.failed {
            Err(Error::Failed)
        } else {
            Ok(())
        }
    }

    /// Finishes or undoes a commit a checkpoint recorded as pending (a run stopped between
    /// steps 2 and 4 of the protocol): [`Recovery::Completed`] when every file is in place,
    /// else removes those that are and returns [`Recovery::RolledBack`]. Safe to repeat.
    ///
    /// The commit comes from a checkpoint file, so it is checked first: a file name must be a
    /// relative path inside the destination as this crate names them, and the list must not
    /// be empty; anything else is [`Error::InvalidCommit`] and nothing is touched.
    pub async fn recover(&self, commit: &Commit) -> Result<Recovery, Error> {
        commit.validate(self.options.encoding)?;
        let present = self.present(&commit.files).await?;
        if present.len() == commit.files.len() {
            return Ok(Recovery::Completed);
        }
        self.roll_back(&present, &commit.files).await?;
        Ok(Recovery::RolledBack)
    }

    /// Which of `names` (files of a checked commit) are in place.
    pub(crate) async fn present<'n>(&self, names: &'n [String]) -> Result<Vec<&'n String>, Error> {
        let mut present = Vec::new();
        for name in names {
            if self.destination.exists(name).await? {
                present.push(name);
            }
        }
        Ok(present)
    }

    /// Undoes a commit of `names` that did not complete: removes those `present`, and the
    /// staged copies a killed run left of them.
    pub(crate) async fn roll_back(
        &self,
        present: &[&String],
        names: &[String],
    ) -> Result<(), Error> {
        for name in present {
            self.destination.remove(name).await?;
        }
        // Staged copies a killed run left of this commit's files are of no further use.
        for name in names {
            if let Some(stem) = staged_stem(name) {
                let _ = std::fs::remove_file(self.staging.join(format!("{stem}.partial")));
            }
        }
        Ok(())
    }
}

/// Files of a sink finished and staged, about to be put in place: a commit's first half
/// ([`Sink::seal`]).
pub(crate) struct Sealed {
    /// The files' names and events.
    pub(crate) commit: Commit,
    /// Each file, staged and under its final name.
    files: Vec<(PathBuf, String)>,
}

/// A new staging folder in `parent` that only this user may enter (mode 0700 on Unix: the
/// staged files are the audit log itself). tempfile leaves the mode to the umask.
fn private_staging(parent: &Path) -> std::io::Result<tempfile::TempDir> {
    remove_stale_staging(parent, STALE_STAGING_AGE);
    let prefix = format!("{PRIVATE_STAGING}{}-", std::process::id());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    builder.tempdir_in(parent)
}

/// How a private staging folder's name starts; the id of the process that made it follows,
/// then `-` and a random part.
const PRIVATE_STAGING: &str = "asana-audit-staging-";

/// How long a private staging folder of a process that is gone must have been left alone
/// before another run removes it: a folder shared between containers (whose process ids are
/// not each other's) is not emptied under a live run that is only quiet.
const STALE_STAGING_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Removes the private staging folders in `parent` that a process left when it was killed
/// (SIGKILL, a crash, a power cut) and that nothing touched for `age`: their files were
/// never uploaded and no checkpoint covers their events, so the next run fetches those
/// again. Best effort: a folder that cannot be read or removed stays.
fn remove_stale_staging(parent: &Path, age: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix(PRIVATE_STAGING))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let untouched = entry
            .metadata()
            .ok()
            .filter(std::fs::Metadata::is_dir)
            .and_then(|meta| meta.modified().ok())
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|elapsed| elapsed >= age);
        if untouched && process_is_gone(pid) {
            let path = entry.path();
            match std::fs::remove_dir_all(&path) {
                Ok(()) => tracing::info!(
                    folder = %path.display(),
                    pid,
                    "removed the staging folder of a run that ended without removing it"
                ),
                Err(error) => tracing::debug!(
                    folder = %path.display(),
                    %error,
                    "could not remove a stale staging folder"
                ),
            }
        }
    }
}

/// Whether no process `pid` runs (here: one that could be signalled would be found).
#[cfg(unix)]
fn process_is_gone(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 is never delivered; `kill` only checks that the process exists.
    let found = unsafe { libc::kill(pid, 0) } == 0;
    !found && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// Off Unix no folder is taken for stale.
#[cfg(not(unix))]
fn process_is_gone(_pid: u32) -> bool {
    false
}

/// The result of a file finishing on a thread of its own.
fn join_finishing(finishing: std::thread::JoinHandle<Result<(), Error>>) -> Result<(), Error> {
    finishing.join().unwrap_or_else(|_| {
        Err(Error::io(
            "finish a staged file",
            std::io::Error::other("the finishing thread panicked"),
        ))
    })
}

impl<R: Record> Drop for Sink<R> {
    /// Staged files of a sink dropped without a commit are removed: they were never published
    /// and the caller's checkpoint does not cover their events.
    fn drop(&mut self) {
        for file in self.open.drain(..) {
            if let Some(finishing) = file.finishing {
                let _ = finishing.join();
            }
            let _ = std::fs::remove_file(&file.staged);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Staged files of an object-store sink are the audit log: no other user may list or
    /// read them, whatever the umask.
    #[cfg(unix)]
    #[test]
    fn the_private_staging_folder_is_the_users_alone() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let staging = private_staging(parent.path()).unwrap();
        let mode = std::fs::metadata(staging.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
        assert!(
            staging
                .path()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("asana-audit-staging-{}-", std::process::id()))
        );
    }

    /// A killed run's staging folder is removed by a later run once it is old, and no other.
    #[cfg(unix)]
    #[test]
    fn stale_staging_folders_of_runs_that_are_gone_are_removed() {
        let parent = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        let folder = |name: String| {
            let path = parent.path().join(name);
            std::fs::create_dir(&path).unwrap();
            std::fs::write(path.join("20261130T000000Z-run-1.parquet.staged"), b"x").unwrap();
            path
        };
        let of_gone = folder(format!("{PRIVATE_STAGING}{gone}-a1b2"));
        let of_us = folder(format!("{PRIVATE_STAGING}{}-c3d4", std::process::id()));
        let other = folder("asana-audit-staging-notapid-e5f6".to_owned());
        // Recent: kept whoever made it.
        remove_stale_staging(parent.path(), std::time::Duration::from_secs(3600));
        assert!(of_gone.exists() && of_us.exists() && other.exists());
        // Old enough: only the folder of the process that is gone goes.
        remove_stale_staging(parent.path(), std::time::Duration::ZERO);
        assert!(!of_gone.exists(), "the folder of a run that is gone stays");
        assert!(of_us.exists(), "a live run's folder was removed");
        assert!(
            other.exists(),
            "a folder not named by a process id was removed"
        );
    }
}
