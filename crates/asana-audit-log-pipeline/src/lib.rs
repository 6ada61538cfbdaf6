//! Everything after the Asana audit log stream: land events where security teams query them,
//! exactly once.
//!
//! - [`Pipeline`]: runs any event stream of `asana-audit-log` into an [`Output`] with a
//!   [`Checkpoint`], so that a run killed at any instant and started again writes every event
//!   once; progress and metrics reach an [`Observer`]; one writer per checkpoint ([`Locks`]);
//! - [`Pipeline::land`]: events that come from elsewhere than the API (a file's, with no
//!   cursor) into the same outputs and formats, committed as they go ([`Landing`]);
//! - [`Output`]: standard output or a file ([`Lines`], one event per line), or an archive in a
//!   [`Destination`]: a path or an `s3://`, `gs://`, `az://` URL, configured from the standard
//!   environment of each ecosystem;
//! - [`Format`]: each event as received, or mapped to OCSF 1.8.0 or 1.1.0 ([`OcsfRecord`],
//!   [`OcsfRows`], [`OcsfVersion`]);
//! - [`Encoding`]: `ndjson` (the exact bytes received), `ndjson.gz`, `ndjson.zst`, `parquet`
//!   (typed columns plus the exact JSON, [`parquet_schema`]);
//! - [`Sink`]: partitions by the event's UTC day or hour ([`Partitioning`]), rotates files by
//!   size and age ([`SinkOptions`]), and commits them with a protocol that lets the caller's
//!   checkpoint cover only events that are durably stored ([`Sink::commit`],
//!   [`Sink::recover`]);
//! - [`SecurityLake`]: OCSF events into Amazon Security Lake, each class under the location of
//!   its custom source ([`Layout::SecurityLake`]), and the events of no Security Lake class, as
//!   received, in a fallback destination committed with the lake's files
//!   ([`FormatSink::open_with_fallback`], [`Pipeline::fallback`]);
//! - [`read`]: the files this crate writes, read back record by record;
//! - [`Deliverer`]: the rules' alerts (`asana-audit-rules`) delivered to an [`AlertTarget`] (a
//!   JSON webhook, a Slack incoming webhook, an NDJSON file or standard output), retried with
//!   backoff ([`Retry`]) until delivered or refused.
//!
//! The [`Pipeline`] page has an example of a whole run; the one below uses the [`Sink`] alone.
//!
//! # Example
//!
//! Export from the mock server into a local directory as Parquet, checkpointing around the
//! commit (here the "checkpoint" is a variable; a real program saves it atomically to disk).
//!
//! ```
//! use futures::TryStreamExt;
//! use asana_audit_log::Client;
//! use asana_audit_log_pipeline::{Destination, Encoding, Sink, SinkOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mock = asana_audit_log_mock::MockServer::builder().events(500).start().await?;
//! # let client = Client::builder().token(mock.token()).base_url(mock.base_url()).build()?;
//! # let workspace_gid = mock.workspace_gid();
//! let dir = tempfile::tempdir()?;
//! let destination = Destination::parse(dir.path().to_str().unwrap())?;
//! let mut sink = Sink::open(destination, SinkOptions::new(Encoding::Parquet)).await?;
//!
//! let mut events = client.audit_log_events(workspace_gid).stream()?;
//! while let Some(event) = events.try_next().await? {
//!     sink.write(&event)?;
//! }
//! let cursor = events.cursor();
//! let mut checkpoint = None;
//! let committed = sink
//!     .commit(async |pending| {
//!         // Save {committed cursor, pending commit + `cursor`} or, once published, `cursor`.
//!         checkpoint = Some((cursor.clone(), pending.cloned()));
//!         Ok::<(), std::io::Error>(())
//!     })
//!     .await?;
//! assert_eq!(committed, 500);
//! assert!(checkpoint.unwrap().1.is_none()); // nothing pending: all in place
//! # Ok(()) }
//! ```

#![warn(missing_docs, missing_debug_implementations)]

mod alerting;
mod alerts;
mod checkpoint;
mod destination;
mod encoding;
mod error;
mod format;
mod lake;
mod landing;
mod lines;
mod lock;
mod output;
mod parquet;
mod pipeline;
pub mod read;
mod record;
mod sink;
mod state;
#[cfg(test)]
mod store_tests;

pub use alerting::{AlertObserver, AlertState, Alerting};
pub use alerts::{AlertTarget, Deliverer, Delivery, Retry, slack_message};
/// The OCSF versions [`Format::ocsf_in`] writes, and the classes [`SecurityLake`] takes a
/// location for (from `asana-audit-log-ocsf`).
pub use asana_audit_log_ocsf::{OcsfClass, OcsfVersion};
pub use checkpoint::{
    ArchiveMark, Checkpoint, FORMAT_VERSION, OutputMark, PendingCommit, write_atomically,
};
pub use destination::{Destination, STAGING_DIR, is_url};
pub use encoding::{Encoding, UnknownEncoding};
pub use error::Error;
pub use format::{Format, FormatSink, OcsfRecord, OcsfRows, Prepared, Written};
pub use lake::SecurityLake;
pub use landing::Landing;
pub use lines::{Lines, Recovered, scan_tail};
pub use lock::{Locks, sidecar};
pub use output::Output;
pub use parquet::{EVENT_JSON_COLUMN, parquet_schema};
pub use pipeline::{Observer, Pipeline, Planned, Summary};
pub use record::{EventRows, ParquetRows, Record, RowBuilder, Table};
pub use state::{Lease, StateObject};

/// The Arrow types of [`RowBuilder`]'s signatures, so that an implementation names the same
/// versions this crate writes with.
pub mod arrow {
    pub use arrow_array::RecordBatch;
    pub use arrow_schema::{ArrowError, SchemaRef};
}
pub use sink::{Commit, CommitError, Layout, Partitioning, Recovery, Sink, SinkOptions};
