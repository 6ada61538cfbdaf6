//! The packaging checks of `cargo xtask test`: every crate meant for a registry builds from its
//! packed files alone, and a program outside the workspace can use the packed crates.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The workspace members that are not published (`publish = false`), left out of packaging.
const UNPUBLISHED: &[&str] = &["xtask", "asana-audit-bench"];

/// The packed crates the consumer uses, each replacing the crates.io version of its name.
const PATCHED: &[&str] = &[
    "asana-audit-log-api",
    "asana-audit-log",
    "asana-audit-log-mock",
    "asana-audit-log-ocsf",
    "asana-audit-log-pipeline",
    "asana-audit-rules",
];

/// The pipeline crate's example the consumer builds and runs, killed and resumed, from the
/// packed crate (as a registry user gets it).
const LAND_OCSF: &str = "examples/land_ocsf.rs";

/// When each killed run of the example is killed: once the named checkpoint exists (a commit of
/// that archive is done, more may be under way), or (`None`) right after it starts.
const KILL_WHEN: &[Option<&str>] = &[Some("ocsf.checkpoint"), Some("raw.checkpoint"), None];

/// The version of every workspace crate (they share the workspace's).
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The consumer's program, checked in next to this crate.
const CONSUMER_MAIN: &str = include_str!("../consumer/main.rs");

/// The workspace manifest's `[profile.dev]` settings, which a packed manifest does not carry:
/// given as `--config`, they let builds from packed files reuse the workspace's compiled
/// dependencies instead of building them again with full debug info.
const PROFILE_CONFIG: &[&str] = &[
    "--config",
    "profile.dev.debug=\"line-tables-only\"",
    "--config",
    "profile.dev.package.\"*\".debug=false",
];

/// The arguments of `cargo clean` that remove every build of the published crates from the
/// target folder. Cargo takes a registry crate's build as fresh as long as its name and
/// version are the same, so the builds an earlier `cargo package` made from its temporary
/// registry would otherwise stand in for the crates packed now (and a crate whose API changed
/// would be checked against its dependencies as they were packed before).
pub fn clean_packed_builds_args() -> Vec<&'static str> {
    let mut args = vec!["clean"];
    for name in PATCHED.iter().chain(["asana-audit-cli"].iter()) {
        args.extend(["-p", name]);
    }
    args
}

/// The arguments of `cargo package` for the published crates: it packs each one, then builds
/// it from the packed files (other workspace crates come from a temporary local registry).
/// `--allow-dirty` so that the check covers uncommitted work too.
pub fn package_args() -> Vec<&'static str> {
    let mut args = vec!["package", "--workspace", "--locked", "--allow-dirty"];
    for name in UNPUBLISHED {
        args.extend(["--exclude", name]);
    }
    args.extend(PROFILE_CONFIG);
    args
}

/// Removes what an earlier `cargo package` unpacked of our own crates from its temporary local
/// registry (`$CARGO_HOME/registry/src/-<hash>/<crate>-<version>/`). Cargo unpacks a crate
/// there once and builds later verifications from that copy even when the packed crate has
/// changed since (the version stays the same), so a check after a change of a crate's API
/// would build the crates that use it against its old sources. Only folders named after our
/// published crates at this version, in registries without a name (which `cargo package`
/// makes), are removed.
pub fn forget_unpacked_packages() -> Result<()> {
    let home = std::env::var_os("CARGO_HOME").map_or_else(
        || std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")),
        |home| Some(PathBuf::from(home)),
    );
    let Some(src) = home.map(|home| home.join("registry/src")) else {
        return Ok(());
    };
    let Ok(registries) = std::fs::read_dir(&src) else {
        return Ok(());
    };
    for registry in registries.flatten() {
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        for name in PATCHED.iter().chain(["asana-audit-cli"].iter()) {
            let unpacked = registry.path().join(format!("{name}-{VERSION}"));
            if unpacked.is_dir() {
                std::fs::remove_dir_all(&unpacked)
                    .with_context(|| format!("removing {}", unpacked.display()))?;
            }
        }
    }
    Ok(())
}

/// Where cargo puts its output for this workspace.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// The consumer's manifest: the published crates by version, as a registry user writes them,
/// patched to the unpacked packages of `cargo package`.
fn consumer_manifest(packages: &Path) -> Result<String> {
    let mut patch = String::new();
    for name in PATCHED {
        let dir = packages.join(format!("{name}-{VERSION}"));
        let dir = dir
            .to_str()
            .context("the target directory's path is not UTF-8")?;
        patch.push_str(&format!(
            "{name} = {{ path = {} }}\n",
            serde_json::to_string(dir)?
        ));
    }
    Ok(format!(
        "# Written by `cargo xtask test`; see xtask/consumer/main.rs.\n\
         [package]\n\
         name = \"packed-crates-consumer\"\n\
         version = \"0.0.0\"\n\
         edition = \"2024\"\n\
         publish = false\n\n\
         # A project of its own, not a member of the workspace around it.\n\
         [workspace]\n\n\
         [dependencies]\n\
         asana-audit-log = \"{VERSION}\"\n\
         asana-audit-log-mock = \"{VERSION}\"\n\
         asana-audit-log-pipeline = \"{VERSION}\"\n\
         asana-audit-rules = \"{VERSION}\"\n\
         futures = \"0.3\"\n\
         tokio = {{ version = \"1\", features = [\"rt\", \"rt-multi-thread\", \"macros\"] }}\n\n\
         [[bin]]\n\
         name = \"land_ocsf\"\n\
         path = \"src/bin/land_ocsf.rs\"\n\n\
         [patch.crates-io]\n\
         {patch}"
    ))
}

/// The `(name, version)` of every package a `Cargo.lock` lists.
fn locked(lock: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(value) = line.strip_prefix("name = ") {
            name = Some(value.trim_matches('"').to_owned());
        } else if let (Some(value), Some(current)) = (line.strip_prefix("version = "), name.take())
        {
            out.insert((current, value.trim_matches('"').to_owned()));
        }
    }
    out
}

/// Writes the consumer project into the target directory, with the workspace's `Cargo.lock` so
/// that cargo keeps the workspace's dependency versions, then builds and runs it (sharing the
/// workspace's target directory, so compiled dependencies are reused) and checks that its lock
/// holds no package version the workspace's does not.
pub fn consumer(root: &Path, cargo: &str) -> Result<bool> {
    let target = target_dir(root);
    let packages = target.join("package");
    for name in PATCHED {
        let dir = packages.join(format!("{name}-{VERSION}"));
        if !dir.join("Cargo.toml").is_file() {
            bail!(
                "{} is missing: run `cargo {}` first",
                dir.display(),
                package_args().join(" ")
            );
        }
    }
    let dir = target.join("package-consumer");
    std::fs::create_dir_all(dir.join("src"))
        .with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("Cargo.toml"), consumer_manifest(&packages)?)?;
    std::fs::write(dir.join("src/main.rs"), CONSUMER_MAIN)?;
    let example = packages
        .join(format!("asana-audit-log-pipeline-{VERSION}"))
        .join(LAND_OCSF);
    std::fs::create_dir_all(dir.join("src/bin"))?;
    std::fs::copy(&example, dir.join("src/bin/land_ocsf.rs"))
        .with_context(|| format!("copying {}", example.display()))?;
    let workspace_lock = std::fs::read_to_string(root.join("Cargo.lock"))?;
    std::fs::write(dir.join("Cargo.lock"), &workspace_lock)?;

    eprintln!("    consumer project: {}", dir.display());
    let status = Command::new(cargo)
        .args(["run", "--bin", "packed-crates-consumer", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .args(PROFILE_CONFIG)
        .current_dir(&dir)
        .status()
        .context("starting cargo for the consumer")?;
    if !status.success() {
        eprintln!("    the consumer failed ({status})");
        return Ok(false);
    }

    if !land_ocsf_killed_and_resumed(&dir, &target, cargo)? {
        return Ok(false);
    }

    let ours = locked(&workspace_lock);
    let consumer_lock = std::fs::read_to_string(dir.join("Cargo.lock"))?;
    let new: Vec<_> = locked(&consumer_lock)
        .into_iter()
        .filter(|(name, _)| name != "packed-crates-consumer")
        .filter(|package| !ours.contains(package))
        .collect();
    if !new.is_empty() {
        eprintln!("    the consumer resolved versions the workspace does not lock: {new:?}");
        return Ok(false);
    }
    Ok(true)
}

/// Builds the pipeline crate's `land_ocsf` example in the consumer project, runs it into a new
/// folder, kills it (SIGKILL) at each moment of [`KILL_WHEN`], then runs it to its end: both
/// archives must resume from their checkpoints, and it checks itself that each holds every
/// event of the mock server once.
fn land_ocsf_killed_and_resumed(dir: &Path, target: &Path, cargo: &str) -> Result<bool> {
    let status = Command::new(cargo)
        .args(["build", "--bin", "land_ocsf", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target)
        .args(PROFILE_CONFIG)
        .current_dir(dir)
        .status()
        .context("starting cargo for the consumer's land_ocsf")?;
    if !status.success() {
        eprintln!("    land_ocsf did not build ({status})");
        return Ok(false);
    }
    let binary = target.join("debug/land_ocsf");
    let archive = dir.join("land-ocsf-archive");
    if archive.exists() {
        std::fs::remove_dir_all(&archive)?;
    }
    for &when in KILL_WHEN {
        let mut child = Command::new(&binary)
            .arg(&archive)
            .stdout(std::process::Stdio::null())
            .spawn()
            .context("starting land_ocsf")?;
        let started = std::time::Instant::now();
        let due = || match when {
            Some(checkpoint) => archive.join(checkpoint).exists(),
            None => started.elapsed() >= std::time::Duration::from_millis(200),
        };
        while !due() && child.try_wait()?.is_none() {
            if started.elapsed() > std::time::Duration::from_secs(120) {
                eprintln!("    land_ocsf never wrote {when:?}");
                let _ = child.kill();
                return Ok(false);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        if let Some(status) = child.try_wait()? {
            eprintln!("    land_ocsf ended ({status}) before it could be killed at {when:?}");
            return Ok(false);
        }
        // `kill` is SIGKILL on Unix: no destructor, no flush, as a crash.
        let _ = child.kill();
        child.wait()?;
    }
    let out = Command::new(&binary)
        .arg(&archive)
        .output()
        .context("starting land_ocsf")?;
    let said = String::from_utf8_lossy(&out.stdout);
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    for line in said.lines() {
        eprintln!("    land_ocsf (after {} kills): {line}", KILL_WHEN.len());
    }
    if !out.status.success() {
        eprintln!("    land_ocsf failed ({})", out.status);
        return Ok(false);
    }
    let resumed = said
        .lines()
        .filter(|line| line.ends_with(", resumed"))
        .count();
    if resumed != 2 {
        eprintln!("    land_ocsf's last run resumed {resumed} of its 2 archives, not both");
        return Ok(false);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consumer_patches_every_crate_it_reaches() {
        let manifest = consumer_manifest(Path::new("/t/package")).unwrap();
        for name in PATCHED {
            let line = format!("{name} = {{ path = \"/t/package/{name}-{VERSION}\" }}");
            assert!(manifest.contains(&line), "{manifest}");
        }
        assert!(manifest.contains("[workspace]\n"));
    }

    #[test]
    fn lock_entries_are_read_as_name_and_version() {
        let lock = "version = 4\n\n[[package]]\nname = \"a\"\nversion = \"1.2.3\"\n\
                    source = \"registry+x\"\n\n[[package]]\nname = \"b\"\nversion = \"0.1.0\"\n";
        let expected: BTreeSet<_> = [("a", "1.2.3"), ("b", "0.1.0")]
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(locked(lock), expected);
    }
}
