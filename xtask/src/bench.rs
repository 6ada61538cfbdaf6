//! `cargo xtask bench`: the clients against the mock server, each contender in its own process.
//!
//! Scenarios (see `BENCHMARKS.md` for what they show):
//!
//! - throughput: one mock (limits off) with a seeded dataset; the contenders `bytes`,
//!   `hand-written`, `generated`, `stream` (the `asana-audit-bench` binary), `cli`
//!   (`asana-audit export`) and `python-asana` (the official client in a virtualenv under the
//!   target directory) drain it in turn, interleaved over the repetitions;
//! - latency: a mock adding 50 ms per response with its default limits, a fresh one per run;
//!   `.stream()` against `.backfill()` at concurrency 4, 8 and 16, with the client's default
//!   limits and with its rate limit off;
//! - memory: the `stream` drain's peak RSS at 100,000 and 1,000,000 events;
//! - profile: a `stream` drain of 20,000 events under `valgrind --tool=callgrind`, by an
//!   `asana-audit-bench` built with the `profiling` profile (release code with symbols and line
//!   tables; release binaries are stripped);
//! - sustained, shared, recovery: the rate-limit scenarios, time compressed (see
//!   [`bench_paced`](crate::bench_paced)): a backfill at the rate limit by the library and by
//!   the CLI; the library's while another program spends half the token's budget; and the
//!   library's recovery after a scripted burst of 429s;
//! - many: one `asana-audit run` following 1,000 workspaces of one mock, polling every 30 s,
//!   for three minutes: peak RSS per workspace and CPU per minute (see
//!   [`bench_many`](crate::bench_many));
//! - alert-latency: `asana-audit follow --poll-interval 1s` with the shipped rule pack alerting
//!   a local webhook while events the pack matches are planted at the mock: from each event's
//!   appearance to the alert's receipt, p50 and p99 over 240 alerts (see
//!   [`bench_alert`](crate::bench_alert));
//! - alert-cost: `asana-audit follow` of 500,000 events with and without the shipped pack
//!   alerting, three times each: the pack's CPU per event (see
//!   [`bench_alert_cost`](crate::bench_alert_cost));
//! - backtest: `asana-audit detect` over a 1,000,000-event Parquet archive beside DuckDB
//!   running the pySigma DuckDB backend's queries of the pack (see
//!   [`bench_backtest`](crate::bench_backtest)).
//!
//! `--smoke` runs every Rust contender once on 2,000 events with debug builds, plus a short
//! latency run, a few seconds of the sustained scenario, of the many scenario (100
//! workspaces) and of the alert-latency scenario (20 alerts), the alert-cost scenario on 5,000
//! events and the backtest on 2,000, and prints the report instead of
//! writing it: a CI check that the benchmark and the clients work end to end, not a
//! measurement.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use serde_json::Value;

use crate::bench_paced::{self, Paced, PacedRun};
use crate::bench_proc::{Mock, MockSettings, run_measured};
use crate::bench_report::{
    self, DEFAULT_LIMITS, Latency, Memory, Meta, NO_RATE_LIMIT, Report, Sample, Throughput,
};
use crate::bench_stats::thousands;

/// The options of `cargo xtask bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Events in the throughput dataset [default: 200000; 2000 with --smoke].
    #[arg(long, value_name = "N")]
    events: Option<u64>,
    /// Repetitions of every measurement [default: 5; 1 with --smoke].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    reps: Option<u64>,
    /// Leave out the official Python client (no virtualenv, nothing from PyPI).
    #[arg(long)]
    no_python: bool,
    /// Run only these parts (comma-separated): contenders and scenarios.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "PART,...")]
    only: Vec<Part>,
    /// The file whose generated section receives the report [default: BENCHMARKS.md].
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Quick end-to-end check for CI: tiny dataset, one repetition, debug builds, no Python,
    /// memory or profile; prints the report instead of writing it; fails if a contender fails
    /// or reads a wrong number of events.
    #[arg(long)]
    smoke: bool,
}

/// A contender or a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Part {
    /// reqwest, bytes only (the ceiling).
    Bytes,
    /// reqwest + serde_json::Value.
    HandWritten,
    /// The generated low-level client.
    Generated,
    /// The ergonomic client's stream.
    Stream,
    /// The ergonomic client's stream, reading every typed view of every event.
    StreamViews,
    /// `asana-audit export` to a file.
    Cli,
    /// The official Python client.
    PythonAsana,
    /// Sequential against backfill under latency.
    Latency,
    /// Peak RSS at two dataset sizes.
    Memory,
    /// A callgrind profile of the stream drain.
    Profile,
    /// `asana-audit convert` to Parquet next to DuckDB, and the memory of writing Parquet.
    Convert,
    /// `asana-audit report` of an export: time and peak RSS at two lengths.
    Report,
    /// A backfill at the rate limit (library and CLI), time compressed.
    Sustained,
    /// The library's backfill while another program spends half the token's budget.
    Shared,
    /// The library's recovery after a scripted burst of 429s.
    Recovery,
    /// One `asana-audit run` following many workspaces: memory and CPU per workspace.
    Many,
    /// `asana-audit follow` alerting a local webhook: from an event's appearance at the mock
    /// to the alert's receipt.
    AlertLatency,
    /// `asana-audit follow` with and without the shipped pack: the pack's CPU per event.
    AlertCost,
    /// `asana-audit detect` over a Parquet archive beside DuckDB running the pySigma DuckDB
    /// backend's queries of the pack.
    Backtest,
}

const CONTENDER_PARTS: &[Part] = &[
    Part::Bytes,
    Part::HandWritten,
    Part::Generated,
    Part::Stream,
    Part::StreamViews,
    Part::Cli,
    Part::PythonAsana,
];

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Bytes => "bytes",
            Part::HandWritten => "hand-written",
            Part::Generated => "generated",
            Part::Stream => "stream",
            Part::StreamViews => "stream-views",
            Part::Cli => "cli",
            Part::PythonAsana => "python-asana",
            Part::Latency => "latency",
            Part::Memory => "memory",
            Part::Profile => "profile",
            Part::Convert => "convert",
            Part::Report => "report",
            Part::Sustained => "sustained",
            Part::Shared => "shared",
            Part::Recovery => "recovery",
            Part::Many => "many",
            Part::AlertLatency => "alert-latency",
            Part::AlertCost => "alert-cost",
            Part::Backtest => "backtest",
        }
    }
}

/// The dataset seed of every scenario.
const SEED: u64 = 7;
/// Events per request.
const PAGE_SIZE: u32 = 100;
/// The official client's version under test.
const PYTHON_ASANA: &str = "5.4.0";
/// Latency added per response in the latency scenario.
const LATENCY_MS: u64 = 50;
/// The cargo profile of the binary profiled under callgrind: release code that keeps its symbols
/// and line tables (`[profile.profiling]` in the workspace manifest), where the release profile
/// strips them and callgrind could name no function.
const PROFILING: &str = "profiling";
/// What the benchmark runs, built with the release (or, with `--smoke`, the dev) profile.
const BENCH_PACKAGES: &[&str] = &[
    "asana-audit-log-mock",
    "asana-audit-bench",
    "asana-audit-cli",
];

/// What a run does, after defaults and `--smoke`.
#[derive(Debug)]
struct Plan {
    events: u64,
    reps: usize,
    contenders: Vec<Part>,
    latency: Option<LatencyPlan>,
    memory: Option<(u64, u64)>,
    profile: Option<u64>,
    /// The convert scenario: events, repetitions, and the lengths of the memory runs.
    convert: Option<(u64, usize, Vec<u64>)>,
    /// The report scenario: repetitions at the largest length, and the lengths.
    report: Option<(usize, Vec<u64>)>,
    /// The many-workspaces scenario.
    many: Option<crate::bench_many::Settings>,
    /// The alert-latency scenario.
    alert_latency: Option<crate::bench_alert::Settings>,
    /// The alert-cost scenario: events and repetitions.
    alert_cost: Option<(u64, usize)>,
    /// The backtest scenario: events and repetitions.
    backtest: Option<(u64, usize)>,
    paced: Option<PacedPlan>,
    release: bool,
    smoke: bool,
}

/// The rate-limit scenarios to run.
#[derive(Debug)]
struct PacedPlan {
    /// `Sustained`, `Shared` and `Recovery`, those wanted.
    scenarios: Vec<Part>,
    /// Events in the sustained and shared windows.
    events: u64,
    /// Events in the recovery window.
    recovery_events: u64,
}

impl PacedPlan {
    fn new(wanted: impl Fn(Part) -> bool, smoke: bool) -> Option<PacedPlan> {
        let scenarios: Vec<Part> = if smoke {
            vec![Part::Sustained]
        } else {
            vec![Part::Sustained, Part::Shared, Part::Recovery]
        };
        let scenarios: Vec<Part> = scenarios.into_iter().filter(|&p| wanted(p)).collect();
        (!scenarios.is_empty()).then_some(PacedPlan {
            scenarios,
            // Full: 16,000 requests, 10.9 minutes at Asana's limit. Smoke: a few seconds.
            events: if smoke { 20_000 } else { 1_500_000 },
            recovery_events: 600_000,
        })
    }
}

impl Plan {
    fn new(args: &BenchArgs) -> Plan {
        let wanted = |part: Part| args.only.is_empty() || args.only.contains(&part);
        let python = !args.no_python && !args.smoke;
        let contenders = CONTENDER_PARTS
            .iter()
            .copied()
            .filter(|&p| wanted(p) && (p != Part::PythonAsana || python))
            .collect();
        if args.smoke {
            Plan {
                events: args.events.unwrap_or(2_000),
                reps: args.reps.unwrap_or(1) as usize,
                contenders,
                latency: wanted(Part::Latency).then(|| LatencyPlan {
                    events: 2_000,
                    variants: vec![DEFAULT_LIMITS],
                    modes: vec![None, Some(8)],
                }),
                memory: None,
                profile: None,
                convert: wanted(Part::Convert).then(|| (2_000, 1, vec![1_000, 2_000])),
                report: wanted(Part::Report).then(|| (1, vec![1_000, 2_000])),
                many: wanted(Part::Many).then(|| crate::bench_many::Settings::new(true)),
                alert_latency: wanted(Part::AlertLatency)
                    .then(|| crate::bench_alert::Settings::new(true)),
                alert_cost: wanted(Part::AlertCost).then_some((5_000, 1)),
                backtest: wanted(Part::Backtest).then_some((2_000, 1)),
                paced: PacedPlan::new(wanted, true),
                release: false,
                smoke: true,
            }
        } else {
            Plan {
                events: args.events.unwrap_or(200_000),
                reps: args.reps.unwrap_or(5) as usize,
                contenders,
                latency: wanted(Part::Latency).then(|| LatencyPlan {
                    events: 20_000,
                    variants: vec![DEFAULT_LIMITS, NO_RATE_LIMIT],
                    modes: vec![None, Some(4), Some(8), Some(16)],
                }),
                memory: wanted(Part::Memory).then_some((100_000, 1_000_000)),
                profile: wanted(Part::Profile).then_some(20_000),
                convert: wanted(Part::Convert).then(|| (1_000_000, 5, vec![100_000, 1_000_000])),
                report: wanted(Part::Report).then(|| (3, vec![100_000, 1_000_000])),
                many: wanted(Part::Many).then(|| crate::bench_many::Settings::new(false)),
                alert_latency: wanted(Part::AlertLatency)
                    .then(|| crate::bench_alert::Settings::new(false)),
                alert_cost: wanted(Part::AlertCost).then_some((500_000, 3)),
                backtest: wanted(Part::Backtest).then_some((1_000_000, 3)),
                paced: PacedPlan::new(wanted, false),
                release: true,
                smoke: false,
            }
        }
    }
}

/// The latency scenario's settings.
#[derive(Debug)]
struct LatencyPlan {
    /// Events in the window.
    events: u64,
    /// Client-limit variants.
    variants: Vec<&'static str>,
    /// `None`: sequential `.stream()`; `Some(K)`: `.backfill()` at concurrency K.
    modes: Vec<Option<usize>>,
}

/// Paths of everything the benchmark runs.
struct Tools {
    mock: PathBuf,
    bench: PathBuf,
    /// `asana-audit-bench` built with the [`PROFILING`] profile, for the callgrind run.
    profiling_bench: PathBuf,
    cli: PathBuf,
    python: Option<PathBuf>,
    script: PathBuf,
    scratch: PathBuf,
}

/// Runs the benchmark.
pub fn run(root: &Path, args: BenchArgs) -> Result<ExitCode> {
    let plan = Plan::new(&args);
    let started = Instant::now();
    let load_before = load_average();
    let target_dir = target_dir(root);
    build(
        root,
        if plan.release { "release" } else { "dev" },
        BENCH_PACKAGES,
    )?;
    if plan.profile.is_some() {
        build(root, PROFILING, &["asana-audit-bench"])?;
    }
    let bin_dir = target_dir.join(if plan.release { "release" } else { "debug" });
    let scratch = target_dir.join("bench-tmp");
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let python = if plan.contenders.contains(&Part::PythonAsana) {
        Some(python_venv(&target_dir.join("bench-venv"))?)
    } else {
        None
    };
    let tools = Tools {
        mock: bin_dir.join("asana-audit-log-mock"),
        bench: bin_dir.join("asana-audit-bench"),
        profiling_bench: target_dir.join(PROFILING).join("asana-audit-bench"),
        cli: bin_dir.join("asana-audit"),
        python,
        script: root.join("crates/asana-audit-bench/python/drain.py"),
        scratch,
    };

    let mut report = Report::default();
    if !plan.contenders.is_empty() {
        report.throughput = Some(throughput(&tools, &plan)?);
    }
    if let Some(settings) = &plan.latency {
        report.latency = Some(latency(&tools, &plan, settings)?);
    }
    if let Some((small, large)) = plan.memory {
        report.memory = Some(memory(&tools, &plan, small, large)?);
    }
    if let Some(events) = plan.profile {
        report.profile = profile(&tools, events)?;
    }
    if let Some((events, reps, lengths)) = &plan.convert {
        let python = crate::pyenv::test_venv(&target_dir)?;
        let convert_tools = crate::bench_convert::Tools {
            cli: &tools.cli,
            mock: &tools.mock,
            python: &python,
            scratch: &tools.scratch,
        };
        report.convert = Some(crate::bench_convert::run(
            &convert_tools,
            *events,
            *reps,
            lengths,
        )?);
    }
    if let Some((reps, lengths)) = &plan.report {
        report.report = Some(crate::bench_audit_report::run(
            &tools.cli,
            &tools.mock,
            &tools.scratch,
            *reps,
            lengths,
        )?);
    }
    if let Some(settings) = &plan.paced {
        report.paced = Some(paced(&tools, settings)?);
    }
    if let Some(settings) = &plan.many {
        report.many = Some(crate::bench_many::run(
            &tools.mock,
            &tools.cli,
            &tools.scratch,
            settings,
        )?);
    }
    if let Some(settings) = &plan.alert_latency {
        report.alert_latency = Some(crate::bench_alert::run(&tools.mock, &tools.cli, settings)?);
    }
    if let Some((events, reps)) = plan.alert_cost {
        report.alert_cost = Some(crate::bench_alert_cost::run(
            &tools.mock,
            &tools.cli,
            &tools.scratch,
            events,
            reps,
        )?);
    }
    if let Some((events, reps)) = plan.backtest {
        let python = crate::pyenv::test_venv(&target_dir)?;
        let backtest_tools = crate::bench_backtest::Tools {
            cli: &tools.cli,
            mock: &tools.mock,
            python: &python,
            root,
            scratch: &tools.scratch,
        };
        report.backtest = Some(crate::bench_backtest::run(&backtest_tools, events, reps)?);
    }
    report.meta = meta(root, &plan, load_before);

    let section = bench_report::render(&report);
    if plan.smoke {
        println!("{section}");
        eprintln!(
            "xtask bench --smoke: every contender read every event ({:.1}s)",
            started.elapsed().as_secs_f64()
        );
    } else {
        let output = args.output.unwrap_or_else(|| root.join("BENCHMARKS.md"));
        let document = std::fs::read_to_string(&output).unwrap_or_default();
        std::fs::write(&output, bench_report::splice(&document, &section))
            .with_context(|| format!("writing {}", output.display()))?;
        eprintln!(
            "xtask bench: wrote {} ({:.0}s)",
            output.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The workspace's target directory (`CARGO_TARGET_DIR`, relative to the root, or `target`).
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        })
        .unwrap_or_else(|| root.join("target"))
}

/// `cargo build` of `packages` with the cargo profile `profile` (`dev`, `release` or
/// [`PROFILING`]).
fn build(root: &Path, profile: &str, packages: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["build", "--locked", "--profile", profile]);
    for package in packages {
        command.args(["-p", package]);
    }
    eprintln!("==> {command:?}");
    let status = command.status().context("starting cargo build")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    Ok(())
}

/// A virtualenv with the official client, made (from PyPI) unless it is there already.
fn python_venv(dir: &Path) -> Result<PathBuf> {
    crate::pyenv::venv(
        dir,
        &[crate::pyenv::Pin {
            spec: "asana",
            dist: "asana",
            version: PYTHON_ASANA,
        }],
    )
    .context("the official Python client (pass --no-python to leave it out)")
}

/// The export's own time, from the CLI's JSON log line "export finished": from the start of
/// the export to its last durable save, so that like the other contenders' figures it leaves
/// out process start-up (the client's set-up, TLS roots included).
fn export_seconds(stderr: &str) -> Option<f64> {
    stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|log| log["fields"]["message"] == "export finished")
        .and_then(|log| log["fields"]["seconds"].as_f64())
}

/// The `stream` contender over the window of the last `days` of `mock`'s workspace, expecting
/// `events`; the caller adds the mode and the limits.
fn windowed_stream(tools: &Tools, mock: &Mock, events: u64, days: u32) -> Command {
    let mut command = Command::new(&tools.bench);
    command
        .arg("stream")
        .args(["--base-url", &mock.base_url])
        .args(["--workspace", &mock.workspace])
        .args(["--page-size", &PAGE_SIZE.to_string()])
        .args(["--expect", &events.to_string()])
        .args(["--window-days", &days.to_string()])
        .env("ASANA_ACCESS_TOKEN", &mock.token);
    command
}

/// `asana-audit export` of `mock`'s workspace into `file_name` in the scratch directory, logging
/// in JSON; the caller adds the window and the limits.
fn cli_export(tools: &Tools, mock: &Mock, file_name: &str) -> (Command, PathBuf) {
    let file = tools.scratch.join(file_name);
    let mut command = Command::new(&tools.cli);
    command
        // `-v` in JSON logs the one line "export finished" with the export's own time.
        .args(["-v", "--log-format", "json"])
        .args(["export", "--workspace", &mock.workspace])
        .args(["--base-url", &mock.base_url])
        .arg("--output")
        .arg(&file)
        .args(["--overwrite", "--progress", "never"]);
    (command, file)
}

/// How a contender is started, and where the CLI writes.
fn contender_command(
    tools: &Tools,
    part: Part,
    mock: &Mock,
    events: u64,
) -> Result<(Command, Option<PathBuf>)> {
    let mut output = None;
    let mut command = match part {
        Part::Bytes | Part::HandWritten | Part::Generated | Part::Stream | Part::StreamViews => {
            bench_contender(&tools.bench, part, mock, events)
        }
        Part::Cli => {
            let (mut command, file) = cli_export(tools, mock, "cli-export.ndjson");
            // Like the `stream` contender: no client-side rate limit against the mock.
            command.args(["--requests-per-minute", "0"]);
            output = Some(file);
            command
        }
        Part::PythonAsana => {
            let python = tools.python.as_ref().context("no Python virtualenv")?;
            let mut command = Command::new(python);
            command.arg(&tools.script);
            command
                .args(["--base-url", &mock.base_url])
                .args(["--workspace", &mock.workspace])
                .args(["--events", &events.to_string()])
                .args(["--page-size", &PAGE_SIZE.to_string()]);
            command
        }
        _ => bail!("{part:?} is not a contender"),
    };
    command.env("ASANA_ACCESS_TOKEN", &mock.token);
    Ok((command, output))
}

/// A contender of the `asana-audit-bench` binary `bin` draining `events` events of `mock`.
fn bench_contender(bin: &Path, part: Part, mock: &Mock, events: u64) -> Command {
    let mut command = Command::new(bin);
    match part {
        Part::StreamViews => command.args(["stream", "--read-views"]),
        _ => command.arg(part.name()),
    };
    command
        .args(["--base-url", &mock.base_url])
        .args(["--workspace", &mock.workspace])
        .args(["--page-size", &PAGE_SIZE.to_string()])
        .args(["--expect", &events.to_string()]);
    command
}

/// Runs a prepared contender against `mock` and checks it read `expected` events.
fn measure(
    command: Command,
    output: Option<&Path>,
    mock: &Mock,
    name: &str,
    expected: u64,
) -> Result<Sample> {
    let before = mock.requests()?;
    let finished = run_measured(command)?;
    let requests = mock.requests()?.saturating_sub(before);
    if !finished.success {
        bail!(
            "contender {name} failed ({}):\n{}{}",
            finished.status,
            finished.stderr,
            finished.stdout
        );
    }
    let mut sample = Sample {
        name: name.to_owned(),
        requests,
        cpu_seconds: finished.cpu_seconds,
        // The best figure there is: the contender's own VmHWM at exit (below), else the polled
        // one, else wait4's (which has this process's own peak as its floor).
        max_rss_kb: finished.polled_hwm_kb.or(finished.max_rss_kb),
        ..Sample::default()
    };
    match output {
        Some(file) => {
            sample.events = count_lines(file)?;
            sample.seconds = export_seconds(&finished.stderr).unwrap_or(finished.wall_seconds);
            let _ = std::fs::remove_file(file);
        }
        None => {
            let line = finished
                .stdout
                .lines()
                .rev()
                .find(|l| l.trim_start().starts_with('{'))
                .with_context(|| format!("contender {name} printed no JSON line"))?;
            let report: Value = serde_json::from_str(line)
                .with_context(|| format!("contender {name} printed {line:?}"))?;
            sample.events = report["events"].as_u64().context("no events")?;
            sample.seconds = report["seconds"].as_f64().context("no seconds")?;
            sample.page_bytes = report["page_bytes"].as_u64();
            sample.retries = report["retries"].as_u64();
            sample.http_429 = report["http_429"].as_u64();
            sample.other = report["other_requests"]
                .as_u64()
                .zip(report["other_429"].as_u64());
            let times = |key: &str| -> Vec<f64> {
                report[key]
                    .as_array()
                    .map_or(Vec::new(), |a| a.iter().filter_map(Value::as_f64).collect())
            };
            sample.answered_ms = times("answered_ms");
            sample.throttled_ms = times("throttled_ms");
            if let Some(kb) = report["vm_hwm_kb"].as_u64() {
                sample.max_rss_kb = Some(kb);
            }
        }
    }
    if sample.events != expected {
        bail!(
            "contender {name} read {} events, expected {expected}:\n{}",
            sample.events,
            finished.stderr
        );
    }
    eprintln!(
        "    {name:<28} {:>9} events in {:>7.3} s: {:>9} events/s, {} requests, CPU {:.2} s, peak RSS {} MiB",
        thousands(sample.events),
        sample.seconds,
        thousands(sample.events_per_s() as u64),
        sample.requests,
        sample.cpu_seconds.unwrap_or(f64::NAN),
        sample
            .max_rss_kb
            .map_or("?".to_owned(), |kb| (kb / 1024).to_string()),
    );
    Ok(sample)
}

/// Counts the lines of a file in fixed-size chunks: reading it whole would raise this process's
/// peak RSS, which Linux then reports as the floor of every later child's `ru_maxrss`.
fn count_lines(file: &Path) -> Result<u64> {
    use std::io::Read as _;
    let mut reader =
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut buffer = vec![0u8; 1 << 16];
    let mut lines = 0u64;
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            return Ok(lines);
        }
        lines += buffer[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

/// The runs of one repetition start at a different contender each time.
fn rotated<T: Copy>(items: &[T], rep: usize) -> Vec<T> {
    let n = items.len().max(1);
    (0..items.len()).map(|i| items[(i + rep) % n]).collect()
}

fn throughput(tools: &Tools, plan: &Plan) -> Result<Throughput> {
    eprintln!(
        "==> throughput: {} events, {} repetitions, contenders: {}",
        thousands(plan.events),
        plan.reps,
        plan.contenders
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mock = Mock::start(&tools.mock, &MockSettings::unlimited(plan.events, SEED))?;
    let mut samples = Vec::new();
    for rep in 0..plan.reps {
        eprintln!("  repetition {}/{}", rep + 1, plan.reps);
        for part in rotated(&plan.contenders, rep) {
            let (command, output) = contender_command(tools, part, &mock, plan.events)?;
            let mut sample = measure(command, output.as_deref(), &mock, part.name(), plan.events)?;
            sample.rep = rep;
            samples.push(sample);
        }
    }
    Ok(Throughput {
        events: plan.events,
        page_size: PAGE_SIZE,
        samples,
    })
}

fn latency(tools: &Tools, plan: &Plan, settings: &LatencyPlan) -> Result<Latency> {
    let LatencyPlan {
        events,
        variants,
        modes,
    } = settings;
    let events = *events;
    eprintln!(
        "==> latency: {} events, {LATENCY_MS} ms per response, {} repetitions",
        thousands(events),
        plan.reps
    );
    let mock_settings = MockSettings {
        events,
        seed: SEED,
        default_limits: true,
        latency: Some(format!("{LATENCY_MS}ms")),
    };
    let mut samples = Vec::new();
    for rep in 0..plan.reps {
        eprintln!("  repetition {}/{}", rep + 1, plan.reps);
        for &variant in variants.iter() {
            for mode in rotated(modes, rep) {
                // A fresh server per run: every run starts with a full rate-limit bucket.
                let mock = Mock::start(&tools.mock, &mock_settings)?;
                let name = match mode {
                    None => "sequential".to_owned(),
                    Some(k) => format!("backfill({k})"),
                };
                let mut command = windowed_stream(tools, &mock, events, 31);
                if let Some(k) = mode {
                    command.args(["--backfill", &k.to_string()]);
                }
                if variant == DEFAULT_LIMITS {
                    command.arg("--default-limits");
                }
                let mut sample =
                    measure(command, None, &mock, &format!("{name} [{variant}]"), events)?;
                sample.name = name;
                sample.variant = variant.to_owned();
                sample.rep = rep;
                samples.push(sample);
            }
        }
    }
    Ok(Latency {
        events,
        latency_ms: LATENCY_MS,
        samples,
    })
}

fn memory(tools: &Tools, plan: &Plan, small: u64, large: u64) -> Result<Memory> {
    eprintln!(
        "==> memory: stream drains of {} and {} events, {} repetitions",
        thousands(small),
        thousands(large),
        plan.reps
    );
    let start = |events| Mock::start(&tools.mock, &MockSettings::unlimited(events, SEED));
    let mocks = [(small, start(small)?), (large, start(large)?)];
    let mut samples = Vec::new();
    for rep in 0..plan.reps {
        for (events, mock) in rotated(&[0, 1], rep).into_iter().map(|i| &mocks[i]) {
            let (command, _) = contender_command(tools, Part::Stream, mock, *events)?;
            let mut sample = measure(
                command,
                None,
                mock,
                &format!("stream ({})", thousands(*events)),
                *events,
            )?;
            sample.name = events.to_string();
            sample.rep = rep;
            samples.push(sample);
        }
    }
    Ok(Memory {
        small,
        large,
        samples,
    })
}

fn profile(tools: &Tools, events: u64) -> Result<Option<crate::bench_profile::Profile>> {
    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!("==> profile: skipped, valgrind is not installed");
        return Ok(None);
    }
    eprintln!(
        "==> profile: stream drain of {} events under callgrind",
        thousands(events)
    );
    let mock = Mock::start(&tools.mock, &MockSettings::unlimited(events, SEED))?;
    let mut command = bench_contender(&tools.profiling_bench, Part::Stream, &mock, events);
    command.env("ASANA_ACCESS_TOKEN", &mock.token);
    let out_file = tools.scratch.join("callgrind.out");
    Ok(Some(crate::bench_profile::run(command, events, &out_file)?))
}

/// The rate-limit scenarios (see [`bench_paced`]): a fresh mock per run, with the scaled limit
/// and latency; the clients configured with the scaled limit.
fn paced(tools: &Tools, plan: &PacedPlan) -> Result<Paced> {
    use bench_paced::{BOUND, CONCURRENCY, LATENCY, MOCK_BURST};
    let mut runs = Vec::new();
    for &scenario in &plan.scenarios {
        let (events, with_cli) = match scenario {
            Part::Sustained => (plan.events, true),
            Part::Recovery => (plan.recovery_events, false),
            _ => (plan.events, false),
        };
        eprintln!(
            "==> {}: {} events, {} requests a minute, latency {LATENCY}",
            scenario.name(),
            thousands(events),
            thousands(u64::from(BOUND))
        );
        for cli in [false, true].into_iter().filter(|&cli| !cli || with_cli) {
            let mut args: Vec<String> = vec![
                "--events".into(),
                events.to_string(),
                "--seed".into(),
                SEED.to_string(),
                "--span".into(),
                // Inside the 90-day retention the mock enforces, so that no event expires while
                // the client reads.
                "89d".into(),
                "--rate-limit".into(),
                BOUND.to_string(),
                "--rate-burst".into(),
                MOCK_BURST.to_string(),
                "--latency".into(),
                LATENCY.into(),
            ];
            if scenario == Part::Recovery {
                let first = bench_paced::RECOVERY_FROM;
                for n in first..first + bench_paced::RECOVERY_429S {
                    args.push("--fault".into());
                    args.push(format!("{n}:429:{}", bench_paced::RECOVERY_RETRY_AFTER));
                }
            }
            let mock = Mock::spawn(&tools.mock, &args)?;
            let refused = || -> Result<u64> {
                mock.status()?["rate_limited"]
                    .as_u64()
                    .context("the mock's status has no rate_limited count")
            };
            let refused_before = refused()?;
            let (command, output, client) = if cli {
                let (mut command, file) = cli_export(tools, &mock, "cli-paced.ndjson");
                command
                    .args(["--since", "90d"])
                    .args(["--concurrency", &CONCURRENCY.to_string()])
                    .args(["--requests-per-minute", &BOUND.to_string()])
                    .env("ASANA_ACCESS_TOKEN", &mock.token);
                (
                    command,
                    Some(file),
                    format!("export --concurrency {CONCURRENCY}"),
                )
            } else {
                let mut command = windowed_stream(tools, &mock, events, 90);
                command
                    .args(["--backfill", &CONCURRENCY.to_string()])
                    .args(["--requests-per-minute", &BOUND.to_string()]);
                if scenario == Part::Shared {
                    command.args([
                        "--spend-per-minute",
                        &bench_paced::OTHER_PER_MINUTE.to_string(),
                    ]);
                }
                if scenario == Part::Recovery {
                    command.arg("--timeline");
                }
                (command, None, format!("backfill({CONCURRENCY})"))
            };
            let name = format!("{} [{client}]", scenario.name());
            let sample = measure(command, output.as_deref(), &mock, &name, events)?;
            let refused_by_server = refused()?.saturating_sub(refused_before);
            let other_requests = sample.other.map_or(0, |(requests, _)| requests);
            let run = PacedRun {
                scenario: scenario.name(),
                client,
                events: sample.events,
                seconds: sample.seconds,
                requests: sample.requests.saturating_sub(other_requests),
                // Alone on the token, the server's count is ours (the CLI reports none); with
                // another program or scripted 429s, the client's own count.
                http_429: match scenario {
                    Part::Sustained => refused_by_server,
                    _ => sample.http_429.unwrap_or(refused_by_server),
                },
                other: sample.other,
                recovery_s: (scenario == Part::Recovery)
                    .then(|| {
                        bench_paced::recovery_seconds(&sample.answered_ms, &sample.throttled_ms)
                    })
                    .flatten(),
                cpu_seconds: sample.cpu_seconds,
                max_rss_kb: sample.max_rss_kb,
            };
            eprintln!(
                "    {:.3} of the bound, {} 429s{}{}",
                run.per_minute() / f64::from(BOUND),
                run.http_429,
                run.other.map_or(String::new(), |(r, t)| format!(
                    "; other program {r} requests, {t} 429s; {:.3} of the budget left",
                    run.per_minute() / run.budget()
                )),
                run.recovery_s.map_or(String::new(), |s| format!(
                    "; from the last 429 back to full rate in {s:.1} s"
                )),
            );
            runs.push(run);
        }
    }
    Ok(Paced {
        events: plan.events,
        runs,
    })
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn command_text(program: &str, args: &[&str], dir: &Path) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn meta(root: &Path, plan: &Plan, load_before: String) -> Meta {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown".to_owned(), |(_, v)| v.trim().to_owned());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let mut commit = command_text("git", &["rev-parse", "--short", "HEAD"], root)
        .unwrap_or_else(|| "unknown".to_owned());
    if command_text("git", &["status", "--porcelain"], root).is_some_and(|s| !s.is_empty()) {
        commit.push_str(" with uncommitted changes");
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    Meta {
        command: format!("cargo xtask {}", args.join(" ")),
        date: command_text("date", &["-u", "+%Y-%m-%d %H:%M UTC"], root)
            .unwrap_or_else(|| "unknown".to_owned()),
        commit,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu,
        memory_gib,
        rustc: command_text("rustc", &["--version"], root).unwrap_or_default(),
        load_before,
        load_after: load_average(),
        build: if plan.release { "release" } else { "debug" }.to_owned(),
        reps: plan.reps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: BenchArgs,
    }

    fn plan(args: &[&str]) -> Plan {
        let wrapper = Wrapper::parse_from(std::iter::once("bench").chain(args.iter().copied()));
        Plan::new(&wrapper.args)
    }

    #[test]
    fn the_full_plan_runs_everything() {
        let p = plan(&[]);
        assert_eq!((p.events, p.reps, p.release), (200_000, 5, true));
        assert_eq!(p.contenders, CONTENDER_PARTS);
        assert!(p.latency.is_some() && p.memory.is_some() && p.profile.is_some());
        let paced = p.paced.unwrap();
        assert_eq!(
            paced.scenarios,
            [Part::Sustained, Part::Shared, Part::Recovery]
        );
        // At least ten minutes of requests at Asana's limit: 100 events a request.
        assert!(paced.events / 100 >= 10 * 1_500);
    }

    #[test]
    fn the_cli_reports_its_export_time() {
        let stderr = "noise\n{\"level\":\"INFO\",\"fields\":{\"message\":\"export finished\",\"written\":3,\"seconds\":0.25}}\n";
        assert_eq!(export_seconds(stderr), Some(0.25));
        assert_eq!(export_seconds("{\"fields\":{\"message\":\"other\"}}"), None);
    }

    #[test]
    fn smoke_runs_every_rust_contender_and_a_short_latency_run() {
        let p = plan(&["--smoke"]);
        assert_eq!((p.events, p.reps, p.release), (2_000, 1, false));
        assert!(!p.contenders.contains(&Part::PythonAsana));
        assert_eq!(p.contenders.len(), CONTENDER_PARTS.len() - 1);
        assert!(p.latency.is_some() && p.memory.is_none() && p.profile.is_none());
        let paced = p.paced.unwrap();
        assert_eq!(paced.scenarios, [Part::Sustained]);
        assert_eq!(paced.events, 20_000);
    }

    #[test]
    fn only_and_no_python_narrow_the_plan() {
        let p = plan(&["--only", "stream,python-asana,memory", "--no-python"]);
        assert_eq!(p.contenders, [Part::Stream]);
        assert!(p.memory.is_some() && p.latency.is_none() && p.profile.is_none());
        assert!(p.paced.is_none());
        let p = plan(&["--only", "shared,recovery"]);
        assert_eq!(p.paced.unwrap().scenarios, [Part::Shared, Part::Recovery]);
        assert!(p.contenders.is_empty());
    }

    #[test]
    fn repetitions_rotate_the_order() {
        assert_eq!(rotated(&[1, 2, 3], 0), [1, 2, 3]);
        assert_eq!(rotated(&[1, 2, 3], 1), [2, 3, 1]);
        assert_eq!(rotated(&[1, 2, 3], 5), [3, 1, 2]);
    }
}
