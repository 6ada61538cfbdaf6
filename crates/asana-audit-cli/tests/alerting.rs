//! Live alerting in `follow`: the rules' alerts delivered to a real local webhook while the
//! receiver is down for a while and the collector is killed (SIGKILL) and started again; each
//! alert arrives, and the alerts are those `detect` finds in the archive the run wrote. Bad
//! alert flags are refused before anything is fetched.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use asana_audit_log_mock::{Answer, WebhookReceiver};
use common::{
    ExportFiles, against, cmd, interrupt, mock, received_ids, teams_made_public, text, wait_until,
};
use serde_json::{Value, json};

/// The ids of the alerts `detect` finds in `output`, with repeats not folded (as the live runs
/// of these tests are told).
fn detected(output: &Path) -> BTreeSet<String> {
    let out = cmd()
        .arg("detect")
        .arg(output)
        .args(["--output", "-", "--alert-dedup", "0s"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|line| {
            let alert: Value = serde_json::from_str(line).unwrap();
            alert["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Events in `output`: lines of a file, or events of the files committed to a folder.
fn events_in(output: &Path) -> usize {
    if !output.is_dir() {
        return common::lines(output).len();
    }
    let Ok(files) = asana_audit_log_pipeline::read::files(&[output.to_path_buf()]) else {
        return 0;
    };
    let mut n = 0;
    for file in files {
        asana_audit_log_pipeline::read::gids(&file, |_| n += 1).unwrap();
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_a_webhook_that_was_down_across_kills_and_match_detect() {
    alerts_across_kills(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_of_an_archive_reach_a_webhook_across_kills_and_match_detect() {
    alerts_across_kills(true).await;
}

/// `follow` into a file, or into a folder (`archive`: files committed every 200 ms), alerting
/// a webhook that is down at first, killed three times.
async fn alerts_across_kills(archive: bool) {
    let server = mock(60, 23).await;
    // Down for its first six requests.
    let receiver = WebhookReceiver::start(&[Answer::Status(503); 6])
        .await
        .unwrap();
    let received = || received_ids(&receiver);
    let files = ExportFiles::new();
    let output = if archive {
        files.dir.path().join("archive")
    } else {
        files.output.clone()
    };
    let follow = || {
        let mut command = against(&server, "follow");
        command
            .args(["--poll-interval", "50ms", "--alert-dedup", "0s"])
            .args(["--alert-webhook", receiver.url()])
            .arg("--output")
            .arg(&output)
            .arg("--checkpoint")
            .arg(&files.checkpoint)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if archive {
            command.args(["--encoding", "ndjson", "--rotate-after", "200ms"]);
        }
        command.spawn().unwrap()
    };
    let events = || events_in(&output);
    let mut written = 60;
    let kills = 3;
    for round in 0..kills {
        let mut child = follow();
        server
            .append_events(teams_made_public(round * 5, 5))
            .unwrap();
        written += 5;
        let what = format!("{written} events written");
        wait_until(&what, Duration::from_secs(20), || events() >= written).await;
        // Killed once some alerts of this round may be in flight, or still queued.
        tokio::time::sleep(Duration::from_millis(150)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let child = follow();
    let expected = detected(&output);
    assert!(
        expected.len() >= 15,
        "the planted teams raise 15 alerts: {expected:?}"
    );
    wait_until("every alert received", Duration::from_secs(30), || {
        received().into_iter().collect::<BTreeSet<_>>() == expected
    })
    .await;
    interrupt(child).await;
    // Each alert arrived; one delivered just before a kill, its receipt not yet written, may
    // arrive again (with the same id): at most one per kill.
    let ids = received();
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for id in &ids {
        *counts.entry(id).or_default() += 1;
    }
    let repeats: u64 = counts.values().map(|n| n - 1).sum();
    assert!(
        repeats <= kills,
        "{repeats} repeats over {kills} kills: {counts:?}"
    );
    assert_eq!(
        counts
            .keys()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>(),
        expected
    );
    // Nothing is left pending in the checkpoint, and its receipts are all forgotten.
    let checkpoint: Value =
        serde_json::from_str(&std::fs::read_to_string(&files.checkpoint).unwrap()).unwrap();
    assert_eq!(checkpoint["alerts"]["pending"], json!([[]]));
    let receipts = files.dir.path().join("events.ckpt.alerts-sent");
    assert_eq!(std::fs::read_to_string(receipts).unwrap(), "");
}

/// The test GeoIP databases: the rules crate's (`tests/py/make_geoip.py` there), copied.
const GEO_CITY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/geo-city.mmdb");
const GEO_ASN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/geo-asn.mmdb");

/// A successful login of user `user` from `ip`.
fn login(user: &str, ip: &str) -> Value {
    json!({
        "event_type": "user_login_succeeded",
        "event_category": "logins",
        "actor": {"actor_type": "user", "gid": user, "email": format!("{user}@northwind.example")},
        "resource": {"resource_type": "user", "gid": user},
        "context": {"context_type": "web", "client_ip_address": ip},
        "details": {},
    })
}

/// With `--geoip`, the memory of logins is kept across kills: a user's login from New York
/// before a kill and from Berlin and Tokyo after it alerts as a new country and impossible
/// travel; each alert carries where its addresses are, and `detect --geoip` over the file the
/// run wrote gives the same alerts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geoip_alerts_keep_their_memory_across_kills_and_match_detect() {
    let server = mock(40, 29).await;
    let files = ExportFiles::new();
    let alerts = files.dir.path().join("alerts.ndjson");
    let follow = || {
        against(&server, "follow")
            .args(["--poll-interval", "50ms", "--alert-dedup", "0s"])
            .args(["--geoip", GEO_CITY, "--geoip", GEO_ASN])
            .arg("--alert-file")
            .arg(&alerts)
            .arg("--output")
            .arg(&files.output)
            .arg("--checkpoint")
            .arg(&files.checkpoint)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let plants = [
        vec![login("7001", "192.0.2.5")],
        vec![login("7001", "198.51.100.5")],
        vec![login("7001", "2001:db8:1::7")],
    ];
    let mut written = 40;
    for plant in plants {
        let mut child = follow();
        written += plant.len();
        server.append_events(plant).unwrap();
        let what = format!("{written} events written");
        // Killed once a checkpoint covers the login: the next run reads it no more, and knows
        // of it only from the memory the checkpoint kept.
        wait_until(&what, Duration::from_secs(20), || {
            std::fs::read_to_string(&files.checkpoint)
                .ok()
                .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                .and_then(|checkpoint| checkpoint["events_written"].as_u64())
                .is_some_and(|n| n >= written as u64)
        })
        .await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    // The last run, seen to be running (a first login of another user raises nothing).
    let child = follow();
    server.append_events([login("7002", "192.0.2.9")]).unwrap();
    wait_until("the last run writes", Duration::from_secs(20), || {
        common::lines(&files.output).len() > written
    })
    .await;
    let detect = cmd()
        .arg("detect")
        .arg(&files.output)
        .args(["--output", "-", "--alert-dedup", "0s"])
        .args(["--geoip", GEO_CITY, "--geoip", GEO_ASN])
        .output()
        .unwrap();
    assert!(detect.status.success(), "{}", text(&detect.stderr));
    let by_id = |text: &str| -> BTreeMap<String, Value> {
        text.lines()
            .map(|line| {
                let alert: Value = serde_json::from_str(line).unwrap();
                (alert["id"].as_str().unwrap().to_owned(), alert)
            })
            .collect()
    };
    let expected = by_id(&text(&detect.stdout));
    wait_until("every alert written", Duration::from_secs(30), || {
        let got = std::fs::read_to_string(&alerts).unwrap_or_default();
        by_id(&got).keys().eq(expected.keys())
    })
    .await;
    interrupt(child).await;
    // The planted user's alerts: Berlin and Tokyo are each a new country, and each, seconds
    // after the login before it, impossible travel.
    let planted: Vec<(String, String)> = expected
        .values()
        .filter(|a| a["group"]["actor.gid"] == "7001")
        .map(|a| {
            (
                a["geo"]["kind"].as_str().unwrap().to_owned(),
                a["events"][0]["context"]["client_ip_address"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        planted,
        [
            ("impossible_travel".to_owned(), "198.51.100.5".to_owned()),
            ("impossible_travel".to_owned(), "2001:db8:1::7".to_owned()),
            ("new_country".to_owned(), "198.51.100.5".to_owned()),
            ("new_country".to_owned(), "2001:db8:1::7".to_owned()),
        ]
    );
    let travel = expected
        .values()
        .find(|a| a["geo"]["kind"] == "impossible_travel" && a["geo"]["from"]["country"] == "DE")
        .unwrap();
    assert_eq!(travel["geo"]["from"]["ip"], "198.51.100.5");
    assert_eq!(travel["geoip"]["2001:db8:1::7"]["country"], "JP");
    assert_eq!(travel["geoip"]["198.51.100.5"]["asn"], 64497);
    // Every alert of the live run, repeats of a kill included, is one detect gives, with the
    // same content.
    for line in std::fs::read_to_string(&alerts).unwrap().lines() {
        let alert: Value = serde_json::from_str(line).unwrap();
        assert_eq!(Some(&alert), expected.get(alert["id"].as_str().unwrap()));
    }
}

#[tokio::test]
async fn bad_alert_flags_are_refused_before_anything_is_fetched() {
    let server = mock(10, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let bad_rule = dir.path().join("bad.yml");
    std::fs::write(
        &bad_rule,
        "title: Typo\nlogsource: {product: asana, service: audit_log}\ndetection:\n    sel:\n        event_type|contians: x\n    condition: sel\n",
    )
    .unwrap();
    let missing = dir.path().join("GeoLite2-City.mmdb");
    let cases: [(&[&str], String); 5] = [
        (
            &["--alert-webhook", "ftp://example.com/hook"],
            "--alert-webhook: invalid destination \"ftp://example.com/hook\"".to_owned(),
        ),
        (
            &["--alert-file", "-", "--rules", bad_rule.to_str().unwrap()],
            format!(
                "{}:5: rule 'Typo': unknown modifier 'contians'",
                bad_rule.display()
            ),
        ),
        (
            &["--rules", bad_rule.to_str().unwrap()],
            "--rules needs somewhere to send the alerts".to_owned(),
        ),
        (
            &["--alert-file", "-", "--geoip", missing.to_str().unwrap()],
            format!("--geoip: {}: not a readable MaxMind DB", missing.display()),
        ),
        (
            &["--geoip", GEO_CITY],
            "--geoip needs somewhere to send the alerts".to_owned(),
        ),
    ];
    for (args, expected) in cases {
        let out = against(&server, "follow")
            .args(args)
            .args(["--output", "-"])
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&expected), "{stderr}");
    }
    assert_eq!(server.request_count(), 0, "nothing was fetched");
}

/// `--metrics-addr` counts per rule what was raised, sent, failed and dropped, and shows each
/// target's queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_alerts_per_rule() {
    let server = mock(5, 3).await;
    // Refuses the first alert for good (404), then takes the others.
    let receiver = WebhookReceiver::start(&[Answer::Status(404)])
        .await
        .unwrap();
    let files = ExportFiles::new();
    let addr = common::free_addr();
    let mut command = against(&server, "follow");
    command
        .args(["--poll-interval", "50ms", "--alert-dedup", "0s"])
        .args(["--alert-webhook", receiver.url(), "--metrics-addr", &addr])
        .args(files.args())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = command.spawn().unwrap();
    server.append_events(teams_made_public(0, 3)).unwrap();
    let team = "52bf9c51-154b-4bab-b991-5e53b5a84eed"; // Asana Team Made Public
    let series = |name: &str| {
        format!(
            "asana_audit_{name}_total{{workspace=\"{}\",rule=\"{team}\"}}",
            server.workspace_gid()
        )
    };
    wait_until("the metrics are served", Duration::from_secs(20), || {
        std::net::TcpStream::connect(&addr).is_ok()
    })
    .await;
    let mut scrape = String::new();
    for _ in 0..400 {
        scrape = common::get(&addr, "/metrics").await.1;
        if common::sample(&scrape, &series("alerts_sent")) >= 2.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    interrupt(child).await;
    assert_eq!(
        common::sample(&scrape, &series("alert_matches")),
        3.0,
        "{scrape}"
    );
    assert_eq!(
        common::sample(&scrape, &series("alerts_sent")),
        2.0,
        "{scrape}"
    );
    assert_eq!(
        common::sample(&scrape, &series("alert_delivery_failures")),
        1.0,
        "{scrape}"
    );
    let queue = format!(
        "asana_audit_alert_queue_depth{{workspace=\"{}\",target=\"webhook http://{}\"}}",
        server.workspace_gid(),
        receiver.addr()
    );
    assert_eq!(common::sample(&scrape, &queue), 0.0, "{scrape}");
}
