//! `asana-audit`: export and follow Asana's audit log as NDJSON with crash-safe checkpoints.
//!
//! See `asana-audit --help`. The library behind it is the `asana-audit-log` crate.

mod archive;
mod cli;
mod config;
mod convert;
#[cfg(feature = "demo")]
mod demo;
mod detect;
mod error;
mod export;
mod input;
mod metrics;
mod progress;
mod report;
mod run;
mod signals;

use std::io::Write;
use std::process::ExitCode;

use tracing::level_filters::LevelFilter;

use crate::cli::{Command, LogFormat};
use crate::error::CliError;

fn main() -> ExitCode {
    let cli = cli::parse();
    init_tracing(cli.log_format, cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("asana-audit: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("asana-audit: {}", err.message);
            err.exit_code()
        }
    }
}

async fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Export(args) => {
            let mode = export::Mode::Export {
                concurrency: args.concurrency,
            };
            read(&args.source, mode, None).await
        }
        Command::Follow(args) => {
            let alerting = detect::alerting(&args.alerts)?;
            read(&args.source, export::Mode::follow(&args), alerting).await
        }
        Command::Run(args) => run::run(&args).await,
        Command::Convert(args) => {
            let summary = convert::run(&args).await?;
            tracing::info!(
                events = summary.events,
                skipped = summary.skipped,
                seconds = summary.elapsed.as_secs_f64(),
                "convert finished"
            );
            if summary.skipped > 0 {
                eprintln!(
                    "asana-audit: converted {} event(s); skipped {} malformed line(s)",
                    summary.events, summary.skipped
                );
            }
            Ok(())
        }
        Command::Report(args) => {
            let summary = report::run(&args)?;
            eprintln!(
                "asana-audit: wrote {}: {} event(s), {} finding(s){}",
                args.output.display(),
                summary.events,
                summary.findings,
                not_events_note(summary.not_events)
            );
            Ok(())
        }
        Command::Detect(args) => {
            let summary = detect::run(&args)?;
            eprintln!(
                "asana-audit: {} alert(s) from {} event(s){}{}",
                summary.alerts,
                summary.events,
                not_events_note(summary.not_events),
                if summary.late_events > 0 {
                    format!(
                        "; {} event(s) came too late for their correlation windows",
                        summary.late_events
                    )
                } else {
                    String::new()
                }
            );
            Ok(())
        }
        #[cfg(feature = "demo")]
        Command::Demo(args) => demo::run(&args, &mut std::io::stdout().lock()).await,
        Command::EventTypes { json } => print(event_types(json)),
        Command::Schema => {
            let schema = schemars::schema_for!(asana_audit_log::AuditLogEvent);
            let text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
            print(format!("{text}\n"))
        }
    }
}

/// The end of a summary line for `n` lines of the input that were not events.
fn not_events_note(n: u64) -> String {
    if n > 0 {
        format!("; {n} line(s) were not events")
    } else {
        String::new()
    }
}

/// `export` or `follow`: one source read in `mode`.
async fn read(
    args: &cli::SourceArgs,
    mode: export::Mode,
    alerting: Option<asana_audit_log_pipeline::Alerting>,
) -> Result<(), CliError> {
    let _monitor = metrics::start(&args.monitor).await?;
    let token = export::read_token(args.token_file.as_deref())?;
    let client = export::client(args, mode, token, None)?;
    let plan = export::Plan::new(args, &client, mode, alerting, None).await?;
    let progress = progress::Progress::new(args.progress);
    let summary = export::run(args, &client, plan, &progress).await?;
    report(&summary);
    Ok(())
}

fn report(summary: &asana_audit_log_pipeline::Summary) {
    tracing::info!(
        written = summary.written,
        duplicates_dropped = summary.duplicates_dropped,
        resumed = summary.resumed,
        seconds = summary.elapsed.as_secs_f64(),
        "export finished"
    );
}

/// The catalogue as a table or JSON.
fn event_types(json: bool) -> String {
    use asana_audit_log::types::EventType;
    if json {
        let rows: Vec<serde_json::Value> = EventType::ALL
            .iter()
            .map(|t| {
                serde_json::json!({
                    "event_type": t.as_str(),
                    "event_category": t.category().map(|c| c.to_string()),
                    "resource_type": t.resource_type(),
                })
            })
            .collect();
        return format!(
            "{}\n",
            serde_json::to_string_pretty(&rows).expect("JSON serializes")
        );
    }
    let mut out = format!("{:<52} {:<16} {}\n", "EVENT TYPE", "CATEGORY", "RESOURCE");
    for t in EventType::ALL {
        out.push_str(&format!(
            "{:<52} {:<16} {}\n",
            t.as_str(),
            t.category()
                .map_or_else(|| "-".to_string(), |c| c.to_string()),
            t.resource_type().unwrap_or("-")
        ));
    }
    out
}

/// Writes `bytes` to standard output; a closed pipe is not an error.
fn print(bytes: impl AsRef<[u8]>) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(bytes.as_ref())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        // `asana-audit event-types | head` is fine.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::local(format!(
            "cannot write standard output: {e}"
        ))),
    }
}

fn init_tracing(format: LogFormat, verbose: u8) {
    let level = match verbose {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
