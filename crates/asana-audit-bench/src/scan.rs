//! The byte-level shortcuts of the `bytes` contender: no JSON parser, only substring searches.
//!
//! They rely on how the API lays a page out, `{"data":[...],"next_page":{"offset":"...",...}}`
//! (the next page comes last), and on every event carrying one top-level `created_at` key. Both
//! hold for the mock's data; on other input they are heuristics, which is why the contender
//! checks its event count against the expected one.

use memchr::memmem;

/// The key whose occurrences are counted as events.
const EVENT_MARKER: &[u8] = b"\"created_at\":";

/// The start of the next page's offset, searched from the end of the body.
const OFFSET_MARKER: &[u8] = b"\"next_page\":{\"offset\":\"";

/// How many events a page body holds, counted as occurrences of `"created_at":`.
pub fn count_events(body: &[u8]) -> u64 {
    memmem::find_iter(body, EVENT_MARKER).count() as u64
}

/// The `next_page.offset` of a page body, found by a search from the end; `None` when the page
/// has no next page (or is not laid out as expected).
pub fn next_offset(body: &[u8]) -> Option<&str> {
    let start = memmem::rfind(body, OFFSET_MARKER)? + OFFSET_MARKER.len();
    let len = memchr::memchr(b'"', &body[start..])?;
    std::str::from_utf8(&body[start..start + len]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_offset_and_counts_events() {
        let body = br#"{"data":[{"gid":"1","created_at":"2026-01-01T00:00:00.000Z","details":{"offset":"x"}},{"gid":"2","created_at":"2026-01-01T00:00:01.000Z"}],"next_page":{"offset":"AbC_1","path":"/p?offset=AbC_1","uri":"http://h/p"}}"#;
        assert_eq!(count_events(body), 2);
        assert_eq!(next_offset(body), Some("AbC_1"));
    }

    #[test]
    fn an_empty_page_has_no_events_and_a_page_without_next_has_no_offset() {
        assert_eq!(
            count_events(br#"{"data":[],"next_page":{"offset":"Z"}}"#),
            0
        );
        assert_eq!(next_offset(br#"{"data":[],"next_page":null}"#), None);
        assert_eq!(
            next_offset(br#"{"data":[],"next_page":{"offset":"cut"#),
            None
        );
    }
}
