//! Cursor handling: `Cursor::from_json` on arbitrary text never panics, and a cursor it accepts
//! writes back to JSON that reads as the same cursor (and writes the same text again). A stream
//! resumed from it can be set up without panicking (nothing is sent until it is polled).

#![no_main]

use std::sync::OnceLock;

use asana_audit_log::{Client, Cursor};
use libfuzzer_sys::fuzz_target;

fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        Client::builder()
            .token("0/1:fuzz")
            .base_url("http://127.0.0.1:9/api/1.0")
            .build()
            .expect("a valid client")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cursor) = Cursor::from_json(text) else {
        return;
    };
    let json = cursor.to_json();
    let again = Cursor::from_json(&json).expect("a cursor's own JSON reads back");
    assert_eq!(again, cursor);
    assert_eq!(again.to_json(), json, "writing is stable");
    // Every accessor works on whatever was accepted.
    let _ = (
        cursor.last_created_at(),
        cursor.has_offset(),
        cursor.seen_gids().count(),
    );
    let _ = cursor.query().warnings();
    // Resuming validates the query again; either outcome is fine, a panic is not.
    if let Ok(stream) = client().resume(cursor).stream() {
        let _ = stream.cursor().to_json();
    }
});
