//! The sink against a local directory: every encoding gives back every event, in order, once;
//! partitions and rotation; the commit protocol's recovery. A landing into a file.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use asana_audit_log::AuditLogEvent;
use asana_audit_log_pipeline::{
    Commit, CommitError, Destination, EVENT_JSON_COLUMN, Encoding, Error, Layout, Output,
    ParquetRows, Partitioning, Pipeline, Recovery, STAGING_DIR, Sink, SinkOptions, parquet_schema,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// A realistic dataset over several days, with the mock's forward-compatibility oddities
/// (unknown fields and enum values, nulls, non-ASCII).
async fn dataset(count: u64) -> Vec<AuditLogEvent> {
    let mock = asana_audit_log_mock::MockServer::builder()
        .events(count)
        .span(Duration::from_secs(5 * 24 * 3600))
        .forward_compat(true)
        .start()
        .await
        .unwrap();
    mock.all_events_json()
        .into_iter()
        .map(|(_, json)| AuditLogEvent::from_json(&json).unwrap())
        .collect()
}

/// Every committed file under `root`, by name (which sorts in time order), staging left out.
fn committed_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap() == STAGING_DIR {
                continue;
            }
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out.sort();
    out
}

/// The events' JSON texts a file holds, decoded the way its encoding says.
fn read_file(path: &Path) -> Vec<String> {
    let name = path.to_string_lossy();
    let mut text = String::new();
    if name.ends_with(".parquet") {
        let file = std::fs::File::open(path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let mut out = Vec::new();
        for batch in reader {
            let batch = batch.unwrap();
            let json = batch
                .column_by_name(EVENT_JSON_COLUMN)
                .unwrap()
                .as_string::<i32>();
            let created = batch
                .column_by_name("created_at")
                .unwrap()
                .as_primitive::<TimestampMillisecondType>();
            let gid = batch.column_by_name("gid").unwrap().as_string::<i32>();
            for row in 0..batch.num_rows() {
                let event = AuditLogEvent::from_json(json.value(row)).unwrap();
                assert_eq!(event.gid(), gid.value(row));
                assert_eq!(event.created_at().timestamp_millis(), created.value(row));
                out.push(json.value(row).to_owned());
            }
        }
        return out;
    }
    let raw = std::fs::read(path).unwrap();
    if name.ends_with(".ndjson.gz") {
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_string(&mut text)
            .unwrap();
    } else if name.ends_with(".ndjson.zst") {
        zstd::stream::read::Decoder::new(&raw[..])
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
    } else {
        assert!(name.ends_with(".ndjson"), "{name}");
        text = String::from_utf8(raw).unwrap();
    }
    assert!(text.ends_with('\n'), "every line ends: {name}");
    text.lines().map(str::to_owned).collect()
}

async fn sink(root: &Path, options: SinkOptions) -> Sink {
    Sink::open(Destination::parse(root.to_str().unwrap()).unwrap(), options)
        .await
        .unwrap()
}

/// Writes `events`, committing whenever a file is due and once at the end.
async fn land(sink: &mut Sink, events: &[AuditLogEvent]) -> u64 {
    let mut committed = 0;
    for event in events {
        sink.write(event).unwrap();
        if sink.commit_due() {
            committed += sink
                .commit(async |_| Ok::<(), std::io::Error>(()))
                .await
                .unwrap();
        }
    }
    committed
        + sink
            .commit(async |_| Ok::<(), std::io::Error>(()))
            .await
            .unwrap()
}

#[tokio::test]
async fn every_encoding_gives_back_every_event_in_order_once() {
    let events = dataset(3_000).await;
    let source: Vec<&str> = events.iter().map(AuditLogEvent::json).collect();
    for encoding in Encoding::ALL {
        let dir = tempfile::tempdir().unwrap();
        let mut options = SinkOptions::new(encoding);
        options.max_file_bytes = 64 * 1024;
        options.row_group_rows = 500;
        let mut sink = sink(dir.path(), options).await;
        assert_eq!(land(&mut sink, &events).await, events.len() as u64);
        assert_eq!(sink.pending_events(), 0);

        let files = committed_files(dir.path());
        assert!(
            files.len() > 5,
            "{encoding}: rotation by size and day: {files:?}"
        );
        let mut read = Vec::new();
        let mut split_files = 0;
        for file in &files {
            let relative = file.strip_prefix(dir.path()).unwrap().to_string_lossy();
            assert!(relative.ends_with(encoding.extension()), "{relative}");
            let lines = read_file(file);
            if encoding == Encoding::Parquet {
                // Row groups of the rows asked for, the last of a file holding the rest.
                let reader =
                    ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap())
                        .unwrap();
                let groups: Vec<i64> = reader
                    .metadata()
                    .row_groups()
                    .iter()
                    .map(|group| group.num_rows())
                    .collect();
                let (last, full) = groups.split_last().unwrap();
                assert!(
                    full.iter().all(|&rows| rows == 500),
                    "{relative}: {groups:?}"
                );
                assert!((1..=500).contains(last), "{relative}: {groups:?}");
                assert_eq!(groups.iter().sum::<i64>(), lines.len() as i64);
                split_files += usize::from(groups.len() > 1);
            }
            // Each file sits in the partition of its events.
            let folder = relative.split('/').next().unwrap();
            for line in &lines {
                let event = AuditLogEvent::from_json(line).unwrap();
                assert_eq!(Partitioning::Day.folder(event.created_at()), folder);
            }
            read.extend(lines);
        }
        assert_eq!(read, source, "{encoding}: the exact events, in order, once");
        if encoding == Encoding::Parquet {
            assert!(split_files > 0, "some file holds several row groups");
        }
        let staging: Vec<_> = std::fs::read_dir(dir.path().join(STAGING_DIR))
            .unwrap()
            .collect();
        assert!(staging.is_empty(), "nothing left staged: {staging:?}");
    }
}

#[tokio::test]
async fn parquet_files_carry_the_documented_schema() {
    let events = dataset(200).await;
    let dir = tempfile::tempdir().unwrap();
    let mut sink = sink(dir.path(), SinkOptions::new(Encoding::Parquet)).await;
    land(&mut sink, &events).await;
    let file = std::fs::File::open(&committed_files(dir.path())[0]).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let schema = builder.schema();
    let expected = parquet_schema();
    let names = |s: &arrow_schema::Schema| -> Vec<(String, arrow_schema::DataType, bool)> {
        s.fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
            .collect()
    };
    assert_eq!(names(schema), names(&expected));
    // Typed columns hold the typed views.
    let batch = builder.build().unwrap().next().unwrap().unwrap();
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .unwrap()
            .as_string::<i32>()
            .clone()
    };
    // Every typed column holds what the library's typed view of the event says (the sink
    // reads them its own way, without building the views).
    type View = fn(&AuditLogEvent) -> Option<String>;
    let views: [(&str, View); 17] = [
        ("event_type", |e| Some(e.event_type().as_str().to_owned())),
        ("event_category", |e| {
            e.event_category().map(|c| c.as_str().to_owned())
        }),
        ("actor_type", |e| {
            e.actor().actor_type.as_ref().map(|t| t.as_str().to_owned())
        }),
        ("actor_gid", |e| e.actor().gid.clone()),
        ("actor_name", |e| e.actor().name.clone()),
        ("actor_email", |e| e.actor().email.clone()),
        ("resource_type", |e| e.resource().resource_type.clone()),
        ("resource_subtype", |e| {
            e.resource().resource_subtype.clone()
        }),
        ("resource_gid", |e| e.resource().gid.clone()),
        ("resource_name", |e| e.resource().name.clone()),
        ("resource_email", |e| e.resource().email.clone()),
        ("context_type", |e| {
            e.context()
                .context_type
                .as_ref()
                .map(|t| t.as_str().to_owned())
        }),
        ("context_client_ip_address", |e| {
            e.context().client_ip_address.clone()
        }),
        ("context_user_agent", |e| e.context().user_agent.clone()),
        ("context_api_authentication_method", |e| {
            e.context()
                .api_authentication_method
                .as_ref()
                .map(|m| m.as_str().to_owned())
        }),
        ("context_oauth_app_name", |e| {
            e.context().oauth_app_name.clone()
        }),
        ("context_rule_name", |e| e.context().rule_name.clone()),
    ];
    assert_eq!(
        views.len() + 3,
        expected.fields().len(),
        "every typed column is checked"
    );
    for (name, view) in views {
        let values = column(name);
        for (row, event) in events.iter().take(batch.num_rows()).enumerate() {
            let got = (!values.is_null(row)).then(|| values.value(row).to_owned());
            assert_eq!(got, view(event), "{name} of {}", event.json());
        }
    }
}

#[test]
fn typed_columns_follow_the_views_on_odd_json() {
    // Not strings, repeated keys (the last counts), escapes, an object that is not one.
    let odd = [
        r#"{"gid":"1","created_at":"2024-01-01T00:00:00Z","event_type":"x","actor":{"gid":7,"name":"A\u00e9\"b","email":null,"name":"last"},"resource":[1,2],"context":{"user_agent":{"a":1}},"context":{"user_agent":"ua"}}"#,
        r#"{"gid":"2","created_at":"2024-01-01T00:00:00Z","actor":"nobody","resource":{"gid":"9","resource_type":"task"}}"#,
        // Lone surrogate escapes: valid JSON, but no Rust string holds them; the event still
        // lands, such a member reads as null, the rest of the object as usual.
        r#"{"gid":"3","created_at":"2024-01-01T00:00:00Z","actor":{"name":"a\ud800b","gid":"5","n\udc00":"x"},"context":{"user_agent":"ua3"}}"#,
        // Whitespace: the library compacts the text, and the objects are found in that.
        "{ \"gid\" : \"4\", \"created_at\": \"2024-01-01T00:00:00Z\",\n  \"actor\" : { \"name\" : \"Spaced out\" } }",
    ];
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<AuditLogEvent> = odd
        .iter()
        .map(|json| AuditLogEvent::from_json(json).unwrap())
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut sink = sink(dir.path(), SinkOptions::new(Encoding::Parquet)).await;
        land(&mut sink, &events).await;
    });
    let file = std::fs::File::open(&committed_files(dir.path())[0]).unwrap();
    let batch = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let value = |name: &str, row: usize| {
        let array = batch
            .column_by_name(name)
            .unwrap()
            .as_string::<i32>()
            .clone();
        (!array.is_null(row)).then(|| array.value(row).to_owned())
    };
    assert_eq!(value("actor_gid", 0), events[0].actor().gid);
    assert_eq!(value("actor_name", 0).as_deref(), Some("last"));
    assert_eq!(value("actor_name", 0), events[0].actor().name);
    assert_eq!(value("actor_email", 0), None);
    assert_eq!(value("resource_gid", 0), None);
    assert_eq!(value("context_user_agent", 0).as_deref(), Some("ua"));
    assert_eq!(
        value("context_user_agent", 0),
        events[0].context().user_agent
    );
    assert_eq!(value("actor_gid", 1), None);
    assert_eq!(value("resource_gid", 1).as_deref(), Some("9"));
    assert_eq!(
        value("resource_type", 1),
        events[1].resource().resource_type
    );
    assert_eq!(value("actor_name", 2), None);
    assert_eq!(value("actor_name", 2), events[2].actor().name);
    assert_eq!(value("actor_gid", 2).as_deref(), Some("5"));
    assert_eq!(value("context_user_agent", 2).as_deref(), Some("ua3"));
    assert_eq!(value("actor_name", 3).as_deref(), Some("Spaced out"));
    let json = batch
        .column_by_name("event_json")
        .unwrap()
        .as_string::<i32>()
        .clone();
    for (row, event) in events.iter().enumerate() {
        assert_eq!(json.value(row), event.json(), "the exact JSON of row {row}");
    }
}

#[tokio::test]
async fn hour_partitions_and_time_ordered_names() {
    let events = dataset(500).await;
    let dir = tempfile::tempdir().unwrap();
    let mut options = SinkOptions::new(Encoding::Ndjson);
    options.layout = Layout::Hive(Partitioning::Hour);
    let mut sink = sink(dir.path(), options).await;
    land(&mut sink, &events).await;
    let files = committed_files(dir.path());
    for file in &files {
        let relative = file.strip_prefix(dir.path()).unwrap().to_string_lossy();
        let parts: Vec<&str> = relative.split('/').collect();
        assert_eq!(parts.len(), 3, "{relative}");
        assert!(parts[0].starts_with("event_date=") && parts[1].starts_with("event_hour="));
        let first = AuditLogEvent::from_json(&read_file(file)[0]).unwrap();
        assert_eq!(
            Partitioning::Hour.folder(first.created_at()),
            format!("{}/{}", parts[0], parts[1])
        );
        // The name starts with the first event's time.
        let stamp = first.created_at().format("%Y%m%dT%H%M%S").to_string();
        assert!(parts[2].starts_with(&stamp), "{relative}");
    }
}

#[tokio::test]
async fn a_commit_cut_short_is_completed_or_rolled_back() {
    let events = dataset(400).await;
    let dir = tempfile::tempdir().unwrap();
    let options = SinkOptions::new(Encoding::NdjsonGzip);

    // The run stops after the files are in place but before the final checkpoint.
    let mut first = sink(dir.path(), options.clone()).await;
    for event in &events {
        first.write(event).unwrap();
    }
    let mut recorded: Option<Commit> = None;
    let error = first
        .commit(async |pending| match pending {
            Some(commit) => {
                recorded = Some(commit.clone());
                Ok(())
            }
            None => Err("killed before the checkpoint was saved"),
        })
        .await
        .unwrap_err();
    assert!(matches!(error, CommitError::Checkpoint(_)));
    let commit = recorded.unwrap();
    assert_eq!(commit.events, events.len() as u64);
    let rerun = sink(dir.path(), options.clone()).await;
    assert_eq!(rerun.recover(&commit).await.unwrap(), Recovery::Completed);
    assert_eq!(committed_files(dir.path()).len(), commit.files.len());

    // A commit of which one file never arrived is undone: the files in place go.
    let mut partial = commit.clone();
    partial
        .files
        .push("event_date=2000-01-01/never-written.ndjson.gz".into());
    assert_eq!(rerun.recover(&partial).await.unwrap(), Recovery::RolledBack);
    assert!(committed_files(dir.path()).is_empty());
    // Repeating a recovery is harmless.
    assert_eq!(rerun.recover(&partial).await.unwrap(), Recovery::RolledBack);

    // A pending commit from a checkpoint altered by hand touches nothing outside the archive,
    // and an empty one cannot make a cursor jump.
    let outside = dir.path().parent().unwrap().join("not-ours.ndjson.gz");
    std::fs::write(&outside, b"keep").unwrap();
    for files in [
        vec![],
        vec![outside.to_string_lossy().into_owned()],
        vec!["../not-ours.ndjson.gz".to_owned()],
        vec!["event_date=2024-01-01/../../not-ours.ndjson.gz".to_owned()],
        vec!["event_date=2024-01-01/x.parquet".to_owned()],
    ] {
        // The same names are refused as a fallback destination's files.
        let in_archive = Commit {
            files: files.clone(),
            events: 1,
            fallback_files: Vec::new(),
        };
        let in_fallback = Commit {
            files: Vec::new(),
            events: 1,
            fallback_files: files,
        };
        for bad in [in_archive, in_fallback] {
            let error = rerun.recover(&bad).await.unwrap_err();
            assert!(
                matches!(error, asana_audit_log_pipeline::Error::InvalidCommit { .. }),
                "{bad:?}: {error}"
            );
        }
    }
    assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
    std::fs::remove_file(&outside).unwrap();
}

/// A file that cannot be moved into place fails the commit: the files of that commit already
/// in place are removed again, no staged file is left, the checkpoint is never told the commit
/// happened, and the sink takes no more writes. Files that did move are in their folders.
#[tokio::test]
async fn a_commit_that_cannot_place_a_file_puts_none_in_place() {
    let events = dataset(300).await;
    let dir = tempfile::tempdir().unwrap();
    let mut sink = sink(dir.path(), SinkOptions::new(Encoding::Ndjson)).await;
    for event in &events {
        sink.write(event).unwrap();
    }
    // A plain file where the last day's folder goes: files sort by day, so the days before it
    // are in place when its move fails.
    let last_day = events.iter().map(|e| e.created_at()).max().unwrap();
    let blocked = dir.path().join(Partitioning::Day.folder(last_day));
    std::fs::write(&blocked, b"in the way").unwrap();
    let mut checkpoints = Vec::new();
    let error = sink
        .commit(async |pending| {
            checkpoints.push(pending.is_some());
            Ok::<(), std::io::Error>(())
        })
        .await
        .unwrap_err();
    assert!(error.to_string().contains("create"), "{error}");
    // Told of the pending commit, never that it was done.
    assert_eq!(checkpoints, [true]);
    assert_eq!(committed_files(dir.path()), std::slice::from_ref(&blocked));
    let staging = dir.path().join(STAGING_DIR);
    let staged: Vec<_> = std::fs::read_dir(&staging).unwrap().collect();
    assert!(staged.is_empty(), "{staged:?}");
    assert!(sink.write(&events[0]).is_err());

    // With the way clear, a new sink lands every day, each in its folder.
    std::fs::remove_file(&blocked).unwrap();
    let mut again = self::sink(dir.path(), SinkOptions::new(Encoding::Ndjson)).await;
    assert_eq!(land(&mut again, &events).await, events.len() as u64);
    let files = committed_files(dir.path());
    let days: std::collections::BTreeSet<_> = events
        .iter()
        .map(|e| Partitioning::Day.folder(e.created_at()))
        .collect();
    assert_eq!(files.len(), days.len());
    for (file, day) in files.iter().zip(&days) {
        assert!(file.starts_with(dir.path().join(day)), "{file:?} in {day}");
    }
}

#[tokio::test]
async fn bad_destinations_and_options_are_refused_before_writing() {
    for (text, needle) in [("ftp://host/x", "unknown scheme"), ("s3://", "bucket")] {
        let error = Destination::parse(text).unwrap_err().to_string();
        assert!(error.contains(needle), "{text}: {error}");
    }
    let dir = tempfile::tempdir().unwrap();
    let destination = Destination::parse(dir.path().to_str().unwrap()).unwrap();
    let mut no_rows = SinkOptions::new(Encoding::Parquet);
    no_rows.row_group_rows = 0;
    let error = Sink::open(destination.clone(), no_rows).await.unwrap_err();
    assert!(error.to_string().contains("row group"), "{error}");
    // A regular file where the directory should be: no write is possible.
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let error = Sink::open(
        Destination::parse(file.to_str().unwrap()).unwrap(),
        SinkOptions::new(Encoding::Ndjson),
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("cannot"), "{error}");
}

/// An event filed under a table of its own choosing (as OCSF events are, by class).
struct Tagged {
    event: AuditLogEvent,
    kind: &'static str,
}

impl asana_audit_log_pipeline::Record for Tagged {
    fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.event.created_at()
    }

    fn json(&self) -> &str {
        self.event.json()
    }

    fn table(&self) -> Option<asana_audit_log_pipeline::Table<'_>> {
        Some(asana_audit_log_pipeline::Table {
            key: "kind",
            value: self.kind,
        })
    }
}

/// Parquet rows of tagged events: those of the events inside.
struct TaggedRows;

struct TaggedColumns(Box<dyn asana_audit_log_pipeline::RowBuilder<AuditLogEvent>>);

impl asana_audit_log_pipeline::RowBuilder<Tagged> for TaggedColumns {
    fn schema(&self) -> arrow_schema::SchemaRef {
        self.0.schema()
    }
    fn push(&mut self, record: &Tagged) -> Result<(), asana_audit_log_pipeline::Error> {
        self.0.push(&record.event)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn finish(&mut self) -> Result<arrow_array::RecordBatch, asana_audit_log_pipeline::Error> {
        self.0.finish()
    }
}

impl ParquetRows<Tagged> for TaggedRows {
    fn builder(
        &self,
        _table: Option<asana_audit_log_pipeline::Table<'_>>,
    ) -> Result<
        Box<dyn asana_audit_log_pipeline::RowBuilder<Tagged>>,
        asana_audit_log_pipeline::Error,
    > {
        Ok(Box::new(TaggedColumns(
            asana_audit_log_pipeline::EventRows.builder(None)?,
        )))
    }
}

/// Records of two tables interleaved over several days, with commits (by size and in the
/// middle) while both tables have files open: every record lands once, in its table's folder
/// of its day, in order within its table; files left for the next day finish on their own
/// thread before the commit puts them in place.
#[tokio::test]
async fn interleaved_tables_land_in_their_own_folders() {
    let events = dataset(3_000).await;
    for encoding in [Encoding::Ndjson, Encoding::Parquet] {
        let dir = tempfile::tempdir().unwrap();
        let mut options = SinkOptions::new(encoding);
        options.max_file_bytes = 64 * 1024;
        let mut sink: Sink<Tagged> = Sink::open_with(
            Destination::parse(dir.path().to_str().unwrap()).unwrap(),
            options,
            std::sync::Arc::new(TaggedRows),
        )
        .await
        .unwrap();
        let kind = |i: usize| if i.is_multiple_of(3) { "a" } else { "b" };
        let mut committed = 0;
        for (i, event) in events.iter().enumerate() {
            sink.write(&Tagged {
                event: event.clone(),
                kind: kind(i),
            })
            .unwrap();
            if sink.commit_due() || i == events.len() / 2 {
                committed += sink
                    .commit(async |_| Ok::<(), std::io::Error>(()))
                    .await
                    .unwrap();
            }
        }
        committed += sink
            .commit(async |_| Ok::<(), std::io::Error>(()))
            .await
            .unwrap();
        assert_eq!(committed, events.len() as u64);

        for table in ["a", "b"] {
            let expected: Vec<&str> = events
                .iter()
                .enumerate()
                .filter(|(i, _)| kind(*i) == table)
                .map(|(_, e)| e.json())
                .collect();
            let mut found = Vec::new();
            for path in committed_files(&dir.path().join(format!("kind={table}"))) {
                let day = path
                    .parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy();
                for json in read_file(&path) {
                    let event = AuditLogEvent::from_json(&json).unwrap();
                    assert_eq!(
                        day,
                        event.created_at().format("event_date=%Y-%m-%d").to_string(),
                        "{encoding}: {}",
                        path.display()
                    );
                    found.push(json);
                }
            }
            assert_eq!(found, expected, "{encoding}, table {table}");
        }
        let files = committed_files(dir.path());
        assert!(
            files.len() > 10,
            "{encoding}: rotated and partitioned: {files:?}"
        );
    }
}

/// A landing into a file writes each event's line in input order, and `finish` leaves them
/// on disk; a file that already holds events is refused, and left as it was.
#[tokio::test]
async fn a_landing_into_a_file_writes_every_line_in_order() {
    let events = dataset(300).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.ndjson");
    let mut landing = Pipeline::new(Output::File(path.clone()))
        .land(&())
        .await
        .unwrap();
    for event in &events {
        let prepared = landing.format().prepare(event.clone());
        landing.write(&prepared).await.unwrap();
    }
    assert_eq!(landing.finish().await.unwrap().written, 300);
    let expected: String = events.iter().map(|e| format!("{}\n", e.json())).collect();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);

    let refused = Pipeline::new(Output::File(path.clone()))
        .land(&())
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::Refused { .. }), "{refused}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
}
