//! Concurrent backfill of a bounded window: time slices fetched in parallel, delivered in order.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use chrono::{DateTime, TimeDelta, Utc};
use futures::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::cursor::{Cursor, Position};
use crate::error::Error;
use crate::event::AuditLogEvent;
use crate::http::{API_MAX_CONCURRENCY, Transport};
use crate::query::{Query, QueryError};
use crate::stream::{Core, Mode};

/// How a [`backfill`](crate::EventsRequest::backfill) splits and fetches its window.
///
/// The window `[start, end)` is cut into `concurrency × slices_per_worker` consecutive slices
/// of equal length. Up to `concurrency` slices are fetched at once, each page by page; the
/// earliest unfinished slice is delivered while later ones fetch ahead, each holding at most
/// `buffered_pages` pages, so memory stays bounded by about
/// `concurrency × (buffered_pages + 1)` pages. Equal slices rather than adaptive ones: they need
/// no extra requests to probe the event density, and `slices_per_worker > 1` keeps workers busy
/// when events cluster in part of the window. Requests still obey the client's rate limit and
/// concurrency cap, which all streams share.
///
/// ```
/// use asana_audit_log::Backfill;
///
/// let options = Backfill::concurrency(8).with_buffered_pages(2);
/// assert_eq!(options.concurrency, 8);
/// assert_eq!(options.slices_per_worker, 4);
/// assert_eq!(options.buffered_pages, 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backfill {
    /// Slices fetched at once, 1..=50.
    pub concurrency: usize,
    /// Slices per unit of concurrency (default 4).
    pub slices_per_worker: usize,
    /// Pages a slice may fetch ahead of delivery (default 4).
    pub buffered_pages: usize,
}

impl Backfill {
    /// `concurrency` slices at once, 4 slices per worker, 4 pages of read-ahead per slice.
    pub fn concurrency(concurrency: usize) -> Self {
        Backfill {
            concurrency,
            slices_per_worker: 4,
            buffered_pages: 4,
        }
    }

    /// Another number of slices per unit of concurrency (at least 1).
    pub fn with_slices_per_worker(mut self, slices_per_worker: usize) -> Self {
        self.slices_per_worker = slices_per_worker.max(1);
        self
    }

    /// Another read-ahead per slice, in pages (at least 1).
    pub fn with_buffered_pages(mut self, buffered_pages: usize) -> Self {
        self.buffered_pages = buffered_pages.max(1);
        self
    }
}

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

type SliceItem = Result<Vec<AuditLogEvent>, Error>;

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

async fn run_slice(mut core: Core, pages: mpsc::Sender<SliceItem>) {
    loop {
        match core.next_batch().await {
            Ok(Some(batch)) => {
                for event in &batch.events {
                    core.delivered(event);
                }
                if batch.error.is_none() {
                    core.advance(batch.next);
                }
                if !batch.events.is_empty() && pages.send(Ok(batch.events.into())).await.is_err() {
                    return;
                }
                if let Some(error) = batch.error {
                    let _ = pages.send(Err(error)).await;
                    return;
                }
            }
            Ok(None) => return,
            Err(error) => {
                let _ = pages.send(Err(error)).await;
                return;
            }
        }
    }
}

/// The events of a bounded window, fetched by concurrent time slices and delivered oldest
/// first: made by [`EventsRequest::backfill`](crate::EventsRequest::backfill).
///
/// It delivers exactly the events [`EventsRequest::stream`](crate::EventsRequest::stream)
/// delivers over the same window, in the same order. [`cursor`](Self::cursor) is the position
/// after the last event returned; it holds no offset (slices have their own), so resuming it
/// (as a backfill or a stream) restarts from the last event's `created_at` and drops the events
/// already delivered at that instant. Must be polled within a tokio runtime (slices run as
/// tasks, aborted when the stream is dropped). Ends after the first error.
pub struct BackfillStream {
    transport: Arc<Transport>,
    query: Arc<Query>,
    pending: VecDeque<(Query, Position)>,
    active: VecDeque<Slice>,
    concurrency: usize,
    buffered_pages: usize,
    buffer: VecDeque<AuditLogEvent>,
    position: Position,
    done: bool,
}

impl BackfillStream {
    pub(crate) fn new(
        transport: Arc<Transport>,
        query: Query,
        position: Position,
        options: Backfill,
    ) -> Result<Self, Error> {
        if !(1..=API_MAX_CONCURRENCY).contains(&options.concurrency) {
            return Err(QueryError::Concurrency(options.concurrency).into());
        }
        let (Some(start), Some(end)) = (query.start_at(), query.end_at()) else {
            return Err(QueryError::UnboundedWindow.into());
        };
        // Resume: continue at the last delivered instant; only the first slice can hold events
        // already delivered (at exactly that instant), and its position drops them by gid.
        let start = position
            .last_created_at
            .map_or(start, |last| last.max(start));
        let first = Position {
            offset: None,
            restart_at: None,
            last_created_at: position.last_created_at,
            seen_gids: position.seen_gids.clone(),
        };
        let mut pending = VecDeque::new();
        if start < end {
            let count = options.concurrency * options.slices_per_worker.max(1);
            let bounds = slice_bounds(start, end, count);
            for (i, pair) in bounds.windows(2).enumerate() {
                let slice = query.with_window(Some(pair[0]), Some(pair[1]));
                pending.push_back((
                    slice,
                    if i == 0 {
                        first.clone()
                    } else {
                        Position::default()
                    },
                ));
            }
        }
        let position = Position {
            offset: None,
            restart_at: position.last_created_at,
            last_created_at: position.last_created_at,
            seen_gids: position.seen_gids,
        };
        let mut stream = BackfillStream {
            transport,
            query: Arc::new(query),
            pending,
            active: VecDeque::new(),
            concurrency: options.concurrency,
            buffered_pages: options.buffered_pages.max(1),
            buffer: VecDeque::new(),
            position,
            done: false,
        };
        if stream.pending.is_empty() {
            stream.done = true;
        }
        Ok(stream)
    }

    fn spawn_slices(&mut self) {
        while self.active.len() < self.concurrency {
            let Some((query, position)) = self.pending.pop_front() else {
                break;
            };
            let core = Core::new(
                self.transport.clone(),
                Arc::new(query),
                position,
                true,
                Mode::Drain,
            );
            let (sender, pages) = mpsc::channel(self.buffered_pages);
            let task = tokio::spawn(run_slice(core, sender));
            self.active.push_back(Slice { pages, task });
        }
    }

    /// The position after the last event returned.
    pub fn cursor(&self) -> Cursor {
        let mut position = self.position.clone();
        position.restart_at = position.last_created_at.or(position.restart_at);
        Cursor::new((*self.query).clone(), position)
    }

    /// The whole window's query.
    pub fn query(&self) -> &Query {
        &self.query
    }
}

impl std::fmt::Debug for BackfillStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackfillStream")
            .field("query", &self.query)
            .field("slices_pending", &self.pending.len())
            .field("slices_active", &self.active.len())
            .field("buffered", &self.buffer.len())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Stream for BackfillStream {
    type Item = Result<AuditLogEvent, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(event) = this.buffer.pop_front() {
                this.position.observe(&event);
                return Poll::Ready(Some(Ok(event)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            this.spawn_slices();
            let Some(front) = this.active.front_mut() else {
                this.done = true;
                return Poll::Ready(None);
            };
            match ready!(front.pages.poll_recv(cx)) {
                Some(Ok(events)) => this.buffer = events.into(),
                Some(Err(error)) => {
                    this.done = true;
                    this.active.clear();
                    this.pending.clear();
                    return Poll::Ready(Some(Err(error)));
                }
                None => {
                    this.active.pop_front();
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
}
