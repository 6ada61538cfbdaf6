//! Concurrent backfill of a bounded window: time slices fetched in parallel, delivered in order.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use chrono::{DateTime, TimeDelta, Utc};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::cursor::{Cursor, Position};
use crate::error::Error;
use crate::event::AuditLogEvent;
use crate::http::{API_MAX_CONCURRENCY, Transport};
use crate::query::{Query, QueryError};
use crate::stream::{Core, Mode};

/// How a [`backfill`](crate::EventsRequest::backfill) splits and fetches its window.
///
/// The window `[start, end)` is first cut into `concurrency × slices_per_worker` consecutive
/// slices of equal length. Each slice then adapts to the density of its events: its first page
/// shows how much of the slice a page covers, and when the rest of the slice looks longer than
/// `buffered_pages` pages, the rest is cut again into pieces of about that many pages (the
/// slice itself keeps the first piece and stops at its end). Pieces split the same way when
/// they start. So a dense 90-day window becomes many short slices that can all be fetched
/// ahead, while a sparse one costs no extra requests; no request is spent probing.
///
/// At most `concurrency` requests are in flight; the slice being delivered gets the next free
/// one, the others take turns. Slices are delivered in order. The `2 × concurrency` slices
/// nearest the front are started (the initial slices all start at once, to learn their
/// density), and each holds at most `buffered_pages` pages ahead of delivery; a slice waiting
/// for room holds no request slot. Each running slice holds at most `buffered_pages + 1`
/// pages; about `(2 + slices_per_worker) × concurrency` slices run, more when splits insert
/// pieces ahead of slices already running (those keep their buffers until delivered).
/// Requests still obey the client's rate limit and concurrency cap, which all streams share.
///
/// ```
/// use asana_audit_log::streams::Backfill;
///
/// let options = Backfill::concurrency(8).with_buffered_pages(4);
/// assert_eq!(options.concurrency, 8);
/// assert_eq!(options.slices_per_worker, 1);
/// assert_eq!(options.buffered_pages, 4);
/// ```
///
/// Like every setting of this crate, the options are checked where they are used, when the
/// backfill starts and before any request: a value out of range is an error
/// ([`QueryError::Concurrency`], [`QueryError::SlicesPerWorker`],
/// [`QueryError::BufferedPages`]), never silently changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backfill {
    /// Requests in flight at once, 1..=50.
    pub concurrency: usize,
    /// Initial slices per unit of concurrency (default 1; slices split further by density).
    pub slices_per_worker: usize,
    /// Pages a slice may fetch ahead of delivery, and the length slices are split to
    /// (default 16).
    pub buffered_pages: usize,
}

impl Backfill {
    /// `concurrency` requests at once, 1 initial slice per unit of concurrency, 16 pages of
    /// read-ahead per slice.
    pub fn concurrency(concurrency: usize) -> Self {
        Backfill {
            concurrency,
            slices_per_worker: 1,
            buffered_pages: 16,
        }
    }

    /// Another number of initial slices per unit of concurrency (at least 1).
    pub fn with_slices_per_worker(mut self, slices_per_worker: usize) -> Self {
        self.slices_per_worker = slices_per_worker;
        self
    }

    /// Another read-ahead per slice, in pages (at least 1).
    pub fn with_buffered_pages(mut self, buffered_pages: usize) -> Self {
        self.buffered_pages = buffered_pages;
        self
    }

    /// Checks every option's range.
    fn validate(&self) -> Result<(), QueryError> {
        if !(1..=API_MAX_CONCURRENCY).contains(&self.concurrency) {
            return Err(QueryError::Concurrency(self.concurrency));
        }
        if !(1..=MAX_SLICES_PER_WORKER).contains(&self.slices_per_worker) {
            return Err(QueryError::SlicesPerWorker(self.slices_per_worker));
        }
        if !(1..=MAX_BUFFERED_PAGES).contains(&self.buffered_pages) {
            return Err(QueryError::BufferedPages(self.buffered_pages));
        }
        Ok(())
    }
}

/// The most initial slices per unit of concurrency (1,000 × 50 slices is already far more than
/// a window needs; the bound keeps the slice arithmetic far from overflow).
pub(crate) const MAX_SLICES_PER_WORKER: usize = 1000;

/// The most pages a slice may read ahead (each is held in memory until delivered).
pub(crate) const MAX_BUFFERED_PAGES: usize = 1024;

/// The most pieces one split makes; a piece that is still too long splits again when it
/// starts, so a very dense window converges in a few generations without a burst of slices.
const MAX_PIECES: usize = 64;

/// Cuts `[start, end)` into at most `count` consecutive non-empty slices on whole milliseconds
/// (except at the ends, which stay exact).
fn slice_bounds(start: DateTime<Utc>, end: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
    let total_ms = (end - start).num_milliseconds().max(0);
    let count = count.max(1) as i64;
    let mut bounds = vec![start];
    for i in 1..count {
        let at = start + TimeDelta::milliseconds(total_ms * i / count);
        if at > *bounds.last().expect("non-empty") && at < end {
            bounds.push(at);
        }
    }
    bounds.push(end);
    bounds
}

/// Where to cut the rest of a slice, judged from its first page: `None` when the rest looks
/// short enough (or the page was not full), else the cuts after `last` (the page's last
/// event's `created_at`), ending with `end`.
///
/// The page's `events` (all of a full page) span `[first, last]`; at that density the rest,
/// `[last, end)`, is estimated in pages and cut into pieces of about `target_pages`. The span
/// starts at the first event rather than at the slice's start, so an empty stretch before it
/// does not hide how dense the events are; a piece that turns out longer splits again.
fn plan_split(
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    end: DateTime<Utc>,
    events: usize,
    page_size: usize,
    target_pages: usize,
) -> Option<Vec<DateTime<Utc>>> {
    if events < page_size || last >= end {
        return None;
    }
    let covered_ms = (last - first).num_milliseconds().max(1) as f64;
    let rest_ms = (end - last).num_milliseconds() as f64;
    let rest_pages = rest_ms / covered_ms;
    if rest_pages <= target_pages as f64 {
        return None;
    }
    let pieces = (rest_pages / target_pages as f64)
        .ceil()
        .min(MAX_PIECES as f64) as usize;
    let bounds = slice_bounds(last, end, pieces);
    // `bounds[0]` is `last`: the slice keeps `[start, bounds[1])`.
    (bounds.len() > 2).then(|| bounds[1..].to_vec())
}

/// The backfill's request slots: the slice being delivered is served first, the others in
/// the order they asked.
///
/// With a plain semaphore the slice being delivered would wait behind slices that are only
/// reading ahead. Serving every slice strictly by its place in the window would instead leave
/// the window's last slices to run alone at the end; first come, first served among the
/// read-ahead keeps all slots busy until the end.
struct RequestSlots {
    state: Mutex<SlotState>,
}

struct SlotState {
    free: usize,
    /// Requests so far, to order the waiters.
    asked: u64,
    /// Waiting slices by (0 for the slice being delivered, else 1; order of asking; slice id),
    /// each with where to hand its slot.
    waiting: BTreeMap<(u8, u64, u64), oneshot::Sender<RequestSlot>>,
}

/// One request slot; given back (to the earliest waiter, if any) when dropped.
struct RequestSlot {
    slots: Arc<RequestSlots>,
}

impl RequestSlots {
    fn new(count: usize) -> Arc<Self> {
        Arc::new(RequestSlots {
            state: Mutex::new(SlotState {
                free: count,
                asked: 0,
                waiting: BTreeMap::new(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a slot for slice `id`; `delivering` puts it ahead of every other waiter.
    async fn acquire(self: &Arc<Self>, id: u64, delivering: bool) -> RequestSlot {
        let receiver = {
            let mut state = self.lock();
            state.asked += 1;
            if state.free > 0 {
                state.free -= 1;
                return RequestSlot {
                    slots: Arc::clone(self),
                };
            }
            let (sender, receiver) = oneshot::channel();
            let key = (u8::from(!delivering), state.asked, id);
            state.waiting.insert(key, sender);
            receiver
        };
        match receiver.await {
            Ok(slot) => slot,
            // `release` always sends to the waiter it removes, so the channel cannot close
            // unanswered; if it ever did, asking again is still correct.
            Err(_) => Box::pin(self.acquire(id, delivering)).await,
        }
    }

    /// Moves slice `id`'s waiting request, if any, ahead of the others: it has just become the
    /// slice being delivered.
    fn promote(&self, id: u64) {
        let mut state = self.lock();
        let key = state
            .waiting
            .keys()
            .find(|key| key.2 == id && key.0 == 1)
            .copied();
        if let Some(key) = key
            && let Some(waiter) = state.waiting.remove(&key)
        {
            state.waiting.insert((0, key.1, id), waiter);
        }
    }

    /// Gives a slot back: to the earliest waiter, or to the free count.
    fn release(self: &Arc<Self>) {
        let waiter = {
            let mut state = self.lock();
            match state.waiting.pop_first() {
                Some((_, waiter)) => waiter,
                None => {
                    state.free += 1;
                    return;
                }
            }
        };
        // Outside the lock: when that waiter is gone (its slice was dropped), the slot comes
        // back here and its `Drop` releases it again, to the next waiter. A slot sent but never
        // received is dropped with the channel, which releases it too.
        let _ = waiter.send(RequestSlot {
            slots: Arc::clone(self),
        });
    }
}

impl Drop for RequestSlot {
    fn drop(&mut self) {
        self.slots.release();
    }
}

type SliceItem = Result<Vec<AuditLogEvent>, Error>;

/// A slice's request to cut the rest of its window: it stops at `windows[0].0`, and each
/// window becomes a new slice right after it.
struct Split {
    after: u64,
    windows: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// A running slice: its page channel and its task, aborted when dropped.
struct Slice {
    pages: mpsc::Receiver<SliceItem>,
    task: JoinHandle<()>,
}

impl Drop for Slice {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One slice of the window, waiting or running, in delivery order.
enum Entry {
    Pending {
        id: u64,
        query: Query,
        /// Boxed: the position is the larger part of a pending slice.
        position: Box<Position>,
    },
    Running {
        id: u64,
        slice: Slice,
    },
}

impl Entry {
    fn id(&self) -> u64 {
        match self {
            Entry::Pending { id, .. } | Entry::Running { id, .. } => *id,
        }
    }
}

/// What a slice's task needs besides its [`Core`].
struct SliceJob {
    id: u64,
    /// The id of the slice being delivered.
    front: Arc<AtomicU64>,
    end: DateTime<Utc>,
    page_size: usize,
    target_pages: usize,
    requests: Arc<RequestSlots>,
    pages: mpsc::Sender<SliceItem>,
    splits: mpsc::UnboundedSender<Split>,
}

async fn run_slice(mut core: Core, job: SliceJob) {
    let SliceJob { pages, .. } = &job;
    // Where this slice stops once it has split (the next piece starts there).
    let mut stop_at: Option<DateTime<Utc>> = None;
    let mut first_page = true;
    loop {
        let delivering = job.front.load(Ordering::Relaxed) == job.id;
        let slot = job.requests.acquire(job.id, delivering).await;
        let fetched = core.next_batch().await;
        drop(slot);
        let mut batch = match fetched {
            Ok(Some(batch)) => batch,
            Ok(None) => return,
            Err(error) => {
                let _ = pages.send(Err(error)).await;
                return;
            }
        };
        // Events come in `created_at` order, so a page with one at or after the stop reaches
        // into the next piece, which reads those again: keep only what is before the stop (an
        // event out of order is kept, as a stream would deliver it) and end here. An error
        // further on that page is the next piece's to report, at its place in the order.
        let stopped = stop_at.filter(|stop| batch.events.iter().any(|e| e.created_at() >= *stop));
        if let Some(stop) = stopped {
            batch.events.retain(|e| e.created_at() < stop);
            batch.error = None;
        }
        if std::mem::take(&mut first_page)
            && stopped.is_none()
            && batch.error.is_none()
            && let (Some(first), Some(last)) = (batch.events.front(), batch.events.back())
            && let Some(cuts) = plan_split(
                first.created_at(),
                last.created_at(),
                job.end,
                // The page's own length: a resumed slice's first page loses the events already
                // delivered, and is still full.
                batch.received,
                job.page_size,
                job.target_pages,
            )
        {
            stop_at = Some(cuts[0]);
            let windows = cuts.windows(2).map(|w| (w[0], w[1])).collect();
            // Sent before this slice can end, so the stream learns of the pieces before it
            // moves past this slice.
            if job
                .splits
                .send(Split {
                    after: job.id,
                    windows,
                })
                .is_err()
            {
                return;
            }
        }
        core.hand_out(batch);
        let events = core.take_events();
        if !events.is_empty() && pages.send(Ok(events)).await.is_err() {
            return;
        }
        if let Some(Err(error)) = core.next_event() {
            let _ = pages.send(Err(error)).await;
            return;
        }
        if stopped.is_some() {
            return;
        }
    }
}

/// The state of a backfill: the window's slices, fetched concurrently and delivered in order,
/// behind an [`EventStream`](crate::EventStream) made by
/// [`EventsRequest::backfill`](crate::EventsRequest::backfill).
///
/// It delivers exactly the events [`EventsRequest::stream`](crate::EventsRequest::stream)
/// delivers over the same window, in the same order. Its cursor holds no offset (slices have
/// their own): see [`Position::restarted`].
pub(crate) struct Slices {
    transport: Arc<Transport>,
    query: Arc<Query>,
    /// Every slice not yet fully delivered, in order; the front one is being delivered.
    entries: VecDeque<Entry>,
    next_id: u64,
    splits: mpsc::UnboundedReceiver<Split>,
    split_sender: mpsc::UnboundedSender<Split>,
    requests: Arc<RequestSlots>,
    /// The id of the front slice, for its tasks' requests to go first.
    front: Arc<AtomicU64>,
    max_running: usize,
    buffered_pages: usize,
    buffer: VecDeque<AuditLogEvent>,
    position: Position,
    done: bool,
}

impl Slices {
    pub(crate) fn new(
        transport: Arc<Transport>,
        query: Query,
        position: Position,
        options: Backfill,
    ) -> Result<Self, Error> {
        options.validate()?;
        let (Some(start), Some(end)) = (query.start_at(), query.end_at()) else {
            return Err(QueryError::UnboundedWindow.into());
        };
        // Resume: continue at the last delivered instant; only the first slice can hold events
        // already delivered (at exactly that instant), and its position drops them by gid.
        let start = position
            .last_created_at()
            .map_or(start, |last| last.max(start));
        let first = position.restarted();
        let (split_sender, splits) = mpsc::unbounded_channel();
        let mut stream = Slices {
            transport,
            query: Arc::new(query),
            entries: VecDeque::new(),
            next_id: 0,
            splits,
            split_sender,
            requests: RequestSlots::new(options.concurrency),
            front: Arc::new(AtomicU64::new(0)),
            max_running: 2 * options.concurrency,
            buffered_pages: options.buffered_pages,
            buffer: VecDeque::new(),
            position: first.clone(),
            done: start >= end,
        };
        if start < end {
            let count = options.concurrency * options.slices_per_worker;
            let bounds = slice_bounds(start, end, count);
            for (i, pair) in bounds.windows(2).enumerate() {
                let position = if i == 0 {
                    first.clone()
                } else {
                    Position::default()
                };
                let entry = stream.pending(pair[0], pair[1], position);
                stream.entries.push_back(entry);
            }
        }
        Ok(stream)
    }

    /// A new waiting slice over `[start, end)`.
    fn pending(&mut self, start: DateTime<Utc>, end: DateTime<Utc>, position: Position) -> Entry {
        self.next_id += 1;
        Entry::Pending {
            id: self.next_id,
            query: self.query.with_window(Some(start), Some(end)),
            position: Box::new(position),
        }
    }

    /// Inserts the pieces of a split right after the slice that asked for it.
    fn apply_split(&mut self, split: Split) {
        let Some(at) = self.entries.iter().position(|e| e.id() == split.after) else {
            // The slice is gone only if the stream ended with an error.
            return;
        };
        for (i, (start, end)) in split.windows.into_iter().enumerate() {
            let entry = self.pending(start, end, Position::default());
            self.entries.insert(at + 1 + i, entry);
        }
    }

    /// Starts the waiting slices among the `max_running` nearest the front. Slices further
    /// back that already run (initial slices, once pieces are inserted before them) keep
    /// running: they only get request slots no nearer slice is waiting for.
    fn spawn_slices(&mut self) {
        for entry in self.entries.iter_mut().take(self.max_running) {
            let Entry::Pending {
                id,
                query,
                position,
            } = entry
            else {
                continue;
            };
            let (sender, pages) = mpsc::channel(self.buffered_pages);
            let job = SliceJob {
                id: *id,
                front: self.front.clone(),
                end: query.end_at().expect("slices are bounded"),
                page_size: query.page_size() as usize,
                target_pages: self.buffered_pages,
                requests: self.requests.clone(),
                pages: sender,
                splits: self.split_sender.clone(),
            };
            let core = Core::new(
                self.transport.clone(),
                Arc::new(query.clone()),
                std::mem::take(&mut **position),
                true,
                Mode::Drain,
            );
            let task = tokio::spawn(run_slice(core, job));
            *entry = Entry::Running {
                id: *id,
                slice: Slice { pages, task },
            };
        }
    }

    /// Applies every split reported so far, and asks to be woken by the next one.
    fn take_splits(&mut self, cx: &mut Context<'_>) {
        loop {
            // `try_recv` sees every message already sent, whatever tokio's task budget says.
            while let Ok(split) = self.splits.try_recv() {
                self.apply_split(split);
            }
            match self.splits.poll_recv(cx) {
                Poll::Ready(Some(split)) => self.apply_split(split),
                _ => break,
            }
        }
    }

    /// The position after the last event returned.
    pub(crate) fn cursor(&self) -> Cursor {
        Cursor::new((*self.query).clone(), self.position.restarted())
    }

    /// The whole window's query.
    pub(crate) fn query(&self) -> &Query {
        &self.query
    }
}

impl std::fmt::Debug for Slices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let running = self
            .entries
            .iter()
            .filter(|e| matches!(e, Entry::Running { .. }))
            .count();
        f.debug_struct("Backfill")
            .field("query", &self.query)
            .field("slices_pending", &(self.entries.len() - running))
            .field("slices_running", &running)
            .field("buffered", &self.buffer.len())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Slices {
    /// The next event in window order.
    pub(crate) fn poll_event(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<AuditLogEvent, Error>>> {
        let this = self;
        loop {
            if let Some(event) = this.buffer.pop_front() {
                this.position.observe(&event);
                return Poll::Ready(Some(Ok(event)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            this.take_splits(cx);
            this.spawn_slices();
            let Some(front) = this.entries.front_mut() else {
                this.done = true;
                return Poll::Ready(None);
            };
            let Entry::Running { id, slice } = front else {
                unreachable!("spawn_slices starts the front slice");
            };
            if this.front.swap(*id, Ordering::Relaxed) != *id {
                this.requests.promote(*id);
            }
            match ready!(slice.pages.poll_recv(cx)) {
                Some(Ok(events)) => this.buffer = events.into(),
                Some(Err(error)) => {
                    this.done = true;
                    this.entries.clear();
                    return Poll::Ready(Some(Err(error)));
                }
                None => {
                    // The channel closes when the task ends, normally or by a panic: only a
                    // normal end may move past the slice, or its remaining events would be
                    // silently skipped.
                    if let Err(error) = ready!(Pin::new(&mut slice.task).poll(cx)) {
                        this.done = true;
                        this.entries.clear();
                        return Poll::Ready(Some(Err(Error::Internal(format!(
                            "a backfill slice stopped unexpectedly: {error}"
                        )))));
                    }
                    // Any split it sent is already queued: apply it before moving past the
                    // slice, or its pieces would be lost.
                    this.take_splits(cx);
                    this.entries.pop_front();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn slices_partition_the_window() {
        let (start, end) = (
            at("2024-01-01T00:00:00.000Z"),
            at("2024-01-01T00:00:10.001Z"),
        );
        let bounds = slice_bounds(start, end, 4);
        assert_eq!(bounds.len(), 5);
        assert_eq!(bounds[0], start);
        assert_eq!(bounds[4], end);
        assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        // Fewer milliseconds than slices: fewer, still non-empty, slices.
        let tiny = slice_bounds(start, start + TimeDelta::milliseconds(2), 10);
        assert_eq!(tiny.len(), 3);
        let one = slice_bounds(start, end, 1);
        assert_eq!(one, [start, end]);
    }

    #[tokio::test]
    async fn request_slots_serve_the_delivering_slice_first_then_in_order() {
        use futures::FutureExt;

        let slots = RequestSlots::new(1);
        let held = slots.acquire(9, false).await;
        let (order_tx, mut order) = mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for (id, delivering) in [(1, false), (2, false), (3, true), (4, false)] {
            let (slots, order_tx) = (slots.clone(), order_tx.clone());
            tasks.push(tokio::spawn(async move {
                let _slot = slots.acquire(id, delivering).await;
                order_tx.send(id).unwrap();
            }));
            // Let each task ask before the next one.
            tokio::task::yield_now().await;
        }
        // A waiter that gives up before its turn is skipped, and loses no slot.
        let mut cancelled = Box::pin(slots.acquire(8, true));
        assert!((&mut cancelled).now_or_never().is_none());
        drop(cancelled);
        drop(held);
        for task in tasks {
            task.await.unwrap();
        }
        let served: Vec<u64> = std::iter::from_fn(|| order.try_recv().ok()).collect();
        assert_eq!(served, [3, 1, 2, 4]);
        assert_eq!(slots.lock().free, 1);
    }

    #[test]
    fn dense_slices_split_to_about_the_target_length() {
        let start = at("2024-01-01T00:00:00Z");
        let end = at("2024-01-02T00:00:00Z");
        // A full page covering the first hour: about 23 more pages, in pieces of 8 or fewer.
        let last = at("2024-01-01T01:00:00Z");
        let cuts = plan_split(start, last, end, 100, 100, 8).unwrap();
        assert_eq!(cuts.len(), 3);
        assert!(cuts[0] > last && cuts.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(cuts.last(), Some(&end));
        // A short page, or a short rest: no split.
        assert_eq!(plan_split(start, last, end, 99, 100, 8), None);
        assert_eq!(plan_split(start, last, end, 100, 100, 30), None);
        // Everything in one millisecond: as many pieces as allowed, each still non-empty.
        let cuts = plan_split(start, start, end, 100, 100, 8).unwrap();
        assert_eq!(cuts.len(), MAX_PIECES);
        // A rest shorter than the pieces wanted: whole milliseconds only.
        let near = start + TimeDelta::milliseconds(3);
        let cuts = plan_split(start, start, near, 100, 100, 1).unwrap();
        assert_eq!(cuts.len(), 3);
        assert_eq!(plan_split(start, near, near, 100, 100, 1), None);
    }
}
