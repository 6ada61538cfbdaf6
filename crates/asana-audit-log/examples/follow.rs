//! Follows the audit log: prints events as they arrive, forever (or, against the mock server,
//! until 30 events have been printed), saving a checkpoint after each one and resuming from it
//! when started again.
//!
//! With `ASANA_ACCESS_TOKEN` and `ASANA_WORKSPACE_GID` set it reads the real API (optionally
//! `ASANA_BASE_URL`); otherwise it starts the project's mock server with events arriving live:
//!
//! ```text
//! cargo run -p asana-audit-log --example follow
//! ```

use std::time::Duration;

use asana_audit_log::Cursor;
use asana_audit_log_mock::MockServer;
use futures::TryStreamExt;

mod common;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A mock that gains 20 events a second when no real API is configured.
    let common::Target {
        mock,
        client,
        workspace,
    } = common::connect(MockServer::builder().events(5).live_rate(20.0), None).await?;
    let checkpoint = std::env::temp_dir().join(format!("asana-audit-follow-{workspace}.json"));

    // Resume from the checkpoint when there is one for this workspace; start from now otherwise.
    let saved = std::fs::read_to_string(&checkpoint)
        .ok()
        .and_then(|json| Cursor::from_json(&json).ok());
    let request = match saved {
        Some(cursor) if mock.is_none() => {
            eprintln!("resuming from {}", checkpoint.display());
            client.resume(cursor)
        }
        _ => client
            .audit_log_events(&workspace)
            .since(Duration::from_secs(60)),
    };
    let poll = if mock.is_some() {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(30)
    };
    let mut events = request.follow(poll)?.with_cursors();

    let limit = if mock.is_some() { 30 } else { u64::MAX };
    let mut printed = 0;
    while let Some((event, cursor)) = events.try_next().await? {
        println!(
            "{} {} {}",
            event.created_at(),
            event.event_type(),
            event.gid()
        );
        std::fs::write(&checkpoint, cursor.to_json())?;
        printed += 1;
        if printed == limit {
            break;
        }
    }
    eprintln!("checkpoint: {}", checkpoint.display());
    Ok(())
}
