//! Faults: each kind as a client sees it, retries get the right page, seeds reproduce.

mod common;

use std::time::Duration;

use asana_audit_log_mock::{Fault, FaultPlan, Latency, MockServer};
use common::*;
use serde_json::Value;

/// The expected first page (limit 10) of a server built like the faulty one.
async fn reference_page() -> Vec<Value> {
    let server = builder().events(50).start().await.unwrap();
    get(&server, "limit=10").await.data().clone()
}

/// A server whose first request meets `fault`, and what that request got.
async fn first_request_meets(fault: Fault) -> (MockServer, reqwest::Result<reqwest::Response>) {
    let server = faulty(FaultPlan::new().on_request(1, fault)).await;
    let answer = send(&client(), &server, "limit=10").await;
    (server, answer)
}

/// A server whose first request meets `fault`, a fault that strikes once the headers are sent:
/// the answer (status 200, checked) and the body length its headers promise.
async fn first_answer_meets(fault: Fault) -> (MockServer, reqwest::Response, u64) {
    let (server, answer) = first_request_meets(fault).await;
    let resp = answer.unwrap();
    assert_eq!(resp.status(), 200);
    let promised = resp.content_length().unwrap();
    (server, resp, promised)
}

/// Asserts that the next request to `server` gets the right first page (limit 10).
async fn assert_serves_the_first_page(server: &MockServer) {
    assert_eq!(
        get(server, "limit=10").await.data(),
        &reference_page().await
    );
}

async fn faulty(plan: FaultPlan) -> MockServer {
    builder().events(50).faults(plan).start().await.unwrap()
}

#[tokio::test]
async fn status_faults_answer_with_asana_error_bodies() {
    let plan = FaultPlan::new()
        .seed(11)
        .on_request(1, Fault::InternalServerError)
        .on_request(2, Fault::BadGateway)
        .on_request(3, Fault::ServiceUnavailable)
        .on_request(
            4,
            Fault::TooManyRequests {
                retry_after_secs: 17,
            },
        );
    let server = faulty(plan).await;
    for expected in [500, 502, 503] {
        let resp = get(&server, "limit=10").await; // validates the body, phrase included
        assert_eq!(resp.status, expected);
        let phrase = resp.body["errors"][0]["phrase"].as_str().unwrap();
        assert!(phrase.split(' ').count() == 5, "{phrase}");
    }
    let limited = get(&server, "limit=10").await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.headers["retry-after"], "17");
    // The fifth request is not scripted: the right first page.
    assert_serves_the_first_page(&server).await;
    let log = server.requests();
    let faults: Vec<_> = log.iter().map(|r| (r.status, r.fault.clone())).collect();
    assert_eq!(
        faults,
        vec![
            (Some(500), Some(Fault::InternalServerError)),
            (Some(502), Some(Fault::BadGateway)),
            (Some(503), Some(Fault::ServiceUnavailable)),
            (
                Some(429),
                Some(Fault::TooManyRequests {
                    retry_after_secs: 17
                })
            ),
            (Some(200), None),
        ]
    );
}

#[tokio::test]
async fn reset_before_response_fails_the_request() {
    let (server, answer) = first_request_meets(Fault::ResetBeforeResponse).await;
    let err = answer.unwrap_err();
    assert!(!err.is_status() && !err.is_decode(), "{err:?}");
    assert_eq!(server.requests()[0].status, None);
    // The same request again gets the right page.
    assert_serves_the_first_page(&server).await;
}

#[tokio::test]
async fn reset_mid_body_fails_the_request_or_its_body() {
    let (server, answer) = first_request_meets(Fault::ResetMidBody).await;
    let outcome = match answer {
        Err(e) => Err(format!("send: {e:?}")),
        Ok(resp) => {
            // If the headers made it, they promised the whole body.
            assert_eq!(resp.status(), 200);
            assert!(resp.content_length().unwrap() > 100);
            resp.bytes()
                .await
                .map(|b| b.len())
                .map_err(|e| format!("body: {e:?}"))
        }
    };
    assert!(
        outcome.is_err(),
        "the client must notice the reset: {outcome:?}"
    );
    assert_eq!(server.requests()[0].fault, Some(Fault::ResetMidBody));
    assert_serves_the_first_page(&server).await;
}

#[tokio::test]
async fn truncated_body_is_an_incomplete_message() {
    let (server, resp, promised) = first_answer_meets(Fault::TruncatedBody).await;
    let err = resp.bytes().await.unwrap_err();
    assert!(err.is_body() || err.is_decode(), "{err:?}");
    assert!(promised > 100);
    assert_serves_the_first_page(&server).await;
}

#[tokio::test]
async fn truncated_json_is_complete_http_but_broken_json() {
    let (server, resp, promised) = first_answer_meets(Fault::TruncatedJson).await;
    let bytes = resp
        .bytes()
        .await
        .expect("the HTTP message itself is complete");
    assert_eq!(bytes.len() as u64, promised);
    let parsed = serde_json::from_slice::<Value>(&bytes);
    assert!(parsed.unwrap_err().is_eof());
    assert_serves_the_first_page(&server).await;
}

/// GETs until a complete, 200, JSON page arrives; returns it and how many tries it took.
async fn get_retrying(http: &reqwest::Client, server: &MockServer, query: &str) -> (Value, usize) {
    for attempt in 1..=50 {
        let Ok(resp) = send(http, server, query).await else {
            continue;
        };
        if resp.status() != 200 {
            continue;
        }
        let Ok(bytes) = resp.bytes().await else {
            continue;
        };
        if let Ok(page) = serde_json::from_slice::<Value>(&bytes) {
            validate_body(200, &page);
            return (page, attempt);
        }
    }
    panic!("no good answer in 50 tries for {query}");
}

#[tokio::test]
async fn faults_never_change_paging_state() {
    let plan = FaultPlan::new()
        .seed(3)
        .with_probability(Fault::InternalServerError, 0.08)
        .with_probability(Fault::ServiceUnavailable, 0.08)
        .with_probability(
            Fault::TooManyRequests {
                retry_after_secs: 1,
            },
            0.08,
        )
        .with_probability(Fault::ResetBeforeResponse, 0.08)
        .with_probability(Fault::ResetMidBody, 0.08)
        .with_probability(Fault::TruncatedBody, 0.08)
        .with_probability(Fault::TruncatedJson, 0.08);
    let server = builder().events(400).faults(plan).start().await.unwrap();
    let http = client();
    let mut events = Vec::new();
    let mut offset: Option<String> = None;
    let mut retried = 0;
    loop {
        let query = match &offset {
            Some(o) => format!("limit=23&offset={o}"),
            None => "limit=23".to_owned(),
        };
        let (page, tries) = get_retrying(&http, &server, &query).await;
        retried += tries - 1;
        let data = page["data"].as_array().unwrap();
        if data.is_empty() {
            break;
        }
        events.extend(data.iter().cloned());
        offset = page["next_page"]["offset"].as_str().map(str::to_owned);
    }
    assert_eq!(
        events,
        server.events(),
        "every event once, in order, despite the faults"
    );
    assert!(
        retried > 3,
        "the plan should have caused retries, got {retried}"
    );
    let kinds: std::collections::HashSet<String> = server
        .requests()
        .iter()
        .filter_map(|r| r.fault.as_ref().map(|f| f.to_string()))
        .collect();
    assert!(kinds.len() >= 5, "several kinds were exercised: {kinds:?}");
}

async fn fault_sequence(seed: u64) -> Vec<(u64, Option<Fault>, Option<u16>, Duration)> {
    let plan = FaultPlan::new()
        .seed(seed)
        .with_probability(Fault::ServiceUnavailable, 0.2)
        .with_probability(Fault::InternalServerError, 0.1)
        .with_probability(Fault::TruncatedJson, 0.1)
        .latency(Latency::Uniform {
            min: Duration::ZERO,
            max: Duration::from_millis(3),
        });
    let server = builder().events(20).faults(plan).start().await.unwrap();
    let http = client();
    for _ in 0..40 {
        let _ = send(&http, &server, "limit=5").await;
    }
    server
        .requests()
        .into_iter()
        .map(|r| (r.number, r.fault, r.status, r.delay))
        .collect()
}

#[tokio::test]
async fn random_faults_are_reproducible_from_the_seed() {
    let a = fault_sequence(21).await;
    let b = fault_sequence(21).await;
    let c = fault_sequence(22).await;
    assert_eq!(a.len(), 40);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.iter().any(|(_, f, ..)| f.is_some()) && a.iter().any(|(_, f, ..)| f.is_none()));
    assert!(a.iter().all(|(.., d)| *d <= Duration::from_millis(3)));
}

#[tokio::test]
async fn latency_is_recorded_and_faults_can_change_at_run_time() {
    let server = builder()
        .events(10)
        .latency(Latency::Fixed(Duration::from_millis(2)))
        .start()
        .await
        .unwrap();
    assert_eq!(get(&server, "").await.status, 200);
    assert_eq!(server.requests()[0].delay, Duration::from_millis(2));
    // Numbers are absolute: the next request is number 2.
    server.set_faults(FaultPlan::new().on_request(2, Fault::ServiceUnavailable));
    assert_eq!(get(&server, "").await.status, 503);
    assert_eq!(get(&server, "").await.status, 200);
    assert_eq!(server.requests()[1].delay, Duration::ZERO);
}
