//! The `alert-latency` scenario of `cargo xtask bench`: how long an alert takes from the event's
//! appearance at the mock to a webhook's receipt.
//!
//! One mock (limits off) with a small dataset; one `asana-audit follow --poll-interval 1s` of
//! it with the shipped rule pack, no dedup (`--alert-dedup 0s`, so every match is an alert) and
//! `--alert-webhook` pointing at a local HTTP receiver run by the benchmark, which notes when
//! each request arrives. After a warm-up (the backfill), events the pack matches (a team made
//! public, each naming its own team) are appended to the mock one at a time at a fixed gap that
//! is no divisor of the poll interval, so they fall at every phase of the poll; each one's
//! latency is from just before its append to the receipt of the alert that carries it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::bench_convert::read_command;
use crate::bench_paced::exact;
use crate::bench_proc::{Mock, MockSettings};
use crate::bench_stats::{Check, thousands};

/// The dataset seed.
const SEED: u64 = 7;
/// Events in the mock's initial dataset.
const DATASET: u64 = 200;
/// The prefix of the planted teams' gids; the alert's event names the team, which says which
/// planted event it carries.
const TEAM_GID_PREFIX: &str = "1209";

/// How many alerts and how fast.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Events planted (each raises one alert).
    pub alerts: usize,
    /// `follow`'s poll interval.
    pub poll: Duration,
    /// The gap between two planted events.
    pub gap: Duration,
    /// From the start of `follow` to the first planted event.
    pub warm_up: Duration,
}

impl Settings {
    /// The full run (240 alerts, about a minute) or the CI smoke run (20 alerts, a few
    /// seconds).
    pub fn new(smoke: bool) -> Settings {
        Settings {
            alerts: if smoke { 20 } else { 240 },
            poll: Duration::from_secs(1),
            gap: Duration::from_millis(if smoke { 130 } else { 230 }),
            warm_up: Duration::from_secs(if smoke { 2 } else { 3 }),
        }
    }
}

/// What the scenario measured.
#[derive(Clone, Debug)]
pub struct Figures {
    /// The settings it ran with.
    pub settings: Settings,
    /// Seconds from each planted event's append to its alert's receipt, for those received,
    /// sorted.
    pub latencies: Vec<f64>,
    /// Webhook requests that carried a planted event already received.
    pub repeats: usize,
}

impl Figures {
    /// The `q` quantile (0..=1) of the latencies, nearest rank; `None` when none arrived.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.latencies.len();
        if n == 0 {
            return None;
        }
        let rank = (q * n as f64).ceil() as usize;
        Some(self.latencies[rank.clamp(1, n) - 1])
    }
}

/// Webhook bodies and when each arrived.
type Received = Vec<(Instant, Value)>;

/// A local HTTP server that answers every POST with 200 and notes when each body arrived.
struct Receiver {
    url: String,
    received: Arc<Mutex<Received>>,
    stop: Arc<AtomicBool>,
    address: String,
}

impl Receiver {
    fn start() -> Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the webhook receiver")?;
        let address = listener.local_addr()?.to_string();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, stopped) = (received.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let sink = sink.clone();
                std::thread::spawn(move || serve_connection(stream, &sink));
            }
        });
        Ok(Receiver {
            url: format!("http://{address}/alerts"),
            received,
            stop,
            address,
        })
    }

    /// The bodies received so far, with their arrival times.
    fn received(&self) -> Received {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(&self.address);
    }
}

/// Answers the requests of one (keep-alive) connection until it closes.
fn serve_connection(stream: TcpStream, sink: &Mutex<Received>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let arrived = Instant::now();
        if let Ok(value) = serde_json::from_slice(&body)
            && let Ok(mut received) = sink.lock()
        {
            received.push((arrived, value));
        }
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

/// The planted event number `i`: a team made public, which the shipped pack alerts on.
fn planted(i: usize) -> Value {
    json!([{
        "event_type": "team_privacy_settings_changed",
        "event_category": "admin_settings",
        "actor": {"actor_type": "user", "gid": "1201", "email": "zoe@northwind.example"},
        "resource": {"resource_type": "team", "gid": format!("{TEAM_GID_PREFIX}{i:06}"), "name": format!("Team {i}")},
        "context": {"context_type": "web", "client_ip_address": "203.0.113.7"},
        "details": {"old_value": "private", "new_value": "public"},
    }])
}

/// Which planted event an alert carries, if any.
fn planted_index(alert: &Value) -> Option<usize> {
    alert["events"]
        .as_array()?
        .iter()
        .find_map(|event| {
            event["resource"]["gid"]
                .as_str()?
                .strip_prefix(TEAM_GID_PREFIX)
        })
        .and_then(|i| i.parse().ok())
}

/// Runs the scenario with the binaries `mock_binary` and `cli`.
pub fn run(mock_binary: &Path, cli: &Path, settings: &Settings) -> Result<Figures> {
    let mock = Mock::start(mock_binary, &MockSettings::unlimited(DATASET, SEED))?;
    let receiver = Receiver::start()?;
    let poll = format!("{}ms", settings.poll.as_millis());
    let mut command = read_command(cli, &mock, "follow");
    command
        .args(["--poll-interval", &poll, "--alert-dedup", "0s"])
        .args(["--alert-webhook", &receiver.url, "--output", "-"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    eprintln!(
        "==> alert latency: {} events planted every {} ms, follow --poll-interval {poll}",
        settings.alerts,
        settings.gap.as_millis()
    );
    let mut child = command.spawn().context("starting asana-audit follow")?;
    let outcome = plant_and_collect(&mock, &receiver, settings);
    let _ = child.kill();
    let _ = child.wait();
    let (planted_at, received) = outcome?;
    let mut arrivals: BTreeMap<usize, Instant> = BTreeMap::new();
    let mut repeats = 0;
    for (arrived, alert) in received {
        let Some(i) = planted_index(&alert) else {
            continue;
        };
        // A repeat counts as one; the event's latency is its first alert's.
        if i >= planted_at.len() || arrivals.contains_key(&i) {
            repeats += 1;
        } else {
            arrivals.insert(i, arrived);
        }
    }
    let mut latencies: Vec<f64> = arrivals
        .iter()
        .filter_map(|(&i, &arrived)| {
            Some(
                arrived
                    .checked_duration_since(*planted_at.get(i)?)?
                    .as_secs_f64(),
            )
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    if latencies.is_empty() {
        bail!("no alert of a planted event reached the webhook");
    }
    Ok(Figures {
        settings: settings.clone(),
        latencies,
        repeats,
    })
}

/// Plants the events after the warm-up and waits for their alerts (at most the poll interval
/// and 10 s after the last); gives each one's planting time and what the receiver got.
fn plant_and_collect(
    mock: &Mock,
    receiver: &Receiver,
    settings: &Settings,
) -> Result<(Vec<Instant>, Received)> {
    std::thread::sleep(settings.warm_up);
    let mut planted_at = Vec::with_capacity(settings.alerts);
    let start = Instant::now();
    for i in 0..settings.alerts {
        let due = start + settings.gap * i as u32;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        planted_at.push(Instant::now());
        mock.append(&planted(i))?;
    }
    let deadline = Instant::now() + settings.poll + Duration::from_secs(10);
    loop {
        let received = receiver.received();
        let done = received
            .iter()
            .filter(|(_, alert)| planted_index(alert).is_some())
            .count()
            >= settings.alerts;
        if done || Instant::now() >= deadline {
            return Ok((planted_at, received));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The target: p99 at most the poll interval plus this.
const SLACK: Duration = Duration::from_secs(1);

/// The scenario's rows of the targets table.
pub fn checks(f: &Figures) -> Vec<Check> {
    vec![
        Check {
            what: format!(
                "alert latency: p99, poll every {} s",
                f.settings.poll.as_secs_f64()
            ),
            value: f.quantile(0.99).and_then(exact),
            unit: " s",
            target: (f.settings.poll + SLACK).as_secs_f64(),
            at_least: false,
        },
        Check {
            what: "alert latency: planted events whose alert arrived".to_owned(),
            value: exact(f.latencies.len() as f64),
            unit: "",
            target: f.settings.alerts as f64,
            at_least: true,
        },
    ]
}

/// The scenario's part of the report (Markdown).
pub fn render(f: &Figures) -> String {
    let s = &f.settings;
    let mut out = String::new();
    let _ = writeln!(out, "### Alert latency\n");
    let _ = writeln!(
        out,
        "`asana-audit follow --poll-interval {} s` with the shipped rule pack and \
         `--alert-webhook` to a local receiver; {} events the pack matches planted at the mock, \
         one every {} ms after {} s of warm-up. From each event's append to its alert's \
         receipt: p50 {}, p99 {}, max {} ({} of {} alerts arrived, {} repeats).\n",
        s.poll.as_secs_f64(),
        thousands(s.alerts as u64),
        s.gap.as_millis(),
        s.warm_up.as_secs(),
        seconds(f.quantile(0.5)),
        seconds(f.quantile(0.99)),
        seconds(f.quantile(1.0)),
        thousands(f.latencies.len() as u64),
        thousands(s.alerts as u64),
        f.repeats
    );
    out
}

/// `1.234 s`, or `–` when not measured.
fn seconds(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.3} s"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let f = Figures {
            settings: Settings::new(true),
            latencies: (1..=200).map(f64::from).collect(),
            repeats: 0,
        };
        assert_eq!(f.quantile(0.5), Some(100.0));
        assert_eq!(f.quantile(0.99), Some(198.0));
        assert_eq!(f.quantile(1.0), Some(200.0));
    }

    #[test]
    fn an_alert_names_its_planted_event() {
        let event = planted(42)[0].clone();
        assert_eq!(planted_index(&json!({"events": [event]})), Some(42));
        assert_eq!(
            planted_index(&json!({"events": [{"resource": {"gid": "5"}}]})),
            None
        );
    }
}
