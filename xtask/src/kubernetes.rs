//! The Kubernetes example in `contrib/kubernetes/`: its manifests validated against the
//! Kubernetes schemas by PyPI's `kubernetes-validate` (which ships them, so this runs offline),
//! and the configuration its ConfigMap holds checked by the CLI itself, `run --check` against
//! an S3-compatible server (moto) standing in for the buckets it names.
//!
//! The check lives here rather than in a crate's tests because `contrib/` belongs to no crate
//! (none reads a file outside its own folder), and `xtask` is the repository's own tool that
//! checks what lies beside the crates, as it does the systemd unit.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The manifests' folder, relative to the repository root.
pub const MANIFESTS: &str = "contrib/kubernetes";

/// The Kubernetes versions the manifests are validated against (`kubernetes-validate` ships
/// schemas for each): an old release clusters still run, and the newest it knows.
const KUBERNETES_VERSIONS: &[&str] = &["1.33.0", "1.37.0"];

/// The ConfigMap, and the key of the configuration in it.
const CONFIG_MAP: &str = "contrib/kubernetes/configmap.yaml";
const CONFIG_KEY: &str = "collector.toml";

/// The staging folder the configuration names (the pod's emptyDir).
const STAGING: &str = "/tmp/asana-audit";

/// The buckets the configuration names, and the token variables the Deployment sets from its
/// Secret.
const BUCKETS: &[&str] = &["acme-audit", "aws-security-data-lake-eu-west-1-abcdef"];
const TOKEN_VARIABLES: &[&str] = &["ACME_TOKEN", "GLOBEX_TOKEN"];

/// The manifests of the folder `dir`, in name order.
fn manifests(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()?
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Validates every manifest of `dir` strictly (unknown fields are errors) with `python`'s
/// `kubernetes-validate`. `Err` with what it said when one does not validate.
pub fn validate(dir: &Path, python: &Path) -> Result<std::result::Result<(), String>> {
    let files = manifests(dir)?;
    if files.is_empty() {
        bail!("{} holds no manifest", dir.display());
    }
    let mut failed = String::new();
    for version in KUBERNETES_VERSIONS {
        let out = Command::new(python)
            .args(["-m", "kubernetes_validate", "--strict", "--no-warn"])
            .args(["--kubernetes-version", version])
            .args(&files)
            .output()
            .context("running kubernetes-validate")?;
        if !out.status.success() {
            failed.push_str(&format!(
                "Kubernetes {version}: {}\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(if failed.is_empty() {
        Ok(())
    } else {
        Err(failed)
    })
}

/// Runs `binary run --check` on the configuration of the ConfigMap, with its staging folder
/// in a scratch folder, the token variables set, and its buckets in a moto server that
/// `python` starts. `Err` with what the CLI said when it does not prepare every source.
pub fn check_config(
    root: &Path,
    binary: &Path,
    python: &Path,
) -> Result<std::result::Result<(), String>> {
    let dir = std::path::absolute(root.join("target/contrib-kubernetes"))?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let config_map = std::fs::read_to_string(root.join(CONFIG_MAP))
        .with_context(|| format!("reading {CONFIG_MAP}"))?;
    let config_map: serde_norway::Value =
        serde_norway::from_str(&config_map).with_context(|| format!("parsing {CONFIG_MAP}"))?;
    let Some(config) = config_map["data"][CONFIG_KEY].as_str() else {
        bail!("{CONFIG_MAP} has no data.{CONFIG_KEY}");
    };
    let sources = config.matches("[[source]]").count();
    let staging = dir.join("staging");
    let path = dir.join(CONFIG_KEY);
    std::fs::write(
        &path,
        config.replace(STAGING, &staging.display().to_string()),
    )?;

    let moto = Moto::start(python)?;
    for bucket in BUCKETS {
        moto.create_bucket(python, bucket)?;
    }
    let mut command = Command::new(binary);
    command.current_dir(&dir);
    moto.configure(&mut command);
    for variable in TOKEN_VARIABLES {
        command.env(variable, "0/not-a-real-token");
    }
    crate::systemd::run_check(command, &path, sources)
}

/// An S3-compatible server (moto) on a free loopback port, stopped when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start(python: &Path) -> Result<Moto> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting moto")?;
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(60) {
                bail!("moto did not start");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }

    /// The standard AWS settings that point a client at this server, and nowhere else.
    fn configure(&self, command: &mut Command) {
        command
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "eu-west-1")
            .env("AWS_METADATA_ENDPOINT", "http://127.0.0.1:9");
    }

    fn create_bucket(&self, python: &Path, bucket: &str) -> Result<()> {
        let mut command = Command::new(python);
        command.args([
            "-c",
            "import os, sys, boto3; boto3.client('s3', endpoint_url=os.environ['AWS_ENDPOINT_URL'], \
             region_name='us-east-1').create_bucket(Bucket=sys.argv[1])",
            bucket,
        ]);
        self.configure(&mut command);
        let status = command.status().context("creating a bucket in moto")?;
        anyhow::ensure!(status.success(), "could not create bucket {bucket} in moto");
        Ok(())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests' Python, with `kubernetes-validate` (`cargo xtask test` sets it).
    fn python() -> PathBuf {
        std::env::var_os("ASANA_AUDIT_PYTHON")
            .map(PathBuf::from)
            .expect("ASANA_AUDIT_PYTHON must name the tests' Python: run `cargo xtask test`")
    }

    #[test]
    fn the_manifests_validate_and_a_broken_one_does_not() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let dir = root.join(MANIFESTS);
        if let Err(said) = validate(&dir, &python()).unwrap() {
            panic!("{MANIFESTS}: {said}");
        }
        let broken = std::env::temp_dir().join(format!("xtask-kubernetes-{}", std::process::id()));
        std::fs::create_dir_all(&broken).unwrap();
        for (file, from, to) in [
            ("deployment.yaml", "replicas: 2", "replicas: two"),
            ("configmap.yaml", "  labels:", "  lables:"),
        ] {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            assert!(text.contains(from), "{file}: {from}");
            std::fs::write(broken.join(file), text.replacen(from, to, 1)).unwrap();
        }
        let verdict = validate(&broken, &python()).unwrap();
        std::fs::remove_dir_all(&broken).unwrap();
        match verdict {
            Ok(()) => panic!("broken manifests validated"),
            Err(said) => {
                assert!(said.contains("'two' is not of type 'integer'"), "{said}");
                assert!(said.contains("lables"), "{said}");
            }
        }
    }
}
