//! Offset tokens: opaque, signed, bound to a query, and expiring.
//!
//! Layout before encoding (42 bytes, then unpadded base64url):
//! version (1) | issued_at ms (8) | cursor tag (1) | cursor created_at ms (8) |
//! cursor key (8) | query fingerprint (8) | SipHash-2-4 tag over all of that (8).
//!
//! The token is bound to the query's filters (workspace, time window, event type, actor,
//! resource) but not to `limit`: a client may change its page size between pages.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::siphash::siphash24;
use crate::store::{Cursor, Filters};

const VERSION: u8 = 1;
const BODY_LEN: usize = 34;
const TOKEN_LEN: usize = BODY_LEN + 8;

/// Why an offset was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TokenError {
    /// Not base64, wrong length or unknown version.
    Malformed,
    /// The signature does not match: edited, or issued by another server.
    BadSignature,
    /// Issued for a different query.
    OtherQuery,
    /// Older than the lifetime.
    Expired { issued_ms: i64, lifetime_ms: i64 },
}

/// What a valid token says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TokenData {
    pub(crate) issued_ms: i64,
    pub(crate) cursor: Cursor,
    pub(crate) query: u64,
}

/// The fingerprint that binds a token to its query.
pub(crate) fn fingerprint(workspace_gid: &str, f: &Filters) -> u64 {
    let text = format!(
        "{workspace_gid}\u{1f}{:?}\u{1f}{:?}\u{1f}{:?}\u{1f}{:?}\u{1f}{:?}\u{1f}{:?}",
        f.start_ms, f.end_ms, f.event_type, f.actor_type, f.actor_gid, f.resource_gid
    );
    siphash24(0x71_7565_7279, 0x6670, text.as_bytes())
}

/// Signs and encodes a token under the server's key.
pub(crate) fn encode(key: (u64, u64), data: TokenData) -> String {
    let mut bytes = Vec::with_capacity(TOKEN_LEN);
    bytes.push(VERSION);
    bytes.extend_from_slice(&data.issued_ms.to_le_bytes());
    let (tag, ms, seq) = match data.cursor {
        Cursor::Start => (0u8, 0i64, 0u64),
        Cursor::After { ms, key } => (1, ms, key),
    };
    bytes.push(tag);
    bytes.extend_from_slice(&ms.to_le_bytes());
    bytes.extend_from_slice(&seq.to_le_bytes());
    bytes.extend_from_slice(&data.query.to_le_bytes());
    let mac = siphash24(key.0, key.1, &bytes);
    bytes.extend_from_slice(&mac.to_le_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

fn word(bytes: &[u8], at: usize) -> [u8; 8] {
    bytes[at..at + 8].try_into().expect("8 bytes")
}

/// Checks and decodes a token. The signature is checked before anything else is believed;
/// `query` and `now_ms`/`lifetime_ms` then decide whether it may be used.
pub(crate) fn decode(
    key: (u64, u64),
    token: &str,
    query: u64,
    now_ms: i64,
    lifetime_ms: Option<i64>,
) -> Result<TokenData, (TokenError, Option<TokenData>)> {
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim())
        .map_err(|_| (TokenError::Malformed, None))?;
    if bytes.len() != TOKEN_LEN || bytes[0] != VERSION || bytes[9] > 1 {
        return Err((TokenError::Malformed, None));
    }
    let mac = u64::from_le_bytes(word(&bytes, BODY_LEN));
    if siphash24(key.0, key.1, &bytes[..BODY_LEN]) != mac {
        return Err((TokenError::BadSignature, None));
    }
    let cursor = match bytes[9] {
        0 => Cursor::Start,
        _ => Cursor::After {
            ms: i64::from_le_bytes(word(&bytes, 10)),
            key: u64::from_le_bytes(word(&bytes, 18)),
        },
    };
    let data = TokenData {
        issued_ms: i64::from_le_bytes(word(&bytes, 1)),
        cursor,
        query: u64::from_le_bytes(word(&bytes, 26)),
    };
    if data.query != query {
        return Err((TokenError::OtherQuery, Some(data)));
    }
    if let Some(lifetime_ms) = lifetime_ms
        && now_ms - data.issued_ms > lifetime_ms
    {
        return Err((
            TokenError::Expired {
                issued_ms: data.issued_ms,
                lifetime_ms,
            },
            Some(data),
        ));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: (u64, u64) = (1, 2);

    fn token() -> (String, TokenData) {
        let data = TokenData {
            issued_ms: 1000,
            cursor: Cursor::After { ms: 5, key: 9 },
            query: 77,
        };
        (encode(KEY, data), data)
    }

    #[test]
    fn round_trip() {
        let (t, data) = token();
        assert_eq!(decode(KEY, &t, 77, 1000, Some(10)), Ok(data));
        let start = TokenData {
            issued_ms: 0,
            cursor: Cursor::Start,
            query: 1,
        };
        assert_eq!(decode(KEY, &encode(KEY, start), 1, 0, None), Ok(start));
    }

    #[test]
    fn every_problem_is_named() {
        let (t, _) = token();
        assert_eq!(
            decode(KEY, "not a token!", 77, 0, None).unwrap_err().0,
            TokenError::Malformed
        );
        assert_eq!(
            decode(KEY, &t[..t.len() - 2], 77, 0, None).unwrap_err().0,
            TokenError::Malformed
        );
        // Flip one character in the middle: the signature no longer matches.
        let mut chars: Vec<char> = t.chars().collect();
        chars[20] = if chars[20] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert_eq!(
            decode(KEY, &tampered, 77, 0, None).unwrap_err().0,
            TokenError::BadSignature
        );
        assert_eq!(
            decode((1, 3), &t, 77, 0, None).unwrap_err().0,
            TokenError::BadSignature
        );
        assert_eq!(
            decode(KEY, &t, 78, 1000, None).unwrap_err().0,
            TokenError::OtherQuery
        );
        assert_eq!(
            decode(KEY, &t, 77, 1011, Some(10)).unwrap_err().0,
            TokenError::Expired {
                issued_ms: 1000,
                lifetime_ms: 10
            }
        );
    }
}
