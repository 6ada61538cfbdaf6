//! The mapper: one [`AuditLogEvent`] in, one OCSF event (JSON text) out.

use std::borrow::Cow;
use std::io;

use asana_audit_log::AuditLogEvent;
use asana_audit_log::types::EventType;
use serde::Serialize;
use serde_json::ser::{CharEscape, CompactFormatter, Formatter};
use serde_json::value::RawValue;

use crate::mapping_table::{row_of_known, version_facts};
use crate::source::{Member, last, members, object};
use crate::table::{
    MappingRow, OcsfClass, OcsfVersion, ResourceIn, StatusRule, fallback_class, fallback_status,
    mapping_for,
};

/// The OCSF schema version the mapped events follow by default ([`OcsfVersion::V1_8`]).
pub const OCSF_VERSION: &str = OcsfVersion::V1_8.as_str();

/// `metadata.log_name` of every mapped event.
pub const LOG_NAME: &str = "audit_log";

/// Maps [`AuditLogEvent`]s to OCSF 1.8.0 events, or to OCSF 1.1.0 ones with
/// [`ocsf_version`](Self::ocsf_version). Cheap to build and to share between threads.
///
/// ```
/// use asana_audit_log_ocsf::Mapper;
///
/// let mapper = Mapper::new().tenant_uid("1200000000000001");
/// let event = asana_audit_log::AuditLogEvent::from_json(
///     r#"{"gid":"9","created_at":"2024-05-01T12:00:00Z","event_type":"user_logged_out"}"#,
/// )?;
/// // No resource: nothing can fill the required `user`, so this degrades to Base Event.
/// let ocsf = mapper.map(&event);
/// assert_eq!(ocsf.type_uid(), 99);
/// assert!(ocsf.json().contains(r#""tenant_uid":"1200000000000001""#));
/// # Ok::<(), asana_audit_log::error::DecodeError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Mapper {
    /// `metadata.tenant_uid`.
    tenant_uid: Option<String>,
    /// The OCSF version of the events.
    version: OcsfVersion,
}

/// What [`Mapper::map_into`] wrote: the class and activity of the event, and its OCSF version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mapped {
    /// The OCSF class.
    pub class: OcsfClass,
    /// `activity_id`.
    pub activity_id: u8,
    /// The OCSF version the event follows.
    pub version: OcsfVersion,
}

impl Mapped {
    /// `type_uid`: `class_uid * 100 + activity_id`.
    pub const fn type_uid(&self) -> u32 {
        self.class.uid() * 100 + self.activity_id as u32
    }
}

/// One mapped event: its OCSF JSON text (one line) and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcsfEvent {
    json: String,
    mapped: Mapped,
}

impl OcsfEvent {
    /// The event as JSON text, on one line.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The JSON text, owned.
    pub fn into_json(self) -> String {
        self.json
    }

    /// The OCSF class.
    pub fn class(&self) -> OcsfClass {
        self.mapped.class
    }

    /// `activity_id`.
    pub fn activity_id(&self) -> u8 {
        self.mapped.activity_id
    }

    /// `type_uid`: `class_uid * 100 + activity_id`.
    pub fn type_uid(&self) -> u32 {
        self.mapped.type_uid()
    }

    /// The OCSF version the event follows (its `metadata.version`).
    pub fn version(&self) -> OcsfVersion {
        self.mapped.version
    }

    /// The event as a `serde_json::Value`. Fails only when `unmapped` holds a number no
    /// `f64` can hold (e.g. `1e400`, kept exactly in [`json`](Self::json)).
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(&self.json)
    }
}

/// Serializes as the event's JSON, verbatim (with `serde_json`).
impl serde::Serialize for OcsfEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue = serde_json::from_str(&self.json).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

/// A string value of the mapped event.
#[derive(Serialize)]
#[serde(untagged)]
enum Str<'a> {
    /// A JSON string literal of the source, copied as received (escapes kept).
    Raw(&'a RawValue),
    /// A string serde_json escapes.
    Text(Cow<'a, str>),
}

/// The OCSF event, member by member in the order written. Members that are `None` are left
/// out.
#[derive(Serialize)]
struct Document<'a> {
    class_uid: u32,
    class_name: &'static str,
    category_uid: u32,
    category_name: &'static str,
    activity_id: u8,
    activity_name: Str<'a>,
    type_uid: u32,
    type_name: String,
    severity_id: u8,
    severity: &'static str,
    status_id: u8,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_detail: Option<&'a RawValue>,
    time: i64,
    metadata: Metadata<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<Actor<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<Item<'a>>,
    /// The resource (classes whose resource is a user) or `details.member` (Group
    /// Management).
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<Item<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    web_resources: Option<[Item<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<Item<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entity: Option<Item<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<Service>,
    #[serde(skip_serializing_if = "Option::is_none")]
    privileges: Option<[&'a RawValue; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_endpoint: Option<SrcEndpoint<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_request: Option<HttpRequest<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    observables: Vec<Observable<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unmapped: Option<Box<RawValue>>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    version: &'static str,
    product: Product,
    log_name: &'static str,
    /// Always set but when the event's gid is a longer string than the version allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<Str<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_code: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_time: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_uid: Option<&'a str>,
}

#[derive(Serialize)]
struct Product {
    name: &'static str,
    vendor_name: &'static str,
}

#[derive(Serialize)]
struct Actor<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<Item<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_name: Option<&'a RawValue>,
}

/// A `user`, `group`, `web_resources` item, `file` or `entity`: the members each has.
#[derive(Serialize, Default)]
struct Item<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_addr: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    type_id: Option<u8>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<Str<'a>>,
}

#[derive(Serialize)]
struct Service {
    name: &'static str,
}

#[derive(Serialize)]
struct SrcEndpoint<'a> {
    ip: &'a RawValue,
}

#[derive(Serialize)]
struct HttpRequest<'a> {
    user_agent: &'a RawValue,
}

#[derive(Serialize)]
struct Observable<'a> {
    name: &'static str,
    type_id: u8,
    #[serde(rename = "type")]
    kind: &'static str,
    value: &'a RawValue,
}

impl<'a> Observable<'a> {
    fn ip(name: &'static str, value: &'a RawValue) -> Self {
        Observable {
            name,
            type_id: 2,
            kind: "IP Address",
            value,
        }
    }

    fn user_name(name: &'static str, value: &'a RawValue) -> Self {
        Observable {
            name,
            type_id: 4,
            kind: "User Name",
            value,
        }
    }

    fn email(name: &'static str, value: &'a RawValue) -> Self {
        Observable {
            name,
            type_id: 5,
            kind: "Email Address",
            value,
        }
    }
}

/// The source leaves copied verbatim into a typed attribute (and so left out of `unmapped`),
/// by path: `["gid"]`, `["actor", "name"]`, `["details", "member", "gid"]`.
#[derive(Default)]
struct Used(Vec<&'static [&'static str]>);

impl Used {
    fn mark(&mut self, path: &'static [&'static str]) {
        self.0.push(path);
    }

    fn has(&self, path: &[&str]) -> bool {
        self.0.contains(&path)
    }

    /// Whether a used leaf lies below `path`.
    fn below(&self, path: &[&str]) -> bool {
        self.0
            .iter()
            .any(|used| used.len() > path.len() && used.starts_with(path))
    }
}

/// serde_json's compact output, except that backspace and form feed in the strings it escapes
/// are written `\u0008` and `\u000c` rather than `\b` and `\f`: the bytes this crate has always
/// written (both are valid JSON for the same text).
struct Compact;

impl Formatter for Compact {
    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        char_escape: CharEscape,
    ) -> io::Result<()> {
        match char_escape {
            CharEscape::Backspace => writer.write_all(b"\\u0008"),
            CharEscape::FormFeed => writer.write_all(b"\\u000c"),
            other => CompactFormatter.write_char_escape(writer, other),
        }
    }
}

impl Mapper {
    /// A mapper without a tenant.
    pub fn new() -> Self {
        Mapper::default()
    }

    /// Sets `metadata.tenant_uid` of every mapped event, e.g. to the workspace gid the events
    /// were read from (events do not carry it).
    pub fn tenant_uid(mut self, uid: impl AsRef<str>) -> Self {
        self.tenant_uid = Some(uid.as_ref().to_owned());
        self
    }

    /// Sets the OCSF version of the mapped events (default [`OcsfVersion::V1_8`]). In 1.1.0,
    /// what 1.1.0 has no attribute for stays in `unmapped` (see `MAPPING.md`).
    ///
    /// ```
    /// use asana_audit_log_ocsf::{Mapper, OcsfClass, OcsfVersion};
    ///
    /// let event = asana_audit_log::AuditLogEvent::from_json(r#"{"gid":"9",
    ///     "created_at":"2024-05-01T12:00:00Z","event_type":"workspace_view_links_enabled",
    ///     "actor":{"actor_type":"user","gid":"7","name":"Ana"},
    ///     "resource":{"resource_type":"workspace","gid":"1","name":"Northwind"},
    ///     "context":{"client_ip_address":"203.0.113.9"}}"#)?;
    /// let ocsf = Mapper::new().ocsf_version(OcsfVersion::V1_1).map(&event);
    /// // 1.1.0's Entity Management has no Enable activity, no `actor`, no `src_endpoint`.
    /// assert_eq!((ocsf.class(), ocsf.activity_id()), (OcsfClass::EntityManagement, 3));
    /// let value = ocsf.to_value()?;
    /// assert_eq!(value["metadata"]["version"], "1.1.0");
    /// assert_eq!(value["unmapped"]["actor"]["name"], "Ana");
    /// assert_eq!(value["unmapped"]["context"]["client_ip_address"], "203.0.113.9");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ocsf_version(mut self, version: OcsfVersion) -> Self {
        self.version = version;
        self
    }

    /// The OCSF version of the mapped events.
    pub fn version(&self) -> OcsfVersion {
        self.version
    }

    /// Maps one event. Never fails: see the crate docs for what goes where.
    pub fn map(&self, event: &AuditLogEvent) -> OcsfEvent {
        let top = members(event.json());
        let (document, mapped) = self.document(event, &top);
        let mut serializer = serde_json::Serializer::with_formatter(Vec::new(), Compact);
        document
            .serialize(&mut serializer)
            .expect("the document has string keys only and goes to memory");
        let json = String::from_utf8(serializer.into_inner()).expect("serde_json writes UTF-8");
        OcsfEvent { json, mapped }
    }

    /// Maps one event, appending its JSON text (one line, no newline) to `out`, so that
    /// several events can go one after the other into one text.
    pub fn map_into(&self, event: &AuditLogEvent, out: &mut String) -> Mapped {
        let event = self.map(event);
        out.push_str(&event.json);
        event.mapped
    }

    /// The OCSF event of `event`, whose top-level members are `top`.
    fn document<'a>(
        &'a self,
        event: &'a AuditLogEvent,
        top: &[Member<'a>],
    ) -> (Document<'a>, Mapped) {
        let version = self.version;
        let facts = version_facts(version);
        let (mut class, mut activity_id, mut activity_name, status) =
            match row_for(event.event_type()).map(|row| row.in_version(version)) {
                Some(row) => (row.class, row.activity_id, row.activity_name, row.status),
                None => {
                    let event_type = event.event_type().as_str();
                    (
                        fallback_class(event.event_category().map(|c| c.as_str())),
                        99,
                        "Other",
                        fallback_status(event_type),
                    )
                }
            };

        let actor = object(top, "actor");
        let resource = object(top, "resource");
        let context = object(top, "context");
        let details = object(top, "details");

        // The source strings the version's `string_t` can hold, to be copied verbatim.
        let text = |value| string_text(value).filter(|&v| fits(v, facts.max_string_chars));
        let email = |value| valid(text(value), |s| is_ocsf_email(s, facts.email_local_chars));
        let actor_gid = text(last(&actor, "gid"));
        let actor_name = text(last(&actor, "name"));
        let actor_email = email(last(&actor, "email"));
        let actor_type = text(last(&actor, "actor_type")).and_then(unquote);
        let res_gid = text(last(&resource, "gid"));
        let res_name = text(last(&resource, "name"));
        let res_email = email(last(&resource, "email"));
        let res_type = text(last(&resource, "resource_type"));
        let ip = valid(text(last(&context, "client_ip_address")), is_ocsf_ip);
        let user_agent = text(last(&context, "user_agent"));
        // The app acting, where the version's `actor` can name it.
        let app_name = text(last(&context, "oauth_app_name")).filter(|_| facts.actor_app_name);
        let reason = text(last(&details, "reason"));
        let new_value = text(last(&details, "new_value"));
        let member = object(&details, "member");
        let member_gid = text(last(&member, "gid"));
        let member_name = text(last(&member, "name"));
        let type_text = text(last(top, "event_type"));
        let has_actor_user = actor_gid.is_some() || actor_name.is_some();

        // Degrade when the event lacks what the class requires.
        let identity = res_gid.is_some() || res_name.is_some();
        let satisfied = identity
            && match class {
                OcsfClass::UserAccess => new_value.is_some(),
                OcsfClass::FileHosting => {
                    res_name.is_some() && ip.is_some() && (has_actor_user || app_name.is_some())
                }
                OcsfClass::GroupManagement => {
                    !class.attributes(version).needs_user_or_privileges
                        || member_gid.is_some()
                        || member_name.is_some()
                }
                _ => true,
            };
        if !satisfied {
            class = if identity {
                OcsfClass::EntityManagement
            } else {
                OcsfClass::BaseEvent
            };
            activity_id = 99;
        }
        if activity_id == 99 {
            activity_name = "Other";
        }

        let attributes = class.attributes(version);
        let mut used = Used::default();
        let mut observables = Vec::new();
        let mut doc = Document {
            class_uid: class.uid(),
            class_name: class.caption(),
            category_uid: class.category_uid(),
            category_name: class.category_caption(),
            activity_id,
            // Activity 99: the source's own event type.
            activity_name: match type_text {
                Some(text) if activity_id == 99 => Str::Raw(text),
                _ => Str::Text(Cow::Borrowed(activity_name)),
            },
            type_uid: class.uid() * 100 + u32::from(activity_id),
            type_name: format!("{}: {activity_name}", class.caption()),
            severity_id: 1,
            severity: "Informational",
            status_id: status.status_id(),
            status: status.caption(),
            status_detail: None,
            time: event.created_at().timestamp_millis(),
            metadata: Metadata {
                version: facts.version,
                product: Product {
                    name: "Asana",
                    vendor_name: "Asana",
                },
                log_name: LOG_NAME,
                uid: fits_text(event.gid(), facts.max_string_chars)
                    .then_some(Str::Text(Cow::Borrowed(event.gid()))),
                event_code: None,
                original_time: None,
                tenant_uid: self.tenant_uid.as_deref(),
            },
            actor: None,
            group: None,
            user: None,
            web_resources: None,
            file: None,
            entity: None,
            service: None,
            privileges: None,
            src_endpoint: None,
            http_request: None,
            observables: Vec::new(),
            unmapped: None,
        };
        if status == StatusRule::Failure
            && let Some(reason) = reason
        {
            doc.status_detail = Some(reason);
            used.mark(&["details", "reason"]);
        }
        if let Some(text) = text(last(top, "gid")) {
            doc.metadata.uid = Some(Str::Raw(text));
            used.mark(&["gid"]);
        }
        if let Some(text) = type_text {
            doc.metadata.event_code = Some(text);
            used.mark(&["event_type"]);
        }
        if let Some(text) = text(last(top, "created_at")) {
            doc.metadata.original_time = Some(text);
            used.mark(&["created_at"]);
        }

        // actor
        if attributes.actor && (has_actor_user || app_name.is_some()) {
            let user = has_actor_user.then(|| {
                let mut user = Item::default();
                if let Some(text) = actor_gid {
                    user.uid = Some(text);
                    used.mark(&["actor", "gid"]);
                }
                if let Some(text) = actor_name {
                    user.name = Some(text);
                    used.mark(&["actor", "name"]);
                    observables.push(Observable::user_name("actor.user.name", text));
                }
                if let Some(text) = actor_email {
                    user.email_addr = Some(text);
                    used.mark(&["actor", "email"]);
                    observables.push(Observable::email("actor.user.email_addr", text));
                }
                let (type_id, kind) = match actor_type.as_deref() {
                    Some("user") => (Some(1), Some("User")),
                    Some("external_administrator") => (Some(2), Some("Admin")),
                    Some("asana") => (Some(3), Some("System")),
                    Some("anonymous") => (Some(0), Some("Unknown")),
                    Some(_) => (Some(99), None),
                    None => (None, None),
                };
                user.type_id = type_id;
                user.kind = match kind {
                    Some(kind) => Some(Str::Text(Cow::Borrowed(kind))),
                    None => actor_type.clone().map(|other| Str::Text(Cow::Owned(other))),
                };
                user
            });
            let app_name = app_name.inspect(|_| used.mark(&["context", "oauth_app_name"]));
            doc.actor = Some(Actor { user, app_name });
        } else {
            // The class has no actor: point the observables at `unmapped`.
            if let Some(text) = actor_name {
                observables.push(Observable::user_name("unmapped.actor.name", text));
            }
            if let Some(text) = actor_email {
                observables.push(Observable::email("unmapped.actor.email", text));
            }
        }

        // the resource, in the class's object
        if let Some(resource_in) = class.resource_in() {
            let mut item = Item::default();
            if let Some(text) = res_gid {
                item.uid = Some(text);
                used.mark(&["resource", "gid"]);
            }
            if let Some(text) = res_name {
                item.name = Some(text);
                used.mark(&["resource", "name"]);
            }
            match resource_in {
                ResourceIn::User => {
                    if let Some(text) = res_name {
                        observables.push(Observable::user_name("user.name", text));
                    }
                    if let Some(text) = res_email {
                        item.email_addr = Some(text);
                        used.mark(&["resource", "email"]);
                        observables.push(Observable::email("user.email_addr", text));
                    }
                    doc.user = Some(item);
                }
                ResourceIn::Group | ResourceIn::WebResource => {
                    if let Some(text) = res_type {
                        item.kind = Some(Str::Raw(text));
                        used.mark(&["resource", "resource_type"]);
                    }
                    if resource_in == ResourceIn::Group {
                        doc.group = Some(item);
                    } else {
                        doc.web_resources = Some([item]);
                    }
                }
                ResourceIn::File => {
                    item.type_id = Some(1);
                    item.kind = Some(Str::Text(Cow::Borrowed("Regular File")));
                    doc.file = Some(item);
                }
                ResourceIn::Entity => {
                    let (type_id, kind) = match res_type.and_then(unquote).as_deref() {
                        None => (None, None),
                        Some("user") => (Some(2), Some("User")),
                        Some("team") => (Some(3), Some("Group")),
                        Some("workspace" | "division") => (Some(4), Some("Organization")),
                        Some(_) => (Some(99), None),
                    };
                    // Without `type_id` (1.1.0), `type` is as it would be beside it.
                    item.type_id = type_id.filter(|_| facts.entity_type_id);
                    item.kind = match kind {
                        Some(kind) => Some(Str::Text(Cow::Borrowed(kind))),
                        None => res_type.filter(|_| type_id.is_some()).map(|text| {
                            used.mark(&["resource", "resource_type"]);
                            Str::Raw(text)
                        }),
                    };
                    doc.entity = Some(item);
                }
            }
        }

        // class-specific objects
        match class {
            OcsfClass::Authentication => doc.service = Some(Service { name: "Asana" }),
            OcsfClass::UserAccess => {
                if let Some(text) = new_value {
                    doc.privileges = Some([text]);
                    used.mark(&["details", "new_value"]);
                }
            }
            OcsfClass::GroupManagement if member_gid.is_some() || member_name.is_some() => {
                if member_gid.is_some() {
                    used.mark(&["details", "member", "gid"]);
                }
                if let Some(text) = member_name {
                    used.mark(&["details", "member", "name"]);
                    observables.push(Observable::user_name("user.name", text));
                }
                doc.user = Some(Item {
                    uid: member_gid,
                    name: member_name,
                    ..Item::default()
                });
            }
            _ => {}
        }

        if let Some(text) = ip {
            if attributes.src_endpoint {
                doc.src_endpoint = Some(SrcEndpoint { ip: text });
                used.mark(&["context", "client_ip_address"]);
                observables.push(Observable::ip("src_endpoint.ip", text));
            } else {
                observables.push(Observable::ip("unmapped.context.client_ip_address", text));
            }
        }
        if let Some(text) = user_agent.filter(|_| attributes.http_request) {
            doc.http_request = Some(HttpRequest { user_agent: text });
            used.mark(&["context", "user_agent"]);
        }

        doc.observables = observables;
        doc.unmapped = unmapped(top, &used);
        let mapped = Mapped {
            class,
            activity_id,
            version,
        };
        (doc, mapped)
    }
}

/// The row of a decoded event type: by variant for the catalogue's types, by name for an
/// `Unknown` that spells a known type.
fn row_for(event_type: &EventType) -> Option<&'static MappingRow> {
    match row_of_known(event_type) {
        Some(row) => Some(row),
        None => match event_type {
            EventType::Unknown(name) => mapping_for(name),
            _ => None,
        },
    }
}

/// `value` when it is a JSON string literal, to be copied verbatim.
fn string_text(value: Option<&RawValue>) -> Option<&RawValue> {
    value.filter(|v| v.get().starts_with('"'))
}

/// The string a JSON string literal stands for (`None` when it is no Unicode text, e.g. a lone
/// surrogate escape).
fn unquote(literal: &RawValue) -> Option<String> {
    serde_json::from_str(literal.get()).ok()
}

/// `value` when it is a JSON string whose text passes `test`.
fn valid(value: Option<&RawValue>, test: impl Fn(&str) -> bool) -> Option<&RawValue> {
    string_text(value).filter(|&v| unquote(v).is_some_and(|text| test(&text)))
}

/// Whether the JSON string literal `literal` stands for at most `max` characters (any number
/// without a maximum).
fn fits(literal: &RawValue, max: Option<u32>) -> bool {
    let Some(max) = max else {
        return true;
    };
    // Every character takes at least one byte of the literal, besides its two quotes.
    literal.get().len() <= max as usize + 2
        || unquote(literal).is_some_and(|text| fits_text(&text, Some(max)))
}

/// Whether `text` has at most `max` characters (any number without a maximum).
fn fits_text(text: &str, max: Option<u32>) -> bool {
    max.is_none_or(|max| text.len() <= max as usize || text.chars().count() <= max as usize)
}

/// Whether `s` matches OCSF's `email_t` pattern, whose part before the `@` allows ASCII
/// letters, digits and `local_chars` (1.8.0:
/// `^[a-zA-Z0-9!#$%&'*+-/=?^_`{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$`, where `+-/` is the range
/// `+,-./`; 1.1.0 allows `_.+-` only).
fn is_ocsf_email(s: &str, local_chars: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || local_chars.as_bytes().contains(&b));
    let domain_ok = matches!(domain.split_once('.'), Some((host, rest)) if !host.is_empty() && !rest.is_empty())
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    local_ok && domain_ok
}

/// Whether `s` is an IP address OCSF's `ip_t` accepts (at most 40 characters). Rust's parser
/// is stricter than the pattern, so anything it accepts the pattern accepts too.
fn is_ocsf_ip(s: &str) -> bool {
    s.len() <= 40 && s.parse::<std::net::IpAddr>().is_ok()
}

/// `unmapped`: the source event with the same nesting, minus the leaves [`Used`] marks (every
/// occurrence of a marked key), keys and values as received; `None` when nothing is left.
/// Below the top level only `actor`, `resource`, `context` and `details` objects are looked
/// into (and `details.member`, whose `gid` and `name` may become `user`).
fn unmapped(top: &[Member<'_>], used: &Used) -> Option<Box<RawValue>> {
    const OBJECTS: [&str; 4] = ["actor", "resource", "context", "details"];
    let mut kept = Vec::new();
    for m in top {
        let name = m.name.as_str();
        let value = m.value.get();
        if used.has(&[name]) {
            continue;
        }
        if OBJECTS.contains(&name) && value.starts_with('{') && value != "{}" {
            // An object that loses every member is left out.
            if let Some(rest) = remaining(&[name], value, used) {
                kept.push((m.key, Cow::Owned(rest)));
            }
        } else {
            kept.push((m.key, Cow::Borrowed(value)));
        }
    }
    let text = object_text(&kept)?;
    Some(RawValue::from_string(text).expect("members of valid JSON make a valid object"))
}

/// The object `text` (at `path`) minus its used members, or `None` when nothing is left.
fn remaining(path: &[&str], text: &str, used: &Used) -> Option<String> {
    let mut kept = Vec::new();
    for m in members(text) {
        let mut inner = path.to_vec();
        inner.push(m.name.as_str());
        if used.has(&inner) {
            continue;
        }
        if used.below(&inner) {
            if let Some(rest) = remaining(&inner, m.value.get(), used) {
                kept.push((m.key, Cow::Owned(rest)));
            }
        } else {
            kept.push((m.key, Cow::Borrowed(m.value.get())));
        }
    }
    object_text(&kept)
}

/// `{"key":value,…}` from keys and values that are JSON text already; `None` for no members.
fn object_text(members: &[(&RawValue, Cow<'_, str>)]) -> Option<String> {
    if members.is_empty() {
        return None;
    }
    let mut out = String::from("{");
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(key.get());
        out.push(':');
        out.push_str(value);
    }
    out.push('}');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `email_t`'s test in `version`.
    fn email_in(version: OcsfVersion) -> impl Fn(&str) -> bool {
        move |s| is_ocsf_email(s, version_facts(version).email_local_chars)
    }

    #[test]
    fn emails_follow_the_ocsf_pattern() {
        for version in OcsfVersion::ALL {
            let is_email = email_in(version);
            for ok in [
                "a@b.c",
                "first.last+tag@north-wind.example",
                "a_b-c@b..c",
                "a@-.-",
            ] {
                assert!(is_email(ok), "{version}: {ok}");
            }
            for bad in [
                "", "a", "@b.c", "a@b", "a@.b", "a@b.", "zoë@b.c", "a@b@c.d", "a b@c.d", "a@b_c.d",
                "a@b.c ", "a\"@b.c",
            ] {
                assert!(!is_email(bad), "{version}: {bad}");
            }
        }
        // 1.8.0 allows more before the `@` than 1.1.0 does.
        for wider in ["x/y@a.b.c", "o'brien@a.io", "a!#$%&*=?^`{|}~,@b.c"] {
            assert!(email_in(OcsfVersion::V1_8)(wider), "{wider}");
            assert!(!email_in(OcsfVersion::V1_1)(wider), "{wider}");
        }
    }

    #[test]
    fn literals_are_tested_by_their_value() {
        let raw = |text: &str| serde_json::from_str::<Box<RawValue>>(text).unwrap();
        let passes =
            |text: &str, test: &dyn Fn(&str) -> bool| valid(Some(&raw(text)), test).is_some();
        let is_email = email_in(OcsfVersion::V1_8);
        assert!(passes(r#""a@b.c""#, &is_email));
        // Escapes are read as their values.
        assert!(passes(r#""a\u0040b.c""#, &is_email));
        assert!(passes(r#""203.0.113.\u0037""#, &is_ocsf_ip));
        assert!(!passes(r#""a\\@b.c""#, &is_email));
        assert!(!passes("null", &is_email));
    }

    #[test]
    fn strings_fit_the_versions_maximum_in_characters() {
        let raw = |text: String| serde_json::from_str::<Box<RawValue>>(&text).unwrap();
        let max = version_facts(OcsfVersion::V1_1).max_string_chars;
        assert_eq!(max, Some(65_535));
        assert_eq!(version_facts(OcsfVersion::V1_8).max_string_chars, None);
        let long = |n: usize, unit: &str| raw(format!("\"{}\"", unit.repeat(n)));
        assert!(fits(&long(65_535, "a"), max));
        assert!(!fits(&long(65_536, "a"), max));
        assert!(fits(&long(65_536, "a"), None));
        // Characters, not bytes nor escapes: 65,535 of `é` (two bytes, or six as `\u00e9`).
        assert!(fits(&long(65_535, "é"), max));
        assert!(fits(&long(65_535, "\\u00e9"), max));
        assert!(!fits(&long(65_536, "\\u00e9"), max));
        assert!(fits_text(&"é".repeat(65_535), max));
        assert!(!fits_text(&"é".repeat(65_536), max));
    }

    #[test]
    fn ips() {
        assert!(is_ocsf_ip("203.0.113.7"));
        assert!(is_ocsf_ip("2001:db8::1"));
        assert!(!is_ocsf_ip("203.0.113"));
        assert!(!is_ocsf_ip("fe80::1%eth0"));
        assert!(!is_ocsf_ip("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"));
    }
}
