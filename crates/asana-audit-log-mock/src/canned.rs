//! A test tool: a loopback HTTP/1.1 server that answers with canned bytes.
//!
//! [`MockServer`](crate::MockServer) behaves like the real API, over hyper, so it cannot send
//! what no well-behaved server would: a `Content-Length` of 100 GiB with no body, a body that
//! trickles forever, a redirect to another host, silence. A [`CannedServer`] writes exactly
//! the bytes a test gives it, so a client can be tested against such answers. It speaks just
//! enough HTTP for that: it reads each request's head (request bodies are not read), records
//! it, and asks a script what to answer.
//!
//! * It listens on `127.0.0.1` only, on a port of the system's choosing.
//! * Request `i` (counted from 0 across all connections, in the order the heads arrive) gets
//!   `script(i, &request)`. A [`Reply`] says whether the connection then closes or waits for
//!   the next request on it.
//! * Every loop ends: a head is read up to 64 KiB, a silent reply holds the connection for an
//!   hour at most, a stream ends after its total or as soon as the client goes away, and
//!   dropping the server stops the listener and every connection it opened.
//!
//! # Example
//!
//! ```
//! use asana_audit_log_mock::canned::{CannedServer, Reply};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The first request is refused with a redirect, every later one gets an empty page.
//! let server = CannedServer::start(|i, _request| match i {
//!     0 => Reply::response("302 Found", "Location: http://127.0.0.1:9/\r\n", ""),
//!     _ => Reply::response(
//!         "200 OK",
//!         "Content-Type: application/json\r\n",
//!         r#"{"data":[],"next_page":null}"#,
//!     ),
//! })
//! .await?;
//!
//! let url = format!("{}/workspaces/1/audit_log_events?limit=5", server.base_url());
//! let http = reqwest::Client::builder()
//!     .redirect(reqwest::redirect::Policy::none())
//!     .build()?;
//! assert_eq!(http.get(&url).send().await?.status().as_u16(), 302);
//! let page: serde_json::Value = http.get(&url).send().await?.json().await?;
//! assert_eq!(page["next_page"], serde_json::Value::Null);
//!
//! assert_eq!(server.hits(), 2);
//! assert_eq!(server.requests()[1].query("limit").as_deref(), Some("5"));
//! # Ok(())
//! # }
//! ```

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// The most bytes a request head may have; a longer one closes its connection unanswered.
const MAX_HEAD_BYTES: u64 = 64 * 1024;

/// How long [`Reply::silent`] holds a connection at the most.
const SILENCE: Duration = Duration::from_secs(3600);

/// The head of one request a [`CannedServer`] received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CannedRequest {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request target as sent, e.g. `/api/1.0/workspaces/1/audit_log_events?limit=100`.
    pub target: String,
    /// The header lines in the order sent: names as spelled, values without surrounding white
    /// space.
    pub headers: Vec<(String, String)>,
}

impl CannedRequest {
    /// The target's path, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// The target's query string (after `?`), empty when there is none.
    pub fn query_string(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, query)| query)
    }

    /// The first value of query parameter `key`, as sent (not percent-decoded).
    pub fn query(&self, key: &str) -> Option<String> {
        self.query_string().split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == key).then(|| v.to_owned())
        })
    }

    /// The first value of header `name` (compared without regard to case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Reads one head from `reader`: `None` when the connection ends (or the head grows past
    /// [`MAX_HEAD_BYTES`]) before the blank line that closes it.
    async fn read(reader: &mut BufReader<TcpStream>) -> Option<CannedRequest> {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let left = MAX_HEAD_BYTES.checked_sub(head.len() as u64)?;
            let mut limited = (&mut *reader).take(left);
            match limited.read_until(b'\n', &mut head).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
        Some(CannedRequest::parse(&String::from_utf8_lossy(&head)))
    }

    fn parse(head: &str) -> CannedRequest {
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap_or_default().split(' ');
        let method = request_line.next().unwrap_or_default().to_owned();
        let target = request_line.next().unwrap_or_default().to_owned();
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
            .collect();
        CannedRequest {
            method,
            target,
            headers,
        }
    }
}

/// What a [`CannedServer`] does with one request.
#[derive(Clone, Debug)]
pub struct Reply(Answer);

#[derive(Clone, Debug)]
enum Answer {
    Bytes {
        bytes: Vec<u8>,
        keep_alive: bool,
    },
    Stream {
        head: Vec<u8>,
        chunk: Vec<u8>,
        pause: Duration,
        total: u64,
    },
    Silent,
}

impl Reply {
    /// Exactly these bytes, then the connection closes (unless [`keep_alive`](Self::keep_alive)).
    pub fn raw(bytes: impl Into<Vec<u8>>) -> Reply {
        Reply(Answer::Bytes {
            bytes: bytes.into(),
            keep_alive: false,
        })
    }

    /// A whole response: the status line `HTTP/1.1 {status}`, a `Content-Length` of the body,
    /// then `headers` as given (complete lines, each ending in `\r\n`; nothing else is added,
    /// not even `Connection: close`), a blank line and `body`. The connection closes after it
    /// (unless [`keep_alive`](Self::keep_alive)).
    pub fn response(status: &str, headers: &str, body: impl AsRef<[u8]>) -> Reply {
        let body = body.as_ref();
        let mut bytes = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{headers}\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body);
        Reply::raw(bytes)
    }

    /// After writing the bytes of [`raw`](Self::raw) or [`response`](Self::response), wait
    /// for the next request on the same connection instead of closing it. Other replies are
    /// left as they are.
    pub fn keep_alive(mut self) -> Reply {
        if let Answer::Bytes { keep_alive, .. } = &mut self.0 {
            *keep_alive = true;
        }
        self
    }

    /// `head` (the status line, headers, the blank line and any start of the body), then
    /// `chunk` again and again until at least `total` bytes of chunks are written or the client
    /// goes away, then close. [`CannedServer::streamed_bytes`] counts the chunk bytes written.
    pub fn stream(head: impl Into<Vec<u8>>, chunk: impl Into<Vec<u8>>, total: u64) -> Reply {
        Reply(Answer::Stream {
            head: head.into(),
            chunk: chunk.into(),
            pause: Duration::ZERO,
            total,
        })
    }

    /// For a [`stream`](Self::stream): wait this long after each chunk. Other replies are left
    /// as they are.
    pub fn pause(mut self, between_chunks: Duration) -> Reply {
        if let Answer::Stream { pause, .. } = &mut self.0 {
            *pause = between_chunks;
        }
        self
    }

    /// Not a byte of answer: the connection is held open (for an hour at the most), then
    /// closed.
    pub fn silent() -> Reply {
        Reply(Answer::Silent)
    }
}

type Script = dyn Fn(usize, &CannedRequest) -> Reply + Send + Sync;

/// What the connections of one server share.
struct Shared {
    script: Box<Script>,
    requests: Mutex<Vec<CannedRequest>>,
    counter: AtomicUsize,
    streamed: AtomicU64,
}

impl Shared {
    fn requests(&self) -> MutexGuard<'_, Vec<CannedRequest>> {
        self.requests.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A loopback HTTP/1.1 server run by a script of canned replies; see the [module](self) docs.
///
/// It stops when dropped: the listener closes and every open connection is dropped.
pub struct CannedServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for CannedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CannedServer")
            .field("addr", &self.addr)
            .field("hits", &self.hits())
            .finish_non_exhaustive()
    }
}

impl Drop for CannedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CannedServer {
    /// Starts a server on `127.0.0.1` whose request `i` (from 0) gets `script(i, &request)`.
    /// Needs a tokio runtime with I/O and time enabled.
    pub async fn start(
        script: impl Fn(usize, &CannedRequest) -> Reply + Send + Sync + 'static,
    ) -> io::Result<CannedServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            script: Box::new(script),
            requests: Mutex::new(Vec::new()),
            counter: AtomicUsize::new(0),
            streamed: AtomicU64::new(0),
        });
        let task = tokio::spawn(accept(listener, shared.clone()));
        Ok(CannedServer { addr, shared, task })
    }

    /// Starts a server whose request `i` gets `replies[i]`, and every request past the end the
    /// last reply again.
    ///
    /// # Panics
    ///
    /// If `replies` is empty.
    pub async fn replies(replies: Vec<Reply>) -> io::Result<CannedServer> {
        assert!(!replies.is_empty(), "a CannedServer needs a reply");
        CannedServer::start(move |i, _| replies[i.min(replies.len() - 1)].clone()).await
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:{port}/api/1.0`, the base URL with Asana's path prefix (the server
    /// itself answers any path).
    pub fn base_url(&self) -> String {
        format!("http://{}/api/1.0", self.addr)
    }

    /// The heads of the requests received so far, in the order they arrived.
    pub fn requests(&self) -> Vec<CannedRequest> {
        self.shared.requests().clone()
    }

    /// The requests received so far, leaving the record empty ([`hits`](Self::hits) still
    /// counts them).
    pub fn take_requests(&self) -> Vec<CannedRequest> {
        std::mem::take(&mut *self.shared.requests())
    }

    /// How many requests have arrived so far.
    pub fn hits(&self) -> usize {
        self.shared.counter.load(Ordering::SeqCst)
    }

    /// How many bytes of [`Reply::stream`] chunks the server has written so far.
    pub fn streamed_bytes(&self) -> u64 {
        self.shared.streamed.load(Ordering::SeqCst)
    }
}

/// Accepts connections until the listener fails or the task is aborted; the connections'
/// tasks live in a `JoinSet`, so they end with this one.
async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    while let Ok((socket, _)) = listener.accept().await {
        while connections.try_join_next().is_some() {}
        connections.spawn(serve(socket, shared.clone()));
    }
}

/// Serves the requests of one connection until it closes.
async fn serve(socket: TcpStream, shared: Arc<Shared>) {
    let mut reader = BufReader::new(socket);
    while let Some(request) = CannedRequest::read(&mut reader).await {
        // Recorded before counted, so that `hits` never runs ahead of `requests`.
        shared.requests().push(request.clone());
        let i = shared.counter.fetch_add(1, Ordering::SeqCst);
        let Reply(answer) = (shared.script)(i, &request);
        let socket = reader.get_mut();
        match answer {
            Answer::Bytes { bytes, keep_alive } => {
                if socket.write_all(&bytes).await.is_err() || !keep_alive {
                    let _ = socket.shutdown().await;
                    return;
                }
            }
            Answer::Stream {
                head,
                chunk,
                pause,
                total,
            } => {
                if socket.write_all(&head).await.is_err() {
                    return;
                }
                let mut sent = 0u64;
                while sent < total && !chunk.is_empty() {
                    if socket.write_all(&chunk).await.is_err() {
                        return;
                    }
                    sent = sent.saturating_add(chunk.len() as u64);
                    shared
                        .streamed
                        .fetch_add(chunk.len() as u64, Ordering::SeqCst);
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                }
                let _ = socket.shutdown().await;
                return;
            }
            Answer::Silent => {
                tokio::time::sleep(SILENCE).await;
                return;
            }
        }
    }
}
