//! One Sigma document read into a [`Rule`]: its metadata, and its detection or correlation.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::condition::{self, Condition, ParseError};
use crate::detection::{Ctx, FieldPath, Selection};
use crate::error::{Error, Location};
use crate::yaml::{Node, Value};

/// How severe a rule's match is: Sigma's `level` (serialized as its word, e.g. `high`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Worth recording, no action needed.
    Informational,
    /// Worth a look in a periodic review.
    Low,
    /// Worth a look soon.
    Medium,
    /// Worth a look now.
    High,
    /// An incident until shown otherwise.
    Critical,
}

impl Level {
    /// The word Sigma uses, e.g. `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "informational" => Level::Informational,
            "low" => Level::Low,
            "medium" => Level::Medium,
            "high" => Level::High,
            "critical" => Level::Critical,
            _ => return None,
        })
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of a correlation rule (serialized as its word, e.g. `event_count`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationType {
    /// `event_count`: enough events of the referenced rules in one window of one group.
    EventCount,
    /// `value_count`: enough distinct values of a field in one window of one group.
    ValueCount,
    /// `temporal`: the referenced rules all match (in any order) within one window of one group.
    Temporal,
}

impl CorrelationType {
    /// The word Sigma uses, e.g. `event_count`.
    pub fn as_str(self) -> &'static str {
        match self {
            CorrelationType::EventCount => "event_count",
            CorrelationType::ValueCount => "value_count",
            CorrelationType::Temporal => "temporal",
        }
    }
}

/// A loaded Sigma rule: a detection rule (one event) or a correlation rule (events of other
/// rules, counted per group and time window).
#[derive(Clone, Debug)]
pub struct Rule {
    pub(crate) id: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) title: String,
    pub(crate) description: Option<String>,
    pub(crate) level: Option<Level>,
    pub(crate) tags: Vec<String>,
    pub(crate) references: Vec<String>,
    pub(crate) falsepositives: Vec<String>,
    /// `dedup`, a custom attribute of this evaluator: the period repeats are folded in.
    pub(crate) dedup: Option<std::time::Duration>,
    pub(crate) location: Location,
    pub(crate) body: Body,
}

#[derive(Clone, Debug)]
pub(crate) enum Body {
    Detection {
        selections: Vec<Selection>,
        condition: Condition,
    },
    Correlation(CorrelationSpec),
}

/// A correlation as written, before its references are resolved.
#[derive(Clone, Debug)]
pub(crate) struct CorrelationSpec {
    pub(crate) kind: CorrelationType,
    /// The referenced rules (id or name) and the line of each.
    pub(crate) rules: Vec<(String, usize)>,
    pub(crate) group_by: Vec<(String, FieldPath)>,
    pub(crate) timespan_ms: i64,
    /// The least count that matches (`gte`, or `gt` + 1); for `temporal` without a condition,
    /// the number of referenced rules.
    pub(crate) min_count: u64,
    /// `value_count`'s field.
    pub(crate) field: Option<(String, FieldPath)>,
    pub(crate) generate: bool,
}

impl Rule {
    /// The rule's `id` (a UUID in the shipped pack).
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The rule's `name`, by which correlation rules may refer to it.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The rule's `title`.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The rule's `description`.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The rule's `level`.
    pub fn level(&self) -> Option<Level> {
        self.level
    }

    /// The rule's `tags` (e.g. `attack.persistence`, `attack.t1098`).
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// The rule's `references` (links to documentation).
    pub fn references(&self) -> &[String] {
        &self.references
    }

    /// The rule's `falsepositives`: when a match is expected and harmless.
    pub fn falsepositives(&self) -> &[String] {
        &self.falsepositives
    }

    /// The rule's `dedup` period, a custom attribute of this evaluator (e.g. `dedup: 30m`):
    /// repeats of its alerts for one group within it are folded (see [`Dedup`](crate::Dedup)),
    /// instead of within the period the run is given.
    pub fn dedup(&self) -> Option<std::time::Duration> {
        self.dedup
    }

    /// Where the rule's document starts.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The correlation type, for a correlation rule; `None` for a detection rule.
    pub fn correlation_type(&self) -> Option<CorrelationType> {
        match &self.body {
            Body::Correlation(spec) => Some(spec.kind),
            Body::Detection { .. } => None,
        }
    }

    /// For a correlation rule: the least count that meets its condition (`gte`, or `gt` + 1),
    /// its `timespan`, and its `group-by` fields.
    pub fn threshold(&self) -> Option<(u64, std::time::Duration, Vec<&str>)> {
        let Body::Correlation(spec) = &self.body else {
            return None;
        };
        let timespan = std::time::Duration::from_millis(spec.timespan_ms.unsigned_abs());
        let group_by = spec
            .group_by
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        Some((spec.min_count, timespan, group_by))
    }

    /// The id, else the name, else the title: how alerts and errors name the rule.
    pub fn key(&self) -> &str {
        self.id
            .as_deref()
            .or(self.name.as_deref())
            .unwrap_or(&self.title)
    }

    /// Whether a detection rule matches one event (always `false` for a correlation rule).
    pub fn matches(&self, event: &serde_json::Value) -> bool {
        match &self.body {
            Body::Detection {
                selections,
                condition,
            } => condition.eval(&mut |i| selections[i].matches(event)),
            Body::Correlation(_) => false,
        }
    }

    /// Reads one YAML document of `file`.
    pub(crate) fn from_node(file: &str, doc: &Node) -> Result<Rule, Error> {
        let title = doc.get("title").and_then(Node::as_str);
        let label = title
            .map(str::to_string)
            .or_else(|| doc.get("id").and_then(Node::scalar_text))
            .unwrap_or_else(|| "(untitled)".to_string());
        let ctx = Ctx { file, rule: &label };
        if !matches!(doc.value, Value::Map(_)) {
            return Err(ctx.invalid(doc.line, format!("a rule is a mapping, not {}", doc.kind())));
        }
        if let Some(action) = doc.get("action") {
            return Err(ctx.unsupported(
                action.line,
                format!(
                    "a Sigma '{}' document (action:)",
                    action.scalar_text().unwrap_or_default()
                ),
            ));
        }
        let Some(title) = title else {
            return Err(ctx.invalid(doc.line, "a rule needs a title (a string)"));
        };
        let string = |key: &str| -> Result<Option<String>, Error> {
            match doc.get(key) {
                None => Ok(None),
                Some(node) => node
                    .scalar_text()
                    .map(Some)
                    .ok_or_else(|| ctx.invalid(node.line, format!("'{key}' must be a string"))),
            }
        };
        let strings = |key: &str| -> Result<Vec<String>, Error> {
            match doc.get(key) {
                None => Ok(Vec::new()),
                Some(node) => match &node.value {
                    Value::Str(s) => Ok(vec![s.clone()]),
                    Value::Seq(items) => items
                        .iter()
                        .map(|i| {
                            i.scalar_text().ok_or_else(|| {
                                ctx.invalid(i.line, format!("'{key}' must list strings"))
                            })
                        })
                        .collect(),
                    _ => Err(ctx.invalid(node.line, format!("'{key}' must be a list of strings"))),
                },
            }
        };
        let level = match doc.get("level") {
            None => None,
            Some(node) => Some(node.as_str().and_then(Level::parse).ok_or_else(|| {
                ctx.invalid(
                    node.line,
                    "level must be informational, low, medium, high or critical",
                )
            })?),
        };
        // A custom attribute (Sigma keeps unknown keys as such): this rule's dedup period,
        // which a live run and `detect` use instead of their own.
        let dedup = match doc.get("dedup") {
            None => None,
            Some(node) => Some(
                node.as_str()
                    .and_then(parse_timespan)
                    .map(|ms| std::time::Duration::from_millis(ms.unsigned_abs()))
                    .ok_or_else(|| {
                        ctx.invalid(
                            node.line,
                            "dedup must be a positive number and a unit: s, m, h, d, w, M or y \
                             (e.g. 30m)",
                        )
                    })?,
            ),
        };
        let body = match (doc.get("detection"), doc.get("correlation")) {
            (Some(_), Some(node)) => {
                return Err(ctx.invalid(
                    node.line,
                    "a rule has either detection or correlation, not both",
                ));
            }
            (Some(detection), None) => {
                check_logsource(&ctx, doc)?;
                detection_body(&ctx, detection)?
            }
            (None, Some(correlation)) => Body::Correlation(correlation_spec(&ctx, correlation)?),
            (None, None) => {
                return Err(ctx.invalid(doc.line, "a rule needs a detection (or a correlation)"));
            }
        };
        Ok(Rule {
            id: string("id")?,
            name: string("name")?,
            title: title.to_string(),
            description: string("description")?,
            level,
            tags: strings("tags")?,
            references: strings("references")?,
            falsepositives: strings("falsepositives")?,
            dedup,
            location: Location::new(file, doc.line),
            body,
        })
    }
}

/// Only rules written for Asana's audit log are evaluated: another log source's fields would
/// never be present, and its rule would silently never match.
fn check_logsource(ctx: &Ctx<'_>, doc: &Node) -> Result<(), Error> {
    let Some(logsource) = doc.get("logsource") else {
        return Err(ctx.invalid(doc.line, "a detection rule needs a logsource"));
    };
    let product = logsource.get("product").and_then(Node::as_str);
    let service = logsource.get("service").and_then(Node::as_str);
    let category = logsource.get("category");
    if product != Some("asana") || service != Some("audit_log") || category.is_some() {
        return Err(ctx.unsupported(
            logsource.line,
            "a logsource other than {product: asana, service: audit_log}",
        ));
    }
    Ok(())
}

fn detection_body(ctx: &Ctx<'_>, detection: &Node) -> Result<Body, Error> {
    let Value::Map(entries) = &detection.value else {
        return Err(ctx.invalid(detection.line, "detection must be a mapping"));
    };
    let mut names = Vec::new();
    let mut selections = Vec::new();
    let mut condition_node = None;
    for (key, node) in entries {
        match key.as_str() {
            "condition" => condition_node = Some(node),
            "timeframe" => {
                return Err(ctx.unsupported(
                    node.line,
                    "detection.timeframe (write a correlation rule instead)",
                ));
            }
            _ => {
                names.push(key.clone());
                selections.push(Selection::compile(ctx, node)?);
            }
        }
    }
    let Some(condition_node) = condition_node else {
        return Err(ctx.invalid(detection.line, "detection needs a condition"));
    };
    let text = match &condition_node.value {
        Value::Str(text) => text,
        Value::Seq(_) => {
            return Err(ctx.unsupported(condition_node.line, "a list of conditions"));
        }
        _ => return Err(ctx.invalid(condition_node.line, "condition must be a string")),
    };
    let condition = condition::parse(text, &names).map_err(|e| match e {
        ParseError::Invalid(m) => ctx.invalid(condition_node.line, m),
        ParseError::Unsupported(m) => ctx.unsupported(condition_node.line, m),
    })?;
    Ok(Body::Detection {
        selections,
        condition,
    })
}

fn correlation_spec(ctx: &Ctx<'_>, node: &Node) -> Result<CorrelationSpec, Error> {
    if !matches!(node.value, Value::Map(_)) {
        return Err(ctx.invalid(node.line, "correlation must be a mapping"));
    }
    let kind = match node.get("type") {
        None => return Err(ctx.invalid(node.line, "correlation needs a type")),
        Some(t) => match t.as_str() {
            Some("event_count") => CorrelationType::EventCount,
            Some("value_count") => CorrelationType::ValueCount,
            Some("temporal") => CorrelationType::Temporal,
            Some("temporal_ordered") => {
                return Err(ctx.unsupported(t.line, "the temporal_ordered correlation type"));
            }
            _ => {
                return Err(ctx.invalid(
                    t.line,
                    "correlation type must be event_count, value_count or temporal",
                ));
            }
        },
    };
    if let Some(aliases) = node.get("aliases") {
        return Err(ctx.unsupported(aliases.line, "correlation aliases"));
    }
    let list = |key: &str| -> Result<Vec<(String, usize)>, Error> {
        match node.get(key) {
            None => Ok(Vec::new()),
            Some(n) => match &n.value {
                Value::Str(s) => Ok(vec![(s.clone(), n.line)]),
                Value::Seq(items) => items
                    .iter()
                    .map(|i| {
                        i.scalar_text().map(|s| (s, i.line)).ok_or_else(|| {
                            ctx.invalid(i.line, format!("correlation {key} must list strings"))
                        })
                    })
                    .collect(),
                _ => Err(ctx.invalid(
                    n.line,
                    format!("correlation {key} must be a list of strings"),
                )),
            },
        }
    };
    let rules = list("rules")?;
    if rules.is_empty() {
        return Err(ctx.invalid(node.line, "correlation needs rules (ids or names)"));
    }
    let group_by = list("group-by")?
        .into_iter()
        .map(|(field, _)| {
            let path = FieldPath::parse(&field);
            (field, path)
        })
        .collect();
    let Some(timespan) = node.get("timespan") else {
        return Err(ctx.invalid(node.line, "correlation needs a timespan (e.g. 1h)"));
    };
    let timespan_ms = timespan.as_str().and_then(parse_timespan).ok_or_else(|| {
        ctx.invalid(
            timespan.line,
            "timespan must be a positive number and a unit: s, m, h, d, w, M or y (e.g. 60m)",
        )
    })?;
    let generate = match node.get("generate") {
        None => false,
        Some(Node {
            value: Value::Bool(b),
            ..
        }) => *b,
        Some(n) => return Err(ctx.invalid(n.line, "correlation generate must be true or false")),
    };
    let mut field = None;
    let mut min_count = None;
    match node.get("condition") {
        None if kind == CorrelationType::Temporal => {}
        None => return Err(ctx.invalid(node.line, "correlation needs a condition (e.g. gte: 20)")),
        Some(cond) => {
            let Value::Map(entries) = &cond.value else {
                return Err(ctx.invalid(cond.line, "correlation condition must be a mapping"));
            };
            for (key, value) in entries {
                let number =
                    || match value.value {
                        Value::Int(n) if n >= 0 => Ok(n as u64),
                        _ => Err(ctx
                            .invalid(value.line, format!("condition {key} needs a whole number"))),
                    };
                let least = match key.as_str() {
                    "gte" => number()?,
                    "gt" => number()? + 1,
                    "field" => {
                        let name = value.as_str().ok_or_else(|| {
                            ctx.invalid(value.line, "condition field must be a field name")
                        })?;
                        field = Some((name.to_string(), FieldPath::parse(name)));
                        continue;
                    }
                    "lt" | "lte" | "eq" | "neq" => {
                        return Err(ctx.unsupported(
                            value.line,
                            format!(
                                "the correlation condition '{key}' (a stream can only raise an \
                                 alert when a count reaches gt or gte)"
                            ),
                        ));
                    }
                    other => {
                        return Err(ctx.invalid(
                            value.line,
                            format!("unknown correlation condition '{other}' (gt, gte, field)"),
                        ));
                    }
                };
                min_count = Some(min_count.map_or(least, |m: u64| m.max(least)));
            }
        }
    }
    if kind == CorrelationType::ValueCount && field.is_none() {
        return Err(ctx.invalid(node.line, "a value_count correlation needs condition.field"));
    }
    let min_count = match (min_count, kind) {
        (Some(n), _) => n,
        (None, CorrelationType::Temporal) => rules.len() as u64,
        (None, _) => return Err(ctx.invalid(node.line, "correlation condition needs gt or gte")),
    };
    Ok(CorrelationSpec {
        kind,
        rules,
        group_by,
        timespan_ms,
        min_count: min_count.max(1),
        field,
        generate,
    })
}

/// `90m` -> milliseconds; the units pySigma reads (a month is 30.436875 days, a year 365.2425).
fn parse_timespan(text: &str) -> Option<i64> {
    let unit = text.chars().last()?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let count: i64 = digits.parse().ok()?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 604_800,
        'M' => 2_629_746,
        'y' => 31_556_952,
        _ => return None,
    };
    (count > 0)
        .then(|| count.checked_mul(seconds * 1000))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("60m"), Some(3_600_000));
        assert_eq!(parse_timespan("1h"), Some(3_600_000));
        assert_eq!(parse_timespan("2d"), Some(172_800_000));
        assert_eq!(parse_timespan("0h"), None);
        assert_eq!(parse_timespan("h"), None);
        assert_eq!(parse_timespan("5 m"), None);
        assert_eq!(parse_timespan("5x"), None);
        assert_eq!(parse_timespan("+5m"), None);
    }
}
