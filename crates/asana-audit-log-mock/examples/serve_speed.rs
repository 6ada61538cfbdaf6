//! How fast the mock serves: pages and events per second on loopback, with a trivial client.
//!
//! ```text
//! cargo run --release -p asana-audit-log-mock --example serve_speed -- [EVENTS] [LIMIT]
//! ```
//!
//! Defaults: 200,000 events, pages of 100. The client (reqwest, one connection, one request at
//! a time) and the server share this process and its cores. Two walks: one whose client
//! decodes every page into `serde_json::Value`, one whose client only finds the next offset.
//! It also reports how long generating the dataset took and how much memory its JSON takes.

use std::time::Instant;

use asana_audit_log_mock::MockServer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let events: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(200_000);
    let limit: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(100);

    let started = Instant::now();
    let server = MockServer::builder()
        .events(events)
        .seed(7)
        .rate_limit(None)
        .concurrency_limit(None)
        .offset_lifetime(None)
        .start()
        .await?;
    let generated = started.elapsed();
    println!(
        "generated {} events in {:.2} s ({:.0} events/s), {:.1} MiB of JSON ({:.0} bytes/event)",
        server.event_count(),
        generated.as_secs_f64(),
        events as f64 / generated.as_secs_f64(),
        server.dataset_bytes() as f64 / (1024.0 * 1024.0),
        server.dataset_bytes() as f64 / events.max(1) as f64,
    );

    let http = reqwest::Client::builder().no_proxy().build()?;
    let base = format!(
        "{}/workspaces/{}/audit_log_events?limit={limit}",
        server.base_url(),
        server.workspace_gid()
    );
    let token = server.token().to_owned();
    let walk = Walk {
        http: &http,
        base: &base,
        token: &token,
    };

    let (pages, seen, bytes, secs) = walk
        .run(|body| {
            let page: serde_json::Value = serde_json::from_slice(body)?;
            let n = page["data"].as_array().map_or(0, Vec::len) as u64;
            let next = page["next_page"]["offset"].as_str().map(str::to_owned);
            Ok((n > 0).then_some((n, next)))
        })
        .await?;
    assert_eq!(seen, events, "the walk must return every event once");
    report(pages, seen, bytes, secs, "client parses every page");

    // The same walk with a client that does not decode the page, only finds the next offset:
    // closer to the server's own cost.
    let (pages, _, bytes, secs) = walk
        .run(|body| Ok((!body.starts_with(b"{\"data\":[]")).then(|| (0, find_offset(body)))))
        .await?;
    report(pages, events, bytes, secs, "client only finds the offset");
    Ok(())
}

type BoxError = Box<dyn std::error::Error>;

/// One client's walk over every page of the query `base`.
struct Walk<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    token: &'a str,
}

impl Walk<'_> {
    /// Pages until `read_page` says the page was empty (`None`) or gives no next offset; it
    /// returns the page's event count and next offset. Gives pages, events, bytes and seconds.
    async fn run(
        &self,
        read_page: impl Fn(&[u8]) -> Result<Option<(u64, Option<String>)>, BoxError>,
    ) -> Result<(u64, u64, u64, f64), BoxError> {
        let mut offset: Option<String> = None;
        let (mut pages, mut seen, mut bytes) = (0u64, 0u64, 0u64);
        let started = Instant::now();
        loop {
            let url = match &offset {
                Some(o) => format!("{}&offset={o}", self.base),
                None => self.base.to_owned(),
            };
            let body = self
                .http
                .get(&url)
                .bearer_auth(self.token)
                .send()
                .await?
                .bytes()
                .await?;
            bytes += body.len() as u64;
            pages += 1;
            let Some((n, next)) = read_page(&body)? else {
                break;
            };
            seen += n;
            offset = next;
            if offset.is_none() {
                break;
            }
        }
        Ok((pages, seen, bytes, started.elapsed().as_secs_f64()))
    }
}

fn report(pages: u64, events: u64, bytes: u64, secs: f64, client: &str) {
    println!(
        "served {events} events in {pages} pages in {secs:.2} s: {:.0} pages/s, {:.0} events/s, {:.1} MiB/s ({client})",
        pages as f64 / secs,
        events as f64 / secs,
        bytes as f64 / secs / (1024.0 * 1024.0),
    );
}

/// The `next_page.offset` of a page, found by searching from the end of the body.
fn find_offset(body: &[u8]) -> Option<String> {
    let key = b"\"next_page\":{\"offset\":\"";
    let at = body.windows(key.len()).rposition(|w| w == key)? + key.len();
    let len = body[at..].iter().position(|&b| b == b'"')?;
    Some(String::from_utf8_lossy(&body[at..at + len]).into_owned())
}
