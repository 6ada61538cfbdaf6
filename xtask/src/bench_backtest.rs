//! The `backtest` scenario of `cargo xtask bench`: `asana-audit detect` over a Parquet archive
//! beside DuckDB running the pySigma DuckDB backend's queries for the same pack over the same
//! files.
//!
//! The archive is written once by `asana-audit export --encoding parquet` from a seeded mock.
//! Our side is the whole `detect` process (start-up, the shipped pack with its correlations,
//! alerts written to a file). DuckDB's side is timed inside Python: the backend's query of each
//! detection rule of the pack (converted beforehand, as the rules' test does, with
//! `crates/asana-audit-rules/tests/py/sigma_check.py`), run in turn over a view of the archive
//! whose dotted columns (`details.new_value`, ...) are taken from each event's JSON; the
//! backend's correlation queries are left out, so DuckDB has less to do than `detect`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::bench_convert::read_command;
use crate::bench_proc::{Mock, MockSettings, run_measured};
use crate::bench_stats::{Check, stat, thousands};

/// The dataset seed.
const SEED: u64 = 7;
/// Target: our events/s over DuckDB's, at least.
const TARGET_RATIO: f64 = 0.5;

/// DuckDB's side: converts the pack's detection rules with the DuckDB backend, then times
/// running every query over the archive. Arguments: the directory of `sigma_check.py`, the
/// rules, the archive.
const DUCKDB: &str = r#"
import json, re, sys, time
sys.path.insert(0, sys.argv[1])
from sigma_check import load, alone
from sigma.rule import SigmaRule
from sigma_backend_duckdb import DuckDBBackend
import duckdb
rules_dir, archive = sys.argv[2], sys.argv[3]
_, collection = load(rules_dir)
queries = [DuckDBBackend().convert(alone(r))[0] for r in collection.rules if isinstance(r, SigmaRule)]
fields = sorted({f for q in queries for f in re.findall(r'"([^"]+)"', q) if "." in f})
columns = "".join(f", json_extract_string(event_json, '$.{f}') AS \"{f}\"" for f in fields)
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute(f"CREATE VIEW logs AS SELECT *{columns} FROM read_parquet('{archive}/**/*.parquet')")
started = time.perf_counter()
matches = 0
for query in queries:
    matches += len(con.execute(query.replace("SELECT *", "SELECT gid", 1)).fetchall())
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "queries": len(queries), "matches": matches}))
"#;

/// What the scenario measured.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// Events in the archive.
    pub events: u64,
    /// Seconds per run of `asana-audit detect` (process start-up included).
    pub ours: Vec<f64>,
    /// Seconds per run of DuckDB's queries.
    pub duckdb: Vec<f64>,
    /// Alerts `detect` wrote (last run).
    pub alerts: u64,
    /// Queries DuckDB ran (last run).
    pub queries: u64,
    /// Rows DuckDB's queries matched.
    pub matches: u64,
}

impl Figures {
    /// Median events/s of `runs`.
    fn rate(&self, runs: &[f64]) -> Option<f64> {
        stat(runs.iter().copied()).map(|s| self.events as f64 / s.median)
    }

    /// Our median rate over DuckDB's.
    pub fn ratio(&self) -> Option<f64> {
        Some(self.rate(&self.ours)? / self.rate(&self.duckdb)?)
    }
}

/// What the scenario needs.
pub struct Tools<'a> {
    /// The `asana-audit` binary.
    pub cli: &'a Path,
    /// The mock server binary.
    pub mock: &'a Path,
    /// A Python with duckdb, pySigma and its DuckDB backend (the tests' virtualenv).
    pub python: &'a Path,
    /// The workspace root (for the rules and `sigma_check.py`).
    pub root: &'a Path,
    /// Scratch space.
    pub scratch: &'a Path,
}

/// Runs the scenario: an archive of `events` events, `reps` interleaved runs of each side.
pub fn run(tools: &Tools, events: u64, reps: usize) -> Result<Figures> {
    let archive = tools.scratch.join("backtest-archive");
    let _ = std::fs::remove_dir_all(&archive);
    {
        let mock = Mock::start(tools.mock, &MockSettings::unlimited(events, SEED))?;
        let finished = run_measured({
            let mut command = read_command(tools.cli, &mock, "export");
            command
                .args(["--max-events", &events.to_string(), "--encoding", "parquet"])
                .arg("--output")
                .arg(format!("{}/", archive.display()));
            command
        })?;
        if !finished.success {
            bail!("the export into Parquet failed: {}", finished.stderr);
        }
    }
    let alerts_file = tools.scratch.join("backtest-alerts.ndjson");
    let rules = tools.root.join("crates/asana-audit-rules/rules");
    let check_dir = tools.root.join("crates/asana-audit-rules/tests/py");
    let mut figures = Figures {
        events,
        ..Figures::default()
    };
    eprintln!("==> backtest: {} events in Parquet", thousands(events));
    for rep in 0..reps.max(1) {
        let _ = std::fs::remove_file(&alerts_file);
        let finished = run_measured({
            let mut command = Command::new(tools.cli);
            command
                .arg("detect")
                .arg(&archive)
                .arg("--output")
                .arg(&alerts_file);
            command
        })?;
        if !finished.success {
            bail!("asana-audit detect failed: {}", finished.stderr);
        }
        let ours = finished.wall_seconds;
        figures.ours.push(ours);
        figures.alerts = std::fs::read_to_string(&alerts_file)
            .map(|text| text.lines().count() as u64)
            .unwrap_or(0);

        let finished = run_measured({
            let mut command = Command::new(tools.python);
            command
                .args(["-c", DUCKDB])
                .args([&check_dir, &rules, &archive]);
            command
        })?;
        if !finished.success {
            bail!("DuckDB's queries failed: {}", finished.stderr);
        }
        let answer: Value =
            serde_json::from_str(finished.stdout.trim()).context("DuckDB's JSON answer")?;
        let seconds = answer["seconds"].as_f64().context("DuckDB's seconds")?;
        figures.duckdb.push(seconds);
        figures.queries = answer["queries"].as_u64().unwrap_or(0);
        figures.matches = answer["matches"].as_u64().unwrap_or(0);
        eprintln!(
            "    rep {rep}: detect {ours:.2} s ({} alerts), DuckDB {seconds:.2} s ({} queries, {} rows)",
            figures.alerts, figures.queries, figures.matches
        );
    }
    let _ = std::fs::remove_dir_all(&archive);
    let _ = std::fs::remove_file(&alerts_file);
    Ok(figures)
}

/// The scenario's row of the targets table.
pub fn checks(f: &Figures) -> Vec<Check> {
    vec![Check {
        what: format!(
            "backtest: detect over {} Parquet events vs DuckDB's queries",
            thousands(f.events)
        ),
        value: f.ratio().and_then(crate::bench_paced::exact),
        unit: "×",
        target: TARGET_RATIO,
        at_least: true,
    }]
}

/// The scenario's part of the report (Markdown).
pub fn render(f: &Figures) -> String {
    let mut out = String::new();
    let rate = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| thousands(v as u64));
    let _ = writeln!(out, "### Backtest\n");
    let _ = writeln!(
        out,
        "`asana-audit detect` over a Parquet archive of {} events (the shipped pack, \
         correlations included; {} alerts): {} events/s, median of {} runs, process start-up \
         included. DuckDB running the pySigma DuckDB backend's queries of the pack's {} \
         detection rules over the same files (dotted fields from each event's JSON; {} rows \
         matched): {} events/s. Ratio {}.\n",
        thousands(f.events),
        thousands(f.alerts),
        rate(f.rate(&f.ours)),
        f.ours.len(),
        f.queries,
        thousands(f.matches),
        rate(f.rate(&f.duckdb)),
        f.ratio()
            .map_or_else(|| "–".to_owned(), |r| format!("{r:.2}×")),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_is_of_median_rates() {
        let f = Figures {
            events: 1_000,
            ours: vec![2.0, 1.0, 3.0],
            duckdb: vec![1.0, 1.0, 1.0],
            ..Figures::default()
        };
        assert_eq!(f.ratio(), Some(0.5));
    }
}
