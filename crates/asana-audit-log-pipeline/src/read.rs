//! Reading back what this crate writes: NDJSON files (plain, gzip, zstd) and Parquet files,
//! given one by one or as folders, record by record.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::encoding::{Encoding, FileDecoder};
use crate::error::Error;
use crate::parquet::EVENT_JSON_COLUMN;

/// The files to read: each file given, and every file this crate writes under each folder
/// given (in name order, which for a sink's partitions is time order; names starting with `.`
/// or `_`, such as the sink's staging folder, are skipped as query engines skip them).
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| Error::refused(format!("cannot read {}: {e}", path.display())))?;
        if meta.is_dir() {
            let before = out.len();
            walk(path, &mut out)?;
            if out.len() == before {
                return Err(Error::refused(format!(
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

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let unreadable = |e: std::io::Error| {
        Error::refused(format!("cannot read the folder {}: {e}", dir.display()))
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
        } else if Encoding::of_export_file(&name).is_some() {
            out.push(path);
        }
    }
    Ok(())
}

/// Why a file could not be read to its end.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A Parquet file without the `event_json` column: OCSF (with `class_uid`) or another
    /// table.
    #[error("a Parquet file without the event_json column{}", if *ocsf { " (OCSF events)" } else { "" })]
    NotRawParquet {
        /// Whether it has OCSF's `class_uid` column.
        ocsf: bool,
    },
    /// The file could not be opened, decompressed or decoded.
    #[error("{0}")]
    Unreadable(String),
}

/// Reads `path` record by record: `on_record` gets each record's number (its line, or its row
/// for Parquet) and its bytes (a line without its line end, or the `event_json` value). The
/// encoding comes from the file's name ([`Encoding::of_file`]).
pub fn read(path: &Path, mut on_record: impl FnMut(u64, &[u8])) -> Result<(), ReadError> {
    let unreadable = |e: &dyn std::fmt::Display| ReadError::Unreadable(e.to_string());
    let file = File::open(path).map_err(|e| unreadable(&e))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let reader = match Encoding::of_file(&name)
        .decoder(file)
        .map_err(|e| unreadable(&e))?
    {
        FileDecoder::Lines(reader) => reader,
        FileDecoder::Parquet(file) => return read_parquet(file, on_record),
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
        let text = trim_line(&line);
        if !text.iter().all(u8::is_ascii_whitespace) {
            on_record(number, text);
        }
    }
}

/// Reads the Asana gid of each record of `path`, in order: an event's `gid`, an OCSF event's
/// `metadata.uid` (the gid it was mapped from), in any encoding and either format this crate
/// writes. What an archive holds, to check that every event is in it once.
pub fn gids(path: &Path, mut on_gid: impl FnMut(&str)) -> Result<(), ReadError> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    if Encoding::of_file(&name) == Encoding::Parquet {
        return parquet_gids(path, on_gid);
    }
    let mut failure = None;
    read(path, |number, line| {
        match crate::lines::gid_of_line(line) {
            Some(gid) => on_gid(&gid),
            None => {
                failure.get_or_insert_with(|| {
                    ReadError::Unreadable(format!("record {number} has no gid"))
                });
            }
        };
    })?;
    failure.map_or(Ok(()), Err)
}

/// The `gid` column of a Parquet file of events as received, or `metadata.uid` of OCSF events.
fn parquet_gids(path: &Path, mut on_gid: impl FnMut(&str)) -> Result<(), ReadError> {
    let unreadable = |e: &dyn std::fmt::Display| ReadError::Unreadable(e.to_string());
    let file = File::open(path).map_err(|e| unreadable(&e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| unreadable(&e))?;
    let raw = builder.schema().field_with_name("gid").is_ok();
    let column = if raw { "gid" } else { "metadata.uid" };
    let mask = ProjectionMask::columns(builder.parquet_schema(), [column]);
    let batches = builder
        .with_projection(mask)
        .build()
        .map_err(|e| unreadable(&e))?;
    for batch in batches {
        let batch = batch.map_err(|e| unreadable(&e))?;
        let mut values = batch.column(0).clone();
        if !raw {
            values = values
                .as_struct_opt()
                .and_then(|metadata| metadata.column_by_name("uid"))
                .cloned()
                .ok_or_else(|| ReadError::Unreadable(format!("{path:?} has no {column}")))?;
        }
        let values = values
            .as_string_opt::<i32>()
            .ok_or_else(|| ReadError::Unreadable(format!("{column} is not text")))?;
        for gid in values.iter().flatten() {
            on_gid(gid);
        }
    }
    Ok(())
}

/// The line without its `\n` or `\r\n`.
pub fn trim_line(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
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
