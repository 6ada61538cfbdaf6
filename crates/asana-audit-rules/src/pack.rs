//! The shipped rule pack: every file of `rules/`, embedded so that the library (and a crate
//! downloaded from a registry) carries it. A test checks that this list and the folder agree.

/// `(name, YAML text)` of each file of the pack, in file-name order.
pub(crate) const FILES: &[(&str, &str)] = &[
    (
        "rules/admin_role_granted.yml",
        include_str!("../rules/admin_role_granted.yml"),
    ),
    (
        "rules/app_approval_disabled.yml",
        include_str!("../rules/app_approval_disabled.yml"),
    ),
    (
        "rules/app_token_usage_loosened.yml",
        include_str!("../rules/app_token_usage_loosened.yml"),
    ),
    (
        "rules/asana_support_activity.yml",
        include_str!("../rules/asana_support_activity.yml"),
    ),
    (
        "rules/deletion_burst.yml",
        include_str!("../rules/deletion_burst.yml"),
    ),
    (
        "rules/email_domain_added.yml",
        include_str!("../rules/email_domain_added.yml"),
    ),
    (
        "rules/external_administrator_activity.yml",
        include_str!("../rules/external_administrator_activity.yml"),
    ),
    (
        "rules/failed_login_burst.yml",
        include_str!("../rules/failed_login_burst.yml"),
    ),
    (
        "rules/form_link_authentication_disabled.yml",
        include_str!("../rules/form_link_authentication_disabled.yml"),
    ),
    (
        "rules/guest_invites_anyone.yml",
        include_str!("../rules/guest_invites_anyone.yml"),
    ),
    (
        "rules/ip_allowlist_weakened.yml",
        include_str!("../rules/ip_allowlist_weakened.yml"),
    ),
    (
        "rules/mobile_controls_loosened.yml",
        include_str!("../rules/mobile_controls_loosened.yml"),
    ),
    (
        "rules/organization_export_started.yml",
        include_str!("../rules/organization_export_started.yml"),
    ),
    (
        "rules/password_requirements_simple.yml",
        include_str!("../rules/password_requirements_simple.yml"),
    ),
    (
        "rules/repeated_exports.yml",
        include_str!("../rules/repeated_exports.yml"),
    ),
    (
        "rules/saml_made_optional.yml",
        include_str!("../rules/saml_made_optional.yml"),
    ),
    (
        "rules/service_account_created.yml",
        include_str!("../rules/service_account_created.yml"),
    ),
    (
        "rules/session_duration_changed.yml",
        include_str!("../rules/session_duration_changed.yml"),
    ),
    (
        "rules/session_duration_never.yml",
        include_str!("../rules/session_duration_never.yml"),
    ),
    (
        "rules/sso_settings_changed.yml",
        include_str!("../rules/sso_settings_changed.yml"),
    ),
    (
        "rules/team_made_public.yml",
        include_str!("../rules/team_made_public.yml"),
    ),
    (
        "rules/two_factor_requirement_disabled.yml",
        include_str!("../rules/two_factor_requirement_disabled.yml"),
    ),
    (
        "rules/user_two_factor_disabled.yml",
        include_str!("../rules/user_two_factor_disabled.yml"),
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
}
