//! Reading an archive back as Asana events, for `report` and `detect`: files or folders in any
//! encoding the pipeline writes (its `read`), raw events only (OCSF is refused with a hint),
//! lines that are not events counted and the first few reported with their file and line.

use std::path::{Path, PathBuf};

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

/// Reads every event of `inputs` (files, or folders read recursively) in order and gives each
/// to `on_event` with its file and record number (line, or Parquet row); the first error
/// `on_event` returns stops the reading. `command` names the command in messages.
pub fn events(
    command: &'static str,
    inputs: &[PathBuf],
    mut on_event: impl FnMut(&Path, u64, &AuditLogEvent) -> Result<(), CliError>,
) -> Result<Tally, CliError> {
    let files = read::files(inputs)?;
    let mut tally = Tally::default();
    let mut kinds = Kinds {
        command,
        raw: None,
        ocsf: None,
    };
    for path in &files {
        tally.files += 1;
        let mut failure = None;
        let read = read::read(path, |number, bytes| {
            if failure.is_some() {
                return;
            }
            let decoded = std::str::from_utf8(bytes)
                .map_err(|e| (false, format!("not UTF-8 text: {e}")))
                .and_then(|text| {
                    AuditLogEvent::from_json(text).map_err(|e| (is_ocsf(text), e.to_string()))
                });
            match decoded {
                Ok(event) => {
                    failure = kinds
                        .saw(true, path)
                        .and_then(|()| on_event(path, number, &event))
                        .err();
                }
                Err((true, _)) => failure = kinds.saw(false, path).err(),
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
        });
        if let Some(failure) = failure {
            return Err(failure);
        }
        match read {
            Ok(()) => {}
            Err(ReadError::NotRawParquet { ocsf: true }) => kinds.saw(false, path)?,
            Err(ReadError::NotRawParquet { ocsf: false }) => {
                return Err(CliError::input(format!(
                    "{} is a Parquet file without an {} column: not one `asana-audit export` \
                     wrote",
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
