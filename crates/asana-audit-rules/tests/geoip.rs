//! GeoIP: lookups in MaxMind-format databases, the enrichment of alerts, and the new-country
//! and impossible-travel detectors with their bounded, serializable memory.
//!
//! The databases in `tests/data/` were written by `tests/py/make_geoip.py` with mmdb-writer
//! (PyPI), a writer of the format independent of the `maxminddb` crate that reads them here;
//! `lookups_agree_with_maxminds_reader` writes them again and checks every lookup against
//! MaxMind's own Python reader.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use asana_audit_rules::{Detector, GeoFinding, GeoIp, GeoState, Options, RuleSet};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn databases() -> Vec<PathBuf> {
    ["geo-city.mmdb", "geo-asn.mmdb"]
        .iter()
        .map(|name| PathBuf::from(DATA).join(name))
        .collect()
}

fn geoip() -> GeoIp {
    GeoIp::open(&databases()).unwrap()
}

fn geo_detector(options: Options) -> Detector {
    Detector::with_state(
        RuleSet::shipped().with_geoip(geoip()),
        Default::default(),
        options,
    )
}

fn at(hours: f64) -> DateTime<Utc> {
    "2026-03-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        + TimeDelta::milliseconds((hours * 3_600_000.0) as i64)
}

fn login(gid: u64, user: &str, ip: &str, when: DateTime<Utc>) -> Value {
    json!({
        "gid": gid.to_string(),
        "created_at": when.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "event_type": "user_login_succeeded",
        "event_category": "logins",
        "actor": {"actor_type": "user", "gid": user, "email": format!("{user}@example.com")},
        "resource": {"resource_type": "user", "gid": user},
        "context": {"context_type": "web", "client_ip_address": ip},
        "details": {"method": ["password"]},
    })
}

/// The GeoIP detectors' alerts of `events`, as `(gid, detector title)`.
fn geo_alerts(detector: &mut Detector, events: &[Value]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for event in events {
        for alert in detector.evaluate(event).unwrap() {
            if alert.geo.is_some() {
                found.push((alert.gids[0].clone(), alert.title.clone()));
            }
        }
    }
    found
}

const NEW: &str = "Asana Login From a Country New for the User";
const TRAVEL: &str = "Asana Impossible Travel Between Logins";

#[test]
fn a_lookup_takes_each_fact_from_the_first_database_that_has_it() {
    let geo = geoip();
    let ny = geo.lookup("192.0.2.5").unwrap();
    assert_eq!(ny.country.as_deref(), Some("US"));
    assert_eq!(ny.country_name.as_deref(), Some("United States"));
    assert_eq!(ny.city.as_deref(), Some("New York"));
    assert_eq!(ny.accuracy_km, Some(20));
    assert_eq!(ny.asn, Some(64496));
    assert_eq!(ny.as_organization.as_deref(), Some("Example Net 64496"));
    // IPv6: the city database has it, the IPv4-only ASN database cannot.
    let tokyo = geo.lookup("2001:db8:1::7").unwrap();
    assert_eq!(tokyo.country.as_deref(), Some("JP"));
    assert_eq!(tokyo.asn, None);
    // An IPv4 address in the IPv6 city database (mapped) and in the ASN one.
    let paris = geo.lookup(" 198.51.100.200 ").unwrap();
    assert_eq!(
        (paris.city.as_deref(), paris.asn),
        (Some("Paris"), Some(64498))
    );
    // An IPv4 address written as IPv6 is looked up as IPv4, in both databases.
    let mapped = geo.lookup("::ffff:192.0.2.5").unwrap();
    assert_eq!(
        (mapped.country.as_deref(), mapped.asn),
        (Some("US"), Some(64496))
    );
    // Coordinates off the globe are no place; the country stays.
    let off = geo.lookup("198.18.0.9").unwrap();
    assert_eq!(off.country.as_deref(), Some("GB"));
    assert_eq!(
        (off.latitude, off.longitude, off.accuracy_km),
        (None, None, None)
    );
    // No record, and not an address.
    assert_eq!(geo.lookup("10.1.2.3"), None);
    assert_eq!(geo.lookup("not an address"), None);
    let types: Vec<&str> = geo.databases().map(|(_, kind)| kind).collect();
    assert_eq!(types, ["asana-audit-test-City", "asana-audit-test-ASN"]);
}

#[test]
fn a_file_that_is_missing_or_not_a_database_is_refused_by_name() {
    let missing = PathBuf::from(DATA).join("no-such.mmdb");
    let err = GeoIp::open(std::slice::from_ref(&missing))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with(&missing.display().to_string()), "{err}");
    let not_db = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
    let err = GeoIp::open(&[databases()[0].clone(), not_db.clone()])
        .unwrap_err()
        .to_string();
    assert!(err.starts_with(&not_db.display().to_string()), "{err}");
    assert!(err.contains("not a readable MaxMind DB"), "{err}");
}

#[test]
fn alerts_carry_what_the_databases_know_of_their_addresses() {
    let mut detector = geo_detector(Options::default());
    let event = json!({
        "gid": "1208000000000001",
        "created_at": "2026-03-01T10:00:00.000Z",
        "event_type": "team_privacy_settings_changed",
        "actor": {"actor_type": "user", "gid": "1201", "email": "zoe@northwind.example"},
        "resource": {"resource_type": "team", "gid": "1203", "name": "Engineering"},
        "context": {"context_type": "web", "client_ip_address": "198.51.100.9"},
        "details": {"old_value": "private", "new_value": "public"},
    });
    let alerts = detector.evaluate(&event).unwrap();
    assert_eq!(alerts.len(), 1);
    let json = serde_json::to_value(&alerts[0]).unwrap();
    assert_eq!(
        json["geoip"]["198.51.100.9"],
        json!({
            "country": "DE", "country_name": "Germany", "city": "Berlin",
            "latitude": 52.52, "longitude": 13.405, "accuracy_km": 20,
            "asn": 64497, "as_organization": "Example Net 64497",
        })
    );
    // Without GeoIP, an alert has no such field, and no GeoIP detector runs.
    let mut plain = Detector::new(RuleSet::shipped());
    let alerts = plain.evaluate(&event).unwrap();
    let json = serde_json::to_value(&alerts[0]).unwrap();
    assert!(json.get("geoip").is_none() && json.get("geo").is_none());
    let logins = [
        login(1, "u1", "192.0.2.5", at(0.0)),
        login(2, "u1", "2001:db8:1::1", at(0.1)),
    ];
    assert_eq!(geo_alerts(&mut plain, &logins), []);
    assert!(plain.geo_state().is_empty());
}

#[test]
fn a_login_from_a_country_not_seen_for_the_user_within_the_period_alerts() {
    let mut detector = geo_detector(Options::default());
    let events = [
        // u1's first login is what is known of them: no alert.
        login(1, "u1", "192.0.2.5", at(0.0)),
        // Two days later from Germany: new for u1 (the travel is slow enough).
        login(2, "u1", "198.51.100.5", at(48.0)),
        // Back in the US a day later: seen within 30 days.
        login(3, "u1", "192.0.2.6", at(72.0)),
        // Another user's first login from Germany: nothing known of u2 yet.
        login(4, "u2", "198.51.100.6", at(72.0)),
        // 40 days on, u1 from France: nothing within the period is left to compare with.
        login(5, "u1", "198.51.100.200", at(72.0 + 40.0 * 24.0)),
        // A failed login is not a login.
        json!({
            "gid": "6", "created_at": at(72.0 + 41.0 * 24.0).to_rfc3339(),
            "event_type": "user_login_failed",
            "actor": {"actor_type": "user", "gid": "u1"},
            "context": {"client_ip_address": "2001:db8:1::1"},
        }),
        // A login from an address with no record says nothing.
        login(7, "u1", "10.0.0.1", at(72.0 + 42.0 * 24.0)),
        // Tokyo, 43 days on: new for u1, who was last seen in France.
        login(8, "u1", "2001:db8:1::1", at(72.0 + 43.0 * 24.0)),
    ];
    assert_eq!(
        geo_alerts(&mut detector, &events),
        [("2".to_string(), NEW.to_string()), ("8".into(), NEW.into())]
    );
    let mut again = geo_detector(Options::default());
    let alerts: Vec<_> = events[..2]
        .iter()
        .flat_map(|e| again.evaluate(e).unwrap())
        .collect();
    let json = serde_json::to_value(&alerts[0]).unwrap();
    assert_eq!(json["rule"], "8b0f6a52-3c4e-4d1b-9f7e-2a6c5d9e1b30");
    assert_eq!(json["level"], "medium");
    assert_eq!(
        json["group"],
        json!({"actor.gid": "u1", "geoip.country": "DE"})
    );
    assert_eq!(
        json["geo"],
        json!({"kind": "new_country", "country": "DE", "seen": ["US"], "days": 30})
    );
    assert_eq!(json["geoip"]["198.51.100.5"]["country"], "DE");
    // Zero turns the detector off.
    let mut off = geo_detector(Options {
        new_country_window: Duration::ZERO,
        ..Options::default()
    });
    assert_eq!(geo_alerts(&mut off, &events), []);
}

#[test]
fn consecutive_logins_too_far_apart_for_the_time_between_alert_as_impossible_travel() {
    let mut detector = geo_detector(Options {
        // Only the travel detector here.
        new_country_window: Duration::ZERO,
        ..Options::default()
    });
    let events = [
        login(1, "u1", "198.51.100.5", at(0.0)),
        // Paris half an hour after Berlin: 878 km less 40 km of radii, 1,676 km/h.
        login(2, "u1", "198.51.100.200", at(0.5)),
        // Berlin two hours after Paris: 419 km/h.
        login(3, "u1", "198.51.100.7", at(2.5)),
        // A login older than u1's newest, arriving late, is neither compared nor remembered.
        login(4, "u1", "2001:db8:2::1", at(1.0)),
        // Berlin again, an hour later: compared with login 3, not with the late one.
        login(5, "u1", "198.51.100.8", at(3.5)),
        // Another user: New York and Tokyo at the same instant.
        login(6, "u2", "192.0.2.5", at(4.0)),
        login(7, "u2", "2001:db8:1::2", at(4.0)),
    ];
    assert_eq!(
        geo_alerts(&mut detector, &events),
        [
            ("2".to_string(), TRAVEL.to_string()),
            ("7".into(), TRAVEL.into())
        ]
    );
    let mut again = geo_detector(Options::default());
    let alerts: Vec<_> = events[..2]
        .iter()
        .flat_map(|e| again.evaluate(e).unwrap())
        .filter(|a| a.title == TRAVEL)
        .collect();
    let Some(GeoFinding::ImpossibleTravel {
        from,
        km,
        hours,
        kmh,
        ..
    }) = alerts[0].geo.clone()
    else {
        panic!("{:?}", alerts[0].geo)
    };
    assert_eq!((from.gid.as_str(), from.ip.as_str()), ("1", "198.51.100.5"));
    assert_eq!(from.country.as_deref(), Some("DE"));
    assert!((km - 838.0).abs() < 5.0, "{km}");
    assert_eq!(hours, 0.5);
    assert!((kmh.unwrap() - 1676.0).abs() < 10.0, "{kmh:?}");
    // Both ends are placed on the alert.
    let places: Vec<&str> = alerts[0].geoip.keys().map(String::as_str).collect();
    assert_eq!(places, ["198.51.100.200", "198.51.100.5"]);
    assert_eq!(alerts[0].level.unwrap().as_str(), "high");
    // A faster bound, and zero, let it pass.
    for speed in [2000, 0] {
        let mut lenient = geo_detector(Options {
            new_country_window: Duration::ZERO,
            travel_speed_kmh: speed,
            ..Options::default()
        });
        let found = geo_alerts(&mut lenient, &events);
        let expected: &[(String, String)] = if speed == 0 {
            &[]
        } else {
            &[("7".to_string(), TRAVEL.to_string())]
        };
        assert_eq!(found, expected, "at {speed} km/h");
    }
}

#[test]
fn the_memory_of_logins_is_kept_across_a_restart_and_stays_bounded() {
    let events = [
        login(1, "u1", "192.0.2.5", at(0.0)),
        login(2, "u1", "198.51.100.5", at(48.0)),
        login(3, "u1", "2001:db8:1::1", at(1.0 + 96.0)),
    ];
    let mut whole = geo_detector(Options::default());
    let expected = geo_alerts(&mut whole, &events);
    assert_eq!(expected.len(), 2);
    // Stopped after the first login, its state saved as JSON and read back.
    let mut first = geo_detector(Options::default());
    assert_eq!(geo_alerts(&mut first, &events[..1]), []);
    let saved = serde_json::to_string(first.geo_state()).unwrap();
    let state: GeoState = serde_json::from_str(&saved).unwrap();
    let mut resumed = geo_detector(Options::default()).with_geo_state(state);
    assert_eq!(geo_alerts(&mut resumed, &events[1..]), expected);
    assert_eq!(resumed.geo_state(), whole.geo_state());

    // Past the bound, the least recently seen users are forgotten.
    let mut bounded = geo_detector(Options {
        max_geo_users: 50,
        ..Options::default()
    });
    for user in 0..1000 {
        let event = login(
            10 + user,
            &format!("user{user}"),
            "192.0.2.5",
            at(user as f64 / 60.0),
        );
        bounded.evaluate(&event).unwrap();
        assert!(bounded.geo_state().users() <= 50);
    }
    // The newest stay: user999 is known, so a new country alerts for them.
    let later = login(5000, "user999", "198.51.100.5", at(100.0));
    assert_eq!(
        geo_alerts(&mut bounded, &[later]),
        [("5000".to_string(), NEW.to_string())]
    );
    // Users not seen within the period are forgotten as event time moves on.
    let much_later = login(6000, "other", "192.0.2.5", at(100.0 + 31.0 * 24.0));
    bounded.evaluate(&much_later).unwrap();
    assert_eq!(bounded.geo_state().users(), 1);
}

/// The test databases, written again by the script that made them, give the same answers to
/// MaxMind's own reader (PyPI `maxminddb`) as to this crate, for addresses in and out of
/// their networks.
#[test]
fn lookups_agree_with_maxminds_reader() {
    let python = std::env::var_os("ASANA_AUDIT_PYTHON").expect(
        "ASANA_AUDIT_PYTHON must name a Python with mmdb-writer and maxminddb: run the tests \
         with `cargo xtask test`, which makes that virtualenv",
    );
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/make_geoip.py");
    let made = Command::new(&python)
        .args([script, dir.path().to_str().unwrap()])
        .status()
        .unwrap();
    assert!(made.success());
    let addresses = [
        "192.0.2.5",
        "198.51.100.5",
        "198.51.100.200",
        "24.1.2.3",
        "217.200.1.1",
        "203.0.113.7",
        "2001:db8:1::1",
        "2001:db8:2::1",
        "10.0.0.1",
        "2001:db8:3::1",
        "198.18.0.9",
    ];
    for (name, fixture) in ["geo-city.mmdb", "geo-asn.mmdb"].iter().zip(databases()) {
        let fresh = dir.path().join(name);
        let code = "import json, maxminddb, sys\n\
             r = maxminddb.open_database(sys.argv[1])\n\
             out = {}\n\
             for ip in sys.argv[2:]:\n\
             \x20   try:\n\
             \x20       out[ip] = r.get(ip)\n\
             \x20   except ValueError:\n\
             \x20       out[ip] = None\n\
             print(json.dumps(out))";
        let output = Command::new(&python)
            .arg("-c")
            .arg(code)
            .arg(&fresh)
            .args(addresses)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let theirs: Value = serde_json::from_slice(&output.stdout).unwrap();
        for path in [&fresh, &fixture] {
            let ours = GeoIp::open(std::slice::from_ref(path)).unwrap();
            for ip in addresses {
                let record = &theirs[ip];
                let place = ours.lookup(ip);
                let expected_country = record["country"]["iso_code"].as_str();
                let expected_asn = record["autonomous_system_number"].as_u64();
                assert_eq!(
                    place.as_ref().and_then(|p| p.country.as_deref()),
                    expected_country,
                    "{ip} in {}",
                    path.display()
                );
                assert_eq!(
                    place.as_ref().and_then(|p| p.asn).map(u64::from),
                    expected_asn,
                    "{ip} in {}",
                    path.display()
                );
                // Coordinates off the globe are dropped (198.18.0.0/24's).
                let on_globe = record["location"]["longitude"]
                    .as_f64()
                    .is_some_and(|lon| lon.abs() <= 180.0);
                assert_eq!(
                    place.as_ref().and_then(|p| p.latitude),
                    record["location"]["latitude"].as_f64().filter(|_| on_globe),
                    "{ip} in {}",
                    path.display()
                );
            }
        }
    }
}

/// A login that arrives after a newer one of the same user is remembered but judged by neither
/// detector, so what alerts depends on the logins' times, not on the order they arrive in.
#[test]
fn a_late_login_is_remembered_but_raises_nothing() {
    let mut detector = geo_detector(Options::default());
    let events = [
        login(1, "u1", "192.0.2.5", at(0.0)),
        login(2, "u1", "198.51.100.5", at(48.0)),
        // Tokyo, a day before the Berlin login, arriving after it: no alert of either kind.
        login(3, "u1", "2001:db8:1::1", at(24.0)),
        // Tokyo again later: seen within the period (the late login counts), and 370 km/h
        // from Berlin.
        login(4, "u1", "2001:db8:1::2", at(72.0)),
        // A country with no place (coordinates off the globe): new for u1, and no travel.
        login(5, "u1", "198.18.0.9", at(72.1)),
    ];
    assert_eq!(
        geo_alerts(&mut detector, &events),
        [
            ("2".to_string(), NEW.to_string()),
            ("5".to_string(), NEW.to_string())
        ]
    );
}

/// Below 417 km/h a trip across the world takes longer than two days: a user's last login is
/// kept as long as the travel detector can use it, whatever the new-country period.
#[test]
fn a_slow_travel_speed_keeps_logins_as_long_as_it_needs_them() {
    let mut detector = geo_detector(Options {
        new_country_window: Duration::from_secs(86_400),
        travel_speed_kmh: 100,
        ..Options::default()
    });
    let events = [
        login(1, "u1", "198.51.100.5", at(0.0)),
        // Other users' logins move event time on, and sweeps run.
        login(2, "u2", "192.0.2.5", at(30.0)),
        login(3, "u3", "192.0.2.6", at(60.0)),
        // Tokyo 72 hours after Berlin: 8,900 km at 124 km/h, over 100.
        login(4, "u1", "2001:db8:1::1", at(72.0)),
    ];
    assert_eq!(
        geo_alerts(&mut detector, &events),
        [("4".to_string(), TRAVEL.to_string())]
    );
}

/// Users tied at the bound are forgotten by gid, so which stay does not depend on when the
/// bound is applied; a database without countries or places (ASN only) enriches alerts and
/// runs neither detector.
#[test]
fn ties_at_the_bound_and_a_database_without_places() {
    let mut bounded = geo_detector(Options {
        max_geo_users: 10,
        ..Options::default()
    });
    for user in 0..100 {
        let event = login(user, &format!("user{user:03}"), "192.0.2.5", at(0.0));
        bounded.evaluate(&event).unwrap();
    }
    let kept = serde_json::to_value(bounded.geo_state()).unwrap();
    let users: Vec<&String> = kept["users"].as_object().unwrap().keys().collect();
    assert!(users.len() <= 10, "{users:?}");
    assert_eq!(users.last().unwrap().as_str(), "user099");

    let asn_only = GeoIp::open(&databases()[1..]).unwrap();
    let mut detector = Detector::new(RuleSet::shipped().with_geoip(asn_only));
    let events = [
        login(1, "u1", "192.0.2.5", at(0.0)),
        login(2, "u1", "198.51.100.5", at(0.1)),
    ];
    assert_eq!(geo_alerts(&mut detector, &events), []);
    assert!(detector.geo_state().is_empty());
}

/// An alert saved before GeoIP existed (no `geoip`, no `geo`) reads back.
#[test]
fn an_alert_without_geoip_fields_reads_back() {
    let mut detector = Detector::new(RuleSet::shipped());
    let event = json!({
        "gid": "9", "created_at": "2026-03-01T10:00:00.000Z",
        "event_type": "team_privacy_settings_changed",
        "actor": {"actor_type": "user", "gid": "1201"},
        "details": {"old_value": "private", "new_value": "public"},
    });
    let alert = detector.evaluate(&event).unwrap().remove(0);
    let json = serde_json::to_value(&alert).unwrap();
    assert!(json.get("geoip").is_none() && json.get("geo").is_none());
    let back: asana_audit_rules::Alert = serde_json::from_value(json).unwrap();
    assert_eq!(back, alert);
}

/// Under a dedup period, a user's second new country within it is an alert of its own (its
/// group names the country), as is another user's.
#[test]
fn dedup_folds_only_repeats_of_one_finding() {
    let mut detector = geo_detector(Options {
        travel_speed_kmh: 0,
        ..Options::default()
    });
    let mut dedup = asana_audit_rules::Dedup::default();
    let hour = Duration::from_secs(3600);
    let events = [
        login(1, "u1", "192.0.2.5", at(0.0)),
        login(2, "u1", "198.51.100.5", at(1.0)),
        login(3, "u1", "2001:db8:1::1", at(1.2)),
        login(4, "u2", "192.0.2.5", at(1.3)),
        login(5, "u2", "198.51.100.5", at(1.4)),
    ];
    let mut let_through = Vec::new();
    for event in &events {
        for mut alert in detector.evaluate(event).unwrap() {
            if alert.geo.is_some() && dedup.admit(&mut alert, hour) {
                let_through.push((alert.gids[0].clone(), alert.group.clone()));
            }
        }
    }
    let gids: Vec<&str> = let_through.iter().map(|(gid, _)| gid.as_str()).collect();
    // u1's Germany and Japan, and u2's Germany (another user: another group).
    assert_eq!(gids, ["2", "3", "5"]);
    assert_eq!(let_through[1].1["geoip.country"], "JP");
}
