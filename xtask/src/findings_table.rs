//! `cargo xtask generate` for the report's findings: compiles `openapi/report-findings.tsv` into
//! the rule table of `asana-audit report`, after checking every row (its event types against the
//! catalogue, its condition and burst against the small grammar the report understands).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// The rules, relative to the workspace root.
pub const FINDINGS_TSV: &str = "openapi/report-findings.tsv";
/// The event-type catalogue the rules' event types must come from.
const CATALOGUE_TSV: &str = "openapi/event-types.tsv";
/// The generated Rust table.
pub const FINDINGS_GENERATED_PATH: &str = "crates/asana-audit-cli/src/report/rules_table.rs";

const HEADER: &str = "rule\tseverity\ttitle\tevent_types\tcondition\tburst\twhy";

/// The fields a condition may test, and the Rust variant of each.
const FIELDS: &[(&str, &str)] = &[
    ("actor_type", "ActorType"),
    ("context_type", "ContextType"),
    ("details.new_value", "NewValue"),
    ("details.old_value", "OldValue"),
];

/// What a burst is counted by, and the Rust variant of each.
const KEYS: &[(&str, &str)] = &[("actor", "Actor"), ("ip", "Ip")];

/// One checked row, ready to render.
struct Row<'a> {
    name: &'a str,
    severity: &'static str,
    title: &'a str,
    /// Empty for `*` (every event type).
    event_types: Vec<&'a str>,
    condition: Option<(&'static str, Vec<&'a str>)>,
    /// Events, seconds, key variant.
    burst: Option<(u32, u64, &'static str)>,
    why: &'a str,
}

/// A duration such as `30s`, `10m`, `1h` or `1d`, in seconds.
fn seconds(text: &str) -> Option<u64> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return None,
    };
    number
        .parse::<u64>()
        .ok()
        .filter(|&n| n > 0)
        .map(|n| n * factor)
}

fn lookup(table: &[(&str, &'static str)], key: &str) -> Option<&'static str> {
    table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

fn rows<'a>(tsv: &'a str, catalogue_tsv: &str) -> Result<Vec<Row<'a>>> {
    let known: HashSet<&str> = catalogue_tsv
        .lines()
        .skip(1)
        .filter_map(|line| line.split('\t').next())
        .collect();
    let mut lines = tsv.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header == HEADER => {}
        _ => bail!("{FINDINGS_TSV}: the first line must be the header {HEADER:?}"),
    }
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for (index, line) in lines {
        let at = format!("{FINDINGS_TSV}:{}", index + 1);
        let cells: Vec<&str> = line.split('\t').collect();
        let [name, severity, title, types, condition, burst, why] = cells[..] else {
            bail!(
                "{at}: expected 7 tab-separated cells, found {}",
                cells.len()
            );
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            bail!("{at}: the rule name {name:?} must be lowercase snake_case");
        }
        if !names.insert(name) {
            bail!("{at}: the rule {name} appears twice");
        }
        let severity = match severity {
            "high" => "High",
            "medium" => "Medium",
            "low" => "Low",
            _ => bail!("{at}: severity {severity:?} must be high, medium or low"),
        };
        if title.is_empty() || why.is_empty() {
            bail!("{at}: a rule needs a title and a why");
        }
        let event_types: Vec<&str> = if types == "*" {
            Vec::new()
        } else {
            types.split(',').collect()
        };
        for event_type in &event_types {
            if !known.contains(event_type) {
                bail!("{at}: {event_type:?} is not in {CATALOGUE_TSV}");
            }
        }
        let condition = match condition {
            "-" => None,
            text => {
                let (field, values) = text.split_once(" in ").with_context(|| {
                    format!("{at}: the condition {text:?} must read `FIELD in V1,V2` or `-`")
                })?;
                let variant = lookup(FIELDS, field).with_context(|| {
                    format!(
                        "{at}: the condition's field {field:?} must be one of {:?}",
                        FIELDS.iter().map(|(k, _)| *k).collect::<Vec<_>>()
                    )
                })?;
                Some((variant, values.split(',').collect()))
            }
        };
        if types == "*" && condition.is_none() {
            bail!("{at}: a rule for every event type needs a condition");
        }
        let burst = match burst {
            "-" => None,
            text => {
                let parsed = match text.split(' ').collect::<Vec<_>>()[..] {
                    ["per", ..] => None,
                    [count, "per", window, "by", key] => count
                        .parse::<u32>()
                        .ok()
                        .filter(|&n| n >= 2)
                        .zip(seconds(window))
                        .zip(lookup(KEYS, key))
                        .map(|((count, secs), key)| (count, secs, key)),
                    _ => None,
                };
                Some(parsed.with_context(|| {
                    format!(
                        "{at}: the burst {text:?} must read `N per DURATION by actor|ip` (N at \
                         least 2, DURATION such as 10m or 1h) or `-`"
                    )
                })?)
            }
        };
        out.push(Row {
            name,
            severity,
            title,
            event_types,
            condition,
            burst,
            why,
        });
    }
    Ok(out)
}

/// The generated Rust table.
pub fn render(tsv: &str, catalogue_tsv: &str) -> Result<String> {
    let rows = rows(tsv, catalogue_tsv)?;
    let mut out = String::from(
        "// @generated by `cargo xtask generate` from openapi/report-findings.tsv.\n\
         // DO NOT EDIT BY HAND: change the TSV and run `cargo xtask generate`, then review the diff.\n\
         // `cargo xtask generate --check` fails when this file is stale.\n\
         \n\
         //! The finding rules of `asana-audit report`, one per row of `openapi/report-findings.tsv`.\n\
         \n\
         use super::findings::{Burst, BurstKey, Condition, Field, Rule, Severity};\n\
         \n",
    );
    let _ = writeln!(
        out,
        "/// Every rule, in the order of the TSV (the report lists findings in this order).\n\
         pub(crate) static RULES: [Rule; {}] = [",
        rows.len()
    );
    for row in &rows {
        let list = |items: &[&str]| {
            items
                .iter()
                .map(|item| format!("{item:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let condition = match &row.condition {
            None => "None".to_owned(),
            Some((field, values)) => format!(
                "Some(Condition {{ field: Field::{field}, values: &[{}] }})",
                list(values)
            ),
        };
        let burst = match row.burst {
            None => "None".to_owned(),
            Some((count, secs, key)) => format!(
                "Some(Burst {{ count: {count}, window_secs: {secs}, by: BurstKey::{key} }})"
            ),
        };
        let _ = writeln!(
            out,
            "    Rule {{\n        name: {:?},\n        severity: Severity::{},\n        title: {:?},\n        \
             event_types: &[{}],\n        condition: {condition},\n        burst: {burst},\n        \
             why: {:?},\n    }},",
            row.name,
            row.severity,
            row.title,
            list(&row.event_types),
            row.why
        );
    }
    out.push_str("];\n");
    Ok(out)
}

/// Writes the table, or with `check` says whether it is up to date; returns whether it was.
pub fn run(root: &Path, check: bool) -> Result<bool> {
    let read = |path: &str| {
        std::fs::read_to_string(root.join(path)).with_context(|| format!("reading {path}"))
    };
    let text = render(&read(FINDINGS_TSV)?, &read(CATALOGUE_TSV)?)?;
    crate::ocsf_table::write_or_check(root, FINDINGS_GENERATED_PATH, FINDINGS_TSV, &text, check)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOGUE: &str = "event_type\tevent_category\tresource_type\tsource\n\
                             user_login_failed\tlogins\tuser\tx\n";

    fn table(row: &str) -> Result<String> {
        render(&format!("{HEADER}\n{row}\n"), CATALOGUE)
    }

    #[test]
    fn a_burst_rule_renders() {
        let text = table("failed\thigh\tT\tuser_login_failed\t-\t10 per 10m by ip\tW").unwrap();
        assert!(text.contains("count: 10, window_secs: 600, by: BurstKey::Ip"));
    }

    #[test]
    fn bad_rows_are_refused_with_their_line() {
        for (row, says) in [
            ("x\thigh\tT\tuser_login_typo\t-\t-\tW", "not in"),
            ("x\tsevere\tT\tuser_login_failed\t-\t-\tW", "severity"),
            ("x\thigh\tT\t*\t-\t-\tW", "needs a condition"),
            ("x\thigh\tT\tuser_login_failed\tactor in a\t-\tW", "field"),
            (
                "x\thigh\tT\tuser_login_failed\t-\t10 per 10 by ip\tW",
                "burst",
            ),
            (
                "x\thigh\tT\tuser_login_failed\t-\t1 per 1m by ip\tW",
                "burst",
            ),
        ] {
            let error = table(row).unwrap_err().to_string();
            assert!(
                error.contains(says) && error.contains(":2"),
                "{row}: {error}"
            );
        }
    }
}
