//! The crate's error type.

/// A boxed error of a dependency, kept as the [`source`](std::error::Error::source).
type Cause = Box<dyn std::error::Error + Send + Sync>;

/// What can go wrong while landing events.
///
/// No variant names a type of another crate: the underlying error (of the OS, of the object
/// store client, of the Parquet writer) is the [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
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
}

impl SinkError {
    pub(crate) fn io(action: impl Into<String>, source: std::io::Error) -> Self {
        SinkError::Io {
            action: action.into(),
            source,
        }
    }

    pub(crate) fn parquet(source: parquet::errors::ParquetError) -> Self {
        SinkError::Encode {
            source: Box::new(source),
        }
    }

    /// An Arrow error (for [`RowBuilder`](crate::RowBuilder) implementations).
    pub fn arrow(source: arrow_schema::ArrowError) -> Self {
        SinkError::Encode {
            source: Box::new(source),
        }
    }

    pub(crate) fn store(
        action: &'static str,
        location: impl Into<String>,
        source: object_store::Error,
    ) -> Self {
        SinkError::Store {
            action,
            location: location.into(),
            source: Box::new(source),
        }
    }
}
