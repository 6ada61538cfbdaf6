//! `cargo xtask test`: the project's whole test command, step by step, timed.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result};

/// The steps, in order: cheap checks first so a formatting slip fails in seconds.
const STEPS: &[(&str, &[&str])] = &[
    ("format", &["fmt", "--all", "--", "--check"]),
    (
        "generated files are up to date",
        &[
            "run",
            "--locked",
            "--quiet",
            "--package",
            "xtask",
            "--",
            "generate",
            "--check",
        ],
    ),
    (
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    ),
    ("tests", &["test", "--workspace", "--locked"]),
];

/// Whether a check passed; what it said when it did not is printed.
fn reported(verdict: std::result::Result<(), String>) -> bool {
    match verdict {
        Ok(()) => true,
        Err(said) => {
            eprintln!("{said}");
            false
        }
    }
}

/// Runs one step, printing what it does and how long it took; `Ok(false)` when it failed.
fn step(name: &str, what: &str, run: impl FnOnce() -> Result<bool>) -> Result<bool> {
    let started = Instant::now();
    eprintln!("==> {name}: {what}");
    let passed = run().with_context(|| format!("step `{name}`"))?;
    eprintln!("<== {name}: {:.1}s", started.elapsed().as_secs_f64());
    if !passed {
        eprintln!("xtask test: step `{name}` failed");
    }
    Ok(passed)
}

pub fn run(root: &Path) -> Result<ExitCode> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let all = Instant::now();
    // The declared MSRV against what the locked dependencies declare (see msrv.rs).
    let report = crate::msrv::check(root)?;
    eprintln!(
        "==> msrv: rust-version {} covers all {} packages that declare one (of {}); highest: {}",
        report.declared,
        report.with_rust_version,
        report.packages,
        report.highest.map_or_else(
            || "none".to_string(),
            |(name, version)| format!("{name} ({version})")
        )
    );
    // The tests' Python side (an S3-compatible server and readers that are not ours), made
    // only when the tests are about to run, so the cheap checks need no Python.
    let python = std::cell::OnceCell::new();
    let run_cargo = |args: &[&str]| -> Result<bool> {
        let mut command = Command::new(&cargo);
        command.args(args).current_dir(root);
        if args.first() == Some(&"test") {
            let python = match python.get() {
                Some(python) => python,
                None => {
                    let made = crate::pyenv::test_venv(&crate::bench::target_dir(root))?;
                    eprintln!("==> python for the tests: {}", made.display());
                    python.get_or_init(|| made)
                }
            };
            command.env("ASANA_AUDIT_PYTHON", python);
            let azurite = crate::nodeenv::azurite(&crate::bench::target_dir(root))?;
            command.env("ASANA_AUDIT_AZURITE", azurite);
        }
        let status = command.status().context("starting cargo")?;
        Ok(status.success())
    };
    for (name, args) in STEPS {
        if !step(name, &format!("cargo {}", args.join(" ")), || {
            run_cargo(args)
        })? {
            return Ok(ExitCode::FAILURE);
        }
    }
    if !step(
        "the systemd unit",
        &format!("systemd-analyze verify {}", crate::systemd::UNIT),
        || {
            let binary = root.join("target/debug/asana-audit");
            Ok(match crate::systemd::verify(root, &binary)? {
                crate::systemd::Verified::Clean => true,
                crate::systemd::Verified::Skipped => {
                    eprintln!(
                        "    skipped: systemd-analyze is not installed (Debian package `systemd`)"
                    );
                    true
                }
                crate::systemd::Verified::Failed(said) => {
                    eprintln!("{said}");
                    false
                }
            })
        },
    )? {
        return Ok(ExitCode::FAILURE);
    }
    if !step(
        "the example configuration",
        &format!(
            "asana-audit run --check --config {}",
            crate::systemd::EXAMPLE
        ),
        || {
            let binary = root.join("target/debug/asana-audit");
            Ok(reported(crate::systemd::check_example(root, &binary)?))
        },
    )? {
        return Ok(ExitCode::FAILURE);
    }
    if !step(
        "the Kubernetes example",
        &format!(
            "kubernetes-validate --strict {}/*.yaml; asana-audit run --check on its ConfigMap \
             against moto",
            crate::kubernetes::MANIFESTS
        ),
        || {
            let python = crate::pyenv::test_venv(&crate::bench::target_dir(root))?;
            let manifests = root.join(crate::kubernetes::MANIFESTS);
            let binary = root.join("target/debug/asana-audit");
            Ok(reported(crate::kubernetes::validate(&manifests, &python)?)
                && reported(crate::kubernetes::check_config(root, &binary, &python)?))
        },
    )? {
        return Ok(ExitCode::FAILURE);
    }
    let package = crate::package::package_args();
    if !step(
        "packages build from their packed files",
        &format!("cargo {}", package.join(" ")),
        || {
            crate::package::forget_unpacked_packages()?;
            Ok(run_cargo(&crate::package::clean_packed_builds_args())? && run_cargo(&package)?)
        },
    )? {
        return Ok(ExitCode::FAILURE);
    }
    if !step(
        "a project outside the workspace uses the packed crates",
        "build and run xtask/consumer/main.rs against target/package/",
        || crate::package::consumer(root, &cargo),
    )? {
        return Ok(ExitCode::FAILURE);
    }
    eprintln!(
        "xtask test: all steps passed in {:.1}s",
        all.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The CLI's GeoIP test databases are copies of the rules crate's (written by its
    /// `tests/py/make_geoip.py`): each crate ships its own, as no crate reads outside its
    /// folder, and they must not drift apart.
    #[test]
    fn the_clis_geoip_databases_are_the_rules_crates() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for name in ["geo-city.mmdb", "geo-asn.mmdb"] {
            let read = |krate: &str| {
                std::fs::read(
                    root.join("crates")
                        .join(krate)
                        .join("tests/data")
                        .join(name),
                )
                .unwrap()
            };
            assert!(
                read("asana-audit-rules") == read("asana-audit-cli"),
                "{name}: copy it again from crates/asana-audit-rules/tests/data"
            );
        }
    }
}
