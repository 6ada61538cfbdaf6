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

/// What each byte may be in an `email_t`: [`LOCAL`] (the part before the `@`), [`DOMAIN`]
/// (after it), or both.
static EMAIL_BYTES: [u8; 256] = {
    let mut table = [0; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'-' || c == b'.' {
            table[b] = LOCAL | DOMAIN;
        }
        b += 1;
    }
    let specials = b"!#$%&'*+,/=?^_`{|}~";
    let mut i = 0;
    while i < specials.len() {
        table[specials[i] as usize] = LOCAL;
        i += 1;
    }
    table
};
const LOCAL: u8 = 1;
const DOMAIN: u8 = 2;

/// Whether `s` matches OCSF's `email_t` pattern
/// (`^[a-zA-Z0-9!#$%&'*+-/=?^_`{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$`).
pub(crate) fn is_ocsf_email(s: &str) -> bool {
    // One pass over the bytes with one table (an email is checked for most events). The
    // local part runs to the first byte outside its class, which must be the `@` (not in it).
    let bytes = s.as_bytes();
    let local = bytes
        .iter()
        .position(|&b| EMAIL_BYTES[usize::from(b)] & LOCAL == 0)
        .unwrap_or(bytes.len());
    if local == 0 || bytes.get(local) != Some(&b'@') {
        return false;
    }
    let domain = &bytes[local + 1..];
    let first_dot = domain.iter().position(|&b| b == b'.');
    matches!(first_dot, Some(dot) if dot > 0 && dot + 1 < domain.len())
        && domain
            .iter()
            .all(|&b| EMAIL_BYTES[usize::from(b)] & DOMAIN != 0)
}

/// Whether `s` is an IP address OCSF's `ip_t` accepts (at most 40 characters). Rust's parser
/// is stricter than the pattern, so anything it accepts the pattern accepts too. Dotted IPv4
/// addresses, most of what events hold, are recognised by hand first.
pub(crate) fn is_ocsf_ip(s: &str) -> bool {
    s.len() <= 40 && (is_dotted_ipv4(s.as_bytes()) || s.parse::<std::net::IpAddr>().is_ok())
}

/// Whether `s` is four decimal numbers up to 255 joined by dots, without leading zeros: a
/// subset of what `std::net::Ipv4Addr` parses.
fn is_dotted_ipv4(s: &[u8]) -> bool {
    let mut at = 0;
    for part in 0..4 {
        if part > 0 {
            if s.get(at) != Some(&b'.') {
                return false;
            }
            at += 1;
        }
        let start = at;
        let mut value = 0u32;
        while let Some(&digit @ b'0'..=b'9') = s.get(at) {
            if at - start == 3 {
                return false;
            }
            value = value * 10 + u32::from(digit - b'0');
            at += 1;
        }
        let len = at - start;
        if len == 0 || value > 255 || (len > 1 && s[start] == b'0') {
            return false;
        }
    }
    at == s.len()
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
    fn dotted_ipv4_is_what_the_standard_parser_takes() {
        let mut cases: Vec<String> = [
            "0.0.0.0",
            "255.255.255.255",
            "256.0.0.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.2.3.04",
            "1.2.3.0",
            "1..2.3",
            ".1.2.3",
            "1.2.3.4.",
            "1234.1.1.1",
            "1.2.3.4 ",
            "+1.2.3.4",
            "1.2.3.-4",
            "",
            "a.b.c.d",
            "1.2.3.4a",
            "::1",
            "0.00.0.0",
        ]
        .map(String::from)
        .into();
        // Every address of a few octets' forms, and their near misses.
        for octet in [
            "0", "7", "09", "10", "99", "100", "199", "249", "250", "255", "256", "999",
        ] {
            cases.push(format!("203.{octet}.113.9"));
            cases.push(format!("{octet}.0.0.{octet}"));
        }
        for case in cases {
            assert_eq!(
                is_dotted_ipv4(case.as_bytes()),
                case.parse::<std::net::Ipv4Addr>().is_ok(),
                "{case:?}"
            );
        }
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
