//! A borrowing scanner over the members of a JSON object, for the event's own text.
//!
//! [`AuditLogEvent::json`](asana_audit_log::AuditLogEvent::json) is valid JSON without
//! whitespace outside strings, which is all this needs: each member is found with one pass
//! over its bytes, and keys and values come out as slices of the text, exactly as received.
//! On text that breaks that promise the scan stops early (it never panics).

use std::borrow::Cow;

/// One member of an object: the key's text between its quotes (escapes kept) and the value's
/// JSON text.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Member<'a> {
    pub(crate) key: &'a str,
    pub(crate) value: &'a str,
}

impl Member<'_> {
    /// Whether the key, unescaped, is `name`.
    pub(crate) fn key_is(&self, name: &str) -> bool {
        if self.key == name {
            return true;
        }
        // An escaped key can spell `name` only if it is longer than it.
        self.key.len() > name.len()
            && self.key.contains('\\')
            && unescape_key(self.key).as_deref() == Some(name)
    }
}

fn unescape_key(key: &str) -> Option<Cow<'_, str>> {
    let quoted = format!("\"{key}\"");
    serde_json::from_str::<String>(&quoted).ok().map(Cow::Owned)
}

/// The members of the object `text` (which must start with `{`), in order, repeats included.
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
        if bytes.get(i) != Some(&b'"') {
            self.pos = self.text.len();
            return None;
        }
        let key_end = string_end(bytes, i)?;
        let key = self.text.get(i + 1..key_end - 1)?;
        if bytes.get(key_end) != Some(&b':') {
            self.pos = self.text.len();
            return None;
        }
        let start = key_end + 1;
        let end = value_end(bytes, start)?;
        self.pos = end;
        Some(Member {
            key,
            value: self.text.get(start..end)?,
        })
    }
}

/// The index just past the string starting (with its quote) at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        let rest = bytes.get(i..)?;
        let at = memchr::memchr2(b'"', b'\\', rest)?;
        i += at;
        if bytes[i] == b'\\' {
            i += 2;
        } else {
            return Some(i + 1);
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

/// The values of `keys` in the object `text` (the last one where a key repeats, as
/// `serde_json` reads it); `None` where absent or when `text` is not an object.
pub(crate) fn pick<'a, const N: usize>(text: &'a str, keys: [&str; N]) -> [Option<&'a str>; N] {
    let mut found = [None; N];
    for member in members(text) {
        if let Some(i) = keys.iter().position(|k| member.key_is(k)) {
            found[i] = Some(member.value);
        }
    }
    found
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
        assert_eq!(
            pick(text, ["a", "e", "z"]),
            [Some("null"), Some("-1.5e3"), None]
        );
        assert_eq!(members("{}").count(), 0);
        assert_eq!(members("[1]").count(), 0);
        assert_eq!(members(r#"{"a":"unterminated"#).count(), 0);
        assert_eq!(members(r#"{"a" :1}"#).count(), 0);
    }
}
