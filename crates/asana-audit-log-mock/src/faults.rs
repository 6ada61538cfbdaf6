//! Faults on demand: scripted per request number, or drawn per request from a seed.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::prng::SplitMix64;

/// One thing that can go wrong with a response.
///
/// A fault replaces or damages the response to one request; it never changes what a later
/// request sees (offset tokens are self-contained), so retrying the same request returns the
/// right page.
///
/// The text form (used by the binary's `--fault` and `--chance` flags) is shown per variant.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// `500`: status 500 with an error body carrying a `phrase`.
    InternalServerError,
    /// `502`: status 502 with an error body carrying a `phrase`.
    BadGateway,
    /// `503`: status 503 with an error body carrying a `phrase`.
    ServiceUnavailable,
    /// `429` or `429:SECS`: status 429 with `Retry-After: SECS` (default 1) and an error body.
    TooManyRequests {
        /// The `Retry-After` value in seconds.
        retry_after_secs: u32,
    },
    /// `reset`: the request is read, then the connection is reset (TCP RST) without a byte of
    /// response.
    ResetBeforeResponse,
    /// `reset-mid-body`: the status line, headers (with the full `Content-Length`) and about
    /// half of the body are sent, then the connection is reset.
    ResetMidBody,
    /// `truncate`: the status line, headers (with the full `Content-Length`) and about half of
    /// the body are sent, then the connection is closed normally. The classic cut-short body:
    /// an HTTP client reports an incomplete message.
    TruncatedBody,
    /// `truncate-json`: a complete, well-framed HTTP response whose `Content-Length` matches a
    /// body cut in half, as a broken proxy would send it: HTTP succeeds, JSON decoding fails.
    TruncatedJson,
    /// `delay:DURATION` (for example `delay:250ms`, `delay:2s`): the response is held back
    /// this long. Combines with one of the other faults on the same request.
    Delay(Duration),
}

impl Fault {
    /// The HTTP status this fault answers with, when it replaces the response.
    pub fn status(&self) -> Option<u16> {
        match self {
            Fault::InternalServerError => Some(500),
            Fault::BadGateway => Some(502),
            Fault::ServiceUnavailable => Some(503),
            Fault::TooManyRequests { .. } => Some(429),
            _ => None,
        }
    }

    fn is_delay(&self) -> bool {
        matches!(self, Fault::Delay(_))
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::InternalServerError => f.write_str("500"),
            Fault::BadGateway => f.write_str("502"),
            Fault::ServiceUnavailable => f.write_str("503"),
            Fault::TooManyRequests { retry_after_secs } => write!(f, "429:{retry_after_secs}"),
            Fault::ResetBeforeResponse => f.write_str("reset"),
            Fault::ResetMidBody => f.write_str("reset-mid-body"),
            Fault::TruncatedBody => f.write_str("truncate"),
            Fault::TruncatedJson => f.write_str("truncate-json"),
            Fault::Delay(d) => write!(f, "delay:{}ms", d.as_millis()),
        }
    }
}

/// Parses a duration such as `250ms`, `2s`, `1.5s`, `3m` or a bare number of milliseconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "ms"),
    };
    let value: f64 = num.parse().map_err(|_| format!("not a duration: {s:?}"))?;
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => {
            return Err(format!(
                "unknown duration unit in {s:?} (use ms, s, m, h or d)"
            ));
        }
    };
    if !(value.is_finite() && value >= 0.0) {
        return Err(format!("not a duration: {s:?}"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (head, arg) = match s.split_once(':') {
            Some((h, a)) => (h, Some(a)),
            None => (s, None),
        };
        let fault = match (head, arg) {
            ("500", None) => Fault::InternalServerError,
            ("502", None) => Fault::BadGateway,
            ("503", None) => Fault::ServiceUnavailable,
            ("429", None) => Fault::TooManyRequests {
                retry_after_secs: 1,
            },
            ("429", Some(secs)) => Fault::TooManyRequests {
                retry_after_secs: secs
                    .parse()
                    .map_err(|_| format!("bad Retry-After in {s:?}"))?,
            },
            ("reset", None) => Fault::ResetBeforeResponse,
            ("reset-mid-body", None) => Fault::ResetMidBody,
            ("truncate", None) => Fault::TruncatedBody,
            ("truncate-json", None) => Fault::TruncatedJson,
            ("delay", Some(d)) => Fault::Delay(parse_duration(d)?),
            _ => {
                return Err(format!(
                    "unknown fault {s:?}: expected 500, 502, 503, 429[:SECS], reset, \
                     reset-mid-body, truncate, truncate-json or delay:DURATION"
                ));
            }
        };
        Ok(fault)
    }
}

/// Extra time before every response.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Latency {
    /// The same delay every time.
    Fixed(Duration),
    /// A delay drawn uniformly from `min..=max` per request (from the fault seed, so a
    /// request number always gets the same delay).
    Uniform {
        /// The shortest delay.
        min: Duration,
        /// The longest delay.
        max: Duration,
    },
}

impl FromStr for Latency {
    type Err = String;

    /// `250ms` (fixed) or `10ms..200ms` (uniform).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once("..") {
            Some((a, b)) => {
                let (min, max) = (parse_duration(a)?, parse_duration(b)?);
                if min > max {
                    return Err(format!("latency range {s:?} is reversed"));
                }
                Ok(Latency::Uniform { min, max })
            }
            None => Ok(Latency::Fixed(parse_duration(s)?)),
        }
    }
}

/// Which faults to inject, and where.
///
/// Requests are numbered from 1 in the order the server receives them (every request to the
/// API counts, whatever its outcome; the `/_mock` admin routes do not). A scripted fault
/// (`on_request`) always wins; otherwise each [`with_probability`](Self::with_probability)
/// entry is drawn from the plan's seed and the request number, so the same plan and the same
/// sequence of requests give the same faults, however the requests are timed.
///
/// ```
/// use asana_audit_log_mock::{Fault, FaultPlan, Latency};
/// use std::time::Duration;
///
/// let plan = FaultPlan::new()
///     .on_request(3, Fault::ServiceUnavailable)      // the 3rd request gets a 503
///     .on_request(5, Fault::TruncatedBody)
///     .seed(42)
///     .with_probability(Fault::InternalServerError, 0.01)
///     .latency(Latency::Uniform { min: Duration::ZERO, max: Duration::from_millis(5) });
/// # let _ = plan;
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultPlan {
    seed: u64,
    script: BTreeMap<u64, Vec<Fault>>,
    random: Vec<(Fault, f64)>,
    latency: Option<Latency>,
}

/// What the plan decided for one request.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Decision {
    pub(crate) fault: Option<Fault>,
    pub(crate) delay: Duration,
}

const LATENCY_SALT: u64 = 0x4c41_5445_4e43_5921;

impl FaultPlan {
    /// A plan with no faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The seed that random faults, random latency and 5xx phrases are drawn from (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Request number `n` (from 1) gets `fault`. Call again for the same `n` to combine a
    /// [`Fault::Delay`] with another fault; of several non-delay faults the first one counts.
    pub fn on_request(mut self, n: u64, fault: Fault) -> Self {
        self.script.entry(n).or_default().push(fault);
        self
    }

    /// Each request not scripted gets `fault` with probability `p` (the probabilities of all
    /// entries are stacked: their sum should stay at or below 1).
    pub fn with_probability(mut self, fault: Fault, p: f64) -> Self {
        self.random.push((fault, p.clamp(0.0, 1.0)));
        self
    }

    /// Adds latency to every response.
    pub fn latency(mut self, latency: Latency) -> Self {
        self.latency = Some(latency);
        self
    }

    /// True when the plan injects nothing.
    pub fn is_empty(&self) -> bool {
        self.script.is_empty() && self.random.is_empty() && self.latency.is_none()
    }

    pub(crate) fn fault_seed(&self) -> u64 {
        self.seed
    }

    pub(crate) fn decide(&self, n: u64) -> Decision {
        let mut decision = Decision::default();
        let chosen: Vec<Fault> = match self.script.get(&n) {
            Some(faults) => faults.clone(),
            None => {
                let u = SplitMix64::derive(self.seed, n).unit();
                let mut acc = 0.0;
                self.random
                    .iter()
                    .find(|(_, p)| {
                        acc += p;
                        u < acc
                    })
                    .map(|(f, _)| vec![f.clone()])
                    .unwrap_or_default()
            }
        };
        for fault in chosen {
            match fault {
                Fault::Delay(d) => decision.delay += d,
                other if decision.fault.is_none() => decision.fault = Some(other),
                _ => {}
            }
        }
        if let Some(latency) = self.latency {
            decision.delay += match latency {
                Latency::Fixed(d) => d,
                Latency::Uniform { min, max } => {
                    let span = max.saturating_sub(min).as_micros() as u64;
                    let mut rng = SplitMix64::derive(self.seed ^ LATENCY_SALT, n);
                    min + Duration::from_micros(rng.range(0, span))
                }
            };
        }
        debug_assert!(decision.fault.as_ref().is_none_or(|f| !f.is_delay()));
        decision
    }
}

/// A phrase in the style of Asana's incident phrases ("6 sad squid snuggle softly"), fixed by
/// the fault seed and the request number.
pub(crate) fn phrase(seed: u64, n: u64) -> String {
    const ADJECTIVES: &[&str] = &[
        "brave", "calm", "eager", "fuzzy", "gentle", "happy", "jolly", "lazy", "mighty", "nimble",
        "proud", "quiet", "rusty", "silly", "tiny", "witty",
    ];
    const ANIMALS: &[&str] = &[
        "otters", "herons", "badgers", "lemurs", "geckos", "walruses", "ferrets", "puffins",
        "wombats", "falcons", "llamas", "newts",
    ];
    const VERBS: &[&str] = &[
        "juggle", "wander", "whistle", "tumble", "ponder", "giggle", "sprint", "dream", "hum",
        "paddle",
    ];
    const ADVERBS: &[&str] = &[
        "boldly", "softly", "swiftly", "gladly", "oddly", "warmly", "briskly", "neatly",
    ];
    let mut rng = SplitMix64::derive(seed ^ 0x5048_5241_5345, n);
    let count = rng.range(2, 19);
    format!(
        "{count} {} {} {} {}",
        rng.pick(ADJECTIVES),
        rng.pick(ANIMALS),
        rng.pick(VERBS),
        rng.pick(ADVERBS)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        for text in [
            "500",
            "502",
            "503",
            "429:7",
            "reset",
            "reset-mid-body",
            "truncate",
            "truncate-json",
            "delay:250ms",
        ] {
            let fault: Fault = text.parse().unwrap();
            assert_eq!(fault.to_string(), text);
        }
        assert_eq!(
            "429".parse::<Fault>().unwrap(),
            Fault::TooManyRequests {
                retry_after_secs: 1
            }
        );
        assert_eq!(
            "delay:2s".parse::<Fault>().unwrap(),
            Fault::Delay(Duration::from_secs(2))
        );
        assert!("418".parse::<Fault>().is_err());
        assert_eq!(
            "5ms..20ms".parse::<Latency>().unwrap(),
            Latency::Uniform {
                min: Duration::from_millis(5),
                max: Duration::from_millis(20)
            }
        );
        assert_eq!(
            "1.5s".parse::<Latency>().unwrap(),
            Latency::Fixed(Duration::from_millis(1500))
        );
    }

    #[test]
    fn script_wins_and_random_is_reproducible() {
        let plan = FaultPlan::new()
            .seed(9)
            .on_request(2, Fault::Delay(Duration::from_millis(5)))
            .on_request(2, Fault::BadGateway)
            .with_probability(Fault::ServiceUnavailable, 0.5);
        let d = plan.decide(2);
        assert_eq!(d.fault, Some(Fault::BadGateway));
        assert_eq!(d.delay, Duration::from_millis(5));
        let first: Vec<_> = (1..200).map(|n| plan.decide(n)).collect();
        let again: Vec<_> = (1..200).map(|n| plan.clone().decide(n)).collect();
        assert_eq!(first, again);
        let hits = first
            .iter()
            .filter(|d| d.fault == Some(Fault::ServiceUnavailable))
            .count();
        assert!(
            (60..140).contains(&hits),
            "about half should fail, got {hits}"
        );
        assert_eq!(phrase(1, 2), phrase(1, 2));
    }

    #[test]
    fn uniform_latency_stays_in_range() {
        let (min, max) = (Duration::from_millis(3), Duration::from_millis(9));
        let plan = FaultPlan::new().latency(Latency::Uniform { min, max });
        for n in 1..500 {
            let d = plan.decide(n).delay;
            assert!(d >= min && d <= max);
        }
    }
}
