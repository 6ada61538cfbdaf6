//! The server's clock: what "now" is for retention, offset expiry, generation and appends.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// How the server's clock starts.
///
/// Tests usually want [`ClockMode::Frozen`]: time then moves only when the test calls
/// [`MockServer::set_now`](crate::MockServer::set_now) or
/// [`MockServer::advance`](crate::MockServer::advance), so nothing depends on how fast the
/// machine is. Rate limiting is the one exception: it always runs on a monotonic clock
/// (plus whatever `advance` added), so a frozen data clock never turns the per-minute
/// limit into a lifetime budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockMode {
    /// Follows the system clock (the default).
    System,
    /// Stands still at the given instant until moved by hand.
    Frozen(DateTime<Utc>),
    /// Starts at the given instant and runs at the speed of real time.
    RunningFrom(DateTime<Utc>),
}

#[derive(Debug)]
struct State {
    frozen: bool,
    /// Milliseconds since the epoch at `base_instant`.
    base_ms: i64,
    base_instant: Instant,
    /// Everything `advance` (and forward `set_now`) added, for the rate limiter.
    advanced: Duration,
}

/// A settable millisecond clock.
#[derive(Debug)]
pub(crate) struct Clock {
    state: Mutex<State>,
}

impl Clock {
    pub(crate) fn new(mode: ClockMode) -> Self {
        let (frozen, start) = match mode {
            ClockMode::System => (false, Utc::now()),
            ClockMode::Frozen(t) => (true, t),
            ClockMode::RunningFrom(t) => (false, t),
        };
        Clock {
            state: Mutex::new(State {
                frozen,
                base_ms: start.timestamp_millis(),
                base_instant: Instant::now(),
                advanced: Duration::ZERO,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Now, in milliseconds since the Unix epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        let s = self.lock();
        if s.frozen {
            s.base_ms
        } else {
            s.base_ms + s.base_instant.elapsed().as_millis() as i64
        }
    }

    pub(crate) fn set_ms(&self, ms: i64) {
        let now = self.now_ms();
        let mut s = self.lock();
        if ms > now {
            s.advanced += Duration::from_millis((ms - now) as u64);
        }
        s.base_ms = ms;
        s.base_instant = Instant::now();
    }

    pub(crate) fn advance(&self, by: Duration) {
        let mut s = self.lock();
        s.base_ms += by.as_millis() as i64;
        s.advanced += by;
    }

    /// A monotonic instant for rate limiting: real time plus everything `advance` added.
    pub(crate) fn limiter_now(&self) -> Instant {
        let advanced = self.lock().advanced;
        Instant::now() + advanced
    }
}

/// Milliseconds since the epoch as a `DateTime`.
pub(crate) fn ms_to_datetime(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The wire form of a timestamp: RFC 3339, UTC, milliseconds, `Z`.
pub(crate) fn format_ms(ms: i64) -> String {
    ms_to_datetime(ms).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_by_hand() {
        let t = DateTime::parse_from_rfc3339("2025-03-01T12:00:00Z")
            .unwrap()
            .to_utc();
        let clock = Clock::new(ClockMode::Frozen(t));
        assert_eq!(clock.now_ms(), t.timestamp_millis());
        let before = clock.limiter_now();
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now_ms(), t.timestamp_millis() + 90_000);
        assert!(clock.limiter_now() >= before + Duration::from_secs(90));
        clock.set_ms(0);
        assert_eq!(clock.now_ms(), 0);
        assert_eq!(format_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
