//! Normalizes Asana audit log events ([`asana_audit_log::AuditLogEvent`]) into
//! [OCSF](https://schema.ocsf.io) 1.8.0 events, for SIEMs and data lakes that speak OCSF, or
//! into OCSF 1.1.0 events for those that want 1.1 (Amazon Security Lake; see
//! [OCSF 1.1.0](#ocsf-110)).
//!
//! ```
//! use asana_audit_log::AuditLogEvent;
//! use asana_audit_log_ocsf::{Mapper, OcsfClass};
//!
//! let event = AuditLogEvent::from_json(r#"{
//!     "gid": "1208000000001000", "created_at": "2024-05-01T12:00:00.250Z",
//!     "event_type": "user_login_failed", "event_category": "logins",
//!     "actor": {"actor_type": "user", "gid": "7", "name": "Zoë Lind", "email": "zoe@example.com"},
//!     "resource": {"resource_type": "user", "gid": "7", "name": "Zoë Lind", "email": "zoe@example.com"},
//!     "context": {"context_type": "web", "client_ip_address": "203.0.113.9", "user_agent": "Firefox"},
//!     "details": {"method": "password", "reason": "invalid_password"}
//! }"#)?;
//! let ocsf = Mapper::new().tenant_uid("1200000000000001").map(&event);
//! assert_eq!(ocsf.class(), OcsfClass::Authentication);
//! assert_eq!(ocsf.type_uid(), 300201); // Authentication: Logon
//!
//! let value = ocsf.to_value()?;
//! assert_eq!(value["status"], "Failure");
//! assert_eq!(value["status_detail"], "invalid_password");
//! assert_eq!(value["time"], 1714564800250_i64);
//! assert_eq!(value["metadata"]["uid"], "1208000000001000");
//! assert_eq!(value["metadata"]["event_code"], "user_login_failed");
//! assert_eq!(value["user"]["name"], "Zoë Lind");
//! assert_eq!(value["src_endpoint"]["ip"], "203.0.113.9");
//! // What no OCSF attribute took stays in `unmapped`, nested as in the source.
//! assert_eq!(value["unmapped"]["details"]["method"], "password");
//! assert_eq!(value["unmapped"]["actor"]["actor_type"], "user");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Which class
//!
//! Every event type of the project's catalogue (`openapi/event-types.tsv`) has one row in
//! `openapi/ocsf-mapping.tsv`: an OCSF class, an activity, a status rule and the object that
//! receives the event's `resource`. [MAPPING.md](https://github.com/asana-audit-log/asana-audit-log/blob/main/crates/asana-audit-log-ocsf/MAPPING.md)
//! lists them all; [`mapping_table`] and [`mapping_for`] give them to code.
//!
//! * **Event types without a row** (Asana adds types over time) are never an error: they map
//!   to the class for their `event_category` ([`fallback_class`]) with activity 99 (Other),
//!   and status Failure when the type ends in `_failed`, else Unknown.
//! * **Events that lack what their class requires** (a resource gid or name for `user`,
//!   `group`, `entity`, `web_resources` or `file`; a file name, a client IP and an actor for
//!   File Hosting; `details.new_value` as the privilege for User Access Management) map to
//!   Entity Management with activity 99 instead, or to Base Event (activity 99) when the
//!   resource has neither a gid nor a name.
//! * With activity 99, `activity_name` holds the Asana event type (OCSF's rule for `Other`).
//!
//! # What goes where
//!
//! | source | OCSF |
//! | --- | --- |
//! | `gid` | `metadata.uid` |
//! | `created_at` | `time` (epoch milliseconds) and `metadata.original_time` (verbatim) |
//! | `event_type` | `metadata.event_code` (and `activity_name` with activity 99) |
//! | `actor.gid`, `.name`, `.email` | `actor.user.uid`, `.name`, `.email_addr` |
//! | `actor.actor_type` | `actor.user.type_id`/`type`: user 1 User, external_administrator 2 Admin, asana 3 System, anonymous 0 Unknown, others 99 with the source value |
//! | `resource.gid`, `.name` | `uid`, `name` of the class's object (see [`ResourceIn`]) |
//! | `resource.email` | `user.email_addr` (classes with a `user`) |
//! | `resource.resource_type` | `type` of `group`, `web_resources[0]`, `entity` (type_id 99) |
//! | `context.client_ip_address` | `src_endpoint.ip` |
//! | `context.user_agent` | `http_request.user_agent` |
//! | `context.oauth_app_name` | `actor.app_name` |
//! | `details.reason` | `status_detail` (failures) |
//! | `details.new_value` | `privileges[0]` (User Access Management) |
//! | `details.member.gid`, `.name` | `user.uid`, `.name` (Group Management) |
//!
//! Every event also gets `severity_id` 1 (Informational), `metadata.version` (`"1.8.0"`, or
//! `"1.1.0"`), `metadata.product` (`Asana`, vendor `Asana`), `metadata.log_name`
//! `"audit_log"` and, when the [`Mapper`] has one, `metadata.tenant_uid`. Authentication events get
//! `service.name` `"Asana"`. `observables` list the IP address (type 2), user names (4) and
//! email addresses (5) of the event; when the class has no `actor` (Web Resources Activity,
//! Base Event), the actor's name and email are listed with their `unmapped.actor.*` path.
//! Only attributes the class's schema allows (without profiles) are written: Web Resources
//! Activity has no `actor`, so the actor stays in `unmapped` there.
//!
//! # Nothing is lost: the `unmapped` rule
//!
//! A source leaf (a string, number, boolean, `null`, empty object or empty array, at any
//! depth) is left out of `unmapped` exactly when its value was copied **verbatim** into one
//! of the attributes of the table above; only JSON strings are ever copied, and an email or IP
//! address only when it matches OCSF's `email_t`/`ip_t` pattern. Every other leaf is in
//! `unmapped` at the same path as in the source (`unmapped.actor.actor_type`,
//! `unmapped.details.method`, `unmapped.risk_assessment.score`, ...), with its exact JSON text:
//! values that were only *interpreted* (`actor_type`, `context_type`, `event_category`,
//! `api_authentication_method`) stay there too, as do `null`s (OCSF rejects `null` in typed
//! attributes), values of unexpected types, unknown fields and numbers beyond 64 bits. An
//! object all of whose members were copied is left out; `unmapped` itself is left out when
//! nothing remains. Non-ASCII text is copied as it came.
//!
//! # OCSF 1.1.0
//!
//! [`Mapper::ocsf_version`]`(`[`OcsfVersion::V1_1`]`)` writes OCSF 1.1.0 events: the same
//! classes and the same table as above, but for what 1.1.0 lacks, which is then not written
//! and leaves its source values in `unmapped` (the `unmapped` rule holds as it stands):
//!
//! * `metadata.version` is `"1.1.0"`.
//! * Entity Management, User Access Management and Group Management have no `actor`,
//!   `src_endpoint` or `http_request`; File Hosting Activity has no `http_request`; `actor`
//!   has no `app_name`; `entity` has no `type_id` (its `type` stays as in 1.8.0). Observables
//!   of what went to `unmapped` name its `unmapped.*` path.
//! * Activities 1.1.0 lacks (Entity Management's Enable, Disable, Suspend, Resume) and
//!   Group Management rows whose events have no member (1.1.0 requires a `user` there) map
//!   as their row's `in OCSF 1.1.0` column says ([`MappingRow::in_version`]).
//! * An email address is copied only when it matches 1.1.0's narrower `email_t` (ASCII
//!   letters, digits and `_.+-` before the `@`), and a string only when it has at most 65,535
//!   characters (1.1.0's `string_t`).
//! * The degrading rule above uses 1.1.0's requirements: File Hosting needs an actor with a
//!   user gid or name (an app alone is no `actor`), Group Management a `details.member`.
//!
//! # How
//!
//! The mapper reads the event's members with `serde_json` as their exact JSON text
//! ([`RawValue`](serde_json::value::RawValue)), so copied values keep the bytes Asana sent, and
//! writes the OCSF event with `serde_json`'s serializer. [`Mapper::map_into`] appends the
//! event to a text you pass (several events may go one after the other into one text).
//!
//! # Parquet (feature `arrow`)
//!
//! The `arrow` module (with the `arrow` feature) builds Arrow record batches of mapped
//! events, one schema per class and OCSF version, for Parquet files and Amazon Security Lake
//! custom sources.
#![warn(missing_docs)]

#[cfg(feature = "arrow")]
pub mod arrow;
mod map;
mod source;
#[rustfmt::skip]
mod mapping_table;
mod table;

pub use map::{LOG_NAME, Mapped, Mapper, OCSF_VERSION, OcsfEvent};
pub use table::{
    MappingRow, OcsfClass, OcsfVersion, ResourceIn, StatusRule, fallback_class, mapping_for,
    mapping_table,
};
