//! Findings: the events an auditor must see, found by the rules of
//! `openapi/report-findings.tsv` (compiled into [`RULES`](super::rules_table::RULES)).
//!
//! A rule matches an event by its type (or any type) and an optional condition on one field;
//! a rule with a burst fires only when at least `count` matching events with the same key
//! (actor or IP address) fall within `window_secs`. Memory stays bounded: a finding keeps at
//! most [`KEPT_EVENTS`] events and counts the rest, and a burst rule keeps the last `count`
//! matching events of each key active within its window (at least `count` events of a key
//! within the window, the window inclusive, make a burst).

use std::collections::{HashMap, VecDeque};

use asana_audit_log::AuditLogEvent;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model::EventRef;
use super::rules_table::RULES;

/// How serious a finding is.
// The TSV may use any of these; no row uses every one today.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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
}

/// The event field a condition tests.
// The TSV may use any of these; no row uses every one today.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `actor.actor_type`.
    ActorType,
    /// `context.context_type`.
    ContextType,
    /// `details.new_value` (a string).
    NewValue,
    /// `details.old_value` (a string).
    OldValue,
}

/// A condition: the field holds one of the values.
#[derive(Clone, Copy, Debug)]
pub struct Condition {
    /// Which field.
    pub field: Field,
    /// The values that match.
    pub values: &'static [&'static str],
}

/// What a burst is counted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BurstKey {
    /// The actor (type and gid, or name).
    Actor,
    /// `context.client_ip_address`.
    Ip,
}

/// A burst: at least `count` matching events of one key within `window_secs`.
#[derive(Clone, Copy, Debug)]
pub struct Burst {
    /// The threshold (inclusive).
    pub count: u32,
    /// The window, in seconds.
    pub window_secs: u64,
    /// What the events are grouped by.
    pub by: BurstKey,
}

/// One rule: a row of `openapi/report-findings.tsv`.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// Its name, e.g. `admin_granted`.
    pub name: &'static str,
    /// How serious a finding of it is.
    pub severity: Severity,
    /// Its title in the report.
    pub title: &'static str,
    /// The event types it matches; empty for every type.
    pub event_types: &'static [&'static str],
    /// A further condition on the event.
    pub condition: Option<Condition>,
    /// Fire only on a burst of matching events.
    pub burst: Option<Burst>,
    /// Why it matters, in a sentence.
    pub why: &'static str,
}

impl Rule {
    /// Whether `event` matches the rule (before any burst threshold).
    fn matches(&self, event: &AuditLogEvent) -> bool {
        if !self.event_types.is_empty() && !self.event_types.contains(&event.event_type().as_str())
        {
            return false;
        }
        let Some(condition) = self.condition else {
            return true;
        };
        let value = match condition.field {
            Field::ActorType => event.actor().actor_type.as_ref().map(|t| t.as_str()),
            Field::ContextType => event.context().context_type.as_ref().map(|t| t.as_str()),
            Field::NewValue => event.details().new_value.as_deref(),
            Field::OldValue => event.details().old_value.as_deref(),
        };
        value.is_some_and(|value| condition.values.contains(&value))
    }

    /// The burst's threshold and window, in words (e.g. "10 or more within 10 minutes").
    pub fn threshold_text(&self) -> Option<String> {
        self.burst.map(|burst| {
            let window =
                humantime::format_duration(std::time::Duration::from_secs(burst.window_secs));
            let by = match burst.by {
                BurstKey::Actor => "by one actor",
                BurstKey::Ip => "from one IP address",
            };
            format!("{} or more within {window} {by}", burst.count)
        })
    }
}

/// The events a finding keeps; beyond them it only counts.
pub const KEPT_EVENTS: usize = 50;

/// One finding: a rule that fired, with the events behind it.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// The rule's name.
    pub rule: &'static str,
    /// The rule's severity.
    pub severity: Severity,
    /// The rule's title.
    pub title: &'static str,
    /// For a burst: the actor or IP address it came from.
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
            rule: rule.name,
            severity: rule.severity,
            title: rule.title,
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

/// The last matching events of one burst key, and the finding of the burst in progress.
#[derive(Default)]
struct KeyWindow {
    recent: VecDeque<EventRef>,
    open: Option<usize>,
}

/// One rule's state while events stream by.
struct RuleState {
    rule: &'static Rule,
    /// The findings of this rule so far (one for a plain rule, one per burst).
    findings: Vec<Finding>,
    /// For a burst rule: the window of each key seen within the last window.
    windows: HashMap<String, KeyWindow>,
    /// When `windows` is next swept of keys whose window has passed.
    sweep_at: usize,
}

/// The fewest keys before a sweep.
const SWEEP_MIN: usize = 1024;

impl RuleState {
    /// Forgets the keys without an event in the window before `now`, once there are twice as
    /// many as after the last sweep: the windows kept are those of keys active within one
    /// window, however many keys the whole input has (e.g. addresses of failed logins).
    fn sweep(&mut self, now: DateTime<Utc>, span: chrono::Duration) {
        if self.windows.len() < self.sweep_at {
            return;
        }
        self.windows.retain(|_, window| {
            window
                .recent
                .back()
                .is_some_and(|last| now - last.created_at <= span)
        });
        self.sweep_at = (self.windows.len() * 2).max(SWEEP_MIN);
    }
}

/// Runs every rule over a stream of events.
pub struct Detector {
    rules: Vec<RuleState>,
}

impl Default for Detector {
    fn default() -> Self {
        Detector::new(&RULES)
    }
}

impl Detector {
    /// A detector of `rules`.
    pub fn new(rules: &'static [Rule]) -> Detector {
        Detector {
            rules: rules
                .iter()
                .map(|rule| RuleState {
                    rule,
                    findings: Vec::new(),
                    windows: HashMap::new(),
                    sweep_at: SWEEP_MIN,
                })
                .collect(),
        }
    }

    /// Feeds one event (events come in `created_at` order, as an export writes them).
    pub fn add(&mut self, event: &AuditLogEvent, reference: impl Fn() -> EventRef) {
        for state in &mut self.rules {
            if !state.rule.matches(event) {
                continue;
            }
            let Some(burst) = state.rule.burst else {
                let event = reference();
                if state.findings.is_empty() {
                    state.findings.push(Finding::new(state.rule, None, &event));
                }
                state.findings[0].add(event);
                continue;
            };
            let event = reference();
            let key = match burst.by {
                BurstKey::Actor => event.actor.clone(),
                BurstKey::Ip => match &event.ip {
                    Some(ip) => ip.clone(),
                    None => continue,
                },
            };
            let at = event.created_at;
            let span = chrono::Duration::seconds(burst.window_secs as i64);
            state.sweep(at, span);
            let window = state.windows.entry(key.clone()).or_default();
            // An export is in time order; an event that is not (a late arrival that `follow`
            // appended, files named out of order) takes its place by time, so the window is
            // always the latest events within `span` of the newest.
            let place = window.recent.partition_point(|e| e.created_at <= at);
            window.recent.insert(place, event.clone());
            let newest = window.recent.back().map_or(at, |e| e.created_at);
            while window.recent.len() > burst.count as usize
                || window
                    .recent
                    .front()
                    .is_some_and(|first| newest - first.created_at > span)
            {
                window.recent.pop_front();
            }
            if window.recent.len() < burst.count as usize {
                window.open = None;
                continue;
            }
            match window.open {
                Some(index) => state.findings[index].add(event),
                None => {
                    let mut finding = Finding::new(state.rule, Some(key), &window.recent[0]);
                    for earlier in &window.recent {
                        finding.add(earlier.clone());
                    }
                    window.open = Some(state.findings.len());
                    state.findings.push(finding);
                }
            }
        }
    }

    /// Every rule with its findings, in the rules' order.
    pub fn finish(self) -> Vec<(&'static Rule, Vec<Finding>)> {
        self.rules
            .into_iter()
            .map(|state| (state.rule, state.findings))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed_login(n: u64, ip: &str, seconds: i64) -> AuditLogEvent {
        let at = DateTime::<Utc>::from_timestamp(1_790_000_000 + seconds, 0).unwrap();
        AuditLogEvent::from_json(&format!(
            r#"{{"gid":"{n}","created_at":"{}","event_type":"user_login_failed",
              "actor":{{"actor_type":"anonymous"}},"context":{{"client_ip_address":"{ip}"}}}}"#,
            at.to_rfc3339()
        ))
        .unwrap()
    }

    /// The failed-login burst of one address (10 within 10 minutes), from events in an order
    /// other than time: shuffled within the burst it is found; 10 spread over 20 minutes,
    /// newest first, are not a burst.
    #[test]
    fn bursts_are_judged_by_time_not_by_input_order() {
        let found = |seconds: &[i64]| {
            let mut detector = Detector::default();
            for (n, &at) in seconds.iter().enumerate() {
                let event = failed_login(n as u64 + 1, "192.0.2.7", at);
                detector.add(&event, || EventRef::of(&event));
            }
            let state = detector
                .rules
                .iter()
                .find(|state| state.rule.name == "failed_login_burst")
                .unwrap();
            state.findings.iter().map(|f| f.matched).collect::<Vec<_>>()
        };
        assert_eq!(found(&[50, 10, 90, 0, 30, 70, 20, 80, 40, 60]), [10]);
        let spread: Vec<i64> = (0..10).rev().map(|n| n * 120).collect();
        assert_eq!(found(&spread), Vec::<u64>::new());
        let mut in_order = spread.clone();
        in_order.reverse();
        assert_eq!(found(&in_order), Vec::<u64>::new());
    }

    /// Failed logins from 5,000 addresses, one a minute: the windows kept are those of the
    /// addresses seen in the last 10 minutes (swept past 1,024), and a burst after them is
    /// still found.
    #[test]
    fn windows_of_quiet_keys_are_swept_and_bursts_still_found() {
        let mut detector = Detector::default();
        let mut add = |event: AuditLogEvent| detector.add(&event, || EventRef::of(&event));
        for n in 0..5_000 {
            add(failed_login(
                n,
                &format!("10.0.{}.{}", n / 256, n % 256),
                n as i64 * 60,
            ));
        }
        for n in 0..10 {
            add(failed_login(
                9_000 + n,
                "192.0.2.1",
                300_000 + n as i64 * 30,
            ));
        }
        let state = detector
            .rules
            .iter()
            .find(|state| state.rule.name == "failed_login_burst")
            .unwrap();
        assert!(state.windows.len() <= SWEEP_MIN, "{}", state.windows.len());
        assert_eq!(state.findings.len(), 1);
        assert_eq!(state.findings[0].subject.as_deref(), Some("192.0.2.1"));
        assert_eq!(state.findings[0].matched, 10);
    }
}
