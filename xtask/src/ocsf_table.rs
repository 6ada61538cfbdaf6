//! `cargo xtask generate` for the OCSF mapping: compiles `openapi/ocsf-mapping.tsv` into the
//! Rust table of `asana-audit-log-ocsf` and into its `MAPPING.md`, after checking every row
//! against the event-type catalogue and against the OCSF 1.8.0 facts embedded below. Those
//! facts ([`CLASSES`]) are the only place the crate's class facts are written: the generated
//! table carries them to `OcsfClass`.

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

const MAPPING_HEADER: &str = "event_type\tclass\tactivity\tstatus\tresource_in\tnote";
const CATALOGUE_HEADER: &str = "event_type\tevent_category\tresource_type\tsource";

/// One OCSF 1.8.0 class the mapper supports: facts from the OCSF schema.
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
    /// Whether the class has `actor` (without profiles).
    actor: bool,
    /// Whether the class has `src_endpoint` and `http_request`.
    endpoint: bool,
    /// `activity_id` values and their captions.
    activities: &'static [(u8, &'static str)],
}

/// The classes of OCSF 1.8.0 the mapper emits, in `class_uid` order (ids and captions as in
/// `schema-1.8.0.json`); rows may use all but Base Event.
const CLASSES: &[ClassFacts] = &[
    ClassFacts {
        name: "base_event",
        variant: "BaseEvent",
        uid: 0,
        caption: "Base Event",
        category_name: "Uncategorized",
        resource_in: None,
        actor: false,
        endpoint: false,
        activities: &[(0, "Unknown"), (99, "Other")],
    },
    ClassFacts {
        name: "account_change",
        variant: "AccountChange",
        uid: 3001,
        caption: "Account Change",
        category_name: "Identity & Access Management",
        resource_in: Some("user"),
        actor: true,
        endpoint: true,
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
    },
    ClassFacts {
        name: "authentication",
        variant: "Authentication",
        uid: 3002,
        caption: "Authentication",
        category_name: "Identity & Access Management",
        resource_in: Some("user"),
        actor: true,
        endpoint: true,
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
    },
    ClassFacts {
        name: "entity_management",
        variant: "EntityManagement",
        uid: 3004,
        caption: "Entity Management",
        category_name: "Identity & Access Management",
        resource_in: Some("entity"),
        actor: true,
        endpoint: true,
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
    },
    ClassFacts {
        name: "user_access",
        variant: "UserAccess",
        uid: 3005,
        caption: "User Access Management",
        category_name: "Identity & Access Management",
        resource_in: Some("user"),
        actor: true,
        endpoint: true,
        activities: &[
            (0, "Unknown"),
            (1, "Assign Privileges"),
            (2, "Revoke Privileges"),
            (99, "Other"),
        ],
    },
    ClassFacts {
        name: "group_management",
        variant: "GroupManagement",
        uid: 3006,
        caption: "Group Management",
        category_name: "Identity & Access Management",
        resource_in: Some("group"),
        actor: true,
        endpoint: true,
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
    },
    ClassFacts {
        name: "web_resources_activity",
        variant: "WebResourcesActivity",
        uid: 6001,
        caption: "Web Resources Activity",
        category_name: "Application Activity",
        resource_in: Some("web_resource"),
        actor: false,
        endpoint: true,
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
    },
    ClassFacts {
        name: "file_hosting",
        variant: "FileHosting",
        uid: 6006,
        caption: "File Hosting Activity",
        category_name: "Application Activity",
        resource_in: Some("file"),
        actor: true,
        endpoint: true,
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
fn label(name: &str) -> String {
    let class = class(name);
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

/// One checked row of the mapping.
struct Row<'a> {
    event_type: &'a str,
    category: &'a str,
    class: &'static ClassFacts,
    activity_id: u8,
    activity_name: &'static str,
    status: &'a str,
    resource_in: &'a str,
    note: &'a str,
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
        let at = || format!("{OCSF_MAPPING_TSV} line {}", n + 2);
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() != 6 {
            bail!(
                "{}: expected 6 tab-separated columns, found {}",
                at(),
                cols.len()
            );
        }
        let [event_type, class, activity, status, resource_in, note] =
            [cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]];
        let Some(&category) = categories.get(event_type) else {
            bail!("{}: `{event_type}` is not in {CATALOGUE_TSV}", at());
        };
        let Some(facts) = CLASSES.iter().find(|c| c.name == class) else {
            let known: Vec<&str> = CLASSES.iter().map(|c| c.name).collect();
            bail!(
                "{}: unknown or unsupported OCSF class `{class}` (one of {known:?})",
                at()
            );
        };
        let (id, name) = activity
            .split_once(' ')
            .with_context(|| format!("{}: activity must be `<id> <name>`", at()))?;
        let id: u8 = id
            .parse()
            .with_context(|| format!("{}: activity id `{id}` is not a number", at()))?;
        let Some(&(activity_id, activity_name)) = facts.activities.iter().find(|(a, _)| *a == id)
        else {
            bail!("{}: class {class} has no activity_id {id}", at());
        };
        if activity_name != name {
            bail!(
                "{}: activity {id} of {class} is `{activity_name}`, not `{name}`",
                at()
            );
        }
        if activity_id == 0 {
            bail!("{}: activity 0 (Unknown) is not a mapping", at());
        }
        if !STATUSES.iter().any(|(s, _)| *s == status) {
            bail!(
                "{}: status must be success or failure, not `{status}`",
                at()
            );
        }
        let Some(carrier) = facts.resource_in else {
            bail!(
                "{}: {class} is only for events that lack what every other class requires",
                at()
            );
        };
        if resource_in != carrier {
            bail!(
                "{}: class {class} carries the resource in `{carrier}`, not `{resource_in}`",
                at()
            );
        }
        if note.contains('|') {
            bail!(
                "{}: the note must not contain `|` (it goes into a table)",
                at()
            );
        }
        let row = Row {
            event_type,
            category,
            class: facts,
            activity_id,
            activity_name,
            status,
            resource_in,
            note,
        };
        if by_type.insert(event_type, row).is_some() {
            bail!("{}: a second row for `{event_type}`", at());
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
         use crate::table::{ClassFacts, MappingRow, OcsfClass, ResourceIn, StatusRule};\n\n",
    );
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
        let _ = writeln!(
            out,
            "    MappingRow {{ event_type: {:?}, class: OcsfClass::{}, activity_id: {}, activity_name: {:?}, status: StatusRule::{}, resource_in: ResourceIn::{} }},",
            row.event_type,
            row.class.variant,
            row.activity_id,
            row.activity_name,
            variant(STATUSES, row.status),
            variant(CARRIERS, row.resource_in),
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

/// Every class of [`CLASSES`] in `class_uid` order, and the facts of each.
fn render_classes(out: &mut String) {
    let _ = writeln!(out, "/// Every class, in `class_uid` order.");
    let _ = writeln!(
        out,
        "pub(crate) const CLASSES: [OcsfClass; {}] = [",
        CLASSES.len()
    );
    for class in CLASSES {
        let _ = writeln!(out, "    OcsfClass::{},", class.variant);
    }
    out.push_str("];\n\n");
    out.push_str("/// What OCSF 1.8.0 says of each class.\n");
    out.push_str("pub(crate) const fn class_facts(class: OcsfClass) -> &'static ClassFacts {\n");
    out.push_str("    match class {\n");
    for class in CLASSES {
        let resource_in = match class.resource_in {
            Some(carrier) => format!("Some(ResourceIn::{})", variant(CARRIERS, carrier)),
            None => "None".to_owned(),
        };
        let _ = writeln!(
            out,
            "        OcsfClass::{} => &ClassFacts {{ uid: {}, name: {:?}, caption: {:?}, category_name: {:?}, resource_in: {resource_in}, has_actor: {}, has_endpoint: {} }},",
            class.variant,
            class.uid,
            class.name,
            class.caption,
            class.category_name,
            class.actor,
            class.endpoint,
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

/// `MAPPING.md`: the same rows as a table, with counts per class and the fallback rules.
pub fn render_doc(tsv: &str, catalogue_tsv: &str) -> Result<String> {
    let rows = rows(tsv, catalogue_tsv)?;
    let mut out = String::new();
    out.push_str(
        "<!-- @generated by `cargo xtask generate` from openapi/ocsf-mapping.tsv; do not edit by hand. -->\n\
         # Asana audit log event types → OCSF 1.8.0\n\n\
         How `asana-audit-log-ocsf` maps each event type of the catalogue (`openapi/event-types.tsv`).\n\
         The data lives in `openapi/ocsf-mapping.tsv`; this page and `src/mapping_table.rs` are\n\
         generated from it. Every row's class and activity were checked against OCSF 1.8.0.\n\n\
         `resource in` is the OCSF object that receives the event's `resource`. Activity 99 (Other)\n\
         means the class has no activity for what happened; such events carry the Asana event type\n\
         as `activity_name`.\n\n",
    );
    out.push_str(
        "## Types per class\n\n| OCSF class | class_uid | event types |\n| --- | --- | --- |\n",
    );
    for class in CLASSES {
        let n = rows.iter().filter(|r| r.class.name == class.name).count();
        if n > 0 {
            let _ = writeln!(
                out,
                "| {} (`{}`) | {} | {n} |",
                class.caption, class.name, class.uid
            );
        }
    }
    let _ = writeln!(out, "| total | | {} |\n", rows.len());
    out.push_str(
        "## Event types\n\n\
         | Asana event type | category | OCSF class | activity | status | resource in | note |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for row in &rows {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} ({}) | {} {} | {} | `{}` | {} |",
            row.event_type,
            if row.category.is_empty() {
                "–"
            } else {
                row.category
            },
            row.class.caption,
            row.class.uid,
            row.activity_id,
            row.activity_name,
            row.status,
            row.resource_in,
            row.note,
        );
    }
    out.push_str(
        "\n## Event types not in the catalogue\n\n\
         Asana adds event types over time. A type without a row maps to the class for its\n\
         `event_category`, with activity 99 (Other), `activity_name` and `metadata.event_code` set\n\
         to the type, and `status_id` 2 (Failure) when the type ends in `_failed`, else 0 (Unknown):\n\n\
         | event_category | OCSF class |\n| --- | --- |\n",
    );
    for (categories, name) in FALLBACK {
        let categories = if categories.is_empty() {
            "anything else, or none".to_owned()
        } else {
            let names: Vec<String> = categories.iter().map(|c| format!("`{c}`")).collect();
            names.join(", ")
        };
        let _ = writeln!(out, "| {categories} | {} |", label(name));
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
        label("entity_management"),
        label("base_event"),
    );
    Ok(out)
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
                             a_failed\tlogins\tuser\tx\nb_done\t\t\tx\n";
    const GOOD: &str = "event_type\tclass\tactivity\tstatus\tresource_in\tnote\n\
                        a_failed\tauthentication\t1 Logon\tfailure\tuser\t\n\
                        b_done\tentity_management\t99 Other\tsuccess\tentity\tsome note\n";

    #[test]
    fn renders_rows_and_lookup() {
        let rust = render(GOOD, CATALOGUE).unwrap();
        assert!(rust.contains("pub(crate) static ROWS: [MappingRow; 2]"));
        assert!(rust.contains("\"b_done\" => Some(1),"));
        assert!(
            render_doc(GOOD, CATALOGUE)
                .unwrap()
                .contains("| `b_done` | – |")
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
                format!("{GOOD}a_failed\tauthentication\t2 Logoff\tsuccess\tuser\t\n"),
                "second row",
            ),
            (
                GOOD.lines().take(2).collect::<Vec<_>>().join("\n"),
                "no row for",
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
