//! A borrowing scanner over the event's own text.
//!
//! [`AuditLogEvent::json`](asana_audit_log::AuditLogEvent::json) is valid JSON without
//! whitespace outside strings, which is all this needs: keys and values come out as slices of
//! the text, exactly as received. [`Source::read`] walks the event once, recording its
//! top-level members and the members of `actor`, `resource`, `context` and `details`, so the
//! mapper never scans the text again. On text that breaks the promise the scan stops early (it
//! never panics).

use std::borrow::Cow;

/// One member of an object, as offsets into the text: where its key's opening quote is,
/// where its value starts and where it ends, and which known member it is (`slot`, 0 for
/// none; see [`Source`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Member {
    start: u32,
    value: u32,
    end: u32,
    pub(crate) slot: u8,
    /// For a top-level `actor`, `resource`, `context` or `details` object: its members'
    /// range in [`Source::nested`].
    pub(crate) children: (u16, u16),
}

/// Top-level slots: `gid`, `created_at`, `event_type` (leaves the mapper may copy), then the
/// four objects it reads members of.
pub(crate) const TOP_GID: u8 = 1;
pub(crate) const TOP_CREATED_AT: u8 = 2;
pub(crate) const TOP_EVENT_TYPE: u8 = 3;
/// The first object slot; `actor`, `resource`, `context`, `details` follow in that order.
pub(crate) const TOP_OBJECT: u8 = 4;

/// Indexes of the four objects in [`Source::fields`].
pub(crate) const ACTOR: usize = 0;
pub(crate) const RESOURCE: usize = 1;
pub(crate) const CONTEXT: usize = 2;
pub(crate) const DETAILS: usize = 3;

/// A key of at most 16 bytes as one number (its bytes, little-endian, zeros after), so that
/// telling known keys apart is a few integer comparisons, not a string comparison each.
const fn word(key: &[u8]) -> u128 {
    let mut bytes = [0; 16];
    let mut i = 0;
    while i < key.len() && i < 16 {
        bytes[i] = key[i];
        i += 1;
    }
    u128::from_le_bytes(bytes)
}

/// A key as [`top_slot`] and [`nested_slot`] compare it: its length, and the [`word`] of its
/// first 16 bytes.
#[derive(Clone, Copy)]
struct Key<'k> {
    text: &'k [u8],
    word: u128,
}

impl<'k> Key<'k> {
    /// The key `bytes[from..to]`; `bytes` usually has 16 bytes from `from` on, read at once.
    #[inline]
    fn at(bytes: &'k [u8], from: usize, to: usize) -> Key<'k> {
        let text = &bytes[from..to];
        let word = match bytes.get(from..from + 16) {
            Some(chunk) if text.len() < 16 => {
                let chunk: [u8; 16] = chunk.try_into().expect("16 bytes");
                u128::from_le_bytes(chunk) & ((1 << (8 * text.len())) - 1)
            }
            _ => word(text),
        };
        Key { text, word }
    }
}

fn top_slot(key: Key<'_>) -> u8 {
    const GID: u128 = word(b"gid");
    const CREATED_AT: u128 = word(b"created_at");
    const EVENT_TYPE: u128 = word(b"event_type");
    const ACTOR_KEY: u128 = word(b"actor");
    const RESOURCE_KEY: u128 = word(b"resource");
    const CONTEXT_KEY: u128 = word(b"context");
    const DETAILS_KEY: u128 = word(b"details");
    // Every known key is shorter than 16 bytes: its word holds all of it, and no longer key
    // has the same word with the same length.
    match (key.text.len(), key.word) {
        (3, GID) => TOP_GID,
        (10, CREATED_AT) => TOP_CREATED_AT,
        (10, EVENT_TYPE) => TOP_EVENT_TYPE,
        (5, ACTOR_KEY) => TOP_OBJECT,
        (8, RESOURCE_KEY) => TOP_OBJECT + 1,
        (7, CONTEXT_KEY) => TOP_OBJECT + 2,
        (7, DETAILS_KEY) => TOP_OBJECT + 3,
        _ => 0,
    }
}

/// The slot (1-based index in [`Source::fields`]`[object]`) of a member of one of the four
/// objects: `actor` gid, name, email, actor_type; `resource` gid, name, email, resource_type;
/// `context` client_ip_address, user_agent, oauth_app_name; `details` reason, new_value,
/// member.
fn nested_slot(object: usize, key: Key<'_>) -> u8 {
    const GID: u128 = word(b"gid");
    const NAME: u128 = word(b"name");
    const EMAIL: u128 = word(b"email");
    const ACTOR_TYPE: u128 = word(b"actor_type");
    const RESOURCE_TYPE: u128 = word(b"resource_type");
    // Seventeen bytes: the word holds the first sixteen, the last is checked apart.
    const CLIENT_IP_ADDRESS: u128 = word(b"client_ip_address");
    const USER_AGENT: u128 = word(b"user_agent");
    const OAUTH_APP_NAME: u128 = word(b"oauth_app_name");
    const REASON: u128 = word(b"reason");
    const NEW_VALUE: u128 = word(b"new_value");
    const MEMBER: u128 = word(b"member");
    match (object, key.text.len(), key.word) {
        (ACTOR | RESOURCE, 3, GID) => 1,
        (ACTOR | RESOURCE, 4, NAME) => 2,
        (ACTOR | RESOURCE, 5, EMAIL) => 3,
        (ACTOR, 10, ACTOR_TYPE) | (RESOURCE, 13, RESOURCE_TYPE) => 4,
        (CONTEXT, 17, CLIENT_IP_ADDRESS) if key.text[16] == b's' => 1,
        (CONTEXT, 10, USER_AGENT) => 2,
        (CONTEXT, 14, OAUTH_APP_NAME) => 3,
        (DETAILS, 6, REASON) => 1,
        (DETAILS, 9, NEW_VALUE) => 2,
        (DETAILS, 6, MEMBER) => 3,
        _ => 0,
    }
}

/// The slot of the key between `from` and `to` through `slot_of`; a key with an escape is
/// unescaped first (rare: Asana's keys are plain).
#[inline]
fn slot_with(
    text: &str,
    (from, to): (usize, usize),
    escaped: bool,
    slot_of: impl Fn(Key<'_>) -> u8,
) -> u8 {
    let bytes = text.as_bytes();
    if escaped {
        let key = unescaped(text.get(from..to).unwrap_or(""));
        let key = key.as_bytes();
        slot_of(Key::at(key, 0, key.len()))
    } else {
        slot_of(Key::at(bytes, from, to))
    }
}

/// The event's text, walked once.
pub(crate) struct Source<'a> {
    text: &'a str,
    /// The top-level members, in order, repeats included.
    top: Vec<Member>,
    /// The members of the top-level `actor`, `resource`, `context` and `details` objects.
    nested: Vec<Member>,
    /// The values of `gid`, `created_at` and `event_type` (the last where a key repeats, as
    /// `serde_json` reads it).
    pub(crate) leaves: [Option<&'a str>; 3],
    /// `fields[object][slot - 1]`: the values of the known members of the last occurrence of
    /// each object (all `None` when that occurrence is not an object).
    pub(crate) fields: [[Option<&'a str>; 4]; 4],
}

thread_local! {
    /// The member lists of the thread's last [`Source`], kept for its next one: mapping an
    /// event then allocates nothing and sets up no list.
    static SPARE_LISTS: std::cell::Cell<(Vec<Member>, Vec<Member>)> =
        const { std::cell::Cell::new((Vec::new(), Vec::new())) };
}

impl Drop for Source<'_> {
    fn drop(&mut self) {
        let lists = (
            std::mem::take(&mut self.top),
            std::mem::take(&mut self.nested),
        );
        // Lists grown by an unusually large event are not kept.
        if lists.0.capacity() + lists.1.capacity() <= 1024 {
            SPARE_LISTS.set(lists);
        }
    }
}

impl<'a> Source<'a> {
    /// Walks `text`, an object. Text of 4 GiB or more (offsets are 32-bit) is not an event:
    /// nothing is read of it.
    pub(crate) fn read(text: &'a str) -> Self {
        let (mut top, mut nested) = SPARE_LISTS.take();
        top.clear();
        nested.clear();
        let mut source = Source {
            text,
            top,
            nested,
            leaves: [None; 3],
            fields: [[None; 4]; 4],
        };
        if u32::try_from(text.len()).is_ok() {
            source.walk();
        }
        source
    }

    /// The top-level members.
    pub(crate) fn top(&self) -> &[Member] {
        &self.top
    }

    /// The members of the four objects (see [`Member::children`]).
    pub(crate) fn nested(&self) -> &[Member] {
        &self.nested
    }

    fn slice(&self, from: u32, to: u32) -> &'a str {
        self.text.get(from as usize..to as usize).unwrap_or("")
    }

    /// The member's text, `"key":value`, as received.
    pub(crate) fn whole(&self, m: Member) -> &'a str {
        self.slice(m.start, m.end)
    }

    /// The member's `"key":`, as received.
    pub(crate) fn head(&self, m: Member) -> &'a str {
        self.slice(m.start, m.value)
    }

    /// The member's value's JSON text.
    pub(crate) fn value(&self, m: Member) -> &'a str {
        self.slice(m.value, m.end)
    }

    /// The member's key between its quotes, escapes kept.
    #[cfg(test)]
    pub(crate) fn key(&self, m: Member) -> &'a str {
        self.slice(m.start + 1, m.value - 2)
    }

    fn walk(&mut self) -> Option<()> {
        let text = self.text;
        let bytes = text.as_bytes();
        if bytes.first() != Some(&b'{') {
            return None;
        }
        let mut i = 1;
        while bytes.get(i) == Some(&b'"') {
            let (key_end, escaped, start) = read_key(bytes, i)?;
            let slot = slot_with(text, (i + 1, key_end), escaped, top_slot);
            let mut children = (0, 0);
            let end = if slot >= TOP_OBJECT {
                let object = usize::from(slot - TOP_OBJECT);
                self.fields[object] = [None; 4];
                if bytes.get(start) == Some(&b'{') {
                    let first = self.nested.len();
                    let end = self.walk_object(object, start)?;
                    children = (index(first)?, index(self.nested.len())?);
                    end
                } else {
                    value_end(bytes, start)?
                }
            } else {
                let end = value_end(bytes, start)?;
                if slot > 0 {
                    self.leaves[usize::from(slot - 1)] = Some(text.get(start..end)?);
                }
                end
            };
            self.top.push(Member {
                start: i as u32,
                value: start as u32,
                end: end as u32,
                slot,
                children,
            });
            i = end;
            if bytes.get(i) == Some(&b',') {
                i += 1;
            }
        }
        Some(())
    }

    /// Records the members of the object at `start` under `object`; returns the index just
    /// past it.
    fn walk_object(&mut self, object: usize, start: usize) -> Option<usize> {
        let text = self.text;
        let bytes = text.as_bytes();
        let mut i = start + 1;
        loop {
            match bytes.get(i)? {
                b'}' => return Some(i + 1),
                b',' => i += 1,
                b'"' => {
                    let (key_end, escaped, value) = read_key(bytes, i)?;
                    let end = value_end(bytes, value)?;
                    let slot = slot_with(text, (i + 1, key_end), escaped, |key| {
                        nested_slot(object, key)
                    });
                    if slot > 0 {
                        self.fields[object][usize::from(slot - 1)] = Some(text.get(value..end)?);
                    }
                    self.nested.push(Member {
                        start: i as u32,
                        value: value as u32,
                        end: end as u32,
                        slot,
                        children: (0, 0),
                    });
                    i = end;
                }
                _ => return None,
            }
        }
    }
}

fn index(n: usize) -> Option<u16> {
    u16::try_from(n).ok()
}

/// The key starting (with its quote) at `i`: where its text between the quotes ends, whether
/// it has an escape, and the index of its value (just past the colon).
#[inline]
fn read_key(bytes: &[u8], i: usize) -> Option<(usize, bool, usize)> {
    let (key_end, escaped) = string_end_escaped(bytes, i)?;
    if bytes.get(key_end) != Some(&b':') {
        return None;
    }
    Some((key_end - 1, escaped, key_end + 1))
}

/// A key's text as received, unescaped (borrowed when it has no escape).
pub(crate) fn unescaped(key: &str) -> Cow<'_, str> {
    if key.bytes().any(|b| b == b'\\') {
        serde_json::from_str::<String>(&format!("\"{key}\""))
            .map(Cow::Owned)
            .unwrap_or(Cow::Borrowed(key))
    } else {
        Cow::Borrowed(key)
    }
}

/// The members of the object `text` (which must start with `{`), in order, repeats included
/// (as [`Pair`]s).
pub(crate) fn members(text: &str) -> Members<'_> {
    let pos = if text.starts_with('{') { 1 } else { text.len() };
    Members { text, pos }
}

/// One member [`members`] gives: its key between the quotes (escapes kept) and its value's
/// JSON text.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pair<'a> {
    pub(crate) key: &'a str,
    pub(crate) value: &'a str,
}

/// Iterator of [`members`].
pub(crate) struct Members<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Iterator for Members<'a> {
    type Item = Pair<'a>;

    fn next(&mut self) -> Option<Pair<'a>> {
        let bytes = self.text.as_bytes();
        let mut i = self.pos;
        if bytes.get(i) == Some(&b',') {
            i += 1;
        }
        self.pos = self.text.len();
        if bytes.get(i) != Some(&b'"') {
            return None;
        }
        let (key_end, _, start) = read_key(bytes, i)?;
        let key = self.text.get(i + 1..key_end)?;
        let end = value_end(bytes, start)?;
        self.pos = end;
        Some(Pair {
            key,
            value: self.text.get(start..end)?,
        })
    }
}

/// The index just past the string starting (with its quote) at `start`.
#[inline]
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    string_end_escaped(bytes, start).map(|(end, _)| end)
}

/// [`string_end`], and whether the string has an escape. Sixteen bytes (two words) at a time,
/// eight near the end of the text: a word's bytes equal to `"` or `\` become zero after an
/// XOR, and the lowest zero byte of a word is found exactly by the borrow trick (higher ones
/// may be false alarms, which never matter because only the lowest is used). Two words a
/// step take fewer branches than one, which on this data (strings of 5 to 150 bytes) cut the
/// mapping's CPU time by about 4%.
#[inline]
fn string_end_escaped(bytes: &[u8], start: usize) -> Option<(usize, bool)> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    let hits = |word: u64| {
        let (q, b) = (word ^ QUOTES, word ^ BACKSLASHES);
        ((q.wrapping_sub(ONES) & !q) | (b.wrapping_sub(ONES) & !b)) & HIGH
    };
    let mut i = start + 1;
    let mut escaped = false;
    loop {
        // Two words a step while the text lasts (a value's end is seldom within 8 bytes of
        // the event's), then one.
        'words: {
            while let Some(chunk) = bytes.get(i..i + 16) {
                let (low, high) = chunk.split_at(8);
                let low = hits(u64::from_le_bytes(low.try_into().expect("8 bytes")));
                let high = hits(u64::from_le_bytes(high.try_into().expect("8 bytes")));
                if low | high != 0 {
                    i += if low != 0 {
                        (low.trailing_zeros() / 8) as usize
                    } else {
                        8 + (high.trailing_zeros() / 8) as usize
                    };
                    break 'words;
                }
                i += 16;
            }
            while let Some(chunk) = bytes.get(i..i + 8) {
                let word = hits(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
                if word != 0 {
                    i += (word.trailing_zeros() / 8) as usize;
                    break;
                }
                i += 8;
            }
        }
        match *bytes.get(i)? {
            b'"' => return Some((i + 1, escaped)),
            b'\\' => {
                escaped = true;
                i += 2;
            }
            _ => i += 1,
        }
    }
}

/// The index just past the value starting at `start`.
fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    match *bytes.get(start)? {
        b'"' => string_end(bytes, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            while let Some(&b) = bytes.get(i) {
                match b {
                    b'"' => {
                        i = string_end(bytes, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let rest = bytes.get(start..)?;
            let len = rest
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']'))
                .unwrap_or(rest.len());
            (len > 0).then_some(start + len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_and_values_as_received() {
        let text =
            r#"{"a":"x\"}","b":{"c":[1,{"d":"]"}]},"\u0065":-1.5e3,"a":null,"f":[],"g":true}"#;
        let got: Vec<(&str, &str)> = members(text).map(|m| (m.key, m.value)).collect();
        assert_eq!(
            got,
            [
                ("a", r#""x\"}""#),
                ("b", r#"{"c":[1,{"d":"]"}]}"#),
                (r"\u0065", "-1.5e3"),
                ("a", "null"),
                ("f", "[]"),
                ("g", "true"),
            ]
        );
        assert_eq!(members("{}").count(), 0);
        assert_eq!(members("[1]").count(), 0);
        assert_eq!(members(r#"{"a":"unterminated"#).count(), 0);
        assert_eq!(members(r#"{"a" :1}"#).count(), 0);
    }

    #[test]
    fn one_walk_records_members_slots_and_the_last_values() {
        let text = r#"{"gid":"1","actor":{"gid":"2","x":[1,"}"]},"\u0067id":"3","resource":{"name":"R","email":"e@x.io"},"actor":null,"details":{"member":{"gid":"4"},"reason":"why"},"z":{}}"#;
        let s = Source::read(text);
        let top: Vec<(&str, u8)> = (0..s.top().len())
            .map(|i| (s.key(s.top()[i]), s.top()[i].slot))
            .collect();
        assert_eq!(
            top,
            [
                ("gid", TOP_GID),
                ("actor", TOP_OBJECT),
                (r"\u0067id", TOP_GID),
                ("resource", TOP_OBJECT + 1),
                ("actor", TOP_OBJECT),
                ("details", TOP_OBJECT + 3),
                ("z", 0),
            ]
        );
        assert_eq!(s.leaves, [Some(r#""3""#), None, None]);
        // The last `actor` is not an object: none of its fields.
        assert_eq!(s.fields[ACTOR], [None; 4]);
        assert_eq!(
            s.fields[RESOURCE],
            [None, Some(r#""R""#), Some(r#""e@x.io""#), None]
        );
        assert_eq!(
            s.fields[DETAILS],
            [Some(r#""why""#), None, Some(r#"{"gid":"4"}"#), None]
        );
        // The first `actor`'s members are still recorded, for `unmapped`.
        let (from, to) = s.top()[1].children;
        let nested: Vec<(&str, &str, u8)> = (from..to)
            .map(|i| s.nested()[usize::from(i)])
            .map(|m| (s.key(m), s.value(m), m.slot))
            .collect();
        assert_eq!(nested, [("gid", r#""2""#, 1), ("x", r#"[1,"}"]"#, 0)]);
        assert_eq!(s.value(s.top()[6]), "{}");
        assert_eq!(s.whole(s.top()[6]), r#""z":{}"#);
        assert_eq!(s.head(s.top()[3]), r#""resource":"#);

        // Keys are told apart by their whole text, however long.
        let text = r#"{"gid_":"1","gi":"2","context":{"client_ip_addresses":"x","client_ip_addresz":"y","client_ip_address":"z"},"created_at_and_more":"3"}"#;
        let s = Source::read(text);
        assert_eq!(s.leaves, [None; 3]);
        assert_eq!(s.fields[CONTEXT], [Some(r#""z""#), None, None, None]);
        let slots: Vec<u8> = (0..s.nested().len()).map(|i| s.nested()[i].slot).collect();
        assert_eq!(slots, [0, 0, 1]);

        // Broken text stops the walk without a panic.
        for broken in [r#"{"a":"#, r#"{"actor":{"gid":"2""#, r#"{"a":1,"b""#, "[]"] {
            let s = Source::read(broken);
            assert!(s.top().len() <= 1);
        }
    }

    #[test]
    fn strings_end_at_their_unescaped_quote() {
        let cases: [(&str, usize, bool); 7] = [
            (r#""""#, 2, false),
            (r#""abc"x"#, 5, false),
            (r#""0123456789abcdef"x"#, 18, false),
            (r#""01234567\\"89""#, 12, true),
            (r#""0123456\"89abcdefgh","#, 21, true),
            (r#""é€😀 long enough to take words""#, 37, false),
            (r#""\\\\""#, 6, true),
        ];
        for (text, end, escaped) in cases {
            assert_eq!(
                string_end_escaped(text.as_bytes(), 0),
                Some((end, escaped)),
                "{text}"
            );
        }
        // The end in either word of a two-word step, in a one-word step, or in the last bytes,
        // with text after the string long enough for each.
        for len in 0..40 {
            for after in [0, 7, 8, 15, 16, 40] {
                let plain = format!("\"{}\"{}", "a".repeat(len), "x".repeat(after));
                assert_eq!(
                    string_end_escaped(plain.as_bytes(), 0),
                    Some((len + 2, false)),
                    "{plain}"
                );
                let escaped = format!("\"{}\\\"b\"{}", "a".repeat(len), "\"".repeat(after));
                assert_eq!(
                    string_end_escaped(escaped.as_bytes(), 0),
                    Some((len + 5, true)),
                    "{escaped}"
                );
            }
        }
        assert_eq!(
            string_end(br#""never ends, not even after 8 bytes"#, 0),
            None
        );
        assert_eq!(string_end(br#""ends in an escape\"#, 0), None);
        assert_eq!(string_end(br#""ends in an escape pair\\"#, 0), None);
    }

    #[test]
    fn many_members_are_all_kept() {
        let mut text = String::from("{");
        for i in 0..40 {
            text.push_str(&format!("\"k{i}\":{i},"));
        }
        text.push_str("\"context\":{");
        for i in 0..40 {
            text.push_str(&format!("\"c{i}\":{i},"));
        }
        text.push_str("\"user_agent\":\"UA\"}}");
        let s = Source::read(&text);
        assert_eq!(s.top().len(), 41);
        assert_eq!(s.value(s.top()[39]), "39");
        assert_eq!(s.nested().len(), 41);
        assert_eq!(s.key(s.nested()[40]), "user_agent");
        assert_eq!(s.fields[CONTEXT][1], Some(r#""UA""#));
    }
}
