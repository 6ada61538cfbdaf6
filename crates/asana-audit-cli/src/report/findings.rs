//! Findings: the events an auditor must see, found by the Sigma rule pack that `detect` and
//! the live run use (the `asana-audit-rules` crate): one definition of every rule.
//!
//! The report lists the pack's rules that raise alerts of their own at level low or above
//! (informational rules, such as a single failed login, only feed correlations). A detection
//! rule's matches make one finding; each alert of a correlation rule (a burst in one window of
//! one group) makes one. Memory stays bounded: a finding keeps at most [`KEPT_EVENTS`] events
//! and counts the rest, and the correlation windows keep only the events of their timespan.

use asana_audit_log::AuditLogEvent;
use asana_audit_rules::{Alert, Detector, GeoDetector, Level, Options, RuleSet};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model::EventRef;

/// How serious a finding is: the rule's Sigma level, critical counted as high.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Review now.
    High,
    /// Review in the periodic audit.
    Medium,
    /// Worth knowing.
    Low,
}

impl Severity {
    /// The word shown in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }

    /// The severity of a rule of `level`; `None` for informational rules (and rules without
    /// a level), which the report leaves out.
    fn of(level: Option<Level>) -> Option<Severity> {
        match level? {
            Level::Critical | Level::High => Some(Severity::High),
            Level::Medium => Some(Severity::Medium),
            Level::Low => Some(Severity::Low),
            _ => None,
        }
    }
}

/// A rule as the report lists it.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Its key: the rule's id (else name, else title).
    pub key: String,
    /// How serious a finding of it is.
    pub severity: Severity,
    /// Its title.
    pub title: String,
    /// Why it matters: the rule's description.
    pub why: String,
    /// For a correlation rule, its condition in words.
    pub threshold: Option<String>,
}

impl Rule {
    /// The report's view of `rule`, if the report lists it.
    fn of(rule: &asana_audit_rules::Rule) -> Option<Rule> {
        let threshold = rule.threshold().map(|(count, timespan, group_by)| {
            let by = if group_by.is_empty() {
                String::new()
            } else {
                format!(" of one {}", group_by.join(" and "))
            };
            format!(
                "{count} or more within {}{by}",
                humantime::format_duration(timespan)
            )
        });
        Some(Rule {
            key: rule.key().to_string(),
            severity: Severity::of(rule.level())?,
            title: rule.title().to_string(),
            why: rule.description().unwrap_or_default().trim().to_string(),
            threshold,
        })
    }
}

impl Rule {
    /// The report's view of a GeoIP detector, with its threshold from `options` (none when
    /// `options` turn it off).
    fn of_geo(detector: &GeoDetector, options: &Options) -> Option<Rule> {
        let threshold = detector.threshold(options)?;
        Some(Rule {
            key: detector.key.to_string(),
            severity: Severity::of(Some(detector.level))?,
            title: detector.title.to_string(),
            why: detector.description.to_string(),
            threshold: Some(threshold),
        })
    }
}

/// The events a finding keeps; beyond them it only counts.
pub const KEPT_EVENTS: usize = 50;

/// One finding: a rule that fired, with the events behind it.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// The rule's key.
    pub rule: String,
    /// The rule's severity.
    pub severity: Severity,
    /// The rule's title.
    pub title: String,
    /// For a correlation: its group (each `group-by` field and value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The first event's time.
    pub first: DateTime<Utc>,
    /// The last event's time.
    pub last: DateTime<Utc>,
    /// How many events are behind it.
    pub matched: u64,
    /// The first [`KEPT_EVENTS`] of them.
    pub events: Vec<EventRef>,
}

impl Finding {
    fn new(rule: &Rule, subject: Option<String>, first: &EventRef) -> Finding {
        Finding {
            rule: rule.key.clone(),
            severity: rule.severity,
            title: rule.title.clone(),
            subject,
            first: first.created_at,
            last: first.created_at,
            matched: 0,
            events: Vec::new(),
        }
    }

    fn add(&mut self, event: EventRef) {
        self.matched += 1;
        self.first = self.first.min(event.created_at);
        self.last = self.last.max(event.created_at);
        if self.events.len() < KEPT_EVENTS {
            self.events.push(event);
        }
    }

    /// Events behind the finding that are not kept in [`events`](Self::events).
    pub fn more(&self) -> u64 {
        self.matched - self.events.len() as u64
    }
}

/// Runs the rule pack over a stream of events and gathers what each listed rule found.
pub struct Findings {
    detector: Detector,
    /// The rules listed, most severe first (in the pack's order within a severity), each with
    /// its findings.
    rules: Vec<(Rule, Vec<Finding>)>,
}

impl Findings {
    /// The findings of `rules` (and of their GeoIP detectors, set by `options`).
    pub fn new(rules: RuleSet, options: Options) -> Findings {
        let mut listed: Vec<(Rule, Vec<Finding>)> = rules
            .rules()
            .iter()
            .filter(|rule| rule.correlation_type().is_some() || rules.generates(rule))
            .filter_map(Rule::of)
            .chain(
                rules
                    .geo_detectors()
                    .iter()
                    .filter_map(|detector| Rule::of_geo(detector, &options)),
            )
            .map(|rule| (rule, Vec::new()))
            .collect();
        listed.sort_by_key(|(rule, _)| rule.severity);
        Findings {
            detector: Detector::with_state(rules, Default::default(), options),
            rules: listed,
        }
    }

    /// Feeds one event.
    pub fn add(&mut self, event: &AuditLogEvent) {
        let alerts = match self.detector.evaluate_event(event) {
            Ok(alerts) => alerts,
            // An event of the library always has its time; this is not expected.
            Err(e) => {
                tracing::warn!("event {}: not evaluated: {e}", event.gid());
                return;
            }
        };
        for alert in alerts {
            self.found(event, alert);
        }
    }

    fn found(&mut self, event: &AuditLogEvent, alert: Alert) {
        let Some((rule, findings)) = self.rules.iter_mut().find(|(r, _)| r.key == alert.rule)
        else {
            return; // an informational rule
        };
        // A detection rule's matches are one finding; a correlation's windows and a GeoIP
        // detector's findings are one each, named by their group.
        if alert.correlation.is_none() && alert.geo.is_none() {
            let event = EventRef::of(event);
            if findings.is_empty() {
                findings.push(Finding::new(rule, None, &event));
            }
            findings[0].add(event);
            return;
        }
        let events: Vec<EventRef> = alert
            .events
            .into_iter()
            .filter_map(|json| serde_json::from_value::<AuditLogEvent>(json).ok())
            .map(|event| EventRef::of(&event))
            .collect();
        let Some(first) = events.first() else {
            return;
        };
        let subject = alert
            .group
            .iter()
            .map(|(field, value)| format!("{field} {value}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut finding = Finding::new(rule, Some(subject), first);
        for event in events {
            finding.add(event);
        }
        findings.push(finding);
    }

    /// Every listed rule with its findings.
    pub fn finish(self) -> Vec<(Rule, Vec<Finding>)> {
        self.rules
    }
}
