//! The `asana-audit-log-mock` binary: start-up output and flags.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::get_with;
use serde_json::Value;

/// Kills the child process when dropped, so a failing test leaves nothing running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The mock's binary.
fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_asana-audit-log-mock"))
}

fn start(args: &[&str]) -> (Running, Vec<String>) {
    let mut child = binary()
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    let lines_wanted = if args.contains(&"--print-json") { 1 } else { 5 };
    let mut lines = Vec::new();
    for _ in 0..lines_wanted {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        lines.push(line.trim_end().to_owned());
    }
    (Running(child), lines)
}

#[tokio::test]
async fn print_json_gives_what_a_client_needs() {
    let (_child, lines) = start(&[
        "--port",
        "0",
        "--events",
        "300",
        "--seed",
        "7",
        "--print-json",
        "--fault",
        "2:503",
    ]);
    let info: Value = serde_json::from_str(&lines[0]).expect("one JSON line");
    let base = info["base_url"].as_str().unwrap();
    assert!(base.starts_with("http://127.0.0.1:") && base.ends_with("/api/1.0"));
    assert_eq!(info["events"], 300);
    assert_eq!(info["seed"], 7);
    assert_eq!(info["rate_limit_per_min"], 1500);
    let url = format!(
        "{base}/workspaces/{}/audit_log_events?limit=100",
        info["workspace_gid"].as_str().unwrap()
    );
    let http = common::client();
    let token = info["token"].as_str().unwrap();
    let page = get_with(&http, &url, Some(token)).await;
    assert_eq!(page.data().len(), 100);
    let second = get_with(&http, &url, Some(token)).await;
    assert_eq!(second.status, 503, "--fault 2:503");
    let forbidden_token = info["forbidden_token"].as_str().unwrap();
    let forbidden = get_with(&http, &url, Some(forbidden_token)).await;
    assert_eq!(forbidden.status, 403);
}

#[tokio::test]
async fn text_output_and_deterministic_data() {
    // Two servers of the same dataset: one printing text, one JSON.
    let dataset = [
        "--events",
        "50",
        "--seed",
        "9",
        "--now",
        "2025-01-01T00:00:00Z",
    ];
    let (_a, lines) = start(&[&dataset[..], &["--rate-limit", "0"]].concat());
    assert_eq!(lines[0], "asana-audit-log-mock: serving 50 events (seed 9)");
    let field = |name: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap()
            .to_owned()
    };
    let (base, token, ws) = (field("base_url"), field("token"), field("workspace_gid"));
    assert_eq!(ws, "1200000000000001");
    let (_b, json_lines) = start(&[&dataset[..], &["--print-json"]].concat());
    let other: Value = serde_json::from_str(&json_lines[0]).unwrap();
    assert_eq!(
        other["token"],
        token.as_str(),
        "tokens derive from the seed"
    );
    assert_eq!(other["rate_limit_per_min"], 1500);
    let http = common::client();
    let fetch = |base: String, token: String| {
        let http = http.clone();
        async move {
            let url = format!("{base}/workspaces/1200000000000001/audit_log_events?limit=100");
            get_with(&http, &url, Some(&token)).await.body["data"].clone()
        }
    };
    let a = fetch(base, token.clone()).await;
    let b = fetch(other["base_url"].as_str().unwrap().to_owned(), token).await;
    assert_eq!(a.as_array().unwrap().len(), 50);
    assert_eq!(a, b, "same seed and clock, same events");
}

#[test]
fn bad_flags_are_refused() {
    for args in [
        &["serve", "--fault", "3:418"][..],
        &["serve", "--chance", "500=2"],
        &["serve", "--latency", "fast"],
    ] {
        let out = binary().args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}
