//! Progress on stderr: events, rate, and for bounded windows how far through time the export is.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use asana_audit_log::{AuditLogEvent, Query};
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::When;

/// Update the displayed counters every this many events (drawing is throttled anyway).
const UPDATE_EVERY: u64 = 128;

/// A progress display on stderr that may be hidden.
pub struct Progress {
    bar: ProgressBar,
    /// The start of a bounded window: positions are seconds since it.
    window_start: OnceLock<DateTime<Utc>>,
    events: AtomicU64,
}

impl Progress {
    /// A display on stderr, shown according to `when`.
    pub fn new(when: When) -> Self {
        let visible = match when {
            When::Always => true,
            When::Never => false,
            When::Auto => std::io::stderr().is_terminal(),
        };
        let bar = if visible {
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        Progress {
            bar,
            window_start: OnceLock::new(),
            events: AtomicU64::new(0),
        }
    }

    /// Sets the display up for a query: with a bar and an ETA over its time window when the
    /// window has both ends, else a spinner with counters.
    pub fn start(&self, query: &Query) {
        if let (Some(start), Some(end)) = (query.start_at(), query.end_at()) {
            let _ = self.window_start.set(start);
            self.bar
                .set_length((end - start).num_seconds().max(1) as u64);
            self.bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} {wide_bar} {percent}% of the window, eta {eta}",
                )
                .expect("a valid template"),
            );
            self.tick("waiting for the first page");
        } else {
            self.start_counting("waiting for the first page");
        }
    }

    /// Sets the display up as a spinner with counters, showing `message` until the first
    /// event (for a stream with no time window, such as `convert`'s input).
    pub fn start_counting(&self, message: &'static str) {
        self.bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("a valid template"),
        );
        self.tick(message);
    }

    fn tick(&self, message: &'static str) {
        self.bar.set_message(message);
        // The tick is a thread that wakes five times a second: a hidden display (every
        // source of `run`) has nothing to redraw.
        if !self.bar.is_hidden() {
            self.bar.enable_steady_tick(Duration::from_millis(200));
        }
    }

    /// Counts `n` more events that carry no time to show (`convert`'s, once mapped).
    pub fn events(&self, n: u64) {
        let total = self.events.fetch_add(n, Ordering::Relaxed) + n;
        let per_sec = total as f64 / self.bar.elapsed().as_secs_f64().max(0.001);
        self.bar
            .set_message(format!("{total} events ({per_sec:.0}/s)"));
    }

    /// Counts one event.
    pub fn event(&self, event: &AuditLogEvent) {
        let n = self.events.fetch_add(1, Ordering::Relaxed) + 1;
        if !n.is_multiple_of(UPDATE_EVERY) && n != 1 {
            return;
        }
        let per_sec = n as f64 / self.bar.elapsed().as_secs_f64().max(0.001);
        self.bar.set_message(format!(
            "{n} events ({per_sec:.0}/s), at {}",
            event.created_at().format("%Y-%m-%d %H:%M:%S")
        ));
        if let Some(start) = self.window_start.get() {
            self.bar
                .set_position((event.created_at() - *start).num_seconds().max(0) as u64);
        }
    }

    /// Prints a line above the display, or logs it when the display is hidden.
    pub fn note(&self, line: &str) {
        if self.bar.is_hidden() {
            tracing::info!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    /// Removes the display.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
