//! Lands the audit log in a folder twice over, each exactly once: as OCSF Parquet (a folder
//! per OCSF class) and as the events received, in gzip NDJSON. Each archive has its own
//! checkpoint beside it, so running this again over the same folder, however the last run
//! ended (even killed), continues where that run stood; at the end it reads both archives
//! back and checks that each holds every event once.
//!
//! It reads a mock of Asana's API that it starts itself (the same events every time), slowed
//! down a little so that there is time to kill it:
//!
//! ```sh
//! cargo run -p asana-audit-log-pipeline --example land_ocsf -- /tmp/asana-archive
//! ```
//!
//! Against Asana, make the client with `Client::from_env()` and use your domain's gid.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use asana_audit_log::Client;
use asana_audit_log_mock::{Latency, MockServer};
use asana_audit_log_pipeline::{
    Destination, Encoding, Format, Output, Pipeline, SinkOptions, read,
};

/// How many events the mock server holds.
const EVENTS: u64 = 3_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: land_ocsf DIR (the folder to land the archives in)")?;
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir)?;
    let mock = MockServer::builder()
        .events(EVENTS)
        .seed(7)
        // The same events on every run: the dataset ends at a fixed time.
        .now("2026-11-30T00:00:00Z".parse()?)
        .latency(Latency::Fixed(Duration::from_millis(15)))
        .start()
        .await?;
    let client = Client::builder()
        .token(mock.token())
        .base_url(mock.base_url())
        .build()?;
    let workspace = mock.workspace_gid();
    let query = client
        .audit_log_events(workspace)
        .page_size(50)
        .to_query()?;

    let archives = [
        ("ocsf", Format::ocsf(Some(workspace)), Encoding::Parquet),
        ("raw", Format::Raw, Encoding::NdjsonGzip),
    ];
    for (name, format, encoding) in archives {
        let destination = Destination::parse(dir.join(name).to_str().ok_or("a UTF-8 path")?)?;
        let mut pipeline = Pipeline::new(Output::Archive(destination));
        pipeline.format = format;
        // Small files, so that a run commits many times along the way.
        pipeline.sink = SinkOptions::new(encoding);
        pipeline.sink.max_file_bytes = 16 << 10;
        pipeline.checkpoint = Some(dir.join(format!("{name}.checkpoint")));
        let stream = |request: asana_audit_log::EventsRequest| request.stream();
        let summary = pipeline
            .plan(query.clone())
            .await?
            .run(&client, stream, std::future::pending(), &())
            .await?;
        println!(
            "{name}: wrote {} event(s){}",
            summary.written,
            if summary.resumed { ", resumed" } else { "" }
        );
    }

    for name in ["ocsf", "raw"] {
        let mut seen: HashMap<String, u32> = HashMap::new();
        for file in read::files(&[dir.join(name)])? {
            read::gids(&file, |gid| *seen.entry(gid.to_owned()).or_default() += 1)?;
        }
        let twice = seen.values().filter(|&&n| n > 1).count();
        if seen.len() as u64 != EVENTS || twice > 0 {
            return Err(format!(
                "{name}: {} distinct event(s) of {EVENTS}, {twice} more than once",
                seen.len()
            )
            .into());
        }
        println!("{name}: every one of the {EVENTS} events once");
    }
    Ok(())
}
