//! `follow` with a lookback against the mock's late-event mode: events that become visible
//! with a `created_at` older than events already delivered are delivered, each once, also
//! across a resume from a cursor; without the lookback, offset paging misses some of them.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asana_audit_log::Cursor;
use asana_audit_log_mock::MockServer;
use chrono::{DateTime, Utc};
use common::{client_for, now};
use futures::TryStreamExt;

/// Events appended while the follow runs, in batches of `BATCH`, the clock moving `STEP`
/// between batches.
const APPENDED: usize = 10_000;
const BATCH: usize = 100;
const STEP: Duration = Duration::from_secs(2);
/// A fifth of the appended events are late by up to 20 s: a late event lands up to ten
/// batches back.
const LATE_FRACTION: f64 = 0.2;
const LATE_MAX_AGE: Duration = Duration::from_secs(20);
const LOOKBACK: Duration = Duration::from_secs(25);

/// What a run delivered, against what the mock holds at the end.
struct Outcome {
    delivered: Vec<String>,
    dataset: Vec<String>,
    /// Events of the dataset stored before an event that was appended before them.
    late: usize,
}

impl Outcome {
    fn times_delivered(&self) -> HashMap<&str, usize> {
        let mut times = HashMap::new();
        for gid in &self.delivered {
            *times.entry(gid.as_str()).or_insert(0) += 1;
        }
        times
    }

    fn missed(&self) -> usize {
        let times = self.times_delivered();
        self.dataset
            .iter()
            .filter(|gid| !times.contains_key(gid.as_str()))
            .count()
    }

    fn repeated(&self) -> usize {
        self.times_delivered().values().filter(|&&n| n > 1).count()
    }
}

/// Follows the mock while `APPENDED` events arrive (a fifth of them late), until the follow
/// has delivered every event or is quiet for a while. With `resume_after`, the follow is
/// stopped after that many events and a new one resumes from the cursor's JSON.
async fn run(seed: u64, lookback: Option<Duration>, resume_after: Option<usize>) -> Outcome {
    let server = MockServer::builder()
        .events(2_000)
        .seed(seed)
        .now(now())
        .rate_limit(None)
        .concurrency_limit(None)
        .late_events(LATE_FRACTION, LATE_MAX_AGE)
        .start()
        .await
        .unwrap();
    let client = client_for(&server);
    let workspace = server.workspace_gid().to_owned();
    let delivered = Arc::new(Mutex::new(Vec::<String>::new()));
    let newest = Arc::new(Mutex::new(None::<DateTime<Utc>>));

    let follower = {
        let delivered = Arc::clone(&delivered);
        let newest = Arc::clone(&newest);
        tokio::spawn(async move {
            let request = || {
                let request = client.audit_log_events(&workspace);
                match lookback {
                    Some(window) => request.lookback(window),
                    None => request,
                }
            };
            let mut events = request().follow(Duration::from_millis(2)).unwrap();
            let mut count = 0;
            while let Some(event) = events.try_next().await.unwrap() {
                delivered.lock().unwrap().push(event.gid().to_owned());
                let mut newest = newest.lock().unwrap();
                *newest = (*newest).max(Some(event.created_at()));
                count += 1;
                if Some(count) == resume_after {
                    let saved = events.cursor().to_json();
                    drop(events);
                    let cursor = Cursor::from_json(&saved).unwrap();
                    if lookback.is_some() {
                        assert!(cursor.lookback_gids().count() > 0, "{saved:.300}");
                    }
                    events = request()
                        .resume(cursor)
                        .follow(Duration::from_millis(2))
                        .unwrap();
                }
            }
        })
    };

    // Each batch once the follow has caught up with the one before (it has delivered an event
    // of the newest instant): the late events of a batch then land behind its offset, within
    // the lookback of the newest event it delivers at its next poll.
    for _ in 0..APPENDED / BATCH {
        server.advance(STEP);
        server.append_generated(BATCH);
        let appended_at = server.now();
        let waiting = tokio::time::Instant::now();
        while *newest.lock().unwrap() < Some(appended_at) {
            assert!(
                waiting.elapsed() < Duration::from_secs(30),
                "the follow fell behind"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let dataset = server.event_gids();
    // Until everything is delivered, or nothing more comes for a second.
    let mut last = (0, tokio::time::Instant::now());
    loop {
        let len = delivered.lock().unwrap().len();
        if len >= dataset.len() && lookback.is_some() {
            // A little longer, for any duplicate to show.
            tokio::time::sleep(Duration::from_millis(300)).await;
            break;
        }
        if len != last.0 {
            last = (len, tokio::time::Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(if lookback.is_some() { 20 } else { 1 }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    follower.abort();

    let numbers: Vec<u64> = dataset.iter().map(|gid| gid.parse().unwrap()).collect();
    let mut late = 0;
    let mut smallest_after = u64::MAX;
    for &gid in numbers.iter().rev() {
        if gid > smallest_after {
            late += 1;
        }
        smallest_after = smallest_after.min(gid);
    }
    let delivered = delivered.lock().unwrap().clone();
    Outcome {
        delivered,
        dataset,
        late,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookback_delivers_every_late_event_once() {
    let outcome = run(31, Some(LOOKBACK), None).await;
    assert_eq!(outcome.dataset.len(), 2_000 + APPENDED);
    assert!(outcome.late >= 1_000, "only {} late events", outcome.late);
    assert_eq!(outcome.missed(), 0, "missed events");
    assert_eq!(outcome.repeated(), 0, "repeated events");
    assert_eq!(outcome.delivered.len(), outcome.dataset.len());
    println!(
        "lookback: {} events, {} late, all delivered once",
        outcome.dataset.len(),
        outcome.late
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_lookback_late_events_are_missed() {
    let outcome = run(31, None, None).await;
    assert!(outcome.late >= 1_000, "only {} late events", outcome.late);
    let missed = outcome.missed();
    assert!(missed > 0, "the late mode did not bite");
    assert_eq!(outcome.repeated(), 0);
    println!(
        "no lookback: {} events, {} late, {missed} missed",
        outcome.dataset.len(),
        outcome.late
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookback_survives_a_resume_from_a_cursor() {
    let outcome = run(32, Some(LOOKBACK), Some(7_000)).await;
    assert!(outcome.late >= 1_000, "only {} late events", outcome.late);
    assert_eq!(outcome.missed(), 0, "missed events");
    assert_eq!(outcome.repeated(), 0, "repeated events");
    assert_eq!(outcome.delivered.len(), outcome.dataset.len());
}
