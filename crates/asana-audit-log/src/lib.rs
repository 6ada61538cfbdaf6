//! Typed, resumable, rate-limited streams over Asana's Audit Log API.
//!
//! This is the crate to use; it builds on the generated low-level client
//! `asana-audit-log-api`. It gives you:
//!
//! - a [`Client`] that keeps the token secret, retries transient failures ([`RetryPolicy`]),
//!   honours `Retry-After`, and caps the request rate and concurrency of all its streams;
//! - a validated, typed query ([`Client::audit_log_events`] → [`EventsRequest`] → [`Query`]);
//! - streams: [`stream`](EventsRequest::stream) (everything available now, then ends),
//!   [`follow`](EventsRequest::follow) (never ends) and a concurrent
//!   [`backfill`](EventsRequest::backfill) of a bounded window, all three an [`EventStream`],
//!   and [`pages`](EventsRequest::pages); every stream is an [`AuditLogStream`];
//! - a serializable [`Cursor`] after every event, to resume without gap or duplicate;
//! - late events (visible after paging has passed their `created_at`) picked up by a follow
//!   with a [`lookback`](EventsRequest::lookback) window, each once;
//! - lossless events ([`AuditLogEvent`]): the exact JSON Asana sent, plus typed views, with
//!   open enums ([`EventType`], [`ActorType`], ...) that keep values this version does not know.
//!
//! # Example
//!
//! Drain every event of the last day as NDJSON, then keep the cursor to continue later. This
//! example runs against the project's mock server; against Asana, make the client with
//! [`Client::from_env`] (token in `ASANA_ACCESS_TOKEN`) and use your domain's gid.
//!
//! ```
//! use std::time::Duration;
//! use futures::TryStreamExt;
//! use asana_audit_log::Client;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mock = asana_audit_log_mock::MockServer::builder().events(300).start().await?;
//! # let (token, base_url, workspace_gid) = (mock.token(), mock.base_url(), mock.workspace_gid());
//! let client = Client::builder().token(token).base_url(base_url).build()?;
//! let mut events = client
//!     .audit_log_events(workspace_gid)
//!     .since(Duration::from_secs(24 * 60 * 60))
//!     .stream()?;
//! let mut count = 0;
//! while let Some(event) = events.try_next().await? {
//!     println!("{}", event.json()); // the event exactly as Asana sent it, on one line
//!     count += 1;
//! }
//! assert!(count > 0);
//! let checkpoint = events.cursor().to_json();
//!
//! // Later: continue right after the last event, without gap or duplicate.
//! let cursor = asana_audit_log::Cursor::from_json(&checkpoint)?;
//! let newer: Vec<_> = client.resume(cursor).stream()?.try_collect().await?;
//! assert!(newer.is_empty());
//! # Ok(())
//! # }
//! ```
//!
//! Decoding and re-encoding an event is lossless (this one runs without a server):
//!
//! ```
//! use asana_audit_log::{AuditLogEvent, ContextType, EventCategory};
//!
//! let text = r#"{"gid":"1","created_at":"2024-05-01T00:00:00.000Z","event_type":"user_login_succeeded","context":{"context_type":"hologram"},"added_later":[1e400]}"#;
//! let event = AuditLogEvent::from_json(text)?;
//! assert_eq!(event.event_type().category(), Some(EventCategory::Logins));
//! assert_eq!(event.context().context_type, Some(ContextType::Unknown("hologram".into())));
//! assert_eq!(serde_json::to_string(&event).unwrap(), text);
//! # Ok::<(), asana_audit_log::DecodeError>(())
//! ```
//!
//! The `examples/` directory has runnable `drain`, `follow` and `backfill` programs.
//!
//! # HTTP behaviour
//!
//! All HTTP goes through one module: the bearer token (a sensitive header), the user agent,
//! timeouts, retries with exponential backoff and jitter, `Retry-After` on 429, a client-side
//! request pace (default 1,500 in any minute) and concurrency cap (default 10), and `tracing` spans per
//! request. The pace is shared by all streams of a client and adapts to the server: a 429 lowers
//! it to 70% and holds every stream until its `Retry-After` has passed; each quiet period without
//! a 429 (1 s at 1,500 a minute) then raises it by a fiftieth of the configured rate, back to
//! the full pace; each 429 met again after such a rise doubles that quiet period (up to 16 s),
//! until the pace climbs past the rate that was refused (see
//! [`ClientBuilder::requests_per_minute`]). Asana counts refused requests
//! against the token's limit, so the client slows down rather than retrying into the limit, and
//! other programs sharing the token keep their share. Redirects are never followed, and of `next_page` only the offset is used (never its
//! `uri` or `path`), so the token only ever goes to the configured base URL. Plain HTTP is
//! refused except to loopback hosts. A response body is capped (default 32 MiB,
//! [`ClientBuilder::max_response_bytes`]) before it is read, and the request timeout bounds how
//! long a body may take. The repository's `SECURITY.md` lists every limit and the tests that
//! hold it.

//! # API decisions
//!
//! These hold for every release of this crate, so a program written against it keeps working:
//!
//! - **One shape for streams.** Every stream implements [`AuditLogStream`] (`Stream` plus its
//!   [`Cursor`] and [`Query`]); `stream`, `follow` and `backfill` all return one type,
//!   [`EventStream`], so a caller that takes "any of them" names one type or one trait.
//! - **Each concept is defined once.** A query's fields are declared in one place and checked
//!   by one function, however the query is made (builder, [`Client::query`], a cursor read back
//!   from disk); client settings likewise ([`ClientBuilder`]). The rule that makes cursors exact
//!   (the position moves past a page only once its last event is handed out, never past a page
//!   that failed) lives in one function that every stream and backfill slice uses.
//! - **Options are checked, never clamped.** Client settings are checked when the client is
//!   built ([`Error::InvalidConfig`]); query filters and [`Backfill`] options when a stream
//!   starts ([`Error::InvalidQuery`]). Both happen before any request; a value out of range is
//!   an error naming it, not silently changed.
//! - **Our semver is ours.** No public signature names a type of the HTTP stack, unless you
//!   opt in: the cargo feature `reqwest-client-builder` (off by default) adds
//!   `ClientBuilder::http_client_builder`, whose point is to take a `reqwest::ClientBuilder`,
//!   and so ties this crate's semver to reqwest's for the programs that enable it.
//!   The types that do appear are deliberate and stable: `serde_json`'s `RawValue`, `Value`
//!   and `Error` (events are JSON, kept exactly), `chrono`'s `DateTime<Utc>` (times),
//!   `futures`' `Stream` (what the streams are) and `secrecy`'s `SecretString` (re-exported).
//!   Statuses are `u16`, failures of the HTTP stack are an opaque [`HttpError`] whose `source()`
//!   is the underlying error. Enums that mirror server strings are `#[non_exhaustive]` and keep
//!   values they do not know (`Unknown(String)`), and round-trip them.
//! - **Names mean one thing.** `with_*` methods return a changed copy of a value
//!   ([`RetryPolicy::with_max_retries`], [`Backfill::with_buffered_pages`]); getters are plain
//!   nouns or questions ([`ApiError::carried_offset`]); `build` makes the thing its builder
//!   configures ([`ClientBuilder::build`]), and [`EventsRequest::to_query`] shows the query a
//!   request would read.

#![warn(missing_docs, missing_debug_implementations)]

#[macro_use]
mod enums;
mod backfill;
mod client;
mod compact;
mod cursor;
mod error;
mod event;
mod fields;
mod http;
mod observe;
mod query;
mod settings;
mod stream;

pub use backfill::Backfill;
pub use client::{Client, ClientBuilder, DEFAULT_BASE_URL, EventsRequest, TOKEN_ENV};
pub use cursor::{CURSOR_VERSION, Cursor, MAX_LOOKBACK_GIDS, MAX_SEEN_GIDS};
pub use enums::{ActorType, ApiAuthenticationMethod, ContextType, EventCategory, EventType};
pub use error::{ApiError, AsanaError, Error, HttpError};
pub use event::{
    AuditLogEvent, DecodeError, EventActor, EventContext, EventDetails, EventObject, EventResource,
    MAX_EVENT_DEPTH,
};
pub use fields::Fields;
pub use http::RetryPolicy;
pub use observe::{RequestObserver, RetryReason};
pub use query::{Actor, MAX_PAGE_SIZE, Query, QueryError, QueryWarning, RETENTION, log_start};
pub use stream::{AuditLogStream, EventStream, Page, PageStream, WithCursors};

/// Re-exported so callers can name the token type without depending on `secrecy`.
pub use secrecy::SecretString;

/// Internals the fuzz targets in `fuzz/` exercise directly. Compiled only under `cfg(fuzzing)`
/// (set by `cargo fuzz`): not part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::compact::{Shape, compact, shape};
}
