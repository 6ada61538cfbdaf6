//! The client against the project's mock server (`asana-audit-log-mock`): paging, filters,
//! follow, resume, expired offsets, error statuses, faults and backfill.

mod common;

use std::time::Duration;

use asana_audit_log::config::RetryPolicy;
use asana_audit_log::streams::Backfill;
use asana_audit_log::types::{Actor, ActorType, EventType};
use asana_audit_log::{AuditLogEvent, Client, Cursor, Error};
use asana_audit_log_mock::{
    Fault, FaultPlan, Latency, MockServer, MockServerBuilder, RequestRecord,
};
use chrono::{DateTime, TimeDelta, Utc};
use common::{client_for, fast_retries, now};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

fn mock(events: u64) -> MockServerBuilder {
    MockServer::builder()
        .events(events)
        .seed(11)
        .now(now())
        .rate_limit(None)
}

fn gid(event: &Value) -> String {
    event["gid"].as_str().unwrap().to_owned()
}

fn created_at(event: &Value) -> DateTime<Utc> {
    event["created_at"].as_str().unwrap().parse().unwrap()
}

fn gids(events: &[AuditLogEvent]) -> Vec<String> {
    events.iter().map(|e| e.gid().to_owned()).collect()
}

async fn drain(request: asana_audit_log::EventsRequest) -> Vec<AuditLogEvent> {
    request.stream().unwrap().try_collect().await.unwrap()
}

/// The events of `server` through `client`, as a window from the first event to just after the
/// last.
fn whole_window(client: &Client, server: &MockServer) -> asana_audit_log::EventsRequest {
    let all = server.events();
    let last = &all[all.len() - 1];
    client
        .audit_log_events(server.workspace_gid())
        .start_at(created_at(&all[0]))
        .end_at(created_at(last) + TimeDelta::milliseconds(1))
}

/// Starts the server `builder` describes, and a client for it.
async fn start(builder: MockServerBuilder) -> (MockServer, Client) {
    let server = builder.start().await.unwrap();
    let client = client_for(&server);
    (server, client)
}

/// A guard against hangs, not a timing assertion.
async fn guarded<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .expect("test hung")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drains_everything_in_order_and_losslessly() {
    let (server, client) = start(mock(300).forward_compat(true)).await;
    let events = guarded(drain(
        client
            .audit_log_events(server.workspace_gid())
            .page_size(37),
    ))
    .await;
    let expected = server.events_json();
    assert_eq!(events.len(), expected.len());
    for (event, text) in events.iter().zip(&expected) {
        // Byte for byte what the server sent (the mock sends compact JSON).
        assert_eq!(event.json(), text);
        assert_eq!(serde_json::to_string(event).unwrap(), *text);
    }
    assert!(
        events
            .windows(2)
            .all(|w| w[0].created_at() <= w[1].created_at())
    );
    // The forward-compatibility cases decode: unknown types and values stay unknown.
    assert!(events.iter().any(|e| !e.event_type().is_known()));
    assert!(
        events
            .iter()
            .any(|e| e.actor().actor_type.as_ref().is_some_and(|t| !t.is_known()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_stops_at_the_first_empty_page_and_sends_nothing_more() {
    let (server, client) = start(mock(250)).await;
    let mut stream = client
        .audit_log_events(server.workspace_gid())
        .stream()
        .unwrap();
    let mut count = 0;
    while let Some(event) = guarded(stream.next()).await {
        event.unwrap();
        count += 1;
    }
    assert_eq!(count, 250);
    // 100 + 100 + 50, then the empty page that ends the drain; every page had a next_page.
    let log = server.requests();
    assert_eq!(log.len(), 4, "{log:#?}");
    assert_eq!(
        log.iter().map(|r| r.events_returned).collect::<Vec<_>>(),
        [100, 100, 50, 0]
    );
    assert!(log.iter().all(|r| r.status == Some(200)));
    // Polling an ended stream sends nothing.
    assert!(stream.next().await.is_none());
    assert!(stream.next().await.is_none());
    assert_eq!(server.request_count(), 4);
    // The cursor after the end keeps the last offset: resuming later sends one request.
    let resumed = drain(client.resume(stream.cursor())).await;
    assert!(resumed.is_empty());
    assert_eq!(server.request_count(), 5);
    assert!(server.requests()[4].param("offset").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_that_never_matched_ends_after_one_request() {
    let (server, client) = start(mock(50)).await;
    let events = drain(
        client
            .audit_log_events(server.workspace_gid())
            .resource_gid("999999999999"),
    )
    .await;
    assert!(events.is_empty());
    assert_eq!(server.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_match_the_dataset() {
    let (server, client) = start(mock(600)).await;
    let all = server.events();
    let ws = server.workspace_gid().to_owned();
    let sample = &all[all.len() / 3];
    let event_type = sample["event_type"].as_str().unwrap().to_owned();
    let actor_gid = all
        .iter()
        .find_map(|e| e["actor"]["gid"].as_str())
        .unwrap()
        .to_owned();
    let resource_gid = sample["resource"]["gid"].as_str().unwrap().to_owned();
    let start = created_at(&all[100]);
    let end = created_at(&all[450]);

    type Check = Box<dyn Fn(&Value) -> bool>;
    let cases: Vec<(&str, asana_audit_log::EventsRequest, Check)> = vec![
        (
            "event_type",
            client.audit_log_events(&ws).event_type(event_type.as_str()),
            {
                let t = event_type.clone();
                Box::new(move |e| e["event_type"] == t.as_str())
            },
        ),
        (
            "actor_type",
            client
                .audit_log_events(&ws)
                .actor(Actor::Type(ActorType::Anonymous)),
            { Box::new(|e| e["actor"]["actor_type"] == "anonymous") },
        ),
        (
            "actor_gid",
            client
                .audit_log_events(&ws)
                .actor(Actor::Gid(actor_gid.clone())),
            {
                let g = actor_gid.clone();
                Box::new(move |e| e["actor"]["gid"] == g.as_str())
            },
        ),
        (
            "resource_gid",
            client.audit_log_events(&ws).resource_gid(&resource_gid),
            {
                let g = resource_gid.clone();
                Box::new(move |e| e["resource"]["gid"] == g.as_str())
            },
        ),
        (
            "window",
            client.audit_log_events(&ws).start_at(start).end_at(end),
            { Box::new(move |e| created_at(e) >= start && created_at(e) < end) },
        ),
        (
            "start only",
            client.audit_log_events(&ws).start_at(start),
            Box::new(move |e| created_at(e) >= start),
        ),
        (
            "end only",
            client.audit_log_events(&ws).end_at(end),
            Box::new(move |e| created_at(e) < end),
        ),
        (
            "event_type + window",
            client
                .audit_log_events(&ws)
                .event_type(event_type.as_str())
                .start_at(start)
                .end_at(end),
            {
                let t = event_type.clone();
                Box::new(move |e| {
                    e["event_type"] == t.as_str() && created_at(e) >= start && created_at(e) < end
                })
            },
        ),
        (
            "actor_type + event_type",
            client
                .audit_log_events(&ws)
                .actor(Actor::Type(ActorType::User))
                .event_type(EventType::UserLoginSucceeded),
            Box::new(|e| {
                e["actor"]["actor_type"] == "user" && e["event_type"] == "user_login_succeeded"
            }),
        ),
        (
            "actor_gid + window",
            client
                .audit_log_events(&ws)
                .actor(Actor::Gid(actor_gid.clone()))
                .start_at(start)
                .end_at(end),
            {
                let g = actor_gid.clone();
                Box::new(move |e| {
                    e["actor"]["gid"] == g.as_str() && created_at(e) >= start && created_at(e) < end
                })
            },
        ),
    ];
    for (name, request, check) in cases {
        let got = guarded(drain(request.page_size(17))).await;
        let expected: Vec<String> = all.iter().filter(|e| check(e)).map(gid).collect();
        assert!(!expected.is_empty(), "{name}: the case selects nothing");
        assert_eq!(gids(&got), expected, "{name}");
    }
    // Every request carried the filter values the API expects.
    let log = server.requests();
    assert!(
        log.iter()
            .any(|r| r.param("actor_type") == Some("anonymous"))
    );
    assert!(log.iter().all(|r| r.param("limit") == Some("17")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_the_same_events_and_resumable_cursors() {
    let (server, client) = start(mock(230)).await;
    let pages: Vec<_> = guarded(
        client
            .audit_log_events(server.workspace_gid())
            .page_size(50)
            .pages()
            .unwrap()
            .try_collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    assert_eq!(
        pages.iter().map(|p| p.events.len()).collect::<Vec<_>>(),
        [50, 50, 50, 50, 30]
    );
    let all: Vec<String> = pages.iter().flat_map(|p| gids(&p.events)).collect();
    assert_eq!(all, server.event_gids());
    let after_second = drain(client.resume(pages[1].cursor.clone())).await;
    assert_eq!(gids(&after_second), all[100..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_delivers_appended_events() {
    let (server, client) = start(mock(40)).await;
    let mut stream = client
        .audit_log_events(server.workspace_gid())
        .page_size(15)
        .follow(Duration::from_millis(5))
        .unwrap();
    let first: Vec<AuditLogEvent> = guarded((&mut stream).take(40).try_collect()).await.unwrap();
    assert_eq!(gids(&first), server.event_gids());

    server.append_generated(3);
    server.advance(Duration::from_secs(1));
    server.append_generated(4);
    let more: Vec<AuditLogEvent> = guarded((&mut stream).take(7).try_collect()).await.unwrap();
    assert_eq!(gids(&more), server.event_gids()[40..]);

    // Appended later, while the stream is waiting: still delivered, in order.
    let waiting = tokio::spawn(async move {
        let next: Vec<AuditLogEvent> = (&mut stream).take(2).try_collect().await.unwrap();
        (stream, next)
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    server.append_generated(2);
    let (_stream, next) = guarded(waiting).await.unwrap();
    assert_eq!(gids(&next), server.event_gids()[47..]);
    // Polls after an empty page reuse the last offset.
    let log = server.requests();
    let empty_polls: Vec<_> = log.iter().filter(|r| r.events_returned == 0).collect();
    assert!(empty_polls.iter().all(|r| r.param("offset").is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_after_any_event_gives_the_remaining_sequence() {
    let (server, client) = start(mock(70)).await;
    let run: Vec<(AuditLogEvent, Cursor)> = guarded(
        client
            .audit_log_events(server.workspace_gid())
            .page_size(8)
            .stream()
            .unwrap()
            .with_cursors()
            .try_collect(),
    )
    .await
    .unwrap();
    let all: Vec<String> = run.iter().map(|(e, _)| e.gid().to_owned()).collect();
    assert_eq!(all.len(), 70);
    for (i, (_, cursor)) in run.iter().enumerate() {
        // Through JSON, as a checkpoint file would carry it.
        let cursor = Cursor::from_json(&cursor.to_json()).unwrap();
        let rest = guarded(drain(client.resume(cursor))).await;
        assert_eq!(gids(&rest), all[i + 1..], "resume after event {i}");
    }
    // The stream's own cursor before any event restarts from the beginning.
    let fresh = client
        .audit_log_events(server.workspace_gid())
        .stream()
        .unwrap()
        .cursor();
    assert_eq!(gids(&drain(client.resume(fresh)).await), all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_offset_restarts_without_gap_or_duplicate() {
    let (server, client) = start(mock(400).offset_lifetime(Some(Duration::from_secs(60)))).await;
    let expected = server.event_gids();

    for stop_after in [1usize, 23, 60, 95, 199, 300] {
        server.clear_requests();
        let mut stream = client
            .audit_log_events(server.workspace_gid())
            .page_size(10)
            .stream()
            .unwrap();
        let mut got = Vec::new();
        for _ in 0..stop_after {
            got.push(stream.next().await.unwrap().unwrap().gid().to_owned());
        }
        let checkpoint = stream.cursor();
        // Every offset handed out so far expires.
        server.advance(Duration::from_secs(120));
        while let Some(event) = guarded(stream.next()).await {
            got.push(event.unwrap().gid().to_owned());
        }
        assert_eq!(got, expected, "continuing after {stop_after} events");
        assert!(
            server.requests().iter().any(|r| r.status == Some(400)),
            "the offset did expire"
        );

        // A checkpoint whose offset expired resumes the same way.
        server.advance(Duration::from_secs(120));
        let rest = guarded(drain(client.resume(checkpoint))).await;
        assert_eq!(
            gids(&rest),
            expected[stop_after..],
            "resuming after {stop_after} events"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_cursor_offset_is_recovered_from() {
    let (server, client) = start(mock(90)).await;
    let run: Vec<(AuditLogEvent, Cursor)> = client
        .audit_log_events(server.workspace_gid())
        .page_size(10)
        .stream()
        .unwrap()
        .with_cursors()
        .take(45)
        .try_collect()
        .await
        .unwrap();
    let cursor = &run[44].1;
    assert!(cursor.has_offset());
    let mut json: Value = serde_json::from_str(&cursor.to_json()).unwrap();
    json["offset"] = "not-a-real-offset".into();
    let tampered = Cursor::from_json(&json.to_string()).unwrap();
    let rest = guarded(drain(client.resume(tampered))).await;
    let all = server.event_gids();
    assert_eq!(gids(&rest), all[45..]);
}

async fn error_for(server: &MockServer, client: &Client, workspace: &str) -> Error {
    server.clear_requests();
    let before = server.request_count();
    let mut stream = client.audit_log_events(workspace).stream().unwrap();
    let error = guarded(stream.next()).await.unwrap().unwrap_err();
    // The stream ends after its error.
    assert!(stream.next().await.is_none());
    assert_eq!(server.request_count() - before, 1, "not retried: {error}");
    error
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_statuses_become_typed_errors_with_hints() {
    let server = mock(10).start().await.unwrap();
    let with_token = |token: &str| {
        Client::builder()
            .token(token)
            .base_url(server.base_url())
            .retry_policy(fast_retries())
            .build()
            .unwrap()
    };
    let ws = server.workspace_gid().to_owned();

    let unauthorized = error_for(&server, &with_token("0/1:wrong"), &ws).await;
    assert!(
        matches!(unauthorized, Error::Unauthorized(_)),
        "{unauthorized:?}"
    );
    assert!(unauthorized.to_string().contains("ASANA_ACCESS_TOKEN"));

    let payment = error_for(&server, &with_token(server.payment_required_token()), &ws).await;
    assert!(matches!(payment, Error::PaymentRequired(_)), "{payment:?}");

    let forbidden = error_for(&server, &with_token(server.forbidden_token()), &ws).await;
    assert!(matches!(forbidden, Error::Forbidden(_)), "{forbidden:?}");
    assert!(
        forbidden
            .to_string()
            .contains("service account of an Enterprise domain")
    );

    let not_found = error_for(&server, &with_token(server.token()), "42").await;
    assert!(matches!(not_found, Error::NotFound(_)), "{not_found:?}");

    for (name, error) in [
        ("401", &unauthorized),
        ("402", &payment),
        ("403", &forbidden),
        ("404", &not_found),
    ] {
        assert!(!error.is_retryable());
        assert_eq!(error.status().map(|s| s.to_string()).as_deref(), Some(name));
        assert!(!error.asana_errors().is_empty());
        assert!(error.asana_errors()[0].message.is_some());
        assert!(error.hint().is_some());
        insta::assert_snapshot!(format!("error_{name}"), error.to_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_server_errors_are_retried_then_reported() {
    let faults = FaultPlan::new()
        .on_request(
            1,
            Fault::TooManyRequests {
                retry_after_secs: 30,
            },
        )
        .on_request(2, Fault::InternalServerError)
        .on_request(4, Fault::BadGateway)
        .on_request(5, Fault::ServiceUnavailable);
    let (server, client) = start(mock(120).faults(faults)).await;
    let events = guarded(drain(client.audit_log_events(server.workspace_gid()))).await;
    assert_eq!(gids(&events), server.event_gids());
    let statuses: Vec<_> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            Some(429),
            Some(500),
            Some(200),
            Some(502),
            Some(503),
            Some(200),
            Some(200)
        ]
    );
    // The retried requests asked for the same page again.
    let log = server.requests();
    assert_eq!(log[0].param("offset"), log[2].param("offset"));
    assert_eq!(log[3].param("offset"), log[5].param("offset"));

    // Without retries, each one surfaces as a retryable error.
    let no_retry = Client::builder()
        .token(server.token())
        .base_url(server.base_url())
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    // The error of the next request, which meets `fault`.
    let error_meeting = async |fault| {
        let n = server.request_count();
        server.set_faults(FaultPlan::new().on_request(n + 1, fault));
        error_for(&server, &no_retry, server.workspace_gid()).await
    };
    let error = error_meeting(Fault::TooManyRequests {
        retry_after_secs: 7,
    })
    .await;
    assert!(
        matches!(&error, Error::RateLimited(e) if e.retry_after() == Some(Duration::from_secs(7))),
        "{error:?}"
    );
    assert!(error.is_retryable());
    let error = error_meeting(Fault::InternalServerError).await;
    assert!(matches!(error, Error::ServerError(_)), "{error:?}");
    assert!(
        error.asana_errors()[0].phrase.is_some(),
        "5xx bodies carry a phrase"
    );
    insta::assert_snapshot!("error_500", error.to_string());
    let error = error_meeting(Fault::ResetBeforeResponse).await;
    assert!(
        matches!(error, Error::Transport { attempts: 1, .. }),
        "{error:?}"
    );
    let error = error_meeting(Fault::TruncatedJson).await;
    assert!(
        matches!(error, Error::InvalidResponse { attempts: 1, .. }),
        "{error:?}"
    );

    // A budget that runs out reports how many attempts were made.
    let two_retries = Client::builder()
        .token(server.token())
        .base_url(server.base_url())
        .retry_policy(fast_retries().with_max_retries(2))
        .build()
        .unwrap();
    server.set_faults(FaultPlan::new().with_probability(Fault::ServiceUnavailable, 1.0));
    server.clear_requests();
    let mut stream = two_retries
        .audit_log_events(server.workspace_gid())
        .stream()
        .unwrap();
    let error = guarded(stream.next()).await.unwrap().unwrap_err();
    assert!(
        matches!(&error, Error::ServerError(e) if e.attempts() == 3),
        "{error:?}"
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_never_changes_the_drained_sequence() {
    let (server, client) = start(mock(260).forward_compat(true)).await;
    let drained = async || {
        let request = client
            .audit_log_events(server.workspace_gid())
            .page_size(40);
        gids(&guarded(drain(request)).await)
    };
    let expected = drained().await;
    assert_eq!(expected.len(), 260);
    // One mix of faults, drawn from another seed in each round.
    let chaos = FaultPlan::new()
        .with_probability(Fault::InternalServerError, 0.05)
        .with_probability(Fault::BadGateway, 0.03)
        .with_probability(Fault::ServiceUnavailable, 0.03)
        .with_probability(
            Fault::TooManyRequests {
                retry_after_secs: 1,
            },
            0.05,
        )
        .with_probability(Fault::ResetBeforeResponse, 0.04)
        .with_probability(Fault::ResetMidBody, 0.04)
        .with_probability(Fault::TruncatedBody, 0.04)
        .with_probability(Fault::TruncatedJson, 0.04)
        .latency(Latency::Uniform {
            min: Duration::ZERO,
            max: Duration::from_millis(2),
        });
    let mut faults_seen = 0;
    for seed in 0..60 {
        server.clear_requests();
        server.set_faults(chaos.clone().seed(seed));
        assert_eq!(drained().await, expected, "fault seed {seed}");
        faults_seen += server
            .requests()
            .iter()
            .filter(|r| r.fault.is_some())
            .count();
    }
    assert!(faults_seen > 60, "the plan injected faults ({faults_seen})");
    server.set_faults(FaultPlan::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_equals_stream() {
    let (server, client) = start(mock(1500)).await;
    let all = server.events();
    let start = created_at(&all[10]);
    let end = created_at(&all[1400]) + TimeDelta::milliseconds(1);
    let window = || {
        client
            .audit_log_events(server.workspace_gid())
            .start_at(start)
            .end_at(end)
            .page_size(50)
    };
    let expected = gids(&guarded(drain(window())).await);
    assert!(expected.len() > 1300);
    for (concurrency, per_worker, buffered) in
        [(1, 1, 1), (3, 4, 2), (8, 4, 1), (8, 16, 3), (50, 2, 1)]
    {
        let options = Backfill::concurrency(concurrency)
            .with_slices_per_worker(per_worker)
            .with_buffered_pages(buffered);
        let got: Vec<AuditLogEvent> = guarded(window().backfill(options).unwrap().try_collect())
            .await
            .unwrap();
        assert_eq!(
            gids(&got),
            expected,
            "concurrency {concurrency}, {per_worker} slices each"
        );
    }
    // Filters apply to every slice.
    let logins = || {
        client
            .audit_log_events(server.workspace_gid())
            .start_at(start)
            .end_at(end)
            .actor(Actor::Type(ActorType::User))
    };
    let by_stream = gids(&drain(logins()).await);
    let by_backfill: Vec<AuditLogEvent> = guarded(
        logins()
            .backfill(Backfill::concurrency(4))
            .unwrap()
            .try_collect(),
    )
    .await
    .unwrap();
    assert_eq!(gids(&by_backfill), by_stream);
}

/// How many of `requests` started a slice: the first page of a query is asked for without an
/// offset.
fn slices_started(requests: &[RequestRecord]) -> usize {
    requests
        .iter()
        .filter(|r| !r.query.iter().any(|(k, _)| k == "offset"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dense_backfill_slices_split_and_still_equal_the_stream() {
    // 2,000 events in pages of 10 over 2 initial slices, each allowed 2 pages ahead: the slices
    // must cut themselves into many short pieces, and the result must not change.
    let (server, client) = start(mock(2000)).await;
    let window = || whole_window(&client, &server).page_size(10);
    let expected = gids(&guarded(drain(window())).await);
    assert_eq!(expected.len(), 2000);
    let before = server.requests().len();
    let got: Vec<AuditLogEvent> = guarded(
        window()
            .backfill(Backfill::concurrency(2).with_buffered_pages(2))
            .unwrap()
            .try_collect(),
    )
    .await
    .unwrap();
    assert_eq!(gids(&got), expected);
    let requests = &server.requests()[before..];
    let first_pages = slices_started(requests);
    // Each piece starts with a request without an offset: far more than the 2 initial slices.
    assert!(first_pages > 40, "{first_pages} slices");
    // Splitting costs about one request per piece (the page that crosses its end, or the empty
    // page that ends it), not a multiple of the drain.
    assert!(
        requests.len() < 200 + 2 * first_pages,
        "{} requests for 200 pages and {first_pages} pieces",
        requests.len()
    );

    // Resumed half way, the first slice's first page starts with events already delivered
    // (at the resume instant): it is still a full page, and the slice still splits.
    let mut backfill = window()
        .backfill(Backfill::concurrency(2).with_buffered_pages(2))
        .unwrap();
    for _ in 0..1000 {
        guarded(backfill.next()).await.unwrap().unwrap();
    }
    let cursor = backfill.cursor();
    drop(backfill);
    let before = server.requests().len();
    let rest: Vec<AuditLogEvent> = guarded(
        client
            .resume(cursor)
            .backfill(Backfill::concurrency(1).with_buffered_pages(2))
            .unwrap()
            .try_collect(),
    )
    .await
    .unwrap();
    assert_eq!(gids(&rest), expected[1000..]);
    let pieces = slices_started(&server.requests()[before..]);
    assert!(pieces > 20, "{pieces} slices after the resume");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_resumes_from_its_cursor() {
    let (server, client) = start(mock(500)).await;
    let window = || whole_window(&client, &server);
    let expected = gids(&drain(window()).await);
    let mut backfill = window().backfill(Backfill::concurrency(4)).unwrap();
    let mut cursors = Vec::new();
    while let Some(event) = guarded(backfill.next()).await {
        event.unwrap();
        cursors.push(backfill.cursor());
    }
    assert_eq!(cursors.len(), expected.len());
    for i in [0, 1, 57, 123, 250, 498, 499] {
        let cursor = Cursor::from_json(&cursors[i].to_json()).unwrap();
        let as_backfill: Vec<AuditLogEvent> = guarded(
            client
                .resume(cursor.clone())
                .backfill(Backfill::concurrency(3))
                .unwrap()
                .try_collect(),
        )
        .await
        .unwrap();
        assert_eq!(
            gids(&as_backfill),
            expected[i + 1..],
            "backfill resumed after {i}"
        );
        let as_stream = guarded(drain(client.resume(cursor))).await;
        assert_eq!(
            gids(&as_stream),
            expected[i + 1..],
            "stream resumed after {i}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_concurrency_cap_is_shared_by_all_streams() {
    // The server answers 429 above 2 requests in flight; the client must never get there.
    let server = mock(800)
        .concurrency_limit(Some(2))
        .latency(Latency::Fixed(Duration::from_millis(3)))
        .start()
        .await
        .unwrap();
    let client = Client::builder()
        .token(server.token())
        .base_url(server.base_url())
        .retry_policy(RetryPolicy::none())
        .max_concurrent_requests(2)
        .build()
        .unwrap();
    let window = || whole_window(&client, &server).page_size(20);
    let (a, b) = guarded(async {
        tokio::join!(
            window()
                .backfill(Backfill::concurrency(8))
                .unwrap()
                .try_collect::<Vec<_>>(),
            window().stream().unwrap().try_collect::<Vec<_>>()
        )
    })
    .await;
    assert_eq!(gids(&a.unwrap()), gids(&b.unwrap()));
    assert!(server.requests().iter().all(|r| r.status == Some(200)));
}
