//! The mapper: one [`AuditLogEvent`] in, one OCSF event (JSON text) out.

use asana_audit_log::AuditLogEvent;
use asana_audit_log::types::EventType;
use serde_json::value::RawValue;

use crate::header::header;
use crate::json::{Obj, is_ocsf_email, is_ocsf_ip, key, literal_passes, push_str, unquote};
use crate::mapping_table::row_of_known;
use crate::scan::{
    ACTOR, CONTEXT, DETAILS, Member, RESOURCE, Source, TOP_GID, TOP_OBJECT, members, unescaped,
};
use crate::table::{
    MappingRow, OcsfClass, ResourceIn, StatusRule, fallback_class, fallback_status, mapping_for,
};

/// The OCSF schema version the mapped events follow.
pub const OCSF_VERSION: &str = "1.8.0";

/// `metadata.log_name` of every mapped event.
pub const LOG_NAME: &str = "audit_log";

/// Maps [`AuditLogEvent`]s to OCSF 1.8.0 events. Cheap to build and to share between threads.
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
    /// `metadata.tenant_uid`, already a JSON string literal.
    tenant_uid: Option<String>,
}

/// What [`Mapper::map_into`] wrote: the class and activity of the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mapped {
    /// The OCSF class.
    pub class: OcsfClass,
    /// `activity_id`.
    pub activity_id: u8,
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

/// The source's `resource`, as the carriers read it (each a JSON string literal).
struct Resource<'a> {
    gid: Option<&'a str>,
    name: Option<&'a str>,
    email: Option<&'a str>,
    resource_type: Option<&'a str>,
}

/// Which source leaves were copied verbatim into a typed attribute (and so leave `unmapped`).
#[derive(Default)]
struct Used {
    /// `gid`, `created_at`, `event_type`: indexed by their top-level slot - 1.
    top: [bool; 3],
    /// `objects[object][slot - 1]` (see [`crate::scan::Source::fields`]).
    objects: [[bool; 4]; 4],
    member_gid: bool,
    member_name: bool,
}

impl Used {
    fn mark(&mut self, object: usize, slot: u8) {
        self.objects[object][usize::from(slot - 1)] = true;
    }
}

/// An observable to list: (`,"name":"path","type_id":N,"type":"caption","value":` as one
/// constant, the value's JSON string literal).
type Observable<'a> = (&'static str, &'a str);

/// The observable's constant part, from its path and type.
macro_rules! observable {
    ($path:literal, ip) => {
        concat!(
            r#"{"name":""#,
            $path,
            r#"","type_id":2,"type":"IP Address","value":"#
        )
    };
    ($path:literal, user_name) => {
        concat!(
            r#"{"name":""#,
            $path,
            r#"","type_id":4,"type":"User Name","value":"#
        )
    };
    ($path:literal, email) => {
        concat!(
            r#"{"name":""#,
            $path,
            r#"","type_id":5,"type":"Email Address","value":"#
        )
    };
}

/// At most this many observables: two for the actor, two for the user, one for the IP.
const MAX_OBSERVABLES: usize = 6;

impl Mapper {
    /// A mapper without a tenant.
    pub fn new() -> Self {
        Mapper::default()
    }

    /// Sets `metadata.tenant_uid` of every mapped event, e.g. to the workspace gid the events
    /// were read from (events do not carry it).
    pub fn tenant_uid(mut self, uid: impl AsRef<str>) -> Self {
        let mut text = String::new();
        push_str(&mut text, uid.as_ref());
        self.tenant_uid = Some(text);
        self
    }

    /// Maps one event. Never fails: see the crate docs for what goes where.
    ///
    /// The event is written into a buffer the thread keeps, then copied into a string of
    /// exactly its size: the copy costs less than allocating for the largest possible event
    /// and keeping that slack while the event waits to be written.
    pub fn map(&self, event: &AuditLogEvent) -> OcsfEvent {
        thread_local! {
            static BUFFER: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        BUFFER.with_borrow_mut(|buffer| {
            buffer.clear();
            let mapped = self.map_into(event, buffer);
            let event = OcsfEvent {
                json: buffer.as_str().to_owned(),
                mapped,
            };
            // A buffer grown by an unusually large event does not stay that large.
            if buffer.capacity() > 1 << 20 {
                *buffer = String::new();
            }
            event
        })
    }

    /// Maps one event, appending its JSON text (one line, no newline) to `out`; reusing one
    /// buffer avoids an allocation per event.
    pub fn map_into(&self, event: &AuditLogEvent, out: &mut String) -> Mapped {
        let (mut class, mut activity_id, mut activity_name, status) =
            match row_for(event.event_type()) {
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

        let source = Source::read(event.json());
        let [gid_text, created_text, type_text] = source.leaves;
        let [actor_gid, actor_name, actor_email, actor_type] = source.fields[ACTOR];
        let [res_gid, res_name, res_email, res_type] = source.fields[RESOURCE];
        let resource = Resource {
            gid: string_text(res_gid),
            name: string_text(res_name),
            email: valid_email(res_email),
            resource_type: string_text(res_type),
        };
        let [ip, user_agent, oauth_app_name, _] = source.fields[CONTEXT];
        let [reason, new_value, member, _] = source.fields[DETAILS];

        let (actor_gid, actor_name) = (string_text(actor_gid), string_text(actor_name));
        let actor_email = valid_email(actor_email);
        let actor_type = string_text(actor_type).and_then(unquote);
        let actor_type = actor_type.as_deref();
        let oauth_app_name = string_text(oauth_app_name);
        let has_actor_user = actor_gid.is_some() || actor_name.is_some();
        let ip = string_text(ip).filter(|t| literal_passes(t, is_ocsf_ip));
        let user_agent = string_text(user_agent);
        let new_value = string_text(new_value);
        let type_text = string_text(type_text);

        // Degrade when the event lacks what the class requires.
        let identity = resource.gid.is_some() || resource.name.is_some();
        let satisfied = identity
            && match class {
                OcsfClass::UserAccess => new_value.is_some(),
                OcsfClass::FileHosting => {
                    resource.name.is_some()
                        && ip.is_some()
                        && (has_actor_user || oauth_app_name.is_some())
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

        out.reserve(event.json().len() * 3 + 768);
        let mut used = Used::default();
        let mut observables: [Observable<'_>; MAX_OBSERVABLES] = [("", ""); MAX_OBSERVABLES];
        let mut n_obs = 0;
        let mut observe = |o| {
            observables[n_obs] = o;
            n_obs += 1;
        };
        let header = header(class, activity_id, activity_name, status);
        out.push_str(&header.before);
        match type_text {
            // Activity 99: the sibling carries the source's own value.
            Some(text) if activity_id == 99 => out.push_str(text),
            _ => {
                out.push('"');
                out.push_str(activity_name);
                out.push('"');
            }
        }
        out.push_str(&header.after);
        let mut o = Obj::resume(out);
        if status == StatusRule::Failure
            && let Some(reason) = string_text(reason)
        {
            o.raw(key!("status_detail"), reason);
            used.mark(DETAILS, 1);
        }
        o.int(key!("time"), event.created_at().timestamp_millis());

        // metadata
        {
            let out = o.key(key!("metadata"));
            out.push_str(concat!(
                r#"{"version":""#,
                "1.8.0",
                r#"","product":{"name":"Asana","vendor_name":"Asana"},"log_name":""#,
                "audit_log",
                r#"","uid":"#
            ));
            match string_text(gid_text) {
                Some(text) => {
                    out.push_str(text);
                    used.top[0] = true;
                }
                None => push_str(out, event.gid()),
            }
            if let Some(text) = type_text {
                out.push_str(r#","event_code":"#);
                out.push_str(text);
                used.top[2] = true;
            }
            if let Some(text) = string_text(created_text) {
                out.push_str(r#","original_time":"#);
                out.push_str(text);
                used.top[1] = true;
            }
            if let Some(tenant) = &self.tenant_uid {
                out.push_str(r#","tenant_uid":"#);
                out.push_str(tenant);
            }
            out.push('}');
        }

        // actor
        if class.has_actor() && (has_actor_user || oauth_app_name.is_some()) {
            let out = o.key(key!("actor"));
            let mut a = Obj::begin(out);
            if has_actor_user {
                let out = a.key(key!("user"));
                let mut u = Obj::begin(out);
                if let Some(text) = actor_gid {
                    u.raw(key!("uid"), text);
                    used.mark(ACTOR, 1);
                }
                if let Some(text) = actor_name {
                    u.raw(key!("name"), text);
                    used.mark(ACTOR, 2);
                    observe((observable!("actor.user.name", user_name), text));
                }
                if let Some(text) = actor_email {
                    u.raw(key!("email_addr"), text);
                    used.mark(ACTOR, 3);
                    observe((observable!("actor.user.email_addr", email), text));
                }
                match actor_type {
                    Some("user") => u.raw(key!("type_id"), r#"1,"type":"User""#),
                    Some("external_administrator") => u.raw(key!("type_id"), r#"2,"type":"Admin""#),
                    Some("asana") => u.raw(key!("type_id"), r#"3,"type":"System""#),
                    Some("anonymous") => u.raw(key!("type_id"), r#"0,"type":"Unknown""#),
                    Some(other) => {
                        u.raw(key!("type_id"), "99");
                        u.str(key!("type"), other);
                    }
                    None => {}
                }
                u.end();
            }
            if let Some(text) = oauth_app_name {
                a.raw(key!("app_name"), text);
                used.mark(CONTEXT, 3);
            }
            a.end();
        } else {
            // The class has no actor: point the observables at `unmapped`.
            if let Some(text) = actor_name {
                observe((observable!("unmapped.actor.name", user_name), text));
            }
            if let Some(text) = actor_email {
                observe((observable!("unmapped.actor.email", email), text));
            }
        }

        // the resource, in the class's object
        match class.resource_in() {
            Some(ResourceIn::User) => {
                let out = o.key(key!("user"));
                let mut u = Obj::begin(out);
                write_identity(&mut u, &resource, &mut used);
                if let Some(text) = resource.name {
                    observe((observable!("user.name", user_name), text));
                }
                if let Some(text) = resource.email {
                    u.raw(key!("email_addr"), text);
                    used.mark(RESOURCE, 3);
                    observe((observable!("user.email_addr", email), text));
                }
                u.end();
            }
            Some(ResourceIn::Group) => {
                let out = o.key(key!("group"));
                let mut g = Obj::begin(out);
                write_identity(&mut g, &resource, &mut used);
                if let Some(text) = resource.resource_type {
                    g.raw(key!("type"), text);
                    used.mark(RESOURCE, 4);
                }
                g.end();
            }
            Some(ResourceIn::WebResource) => {
                let out = o.key(key!("web_resources"));
                out.push('[');
                let mut w = Obj::begin(out);
                write_identity(&mut w, &resource, &mut used);
                if let Some(text) = resource.resource_type {
                    w.raw(key!("type"), text);
                    used.mark(RESOURCE, 4);
                }
                w.end();
                out.push(']');
            }
            Some(ResourceIn::File) => {
                let out = o.key(key!("file"));
                let mut f = Obj::begin(out);
                write_identity(&mut f, &resource, &mut used);
                f.raw(key!("type_id"), r#"1,"type":"Regular File""#);
                f.end();
            }
            Some(ResourceIn::Entity) => {
                let out = o.key(key!("entity"));
                let mut e = Obj::begin(out);
                write_identity(&mut e, &resource, &mut used);
                let kind = resource.resource_type.and_then(unquote);
                match kind.as_deref() {
                    None => {}
                    Some("user") => e.raw(key!("type_id"), r#"2,"type":"User""#),
                    Some("team") => e.raw(key!("type_id"), r#"3,"type":"Group""#),
                    Some("workspace" | "division") => {
                        e.raw(key!("type_id"), r#"4,"type":"Organization""#)
                    }
                    Some(_) => {
                        e.raw(key!("type_id"), "99");
                        if let Some(text) = resource.resource_type {
                            e.raw(key!("type"), text);
                            used.mark(RESOURCE, 4);
                        }
                    }
                }
                e.end();
            }
            None => {}
        }

        // class-specific objects
        match class {
            OcsfClass::Authentication => o.raw(key!("service"), r#"{"name":"Asana"}"#),
            OcsfClass::UserAccess => {
                if let Some(text) = new_value {
                    let out = o.key(key!("privileges"));
                    out.push('[');
                    out.push_str(text);
                    out.push(']');
                    used.mark(DETAILS, 2);
                }
            }
            _ => {}
        }
        if class == OcsfClass::GroupManagement
            && let Some(member) = member
        {
            let (mut gid, mut name) = (None, None);
            for m in members(member) {
                match &*unescaped(m.key) {
                    "gid" => gid = Some(m.value),
                    "name" => name = Some(m.value),
                    _ => {}
                }
            }
            let (gid, name) = (string_text(gid), string_text(name));
            if gid.is_some() || name.is_some() {
                let out = o.key(key!("user"));
                let mut u = Obj::begin(out);
                if let Some(text) = gid {
                    u.raw(key!("uid"), text);
                    used.member_gid = true;
                }
                if let Some(text) = name {
                    u.raw(key!("name"), text);
                    used.member_name = true;
                    observe((observable!("user.name", user_name), text));
                }
                u.end();
            }
        }

        if class.has_endpoint() {
            if let Some(text) = ip {
                let out = o.key(key!("src_endpoint"));
                out.push_str("{\"ip\":");
                out.push_str(text);
                out.push('}');
                used.mark(CONTEXT, 1);
                observe((observable!("src_endpoint.ip", ip), text));
            }
            if let Some(text) = user_agent {
                let out = o.key(key!("http_request"));
                out.push_str("{\"user_agent\":");
                out.push_str(text);
                out.push('}');
                used.mark(CONTEXT, 2);
            }
        } else if let Some(text) = ip {
            observe((observable!("unmapped.context.client_ip_address", ip), text));
        }

        if n_obs > 0 {
            let out = o.key(key!("observables"));
            out.push('[');
            for (i, (head, value)) in observables[..n_obs].iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(head);
                out.push_str(value);
                out.push('}');
            }
            out.push(']');
        }

        write_unmapped(&mut o, &source, &used);
        o.end();
        Mapped { class, activity_id }
    }
}

/// The row of a decoded event type: by variant for the catalogue's types (a jump table), by
/// name for an `Unknown` that spells a known type.
fn row_for(event_type: &EventType) -> Option<&'static MappingRow> {
    match row_of_known(event_type) {
        Some(row) => Some(row),
        None => match event_type {
            EventType::Unknown(name) => mapping_for(name),
            _ => None,
        },
    }
}

/// `text` when it is a JSON string literal (quotes included), to be copied verbatim.
fn string_text(text: Option<&str>) -> Option<&str> {
    text.filter(|t| t.starts_with('"'))
}

fn valid_email(text: Option<&str>) -> Option<&str> {
    string_text(text).filter(|t| literal_passes(t, is_ocsf_email))
}

/// `uid` and `name` of the carrier, from the resource's `gid` and `name`.
fn write_identity(o: &mut Obj<'_>, resource: &Resource<'_>, used: &mut Used) {
    if let Some(text) = resource.gid {
        o.raw(key!("uid"), text);
        used.mark(RESOURCE, 1);
    }
    if let Some(text) = resource.name {
        o.raw(key!("name"), text);
        used.mark(RESOURCE, 2);
    }
}

/// Writes `unmapped`: the source event with the same nesting, minus the leaves that [`Used`]
/// marks (every occurrence of a marked key). Keys and values are copied as received. An
/// object that loses every member is left out; an object that was empty in the source stays
/// (as `{}`). Nothing is written when nothing is left.
fn write_unmapped(o: &mut Obj<'_>, source: &Source<'_>, used: &Used) {
    let out = o.key(key!("unmapped"));
    let rollback = out.len() - r#","unmapped":"#.len();
    out.push('{');
    let mut first = true;
    let top = source.top();
    for &m in top {
        if (TOP_GID..TOP_OBJECT).contains(&m.slot) && used.top[usize::from(m.slot - 1)] {
            continue;
        }
        let mark = out.len();
        if !first {
            out.push(',');
        }
        let value = source.value(m);
        let wrote = if m.slot >= TOP_OBJECT && value.starts_with('{') && value != "{}" {
            out.push_str(source.head(m));
            write_object(out, source, usize::from(m.slot - TOP_OBJECT), m, used)
        } else {
            out.push_str(source.whole(m));
            true
        };
        if wrote {
            first = false;
        } else {
            out.truncate(mark);
        }
    }
    if first {
        // Nothing left: no `unmapped` at all (and no comma before it).
        out.truncate(rollback);
    } else {
        out.push('}');
    }
}

/// Writes one of the four known objects minus its used members; `false` when nothing is
/// left.
fn write_object(
    out: &mut String,
    source: &Source<'_>,
    object: usize,
    parent: Member,
    used: &Used,
) -> bool {
    let marks = used.objects[object];
    out.push('{');
    let mut first = true;
    let nested = source.nested();
    for i in parent.children.0..parent.children.1 {
        let m = nested[usize::from(i)];
        if m.slot > 0 && marks[usize::from(m.slot - 1)] {
            continue;
        }
        let mark = out.len();
        if !first {
            out.push(',');
        }
        let wrote = if object == DETAILS && m.slot == 3 && (used.member_gid || used.member_name) {
            out.push_str(source.head(m));
            write_member(out, source.value(m), used)
        } else {
            out.push_str(source.whole(m));
            true
        };
        if wrote {
            first = false;
        } else {
            out.truncate(mark);
        }
    }
    out.push('}');
    !first
}

/// `details.member` minus the `gid` and `name` that became `user`; `false` when nothing is
/// left.
fn write_member(out: &mut String, text: &str, used: &Used) -> bool {
    out.push('{');
    let mut first = true;
    for member in members(text) {
        let key = unescaped(member.key);
        let gone = (used.member_gid && key == "gid") || (used.member_name && key == "name");
        if gone {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        push_key(out, member.key);
        out.push_str(member.value);
    }
    out.push('}');
    !first
}

/// Writes `"key":` from a key's text as received (escapes kept).
fn push_key(out: &mut String, key: &str) {
    out.push('"');
    out.push_str(key);
    out.push_str("\":");
}
