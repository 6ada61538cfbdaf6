//! `cargo xtask drift`: how far our spec has drifted from an upstream Asana spec.
//!
//! Both documents are reduced to *facts* about the audit-log operation: for each location
//! (a parameter, a response, or a property path inside a named schema) a few attributes that
//! matter to a client: type, format, nullability, enum values and whether the enum is closed,
//! bounds, `required`, `additionalProperties`, and which named schema a property refers to.
//! Prose (descriptions, examples) is ignored. The two fact sets are compared; each difference
//! is either declared in `openapi/README.md` (deliberate) or not (a failure).
//!
//! Locations read like `parameter limit`, `response 429`, `response 200 body.data` or
//! `AuditLogEventActor.actor_type`; a difference's key is `location: attribute`, and that key,
//! in backticks in the first cell of a table row of `openapi/README.md`, declares it deliberate.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The path of the one operation this project describes.
pub const OPERATION_PATH: &str = "/workspaces/{workspace_gid}/audit_log_events";

/// `(location, attribute)` -> value.
type Facts = BTreeMap<(String, String), String>;

/// One attribute that differs between the upstream spec and ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Where: `parameter limit`, `AuditLogEventActor.actor_type`, ...
    pub location: String,
    /// What: `type`, `enum`, `present`, ...
    pub attribute: String,
    /// The upstream value, `None` when upstream lacks it.
    pub upstream: Option<String>,
    /// Our value, `None` when we lack it.
    pub ours: Option<String>,
    /// Whether `openapi/README.md` declares this difference deliberate.
    pub declared: bool,
}

impl Difference {
    /// The key that declares this difference in `openapi/README.md`.
    pub fn key(&self) -> String {
        format!("{}: {}", self.location, self.attribute)
    }

    /// The schema (or `parameters` / `responses`) the difference belongs to, for grouping.
    pub fn group(&self) -> &str {
        if self.location.starts_with("parameter ") {
            "parameters"
        } else if self.location.starts_with("response ") {
            "responses"
        } else {
            let end = self
                .location
                .find(['.', '['])
                .unwrap_or(self.location.len());
            &self.location[..end]
        }
    }

    fn describe(&self) -> String {
        match (&self.upstream, &self.ours) {
            (Some(_), None) if self.attribute == "present" => {
                "upstream has it, ours does not".to_string()
            }
            (None, Some(_)) if self.attribute == "present" => {
                "ours has it, upstream does not".to_string()
            }
            (Some(up), Some(ours)) if self.attribute == "enum" => {
                let up: BTreeSet<&str> = up.split(", ").collect();
                let ours: BTreeSet<&str> = ours.split(", ").collect();
                let mut parts = Vec::new();
                let added: Vec<&str> = up.difference(&ours).copied().collect();
                let missing: Vec<&str> = ours.difference(&up).copied().collect();
                if !added.is_empty() {
                    parts.push(format!("upstream adds {}", added.join(", ")));
                }
                if !missing.is_empty() {
                    parts.push(format!("upstream lacks {}", missing.join(", ")));
                }
                parts.join("; ")
            }
            (up, ours) => format!(
                "upstream {}, ours {}",
                up.as_deref().unwrap_or("(none)"),
                ours.as_deref().unwrap_or("(none)")
            ),
        }
    }
}

/// The outcome of a comparison.
#[derive(Debug, Default)]
pub struct Report {
    /// Every difference, ordered by location.
    pub differences: Vec<Difference>,
    /// Keys declared deliberate that no longer differ (the declaration can go).
    pub stale_declarations: Vec<String>,
}

impl Report {
    /// How many differences are not declared deliberate.
    pub fn undeclared_count(&self) -> usize {
        self.differences.iter().filter(|d| !d.declared).count()
    }

    /// A human-readable report, grouped per schema.
    pub fn render(&self, upstream: &str, ours: &str) -> String {
        let mut out =
            format!("drift: {OPERATION_PATH} (GET)\n  upstream: {upstream}\n  ours:     {ours}\n");
        let mut groups: BTreeMap<&str, Vec<&Difference>> = BTreeMap::new();
        for d in &self.differences {
            groups.entry(d.group()).or_default().push(d);
        }
        for (group, diffs) in groups {
            let _ = writeln!(out, "\n{group}");
            for d in diffs {
                let verdict = if d.declared {
                    "deliberate (declared in openapi/README.md)"
                } else {
                    "UNDECLARED"
                };
                let _ = writeln!(out, "  `{}`: {}\n      -> {verdict}", d.key(), d.describe());
            }
        }
        for key in &self.stale_declarations {
            let _ = writeln!(
                out,
                "\nnote: `{key}` is declared in openapi/README.md but no longer differs"
            );
        }
        let undeclared = self.undeclared_count();
        let _ = writeln!(
            out,
            "\n{} deliberate, {undeclared} undeclared difference(s): {}",
            self.differences.len() - undeclared,
            if undeclared == 0 { "OK" } else { "FAIL" }
        );
        out
    }
}

/// Extracts the declared difference keys from `openapi/README.md`: the first backticked
/// text of each table row whose first cell starts with a backtick.
pub fn parse_declared(readme: &str) -> BTreeSet<String> {
    readme
        .lines()
        .filter_map(|line| {
            let cell = line.trim().strip_prefix('|')?.trim_start();
            let rest = cell.strip_prefix('`')?;
            let key = &rest[..rest.find('`')?];
            key.contains(": ").then(|| key.to_string())
        })
        .collect()
}

/// Compares the audit-log operation of `upstream` with that of `ours`.
pub fn compare(upstream: &Value, ours: &Value, declared: &BTreeSet<String>) -> Result<Report> {
    let up = operation_facts(upstream).context("reading the upstream spec")?;
    let our = operation_facts(ours).context("reading our spec")?;

    let keys: BTreeSet<&(String, String)> = up.keys().chain(our.keys()).collect();
    let mut raw: Vec<Difference> = keys
        .into_iter()
        .filter(|k| up.get(*k) != our.get(*k))
        .map(|(location, attribute)| Difference {
            location: location.clone(),
            attribute: attribute.clone(),
            upstream: up.get(&(location.clone(), attribute.clone())).cloned(),
            ours: our.get(&(location.clone(), attribute.clone())).cloned(),
            declared: false,
        })
        .collect();

    // A location only one side has is one difference, not one per attribute below it.
    let one_sided: Vec<String> = raw
        .iter()
        .filter(|d| d.attribute == "present")
        .map(|d| d.location.clone())
        .collect();
    raw.retain(|d| {
        !one_sided.iter().any(|loc| {
            is_within(&d.location, loc) && !(d.location == *loc && d.attribute == "present")
        })
    });

    let mut seen = BTreeSet::new();
    for d in &mut raw {
        d.declared = declared.contains(&d.key());
        seen.insert(d.key());
    }
    let stale_declarations = declared.difference(&seen).cloned().collect();
    Ok(Report {
        differences: raw,
        stale_declarations,
    })
}

/// Whether `location` is `ancestor` or lies below it.
fn is_within(location: &str, ancestor: &str) -> bool {
    location == ancestor
        || location
            .strip_prefix(ancestor)
            .is_some_and(|rest| rest.starts_with(['.', '[', ' ']))
}

/// Reduces the audit-log operation of an OpenAPI document to facts.
fn operation_facts(doc: &Value) -> Result<Facts> {
    let path_item = doc
        .get("paths")
        .and_then(|p| p.get(OPERATION_PATH))
        .with_context(|| format!("the spec has no path {OPERATION_PATH}"))?;
    let Some(op) = path_item.get("get") else {
        bail!("the path {OPERATION_PATH} has no GET operation");
    };
    let mut walker = Walker {
        doc,
        facts: Facts::new(),
        expanded: BTreeSet::new(),
    };

    // Operation-level parameters override path-level ones with the same name and place.
    let mut params: BTreeMap<(String, String), &Value> = BTreeMap::new();
    for list in [path_item.get("parameters"), op.get("parameters")]
        .into_iter()
        .flatten()
    {
        for p in list.as_array().into_iter().flatten() {
            let p = walker.resolve(p)?;
            let name = str_field(p, "name").context("a parameter without a name")?;
            let place = str_field(p, "in").context("a parameter without `in`")?;
            params.insert((name.to_string(), place.to_string()), p);
        }
    }
    for ((name, place), p) in params {
        let location = format!("parameter {name}");
        walker.fact(&location, "present", "yes");
        walker.fact(&location, "in", &place);
        walker.fact(
            &location,
            "required",
            &bool_field(p, "required").to_string(),
        );
        if let Some(schema) = p.get("schema") {
            walker.schema(schema, &location, true)?;
        }
    }

    let responses = op
        .get("responses")
        .and_then(Value::as_object)
        .context("the operation has no responses")?;
    for (status, response) in responses {
        let location = format!("response {status}");
        walker.fact(&location, "present", "yes");
        let response = walker.resolve(response)?;
        if let Some(schema) = response.pointer("/content/application~1json/schema") {
            walker.schema(schema, &format!("{location} body"), true)?;
        }
    }
    Ok(walker.facts)
}

struct Walker<'a> {
    doc: &'a Value,
    facts: Facts,
    /// Named schemas whose facts are already recorded.
    expanded: BTreeSet<String>,
}

impl<'a> Walker<'a> {
    fn fact(&mut self, location: &str, attribute: &str, value: &str) {
        self.facts.insert(
            (location.to_string(), attribute.to_string()),
            value.to_string(),
        );
    }

    /// Follows a local `$ref` (any number of hops).
    fn resolve(&self, mut value: &'a Value) -> Result<&'a Value> {
        for _ in 0..32 {
            let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
                return Ok(value);
            };
            let pointer = reference
                .strip_prefix('#')
                .with_context(|| format!("only local references are supported: {reference}"))?;
            value = self
                .doc
                .pointer(pointer)
                .with_context(|| format!("dangling reference {reference}"))?;
        }
        bail!("reference chain too long")
    }

    /// Records the facts of `schema` at `location`. A reference to a named schema records
    /// which one at `location` and the schema's own facts under its name, once; at an
    /// anonymous root (a parameter's or a response body's schema) the name is not used,
    /// so an inline body and a named one with the same shape compare equal.
    fn schema(&mut self, schema: &'a Value, location: &str, anonymous_root: bool) -> Result<()> {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let resolved = self.resolve(schema)?;
            if anonymous_root {
                return self.schema(resolved, location, true);
            }
            let name = reference
                .rsplit('/')
                .next()
                .unwrap_or(reference)
                .to_string();
            self.fact(location, "ref", &name);
            if self.expanded.insert(name.clone()) {
                self.schema(resolved, &name, false)?;
            }
            return Ok(());
        }

        let kind = str_field(schema, "type").unwrap_or("any");
        self.fact(location, "type", kind);
        if let Some(format) = str_field(schema, "format") {
            self.fact(location, "format", format);
        }
        self.fact(
            location,
            "nullable",
            &bool_field(schema, "nullable").to_string(),
        );
        let closed = schema.get("enum").and_then(Value::as_array);
        let open = schema.get("x-known-values").and_then(Value::as_array);
        if let Some(values) = closed.or(open) {
            let values: BTreeSet<String> = values.iter().map(scalar_text).collect();
            self.fact(
                location,
                "enum",
                &values.into_iter().collect::<Vec<_>>().join(", "),
            );
            self.fact(location, "enum-closed", &closed.is_some().to_string());
        }
        for bound in [
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "pattern",
        ] {
            if let Some(v) = schema.get(bound) {
                self.fact(location, bound, &scalar_text(v));
            }
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            let names: BTreeSet<String> = required.iter().map(scalar_text).collect();
            self.fact(
                location,
                "required",
                &names.into_iter().collect::<Vec<_>>().join(", "),
            );
        }
        if kind == "object" || schema.get("properties").is_some() {
            let extra = match schema.get("additionalProperties") {
                None => "absent".to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Object(o)) if o.is_empty() => "{}".to_string(),
                Some(_) => "schema".to_string(),
            };
            self.fact(location, "additionalProperties", &extra);
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, prop) in props {
                let child = format!("{location}.{name}");
                self.fact(&child, "present", "yes");
                self.schema(prop, &child, false)?;
            }
        }
        if let Some(items) = schema.get("items") {
            self.schema(items, &format!("{location}[]"), false)?;
        }
        for combinator in ["allOf", "anyOf", "oneOf"] {
            if let Some(parts) = schema.get(combinator).and_then(Value::as_array) {
                self.fact(location, combinator, &parts.len().to_string());
                for (i, part) in parts.iter().enumerate() {
                    self.schema(part, &format!("{location}[{combinator} {i}]"), false)?;
                }
            }
        }
        Ok(())
    }
}

fn str_field<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value.get(key).and_then(Value::as_str)
}

fn bool_field(value: &Value, key: &str) -> bool {
    value.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    fn load(name: &str) -> Value {
        crate::spec::load_json(&std::path::Path::new(FIXTURES).join(name)).unwrap()
    }

    fn undeclared(report: &Report) -> Vec<String> {
        report
            .differences
            .iter()
            .filter(|d| !d.declared)
            .map(|d| format!("{} => {}", d.key(), d.describe()))
            .collect()
    }

    #[test]
    fn identical_specs_do_not_differ() {
        let base = load("base.yaml");
        let report = compare(&base, &base, &BTreeSet::new()).unwrap();
        assert!(report.differences.is_empty(), "{report:?}");
    }

    #[test]
    fn a_new_upstream_parameter_is_detected() {
        let report = compare(
            &load("new-parameter.yaml"),
            &load("base.yaml"),
            &BTreeSet::new(),
        )
        .unwrap();
        assert_eq!(
            undeclared(&report),
            ["parameter sort: present => upstream has it, ours does not"]
        );
    }

    #[test]
    fn a_new_enum_value_is_detected_and_named() {
        let report = compare(
            &load("new-enum-value.yaml"),
            &load("base.yaml"),
            &BTreeSet::new(),
        )
        .unwrap();
        assert_eq!(
            undeclared(&report),
            ["Actor.actor_type: enum => upstream adds robot"]
        );
    }

    #[test]
    fn a_removed_field_is_detected() {
        let report = compare(
            &load("removed-field.yaml"),
            &load("base.yaml"),
            &BTreeSet::new(),
        )
        .unwrap();
        assert_eq!(
            undeclared(&report),
            ["Actor.email: present => ours has it, upstream does not"]
        );
    }

    #[test]
    fn a_changed_type_is_detected() {
        let report = compare(
            &load("changed-type.yaml"),
            &load("base.yaml"),
            &BTreeSet::new(),
        )
        .unwrap();
        assert_eq!(
            undeclared(&report),
            ["parameter limit: type => upstream string, ours integer"]
        );
    }

    #[test]
    fn declared_differences_pass_and_new_values_behind_them_still_fail() {
        // Ours opens the actor_type enum (x-known-values) and adds a 429 response.
        let declared = parse_declared(
            "| where | why |\n|---|---|\n\
             | `Actor.actor_type: enum-closed` | open enum |\n\
             | `response 429: present` | live API sends it |\n",
        );
        let report = compare(&load("base.yaml"), &load("ours-open.yaml"), &declared).unwrap();
        assert_eq!(report.undeclared_count(), 0, "{}", report.render("u", "o"));
        assert_eq!(report.differences.len(), 2);

        let report = compare(
            &load("new-enum-value.yaml"),
            &load("ours-open.yaml"),
            &declared,
        )
        .unwrap();
        assert_eq!(
            undeclared(&report),
            ["Actor.actor_type: enum => upstream adds robot"]
        );
    }

    #[test]
    fn inline_and_named_response_bodies_compare_equal() {
        let report = compare(
            &load("base.yaml"),
            &load("named-body.yaml"),
            &BTreeSet::new(),
        )
        .unwrap();
        assert!(report.differences.is_empty(), "{}", report.render("u", "o"));
    }

    #[test]
    fn a_missing_operation_is_an_error() {
        let doc: Value = serde_json::json!({"openapi": "3.0.3", "paths": {}});
        let err = compare(&doc, &load("base.yaml"), &BTreeSet::new()).unwrap_err();
        assert!(format!("{err:#}").contains(OPERATION_PATH));
    }

    #[test]
    fn our_spec_matches_the_vendored_upstream_extract_up_to_declared_differences() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap();
        let ours = crate::spec::load_json(&root.join(crate::spec::SPEC_PATH)).unwrap();
        let readme = std::fs::read_to_string(root.join("openapi/README.md")).unwrap();
        let declared = parse_declared(&readme);
        let report = compare(&load("upstream-extract.yaml"), &ours, &declared).unwrap();
        assert_eq!(
            report.undeclared_count(),
            0,
            "{}",
            report.render("upstream", "ours")
        );
        assert!(
            report.stale_declarations.is_empty(),
            "{}",
            report.render("upstream", "ours")
        );
        assert!(!report.differences.is_empty());
    }
}
