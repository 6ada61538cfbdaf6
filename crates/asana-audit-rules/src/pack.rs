//! The shipped rule pack: every file of `rules/`, embedded so that the library (and a crate
//! downloaded from a registry) carries it. A test checks that this list and the folder agree.

/// `(name, YAML text)` of each file of the pack, in file-name order.
pub(crate) const FILES: &[(&str, &str)] = &[
    (
        "rules/asana_admin_role_granted.yml",
        include_str!("../rules/asana_admin_role_granted.yml"),
    ),
    (
        "rules/asana_app_approval_disabled.yml",
        include_str!("../rules/asana_app_approval_disabled.yml"),
    ),
    (
        "rules/asana_app_token_usage_loosened.yml",
        include_str!("../rules/asana_app_token_usage_loosened.yml"),
    ),
    (
        "rules/asana_email_domain_added.yml",
        include_str!("../rules/asana_email_domain_added.yml"),
    ),
    (
        "rules/asana_export_started.yml",
        include_str!("../rules/asana_export_started.yml"),
    ),
    (
        "rules/asana_external_administrator_activity.yml",
        include_str!("../rules/asana_external_administrator_activity.yml"),
    ),
    (
        "rules/asana_form_link_authentication_disabled.yml",
        include_str!("../rules/asana_form_link_authentication_disabled.yml"),
    ),
    (
        "rules/asana_guest_invites_anyone.yml",
        include_str!("../rules/asana_guest_invites_anyone.yml"),
    ),
    (
        "rules/asana_ip_allowlist_weakened.yml",
        include_str!("../rules/asana_ip_allowlist_weakened.yml"),
    ),
    (
        "rules/asana_login_failed.yml",
        include_str!("../rules/asana_login_failed.yml"),
    ),
    (
        "rules/asana_mobile_controls_loosened.yml",
        include_str!("../rules/asana_mobile_controls_loosened.yml"),
    ),
    (
        "rules/asana_object_deleted.yml",
        include_str!("../rules/asana_object_deleted.yml"),
    ),
    (
        "rules/asana_organization_export_started.yml",
        include_str!("../rules/asana_organization_export_started.yml"),
    ),
    (
        "rules/asana_password_requirements_simple.yml",
        include_str!("../rules/asana_password_requirements_simple.yml"),
    ),
    (
        "rules/asana_saml_made_optional.yml",
        include_str!("../rules/asana_saml_made_optional.yml"),
    ),
    (
        "rules/asana_service_account_created.yml",
        include_str!("../rules/asana_service_account_created.yml"),
    ),
    (
        "rules/asana_session_duration_changed.yml",
        include_str!("../rules/asana_session_duration_changed.yml"),
    ),
    (
        "rules/asana_session_duration_never.yml",
        include_str!("../rules/asana_session_duration_never.yml"),
    ),
    (
        "rules/asana_sso_settings_changed.yml",
        include_str!("../rules/asana_sso_settings_changed.yml"),
    ),
    (
        "rules/asana_support_activity.yml",
        include_str!("../rules/asana_support_activity.yml"),
    ),
    (
        "rules/asana_team_made_public.yml",
        include_str!("../rules/asana_team_made_public.yml"),
    ),
    (
        "rules/asana_two_factor_requirement_disabled.yml",
        include_str!("../rules/asana_two_factor_requirement_disabled.yml"),
    ),
    (
        "rules/asana_user_two_factor_disabled.yml",
        include_str!("../rules/asana_user_two_factor_disabled.yml"),
    ),
    (
        "rules/correlation_asana_deletion_burst.yml",
        include_str!("../rules/correlation_asana_deletion_burst.yml"),
    ),
    (
        "rules/correlation_asana_failed_logins_by_ip.yml",
        include_str!("../rules/correlation_asana_failed_logins_by_ip.yml"),
    ),
    (
        "rules/correlation_asana_failed_logins_by_user.yml",
        include_str!("../rules/correlation_asana_failed_logins_by_user.yml"),
    ),
    (
        "rules/correlation_asana_repeated_exports.yml",
        include_str!("../rules/correlation_asana_repeated_exports.yml"),
    ),
];

#[cfg(test)]
mod tests {
    #[test]
    fn the_list_names_every_file_of_the_folder() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| format!("rules/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        on_disk.sort();
        let listed: Vec<&str> = super::FILES.iter().map(|(name, _)| *name).collect();
        assert_eq!(on_disk, listed);
    }

    #[test]
    fn the_readme_lists_every_rule_with_its_level_and_title() {
        let readme = include_str!("../README.md");
        let rules = crate::RuleSet::shipped();
        for rule in rules.rules() {
            let row = format!(
                "| `{}` | {} | {} |",
                rule.location().file,
                rule.level().map_or("-", |l| l.as_str()),
                rule.title()
            );
            assert!(readme.contains(&row), "README.md lacks the row {row}");
        }
        let rows = readme
            .lines()
            .filter(|l| l.starts_with("| `rules/"))
            .count();
        assert_eq!(rows, super::FILES.len(), "one row per file");
    }
}
