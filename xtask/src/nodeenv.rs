//! Node packages under the target directory, installed from npm at a pinned version: Azurite,
//! the Azure Storage emulator the tests write to (the Azure side of the object-store tests).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Azurite's pinned version.
pub const AZURITE_VERSION: &str = "3.35.0";

/// Azurite's Blob service (`azurite-blob`), installed with npm under `target/azurite` unless it
/// is there at the pinned version already.
pub fn azurite(target_dir: &Path) -> Result<PathBuf> {
    let dir = target_dir.join("azurite");
    let binary = dir.join("node_modules/.bin/azurite-blob");
    let manifest = dir.join("node_modules/azurite/package.json");
    let installed = std::fs::read_to_string(&manifest).is_ok_and(|text| {
        serde_json::from_str::<serde_json::Value>(&text)
            .is_ok_and(|package| package["version"] == AZURITE_VERSION)
    });
    if installed && binary.exists() {
        return Ok(binary);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let spec = format!("azurite@{AZURITE_VERSION}");
    eprintln!("==> npm install --prefix {} {spec}", dir.display());
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
        .arg(&dir)
        .arg(&spec)
        .status()
        .context("running npm (Debian package `npm`)")?;
    if !status.success() || !binary.exists() {
        bail!("could not install {spec} into {}", dir.display());
    }
    Ok(binary)
}
