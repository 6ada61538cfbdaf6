//! Where files land: a local directory, or a prefix of an S3, GCS or Azure bucket.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, RetryConfig};
use tokio::io::AsyncWriteExt;

use crate::error::Error;

/// The folder, under a destination, that holds what is not part of the archive: staged files
/// of a local destination (written there, then renamed into place) and the small probe a sink
/// writes to check that a destination takes writes. Query engines skip folders whose names
/// start with `_`.
pub const STAGING_DIR: &str = "_asana_audit_staging";

/// Where a [`Sink`](crate::Sink) lands its files.
///
/// Parsed from what a user types: a path (`./archive`, `/var/lib/asana-audit`), a `file://`
/// URL, or an object store URL configured the way its ecosystem does it:
///
/// | URL | store | configuration |
/// | --- | --- | --- |
/// | `s3://bucket/prefix` | Amazon S3 or an S3-compatible store | the standard `AWS_*` environment variables and credential chain (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, web identity, container and instance credentials); `AWS_ENDPOINT_URL` points at MinIO and the like, `AWS_ALLOW_HTTP=true` allows a plain-HTTP endpoint |
/// | `gs://bucket/prefix` | Google Cloud Storage | `GOOGLE_SERVICE_ACCOUNT` (a key file), `GOOGLE_APPLICATION_CREDENTIALS`, or the instance's credentials |
/// | `az://container/prefix` | Azure Blob Storage | `AZURE_STORAGE_ACCOUNT_NAME` with `AZURE_STORAGE_ACCOUNT_KEY`, a SAS, or Azure AD credentials (`AZURE_CLIENT_ID`, ...) |
///
/// A local destination is written by this crate itself (a staged file is synced, renamed into
/// place, and its folder synced), because `object_store`'s local store renames without syncing,
/// which does not survive a power loss. Object stores are written with `object_store`: an
/// object appears under its name only once it is fully uploaded.
///
/// ```
/// use asana_audit_log_pipeline::Destination;
///
/// let local = Destination::parse("/var/lib/asana-audit").unwrap();
/// assert!(local.is_local());
/// let err = Destination::parse("ftp://host/dir").unwrap_err();
/// assert!(err.to_string().contains("s3://"), "{err}");
/// ```
#[derive(Clone)]
pub struct Destination {
    kind: Kind,
    /// The destination as a URL (`file:///...`, `s3://bucket/prefix`), for messages.
    url: String,
}

#[derive(Clone)]
enum Kind {
    Local {
        root: PathBuf,
    },
    Object {
        store: Arc<dyn ObjectStore>,
        prefix: ObjectPath,
    },
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Destination")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// Retries for object store requests: a few, within a minute, so that a destination that
/// fails for good stops the run soon with a clear error.
fn retry() -> RetryConfig {
    RetryConfig {
        max_retries: 4,
        retry_timeout: Duration::from_secs(60),
        ..RetryConfig::default()
    }
}

/// The crate's tests' `memory://BUCKET/...` URLs: one `object_store` in-memory store per
/// bucket name, shared by every destination and checkpoint that names it.
#[cfg(test)]
pub(crate) fn memory_store(bucket: &str) -> Arc<object_store::memory::InMemory> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static STORES: OnceLock<Mutex<HashMap<String, Arc<object_store::memory::InMemory>>>> =
        OnceLock::new();
    let mut stores = STORES.get_or_init(Default::default).lock().unwrap();
    stores.entry(bucket.to_owned()).or_default().clone()
}

/// Whether `text` looks like a URL (`scheme://...`) rather than a path: what
/// [`Destination::parse`] reads as a URL.
pub fn is_url(text: &str) -> bool {
    text.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

impl Destination {
    /// Reads a path or URL; configuration of object stores comes from the environment. Sends
    /// nothing: see [`Sink::open`](crate::Sink::open) for the check that the destination takes
    /// writes.
    pub fn parse(text: &str) -> Result<Destination, Error> {
        let invalid = |reason: String| Error::InvalidDestination {
            destination: text.to_owned(),
            reason,
        };
        if !is_url(text) {
            return Ok(Destination::local(Path::new(text)));
        }
        let url = url::Url::parse(text).map_err(|e| invalid(format!("not a URL: {e}")))?;
        if url.scheme() != "file" && url.host_str().is_none_or(str::is_empty) {
            return Err(invalid(format!(
                "name the bucket (or container): {}://BUCKET/prefix",
                url.scheme()
            )));
        }
        let store: Arc<dyn ObjectStore> = match url.scheme() {
            "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|()| invalid("not a local path".into()))?;
                return Ok(Destination::local(&path));
            }
            "s3" | "s3a" => Arc::new(
                object_store::aws::AmazonS3Builder::from_env()
                    .with_url(text)
                    .with_retry(retry())
                    .build()
                    .map_err(|e| invalid(e.to_string()))?,
            ),
            "gs" => Arc::new(
                object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_url(text)
                    .with_retry(retry())
                    .build()
                    .map_err(|e| invalid(e.to_string()))?,
            ),
            "az" | "azure" | "abfs" | "abfss" => Arc::new(
                object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(text)
                    .with_retry(retry())
                    .build()
                    .map_err(|e| invalid(e.to_string()))?,
            ),
            #[cfg(test)]
            "memory" => memory_store(url.host_str().unwrap_or_default()),
            other => {
                return Err(invalid(format!(
                    "unknown scheme {other:?}: use a local path, file://, s3://, gs:// or az://"
                )));
            }
        };
        let prefix = ObjectPath::parse(url.path().trim_matches('/'))
            .map_err(|e| invalid(format!("bad prefix: {e}")))?;
        Ok(Destination {
            kind: Kind::Object { store, prefix },
            url: text.trim_end_matches('/').to_owned(),
        })
    }

    /// A local destination, named by its absolute path without a trailing `/`, so that the
    /// same folder given as `out`, `out/` or `./out` (from the same working folder) is one
    /// destination, and another working folder's `out` is another.
    fn local(root: &Path) -> Destination {
        let root = std::path::absolute(root).unwrap_or_else(|_| root.to_owned());
        let text = root.to_string_lossy();
        let trimmed = text.trim_end_matches('/');
        let root = PathBuf::from(if trimmed.is_empty() { "/" } else { trimmed });
        Destination {
            url: format!("file://{}", root.display()),
            kind: Kind::Local { root },
        }
    }

    /// A destination in `store` under `prefix`, named `url` in messages: the crate's tests use
    /// `object_store`'s in-memory store, so that every object-store path runs without a server.
    #[cfg(test)]
    pub(crate) fn in_store(store: Arc<dyn ObjectStore>, prefix: &str, url: &str) -> Destination {
        Destination {
            kind: Kind::Object {
                store,
                prefix: ObjectPath::from(prefix),
            },
            url: url.to_owned(),
        }
    }

    /// The store and the prefix of a destination in an object store (`None` for a local one).
    pub(crate) fn object(&self) -> Option<(&Arc<dyn ObjectStore>, &ObjectPath)> {
        match &self.kind {
            Kind::Object { store, prefix } => Some((store, prefix)),
            Kind::Local { .. } => None,
        }
    }

    /// Whether files land in a local directory.
    pub fn is_local(&self) -> bool {
        matches!(self.kind, Kind::Local { .. })
    }

    /// The destination as a URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where a file named `name` (a relative path) lands, as a URL.
    pub fn location(&self, name: &str) -> String {
        format!("{}/{name}", self.url)
    }

    /// The folder staged files are written to: inside a local destination (so that a rename
    /// puts them in place), else `fallback`.
    pub(crate) fn staging_dir(&self, fallback: &Path) -> PathBuf {
        match &self.kind {
            Kind::Local { root } => root.join(STAGING_DIR),
            Kind::Object { .. } => fallback.to_owned(),
        }
    }

    fn object_path(prefix: &ObjectPath, name: &str) -> ObjectPath {
        let mut path = prefix.clone();
        for part in name.split('/') {
            path = path.clone().join(part);
        }
        path
    }

    /// Checks that the destination takes writes: writes a small object (or file) named `name`
    /// in the staging folder and removes it. Finds missing or refused credentials, a bucket
    /// that does not exist or refuses writes. Probes that runs killed in between left behind
    /// are removed too.
    pub(crate) async fn probe(&self, name: &str) -> Result<(), Error> {
        match &self.kind {
            Kind::Local { root } => {
                std::fs::create_dir_all(root.join(STAGING_DIR))
                    .map_err(|e| Error::io(format!("create {}", root.display()), e))?;
                let probe = root.join(STAGING_DIR).join(name);
                std::fs::write(&probe, b"probe")
                    .map_err(|e| Error::io(format!("write to {}", root.display()), e))?;
                std::fs::remove_file(&probe)
                    .map_err(|e| Error::io(format!("remove {}", probe.display()), e))
            }
            Kind::Object { store, prefix } => {
                let name = format!("{STAGING_DIR}/{name}");
                let path = Self::object_path(prefix, &name);
                let location = self.location(&name);
                store
                    .put(&path, bytes::Bytes::from_static(b"probe").into())
                    .await
                    .map_err(|e| Error::store("cannot write to", &location, e))?;
                let staging = Self::object_path(prefix, STAGING_DIR);
                let mut leftovers = store.list(Some(&staging));
                while let Some(item) = futures::StreamExt::next(&mut leftovers).await {
                    let item = item.map_err(|e| Error::store("cannot list", &location, e))?;
                    match store.delete(&item.location).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(Error::store("cannot delete", &location, e)),
                    }
                }
                Ok(())
            }
        }
    }

    /// Puts the staged files in place under their names (`(staged, name)`), durably and
    /// atomically: no reader ever sees part of a file under its name. The staged files are
    /// gone afterwards. In a local folder every file is moved first, then each folder that
    /// gained an entry (a file, or a folder made for one) is synced once, however many files
    /// it took: a commit of a day's files for many tables costs one sync per folder, not three
    /// per file. `guard`, when given, is called before each file, and its error stops there.
    /// On an error, says how many files (from the first) are in place.
    pub(crate) async fn publish_all(
        &self,
        files: &[(PathBuf, String)],
        guard: Option<&(dyn Fn() -> Result<(), Error> + Send + Sync)>,
    ) -> Result<(), (usize, Error)> {
        let check = |index: usize| guard.map_or(Ok(()), |guard| guard().map_err(|e| (index, e)));
        match &self.kind {
            Kind::Local { root } => {
                let mut folders = BTreeSet::new();
                for (index, (staged, name)) in files.iter().enumerate() {
                    check(index)?;
                    let target = root.join(name);
                    let parent = target.parent().expect("a file name under the root");
                    std::fs::create_dir_all(parent).map_err(|e| {
                        (index, Error::io(format!("create {}", parent.display()), e))
                    })?;
                    std::fs::rename(staged, &target).map_err(|e| {
                        let action = format!("move a file into {}", target.display());
                        (index, Error::io(action, e))
                    })?;
                    // The rename, and any folder it needed, are durable once their folders are
                    // synced: the file's folder and those above it, up to the root.
                    let mut dir = Some(parent);
                    while let Some(folder) = dir {
                        // A folder already listed has its own above it listed too.
                        if !folders.insert(folder.to_path_buf()) || folder == root.as_path() {
                            break;
                        }
                        dir = folder.parent();
                    }
                }
                folders
                    .iter()
                    .try_for_each(|folder| sync_dir(folder))
                    .map_err(|e| (files.len(), e))
            }
            Kind::Object { store, prefix } => {
                for (index, (staged, name)) in files.iter().enumerate() {
                    check(index)?;
                    self.upload(store, prefix, staged, name)
                        .await
                        .map_err(|e| (index, e))?;
                }
                Ok(())
            }
        }
    }

    /// Uploads the staged file `staged` as the object `name`, which appears whole or not at
    /// all, and removes the staged file.
    async fn upload(
        &self,
        store: &Arc<dyn ObjectStore>,
        prefix: &ObjectPath,
        staged: &Path,
        name: &str,
    ) -> Result<(), Error> {
        let path = Self::object_path(prefix, name);
        let location = self.location(name);
        let mut file = tokio::fs::File::open(staged)
            .await
            .map_err(|e| Error::io(format!("read {}", staged.display()), e))?;
        // Small files in one request, large ones in parts; the object appears only when
        // the upload completes.
        let mut upload = object_store::buffered::BufWriter::new(store.clone(), path);
        let failed = match tokio::io::copy(&mut file, &mut upload).await {
            // A failed completion leaves nothing to abort (the writer is shut down);
            // a multipart upload the store started is never completed, so no object
            // appears (bucket lifecycle rules remove such parts).
            Ok(_) => upload.shutdown().await.err(),
            Err(e) => {
                let _ = upload.abort().await;
                Some(e)
            }
        };
        if let Some(e) = failed {
            return Err(Error::Store {
                action: "cannot upload",
                location,
                source: Box::new(e),
            });
        }
        std::fs::remove_file(staged)
            .map_err(|e| Error::io(format!("remove {}", staged.display()), e))
    }

    /// Whether a file named `name` is in place.
    pub(crate) async fn exists(&self, name: &str) -> Result<bool, Error> {
        match &self.kind {
            Kind::Local { root } => Ok(root.join(name).is_file()),
            Kind::Object { store, prefix } => {
                match store.head(&Self::object_path(prefix, name)).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(e) => Err(Error::store("cannot check", self.location(name), e)),
                }
            }
        }
    }

    /// Removes the file named `name` if it is there.
    pub(crate) async fn remove(&self, name: &str) -> Result<(), Error> {
        match &self.kind {
            Kind::Local { root } => {
                let target = root.join(name);
                match std::fs::remove_file(&target) {
                    Ok(()) => sync_dir(target.parent().expect("a file name under the root")),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(Error::io(format!("remove {}", target.display()), e)),
                }
            }
            Kind::Object { store, prefix } => {
                match store.delete(&Self::object_path(prefix, name)).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(Error::store("cannot delete", self.location(name), e)),
                }
            }
        }
    }
}

/// Makes the entries of `dir` (a rename into it, a new folder in it) durable.
fn sync_dir(dir: &Path) -> Result<(), Error> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("sync {}", dir.display()), e))
}
