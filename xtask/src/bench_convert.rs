//! The `convert` scenario of `cargo xtask bench`: `asana-audit convert` of an NDJSON export to
//! Parquet next to DuckDB doing the same on the same file, and the peak RSS of a follow into
//! Parquet at two lengths (it should follow the row-group size, not the length of the run).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::bench_proc::{Mock, MockSettings, run_measured};
use crate::bench_stats::{Stat, rss_by_length, stat, thousands};

/// What the scenario needs.
pub struct Tools<'a> {
    /// The `asana-audit` binary.
    pub cli: &'a Path,
    /// The mock server binary.
    pub mock: &'a Path,
    /// A Python with duckdb (the tests' virtualenv).
    pub python: &'a Path,
    /// Scratch space.
    pub scratch: &'a Path,
}

/// The scenario's figures.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// Events in the input file.
    pub events: u64,
    /// Its size in bytes.
    pub input_bytes: u64,
    /// Seconds per run of `asana-audit convert --encoding parquet`.
    pub ours: Vec<f64>,
    /// Seconds per run of DuckDB's `COPY (SELECT * FROM read_json(...)) TO ... (FORMAT parquet)`.
    pub duckdb: Vec<f64>,
    /// The same with `COMPRESSION zstd`, the codec ours writes (DuckDB's default is Snappy).
    pub duckdb_zstd: Vec<f64>,
    /// Seconds per run of `asana-audit convert --encoding ndjson` (events as received).
    pub raw_ndjson: Vec<f64>,
    /// Seconds per run of `asana-audit convert --format ocsf --encoding ndjson`.
    pub ocsf_ndjson: Vec<f64>,
    /// Peak RSS (KiB) of `follow --encoding parquet` at (events, KiB) for two lengths.
    pub rss: Vec<(u64, u64)>,
}

const SEED: u64 = 7;

/// DuckDB's side, timed inside Python (the interpreter's start-up is left out, as the CLI's
/// is): converts (with the codec of the third argument, when there is one), then counts what
/// it wrote.
const DUCKDB: &str = r#"
import json, sys, time
import duckdb
source, target = sys.argv[1], sys.argv[2]
codec = f", COMPRESSION {sys.argv[3]}" if len(sys.argv) > 3 else ""
# A query past two seconds would print a progress bar into the JSON answer.
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
started = time.perf_counter()
con.execute(f"COPY (SELECT * FROM read_json('{source}', format = 'newline_delimited')) TO '{target}' (FORMAT parquet{codec})")
seconds = time.perf_counter() - started
count = con.sql(f"SELECT count(*) FROM read_parquet('{target}')").fetchall()[0][0]
print(json.dumps({"seconds": seconds, "events": count}))
"#;

/// Counts the events of a Parquet archive with DuckDB.
const COUNT: &str = r#"
import json, sys
import duckdb
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
print(json.dumps(con.sql(f"SELECT count(*) FROM read_parquet('{sys.argv[1]}/**/*.parquet')").fetchall()[0][0]))
"#;

fn python(tools: &Tools, script: &str, args: &[&Path]) -> Result<Value> {
    let finished = run_measured({
        let mut command = Command::new(tools.python);
        command.args(["-c", script]).args(args);
        command
    })?;
    if !finished.success {
        bail!("python failed ({}): {}", finished.status, finished.stderr);
    }
    serde_json::from_str(finished.stdout.trim()).context("python's JSON answer")
}

/// Seconds from the CLI's JSON log line `message` ("convert finished", "export finished").
fn logged_seconds(stderr: &str, message: &str) -> Option<f64> {
    stderr.lines().rev().find_map(|line| {
        let value: Value = serde_json::from_str(line).ok()?;
        (value["fields"]["message"] == message)
            .then(|| value["fields"]["seconds"].as_f64())
            .flatten()
    })
}

/// `asana-audit export` from `mock` as fast as it serves (its time logged as JSON).
fn export_command(cli: &Path, mock: &Mock) -> Command {
    read_command(cli, mock, "export")
}

/// `asana-audit SUBCOMMAND` (`export` or `follow`) of `mock`'s workspace, unpaced.
pub(crate) fn read_command(cli: &Path, mock: &Mock, subcommand: &str) -> Command {
    let mut command = Command::new(cli);
    command
        .args(["-v", "--log-format", "json"])
        .args([subcommand, "--workspace", &mock.workspace])
        .args(["--base-url", &mock.base_url])
        .args(["--requests-per-minute", "0", "--progress", "never"])
        .env("ASANA_ACCESS_TOKEN", &mock.token);
    command
}

/// Exports the first `events` events of `mock` to the NDJSON file `path` (replaced).
pub(crate) fn export_input(cli: &Path, mock: &Mock, events: u64, path: &Path) -> Result<()> {
    let finished = run_measured({
        let mut command = export_command(cli, mock);
        command
            .args([
                "--max-events",
                &events.to_string(),
                "--overwrite",
                "--output",
            ])
            .arg(path);
        command
    })?;
    if !finished.success {
        bail!("export of the input failed: {}", finished.stderr);
    }
    Ok(())
}

/// Runs the scenario: `events` in the input, `reps` interleaved runs of each side, and the
/// memory of a follow into Parquet at `rss_lengths` events.
pub fn run(tools: &Tools, events: u64, reps: usize, rss_lengths: &[u64]) -> Result<Figures> {
    let largest = rss_lengths.iter().copied().max().unwrap_or(0).max(events);
    let mock = Mock::start(tools.mock, &MockSettings::unlimited(largest, SEED))?;
    let input = tools.scratch.join("convert-input.ndjson");
    export_input(tools.cli, &mock, events, &input)?;
    let mut figures = Figures {
        events,
        input_bytes: std::fs::metadata(&input)?.len(),
        ..Figures::default()
    };
    eprintln!(
        "==> convert: {} events, {} MB of NDJSON",
        thousands(events),
        figures.input_bytes / 1_000_000
    );
    let ours_dir = tools.scratch.join("convert-ours");
    let duck_file = tools.scratch.join("convert-duckdb.parquet");
    // One `asana-audit convert` of the input into `ours_dir` with `args`: its own seconds.
    let convert = |args: &[&str]| -> Result<f64> {
        let _ = std::fs::remove_dir_all(&ours_dir);
        let _ = std::fs::remove_file(&ours_dir);
        let finished = run_measured({
            let mut command = Command::new(tools.cli);
            command
                .args(["-v", "--log-format", "json", "convert"])
                .arg(&input)
                // A directory, whatever the encoding.
                .arg("--output")
                .arg(format!("{}/", ours_dir.display()))
                .args(["--progress", "never"])
                .args(args);
            command
        })?;
        if !finished.success {
            bail!("asana-audit convert {args:?} failed: {}", finished.stderr);
        }
        Ok(logged_seconds(&finished.stderr, "convert finished").unwrap_or(finished.wall_seconds))
    };
    for rep in 0..reps {
        let raw = convert(&["--encoding", "ndjson"])?;
        figures.raw_ndjson.push(raw);
        let ocsf = convert(&["--format", "ocsf", "--encoding", "ndjson"])?;
        figures.ocsf_ndjson.push(ocsf);
        eprintln!(
            "    rep {rep}: convert to NDJSON {}/s as received, {}/s as OCSF",
            thousands((events as f64 / raw) as u64),
            thousands((events as f64 / ocsf) as u64),
        );
        let seconds = convert(&["--encoding", "parquet"])?;
        let counted = python(tools, COUNT, &[&ours_dir])?;
        if counted.as_u64() != Some(events) {
            bail!("asana-audit convert wrote {counted} events, expected {events}");
        }
        figures.ours.push(seconds);

        // DuckDB as the issue names it (its default codec, Snappy), then with ours (zstd).
        let duckdb = |codec: Option<&str>| -> Result<f64> {
            let _ = std::fs::remove_file(&duck_file);
            let mut args: Vec<&Path> = vec![&input, &duck_file];
            args.extend(codec.map(Path::new));
            let answer = python(tools, DUCKDB, &args)?;
            if answer["events"].as_u64() != Some(events) {
                bail!(
                    "DuckDB wrote {} events, expected {events}",
                    answer["events"]
                );
            }
            answer["seconds"].as_f64().context("DuckDB's seconds")
        };
        let duck = duckdb(None)?;
        figures.duckdb.push(duck);
        let duck_zstd = duckdb(Some("zstd"))?;
        figures.duckdb_zstd.push(duck_zstd);
        eprintln!(
            "    rep {rep}: asana-audit convert {seconds:.2} s ({}/s), DuckDB {duck:.2} s ({}/s), \
             DuckDB zstd {duck_zstd:.2} s ({}/s)",
            thousands((events as f64 / seconds) as u64),
            thousands((events as f64 / duck) as u64),
            thousands((events as f64 / duck_zstd) as u64),
        );
    }
    let _ = std::fs::remove_dir_all(&ours_dir);
    let _ = std::fs::remove_file(&duck_file);
    let _ = std::fs::remove_file(&input);

    for &length in rss_lengths {
        let dir: PathBuf = tools.scratch.join(format!("rss-{length}"));
        let _ = std::fs::remove_dir_all(&dir);
        // `follow`, as the issue asks: its sink stays open across polls, which is where memory
        // could grow with the run; it stops after `length` events.
        let finished = run_measured({
            let mut command = read_command(tools.cli, &mock, "follow");
            command
                .args(["--max-events", &length.to_string(), "--encoding", "parquet"])
                .arg("--output")
                .arg(&dir);
            command
        })?;
        if !finished.success {
            bail!("follow into Parquet failed: {}", finished.stderr);
        }
        let kb = finished
            .polled_hwm_kb
            .or(finished.max_rss_kb)
            .context("no peak RSS")?;
        eprintln!(
            "    follow --encoding parquet of {} events: peak RSS {} MiB",
            thousands(length),
            kb / 1024
        );
        figures.rss.push((length, kb));
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(figures)
}

/// Each repetition's ratio `theirs / ours` of seconds (how many times faster ours ran), as
/// "a / b / c".
fn paired(theirs: &[f64], ours: &[f64]) -> String {
    theirs
        .iter()
        .zip(ours)
        .map(|(t, o)| format!("{:.2}×", t / o))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// The median of the repetitions' ratios `theirs / ours`.
fn paired_median(theirs: &[f64], ours: &[f64]) -> Option<f64> {
    stat(
        theirs
            .iter()
            .zip(ours)
            .map(|(t, o)| t / o)
            .collect::<Vec<_>>(),
    )
    .map(|s| s.median)
}

fn rate(events: u64, seconds: &Stat) -> String {
    format!(
        "{} ({}–{})",
        thousands((events as f64 / seconds.median) as u64),
        thousands((events as f64 / seconds.max) as u64),
        thousands((events as f64 / seconds.min) as u64)
    )
}

/// The scenario's part of the report (Markdown).
pub fn render(figures: &Figures) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### Archive conversion\n");
    let _ = writeln!(
        out,
        "`asana-audit convert` of an NDJSON export ({} events, {} MB) into Hive-partitioned \
         Parquet (typed columns plus the exact JSON, zstd), next to DuckDB's `COPY (SELECT * \
         FROM read_json(...)) TO ... (FORMAT parquet)` on the same file. Medians of {} \
         interleaved runs (range); each side's own time, process start-up left out; DuckDB uses \
         every core.\n",
        thousands(figures.events),
        figures.input_bytes / 1_000_000,
        figures.ours.len()
    );
    if let (Some(ours), Some(duck)) = (stat(figures.ours.clone()), stat(figures.duckdb.clone())) {
        let _ = writeln!(out, "| converter | events/s |\n| --- | --- |");
        let _ = writeln!(
            out,
            "| asana-audit convert | {} |",
            rate(figures.events, &ours)
        );
        let _ = writeln!(out, "| DuckDB | {} |", rate(figures.events, &duck));
        if let Some(zstd) = stat(figures.duckdb_zstd.clone()) {
            let _ = writeln!(
                out,
                "| DuckDB, `COMPRESSION zstd` (our codec) | {} |",
                rate(figures.events, &zstd)
            );
        }
        let _ = writeln!(
            out,
            "\nRatio (ours / DuckDB, target ≥ 0.9×): **{:.2}×** (medians); {} in each \
             repetition, which runs the two back to back.{}\n",
            duck.median / ours.median,
            paired(&figures.duckdb, &figures.ours),
            match paired_median(&figures.duckdb_zstd, &figures.ours) {
                Some(ratio) => format!(
                    " Against DuckDB writing zstd: {ratio:.2}× (median of the repetitions)."
                ),
                None => String::new(),
            }
        );
    }
    if let (Some(raw), Some(ocsf)) = (
        stat(figures.raw_ndjson.clone()),
        stat(figures.ocsf_ndjson.clone()),
    ) {
        let _ = writeln!(
            out,
            "OCSF mapping: `asana-audit convert --format ocsf --encoding ndjson` next to the same \
             conversion of the events as received, same input.\n"
        );
        let _ = writeln!(out, "| conversion to NDJSON | events/s |\n| --- | --- |");
        let _ = writeln!(out, "| as received | {} |", rate(figures.events, &raw));
        let _ = writeln!(out, "| OCSF | {} |", rate(figures.events, &ocsf));
        let _ = writeln!(
            out,
            "\nRatio (OCSF / as received, for information: no longer a target): **{:.2}×** \
             (medians); {} in each repetition.\n",
            raw.median / ocsf.median,
            paired(&figures.raw_ndjson, &figures.ocsf_ndjson)
        );
    }
    if !figures.rss.is_empty() {
        let _ = writeln!(
            out,
            "Peak RSS of `asana-audit follow --encoding parquet` (row groups of 65,536 rows), by \
             length of the run: {}.\n",
            rss_by_length(&figures.rss)
        );
    }
    out
}
