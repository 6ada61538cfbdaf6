//! The results of `cargo xtask bench` and their Markdown: tables, targets, and the generated
//! section of `BENCHMARKS.md` (between [`BEGIN`] and [`END`], replaced on each run). It gathers
//! what each scenario file measured; the statistics and number formats they share are in
//! [`bench_stats`](crate::bench_stats).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::bench_profile::Profile;
use crate::bench_stats::{Check, Stat, show, sig, stat, thousands};

/// Opens the generated section of `BENCHMARKS.md`.
pub const BEGIN: &str =
    "<!-- cargo xtask bench: generated section begins; edits inside are lost on the next run -->";
/// Closes the generated section of `BENCHMARKS.md`.
pub const END: &str = "<!-- cargo xtask bench: generated section ends -->";

/// One run of one contender.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// The contender (`stream`, `cli`, `backfill(8)`, ...).
    pub name: String,
    /// A variant of the scenario (e.g. which client limits), empty when there is none.
    pub variant: String,
    /// The repetition, from 0.
    pub rep: usize,
    /// Events read.
    pub events: u64,
    /// Drain time reported by the contender (the process's wall time for the CLI).
    pub seconds: f64,
    /// Response body bytes, where the contender sees them.
    pub page_bytes: Option<u64>,
    /// Requests the server answered during the run.
    pub requests: u64,
    /// User plus system CPU time of the contender process.
    pub cpu_seconds: Option<f64>,
    /// Peak resident set size of the contender process, KiB.
    pub max_rss_kb: Option<u64>,
    /// Retries the ergonomic client logged (stream and backfill only).
    pub retries: Option<u64>,
    /// Of those, retries after an HTTP 429.
    pub http_429: Option<u64>,
    /// Requests and 429s of another program on the same token, when one ran.
    pub other: Option<(u64, u64)>,
    /// When pages were answered, ms (with a timeline).
    pub answered_ms: Vec<f64>,
    /// When 429s arrived, ms (with a timeline).
    pub throttled_ms: Vec<f64>,
}

impl Sample {
    /// Events per second.
    pub fn events_per_s(&self) -> f64 {
        self.events as f64 / self.seconds.max(1e-9)
    }
}

/// Where and how the benchmark ran.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// The command line, as typed.
    pub command: String,
    /// UTC date and time of the run.
    pub date: String,
    /// `git rev-parse --short HEAD`, with a note when the tree had uncommitted changes.
    pub commit: String,
    /// Logical CPUs.
    pub cores: usize,
    /// `/proc/cpuinfo` model name.
    pub cpu: String,
    /// Total memory, GiB.
    pub memory_gib: f64,
    /// `rustc --version`.
    pub rustc: String,
    /// `/proc/loadavg` before the run (1, 5, 15 minutes).
    pub load_before: String,
    /// `/proc/loadavg` after the run.
    pub load_after: String,
    /// `release` or `debug`.
    pub build: String,
    /// Repetitions.
    pub reps: usize,
}

/// The throughput scenario: every contender on one server and dataset.
#[derive(Debug, Clone, Default)]
pub struct Throughput {
    /// Events in the dataset.
    pub events: u64,
    /// Page size.
    pub page_size: u32,
    /// Every run.
    pub samples: Vec<Sample>,
}

/// The latency scenario: sequential against concurrent, with a fixed delay per response.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    /// Events in the window.
    pub events: u64,
    /// Delay added to every response, milliseconds.
    pub latency_ms: u64,
    /// Every run; `variant` says which client limits.
    pub samples: Vec<Sample>,
}

/// The memory scenario: the same drain over two dataset sizes.
#[derive(Debug, Clone, Default)]
pub struct Memory {
    /// The smaller dataset.
    pub small: u64,
    /// The larger dataset.
    pub large: u64,
    /// Every run; `name` is the event count.
    pub samples: Vec<Sample>,
}

/// Everything one run of the benchmark measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Where and how.
    pub meta: Meta,
    /// Throughput scenario, if run.
    pub throughput: Option<Throughput>,
    /// Latency scenario, if run.
    pub latency: Option<Latency>,
    /// Memory scenario, if run.
    pub memory: Option<Memory>,
    /// Callgrind profile, if run.
    pub profile: Option<Profile>,
    /// Archive conversion scenario, if run.
    pub convert: Option<crate::bench_convert::Figures>,
    /// The report scenario, if run.
    pub report: Option<crate::bench_audit_report::Figures>,
    /// The rate-limit scenarios, if run.
    pub paced: Option<crate::bench_paced::Paced>,
    /// The many-workspaces scenario, if run.
    pub many: Option<crate::bench_many::Figures>,
    /// The alert-latency scenario, if run.
    pub alert_latency: Option<crate::bench_alert::Figures>,
    /// The alert-cost scenario, if run.
    pub alert_cost: Option<crate::bench_alert_cost::Figures>,
    /// The backtest scenario, if run.
    pub backtest: Option<crate::bench_backtest::Figures>,
}

/// The throughput contenders, in table order, with what each one does.
pub const CONTENDERS: &[(&str, &str)] = &[
    (
        "bytes",
        "reqwest, page bytes only; next offset by substring search",
    ),
    (
        "hand-written",
        "reqwest + `serde_json::Value` per page, following offsets",
    ),
    (
        "generated",
        "generated client (`asana-audit-log-api`), paging by hand",
    ),
    (
        "stream",
        "`asana-audit-log` `.stream()`, every event an `AuditLogEvent`, client rate limit off",
    ),
    (
        "stream-views",
        "as `stream`, and reads every typed view of every event (actor, resource, context, details, extra fields)",
    ),
    (
        "cli",
        "`asana-audit export` to an NDJSON file, `--requests-per-minute 0`",
    ),
    (
        "python-asana",
        "official Python client `asana` 5.4.0, `item_limit` = event count",
    ),
];

/// The even pace of the client's default pacer, per second (1,500 in any minute: 30 at once,
/// then 1,471 a minute).
pub const DEFAULT_RATE_PER_S: f64 = 1_471.0 / 60.0;
/// The burst of the client's default pacer (a fiftieth of the minute's 1,500).
pub const DEFAULT_RATE_BURST: f64 = 30.0;
/// The client's default concurrency cap.
pub const DEFAULT_CONCURRENCY_CAP: usize = 10;

fn of<'a>(samples: &'a [Sample], name: &'a str, variant: &'a str) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.name == name && s.variant == variant)
        .collect()
}

/// The per-repetition ratio `a / b` of events per second (runs are interleaved, so the two of a
/// repetition ran under the same conditions), summarised.
pub fn paired_ratio(samples: &[Sample], a: (&str, &str), b: (&str, &str)) -> Option<Stat> {
    let mut by_rep: BTreeMap<usize, (Option<f64>, Option<f64>)> = BTreeMap::new();
    for s in samples {
        if (s.name.as_str(), s.variant.as_str()) == a {
            by_rep.entry(s.rep).or_default().0 = Some(s.events_per_s());
        }
        if (s.name.as_str(), s.variant.as_str()) == b {
            by_rep.entry(s.rep).or_default().1 = Some(s.events_per_s());
        }
    }
    stat(by_rep.values().filter_map(|pair| match pair {
        (Some(x), Some(y)) => Some(x / y),
        _ => None,
    }))
}

/// Every target of the issue that this report can judge.
pub fn checks(report: &Report) -> Vec<Check> {
    let mut checks = Vec::new();
    if let Some(t) = &report.throughput {
        let ratio = |a: &str, b: &str| paired_ratio(&t.samples, (a, ""), (b, ""));
        for (a, b, target) in [
            ("stream", "hand-written", 1.0),
            ("cli", "stream", 0.8),
            ("stream-views", "hand-written", 1.0),
        ] {
            if of(&t.samples, a, "").is_empty() || of(&t.samples, b, "").is_empty() {
                continue;
            }
            checks.push(Check {
                what: format!("{a} / {b}, events/s"),
                value: ratio(a, b),
                unit: "×",
                target,
                at_least: true,
            });
        }
    }
    if let Some(l) = &report.latency {
        for variant in latency_variants(l) {
            // With the client's default pace, a backfill of this 218-request window is held to
            // 24.5 requests a second after a burst of 30: it measures the pace, which the
            // sustained scenario measures properly, so the concurrency target is judged with
            // the client's rate limit off only.
            if variant == DEFAULT_LIMITS || of(&l.samples, "backfill(8)", &variant).is_empty() {
                continue;
            }
            checks.push(Check {
                what: format!("backfill(8) / sequential, {variant}"),
                value: paired_ratio(
                    &l.samples,
                    ("backfill(8)", &variant),
                    ("sequential", &variant),
                ),
                unit: "×",
                target: 6.0,
                at_least: true,
            });
        }
        let rate_limited: Vec<f64> = l
            .samples
            .iter()
            .filter(|s| s.variant == DEFAULT_LIMITS)
            .filter_map(|s| s.http_429.map(|n| n as f64))
            .collect();
        if !rate_limited.is_empty() {
            checks.push(Check {
                what: format!("HTTP 429s, all latency runs with {DEFAULT_LIMITS} (sum)"),
                value: Some(Stat {
                    median: rate_limited.iter().sum(),
                    min: rate_limited.iter().sum(),
                    max: rate_limited.iter().sum(),
                }),
                unit: "",
                target: 0.0,
                at_least: false,
            });
        }
    }
    if let Some(p) = &report.paced {
        checks.extend(crate::bench_paced::checks(p));
    }
    if let Some(f) = &report.many {
        checks.extend(crate::bench_many::checks(f));
    }
    if let Some(f) = &report.alert_latency {
        checks.extend(crate::bench_alert::checks(f));
    }
    if let Some(f) = &report.alert_cost {
        checks.extend(crate::bench_alert_cost::checks(f));
    }
    if let Some(f) = &report.backtest {
        checks.extend(crate::bench_backtest::checks(f));
    }
    if let Some(m) = &report.memory {
        let rss = |events: u64| {
            stat(
                m.samples
                    .iter()
                    .filter(|s| s.events == events)
                    .filter_map(|s| s.max_rss_kb.map(|kb| kb as f64 / 1024.0)),
            )
        };
        let (small, large) = (rss(m.small), rss(m.large));
        checks.push(Check {
            what: format!("peak RSS at {} events", thousands(m.large)),
            value: large,
            unit: " MiB",
            target: 64.0,
            at_least: false,
        });
        if let (Some(s), Some(l)) = (small, large) {
            checks.push(Check {
                what: format!(
                    "peak RSS at {} / at {} events",
                    thousands(m.large),
                    thousands(m.small)
                ),
                value: Some(Stat {
                    median: l.median / s.median,
                    min: l.min / s.max,
                    max: l.max / s.min,
                }),
                unit: "×",
                target: 1.2,
                at_least: false,
            });
        }
    }
    checks
}

/// The variant name of latency runs with the client's default limits.
pub const DEFAULT_LIMITS: &str = "default client limits";
/// The variant name of latency runs without the client's rate limit.
pub const NO_RATE_LIMIT: &str = "client rate limit off";

fn latency_variants(l: &Latency) -> Vec<String> {
    let mut variants: Vec<String> = Vec::new();
    for s in &l.samples {
        if !variants.contains(&s.variant) {
            variants.push(s.variant.clone());
        }
    }
    variants
}

/// The concurrency a latency run can use: 1 for `sequential`, else `backfill(K)` capped by the
/// client's concurrency cap.
fn effective_concurrency(name: &str, variant: &str) -> usize {
    let k = name
        .strip_prefix("backfill(")
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|k| k.parse().ok())
        .unwrap_or(1);
    if variant == DEFAULT_LIMITS {
        k.min(DEFAULT_CONCURRENCY_CAP)
    } else {
        k
    }
}

/// Renders the generated section (markers included).
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let m = &report.meta;
    let _ = writeln!(out, "{BEGIN}\n");
    let _ = writeln!(out, "### Last run\n");
    let _ = writeln!(out, "- Command: `{}` ({} build)", m.command, m.build);
    let _ = writeln!(out, "- Date: {}; commit {}", m.date, m.commit);
    let _ = writeln!(
        out,
        "- Machine: {} logical CPUs, \"{}\", {:.0} GiB RAM; {}",
        m.cores, m.cpu, m.memory_gib, m.rustc
    );
    let _ = writeln!(
        out,
        "- Load average (1, 5, 15 min): {} before, {} after (the machine is shared: other builds and tests may have run meanwhile)",
        m.load_before, m.load_after
    );
    let _ = writeln!(
        out,
        "- Repetitions: {}, interleaved (each repetition runs every contender once, starting at a different one); figures are medians with the min–max range",
        m.reps
    );
    out.push('\n');

    if let Some(p) = &report.paced {
        crate::bench_paced::render(&mut out, p);
    }
    if let Some(t) = &report.throughput {
        render_throughput(&mut out, t);
    }
    let checks = checks(report);
    if !checks.is_empty() {
        let _ = writeln!(out, "#### Targets\n");
        out.push_str("| target | measured | wanted | verdict |\n| --- | --- | --- | --- |\n");
        for check in &checks {
            out.push_str(&check.row());
        }
        out.push('\n');
    }
    if let Some(l) = &report.latency {
        render_latency(&mut out, l);
    }
    if let Some(mem) = &report.memory {
        render_memory(&mut out, mem);
    }
    if let Some(p) = &report.profile {
        render_profile(&mut out, p);
    }
    if let Some(figures) = &report.convert {
        out.push_str(&crate::bench_convert::render(figures));
    }
    if let Some(figures) = &report.report {
        out.push_str(&crate::bench_audit_report::render(figures));
    }
    if let Some(figures) = &report.many {
        out.push_str(&crate::bench_many::render(figures));
    }
    if let Some(figures) = &report.alert_latency {
        out.push_str(&crate::bench_alert::render(figures));
    }
    if let Some(figures) = &report.alert_cost {
        out.push_str(&crate::bench_alert_cost::render(figures));
    }
    if let Some(figures) = &report.backtest {
        out.push_str(&crate::bench_backtest::render(figures));
    }
    let _ = writeln!(out, "{END}");
    out
}

fn render_throughput(out: &mut String, t: &Throughput) {
    let _ = writeln!(
        out,
        "#### Throughput: {} events, pages of {}, mock limits off\n",
        thousands(t.events),
        t.page_size
    );
    // Every contender asks for the same pages, so the page bytes one of them saw hold for all.
    let page_bytes = t.samples.iter().filter_map(|s| s.page_bytes).max();
    out.push_str(
        "| contender | what it does | events/s | MB/s | seconds | CPU s (client) | peak RSS MiB | requests |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for (name, what) in CONTENDERS {
        let runs = of(&t.samples, name, "");
        if runs.is_empty() {
            continue;
        }
        let eps = stat(runs.iter().map(|s| s.events_per_s()));
        let mbps = page_bytes.and_then(|b| stat(runs.iter().map(|s| b as f64 / 1e6 / s.seconds)));
        let secs = stat(runs.iter().map(|s| s.seconds));
        let cpu = stat(runs.iter().filter_map(|s| s.cpu_seconds));
        let rss = stat(
            runs.iter()
                .filter_map(|s| s.max_rss_kb.map(|kb| kb as f64 / 1024.0)),
        );
        let requests = stat(runs.iter().map(|s| s.requests as f64));
        let _ = writeln!(
            out,
            "| {name} | {what} | {} | {} | {} | {} | {} | {} |",
            show(eps, sig),
            show(mbps, sig),
            show(secs, sig),
            show(cpu, sig),
            show(rss, sig),
            show(requests, sig),
        );
    }
    let _ = writeln!(
        out,
        "\nMB/s counts response bodies ({} bytes for the whole dataset, as the contenders that see them measured; 10^6 bytes a MB). \
         \"seconds\" is the drain as the contender timed it (from its first request to its last event; for `cli`, the export as it logs it, from its start to its last durable save; process start-up is left out of all of them). \
         CPU time (user + system, `wait4`) and peak RSS are the contender process's own, server excluded; \
         peak RSS is `VmHWM`, reported by the contender at exit (`cli`: polled from `/proc` every 10 ms). Requests are counted by the server.\n",
        page_bytes.map_or("unknown".to_owned(), thousands)
    );
    // CPU per event shows what a contender would do without the network model's limits.
    let cpu_per_event: Vec<(String, Option<Stat>)> = CONTENDERS
        .iter()
        .map(|(name, _)| {
            let runs = of(&t.samples, name, "");
            (
                (*name).to_owned(),
                stat(
                    runs.iter()
                        .filter_map(|s| s.cpu_seconds.map(|c| c * 1e6 / s.events.max(1) as f64)),
                ),
            )
        })
        .filter(|(_, s)| s.is_some())
        .collect();
    if !cpu_per_event.is_empty() {
        let _ = writeln!(
            out,
            "Client CPU per event (µs, whole process, start-up included): {}.\n",
            cpu_per_event
                .iter()
                .map(|(name, s)| format!("{name} {}", show(*s, sig)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

fn render_latency(out: &mut String, l: &Latency) {
    let _ = writeln!(
        out,
        "#### Latency: {} events, {} ms added to every response, mock's default limits (1,500 requests/min, 50 in flight)\n",
        thousands(l.events),
        l.latency_ms
    );
    out.push_str(
        "| client limits | mode | seconds | events/s | × sequential | requests | 429s | floor: rate | floor: latency |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    let latency = l.latency_ms as f64 / 1000.0;
    for variant in latency_variants(l) {
        let mut names: Vec<&str> = Vec::new();
        for s in l.samples.iter().filter(|s| s.variant == variant) {
            if !names.contains(&s.name.as_str()) {
                names.push(&s.name);
            }
        }
        for name in names {
            let runs = of(&l.samples, name, &variant);
            let secs = stat(runs.iter().map(|s| s.seconds));
            let eps = stat(runs.iter().map(|s| s.events_per_s()));
            let speedup = paired_ratio(&l.samples, (name, &variant), ("sequential", &variant));
            let requests = stat(runs.iter().map(|s| s.requests as f64));
            let r429: u64 = runs.iter().filter_map(|s| s.http_429).sum();
            let retries: u64 = runs.iter().filter_map(|s| s.retries).sum();
            let median_requests = requests.map_or(0.0, |r| r.median);
            let rate_floor = if variant == DEFAULT_LIMITS {
                ((median_requests - DEFAULT_RATE_BURST) / DEFAULT_RATE_PER_S).max(0.0)
            } else {
                0.0
            };
            let k = effective_concurrency(name, &variant) as f64;
            let latency_floor = (median_requests / k).ceil() * latency;
            let _ = writeln!(
                out,
                "| {variant} | {name} | {} | {} | {} | {} | {r429}{} | {} s | {} s |",
                show(secs, sig),
                show(eps, sig),
                show(speedup, |v| format!("{}×", sig(v))),
                show(requests, sig),
                if retries > r429 {
                    format!(" (+{} other retries)", retries - r429)
                } else {
                    String::new()
                },
                sig(rate_floor),
                sig(latency_floor),
            );
        }
    }
    let _ = writeln!(
        out,
        "\nEach run has a fresh server (a full rate-limit bucket) and reads the window [now − 31 days, now + 1 s), which holds every event. \
         429s are the client's retries after an HTTP 429 (none means the server never refused a request); requests are the server's count. \
         \"floor: rate\" is the time the client's default pacer (1,500 in any minute: a burst of {} and then {:.1} a second) needs for that many requests; \
         \"floor: latency\" is requests ÷ concurrency × latency (backfill concurrency capped at the client's {} in flight with default limits). \
         The larger floor is what bounds the run.\n",
        DEFAULT_RATE_BURST, DEFAULT_RATE_PER_S, DEFAULT_CONCURRENCY_CAP
    );
}

fn render_memory(out: &mut String, m: &Memory) {
    let _ = writeln!(
        out,
        "#### Memory: peak RSS of the `stream` drain (client rate limit off)\n"
    );
    out.push_str("| events | peak RSS MiB | seconds | events/s |\n| --- | --- | --- | --- |\n");
    for events in [m.small, m.large] {
        let runs: Vec<&Sample> = m.samples.iter().filter(|s| s.events == events).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            thousands(events),
            show(
                stat(
                    runs.iter()
                        .filter_map(|s| s.max_rss_kb.map(|kb| kb as f64 / 1024.0))
                ),
                sig
            ),
            show(stat(runs.iter().map(|s| s.seconds)), sig),
            show(stat(runs.iter().map(|s| s.events_per_s())), sig),
        );
    }
    let _ = writeln!(
        out,
        "\nThe client process alone (its `VmHWM` at exit); the server holding {} events uses far more, in its own process.\n",
        thousands(m.large)
    );
}

fn render_profile(out: &mut String, p: &Profile) {
    let _ = writeln!(
        out,
        "#### Profile: `stream` drain of {} events under callgrind\n",
        thousands(p.events)
    );
    let pct = |n: u64| format!("{:.1}%", n as f64 * 100.0 / p.total.max(1) as f64);
    let _ = writeln!(
        out,
        "{} instructions in all, {} per event (client process only; the server is not profiled).\n",
        thousands(p.total),
        thousands(p.total / p.events.max(1))
    );
    out.push_str(
        "By kind of work (instructions in each function's own code, inlined callees included):\n\n",
    );
    out.push_str("| kind | share |\n| --- | --- |\n");
    for (kind, n) in &p.by_kind {
        let _ = writeln!(out, "| {kind} | {} |", pct(*n));
    }
    out.push_str(
        "\nLandmarks (with everything they call):\n\n| function | share |\n| --- | --- |\n",
    );
    for (label, n) in &p.landmarks {
        let _ = writeln!(out, "| {label} | {} |", pct(*n));
    }
    out.push_str("\nTop functions by own instructions:\n\n| function | share |\n| --- | --- |\n");
    for (function, n) in p.by_function.iter().take(15) {
        let _ = writeln!(out, "| `{}` | {} |", shorten(function), pct(*n));
    }
    out.push('\n');
}

/// A function name short enough for a table: generic parameters nested inside other angle
/// brackets are elided, and very long names cut.
pub fn shorten(function: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in function.chars() {
        match c {
            '<' => {
                depth += 1;
                match depth {
                    1 => out.push('<'),
                    2 => out.push_str("<…"),
                    _ => {}
                }
            }
            '>' => {
                if depth == 1 || depth == 2 {
                    out.push('>');
                }
                depth = depth.saturating_sub(1);
            }
            // A pipe would end a Markdown table cell.
            '|' if depth <= 1 => out.push('¦'),
            _ if depth <= 1 => out.push(c),
            _ => {}
        }
    }
    if out.chars().count() > 110 {
        let cut: String = out.chars().take(110).collect();
        format!("{cut}…")
    } else {
        out
    }
}

/// Puts `section` (markers included) in place of the generated section of `document`, or at
/// its end when it has none; everything outside the markers is kept.
pub fn splice(document: &str, section: &str) -> String {
    match (document.find(BEGIN), document.find(END)) {
        (Some(begin), Some(end)) if end > begin => {
            let after = &document[end + END.len()..];
            let after = after.strip_prefix('\n').unwrap_or(after);
            format!("{}{section}{after}", &document[..begin])
        }
        _ => {
            let mut out = document.trim_end().to_owned();
            out.push_str("\n\n");
            out.push_str(section);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str, rep: usize, events: u64, seconds: f64) -> Sample {
        Sample {
            name: name.to_owned(),
            rep,
            events,
            seconds,
            ..Sample::default()
        }
    }

    #[test]
    fn ratios_pair_runs_of_the_same_repetition() {
        let samples = vec![
            sample("a", 0, 100, 1.0),
            sample("b", 0, 100, 2.0),
            sample("a", 1, 100, 4.0),
            sample("b", 1, 100, 4.0),
            sample("a", 2, 100, 1.0), // no b in repetition 2: not paired
        ];
        let r = paired_ratio(&samples, ("a", ""), ("b", "")).unwrap();
        assert_eq!((r.min, r.max, r.median), (1.0, 2.0, 1.5));
    }

    #[test]
    fn splice_replaces_only_the_generated_section() {
        let old = format!("# B\n\n## Mock server\n\ntext\n\n{BEGIN}\nold\n{END}\n\n## After\n");
        let new = splice(&old, &format!("{BEGIN}\nnew\n{END}\n"));
        assert!(new.starts_with("# B\n\n## Mock server\n\ntext\n\n"));
        assert!(new.contains("new") && !new.contains("old"));
        assert!(new.ends_with(&format!("{END}\n\n## After\n")));
        // Without markers the section is appended.
        let appended = splice("# B\n", &format!("{BEGIN}\nx\n{END}\n"));
        assert_eq!(appended, format!("# B\n\n{BEGIN}\nx\n{END}\n"));
    }

    #[test]
    fn function_names_are_shortened() {
        assert_eq!(
            shorten("<alloc::vec::Vec<T,A> as core::ops::Drop>::drop"),
            "<alloc::vec::Vec<…> as core::ops::Drop>::drop"
        );
    }

    #[test]
    fn render_has_the_markers_and_the_tables() {
        let report = Report {
            throughput: Some(Throughput {
                events: 100,
                page_size: 100,
                samples: vec![
                    sample("stream", 0, 100, 1.0),
                    sample("hand-written", 0, 100, 2.0),
                ],
            }),
            ..Report::default()
        };
        let text = render(&report);
        assert!(text.starts_with(BEGIN) && text.trim_end().ends_with(END));
        assert!(text.contains("| stream |"));
        assert!(text.contains("| stream / hand-written, events/s | 2× | ≥ 1× | met |"));
    }
}
