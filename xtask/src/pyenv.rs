//! Python virtualenvs under the target directory, made from PyPI with the top-level packages
//! pinned (their own dependencies are resolved by pip): the official client for `bench`, the
//! readers and the S3 server the tests use for `test`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// One pinned package: what pip installs, and the distribution whose version proves it.
pub struct Pin {
    /// The requirement given to pip, e.g. `moto[server]`.
    pub spec: &'static str,
    /// The distribution name, e.g. `moto`.
    pub dist: &'static str,
    /// The exact version.
    pub version: &'static str,
}

/// The packages the tests' Python side needs: an S3-compatible server, Azurite's blob client, and
/// readers that are not ours (DuckDB, pyarrow, Spark) for `crates/asana-audit-cli/tests/py/archive.py`;
/// pySigma, the SigmaHQ validators and five of its backends for
/// `crates/asana-audit-rules/tests/py/sigma_check.py`; a MaxMind DB writer and reader for the
/// GeoIP tests; and the Kubernetes schemas xtask validates `contrib/kubernetes/` with.
pub const TEST_PINS: &[Pin] = &[
    Pin {
        spec: "moto[server]",
        dist: "moto",
        version: "5.2.5",
    },
    Pin {
        spec: "boto3",
        dist: "boto3",
        version: "1.44.8",
    },
    Pin {
        spec: "duckdb",
        dist: "duckdb",
        version: "2.0.1",
    },
    Pin {
        spec: "pyarrow",
        dist: "pyarrow",
        version: "26.0.1",
    },
    // Containers and blobs of Azurite, the Azure Storage emulator.
    Pin {
        spec: "azure-storage-blob",
        dist: "azure-storage-blob",
        version: "12.31.1",
    },
    // The Kubernetes schemas, shipped in the package (so it validates offline), for the
    // manifests of contrib/kubernetes/.
    Pin {
        spec: "kubernetes-validate",
        dist: "kubernetes-validate",
        version: "1.37.0",
    },
    // Apache Spark in local mode (it runs on the machine's Java, 17 or later).
    Pin {
        spec: "pyspark",
        dist: "pyspark",
        version: "4.0.1",
    },
    // Sigma's reference implementation, which checks the rule pack (the backends below need
    // pySigma 1.x: 1.4 or later for Elasticsearch).
    Pin {
        spec: "pysigma",
        dist: "pysigma",
        version: "1.5.1",
    },
    Pin {
        spec: "pysigma-validators-sigmahq",
        dist: "pysigma-validators-sigmahq",
        version: "0.21.0",
    },
    Pin {
        spec: "pysigma-backend-splunk",
        dist: "pysigma-backend-splunk",
        version: "2.1.0",
    },
    Pin {
        spec: "pysigma-backend-elasticsearch",
        dist: "pysigma-backend-elasticsearch",
        version: "2.1.1",
    },
    Pin {
        spec: "pysigma-backend-kusto",
        dist: "pysigma-backend-kusto",
        version: "1.0.1",
    },
    Pin {
        spec: "pysigma-backend-duckdb",
        dist: "pysigma-backend-duckdb",
        version: "0.1.4",
    },
    // Spark SQL (Databricks) queries of the pack, run in Spark local mode by the same test.
    Pin {
        spec: "pysigma-backend-databricks",
        dist: "pysigma-backend-databricks",
        version: "0.1.7",
    },
    // A writer of MaxMind-format databases independent of the `maxminddb` crate, for the GeoIP
    // test databases (`crates/asana-audit-rules/tests/py/make_geoip.py`), and MaxMind's own
    // reader, which the tests check this project's lookups against.
    Pin {
        spec: "mmdb-writer",
        dist: "mmdb-writer",
        version: "0.2.7",
    },
    Pin {
        spec: "maxminddb",
        dist: "maxminddb",
        version: "3.2.0",
    },
];

/// The tests' virtualenv (`test-venv` under the target directory), made unless it is there.
pub fn test_venv(target_dir: &Path) -> Result<PathBuf> {
    venv(&target_dir.join("test-venv"), TEST_PINS)
}

/// The virtualenv at `dir` with `pins` installed, made (from PyPI) unless it is there already;
/// returns its interpreter.
pub fn venv(dir: &Path, pins: &[Pin]) -> Result<PathBuf> {
    let python = dir.join("bin/python");
    let installed = |pin: &Pin| {
        Command::new(&python)
            .args([
                "-c",
                &format!(
                    "import importlib.metadata as m; print(m.version('{}'))",
                    pin.dist
                ),
            ])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == pin.version)
    };
    if pins.iter().all(installed) {
        return Ok(python);
    }
    let specs: Vec<String> = pins
        .iter()
        .map(|pin| format!("{}=={}", pin.spec, pin.version))
        .collect();
    eprintln!(
        "==> python3 -m venv {} && pip install {}",
        dir.display(),
        specs.join(" ")
    );
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(dir)
        .status()
        .context("running python3 -m venv")?;
    if !status.success() {
        bail!("python3 -m venv failed ({status})");
    }
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(&specs)
        .status()
        .context("running pip")?;
    if !status.success() || !pins.iter().all(installed) {
        bail!(
            "could not install {} into {}",
            specs.join(" "),
            dir.display()
        );
    }
    Ok(python)
}
