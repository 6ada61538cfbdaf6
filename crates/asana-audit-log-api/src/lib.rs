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
//! Reading one page; the token goes into the `reqwest::Client`'s default headers.
//!
//! ```no_run
//! use asana_audit_log_api::{Client, types::GetAuditLogEventsActorType};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut headers = reqwest::header::HeaderMap::new();
//! let mut auth = reqwest::header::HeaderValue::from_str("Bearer 2/1234/5678:secret")?;
//! auth.set_sensitive(true);
//! headers.insert(reqwest::header::AUTHORIZATION, auth);
//! let http = reqwest::Client::builder().default_headers(headers).build()?;
//! let client = Client::new_with_client("https://app.asana.com/api/1.0", http);
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
