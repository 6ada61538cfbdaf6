//! The endpoint's rules: parameters, credentials, limits, offsets, next_page, retention, live
//! arrival.

mod common;

use std::time::Duration;

use asana_audit_log_mock::{CursorPosition, Fault, FaultPlan, MockServer, audit_log_start};
use chrono::DateTime;
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn limit_bounds_and_default_page_size() {
    let server = builder().events(300).start().await.unwrap();
    for (limit, expected) in [("1", 1), ("100", 100), ("37", 37)] {
        let resp = get(&server, &format!("limit={limit}")).await;
        assert_eq!(
            (resp.status, resp.data().len()),
            (200, expected),
            "limit={limit}"
        );
    }
    // Without a limit: 100.
    assert_eq!(get(&server, "").await.data().len(), 100);
    for bad in [
        "0",
        "101",
        "-1",
        "abc",
        "1.5",
        "1e2",
        "99999999999999999999",
    ] {
        let resp = get(&server, &format!("limit={bad}")).await;
        assert_eq!(resp.status, 400, "limit={bad}");
        assert!(resp.message().starts_with("limit:"), "{}", resp.message());
    }
    let small = builder()
        .events(20)
        .default_page_size(7)
        .start()
        .await
        .unwrap();
    assert_eq!(get(&small, "").await.data().len(), 7);
}

#[tokio::test]
async fn malformed_dates_and_actor_types_are_rejected() {
    let server = builder().events(50).start().await.unwrap();
    for (param, value) in [
        ("start_at", "yesterday"),
        ("start_at", "2024-13-01T00:00:00Z"),
        ("end_at", "2024-01-01"),
        ("end_at", "2024-01-01 10:00:00"),
        ("start_at", "1718000000"),
    ] {
        let resp = get(&server, &format!("{param}={}", urlencode(value))).await;
        assert_eq!(resp.status, 400, "{param}={value}");
        assert!(
            resp.message().starts_with(&format!("{param}:")),
            "{}",
            resp.message()
        );
    }
    // Offsets other than Z are fine when encoded.
    let resp = get(
        &server,
        &format!("start_at={}", urlencode("2025-06-01T00:00:00+02:00")),
    )
    .await;
    assert_eq!(resp.status, 200);
    for bad in ["robot", "User", "users", "ai_teammate"] {
        let resp = get(&server, &format!("actor_type={bad}")).await;
        assert_eq!(resp.status, 400, "actor_type={bad}");
        assert!(resp.message().contains("actor_type"));
    }
    for good in [
        "user",
        "asana",
        "asana_support",
        "anonymous",
        "external_administrator",
    ] {
        assert_eq!(
            get(&server, &format!("actor_type={good}")).await.status,
            200,
            "{good}"
        );
    }
}

/// Asserts that `query` is refused with a 400 whose message contains `needle`.
async fn assert_refused(server: &MockServer, query: &str, needle: &str) {
    let resp = get(server, query).await;
    assert_eq!(resp.status, 400, "{query}");
    assert!(
        resp.message().contains(needle),
        "{query}: {}",
        resp.message()
    );
}

fn urlencode(s: &str) -> String {
    form_urlencoded_byte_serialize(s)
}

fn form_urlencoded_byte_serialize(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn unknown_parameters_are_ignored() {
    let server = builder().events(50).start().await.unwrap();
    let plain = get(&server, "limit=5").await;
    let extra = get(
        &server,
        "limit=5&opt_pretty=true&opt_fields=gid,created_at&foo=bar&event_type=",
    )
    .await;
    assert_eq!(plain.data(), extra.data());
}

#[tokio::test]
async fn credentials_and_workspace() {
    let server = builder().events(10).start().await.unwrap();
    let http = client();
    let u = url(&server, "");
    let none = get_with(&http, &u, None).await;
    assert_eq!(none.status, 401);
    let unknown = get_with(&http, &u, Some("2/1/2:nope")).await;
    assert_eq!(unknown.status, 401);
    let basic = http
        .get(&u)
        .header("Authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    let forbidden = get_with(&http, &u, Some(server.forbidden_token())).await;
    assert_eq!(forbidden.status, 403);
    assert!(
        forbidden.message().contains("service account")
            && forbidden.message().contains("Enterprise")
    );
    let unpaid = get_with(&http, &u, Some(server.payment_required_token())).await;
    assert_eq!(unpaid.status, 402);
    let other_ws = format!("{}/workspaces/999/audit_log_events", server.base_url());
    let missing = get_with(&http, &other_ws, Some(server.token())).await;
    assert_eq!(missing.status, 404);
    assert!(missing.message().contains("999"));
    let other_path = format!(
        "{}/workspaces/{}/tasks",
        server.base_url(),
        server.workspace_gid()
    );
    assert_eq!(
        get_with(&http, &other_path, Some(server.token()))
            .await
            .status,
        404
    );
    // A lower-case scheme and a configured extra token work.
    let extra = builder()
        .events(5)
        .add_token("second")
        .start()
        .await
        .unwrap();
    let ok = http
        .get(url(&extra, ""))
        .header("Authorization", "bearer second")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let server = builder()
        .events(10)
        .rate_limit(Some(3))
        .add_token("other")
        .start()
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(get(&server, "").await.status, 200);
    }
    let limited = get(&server, "").await;
    assert_eq!(limited.status, 429);
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert!(limited.message().contains("3 requests per minute"));
    // Another token has its own budget.
    let http = client();
    assert_eq!(
        get_with(&http, &url(&server, ""), Some("other"))
            .await
            .status,
        200
    );
    // Once the advertised time has passed, requests go through again.
    server.advance(Duration::from_secs(retry));
    assert_eq!(get(&server, "").await.status, 200);
}

#[tokio::test]
async fn concurrency_cap_answers_429_with_retry_after() {
    // The first two requests are held for a long time; the third arrives while they are in
    // flight. The held ones are never awaited: the test ends (and the server stops) first.
    let plan = FaultPlan::new()
        .on_request(1, Fault::Delay(Duration::from_secs(120)))
        .on_request(2, Fault::Delay(Duration::from_secs(120)));
    let server = builder()
        .events(10)
        .concurrency_limit(Some(2))
        .faults(plan)
        .start()
        .await
        .unwrap();
    let http = client();
    let mut held = Vec::new();
    for _ in 0..2 {
        let (http, u, t) = (http.clone(), url(&server, ""), server.token().to_owned());
        held.push(tokio::spawn(async move {
            http.get(u).bearer_auth(t).send().await
        }));
    }
    for _ in 0..500 {
        if server.in_flight() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.in_flight(), 2);
    let third = get(&server, "").await;
    assert_eq!(third.status, 429);
    assert_eq!(third.headers["retry-after"], "1");
    assert!(third.message().contains("at most 2 requests in flight"));
    for task in held {
        task.abort();
    }
}

#[tokio::test]
async fn offset_problems_are_each_named() {
    let server = builder()
        .events(30)
        .offset_lifetime(Some(Duration::from_secs(600)))
        .start()
        .await
        .unwrap();
    let first = get(&server, "limit=5&event_type=user_login_succeeded").await;
    let token = first.offset().unwrap();

    // Same query: fine, also with another limit (tokens are bound to filters, not limit).
    let ok = get(
        &server,
        &format!("limit=2&event_type=user_login_succeeded&offset={token}"),
    )
    .await;
    assert_eq!(ok.status, 200);

    assert_refused(&server, "offset=hello", "malformed").await;

    let mut tampered = token.clone().into_bytes();
    tampered[20] = if tampered[20] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let query = format!("event_type=user_login_succeeded&offset={tampered}");
    assert_refused(&server, &query, "tampered").await;

    let query = format!("event_type=user_logged_out&offset={token}");
    assert_refused(&server, &query, "different query").await;
    let no_filter = get(&server, &format!("offset={token}")).await;
    assert!(no_filter.message().contains("different query"));

    // A token from another server (other secret) is refused like a tampered one.
    let foreign = MockServer::builder()
        .now(now())
        .events(30)
        .start()
        .await
        .unwrap();
    let foreign_token = get(&foreign, "limit=5&event_type=user_login_succeeded")
        .await
        .offset()
        .unwrap();
    let query = format!("event_type=user_login_succeeded&offset={foreign_token}");
    assert_refused(&server, &query, "another server").await;

    server.advance(Duration::from_secs(601));
    let query = format!("event_type=user_login_succeeded&offset={token}");
    assert_refused(&server, &query, "expired").await;
    // The log still shows where the expired token pointed.
    let last = server.requests().pop().unwrap();
    assert!(matches!(last.offset, Some(CursorPosition::After { .. })));
}

#[tokio::test]
async fn next_page_is_null_only_until_the_query_matches() {
    let server = builder().events(200).start().await.unwrap();
    // Never matched: null.
    for query in [
        "event_type=no_such_event",
        "resource_gid=42",
        "start_at=2030-01-01T00:00:00Z",
    ] {
        let resp = get(&server, query).await;
        assert!(resp.data().is_empty(), "{query}");
        assert!(resp.body["next_page"].is_null(), "{query}");
    }
    // Matched: every page has next_page, including the empty one at the end.
    let (events, last) = walk(&server, "event_type=user_login_succeeded&limit=7").await;
    assert!(!events.is_empty());
    let last = last.expect("next_page after the last event");
    let again = get(
        &server,
        &format!("event_type=user_login_succeeded&limit=7&offset={last}"),
    )
    .await;
    assert!(again.data().is_empty());
    let next = &again.body["next_page"];
    assert!(next["offset"].is_string());
    assert!(next["path"].as_str().unwrap().starts_with(&format!(
        "/workspaces/{}/audit_log_events?event_type=user_login_succeeded&limit=7&offset=",
        server.workspace_gid()
    )));
    assert_eq!(
        next["uri"].as_str().unwrap(),
        format!("{}{}", server.base_url(), next["path"].as_str().unwrap())
    );

    // A query that matched once keeps a next_page even when retention has hidden everything.
    server.advance(Duration::from_secs(200 * 86_400));
    let resp = get(&server, "event_type=user_login_succeeded").await;
    assert!(resp.data().is_empty());
    assert!(resp.body["next_page"]["offset"].is_string());
    // The null case becomes a next_page once an event matches.
    let before = get(&server, "event_type=custom_thing").await;
    assert!(before.body["next_page"].is_null());
    server
        .append_events([json!({"event_type": "custom_thing", "actor": {"actor_type": "user"}})])
        .unwrap();
    let after = get(&server, "event_type=custom_thing").await;
    assert_eq!(after.data().len(), 1);
    assert!(after.body["next_page"]["offset"].is_string());
}

#[tokio::test]
async fn polling_with_the_last_offset_returns_appended_events() {
    let server = builder().events(120).start().await.unwrap();
    let (events, last) = walk(&server, "limit=50").await;
    assert_eq!(events, server.events());
    let last = last.unwrap();

    // Nothing new yet: empty page, next_page still there.
    let idle = get(&server, &format!("limit=50&offset={last}")).await;
    assert!(idle.data().is_empty() && idle.offset().is_some());

    server.advance(Duration::from_secs(5));
    server
        .append_events([
            json!({"event_type": "user_login_succeeded", "actor": {"actor_type": "user", "gid": "1"}, "details": {"note": "mine"}}),
            json!({"gid": "77", "event_type": "task_deleted", "created_at": "2025-06-15T12:00:05.000Z"}),
        ])
        .unwrap();
    server.append_generated(3);
    let fresh = get(&server, &format!("limit=50&offset={last}")).await;
    let data = fresh.data();
    assert_eq!(data.len(), 5);
    assert_eq!(data[0]["details"]["note"], "mine");
    assert_eq!(data[0]["created_at"], "2025-06-15T12:00:05.000Z");
    assert_eq!(data[1]["gid"], "77");
    assert!(
        data.iter()
            .all(|e| created_at(e) >= created_at(&events[events.len() - 1]))
    );
    assert_eq!(&server.events()[120..], &data[..]);

    // The empty page's offset works just as well as the last full page's.
    let from_idle = get(
        &server,
        &format!("limit=50&offset={}", idle.offset().unwrap()),
    )
    .await;
    assert_eq!(from_idle.data(), data);

    // Appends may not go back in time.
    let err = server
        .append_events([json!({"created_at": "2025-06-01T00:00:00Z"})])
        .unwrap_err();
    assert!(err.to_string().contains("older than the newest event"));
    assert!(server.append_events([json!("not an object")]).is_err());
    assert_eq!(server.event_count(), 125);
}

#[tokio::test]
async fn live_rate_appends_while_serving() {
    let server = builder().events(10).live_rate(200.0).start().await.unwrap();
    let (_, last) = walk(&server, "").await;
    for _ in 0..500 {
        if server.event_count() >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let resp = get(&server, &format!("offset={}", last.unwrap())).await;
    assert!(!resp.data().is_empty(), "live events show up when polling");
}

#[tokio::test]
async fn retention_follows_the_clock() {
    // 120 days of events ending now: the oldest 30 days are already gone.
    let server = builder()
        .events(1200)
        .span(Duration::from_secs(120 * 86_400))
        .start()
        .await
        .unwrap();
    let cutoff = now() - chrono::Duration::days(90);
    let visible = server.events();
    assert!(
        visible.len() < 1200 && visible.len() > 700,
        "{}",
        visible.len()
    );
    assert!(visible.iter().all(|e| created_at(e) >= cutoff));
    let (walked, _) = walk(&server, "").await;
    assert_eq!(walked, visible);
    // An explicit start_at before the cutoff does not bring old events back.
    let old = get(&server, "start_at=2025-01-01T00:00:00Z&limit=1").await;
    assert!(created_at(&old.data()[0]) >= cutoff);

    server.advance(Duration::from_secs(30 * 86_400));
    let later = server.events();
    assert!(later.len() < visible.len());
    let (walked, _) = walk(&server, "").await;
    assert_eq!(walked, later);
    assert!(
        walked
            .iter()
            .all(|e| created_at(e) >= cutoff + chrono::Duration::days(30))
    );
}

#[tokio::test]
async fn nothing_before_2021_10_08() {
    let now = DateTime::parse_from_rfc3339("2021-10-20T00:00:00Z")
        .unwrap()
        .to_utc();
    let server = MockServer::builder()
        .now(now)
        .events(500)
        .span(Duration::from_secs(60 * 86_400))
        .rate_limit(None)
        .start()
        .await
        .unwrap();
    let events = server.events();
    assert_eq!(events.len(), 500);
    assert!(events.iter().all(|e| created_at(e) >= audit_log_start()));
    assert!(created_at(&events[0]) < audit_log_start() + chrono::Duration::days(2));
    let err = server.append_events([json!({"created_at": "2021-10-07T23:59:59Z"})]);
    assert!(err.is_err());
    let resp = get(
        &server,
        "start_at=2021-01-01T00:00:00Z&end_at=2021-10-08T00:00:00Z",
    )
    .await;
    assert!(resp.data().is_empty() && resp.body["next_page"].is_null());
}

#[tokio::test]
async fn request_log_records_each_request() {
    let server = builder()
        .events(40)
        .faults(FaultPlan::new().on_request(3, Fault::BadGateway))
        .start()
        .await
        .unwrap();
    let first = get(&server, "limit=10&opt_pretty=true").await;
    let last_of_first = first.data()[9].clone();
    get(
        &server,
        &format!(
            "limit=10&opt_pretty=true&offset={}",
            first.offset().unwrap()
        ),
    )
    .await;
    get(&server, "limit=0").await;
    let log = server.requests();
    assert_eq!(log.len(), 3);
    let r1 = &log[0];
    assert_eq!(
        (r1.number, r1.status, r1.events_returned),
        (1, Some(200), 10)
    );
    assert_eq!(r1.at, now());
    assert_eq!(r1.method, "GET");
    assert_eq!(
        r1.path,
        format!(
            "/api/1.0/workspaces/{}/audit_log_events",
            server.workspace_gid()
        )
    );
    assert_eq!(
        r1.query,
        vec![
            ("limit".into(), "10".into()),
            ("opt_pretty".into(), "true".into())
        ]
    );
    assert_eq!(r1.offset, None);
    assert_eq!(r1.fault, None);
    let r2 = &log[1];
    assert_eq!(r2.param("limit"), Some("10"));
    match r2.offset {
        Some(CursorPosition::After {
            created_at: at,
            seq,
        }) => {
            assert_eq!(at, created_at(&last_of_first));
            assert_eq!(seq, 9);
        }
        other => panic!("expected a decoded position, got {other:?}"),
    }
    assert_eq!(r2.events_returned, 10);
    // The third was scripted to 502 (the 400 it would have been never happened).
    assert_eq!(
        (log[2].status, log[2].fault.clone()),
        (Some(502), Some(Fault::BadGateway))
    );

    server.clear_requests();
    assert!(server.requests().is_empty());
    get(&server, "").await;
    assert_eq!(
        server.requests()[0].number,
        4,
        "numbering goes on after clearing"
    );
    assert_eq!(server.request_count(), 4);
}

#[tokio::test]
async fn admin_route_appends_events() {
    let server = builder().events(5).start().await.unwrap();
    let http = client();
    let two = r#"[{"event_type":"task_deleted"},{"event_type":"task_undeleted"}]"#;
    let resp = post_mock(&http, &server, "events", Some(two)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["total"], 7);
    let resp = post_mock(&http, &server, "events?count=3", None).await;
    assert_eq!(resp.json::<Value>().await.unwrap()["total"], 10);
    let bad = post_mock(&http, &server, "events", Some("[1]")).await;
    assert_eq!(bad.status(), 400);
    let status = mock_status(&http, &server).await;
    assert_eq!(status["events"], 10);
    assert_eq!(
        server.request_count(),
        0,
        "admin calls are not API requests"
    );
    assert_eq!(server.events()[6]["event_type"], "task_undeleted");
}

#[tokio::test]
async fn request_log_keeps_the_newest_records() {
    let server = builder()
        .events(3)
        .request_log_capacity(2)
        .start()
        .await
        .unwrap();
    for _ in 0..3 {
        get(&server, "").await;
    }
    let numbers: Vec<u64> = server.requests().iter().map(|r| r.number).collect();
    assert_eq!(numbers, vec![2, 3]);
}
