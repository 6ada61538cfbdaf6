//! The validated query: workspace, time window, filters and page size.
//!
//! A filter is defined here, whole: its field, its setter on [`EventsRequest`], its
//! validation, its getter, how it is sent to the generated client and how it is described.

use std::fmt;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use asana_audit_log_api::builder::GetAuditLogEvents;

use crate::client::EventsRequest;
use crate::enums::{ActorType, EventType};
use crate::error::Error;

/// The largest page the API serves, and the page size used unless another is set.
pub const MAX_PAGE_SIZE: u32 = 100;

/// How long Asana keeps an audit log event.
pub const RETENTION: std::time::Duration = std::time::Duration::from_secs(90 * 24 * 60 * 60);

/// The first day of Asana's audit log (2021-10-08T00:00:00Z): no event is older.
pub fn log_start() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2021, 10, 8)
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .expect("a valid date")
        .and_utc()
}

/// Whose events to read: an actor type *or* one actor's gid (the API does not combine them).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// Every actor of this type (the `actor_type` filter); only the known types are accepted.
    Type(ActorType),
    /// The actor with this gid (the `actor_gid` filter).
    Gid(String),
}

/// Why a query was rejected before sending anything.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// A gid is not a non-empty string of ASCII digits.
    #[error("{field} must be a numeric gid, got {value:?}")]
    InvalidGid {
        /// `workspace_gid`, `actor_gid` or `resource_gid`.
        field: &'static str,
        /// The rejected value.
        value: String,
    },
    /// The page size is outside 1..=100.
    #[error("page size must be between 1 and 100, got {0}")]
    PageSize(u32),
    /// `start_at` is not before `end_at`.
    #[error("start_at ({start}) must be before end_at ({end})")]
    EmptyWindow {
        /// The start (inclusive).
        start: DateTime<Utc>,
        /// The end (exclusive).
        end: DateTime<Utc>,
    },
    /// An `actor_type` filter with a value the API does not accept.
    #[error(
        "actor type {0:?} cannot be used as a filter: the API only accepts user, asana, \
         asana_support, anonymous and external_administrator"
    )]
    UnsupportedActorType(String),
    /// An `event_type` filter that is empty or not a plain name.
    #[error("event type {0:?} is not a valid event type name (lowercase letters, digits, `_`)")]
    InvalidEventType(String),
    /// `since` reaches further back than a date can express.
    #[error("`since` of {0:?} is out of range")]
    SinceOutOfRange(std::time::Duration),
    /// A backfill without both ends of the window.
    #[error("a backfill needs a bounded window: set start_at (or since) and end_at")]
    UnboundedWindow,
    /// A backfill concurrency outside 1..=50 (the API serves at most 50 concurrent reads).
    #[error("backfill concurrency must be between 1 and 50, got {0}")]
    Concurrency(usize),
    /// A backfill with initial slices per unit of concurrency outside 1..=1000.
    #[error("backfill slices per worker must be between 1 and 1000, got {0}")]
    SlicesPerWorker(usize),
    /// A follow's lookback window outside 1 ms..=90 days.
    #[error("a lookback must be between 1 ms and 90 days, got {0:?}")]
    Lookback(std::time::Duration),
    /// A lookback on a stream that does not follow (`stream`, `pages`, `backfill`).
    #[error("a lookback applies to follow only (a stream that ends reads no window again)")]
    LookbackWithoutFollow,
    /// A backfill with a read-ahead per slice outside 1..=1024 pages.
    #[error("backfill buffered pages must be between 1 and 1024, got {0}")]
    BufferedPages(usize),
}

/// A note about a query that is sent anyway: its window reaches where no events can be.
///
/// The client logs each warning with `tracing::warn!` when a stream starts and never changes
/// the query because of one: asking for more than Asana keeps is harmless (the answer starts
/// later than asked), and the 90-day edge moves while a program runs, so an error would make
/// long-running exports fail at random. Check [`Query::warnings`] to refuse such queries.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryWarning {
    /// `start_at` is before 2021-10-08, when the audit log begins.
    BeforeLogStart {
        /// The query's start.
        start_at: DateTime<Utc>,
    },
    /// `start_at` is older than the 90-day retention: the oldest events asked for are gone.
    BeyondRetention {
        /// The query's start.
        start_at: DateTime<Utc>,
        /// The oldest instant still retained at the time of the check.
        oldest_retained: DateTime<Utc>,
    },
    /// The whole window ended before the oldest retained instant: it matches nothing.
    WindowExpired {
        /// The query's end.
        end_at: DateTime<Utc>,
        /// The oldest instant still retained at the time of the check.
        oldest_retained: DateTime<Utc>,
    },
}

impl fmt::Display for QueryWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BeforeLogStart { start_at } => write!(
                f,
                "start_at {start_at} is before 2021-10-08, when Asana's audit log begins; \
                 events start later than asked"
            ),
            Self::BeyondRetention {
                start_at,
                oldest_retained,
            } => write!(
                f,
                "start_at {start_at} is beyond Asana's 90-day retention; events older than \
                 {oldest_retained} are gone, so results start later than asked"
            ),
            Self::WindowExpired {
                end_at,
                oldest_retained,
            } => write!(
                f,
                "the window ends at {end_at}, before the oldest retained event time \
                 {oldest_retained}; it matches no events"
            ),
        }
    }
}

/// The fields of a query, declared once: the serialized form of [`Query`], and the draft an
/// [`EventsRequest`](crate::EventsRequest) fills in. Only [`QueryFields::validate`] turns it into
/// a `Query`, so every way to make one (builder, cursor file, restart) passes the same checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueryFields {
    pub(crate) workspace_gid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) start_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) end_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) event_type: Option<EventType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) actor: Option<Actor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) resource_gid: Option<String>,
    pub(crate) page_size: u32,
}

/// A validated audit log query: which workspace, which time window, which filters, page size.
///
/// Made by [`EventsRequest::to_query`](crate::EventsRequest::to_query) (or implicitly by its
/// stream methods). It serializes (it is part of a [`Cursor`](crate::Cursor)) and re-validates
/// when deserialized, so a tampered file cannot smuggle in an invalid query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "QueryFields", into = "QueryFields")]
pub struct Query(QueryFields);

impl From<Query> for QueryFields {
    fn from(query: Query) -> Self {
        query.0
    }
}

impl TryFrom<QueryFields> for Query {
    type Error = QueryError;

    fn try_from(fields: QueryFields) -> Result<Self, QueryError> {
        fields.validate()
    }
}

fn check_gid(field: &'static str, value: &str) -> Result<(), QueryError> {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(QueryError::InvalidGid {
            field,
            value: value.to_owned(),
        })
    }
}

/// Rounds up to a whole millisecond, the resolution of `created_at`. For events stamped in
/// whole milliseconds, `t >= start` and `t < end` select the same events after rounding up.
pub(crate) fn ceil_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    let sub_milli = at.timestamp_subsec_nanos() % 1_000_000;
    if sub_milli == 0 {
        at
    } else {
        at + TimeDelta::nanoseconds(i64::from(1_000_000 - sub_milli))
    }
}

/// The filters, each one of the API's query parameters.
impl EventsRequest {
    /// Only events of this type (unknown types are sent as they are).
    pub fn event_type(mut self, event_type: impl Into<EventType>) -> Self {
        self.fields.event_type = Some(event_type.into());
        self
    }

    /// Only events of this actor: a type ([`Actor::Type`]) or one gid ([`Actor::Gid`]).
    pub fn actor(mut self, actor: Actor) -> Self {
        self.fields.actor = Some(actor);
        self
    }

    /// Only events whose main resource has this gid.
    pub fn resource_gid(mut self, resource_gid: impl Into<String>) -> Self {
        self.fields.resource_gid = Some(resource_gid.into());
        self
    }
}

impl QueryFields {
    /// A draft for `workspace_gid` with no window, no filter and the largest page size.
    pub(crate) fn new(workspace_gid: String) -> Self {
        QueryFields {
            workspace_gid,
            start_at: None,
            end_at: None,
            event_type: None,
            actor: None,
            resource_gid: None,
            page_size: MAX_PAGE_SIZE,
        }
    }

    /// Checks every field and rounds the window to whole milliseconds.
    pub(crate) fn validate(mut self) -> Result<Query, QueryError> {
        check_gid("workspace_gid", &self.workspace_gid)?;
        if let Some(gid) = &self.resource_gid {
            check_gid("resource_gid", gid)?;
        }
        match &self.actor {
            Some(Actor::Gid(gid)) => check_gid("actor_gid", gid)?,
            Some(Actor::Type(kind)) if kind.to_api().is_none() => {
                return Err(QueryError::UnsupportedActorType(kind.to_string()));
            }
            _ => {}
        }
        if let Some(kind) = &self.event_type {
            let name = kind.as_str();
            let plain = name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !plain {
                return Err(QueryError::InvalidEventType(name.to_owned()));
            }
        }
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(QueryError::PageSize(self.page_size));
        }
        self.start_at = self.start_at.map(ceil_millis);
        self.end_at = self.end_at.map(ceil_millis);
        if let (Some(start), Some(end)) = (self.start_at, self.end_at)
            && start >= end
        {
            return Err(QueryError::EmptyWindow { start, end });
        }
        Ok(Query(self))
    }
}

impl Query {
    /// The query's fields, to change and validate again.
    pub(crate) fn to_fields(&self) -> QueryFields {
        self.0.clone()
    }

    /// The workspace (domain) whose log is read.
    pub fn workspace_gid(&self) -> &str {
        &self.0.workspace_gid
    }

    /// Only events at or after this instant (rounded up to a whole millisecond).
    pub fn start_at(&self) -> Option<DateTime<Utc>> {
        self.0.start_at
    }

    /// Only events before this instant (rounded up to a whole millisecond).
    pub fn end_at(&self) -> Option<DateTime<Utc>> {
        self.0.end_at
    }

    /// Only events of this type.
    pub fn event_type(&self) -> Option<&EventType> {
        self.0.event_type.as_ref()
    }

    /// Only events of this actor (type or gid).
    pub fn actor(&self) -> Option<&Actor> {
        self.0.actor.as_ref()
    }

    /// Only events whose main resource has this gid.
    pub fn resource_gid(&self) -> Option<&str> {
        self.0.resource_gid.as_deref()
    }

    /// Events per page (1..=100).
    pub fn page_size(&self) -> u32 {
        self.0.page_size
    }

    /// The workspace and the filters in words, e.g. `workspace 1, event type user_deleted,
    /// actor type user` (the time window and page size left out).
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("workspace {}", self.workspace_gid())];
        if let Some(t) = self.event_type() {
            parts.push(format!("event type {t}"));
        }
        match self.actor() {
            Some(Actor::Type(t)) => parts.push(format!("actor type {t}")),
            Some(Actor::Gid(g)) => parts.push(format!("actor {g}")),
            None => {}
        }
        if let Some(r) = self.resource_gid() {
            parts.push(format!("resource {r}"));
        }
        parts.join(", ")
    }

    /// Sets the filters on a request to the generated client.
    pub(crate) fn send_filters<'a>(
        &self,
        mut request: GetAuditLogEvents<'a>,
    ) -> Result<GetAuditLogEvents<'a>, Error> {
        if let Some(event_type) = self.event_type() {
            request = request.event_type(event_type.as_str());
        }
        match self.actor() {
            Some(Actor::Type(kind)) => {
                let kind = kind
                    .to_api()
                    .ok_or_else(|| Error::Internal("unvalidated actor type".into()))?;
                request = request.actor_type(kind);
            }
            Some(Actor::Gid(gid)) => request = request.actor_gid(gid.as_str()),
            None => {}
        }
        if let Some(gid) = self.resource_gid() {
            request = request.resource_gid(gid);
        }
        Ok(request)
    }

    /// Whether two queries select the same events apart from their time windows and page sizes.
    pub fn same_filters(&self, other: &Query) -> bool {
        let (a, b) = (&self.0, &other.0);
        a.workspace_gid == b.workspace_gid
            && a.event_type == b.event_type
            && a.actor == b.actor
            && a.resource_gid == b.resource_gid
    }

    /// The same query over another window (used for backfill slices and restarts).
    pub(crate) fn with_window(
        &self,
        start_at: Option<DateTime<Utc>>,
        end_at: Option<DateTime<Utc>>,
    ) -> Query {
        Query(QueryFields {
            start_at,
            end_at,
            ..self.0.clone()
        })
    }

    /// Where the window reaches before the log start or beyond the 90-day retention, as of now.
    ///
    /// ```
    /// # use asana_audit_log::Client;
    /// # use asana_audit_log::error::QueryWarning;
    /// # let client = Client::new("0/1:x")?;
    /// let query = client
    ///     .audit_log_events("1234")
    ///     .start_at("2020-01-01T00:00:00Z".parse().unwrap())
    ///     .to_query()?;
    /// assert!(matches!(query.warnings()[0], QueryWarning::BeforeLogStart { .. }));
    /// # Ok::<(), asana_audit_log::Error>(())
    /// ```
    pub fn warnings(&self) -> Vec<QueryWarning> {
        self.warnings_at(Utc::now())
    }

    /// [`warnings`](Self::warnings) as of `now`.
    pub fn warnings_at(&self, now: DateTime<Utc>) -> Vec<QueryWarning> {
        let retention = TimeDelta::from_std(RETENTION).expect("90 days fit");
        let oldest_retained = (now - retention).max(log_start());
        let mut warnings = Vec::new();
        if let Some(end_at) = self.0.end_at
            && end_at <= oldest_retained
        {
            warnings.push(QueryWarning::WindowExpired {
                end_at,
                oldest_retained,
            });
        }
        if let Some(start_at) = self.0.start_at {
            if start_at < log_start() {
                warnings.push(QueryWarning::BeforeLogStart { start_at });
            } else if start_at < oldest_retained {
                warnings.push(QueryWarning::BeyondRetention {
                    start_at,
                    oldest_retained,
                });
            }
        }
        warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn fields(workspace_gid: &str) -> QueryFields {
        QueryFields::new(workspace_gid.into())
    }

    fn query(start: Option<&str>, end: Option<&str>) -> Result<Query, QueryError> {
        QueryFields {
            start_at: start.map(at),
            end_at: end.map(at),
            ..fields("1")
        }
        .validate()
    }

    #[test]
    fn validation() {
        let err = |result: Result<Query, QueryError>| result.unwrap_err();
        assert_eq!(
            err(fields("12a").validate()),
            QueryError::InvalidGid {
                field: "workspace_gid",
                value: "12a".into()
            }
        );
        assert!(matches!(
            err(QueryFields {
                actor: Some(Actor::Gid("".into())),
                ..fields("1")
            }
            .validate()),
            QueryError::InvalidGid {
                field: "actor_gid",
                ..
            }
        ));
        assert!(matches!(
            err(QueryFields {
                resource_gid: Some(" 1".into()),
                ..fields("1")
            }
            .validate()),
            QueryError::InvalidGid {
                field: "resource_gid",
                ..
            }
        ));
        assert_eq!(
            err(QueryFields {
                page_size: 0,
                ..fields("1")
            }
            .validate()),
            QueryError::PageSize(0)
        );
        assert_eq!(
            err(QueryFields {
                page_size: 101,
                ..fields("1")
            }
            .validate()),
            QueryError::PageSize(101)
        );
        assert!(matches!(
            err(query(
                Some("2024-01-02T00:00:00Z"),
                Some("2024-01-02T00:00:00Z")
            )),
            QueryError::EmptyWindow { .. }
        ));
        let robot = Actor::Type(ActorType::from("robot"));
        let e = err(QueryFields {
            actor: Some(robot),
            ..fields("1")
        }
        .validate());
        assert_eq!(e, QueryError::UnsupportedActorType("robot".into()));
        assert!(e.to_string().contains("only accepts user, asana"), "{e}");
        assert!(matches!(
            err(QueryFields {
                event_type: Some(EventType::from("")),
                ..fields("1")
            }
            .validate()),
            QueryError::InvalidEventType(_)
        ));
        // A type this version does not know is still a valid filter.
        QueryFields {
            event_type: Some(EventType::from("brand_new")),
            page_size: 1,
            ..fields("1")
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn instants_round_up_to_milliseconds() {
        let q = query(
            Some("2024-01-01T00:00:00.1231Z"),
            Some("2024-01-01T00:00:01.5Z"),
        )
        .unwrap();
        assert_eq!(q.start_at(), Some(at("2024-01-01T00:00:00.124Z")));
        assert_eq!(q.end_at(), Some(at("2024-01-01T00:00:01.5Z")));
    }

    #[test]
    fn warnings() {
        let now = at("2024-06-01T00:00:00Z");
        assert!(
            query(Some("2024-05-01T00:00:00Z"), None)
                .unwrap()
                .warnings_at(now)
                .is_empty()
        );
        assert!(query(None, None).unwrap().warnings_at(now).is_empty());
        let w = query(Some("2024-01-01T00:00:00Z"), None)
            .unwrap()
            .warnings_at(now);
        assert!(
            matches!(w[..], [QueryWarning::BeyondRetention { .. }]),
            "{w:?}"
        );
        let w = query(Some("2020-01-01T00:00:00Z"), Some("2020-02-01T00:00:00Z"))
            .unwrap()
            .warnings_at(now);
        assert!(
            matches!(
                w[..],
                [
                    QueryWarning::WindowExpired { .. },
                    QueryWarning::BeforeLogStart { .. }
                ]
            ),
            "{w:?}"
        );
    }

    #[test]
    fn serde_round_trip_and_revalidation() {
        let q = QueryFields {
            start_at: Some(at("2024-01-01T00:00:00Z")),
            event_type: Some(EventType::UserLoginSucceeded),
            actor: Some(Actor::Type(ActorType::Anonymous)),
            resource_gid: Some("77".into()),
            page_size: 50,
            ..fields("1")
        }
        .validate()
        .unwrap();
        let json = serde_json::to_string(&q).unwrap();
        assert_eq!(
            json,
            r#"{"workspace_gid":"1","start_at":"2024-01-01T00:00:00Z","event_type":"user_login_succeeded","actor":{"type":"anonymous"},"resource_gid":"77","page_size":50}"#
        );
        assert_eq!(serde_json::from_str::<Query>(&json).unwrap(), q);
        let tampered = json.replace("\"1\"", "\"x\"");
        let e = serde_json::from_str::<Query>(&tampered).unwrap_err();
        assert!(
            e.to_string()
                .contains("workspace_gid must be a numeric gid"),
            "{e}"
        );
    }
}
