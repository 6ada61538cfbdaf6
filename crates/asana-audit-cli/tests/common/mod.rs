//! What the binary's test files share.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A command for the binary with a clean environment: no token unless given.
pub fn cmd() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_asana-audit"));
    cmd.env_remove("ASANA_ACCESS_TOKEN")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

/// The lines of a file (none when it does not exist).
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Runs a command on a blocking thread (the mock server lives on the test's runtime).
pub async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("the command runs"))
        .await
        .unwrap()
}

/// Interrupts a running command (SIGINT) and checks that it stopped with exit code 130, the
/// code of a run that saved what it wrote and was interrupted.
pub async fn interrupt(child: std::process::Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
}

/// Bytes from a process as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A tiny deterministic generator for kill delays (SplitMix64).
pub struct Delays(pub u64);

impl Delays {
    /// The next delay in `0..max` milliseconds.
    pub fn next_ms(&mut self, max: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % max
    }
}
