//! `asana-audit-log-mock serve`: runs the mock Audit Log API until killed.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use asana_audit_log_mock::{ClockMode, Fault, FaultPlan, Latency, MockServer};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

/// A stand-in for Asana's Audit Log API on loopback.
#[derive(Parser, Debug)]
#[command(name = "asana-audit-log-mock", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve GET /api/1.0/workspaces/{gid}/audit_log_events until killed.
    Serve(Serve),
}

#[derive(Args, Debug)]
struct Serve {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on (0: any free port; the URL printed says which).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Events in the initial dataset.
    #[arg(long, default_value_t = 1000)]
    events: u64,
    /// Dataset seed: the same seed gives byte-identical events.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Time covered by the initial dataset, ending now (e.g. 30d, 12h).
    #[arg(long, default_value = "30d", value_parser = parse_duration)]
    span: Duration,
    /// Freeze the server clock at this RFC 3339 instant.
    #[arg(long, value_parser = parse_time, conflicts_with = "clock_from")]
    now: Option<DateTime<Utc>>,
    /// Start the server clock at this RFC 3339 instant and let it run.
    #[arg(long, value_parser = parse_time)]
    clock_from: Option<DateTime<Utc>>,
    /// The valid bearer token (default: derived from the seed).
    #[arg(long)]
    token: Option<String>,
    /// More valid tokens (repeatable).
    #[arg(long = "add-token")]
    add_tokens: Vec<String>,
    /// The token that gets 403 (default: derived from the seed).
    #[arg(long)]
    forbidden_token: Option<String>,
    /// The workspace gid served.
    #[arg(long, default_value = asana_audit_log_mock::DEFAULT_WORKSPACE_GID)]
    workspace_gid: String,
    /// Serve this many workspaces: the first is --workspace-gid, the others count up from it
    /// (gid + 1, gid + 2, …); each has its own dataset of --events events and --live-rate
    /// spreads its events over them in turn. /_mock/status then lists each one's count.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    workspaces: u32,
    /// Page size when a request has no limit (1..=100).
    #[arg(long, default_value_t = 100)]
    page_default: usize,
    /// Requests per minute per token; 0 turns the limit off (do that for benchmarks).
    #[arg(long, default_value_t = 1500)]
    rate_limit: u32,
    /// Requests a token may send at once after an idle period (the size of its bucket, which
    /// refills at --rate-limit a minute); default: a minute's worth, the --rate-limit itself.
    #[arg(long, value_name = "N")]
    rate_burst: Option<u32>,
    /// Requests in flight per token; 0 turns the cap off.
    #[arg(long, default_value_t = 50)]
    concurrency: u32,
    /// Offset token lifetime (e.g. 1h, 30m); 0 means tokens never expire.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    offset_lifetime: Duration,
    /// Fixed key for signing offsets (hex, up to 32 digits; default random per run).
    #[arg(long, value_parser = parse_secret)]
    offset_secret: Option<u128>,
    /// Scripted fault, N:KIND, e.g. 3:503, 5:truncate, 7:reset-mid-body, 9:429:30,
    /// 4:delay:2s (repeatable; requests are numbered from 1).
    #[arg(long = "fault", value_parser = parse_scripted)]
    faults: Vec<(u64, Fault)>,
    /// Random fault, KIND=P, e.g. 500=0.01, reset=0.005 (repeatable).
    #[arg(long = "chance", value_parser = parse_chance)]
    chances: Vec<(Fault, f64)>,
    /// Seed for random faults, latency and 5xx phrases.
    #[arg(long, default_value_t = 0)]
    fault_seed: u64,
    /// Latency added to every response: 20ms (fixed) or 5ms..50ms (uniform).
    #[arg(long)]
    latency: Option<Latency>,
    /// Add forward-compatibility cases (unknown types, enum values, fields, nulls, …).
    #[arg(long)]
    forward_compat: bool,
    /// Append generated events continuously at this many per second.
    #[arg(long)]
    live_rate: Option<f64>,
    /// Make this fraction (0..=1) of the generated events appended while serving late: their
    /// created_at lies up to --late-max-age in the past, before offsets clients already hold,
    /// so a client that only follows offsets misses them.
    #[arg(long, value_name = "FRACTION", requires = "late_max_age", value_parser = parse_fraction)]
    late_fraction: Option<f64>,
    /// How far in the past a late event's created_at may lie (e.g. 20m).
    #[arg(long, value_name = "DURATION", requires = "late_fraction", value_parser = parse_duration)]
    late_max_age: Option<Duration>,
    /// Print one JSON line with base_url, token, workspace_gid, … instead of the text lines.
    #[arg(long)]
    print_json: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    // Reuse the fault grammar ("delay:DURATION") so the two stay in step.
    match format!("delay:{s}").parse::<Fault>()? {
        Fault::Delay(d) => Ok(d),
        _ => Err(format!("not a duration: {s:?}")),
    }
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|f| (0.0..=1.0).contains(f))
        .ok_or_else(|| format!("not a fraction between 0 and 1: {s:?}"))
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.to_utc())
        .map_err(|e| format!("not an RFC 3339 date-time ({e}): {s:?}"))
}

fn parse_secret(s: &str) -> Result<u128, String> {
    u128::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|e| format!("not hex: {e}"))
}

fn parse_scripted(s: &str) -> Result<(u64, Fault), String> {
    let (n, kind) = s
        .split_once(':')
        .ok_or_else(|| format!("expected N:KIND, got {s:?}"))?;
    let n: u64 = n
        .parse()
        .map_err(|_| format!("bad request number in {s:?}"))?;
    if n == 0 {
        return Err("requests are numbered from 1".into());
    }
    Ok((n, kind.parse()?))
}

fn parse_chance(s: &str) -> Result<(Fault, f64), String> {
    let (kind, p) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("expected KIND=P, got {s:?}"))?;
    let p: f64 = p.parse().map_err(|_| format!("bad probability in {s:?}"))?;
    if !(0.0..=1.0).contains(&p) {
        return Err(format!("probability out of 0..=1 in {s:?}"));
    }
    Ok((kind.parse()?, p))
}

async fn serve(args: Serve) -> std::io::Result<()> {
    let mut plan = FaultPlan::new().seed(args.fault_seed);
    for (n, fault) in args.faults {
        plan = plan.on_request(n, fault);
    }
    for (fault, p) in args.chances {
        plan = plan.with_probability(fault, p);
    }
    if let Some(latency) = args.latency {
        plan = plan.latency(latency);
    }
    let clock = match (args.now, args.clock_from) {
        (Some(t), _) => ClockMode::Frozen(t),
        (None, Some(t)) => ClockMode::RunningFrom(t),
        (None, None) => ClockMode::System,
    };
    let mut builder = MockServer::builder()
        .bind(SocketAddr::new(args.host, args.port))
        .events(args.events)
        .seed(args.seed)
        .span(args.span)
        .clock(clock)
        .workspace_gid(args.workspace_gid)
        .workspaces(args.workspaces as usize)
        .default_page_size(args.page_default)
        .rate_limit(Some(args.rate_limit).filter(|&n| n > 0))
        .rate_burst(args.rate_burst)
        .concurrency_limit(Some(args.concurrency).filter(|&n| n > 0))
        .offset_lifetime(Some(args.offset_lifetime).filter(|d| !d.is_zero()))
        .faults(plan)
        .forward_compat(args.forward_compat);
    if let Some(token) = args.token {
        builder = builder.token(token);
    }
    for token in args.add_tokens {
        builder = builder.add_token(token);
    }
    if let Some(token) = args.forbidden_token {
        builder = builder.forbidden_token(token);
    }
    if let Some(secret) = args.offset_secret {
        builder = builder.offset_secret(secret);
    }
    if let (Some(fraction), Some(max_age)) = (args.late_fraction, args.late_max_age) {
        builder = builder.late_events(fraction, max_age);
    }
    if let Some(rate) = args.live_rate {
        builder = builder.live_rate(rate);
    }
    let server = builder.start().await?;
    if args.print_json {
        let mut line = serde_json::json!({
            "base_url": server.base_url(),
            "token": server.token(),
            "workspace_gid": server.workspace_gid(),
            "forbidden_token": server.forbidden_token(),
            "events": server.event_count(),
            "seed": server.seed(),
            "rate_limit_per_min": (args.rate_limit > 0).then_some(args.rate_limit),
            "rate_burst": (args.rate_limit > 0).then(|| args.rate_burst.unwrap_or(args.rate_limit)),
            "concurrency_limit": (args.concurrency > 0).then_some(args.concurrency),
            "pid": std::process::id(),
        });
        if args.workspaces > 1 {
            line["workspaces"] = args.workspaces.into();
        }
        println!("{line}");
    } else {
        println!(
            "asana-audit-log-mock: serving {} events (seed {})",
            server.event_count(),
            server.seed()
        );
        println!("base_url: {}", server.base_url());
        println!("token: {}", server.token());
        println!("workspace_gid: {}", server.workspace_gid());
        if args.workspaces > 1 {
            println!("workspaces: {}", args.workspaces);
        }
        println!("forbidden_token: {}", server.forbidden_token());
    }
    use std::io::Write as _;
    std::io::stdout().flush()?;
    // Serve until the process is killed (Ctrl-C or a signal ends it).
    std::future::pending::<()>().await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("asana-audit-log-mock: {e}");
            ExitCode::FAILURE
        }
    }
}
