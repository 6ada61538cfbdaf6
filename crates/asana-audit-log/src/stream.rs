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

/// Whether a pager ends at the first empty page or keeps polling.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Mode {
    Drain,
    Follow(Duration),
}

/// The new events of one page (already delivered ones removed).
pub(crate) struct Batch {
    pub(crate) events: VecDeque<AuditLogEvent>,
    /// How many events the page held, already delivered ones included.
    pub(crate) received: usize,
    /// The offset to continue with once `events` are delivered (`None` only with an `error`).
    pub(crate) next: Option<String>,
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
        }
    }

    /// Fetches until there is a batch of new events, or the end (drain mode only).
    pub(crate) async fn next_batch(&mut self) -> Result<Option<Batch>, Error> {
        loop {
            let start_at = self.position.restart_at.or(self.query.start_at());
            let page = match self
                .transport
                .fetch_page(&self.query, start_at, self.position.offset.as_deref())
                .await
            {
                Ok(page) => page,
                Err(Error::BadRequest(error))
                    if error.with_offset() && self.restarts < MAX_RESTARTS_WITHOUT_PROGRESS =>
                {
                    self.restarts += 1;
                    tracing::warn!(
                        workspace_gid = self.query.workspace_gid(),
                        restart_at = ?self.position.last_created_at,
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
                            || !self.recent.insert(event.gid())
                        {
                            continue;
                        }
                        // An event older than the last delivered one is new (it is delivered),
                        // but it does not move the stream forward.
                        progressed |= self
                            .position
                            .last_created_at
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
                    error,
                }));
            }
            // Nothing new on this page: move on without delivering anything. An empty page
            // keeps the offset when it has none (a query that never matched has none).
            if let Some(offset) = page.next_offset {
                self.position.offset = Some(offset);
            }
            match self.mode {
                // Events but none new: fetch the next page at once.
                _ if page_len > 0 => {}
                // No more events now; the cursor resumes from the offset later.
                Mode::Drain => return Ok(None),
                Mode::Follow(interval) => tokio::time::sleep(interval).await,
            }
        }
    }

    /// Records a delivered event.
    pub(crate) fn delivered(&mut self, event: &AuditLogEvent) {
        self.position.observe(event);
        self.restarts = 0;
    }

    /// Moves past a fully delivered batch.
    pub(crate) fn advance(&mut self, next: Option<String>) {
        if let Some(offset) = next {
            self.position.offset = Some(offset);
        }
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

    fn core(&mut self) -> &mut Core {
        self.core.as_mut().expect("core is home between fetches")
    }

    fn cursor(&self) -> Cursor {
        let position = match &self.core {
            Some(core) => core.position.clone(),
            None => self.snapshot.clone(),
        };
        Cursor::new((*self.query).clone(), position)
    }
}

/// A stream of events, oldest first, made by [`EventsRequest::stream`] (ends when no more
/// events exist now) or [`EventsRequest::follow`] (never ends).
///
/// [`cursor`](Self::cursor) is the position right after the last event returned; save it to
/// continue later with [`Client::resume`](crate::Client::resume), or use
/// [`with_cursors`](Self::with_cursors) to get it with every event.
///
/// **Delivery guarantee.** Events arrive in `created_at` order, each once. Failed requests are
/// retried with the same offset, so retries never skip or repeat. When Asana rejects an offset
/// (HTTP 400 on a request that carried one, e.g. because it expired), the stream asks again with
/// `start_at` = the last delivered event's `created_at` and the same filters, and drops the
/// events it already delivered at that instant (by gid): the server's at-least-once answer
/// becomes exactly-once to the caller, with no gap. The same holds across a resume from a
/// cursor. (Caveat: more than [`MAX_SEEN_GIDS`](crate::MAX_SEEN_GIDS) events sharing one
/// millisecond may repeat after such a restart.) The gids of the last 1,000 events delivered are
/// also kept in memory, so an event the server sends again is dropped whatever its `created_at`.
///
/// **No spinning.** A server that breaks the paging contract ends the stream with
/// [`Error::Protocol`](crate::Error::Protocol) instead of making it stop early or loop: a page of
/// events without `next_page.offset` (its events are delivered first), or page after page of
/// nothing but events already delivered (more in a row than a restart could legitimately
/// re-read: 12 pages at 100 events a page).
///
/// The stream ends after the first error: it yields the error, then `None`.
///
/// [`EventsRequest::stream`]: crate::EventsRequest::stream
/// [`EventsRequest::follow`]: crate::EventsRequest::follow
pub struct EventStream {
    pager: Pager,
    buffer: VecDeque<AuditLogEvent>,
    next: Option<Option<String>>,
    error: Option<Error>,
}

impl EventStream {
    pub(crate) fn new(pager: Pager) -> Self {
        EventStream {
            pager,
            buffer: VecDeque::new(),
            next: None,
            error: None,
        }
    }

    /// The position right after the last event this stream returned (before the first event:
    /// the start of the query, or the cursor it resumed from).
    pub fn cursor(&self) -> Cursor {
        self.pager.cursor()
    }

    /// The query this stream reads.
    pub fn query(&self) -> &Query {
        &self.pager.query
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
    pub fn with_cursors(self) -> WithCursors {
        WithCursors { inner: self }
    }
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("query", &self.pager.query)
            .field("buffered", &self.buffer.len())
            .field("done", &self.pager.done)
            .finish_non_exhaustive()
    }
}

impl Stream for EventStream {
    type Item = Result<AuditLogEvent, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(event) = this.buffer.pop_front() {
                let core = this.pager.core();
                core.delivered(&event);
                if this.buffer.is_empty()
                    && let Some(next) = this.next.take()
                {
                    core.advance(next);
                }
                return Poll::Ready(Some(Ok(event)));
            }
            if let Some(error) = this.error.take() {
                this.pager.done = true;
                return Poll::Ready(Some(Err(error)));
            }
            match ready!(this.pager.poll_batch(cx)) {
                Some(Ok(batch)) => {
                    this.buffer = batch.events;
                    if batch.error.is_some() {
                        this.error = batch.error;
                    } else if this.buffer.is_empty() {
                        this.pager.core().advance(batch.next);
                    } else {
                        this.next = Some(batch.next);
                    }
                }
                Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                None => return Poll::Ready(None),
            }
        }
    }
}

/// [`EventStream`] items paired with the cursor after each: made by
/// [`EventStream::with_cursors`].
pub struct WithCursors {
    inner: EventStream,
}

impl WithCursors {
    /// The position after the last event returned.
    pub fn cursor(&self) -> Cursor {
        self.inner.cursor()
    }
}

impl std::fmt::Debug for WithCursors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithCursors")
            .field("inner", &self.inner)
            .finish()
    }
}

impl Stream for WithCursors {
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
    error: Option<Error>,
}

impl PageStream {
    pub(crate) fn new(pager: Pager) -> Self {
        PageStream { pager, error: None }
    }

    /// The position after the last page returned.
    pub fn cursor(&self) -> Cursor {
        self.pager.cursor()
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
        let this = self.get_mut();
        if let Some(error) = this.error.take() {
            this.pager.done = true;
            return Poll::Ready(Some(Err(error)));
        }
        loop {
            match ready!(this.pager.poll_batch(cx)) {
                Some(Ok(batch)) => {
                    let core = this.pager.core();
                    for event in &batch.events {
                        core.delivered(event);
                    }
                    if batch.error.is_none() {
                        core.advance(batch.next);
                    }
                    let events: Vec<AuditLogEvent> = batch.events.into();
                    if events.is_empty() {
                        if let Some(error) = batch.error {
                            this.pager.done = true;
                            return Poll::Ready(Some(Err(error)));
                        }
                        continue;
                    }
                    this.error = batch.error;
                    return Poll::Ready(Some(Ok(Page {
                        events,
                        cursor: this.pager.cursor(),
                    })));
                }
                Some(Err(error)) => return Poll::Ready(Some(Err(error))),
                None => return Poll::Ready(None),
            }
        }
    }
}
