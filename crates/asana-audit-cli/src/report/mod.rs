//! `report`: one self-contained HTML page from an export — the window and counts, charts of the
//! domain's activity, the admin and permission changes, and the findings an auditor must see.
//!
//! Reading ([`input`], shared with `detect`), aggregation ([`model`], [`findings`]) and drawing ([`html`]) are apart,
//! so the data the page shows can be tested (and written as JSON) without the page.

pub mod findings;
pub mod html;
pub mod model;
pub mod number;

use std::path::Path;

use serde::Serialize;

use crate::cli::ReportArgs;
use crate::error::CliError;
use crate::input;
use asana_audit_log_pipeline::write_atomically;
use asana_audit_rules::RuleSet;
use findings::Findings;
use model::{Aggregator, Report};

/// What `report` made, for its summary line.
#[derive(Debug)]
pub struct Summary {
    /// Events in the report.
    pub events: u64,
    /// Findings.
    pub findings: usize,
    /// Lines that were not events.
    pub not_events: u64,
}

/// Reads every input into an aggregator.
pub fn aggregate(args: &ReportArgs) -> Result<Aggregator, CliError> {
    let mut rules = RuleSet::shipped();
    if !args.geo.geoip.is_empty() {
        rules = rules.with_geoip(crate::detect::geoip(&args.geo.geoip)?);
    }
    let findings = Findings::new(rules, crate::detect::options(&args.geo));
    let mut aggregator = Aggregator::new(args.window.since, args.window.until, findings);
    let tally = input::events("report", &args.inputs, |_, _, event| {
        aggregator.add(event);
        Ok(())
    })?;
    aggregator.read(tally.files, tally.not_events);
    Ok(aggregator)
}

/// The findings for tooling (`--findings-json`).
#[derive(Serialize)]
struct FindingsJson<'a> {
    window: &'a model::Window,
    rules: &'a [model::RuleResult],
}

/// Runs `report`.
pub fn run(args: &ReportArgs) -> Result<Summary, CliError> {
    let aggregator = aggregate(args)?;
    let report = aggregator.finish();
    check_not_empty(&report)?;
    let inputs: Vec<String> = args
        .inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let page = html::render(
        &report,
        &html::Meta {
            inputs: &inputs,
            generated_at: chrono::Utc::now(),
        },
    );
    if let Some(path) = &args.findings_json {
        let findings = FindingsJson {
            window: &report.window,
            rules: &report.rules,
        };
        write(path, &json(&findings))?;
    }
    if let Some(path) = &args.data_json {
        write(path, &json(&report))?;
    }
    write(&args.output, page.as_bytes())?;
    Ok(Summary {
        events: report.counts.events,
        findings: report.finding_count(),
        not_events: report.counts.not_events,
    })
}

/// A report needs events: an empty export, one of lines that are not events, or a window
/// without events is bad input.
fn check_not_empty(report: &Report) -> Result<(), CliError> {
    let c = &report.counts;
    if c.events > 0 {
        return Ok(());
    }
    Err(CliError::input(if c.outside_window > 0 {
        format!(
            "none of the {} events read is within --since/--until; nothing was written",
            c.outside_window
        )
    } else if c.not_events > 0 {
        format!(
            "the input holds no audit log events ({} line(s) are not events); nothing was written",
            c.not_events
        )
    } else {
        "the input holds no events (empty files); nothing was written".to_owned()
    }))
}

fn json(value: &impl Serialize) -> Vec<u8> {
    let mut json = serde_json::to_vec_pretty(value).expect("the report's data serializes");
    json.push(b'\n');
    json
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    write_atomically(path, bytes)
        .map_err(|e| CliError::local(format!("cannot write {}: {e}", path.display())))
}
