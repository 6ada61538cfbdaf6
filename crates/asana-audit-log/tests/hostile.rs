//! Servers that misbehave on purpose: bodies larger than the cap, bodies that never end, JSON
//! nested far too deep, `next_page` links and redirects that point elsewhere, absurd
//! `Retry-After` values, and pages that would make a naive paginator stop early or loop
//! forever. Each test asserts what the client does about it, and that the token never leaves
//! the configured base URL or shows up in an error or a log line.
//!
//! The servers are the mock crate's canned-response servers, raw TCP on loopback; every test
//! runs in well under a few seconds.

mod common;

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use asana_audit_log::config::RetryPolicy;
use asana_audit_log::limits::MAX_EVENT_DEPTH;
use asana_audit_log::{AuditLogEvent, Client, Error};
use asana_audit_log_mock::canned::{CannedRequest as Seen, CannedServer, Reply};
use common::Captured;
use futures::StreamExt;

const TOKEN: &str = "2/1200000000000077/1207700000000077:0ddba11c0ddba11c0ddba11c0ddba11c";
const SECRET: &str = "0ddba11c0ddba11c0ddba11c0ddba11c";
const JSON: &str = "Content-Type: application/json\r\n";
const MIB: u64 = 1024 * 1024;

/// A loopback HTTP/1.1 server run by a script: request `i` (from 0) gets `script(i, seen)`.
async fn start(script: impl Fn(usize, &Seen) -> Reply + Send + Sync + 'static) -> CannedServer {
    CannedServer::start(script).await.unwrap()
}

/// A complete response with a body and `Content-Length`.
fn respond(status: &str, headers: &str, body: &str) -> Reply {
    Reply::response(status, headers, body).keep_alive()
}

fn ok(body: &str) -> Reply {
    respond("200 OK", JSON, body)
}

/// `count` events from `first` on, one second apart.
fn events(first: u64, count: u64) -> String {
    (first..first + count)
        .map(|i| {
            format!(
                r#"{{"gid":"{}","created_at":"2024-01-01T00:{:02}:{:02}Z","event_type":"task_deleted"}}"#,
                1000 + i,
                i / 60 % 60,
                i % 60
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn page(events: &str, offset: Option<&str>) -> String {
    match offset {
        Some(offset) => format!(r#"{{"data":[{events}],"next_page":{{"offset":"{offset}"}}}}"#),
        None => format!(r#"{{"data":[{events}],"next_page":null}}"#),
    }
}

/// A client for `base` with short timeouts and near-instant retries.
fn builder(base: &str) -> asana_audit_log::ClientBuilder {
    Client::builder()
        .token(TOKEN)
        .base_url(base)
        .timeout(Duration::from_secs(2))
        .no_rate_limit()
        .retry_policy(
            RetryPolicy::default()
                .with_max_retries(2)
                .with_delays(Duration::from_millis(1), Duration::from_millis(2))
                .with_max_retry_after(Duration::from_millis(20)),
        )
}

fn client(base: &str) -> Client {
    builder(base).build().unwrap()
}

/// A client for `server` like [`client`], that refuses bodies over 1 MiB.
fn capped_client(server: &CannedServer) -> Client {
    builder(&server.base_url())
        .max_response_bytes(Some(MIB))
        .build()
        .unwrap()
}

/// Drains workspace `1` of `server` through a [`client`]: the events and the ending error.
async fn drain_server(server: &CannedServer) -> (Vec<AuditLogEvent>, Option<Error>) {
    drain(
        client(&server.base_url())
            .audit_log_events("1")
            .stream()
            .unwrap(),
    )
    .await
}

/// Drains workspace `1` through `client` and returns the error that must end the stream.
async fn drain_to_error(client: &asana_audit_log::Client) -> Error {
    let (_, error) = drain(client.audit_log_events("1").stream().unwrap()).await;
    error.expect("the stream ends with an error")
}

/// Drains a stream: the events it delivered and the error that ended it, if one did. Fails
/// the test if the stream yields anything after its error, or does not end within 20 s.
async fn drain(mut stream: asana_audit_log::EventStream) -> (Vec<AuditLogEvent>, Option<Error>) {
    tokio::time::timeout(Duration::from_secs(20), async move {
        let mut delivered = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => delivered.push(event),
                Err(error) => {
                    assert!(
                        stream.next().await.is_none(),
                        "the stream ends after its error"
                    );
                    return (delivered, Some(error));
                }
            }
        }
        (delivered, None)
    })
    .await
    .expect("the stream ends instead of hanging or looping")
}

/// Asserts that a drain delivered events `1000` to `1002`, then ended with a protocol error
/// whose reason contains `reason`; `case` names the case in messages.
fn assert_three_then_protocol_error(
    case: &str,
    (delivered, error): (Vec<AuditLogEvent>, Option<Error>),
    reason: &str,
) -> Error {
    assert_eq!(gids(&delivered), ["1000", "1001", "1002"], "{case}");
    let error = error.expect("an error");
    assert!(
        matches!(&error, Error::Protocol { reason: r } if r.contains(reason)),
        "{case}: {error:?}"
    );
    error
}

fn gids(events: &[AuditLogEvent]) -> Vec<&str> {
    events.iter().map(AuditLogEvent::gid).collect()
}

/// Everything an error shows, for the token check.
fn shown(error: &Error) -> String {
    format!("{error}\n{error:?}")
}

// ---------------------------------------------------------------------------------------------
// Size: a body over the cap is an error, not an allocation.

#[tokio::test]
async fn a_declared_body_over_the_cap_is_refused_unread() {
    // A Content-Length of 100 GiB, and no body at all: the client must not wait for it, let
    // alone allocate it.
    let server = start(|_, _| {
        Reply::raw(format!(
            "HTTP/1.1 200 OK\r\n{JSON}Content-Length: {}\r\n\r\n",
            100 * 1024 * MIB
        ))
        .keep_alive()
    })
    .await;
    let client = capped_client(&server);
    let (delivered, error) = drain(client.audit_log_events("1").stream().unwrap()).await;
    assert!(delivered.is_empty());
    let error = error.expect("an error");
    assert!(
        matches!(
            error,
            Error::ResponseTooLarge {
                limit: MIB,
                declared: Some(declared)
            } if declared == 100 * 1024 * MIB
        ),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    assert_eq!(server.hits(), 1, "not retried");
    assert!(
        error
            .to_string()
            .contains("over the limit of 1048576 bytes")
    );
}

#[tokio::test]
async fn an_undeclared_body_is_cut_off_at_the_cap() {
    // Chunked and close-delimited bodies give no length up front: the client counts and stops
    // reading as soon as the count passes the cap. The server has 64 MiB to send; what it
    // managed to write before the client hung up stays far below that.
    for framing in ["Transfer-Encoding: chunked\r\n", "Connection: close\r\n"] {
        let chunked = framing.starts_with("Transfer");
        let server = start(move |_, _| {
            let payload = vec![b' '; 64 * 1024];
            let chunk = if chunked {
                let mut chunk = format!("{:x}\r\n", payload.len()).into_bytes();
                chunk.extend_from_slice(&payload);
                chunk.extend_from_slice(b"\r\n");
                chunk
            } else {
                payload
            };
            Reply::stream(
                format!("HTTP/1.1 200 OK\r\n{JSON}{framing}\r\n"),
                chunk,
                64 * MIB,
            )
        })
        .await;
        let client = capped_client(&server);
        let error = drain_to_error(&client).await;
        assert!(
            matches!(
                error,
                Error::ResponseTooLarge {
                    limit: MIB,
                    declared: None
                }
            ),
            "{framing}: {error:?}"
        );
        assert_eq!(server.hits(), 1, "{framing}: not retried");
        // Give the server a moment to notice the closed connection.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let written = server.streamed_bytes();
        assert!(
            written < 32 * MIB,
            "{framing}: the server wrote {written} bytes before the client hung up"
        );
    }
}

#[tokio::test]
async fn error_bodies_are_capped_too() {
    // A documented error status is read whole by the generated client: capped. An
    // undocumented one is read for its first 64 KiB only, for the message.
    let server = start(|i, _| {
        let status = if i == 0 {
            "500 Internal Server Error"
        } else {
            "418 I'm a teapot"
        };
        Reply::stream(
            format!("HTTP/1.1 {status}\r\n{JSON}Connection: close\r\n\r\n"),
            b"[[[[[[[[".repeat(8 * 1024),
            16 * MIB,
        )
    })
    .await;
    let client = capped_client(&server);
    let error = drain_to_error(&client).await;
    assert!(matches!(error, Error::ResponseTooLarge { .. }), "{error:?}");
    let error = drain_to_error(&client).await;
    assert!(
        matches!(&error, Error::UnexpectedStatus(e) if e.status() == 418),
        "{error:?}"
    );
    assert!(
        error.to_string().len() < 1024,
        "the message quotes a snippet only"
    );
}

#[tokio::test]
async fn pages_under_the_cap_are_read_and_the_cap_can_be_lifted() {
    // A page of about 600 KiB under a 1 MiB cap, and the same page with no cap at all.
    let padding = "x".repeat(600 * 1024);
    let first = format!(
        r#"{{"data":[{{"gid":"1","created_at":"2024-01-01T00:00:00Z","padding":"{padding}"}}],"next_page":{{"offset":"a"}}}}"#
    );
    let server = start(move |_, seen| match seen.query("offset") {
        None => ok(&first),
        Some(_) => ok(&page("", Some("a"))),
    })
    .await;
    for cap in [Some(MIB), None] {
        let client = builder(&server.base_url())
            .max_response_bytes(cap)
            .build()
            .unwrap();
        let (delivered, error) = drain(client.audit_log_events("1").stream().unwrap()).await;
        assert!(error.is_none(), "{cap:?}: {error:?}");
        assert_eq!(gids(&delivered), ["1"]);
    }
    assert!(matches!(
        Client::builder()
            .token(TOKEN)
            .max_response_bytes(Some(0))
            .build(),
        Err(Error::InvalidConfig {
            setting: "max_response_bytes",
            ..
        })
    ));
    let default = format!("{:?}", Client::builder().token(TOKEN));
    assert!(
        default.contains(&format!("max_response_bytes: Some({})", 32 * MIB)),
        "{default}"
    );
}

// ---------------------------------------------------------------------------------------------
// Time: a body that never finishes hits the request timeout.

#[tokio::test]
async fn a_body_that_never_finishes_hits_the_timeout() {
    // Two ways to never finish: announce 10,000 bytes and send 20, or trickle a byte every
    // 20 ms forever. Both must end at the 300 ms request timeout (retries off).
    let server = start(|i, _| {
        if i == 0 {
            Reply::stream(
                format!("HTTP/1.1 200 OK\r\n{JSON}Content-Length: 10000\r\n\r\n"),
                br#"{"data":[{"gid":"1","#.to_vec(),
                10_000,
            )
            .pause(Duration::from_secs(3600))
        } else {
            Reply::stream(
                format!("HTTP/1.1 200 OK\r\n{JSON}Connection: close\r\n\r\n{{\"data\":["),
                b" ".to_vec(),
                u64::MAX,
            )
            .pause(Duration::from_millis(20))
        }
    })
    .await;
    let client = builder(&server.base_url())
        .timeout(Duration::from_millis(300))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    for case in ["stalled", "trickling"] {
        let error = drain_to_error(&client).await;
        assert!(
            matches!(&error, Error::Transport { source, attempts: 1 } if source.is_timeout()),
            "{case}: {error:?}"
        );
        assert!(error.is_retryable(), "{case}: a timeout may be retried");
    }
}

#[tokio::test]
async fn a_server_that_never_answers_hits_the_timeout_on_every_retry() {
    let server = start(|_, _| Reply::silent()).await;
    let client = builder(&server.base_url())
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = drain_to_error(&client).await;
    assert!(
        matches!(&error, Error::Transport { source, attempts: 3 } if source.is_timeout()),
        "{error:?}"
    );
    assert_eq!(server.hits(), 3);
}

// ---------------------------------------------------------------------------------------------
// Depth: JSON nested thousands deep is an error, not a stack overflow.

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test]
async fn an_event_nested_thousands_deep_is_an_error() {
    // The event is valid JSON, 200,000 levels deep, served with whitespace so that the
    // compaction path is taken too. Decoding it must neither recurse nor succeed.
    let deep = format!(
        r#"{{ "gid": "7", "created_at": "2024-01-01T00:00:00Z", "x": {} }}"#,
        nested(200_000)
    );
    let body = format!(
        r#"{{"data":[{},{deep}],"next_page":{{"offset":"a"}}}}"#,
        events(0, 1)
    );
    let server = start(move |_, _| ok(&body)).await;
    let (delivered, error) = drain_server(&server).await;
    assert_eq!(
        gids(&delivered),
        ["1000"],
        "the events before it are delivered"
    );
    let error = error.expect("an error");
    assert!(
        matches!(&error, Error::Decode(e) if e.gid() == Some("7") && e.reason().contains("200001 levels")),
        "{error:?}"
    );
    assert!(
        error.to_string().len() < 1024,
        "the message quotes a snippet only"
    );

    // The same, without a server.
    let error = AuditLogEvent::from_json(&deep).unwrap_err();
    assert!(
        error.reason().contains("nests 200001 levels deep"),
        "{error}"
    );
    let error = AuditLogEvent::from_json(&nested(1_000_000)).unwrap_err();
    assert!(error.reason().contains("1000000 levels"), "{error}");
}

#[tokio::test]
async fn the_depth_limit_is_exactly_max_event_depth() {
    // The event object is level 1; `x` adds MAX_EVENT_DEPTH - 1 more.
    let at_limit = format!(
        r#"{{"gid":"1","created_at":"2024-01-01T00:00:00Z","x": {}}}"#,
        nested(MAX_EVENT_DEPTH - 1)
    );
    let event = AuditLogEvent::from_json(&at_limit).unwrap();
    assert!(event.to_value().is_ok(), "serde_json parses what we accept");
    assert!(!event.json().contains(' '), "compacted");
    let over = format!(
        r#"{{"gid":"1","created_at":"2024-01-01T00:00:00Z","x":{}}}"#,
        nested(MAX_EVENT_DEPTH)
    );
    let error = AuditLogEvent::from_json(&over).unwrap_err();
    assert_eq!(error.gid(), Some("1"));
    // Brackets inside strings do not count.
    let in_string = format!(
        r#"{{"gid":"1","created_at":"2024-01-01T00:00:00Z","x":"{}"}}"#,
        nested(10_000)
    );
    AuditLogEvent::from_json(&in_string).unwrap();
}

#[tokio::test]
async fn deep_nesting_outside_events_is_an_error_or_ignored() {
    // Deep where a string belongs (`next_page.offset`, an error's `message`): the page or
    // error body cannot be read, an unreadable response. Deep in an unknown field: skipped,
    // without recursion.
    for body in [
        format!(
            r#"{{"data":[{}],"next_page":{{"offset":{}}}}}"#,
            events(0, 1),
            nested(100_000)
        ),
        format!(r#"{{"errors":[{{"message":{}}}]}}"#, nested(100_000)),
    ] {
        let status = if body.starts_with(r#"{"errors""#) {
            "400 Bad Request"
        } else {
            "200 OK"
        };
        let server = start(move |_, _| respond(status, JSON, &body)).await;
        let (delivered, error) = drain_server(&server).await;
        assert!(delivered.is_empty());
        let error = error.expect("an error");
        assert!(
            matches!(&error, Error::InvalidResponse { attempts: 3, .. }),
            "{status}: {error:?}"
        );
        assert!(
            error.to_string().len() < 1024,
            "the message quotes a snippet only"
        );
    }

    let deep_extra = format!(
        r#"{{"junk":{},"data":[{}],"next_page":{{"offset":"a","more":{}}}}}"#,
        nested(100_000),
        events(0, 2),
        nested(100_000)
    );
    let server = start(move |_, seen| match seen.query("offset") {
        None => ok(&deep_extra),
        Some(_) => ok(&page("", Some("a"))),
    })
    .await;
    let (delivered, error) = drain_server(&server).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(gids(&delivered), ["1000", "1001"]);
}

// ---------------------------------------------------------------------------------------------
// Where the token goes: only to the configured base URL.

#[tokio::test]
async fn next_page_links_to_another_host_are_never_followed() {
    // `next_page.uri` and `path` point at a second server; only the offset may be used.
    let elsewhere = start(|_, _| ok(&page(&events(50, 5), Some("evil")))).await;
    let uri = format!(
        "{}/workspaces/1/audit_log_events?offset=o1",
        elsewhere.base_url()
    );
    let server = start(move |_, seen| {
        let (data, offset) = match seen.query("offset").as_deref() {
            None => (events(0, 2), "o1"),
            Some("o1") => (events(2, 2), "o2"),
            _ => (String::new(), "o2"),
        };
        ok(&format!(
            r#"{{"data":[{data}],"next_page":{{"offset":"{offset}","path":"//evil.example/steal?offset={offset}","uri":"{uri}"}}}}"#
        ))
    })
    .await;
    let (delivered, error) = drain_server(&server).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(gids(&delivered), ["1000", "1001", "1002", "1003"]);
    assert_eq!(elsewhere.hits(), 0, "the other host was never contacted");
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    for seen in &requests {
        assert!(
            seen.target
                .starts_with("/api/1.0/workspaces/1/audit_log_events?"),
            "{seen:?}"
        );
        assert_eq!(
            seen.header("authorization"),
            Some(&*format!("Bearer {TOKEN}"))
        );
    }
    let offsets: Vec<_> = requests.iter().map(|s| s.query("offset")).collect();
    assert_eq!(offsets, [None, Some("o1".into()), Some("o2".into())]);
}

#[tokio::test]
async fn redirects_never_carry_the_token_anywhere() {
    // Every redirect status, to another port of the same host and to another host name: none
    // is followed, so the recording server never sees a request, let alone the token.
    let recorder = start(|_, _| ok(&page(&events(0, 1), Some("a")))).await;
    let targets = [
        format!("{}/workspaces/1/audit_log_events", recorder.base_url()),
        recorder.base_url().replace("127.0.0.1", "localhost") + "/steal",
        "https://evil.example/steal".to_owned(),
    ];
    for status in [
        "301 Moved Permanently",
        "302 Found",
        "303 See Other",
        "307 Temporary Redirect",
        "308 Permanent Redirect",
    ] {
        for target in &targets {
            let location = format!("Location: {target}\r\n");
            let server = start(move |_, _| respond(status, &location, "")).await;
            let (_, error) = drain_server(&server).await;
            let error = error.expect("an error");
            assert!(
                matches!(&error, Error::UnexpectedStatus(e) if (300..400).contains(&e.status())),
                "{status} -> {target}: {error:?}"
            );
            assert!(!shown(&error).contains(SECRET));
            assert_eq!(server.hits(), 1, "{status}: not retried");
        }
    }
    let seen = recorder.requests();
    assert!(seen.is_empty(), "a redirect was followed: {seen:?}");
}

// ---------------------------------------------------------------------------------------------
// Retry-After.

#[tokio::test(flavor = "current_thread")]
async fn a_retry_after_of_a_year_is_capped() {
    let (captured, _guard) = Captured::trace();

    let year = 365 * 24 * 3600;
    let server = start(move |i, seen| match (i, seen.query("offset")) {
        (0, _) => respond(
            "429 Too Many Requests",
            &format!("{JSON}Retry-After: {year}\r\n"),
            r#"{"errors":[{"message":"slow down"}]}"#,
        ),
        (_, None) => ok(&page(&events(0, 2), Some("a"))),
        (_, Some(_)) => ok(&page("", Some("a"))),
    })
    .await;
    let client = builder(&server.base_url())
        .retry_policy(
            RetryPolicy::default()
                .with_delays(Duration::from_millis(1), Duration::from_millis(2))
                .with_max_retry_after(Duration::from_millis(25)),
        )
        .build()
        .unwrap();
    let (delivered, error) = drain(client.audit_log_events("1").stream().unwrap()).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(delivered.len(), 2);
    let logs = captured.text();
    assert!(
        logs.contains("wait_ms=25"),
        "the wait was the cap, not the server's year:\n{logs}"
    );
    assert!(!logs.contains(SECRET));
}

// ---------------------------------------------------------------------------------------------
// Pages that would make a paginator stop early or spin.

#[tokio::test]
async fn data_null_is_a_clear_error() {
    let server = start(|_, _| ok(r#"{"data":null,"next_page":{"offset":"a"}}"#)).await;
    let (delivered, error) = drain_server(&server).await;
    assert!(delivered.is_empty());
    let error = error.expect("an error");
    assert!(
        matches!(&error, Error::InvalidResponse { attempts: 3, reason } if reason.contains("invalid type: null")),
        "{error:?}"
    );
    assert_eq!(server.hits(), 3, "retried as unreadable, then given up");
}

#[tokio::test]
async fn a_page_of_events_without_next_page_ends_with_an_error_after_its_events() {
    // Missing, null, an object without an offset, an empty offset: each is a page whose
    // continuation is unknown. Its events are delivered, then a clear error, in both modes.
    for next in [
        "",
        r#","next_page":null"#,
        r#","next_page":{}"#,
        r#","next_page":{"offset":""}"#,
    ] {
        let body = format!(r#"{{"data":[{}]{next}}}"#, events(0, 3));
        let server = start(move |_, _| ok(&body)).await;
        let request = client(&server.base_url()).audit_log_events("1");
        for stream in [
            request.stream().unwrap(),
            request.follow(Duration::from_millis(1)).unwrap(),
        ] {
            let outcome = drain(stream).await;
            let error = assert_three_then_protocol_error(next, outcome, "without next_page.offset");
            assert!(!error.is_retryable());
        }
    }
}

#[tokio::test]
async fn a_query_that_never_matched_ends_normally() {
    // `data: []` with `next_page: null` is how the API says the filters never matched.
    let server = start(|_, _| ok(r#"{"data":[],"next_page":null}"#)).await;
    let (delivered, error) = drain_server(&server).await;
    assert!(delivered.is_empty() && error.is_none(), "{error:?}");
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn an_offset_that_repeats_with_old_events_ends_with_an_error() {
    // The first page hands out offset "a"; asking with "a" gives the same three events and "a"
    // again, forever. The events are delivered once, the stream gives up after the stale-page
    // limit (12 for pages of 100), and never spins or repeats an event.
    let server = start(|_, _| ok(&page(&events(0, 3), Some("a")))).await;
    let request = client(&server.base_url()).audit_log_events("1");
    for (stream, mode) in [
        (request.stream().unwrap(), "stream"),
        (request.follow(Duration::ZERO).unwrap(), "follow"),
    ] {
        let before = server.hits();
        assert_three_then_protocol_error(mode, drain(stream).await, "13 pages in a row");
        assert_eq!(
            server.hits() - before,
            14,
            "{mode}: the first page and 13 stale ones"
        );
    }
}

#[tokio::test]
async fn replayed_events_in_any_order_are_never_delivered_twice() {
    // Pages cycle through the same six events under ever new offsets, the second half older
    // than the first: each event once, then the stale-page error.
    let server = start(|i, _| {
        let data = if i % 2 == 0 {
            events(3, 3)
        } else {
            events(0, 3)
        };
        ok(&page(&data, Some(&format!("o{i}"))))
    })
    .await;
    let (delivered, error) = drain_server(&server).await;
    let mut seen = gids(&delivered);
    assert_eq!(seen.len(), 6, "{seen:?}");
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 6, "no event twice");
    assert!(matches!(error, Some(Error::Protocol { .. })), "{error:?}");
}

#[tokio::test]
async fn an_offset_that_repeats_with_new_events_is_legitimate() {
    // The same offset over and over, but each time with new events: a live log. 40 pages,
    // then an empty page ends the drain without error.
    let served = Arc::new(AtomicU64::new(0));
    let counter = served.clone();
    let server = start(move |_, _| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        if n < 40 {
            ok(&page(&events(n * 2, 2), Some("same")))
        } else {
            ok(&page("", Some("same")))
        }
    })
    .await;
    let (delivered, error) = drain_server(&server).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(delivered.len(), 80);
}

#[tokio::test]
async fn an_oversized_offset_is_refused() {
    let long = "o".repeat(64 * 1024);
    let body = page(&events(0, 1), Some(&long));
    let server = start(move |_, _| ok(&body)).await;
    let (delivered, error) = drain_server(&server).await;
    assert!(delivered.is_empty());
    assert!(
        matches!(&error, Some(Error::Protocol { reason }) if reason.contains("65536 bytes long")),
        "{error:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The token in none of it.

#[tokio::test(flavor = "current_thread")]
async fn no_hostile_answer_puts_the_token_in_an_error_or_a_log() {
    let (captured, _guard) = Captured::trace();

    let deep = format!(
        r#"{{"data":[{{"gid":"1","created_at":"2024-01-01T00:00:00Z","x":{}}}],"next_page":{{"offset":"a"}}}}"#,
        nested(10_000)
    );
    let server = start(move |i, _| match i {
        0 => Reply::raw(format!(
            "HTTP/1.1 200 OK\r\n{JSON}Content-Length: {}\r\n\r\n",
            64 * MIB
        ))
        .keep_alive(),
        1 => respond("302 Found", "Location: http://127.0.0.1:9/\r\n", ""),
        2 => ok(&deep),
        3 => ok(&page(&events(0, 2), None)),
        4 => respond(
            "429 Too Many Requests",
            "Retry-After: 99999999\r\n",
            "no json",
        ),
        _ => ok(&page(&events(0, 2), Some("a"))),
    })
    .await;
    let client = builder(&server.base_url())
        .max_response_bytes(Some(MIB))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let mut outputs = vec![format!("{client:?}")];
    for _ in 0..6 {
        let (delivered, error) = drain(client.audit_log_events("1").stream().unwrap()).await;
        for event in &delivered {
            outputs.push(format!("{event:?}"));
        }
        if let Some(error) = error {
            outputs.push(shown(&error));
        }
    }
    drop(_guard);
    let logs = captured.text();
    assert!(
        logs.contains("audit_log_request"),
        "the run was logged:\n{logs}"
    );
    outputs.push(logs);
    assert!(outputs.len() > 6);
    for output in &outputs {
        assert!(!output.contains(SECRET), "the token leaked into:\n{output}");
    }
    let _ = std::io::stderr().flush();
}
