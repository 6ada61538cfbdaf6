//! The archive flags (`--format`, `--ocsf-version`, `--encoding`, `--security-lake` and its
//! sources, `--partition`, rotation) read into the pipeline's values: the output, the sink's
//! options, the format.

use std::path::Path;
use std::time::Duration;

use asana_audit_log_pipeline::{
    Destination, Encoding, Format, Layout, OcsfVersion, Output, Partitioning, SecurityLake,
    SinkOptions,
};

use crate::cli::{self, ArchiveArgs, PartitionBy};
use crate::error::CliError;

/// The file size at which a file is committed, unless `--rotate-size` says otherwise.
const ROTATE_SIZE: u64 = 128 << 20;

/// The same for Security Lake: AWS's guidance for custom sources (the Security Lake user
/// guide, "Collecting data from custom sources in Security Lake", best practices:
/// <https://docs.aws.amazon.com/security-lake/latest/userguide/custom-sources.html>) is to
/// send objects between every 5 minutes and once per event day, more often only when they
/// are larger than 256 MB. `--rotate-after`'s default (10 minutes) is within that window.
const LAKE_ROTATE_SIZE: u64 = 256 << 20;

/// The commit intervals AWS's guidance for Security Lake custom sources allows (see
/// [`LAKE_ROTATE_SIZE`]).
const LAKE_CADENCE: (Duration, Duration) = (Duration::from_secs(300), Duration::from_secs(86_400));

/// Reads `--output` with the encoding `args` ask for (see [`Output::parse`]), once the flags
/// are found not to contradict each other (`--security-lake` with another encoding or OCSF
/// version or an output outside its bucket, `--ocsf-version` without OCSF). With
/// `--security-lake`, `output` may be absent (`None`, or `-` for the flag's default): the
/// lake's bucket is the output.
pub fn output(output: Option<&Path>, args: &ArchiveArgs) -> Result<Output, CliError> {
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
    let output = output.filter(|path| path.as_os_str() != "-");
    if let Some(lake) = lake(args)? {
        let bucket = Destination::parse(&lake.bucket_url())?;
        if let Some(output) = output {
            let given = Destination::parse(&output.to_string_lossy()).ok();
            if given.as_ref().map(|d| d.url().trim_end_matches('/'))
                != Some(bucket.url().trim_end_matches('/'))
            {
                return Err(CliError::input(format!(
                    "--output {} is not the bucket of the --security-lake-source locations ({}); \
                     files land at those locations: drop --output",
                    output.display(),
                    bucket.url()
                )));
            }
        }
        return Ok(Output::Archive(bucket));
    }
    let output = output.map_or_else(|| "-".into(), |path| path.to_string_lossy());
    Ok(Output::parse(&output, encoding)?)
}

/// The Security Lake `args` describe (`--security-lake` and its `--security-lake-source`s),
/// if any: refused when a class the events map to has no location, the locations are not in
/// one bucket, or sources are given without `--security-lake`.
fn lake(args: &ArchiveArgs) -> Result<Option<SecurityLake>, CliError> {
    match &args.security_lake {
        None if args.security_lake_source.is_empty() && args.fallback_output.is_none() => Ok(None),
        None => Err(CliError::input(
            "--security-lake-source and --fallback-output are for a Security Lake; add \
             --security-lake REGION:ACCOUNT, or drop them",
        )),
        Some((region, account_id)) => {
            let lake = SecurityLake::new(
                region,
                account_id,
                args.security_lake_source.iter().cloned(),
            )
            .map_err(|e| {
                CliError::input(format!(
                    "{e}\n(give each as --security-lake-source CLASS=LOCATION, or \
                             security_lake_source in a run configuration)"
                ))
            })?;
            if args.fallback_output.is_none() {
                return Err(CliError::input(
                    "--security-lake needs --fallback-output: events that map to OCSF Base \
                     Event (those whose resource has neither a gid nor a name, of any type) have \
                     no Security Lake class, and are written in full there instead, e.g. \
                     --fallback-output s3://BUCKET/asana-unmapped/",
                ));
            }
            Ok(Some(lake))
        }
    }
}

/// Where `--fallback-output` says the events of no Security Lake class go (refused as
/// [`output`] refuses a Security Lake, and when it is not a place for an archive).
pub fn fallback(args: &ArchiveArgs) -> Result<Option<Destination>, CliError> {
    lake(args)?;
    args.fallback_output
        .as_deref()
        .map(|path| {
            let text = path.to_string_lossy();
            Destination::parse(&text)
                .map_err(|e| CliError::input(format!("--fallback-output {text}: {e}")))
        })
        .transpose()
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

/// The sink options `args` ask for (refused as [`output`] refuses a Security Lake).
pub fn options(args: &ArchiveArgs) -> Result<SinkOptions, CliError> {
    let lake = lake(args)?;
    let mut options = SinkOptions::new(encoding(args));
    options.max_file_bytes = args.rotate_size.unwrap_or(match lake {
        Some(_) => LAKE_ROTATE_SIZE,
        None => ROTATE_SIZE,
    });
    options.max_file_age = args.rotate_after;
    if lake.is_some() && !(LAKE_CADENCE.0..=LAKE_CADENCE.1).contains(&args.rotate_after) {
        tracing::warn!(
            rotate_after = ?args.rotate_after,
            "AWS asks Security Lake custom sources to send objects between every 5 minutes and \
             once a day (more often only when they are over 256 MB); --rotate-after is outside \
             that"
        );
    }
    options.layout = match lake {
        Some(lake) => Layout::SecurityLake(lake),
        None => Layout::Hive(match args.partition {
            PartitionBy::Day => Partitioning::Day,
            PartitionBy::Hour => Partitioning::Hour,
        }),
    };
    options.row_group_rows = usize::try_from(args.row_group_rows).unwrap_or(usize::MAX);
    options.staging_dir = args.staging_dir.clone();
    Ok(options)
}
