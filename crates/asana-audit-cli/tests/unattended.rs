//! Running unattended: one writer per checkpoint (exit 5 for a second run), and the metrics
//! and health endpoints of `--metrics-addr`.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use asana_audit_log_mock::{Fault, FaultPlan, MockServer};
use common::{
    ExportFiles, against, free_addr, get, interrupt, mock, output_and_checkpoint, run, sample,
    text, wait_for_committed,
};

/// `SUBCOMMAND` against `server`, with its token in the environment and no client-side pace.
fn command(server: &MockServer, subcommand: &str, extra: &[&str]) -> Command {
    let mut cmd = against(server, subcommand);
    cmd.args(["--requests-per-minute", "0"]).args(extra);
    cmd
}

fn s(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Starts a follow polling every 100 ms into `output` with `checkpoint`, and waits until its
/// checkpoint covers `events`.
async fn start_follow(
    server: &MockServer,
    output: &str,
    checkpoint: &Path,
    extra: &[&str],
    events: u64,
) -> Child {
    let mut args = vec!["--poll-interval", "100ms", "--output", output];
    let checkpoint_arg = s(checkpoint);
    args.extend(["--checkpoint", &checkpoint_arg]);
    args.extend(extra);
    let child = command(server, "follow", &args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_committed(checkpoint, events).await;
    child
}

/// How often each gid occurs in NDJSON `text`.
fn count_gids(text: &str, counts: &mut HashMap<String, usize>) {
    for line in text.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        *counts
            .entry(event["gid"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
}

/// The committed NDJSON files under `dir` (not the staging folder).
fn committed_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() && !name.starts_with('_') {
            committed_files(&path, found);
        } else if name.ends_with(".ndjson") {
            found.push(path);
        }
    }
}

fn assert_each_once(counts: &HashMap<String, usize>, server: &MockServer, what: &str) {
    let expected = server.events_json().len();
    assert_eq!(counts.len(), expected, "{what}: distinct events");
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(repeated.is_empty(), "{what}: repeated {repeated:?}");
}

/// A second run on a checkpoint in use exits 5 with a clear message, and touches nothing.
async fn second_run_is_refused(
    server: &MockServer,
    checkpoint: &Path,
    output: &Path,
    extra: &[&str],
) {
    let before = std::fs::read(checkpoint).unwrap();
    let mut args = vec![
        "--output".to_string(),
        s(output),
        "--checkpoint".to_string(),
        s(checkpoint),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let second = run(command(server, "export", &args)).await;
    let stderr = text(&second.stderr);
    assert_eq!(second.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("another run holds checkpoint"),
        "the message names the cause: {stderr}"
    );
    assert!(stderr.contains(&s(checkpoint)), "{stderr}");
    assert_eq!(
        std::fs::read(checkpoint).unwrap(),
        before,
        "checkpoint untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_a_checkpoint_in_use_exits_5_and_writes_nothing() {
    let server = mock(400, 31).await;
    let ExportFiles {
        dir,
        output,
        checkpoint,
    } = ExportFiles::new();

    // A file output.
    let follow = start_follow(&server, &s(&output), &checkpoint, &[], 400).await;
    let bytes_before = std::fs::read(&output).unwrap();
    second_run_is_refused(&server, &checkpoint, &output, &[]).await;
    // Even with --overwrite, the output is not cut.
    second_run_is_refused(&server, &checkpoint, &output, &["--overwrite"]).await;
    assert_eq!(std::fs::read(&output).unwrap(), bytes_before);
    // Another checkpoint on the same output file: the output's own lock refuses it.
    let other = run(command(
        &server,
        "export",
        &[
            "--output",
            &s(&output),
            "--checkpoint",
            &s(&dir.path().join("other.ckpt")),
        ],
    ))
    .await;
    let stderr = text(&other.stderr);
    assert_eq!(other.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("another run is writing output"), "{stderr}");
    assert!(!dir.path().join("other.ckpt").exists());
    assert_eq!(std::fs::read(&output).unwrap(), bytes_before);

    server.append_generated(25);
    wait_for_committed(&checkpoint, 425).await;
    let out = interrupt(follow).await;
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    let mut counts = HashMap::new();
    count_gids(&std::fs::read_to_string(&output).unwrap(), &mut counts);
    assert_each_once(&counts, &server, "file output");

    // Once the first run has ended, the checkpoint is free again: a rerun resumes it.
    let again = run(command(
        &server,
        "export",
        &output_and_checkpoint(&output, &checkpoint),
    ))
    .await;
    assert!(again.status.success(), "{}", text(&again.stderr));

    // A directory output.
    let archive = dir.path().join("archive");
    // A trailing slash makes it a directory (an ndjson --output is a file otherwise).
    let archive_arg = format!("{}/", s(&archive));
    let checkpoint = dir.path().join("archive.ckpt");
    let follow = start_follow(
        &server,
        &archive_arg,
        &checkpoint,
        &["--encoding", "ndjson", "--rotate-after", "1s"],
        425,
    )
    .await;
    second_run_is_refused(&server, &checkpoint, Path::new(&archive_arg), &[]).await;
    let out = interrupt(follow).await;
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    let mut files = Vec::new();
    committed_files(&archive, &mut files);
    let mut counts = HashMap::new();
    for file in files {
        count_gids(&std::fs::read_to_string(file).unwrap(), &mut counts);
    }
    assert_each_once(&counts, &server, "directory output");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_the_mock_request_log_and_the_silence_alarm_fires() {
    let server = MockServer::builder()
        .events(300)
        .seed(32)
        .faults(
            FaultPlan::new()
                .on_request(
                    2,
                    Fault::TooManyRequests {
                        retry_after_secs: 1,
                    },
                )
                .on_request(
                    4,
                    Fault::TooManyRequests {
                        retry_after_secs: 1,
                    },
                ),
        )
        .start()
        .await
        .unwrap();
    let files = ExportFiles::new();
    let addr = free_addr();
    let ws = server.workspace_gid().to_string();
    let series = |name: &str| format!("asana_audit_{name}{{workspace=\"{ws}\"}}");
    let mut args = vec![
        "--poll-interval",
        "2s",
        "--metrics-addr",
        &addr,
        "--alert-silence",
        "1s",
    ];
    args.extend(files.args());
    let child = command(&server, "follow", &args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_committed(&files.checkpoint, 300).await;

    assert_eq!(get(&addr, "/healthz").await, (200, "ok\n".to_string()));
    assert_eq!(get(&addr, "/readyz").await.0, 200);
    let (status, _) = get(&addr, "/nowhere").await;
    assert_eq!(status, 404);

    // The counters against the mock's log, at a moment when no request is under way (the log
    // reads the same before and after the scrape).
    let started = Instant::now();
    let (log, scrape) = loop {
        let before = server.requests();
        let (status, scrape) = get(&addr, "/metrics").await;
        assert_eq!(status, 200);
        let after = server.requests();
        if before.len() == after.len() && before.last().is_none_or(|r| r.status.is_some()) {
            break (after, scrape);
        }
        assert!(started.elapsed() < Duration::from_secs(60), "never quiet");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let count = |status: u16| log.iter().filter(|r| r.status == Some(status)).count() as f64;
    assert_eq!(count(429), 2.0, "the fault plan's refusals");
    assert_eq!(sample(&scrape, &series("pages_received_total")), count(200));
    assert_eq!(sample(&scrape, &series("rate_limited_total")), count(429));
    let with = |labels: &str| format!("asana_audit_{labels}");
    assert_eq!(
        sample(
            &scrape,
            &with(&format!(
                "retries_total{{workspace=\"{ws}\",reason=\"rate_limited\"}}"
            ))
        ),
        count(429)
    );
    assert_eq!(
        sample(
            &scrape,
            &with(&format!(
                "requests_total{{workspace=\"{ws}\",status=\"429\"}}"
            ))
        ),
        count(429)
    );
    assert_eq!(
        sample(&scrape, &series("request_duration_seconds_count")),
        log.len() as f64
    );
    let delivered: Vec<String> = server.events_json();
    assert_eq!(sample(&scrape, &series("events_received_total")), 300.0);
    let bytes: usize = delivered.iter().map(String::len).sum();
    assert_eq!(
        sample(&scrape, &series("bytes_received_total")),
        bytes as f64
    );
    assert_eq!(sample(&scrape, &series("duplicates_dropped_total")), 0.0);
    // Shown at 0 from the start (a run with no Security Lake sends nothing to a fallback).
    assert_eq!(sample(&scrape, &series("fallback_events_total")), 0.0);
    assert!(sample(&scrape, &series("checkpoint_saves_total")) >= 1.0);
    assert!(sample(&scrape, &series("last_commit_timestamp_seconds")) > 0.0);
    assert!(sample(&scrape, &series("last_successful_poll_timestamp_seconds")) > 0.0);
    let newest: serde_json::Value = serde_json::from_str(delivered.last().unwrap()).unwrap();
    let newest = chrono::DateTime::parse_from_rfc3339(newest["created_at"].as_str().unwrap())
        .unwrap()
        .timestamp_millis() as f64
        / 1000.0;
    assert_eq!(
        sample(&scrape, &series("newest_event_timestamp_seconds")),
        newest
    );
    assert!(sample(&scrape, &series("newest_event_lag_seconds")) >= 0.0);
    assert!(scrape.contains("asana_audit_late_events_caught_total"));

    // No event for over a second: the alarm is raised.
    let started = Instant::now();
    while sample(&get(&addr, "/metrics").await.1, &series("silent")) != 1.0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the alarm never fired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        get(&addr, "/readyz").await.0,
        200,
        "silence is not unreadiness"
    );

    let out = interrupt(child).await;
    assert_eq!(out.status.code(), Some(130));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no audit log event has arrived for --alert-silence"),
        "{stderr}"
    );
}
