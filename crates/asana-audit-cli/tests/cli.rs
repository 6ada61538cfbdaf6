//! End-to-end tests of the `asana-audit` binary against the mock server.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use asana_audit_log_mock::{Fault, FaultPlan, Latency, MockServer};
use common::{
    Delays, ExportFiles, against, cmd, interrupt, lines, mock, run, run_ok, text, wait_until,
};

/// The seed of the mock's dataset in these tests.
const SEED: u64 = 11;

/// `export` against `server`, with its token in the environment.
fn export(server: &MockServer, extra: &[&str]) -> Command {
    let mut cmd = against(server, "export");
    cmd.args(extra);
    cmd
}

// ---------------------------------------------------------------------------------------------
// Bad input: a clear message, exit code 2, and no request sent.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_are_refused_before_any_request() {
    let server = mock(50, SEED).await;
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.ckpt");
    std::fs::write(&corrupt, "{ this is not a checkpoint").unwrap();
    let existing = dir.path().join("existing.ndjson");
    std::fs::write(&existing, "{\"gid\":\"1\"}\n").unwrap();
    let empty_token = dir.path().join("empty.token");
    std::fs::write(&empty_token, "  \n").unwrap();
    let s = |p: &PathBuf| p.to_string_lossy().into_owned();

    // A checkpoint of another workspace's export.
    let foreign = dir.path().join("foreign.ckpt");
    let foreign_out = dir.path().join("foreign.ndjson");
    let made = run(export(
        &server,
        &[
            "--max-events",
            "1",
            "--output",
            &s(&foreign_out),
            "--checkpoint",
            &s(&foreign),
        ],
    ))
    .await;
    assert!(made.status.success(), "{}", text(&made.stderr));
    let foreign_text = std::fs::read_to_string(&foreign)
        .unwrap()
        .replace(server.workspace_gid(), "999999");
    std::fs::write(&foreign, foreign_text).unwrap();
    server.clear_requests();

    let ws = server.workspace_gid().to_string();
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        ("non-numeric workspace", vec!["--workspace".into(), "abc".into()], "numeric gid"),
        ("unparseable start", vec!["--start-at".into(), "yesterday".into()], "RFC 3339"),
        ("unparseable end", vec!["--end-at".into(), "2026-13-45".into()], "RFC 3339"),
        ("start after end", vec!["--start-at".into(), "2026-11-10T00:00:00Z".into(), "--end-at".into(), "2026-11-01T00:00:00Z".into()], "before"),
        ("both actor flags", vec!["--actor-type".into(), "user".into(), "--actor-gid".into(), "123".into()], "cannot be used with"),
        ("unknown actor type", vec!["--actor-type".into(), "robot".into()], "use one of: user, asana"),
        ("non-numeric actor gid", vec!["--actor-gid".into(), "bob".into()], "numeric gid"),
        ("non-numeric resource gid", vec!["--resource-gid".into(), "12x".into()], "numeric gid"),
        ("misspelt event type", vec!["--event-type".into(), "user_login_suceeded".into()], "did you mean user_login_succeeded"),
        ("allow-unknown without a type", vec!["--allow-unknown-event-type".into()], "--event-type"),
        ("page size zero", vec!["--page-size".into(), "0".into()], "between 1 and 100"),
        ("page size too big", vec!["--page-size".into(), "101".into()], "between 1 and 100"),
        ("since zero", vec!["--since".into(), "0s".into()], "more than zero"),
        ("since without unit", vec!["--since".into(), "24".into()], "such as 90s"),
        ("since and start", vec!["--since".into(), "1h".into(), "--start-at".into(), "2026-11-01".into()], "cannot be used with"),
        ("zero max events", vec!["--max-events".into(), "0".into()], "at least 1"),
        ("zero concurrency", vec!["--concurrency".into(), "0".into()], "between 1 and 50"),
        ("concurrency over 50", vec!["--concurrency".into(), "51".into()], "between 1 and 50"),
        ("concurrency without a start", vec!["--concurrency".into(), "4".into()], "bounded window"),
        ("unwritable output", vec!["--output".into(), "/nonexistent-dir/events.ndjson".into()], "cannot open output"),
        ("existing output without checkpoint", vec!["--output".into(), s(&existing)], "already exists"),
        ("corrupt checkpoint", vec!["--checkpoint".into(), s(&corrupt)], "not a valid checkpoint"),
        ("checkpoint of another query", vec!["--output".into(), s(&foreign_out), "--checkpoint".into(), s(&foreign)], "belongs to another query"),
        ("missing token file", vec!["--token-file".into(), "/nonexistent/token".into()], "cannot read --token-file"),
        ("empty token file", vec!["--token-file".into(), s(&empty_token)], "is empty"),
        ("plain http to a remote host", vec!["--base-url".into(), "http://audit.example.com/api/1.0".into()], "https"),
        ("unknown OCSF version", vec!["--format".into(), "ocsf".into(), "--ocsf-version".into(), "1.3".into()], "possible values: 1.1, 1.8"),
        ("OCSF version of raw events", vec!["--ocsf-version".into(), "1.1".into()], "add --format ocsf"),
        ("Security Lake in OCSF 1.8", vec!["--security-lake".into(), "eu-west-1:123456789012".into(), "--ocsf-version".into(), "1.8".into()], "writes OCSF 1.1"),
        ("Security Lake without its sources", vec!["--security-lake".into(), "eu-west-1:123456789012".into()], "Authentication (3002, authentication): user_login_succeeded, user_login_failed"),
        ("Security Lake without a class", lake(&["file_hosting"], &[]), "File Hosting Activity (6006, file_hosting): "),
        ("Security Lake without a fallback", lake(&[], &["--fallback-output"]), "needs --fallback-output"),
        ("Security Lake in two buckets", [lake(&["user_access"], &[]), vec!["--security-lake-source".into(), "user_access=s3://elsewhere/ext/asana-ua/1.0/".into()]].concat(), "more than one bucket"),
        ("Security Lake fallback in a source", [lake(&[], &["--fallback-output"]), vec!["--fallback-output".into(), "s3://lake/ext/asana-authentication/1.0/raw/".into()]].concat(), "overlaps the location"),
        ("Security Lake fallback above the sources", [lake(&[], &["--fallback-output"]), vec!["--fallback-output".into(), "s3://lake/".into()]].concat(), "overlaps the location"),
        ("fallback without a lake", vec!["--format".into(), "ocsf".into(), "--fallback-output".into(), "s3://lake/raw/".into()], "add --security-lake"),
        ("Security Lake output elsewhere", [lake(&[], &[]), vec!["--output".into(), "s3://elsewhere/".into()]].concat(), "not the bucket"),
        ("Security Lake source of no class", [lake(&[], &[]), vec!["--security-lake-source".into(), "auth=s3://lake/ext/a/".into()]].concat(), "one of: account_change (3001)"),
        ("Security Lake source not in S3", [lake(&["authentication"], &[]), vec!["--security-lake-source".into(), "3002=/tmp/lake/ext/a/".into()]].concat(), "does not start with s3://"),
        ("Security Lake source without a lake", vec!["--security-lake-source".into(), "3002=s3://lake/ext/a/".into()], "add --security-lake"),
    ];
    assert!(cases.len() >= 20);
    /// The flags of a Security Lake in bucket `lake`, without the sources of the classes
    /// `without` and without the flags `drop`.
    fn lake(without: &[&str], drop: &[&str]) -> Vec<String> {
        let classes = [
            "account_change",
            "authentication",
            "entity_management",
            "user_access",
            "group_management",
            "web_resources_activity",
            "file_hosting",
        ];
        let mut args: Vec<String> = vec!["--security-lake".into(), "eu-west-1:123456789012".into()];
        if !drop.contains(&"--fallback-output") {
            args.extend([
                "--fallback-output".into(),
                "s3://lake/asana-unmapped/".into(),
            ]);
        }
        for class in classes.into_iter().filter(|c| !without.contains(c)) {
            args.push("--security-lake-source".into());
            args.push(format!("{class}=s3://lake/ext/asana-{class}/1.0/"));
        }
        args
    }
    for (name, args, expected) in &cases {
        let mut command = export(&server, &[]);
        // Later flags win over the defaults set by `export()`.
        command.args(args);
        let out = run(command).await;
        let stderr = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{name}: exit code; stderr: {stderr}"
        );
        assert!(
            stderr.to_lowercase().contains(&expected.to_lowercase()),
            "{name}: stderr should mention {expected:?}, got: {stderr}"
        );
        assert!(
            !stderr.contains(server.token()),
            "{name}: the token leaked: {stderr}"
        );
        assert!(server.requests().is_empty(), "{name}: a request was sent");
    }

    // No token at all.
    let mut command = cmd();
    command.args([
        "export",
        "--workspace",
        &ws,
        "--base-url",
        server.base_url(),
    ]);
    let out = run(command).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("ASANA_ACCESS_TOKEN"));
    // follow cannot fetch concurrently.
    let mut command = cmd();
    command.env("ASANA_ACCESS_TOKEN", server.token()).args([
        "follow",
        "--workspace",
        &ws,
        "--base-url",
        server.base_url(),
        "--since",
        "1h",
        "--concurrency",
        "4",
    ]);
    let out = run(command).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(server.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_never_appears_in_logs_or_output() {
    let server = mock(40, SEED).await;
    for format in ["text", "json"] {
        let mut command = export(
            &server,
            &["-vvv", "--log-format", format, "--page-size", "7"],
        );
        command.env("RUST_LOG", "trace");
        let out = run_ok(command).await;
        let stderr = text(&out.stderr);
        assert!(!stderr.is_empty(), "-vvv logs something");
        assert!(
            !stderr.contains(server.token()),
            "the token leaked into the {format} log"
        );
        assert!(!text(&out.stdout).contains(server.token()));
        if format == "json" {
            for line in stderr.lines() {
                serde_json::from_str::<serde_json::Value>(line)
                    .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_tokens_exit_3_with_a_hint() {
    let server = mock(10, SEED).await;
    for token in [
        server.forbidden_token().to_string(),
        "not-a-known-token".to_string(),
    ] {
        let mut command = export(&server, &[]);
        command.env("ASANA_ACCESS_TOKEN", &token);
        let out = run(command).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{stderr}");
        assert!(
            stderr.contains("hint:") || stderr.contains("service account"),
            "{stderr}"
        );
        assert!(!stderr.contains(&token), "the token leaked: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_api_exits_4_after_the_allowed_retries() {
    let server = MockServer::builder()
        .events(10)
        .faults(FaultPlan::new().with_probability(Fault::InternalServerError, 1.0))
        .start()
        .await
        .unwrap();
    let out = run(export(&server, &["--max-retries", "2"])).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("500"), "{stderr}");
    assert_eq!(server.requests().len(), 3, "one attempt and two retries");
    assert!(out.stdout.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Export

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_every_event_losslessly_in_order() {
    let server = MockServer::builder()
        .events(730)
        .seed(3)
        .forward_compat(true)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("events.ndjson");
    run_ok(export(
        &server,
        &["--page-size", "37", "--output", out_path.to_str().unwrap()],
    ))
    .await;
    let want = server.events_json();
    assert!(
        want.iter().all(|e| !e.contains('\n')),
        "the mock serves compact events"
    );
    assert_eq!(lines(&out_path), want);

    // To standard output too.
    let out = run(export(&server, &[])).await;
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>(),
        want
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_export_equals_sequential_export() {
    let server = mock(1_500, SEED).await;
    let start = server.events()[0]["created_at"]
        .as_str()
        .unwrap()
        .to_string();
    let out = run_ok(export(
        &server,
        &[
            "--start-at",
            &start,
            "--concurrency",
            "4",
            "--page-size",
            "50",
        ],
    ))
    .await;
    let got: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(got, server.events_json());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_events_stops_and_the_checkpoint_continues_after_it() {
    let server = mock(250, SEED).await;
    let files = ExportFiles::new();
    let mut args = vec!["--page-size", "30", "--max-events", "45"];
    args.extend(files.args());
    for expected in [45usize, 90, 135, 180, 225, 250, 250] {
        run_ok(export(&server, &args)).await;
        assert_eq!(lines(&files.output).len(), expected);
    }
    assert_eq!(lines(&files.output), server.events_json());
}

// ---------------------------------------------------------------------------------------------
// Crash safety

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_moments_and_rerun_loses_and_repeats_nothing() {
    // Each page takes a few milliseconds, so a run lasts long enough to be killed mid-way.
    let server = MockServer::builder()
        .events(3_000)
        .seed(5)
        .latency(Latency::Fixed(Duration::from_millis(10)))
        .start()
        .await
        .unwrap();
    let files = ExportFiles::new();
    let mut args = vec!["--page-size", "10", "--checkpoint-every", "15"];
    args.extend(files.args());

    let mut delays = Delays(42);
    let mut kills = 0;
    let mut finished = false;
    while kills < 25 {
        let mut command = export(&server, &[]);
        command
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let delay = Duration::from_millis(5 + delays.next_ms(120));
        tokio::time::sleep(delay).await;
        if child.try_wait().unwrap().is_some() {
            // It finished before the kill: a later run would find nothing more to do.
            finished = true;
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
    }
    // One last run without a kill completes the export.
    let mut command = export(&server, &[]);
    command.args(&args);
    run_ok(command).await;
    assert!(kills >= 20 || finished, "only {kills} kills happened");
    assert!(
        kills >= 20,
        "the export finished after {kills} kills; slow it down"
    );
    let got = lines(&files.output);
    let want = server.events_json();
    assert_eq!(got.len(), want.len(), "every event exactly once");
    assert_eq!(got, want);
}

// ---------------------------------------------------------------------------------------------
// Follow

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_appends_new_events_and_saves_on_interrupt() {
    let server = mock(120, SEED).await;
    let files = ExportFiles::new();
    let mut command = against(&server, "follow");
    command
        .args(["--poll-interval", "50ms"])
        .args(files.args())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = command.spawn().unwrap();

    wait_for_lines(&files.output, 120).await;
    server.append_generated(30);
    wait_for_lines(&files.output, 150).await;
    server.append_generated(5);
    wait_for_lines(&files.output, 155).await;

    interrupt(child).await;
    assert_eq!(lines(&files.output), server.events_json());
    let checkpoint: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.checkpoint).unwrap()).unwrap();
    assert_eq!(checkpoint["events_written"], 155);
}

async fn wait_for_lines(path: &Path, n: usize) {
    // Bounded wait: up to 20 s, polling; a correct binary gets there in well under a second.
    let what = format!("{} reaches {n} lines", path.display());
    wait_until(&what, Duration::from_secs(20), || lines(path).len() >= n).await;
}

// ---------------------------------------------------------------------------------------------
// Snapshots of what a person reads

#[test]
fn help_texts() {
    for args in [
        vec!["--help"],
        vec!["export", "--help"],
        vec!["follow", "--help"],
        vec!["report", "--help"],
        vec!["detect", "--help"],
    ] {
        let out = cmd().args(&args).output().unwrap();
        assert!(out.status.success());
        let name = format!("help_{}", args.join("_").replace("--", ""));
        insta::assert_snapshot!(name, text(&out.stdout));
    }
}

#[test]
fn event_types_table_and_json() {
    let out = cmd().arg("event-types").output().unwrap();
    assert!(out.status.success());
    insta::assert_snapshot!("event_types_table", text(&out.stdout));
    let out = cmd().args(["event-types", "--json"]).output().unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 131);
    insta::assert_json_snapshot!("event_types_json_first_rows", rows.as_array().unwrap()[..3]);
}

#[test]
fn schema_of_one_record() {
    let out = cmd().arg("schema").output().unwrap();
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    insta::assert_json_snapshot!("schema", schema);
}

#[cfg(feature = "demo")]
#[test]
fn demo_runs_without_a_token_and_summarises() {
    let out = cmd().args(["demo", "--show", "1"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let first = stdout.lines().next().unwrap();
    let event: serde_json::Value = serde_json::from_str(first).unwrap();
    assert!(event["gid"].is_string());
    // Times depend on the clock; everything else is fixed by the seed.
    let summary: Vec<&str> = stdout
        .lines()
        .skip(1)
        .map(|line| {
            if line.starts_with("Oldest ") {
                "Oldest [time], newest [time], in created_at order; the stream ended on the first empty page."
            } else if line.starts_with("Took ") {
                "Took [elapsed]"
            } else {
                line
            }
        })
        .collect();
    insta::assert_snapshot!("demo_summary", summary.join("\n"));
}

/// `follow` takes what every source takes and refuses the same conflicts as `export` (stated
/// once for both), and has no flag that means something to `export` alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_refuses_conflicts_and_export_only_flags() {
    let server = mock(10, SEED).await;
    #[rustfmt::skip]
    let cases: [(&[&str], &str); 3] = [
        (&["--actor-type", "user", "--actor-gid", "123"], "cannot be used with"),
        (&["--since", "1h", "--start-at", "2026-11-01"], "cannot be used with"),
        (&["--since", "1h", "--concurrency", "4"], "unexpected argument '--concurrency'"),
    ];
    for (args, expected) in cases {
        let mut command = against(&server, "follow");
        command.args(args);
        let out = run(command).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert!(server.requests().is_empty(), "a request was sent");
}
