//! What the binary's test files share.

// Each test file is its own crate that includes this module and uses only some of it; the
// rest would be dead code there, and clippy runs with `-D warnings`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use asana_audit_log_mock::MockServer;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A command for the binary with a clean environment: no token unless given.
pub fn cmd() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_asana-audit"));
    cmd.env_remove("ASANA_ACCESS_TOKEN")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

/// `subcommand` against `server`: [`cmd`] with the server's token, its workspace and base URL.
pub fn against(server: &MockServer, subcommand: &str) -> Command {
    let mut cmd = cmd();
    cmd.env("ASANA_ACCESS_TOKEN", server.token()).args([
        subcommand,
        "--workspace",
        server.workspace_gid(),
        "--base-url",
        server.base_url(),
    ]);
    cmd
}

/// `--output <output> --checkpoint <checkpoint>`, for a command's arguments.
pub fn output_and_checkpoint<'a>(output: &'a Path, checkpoint: &'a Path) -> [&'a str; 4] {
    [
        "--output",
        output.to_str().unwrap(),
        "--checkpoint",
        checkpoint.to_str().unwrap(),
    ]
}

/// A temporary folder for an export's output (`events.ndjson`) and checkpoint (`events.ckpt`);
/// neither file exists yet.
pub struct ExportFiles {
    /// The folder, removed when this is dropped.
    pub dir: tempfile::TempDir,
    pub output: PathBuf,
    pub checkpoint: PathBuf,
}

impl ExportFiles {
    pub fn new() -> ExportFiles {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("events.ndjson");
        let checkpoint = dir.path().join("events.ckpt");
        ExportFiles {
            dir,
            output,
            checkpoint,
        }
    }

    /// `--output <output> --checkpoint <checkpoint>`.
    pub fn args(&self) -> [&str; 4] {
        output_and_checkpoint(&self.output, &self.checkpoint)
    }
}

/// A mock server with `events` events generated from `seed`.
pub async fn mock(events: u64, seed: u64) -> MockServer {
    MockServer::builder()
        .events(events)
        .seed(seed)
        .start()
        .await
        .unwrap()
}

/// Waits until `ready` holds, polling every 50 ms; panics naming `what` once `within` has
/// passed.
pub async fn wait_until(what: &str, within: Duration, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(
            started.elapsed() < within,
            "never happened within {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `events_written` of the checkpoint at `path` (none while there is no readable one).
pub fn events_written(path: &Path) -> Option<u64> {
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    saved["events_written"].as_u64()
}

/// Waits, for at most a minute, until the checkpoint at `path` covers `events` events.
pub async fn wait_for_committed(path: &Path, events: u64) {
    let what = format!("{} covers {events} events", path.display());
    wait_until(&what, Duration::from_secs(60), || {
        events_written(path) == Some(events)
    })
    .await;
}

/// The lines of a file (none when it does not exist).
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Runs a command on a blocking thread (the mock server lives on the test's runtime).
pub async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("the command runs"))
        .await
        .unwrap()
}

/// Runs a command like [`run`], and fails the test, showing its standard error, unless it
/// succeeded.
pub async fn run_ok(cmd: Command) -> Output {
    let out = run(cmd).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    out
}

/// Interrupts a running command (SIGINT), checks that it stopped with exit code 130, the
/// code of a run that saved what it wrote and was interrupted, and returns its output.
pub async fn interrupt(child: Child) -> Output {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    out
}

/// Bytes from a process as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A tiny deterministic generator for kill delays (SplitMix64).
pub struct Delays(pub u64);

impl Delays {
    /// The next delay in `0..max` milliseconds.
    pub fn next_ms(&mut self, max: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % max
    }
}

/// GET `path` from the metrics endpoint: the status code and the body.
pub async fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_string();
    (status, body)
}

/// The value of the sample `name{labels}` in a scrape, 0 when absent.
pub fn sample(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.parse().unwrap())
}

/// A free port on the loopback interface (released for the binary to take).
pub fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// The seeded dataset's end, fixed so that its days and counts never change.
pub fn span_end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap()
}

/// The mock server's seeded dataset of `events` events (seed 7, 30 days), as an NDJSON export.
pub async fn seeded_export(dir: &Path, events: u64) -> PathBuf {
    let server = MockServer::builder()
        .events(events)
        .seed(7)
        .span_end(span_end())
        .start()
        .await
        .unwrap();
    let ndjson: String = server
        .all_events_json()
        .into_iter()
        .map(|(_, json)| json + "\n")
        .collect();
    let path = dir.join("events.ndjson");
    std::fs::write(&path, ndjson).unwrap();
    path
}

/// Events for the findings tests, written in time order.
pub struct Planted {
    /// Each event with its time.
    pub events: Vec<(DateTime<Utc>, Value)>,
    next_gid: u64,
}

impl Planted {
    /// No events yet.
    pub fn new() -> Planted {
        Planted {
            events: Vec::new(),
            next_gid: 1,
        }
    }

    /// Adds an event; returns its gid.
    pub fn add(
        &mut self,
        at: DateTime<Utc>,
        event_type: &str,
        actor: Value,
        ip: &str,
        details: Value,
    ) -> String {
        let gid = format!("9{:05}", self.next_gid);
        self.next_gid += 1;
        self.events.push((
            at,
            json!({
                "gid": gid,
                "created_at": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "event_type": event_type,
                "event_category": asana_audit_log::types::EventType::from(event_type)
                    .category()
                    .map(|c| c.to_string()),
                "actor": actor,
                "resource": {"resource_type": "workspace", "gid": "1", "name": "Acme"},
                "context": {"context_type": "web", "client_ip_address": ip},
                "details": details,
            }),
        ));
        gid
    }

    /// Adds `count` events of one kind, `step` seconds apart from `start`; returns their gids.
    pub fn series(
        &mut self,
        start: DateTime<Utc>,
        count: i64,
        step: i64,
        (event_type, details): (&str, &Value),
        actor: &Value,
        ip: &str,
    ) -> Vec<String> {
        (0..count)
            .map(|i| {
                let at = start + chrono::TimeDelta::seconds(i * step);
                self.add(at, event_type, actor.clone(), ip, details.clone())
            })
            .collect()
    }

    /// Makes each failed login one to an account of its own (its resource), so that no account
    /// sees a burst of them.
    pub fn failed_logins_to_accounts_of_their_own(&mut self) {
        for (_, event) in &mut self.events {
            if event["event_type"] == "user_login_failed" {
                let account = format!("2{}", event["gid"].as_str().unwrap());
                event["resource"] = json!({"resource_type": "user", "gid": account});
            }
        }
    }

    /// Writes the events, in time order, as NDJSON.
    pub fn write(&mut self, path: &Path) {
        self.events.sort_by_key(|(at, _)| *at);
        let text: String = self.events.iter().map(|(_, e)| format!("{e}\n")).collect();
        std::fs::write(path, text).unwrap();
    }
}

/// User `n` as an actor.
pub fn user(n: u32) -> Value {
    json!({"actor_type": "user", "gid": format!("100{n}"), "name": format!("User {n}"), "email": format!("u{n}@acme.example")})
}

/// Re-encodes the NDJSON `export` into `archive` with `encoding` (`asana-audit convert`).
pub fn convert(export: &Path, archive: &Path, encoding: &str) {
    let out = cmd()
        .arg("convert")
        .arg(export)
        .arg("--output")
        .arg(archive)
        .args(["--encoding", encoding])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// `n` teams made public, from `first` on: each one alert of the shipped pack.
pub fn teams_made_public(first: u64, n: u64) -> Vec<Value> {
    (first..first + n)
        .map(|i| {
            json!({
                "event_type": "team_privacy_settings_changed",
                "event_category": "admin_settings",
                "actor": {"actor_type": "user", "gid": "1201", "email": "zoe@northwind.example"},
                "resource": {"resource_type": "team", "gid": format!("1203{i:04}"), "name": format!("Team {i}")},
                "context": {"context_type": "web", "client_ip_address": "203.0.113.7"},
                "details": {"old_value": "private", "new_value": "public"},
            })
        })
        .collect()
}

/// The ids of the alerts `receiver` took, in the order received.
pub fn received_ids(receiver: &asana_audit_log_mock::WebhookReceiver) -> Vec<String> {
    receiver
        .received()
        .iter()
        .map(|alert| alert["id"].as_str().unwrap().to_owned())
        .collect()
}
