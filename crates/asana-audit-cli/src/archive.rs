//! Directory and object store outputs: which `--output` is one, the sink's options, and how
//! its errors map to exit codes.

use std::path::Path;

use asana_audit_log_sink::{
    CommitError, Destination, Encoding, Partitioning, Sink, SinkError, SinkOptions,
};

use crate::checkpoint::ArchiveMark;
use crate::cli::{ArchiveArgs, PartitionBy};
use crate::error::{CliError, Failure};

/// What an `--output` names.
pub enum Target {
    /// `-`: standard output, NDJSON.
    Stdout,
    /// A single NDJSON file, appended to.
    File,
    /// A directory or object store prefix, for partitioned files.
    Archive(Destination),
}

impl Target {
    /// Reads `--output` with `--encoding`: a URL, an existing directory, a path ending in `/`,
    /// or any path with an encoding other than ndjson is an archive. Refuses what cannot work
    /// (a compressed or Parquet encoding to standard output, an unknown URL scheme) before
    /// anything is sent.
    pub fn classify(output: &Path, args: &ArchiveArgs) -> Result<Target, CliError> {
        let text = output.to_string_lossy();
        let encoding = args.encoding.unwrap_or(Encoding::Ndjson);
        if text == "-" {
            if encoding != Encoding::Ndjson {
                return Err(CliError::input(format!(
                    "--encoding {encoding} cannot be written to standard output{}; give a \
                     directory or URL as --output",
                    if encoding.streams() {
                        ""
                    } else {
                        " (a Parquet file's footer is written last)"
                    }
                )));
            }
            return Ok(Target::Stdout);
        }
        let is_archive = text.contains("://")
            || output.is_dir()
            || text.ends_with('/')
            || encoding != Encoding::Ndjson;
        if !is_archive {
            return Ok(Target::File);
        }
        Destination::parse(&text)
            .map(Target::Archive)
            .map_err(|e| CliError::input(e.to_string()))
    }
}

/// The sink options `args` ask for.
pub fn options(args: &ArchiveArgs) -> SinkOptions {
    let mut options = SinkOptions::new(args.encoding.unwrap_or(Encoding::Ndjson))
        .with_partitioning(match args.partition {
            PartitionBy::Day => Partitioning::Day,
            PartitionBy::Hour => Partitioning::Hour,
        })
        .with_max_file_bytes(args.rotate_size)
        .with_max_file_age(args.rotate_after)
        .with_row_group_rows(usize::try_from(args.row_group_rows).unwrap_or(usize::MAX));
    if let Some(dir) = &args.staging_dir {
        options = options.with_staging_dir(dir);
    }
    options
}

/// What a checkpoint records of the archive, to refuse resuming into another one.
pub fn mark(destination: &Destination, args: &ArchiveArgs) -> ArchiveMark {
    ArchiveMark {
        url: destination.url().to_owned(),
        encoding: args.encoding.unwrap_or(Encoding::Ndjson).to_string(),
        partition: match args.partition {
            PartitionBy::Day => "day",
            PartitionBy::Hour => "hour",
        }
        .to_owned(),
    }
}

/// Opens the sink, checking that the destination takes writes: a failure here is bad input
/// (exit 2), found before the first request.
pub async fn open(destination: Destination, args: &ArchiveArgs) -> Result<Sink, CliError> {
    let url = destination.url().to_owned();
    Sink::open(destination, options(args)).await.map_err(|e| {
        CliError::input(format!(
            "cannot write to {url}: {}; check the URL, that the bucket exists, and the \
             credentials (AWS_*, GOOGLE_*, AZURE_* environment variables); nothing was sent",
            chain(&e)
        ))
    })
}

/// An error and its causes on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let more = error.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = error.source();
    }
    text
}

/// A sink failure during a run: the object store failing is exit 4 (like the API failing), a
/// local write failure exit 1.
pub fn sink_error(error: SinkError) -> CliError {
    let failure = match error {
        SinkError::Store { .. } => Failure::Api,
        _ => Failure::Local,
    };
    CliError {
        failure,
        message: format!(
            "{}; the checkpoint covers only the files already in place",
            chain(&error)
        ),
    }
}

/// A failure of a commit: of the sink, or of the checkpoint save around it.
pub fn commit_error(error: CommitError<CliError>) -> CliError {
    match error {
        CommitError::Sink(error) => sink_error(error),
        CommitError::Record(error) => error,
    }
}
