//! HTTP behaviour the mock server does not produce (surfaced 400s, redirects, non-JSON error
//! bodies, hanging servers), from a canned-response server, and the token's absence from
//! every output, logs included.

mod common;

use std::time::Duration;

use asana_audit_log::config::RetryPolicy;
use asana_audit_log::{Client, Error};
use asana_audit_log_mock::canned::{CannedServer, Reply};
use asana_audit_log_mock::{Fault, FaultPlan, MockServer};
use common::{Captured, client_for};
use futures::{StreamExt, TryStreamExt};

const TOKEN: &str = "2/1200000000000009/1209000000000009:feedfacefeedfacefeedfacefeedface";

/// Serves canned HTTP responses on loopback: request `i` gets `responses[i]` (the last one
/// repeats), or no answer at all for `None`.
async fn canned(responses: Vec<Option<Reply>>) -> CannedServer {
    let replies = responses
        .into_iter()
        .map(|response| response.unwrap_or_else(Reply::silent))
        .collect();
    CannedServer::replies(replies).await.unwrap()
}

fn response(status: &str, headers: &str, body: &str) -> Option<Reply> {
    Some(Reply::response(
        status,
        &format!("Connection: close\r\n{headers}"),
        body,
    ))
}

fn client(base: &str, retry: RetryPolicy) -> Client {
    Client::builder()
        .token(TOKEN)
        .base_url(base)
        .retry_policy(retry.with_delays(Duration::from_millis(1), Duration::from_millis(2)))
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap()
}

async fn first_error(client: &Client) -> Error {
    let mut stream = client.audit_log_events("1").stream().unwrap();
    let error = stream.next().await.unwrap().unwrap_err();
    assert!(
        stream.next().await.is_none(),
        "the stream ends after its error"
    );
    error
}

/// Reads event `1` from workspace `1` through `client`, then the error that must end the
/// stream.
async fn error_after_the_first_event(client: &Client) -> Error {
    let mut stream = client.audit_log_events("1").stream().unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap().gid(), "1");
    let error = stream.next().await.unwrap().unwrap_err();
    assert!(
        stream.next().await.is_none(),
        "the stream ends after its error"
    );
    error
}

const JSON: &str = "Content-Type: application/json\r\n";

#[tokio::test]
async fn a_bad_request_surfaces_with_asanas_message() {
    let body = r#"{"errors":[{"message":"event_type: Unknown value","help":"see the docs"}]}"#;
    let server = canned(vec![response("400 Bad Request", JSON, body)]).await;
    let base = server.base_url();
    let error = first_error(&client(&base, RetryPolicy::default())).await;
    assert!(matches!(error, Error::BadRequest(_)), "{error:?}");
    assert_eq!(
        error.asana_errors()[0].message.as_deref(),
        Some("event_type: Unknown value")
    );
    assert_eq!(server.hits(), 1, "not retried");
    insta::assert_snapshot!("error_400", error.to_string());
}

#[tokio::test]
async fn an_offset_rejected_again_and_again_is_reported() {
    // The offset is refused after every restart, and the restart brings nothing new: after
    // three restarts without progress the 400 surfaces instead of looping forever.
    let page =
        r#"{"data":[{"gid":"1","created_at":"2024-01-01T00:00:00Z"}],"next_page":{"offset":"a"}}"#;
    let rejected = r#"{"errors":[{"message":"offset: Your pagination token has expired."}]}"#;
    let (p, r) = (
        response("200 OK", JSON, page),
        response("400 Bad Request", JSON, rejected),
    );
    let server = canned(vec![
        p.clone(),
        r.clone(),
        p.clone(),
        r.clone(),
        p.clone(),
        r.clone(),
        p,
        r,
    ])
    .await;
    let base = server.base_url();
    let error = error_after_the_first_event(&client(&base, RetryPolicy::default())).await;
    assert!(
        matches!(&error, Error::BadRequest(e) if e.carried_offset()),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("the paging offset was rejected"),
        "{error}"
    );
    assert_eq!(server.hits(), 8);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let target = canned(vec![response("200 OK", JSON, r#"{"data":[]}"#)]).await;
    let location = format!(
        "Location: {}/workspaces/1/audit_log_events\r\n",
        target.base_url()
    );
    let server = canned(vec![response("302 Found", &location, "")]).await;
    let base = server.base_url();
    let error = first_error(&client(&base, RetryPolicy::default())).await;
    assert!(
        matches!(&error, Error::UnexpectedStatus(e) if e.status() == 302),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("redirects are not followed"),
        "{error}"
    );
    assert_eq!(server.hits(), 1);
    assert_eq!(target.hits(), 0, "the token never went to the other host");
}

#[tokio::test]
async fn undocumented_statuses_are_reported_with_their_body() {
    let server = canned(vec![response("418 I'm a teapot", "", "short and stout")]).await;
    let base = server.base_url();
    let error = first_error(&client(&base, RetryPolicy::default())).await;
    assert!(
        matches!(&error, Error::UnexpectedStatus(e) if e.body() == Some("short and stout")),
        "{error:?}"
    );
    assert_eq!(server.hits(), 1);
    // 504 from a proxy is transient: retried, then a server error.
    let server = canned(vec![response(
        "504 Gateway Timeout",
        "",
        "<html>proxy</html>",
    )])
    .await;
    let base = server.base_url();
    let error = first_error(&client(&base, RetryPolicy::default().with_max_retries(2))).await;
    assert!(matches!(error, Error::ServerError(_)), "{error:?}");
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn an_error_status_with_a_non_json_body_is_treated_as_unreadable() {
    // The generated client drops the status of a documented error whose body is not JSON, so
    // this is indistinguishable from a truncated page: retried, then InvalidResponse.
    let server = canned(vec![response("401 Unauthorized", "", "<html>login</html>")]).await;
    let base = server.base_url();
    let error = first_error(&client(&base, RetryPolicy::default().with_max_retries(2))).await;
    assert!(
        matches!(&error, Error::InvalidResponse { attempts: 3, reason } if reason.contains("<html>login")),
        "{error:?}"
    );
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn a_silent_server_times_out_and_is_retried() {
    let page =
        r#"{"data":[{"gid":"5","created_at":"2024-01-01T00:00:00Z"}],"next_page":{"offset":"a"}}"#;
    let server = canned(vec![
        None,
        response("200 OK", JSON, page),
        response("200 OK", JSON, r#"{"data":[],"next_page":{"offset":"b"}}"#),
    ])
    .await;
    let base = server.base_url();
    let events: Vec<_> = client(&base, RetryPolicy::default())
        .audit_log_events("1")
        .stream()
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(server.hits(), 3);
    let server = canned(vec![None]).await;
    let base = server.base_url();
    let error = first_error(&client(&base, RetryPolicy::none())).await;
    assert!(
        matches!(&error, Error::Transport { source, attempts: 1 } if source.is_timeout()),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_event_without_created_at_fails_after_the_good_ones() {
    let page = r#"{"data":[{"gid":"1","created_at":"2024-01-01T00:00:00Z"},{"gid":"2"},{"gid":"3","created_at":"2024-01-01T00:00:01Z"}],"next_page":{"offset":"a"}}"#;
    let server = canned(vec![response("200 OK", JSON, page)]).await;
    let base = server.base_url();
    let error = error_after_the_first_event(&client(&base, RetryPolicy::none())).await;
    assert!(
        matches!(&error, Error::Decode(e) if e.gid() == Some("2")),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("`created_at` is missing"),
        "{error}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_token_appears_in_no_output() {
    let (captured, _guard) = Captured::trace();

    let server = MockServer::builder()
        .events(150)
        .rate_limit(None)
        .faults(
            FaultPlan::new()
                .on_request(
                    1,
                    Fault::TooManyRequests {
                        retry_after_secs: 1,
                    },
                )
                .on_request(2, Fault::InternalServerError)
                .on_request(3, Fault::ResetMidBody)
                .on_request(4, Fault::TruncatedJson),
        )
        .start()
        .await
        .unwrap();
    let token = server.token().to_owned();
    let secret = token.rsplit(':').next().unwrap().to_owned();
    let client = client_for(&server);
    let mut outputs = vec![format!("{client:?}"), format!("{client:#?}")];

    let mut stream = client
        .audit_log_events(server.workspace_gid())
        .page_size(50)
        .stream()
        .unwrap();
    while let Some(event) = stream.next().await {
        event.unwrap();
        outputs.push(stream.cursor().to_json());
    }
    outputs.push(format!("{stream:?}"));

    // Errors too: a rejected token, a wrong workspace, an unreachable server.
    let wrong = Client::builder()
        .token(format!("{token}x"))
        .base_url(server.base_url())
        .build()
        .unwrap();
    let errors = vec![first_error(&wrong).await, first_error(&client).await, {
        let unreachable = Client::builder()
            .token(token.as_str())
            .base_url("http://127.0.0.1:9/api/1.0")
            .retry_policy(RetryPolicy::none())
            .build()
            .unwrap();
        first_error(&unreachable).await
    }];
    for error in &errors {
        outputs.push(error.to_string());
        outputs.push(format!("{error:?}"));
    }
    drop(_guard);

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("retrying audit log request"),
        "the run was logged:\n{logs}"
    );
    outputs.push(logs);
    for output in &outputs {
        assert!(
            !output.contains(&secret),
            "the token leaked into:\n{output}"
        );
    }
}
