//! Typed, resumable, rate-limited streams over Asana's Audit Log API.
//!
//! This is the crate to use; it builds on the generated low-level client
//! `asana-audit-log-api`. It gives you:
//!
//! - a [`Client`] that keeps the token secret, retries transient failures
//!   ([`RetryPolicy`](config::RetryPolicy)), honours `Retry-After`, and caps the request rate
//!   and concurrency of all its streams;
//! - a validated, typed query ([`Client::audit_log_events`] → [`EventsRequest`] → [`Query`]);
//! - streams: [`stream`](EventsRequest::stream) (everything available now, then ends),
//!   [`follow`](EventsRequest::follow) (never ends) and a concurrent
//!   [`backfill`](EventsRequest::backfill) of a bounded window, all three an [`EventStream`],
//!   and [`pages`](EventsRequest::pages); every stream is an [`AuditLogStream`];
//! - a serializable [`Cursor`] after every event, to resume without gap or duplicate;
//! - late events (visible after paging has passed their `created_at`) picked up by a follow
//!   with a [`lookback`](EventsRequest::lookback) window, each once;
//! - lossless events ([`AuditLogEvent`]): the exact JSON Asana sent, plus typed views, with
//!   open enums ([`EventType`](types::EventType), [`ActorType`](types::ActorType), ...) that
//!   keep values this version does not know.
//!
//! The crate root holds the types every program touches: [`Client`], [`ClientBuilder`],
//! [`EventsRequest`], [`Query`], [`Cursor`], [`AuditLogEvent`], [`EventStream`],
//! [`AuditLogStream`], [`Error`] and [`SecretString`] (how a token is given). The rest is in
//! modules named for what they hold: [`events`] (the parts of an event), [`types`] (the open
//! enums), [`streams`] (pages, cursors per event, backfill options), [`error`] (the error
//! types), [`config`] (retry policy, defaults), [`observe`] (request metrics) and [`limits`]
//! (fixed numbers of the API and the crate).
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
//! use asana_audit_log::AuditLogEvent;
//! use asana_audit_log::types::{ContextType, EventCategory};
//!
//! let text = r#"{"gid":"1","created_at":"2024-05-01T00:00:00.000Z","event_type":"user_login_succeeded","context":{"context_type":"hologram"},"added_later":[1e400]}"#;
//! let event = AuditLogEvent::from_json(text)?;
//! assert_eq!(event.event_type().category(), Some(EventCategory::Logins));
//! assert_eq!(event.context().context_type, Some(ContextType::Unknown("hologram".into())));
//! assert_eq!(serde_json::to_string(&event).unwrap(), text);
//! # Ok::<(), asana_audit_log::error::DecodeError>(())
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
//! - **A small root, then modules by purpose.** The root holds only the types every program
//!   touches; every other public item lives in exactly one module named for what it is for
//!   ([`events`], [`types`], [`streams`], [`error`], [`config`], [`observe`], [`limits`]), at
//!   one path, with no aliases ([`Error`] is also `error::Error`, beside its parts). Everything public is an Asana audit-log concept: no
//!   general-purpose helper (a JSON walker, an output format's plumbing) is part of the API.
//! - **One shape for streams.** Every stream implements [`AuditLogStream`] (`Stream` plus its
//!   [`Cursor`] and [`Query`]); `stream`, `follow` and `backfill` all return one type,
//!   [`EventStream`], so a caller that takes "any of them" names one type or one trait.
//! - **Each concept is defined once.** A query's fields are declared in one place and checked
//!   by one function, however the query is made (builder, [`Client::query`], a cursor read back
//!   from disk); client settings likewise ([`ClientBuilder`]). The rule that makes cursors exact
//!   (the position moves past a page only once its last event is handed out, never past a page
//!   that failed) lives in one function that every stream and backfill slice uses.
//! - **Options are checked, never clamped.** Client settings are checked when the client is
//!   built ([`Error::InvalidConfig`]); query filters and [`Backfill`](streams::Backfill)
//!   options when a stream starts ([`Error::InvalidQuery`]). Both happen before any request; a
//!   value out of range is an error naming it, not silently changed.
//! - **Our semver is ours.** No public signature names a type of the HTTP stack, unless you
//!   opt in: the cargo feature `reqwest-client-builder` (off by default) adds
//!   `ClientBuilder::http_client_builder`, whose point is to take a `reqwest::ClientBuilder`,
//!   and so ties this crate's semver to reqwest's for the programs that enable it. The types
//!   that do appear are deliberate and stable: `serde_json`'s `RawValue`, `Value` and `Error`
//!   (events are JSON, kept exactly), `chrono`'s `DateTime<Utc>` (times), `futures`' `Stream`
//!   (what the streams are) and `secrecy`'s `SecretString` (re-exported). Statuses are `u16`,
//!   failures of the HTTP stack are an opaque [`HttpError`](error::HttpError) whose `source()`
//!   is the underlying error. Enums that mirror server strings are `#[non_exhaustive]` and keep
//!   values they do not know (`Unknown(String)`), and round-trip them.
//! - **Names mean one thing.** `with_*` methods return a changed copy of a value
//!   ([`RetryPolicy::with_max_retries`](config::RetryPolicy::with_max_retries),
//!   [`Backfill::with_buffered_pages`](streams::Backfill::with_buffered_pages)); getters are
//!   plain nouns or questions ([`ApiError::carried_offset`](error::ApiError::carried_offset));
//!   `build` makes the thing its builder configures ([`ClientBuilder::build`]), and
//!   [`EventsRequest::to_query`] shows the query a request would read.

#![warn(missing_docs, missing_debug_implementations)]

#[macro_use]
mod enums;
mod backfill;
mod client;
mod compact;
mod cursor;
pub mod error;
mod event;
mod fields;
mod http;
pub mod observe;
mod query;
mod settings;
mod stream;

// The public API, all of it: the types every program touches at the root, the rest in the
// modules below (and `error` and `observe`), grouped by what they are for.

pub use client::{Client, ClientBuilder, EventsRequest};
pub use cursor::Cursor;
#[doc(inline)]
pub use error::Error;
pub use event::AuditLogEvent;
pub use query::Query;
pub use stream::{AuditLogStream, EventStream};

/// Re-exported so callers can name the token type without depending on `secrecy`.
pub use secrecy::SecretString;

pub mod events {
    //! The parts of an [`AuditLogEvent`](crate::AuditLogEvent) besides its gid, time and type:
    //! typed views of its `actor`, `resource`, `context` and `details` objects
    //! ([`EventActor`], [`EventResource`], [`EventContext`], [`EventDetails`]), each keeping
    //! every member of its object, known or not, as [`Fields`] (exact JSON text by key); and
    //! [`EventObject`], which names an object to read its string members straight from the
    //! event's text with [`AuditLogEvent::for_each_member`](crate::AuditLogEvent::for_each_member).
    //! An event that cannot be decoded is an [`error::DecodeError`](crate::error::DecodeError).

    pub use crate::event::{EventActor, EventContext, EventDetails, EventObject, EventResource};
    pub use crate::fields::Fields;
}

pub mod types {
    //! The words of Asana's audit log as open enums: what happened ([`EventType`], and its
    //! [`EventCategory`]), who did it ([`ActorType`]) and from where ([`ContextType`],
    //! [`ApiAuthenticationMethod`]). Each is `#[non_exhaustive]`, reads and writes the API's own
    //! string (`Display`, `FromStr`, serde) and keeps a value this version does not know as
    //! `Unknown(String)`, which round-trips. [`Actor`] is a query's actor filter: an actor type
    //! or one actor's gid.

    pub use crate::enums::{
        ActorType, ApiAuthenticationMethod, ContextType, EventCategory, EventType,
    };
    pub use crate::query::Actor;
}

pub mod streams {
    //! What the streams of an [`EventsRequest`](crate::EventsRequest) hand out and how they
    //! are tuned, beyond the [`EventStream`](crate::EventStream) that `stream`, `follow` and
    //! `backfill` return: the [`Page`]s of a [`PageStream`]
    //! ([`pages`](crate::EventsRequest::pages)), the events paired with the cursor after each
    //! ([`WithCursors`], from [`EventStream::with_cursors`](crate::EventStream::with_cursors)),
    //! and the options of a concurrent backfill ([`Backfill`]). Every stream is an
    //! [`AuditLogStream`](crate::AuditLogStream).

    pub use crate::backfill::Backfill;
    pub use crate::stream::{Page, PageStream, WithCursors};
}

pub mod config {
    //! Client settings that are values of their own, for a
    //! [`ClientBuilder`](crate::ClientBuilder): how failed requests are retried
    //! ([`RetryPolicy`]), the API's address unless another is set ([`DEFAULT_BASE_URL`]) and
    //! the environment variable the token is read from ([`TOKEN_ENV`]). How requests are watched
    //! is in [`observe`](crate::observe).

    pub use crate::client::{DEFAULT_BASE_URL, TOKEN_ENV};
    pub use crate::http::RetryPolicy;
}

pub mod limits {
    //! Fixed numbers of Asana's audit log and of this crate, for programs that plan around
    //! them: the largest page ([`MAX_PAGE_SIZE`]), how long events are kept ([`RETENTION`])
    //! and when the log begins ([`log_start`]); how deeply an event may nest
    //! ([`MAX_EVENT_DEPTH`]); how many gids a cursor remembers ([`MAX_SEEN_GIDS`],
    //! [`MAX_LOOKBACK_GIDS`]); and the version of the cursor format ([`CURSOR_VERSION`]).
    //! Options that have a range say it where they are set, and are checked, never clamped.

    pub use crate::cursor::{CURSOR_VERSION, MAX_LOOKBACK_GIDS, MAX_SEEN_GIDS};
    pub use crate::event::MAX_EVENT_DEPTH;
    pub use crate::query::{MAX_PAGE_SIZE, RETENTION, log_start};
}

/// Internals the fuzz targets in `fuzz/` exercise directly. Compiled only under `cfg(fuzzing)`
/// (set by `cargo fuzz`): not part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::compact::{Shape, compact, shape};
}
