//! Lines: one event per line, appended to a file or standard output, made durable before a
//! checkpoint names it.
//!
//! A file remembers how many bytes a checkpoint covers. On resume, lines written after that
//! point (the process died between writing them and saving the next checkpoint) are read back:
//! their gids (an event's `gid`, an OCSF event's `metadata.uid`) are dropped when the stream
//! delivers them again, so the file never holds an event twice, and a torn last line (death in
//! the middle of a write) is cut off.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// Where lines go: a file or standard output.
pub struct Lines(Inner);

impl std::fmt::Debug for Lines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lines")
            .field("path", &self.path())
            .finish_non_exhaustive()
    }
}

enum Inner {
    /// A file, appended to; durable on [`Lines::make_durable`].
    File {
        /// The file's path, for messages.
        path: PathBuf,
        /// The file, through a buffer.
        writer: FileWriter,
        /// Bytes in the file once the buffer is flushed.
        len: u64,
    },
    /// Standard output: flushed, but nothing to resume from.
    Stdout(BufWriter<io::Stdout>),
}

/// What [`FileWriter::finish`] does besides flushing its buffer to the file.
#[derive(Clone, Copy, Debug)]
enum Finish {
    /// Nothing more: the file holds every line written so far.
    Flush,
    /// Also wait until the written bytes are on disk (`fdatasync`).
    Sync,
}

/// Appends lines to a file through a buffer. After a failed write or sync nothing more is
/// written and every later call returns that error, so no checkpoint can cover bytes that are
/// not in the file.
struct FileWriter {
    file: BufWriter<File>,
    failed: Option<(io::ErrorKind, String)>,
}

impl FileWriter {
    fn new(file: File) -> Self {
        FileWriter {
            file: BufWriter::with_capacity(1 << 16, file),
            failed: None,
        }
    }

    /// Appends `json` and a newline.
    fn write_line(&mut self, json: &str) -> io::Result<()> {
        self.run(|file| {
            file.write_all(json.as_bytes())?;
            file.write_all(b"\n")
        })
    }

    /// Writes what is buffered to the file, and syncs it for [`Finish::Sync`].
    fn finish(&mut self, how: Finish) -> io::Result<()> {
        self.run(|file| {
            file.flush()?;
            match how {
                Finish::Flush => Ok(()),
                Finish::Sync => file.get_ref().sync_data(),
            }
        })
    }

    /// Runs `step` unless an earlier step failed; the first failure is kept and returned by
    /// every later call.
    fn run(&mut self, step: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>) -> io::Result<()> {
        if self.failed.is_none()
            && let Err(e) = step(&mut self.file)
        {
            self.failed = Some((e.kind(), e.to_string()));
        }
        match &self.failed {
            None => Ok(()),
            Some((kind, message)) => Err(io::Error::new(*kind, message.clone())),
        }
    }
}

/// What a resumed file output found after the checkpointed length.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Gids of complete lines written after the checkpoint.
    pub gids: HashSet<String>,
    /// Bytes of a torn last line that were cut off.
    pub truncated_bytes: u64,
}

impl Lines {
    /// Opens standard output.
    pub fn stdout() -> Self {
        Lines(Inner::Stdout(BufWriter::with_capacity(
            1 << 16,
            io::stdout(),
        )))
    }

    /// Opens a file output.
    ///
    /// `checkpointed` is the file length the checkpoint recorded (`None` for a fresh run, which
    /// refuses a non-empty existing file unless `overwrite`).
    pub fn file(
        path: &Path,
        checkpointed: Option<u64>,
        overwrite: bool,
    ) -> Result<(Self, Recovered), Error> {
        let open_err = |e: io::Error| {
            Error::refused(format!(
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
                    return Err(Error::refused(format!(
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
                    RecoverError::Shorter(len) => Error::refused(format!(
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
            Lines(Inner::File {
                path: path.to_path_buf(),
                writer: FileWriter::new(file),
                len,
            }),
            recovered,
        ))
    }

    /// Appends one event (its compact JSON) and a newline.
    pub fn write_line(&mut self, json: &str) -> io::Result<()> {
        match &mut self.0 {
            Inner::File { writer, len, .. } => {
                writer.write_line(json)?;
                *len += json.len() as u64 + 1;
                Ok(())
            }
            Inner::Stdout(writer) => {
                writer.write_all(json.as_bytes())?;
                writer.write_all(b"\n")
            }
        }
    }

    /// Hands what is buffered to the operating system (no sync): readers of the file see it.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.0 {
            Inner::File { writer, .. } => writer.finish(Finish::Flush),
            Inner::Stdout(writer) => writer.flush(),
        }
    }

    /// Flushes, and for a file waits until the bytes are on disk; returns the file's length
    /// (`None` for standard output).
    pub fn make_durable(&mut self) -> io::Result<Option<u64>> {
        match &mut self.0 {
            Inner::File { writer, len, .. } => {
                writer.finish(Finish::Sync)?;
                Ok(Some(*len))
            }
            Inner::Stdout(writer) => {
                writer.flush()?;
                Ok(None)
            }
        }
    }

    /// The file's path, if the output is a file.
    pub fn path(&self) -> Option<&Path> {
        match &self.0 {
            Inner::File { path, .. } => Some(path),
            Inner::Stdout(_) => None,
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
        // A complete line was written whole by us; one that does not parse is left in place
        // and reported by its absence from the dedupe set (it cannot be matched anyway).
        if let Some(gid) = gid_of_line(line) {
            recovered.gids.insert(gid);
        }
    }
    recovered
}

/// The Asana gid a line holds: an event's `gid`, or an OCSF event's `metadata.uid` (the gid
/// it was mapped from); `None` for a line that is neither.
pub(crate) fn gid_of_line(line: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct GidOnly {
        gid: Option<String>,
        metadata: Option<Metadata>,
    }
    #[derive(serde::Deserialize)]
    struct Metadata {
        uid: String,
    }
    let line = serde_json::from_slice::<GidOnly>(line).ok()?;
    line.gid.or(line.metadata.map(|m| m.uid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_writer_writes_in_order_and_reports_failures() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        let mut writer = FileWriter::new(File::create(&path).unwrap());
        // Enough lines to fill the buffer many times over, then one more.
        let line = "x".repeat(999);
        for _ in 0..1000 {
            writer.write_line(&line).unwrap();
        }
        writer.finish(Finish::Sync).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1_000_000);
        writer.write_line("{\"last\":1}").unwrap();
        drop(writer);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("x\n{\"last\":1}\n"));

        // A file opened for reading cannot be written: the failure reaches `finish`, and
        // every later one.
        let mut writer = FileWriter::new(File::open(&path).unwrap());
        writer.write_line("lost").unwrap();
        let error = writer.finish(Finish::Flush).unwrap_err();
        assert!(writer.finish(Finish::Sync).is_err());
        // Once a write has failed, the next line fails at once with its error, and nothing
        // reached the file.
        let again = writer.write_line("also lost").unwrap_err();
        assert_eq!(
            (again.kind(), again.to_string()),
            (error.kind(), error.to_string())
        );
        drop(writer);
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .ends_with("x\n{\"last\":1}\n")
        );
    }

    #[test]
    fn the_tail_scan_reports_complete_lines_and_the_torn_rest() {
        let tail = b"{\"gid\":\"1\",\"x\":[]}\n\nnot json\n{\"gid\":2}\n{\"gid\":\"3\"}\n{\"class_uid\":3002,\"metadata\":{\"uid\":\"5\"}}\n{\"gid\":\"4\",\"cut";
        let recovered = scan_tail(tail);
        let mut gids: Vec<&str> = recovered.gids.iter().map(String::as_str).collect();
        gids.sort();
        assert_eq!(
            gids,
            ["1", "3", "5"],
            "lines that do not parse are left alone; OCSF lines give their metadata.uid"
        );
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
        let (_output, recovered) = Lines::file(&path, Some(covered.len() as u64), false).unwrap();
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
        let error = Lines::file(&path, Some(1000), false).err().unwrap();
        assert!(
            matches!(&error, Error::Refused { message }
                if message.contains("holds 24 bytes but the checkpoint covers 1000")),
            "{error:?}"
        );
        assert_eq!(std::fs::read(&path).unwrap().len(), 24);
    }
}
