//! Where the rules' alerts go ([`AlertTarget`]) and how each is delivered ([`Deliverer`]): a
//! generic JSON webhook, a Slack incoming webhook, an NDJSON file or standard output.
//!
//! A webhook that answers 2xx has the alert. A 5xx, 408 or 429, a timeout or a connection that
//! fails is retried with exponential backoff (capped) until it is delivered; any other 4xx is
//! a refusal that retrying cannot change, so it is reported and not retried. Every alert
//! carries a stable id, so a receiver can drop one it already has.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use asana_audit_rules::{Alert, GeoFinding};
use serde_json::json;

use crate::error::Error;

/// Where alerts are delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlertTarget {
    /// Each alert POSTed as its JSON object to an `http://` or `https://` URL.
    Webhook(String),
    /// Each alert POSTed as a Slack message (`{"text": ...}`) to an incoming webhook's URL.
    Slack(String),
    /// Each alert appended to a file as one JSON line, synced before it counts as delivered.
    File(PathBuf),
    /// Each alert written to standard output as one JSON line.
    Stdout,
}

impl AlertTarget {
    /// A generic JSON webhook; refused unless `url` is an `http://` or `https://` URL.
    pub fn webhook(url: &str) -> Result<AlertTarget, Error> {
        check_http(url).map(|()| AlertTarget::Webhook(url.to_owned()))
    }

    /// A Slack incoming webhook; refused unless `url` is an `http://` or `https://` URL.
    pub fn slack(url: &str) -> Result<AlertTarget, Error> {
        check_http(url).map(|()| AlertTarget::Slack(url.to_owned()))
    }
}

impl std::fmt::Display for AlertTarget {
    /// The target for logs and metrics: a webhook by its scheme, host and port only (its path
    /// may hold a secret, as Slack's do; the port tells two receivers on one host apart).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = |url: &str| {
            url::Url::parse(url).map_or_else(
                |_| "?".to_owned(),
                |u| {
                    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
                    format!("{}://{}{port}", u.scheme(), u.host_str().unwrap_or("?"))
                },
            )
        };
        match self {
            AlertTarget::Webhook(url) => write!(f, "webhook {}", host(url)),
            AlertTarget::Slack(url) => write!(f, "slack {}", host(url)),
            AlertTarget::File(path) => write!(f, "file {}", path.display()),
            AlertTarget::Stdout => f.write_str("stdout"),
        }
    }
}

fn check_http(url: &str) -> Result<(), Error> {
    let refused = |reason: &str| Error::InvalidDestination {
        destination: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = url::Url::parse(url).map_err(|e| refused(&e.to_string()))?;
    match parsed.scheme() {
        "http" | "https" if parsed.host_str().is_some() => Ok(()),
        "http" | "https" => Err(refused("the URL has no host")),
        other => Err(refused(&format!(
            "a webhook is an http:// or https:// URL, not {other}://"
        ))),
    }
}

/// How delivery waits between attempts (plain fields; [`Default`] gives the values each names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    /// The first wait after a failed attempt (default 1 s); each next wait doubles it.
    pub first: Duration,
    /// The longest wait (default 60 s).
    pub max: Duration,
    /// How long one request may take before it counts as failed (default 10 s).
    pub timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            first: Duration::from_secs(1),
            max: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
        }
    }
}

/// What became of one alert at one target.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// The target has it, after this many attempts.
    Delivered {
        /// Attempts made, the last one successful.
        attempts: u32,
    },
    /// The webhook refused it with a 4xx other than 408 and 429: retrying would not help.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The start of the answer's body, for the report.
        body: String,
    },
}

/// Delivers alerts to [`AlertTarget`]s, retrying what can succeed later.
#[derive(Clone, Debug)]
pub struct Deliverer {
    http: reqwest::Client,
    retry: Retry,
}

/// One failed attempt: whether it may succeed later, and why it failed.
enum Failure {
    Transient(String),
    Refused { status: u16, body: String },
}

impl Deliverer {
    /// A deliverer that waits between attempts as `retry` says.
    pub fn new(retry: Retry) -> Result<Deliverer, Error> {
        let http = reqwest::Client::builder()
            .timeout(retry.timeout)
            .user_agent(concat!("asana-audit/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::InvalidDestination {
                destination: "webhook".to_owned(),
                reason: format!("cannot set up the HTTP client: {e}"),
            })?;
        Ok(Deliverer { http, retry })
    }

    /// Delivers `alert` to `target`: retried with backoff until it is delivered or refused
    /// (a 4xx other than 408 and 429). `on_retry` hears of each failed attempt that will be
    /// retried, with its reason and the wait before the next. Cancel the future to give up.
    pub async fn deliver(
        &self,
        target: &AlertTarget,
        alert: &Alert,
        on_retry: impl Fn(&str, Duration),
    ) -> Delivery {
        let mut wait = self.retry.first;
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.attempt(target, alert).await {
                Ok(()) => return Delivery::Delivered { attempts },
                Err(Failure::Refused { status, body }) => {
                    return Delivery::Refused { status, body };
                }
                Err(Failure::Transient(reason)) => {
                    on_retry(&reason, wait);
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.retry.max);
                }
            }
        }
    }

    async fn attempt(&self, target: &AlertTarget, alert: &Alert) -> Result<(), Failure> {
        let (url, body) = match target {
            AlertTarget::Webhook(url) => (url, serde_json::to_value(alert)),
            AlertTarget::Slack(url) => (url, Ok(slack_message(alert))),
            AlertTarget::File(path) => return append_line(Some(path), alert),
            AlertTarget::Stdout => return append_line(None, alert),
        };
        let body = body.map_err(|e| Failure::Transient(format!("cannot encode: {e}")))?;
        let answer = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| Failure::Transient(transport_error(&e)))?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
        }
        let text = answer.text().await.unwrap_or_default();
        let body: String = text.chars().take(200).collect();
        let code = status.as_u16();
        if status.is_client_error() && code != 408 && code != 429 {
            return Err(Failure::Refused { status: code, body });
        }
        Err(Failure::Transient(format!("HTTP {code}: {body}")))
    }
}

/// Why a request failed, without the URL (a webhook's path may hold a secret).
fn transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let cause = std::error::Error::source(e).map_or_else(String::new, |s| format!(": {s}"));
    format!("{kind}{cause}")
}

/// Appends `alert` as one JSON line to the file (synced) or standard output (flushed).
fn append_line(path: Option<&PathBuf>, alert: &Alert) -> Result<(), Failure> {
    let mut line = serde_json::to_vec(alert).map_err(|e| Failure::Transient(e.to_string()))?;
    line.push(b'\n');
    let written = match path {
        Some(path) => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut file| {
                file.write_all(&line)?;
                file.sync_data()
            })
            .map_err(|e| format!("cannot write {}: {e}", path.display())),
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(&line)
                .and_then(|()| stdout.flush())
                .map_err(|e| format!("cannot write standard output: {e}"))
        }
    };
    written.map_err(Failure::Transient)
}

/// The Slack message of `alert`: its level and title, what it found, and its id.
pub fn slack_message(alert: &Alert) -> serde_json::Value {
    let level = alert.level.map_or("-", |l| l.as_str()).to_uppercase();
    let what = if alert.correlation.is_some() {
        let group: Vec<String> = alert
            .group
            .iter()
            .map(|(field, value)| format!("{field} = {value}"))
            .collect();
        format!(
            "{} events from {} to {} ({})",
            alert.count,
            alert.window_start.to_rfc3339(),
            alert.window_end.to_rfc3339(),
            group.join(", ")
        )
    } else {
        let event = alert.events.first();
        let field = |path: &[&str]| {
            event
                .and_then(|e| path.iter().try_fold(e, |value, key| value.get(key)))
                .and_then(|v| v.as_str())
                .unwrap_or("-")
                .to_owned()
        };
        format!(
            "{} by {} from {} at {}",
            field(&["event_type"]),
            field(&["actor", "email"]),
            field(&["context", "client_ip_address"]),
            alert.window_start.to_rfc3339()
        )
    };
    const LISTED: usize = 10;
    let mut gids = alert
        .gids
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if alert.gids.len() > LISTED {
        gids.push_str(&format!(" and {} more", alert.gids.len() - LISTED));
    }
    let mut text = format!("*[{level}] {}*\n{what}\n", alert.title);
    match &alert.geo {
        Some(GeoFinding::NewCountry {
            country,
            seen,
            days,
        }) => text.push_str(&format!(
            "first login from {country} within {days} days (seen: {})\n",
            seen.join(", ")
        )),
        Some(GeoFinding::ImpossibleTravel {
            from, km, hours, ..
        }) => text.push_str(&format!(
            "{km} km in {hours} h from the previous login ({}, from {} at {})\n",
            from.gid,
            from.ip,
            from.created_at.to_rfc3339()
        )),
        _ => {}
    }
    for (ip, place) in alert.geoip.iter().take(LISTED) {
        let facts: Vec<String> = [
            place.country.clone(),
            place.city.clone(),
            place.asn.map(|asn| format!("AS{asn}")),
            place.as_organization.clone(),
        ]
        .into_iter()
        .flatten()
        .collect();
        text.push_str(&format!("{ip}: {}\n", facts.join(", ")));
    }
    if alert.geoip.len() > LISTED {
        text.push_str(&format!(
            "and {} more addresses\n",
            alert.geoip.len() - LISTED
        ));
    }
    text.push_str(&format!("events: {gids}\nalert {}", alert.id));
    json!({ "text": text })
}
