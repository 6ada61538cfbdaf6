//! The alerting stage of a run ([`Alerting`]): the rules evaluated on each event, repeats
//! folded ([`Dedup`]), each alert held until the checkpoint that covers its events is saved,
//! then delivered by a task of its own per target from a bounded queue. What is not delivered
//! yet, the correlation windows, the GeoIP detectors' memory and the dedup state are saved
//! with the checkpoint ([`AlertState`]), so a run killed at any instant and started again
//! delivers every alert, and regenerates none that it had already committed.
//!
//! The checkpoint that releases new alerts is not left to the periodic save: as soon as the
//! stream has no event ready (a poll's page is written) while new alerts wait, the run saves
//! it, so an alert goes out once the events of the poll that raised it are durable. An archive
//! output commits its open files for them then, before they are due by size or age
//! ([`SinkOptions::max_file_age`](crate::SinkOptions::max_file_age)), though no sooner than a
//! second after its previous commit, so that a backfill rich in alerts commits at most once a
//! second rather than after every page.
//!
//! Each delivery is also recorded, durably, beside the checkpoint before the alert leaves its
//! queue: a line (synced) in the receipts file `<checkpoint>.alerts-sent` of a local
//! checkpoint, or an empty object `<checkpoint>.alerts-sent/QUEUE-ID` beside a checkpoint in
//! an object store. A run started after a crash drops from the checkpoint's pending alerts
//! those the receipts name, so an alert delivered after the last checkpoint is not delivered
//! again; receipts are removed once a checkpoint without their alerts is saved. Only a crash
//! between the receiver's answer and the receipt's write can send an alert twice, with the
//! same id.
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
use asana_audit_rules::{Alert, CorrelationState, Dedup, Detector, GeoState, Options, RuleSet};
use serde::{Deserialize, Serialize};

use crate::alerts::{AlertTarget, Deliverer, Delivery, Retry};
use crate::error::Error;
use crate::state::StateFolder;

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
    /// The GeoIP detectors' memory of users' logins (empty without GeoIP).
    #[serde(default, skip_serializing_if = "GeoState::is_empty")]
    pub geo: GeoState,
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

/// Where a run keeps the receipts of its deliveries: beside its checkpoint.
#[derive(Clone, Debug)]
pub(crate) enum ReceiptsAt {
    /// Beside a local checkpoint, the file `<checkpoint>.alerts-sent`: one line `QUEUE ID` a
    /// receipt, synced.
    File(PathBuf),
    /// Beside a checkpoint in an object store, the folder `<checkpoint>.alerts-sent`: one
    /// empty object a receipt, named `QUEUE-ID`.
    Folder(StateFolder),
}

impl std::fmt::Display for ReceiptsAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReceiptsAt::File(path) => write!(f, "{}", path.display()),
            ReceiptsAt::Folder(folder) => f.write_str(folder.url()),
        }
    }
}

/// The receipts of deliveries the last checkpoint saved does not reflect yet: one per alert
/// taken off a queue, durable before it leaves the queue.
struct Receipts {
    at: ReceiptsAt,
    inner: Mutex<Kept>,
}

struct Kept {
    /// Each receipt's queue, its number in that queue's count of deliveries, and the id.
    receipts: Vec<(usize, u64, String)>,
    /// The receipts file, open to append (with [`ReceiptsAt::File`] only).
    file: Option<std::fs::File>,
}

impl Receipts {
    /// Opens the receipts at `at` and gives the `(queue, id)` of those an earlier run left.
    async fn open(at: ReceiptsAt) -> Result<(Receipts, HashSet<(usize, String)>), Error> {
        let (left, file) = match &at {
            ReceiptsAt::File(path) => {
                let (left, file) = Receipts::open_file(path).map_err(|source| Error::Io {
                    action: format!("read {}", path.display()),
                    source,
                })?;
                (left, Some(file))
            }
            ReceiptsAt::Folder(folder) => {
                let left = folder
                    .names()
                    .await?
                    .iter()
                    .filter_map(|name| Receipts::parse(name, '-'))
                    .collect();
                (left, None)
            }
        };
        // Number 0: forgotten by the first checkpoint this run saves.
        let receipts = left.iter().map(|(queue, id)| (*queue, 0, id.clone()));
        let kept = Kept {
            receipts: receipts.collect(),
            file,
        };
        let receipts = Receipts {
            at,
            inner: Mutex::new(kept),
        };
        Ok((receipts, left.into_iter().collect()))
    }

    /// The receipts a file holds, and the file rewritten with only them (a line cut by a
    /// crash has no newline: it was not synced, so it says nothing), open to append.
    fn open_file(path: &Path) -> std::io::Result<(Vec<(usize, String)>, std::fs::File)> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let left: Vec<(usize, String)> = text
            .split_inclusive('\n')
            .filter(|line| line.ends_with('\n'))
            .filter_map(|line| Receipts::parse(line.trim_end(), ' '))
            .collect();
        let file = Receipts::rewrite(path, left.iter().map(|(queue, id)| (*queue, id)))?;
        Ok((left, file))
    }

    /// The `(queue, id)` of a receipt written `QUEUE<separator>ID`.
    fn parse(receipt: &str, separator: char) -> Option<(usize, String)> {
        let (queue, id) = receipt.split_once(separator)?;
        Some((queue.parse().ok()?, id.to_owned()))
    }

    /// Writes the receipts `kept` to `path` whole (a temp file renamed into place) and opens
    /// it to append.
    fn rewrite<'a>(
        path: &Path,
        kept: impl Iterator<Item = (usize, &'a String)>,
    ) -> std::io::Result<std::fs::File> {
        let text: String = kept.map(|(queue, id)| format!("{queue} {id}\n")).collect();
        crate::checkpoint::write_atomically(path, text.as_bytes())?;
        std::fs::OpenOptions::new().append(true).open(path)
    }

    /// Records, durably, that alert `id`, number `number` of queue `queue`, was delivered (or
    /// refused).
    async fn record(&self, queue: usize, number: u64, id: &str) {
        let written = match &self.at {
            ReceiptsAt::File(_) => {
                let mut inner = self.inner.lock().expect("not poisoned");
                let file = inner.file.as_mut().expect("a receipts file is open");
                file.write_all(format!("{queue} {id}\n").as_bytes())
                    .and_then(|()| file.sync_data())
                    .map_err(|e| e.to_string())
            }
            ReceiptsAt::Folder(folder) => folder
                .put(&format!("{queue}-{id}"), Vec::new())
                .await
                .map_err(|e| e.to_string()),
        };
        if let Err(e) = written {
            tracing::warn!(
                "cannot write a receipt in {}: {e}; alert {id} may be delivered again after a \
                 restart",
                self.at
            );
        }
        let mut inner = self.inner.lock().expect("not poisoned");
        inner.receipts.push((queue, number, id.to_owned()));
    }

    /// A checkpoint saved the queues after `seen[queue]` deliveries each: the receipts up to
    /// them are no longer needed, and are removed.
    async fn forget_through(&self, seen: &[u64]) {
        let forgotten = {
            let mut inner = self.inner.lock().expect("not poisoned");
            let (forgotten, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut inner.receipts)
                .into_iter()
                .partition(|(queue, number, _)| {
                    seen.get(*queue).is_some_and(|seen| number <= seen)
                });
            inner.receipts = kept;
            if forgotten.is_empty() {
                return;
            }
            if let ReceiptsAt::File(path) = &self.at {
                let kept = inner.receipts.iter().map(|(queue, _, id)| (*queue, id));
                match Receipts::rewrite(path, kept) {
                    Ok(file) => inner.file = Some(file),
                    Err(e) => tracing::warn!("cannot rewrite {}: {e}", path.display()),
                }
            }
            forgotten
        };
        if let ReceiptsAt::Folder(folder) = &self.at {
            for (queue, _, id) in forgotten {
                if let Err(e) = folder.delete(&format!("{queue}-{id}")).await {
                    tracing::warn!("{e}; the receipt is removed by a later run");
                }
            }
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
    /// alerts `state` has pending, less those the receipts at `receipts` (beside the
    /// checkpoint) say were delivered.
    pub(crate) async fn start(
        alerting: &Alerting,
        state: Option<AlertState>,
        receipts: Option<ReceiptsAt>,
    ) -> Result<Stage, Error> {
        let mut state = state.unwrap_or_default();
        let deliverer = Deliverer::new(alerting.retry.clone())?;
        let receipts = match receipts {
            Some(at) => {
                let (receipts, delivered) = Receipts::open(at).await?;
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
            )
            .with_geo_state(state.geo),
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
            geo: self.detector.geo_state().clone(),
            dedup: self.dedup.clone(),
            pending,
            dropped: self.dropped,
        }
    }

    /// The checkpoint of the last [`snapshot`](Self::snapshot) is saved: its new alerts go to
    /// their delivery tasks.
    pub(crate) async fn committed(&mut self) {
        self.saved().await;
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
    pub(crate) async fn saved(&mut self) {
        self.saved.clone_from(&self.seen);
        if let Some(receipts) = &self.receipts {
            receipts.forget_through(&self.seen).await;
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
            receipts.record(index, number, &alert.id).await;
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

    /// A stage with two targets that never answer (nothing leaves the queues during a test),
    /// the alerts `pending` waiting for each, and its receipts at `at`.
    async fn stage_with_pending(pending: &[Alert], at: ReceiptsAt) -> Stage {
        let mut alerting = Alerting::new(RuleSet::shipped(), vec![]);
        alerting.targets = vec![
            AlertTarget::webhook("http://127.0.0.1:9/a").unwrap(),
            AlertTarget::webhook("http://127.0.0.1:9/b").unwrap(),
        ];
        alerting.retry.first = Duration::from_secs(3600);
        let state = AlertState {
            pending: vec![pending.to_vec(), pending.to_vec()],
            ..AlertState::default()
        };
        Stage::start(&alerting, Some(state), Some(at))
            .await
            .unwrap()
    }

    fn ids(queue: &[Alert]) -> Vec<String> {
        queue.iter().map(|a| a.id.clone()).collect()
    }

    /// Checks that `stage` left out alert 0 of `pending` for target 0, and alert 1 for target
    /// 1: those its receipts name.
    fn assert_receipted_left_out(stage: &mut Stage, pending: &[Alert]) {
        let waiting = stage.waiting();
        assert_eq!(ids(&waiting[0]), ids(&pending[1..]));
        assert_eq!(
            ids(&waiting[1]),
            [pending[0].id.clone(), pending[2].id.clone()]
        );
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
        let mut stage = stage_with_pending(&pending, ReceiptsAt::File(path.clone())).await;
        // Target 0 had alert 0 (alert 2's receipt was cut); target 1 had alert 1.
        assert_receipted_left_out(&mut stage, &pending);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("0 {}\n1 {}\n", pending[0].id, pending[1].id)
        );
        stage.saved().await;
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }

    /// Beside a checkpoint in an object store, a receipt is an object of its own
    /// (`<checkpoint>.alerts-sent/QUEUE-ID`): the next run does not queue again the alerts
    /// they name, and deletes them once a checkpoint without those alerts is saved; a
    /// delivery writes one before its alert leaves the queue.
    #[tokio::test]
    async fn receipts_in_an_object_store_keep_a_delivered_alert_from_being_sent_again() {
        let store = crate::destination::memory_store("receipts-test");
        let checkpoint = crate::StateObject::in_store(
            store,
            "state/events.ckpt",
            "memory://receipts-test/state/events.ckpt",
        );
        let folder = checkpoint.sibling_folder(".alerts-sent");
        let pending = alerts(3);
        for (queue, alert) in [(0, &pending[0]), (1, &pending[1])] {
            folder
                .put(&format!("{queue}-{}", alert.id), Vec::new())
                .await
                .unwrap();
        }
        let mut stage = stage_with_pending(&pending, ReceiptsAt::Folder(folder.clone())).await;
        assert_receipted_left_out(&mut stage, &pending);
        let names = |folder: &StateFolder| {
            let folder = folder.clone();
            async move {
                let mut names = folder.names().await.unwrap();
                names.sort();
                names
            }
        };
        let mut planted = vec![
            format!("0-{}", pending[0].id),
            format!("1-{}", pending[1].id),
        ];
        planted.sort();
        assert_eq!(names(&folder).await, planted);
        stage.saved().await;
        assert_eq!(names(&folder).await, Vec::<String>::new());
        // A delivery's receipt: written, then forgotten by the next checkpoint saved.
        let receipts = stage.receipts.clone().unwrap();
        receipts.record(1, 1, &pending[2].id).await;
        assert_eq!(names(&folder).await, [format!("1-{}", pending[2].id)]);
        receipts.forget_through(&[0, 1]).await;
        assert_eq!(names(&folder).await, Vec::<String>::new());
    }
}
