//! The HTTP side: accepting connections, the audit-log endpoint, the admin routes.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::AppendError;
use crate::clock::{Clock, format_ms, ms_to_datetime};
use crate::conn::{ConnCtl, CutEnd, FaultIo, MockBody};
use crate::faults::{Fault, FaultPlan, phrase};
use crate::generate::{FLOOR_MS, Generator, event_gid};
use crate::json::JsonOut;
use crate::limits::{CONCURRENCY_RETRY_AFTER, ConcurrencyCap, RateLimiter, Slot};
use crate::offset::{self, TokenData, TokenError};
use crate::prng::SplitMix64;
use crate::record::{CursorPosition, RequestRecord};
use crate::store::{ACTOR_TYPES, Cursor, Filters, Store, actor_type_code};

/// Where a client reads about errors.
const HELP: &str =
    "See https://developers.asana.com/docs/errors for what this error means and how to fix it.";
/// 90 days: events older than this (by the server clock) are no longer served.
pub(crate) const RETENTION_MS: i64 = 90 * 86_400_000;
const API_PREFIX: &str = "/api/1.0";

/// Settings that do not change while serving.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) workspace_gid: String,
    pub(crate) tokens: Vec<String>,
    pub(crate) forbidden_tokens: Vec<String>,
    pub(crate) unpaid_tokens: Vec<String>,
    pub(crate) page_default: usize,
    pub(crate) concurrency: Option<u32>,
    pub(crate) offset_lifetime_ms: Option<i64>,
    pub(crate) base_url: String,
    /// How many request records are kept.
    pub(crate) log_capacity: usize,
    /// Late events among generated appends, if any.
    pub(crate) late: Option<Late>,
}

/// Which generated appends are late, and how late: a fraction of them, chosen by the seed and
/// the event's number, get a `created_at` up to `max_age_ms` before the time they are
/// appended at.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Late {
    pub(crate) fraction: f64,
    pub(crate) max_age_ms: i64,
}

/// The salt that makes the late draws independent of the event's own content.
const LATE_SALT: u64 = 0x6c61_7465;

/// One workspace served: its gid, its events and what its queries have matched.
#[derive(Debug)]
pub(crate) struct Workspace {
    pub(crate) gid: String,
    store: RwLock<Store>,
    generator: Generator,
    /// Per query: whether it has matched an event, and how far the store was searched.
    matched: Mutex<HashMap<Filters, (bool, usize)>>,
}

impl Workspace {
    pub(crate) fn new(gid: String, store: Store, generator: Generator) -> Self {
        Workspace {
            gid,
            store: RwLock::new(store),
            generator,
            matched: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn read_store(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_store(&self) -> std::sync::RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Everything the connections share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) cfg: Config,
    /// The workspaces served; the first is [`Config::workspace_gid`].
    pub(crate) workspaces: Vec<Workspace>,
    /// Workspace gid to index in `workspaces` (empty when there is only one).
    by_gid: HashMap<String, usize>,
    /// Which workspace the next live event goes to.
    live_next: AtomicUsize,
    /// Live arrival paused (`POST /_mock/live?paused=true`).
    pub(crate) live_paused: AtomicBool,
    pub(crate) clock: Clock,
    pub(crate) faults: RwLock<FaultPlan>,
    pub(crate) log: Mutex<VecDeque<RequestRecord>>,
    pub(crate) counter: AtomicU64,
    pub(crate) rate: Option<RateLimiter>,
    pub(crate) cap: ConcurrencyCap,
    key: (u64, u64),
}

impl Shared {
    pub(crate) fn new(
        cfg: Config,
        workspaces: Vec<Workspace>,
        clock: Clock,
        faults: FaultPlan,
        rate: Option<RateLimiter>,
        key: (u64, u64),
    ) -> Self {
        assert!(
            !workspaces.is_empty(),
            "a server serves at least one workspace"
        );
        let by_gid = if workspaces.len() > 1 {
            workspaces
                .iter()
                .enumerate()
                .map(|(i, w)| (w.gid.clone(), i))
                .collect()
        } else {
            HashMap::new()
        };
        Shared {
            cfg,
            workspaces,
            by_gid,
            live_next: AtomicUsize::new(0),
            live_paused: AtomicBool::new(false),
            clock,
            faults: RwLock::new(faults),
            log: Mutex::new(VecDeque::new()),
            counter: AtomicU64::new(0),
            rate,
            cap: ConcurrencyCap::default(),
            key,
        }
    }

    /// The first workspace's store.
    pub(crate) fn read_store(&self) -> std::sync::RwLockReadGuard<'_, Store> {
        self.workspaces[0].read_store()
    }

    /// The index of the workspace with this gid.
    fn workspace_index(&self, gid: &str) -> Option<usize> {
        if self.workspaces.len() == 1 {
            (self.workspaces[0].gid == gid).then_some(0)
        } else {
            self.by_gid.get(gid).copied()
        }
    }

    /// Events stored over all workspaces.
    pub(crate) fn total_events(&self) -> usize {
        self.workspaces.iter().map(|w| w.read_store().len()).sum()
    }

    /// The oldest `created_at` still served.
    pub(crate) fn visible_from_ms(&self) -> i64 {
        (self.clock.now_ms() - RETENTION_MS).max(FLOOR_MS)
    }

    /// `created_at` for an event appended now: the clock, but never before the newest event
    /// nor before the floor.
    fn append_ms(&self, store: &Store) -> i64 {
        self.clock
            .now_ms()
            .max(store.last_ms().unwrap_or(i64::MIN))
            .max(FLOOR_MS)
    }

    /// Appends `n` generated events to the first workspace; returns its store's new size.
    pub(crate) fn append_generated(&self, n: usize) -> usize {
        self.append_generated_to(0, n)
    }

    /// Appends `n` generated events to workspace `index`; returns its store's new size.
    fn append_generated_to(&self, index: usize, n: usize) -> usize {
        let workspace = &self.workspaces[index];
        let mut store = workspace.write_store();
        let ms = self.append_ms(&store);
        let mut any_late = false;
        for _ in 0..n {
            let seq = store.len() as u64;
            match self.late_ms(&workspace.generator, seq, ms) {
                Some(late_ms) => {
                    store.insert_generated(&workspace.generator, seq, late_ms);
                    any_late = true;
                }
                None => store.push_generated(&workspace.generator, seq, ms, false),
            }
        }
        if any_late {
            // "Searched up to position N" no longer covers what was stored before N.
            workspace
                .matched
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
        }
        store.len()
    }

    /// Appends `n` generated events spread round-robin over the workspaces.
    fn append_live(&self, n: usize) {
        let count = self.workspaces.len();
        if count == 1 {
            self.append_generated_to(0, n);
            return;
        }
        for _ in 0..n {
            let index = self.live_next.fetch_add(1, Ordering::Relaxed) % count;
            self.append_generated_to(index, 1);
        }
    }

    /// The `created_at` of generated event `seq`, appended at `ms`, when it is to be late.
    fn late_ms(&self, generator: &Generator, seq: u64, ms: i64) -> Option<i64> {
        let late = self.cfg.late?;
        let mut r = SplitMix64::derive(generator.config().seed ^ LATE_SALT, seq);
        if !r.chance(late.fraction) {
            return None;
        }
        let age = 1 + r.below(late.max_age_ms.max(1) as u64) as i64;
        Some((ms - age).max(FLOOR_MS))
    }

    /// Appends the given event objects to the first workspace, all or none; returns its
    /// store's new size.
    pub(crate) fn append_values(&self, values: Vec<Value>) -> Result<usize, AppendError> {
        let workspace = &self.workspaces[0];
        let mut store = workspace.write_store();
        let mut last = store.last_ms().unwrap_or(i64::MIN);
        let default_ms = self.append_ms(&store);
        let mut prepared = Vec::with_capacity(values.len());
        for (index, value) in values.into_iter().enumerate() {
            let Value::Object(mut map) = value else {
                return Err(AppendError::NotAnObject { index });
            };
            let ms = match map.get("created_at") {
                None | Some(Value::Null) => {
                    let ms = default_ms.max(last);
                    map.insert("created_at".into(), Value::String(format_ms(ms)));
                    ms
                }
                Some(Value::String(s)) => {
                    let ms = chrono::DateTime::parse_from_rfc3339(s)
                        .map_err(|_| AppendError::BadCreatedAt {
                            index,
                            value: s.clone(),
                        })?
                        .timestamp_millis();
                    if ms < last || ms < FLOOR_MS {
                        return Err(AppendError::OutOfOrder {
                            index,
                            value: s.clone(),
                        });
                    }
                    ms
                }
                Some(other) => {
                    return Err(AppendError::BadCreatedAt {
                        index,
                        value: other.to_string(),
                    });
                }
            };
            last = ms;
            if !map.contains_key("gid") {
                let seq = (store.len() + index) as u64;
                let gid = event_gid(workspace.generator.config().seed, seq).to_string();
                map.insert("gid".into(), Value::String(gid));
            }
            prepared.push((ms, Value::Object(map)));
        }
        for (ms, value) in prepared {
            let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
            let event_type = text(value.get("event_type"));
            let actor_type = text(value.pointer("/actor/actor_type"));
            let actor_gid = text(value.pointer("/actor/gid"));
            let resource_gid = text(value.pointer("/resource/gid"));
            let json = serde_json::to_vec(&value).expect("a JSON value serializes");
            store.push_json(
                &json,
                ms,
                event_type.as_deref(),
                actor_type.as_deref(),
                actor_gid.as_deref(),
                resource_gid.as_deref(),
            );
        }
        Ok(store.len())
    }

    fn ever_matched(workspace: &Workspace, store: &Store, filters: &Filters) -> bool {
        let mut cache = workspace.matched.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        let entry = cache.entry(filters.clone()).or_insert((false, 0));
        if !entry.0 {
            entry.0 = store.any_match(filters, entry.1);
            entry.1 = store.len();
        }
        entry.0
    }

    fn push_record(&self, record: RequestRecord) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        while log.len() >= self.cfg.log_capacity.max(1) {
            log.pop_front();
        }
        log.push_back(record);
    }
}

/// Accepts connections until the task is aborted (which also aborts every connection).
pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, Arc::clone(&shared)));
                }
                // Out of file descriptors and the like: back off a little and go on.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let ctl = Arc::new(ConnCtl::default());
    let io = TokioIo::new(FaultIo::new(stream, Arc::clone(&ctl)));
    let service = hyper::service::service_fn(move |req| {
        let shared = Arc::clone(&shared);
        let ctl = Arc::clone(&ctl);
        async move { handle(shared, ctl, req).await }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service)
        .await;
}

/// Appends generated events at `per_sec` (real time) until the server goes away.
pub(crate) async fn live_arrival(shared: Weak<Shared>, per_sec: f64) {
    let start = tokio::time::Instant::now();
    let tick = Duration::from_secs_f64((1.0 / per_sec).clamp(0.01, 1.0));
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut appended = 0u64;
    loop {
        interval.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let due = (start.elapsed().as_secs_f64() * per_sec) as u64;
        if due > appended {
            // While paused the due events are skipped, not saved up for later.
            if !shared.live_paused.load(Ordering::Relaxed) {
                shared.append_live((due - appended) as usize);
            }
            appended = due;
        }
    }
}

/// A response before it meets the wire.
struct Reply {
    status: u16,
    retry_after: Option<u64>,
    body: Vec<u8>,
    events: usize,
    offset: Option<CursorPosition>,
}

impl Reply {
    fn error(status: u16, message: &str) -> Self {
        Reply {
            status,
            retry_after: None,
            body: error_body(message, None),
            events: 0,
            offset: None,
        }
    }
}

/// `{"errors":[{"message":…,"help":…[,"phrase":…]}]}`
pub(crate) fn error_body(message: &str, phrase: Option<&str>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(b"{\"errors\":[");
    let mut o = JsonOut::new(&mut buf);
    o.begin();
    o.str("message", message);
    o.str("help", HELP);
    o.opt_str("phrase", phrase);
    o.end();
    buf.extend_from_slice(b"]}");
    buf
}

fn server_error(status: u16, seed: u64, n: u64) -> Reply {
    let message = match status {
        500 => "Server Error: the request could not be completed.",
        502 => "Bad Gateway: an upstream server did not answer properly.",
        _ => "Service Unavailable: the API is temporarily overloaded or down for maintenance.",
    };
    let phrase = phrase(seed, n);
    Reply {
        status,
        retry_after: None,
        body: error_body(message, Some(&phrase)),
        events: 0,
        offset: None,
    }
}

fn too_many(message: &str, retry_after: u64) -> Reply {
    Reply {
        retry_after: Some(retry_after),
        ..Reply::error(429, message)
    }
}

fn bearer(req: &Request<Incoming>) -> Option<&str> {
    let value = req
        .headers()
        .get(hyper::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn workspace_of(path: &str) -> Option<&str> {
    let rest = path
        .strip_prefix(API_PREFIX)?
        .strip_prefix("/workspaces/")?;
    let gid = rest.strip_suffix("/audit_log_events")?;
    (!gid.is_empty() && !gid.contains('/')).then_some(gid)
}

/// Route, credentials and limits: everything decided before the request's parameters.
/// Gives the concurrency slot and the index of the workspace asked for.
fn admit(shared: &Shared, req: &Request<Incoming>) -> Result<(Slot, usize), Reply> {
    let path = req.uri().path();
    let Some(workspace) = workspace_of(path) else {
        return Err(Reply::error(
            404,
            &format!(
                "No route matches {path}; this server answers GET {API_PREFIX}/workspaces/{{workspace_gid}}/audit_log_events."
            ),
        ));
    };
    if req.method() != Method::GET {
        return Err(Reply::error(
            405,
            &format!("Method {} is not allowed here; use GET.", req.method()),
        ));
    }
    let cfg = &shared.cfg;
    let Some(token) = bearer(req) else {
        return Err(Reply::error(
            401,
            "Not Authorized: send a personal access token or OAuth token as 'Authorization: Bearer <token>'.",
        ));
    };
    if cfg.forbidden_tokens.iter().any(|t| t == token) {
        return Err(Reply::error(
            403,
            "Forbidden: this token may not read the audit log. The Audit Log API is only available to a service account of an Enterprise or Enterprise+ domain; create a service account in the admin console and use its token.",
        ));
    }
    if cfg.unpaid_tokens.iter().any(|t| t == token) {
        return Err(Reply::error(
            402,
            "Payment Required: the audit log is not included in this domain's plan; it needs Enterprise or Enterprise+.",
        ));
    }
    if !cfg.tokens.iter().any(|t| t == token) {
        return Err(Reply::error(
            401,
            "Not Authorized: the bearer token is not valid (unknown, revoked or expired).",
        ));
    }
    if let Some(rate) = &shared.rate
        && let Err(wait) = rate.check(token, shared.clock.limiter_now())
    {
        return Err(too_many(
            &format!(
                "Rate limit exceeded: this token may make {} requests per minute; retry after {wait} seconds.",
                rate.per_minute()
            ),
            wait,
        ));
    }
    let slot = match shared.cap.enter(token, cfg.concurrency) {
        Some(slot) => slot,
        None => {
            return Err(too_many(
                &format!(
                    "Concurrency limit exceeded: this token may have at most {} requests in flight.",
                    cfg.concurrency.unwrap_or_default()
                ),
                CONCURRENCY_RETRY_AFTER.as_secs(),
            ));
        }
    };
    let Some(index) = shared.workspace_index(workspace) else {
        return Err(Reply::error(
            404,
            &format!(
                "workspace: Unknown object: {workspace}. No workspace with this gid is visible to this token."
            ),
        ));
    };
    Ok((slot, index))
}

/// The known query parameters, last value wins, empty values ignored.
///
/// Like the rest of the mock, this reads requests with code of its own rather than the
/// library's (whose `Head` has the same shape for an event's members): the mock is the
/// independent oracle the client is tested against.
#[derive(Default)]
struct Params<'a> {
    start_at: Option<&'a str>,
    end_at: Option<&'a str>,
    event_type: Option<&'a str>,
    actor_type: Option<&'a str>,
    actor_gid: Option<&'a str>,
    resource_gid: Option<&'a str>,
    limit: Option<&'a str>,
    offset: Option<&'a str>,
}

impl<'a> Params<'a> {
    fn from(query: &'a [(String, String)]) -> Self {
        let mut p = Params::default();
        for (k, v) in query {
            if v.is_empty() {
                continue;
            }
            let slot = match k.as_str() {
                "start_at" => &mut p.start_at,
                "end_at" => &mut p.end_at,
                "event_type" => &mut p.event_type,
                "actor_type" => &mut p.actor_type,
                "actor_gid" => &mut p.actor_gid,
                "resource_gid" => &mut p.resource_gid,
                "limit" => &mut p.limit,
                "offset" => &mut p.offset,
                // opt_pretty, opt_fields and anything else: ignored, as Asana does.
                _ => continue,
            };
            *slot = Some(v.as_str());
        }
        p
    }

    /// The path and query of the next page (relative to the API root).
    fn next_path(&self, workspace: &str, token: &str) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("start_at", self.start_at),
            ("end_at", self.end_at),
            ("event_type", self.event_type),
            ("actor_type", self.actor_type),
            ("actor_gid", self.actor_gid),
            ("resource_gid", self.resource_gid),
            ("limit", self.limit),
        ] {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
        q.append_pair("offset", token);
        format!("/workspaces/{workspace}/audit_log_events?{}", q.finish())
    }
}

fn parse_time(name: &str, value: &str) -> Result<i64, Reply> {
    chrono::DateTime::parse_from_rfc3339(value).map(|t| t.timestamp_millis()).map_err(|_| {
        Reply::error(
            400,
            &format!("{name}: Invalid date-time {value:?}; expected RFC 3339, for example 2024-01-31T23:59:59.000Z."),
        )
    })
}

fn position(shared: &Shared, cursor: Cursor) -> CursorPosition {
    match cursor {
        Cursor::Start => CursorPosition::Start,
        Cursor::After { ms, key } => CursorPosition::After {
            created_at: ms_to_datetime(ms),
            // A token from another server names no stored event: its key stands in.
            seq: shared.read_store().position_of(cursor).unwrap_or(key),
        },
    }
}

/// The audit-log endpoint proper, once the request is admitted.
fn serve_page(shared: &Shared, workspace: usize, query: &[(String, String)]) -> Reply {
    match try_serve_page(shared, &shared.workspaces[workspace], query) {
        Ok(reply) | Err(reply) => reply,
    }
}

fn try_serve_page(
    shared: &Shared,
    workspace: &Workspace,
    query: &[(String, String)],
) -> Result<Reply, Reply> {
    let cfg = &shared.cfg;
    let p = Params::from(query);
    let limit = match p.limit {
        None => cfg.page_default,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n @ 1..=100) => n as usize,
            _ => {
                return Err(Reply::error(
                    400,
                    &format!("limit: Value must be an integer between 1 and 100, got {raw:?}."),
                ));
            }
        },
    };
    let actor_type = match p.actor_type {
        None => None,
        Some(raw) => match actor_type_code(Some(raw)) {
            code if (code as usize) < ACTOR_TYPES.len() => Some(code),
            _ => {
                return Err(Reply::error(
                    400,
                    &format!(
                        "actor_type: {raw:?} is not one of: {}.",
                        ACTOR_TYPES.join(", ")
                    ),
                ));
            }
        },
    };
    let filters = Filters {
        start_ms: p.start_at.map(|v| parse_time("start_at", v)).transpose()?,
        end_ms: p.end_at.map(|v| parse_time("end_at", v)).transpose()?,
        event_type: p.event_type.map(str::to_owned),
        actor_type,
        actor_gid: p.actor_gid.map(str::to_owned),
        resource_gid: p.resource_gid.map(str::to_owned),
    };
    let fingerprint = offset::fingerprint(&workspace.gid, &filters);
    let now_ms = shared.clock.now_ms();
    let mut offset_position = None;
    let cursor = match p.offset {
        None => Cursor::Start,
        Some(token) => {
            match offset::decode(
                shared.key,
                token,
                fingerprint,
                now_ms,
                cfg.offset_lifetime_ms,
            ) {
                Ok(data) => {
                    offset_position = Some(position(shared, data.cursor));
                    data.cursor
                }
                Err((problem, data)) => {
                    let message = match problem {
                        TokenError::Malformed => {
                            "offset: Invalid offset token: it is not a token this API handed out (malformed or cut short)."
                                .to_owned()
                        }
                        TokenError::BadSignature => {
                            "offset: Invalid offset token: its signature does not match, so it was tampered with or issued by another server."
                                .to_owned()
                        }
                        TokenError::OtherQuery => {
                            "offset: This offset token belongs to a different query; send the same filters (start_at, end_at, event_type, actor_type, actor_gid, resource_gid) as the request that returned it."
                                .to_owned()
                        }
                        TokenError::Expired { issued_ms, lifetime_ms } => format!(
                            "offset: This offset token has expired (issued at {}, valid for {} s); start again without an offset, from the last created_at you stored.",
                            format_ms(issued_ms),
                            lifetime_ms / 1000
                        ),
                    };
                    let mut reply = Reply::error(400, &message);
                    reply.offset = data.map(|d| position(shared, d.cursor));
                    return Err(reply);
                }
            }
        }
    };

    let store = workspace.read_store();
    let mut body = Vec::with_capacity(limit * 800 + 512);
    body.extend_from_slice(b"{\"data\":[");
    let (returned, next) = store.page(&filters, cursor, limit, shared.visible_from_ms(), &mut body);
    let matched =
        returned > 0 || p.offset.is_some() || Shared::ever_matched(workspace, &store, &filters);
    drop(store);
    body.extend_from_slice(b"],\"next_page\":");
    if matched {
        let token = offset::encode(
            shared.key,
            TokenData {
                issued_ms: now_ms,
                cursor: next,
                query: fingerprint,
            },
        );
        let path = p.next_path(&workspace.gid, &token);
        let uri = format!("{}{path}", cfg.base_url);
        let mut o = JsonOut::new(&mut body);
        o.begin();
        o.str("offset", &token);
        o.str("path", &path);
        o.str("uri", &uri);
        o.end();
    } else {
        body.extend_from_slice(b"null");
    }
    body.push(b'}');
    Ok(Reply {
        status: 200,
        retry_after: None,
        body,
        events: returned,
        offset: offset_position,
    })
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn into_response(
    reply: Reply,
    fault: Option<&Fault>,
    ctl: &Arc<ConnCtl>,
    number: u64,
) -> Response<MockBody> {
    let mut builder = Response::builder()
        .status(status_code(reply.status))
        .header(CONTENT_TYPE, "application/json; charset=UTF-8")
        .header("x-mock-request-number", number);
    if let Some(secs) = reply.retry_after {
        builder = builder.header(RETRY_AFTER, secs);
    }
    let full_len = reply.body.len();
    let half = full_len / 2;
    let body = match fault {
        Some(Fault::TruncatedBody) => {
            builder = builder.header(CONTENT_LENGTH, full_len);
            let mut bytes = reply.body;
            bytes.truncate(half);
            MockBody::cut(bytes, CutEnd::Close, Arc::clone(ctl))
        }
        Some(Fault::ResetMidBody) => {
            builder = builder.header(CONTENT_LENGTH, full_len);
            let mut bytes = reply.body;
            bytes.truncate(half);
            MockBody::cut(bytes, CutEnd::Reset, Arc::clone(ctl))
        }
        Some(Fault::TruncatedJson) => {
            let mut bytes = reply.body;
            bytes.truncate(half);
            MockBody::full(bytes)
        }
        _ => MockBody::full(reply.body),
    };
    builder.body(body).expect("static response parts are valid")
}

async fn handle(
    shared: Arc<Shared>,
    ctl: Arc<ConnCtl>,
    req: Request<Incoming>,
) -> Result<Response<MockBody>, io::Error> {
    if req.uri().path().starts_with("/_mock/") {
        return Ok(admin(&shared, req).await);
    }
    let number = shared.counter.fetch_add(1, Ordering::SeqCst) + 1;
    let (decision, fault_seed) = {
        let plan = shared.faults.read().unwrap_or_else(|e| e.into_inner());
        (plan.decide(number), plan.fault_seed())
    };
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let mut record = RequestRecord {
        number,
        at: ms_to_datetime(shared.clock.now_ms()),
        method: req.method().to_string(),
        path: req.uri().path().to_owned(),
        query,
        offset: None,
        status: None,
        fault: decision.fault.clone(),
        delay: decision.delay,
        events_returned: 0,
    };

    // Credentials and limits are checked (and the concurrency slot held) before the delay,
    // so a delayed request counts as in flight the whole time.
    let (slot, refused) = match admit(&shared, &req) {
        Ok((slot, workspace)) => (Some(slot), Ok(workspace)),
        Err(reply) => (None, Err(reply)),
    };
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    let reply = match &decision.fault {
        Some(Fault::ResetBeforeResponse) => {
            ctl.request_reset();
            shared.push_record(record);
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "injected fault: reset before the response",
            ));
        }
        Some(Fault::TooManyRequests { retry_after_secs }) => too_many(
            &format!("Rate limit exceeded; retry after {retry_after_secs} seconds."),
            u64::from(*retry_after_secs),
        ),
        Some(fault) if fault.status().is_some() => {
            server_error(fault.status().unwrap_or(500), fault_seed, number)
        }
        _ => match refused {
            Err(reply) => reply,
            Ok(workspace) => serve_page(&shared, workspace, &record.query),
        },
    };
    drop(slot);
    record.status = Some(reply.status);
    record.events_returned = reply.events;
    record.offset = reply.offset;
    let response = into_response(reply, decision.fault.as_ref(), &ctl, number);
    shared.push_record(record);
    Ok(response)
}

fn json_response(status: u16, body: Vec<u8>) -> Response<MockBody> {
    Response::builder()
        .status(status_code(status))
        .header(CONTENT_TYPE, "application/json; charset=UTF-8")
        .body(MockBody::full(body))
        .expect("static response parts are valid")
}

/// `POST /_mock/events` (append to the first workspace: a JSON array of events, or
/// `?count=N` / `{"count":N}` for generated ones), `POST /_mock/live?paused=true|false`
/// (pause or resume live arrival) and `GET /_mock/status`.
async fn admin(shared: &Shared, req: Request<Incoming>) -> Response<MockBody> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let count_param: Option<usize> = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "count")
            .and_then(|(_, v)| v.parse().ok())
    });
    match (method, path.as_str()) {
        (Method::POST, "/_mock/events") => {
            let body = match req.into_body().collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) => {
                    return json_response(
                        400,
                        error_body(&format!("could not read the body: {e}"), None),
                    );
                }
            };
            let result = if let Some(count) = count_param {
                Ok(shared.append_generated(count))
            } else {
                match serde_json::from_slice::<Value>(&body) {
                    Ok(Value::Array(events)) => shared.append_values(events),
                    Ok(Value::Object(map))
                        if map.get("count").and_then(Value::as_u64).is_some() =>
                    {
                        Ok(shared.append_generated(map["count"].as_u64().unwrap_or(0) as usize))
                    }
                    Ok(_) => Err(AppendError::NotAnObject { index: 0 }),
                    Err(e) => {
                        return json_response(
                            400,
                            error_body(&format!("the body is not JSON: {e}"), None),
                        );
                    }
                }
            };
            match result {
                Ok(total) => json_response(200, format!("{{\"total\":{total}}}").into_bytes()),
                Err(e) => json_response(400, error_body(&e.to_string(), None)),
            }
        }
        (Method::POST, "/_mock/live") => {
            let paused = req.uri().query().and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "paused")
                    .map(|(_, v)| v == "true" || v == "1")
            });
            match paused {
                Some(paused) => {
                    shared.live_paused.store(paused, Ordering::SeqCst);
                    json_response(200, format!("{{\"paused\":{paused}}}").into_bytes())
                }
                None => json_response(
                    400,
                    error_body("expected ?paused=true or ?paused=false", None),
                ),
            }
        }
        (Method::GET, "/_mock/status") => {
            let mut body = format!(
                "{{\"events\":{},\"now\":\"{}\",\"requests\":{},\"rate_limited\":{}",
                shared.total_events(),
                format_ms(shared.clock.now_ms()),
                shared.counter.load(Ordering::SeqCst),
                shared.rate.as_ref().map_or(0, |rate| rate.refused())
            );
            if shared.workspaces.len() > 1 {
                // Events per workspace, in the order of their gids' derivation.
                let counts: Vec<String> = shared
                    .workspaces
                    .iter()
                    .map(|w| w.read_store().len().to_string())
                    .collect();
                body.push_str(&format!(
                    ",\"workspaces\":{},\"workspace_events\":[{}]",
                    shared.workspaces.len(),
                    counts.join(",")
                ));
            }
            body.push('}');
            json_response(200, body.into_bytes())
        }
        _ => json_response(404, error_body(&format!("no admin route {path}"), None)),
    }
}
