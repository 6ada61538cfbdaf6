//! [`AuditLogEvent`]: one event, kept as the exact JSON Asana sent plus typed views of it.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use serde::de::Error as _;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::compact;
use crate::enums::OpenEnum;
use crate::enums::{ActorType, ApiAuthenticationMethod, ContextType, EventCategory, EventType};
use crate::fields::{Fields, Members, raw, string_in, string_members, string_of};

/// One audit log event: the JSON object Asana sent, kept verbatim, and typed views parsed from it.
///
/// **Lossless.** Serializing an event (with `serde_json`) writes the JSON it was decoded from,
/// so decode→encode gives back JSON equal to the input for any object: unknown fields at any
/// depth, unknown enum values, explicit `null`s, numbers beyond 64 bits, non-ASCII text and
/// known fields with unexpected types all survive. The only change is that whitespace outside
/// strings is removed, so every event prints on one line (NDJSON-ready).
///
/// **Typed views.** [`gid`](Self::gid) and [`created_at`](Self::created_at) are required:
/// paging, cursors and de-duplication depend on them, so an event without a usable one fails to
/// decode with a [`DecodeError`] that says which event; so does an event nested deeper than
/// [`MAX_EVENT_DEPTH`]. Everything else is lenient: a known
/// field whose value has an unexpected type reads as `None` (or an empty `Unknown` for
/// [`event_type`](Self::event_type)); the original value stays available, exactly as sent,
/// through [`get`](Self::get), the views' `fields` and [`json`](Self::json). Fields are handed
/// out as [`RawValue`] (JSON text) rather than `serde_json::Value` because a `Value` cannot hold
/// every JSON number (e.g. `1e400`) and would make decoding fallible.
///
/// **Cost.** Decoding reads the event's text once: it checks the depth, removes whitespace if
/// there is any, and types `gid`, `created_at`, `event_type` and `event_category`. The other
/// views ([`actor`](Self::actor), [`resource`](Self::resource), [`context`](Self::context),
/// [`details`](Self::details), [`get`](Self::get), [`extra`](Self::extra)) are built together on
/// the first call of any of them and kept, so a program that only forwards events (such as an
/// NDJSON export) never pays for them.
///
/// Serialize with `serde_json` (or anything that understands
/// `serde_json::value::RawValue`); for other formats convert with [`to_value`](Self::to_value)
/// first. Deserialize from JSON text with `serde_json::from_str` and friends; like `RawValue`
/// itself it cannot be deserialized from a buffered context such as `#[serde(flatten)]`.
///
/// ```
/// use asana_audit_log::AuditLogEvent;
/// use asana_audit_log::types::EventType;
///
/// let text = r#"{"gid":"42","created_at":"2024-05-01T12:00:00.000Z","event_type":"user_login_succeeded",
///   "actor":{"actor_type":"user","gid":"7","email":"a@example.com"},"brand_new_field":{"n":1e400}}"#;
/// let event: AuditLogEvent = serde_json::from_str(text)?;
/// assert_eq!(event.gid(), "42");
/// assert_eq!(event.event_type(), &EventType::UserLoginSucceeded);
/// assert_eq!(event.actor().email.as_deref(), Some("a@example.com"));
/// assert!(event.get("brand_new_field").is_some());
/// // Encoding gives back the same JSON, on one line.
/// assert_eq!(serde_json::to_string(&event)?, text.replace("\n  ", ""));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone)]
pub struct AuditLogEvent {
    json: Box<RawValue>,
    gid: String,
    created_at: DateTime<Utc>,
    event_type: EventType,
    event_category: Option<EventCategory>,
    /// Where the `actor`, `resource` and `context` members' values are in `json`, found by the
    /// decoding scan.
    objects: ObjectSpans,
    /// Built from `json` on the first call of an accessor that needs it: a drain that only
    /// forwards events (the CLI's export) never pays for maps it does not read.
    views: OnceLock<Box<Views>>,
}

/// The typed views of the nested objects and the top-level members, parsed from the event's
/// text on first use.
#[derive(Clone, Debug)]
struct Views {
    actor: EventActor,
    resource: EventResource,
    context: EventContext,
    details: EventDetails,
    /// The event's own members, indexing its `json`.
    top: Members,
}

/// The deepest nesting of arrays and objects an event may have (the event object itself is
/// level 1); a deeper event fails to decode with a [`DecodeError`].
///
/// Real events nest a few levels. The limit is well under the 127 levels `serde_json` parses by
/// default, so whoever reads the NDJSON output can wrap an event in an envelope of their own and
/// still parse it with default settings, and no decoder here or downstream is asked to recurse
/// without bound. Checking it costs nothing extra: the same byte scan finds whitespace to
/// compact.
pub const MAX_EVENT_DEPTH: usize = 64;

/// The top-level keys the typed views cover; [`AuditLogEvent::extra`] lists the others.
const KNOWN_FIELDS: &[&str] = &[
    "gid",
    "created_at",
    "event_type",
    "event_category",
    "actor",
    "resource",
    "context",
    "details",
];

/// Who caused the event (`actor`). Fields are `None` when absent, `null` or not a string.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct EventActor {
    /// `actor_type`: the kind of actor.
    pub actor_type: Option<ActorType>,
    /// `gid`: the actor's gid, for users.
    pub gid: Option<String>,
    /// `name`: the actor's name, for users.
    pub name: Option<String>,
    /// `email`: the actor's email address, for users.
    pub email: Option<String>,
    /// Every key of the `actor` object as received, the ones above included.
    pub fields: Fields,
}

/// The main object the event affected (`resource`).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct EventResource {
    /// `resource_type`: the kind of object, e.g. `task`.
    pub resource_type: Option<String>,
    /// `resource_subtype`: a finer kind, e.g. `milestone`.
    pub resource_subtype: Option<String>,
    /// `gid`: the object's gid.
    pub gid: Option<String>,
    /// `name`: the object's name.
    pub name: Option<String>,
    /// `email`: the object's email address, when it has one.
    pub email: Option<String>,
    /// Every key of the `resource` object as received, the ones above included.
    pub fields: Fields,
}

/// Where the event came from (`context`).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct EventContext {
    /// `context_type`: the channel, e.g. `web` or `api`.
    pub context_type: Option<ContextType>,
    /// `api_authentication_method`: how an API request authenticated.
    pub api_authentication_method: Option<ApiAuthenticationMethod>,
    /// `client_ip_address`: the client's IP address (v4 or v6).
    pub client_ip_address: Option<String>,
    /// `user_agent`: the client's user agent.
    pub user_agent: Option<String>,
    /// `oauth_app_name`: the OAuth application, when one was used.
    pub oauth_app_name: Option<String>,
    /// `rule_name`: the automation rule that caused the event.
    pub rule_name: Option<String>,
    /// `on_behalf_of_user_id`: the user who asked Asana support for the change (an integer
    /// within `i64`; otherwise read it from `fields`).
    pub on_behalf_of_user_id: Option<i64>,
    /// Every key of the `context` object as received, the ones above included.
    pub fields: Fields,
}

/// Event-type-specific facts (`details`).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct EventDetails {
    /// `old_value` when it is a string (other types: see `fields`).
    pub old_value: Option<String>,
    /// `new_value` when it is a string (other types: see `fields`).
    pub new_value: Option<String>,
    /// `group` when it is an object: the division or unit the event applies to.
    pub group: Option<Fields>,
    /// `saml_response` when it is a string.
    pub saml_response: Option<String>,
    /// Every key of the `details` object as received, the ones above included.
    pub fields: Fields,
}

impl EventDetails {
    /// Any key of `details`, e.g. `method` or `old_value` of a non-string type.
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.fields.get(key)
    }
}

/// Why an event could not be decoded: its JSON is not an object, or its `gid` or `created_at`
/// is missing or invalid.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("cannot decode audit log event {}: {reason}", self.which())]
pub struct DecodeError {
    gid: Option<String>,
    reason: String,
    snippet: String,
}

impl DecodeError {
    fn new(json: &str, gid: Option<&str>, reason: impl Into<String>) -> Self {
        const MAX: usize = 120;
        let mut end = json.len().min(MAX);
        while !json.is_char_boundary(end) {
            end -= 1;
        }
        let mut snippet = json[..end].to_owned();
        if end < json.len() {
            snippet.push('…');
        }
        Self {
            gid: gid.map(str::to_owned),
            reason: reason.into(),
            snippet,
        }
    }

    fn which(&self) -> String {
        match &self.gid {
            Some(gid) => format!("with gid {gid:?}"),
            None => format!("`{}`", self.snippet),
        }
    }

    /// The event's gid, when it had a usable one.
    pub fn gid(&self) -> Option<&str> {
        self.gid.as_deref()
    }

    /// What is wrong with the event.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The start of the event's JSON text, to find it in a log.
    pub fn snippet(&self) -> &str {
        &self.snippet
    }
}

/// A member's value as an owned string, when it is a JSON string.
fn string(value: Option<&str>) -> Option<String> {
    value.and_then(string_of).map(Cow::into_owned)
}

/// A member's value as [`Fields`]; empty when it is absent or not an object.
fn object(value: Option<&str>) -> Fields {
    value.and_then(Fields::parse).unwrap_or_default()
}

impl AuditLogEvent {
    /// Decodes one event from its JSON text (an object).
    ///
    /// ```
    /// let event = asana_audit_log::AuditLogEvent::from_json(
    ///     r#"{"gid":"1","created_at":"2024-01-01T00:00:00Z","event_type":"task_deleted"}"#,
    /// )?;
    /// assert_eq!(event.created_at().to_rfc3339(), "2024-01-01T00:00:00+00:00");
    /// # Ok::<(), asana_audit_log::error::DecodeError>(())
    /// ```
    pub fn from_json(json: &str) -> Result<Self, DecodeError> {
        let raw = RawValue::from_string(json.to_owned())
            .map_err(|e| DecodeError::new(json, None, format!("not valid JSON: {e}")))?;
        Self::from_raw(raw)
    }

    /// Decodes one event from the generated client's raw form.
    ///
    /// One scan measures depth and whitespace, one borrowing pass over the top level reads the
    /// four members decoded eagerly; the views wait for [`views`](Self::views).
    pub(crate) fn from_raw(raw: Box<RawValue>) -> Result<Self, DecodeError> {
        let (head, shape, is_object) = Head::scan(raw.get());
        let text = raw.get();
        if shape.depth > MAX_EVENT_DEPTH {
            let gid = head.gid.and_then(string_of).filter(|gid| !gid.is_empty());
            return Err(DecodeError::new(
                text,
                gid.as_deref(),
                format!(
                    "the event nests {} levels deep, more than the {MAX_EVENT_DEPTH} this library \
                     accepts",
                    shape.depth
                ),
            ));
        }
        if !is_object {
            let found = match text.trim_start().as_bytes().first() {
                Some(b'[') => "an array",
                Some(b'"') => "a string",
                Some(b'n') => "null",
                Some(b't' | b'f') => "a boolean",
                _ => "a number",
            };
            return Err(DecodeError::new(
                text,
                None,
                format!("not a JSON object: found {found}"),
            ));
        }
        let gid = match head.gid {
            None => return Err(DecodeError::new(text, None, "`gid` is missing")),
            Some(raw_gid) => match string_of(raw_gid) {
                Some(gid) if !gid.is_empty() => gid.into_owned(),
                _ => {
                    return Err(DecodeError::new(
                        text,
                        None,
                        format!("`gid` must be a non-empty string, found {raw_gid}"),
                    ));
                }
            },
        };
        let created_at = match head.created_at {
            None => {
                return Err(DecodeError::new(
                    text,
                    Some(&gid),
                    "`created_at` is missing",
                ));
            }
            Some(raw_at) => match string_of(raw_at) {
                Some(at) => DateTime::parse_from_rfc3339(&at)
                    .map(|at| at.with_timezone(&Utc))
                    .map_err(|e| {
                        DecodeError::new(
                            text,
                            Some(&gid),
                            format!("`created_at` {at:?} is not an RFC 3339 date-time: {e}"),
                        )
                    })?,
                None => {
                    return Err(DecodeError::new(
                        text,
                        Some(&gid),
                        format!("`created_at` must be a date-time string, found {raw_at}"),
                    ));
                }
            },
        };
        let event_type = head
            .event_type
            .and_then(string_of)
            .map_or_else(|| EventType::Unknown(String::new()), EventType::from_wire);
        let event_category = head
            .event_category
            .and_then(string_of)
            .map(EventCategory::from_wire);

        // Compacting only drops whitespace between tokens: the members read above keep their
        // meaning, though not their places, so a compacted text is scanned again for those.
        let located = head.objects;
        let (json, objects) = if shape.has_whitespace {
            let json = RawValue::from_string(compact::compact(text))
                .expect("compacting valid JSON gives valid JSON");
            let objects = Head::scan(json.get()).0.objects;
            (json, objects)
        } else {
            (raw, located)
        };
        Ok(Self {
            json,
            gid,
            created_at,
            event_type,
            event_category,
            objects,
            views: OnceLock::new(),
        })
    }

    /// The typed views, parsed from the event's text on the first call.
    fn views(&self) -> &Views {
        self.views
            .get_or_init(|| Box::new(Views::parse(self.json.get())))
    }

    /// The event's gid (required, non-empty).
    pub fn gid(&self) -> &str {
        &self.gid
    }

    /// When the event was recorded (required).
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// What happened. `Unknown("")` when `event_type` is missing or not a string (see
    /// [`get`](Self::get) for the original value).
    pub fn event_type(&self) -> &EventType {
        &self.event_type
    }

    /// The event's own `event_category`, when it is a string.
    pub fn event_category(&self) -> Option<&EventCategory> {
        self.event_category.as_ref()
    }

    /// Who caused the event; all `None` when `actor` is missing or not an object.
    pub fn actor(&self) -> &EventActor {
        &self.views().actor
    }

    /// What the event affected.
    pub fn resource(&self) -> &EventResource {
        &self.views().resource
    }

    /// Where the event came from.
    pub fn context(&self) -> &EventContext {
        &self.views().context
    }

    /// Event-type-specific facts.
    pub fn details(&self) -> &EventDetails {
        &self.views().details
    }

    /// Any top-level field as received (its exact JSON text), known or not.
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.views().top.get(self.json.get(), key).map(raw)
    }

    /// The top-level fields the typed views do not cover (fields Asana added after this
    /// version), in the order received.
    pub fn extra(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.views()
            .top
            .iter(self.json.get())
            .filter(|(key, _)| !KNOWN_FIELDS.contains(key))
            .map(|(key, value)| (key, raw(value)))
    }

    /// The event's JSON text as received, without insignificant whitespace (one line).
    pub fn json(&self) -> &str {
        self.json.get()
    }

    /// The exact JSON text of the event's top-level `actor` member, whatever its type (an
    /// object when Asana sends it), or `None` when the event has none. It is located when the
    /// event is decoded, so this costs nothing: for a reader that parses the object itself
    /// instead of using the typed [`actor`](Self::actor) view, which parses every member
    /// ([`for_each_member`](Self::for_each_member) reads its strings in one step).
    ///
    /// ```
    /// let event = asana_audit_log::AuditLogEvent::from_json(
    ///     r#"{"gid":"1","created_at":"2024-01-01T00:00:00Z","actor":{"gid":"7","name":"Ada"}}"#,
    /// )?;
    /// assert_eq!(event.actor_json(), Some(r#"{"gid":"7","name":"Ada"}"#));
    /// assert_eq!(event.resource_json(), None);
    /// # Ok::<(), asana_audit_log::error::DecodeError>(())
    /// ```
    pub fn actor_json(&self) -> Option<&str> {
        self.objects.get(self.json.get(), EventObject::Actor)
    }

    /// The exact JSON text of the event's top-level `resource` member, as
    /// [`actor_json`](Self::actor_json) gives `actor`'s.
    pub fn resource_json(&self) -> Option<&str> {
        self.objects.get(self.json.get(), EventObject::Resource)
    }

    /// The exact JSON text of the event's top-level `context` member, as
    /// [`actor_json`](Self::actor_json) gives `actor`'s.
    pub fn context_json(&self) -> Option<&str> {
        self.objects.get(self.json.get(), EventObject::Context)
    }

    /// Visits the members of the event's `actor`, `resource` or `context` object straight from
    /// the event's text: each member's key (unescaped) and its value when that is a string
    /// (unescaped, borrowed from the event unless it has escapes), `None` for a value of any
    /// other JSON type. Members come in the order received, a repeated key each time (the
    /// typed views keep the last). Nothing is visited when the event lacks the member or its
    /// value is not an object. A key or string that JSON allows but Rust cannot hold (a lone
    /// surrogate escape, `"\ud800"`) is skipped, or visited as `None`.
    ///
    /// For a reader that takes a few strings from each of many events, such as a columnar
    /// writer: the object is located when the event is decoded and this steps over its members
    /// once, without allocating for strings that have no escapes, which costs far less than the
    /// typed views ([`actor`](Self::actor), ...), which parse every member of every object.
    ///
    /// ```
    /// use asana_audit_log::events::EventObject;
    ///
    /// let event = asana_audit_log::AuditLogEvent::from_json(
    ///     r#"{"gid":"1","created_at":"2024-01-01T00:00:00Z","actor":{"gid":"7","n":1,"na\u006de":"Ada \"A\""},"resource":[1]}"#,
    /// )?;
    /// let mut found = Vec::new();
    /// event.for_each_member(EventObject::Actor, |key, value| {
    ///     found.push((key.to_owned(), value.map(|v| v.into_owned())));
    /// });
    /// assert_eq!(found, [
    ///     ("gid".to_owned(), Some("7".to_owned())),
    ///     ("n".to_owned(), None),
    ///     ("name".to_owned(), Some("Ada \"A\"".to_owned())),
    /// ]);
    /// // `resource` is not an object, and there is no `context`.
    /// event.for_each_member(EventObject::Resource, |_, _| unreachable!());
    /// event.for_each_member(EventObject::Context, |_, _| unreachable!());
    /// # Ok::<(), asana_audit_log::error::DecodeError>(())
    /// ```
    pub fn for_each_member<'a>(
        &'a self,
        object: EventObject,
        visit: impl FnMut(&str, Option<Cow<'a, str>>),
    ) {
        if let Some(text) = self.objects.get(self.json.get(), object) {
            string_members(text, visit);
        }
    }

    /// The event's JSON as a `RawValue`, e.g. to embed it in another serde structure verbatim.
    pub fn raw_json(&self) -> &RawValue {
        &self.json
    }

    /// The event as a `serde_json::Value`. Integers beyond 64 bits become floats here, and a
    /// number no `f64` can hold (e.g. `1e400`) is an error (unless serde_json's
    /// `arbitrary_precision` feature is on); [`json`](Self::json) keeps every number exact.
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(self.json())
    }
}

/// The top-level members [`AuditLogEvent::from_raw`] decodes eagerly, as JSON text borrowed
/// from the event. A key that appears twice keeps its last value, as in [`Fields`] and
/// `serde_json::Value`; keys are compared after unescaping.
#[derive(Default)]
struct Head<'a> {
    gid: Option<&'a str>,
    created_at: Option<&'a str>,
    event_type: Option<&'a str>,
    event_category: Option<&'a str>,
    objects: ObjectSpans,
}

/// One of the event's top-level objects whose text is located when the event is decoded, to
/// read with [`AuditLogEvent::for_each_member`]: the objects that hold who did what, to what
/// and from where.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventObject {
    /// `actor`: who caused the event.
    Actor,
    /// `resource`: what the event affected.
    Resource,
    /// `context`: where the event came from.
    Context,
}

/// Where the values of the top-level `actor`, `resource` and `context` members are in an
/// event's text (in that order), as byte offsets; `None` for a member the event lacks.
#[derive(Clone, Copy, Default)]
struct ObjectSpans([Option<(u32, u32)>; 3]);

impl ObjectSpans {
    /// The keys whose values are located, in slot order.
    const KEYS: [&'static str; 3] = ["actor", "resource", "context"];

    /// The value text of `object`'s member in `text`.
    fn get<'t>(&self, text: &'t str, object: EventObject) -> Option<&'t str> {
        let slot = match object {
            EventObject::Actor => 0,
            EventObject::Resource => 1,
            EventObject::Context => 2,
        };
        let (start, end) = self.0[slot]?;
        text.get(start as usize..end as usize)
    }
}

impl<'a> Head<'a> {
    /// Scans an event's text (valid JSON) once: its shape, whether it is an object, and the
    /// eagerly decoded members.
    fn scan(text: &'a str) -> (Self, compact::Shape, bool) {
        let mut head = Head::default();
        let (shape, is_object) = compact::scan_object(text, |key, value, plain| {
            let slot = match string_in(&text[key], plain).as_deref() {
                Some("gid") => &mut head.gid,
                Some("created_at") => &mut head.created_at,
                Some("event_type") => &mut head.event_type,
                Some("event_category") => &mut head.event_category,
                Some(other) => {
                    if let Some(slot) = ObjectSpans::KEYS.iter().position(|k| *k == other) {
                        // An event is far below 4 GiB (the page it came in is bounded); a value
                        // past that is simply not located, and reads as absent.
                        head.objects.0[slot] = u32::try_from(value.start)
                            .ok()
                            .zip(u32::try_from(value.end).ok());
                    }
                    return;
                }
                None => return,
            };
            *slot = Some(&text[value]);
        });
        (head, shape, is_object)
    }
}

impl Views {
    /// Parses the views from an event's text (already known to be a compact JSON object).
    fn parse(text: &str) -> Self {
        let top = Members::parse(text);
        let member = |key: &str| top.get(text, key);
        let actor = {
            let map = object(member("actor"));
            EventActor {
                actor_type: string(map.value("actor_type")).map(ActorType::from),
                gid: string(map.value("gid")),
                name: string(map.value("name")),
                email: string(map.value("email")),
                fields: map,
            }
        };
        let resource = {
            let map = object(member("resource"));
            EventResource {
                resource_type: string(map.value("resource_type")),
                resource_subtype: string(map.value("resource_subtype")),
                gid: string(map.value("gid")),
                name: string(map.value("name")),
                email: string(map.value("email")),
                fields: map,
            }
        };
        let context = {
            let map = object(member("context"));
            EventContext {
                context_type: string(map.value("context_type")).map(ContextType::from),
                api_authentication_method: string(map.value("api_authentication_method"))
                    .map(ApiAuthenticationMethod::from),
                client_ip_address: string(map.value("client_ip_address")),
                user_agent: string(map.value("user_agent")),
                oauth_app_name: string(map.value("oauth_app_name")),
                rule_name: string(map.value("rule_name")),
                on_behalf_of_user_id: map
                    .value("on_behalf_of_user_id")
                    .and_then(|value| serde_json::from_str(value).ok()),
                fields: map,
            }
        };
        let details = {
            let map = object(member("details"));
            EventDetails {
                old_value: string(map.value("old_value")),
                new_value: string(map.value("new_value")),
                group: map.value("group").and_then(Fields::parse),
                saml_response: string(map.value("saml_response")),
                fields: map,
            }
        };
        Views {
            actor,
            resource,
            context,
            details,
            top,
        }
    }
}

impl fmt::Debug for AuditLogEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLogEvent")
            .field("gid", &self.gid)
            .field("created_at", &self.created_at)
            .field("event_type", &self.event_type)
            .field("json", &self.json.get())
            .finish()
    }
}

/// Two events are equal when their JSON texts are.
impl PartialEq for AuditLogEvent {
    fn eq(&self, other: &Self) -> bool {
        self.json.get() == other.json.get()
    }
}

impl Eq for AuditLogEvent {}

impl serde::Serialize for AuditLogEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for AuditLogEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Self::from_raw(raw).map_err(D::Error::custom)
    }
}

impl schemars::JsonSchema for AuditLogEvent {
    fn schema_name() -> String {
        "AuditLogEvent".to_owned()
    }

    fn json_schema(generator: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
        schema::Event::json_schema(generator)
    }
}

/// Mirror structs describing the wire shape for [`schemars`]; never constructed.
#[allow(dead_code)]
mod schema {
    use chrono::{DateTime, Utc};
    use schemars::JsonSchema;
    use serde_json::{Map, Value};

    use crate::enums::{ActorType, ApiAuthenticationMethod, ContextType, EventCategory, EventType};

    /// One security-relevant event of an Asana domain. Fields not listed here may appear and
    /// are kept.
    #[derive(JsonSchema)]
    #[schemars(rename = "AuditLogEvent")]
    pub(super) struct Event {
        /// The event's globally unique id.
        gid: String,
        /// When the event was recorded (RFC 3339).
        created_at: DateTime<Utc>,
        /// What happened.
        event_type: Option<EventType>,
        /// The group the event type belongs to.
        event_category: Option<EventCategory>,
        /// Who caused the event.
        actor: Option<Actor>,
        /// The main object the event affected.
        resource: Option<Resource>,
        /// Event-type-specific facts.
        details: Option<Details>,
        /// Where the event came from.
        context: Option<Context>,
        #[serde(flatten)]
        other: Map<String, Value>,
    }

    /// Who caused the event. Other fields may appear.
    #[derive(JsonSchema)]
    #[schemars(rename = "AuditLogEventActor")]
    struct Actor {
        actor_type: Option<ActorType>,
        gid: Option<String>,
        name: Option<String>,
        email: Option<String>,
        #[serde(flatten)]
        other: Map<String, Value>,
    }

    /// The main object the event affected. Other fields may appear.
    #[derive(JsonSchema)]
    #[schemars(rename = "AuditLogEventResource")]
    struct Resource {
        resource_type: Option<String>,
        resource_subtype: Option<String>,
        gid: Option<String>,
        name: Option<String>,
        email: Option<String>,
        #[serde(flatten)]
        other: Map<String, Value>,
    }

    /// Where the event came from. Other fields may appear.
    #[derive(JsonSchema)]
    #[schemars(rename = "AuditLogEventContext")]
    struct Context {
        context_type: Option<ContextType>,
        api_authentication_method: Option<ApiAuthenticationMethod>,
        client_ip_address: Option<String>,
        user_agent: Option<String>,
        oauth_app_name: Option<String>,
        rule_name: Option<String>,
        on_behalf_of_user_id: Option<i64>,
        #[serde(flatten)]
        other: Map<String, Value>,
    }

    /// Event-type-specific facts; keys vary by event type.
    #[derive(JsonSchema)]
    #[schemars(rename = "AuditLogEventDetails")]
    struct Details {
        old_value: Option<String>,
        new_value: Option<String>,
        group: Option<Map<String, Value>>,
        saml_response: Option<String>,
        #[serde(flatten)]
        other: Map<String, Value>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"{"gid":"12345","created_at":"2021-10-08T12:30:00.123Z","event_type":"task_deleted","event_category":"deletion","actor":{"actor_type":"user","gid":"1111","name":"Greg","email":"g@example.com","new_actor_field":[1,2]},"resource":{"resource_type":"task","resource_subtype":"milestone","gid":"2222","name":null,"email":"t@example.com"},"details":{"old_value":"a","new_value":{"not":"a string"},"group":{"gid":"9","name":"Div"},"saml_response":null,"method":"ui"},"context":{"context_type":"api","api_authentication_method":"service_account","client_ip_address":"1.1.1.1","user_agent":"curl","oauth_app_name":"App","rule_name":"Rule","on_behalf_of_user_id":12345},"big":123456789012345678901234567890,"text":"héllo 👋"}"#;

    #[test]
    fn object_texts_are_the_members_exact_values() {
        let event = AuditLogEvent::from_json(FULL).unwrap();
        let value = event.to_value().unwrap();
        for (key, text) in [
            ("actor", event.actor_json()),
            ("resource", event.resource_json()),
            ("context", event.context_json()),
        ] {
            let text = text.unwrap_or_else(|| panic!("{key} located"));
            assert_eq!(text, event.get(key).unwrap().get(), "{key}");
            assert_eq!(serde_json::from_str::<Value>(text).unwrap(), value[key]);
        }
        // Whitespace (the text is compacted, and the places are those in the compacted text),
        // a repeated key (the last counts, as everywhere), other JSON types, a missing member,
        // an escaped key.
        let odd = "{ \"gid\": \"1\", \"created_at\": \"2024-01-01T00:00:00Z\",\n \"actor\": { \"gid\" : \"7\" },\n \"resource\": [ 1, 2 ], \"actor\": \"later\", \"cont\\u0065xt\": null }";
        let event = AuditLogEvent::from_json(odd).unwrap();
        assert_eq!(event.actor_json(), Some("\"later\""));
        assert_eq!(event.resource_json(), Some("[1,2]"));
        assert_eq!(event.context_json(), Some("null"));
        let plain =
            AuditLogEvent::from_json(r#"{"gid":"1","created_at":"2024-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(
            (
                plain.actor_json(),
                plain.resource_json(),
                plain.context_json()
            ),
            (None, None, None)
        );
    }

    #[test]
    fn views_read_known_fields() {
        let event = AuditLogEvent::from_json(FULL).unwrap();
        assert_eq!(event.gid(), "12345");
        assert_eq!(event.created_at().timestamp_millis(), 1_633_696_200_123);
        assert_eq!(event.event_type(), &EventType::TaskDeleted);
        assert_eq!(event.event_category(), Some(&EventCategory::Deletion));
        assert_eq!(event.actor().actor_type, Some(ActorType::User));
        assert_eq!(event.actor().name.as_deref(), Some("Greg"));
        assert!(event.actor().fields.contains_key("new_actor_field"));
        assert_eq!(
            event.resource().resource_subtype.as_deref(),
            Some("milestone")
        );
        assert_eq!(event.resource().name, None);
        assert_eq!(event.resource().fields["name"].get(), "null");
        assert_eq!(event.context().context_type, Some(ContextType::Api));
        assert_eq!(
            event.context().api_authentication_method,
            Some(ApiAuthenticationMethod::ServiceAccount)
        );
        assert_eq!(event.context().on_behalf_of_user_id, Some(12345));
        assert_eq!(event.details().old_value.as_deref(), Some("a"));
        assert_eq!(event.details().new_value, None);
        assert_eq!(
            event.details().get("new_value").unwrap().get(),
            r#"{"not":"a string"}"#
        );
        assert_eq!(
            event.details().group.as_ref().unwrap()["name"].get(),
            r#""Div""#
        );
        assert_eq!(event.details().get("method").unwrap().get(), r#""ui""#);
        let extra: Vec<&str> = event.extra().map(|(k, _)| k).collect();
        assert_eq!(extra, ["big", "text"]);
        assert_eq!(serde_json::to_string(&event).unwrap(), FULL);
    }

    #[test]
    fn unexpected_types_do_not_fail() {
        let text = r#"{"gid":"1","created_at":"2024-01-01T00:00:00Z","event_type":7,"event_category":null,"actor":"nobody","context":{"context_type":"hologram","on_behalf_of_user_id":"12"}}"#;
        let event = AuditLogEvent::from_json(text).unwrap();
        assert_eq!(event.event_type(), &EventType::Unknown(String::new()));
        assert_eq!(event.event_category(), None);
        assert!(event.actor().actor_type.is_none() && event.actor().fields.is_empty());
        assert_eq!(
            event.context().context_type,
            Some(ContextType::Unknown("hologram".into()))
        );
        assert_eq!(event.context().on_behalf_of_user_id, None);
        assert_eq!(event.json(), text);
    }

    #[test]
    fn required_fields_are_checked() {
        let cases = [
            (r#"[1]"#, "not a JSON object"),
            (
                r#"{"created_at":"2024-01-01T00:00:00Z"}"#,
                "`gid` is missing",
            ),
            (
                r#"{"gid":12,"created_at":"2024-01-01T00:00:00Z"}"#,
                "`gid` must be a non-empty string",
            ),
            (
                r#"{"gid":"","created_at":"2024-01-01T00:00:00Z"}"#,
                "`gid` must be a non-empty string",
            ),
            (r#"{"gid":"5"}"#, "`created_at` is missing"),
            (
                r#"{"gid":"5","created_at":"yesterday"}"#,
                "is not an RFC 3339 date-time",
            ),
            (
                r#"{"gid":"5","created_at":null}"#,
                "`created_at` must be a date-time string",
            ),
        ];
        for (text, expected) in cases {
            let err = AuditLogEvent::from_json(text).unwrap_err();
            assert!(err.reason().contains(expected), "{text}: {err}");
        }
        let err = AuditLogEvent::from_json(r#"{"gid":"5","created_at":"yesterday"}"#).unwrap_err();
        assert_eq!(err.gid(), Some("5"));
        assert!(
            err.to_string()
                .starts_with("cannot decode audit log event with gid \"5\""),
            "{err}"
        );
    }

    #[test]
    fn eager_members_follow_json_rules() {
        // Escaped keys and values read like plain ones; a repeated key keeps its last value,
        // as `serde_json::Value` and the views' `Fields` do.
        let text = r#"{"g\u0069d":"1\u0032","created_at":"2024-01-01T00:00:00Z","event_type":"task_deleted","event_type":"user_login_succeeded","gid":"7","actor":{"actor_type":"user"}}"#;
        let event = AuditLogEvent::from_json(text).unwrap();
        assert_eq!(event.gid(), "7");
        assert_eq!(event.event_type(), &EventType::UserLoginSucceeded);
        assert_eq!(event.get("gid").unwrap().get(), r#""7""#);
        let first_wins = r#"{"gid":"1","created_at":"2024-01-01T00:00:00Z","gid":""}"#;
        let err = AuditLogEvent::from_json(first_wins).unwrap_err();
        assert!(err.reason().contains("non-empty"), "{err}");
        let escaped = r#"{"gid":"a\"b","created_at":"2024-01-01T00:00:00Z"}"#;
        assert_eq!(AuditLogEvent::from_json(escaped).unwrap().gid(), "a\"b");
    }

    #[test]
    fn views_are_built_once_and_survive_clones() {
        let event = AuditLogEvent::from_json(FULL).unwrap();
        let before = event.clone();
        assert_eq!(event.actor().email.as_deref(), Some("g@example.com"));
        assert!(std::ptr::eq(event.actor(), event.actor()));
        let after = event.clone();
        for copy in [before, after] {
            assert_eq!(copy.actor().gid.as_deref(), Some("1111"));
            assert_eq!(copy.resource().resource_type.as_deref(), Some("task"));
            assert_eq!(copy, event);
        }
    }

    #[test]
    fn pretty_input_is_compacted() {
        let pretty = "{\n  \"gid\": \"1\",\n  \"created_at\": \"2024-01-01T00:00:00Z\",\n  \"s\": \"a  b\"\n}";
        let event = AuditLogEvent::from_json(pretty).unwrap();
        assert_eq!(
            event.json(),
            r#"{"gid":"1","created_at":"2024-01-01T00:00:00Z","s":"a  b"}"#
        );
    }

    #[test]
    fn deserializes_inside_other_json() {
        let events: Vec<AuditLogEvent> =
            serde_json::from_str(&format!("[{FULL}, {FULL}]")).unwrap();
        assert_eq!(events.len(), 2);
        let bad = serde_json::from_str::<AuditLogEvent>(r#"{"gid":"1"}"#).unwrap_err();
        assert!(bad.to_string().contains("`created_at` is missing"), "{bad}");
    }
}
