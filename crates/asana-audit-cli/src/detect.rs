//! `detect`: the rules (the shipped pack, and the user's) over an export, the alerts they raise
//! written as NDJSON. The same [`Detector`] a live run uses, so the same events give the same
//! alerts, ids included.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};
use std::time::Duration;

use asana_audit_log_pipeline::{AlertTarget, Alerting, write_atomically};
use asana_audit_rules::{Dedup, Detector, GeoIp, Options, RuleSet};

use crate::cli::{AlertArgs, DetectArgs, GeoArgs, RuleArgs};
use crate::error::CliError;
use crate::input;

/// What `detect` did, for its summary line.
#[derive(Debug)]
pub struct Summary {
    /// Events evaluated (within --since/--until).
    pub events: u64,
    /// Alerts written.
    pub alerts: u64,
    /// Lines that were not events.
    pub not_events: u64,
    /// Events too late for their correlation windows (placed in none).
    pub late_events: u64,
}

/// Loads the rules `--rules` and `--no-shipped-rules` ask for, with the `--geoip` databases;
/// a rule that cannot be evaluated as written, or a database that cannot be read, is bad input
/// naming its file (and the rule's line).
pub fn rules(args: &RuleArgs) -> Result<RuleSet, CliError> {
    let rules = RuleSet::load(!args.no_shipped_rules, &args.rules)
        .map_err(|e| CliError::input(format!("rules: {e}")))?;
    if args.geo.geoip.is_empty() {
        static SAID: Once = Once::new();
        SAID.call_once(|| {
            tracing::warn!(
                "no --geoip database: alerts carry no country or network, and the new-country \
                 and impossible-travel detectors are off"
            );
        });
        return Ok(rules);
    }
    Ok(rules.with_geoip(geoip(&args.geo.geoip)?))
}

/// The GeoIP databases at `paths`, read once per process however many sources name them (a
/// City database is tens of MB).
pub fn geoip(paths: &[PathBuf]) -> Result<GeoIp, CliError> {
    static OPENED: Mutex<Vec<(Vec<PathBuf>, GeoIp)>> = Mutex::new(Vec::new());
    let mut opened = OPENED.lock().expect("not poisoned");
    if let Some((_, geoip)) = opened.iter().find(|(p, _)| p == paths) {
        return Ok(geoip.clone());
    }
    let geoip = GeoIp::open(paths).map_err(|e| CliError::input(format!("--geoip: {e}")))?;
    opened.push((paths.to_vec(), geoip.clone()));
    Ok(geoip)
}

/// The detector options `--geoip-new-country-days` and `--geoip-travel-kmh` set.
pub fn options(args: &GeoArgs) -> Options {
    Options {
        new_country_window: Duration::from_secs(u64::from(args.geoip_new_country_days) * 86_400),
        travel_speed_kmh: args.geoip_travel_kmh,
        ..Options::default()
    }
}

/// The alerting of `follow`, from its flags: `None` without an alert target. A webhook URL
/// that is not http(s), or a bad rule, is bad input naming the flag or the rule's file and
/// line.
pub fn alerting(args: &AlertArgs) -> Result<Option<Alerting>, CliError> {
    let mut targets = Vec::new();
    for (flag, urls, make) in [
        (
            "--alert-webhook",
            &args.alert_webhook,
            AlertTarget::webhook as fn(&str) -> _,
        ),
        ("--alert-slack", &args.alert_slack, AlertTarget::slack),
    ] {
        for url in urls {
            targets.push(make(url).map_err(|e| CliError::input(format!("{flag}: {e}")))?);
        }
    }
    for path in &args.alert_file {
        targets.push(if path == std::path::Path::new("-") {
            AlertTarget::Stdout
        } else {
            AlertTarget::File(path.clone())
        });
    }
    if targets.is_empty() {
        for (flag, given) in [
            ("--rules", !args.rules.rules.is_empty()),
            ("--geoip", !args.rules.geo.geoip.is_empty()),
        ] {
            if given {
                return Err(CliError::input(format!(
                    "{flag} needs somewhere to send the alerts: --alert-webhook, --alert-slack \
                     or --alert-file"
                )));
            }
        }
        return Ok(None);
    }
    let mut alerting = Alerting::new(rules(&args.rules)?, targets);
    alerting.dedup = args.alert_dedup;
    alerting.options = options(&args.rules.geo);
    Ok(Some(alerting))
}

/// Runs `detect`: loads the rules before anything is read, evaluates every event in the
/// window, and writes the alerts once all are read (nothing on failure).
pub fn run(args: &DetectArgs) -> Result<Summary, CliError> {
    let mut detector = Detector::with_state(
        rules(&args.rules)?,
        Default::default(),
        options(&args.rules.geo),
    );
    // Repeats are folded as a live run folds them, so both give the same alerts.
    let mut dedup = Dedup::default();
    let mut out = Vec::new();
    let mut summary = Summary {
        events: 0,
        alerts: 0,
        not_events: 0,
        late_events: 0,
    };
    let tally = input::events("detect", &args.inputs, |path, number, event| {
        if !args.window.contains(event.created_at()) {
            return Ok(());
        }
        summary.events += 1;
        let alerts = detector.evaluate_event(event).map_err(|e| {
            CliError::input(format!(
                "{}:{number}: {e}; nothing was written",
                path.display()
            ))
        })?;
        for mut alert in alerts {
            let period = detector.rules().dedup_period(&alert, args.alert_dedup);
            if !dedup.admit(&mut alert, period) {
                continue;
            }
            serde_json::to_writer(&mut out, &alert).expect("an alert serializes");
            out.push(b'\n');
            summary.alerts += 1;
        }
        dedup.sweep(event.created_at().timestamp_millis(), args.alert_dedup);
        Ok(())
    })?;
    summary.not_events = tally.not_events;
    summary.late_events = detector.state().late_events();
    write(&args.output, &out)?;
    Ok(summary)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    if path == Path::new("-") {
        return crate::print(bytes);
    }
    write_atomically(path, bytes)
        .map_err(|e| CliError::local(format!("cannot write {}: {e}", path.display())))
}
