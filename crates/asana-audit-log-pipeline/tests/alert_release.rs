//! When a run's alerts go out: once a checkpoint covering the events of the poll that raised
//! them is saved, as soon as the stream has no event ready, without waiting for the periodic
//! save (a line output) or for the files to be due (an archive). The runs use tokio's paused
//! clock, which moves only while every task waits, and a stream that hands out one poll's page
//! and then has nothing more, as a caught-up `follow` does until its next poll.

use std::collections::VecDeque;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use asana_audit_log::{AuditLogEvent, AuditLogStream, Client, Cursor, EventStream, Query};
use asana_audit_log_pipeline::{
    AlertTarget, Alerting, Checkpoint, Destination, Output, Pipeline, Summary,
};
use asana_audit_rules::RuleSet;
use futures::Stream;
use tokio::time::Instant;

/// The pipeline's periodic save: at least this often while events flow.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// One poll's page, then nothing (never ready again): what a caught-up follow looks like
/// between polls. Its cursor and query are those of a stream that never fetched.
struct OnePoll {
    start: EventStream,
    page: VecDeque<AuditLogEvent>,
}

impl Stream for OnePoll {
    type Item = Result<AuditLogEvent, asana_audit_log::Error>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.page.pop_front() {
            Some(event) => Poll::Ready(Some(Ok(event))),
            None => Poll::Pending,
        }
    }
}

impl AuditLogStream for OnePoll {
    fn cursor(&self) -> Cursor {
        self.start.cursor()
    }

    fn query(&self) -> &Query {
        self.start.query()
    }
}

/// A page of four events, the first and the last a team made public (one alert each of the
/// shipped pack), the others events no rule matches.
fn page() -> VecDeque<AuditLogEvent> {
    (0..4)
        .map(|i| {
            let event_type = if i % 3 == 0 {
                "team_privacy_settings_changed"
            } else {
                "task_deleted"
            };
            let json = serde_json::json!({
                "gid": format!("120800000000000{i}"),
                "created_at": format!("2026-03-01T10:00:0{i}.000Z"),
                "event_type": event_type,
                "actor": {"actor_type": "user", "gid": "1201", "email": "zoe@northwind.example"},
                "resource": {"resource_type": "team", "gid": format!("120{i}"), "name": "Eng"},
                "context": {"context_type": "web", "client_ip_address": "203.0.113.7"},
                "details": {"old_value": "private", "new_value": "public"},
            });
            AuditLogEvent::from_json(&json.to_string()).unwrap()
        })
        .collect()
}

/// Runs `pipeline`, alerting into `alerts`, over one poll's page; once both alerts are in the
/// file, checks that the checkpoint then saved covers the page and calls `at_delivery`, then
/// stops the run and gives how long (on the paused clock) the alerts took.
async fn run_one_poll(
    mut pipeline: Pipeline,
    alerts: &Path,
    at_delivery: impl FnOnce(),
) -> (Duration, Summary) {
    let mut alerting = Alerting::new(
        RuleSet::shipped(),
        vec![AlertTarget::File(alerts.to_owned())],
    );
    // Every match is an alert (the two of the page are not folded into one).
    alerting.dedup = Duration::ZERO;
    pipeline.alerting = Some(alerting);
    let checkpoint = pipeline.checkpoint.clone().expect("the test gives one");
    let client = Client::builder().token("0/1:unused").build().unwrap();
    let query = client.audit_log_events("1").to_query().unwrap();
    let planned = pipeline.plan(query).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let run = planned.run(
        &client,
        |request| {
            Ok(OnePoll {
                start: request.stream()?,
                page: page(),
            })
        },
        async {
            let _ = stopped.await;
        },
        &(),
    );
    let delivered = || {
        std::fs::read_to_string(alerts)
            .map(|text| text.lines().count())
            .unwrap_or(0)
    };
    let watch = async {
        // Each step lets the paused clock move by 1 ms, at most for a minute.
        for _ in 0..60_000 {
            if delivered() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let took = started.elapsed();
        assert_eq!(delivered(), 2, "both alerts were delivered");
        // An alert goes out only once a checkpoint covering its event is saved.
        let saved = Checkpoint::load(&checkpoint).unwrap().unwrap();
        assert_eq!(saved.events_written, 4);
        at_delivery();
        stop.send(()).unwrap();
        took
    };
    let (summary, took) = tokio::join!(run, watch);
    (took, summary.unwrap())
}

/// A line output's checkpoint is saved as soon as the page is written: its alerts go out at
/// once, not at the next periodic save (before this, only the first event's alert did, the
/// others a second later).
#[tokio::test(start_paused = true)]
async fn a_pages_alerts_go_out_once_it_is_saved_not_at_the_periodic_save() {
    let dir = tempfile::tempdir().unwrap();
    let mut pipeline = Pipeline::new(Output::File(dir.path().join("events.ndjson")));
    pipeline.checkpoint = Some(dir.path().join("events.ckpt"));
    let (took, summary) = run_one_poll(pipeline, &dir.path().join("alerts.ndjson"), || {}).await;
    assert!(
        took < CHECKPOINT_EVERY,
        "the alerts waited {took:?} on the paused clock: for the periodic save"
    );
    assert_eq!(summary.written, 4);
    assert!(summary.stopped);
}

/// An archive commits its open files for waiting alerts instead of keeping them until the
/// files are due (`max_file_age`, 10 minutes here): the alerts go out within a second of the
/// page (the least time between two commits brought forward by alerts), and the page's events
/// are in a committed file by then.
#[tokio::test(start_paused = true)]
async fn an_archive_commits_for_waiting_alerts_before_its_files_are_due() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    let destination = Destination::parse(root.to_str().unwrap()).unwrap();
    let mut pipeline = Pipeline::new(Output::Archive(destination));
    pipeline.sink.max_file_age = Duration::from_secs(600);
    pipeline.checkpoint = Some(dir.path().join("events.ckpt"));
    let alerts = dir.path().join("alerts.ndjson");
    let (took, summary) = run_one_poll(pipeline, &alerts, || {
        assert_eq!(committed_lines(&root), 4, "the page's events are committed");
    })
    .await;
    assert!(
        took <= CHECKPOINT_EVERY + Duration::from_millis(10),
        "the alerts waited {took:?} on the paused clock"
    );
    assert_eq!(summary.written, 4);
}

/// The lines of the committed files under `root` (the staging folder left out).
fn committed_lines(root: &Path) -> usize {
    let mut lines = 0;
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == asana_audit_log_pipeline::STAGING_DIR {
            continue;
        }
        if path.is_dir() {
            lines += committed_lines(&path);
        } else {
            lines += std::fs::read_to_string(&path).unwrap().lines().count();
        }
    }
    lines
}
