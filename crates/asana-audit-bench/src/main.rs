//! `asana-audit-bench`: the Rust contenders of `cargo xtask bench`, one subcommand each.
//!
//! Every contender drains one workspace's audit log from a server (the project's mock, in the
//! benchmark) and prints one JSON line on stdout:
//!
//! ```text
//! {"contender":"stream","events":200000,"page_bytes":null,"event_bytes":122000000,
//!  "requests":null,"seconds":1.23,"retries":0,"http_429":0,"vm_hwm_kb":12345}
//! ```
//!
//! `seconds` covers the drain only (from the first request to the last event), not the process
//! start; `page_bytes` counts response bodies where the contender sees them; `requests` is
//! `null` where the library hides it (the benchmark then takes the count from the server);
//! `vm_hwm_kb` is the process's own peak resident set size at exit, read from
//! `/proc/self/status` (Linux; `null` elsewhere). The token comes from `ASANA_ACCESS_TOKEN`.
//! With `--expect N` a contender that reads another number of events exits with status 1.
//!
//! The contenders:
//!
//! - `bytes`: reqwest fetches each page's bytes and finds the next offset by a substring search
//!   (see [`scan`]): the cheapest client possible, the ceiling for the others;
//! - `hand-written`: reqwest and a `serde_json::Value` per page, following offsets: what one
//!   writes without a library;
//! - `generated`: the generated low-level client (`asana-audit-log-api`), paging by hand;
//! - `stream`: the ergonomic client's `.stream()`, or `.backfill()` with `--backfill K`, every
//!   event decoded into an `AuditLogEvent` (JSON checked and kept, `gid`, `created_at` and
//!   `event_type` typed); with `--read-views` it also reads every typed view of every event
//!   (actor, resource, context, details and the extra top-level fields), which the library
//!   builds on first access. `--requests-per-minute N` sets the client's pace (the benchmark's
//!   rate-limit scenarios); `--spend-per-minute R` runs another program on the same token
//!   meanwhile (a task with its own HTTP client that asks for one-event pages at a fixed R a
//!   minute, whatever the answers, and reports `other_requests` and `other_429`);
//!   `--timeline` adds when each page and each 429 arrived (`answered_ms`, `throttled_ms`,
//!   from the start of the drain).

use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use asana_audit_log::Client;
use asana_audit_log::streams::Backfill;
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use futures::{Stream, TryStreamExt};
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, HeaderMap, HeaderValue};
use serde_json::{Value, json};

mod retries;
mod scan;

/// One audit-log drain per subcommand, timed, reported as one JSON line.
#[derive(Parser, Debug)]
#[command(name = "asana-audit-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    contender: Contender,
}

#[derive(Subcommand, Debug)]
enum Contender {
    /// reqwest, page bytes only; the next offset found by a substring search.
    Bytes(Target),
    /// reqwest and serde_json::Value per page, following offsets.
    HandWritten(Target),
    /// The generated low-level client, paging by hand.
    Generated(Target),
    /// The ergonomic client's stream (or backfill), every event fully decoded.
    Stream(StreamArgs),
}

/// Where to read from, and what to expect.
#[derive(Args, Clone, Debug)]
struct Target {
    /// The API root, e.g. http://127.0.0.1:PORT/api/1.0.
    #[arg(long)]
    base_url: String,
    /// The workspace gid.
    #[arg(long)]
    workspace: String,
    /// Events per request.
    #[arg(long, default_value_t = 100)]
    page_size: u32,
    /// Fail unless exactly this many events are read.
    #[arg(long)]
    expect: Option<u64>,
}

/// The options of the `stream` contender.
#[derive(Args, Debug)]
struct StreamArgs {
    #[command(flatten)]
    target: Target,
    /// Only events at or after this instant (RFC 3339).
    #[arg(long)]
    start_at: Option<DateTime<Utc>>,
    /// Only events before this instant (RFC 3339).
    #[arg(long)]
    end_at: Option<DateTime<Utc>>,
    /// Read the window [now − DAYS, now + 1 s) (replaces --start-at and --end-at).
    #[arg(long, value_name = "DAYS", conflicts_with_all = ["start_at", "end_at"])]
    window_days: Option<i64>,
    /// Use `.backfill()` with this concurrency instead of `.stream()` (needs both bounds).
    #[arg(long)]
    backfill: Option<usize>,
    /// Keep the client's default request rate (1,500 in any minute) and concurrency cap (10); otherwise
    /// the rate limit is off and the cap is the larger of 10 and --backfill.
    #[arg(long)]
    default_limits: bool,
    /// Pace the client at this many requests a minute (its concurrency cap is the larger of 10
    /// and --backfill).
    #[arg(long, value_name = "N", conflicts_with = "default_limits")]
    requests_per_minute: Option<u32>,
    /// Meanwhile, another program spends this many requests a minute of the same token.
    #[arg(long, value_name = "R")]
    spend_per_minute: Option<u32>,
    /// Report when each page and each 429 arrived.
    #[arg(long)]
    timeline: bool,
    /// Read every typed view of every event (the `stream-views` row of the benchmark).
    #[arg(long)]
    read_views: bool,
}

/// What a drain saw.
#[derive(Debug, Default)]
struct Tally {
    events: u64,
    page_bytes: Option<u64>,
    event_bytes: Option<u64>,
    requests: Option<u64>,
    retries: Option<u64>,
    http_429: Option<u64>,
    /// Requests of the other program on the token, and its 429s.
    other: Option<(u64, u64)>,
    timeline: Option<retries::Timeline>,
}

impl Tally {
    /// An empty tally of a drain that sees every response: it counts requests and page bytes.
    fn per_response() -> Tally {
        Tally {
            page_bytes: Some(0),
            requests: Some(0),
            ..Tally::default()
        }
    }

    /// Counts one response with a page of `bytes` bytes.
    fn response(&mut self, bytes: u64) {
        *self.requests.get_or_insert(0) += 1;
        *self.page_bytes.get_or_insert(0) += bytes;
    }
}

/// What the other program on the token has spent.
#[derive(Debug, Default)]
struct Spent {
    requests: AtomicU64,
    throttled: AtomicU64,
}

/// Another program using the same token: one-event pages at a fixed `per_minute`, each in its
/// own task so that latency never slows it, whatever the answers (429s included), until `stop`.
async fn spend(
    target: &Target,
    per_minute: u32,
    spent: Arc<Spent>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    let (token, url, http) = (token()?, events_url(target), reqwest::Client::new());
    let mut tick = tokio::time::interval(Duration::from_secs_f64(60.0 / f64::from(per_minute)));
    let mut requests = tokio::task::JoinSet::new();
    let mut stop = stop;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let request = http.get(&url).bearer_auth(&token).query(&[("limit", 1)]);
                let spent = Arc::clone(&spent);
                requests.spawn(async move {
                    if let Ok(response) = request.send().await {
                        let throttled = response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS;
                        let _ = response.bytes().await;
                        spent.requests.fetch_add(1, Ordering::Relaxed);
                        if throttled {
                            spent.throttled.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
            _ = stop.changed() => break,
        }
        while requests.try_join_next().is_some() {}
    }
    requests.abort_all();
    Ok(())
}

fn token() -> Result<String> {
    std::env::var(asana_audit_log::config::TOKEN_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .with_context(|| {
            format!(
                "set {} to the server's token",
                asana_audit_log::config::TOKEN_ENV
            )
        })
}

fn events_url(target: &Target) -> String {
    format!(
        "{}/workspaces/{}/audit_log_events",
        target.base_url.trim_end_matches('/'),
        target.workspace
    )
}

/// What one page gave: its number of events and the offset of the next page, if any.
type PageRead = (u64, Option<String>);

/// Pages through the endpoint with plain reqwest until an empty page or a missing offset;
/// `read_page` is the contender's way of reading a body.
async fn reqwest_drain(
    target: &Target,
    mut read_page: impl FnMut(&[u8]) -> Result<PageRead>,
) -> Result<(Tally, Instant)> {
    let (token, url, http) = (token()?, events_url(target), reqwest::Client::new());
    let mut tally = Tally::per_response();
    let mut offset: Option<String> = None;
    // Timed from here: client set-up (TLS roots, connection pool) is not part of the drain.
    let started = Instant::now();
    loop {
        let mut request = http
            .get(&url)
            .bearer_auth(&token)
            .query(&[("limit", target.page_size)]);
        if let Some(offset) = &offset {
            request = request.query(&[("offset", offset)]);
        }
        let body = request.send().await?.error_for_status()?.bytes().await?;
        tally.response(body.len() as u64);
        let (events, next) = read_page(&body)?;
        if events == 0 {
            break;
        }
        tally.events += events;
        match next {
            Some(next) => offset = Some(next),
            None => break,
        }
    }
    Ok((tally, started))
}

/// The ceiling: no JSON parsing, only a scan for the event count and the next offset.
async fn bytes_ceiling(target: &Target) -> Result<(Tally, Instant)> {
    reqwest_drain(target, |body| {
        Ok((
            scan::count_events(body),
            scan::next_offset(body).map(str::to_owned),
        ))
    })
    .await
}

/// What a user writes without a library: every page into a `serde_json::Value`.
async fn hand_written(target: &Target) -> Result<(Tally, Instant)> {
    reqwest_drain(target, |body| {
        let page: Value = serde_json::from_slice(body).context("the page is not JSON")?;
        let data = page["data"]
            .as_array()
            .context("the page has no data array")?;
        let next = page["next_page"]["offset"].as_str().map(str::to_owned);
        Ok((data.len() as u64, next))
    })
    .await
}

async fn generated(target: &Target) -> Result<(Tally, Instant)> {
    let mut auth = HeaderValue::try_from(format!("Bearer {}", token()?))?;
    auth.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, auth);
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()?;
    let api = asana_audit_log_api::Client::new_with_client(
        &target.base_url,
        http,
        asana_audit_log_api::ResponseLimits::default(),
    );
    let limit = NonZeroU64::new(u64::from(target.page_size)).context("--page-size 0")?;
    let mut tally = Tally::per_response();
    let mut offset: Option<String> = None;
    // Timed from here: client set-up (TLS roots, connection pool) is not part of the drain.
    let started = Instant::now();
    loop {
        let mut request = api
            .get_audit_log_events()
            .workspace_gid(target.workspace.as_str())
            .limit(limit);
        if let Some(offset) = offset.take() {
            request = request.offset(offset);
        }
        let response = request.send().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let length = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .unwrap_or(0);
        tally.response(length);
        let page = response.into_inner();
        if page.data.is_empty() {
            break;
        }
        tally.events += page.data.len() as u64;
        match page
            .next_page
            .and_then(|next| next.0)
            .and_then(|n| n.offset)
        {
            Some(next) => offset = Some(next),
            None => break,
        }
    }
    Ok((tally, started))
}

async fn drain<S>(events: S, tally: &mut Tally, read_views: bool) -> Result<()>
where
    S: Stream<Item = Result<asana_audit_log::AuditLogEvent, asana_audit_log::Error>>,
{
    let mut events = std::pin::pin!(events);
    let mut event_bytes = 0u64;
    while let Some(event) = events.try_next().await? {
        tally.events += 1;
        event_bytes += event.json().len() as u64;
        if read_views {
            read_every_view(&event);
        }
    }
    tally.event_bytes = Some(event_bytes);
    Ok(())
}

/// Reads each typed view of `event`, so that their cost is measured; `black_box` keeps the
/// compiler from skipping work whose result is unused.
fn read_every_view(event: &asana_audit_log::AuditLogEvent) {
    let actor = event.actor();
    let resource = event.resource();
    let context = event.context();
    let details = event.details();
    std::hint::black_box((
        event.event_category(),
        actor.actor_type.as_ref(),
        actor.email.as_deref(),
        resource.name.as_deref(),
        context.client_ip_address.as_deref(),
        details.fields.len(),
        event.extra().count(),
    ));
}

async fn stream(args: &StreamArgs) -> Result<(Tally, Instant)> {
    let counts = retries::RetryCounter::install(args.timeline)?;
    let target = &args.target;
    let mut builder = Client::builder().token(token()?).base_url(&target.base_url);
    if !args.default_limits {
        builder = match args.requests_per_minute {
            Some(per_minute) => builder.requests_per_minute(per_minute),
            None => builder.no_rate_limit(),
        }
        .max_concurrent_requests(args.backfill.unwrap_or(1).max(10));
    }
    let client = builder.build()?;
    let mut request = client
        .audit_log_events(&target.workspace)
        .page_size(target.page_size);
    if let Some(days) = args.window_days {
        let now = Utc::now();
        request = request
            .start_at(now - chrono::TimeDelta::days(days))
            .end_at(now + chrono::TimeDelta::seconds(1));
    }
    if let Some(start) = args.start_at {
        request = request.start_at(start);
    }
    if let Some(end) = args.end_at {
        request = request.end_at(end);
    }
    let mut tally = Tally::default();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let spent = Arc::new(Spent::default());
    let other = args.spend_per_minute.map(|per_minute| {
        let (target, spent) = (args.target.clone(), Arc::clone(&spent));
        tokio::spawn(async move { spend(&target, per_minute, spent, stopped).await })
    });
    let started = Instant::now();
    match args.backfill {
        Some(concurrency) => {
            drain(
                request.backfill(Backfill::concurrency(concurrency))?,
                &mut tally,
                args.read_views,
            )
            .await?
        }
        None => drain(request.stream()?, &mut tally, args.read_views).await?,
    }
    let _ = stop.send(true);
    if let Some(other) = other {
        other.await??;
        tally.other = Some((
            spent.requests.load(Ordering::Relaxed),
            spent.throttled.load(Ordering::Relaxed),
        ));
    }
    tally.retries = Some(counts.retries());
    tally.http_429 = Some(counts.rate_limited());
    tally.timeline = args.timeline.then(|| counts.timeline());
    Ok((tally, started))
}

/// The peak resident set size of this process in KiB (`VmHWM`), where `/proc` has it.
fn vm_hwm_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn run(contender: &Contender) -> Result<(Tally, f64, &'static str, Option<u64>)> {
    let (name, target) = match contender {
        Contender::Bytes(t) => ("bytes", t),
        Contender::HandWritten(t) => ("hand-written", t),
        Contender::Generated(t) => ("generated", t),
        Contender::Stream(s) => (
            if s.backfill.is_some() {
                "backfill"
            } else {
                "stream"
            },
            &s.target,
        ),
    };
    let (tally, started) = match contender {
        Contender::Stream(args) => stream(args).await?,
        Contender::Bytes(t) => bytes_ceiling(t).await?,
        Contender::HandWritten(t) => hand_written(t).await?,
        Contender::Generated(t) => generated(t).await?,
    };
    Ok((tally, started.elapsed().as_secs_f64(), name, target.expect))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The runtime `#[tokio::main]` gives, as the CLI uses: one worker per core.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("asana-audit-bench: cannot start the runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match runtime.block_on(run(&cli.contender)) {
        Ok((tally, seconds, name, expect)) => {
            let line = json!({
                "contender": name,
                "events": tally.events,
                "page_bytes": tally.page_bytes,
                "event_bytes": tally.event_bytes,
                "requests": tally.requests,
                "seconds": seconds,
                "retries": tally.retries,
                "http_429": tally.http_429,
                "other_requests": tally.other.map(|(requests, _)| requests),
                "other_429": tally.other.map(|(_, throttled)| throttled),
                "answered_ms": tally.timeline.as_ref().map(|t| &t.answered_ms),
                "throttled_ms": tally.timeline.as_ref().map(|t| &t.throttled_ms),
                "vm_hwm_kb": vm_hwm_kb(),
            });
            println!("{line}");
            match expect {
                Some(expected) if expected != tally.events => {
                    eprintln!(
                        "asana-audit-bench: {name} read {} events, expected {expected}",
                        tally.events
                    );
                    std::process::ExitCode::FAILURE
                }
                _ => std::process::ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            eprintln!("asana-audit-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
