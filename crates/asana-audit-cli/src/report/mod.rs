//! `report`: one self-contained HTML page from an export — the window and counts, charts of the
//! domain's activity, the admin and permission changes, and the findings an auditor must see.
//!
//! Reading ([`input`]), aggregation ([`model`], [`findings`]) and drawing ([`html`]) are apart,
//! so the data the page shows can be tested (and written as JSON) without the page.

pub mod findings;
pub mod html;
pub mod input;
pub mod model;
mod rules_table;

use std::path::{Path, PathBuf};

use asana_audit_log::AuditLogEvent;
use serde::Serialize;

use crate::checkpoint::write_atomically;
use crate::cli::ReportArgs;
use crate::error::CliError;
use input::ReadError;
use model::{Aggregator, Report};

/// How many lines that are not events are reported one by one before only the count is kept.
const REPORTED_NOT_EVENTS: u64 = 20;

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

/// Which kind of export a file holds, from its first record that tells.
#[derive(Default)]
struct Kinds {
    raw: Option<PathBuf>,
    ocsf: Option<PathBuf>,
}

impl Kinds {
    fn saw(&mut self, raw: bool, path: &Path) -> Result<(), CliError> {
        let slot = if raw { &mut self.raw } else { &mut self.ocsf };
        slot.get_or_insert_with(|| path.to_path_buf());
        if let (Some(raw), Some(ocsf)) = (&self.raw, &self.ocsf) {
            return Err(CliError::input(format!(
                "the input mixes raw Asana events ({}) with OCSF events ({}); report reads the \
                 raw export only (written with --format raw, the default): give only those files",
                raw.display(),
                ocsf.display()
            )));
        }
        Ok(())
    }
}

/// Whether a record that is not an Asana event is an OCSF event (`--format ocsf` output).
fn is_ocsf(text: &str) -> bool {
    text.contains("\"class_uid\"")
        && serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text)
            .is_ok_and(|object| object.contains_key("class_uid") && object.contains_key("metadata"))
}

/// Reads every input into an aggregator.
pub fn aggregate(args: &ReportArgs) -> Result<Aggregator, CliError> {
    let files = input::files(&args.inputs)?;
    let mut aggregator = Aggregator::new(args.since, args.until);
    let mut kinds = Kinds::default();
    for path in &files {
        aggregator.file();
        let mut failure = None;
        let read = input::read(path, |number, bytes| {
            if failure.is_some() {
                return;
            }
            let decoded = std::str::from_utf8(bytes)
                .map_err(|e| (false, format!("not UTF-8 text: {e}")))
                .and_then(|text| {
                    AuditLogEvent::from_json(text).map_err(|e| (is_ocsf(text), e.to_string()))
                });
            match decoded {
                Ok(event) => {
                    if let Err(e) = kinds.saw(true, path) {
                        failure = Some(e);
                        return;
                    }
                    aggregator.add(&event);
                }
                Err((true, _)) => failure = kinds.saw(false, path).err(),
                Err((false, reason)) => {
                    aggregator.not_event();
                    if aggregator.not_events() <= REPORTED_NOT_EVENTS {
                        tracing::warn!(
                            "{}:{number}: not an audit log event, skipped: {reason}",
                            path.display()
                        );
                    }
                }
            }
        });
        if let Some(failure) = failure {
            return Err(failure);
        }
        match read {
            Ok(()) => {}
            Err(ReadError::NotRawParquet { ocsf: true }) => kinds.saw(false, path)?,
            Err(ReadError::NotRawParquet { ocsf: false }) => {
                return Err(CliError::input(format!(
                    "{} is a Parquet file without an {} column: not one `asana-audit export` \
                     wrote",
                    path.display(),
                    asana_audit_log_sink::EVENT_JSON_COLUMN
                )));
            }
            Err(ReadError::Unreadable(e)) => {
                return Err(CliError::input(format!(
                    "cannot read {}: {e}; nothing was written",
                    path.display()
                )));
            }
        }
    }
    if let (None, Some(ocsf)) = (&kinds.raw, &kinds.ocsf) {
        return Err(CliError::input(format!(
            "{} holds OCSF events (--format ocsf); report reads the raw export (--format raw, \
             the default), which keeps every field Asana sent",
            ocsf.display()
        )));
    }
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
