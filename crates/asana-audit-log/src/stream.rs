//! The paging core and the streams built on it.
//!
//! A [`Pager`] walks one query page by page. Its position (a [`Position`]) is only advanced for
//! events the caller has received, which is what makes the cursor after every event exact.

use std::collections::{HashSet, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures::Stream;
use futures::future::BoxFuture;

use crate::cursor::{Cursor, MAX_SEEN_GIDS, Position};
use crate::error::Error;
use crate::event::AuditLogEvent;
use crate::http::Transport;
use crate::query::Query;

/// How many times in a row a rejected offset may make the stream restart from the last
/// delivered instant without delivering anything new, before the 400 is returned.
const MAX_RESTARTS_WITHOUT_PROGRESS: u32 = 3;

/// How many gids of delivered events a pager remembers (in memory only), to drop an event the
/// server sends again however its `created_at` compares.
const RECENT_GIDS: usize = 1000;

/// How many pages in a row may hold events but nothing new (nothing at or after the last
/// delivered instant that was not delivered already) before the stream gives up with
/// [`Error::Protocol`]. A restart from the last instant may legitimately re-read up to
/// [`MAX_SEEN_GIDS`] events of that instant a page at a time, so the limit depends on the page
/// size: 12 pages of 100, 1,002 pages of 1.
fn stale_page_limit(page_size: u32) -> u32 {
    (MAX_SEEN_GIDS as u32).div_ceil(page_size.max(1)) + 2
}

/// The gids of the last [`RECENT_GIDS`] events handed out, oldest first (one shared copy of
/// each gid serves both the order and the set).
#[derive(Default)]
struct RecentGids {
    order: VecDeque<Arc<str>>,
    set: HashSet<Arc<str>>,
}

impl RecentGids {
    /// Records `gid`; false if it was already there.
    fn insert(&mut self, gid: &str) -> bool {
        if self.set.contains(gid) {
            return false;
        }
        if self.order.len() == RECENT_GIDS
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        let gid: Arc<str> = gid.into();
        self.order.push_back(Arc::clone(&gid));
        self.set.insert(gid);
        true
    }
}

/// Whether a pager ends at the first empty page or keeps polling (and then whether it reads
/// a trailing window again after each poll that reached the end).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mode {
    Drain,
    Follow {
        poll_interval: Duration,
        lookback: Option<Duration>,
    },
}

/// A read of the lookback window under way: its own query (the stream's filters over
/// `[start, end)`) and offset, neither of which a cursor records (a resumed follow reads the
/// window again and drops what its lookback memory holds).
struct Scan {
    query: Query,
    offset: Option<String>,
    restarts: u32,
    /// Pages in a row with events but none after the newest seen by this read.
    stale_pages: u32,
    newest: Option<chrono::DateTime<chrono::Utc>>,
    /// The newest delivered instant when this read began.
    began_at: chrono::DateTime<chrono::Utc>,
}

/// The new events of one page (already delivered ones removed).
pub(crate) struct Batch {
    pub(crate) events: VecDeque<AuditLogEvent>,
    /// How many events the page held, already delivered ones included.
    pub(crate) received: usize,
    /// The offset to continue with once `events` are delivered (`None` only with an `error`).
    pub(crate) next: Option<String>,
    /// The events come from a read of the lookback window (`next` is that read's offset).
    pub(crate) late: bool,
    /// A failure after `events` (an event that cannot be decoded, a broken paging contract):
    /// deliver them, then this error.
    pub(crate) error: Option<Error>,
}

/// The state that travels into a page fetch and back.
pub(crate) struct Core {
    transport: Arc<Transport>,
    query: Arc<Query>,
    pub(crate) position: Position,
    mode: Mode,
    /// The next page may begin before the position (after a resume): drop what is older.
    repositioned: bool,
    restarts: u32,
    /// Pages in a row with events but nothing new (see [`stale_page_limit`]).
    stale_pages: u32,
    /// Gids handed out lately, to drop replays the position cannot recognise (boxed: streams
    /// are moved around, and this is their largest part).
    recent: Box<RecentGids>,
    /// The batch being handed out.
    pending: Option<Batch>,
    /// The read of the lookback window under way, if any.
    scan: Option<Box<Scan>>,
}

impl Core {
    pub(crate) fn new(
        transport: Arc<Transport>,
        query: Arc<Query>,
        position: Position,
        repositioned: bool,
        mode: Mode,
    ) -> Self {
        Core {
            transport,
            query,
            position,
            mode,
            repositioned,
            restarts: 0,
            stale_pages: 0,
            recent: Box::default(),
            pending: None,
            scan: None,
        }
    }

    /// The lookback window of a follow that has one.
    fn lookback(&self) -> Option<Duration> {
        match self.mode {
            Mode::Follow { lookback, .. } => lookback,
            Mode::Drain => None,
        }
    }

    /// Whether the lookback memory holds `event` (delivered by either read).
    fn remembered(&self, event: &AuditLogEvent) -> bool {
        self.position
            .lookback()
            .is_some_and(|lookback| lookback.contains(event.created_at(), event.gid()))
    }

    /// Starts reading the lookback window again, if the follow has one and there is a window:
    /// `[newest delivered - lookback, newest delivered]`, within the query's own window.
    fn start_scan(&mut self) -> bool {
        let Some(window) = self.lookback() else {
            return false;
        };
        let Some((start, end)) = self.position.lookback_window(window) else {
            return false;
        };
        let Some(began_at) = self.position.last_created_at() else {
            return false;
        };
        let start = crate::query::ceil_millis(start).max(self.query.start_at().unwrap_or(start));
        let end = self.query.end_at().map_or(end, |e| e.min(end));
        if start >= end {
            return false;
        }
        self.scan = Some(Box::new(Scan {
            query: self.query.with_window(Some(start), Some(end)),
            offset: None,
            restarts: 0,
            stale_pages: 0,
            newest: None,
            began_at,
        }));
        true
    }

    /// One page of the lookback read under way: `Some(batch)` of events not delivered yet,
    /// `None` when the page held none (the read goes on, or is over when the page was empty).
    async fn scan_page(&mut self) -> Result<Option<Batch>, Error> {
        let scan = self.scan.as_mut().expect("a scan is under way");
        let page = match self
            .transport
            .fetch_page(&scan.query, scan.query.start_at(), scan.offset.as_deref())
            .await
        {
            Ok(page) => page,
            Err(Error::BadRequest(error))
                if error.carried_offset() && scan.restarts < MAX_RESTARTS_WITHOUT_PROGRESS =>
            {
                // The window is read again from its start; the lookback memory drops what was
                // delivered already.
                scan.restarts += 1;
                scan.offset = None;
                return Ok(None);
            }
            Err(error) => return Err(error),
        };
        let page_len = page.events.len();
        if page_len == 0 {
            let began_at = scan.began_at;
            self.scan = None;
            if let Some(window) = self.lookback() {
                self.position.lookback_read(began_at, window);
            }
            return Ok(None);
        }
        let mut events = VecDeque::new();
        let mut error = None;
        let mut progressed = false;
        for raw in page.events {
            match AuditLogEvent::from_raw(raw) {
                Ok(event) => {
                    let scan = self.scan.as_mut().expect("a scan is under way");
                    if scan.newest.is_none_or(|newest| event.created_at() > newest) {
                        scan.newest = Some(event.created_at());
                        progressed = true;
                    }
                    if self.remembered(&event)
                        || self.position.already_delivered(&event, false)
                        || !self.recent.insert(event.gid())
                    {
                        continue;
                    }
                    progressed = true;
                    events.push_back(event);
                }
                Err(e) => {
                    error = Some(Error::Decode(e));
                    break;
                }
            }
        }
        let scan = self.scan.as_mut().expect("a scan is under way");
        scan.stale_pages = if progressed { 0 } else { scan.stale_pages + 1 };
        if error.is_none() && scan.stale_pages > stale_page_limit(scan.query.page_size()) {
            error = Some(Error::Protocol {
                reason: format!(
                    "{} pages in a row of the lookback read held nothing newer than the pages \
                     before; the offset is not moving forward, so the stream stopped instead of \
                     looping",
                    scan.stale_pages
                ),
            });
        }
        if error.is_none() && page.next_offset.is_none() {
            error = Some(Error::Protocol {
                reason: format!(
                    "a page of {page_len} event(s) came without next_page.offset, which the \
                     API always sends after events"
                ),
            });
        }
        if events.is_empty() && error.is_none() {
            scan.offset = page.next_offset;
            return Ok(None);
        }
        Ok(Some(Batch {
            events,
            received: page_len,
            next: page.next_offset,
            late: true,
            error,
        }))
    }

    /// Fetches until there is a batch of new events, or the end (drain mode only).
    pub(crate) async fn next_batch(&mut self) -> Result<Option<Batch>, Error> {
        loop {
            if self.scan.is_some() {
                if let Some(batch) = self.scan_page().await? {
                    return Ok(Some(batch));
                }
                if self.scan.is_none()
                    && let Mode::Follow { poll_interval, .. } = self.mode
                {
                    // The window is read: wait, then poll from the offset again.
                    tokio::time::sleep(poll_interval).await;
                }
                continue;
            }
            let start_at = self.position.start_at(&self.query);
            let page = match self
                .transport
                .fetch_page(&self.query, start_at, self.position.offset())
                .await
            {
                Ok(page) => page,
                Err(Error::BadRequest(error))
                    if error.carried_offset() && self.restarts < MAX_RESTARTS_WITHOUT_PROGRESS =>
                {
                    self.restarts += 1;
                    tracing::warn!(
                        workspace_gid = self.query.workspace_gid(),
                        restart_at = ?self.position.last_created_at(),
                        error = %error,
                        "offset rejected (expired?); restarting from the last delivered event"
                    );
                    self.position.restart_from_last();
                    self.repositioned = true;
                    continue;
                }
                Err(error) => return Err(error),
            };

            let page_len = page.events.len();
            let mut events = VecDeque::with_capacity(page_len);
            let mut error = None;
            let mut progressed = false;
            for raw in page.events {
                match AuditLogEvent::from_raw(raw) {
                    Ok(event) => {
                        if self.position.already_delivered(&event, self.repositioned)
                            || self.remembered(&event)
                            || !self.recent.insert(event.gid())
                        {
                            continue;
                        }
                        // An event older than the last delivered one is new (it is delivered),
                        // but it does not move the stream forward.
                        progressed |= self
                            .position
                            .last_created_at()
                            .is_none_or(|last| event.created_at() >= last);
                        events.push_back(event);
                    }
                    Err(e) => {
                        error = Some(Error::Decode(e));
                        break;
                    }
                }
            }
            if page_len > 0 {
                self.repositioned = false;
            }
            if page_len == 0 || progressed {
                self.stale_pages = 0;
            } else {
                self.stale_pages += 1;
            }
            let limit = stale_page_limit(self.query.page_size());
            if error.is_none() && self.stale_pages > limit {
                error = Some(Error::Protocol {
                    reason: format!(
                        "{} pages in a row held only events already delivered (or older than \
                         them); the offset is not moving forward, so the stream stopped instead \
                         of looping",
                        self.stale_pages
                    ),
                });
            }
            if error.is_none() && page_len > 0 && page.next_offset.is_none() {
                // The API sends `next_page` with every page once the query has matched; without
                // it the stream cannot tell whether more events follow.
                error = Some(Error::Protocol {
                    reason: format!(
                        "a page of {page_len} event(s) came without next_page.offset, which the \
                         API always sends after events"
                    ),
                });
            }

            if !events.is_empty() || error.is_some() {
                return Ok(Some(Batch {
                    events,
                    received: page_len,
                    next: page.next_offset,
                    late: false,
                    error,
                }));
            }
            // Nothing new on this page: move on without delivering anything. An empty page
            // keeps the offset when it has none (a query that never matched has none).
            self.position.advance(page.next_offset);
            match self.mode {
                // Events but none new: fetch the next page at once.
                _ if page_len > 0 => {}
                // No more events now; the cursor resumes from the offset later.
                Mode::Drain => return Ok(None),
                Mode::Follow { poll_interval, .. } => {
                    // At the end: read the lookback window again first, when there is one.
                    if !self.start_scan() {
                        tokio::time::sleep(poll_interval).await;
                    }
                }
            }
        }
    }

    /// Takes a fetched batch: its events are handed out next, by [`next_event`](Self::next_event)
    /// or [`take_events`](Self::take_events).
    pub(crate) fn hand_out(&mut self, batch: Batch) {
        debug_assert!(
            self.pending.is_none(),
            "the previous batch is handed out first"
        );
        self.pending = Some(batch);
    }

    /// Hands out the next event of the batch and records it in the position.
    ///
    /// The exactly-once rule, in the one place every stream (and every backfill slice) uses:
    /// the position moves past the page (to its next offset) only once its last event is out,
    /// and never past a page that failed: that page's error comes next, and a cursor taken
    /// before it still asks for the page again.
    fn pop(&mut self) -> Option<AuditLogEvent> {
        let pending = self.pending.as_mut()?;
        let event = pending.events.pop_front();
        if let Some(event) = &event {
            if pending.late {
                self.position.observe_late(event);
            } else {
                self.position.observe(event);
                self.restarts = 0;
            }
            if let Mode::Follow {
                lookback: Some(window),
                ..
            } = self.mode
            {
                self.position.remember(event, window);
            }
        }
        if pending.events.is_empty() && pending.error.is_none() {
            let next = pending.next.take();
            let late = pending.late;
            self.pending = None;
            if !late {
                self.position.advance(next);
            } else if let Some(scan) = &mut self.scan {
                // The lookback read's own offset: never part of the position.
                scan.offset = next;
            }
        }
        event
    }

    /// The next event of the batch, else the batch's error (once), else `None`: time to fetch.
    pub(crate) fn next_event(&mut self) -> Option<Result<AuditLogEvent, Error>> {
        if let Some(event) = self.pop() {
            return Some(Ok(event));
        }
        self.pending.take().and_then(|batch| batch.error).map(Err)
    }

    /// Hands out every remaining event of the batch; its error, if any, stays for
    /// [`next_event`](Self::next_event).
    pub(crate) fn take_events(&mut self) -> Vec<AuditLogEvent> {
        std::iter::from_fn(|| self.pop()).collect()
    }
}

type Fetch = BoxFuture<'static, (Core, Result<Option<Batch>, Error>)>;

/// Drives a [`Core`] from `poll` methods: owns it while idle, lends it to the fetch future.
pub(crate) struct Pager {
    query: Arc<Query>,
    core: Option<Core>,
    fetch: Option<Fetch>,
    /// The position as of the last delivered event, for cursors taken while a fetch runs.
    snapshot: Position,
    done: bool,
}

impl Pager {
    pub(crate) fn new(
        transport: Arc<Transport>,
        query: Query,
        position: Position,
        repositioned: bool,
        mode: Mode,
    ) -> Self {
        let query = Arc::new(query);
        Pager {
            query: query.clone(),
            snapshot: position.clone(),
            core: Some(Core::new(transport, query, position, repositioned, mode)),
            fetch: None,
            done: false,
        }
    }

    fn poll_batch(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Batch, Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.fetch.is_none() {
            let mut core = self.core.take().expect("core is home when no fetch runs");
            self.snapshot = core.position.clone();
            self.fetch = Some(Box::pin(async move {
                let result = core.next_batch().await;
                (core, result)
            }));
        }
        let fetch = self.fetch.as_mut().expect("just set");
        let (core, result) = ready!(fetch.as_mut().poll(cx));
        self.fetch = None;
        self.core = Some(core);
        match result {
            Ok(Some(batch)) => Poll::Ready(Some(Ok(batch))),
            Ok(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Err(error) => {
                self.done = true;
                Poll::Ready(Some(Err(error)))
            }
        }
    }

    /// The next item `take` makes of the core's batch, fetching batches until it makes one.
    /// The stream is done after an error.
    fn poll_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut take: impl FnMut(&mut Core) -> Option<Result<T, Error>>,
    ) -> Poll<Option<Result<T, Error>>> {
        loop {
            if let Some(core) = self.core.as_mut()
                && let Some(item) = take(core)
            {
                self.done |= item.is_err();
                return Poll::Ready(Some(item));
            }
            match ready!(self.poll_batch(cx)) {
                Some(Ok(batch)) => self
                    .core
                    .as_mut()
                    .expect("core is home between fetches")
                    .hand_out(batch),
                Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                None => return Poll::Ready(None),
            }
        }
    }

    fn cursor(&self) -> Cursor {
        let position = match &self.core {
            Some(core) => core.position.clone(),
            None => self.snapshot.clone(),
        };
        Cursor::new((*self.query).clone(), position)
    }
}

/// What every stream of this crate offers besides its items: the [`Cursor`] after the last item
/// returned, and the [`Query`] it reads. Take `impl AuditLogStream<Item = Result<AuditLogEvent,
/// Error>>` to accept a stream, a follow or a backfill alike (all three are an [`EventStream`]),
/// or the same stream [`with_cursors`](EventStream::with_cursors).
///
/// ```
/// use futures::TryStreamExt;
/// use asana_audit_log::{AuditLogEvent, AuditLogStream, Cursor, Error};
///
/// /// Drains any of the crate's event streams, returning the count and where it stopped.
/// async fn drain(
///     mut events: impl AuditLogStream<Item = Result<AuditLogEvent, Error>>,
/// ) -> Result<(usize, Cursor), Error> {
///     let mut count = 0;
///     while let Some(_event) = events.try_next().await? {
///         count += 1;
///     }
///     Ok((count, events.cursor()))
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let mock = asana_audit_log_mock::MockServer::builder().events(120).start().await?;
/// # let client = asana_audit_log::Client::builder().token(mock.token()).base_url(mock.base_url()).build()?;
/// let (count, cursor) = drain(client.audit_log_events(mock.workspace_gid()).stream()?).await?;
/// assert_eq!(count, 120);
/// assert!(cursor.has_offset());
/// # Ok(()) }
/// ```
pub trait AuditLogStream: Stream + Unpin {
    /// The position right after the last item returned (before the first: where the stream
    /// starts). Save it to continue later with [`Client::resume`](crate::Client::resume).
    fn cursor(&self) -> Cursor;

    /// The query the stream reads.
    fn query(&self) -> &Query;
}

/// Where an [`EventStream`]'s events come from.
// Both variants are large (a pager holds two positions, a backfill its slice list); a stream
// holds one of them for its whole life, so boxing either would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Source {
    /// One query walked page by page ([`EventsRequest::stream`](crate::EventsRequest::stream),
    /// [`follow`](crate::EventsRequest::follow)).
    Pager(Pager),
    /// Concurrent slices of a bounded window ([`backfill`](crate::EventsRequest::backfill)).
    Backfill(crate::backfill::Slices),
}

/// A stream of events, oldest first: made by [`EventsRequest::stream`] (ends when no more
/// events exist now), [`EventsRequest::follow`] (never ends) and [`EventsRequest::backfill`]
/// (a bounded window fetched by concurrent slices, same events in the same order as `stream`).
///
/// [`cursor`](Self::cursor) is the position right after the last event returned; save it to
/// continue later with [`Client::resume`](crate::Client::resume), or use
/// [`with_cursors`](Self::with_cursors) to get it with every event. A backfill's cursor holds no
/// offset (its slices have their own), so resuming it restarts from the last event's
/// `created_at` and drops the events already delivered at that instant.
///
/// **Delivery guarantee.** Events arrive in `created_at` order, each once. Failed requests are
/// retried with the same offset, so retries never skip or repeat. When Asana rejects an offset
/// (HTTP 400 on a request that carried one, e.g. because it expired), the stream asks again with
/// `start_at` = the last delivered event's `created_at` and the same filters, and drops the
/// events it already delivered at that instant (by gid): the server's at-least-once answer
/// becomes exactly-once to the caller, with no gap. The same holds across a resume from a
/// cursor. (Caveat: more than [`MAX_SEEN_GIDS`](crate::limits::MAX_SEEN_GIDS) events sharing one
/// millisecond may repeat after such a restart.) The gids of the last 1,000 events delivered are
/// also kept in memory, so an event the server sends again is dropped whatever its `created_at`.
///
/// **Late events.** Offsets only move forward, so an event that becomes visible with a
/// `created_at` older than events already delivered is never returned by a plain `follow`.
/// [`EventsRequest::lookback`](crate::EventsRequest::lookback) makes a follow read a trailing
/// window again after each poll and deliver such events (once, out of `created_at` order); its
/// documentation states the guarantee and the cost in requests.
///
/// **No spinning.** A server that breaks the paging contract ends the stream with
/// [`Error::Protocol`](crate::Error::Protocol) instead of making it stop early or loop: a page of
/// events without `next_page.offset` (its events are delivered first), or page after page of
/// nothing but events already delivered (more in a row than a restart could legitimately
/// re-read: 12 pages at 100 events a page).
///
/// The stream ends after the first error: it yields the error, then `None`. `next()` is
/// cancel-safe: a call dropped before it completes loses no event. A backfill must be polled
/// within a tokio runtime (its slices run as tasks, aborted when the stream is dropped).
///
/// [`EventsRequest::stream`]: crate::EventsRequest::stream
/// [`EventsRequest::follow`]: crate::EventsRequest::follow
/// [`EventsRequest::backfill`]: crate::EventsRequest::backfill
pub struct EventStream {
    source: Source,
}

impl EventStream {
    pub(crate) fn paged(pager: Pager) -> Self {
        EventStream {
            source: Source::Pager(pager),
        }
    }

    pub(crate) fn backfill(slices: crate::backfill::Slices) -> Self {
        EventStream {
            source: Source::Backfill(slices),
        }
    }

    /// The position right after the last event this stream returned (before the first event:
    /// the start of the query, or the cursor it resumed from).
    pub fn cursor(&self) -> Cursor {
        match &self.source {
            Source::Pager(pager) => pager.cursor(),
            Source::Backfill(slices) => slices.cursor(),
        }
    }

    /// The query this stream reads (for a backfill, the whole window's).
    pub fn query(&self) -> &Query {
        match &self.source {
            Source::Pager(pager) => &pager.query,
            Source::Backfill(slices) => slices.query(),
        }
    }

    /// Pairs every event with the cursor right after it.
    ///
    /// ```
    /// use futures::TryStreamExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mock = asana_audit_log_mock::MockServer::builder().events(250).start().await?;
    /// # let client = asana_audit_log::Client::builder().token(mock.token()).base_url(mock.base_url()).build()?;
    /// # let workspace_gid = mock.workspace_gid();
    /// let checkpoint = std::env::temp_dir().join("asana-audit-log-doc-checkpoint.json");
    /// let mut events = client.audit_log_events(workspace_gid).stream()?.with_cursors();
    /// while let Some((event, cursor)) = events.try_next().await? {
    ///     println!("{}", event.json());
    ///     std::fs::write(&checkpoint, cursor.to_json())?;
    /// }
    /// # std::fs::remove_file(&checkpoint)?;
    /// # Ok(()) }
    /// ```
    pub fn with_cursors(self) -> WithCursors<Self> {
        WithCursors { inner: self }
    }
}

impl AuditLogStream for EventStream {
    fn cursor(&self) -> Cursor {
        EventStream::cursor(self)
    }

    fn query(&self) -> &Query {
        EventStream::query(self)
    }
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::Pager(pager) => f
                .debug_struct("EventStream")
                .field("query", &pager.query)
                .field(
                    "buffered",
                    &pager
                        .core
                        .as_ref()
                        .and_then(|core| core.pending.as_ref())
                        .map_or(0, |batch| batch.events.len()),
                )
                .field("done", &pager.done)
                .finish_non_exhaustive(),
            Source::Backfill(slices) => f
                .debug_struct("EventStream")
                .field("backfill", slices)
                .finish_non_exhaustive(),
        }
    }
}

impl Stream for EventStream {
    type Item = Result<AuditLogEvent, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.get_mut().source {
            Source::Pager(pager) => pager.poll_with(cx, Core::next_event),
            Source::Backfill(slices) => slices.poll_event(cx),
        }
    }
}

/// A stream's events paired with the cursor after each: made by
/// [`EventStream::with_cursors`].
pub struct WithCursors<S = EventStream> {
    inner: S,
}

impl<S: AuditLogStream> WithCursors<S> {
    /// The position after the last event returned.
    pub fn cursor(&self) -> Cursor {
        self.inner.cursor()
    }

    /// The stream without the cursors.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AuditLogStream> AuditLogStream for WithCursors<S>
where
    S: Stream<Item = Result<AuditLogEvent, Error>>,
{
    fn cursor(&self) -> Cursor {
        self.inner.cursor()
    }

    fn query(&self) -> &Query {
        self.inner.query()
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for WithCursors<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithCursors")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<S> Stream for WithCursors<S>
where
    S: AuditLogStream + Stream<Item = Result<AuditLogEvent, Error>>,
{
    type Item = Result<(AuditLogEvent, Cursor), Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let item = ready!(Pin::new(&mut this.inner).poll_next(cx));
        Poll::Ready(item.map(|result| result.map(|event| (event, this.inner.cursor()))))
    }
}

/// One page of events and the cursor right after its last event.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Page {
    /// The page's new events, oldest first (never empty).
    pub events: Vec<AuditLogEvent>,
    /// The position after the last of them.
    pub cursor: Cursor,
}

/// The events of [`EventsRequest::stream`](crate::EventsRequest::stream) a page at a time:
/// made by [`EventsRequest::pages`](crate::EventsRequest::pages). Same order and guarantees as
/// [`EventStream`]; empty pages are not yielded. If an event of a page cannot be decoded, the
/// events before it come as a page and the error follows.
pub struct PageStream {
    pager: Pager,
}

impl PageStream {
    pub(crate) fn new(pager: Pager) -> Self {
        PageStream { pager }
    }

    /// The position after the last page returned.
    pub fn cursor(&self) -> Cursor {
        self.pager.cursor()
    }

    /// The query this stream reads.
    pub fn query(&self) -> &Query {
        &self.pager.query
    }
}

impl AuditLogStream for PageStream {
    fn cursor(&self) -> Cursor {
        self.pager.cursor()
    }

    fn query(&self) -> &Query {
        &self.pager.query
    }
}

impl std::fmt::Debug for PageStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageStream")
            .field("query", &self.pager.query)
            .field("done", &self.pager.done)
            .finish_non_exhaustive()
    }
}

impl Stream for PageStream {
    type Item = Result<Page, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let pager = &mut self.get_mut().pager;
        let events = ready!(pager.poll_with(cx, |core| {
            let events = core.take_events();
            if events.is_empty() {
                // Nothing left but the batch's error, if it has one.
                core.next_event().map(|item| item.map(|event| vec![event]))
            } else {
                Some(Ok(events))
            }
        }));
        Poll::Ready(events.map(|events| {
            events.map(|events| Page {
                events,
                cursor: pager.cursor(),
            })
        }))
    }
}
