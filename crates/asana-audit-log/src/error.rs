//! What can go wrong, and what looks wrong. [`Error`] (also at the crate root) is every
//! failure of a client or stream: it carries an HTTP error answer as an [`ApiError`] (status,
//! Asana's reasons as [`AsanaError`]s, a hint), a failure of the HTTP stack as an opaque
//! [`HttpError`], a rejected query as a [`QueryError`] and an event that cannot be decoded as a
//! [`DecodeError`] (which [`AuditLogEvent::from_json`](crate::AuditLogEvent::from_json) returns
//! on its own). A [`QueryWarning`] is a note about a query that is sent anyway.

use std::fmt;
use std::time::Duration;

pub use crate::event::DecodeError;
pub use crate::query::{QueryError, QueryWarning};

/// Everything that can go wrong, from configuration to a page that cannot be read.
///
/// HTTP answers keep Asana's error body ([`asana_errors`](Self::asana_errors)) and come with an
/// actionable [`hint`](Self::hint); both are part of `Display`. No variant names a type of
/// another crate: failures of the HTTP stack come as an [`HttpError`], whose
/// [`source`](std::error::Error::source) is the underlying error, and statuses are plain `u16`s,
/// so this crate's semver does not follow its dependencies'. Transient failures (429, 5xx,
/// timeouts, connection resets, truncated bodies) are retried by the client before they surface
/// (see [`RetryPolicy`](crate::config::RetryPolicy)); when one does surface,
/// [`is_retryable`](Self::is_retryable) says that trying again later may work. No variant ever
/// contains the access token.
///
/// ```
/// use asana_audit_log::{Client, Error};
///
/// let client = Client::new("0/123:secret")?;
/// let err = client.audit_log_events("not-a-gid").to_query().unwrap_err();
/// assert!(matches!(err, Error::InvalidQuery(_)));
/// assert!(!err.is_retryable());
/// assert_eq!(err.status(), None);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No token was given: `ASANA_ACCESS_TOKEN` is unset or empty, or an empty token was passed.
    #[error(
        "no Asana access token: set ASANA_ACCESS_TOKEN (or pass a token) to the token of a \
         service account of an Enterprise domain"
    )]
    MissingToken,

    /// A client setting is invalid (base URL, token characters, concurrency, ...): found when
    /// the client is built, before anything is sent.
    #[error("invalid client setting `{setting}`: {reason}")]
    InvalidConfig {
        /// Which setting.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The underlying HTTP client could not be built (e.g. TLS initialisation failed).
    #[error("cannot build the HTTP client: {source}")]
    HttpClient {
        /// What failed.
        #[source]
        source: HttpError,
    },

    /// The query was rejected before any request was sent.
    #[error("invalid query: {0}")]
    InvalidQuery(#[from] QueryError),

    /// A cursor was used with a query it does not belong to.
    #[error("the cursor does not belong to this query: {0}")]
    CursorMismatch(String),

    /// HTTP 400: a parameter or the paging offset was rejected.
    #[error("{0}")]
    BadRequest(ApiError),

    /// HTTP 401: no valid credentials.
    #[error("{0}")]
    Unauthorized(ApiError),

    /// HTTP 402: the domain's plan does not include the audit log.
    #[error("{0}")]
    PaymentRequired(ApiError),

    /// HTTP 403: the credentials may not read this audit log.
    #[error("{0}")]
    Forbidden(ApiError),

    /// HTTP 404: no such workspace for these credentials.
    #[error("{0}")]
    NotFound(ApiError),

    /// HTTP 429, still after the retries the policy allows.
    #[error("{0}")]
    RateLimited(ApiError),

    /// HTTP 5xx or 408, still after the retries the policy allows.
    #[error("{0}")]
    ServerError(ApiError),

    /// Any other HTTP status, including redirects (which are never followed, so the token is
    /// never sent to another host).
    #[error("{0}")]
    UnexpectedStatus(ApiError),

    /// The request could not be completed (connection refused or reset, timeout, body read
    /// failure), still after the retries the policy allows.
    #[error("request to the Asana API failed after {attempts} attempt(s): {source}")]
    Transport {
        /// The last failure.
        #[source]
        source: HttpError,
        /// How many requests were made.
        attempts: u32,
    },

    /// A response body could not be read as the expected JSON (truncated, or not JSON), still
    /// after the retries the policy allows. An error status whose body is not JSON also lands
    /// here: the generated client reports such a body without its status.
    #[error("the Asana API sent an unreadable response after {attempts} attempt(s): {reason}")]
    InvalidResponse {
        /// What could not be read, with the start of the body.
        reason: String,
        /// How many requests were made.
        attempts: u32,
    },

    /// A response body was larger than the client's cap
    /// ([`ClientBuilder::max_response_bytes`](crate::ClientBuilder::max_response_bytes)); it was
    /// dropped unread past the cap. Not retried: a server that sends one is likely to again.
    #[error(
        "the Asana API sent a response body over the limit of {limit} bytes{}; it was not read \
         (raise ClientBuilder::max_response_bytes if the server is trusted)",
        declared.map(|n| format!(" (Content-Length: {n})")).unwrap_or_default()
    )]
    ResponseTooLarge {
        /// The cap in force.
        limit: u64,
        /// The `Content-Length` the server declared, when it was already over the cap.
        declared: Option<u64>,
    },

    /// The server broke the paging contract in a way that would make the stream stop early or
    /// loop forever: a page of events without `next_page`, an unusable offset, or page after
    /// page of nothing but events already delivered. The events before it were delivered; a
    /// stream resumed later from the last cursor continues after them.
    #[error("the Asana API broke its paging contract: {reason}")]
    Protocol {
        /// What the server did.
        reason: String,
    },

    /// An event of a page lacks a usable `gid` or `created_at`, or nests too deeply.
    #[error(transparent)]
    Decode(#[from] DecodeError),

    /// A state this crate does not expect; please report it.
    #[error("internal error in asana-audit-log (please report it): {0}")]
    Internal(String),
}

impl Error {
    /// The HTTP status of an error answer, if the error is one.
    pub fn status(&self) -> Option<u16> {
        self.api_error().map(ApiError::status)
    }

    /// Whether trying again later may succeed: rate limits, server errors, transport failures and
    /// unreadable responses. Such errors surface only after the client's own retries.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited(_)
                | Self::ServerError(_)
                | Self::Transport { .. }
                | Self::InvalidResponse { .. }
        )
    }

    /// The reasons Asana gave in the error body (empty for errors that are not HTTP answers).
    pub fn asana_errors(&self) -> &[AsanaError] {
        self.api_error().map(ApiError::errors).unwrap_or_default()
    }

    /// What to do about an HTTP error answer, in one sentence.
    pub fn hint(&self) -> Option<&'static str> {
        self.api_error().map(ApiError::hint)
    }

    /// The HTTP error answer, for the variants that carry one.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Self::BadRequest(e)
            | Self::Unauthorized(e)
            | Self::PaymentRequired(e)
            | Self::Forbidden(e)
            | Self::NotFound(e)
            | Self::RateLimited(e)
            | Self::ServerError(e)
            | Self::UnexpectedStatus(e) => Some(e),
            _ => None,
        }
    }

    /// Sorts an error answer into its variant by status.
    pub(crate) fn from_api(error: ApiError) -> Self {
        match error.status {
            400 => Self::BadRequest(error),
            401 => Self::Unauthorized(error),
            402 => Self::PaymentRequired(error),
            403 => Self::Forbidden(error),
            404 => Self::NotFound(error),
            429 => Self::RateLimited(error),
            408 | 500..=599 => Self::ServerError(error),
            _ => Self::UnexpectedStatus(error),
        }
    }

    /// How long the server asked to wait (`Retry-After`), if it did.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        self.api_error().and_then(|e| e.retry_after)
    }

    /// Records how many requests the failing call made.
    pub(crate) fn with_attempts(mut self, count: u32) -> Self {
        if let Some(answer) = self.api_error() {
            // Error answers are sorted into their variant by status alone (`from_api`), so
            // sorting the updated answer again gives back the same variant.
            return Self::from_api(ApiError {
                attempts: count,
                ..answer.clone()
            });
        }
        if let Self::Transport { attempts, .. } | Self::InvalidResponse { attempts, .. } = &mut self
        {
            *attempts = count;
        }
        self
    }
}

/// One reason Asana gave for a failed request: an entry of the error body's `errors` array.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct AsanaError {
    /// What went wrong, when Asana says.
    pub message: Option<String>,
    /// Where to read about fixing it, when Asana says.
    pub help: Option<String>,
    /// On server errors: a phrase identifying the incident for Asana's support.
    pub phrase: Option<String>,
}

/// An HTTP error answer of the API: its status, Asana's error body and what to do about it.
#[derive(Clone, Debug)]
pub struct ApiError {
    status: u16,
    errors: Vec<AsanaError>,
    retry_after: Option<Duration>,
    carried_offset: bool,
    attempts: u32,
    body: Option<String>,
}

impl ApiError {
    pub(crate) fn new(
        status: u16,
        errors: Vec<AsanaError>,
        retry_after: Option<Duration>,
        carried_offset: bool,
        body: Option<String>,
    ) -> Self {
        Self {
            status,
            errors,
            retry_after,
            carried_offset,
            attempts: 1,
            body,
        }
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Asana's reasons, from the error body (empty if the body had none).
    pub fn errors(&self) -> &[AsanaError] {
        &self.errors
    }

    /// The `Retry-After` the server sent, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether the failing request carried a paging offset (a 400 then usually means the
    /// offset expired).
    pub fn carried_offset(&self) -> bool {
        self.carried_offset
    }

    /// How many requests were made before giving up (1 when the status is not retried).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The start of the body, when it was not Asana's error JSON.
    pub fn body(&self) -> Option<&str> {
        self.body.as_deref()
    }

    /// What to do about this answer, in one sentence.
    pub fn hint(&self) -> &'static str {
        match self.status {
            400 if self.carried_offset => {
                "the paging offset was rejected (offsets expire and belong to their query); the \
                 stream restarted from the last event's created_at and was rejected again, so \
                 check Asana's message"
            }
            400 => "Asana rejected a parameter of the query; its message says which",
            401 => {
                "the token is missing, invalid, expired or revoked; check ASANA_ACCESS_TOKEN \
                 (a service account's token)"
            }
            402 => {
                "the domain's plan does not include the audit log API (an Enterprise plan is \
                 required)"
            }
            403 => {
                "the token may not read this audit log: a service account of an Enterprise \
                 domain is required"
            }
            404 => {
                "no workspace with this gid is visible to the token; check the workspace gid \
                 (the Enterprise domain's organization gid)"
            }
            429 => {
                "the token's rate or concurrency limit was exceeded; lower the client's request \
                 rate or concurrency, or share the token with fewer programs"
            }
            408 | 500..=599 => {
                "Asana failed to answer (a transient server error); try again later, and give \
                 Asana support the phrase if there is one"
            }
            300..=399 => {
                "redirects are not followed so the token never leaves the configured host; \
                 check the base URL"
            }
            _ => "the API answered with a status this client does not expect",
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Asana API answered HTTP {}", self.status)?;
        if let Some(reason) = reqwest::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|status| status.canonical_reason())
        {
            write!(f, " {reason}")?;
        }
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        let mut first = true;
        for error in &self.errors {
            f.write_str(if first { ": " } else { "; " })?;
            first = false;
            f.write_str(
                error
                    .message
                    .as_deref()
                    .unwrap_or("(no message)")
                    .trim_end(),
            )?;
            if let Some(phrase) = &error.phrase {
                write!(f, " (phrase: {phrase})")?;
            }
            if let Some(help) = &error.help {
                write!(f, " (help: {})", help.trim_end())?;
            }
        }
        if first && let Some(body) = &self.body {
            write!(f, ": {body}")?;
        }
        write!(f, " — hint: {}", self.hint())
    }
}

/// A failure of the HTTP stack: a connection refused or reset, a timeout, a body that could not
/// be read, a client that could not be built.
///
/// Opaque on purpose: the predicates say what kind of failure it was, and the underlying error
/// of the HTTP library is its [`source`](std::error::Error::source), so this crate's API does
/// not change when that library does.
#[derive(Debug)]
pub struct HttpError(pub(crate) reqwest::Error);

impl HttpError {
    /// Whether the request or the body read timed out.
    pub fn is_timeout(&self) -> bool {
        self.0.is_timeout()
    }

    /// Whether no connection could be made.
    pub fn is_connect(&self) -> bool {
        self.0.is_connect()
    }

    /// Whether reading or decoding the response body failed (e.g. it was cut short).
    pub fn is_body(&self) -> bool {
        self.0.is_body() || self.0.is_decode()
    }
}

impl fmt::Display for HttpError {
    /// What failed, then every cause on one line (the chain a person needs to act on it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.is_timeout() {
            "timed out"
        } else if self.is_connect() {
            "could not connect"
        } else if self.is_body() {
            "the response body could not be read"
        } else {
            "the request failed"
        };
        f.write_str(kind)?;
        let mut cause: Option<&dyn std::error::Error> = Some(&self.0);
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}
