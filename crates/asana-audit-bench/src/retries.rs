//! Counts the ergonomic client's retries, and among them the ones caused by HTTP 429, from its
//! `tracing` warnings: the only place the client reports them. With a timeline it also records
//! when each page arrived and when each 429 did (the client's debug event "page received").
//!
//! The subscriber accepts warnings and errors only (and, with a timeline, the HTTP module's
//! debug events, not its spans), so the client's per-request debug spans stay disabled at their
//! call sites and cost what they cost with no subscriber at all.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, span};

/// The message the client logs before each retry (`asana-audit-log`, `http.rs`).
const RETRY_MESSAGE: &str = "retrying audit log request";
/// The client's debug message for each page answered (`http.rs`).
const PAGE_MESSAGE: &str = "page received";
/// The `tracing` target of the client's HTTP module.
const HTTP_TARGET: &str = "asana_audit_log::http";

/// When pages and 429s arrived, in milliseconds from the timeline's start.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// Pages answered.
    pub answered_ms: Vec<f64>,
    /// Retries after a 429.
    pub throttled_ms: Vec<f64>,
}

/// Retry counts shared between the subscriber and the contender.
#[derive(Debug, Default)]
pub struct RetryCounts {
    retries: AtomicU64,
    rate_limited: AtomicU64,
    /// The timeline's start and contents, when one is kept.
    timeline: Option<(Instant, Mutex<Timeline>)>,
}

impl RetryCounts {
    /// Retries of any cause.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Retries after an HTTP 429.
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }

    /// The timeline so far (empty when none is kept).
    pub fn timeline(&self) -> Timeline {
        self.timeline
            .as_ref()
            .map(|(_, timeline)| timeline.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .unwrap_or_default()
    }

    fn record(&self, what: fn(&mut Timeline) -> &mut Vec<f64>) {
        if let Some((start, timeline)) = &self.timeline {
            let ms = start.elapsed().as_secs_f64() * 1e3;
            what(&mut timeline.lock().unwrap_or_else(|e| e.into_inner())).push(ms);
        }
    }
}

/// A `tracing` subscriber that counts retry warnings and prints every warning to stderr.
pub struct RetryCounter {
    counts: Arc<RetryCounts>,
}

impl RetryCounter {
    /// Installs the counter as the global subscriber and returns its counts; with `timeline`,
    /// it also records when pages and 429s arrive, from now.
    pub fn install(timeline: bool) -> anyhow::Result<Arc<RetryCounts>> {
        let counts = Arc::new(RetryCounts {
            timeline: timeline.then(|| (Instant::now(), Mutex::default())),
            ..RetryCounts::default()
        });
        tracing::subscriber::set_global_default(RetryCounter {
            counts: counts.clone(),
        })?;
        Ok(counts)
    }

    fn wanted(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::WARN
            || (self.counts.timeline.is_some()
                && metadata.is_event()
                && metadata.target() == HTTP_TARGET)
    }
}

/// Collects an event's `message` and `error` fields as text.
#[derive(Default)]
struct Fields {
    message: String,
    error: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "error" => self.error = format!("{value:?}"),
            _ => {}
        }
    }
}

impl tracing::Subscriber for RetryCounter {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.wanted(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.wanted(metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(if self.counts.timeline.is_some() {
            LevelFilter::DEBUG
        } else {
            LevelFilter::WARN
        })
    }

    fn new_span(&self, _span: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _span: &span::Id, _values: &span::Record<'_>) {}

    fn record_follows_from(&self, _span: &span::Id, _follows: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        if *event.metadata().level() > Level::WARN {
            if fields.message == PAGE_MESSAGE {
                self.counts.record(|t| &mut t.answered_ms);
            }
            return;
        }
        if fields.message == RETRY_MESSAGE {
            self.counts.retries.fetch_add(1, Ordering::Relaxed);
            if fields.error.contains("HTTP 429") {
                self.counts.rate_limited.fetch_add(1, Ordering::Relaxed);
                self.counts.record(|t| &mut t.throttled_ms);
            }
        }
        eprintln!(
            "asana-audit-bench: {}: {} {}",
            event.metadata().level(),
            fields.message,
            fields.error
        );
    }

    fn enter(&self, _span: &span::Id) {}

    fn exit(&self, _span: &span::Id) {}
}
