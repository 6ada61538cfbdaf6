//! Everything that touches HTTP, around the generated client's one call: the `reqwest` client
//! (auth header, user agent, timeouts, redirect policy), the response body cap (enforced by the
//! generated client's `exec` hook, configured here), retries with backoff and `Retry-After`,
//! the client-side request pace (adapted to 429s, see [`pacer`]), the concurrency cap and
//! request tracing. The stream code above
//! asks for pages and never sees HTTP.

use std::fmt;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use asana_audit_log_api::types::ErrorResponse;
use asana_audit_log_api::{BodyTooLarge, ResponseLimits};
use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde_json::value::RawValue;
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::error::{ApiError, AsanaError, Error, HttpError};
use crate::observe::{RequestObserver, RetryReason};
use crate::query::Query;
use crate::settings::Settings;

mod pacer;

use pacer::Pacer;

/// How transient failures are retried: HTTP 429 (after `Retry-After`), 5xx and 408, timeouts,
/// connection failures and unreadable (e.g. truncated) bodies.
///
/// Waits grow exponentially from `min_delay` to `max_delay`, each stretched by a random factor
/// in `[1, 2)` when `jitter` is on, so concurrent clients do not retry in step. A 429 with a
/// `Retry-After` waits that long instead, at most `max_retry_after`. A retried page is requested
/// again with the same offset, so retries never skip or repeat an event. Errors that retrying
/// cannot fix (400, 401, 402, 403, 404, other statuses) are returned at once.
///
/// ```
/// use std::time::Duration;
/// use asana_audit_log::config::RetryPolicy;
///
/// let mut policy = RetryPolicy::default();
/// assert_eq!(policy.max_retries, 8);
/// policy.max_retries = 3;
/// let policy = policy.with_delays(Duration::from_millis(100), Duration::from_secs(5));
/// assert_eq!(RetryPolicy::none().max_retries, 0);
/// # let _ = policy;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = never retry).
    pub max_retries: u32,
    /// The first backoff wait.
    pub min_delay: Duration,
    /// The longest backoff wait (before jitter).
    pub max_delay: Duration,
    /// The longest wait a `Retry-After` header may impose.
    pub max_retry_after: Duration,
    /// Whether backoff waits are randomly stretched.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    /// 8 retries, waits from 500 ms to 30 s with jitter, `Retry-After` honoured up to 5 minutes.
    fn default() -> Self {
        RetryPolicy {
            max_retries: 8,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// Never retry: every failure is returned at once.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// The same policy with another number of retries.
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// The same policy with other backoff bounds (`max_delay` at least `min_delay`, checked
    /// when the client is built).
    pub fn with_delays(mut self, min_delay: Duration, max_delay: Duration) -> Self {
        self.min_delay = min_delay;
        self.max_delay = max_delay;
        self
    }

    /// The same policy with another cap on `Retry-After` waits.
    pub fn with_max_retry_after(mut self, max_retry_after: Duration) -> Self {
        self.max_retry_after = max_retry_after;
        self
    }

    /// The same policy with jitter on or off.
    pub fn with_jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    fn backoff(&self) -> ExponentialBuilder {
        let builder = ExponentialBuilder::new()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay.max(self.min_delay))
            .with_max_times(self.max_retries as usize);
        if self.jitter {
            builder.with_jitter()
        } else {
            builder
        }
    }
}

/// One page as the stream code sees it.
pub(crate) struct FetchedPage {
    /// The events' exact JSON texts.
    pub(crate) events: Vec<Box<RawValue>>,
    /// `next_page.offset`; `None` when `next_page` is absent or null (the filters never
    /// matched), or carries no offset (or an empty one).
    pub(crate) next_offset: Option<String>,
}

/// The HTTP side of a [`Client`](crate::Client), shared by all its streams.
pub(crate) struct Transport {
    api: asana_audit_log_api::Client,
    settings: Settings,
    /// `None` when the client's rate limit is off.
    pacer: Option<Pacer>,
    permits: Semaphore,
    /// Told about each request, for metrics.
    observer: Option<Arc<dyn RequestObserver>>,
}

/// The API serves at most this many concurrent reads per token.
pub(crate) const API_MAX_CONCURRENCY: usize = 50;

/// Reads `Retry-After` in its delay-seconds form (the form Asana uses). Any value is read (a
/// year, `u64::MAX` seconds); [`retry_wait`] caps it. A number too large for `u64` or an
/// HTTP-date is ignored: the backoff wait applies.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    value.parse::<u64>().ok().map(Duration::from_secs)
}

/// How long to wait before the next attempt: the server's `Retry-After`, at most
/// `max_retry_after`, or else the backoff wait.
fn retry_wait(retry_after: Option<Duration>, backoff: Duration, policy: &RetryPolicy) -> Duration {
    retry_after.map_or(backoff, |after| after.min(policy.max_retry_after))
}

/// The longest `next_page.offset` accepted. Asana's offsets are a few hundred characters; a
/// longer one would be sent back in every URL and kept in every cursor.
pub(crate) const MAX_OFFSET_LEN: usize = 8 * 1024;

/// The start of a body for an error message, as text, at most 200 characters.
fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(200).collect();
    if text.chars().nth(200).is_some() {
        out.push('…');
    }
    out
}

/// The reasons of Asana's error body.
fn reasons(body: ErrorResponse) -> Vec<AsanaError> {
    body.errors
        .into_iter()
        .map(|e| AsanaError {
            message: e.message,
            help: e.help,
            phrase: e.phrase,
        })
        .collect()
}

/// Asana's error body, or `None` when the bytes are not one.
fn asana_errors(bytes: &[u8]) -> Option<Vec<AsanaError>> {
    serde_json::from_slice(bytes).ok().map(reasons)
}

/// The `reqwest` builder a client starts from when its caller gave none: reqwest's own
/// defaults, with the TLS configuration every such client of the process shares.
fn default_http_builder() -> reqwest::ClientBuilder {
    match shared_tls() {
        Some(tls) => reqwest::Client::builder().tls_backend_preconfigured(tls),
        None => reqwest::Client::builder(),
    }
}

/// The TLS configuration reqwest would build (the platform's certificate verifier with the
/// process's default crypto provider, else aws-lc-rs; TLS 1.2 and 1.3; HTTP/1.1), built once:
/// reqwest builds it for each client, reading and parsing the system's root certificates
/// every time, which for a collector of 1,000 workspaces took 10 s of CPU and about 110 MB. `None`
/// when it cannot be built: reqwest then builds its own and reports the error.
fn shared_tls() -> Option<rustls::ClientConfig> {
    static TLS: std::sync::OnceLock<Option<rustls::ClientConfig>> = std::sync::OnceLock::new();
    TLS.get_or_init(|| {
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone()).ok()?;
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .ok()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Some(config)
    })
    .clone()
}

impl Transport {
    /// The transport for validated `settings` (see [`Settings::validate`]), starting from
    /// `http` when the caller gave a `reqwest` builder.
    pub(crate) fn new(
        token: &SecretString,
        settings: Settings,
        http: Option<reqwest::ClientBuilder>,
        observer: Option<Arc<dyn RequestObserver>>,
    ) -> Result<Self, Error> {
        let mut auth =
            HeaderValue::try_from(format!("Bearer {}", token.expose_secret())).map_err(|_| {
                Error::InvalidConfig {
                    setting: "token",
                    reason: "contains characters that cannot be sent in an HTTP header".into(),
                }
            })?;
        // Keeps the value out of reqwest's and http's Debug output.
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);

        let http = http
            .unwrap_or_else(default_http_builder)
            .default_headers(headers)
            .user_agent(settings.user_agent.clone())
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            // Never follow a redirect: a 3xx becomes an error, so the token cannot be carried
            // to another host (reqwest would strip it there, but not on same-host scheme or
            // port changes, and the audit log endpoint has no reason to redirect).
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|source| Error::HttpClient {
                source: HttpError(source),
            })?;

        Ok(Transport {
            api: asana_audit_log_api::Client::new_with_client(
                &settings.base_url,
                http,
                ResponseLimits::default().with_max_body_bytes(settings.max_response_bytes),
            ),
            pacer: settings.requests_per_minute.map(Pacer::new),
            permits: Semaphore::new(settings.max_concurrent_requests),
            settings,
            observer,
        })
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Fetches one page of `query`, starting at `start_at` (the query's own start or a restart
    /// point) and `offset`, retrying transient failures as the policy says.
    pub(crate) async fn fetch_page(
        self: &Arc<Self>,
        query: &Query,
        start_at: Option<DateTime<Utc>>,
        offset: Option<&str>,
    ) -> Result<FetchedPage, Error> {
        let attempts = AtomicU32::new(0);
        let policy = self.settings.retry;
        let result = (|| async {
            let attempt = attempts.fetch_add(1, Ordering::Relaxed) + 1;
            self.attempt(query, start_at, offset, attempt).await
        })
        .retry(policy.backoff())
        .sleep(tokio::time::sleep)
        .when(Error::is_retryable)
        .adjust(move |error, backoff| {
            // `None` means the budget is spent; a Retry-After replaces the backoff wait.
            backoff.map(|wait| retry_wait(error.retry_after(), wait, &policy))
        })
        .notify(|error, wait| {
            if let (Some(observer), Some(reason)) = (&self.observer, RetryReason::of(error)) {
                observer.retry(query.workspace_gid(), reason, wait);
            }
            tracing::warn!(
                workspace_gid = query.workspace_gid(),
                wait_ms = wait.as_millis() as u64,
                error = %error,
                "retrying audit log request"
            );
        })
        .await;
        result.map_err(|error| error.with_attempts(attempts.load(Ordering::Relaxed)))
    }

    /// One request: wait for the pacer and a concurrency permit, send, classify, and tell the
    /// pacer how it was answered.
    async fn attempt(
        &self,
        query: &Query,
        start_at: Option<DateTime<Utc>>,
        offset: Option<&str>,
        attempt: u32,
    ) -> Result<FetchedPage, Error> {
        // The concurrency permit first, then the pace: a request that waited for a permit
        // must not go out on a pace slot taken long before (the slots of several waiting
        // requests would then be spent at once, above the rate).
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Internal("semaphore closed".into()))?;
        let ticket = match &self.pacer {
            Some(pacer) => Some(pacer.acquire().await),
            None => None,
        };

        let mut request = self
            .api
            .get_audit_log_events()
            .workspace_gid(query.workspace_gid())
            .limit(NonZeroU64::new(u64::from(query.page_size())).expect("validated 1..=100"));
        if let Some(start_at) = start_at {
            request = request.start_at(start_at);
        }
        if let Some(end_at) = query.end_at() {
            request = request.end_at(end_at);
        }
        request = query.send_filters(request)?;
        if let Some(offset) = offset {
            request = request.offset(offset);
        }

        let span = tracing::debug_span!(
            "audit_log_request",
            workspace_gid = query.workspace_gid(),
            with_offset = offset.is_some(),
            attempt,
        );
        let sent = std::time::Instant::now();
        let result = request.send().instrument(span.clone()).await;
        let carried_offset = offset.is_some();
        let outcome = self.classify(result, carried_offset).await;
        if let Some(observer) = &self.observer {
            let workspace = query.workspace_gid();
            let status = match &outcome {
                Ok(_) => Some(200),
                Err(error) => error.status(),
            };
            observer.request(workspace, status, sent.elapsed());
            if let Ok(page) = &outcome {
                let bytes = page.events.iter().map(|e| e.get().len() as u64).sum();
                observer.page(workspace, page.events.len(), bytes);
            }
        }
        if let (Some(pacer), Some(ticket)) = (&self.pacer, ticket) {
            match &outcome {
                Ok(_) => pacer.answered(ticket),
                Err(error) if error.status() == Some(429) => {
                    let cap = self.settings.retry.max_retry_after;
                    pacer.throttled(ticket, error.retry_after().map(|after| after.min(cap)));
                }
                Err(_) => {}
            }
        }
        let _entered = span.enter();
        match &outcome {
            Ok(page) => tracing::debug!(
                events = page.events.len(),
                more = page.next_offset.is_some(),
                "page received"
            ),
            Err(error) => {
                tracing::debug!(status = ?error.status(), error = %error, "request failed")
            }
        }
        outcome
    }

    /// Turns the generated client's answer into a page or one of this crate's errors.
    async fn classify(
        &self,
        result: Result<
            asana_audit_log_api::ResponseValue<asana_audit_log_api::types::AuditLogEventPage>,
            asana_audit_log_api::Error<ErrorResponse>,
        >,
        carried_offset: bool,
    ) -> Result<FetchedPage, Error> {
        use asana_audit_log_api::Error as Api;
        match result {
            Ok(page) => {
                let page = page.into_inner();
                // Only the offset is used: `next_page.uri` and `path` name a URL the server
                // chose, and following it could carry the token to another host.
                let next_offset = page
                    .next_page
                    .and_then(|next| next.0)
                    .and_then(|next| next.offset)
                    .filter(|offset| !offset.is_empty());
                if let Some(offset) = &next_offset
                    && offset.len() > MAX_OFFSET_LEN
                {
                    return Err(Error::Protocol {
                        reason: format!(
                            "next_page.offset is {} bytes long, more than the {MAX_OFFSET_LEN} \
                             accepted",
                            offset.len()
                        ),
                    });
                }
                Ok(FetchedPage {
                    events: page.data.into_iter().map(|raw| raw.0).collect(),
                    next_offset,
                })
            }
            Err(Api::ErrorResponse(answer)) => {
                let status = answer.status();
                let after = retry_after(answer.headers());
                Err(Error::from_api(ApiError::new(
                    status.as_u16(),
                    reasons(answer.into_inner()),
                    after,
                    carried_offset,
                    None,
                )))
            }
            Err(Api::UnexpectedResponse(response)) => {
                let status = response.status();
                let after = retry_after(response.headers());
                let body = read_prefix(response, 64 * 1024).await;
                let errors = asana_errors(&body);
                let text = if errors.is_none() && !body.is_empty() {
                    Some(snippet(&body))
                } else {
                    None
                };
                Err(Error::from_api(ApiError::new(
                    status.as_u16(),
                    errors.unwrap_or_default(),
                    after,
                    carried_offset,
                    text,
                )))
            }
            // The generated client reads error bodies as JSON too, so an error status with a
            // non-JSON body lands here without its status; it is retried like a truncated body.
            Err(Api::InvalidResponsePayload(bytes, error)) => Err(Error::InvalidResponse {
                reason: format!("{error}; the body starts with: {}", snippet(&bytes)),
                attempts: 1,
            }),
            Err(Api::ResponseBodyError(source)) => match BodyTooLarge::find(&source) {
                Some(cap) => Err(Error::ResponseTooLarge {
                    limit: cap.limit,
                    declared: cap.declared,
                }),
                None => Err(Error::Transport {
                    source: HttpError(source),
                    attempts: 1,
                }),
            },
            Err(Api::CommunicationError(source)) if source.is_builder() => Err(Error::Internal(
                format!("cannot build the request: {source}"),
            )),
            Err(Api::CommunicationError(source)) => Err(Error::Transport {
                source: HttpError(source),
                attempts: 1,
            }),
            Err(other) => Err(Error::Internal(format!("unexpected client error: {other}"))),
        }
    }
}

/// Reads at most `limit` bytes of a body (for error messages), ignoring read failures.
async fn read_prefix(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())])
            }
            _ => break,
        }
    }
    body
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.settings.debug("Client", &"[redacted]", f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;

    #[test]
    fn clients_share_one_tls_configuration() {
        let first = shared_tls().expect("the platform's verifier builds");
        let second = shared_tls().expect("built once");
        assert!(Arc::ptr_eq(
            first.crypto_provider(),
            second.crypto_provider()
        ));
        assert_eq!(first.alpn_protocols, [b"http/1.1".to_vec()]);
        assert!(first.enable_sni);
        assert!(default_http_builder().build().is_ok());
    }

    #[test]
    fn retry_after_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
        // Absurd values are read as they are, then capped by the policy.
        headers.insert(RETRY_AFTER, HeaderValue::from_static("31536000"));
        let year = retry_after(&headers).unwrap();
        assert_eq!(year, Duration::from_secs(365 * 24 * 3600));
        let policy = RetryPolicy::default();
        let backoff = Duration::from_millis(500);
        assert_eq!(
            retry_wait(Some(year), backoff, &policy),
            policy.max_retry_after
        );
        assert_eq!(
            retry_wait(Some(Duration::from_secs(u64::MAX)), backoff, &policy),
            Duration::from_secs(300)
        );
        assert_eq!(
            retry_wait(Some(Duration::from_secs(2)), backoff, &policy),
            Duration::from_secs(2)
        );
        assert_eq!(retry_wait(None, backoff, &policy), backoff);
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("99999999999999999999999"),
        );
        assert_eq!(
            retry_after(&headers),
            None,
            "beyond u64: the backoff applies"
        );
    }

    #[test]
    fn backoff_schedule() {
        let policy = RetryPolicy::default()
            .with_jitter(false)
            .with_max_retries(5)
            .with_delays(Duration::from_millis(100), Duration::from_millis(500));
        let waits: Vec<u128> = policy.backoff().build().map(|d| d.as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        assert_eq!(RetryPolicy::none().backoff().build().count(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limit_spreads_requests_over_the_minute() {
        // 1,500 a minute: a burst of 30 (a fiftieth; it was a fifth, 300, before the pace
        // became adaptive), then 1,471 a minute, one every 40.8 ms (tokio's paused clock, no
        // sleeping). No 60 s window holds more than 1,500.
        let pacer = Pacer::new(1500);
        let start = tokio::time::Instant::now();
        for _ in 0..30 {
            pacer.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        let mut times = vec![Duration::ZERO; 30];
        for _ in 0..2400 {
            pacer.acquire().await;
            times.push(start.elapsed());
        }
        let elapsed = start.elapsed();
        let expected = Duration::from_secs_f64(2400.0 * 60.0 / 1471.0);
        assert!(
            elapsed >= expected - Duration::from_millis(100)
                && elapsed <= expected + Duration::from_millis(100),
            "{elapsed:?}"
        );
        // The busiest 60 s begin at the start: 30 at once and 1,470 more.
        let in_first_minute = times
            .iter()
            .filter(|t| **t < Duration::from_secs(60))
            .count();
        assert!(in_first_minute <= 1500, "{in_first_minute}");
        // And no other 60 s window holds more.
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .take_while(|u| **u < *t + Duration::from_secs(60))
                .count();
            assert!(in_window <= 1500, "{in_window} from {t:?}");
        }
        // Very high rates: 12,000 at once, then 9,800 a second.
        let fast = Pacer::new(600_000);
        let start = tokio::time::Instant::now();
        for _ in 0..20_000 {
            fast.acquire().await;
        }
        assert!(
            start.elapsed() <= Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }
}
