//! A program outside the workspace that uses the packed crates the way a registry user would:
//! `cargo xtask test` writes it into a project of its own whose `asana-audit-log`,
//! `asana-audit-log-mock` and `asana-audit-log-api` come from `cargo package`'s output, builds
//! it and runs it.
//!
//! It drains every event of a mock server with the library and checks the count, then
//! evaluates the events with the rule pack the packed rules crate embeds.

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
    let rules = asana_audit_rules::RuleSet::shipped();
    let loaded = rules.rules().len();
    let mut detector = asana_audit_rules::Detector::new(rules);
    let mut count = 0;
    let mut alerts = 0;
    while let Some(event) = events.try_next().await? {
        count += 1;
        alerts += detector.evaluate_event(&event)?.len();
    }
    if count != EVENTS {
        return Err(format!("streamed {count} events, the mock server holds {EVENTS}").into());
    }
    // Every catalogue type appears in a dataset this large, service_account_created among them.
    if alerts == 0 {
        return Err(format!("the {loaded} shipped rules raised no alert on {count} events").into());
    }
    println!(
        "consumer: streamed all {count} events of the mock server with the packed crates; \
         the {loaded} shipped rules raised {alerts} alerts"
    );
    Ok(())
}
