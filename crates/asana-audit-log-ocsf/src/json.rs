//! Small helpers for writing JSON text straight into a `String` and for reading the source's
//! JSON values as text.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `,"name":`: a member's key with the comma that precedes it when it is not the first,
/// for [`Obj`]'s methods. Keys are this crate's own attribute names, which need no escaping.
macro_rules! key {
    ($name:literal) => {
        concat!(",\"", $name, "\":")
    };
}
pub(crate) use key;

/// A JSON object being written: tracks whether a comma is due.
pub(crate) struct Obj<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Obj<'a> {
    pub(crate) fn begin(out: &'a mut String) -> Self {
        out.push('{');
        Obj { out, first: true }
    }

    /// Goes on writing an object whose opening brace and first members `out` already holds.
    pub(crate) fn resume(out: &'a mut String) -> Self {
        Obj { out, first: false }
    }

    /// Writes the key (made by [`key!`]) and returns the buffer for the value.
    #[inline]
    pub(crate) fn key(&mut self, key: &'static str) -> &mut String {
        debug_assert!(key.starts_with(",\"") && key.ends_with("\":"));
        let key = if self.first { &key[1..] } else { key };
        self.first = false;
        self.out.push_str(key);
        self.out
    }

    /// A member whose value is JSON text already (copied verbatim).
    #[inline]
    pub(crate) fn raw(&mut self, key: &'static str, json: &str) {
        self.key(key).push_str(json);
    }

    /// A member whose value is a string to escape.
    pub(crate) fn str(&mut self, key: &'static str, value: &str) {
        let out = self.key(key);
        push_str(out, value);
    }

    /// A member whose value is one of this crate's constant strings, which need no escaping.
    #[inline]
    pub(crate) fn lit(&mut self, key: &'static str, value: &'static str) {
        debug_assert!(!value.contains(['"', '\\']) && !value.contains(char::is_control));
        let out = self.key(key);
        out.push('"');
        out.push_str(value);
        out.push('"');
    }

    /// A member whose value is an integer.
    pub(crate) fn int(&mut self, key: &'static str, value: i64) {
        let out = self.key(key);
        push_int(out, value);
    }

    pub(crate) fn end(self) {
        self.out.push('}');
    }
}

/// Appends an integer.
pub(crate) fn push_int(out: &mut String, value: i64) {
    out.push_str(itoa::Buffer::new().format(value));
}

/// Appends `s` as a JSON string literal.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// The value of a JSON string literal (`text` includes the quotes).
pub(crate) fn unquote(text: &str) -> Option<Cow<'_, str>> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if inner.bytes().any(|b| b == b'\\') {
        serde_json::from_str::<String>(text).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// Whether the value of the JSON string literal `text` (quotes included) passes `test`, which
/// must reject any text holding a backslash (as [`is_ocsf_email`] and [`is_ocsf_ip`] do). Most
/// literals have no escape, so the text between the quotes is tried as it is; only a literal
/// that fails that and has an escape is unescaped and tried again.
pub(crate) fn literal_passes(text: &str, test: impl Fn(&str) -> bool) -> bool {
    let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) else {
        return false;
    };
    // `test` passing means no backslash, so `inner` is the value.
    test(inner) || (inner.contains('\\') && unquote(text).is_some_and(|value| test(&value)))
}

/// Whether `s` matches OCSF's `email_t` pattern
/// (`^[a-zA-Z0-9!#$%&'*+-/=?^_`{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$`; `+-/` is the range
/// `+,-./`).
pub(crate) fn is_ocsf_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+,-./=?^_`{|}~".contains(&b));
    let domain_ok = matches!(domain.split_once('.'), Some((host, rest)) if !host.is_empty() && !rest.is_empty())
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    local_ok && domain_ok
}

/// Whether `s` is an IP address OCSF's `ip_t` accepts (at most 40 characters). Rust's parser
/// is stricter than the pattern, so anything it accepts the pattern accepts too.
pub(crate) fn is_ocsf_ip(s: &str) -> bool {
    s.len() <= 40 && s.parse::<std::net::IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_strings() {
        let mut out = String::new();
        push_str(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#);
        assert_eq!(
            serde_json::from_str::<String>(&out).unwrap(),
            "a\"b\\c\nd\u{1}é"
        );
    }

    #[test]
    fn emails_follow_the_ocsf_pattern() {
        for ok in [
            "a@b.c",
            "first.last+tag@north-wind.example",
            "x/y@a.b.c",
            "a@b..c",
            "a@-.-",
        ] {
            assert!(is_ocsf_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "@b.c", "a@b", "a@.b", "a@b.", "zoë@b.c", "a@b@c.d", "a b@c.d", "a@b_c.d",
            "a@b.c ", "a\"@b.c",
        ] {
            assert!(!is_ocsf_email(bad), "{bad}");
        }
    }

    #[test]
    fn literals_are_tested_by_their_value() {
        assert!(literal_passes(r#""a@b.c""#, is_ocsf_email));
        // Escapes are read as their values.
        assert!(literal_passes(r#""a\u0040b.c""#, is_ocsf_email));
        assert!(literal_passes(r#""203.0.113.\u0037""#, is_ocsf_ip));
        assert!(!literal_passes(r#""a\\@b.c""#, is_ocsf_email));
        // Not a JSON string: an escape JSON does not have.
        assert!(!literal_passes(r#""a\@b.c""#, is_ocsf_email));
        assert!(!literal_passes(r#""a@b.c"#, is_ocsf_email));
        assert!(!literal_passes("null", is_ocsf_email));
    }

    #[test]
    fn ips() {
        assert!(is_ocsf_ip("203.0.113.7"));
        assert!(is_ocsf_ip("2001:db8::1"));
        assert!(!is_ocsf_ip("203.0.113"));
        assert!(!is_ocsf_ip("fe80::1%eth0"));
        assert!(!is_ocsf_ip("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"));
    }
}
