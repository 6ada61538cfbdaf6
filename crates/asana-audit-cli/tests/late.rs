//! `follow --lookback` against the mock's late-event mode: every event is written once, across
//! a restart from the checkpoint too; without `--lookback` some late events are never written.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use asana_audit_log_mock::MockServer;
use common::{ExportFiles, against, interrupt, output_and_checkpoint};

/// Events appended while `follow` runs, in batches, the mock's clock moving `STEP` between
/// them; a fifth are late by up to 20 s.
const APPENDED: usize = 10_000;
const BATCH: usize = 100;
const STEP: Duration = Duration::from_secs(2);

fn follow(server: &MockServer, out: &Path, checkpoint: &Path, lookback: Option<&str>) -> Child {
    let mut cmd = against(server, "follow");
    cmd.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .args(["--poll-interval", "5ms", "--checkpoint-every", "200"])
        .args(output_and_checkpoint(out, checkpoint));
    if let Some(window) = lookback {
        cmd.args(["--lookback", window]);
    }
    cmd.spawn().unwrap()
}

fn written_gids(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            event["gid"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Runs follow while the events arrive, restarting it halfway; returns the dataset's gids,
/// how many of them are late (stored before an event appended earlier), and how many times
/// each gid was written.
async fn run(lookback: Option<&str>) -> (Vec<String>, usize, HashMap<String, usize>) {
    let server = MockServer::builder()
        .events(2_000)
        .seed(41)
        .now("2025-06-01T00:00:00Z".parse().unwrap())
        .rate_limit(None)
        .late_events(0.2, Duration::from_secs(20))
        .start()
        .await
        .unwrap();
    let files = ExportFiles::new();
    let (out, checkpoint) = (&files.output, &files.checkpoint);
    let mut child = follow(&server, out, checkpoint, lookback);
    for batch in 0..APPENDED / BATCH {
        server.advance(STEP);
        server.append_generated(BATCH);
        tokio::time::sleep(Duration::from_millis(40)).await;
        if batch == APPENDED / BATCH / 2 {
            // A restart from the checkpoint, mid-run.
            interrupt(child).await;
            let saved = std::fs::read_to_string(checkpoint).unwrap();
            if lookback.is_some() {
                assert!(saved.contains("\"lookback\""), "{saved:.400}");
            }
            child = follow(&server, out, checkpoint, lookback);
        }
    }
    let dataset = server.event_gids();
    // Until every event is written, or nothing more comes for two seconds.
    let mut last = (0, tokio::time::Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let len = written_gids(out).len();
        if len >= dataset.len() {
            // A little longer, for any duplicate to show.
            tokio::time::sleep(Duration::from_millis(500)).await;
            break;
        }
        if len != last.0 {
            last = (len, tokio::time::Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    interrupt(child).await;

    let mut late = 0;
    let mut smallest_after = u64::MAX;
    for gid in dataset.iter().rev() {
        let gid: u64 = gid.parse().unwrap();
        if gid > smallest_after {
            late += 1;
        }
        smallest_after = smallest_after.min(gid);
    }
    let mut times = HashMap::new();
    for gid in written_gids(out) {
        *times.entry(gid).or_insert(0) += 1;
    }
    (dataset, late, times)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_with_lookback_writes_every_late_event_once() {
    let (dataset, late, times) = run(Some("10m")).await;
    assert_eq!(dataset.len(), 2_000 + APPENDED);
    assert!(late >= 1_000, "only {late} late events");
    let missed = dataset.iter().filter(|g| !times.contains_key(*g)).count();
    assert_eq!(missed, 0, "missed events");
    assert!(times.values().all(|&n| n == 1), "repeated events");
    assert_eq!(times.len(), dataset.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_without_lookback_misses_late_events() {
    let (dataset, late, times) = run(None).await;
    assert!(late >= 1_000, "only {late} late events");
    let missed = dataset.iter().filter(|g| !times.contains_key(*g)).count();
    assert!(missed > 0, "the late mode did not bite");
    assert!(times.values().all(|&n| n == 1), "repeated events");
    println!(
        "no lookback: {} events, {late} late, {missed} missed",
        dataset.len()
    );
}
