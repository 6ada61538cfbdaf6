//! The `asana-audit` binary against servers that misbehave on purpose: the run fails with exit
//! code 4 and a clear message, keeps what it had written (and its checkpoint), and the token
//! shows up in none of its output, logs or files, at any log level or format.

mod common;

use asana_audit_log_mock::canned::{CannedServer, Reply};
use common::{cmd, run, text};

const TOKEN: &str = "2/1200000000000088/1208800000000088:c0ffeec0ffeec0ffeec0ffeec0ffee88";
const SECRET: &str = "c0ffeec0ffeec0ffeec0ffeec0ffee88";

/// Serves `answers[i]` to request `i` (the last one repeats), one request per connection.
async fn server(answers: Vec<Reply>) -> CannedServer {
    CannedServer::replies(answers).await.unwrap()
}

fn ok(body: &str) -> Reply {
    Reply::response(
        "200 OK",
        "Content-Type: application/json\r\nConnection: close\r\n",
        body,
    )
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn export(base: &str, extra: &[&str]) -> Run {
    let mut command = cmd();
    command
        .env("ASANA_ACCESS_TOKEN", TOKEN)
        .args(["export", "--workspace", "1", "--base-url", base])
        .args(extra);
    let output = run(command).await;
    Run {
        code: output.status.code(),
        stdout: text(&output.stdout),
        stderr: text(&output.stderr),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_answers_fail_cleanly_without_leaking_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let page_without_next = r#"{"data":[{"gid":"1","created_at":"2024-01-01T00:00:00Z"}]}"#;
    let deep = format!(
        r#"{{"data":[{{"gid":"2","created_at":"2024-01-01T00:00:00Z","x":{}{}}}],"next_page":{{"offset":"a"}}}}"#,
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    let cases = [
        (
            "a body over the cap",
            Reply::raw(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 68719476736\r\n\r\n",
            ),
            "over the limit",
        ),
        (
            "a redirect",
            Reply::raw(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:9/steal\r\nContent-Length: 0\r\n\r\n",
            ),
            "redirects are not followed",
        ),
        (
            "events without next_page",
            ok(page_without_next),
            "broke its paging contract",
        ),
        ("an event nested 50,000 deep", ok(&deep), "levels deep"),
    ];
    for (name, answer, expected) in cases {
        let canned = server(vec![answer]).await;
        let base = canned.base_url();
        for format in ["text", "json"] {
            let output = dir.path().join(format!("{format}.ndjson"));
            let checkpoint = dir.path().join(format!("{format}.checkpoint"));
            let _ = std::fs::remove_file(&output);
            let _ = std::fs::remove_file(&checkpoint);
            let run = export(
                &base,
                &[
                    "-vvv",
                    "--log-format",
                    format,
                    "--output",
                    output.to_str().unwrap(),
                    "--checkpoint",
                    checkpoint.to_str().unwrap(),
                ],
            )
            .await;
            assert_eq!(run.code, Some(4), "{name} ({format}): {}", run.stderr);
            assert!(
                run.stderr.contains(expected),
                "{name} ({format}): {}",
                run.stderr
            );
            let written = std::fs::read_to_string(&output).unwrap_or_default();
            let saved = std::fs::read_to_string(&checkpoint).unwrap_or_default();
            if name == "events without next_page" {
                assert_eq!(written.lines().count(), 1, "its event was kept");
                assert!(saved.contains(r#""events_written": 1"#), "{saved}");
            }
            for (what, text) in [
                ("stdout", &run.stdout),
                ("stderr", &run.stderr),
                ("output", &written),
                ("checkpoint", &saved),
            ] {
                assert!(
                    !text.contains(SECRET),
                    "{name} ({format}): the token leaked into {what}"
                );
            }
        }
        assert!(canned.hits() >= 2, "{name}: both runs asked");
    }
}
