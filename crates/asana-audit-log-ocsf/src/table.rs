//! The mapping's vocabulary: OCSF classes, status rules, where the resource goes, and rows.

use crate::mapping_table::{CLASSES, ROWS, class_facts, fallback_of, index_of};

/// The OCSF 1.8.0 classes this crate emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OcsfClass {
    /// Base Event (0): only for events that lack what every other class requires.
    BaseEvent,
    /// Account Change (3001).
    AccountChange,
    /// Authentication (3002).
    Authentication,
    /// Entity Management (3004).
    EntityManagement,
    /// User Access Management (3005).
    UserAccess,
    /// Group Management (3006).
    GroupManagement,
    /// Web Resources Activity (6001).
    WebResourcesActivity,
    /// File Hosting Activity (6006).
    FileHosting,
}

/// What OCSF 1.8.0 says of a class. The facts are written once, in `xtask/src/ocsf_table.rs`,
/// which generates [`class_facts`] (`cargo xtask generate --check` keeps it current).
#[derive(Debug)]
pub(crate) struct ClassFacts {
    pub(crate) uid: u32,
    /// The class's name in the schema.
    pub(crate) name: &'static str,
    pub(crate) caption: &'static str,
    /// The caption of the class's category.
    pub(crate) category_name: &'static str,
    pub(crate) resource_in: Option<ResourceIn>,
    pub(crate) has_actor: bool,
    pub(crate) has_endpoint: bool,
}

impl OcsfClass {
    /// Every class, in `class_uid` order.
    pub const ALL: [OcsfClass; 8] = CLASSES;

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

    /// Whether the class has `actor` (without profiles, Web Resources Activity and Base Event
    /// have none).
    pub(crate) const fn has_actor(self) -> bool {
        class_facts(self).has_actor
    }

    /// Whether the class has `src_endpoint` and `http_request`.
    pub(crate) const fn has_endpoint(self) -> bool {
        class_facts(self).has_endpoint
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

/// How one Asana event type maps to OCSF: a row of `openapi/ocsf-mapping.tsv`.
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
}

impl MappingRow {
    /// `type_uid`: `class_uid * 100 + activity_id`.
    pub const fn type_uid(&self) -> u32 {
        self.class.uid() * 100 + self.activity_id as u32
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
