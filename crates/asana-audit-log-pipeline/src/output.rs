//! [`Output`]: where a run's events go, read once from what a user typed.

use std::path::{Path, PathBuf};

use crate::destination::{Destination, is_url};
use crate::encoding::Encoding;
use crate::error::Error;

/// Where a run's events go: standard output or a file (one event per line), or an archive
/// (a directory or object store prefix, files committed whole).
///
/// ```
/// use asana_audit_log_pipeline::{Encoding, Output};
///
/// assert!(matches!(Output::parse("-", Encoding::Ndjson).unwrap(), Output::Stdout));
/// assert!(matches!(Output::parse("events.ndjson", Encoding::Ndjson).unwrap(), Output::File(_)));
/// assert!(matches!(Output::parse("s3://bucket/asana", Encoding::Parquet).unwrap(), Output::Archive(_)));
/// assert!(matches!(Output::parse("archive", Encoding::NdjsonGzip).unwrap(), Output::Archive(_)));
/// assert!(Output::parse("-", Encoding::Parquet).is_err());
/// ```
#[derive(Debug, Clone)]
pub enum Output {
    /// Standard output, one line per event.
    Stdout,
    /// A single file, one line per event, appended to on resume.
    File(PathBuf),
    /// A directory or object store prefix, for partitioned files committed whole.
    Archive(Destination),
}

impl Output {
    /// Reads `text` for events in `encoding`: `-` is standard output; a URL, an existing
    /// directory, a path ending in `/`, or any path with an encoding other than NDJSON is an
    /// archive; any other path is a file. Refuses what cannot work (a compressed or Parquet
    /// encoding to standard output, an unknown URL scheme) before anything is sent.
    pub fn parse(text: &str, encoding: Encoding) -> Result<Output, Error> {
        if text == "-" {
            if encoding != Encoding::Ndjson {
                return Err(Error::refused(format!(
                    "--encoding {encoding} cannot be written to standard output{}; give a \
                     directory or URL as --output",
                    if encoding.streams() {
                        ""
                    } else {
                        " (a Parquet file's footer is written last)"
                    }
                )));
            }
            return Ok(Output::Stdout);
        }
        let is_archive = is_url(text)
            || Path::new(text).is_dir()
            || text.ends_with('/')
            || encoding != Encoding::Ndjson;
        if !is_archive {
            return Ok(Output::File(PathBuf::from(text)));
        }
        Destination::parse(text)
            .map(Output::Archive)
            .map_err(|e| Error::refused(e.to_string()))
    }
}
