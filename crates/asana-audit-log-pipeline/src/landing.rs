//! [`Landing`]: events that do not come from the API (a file's, say) into an
//! [`Output`](crate::Output).

use std::time::Instant;

use crate::error::Error;
use crate::format::{Format, Prepared, Written};
use crate::lock::Locks;
use crate::pipeline::{Observer, Pipeline, Summary, Writer, write_error};

impl Pipeline {
    /// Opens the output for events that come from somewhere else than the API (a file, a
    /// queue), with no cursor to resume from: [`Landing::write`] them, then
    /// [`Landing::finish`].
    ///
    /// Of the pipeline's fields, a landing uses [`output`](Self::output),
    /// [`format`](Self::format), [`sink`](Self::sink) and [`overwrite`](Self::overwrite); a
    /// [`checkpoint`](Self::checkpoint) is refused (there is nothing to resume from), and the
    /// others are about reading the API. A file output is locked and must be new or empty
    /// (unless `overwrite`, else [`Error::Refused`]); an archive destination is checked to
    /// take writes; either is refused before anything is written. `observer` hears of each
    /// [`committed`](Observer::committed) step and of the end
    /// ([`finished`](Observer::finished)).
    ///
    /// ```
    /// use asana_audit_log::AuditLogEvent;
    /// use asana_audit_log_pipeline::{Destination, Encoding, Format, Output, Pipeline};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let lines = [
    ///     r#"{"gid":"1","created_at":"2026-11-30T07:15:00Z","event_type":"user_login_succeeded","actor":{"actor_type":"user","gid":"7"}}"#,
    ///     r#"{"gid":"2","created_at":"2026-12-01T09:00:00Z","event_type":"user_logout","actor":{"actor_type":"user","gid":"7"}}"#,
    /// ];
    /// let destination = Destination::parse(dir.path().to_str().unwrap())?;
    /// let mut pipeline = Pipeline::new(Output::Archive(destination));
    /// pipeline.format = Format::ocsf(None);
    /// pipeline.sink.encoding = Encoding::Parquet;
    /// let mut landing = pipeline.land(&()).await?;
    /// for line in lines {
    ///     let event = landing.format().prepare(AuditLogEvent::from_json(line)?);
    ///     landing.write(&event).await?;
    /// }
    /// let summary = landing.finish().await?;
    /// assert_eq!(summary.written, 2);
    /// # Ok(()) }
    /// ```
    pub async fn land(self, observer: &dyn Observer) -> Result<Landing<'_>, Error> {
        if self.checkpoint.is_some() {
            return Err(Error::refused(
                "events that do not come from the API have no cursor to checkpoint; land them \
                 without a checkpoint",
            ));
        }
        let started = Instant::now();
        let mut locks = Locks::default();
        let writer = self.target(None, &mut locks)?.open(&self, observer).await?;
        Ok(Landing {
            pipeline: self,
            writer,
            observer,
            written: 0,
            started,
            _locks: locks,
        })
    }
}

/// Events being landed into an output without a cursor (see [`Pipeline::land`]): each
/// [`write`](Self::write) commits an archive's files when they are due by size or age,
/// [`commit`](Self::commit) makes what was written durable at once, and
/// [`finish`](Self::finish) commits the rest.
///
/// A source that must know what is stored (a queue whose messages are acknowledged once
/// they are) may acknowledge everything written so far whenever [`Observer::committed`] is
/// told, and once [`commit`](Self::commit) returns. A source that may idle calls `commit` when
/// [`commit_deadline`](Self::commit_deadline) passes: age is otherwise checked at the next
/// write.
///
/// Dropped without `finish` (after an error, say), it commits nothing more: an archive holds
/// only the files committed so far, a file or standard output the lines handed to it.
pub struct Landing<'a> {
    pipeline: Pipeline,
    writer: Writer,
    observer: &'a dyn Observer,
    written: u64,
    started: Instant,
    /// Held until the landing ends.
    _locks: Locks,
}

impl std::fmt::Debug for Landing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Landing")
            .field("output", &self.pipeline.output)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl Landing<'_> {
    /// The format events are written in: [`Format::prepare`] each event with it (on any
    /// thread) before [`write`](Self::write).
    pub fn format(&self) -> &Format {
        &self.pipeline.format
    }

    /// Events written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Writes one event prepared by [`format`](Self::format); into an archive, then commits
    /// the open files if they are due. An event a Security Lake sends to its fallback
    /// destination is told to the observer ([`Observer::fallback`]).
    pub async fn write(&mut self, event: &Prepared) -> Result<(), Error> {
        let due = match &mut self.writer {
            Writer::Lines { lines, .. } => {
                lines
                    .write_line(event.json())
                    .map_err(|e| write_error(lines, e))?;
                false
            }
            Writer::Archive { sink, .. } => {
                if sink.write_prepared(event)? == Written::Fallback
                    && let Some(received) = event.received()
                {
                    self.observer.fallback(received);
                }
                sink.commit_due()
            }
        };
        self.written += 1;
        if due {
            self.commit().await?;
        }
        Ok(())
    }

    /// When an archive's oldest open file is due by age ([`SinkOptions::max_file_age`]):
    /// [`commit`](Self::commit) then if no write comes first. `None` when no file is open,
    /// and for a file or standard output.
    ///
    /// [`SinkOptions::max_file_age`]: crate::SinkOptions::max_file_age
    pub fn commit_deadline(&self) -> Option<std::time::Instant> {
        match &self.writer {
            Writer::Lines { .. } => None,
            Writer::Archive { sink, .. } => sink.commit_deadline(),
        }
    }

    /// Makes every event written so far durable (an archive's open files committed, a file
    /// synced, standard output flushed), and tells the observer.
    pub async fn commit(&mut self) -> Result<(), Error> {
        match &mut self.writer {
            Writer::Lines { lines, .. } => {
                lines.make_durable().map_err(|e| write_error(lines, e))?;
            }
            Writer::Archive { sink, .. } => {
                sink.commit(async |_| Ok(())).await?;
            }
        }
        self.observer.committed();
        Ok(())
    }

    /// [`commit`](Self::commit)s what is left, and tells what was done.
    pub async fn finish(mut self) -> Result<Summary, Error> {
        self.commit().await?;
        self.observer.finished();
        Ok(Summary {
            written: self.written,
            elapsed: self.started.elapsed(),
            ..Summary::default()
        })
    }
}
