//! [`Cursor`]: a serializable position in a query's event sequence.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::event::AuditLogEvent;
use crate::query::Query;

/// The newest cursor format this version writes and reads.
///
/// Version 2 adds the lookback state of a follow with
/// [`lookback`](crate::EventsRequest::lookback). A cursor without lookback state is written as
/// version 1, the format earlier releases wrote and read, so their cursors and this version's
/// stay interchangeable; both versions are read.
pub const CURSOR_VERSION: u32 = 2;

/// The cursor format without lookback state.
const CURSOR_VERSION_PLAIN: u32 = 1;

/// The most gids a follow with [`lookback`](crate::EventsRequest::lookback) remembers (and a
/// cursor holds) of the events it delivered within the lookback window.
///
/// Past this many, the oldest are forgotten and the window that is read again shrinks to begin
/// after them, so a forgotten event is never delivered twice; a late event that appears before
/// that new start is not picked up (see [`EventStream`](crate::EventStream)).
pub const MAX_LOOKBACK_GIDS: usize = 10_000;

/// How many gids sharing the last `created_at` a cursor remembers for de-duplication.
///
/// If more events than this share one millisecond, a restart from that instant may repeat the
/// oldest of them (never skip one).
pub const MAX_SEEN_GIDS: usize = 1000;

/// A position right after an event of a query: what a stream needs to continue without gap or
/// duplicate. Serialize it (JSON via serde) to checkpoint, deserialize and pass it to
/// [`Client::resume`](crate::Client::resume) or
/// [`EventsRequest::resume`](crate::EventsRequest::resume) to continue.
///
/// It holds the [`Query`] it belongs to, the paging offset to continue from (when there is one),
/// the last delivered event's `created_at` and the gids delivered at that instant (at most
/// [`MAX_SEEN_GIDS`]); for a follow with [`lookback`](crate::EventsRequest::lookback), also the
/// gids delivered within the lookback window (at most [`MAX_LOOKBACK_GIDS`]). The offset is Asana's opaque token: it expires, so a resumed stream whose
/// offset is rejected restarts from `start_at = last created_at` with the same filters and drops
/// the events it already delivered (by gid at that instant). The format is versioned
/// ([`CURSOR_VERSION`]): version 1 has no lookback state, version 2 has; both are read and
/// re-validated, and an unknown version fails to deserialize. A cursor never contains the
/// access token.
///
/// ```
/// use asana_audit_log::{Client, Cursor};
///
/// let client = Client::new("0/1:secret")?;
/// let stream = client.audit_log_events("1234").stream()?;
/// let cursor: Cursor = stream.cursor(); // before any event: the start of the query
/// let saved = cursor.to_json();
/// let restored = Cursor::from_json(&saved).unwrap();
/// assert_eq!(restored, cursor);
/// assert_eq!(restored.query().workspace_gid(), "1234");
/// # Ok::<(), asana_audit_log::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CursorFields")]
pub struct Cursor {
    version: u32,
    query: Query,
    #[serde(flatten)]
    position: Position,
}

/// Where a stream stands (the cursor without its query).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Position {
    /// The offset to send next; `None` for the first page of the (possibly restarted) query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offset: Option<String>,
    /// The `start_at` the offset belongs to, when the stream restarted from an event's
    /// `created_at` instead of the query's own start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    restart_at: Option<DateTime<Utc>>,
    /// The `created_at` of the last delivered event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_created_at: Option<DateTime<Utc>>,
    /// The gids delivered at `last_created_at`, oldest first, at most [`MAX_SEEN_GIDS`].
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    seen_gids: VecDeque<String>,
    /// What a follow with a lookback delivered within its window (version 2 only). Shared, so
    /// that taking a cursor after every event does not copy it.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "shared")]
    lookback: Option<Arc<Lookback>>,
}

/// Serde for the shared lookback memory (as if it were not shared).
mod shared {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Lookback;

    pub(super) fn serialize<S: Serializer>(
        value: &Option<Arc<Lookback>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.as_deref().serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Arc<Lookback>>, D::Error> {
        Ok(Option::<Lookback>::deserialize(deserializer)?.map(Arc::new))
    }
}

/// The gids a follow with a lookback delivered within the window it reads again, by
/// `created_at`, and how far back that memory is complete.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Lookback {
    /// The memory is complete from this instant on (inclusive): set when a follow that did not
    /// remember (a version 1 cursor) starts looking back, and moved past forgotten events when
    /// more than [`MAX_LOOKBACK_GIDS`] were remembered. `None`: complete since the query began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    complete_from: Option<DateTime<Utc>>,
    /// The newest delivered instant when the last complete read of the window began
    /// (`None`: no read completed since this memory started). The next read starts a window
    /// before it, not before the newest delivered instant: a follow that pages on without
    /// reaching the end (events keep coming) reads no window meanwhile, and an event that
    /// appeared within the window of the newest event delivered then must still be found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    read_from: Option<DateTime<Utc>>,
    /// Delivered gids by `created_at`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    seen: BTreeMap<DateTime<Utc>, Vec<String>>,
    /// How many gids `seen` holds.
    #[serde(skip)]
    count: usize,
}

impl Lookback {
    /// The memory a follow starts with: what `position` says was delivered at its last instant,
    /// complete from that instant.
    fn starting_at(position: &Position) -> Lookback {
        let mut lookback = Lookback {
            complete_from: position.last_created_at,
            ..Lookback::default()
        };
        if let Some(last) = position.last_created_at {
            for gid in &position.seen_gids {
                lookback.insert(last, gid);
            }
        }
        lookback
    }

    /// Whether the gid was delivered at `at`.
    pub(crate) fn contains(&self, at: DateTime<Utc>, gid: &str) -> bool {
        self.seen
            .get(&at)
            .is_some_and(|gids| gids.iter().any(|g| g == gid))
    }

    /// Records a delivered gid (no effect if it is there already).
    fn insert(&mut self, at: DateTime<Utc>, gid: &str) {
        if self.contains(at, gid) {
            return;
        }
        self.seen.entry(at).or_default().push(gid.to_owned());
        self.count += 1;
    }

    /// Where the next read of the window starts, before what is remembered completely is
    /// taken into account: `window` before [`read_from`](Self::read_from) (not after
    /// `newest`). Until a read has completed, the window reaches back to the start of this
    /// memory: the first events delivered, or the instant a resumed follow started from. A
    /// follow whose first poll pages through a long backlog thus reads that backlog again
    /// once, as far back as the memory is complete (at most [`MAX_LOOKBACK_GIDS`] events).
    fn anchored_start(&self, newest: DateTime<Utc>, window: TimeDelta) -> DateTime<Utc> {
        let first = || {
            self.complete_from
                .or_else(|| self.seen.keys().next().copied())
        };
        self.read_from
            .or_else(first)
            .map_or(newest, |from| from.min(newest))
            .checked_sub_signed(window)
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Forgets what lies before the next read's window (never read again), then, while more
    /// than [`MAX_LOOKBACK_GIDS`] are left, the oldest instants, moving
    /// [`complete_from`](Self::complete_from) past them.
    fn prune(&mut self, newest: DateTime<Utc>, window: TimeDelta) {
        let keep_from = self.anchored_start(newest, window);
        while let Some(entry) = self.seen.first_entry() {
            let at = *entry.key();
            if at >= keep_from && self.count <= MAX_LOOKBACK_GIDS {
                break;
            }
            self.count -= entry.remove().len();
            if at >= keep_from {
                // Forgotten inside the window: a new read must start after it.
                let after = at + TimeDelta::milliseconds(1);
                self.complete_from = Some(self.complete_from.map_or(after, |c| c.max(after)));
            }
        }
    }

    /// Where the window read again starts: `window` before the newest instant delivered when
    /// the last complete read began (or before `newest`), but not before what is remembered
    /// completely.
    fn window_start(&self, newest: DateTime<Utc>, window: TimeDelta) -> DateTime<Utc> {
        let start = self.anchored_start(newest, window);
        self.complete_from.map_or(start, |c| c.max(start))
    }

    fn validate(&mut self, last: Option<DateTime<Utc>>) -> Result<(), String> {
        self.count = self.seen.values().map(Vec::len).sum();
        if self.count > MAX_LOOKBACK_GIDS {
            return Err(format!(
                "cursor lookback holds {} gids, more than {MAX_LOOKBACK_GIDS}",
                self.count
            ));
        }
        let Some(last) = last else {
            return Err("cursor lookback state without a last_created_at".to_owned());
        };
        for (at, gids) in &self.seen {
            if *at > last {
                return Err("cursor lookback remembers an event after last_created_at".to_owned());
            }
            if self.complete_from.is_some_and(|c| *at < c) {
                return Err(
                    "cursor lookback remembers an event before its complete_from".to_owned(),
                );
            }
            if gids.is_empty() || gids.iter().any(|gid| gid.is_empty()) {
                return Err("cursor lookback holds an empty gid list or gid".to_owned());
            }
        }
        if self
            .complete_from
            .is_some_and(|c| c > last + TimeDelta::milliseconds(1))
        {
            return Err("cursor lookback complete_from lies after last_created_at".to_owned());
        }
        if self.read_from.is_some_and(|from| from > last) {
            return Err("cursor lookback read_from lies after last_created_at".to_owned());
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct CursorFields {
    version: u32,
    query: Query,
    #[serde(flatten)]
    position: Position,
}

impl TryFrom<CursorFields> for Cursor {
    type Error = String;

    fn try_from(mut fields: CursorFields) -> Result<Self, String> {
        let has_lookback = fields.position.lookback.is_some();
        match fields.version {
            CURSOR_VERSION_PLAIN if has_lookback => {
                return Err("a version 1 cursor cannot hold lookback state".to_owned());
            }
            CURSOR_VERSION_PLAIN => {}
            CURSOR_VERSION if has_lookback => {}
            version => {
                let without = if version == CURSOR_VERSION {
                    " without lookback state (version 1 is the format without it)"
                } else {
                    ""
                };
                return Err(format!(
                    "cursor version {version} is not supported{without} (this library reads \
                     versions {CURSOR_VERSION_PLAIN} and {CURSOR_VERSION})"
                ));
            }
        }
        let last = fields.position.last_created_at;
        if let Some(lookback) = &mut fields.position.lookback {
            Arc::make_mut(lookback).validate(last)?;
        }
        if let (Some(restart), Some(start)) = (fields.position.restart_at, fields.query.start_at())
            && restart < start
        {
            return Err("cursor restart_at lies before its query's start_at".to_owned());
        }
        Ok(Cursor {
            version: if has_lookback {
                CURSOR_VERSION
            } else {
                CURSOR_VERSION_PLAIN
            },
            query: fields.query,
            position: fields.position,
        })
    }
}

impl Position {
    /// The `start_at` of the next request: the restart point, else the query's own start.
    pub(crate) fn start_at(&self, query: &Query) -> Option<DateTime<Utc>> {
        self.restart_at.or(query.start_at())
    }

    /// The offset of the next request, if the stream has one.
    pub(crate) fn offset(&self) -> Option<&str> {
        self.offset.as_deref()
    }

    /// The `created_at` of the last delivered event.
    pub(crate) fn last_created_at(&self) -> Option<DateTime<Utc>> {
        self.last_created_at
    }

    /// Continues with `offset`, the next page's, when there is one (a page that never matched
    /// has none, and the position keeps the offset it had).
    pub(crate) fn advance(&mut self, offset: Option<String>) {
        if let Some(offset) = offset {
            self.offset = Some(offset);
        }
    }

    /// The same delivered events, without an offset: the next request starts at the last
    /// delivered instant (or the restart point already in use) and drops what was delivered
    /// there. What a backfill starts from and what its cursor holds (its slices' offsets
    /// belong to their own windows).
    pub(crate) fn restarted(&self) -> Position {
        let mut position = self.clone();
        position.restart_from_last();
        position
    }

    /// Whether `event` was already delivered: the same gid at the last instant, or (right after
    /// a resume, when the page may start before the cursor) any earlier instant.
    pub(crate) fn already_delivered(&self, event: &AuditLogEvent, repositioned: bool) -> bool {
        let Some(last) = self.last_created_at else {
            return false;
        };
        let at = event.created_at();
        (at == last && self.seen_gids.iter().any(|gid| gid == event.gid()))
            || (repositioned && at < last)
    }

    /// Starts remembering what is delivered for a lookback (kept if the position already
    /// does, as after a resume from a version 2 cursor).
    pub(crate) fn start_lookback(&mut self) {
        if self.lookback.is_none() {
            self.lookback = Some(Arc::new(Lookback::starting_at(self)));
        }
    }

    /// Forgets the lookback memory (a stream that would not keep it up to date).
    pub(crate) fn drop_lookback(&mut self) {
        self.lookback = None;
    }

    /// The lookback memory, when the position keeps one.
    pub(crate) fn lookback(&self) -> Option<&Lookback> {
        self.lookback.as_deref()
    }

    /// Where a lookback of `window` would read again from now, if anything was delivered:
    /// `(start_at, end_at)` with `end_at` right after the newest delivered instant (exclusive).
    pub(crate) fn lookback_window(
        &self,
        window: Duration,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let newest = self.last_created_at?;
        let lookback = self.lookback.as_deref()?;
        let window = TimeDelta::from_std(window).ok()?;
        let start = lookback.window_start(newest, window);
        let end = newest + TimeDelta::milliseconds(1);
        (start < end).then_some((start, end))
    }

    /// Records a delivered event in the lookback memory (when kept) and forgets what lies
    /// outside `window` of the newest delivered event.
    pub(crate) fn remember(&mut self, event: &AuditLogEvent, window: Duration) {
        let Some(lookback) = &mut self.lookback else {
            return;
        };
        let lookback = Arc::make_mut(lookback);
        lookback.insert(event.created_at(), event.gid());
        if let (Some(newest), Ok(window)) = (self.last_created_at, TimeDelta::from_std(window)) {
            lookback.prune(newest, window);
        }
    }

    /// Records that a read of the lookback window which began when `newest` was the newest
    /// delivered instant went to its end: the next read starts `window` before `newest`.
    pub(crate) fn lookback_read(&mut self, newest: DateTime<Utc>, window: Duration) {
        let Some(lookback) = &mut self.lookback else {
            return;
        };
        let lookback = Arc::make_mut(lookback);
        lookback.read_from = Some(lookback.read_from.map_or(newest, |from| from.max(newest)));
        if let (Some(last), Ok(window)) = (self.last_created_at, TimeDelta::from_std(window)) {
            lookback.prune(last, window);
        }
    }

    /// Records an event found by re-reading the lookback window: never newer than the last
    /// delivered instant, so only an event of that very instant joins its gids.
    pub(crate) fn observe_late(&mut self, event: &AuditLogEvent) {
        if self.last_created_at == Some(event.created_at()) {
            self.observe(event);
        }
    }

    /// Records a delivered event.
    pub(crate) fn observe(&mut self, event: &AuditLogEvent) {
        let at = event.created_at();
        match self.last_created_at {
            Some(last) if at == last => {
                if self.seen_gids.len() == MAX_SEEN_GIDS {
                    self.seen_gids.pop_front();
                }
                self.seen_gids.push_back(event.gid().to_owned());
            }
            Some(last) if at < last => {
                tracing::warn!(
                    gid = event.gid(),
                    created_at = %at,
                    last_created_at = %last,
                    "event out of created_at order; delivered, but a restart cannot dedupe it"
                );
            }
            _ => {
                self.last_created_at = Some(at);
                self.seen_gids.clear();
                self.seen_gids.push_back(event.gid().to_owned());
            }
        }
    }

    /// Drops the offset and continues from the last delivered instant (or the restart point
    /// already in use, or the query's start when nothing was delivered).
    pub(crate) fn restart_from_last(&mut self) {
        self.offset = None;
        self.restart_at = self.last_created_at.or(self.restart_at);
    }
}

impl Cursor {
    pub(crate) fn new(query: Query, position: Position) -> Self {
        Cursor {
            version: if position.lookback.is_some() {
                CURSOR_VERSION
            } else {
                CURSOR_VERSION_PLAIN
            },
            query,
            position,
        }
    }

    pub(crate) fn position(&self) -> &Position {
        &self.position
    }

    /// The query this cursor belongs to.
    pub fn query(&self) -> &Query {
        &self.query
    }

    /// The `created_at` of the last event delivered before this cursor, if any.
    pub fn last_created_at(&self) -> Option<DateTime<Utc>> {
        self.position.last_created_at
    }

    /// The gids delivered at [`last_created_at`](Self::last_created_at), oldest first.
    pub fn seen_gids(&self) -> impl Iterator<Item = &str> {
        self.position.seen_gids.iter().map(String::as_str)
    }

    /// The gids a follow with [`lookback`](crate::EventsRequest::lookback) delivered within
    /// its window, with their `created_at`, oldest first (empty for other streams).
    pub fn lookback_gids(&self) -> impl Iterator<Item = (DateTime<Utc>, &str)> {
        self.position.lookback.iter().flat_map(|lookback| {
            lookback
                .seen
                .iter()
                .flat_map(|(at, gids)| gids.iter().map(move |gid| (*at, gid.as_str())))
        })
    }

    /// Whether the cursor holds a paging offset (otherwise a resume restarts from
    /// [`last_created_at`](Self::last_created_at), or from the query's start).
    pub fn has_offset(&self) -> bool {
        self.position.offset.is_some()
    }

    /// The cursor as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a cursor always serializes")
    }

    /// Reads a cursor written by [`to_json`](Self::to_json) (or any serde JSON writer).
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(gid: &str, at: &str) -> AuditLogEvent {
        AuditLogEvent::from_json(&format!(r#"{{"gid":"{gid}","created_at":"{at}"}}"#)).unwrap()
    }

    fn query() -> Query {
        crate::query::QueryFields::new("1".into())
            .validate()
            .unwrap()
    }

    #[test]
    fn observe_and_dedupe() {
        let mut pos = Position::default();
        let a = event("1", "2024-01-01T00:00:00Z");
        let b = event("2", "2024-01-01T00:00:01Z");
        let c = event("3", "2024-01-01T00:00:01Z");
        pos.observe(&a);
        pos.observe(&b);
        assert!(pos.already_delivered(&b, false));
        assert!(!pos.already_delivered(&c, false));
        assert!(!pos.already_delivered(&a, false));
        assert!(pos.already_delivered(&a, true));
        pos.observe(&c);
        assert_eq!(pos.seen_gids, ["2", "3"]);
    }

    #[test]
    fn seen_set_is_bounded() {
        let mut pos = Position::default();
        for i in 0..MAX_SEEN_GIDS + 5 {
            pos.observe(&event(&i.to_string(), "2024-01-01T00:00:00Z"));
        }
        assert_eq!(pos.seen_gids.len(), MAX_SEEN_GIDS);
        assert_eq!(pos.seen_gids.front().map(String::as_str), Some("5"));
    }

    #[test]
    fn lookback_memory_is_bounded_and_shrinks_its_window() {
        let window = Duration::from_secs(60);
        let mut pos = Position::default();
        pos.start_lookback();
        // Two events a millisecond, more than the cap, all within the window.
        let total = MAX_LOOKBACK_GIDS + 10;
        for i in 0..total {
            let base: DateTime<Utc> = "2024-01-01T00:00:00Z".parse().unwrap();
            let at = base + TimeDelta::milliseconds((i / 2) as i64);
            let event = event(&i.to_string(), &at.to_rfc3339());
            pos.observe(&event);
            pos.remember(&event, window);
        }
        let lookback = pos.lookback().unwrap();
        assert!(lookback.count <= MAX_LOOKBACK_GIDS);
        assert_eq!(
            lookback.count,
            lookback.seen.values().map(Vec::len).sum::<usize>()
        );
        // The oldest were forgotten: the window read again starts after them, so none of them
        // is delivered twice.
        assert!(!lookback.contains(pos.last_created_at.unwrap() - TimeDelta::seconds(59), "0"));
        let (start, end) = pos.lookback_window(window).unwrap();
        let oldest = *lookback.seen.keys().next().unwrap();
        assert_eq!(start, oldest);
        assert_eq!(
            end,
            pos.last_created_at.unwrap() + TimeDelta::milliseconds(1)
        );
        // Until a read of the window completes, the window reaches back to what the memory
        // holds, however far the newest event moves.
        let late = event("late", "2024-01-01T01:00:00Z");
        pos.observe(&late);
        pos.remember(&late, window);
        let (start, _) = pos.lookback_window(window).unwrap();
        let oldest_now = *pos.lookback().unwrap().seen.keys().next().unwrap();
        assert!(
            oldest_now > oldest,
            "one more instant forgotten by the bound"
        );
        assert_eq!(start, oldest_now);
        // Once a read that began at the newest event completes, what lies before
        // `newest - window` is forgotten without shrinking anything.
        pos.lookback_read(late.created_at(), window);
        let lookback = pos.lookback().unwrap();
        assert_eq!(lookback.count, 1);
        let (start, _) = pos.lookback_window(window).unwrap();
        assert_eq!(start, late.created_at() - TimeDelta::seconds(60));
        // The cursor carries it (version 2) and reads it back with the same bound.
        let cursor = Cursor::new(query(), pos);
        let json = cursor.to_json();
        assert!(json.starts_with(r#"{"version":2,"#), "{json}");
        assert_eq!(Cursor::from_json(&json).unwrap(), cursor);
        assert_eq!(
            cursor.lookback_gids().collect::<Vec<_>>(),
            [(late.created_at(), "late")]
        );
    }

    #[test]
    fn lookback_state_is_validated_on_read() {
        let mut pos = Position::default();
        let a = event("1", "2024-01-01T00:00:00Z");
        pos.observe(&a);
        pos.start_lookback();
        let json = Cursor::new(query(), pos).to_json();
        assert_eq!(
            json,
            r#"{"version":2,"query":{"workspace_gid":"1","page_size":100},"last_created_at":"2024-01-01T00:00:00Z","seen_gids":["1"],"lookback":{"complete_from":"2024-01-01T00:00:00Z","seen":{"2024-01-01T00:00:00Z":["1"]}}}"#
        );
        let old = json.replace(r#""version":2"#, r#""version":1"#);
        let e = Cursor::from_json(&old).unwrap_err();
        assert!(
            e.to_string().contains("version 1 cursor cannot hold"),
            "{e}"
        );
        let after_last = json.replace(
            r#""seen":{"2024-01-01T00:00:00Z""#,
            r#""seen":{"2024-01-02T00:00:00Z""#,
        );
        let e = Cursor::from_json(&after_last).unwrap_err();
        assert!(e.to_string().contains("after last_created_at"), "{e}");
        let too_many: Vec<String> = (0..=MAX_LOOKBACK_GIDS)
            .map(|i| format!("\"{i}\""))
            .collect();
        let crowded = json.replace(r#"["1"]}"#, &format!("[{}]}}", too_many.join(",")));
        let e = Cursor::from_json(&crowded).unwrap_err();
        assert!(e.to_string().contains("more than 10000"), "{e}");
        let future = json.replace(r#""version":2"#, r#""version":3"#);
        let e = Cursor::from_json(&future).unwrap_err();
        assert!(
            e.to_string().contains("cursor version 3 is not supported"),
            "{e}"
        );
    }

    #[test]
    fn json_format() {
        let mut pos = Position {
            offset: Some("tok".into()),
            ..Position::default()
        };
        pos.observe(&event("9", "2024-01-01T00:00:00.5Z"));
        let cursor = Cursor::new(query(), pos);
        let json = cursor.to_json();
        assert_eq!(
            json,
            r#"{"version":1,"query":{"workspace_gid":"1","page_size":100},"offset":"tok","last_created_at":"2024-01-01T00:00:00.500Z","seen_gids":["9"]}"#
        );
        assert_eq!(Cursor::from_json(&json).unwrap(), cursor);
        let future = json.replace(r#""version":1"#, r#""version":2"#);
        let e = Cursor::from_json(&future).unwrap_err();
        assert!(
            e.to_string().contains("cursor version 2 is not supported"),
            "{e}"
        );
    }
}
