//! `asana-audit detect`: the shipped rules over planted events and near misses, the same alerts
//! from every encoding, the user's rules beside or instead of the pack, `--since`/`--until`,
//! and bad rules refused with their file and line before anything is read or written.

mod common;

use std::path::Path;
use std::process::Output;

use chrono::{Duration, TimeZone, Utc};
use common::{Planted, cmd, seeded_export, text, user};
use serde_json::{Value, json};

/// Runs `detect` on `inputs` with `args`.
fn detect(inputs: &[&Path], args: &[&str]) -> Output {
    cmd()
        .arg("detect")
        .args(inputs)
        .args(args)
        .output()
        .unwrap()
}

/// Runs `detect` on `inputs` and gives the alerts written; fails the test on failure.
fn alerts(inputs: &[&Path], args: &[&str], dir: &Path) -> Vec<Value> {
    let output = dir.join("alerts.ndjson");
    let out = detect(
        inputs,
        &[args, &["--output", output.to_str().unwrap()]].concat(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::read_to_string(output)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// `(title, gids)` of each alert, in the order written.
fn found(alerts: &[Value]) -> Vec<(String, Vec<String>)> {
    alerts
        .iter()
        .map(|a| {
            let gids = a["gids"].as_array().unwrap();
            (
                a["title"].as_str().unwrap().to_string(),
                gids.iter()
                    .map(|g| g.as_str().unwrap().to_string())
                    .collect(),
            )
        })
        .collect()
}

/// A team made public, an admin granted (and a near miss: an admin made super admin), twenty
/// failed logins from one address within the hour (and nineteen from another), as NDJSON.
fn planted(path: &Path) -> Planted {
    let t0 = Utc.with_ymd_and_hms(2026, 10, 1, 8, 0, 0).unwrap();
    let mut planted = Planted::new();
    let anonymous = json!({"actor_type": "anonymous"});
    let changes = [
        ("team_privacy_settings_changed", "private", "public"),
        ("user_workspace_admin_role_changed", "member", "admin"),
        ("user_workspace_admin_role_changed", "admin", "super_admin"),
    ];
    for (minute, (event_type, old, new)) in (0..).zip(changes) {
        let details = json!({"old_value": old, "new_value": new});
        let at = t0 + Duration::minutes(minute);
        planted.add(at, event_type, user(1), "192.0.2.1", details);
    }
    let failed = ("user_login_failed", &json!({"method": "password"}));
    planted.series(t0, 20, 170, failed, &anonymous, "198.51.100.9");
    planted.series(t0, 19, 60, failed, &anonymous, "198.51.100.10");
    planted.failed_logins_to_accounts_of_their_own();
    planted.write(path);
    planted
}

#[test]
fn the_shipped_rules_alert_on_planted_events_and_not_on_near_misses() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.ndjson");
    let planted = planted(&events);
    let written = alerts(&[&events], &[], dir.path());
    let gid = |n: u64| format!("9{n:05}");
    let burst: Vec<String> = (4..24).map(gid).collect();
    assert_eq!(
        found(&written),
        [
            ("Asana Team Made Public".to_string(), vec![gid(1)]),
            ("Asana Admin Role Granted".to_string(), vec![gid(2)]),
            (
                "Asana Failed Logins from One IP Address".to_string(),
                burst.clone()
            ),
        ]
    );
    let burst_alert = &written[2];
    assert_eq!(burst_alert["rule"], "458fb148-e798-4401-8b1b-1e4065c749ad");
    assert_eq!(burst_alert["level"], "high");
    assert_eq!(burst_alert["correlation"], "event_count");
    assert_eq!(
        burst_alert["group"],
        json!({"context.client_ip_address": "198.51.100.9"})
    );
    assert_eq!(burst_alert["window_start"], "2026-10-01T08:00:00Z");
    assert_eq!(burst_alert["window_end"], "2026-10-01T09:00:00Z");
    assert_eq!(burst_alert["count"], 20);
    // The events' JSON as written to the archive.
    let by_gid: std::collections::HashMap<&str, &Value> = planted
        .events
        .iter()
        .map(|(_, e)| (e["gid"].as_str().unwrap(), e))
        .collect();
    let expected: Vec<&Value> = burst.iter().map(|g| by_gid[g.as_str()]).collect();
    assert_eq!(
        burst_alert["events"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        expected
    );
    // Run again: the same alerts, the same ids.
    let again = dir.path().join("again");
    std::fs::create_dir(&again).unwrap();
    assert_eq!(alerts(&[&events], &[], &again), written);
    let ids: std::collections::HashSet<&str> =
        written.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3);
}

/// The same events as NDJSON, gzip and zstd NDJSON, and Parquet (written by `convert`) give
/// the same alerts, byte for byte.
#[tokio::test]
async fn every_encoding_gives_the_same_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let export = seeded_export(dir.path(), 3000).await;
    let output = dir.path().join("alerts.ndjson");
    let out = detect(&[&export], &["--output", output.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let expected = std::fs::read(&output).unwrap();
    assert!(
        !expected.is_empty(),
        "the seeded dataset raises some alerts"
    );
    for encoding in ["ndjson.gz", "ndjson.zst", "parquet"] {
        let archive = dir.path().join(encoding);
        common::convert(&export, &archive, encoding);
        let out = detect(&[&archive], &["--output", "-"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(out.stdout == expected, "{encoding}");
    }
}

/// A rule of the user's: five failed logins from one address within ten minutes.
const FIVE_FAILURES: &str = "title: Five Failed Logins from One Address
id: 6a0c1d2e-0000-4000-8000-000000000005
correlation:
    type: event_count
    rules:
        - asana_login_failed
    group-by:
        - context.client_ip_address
    timespan: 10m
    condition:
        gte: 5
level: medium
";

/// A failed-login rule of the user's, for `--no-shipped-rules`.
const FAILED_LOGIN: &str = "title: Failed Login
name: asana_login_failed
logsource:
    product: asana
    service: audit_log
detection:
    selection:
        event_type: user_login_failed
    condition: selection
level: informational
";

#[test]
fn rules_of_a_folder_are_added_to_the_pack_or_replace_it() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.ndjson");
    planted(&events);
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("five_failures.yml"), FIVE_FAILURES).unwrap();
    let rules_arg = rules.to_str().unwrap();

    // Added: the pack's three alerts, and the user's rule on the address with a failure a
    // minute (at one every 170 s, ten minutes hold four): its second burst, ten minutes on, is
    // folded into the first by the default dedup period of 60 minutes.
    let added = found(&alerts(&[&events], &["--rules", rules_arg], dir.path()));
    let titles: Vec<&str> = added.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(titles.len(), 3 + 1, "{titles:?}");
    assert!(titles.contains(&"Asana Admin Role Granted"));
    assert_eq!(
        added
            .iter()
            .filter(|(t, _)| t == "Five Failed Logins from One Address")
            .map(|(_, gids)| gids.len())
            .collect::<Vec<_>>(),
        [5]
    );

    // Replaced: only the user's rules (the failed-login rule the correlation counts, too),
    // every alert written: both bursts.
    std::fs::write(rules.join("failed_login.yml"), FAILED_LOGIN).unwrap();
    let only = found(&alerts(
        &[&events],
        &[
            "--rules",
            rules_arg,
            "--no-shipped-rules",
            "--alert-dedup",
            "0s",
        ],
        dir.path(),
    ));
    let titles: Vec<&str> = only.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(titles, ["Five Failed Logins from One Address"; 2]);
}

#[test]
fn since_and_until_bound_the_events_evaluated() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.ndjson");
    planted(&events);
    let window = [
        "--since",
        "2026-10-01T08:00:30Z",
        "--until",
        "2026-10-01T08:01:30Z",
    ];
    let titles: Vec<String> = found(&alerts(&[&events], &window, dir.path()))
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(titles, ["Asana Admin Role Granted"]);
}

/// A rule that cannot be evaluated as written: exit 2 naming its file and line, nothing read
/// (the input need not even exist) and the output left as it was.
#[test]
fn bad_rules_are_refused_with_their_file_and_line_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let bad = rules.join("bad.yml");
    let output = dir.path().join("alerts.ndjson");
    std::fs::write(&output, "kept\n").unwrap();
    let missing_input = dir.path().join("no-such-archive");
    let cases = [
        (
            "title: Typo\nlogsource: {product: asana, service: audit_log}\ndetection:\n    sel:\n        event_type|contians: x\n    condition: sel\n",
            ":5: rule 'Typo': unknown modifier 'contians'",
        ),
        (
            "title: Orphan\ncorrelation:\n    type: event_count\n    rules:\n        - no_such_rule\n    timespan: 1h\n    condition: {gte: 2}\n",
            ":5: correlation 'Orphan': refers to rule 'no_such_rule', which is not loaded",
        ),
        ("title: [unclosed\n", ":2: not valid YAML"),
    ];
    for (rule, expected) in cases {
        std::fs::write(&bad, rule).unwrap();
        let out = detect(
            &[&missing_input],
            &[
                "--rules",
                rules.to_str().unwrap(),
                "--output",
                output.to_str().unwrap(),
            ],
        );
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!("{}{expected}", bad.display())),
            "{stderr}"
        );
        assert_eq!(std::fs::read_to_string(&output).unwrap(), "kept\n");
    }
    // --no-shipped-rules without --rules is a usage error.
    let out = detect(
        &[&missing_input],
        &["--no-shipped-rules", "--output", output.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
}
