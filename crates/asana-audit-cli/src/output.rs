//! The NDJSON output: one event per line, appended, made durable before a checkpoint names it.
//!
//! A file output remembers how many bytes a checkpoint covers. On resume, lines written after
//! that point (the process died between writing them and saving the next checkpoint) are read
//! back: their gids are dropped when the stream delivers them again, so the file never holds an
//! event twice, and a torn last line (death in the middle of a write) is cut off.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::CliError;

/// Where events go.
pub enum Output {
    /// A file, appended to; durable on [`Output::make_durable`].
    File {
        /// The file's path, for messages.
        path: PathBuf,
        /// Buffered writer over the file.
        writer: BufWriter<File>,
        /// Bytes in the file once the buffer is flushed.
        len: u64,
    },
    /// Standard output (`--output -`): flushed, but nothing to resume from.
    Stdout(BufWriter<io::Stdout>),
}

/// What a resumed file output found after the checkpointed length.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Gids of complete lines written after the checkpoint.
    pub gids: HashSet<String>,
    /// Bytes of a torn last line that were cut off.
    pub truncated_bytes: u64,
}

impl Output {
    /// Opens standard output.
    pub fn stdout() -> Self {
        Output::Stdout(BufWriter::with_capacity(1 << 16, io::stdout()))
    }

    /// Opens a file output.
    ///
    /// `checkpointed` is the file length the checkpoint recorded (`None` for a fresh run, which
    /// refuses a non-empty existing file unless `overwrite`).
    pub fn file(
        path: &Path,
        checkpointed: Option<u64>,
        overwrite: bool,
    ) -> Result<(Self, Recovered), CliError> {
        let open_err = |e: io::Error| {
            CliError::input(format!(
                "cannot open output {}: {e}; choose a writable path with --output",
                path.display()
            ))
        };
        let mut recovered = Recovered::default();
        let file = match checkpointed {
            None => {
                let exists_non_empty = std::fs::metadata(path)
                    .map(|m| m.len() > 0)
                    .unwrap_or(false);
                if exists_non_empty && !overwrite {
                    return Err(CliError::input(format!(
                        "output {} already exists and is not empty; pass --checkpoint FILE to resume \
                         an earlier run, --overwrite to replace it, or choose another --output",
                        path.display()
                    )));
                }
                OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(true)
                    .open(path)
                    .map_err(open_err)?
            }
            Some(covered) => {
                let mut file = OpenOptions::new()
                    .create(true)
                    .read(true)
                    .write(true)
                    .truncate(false)
                    .open(path)
                    .map_err(open_err)?;
                recovered = recover_tail(&mut file, covered).map_err(|e| match e {
                    RecoverError::Io(e) => open_err(e),
                    RecoverError::Shorter(len) => CliError::input(format!(
                        "output {} holds {len} bytes but the checkpoint covers {covered}: the file \
                         was truncated or replaced since; restore it, or start a new export without \
                         this --checkpoint",
                        path.display()
                    )),
                })?;
                file
            }
        };
        let len = file.metadata().map_err(open_err)?.len();
        let mut file = file;
        file.seek(SeekFrom::End(0)).map_err(open_err)?;
        Ok((
            Output::File {
                path: path.to_path_buf(),
                writer: BufWriter::with_capacity(1 << 16, file),
                len,
            },
            recovered,
        ))
    }

    /// Appends one event (its compact JSON) and a newline.
    pub fn write_line(&mut self, json: &str) -> io::Result<()> {
        match self {
            Output::File { writer, len, .. } => {
                writer.write_all(json.as_bytes())?;
                writer.write_all(b"\n")?;
                *len += json.len() as u64 + 1;
                Ok(())
            }
            Output::Stdout(writer) => {
                writer.write_all(json.as_bytes())?;
                writer.write_all(b"\n")
            }
        }
    }

    /// Hands what is buffered to the operating system (no sync): readers of the file see it.
    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::File { writer, .. } => writer.flush(),
            Output::Stdout(writer) => writer.flush(),
        }
    }

    /// Flushes, and for a file waits until the bytes are on disk; returns the file's length
    /// (`None` for standard output).
    pub fn make_durable(&mut self) -> io::Result<Option<u64>> {
        match self {
            Output::File { writer, len, .. } => {
                writer.flush()?;
                writer.get_ref().sync_data()?;
                Ok(Some(*len))
            }
            Output::Stdout(writer) => {
                writer.flush()?;
                Ok(None)
            }
        }
    }

    /// The file's path, if the output is a file.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Output::File { path, .. } => Some(path),
            Output::Stdout(_) => None,
        }
    }
}

enum RecoverError {
    Io(io::Error),
    Shorter(u64),
}

impl From<io::Error> for RecoverError {
    fn from(e: io::Error) -> Self {
        RecoverError::Io(e)
    }
}

/// Reads what follows `covered` bytes: gids of complete lines; cuts a torn last line.
fn recover_tail(file: &mut File, covered: u64) -> Result<Recovered, RecoverError> {
    let len = file.metadata()?.len();
    if len < covered {
        return Err(RecoverError::Shorter(len));
    }
    let mut tail = Vec::with_capacity((len - covered) as usize);
    file.seek(SeekFrom::Start(covered))?;
    file.read_to_end(&mut tail)?;
    let recovered = scan_tail(&tail);
    if recovered.truncated_bytes > 0 {
        file.set_len(covered + (tail.len() as u64 - recovered.truncated_bytes))?;
        file.sync_data()?;
    }
    Ok(recovered)
}

/// What the bytes after the checkpointed length hold: the gids of their complete lines, and how
/// many bytes of a torn last line (no newline) follow them.
///
/// Pure, so that it can be fuzzed: any bytes give an answer, never a panic.
pub fn scan_tail(tail: &[u8]) -> Recovered {
    let complete = tail.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut recovered = Recovered {
        truncated_bytes: (tail.len() - complete) as u64,
        ..Recovered::default()
    };
    for line in tail[..complete]
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
    {
        #[derive(serde::Deserialize)]
        struct GidOnly {
            gid: String,
        }
        // A complete line was written whole by us; one that does not parse is left in place
        // and reported by its absence from the dedupe set (it cannot be matched anyway).
        if let Ok(GidOnly { gid }) = serde_json::from_slice::<GidOnly>(line) {
            recovered.gids.insert(gid);
        }
    }
    recovered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_scan_reports_complete_lines_and_the_torn_rest() {
        let tail = b"{\"gid\":\"1\",\"x\":[]}\n\nnot json\n{\"gid\":2}\n{\"gid\":\"3\"}\n{\"gid\":\"4\",\"cut";
        let recovered = scan_tail(tail);
        let mut gids: Vec<&str> = recovered.gids.iter().map(String::as_str).collect();
        gids.sort();
        assert_eq!(gids, ["1", "3"], "lines that do not parse are left alone");
        assert_eq!(
            recovered.truncated_bytes,
            "{\"gid\":\"4\",\"cut".len() as u64
        );
        for (tail, torn) in [(&b""[..], 0), (b"\n", 0), (b"abc", 3), (b"\xff\n\xfe", 1)] {
            let recovered = scan_tail(tail);
            assert_eq!(recovered.truncated_bytes, torn, "{tail:?}");
            assert!(recovered.gids.is_empty());
        }
    }

    #[test]
    fn resuming_cuts_exactly_the_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        let covered = b"{\"gid\":\"1\"}\n";
        let after = b"{\"gid\":\"2\"}\n{\"gid\":\"3\",\"tor";
        std::fs::write(&path, [&covered[..], &after[..]].concat()).unwrap();
        let (_output, recovered) = Output::file(&path, Some(covered.len() as u64), false).unwrap();
        assert_eq!(
            recovered.gids.into_iter().collect::<Vec<_>>(),
            ["2".to_string()]
        );
        assert_eq!(recovered.truncated_bytes, 15);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"{\"gid\":\"1\"}\n{\"gid\":\"2\"}\n"
        );
        // A checkpoint that covers more than the file holds is refused, and nothing is cut.
        let error = Output::file(&path, Some(1000), false).err().unwrap();
        assert!(
            error
                .message
                .contains("holds 24 bytes but the checkpoint covers 1000")
        );
        assert_eq!(std::fs::read(&path).unwrap().len(), 24);
    }
}
