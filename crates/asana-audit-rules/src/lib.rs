//! Sigma rules for Asana's audit log: an evaluator for detection and correlation rules, and
//! the rule pack this crate ships.
//!
//! Rules are [Sigma](https://github.com/SigmaHQ/sigma-specification) documents with
//! `logsource: {product: asana, service: audit_log}` whose field names are the event's JSON
//! paths (`event_type`, `actor.actor_type`, `details.new_value`). [`RuleSet`] loads and checks
//! them: a rule that uses a part of Sigma this evaluator does not implement is refused with its
//! file, line and the feature, never loaded in part. [`Detector`] evaluates events one at a
//! time, keeps the correlation windows ([`CorrelationState`], serializable) and returns
//! [`Alert`]s.
//!
//! ```
//! use asana_audit_rules::{Detector, RuleSet};
//! use serde_json::json;
//!
//! let rules = RuleSet::shipped();
//! let mut detector = Detector::new(rules);
//! let event = json!({
//!     "gid": "1208000000000001",
//!     "created_at": "2026-03-01T10:00:00.000Z",
//!     "event_type": "team_privacy_settings_changed",
//!     "actor": {"actor_type": "user", "gid": "1201", "email": "zoe@northwind.example"},
//!     "resource": {"resource_type": "team", "gid": "1203", "name": "Engineering"},
//!     "context": {"context_type": "web", "client_ip_address": "203.0.113.7"},
//!     "details": {"old_value": "private", "new_value": "public"},
//! });
//! let alerts = detector.evaluate(&event)?;
//! assert_eq!(alerts.len(), 1);
//! assert_eq!(alerts[0].title, "Asana Team Made Public");
//! assert_eq!(alerts[0].gids, ["1208000000000001"]);
//! assert_eq!(alerts[0].events[0], event);
//! # Ok::<(), asana_audit_rules::Error>(())
//! ```

mod alert;
mod condition;
mod correlation;
mod detection;
mod error;
mod geoip;
mod pack;
mod rule;
mod yaml;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

pub use alert::{Alert, Dedup};
pub use correlation::CorrelationState;
pub use error::{Error, Location};
pub use geoip::{GeoDetector, GeoFinding, GeoIp, GeoState, Login, Place};
pub use rule::{CorrelationType, Level, Rule};

use correlation::{Correlation, Placed};
use rule::Body;

/// A checked set of Sigma rules: detection rules and the correlation rules over them.
#[derive(Clone, Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    correlations: Vec<Correlation>,
    /// Whether each rule raises an alert of its own on a match (a detection rule referenced
    /// only by correlations with `generate: false` does not).
    generates: Vec<bool>,
    /// The GeoIP databases: alerts carry what they know of addresses, and the new-country and
    /// impossible-travel detectors run ([`RuleSet::with_geoip`]).
    geoip: Option<GeoIp>,
}

impl RuleSet {
    /// The rule pack this crate ships (`rules/*.yml`, embedded in the library).
    pub fn shipped() -> RuleSet {
        // The pack is checked by this crate's tests; it cannot fail to load in a release.
        RuleSet::from_files(pack::FILES.iter().copied())
            .unwrap_or_else(|e| panic!("the shipped rule pack does not load: {e}"))
    }

    /// The files of the shipped rule pack: `(name, YAML text)`, e.g. to write them out for a
    /// SIEM or to load them beside rules of one's own with [`RuleSet::from_files`].
    pub fn shipped_files() -> &'static [(&'static str, &'static str)] {
        pack::FILES
    }

    /// Loads the rules of one YAML file (one rule per document, `---` between documents).
    pub fn from_yaml(file: &str, text: &str) -> Result<RuleSet, Error> {
        RuleSet::from_files([(file, text)])
    }

    /// Loads the rules of several files `(name, YAML text)`; a correlation rule may refer to a
    /// rule of any of them.
    pub fn from_files<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<RuleSet, Error> {
        let mut rules = Vec::new();
        for (file, text) in files {
            for doc in yaml::load(file, text)? {
                rules.push(Rule::from_node(file, &doc)?);
            }
        }
        let mut by_ref: HashMap<&str, usize> = HashMap::new();
        for (i, rule) in rules.iter().enumerate() {
            for (key, value) in [("id", &rule.id), ("name", &rule.name)] {
                let Some(value) = value else { continue };
                if let Some(&first) = by_ref.get(value.as_str()) {
                    return Err(Error::Duplicate {
                        location: rule.location.clone(),
                        rule: rule.title.clone(),
                        key,
                        value: value.clone(),
                        first: Box::new(rules[first].location.clone()),
                    });
                }
                by_ref.insert(value, i);
            }
        }
        let mut correlations = Vec::new();
        // A detection rule alerts on its own unless correlations refer to it and none of them
        // says `generate: true`.
        let mut referenced = vec![false; rules.len()];
        let mut generated = vec![false; rules.len()];
        for (i, rule) in rules.iter().enumerate() {
            let Body::Correlation(spec) = &rule.body else {
                continue;
            };
            let mut members = Vec::new();
            for (reference, line) in &spec.rules {
                let location = Location::new(&rule.location.file, *line);
                let Some(&target) = by_ref.get(reference.as_str()) else {
                    return Err(Error::UnknownReference {
                        location,
                        rule: rule.title.clone(),
                        reference: reference.clone(),
                    });
                };
                if !matches!(rules[target].body, Body::Detection { .. }) {
                    return Err(Error::Unsupported {
                        location,
                        rule: rule.title.clone(),
                        feature: format!(
                            "a correlation of correlations ('{reference}' is a correlation rule)"
                        ),
                    });
                }
                referenced[target] = true;
                generated[target] |= spec.generate;
                members.push(target);
            }
            correlations.push(Correlation {
                rule: i,
                key: rule.key().to_string(),
                kind: spec.kind,
                members,
                group_by: spec.group_by.clone(),
                timespan_ms: spec.timespan_ms,
                min_count: spec.min_count,
                field: spec.field.as_ref().map(|(_, path)| path.clone()),
            });
        }
        let generates = rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                matches!(r.body, Body::Detection { .. }) && (!referenced[i] || generated[i])
            })
            .collect();
        Ok(RuleSet {
            rules,
            correlations,
            generates,
            geoip: None,
        })
    }

    /// These rules with GeoIP: each alert gets the country, place and network `geoip` gives
    /// for its events' client IP addresses, and two detectors that Sigma cannot express run
    /// beside the rules on successful logins (`user_login_succeeded` by a user): a login from
    /// a country the user has not logged in from within [`Options::new_country_window`], and
    /// a login too far from the user's previous one for the time between
    /// ([`Options::travel_speed_kmh`], with both places' accuracy radii taken off the
    /// distance). A user's first login within the period only starts what is known of them.
    pub fn with_geoip(mut self, geoip: GeoIp) -> RuleSet {
        self.geoip = Some(geoip);
        self
    }

    /// The GeoIP databases, when [`with_geoip`](Self::with_geoip) gave some.
    pub fn geoip(&self) -> Option<&GeoIp> {
        self.geoip.as_ref()
    }

    /// The GeoIP detectors that run beside the rules: both with GeoIP, none without.
    pub fn geo_detectors(&self) -> &'static [GeoDetector] {
        if self.geoip.is_some() {
            &geoip::DETECTORS
        } else {
            &[]
        }
    }

    /// Loads the rule files of `paths` (each a `.yml`/`.yaml` file, or a folder read
    /// recursively in name order, skipping names that start with `.`), after the shipped pack
    /// when `shipped` is true (so a correlation may count a shipped rule). Each file is named in
    /// errors by its path as found. A folder without rule files is an error, so that a mistyped
    /// path does not load nothing in silence.
    pub fn load(shipped: bool, paths: &[PathBuf]) -> Result<RuleSet, Error> {
        let mut files = Vec::new();
        for path in paths {
            let before = files.len();
            read_rule_files(path, &mut files)?;
            if files.len() == before {
                return Err(Error::Unreadable {
                    path: path.display().to_string(),
                    message: "holds no rule files (.yml or .yaml)".to_string(),
                });
            }
        }
        let shipped = if shipped { pack::FILES } else { &[] };
        RuleSet::from_files(
            shipped.iter().copied().chain(
                files
                    .iter()
                    .map(|(name, text)| (name.as_str(), text.as_str())),
            ),
        )
    }

    /// Every rule, detection and correlation, in the order loaded.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rule with this id or name.
    pub fn get(&self, id_or_name: &str) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.id() == Some(id_or_name) || r.name() == Some(id_or_name))
    }

    /// Whether a match of this detection rule (one of this set's) raises an alert of its own:
    /// `false` for a rule used only as the input of correlations that do not `generate` it, and
    /// for correlation rules.
    pub fn generates(&self, rule: &Rule) -> bool {
        self.rules
            .iter()
            .position(|r| std::ptr::eq(r, rule))
            .is_some_and(|i| self.generates[i])
    }

    /// The period repeats of `alert` are folded in: its rule's `dedup` if it has one, else
    /// `default` (the run's).
    pub fn dedup_period(&self, alert: &Alert, default: Duration) -> Duration {
        self.rules
            .iter()
            .find(|rule| rule.key() == alert.rule)
            .and_then(Rule::dedup)
            .unwrap_or(default)
    }

    /// The detection rules that match `event` (no correlation, no state).
    pub fn matching<'a>(&'a self, event: &'a Json) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(|r| r.matches(event))
    }
}

/// How a [`Detector`] bounds its state, and the GeoIP detectors' thresholds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// How far behind the newest `created_at` seen an event may arrive and still be placed in
    /// its correlation window (default one hour). The windows keep the events of the last
    /// `timespan + max_lateness`.
    pub max_lateness: Duration,
    /// The most events one group of one correlation keeps (default 10,000); past it the oldest
    /// are dropped.
    pub max_events_per_group: usize,
    /// With GeoIP: a login from a country the user has not logged in from within this period
    /// alerts (default 30 days; zero turns that detector off).
    pub new_country_window: Duration,
    /// With GeoIP: consecutive logins of a user farther apart than this speed could travel
    /// in the time between them alert (default 1,000 km/h, faster than an airliner's
    /// cruise; zero turns that detector off).
    pub travel_speed_kmh: u32,
    /// With GeoIP: the most users whose logins are remembered (default 100,000); past it the
    /// least recently seen are forgotten.
    pub max_geo_users: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_lateness: Duration::from_secs(3600),
            max_events_per_group: 10_000,
            new_country_window: Duration::from_secs(30 * 86_400),
            travel_speed_kmh: 1000,
            max_geo_users: 100_000,
        }
    }
}

/// Evaluates events against a [`RuleSet`], one at a time, and keeps the correlation windows.
#[derive(Clone, Debug)]
pub struct Detector {
    rules: RuleSet,
    state: CorrelationState,
    geo: GeoState,
    options: Options,
}

impl Detector {
    /// A detector with empty correlation windows and default [`Options`].
    pub fn new(rules: RuleSet) -> Self {
        Detector::with_state(rules, CorrelationState::default(), Options::default())
    }

    /// A detector that goes on from `state` (e.g. read back from a checkpoint).
    pub fn with_state(rules: RuleSet, state: CorrelationState, options: Options) -> Self {
        Detector {
            rules,
            state,
            geo: GeoState::default(),
            options,
        }
    }

    /// This detector going on from the GeoIP detectors' memory `geo` (e.g. read back from a
    /// checkpoint).
    pub fn with_geo_state(mut self, geo: GeoState) -> Self {
        self.geo = geo;
        self
    }

    /// The rules.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The correlation windows, to serialize into a checkpoint.
    pub fn state(&self) -> &CorrelationState {
        &self.state
    }

    /// The GeoIP detectors' memory of logins, to serialize into a checkpoint (empty without
    /// GeoIP).
    pub fn geo_state(&self) -> &GeoState {
        &self.geo
    }

    /// Evaluates an event of the library.
    pub fn evaluate_event(
        &mut self,
        event: &asana_audit_log::AuditLogEvent,
    ) -> Result<Vec<Alert>, Error> {
        let json = event.to_value().map_err(|e| Error::EventTime {
            gid: event.gid().to_string(),
            value: format!("(event not readable as JSON: {e})"),
        })?;
        self.evaluate_with_text(&json, Some(event.json()))
    }

    /// Evaluates one event (its JSON as Asana sends it) and returns the alerts it raises: a
    /// match of each detection rule that generates alerts, then each correlation it completes.
    pub fn evaluate(&mut self, event: &Json) -> Result<Vec<Alert>, Error> {
        self.evaluate_with_text(event, None)
    }

    /// [`evaluate`](Self::evaluate), given the event's JSON text when there is one: a
    /// correlation window keeps that text instead of writing the event out again.
    fn evaluate_with_text(
        &mut self,
        event: &Json,
        text: Option<&str>,
    ) -> Result<Vec<Alert>, Error> {
        let gid = match event.get("gid") {
            Some(Json::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => "?".to_string(),
        };
        let created = event.get("created_at");
        let created_at = created
            .and_then(Json::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| Error::EventTime {
                gid: gid.clone(),
                value: created.map_or("(missing)".to_string(), Json::to_string),
            })?;
        let at_ms = created_at.timestamp_millis();
        let matched: Vec<bool> = self.rules.rules.iter().map(|r| r.matches(event)).collect();
        let mut alerts = Vec::new();
        for (i, rule) in self.rules.rules.iter().enumerate() {
            if matched[i] && self.rules.generates[i] {
                alerts.push(Alert::matched(rule, &gid, created_at, event));
            }
        }
        let involved = self
            .rules
            .correlations
            .iter()
            .any(|c| c.members.iter().any(|&m| matched[m]));
        let lateness = millis(self.options.max_lateness);
        if involved && self.state.admit(at_ms, lateness) {
            let text = text.map_or_else(|| Cow::Owned(event.to_string()), Cow::Borrowed);
            let placed = Placed {
                value: event,
                text: &text,
                gid: &gid,
                at_ms,
            };
            for corr in &self.rules.correlations {
                for (position, &member) in corr.members.iter().enumerate() {
                    if !matched[member] {
                        continue;
                    }
                    let fired =
                        self.state
                            .add(corr, position, &placed, self.options.max_events_per_group);
                    if let Some(fired) = fired {
                        alerts.push(Alert::correlated(
                            &self.rules.rules[corr.rule],
                            corr.kind,
                            fired.group,
                            (from_ms(fired.start_ms), from_ms(fired.end_ms)),
                            fired.count,
                            fired.events,
                        ));
                    }
                    if corr.kind != CorrelationType::Temporal {
                        break; // an event counts once, whichever of the rules it matched
                    }
                }
            }
            self.state.sweep(&self.rules.correlations, lateness);
        }
        if let Some(geoip) = &self.rules.geoip {
            let found = self
                .geo
                .login(geoip, &self.options, event, &gid, created_at);
            for (detector, group, finding) in found {
                alerts.push(Alert::geo(
                    detector,
                    group,
                    (&gid, created_at),
                    event,
                    finding,
                ));
            }
            for alert in &mut alerts {
                geoip::enrich(alert, geoip);
            }
        }
        Ok(alerts)
    }
}

/// Appends `(name, text)` of `path` if it is a file, or of every `.yml`/`.yaml` file under it
/// if it is a folder.
fn read_rule_files(path: &Path, out: &mut Vec<(String, String)>) -> Result<(), Error> {
    let unreadable = |e: std::io::Error| Error::Unreadable {
        path: path.display().to_string(),
        message: format!("cannot read: {e}"),
    };
    if !std::fs::metadata(path).map_err(unreadable)?.is_dir() {
        let text = std::fs::read_to_string(path).map_err(unreadable)?;
        out.push((path.display().to_string(), text));
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(unreadable)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(unreadable)?;
    entries.sort();
    for entry in entries {
        let name = entry.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        if entry.is_dir() || name.ends_with(".yml") || name.ends_with(".yaml") {
            read_rule_files(&entry, out)?;
        }
    }
    Ok(())
}

/// `d` in milliseconds, as the state keeps times (a longer one than an i64 holds is forever).
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
