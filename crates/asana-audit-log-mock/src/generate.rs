//! Deterministic, realistic audit-log events.
//!
//! Every event is a pure function of the seed, its sequence number and its `created_at`, so
//! the initial dataset and events appended later come out the same however they are batched,
//! and the same seed gives byte-identical JSON. Each event gets its own SplitMix64 stream
//! (`derive(seed, seq)`).
//!
//! What a dataset of at least 134 events always contains (at evenly spread positions):
//! every catalogue event type with its category and resource type, every actor type, every
//! context type and every API authentication method. The rest is drawn with weights that
//! roughly follow a real domain (logins and access changes dominate).

use crate::catalogue::event_types;
use crate::json::JsonOut;
use crate::prng::{SplitMix64, mix};

/// 2021-10-08T00:00:00Z, the day Asana's audit log begins: no event is older.
pub(crate) const FLOOR_MS: i64 = 1_633_651_200_000;

const TIE_SALT: u64 = 0x7469_6573;
const TIME_SALT: u64 = 0x7469_6d65;
const EVENT_GID_BASE: u64 = 1_208_000_000_000_000;
const USER_GID_BASE: u64 = 1_201_000_000_000_000;
const RESOURCE_GID_BASE: u64 = 1_203_000_000_000_000;
const USERS: u64 = 240;
pub(crate) const EMAIL_DOMAIN: &str = "northwind.example";

/// The gid of event number `seq`: increasing with `seq` and unique.
pub(crate) fn event_gid(seed: u64, seq: u64) -> u64 {
    EVENT_GID_BASE + seq * 1000 + mix(seed ^ seq) % 1000
}

/// What the generator needs to know.
#[derive(Clone, Debug)]
pub(crate) struct GenConfig {
    pub(crate) seed: u64,
    /// Events in the initial dataset.
    pub(crate) count: u64,
    /// The initial dataset's time window, `start_ms..end_ms`.
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
    pub(crate) workspace_gid: String,
    pub(crate) forward_compat: bool,
}

/// The fields of a generated event the server filters on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GenMeta {
    pub(crate) event_type: &'static str,
    pub(crate) actor_type: &'static str,
    pub(crate) actor_gid: Option<u64>,
    pub(crate) resource_gid: Option<u64>,
}

#[derive(Clone, Copy, Debug)]
struct TypeDef {
    name: &'static str,
    category: &'static str,
    resource_type: &'static str,
}

/// Event types that are not in the catalogue, sent only with forward-compatibility cases on.
const UNKNOWN_TYPES: &[TypeDef] = &[
    TypeDef {
        name: "ai_teammate_created",
        category: "ai",
        resource_type: "ai_teammate",
    },
    TypeDef {
        name: "workspace_data_residency_region_changed",
        category: "admin_settings",
        resource_type: "workspace",
    },
    TypeDef {
        name: "project_brief_exported",
        category: "content_export",
        resource_type: "project_brief",
    },
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Actor {
    User,
    Asana,
    AsanaSupport,
    Anonymous,
    ExternalAdministrator,
    /// Forward compatibility: an actor type the spec does not know.
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Auth {
    Cookie,
    Oauth,
    PersonalAccessToken,
    ServiceAccount,
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ctx {
    Web,
    Desktop,
    Mobile,
    Email,
    Api(Auth),
    Asana,
    AsanaSupport,
    Unknown,
}

/// Actor/context pairs that together cover every actor type, context type and API
/// authentication method; each appears at least once in a dataset that is large enough.
const PROFILES: &[(Actor, Ctx)] = &[
    (Actor::User, Ctx::Web),
    (Actor::User, Ctx::Desktop),
    (Actor::User, Ctx::Mobile),
    (Actor::User, Ctx::Email),
    (Actor::User, Ctx::Api(Auth::Cookie)),
    (Actor::User, Ctx::Api(Auth::Oauth)),
    (Actor::User, Ctx::Api(Auth::PersonalAccessToken)),
    (Actor::ExternalAdministrator, Ctx::Api(Auth::ServiceAccount)),
    (Actor::Asana, Ctx::Asana),
    (Actor::AsanaSupport, Ctx::AsanaSupport),
    (Actor::Anonymous, Ctx::Web),
];

/// The forward-compatibility profiles: unknown actor type, context type, auth method.
const UNKNOWN_PROFILES: &[(Actor, Ctx)] = &[
    (Actor::Unknown, Ctx::Web),
    (Actor::User, Ctx::Unknown),
    (Actor::User, Ctx::Api(Auth::Unknown)),
];

/// Forward-compatibility additions that do not change an event's type, actor or context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Extra {
    /// A top-level field the spec does not list.
    UnknownTopLevel,
    /// Unknown fields inside `actor`, `resource`, `context` and `details`.
    UnknownNested,
    /// Explicit `null`s, including where the spec says a string is always present.
    ExplicitNulls,
    /// Integers beyond 2^53 (not exact in a double), beyond `u64` and below `i64`.
    LargeIntegers,
    /// A twelve-level nested object in `details`.
    DeepNesting,
}

const EXTRAS: &[Extra] = &[
    Extra::UnknownTopLevel,
    Extra::UnknownNested,
    Extra::ExplicitNulls,
    Extra::LargeIntegers,
    Extra::DeepNesting,
];

/// Relative weight of each category (spread evenly over its types).
fn category_weight(category: &str) -> u32 {
    match category {
        "logins" => 300,
        "access_control" => 140,
        "deletion" => 120,
        "content_export" => 80,
        "user_updates" => 60,
        "creation" => 60,
        "admin_settings" => 50,
        "apps" => 40,
        "roles" => 20,
        _ => 10,
    }
}

/// Produces events.
#[derive(Debug)]
pub(crate) struct Generator {
    cfg: GenConfig,
    types: Vec<TypeDef>,
    weights: Vec<u32>,
    profiles: Vec<(Actor, Ctx)>,
}

/// `Some(j)` when item `j` of `k` is pinned to position `i` of `n` (spread evenly, only when
/// `n >= k`, so each of the `k` items gets exactly one position).
fn pinned(i: u64, n: u64, k: u64) -> Option<u64> {
    if n < k || k == 0 {
        return None;
    }
    let (i, n, k) = (u128::from(i), u128::from(n), u128::from(k));
    let j = (i * k).div_ceil(n);
    (j < k && j * n / k == i).then_some(j as u64)
}

impl Generator {
    pub(crate) fn new(cfg: GenConfig) -> Self {
        let mut types: Vec<TypeDef> = event_types()
            .iter()
            .map(|t| TypeDef {
                name: t.event_type,
                category: t.event_category,
                resource_type: t.resource_type,
            })
            .collect();
        let mut per_category = std::collections::HashMap::<&str, u32>::new();
        for t in &types {
            *per_category.entry(t.category).or_default() += 1;
        }
        let mut weights: Vec<u32> = types
            .iter()
            .map(|t| {
                let base = category_weight(t.category) * 1000 / per_category[t.category];
                // Successful logins are by far the most common event of a real domain.
                if t.name == "user_login_succeeded" {
                    base * 4
                } else {
                    base.max(1)
                }
            })
            .collect();
        let mut profiles = PROFILES.to_vec();
        if cfg.forward_compat {
            types.extend_from_slice(UNKNOWN_TYPES);
            weights.extend(std::iter::repeat_n(300, UNKNOWN_TYPES.len()));
            profiles.extend_from_slice(UNKNOWN_PROFILES);
        }
        Generator {
            cfg,
            types,
            weights,
            profiles,
        }
    }

    pub(crate) fn config(&self) -> &GenConfig {
        &self.cfg
    }

    /// Every event type this generator can send, in a fixed order.
    pub(crate) fn type_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.types.iter().map(|t| t.name)
    }

    /// `created_at` of event `i` of the initial dataset: non-decreasing in `i`, inside the
    /// window, with about one event in twelve sharing the previous event's millisecond (so
    /// tie-breaks are exercised).
    pub(crate) fn created_at(&self, i: u64) -> i64 {
        let mut k = i;
        while k > 0 && SplitMix64::derive(self.cfg.seed ^ TIE_SALT, k).below(12) == 0 {
            k -= 1;
        }
        let span = (self.cfg.end_ms - self.cfg.start_ms).max(1) as u128;
        let n = u128::from(self.cfg.count.max(1));
        let base = span * u128::from(k) / n;
        let r = u128::from(SplitMix64::derive(self.cfg.seed ^ TIME_SALT, k).next_u64());
        let jitter = r * span / (n << 64);
        self.cfg.start_ms + (base + jitter) as i64
    }

    /// Writes event `seq` (created at `ms`) as JSON into `out`. `initial` says whether it is
    /// part of the initial dataset (which pins coverage positions).
    pub(crate) fn write(&self, seq: u64, ms: i64, initial: bool, out: &mut Vec<u8>) -> GenMeta {
        let cfg = &self.cfg;
        let n = cfg.count;
        let mut r = SplitMix64::derive(cfg.seed, seq);
        let pin = |k: usize| {
            if initial {
                pinned(seq, n, k as u64)
            } else {
                None
            }
        };

        let ty = match pin(self.types.len()) {
            Some(j) => self.types[j as usize],
            None => self.types[r.weighted(&self.weights)],
        };
        let (actor, ctx) = match pin(self.profiles.len()) {
            Some(j) => self.profiles[j as usize],
            None => self.random_profile(&mut r, ty),
        };
        let extra = if cfg.forward_compat {
            match pin(EXTRAS.len()) {
                Some(j) => Some(EXTRAS[j as usize]),
                None if r.chance(0.03) => Some(r.pick(EXTRAS)),
                None => None,
            }
        } else {
            None
        };
        let nulls = extra == Some(Extra::ExplicitNulls);

        let user_k = r.below(USERS);
        let actor_user = user(cfg.seed, user_k);

        let mut o = JsonOut::new(out);
        o.begin();
        o.num_str("gid", event_gid(cfg.seed, seq));
        o.time("created_at", ms);
        o.str("event_type", ty.name);
        o.str("event_category", ty.category);

        // actor
        o.object("actor");
        let (actor_type, actor_gid) = match actor {
            Actor::User => {
                o.str("actor_type", "user");
                o.num_str("gid", actor_user.gid);
                o.str("name", actor_user.name);
                o.str("email", &actor_user.email);
                ("user", Some(actor_user.gid))
            }
            Actor::Asana => {
                o.str("actor_type", "asana");
                o.str("name", "Asana");
                ("asana", None)
            }
            Actor::AsanaSupport => {
                o.str("actor_type", "asana_support");
                o.str("name", "Asana Support");
                ("asana_support", None)
            }
            Actor::Anonymous => {
                o.str("actor_type", "anonymous");
                ("anonymous", None)
            }
            Actor::ExternalAdministrator => {
                o.str("actor_type", "external_administrator");
                o.str(
                    "name",
                    r.pick(&["Okta SCIM provisioning", "Microsoft Entra ID", "OneLogin"]),
                );
                ("external_administrator", None)
            }
            Actor::Unknown => {
                let gid = USER_GID_BASE + 9_990_000 + r.below(10);
                o.str("actor_type", "ai_teammate");
                o.num_str("gid", gid);
                o.str("name", "Asana AI Teammate");
                ("ai_teammate", Some(gid))
            }
        };
        if nulls && actor != Actor::User && actor != Actor::Unknown {
            o.null("gid");
            o.null("email");
        }
        if extra == Some(Extra::UnknownNested) {
            o.str("department", "Sécurité informatique");
            o.raw("badges", r#"["sso","2fa"]"#);
        }
        o.end();

        // resource
        let resource_gid = self.write_resource(&mut o, &mut r, ty, actor, &actor_user, extra);

        // context
        self.write_context(&mut o, &mut r, actor, ctx, user_k, extra);

        // details
        self.write_details(&mut o, &mut r, ty, extra);

        if extra == Some(Extra::UnknownTopLevel) {
            o.raw(
                "risk_assessment",
                r#"{"score":0.82,"signals":["new_device","impossible_travel"],"model":"v3"}"#,
            );
            o.str("region", "eu-central-1");
        }
        o.end();

        GenMeta {
            event_type: ty.name,
            actor_type,
            actor_gid,
            resource_gid: Some(resource_gid),
        }
    }

    fn random_profile(&self, r: &mut SplitMix64, ty: TypeDef) -> (Actor, Ctx) {
        let actor = match (ty.category, ty.name) {
            (_, "user_login_failed") => {
                if r.chance(0.3) {
                    Actor::Anonymous
                } else {
                    Actor::User
                }
            }
            ("logins", _) => Actor::User,
            ("user_updates", _) => [
                Actor::User,
                Actor::ExternalAdministrator,
                Actor::AsanaSupport,
            ][r.weighted(&[80, 15, 5])],
            ("admin_settings" | "roles", _) => [
                Actor::User,
                Actor::AsanaSupport,
                Actor::ExternalAdministrator,
            ][r.weighted(&[85, 10, 5])],
            ("deletion", _) => [Actor::User, Actor::Asana][r.weighted(&[93, 7])],
            ("apps", _) => [Actor::User, Actor::ExternalAdministrator][r.weighted(&[90, 10])],
            _ => [
                Actor::User,
                Actor::Asana,
                Actor::AsanaSupport,
                Actor::ExternalAdministrator,
            ][r.weighted(&[90, 4, 3, 3])],
        };
        let ctx = match actor {
            Actor::User => match r.weighted(&[45, 15, 12, 3, 25]) {
                0 => Ctx::Web,
                1 => Ctx::Desktop,
                2 => Ctx::Mobile,
                3 => Ctx::Email,
                _ => Ctx::Api(
                    [
                        Auth::Oauth,
                        Auth::PersonalAccessToken,
                        Auth::ServiceAccount,
                        Auth::Cookie,
                    ][r.weighted(&[40, 30, 20, 10])],
                ),
            },
            Actor::Asana => Ctx::Asana,
            Actor::AsanaSupport => Ctx::AsanaSupport,
            Actor::Anonymous | Actor::Unknown => Ctx::Web,
            Actor::ExternalAdministrator => {
                Ctx::Api([Auth::ServiceAccount, Auth::Oauth][r.weighted(&[70, 30])])
            }
        };
        (actor, ctx)
    }

    fn write_resource(
        &self,
        o: &mut JsonOut<'_>,
        r: &mut SplitMix64,
        ty: TypeDef,
        actor: Actor,
        actor_user: &User,
        extra: Option<Extra>,
    ) -> u64 {
        let nulls = extra == Some(Extra::ExplicitNulls);
        o.object("resource");
        o.str("resource_type", ty.resource_type);
        let gid = match ty.resource_type {
            "user" => {
                // Logins and the like are about the acting user; other user events target
                // someone else.
                let target = if ty.category == "logins" && actor == Actor::User {
                    actor_user.clone()
                } else {
                    user(self.cfg.seed, r.below(USERS))
                };
                o.num_str("gid", target.gid);
                o.str("name", target.name);
                o.str("email", &target.email);
                target.gid
            }
            "workspace" => {
                o.str("gid", &self.cfg.workspace_gid);
                if nulls {
                    o.null("name");
                } else {
                    o.str("name", "Northwind Traders");
                }
                self.cfg.workspace_gid.parse().unwrap_or(0)
            }
            other => {
                let (size, names) = resource_names(other);
                let k = r.below(size);
                let gid = resource_gid(self.cfg.seed, other, k);
                if let Some(subtype) = resource_subtype(other, k) {
                    o.str("resource_subtype", subtype);
                } else if nulls {
                    o.null("resource_subtype");
                }
                o.num_str("gid", gid);
                let name = names[(k % names.len() as u64) as usize];
                match name {
                    Some(_) if nulls => o.null("name"),
                    Some(name) if k >= names.len() as u64 => {
                        o.str("name", &format!("{name} ({})", k / names.len() as u64 + 1))
                    }
                    Some(name) => o.str("name", name),
                    None => o.null("name"),
                }
                gid
            }
        };
        if extra == Some(Extra::UnknownNested) {
            o.raw(
                "parent",
                &format!(
                    r#"{{"resource_type":"project","gid":"{}","name":"Roadmap 2026"}}"#,
                    resource_gid(self.cfg.seed, "project", 1)
                ),
            );
            o.raw("permalink_url", r#""https://app.asana.com/0/0/0""#);
        }
        o.end();
        gid
    }

    fn write_context(
        &self,
        o: &mut JsonOut<'_>,
        r: &mut SplitMix64,
        actor: Actor,
        ctx: Ctx,
        user_k: u64,
        extra: Option<Extra>,
    ) {
        let nulls = extra == Some(Extra::ExplicitNulls);
        let seed = self.cfg.seed;
        o.object("context");
        let ua = |o: &mut JsonOut<'_>, list: &[&str], r: &mut SplitMix64| {
            if nulls {
                o.null("user_agent");
            } else {
                o.str("user_agent", r.pick(list));
            }
        };
        match ctx {
            Ctx::Web | Ctx::Desktop | Ctx::Mobile | Ctx::Unknown => {
                o.str(
                    "context_type",
                    match ctx {
                        Ctx::Web => "web",
                        Ctx::Desktop => "desktop",
                        Ctx::Mobile => "mobile",
                        _ => "workflow_automation",
                    },
                );
                let ip = if actor == Actor::User {
                    user_ip(seed, user_k, r.below(4))
                } else {
                    random_ip(r)
                };
                o.str("client_ip_address", &ip);
                let list = match ctx {
                    Ctx::Desktop => DESKTOP_AGENTS,
                    Ctx::Mobile => MOBILE_AGENTS,
                    _ => WEB_AGENTS,
                };
                ua(o, list, r);
            }
            Ctx::Email => {
                o.str("context_type", "email");
                o.str("client_ip_address", &random_ipv4(r));
            }
            Ctx::Api(auth) => {
                o.str("context_type", "api");
                o.str(
                    "api_authentication_method",
                    match auth {
                        Auth::Cookie => "cookie",
                        Auth::Oauth => "oauth",
                        Auth::PersonalAccessToken => "personal_access_token",
                        Auth::ServiceAccount => "service_account",
                        Auth::Unknown => "workload_identity_federation",
                    },
                );
                let ip = if actor == Actor::User {
                    user_ip(seed, user_k, r.below(4))
                } else {
                    random_ip(r)
                };
                o.str("client_ip_address", &ip);
                if auth == Auth::Cookie {
                    ua(o, WEB_AGENTS, r);
                } else {
                    ua(o, API_AGENTS, r);
                }
                if auth == Auth::Oauth {
                    o.str("oauth_app_name", r.pick(OAUTH_APPS));
                }
            }
            Ctx::Asana => {
                o.str("context_type", "asana");
                if r.chance(0.6) {
                    o.str("rule_name", r.pick(RULE_NAMES));
                }
            }
            Ctx::AsanaSupport => {
                o.str("context_type", "asana_support");
                let on_behalf = user(seed, r.below(USERS)).gid;
                if extra == Some(Extra::LargeIntegers) {
                    o.raw("on_behalf_of_user_id", "9007199254740993");
                } else {
                    o.int("on_behalf_of_user_id", on_behalf as i64);
                }
            }
        }
        if extra == Some(Extra::UnknownNested) {
            o.raw("geo", r#"{"country":"DE","city":"München","asn":3320}"#);
            o.str("session_id", &format!("s-{:016x}", r.next_u64()));
        }
        o.end();
    }

    fn write_details(
        &self,
        o: &mut JsonOut<'_>,
        r: &mut SplitMix64,
        ty: TypeDef,
        extra: Option<Extra>,
    ) {
        let seed = self.cfg.seed;
        let name = ty.name;
        o.object("details");
        let change = |o: &mut JsonOut<'_>, r: &mut SplitMix64, values: &[&str]| {
            let a = r.below(values.len() as u64) as usize;
            let b = (a + 1 + r.below(values.len() as u64 - 1) as usize) % values.len();
            o.str("old_value", values[a]);
            o.str("new_value", values[b]);
        };
        match (ty.category, name) {
            (_, "user_login_succeeded") => {
                let method = r.pick(&["password", "google_sso", "saml", "saml", "two_factor"]);
                o.str("method", method);
                if method == "saml" {
                    if r.chance(0.1) {
                        o.null("saml_response");
                    } else {
                        o.str("saml_response", &saml_response(r));
                    }
                }
            }
            (_, "user_login_failed") => {
                o.str("method", r.pick(&["password", "saml", "google_sso"]));
                o.str(
                    "reason",
                    r.pick(&[
                        "invalid_password",
                        "sso_required",
                        "account_locked",
                        "two_factor_failed",
                    ]),
                );
            }
            (_, "user_logged_out") => {
                o.str(
                    "method",
                    r.pick(&["manual", "session_expired", "admin_forced"]),
                );
            }
            (_, "user_division_admin_role_changed") => {
                o.raw("group", &division_group(seed, r));
                change(o, r, &["member", "division_admin"]);
            }
            (_, "user_workspace_admin_role_changed") => {
                change(o, r, &["member", "admin", "super_admin"])
            }
            ("user_updates", _) => {
                if name == "user_invited" {
                    o.str("new_value", r.pick(&["member", "guest"]));
                }
                o.str(
                    "method",
                    r.pick(&["web", "scim", "admin_console", "csv_import"]),
                );
                if r.chance(0.2) {
                    o.raw("group", &division_group(seed, r));
                }
            }
            ("admin_settings", _) | ("roles", _) => {
                if name.ends_with("_enabled") {
                    o.str("old_value", "off");
                    o.str("new_value", "on");
                } else if name.ends_with("_disabled") {
                    o.str("old_value", "on");
                    o.str("new_value", "off");
                } else if name.ends_with("_added") {
                    o.str("new_value", &setting_item(name, r));
                } else if name.ends_with("_removed") {
                    o.str("old_value", &setting_item(name, r));
                } else if name.ends_with("_changed") {
                    change(o, r, setting_values(name));
                } else if name == "workspace_announcement_created" {
                    o.str("new_value", r.pick(ANNOUNCEMENTS));
                } else if name == "custom_role_created" {
                    o.str("new_value", named(r, CUSTOM_ROLE_NAMES));
                }
            }
            ("content_export", _) => {
                o.str("method", r.pick(&["web", "api"]));
                o.str("export_format", r.pick(&["csv", "json", "pdf", "zip"]));
            }
            ("access_control", _) => {
                if name.ends_with("_added") || name.ends_with("_removed") {
                    let member = user(seed, r.below(USERS));
                    o.raw(
                        "member",
                        &format!(
                            r#"{{"gid":"{}","name":{},"resource_type":"user"}}"#,
                            member.gid,
                            serde_json::to_string(member.name).unwrap_or_default()
                        ),
                    );
                    let role = r.pick(&["editor", "commenter", "viewer", "admin"]);
                    if name.ends_with("_added") {
                        o.str("new_value", role);
                    } else {
                        o.str("old_value", role);
                    }
                } else if name.ends_with("_enabled") {
                    o.str("old_value", "off");
                    o.str("new_value", "on");
                } else if name.ends_with("_disabled") {
                    o.str("old_value", "on");
                    o.str("new_value", "off");
                } else {
                    change(
                        o,
                        r,
                        &[
                            "public_to_workspace",
                            "request_to_join",
                            "private",
                            "members_only",
                        ],
                    );
                }
            }
            ("apps", _) => {
                if name.starts_with("user_app_") || name.starts_with("team_harvest") {
                    o.str("app_name", r.pick(OAUTH_APPS));
                } else if name == "service_account_name_changed" {
                    change(
                        o,
                        r,
                        &[
                            "SIEM export",
                            "SIEM exporter",
                            "Audit log → Splunk",
                            "SOC 2 collector",
                        ],
                    );
                } else {
                    o.str(
                        "token_name",
                        r.pick(&["CI exporter", "SIEM pull", "Zoë's script", "backup"]),
                    );
                }
            }
            ("creation", _) => {
                if name == "attachment_uploaded" {
                    o.int("file_size_bytes", r.range(800, 80_000_000) as i64);
                    o.str(
                        "content_type",
                        r.pick(&["application/pdf", "image/png", "text/csv"]),
                    );
                } else {
                    o.null("old_value");
                    o.str("new_value", named(r, TEAM_NAMES));
                }
            }
            ("deletion", _) => {
                if r.chance(0.5) {
                    o.str(
                        "method",
                        r.pick(&["web", "api", "mobile", "retention_policy"]),
                    );
                }
            }
            _ => {
                o.str("method", "web");
            }
        }
        match extra {
            Some(Extra::ExplicitNulls) => {
                o.null("old_value");
                o.null("new_value");
                o.null("reason");
            }
            Some(Extra::UnknownNested) => {
                o.raw(
                    "policy_diff",
                    r#"{"added":["ip_allowlist"],"removed":[],"version":2}"#,
                );
            }
            Some(Extra::LargeIntegers) => {
                // 2^53 + 1, u64::MAX + 1 and i64::MIN - 1.
                o.raw("row_count", "9007199254740993");
                o.raw("bytes_exported", "18446744073709551616");
                o.raw("balance_delta", "-9223372036854775809");
            }
            Some(Extra::DeepNesting) => {
                let mut nested = String::from(r#"{"leaf":true}"#);
                for level in (1..=12).rev() {
                    nested = format!(r#"{{"level":{level},"child":{nested}}}"#);
                }
                o.raw("policy", &nested);
            }
            _ => {}
        }
        o.end();
    }
}

#[derive(Clone, Debug)]
struct User {
    gid: u64,
    name: &'static str,
    email: String,
}

/// User `k` of the domain's directory.
fn user(seed: u64, k: u64) -> User {
    let (name, local) = PEOPLE[(k % PEOPLE.len() as u64) as usize];
    let round = k / PEOPLE.len() as u64;
    let email = if round == 0 {
        format!("{local}@{EMAIL_DOMAIN}")
    } else {
        format!("{local}{}@{EMAIL_DOMAIN}", round + 1)
    };
    User {
        gid: USER_GID_BASE + k * 10_000 + mix(seed ^ USER_GID_BASE ^ k) % 10_000,
        name,
        email,
    }
}

fn resource_gid(seed: u64, resource_type: &str, k: u64) -> u64 {
    let type_key = resource_type
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    // Types get disjoint gid ranges of 10^11; a pool holds at most 10^6 objects.
    RESOURCE_GID_BASE
        + (type_key % 9_000) * 100_000_000_000
        + k * 10_000
        + mix(seed ^ type_key ^ k) % 10_000
}

fn resource_subtype(resource_type: &str, k: u64) -> Option<&'static str> {
    match resource_type {
        "task" => Some(
            [
                "default_task",
                "default_task",
                "default_task",
                "milestone",
                "approval",
            ][(k % 5) as usize],
        ),
        "custom_field" => {
            Some(["enum", "number", "text", "multi_enum", "people"][(k % 5) as usize])
        }
        "story" => Some("comment_added"),
        _ => None,
    }
}

/// Pool size and names of each resource type; a `None` name is sent as `null`.
fn resource_names(resource_type: &str) -> (u64, &'static [Option<&'static str>]) {
    match resource_type {
        "task" => (5000, TASKS),
        "project" => (300, PROJECTS),
        "portfolio" => (40, PORTFOLIOS),
        "goal" => (80, GOALS),
        "team" => (60, TEAM_NAMES),
        "attachment" => (1500, ATTACHMENTS),
        "story" => (3000, STORIES),
        "message" => (400, MESSAGES),
        "status_update" => (300, STATUS_UPDATES),
        "custom_field" => (60, CUSTOM_FIELDS),
        "task_template" => (40, TASK_TEMPLATES),
        "project_template" => (30, PROJECT_TEMPLATES),
        "workspace_announcement" => (10, ANNOUNCEMENT_NAMES),
        "division" => (DIVISION_NAMES.len() as u64, DIVISION_NAMES),
        "custom_role" => (8, CUSTOM_ROLE_NAMES),
        "search" => (50, SEARCHES),
        _ => (100, GENERIC),
    }
}

/// A name drawn from `names`, a list in which every entry has one.
fn named(r: &mut SplitMix64, names: &[Option<&'static str>]) -> &'static str {
    r.pick(names).expect("every entry has a name")
}

/// The `group` of an event about a division: one drawn from the pool, as its JSON object.
fn division_group(seed: u64, r: &mut SplitMix64) -> String {
    let division = r.below(DIVISION_NAMES.len() as u64);
    format!(
        r#"{{"gid":"{}","name":"{}","resource_type":"division"}}"#,
        resource_gid(seed, "division", division),
        DIVISION_NAMES[division as usize].expect("every division has a name")
    )
}

fn setting_values(name: &str) -> &'static [&'static str] {
    if name.contains("session_duration") {
        &["12 hours", "1 day", "7 days", "14 days", "30 days"]
    } else if name.contains("password_requirements") {
        &["simple", "medium", "strong"]
    } else if name.contains("privacy") {
        &["public_to_workspace", "request_to_join", "private"]
    } else if name.contains("expiry") {
        &["never", "30 days", "90 days", "1 year"]
    } else if name.contains("email") {
        &[
            "security@northwind.example",
            "soc@northwind.example",
            "ciso@northwind.example",
        ]
    } else if name.contains("saml_url") {
        &[
            "https://idp.northwind.example/saml/sso",
            "https://login.northwind.example/app/asana/sso/saml",
        ]
    } else if name.contains("sso") || name.contains("saml") {
        &["optional", "required", "off"]
    } else if name.contains("ip_range") || name.contains("ip_allowlist") {
        &[
            "203.0.113.0/24",
            "198.51.100.0/25",
            "2001:db8:4000::/48",
            "192.0.2.10/32",
        ]
    } else if name.contains("custom_role") || name.contains("role_") {
        &[
            "view_audit_log",
            "manage_members",
            "export_data",
            "manage_apps",
        ]
    } else {
        &["admins_only", "members_and_admins", "everyone", "disabled"]
    }
}

fn setting_item(name: &str, r: &mut SplitMix64) -> String {
    if name.contains("domain") {
        r.pick(&[
            "northwind.example",
            "northwind-eu.example",
            "acquired-co.example",
        ])
        .to_string()
    } else if name.contains("ip_range") {
        r.pick(&["203.0.113.0/24", "198.51.100.64/26", "2001:db8:1234::/48"])
            .to_string()
    } else {
        r.pick(ANNOUNCEMENTS).to_string()
    }
}

/// A base64 string in the shape of an identity provider's SAML response (random bytes).
fn saml_response(r: &mut SplitMix64) -> String {
    use base64::Engine as _;
    let mut bytes = Vec::with_capacity(96);
    bytes.extend_from_slice(b"<samlp:Response ID=\"_");
    while bytes.len() < 96 {
        bytes.extend_from_slice(&r.next_u64().to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One of a user's usual addresses (`variant` 0..=2) or a one-off (`variant` 3).
fn user_ip(seed: u64, user_k: u64, variant: u64) -> String {
    let mut r = if variant < 3 {
        SplitMix64::derive(seed ^ 0x1b, user_k * 4 + variant)
    } else {
        SplitMix64::derive(seed ^ 0x1c, user_k.wrapping_mul(0x9e37) ^ variant)
    };
    random_ip(&mut r)
}

fn random_ip(r: &mut SplitMix64) -> String {
    if r.chance(0.2) {
        random_ipv6(r)
    } else {
        random_ipv4(r)
    }
}

fn random_ipv4(r: &mut SplitMix64) -> String {
    const FIRST: &[u8] = &[
        24, 31, 38, 45, 50, 63, 66, 71, 76, 81, 89, 91, 98, 104, 109, 134, 141, 151, 162, 176, 185,
        188, 193, 203, 212, 217,
    ];
    format!(
        "{}.{}.{}.{}",
        r.pick(FIRST),
        r.below(256),
        r.below(256),
        r.range(1, 254)
    )
}

fn random_ipv6(r: &mut SplitMix64) -> String {
    const PREFIXES: &[&str] = &["2001:db8", "2a02:c7f", "2600:1700", "2406:da18", "2804:14c"];
    let prefix = r.pick(PREFIXES);
    if r.chance(0.3) {
        format!("{prefix}::{:x}", r.range(1, 0xffff))
    } else {
        format!(
            "{prefix}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}",
            r.below(0x10000),
            r.below(0x10000),
            r.below(0x10000),
            r.below(0x10000),
            r.below(0x10000),
            r.range(1, 0xffff)
        )
    }
}

/// Display names and email local parts of the directory: a mix of scripts and diacritics, a
/// quote and an apostrophe, so clients meet real-world text.
const PEOPLE: &[(&str, &str)] = &[
    ("Zoë Łukasiewicz", "zoe.lukasiewicz"),
    ("山田 太郎", "taro.yamada"),
    ("José Ñúñez", "jose.nunez"),
    ("Greta Müller", "greta.mueller"),
    ("Søren Østergaard", "soren.ostergaard"),
    ("Amélie Dubois", "amelie.dubois"),
    ("Ngozi Okonkwo", "ngozi.okonkwo"),
    ("Priya Raghunathan", "priya.raghunathan"),
    ("李伟", "wei.li"),
    ("Олена Коваленко", "olena.kovalenko"),
    ("Mehmet Yılmaz", "mehmet.yilmaz"),
    ("فاطمة الزهراء", "fatima.zahra"),
    ("Björn Þórsson", "bjorn.thorsson"),
    ("Chloé O'Brien", "chloe.obrien"),
    ("Nguyễn Thị Lan", "lan.nguyen"),
    ("김민준", "minjun.kim"),
    ("Αλέξανδρος Παπαδόπουλος", "alexandros.papadopoulos"),
    ("Jiří Dvořák", "jiri.dvorak"),
    ("Samantha \"Sam\" Reyes", "sam.reyes"),
    ("Marcus Johnson", "marcus.johnson"),
    ("Emily Chen", "emily.chen"),
    ("Oliver Smith", "oliver.smith"),
    ("Aisha Bello", "aisha.bello"),
    ("Lucas Silva", "lucas.silva"),
    ("Hannah Schmidt", "hannah.schmidt"),
    ("Ravi Shankar Iyer", "ravi.iyer"),
    ("Tomás Ó Briain", "tomas.obriain"),
    ("Mariana Gonçalves", "mariana.goncalves"),
    ("Kwame Mensah", "kwame.mensah"),
    ("Ilse van der Berg", "ilse.vanderberg"),
];

const TASKS: &[Option<&str>] = &[
    Some("Fix login redirect loop"),
    Some("Prepare board deck"),
    Some("Überprüfung der Lieferverträge"),
    Some("レビュー依頼: 新しいオンボーディング"),
    Some("Update SOC 2 evidence"),
    Some("Call with vendor re: renewal"),
    Some("Draft Q3 OKRs"),
    Some("Rotate API keys"),
    Some("Traduire la page d'accueil"),
    Some("Renew TLS certificates 🔒"),
    Some("Plan offsite — Lisbon"),
    Some("Review \"Access policy\" v2"),
];
const PROJECTS: &[Option<&str>] = &[
    Some("Q3 Launch 🚀"),
    Some("Website Redesign"),
    Some("Été 2025 – Campagne"),
    Some("新製品ローンチ"),
    Some("Security Review"),
    Some("Budget FY26"),
    Some("Roadmap \\ Backlog"),
    Some("Hiring – Engineering"),
];
const PORTFOLIOS: &[Option<&str>] = &[
    Some("Strategic initiatives"),
    Some("EMEA programs"),
    Some("Produkt-Portfolio 2026"),
];
const GOALS: &[Option<&str>] = &[
    Some("Reach 99.95% uptime"),
    Some("Grow ARR 30%"),
    Some("Réduire le churn de 2 points"),
];
const TEAM_NAMES: &[Option<&str>] = &[
    Some("Engineering"),
    Some("Marketing"),
    Some("Sécurité"),
    Some("営業部"),
    Some("People Ops"),
    Some("Finance & Legal"),
];
const ATTACHMENTS: &[Option<&str>] = &[
    Some("report.pdf"),
    Some("screenshot 2025-03-01.png"),
    Some("contrat_signé.docx"),
    Some("データ.xlsx"),
    Some("architecture-diagram.svg"),
];
const STORIES: &[Option<&str>] = &[
    None,
    Some("Looks good to me 👍"),
    None,
    Some("Can we ship this Friday?"),
];
const MESSAGES: &[Option<&str>] = &[
    Some("Weekly update"),
    Some("All-hands notes"),
    Some("Incident retro — 12 March"),
];
const STATUS_UPDATES: &[Option<&str>] = &[
    Some("Status update – week 12"),
    Some("On track ✅"),
    Some("At risk: vendor delay"),
];
const CUSTOM_FIELDS: &[Option<&str>] = &[
    Some("Priority"),
    Some("Effort (pts)"),
    Some("Région"),
    Some("Customer tier"),
];
const TASK_TEMPLATES: &[Option<&str>] = &[
    Some("Bug report"),
    Some("Access request"),
    Some("Demande de congé"),
];
const PROJECT_TEMPLATES: &[Option<&str>] = &[
    Some("Product launch"),
    Some("Employee onboarding"),
    Some("Sprint planning"),
];
const ANNOUNCEMENT_NAMES: &[Option<&str>] = &[
    Some("Scheduled maintenance"),
    Some("New SSO policy"),
    Some("Holiday schedule"),
];
const ANNOUNCEMENTS: &[&str] = &[
    "Scheduled maintenance on Saturday 02:00–04:00 UTC",
    "SSO becomes mandatory on 1 June",
    "Bitte aktualisieren Sie Ihre Zwei-Faktor-Einstellungen",
];
const DIVISION_NAMES: &[Option<&str>] = &[
    Some("EMEA"),
    Some("APAC"),
    Some("Americas"),
    Some("Research & Development"),
    Some("Zentrale"),
];
const CUSTOM_ROLE_NAMES: &[Option<&str>] = &[
    Some("Auditor"),
    Some("Billing admin"),
    Some("Help desk"),
    Some("Responsable conformité"),
];
const SEARCHES: &[Option<&str>] = &[
    Some("Search report: overdue tasks"),
    Some("Search report: 営業"),
];
const GENERIC: &[Option<&str>] = &[Some("Untitled"), None];

const WEB_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36 Edg/125.0.0.0",
];
const DESKTOP_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Asana/2.3.0 Chrome/120.0.6099.291 Electron/28.2.5 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Asana/2.3.0 Chrome/120.0.6099.291 Electron/28.2.5 Safari/537.36",
];
const MOBILE_AGENTS: &[&str] = &[
    "Asana/8.41.0 (iPhone; iOS 17.5.1; Scale/3.00)",
    "Asana/8.40.1 (Linux; Android 14; Pixel 8)",
    "Asana/8.39.0 (iPad; iPadOS 17.4; Scale/2.00)",
];
const API_AGENTS: &[&str] = &[
    "python-asana/5.0.7",
    "node-asana/3.0.8",
    "curl/8.5.0",
    "Go-http-client/1.1",
    "okhttp/4.12.0",
    "asana-audit-log/0.1.0",
];
const OAUTH_APPS: &[&str] = &[
    "Slack",
    "Zapier",
    "Tableau Connector",
    "Okta Workflows",
    "Microsoft Teams",
    "Jira Cloud",
];
const RULE_NAMES: &[&str] = &[
    "When task is moved to Done → mark complete",
    "Auto-archive completed projects after 90 days",
    "Assign new requests to triage",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn generator(count: u64, forward_compat: bool) -> Generator {
        Generator::new(GenConfig {
            seed: 7,
            count,
            start_ms: FLOOR_MS + 1_000_000,
            end_ms: FLOOR_MS + 1_000_000 + 30 * 86_400_000,
            workspace_gid: "1200000000000001".into(),
            forward_compat,
        })
    }

    #[test]
    fn pinned_spreads_each_item_once() {
        for (n, k) in [(131, 131), (1000, 131), (5, 5), (12, 11)] {
            let hits: Vec<u64> = (0..n).filter_map(|i| pinned(i, n, k)).collect();
            assert_eq!(hits, (0..k).collect::<Vec<_>>(), "n={n} k={k}");
        }
        assert_eq!((0..10).filter_map(|i| pinned(i, 10, 11)).count(), 0);
    }

    #[test]
    fn created_at_is_monotone_and_in_window() {
        let g = generator(5000, false);
        let times: Vec<i64> = (0..5000).map(|i| g.created_at(i)).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(
            times
                .iter()
                .all(|&t| t >= g.cfg.start_ms && t < g.cfg.end_ms)
        );
        assert!(
            times.windows(2).filter(|w| w[0] == w[1]).count() > 100,
            "ties are exercised"
        );
    }

    #[test]
    fn events_are_valid_json_and_deterministic() {
        let g = generator(300, true);
        for seq in 0..300 {
            let mut a = Vec::new();
            let meta = g.write(seq, g.created_at(seq), true, &mut a);
            let mut b = Vec::new();
            g.write(seq, g.created_at(seq), true, &mut b);
            assert_eq!(a, b);
            let v: serde_json::Value = serde_json::from_slice(&a)
                .unwrap_or_else(|e| panic!("event {seq}: {e}: {}", String::from_utf8_lossy(&a)));
            assert_eq!(v["event_type"], meta.event_type);
            assert_eq!(v["actor"]["actor_type"], meta.actor_type);
        }
    }
}
