//! `--metrics-addr` and `--alert-silence`: Prometheus metrics per workspace, `/healthz`,
//! `/readyz`, and a warning when the log falls silent.
//!
//! One [`Metrics`] serves the whole process (every workspace a process follows is a label on
//! the same endpoint; under `run`, every source too), so it is installed once, by [`start`],
//! and found through [`watch`] and [`observer`] rather than threaded through every call.
//! Without `--metrics-addr` and `--alert-silence` nothing is installed and the hooks cost a
//! load of an empty `OnceLock`.
//!
//! Request-level facts (pages, bytes, statuses, retries, latency) come from the library through
//! its [`RequestObserver`]; events, duplicates, commits and checkpoint saves from the
//! pipeline's observer (`export.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use asana_audit_log::AuditLogEvent;
use asana_audit_log::observe::{RequestObserver, RetryReason};
use asana_audit_log_pipeline::{AlertObserver, AlertTarget};
use asana_audit_rules::Alert;
use chrono::Utc;
use prometheus_client::encoding::{EncodeLabel, EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::cli::MonitorArgs;
use crate::error::CliError;

/// `/readyz` fails once the last successful poll is older than this many poll intervals ...
pub const READY_POLL_INTERVALS: u32 = 3;
/// ... plus this slack (room for a slow answer or a `Retry-After`).
pub const READY_SLACK: Duration = Duration::from_secs(60);

/// The labels of every metric: the source's name (under `run`; `export` and `follow` have
/// one source and no such label) and the workspace gid.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Ws {
    source: Option<String>,
    workspace: String,
}

impl Ws {
    /// The labels of `workspace`, read by the source named `source` (`None` outside `run`).
    pub fn new(source: Option<&str>, workspace: &str) -> Ws {
        Ws {
            source: source.map(str::to_owned),
            workspace: workspace.to_owned(),
        }
    }

    /// How reports name it: the source (and its workspace), or the workspace.
    fn describe(&self) -> String {
        match &self.source {
            Some(source) => format!("source {source} (workspace {})", self.workspace),
            None => format!("workspace {}", self.workspace),
        }
    }
}

impl EncodeLabelSet for Ws {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        if let Some(source) = &self.source {
            ("source", source.as_str()).encode(encoder.encode_label())?;
        }
        ("workspace", self.workspace.as_str()).encode(encoder.encode_label())
    }
}

/// A source's labels and a retry reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct WsReason {
    ws: Ws,
    reason: &'static str,
}

impl EncodeLabelSet for WsReason {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        self.ws.encode(encoder)?;
        ("reason", self.reason).encode(encoder.encode_label())
    }
}

/// A source's labels and an HTTP status (`none` when there was no usable answer).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct WsStatus {
    ws: Ws,
    status: String,
}

impl EncodeLabelSet for WsStatus {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        self.ws.encode(encoder)?;
        ("status", self.status.as_str()).encode(encoder.encode_label())
    }
}

/// A source's labels and a rule (its Sigma id) or an alert target.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct WsRule {
    ws: Ws,
    key: &'static str,
    value: String,
}

impl EncodeLabelSet for WsRule {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        self.ws.encode(encoder)?;
        (self.key, self.value.as_str()).encode(encoder.encode_label())
    }
}

type Seconds = Gauge<f64, AtomicU64>;

/// Request latency buckets: 10 ms to about 82 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 14))
}

/// The metric families, all labelled by workspace.
struct Families {
    events: Family<Ws, Counter>,
    pages: Family<Ws, Counter>,
    bytes: Family<Ws, Counter>,
    duplicates: Family<Ws, Counter>,
    fallback: Family<Ws, Counter>,
    late: Family<Ws, Counter>,
    requests: Family<WsStatus, Counter>,
    rate_limited: Family<Ws, Counter>,
    retries: Family<WsReason, Counter>,
    latency: Family<Ws, Histogram, fn() -> Histogram>,
    newest_event: Family<Ws, Seconds>,
    lag: Family<Ws, Seconds>,
    last_poll: Family<Ws, Seconds>,
    last_commit: Family<Ws, Seconds>,
    checkpoint_saves: Family<Ws, Counter>,
    silent: Family<Ws, Gauge>,
    alert_matches: Family<WsRule, Counter>,
    alerts_sent: Family<WsRule, Counter>,
    alerts_failed: Family<WsRule, Counter>,
    alerts_dropped: Family<WsRule, Counter>,
    alert_queue: Family<WsRule, Gauge>,
}

impl Families {
    fn register(registry: &mut Registry) -> Families {
        let families = Families {
            events: Family::default(),
            pages: Family::default(),
            bytes: Family::default(),
            duplicates: Family::default(),
            fallback: Family::default(),
            late: Family::default(),
            requests: Family::default(),
            rate_limited: Family::default(),
            retries: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            newest_event: Family::default(),
            lag: Family::default(),
            last_poll: Family::default(),
            last_commit: Family::default(),
            checkpoint_saves: Family::default(),
            silent: Family::default(),
            alert_matches: Family::default(),
            alerts_sent: Family::default(),
            alerts_failed: Family::default(),
            alerts_dropped: Family::default(),
            alert_queue: Family::default(),
        };
        let f = &families;
        registry.register(
            "events_received",
            "Events the stream delivered (duplicates included)",
            f.events.clone(),
        );
        registry.register(
            "pages_received",
            "Pages received (answers with status 200 and a readable body)",
            f.pages.clone(),
        );
        registry.register(
            "bytes_received",
            "Bytes of event JSON received in pages (without the page envelope)",
            f.bytes.clone(),
        );
        registry.register(
            "duplicates_dropped",
            "Events delivered again after a restart and dropped because the output had them",
            f.duplicates.clone(),
        );
        registry.register(
            "fallback_events",
            "Events of no Security Lake class (OCSF Base Event) written to the fallback destination",
            f.fallback.clone(),
        );
        registry.register(
            "late_events_caught",
            "Events that arrived late (created before events already delivered) and were caught by the lookback",
            f.late.clone(),
        );
        registry.register(
            "requests",
            "Requests answered, by HTTP status (none: no usable answer)",
            f.requests.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused with 429",
            f.rate_limited.clone(),
        );
        registry.register(
            "retries",
            "Requests sent again, by reason",
            f.retries.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from sending a request to reading its answer",
            f.latency.clone(),
        );
        registry.register(
            "newest_event_timestamp_seconds",
            "created_at of the newest event delivered (Unix time)",
            f.newest_event.clone(),
        );
        registry.register(
            "newest_event_lag_seconds",
            "How far the newest event delivered is behind now",
            f.lag.clone(),
        );
        registry.register(
            "last_successful_poll_timestamp_seconds",
            "When a request last returned a page (Unix time)",
            f.last_poll.clone(),
        );
        registry.register(
            "last_commit_timestamp_seconds",
            "When written events were last made durable or committed (Unix time)",
            f.last_commit.clone(),
        );
        registry.register(
            "checkpoint_saves",
            "Checkpoint files saved",
            f.checkpoint_saves.clone(),
        );
        registry.register(
            "silent",
            "1 while no event has arrived for --alert-silence, else 0",
            f.silent.clone(),
        );
        registry.register(
            "alert_matches",
            "Alerts the rules raised, by rule (repeats folded by the dedup period included)",
            f.alert_matches.clone(),
        );
        registry.register(
            "alerts_sent",
            "Alerts delivered to a target, by rule",
            f.alerts_sent.clone(),
        );
        registry.register(
            "alert_delivery_failures",
            "Failed attempts to deliver an alert (retried, or refused with a 4xx), by rule",
            f.alerts_failed.clone(),
        );
        registry.register(
            "alerts_dropped",
            "Alerts dropped because a target's queue was full, by rule",
            f.alerts_dropped.clone(),
        );
        registry.register(
            "alert_queue_depth",
            "Alerts waiting for delivery, by target",
            f.alert_queue.clone(),
        );
        families
    }
}

/// What is known of one source beyond its metrics: for readiness, the lag and the silence
/// alarm.
struct Watch {
    /// When it was first seen (the reference before its first poll or event).
    since: Instant,
    /// How old its last successful poll may be for `/readyz`.
    ready_within: Mutex<Duration>,
    last_poll: Mutex<Option<Instant>>,
    last_event: Mutex<Option<Instant>>,
    /// The newest `created_at` delivered, in milliseconds since the epoch (`i64::MIN`: none).
    newest_ms: AtomicI64,
    /// Whether the silence alarm is raised.
    silent: Mutex<bool>,
}

impl Watch {
    /// How long ago `last` happened (a poll, an event), or the source was first seen when it
    /// has not happened yet.
    fn since_last(&self, last: &Mutex<Option<Instant>>) -> Duration {
        last.lock()
            .expect("not poisoned")
            .unwrap_or(self.since)
            .elapsed()
    }
}

/// The process's metrics and health state.
pub struct Metrics {
    registry: Registry,
    families: Families,
    watches: Mutex<HashMap<Ws, Arc<Watch>>>,
}

static INSTALLED: OnceLock<Arc<Metrics>> = OnceLock::new();

/// The request observer of the client of `labels`, when metrics are installed.
pub fn observer(labels: Ws) -> Option<Arc<dyn RequestObserver>> {
    INSTALLED.get().map(|metrics| {
        Arc::new(Requests {
            metrics: Arc::clone(metrics),
            labels,
        }) as Arc<dyn RequestObserver>
    })
}

/// The alerting stage's observer of `labels`, when metrics are installed.
pub fn alerts(labels: Ws) -> Option<Arc<dyn AlertObserver>> {
    INSTALLED.get().map(|metrics| {
        Arc::new(AlertMetrics {
            metrics: Arc::clone(metrics),
            labels,
        }) as Arc<dyn AlertObserver>
    })
}

/// Per-rule and per-target alert metrics of one source.
struct AlertMetrics {
    metrics: Arc<Metrics>,
    labels: Ws,
}

impl std::fmt::Debug for AlertMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertMetrics")
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

impl AlertMetrics {
    fn rule(&self, alert: &Alert) -> WsRule {
        WsRule {
            ws: self.labels.clone(),
            key: "rule",
            value: alert.rule.clone(),
        }
    }
}

impl AlertObserver for AlertMetrics {
    fn raised(&self, alert: &Alert) {
        let f = &self.metrics.families;
        f.alert_matches.get_or_create(&self.rule(alert)).inc();
    }

    fn dropped(&self, alert: &Alert, _target: &AlertTarget) {
        let f = &self.metrics.families;
        f.alerts_dropped.get_or_create(&self.rule(alert)).inc();
    }

    fn delivered(&self, alert: &Alert, _target: &AlertTarget) {
        let f = &self.metrics.families;
        f.alerts_sent.get_or_create(&self.rule(alert)).inc();
    }

    fn failed(&self, alert: &Alert, _target: &AlertTarget, _refused: bool) {
        let f = &self.metrics.families;
        f.alerts_failed.get_or_create(&self.rule(alert)).inc();
    }

    fn queue(&self, target: &AlertTarget, depth: usize) {
        let label = WsRule {
            ws: self.labels.clone(),
            key: "target",
            value: target.to_string(),
        };
        let f = &self.metrics.families;
        f.alert_queue.get_or_create(&label).set(depth as i64);
    }
}

/// The hooks of `labels` for the pipeline, when metrics are installed. `poll_interval` is
/// follow's, for the `/readyz` bound: [`READY_POLL_INTERVALS`] of them plus [`READY_SLACK`].
pub fn watch(labels: Ws, poll_interval: Option<Duration>) -> Option<WorkspaceMetrics> {
    INSTALLED
        .get()
        .map(|metrics| metrics.workspace(labels, poll_interval))
}

/// The hooks of one source, for the pipeline's observer.
pub struct WorkspaceMetrics {
    metrics: Arc<Metrics>,
    label: Ws,
    watch: Arc<Watch>,
}

impl WorkspaceMetrics {
    /// The stream delivered `event`.
    pub fn event(&self, event: &AuditLogEvent) {
        let f = &self.metrics.families;
        f.events.get_or_create(&self.label).inc();
        *self.watch.last_event.lock().expect("not poisoned") = Some(Instant::now());
        let created = event.created_at().timestamp_millis();
        let newest = self
            .watch
            .newest_ms
            .fetch_max(created, std::sync::atomic::Ordering::Relaxed)
            .max(created);
        f.newest_event
            .get_or_create(&self.label)
            .set(newest as f64 / 1000.0);
    }

    /// An event delivered again was dropped.
    pub fn duplicate(&self) {
        let f = &self.metrics.families;
        f.duplicates.get_or_create(&self.label).inc();
    }

    /// An event of no Security Lake class went to the fallback destination.
    pub fn fallback(&self) {
        let f = &self.metrics.families;
        f.fallback.get_or_create(&self.label).inc();
    }

    /// Written events were made durable (and covered by a checkpoint, when there is one).
    pub fn committed(&self) {
        let f = &self.metrics.families;
        f.last_commit.get_or_create(&self.label).set(unix_now());
    }

    /// A checkpoint was saved.
    pub fn checkpoint_saved(&self) {
        let f = &self.metrics.families;
        f.checkpoint_saves.get_or_create(&self.label).inc();
    }

    /// `count` late events were caught: the hook for the lookback of `follow` (in its own
    /// branch), which calls it as it delivers an event created before the newest one.
    #[cfg_attr(not(test), allow(dead_code, reason = "called by follow's lookback"))]
    pub fn late_events_caught(&self, count: u64) {
        let f = &self.metrics.families;
        f.late.get_or_create(&self.label).inc_by(count);
    }
}

fn unix_now() -> f64 {
    Utc::now().timestamp_millis() as f64 / 1000.0
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("asana_audit");
        let families = Families::register(&mut registry);
        Metrics {
            registry,
            families,
            watches: Mutex::new(HashMap::new()),
        }
    }

    fn watch(&self, labels: &Ws) -> Arc<Watch> {
        let mut watches = self.watches.lock().expect("not poisoned");
        let watch = watches.entry(labels.clone()).or_insert_with(|| {
            Arc::new(Watch {
                since: Instant::now(),
                ready_within: Mutex::new(ready_within(None)),
                last_poll: Mutex::new(None),
                last_event: Mutex::new(None),
                newest_ms: AtomicI64::new(i64::MIN),
                silent: Mutex::new(false),
            })
        });
        Arc::clone(watch)
    }

    /// The hooks of `label` (which from now on counts for `/readyz` and the alarm), polled
    /// every `poll_interval` (`None`: an export).
    pub fn workspace(
        self: &Arc<Self>,
        label: Ws,
        poll_interval: Option<Duration>,
    ) -> WorkspaceMetrics {
        // Shown at 0 from the start rather than missing until the first of each.
        let f = &self.families;
        for family in [
            &f.events,
            &f.pages,
            &f.duplicates,
            &f.fallback,
            &f.late,
            &f.checkpoint_saves,
        ] {
            let _ = family.get_or_create(&label);
        }
        let _ = f.silent.get_or_create(&label);
        let watch = self.watch(&label);
        *watch.ready_within.lock().expect("not poisoned") = ready_within(poll_interval);
        WorkspaceMetrics {
            metrics: Arc::clone(self),
            watch,
            label,
        }
    }

    /// The text exposition (OpenMetrics, which Prometheus reads), with the lags computed now.
    fn encode(&self) -> String {
        let now_ms = Utc::now().timestamp_millis();
        for (label, watch) in self.watches.lock().expect("not poisoned").iter() {
            let newest = watch.newest_ms.load(std::sync::atomic::Ordering::Relaxed);
            if newest != i64::MIN {
                let lag = (now_ms - newest).max(0) as f64 / 1000.0;
                self.families.lag.get_or_create(label).set(lag);
            }
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }

    /// `None` when ready, else why not: each source (or workspace) whose last successful poll
    /// (or its start, before the first) is older than its bound, in name order.
    fn not_ready(&self) -> Option<String> {
        let watches = self.watches.lock().expect("not poisoned");
        let mut behind: Vec<(&Ws, String)> = watches
            .iter()
            .filter_map(|(label, watch)| {
                let age = watch.since_last(&watch.last_poll);
                let bound = *watch.ready_within.lock().expect("not poisoned");
                (age > bound).then(|| {
                    let why = format!(
                        "{}: last successful poll {}s ago (bound {}s)",
                        label.describe(),
                        age.as_secs(),
                        bound.as_secs()
                    );
                    (label, why)
                })
            })
            .collect();
        behind.sort_by(|a, b| (&a.0.source, &a.0.workspace).cmp(&(&b.0.source, &b.0.workspace)));
        (!behind.is_empty()).then(|| {
            behind
                .into_iter()
                .map(|(_, why)| why)
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    /// Raises or clears each workspace's silence alarm.
    fn check_silence(&self, after: Duration) {
        let watches = self.watches.lock().expect("not poisoned");
        for (label, watch) in watches.iter() {
            let quiet = watch.since_last(&watch.last_event);
            let now_silent = quiet >= after;
            let mut silent = watch.silent.lock().expect("not poisoned");
            if now_silent == *silent {
                continue;
            }
            *silent = now_silent;
            self.families
                .silent
                .get_or_create(label)
                .set(i64::from(now_silent));
            let source = label.source.as_deref().unwrap_or_default();
            let workspace = &label.workspace;
            if now_silent {
                tracing::warn!(
                    source,
                    workspace_gid = %workspace,
                    silent_for = %humantime::format_duration(Duration::from_secs(quiet.as_secs())),
                    "no audit log event has arrived for --alert-silence; is the domain's log still written?"
                );
            } else {
                tracing::warn!(source, workspace_gid = %workspace, "audit log events arrive again");
            }
        }
    }
}

/// The request observer of one source's client: the library's facts under its labels.
struct Requests {
    metrics: Arc<Metrics>,
    labels: Ws,
}

impl Requests {
    /// The labels of a request of `workspace_gid` (the source's own, but a client may read
    /// several workspaces).
    fn labels(&self, workspace_gid: &str) -> Ws {
        Ws::new(self.labels.source.as_deref(), workspace_gid)
    }
}

impl RequestObserver for Requests {
    fn request(&self, workspace_gid: &str, status: Option<u16>, latency: Duration) {
        let f = &self.metrics.families;
        let label = self.labels(workspace_gid);
        let status_label = WsStatus {
            ws: label.clone(),
            status: status.map_or_else(|| "none".to_owned(), |s| s.to_string()),
        };
        f.requests.get_or_create(&status_label).inc();
        if status == Some(429) {
            f.rate_limited.get_or_create(&label).inc();
        }
        f.latency
            .get_or_create(&label)
            .observe(latency.as_secs_f64());
    }

    fn page(&self, workspace_gid: &str, _events: usize, bytes: u64) {
        let f = &self.metrics.families;
        let label = self.labels(workspace_gid);
        f.pages.get_or_create(&label).inc();
        f.bytes.get_or_create(&label).inc_by(bytes);
        f.last_poll.get_or_create(&label).set(unix_now());
        *self
            .metrics
            .watch(&label)
            .last_poll
            .lock()
            .expect("not poisoned") = Some(Instant::now());
    }

    fn retry(&self, workspace_gid: &str, reason: RetryReason, _wait: Duration) {
        let label = WsReason {
            ws: self.labels(workspace_gid),
            reason: reason.as_str(),
        };
        self.metrics.families.retries.get_or_create(&label).inc();
    }
}

/// The background tasks of `--metrics-addr` and `--alert-silence`; stopped when dropped.
pub struct Monitor {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// How old the last successful poll of a source polled every `poll_interval` (`None`: an
/// export) may be for `/readyz`.
fn ready_within(poll_interval: Option<Duration>) -> Duration {
    poll_interval.unwrap_or_default() * READY_POLL_INTERVALS + READY_SLACK
}

/// Installs the metrics and starts the endpoint and the alarm that `args` ask for, before the
/// clients are built (each takes an [`observer`]). Returns `None` when neither option is
/// given.
pub async fn start(args: &MonitorArgs) -> Result<Option<Monitor>, CliError> {
    if args.metrics_addr.is_none() && args.alert_silence.is_none() {
        return Ok(None);
    }
    let metrics = Arc::clone(INSTALLED.get_or_init(|| Arc::new(Metrics::new())));
    let mut tasks = Vec::new();
    if let Some(addr) = args.metrics_addr {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| CliError::input(format!("cannot listen on --metrics-addr {addr}: {e}")))?;
        let local = listener.local_addr().unwrap_or(addr);
        tracing::info!(%local, "serving /metrics, /healthz and /readyz");
        tasks.push(tokio::spawn(serve(listener, Arc::clone(&metrics))));
    }
    if let Some(after) = args.alert_silence {
        // Checked often enough that the alarm is late by at most a tenth of its threshold.
        let every = (after / 10).clamp(Duration::from_millis(100), Duration::from_secs(10));
        let metrics = Arc::clone(&metrics);
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                metrics.check_silence(after);
            }
        }));
    }
    Ok(Some(Monitor { tasks }))
}

/// The largest request head read; anything longer is refused.
const MAX_HEAD: usize = 8 * 1024;

/// Serves `/metrics`, `/healthz` and `/readyz`.
///
/// A tiny HTTP/1.1 responder on tokio rather than hyper's server: three fixed GET routes,
/// one answer per connection (`Connection: close`), no bodies to read. hyper is in the tree
/// through reqwest, but only with its client features; its server and a service layer would
/// add more code to the binary than this whole function, for nothing these routes need.
async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            // A client that sends nothing is dropped after a while.
            let _ = tokio::time::timeout(Duration::from_secs(10), answer(stream, &metrics)).await;
        });
    }
}

async fn answer(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    let (status, content_type, body) = if method != b"GET" && method != b"HEAD" {
        (
            "405 Method Not Allowed",
            "text/plain",
            "use GET\n".to_owned(),
        )
    } else {
        match path {
            b"/metrics" => (
                "200 OK",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                metrics.encode(),
            ),
            b"/healthz" => ("200 OK", "text/plain", "ok\n".to_owned()),
            b"/readyz" => match metrics.not_ready() {
                None => ("200 OK", "text/plain", "ready\n".to_owned()),
                Some(why) => ("503 Service Unavailable", "text/plain", format!("{why}\n")),
            },
            _ => (
                "404 Not Found",
                "text/plain",
                "try /metrics, /healthz or /readyz\n".to_owned(),
            ),
        }
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != b"HEAD" {
        response.extend_from_slice(body.as_bytes());
    }
    stream.write_all(&response).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_and_silence_follow_the_workspace_state() {
        let metrics = Arc::new(Metrics::new());
        let ws = metrics.workspace(Ws::new(None, "42"), None);
        *ws.watch.ready_within.lock().unwrap() = Duration::from_millis(50);
        let requests = Requests {
            metrics: Arc::clone(&metrics),
            labels: Ws::new(None, "42"),
        };
        assert_eq!(metrics.not_ready(), None, "ready while starting");
        std::thread::sleep(Duration::from_millis(80));
        assert!(metrics.not_ready().unwrap().contains("workspace 42"));
        requests.page("42", 3, 120);
        assert_eq!(metrics.not_ready(), None);

        metrics.check_silence(Duration::from_millis(50));
        assert!(
            metrics
                .encode()
                .contains("asana_audit_silent{workspace=\"42\"} 1")
        );
        ws.late_events_caught(2);
        let text = metrics.encode();
        assert!(text.contains("asana_audit_late_events_caught_total{workspace=\"42\"} 2"));
        assert!(text.contains("asana_audit_bytes_received_total{workspace=\"42\"} 120"));
    }

    #[test]
    fn the_sources_of_run_are_labelled_and_each_one_behind_is_named() {
        let metrics = Arc::new(Metrics::new());
        let poll = Some(Duration::from_secs(30));
        let acme = metrics.workspace(Ws::new(Some("acme"), "1"), poll);
        let beta = metrics.workspace(Ws::new(Some("beta"), "1"), poll);
        assert_eq!(
            *acme.watch.ready_within.lock().unwrap(),
            Duration::from_secs(30) * READY_POLL_INTERVALS + READY_SLACK
        );
        for source in [&acme, &beta] {
            *source.watch.ready_within.lock().unwrap() = Duration::from_millis(30);
        }
        std::thread::sleep(Duration::from_millis(80));
        let why = metrics.not_ready().unwrap();
        assert!(
            why.starts_with("source acme (workspace 1): last successful poll"),
            "{why}"
        );
        assert!(why.contains("; source beta (workspace 1): "), "{why}");
        let requests = Requests {
            metrics: Arc::clone(&metrics),
            labels: Ws::new(Some("acme"), "1"),
        };
        requests.page("1", 1, 10);
        let why = metrics.not_ready().unwrap();
        assert!(
            !why.contains("acme") && why.contains("source beta"),
            "{why}"
        );
        acme.checkpoint_saved();
        let text = metrics.encode();
        assert!(
            text.contains("asana_audit_checkpoint_saves_total{source=\"acme\",workspace=\"1\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("asana_audit_checkpoint_saves_total{source=\"beta\",workspace=\"1\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("asana_audit_bytes_received_total{source=\"acme\",workspace=\"1\"} 10"),
            "{text}"
        );
    }
}
