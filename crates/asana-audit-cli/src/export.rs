//! `export` and `follow`: flags -> a query and a pipeline plan -> the pipeline's run.

use std::path::Path;
use std::time::Duration;

use asana_audit_log::config::RetryPolicy;
use asana_audit_log::streams::Backfill;
use asana_audit_log::{AuditLogEvent, Client, EventsRequest, Query, SecretString};
use asana_audit_log_pipeline::{Alerting, Observer, Pipeline, Planned, Summary};
use chrono::Utc;

use crate::cli::{FollowArgs, SourceArgs};
use crate::error::{CliError, Failure};
use crate::metrics::WorkspaceMetrics;
use crate::progress::Progress;

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

/// How a source is read.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// What is there now, then stop (`export`); a bounded window `concurrency` requests at a
    /// time when above 1.
    Export {
        /// Requests at once (`--concurrency`).
        concurrency: usize,
    },
    /// Then keep polling (`follow`, and each source of `run`).
    Follow {
        /// How long to wait after the newest event before asking again.
        interval: Duration,
        /// The window read again after each poll, for late events (`--lookback`; the gids it
        /// remembers travel in the checkpoint's cursor).
        lookback: Option<Duration>,
    },
}

impl Mode {
    /// How `follow` (and each source of `run`) reads, from its flags.
    pub fn follow(args: &FollowArgs) -> Mode {
        Mode::Follow {
            interval: args.poll_interval,
            lookback: args.lookback,
        }
    }

    /// Requests at once.
    fn concurrency(self) -> usize {
        match self {
            Mode::Export { concurrency } => concurrency.max(1),
            Mode::Follow { .. } => 1,
        }
    }
}

/// Builds the client for `args` read in `mode`; `source` names it in the metrics (`run`'s
/// sources).
pub fn client(
    args: &SourceArgs,
    mode: Mode,
    token: SecretString,
    source: Option<&str>,
) -> Result<Client, CliError> {
    let builder = Client::builder()
        .token(token)
        .base_url(&args.base_url)
        .user_agent(concat!("asana-audit/", env!("CARGO_PKG_VERSION")))
        .max_concurrent_requests(mode.concurrency())
        .retry_policy(RetryPolicy::default().with_max_retries(args.max_retries));
    let builder = match args.requests_per_minute {
        0 => builder.no_rate_limit(),
        per_minute => builder.requests_per_minute(per_minute),
    };
    let labels = crate::metrics::Ws::new(source, &args.workspace);
    let builder = match crate::metrics::observer(labels) {
        Some(observer) => builder.observer(observer),
        None => builder,
    };
    Ok(builder.build()?)
}

/// A checked run of `export` or `follow`: the pipeline's plan, and how the source is read.
pub struct Plan {
    planned: Planned,
    mode: Mode,
}

impl Plan {
    /// Gives up the plan's locks and lease without running (`run --check`).
    pub async fn release(self) -> Result<(), CliError> {
        Ok(self.planned.release().await?)
    }

    /// Checks the arguments (the query, the concurrency, the checkpoint and that it belongs to
    /// this query, the output and what a crash left in it) and takes the locks; sends nothing.
    pub async fn new(
        args: &SourceArgs,
        client: &Client,
        mode: Mode,
        alerting: Option<Alerting>,
        source: Option<&str>,
    ) -> Result<Plan, CliError> {
        let query = query(args, mode, client)?;
        let mut pipeline =
            Pipeline::new(crate::archive::output(Some(&args.output), &args.archive)?);
        pipeline.format = crate::archive::format(&args.archive, Some(&args.workspace));
        pipeline.sink = crate::archive::options(&args.archive)?;
        pipeline.fallback = crate::archive::fallback(&args.archive)?;
        pipeline.checkpoint = args.checkpoint.clone();
        pipeline.lease = args.lease;
        pipeline.checkpoint_every = args.checkpoint_every;
        pipeline.max_events = args.max_events;
        pipeline.overwrite = args.overwrite;
        pipeline.pinned_start_at = args.start_at;
        pipeline.pinned_end_at = args.end_at;
        pipeline.alerting = alerting.map(|mut alerting| {
            let labels = crate::metrics::Ws::new(source, &args.workspace);
            if let Some(observer) = crate::metrics::alerts(labels) {
                alerting.observer = observer;
            }
            alerting
        });
        Ok(Plan {
            planned: pipeline.plan(query).await?,
            mode,
        })
    }
}

/// The query `args` ask for, read in `mode`, validated.
fn query(args: &SourceArgs, mode: Mode, client: &Client) -> Result<Query, CliError> {
    let concurrency = mode.concurrency();
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
    } else if concurrency > 1 {
        // A concurrent backfill needs a bounded window: fix its end now, in the query (and
        // so in the checkpoint).
        request = request.end_at(Utc::now());
    }
    request = args.filters.apply(request).map_err(CliError::input)?;
    if concurrency > 1 && args.start_at.is_none() && args.since.is_none() {
        return Err(CliError::input(
            "--concurrency above 1 needs a bounded window: give --start-at or --since",
        ));
    }
    Ok(request.to_query()?)
}

/// What the pipeline tells, shown on the progress display and counted in the metrics.
struct Watch<'a> {
    progress: &'a Progress,
    metrics: Option<WorkspaceMetrics>,
    /// The event types already logged as going to the fallback destination.
    fallback_types: FallbackLog,
}

impl Observer for Watch<'_> {
    fn started(&self, query: &Query) {
        self.progress.start(query);
    }

    fn event(&self, event: &AuditLogEvent) {
        self.progress.event(event);
        if let Some(metrics) = &self.metrics {
            metrics.event(event);
        }
    }

    fn duplicate_dropped(&self, _event: &AuditLogEvent) {
        if let Some(metrics) = &self.metrics {
            metrics.duplicate();
        }
    }

    fn fallback(&self, event: &AuditLogEvent) {
        self.fallback_types.log(event);
        if let Some(metrics) = &self.metrics {
            metrics.fallback();
        }
    }

    fn committed(&self) {
        if let Some(metrics) = &self.metrics {
            metrics.committed();
        }
    }

    fn checkpoint_saved(&self, _query: &Query) {
        if let Some(metrics) = &self.metrics {
            metrics.checkpoint_saved();
        }
    }

    fn note(&self, message: &str) {
        self.progress.note(message);
    }

    fn finished(&self) {
        self.progress.finish();
    }
}

/// Logs, once per event type, that events of that type go to the fallback destination.
#[derive(Default)]
pub struct FallbackLog(std::sync::Mutex<std::collections::HashSet<String>>);

impl FallbackLog {
    /// `event` went to the fallback destination: logged when it is the first of its type.
    pub fn log(&self, event: &AuditLogEvent) {
        let event_type = event.event_type().to_string();
        let first = self
            .0
            .lock()
            .expect("not poisoned")
            .insert(event_type.clone());
        if first {
            tracing::warn!(
                %event_type,
                "events of this type map to OCSF Base Event, which no Security Lake source \
                 takes; they go to the fallback destination, as received (logged once per type)"
            );
        }
    }
}

/// Runs an export or a follow until it ends or the process is asked to stop (SIGINT,
/// SIGTERM).
pub async fn run(
    args: &SourceArgs,
    client: &Client,
    plan: Plan,
    progress: &Progress,
) -> Result<Summary, CliError> {
    run_until(
        args,
        client,
        plan,
        progress,
        None,
        crate::signals::interrupted(),
    )
    .await
}

/// [`run`], stopped by `stop` instead of the process's signals: when it completes, what was
/// written is committed and the run ends as interrupted. `asana-audit run` gives every source
/// one shared stop, and its name (`source`) for the metrics.
pub async fn run_until(
    args: &SourceArgs,
    client: &Client,
    plan: Plan,
    progress: &Progress,
    source: Option<&str>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Summary, CliError> {
    let Plan { planned, mode } = plan;
    let follow = match mode {
        Mode::Follow { interval, .. } => Some(interval),
        Mode::Export { .. } => None,
    };
    // Before the first request, so that the source counts for `/readyz` from its start.
    let watch = Watch {
        progress,
        metrics: crate::metrics::watch(crate::metrics::Ws::new(source, &args.workspace), follow),
        fallback_types: FallbackLog::default(),
    };
    for warning in planned.query().warnings() {
        tracing::warn!("{warning}");
    }
    // Follow, backfill and drain are one stream type; `next` is cancel-safe: an interrupted
    // call loses nothing.
    let stream = |request: EventsRequest| match mode {
        Mode::Follow {
            interval,
            lookback: Some(window),
        } => request.lookback(window).follow(interval),
        Mode::Follow { interval, .. } => request.follow(interval),
        Mode::Export { concurrency } if concurrency > 1 => {
            request.backfill(Backfill::concurrency(concurrency))
        }
        Mode::Export { .. } => request.stream(),
    };
    let summary = planned.run(client, stream, stop, &watch).await?;
    if summary.stopped {
        return Err(CliError {
            failure: Failure::Interrupted,
            message: "interrupted: output flushed and checkpoint saved".to_string(),
        });
    }
    Ok(summary)
}
