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

use asana_audit_log::{Client, Cursor};
use asana_audit_log_mock::MockServer;
use futures::TryStreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mock, client, workspace) = connect().await?;
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

/// The real API when configured, else a mock server that gains 20 events a second.
async fn connect() -> Result<(Option<MockServer>, Client, String), Box<dyn std::error::Error>> {
    if let (Ok(_), Ok(workspace)) = (
        std::env::var("ASANA_ACCESS_TOKEN"),
        std::env::var("ASANA_WORKSPACE_GID"),
    ) {
        let mut builder = Client::builder().token_from_env();
        if let Ok(base) = std::env::var("ASANA_BASE_URL") {
            builder = builder.base_url(base);
        }
        return Ok((None, builder.build()?, workspace));
    }
    let mock = MockServer::builder()
        .events(5)
        .live_rate(20.0)
        .start()
        .await?;
    eprintln!(
        "no ASANA_ACCESS_TOKEN/ASANA_WORKSPACE_GID: using a mock server at {}",
        mock.base_url()
    );
    let client = Client::builder()
        .token(mock.token())
        .base_url(mock.base_url())
        .build()?;
    let workspace = mock.workspace_gid().to_owned();
    Ok((Some(mock), client, workspace))
}
