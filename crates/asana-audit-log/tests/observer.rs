//! The request observer sees what the mock server's request log records.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use asana_audit_log::observe::{RequestObserver, RetryReason};
use asana_audit_log_mock::{Fault, FaultPlan, MockServer};
use common::builder_for;
use futures::TryStreamExt;

/// Everything the observer was told, in order.
#[derive(Default)]
struct Seen {
    requests: Mutex<Vec<(String, Option<u16>)>>,
    pages: Mutex<Vec<(usize, u64)>>,
    retries: Mutex<Vec<RetryReason>>,
}

impl RequestObserver for Seen {
    fn request(&self, workspace_gid: &str, status: Option<u16>, _latency: Duration) {
        let mut requests = self.requests.lock().unwrap();
        requests.push((workspace_gid.to_owned(), status));
    }

    fn page(&self, _workspace_gid: &str, events: usize, bytes: u64) {
        self.pages.lock().unwrap().push((events, bytes));
    }

    fn retry(&self, _workspace_gid: &str, reason: RetryReason, _wait: Duration) {
        self.retries.lock().unwrap().push(reason);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_observer_sees_each_request_page_and_retry() {
    let server = MockServer::builder()
        .events(250)
        .seed(5)
        .rate_limit(None)
        .faults(
            FaultPlan::new()
                .on_request(
                    1,
                    Fault::TooManyRequests {
                        retry_after_secs: 30,
                    },
                )
                .on_request(3, Fault::ServiceUnavailable)
                .on_request(4, Fault::TruncatedJson),
        )
        .start()
        .await
        .unwrap();
    let seen = Arc::new(Seen::default());
    let client = builder_for(&server).observer(seen.clone()).build().unwrap();
    let events: Vec<_> = tokio::time::timeout(
        Duration::from_secs(60),
        client
            .audit_log_events(server.workspace_gid())
            .stream()
            .unwrap()
            .try_collect(),
    )
    .await
    .expect("test hung")
    .unwrap();
    assert_eq!(events.len(), 250);

    let log = server.requests();
    let requests = seen.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), log.len());
    for ((workspace, status), record) in requests.iter().zip(&log) {
        assert_eq!(workspace, server.workspace_gid());
        // A body cut short by a proxy is sent with 200 but read as no answer.
        let expected = match record.fault {
            Some(Fault::TruncatedJson) => None,
            _ => record.status,
        };
        assert_eq!(*status, expected, "request {}", record.number);
    }
    let pages = seen.pages.lock().unwrap().clone();
    let served: Vec<usize> = log
        .iter()
        .filter(|r| r.status == Some(200) && r.fault.is_none())
        .map(|r| r.events_returned)
        .collect();
    assert_eq!(
        pages.iter().map(|(events, _)| *events).collect::<Vec<_>>(),
        served
    );
    let bytes: u64 = events.iter().map(|e| e.json().len() as u64).sum();
    assert_eq!(pages.iter().map(|(_, b)| b).sum::<u64>(), bytes);
    assert_eq!(
        *seen.retries.lock().unwrap(),
        [
            RetryReason::RateLimited,
            RetryReason::ServerError,
            RetryReason::InvalidResponse
        ]
    );
}
