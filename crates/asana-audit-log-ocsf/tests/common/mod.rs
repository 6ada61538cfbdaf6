//! What the integration tests share: the mock's events.

use asana_audit_log_mock::MockServer;

/// The mock's events for `seed`, over a fixed window so that every run (and every snapshot)
/// sees the same bytes.
pub async fn mock_events(count: u64, seed: u64, forward_compat: bool) -> Vec<String> {
    let end = "2025-06-01T00:00:00Z".parse().unwrap();
    let server = MockServer::builder()
        .events(count)
        .seed(seed)
        .span_end(end)
        .now(end)
        .forward_compat(forward_compat)
        .start()
        .await
        .unwrap();
    let events: Vec<String> = server
        .all_events_json()
        .into_iter()
        .map(|(_, json)| json)
        .collect();
    assert_eq!(events.len() as u64, count);
    events
}
