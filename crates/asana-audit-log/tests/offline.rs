//! Client configuration and query validation: everything that is decided before any request.

use std::time::Duration;

use asana_audit_log::config::RetryPolicy;
use asana_audit_log::error::{QueryError, QueryWarning};
use asana_audit_log::streams::Backfill;
use asana_audit_log::types::{Actor, ActorType, EventType};
use asana_audit_log::{Client, Cursor, Error};

const TOKEN: &str = "2/1200000000000001/1200000000000002:0123456789abcdef0123456789abcdef";

fn client() -> Client {
    Client::new(TOKEN).unwrap()
}

fn query_error(result: Result<impl std::fmt::Debug, Error>) -> QueryError {
    match result {
        Err(Error::InvalidQuery(error)) => error,
        other => panic!("expected an invalid query, got {other:?}"),
    }
}

#[test]
fn missing_and_bad_tokens() {
    assert!(matches!(Client::new(""), Err(Error::MissingToken)));
    assert!(matches!(Client::new(" \n"), Err(Error::MissingToken)));
    assert!(matches!(
        Client::builder().build(),
        Err(Error::MissingToken)
    ));
    let err = Client::new("abc\ndef").unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidConfig {
                setting: "token",
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("abc"), "{err}");
    // Surrounding whitespace (a trailing newline from a file) is ignored.
    Client::new(format!("{TOKEN}\n")).unwrap();
}

#[test]
fn settings_are_checked() {
    let base = |url: &str| Client::builder().token(TOKEN).base_url(url).build();
    assert!(matches!(
        base("http://app.asana.com/api/1.0"),
        Err(Error::InvalidConfig {
            setting: "base_url",
            ..
        })
    ));
    assert_eq!(
        base("http://127.0.0.1:9/api/1.0/").unwrap().base_url(),
        "http://127.0.0.1:9/api/1.0"
    );
    assert_eq!(
        base("https://example.com/api/1.0").unwrap().base_url(),
        "https://example.com/api/1.0"
    );
    let builder = || Client::builder().token(TOKEN);
    assert!(matches!(
        builder().max_concurrent_requests(0).build(),
        Err(Error::InvalidConfig {
            setting: "max_concurrent_requests",
            ..
        })
    ));
    assert!(matches!(
        builder().max_concurrent_requests(51).build(),
        Err(Error::InvalidConfig {
            setting: "max_concurrent_requests",
            ..
        })
    ));
    assert!(matches!(
        builder().requests_per_minute(0).build(),
        Err(Error::InvalidConfig {
            setting: "requests_per_minute",
            ..
        })
    ));
    builder()
        .no_rate_limit()
        .max_concurrent_requests(50)
        .build()
        .unwrap();
    let custom = builder()
        .retry_policy(RetryPolicy::none())
        .http_client_builder(reqwest::Client::builder().no_proxy())
        .build()
        .unwrap();
    assert_eq!(custom.retry_policy(), RetryPolicy::none());
}

#[test]
fn debug_output_is_redacted() {
    let client = Client::builder()
        .token(TOKEN)
        .base_url("http://127.0.0.1:8080/api/1.0")
        .user_agent("test-agent/1")
        .build()
        .unwrap();
    let debug = format!("{client:?}");
    assert!(
        !debug.contains(TOKEN) && !debug.contains("0123456789abcdef"),
        "{debug}"
    );
    insta::assert_snapshot!("client_debug", format!("{client:#?}"));
    let builder = format!("{:?}", Client::builder().token(TOKEN));
    assert!(!builder.contains("0123456789abcdef"), "{builder}");
    let request = format!("{:?}", client.audit_log_events("1"));
    assert!(!request.contains("0123456789abcdef"), "{request}");
}

#[test]
fn query_validation() {
    let c = client();
    assert_eq!(
        query_error(c.audit_log_events("ws").to_query()),
        QueryError::InvalidGid {
            field: "workspace_gid",
            value: "ws".into()
        }
    );
    assert!(matches!(
        query_error(
            c.audit_log_events("1")
                .actor(Actor::Gid("me".into()))
                .to_query()
        ),
        QueryError::InvalidGid {
            field: "actor_gid",
            ..
        }
    ));
    assert!(matches!(
        query_error(c.audit_log_events("1").resource_gid("12 3").to_query()),
        QueryError::InvalidGid {
            field: "resource_gid",
            ..
        }
    ));
    assert_eq!(
        query_error(c.audit_log_events("1").page_size(0).to_query()),
        QueryError::PageSize(0)
    );
    assert_eq!(
        query_error(c.audit_log_events("1").page_size(101).to_query()),
        QueryError::PageSize(101)
    );
    let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    assert!(matches!(
        query_error(
            c.audit_log_events("1")
                .start_at(at("2024-02-01T00:00:00Z"))
                .end_at(at("2024-01-01T00:00:00Z"))
                .to_query()
        ),
        QueryError::EmptyWindow { .. }
    ));
    let unknown = c
        .audit_log_events("1")
        .actor(Actor::Type(ActorType::from("robot")))
        .stream();
    let err = unknown.err().unwrap();
    assert!(
        err.to_string().contains(
            "the API only accepts user, asana, asana_support, anonymous and external_administrator"
        ),
        "{err}"
    );
    assert!(matches!(
        query_error(c.audit_log_events("1").event_type("Not A Type").to_query()),
        QueryError::InvalidEventType(_)
    ));
    assert!(matches!(
        query_error(c.audit_log_events("1").since(Duration::MAX).to_query()),
        QueryError::SinceOutOfRange(_)
    ));

    let ok = c
        .audit_log_events("1")
        .event_type(EventType::UserLoginFailed)
        .actor(Actor::Type(ActorType::ExternalAdministrator))
        .resource_gid("42")
        .page_size(1)
        .since(Duration::from_secs(3600))
        .to_query()
        .unwrap();
    assert!(ok.warnings().is_empty());
    let since = ok.start_at().unwrap();
    assert!(chrono::Utc::now() - since >= chrono::TimeDelta::seconds(3599));
}

#[test]
fn retention_is_a_warning() {
    let old = client()
        .audit_log_events("1")
        .start_at("2021-01-01T00:00:00Z".parse().unwrap())
        .to_query()
        .unwrap();
    let warnings = old.warnings();
    assert!(
        matches!(warnings[..], [QueryWarning::BeforeLogStart { .. }]),
        "{warnings:?}"
    );
    assert!(warnings[0].to_string().contains("2021-10-08"));
    // A stream is still made: the warning is logged, the query is not changed.
    client()
        .audit_log_events("1")
        .start_at("2021-01-01T00:00:00Z".parse().unwrap())
        .stream()
        .unwrap();
}

#[test]
fn backfill_needs_a_bounded_window() {
    let c = client();
    let now = chrono::Utc::now();
    assert_eq!(
        query_error(
            c.audit_log_events("1")
                .since(Duration::from_secs(60))
                .backfill(Backfill::concurrency(2))
        ),
        QueryError::UnboundedWindow
    );
    assert_eq!(
        query_error(
            c.audit_log_events("1")
                .since(Duration::from_secs(60))
                .end_at(now)
                .backfill(Backfill::concurrency(0))
        ),
        QueryError::Concurrency(0)
    );
    // Every option is checked the same way: refused, never clamped.
    let bounded = || {
        c.audit_log_events("1")
            .since(Duration::from_secs(60))
            .end_at(now)
    };
    assert_eq!(
        query_error(bounded().backfill(Backfill::concurrency(2).with_slices_per_worker(0))),
        QueryError::SlicesPerWorker(0)
    );
    assert_eq!(
        query_error(bounded().backfill(Backfill::concurrency(2).with_buffered_pages(0))),
        QueryError::BufferedPages(0)
    );
    assert_eq!(
        query_error(bounded().backfill(Backfill::concurrency(2).with_buffered_pages(usize::MAX))),
        QueryError::BufferedPages(usize::MAX)
    );
    assert_eq!(
        query_error(
            bounded().backfill(Backfill::concurrency(50).with_slices_per_worker(usize::MAX))
        ),
        QueryError::SlicesPerWorker(usize::MAX)
    );
    c.audit_log_events("1")
        .since(Duration::from_secs(60))
        .end_at(now + chrono::TimeDelta::seconds(1))
        .backfill(Backfill::concurrency(50))
        .unwrap();
}

#[test]
fn cursors_bind_to_their_filters() {
    let c = client();
    let cursor: Cursor = c
        .audit_log_events("1")
        .event_type(EventType::TaskDeleted)
        .stream()
        .unwrap()
        .cursor();
    // Same filters, other window: accepted (the cursor's window is used).
    let resumed = c
        .audit_log_events("1")
        .event_type(EventType::TaskDeleted)
        .since(Duration::from_secs(60))
        .resume(cursor.clone())
        .stream()
        .unwrap();
    assert_eq!(resumed.query(), cursor.query());
    let other = c
        .audit_log_events("1")
        .event_type(EventType::TaskUndeleted)
        .resume(cursor.clone())
        .stream();
    assert!(matches!(other, Err(Error::CursorMismatch(_))));
    let other_ws = c.audit_log_events("2").resume(cursor.clone()).pages();
    assert!(matches!(other_ws, Err(Error::CursorMismatch(_))));
    assert_eq!(
        c.resume(cursor.clone()).to_query().unwrap(),
        *cursor.query()
    );
}
