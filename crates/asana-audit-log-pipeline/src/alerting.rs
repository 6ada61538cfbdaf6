//! The alerting stage of a run ([`Alerting`]): the rules evaluated on each event, repeats
//! folded ([`Dedup`]), each alert held until the checkpoint that covers its events is saved,
//! then delivered by a task of its own per target from a bounded queue. What is not delivered
//! yet, the correlation windows and the dedup state are saved with the checkpoint
//! ([`AlertState`]), so a run killed at any instant and started again delivers every alert, and
//! regenerates none that it had already committed.
//!
//! The checkpoint that releases new alerts is not left to the periodic save: as soon as the
//! stream has no event ready (a poll's page is written) while new alerts wait, the run saves
//! it, so an alert goes out once the events of the poll that raised it are durable. An archive
//! output commits its open files for them then, before they are due by size or age
//! ([`SinkOptions::max_file_age`](crate::SinkOptions::max_file_age)), though no sooner than a
//! second after its previous commit, so that a backfill rich in alerts commits at most once a
//! second rather than after every page.
//!
//! With a local checkpoint, each delivery is also written (and synced) to a receipts file
//! beside it, `<checkpoint>.alerts-sent`, before the alert leaves its queue: a run started
//! after a crash drops from the checkpoint's pending alerts those the receipts name, so an
//! alert delivered after the last checkpoint is not delivered again. Only a crash between the
//! receiver's answer and the receipt's write (or a checkpoint in an object store, which has no
//! receipts) can send an alert twice, with the same id.
//!
//! A target that is down never stops or slows collection: the run only appends to the queue;
//! when a queue is full the new alert is dropped, counted ([`AlertState::dropped`]) and logged.

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asana_audit_log::AuditLogEvent;
use asana_audit_rules::{Alert, CorrelationState, Dedup, Detector, Options, RuleSet};
use serde::{Deserialize, Serialize};

use crate::alerts::{AlertTarget, Deliverer, Delivery, Retry};
use crate::error::Error;

/// What the alerting stage tells while it runs, per rule and target (for metrics). Every
/// method has an empty default; implement those you need. Called from the run and from the
/// delivery tasks, so it is shared.
pub trait AlertObserver: Send + Sync + std::fmt::Debug {
    /// A rule raised `alert` (before repeats are folded).
    fn raised(&self, alert: &Alert) {
        let _ = alert;
    }

    /// `alert` was dropped: `target`'s queue was full.
    fn dropped(&self, alert: &Alert, target: &AlertTarget) {
        let _ = (alert, target);
    }

    /// `alert` reached `target`.
    fn delivered(&self, alert: &Alert, target: &AlertTarget) {
        let _ = (alert, target);
    }

    /// An attempt to deliver `alert` to `target` failed (`refused`: for good, a 4xx; else it
    /// is retried).
    fn failed(&self, alert: &Alert, target: &AlertTarget, refused: bool) {
        let _ = (alert, target, refused);
    }

    /// `depth` alerts wait for `target` now.
    fn queue(&self, target: &AlertTarget, depth: usize) {
        let _ = (target, depth);
    }
}

/// An observer that tells nothing.
impl AlertObserver for () {}

/// How a run alerts (plain fields: [`new`](Self::new) sets the defaults, set those that
/// differ).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Alerting {
    /// The rules evaluated on each event.
    pub rules: RuleSet,
    /// Where each alert is delivered (each target gets every alert).
    pub targets: Vec<AlertTarget>,
    /// Repeats of an alert of one rule and group within this period are folded into the next
    /// one let through (default 60 minutes; zero lets every alert through).
    pub dedup: Duration,
    /// The most alerts waiting for one target (default 10,000); past it new ones are dropped
    /// and counted.
    pub queue: usize,
    /// How delivery retries.
    pub retry: Retry,
    /// How the correlation windows are bounded.
    pub options: Options,
    /// When the run ends: how long it waits for the queues to empty before it stops (default
    /// 5 s); what is left is delivered by the next run.
    pub grace: Duration,
    /// Told of each alert raised, delivered, failed and dropped (default: nobody).
    pub observer: Arc<dyn AlertObserver>,
}

impl Alerting {
    /// `rules` delivered to `targets`, with the defaults each field names.
    pub fn new(rules: RuleSet, targets: Vec<AlertTarget>) -> Alerting {
        Alerting {
            rules,
            targets,
            dedup: Duration::from_secs(3600),
            queue: 10_000,
            retry: Retry::default(),
            options: Options::default(),
            grace: Duration::from_secs(5),
            observer: Arc::new(()),
        }
    }
}

/// What a checkpoint keeps of the alerting stage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    /// The correlation windows.
    pub correlation: CorrelationState,
    /// The dedup periods and the repeats folded.
    pub dedup: Dedup,
    /// Per target, in the order configured: the alerts committed and not yet delivered.
    pub pending: Vec<Vec<Alert>>,
    /// Alerts dropped because a target's queue was full, by all runs.
    pub dropped: u64,
}

/// One target's queue, shared by the run (which appends) and its delivery task (which takes
/// from the front once delivered).
struct Queue {
    target: AlertTarget,
    alerts: Mutex<VecDeque<Alert>>,
    wake: tokio::sync::Notify,
    /// Alerts taken off the queue (delivered or refused) by this run.
    done: AtomicU64,
}

/// The receipts of deliveries the last checkpoint saved does not reflect yet: one line per
/// alert taken off a queue, `QUEUE ID`, synced before it leaves the queue.
struct Receipts {
    path: PathBuf,
    inner: Mutex<ReceiptsFile>,
}

struct ReceiptsFile {
    file: std::fs::File,
    /// Each receipt's queue, its number in that queue's count of deliveries, and the id.
    kept: Vec<(usize, u64, String)>,
}

impl Receipts {
    /// Opens the receipts at `path` (created if absent) and gives the `(queue, id)` of those
    /// an earlier run left.
    fn open(path: PathBuf) -> std::io::Result<(Receipts, HashSet<(usize, String)>)> {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let mut left = HashSet::new();
        let mut kept = Vec::new();
        // A line cut by a crash has no newline: it was not synced, so it says nothing.
        for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            if let Some((queue, id)) = line.trim_end().split_once(' ')
                && let Ok(queue) = queue.parse::<usize>()
            {
                left.insert((queue, id.to_owned()));
                // Number 0: forgotten by the first checkpoint this run saves.
                kept.push((queue, 0, id.to_owned()));
            }
        }
        let file = Receipts::rewrite(&path, &kept)?;
        let receipts = Receipts {
            path,
            inner: Mutex::new(ReceiptsFile { file, kept }),
        };
        Ok((receipts, left))
    }

    /// Writes `kept` to `path` whole (a temp file renamed into place) and opens it to append.
    fn rewrite(path: &Path, kept: &[(usize, u64, String)]) -> std::io::Result<std::fs::File> {
        let text: String = kept
            .iter()
            .map(|(queue, _, id)| format!("{queue} {id}\n"))
            .collect();
        crate::checkpoint::write_atomically(path, text.as_bytes())?;
        std::fs::OpenOptions::new().append(true).open(path)
    }

    /// Records that alert `id`, number `number` of queue `queue`, was delivered (or refused).
    fn record(&self, queue: usize, number: u64, id: &str) {
        let mut inner = self.inner.lock().expect("not poisoned");
        let written = inner
            .file
            .write_all(format!("{queue} {id}\n").as_bytes())
            .and_then(|()| inner.file.sync_data());
        if let Err(e) = written {
            tracing::warn!(
                "cannot write {}: {e}; alert {id} may be delivered again after a restart",
                self.path.display()
            );
        }
        inner.kept.push((queue, number, id.to_owned()));
    }

    /// A checkpoint saved the queues after `seen[queue]` deliveries each: the receipts up to
    /// them are no longer needed.
    fn forget_through(&self, seen: &[u64]) {
        let mut inner = self.inner.lock().expect("not poisoned");
        let before = inner.kept.len();
        inner
            .kept
            .retain(|(queue, number, _)| seen.get(*queue).is_none_or(|seen| number > seen));
        if inner.kept.len() == before {
            return;
        }
        match Receipts::rewrite(&self.path, &inner.kept) {
            Ok(file) => inner.file = file,
            Err(e) => tracing::warn!("cannot rewrite {}: {e}", self.path.display()),
        }
    }
}

/// The running stage.
pub(crate) struct Stage {
    detector: Detector,
    dedup: Dedup,
    period: Duration,
    capacity: usize,
    /// Alerts of events that no saved checkpoint covers yet.
    uncommitted: Vec<Alert>,
    /// Of `uncommitted`, those the last [`snapshot`](Self::snapshot) found room for, per
    /// queue: what [`committed`](Self::committed) hands to the delivery tasks.
    staged: Vec<Vec<Alert>>,
    queues: Vec<Arc<Queue>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    dropped: u64,
    observer: Arc<dyn AlertObserver>,
    receipts: Option<Arc<Receipts>>,
    /// Per queue, `done` when the queues were last read for a checkpoint, and when the last
    /// checkpoint saved read them.
    seen: Vec<u64>,
    saved: Vec<u64>,
}

impl Stage {
    /// The stage of `alerting`, going on from `state`, its delivery tasks started with the
    /// alerts `state` has pending, less those the receipts at `receipts` (beside a local
    /// checkpoint) say were delivered.
    pub(crate) fn start(
        alerting: &Alerting,
        state: Option<AlertState>,
        receipts: Option<PathBuf>,
    ) -> Result<Stage, Error> {
        let mut state = state.unwrap_or_default();
        let deliverer = Deliverer::new(alerting.retry.clone())?;
        let receipts = match receipts {
            Some(path) => {
                let (receipts, delivered) =
                    Receipts::open(path.clone()).map_err(|source| Error::Io {
                        action: format!("read {}", path.display()),
                        source,
                    })?;
                for (queue, alerts) in state.pending.iter_mut().enumerate() {
                    alerts.retain(|alert| !delivered.contains(&(queue, alert.id.clone())));
                }
                Some(Arc::new(receipts))
            }
            None => None,
        };
        let mut pending = state.pending.into_iter();
        let queues: Vec<Arc<Queue>> = alerting
            .targets
            .iter()
            .map(|target| {
                Arc::new(Queue {
                    target: target.clone(),
                    alerts: Mutex::new(pending.next().unwrap_or_default().into()),
                    wake: tokio::sync::Notify::new(),
                    done: AtomicU64::new(0),
                })
            })
            .collect();
        let left: usize = pending.map(|alerts| alerts.len()).sum();
        if left > 0 {
            tracing::warn!(
                "{left} alert(s) pending for targets no longer configured are not delivered"
            );
        }
        for queue in &queues {
            let depth = queue.alerts.lock().expect("not poisoned").len();
            alerting.observer.queue(&queue.target, depth);
        }
        let workers: Vec<_> = queues
            .iter()
            .enumerate()
            .map(|(index, queue)| {
                tokio::spawn(deliver(
                    (index, queue.clone()),
                    deliverer.clone(),
                    alerting.observer.clone(),
                    receipts.clone(),
                ))
            })
            .collect();
        Ok(Stage {
            detector: Detector::with_state(
                alerting.rules.clone(),
                state.correlation,
                alerting.options.clone(),
            ),
            dedup: state.dedup,
            period: alerting.dedup,
            capacity: alerting.queue,
            uncommitted: Vec::new(),
            staged: Vec::new(),
            queues,
            seen: vec![0; workers.len()],
            saved: vec![0; workers.len()],
            workers,
            dropped: state.dropped,
            observer: alerting.observer.clone(),
            receipts,
        })
    }

    /// Evaluates one event; its alerts wait for the checkpoint that covers it.
    pub(crate) fn evaluate(&mut self, event: &AuditLogEvent) {
        let alerts = match self.detector.evaluate_event(event) {
            Ok(alerts) => alerts,
            Err(e) => {
                tracing::warn!("event {}: not evaluated by the rules: {e}", event.gid());
                return;
            }
        };
        for mut alert in alerts {
            self.observer.raised(&alert);
            let period = self.detector.rules().dedup_period(&alert, self.period);
            if self.dedup.admit(&mut alert, period) {
                self.uncommitted.push(alert);
            }
        }
        self.dedup
            .sweep(event.created_at().timestamp_millis(), self.period);
    }

    /// Whether alerts were raised since the last [`snapshot`](Self::snapshot): they wait for a
    /// checkpoint that covers their events.
    pub(crate) fn has_new_alerts(&self) -> bool {
        !self.uncommitted.is_empty()
    }

    /// The state to save with a checkpoint that covers every event evaluated so far: the
    /// alerts not yet delivered include those of events since the last checkpoint, as many as
    /// each queue has room for (the rest are dropped and counted).
    pub(crate) fn snapshot(&mut self) -> AlertState {
        self.staged.clear();
        let waiting = self.waiting();
        let mut pending = Vec::with_capacity(self.queues.len());
        for (queue, mut alerts) in self.queues.iter().zip(waiting) {
            let room = self.capacity.saturating_sub(alerts.len());
            let staged: Vec<Alert> = self.uncommitted.iter().take(room).cloned().collect();
            let dropped = self.uncommitted.len() - staged.len();
            for alert in &self.uncommitted[staged.len()..] {
                self.observer.dropped(alert, &queue.target);
            }
            if dropped > 0 {
                self.dropped += dropped as u64;
                tracing::warn!(
                    "{dropped} alert(s) dropped: the queue for {} is full ({} waiting)",
                    queue.target,
                    alerts.len()
                );
            }
            alerts.extend(staged.iter().cloned());
            self.staged.push(staged);
            pending.push(alerts);
        }
        self.uncommitted.clear();
        AlertState {
            correlation: self.detector.state().clone(),
            dedup: self.dedup.clone(),
            pending,
            dropped: self.dropped,
        }
    }

    /// The checkpoint of the last [`snapshot`](Self::snapshot) is saved: its new alerts go to
    /// their delivery tasks.
    pub(crate) fn committed(&mut self) {
        self.saved();
        for (queue, staged) in self.queues.iter().zip(self.staged.drain(..)) {
            if staged.is_empty() {
                continue;
            }
            let mut alerts = queue.alerts.lock().expect("not poisoned");
            alerts.extend(staged);
            self.observer.queue(&queue.target, alerts.len());
            drop(alerts);
            queue.wake.notify_one();
        }
    }

    /// Whether an alert was delivered since the last checkpoint saved read the queues, so
    /// that a checkpoint saved now would spare it a second delivery after a restart.
    pub(crate) fn delivered_since_save(&self) -> bool {
        self.queues
            .iter()
            .zip(&self.saved)
            .any(|(queue, &saved)| queue.done.load(Ordering::Acquire) != saved)
    }

    /// The committed alerts still waiting, per target; a checkpoint that saves them is then
    /// told by [`saved`](Self::saved).
    pub(crate) fn waiting(&mut self) -> Vec<Vec<Alert>> {
        self.queues
            .iter()
            .zip(&mut self.seen)
            .map(|(queue, seen)| {
                // Read before the queue: a delivery in between is only seen next time.
                *seen = queue.done.load(Ordering::Acquire);
                queue.alerts.lock().expect("not poisoned").clone().into()
            })
            .collect()
    }

    /// A checkpoint with the queues as [`waiting`](Self::waiting) last read them is saved.
    pub(crate) fn saved(&mut self) {
        self.saved.clone_from(&self.seen);
        if let Some(receipts) = &self.receipts {
            receipts.forget_through(&self.seen);
        }
    }

    /// Waits up to `grace` for the queues to empty, then stops the delivery tasks (what is
    /// left stays in the checkpoint, for the next run).
    pub(crate) async fn drain(&mut self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline
            && self
                .queues
                .iter()
                .any(|queue| !queue.alerts.lock().expect("not poisoned").is_empty())
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for worker in &self.workers {
            worker.abort();
        }
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        for worker in &self.workers {
            worker.abort();
        }
    }
}

/// One target's delivery task: the front alert is delivered (retried until it is, or until a
/// refusal), its receipt written, then it is taken off the queue.
async fn deliver(
    (index, queue): (usize, Arc<Queue>),
    deliverer: Deliverer,
    observer: Arc<dyn AlertObserver>,
    receipts: Option<Arc<Receipts>>,
) {
    loop {
        let front = queue.alerts.lock().expect("not poisoned").front().cloned();
        let Some(alert) = front else {
            queue.wake.notified().await;
            continue;
        };
        let target = &queue.target;
        let delivery = deliverer
            .deliver(target, &alert, |reason, wait| {
                observer.failed(&alert, target, false);
                tracing::warn!(
                    "alert {} to {target}: {reason}; retrying in {wait:?}",
                    alert.id
                );
            })
            .await;
        match delivery {
            Delivery::Delivered { .. } => {
                observer.delivered(&alert, target);
                tracing::info!(alert = %alert.id, rule = %alert.title, "alert delivered to {target}");
            }
            Delivery::Refused { status, body } => {
                observer.failed(&alert, target, true);
                tracing::error!(
                    "alert {} ({}) refused by {target} with HTTP {status}, not retried: {body}",
                    alert.id,
                    alert.title
                );
            }
        }
        if let Some(receipts) = &receipts {
            let number = queue.done.load(Ordering::Acquire) + 1;
            receipts.record(index, number, &alert.id);
        }
        let mut alerts = queue.alerts.lock().expect("not poisoned");
        alerts.pop_front();
        observer.queue(target, alerts.len());
        drop(alerts);
        queue.done.fetch_add(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alerts(n: usize) -> Vec<Alert> {
        let mut detector = Detector::new(RuleSet::shipped());
        (0..n)
            .flat_map(|i| {
                let event = serde_json::json!({
                    "gid": format!("12080000000000{i:02}"),
                    "created_at": format!("2026-03-01T10:{i:02}:00.000Z"),
                    "event_type": "team_privacy_settings_changed",
                    "actor": {"actor_type": "user", "gid": "1201"},
                    "details": {"old_value": "private", "new_value": "public"},
                });
                detector.evaluate(&event).unwrap()
            })
            .collect()
    }

    /// An alert delivered after the last checkpoint, whose receipt was written, is not queued
    /// again by the next run; a receipt cut by a crash (no newline) counts for nothing; the
    /// receipts are forgotten once a checkpoint without those alerts is saved.
    #[tokio::test]
    async fn receipts_keep_a_delivered_alert_from_being_sent_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.ckpt.alerts-sent");
        let pending = alerts(3);
        std::fs::write(
            &path,
            format!(
                "0 {}\n1 {}\n0 {}",
                pending[0].id, pending[1].id, pending[2].id
            ),
        )
        .unwrap();
        let mut alerting = Alerting::new(RuleSet::shipped(), vec![]);
        // Two targets that never answer: nothing leaves the queues during the test.
        alerting.targets = vec![
            AlertTarget::webhook("http://127.0.0.1:9/a").unwrap(),
            AlertTarget::webhook("http://127.0.0.1:9/b").unwrap(),
        ];
        alerting.retry.first = Duration::from_secs(3600);
        let state = AlertState {
            pending: vec![pending.clone(), pending.clone()],
            ..AlertState::default()
        };
        let mut stage = Stage::start(&alerting, Some(state), Some(path.clone())).unwrap();
        let ids = |queue: &[Alert]| queue.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
        let waiting = stage.waiting();
        // Target 0 had alert 0 (alert 2's receipt was cut); target 1 had alert 1.
        assert_eq!(ids(&waiting[0]), ids(&pending[1..]));
        assert_eq!(
            ids(&waiting[1]),
            [pending[0].id.clone(), pending[2].id.clone()]
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("0 {}\n1 {}\n", pending[0].id, pending[1].id)
        );
        stage.saved();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }
}
