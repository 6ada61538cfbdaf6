//! Counts the ergonomic client's retries, and among them the ones caused by HTTP 429, from its
//! `tracing` warnings: the only place the client reports them.
//!
//! The subscriber accepts warnings and errors only, so the client's per-request debug spans stay
//! disabled at their call sites and cost what they cost with no subscriber at all.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, span};

/// The message the client logs before each retry (`asana-audit-log`, `http.rs`).
const RETRY_MESSAGE: &str = "retrying audit log request";

/// Retry counts shared between the subscriber and the contender.
#[derive(Debug, Default)]
pub struct RetryCounts {
    retries: AtomicU64,
    rate_limited: AtomicU64,
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
}

/// A `tracing` subscriber that counts retry warnings and prints every warning to stderr.
pub struct RetryCounter {
    counts: Arc<RetryCounts>,
}

impl RetryCounter {
    /// Installs the counter as the global subscriber and returns its counts.
    pub fn install() -> anyhow::Result<Arc<RetryCounts>> {
        let counts = Arc::new(RetryCounts::default());
        tracing::subscriber::set_global_default(RetryCounter {
            counts: counts.clone(),
        })?;
        Ok(counts)
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

fn wanted(metadata: &Metadata<'_>) -> bool {
    *metadata.level() <= Level::WARN
}

impl tracing::Subscriber for RetryCounter {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if wanted(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        wanted(metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::WARN)
    }

    fn new_span(&self, _span: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _span: &span::Id, _values: &span::Record<'_>) {}

    fn record_follows_from(&self, _span: &span::Id, _follows: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.message == RETRY_MESSAGE {
            self.counts.retries.fetch_add(1, Ordering::Relaxed);
            if fields.error.contains("HTTP 429") {
                self.counts.rate_limited.fetch_add(1, Ordering::Relaxed);
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
