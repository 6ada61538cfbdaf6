//! Watching the requests a client sends, for metrics: a [`RequestObserver`] set with
//! [`ClientBuilder::observer`](crate::ClientBuilder::observer) is told each request's status,
//! latency and pages, and each retry with its [`RetryReason`]. Plain types only: this crate
//! ties its users to no metrics library.

use std::time::Duration;

use crate::error::Error;

/// Why a failed request is tried again.
///
/// ```
/// use asana_audit_log::observe::RetryReason;
///
/// assert_eq!(RetryReason::RateLimited.as_str(), "rate_limited");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RetryReason {
    /// HTTP 429: the token's rate limit (or the concurrency limit) was hit.
    RateLimited,
    /// HTTP 5xx or 408.
    ServerError,
    /// The request or the body read timed out.
    Timeout,
    /// The connection failed: refused, reset, or the body ended early.
    Connection,
    /// The body arrived but was not the expected JSON (for example cut short by a proxy).
    InvalidResponse,
}

impl RetryReason {
    /// Every reason, in declaration order.
    pub const ALL: [RetryReason; 5] = [
        RetryReason::RateLimited,
        RetryReason::ServerError,
        RetryReason::Timeout,
        RetryReason::Connection,
        RetryReason::InvalidResponse,
    ];

    /// A short snake_case name, for a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            RetryReason::RateLimited => "rate_limited",
            RetryReason::ServerError => "server_error",
            RetryReason::Timeout => "timeout",
            RetryReason::Connection => "connection",
            RetryReason::InvalidResponse => "invalid_response",
        }
    }

    /// The reason a retryable error is retried for; `None` for an error that is not retried.
    pub(crate) fn of(error: &Error) -> Option<RetryReason> {
        match error {
            Error::RateLimited(_) => Some(RetryReason::RateLimited),
            Error::ServerError(_) => Some(RetryReason::ServerError),
            Error::Transport { source, .. } if source.is_timeout() => Some(RetryReason::Timeout),
            Error::Transport { .. } => Some(RetryReason::Connection),
            Error::InvalidResponse { .. } => Some(RetryReason::InvalidResponse),
            _ => None,
        }
    }
}

/// Told about each request a [`Client`](crate::Client) sends, for metrics; set with
/// [`ClientBuilder::observer`](crate::ClientBuilder::observer). One observer serves all the
/// client's streams, so every call names the workspace.
///
/// The methods are called on the task that sends the request, right after the fact: they should
/// be quick (count and return; never block). Each has a default that does nothing, so an
/// observer implements only what it needs.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::time::Duration;
/// use asana_audit_log::Client;
/// use asana_audit_log::observe::{RequestObserver, RetryReason};
///
/// #[derive(Default)]
/// struct Counts {
///     pages: AtomicU64,
///     retries: AtomicU64,
/// }
///
/// impl RequestObserver for Counts {
///     fn page(&self, _workspace_gid: &str, _events: usize, _bytes: u64) {
///         self.pages.fetch_add(1, Ordering::Relaxed);
///     }
///     fn retry(&self, _workspace_gid: &str, _reason: RetryReason, _wait: Duration) {
///         self.retries.fetch_add(1, Ordering::Relaxed);
///     }
/// }
///
/// let counts = Arc::new(Counts::default());
/// let client = Client::builder()
///     .token("0/1234:secret")
///     .observer(counts.clone())
///     .build()?;
/// # let _ = client;
/// # Ok::<(), asana_audit_log::Error>(())
/// ```
pub trait RequestObserver: Send + Sync {
    /// A request was answered or failed. `status` is the HTTP status (`None` when there was no
    /// usable answer: a connection failure, a timeout, an unreadable body); `latency` runs from
    /// sending the request to reading its body, without the waits for the pace and for a
    /// concurrency permit.
    fn request(&self, workspace_gid: &str, status: Option<u16>, latency: Duration) {
        let _ = (workspace_gid, status, latency);
    }

    /// A page was received (status 200 with a readable body): `events` is how many events it
    /// held, `bytes` the length of their JSON texts together (what an NDJSON export writes,
    /// without the newlines; the page's envelope is not counted).
    fn page(&self, workspace_gid: &str, events: usize, bytes: u64) {
        let _ = (workspace_gid, events, bytes);
    }

    /// A failed request will be sent again after `wait`, for `reason`. Not called when the
    /// retry budget is spent (the error is then returned).
    fn retry(&self, workspace_gid: &str, reason: RetryReason, wait: Duration) {
        let _ = (workspace_gid, reason, wait);
    }
}
