//! Helpers shared by the integration tests.

// Each test file is its own crate that includes this module and uses only some of it; the
// rest would be dead code there, and clippy runs with `-D warnings`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::OnceLock;

use asana_audit_log_mock::{MockServer, MockServerBuilder};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// The fixed "now" most tests freeze the clock at.
pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-06-15T12:00:00Z")
        .unwrap()
        .to_utc()
}

/// The `created_at` of an event.
pub fn created_at(event: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(event["created_at"].as_str().unwrap())
        .unwrap()
        .to_utc()
}

/// A builder with a frozen clock, no rate limit and a fixed offset secret.
pub fn builder() -> MockServerBuilder {
    MockServer::builder()
        .now(now())
        .rate_limit(None)
        .offset_secret(0x5ec7e7)
}

/// The audit-log URL of `server` with `query` appended.
pub fn url(server: &MockServer, query: &str) -> String {
    let sep = if query.is_empty() { "" } else { "?" };
    format!(
        "{}/workspaces/{}/audit_log_events{sep}{query}",
        server.base_url(),
        server.workspace_gid()
    )
}

/// One plain HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn data(&self) -> &Vec<Value> {
        self.body["data"].as_array().expect("a page has data")
    }

    pub fn offset(&self) -> Option<String> {
        self.body["next_page"]["offset"].as_str().map(str::to_owned)
    }

    pub fn message(&self) -> &str {
        self.body["errors"][0]["message"]
            .as_str()
            .expect("an error message")
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// The URL of the mock's own route `route` (`/_mock/...`, beside the API).
pub fn mock_url(server: &MockServer, route: &str) -> String {
    let root = server.base_url().trim_end_matches("/api/1.0");
    format!("{root}/_mock/{route}")
}

/// The mock's own status (`GET /_mock/status`, beside the API).
pub async fn mock_status(http: &reqwest::Client, server: &MockServer) -> Value {
    http.get(mock_url(server, "status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// POSTs `body` (none when `None`) to the mock's own route `route`; panics on transport errors.
pub async fn post_mock(
    http: &reqwest::Client,
    server: &MockServer,
    route: &str,
    body: Option<&'static str>,
) -> reqwest::Response {
    let mut req = http.post(mock_url(server, route));
    if let Some(body) = body {
        req = req.body(body);
    }
    req.send().await.expect("request sent")
}

/// Sends one GET of the audit-log endpoint of `server` with its token, and nothing more: the
/// answer is neither read nor checked.
pub async fn send(
    http: &reqwest::Client,
    server: &MockServer,
    query: &str,
) -> reqwest::Result<reqwest::Response> {
    http.get(url(server, query))
        .bearer_auth(server.token())
        .send()
        .await
}

/// GETs `url` with `token` (none when `None`); panics on transport errors.
pub async fn get_with(http: &reqwest::Client, url: &str, token: Option<&str>) -> Resp {
    let mut req = http.get(url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("body read");
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{status} body is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    validate_body(status, &body);
    Resp {
        status,
        headers,
        body,
    }
}

/// GETs the audit-log endpoint of `server` with its token.
pub async fn get(server: &MockServer, query: &str) -> Resp {
    get_with(&client(), &url(server, query), Some(server.token())).await
}

/// Pages through `query` (which must not hold an offset) until an empty page; returns the
/// events and the last offset.
pub async fn walk(server: &MockServer, query: &str) -> (Vec<Value>, Option<String>) {
    let http = client();
    let mut events = Vec::new();
    let mut offset: Option<String> = None;
    loop {
        let mut q = query.to_owned();
        if let Some(o) = &offset {
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(&format!("offset={o}"));
        }
        let resp = get_with(&http, &url(server, &q), Some(server.token())).await;
        assert_eq!(resp.status, 200, "{q}: {}", resp.body);
        let data = resp.data();
        if resp.body["next_page"].is_null() {
            assert!(
                data.is_empty() && offset.is_none(),
                "next_page null only on a never-matching first page"
            );
            return (events, None);
        }
        let next = resp.offset().expect("next_page has an offset");
        if data.is_empty() {
            return (events, Some(next));
        }
        events.extend(data.iter().cloned());
        offset = Some(next);
    }
}

/// The spec's schemas as one JSON Schema document: OpenAPI's `nullable: true` becomes a
/// `"null"` type, `#/components/schemas/X` references become `#/definitions/X`.
fn schema_document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let text = include_str!("../openapi/asana-audit-log.yaml");
        let spec: Value = serde_norway::from_str(text).expect("the spec is YAML");
        let schemas = spec["components"]["schemas"].clone();
        let mut doc = Map::new();
        doc.insert("definitions".into(), convert(schemas));
        Value::Object(doc)
    })
}

fn convert(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let nullable = map
                .get("nullable")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let mut out = Map::new();
            for (k, v) in map {
                match k.as_str() {
                    "nullable" | "example" | "x-known-values" => {}
                    "$ref" => {
                        let target = v
                            .as_str()
                            .unwrap()
                            .replace("#/components/schemas/", "#/definitions/");
                        out.insert(k, Value::String(target));
                    }
                    _ => {
                        out.insert(k, convert(v));
                    }
                }
            }
            if nullable && let Some(Value::String(t)) = out.get("type").cloned() {
                out.insert("type".into(), serde_json::json!([t, "null"]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(convert).collect()),
        other => other,
    }
}

/// A validator for `#/definitions/{name}` of the spec.
pub fn validator(name: &str) -> &'static jsonschema::Validator {
    static CACHE: OnceLock<std::sync::Mutex<HashMap<String, &'static jsonschema::Validator>>> =
        OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap();
    cache.entry(name.to_owned()).or_insert_with(|| {
        let mut schema = schema_document().clone();
        schema["$ref"] = Value::String(format!("#/definitions/{name}"));
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|e| panic!("schema {name}: {e}"));
        Box::leak(Box::new(validator))
    })
}

/// The names of the members the spec lists for the object schema `#/definitions/{name}`.
pub fn schema_members(name: &str) -> Vec<&'static str> {
    schema_document()["definitions"][name]["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("the spec's {name} lists its members"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// The schema errors of `instance` against `#/definitions/{name}`, as "path: message".
pub fn schema_errors(name: &str, instance: &Value) -> Vec<String> {
    validator(name)
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// Asserts that a response body is what the spec allows for its status.
pub fn validate_body(status: u16, body: &Value) {
    let name = if status == 200 {
        "AuditLogEventPage"
    } else {
        "ErrorResponse"
    };
    let errors = schema_errors(name, body);
    assert!(
        errors.is_empty(),
        "{status} body fails {name}: {errors:?}\n{body}"
    );
    if status == 200 {
        let keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys.len(),
            2,
            "a page has exactly data and next_page: {keys:?}"
        );
        assert!(body.get("data").is_some() && body.get("next_page").is_some());
    } else {
        let errors = body["errors"].as_array().expect("errors array");
        assert_eq!(errors.len(), 1);
        assert!(errors[0]["message"].is_string() && errors[0]["help"].is_string());
        assert_eq!(
            errors[0].get("phrase").is_some(),
            status >= 500,
            "phrase only on 5xx: {body}"
        );
    }
}
