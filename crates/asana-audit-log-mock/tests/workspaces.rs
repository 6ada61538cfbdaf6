//! Serving several workspaces from one server (`MockServerBuilder::workspaces`).

mod common;

use std::time::Duration;

use asana_audit_log_mock::{MockServer, workspace_gid_at};
use common::*;

fn workspace_url(server: &MockServer, gid: &str, query: &str) -> String {
    format!(
        "{}/workspaces/{gid}/audit_log_events?{query}",
        server.base_url()
    )
}

#[test]
fn workspace_gids_count_up_from_the_first() {
    assert_eq!(workspace_gid_at("1200000000000001", 0), "1200000000000001");
    assert_eq!(workspace_gid_at("1200000000000001", 2), "1200000000000003");
    assert_eq!(workspace_gid_at("acme", 3), "acme-3");
    assert_eq!(workspace_gid_at("007", 1), "007-1");
    assert_eq!(
        workspace_gid_at(&u64::MAX.to_string(), 1),
        format!("{}-1", u64::MAX)
    );
}

#[tokio::test]
async fn each_workspace_has_its_own_dataset_and_offsets() {
    let one = builder().events(30).start().await.unwrap();
    let server = builder().events(30).workspaces(3).start().await.unwrap();
    let gids = server.workspace_gids();
    assert_eq!(gids.len(), 3);
    assert_eq!(gids[0], server.workspace_gid());
    assert_eq!(server.workspace_event_counts(), vec![30, 30, 30]);
    // The first workspace serves what a one-workspace server serves.
    assert_eq!(server.events_json(), one.events_json());

    let http = client();
    let mut firsts = Vec::new();
    let mut offsets = Vec::new();
    for gid in &gids {
        let resp = get_with(
            &http,
            &workspace_url(&server, gid, "limit=100"),
            Some(server.token()),
        )
        .await;
        assert_eq!(resp.status, 200, "{gid}: {}", resp.body);
        assert_eq!(resp.data().len(), 30, "{gid}");
        firsts.push(resp.data()[0].clone());
        let next = resp.offset().expect("an offset");
        assert!(next.len() > 10);
        assert!(
            resp.body["next_page"]["path"]
                .as_str()
                .unwrap()
                .starts_with(&format!("/workspaces/{gid}/")),
            "{}",
            resp.body
        );
        offsets.push(next);
    }
    assert_ne!(firsts[0], firsts[1]);
    assert_ne!(firsts[1], firsts[2]);

    // An offset belongs to its workspace.
    let cross = get_with(
        &http,
        &workspace_url(&server, &gids[2], &format!("offset={}", offsets[1])),
        Some(server.token()),
    )
    .await;
    assert_eq!(cross.status, 400, "{}", cross.body);
    let own = get_with(
        &http,
        &workspace_url(&server, &gids[1], &format!("offset={}", offsets[1])),
        Some(server.token()),
    )
    .await;
    assert_eq!((own.status, own.data().len()), (200, 0));

    // One past the last is unknown.
    let unknown = workspace_gid_at(server.workspace_gid(), 3);
    let resp = get_with(
        &http,
        &workspace_url(&server, &unknown, ""),
        Some(server.token()),
    )
    .await;
    assert_eq!(resp.status, 404);

    let status = mock_status(&http, &server).await;
    assert_eq!(status["events"], 90);
    assert_eq!(status["workspaces"], 3);
    assert_eq!(status["workspace_events"], serde_json::json!([30, 30, 30]));
    assert_eq!(status["requests"], 6);
}

#[tokio::test]
async fn live_events_go_round_the_workspaces_and_can_pause() {
    let server = builder()
        .events(5)
        .workspaces(4)
        .live_rate(400.0)
        .start()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let counts = server.workspace_event_counts();
    let (lo, hi) = (
        counts.iter().min().copied().unwrap(),
        counts.iter().max().copied().unwrap(),
    );
    assert!(lo > 5 && hi - lo <= 1, "{counts:?}");

    let http = client();
    let resp = post_mock(&http, &server, "live?paused=true", None).await;
    assert_eq!(resp.status(), 200);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let paused = server.workspace_event_counts();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.workspace_event_counts(), paused);
    let bad = post_mock(&http, &server, "live", None).await;
    assert_eq!(bad.status(), 400);

    server.set_live_paused(false);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let resumed: usize = server.workspace_event_counts().iter().sum();
    assert!(resumed > paused.iter().sum::<usize>());
}
