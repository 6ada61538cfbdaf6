//! [`Pipeline`]: any event stream into an [`Output`], exactly once, with a checkpoint.

use std::collections::HashSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use asana_audit_log::{AuditLogEvent, AuditLogStream, Client, EventsRequest, Query};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};

use crate::alerting::{Alerting, ReceiptsAt, Stage};
use crate::checkpoint::{ArchiveMark, Checkpoint, OutputMark, PendingCommit};
use crate::destination::{Destination, is_url};
use crate::error::Error;
use crate::format::{Format, FormatSink, Written};
use crate::lines::Lines;
use crate::lock::Locks;
use crate::output::Output;
use crate::sink::{Commit, Recovery, SinkOptions};
use crate::state::{KeptLease, Lease, StateObject};

/// Save a checkpoint at least this often in time while events flow (also when the stream
/// idles with unsaved events), besides every [`Pipeline::checkpoint_every`] events. Also the
/// least time between two commits of an archive brought forward for waiting alerts.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Why a checkpoint is saved now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    /// Its time or its count of events came ([`CHECKPOINT_EVERY`],
    /// [`Pipeline::checkpoint_every`]); an archive commits only when a file is due.
    Cadence,
    /// New alerts wait for it and the stream has no event ready: an archive commits its files
    /// now, due or not.
    Alerts,
    /// The run ends: everything written is made durable.
    Last,
}

/// What a pipeline tells while it runs: progress, metrics, notes for the person running it.
/// Every method has an empty default; implement those you need.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use asana_audit_log::AuditLogEvent;
/// use asana_audit_log_pipeline::Observer;
///
/// #[derive(Default)]
/// struct Count(AtomicU64);
///
/// impl Observer for Count {
///     fn event(&self, _event: &AuditLogEvent) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
/// ```
pub trait Observer: Send + Sync {
    /// The run starts reading `query` (the checkpoint's, when it resumes).
    fn started(&self, query: &Query) {
        let _ = query;
    }

    /// An event arrived and is being written.
    fn event(&self, event: &AuditLogEvent) {
        let _ = event;
    }

    /// An event arrived that the output already held (written after the last checkpoint by a
    /// run that stopped); it was dropped.
    fn duplicate_dropped(&self, event: &AuditLogEvent) {
        let _ = event;
    }

    /// An event that maps to OCSF Base Event, which no Security Lake source takes, is being
    /// written, as received, to the lake's fallback destination
    /// ([`FormatSink::open_with_fallback`]).
    fn fallback(&self, event: &AuditLogEvent) {
        let _ = event;
    }

    /// What was written so far is durable and covered by the checkpoint (if there is one).
    fn committed(&self) {}

    /// A checkpoint of `query` was saved.
    fn checkpoint_saved(&self, query: &Query) {
        let _ = query;
    }

    /// Something a person running the pipeline should know (what was recovered of an earlier
    /// run, for one).
    fn note(&self, message: &str) {
        let _ = message;
    }

    /// The run ended (after its last checkpoint).
    fn finished(&self) {}
}

/// An observer that tells nothing.
impl Observer for () {}

/// What a run did.
#[derive(Debug, Default, Clone)]
#[non_exhaustive]
pub struct Summary {
    /// Events written by this run.
    pub written: u64,
    /// Events delivered again after a restart and dropped because the output already had them.
    pub duplicates_dropped: u64,
    /// Whether the run resumed from a checkpoint.
    pub resumed: bool,
    /// Whether the run ended because it was asked to stop (what it wrote is committed).
    pub stopped: bool,
    /// How long the run took.
    pub elapsed: Duration,
}

/// How a run lands events: the output, the format, the checkpoint and its cadence (plain
/// fields: [`new`](Self::new) sets the defaults, set those that differ).
///
/// [`plan`](Self::plan) checks everything that can be checked before a request (the
/// checkpoint, and that it belongs to this query and output; the output, and what a crash
/// left in it) and takes the locks; [`Planned::run`] then finishes or undoes a commit a crash
/// interrupted, and runs a stream from where the output stands into it.
/// Killed at any instant and run again with the same output and checkpoint, every event is
/// written exactly once (standard output: events after the last checkpoint may repeat).
///
/// ```
/// use asana_audit_log_pipeline::{Encoding, Format, Output, Pipeline};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let mock = asana_audit_log_mock::MockServer::builder().events(300).start().await?;
/// # let client = asana_audit_log::Client::builder().token(mock.token()).base_url(mock.base_url()).build()?;
/// # let workspace_gid = mock.workspace_gid();
/// let dir = tempfile::tempdir()?;
/// let query = client.audit_log_events(workspace_gid).to_query()?;
/// let mut pipeline = Pipeline::new(Output::File(dir.path().join("events.ndjson")));
/// pipeline.format = Format::ocsf(Some(workspace_gid));
/// pipeline.checkpoint = Some(dir.path().join("events.ckpt"));
/// let planned = pipeline.plan(query).await?;
/// let summary = planned
///     .run(&client, |request| request.stream(), std::future::pending(), &())
///     .await?;
/// assert_eq!(summary.written, 300);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Pipeline {
    /// Where events go.
    pub output: Output,
    /// What each event is written as (default: as received).
    pub format: Format,
    /// How an archive output's files are encoded, partitioned and rotated (default:
    /// [`SinkOptions::new`] with NDJSON).
    pub sink: SinkOptions,
    /// With OCSF in a Security Lake ([`Layout::SecurityLake`](crate::Layout::SecurityLake)):
    /// where the events of no Security Lake class (those that map to OCSF Base Event) land,
    /// as received (default: none, and such a run is refused). Its files are committed with
    /// the lake's, under the one checkpoint (see [`FormatSink::open_with_fallback`]).
    pub fallback: Option<Destination>,
    /// Where progress is saved, and resumed from when it exists (default: nowhere): a local
    /// file, locked while the run holds it ([`Locks`]), or an object store URL (`s3://`,
    /// `gs://`, `az://`, configured as a [`Destination`](crate::Destination) is): then the
    /// checkpoint is written only on the version last read ([`StateObject`]) and a [`Lease`]
    /// at `<checkpoint>.lease` keeps other runs, on any machine, off it.
    pub checkpoint: Option<PathBuf>,
    /// With a checkpoint in an object store: how long the run's lease lasts after each
    /// renewal (default 60 s). A run renews it every third of that; one that could not renew
    /// it stops writing with a quarter of it left, and another run may take over once it has
    /// expired.
    pub lease: Duration,
    /// Lines: the checkpoint is saved after at most this many events, and at least every
    /// second (default 10,000).
    pub checkpoint_every: u64,
    /// Stop after writing this many events; the checkpoint then continues after the last
    /// (default: no limit).
    pub max_events: Option<u64>,
    /// Replace a non-empty file output when no checkpoint says to resume it (default: refuse).
    pub overwrite: bool,
    /// The window ends the user gave explicitly: a checkpoint of another window is refused
    /// rather than resumed (a window given relative to now, such as "the last day", is not
    /// pinned: it resumes where it stands).
    pub pinned_start_at: Option<DateTime<Utc>>,
    /// See [`pinned_start_at`](Self::pinned_start_at).
    pub pinned_end_at: Option<DateTime<Utc>>,
    /// Rules evaluated on each event, their alerts delivered with the checkpoint's durability
    /// (default: none). New alerts do not wait for the periodic save: once the stream has no
    /// event ready, the checkpoint covering them is saved (an archive's open files committed
    /// before they are due, at most once a second), and they go out.
    pub alerting: Option<Alerting>,
}

impl Pipeline {
    /// Events as received into `output`, with the defaults each field names; set the fields
    /// that differ.
    pub fn new(output: Output) -> Pipeline {
        Pipeline {
            output,
            format: Format::Raw,
            sink: SinkOptions::new(crate::Encoding::Ndjson),
            fallback: None,
            checkpoint: None,
            lease: Duration::from_secs(60),
            checkpoint_every: 10_000,
            max_events: None,
            overwrite: false,
            pinned_start_at: None,
            pinned_end_at: None,
            alerting: None,
        }
    }

    /// Checks everything that can be checked before a request, takes the locks (the
    /// checkpoint's lock or lease, a file output's) and opens a file output; sends nothing to
    /// Asana.
    pub async fn plan(self, query: Query) -> Result<Planned, Error> {
        if self.max_events == Some(0) {
            return Err(Error::refused("--max-events must be at least 1"));
        }
        if self.checkpoint_every == 0 {
            return Err(Error::refused("--checkpoint-every must be at least 1"));
        }
        crate::format::check_fallback(&self.format, &self.sink.layout, self.fallback.as_ref())?;
        // One writer per checkpoint: locked (or leased) before it is read.
        let mut locks = Locks::default();
        let (state, checkpoint) =
            State::take(self.checkpoint.as_deref(), self.lease, &mut locks).await?;
        if let Some(cp) = &checkpoint {
            self.check_checkpoint_matches(cp, &query)?;
        }
        let target = self.target(checkpoint.as_ref(), &mut locks)?;
        Ok(Planned {
            pipeline: self,
            query,
            checkpoint,
            target,
            locks,
            state,
        })
    }

    /// Opens the output as `checkpoint` left it (`None`: a first run): a file output is
    /// locked, and the lines a stopped run wrote after its checkpoint are read back; an
    /// archive's sink is opened when the run starts ([`Target::open`]).
    pub(crate) fn target(
        &self,
        checkpoint: Option<&Checkpoint>,
        locks: &mut Locks,
    ) -> Result<Target, Error> {
        Ok(match &self.output {
            Output::Stdout => Target::Lines {
                lines: Lines::stdout(),
                dedupe: HashSet::new(),
                truncated_bytes: 0,
            },
            Output::File(path) => {
                locks.output(path)?;
                let covered = checkpoint.map(|cp| cp.output.as_ref().map_or(0, |mark| mark.bytes));
                let (lines, recovered) = Lines::file(path, covered, self.overwrite)?;
                Target::Lines {
                    lines,
                    dedupe: recovered.gids,
                    truncated_bytes: recovered.truncated_bytes,
                }
            }
            Output::Archive(destination) => Target::Archive(destination.clone()),
        })
    }

    /// The mark of this pipeline's archive in `destination`, for its checkpoints.
    fn archive_mark(&self, destination: &Destination) -> ArchiveMark {
        let mut mark = ArchiveMark::new(destination, &self.sink, &self.format);
        mark.fallback = self.fallback.as_ref().map(|f| f.url().to_owned());
        mark
    }

    fn checkpoint_path(&self) -> std::path::Display<'_> {
        self.checkpoint
            .as_deref()
            .unwrap_or(Path::new("?"))
            .display()
    }

    fn check_checkpoint_matches(&self, cp: &Checkpoint, query: &Query) -> Result<(), Error> {
        let path = self.checkpoint_path();
        if !cp.query.same_filters(query) {
            return Err(Error::refused(format!(
                "checkpoint {path} belongs to another query ({}); use the same --workspace and \
                 filters, or another --checkpoint file",
                cp.query.describe()
            )));
        }
        let (start_at, end_at) = (self.pinned_start_at, self.pinned_end_at);
        let explicit_window_differs = (start_at.is_some() && start_at != cp.query.start_at())
            || (end_at.is_some() && end_at != cp.query.end_at());
        if explicit_window_differs {
            return Err(Error::refused(format!(
                "checkpoint {path} belongs to the window {}; drop --start-at/--end-at to resume \
                 it, or use another --checkpoint file",
                describe_window(&cp.query)
            )));
        }
        if let Some(mark) = &cp.archive {
            let wanted = match &self.output {
                Output::Archive(destination) => Some(self.archive_mark(destination)),
                _ => None,
            };
            return match wanted {
                Some(wanted) if wanted == *mark => Ok(()),
                _ => Err(Error::refused(format!(
                    "checkpoint {path} belongs to --output {} with --encoding {} --partition \
                     {}{}{}; pass those to resume it, or use another --checkpoint file",
                    mark.url,
                    mark.encoding,
                    mark.partition,
                    mark.format
                        .as_ref()
                        .map_or(String::new(), |format| format!(" as {format}")),
                    mark.fallback
                        .as_ref()
                        .map_or_else(String::new, |url| format!(" --fallback-output {url}"))
                ))),
            };
        }
        match (&cp.output, &self.output) {
            (Some(mark), Output::File(output)) if mark.path != *output => {
                Err(Error::refused(format!(
                    "checkpoint {path} belongs to output {}, not {}; pass that --output to resume",
                    mark.path.display(),
                    output.display()
                )))
            }
            (Some(mark), Output::Archive(destination)) => Err(Error::refused(format!(
                "checkpoint {path} belongs to output {}, not {destination}; pass that --output \
                 to resume",
                mark.path.display(),
            ))),
            (Some(mark), Output::Stdout) => Err(Error::refused(format!(
                "checkpoint {path} belongs to output {}; pass --output {} to resume",
                mark.path.display(),
                mark.path.display()
            ))),
            (None, Output::File(_) | Output::Archive(_)) => Err(Error::refused(format!(
                "checkpoint {path} was written for standard output; resume it with --output -"
            ))),
            _ => Ok(()),
        }
    }
}

fn describe_window(query: &Query) -> String {
    let show = |t: Option<DateTime<Utc>>| t.map_or("-".to_string(), |t| t.to_rfc3339());
    format!("[{}, {})", show(query.start_at()), show(query.end_at()))
}

/// Where the events of a planned run (or a landing) go.
#[derive(Debug)]
pub(crate) enum Target {
    /// A file or standard output, one line per event.
    Lines {
        lines: Lines,
        /// Gids of events a crashed run wrote after its last checkpoint, to drop once.
        dedupe: HashSet<String>,
        truncated_bytes: u64,
    },
    /// A directory or object store, through a sink opened when the run starts.
    Archive(crate::Destination),
}

impl Target {
    /// The writer of this target: tells `observer` of a torn line cut from a file output;
    /// opens an archive's sink, checking that the destination takes writes.
    pub(crate) async fn open(
        self,
        pipeline: &Pipeline,
        observer: &dyn Observer,
    ) -> Result<Writer, Error> {
        Ok(match self {
            Target::Lines {
                lines,
                dedupe,
                truncated_bytes,
            } => {
                if truncated_bytes > 0 {
                    observer.note(&format!(
                        "cut {truncated_bytes} bytes of a line left incomplete by an earlier run"
                    ));
                }
                Writer::Lines {
                    lines,
                    dedupe,
                    unsaved: 0,
                    line: String::new(),
                }
            }
            Target::Archive(destination) => {
                let mark = pipeline.archive_mark(&destination);
                let sink = FormatSink::open_with_fallback(
                    destination,
                    pipeline.sink.clone(),
                    pipeline.format.clone(),
                    pipeline.fallback.clone(),
                )
                .await?;
                Writer::Archive {
                    sink: Box::new(sink),
                    mark,
                    committed: None,
                }
            }
        })
    }
}

/// A run checked and ready: its locks are held until it ends.
#[derive(Debug)]
pub struct Planned {
    pipeline: Pipeline,
    query: Query,
    checkpoint: Option<Checkpoint>,
    target: Target,
    locks: Locks,
    state: State,
}

/// Where a running pipeline writes: its events, its checkpoint, and its alerts.
struct Out {
    state: State,
    writer: Writer,
    /// The alerting stage, when the run alerts.
    stage: Option<Stage>,
    /// The last checkpoint saved by this run (or resumed from), to save again with fewer
    /// alerts pending once some are delivered.
    last: Option<Checkpoint>,
    /// When an archive's last commit was made (or the run started): waiting alerts bring the
    /// next commit forward no sooner than [`CHECKPOINT_EVERY`] after it.
    committed_at: tokio::time::Instant,
}

/// Where a planned run saves its checkpoint, with what keeps other runs off it.
#[derive(Debug)]
enum State {
    /// No checkpoint.
    None,
    /// A local file, locked through its sidecar (the lock is in [`Planned::locks`]).
    File(PathBuf),
    /// An object, written only on the version last read, under a lease.
    Object(Box<(StateObject, KeptLease)>),
}

impl State {
    /// Locks or leases the checkpoint at `path` and reads it.
    async fn take(
        path: Option<&Path>,
        lease: Duration,
        locks: &mut Locks,
    ) -> Result<(State, Option<Checkpoint>), Error> {
        let Some(path) = path else {
            return Ok((State::None, None));
        };
        let text = path.to_string_lossy();
        if !is_url(&text) {
            locks.checkpoint(path)?;
            return Ok((State::File(path.to_owned()), Checkpoint::load(path)?));
        }
        let mut object = StateObject::parse(&text)?;
        let lease = Lease::take(object.sibling(".lease"), lease).await?;
        let checkpoint = match object.read().await? {
            Some(bytes) => {
                let checkpoint = Checkpoint::parse(&bytes, path)?;
                // Written back at once: a run that held the lease before, and still believes
                // it does, now finds another version and can save nothing more.
                object.write(bytes).await?;
                Some(checkpoint)
            }
            None => None,
        };
        Ok((
            State::Object(Box::new((object, KeptLease::keep(lease)))),
            checkpoint,
        ))
    }

    fn is_none(&self) -> bool {
        matches!(self, State::None)
    }

    /// Where the alerting stage keeps its receipts of deliveries: beside the checkpoint, a
    /// local file's (`<checkpoint>.alerts-sent`) or an object's (the folder
    /// `<checkpoint>.alerts-sent`); none without a checkpoint.
    fn receipts(&self) -> Option<ReceiptsAt> {
        match self {
            State::None => None,
            State::File(path) => {
                let mut name = path.as_os_str().to_owned();
                name.push(".alerts-sent");
                Some(ReceiptsAt::File(PathBuf::from(name)))
            }
            State::Object(held) => Some(ReceiptsAt::Folder(held.0.sibling_folder(".alerts-sent"))),
        }
    }

    /// Saves `checkpoint`; in an object store only while the lease lasts, and only over the
    /// version this run wrote last.
    async fn save(&mut self, checkpoint: &Checkpoint) -> Result<(), Error> {
        match self {
            State::None => Ok(()),
            State::File(path) => checkpoint.save(path),
            State::Object(held) => {
                let (object, lease) = &mut **held;
                lease.check().await?;
                object.write(checkpoint.to_bytes()).await
            }
        }
    }

    /// Completes, with the error that ends the run, once the lease is lost (never without a
    /// lease).
    async fn lost(&self) -> Error {
        match self {
            State::Object(held) => held.1.lost().await,
            _ => std::future::pending().await,
        }
    }

    /// Gives up the lease, if there is one, so that another run may take over at once.
    async fn release(self) -> Result<(), Error> {
        match self {
            State::Object(held) => held.1.release().await,
            _ => Ok(()),
        }
    }
}

/// Where a running pipeline's events go, with what each kind of output needs between
/// checkpoints (a [`Landing`](crate::Landing), which keeps none, uses only the output).
pub(crate) enum Writer {
    /// A file or standard output: checkpointed every `checkpoint_every` events or second.
    Lines {
        lines: Lines,
        dedupe: HashSet<String>,
        /// Events written since the last checkpoint.
        unsaved: u64,
        /// Where an OCSF line is written before it goes out.
        line: String,
    },
    /// A directory or object store: checkpointed around each commit of files.
    Archive {
        sink: Box<FormatSink>,
        mark: ArchiveMark,
        /// The cursor and event count the destination durably holds (set when the stream
        /// starts).
        committed: Option<(asana_audit_log::Cursor, u64)>,
    },
}

impl Planned {
    /// The query the run reads: the checkpoint's when it resumes.
    pub fn query(&self) -> &Query {
        self.checkpoint.as_ref().map_or(&self.query, |cp| &cp.query)
    }

    /// Whether a checkpoint was found to resume from.
    pub fn resumes(&self) -> bool {
        self.checkpoint.is_some()
    }

    /// Gives up what [`Pipeline::plan`] took, without running: the locks, and the lease of a
    /// checkpoint in an object store, so that another run may take it at once (a plan dropped
    /// instead keeps the lease until it expires).
    pub async fn release(self) -> Result<(), Error> {
        self.state.release().await
    }

    /// Runs the events of `client` into the output until they end, [`Pipeline::max_events`]
    /// are written, or `stop` completes; whatever ends it, what was written is made durable
    /// and covered by the checkpoint before it returns.
    ///
    /// First a commit the checkpoint names as under way is finished or undone; then `stream`
    /// gets the request that continues exactly where the output stands (the checkpoint's
    /// cursor, else the query) and picks how to read it: `stream`, `follow` or `backfill`.
    pub async fn run<S>(
        mut self,
        client: &Client,
        stream: impl FnOnce(EventsRequest) -> Result<S, asana_audit_log::Error>,
        stop: impl Future<Output = ()>,
        observer: &dyn Observer,
    ) -> Result<Summary, Error>
    where
        S: AuditLogStream + Stream<Item = Result<AuditLogEvent, asana_audit_log::Error>>,
    {
        let started = Instant::now();
        // Released when the run has saved its last checkpoint and returns.
        let _locks = std::mem::take(&mut self.locks);
        let mut state = std::mem::replace(&mut self.state, State::None);
        let pipeline = &self.pipeline;
        let mut checkpoint = self.checkpoint.take();
        let mut writer = self.target.open(pipeline, observer).await?;
        if let (Writer::Archive { sink, .. }, State::Object(held)) = (&mut writer, &state) {
            sink.guard_writes(held.1.guard().await);
        }
        if let (Writer::Archive { sink, .. }, Some(cp)) = (&writer, &mut checkpoint) {
            pipeline.recover(sink, cp, &mut state, observer).await?;
        }
        let stage = match &pipeline.alerting {
            Some(alerting) => Some(
                Stage::start(
                    alerting,
                    checkpoint.as_ref().and_then(|cp| cp.alerts.clone()),
                    state.receipts(),
                )
                .await?,
            ),
            None => {
                let pending = checkpoint
                    .as_ref()
                    .and_then(|cp| cp.alerts.as_ref())
                    .map_or(0, |a| a.pending.iter().map(Vec::len).sum::<usize>());
                if pending > 0 {
                    observer.note(&format!(
                        "the checkpoint holds {pending} alert(s) not yet delivered; without \
                         alert targets they are not delivered"
                    ));
                }
                None
            }
        };
        let mut out = Out {
            state,
            writer,
            stage,
            last: checkpoint.clone(),
            committed_at: tokio::time::Instant::now(),
        };
        let resumed = checkpoint.is_some();
        let mut events_total = checkpoint.as_ref().map_or(0, |cp| cp.events_written);
        // From the checkpoint as recovery left it: a commit found complete moved its cursor.
        let request = match &checkpoint {
            Some(cp) => client.resume(cp.cursor.clone()),
            None => client.query(self.query.clone()),
        };
        let mut stream = stream(request)?;
        if let Writer::Archive { committed, .. } = &mut out.writer {
            *committed = Some((stream.cursor(), events_total));
        }
        // A first run's file output gets its checkpoint before its first line: a run killed
        // before its first periodic save then leaves a checkpoint that covers 0 bytes, and the
        // rerun reads back the lines after that instead of refusing a non-empty file it has no
        // checkpoint for.
        if !resumed && !out.state.is_none() && matches!(out.writer, Writer::Lines { .. }) {
            pipeline
                .checkpoint_now(&mut out, &stream, events_total, Why::Cadence, observer)
                .await?;
        }
        observer.started(stream.query());

        let mut summary = Summary {
            resumed,
            ..Summary::default()
        };
        let mut stop = std::pin::pin!(stop);
        // One timer for the whole run, moved after each save. Its deadline is when the next
        // save is due (lines) or when the oldest open file must be committed (archive).
        let mut timer = std::pin::pin!(tokio::time::sleep(CHECKPOINT_EVERY));

        let outcome: Result<(), Error> = loop {
            let armed = match &out.writer {
                Writer::Lines { unsaved, .. } => *unsaved > 0,
                Writer::Archive { sink, .. } => sink.commit_deadline().is_some(),
            } || out.stage.as_ref().is_some_and(Stage::delivered_since_save);
            // New alerts wait for a checkpoint that covers their events: it is saved as soon as
            // the stream has no event ready (a poll's page is written), not at the timer. An
            // archive commits for them no sooner than CHECKPOINT_EVERY after its last commit,
            // so that a backfill rich in alerts does not commit after every page: until then
            // the timer waits for that instant.
            let alerts_wait = out.stage.as_ref().is_some_and(Stage::has_new_alerts);
            let alerts_now = alerts_wait
                && match &out.writer {
                    Writer::Lines { .. } => true,
                    Writer::Archive { .. } => {
                        let allowed = out.committed_at + CHECKPOINT_EVERY;
                        if allowed > tokio::time::Instant::now() && allowed < timer.deadline() {
                            timer.as_mut().reset(allowed);
                        }
                        allowed <= tokio::time::Instant::now()
                    }
                };
            let why = if alerts_wait {
                Why::Alerts
            } else {
                Why::Cadence
            };
            let item = tokio::select! {
                biased;
                () = &mut stop => {
                    summary.stopped = true;
                    break Ok(());
                }
                item = stream.next() => item,
                // A lease that was lost ends the run at once, with nothing more written:
                // another run may hold it now.
                lost = out.state.lost() => return Err(lost),
                () = &mut timer, if armed => {
                    pipeline.checkpoint_now(&mut out, &stream, events_total, why, observer).await?;
                    pipeline.save_delivered(&mut out, observer).await?;
                    timer.as_mut().reset(tokio::time::Instant::now() + CHECKPOINT_EVERY);
                    continue;
                }
                // Polled last: taken only when the stream has no event ready.
                () = std::future::ready(()), if alerts_now => {
                    pipeline.checkpoint_now(&mut out, &stream, events_total, Why::Alerts, observer).await?;
                    timer.as_mut().reset(tokio::time::Instant::now() + CHECKPOINT_EVERY);
                    continue;
                }
            };
            let event = match item {
                None => break Ok(()),
                Some(Err(err)) => break Err(err.into()),
                Some(Ok(event)) => event,
            };
            observer.event(&event);
            // Every event the stream gives is evaluated, also one the output already holds
            // (written after the last checkpoint by a run that stopped): the alerting state is
            // the checkpoint's, which had not seen it.
            if let Some(stage) = &mut out.stage {
                stage.evaluate(&event);
            }
            let due = match &mut out.writer {
                Writer::Lines {
                    lines,
                    dedupe,
                    unsaved,
                    line,
                } => {
                    if !dedupe.is_empty() && dedupe.remove(event.gid()) {
                        summary.duplicates_dropped += 1;
                        observer.duplicate_dropped(&event);
                        continue;
                    }
                    let text = pipeline.format.line(&event, line);
                    lines.write_line(text).map_err(|e| write_error(lines, e))?;
                    *unsaved += 1;
                    // Also checked here: while events keep coming the timer branch is not
                    // polled.
                    *unsaved >= pipeline.checkpoint_every
                        || tokio::time::Instant::now() >= timer.deadline()
                }
                Writer::Archive { sink, .. } => {
                    let had_deadline = sink.commit_deadline();
                    if sink.write(&event)? == Written::Fallback {
                        observer.fallback(&event);
                    }
                    if had_deadline.is_none()
                        && let Some(deadline) = sink.commit_deadline()
                    {
                        timer
                            .as_mut()
                            .reset(tokio::time::Instant::from_std(deadline));
                    }
                    sink.commit_due()
                }
            };
            summary.written += 1;
            events_total += 1;
            if pipeline
                .max_events
                .is_some_and(|max| summary.written >= max)
            {
                break Ok(());
            }
            if due {
                pipeline
                    .checkpoint_now(&mut out, &stream, events_total, Why::Cadence, observer)
                    .await?;
                timer
                    .as_mut()
                    .reset(tokio::time::Instant::now() + CHECKPOINT_EVERY);
            }
        };
        // Whatever ended the run, what was written is made durable and covered by a
        // checkpoint.
        pipeline
            .checkpoint_now(&mut out, &stream, events_total, Why::Last, observer)
            .await?;
        if let Some(stage) = &mut out.stage {
            stage
                .drain(
                    pipeline
                        .alerting
                        .as_ref()
                        .map_or(Duration::ZERO, |a| a.grace),
                )
                .await;
        }
        pipeline.save_delivered(&mut out, observer).await?;
        if let Err(e) = out.state.release().await {
            observer.note(&format!(
                "could not give up the lease ({e}); another run may take over once it expires"
            ));
        }
        observer.finished();
        summary.elapsed = started.elapsed();
        outcome.map(|()| summary)
    }
}

impl Pipeline {
    /// Saves `checkpoint` in `state`, and tells `observer`.
    async fn save(
        &self,
        state: &mut State,
        checkpoint: &Checkpoint,
        observer: &dyn Observer,
    ) -> Result<(), Error> {
        if state.is_none() {
            return Ok(());
        }
        state.save(checkpoint).await?;
        observer.checkpoint_saved(&checkpoint.query);
        Ok(())
    }

    /// Finishes or undoes the commit a checkpoint recorded as under way, and saves the
    /// checkpoint without it: from here on, `cp` describes exactly what the destination holds.
    async fn recover(
        &self,
        sink: &FormatSink,
        cp: &mut Checkpoint,
        state: &mut State,
        observer: &dyn Observer,
    ) -> Result<(), Error> {
        let Some(pending) = cp.pending.take() else {
            return Ok(());
        };
        match sink.recover(&pending.commit).await? {
            Recovery::Completed => {
                cp.cursor = pending.cursor;
                cp.events_written = pending.events_written;
                cp.alerts = pending.alerts;
                observer.note(&format!(
                    "an earlier run had put {} file(s) in place before it stopped; continuing \
                     after them",
                    pending.commit.files.len()
                ));
            }
            Recovery::RolledBack => observer.note(&format!(
                "an earlier run stopped while putting {} file(s) in place; removed those that \
                 were, and reading their events again",
                pending.commit.files.len()
            )),
        }
        cp.saved_at = Utc::now();
        self.save(state, cp, observer).await
    }

    /// Saves the last checkpoint again with the alerts still waiting, once some were delivered
    /// since it was saved, so that a restart does not deliver them again.
    async fn save_delivered(&self, out: &mut Out, observer: &dyn Observer) -> Result<(), Error> {
        let (Some(stage), Some(last)) = (&mut out.stage, &mut out.last) else {
            return Ok(());
        };
        if !stage.delivered_since_save() || out.state.is_none() {
            return Ok(());
        }
        let waiting = stage.waiting();
        let mut checkpoint = last.clone();
        match &mut checkpoint.alerts {
            Some(alerts) => alerts.pending = waiting,
            None => return Ok(()),
        }
        checkpoint.saved_at = Utc::now();
        self.save(&mut out.state, &checkpoint, observer).await?;
        stage.saved().await;
        *last = checkpoint;
        Ok(())
    }

    /// Makes what was written durable and covered by a checkpoint: for lines, syncs the
    /// output and saves (without a checkpoint, saves before the last only flush); for an
    /// archive, commits the open files (when due, unless `why` is [`Why::Alerts`] or
    /// [`Why::Last`]) with the checkpoint saved around the commit.
    async fn checkpoint_now(
        &self,
        out: &mut Out,
        stream: &impl AuditLogStream,
        events_total: u64,
        why: Why,
        observer: &dyn Observer,
    ) -> Result<(), Error> {
        let Out {
            state,
            writer,
            stage,
            last: last_saved,
            committed_at,
        } = out;
        match writer {
            Writer::Lines { lines, unsaved, .. } => {
                *unsaved = 0;
                if state.is_none() && why != Why::Last {
                    // Without a checkpoint there is nothing for a sync to protect until the
                    // end: only flush, so that readers of the output see it grow.
                    lines.flush().map_err(|e| write_error(lines, e))?;
                    if let Some(stage) = stage {
                        stage.snapshot();
                        stage.committed().await;
                    }
                    return Ok(());
                }
                let bytes = lines.make_durable().map_err(|e| write_error(lines, e))?;
                let output = match (&self.output, bytes) {
                    (Output::File(path), Some(bytes)) => Some(OutputMark {
                        path: path.clone(),
                        bytes,
                    }),
                    _ => None,
                };
                let mut checkpoint =
                    Checkpoint::new(stream.query().clone(), stream.cursor(), events_total);
                checkpoint.output = output;
                checkpoint.alerts = stage.as_mut().map(Stage::snapshot);
                self.save(state, &checkpoint, observer).await?;
                if let Some(stage) = stage {
                    stage.committed().await;
                }
                *last_saved = Some(checkpoint);
                observer.committed();
                Ok(())
            }
            Writer::Archive {
                sink,
                mark,
                committed,
            } => {
                if why == Why::Cadence && !sink.commit_due() {
                    return Ok(());
                }
                let cursor = stream.cursor();
                let query = stream.query();
                let (committed_cursor, committed_events) =
                    committed.clone().expect("set when the stream starts");
                // The alerting state after the commit's events, and before them (the last
                // checkpoint's), for a checkpoint saved while the commit is under way.
                let after = stage.as_mut().map(Stage::snapshot);
                let before = last_saved.as_ref().and_then(|cp| cp.alerts.clone());
                let mut saved = None;
                let record = async |pending: Option<&Commit>| {
                    let mut checkpoint = match pending {
                        // Still at the last commit, with this one under way.
                        Some(commit) => {
                            let mut checkpoint = Checkpoint::new(
                                query.clone(),
                                committed_cursor.clone(),
                                committed_events,
                            );
                            checkpoint.pending = Some(PendingCommit {
                                commit: commit.clone(),
                                cursor: cursor.clone(),
                                events_written: events_total,
                                alerts: after.clone(),
                            });
                            checkpoint.alerts = before.clone();
                            checkpoint
                        }
                        None => {
                            let mut checkpoint =
                                Checkpoint::new(query.clone(), cursor.clone(), events_total);
                            checkpoint.alerts = after.clone();
                            checkpoint
                        }
                    };
                    checkpoint.archive = Some(mark.clone());
                    self.save(state, &checkpoint, observer).await?;
                    if checkpoint.pending.is_none() {
                        saved = Some(checkpoint);
                    }
                    Ok(())
                };
                sink.commit(record).await?;
                // Nothing to commit (no event since the last commit) saves nothing, and has no
                // new alert.
                if let Some(checkpoint) = saved {
                    if let Some(stage) = stage {
                        stage.committed().await;
                    }
                    *last_saved = Some(checkpoint);
                }
                *committed = Some((cursor, events_total));
                *committed_at = tokio::time::Instant::now();
                observer.committed();
                Ok(())
            }
        }
    }
}

/// A line output's write failure, naming the output.
pub(crate) fn write_error(lines: &Lines, source: std::io::Error) -> Error {
    let message = match lines.path() {
        Some(path) => format!("cannot write output {}: {source}", path.display()),
        None if source.kind() == std::io::ErrorKind::BrokenPipe => {
            "standard output was closed".to_owned()
        }
        None => format!("cannot write standard output: {source}"),
    };
    Error::Output { message, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checkpoint is resumed only into the output it was written for.
    #[tokio::test]
    async fn a_checkpoint_of_another_output_is_refused_before_anything_is_read() {
        let client = Client::builder().token("0/1:unused").build().unwrap();
        let query = client.audit_log_events("1").to_query().unwrap();
        let cursor = client.query(query.clone()).stream().unwrap().cursor();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("events.ndjson");
        let archive =
            crate::Destination::parse(dir.path().join("archive").to_str().unwrap()).unwrap();
        let of_file = {
            let mut checkpoint = Checkpoint::new(query.clone(), cursor.clone(), 0);
            checkpoint.output = Some(OutputMark {
                path: file.clone(),
                bytes: 0,
            });
            checkpoint
        };
        let of_stdout = Checkpoint::new(query.clone(), cursor.clone(), 0);
        let cases = [
            (
                &of_file,
                Output::Archive(archive.clone()),
                "belongs to output",
            ),
            (&of_file, Output::Stdout, "belongs to output"),
            (
                &of_file,
                Output::File(dir.path().join("other.ndjson")),
                "belongs to output",
            ),
            (
                &of_stdout,
                Output::File(file.clone()),
                "written for standard output",
            ),
            (
                &of_stdout,
                Output::Archive(archive),
                "written for standard output",
            ),
        ];
        for (checkpoint, output, expected) in cases {
            let pipeline = Pipeline::new(output.clone());
            let refused = pipeline
                .check_checkpoint_matches(checkpoint, &query)
                .unwrap_err();
            assert!(
                matches!(&refused, Error::Refused { message } if message.contains(expected)),
                "{output:?}: {refused}"
            );
        }
        // The same output resumes.
        Pipeline::new(Output::File(file))
            .check_checkpoint_matches(&of_file, &query)
            .unwrap();
        Pipeline::new(Output::Stdout)
            .check_checkpoint_matches(&of_stdout, &query)
            .unwrap();
    }
}
