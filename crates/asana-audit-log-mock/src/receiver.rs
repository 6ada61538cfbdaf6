//! A webhook receiver for tests of the collector's alert delivery: it answers each POST as a
//! script says (a status, or a stall before answering), then 200, and keeps the JSON bodies it
//! answered with 200 after the script. It shares nothing with the collector's delivery code.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::Value;

/// How the receiver answers one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Answer with this status (and a small JSON error body unless it is 2xx).
    Status(u16),
    /// Wait this long, then answer 200 (the body is not kept: the sender has given up).
    Stall(Duration),
}

/// A local webhook receiver on 127.0.0.1, serving until dropped.
#[derive(Debug)]
pub struct WebhookReceiver {
    addr: std::net::SocketAddr,
    url: String,
    received: Arc<Mutex<Vec<Value>>>,
    server: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    /// Starts a receiver on a free port that answers its first requests as `script` says,
    /// then 200.
    pub async fn start(script: &[Answer]) -> std::io::Result<WebhookReceiver> {
        WebhookReceiver::start_on(0, script).await
    }

    /// Like [`start`](Self::start), on 127.0.0.1:`port` (0: a free one), e.g. to come up
    /// where a sender has been failing to connect.
    pub async fn start_on(port: u16, script: &[Answer]) -> std::io::Result<WebhookReceiver> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let url = format!("http://{addr}/hooks/receiver");
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
        let kept = received.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (kept, script) = (kept.clone(), script.clone());
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    answer(request, kept.clone(), script.clone())
                });
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        Ok(WebhookReceiver {
            addr,
            url,
            received,
            server,
        })
    }

    /// The URL to POST to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address it listens on (127.0.0.1 and its port).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// The bodies answered with 200 after the script, in the order received.
    pub fn received(&self) -> Vec<Value> {
        self.received.lock().expect("not poisoned").clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(
    request: Request<Incoming>,
    kept: Arc<Mutex<Vec<Value>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let scripted = script.lock().expect("not poisoned").pop_front();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let status = match scripted {
        Some(Answer::Stall(wait)) => {
            tokio::time::sleep(wait).await;
            200
        }
        Some(Answer::Status(status)) => status,
        None => {
            match serde_json::from_slice(&body) {
                Ok(value) => kept.lock().expect("not poisoned").push(value),
                Err(_) => return Ok(status_response(400)),
            }
            200
        }
    };
    Ok(status_response(status))
}

fn status_response(status: u16) -> Response<Full<Bytes>> {
    let body: &'static [u8] = if (200..300).contains(&status) {
        b""
    } else {
        b"{\"error\":\"scripted\"}"
    };
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::from_static(body)))
        .expect("a valid response")
}
