//! The report's input: the files an export wrote (NDJSON, gzip or zstd NDJSON, Parquet), given
//! one by one or as folders, read back record by record.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use asana_audit_log_pipeline::{EVENT_JSON_COLUMN, Encoding};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::CliError;

/// How a file is encoded, from its name: `.gz` gzip, `.zst` zstd, `.parquet` Parquet, NDJSON
/// when it has none of these (a file given by name may be called anything).
fn encoding_of(path: &Path) -> Encoding {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    if name.ends_with(".gz") {
        Encoding::NdjsonGzip
    } else if name.ends_with(".zst") {
        Encoding::NdjsonZstd
    } else if name.ends_with(".parquet") {
        Encoding::Parquet
    } else {
        Encoding::Ndjson
    }
}

/// The extensions a folder's files must have to be read (others, such as a checkpoint or a
/// report's own `--data-json`, are skipped).
const EXTENSIONS: &[&str] = &[
    ".ndjson",
    ".jsonl",
    ".ndjson.gz",
    ".jsonl.gz",
    ".ndjson.zst",
    ".jsonl.zst",
    ".parquet",
];

/// The files to read: each file given, and every export file under each folder given (in name
/// order, which for the sink's partitions is time order; names starting with `.` or `_`, such
/// as the sink's staging folder, are skipped as query engines skip them).
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| CliError::input(format!("cannot read {}: {e}", path.display())))?;
        if meta.is_dir() {
            let before = out.len();
            walk(path, &mut out)?;
            if out.len() == before {
                return Err(CliError::input(format!(
                    "{} holds no export files (.ndjson, .ndjson.gz, .ndjson.zst or .parquet); \
                     give the folder or files that `asana-audit export` or `convert` wrote",
                    path.display()
                )));
            }
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CliError> {
    let unreadable = |e: std::io::Error| {
        CliError::input(format!("cannot read the folder {}: {e}", dir.display()))
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(unreadable)?;
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else if EXTENSIONS.iter().any(|ext| name.ends_with(ext)) {
            out.push(path);
        }
    }
    Ok(())
}

/// Why a file could not be read to its end.
#[derive(Debug)]
pub enum ReadError {
    /// A Parquet file without the `event_json` column: OCSF (with `class_uid`) or another
    /// table.
    NotRawParquet {
        /// Whether it has OCSF's `class_uid` column.
        ocsf: bool,
    },
    /// The file could not be opened, decompressed or decoded.
    Unreadable(String),
}

/// Reads `path` record by record: `on_record` gets each record's number (its line, or its row
/// for Parquet) and its bytes (a line without its line end, or the `event_json` value).
pub fn read(path: &Path, mut on_record: impl FnMut(u64, &[u8])) -> Result<(), ReadError> {
    let unreadable = |e: &dyn std::fmt::Display| ReadError::Unreadable(e.to_string());
    let file = File::open(path).map_err(|e| unreadable(&e))?;
    // Every encoding the sink writes; a new one fails to compile here until it is read.
    let reader: Box<dyn Read> = match encoding_of(path) {
        Encoding::Ndjson => Box::new(file),
        Encoding::NdjsonGzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
        Encoding::NdjsonZstd => Box::new(zstd::Decoder::new(file).map_err(|e| unreadable(&e))?),
        Encoding::Parquet => return read_parquet(file, on_record),
    };
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let mut line = Vec::with_capacity(4096);
    let mut number = 0;
    loop {
        line.clear();
        if reader
            .read_until(b'\n', &mut line)
            .map_err(|e| unreadable(&e))?
            == 0
        {
            return Ok(());
        }
        number += 1;
        let text = crate::convert::trim_line(&line);
        if !text.iter().all(u8::is_ascii_whitespace) {
            on_record(number, text);
        }
    }
}

/// The `event_json` column of a Parquet file the sink wrote, row by row.
fn read_parquet(file: File, mut on_record: impl FnMut(u64, &[u8])) -> Result<(), ReadError> {
    let unreadable = |e: &dyn std::fmt::Display| ReadError::Unreadable(e.to_string());
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| unreadable(&e))?;
    let schema = builder.schema().clone();
    if schema.field_with_name(EVENT_JSON_COLUMN).is_err() {
        return Err(ReadError::NotRawParquet {
            ocsf: schema.field_with_name("class_uid").is_ok(),
        });
    }
    let mask = ProjectionMask::columns(builder.parquet_schema(), [EVENT_JSON_COLUMN]);
    let batches = builder
        .with_projection(mask)
        .with_batch_size(8192)
        .build()
        .map_err(|e| unreadable(&e))?;
    let mut row = 0;
    for batch in batches {
        let batch = batch.map_err(|e| unreadable(&e))?;
        let column = batch.column(0).as_string_opt::<i32>().ok_or_else(|| {
            ReadError::Unreadable(format!("the {EVENT_JSON_COLUMN} column is not text"))
        })?;
        for value in column {
            row += 1;
            on_record(row, value.unwrap_or_default().as_bytes());
        }
    }
    Ok(())
}
