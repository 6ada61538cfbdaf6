//! A borrowing scanner over the event's own text.
//!
//! [`AuditLogEvent::json`](asana_audit_log::AuditLogEvent::json) is valid JSON without
//! whitespace outside strings, which is all this needs: keys and values come out as slices of
//! the text, exactly as received. [`Source::read`] walks the event once, recording its
//! top-level members and the members of `actor`, `resource`, `context` and `details`, so the
//! mapper never scans the text again. On text that breaks the promise the scan stops early (it
//! never panics).

use std::borrow::Cow;

/// One member of an object: the key's text between its quotes (escapes kept), the value's
/// JSON text, and which known member it is (`slot`, 0 for none; see [`Source`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Member<'a> {
    pub(crate) key: &'a str,
    pub(crate) value: &'a str,
    pub(crate) slot: u8,
    /// For a top-level `actor`, `resource`, `context` or `details` object: its members'
    /// range in [`Source::nested`].
    pub(crate) children: (u16, u16),
}

/// A list that keeps its first `N` items inline and spills the rest to the heap, so an event
/// of ordinary size costs no allocation.
pub(crate) struct List<T, const N: usize> {
    inline: [T; N],
    len: usize,
    spill: Vec<T>,
}

impl<T: Copy + Default, const N: usize> List<T, N> {
    fn new() -> Self {
        List {
            inline: [T::default(); N],
            len: 0,
            spill: Vec::new(),
        }
    }

    fn push(&mut self, item: T) {
        if self.len < N {
            self.inline[self.len] = item;
        } else {
            self.spill.push(item);
        }
        self.len += 1;
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn get(&self, i: usize) -> T {
        if i < N {
            self.inline[i]
        } else {
            self.spill[i - N]
        }
    }
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

fn top_slot(key: &str) -> u8 {
    match key {
        "gid" => TOP_GID,
        "created_at" => TOP_CREATED_AT,
        "event_type" => TOP_EVENT_TYPE,
        "actor" => TOP_OBJECT,
        "resource" => TOP_OBJECT + 1,
        "context" => TOP_OBJECT + 2,
        "details" => TOP_OBJECT + 3,
        _ => 0,
    }
}

/// The slot (1-based index in [`Source::fields`]`[object]`) of a member of one of the four
/// objects: `actor` gid, name, email, actor_type; `resource` gid, name, email, resource_type;
/// `context` client_ip_address, user_agent, oauth_app_name; `details` reason, new_value,
/// member.
fn nested_slot(object: usize, key: &str) -> u8 {
    match (object, key) {
        (ACTOR | RESOURCE, "gid") => 1,
        (ACTOR | RESOURCE, "name") => 2,
        (ACTOR | RESOURCE, "email") => 3,
        (ACTOR, "actor_type") | (RESOURCE, "resource_type") => 4,
        (CONTEXT, "client_ip_address") | (DETAILS, "reason") => 1,
        (CONTEXT, "user_agent") | (DETAILS, "new_value") => 2,
        (CONTEXT, "oauth_app_name") | (DETAILS, "member") => 3,
        _ => 0,
    }
}

/// The event's text, walked once.
pub(crate) struct Source<'a> {
    /// The top-level members, in order, repeats included.
    pub(crate) top: List<Member<'a>, 24>,
    /// The members of the top-level `actor`, `resource`, `context` and `details` objects.
    pub(crate) nested: List<Member<'a>, 32>,
    /// The values of `gid`, `created_at` and `event_type` (the last where a key repeats, as
    /// `serde_json` reads it).
    pub(crate) leaves: [Option<&'a str>; 3],
    /// `fields[object][slot - 1]`: the values of the known members of the last occurrence of
    /// each object (all `None` when that occurrence is not an object).
    pub(crate) fields: [[Option<&'a str>; 4]; 4],
}

impl<'a> Source<'a> {
    /// Walks `text`, an object.
    pub(crate) fn read(text: &'a str) -> Self {
        let mut source = Source {
            top: List::new(),
            nested: List::new(),
            leaves: [None; 3],
            fields: [[None; 4]; 4],
        };
        source.walk(text);
        source
    }

    fn walk(&mut self, text: &'a str) -> Option<()> {
        let bytes = text.as_bytes();
        if bytes.first() != Some(&b'{') {
            return None;
        }
        let mut i = 1;
        while bytes.get(i) == Some(&b'"') {
            let (key, escaped, start) = read_key(text, i)?;
            let slot = top_slot(&key_text(key, escaped));
            let mut children = (0, 0);
            let end = if slot >= TOP_OBJECT {
                let object = usize::from(slot - TOP_OBJECT);
                self.fields[object] = [None; 4];
                if bytes.get(start) == Some(&b'{') {
                    let first = self.nested.len();
                    let end = self.walk_object(text, object, start)?;
                    children = (index(first)?, index(self.nested.len())?);
                    end
                } else {
                    value_end(bytes, start)?
                }
            } else {
                let end = value_end(bytes, start)?;
                if slot > 0 {
                    self.leaves[usize::from(slot - 1)] = text.get(start..end);
                }
                end
            };
            self.top.push(Member {
                key,
                value: text.get(start..end)?,
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
    fn walk_object(&mut self, text: &'a str, object: usize, start: usize) -> Option<usize> {
        let bytes = text.as_bytes();
        let mut i = start + 1;
        loop {
            match bytes.get(i)? {
                b'}' => return Some(i + 1),
                b',' => i += 1,
                b'"' => {
                    let (key, escaped, value_start) = read_key(text, i)?;
                    let end = value_end(bytes, value_start)?;
                    let value = text.get(value_start..end)?;
                    let slot = nested_slot(object, &key_text(key, escaped));
                    if slot > 0 {
                        self.fields[object][usize::from(slot - 1)] = Some(value);
                    }
                    self.nested.push(Member {
                        key,
                        value,
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

/// The key starting (with its quote) at `i`: its text between the quotes, whether it has an
/// escape, and the index of its value.
fn read_key(text: &str, i: usize) -> Option<(&str, bool, usize)> {
    let bytes = text.as_bytes();
    let (key_end, escaped) = string_end_escaped(bytes, i)?;
    if bytes.get(key_end) != Some(&b':') {
        return None;
    }
    Some((text.get(i + 1..key_end - 1)?, escaped, key_end + 1))
}

/// The key, unescaped when it has an escape.
fn key_text(key: &str, escaped: bool) -> Cow<'_, str> {
    if escaped {
        unescaped(key)
    } else {
        Cow::Borrowed(key)
    }
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
/// (without slots).
pub(crate) fn members(text: &str) -> Members<'_> {
    let pos = if text.starts_with('{') { 1 } else { text.len() };
    Members { text, pos }
}

/// Iterator of [`members`].
pub(crate) struct Members<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Iterator for Members<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        let bytes = self.text.as_bytes();
        let mut i = self.pos;
        if bytes.get(i) == Some(&b',') {
            i += 1;
        }
        self.pos = self.text.len();
        if bytes.get(i) != Some(&b'"') {
            return None;
        }
        let (key, _, start) = read_key(self.text, i)?;
        let end = value_end(bytes, start)?;
        self.pos = end;
        Some(Member {
            key,
            value: self.text.get(start..end)?,
            slot: 0,
            children: (0, 0),
        })
    }
}

/// The index just past the string starting (with its quote) at `start`.
#[inline]
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    string_end_escaped(bytes, start).map(|(end, _)| end)
}

/// [`string_end`], and whether the string has an escape. Eight bytes at a time: a word's
/// bytes equal to `"` or `\` become zero after an XOR, and the lowest zero byte of a word
/// is found exactly by the borrow trick (higher ones may be false alarms, which never matter
/// because only the lowest is used).
#[inline]
fn string_end_escaped(bytes: &[u8], start: usize) -> Option<(usize, bool)> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    let mut i = start + 1;
    let mut escaped = false;
    loop {
        while let Some(chunk) = bytes.get(i..i + 8) {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            let word = u64::from_le_bytes(word);
            let (q, b) = (word ^ QUOTES, word ^ BACKSLASHES);
            let hits = ((q.wrapping_sub(ONES) & !q) | (b.wrapping_sub(ONES) & !b)) & HIGH;
            if hits != 0 {
                i += (hits.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
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
        let top: Vec<(&str, u8)> = (0..s.top.len())
            .map(|i| (s.top.get(i).key, s.top.get(i).slot))
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
        let (from, to) = s.top.get(1).children;
        let nested: Vec<(&str, &str, u8)> = (from..to)
            .map(|i| s.nested.get(usize::from(i)))
            .map(|m| (m.key, m.value, m.slot))
            .collect();
        assert_eq!(nested, [("gid", r#""2""#, 1), ("x", r#"[1,"}"]"#, 0)]);
        assert_eq!(s.top.get(6).value, "{}");

        // Broken text stops the walk without a panic.
        for broken in [r#"{"a":"#, r#"{"actor":{"gid":"2""#, r#"{"a":1,"b""#, "[]"] {
            let s = Source::read(broken);
            assert!(s.top.len() <= 1);
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
        assert_eq!(
            string_end(br#""never ends, not even after 8 bytes"#, 0),
            None
        );
        assert_eq!(string_end(br#""ends in an escape\"#, 0), None);
        assert_eq!(string_end(br#""ends in an escape pair\\"#, 0), None);
    }

    #[test]
    fn more_members_than_the_inline_room_spill() {
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
        assert_eq!(s.top.len(), 41);
        assert_eq!(s.top.get(39).value, "39");
        assert_eq!(s.nested.len(), 41);
        assert_eq!(s.nested.get(40).key, "user_agent");
        assert_eq!(s.fields[CONTEXT][1], Some(r#""UA""#));
    }
}
