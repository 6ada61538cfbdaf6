//! Per-token rate limit (token bucket) and concurrency cap.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A token bucket per bearer token: `burst` requests of capacity (`per_minute` unless set
/// otherwise), refilled at `per_minute / 60` per second. Rejected requests are charged too (as
/// Asana counts them), but the balance never drops below -1, so one retry that came too early
/// costs one slot, not an ever-growing penalty.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_minute: u32,
    burst: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
    refused: AtomicU64,
}

impl RateLimiter {
    /// A limiter of `per_minute` whose buckets hold `burst` (at least 1; `None`: `per_minute`).
    pub(crate) fn new(per_minute: u32, burst: Option<u32>) -> Self {
        RateLimiter {
            per_minute,
            burst: burst.unwrap_or(per_minute).max(1),
            buckets: Mutex::new(HashMap::new()),
            refused: AtomicU64::new(0),
        }
    }

    /// Requests refused with a 429 so far, all tokens together.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// The configured limit.
    pub(crate) fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// `Ok(())` when the request may go ahead; otherwise the whole seconds to wait.
    pub(crate) fn check(&self, token: &str, now: Instant) -> Result<(), u64> {
        let capacity = f64::from(self.burst);
        let per_sec = f64::from(self.per_minute) / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = buckets.entry(token.to_owned()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_sec).min(capacity);
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            bucket.tokens = (bucket.tokens - 1.0).max(-1.0);
            let wait = (1.0 - bucket.tokens) / per_sec;
            Err((wait.ceil() as u64).max(1))
        }
    }
}

/// Counts each token's requests in flight; [`ConcurrencyCap::enter`] hands out a guard that
/// gives the slot back when dropped.
#[derive(Debug, Default)]
pub(crate) struct ConcurrencyCap {
    in_flight: Arc<Mutex<HashMap<String, usize>>>,
}

/// A request slot; released on drop.
#[derive(Debug)]
pub(crate) struct Slot {
    token: String,
    in_flight: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.token) {
            *n = n.saturating_sub(1);
        }
    }
}

impl ConcurrencyCap {
    /// Takes a slot unless `max` (when set) are already taken.
    pub(crate) fn enter(&self, token: &str, max: Option<u32>) -> Option<Slot> {
        let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(token.to_owned()).or_insert(0);
        if max.is_some_and(|max| *n >= max as usize) {
            return None;
        }
        *n += 1;
        Some(Slot {
            token: token.to_owned(),
            in_flight: Arc::clone(&self.in_flight),
        })
    }

    /// Requests in flight over all tokens.
    pub(crate) fn total(&self) -> usize {
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .sum()
    }
}

/// Seconds a client is told to wait after hitting the concurrency cap.
pub(crate) const CONCURRENCY_RETRY_AFTER: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_and_charges_rejections() {
        let limiter = RateLimiter::new(2, None);
        let t0 = Instant::now();
        assert!(limiter.check("a", t0).is_ok());
        assert!(limiter.check("a", t0).is_ok());
        // Empty: the third waits one slot plus the rejected attempt's charge, 60 s.
        assert_eq!(limiter.check("a", t0), Err(60));
        // Another token has its own bucket.
        assert!(limiter.check("b", t0).is_ok());
        // After the advertised wait it goes through.
        assert!(limiter.check("a", t0 + Duration::from_secs(60)).is_ok());
        assert_eq!(limiter.refused(), 1);
    }

    #[test]
    fn a_smaller_burst_holds_fewer_but_refills_as_fast() {
        // 600 a minute (10 a second) in a bucket of 5.
        let limiter = RateLimiter::new(600, Some(5));
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(limiter.check("a", t0).is_ok());
        }
        assert_eq!(limiter.check("a", t0), Err(1));
        // Charged -1; 2 tokens' worth later (0.2 s) one goes through.
        assert!(limiter.check("a", t0 + Duration::from_millis(200)).is_ok());
        // A long idle refills to the burst, not to the minute.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..5 {
            assert!(limiter.check("a", later).is_ok());
        }
        assert!(limiter.check("a", later).is_err());
        assert_eq!(limiter.refused(), 2);
    }

    #[test]
    fn cap_counts_slots() {
        let cap = ConcurrencyCap::default();
        let a = cap.enter("t", Some(2)).unwrap();
        let _b = cap.enter("t", Some(2)).unwrap();
        assert!(cap.enter("t", Some(2)).is_none());
        assert!(cap.enter("t", None).is_some());
        assert_eq!(cap.total(), 2);
        drop(a);
        assert!(cap.enter("t", Some(2)).is_some());
    }
}
