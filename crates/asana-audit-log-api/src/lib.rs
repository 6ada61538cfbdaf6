//! Low-level client for Asana's Audit Log API, generated from `openapi/asana-audit-log.yaml`.
//!
//! Everything in this crate except this file is written by `cargo xtask generate` (progenitor,
//! builder interface) and must not be edited by hand: change the spec, regenerate, review the
//! diff, commit both. Most users want the ergonomic crate `asana-audit-log` instead, which adds
//! typed filters, a paginator that ends, retries, rate limits and lossless event types on top.
//!
//! What this layer gives you is the operation as the spec describes it: one builder per call,
//! `types` that keep every field Asana adds (the `extra` maps), response-side enums as plain
//! strings so a new server value never fails a page, and Asana's error body on every documented
//! error status.
//!
//! # Example
//!
//! Reading one page; the token goes into the `reqwest::Client`'s default headers, and
//! [`ResponseLimits`] caps the size of every response body (32 MiB by default).
//!
//! ```no_run
//! use asana_audit_log_api::{Client, ResponseLimits, types::GetAuditLogEventsActorType};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut headers = reqwest::header::HeaderMap::new();
//! let mut auth = reqwest::header::HeaderValue::from_str("Bearer 2/1234/5678:secret")?;
//! auth.set_sensitive(true);
//! headers.insert(reqwest::header::AUTHORIZATION, auth);
//! let http = reqwest::Client::builder().default_headers(headers).build()?;
//! let client = Client::new_with_client(
//!     "https://app.asana.com/api/1.0",
//!     http,
//!     ResponseLimits::default(),
//! );
//!
//! let page = client
//!     .get_audit_log_events()
//!     .workspace_gid("1234567890")
//!     .actor_type(GetAuditLogEventsActorType::User)
//!     .limit(std::num::NonZeroU64::new(100).unwrap())
//!     .send()
//!     .await?
//!     .into_inner();
//! for event in &page.data {
//!     // Each event is its exact JSON text; decode it into whatever type suits you.
//!     let event: serde_json::Value = event.decode()?;
//!     println!("{} {}", event["created_at"], event["event_type"]);
//! }
//! // `next_page` stays present after the last event: an empty `data` is the end for now.
//! let offset = page.next_page.and_then(|next| next.0).and_then(|next| next.offset);
//! # let _ = offset;
//! # Ok(())
//! # }
//! ```

// The generated file is pulled in with `include!` so that rustfmt leaves it as the generator
// wrote it (prettyplease output); `cargo xtask generate --check` keeps it honest instead.
#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    unused_imports,
    rustdoc::bare_urls,
    rustdoc::broken_intra_doc_links
)]
mod generated {
    include!("generated.rs");
}

pub use generated::*;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt as _, LengthLimitError, Limited, StreamBody};
use progenitor_client::{ClientHooks, OperationInfo};

/// The production base URL, taken from the spec's `servers` entry.
pub const DEFAULT_BASE_URL: &str = "https://app.asana.com/api/1.0";

/// One audit log event exactly as the server sent it: the JSON object's own bytes.
///
/// The generated page type holds events in this form (a generation setting of
/// `cargo xtask generate`) so that decoding a page never loses or rejects anything: fields and
/// enum values the spec does not know, explicit `null`s, numbers beyond 64 bits and known fields
/// with unexpected types all survive. Decode an event into a type of your choice with
/// [`RawAuditLogEvent::decode`]; the ergonomic crate's `AuditLogEvent` is the lossless typed view.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct RawAuditLogEvent(pub Box<serde_json::value::RawValue>);

impl RawAuditLogEvent {
    /// The event's JSON text, byte for byte as received.
    pub fn json(&self) -> &str {
        self.0.get()
    }

    /// Decodes the event into any deserializable type, e.g. `serde_json::Value`.
    pub fn decode<'a, T: serde::Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }
}

/// The default for [`ResponseLimits::max_body_bytes`]: 32 MiB.
///
/// A full page of 100 events is tens of kilobytes; the cap is there so that a broken or hostile
/// server cannot make the client allocate without bound, not to trim real pages.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 32 * 1024 * 1024;

/// Limits the [`Client`] enforces on every response before the generated code reads it: the
/// client's inner value (progenitor's `inner_type`), given to [`Client::new`] and
/// [`Client::new_with_client`].
///
/// The generated `send()` reads a body whole (`Response::bytes`), so the cap has to sit under
/// it: the client's `ClientHooks::exec` refuses a body whose `Content-Length` is over the cap
/// without reading any of it, and counts the bytes of any other body as they arrive, failing
/// the read as soon as the count passes the cap. Either way the call returns
/// [`Error::ResponseBodyError`] whose source chain holds a [`BodyTooLarge`].
///
/// ```
/// use asana_audit_log_api::{DEFAULT_MAX_BODY_BYTES, ResponseLimits};
///
/// assert_eq!(ResponseLimits::default().max_body_bytes, Some(DEFAULT_MAX_BODY_BYTES));
/// let small = ResponseLimits::default().with_max_body_bytes(Some(1 << 20));
/// assert_eq!(small.max_body_bytes, Some(1 << 20));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResponseLimits {
    /// The most bytes a response body may have (after any content decoding); `None` for no
    /// limit.
    pub max_body_bytes: Option<u64>,
}

impl Default for ResponseLimits {
    /// A body cap of [`DEFAULT_MAX_BODY_BYTES`].
    fn default() -> Self {
        ResponseLimits {
            max_body_bytes: Some(DEFAULT_MAX_BODY_BYTES),
        }
    }
}

impl ResponseLimits {
    /// The same limits with another body cap (`None`: unlimited).
    pub fn with_max_body_bytes(mut self, max_body_bytes: Option<u64>) -> Self {
        self.max_body_bytes = max_body_bytes;
        self
    }
}

/// Why reading a response body failed: it is larger than [`ResponseLimits::max_body_bytes`].
///
/// Found in the source chain of the `reqwest::Error` that [`Error::ResponseBodyError`] carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyTooLarge {
    /// The cap in force.
    pub limit: u64,
    /// The body's `Content-Length`, when the server declared one over the cap (nothing of the
    /// body was read then).
    pub declared: Option<u64>,
}

impl std::fmt::Display for BodyTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.declared {
            Some(length) => write!(
                f,
                "the response body is {length} bytes (Content-Length), over the limit of {} bytes",
                self.limit
            ),
            None => write!(
                f,
                "the response body grew past the limit of {} bytes",
                self.limit
            ),
        }
    }
}

impl std::error::Error for BodyTooLarge {}

impl BodyTooLarge {
    /// The cap that stopped a body read, if `error` (from reading a response) is one: reqwest
    /// keeps the hook's error in the source chain.
    pub fn find(error: &reqwest::Error) -> Option<BodyTooLarge> {
        let mut source = std::error::Error::source(error);
        while let Some(error) = source {
            if let Some(found) = error.downcast_ref::<BodyTooLarge>() {
                return Some(*found);
            }
            source = error.source();
        }
        None
    }
}

impl ClientHooks<ResponseLimits> for Client {
    async fn exec(
        &self,
        request: reqwest::Request,
        _info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        let response = self.client.execute(request).await?;
        Ok(match self.inner.max_body_bytes {
            Some(limit) => cap_body(response, limit),
            None => response,
        })
    }
}

/// The same response with its body capped at `limit` bytes by `http_body_util::Limited`, whose
/// error is turned into a [`BodyTooLarge`]. Status, headers and extensions carry over unchanged;
/// the URL is carried across in the extension `reqwest` reads it back from; and reqwest's
/// timeouts still apply, since they live inside the original body.
fn cap_body(response: reqwest::Response, limit: u64) -> reqwest::Response {
    use reqwest::ResponseBuilderExt as _;

    let url = response.url().clone();
    let declared = response.content_length().filter(|&length| length > limit);
    let (mut parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
    if let Ok(carrier) = http::Response::builder().url(url).body(()) {
        parts.extensions.extend(carrier.into_parts().0.extensions);
    }
    let too_large = move |declared| -> BoxError { Box::new(BodyTooLarge { limit, declared }) };
    let body = match declared {
        // Limited only counts bytes as they arrive, so refusing a declared length before reading
        // anything stays hand-written: the body is dropped unread (which closes the connection)
        // and replaced by one whose first frame is the error.
        Some(length) => {
            drop(body);
            let refused: [Result<Frame<Bytes>, BoxError>; 1] = [Err(too_large(Some(length)))];
            reqwest::Body::wrap(StreamBody::new(futures::stream::iter(refused)))
        }
        None => {
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            reqwest::Body::wrap(Limited::new(body, limit).map_err(move |error| {
                if error.is::<LengthLimitError>() {
                    too_large(None)
                } else {
                    error
                }
            }))
        }
    };
    reqwest::Response::from(http::Response::from_parts(parts, body))
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;

    fn response(body: &'static str, content_length: Option<&str>) -> reqwest::Response {
        let mut builder = http::Response::builder().status(200);
        if let Some(length) = content_length {
            builder = builder.header("content-length", length);
        }
        reqwest::Response::from(builder.body(body).unwrap())
    }

    #[tokio::test]
    async fn bodies_within_the_cap_pass_unchanged() {
        let capped = cap_body(response("0123456789", None), 10);
        assert_eq!(capped.status(), 200);
        assert_eq!(capped.bytes().await.unwrap(), "0123456789");
    }

    /// A body of two frames whose length is not known up front (like a chunked one).
    struct Chunked(Vec<&'static str>);

    impl http_body::Body for Chunked {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(if self.0.is_empty() {
                None
            } else {
                Some(Ok(Frame::data(Bytes::from_static(
                    self.0.remove(0).as_bytes(),
                ))))
            })
        }
    }

    #[tokio::test]
    async fn a_body_past_the_cap_fails_while_read() {
        let chunked = reqwest::Body::wrap(Chunked(vec!["01234", "56789"]));
        let unknown_length = reqwest::Response::from(http::Response::new(chunked));
        assert_eq!(unknown_length.content_length(), None);
        let error = cap_body(unknown_length, 9).bytes().await.unwrap_err();
        assert_eq!(
            BodyTooLarge::find(&error),
            Some(BodyTooLarge {
                limit: 9,
                declared: None
            }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_declared_length_past_the_cap_fails_before_reading() {
        let capped = cap_body(response("0123456789", Some("10")), 4);
        assert_eq!(capped.status(), 200, "the head is still there");
        let error = capped.bytes().await.unwrap_err();
        let found = BodyTooLarge::find(&error).expect("BodyTooLarge in the chain");
        assert_eq!(found.declared, Some(10));
        assert!(found.to_string().contains("over the limit of 4 bytes"));
    }

    #[test]
    fn the_url_survives() {
        use reqwest::ResponseBuilderExt as _;
        let url: reqwest::Url = "http://127.0.0.1:1/x?y=1".parse().unwrap();
        let original =
            reqwest::Response::from(http::Response::builder().url(url).body("").unwrap());
        assert_eq!(
            cap_body(original, 1).url().as_str(),
            "http://127.0.0.1:1/x?y=1"
        );
    }
}
