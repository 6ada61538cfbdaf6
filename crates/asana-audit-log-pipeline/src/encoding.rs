//! How events are encoded into a file: NDJSON (plain, gzip, zstd) or Parquet.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::str::FromStr;

use crate::error::Error;
use crate::parquet::ParquetFile;
use crate::record::{Record, RowBuilder};

/// The encoding of the files a [`Sink`](crate::Sink) writes.
///
/// Each NDJSON line is one event exactly as Asana sent it (the bytes received, one line each).
/// Parquet files hold typed columns plus the exact JSON (see [`parquet_schema`](crate::parquet_schema)).
///
/// ```
/// use asana_audit_log_pipeline::Encoding;
///
/// let encoding: Encoding = "ndjson.zst".parse().unwrap();
/// assert_eq!(encoding, Encoding::NdjsonZstd);
/// assert_eq!(encoding.extension(), "ndjson.zst");
/// assert!("csv".parse::<Encoding>().unwrap_err().to_string().contains("ndjson.gz"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// One event per line, uncompressed (`.ndjson`).
    Ndjson,
    /// NDJSON compressed with gzip (`.ndjson.gz`), level 6.
    NdjsonGzip,
    /// NDJSON compressed with zstd (`.ndjson.zst`), level 3.
    NdjsonZstd,
    /// Apache Parquet with zstd-compressed columns (`.parquet`).
    Parquet,
}

impl Encoding {
    /// Every encoding, in the order the CLI lists them.
    pub const ALL: [Encoding; 4] = [
        Encoding::Ndjson,
        Encoding::NdjsonGzip,
        Encoding::NdjsonZstd,
        Encoding::Parquet,
    ];

    /// The name used on the command line, which is also the file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Encoding::Ndjson => "ndjson",
            Encoding::NdjsonGzip => "ndjson.gz",
            Encoding::NdjsonZstd => "ndjson.zst",
            Encoding::Parquet => "parquet",
        }
    }

    /// The encoding of a file named `name`, by what it ends with: `.gz` gzip, `.zst` zstd,
    /// `.parquet` Parquet, NDJSON otherwise (a file given by name may be called anything).
    ///
    /// ```
    /// use asana_audit_log_pipeline::Encoding;
    ///
    /// assert_eq!(Encoding::of_file("a.ndjson.zst"), Encoding::NdjsonZstd);
    /// assert_eq!(Encoding::of_file("a.jsonl.gz"), Encoding::NdjsonGzip);
    /// assert_eq!(Encoding::of_file("events.txt"), Encoding::Ndjson);
    /// assert_eq!(Encoding::of_export_file("checkpoint.json"), None);
    /// ```
    pub fn of_file(name: &str) -> Encoding {
        Encoding::ALL
            .into_iter()
            .find(|encoding| {
                // The last part of the extension tells the encodings apart.
                let last = encoding.extension().rsplit('.').next().unwrap_or_default();
                has_extension(name, last)
            })
            .unwrap_or(Encoding::Ndjson)
    }

    /// The encoding of a file named as this crate names them (`.ndjson`, `.ndjson.gz`,
    /// `.ndjson.zst`, `.parquet`, or `.jsonl` for `.ndjson`), `None` for any other file (a
    /// checkpoint, a report's JSON).
    pub fn of_export_file(name: &str) -> Option<Encoding> {
        Encoding::ALL.into_iter().find(|encoding| {
            let extension = encoding.extension();
            has_extension(name, extension)
                || has_extension(name, &extension.replace("ndjson", "jsonl"))
        })
    }

    /// Whether the encoding can be streamed to a pipe (Parquet cannot: its footer is written
    /// last and readers seek to it).
    pub fn streams(self) -> bool {
        self != Encoding::Parquet
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// An encoding name that is not one of [`Encoding::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown encoding {0:?}: use one of ndjson, ndjson.gz, ndjson.zst, parquet")]
pub struct UnknownEncoding(pub String);

impl FromStr for Encoding {
    type Err = UnknownEncoding;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Encoding::ALL
            .into_iter()
            .find(|encoding| encoding.extension() == name)
            .ok_or_else(|| UnknownEncoding(name.to_owned()))
    }
}

/// Whether `name` ends with `.` and `extension`.
fn has_extension(name: &str, extension: &str) -> bool {
    name.strip_suffix(extension)
        .is_some_and(|stem| stem.ends_with('.'))
}

/// How a file of an encoding is read back (see [`crate::read`]).
pub(crate) enum FileDecoder {
    /// Its lines, decompressed.
    Lines(Box<dyn io::Read>),
    /// Parquet rows.
    Parquet(File),
}

impl Encoding {
    /// How `file`, in this encoding, is read back: each encoding's reading beside its writing
    /// ([`FileEncoder::new`]), so that a new encoding is one change here.
    pub(crate) fn decoder(self, file: File) -> io::Result<FileDecoder> {
        Ok(match self {
            Encoding::Ndjson => FileDecoder::Lines(Box::new(file)),
            Encoding::NdjsonGzip => {
                FileDecoder::Lines(Box::new(flate2::read::MultiGzDecoder::new(file)))
            }
            Encoding::NdjsonZstd => FileDecoder::Lines(Box::new(zstd::Decoder::new(file)?)),
            Encoding::Parquet => FileDecoder::Parquet(file),
        })
    }
}

/// Counts the bytes that reach the file, for rotation by size.
pub(crate) struct Counting<W> {
    inner: W,
    pub(crate) bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The file an encoder writes to.
type Target = Counting<BufWriter<File>>;

/// One file being written, in its encoding.
pub(crate) enum FileEncoder<R> {
    Ndjson(Target),
    Gzip(flate2::write::GzEncoder<Target>),
    Zstd(zstd::Encoder<'static, Target>),
    Parquet(Box<ParquetFile<R>>),
}

impl<R: Record> FileEncoder<R> {
    /// An encoder writing to `file`; Parquet rows come from `rows` (asked for only for
    /// Parquet), in row groups of at most `row_group_rows` rows.
    pub(crate) fn new(
        encoding: Encoding,
        file: File,
        rows: impl FnOnce() -> Result<Box<dyn RowBuilder<R>>, Error>,
        row_group_rows: usize,
    ) -> Result<Self, Error> {
        let sink = Counting {
            inner: BufWriter::with_capacity(256 * 1024, file),
            bytes: 0,
        };
        Ok(match encoding {
            Encoding::Ndjson => FileEncoder::Ndjson(sink),
            Encoding::NdjsonGzip => FileEncoder::Gzip(flate2::write::GzEncoder::new(
                sink,
                flate2::Compression::new(6),
            )),
            Encoding::NdjsonZstd => FileEncoder::Zstd(
                zstd::Encoder::new(sink, 3).map_err(|e| Error::io("start zstd", e))?,
            ),
            Encoding::Parquet => {
                FileEncoder::Parquet(Box::new(ParquetFile::new(sink, rows()?, row_group_rows)?))
            }
        })
    }

    /// Appends one record.
    pub(crate) fn write(&mut self, record: &R) -> Result<(), Error> {
        let line = |w: &mut dyn Write| {
            w.write_all(record.json().as_bytes())?;
            w.write_all(b"\n")
        };
        match self {
            FileEncoder::Ndjson(w) => line(w),
            FileEncoder::Gzip(w) => line(w),
            FileEncoder::Zstd(w) => line(w),
            FileEncoder::Parquet(p) => return p.write(record),
        }
        .map_err(|e| Error::io("write a staged file", e))
    }

    /// About how many bytes the file has now (compressed; for Parquet, with the row group in
    /// progress).
    pub(crate) fn size(&self) -> u64 {
        match self {
            FileEncoder::Ndjson(w) => w.bytes,
            FileEncoder::Gzip(w) => w.get_ref().bytes,
            FileEncoder::Zstd(w) => w.get_ref().bytes,
            FileEncoder::Parquet(p) => p.size(),
        }
    }

    /// Ends the file (compression trailer, Parquet footer) and syncs it to disk.
    pub(crate) fn finish(self) -> Result<(), Error> {
        (self.sealer()?)()
    }

    /// Ends the file on a thread of its own: the rows still held go to the encoder now, the
    /// trailer or footer and the sync happen there. Join the handle before the file is used.
    ///
    /// The sink uses it for a file its records left for another folder (the next day); the
    /// measured gain is written there ([`Sink::write`](crate::Sink::write)'s code).
    pub(crate) fn finish_in_background(
        self,
    ) -> Result<std::thread::JoinHandle<Result<(), Error>>, Error> {
        let seal = self.sealer()?;
        std::thread::Builder::new()
            .name("sink-finish".into())
            .spawn(seal)
            .map_err(|e| Error::io("start a thread", e))
    }

    /// What is left of ending the file once no record is held: it no longer depends on the
    /// record type.
    fn sealer(self) -> Result<Sealer, Error> {
        let end: Box<dyn FnOnce() -> Result<Target, Error> + Send> = match self {
            FileEncoder::Ndjson(w) => Box::new(move || Ok(w)),
            FileEncoder::Gzip(w) => {
                Box::new(move || w.finish().map_err(|e| Error::io("end gzip", e)))
            }
            FileEncoder::Zstd(w) => {
                Box::new(move || w.finish().map_err(|e| Error::io("end zstd", e)))
            }
            FileEncoder::Parquet(p) => Box::new(p.close_input()?),
        };
        Ok(Box::new(move || {
            let file = end()?
                .inner
                .into_inner()
                .map_err(|e| Error::io("write a staged file", e.into_error()))?;
            file.sync_all()
                .map_err(|e| Error::io("sync a staged file", e))
        }))
    }
}

/// The end of a file that holds no record any more: trailer or footer, flush, sync.
type Sealer = Box<dyn FnOnce() -> Result<(), Error> + Send>;
