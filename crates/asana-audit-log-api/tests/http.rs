//! Snapshot tests of the generated client: the exact requests it sends, and how it decodes each
//! response the API can give, both through a real HTTP exchange with a local capture server.

use std::num::NonZeroU64;

use asana_audit_log_api::types::{
    AuditLogEventActor, AuditLogEventContext, GetAuditLogEventsActorType,
};
use asana_audit_log_api::{Client, Error, RawAuditLogEvent};
use asana_audit_log_mock::canned::{CannedRequest, CannedServer, Reply};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

const TOKEN: &str = "2/1111/2222:do-not-leak-this-token";

/// What the capture server saw of one request, minus the token and the port.
#[derive(Debug, Serialize)]
struct Captured {
    method: String,
    path: String,
    /// Decoded query pairs, sorted.
    query: Vec<(String, String)>,
    /// Header names (lower case) and values, sorted, without `authorization` and `host`.
    headers: Vec<(String, String)>,
    #[serde(skip)]
    authorization: Option<String>,
}

/// A canned response.
struct Canned {
    status: u16,
    extra_headers: Vec<(&'static str, &'static str)>,
    body: String,
}

impl Canned {
    fn json(status: u16, body: &str) -> Self {
        Self {
            status,
            extra_headers: Vec::new(),
            body: body.to_string(),
        }
    }

    fn reply(&self) -> Reply {
        let mut headers = "content-type: application/json\r\nconnection: close\r\n".to_string();
        for (name, value) in &self.extra_headers {
            headers.push_str(&format!("{name}: {value}\r\n"));
        }
        Reply::response(&format!("{} X", self.status), &headers, &self.body)
    }
}

/// A loopback server that records each request and answers every one with the same canned
/// response, then closes the connection.
struct CaptureServer(CannedServer);

impl CaptureServer {
    async fn start(canned: Canned) -> Self {
        Self(CannedServer::replies(vec![canned.reply()]).await.unwrap())
    }

    fn client(&self) -> Client {
        let mut headers = reqwest::header::HeaderMap::new();
        let mut auth = reqwest::header::HeaderValue::from_str(&format!("Bearer {TOKEN}")).unwrap();
        auth.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, auth);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent("asana-audit-log-api-tests")
            .build()
            .unwrap();
        Client::new_with_client(&self.0.base_url(), http, Default::default())
    }

    fn take(&self) -> Vec<Captured> {
        self.0.take_requests().iter().map(capture).collect()
    }
}

fn capture(request: &CannedRequest) -> Captured {
    let mut query: Vec<(String, String)> = url_pairs(request.query_string());
    query.sort();
    let mut headers = Vec::new();
    let mut authorization = None;
    for (name, value) in &request.headers {
        let (name, value) = (name.to_ascii_lowercase(), value.clone());
        match name.as_str() {
            "authorization" => authorization = Some(value),
            "host" => {}
            _ => headers.push((name, value)),
        }
    }
    headers.sort();
    Captured {
        method: request.method.clone(),
        path: request.path().to_string(),
        query,
        headers,
        authorization,
    }
}

/// Decodes `application/x-www-form-urlencoded` pairs (what reqwest's `.query()` writes).
fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// Sends the plainest request (the workspace `1100000000000001`, no filter) to `server`.
async fn send_for_workspace(
    server: &CaptureServer,
) -> Result<
    asana_audit_log_api::ResponseValue<asana_audit_log_api::types::AuditLogEventPage>,
    Error<asana_audit_log_api::types::ErrorResponse>,
> {
    server
        .client()
        .get_audit_log_events()
        .workspace_gid("1100000000000001")
        .send()
        .await
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Requests

#[tokio::test]
async fn request_with_only_the_workspace() {
    let server = CaptureServer::start(Canned::json(200, &fixture("empty-page.json"))).await;
    send_for_workspace(&server).await.unwrap();
    let seen = server.take();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(&*format!("Bearer {TOKEN}"))
    );
    insta::assert_yaml_snapshot!(seen[0]);
}

#[tokio::test]
async fn request_with_every_filter() {
    let server = CaptureServer::start(Canned::json(200, &fixture("empty-page.json"))).await;
    server
        .client()
        .get_audit_log_events()
        .workspace_gid("1100000000000001")
        .start_at(at("2026-11-01T00:00:00Z"))
        .end_at(at("2026-11-20T12:30:15.250Z"))
        .event_type("user_login_failed")
        .actor_gid("1200000000000001")
        .resource_gid("1200000000000002")
        .limit(NonZeroU64::new(100).unwrap())
        .offset("eyJ0eXAiOiJKV1QifQ==.c2ln+/")
        .send()
        .await
        .unwrap();
    insta::assert_yaml_snapshot!(server.take());
}

#[tokio::test]
async fn request_with_each_actor_type() {
    let server = CaptureServer::start(Canned::json(200, &fixture("empty-page.json"))).await;
    let client = server.client();
    for actor_type in [
        GetAuditLogEventsActorType::User,
        GetAuditLogEventsActorType::Asana,
        GetAuditLogEventsActorType::AsanaSupport,
        GetAuditLogEventsActorType::Anonymous,
        GetAuditLogEventsActorType::ExternalAdministrator,
    ] {
        client
            .get_audit_log_events()
            .workspace_gid("1100000000000001")
            .actor_type(actor_type)
            .limit(NonZeroU64::new(1).unwrap())
            .send()
            .await
            .unwrap();
    }
    let queries: Vec<Vec<(String, String)>> = server.take().into_iter().map(|c| c.query).collect();
    insta::assert_yaml_snapshot!(queries);
}

#[tokio::test]
async fn workspace_gid_is_percent_encoded_in_the_path() {
    let server = CaptureServer::start(Canned::json(200, &fixture("empty-page.json"))).await;
    server
        .client()
        .get_audit_log_events()
        .workspace_gid("12 34/../5")
        .send()
        .await
        .unwrap();
    insta::assert_snapshot!(server.take()[0].path, @"/api/1.0/workspaces/12%2034%2F..%2F5/audit_log_events");
}

// ---------------------------------------------------------------------------------------------
// Responses

/// A readable summary of a decoded page.
#[derive(Serialize)]
struct PageView {
    status: u16,
    events: Vec<Value>,
    next_page: Option<Value>,
}

async fn fetch_page(body: &str) -> PageView {
    let server = CaptureServer::start(Canned::json(200, body)).await;
    let response = send_for_workspace(&server).await.unwrap();
    let status = response.status().as_u16();
    let page = response.into_inner();
    PageView {
        status,
        events: page.data.iter().map(|e| e.decode().unwrap()).collect(),
        next_page: page
            .next_page
            .map(|n| serde_json::to_value(n).unwrap())
            .filter(|v| !v.is_null()),
    }
}

/// The event objects of a page fixture, as JSON values.
fn fixture_events(name: &str) -> Vec<Value> {
    let page: Value = serde_json::from_str(&fixture(name)).unwrap();
    page["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn decodes_a_full_page_without_losing_anything() {
    let view = fetch_page(&fixture("full-page.json")).await;
    assert_eq!(view.events, fixture_events("full-page.json"));
    insta::assert_yaml_snapshot!(view);
}

#[tokio::test]
async fn decodes_an_empty_page_that_still_has_a_next_page() {
    let view = fetch_page(&fixture("empty-page.json")).await;
    assert!(view.events.is_empty());
    assert!(
        view.next_page.is_some(),
        "an empty page keeps its next_page"
    );
    insta::assert_yaml_snapshot!(view);
}

#[tokio::test]
async fn decodes_a_page_whose_next_page_is_null() {
    let view = fetch_page(&fixture("never-matched.json")).await;
    assert!(view.events.is_empty());
    assert!(view.next_page.is_none());
    insta::assert_yaml_snapshot!(view);
}

#[tokio::test]
async fn unknown_fields_and_enum_values_decode_and_survive_byte_for_byte() {
    let body = fixture("unknown-fields.json");
    let server = CaptureServer::start(Canned::json(200, &body)).await;
    let page = server
        .client()
        .get_audit_log_events()
        .workspace_gid("1")
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.data.len(), 1);
    let raw: &RawAuditLogEvent = &page.data[0];
    // The event's text is exactly the bytes the server sent for it.
    assert!(
        body.contains(raw.json()),
        "raw text must be a verbatim slice of the body"
    );
    assert!(raw.json().contains("18446744073709551616"));
    assert!(raw.json().contains(r#""email": null"#));
    assert!(raw.json().contains(r#""group": {}"#));

    // The generated part types decode values the spec does not list, and keep unknown keys.
    let event: Value = raw.decode().unwrap();
    let actor: AuditLogEventActor = serde_json::from_value(event["actor"].clone()).unwrap();
    let context: AuditLogEventContext = serde_json::from_value(event["context"].clone()).unwrap();
    insta::assert_debug_snapshot!((actor, context));
}

/// A readable summary of an error response.
#[derive(Serialize)]
struct ErrorView {
    kind: &'static str,
    status: Option<u16>,
    retry_after: Option<String>,
    errors: Option<Value>,
}

fn view_error(err: Error<asana_audit_log_api::types::ErrorResponse>) -> ErrorView {
    let status = err.status().map(|s| s.as_u16());
    match err {
        Error::ErrorResponse(response) => ErrorView {
            kind: "ErrorResponse",
            status,
            retry_after: response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string()),
            errors: Some(serde_json::to_value(response.into_inner()).unwrap()),
        },
        Error::UnexpectedResponse(_) => ErrorView {
            kind: "UnexpectedResponse",
            status,
            retry_after: None,
            errors: None,
        },
        other => panic!("unexpected error kind: {other:?}"),
    }
}

#[tokio::test]
async fn each_documented_error_status_decodes_asanas_error_body() {
    let mut views = Vec::new();
    for status in [400u16, 401, 402, 403, 404, 429, 500] {
        let mut canned = Canned::json(status, &fixture(&format!("error-{status}.json")));
        if status == 429 {
            canned.extra_headers.push(("retry-after", "30"));
        }
        let server = CaptureServer::start(canned).await;
        let err = send_for_workspace(&server).await.unwrap_err();
        let view = view_error(err);
        assert_eq!(view.kind, "ErrorResponse", "status {status} is documented");
        assert_eq!(view.status, Some(status));
        views.push(view);
    }
    insta::assert_yaml_snapshot!(views);
}

#[tokio::test]
async fn an_undocumented_status_is_an_unexpected_response_with_its_status() {
    let server =
        CaptureServer::start(Canned::json(503, r#"{"errors":[{"message":"down"}]}"#)).await;
    let err = send_for_workspace(&server).await.unwrap_err();
    let view = view_error(err);
    assert_eq!(view.kind, "UnexpectedResponse");
    assert_eq!(view.status, Some(503));
}

#[tokio::test]
async fn a_truncated_body_is_an_invalid_payload_not_a_panic() {
    let full = fixture("full-page.json");
    let server = CaptureServer::start(Canned::json(200, &full[..full.len() / 2])).await;
    let err = send_for_workspace(&server).await.unwrap_err();
    assert!(matches!(err, Error::InvalidResponsePayload(..)), "{err:?}");
}
