//! Drains every event available now and prints it as NDJSON, then the cursor to resume from.
//!
//! With `ASANA_ACCESS_TOKEN` and `ASANA_WORKSPACE_GID` set it reads the real API (optionally
//! `ASANA_BASE_URL`); otherwise it starts the project's mock server, so it runs anywhere:
//!
//! ```text
//! cargo run -p asana-audit-log --example drain > events.ndjson
//! ```

use std::time::Duration;

use asana_audit_log_mock::MockServer;
use futures::TryStreamExt;

mod common;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A week of generated events when no real API is configured.
    let mock = MockServer::builder()
        .events(500)
        .span(Duration::from_secs(6 * 24 * 60 * 60));
    let common::Target {
        mock: _mock, // keep the mock (if any) alive for the whole run
        client,
        workspace,
    } = common::connect(mock, None).await?;

    let mut events = client
        .audit_log_events(&workspace)
        .since(Duration::from_secs(7 * 24 * 60 * 60))
        .stream()?;
    let mut count = 0u64;
    while let Some(event) = events.try_next().await? {
        println!("{}", event.json());
        count += 1;
    }
    eprintln!(
        "{count} events; resume later from: {}",
        events.cursor().to_json()
    );
    Ok(())
}
