//! Drains every event available now and prints it as NDJSON, then the cursor to resume from.
//!
//! With `ASANA_ACCESS_TOKEN` and `ASANA_WORKSPACE_GID` set it reads the real API (optionally
//! `ASANA_BASE_URL`); otherwise it starts the project's mock server, so it runs anywhere:
//!
//! ```text
//! cargo run -p asana-audit-log --example drain > events.ndjson
//! ```

use std::time::Duration;

use asana_audit_log::Client;
use asana_audit_log_mock::MockServer;
use futures::TryStreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Keep the mock (if any) alive for the whole run.
    let (_mock, client, workspace) = connect().await?;

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

/// The real API when configured, else a mock server with a week of generated events.
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
        .events(500)
        .span(Duration::from_secs(6 * 24 * 60 * 60))
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
