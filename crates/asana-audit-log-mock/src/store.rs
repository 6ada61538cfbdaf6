//! The event store: every event's JSON bytes in a few large arenas (one per generator
//! thread, appends go to the last), plus a small fixed-size index entry per event (48 bytes)
//! holding what the filters and the paging need.
//!
//! Events are kept in `(created_at, key)` order, where `key` is where the event's JSON starts
//! in the arenas: it only grows with every event stored, so it says which of two events with
//! the same `created_at` came first, and it never changes. An offset token holds "after
//! event `(created_at, key)`", which stays meaningful whatever is stored later. Appends go at
//! the end (an appended event is never older than the last one); a *late* event
//! ([`Store::insert_generated`]) goes to the place of its `created_at`, after every event of
//! the same millisecond, and when that place is before an offset a client holds, paging on
//! from that offset never returns it, as with the live API.

use std::collections::HashMap;
use std::ops::Range;

use crate::generate::{GenMeta, Generator};

/// The actor types a client may filter on, in code order.
pub(crate) const ACTOR_TYPES: [&str; 5] = [
    "user",
    "asana",
    "asana_support",
    "anonymous",
    "external_administrator",
];
const ACTOR_NONE: u8 = 254;
const ACTOR_OTHER: u8 = 255;

/// The filter code of an actor type string.
pub(crate) fn actor_type_code(actor_type: Option<&str>) -> u8 {
    match actor_type {
        None => ACTOR_NONE,
        Some(s) => ACTOR_TYPES
            .iter()
            .position(|&t| t == s)
            .map_or(ACTOR_OTHER, |i| i as u8),
    }
}

/// An entry's `start`: arena index in the top byte, byte offset below.
const ARENA_SHIFT: u32 = 56;
const OFFSET_MASK: u64 = (1 << ARENA_SHIFT) - 1;

/// Gids are stored as a `u64`: 0 for none, the number itself for canonical decimal gids below
/// 10^18 (all real ones), or a high-bit-tagged index into a table for anything else.
const INTERNED: u64 = 1 << 63;

fn numeric_gid(s: &str) -> Option<u64> {
    let canonical = !s.is_empty()
        && s.len() <= 18
        && s.bytes().all(|b| b.is_ascii_digit())
        && !s.starts_with('0');
    if canonical { s.parse().ok() } else { None }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    ms: i64,
    start: u64,
    /// Bytes of JSON at `start`.
    len: u32,
    actor_gid: u64,
    resource_gid: u64,
    event_type: u32,
    actor_type: u8,
}

/// The filters of a query, normalized (dates as milliseconds), as a client sent them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Filters {
    pub(crate) start_ms: Option<i64>,
    pub(crate) end_ms: Option<i64>,
    pub(crate) event_type: Option<String>,
    pub(crate) actor_type: Option<u8>,
    pub(crate) actor_gid: Option<String>,
    pub(crate) resource_gid: Option<String>,
}

/// Filters translated to index codes.
struct Resolved {
    event_type: Option<u32>,
    actor_type: Option<u8>,
    actor_gid: Option<u64>,
    resource_gid: Option<u64>,
}

impl Resolved {
    #[inline]
    fn matches(&self, e: &Entry) -> bool {
        self.event_type.is_none_or(|t| t == e.event_type)
            && self.actor_type.is_none_or(|t| t == e.actor_type)
            && self.actor_gid.is_none_or(|g| g == e.actor_gid)
            && self.resource_gid.is_none_or(|g| g == e.resource_gid)
    }
}

/// Where a page starts: at the beginning, or after the event `(ms, key)` in store order (see
/// the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cursor {
    Start,
    After { ms: i64, key: u64 },
}

/// All events the server has, in order.
#[derive(Debug, Default)]
pub(crate) struct Store {
    /// The JSON of consecutive runs of events; an entry's `start` holds its arena's index in
    /// the top byte and the offset in that arena below.
    arenas: Vec<Vec<u8>>,
    entries: Vec<Entry>,
    event_types: HashMap<String, u32>,
    odd_gids: HashMap<String, u64>,
}

impl Store {
    pub(crate) fn with_capacity(events: usize) -> Self {
        Store {
            arenas: vec![Vec::with_capacity(events * 680)],
            entries: Vec::with_capacity(events),
            ..Store::default()
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// `created_at` of the newest event.
    pub(crate) fn last_ms(&self) -> Option<i64> {
        self.entries.last().map(|e| e.ms)
    }

    /// Bytes of JSON held.
    pub(crate) fn arena_bytes(&self) -> usize {
        self.arenas.iter().map(Vec::len).sum()
    }

    /// The arena appends go to, and the `start` the next event written there gets.
    fn tail(&mut self) -> (&mut Vec<u8>, u64) {
        if self.arenas.is_empty() {
            self.arenas.push(Vec::new());
        }
        let index = (self.arenas.len() - 1) as u64;
        let arena = self.arenas.last_mut().expect("an arena");
        let start = (index << ARENA_SHIFT) | arena.len() as u64;
        (arena, start)
    }

    fn event_type_code(&mut self, name: &str) -> u32 {
        if let Some(&code) = self.event_types.get(name) {
            return code;
        }
        let code = self.event_types.len() as u32;
        self.event_types.insert(name.to_owned(), code);
        code
    }

    fn gid_code(&mut self, gid: Option<&str>) -> u64 {
        let Some(gid) = gid else { return 0 };
        if let Some(n) = numeric_gid(gid) {
            return n;
        }
        let next = INTERNED | self.odd_gids.len() as u64;
        *self.odd_gids.entry(gid.to_owned()).or_insert(next)
    }

    fn lookup_gid(&self, gid: &str) -> Option<u64> {
        numeric_gid(gid).or_else(|| self.odd_gids.get(gid).copied())
    }

    /// Appends generated event `seq`, created at `ms` (not older than the last event).
    pub(crate) fn push_generated(
        &mut self,
        generator: &Generator,
        seq: u64,
        ms: i64,
        initial: bool,
    ) {
        debug_assert!(self.last_ms().is_none_or(|last| last <= ms));
        let entry = self.write_generated(generator, seq, ms, initial);
        self.entries.push(entry);
    }

    /// Stores generated event `seq` created at `ms`, which may be older than events already
    /// stored: it goes after every event created at or before `ms` (a late event).
    pub(crate) fn insert_generated(&mut self, generator: &Generator, seq: u64, ms: i64) {
        let entry = self.write_generated(generator, seq, ms, false);
        let at = self.entries.partition_point(|e| e.ms <= ms);
        self.entries.insert(at, entry);
    }

    fn write_generated(
        &mut self,
        generator: &Generator,
        seq: u64,
        ms: i64,
        initial: bool,
    ) -> Entry {
        let (arena, start) = self.tail();
        let before = arena.len();
        let meta: GenMeta = generator.write(seq, ms, initial, arena);
        let len = u32::try_from(arena.len() - before).expect("an event under 4 GiB");
        let event_type = self.event_type_code(meta.event_type);
        Entry {
            ms,
            start,
            len,
            actor_gid: meta.actor_gid.unwrap_or(0),
            resource_gid: meta.resource_gid.unwrap_or(0),
            event_type,
            actor_type: actor_type_code(Some(meta.actor_type)),
        }
    }

    /// Gives the generator's event types their codes up front, in a fixed order, so stores
    /// filled in parallel agree on them.
    pub(crate) fn preintern(&mut self, generator: &Generator) {
        for name in generator.type_names() {
            self.event_type_code(name);
        }
    }

    /// Appends the events of `parts` (generated in parallel from consecutive ranges of
    /// sequence numbers, each [`preintern`](Self::preintern)ed the same way) to this store.
    pub(crate) fn extend_from_parts(&mut self, parts: Vec<Store>) {
        self.entries
            .reserve_exact(parts.iter().map(|p| p.entries.len()).sum());
        for part in parts {
            assert_eq!(
                part.event_types, self.event_types,
                "parts must share event type codes"
            );
            assert!(part.odd_gids.is_empty(), "generated gids are numeric");
            let shift = (self.arenas.len() as u64) << ARENA_SHIFT;
            assert!(
                self.arenas.len() + part.arenas.len() < 256,
                "at most 255 arenas"
            );
            self.arenas.extend(part.arenas);
            self.entries.extend(part.entries.iter().map(|e| Entry {
                start: e.start + shift,
                ..*e
            }));
        }
    }

    /// Appends an event given as JSON text with the fields the filters read.
    pub(crate) fn push_json(
        &mut self,
        json: &[u8],
        ms: i64,
        event_type: Option<&str>,
        actor_type: Option<&str>,
        actor_gid: Option<&str>,
        resource_gid: Option<&str>,
    ) {
        debug_assert!(self.last_ms().is_none_or(|last| last <= ms));
        let (arena, start) = self.tail();
        arena.extend_from_slice(json);
        let len = u32::try_from(json.len()).expect("an event under 4 GiB");
        let event_type = self.event_type_code(event_type.unwrap_or(""));
        let entry = Entry {
            ms,
            start,
            len,
            actor_gid: self.gid_code(actor_gid),
            resource_gid: self.gid_code(resource_gid),
            event_type,
            actor_type: actor_type_code(actor_type),
        };
        self.entries.push(entry);
    }

    /// The JSON text of event `i`.
    pub(crate) fn bytes(&self, i: usize) -> &[u8] {
        let Entry { start, len, .. } = self.entries[i];
        let arena = &self.arenas[(start >> ARENA_SHIFT) as usize];
        let from = (start & OFFSET_MASK) as usize;
        &arena[from..from + len as usize]
    }

    /// The cursor right after event `i`.
    pub(crate) fn after(&self, i: usize) -> Cursor {
        Cursor::After {
            ms: self.entries[i].ms,
            key: self.entries[i].start,
        }
    }

    /// The first position after `cursor`.
    fn first_after(&self, cursor: Cursor) -> usize {
        match cursor {
            Cursor::Start => 0,
            Cursor::After { ms, key } => self
                .entries
                .partition_point(|e| (e.ms, e.start) <= (ms, key)),
        }
    }

    /// The position of the event `cursor` is right after, if it is stored (what the request
    /// log shows).
    pub(crate) fn position_of(&self, cursor: Cursor) -> Option<u64> {
        let next = self.first_after(cursor);
        (next > 0 && self.after(next - 1) == cursor).then(|| (next - 1) as u64)
    }

    /// `created_at` of event `i`.
    pub(crate) fn ms(&self, i: usize) -> i64 {
        self.entries[i].ms
    }

    /// The first position whose event is at or after `ms`.
    fn first_at_or_after(&self, ms: i64) -> usize {
        self.entries.partition_point(|e| e.ms < ms)
    }

    /// Positions of the events created at or after `from_ms`.
    pub(crate) fn range_from(&self, from_ms: i64) -> Range<usize> {
        self.first_at_or_after(from_ms)..self.entries.len()
    }

    fn resolve(&self, f: &Filters) -> Option<Resolved> {
        let event_type = match &f.event_type {
            Some(t) => Some(*self.event_types.get(t.as_str())?),
            None => None,
        };
        let actor_gid = match &f.actor_gid {
            Some(g) => Some(self.lookup_gid(g)?),
            None => None,
        };
        let resource_gid = match &f.resource_gid {
            Some(g) => Some(self.lookup_gid(g)?),
            None => None,
        };
        Some(Resolved {
            event_type,
            actor_type: f.actor_type,
            actor_gid,
            resource_gid,
        })
    }

    /// Positions `lo..hi` that the time window (and `visible_from_ms`) allow.
    fn window(&self, f: &Filters, visible_from_ms: i64) -> Range<usize> {
        let from = f
            .start_ms
            .map_or(visible_from_ms, |s| s.max(visible_from_ms));
        let lo = self.first_at_or_after(from);
        let hi = f
            .end_ms
            .map_or(self.entries.len(), |e| self.first_at_or_after(e));
        lo..hi.max(lo)
    }

    /// Writes up to `limit` matching events after `cursor`, comma-separated, into `out`;
    /// returns how many, and the cursor for the next page (after the last event looked at,
    /// matching or not: only a late event can be stored before it, and paging skips it).
    pub(crate) fn page(
        &self,
        f: &Filters,
        cursor: Cursor,
        limit: usize,
        visible_from_ms: i64,
        out: &mut Vec<u8>,
    ) -> (usize, Cursor) {
        let Some(resolved) = self.resolve(f) else {
            return (0, cursor);
        };
        let window = self.window(f, visible_from_ms);
        let lo = window.start.max(self.first_after(cursor));
        let mut returned = 0;
        let mut last = None;
        for i in lo..window.end {
            last = Some(i);
            if resolved.matches(&self.entries[i]) {
                if returned > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(self.bytes(i));
                returned += 1;
                if returned == limit {
                    break;
                }
            }
        }
        let next = last.map_or(cursor, |i| self.after(i));
        (returned, next)
    }

    /// Whether any event at position `from` or later matches (time window included,
    /// retention ignored): what "the filters have matched" means for `next_page`.
    pub(crate) fn any_match(&self, f: &Filters, from: usize) -> bool {
        let Some(resolved) = self.resolve(f) else {
            return false;
        };
        let window = self.window(f, i64::MIN);
        (window.start.max(from)..window.end).any(|i| resolved.matches(&self.entries[i]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        let mut s = Store::default();
        let rows = [
            (10, "a", Some("user"), Some("1"), Some("7")),
            (10, "b", Some("asana"), None, Some("7")),
            (20, "a", Some("user"), Some("2"), Some("x-9")),
            (30, "a", Some("robot"), Some("1"), None),
        ];
        for (i, (ms, t, at, ag, rg)) in rows.into_iter().enumerate() {
            s.push_json(format!("{{\"n\":{i}}}").as_bytes(), ms, Some(t), at, ag, rg);
        }
        s
    }

    fn all(s: &Store, f: &Filters, limit: usize) -> Vec<String> {
        let mut cursor = Cursor::Start;
        let mut pages = Vec::new();
        loop {
            let mut out = Vec::new();
            let (n, next) = s.page(f, cursor, limit, i64::MIN, &mut out);
            if n == 0 {
                return pages;
            }
            pages.push(String::from_utf8(out).unwrap());
            cursor = next;
        }
    }

    #[test]
    fn pages_follow_filters_and_cursor() {
        let s = store();
        assert_eq!(
            all(&s, &Filters::default(), 3),
            vec![r#"{"n":0},{"n":1},{"n":2}"#, r#"{"n":3}"#]
        );
        let by_type = Filters {
            event_type: Some("a".into()),
            ..Filters::default()
        };
        assert_eq!(
            all(&s, &by_type, 1),
            vec![r#"{"n":0}"#, r#"{"n":2}"#, r#"{"n":3}"#]
        );
        let window = Filters {
            start_ms: Some(10),
            end_ms: Some(30),
            ..Filters::default()
        };
        assert_eq!(all(&s, &window, 10), vec![r#"{"n":0},{"n":1},{"n":2}"#]);
        let actor = Filters {
            actor_gid: Some("1".into()),
            actor_type: Some(0),
            ..Filters::default()
        };
        assert_eq!(all(&s, &actor, 10), vec![r#"{"n":0}"#]);
        let odd = Filters {
            resource_gid: Some("x-9".into()),
            ..Filters::default()
        };
        assert_eq!(all(&s, &odd, 10), vec![r#"{"n":2}"#]);
        let unknown = Filters {
            resource_gid: Some("404".into()),
            ..Filters::default()
        };
        assert!(all(&s, &unknown, 10).is_empty());
        assert!(!s.any_match(&unknown, 0));
        assert!(s.any_match(&odd, 0) && !s.any_match(&odd, 3));
    }

    #[test]
    fn empty_page_keeps_or_advances_cursor() {
        let s = store();
        let f = Filters {
            event_type: Some("b".into()),
            ..Filters::default()
        };
        let mut out = Vec::new();
        let (n, c) = s.page(&f, Cursor::Start, 10, i64::MIN, &mut out);
        assert_eq!((n, c), (1, s.after(3)));
        assert_eq!(s.position_of(c), Some(3));
        let (n, c2) = s.page(&f, c, 10, i64::MIN, &mut Vec::new());
        assert_eq!((n, c2), (0, c));
        // Retention hides the first two.
        let (n, _) = s.page(&Filters::default(), Cursor::Start, 10, 15, &mut Vec::new());
        assert_eq!(n, 2);
    }
}
