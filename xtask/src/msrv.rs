//! The declared minimum Rust version against the dependency tree, part of `cargo xtask test`.
//!
//! A second toolchain cannot be installed here (no network beyond the package registries), so
//! the MSRV is not proven by compiling with Rust 1.88. What can be checked cheaply is that no
//! package in the lock file (dependencies of every kind, every platform, and our own crates)
//! declares a `rust-version` above the workspace's: `cargo` refuses to build such a crate with
//! an older toolchain, so this catches the most common way an MSRV silently rots (a
//! `cargo update` pulling in a release that needs a newer compiler). It cannot see language
//! features or library APIs our own code uses beyond the MSRV, nor dependencies that declare
//! no `rust-version`; SECURITY.md says so.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

/// A `rust-version` as `(major, minor, patch)`; a missing part counts as 0.
fn parse(version: &str) -> Result<(u64, u64, u64)> {
    let mut parts = version.trim().split('.').map(|p| p.parse::<u64>());
    let mut next = || parts.next().unwrap_or(Ok(0));
    let parsed = (next(), next(), next());
    match parsed {
        (Ok(major), Ok(minor), Ok(patch)) => Ok((major, minor, patch)),
        _ => bail!("{version:?} is not a Rust version"),
    }
}

/// What the check found.
#[derive(Debug)]
pub struct Report {
    /// The workspace's declared minimum (the lowest of its members').
    pub declared: String,
    /// How many packages declare a `rust-version`.
    pub with_rust_version: usize,
    /// How many packages there are in all.
    pub packages: usize,
    /// The highest `rust-version` a package declares, and which package.
    pub highest: Option<(String, String)>,
    /// Packages that declare more than the workspace: `name version needs X`.
    pub too_new: Vec<String>,
}

/// Compares every package of `cargo metadata` output with the workspace members' minimum.
pub fn compare(metadata: &Value) -> Result<Report> {
    let packages = metadata["packages"]
        .as_array()
        .ok_or_else(|| anyhow!("cargo metadata has no packages"))?;
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .ok_or_else(|| anyhow!("cargo metadata has no workspace_members"))?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut declared: Option<((u64, u64, u64), String)> = None;
    for package in packages {
        let id = package["id"].as_str().unwrap_or_default();
        if !members.contains(&id) {
            continue;
        }
        let name = package["name"].as_str().unwrap_or("?");
        let version = package["rust_version"]
            .as_str()
            .ok_or_else(|| anyhow!("workspace member {name} declares no rust-version"))?;
        let parsed = parse(version)?;
        if declared.as_ref().is_none_or(|(lowest, _)| parsed < *lowest) {
            declared = Some((parsed, version.to_owned()));
        }
    }
    let (ours, declared) = declared.ok_or_else(|| anyhow!("no workspace members"))?;

    let mut report = Report {
        declared,
        with_rust_version: 0,
        packages: packages.len(),
        highest: None,
        too_new: Vec::new(),
    };
    let mut highest: Option<(u64, u64, u64)> = None;
    for package in packages {
        let Some(version) = package["rust_version"].as_str() else {
            continue;
        };
        report.with_rust_version += 1;
        let parsed = parse(version)?;
        let name = format!(
            "{} {}",
            package["name"].as_str().unwrap_or("?"),
            package["version"].as_str().unwrap_or("?")
        );
        if highest.is_none_or(|h| parsed > h) {
            highest = Some(parsed);
            report.highest = Some((name.clone(), version.to_owned()));
        }
        if parsed > ours {
            report.too_new.push(format!("{name} needs Rust {version}"));
        }
    }
    Ok(report)
}

/// Runs `cargo metadata` for the workspace and checks it; an error when a package needs more
/// than the workspace declares.
pub fn check(root: &Path) -> Result<Report> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).context("reading cargo metadata's JSON")?;
    let report = compare(&metadata)?;
    if !report.too_new.is_empty() {
        bail!(
            "the workspace declares rust-version {}, but these packages need more:\n  {}\n\
             Raise rust-version in Cargo.toml (and say so in SECURITY.md), or pin the \
             dependency to an older release.",
            report.declared,
            report.too_new.join("\n  ")
        );
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metadata(dependency_needs: Option<&str>) -> Value {
        json!({
            "workspace_members": ["path+file:///w/a#0.1.0", "path+file:///w/b#0.1.0"],
            "packages": [
                {"id": "path+file:///w/a#0.1.0", "name": "a", "version": "0.1.0", "rust_version": "1.88"},
                {"id": "path+file:///w/b#0.1.0", "name": "b", "version": "0.1.0", "rust_version": "1.90"},
                {"id": "registry+x#dep@1.0.0", "name": "dep", "version": "1.0.0", "rust_version": dependency_needs},
                {"id": "registry+x#old@1.0.0", "name": "old", "version": "1.0.0", "rust_version": "1.63.0"},
            ]
        })
    }

    #[test]
    fn versions_compare_by_number() {
        assert_eq!(parse("1.88").unwrap(), (1, 88, 0));
        assert!(parse("1.100").unwrap() > parse("1.88.1").unwrap());
        assert!(parse("1.x").is_err());
    }

    #[test]
    fn a_dependency_newer_than_the_lowest_member_is_reported() {
        // The lowest member (a: 1.88) is the workspace's promise; b's 1.90 counts against it.
        let report = compare(&metadata(Some("1.89.0"))).unwrap();
        assert_eq!(report.declared, "1.88");
        assert_eq!(
            report.too_new,
            ["b 0.1.0 needs Rust 1.90", "dep 1.0.0 needs Rust 1.89.0"]
        );
        assert_eq!(report.highest, Some(("b 0.1.0".into(), "1.90".into())));
        let report = compare(&metadata(None)).unwrap();
        assert_eq!(report.with_rust_version, 3);
        assert_eq!(report.packages, 4);
    }
}
