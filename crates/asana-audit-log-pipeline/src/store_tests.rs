//! The object-store paths of the sink and the pipeline, against `object_store`'s in-memory
//! store: the probe, the upload of committed files, recovery of a commit a crash interrupted,
//! a whole pipeline run into OCSF Parquet, resumed, and a landing of events that come from
//! elsewhere. (The same paths against a real S3-compatible server are tested by the CLI's
//! tests, with moto.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use asana_audit_log::AuditLogEvent;
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::{
    Commit, Destination, Encoding, Format, FormatSink, Observer, OcsfVersion, Output, Pipeline,
    Recovery, Sink, SinkOptions,
};

/// Names of every object in `store`, sorted.
async fn objects(store: &InMemory) -> Vec<String> {
    let mut names: Vec<String> = store
        .list(None)
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap();
    names.sort();
    names
}

fn event(gid: u64, day: u32) -> AuditLogEvent {
    AuditLogEvent::from_json(&format!(
        r#"{{"gid":"{gid}","created_at":"2026-11-{day:02}T10:00:00.000Z","event_type":"user_login_succeeded","actor":{{"actor_type":"user","gid":"7"}}}}"#
    ))
    .unwrap()
}

fn options(staging: &tempfile::TempDir, encoding: Encoding) -> SinkOptions {
    let mut options = SinkOptions::new(encoding);
    options.staging_dir = Some(staging.path().to_owned());
    options
}

/// A mock server of `events` events, a client of it, the query of all its events, and a
/// pipeline into `store` (NDJSON, checkpoint in `staging`) for runs of that query.
struct Runs {
    _mock: asana_audit_log_mock::MockServer,
    client: asana_audit_log::Client,
    query: asana_audit_log::Query,
    gids: Vec<String>,
    /// The `memory://` bucket of `store`, of no other test.
    bucket: String,
    store: Arc<InMemory>,
    staging: tempfile::TempDir,
}

/// A bucket name no other test uses.
fn bucket() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("test-{n}")
}

impl Runs {
    async fn new(events: u64) -> Runs {
        let mock = asana_audit_log_mock::MockServer::builder()
            .events(events)
            .start()
            .await
            .unwrap();
        let client = asana_audit_log::Client::builder()
            .token(mock.token())
            .base_url(mock.base_url())
            .build()
            .unwrap();
        let query = client
            .audit_log_events(mock.workspace_gid())
            .to_query()
            .unwrap();
        let mut gids: Vec<String> = mock
            .events()
            .iter()
            .map(|event| event["gid"].as_str().unwrap().to_owned())
            .collect();
        gids.sort();
        let bucket = bucket();
        Runs {
            _mock: mock,
            client,
            query,
            gids,
            store: crate::destination::memory_store(&bucket),
            bucket,
            staging: tempfile::tempdir().unwrap(),
        }
    }

    fn checkpoint(&self) -> std::path::PathBuf {
        self.staging.path().join("run.checkpoint")
    }

    /// A checkpoint in the store, beside the archive.
    fn remote_checkpoint(&self) -> std::path::PathBuf {
        format!("memory://{}/state/run.checkpoint", self.bucket).into()
    }

    /// A pipeline of the query into the store's `asana/` (NDJSON, files of about
    /// `file_bytes`), checkpointed at `checkpoint`, stopping after `max` events.
    fn pipeline(
        &self,
        checkpoint: std::path::PathBuf,
        max: Option<u64>,
        file_bytes: u64,
    ) -> Pipeline {
        let destination = Destination::in_store(self.store.clone(), "asana", "memory://asana");
        let mut pipeline = Pipeline::new(Output::Archive(destination));
        pipeline.sink = options(&self.staging, Encoding::Ndjson);
        pipeline.sink.max_file_bytes = file_bytes;
        pipeline.checkpoint = Some(checkpoint);
        pipeline.max_events = max;
        pipeline
    }

    /// Runs the query into the store, at most `max` events; how many were written.
    async fn run(&self, max: Option<u64>, file_bytes: u64) -> crate::Summary {
        self.run_with(self.pipeline(self.checkpoint(), max, file_bytes))
            .await
    }

    /// Plans and runs `pipeline` (of the query) to its end.
    async fn run_with(&self, pipeline: Pipeline) -> crate::Summary {
        let planned = pipeline.plan(self.query.clone()).await.unwrap();
        self.finish(planned).await.unwrap()
    }

    /// Runs what was planned to its end.
    async fn finish(&self, planned: crate::Planned) -> Result<crate::Summary, crate::Error> {
        planned
            .run(&self.client, |r| r.stream(), std::future::pending(), &())
            .await
    }

    async fn stored_gids(&self) -> Vec<String> {
        stored_gids(&self.store).await
    }
}

/// The gids of every event in the NDJSON objects of `store`'s archive (under `asana/`), sorted.
async fn stored_gids(store: &InMemory) -> Vec<String> {
    let mut gids = Vec::new();
    let archive = objects(store).await;
    for name in archive.iter().filter(|name| name.starts_with("asana/")) {
        let bytes = store.get(&ObjectPath::from(name.as_str())).await.unwrap();
        let text = String::from_utf8(bytes.bytes().await.unwrap().to_vec()).unwrap();
        for line in text.lines() {
            gids.push(AuditLogEvent::from_json(line).unwrap().gid().to_owned());
        }
    }
    gids.sort();
    gids
}

/// A raw NDJSON.gz sink into a new in-memory store's `asana/`, with its store and staging
/// folder.
async fn gzip_sink() -> (Arc<InMemory>, tempfile::TempDir, Sink) {
    let store = Arc::new(InMemory::new());
    let staging = tempfile::tempdir().unwrap();
    let destination = Destination::in_store(store.clone(), "asana", "memory://asana");
    let sink = Sink::open(destination, options(&staging, Encoding::NdjsonGzip))
        .await
        .unwrap();
    (store, staging, sink)
}

#[tokio::test]
async fn committed_files_appear_whole_under_their_names_and_nothing_else_stays() {
    let (store, staging, mut sink) = gzip_sink().await;
    // Five events a day over two days, in time order as a stream gives them.
    for gid in 1..=10 {
        sink.write(&event(gid, if gid <= 5 { 1 } else { 2 }))
            .unwrap();
    }
    let mut saved = Vec::new();
    let committed = sink
        .commit(async |pending| {
            saved.push(pending.cloned());
            Ok::<(), std::io::Error>(())
        })
        .await
        .unwrap();
    assert_eq!(committed, 10);
    // The checkpoint heard of the commit before any file was in place, then of its end.
    let pending = saved[0].clone().expect("the pending commit is saved first");
    assert_eq!(saved[1], None);
    assert_eq!(pending.files.len(), 2, "one file a day");
    let names = objects(&store).await;
    let expected: Vec<String> = pending.files.iter().map(|f| format!("asana/{f}")).collect();
    assert_eq!(
        names, expected,
        "only the committed files, no probe or staged copy"
    );
    for name in &names {
        assert!(name.contains("/event_date=2026-11-0"), "{name}");
        assert!(name.ends_with(".ndjson.gz"), "{name}");
    }
    // Their bytes are the events, gzip-compressed, one per line.
    let bytes = store
        .get(&ObjectPath::from(names[0].as_str()))
        .await
        .unwrap();
    let bytes = bytes.bytes().await.unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
        .unwrap();
    assert_eq!(text.lines().count(), 5);
    assert!(std::fs::read_dir(staging.path()).unwrap().all(|entry| {
        // The sink's private folder may stay until the sink is dropped, but holds nothing.
        std::fs::read_dir(entry.unwrap().path())
            .unwrap()
            .next()
            .is_none()
    }));
}

/// A run that loses its lease in the middle of a commit (frozen, say, and woken after another
/// run took over) puts no further file in place and takes back those it had placed, so the
/// run that took over, which rolled that commit back, is the only one to land its events.
#[tokio::test]
async fn a_commit_whose_guard_fails_puts_nothing_more_in_place() {
    let (store, _staging, mut sink) = gzip_sink().await;
    // Three files: one a day.
    for gid in 1..=9 {
        sink.write(&event(gid, 1 + (gid as u32 - 1) / 3)).unwrap();
    }
    let checks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = checks.clone();
    sink.guard_writes(Arc::new(move || {
        // The lease holds for the first file only.
        if counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            Ok(())
        } else {
            Err(crate::Error::Conflict {
                message: "the lease ran out".into(),
            })
        }
    }));
    let mut saved = Vec::new();
    let error = sink
        .commit(async |pending| {
            saved.push(pending.cloned());
            Ok::<(), std::io::Error>(())
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            crate::CommitError::Sink(crate::Error::Conflict { .. })
        ),
        "{error}"
    );
    assert_eq!(checks.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(
        saved.len(),
        1,
        "only the commit under way was saved, never its end"
    );
    assert!(
        objects(&store).await.is_empty(),
        "the file placed before the lease ran out is taken back"
    );
}

#[tokio::test]
async fn recovery_completes_a_commit_whose_files_are_all_in_place_and_undoes_one_that_is_not() {
    let store = Arc::new(InMemory::new());
    let staging = tempfile::tempdir().unwrap();
    let destination = Destination::in_store(store.clone(), "asana", "memory://asana");
    let sink = Sink::<AuditLogEvent>::open(destination, options(&staging, Encoding::Ndjson))
        .await
        .unwrap();
    let files = vec![
        "event_date=2026-11-01/20261101T100000.000Z-0000000000000001-000001.ndjson".to_owned(),
        "event_date=2026-11-02/20261102T100000.000Z-0000000000000001-000002.ndjson".to_owned(),
    ];
    let commit = Commit {
        files: files.clone(),
        events: 2,
        fallback_files: Vec::new(),
    };
    // A crash after the first upload: one file in place, the other not.
    store
        .put(
            &ObjectPath::from(format!("asana/{}", files[0]).as_str()),
            "{}\n".into(),
        )
        .await
        .unwrap();
    assert_eq!(sink.recover(&commit).await.unwrap(), Recovery::RolledBack);
    assert!(
        objects(&store).await.is_empty(),
        "the file in place is removed"
    );
    // Every file in place: the commit stands.
    for file in &files {
        store
            .put(
                &ObjectPath::from(format!("asana/{file}").as_str()),
                "{}\n".into(),
            )
            .await
            .unwrap();
    }
    assert_eq!(sink.recover(&commit).await.unwrap(), Recovery::Completed);
    assert_eq!(objects(&store).await.len(), 2);
    // A commit naming a file outside the destination is refused, and nothing is touched.
    let outside = Commit {
        files: vec!["../elsewhere/20261101T100000.000Z-1-000001.ndjson".to_owned()],
        events: 1,
        fallback_files: Vec::new(),
    };
    assert!(matches!(
        sink.recover(&outside).await,
        Err(crate::Error::InvalidCommit { .. })
    ));
    assert_eq!(objects(&store).await.len(), 2);
}

/// A Parquet sink of `format` into `lake/` of a new in-memory store, staged in a new folder.
async fn parquet_sink(format: Format) -> (Arc<InMemory>, tempfile::TempDir, FormatSink) {
    let store = Arc::new(InMemory::new());
    let staging = tempfile::tempdir().unwrap();
    let destination = Destination::in_store(store.clone(), "lake", "memory://lake");
    let sink = FormatSink::open(destination, options(&staging, Encoding::Parquet), format)
        .await
        .unwrap();
    (store, staging, sink)
}

#[tokio::test]
async fn ocsf_parquet_lands_in_the_folder_of_its_class() {
    let (store, _staging, mut sink) = parquet_sink(Format::ocsf(Some("1"))).await;
    for gid in 1..=4 {
        sink.write(&event(gid, 3)).unwrap();
    }
    assert_eq!(sink.commit(async |_| Ok(())).await.unwrap(), 4);
    let names = objects(&store).await;
    assert_eq!(names.len(), 1, "{names:?}");
    let class = asana_audit_log_ocsf::Mapper::new()
        .map(&event(1, 3))
        .class()
        .uid();
    assert!(
        names[0].starts_with(&format!("lake/class_uid={class}/event_date=2026-11-03/")),
        "{names:?}"
    );
    assert!(names[0].ends_with(".parquet"));
}

/// OCSF Parquet follows the format's OCSF version: the file's schema (`ocsf.version`, its
/// columns) and every event's `metadata.version`.
#[tokio::test]
async fn ocsf_parquet_follows_the_formats_ocsf_version() {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let event = AuditLogEvent::from_json(
        r#"{"gid":"1","created_at":"2026-11-03T10:00:00.000Z","event_type":"workspace_view_links_enabled","actor":{"actor_type":"user","gid":"7"},"resource":{"resource_type":"workspace","gid":"5"},"context":{"client_ip_address":"203.0.113.9"}}"#,
    )
    .unwrap();
    for (version, has_actor) in [(OcsfVersion::V1_8, true), (OcsfVersion::V1_1, false)] {
        let (store, _staging, mut sink) = parquet_sink(Format::ocsf_in(version, Some("1"))).await;
        sink.write(&event).unwrap();
        assert_eq!(sink.commit(async |_| Ok(())).await.unwrap(), 1);
        let names = objects(&store).await;
        assert!(names[0].starts_with("lake/class_uid=3004/"), "{names:?}");
        let bytes = store
            .get(&ObjectPath::from(names[0].as_str()))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
        let schema = reader.schema().clone();
        assert_eq!(schema.metadata()["ocsf.version"], version.as_str());
        assert_eq!(
            schema.field_with_name("actor").is_ok(),
            has_actor,
            "{version}"
        );
        let batch = reader.build().unwrap().next().unwrap().unwrap();
        let metadata = batch.column_by_name("metadata").unwrap();
        let metadata = metadata
            .as_any()
            .downcast_ref::<arrow_array::StructArray>()
            .unwrap();
        let written = metadata.column_by_name("version").unwrap();
        let written = written
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap();
        assert_eq!(written.value(0), version.as_str());
    }
}

#[tokio::test]
async fn a_pipeline_into_an_object_store_resumes_from_its_checkpoint_exactly_once() {
    let runs = Runs::new(450).await;
    let first = runs.run(Some(200), 8 << 10).await;
    assert_eq!((first.written, first.resumed), (200, false));
    let second = runs.run(None, 8 << 10).await;
    assert_eq!((second.written, second.resumed), (250, true));
    assert_eq!(runs.stored_gids().await, runs.gids, "every event once");
}

/// A checkpoint records the OCSF version its archive is written in, so a resume in another
/// version (or as received) is refused before anything is written, instead of mixing versions
/// in one archive.
#[tokio::test]
async fn a_resume_in_another_ocsf_version_is_refused() {
    let runs = Runs::new(120).await;
    let mut first = runs.pipeline(runs.checkpoint(), Some(50), 8 << 10);
    first.format = Format::ocsf_in(OcsfVersion::V1_1, None);
    assert_eq!(runs.run_with(first).await.written, 50);
    let files = objects(&runs.store).await;
    for other in [Format::ocsf(None), Format::Raw] {
        let mut resume = runs.pipeline(runs.checkpoint(), None, 8 << 10);
        resume.format = other;
        let error = resume.plan(runs.query.clone()).await.unwrap_err();
        assert!(
            error.to_string().contains("as ocsf 1.1.0;"),
            "the refusal names the archive's format: {error}"
        );
    }
    assert_eq!(objects(&runs.store).await, files, "nothing written");
    let mut same = runs.pipeline(runs.checkpoint(), None, 8 << 10);
    same.format = Format::ocsf_in(OcsfVersion::V1_1, None);
    assert_eq!(
        runs.run_with(same).await.written,
        70,
        "the same version resumes"
    );
}

/// A run killed after every file of a commit was in place but before its checkpoint said so
/// continues after those files: the recovered checkpoint, not the one on disk before recovery,
/// gives the stream its start.
#[tokio::test]
async fn a_commit_found_complete_moves_the_start_of_the_next_stream() {
    let runs = Runs::new(300).await;
    assert_eq!(runs.run(Some(120), 128 << 20).await.written, 120);
    // The checkpoint as a run killed between putting the files in place and saving left it:
    // still at the start, with the commit of those files under way.
    let done = crate::Checkpoint::load(&runs.checkpoint())
        .unwrap()
        .unwrap();
    let start = runs
        .client
        .query(runs.query.clone())
        .stream()
        .unwrap()
        .cursor();
    let files: Vec<String> = objects(&runs.store)
        .await
        .into_iter()
        .map(|name| name.trim_start_matches("asana/").to_owned())
        .collect();
    let mut interrupted = crate::Checkpoint::new(runs.query.clone(), start, 0);
    interrupted.archive = done.archive.clone();
    interrupted.pending = Some(crate::PendingCommit {
        commit: Commit {
            files,
            events: 120,
            fallback_files: Vec::new(),
        },
        cursor: done.cursor.clone(),
        events_written: 120,
        alerts: None,
    });
    interrupted.save(&runs.checkpoint()).unwrap();
    let summary = runs.run(None, 128 << 20).await;
    assert!(summary.resumed);
    assert_eq!(
        summary.written, 180,
        "the rest, after the commit found complete"
    );
    assert_eq!(runs.stored_gids().await, runs.gids, "every event once");
}

/// A checkpoint in an object store resumes exactly once, and each run gives its lease up at
/// the end, so that the next run, anywhere, starts at once.
#[tokio::test]
async fn a_checkpoint_in_an_object_store_resumes_exactly_once() {
    let runs = Runs::new(400).await;
    let mut written = 0;
    while written < 400 {
        let summary = runs
            .run_with(runs.pipeline(runs.remote_checkpoint(), Some(150), 4 << 10))
            .await;
        assert_eq!(summary.resumed, written > 0);
        written += summary.written;
    }
    assert_eq!(runs.stored_gids().await, runs.gids, "every event once");
    let names = objects(&runs.store).await;
    assert!(
        names.contains(&"state/run.checkpoint".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"state/run.checkpoint.lease".to_owned()),
        "{names:?}"
    );
}

/// While one run holds the lease, another is refused before it reads anything; the lease's
/// holder is named.
#[tokio::test]
async fn a_second_run_is_refused_while_the_lease_lasts() {
    let runs = Runs::new(10).await;
    let held = runs
        .pipeline(runs.remote_checkpoint(), None, 4 << 10)
        .plan(runs.query.clone())
        .await
        .unwrap();
    let refused = runs
        .pipeline(runs.remote_checkpoint(), None, 4 << 10)
        .plan(runs.query.clone())
        .await
        .unwrap_err();
    assert!(matches!(refused, crate::Error::Locked { .. }), "{refused}");
    assert!(refused.to_string().contains("holds the lease"), "{refused}");
    held.release().await.unwrap();
    runs.pipeline(runs.remote_checkpoint(), None, 4 << 10)
        .plan(runs.query.clone())
        .await
        .unwrap();
}

/// A run whose lease expired while it was frozen, and was taken over, writes nothing more:
/// its first save is refused, no file of its lands, and the run that took over finishes
/// with every event once.
#[tokio::test]
async fn a_run_that_lost_its_lease_writes_nothing_more() {
    let runs = Runs::new(300).await;
    // A first run leaves a checkpoint.
    runs.run_with(runs.pipeline(runs.remote_checkpoint(), Some(100), 4 << 10))
        .await;
    let before = objects(&runs.store).await;
    // The frozen run lives on a runtime of its own, on a thread that blocks: nothing of it
    // runs, its lease's renewals neither, until the other run has taken over.
    let mut frozen = runs.pipeline(runs.remote_checkpoint(), None, 4 << 10);
    frozen.lease = std::time::Duration::from_millis(200);
    let (query, client) = (runs.query.clone(), runs.client.clone());
    let (planned, wait_planned) = tokio::sync::oneshot::channel();
    let (thaw, frozen_until) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let frozen = frozen.plan(query).await.unwrap();
            planned.send(()).unwrap();
            frozen_until.recv().unwrap();
            frozen
                .run(&client, |r| r.stream(), std::future::pending(), &())
                .await
        })
    });
    wait_planned.await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let successor = runs
        .pipeline(runs.remote_checkpoint(), None, 4 << 10)
        .plan(runs.query.clone())
        .await
        .unwrap();
    thaw.send(()).unwrap();
    let lost = tokio::task::spawn_blocking(move || thread.join().unwrap())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            lost,
            crate::Error::Conflict { .. } | crate::Error::Commit { .. }
        ),
        "{lost}"
    );
    assert!(lost.to_string().contains("lease"), "{lost}");
    assert_eq!(
        objects(&runs.store).await,
        before,
        "the frozen run placed nothing"
    );
    runs.finish(successor).await.unwrap();
    assert_eq!(runs.stored_gids().await, runs.gids, "every event once");
}

/// A landing of NDJSON into `store`'s archive (under `asana/`), staged in `staging`.
fn landing_pipeline(store: &Arc<InMemory>, staging: &tempfile::TempDir) -> Pipeline {
    let destination = Destination::in_store(store.clone(), "asana", "memory://asana");
    let mut pipeline = Pipeline::new(Output::Archive(destination));
    pipeline.sink = options(staging, Encoding::Ndjson);
    pipeline
}

/// Lands the events of `gids` (up to 20 on one day, the others on the next).
async fn land(landing: &mut crate::Landing<'_>, gids: std::ops::RangeInclusive<u64>) {
    for gid in gids {
        let event = landing
            .format()
            .prepare(event(gid, if gid <= 20 { 1 } else { 2 }));
        landing.write(&event).await.unwrap();
    }
}

/// The gids of `range`, sorted as text, as [`stored_gids`] gives them.
fn sorted_gids(range: std::ops::RangeInclusive<u64>) -> Vec<String> {
    let mut gids: Vec<String> = range.map(|gid| gid.to_string()).collect();
    gids.sort();
    gids
}

/// Events landed without a stream (as `convert` lands a file's, or a queue's) are committed
/// as they go, whenever a file is due, when asked (a source that idles past the commit
/// deadline), and at the end: every event once, the observer told of each commit.
#[tokio::test]
async fn a_landing_commits_as_it_goes_when_asked_and_at_the_end() {
    #[derive(Default)]
    struct Commits(AtomicU64);
    impl Observer for Commits {
        fn committed(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let store = Arc::new(InMemory::new());
    let staging = tempfile::tempdir().unwrap();
    let mut pipeline = landing_pipeline(&store, &staging);
    // A few events a file, over two days.
    pipeline.sink.max_file_bytes = 1_000;
    let commits = Commits::default();
    let count = || commits.0.load(Ordering::Relaxed);
    let mut landing = pipeline.land(&commits).await.unwrap();
    land(&mut landing, 1..=45).await;
    assert_eq!(landing.written(), 45);
    let during = count();
    assert!(during > 1, "committed {during} time(s) while writing");

    // Files are open: committed when asked, before their deadline.
    assert!(landing.commit_deadline().is_some());
    let in_place = objects(&store).await.len();
    landing.commit().await.unwrap();
    assert_eq!(landing.commit_deadline(), None, "no file open");
    assert_eq!(count(), during + 1);
    let committed = objects(&store).await.len();
    assert!(committed > in_place, "the open files committed");

    land(&mut landing, 46..=50).await;
    let summary = landing.finish().await.unwrap();
    assert_eq!(summary.written, 50);
    assert_eq!(count(), during + 2, "and once at the end");
    assert!(
        objects(&store).await.len() > committed,
        "the last files committed at the end"
    );
    assert_eq!(
        stored_gids(&store).await,
        sorted_gids(1..=50),
        "every event once"
    );

    // Events that come from elsewhere have no cursor: a checkpoint is refused.
    let mut pipeline = Pipeline::new(Output::Stdout);
    pipeline.checkpoint = Some(staging.path().join("landing.checkpoint"));
    assert!(matches!(
        pipeline.land(&()).await,
        Err(crate::Error::Refused { .. })
    ));
}

/// A landing dropped before it finished (its source failed, say) puts nothing more in place:
/// the archive holds what was committed, whole, and none of what was written after.
#[tokio::test]
async fn a_landing_dropped_unfinished_puts_nothing_more_in_place() {
    let store = Arc::new(InMemory::new());
    let staging = tempfile::tempdir().unwrap();
    let mut landing = landing_pipeline(&store, &staging).land(&()).await.unwrap();
    land(&mut landing, 1..=10).await;
    landing.commit().await.unwrap();
    land(&mut landing, 11..=30).await;
    drop(landing);
    assert_eq!(stored_gids(&store).await, sorted_gids(1..=10));
}

/// A Security Lake's sink lands Base Event events as received in its fallback destination,
/// in the same commit as the lake's files; a commit is found complete only when the files of
/// both are in place, and is undone in both otherwise.
#[tokio::test]
async fn a_lake_and_its_fallback_are_committed_and_recovered_as_one() {
    use asana_audit_log_ocsf::OcsfClass;

    let store = Arc::new(InMemory::new());
    let staging = tempfile::tempdir().unwrap();
    let locations = OcsfClass::ALL
        .into_iter()
        .filter(|&c| c != OcsfClass::BaseEvent)
        .map(|c| (c, format!("s3://lake/ext/asana-{}/", c.uid())));
    let lake = crate::SecurityLake::new("eu-west-1", "123456789012", locations).unwrap();
    let mut options = options(&staging, Encoding::Parquet);
    options.layout = crate::Layout::SecurityLake(lake);
    let sink = FormatSink::open_with_fallback(
        Destination::in_store(store.clone(), "", "s3://lake"),
        options,
        Format::ocsf_in(OcsfVersion::V1_1, Some("1")),
        Some(Destination::in_store(store.clone(), "raw", "s3://raw")),
    )
    .await;
    let mut sink = sink.unwrap();
    // A resource with neither a gid nor a name fits no class but Base Event.
    let base = AuditLogEvent::from_json(
        r#"{"gid":"9","created_at":"2026-11-03T10:00:00.000Z","event_type":"brand_new","resource":{"resource_type":"workspace"}}"#,
    )
    .unwrap();
    let login = AuditLogEvent::from_json(
        r#"{"gid":"8","created_at":"2026-11-03T09:00:00.000Z","event_type":"user_login_succeeded","resource":{"resource_type":"user","gid":"7","name":"Ana"}}"#,
    )
    .unwrap();
    assert_eq!(sink.write(&login).unwrap(), crate::Written::Archive);
    assert_eq!(sink.write(&base).unwrap(), crate::Written::Fallback);
    let mut pending = None;
    let committed = sink
        .commit(async |commit| {
            if let Some(commit) = commit {
                pending = Some(commit.clone());
            }
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(committed, 2);
    let commit = pending.unwrap();
    assert_eq!((commit.files.len(), commit.fallback_files.len()), (1, 1));
    let names = objects(&store).await;
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names[0].starts_with(
            "ext/asana-3002/region=eu-west-1/accountId=123456789012/eventDay=20261103/"
        ),
        "{names:?}"
    );
    assert!(
        names[1].starts_with("raw/event_date=2026-11-03/"),
        "{names:?}"
    );
    assert_eq!(sink.recover(&commit).await.unwrap(), Recovery::Completed);
    // The fallback's file missing: the lake's is taken back too.
    store
        .delete(&ObjectPath::from(names[1].as_str()))
        .await
        .unwrap();
    assert_eq!(sink.recover(&commit).await.unwrap(), Recovery::RolledBack);
    assert!(objects(&store).await.is_empty());
}
