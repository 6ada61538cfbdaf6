//! The `alert-cost` scenario of `cargo xtask bench`: what the rules cost on the live path.
//!
//! One mock (limits off) with a seeded dataset; `asana-audit follow --max-events N` into an
//! NDJSON file, once without alerting and once with the shipped rule pack alerting into a file
//! (`--alert-file`, default dedup, as a live run would), interleaved over the repetitions. The
//! CPU time (user + system, from `wait4`) of each run over its events gives CPU per event; the
//! pack's share is the difference of the medians, shown as the part of one core it would take
//! at Asana's 2,500 events a second.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::bench_convert::read_command;
use crate::bench_paced::exact;
use crate::bench_proc::{Mock, MockSettings, run_measured};
use crate::bench_stats::{Check, stat, thousands};

/// The dataset seed.
const SEED: u64 = 7;
/// Asana's event rate the cost is shown at, events a second.
const ASANA_RATE: f64 = 2_500.0;
/// Target: the pack's cost at [`ASANA_RATE`], percent of one core.
const TARGET_PERCENT: f64 = 5.0;

/// What the scenario measured.
#[derive(Clone, Debug)]
pub struct Figures {
    /// Events each run followed.
    pub events: u64,
    /// CPU seconds of each run without alerting.
    pub plain: Vec<f64>,
    /// CPU seconds of each run with the shipped pack alerting.
    pub alerting: Vec<f64>,
}

impl Figures {
    /// Microseconds of CPU per event: the median of `runs` over the events.
    fn micros_per_event(&self, runs: &[f64]) -> Option<f64> {
        stat(runs.iter().copied()).map(|s| s.median * 1e6 / self.events as f64)
    }

    /// The pack's CPU per event, microseconds: with alerting minus without.
    pub fn pack_micros(&self) -> Option<f64> {
        Some(self.micros_per_event(&self.alerting)? - self.micros_per_event(&self.plain)?)
    }

    /// `micros` of CPU per event as percent of one core at [`ASANA_RATE`].
    fn percent_of_core(micros: f64) -> f64 {
        micros * 1e-6 * ASANA_RATE * 100.0
    }
}

/// Runs the scenario: `reps` pairs of `follow` runs over `events` events of a fresh mock.
pub fn run(
    mock_binary: &Path,
    cli: &Path,
    scratch: &Path,
    events: u64,
    reps: usize,
) -> Result<Figures> {
    let mock = Mock::start(mock_binary, &MockSettings::unlimited(events, SEED))?;
    let mut figures = Figures {
        events,
        plain: Vec::new(),
        alerting: Vec::new(),
    };
    let output = scratch.join("alert-cost.ndjson");
    let alerts = scratch.join("alert-cost-alerts.ndjson");
    for rep in 0..reps.max(1) {
        for alerting in [false, true] {
            let _ = std::fs::remove_file(&output);
            let _ = std::fs::remove_file(&alerts);
            let mut command = read_command(cli, &mock, "follow");
            command
                .args(["--max-events", &events.to_string(), "--output"])
                .arg(&output);
            if alerting {
                command.arg("--alert-file").arg(&alerts);
            }
            let finished = run_measured(command)?;
            if !finished.success {
                bail!("asana-audit follow failed: {}", finished.stderr);
            }
            let cpu = finished.cpu_seconds.context("no CPU time")?;
            eprintln!(
                "==> alert cost, rep {rep}, {}: {} events, {cpu:.2} s CPU",
                if alerting {
                    "with the pack"
                } else {
                    "no alerting"
                },
                thousands(events)
            );
            if alerting {
                figures.alerting.push(cpu);
            } else {
                figures.plain.push(cpu);
            }
        }
    }
    let _ = std::fs::remove_file(&output);
    let _ = std::fs::remove_file(&alerts);
    Ok(figures)
}

/// The scenario's row of the targets table.
pub fn checks(f: &Figures) -> Vec<Check> {
    vec![Check {
        what: "alert cost: the pack's CPU at 2,500 events/s, % of one core".to_owned(),
        value: f
            .pack_micros()
            .map(Figures::percent_of_core)
            .and_then(exact),
        unit: " %",
        target: TARGET_PERCENT,
        at_least: false,
    }]
}

/// The scenario's part of the report (Markdown).
pub fn render(f: &Figures) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### Alerting's cost on the live path\n");
    let micros = |v: Option<f64>| v.map_or_else(|| "–".to_owned(), |v| format!("{v:.2} µs"));
    let plain = f.micros_per_event(&f.plain);
    let alerting = f.micros_per_event(&f.alerting);
    let _ = writeln!(
        out,
        "`asana-audit follow --max-events {}` into NDJSON, without alerting and with the \
         shipped pack alerting into a file, {} runs each: CPU per event (median, process \
         start-up included) {} without, {} with; the pack's share {} per event, {} of one core \
         at 2,500 events/s.\n",
        thousands(f.events),
        f.plain.len(),
        micros(plain),
        micros(alerting),
        micros(f.pack_micros()),
        f.pack_micros().map_or_else(
            || "–".to_owned(),
            |m| format!("{:.2} %", Figures::percent_of_core(m))
        ),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packs_share_is_the_difference_at_asanas_rate() {
        let f = Figures {
            events: 1_000_000,
            plain: vec![2.0, 3.0, 4.0],
            alerting: vec![5.0, 4.0, 6.0],
        };
        // 2 s more over a million events: 2 µs an event, 0.5% of a core at 2,500 a second.
        assert_eq!(f.pack_micros(), Some(2.0));
        assert!((Figures::percent_of_core(2.0) - 0.5).abs() < 1e-9);
    }
}
