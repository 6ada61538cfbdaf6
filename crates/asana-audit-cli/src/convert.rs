//! `convert`: an NDJSON export (a file or standard input) re-encoded into partitioned files,
//! a file or standard output: the file's events into the pipeline's landing.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use asana_audit_log::AuditLogEvent;
use asana_audit_log_pipeline::read::trim_line;
use asana_audit_log_pipeline::{Format, Observer, Output, Pipeline, Prepared};

use crate::cli::{ConvertArgs, OnError};
use crate::error::CliError;
use crate::progress::Progress;

/// What a conversion did, for the summary.
#[derive(Debug, Default)]
pub struct Summary {
    /// Events written.
    pub events: u64,
    /// Malformed lines skipped (`--on-error skip`).
    pub skipped: u64,
    /// How long it took.
    pub elapsed: Duration,
}

/// How many skipped lines are reported one by one before only the count is kept.
const REPORTED_SKIPS: u64 = 20;

/// Lines per chunk a parsing thread decodes at a time.
const CHUNK_LINES: usize = 1024;
/// Bytes after which a chunk is cut even with fewer lines.
const CHUNK_BYTES: usize = 1 << 20;
/// Chunks that may wait for each parsing thread, and decoded chunks for the writer.
const CHUNKS_IN_FLIGHT: usize = 4;

/// What the parsing threads send, in input order: events, or a line that is not one.
enum Parsed {
    Events(Vec<Prepared>),
    Malformed { line: u64, reason: String },
    Failed(String),
}

/// What the reading thread hands a parsing thread.
enum Chunk {
    /// Lines of the input cut at line ends, with the number of the first and where each
    /// ends in `bytes` (the reader finds the ends anyway).
    Lines {
        first_line: u64,
        bytes: Vec<u8>,
        ends: Vec<usize>,
    },
    /// The input could not be read further.
    Failed(String),
}

/// Reads `input` on a thread of its own and decodes its lines on `workers` more, chunk `i`
/// on worker `i % workers`: the receivers, read in turn, give the decoded chunks in input
/// order. Decoding, the heaviest step before encoding, so runs on every core.
fn spawn_parsers(
    input: Box<dyn Read + Send>,
    format: &Format,
    workers: usize,
) -> io::Result<Parsers> {
    let mut chunk_senders = Vec::with_capacity(workers);
    let mut receivers = Vec::with_capacity(workers);
    let mut returns = Vec::with_capacity(workers);
    let mut threads = Vec::with_capacity(workers + 1);
    for index in 0..workers {
        let (chunks, chunk_receiver) = std::sync::mpsc::sync_channel::<Chunk>(CHUNKS_IN_FLIGHT);
        let (parsed, parsed_receiver) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
        let (done, done_receiver) = std::sync::mpsc::channel::<Vec<Parsed>>();
        let format = format.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("ndjson-parser-{index}"))
                .spawn(move || {
                    for chunk in chunk_receiver {
                        // Chunks written since the last one are freed here, where their memory
                        // was allocated: it is reused, still in this core's cache, for the next.
                        while let Ok(written) = done_receiver.try_recv() {
                            drop(written);
                        }
                        if parsed.blocking_send(parse_chunk(chunk, &format)).is_err() {
                            return;
                        }
                    }
                })?,
        );
        chunk_senders.push(chunks);
        receivers.push(parsed_receiver);
        returns.push(done);
    }
    let reader = std::thread::Builder::new()
        .name("ndjson-reader".into())
        .spawn(move || {
            let mut reader = BufReader::with_capacity(1 << 20, input);
            let mut next_line: u64 = 1;
            for worker in chunk_senders.iter().cycle() {
                let mut bytes = Vec::with_capacity(CHUNK_BYTES + 4096);
                let mut ends = Vec::with_capacity(CHUNK_LINES);
                while ends.len() < CHUNK_LINES && bytes.len() < CHUNK_BYTES {
                    match reader.read_until(b'\n', &mut bytes) {
                        Ok(0) => break,
                        Ok(_) => ends.push(bytes.len()),
                        Err(e) => {
                            // In this worker's turn, so it arrives after every chunk before.
                            let _ = worker.send(Chunk::Failed(e.to_string()));
                            return;
                        }
                    }
                }
                if ends.is_empty() {
                    return;
                }
                let first_line = next_line;
                next_line += ends.len() as u64;
                let chunk = Chunk::Lines {
                    first_line,
                    bytes,
                    ends,
                };
                if worker.send(chunk).is_err() {
                    return;
                }
            }
        })?;
    threads.push(reader);
    Ok(Parsers {
        receivers,
        returns,
        threads,
    })
}

/// The parsing threads: their decoded chunks, read in turn; where each chunk goes back once
/// written (to be freed by the thread that made it); and the threads (the reader's among
/// them), joined at the end to tell the input's end from a thread that died.
struct Parsers {
    receivers: Vec<tokio::sync::mpsc::Receiver<Vec<Parsed>>>,
    returns: Vec<std::sync::mpsc::Sender<Vec<Parsed>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Decodes a chunk's lines (blank lines skipped) and prepares them in `format`, keeping their
/// order.
fn parse_chunk(chunk: Chunk, format: &Format) -> Vec<Parsed> {
    let (first_line, bytes, ends) = match chunk {
        Chunk::Lines {
            first_line,
            bytes,
            ends,
        } => (first_line, bytes, ends),
        Chunk::Failed(error) => return vec![Parsed::Failed(error)],
    };
    let mut out = Vec::new();
    let mut events = Vec::with_capacity(ends.len());
    let starts = std::iter::once(0).chain(ends.iter().copied());
    for ((number, start), end) in (first_line..).zip(starts).zip(ends.iter().copied()) {
        let text = trim_line(&bytes[start..end]);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match std::str::from_utf8(text)
            .map_err(|e| e.to_string())
            .and_then(|text| AuditLogEvent::from_json(text).map_err(|e| e.to_string()))
        {
            Ok(event) => events.push(format.prepare(event)),
            Err(reason) => {
                out.push(Parsed::Events(std::mem::take(&mut events)));
                out.push(Parsed::Malformed {
                    line: number,
                    reason,
                });
            }
        }
    }
    out.push(Parsed::Events(events));
    out
}

/// Runs `convert`: the input read and parsed on threads of its own, in input order, into the
/// pipeline's landing.
pub async fn run(args: &ConvertArgs) -> Result<Summary, CliError> {
    let started = Instant::now();
    keep_freed_memory();
    let input_name = args.input.display().to_string();
    let input: Box<dyn Read + Send> = if input_name == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(
            File::open(&args.input)
                .map_err(|e| CliError::input(format!("cannot read {input_name}: {e}")))?,
        )
    };
    let output = crate::archive::output(args.output.as_deref(), &args.archive)?;
    if let Output::File(path) = &output
        && path.exists()
    {
        return Err(CliError::input(format!(
            "output {} already exists; convert writes a new file, or a directory or URL",
            path.display()
        )));
    }
    let archive = matches!(output, Output::Archive(_));
    let mut pipeline = Pipeline::new(output);
    pipeline.format = crate::archive::format(&args.archive, None);
    pipeline.sink = crate::archive::options(&args.archive)?;
    pipeline.fallback = crate::archive::fallback(&args.archive)?;
    let fallback_types = FallbackTypes::default();
    let mut landing = pipeline.land(&fallback_types).await?;

    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let Parsers {
        mut receivers,
        returns,
        threads,
    } = spawn_parsers(input, landing.format(), workers)
        .map_err(|e| CliError::local(format!("cannot start a thread: {e}")))?;
    let progress = Progress::new(args.progress);
    progress.start_counting("reading the input");
    let mut skipped = 0;
    let mut turn = 0;
    while let Some(chunk) = receivers[turn % workers].recv().await {
        let worker = turn % workers;
        turn += 1;
        for parsed in &chunk {
            match parsed {
                Parsed::Events(events) => {
                    for event in events {
                        landing.write(event).await?;
                    }
                    progress.events(events.len() as u64);
                }
                Parsed::Failed(e) => {
                    return Err(CliError::input(format!("cannot read {input_name}: {e}")));
                }
                Parsed::Malformed { line, reason } => {
                    let at = format!("{input_name}:{line}: not an audit log event: {reason}");
                    skip_or_stop(args.on_error, &at, landing.written(), &mut skipped, archive)?;
                }
            }
        }
        // A worker that has stopped (the input ended) lets the chunk be freed here.
        let _ = returns[worker].send(chunk);
    }
    if threads.into_iter().any(|thread| thread.join().is_err()) {
        // A reading or parsing thread died: the input was not read to its end, so nothing more is
        // committed.
        return Err(CliError::local(format!(
            "reading {input_name} stopped unexpectedly after {} event(s); nothing after them \
             was committed",
            landing.written()
        )));
    }
    let landed = landing.finish().await?;
    progress.finish();
    Ok(Summary {
        events: landed.written,
        skipped,
        elapsed: started.elapsed(),
    })
}

/// What convert hears of the landing: each event type that goes to a Security Lake's fallback
/// destination, logged once.
#[derive(Default)]
struct FallbackTypes(crate::export::FallbackLog);

impl Observer for FallbackTypes {
    fn fallback(&self, event: &AuditLogEvent) {
        self.0.log(event);
    }
}

/// A malformed line (`at` says where and why) after `converted` events: counted in `skipped`
/// and reported with `--on-error skip`, else the error that stops the conversion.
fn skip_or_stop(
    on_error: OnError,
    at: &str,
    converted: u64,
    skipped: &mut u64,
    archive: bool,
) -> Result<(), CliError> {
    match on_error {
        OnError::Stop => Err(CliError::input(format!(
            "{at}; stopped there ({converted} event(s) before it were converted{}); fix the \
             line, or pass --on-error skip",
            if archive {
                ", and only files already committed by rotation are in place"
            } else {
                ""
            }
        ))),
        OnError::Skip => {
            *skipped += 1;
            if *skipped <= REPORTED_SKIPS {
                tracing::warn!("{at}; skipped");
            }
            Ok(())
        }
    }
}

/// Asks glibc's allocator to keep the memory a conversion frees for its next allocations.
///
/// The conversion's large buffers (input chunks, column batches, pages) are allocated on one
/// thread and freed on another, many times a second. With glibc's defaults the largest ones
/// go back to the kernel as they are freed and are mapped again for the next batch, so a good
/// part of the run goes to page faults. A fixed mapping threshold (its highest, 32 MiB) and a
/// trim threshold of 64 MiB let them be reused instead. `convert` is a batch job that ends;
/// `export`, `follow` and `run` keep glibc's defaults.
///
/// Measured gain (2026-12-07, 2 shared cores, load average 3–5): without it, `asana-audit
/// convert` of a 1,000,000-event export (612 MB) into Parquet took 10% more wall time (median
/// of 12 interleaved pairs, run in both orders; mean 12.5%), after 9.5% over 12 pairs in an
/// earlier series: at the 10% a speed trick must be worth to stay (issue #22). Without it,
/// convert fell under 0.9x DuckDB in four of the five repetitions of `cargo xtask bench
/// --only convert` (with it, in one of five). Command: pairs of `asana-audit convert FILE
/// --output DIR/ --encoding parquet` with and without this call, timed whole.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` changes allocator settings under the allocator's own lock; it may be
    // called at any time from any thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chunks decoded on several threads come back in input order, with the right line
    /// numbers for malformed lines in any chunk, blank lines skipped.
    #[tokio::test]
    async fn parsers_keep_input_order_and_line_numbers() {
        let mut input = String::new();
        let mut expected = Vec::new();
        for number in 1..=5_000u64 {
            match number {
                1_500 | 4_999 => input.push_str("{\"gid\": oops\n"),
                2_048 => input.push_str("   \r\n"),
                _ => {
                    input.push_str(&format!(
                        "{{\"gid\":\"{number}\",\"created_at\":\"2024-01-01T00:00:00Z\"}}\r\n"
                    ));
                    expected.push(number.to_string());
                }
            }
        }
        let Parsers {
            mut receivers,
            threads,
            ..
        } = spawn_parsers(Box::new(std::io::Cursor::new(input)), &Format::Raw, 3).unwrap();
        let (mut gids, mut malformed) = (Vec::new(), Vec::new());
        let mut turn = 0;
        while let Some(chunk) = receivers[turn % 3].recv().await {
            turn += 1;
            for parsed in chunk {
                match parsed {
                    Parsed::Events(events) => gids.extend(events.iter().map(|e| match e {
                        Prepared::Raw(event) => event.gid().to_owned(),
                        Prepared::Ocsf(_) => unreachable!("raw format"),
                    })),
                    Parsed::Malformed { line, .. } => malformed.push(line),
                    Parsed::Failed(e) => panic!("read failed: {e}"),
                }
            }
        }
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(malformed, [1_500, 4_999]);
        assert_eq!(gids, expected);
    }
}
