//! `cargo xtask generate` for the OCSF mapping: compiles `openapi/ocsf-mapping.tsv` into the
//! Rust table of `asana-audit-log-ocsf` and into its `MAPPING.md`, after checking every row
//! against the event-type catalogue and against the OCSF 1.8.0 and 1.1.0 facts embedded below.
//! Those facts ([`CLASSES`], [`VERSIONS`]) are the only place the crate's class facts are
//! written: the generated table carries them to `OcsfClass` and `OcsfVersion`.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// The mapping data, relative to the workspace root.
pub const OCSF_MAPPING_TSV: &str = "openapi/ocsf-mapping.tsv";
/// The event-type catalogue every mapping row must come from.
pub const CATALOGUE_TSV: &str = "openapi/event-types.tsv";
/// The generated Rust table.
pub const OCSF_GENERATED_PATH: &str = "crates/asana-audit-log-ocsf/src/mapping_table.rs";
/// The generated human-readable table.
pub const OCSF_DOC_PATH: &str = "crates/asana-audit-log-ocsf/MAPPING.md";

const MAPPING_HEADER: &str = "event_type\tclass\tactivity\tstatus\tresource_in\tin_1_1\tnote";
const CATALOGUE_HEADER: &str = "event_type\tevent_category\tresource_type\tsource";

/// What one OCSF version says of the object attributes the mapper writes (the same in every
/// class).
struct VersionFacts {
    /// The Rust variant of `OcsfVersion` in the crate.
    variant: &'static str,
    /// `metadata.version`.
    version: &'static str,
    /// Whether `actor` has `app_name` (and may hold only it).
    actor_app_name: bool,
    /// Whether `managed_entity` (a class's `entity`) has `type_id`.
    entity_type_id: bool,
    /// The characters besides ASCII letters and digits that `email_t`'s pattern allows before
    /// the `@` (the part after it is the same in both versions).
    email_local_chars: &'static str,
    /// `string_t`'s `max_len`, in characters, when it has one.
    max_string_chars: Option<u32>,
}

/// OCSF 1.8.0 (`schema-1.8.0.json`): `email_t` is
/// `^[a-zA-Z0-9!#$%&'*+-/=?^_`{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$` (`+-/` is the range
/// `+,-./`), `string_t` has no `max_len`.
const V1_8: VersionFacts = VersionFacts {
    variant: "V1_8",
    version: "1.8.0",
    actor_app_name: true,
    entity_type_id: true,
    email_local_chars: "!#$%&'*+,-./=?^_`{|}~",
    max_string_chars: None,
};

/// OCSF 1.1.0 (the schema.ocsf.io export `1.1.0.json` that the PyPI package
/// `ocsf-json-schema` 1.2.0 ships): `actor` has no `app_name` (its `at_least_one` is
/// `process`, `user`, `invoked_by`, `session`), `managed_entity` no `type_id`, `email_t` is
/// `^[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$` and `string_t` has `max_len` 65535.
const V1_1: VersionFacts = VersionFacts {
    variant: "V1_1",
    version: "1.1.0",
    actor_app_name: false,
    entity_type_id: false,
    email_local_chars: "_.+-",
    max_string_chars: Some(65_535),
};

/// The versions the mapper writes, oldest first.
const VERSIONS: [&VersionFacts; 2] = [&V1_1, &V1_8];

/// Which of the attributes the mapper may write a class has in one OCSF version, without
/// profiles (every class has the rest), and the one constraint on them the mapper must meet.
#[derive(Clone, Copy)]
struct Attributes {
    actor: bool,
    src_endpoint: bool,
    http_request: bool,
    /// `at_least_one` of `privileges` and `user` (1.1.0's Group Management).
    needs_user_or_privileges: bool,
}

/// `actor`, `src_endpoint` and `http_request`.
const ALL: Attributes = Attributes {
    actor: true,
    src_endpoint: true,
    http_request: true,
    needs_user_or_privileges: false,
};

/// None of them.
const NONE: Attributes = Attributes {
    actor: false,
    src_endpoint: false,
    http_request: false,
    needs_user_or_privileges: false,
};

impl Attributes {
    /// The names of the optional attributes `self` has, in the order the mapper writes them.
    fn names(self) -> Vec<&'static str> {
        [
            ("actor", self.actor),
            ("src_endpoint", self.src_endpoint),
            ("http_request", self.http_request),
        ]
        .into_iter()
        .filter_map(|(name, has)| has.then_some(name))
        .collect()
    }
}

/// One OCSF class the mapper supports: facts from the OCSF schema.
struct ClassFacts {
    /// The class's name in the schema (`account_change`).
    name: &'static str,
    /// The Rust variant of `OcsfClass` in the crate.
    variant: &'static str,
    uid: u32,
    caption: &'static str,
    /// `category_name`: the caption of the class's category (`category_uid` is
    /// `uid / 1000`).
    category_name: &'static str,
    /// The only object a row of this class may put the Asana resource in; `None` for Base
    /// Event, which no row may use.
    resource_in: Option<&'static str>,
    /// Its attributes in 1.8.0.
    v1_8: Attributes,
    /// Its attributes in 1.1.0.
    v1_1: Attributes,
    /// `activity_id` values and their captions in 1.8.0.
    activities: &'static [(u8, &'static str)],
    /// Those of `activities` that 1.1.0 does not have.
    activities_not_in_1_1: &'static [u8],
}

/// The classes the mapper emits, in `class_uid` order (ids and captions as in
/// `schema-1.8.0.json`, the same in 1.1.0); rows may use all but Base Event.
const CLASSES: &[ClassFacts] = &[
    ClassFacts {
        name: "base_event",
        variant: "BaseEvent",
        uid: 0,
        caption: "Base Event",
        category_name: "Uncategorized",
        resource_in: None,
        v1_8: NONE,
        v1_1: NONE,
        activities: &[(0, "Unknown"), (99, "Other")],
        activities_not_in_1_1: &[],
    },
    ClassFacts {
        name: "account_change",
        variant: "AccountChange",
        uid: 3001,
        caption: "Account Change",
        category_name: "Identity & Access Management",
        resource_in: Some("user"),
        v1_8: ALL,
        v1_1: ALL,
        activities: &[
            (0, "Unknown"),
            (1, "Create"),
            (2, "Enable"),
            (3, "Password Change"),
            (4, "Password Reset"),
            (5, "Disable"),
            (6, "Delete"),
            (7, "Attach Policy"),
            (8, "Detach Policy"),
            (9, "Lock"),
            (10, "MFA Factor Enable"),
            (11, "MFA Factor Disable"),
            (12, "Unlock"),
            (99, "Other"),
        ],
        activities_not_in_1_1: &[12],
    },
    ClassFacts {
        name: "authentication",
        variant: "Authentication",
        uid: 3002,
        caption: "Authentication",
        category_name: "Identity & Access Management",
        resource_in: Some("user"),
        v1_8: ALL,
        v1_1: ALL,
        activities: &[
            (0, "Unknown"),
            (1, "Logon"),
            (2, "Logoff"),
            (3, "Authentication Ticket"),
            (4, "Service Ticket Request"),
            (5, "Service Ticket Renew"),
            (6, "Preauth"),
            (7, "Account Switch"),
            (99, "Other"),
        ],
        activities_not_in_1_1: &[6, 7],
    },
    ClassFacts {
        name: "entity_management",
        variant: "EntityManagement",
        uid: 3004,
        caption: "Entity Management",
        category_name: "Identity & Access Management",
        resource_in: Some("entity"),
        v1_8: ALL,
        v1_1: NONE,
        activities: &[
            (0, "Unknown"),
            (1, "Create"),
            (2, "Read"),
            (3, "Update"),
            (4, "Delete"),
            (5, "Move"),
            (6, "Enroll"),
            (7, "Unenroll"),
            (8, "Enable"),
            (9, "Disable"),
            (10, "Activate"),
            (11, "Deactivate"),
            (12, "Suspend"),
            (13, "Resume"),
            (99, "Other"),
        ],
        activities_not_in_1_1: &[5, 6, 7, 8, 9, 10, 11, 12, 13],
    },
    ClassFacts {
        name: "user_access",
        variant: "UserAccess",
        uid: 3005,
        caption: "User Access Management",
        category_name: "Identity & Access Management",
        resource_in: Some("user"),
        v1_8: ALL,
        v1_1: NONE,
        activities: &[
            (0, "Unknown"),
            (1, "Assign Privileges"),
            (2, "Revoke Privileges"),
            (99, "Other"),
        ],
        activities_not_in_1_1: &[],
    },
    ClassFacts {
        name: "group_management",
        variant: "GroupManagement",
        uid: 3006,
        caption: "Group Management",
        category_name: "Identity & Access Management",
        resource_in: Some("group"),
        v1_8: ALL,
        v1_1: Attributes {
            needs_user_or_privileges: true,
            ..NONE
        },
        activities: &[
            (0, "Unknown"),
            (1, "Assign Privileges"),
            (2, "Revoke Privileges"),
            (3, "Add User"),
            (4, "Remove User"),
            (5, "Delete"),
            (6, "Create"),
            (7, "Add Subgroup"),
            (8, "Remove Subgroup"),
            (99, "Other"),
        ],
        activities_not_in_1_1: &[7, 8],
    },
    ClassFacts {
        name: "web_resources_activity",
        variant: "WebResourcesActivity",
        uid: 6001,
        caption: "Web Resources Activity",
        category_name: "Application Activity",
        resource_in: Some("web_resource"),
        v1_8: Attributes {
            actor: false,
            ..ALL
        },
        v1_1: Attributes {
            actor: false,
            ..ALL
        },
        activities: &[
            (0, "Unknown"),
            (1, "Create"),
            (2, "Read"),
            (3, "Update"),
            (4, "Delete"),
            (5, "Search"),
            (6, "Import"),
            (7, "Export"),
            (8, "Share"),
            (99, "Other"),
        ],
        activities_not_in_1_1: &[],
    },
    ClassFacts {
        name: "file_hosting",
        variant: "FileHosting",
        uid: 6006,
        caption: "File Hosting Activity",
        category_name: "Application Activity",
        resource_in: Some("file"),
        v1_8: ALL,
        v1_1: Attributes {
            http_request: false,
            ..ALL
        },
        activities: &[
            (0, "Unknown"),
            (1, "Upload"),
            (2, "Download"),
            (3, "Update"),
            (4, "Delete"),
            (5, "Rename"),
            (6, "Copy"),
            (7, "Move"),
            (8, "Restore"),
            (9, "Preview"),
            (10, "Lock"),
            (11, "Unlock"),
            (12, "Share"),
            (13, "Unshare"),
            (14, "Open"),
            (15, "Sync"),
            (16, "Unsync"),
            (17, "Access Check"),
            (99, "Other"),
        ],
        activities_not_in_1_1: &[17],
    },
];

/// The class an event type without a row maps to, by its `event_category`: the first entry
/// that lists the category, else the last (anything else, or no category).
const FALLBACK: &[(&[&str], &str)] = &[
    (&["logins"], "authentication"),
    (&["user_updates", "apps"], "account_change"),
    (
        &["content_export", "creation", "deletion"],
        "web_resources_activity",
    ),
    (&[], "entity_management"),
];

/// The facts of the class named `name` in [`CLASSES`].
fn class(name: &str) -> &'static ClassFacts {
    CLASSES
        .iter()
        .find(|c| c.name == name)
        .expect("names in this file are classes of CLASSES")
}

/// `Caption (uid)`, as the docs name a class.
fn label(class: &ClassFacts) -> String {
    format!("{} ({})", class.caption, class.uid)
}

/// `status` column values and the `StatusRule` variants they become.
const STATUSES: &[(&str, &str)] = &[("success", "Success"), ("failure", "Failure")];

/// `resource_in` column values and the `ResourceIn` variants they become.
const CARRIERS: &[(&str, &str)] = &[
    ("user", "User"),
    ("group", "Group"),
    ("web_resource", "WebResource"),
    ("file", "File"),
    ("entity", "Entity"),
];

/// A class a row may use and one of its activities.
#[derive(Clone, Copy)]
struct Activity {
    class: &'static ClassFacts,
    id: u8,
    name: &'static str,
}

impl Activity {
    /// Whether OCSF 1.1.0 has this activity.
    fn in_1_1(self) -> bool {
        !self.class.activities_not_in_1_1.contains(&self.id)
    }

    /// The object the class puts the resource in (checked in [`parse_activity`]).
    fn carrier(self) -> &'static str {
        self.class
            .resource_in
            .unwrap_or("checked in parse_activity")
    }
}

/// Reads `class` and `activity` (`<id> <name>`) as a class a row may use and one of its
/// activities other than 0 (Unknown); `at` says where, in errors.
fn parse_activity(class: &str, activity: &str, at: &str) -> Result<Activity> {
    let Some(facts) = CLASSES.iter().find(|c| c.name == class) else {
        let known: Vec<&str> = CLASSES.iter().map(|c| c.name).collect();
        bail!("{at}: unknown or unsupported OCSF class `{class}` (one of {known:?})");
    };
    if facts.resource_in.is_none() {
        bail!("{at}: {class} is only for events that lack what every other class requires");
    }
    let (id, name) = activity
        .split_once(' ')
        .with_context(|| format!("{at}: activity must be `<id> <name>`"))?;
    let id: u8 = id
        .parse()
        .with_context(|| format!("{at}: activity id `{id}` is not a number"))?;
    let Some(&(id, caption)) = facts.activities.iter().find(|(a, _)| *a == id) else {
        bail!("{at}: class {class} has no activity_id {id}");
    };
    if caption != name {
        bail!("{at}: activity {id} of {class} is `{caption}`, not `{name}`");
    }
    if id == 0 {
        bail!("{at}: activity 0 (Unknown) is not a mapping");
    }
    Ok(Activity {
        class: facts,
        id,
        name: caption,
    })
}

/// One checked row of the mapping.
struct Row<'a> {
    event_type: &'a str,
    category: &'a str,
    /// In OCSF 1.8.0.
    activity: Activity,
    /// In OCSF 1.1.0, when it differs.
    in_1_1: Option<Activity>,
    status: &'a str,
    note: &'a str,
}

impl Row<'_> {
    /// The class and activity in OCSF 1.1.0.
    fn activity_1_1(&self) -> Activity {
        self.in_1_1.unwrap_or(self.activity)
    }
}

/// Parses and checks both files; rows come out in catalogue order.
fn rows<'a>(tsv: &'a str, catalogue_tsv: &'a str) -> Result<Vec<Row<'a>>> {
    let mut catalogue_lines = catalogue_tsv.lines();
    if catalogue_lines.next() != Some(CATALOGUE_HEADER) {
        bail!("{CATALOGUE_TSV}: the header must be `{CATALOGUE_HEADER}`");
    }
    let mut catalogue = Vec::new();
    for (n, line) in catalogue_lines.enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() != 4 || cols[0].is_empty() {
            bail!("{CATALOGUE_TSV} line {}: expected 4 columns", n + 2);
        }
        catalogue.push((cols[0], cols[1]));
    }

    let mut lines = tsv.lines();
    if lines.next() != Some(MAPPING_HEADER) {
        bail!("{OCSF_MAPPING_TSV}: the header must be `{MAPPING_HEADER}` (tab-separated)");
    }
    let mut by_type: BTreeMap<&str, Row<'a>> = BTreeMap::new();
    let categories: BTreeMap<&str, &str> = catalogue.iter().copied().collect();
    for (n, line) in lines.enumerate() {
        let at = format!("{OCSF_MAPPING_TSV} line {}", n + 2);
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() != 7 {
            bail!(
                "{at}: expected 7 tab-separated columns, found {}",
                cols.len()
            );
        }
        let [
            event_type,
            class,
            activity,
            status,
            resource_in,
            in_1_1,
            note,
        ] = [
            cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6],
        ];
        let Some(&category) = categories.get(event_type) else {
            bail!("{at}: `{event_type}` is not in {CATALOGUE_TSV}");
        };
        let activity = parse_activity(class, activity, &at)?;
        if !STATUSES.iter().any(|(s, _)| *s == status) {
            bail!("{at}: status must be success or failure, not `{status}`");
        }
        if resource_in != activity.carrier() {
            bail!(
                "{at}: class {class} carries the resource in `{}`, not `{resource_in}`",
                activity.carrier()
            );
        }
        let in_1_1 = match in_1_1.split_once(' ') {
            None if in_1_1.is_empty() => None,
            None => bail!("{at}: in_1_1 must be empty or `<class> <id> <name>`"),
            Some((class, activity)) => {
                Some(parse_activity(class, activity, &format!("{at}: in_1_1"))?)
            }
        };
        match in_1_1 {
            None if !activity.in_1_1() => bail!(
                "{at}: OCSF 1.1.0 has no activity {} {} in {class}: say in in_1_1 what the row \
                 maps to there",
                activity.id,
                activity.name
            ),
            Some(other) if !other.in_1_1() => bail!(
                "{at}: in_1_1: OCSF 1.1.0 has no activity {} {} in {}",
                other.id,
                other.name,
                other.class.name
            ),
            Some(other) if other.class.name == class && other.id == activity.id => {
                bail!("{at}: in_1_1 repeats the row's class and activity: leave it empty")
            }
            _ => {}
        }
        if note.contains('|') {
            bail!("{at}: the note must not contain `|` (it goes into a table)");
        }
        let row = Row {
            event_type,
            category,
            activity,
            in_1_1,
            status,
            note,
        };
        if by_type.insert(event_type, row).is_some() {
            bail!("{at}: a second row for `{event_type}`");
        }
    }
    let mut out = Vec::with_capacity(catalogue.len());
    let mut seen = HashSet::new();
    for (event_type, _) in &catalogue {
        if !seen.insert(*event_type) {
            bail!("{CATALOGUE_TSV}: `{event_type}` is listed twice");
        }
        match by_type.remove(event_type) {
            Some(row) => out.push(row),
            None => bail!("{OCSF_MAPPING_TSV}: no row for catalogue type `{event_type}`"),
        }
    }
    Ok(out)
}

fn variant(table: &[(&str, &'static str)], key: &str) -> &'static str {
    table
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| *v)
        .unwrap_or("checked in rows()")
}

/// The Rust table for `asana-audit-log-ocsf`, from the mapping and the catalogue.
pub fn render(tsv: &str, catalogue_tsv: &str) -> Result<String> {
    let rows = rows(tsv, catalogue_tsv)?;
    let mut out = String::new();
    out.push_str(
        "// @generated by `cargo xtask generate` from openapi/ocsf-mapping.tsv and openapi/event-types.tsv.\n\
         // DO NOT EDIT BY HAND: change the TSV and run `cargo xtask generate`, then review the diff.\n\
         // `cargo xtask generate --check` fails when this file is stale.\n\n\
         //! The mapping of every catalogue event type (see `MAPPING.md`).\n\n\
         use asana_audit_log::types::EventType;\n\n\
         use crate::table::{\n    \
         Attributes, ClassActivity, ClassFacts, MappingRow, OcsfVersion, ResourceIn, StatusRule,\n    \
         VersionFacts,\n};\n\n",
    );
    render_versions(&mut out);
    render_classes(&mut out);
    let _ = writeln!(
        out,
        "/// One row per catalogue event type, in catalogue order."
    );
    let _ = writeln!(
        out,
        "pub(crate) static ROWS: [MappingRow; {}] = [",
        rows.len()
    );
    for row in &rows {
        let in_1_1 = match row.in_1_1 {
            Some(other) => format!(
                "Some(ClassActivity {{ class: OcsfClass::{}, activity_id: {}, activity_name: {:?}, resource_in: ResourceIn::{} }})",
                other.class.variant,
                other.id,
                other.name,
                variant(CARRIERS, other.carrier()),
            ),
            None => "None".to_owned(),
        };
        let _ = writeln!(
            out,
            "    MappingRow {{ event_type: {:?}, class: OcsfClass::{}, activity_id: {}, activity_name: {:?}, status: StatusRule::{}, resource_in: ResourceIn::{}, in_1_1: {in_1_1} }},",
            row.event_type,
            row.activity.class.variant,
            row.activity.id,
            row.activity.name,
            variant(STATUSES, row.status),
            variant(CARRIERS, row.activity.carrier()),
        );
    }
    out.push_str("];\n\n");
    out.push_str("/// The index in [`ROWS`] of `event_type`'s row.\n");
    out.push_str("pub(crate) fn index_of(event_type: &str) -> Option<usize> {\n");
    out.push_str("    match event_type {\n");
    for (i, row) in rows.iter().enumerate() {
        let _ = writeln!(out, "        {:?} => Some({i}),", row.event_type);
    }
    out.push_str("        _ => None,\n    }\n}\n\n");
    // The decoded event type is already a variant: matching on it compiles to a jump table,
    // where a match on the name compares strings.
    out.push_str(
        "/// The row of a decoded catalogue event type, by its variant (`None` for `Unknown`).\n",
    );
    out.push_str(
        "pub(crate) fn row_of_known(event_type: &EventType) -> Option<&'static MappingRow> {\n",
    );
    out.push_str("    let i = match event_type {\n");
    for (i, row) in rows.iter().enumerate() {
        let _ = writeln!(
            out,
            "        EventType::{} => {i},",
            crate::catalogue::variant_name(row.event_type)
        );
    }
    out.push_str("        _ => return None,\n    };\n    Some(&ROWS[i])\n}\n");
    Ok(out)
}

/// `pub(crate) const {name}: [{ty}; n] = [{ty}::{variant}, ...];`, documented by `doc`.
fn render_list(out: &mut String, doc: &str, name: &str, ty: &str, variants: &[&str]) {
    let _ = writeln!(out, "/// {doc}");
    let _ = writeln!(
        out,
        "pub(crate) const {name}: [{ty}; {}] = [",
        variants.len()
    );
    for variant in variants {
        let _ = writeln!(out, "    {ty}::{variant},");
    }
    out.push_str("];\n\n");
}

/// Every version of [`VERSIONS`], and what each says of the objects' attributes.
fn render_versions(out: &mut String) {
    let variants: Vec<&str> = VERSIONS.iter().map(|v| v.variant).collect();
    render_list(
        out,
        "Every version the mapper writes, oldest first.",
        "VERSIONS",
        "OcsfVersion",
        &variants,
    );
    out.push_str("/// What each OCSF version says of the object attributes the mapper writes.\n");
    out.push_str(
        "pub(crate) const fn version_facts(version: OcsfVersion) -> &'static VersionFacts {\n",
    );
    out.push_str("    match version {\n");
    for version in VERSIONS {
        let _ = writeln!(
            out,
            "        OcsfVersion::{} => &VersionFacts {{ version: {:?}, actor_app_name: {}, entity_type_id: {}, email_local_chars: {:?}, max_string_chars: {:?} }},",
            version.variant,
            version.version,
            version.actor_app_name,
            version.entity_type_id,
            version.email_local_chars,
            version.max_string_chars,
        );
    }
    out.push_str("    }\n}\n\n");
}

/// `Attributes { ... }` in the generated code.
fn attributes_literal(attributes: Attributes) -> String {
    format!(
        "Attributes {{ actor: {}, src_endpoint: {}, http_request: {}, needs_user_or_privileges: {} }}",
        attributes.actor,
        attributes.src_endpoint,
        attributes.http_request,
        attributes.needs_user_or_privileges,
    )
}

/// Every class of [`CLASSES`] in `class_uid` order, and the facts of each.
fn render_classes(out: &mut String) {
    out.push_str(
        "/// The OCSF classes this crate emits (the same classes in 1.8.0 and 1.1.0). Base Event is\n\
         /// only for events that lack what every other class requires.\n\
         #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]\n\
         #[non_exhaustive]\n\
         pub enum OcsfClass {\n",
    );
    for class in CLASSES {
        let _ = writeln!(out, "    /// {} ({}).", class.caption, class.uid);
        let _ = writeln!(out, "    {},", class.variant);
    }
    out.push_str("}\n\n");
    let variants: Vec<&str> = CLASSES.iter().map(|c| c.variant).collect();
    render_list(
        out,
        "Every class, in `class_uid` order.",
        "CLASSES",
        "OcsfClass",
        &variants,
    );
    out.push_str("/// What OCSF 1.8.0 and 1.1.0 say of each class.\n");
    out.push_str("pub(crate) const fn class_facts(class: OcsfClass) -> &'static ClassFacts {\n");
    out.push_str("    match class {\n");
    for class in CLASSES {
        let resource_in = match class.resource_in {
            Some(carrier) => format!("Some(ResourceIn::{})", variant(CARRIERS, carrier)),
            None => "None".to_owned(),
        };
        let _ = writeln!(
            out,
            "        OcsfClass::{} => &ClassFacts {{ uid: {}, name: {:?}, caption: {:?}, category_name: {:?}, resource_in: {resource_in}, v1_8: {}, v1_1: {} }},",
            class.variant,
            class.uid,
            class.name,
            class.caption,
            class.category_name,
            attributes_literal(class.v1_8),
            attributes_literal(class.v1_1),
        );
    }
    out.push_str("    }\n}\n\n");
    out.push_str(
        "/// The class of an event type without a row, by its `event_category` (see `MAPPING.md`).\n",
    );
    out.push_str(
        "pub(crate) fn fallback_of(event_category: Option<&str>) -> OcsfClass {\n    match event_category {\n",
    );
    for (categories, name) in FALLBACK {
        let pattern = if categories.is_empty() {
            "_".to_owned()
        } else {
            let names: Vec<String> = categories.iter().map(|c| format!("{c:?}")).collect();
            format!("Some({})", names.join(" | "))
        };
        let _ = writeln!(
            out,
            "        {pattern} => OcsfClass::{},",
            class(name).variant
        );
    }
    out.push_str("    }\n}\n\n");
}

/// `a`, `` `a`, `b` `` as a list in prose.
fn code_list(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the mapper writes for an event of the row in OCSF 1.8.0 and not in 1.1.0: the
/// attributes and object attributes 1.1.0 lacks.
fn lacking_in_1_1(from: &ClassFacts, to: &ClassFacts) -> Vec<String> {
    let kept = to.v1_1.names();
    let mut lacking: Vec<String> = from
        .v1_8
        .names()
        .into_iter()
        .filter(|name| !kept.contains(name))
        .map(String::from)
        .collect();
    if from.v1_8.actor && to.v1_1.actor && !V1_1.actor_app_name {
        lacking.push("actor.app_name".to_owned());
    }
    if to.resource_in == Some("entity") && !V1_1.entity_type_id {
        lacking.push("entity.type_id".to_owned());
    }
    lacking
}

/// The `in OCSF 1.1.0` cell of a row: its class and activity when they differ, and what
/// 1.1.0 lacks of what the row's events get in 1.8.0.
fn in_1_1_cell(row: &Row<'_>) -> String {
    let mut parts = Vec::new();
    if let Some(other) = row.in_1_1 {
        if other.class.name == row.activity.class.name {
            parts.push(format!("{} {}", other.id, other.name));
        } else {
            parts.push(format!(
                "{}, {} {}",
                label(other.class),
                other.id,
                other.name
            ));
        }
    }
    let lacking = lacking_in_1_1(row.activity.class, row.activity_1_1().class);
    if !lacking.is_empty() {
        parts.push(format!("no {}", code_list(&lacking)));
    }
    if parts.is_empty() {
        "as in 1.8.0".to_owned()
    } else {
        parts.join("; ")
    }
}

/// `MAPPING.md`: the same rows as a table, with counts per class, the fallback rules and what
/// OCSF 1.1.0 changes.
pub fn render_doc(tsv: &str, catalogue_tsv: &str) -> Result<String> {
    let rows = rows(tsv, catalogue_tsv)?;
    let mut out = String::new();
    out.push_str(
        "<!-- @generated by `cargo xtask generate` from openapi/ocsf-mapping.tsv; do not edit by hand. -->\n\
         # Asana audit log event types → OCSF 1.8.0 (and 1.1.0)\n\n\
         How `asana-audit-log-ocsf` maps each event type of the catalogue (`openapi/event-types.tsv`).\n\
         The data lives in `openapi/ocsf-mapping.tsv`; this page and `src/mapping_table.rs` are\n\
         generated from it. Every row's class and activity were checked against OCSF 1.8.0, and\n\
         against OCSF 1.1.0 as the column `in OCSF 1.1.0` says (see [OCSF 1.1.0](#ocsf-110)).\n\n\
         `resource in` is the OCSF object that receives the event's `resource`. Activity 99 (Other)\n\
         means the class has no activity for what happened; such events carry the Asana event type\n\
         as `activity_name`.\n\n",
    );
    out.push_str(
        "## Types per class\n\n\
         | OCSF class | class_uid | event types | in OCSF 1.1.0 |\n| --- | --- | --- | --- |\n",
    );
    for class in CLASSES {
        let n = rows
            .iter()
            .filter(|r| r.activity.class.name == class.name)
            .count();
        let n_1_1 = rows
            .iter()
            .filter(|r| r.activity_1_1().class.name == class.name)
            .count();
        if n > 0 || n_1_1 > 0 {
            let _ = writeln!(
                out,
                "| {} (`{}`) | {} | {n} | {n_1_1} |",
                class.caption, class.name, class.uid
            );
        }
    }
    let _ = writeln!(out, "| total | | {} | {} |\n", rows.len(), rows.len());
    out.push_str(
        "## Event types\n\n\
         | Asana event type | category | OCSF class | activity | status | resource in | in OCSF 1.1.0 | note |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for row in &rows {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} {} | {} | `{}` | {} | {} |",
            row.event_type,
            if row.category.is_empty() {
                "–"
            } else {
                row.category
            },
            label(row.activity.class),
            row.activity.id,
            row.activity.name,
            row.status,
            row.activity.carrier(),
            in_1_1_cell(row),
            row.note,
        );
    }
    out.push_str(
        "\n## Event types not in the catalogue\n\n\
         Asana adds event types over time. A type without a row maps to the class for its\n\
         `event_category`, with activity 99 (Other), `activity_name` and `metadata.event_code` set\n\
         to the type, and `status_id` 2 (Failure) when the type ends in `_failed`, else 0 (Unknown),\n\
         in OCSF 1.8.0 and 1.1.0 alike:\n\n\
         | event_category | OCSF class |\n| --- | --- |\n",
    );
    for (categories, name) in FALLBACK {
        let categories = if categories.is_empty() {
            "anything else, or none".to_owned()
        } else {
            let names: Vec<String> = categories.iter().map(|c| format!("`{c}`")).collect();
            names.join(", ")
        };
        let _ = writeln!(out, "| {categories} | {} |", label(class(name)));
    }
    let _ = write!(
        out,
        "\n## When an event lacks what its class requires\n\n\
         Each class requires some objects (a `user`, `group`, `file`, `web_resources`, `entity`,\n\
         `privileges`, or `actor` and `src_endpoint`). When the event does not have the data for\n\
         them (for example an attachment upload by Asana itself carries no client IP, or an\n\
         attachment has no name), the event maps to {} with activity 99\n\
         instead, and when its resource has neither a gid nor a name, to {} with\n\
         activity 99. Nothing is dropped either way: what is not mapped stays in `unmapped`.\n",
        label(class("entity_management")),
        label(class("base_event")),
    );
    render_doc_1_1(&rows, &mut out);
    Ok(out)
}

/// The `OCSF 1.1.0` section of `MAPPING.md`, from the facts.
fn render_doc_1_1(rows: &[Row<'_>], out: &mut String) {
    let _ = write!(
        out,
        "\n## OCSF 1.1.0\n\n\
         Amazon Security Lake validates custom sources against OCSF 1.1, so the mapper also writes\n\
         OCSF {} (`Mapper::ocsf_version(OcsfVersion::V1_1)`; `asana-audit --ocsf-version 1.1`, and\n\
         always with `--security-lake`). Its events are those of 1.8.0 but for what 1.1.0 lacks, which\n\
         the column `in OCSF 1.1.0` above states per row. Nothing is dropped: a source value that\n\
         1.1.0 has no attribute for stays in `unmapped` at its source path, and an observable of it\n\
         names that path (`unmapped.actor.name`, `unmapped.context.client_ip_address`).\n\n\
         - `metadata.version` is `\"{}\"`, and so is the Parquet schema's `ocsf.version`.\n",
        V1_1.version, V1_1.version,
    );
    if !V1_1.actor_app_name {
        out.push_str(
            "- `actor` has no `app_name`: `context.oauth_app_name` stays in `unmapped`, and an actor\n  \
             that is only an app is no `actor` (File Hosting Activity, which requires one, then maps\n  \
             to Entity Management with activity 99).\n",
        );
    }
    if !V1_1.entity_type_id {
        out.push_str(
            "- `entity` (`managed_entity`) has no `type_id`; its `type` is written as in 1.8.0.\n",
        );
    }
    let _ = writeln!(
        out,
        "- `email_t` allows only ASCII letters, digits and `{}` before the `@`: another address is\n  \
         not copied into `email_addr` and stays in `unmapped`.",
        V1_1.email_local_chars,
    );
    if let Some(max) = V1_1.max_string_chars {
        let _ = writeln!(
            out,
            "- A string (`string_t`) has at most {max} characters: a longer source string is not\n  \
             copied and stays in `unmapped`."
        );
    }
    for constrained in CLASSES.iter().filter(|c| c.v1_1.needs_user_or_privileges) {
        let _ = writeln!(
            out,
            "- {} requires a `user` or `privileges`: an event without `details.member` maps to\n  \
             {} with activity 99.",
            constrained.caption,
            label(class("entity_management")),
        );
    }
    let hosted: Vec<&str> = CLASSES
        .iter()
        .filter(|c| c.v1_8.actor && !c.v1_1.actor)
        .map(|c| c.caption)
        .collect();
    let _ = write!(
        out,
        "\nPer class, without profiles (1.1.0 has `actor` in {} only with the `host`\n\
         profile, which this crate does not use):\n\n\
         | OCSF class | not in 1.1.0 | activities not in 1.1.0 |\n| --- | --- | --- |\n",
        hosted.join(", "),
    );
    for class in CLASSES {
        let lacking = lacking_in_1_1(class, class);
        let activities: Vec<String> = class
            .activities
            .iter()
            .filter(|(id, _)| class.activities_not_in_1_1.contains(id))
            .map(|(id, name)| format!("{id} {name}"))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            label(class),
            if lacking.is_empty() {
                "–".to_owned()
            } else {
                code_list(&lacking)
            },
            if activities.is_empty() {
                "–".to_owned()
            } else {
                activities.join(", ")
            },
        );
    }
    let moved: Vec<String> = rows
        .iter()
        .filter(|row| {
            row.in_1_1
                .is_some_and(|other| other.class.name != row.activity.class.name)
        })
        .map(|row| row.event_type.to_owned())
        .collect();
    if !moved.is_empty() {
        let _ = writeln!(
            out,
            "\nRows whose activity 1.1.0 lacks, or whose events never meet a requirement of their\n\
             1.1.0 class, name their 1.1.0 class and activity (`in_1_1` in the TSV); these change\n\
             class: {}.",
            code_list(&moved)
        );
    }
}

/// Writes (or, with `check`, compares) both generated files. `Ok(false)`: a file is stale.
pub fn run(root: &Path, check: bool) -> Result<bool> {
    let read = |path: &str| {
        std::fs::read_to_string(root.join(path)).with_context(|| format!("reading {path}"))
    };
    let tsv = read(OCSF_MAPPING_TSV)?;
    let catalogue = read(CATALOGUE_TSV)?;
    let outputs = [
        (OCSF_GENERATED_PATH, render(&tsv, &catalogue)?),
        (OCSF_DOC_PATH, render_doc(&tsv, &catalogue)?),
    ];
    let mut fresh = true;
    for (path, text) in outputs {
        fresh &= write_or_check(root, path, OCSF_MAPPING_TSV, &text, check)?;
    }
    Ok(fresh)
}

/// Writes `text`, generated from `source`, to `path` (relative to `root`), or with `check`
/// says whether the file on disk already holds it; returns whether it did (always true when
/// writing).
pub fn write_or_check(
    root: &Path,
    path: &str,
    source: &str,
    text: &str,
    check: bool,
) -> Result<bool> {
    let target = root.join(path);
    if check {
        let current = std::fs::read_to_string(&target).unwrap_or_default();
        if current == text {
            println!("{path} is up to date with {source}");
            return Ok(true);
        }
        eprintln!(
            "{path} is stale: it differs from what {source} generates.\n\
             Run `cargo xtask generate`, review the diff and commit both files."
        );
        return Ok(false);
    }
    std::fs::write(&target, text).with_context(|| format!("writing {path}"))?;
    println!("wrote {path} ({} lines)", text.lines().count());
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOGUE: &str = "event_type\tevent_category\tresource_type\tsource\n\
                             a_failed\tlogins\tuser\tx\nb_done\t\t\tx\nc_on\tadmin_settings\tworkspace\tx\n";
    const GOOD: &str = "event_type\tclass\tactivity\tstatus\tresource_in\tin_1_1\tnote\n\
                        a_failed\tauthentication\t1 Logon\tfailure\tuser\t\t\n\
                        b_done\tentity_management\t99 Other\tsuccess\tentity\t\tsome note\n\
                        c_on\tentity_management\t8 Enable\tsuccess\tentity\tentity_management 3 Update\t\n";

    #[test]
    fn renders_rows_and_lookup() {
        let rust = render(GOOD, CATALOGUE).unwrap();
        assert!(rust.contains("pub(crate) static ROWS: [MappingRow; 3]"));
        assert!(rust.contains("\"b_done\" => Some(1),"));
        assert!(rust.contains(
            "in_1_1: Some(ClassActivity { class: OcsfClass::EntityManagement, activity_id: 3, \
             activity_name: \"Update\", resource_in: ResourceIn::Entity })"
        ));
        let doc = render_doc(GOOD, CATALOGUE).unwrap();
        assert!(doc.contains("| `b_done` | – |"), "{doc}");
        // What 1.1.0 changes, per row.
        assert!(doc.contains("| `user` | no `actor.app_name` |  |"), "{doc}");
        assert!(doc.contains(
            "| 3 Update; no `actor`, `src_endpoint`, `http_request`, `entity.type_id` |"
        ));
        assert!(
            doc.contains("| Entity Management (`entity_management`) | 3004 | 2 | 2 |"),
            "{doc}"
        );
    }

    #[test]
    fn rejects_bad_rows() {
        let cases = [
            (GOOD.replace("b_done\tentity", "c_new\tentity"), "not in"),
            (
                GOOD.replace("1 Logon", "3 Logon"),
                "is `Authentication Ticket`",
            ),
            (GOOD.replace("1 Logon", "42 Logon"), "no activity_id 42"),
            (
                GOOD.replace("authentication", "api_activity"),
                "unsupported",
            ),
            (GOOD.replace("failure", "maybe"), "status"),
            (
                GOOD.replace("failure\tuser", "failure\tgroup"),
                "carries the resource",
            ),
            (GOOD.replace("some note", "a|b"), "`|`"),
            (
                GOOD.replace(
                    "entity_management\t99 Other\tsuccess\tentity",
                    "base_event\t99 Other\tsuccess\tentity",
                ),
                "only for events that lack",
            ),
            (
                format!("{GOOD}a_failed\tauthentication\t2 Logoff\tsuccess\tuser\t\t\n"),
                "second row",
            ),
            (
                GOOD.lines().take(3).collect::<Vec<_>>().join("\n"),
                "no row for",
            ),
            (
                GOOD.replace("\tentity_management 3 Update", "\t"),
                "say in in_1_1",
            ),
            (
                GOOD.replace("entity_management 3 Update", "entity_management 9 Disable"),
                "in_1_1: OCSF 1.1.0 has no activity 9 Disable",
            ),
            (
                GOOD.replace(
                    "success\tentity\t\tsome",
                    "success\tentity\tentity_management 99 Other\tsome",
                ),
                "repeats the row's class",
            ),
            (
                GOOD.replace("entity_management 3 Update", "update"),
                "must be empty or",
            ),
            (
                GOOD.replace("entity_management 3 Update", "api_activity 3 Update"),
                "in_1_1: unknown or unsupported",
            ),
            (
                GOOD.replace("entity_management 3 Update", "base_event 99 Other"),
                "in_1_1: base_event is only for",
            ),
        ];
        for (tsv, expected) in cases {
            let err = render(&tsv, CATALOGUE).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected:?} not in {err:?}");
        }
    }

    #[test]
    fn only_the_last_fallback_takes_any_category() {
        let (last, rest) = FALLBACK.split_last().unwrap();
        assert!(last.0.is_empty());
        assert!(rest.iter().all(|(categories, _)| !categories.is_empty()));
        for (_, name) in FALLBACK {
            assert!(class(name).resource_in.is_some(), "{name}");
        }
    }

    #[test]
    fn the_checked_in_data_is_valid() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let tsv = std::fs::read_to_string(root.join(OCSF_MAPPING_TSV)).unwrap();
        let catalogue = std::fs::read_to_string(root.join(CATALOGUE_TSV)).unwrap();
        render(&tsv, &catalogue).unwrap();
    }
}
