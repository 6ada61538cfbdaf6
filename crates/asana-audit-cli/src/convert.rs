//! `convert`: an NDJSON export (a file or standard input) re-encoded into partitioned files.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::time::{Duration, Instant};

use asana_audit_log::AuditLogEvent;

use crate::archive::{AnySink, Format, Target};
use crate::cli::{ConvertArgs, OnError};
use crate::error::CliError;

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

/// Where converted events go.
enum Out {
    Lines(BufWriter<Box<dyn Write>>, Format),
    Archive(Box<AnySink>),
}

/// Events per message from the parsing thread.
const BATCH: usize = 1024;

/// What the parsing thread sends: events, or a line that is not one.
enum Parsed {
    Events(Vec<AuditLogEvent>),
    Malformed { line: u64, reason: String },
    Failed(String),
}

/// Reads `input` line by line on a thread of its own and sends the events in batches, so
/// that decoding and encoding run on two cores. Blank lines are skipped.
fn parse_lines(input: Box<dyn Read + Send>, sender: tokio::sync::mpsc::Sender<Parsed>) {
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let mut line = Vec::with_capacity(4096);
    let mut number: u64 = 0;
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                let _ = sender.blocking_send(Parsed::Failed(e.to_string()));
                return;
            }
        }
        number += 1;
        let text = trim_line(&line);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match std::str::from_utf8(text)
            .map_err(|e| e.to_string())
            .and_then(|text| AuditLogEvent::from_json(text).map_err(|e| e.to_string()))
        {
            Ok(event) => {
                batch.push(event);
                if batch.len() == BATCH
                    && sender
                        .blocking_send(Parsed::Events(std::mem::take(&mut batch)))
                        .is_err()
                {
                    return;
                }
            }
            Err(reason) => {
                let events = Parsed::Events(std::mem::take(&mut batch));
                let malformed = Parsed::Malformed {
                    line: number,
                    reason,
                };
                if sender.blocking_send(events).is_err() || sender.blocking_send(malformed).is_err()
                {
                    return;
                }
            }
        }
    }
    let _ = sender.blocking_send(Parsed::Events(batch));
}

/// Runs `convert`.
pub async fn run(args: &ConvertArgs) -> Result<Summary, CliError> {
    let started = Instant::now();
    let input_name = args.input.display().to_string();
    let input: Box<dyn Read + Send> = if input_name == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(
            File::open(&args.input)
                .map_err(|e| CliError::input(format!("cannot read {input_name}: {e}")))?,
        )
    };
    let mut out = match Target::classify(&args.output, &args.archive)? {
        Target::Stdout => Out::Lines(
            BufWriter::with_capacity(1 << 18, Box::new(io::stdout())),
            Format::new(&args.archive, None),
        ),
        Target::File => {
            let path = &args.output;
            if path.exists() {
                return Err(CliError::input(format!(
                    "output {} already exists; convert writes a new file, or a directory or URL",
                    path.display()
                )));
            }
            let file = File::create(path)
                .map_err(|e| CliError::input(format!("cannot create {}: {e}", path.display())))?;
            Out::Lines(
                BufWriter::with_capacity(1 << 18, Box::new(file)),
                Format::new(&args.archive, None),
            )
        }
        Target::Archive(destination) => Out::Archive(Box::new(
            AnySink::open(destination, &args.archive, Format::new(&args.archive, None)).await?,
        )),
    };

    let (sender, mut batches) = tokio::sync::mpsc::channel(8);
    let parser = std::thread::Builder::new()
        .name("ndjson-reader".into())
        .spawn(move || parse_lines(input, sender))
        .map_err(|e| CliError::local(format!("cannot start a thread: {e}")))?;
    let mut summary = Summary::default();
    let mut line = String::new();
    while let Some(parsed) = batches.recv().await {
        let events = match parsed {
            Parsed::Events(events) => events,
            Parsed::Failed(e) => {
                return Err(CliError::input(format!("cannot read {input_name}: {e}")));
            }
            Parsed::Malformed { line, reason } => {
                let at = format!("{input_name}:{line}: not an audit log event: {reason}");
                match args.on_error {
                    OnError::Stop => {
                        return Err(CliError::input(format!(
                            "{at}; stopped there ({} event(s) before it were converted{}); fix \
                             the line, or pass --on-error skip",
                            summary.events,
                            match &out {
                                Out::Archive(_) => {
                                    ", and only files already committed by rotation are in place"
                                }
                                Out::Lines(..) => "",
                            }
                        )));
                    }
                    OnError::Skip => {
                        summary.skipped += 1;
                        if summary.skipped <= REPORTED_SKIPS {
                            tracing::warn!("{at}; skipped");
                        }
                        continue;
                    }
                }
            }
        };
        for event in &events {
            match &mut out {
                Out::Lines(writer, format) => writer
                    .write_all(format.line(event, &mut line).as_bytes())
                    .and_then(|()| writer.write_all(b"\n"))
                    .map_err(|e| CliError::local(format!("cannot write the output: {e}")))?,
                Out::Archive(sink) => {
                    sink.write(event)?;
                    if sink.commit_due() {
                        commit(sink).await?;
                    }
                }
            }
        }
        summary.events += events.len() as u64;
    }
    if parser.join().is_err() {
        // The reading thread died: the input was not read to its end, so nothing more is
        // committed.
        return Err(CliError::local(format!(
            "reading {input_name} stopped unexpectedly after {} event(s); nothing after them \
             was committed",
            summary.events
        )));
    }
    match &mut out {
        Out::Lines(writer, _) => writer
            .flush()
            .map_err(|e| CliError::local(format!("cannot write the output: {e}")))?,
        Out::Archive(sink) => {
            commit(sink).await?;
        }
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Commits the sink's open files; a conversion keeps no checkpoint (rerun it into an empty
/// destination).
async fn commit(sink: &mut AnySink) -> Result<u64, CliError> {
    sink.commit(|_| Ok(())).await
}

/// The line without its `\n` or `\r\n`.
fn trim_line(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}
