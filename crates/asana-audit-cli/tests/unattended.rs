//! Running unattended: one writer per checkpoint (exit 5 for a second run), and the metrics
//! and health endpoints of `--metrics-addr`.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use asana_audit_log_mock::MockServer;
use common::{run, text};

const BIN: &str = env!("CARGO_BIN_EXE_asana-audit");

async fn mock(events: u64) -> MockServer {
    MockServer::builder()
        .events(events)
        .seed(31)
        .start()
        .await
        .unwrap()
}

/// `SUBCOMMAND` against `server`, with its token in the environment and no client-side pace.
fn command(server: &MockServer, subcommand: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("RUST_LOG")
        .env("ASANA_ACCESS_TOKEN", server.token())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .args([
            subcommand,
            "--workspace",
            server.workspace_gid(),
            "--base-url",
            server.base_url(),
            "--requests-per-minute",
            "0",
        ])
        .args(extra);
    cmd
}

fn s(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Waits until `ready` holds, for at most a minute.
async fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `events_written` of the checkpoint at `path`.
fn events_written(path: &Path) -> Option<u64> {
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    saved["events_written"].as_u64()
}

/// Stops a follow with SIGINT and returns its output (exit 130 expected).
async fn interrupt(child: Child) -> std::process::Output {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
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
    wait_until("the follow caught up", || {
        events_written(checkpoint) == Some(events)
    })
    .await;
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
    let server = mock(400).await;
    let dir = tempfile::tempdir().unwrap();

    // A file output.
    let output = dir.path().join("events.ndjson");
    let checkpoint = dir.path().join("events.ckpt");
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
    wait_until("the follow wrote the new events", || {
        events_written(&checkpoint) == Some(425)
    })
    .await;
    let out = interrupt(follow).await;
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    let mut counts = HashMap::new();
    count_gids(&std::fs::read_to_string(&output).unwrap(), &mut counts);
    assert_each_once(&counts, &server, "file output");

    // Once the first run has ended, the checkpoint is free again: a rerun resumes it.
    let again = run(command(
        &server,
        "export",
        &["--output", &s(&output), "--checkpoint", &s(&checkpoint)],
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
