//! The mapping's vocabulary: OCSF versions and classes, status rules, where the resource goes,
//! and rows.

use std::fmt;

use crate::mapping_table::{
    CLASSES, ROWS, VERSIONS, class_facts, fallback_of, index_of, version_facts,
};

/// The OCSF schema versions the mapper writes: 1.8.0 by default, or 1.1.0, the version Amazon
/// Security Lake validates custom sources against. A 1.1.0 event is the 1.8.0 one without
/// what 1.1.0 lacks (`MAPPING.md` says what, row by row); the source values those attributes
/// would hold stay in `unmapped`.
///
/// ```
/// use asana_audit_log_ocsf::OcsfVersion;
///
/// assert_eq!(OcsfVersion::default(), OcsfVersion::V1_8);
/// assert_eq!(OcsfVersion::V1_1.as_str(), "1.1.0"); // `metadata.version`
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OcsfVersion {
    /// OCSF 1.1.0.
    V1_1,
    /// OCSF 1.8.0 (the default).
    #[default]
    V1_8,
}

impl OcsfVersion {
    /// Every version, oldest first.
    pub const ALL: [OcsfVersion; VERSIONS.len()] = VERSIONS;

    /// The version as `metadata.version` states it: `1.1.0`, `1.8.0`.
    pub const fn as_str(self) -> &'static str {
        version_facts(self).version
    }
}

/// `1.1.0`, `1.8.0`.
impl fmt::Display for OcsfVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an OCSF version says of the object attributes the mapper writes (the same in every
/// class). The facts are written once, in `xtask/src/ocsf_table.rs`, which generates
/// [`version_facts`].
#[derive(Debug)]
pub(crate) struct VersionFacts {
    /// `metadata.version`.
    pub(crate) version: &'static str,
    /// Whether `actor` has `app_name` (and may hold only it).
    pub(crate) actor_app_name: bool,
    /// Whether `entity` (`managed_entity`) has `type_id`.
    pub(crate) entity_type_id: bool,
    /// The characters besides ASCII letters and digits that `email_t` allows before the `@`.
    pub(crate) email_local_chars: &'static str,
    /// `string_t`'s maximum length in characters, when it has one.
    pub(crate) max_string_chars: Option<u32>,
}

/// Which of the attributes the mapper may write a class has in one OCSF version (without
/// profiles; every class has the others), and the one constraint on them the mapper must meet.
#[derive(Debug)]
pub(crate) struct Attributes {
    pub(crate) actor: bool,
    pub(crate) src_endpoint: bool,
    pub(crate) http_request: bool,
    /// At least one of `user` and `privileges` is required (1.1.0's Group Management).
    pub(crate) needs_user_or_privileges: bool,
}

// The classes are defined, with the facts of each, in the generated mapping table: a new
// class is a change to `xtask/src/ocsf_table.rs` (and its rows to openapi/ocsf-mapping.tsv).
pub use crate::mapping_table::OcsfClass;

/// What OCSF 1.8.0 and 1.1.0 say of a class. The facts are written once, in
/// `xtask/src/ocsf_table.rs`, which generates [`class_facts`] (`cargo xtask generate --check`
/// keeps it current).
#[derive(Debug)]
pub(crate) struct ClassFacts {
    pub(crate) uid: u32,
    /// The class's name in the schema.
    pub(crate) name: &'static str,
    pub(crate) caption: &'static str,
    /// The caption of the class's category.
    pub(crate) category_name: &'static str,
    pub(crate) resource_in: Option<ResourceIn>,
    /// Its attributes in 1.8.0.
    pub(crate) v1_8: Attributes,
    /// Its attributes in 1.1.0.
    pub(crate) v1_1: Attributes,
}

impl OcsfClass {
    /// Every class, in `class_uid` order.
    pub const ALL: [OcsfClass; CLASSES.len()] = CLASSES;

    /// `class_uid`.
    pub const fn uid(self) -> u32 {
        class_facts(self).uid
    }

    /// `class_name`: the class's caption, e.g. `Account Change`.
    pub const fn caption(self) -> &'static str {
        class_facts(self).caption
    }

    /// The class's name in the OCSF schema, e.g. `account_change` (also the name of its JSON
    /// Schema).
    pub const fn schema_name(self) -> &'static str {
        class_facts(self).name
    }

    /// `category_uid`: `class_uid / 1000`.
    pub const fn category_uid(self) -> u32 {
        self.uid() / 1000
    }

    /// `category_name`.
    pub const fn category_caption(self) -> &'static str {
        class_facts(self).category_name
    }

    /// The object this class puts the event's `resource` in; `None` for Base Event.
    pub const fn resource_in(self) -> Option<ResourceIn> {
        class_facts(self).resource_in
    }

    /// Which of `actor`, `src_endpoint` and `http_request` the class has in `version` (without
    /// profiles, Web Resources Activity and Base Event have no `actor`, and in 1.1.0 the
    /// identity classes but Account Change and Authentication have none of them).
    pub(crate) const fn attributes(self, version: OcsfVersion) -> &'static Attributes {
        let facts = class_facts(self);
        match version {
            OcsfVersion::V1_1 => &facts.v1_1,
            OcsfVersion::V1_8 => &facts.v1_8,
        }
    }
}

/// How the mapped event's `status_id` is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatusRule {
    /// `status_id` 1 (Success): the event records something that happened.
    Success,
    /// `status_id` 2 (Failure), e.g. `user_login_failed`; `details.reason` becomes
    /// `status_detail`.
    Failure,
    /// `status_id` 0 (Unknown): an event type without a row whose name does not say.
    Unknown,
}

impl StatusRule {
    /// `status_id`.
    pub const fn status_id(self) -> u8 {
        match self {
            StatusRule::Success => 1,
            StatusRule::Failure => 2,
            StatusRule::Unknown => 0,
        }
    }

    /// `status`: the caption of [`status_id`](Self::status_id).
    pub const fn caption(self) -> &'static str {
        match self {
            StatusRule::Success => "Success",
            StatusRule::Failure => "Failure",
            StatusRule::Unknown => "Unknown",
        }
    }
}

/// The OCSF object that receives the Asana event's `resource`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResourceIn {
    /// `user`: `gid` → `uid`, `name` → `name`, `email` → `email_addr`.
    User,
    /// `group`: `gid` → `uid`, `name` → `name`, `resource_type` → `type`.
    Group,
    /// `web_resources[0]`: `gid` → `uid`, `name` → `name`, `resource_type` → `type`.
    WebResource,
    /// `file` (`type_id` 1, Regular File): `gid` → `uid`, `name` → `name` (required).
    File,
    /// `entity`: `gid` → `uid`, `name` → `name`, `resource_type` → `type` (with `type_id`
    /// 2 User, 3 Group for teams, 4 Organization for workspaces and divisions, else 99).
    Entity,
}

/// How one Asana event type maps to OCSF 1.8.0: a row of `openapi/ocsf-mapping.tsv`
/// ([`in_version`](Self::in_version) gives the row in another version).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MappingRow {
    /// The Asana event type.
    pub event_type: &'static str,
    /// The OCSF class.
    pub class: OcsfClass,
    /// `activity_id` within the class.
    pub activity_id: u8,
    /// The activity's caption (`Other` for 99; the mapped event then carries the Asana type
    /// as `activity_name`).
    pub activity_name: &'static str,
    /// How `status_id` is chosen.
    pub status: StatusRule,
    /// Where the event's `resource` goes.
    pub resource_in: ResourceIn,
    /// The class and activity in OCSF 1.1.0, when they differ (the row's `in_1_1`).
    pub(crate) in_1_1: Option<ClassActivity>,
}

/// A row's class and activity in another OCSF version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClassActivity {
    pub(crate) class: OcsfClass,
    pub(crate) activity_id: u8,
    pub(crate) activity_name: &'static str,
    pub(crate) resource_in: ResourceIn,
}

impl MappingRow {
    /// `type_uid`: `class_uid * 100 + activity_id`.
    pub const fn type_uid(&self) -> u32 {
        self.class.uid() * 100 + self.activity_id as u32
    }

    /// The row in `version`: in 1.1.0 some types map to another activity (1.1.0's Entity
    /// Management has no Enable, Disable, Suspend, Resume) or class (Group Management requires
    /// a `user`, which `team_created` has not), as `MAPPING.md` says.
    ///
    /// ```
    /// use asana_audit_log_ocsf::{OcsfClass, OcsfVersion, mapping_for};
    ///
    /// let row = mapping_for("workspace_view_links_enabled").unwrap();
    /// assert_eq!((row.class, row.activity_id), (OcsfClass::EntityManagement, 8));
    /// let row = row.in_version(OcsfVersion::V1_1);
    /// assert_eq!((row.activity_id, row.activity_name), (3, "Update"));
    /// ```
    pub const fn in_version(&self, version: OcsfVersion) -> MappingRow {
        match (version, self.in_1_1) {
            (OcsfVersion::V1_1, Some(other)) => MappingRow {
                class: other.class,
                activity_id: other.activity_id,
                activity_name: other.activity_name,
                resource_in: other.resource_in,
                in_1_1: None,
                ..*self
            },
            _ => *self,
        }
    }
}

/// The row of every catalogue event type, in catalogue order (`openapi/event-types.tsv`).
pub fn mapping_table() -> &'static [MappingRow] {
    &ROWS
}

/// The row for `event_type`, when it is in the catalogue.
pub fn mapping_for(event_type: &str) -> Option<&'static MappingRow> {
    index_of(event_type).map(|i| &ROWS[i])
}

/// The class an event type without a row maps to, from its `event_category` (see
/// `MAPPING.md`): always with activity 99.
pub fn fallback_class(event_category: Option<&str>) -> OcsfClass {
    fallback_of(event_category)
}

/// The status rule of an event type without a row.
pub(crate) fn fallback_status(event_type: &str) -> StatusRule {
    if event_type.ends_with("_failed") {
        StatusRule::Failure
    } else {
        StatusRule::Unknown
    }
}
