//! `asana-audit run --config`: several sources in one process, against mock servers.

mod common;

use std::process::Stdio;
use std::time::Duration;

use asana_audit_log_mock::{Fault, FaultPlan, MockServer};
use common::{
    cmd, events_written, free_addr, get, interrupt, lines, mock, run, run_ok, sample, text,
    wait_until,
};

/// How long a source may take to get somewhere.
const WITHIN: Duration = Duration::from_secs(30);

/// A variable no test sets: a source that names it has no token.
const UNSET: &str = "ASANA_AUDIT_TEST_TOKEN_NEVER_SET";

/// A `[[source]]` for `server`, following every 50 ms, restarting 200 ms after a failure.
fn source(name: &str, server: &MockServer, token: &str) -> String {
    format!(
        "[[source]]\nname = \"{name}\"\nworkspace = \"{}\"\nbase_url = \"{}\"\n{token}\n\
         output = \"{name}.ndjson\"\ncheckpoint = \"{name}.ckpt\"\npoll_interval = \"50ms\"\n\
         restart_after = \"200ms\"\nmax_retries = 1\nrequests_per_minute = 0\n\n",
        server.workspace_gid(),
        server.base_url(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_fail_alone_and_all_commit_on_interrupt() {
    let good = mock(140, 21).await;
    let flaky = mock(90, 22).await;
    flaky.set_faults(FaultPlan::new().with_probability(Fault::InternalServerError, 1.0));
    let refused = mock(30, 23).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("refused.token"), refused.forbidden_token()).unwrap();
    let config = [
        source("good", &good, "token_env = \"GOOD_TOKEN\""),
        source("flaky", &flaky, "token_env = \"FLAKY_TOKEN\""),
        source("refused", &refused, "token_file = \"refused.token\""),
    ]
    .concat();
    std::fs::write(dir.path().join("collector.toml"), config).unwrap();

    let mut command = cmd();
    command
        .env_remove(UNSET)
        .env("GOOD_TOKEN", good.token())
        .env("FLAKY_TOKEN", flaky.token())
        .arg("run")
        .arg("--config")
        .arg(dir.path().join("collector.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();

    let out = |name: &str| dir.path().join(format!("{name}.ndjson"));
    wait_until("the good source has every event", WITHIN, || {
        lines(&out("good")).len() >= 140
    })
    .await;
    // The flaky source has failed (one try and one retry each time) and started again at least
    // once before the storm ends.
    wait_until("the flaky source restarted", WITHIN, || {
        flaky.requests().len() >= 4
    })
    .await;
    assert!(lines(&out("flaky")).is_empty());
    flaky.set_faults(FaultPlan::new());
    wait_until("the flaky source has every event", WITHIN, || {
        lines(&out("flaky")).len() >= 90
    })
    .await;
    // New events reach the sources that follow.
    good.append_generated(12);
    wait_until("the good source has the new events", WITHIN, || {
        lines(&out("good")).len() >= 152
    })
    .await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "run keeps going while a source is refused"
    );

    let output = interrupt(child).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");

    assert_eq!(lines(&out("good")), good.events_json());
    assert_eq!(lines(&out("flaky")), flaky.events_json());
    assert!(lines(&out("refused")).is_empty());
    assert_eq!(events_written(&dir.path().join("good.ckpt")), Some(152));
    assert_eq!(events_written(&dir.path().join("flaky.ckpt")), Some(90));

    assert!(
        stderr.contains("refused") && stderr.contains("this source stops"),
        "{stderr}"
    );
    assert!(
        stderr.contains("flaky") && stderr.contains("starts again from its checkpoint"),
        "{stderr}"
    );
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!stderr.contains(good.token()), "a token leaked: {stderr}");
    assert!(
        !stderr.contains(refused.forbidden_token()),
        "a token leaked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_of_a_config_is_listed_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ok.token"), "a-token\n").unwrap();
    let config = format!(
        r#"# Two sources, many mistakes.
[[source]]
name = "acme"
workspace = "1234"
token_file = "absent.token"
output = "archive/"
checkpoint = "acme.ckpt"
encoding = "ndjson.xz"
poll_interval = "soon"
actor_type = "robot"

[[source]]
name = "beta"
workspace = 5678
token_env = "{UNSET}"
output = "archive/"
checkpoint = "acme.ckpt"
rotate_sise = "1GiB"
event_type = "user_logged_in"
page_size = 500
format = "cef"

[[source]]
workspace = "42"
token_file = "ok.token"
base_url = "http://example.com/api"
output = "-"

colour = "blue"
"#
    );
    std::fs::write(dir.path().join("collector.toml"), config).unwrap();
    let mut command = cmd();
    command
        .env_remove(UNSET)
        .current_dir(dir.path())
        .args(["run", "--config", "collector.toml"]);
    let out = run(command).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let dir_text = std::path::absolute(dir.path()).unwrap();
    let stderr = stderr.replace(&dir_text.display().to_string(), "[DIR]");
    insta::assert_snapshot!("config_errors", stderr);
    assert!(
        std::fs::read_dir(dir.path()).unwrap().count() == 2,
        "nothing was created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prepares_the_sources_and_exits() {
    let server = mock(5, 1).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("collector.toml"),
        source("only", &server, "token_env = \"ONLY_TOKEN\""),
    )
    .unwrap();
    let mut command = cmd();
    command
        .env("ONLY_TOKEN", server.token())
        .arg("run")
        .arg("--check")
        .arg("--config")
        .arg(dir.path().join("collector.toml"));
    let out = run_ok(command).await;
    assert!(text(&out.stdout).contains("1 source ready"));
    assert_eq!(server.request_count(), 0, "--check sends nothing");
}

/// `run --metrics-addr` serves every source at one address: each series carries the source's
/// name beside its workspace (two sources of one workspace stay apart), and /readyz answers
/// for all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_the_metrics_of_every_source_at_one_address() {
    let first = mock(120, 31).await;
    let second = mock(80, 32).await;
    let dir = tempfile::tempdir().unwrap();
    let config = [
        source("first", &first, "token_env = \"FIRST_TOKEN\""),
        source("second", &second, "token_env = \"SECOND_TOKEN\""),
    ]
    .concat();
    std::fs::write(dir.path().join("collector.toml"), config).unwrap();
    let addr = free_addr();
    let mut command = cmd();
    command
        .env("FIRST_TOKEN", first.token())
        .env("SECOND_TOKEN", second.token())
        .arg("run")
        .arg("--config")
        .arg(dir.path().join("collector.toml"))
        .args(["--metrics-addr", &addr])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = command.spawn().unwrap();
    let checkpoint = |name: &str| dir.path().join(format!("{name}.ckpt"));
    wait_until("both sources have every event", WITHIN, || {
        events_written(&checkpoint("first")) == Some(120)
            && events_written(&checkpoint("second")) == Some(80)
    })
    .await;

    let (status, scrape) = get(&addr, "/metrics").await;
    assert_eq!(status, 200);
    for (name, server, events) in [("first", &first, 120.0), ("second", &second, 80.0)] {
        let labels = format!(
            "{{source=\"{name}\",workspace=\"{}\"}}",
            server.workspace_gid()
        );
        let events_received = sample(
            &scrape,
            &format!("asana_audit_events_received_total{labels}"),
        );
        assert_eq!(events_received, events, "{name}: {scrape}");
        assert!(
            sample(
                &scrape,
                &format!("asana_audit_pages_received_total{labels}")
            ) >= 1.0,
            "{name}: {scrape}"
        );
        assert!(
            sample(
                &scrape,
                &format!("asana_audit_checkpoint_saves_total{labels}")
            ) >= 1.0,
            "{name}: {scrape}"
        );
    }
    assert!(
        !scrape.contains("asana_audit_events_received_total{workspace="),
        "a series without its source: {scrape}"
    );
    assert_eq!(get(&addr, "/readyz").await, (200, "ready\n".to_string()));
    assert_eq!(get(&addr, "/healthz").await, (200, "ok\n".to_string()));
    interrupt(child).await;
}

/// A source's `geoip` key is a path relative to the config, checked by `run --check` (an
/// unreadable database is refused with the source's line and the file); without it, that the
/// GeoIP detectors are off is said once, however many sources alert.
#[tokio::test]
async fn geoip_keys_are_checked_and_their_absence_said_once() {
    let server = mock(5, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("collector.toml");
    let alerting = "alert_file = \"alerts.ndjson\"\n";
    let check = || {
        let mut command = cmd();
        command
            .env("ONLY_TOKEN", server.token())
            .args(["run", "--check", "--config"])
            .arg(&config);
        command
    };
    std::fs::write(
        &config,
        source("one", &server, "token_env = \"ONLY_TOKEN\"")
            + alerting
            + &source("two", &server, "token_env = \"ONLY_TOKEN\"")
            + "alert_file = \"alerts-two.ndjson\"\n",
    )
    .unwrap();
    let stderr = text(&run_ok(check()).await.stderr);
    assert_eq!(stderr.matches("no --geoip database").count(), 1, "{stderr}");
    std::fs::write(
        &config,
        source("one", &server, "token_env = \"ONLY_TOKEN\"")
            + alerting
            + "geoip = \"GeoLite2-City.mmdb\"\n",
    )
    .unwrap();
    let out = run(check()).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(":1:1: source one: --geoip: "), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}: not a readable MaxMind DB",
            dir.path().join("GeoLite2-City.mmdb").display()
        )),
        "{stderr}"
    );
    assert_eq!(server.request_count(), 0, "--check sends nothing");
}

/// A source's alert keys: its rules are checked by `run --check` (a bad one is refused with
/// the source's line and the rule's file and line), and `run` appends its alerts to the file
/// the config names, relative to the config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_alert_with_the_rules_and_targets_of_their_keys() {
    let server = mock(20, 5).await;
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("typo.yml"),
        "title: Typo\nlogsource: {product: asana, service: audit_log}\ndetection:\n    sel:\n        event_type|contians: x\n    condition: sel\n",
    )
    .unwrap();
    let config = dir.path().join("collector.toml");
    let alerting = "alert_file = \"alerts.ndjson\"\nrules = \"rules\"\nalert_dedup = \"0s\"\n";
    std::fs::write(
        &config,
        source("only", &server, "token_env = \"ONLY_TOKEN\"") + alerting,
    )
    .unwrap();
    let run_with = |check: bool| {
        let mut command = cmd();
        command.env("ONLY_TOKEN", server.token()).arg("run");
        if check {
            command.arg("--check");
        }
        command.arg("--config").arg(&config);
        command
    };
    let out = run(run_with(true)).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(":1:1: source only: rules: "), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:5: rule 'Typo': unknown modifier 'contians'",
            rules.join("typo.yml").display()
        )),
        "{stderr}"
    );

    // A rule of the user's beside the pack: every team made public.
    std::fs::write(
        rules.join("typo.yml"),
        "title: Team Made Public Again\nlogsource: {product: asana, service: audit_log}\ndetection:\n    sel:\n        event_type: team_privacy_settings_changed\n    condition: sel\nlevel: low\n",
    )
    .unwrap();
    run_ok(run_with(true)).await;
    let mut command = run_with(false);
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    let child = command.spawn().unwrap();
    server
        .append_events([serde_json::json!({
            "event_type": "team_privacy_settings_changed",
            "actor": {"actor_type": "user", "gid": "1201"},
            "resource": {"resource_type": "team", "gid": "1203"},
            "details": {"old_value": "private", "new_value": "public"},
        })])
        .unwrap();
    let planted = server.events().last().unwrap()["gid"].clone();
    let alerts = dir.path().join("alerts.ndjson");
    // The titles of the alerts on the planted event (the seeded events raise others).
    let on_planted = || -> Vec<String> {
        lines(&alerts)
            .iter()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
            .filter(|alert| alert["gids"][0] == planted)
            .map(|alert| alert["title"].as_str().unwrap().to_owned())
            .collect()
    };
    wait_until("the planted event's alerts written", WITHIN, || {
        on_planted().len() >= 2
    })
    .await;
    interrupt(child).await;
    assert_eq!(
        on_planted(),
        ["Asana Team Made Public", "Team Made Public Again"]
    );
}
