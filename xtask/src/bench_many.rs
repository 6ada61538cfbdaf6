//! The `many` scenario: one `asana-audit run` process follows many workspaces.
//!
//! One mock (limits off) serves `workspaces` workspace gids, each with a small dataset, and
//! appends live events spread over them. A collector configuration with one `[[source]]` per
//! workspace (token from the environment, a directory output in NDJSON, `poll_interval` and a
//! small `requests_per_minute`) runs for a warm-up (the initial backfill) and a measured
//! window. Then live arrival is paused, the collector is given one more poll interval to
//! catch up, and it is stopped with SIGINT. The report gives the peak RSS per workspace, the
//! CPU time per minute of wall time (the whole run, from `wait4`, and the measured window
//! alone, from `/proc`), the threads, the requests served, and whether every source
//! delivered exactly the events its workspace holds. The collector serves its metrics
//! (`--metrics-addr`), which are scraped through the measured window as Prometheus would.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::bench_paced::exact;
use crate::bench_proc::{Mock, run_measured_while};
use crate::bench_stats::{Check, thousands};

/// Target: peak RSS per workspace, KiB.
const RSS_TARGET_KIB: f64 = 1024.0;
/// Target: CPU, percent of one core.
const CPU_TARGET_PERCENT: f64 = 5.0;

/// How big and how long.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Workspaces served and followed.
    pub workspaces: usize,
    /// Events in each workspace's initial dataset.
    pub events: u64,
    /// Live events a second, over all workspaces.
    pub live_rate: f64,
    /// Each source's poll interval.
    pub poll: Duration,
    /// Each source's `requests_per_minute`.
    pub requests_per_minute: u32,
    /// From the start of the collector to the start of the measured window.
    pub warm_up: Duration,
    /// The measured window.
    pub window: Duration,
}

impl Settings {
    /// The full run (1,000 workspaces, three minutes) or the CI smoke run (a few seconds).
    pub fn new(smoke: bool) -> Settings {
        if smoke {
            Settings {
                workspaces: 100,
                events: 20,
                live_rate: 50.0,
                poll: Duration::from_secs(2),
                requests_per_minute: 60,
                warm_up: Duration::from_secs(3),
                window: Duration::from_secs(4),
            }
        } else {
            Settings {
                workspaces: 1_000,
                events: 100,
                live_rate: 10.0,
                poll: Duration::from_secs(30),
                requests_per_minute: 20,
                warm_up: Duration::from_secs(45),
                window: Duration::from_secs(180),
            }
        }
    }
}

/// What the scenario measured.
#[derive(Clone, Debug)]
pub struct Figures {
    /// The settings it ran with.
    pub settings: Settings,
    /// Peak RSS of the collector, KiB (`wait4`'s `ru_maxrss`, else the polled `VmHWM`).
    pub peak_rss_kib: u64,
    /// User + system CPU seconds of the whole run.
    pub cpu_seconds: f64,
    /// Wall time of the whole run, seconds.
    pub wall_seconds: f64,
    /// CPU seconds spent in the measured window, and the window's length in seconds.
    pub window_cpu: Option<(f64, f64)>,
    /// Threads of the collector at the end of the measured window.
    pub threads: Option<u64>,
    /// API requests the mock served during the whole run.
    pub requests: u64,
    /// Events the mock held when live arrival was paused, over all workspaces.
    pub mock_events: u64,
    /// Events found in the outputs, over all sources.
    pub delivered: u64,
    /// Sources whose output holds exactly their workspace's events.
    pub complete_sources: usize,
    /// How the collector exited.
    pub exit: String,
    /// `/metrics` scrapes during the measured window.
    pub scrapes: usize,
    /// Sources named in the last scrape's `asana_audit_events_received_total`.
    pub scraped_sources: usize,
    /// The last scrape's size, bytes.
    pub scrape_bytes: usize,
}

impl Figures {
    /// Peak RSS per workspace, KiB.
    pub fn rss_per_workspace_kib(&self) -> f64 {
        self.peak_rss_kib as f64 / self.settings.workspaces as f64
    }

    /// CPU time as a percentage of one core over the whole run.
    pub fn cpu_percent(&self) -> f64 {
        100.0 * self.cpu_seconds / self.wall_seconds.max(1e-9)
    }

    /// CPU time as a percentage of one core over the measured window.
    pub fn window_cpu_percent(&self) -> Option<f64> {
        self.window_cpu
            .map(|(cpu, wall)| 100.0 * cpu / wall.max(1e-9))
    }
}

/// Runs the scenario with the binaries `mock` and `cli`, in `scratch/many`.
pub fn run(mock: &Path, cli: &Path, scratch: &Path, settings: &Settings) -> Result<Figures> {
    let dir = scratch.join("many");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir.join("ckpt"))
        .with_context(|| format!("creating {}", dir.display()))?;
    let server = Mock::spawn(
        mock,
        &[
            "--workspaces".to_owned(),
            settings.workspaces.to_string(),
            "--events".to_owned(),
            settings.events.to_string(),
            "--span".to_owned(),
            "1d".to_owned(),
            "--live-rate".to_owned(),
            settings.live_rate.to_string(),
            "--rate-limit".to_owned(),
            "0".to_owned(),
            "--concurrency".to_owned(),
            "0".to_owned(),
        ],
    )?;
    let status = server.status()?;
    let gids = workspace_gids(&server.workspace, settings.workspaces);
    let config = dir.join("collector.toml");
    std::fs::write(&config, collector_toml(&server, &gids, settings))
        .with_context(|| format!("writing {}", config.display()))?;
    let requests_before = status["requests"].as_u64().unwrap_or(0);

    let metrics_addr = free_loopback_addr()?;
    let mut command = Command::new(cli);
    command
        .args(["--log-format", "json", "run", "--config"])
        .arg(&config)
        .args(["--metrics-addr", &metrics_addr])
        .env("MANY_BENCH_TOKEN", &server.token);
    eprintln!(
        "==> many: {} workspaces, asana-audit run for {}s + {}s",
        settings.workspaces,
        settings.warm_up.as_secs(),
        settings.window.as_secs()
    );
    let mut window_cpu = None;
    let mut threads = None;
    let mut counts: Vec<u64> = Vec::new();
    let mut scrapes = 0;
    let mut last_scrape = String::new();
    let finished = run_measured_while(command, |pid| {
        let started = Instant::now();
        std::thread::sleep(settings.warm_up);
        let cpu_start = proc_cpu_seconds(pid)?;
        let window_start = Instant::now();
        // Scraped as Prometheus does (every 15 s by default), at least four times a window.
        let every = SCRAPE_EVERY.min(settings.window / 4);
        while window_start.elapsed() + every <= settings.window {
            std::thread::sleep(every);
            last_scrape = scrape(&metrics_addr)?;
            scrapes += 1;
        }
        std::thread::sleep(settings.window.saturating_sub(window_start.elapsed()));
        let cpu_end = proc_cpu_seconds(pid)?;
        window_cpu = Some((cpu_end - cpu_start, window_start.elapsed().as_secs_f64()));
        threads = proc_threads(pid);
        server.pause_live()?;
        let status = server.status()?;
        counts = status["workspace_events"]
            .as_array()
            .context("the mock's status has no workspace_events")?
            .iter()
            .map(|n| n.as_u64().unwrap_or(0))
            .collect();
        // One more poll for every source, to fetch what arrived before the pause.
        std::thread::sleep(settings.poll + Duration::from_secs(3));
        if started.elapsed() > settings.warm_up + settings.window + settings.poll * 3 {
            bail!("the scenario's timing slipped; the machine is too busy");
        }
        // SAFETY: kill(2) with a pid of our own child and a valid signal number.
        if unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) } != 0 {
            return Err(std::io::Error::last_os_error()).context("sending SIGINT");
        }
        Ok(())
    })?;
    if finished.status != "exit status 130" {
        bail!(
            "asana-audit run ended with {}, not 130 after SIGINT:\n{}",
            finished.status,
            tail(&finished.stderr)
        );
    }
    let requests = server.requests()?.saturating_sub(requests_before);
    let mut delivered = 0;
    let mut complete_sources = 0;
    for (i, expected) in counts.iter().enumerate() {
        let got = count_lines(&dir.join("out").join(i.to_string()))?;
        delivered += got;
        if got == *expected {
            complete_sources += 1;
        }
    }
    Ok(Figures {
        settings: settings.clone(),
        peak_rss_kib: finished
            .max_rss_kb
            .or(finished.polled_hwm_kb)
            .unwrap_or_default(),
        cpu_seconds: finished.cpu_seconds.unwrap_or_default(),
        wall_seconds: finished.wall_seconds,
        window_cpu,
        threads,
        requests,
        mock_events: counts.iter().sum(),
        delivered,
        complete_sources,
        exit: finished.status,
        scrapes,
        scraped_sources: scraped_sources(&last_scrape),
        scrape_bytes: last_scrape.len(),
    })
}

/// How often the collector's metrics are scraped in the measured window (Prometheus's default
/// scrape interval).
const SCRAPE_EVERY: Duration = Duration::from_secs(15);

/// A loopback address with a free port (released for the collector to take).
fn free_loopback_addr() -> Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.to_string())
}

/// GET /metrics from `addr`: the body of a 200 answer.
fn scrape(addr: &str) -> Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)
        .with_context(|| format!("connecting to the collector's metrics at {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    match response.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_owned()),
        _ => bail!(
            "the collector's /metrics did not answer 200: {}",
            tail(&response)
        ),
    }
}

/// The distinct `source` labels of `asana_audit_events_received_total` in a scrape.
fn scraped_sources(scrape: &str) -> usize {
    scrape
        .lines()
        .filter_map(|line| line.strip_prefix("asana_audit_events_received_total{source=\""))
        .filter_map(|rest| rest.split_once('"').map(|(source, _)| source))
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

/// The gids the mock derives from its first one (see `workspace_gid_at` in the mock).
fn workspace_gids(first: &str, count: usize) -> Vec<String> {
    let base: u64 = first.parse().unwrap_or_default();
    (0..count as u64).map(|i| (base + i).to_string()).collect()
}

/// One `[[source]]` per workspace, each with a directory output and its own checkpoint.
fn collector_toml(mock: &Mock, gids: &[String], settings: &Settings) -> String {
    let mut out = String::new();
    for (i, gid) in gids.iter().enumerate() {
        let _ = writeln!(
            out,
            "[[source]]\nname = \"ws{i}\"\nworkspace = \"{gid}\"\ntoken_env = \"MANY_BENCH_TOKEN\"\n\
             base_url = \"{}\"\noutput = \"out/{i}/\"\nencoding = \"ndjson\"\n\
             checkpoint = \"ckpt/{i}.ckpt\"\npoll_interval = \"{}s\"\nrequests_per_minute = {}\n",
            mock.base_url,
            settings.poll.as_secs(),
            settings.requests_per_minute
        );
    }
    out
}

/// User + system CPU seconds of a running process, from `/proc/PID/stat`.
fn proc_cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .context("reading the collector's /proc stat")?;
    // The fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .context("a malformed /proc stat")
    };
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok((ticks(11)? + ticks(12)?) / hz)
}

/// The thread count of a running process, from `/proc/PID/status`.
fn proc_threads(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
}

/// Lines (events) in the files under `dir`, leaving out hidden files and directories.
fn count_lines(dir: &Path) -> Result<u64> {
    let mut total = 0;
    let mut stack: Vec<PathBuf> = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else {
                let bytes =
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                total += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
            }
        }
    }
    Ok(total)
}

/// The last lines of a log, for an error message.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The targets: peak RSS per workspace and CPU as a share of one core.
pub fn checks(f: &Figures) -> Vec<Check> {
    vec![
        Check {
            what: format!(
                "many: peak RSS per workspace, {} workspaces",
                thousands(f.settings.workspaces as u64)
            ),
            value: exact(f.rss_per_workspace_kib()),
            unit: " KiB",
            target: RSS_TARGET_KIB,
            at_least: false,
        },
        Check {
            what: "many: CPU, % of one core (whole run)".to_owned(),
            value: exact(f.cpu_percent()),
            unit: " %",
            target: CPU_TARGET_PERCENT,
            at_least: false,
        },
        Check {
            what: "many: sources in the last /metrics scrape".to_owned(),
            value: exact(f.scraped_sources as f64),
            unit: "",
            target: f.settings.workspaces as f64,
            at_least: true,
        },
    ]
}

/// The scenario's part of the report (Markdown).
pub fn render(f: &Figures) -> String {
    let s = &f.settings;
    let mut out = String::new();
    let _ = writeln!(out, "### Many workspaces in one process\n");
    let _ = writeln!(
        out,
        "`asana-audit run` with {} `[[source]]`s (directory outputs, NDJSON, poll every {} s, \
         {} requests a minute each) against one mock serving {} workspaces of {} events, with \
         {} live events a second spread over them; {} s of warm-up (the backfill), a {} s \
         measured window with the collector's `/metrics` scraped, then live arrival paused, one \
         more poll interval, and SIGINT.\n",
        thousands(s.workspaces as u64),
        s.poll.as_secs(),
        s.requests_per_minute,
        thousands(s.workspaces as u64),
        s.events,
        s.live_rate,
        s.warm_up.as_secs(),
        s.window.as_secs()
    );
    let _ = writeln!(out, "| measure | value | target |\n| --- | --- | --- |");
    let _ = writeln!(
        out,
        "| peak RSS | {} KiB ({:.0} KiB per workspace) | ≤ {RSS_TARGET_KIB:.0} KiB per workspace |",
        thousands(f.peak_rss_kib),
        f.rss_per_workspace_kib()
    );
    let _ = writeln!(
        out,
        "| CPU, whole run | {:.2} s in {:.0} s: {:.2} s a minute, {:.2} % of one core | ≤ {CPU_TARGET_PERCENT} % |",
        f.cpu_seconds,
        f.wall_seconds,
        f.cpu_seconds * 60.0 / f.wall_seconds.max(1e-9),
        f.cpu_percent()
    );
    if let (Some((cpu, wall)), Some(percent)) = (f.window_cpu, f.window_cpu_percent()) {
        let _ = writeln!(
            out,
            "| CPU, measured window | {cpu:.2} s in {wall:.0} s: {:.2} s a minute, {percent:.2} % of one core | ≤ {CPU_TARGET_PERCENT} % |",
            cpu * 60.0 / wall.max(1e-9)
        );
    }
    if let Some(threads) = f.threads {
        let _ = writeln!(out, "| threads | {threads} | |");
    }
    let _ = writeln!(out, "| requests served | {} | |", thousands(f.requests));
    let _ = writeln!(
        out,
        "| /metrics scrapes in the window | {} (the last: {} bytes, {} sources) | every source |",
        f.scrapes,
        thousands(f.scrape_bytes as u64),
        thousands(f.scraped_sources as u64)
    );
    let _ = writeln!(
        out,
        "| events delivered / held by the mock | {} / {} | equal |",
        thousands(f.delivered),
        thousands(f.mock_events)
    );
    let _ = writeln!(
        out,
        "| sources complete | {} / {} | all |",
        thousands(f.complete_sources as u64),
        thousands(s.workspaces as u64)
    );
    let _ = writeln!(out, "| exit | {} | 130 |\n", f.exit);
    out
}
