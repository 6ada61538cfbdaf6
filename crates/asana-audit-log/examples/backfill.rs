//! Backfills a bounded window with concurrent time slices and checks the result against a
//! sequential drain of the same window: same events, same order.
//!
//! With `ASANA_ACCESS_TOKEN` and `ASANA_WORKSPACE_GID` set it reads the last day of the real
//! API (optionally `ASANA_BASE_URL`); otherwise it starts the project's mock server with
//! 20,000 events and a little latency:
//!
//! ```text
//! cargo run -p asana-audit-log --example backfill
//! ```

use std::time::{Duration, Instant};

use asana_audit_log::streams::Backfill;
use asana_audit_log_mock::{Latency, MockServer};
use chrono::{TimeDelta, Utc};
use futures::TryStreamExt;

mod common;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Against the real API the request rate (1,500 a minute per token) bounds both runs; the
    // mock (a busy two days of events, 20 ms a response) allows more, so that the effect of
    // concurrency on latency shows.
    let mock = MockServer::builder()
        .events(20_000)
        .span(Duration::from_secs(2 * 24 * 60 * 60))
        .latency(Latency::Fixed(Duration::from_millis(20)))
        .rate_limit(Some(12_000));
    let common::Target {
        mock: _mock,
        client,
        workspace,
    } = common::connect(mock, Some(10_000)).await?;
    let end = Utc::now();
    let start = end - TimeDelta::days(1);
    let window = || {
        client
            .audit_log_events(&workspace)
            .start_at(start)
            .end_at(end)
    };

    let started = Instant::now();
    let mut backfill = window().backfill(Backfill::concurrency(8))?;
    let mut gids = Vec::new();
    while let Some(event) = backfill.try_next().await? {
        gids.push(event.gid().to_owned());
    }
    let concurrent = started.elapsed();
    eprintln!("backfill: {} events in {concurrent:.2?}", gids.len());

    let started = Instant::now();
    let sequential: Vec<String> = window()
        .stream()?
        .map_ok(|e| e.gid().to_owned())
        .try_collect()
        .await?;
    eprintln!(
        "stream:   {} events in {:.2?}",
        sequential.len(),
        started.elapsed()
    );
    assert_eq!(gids, sequential, "backfill and stream must agree");
    eprintln!(
        "same events, same order; resume a backfill from: {}",
        backfill.cursor().to_json()
    );
    Ok(())
}
