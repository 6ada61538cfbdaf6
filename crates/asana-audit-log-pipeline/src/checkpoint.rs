//! Checkpoint files: where a run stands, saved atomically after the output is durable.
//!
//! A checkpoint is JSON: the query it belongs to, the stream cursor after the last event the
//! output durably holds, and the output's length at that moment (or the archive it lands in,
//! with a commit under way). It is written to a temporary file beside the target, fsynced,
//! renamed over the target, and the directory is fsynced, so a crash at any instant leaves
//! either the old checkpoint or the new one, never a torn file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use asana_audit_log::{Cursor, Query};
use asana_audit_log_ocsf::OcsfVersion;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alerting::AlertState;
use crate::destination::Destination;
use crate::error::Error;
use crate::format::Format;
use crate::sink::{Commit, Layout, Partitioning, SinkOptions};

/// The file format's version; a different one is refused with a clear message.
pub const FORMAT_VERSION: u32 = 1;

/// What a checkpoint file holds. Made by [`Checkpoint::new`], read by [`Checkpoint::load`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Checkpoint {
    /// [`FORMAT_VERSION`] when written.
    pub version: u32,
    /// The query of the export; a resume with other filters is refused.
    pub query: Query,
    /// Where the stream continues: right after the last event the output holds durably.
    pub cursor: Cursor,
    /// The output file's path and length when the checkpoint was taken (absent for stdout).
    pub output: Option<OutputMark>,
    /// Events written by all runs so far.
    pub events_written: u64,
    /// When the checkpoint was saved.
    pub saved_at: DateTime<Utc>,
    /// The directory or object store the events land in, when `--output` is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveMark>,
    /// A commit of files that was under way: `cursor` and `events_written` above still hold
    /// until it is found complete (see [`Sink::recover`](crate::Sink::recover)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingCommit>,
    /// The alerting stage's state at `cursor`, when the run alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertState>,
}

/// The directory or object store a checkpoint's events landed in, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveMark {
    /// The destination as a URL (`file:///...`, `s3://bucket/prefix`).
    pub url: String,
    /// The files' encoding.
    pub encoding: String,
    /// The partition folders (`day`, `hour`, or `security-lake REGION:ACCOUNT`).
    pub partition: String,
    /// How events are written (absent: as received): `ocsf` when mapped to OCSF 1.8.0, which
    /// was the only version before 1.1.0 came, else `ocsf` and the version (`ocsf 1.1.0`), so
    /// that a resume cannot mix versions in one archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// A Security Lake's fallback destination, as a URL (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

impl ArchiveMark {
    /// The mark of an archive in `destination`, written with `options` in `format` (and no
    /// fallback destination: set [`fallback`](Self::fallback) for one).
    pub fn new(destination: &Destination, options: &SinkOptions, format: &Format) -> ArchiveMark {
        ArchiveMark {
            url: destination.url().to_owned(),
            encoding: options.encoding.to_string(),
            partition: match &options.layout {
                Layout::Hive(Partitioning::Day) => "day".to_owned(),
                Layout::Hive(Partitioning::Hour) => "hour".to_owned(),
                Layout::SecurityLake(lake) => {
                    format!("security-lake {}:{}", lake.region(), lake.account_id())
                }
            },
            format: match format {
                Format::Raw => None,
                Format::Ocsf(mapper) if mapper.version() == OcsfVersion::V1_8 => {
                    Some("ocsf".to_owned())
                }
                Format::Ocsf(mapper) => Some(format!("ocsf {}", mapper.version())),
            },
            fallback: None,
        }
    }
}

/// Files being put in place when the checkpoint was saved, and where the export stands once
/// they all are.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingCommit {
    /// The files.
    pub commit: Commit,
    /// The cursor after their events.
    pub cursor: Cursor,
    /// Events written by all runs once they are in place.
    pub events_written: u64,
    /// The alerting stage's state once they are in place, when the run alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertState>,
}

/// The output's state covered by a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputMark {
    /// The output path as given.
    pub path: PathBuf,
    /// Its length in bytes: everything before this is covered by the checkpoint.
    pub bytes: u64,
}

impl Checkpoint {
    /// The checkpoint of a run of `query` that stands at `cursor`, with `events_written`
    /// events written by all runs, saved now; it names no output, archive or pending commit
    /// until one is set.
    pub fn new(query: Query, cursor: Cursor, events_written: u64) -> Checkpoint {
        Checkpoint {
            version: FORMAT_VERSION,
            query,
            cursor,
            output: None,
            events_written,
            saved_at: Utc::now(),
            archive: None,
            pending: None,
            alerts: None,
        }
    }

    /// Reads a checkpoint; `Ok(None)` when the file does not exist yet.
    pub fn load(path: &Path) -> Result<Option<Checkpoint>, Error> {
        let text = match fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::refused(format!(
                    "cannot read checkpoint {}: {e}",
                    path.display()
                )));
            }
        };
        Checkpoint::parse(&text, path).map(Some)
    }

    /// Reads a checkpoint from the bytes of the file at `path` (named in messages only).
    ///
    /// Pure, so that it can be fuzzed: any bytes give a checkpoint or an error
    /// ([`Error::Refused`]), never a panic.
    pub fn parse(text: &[u8], path: &Path) -> Result<Checkpoint, Error> {
        let checkpoint: Checkpoint = serde_json::from_slice(text).map_err(|e| {
            Error::refused(format!(
                "checkpoint {} is not a valid checkpoint ({e}); nothing was sent. Restore it from \
                 a backup, or move it away to start the export from the beginning",
                path.display()
            ))
        })?;
        if checkpoint.version != FORMAT_VERSION {
            return Err(Error::refused(format!(
                "checkpoint {} has format version {}, this build reads version {FORMAT_VERSION}",
                path.display(),
                checkpoint.version
            )));
        }
        Ok(checkpoint)
    }

    /// Writes the checkpoint atomically (see [`write_atomically`]).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        write_atomically(path, &self.to_bytes())
            .map_err(|e| Error::io(format!("save checkpoint {}", path.display()), e))
    }

    /// The checkpoint as saved: pretty JSON and a line end.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a checkpoint serializes");
        bytes.push(b'\n');
        bytes
    }
}

/// Writes `bytes` to `path` so that a reader sees the old file or the whole new one, never a
/// part: a temp file beside it, fsync, rename over it, fsync of the directory. A failed write
/// removes the temp file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&tmp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename is durable only once the directory entry is.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checkpoint as the CLI writes it (a stdout export with an actor filter; the same file
    /// seeds the library's checkpoint fuzz target).
    const SAVED: &str = include_str!("../tests/data/cli-c.checkpoint");

    #[test]
    fn a_saved_checkpoint_parses_and_round_trips() {
        let checkpoint = Checkpoint::parse(SAVED.as_bytes(), Path::new("c")).unwrap();
        assert_eq!(checkpoint.events_written, 3);
        assert!(checkpoint.output.is_none());
        let written = serde_json::to_vec_pretty(&checkpoint).unwrap();
        let again = Checkpoint::parse(&written, Path::new("c")).unwrap();
        assert_eq!(again.cursor, checkpoint.cursor);
        assert_eq!(again.query, checkpoint.query);
        assert_eq!(serde_json::to_vec_pretty(&again).unwrap(), written);
    }

    #[test]
    fn anything_else_is_an_input_error_not_a_panic() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let cut = &SAVED[..SAVED.len() / 2];
        let future = SAVED.replacen("\"version\": 1", "\"version\": 7", 1);
        let foreign_cursor = SAVED.replacen(
            "\"version\": 1,\n    \"query\"",
            "\"version\": 2,\n    \"query\"",
            1,
        );
        for (bytes, expected) in [
            (&b""[..], "is not a valid checkpoint"),
            (b"\xff\xfe", "is not a valid checkpoint"),
            (deep.as_bytes(), "is not a valid checkpoint"),
            (cut.as_bytes(), "is not a valid checkpoint"),
            (b"{\"version\":1}", "is not a valid checkpoint"),
            (future.as_bytes(), "format version 7"),
            (
                foreign_cursor.as_bytes(),
                "cursor version 2 is not supported",
            ),
        ] {
            let error = Checkpoint::parse(bytes, Path::new("x.ckpt")).unwrap_err();
            let Error::Refused { message } = error else {
                panic!("not refused as input: {error:?}");
            };
            assert!(message.contains(expected), "{message}");
            assert!(message.contains("x.ckpt"), "{message}");
        }
    }
}
