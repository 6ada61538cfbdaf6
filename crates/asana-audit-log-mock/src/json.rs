//! A minimal JSON object writer, so generated events are written straight into the event
//! arena in a fixed key order (no intermediate `serde_json::Value`, whose key order would
//! depend on serde_json's `preserve_order` feature and so on the rest of the build).

/// Writes one JSON value into a byte buffer. Objects are opened with [`begin`](Self::begin)
/// or [`object`](Self::object) and closed with [`end`](Self::end).
pub(crate) struct JsonOut<'a> {
    buf: &'a mut Vec<u8>,
    comma: bool,
}

impl<'a> JsonOut<'a> {
    pub(crate) fn new(buf: &'a mut Vec<u8>) -> Self {
        JsonOut { buf, comma: false }
    }

    pub(crate) fn begin(&mut self) {
        self.buf.push(b'{');
        self.comma = false;
    }

    pub(crate) fn end(&mut self) {
        self.buf.push(b'}');
        self.comma = true;
    }

    fn key(&mut self, key: &str) {
        if self.comma {
            self.buf.push(b',');
        }
        write_str(self.buf, key);
        self.buf.push(b':');
        self.comma = true;
    }

    /// Opens a nested object under `key`; close it with [`end`](Self::end).
    pub(crate) fn object(&mut self, key: &str) {
        self.key(key);
        self.begin();
    }

    pub(crate) fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        write_str(self.buf, value);
    }

    pub(crate) fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.str(key, value);
        }
    }

    pub(crate) fn null(&mut self, key: &str) {
        self.raw(key, "null");
    }

    /// A value that is already JSON text.
    pub(crate) fn raw(&mut self, key: &str, json: &str) {
        self.key(key);
        self.buf.extend_from_slice(json.as_bytes());
    }

    /// A number written as a JSON string, as gids are.
    pub(crate) fn num_str(&mut self, key: &str, value: u64) {
        self.key(key);
        self.buf.push(b'"');
        write_u64(self.buf, value);
        self.buf.push(b'"');
    }

    /// A timestamp (milliseconds since the epoch) in the wire form
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub(crate) fn time(&mut self, key: &str, ms: i64) {
        self.key(key);
        self.buf.push(b'"');
        write_time(self.buf, ms);
        self.buf.push(b'"');
    }

    pub(crate) fn int(&mut self, key: &str, value: i64) {
        self.key(key);
        self.buf.extend_from_slice(value.to_string().as_bytes());
    }
}

/// Writes the decimal digits of `n`.
pub(crate) fn write_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

/// Writes `created_at`'s wire form, `YYYY-MM-DDTHH:MM:SS.mmmZ` (the one the rest of the mock
/// writes too: [`format_ms`](crate::clock::format_ms)).
pub(crate) fn write_time(buf: &mut Vec<u8>, ms: i64) {
    buf.extend_from_slice(crate::clock::format_ms(ms).as_bytes());
}

/// Writes `s` as a JSON string literal (quotes, backslash and control characters escaped;
/// everything else, including non-ASCII text, as UTF-8).
pub(crate) fn write_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => {
                buf.extend_from_slice(&bytes[start..i]);
                buf.extend_from_slice(format!("\\u{b:04x}").as_bytes());
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        buf.extend_from_slice(escape);
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
    buf.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_like_serde_json() {
        for s in [
            "plain",
            "Zoë \"Z\" Łukasiewicz",
            "tab\tnew\nline\\",
            "\u{1}\u{1f}",
            "山田 太郎 🚀",
        ] {
            let mut buf = Vec::new();
            write_str(&mut buf, s);
            assert_eq!(
                String::from_utf8(buf).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
    }

    #[test]
    fn numbers_and_times_match_the_slow_way() {
        for n in [0u64, 7, 10, 1_208_000_000_000_487, u64::MAX] {
            let mut buf = Vec::new();
            write_u64(&mut buf, n);
            assert_eq!(String::from_utf8(buf).unwrap(), n.to_string());
        }
        for ms in [
            0i64,
            1_633_651_200_000,
            1_747_397_525_409,
            1_700_000_000_007,
            253_402_300_799_999,
        ] {
            let mut buf = Vec::new();
            write_time(&mut buf, ms);
            assert_eq!(String::from_utf8(buf).unwrap(), crate::clock::format_ms(ms));
        }
    }

    #[test]
    fn objects_nest() {
        let mut buf = Vec::new();
        let mut out = JsonOut::new(&mut buf);
        out.begin();
        out.str("a", "x");
        out.object("b");
        out.int("c", -3);
        out.null("d");
        out.end();
        out.raw("e", "[1,2]");
        out.end();
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            r#"{"a":"x","b":{"c":-3,"d":null},"e":[1,2]}"#
        );
    }
}
