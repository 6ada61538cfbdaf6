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
    for (name, args) in STEPS {
        let started = Instant::now();
        eprintln!("==> {name}: cargo {}", args.join(" "));
        let status = Command::new(&cargo)
            .args(*args)
            .current_dir(root)
            .status()
            .with_context(|| format!("starting cargo for step `{name}`"))?;
        eprintln!("<== {name}: {:.1}s", started.elapsed().as_secs_f64());
        if !status.success() {
            eprintln!("xtask test: step `{name}` failed ({status})");
            return Ok(ExitCode::FAILURE);
        }
    }
    eprintln!(
        "xtask test: all steps passed in {:.1}s",
        all.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
