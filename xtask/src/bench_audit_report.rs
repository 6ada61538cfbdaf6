//! The `report` scenario of `cargo xtask bench`: `asana-audit report` of an NDJSON export, its
//! time and its peak RSS at two lengths (the memory should follow the distinct actors and days,
//! not the number of events).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::bench_convert::export_input;
use crate::bench_proc::{Mock, MockSettings, run_measured};
use crate::bench_stats::{rss_by_length, stat, thousands};

/// The scenario's figures.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// Events in the largest input.
    pub events: u64,
    /// Its size in bytes.
    pub input_bytes: u64,
    /// Seconds per run of `asana-audit report` over the largest input (process start
    /// included).
    pub seconds: Vec<f64>,
    /// Peak RSS (KiB) of the report at (events, KiB), one per length.
    pub rss: Vec<(u64, u64)>,
    /// The page's size in bytes, at the largest input.
    pub page_bytes: u64,
}

const SEED: u64 = 7;

/// Runs the scenario: exports `lengths` events (the largest is timed `reps` times) and reports
/// over each.
pub fn run(
    cli: &Path,
    mock_binary: &Path,
    scratch: &Path,
    reps: usize,
    lengths: &[u64],
) -> Result<Figures> {
    let largest = lengths.iter().copied().max().context("no length")?;
    let mock = Mock::start(mock_binary, &MockSettings::unlimited(largest, SEED))?;
    let mut figures = Figures {
        events: largest,
        ..Figures::default()
    };
    let page = scratch.join("report.html");
    let report = |input: &Path| -> Result<crate::bench_proc::Finished> {
        let finished = run_measured({
            let mut command = Command::new(cli);
            command.arg("report").arg(input).arg("--output").arg(&page);
            command
        })?;
        if !finished.success {
            bail!("asana-audit report failed: {}", finished.stderr);
        }
        Ok(finished)
    };
    for &length in lengths {
        let input: PathBuf = scratch.join(format!("report-input-{length}.ndjson"));
        export_input(cli, &mock, length, &input)?;
        let runs = if length == largest { reps.max(1) } else { 1 };
        for rep in 0..runs {
            let finished = report(&input)?;
            let kb = finished
                .polled_hwm_kb
                .or(finished.max_rss_kb)
                .context("no peak RSS")?;
            eprintln!(
                "==> report of {} events, rep {rep}: {:.2} s, peak RSS {} MiB",
                thousands(length),
                finished.wall_seconds,
                kb / 1024
            );
            if length == largest {
                figures.seconds.push(finished.wall_seconds);
                figures.input_bytes = std::fs::metadata(&input)?.len();
                figures.page_bytes = std::fs::metadata(&page)?.len();
            }
            if rep == 0 {
                figures.rss.push((length, kb));
            }
        }
        let _ = std::fs::remove_file(&input);
    }
    let _ = std::fs::remove_file(&page);
    Ok(figures)
}

/// The scenario's part of the report (Markdown).
pub fn render(figures: &Figures) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### Report\n");
    if let Some(seconds) = stat(figures.seconds.clone()) {
        let _ = writeln!(
            out,
            "`asana-audit report` of an NDJSON export ({} events, {} MB) into one HTML page \
             ({} KB): median {:.2} s over {} runs (range {:.2}–{:.2} s, process start-up \
             included), {} events/s.\n",
            thousands(figures.events),
            figures.input_bytes / 1_000_000,
            figures.page_bytes / 1_000,
            seconds.median,
            figures.seconds.len(),
            seconds.min,
            seconds.max,
            thousands((figures.events as f64 / seconds.median) as u64)
        );
    }
    let _ = writeln!(
        out,
        "Peak RSS by length of the export: {}.\n",
        rss_by_length(&figures.rss)
    );
    out
}
