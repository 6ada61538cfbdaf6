//! The shipped rule pack checked by pySigma, Sigma's reference implementation: every rule loads
//! there, passes the SigmaHQ validators and converts with the Splunk, Elasticsearch (Lucene and
//! ES|QL), Kusto and DuckDB backends; and on a fixture of planted events, near misses and the
//! mock server's realistic dataset, each detection rule matches the same events in our
//! evaluator as the DuckDB backend's query run in DuckDB, and as the Databricks backend's Spark
//! SQL run in Apache Spark (local mode) over a Parquet file with the archive's columns, except
//! where a backend departs from the Sigma specification (listed in `DEPARTURES` and
//! `SPARK_DEPARTURES`, where the specification's answer is asserted instead).
//!
//! The Python side is `tests/py/sigma_check.py`, run with the interpreter named by
//! `ASANA_AUDIT_PYTHON`: `cargo xtask test` makes a virtualenv with the pinned pySigma packages
//! and DuckDB under `target/` and sets it.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use asana_audit_log_mock::MockServer;
use asana_audit_rules::RuleSet;
use serde_json::{Value, json};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/sigma_check.py");
const VALIDATOR_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sigmahq");

fn python() -> PathBuf {
    std::env::var_os("ASANA_AUDIT_PYTHON")
        .map(PathBuf::from)
        .expect(
            "ASANA_AUDIT_PYTHON must name a Python with pysigma, its SigmaHQ validators, its \
             Splunk, Elasticsearch, Kusto, DuckDB and Databricks backends, duckdb, pyarrow and \
             pyspark: run the tests with `cargo xtask test`, which makes that virtualenv",
        )
}

/// The embedded pack (what users of the library get), written out as files.
fn pack_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in RuleSet::shipped_files() {
        let file = name.strip_prefix("rules/").unwrap();
        std::fs::write(dir.path().join(file), text).unwrap();
    }
    dir
}

/// Runs `sigma_check.py` with `args` and returns the JSON it prints.
fn sigma_check(args: &[&std::ffi::OsStr]) -> (bool, Value) {
    let out = Command::new(python())
        .arg(SCRIPT)
        .args(args)
        .output()
        .expect("running sigma_check.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "sigma_check.py printed no JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), report)
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_rule_loads_in_pysigma_passes_the_sigmahq_validators_and_converts() {
    let pack = pack_dir();
    let (ok, report) = sigma_check(&[
        "check".as_ref(),
        pack.path().as_os_str(),
        VALIDATOR_DATA.as_ref(),
    ]);
    let errors = strings(&report["errors"]);
    let issues = strings(&report["issues"]);
    assert!(errors.is_empty(), "pySigma errors:\n{}", errors.join("\n"));
    assert!(
        issues.is_empty(),
        "validator issues:\n{}",
        issues.join("\n")
    );
    assert!(ok, "sigma_check.py failed: {report}");

    let rules = RuleSet::shipped();
    assert_eq!(report["files"], RuleSet::shipped_files().len());
    let ours: BTreeSet<&str> = rules.rules().iter().map(|r| r.id().unwrap()).collect();
    let theirs: BTreeSet<String> = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ours.len(),
        rules.rules().len(),
        "every shipped rule has a distinct id"
    );
    assert_eq!(
        ours,
        theirs.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        "pySigma and we load the same rules"
    );
    let validators = strings(&report["validators"]);
    assert!(
        validators.iter().any(|v| v.starts_with("sigmahq_")) && validators.len() > 50,
        "the SigmaHQ validators ran: {validators:?}"
    );

    let correlations = rules
        .rules()
        .iter()
        .filter(|r| r.correlation_type().is_some())
        .count();
    let detections = rules.rules().len() - correlations;
    let alerting = rules
        .rules()
        .iter()
        .filter(|r| r.correlation_type().is_none() && rules.generates(r))
        .count();
    assert_eq!((correlations, detections), (4, 23));
    // Backends that convert correlations emit one query per correlation and per detection rule
    // that alerts on its own (a rule that only feeds a correlation is part of that query); the
    // others convert each detection rule alone.
    for (backend, expected) in [
        ("splunk", alerting + correlations),
        ("esql", alerting + correlations),
        ("duckdb", alerting + correlations),
        ("lucene", detections),
        ("kusto", detections),
    ] {
        let queries = strings(&report["queries"][backend]);
        assert_eq!(queries.len(), expected, "{backend}: {queries:#?}");
        assert!(
            queries.iter().all(|q| !q.trim().is_empty()),
            "{backend}: {queries:#?}"
        );
    }
    let splunk = strings(&report["queries"]["splunk"]).join("\n");
    assert!(
        splunk.contains("| stats count as event_count by _time context.client_ip_address")
            && splunk.contains("| search event_count >= 20"),
        "the failed-logins correlation converts to a Splunk count per IP: {splunk}"
    );
}

/// Where a backend answers differently from the Sigma specification.
#[derive(Clone, Copy)]
struct Departure {
    /// The rule's title.
    rule: &'static str,
    /// The specification's answer on the events `applies` picks (which we give).
    spec: bool,
    /// The specification's rule, and what the backend does instead.
    why: &'static str,
    /// The events it concerns.
    applies: fn(&Value) -> bool,
}

fn field<'a>(event: &'a Value, path: &str) -> Option<&'a str> {
    path.split('.').try_fold(event, |v, k| v.get(k))?.as_str()
}

/// Both SQL backends: `not` over a comparison with a field the event lacks.
const NOT_OVER_A_MISSING_FIELD: Departure = Departure {
    rule: "Asana Admin Role Granted",
    spec: true,
    why: "a missing field does not contain 'admin', so 'not filter' holds; in SQL the missing \
          column is NULL, NOT (a comparison with NULL) is NULL and the row is dropped",
    applies: |e| {
        field(e, "event_type") == Some("user_workspace_admin_role_changed")
            && field(e, "details.new_value").is_some_and(|v| v.contains("admin"))
            && field(e, "details.old_value").is_none()
    },
};

/// Where the DuckDB backend (0.1.4) answers differently from the Sigma specification.
const DEPARTURES: &[Departure] = &[
    Departure {
        rule: "Asana Team Made Public",
        spec: true,
        why: "the specification matches strings case-insensitively; the backend compares a value \
              without wildcards or underscores with '=' ('PUBLIC' <> 'public')",
        applies: |e| {
            field(e, "details.new_value")
                .is_some_and(|v| v != "public" && v.eq_ignore_ascii_case("public"))
        },
    },
    NOT_OVER_A_MISSING_FIELD,
    Departure {
        rule: "Asana Admin Role Granted",
        spec: false,
        why: "'_' is an ordinary character in a Sigma string; the backend passes it to ILIKE, where \
              '_' matches any one character ('user-workspace-admin-role-changed' matches)",
        applies: |e| field(e, "event_type") == Some("user-workspace-admin-role-changed"),
    },
    Departure {
        rule: "Asana Object Deleted",
        spec: false,
        why: "'|endswith: _deleted' is a plain suffix in Sigma; the backend writes ILIKE \
              '%_deleted', where '_' matches any character, so every '*_undeleted' type matches",
        applies: |e| {
            field(e, "event_category") == Some("deletion")
                && field(e, "event_type").is_some_and(|t| t.ends_with("_undeleted"))
        },
    },
];

/// Where the Databricks backend (0.1.7), run in Spark, answers differently from the Sigma
/// specification (its comparisons lower-case both sides, as the specification's
/// case-insensitive matching asks, and it does not use LIKE, so `_` is no wildcard there).
const SPARK_DEPARTURES: &[Departure] = &[NOT_OVER_A_MISSING_FIELD];

/// Events planted for each rule, with the titles of the rules that must match each (empty for
/// a near miss).
fn planted() -> Vec<(Value, Vec<&'static str>)> {
    let mut gid = 9_000_000_000_000_100u64;
    let mut event = |event_type: &str, details: Value, titles: Vec<&'static str>| {
        gid += 1;
        let event = json!({
            "gid": gid.to_string(),
            "created_at": format!("2026-03-01T{:02}:{:02}:00.000Z", gid % 24, gid % 60),
            "event_type": event_type,
            "event_category": "admin_settings",
            "actor": {"actor_type": "user", "gid": "1201000000000042", "name": "Zoë Łukasiewicz",
                      "email": "zoe.lukasiewicz@northwind.example"},
            "resource": {"resource_type": "workspace", "gid": "1200000000000001",
                         "name": "Northwind Traders"},
            "context": {"context_type": "web", "client_ip_address": "203.0.113.7",
                        "user_agent": "Mozilla/5.0"},
            "details": details,
        });
        (event, titles)
    };
    let team_public = "Asana Team Made Public";
    let admin = "Asana Admin Role Granted";
    let never = "Asana Default Session Duration Set to Never";
    let changed = "Asana Session Duration Changed";
    let saml = "Asana SAML Changed from Required to Optional";
    let sso = "Asana SSO Settings Changed";
    let tokens = "Asana App or Token Usage Loosened";
    let mut events = vec![
        // 101..=103: team privacy.
        event(
            "team_privacy_settings_changed",
            json!({"old_value": "private", "new_value": "public"}),
            vec![team_public],
        ),
        event(
            "team_privacy_settings_changed",
            json!({"old_value": "private", "new_value": "PUBLIC"}),
            vec![team_public],
        ),
        event(
            "team_privacy_settings_changed",
            json!({"old_value": "public", "new_value": "private"}),
            vec![],
        ),
        // 104..=106: session duration.
        event(
            "workspace_default_session_duration_changed",
            json!({"old_value": "14 days", "new_value": "never"}),
            vec![never],
        ),
        event(
            "workspace_default_session_duration_changed",
            json!({"old_value": "14 days", "new_value": "30 days"}),
            vec![changed],
        ),
        event(
            "workspace_idle_session_duration_changed",
            json!({"old_value": "1 hour", "new_value": "never"}),
            vec![changed],
        ),
        // 107..=109: SAML and SSO.
        event(
            "workspace_saml_settings_changed",
            json!({"old_value": "required", "new_value": "optional"}),
            vec![saml],
        ),
        event(
            "workspace_saml_settings_changed",
            json!({"old_value": "optional", "new_value": "required"}),
            vec![sso],
        ),
        event(
            "workspace_saml_url_changed",
            json!({"old_value": "https://idp.northwind.example/a", "new_value": "https://idp.example/b"}),
            vec![sso],
        ),
        // 110..=114: admin roles.
        event(
            "user_workspace_admin_role_changed",
            json!({"old_value": "member", "new_value": "admin"}),
            vec![admin],
        ),
        event(
            "user_workspace_admin_role_changed",
            json!({"old_value": "admin", "new_value": "super_admin"}),
            vec![],
        ),
        event(
            "user_division_admin_role_changed",
            json!({"old_value": "division_admin", "new_value": "member"}),
            vec![],
        ),
        event(
            "user_workspace_admin_role_changed",
            json!({"new_value": "domain_admin"}),
            vec![admin],
        ),
        event(
            "user-workspace-admin-role-changed",
            json!({"old_value": "member", "new_value": "admin"}),
            vec![],
        ),
        // 115..=119: tokens and apps.
        event(
            "workspace_personal_access_token_expiry_changed",
            json!({"old_value": "90 days", "new_value": "never"}),
            vec![tokens],
        ),
        event(
            "workspace_personal_access_token_expiry_changed",
            json!({"old_value": "never", "new_value": "90 days"}),
            vec![],
        ),
        event(
            "workspace_guest_app_usage_setting_changed",
            json!({"old_value": "disabled", "new_value": "everyone"}),
            vec![tokens],
        ),
        event(
            "workspace_guest_pat_usage_setting_changed",
            json!({"old_value": "everyone", "new_value": "admins_only"}),
            vec![],
        ),
        event(
            "workspace_require_app_approvals_of_type_changed",
            json!({"old_value": "on", "new_value": "off"}),
            vec!["Asana App Approval Requirement Turned Off"],
        ),
        // 120..=125: other settings.
        event(
            "workspace_require_app_approvals_of_type_changed",
            json!({"old_value": "off", "new_value": "on"}),
            vec![],
        ),
        event(
            "workspace_guest_invite_permissions_changed",
            json!({"old_value": "admins_only", "new_value": "anyone"}),
            vec!["Asana Guest Invites Open to Anyone"],
        ),
        event(
            "workspace_password_requirements_changed",
            json!({"old_value": "strong", "new_value": "simple"}),
            vec!["Asana Password Requirements Set to Simple"],
        ),
        event(
            "workspace_password_requirements_changed",
            json!({"old_value": "simple", "new_value": "strong"}),
            vec![],
        ),
        event(
            "workspace_ip_allowlist_api_traffic_disabled",
            json!({"old_value": "on", "new_value": "off"}),
            vec!["Asana IP Allowlist Weakened"],
        ),
        event(
            "workspace_allowed_ip_range_removed",
            json!({"old_value": "203.0.113.0/24"}),
            vec![],
        ),
    ];
    // 126: Asana support, seen only in the context.
    let (mut support, _) = event(
        "workspace_security_contact_email_changed",
        json!({}),
        vec![],
    );
    support["actor"] = json!({"actor_type": "user", "gid": "1201000000000042"});
    support["context"] =
        json!({"context_type": "asana_support", "on_behalf_of_user_id": 1201000000000042u64});
    events.push((support, vec!["Asana Support Acted in the Domain"]));
    // 127..=128: deletions (and an undeletion, a near miss).
    let (mut deleted, _) = event("task_deleted", json!({"method": "web"}), vec![]);
    deleted["event_category"] = json!("deletion");
    events.push((deleted, vec!["Asana Object Deleted"]));
    let (mut undeleted, _) = event("task_undeleted", json!({}), vec![]);
    undeleted["event_category"] = json!("deletion");
    events.push((undeleted, vec![]));
    events
}

/// The events the backends are compared on: the planted ones (each checked here to match
/// exactly its expected rules), then 4,000 of the mock server's realistic dataset.
async fn fixture(rules: &RuleSet) -> (Vec<Value>, usize) {
    let mock = MockServer::builder()
        .events(4000)
        .seed(23)
        .forward_compat(true)
        .start()
        .await
        .unwrap();
    let realistic = mock.events();
    mock.shutdown().await;
    let planted = planted();
    for (event, titles) in &planted {
        let matched: BTreeSet<&str> = rules.matching(event).map(|r| r.title()).collect();
        assert_eq!(matched, titles.iter().copied().collect(), "{event}");
    }
    let count = planted.len();
    let events = planted
        .into_iter()
        .map(|(e, _)| e)
        .chain(realistic)
        .collect();
    (events, count)
}

#[tokio::test(flavor = "multi_thread")]
async fn detection_matches_agree_with_the_duckdb_backend() {
    agree_with("duckdb", "DuckDB", DEPARTURES).await;
}

/// The same comparison in Apache Spark (local mode): the Databricks backend's Spark SQL over a
/// Parquet file with the archive's `gid` and `event_json` columns, as one would run the pack over
/// an archive that outgrew one machine.
#[tokio::test(flavor = "multi_thread")]
async fn detection_matches_agree_with_the_databricks_backend_in_spark() {
    agree_with("spark", "Spark", SPARK_DEPARTURES).await;
}

/// Runs `sigma_check.py COMMAND PACK EVENTS` over the [`fixture`] and checks that each detection
/// rule's matches there (`engine`'s) are ours, but for the listed `departures` of that backend,
/// where ours must give the specification's answer and the backend the other.
async fn agree_with(command: &str, engine: &str, departures: &[Departure]) {
    let rules = RuleSet::shipped();
    let (events, planted) = fixture(&rules).await;
    let dir = tempfile::tempdir().unwrap();
    let ndjson = dir.path().join("events.ndjson");
    let text: String = events.iter().map(|e| format!("{e}\n")).collect();
    std::fs::write(&ndjson, text).unwrap();
    let pack = pack_dir();
    let (ok, found) = sigma_check(&[
        command.as_ref(),
        pack.path().as_os_str(),
        ndjson.as_os_str(),
    ]);
    assert!(ok, "{found}");

    let mut compared = 0;
    let mut matches = 0;
    let mut departed = 0;
    for rule in rules
        .rules()
        .iter()
        .filter(|r| r.correlation_type().is_none())
    {
        let id = rule.id().unwrap();
        let gid = |e: &&Value| e["gid"].as_str().unwrap().to_string();
        let theirs: BTreeSet<String> = strings(&found[id]["gids"]).into_iter().collect();
        let ours: BTreeSet<String> = events
            .iter()
            .filter(|e| rule.matches(e))
            .map(|e| gid(&e))
            .collect();
        assert!(
            !ours.is_empty(),
            "{}: the fixture has no event it matches",
            rule.title()
        );
        let mut expected_theirs = ours.clone();
        for departure in departures.iter().filter(|d| d.rule == rule.title()) {
            let concerned: Vec<String> = events
                .iter()
                .filter(|e| (departure.applies)(e))
                .map(|e| gid(&e))
                .collect();
            assert!(
                !concerned.is_empty(),
                "{}: no event shows the departure: {}",
                rule.title(),
                departure.why
            );
            for gid in concerned {
                assert_eq!(
                    ours.contains(&gid),
                    departure.spec,
                    "{}, event {gid}: {}",
                    rule.title(),
                    departure.why
                );
                assert_eq!(
                    theirs.contains(&gid),
                    !departure.spec,
                    "{}, event {gid}: {engine} no longer departs from the specification here \
                     ({}); remove the entry from its departures",
                    rule.title(),
                    departure.why
                );
                if departure.spec {
                    expected_theirs.remove(&gid);
                } else {
                    expected_theirs.insert(gid);
                }
                departed += 1;
            }
        }
        assert_eq!(
            theirs,
            expected_theirs,
            "{}: {engine}'s matches (left) and ours less the listed departures (right) differ\nquery: {}",
            rule.title(),
            found[id]["query"]
        );
        compared += 1;
        matches += ours.len();
    }
    assert_eq!(compared, 23);
    eprintln!(
        "{compared} detection rules, {} events ({planted} planted): {matches} matches; {engine}'s \
         are the same but for {departed} answers of {} listed departures",
        events.len(),
        departures.len()
    );
}
