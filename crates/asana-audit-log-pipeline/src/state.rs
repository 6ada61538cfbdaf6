//! State kept in an object store, for a run with no disk of its own: the checkpoint as an
//! object written only on the version last read ([`StateObject`]), and a [`Lease`] instead of a
//! lock file.
//!
//! Object stores offer conditional writes: create-if-absent (`If-None-Match: *` on S3, a
//! generation precondition of 0 on GCS, `If-None-Match: *` on Azure) and update-if-unchanged
//! (`If-Match` with the ETag last read). Every write here is one of the two, so a writer that
//! lost its place (frozen, partitioned, or simply late) cannot overwrite what a newer writer
//! saved: its write fails with [`Error::Conflict`], and it stops.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};

use crate::destination::Destination;
use crate::error::Error;
use crate::sink::WriteGuard;

/// One small object (a checkpoint, a lease) read and written with conditional writes.
///
/// The first write after a read that found nothing creates the object only if it is still
/// absent; every later write replaces it only if it is still the version this value last read
/// or wrote. Anything else is [`Error::Conflict`]: another writer got there first.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), asana_audit_log_pipeline::Error> {
/// use asana_audit_log_pipeline::{Error, StateObject};
///
/// let store = std::sync::Arc::new(object_store::memory::InMemory::new());
/// let mut mine = StateObject::in_store(store.clone(), "state/acme.ckpt", "memory:///state/acme.ckpt");
/// let mut theirs = StateObject::in_store(store, "state/acme.ckpt", "memory:///state/acme.ckpt");
/// assert!(mine.read().await?.is_none());
/// assert!(theirs.read().await?.is_none());
/// mine.write(b"one".to_vec()).await?;
/// // `theirs` read before `mine` wrote: its write is refused, and the object keeps "one".
/// assert!(matches!(theirs.write(b"two".to_vec()).await, Err(Error::Conflict { .. })));
/// assert_eq!(theirs.read().await?.unwrap(), b"one");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct StateObject {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    url: String,
    /// What the last read or write found: `None` before any, `Some(None)` when the object was
    /// absent, `Some(Some(version))` when it was there.
    seen: Option<Option<UpdateVersion>>,
}

impl StateObject {
    /// The object at `url` (`s3://bucket/key`, `gs://...`, `az://...`), configured from the
    /// environment as a [`Destination`] is. A local path is not an object: keep a local
    /// checkpoint as a file.
    pub fn parse(url: &str) -> Result<StateObject, Error> {
        let destination = Destination::parse(url)?;
        let Some((store, path)) = destination.object() else {
            return Err(Error::InvalidDestination {
                destination: url.to_owned(),
                reason: "not an object store URL (s3://, gs://, az://)".to_owned(),
            });
        };
        if path.as_ref().is_empty() {
            return Err(Error::InvalidDestination {
                destination: url.to_owned(),
                reason: "name the object: s3://BUCKET/KEY".to_owned(),
            });
        }
        Ok(StateObject::in_store(store.clone(), path.as_ref(), url))
    }

    /// The object at `path` of `store`, named `url` in messages (for stores made in code, such
    /// as `object_store`'s in-memory store in tests).
    pub fn in_store(store: Arc<dyn ObjectStore>, path: &str, url: &str) -> StateObject {
        StateObject {
            store,
            path: ObjectPath::from(path),
            url: url.to_owned(),
            seen: None,
        }
    }

    /// The object beside this one whose name adds `suffix` (`<checkpoint>.lease`), not read yet.
    pub fn sibling(&self, suffix: &str) -> StateObject {
        StateObject {
            store: self.store.clone(),
            path: ObjectPath::from(format!("{}{suffix}", self.path)),
            url: format!("{}{suffix}", self.url),
            seen: None,
        }
    }

    /// The object's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The folder beside this object whose name adds `suffix` (`<checkpoint>.alerts-sent`).
    pub(crate) fn sibling_folder(&self, suffix: &str) -> StateFolder {
        StateFolder {
            store: self.store.clone(),
            prefix: ObjectPath::from(format!("{}{suffix}", self.path)),
            url: format!("{}{suffix}", self.url),
        }
    }

    /// Reads the object (`None` when it does not exist) and remembers its version for the
    /// next [`write`](Self::write).
    pub async fn read(&mut self) -> Result<Option<Vec<u8>>, Error> {
        match self.store.get(&self.path).await {
            Ok(found) => {
                let version = UpdateVersion {
                    e_tag: found.meta.e_tag.clone(),
                    version: found.meta.version.clone(),
                };
                let bytes = found
                    .bytes()
                    .await
                    .map_err(|e| Error::store("cannot read", &self.url, e))?;
                self.seen = Some(Some(version));
                Ok(Some(bytes.to_vec()))
            }
            Err(object_store::Error::NotFound { .. }) => {
                self.seen = Some(None);
                Ok(None)
            }
            Err(e) => Err(Error::store("cannot read", &self.url, e)),
        }
    }

    /// Writes `bytes` if the object is still as this value last saw it; else
    /// [`Error::Conflict`], and the object is left as the other writer made it. The object
    /// must have been read first.
    pub async fn write(&mut self, bytes: Vec<u8>) -> Result<(), Error> {
        let mode = match &self.seen {
            None => {
                return Err(Error::refused(format!(
                    "{} was written before it was read; read it first",
                    self.url
                )));
            }
            Some(None) => PutMode::Create,
            Some(Some(version)) => PutMode::Update(version.clone()),
        };
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&self.path, PutPayload::from(bytes), options)
            .await
        {
            Ok(done) => {
                self.seen = Some(Some(UpdateVersion {
                    e_tag: done.e_tag,
                    version: done.version,
                }));
                Ok(())
            }
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Err(Error::Conflict {
                message: format!(
                    "{} was changed by another run since this one read it; this run stops and \
                     writes nothing more (another run holds it now)",
                    self.url
                ),
            }),
            Err(e) => Err(Error::store("cannot write", &self.url, e)),
        }
    }
}

/// Small objects under one prefix beside a [`StateObject`], each written whole once, listed
/// and deleted by name: records that no two runs write alike, so they need no conditional
/// write (the receipts of alert deliveries, `<checkpoint>.alerts-sent/QUEUE-ID`).
#[derive(Debug, Clone)]
pub(crate) struct StateFolder {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    url: String,
}

impl StateFolder {
    /// The folder's URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The names of the objects in the folder.
    pub(crate) async fn names(&self) -> Result<Vec<String>, Error> {
        let listed: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&self.prefix))
            .try_collect()
            .await
            .map_err(|e| Error::store("cannot list", &self.url, e))?;
        Ok(listed
            .iter()
            .filter_map(|meta| meta.location.filename().map(str::to_owned))
            .collect())
    }

    /// Writes the object `name` holding `bytes`, durable once this returns.
    pub(crate) async fn put(&self, name: &str, bytes: Vec<u8>) -> Result<(), Error> {
        self.store
            .put(&self.prefix.clone().join(name), PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| Error::store("cannot write", self.object_url(name), e))
    }

    /// Deletes the object `name` (one already absent counts as deleted).
    pub(crate) async fn delete(&self, name: &str) -> Result<(), Error> {
        match self.store.delete(&self.prefix.clone().join(name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::store("cannot delete", self.object_url(name), e)),
        }
    }

    fn object_url(&self, name: &str) -> String {
        format!("{}/{name}", self.url)
    }
}

/// What a lease object holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LeaseRecord {
    /// Who holds it: host, process and start time, unique per run.
    holder: String,
    /// The holder's host name, for messages.
    host: String,
    /// Until when, by the holder's clock, nobody else may take it.
    expires_at: DateTime<Utc>,
}

/// The right to write a checkpoint's state, held for a while and renewed: the lock of a run
/// whose state is in an object store, where `flock` cannot reach.
///
/// Taken with a create-if-absent write (or, once the last holder's lease has expired, an
/// update of the version read), renewed with update-if-unchanged writes. A holder may write
/// while [`remaining`](Lease::remaining) is above zero: that time is counted on its own
/// monotonic clock from before the write that took or renewed the lease, less a margin of a
/// quarter of the lease for clocks that disagree, so it stops writing before anyone else may
/// take over. A holder that died leaves a lease that expires; the next run takes it then.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), asana_audit_log_pipeline::Error> {
/// use std::time::Duration;
/// use asana_audit_log_pipeline::{Error, Lease, StateObject};
///
/// let store = std::sync::Arc::new(object_store::memory::InMemory::new());
/// let object = StateObject::in_store(store, "acme.ckpt.lease", "memory:///acme.ckpt.lease");
/// let mut held = Lease::take(object.clone(), Duration::from_secs(60)).await?;
/// assert!(matches!(Lease::take(object.clone(), Duration::from_secs(60)).await, Err(Error::Locked { .. })));
/// held.renew().await?;
/// held.release().await?;
/// Lease::take(object, Duration::from_secs(60)).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Lease {
    object: StateObject,
    record: LeaseRecord,
    length: Duration,
    /// Until when, on this process's monotonic clock, it may write; shared with the checks
    /// [`Lease::guard`] hands out, which read it without waiting for a renewal under way.
    valid_until: Arc<std::sync::Mutex<Instant>>,
}

impl Lease {
    /// Takes the lease at `object` for `length`, unless another run holds it: then
    /// [`Error::Locked`], naming the holder and until when.
    pub async fn take(mut object: StateObject, length: Duration) -> Result<Lease, Error> {
        let host = host_name();
        let now = Utc::now();
        let holder = format!(
            "{host}:{}:{}",
            std::process::id(),
            now.timestamp_nanos_opt().unwrap_or_default()
        );
        let locked = |record: &LeaseRecord, url: &str| Error::Locked {
            message: format!(
                "another run ({} on {}) holds the lease {url} until {}; a second run waits for \
                 it to end, or for the lease to expire when that run has died",
                record.holder,
                record.host,
                record
                    .expires_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        };
        if let Some(bytes) = object.read().await? {
            let current = parse_record(&bytes, object.url())?;
            if current.expires_at > now {
                return Err(locked(&current, object.url()));
            }
        }
        let mut lease = Lease {
            object,
            record: LeaseRecord {
                holder,
                host,
                expires_at: now,
            },
            length,
            valid_until: Arc::new(std::sync::Mutex::new(Instant::now())),
        };
        match lease.extend().await {
            Ok(()) => Ok(lease),
            // Another run took it between the read and the write.
            Err(Error::Conflict { .. }) => {
                let found = lease.object.read().await?;
                let current = found.map(|bytes| parse_record(&bytes, lease.object.url()));
                match current {
                    Some(Ok(record)) => Err(locked(&record, lease.object.url())),
                    Some(Err(e)) => Err(e),
                    None => Err(Error::Locked {
                        message: format!(
                            "another run took the lease {} at the same moment; try again",
                            lease.object.url()
                        ),
                    }),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Renews the lease for another [`length`](Self::length). [`Error::Conflict`] when another
    /// run has taken it: this run must write nothing more.
    pub async fn renew(&mut self) -> Result<(), Error> {
        if self.remaining().is_zero() {
            return Err(self.lost());
        }
        self.extend().await
    }

    /// Gives the lease up, so that another run may take it at once.
    pub async fn release(&mut self) -> Result<(), Error> {
        self.record.expires_at = Utc::now();
        self.set_valid_until(Instant::now());
        let bytes = serde_json::to_vec(&self.record).expect("a lease record serializes");
        self.object.write(bytes).await
    }

    /// How much longer this holder may write: zero once the lease may have passed to another
    /// run.
    pub fn remaining(&self) -> Duration {
        self.valid_until().saturating_duration_since(Instant::now())
    }

    fn valid_until(&self) -> Instant {
        *self.valid_until.lock().expect("never poisoned")
    }

    fn set_valid_until(&self, until: Instant) {
        *self.valid_until.lock().expect("never poisoned") = until;
    }

    /// A check that this holder may still write, for the sink to make before it puts each
    /// file in place: a run frozen in the middle of a commit (a stopped process, a paused
    /// virtual machine) wakes past its lease and puts nothing more in place.
    pub(crate) fn guard(&self) -> WriteGuard {
        let url = self.url().to_owned();
        let valid_until = self.valid_until.clone();
        Arc::new(move || {
            if Instant::now() < *valid_until.lock().expect("never poisoned") {
                Ok(())
            } else {
                Err(lost(&url))
            }
        })
    }

    /// How long a lease lasts after each renewal.
    pub fn length(&self) -> Duration {
        self.length
    }

    /// The lease object's URL.
    pub fn url(&self) -> &str {
        self.object.url()
    }

    /// The error of a holder whose lease ran out before it could renew it.
    pub fn lost(&self) -> Error {
        lost(self.object.url())
    }

    /// Writes the lease with a new expiry, counted from before the write.
    async fn extend(&mut self) -> Result<(), Error> {
        let sent = Instant::now();
        self.record.expires_at =
            Utc::now() + chrono::Duration::from_std(self.length).unwrap_or(chrono::Duration::MAX);
        let bytes = serde_json::to_vec(&self.record).expect("a lease record serializes");
        if let Err(e) = self.object.write(bytes).await {
            if matches!(e, Error::Conflict { .. }) {
                // Another run has taken it: write nothing more, whatever the clock says.
                self.set_valid_until(Instant::now());
            }
            return Err(e);
        }
        self.set_valid_until(sent + self.length - self.length / 4);
        Ok(())
    }
}

/// A [`Lease`] renewed in the background every third of its length, so that no renewal waits
/// for a write, however long a commit takes; the renewals end when it is released or dropped.
#[derive(Debug)]
pub(crate) struct KeptLease {
    lease: Arc<tokio::sync::Mutex<Lease>>,
    /// Set once the lease is lost: another run took it, or it ran out before a renewal
    /// succeeded.
    lost: tokio::sync::watch::Receiver<bool>,
    renewals: tokio::task::AbortHandle,
}

impl KeptLease {
    /// Starts renewing `lease` (on the current Tokio runtime).
    pub(crate) fn keep(lease: Lease) -> KeptLease {
        let every = lease.length() / 3;
        let lease = Arc::new(tokio::sync::Mutex::new(lease));
        let (set_lost, lost) = tokio::sync::watch::channel(false);
        let kept = lease.clone();
        let renewals = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let mut lease = kept.lock().await;
                match lease.renew().await {
                    Ok(()) => {}
                    // A store that failed is tried again at the next turn, while time is left.
                    Err(e) if !lease.remaining().is_zero() => {
                        tracing::warn!("cannot renew the lease {}: {e}; trying again", lease.url());
                    }
                    Err(_) => {
                        let _ = set_lost.send(true);
                        return;
                    }
                }
            }
        })
        .abort_handle();
        KeptLease {
            lease,
            lost,
            renewals,
        }
    }

    /// See [`Lease::guard`].
    pub(crate) async fn guard(&self) -> WriteGuard {
        self.lease.lock().await.guard()
    }

    /// `Ok` while the lease lasts; else the error that ends the run.
    pub(crate) async fn check(&self) -> Result<(), Error> {
        let lease = self.lease.lock().await;
        if lease.remaining().is_zero() {
            return Err(lease.lost());
        }
        Ok(())
    }

    /// Completes (with the error that ends the run) once the lease is lost.
    pub(crate) async fn lost(&self) -> Error {
        let mut lost = self.lost.clone();
        let _ = lost.wait_for(|lost| *lost).await;
        self.lease.lock().await.lost()
    }

    /// Ends the renewals and gives the lease up, so that another run may take it at once.
    pub(crate) async fn release(self) -> Result<(), Error> {
        self.renewals.abort();
        self.lease.lock().await.release().await
    }
}

impl Drop for KeptLease {
    fn drop(&mut self) {
        self.renewals.abort();
    }
}

/// The error of a holder whose lease at `url` ran out before it could renew it.
fn lost(url: &str) -> Error {
    Error::Conflict {
        message: format!(
            "the lease {url} ran out before this run could renew it; this run stops and writes \
             nothing more (another run may hold it now)"
        ),
    }
}

fn parse_record(bytes: &[u8], url: &str) -> Result<LeaseRecord, Error> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::refused(format!(
            "{url} is not a lease this program wrote ({e}); remove it if no run uses it"
        ))
    })
}

/// This machine's name, for lease messages (`HOSTNAME`, else `/etc/hostname`, else
/// "unknown host").
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown host".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn object(store: &Arc<InMemory>) -> StateObject {
        StateObject::in_store(store.clone(), "s/a.lease", "memory:///s/a.lease")
    }

    #[tokio::test]
    async fn an_expired_lease_is_taken_over_and_its_old_holder_cannot_renew() {
        let store = Arc::new(InMemory::new());
        let mut old = Lease::take(object(&store), Duration::from_millis(40))
            .await
            .unwrap();
        assert!(!old.remaining().is_zero());
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(old.remaining().is_zero());
        let new = Lease::take(object(&store), Duration::from_secs(60))
            .await
            .unwrap();
        // Even a write that skipped the clock check is refused: the version moved.
        let err = old.extend().await.unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }), "{err}");
        assert!(matches!(old.renew().await, Err(Error::Conflict { .. })));
        assert!(!new.remaining().is_zero());
    }

    #[tokio::test]
    async fn a_live_lease_is_refused_with_its_holder() {
        let store = Arc::new(InMemory::new());
        let _held = Lease::take(object(&store), Duration::from_secs(60))
            .await
            .unwrap();
        let err = Lease::take(object(&store), Duration::from_secs(60))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Locked { .. }));
        assert!(
            err.to_string()
                .contains("holds the lease memory:///s/a.lease until"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_foreign_object_is_not_taken_for_a_lease() {
        let store = Arc::new(InMemory::new());
        let mut other = object(&store);
        other.read().await.unwrap();
        other.write(b"not a lease".to_vec()).await.unwrap();
        let err = Lease::take(object(&store), Duration::from_secs(60))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("is not a lease"), "{err}");
        assert_eq!(
            object(&store).read().await.unwrap().unwrap(),
            b"not a lease"
        );
    }

    #[tokio::test]
    async fn a_write_before_a_read_is_refused() {
        let store = Arc::new(InMemory::new());
        let err = object(&store).write(b"x".to_vec()).await.unwrap_err();
        assert!(err.to_string().contains("read it first"), "{err}");
    }

    #[test]
    fn only_object_urls_name_state_objects() {
        let err = StateObject::parse("/var/lib/a.ckpt").unwrap_err();
        assert!(err.to_string().contains("not an object store URL"), "{err}");
    }
}
