//! The dataset: determinism, coverage, schema conformance, and paging over every filter
//! combination compared with a brute-force filter.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use asana_audit_log_mock::{Fault, FaultPlan, MockServer, event_types};
use chrono::DateTime;
use common::*;
use serde_json::Value;

#[tokio::test]
async fn same_seed_same_bytes() {
    let a = builder().events(600).seed(7).start().await.unwrap();
    let b = builder().events(600).seed(7).start().await.unwrap();
    let c = builder().events(600).seed(8).start().await.unwrap();
    assert_eq!(a.events_json(), b.events_json());
    assert_ne!(a.events_json(), c.events_json());
    assert_eq!(a.token(), b.token());
    // Appended generated events are deterministic too.
    a.append_generated(5);
    b.append_generated(5);
    assert_eq!(a.events_json(), b.events_json());
}

#[tokio::test]
async fn first_event_and_bodies_snapshots() {
    let server = builder()
        .events(1000)
        .seed(7)
        .faults(
            FaultPlan::new()
                .seed(7)
                .on_request(2, Fault::ServiceUnavailable),
        )
        .start()
        .await
        .unwrap();
    let first = &server.events_json()[0];
    insta::assert_snapshot!("first_event_seed_7", first);
    // The exact bytes sent (key order included), not a re-serialized value.
    let http = client();
    let raw = |query: &'static str| {
        let (http, u, token) = (http.clone(), url(&server, query), server.token().to_owned());
        async move {
            http.get(u)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    insta::assert_snapshot!("error_body_bad_limit", raw("limit=0").await);
    insta::assert_snapshot!("error_body_503", raw("").await);
}

#[tokio::test]
async fn dataset_covers_the_catalogue_and_every_enum() {
    let server = builder().events(1000).seed(3).start().await.unwrap();
    let events = server.events();
    assert_eq!(events.len(), 1000);

    // Every event carries every member the spec describes (the spec, not the library, is what
    // the mock answers to).
    let members = schema_members("AuditLogEvent");
    assert_eq!(members.len(), 8, "{members:?}");
    let mut types = BTreeMap::new();
    for e in &events {
        for key in &members {
            assert!(e.get(key).is_some(), "{key} missing in {e}");
        }
        types.insert(
            e["event_type"].as_str().unwrap().to_owned(),
            (
                e["event_category"].as_str().unwrap().to_owned(),
                e["resource"]["resource_type"].as_str().unwrap().to_owned(),
            ),
        );
        let errors = schema_errors("AuditLogEvent", e);
        assert!(errors.is_empty(), "{errors:?} in {e}");
    }
    assert_eq!(types.len(), 131);
    for t in event_types() {
        assert_eq!(
            types.get(t.event_type),
            Some(&(t.event_category.to_owned(), t.resource_type.to_owned())),
            "{}",
            t.event_type
        );
    }

    let set = |f: &dyn Fn(&Value) -> Option<String>| -> BTreeSet<String> {
        events.iter().filter_map(f).collect()
    };
    assert_eq!(
        set(&|e| e["actor"]["actor_type"].as_str().map(str::to_owned)),
        [
            "anonymous",
            "asana",
            "asana_support",
            "external_administrator",
            "user"
        ]
        .map(String::from)
        .into()
    );
    assert_eq!(
        set(&|e| e["context"]["context_type"].as_str().map(str::to_owned)),
        [
            "api",
            "asana",
            "asana_support",
            "desktop",
            "email",
            "mobile",
            "web"
        ]
        .map(String::from)
        .into()
    );
    assert_eq!(
        set(&|e| e["context"]["api_authentication_method"]
            .as_str()
            .map(str::to_owned)),
        [
            "cookie",
            "oauth",
            "personal_access_token",
            "service_account"
        ]
        .map(String::from)
        .into()
    );

    let names = set(&|e| e["actor"]["name"].as_str().map(str::to_owned));
    assert!(names.contains("Zoë Łukasiewicz") && names.contains("山田 太郎"));
    let ips = set(&|e| {
        e["context"]["client_ip_address"]
            .as_str()
            .map(str::to_owned)
    });
    assert!(
        ips.iter()
            .any(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok())
    );
    assert!(
        ips.iter()
            .any(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
    );
    assert!(
        ips.iter().all(|ip| ip.parse::<std::net::IpAddr>().is_ok()),
        "every address parses"
    );

    let details: Vec<&Value> = events.iter().map(|e| &e["details"]).collect();
    assert!(
        details
            .iter()
            .any(|d| d["old_value"].is_string() && d["new_value"].is_string())
    );
    assert!(
        details
            .iter()
            .any(|d| d["group"]["resource_type"] == "division")
    );
    assert!(details.iter().any(|d| d["saml_response"].is_string()));
    assert!(
        details.iter().any(|d| d["method"].is_string()),
        "extra keys such as details.method"
    );

    for e in &events {
        let gid = e["gid"].as_str().unwrap();
        assert!(!gid.is_empty() && gid.bytes().all(|b| b.is_ascii_digit()));
        let at = e["created_at"].as_str().unwrap();
        assert!(
            at.len() == 24 && at.ends_with('Z') && at.as_bytes()[19] == b'.',
            "{at}"
        );
        let actor = &e["actor"];
        if actor["actor_type"] != "user" {
            assert!(
                actor.get("gid").is_none() && actor.get("email").is_none(),
                "{actor}"
            );
        } else {
            assert!(actor["gid"].is_string() && actor["email"].is_string());
        }
        let ctx = &e["context"];
        assert_eq!(
            ctx.get("api_authentication_method").is_some(),
            ctx["context_type"] == "api",
            "{ctx}"
        );
        assert_eq!(
            ctx.get("oauth_app_name").is_some(),
            ctx["api_authentication_method"] == "oauth",
            "{ctx}"
        );
    }
    let times: Vec<_> = events.iter().map(created_at).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    assert!(
        times.windows(2).any(|w| w[0] == w[1]),
        "some events share a millisecond"
    );
    assert!(
        *times.last().unwrap() <= now()
            && *times.first().unwrap() >= now() - chrono::Duration::days(30)
    );
}

#[tokio::test]
async fn forward_compat_cases_are_present() {
    let server = builder()
        .events(400)
        .seed(5)
        .forward_compat(true)
        .start()
        .await
        .unwrap();
    let events = server.events();
    let known: BTreeSet<&str> = event_types().iter().map(|t| t.event_type).collect();
    assert!(
        events
            .iter()
            .any(|e| !known.contains(e["event_type"].as_str().unwrap()))
    );
    assert!(
        events
            .iter()
            .any(|e| e["actor"]["actor_type"] == "ai_teammate")
    );
    assert!(
        events
            .iter()
            .any(|e| e["context"]["context_type"] == "workflow_automation")
    );
    assert!(
        events
            .iter()
            .any(|e| e["context"]["api_authentication_method"] == "workload_identity_federation")
    );
    assert!(events.iter().any(|e| e.get("risk_assessment").is_some()));
    assert!(
        events
            .iter()
            .any(|e| e["context"]["geo"]["city"] == "München")
    );
    assert!(
        events
            .iter()
            .any(|e| e["context"]["user_agent"].is_null()
                && e["context"].get("user_agent").is_some())
    );
    let raw = server.events_json();
    assert!(
        raw.iter()
            .any(|t| t.contains("\"bytes_exported\":18446744073709551616"))
    );
    assert!(
        raw.iter()
            .any(|t| t.contains("\"row_count\":9007199254740993"))
    );
    assert!(
        raw.iter()
            .any(|t| t.contains("\"level\":12,\"child\":{\"leaf\":true}"))
    );

    // Where these events step outside the spec: only the nulls the spec does not allow.
    let mut outside = BTreeSet::new();
    for e in &events {
        for error in schema_errors("AuditLogEvent", e) {
            outside.insert(error.split(':').next().unwrap().to_owned());
        }
    }
    let allowed: BTreeSet<String> = [
        "/actor/gid",
        "/actor/email",
        "/context/user_agent",
        "/resource/resource_subtype",
    ]
    .map(String::from)
    .into();
    assert!(outside.is_subset(&allowed), "{outside:?}");
    assert!(!outside.is_empty());
}

/// The brute-force answer to a query.
struct Query {
    event_type: Option<String>,
    actor_type: Option<String>,
    actor_gid: Option<String>,
    resource_gid: Option<String>,
    start_at: Option<String>,
    end_at: Option<String>,
}

impl Query {
    fn string(&self, limit: usize) -> String {
        let mut q = vec![format!("limit={limit}")];
        for (k, v) in [
            ("event_type", &self.event_type),
            ("actor_type", &self.actor_type),
            ("actor_gid", &self.actor_gid),
            ("resource_gid", &self.resource_gid),
            ("start_at", &self.start_at),
            ("end_at", &self.end_at),
        ] {
            if let Some(v) = v {
                q.push(format!("{k}={v}"));
            }
        }
        q.join("&")
    }

    fn matches(&self, e: &Value) -> bool {
        let eq = |want: &Option<String>, got: &Value| {
            want.as_ref()
                .is_none_or(|w| got.as_str() == Some(w.as_str()))
        };
        let time = |t: &Option<String>| {
            t.as_ref()
                .map(|t| DateTime::parse_from_rfc3339(t).unwrap().to_utc())
        };
        eq(&self.event_type, &e["event_type"])
            && eq(&self.actor_type, &e["actor"]["actor_type"])
            && eq(&self.actor_gid, &e["actor"]["gid"])
            && eq(&self.resource_gid, &e["resource"]["gid"])
            && time(&self.start_at).is_none_or(|s| created_at(e) >= s)
            && time(&self.end_at).is_none_or(|end| created_at(e) < end)
    }
}

#[tokio::test]
async fn paging_every_filter_combination_matches_brute_force() {
    let server = builder().events(1500).seed(11).start().await.unwrap();
    let events = server.events();
    // A user who acts often, the busiest resource, and window edges on tied timestamps.
    let mut actors = BTreeMap::<String, usize>::new();
    for e in &events {
        if let Some(g) = e["actor"]["gid"].as_str() {
            *actors.entry(g.to_owned()).or_default() += 1;
        }
    }
    let actor_gid = actors.iter().max_by_key(|(_, n)| **n).unwrap().0.clone();
    let tie = |from: usize| {
        (from..events.len())
            .find(|&i| created_at(&events[i]) == created_at(&events[i - 1]))
            .unwrap()
    };
    let start = events[tie(300)]["created_at"].as_str().unwrap().to_owned();
    let end = events[tie(1100)]["created_at"].as_str().unwrap().to_owned();

    let mut walks = 0;
    for mask in 0u32..64 {
        let pick = |bit: u32, v: &str| (mask & (1 << bit) != 0).then(|| v.to_owned());
        let query = Query {
            event_type: pick(0, "user_login_succeeded"),
            actor_type: pick(1, "user"),
            actor_gid: pick(2, &actor_gid),
            resource_gid: pick(3, server.workspace_gid()),
            start_at: pick(4, &start),
            end_at: pick(5, &end),
        };
        let expected: Vec<Value> = events
            .iter()
            .filter(|e| query.matches(e))
            .cloned()
            .collect();
        let limit = [100, 37, 9][mask as usize % 3];
        let (got, last) = walk(&server, &query.string(limit)).await;
        assert_eq!(got.len(), expected.len(), "{}", query.string(limit));
        assert_eq!(got, expected, "{}", query.string(limit));
        assert_eq!(last.is_none(), expected.is_empty());
        walks += 1;
    }
    assert_eq!(walks, 64);
    // Some other combinations: a different event type and actor type, and a rare type.
    for q in [
        "event_type=user_login_failed&actor_type=anonymous",
        "actor_type=asana_support",
        "event_type=workspace_baa_signed",
    ] {
        let (got, _) = walk(&server, &format!("limit=3&{q}")).await;
        let query = Query {
            event_type: q
                .split('&')
                .find_map(|p| p.strip_prefix("event_type="))
                .map(String::from),
            actor_type: q
                .split('&')
                .find_map(|p| p.strip_prefix("actor_type="))
                .map(String::from),
            actor_gid: None,
            resource_gid: None,
            start_at: None,
            end_at: None,
        };
        let expected: Vec<Value> = events
            .iter()
            .filter(|e| query.matches(e))
            .cloned()
            .collect();
        assert!(!expected.is_empty(), "{q}");
        assert_eq!(got, expected, "{q}");
    }
}

#[tokio::test]
async fn one_event_per_page_keeps_ties_in_order() {
    let server = builder()
        .events(150)
        .seed(2)
        .span(Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    let (got, _) = walk(&server, "limit=1").await;
    assert_eq!(got, server.events());
    let times: Vec<_> = got.iter().map(created_at).collect();
    assert!(
        times.windows(2).filter(|w| w[0] == w[1]).count() > 5,
        "ties are present"
    );
}

#[tokio::test]
async fn every_body_the_server_sends_fits_the_spec() {
    // `get` validates each body against the spec's schema for its status; this test just
    // makes the server produce every kind.
    let plan = FaultPlan::new()
        .on_request(20, Fault::InternalServerError)
        .on_request(21, Fault::BadGateway)
        .on_request(22, Fault::ServiceUnavailable)
        .on_request(
            23,
            Fault::TooManyRequests {
                retry_after_secs: 2,
            },
        );
    let server = builder()
        .events(300)
        .seed(4)
        .faults(plan)
        .rate_limit(Some(1000))
        .start()
        .await
        .unwrap();
    let http = client();
    let page = get(&server, "limit=100").await; // a full page
    let (_, last) = walk(&server, "limit=100").await; // pages, then an empty page
    let empty = get(&server, &format!("limit=100&offset={}", last.unwrap())).await;
    assert!(empty.data().is_empty() && empty.offset().is_some());
    let null = get(&server, "event_type=nope").await; // next_page null
    assert!(null.body["next_page"].is_null());
    assert_eq!(get(&server, "limit=0").await.status, 400);
    assert_eq!(
        get(&server, &format!("offset={}x", page.offset().unwrap()))
            .await
            .status,
        400
    );
    assert_eq!(get_with(&http, &url(&server, ""), None).await.status, 401);
    assert_eq!(
        get_with(
            &http,
            &url(&server, ""),
            Some(server.payment_required_token())
        )
        .await
        .status,
        402
    );
    assert_eq!(
        get_with(&http, &url(&server, ""), Some(server.forbidden_token()))
            .await
            .status,
        403
    );
    let wrong = format!("{}/workspaces/1/audit_log_events", server.base_url());
    assert_eq!(
        get_with(&http, &wrong, Some(server.token())).await.status,
        404
    );
    while server.request_count() < 19 {
        get(&server, "limit=1").await;
    }
    for status in [500, 502, 503, 429] {
        assert_eq!(get(&server, "").await.status, status);
    }
    let limited = builder()
        .events(1)
        .rate_limit(Some(1))
        .start()
        .await
        .unwrap();
    get(&limited, "").await;
    assert_eq!(get(&limited, "").await.status, 429);
}

#[tokio::test]
async fn workspace_and_tokens_are_configurable() {
    let server = MockServer::builder()
        .now(now())
        .events(5)
        .workspace_gid("42")
        .token("tok")
        .forbidden_token("nope")
        .start()
        .await
        .unwrap();
    assert_eq!(
        (
            server.workspace_gid(),
            server.token(),
            server.forbidden_token()
        ),
        ("42", "tok", "nope")
    );
    assert!(
        server.base_url().starts_with("http://127.0.0.1:")
            && server.base_url().ends_with("/api/1.0")
    );
    let resp = get(&server, "").await;
    assert_eq!(resp.data().len(), 5);
    assert!(
        resp.data()
            .iter()
            .all(|e| e["resource"]["resource_type"] != "workspace" || e["resource"]["gid"] == "42")
    );
}
