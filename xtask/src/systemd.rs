//! The deployment files in `contrib/`: the systemd unit, checked by `systemd-analyze verify`
//! where that tool exists, and the example configuration, checked by the CLI itself.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

/// The unit, relative to the repository root.
pub const UNIT: &str = "contrib/asana-audit.service";

/// Where the unit expects the binary; the check points it at the one just built instead,
/// since `systemd-analyze verify` refuses a unit whose command does not exist.
const INSTALLED: &str = "/usr/local/bin/asana-audit";

/// What became of the check.
pub enum Verified {
    /// The tool found nothing to say.
    Clean,
    /// The tool is not on this machine (the Debian package `systemd` provides it).
    Skipped,
    /// It failed or warned; the text says what.
    Failed(String),
}

/// Runs `systemd-analyze verify` on a copy of the unit whose commands run `binary`.
pub fn verify(root: &Path, binary: &Path) -> Result<Verified> {
    let probe = Command::new("systemd-analyze").arg("--version").output();
    if probe.is_err() {
        return Ok(Verified::Skipped);
    }
    let unit =
        std::fs::read_to_string(root.join(UNIT)).with_context(|| format!("reading {UNIT}"))?;
    let binary = std::path::absolute(binary)?;
    anyhow::ensure!(
        binary.is_file(),
        "{} is not built: the unit's commands need it",
        binary.display()
    );
    let dir = root.join("target/systemd-verify");
    std::fs::create_dir_all(&dir)?;
    let copy = dir.join("asana-audit.service");
    std::fs::write(
        &copy,
        unit.replace(INSTALLED, &binary.display().to_string()),
    )?;
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .context("running systemd-analyze verify")?;
    // Settings it cannot parse are only warnings ("..., ignoring") with exit status 0: any
    // output at all fails the check.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(if out.status.success() && said.trim().is_empty() {
        Verified::Clean
    } else {
        Verified::Failed(format!("{}\n{said}", out.status))
    })
}

/// The example configuration, relative to the repository root.
pub const EXAMPLE: &str = "contrib/collector.toml";

/// The state directory the example's paths use (the unit's `StateDirectory`).
const STATE_DIRECTORY: &str = "/var/lib/asana-audit";

/// Runs `binary run --check` on a copy of the example configuration whose state directory is
/// a scratch folder and whose credentials (`acme`, `globex`) are files there, as
/// `LoadCredential` would hand them over. `Err` with what the CLI said when it does not
/// prepare both sources.
pub fn check_example(root: &Path, binary: &Path) -> Result<std::result::Result<(), String>> {
    let example = std::fs::read_to_string(root.join(EXAMPLE))
        .with_context(|| format!("reading {EXAMPLE}"))?;
    let dir = std::path::absolute(root.join("target/contrib-example"))?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let credentials = dir.join("credentials");
    std::fs::create_dir_all(&credentials)?;
    for name in ["acme", "globex"] {
        std::fs::write(credentials.join(name), "secret")?;
    }
    let config = dir.join("collector.toml");
    std::fs::write(
        &config,
        example.replace(STATE_DIRECTORY, &dir.display().to_string()),
    )?;
    let mut command = Command::new(binary);
    command.env("CREDENTIALS_DIRECTORY", &credentials);
    run_check(command, &config, 2)
}

/// Runs `command` (the CLI) as `run --check --config <config>`: `Err` with what it said
/// unless it succeeds and prepares `sources` sources.
pub fn run_check(
    mut command: Command,
    config: &Path,
    sources: usize,
) -> Result<std::result::Result<(), String>> {
    let out = command
        .args(["run", "--check", "--config"])
        .arg(config)
        .output()
        .with_context(|| format!("running {}", command.get_program().display()))?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(
        if out.status.success() && said.contains(&format!("{sources} sources ready")) {
            Ok(())
        } else {
            Err(format!("{}\n{said}", out.status))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any executable stands in for the binary: the test's own.
    fn stand_in() -> std::path::PathBuf {
        std::env::current_exe().unwrap()
    }

    #[test]
    fn the_unit_verifies_clean_and_a_broken_one_does_not() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        match verify(root, &stand_in()).unwrap() {
            Verified::Clean | Verified::Skipped => {}
            Verified::Failed(said) => panic!("{UNIT}: {said}"),
        }
        let broken = std::env::temp_dir().join(format!("xtask-systemd-{}", std::process::id()));
        std::fs::create_dir_all(broken.join("contrib")).unwrap();
        let unit = std::fs::read_to_string(root.join(UNIT)).unwrap();
        std::fs::write(
            broken.join(UNIT),
            unit.replace("ProtectHome=yes", "ProtectHome=maybe"),
        )
        .unwrap();
        let verdict = verify(&broken, &stand_in()).unwrap();
        std::fs::remove_dir_all(&broken).unwrap();
        match verdict {
            Verified::Failed(said) => assert!(said.contains("maybe"), "{said}"),
            Verified::Skipped => {}
            Verified::Clean => panic!("a unit with a bad setting verified clean"),
        }
    }
}
