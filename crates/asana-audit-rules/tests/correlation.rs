//! Correlation rules over a stream: counts per group and window, placed by each event's own
//! `created_at` (late and out-of-order events land in the right window), one alert per burst,
//! bounded state that survives serialization.

use std::collections::BTreeMap;

use asana_audit_rules::{Alert, CorrelationState, CorrelationType, Detector, Options, RuleSet};
use serde_json::{Value, json};

const BY_IP: &str = "Asana Failed Logins from One IP Address";
const BY_USER: &str = "Asana Failed Logins for One User";

/// A failed login at `minute` minutes past 2026-03-01T10:00Z (fractions allowed), from `ip`,
/// to the account `user`.
fn failed_login(n: u64, minute: f64, ip: &str, user: &str) -> Value {
    let at = chrono::DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z").unwrap()
        + chrono::Duration::milliseconds((minute * 60_000.0) as i64);
    json!({
        "gid": format!("12080000000{n:05}"),
        "created_at": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "event_type": "user_login_failed",
        "event_category": "logins",
        "actor": {"actor_type": "anonymous"},
        "resource": {"resource_type": "user", "gid": user},
        "context": {"context_type": "web", "client_ip_address": ip},
        "details": {"method": "password", "reason": "invalid_password"},
    })
}

fn run(detector: &mut Detector, events: &[Value]) -> Vec<Alert> {
    events
        .iter()
        .flat_map(|e| detector.evaluate(e).unwrap())
        .collect()
}

fn titles(alerts: &[Alert]) -> Vec<&str> {
    alerts.iter().map(|a| a.title.as_str()).collect()
}

/// Failed logins from one IP, each to a different account (so only the per-IP rule counts them).
fn spray(first: u64, minutes: &[f64]) -> Vec<Value> {
    minutes
        .iter()
        .enumerate()
        .map(|(i, &m)| failed_login(first + i as u64, m, "198.51.100.9", &format!("1201{i:04}")))
        .collect()
}

#[test]
fn twenty_failed_logins_from_one_address_within_an_hour_raise_one_alert() {
    let mut detector = Detector::new(RuleSet::shipped());
    let minutes: Vec<f64> = (0..19).map(|i| f64::from(i) * 3.0).collect(); // 0..=54
    assert!(
        run(&mut detector, &spray(0, &minutes)).is_empty(),
        "19 are not enough"
    );
    let alerts = run(&mut detector, &spray(19, &[58.0]));
    assert_eq!(
        titles(&alerts),
        [BY_IP],
        "the 20th raises it; the base rule raises nothing of its own"
    );
    let alert = &alerts[0];
    assert_eq!(alert.correlation, Some(CorrelationType::EventCount));
    assert_eq!(
        alert.group,
        BTreeMap::from([(
            "context.client_ip_address".to_string(),
            "198.51.100.9".to_string()
        )])
    );
    assert_eq!(alert.window_start.to_rfc3339(), "2026-03-01T10:00:00+00:00");
    assert_eq!(alert.window_end.to_rfc3339(), "2026-03-01T11:00:00+00:00");
    assert_eq!((alert.count, alert.gids.len()), (20, 20));
    let burst = spray(0, &minutes)
        .into_iter()
        .chain(spray(19, &[58.0]))
        .collect::<Vec<_>>();
    assert_eq!(
        alert.events, burst,
        "the window's events, as received, by gid"
    );
    // More in the same window are the same burst.
    assert!(run(&mut detector, &spray(20, &[58.5, 59.0, 59.5])).is_empty());
    // Twenty more in the next hour are a second burst.
    let next: Vec<f64> = (0..20).map(|i| 61.0 + f64::from(i)).collect();
    assert_eq!(titles(&run(&mut detector, &spray(30, &next))), [BY_IP]);
}

#[test]
fn thirty_failures_spread_so_no_hour_holds_twenty_raise_nothing() {
    let mut detector = Detector::new(RuleSet::shipped());
    // 15 in the first half hour, 15 more 90 minutes later: never 20 within 60 minutes.
    let minutes: Vec<f64> = (0..15)
        .map(|i| f64::from(i) * 2.0)
        .chain((0..15).map(|i| 120.0 + f64::from(i) * 2.0))
        .collect();
    assert!(run(&mut detector, &spray(0, &minutes)).is_empty());
    // Exactly 60 minutes apart is outside the window: [start, start + 60m).
    let mut detector = Detector::new(RuleSet::shipped());
    let edge: Vec<f64> = (0..19).map(f64::from).chain([60.0]).collect();
    assert!(run(&mut detector, &spray(0, &edge)).is_empty());
}

#[test]
fn out_of_order_events_count_in_the_window_of_their_own_time() {
    let mut detector = Detector::new(RuleSet::shipped());
    // Later traffic first (40 minutes on), then the burst of 10:00-10:38, newest first.
    assert!(
        run(
            &mut detector,
            &[failed_login(900, 40.0, "192.0.2.1", "1201999")]
        )
        .is_empty()
    );
    let mut burst = spray(0, &(0..20).map(|i| f64::from(i) * 2.0).collect::<Vec<_>>());
    burst.reverse();
    let alerts = run(&mut detector, &burst);
    assert_eq!(titles(&alerts), [BY_IP]);
    assert_eq!(
        alerts[0].window_start.to_rfc3339(),
        "2026-03-01T10:00:00+00:00"
    );
    assert_eq!(alerts[0].count, 20);
    // The same events again (a replay) are not counted twice.
    assert!(run(&mut detector, &burst).is_empty());
}

#[test]
fn one_account_guessed_from_many_addresses_is_the_per_user_rule() {
    let mut detector = Detector::new(RuleSet::shipped());
    let events: Vec<Value> = (0..20)
        .map(|i| {
            failed_login(
                i,
                f64::from(i as u32),
                &format!("203.0.113.{i}"),
                "1201000000000007",
            )
        })
        .collect();
    let alerts = run(&mut detector, &events);
    assert_eq!(titles(&alerts), [BY_USER]);
    assert_eq!(
        alerts[0].group,
        BTreeMap::from([("resource.gid".to_string(), "1201000000000007".to_string())])
    );
}

#[test]
fn events_later_than_max_lateness_are_counted_as_late_and_the_state_stays_bounded() {
    let options = Options {
        max_lateness: std::time::Duration::from_secs(600),
        ..Options::default()
    };
    let mut detector =
        Detector::with_state(RuleSet::shipped(), CorrelationState::default(), options);
    run(&mut detector, &spray(0, &[300.0]));
    assert_eq!(detector.state().late_events(), 0);
    // 2 hours behind the newest event: too late to be placed.
    run(&mut detector, &spray(1, &[180.0]));
    assert_eq!(detector.state().late_events(), 1);
    // A day of one failed login a minute from one address (and to one account): the windows
    // keep about timespan + max_lateness (70 minutes) of them, not the day.
    let mut detector = Detector::with_state(
        RuleSet::shipped(),
        CorrelationState::default(),
        Options {
            max_lateness: std::time::Duration::from_secs(600),
            ..Options::default()
        },
    );
    for minute in 0..1440u32 {
        let event = failed_login(
            u64::from(minute),
            f64::from(minute) * 1.0 + 0.5,
            "192.0.2.50",
            "1201",
        );
        detector.evaluate(&event).unwrap();
    }
    let held = detector.state().held_events();
    assert!(held <= 2 * 72, "held {held} events");
}

#[test]
fn the_state_survives_serialization_and_the_count_goes_on() {
    let mut detector = Detector::new(RuleSet::shipped());
    let minutes: Vec<f64> = (0..20).map(f64::from).collect();
    let events = spray(0, &minutes);
    assert!(run(&mut detector, &events[..12]).is_empty());
    let saved = serde_json::to_string(detector.state()).unwrap();
    let state: CorrelationState = serde_json::from_str(&saved).unwrap();
    assert_eq!(&state, detector.state());
    let mut restarted = Detector::with_state(RuleSet::shipped(), state, Options::default());
    assert_eq!(titles(&run(&mut restarted, &events[12..])), [BY_IP]);
}

fn deletion(n: u64, minute: u32, actor: &str) -> Value {
    json!({
        "gid": format!("1208000000{n:06}"),
        "created_at": format!("2026-03-01T{:02}:{:02}:00.000Z", 10 + minute / 60, minute % 60),
        "event_type": "task_deleted",
        "event_category": "deletion",
        "actor": {"actor_type": "user", "gid": actor},
        "resource": {"resource_type": "task", "gid": format!("1203{n:06}")},
        "context": {"context_type": "api", "client_ip_address": "192.0.2.8"},
        "details": {},
    })
}

#[test]
fn fifty_deletions_by_one_actor_within_an_hour_raise_an_alert_and_forty_nine_do_not() {
    let mut detector = Detector::new(RuleSet::shipped());
    let mut events: Vec<Value> = (0..49)
        .map(|i| deletion(i, i as u32, "1201000000000001"))
        .collect();
    events.push(deletion(49, 50, "1201000000000002"));
    assert!(run(&mut detector, &events).is_empty());
    let alerts = run(&mut detector, &[deletion(50, 55, "1201000000000001")]);
    assert_eq!(titles(&alerts), ["Asana Burst of Deletions by One Actor"]);
    assert_eq!(alerts[0].level.map(|l| l.as_str()), Some("high"));
}

const CUSTOM: &str = r#"
title: Login Succeeded
name: login_ok
logsource: {product: asana, service: audit_log}
detection:
    selection:
        event_type: user_login_succeeded
    condition: selection
---
title: Logins of One User from Three Addresses
correlation:
    type: value_count
    rules: [login_ok]
    group-by: [actor.gid]
    timespan: 10m
    condition: {field: context.client_ip_address, gte: 3}
---
title: Admin Granted
name: admin_granted
logsource: {product: asana, service: audit_log}
detection:
    selection:
        event_type: user_workspace_admin_role_changed
    condition: selection
---
title: Export Started
name: export_started
logsource: {product: asana, service: audit_log}
detection:
    selection:
        event_type|endswith: _export_started
    condition: selection
---
title: Admin Then Export
correlation:
    type: temporal
    rules: [admin_granted, export_started]
    group-by: [actor.gid]
    timespan: 1h
    generate: true
"#;

fn event(n: u64, minute: u32, event_type: &str, actor: &str, ip: &str) -> Value {
    json!({
        "gid": n.to_string(),
        "created_at": format!("2026-03-01T10:{minute:02}:00Z"),
        "event_type": event_type,
        "actor": {"actor_type": "user", "gid": actor},
        "context": {"client_ip_address": ip},
    })
}

#[test]
fn value_count_counts_distinct_values_and_temporal_needs_every_rule() {
    let rules = RuleSet::from_yaml("custom.yml", CUSTOM).unwrap();
    let mut detector = Detector::new(rules);
    let logins = [
        event(1, 0, "user_login_succeeded", "7", "192.0.2.1"),
        event(2, 1, "user_login_succeeded", "7", "192.0.2.1"),
        event(3, 2, "user_login_succeeded", "7", "192.0.2.2"),
        event(4, 3, "user_login_succeeded", "8", "192.0.2.3"),
    ];
    assert!(
        run(&mut detector, &logins).is_empty(),
        "two addresses for actor 7"
    );
    let alerts = run(
        &mut detector,
        &[event(5, 9, "user_login_succeeded", "7", "192.0.2.9")],
    );
    assert_eq!(titles(&alerts), ["Logins of One User from Three Addresses"]);
    assert_eq!((alerts[0].count, alerts[0].gids.len()), (3, 4));

    // temporal with generate: the rules alert on their own, and together.
    let alerts = run(
        &mut detector,
        &[event(6, 20, "workspace_export_started", "9", "192.0.2.1")],
    );
    assert_eq!(titles(&alerts), ["Export Started"]);
    let alerts = run(
        &mut detector,
        &[event(7, 30, "workspace_export_started", "9", "192.0.2.1")],
    );
    assert_eq!(
        titles(&alerts),
        ["Export Started"],
        "two of one rule are not both rules"
    );
    let alerts = run(
        &mut detector,
        &[event(
            8,
            40,
            "user_workspace_admin_role_changed",
            "9",
            "192.0.2.1",
        )],
    );
    assert_eq!(titles(&alerts), ["Admin Granted", "Admin Then Export"]);
    let alerts = run(
        &mut detector,
        &[event(
            9,
            41,
            "user_workspace_admin_role_changed",
            "10",
            "192.0.2.1",
        )],
    );
    assert_eq!(
        titles(&alerts),
        ["Admin Granted"],
        "another actor is another group"
    );
}

#[test]
fn events_of_the_library_are_evaluated_through_their_json() {
    let mut detector = Detector::new(RuleSet::shipped());
    let mut public = failed_login(1, 0.0, "192.0.2.1", "1201");
    public["event_type"] = json!("team_privacy_settings_changed");
    public["details"] = json!({"old_value": "private", "new_value": "public"});
    let event = asana_audit_log::AuditLogEvent::from_json(&public.to_string()).unwrap();
    let alerts = detector.evaluate_event(&event).unwrap();
    assert_eq!(titles(&alerts), ["Asana Team Made Public"]);
    let alert = &alerts[0];
    assert_eq!(alert.correlation, None);
    assert_eq!(alert.gids, [event.gid()]);
    assert_eq!(alert.window_start, event.created_at());
    assert_eq!(alert.events, [public]);
}

#[test]
fn a_correlation_over_events_of_the_library_raises_the_alert_their_values_raise() {
    let events = spray(0, &(0..20).map(|i| f64::from(i) * 2.0).collect::<Vec<_>>());
    let expected = run(&mut Detector::new(RuleSet::shipped()), &events);
    assert_eq!(titles(&expected), [BY_IP]);
    let mut detector = Detector::new(RuleSet::shipped());
    let alerts: Vec<Alert> = events
        .iter()
        .flat_map(|value| {
            // Members in another order than a value's, and spaces: the text as a server may send it.
            let members: Vec<String> = value
                .as_object()
                .unwrap()
                .iter()
                .rev()
                .map(|(key, value)| format!("{key:?} : {value}"))
                .collect();
            let text = format!("{{ {} }}", members.join(" , "));
            let event = asana_audit_log::AuditLogEvent::from_json(&text).unwrap();
            detector.evaluate_event(&event).unwrap()
        })
        .collect();
    assert_eq!(alerts, expected);
}

#[test]
fn an_alert_has_the_same_id_whenever_the_same_events_raise_it_and_serializes_whole() {
    let minutes: Vec<f64> = (0..45).map(f64::from).collect();
    let mut events = spray(0, &minutes);
    let mut public = failed_login(99, 50.0, "192.0.2.1", "1201");
    public["event_type"] = json!("team_privacy_settings_changed");
    public["details"] = json!({"old_value": "private", "new_value": "public"});
    events.push(public);
    let first = run(&mut Detector::new(RuleSet::shipped()), &events);
    assert_eq!(titles(&first), [BY_IP, "Asana Team Made Public"]);
    // Again from nothing, and from a state saved halfway: the same alerts, the same ids.
    assert_eq!(run(&mut Detector::new(RuleSet::shipped()), &events), first);
    let mut detector = Detector::new(RuleSet::shipped());
    run(&mut detector, &events[..10]);
    let saved = serde_json::to_string(detector.state()).unwrap();
    let mut resumed = Detector::with_state(
        RuleSet::shipped(),
        serde_json::from_str(&saved).unwrap(),
        Options::default(),
    );
    assert_eq!(run(&mut resumed, &events[10..]), first);
    // Every alert has an id of its own, a UUID.
    let ids: std::collections::BTreeSet<&str> = first.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids.len(), 2);
    assert!(
        ids.iter()
            .all(|id| id.len() == 36 && id.matches('-').count() == 4)
    );
    // An alert is one JSON object, read back whole.
    let json = serde_json::to_value(&first[0]).unwrap();
    assert_eq!(json["rule"], "458fb148-e798-4401-8b1b-1e4065c749ad");
    assert_eq!(json["level"], "high");
    assert_eq!(json["correlation"], "event_count");
    assert_eq!(
        json["group"],
        json!({"context.client_ip_address": "198.51.100.9"})
    );
    assert_eq!(json["window_start"], "2026-03-01T10:00:00Z");
    assert_eq!(json["events"].as_array().unwrap().len(), 20);
    assert_eq!(serde_json::from_value::<Alert>(json).unwrap(), first[0]);
}

#[test]
fn repeats_within_the_dedup_period_are_folded_into_the_next_alert_let_through() {
    let period = std::time::Duration::from_secs(3600);
    let mut dedup = asana_audit_rules::Dedup::default();
    let mut detector = Detector::new(RuleSet::shipped());
    let mut public = |n: u64, minute: f64| {
        let mut event = failed_login(n, minute, "192.0.2.1", "1201");
        event["event_type"] = json!("team_privacy_settings_changed");
        event["details"] = json!({"old_value": "private", "new_value": "public"});
        let mut alerts = detector.evaluate(&event).unwrap();
        assert_eq!(alerts.len(), 1);
        alerts.remove(0)
    };
    let mut admitted = Vec::new();
    for (n, minute) in [(1, 0.0), (2, 10.0), (3, 59.0), (4, 61.0), (5, 62.0)] {
        let mut alert = public(n, minute);
        if dedup.admit(&mut alert, period) {
            admitted.push((alert.gids[0].clone(), alert.folded));
        }
        // The state serializes between any two alerts.
        dedup = serde_json::from_str(&serde_json::to_string(&dedup).unwrap()).unwrap();
    }
    assert_eq!(
        admitted,
        [
            ("1208000000000001".to_string(), 0),
            ("1208000000000004".to_string(), 2)
        ]
    );
    // Swept once the period (and, with repeats, a second one) has passed.
    assert_eq!(dedup.len(), 1);
    let at = |minute: i64| 1_772_359_200_000 + minute * 60_000; // 2026-03-01T10:00Z
    dedup.sweep(at(150), period);
    assert_eq!(dedup.len(), 1, "a repeat is folded, kept a second period");
    dedup.sweep(at(182), period);
    assert!(dedup.is_empty());
}

#[test]
fn a_rule_may_set_its_own_dedup_period() {
    let rule = |dedup: &str| {
        format!(
            "title: Team Public\nlogsource: {{product: asana, service: audit_log}}\n{dedup}\
             detection:\n    sel:\n        event_type: team_privacy_settings_changed\n    condition: sel\n"
        )
    };
    let hour = std::time::Duration::from_secs(3600);
    let rules = RuleSet::from_yaml("team.yml", &rule("dedup: 10m\n")).unwrap();
    assert_eq!(
        rules.rules()[0].dedup(),
        Some(std::time::Duration::from_secs(600))
    );
    let mut detector = Detector::new(rules.clone());
    let mut dedup = asana_audit_rules::Dedup::default();
    let mut admitted = 0;
    for (n, minute) in [(1, 0.0), (2, 5.0), (3, 15.0)] {
        let mut event = failed_login(n, minute, "192.0.2.1", "1201");
        event["event_type"] = json!("team_privacy_settings_changed");
        for mut alert in detector.evaluate(&event).unwrap() {
            let period = rules.dedup_period(&alert, hour);
            assert_eq!(period, std::time::Duration::from_secs(600));
            admitted += u32::from(dedup.admit(&mut alert, period));
        }
    }
    assert_eq!(
        admitted, 2,
        "the 5-minute repeat is folded, the 15-minute one is not"
    );
    // Without the attribute, the run's period; a bad value is refused with its line.
    let plain = RuleSet::from_yaml("team.yml", &rule("")).unwrap();
    let alert = Detector::new(plain.clone())
        .evaluate(&{
            let mut event = failed_login(4, 0.0, "192.0.2.1", "1201");
            event["event_type"] = json!("team_privacy_settings_changed");
            event
        })
        .unwrap()
        .remove(0);
    assert_eq!(plain.dedup_period(&alert, hour), hour);
    let err = RuleSet::from_yaml("team.yml", &rule("dedup: soon\n"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("team.yml:3: rule 'Team Public': dedup must be"),
        "{err}"
    );
}
