//! Rules that cannot be evaluated as written are refused when they load, with the file, the line,
//! the rule and the reason; nothing is silently ignored.

use asana_audit_rules::{Error, RuleSet};
use serde_json::json;

/// A detection rule whose `detection` block is `detection` (indented by four spaces).
fn rule(title: &str, detection: &str) -> String {
    format!(
        "title: {title}\nlogsource:\n    product: asana\n    service: audit_log\ndetection:\n{detection}"
    )
}

fn load_error(text: &str) -> String {
    RuleSet::from_yaml("rules/x.yml", text)
        .unwrap_err()
        .to_string()
}

#[test]
fn malformed_yaml_names_the_file_and_line() {
    let err = RuleSet::from_yaml(
        "rules/bad.yml",
        "title: x\ndetection:\n    sel: [a, b\n    condition: sel\n",
    )
    .unwrap_err();
    assert!(matches!(err, Error::Yaml { .. }), "{err:?}");
    assert!(err.to_string().starts_with("rules/bad.yml:"), "{err}");
}

#[test]
fn an_unknown_modifier_is_named_with_its_rule_and_line() {
    let text = rule(
        "Typo",
        "    sel:\n        event_type: x\n        details.new_value|contians: admin\n    condition: sel\n",
    );
    assert_eq!(
        load_error(&text),
        "rules/x.yml:8: rule 'Typo': unknown modifier 'contians' (known: contains, startswith, \
         endswith, all, re (with i, m, s), cidr, exists, cased, gt, gte, lt, lte)"
    );
}

/// A field whose values are a list is named on the field's line, not its first value's.
#[test]
fn a_field_with_a_list_of_values_is_named_on_its_own_line() {
    let text = rule(
        "Typo",
        "    sel:\n        event_type: x\n        context.user_agent|contians:\n            - curl\n            - wget\n    condition: sel\n",
    );
    let err = load_error(&text);
    assert!(
        err.starts_with("rules/x.yml:8: rule 'Typo': unknown modifier 'contians'"),
        "{err}"
    );
}

#[test]
fn unsupported_features_are_refused_with_the_feature_and_line() {
    for (detection, line, feature) in [
        (
            "    sel:\n        a|base64offset|contains: x\n    condition: sel\n",
            7,
            "the 'base64offset' modifier",
        ),
        (
            "    sel:\n        a|windash: x\n    condition: sel\n",
            7,
            "the 'windash' modifier",
        ),
        // The line of the search identifier whose list is the keyword search.
        (
            "    sel:\n        - admin\n        - root\n    condition: sel\n",
            6,
            "a keyword search",
        ),
        (
            "    sel:\n        a: x\n    condition: sel | count() by b > 5\n",
            8,
            "an aggregation in the condition",
        ),
        // The line of `condition:`.
        (
            "    sel:\n        a: x\n    condition:\n        - sel\n        - sel\n",
            8,
            "a list of conditions",
        ),
        (
            "    sel:\n        a: x\n    timeframe: 5m\n    condition: sel\n",
            8,
            "detection.timeframe",
        ),
    ] {
        let err = load_error(&rule("Refused", detection));
        assert!(
            err.starts_with(&format!("rules/x.yml:{line}: rule 'Refused': {feature}"))
                && err.ends_with("is not supported by this evaluator"),
            "{err}"
        );
    }
    let windows = "title: Windows\nlogsource:\n    product: windows\n    service: security\ndetection:\n    sel:\n        EventID: 4625\n    condition: sel\n";
    assert_eq!(
        load_error(windows),
        "rules/x.yml:2: rule 'Windows': a logsource other than {product: asana, service: \
         audit_log} is not supported by this evaluator"
    );
}

const BASE: &str = "title: Failed\nname: failed\nlogsource: {product: asana, service: audit_log}\ndetection:\n    sel:\n        event_type: user_login_failed\n    condition: sel\n---\n";

#[test]
fn correlation_problems_name_the_line() {
    let missing = format!(
        "{BASE}title: Many\ncorrelation:\n    type: event_count\n    rules:\n        - failed\n        - nonexistent\n    group-by: [actor.gid]\n    timespan: 1h\n    condition: {{gte: 5}}\n"
    );
    let err = load_error(&missing);
    assert!(matches!(
        RuleSet::from_yaml("rules/x.yml", &missing),
        Err(Error::UnknownReference { .. })
    ));
    assert_eq!(
        err,
        "rules/x.yml:14: correlation 'Many': refers to rule 'nonexistent', which is not loaded \
         (load the file that defines it, or fix the id or name)"
    );
    for (correlation, line, message) in [
        (
            "    type: temporal_ordered\n    rules: [failed]\n    timespan: 1h\n",
            11,
            "the temporal_ordered correlation type is not supported",
        ),
        (
            "    type: event_count\n    rules: [failed]\n    timespan: 1h\n    condition: {lt: 5}\n",
            14,
            "the correlation condition 'lt'",
        ),
        (
            "    type: event_count\n    rules: [failed]\n    timespan: 1h\n    aliases: {ip: {failed: a}}\n    condition: {gte: 5}\n",
            14,
            "correlation aliases is not supported",
        ),
        (
            "    type: event_count\n    rules: [failed]\n    timespan: 1 hour\n    condition: {gte: 5}\n",
            13,
            "timespan must be",
        ),
        // No field anywhere: the line of `correlation:`.
        (
            "    type: value_count\n    rules: [failed]\n    timespan: 1h\n    condition: {gte: 5}\n",
            10,
            "needs condition.field",
        ),
    ] {
        let err = load_error(&format!("{BASE}title: Many\ncorrelation:\n{correlation}"));
        assert!(
            err.starts_with(&format!("rules/x.yml:{line}: rule 'Many': ")) && err.contains(message),
            "{err}"
        );
    }
}

#[test]
fn two_rules_with_one_id_are_refused_with_both_places() {
    let text = "title: A\nid: 1f0d8a54-0000-4000-8000-000000000001\nlogsource: {product: asana, service: audit_log}\ndetection: {sel: {a: x}, condition: sel}\n";
    let err = RuleSet::from_files([("a.yml", text), ("b.yml", text)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "b.yml:1: rule 'A': id '1f0d8a54-0000-4000-8000-000000000001' is already used at a.yml:1"
    );
}

#[test]
fn an_event_without_a_time_is_an_error_naming_it() {
    let mut detector = asana_audit_rules::Detector::new(RuleSet::shipped());
    let err = detector
        .evaluate(&json!({"gid": "42", "event_type": "user_login_failed"}))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "event 42: created_at (missing) is not an RFC 3339 time; correlation windows need it"
    );
}

#[test]
fn rule_folders_load_beside_or_instead_of_the_pack_and_bad_paths_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("custom");
    std::fs::create_dir(&nested).unwrap();
    // A correlation of the user's own over a shipped rule (failed logins), in a subfolder.
    std::fs::write(
        nested.join("five_failures.yaml"),
        "title: Five Failed Logins\nid: 1f0d8a54-0000-4000-8000-000000000002\ncorrelation:\n    type: event_count\n    rules: [asana_login_failed]\n    group-by: [resource.gid]\n    timespan: 10m\n    condition: {gte: 5}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a rule").unwrap();
    std::fs::write(dir.path().join(".hidden.yml"), "not: [valid").unwrap();
    let paths = [dir.path().to_path_buf()];
    let with_pack = RuleSet::load(true, &paths).unwrap();
    assert_eq!(
        with_pack.rules().len(),
        RuleSet::shipped().rules().len() + 1
    );
    assert!(
        with_pack
            .get("1f0d8a54-0000-4000-8000-000000000002")
            .is_some()
    );
    // Without the pack, the rule it counts is not loaded: refused, naming the file and line.
    let err = RuleSet::load(false, &paths).unwrap_err().to_string();
    let file = nested.join("five_failures.yaml").display().to_string();
    assert!(err.starts_with(&format!("{file}:5: ")), "{err}");
    assert!(
        err.contains("'asana_login_failed', which is not loaded"),
        "{err}"
    );
    // A folder without rules, and a path that is not there.
    let empty = tempfile::tempdir().unwrap();
    let err = RuleSet::load(true, &[empty.path().to_path_buf()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: holds no rule files (.yml or .yaml)",
            empty.path().display()
        )
    );
    let missing = dir.path().join("missing");
    let err = RuleSet::load(true, std::slice::from_ref(&missing))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("{}: cannot read: ", missing.display())),
        "{err}"
    );
}
