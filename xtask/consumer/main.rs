//! A program outside the workspace that uses the packed crates the way a registry user would:
//! `cargo xtask test` writes it into a project of its own whose `asana-audit-log`,
//! `asana-audit-log-mock` and `asana-audit-log-api` come from `cargo package`'s output, builds
//! it and runs it.
//!
//! It drains every event of a mock server with the library and checks the count.

use futures::TryStreamExt;

/// How many events the mock server holds (a few pages' worth).
const EVENTS: u64 = 250;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mock = asana_audit_log_mock::MockServer::builder()
        .events(EVENTS)
        .start()
        .await?;
    let client = asana_audit_log::Client::builder()
        .token(mock.token())
        .base_url(mock.base_url())
        .build()?;
    let mut events = client.audit_log_events(mock.workspace_gid()).stream()?;
    let mut count = 0;
    while events.try_next().await?.is_some() {
        count += 1;
    }
    if count != EVENTS {
        return Err(format!("streamed {count} events, the mock server holds {EVENTS}").into());
    }
    println!("consumer: streamed all {count} events of the mock server with the packed crates");
    Ok(())
}
