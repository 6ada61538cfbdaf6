//! What a rule found, in the shape a receiver gets: one JSON object per alert.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use uuid::Uuid;

use crate::geoip::{GeoDetector, GeoFinding, Place};
use crate::rule::{CorrelationType, Level, Rule};

/// The namespace of alert ids (a UUID of this crate's own): an alert's id is the name-based
/// UUID (version 5) of its rule, group and window within it.
const ALERT_NAMESPACE: Uuid = Uuid::from_u128(0x5b1d_6a3e_0c2f_4f7a_9d41_7e3a_a5a0_c0de);

/// What a rule found: a detection rule's match of one event, or a correlation rule's condition
/// met in one window of one group. It serializes (serde) as the JSON object that `asana-audit
/// detect` writes and the live run delivers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// A stable id: the same rule finding the same thing (the same event, or the same group's
    /// window starting at the same event) always gets the same id, in a live run, after a
    /// restart or over the archive, so a receiver can drop a repeat. A UUID.
    pub id: String,
    /// The rule's id (else its name, else its title).
    pub rule: String,
    /// The rule's title.
    pub title: String,
    /// The rule's level.
    pub level: Option<Level>,
    /// The correlation's type, or `None` for a detection rule's match of one event.
    pub correlation: Option<CorrelationType>,
    /// The group: each `group-by` field and its value (empty for a detection rule's match).
    pub group: BTreeMap<String, String>,
    /// The window's start, inclusive: the `created_at` of its first event (of the event, for a
    /// match).
    pub window_start: DateTime<Utc>,
    /// The window's end, exclusive: start + timespan (the event's `created_at`, for a match).
    pub window_end: DateTime<Utc>,
    /// The count the condition tested: events, distinct values or distinct rules (1 for a
    /// match).
    pub count: u64,
    /// The `gid`s of the events matched, sorted (the one event, for a match).
    pub gids: Vec<String>,
    /// The events matched, as Asana sent them, in the order of `gids`.
    pub events: Vec<Json>,
    /// Alerts of the same rule and group folded into the one before this since it was let
    /// through ([`Dedup`]); 0 unless a dedup period applies.
    #[serde(default)]
    pub folded: u64,
    /// What the GeoIP databases (`--geoip`) know of the client IP addresses of the events
    /// matched (and of the previous login's, for impossible travel), by address; empty
    /// without a database.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub geoip: BTreeMap<String, Place>,
    /// For an alert of a GeoIP detector (a login from a new country, impossible travel), what
    /// it found; `None` for a rule's alert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<GeoFinding>,
}

impl Alert {
    /// A detection rule's match of one event.
    pub(crate) fn matched(
        rule: &Rule,
        gid: &str,
        created_at: DateTime<Utc>,
        event: &Json,
    ) -> Alert {
        Alert::of_event(
            (rule.key(), &rule.title, rule.level),
            gid,
            created_at,
            event,
        )
    }

    /// A GeoIP detector's finding on the login event `event`, for `group` (the user, and the
    /// countries the finding is about, so that dedup folds only repeats of the same finding).
    pub(crate) fn geo(
        detector: &GeoDetector,
        group: BTreeMap<String, String>,
        (gid, created_at): (&str, DateTime<Utc>),
        event: &Json,
        finding: GeoFinding,
    ) -> Alert {
        let mut alert = Alert::of_event(
            (detector.key, detector.title, Some(detector.level)),
            gid,
            created_at,
            event,
        );
        alert.group = group;
        alert.geo = Some(finding);
        alert
    }

    /// An alert on one event, by the rule (or detector) with this key, title and level.
    fn of_event(
        (key, title, level): (&str, &str, Option<Level>),
        gid: &str,
        created_at: DateTime<Utc>,
        event: &Json,
    ) -> Alert {
        Alert {
            id: id(key, &["event", gid]),
            rule: key.to_string(),
            title: title.to_string(),
            level,
            correlation: None,
            group: BTreeMap::new(),
            window_start: created_at,
            window_end: created_at,
            count: 1,
            gids: vec![gid.to_string()],
            events: vec![event.clone()],
            folded: 0,
            geoip: BTreeMap::new(),
            geo: None,
        }
    }

    /// A correlation rule's condition met in the window `[start, end)` of `group`.
    pub(crate) fn correlated(
        rule: &Rule,
        kind: CorrelationType,
        group: Vec<(String, String)>,
        window: (DateTime<Utc>, DateTime<Utc>),
        count: u64,
        matched: Vec<(String, Json)>,
    ) -> Alert {
        let values: Vec<&str> = group.iter().map(|(_, v)| v.as_str()).collect();
        let group_json = serde_json::to_string(&values).unwrap_or_default();
        let start_ms = window.0.timestamp_millis().to_string();
        let (gids, events) = matched.into_iter().unzip();
        Alert {
            id: id(rule.key(), &["window", &group_json, &start_ms]),
            rule: rule.key().to_string(),
            title: rule.title.clone(),
            level: rule.level,
            correlation: Some(kind),
            group: group.into_iter().collect(),
            window_start: window.0,
            window_end: window.1,
            count,
            gids,
            events,
            folded: 0,
            geoip: BTreeMap::new(),
            geo: None,
        }
    }
}

/// The name-based UUID of a rule's key and `parts`, each ended by a newline (no part holds
/// one: gids, JSON arrays and numbers).
fn id(rule: &str, parts: &[&str]) -> String {
    let mut name = format!("{rule}\n");
    for part in parts {
        name.push_str(part);
        name.push('\n');
    }
    Uuid::new_v5(&ALERT_NAMESPACE, name.as_bytes()).to_string()
}

/// Folds repeats of an alert: after an alert of one rule and group is let through, others of
/// the same rule and group within `period` of it (by the alerts' own times, so a replay folds
/// the same way) are counted instead, and the next one let through after the period carries
/// that count in [`Alert::folded`]. Plain data that serializes, to keep in a checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dedup {
    /// Per rule and group (`rule` and the group as JSON): until when repeats are folded (ms
    /// since the epoch), and how many were.
    entries: BTreeMap<String, (i64, u64)>,
}

impl Dedup {
    /// Lets `alert` through (`true`, with [`Alert::folded`] set to the repeats folded before
    /// it), or folds it into the one let through within `period` before it (`false`).
    pub fn admit(&mut self, alert: &mut Alert, period: std::time::Duration) -> bool {
        let key = format!(
            "{}\n{}",
            alert.rule,
            serde_json::to_string(&alert.group).unwrap_or_default()
        );
        let at = alert.window_start.timestamp_millis();
        let period_ms = crate::millis(period);
        match self.entries.get_mut(&key) {
            Some((until, folded)) if at < *until => {
                *folded += 1;
                false
            }
            entry => {
                alert.folded = entry.map_or(0, |(_, folded)| *folded);
                self.entries.insert(key, (at.saturating_add(period_ms), 0));
                true
            }
        }
    }

    /// Forgets what no alert at `now_ms` or later can need: entries whose period ended before
    /// `now_ms`, and, a second `period` on, their count of repeats too (it is told with the
    /// next alert of the rule and group within that time), so the state stays as small as the
    /// rules and groups that alerted lately.
    pub fn sweep(&mut self, now_ms: i64, period: std::time::Duration) {
        let period_ms = crate::millis(period);
        self.entries.retain(|_, (until, folded)| {
            *until > now_ms || (*folded > 0 && until.saturating_add(period_ms) > now_ms)
        });
    }

    /// How many rules and groups are remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
