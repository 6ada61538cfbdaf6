//! `cargo xtask`: the project's chores, written in Rust so they run wherever cargo does.
//!
//! - `cargo xtask generate` rewrites the generated files: the client from
//!   `openapi/asana-audit-log.yaml` (and the mock tests' copy of it), the library's event-type
//!   enums and the mock's catalogue table from `openapi/event-types.tsv`, and the OCSF mapping
//!   table (Rust and MAPPING.md) from `openapi/ocsf-mapping.tsv`;
//! - `cargo xtask generate --check` fails (naming the file, with a short diff) when a checked-in
//!   generated file is stale;
//! - `cargo xtask drift <upstream.yaml>` compares our operation with the same operation in an
//!   upstream Asana spec and fails on any difference `openapi/README.md` does not declare;
//! - `cargo xtask test` runs every check CI runs: MSRV vs dependencies, fmt, clippy,
//!   generate --check, the tests, the deployment examples of `contrib/` (the systemd unit, the
//!   example configuration, the Kubernetes manifests and their configuration), then packs the published crates, builds each from its packed
//!   files and runs a program outside the workspace that uses them;
//! - `cargo xtask bench` measures the clients against the mock server and writes BENCHMARKS.md
//!   (`--smoke`: a quick end-to-end run for CI that writes nothing);
//! - `cargo xtask soak [--minutes 10]` follows a live, faulty mock server and checks memory,
//!   descriptors and exactly-once output (see SECURITY.md for the last figures).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

mod bench;
mod bench_alert;
mod bench_alert_cost;
mod bench_audit_report;
mod bench_backtest;
mod bench_convert;
mod bench_many;
mod bench_paced;
mod bench_proc;
mod bench_profile;
mod bench_report;
mod bench_stats;
mod catalogue;
mod drift;
mod generate;
mod kubernetes;
mod msrv;
mod nodeenv;
mod ocsf_table;
mod package;
mod pyenv;
mod soak;
mod spec;
mod systemd;
mod test;

/// Project chores for the asana-audit-log workspace.
#[derive(Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Regenerate the checked-in generated files: the API client (and the mock tests' copy of
    /// the spec) from openapi/asana-audit-log.yaml, the library's event-type enums and the mock
    /// server's catalogue table from openapi/event-types.tsv.
    Generate {
        /// Do not write: exit 1, naming each stale file with a diff, when a checked-in file differs
        /// from a fresh run.
        #[arg(long)]
        check: bool,
    },
    /// Compare our spec's operation and schemas with the same operation in an upstream spec.
    ///
    /// Differences declared in openapi/README.md are reported as deliberate; any other one
    /// makes the command exit 1.
    Drift {
        /// The upstream spec, e.g. Asana's full asana_oas.yaml.
        upstream: PathBuf,
        /// Our spec (default: openapi/asana-audit-log.yaml).
        #[arg(long)]
        ours: Option<PathBuf>,
        /// The file that declares deliberate differences (default: openapi/README.md).
        #[arg(long)]
        declared: Option<PathBuf>,
    },
    /// Run every check of the project, as CI does: the declared MSRV against the dependencies'
    /// rust-version, cargo fmt --check, clippy with warnings as errors, generate --check, the
    /// whole test suite, cargo package of the published crates (each built from its packed
    /// files) and a program outside the workspace built on the packed crates (all with --locked,
    /// the last one with the workspace's Cargo.lock).
    Test,
    /// Measure the clients (bytes ceiling, hand-written, generated, stream, CLI, official Python
    /// client) against the mock server, and write the results into BENCHMARKS.md.
    Bench(bench::BenchArgs),
    /// Run `asana-audit follow` against a live, faulty mock server for a while, sampling its
    /// memory and descriptors, then check every event was written exactly once (Linux only).
    Soak(soak::SoakArgs),
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let root = workspace_root();
    match cli.command {
        Command::Generate { check } => {
            // The OCSF mapping table of asana-audit-log-ocsf, then the API client.
            let ocsf_fresh = ocsf_table::run(&root, check)?;
            let code = generate::run(&root, check)?;
            Ok(if ocsf_fresh { code } else { ExitCode::FAILURE })
        }
        Command::Test => test::run(&root),
        Command::Bench(args) => bench::run(&root, args),
        Command::Soak(args) => soak::run(&root, args),
        Command::Drift {
            upstream,
            ours,
            declared,
        } => {
            let ours = ours.unwrap_or_else(|| root.join(spec::SPEC_PATH));
            let declared = declared.unwrap_or_else(|| root.join("openapi/README.md"));
            let declared_text = std::fs::read_to_string(&declared)
                .with_context(|| format!("reading {}", declared.display()))?;
            let report = drift::compare(
                &spec::load_json(&upstream)?,
                &spec::load_json(&ours)?,
                &drift::parse_declared(&declared_text),
            )?;
            print!(
                "{}",
                report.render(&upstream.display().to_string(), &ours.display().to_string())
            );
            Ok(if report.undeclared_count() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
