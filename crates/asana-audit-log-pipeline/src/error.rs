//! The crate's error type.

/// A boxed error of a dependency, kept as the [`source`](std::error::Error::source).
type Cause = Box<dyn std::error::Error + Send + Sync>;

/// What can go wrong while landing events.
///
/// No variant names a type of another crate: the underlying error (of the OS, of the object
/// store client, of the Parquet writer) is the [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The destination is not one this crate can write to (unknown URL scheme, a URL without a
    /// bucket, an option out of range): found before anything is written.
    #[error("invalid destination {destination:?}: {reason}")]
    InvalidDestination {
        /// The destination as given.
        destination: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The object store refused or failed a request (missing or refused credentials, a bucket
    /// that does not exist or refuses writes, a network failure after its retries).
    #[error("{action} {location}: {source}")]
    Store {
        /// What was being done, e.g. "cannot upload".
        action: &'static str,
        /// The object's URL.
        location: String,
        /// The object store client's error.
        #[source]
        source: Cause,
    },

    /// A local file or directory could not be read or written.
    #[error("cannot {action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A commit read back from a checkpoint is not one this crate could have made (a file name
    /// outside the destination, an empty list): the checkpoint was altered or is not ours.
    #[error("the checkpoint's pending commit is not valid: {reason}")]
    InvalidCommit {
        /// What is wrong with it.
        reason: String,
    },

    /// An earlier write or commit of this sink failed; open a new sink (and recover the
    /// pending commit) to go on.
    #[error("the sink stopped after an earlier failure")]
    Failed,

    /// The Parquet encoder failed.
    #[error("cannot encode Parquet: {source}")]
    Encode {
        /// The encoder's error.
        #[source]
        source: Cause,
    },

    /// What a run was asked to do cannot work, found before anything was read or written: a
    /// checkpoint that is not valid or belongs to another query or output, an output that
    /// cannot be opened or would be overwritten, a destination that takes no writes. The
    /// message says what to do.
    #[error("{message}")]
    Refused {
        /// What is wrong, and what to do about it.
        message: String,
    },

    /// Another run holds the checkpoint (or the file output): nothing was read or written.
    #[error("{message}")]
    Locked {
        /// Which lock, and what to do about it.
        message: String,
    },

    /// State kept in an object store (a checkpoint, a lease) was changed by another run since
    /// this one read it, or this run's lease ran out: another run may hold it now, so this one
    /// stopped and wrote nothing more.
    #[error("{message}")]
    Conflict {
        /// Which object, and what happened.
        message: String,
    },

    /// A commit of files failed during a run: the checkpoint covers only the files that were
    /// in place before it. The source says why.
    #[error(
        "{}; the checkpoint covers only the files already in place",
        chain(source)
    )]
    Commit {
        /// The sink's error.
        #[source]
        source: Box<Error>,
    },

    /// A file or standard output given lines could not be written.
    #[error("{message}")]
    Output {
        /// What failed, e.g. "cannot write output events.ndjson: No space left on device".
        message: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// The event stream failed (the API, the network, the token, the query).
    #[error(transparent)]
    Stream(#[from] asana_audit_log::Error),
}

/// An error and its causes on one line, each cause once.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let more = error.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = error.source();
    }
    text
}

impl Error {
    pub(crate) fn refused(message: impl Into<String>) -> Self {
        Error::Refused {
            message: message.into(),
        }
    }

    pub(crate) fn io(action: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            action: action.into(),
            source,
        }
    }

    pub(crate) fn parquet(source: parquet::errors::ParquetError) -> Self {
        Error::Encode {
            source: Box::new(source),
        }
    }

    /// An Arrow error (for [`RowBuilder`](crate::RowBuilder) implementations).
    pub fn arrow(source: arrow_schema::ArrowError) -> Self {
        Error::Encode {
            source: Box::new(source),
        }
    }

    pub(crate) fn store(
        action: &'static str,
        location: impl Into<String>,
        source: object_store::Error,
    ) -> Self {
        Error::Store {
            action,
            location: location.into(),
            source: Box::new(source),
        }
    }
}
