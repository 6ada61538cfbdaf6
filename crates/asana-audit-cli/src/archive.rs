//! The archive flags (`--format`, `--ocsf-version`, `--encoding`, `--security-lake`,
//! `--partition`, rotation) read into the pipeline's values: the output, the sink's options,
//! the format.

use std::path::Path;

use asana_audit_log_pipeline::{
    Encoding, Format, Layout, OcsfVersion, Output, Partitioning, SinkOptions,
};

use crate::cli::{self, ArchiveArgs, PartitionBy};
use crate::error::CliError;

/// Reads `--output` with the encoding `args` ask for (see [`Output::parse`]), once the flags
/// are found not to contradict each other (`--security-lake` with another encoding or OCSF
/// version, `--ocsf-version` without OCSF).
pub fn output(output: &Path, args: &ArchiveArgs) -> Result<Output, CliError> {
    let encoding = encoding(args);
    if args.security_lake.is_some() && encoding != Encoding::Parquet {
        return Err(CliError::input(
            "--security-lake writes Parquet (Security Lake reads nothing else); drop --encoding",
        ));
    }
    match (&args.security_lake, args.format, args.ocsf_version) {
        (Some(_), _, Some(cli::OcsfVersion::V1_8)) => {
            return Err(CliError::input(
                "--security-lake writes OCSF 1.1 (Security Lake validates custom sources against it); \
                 drop --ocsf-version",
            ));
        }
        (None, cli::Format::Raw, Some(_)) => {
            return Err(CliError::input(
                "--ocsf-version is the version of OCSF events; add --format ocsf, or drop it",
            ));
        }
        _ => {}
    }
    Ok(Output::parse(&output.to_string_lossy(), encoding)?)
}

/// What `--format` (or `--security-lake`) asks events to be written as; `tenant` (the
/// workspace gid, when known) goes into OCSF's `metadata.tenant_uid`.
pub fn format(args: &ArchiveArgs, tenant: Option<&str>) -> Format {
    match (args.format, &args.security_lake) {
        (cli::Format::Raw, None) => Format::Raw,
        _ => Format::ocsf_in(ocsf_version(args), tenant),
    }
}

/// The OCSF version `args` ask for: 1.1 for Security Lake (which validates custom sources
/// against OCSF 1.1), else `--ocsf-version`, else 1.8.
fn ocsf_version(args: &ArchiveArgs) -> OcsfVersion {
    match (&args.security_lake, args.ocsf_version) {
        (Some(_), _) | (None, Some(cli::OcsfVersion::V1_1)) => OcsfVersion::V1_1,
        (None, Some(cli::OcsfVersion::V1_8) | None) => OcsfVersion::V1_8,
    }
}

/// The encoding `args` ask for: `--encoding`, else Parquet for Security Lake, else ndjson.
pub fn encoding(args: &ArchiveArgs) -> Encoding {
    match (args.encoding, &args.security_lake) {
        (Some(encoding), _) => encoding,
        (None, Some(_)) => Encoding::Parquet,
        (None, None) => Encoding::Ndjson,
    }
}

/// The sink options `args` ask for.
pub fn options(args: &ArchiveArgs) -> SinkOptions {
    let layout = match &args.security_lake {
        Some((region, account_id)) => Layout::SecurityLake {
            source_prefix: "asana-".to_owned(),
            region: region.clone(),
            account_id: account_id.clone(),
        },
        None => Layout::Hive(match args.partition {
            PartitionBy::Day => Partitioning::Day,
            PartitionBy::Hour => Partitioning::Hour,
        }),
    };
    let mut options = SinkOptions::new(encoding(args));
    options.layout = layout;
    options.max_file_bytes = args.rotate_size;
    options.max_file_age = args.rotate_after;
    options.row_group_rows = usize::try_from(args.row_group_rows).unwrap_or(usize::MAX);
    options.staging_dir = args.staging_dir.clone();
    options
}
