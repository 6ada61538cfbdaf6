//! The mapper: one [`AuditLogEvent`] in, one OCSF event (JSON text) out.

use asana_audit_log::AuditLogEvent;
use serde_json::value::RawValue;

use crate::json::{Obj, is_ocsf_email, is_ocsf_ip, push_str, unquote};
use crate::scan::{members, pick};
use crate::table::{
    OcsfClass, ResourceIn, StatusRule, fallback_class, fallback_status, mapping_for,
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
/// # Ok::<(), asana_audit_log::DecodeError>(())
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
#[derive(Default)]
struct Resource<'a> {
    gid: Option<&'a str>,
    name: Option<&'a str>,
    email: Option<&'a str>,
    resource_type: Option<&'a str>,
}

/// Which source leaves were copied verbatim into a typed attribute (and so leave `unmapped`).
#[derive(Default)]
struct Used {
    gid: bool,
    created_at: bool,
    event_type: bool,
    actor_gid: bool,
    actor_name: bool,
    actor_email: bool,
    res_gid: bool,
    res_name: bool,
    res_email: bool,
    res_type: bool,
    ctx_ip: bool,
    ctx_user_agent: bool,
    ctx_oauth_app_name: bool,
    det_reason: bool,
    det_new_value: bool,
    member_gid: bool,
    member_name: bool,
}

/// An observable to list: (path, type_id, type caption, JSON string literal).
type Observable<'a> = (&'static str, u8, &'static str, &'a str);

const IP_ADDRESS: (u8, &str) = (2, "IP Address");
const USER_NAME: (u8, &str) = (4, "User Name");
const EMAIL_ADDRESS: (u8, &str) = (5, "Email Address");

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
    pub fn map(&self, event: &AuditLogEvent) -> OcsfEvent {
        let mut json = String::with_capacity(event.json().len() * 2 + 512);
        let mapped = self.map_into(event, &mut json);
        OcsfEvent { json, mapped }
    }

    /// Maps one event, appending its JSON text (one line, no newline) to `out`; reusing one
    /// buffer avoids an allocation per event.
    pub fn map_into(&self, event: &AuditLogEvent, out: &mut String) -> Mapped {
        let event_type = event.event_type().as_str();
        let (mut class, mut activity_id, mut activity_name, status) = match mapping_for(event_type)
        {
            Some(row) => (row.class, row.activity_id, row.activity_name, row.status),
            None => (
                fallback_class(event.event_category().map(|c| c.as_str())),
                99,
                "Other",
                fallback_status(event_type),
            ),
        };

        let top = pick(event.json(), TOP_KEYS);
        let [
            gid_text,
            created_text,
            type_text,
            _,
            actor,
            resource,
            context,
            details,
        ] = top.map(|v| v.unwrap_or(""));
        let [actor_gid, actor_name, actor_email, actor_type] =
            pick(actor, ["gid", "name", "email", "actor_type"]);
        let [res_gid, res_name, res_email, res_type] =
            pick(resource, ["gid", "name", "email", "resource_type"]);
        let resource = Resource {
            gid: string_text(res_gid),
            name: string_text(res_name),
            email: valid_email(res_email),
            resource_type: string_text(res_type),
        };
        let [ip, user_agent, oauth_app_name] = pick(
            context,
            ["client_ip_address", "user_agent", "oauth_app_name"],
        );
        let [reason, new_value, member] = pick(details, ["reason", "new_value", "member"]);

        let (actor_gid, actor_name) = (string_text(actor_gid), string_text(actor_name));
        let actor_email = valid_email(actor_email);
        let actor_type = string_text(actor_type).and_then(unquote);
        let actor_type = actor_type.as_deref();
        let oauth_app_name = string_text(oauth_app_name);
        let has_actor_user = actor_gid.is_some() || actor_name.is_some();
        let ip = string_text(ip).filter(|t| unquote(t).is_some_and(|ip| is_ocsf_ip(&ip)));
        let user_agent = string_text(user_agent);
        let new_value = string_text(new_value);
        let type_text = string_text(Some(type_text));

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

        let mut used = Used::default();
        let mut observables: Vec<Observable<'_>> = Vec::new();
        let mut o = Obj::begin(out);
        o.int("class_uid", i64::from(class.uid()));
        o.str("class_name", class.caption());
        o.int("category_uid", i64::from(class.category_uid()));
        o.str("category_name", class.category_caption());
        o.int("activity_id", i64::from(activity_id));
        match type_text {
            // Activity 99: the sibling carries the source's own value.
            Some(text) if activity_id == 99 => o.raw("activity_name", text),
            _ => o.str("activity_name", activity_name),
        }
        o.int(
            "type_uid",
            i64::from(class.uid()) * 100 + i64::from(activity_id),
        );
        {
            let out = o.key("type_name");
            out.push('"');
            out.push_str(class.caption());
            out.push_str(": ");
            out.push_str(activity_name);
            out.push('"');
        }
        o.int("severity_id", 1);
        o.str("severity", "Informational");
        o.int("status_id", i64::from(status.status_id()));
        o.str("status", status.caption());
        if status == StatusRule::Failure
            && let Some(reason) = string_text(reason)
        {
            o.raw("status_detail", reason);
            used.det_reason = true;
        }
        o.int("time", event.created_at().timestamp_millis());

        // metadata
        {
            let out = o.key("metadata");
            let mut m = Obj::begin(out);
            m.str("version", OCSF_VERSION);
            m.raw("product", r#"{"name":"Asana","vendor_name":"Asana"}"#);
            m.str("log_name", LOG_NAME);
            match string_text(Some(gid_text)) {
                Some(text) => {
                    m.raw("uid", text);
                    used.gid = true;
                }
                None => m.str("uid", event.gid()),
            }
            if let Some(text) = type_text {
                m.raw("event_code", text);
                used.event_type = true;
            }
            if let Some(text) = string_text(Some(created_text)) {
                m.raw("original_time", text);
                used.created_at = true;
            }
            if let Some(tenant) = &self.tenant_uid {
                m.raw("tenant_uid", tenant);
            }
            m.end();
        }

        // actor
        if class.has_actor() && (has_actor_user || oauth_app_name.is_some()) {
            let out = o.key("actor");
            let mut a = Obj::begin(out);
            if has_actor_user {
                let out = a.key("user");
                let mut u = Obj::begin(out);
                if let Some(text) = actor_gid {
                    u.raw("uid", text);
                    used.actor_gid = true;
                }
                if let Some(text) = actor_name {
                    u.raw("name", text);
                    used.actor_name = true;
                    observables.push(("actor.user.name", USER_NAME.0, USER_NAME.1, text));
                }
                if let Some(text) = actor_email {
                    u.raw("email_addr", text);
                    used.actor_email = true;
                    observables.push((
                        "actor.user.email_addr",
                        EMAIL_ADDRESS.0,
                        EMAIL_ADDRESS.1,
                        text,
                    ));
                }
                match actor_type {
                    Some("user") => {
                        u.int("type_id", 1);
                        u.str("type", "User");
                    }
                    Some("external_administrator") => {
                        u.int("type_id", 2);
                        u.str("type", "Admin");
                    }
                    Some("asana") => {
                        u.int("type_id", 3);
                        u.str("type", "System");
                    }
                    Some("anonymous") => {
                        u.int("type_id", 0);
                        u.str("type", "Unknown");
                    }
                    Some(other) => {
                        u.int("type_id", 99);
                        u.str("type", other);
                    }
                    None => {}
                }
                u.end();
            }
            if let Some(text) = oauth_app_name {
                a.raw("app_name", text);
                used.ctx_oauth_app_name = true;
            }
            a.end();
        } else {
            // The class has no actor: point the observables at `unmapped`.
            if let Some(text) = actor_name {
                observables.push(("unmapped.actor.name", USER_NAME.0, USER_NAME.1, text));
            }
            if let Some(text) = actor_email {
                observables.push((
                    "unmapped.actor.email",
                    EMAIL_ADDRESS.0,
                    EMAIL_ADDRESS.1,
                    text,
                ));
            }
        }

        // the resource, in the class's object
        match class.resource_in() {
            Some(ResourceIn::User) => {
                let out = o.key("user");
                let mut u = Obj::begin(out);
                write_identity(&mut u, &resource, &mut used);
                if let Some(text) = resource.name {
                    observables.push(("user.name", USER_NAME.0, USER_NAME.1, text));
                }
                if let Some(text) = resource.email {
                    u.raw("email_addr", text);
                    used.res_email = true;
                    observables.push(("user.email_addr", EMAIL_ADDRESS.0, EMAIL_ADDRESS.1, text));
                }
                u.end();
            }
            Some(ResourceIn::Group) => {
                let out = o.key("group");
                let mut g = Obj::begin(out);
                write_identity(&mut g, &resource, &mut used);
                if let Some(text) = resource.resource_type {
                    g.raw("type", text);
                    used.res_type = true;
                }
                g.end();
            }
            Some(ResourceIn::WebResource) => {
                let out = o.key("web_resources");
                out.push('[');
                let mut w = Obj::begin(out);
                write_identity(&mut w, &resource, &mut used);
                if let Some(text) = resource.resource_type {
                    w.raw("type", text);
                    used.res_type = true;
                }
                w.end();
                out.push(']');
            }
            Some(ResourceIn::File) => {
                let out = o.key("file");
                let mut f = Obj::begin(out);
                write_identity(&mut f, &resource, &mut used);
                f.int("type_id", 1);
                f.str("type", "Regular File");
                f.end();
            }
            Some(ResourceIn::Entity) => {
                let out = o.key("entity");
                let mut e = Obj::begin(out);
                write_identity(&mut e, &resource, &mut used);
                let kind = resource.resource_type.and_then(unquote);
                match kind.as_deref() {
                    None => {}
                    Some("user") => {
                        e.int("type_id", 2);
                        e.str("type", "User");
                    }
                    Some("team") => {
                        e.int("type_id", 3);
                        e.str("type", "Group");
                    }
                    Some("workspace" | "division") => {
                        e.int("type_id", 4);
                        e.str("type", "Organization");
                    }
                    Some(_) => {
                        e.int("type_id", 99);
                        if let Some(text) = resource.resource_type {
                            e.raw("type", text);
                            used.res_type = true;
                        }
                    }
                }
                e.end();
            }
            None => {}
        }

        // class-specific objects
        match class {
            OcsfClass::Authentication => o.raw("service", r#"{"name":"Asana"}"#),
            OcsfClass::UserAccess => {
                if let Some(text) = new_value {
                    let out = o.key("privileges");
                    out.push('[');
                    out.push_str(text);
                    out.push(']');
                    used.det_new_value = true;
                }
            }
            _ => {}
        }
        if class == OcsfClass::GroupManagement
            && let Some(member) = member
        {
            let [gid, name] = pick(member, ["gid", "name"]).map(string_text);
            if gid.is_some() || name.is_some() {
                let out = o.key("user");
                let mut u = Obj::begin(out);
                if let Some(text) = gid {
                    u.raw("uid", text);
                    used.member_gid = true;
                }
                if let Some(text) = name {
                    u.raw("name", text);
                    used.member_name = true;
                    observables.push(("user.name", USER_NAME.0, USER_NAME.1, text));
                }
                u.end();
            }
        }

        if class.has_endpoint() {
            if let Some(text) = ip {
                let out = o.key("src_endpoint");
                out.push_str("{\"ip\":");
                out.push_str(text);
                out.push('}');
                used.ctx_ip = true;
                observables.push(("src_endpoint.ip", IP_ADDRESS.0, IP_ADDRESS.1, text));
            }
            if let Some(text) = user_agent {
                let out = o.key("http_request");
                out.push_str("{\"user_agent\":");
                out.push_str(text);
                out.push('}');
                used.ctx_user_agent = true;
            }
        } else if let Some(text) = ip {
            observables.push((
                "unmapped.context.client_ip_address",
                IP_ADDRESS.0,
                IP_ADDRESS.1,
                text,
            ));
        }

        if !observables.is_empty() {
            let out = o.key("observables");
            out.push('[');
            for (i, (name, type_id, caption, value)) in observables.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let mut ob = Obj::begin(out);
                ob.str("name", name);
                ob.int("type_id", i64::from(*type_id));
                ob.str("type", caption);
                ob.raw("value", value);
                ob.end();
            }
            out.push(']');
        }

        write_unmapped(&mut o, event.json(), &used);
        o.end();
        Mapped { class, activity_id }
    }
}

/// The top-level members the mapper reads, in the order of [`Mapper::map_into`]'s `top`.
const TOP_KEYS: [&str; 8] = [
    "gid",
    "created_at",
    "event_type",
    "event_category",
    "actor",
    "resource",
    "context",
    "details",
];

/// `text` when it is a JSON string literal (quotes included), to be copied verbatim.
fn string_text(text: Option<&str>) -> Option<&str> {
    text.filter(|t| t.starts_with('"'))
}

fn valid_email(text: Option<&str>) -> Option<&str> {
    string_text(text).filter(|t| unquote(t).is_some_and(|e| is_ocsf_email(&e)))
}

/// `uid` and `name` of the carrier, from the resource's `gid` and `name`.
fn write_identity(o: &mut Obj<'_>, resource: &Resource<'_>, used: &mut Used) {
    if let Some(text) = resource.gid {
        o.raw("uid", text);
        used.res_gid = true;
    }
    if let Some(text) = resource.name {
        o.raw("name", text);
        used.res_name = true;
    }
}

/// Writes `unmapped`: the source event with the same nesting, minus the leaves that [`Used`]
/// marks (every occurrence of a marked key). Keys and values are copied as received. An
/// object that loses every member is left out; an object that was empty in the source stays
/// (as `{}`). Nothing is written when nothing is left.
fn write_unmapped(o: &mut Obj<'_>, json: &str, used: &Used) {
    let top_used = |key: &str| match key {
        "gid" => used.gid,
        "created_at" => used.created_at,
        "event_type" => used.event_type,
        _ => false,
    };
    let out = o.key("unmapped");
    let rollback = out.len() - "\"unmapped\":".len() - 1;
    out.push('{');
    let mut first = true;
    for member in members(json) {
        let name = ["actor", "resource", "context", "details"]
            .into_iter()
            .find(|k| member.key_is(k));
        if name.is_none() && top_used(&unescaped(member.key)) {
            continue;
        }
        let mark = out.len();
        if !first {
            out.push(',');
        }
        push_key(out, member.key);
        let wrote = match name {
            Some(name) if member.value.starts_with('{') && member.value != "{}" => {
                write_object(out, name, member.value, used)
            }
            _ => {
                out.push_str(member.value);
                true
            }
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

/// Writes one of the four known objects minus its used keys; `false` when nothing is left.
fn write_object(out: &mut String, name: &str, text: &str, used: &Used) -> bool {
    let marks: &[(&str, bool)] = match name {
        "actor" => &[
            ("gid", used.actor_gid),
            ("name", used.actor_name),
            ("email", used.actor_email),
        ],
        "resource" => &[
            ("gid", used.res_gid),
            ("name", used.res_name),
            ("email", used.res_email),
            ("resource_type", used.res_type),
        ],
        "context" => &[
            ("client_ip_address", used.ctx_ip),
            ("user_agent", used.ctx_user_agent),
            ("oauth_app_name", used.ctx_oauth_app_name),
        ],
        _ => &[
            ("reason", used.det_reason),
            ("new_value", used.det_new_value),
        ],
    };
    out.push('{');
    let mut first = true;
    for member in members(text) {
        if marks
            .iter()
            .any(|(k, is_used)| *is_used && member.key_is(k))
        {
            continue;
        }
        let mark = out.len();
        if !first {
            out.push(',');
        }
        push_key(out, member.key);
        let wrote = if name == "details"
            && member.key_is("member")
            && (used.member_gid || used.member_name)
        {
            write_member(out, member.value, used)
        } else {
            out.push_str(member.value);
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
        let gone = (used.member_gid && member.key_is("gid"))
            || (used.member_name && member.key_is("name"));
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

fn unescaped(key: &str) -> std::borrow::Cow<'_, str> {
    if key.contains('\\') {
        serde_json::from_str::<String>(&format!("\"{key}\""))
            .map(std::borrow::Cow::Owned)
            .unwrap_or(std::borrow::Cow::Borrowed(key))
    } else {
        std::borrow::Cow::Borrowed(key)
    }
}
