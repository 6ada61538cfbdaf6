//! [`Fields`]: the members of one JSON object as received, indexed once and read on demand.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use serde_json::value::RawValue;

use crate::compact;

/// A JSON string's value, borrowed unless it has escapes; `None` for any other JSON value.
/// `text` must be one valid JSON value.
pub(crate) fn string_of(text: &str) -> Option<Cow<'_, str>> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    // Most strings have no escapes: the text between the quotes is the value.
    if memchr::memchr(b'\\', inner.as_bytes()).is_none() {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(text).ok().map(Cow::Owned)
}

/// The value of the string literal `literal` (`None` for any other JSON value), as
/// [`string_of`] reads it; `plain` (no escape in it, as a scan found) lets the text between the
/// quotes serve as it is.
pub(crate) fn string_in(literal: &str, plain: bool) -> Option<Cow<'_, str>> {
    if plain {
        literal
            .strip_prefix('"')?
            .strip_suffix('"')
            .map(Cow::Borrowed)
    } else {
        string_of(literal)
    }
}

/// Visits the members of a JSON object's text in one scan, without building [`Fields`]: each
/// member's key (unescaped) and its value when that is a string (unescaped, borrowed unless it
/// has escapes; `None` for a value of any other JSON type), in order, repeated keys included.
/// Serves [`AuditLogEvent::for_each_member`](crate::AuditLogEvent::for_each_member): one pass
/// of [`compact::scan_object`] over the object's text, which costs far less than a
/// `serde_json` pass or the typed views.
///
/// Text that is not an object visits nothing. `object` must be valid JSON (as every text an
/// event gives is); for other text the members visited are unspecified, but nothing panics. A
/// key or string JSON allows but Rust cannot hold (a lone surrogate escape, `"\ud800"`) is
/// skipped, or visited as `None`.
pub(crate) fn string_members<'a>(
    object: &'a str,
    mut visit: impl FnMut(&str, Option<Cow<'a, str>>),
) {
    compact::scan_object(object, |key, value, plain| {
        // `get`: on text that is not JSON a range may end inside a character.
        let (Some(key), Some(value)) = (object.get(key), object.get(value)) else {
            return;
        };
        if let Some(key) = string_in(key, plain) {
            visit(&key, string_in(value, plain));
        }
    });
}

/// A value's JSON text as a [`RawValue`], borrowed.
pub(crate) fn raw(text: &str) -> &RawValue {
    // Every value text comes from scanning valid JSON: it is one complete JSON value without
    // surrounding whitespace, which is all a borrowed `RawValue` checks.
    serde_json::from_str(text).expect("a member's value is one JSON value")
}

/// Where a member's key is: in the object's text (no escapes) or unescaped here.
#[derive(Clone, Debug)]
enum Key {
    InText(Range<usize>),
    Unescaped(Box<str>),
}

/// One member: its key and the byte range of its value in the object's text.
#[derive(Clone, Debug)]
struct Member {
    key: Key,
    value: Range<usize>,
}

impl Member {
    /// The key, unescaped; `text` is the object's text the member was found in.
    fn name<'t>(&'t self, text: &'t str) -> &'t str {
        match &self.key {
            Key::InText(range) => &text[range.clone()],
            Key::Unescaped(key) => key,
        }
    }
}

/// Up to this many distinct keys an object is searched member by member; larger ones get a
/// hash index, so that no object, however large, costs quadratic time.
const LINEAR_SEARCH_MAX: usize = 32;

/// The members of one JSON object, as byte ranges into its text: in the order received, one
/// per key (a repeated key keeps its first position and its last value). Shared by [`Fields`]
/// and the event's top level, which index the text they own.
#[derive(Clone, Debug, Default)]
pub(crate) struct Members {
    list: Vec<Member>,
    /// Key to position in `list`, once `list` is longer than [`LINEAR_SEARCH_MAX`].
    index: Option<HashMap<Box<str>, usize>>,
}

impl Members {
    /// Indexes `text` (one valid JSON value); empty unless it is an object.
    pub(crate) fn parse(text: &str) -> Self {
        let mut members = Members {
            list: Vec::with_capacity(16),
            index: None,
        };
        compact::scan_object(text, |key, value, _| {
            let literal = &text[key.clone()];
            let key = if memchr::memchr(b'\\', literal.as_bytes()).is_none() {
                Key::InText(key.start + 1..key.end - 1)
            } else {
                match string_of(literal) {
                    Some(unescaped) => Key::Unescaped(unescaped.into()),
                    // A key with a lone surrogate escape (`"\ud800"`) is valid JSON but no
                    // Rust string: it keeps its escaped spelling, so it stays a key of its own.
                    None => Key::InText(key.start + 1..key.end - 1),
                }
            };
            let member = Member { key, value };
            match members.position(text, member.name(text)) {
                Some(at) => members.list[at].value = member.value,
                None => members.push(text, member),
            }
        });
        members
    }

    fn push(&mut self, text: &str, member: Member) {
        if let Some(index) = &mut self.index {
            index.insert(member.name(text).into(), self.list.len());
        }
        self.list.push(member);
        if self.index.is_none() && self.list.len() > LINEAR_SEARCH_MAX {
            let index = self
                .list
                .iter()
                .enumerate()
                .map(|(at, member)| (member.name(text).into(), at))
                .collect();
            self.index = Some(index);
        }
    }

    /// Where `key` is in `list`.
    fn position(&self, text: &str, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.list.iter().position(|member| member.name(text) == key),
        }
    }

    /// The value text of `key`, if present.
    pub(crate) fn get<'t>(&self, text: &'t str, key: &str) -> Option<&'t str> {
        let at = self.position(text, key)?;
        Some(&text[self.list[at].value.clone()])
    }

    /// Every member as (key, value text), in the order received.
    pub(crate) fn iter<'t>(&'t self, text: &'t str) -> impl Iterator<Item = (&'t str, &'t str)> {
        self.list
            .iter()
            .map(move |member| (member.name(text), &text[member.value.clone()]))
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }
}

/// The members of a JSON object as received: each key unescaped, each value its exact JSON
/// text, in the order received. A key that appears twice is listed once, at its first
/// position, with its last value (as `serde_json::Value` with its `preserve_order` feature
/// reads it).
///
/// The object's text is kept once and indexed; a value becomes a [`RawValue`] when it is read,
/// so an event's views cost one copy of each object rather than one allocation per member.
///
/// ```
/// let event = asana_audit_log::AuditLogEvent::from_json(
///     r#"{"gid":"1","created_at":"2024-01-01T00:00:00Z","details":{"method":"ui","n":[1,2],"method":"api"}}"#,
/// )?;
/// let details = &event.details().fields;
/// assert_eq!(details.get("method").map(|raw| raw.get()), Some(r#""api""#));
/// assert_eq!(details.keys().collect::<Vec<_>>(), ["method", "n"]);
/// assert_eq!(details["n"].get(), "[1,2]");
/// # Ok::<(), asana_audit_log::error::DecodeError>(())
/// ```
#[derive(Clone, Default)]
pub struct Fields {
    text: Box<str>,
    members: Members,
}

impl Fields {
    /// Indexes `text` (one valid JSON value); `None` unless it is an object.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        text.starts_with('{').then(|| Fields {
            text: text.into(),
            members: Members::parse(text),
        })
    }

    /// The value of `key`, as its exact JSON text.
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.members.get(&self.text, key).map(raw)
    }

    /// The value text of `key`, for the views built in this crate.
    pub(crate) fn value(&self, key: &str) -> Option<&str> {
        self.members.get(&self.text, key)
    }

    /// Whether the object has `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.members.get(&self.text, key).is_some()
    }

    /// How many distinct keys the object has.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the object has no members (or was not an object).
    pub fn is_empty(&self) -> bool {
        self.members.len() == 0
    }

    /// The keys, in the order received.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.members.iter(&self.text).map(|(key, _)| key)
    }

    /// Every member as (key, value), in the order received.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.members
            .iter(&self.text)
            .map(|(key, value)| (key, raw(value)))
    }

    /// The object's JSON text as received (empty when there was no object).
    pub fn json(&self) -> &str {
        &self.text
    }
}

impl std::ops::Index<&str> for Fields {
    type Output = RawValue;

    /// The value of `key`.
    ///
    /// # Panics
    ///
    /// When the object has no such key.
    fn index(&self, key: &str) -> &RawValue {
        self.get(key)
            .unwrap_or_else(|| panic!("no member {key:?} in {}", self.text))
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.members.iter(&self.text))
            .finish()
    }
}

/// Equal when both have the same keys, in the same order, with the same value texts.
impl PartialEq for Fields {
    fn eq(&self, other: &Self) -> bool {
        self.members
            .iter(&self.text)
            .eq(other.members.iter(&other.text))
    }
}

impl Eq for Fields {}

/// Serializes as a JSON object of the members (in order, repeated keys once), values verbatim.
impl serde::Serialize for Fields {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What `Fields` should hold for these members: first position, last value.
    fn model(members: &[(String, u32)]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (key, value) in members {
            match out.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value.to_string(),
                None => out.push((key.clone(), value.to_string())),
            }
        }
        out
    }

    fn object(members: &[(String, u32)]) -> String {
        let body: Vec<String> = members
            .iter()
            .map(|(key, value)| format!("{}:{value}", serde_json::to_string(key).unwrap()))
            .collect();
        format!("{{{}}}", body.join(","))
    }

    fn check(members: &[(String, u32)]) {
        let text = object(members);
        let fields = Fields::parse(&text).unwrap();
        let expected = model(members);
        let found: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_owned(), v.get().to_owned()))
            .collect();
        assert_eq!(found, expected, "{text}");
        assert_eq!(fields.len(), expected.len());
        for (key, value) in &expected {
            assert_eq!(fields.get(key).map(RawValue::get), Some(value.as_str()));
            assert!(fields.contains_key(key));
        }
        assert!(fields.get("not a key").is_none());
        assert_eq!(fields.json(), text);
    }

    #[test]
    fn repeated_and_escaped_keys() {
        let members = [
            ("b".to_owned(), 1),
            ("a\"q".to_owned(), 2),
            ("b".to_owned(), 3),
            ("é".to_owned(), 4),
        ];
        check(&members);
        // An escaped key equals its unescaped spelling.
        let fields = Fields::parse(r#"{"\u0062":1,"b":2,"c\n":3}"#).unwrap();
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["b", "c\n"]);
        assert_eq!(fields["b"].get(), "2");
        assert_eq!(
            serde_json::to_string(&fields).unwrap(),
            r#"{"b":2,"c\n":3}"#
        );
        assert_eq!(format!("{fields:?}"), r#"{"b": "2", "c\n": "3"}"#);
        // Lone surrogates are valid JSON escapes but not text: such keys stay apart, spelled
        // as escaped.
        let fields = Fields::parse(r#"{"\ud800":1,"\udc00":2,"":3}"#).unwrap();
        assert_eq!(
            fields.keys().collect::<Vec<_>>(),
            [r"\ud800", r"\udc00", ""]
        );
        assert_eq!(fields[""].get(), "3");
    }

    #[test]
    fn large_objects_use_an_index() {
        // 5,000 distinct keys and then every key again: linear search would be quadratic.
        let mut members: Vec<(String, u32)> = (0..5_000).map(|i| (format!("k{i}"), i)).collect();
        members.extend((0..5_000).map(|i| (format!("k{i}"), i + 1)));
        check(&members);
        let text = object(&members);
        assert!(Fields::parse(&text).unwrap().members.index.is_some());
    }

    #[test]
    fn non_objects_and_equality() {
        assert!(Fields::parse("[1]").is_none());
        assert!(Fields::parse("\"{\"").is_none());
        assert!(Fields::default().is_empty());
        let a = Fields::parse(r#"{"x":1,"y":[2]}"#).unwrap();
        let b = Fields::parse(r#"{"x":0,"y":[2],"x":1}"#).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, Fields::parse(r#"{"y":[2],"x":1}"#).unwrap());
    }

    #[test]
    #[should_panic(expected = "no member \"z\"")]
    fn indexing_a_missing_key_panics() {
        let _ = &Fields::parse(r#"{"x":1}"#).unwrap()["z"];
    }

    proptest! {
        #[test]
        fn members_match_the_model(
            members in prop::collection::vec(("[ab\"\\\\é]{0,3}", any::<u32>()), 0..60)
        ) {
            check(&members);
        }
    }
}
