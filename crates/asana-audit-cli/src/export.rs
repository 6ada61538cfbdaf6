//! `export` and `follow`: the stream -> NDJSON -> checkpoint loop.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use asana_audit_log::config::RetryPolicy;
use asana_audit_log::streams::Backfill;
use asana_audit_log::types::Actor;
use asana_audit_log::{AuditLogStream, Client, Cursor, Query, SecretString};
use asana_audit_log_pipeline::{Commit, Destination, Recovery};
use chrono::Utc;
use futures::StreamExt;

use crate::archive::{self, AnySink, Format, Target};
use crate::checkpoint::{ArchiveMark, Checkpoint, FORMAT_VERSION, OutputMark, PendingCommit};
use crate::cli::{ExportArgs, resolve_event_type};
use crate::error::{CliError, Failure};
use crate::output::Output;
use crate::progress::Progress;

/// Save a checkpoint at least this often in time while events flow (also when the stream idles
/// with unsaved events), besides every `--checkpoint-every` events.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// What a run did, for the summary.
#[derive(Debug, Default)]
pub struct Summary {
    /// Events written by this run.
    pub written: u64,
    /// Events delivered again after a restart and dropped because the output already had them.
    pub duplicates_dropped: u64,
    /// Whether the run resumed from a checkpoint.
    pub resumed: bool,
    /// How long the run took.
    pub elapsed: Duration,
}

/// Reads the token: `--token-file`, else `ASANA_ACCESS_TOKEN`. Never printed.
pub fn read_token(token_file: Option<&Path>) -> Result<SecretString, CliError> {
    let token = match token_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| {
                CliError::input(format!("cannot read --token-file {}: {e}", path.display()))
            })?
            .trim()
            .to_string(),
        None => std::env::var(asana_audit_log::config::TOKEN_ENV)
            .unwrap_or_default()
            .trim()
            .to_string(),
    };
    if token.is_empty() {
        return Err(CliError::input(match token_file {
            Some(path) => format!("--token-file {} is empty", path.display()),
            None => format!(
                "no token: set {} to a service account's token (Enterprise domain), or pass \
                 --token-file FILE",
                asana_audit_log::config::TOKEN_ENV
            ),
        }));
    }
    Ok(SecretString::from(token))
}

/// Builds the client for `args`.
pub fn client(args: &ExportArgs, token: SecretString) -> Result<Client, CliError> {
    let builder = Client::builder()
        .token(token)
        .base_url(&args.base_url)
        .user_agent(concat!("asana-audit/", env!("CARGO_PKG_VERSION")))
        .max_concurrent_requests(args.concurrency.max(1))
        .retry_policy(RetryPolicy::default().with_max_retries(args.max_retries));
    let builder = match args.requests_per_minute {
        0 => builder.no_rate_limit(),
        per_minute => builder.requests_per_minute(per_minute),
    };
    let builder = match crate::metrics::installed() {
        Some(metrics) => builder.observer(metrics),
        None => builder,
    };
    Ok(builder.build()?)
}

/// Validates everything that can be checked before a request: the query, the concurrency, the
/// checkpoint (and that it belongs to this query), the output (and what a crash left in it).
pub struct Plan {
    query: Query,
    checkpoint: Option<Checkpoint>,
    target: PlanTarget,
    /// The checkpoint's and the file output's locks, held until the run ends.
    locks: crate::lock::Locks,
    /// The window a follow reads again after each poll (`follow --lookback`).
    lookback: Option<Duration>,
}

/// Where the events of a run go.
enum PlanTarget {
    /// A file or standard output, one line per event.
    Lines {
        output: Output,
        /// Gids of events a crashed run wrote after its last checkpoint, to drop once.
        dedupe: HashSet<String>,
        truncated_bytes: u64,
    },
    /// A directory or object store, through a sink opened when the run starts.
    Archive(Destination),
}

impl Plan {
    /// Checks the arguments and opens the output; sends nothing.
    pub fn new(args: &ExportArgs, client: &Client, follow: bool) -> Result<Plan, CliError> {
        if follow && args.concurrency > 1 {
            return Err(CliError::input(
                "--concurrency applies to export of a bounded window; follow reads one page at a time",
            ));
        }
        if args.max_events == Some(0) {
            return Err(CliError::input("--max-events must be at least 1"));
        }
        let mut request = client
            .audit_log_events(&args.workspace)
            .page_size(args.page_size);
        if let Some(since) = args.since {
            request = request.since(since);
        }
        if let Some(start) = args.start_at {
            request = request.start_at(start);
        }
        if let Some(end) = args.end_at {
            request = request.end_at(end);
        } else if args.concurrency > 1 {
            // A concurrent backfill needs a bounded window: fix its end now, in the query (and
            // so in the checkpoint).
            request = request.end_at(Utc::now());
        }
        if let Some(event_type) = &args.event_type {
            request = request.event_type(
                resolve_event_type(event_type, args.allow_unknown_event_type)
                    .map_err(CliError::input)?,
            );
        }
        if let Some(actor_type) = &args.actor_type {
            request = request.actor(Actor::Type(actor_type.clone()));
        }
        if let Some(gid) = &args.actor_gid {
            request = request.actor(Actor::Gid(gid.clone()));
        }
        if let Some(gid) = &args.resource_gid {
            request = request.resource_gid(gid);
        }
        if args.concurrency > 1 && args.start_at.is_none() && args.since.is_none() {
            return Err(CliError::input(
                "--concurrency above 1 needs a bounded window: give --start-at or --since",
            ));
        }
        let query = request.to_query()?;

        // One writer per checkpoint: locked before it is read (see src/lock.rs).
        let mut locks = crate::lock::Locks::default();
        if let Some(path) = &args.checkpoint {
            locks.checkpoint(path)?;
        }
        let checkpoint = match &args.checkpoint {
            Some(path) => Checkpoint::load(path)?,
            None => None,
        };
        if let Some(cp) = &checkpoint {
            check_checkpoint_matches(cp, &query, args)?;
        }

        let target = match Target::classify(&args.output, &args.archive)? {
            Target::Stdout => PlanTarget::Lines {
                output: Output::stdout(),
                dedupe: HashSet::new(),
                truncated_bytes: 0,
            },
            Target::File if args.archive.format == crate::cli::Format::Ocsf => {
                return Err(CliError::input(
                    "--format ocsf goes to a directory, a URL or standard output: a single file \
                     could not be resumed exactly once (its lines carry no Asana gid to match)",
                ));
            }
            Target::File => {
                locks.output(&args.output)?;
                let covered = checkpoint
                    .as_ref()
                    .map(|cp| cp.output.as_ref().map_or(0, |mark| mark.bytes));
                let (output, recovered) = Output::file(&args.output, covered, args.overwrite)?;
                PlanTarget::Lines {
                    output,
                    dedupe: recovered.gids,
                    truncated_bytes: recovered.truncated_bytes,
                }
            }
            Target::Archive(destination) => PlanTarget::Archive(destination),
        };
        Ok(Plan {
            query,
            checkpoint,
            target,
            locks,
            lookback: None,
        })
    }

    /// Makes a follow read the last `window` before its newest event again after each poll
    /// (late events; see `EventsRequest::lookback`). The gids it remembers travel in the
    /// checkpoint's cursor.
    pub fn with_lookback(mut self, window: Option<Duration>) -> Plan {
        self.lookback = window;
        self
    }

    /// The validated query (the checkpoint's, when resuming).
    pub fn query(&self) -> &Query {
        self.checkpoint.as_ref().map_or(&self.query, |cp| &cp.query)
    }
}

fn check_checkpoint_matches(
    cp: &Checkpoint,
    query: &Query,
    args: &ExportArgs,
) -> Result<(), CliError> {
    let path = args
        .checkpoint
        .as_deref()
        .unwrap_or(Path::new("?"))
        .display();
    if !cp.query.same_filters(query) {
        return Err(CliError::input(format!(
            "checkpoint {path} belongs to another query ({}); use the same --workspace and filters, \
             or another --checkpoint file",
            describe(&cp.query)
        )));
    }
    let explicit_window_differs = (args.start_at.is_some() && args.start_at != cp.query.start_at())
        || (args.end_at.is_some() && args.end_at != cp.query.end_at());
    if explicit_window_differs {
        return Err(CliError::input(format!(
            "checkpoint {path} belongs to the window {}; drop --start-at/--end-at to resume it, or \
             use another --checkpoint file",
            describe_window(&cp.query)
        )));
    }
    if let Some(mark) = &cp.archive {
        let wanted = match Target::classify(&args.output, &args.archive)? {
            Target::Archive(destination) => Some(archive::mark(&destination, &args.archive)),
            _ => None,
        };
        return match wanted {
            Some(wanted) if wanted == *mark => Ok(()),
            _ => Err(CliError::input(format!(
                "checkpoint {path} belongs to --output {} with --encoding {} --partition {}; \
                 pass those to resume it, or use another --checkpoint file",
                mark.url, mark.encoding, mark.partition
            ))),
        };
    }
    let out_is_stdout = args.output.as_os_str() == "-";
    match (&cp.output, out_is_stdout) {
        (Some(mark), false) if mark.path != args.output => Err(CliError::input(format!(
            "checkpoint {path} belongs to output {}, not {}; pass that --output to resume",
            mark.path.display(),
            args.output.display()
        ))),
        (Some(mark), true) => Err(CliError::input(format!(
            "checkpoint {path} belongs to output {}; pass --output {} to resume",
            mark.path.display(),
            mark.path.display()
        ))),
        (None, false) => Err(CliError::input(format!(
            "checkpoint {path} was written for standard output; resume it with --output -"
        ))),
        _ => Ok(()),
    }
}

fn describe(query: &Query) -> String {
    let mut parts = vec![format!("workspace {}", query.workspace_gid())];
    if let Some(t) = query.event_type() {
        parts.push(format!("event type {t}"));
    }
    match query.actor() {
        Some(Actor::Type(t)) => parts.push(format!("actor type {t}")),
        Some(Actor::Gid(g)) => parts.push(format!("actor {g}")),
        _ => {}
    }
    if let Some(r) = query.resource_gid() {
        parts.push(format!("resource {r}"));
    }
    parts.join(", ")
}

fn describe_window(query: &Query) -> String {
    let show = |t: Option<chrono::DateTime<Utc>>| t.map_or("-".to_string(), |t| t.to_rfc3339());
    format!("[{}, {})", show(query.start_at()), show(query.end_at()))
}

/// Where a run's events go, with what each kind of output needs between checkpoints.
enum Writer {
    /// A file or standard output: checkpointed every `--checkpoint-every` events or second.
    Lines {
        output: Output,
        dedupe: HashSet<String>,
        /// Events written since the last checkpoint.
        unsaved: u64,
        format: Format,
        /// Where an OCSF line is written before it goes out.
        line: String,
    },
    /// A directory or object store: checkpointed around each commit of files.
    Archive {
        sink: Box<AnySink>,
        mark: ArchiveMark,
        /// The cursor and event count the destination durably holds (set when the stream
        /// starts).
        committed: Option<(Cursor, u64)>,
    },
}

/// Runs an export (`follow = None`) or a follow (`Some(poll interval)`) until it ends or the
/// process is asked to stop (SIGINT, SIGTERM).
pub async fn run(
    args: &ExportArgs,
    client: &Client,
    plan: Plan,
    follow: Option<Duration>,
    progress: &Progress,
) -> Result<Summary, CliError> {
    run_until(
        args,
        client,
        plan,
        follow,
        progress,
        crate::signals::interrupted(),
    )
    .await
}

/// [`run`], stopped by `stop` instead of the process's signals: when it completes, what was
/// written is committed and the run ends as interrupted. `asana-audit run` gives every source
/// one shared stop.
pub async fn run_until(
    args: &ExportArgs,
    client: &Client,
    mut plan: Plan,
    follow: Option<Duration>,
    progress: &Progress,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Summary, CliError> {
    let started = Instant::now();
    // Released when the run has saved its last checkpoint and returns.
    let _locks = std::mem::take(&mut plan.locks);
    for warning in plan.query().warnings() {
        tracing::warn!("{warning}");
    }
    let watch = crate::metrics::workspace(&args.workspace);
    let mut checkpoint = plan.checkpoint.take();
    let mut writer = match plan.target {
        PlanTarget::Lines {
            output,
            dedupe,
            truncated_bytes,
        } => {
            if truncated_bytes > 0 {
                progress.note(&format!(
                    "cut {truncated_bytes} bytes of a line left incomplete by an earlier run"
                ));
            }
            Writer::Lines {
                output,
                dedupe,
                unsaved: 0,
                format: Format::new(&args.archive, Some(&args.workspace)),
                line: String::new(),
            }
        }
        PlanTarget::Archive(destination) => {
            let mark = archive::mark(&destination, &args.archive);
            let format = Format::new(&args.archive, Some(&args.workspace));
            let sink = AnySink::open(destination, &args.archive, format).await?;
            if let Some(cp) = &mut checkpoint {
                recover(args, &sink, cp, progress).await?;
            }
            Writer::Archive {
                sink: Box::new(sink),
                mark,
                committed: None,
            }
        }
    };
    let resumed = checkpoint.is_some();
    let lookback = plan.lookback;
    let mut events_total = checkpoint.as_ref().map_or(0, |cp| cp.events_written);
    let request = match checkpoint {
        Some(cp) => client.resume(cp.cursor),
        None => client.query(plan.query.clone()),
    };
    // Follow, backfill and drain are one stream type; `next` is cancel-safe: an interrupted call
    // loses nothing.
    let mut source = match follow {
        Some(interval) => match lookback {
            Some(window) => request.lookback(window).follow(interval)?,
            None => request.follow(interval)?,
        },
        None if args.concurrency > 1 => {
            request.backfill(Backfill::concurrency(args.concurrency))?
        }
        None => request.stream()?,
    };
    if let Writer::Archive { committed, .. } = &mut writer {
        *committed = Some((source.cursor(), events_total));
    }
    // A first run's file output gets its checkpoint before its first line: a run killed before
    // its first periodic save then leaves a checkpoint that covers 0 bytes, and the rerun
    // reads back the lines after that instead of refusing a non-empty file it has no
    // checkpoint for.
    if !resumed && args.checkpoint.is_some() && matches!(writer, Writer::Lines { .. }) {
        checkpoint_now(args, &mut writer, &source, events_total, false).await?;
    }
    progress.start(source.query());

    let mut summary = Summary {
        resumed,
        ..Summary::default()
    };
    let mut interrupt = std::pin::pin!(stop);
    // One timer for the whole run, moved after each save (a timer made anew for every event
    // would cost a timer-wheel insertion and removal per event). Its deadline is when the next
    // save is due (lines) or when the oldest open file must be committed (archive).
    let mut timer = std::pin::pin!(tokio::time::sleep(CHECKPOINT_EVERY));

    let outcome: Result<(), CliError> = loop {
        let armed = match &writer {
            Writer::Lines { unsaved, .. } => *unsaved > 0,
            Writer::Archive { sink, .. } => sink.commit_deadline().is_some(),
        };
        let item = tokio::select! {
            biased;
            () = &mut interrupt => break Err(CliError {
                failure: Failure::Interrupted,
                message: "interrupted: output flushed and checkpoint saved".to_string(),
            }),
            item = source.next() => item,
            () = &mut timer, if armed => {
                checkpoint_now(args, &mut writer, &source, events_total, false).await?;
                timer.as_mut().reset(tokio::time::Instant::now() + CHECKPOINT_EVERY);
                continue;
            }
        };
        let event = match item {
            None => break Ok(()),
            Some(Err(err)) => break Err(err.into()),
            Some(Ok(event)) => event,
        };
        progress.event(&event);
        if let Some(watch) = &watch {
            watch.event(&event);
        }
        let due = match &mut writer {
            Writer::Lines {
                output,
                dedupe,
                unsaved,
                format,
                line,
            } => {
                if !dedupe.is_empty() && dedupe.remove(event.gid()) {
                    summary.duplicates_dropped += 1;
                    if let Some(watch) = &watch {
                        watch.duplicate();
                    }
                    continue;
                }
                output
                    .write_line(format.line(&event, line))
                    .map_err(|e| write_error(output, e))?;
                *unsaved += 1;
                // Also checked here: while events keep coming the timer branch is not polled.
                *unsaved >= args.checkpoint_every || tokio::time::Instant::now() >= timer.deadline()
            }
            Writer::Archive { sink, .. } => {
                let had_deadline = sink.commit_deadline();
                sink.write(&event)?;
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
        if args.max_events.is_some_and(|max| summary.written >= max) {
            break Ok(());
        }
        if due {
            checkpoint_now(args, &mut writer, &source, events_total, false).await?;
            timer
                .as_mut()
                .reset(tokio::time::Instant::now() + CHECKPOINT_EVERY);
        }
    };
    // Whatever ended the run, what was written is made durable and covered by a checkpoint.
    checkpoint_now(args, &mut writer, &source, events_total, true).await?;
    progress.finish();
    summary.elapsed = started.elapsed();
    outcome.map(|()| summary)
}

/// Finishes or undoes the commit a checkpoint recorded as under way, and saves the checkpoint
/// without it: from here on, `cp` describes exactly what the destination holds.
async fn recover(
    args: &ExportArgs,
    sink: &AnySink,
    cp: &mut Checkpoint,
    progress: &Progress,
) -> Result<(), CliError> {
    let Some(pending) = cp.pending.take() else {
        return Ok(());
    };
    match sink.recover(&pending.commit).await? {
        Recovery::Completed => {
            cp.cursor = pending.cursor;
            cp.events_written = pending.events_written;
            progress.note(&format!(
                "an earlier run had put {} file(s) in place before it stopped; continuing after them",
                pending.commit.files.len()
            ));
        }
        Recovery::RolledBack => progress.note(&format!(
            "an earlier run stopped while putting {} file(s) in place; removed those that \
             were, and reading their events again",
            pending.commit.files.len()
        )),
    }
    cp.saved_at = Utc::now();
    let path = args.checkpoint.as_deref().expect("a checkpoint was loaded");
    cp.save(path)
        .map_err(|e| CliError::local(format!("cannot save checkpoint {}: {e}", path.display())))
}

/// Makes what was written durable and covered by a checkpoint: for lines, syncs the output
/// and saves (periodic saves without `--checkpoint` only flush); for an archive, commits the
/// open files with the checkpoint saved around the commit.
async fn checkpoint_now(
    args: &ExportArgs,
    writer: &mut Writer,
    source: &impl AuditLogStream,
    events_total: u64,
    last: bool,
) -> Result<(), CliError> {
    match writer {
        Writer::Lines {
            output, unsaved, ..
        } => {
            *unsaved = 0;
            save(args, output, source, events_total, last)?;
            committed_now(args);
            Ok(())
        }
        Writer::Archive {
            sink,
            mark,
            committed,
        } => {
            if !last && !sink.commit_due() {
                return Ok(());
            }
            let cursor = source.cursor();
            let (committed_cursor, committed_events) =
                committed.clone().expect("set when the stream starts");
            let record = |pending: Option<&Commit>| {
                let Some(path) = &args.checkpoint else {
                    return Ok(());
                };
                let checkpoint = match pending {
                    // Still at the last commit, with this one under way.
                    Some(commit) => Checkpoint {
                        cursor: committed_cursor.clone(),
                        events_written: committed_events,
                        pending: Some(PendingCommit {
                            commit: commit.clone(),
                            cursor: cursor.clone(),
                            events_written: events_total,
                        }),
                        ..archive_checkpoint(source, mark)
                    },
                    None => Checkpoint {
                        cursor: cursor.clone(),
                        events_written: events_total,
                        ..archive_checkpoint(source, mark)
                    },
                };
                checkpoint.save(path).map_err(|e| {
                    CliError::local(format!("cannot save checkpoint {}: {e}", path.display()))
                })
            };
            sink.commit(record).await?;
            *committed = Some((cursor, events_total));
            committed_now(args);
            Ok(())
        }
    }
}

/// Tells the metrics, if any, that written events were just made durable.
fn committed_now(args: &ExportArgs) {
    if let Some(watch) = crate::metrics::workspace(&args.workspace) {
        watch.committed();
    }
}

/// The parts of an archive's checkpoint that do not depend on the commit.
fn archive_checkpoint(source: &impl AuditLogStream, mark: &ArchiveMark) -> Checkpoint {
    Checkpoint {
        version: FORMAT_VERSION,
        query: source.query().clone(),
        cursor: source.cursor(),
        output: None,
        events_written: 0,
        saved_at: Utc::now(),
        archive: Some(mark.clone()),
        pending: None,
    }
}

/// Makes the output durable, then saves the checkpoint that covers it. Without a checkpoint
/// there is nothing for a sync to protect until the end: periodic saves (`last` false) only
/// flush, so that readers of the output see it grow.
fn save(
    args: &ExportArgs,
    output: &mut Output,
    source: &impl AuditLogStream,
    events_total: u64,
    last: bool,
) -> Result<(), CliError> {
    if args.checkpoint.is_none() && !last {
        return output.flush().map_err(|e| write_error(output, e));
    }
    let bytes = output.make_durable().map_err(|e| write_error(output, e))?;
    let Some(path) = &args.checkpoint else {
        return Ok(());
    };
    let checkpoint = Checkpoint {
        version: FORMAT_VERSION,
        query: source.query().clone(),
        cursor: source.cursor(),
        output: bytes.map(|bytes| OutputMark {
            path: args.output.clone(),
            bytes,
        }),
        events_written: events_total,
        saved_at: Utc::now(),
        archive: None,
        pending: None,
    };
    checkpoint
        .save(path)
        .map_err(|e| CliError::local(format!("cannot save checkpoint {}: {e}", path.display())))
}

fn write_error(output: &Output, e: std::io::Error) -> CliError {
    match output.path() {
        Some(path) => CliError::local(format!("cannot write output {}: {e}", path.display())),
        None if e.kind() == std::io::ErrorKind::BrokenPipe => {
            CliError::local("standard output was closed")
        }
        None => CliError::local(format!("cannot write standard output: {e}")),
    }
}
