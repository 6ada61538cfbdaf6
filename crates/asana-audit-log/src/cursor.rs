//! [`Cursor`]: a serializable position in a query's event sequence.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::AuditLogEvent;
use crate::query::Query;

/// The cursor format this version writes and reads.
pub const CURSOR_VERSION: u32 = 1;

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
/// [`MAX_SEEN_GIDS`]). The offset is Asana's opaque token: it expires, so a resumed stream whose
/// offset is rejected restarts from `start_at = last created_at` with the same filters and drops
/// the events it already delivered (by gid at that instant). The format is versioned
/// ([`CURSOR_VERSION`]); an unknown version fails to deserialize. A cursor never contains the
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

    fn try_from(fields: CursorFields) -> Result<Self, String> {
        if fields.version != CURSOR_VERSION {
            return Err(format!(
                "cursor version {} is not supported (this library reads version {CURSOR_VERSION})",
                fields.version
            ));
        }
        if let (Some(restart), Some(start)) = (fields.position.restart_at, fields.query.start_at())
            && restart < start
        {
            return Err("cursor restart_at lies before its query's start_at".to_owned());
        }
        Ok(Cursor {
            version: fields.version,
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
            version: CURSOR_VERSION,
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
