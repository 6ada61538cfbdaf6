//! Reading an archive back as Asana events, for `report` and `detect`: files or folders in any
//! encoding the pipeline writes (its `read`), raw events only (OCSF is refused with a hint),
//! lines that are not events counted and the first few reported with their file and line.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use asana_audit_log::AuditLogEvent;
use asana_audit_log_pipeline::read::{self, ReadError};

use crate::error::CliError;

/// How many lines that are not events are reported one by one before only the count is kept.
const REPORTED_NOT_EVENTS: u64 = 20;

/// What was read besides the events.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    /// Files read.
    pub files: u64,
    /// Lines or rows that were not events (skipped).
    pub not_events: u64,
}

/// Which kind of export a file holds, from its first record that tells.
struct Kinds {
    /// The command reading, for its messages.
    command: &'static str,
    raw: Option<PathBuf>,
    ocsf: Option<PathBuf>,
}

impl Kinds {
    fn saw(&mut self, raw: bool, path: &Path) -> Result<(), CliError> {
        let slot = if raw { &mut self.raw } else { &mut self.ocsf };
        slot.get_or_insert_with(|| path.to_path_buf());
        if let (Some(raw), Some(ocsf)) = (&self.raw, &self.ocsf) {
            return Err(CliError::input(format!(
                "the input mixes raw Asana events ({}) with OCSF events ({}); {} reads the raw \
                 export only (written with --format raw, the default): give only those files",
                raw.display(),
                ocsf.display(),
                self.command
            )));
        }
        Ok(())
    }
}

/// Whether a record that is not an Asana event is an OCSF event (`--format ocsf` output).
fn is_ocsf(text: &str) -> bool {
    text.contains("\"class_uid\"")
        && serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text)
            .is_ok_and(|object| object.contains_key("class_uid") && object.contains_key("metadata"))
}

/// Records the reading thread decodes before it hands them over at once.
const BATCH_RECORDS: usize = 1024;

/// Batches that may wait for the caller.
const BATCHES_IN_FLIGHT: usize = 4;

/// What the reading thread hands over, in the order read.
enum Read {
    /// A record of the `file`th file: its number, and its event or why it is not one (with
    /// whether it is an OCSF event).
    Record {
        file: usize,
        number: u64,
        event: Result<AuditLogEvent, (bool, String)>,
    },
    /// The end of the `file`th file: whether it was read to its end.
    End {
        file: usize,
        read: Result<(), ReadError>,
    },
}

/// A record's event, or why it is not one (and whether it is an OCSF event).
fn decode(bytes: &[u8]) -> Result<AuditLogEvent, (bool, String)> {
    let text = std::str::from_utf8(bytes).map_err(|e| (false, format!("not UTF-8 text: {e}")))?;
    AuditLogEvent::from_json(text).map_err(|e| (is_ocsf(text), e.to_string()))
}

/// The reading thread's work: every record of `files`, decoded, in batches to `batches`, until
/// the last file ends or the caller stops taking them.
fn read_files(files: &[PathBuf], batches: &SyncSender<Vec<Read>>) {
    let mut batch = Vec::with_capacity(BATCH_RECORDS);
    for (file, path) in files.iter().enumerate() {
        let mut stopped = false;
        let read = read::read(path, |number, bytes| {
            if stopped {
                return;
            }
            let event = decode(bytes);
            batch.push(Read::Record {
                file,
                number,
                event,
            });
            if batch.len() == BATCH_RECORDS {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_RECORDS));
                stopped = batches.send(full).is_err();
            }
        });
        batch.push(Read::End { file, read });
        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_RECORDS));
        if stopped || batches.send(full).is_err() {
            return;
        }
    }
}

/// Reads every event of `inputs` (files, or folders read recursively) in order and gives each
/// to `on_event` with its file and record number (line, or Parquet row); the first error
/// `on_event` returns stops the reading. `command` names the command in messages.
///
/// The files are read and their records decoded on a thread of their own, while `on_event`
/// runs on the caller's: `detect` over a Parquet archive spends about as long on each side.
pub fn events(
    command: &'static str,
    inputs: &[PathBuf],
    on_event: impl FnMut(&Path, u64, &AuditLogEvent) -> Result<(), CliError>,
) -> Result<Tally, CliError> {
    let files = read::files(inputs)?;
    let files = &files;
    std::thread::scope(|scope| {
        let (sender, batches) = sync_channel(BATCHES_IN_FLIGHT);
        std::thread::Builder::new()
            .name("read".into())
            .spawn_scoped(scope, move || read_files(files, &sender))
            .map_err(|e| CliError::local(format!("cannot start the reading thread: {e}")))?;
        // `batches` is dropped on the first error, which stops the reading thread.
        take(command, files, batches, on_event)
    })
}

/// The caller's side of [`events`]: each record the reading thread hands over.
fn take(
    command: &'static str,
    files: &[PathBuf],
    batches: Receiver<Vec<Read>>,
    mut on_event: impl FnMut(&Path, u64, &AuditLogEvent) -> Result<(), CliError>,
) -> Result<Tally, CliError> {
    let mut tally = Tally::default();
    let mut kinds = Kinds {
        command,
        raw: None,
        ocsf: None,
    };
    for read in batches.iter().flatten() {
        match read {
            Read::Record {
                file,
                number,
                event,
            } => {
                let path = &files[file];
                match event {
                    Ok(event) => {
                        kinds.saw(true, path)?;
                        on_event(path, number, &event)?;
                    }
                    Err((true, _)) => kinds.saw(false, path)?,
                    Err((false, reason)) => {
                        tally.not_events += 1;
                        if tally.not_events <= REPORTED_NOT_EVENTS {
                            tracing::warn!(
                                "{}:{number}: not an audit log event, skipped: {reason}",
                                path.display()
                            );
                        }
                    }
                }
            }
            Read::End { file, read } => {
                let path = &files[file];
                tally.files += 1;
                match read {
                    Ok(()) => {}
                    Err(ReadError::NotRawParquet { ocsf: true }) => kinds.saw(false, path)?,
                    Err(ReadError::NotRawParquet { ocsf: false }) => {
                        return Err(CliError::input(format!(
                            "{} is a Parquet file without an {} column: not one `asana-audit \
                             export` wrote",
                            path.display(),
                            asana_audit_log_pipeline::EVENT_JSON_COLUMN
                        )));
                    }
                    Err(ReadError::Unreadable(e)) => {
                        return Err(CliError::input(format!(
                            "cannot read {}: {e}; nothing was written",
                            path.display()
                        )));
                    }
                }
            }
        }
    }
    if let (None, Some(ocsf)) = (&kinds.raw, &kinds.ocsf) {
        return Err(CliError::input(format!(
            "{} holds OCSF events (--format ocsf); {} reads the raw export (--format raw, \
             the default), which keeps every field Asana sent",
            ocsf.display(),
            kinds.command
        )));
    }
    Ok(tally)
}
