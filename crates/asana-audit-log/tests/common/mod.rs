//! What the library's test files share.

// Each test file is its own crate that includes this module and uses only some of it; the
// rest would be dead code there, and clippy runs with `-D warnings`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use asana_audit_log::config::RetryPolicy;
use asana_audit_log::{Client, ClientBuilder};
use asana_audit_log_mock::MockServer;
use chrono::{DateTime, Utc};

/// The mock's frozen clock: tests move it by hand.
pub fn now() -> DateTime<Utc> {
    "2025-06-01T00:00:00Z".parse().unwrap()
}

/// Retries without real waiting: tests never sleep for long.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_retries(12)
        .with_delays(Duration::from_millis(1), Duration::from_millis(4))
        .with_max_retry_after(Duration::from_millis(5))
}

/// A client builder for `server` with [`fast_retries`] and no client-side rate limit.
pub fn builder_for(server: &MockServer) -> ClientBuilder {
    Client::builder()
        .token(server.token())
        .base_url(server.base_url())
        .retry_policy(fast_retries())
        .no_rate_limit()
}

/// A client for `server` from [`builder_for`].
pub fn client_for(server: &MockServer) -> Client {
    builder_for(server).build().unwrap()
}

/// A `tracing` writer that keeps everything in memory.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Captures every `tracing` event at TRACE on this thread until the guard drops. All the
    /// capturing tests use TRACE: subscribers of different levels in one test binary would let
    /// `tracing` cache a callsite as disabled for both.
    pub fn trace() -> (Captured, tracing::subscriber::DefaultGuard) {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }

    /// What was captured so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}
