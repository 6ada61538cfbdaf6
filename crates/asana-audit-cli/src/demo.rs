//! `demo`: the whole export path against an in-process mock server, no token needed.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use asana_audit_log::Client;
use asana_audit_log_mock::MockServer;
use futures::TryStreamExt;

use crate::cli::DemoArgs;
use crate::error::CliError;
use asana_audit_log_pipeline::Lines;

/// Starts the mock, exports every event through the library, prints a few and a summary.
pub async fn run(args: &DemoArgs, out: &mut impl Write) -> Result<(), CliError> {
    let server = MockServer::builder()
        .events(args.events as u64)
        .seed(args.seed)
        .start()
        .await
        .map_err(|e| CliError::local(format!("cannot start the demo server on loopback: {e}")))?;
    let client = Client::builder()
        .token(server.token().to_string())
        .base_url(server.base_url())
        .build()?;
    let mut file = match &args.output {
        Some(path) => Some(Lines::file(path, None, true)?.0),
        None => None,
    };

    let started = Instant::now();
    let mut stream = client.audit_log_events(server.workspace_gid()).stream()?;
    let mut by_category: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_actor: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0u64;
    let mut first = None;
    let mut last = None;
    while let Some(event) = stream.try_next().await? {
        if total < args.show as u64 {
            writeln!(out, "{}", event.json()).map_err(stdout_error)?;
        }
        if let Some(file) = &mut file {
            file.write_line(event.json())
                .map_err(|e| CliError::local(format!("cannot write the demo output: {e}")))?;
        }
        let category = event
            .event_category()
            .map_or_else(|| "(none)".to_string(), |c| c.to_string());
        *by_category.entry(category).or_default() += 1;
        let actor = event
            .actor()
            .actor_type
            .as_ref()
            .map_or_else(|| "(none)".to_string(), |t| t.to_string());
        *by_actor.entry(actor).or_default() += 1;
        first.get_or_insert(event.created_at());
        last = Some(event.created_at());
        total += 1;
    }
    let elapsed = started.elapsed();
    if let Some(file) = &mut file {
        file.make_durable()
            .map_err(|e| CliError::local(format!("cannot write the demo output: {e}")))?;
    }
    let requests = server.requests().len();

    let mut text = String::new();
    if total > args.show as u64 {
        text.push_str(&format!("... ({} more events)\n", total - args.show as u64));
    }
    text.push_str(&format!(
        "\nExported {total} events in {requests} requests from a mock Asana server (seed {}).\n",
        args.seed
    ));
    if let (Some(first), Some(last)) = (first, last) {
        text.push_str(&format!(
            "Oldest {}, newest {}, in created_at order; the stream ended on the first empty page.\n",
            first.format("%Y-%m-%d %H:%M:%S"),
            last.format("%Y-%m-%d %H:%M:%S")
        ));
    }
    text.push_str("\nEvents by category:\n");
    for (category, count) in &by_category {
        text.push_str(&format!("  {category:<22} {count:>7}\n"));
    }
    text.push_str("\nEvents by actor type:\n");
    for (actor, count) in &by_actor {
        text.push_str(&format!("  {actor:<22} {count:>7}\n"));
    }
    text.push_str(&format!(
        "\nTook {:.2}s ({:.0} events/s).\n",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64().max(1e-9)
    ));
    match &args.output {
        Some(path) => text.push_str(&format!(
            "All events were written to {path}.\n\nSee them as a report (charts and the findings \
             an auditor must see, one HTML page):\n  asana-audit report {path} --output report.html\n",
            path = path.display()
        )),
        None => text.push_str(
            "\nSee these events as a report (charts and the findings an auditor must see, one \
             HTML page):\n  asana-audit demo --output demo.ndjson && asana-audit report \
             demo.ndjson --output report.html\n",
        ),
    }
    text.push_str(
        "\nAgainst Asana: export ASANA_ACCESS_TOKEN=<service account token>, then\n  \
         asana-audit export --workspace <gid> --since 24h --output events.ndjson --checkpoint events.ckpt\n",
    );
    out.write_all(text.as_bytes()).map_err(stdout_error)?;
    Ok(())
}

fn stdout_error(e: std::io::Error) -> CliError {
    CliError::local(format!("cannot write standard output: {e}"))
}
