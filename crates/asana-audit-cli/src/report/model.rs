//! The report's data: what the page shows, aggregated from a stream of events.
//!
//! [`Aggregator`] takes events one at a time and keeps only counts by day, category, actor and
//! event type, the latest admin and permission changes, and the findings' events (capped), so
//! its memory grows with the number of distinct days, actors, types and IP addresses (8 bytes
//! each), not with the number of events. [`Aggregator::finish`] gives the [`Report`], which the HTML page is drawn from and
//! which the tests snapshot.

use std::collections::{BTreeMap, HashMap, VecDeque};

use asana_audit_log::AuditLogEvent;
use asana_audit_log::types::{ActorType, EventType};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::findings::{Finding, Findings, Rule};

/// How many actors of each kind, and event types, the report ranks.
pub const TOP: usize = 10;
/// How many admin and permission changes the timeline keeps (the latest).
pub const KEPT_CHANGES: usize = 200;
/// The categories whose events are admin-setting and permission changes.
const CHANGE_CATEGORIES: &[&str] = &["admin_settings", "roles"];

/// One event as the report cites it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventRef {
    /// The event's gid.
    pub gid: String,
    /// When it happened.
    pub created_at: DateTime<Utc>,
    /// Its type.
    pub event_type: String,
    /// Who did it (see [`actor_label`]).
    pub actor: String,
    /// `context.client_ip_address`.
    pub ip: Option<String>,
    /// The resource's name, else its gid.
    pub resource: Option<String>,
    /// `details.old_value` and `details.new_value`, when strings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<(Option<String>, Option<String>)>,
}

impl EventRef {
    /// The reference of `event`.
    pub fn of(event: &AuditLogEvent) -> EventRef {
        let resource = event.resource();
        let details = event.details();
        let change = (details.old_value.is_some() || details.new_value.is_some())
            .then(|| (details.old_value.clone(), details.new_value.clone()));
        EventRef {
            gid: event.gid().to_owned(),
            created_at: event.created_at(),
            event_type: event.event_type().as_str().to_owned(),
            actor: actor_label(event),
            ip: event.context().client_ip_address.clone(),
            resource: resource.name.clone().or_else(|| resource.gid.clone()),
            change,
        }
    }
}

/// Who caused `event`, for a person: a user's name and email, else the actor's name, else its
/// type.
pub fn actor_label(event: &AuditLogEvent) -> String {
    let actor = event.actor();
    match (&actor.name, &actor.email, &actor.gid) {
        (Some(name), Some(email), _) => format!("{name} <{email}>"),
        (Some(name), None, _) => name.clone(),
        (None, Some(email), _) => email.clone(),
        (None, None, Some(gid)) => format!("gid {gid}"),
        (None, None, None) => actor
            .actor_type
            .as_ref()
            .map_or_else(|| "(no actor)".to_owned(), |t| t.as_str().to_owned()),
    }
}

/// The category an event counts under: its own, else the catalogue's, else `other`.
fn category(event: &AuditLogEvent) -> String {
    event
        .event_category()
        .cloned()
        .or_else(|| event.event_type().category())
        .map_or_else(|| "other".to_owned(), |c| c.as_str().to_owned())
}

/// One actor's line in the ranking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActorRow {
    /// Who (see [`actor_label`]).
    pub label: String,
    /// `actor_type` as sent (`(none)` when missing).
    pub actor_type: String,
    /// Why a reader should look twice: Asana support or an external administrator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callout: Option<&'static str>,
    /// Its events.
    pub events: u64,
}

/// One event type's line in the ranking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TypeRow {
    /// The event type.
    pub event_type: String,
    /// Its category.
    pub category: String,
    /// Its events.
    pub events: u64,
}

/// One day of events, by category.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Day {
    /// The UTC day.
    pub date: NaiveDate,
    /// Events by category (every category of the report, zeros included, in
    /// [`Report::categories`] order).
    pub by_category: Vec<u64>,
    /// Logins that succeeded.
    pub logins_succeeded: u64,
    /// Logins that failed.
    pub logins_failed: u64,
}

/// The counts at the top of the page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Files read.
    pub files: u64,
    /// Events in the report.
    pub events: u64,
    /// Lines (or Parquet rows) that were not audit log events.
    pub not_events: u64,
    /// Events outside `--since`/`--until`, left out.
    pub outside_window: u64,
    /// Distinct human actors (`actor_type` user).
    pub human_actors: u64,
    /// Distinct other actors.
    pub non_human_actors: u64,
    /// Distinct event types.
    pub event_types: u64,
    /// Distinct client IP addresses.
    pub ip_addresses: u64,
}

/// The window the report covers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Window {
    /// `--since`, if given.
    pub since: Option<DateTime<Utc>>,
    /// `--until`, if given.
    pub until: Option<DateTime<Utc>>,
    /// The oldest event in the report.
    pub first_event: Option<DateTime<Utc>>,
    /// The newest event in the report.
    pub last_event: Option<DateTime<Utc>>,
}

/// A rule and what it found.
#[derive(Clone, Debug, Serialize)]
pub struct RuleResult {
    /// The rule's key (its Sigma id).
    pub rule: String,
    /// Its title.
    pub title: String,
    /// Its severity.
    pub severity: super::findings::Severity,
    /// Why it matters.
    pub why: String,
    /// For a burst rule, its threshold in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<String>,
    /// Its findings (none when nothing matched).
    pub findings: Vec<Finding>,
}

impl RuleResult {
    fn new(rule: Rule, findings: Vec<Finding>) -> RuleResult {
        RuleResult {
            rule: rule.key,
            title: rule.title,
            severity: rule.severity,
            why: rule.why,
            threshold: rule.threshold,
            findings,
        }
    }
}

/// Everything the page shows.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The window covered.
    pub window: Window,
    /// The counts.
    pub counts: Counts,
    /// The categories, most events first.
    pub categories: Vec<String>,
    /// Every day from the first event's to the last's, days without events included.
    pub days: Vec<Day>,
    /// The most active human actors.
    pub top_humans: Vec<ActorRow>,
    /// The most active other actors (Asana, Asana support, external administrators, ...).
    pub top_non_humans: Vec<ActorRow>,
    /// The most frequent event types.
    pub top_event_types: Vec<TypeRow>,
    /// The latest admin-setting and permission changes, oldest first.
    pub changes: Vec<EventRef>,
    /// Earlier changes left out of [`changes`](Self::changes).
    pub earlier_changes: u64,
    /// Every rule, with its findings.
    pub rules: Vec<RuleResult>,
}

impl Report {
    /// How many findings fired.
    pub fn finding_count(&self) -> usize {
        self.rules.iter().map(|r| r.findings.len()).sum()
    }
}

/// Counts of one actor.
struct ActorCount {
    label: String,
    actor_type: String,
    human: bool,
    events: u64,
}

/// Per-day counts.
#[derive(Default)]
struct DayCount {
    by_category: HashMap<String, u64>,
    logins_succeeded: u64,
    logins_failed: u64,
}

/// A 64-bit hash of an IP address, to count distinct addresses in little memory (a collision
/// among a few million addresses is unlikely, and would only lower the count by one).
fn ip_hash(ip: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(ip)
}

/// Takes events one by one and keeps what the report needs.
pub struct Aggregator {
    window: Window,
    counts: Counts,
    days: BTreeMap<NaiveDate, DayCount>,
    actors: HashMap<(String, String), ActorCount>,
    types: HashMap<String, (String, u64)>,
    /// Hashes of the client IP addresses seen (8 bytes each, whatever the address).
    ips: std::collections::HashSet<u64>,
    changes: VecDeque<EventRef>,
    earlier_changes: u64,
    findings: Findings,
}

impl Aggregator {
    /// An aggregator of the events in `since..until` (either open), its findings gathered by
    /// `findings`.
    pub fn new(
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        findings: Findings,
    ) -> Aggregator {
        Aggregator {
            window: Window {
                since,
                until,
                ..Window::default()
            },
            counts: Counts::default(),
            days: BTreeMap::new(),
            actors: HashMap::new(),
            types: HashMap::new(),
            ips: std::collections::HashSet::new(),
            changes: VecDeque::new(),
            earlier_changes: 0,
            findings,
        }
    }

    /// Counts the files read and the lines or rows in them that were not events.
    pub fn read(&mut self, files: u64, not_events: u64) {
        self.counts.files += files;
        self.counts.not_events += not_events;
    }

    /// Adds one event.
    pub fn add(&mut self, event: &AuditLogEvent) {
        let at = event.created_at();
        if self.window.since.is_some_and(|since| at < since)
            || self.window.until.is_some_and(|until| at >= until)
        {
            self.counts.outside_window += 1;
            return;
        }
        self.counts.events += 1;
        self.window.first_event = Some(self.window.first_event.map_or(at, |t| t.min(at)));
        self.window.last_event = Some(self.window.last_event.map_or(at, |t| t.max(at)));

        let category = category(event);
        let day = self.days.entry(at.date_naive()).or_default();
        match event.event_type() {
            EventType::UserLoginSucceeded => day.logins_succeeded += 1,
            EventType::UserLoginFailed => day.logins_failed += 1,
            _ => {}
        }
        if CHANGE_CATEGORIES.contains(&category.as_str()) {
            if self.changes.len() == KEPT_CHANGES {
                self.changes.pop_front();
                self.earlier_changes += 1;
            }
            self.changes.push_back(EventRef::of(event));
        }
        let type_name = match event.event_type().as_str() {
            "" => "(no event type)",
            name => name,
        };
        let type_count = self
            .types
            .entry(type_name.to_owned())
            .or_insert_with(|| (category.clone(), 0));
        type_count.1 += 1;
        *day.by_category.entry(category).or_default() += 1;

        let actor = event.actor();
        let actor_type = actor
            .actor_type
            .as_ref()
            .map_or_else(|| "(none)".to_owned(), |t| t.as_str().to_owned());
        let id = actor
            .gid
            .clone()
            .or_else(|| actor.name.clone())
            .or_else(|| actor.email.clone())
            .unwrap_or_default();
        self.actors
            .entry((actor_type, id))
            .or_insert_with_key(|(actor_type, _)| ActorCount {
                label: actor_label(event),
                actor_type: actor_type.clone(),
                human: actor.actor_type == Some(ActorType::User),
                events: 0,
            })
            .events += 1;
        if let Some(ip) = &event.context().client_ip_address {
            self.ips.insert(ip_hash(ip));
        }
        self.findings.add(event);
    }

    /// The report.
    pub fn finish(self) -> Report {
        let mut counts = self.counts;
        let mut totals: HashMap<&str, u64> = HashMap::new();
        for day in self.days.values() {
            for (category, n) in &day.by_category {
                *totals.entry(category).or_default() += n;
            }
        }
        let mut categories: Vec<(&str, u64)> = totals.into_iter().collect();
        categories.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let categories: Vec<String> = categories.iter().map(|(c, _)| (*c).to_owned()).collect();

        let mut days = Vec::new();
        if let (Some(first), Some(last)) = (
            self.days.keys().next().copied(),
            self.days.keys().last().copied(),
        ) {
            for date in first.iter_days().take_while(|d| *d <= last) {
                let count = self.days.get(&date);
                days.push(Day {
                    date,
                    by_category: categories
                        .iter()
                        .map(|c| {
                            count
                                .and_then(|d| d.by_category.get(c))
                                .copied()
                                .unwrap_or(0)
                        })
                        .collect(),
                    logins_succeeded: count.map_or(0, |d| d.logins_succeeded),
                    logins_failed: count.map_or(0, |d| d.logins_failed),
                });
            }
        }

        let mut actors: Vec<ActorCount> = self.actors.into_values().collect();
        actors.sort_by(|a, b| b.events.cmp(&a.events).then_with(|| a.label.cmp(&b.label)));
        counts.human_actors = actors.iter().filter(|a| a.human).count() as u64;
        counts.non_human_actors = actors.len() as u64 - counts.human_actors;
        let rows = |human: bool| -> Vec<ActorRow> {
            actors
                .iter()
                .filter(|a| a.human == human)
                .take(TOP)
                .map(|a| ActorRow {
                    label: a.label.clone(),
                    actor_type: a.actor_type.clone(),
                    callout: match a.actor_type.as_str() {
                        "asana_support" => Some("Asana support"),
                        "external_administrator" => Some("external administrator"),
                        _ => None,
                    },
                    events: a.events,
                })
                .collect()
        };

        counts.event_types = self.types.len() as u64;
        counts.ip_addresses = self.ips.len() as u64;
        let mut types: Vec<TypeRow> = self
            .types
            .into_iter()
            .map(|(event_type, (category, events))| TypeRow {
                event_type,
                category,
                events,
            })
            .collect();
        types.sort_by(|a, b| {
            b.events
                .cmp(&a.events)
                .then_with(|| a.event_type.cmp(&b.event_type))
        });
        types.truncate(TOP);

        Report {
            window: self.window,
            counts,
            categories,
            days,
            top_humans: rows(true),
            top_non_humans: rows(false),
            top_event_types: types,
            changes: self.changes.into(),
            earlier_changes: self.earlier_changes,
            rules: self
                .findings
                .finish()
                .into_iter()
                .map(|(rule, findings)| RuleResult::new(rule, findings))
                .collect(),
        }
    }
}
