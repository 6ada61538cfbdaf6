//! A stand-in for Asana's Audit Log API, for tests, demos and benchmarks.
//!
//! It serves `GET /api/1.0/workspaces/{workspace_gid}/audit_log_events` on loopback the way
//! the live API behaves (see `openapi/asana-audit-log.yaml`, the contract, and the rules
//! below), over a deterministic dataset, with events arriving while it runs and faults on
//! demand. It shares no code with the project's client crates, so a client test against it
//! checks the client against an independent reading of the API.
//!
//! # Example
//!
//! ```
//! use asana_audit_log_mock::{Fault, FaultPlan, MockServer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = MockServer::builder()
//!     .events(500)
//!     .seed(7)
//!     .faults(FaultPlan::new().on_request(2, Fault::ServiceUnavailable))
//!     .start()
//!     .await?;
//! println!("serving {} events at {}", server.events().len(), server.base_url());
//!
//! let url = format!(
//!     "{}/workspaces/{}/audit_log_events?limit=10",
//!     server.base_url(),
//!     server.workspace_gid()
//! );
//! let http = reqwest::Client::new();
//! let page: serde_json::Value =
//!     http.get(&url).bearer_auth(server.token()).send().await?.json().await?;
//! assert_eq!(page["data"].as_array().map(Vec::len), Some(10));
//! assert!(page["next_page"]["offset"].is_string());
//!
//! // The second request was scripted to fail.
//! let status = http.get(&url).bearer_auth(server.token()).send().await?.status();
//! assert_eq!(status.as_u16(), 503);
//! assert_eq!(server.requests()[1].status, Some(503));
//! # Ok(())
//! # }
//! ```
//!
//! # What the endpoint does
//!
//! * Events come oldest first (`created_at`, then store order for equal timestamps).
//! * Filters, combined with AND: `start_at` (inclusive), `end_at` (exclusive), `event_type`,
//!   `actor_type` (one of `user`, `asana`, `asana_support`, `anonymous`,
//!   `external_administrator`), `actor_gid`, `resource_gid`. Unknown parameters
//!   (`opt_pretty`, `opt_fields`, …) are ignored; empty values count as absent; of a repeated
//!   parameter the last value counts.
//! * `limit` must be an integer from 1 to 100; without it a page holds
//!   [`MockServerBuilder::default_page_size`] events (100 unless set: Asana's prose says 1000
//!   but its own bound is 100).
//! * `400` for a bad `limit`, a date-time that is not RFC 3339, an unknown `actor_type`, or an
//!   offset that is malformed, tampered with, from another server, from another query, or
//!   expired (each with its own message).
//! * `401` without a bearer token or with an unknown one; `403` for the
//!   [forbidden token](MockServer::forbidden_token) (the message says a service account of an
//!   Enterprise domain is needed); `402` for the
//!   [payment-required token](MockServer::payment_required_token); `404` for another workspace
//!   gid or another path; `429` with `Retry-After` when a token exceeds its rate limit
//!   (default 1,500 requests a minute; rejected requests count) or its concurrency cap
//!   (default 50 in flight).
//! * Every error body is `{"errors":[{"message":…,"help":…}]}`; 5xx bodies add a `phrase`.
//! * Every response carries `x-mock-request-number`, the number the request log and scripted
//!   faults use.
//! * `next_page` is `null` only while the query's filters have never matched an event (events
//!   past retention count: they did match once). Afterwards every page, even an empty one,
//!   carries `next_page {offset, path, uri}`; an empty `data` means "nothing more for now",
//!   and asking again later with that offset returns the events appended since.
//! * Offset tokens are opaque (base64url), signed with SipHash-2-4 under a per-server key
//!   (random, or [fixed](MockServerBuilder::offset_secret)), bound to the query's filters
//!   and workspace but not to `limit`, carry the position "after event (created_at, key)"
//!   (see [Late events](#late-events)),
//!   and expire after [`MockServerBuilder::offset_lifetime`] (default one hour) by the server
//!   clock.
//! * Retention: events older than 90 days by the server clock are not served; nothing is
//!   older than 2021-10-08T00:00:00Z.
//!
//! # Late events
//!
//! With [`MockServerBuilder::late_events`], some of the events appended while the server
//! runs are stored with a `created_at` in the past, at the place in the order where that
//! `created_at` puts them. Paging works on that order: an offset means "after this event", so
//! when a late event lands before an offset a client already holds, paging on from the offset
//! never returns it; only a query whose window covers its `created_at` (a new `start_at`,
//! no offset) finds it. A client that only follows offsets misses such events, as it would
//! against a live log whose events become visible later than their `created_at`.
//! [`MockServer::events`] holds them at their place.
//!
//! # Data
//!
//! See [`MockServerBuilder::events`]: the same seed and settings give byte-identical events.
//! Events carry fields the spec does not list (`details.method`, `details.reason`,
//! `details.member`, …); [`MockServerBuilder::forward_compat`] adds unknown event types and
//! enum values, unknown fields, explicit nulls, huge integers and deep nesting.
//!
//! # Admin routes
//!
//! For use from another process (the binary): `POST /_mock/events` appends events (a JSON
//! array of event objects, or `?count=N` for generated ones), `POST /_mock/live?paused=true`
//! (or `false`) pauses or resumes live arrival, and `GET /_mock/status` reports the event
//! count, the clock, the request count and the requests the rate limit refused
//! (`rate_limited`, all tokens together); serving [several
//! workspaces](MockServerBuilder::workspaces), `events` is their total and the status adds
//! `workspaces` (how many) and `workspace_events` (each one's count, in gid order). They need
//! no token, are not numbered, logged or faulted.
//!
//! # Answers no real server gives
//!
//! For a client's tests against broken or hostile HTTP (bodies that never end, absurd
//! lengths, silence, redirects), [`canned::CannedServer`] writes whatever bytes a test scripts.

#![warn(missing_docs)]

pub mod canned;
mod catalogue;
mod clock;
mod conn;
mod faults;
mod generate;
mod json;
mod limits;
mod offset;
mod prng;
mod receiver;
mod record;
mod server;
mod siphash;
mod store;

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use catalogue::{EventTypeInfo, event_types};
pub use clock::ClockMode;
pub use faults::{Fault, FaultPlan, Latency};
pub use receiver::{Answer, WebhookReceiver};
pub use record::{CursorPosition, RequestRecord};

use clock::{Clock, ms_to_datetime};
use generate::{FLOOR_MS, GenConfig, Generator};
use limits::RateLimiter;
use server::{Config, Shared};
use store::Store;

/// 2021-10-08T00:00:00Z: Asana's audit log has no older events, and neither has the mock.
pub fn audit_log_start() -> DateTime<Utc> {
    ms_to_datetime(FLOOR_MS)
}

/// How long events are kept: 90 days.
pub const RETENTION: Duration = Duration::from_secs(90 * 86_400);

/// Why [`MockServer::append_events`] refused a batch (nothing of it was appended).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AppendError {
    /// Item `index` is not a JSON object.
    NotAnObject {
        /// Position in the batch.
        index: usize,
    },
    /// Item `index` has a `created_at` that is not an RFC 3339 string.
    BadCreatedAt {
        /// Position in the batch.
        index: usize,
        /// The value given.
        value: String,
    },
    /// Item `index` is older than the newest event (or than 2021-10-08): the log is
    /// append-only, and offsets rely on it.
    OutOfOrder {
        /// Position in the batch.
        index: usize,
        /// The value given.
        value: String,
    },
}

impl fmt::Display for AppendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppendError::NotAnObject { index } => write!(f, "event {index} is not a JSON object"),
            AppendError::BadCreatedAt { index, value } => {
                write!(
                    f,
                    "event {index}: created_at {value} is not an RFC 3339 date-time string"
                )
            }
            AppendError::OutOfOrder { index, value } => write!(
                f,
                "event {index}: created_at {value} is older than the newest event or than 2021-10-08; \
                 appended events must not go back in time (leave created_at out to use the server clock)"
            ),
        }
    }
}

impl std::error::Error for AppendError {}

/// Settings for a [`MockServer`]; see each method for its default.
#[derive(Clone, Debug)]
#[must_use = "call .start().await to run the server"]
pub struct MockServerBuilder {
    events: u64,
    seed: u64,
    span: Duration,
    span_end: Option<DateTime<Utc>>,
    clock: ClockMode,
    token: Option<String>,
    extra_tokens: Vec<String>,
    forbidden_token: Option<String>,
    unpaid_token: Option<String>,
    workspace_gid: String,
    workspaces: usize,
    page_default: usize,
    rate_limit: Option<u32>,
    rate_burst: Option<u32>,
    concurrency_limit: Option<u32>,
    offset_lifetime: Option<Duration>,
    offset_secret: Option<u128>,
    faults: FaultPlan,
    forward_compat: bool,
    live_rate: Option<f64>,
    late: Option<server::Late>,
    bind: SocketAddr,
    log_capacity: usize,
}

impl Default for MockServerBuilder {
    fn default() -> Self {
        MockServerBuilder {
            events: 1000,
            seed: 0,
            span: Duration::from_secs(30 * 86_400),
            span_end: None,
            clock: ClockMode::System,
            token: None,
            extra_tokens: Vec::new(),
            forbidden_token: None,
            unpaid_token: None,
            workspace_gid: DEFAULT_WORKSPACE_GID.to_owned(),
            workspaces: 1,
            page_default: 100,
            rate_limit: Some(1500),
            rate_burst: None,
            concurrency_limit: Some(50),
            offset_lifetime: Some(Duration::from_secs(3600)),
            offset_secret: None,
            faults: FaultPlan::default(),
            forward_compat: false,
            live_rate: None,
            late: None,
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            log_capacity: 100_000,
        }
    }
}

/// The workspace gid a server answers for unless told otherwise.
pub const DEFAULT_WORKSPACE_GID: &str = "1200000000000001";

fn default_token(seed: u64, role: u64) -> String {
    let mut r = prng::SplitMix64::derive(seed ^ 0x0074_6f6b_656e, role);
    format!(
        "2/{}/{}:{:016x}{:016x}",
        1_201_000_000_000_000 + role,
        1_209_000_000_000_000 + r.below(1_000_000_000_000),
        r.next_u64(),
        r.next_u64()
    )
}

impl MockServerBuilder {
    /// How many events the initial dataset holds (default 1,000). They are spread over
    /// [`span`](Self::span) ending at [`span_end`](Self::span_end), with timestamps that never
    /// decrease and about one in twelve sharing its predecessor's millisecond. From 134
    /// events on, every catalogue event type ([`event_types`]), actor type, context type and
    /// API authentication method appears at least once.
    pub fn events(mut self, count: u64) -> Self {
        self.events = count;
        self
    }

    /// The seed of the dataset (default 0). Same seed and settings: byte-identical events.
    /// Also fixes the default tokens.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How much time the initial dataset covers (default 30 days). Past 90 days the oldest
    /// events are already out of retention; nothing is generated before 2021-10-08.
    pub fn span(mut self, span: Duration) -> Self {
        self.span = span;
        self
    }

    /// When the initial dataset ends (default: the server clock's now at start).
    pub fn span_end(mut self, end: DateTime<Utc>) -> Self {
        self.span_end = Some(end);
        self
    }

    /// Freezes the server clock at `now` (see [`ClockMode::Frozen`]).
    pub fn now(mut self, now: DateTime<Utc>) -> Self {
        self.clock = ClockMode::Frozen(now);
        self
    }

    /// How the server clock runs (default [`ClockMode::System`]).
    pub fn clock(mut self, mode: ClockMode) -> Self {
        self.clock = mode;
        self
    }

    /// The main valid token (default: an Asana-shaped personal access token derived from the
    /// seed, see [`MockServer::token`]).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Another valid token, with its own rate limit and concurrency cap.
    pub fn add_token(mut self, token: impl Into<String>) -> Self {
        self.extra_tokens.push(token.into());
        self
    }

    /// The token that authenticates but may not read the audit log: `403` (default: one
    /// derived from the seed, see [`MockServer::forbidden_token`]).
    pub fn forbidden_token(mut self, token: impl Into<String>) -> Self {
        self.forbidden_token = Some(token.into());
        self
    }

    /// The token of a domain whose plan lacks the audit log: `402`.
    pub fn payment_required_token(mut self, token: impl Into<String>) -> Self {
        self.unpaid_token = Some(token.into());
        self
    }

    /// The workspace gid served (default [`DEFAULT_WORKSPACE_GID`]); any other is `404`.
    pub fn workspace_gid(mut self, gid: impl Into<String>) -> Self {
        self.workspace_gid = gid.into();
        self
    }

    /// How many workspaces are served (default 1, at least 1). The first is
    /// [`workspace_gid`](Self::workspace_gid); workspace `i` (from 0) has that gid plus `i`
    /// when the gid is a decimal number, else the gid followed by `-i` (see
    /// [`workspace_gid_at`]). Each has its own dataset of [`events`](Self::events) events
    /// from its own seed (the first uses [`seed`](Self::seed) itself, so its events are those
    /// a one-workspace server serves); event gids may repeat across workspaces. Live events
    /// ([`live_rate`](Self::live_rate)) go to the workspaces in turn; the tokens, limits and
    /// faults are shared. Methods that read or append events without naming a workspace
    /// ([`MockServer::events`], [`MockServer::append_events`], `POST /_mock/events`, …) act
    /// on the first.
    pub fn workspaces(mut self, count: usize) -> Self {
        self.workspaces = count.max(1);
        self
    }

    /// Page size when a request has no `limit` (default 100; clamped to 1..=100).
    pub fn default_page_size(mut self, size: usize) -> Self {
        self.page_default = size.clamp(1, 100);
        self
    }

    /// Requests per minute per token (default `Some(1500)`); `None` turns rate limiting off.
    /// Runs on real time plus [`MockServer::advance`], never on a frozen clock alone.
    pub fn rate_limit(mut self, per_minute: Option<u32>) -> Self {
        self.rate_limit = per_minute.filter(|&n| n > 0);
        self
    }

    /// How many requests a token's bucket holds: the burst a token may send at once after an
    /// idle period (default `None`: a minute's worth, [`rate_limit`](Self::rate_limit)). The
    /// bucket still refills at the per-minute rate; a smaller burst makes a client that spends
    /// more than its share meet the limit within seconds rather than after a minute.
    pub fn rate_burst(mut self, burst: Option<u32>) -> Self {
        self.rate_burst = burst.filter(|&n| n > 0);
        self
    }

    /// Requests in flight per token (default `Some(50)`); `None` turns the cap off.
    pub fn concurrency_limit(mut self, max: Option<u32>) -> Self {
        self.concurrency_limit = max;
        self
    }

    /// How long an offset token stays valid, by the server clock (default one hour);
    /// `None`: forever.
    pub fn offset_lifetime(mut self, lifetime: Option<Duration>) -> Self {
        self.offset_lifetime = lifetime;
        self
    }

    /// The key that signs offset tokens (default: random per server, so another server's
    /// tokens are refused). Two servers with the same secret accept each other's tokens.
    pub fn offset_secret(mut self, secret: u128) -> Self {
        self.offset_secret = Some(secret);
        self
    }

    /// Faults to inject (default none); can be replaced later with
    /// [`MockServer::set_faults`].
    pub fn faults(mut self, plan: FaultPlan) -> Self {
        self.faults = plan;
        self
    }

    /// Adds latency to every response (shorthand for `faults(plan.latency(...))`).
    pub fn latency(mut self, latency: Latency) -> Self {
        self.faults = self.faults.latency(latency);
        self
    }

    /// Adds forward-compatibility cases to the data (default off): event types missing from
    /// the catalogue (`ai_teammate_created`, …), unknown enum values (`actor_type`
    /// `ai_teammate`, `context_type` `workflow_automation`, `api_authentication_method`
    /// `workload_identity_federation`), unknown top-level and nested fields, explicit nulls
    /// (also where the spec promises a string, such as `actor.email` and
    /// `context.user_agent`), integers beyond 2^53, beyond `u64` and below `i64`, and a
    /// twelve-level nested object. In a dataset of 134 or more events each case appears at
    /// least once; beyond that the field-level cases touch about 3% of events.
    pub fn forward_compat(mut self, on: bool) -> Self {
        self.forward_compat = on;
        self
    }

    /// Appends generated events continuously at this many per second (default off).
    pub fn live_rate(mut self, events_per_sec: f64) -> Self {
        self.live_rate =
            (events_per_sec > 0.0 && events_per_sec.is_finite()).then_some(events_per_sec);
        self
    }

    /// Makes a `fraction` (0..=1) of the generated events appended while the server runs
    /// ([`live_rate`](Self::live_rate), [`MockServer::append_generated`], `POST
    /// /_mock/events?count=N`) *late* (default off): such an event gets a `created_at` between
    /// 1 ms and `max_age` before the time it is appended at, and is stored at the place of
    /// that `created_at` (after the events of the same millisecond). See "Late events" in the
    /// crate documentation for what a client sees. Which events are late, and how late, depends
    /// only on the seed and the event's number. A fraction outside 0..=1 (or not a number) is
    /// clamped to it; a zero fraction or a zero `max_age` turns the mode off.
    pub fn late_events(mut self, fraction: f64, max_age: Duration) -> Self {
        let fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        let max_age_ms = i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
        self.late = (fraction > 0.0 && max_age_ms > 0).then_some(server::Late {
            fraction,
            max_age_ms,
        });
        self
    }

    /// The address to listen on (default `127.0.0.1:0`, a free port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Listens on `127.0.0.1:port` (0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.bind = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        self
    }

    /// How many request records [`MockServer::requests`] keeps (default 100,000); past that
    /// the oldest are dropped.
    pub fn request_log_capacity(mut self, records: usize) -> Self {
        self.log_capacity = records.max(1);
        self
    }

    /// Generates the dataset, binds the socket and starts serving on the current Tokio
    /// runtime. The server stops when the returned handle is dropped.
    pub async fn start(self) -> io::Result<MockServer> {
        let listener = TcpListener::bind(self.bind).await?;
        let addr = listener.local_addr()?;
        let host = match addr {
            SocketAddr::V4(a) if a.ip().is_unspecified() => "127.0.0.1".to_owned(),
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) if a.ip().is_unspecified() => "[::1]".to_owned(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        let base_url = format!("http://{host}:{}/api/1.0", addr.port());

        let clock = Clock::new(self.clock);
        let end_ms = self
            .span_end
            .map_or_else(|| clock.now_ms(), |t| t.timestamp_millis());
        let start_ms = end_ms
            .saturating_sub(self.span.as_millis() as i64)
            .max(FLOOR_MS);
        let end_ms = end_ms.max(start_ms + 1);
        let (base_gid, base_seed, count, forward_compat) = (
            self.workspace_gid.clone(),
            self.seed,
            self.events,
            self.forward_compat,
        );
        let workspace_count = self.workspaces;
        let workspaces = tokio::task::spawn_blocking(move || {
            (0..workspace_count)
                .map(|i| {
                    let gid = workspace_gid_at(&base_gid, i);
                    let seed = if i == 0 {
                        base_seed
                    } else {
                        prng::SplitMix64::derive(base_seed ^ 0x0077_6f72_6b73, i as u64).next_u64()
                    };
                    let generator = Generator::new(GenConfig {
                        seed,
                        count,
                        start_ms,
                        end_ms,
                        workspace_gid: gid.clone(),
                        forward_compat,
                    });
                    let store = build_store(&generator);
                    server::Workspace::new(gid, store, generator)
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(io::Error::other)?;

        let token = self.token.unwrap_or_else(|| default_token(self.seed, 7));
        let forbidden = self
            .forbidden_token
            .unwrap_or_else(|| default_token(self.seed, 403));
        let unpaid = self
            .unpaid_token
            .unwrap_or_else(|| default_token(self.seed, 402));
        let mut tokens = vec![token.clone()];
        tokens.extend(self.extra_tokens);
        let key = match self.offset_secret {
            Some(secret) => ((secret >> 64) as u64, secret as u64),
            None => random_key(),
        };
        let cfg = Config {
            workspace_gid: self.workspace_gid.clone(),
            tokens,
            forbidden_tokens: vec![forbidden.clone()],
            unpaid_tokens: vec![unpaid.clone()],
            page_default: self.page_default,
            concurrency: self.concurrency_limit,
            offset_lifetime_ms: self.offset_lifetime.map(|d| d.as_millis() as i64),
            base_url: base_url.clone(),
            log_capacity: self.log_capacity,
            late: self.late,
        };
        let rate = self
            .rate_limit
            .map(|per_minute| RateLimiter::new(per_minute, self.rate_burst));
        let shared = Arc::new(Shared::new(cfg, workspaces, clock, self.faults, rate, key));
        let mut tasks = vec![tokio::spawn(server::accept_loop(
            listener,
            Arc::clone(&shared),
        ))];
        if let Some(per_sec) = self.live_rate {
            tasks.push(tokio::spawn(server::live_arrival(
                Arc::downgrade(&shared),
                per_sec,
            )));
        }
        Ok(MockServer {
            shared,
            addr,
            base_url,
            token,
            forbidden,
            unpaid,
            seed: self.seed,
            tasks,
        })
    }
}

/// The gid of workspace `index` (from 0) of a server whose first workspace is `base` (see
/// [`MockServerBuilder::workspaces`]): `base` plus `index` when `base` is a decimal number
/// that has room, else `base-index`; `base` itself for index 0.
pub fn workspace_gid_at(base: &str, index: usize) -> String {
    if index == 0 {
        return base.to_owned();
    }
    match base
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_add(index as u64))
    {
        Some(n) if !base.starts_with('+') && !base.starts_with('0') => n.to_string(),
        _ => format!("{base}-{index}"),
    }
}

/// Generates the initial dataset.
///
/// Each event depends only on the seed, its sequence number and its timestamp, so large
/// datasets are generated in consecutive ranges on several threads and concatenated: the
/// bytes are the same as with one thread.
fn build_store(generator: &Generator) -> Store {
    let count = generator.config().count;
    let fill = |range: std::ops::Range<u64>| {
        let mut part = Store::with_capacity((range.end - range.start) as usize);
        part.preintern(generator);
        for seq in range {
            part.push_generated(generator, seq, generator.created_at(seq), true);
        }
        part
    };
    let threads = if count >= 50_000 {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 8) as u64
    } else {
        1
    };
    if threads == 1 {
        return fill(0..count);
    }
    let chunk = count.div_ceil(threads);
    let mut parts: Vec<Store> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let range = (t * chunk).min(count)..((t + 1) * chunk).min(count);
                scope.spawn(move || fill(range))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a generator thread panicked"))
            .collect()
    });
    let mut store = parts.remove(0);
    store.extend_from_parts(parts);
    store
}

/// A key for signing offsets: from the standard library's randomly seeded hasher (seeded
/// from the OS once per thread) mixed with the time and process id. Unpredictable enough
/// for a mock; not a cryptographic key.
fn random_key() -> (u64, u64) {
    use std::hash::{BuildHasher, Hasher};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut a = std::collections::hash_map::RandomState::new().build_hasher();
    a.write_u128(nanos);
    a.write_u32(std::process::id());
    let mut b = std::collections::hash_map::RandomState::new().build_hasher();
    b.write_u64(a.finish() ^ 0x5eed);
    (a.finish(), b.finish())
}

/// A running mock server. Dropping it stops the server (open connections are closed).
#[derive(Debug)]
pub struct MockServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    base_url: String,
    token: String,
    forbidden: String,
    unpaid: String,
    seed: u64,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl MockServer {
    /// Settings for a new server.
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::default()
    }

    /// The API root, `http://127.0.0.1:PORT/api/1.0`, as a client's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The main valid token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// A token that gets `403` (valid, but not a service account of an Enterprise domain).
    pub fn forbidden_token(&self) -> &str {
        &self.forbidden
    }

    /// A token that gets `402` (the domain's plan lacks the audit log).
    pub fn payment_required_token(&self) -> &str {
        &self.unpaid
    }

    /// The workspace gid served.
    pub fn workspace_gid(&self) -> &str {
        &self.shared.cfg.workspace_gid
    }

    /// The gids of the workspaces served, the first being
    /// [`workspace_gid`](Self::workspace_gid) (see [`MockServerBuilder::workspaces`]).
    pub fn workspace_gids(&self) -> Vec<String> {
        self.shared
            .workspaces
            .iter()
            .map(|w| w.gid.clone())
            .collect()
    }

    /// How many events each workspace stores (including those past retention), in the order
    /// of [`workspace_gids`](Self::workspace_gids).
    pub fn workspace_event_counts(&self) -> Vec<usize> {
        self.shared
            .workspaces
            .iter()
            .map(|w| w.read_store().len())
            .collect()
    }

    /// Pauses (`true`) or resumes live arrival ([`MockServerBuilder::live_rate`]); events due
    /// while paused are skipped, not delivered on resuming.
    pub fn set_live_paused(&self, paused: bool) {
        self.shared.live_paused.store(paused, Ordering::SeqCst);
    }

    /// The dataset's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The server clock.
    pub fn now(&self) -> DateTime<Utc> {
        ms_to_datetime(self.shared.clock.now_ms())
    }

    /// Sets the server clock (it keeps running if it was running). Moving it forward also
    /// refills rate-limit buckets by the same amount.
    pub fn set_now(&self, now: DateTime<Utc>) {
        self.shared.clock.set_ms(now.timestamp_millis());
    }

    /// Moves the server clock forward (and the rate limiter's time with it).
    pub fn advance(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    /// Appends events given as JSON objects, in order, all or none. A missing `gid` is filled
    /// in; a missing `created_at` becomes the server clock's now (or the newest event's time,
    /// if that is later). A given `created_at` must not be older than the newest event.
    /// Returns the number of events now stored.
    pub fn append_events(
        &self,
        events: impl IntoIterator<Item = Value>,
    ) -> Result<usize, AppendError> {
        self.shared.append_values(events.into_iter().collect())
    }

    /// Appends `count` generated events stamped with the server clock's now (or the newest
    /// event's time, if later). Returns the number of events now stored.
    pub fn append_generated(&self, count: usize) -> usize {
        self.shared.append_generated(count)
    }

    /// The events a query without filters would return now (retention applied), in order,
    /// decoded. Compare a client's output with this.
    pub fn events(&self) -> Vec<Value> {
        self.events_json()
            .iter()
            .map(|text| serde_json::from_str(text).expect("stored events are JSON"))
            .collect()
    }

    /// Like [`events`](Self::events), as the exact JSON text the server sends.
    pub fn events_json(&self) -> Vec<String> {
        let store = self.shared.read_store();
        store
            .range_from(self.shared.visible_from_ms())
            .map(|i| String::from_utf8_lossy(store.bytes(i)).into_owned())
            .collect()
    }

    /// The `gid`s of [`events`](Self::events), in order: what a client that delivered every
    /// event once should have seen.
    pub fn event_gids(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|event| {
                event["gid"]
                    .as_str()
                    .expect("stored events have a gid")
                    .to_owned()
            })
            .collect()
    }

    /// Every stored event, including those past retention, with its `created_at`, as the JSON
    /// text the server sends.
    pub fn all_events_json(&self) -> Vec<(DateTime<Utc>, String)> {
        let store = self.shared.read_store();
        (0..store.len())
            .map(|i| {
                (
                    ms_to_datetime(store.ms(i)),
                    String::from_utf8_lossy(store.bytes(i)).into_owned(),
                )
            })
            .collect()
    }

    /// How many events are stored (including those past retention), in the first workspace
    /// (see [`workspace_event_counts`](Self::workspace_event_counts) for all).
    pub fn event_count(&self) -> usize {
        self.shared.read_store().len()
    }

    /// Bytes of event JSON held in memory.
    pub fn dataset_bytes(&self) -> usize {
        self.shared.read_store().arena_bytes()
    }

    /// The request log, ordered by request number (the newest
    /// [`request_log_capacity`](MockServerBuilder::request_log_capacity) records).
    pub fn requests(&self) -> Vec<RequestRecord> {
        let mut log: Vec<RequestRecord> = self
            .shared
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        log.sort_by_key(|r| r.number);
        log
    }

    /// Empties the request log (request numbering goes on).
    pub fn clear_requests(&self) {
        self.shared
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// How many API requests have arrived so far (the number of the latest one).
    pub fn request_count(&self) -> u64 {
        self.shared.counter.load(Ordering::SeqCst)
    }

    /// Requests being handled right now (over all tokens).
    pub fn in_flight(&self) -> usize {
        self.shared.cap.total()
    }

    /// Replaces the fault plan; request numbers keep counting from where they are.
    pub fn set_faults(&self, plan: FaultPlan) {
        *self
            .shared
            .faults
            .write()
            .unwrap_or_else(|e| e.into_inner()) = plan;
    }

    /// Stops the server and waits until it has stopped.
    pub async fn shutdown(mut self) {
        for task in std::mem::take(&mut self.tasks) {
            task.abort();
            let _ = task.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_generation_gives_the_same_bytes() {
        let generator = Generator::new(GenConfig {
            seed: 5,
            count: 60_000,
            start_ms: FLOOR_MS,
            end_ms: FLOOR_MS + 86_400_000,
            workspace_gid: DEFAULT_WORKSPACE_GID.into(),
            forward_compat: true,
        });
        let parallel = build_store(&generator);
        let mut sequential = Store::default();
        for seq in 0..60_000 {
            sequential.push_generated(&generator, seq, generator.created_at(seq), true);
        }
        assert_eq!(parallel.len(), sequential.len());
        assert_eq!(parallel.arena_bytes(), sequential.arena_bytes());
        for i in (0..60_000).step_by(997).chain([29_999, 30_000, 59_999]) {
            assert_eq!(parallel.bytes(i), sequential.bytes(i), "event {i}");
            assert_eq!(parallel.ms(i), sequential.ms(i));
        }
        let f = store::Filters {
            event_type: Some("user_logged_out".into()),
            ..Default::default()
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        parallel.page(&f, store::Cursor::Start, 100, i64::MIN, &mut a);
        sequential.page(&f, store::Cursor::Start, 100, i64::MIN, &mut b);
        assert_eq!(a, b);
    }
}
