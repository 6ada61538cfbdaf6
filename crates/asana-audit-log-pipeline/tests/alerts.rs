//! Alert delivery against a real HTTP receiver started by the test: a 2xx delivers, a 5xx, a
//! 429 or a timeout is retried until it does, a 4xx is a refusal that is not retried; Slack gets
//! its message format; files and bad webhook URLs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use asana_audit_log_mock::{Answer, WebhookReceiver};
use asana_audit_log_pipeline::{AlertTarget, Deliverer, Delivery, Retry};
use asana_audit_rules::{Alert, Detector, RuleSet};
use serde_json::json;

/// A local webhook receiver that answers as `script` says, then 200.
async fn receiver(script: &[Answer]) -> WebhookReceiver {
    WebhookReceiver::start(script).await.unwrap()
}

/// An alert of the shipped pack: a team made public.
fn alert() -> Alert {
    let event = json!({
        "gid": "1208000000000001",
        "created_at": "2026-03-01T10:00:00.000Z",
        "event_type": "team_privacy_settings_changed",
        "actor": {"actor_type": "user", "gid": "1201", "email": "zoe@northwind.example"},
        "resource": {"resource_type": "team", "gid": "1203", "name": "Engineering"},
        "context": {"context_type": "web", "client_ip_address": "203.0.113.7"},
        "details": {"old_value": "private", "new_value": "public"},
    });
    let mut alerts = Detector::new(RuleSet::shipped()).evaluate(&event).unwrap();
    assert_eq!(alerts.len(), 1);
    alerts.remove(0)
}

fn deliverer() -> Deliverer {
    Deliverer::new(Retry {
        first: Duration::from_millis(20),
        max: Duration::from_millis(80),
        timeout: Duration::from_millis(500),
    })
    .unwrap()
}

/// Delivers `alert` to `target`, and gives what happened with the reasons of the retries.
async fn deliver(target: &AlertTarget, alert: &Alert) -> (Delivery, Vec<String>) {
    let retries = Mutex::new(Vec::new());
    let delivery = deliverer()
        .deliver(target, alert, |reason, _| {
            retries.lock().unwrap().push(reason.to_owned())
        })
        .await;
    (delivery, retries.into_inner().unwrap())
}

#[tokio::test]
async fn a_webhook_gets_the_alert_as_json_after_5xx_429_and_timeouts_are_retried() {
    let script = [
        Answer::Status(503),
        Answer::Status(429),
        Answer::Stall(Duration::from_millis(1500)),
        Answer::Status(500),
    ];
    let receiver = receiver(&script).await;
    let target = AlertTarget::webhook(receiver.url()).unwrap();
    let alert = alert();
    let (delivery, retries) = deliver(&target, &alert).await;
    assert_eq!(delivery, Delivery::Delivered { attempts: 5 });
    assert_eq!(retries.len(), 4, "{retries:?}");
    assert!(retries[0].starts_with("HTTP 503"), "{retries:?}");
    assert!(retries[1].starts_with("HTTP 429"), "{retries:?}");
    assert!(retries[2].starts_with("timed out"), "{retries:?}");
    // Reasons never show the URL's path, which may hold a secret.
    assert!(retries.iter().all(|r| !r.contains("/hooks/")));
    let got = receiver.received();
    assert_eq!(got, [serde_json::to_value(&alert).unwrap()]);
    // Logs name a webhook by its scheme, host and port only.
    assert_eq!(
        target.to_string(),
        format!("webhook http://{}", receiver.addr())
    );
    assert_eq!(
        AlertTarget::webhook("https://siem.example/hooks/secret")
            .unwrap()
            .to_string(),
        "webhook https://siem.example"
    );
}

#[tokio::test]
async fn a_4xx_is_reported_and_not_retried() {
    let receiver = receiver(&[Answer::Status(404)]).await;
    let target = AlertTarget::webhook(receiver.url()).unwrap();
    let (delivery, retries) = deliver(&target, &alert()).await;
    assert_eq!(
        delivery,
        Delivery::Refused {
            status: 404,
            body: "{\"error\":\"scripted\"}".to_owned()
        }
    );
    assert!(retries.is_empty());
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn a_receiver_that_is_down_is_retried_until_it_is_up() {
    // A port with nobody listening, then a receiver on it.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/hook");
    let target = AlertTarget::webhook(&url).unwrap();
    let alert = alert();
    let retries = Arc::new(Mutex::new(0));
    let counted = retries.clone();
    let delivering = tokio::spawn(async move {
        deliverer()
            .deliver(&target, &alert, |reason, _| {
                assert!(reason.starts_with("cannot connect"), "{reason}");
                *counted.lock().unwrap() += 1;
            })
            .await
    });
    while *retries.lock().unwrap() < 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _receiver = WebhookReceiver::start_on(port, &[]).await.unwrap();
    let delivery = delivering.await.unwrap();
    assert!(
        matches!(delivery, Delivery::Delivered { attempts } if attempts >= 4),
        "{delivery:?}"
    );
}

#[tokio::test]
async fn slack_gets_its_message_format() {
    let receiver = receiver(&[]).await;
    let target = AlertTarget::slack(receiver.url()).unwrap();
    let alert = alert();
    let (delivery, _) = deliver(&target, &alert).await;
    assert_eq!(delivery, Delivery::Delivered { attempts: 1 });
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let text = got[0]["text"].as_str().unwrap();
    assert_eq!(
        text,
        format!(
            "*[LOW] Asana Team Made Public*\nteam_privacy_settings_changed by zoe@northwind.example \
             from 203.0.113.7 at 2026-03-01T10:00:00+00:00\nevents: 1208000000000001\nalert {}",
            alert.id
        )
    );
    assert_eq!(
        got[0].as_object().unwrap().len(),
        1,
        "only text: {}",
        got[0]
    );
}

/// A GeoIP detector's alert tells what it found and where each address is.
#[tokio::test]
async fn slack_gets_what_geoip_found() {
    let receiver = receiver(&[]).await;
    let target = AlertTarget::slack(receiver.url()).unwrap();
    let mut alert = alert();
    // As `RuleSet::with_geoip` makes them (the databases are the rules crate's to test).
    alert.geoip = serde_json::from_value(json!({
        "203.0.113.7": {"country": "AU", "city": "Sydney", "asn": 64500,
                        "as_organization": "Example Net"},
        "198.51.100.5": {"country": "DE"},
    }))
    .unwrap();
    alert.geo = serde_json::from_value(json!({
        "kind": "impossible_travel",
        "from": {"gid": "1207", "created_at": "2026-03-01T09:30:00Z", "ip": "198.51.100.5",
                 "country": "DE", "latitude": 52.52, "longitude": 13.405, "accuracy_km": 20},
        "km": 16000.0, "hours": 0.5, "kmh": 32000.0,
    }))
    .unwrap();
    let (delivery, _) = deliver(&target, &alert).await;
    assert_eq!(delivery, Delivery::Delivered { attempts: 1 });
    let text = receiver.received()[0]["text"].as_str().unwrap().to_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[2..5],
        [
            "16000 km in 0.5 h from the previous login (1207, from 198.51.100.5 at \
             2026-03-01T09:30:00+00:00)",
            "198.51.100.5: DE",
            "203.0.113.7: AU, Sydney, AS64500, Example Net",
        ]
    );
}

#[tokio::test]
async fn a_file_gets_one_line_per_alert() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.ndjson");
    let target = AlertTarget::File(path.clone());
    let alert = alert();
    for _ in 0..2 {
        assert_eq!(
            deliver(&target, &alert).await.0,
            Delivery::Delivered { attempts: 1 }
        );
    }
    let lines: Vec<Alert> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, [alert.clone(), alert]);
}

#[test]
fn a_webhook_url_that_is_not_http_is_refused() {
    for url in ["ftp://example.com/hook", "hooks.slack.com/x", "https://"] {
        let err = AlertTarget::webhook(url).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("invalid destination {url:?}")),
            "{err}"
        );
    }
    assert!(AlertTarget::slack("file:///tmp/x").is_err());
    assert!(AlertTarget::slack("https://hooks.slack.com/services/T/B/X").is_ok());
}
