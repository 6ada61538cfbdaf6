//! [`Client`], its builder and [`EventsRequest`], the query builder that starts streams.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::backfill::{Backfill, Slices};
use crate::cursor::{Cursor, Position};
use crate::error::Error;
use crate::http::{RetryPolicy, Transport};
use crate::observe::RequestObserver;
use crate::query::{Query, QueryError, QueryFields};
use crate::settings::Settings;
use crate::stream::{EventStream, Mode, PageStream, Pager};

/// The environment variable [`Client::from_env`] reads the token from.
pub const TOKEN_ENV: &str = "ASANA_ACCESS_TOKEN";

/// The default base URL, Asana's production API.
pub const DEFAULT_BASE_URL: &str = asana_audit_log_api::DEFAULT_BASE_URL;

/// A client for one token: cheap to clone, and all clones (and all their streams) share one
/// request-rate limit and one concurrency cap.
///
/// The token is held as a [`SecretString`]: it is never part of `Debug` output, errors, cursors
/// or logs, and it is only ever sent over HTTPS (or plain HTTP to a loopback test server).
///
/// ```
/// use asana_audit_log::Client;
///
/// let client = Client::new("0/1234:secret")?;
/// assert!(!format!("{client:?}").contains("secret"));
/// # Ok::<(), asana_audit_log::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    transport: Arc<Transport>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.transport, f)
    }
}

impl Client {
    /// A client for Asana's production API with default settings.
    ///
    /// ```
    /// let client = asana_audit_log::Client::new("0/1234:secret")?;
    /// assert_eq!(client.base_url(), "https://app.asana.com/api/1.0");
    /// # Ok::<(), asana_audit_log::Error>(())
    /// ```
    pub fn new(token: impl Into<SecretString>) -> Result<Client, Error> {
        Client::builder().token(token).build()
    }

    /// A client whose token comes from `ASANA_ACCESS_TOKEN`; [`Error::MissingToken`] if it is
    /// unset or empty.
    ///
    /// ```no_run
    /// let client = asana_audit_log::Client::from_env()?;
    /// # Ok::<(), asana_audit_log::Error>(())
    /// ```
    pub fn from_env() -> Result<Client, Error> {
        Client::builder().token_from_env().build()
    }

    /// Starts configuring a client.
    ///
    /// ```
    /// use std::time::Duration;
    /// use asana_audit_log::Client;
    /// use asana_audit_log::config::RetryPolicy;
    ///
    /// let client = Client::builder()
    ///     .token("0/1234:secret")
    ///     .timeout(Duration::from_secs(30))
    ///     .retry_policy(RetryPolicy::default().with_max_retries(3))
    ///     .requests_per_minute(600)
    ///     .max_concurrent_requests(4)
    ///     .build()?;
    /// assert_eq!(client.retry_policy().max_retries, 3);
    /// # Ok::<(), asana_audit_log::Error>(())
    /// ```
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The API base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.transport.settings().base_url
    }

    /// The retry policy in use.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.transport.settings().retry
    }

    /// Starts a query of a workspace's audit log (the workspace gid is the Enterprise domain's
    /// organization gid). Nothing is sent until a stream is polled.
    ///
    /// ```
    /// use asana_audit_log::Client;
    /// use asana_audit_log::types::{Actor, ActorType, EventType};
    ///
    /// let client = Client::new("0/1234:secret")?;
    /// let query = client
    ///     .audit_log_events("1234")
    ///     .since(std::time::Duration::from_secs(24 * 3600))
    ///     .event_type(EventType::UserLoginFailed)
    ///     .actor(Actor::Type(ActorType::Anonymous))
    ///     .page_size(50)
    ///     .to_query()?;
    /// assert_eq!(query.page_size(), 50);
    /// # Ok::<(), asana_audit_log::Error>(())
    /// ```
    pub fn audit_log_events(&self, workspace_gid: impl Into<String>) -> EventsRequest {
        self.request(QueryFields::new(workspace_gid.into()))
    }

    fn request(&self, fields: QueryFields) -> EventsRequest {
        EventsRequest {
            client: self.clone(),
            fields,
            since: None,
            lookback: None,
            resume: None,
        }
    }

    /// A request for an already built [`Query`].
    ///
    /// ```
    /// # let client = asana_audit_log::Client::new("0/1:x")?;
    /// let query = client.audit_log_events("1234").page_size(10).to_query()?;
    /// let again = client.query(query.clone()).to_query()?;
    /// assert_eq!(again, query);
    /// # Ok::<(), asana_audit_log::Error>(())
    /// ```
    pub fn query(&self, query: Query) -> EventsRequest {
        self.request(query.to_fields())
    }

    /// Continues the query of a saved [`Cursor`] right after its last event.
    ///
    /// ```
    /// # let client = asana_audit_log::Client::new("0/1:x")?;
    /// # let saved = client.audit_log_events("1234").stream()?.cursor().to_json();
    /// let cursor = asana_audit_log::Cursor::from_json(&saved).unwrap();
    /// let stream = client.resume(cursor).stream()?;
    /// # drop(stream);
    /// # Ok::<(), asana_audit_log::Error>(())
    /// ```
    pub fn resume(&self, cursor: Cursor) -> EventsRequest {
        self.query(cursor.query().clone()).resume(cursor)
    }
}

/// Builds a [`Query`] and starts streams over it. Made by [`Client::audit_log_events`].
///
/// Filters combine with AND. Validation happens when a stream (or [`to_query`](Self::to_query))
/// is made, before any request: gids must be numeric, the page size within 1..=100, the start
/// before the end, and an actor-type filter one of the five types the API accepts. A window
/// reaching before 2021-10-08 or beyond the 90-day retention is sent anyway, with a
/// [`QueryWarning`](crate::error::QueryWarning) logged (see [`Query::warnings`]).
#[derive(Clone, Debug)]
#[must_use = "an EventsRequest does nothing until a stream is started"]
pub struct EventsRequest {
    client: Client,
    /// The query being built, validated when a stream starts (its filters are set by the
    /// methods in `query.rs`).
    pub(crate) fields: QueryFields,
    /// A start relative to when the query is built; replaces `fields.start_at` then.
    since: Option<Duration>,
    /// The trailing window a follow reads again after each poll.
    lookback: Option<Duration>,
    resume: Option<Cursor>,
}

impl EventsRequest {
    /// Only events created at or after `start_at` (replaces [`since`](Self::since)).
    pub fn start_at(mut self, start_at: DateTime<Utc>) -> Self {
        self.fields.start_at = Some(start_at);
        self.since = None;
        self
    }

    /// Only events created before `end_at` (exclusive).
    pub fn end_at(mut self, end_at: DateTime<Utc>) -> Self {
        self.fields.end_at = Some(end_at);
        self
    }

    /// Only events of the last `window`, counted back from when the query is built (replaces
    /// [`start_at`](Self::start_at)).
    pub fn since(mut self, window: Duration) -> Self {
        self.since = Some(window);
        self.fields.start_at = None;
        self
    }

    /// Events per request, 1..=100 (default 100).
    pub fn page_size(mut self, page_size: u32) -> Self {
        self.fields.page_size = page_size;
        self
    }

    /// Makes [`follow`](Self::follow) also pick up *late* events: events that become visible
    /// with a `created_at` older than events already delivered, so that paging by offset has
    /// passed their place and never returns them.
    ///
    /// After every poll that reaches the end of the events available, the follow reads a
    /// trailing window again (a separate query with `start_at`/`end_at` set and the same
    /// filters, paged to its end) and delivers the events of it that it has not delivered yet,
    /// recognised by gid. The window ends at the newest delivered `created_at` and starts
    /// `window` before the newest event delivered when the previous such read began: a follow
    /// that pages on without reaching the end (events keep coming) reads no window meanwhile,
    /// and the next one reaches back over all that time. The first read reaches back to the
    /// first event the follow delivered (or the instant it resumed from).
    ///
    /// **Guarantee.** An event that becomes visible while the newest delivered event is at
    /// most `window` newer than its `created_at` is delivered, at the latest by the read after
    /// the next poll that reaches the end, and no event is delivered twice, across resumes
    /// from any cursor of the stream too. Late events arrive out of `created_at` order (older
    /// than events before them). An event that becomes visible later than that can be missed.
    /// (With filters, a late event between the newest matching event and the newest event of
    /// the log is picked up once a newer matching event is delivered.)
    ///
    /// **Memory.** The follow remembers the gids it delivered within the window (and a
    /// [`Cursor`] carries them: cursor format version 2), at most
    /// [`MAX_LOOKBACK_GIDS`](crate::limits::MAX_LOOKBACK_GIDS). Past that, the oldest are forgotten and
    /// the window read again starts after them, so the guarantee covers a shorter window
    /// instead of repeating events. Resuming a cursor without that memory (version 1) starts
    /// it at the cursor's last event: events older than that are not read again.
    ///
    /// **Cost.** One more query per poll that reaches the end: one request per page of events
    /// in the window (`window` × the event rate ÷ the page size, at least one; more after a
    /// stretch without reaching the end, and once after the first poll, which reads again
    /// what it delivered, as far as the memory below reaches), counted against the client's
    /// request rate like every other request.
    ///
    /// `window` must be at least 1 ms and at most [`RETENTION`](crate::limits::RETENTION) (90 days);
    /// anything else fails with [`QueryError::Lookback`] when the stream starts. Only `follow`
    /// reads a lookback window: `stream`, `pages` and `backfill` reject a request that has one
    /// ([`QueryError::LookbackWithoutFollow`]).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = asana_audit_log::Client::new("0/1234:secret")?;
    /// let follow = client
    ///     .audit_log_events("1234")
    ///     .lookback(Duration::from_secs(30 * 60))
    ///     .follow(Duration::from_secs(30))?;
    /// assert_eq!(follow.cursor().lookback_gids().count(), 0);
    /// assert!(client.audit_log_events("1234").lookback(Duration::ZERO).follow(Duration::from_secs(30)).is_err());
    /// # Ok(()) }
    /// ```
    pub fn lookback(mut self, window: Duration) -> Self {
        self.lookback = Some(window);
        self
    }

    /// Continues right after `cursor` instead of from the start.
    ///
    /// The cursor must come from a query with the same workspace and filters, otherwise the
    /// stream fails with [`Error::CursorMismatch`]. The cursor's own window and page size are
    /// used (a relative [`since`](Self::since) moves with the clock, so the window of a
    /// re-built query would not match the one the cursor's offset belongs to).
    pub fn resume(mut self, cursor: Cursor) -> Self {
        self.resume = Some(cursor);
        self
    }

    /// The validated query a stream would read now, without sending anything (a
    /// [`since`](Self::since) is counted back from now).
    pub fn to_query(&self) -> Result<Query, Error> {
        let mut fields = self.fields.clone();
        if let Some(window) = self.since {
            let delta =
                TimeDelta::from_std(window).map_err(|_| QueryError::SinceOutOfRange(window))?;
            fields.start_at = Some(
                Utc::now()
                    .checked_sub_signed(delta)
                    .ok_or(QueryError::SinceOutOfRange(window))?,
            );
        }
        Ok(fields.validate()?)
    }

    /// The query and the starting position (from the cursor, if resuming).
    fn start(&self) -> Result<(Query, Position, bool), Error> {
        let query = self.to_query()?;
        let (query, position, repositioned) = match &self.resume {
            None => (query, Position::default(), false),
            Some(cursor) => {
                if !cursor.query().same_filters(&query) {
                    return Err(Error::CursorMismatch(format!(
                        "the cursor was made for {:?}, not {:?}",
                        cursor.query(),
                        query
                    )));
                }
                (cursor.query().clone(), cursor.position().clone(), true)
            }
        };
        for warning in query.warnings() {
            tracing::warn!(workspace_gid = query.workspace_gid(), "{warning}");
        }
        let mut position = position;
        if self.lookback.is_some() {
            position.start_lookback();
        } else {
            // A stream without a lookback does not keep the memory up to date: its cursors
            // drop it, and a later follow with a lookback starts it anew from their last event.
            position.drop_lookback();
        }
        Ok((query, position, repositioned))
    }

    fn pager(&self, mode: Mode) -> Result<Pager, Error> {
        if self.lookback.is_some() && matches!(mode, Mode::Drain) {
            return Err(QueryError::LookbackWithoutFollow.into());
        }
        let (query, position, repositioned) = self.start()?;
        Ok(Pager::new(
            self.client.transport.clone(),
            query,
            position,
            repositioned,
            mode,
        ))
    }

    /// Every event available now, oldest first, ending after the last one: the stream stops at
    /// the first empty page and sends nothing after it. See [`EventStream`].
    ///
    /// ```
    /// use futures::TryStreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mock = asana_audit_log_mock::MockServer::builder().events(250).start().await?;
    /// # let client = asana_audit_log::Client::builder().token(mock.token()).base_url(mock.base_url()).build()?;
    /// # let workspace_gid = mock.workspace_gid();
    /// // let client = asana_audit_log::Client::from_env()?;
    /// let mut events = client.audit_log_events(workspace_gid).stream()?;
    /// let mut count = 0;
    /// while let Some(event) = events.try_next().await? {
    ///     println!("{}", event.json());
    ///     count += 1;
    /// }
    /// assert_eq!(count, 250);
    /// # Ok(()) }
    /// ```
    pub fn stream(&self) -> Result<EventStream, Error> {
        Ok(EventStream::paged(self.pager(Mode::Drain)?))
    }

    /// Like [`stream`](Self::stream), but never ends: after the last event it waits
    /// `poll_interval` and asks again from where it stopped, delivering new events in order.
    /// Polls count against the client's request rate (a zero interval polls as fast as it
    /// allows). With a [`lookback`](Self::lookback) it also picks up late events. With an `end_at` in the past the stream keeps polling without result: use
    /// `stream` for bounded windows.
    ///
    /// ```
    /// use futures::TryStreamExt;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mock = asana_audit_log_mock::MockServer::builder().events(250).start().await?;
    /// # let client = asana_audit_log::Client::builder().token(mock.token()).base_url(mock.base_url()).build()?;
    /// # let workspace_gid = mock.workspace_gid();
    /// let mut events = client.audit_log_events(workspace_gid).follow(Duration::from_millis(10))?;
    /// let mut seen = 0;
    /// while let Some(event) = events.try_next().await? {
    ///     println!("{}", event.json());
    ///     let checkpoint = events.cursor().to_json(); // save it to resume after a restart
    /// #   let _ = checkpoint;
    ///     seen += 1;
    ///     if seen == 250 {
    ///         mock.append_generated(1); // a new event arrives while following
    ///     }
    ///     if seen == 251 {
    ///         break; // a follow stream never ends by itself
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn follow(&self, poll_interval: Duration) -> Result<EventStream, Error> {
        let lookback = self.lookback;
        if let Some(window) = lookback
            && (window < Duration::from_millis(1) || window > crate::query::RETENTION)
        {
            return Err(QueryError::Lookback(window).into());
        }
        Ok(EventStream::paged(self.pager(Mode::Follow {
            poll_interval,
            lookback,
        })?))
    }

    /// The events of [`stream`](Self::stream) a page at a time, each with the cursor after it.
    ///
    /// ```
    /// use futures::TryStreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mock = asana_audit_log_mock::MockServer::builder().events(250).start().await?;
    /// # let client = asana_audit_log::Client::builder().token(mock.token()).base_url(mock.base_url()).build()?;
    /// # let workspace_gid = mock.workspace_gid();
    /// let mut pages = client.audit_log_events(workspace_gid).page_size(100).pages()?;
    /// let mut sizes = Vec::new();
    /// while let Some(page) = pages.try_next().await? {
    ///     println!("{} events, then {}", page.events.len(), page.cursor.to_json());
    ///     sizes.push(page.events.len());
    /// }
    /// assert_eq!(sizes, [100, 100, 50]);
    /// # Ok(()) }
    /// ```
    pub fn pages(&self) -> Result<PageStream, Error> {
        Ok(PageStream::new(self.pager(Mode::Drain)?))
    }

    /// The events of a bounded window (`start_at`/`since` and `end_at` required), fetched by
    /// several concurrent time slices and delivered in the same order as
    /// [`stream`](Self::stream) would. See [`Backfill`] for how the window is split, and
    /// [`EventStream`] for the cursor of a backfill.
    ///
    /// ```
    /// use futures::TryStreamExt;
    /// use asana_audit_log::streams::Backfill;
    /// use chrono::{TimeDelta, Utc};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mock = asana_audit_log_mock::MockServer::builder().events(250).start().await?;
    /// # let client = asana_audit_log::Client::builder().token(mock.token()).base_url(mock.base_url()).build()?;
    /// # let workspace_gid = mock.workspace_gid();
    /// let end = Utc::now() + TimeDelta::seconds(1);
    /// let mut events = client
    ///     .audit_log_events(workspace_gid)
    ///     .start_at(end - TimeDelta::days(31))
    ///     .end_at(end)
    ///     .backfill(Backfill::concurrency(8))?;
    /// let mut previous = None;
    /// while let Some(event) = events.try_next().await? {
    ///     assert!(previous <= Some(event.created_at())); // in order, as stream() would give
    ///     previous = Some(event.created_at());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn backfill(&self, options: Backfill) -> Result<EventStream, Error> {
        if self.lookback.is_some() {
            return Err(QueryError::LookbackWithoutFollow.into());
        }
        let (query, position, _) = self.start()?;
        let slices = Slices::new(self.client.transport.clone(), query, position, options)?;
        Ok(EventStream::backfill(slices))
    }
}

/// Configures a [`Client`]. Made by [`Client::builder`].
///
/// Each method sets one setting; [`build`](Self::build) checks them all, before anything is
/// sent, and fails with [`Error::InvalidConfig`] naming the setting (or [`Error::MissingToken`]).
#[derive(Default)]
pub struct ClientBuilder {
    token: Option<SecretString>,
    token_from_env: bool,
    settings: Settings,
    http: Option<reqwest::ClientBuilder>,
    observer: Option<Arc<dyn RequestObserver>>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = self.token.as_ref().map(|_| "[redacted]");
        self.settings.debug("ClientBuilder", &token, f)
    }
}

impl ClientBuilder {
    /// The access token (a service account's personal access token). Surrounding whitespace is
    /// ignored.
    pub fn token(mut self, token: impl Into<SecretString>) -> Self {
        self.token = Some(token.into());
        self.token_from_env = false;
        self
    }

    /// Reads the token from `ASANA_ACCESS_TOKEN` when building.
    pub fn token_from_env(mut self) -> Self {
        self.token = None;
        self.token_from_env = true;
        self
    }

    /// The API base URL (default `https://app.asana.com/api/1.0`). Must be HTTPS, except for a
    /// loopback host (127.0.0.0/8, `::1`, `localhost`), for tests and local mocks.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.settings.base_url = base_url.into();
        self
    }

    /// The limit for one request, body included (default 60 s). A timed-out request is retried.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// The limit for opening a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// The `User-Agent` header (default `asana-audit-log-rs/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.settings.user_agent = user_agent.into();
        self
    }

    /// How transient failures are retried (default [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.settings.retry = policy;
        self
    }

    /// The most requests this client sends in any 60 seconds, all streams together (default
    /// 1,500, Asana's limit per token on paid domains; use 150 on a free domain). Retries count.
    ///
    /// The pace adapts to the server, for all streams of the client at once:
    ///
    /// - **Pace.** A fiftieth of `per_minute` may go at once (at least one), then requests are
    ///   spread evenly at up to `per_minute − burst + 1` a minute (1,471 at 1,500): no 60 s
    ///   window holds more than `per_minute` requests while the server sends no 429, and a
    ///   long backfill runs at 98% of the limit.
    /// - **On a 429** (another program spends part of the token's budget, or the limit is
    ///   lower than configured): the pace drops to 70% of what it was (never under a
    ///   hundredth of `per_minute`), and every stream of the client waits until the
    ///   `Retry-After` has passed (capped by [`RetryPolicy::max_retry_after`]) before any
    ///   request goes again. 429s answering requests that were already in flight lower it only
    ///   once. Asana counts refused requests against the token's limit, so retrying into the
    ///   limit would cost every program sharing the token.
    /// - **Recovery.** After each quiet period without a 429 (the time 25 requests take at
    ///   `per_minute`: 1 s at 1,500), the next answer raises the pace by a fiftieth of
    ///   `per_minute`, back up to the full pace: about 15 s after one 429 at Asana's limits.
    /// - **A shared limit.** A 429 that comes after the pace has risen again since the last one
    ///   (the climb found the limit again) doubles the quiet period, up to 16 times (16 s at
    ///   1,500), so that the pace nears the rate that was refused ever more slowly and meets
    ///   the limit less often. Once the pace climbs above the rate that drew the last 429, or
    ///   reaches the full pace, the quiet period is back to its base length.
    ///
    /// When other programs use the same token, this adaptation finds the share left over; a
    /// lower `per_minute` reserves a share for them from the start.
    ///
    /// (Before the pace adapted, a fifth of `per_minute` could go at once and the rest were
    /// spread at four fifths of it; the promise of at most `per_minute` in any 60 s is
    /// unchanged.)
    pub fn requests_per_minute(mut self, per_minute: u32) -> Self {
        self.settings.requests_per_minute = Some(per_minute);
        self
    }

    /// No client-side request pace: requests go as fast as the concurrency cap allows, and the
    /// pace does not adapt to 429s (each 429 is still retried after its own `Retry-After`, but
    /// other streams of the client are not held back).
    pub fn no_rate_limit(mut self) -> Self {
        self.settings.requests_per_minute = None;
        self
    }

    /// The most requests in flight at once, all streams together: 1..=50 (default 10; Asana
    /// serves at most 50 concurrent reads per token).
    pub fn max_concurrent_requests(mut self, max: usize) -> Self {
        self.settings.max_concurrent_requests = max;
        self
    }

    /// The largest response body accepted, in bytes (default 32 MiB; `None`: no cap).
    ///
    /// A body over the cap is an error, [`Error::ResponseTooLarge`], not an allocation: a
    /// `Content-Length` over the cap is refused before any of the body is read, and any other
    /// body is counted as it arrives and dropped as soon as it passes the cap. The error is not
    /// retried. A full page of 100 events is tens of kilobytes, so the default only stops
    /// broken or hostile servers.
    ///
    /// ```
    /// let client = asana_audit_log::Client::builder()
    ///     .token("0/1234:secret")
    ///     .max_response_bytes(Some(4 * 1024 * 1024))
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), asana_audit_log::Error>(())
    /// ```
    pub fn max_response_bytes(mut self, max: Option<u64>) -> Self {
        self.settings.max_response_bytes = max;
        self
    }

    /// A `reqwest::ClientBuilder` to start from, for proxies, root certificates and the like.
    ///
    /// A builder rather than a built `reqwest::Client`: the generated API client sets no
    /// per-request headers, so the token must become a default header of the `reqwest::Client`,
    /// and only a builder can take it. Building overrides its default `Authorization` and
    /// `User-Agent`, its timeouts and its redirect policy (redirects are never followed).
    ///
    /// Available with the cargo feature `reqwest-client-builder` (off by default). The feature
    /// ties this crate's semver to reqwest's: the method names a reqwest type, so a reqwest
    /// release that changes it changes this crate's API, and the builder must come from the
    /// same reqwest version this crate uses.
    #[cfg(feature = "reqwest-client-builder")]
    pub fn http_client_builder(mut self, builder: reqwest::ClientBuilder) -> Self {
        self.http = Some(builder);
        self
    }

    /// An observer told about each request the client sends (status, latency, pages, retries
    /// and their reasons), for metrics; see [`RequestObserver`]. Default: none.
    pub fn observer(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Builds the client; fails on a missing token or an invalid setting, and sends nothing.
    pub fn build(self) -> Result<Client, Error> {
        let token = match self.token {
            Some(token) => token,
            None if self.token_from_env => std::env::var(TOKEN_ENV)
                .map(SecretString::from)
                .map_err(|_| Error::MissingToken)?,
            None => return Err(Error::MissingToken),
        };
        let trimmed = token.expose_secret().trim();
        if trimmed.is_empty() {
            return Err(Error::MissingToken);
        }
        let token = SecretString::from(trimmed);
        let settings = self.settings.validate()?;
        let transport = Transport::new(&token, settings, self.http, self.observer)?;
        Ok(Client {
            transport: Arc::new(transport),
        })
    }
}
