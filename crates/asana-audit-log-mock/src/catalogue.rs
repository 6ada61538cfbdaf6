//! The catalogue of known event types: the project's `openapi/event-types.tsv`, compiled into
//! the crate as a table (`catalogue_data.rs`, written by `cargo xtask generate`), so nothing is
//! read from disk at run time.

use std::sync::OnceLock;

// The generated table sits next to this file and is laid out one row a line, not as rustfmt
// would wrap it.
#[rustfmt::skip]
#[path = "catalogue_data.rs"]
mod catalogue_data;

/// One known event type, as the mock serves it.
///
/// A few rows of the catalogue leave the category or the resource type blank (their source did
/// not say). The mock fills those in with a plausible value and marks the entry
/// [`inferred`](Self::inferred), so every generated event carries both fields:
///
/// * category: `admin_settings` for `workspace_*` and `ai_studio_*` types, `roles` for
///   `custom_role_*` and `role_*` types;
/// * resource type: `custom_role` for `custom_role_*` and `role_*` types, `workspace` for all
///   others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventTypeInfo {
    /// The wire name, for example `user_login_succeeded`.
    pub event_type: &'static str,
    /// The `event_category` the mock sends with it.
    pub event_category: &'static str,
    /// The `resource.resource_type` the mock sends with it.
    pub resource_type: &'static str,
    /// Where the catalogue row came from (its `source` column).
    pub source: &'static str,
    /// True when the category or the resource type was blank in the catalogue and was filled in.
    pub inferred: bool,
}

fn is_role_type(event_type: &str) -> bool {
    event_type.starts_with("custom_role_") || event_type.starts_with("role_")
}

fn infer_category(event_type: &str) -> &'static str {
    if is_role_type(event_type) {
        "roles"
    } else {
        "admin_settings"
    }
}

fn infer_resource_type(event_type: &str) -> &'static str {
    if is_role_type(event_type) {
        "custom_role"
    } else {
        "workspace"
    }
}

fn fill_in(row: &[&'static str; 4]) -> EventTypeInfo {
    let [event_type, category, resource_type, source] = *row;
    let inferred = category.is_empty() || resource_type.is_empty();
    EventTypeInfo {
        event_type,
        event_category: if category.is_empty() {
            infer_category(event_type)
        } else {
            category
        },
        resource_type: if resource_type.is_empty() {
            infer_resource_type(event_type)
        } else {
            resource_type
        },
        source,
        inferred,
    }
}

/// Every event type of the catalogue, in its order (131 entries at the time of writing).
pub fn event_types() -> &'static [EventTypeInfo] {
    static CATALOGUE: OnceLock<Vec<EventTypeInfo>> = OnceLock::new();
    CATALOGUE.get_or_init(|| catalogue_data::ROWS.iter().map(fill_in).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_complete_and_filled_in() {
        let types = event_types();
        assert_eq!(types.len(), 131);
        let mut names: Vec<_> = types.iter().map(|t| t.event_type).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 131, "duplicate event types");
        assert!(
            types
                .iter()
                .all(|t| !t.event_category.is_empty() && !t.resource_type.is_empty())
        );
        let role = types
            .iter()
            .find(|t| t.event_type == "custom_role_created")
            .unwrap();
        assert_eq!(
            (role.event_category, role.resource_type, role.inferred),
            ("roles", "custom_role", true)
        );
        let login = &types[0];
        assert_eq!(
            (
                login.event_type,
                login.event_category,
                login.resource_type,
                login.inferred
            ),
            ("user_login_succeeded", "logins", "user", false)
        );
        assert_eq!(types.iter().filter(|t| t.inferred).count(), 22);
    }
}
