//! Correlation windows: the events of the referenced rules, kept per correlation and group,
//! each placed by its own `created_at`, so that late and out-of-order events count in the
//! window they belong to.
//!
//! A window is `[start, start + timespan)`. When an event arrives, every window that starts at
//! a kept event and contains the new one is checked; the first that meets the condition and
//! overlaps no window that already raised an alert for the group raises one (so a burst of
//! 1,000 failed logins in an hour is one alert, not 981). State is bounded by time: once the
//! newest `created_at` seen (the watermark) moves on, events older than
//! `watermark - timespan - max_lateness` are dropped, and an event that old when it arrives is
//! too late to be placed and is only counted in [`CorrelationState::late_events`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::detection::FieldPath;
use crate::rule::CorrelationType;

/// A correlation rule with its references resolved to detection rules.
#[derive(Clone, Debug)]
pub(crate) struct Correlation {
    /// The correlation rule's index in the rule set.
    pub(crate) rule: usize,
    /// Its key in the state (the rule's id, else name, else title).
    pub(crate) key: String,
    pub(crate) kind: CorrelationType,
    /// The referenced detection rules' indices.
    pub(crate) members: Vec<usize>,
    pub(crate) group_by: Vec<(String, FieldPath)>,
    pub(crate) timespan_ms: i64,
    pub(crate) min_count: u64,
    pub(crate) field: Option<FieldPath>,
}

/// The correlation windows of a [`Detector`](crate::Detector): plain data that serializes with
/// serde, so that it can be kept in a checkpoint and given back to
/// [`Detector::with_state`](crate::Detector::with_state) after a restart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CorrelationState {
    /// The newest `created_at` seen, in milliseconds since the epoch.
    watermark_ms: Option<i64>,
    /// When the state was last swept of expired events.
    swept_ms: Option<i64>,
    /// Events that arrived too late to be placed in a window.
    late_events: u64,
    /// Per correlation rule (by key), per group (its values as a JSON array).
    groups: BTreeMap<String, BTreeMap<String, Group>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Group {
    /// Sorted by `at_ms`, then `gid`.
    hits: Vec<Hit>,
    /// Windows `[start, end)` that raised an alert.
    fired: Vec<(i64, i64)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Hit {
    at_ms: i64,
    gid: String,
    /// `value_count`: the field's value; `temporal`: the referenced rule's position.
    tag: String,
    /// The event's JSON (compact: as received, or as `serde_json` writes it), read back into a
    /// value for the alert that counts it.
    #[serde(default)]
    event: String,
}

/// An event to place in the windows: its value, its JSON text (compact), gid and time.
pub(crate) struct Placed<'a> {
    pub(crate) value: &'a Json,
    pub(crate) text: &'a str,
    pub(crate) gid: &'a str,
    pub(crate) at_ms: i64,
}

/// A correlation that met its condition.
#[derive(Clone, Debug)]
pub(crate) struct Fired {
    pub(crate) group: Vec<(String, String)>,
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
    pub(crate) count: u64,
    /// The window's events, `gid` and JSON, by `gid`.
    pub(crate) events: Vec<(String, Json)>,
}

impl CorrelationState {
    /// Events that arrived more than `max_lateness` behind the newest event seen, so were not
    /// placed in any window.
    pub fn late_events(&self) -> u64 {
        self.late_events
    }

    /// How many events the windows hold now (the state's size).
    pub fn held_events(&self) -> usize {
        self.groups
            .values()
            .flat_map(BTreeMap::values)
            .map(|g| g.hits.len())
            .sum()
    }

    /// Whether an event at `at_ms` is too late to be placed, given `max_lateness_ms`; advances
    /// the watermark otherwise.
    pub(crate) fn admit(&mut self, at_ms: i64, max_lateness_ms: i64) -> bool {
        match self.watermark_ms {
            Some(w) if at_ms < w.saturating_sub(max_lateness_ms) => {
                self.late_events += 1;
                false
            }
            Some(w) if at_ms <= w => true,
            _ => {
                self.watermark_ms = Some(at_ms);
                true
            }
        }
    }

    /// Adds `event`, matched by member `member` of `corr`, and returns the alert it completes,
    /// if any.
    pub(crate) fn add(
        &mut self,
        corr: &Correlation,
        member: usize,
        event: &Placed<'_>,
        max_events_per_group: usize,
    ) -> Option<Fired> {
        let Placed {
            value: event,
            text,
            gid,
            at_ms,
        } = *event;
        let mut group_values = Vec::with_capacity(corr.group_by.len());
        for (name, path) in &corr.group_by {
            // Events without a group-by field are not counted, as a SIEM's `by` clause drops them.
            group_values.push((name.clone(), scalar_text(path.lookup(event))?));
        }
        let tag = match corr.kind {
            CorrelationType::EventCount => String::new(),
            CorrelationType::ValueCount => {
                scalar_text(corr.field.as_ref().and_then(|f| f.lookup(event)))?
            }
            CorrelationType::Temporal => member.to_string(),
        };
        let group_key =
            serde_json::to_string(&group_values.iter().map(|(_, v)| v).collect::<Vec<_>>())
                .unwrap_or_default();
        let group = self
            .groups
            .entry(corr.key.clone())
            .or_default()
            .entry(group_key)
            .or_default();
        let hit = Hit {
            at_ms,
            gid: gid.to_string(),
            tag,
            event: text.to_string(),
        };
        let pos = group
            .hits
            .partition_point(|h| (h.at_ms, &h.gid, &h.tag) < (at_ms, &hit.gid, &hit.tag));
        if group
            .hits
            .get(pos)
            .is_some_and(|h| (h.at_ms, &h.gid, &h.tag) == (at_ms, &hit.gid, &hit.tag))
        {
            return None; // the same event again (a replay): already counted
        }
        group.hits.insert(pos, hit);
        if group.hits.len() > max_events_per_group {
            group.hits.remove(0);
        }
        let span = corr.timespan_ms;
        // Windows that start at a kept event and contain the new one: start in (at - span, at].
        let first = group.hits.partition_point(|h| h.at_ms <= at_ms - span);
        let last = group.hits.partition_point(|h| h.at_ms <= at_ms);
        let mut starts: Vec<i64> = group.hits[first..last].iter().map(|h| h.at_ms).collect();
        starts.dedup();
        for start in starts {
            let end = start + span;
            if group.fired.iter().any(|&(a, b)| start < b && a < end) {
                continue;
            }
            let from = group.hits.partition_point(|h| h.at_ms < start);
            let to = group.hits.partition_point(|h| h.at_ms < end);
            let window = &group.hits[from..to];
            let events: BTreeMap<&str, &str> = window
                .iter()
                .map(|h| (h.gid.as_str(), h.event.as_str()))
                .collect();
            let count = match corr.kind {
                CorrelationType::EventCount => events.len(),
                CorrelationType::ValueCount | CorrelationType::Temporal => window
                    .iter()
                    .map(|h| h.tag.as_str())
                    .collect::<BTreeSet<_>>()
                    .len(),
            } as u64;
            if count >= corr.min_count {
                group.fired.push((start, end));
                return Some(Fired {
                    group: group_values,
                    start_ms: start,
                    end_ms: end,
                    count,
                    events: events
                        .into_iter()
                        .map(|(gid, json)| {
                            (
                                gid.to_string(),
                                serde_json::from_str(json).unwrap_or(Json::Null),
                            )
                        })
                        .collect(),
                });
            }
        }
        None
    }

    /// Drops what no window can need any more (at most once a minute of event time).
    pub(crate) fn sweep(&mut self, correlations: &[Correlation], max_lateness_ms: i64) {
        let Some(watermark) = self.watermark_ms else {
            return;
        };
        if self.swept_ms.is_some_and(|s| watermark < s + 60_000) {
            return;
        }
        self.swept_ms = Some(watermark);
        for corr in correlations {
            let Some(groups) = self.groups.get_mut(&corr.key) else {
                continue;
            };
            let cutoff = watermark - max_lateness_ms - corr.timespan_ms;
            groups.retain(|_, group| {
                group.hits.retain(|h| h.at_ms >= cutoff);
                group.fired.retain(|&(_, end)| end >= cutoff);
                !group.hits.is_empty() || !group.fired.is_empty()
            });
        }
        // Correlations no longer loaded leave nothing behind.
        self.groups
            .retain(|key, groups| !groups.is_empty() && correlations.iter().any(|c| c.key == *key));
    }
}

/// The text of a JSON scalar (a string as it is, a number or boolean as JSON writes it);
/// `None` for a missing field, null, a list or an object.
fn scalar_text(value: Option<&Json>) -> Option<String> {
    match value? {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
