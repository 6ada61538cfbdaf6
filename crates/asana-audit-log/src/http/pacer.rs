//! The client's request pace: one [`Pacer`] per client, shared by all its streams.
//!
//! Written by hand rather than with `leaky-bucket` (which the client used before): the pace has
//! to change while requests wait (lowered on a 429, raised again afterwards), every waiting
//! request has to honour a `Retry-After` that arrives after it started waiting, and neither
//! `leaky-bucket` nor `governor` can change a limiter's rate in place. Waits are on tokio's
//! timer, so tests with a paused clock and cancellation behave like the rest of the client.
//!
//! # Policy
//!
//! With `N` requests a minute configured:
//!
//! - **Pace.** A burst of `B = max(1, N / 50)` requests, then an even pace of at most
//!   `N − B + 1` a minute (a generic cell rate algorithm: each request reserves the next slot).
//!   Any `N + 1` consecutive requests then span more than 60 s, so no 60 s window holds more
//!   than `N` requests while no 429 arrives. At 1,500 that is 30 at once, then 1,471 a minute
//!   (98% of the limit, so a long backfill runs at the limit rather than at a fraction of it).
//! - **On a 429** (multiplicative decrease): the allowed pace drops to 70% of what it was
//!   (never under `max(1, N / 100)` a minute), and every request of the client, waiting or
//!   new, waits until the `Retry-After` has passed (capped by the retry policy's
//!   `max_retry_after`) and then resumes at the lower pace, without a burst. A 429 answering a
//!   request sent before the last decrease took effect does not lower the pace again (it was
//!   already in flight), though its `Retry-After` is honoured.
//! - **Recovery** (additive increase): when a quiet period has passed since the last change
//!   (the end of the pause, or the last rise) without a 429, the next request answered raises
//!   the pace by `N / 50` a minute, up to the configured maximum. The quiet period is the time
//!   25 requests take at the configured maximum (`25 × 60 s / N`: 1 s at Asana's 1,500 a
//!   minute), so from 70% the pace is back in about 15 s at Asana's limits. Measuring it in the
//!   configured rate's own time keeps the policy the same at any scale: ten times the rate
//!   recovers in a tenth of the time, which is what the benchmark's compressed time relies on.
//! - **Backing off from a shared limit**: a 429 that comes after the pace has risen since the
//!   last cut means the climb found the limit again (another program on the same token, say).
//!   Each such cut doubles the quiet period, up to 16 times the base one (16 s at 1,500 a
//!   minute), so that the pace approaches the rate that drew the 429 more and more slowly and
//!   the client meets the limit less often. Cuts with no rise between them (a run of 429s
//!   while paused or at the floor) do not lengthen it. The quiet period is back to its base
//!   length as soon as the pace climbs above the pace that drew the last 429, or reaches the
//!   configured maximum: the limit has moved (the other program slowed or stopped), and the
//!   pace climbs at full speed again.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

/// The pace falls to this share of itself on a 429.
const DECREASE: f64 = 0.7;
/// The quiet period before each rise lasts this many requests at the configured maximum.
const QUIET_REQUESTS: f64 = 25.0;
/// A cut after a rise lengthens the quiet period at most this many times over the base one.
const QUIET_GROWTH_MAX: u32 = 16;

/// What a pacer is allowed to do, from the configured requests per minute.
#[derive(Clone, Copy, Debug)]
struct Limits {
    /// The burst: requests that may go at once after an idle period.
    burst: u32,
    /// The highest pace, requests a minute.
    ceiling: f64,
    /// The lowest pace a 429 can bring it to.
    floor: f64,
    /// What a recovery step adds.
    step: f64,
    /// The quiet period before each rise.
    quiet: Duration,
}

impl Limits {
    fn new(per_minute: u32) -> Limits {
        let per_minute = per_minute.max(1);
        let burst = (per_minute / 50).max(1);
        let ceiling = f64::from(per_minute - burst + 1);
        Limits {
            burst,
            ceiling,
            floor: (f64::from(per_minute) / 100.0).clamp(1.0, ceiling),
            step: (f64::from(per_minute) / 50.0).max(1.0),
            quiet: Duration::from_secs_f64(QUIET_REQUESTS * 60.0 / f64::from(per_minute)),
        }
    }
}

/// The pacer's changing part.
#[derive(Debug)]
struct State {
    /// The allowed pace now, requests a minute.
    per_minute: f64,
    /// When the next request is due at the current pace (the "theoretical arrival time").
    due: Instant,
    /// No request goes before this (the latest `Retry-After`).
    paused_until: Instant,
    /// Bumped whenever the pace is lowered or a pause is set; a request reserved under an older
    /// generation reserves again.
    generation: u64,
    /// When the pace last changed (for a decrease: when its pause ended).
    changed_at: Instant,
    /// The quiet period before the next rise is this many times the base one (1 to
    /// [`QUIET_GROWTH_MAX`]).
    quiet_factor: u32,
    /// The pace has risen since the last cut.
    rose: bool,
    /// The pace that drew the last 429 (before it was cut), requests a minute.
    throttled_at: Option<f64>,
}

/// Paces the requests of one client (see the module documentation for the policy).
#[derive(Debug)]
pub(crate) struct Pacer {
    limits: Limits,
    state: Mutex<State>,
}

/// A request's permission to go, from [`Pacer::acquire`]; handed back with the answer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticket {
    generation: u64,
}

/// The time between two requests at `per_minute`, rounded up to the nanosecond so that
/// `per_minute` intervals never add up to less than a minute.
fn interval(per_minute: f64) -> Duration {
    Duration::from_nanos((60e9 / per_minute).ceil() as u64)
}

impl Pacer {
    /// A pacer allowing at most `per_minute` requests in any 60 s (see the module docs).
    pub(crate) fn new(per_minute: u32) -> Pacer {
        let limits = Limits::new(per_minute);
        let now = Instant::now();
        Pacer {
            state: Mutex::new(State {
                per_minute: limits.ceiling,
                due: now,
                paused_until: now,
                generation: 0,
                changed_at: now,
                quiet_factor: 1,
                rose: false,
                throttled_at: None,
            }),
            limits,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How far ahead of its due time a request may go: the burst, at the highest pace.
    fn tolerance(&self) -> Duration {
        interval(self.limits.ceiling) * (self.limits.burst - 1)
    }

    /// The pace allowed now, requests a minute.
    #[cfg(test)]
    fn per_minute(&self) -> f64 {
        self.state().per_minute
    }

    /// The quiet period before the next rise.
    #[cfg(test)]
    fn quiet(&self) -> Duration {
        self.limits.quiet * self.state().quiet_factor
    }

    /// Waits until a request may go.
    pub(crate) async fn acquire(&self) -> Ticket {
        loop {
            let (at, generation) = {
                let mut state = self.state();
                let now = Instant::now();
                let due = state.due.max(now).max(state.paused_until);
                let at = due
                    .checked_sub(self.tolerance())
                    .unwrap_or(now)
                    .max(now)
                    .max(state.paused_until);
                state.due = due + interval(state.per_minute);
                (at, state.generation)
            };
            if at > Instant::now() {
                tokio::time::sleep_until(at).await;
            }
            if self.state().generation == generation {
                return Ticket { generation };
            }
            // A 429 arrived while this request waited: it waits for the new pause and pace.
        }
    }

    /// The request of `ticket` was answered, and not with a 429.
    pub(crate) fn answered(&self, ticket: Ticket) {
        let mut state = self.state();
        let now = Instant::now();
        if ticket.generation == state.generation
            && state.per_minute < self.limits.ceiling
            && now >= state.changed_at + self.limits.quiet * state.quiet_factor
        {
            state.per_minute = (state.per_minute + self.limits.step).min(self.limits.ceiling);
            state.changed_at = now;
            state.rose = true;
            // Past the pace that drew the last 429, or at the top: the limit has moved, climb at
            // full speed again.
            if state.per_minute >= self.limits.ceiling
                || state.throttled_at.is_some_and(|at| state.per_minute > at)
            {
                state.quiet_factor = 1;
            }
            tracing::debug!(per_minute = state.per_minute as u64, "request pace raised");
        }
    }

    /// The request of `ticket` was answered with a 429 carrying `retry_after` (already capped
    /// by the retry policy).
    pub(crate) fn throttled(&self, ticket: Ticket, retry_after: Option<Duration>) {
        let mut state = self.state();
        let now = Instant::now();
        let mut changed = false;
        if ticket.generation == state.generation {
            if state.rose {
                // The climb since the last cut met the limit again: approach it more slowly.
                state.quiet_factor = (state.quiet_factor * 2).min(QUIET_GROWTH_MAX);
                state.rose = false;
            }
            state.throttled_at = Some(state.per_minute);
            state.per_minute = (state.per_minute * DECREASE).max(self.limits.floor);
            changed = true;
            tracing::info!(
                per_minute = state.per_minute as u64,
                quiet_ms = (self.limits.quiet * state.quiet_factor).as_millis() as u64,
                "HTTP 429: request pace lowered"
            );
        }
        if let Some(after) = retry_after
            && now + after > state.paused_until
        {
            state.paused_until = now + after;
            changed = true;
        }
        if changed {
            state.generation += 1;
            state.changed_at = state.paused_until.max(now);
            // Resume at the new pace, without a burst: the first request goes when the pause
            // ends, the next one an interval later.
            state.due = state.changed_at + self.tolerance();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// The largest number of `times` (sorted) inside any half-open window of `width`.
    fn busiest(times: &[Duration], width: Duration) -> usize {
        let mut most = 0;
        let mut first = 0;
        for (last, t) in times.iter().enumerate() {
            while *t >= times[first] + width {
                first += 1;
            }
            most = most.max(last - first + 1);
        }
        most
    }

    /// Sends `n` requests in a row, answered at once without a 429; their start times.
    async fn send(pacer: &Pacer, n: usize, start: Instant) -> Vec<Duration> {
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let ticket = pacer.acquire().await;
            times.push(start.elapsed());
            pacer.answered(ticket);
        }
        times
    }

    #[tokio::test(start_paused = true)]
    async fn the_pace_keeps_within_the_limit_in_any_minute() {
        for per_minute in [1, 2, 7, 60, 1500, 15_000] {
            let pacer = Pacer::new(per_minute);
            let start = Instant::now();
            let n = per_minute as usize * 3 + 5;
            let times = send(&pacer, n, start).await;
            let most = busiest(&times, Duration::from_secs(60));
            assert!(most <= per_minute as usize, "{per_minute}: {most}");
            // And close to it: the even pace is at least 98% of the limit (or one less).
            let floor = (f64::from(per_minute) * 0.98).floor() as usize;
            assert!(
                most >= floor.min(per_minute as usize - 1),
                "{per_minute}: {most}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_slows_the_pace_and_quiet_brings_it_back() {
        let pacer = Pacer::new(1500);
        let full = pacer.per_minute();
        assert_eq!(full, 1471.0);
        let start = Instant::now();
        send(&pacer, 100, start).await;
        let ticket = pacer.acquire().await;
        pacer.throttled(ticket, Some(Duration::from_secs(2)));
        let slowed = pacer.per_minute();
        assert!((slowed - full * 0.7).abs() < 1e-9, "{slowed}");
        // The next request waits out Retry-After, then the pace is the lower one.
        let before = start.elapsed();
        let times = send(&pacer, 11, start).await;
        assert!(times[0] - before >= Duration::from_secs(2), "{times:?}");
        let gap = times[1] - times[0];
        assert!(
            gap >= interval(slowed) - Duration::from_millis(1),
            "{gap:?}"
        );
        assert_eq!(pacer.per_minute(), slowed, "not yet a second of quiet");
        // A second without a 429 raises it by N / 50, and so on back to full pace.
        send(&pacer, 10, start).await;
        let raised = pacer.per_minute();
        assert!(raised > slowed, "{raised} after quiet, {slowed} before");
        let recovered_at = loop {
            send(&pacer, 25, start).await;
            if pacer.per_minute() >= full {
                break start.elapsed();
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "never recovered"
            );
        };
        // 15 steps of 30 from 1,030 to 1,471, each after a quiet second.
        assert!(
            recovered_at < Duration::from_secs(30),
            "back to full pace only after {recovered_at:?}"
        );
        assert_eq!(pacer.per_minute(), full, "never above the configured pace");
    }

    /// Sends requests in a row, answered at once without a 429, for `how_long`.
    async fn send_for(pacer: &Pacer, how_long: Duration) {
        let until = Instant::now() + how_long;
        while Instant::now() < until {
            let ticket = pacer.acquire().await;
            pacer.answered(ticket);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn each_429_after_a_climb_slows_the_next_climb_until_the_limit_moves() {
        let pacer = Pacer::new(1500);
        let second = Duration::from_secs(1);
        send(&pacer, 100, Instant::now()).await;
        // A first cut, from the full pace with no rise before it: the base quiet period.
        let ticket = pacer.acquire().await;
        pacer.throttled(ticket, Some(second));
        assert_eq!(pacer.quiet(), second);
        // Each cut that follows a rise doubles the quiet period, up to 16 s.
        for doubled in [2, 4, 8, 16, 16] {
            let before = pacer.per_minute();
            send_for(&pacer, pacer.quiet() * 3 / 2 + second).await;
            let risen = pacer.per_minute();
            assert!(
                risen > before,
                "{risen} after a quiet period, {before} before"
            );
            let ticket = pacer.acquire().await;
            pacer.throttled(ticket, Some(second));
            assert_eq!(pacer.quiet(), second * doubled);
            // The next rise waits for the whole longer quiet period after the pause.
            let cut = pacer.per_minute();
            send_for(&pacer, second + pacer.quiet() / 2).await;
            assert_eq!(pacer.per_minute(), cut, "quiet for {:?}", pacer.quiet());
        }
        // A cut with no rise since the last one (the same congestion) does not lengthen it.
        let ticket = pacer.acquire().await;
        pacer.throttled(ticket, None);
        assert_eq!(pacer.quiet(), second * 16);
        let last_429_at = pacer.per_minute() / DECREASE;
        // Climbing past the pace that drew the last 429: the base quiet period again, and from
        // there the climb is back at full speed.
        let start = Instant::now();
        while pacer.per_minute() <= last_429_at {
            send_for(&pacer, second).await;
            assert!(start.elapsed() < Duration::from_secs(120), "never climbed");
        }
        assert_eq!(pacer.quiet(), second);
        let at = pacer.per_minute();
        send_for(&pacer, Duration::from_millis(5_500)).await;
        assert!(
            pacer.per_minute() >= at + 5.0 * 30.0,
            "{at} to {}",
            pacer.per_minute()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_in_flight_before_the_cut_does_not_cut_again() {
        let pacer = Pacer::new(1500);
        let tickets = [pacer.acquire().await, pacer.acquire().await];
        pacer.throttled(tickets[0], Some(Duration::from_secs(1)));
        let once = pacer.per_minute();
        pacer.throttled(tickets[1], Some(Duration::from_secs(1)));
        assert_eq!(pacer.per_minute(), once, "the same congestion, cut once");
        // A request sent after the cut that meets a 429 cuts again.
        let later = pacer.acquire().await;
        pacer.throttled(later, None);
        assert!(pacer.per_minute() < once);
        // Never below the floor.
        for _ in 0..100 {
            let ticket = pacer.acquire().await;
            pacer.throttled(ticket, None);
        }
        assert_eq!(pacer.per_minute(), 15.0);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_holds_every_stream_of_the_client() {
        // Streams already waiting for their slot and streams arriving later all wait until
        // Retry-After has passed.
        let pacer = Arc::new(Pacer::new(60));
        let start = Instant::now();
        // Spend the burst (one request at 60 a minute), so the others queue.
        let first = pacer.acquire().await;
        let waiting: Vec<_> = (0..4)
            .map(|_| {
                let pacer = Arc::clone(&pacer);
                tokio::spawn(async move {
                    pacer.acquire().await;
                    start.elapsed()
                })
            })
            .collect();
        tokio::task::yield_now().await;
        pacer.throttled(first, Some(Duration::from_secs(30)));
        let late = {
            let pacer = Arc::clone(&pacer);
            tokio::spawn(async move {
                pacer.acquire().await;
                start.elapsed()
            })
        };
        let mut times = Vec::new();
        for task in waiting {
            times.push(task.await.unwrap());
        }
        times.push(late.await.unwrap());
        times.sort();
        assert!(times[0] >= Duration::from_secs(30), "{times:?}");
        // After the pause they go one at a time at the lowered pace (42 a minute), no burst.
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] >= interval(42.0) - Duration::from_millis(1));
        }
    }
}
