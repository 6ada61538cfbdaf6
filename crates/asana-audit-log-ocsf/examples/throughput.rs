//! Events per second of OCSF mapping against re-emitting the raw JSON, on the mock server's
//! data: `cargo run --release -p asana-audit-log-ocsf --example throughput [events]`.
//!
//! Both pipelines start from the JSON text of each event, as a converter reading NDJSON
//! would: decode (`AuditLogEvent::from_json`), then either write the event back out
//! (`serde_json::to_writer`) or map it (`Mapper::map_into`), into a reused buffer.

use std::time::Instant;

use asana_audit_log::AuditLogEvent;
use asana_audit_log_mock::MockServer;
use asana_audit_log_ocsf::Mapper;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let server = MockServer::builder()
        .events(count)
        .forward_compat(true)
        .start()
        .await
        .expect("mock server starts");
    let lines: Vec<String> = server
        .all_events_json()
        .into_iter()
        .map(|(_, json)| json)
        .collect();
    let bytes: usize = lines.iter().map(String::len).sum();
    let mapper = Mapper::new().tenant_uid(server.workspace_gid());

    let mut best = [f64::MAX; 2];
    let mut out_bytes = [0usize; 2];
    for _ in 0..5 {
        let mut buf = Vec::with_capacity(4096);
        let start = Instant::now();
        for line in &lines {
            let event = AuditLogEvent::from_json(line).expect("mock events decode");
            buf.clear();
            serde_json::to_writer(&mut buf, &event).expect("writes");
            out_bytes[0] += buf.len();
        }
        best[0] = best[0].min(start.elapsed().as_secs_f64());

        let mut text = String::with_capacity(4096);
        let start = Instant::now();
        for line in &lines {
            let event = AuditLogEvent::from_json(line).expect("mock events decode");
            text.clear();
            mapper.map_into(&event, &mut text);
            out_bytes[1] += text.len();
        }
        best[1] = best[1].min(start.elapsed().as_secs_f64());
    }
    let n = lines.len() as f64;
    println!(
        "{} events, {:.0} bytes each on average",
        lines.len(),
        bytes as f64 / n
    );
    println!("re-emit raw JSON: {:>10.0} events/s", n / best[0]);
    println!(
        "map to OCSF:      {:>10.0} events/s ({:.2}x of re-emit; output {:.1}x the input size)",
        n / best[1],
        best[0] / best[1],
        out_bytes[1] as f64 / out_bytes[0] as f64
    );
}
