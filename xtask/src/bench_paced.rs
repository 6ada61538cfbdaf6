//! The rate-limit scenarios of `cargo xtask bench` (`sustained`, `shared`, `recovery`): their
//! settings, the figures a run gives, the targets and the report's section.
//!
//! Time is compressed by [`SCALE`]: the mock allows `SCALE` × Asana's 1,500 requests a minute
//! and answers in a `SCALE`-th of a 300 ms page time, and the client is configured with the
//! scaled limit, so that a run of a few minutes stands for `SCALE` times as long against Asana.
//! Rates are reported as a share of the scaled bound and times in Asana's (scaled back) seconds.

use std::fmt::Write as _;

use crate::bench_stats::{Check, Stat, sig, thousands};

/// How many times faster than Asana the scenarios run.
pub const SCALE: u32 = 10;
/// Asana's limit per token on paid domains, requests a minute.
pub const ASANA_PER_MINUTE: u32 = 1_500;
/// The scaled bound: the mock's limit and the client's `requests_per_minute`.
pub const BOUND: u32 = SCALE * ASANA_PER_MINUTE;
/// The mock's bucket: a tenth of a minute's requests, so that a client overspending meets the
/// limit within seconds (the mock's default holds a whole minute's worth).
pub const MOCK_BURST: u32 = BOUND / 10;
/// The mock's latency: 150–450 ms a page at Asana's speed (300 ms on average).
pub const LATENCY: &str = "15ms..45ms";
/// The backfill concurrency of the library and the CLI (also their cap of requests in flight).
pub const CONCURRENCY: usize = 16;
/// What the other program on the token spends in the `shared` scenario: half the bound.
pub const OTHER_PER_MINUTE: u32 = BOUND / 2;
/// The `recovery` scenario's scripted 429s: this many, from this request number on.
pub const RECOVERY_429S: u64 = 50;
/// The first request answered with a scripted 429.
pub const RECOVERY_FROM: u64 = 3_000;
/// The scripted 429s' `Retry-After`, seconds (10 s at Asana's speed: the header has whole
/// seconds only, so it cannot be compressed).
pub const RECOVERY_RETRY_AFTER: u32 = 1;
/// Full rate, for the recovery time: this share of the bound over a window of [`WINDOW_MS`].
pub const FULL_RATE: f64 = 0.95;
/// The window over which the recovered rate is measured (10 s at Asana's speed).
pub const WINDOW_MS: f64 = 1_000.0;

/// One run of a rate-limit scenario.
#[derive(Debug, Clone, Default)]
pub struct PacedRun {
    /// `sustained`, `shared` or `recovery`.
    pub scenario: &'static str,
    /// Which client: `backfill(16)` (library) or `export --concurrency 16` (CLI).
    pub client: String,
    /// Events read.
    pub events: u64,
    /// The drain's time as the client measured it (compressed).
    pub seconds: f64,
    /// Our requests as the server counted them (the other program's left out).
    pub requests: u64,
    /// Our requests refused with a 429.
    pub http_429: u64,
    /// The other program's requests and 429s (`shared` only).
    pub other: Option<(u64, u64)>,
    /// Time from the last 429 back to full rate, seconds at Asana's speed (`recovery` only).
    pub recovery_s: Option<f64>,
    /// User plus system CPU time of the client process.
    pub cpu_seconds: Option<f64>,
    /// Peak RSS of the client process, KiB.
    pub max_rss_kb: Option<u64>,
}

impl PacedRun {
    /// Our requests a minute (compressed).
    pub fn per_minute(&self) -> f64 {
        self.requests as f64 / self.seconds.max(1e-9) * 60.0
    }

    /// The budget left to us: the bound less what the other program spent (refused requests
    /// count, as Asana counts them).
    pub fn budget(&self) -> f64 {
        let other = self.other.map_or(0.0, |(requests, _)| {
            requests as f64 / self.seconds.max(1e-9) * 60.0
        });
        f64::from(BOUND) - other
    }

    /// Events an hour at Asana's speed.
    pub fn events_per_hour(&self) -> f64 {
        self.events as f64 / (self.seconds.max(1e-9) * f64::from(SCALE)) * 3_600.0
    }
}

/// Every run of the rate-limit scenarios.
#[derive(Debug, Clone, Default)]
pub struct Paced {
    /// Events in the sustained and shared windows.
    pub events: u64,
    /// Every run, in order.
    pub runs: Vec<PacedRun>,
}

/// The time from the last 429 until a window of [`WINDOW_MS`], wholly after it and ending at an
/// answered page, holds [`FULL_RATE`] of the bound, in seconds at Asana's speed; `None` when
/// there was no 429 or the rate never came back. Times are milliseconds (compressed).
///
/// Timed from the last 429 rather than the first, this measures the client (its pause for the
/// last `Retry-After`, its climb back from the lowered pace, and the window itself) and not the
/// run of refusals the server scripted before it.
pub fn recovery_seconds(answered_ms: &[f64], throttled_ms: &[f64]) -> Option<f64> {
    let last = throttled_ms.iter().copied().reduce(f64::max)?;
    let wanted = FULL_RATE * f64::from(BOUND) / 60_000.0 * WINDOW_MS;
    let mut answered = answered_ms.to_vec();
    answered.sort_by(f64::total_cmp);
    let mut start = 0;
    for (i, &t) in answered.iter().enumerate() {
        while answered[start] <= t - WINDOW_MS {
            start += 1;
        }
        if t - WINDOW_MS >= last && (i + 1 - start) as f64 >= wanted {
            return Some((t - last) / 1_000.0 * f64::from(SCALE));
        }
    }
    None
}

pub(crate) fn exact(v: f64) -> Option<Stat> {
    Some(Stat {
        median: v,
        min: v,
        max: v,
    })
}

/// The targets for these scenarios.
pub fn checks(p: &Paced) -> Vec<Check> {
    let mut checks = Vec::new();
    for run in &p.runs {
        match run.scenario {
            "sustained" => {
                checks.push(Check {
                    what: format!("sustained, {}: requests a minute / bound", run.client),
                    value: exact(run.per_minute() / f64::from(BOUND)),
                    unit: "",
                    target: 0.95,
                    at_least: true,
                });
                checks.push(Check {
                    what: format!("sustained, {}: HTTP 429s", run.client),
                    value: exact(run.http_429 as f64),
                    unit: "",
                    target: 0.0,
                    at_least: false,
                });
            }
            "shared" => {
                checks.push(Check {
                    what: format!("shared, {}: our rate / budget left to us", run.client),
                    value: exact(run.per_minute() / run.budget()),
                    unit: "",
                    target: 0.9,
                    at_least: true,
                });
                checks.push(Check {
                    what: format!("shared, {}: our 429s / our requests", run.client),
                    value: exact(run.http_429 as f64 / run.requests.max(1) as f64 * 100.0),
                    unit: "%",
                    target: 1.0,
                    at_least: false,
                });
            }
            _ => {}
        }
    }
    checks
}

/// The report's section for these scenarios.
pub fn render(out: &mut String, p: &Paced) {
    let _ = writeln!(
        out,
        "#### Rate limit: time compressed {SCALE}×\n\nMock: {} requests a minute per token \
         (Asana's {} × {SCALE}) in a bucket of {}, latency {LATENCY} (150–450 ms at Asana's \
         speed), {} events over 89 days in the sustained and shared windows. Clients: \
         `requests_per_minute` {}, {CONCURRENCY} requests in flight.\n",
        thousands(u64::from(BOUND)),
        thousands(u64::from(ASANA_PER_MINUTE)),
        thousands(u64::from(MOCK_BURST)),
        thousands(p.events),
        thousands(u64::from(BOUND)),
    );
    out.push_str(
        "| scenario | client | events | seconds (× 10: at Asana's speed) | our requests | \
         requests/min ÷ bound | our 429s | other program: requests/min, 429s | ours ÷ budget left | \
         last 429 to full rate | events/hour at Asana's limits | CPU µs/event | peak RSS MiB |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for run in &p.runs {
        let other = run.other.map_or("—".to_owned(), |(requests, refused)| {
            format!(
                "{}, {}",
                thousands((requests as f64 / run.seconds * 60.0) as u64),
                thousands(refused)
            )
        });
        let share = if run.other.is_some() {
            format!("{:.3}", run.per_minute() / run.budget())
        } else {
            "—".to_owned()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} ({}) | {} | {:.3} | {} | {other} | {share} | {} | {} | {} | {} |",
            run.scenario,
            run.client,
            thousands(run.events),
            sig(run.seconds),
            sig(run.seconds * f64::from(SCALE)),
            thousands(run.requests),
            run.per_minute() / f64::from(BOUND),
            run.http_429,
            run.recovery_s
                .map_or("—".to_owned(), |s| format!("{} s", sig(s))),
            thousands(run.events_per_hour() as u64),
            run.cpu_seconds.map_or("?".to_owned(), |cpu| sig(
                cpu / run.events.max(1) as f64 * 1e6
            )),
            run.max_rss_kb
                .map_or("?".to_owned(), |kb| sig(kb as f64 / 1024.0)),
        );
    }
    out.push('\n');
    if let Some(run) = p.runs.iter().find(|r| r.scenario == "sustained") {
        let per_hour = run.events_per_hour();
        let _ = writeln!(
            out,
            "Days of log per hour of backfill at the sustained rate ({}, {} events an hour at \
             Asana's limits), by how many events the domain logs a day: 10,000 a day: {}; \
             100,000 a day: {}; 1,000,000 a day: {}. A 90-day backfill of 100,000 events a \
             day takes {} hours.\n",
            run.client,
            thousands(per_hour as u64),
            sig(per_hour / 10_000.0),
            sig(per_hour / 100_000.0),
            sig(per_hour / 1_000_000.0),
            sig(90.0 * 100_000.0 / per_hour),
        );
    }
    if p.runs.iter().any(|r| r.scenario == "recovery") {
        let _ = writeln!(
            out,
            "Recovery: requests {RECOVERY_FROM} to {} are answered 429 with `Retry-After: \
             {RECOVERY_RETRY_AFTER}` (10 s at Asana's speed), then service is normal; \"last 429 to \
             full rate\" runs from the last 429 the client met to the end of the first {} s window \
             (at Asana's speed) wholly after it that holds {:.0}% of the bound: the client's last \
             pause, its climb and the window itself.\n",
            RECOVERY_FROM + RECOVERY_429S - 1,
            sig(WINDOW_MS / 1_000.0 * f64::from(SCALE)),
            FULL_RATE * 100.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_is_timed_from_the_last_429_to_a_full_window() {
        // Full rate is 237.5 pages in a second; pages every 4 ms (250 a second) except for a
        // gap from 1 s to 3 s, with 429s at 1.0 and 1.5 s.
        let answered: Vec<f64> = (0..2_000)
            .map(|i| f64::from(i) * 4.0)
            .filter(|t| !(1_000.0..3_000.0).contains(t))
            .collect();
        let back = recovery_seconds(&answered, &[1_000.0, 1_500.0]).unwrap();
        // The first 1 s window after the gap that holds 238 pages ends at about 3.95 s: 2.45 s
        // after the last 429, 24.5 s at Asana's speed.
        assert!((24.0..=25.5).contains(&back), "{back}");
        assert_eq!(recovery_seconds(&answered, &[]), None);
        // Without a gap, the window still has to lie wholly after the last 429: 10 s at least.
        let steady: Vec<f64> = (0..2_000).map(|i| f64::from(i) * 4.0).collect();
        let back = recovery_seconds(&steady, &[1_000.0]).unwrap();
        assert!((10.0..=10.1).contains(&back), "{back}");
    }

    #[test]
    fn shares_and_rates() {
        let run = PacedRun {
            scenario: "shared",
            events: 600_000,
            seconds: 60.0,
            requests: 6_000,
            other: Some((7_500, 10)),
            ..PacedRun::default()
        };
        assert_eq!(run.per_minute(), 6_000.0);
        assert_eq!(run.budget(), 7_500.0);
        // 10,000 events a second compressed: 1,000 at Asana's speed, 3.6 million an hour.
        assert_eq!(run.events_per_hour(), 3_600_000.0);
        let checks = checks(&Paced {
            events: 600_000,
            runs: vec![run],
        });
        assert_eq!(checks.len(), 2);
        assert!(checks[0].verdict().contains("missed"), "0.8 of the budget");
    }
}
