//! `cargo xtask soak`: `asana-audit follow` against a live, faulty mock server for a while,
//! watching the follower's memory and file descriptors, then checking that every event the
//! mock served was written exactly once.
//!
//! What it does:
//!
//! 1. builds both binaries in release mode (unless `--no-build`);
//! 2. starts `asana-audit-log-mock serve` with a seeded dataset, events appended live
//!    (`--live-rate`), short-lived offsets (so expired offsets and restarts happen), latency and
//!    random faults (5xx, 429 with `Retry-After`, resets before and during the body, truncated
//!    bodies and truncated JSON);
//! 3. starts `asana-audit follow` with a file output and a checkpoint, the token in its
//!    environment only;
//! 4. every `--sample-secs` seconds records the follower's RSS (`/proc/PID/status` VmRSS), its
//!    open file descriptors and sockets (`/proc/PID/fd`), the lines written so far and the
//!    mock's event count (`GET /_mock/status`);
//!    With `--crashes N` it also kills the follower (SIGKILL) N times, evenly spread, and starts
//!    it again from its checkpoint;
//! 5. after `--minutes`, interrupts the follower (SIGINT: it flushes and checkpoints), then
//!    exports the same window once more with `asana-audit export` up to the follower's last
//!    event, and compares the two outputs gid by gid;
//! 6. writes `target/soak/report.json` and prints a summary. It fails when an event is missing
//!    or written twice, when the follower died, or when the token shows up in its log.
//!
//! Linux only (it reads `/proc`). Everything runs on loopback and stops by itself.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::bench_proc::Mock;

/// The options of `cargo xtask soak`.
#[derive(clap::Args, Debug)]
pub struct SoakArgs {
    /// How long the follower runs.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Events the mock appends per second while the follower runs.
    #[arg(long, default_value_t = 20.0)]
    live_rate: f64,
    /// Seconds between samples of memory and descriptors.
    #[arg(long, default_value_t = 10)]
    sample_secs: u64,
    /// The follower's --poll-interval, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// Probability of each random fault kind per request.
    #[arg(long, default_value_t = 0.01)]
    fault_rate: f64,
    /// Kill the follower this many times (SIGKILL, evenly spread over the run) and start it
    /// again from its checkpoint, to check exactly-once output across crashes too.
    #[arg(long, default_value_t = 0)]
    crashes: u32,
    /// Use the release binaries as they are (do not run cargo build first).
    #[arg(long)]
    no_build: bool,
}

/// One sample of the follower.
#[derive(Debug, Clone)]
struct Sample {
    seconds: u64,
    rss_kib: u64,
    fds: usize,
    sockets: usize,
    lines_written: usize,
    mock_events: u64,
}

pub fn run(root: &Path, args: SoakArgs) -> Result<ExitCode> {
    if !Path::new("/proc/self/status").exists() {
        bail!("the soak reads /proc: it runs on Linux only");
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    if !args.no_build {
        let status = Command::new(&cargo)
            .args([
                "build",
                "--release",
                "--locked",
                "-p",
                "asana-audit-cli",
                "-p",
                "asana-audit-log-mock",
            ])
            .current_dir(root)
            .status()
            .context("running cargo build")?;
        if !status.success() {
            bail!("cargo build failed ({status})");
        }
    }
    let bin = root.join("target/release");
    let (cli, mock_bin) = (bin.join("asana-audit"), bin.join("asana-audit-log-mock"));
    let dir = root.join("target/soak");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let mut mock = start_mock(&mock_bin, &args)?;
    let outcome = soak(&cli, &dir, &mock, &args);
    mock.stop();
    let report = outcome?;
    let path = dir.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")?;
    println!("soak: report written to {}", path.display());
    let failed = report["failures"].as_array().is_some_and(|f| !f.is_empty());
    Ok(if failed {
        eprintln!("soak: FAILED: {}", report["failures"]);
        ExitCode::FAILURE
    } else {
        println!("soak: passed");
        ExitCode::SUCCESS
    })
}

/// Starts the mock for a soak: a small dataset, events arriving live, latency, every fault kind.
fn start_mock(bin: &Path, args: &SoakArgs) -> Result<Mock> {
    let p = args.fault_rate.to_string();
    let mut serve: Vec<String> = [
        "--events",
        "2000",
        "--span",
        "1h",
        "--seed",
        "7",
        "--fault-seed",
        "7",
        "--offset-lifetime",
        "2m",
        "--latency",
        "1ms..20ms",
        "--live-rate",
    ]
    .map(String::from)
    .to_vec();
    serve.push(args.live_rate.to_string());
    for kind in [
        "500",
        "503",
        "429:1",
        "reset",
        "reset-mid-body",
        "truncate",
        "truncate-json",
    ] {
        serve.extend(["--chance".to_string(), format!("{kind}={p}")]);
    }
    Mock::spawn(bin, &serve)
}

/// `asana-audit` with the mock's token in its environment (never on the command line).
fn audit(cli: &Path, mock: &Mock) -> Command {
    let mut command = Command::new(cli);
    command
        .env("ASANA_ACCESS_TOKEN", &mock.token)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    command
}

fn soak(cli: &Path, dir: &Path, mock: &Mock, args: &SoakArgs) -> Result<Value> {
    let output = dir.join("follow.ndjson");
    let checkpoint = dir.join("follow.checkpoint");
    let log = dir.join("follow.log");
    let log_file = std::fs::File::create(&log)?;
    let spawn = || -> Result<Child> {
        audit(cli, mock)
            .args(["follow", "--workspace", &mock.workspace, "--base-url"])
            .arg(&mock.base_url)
            .args(["--since", "2h", "--progress", "never", "--output"])
            .arg(&output)
            .arg("--checkpoint")
            .arg(&checkpoint)
            .args(["--poll-interval", &format!("{}ms", args.poll_ms)])
            .stdout(Stdio::null())
            .stderr(log_file.try_clone()?)
            .spawn()
            .context("starting asana-audit follow")
    };
    let mut follower = spawn()?;
    let mut pid = follower.id();
    println!(
        "soak: following {} for {} min (pid {pid}), sampling every {} s",
        mock.base_url, args.minutes, args.sample_secs
    );
    println!(
        "{:>7} {:>9} {:>5} {:>8} {:>9} {:>9}",
        "seconds", "rss_kib", "fds", "sockets", "written", "mock"
    );

    let started = Instant::now();
    let length = Duration::from_secs_f64(args.minutes * 60.0);
    let mut samples = Vec::new();
    let mut failures = Vec::new();
    let crash_every = length / (args.crashes + 1);
    let mut crashes = 0;
    // The first sample after one interval: a process sampled at birth has no RSS to speak of.
    std::thread::sleep(Duration::from_secs(args.sample_secs).min(length));
    loop {
        if crashes < args.crashes && started.elapsed() >= crash_every * (crashes + 1) {
            // A crash at an arbitrary moment: no chance to flush or checkpoint.
            follower.kill().context("killing the follower")?;
            follower.wait()?;
            follower = spawn()?;
            pid = follower.id();
            crashes += 1;
            println!("soak: killed the follower and started it again (pid {pid})");
            // Let the new process start before it is sampled.
            std::thread::sleep(Duration::from_millis(500));
        }
        if let Some(status) = follower.try_wait()? {
            failures.push(format!("the follower exited early: {status}"));
            break;
        }
        let descriptors = fds(pid)?;
        let sample = Sample {
            seconds: started.elapsed().as_secs(),
            rss_kib: rss_kib(pid)?,
            fds: descriptors.0,
            sockets: descriptors.1,
            lines_written: count_lines(&output),
            mock_events: mock.events()?,
        };
        println!(
            "{:>7} {:>9} {:>5} {:>8} {:>9} {:>9}",
            sample.seconds,
            sample.rss_kib,
            sample.fds,
            sample.sockets,
            sample.lines_written,
            sample.mock_events
        );
        samples.push(sample);
        if started.elapsed() >= length {
            break;
        }
        let mut wait = Duration::from_secs(args.sample_secs).min(length - started.elapsed());
        if crashes < args.crashes {
            wait = wait.min((crash_every * (crashes + 1)).saturating_sub(started.elapsed()));
        }
        std::thread::sleep(wait);
    }
    let followed = started.elapsed();

    // SIGINT: the follower flushes the output and saves the checkpoint, then exits 130.
    let exit = if failures.is_empty() {
        Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .context("sending SIGINT")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = follower.try_wait()? {
                break status.code();
            }
            if Instant::now() > deadline {
                let _ = follower.kill();
                failures.push("the follower did not stop within 30 s of SIGINT".to_string());
                break None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    } else {
        None
    };
    if failures.is_empty() && exit != Some(130) {
        failures.push(format!("the follower exited with {exit:?}, not 130"));
    }

    // What the follower wrote.
    let followed_events = read_events(&output)?;
    let mut seen = HashSet::new();
    let duplicates = followed_events
        .iter()
        .filter(|(gid, _)| !seen.insert(gid.clone()))
        .count();
    let last = followed_events
        .iter()
        .map(|(_, at)| *at)
        .max()
        .ok_or_else(|| anyhow!("the follower wrote no event"))?;

    // The same window, exported once more, up to and including the follower's last instant.
    let saved: Value = serde_json::from_slice(&std::fs::read(&checkpoint)?)
        .context("reading the follower's checkpoint")?;
    let start_at = saved["query"]["start_at"]
        .as_str()
        .ok_or_else(|| anyhow!("the checkpoint's query has no start_at"))?
        .to_owned();
    let end_at = (last + TimeDelta::milliseconds(1)).to_rfc3339();
    let export = dir.join("export.ndjson");
    let exported = audit(cli, mock)
        .args(["export", "--workspace", &mock.workspace, "--base-url"])
        .arg(&mock.base_url)
        .args([
            "--start-at",
            &start_at,
            "--end-at",
            &end_at,
            "--progress",
            "never",
        ])
        .arg("--output")
        .arg(&export)
        .output()
        .context("running asana-audit export")?;
    if !exported.status.success() {
        failures.push(format!(
            "the final export failed: {}",
            String::from_utf8_lossy(&exported.stderr)
        ));
    }
    let reference = read_events(&export)?;
    let reference_gids: HashSet<&str> = reference.iter().map(|(gid, _)| gid.as_str()).collect();
    let followed_gids: HashSet<&str> = followed_events
        .iter()
        .map(|(gid, _)| gid.as_str())
        .collect();
    // Events of the export the follower did not write. One at the very instant the follower
    // stopped may simply not have reached it yet: counted apart, not as missing.
    let (at_cutoff, missing): (Vec<_>, Vec<_>) = reference
        .iter()
        .filter(|(gid, _)| !followed_gids.contains(gid.as_str()))
        .partition(|(_, at)| *at == last);
    let extra = followed_gids.difference(&reference_gids).count();

    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let secret = mock.token.rsplit(':').next().unwrap_or(&mock.token);
    let leaked = log_text.contains(secret)
        || std::fs::read_to_string(&checkpoint)?.contains(secret)
        || std::fs::read_to_string(&output)?.contains(secret);
    let mut warnings: BTreeMap<String, usize> = BTreeMap::new();
    for line in log_text.lines() {
        if line.contains("retrying audit log request") {
            *warnings.entry("retries".into()).or_default() += 1;
        } else if line.contains("offset rejected") {
            *warnings.entry("offset restarts".into()).or_default() += 1;
        } else if line.contains("WARN") {
            *warnings.entry("other warnings".into()).or_default() += 1;
        }
    }

    if duplicates > 0 {
        failures.push(format!("{duplicates} event(s) written twice"));
    }
    if !missing.is_empty() {
        let gids: Vec<&str> = missing
            .iter()
            .take(10)
            .map(|(gid, _)| gid.as_str())
            .collect();
        failures.push(format!("{} event(s) missing, e.g. {gids:?}", missing.len()));
    }
    if extra > 0 {
        failures.push(format!("{extra} written event(s) absent from the export"));
    }
    if leaked {
        failures.push("the token appears in the follower's log, checkpoint or output".into());
    }

    let rss: Vec<u64> = samples.iter().map(|s| s.rss_kib).collect();
    let fd_counts: Vec<usize> = samples.iter().map(|s| s.fds).collect();
    let summary = json!({
        "followed_seconds": followed.as_secs(),
        "samples": samples.len(),
        "rss_kib": {"start": rss.first(), "end": rss.last(), "max": rss.iter().max()},
        "fds": {"start": fd_counts.first(), "end": fd_counts.last(), "max": fd_counts.iter().max()},
        "sockets_max": samples.iter().map(|s| s.sockets).max(),
        "events_written": followed_events.len(),
        "events_in_reference_export": reference.len(),
        "mock_events_at_end": mock.events().ok(),
        "duplicates": duplicates,
        "missing": missing.len(),
        "not_yet_delivered_at_cutoff": at_cutoff.len(),
        "extra": extra,
        "follower_exit_code": exit,
        "crashes": crashes,
        "log": warnings,
        "token_leaked": leaked,
    });
    println!("soak: {}", serde_json::to_string_pretty(&summary)?);
    Ok(json!({
        "settings": {
            "minutes": args.minutes,
            "live_rate": args.live_rate,
            "poll_ms": args.poll_ms,
            "fault_rate_per_kind": args.fault_rate,
            "crashes": args.crashes,
        },
        "summary": summary,
        "failures": failures,
        "series": samples.iter().map(Sample::to_json).collect::<Vec<_>>(),
    }))
}

impl Sample {
    fn to_json(&self) -> Value {
        json!({
            "seconds": self.seconds,
            "rss_kib": self.rss_kib,
            "fds": self.fds,
            "sockets": self.sockets,
            "lines_written": self.lines_written,
            "mock_events": self.mock_events,
        })
    }
}

/// `VmRSS` of a process, in KiB.
fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS for pid {pid}"))
}

/// Open file descriptors of a process, and how many of them are sockets.
fn fds(pid: u32) -> Result<(usize, usize)> {
    let mut total = 0;
    let mut sockets = 0;
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        total += 1;
        if let Ok(target) = std::fs::read_link(entry?.path())
            && target.to_string_lossy().starts_with("socket:")
        {
            sockets += 1;
        }
    }
    Ok((total, sockets))
}

fn count_lines(path: &Path) -> usize {
    std::fs::read(path)
        .map(|bytes| bytes.iter().filter(|&&b| b == b'\n').count())
        .unwrap_or(0)
}

/// `(gid, created_at)` of every line of an NDJSON output.
fn read_events(path: &PathBuf) -> Result<Vec<(String, DateTime<Utc>)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    text.lines()
        .map(|line| {
            let event: Value = serde_json::from_str(line)
                .with_context(|| format!("a line of {} is not JSON", path.display()))?;
            match (event["gid"].as_str(), event["created_at"].as_str()) {
                (Some(gid), Some(at)) => Ok((gid.to_owned(), parse_time(at)?)),
                _ => Err(anyhow!(
                    "a line of {} lacks gid or created_at",
                    path.display()
                )),
            }
        })
        .collect()
}

/// `created_at` as a time (the output keeps Asana's text; this is for ordering and windows).
fn parse_time(at: &str) -> Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(at)
        .with_context(|| format!("created_at {at:?} is not RFC 3339"))?
        .with_timezone(&Utc))
}
