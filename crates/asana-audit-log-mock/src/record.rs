//! The request log.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::faults::Fault;

/// Where an offset token pointed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CursorPosition {
    /// Before the first event (a token handed out by a first page that returned nothing).
    Start,
    /// After the event with this `created_at` and store position (`seq`, from 0, in the order
    /// of [`MockServer::events`](crate::MockServer::events) when no event has expired).
    After {
        /// `created_at` of that event.
        created_at: DateTime<Utc>,
        /// Its position in the store.
        seq: u64,
    },
}

/// One request the server received, as [`MockServer::requests`](crate::MockServer::requests)
/// returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestRecord {
    /// The request's number, from 1, in the order of arrival (what scripted faults refer to).
    pub number: u64,
    /// The server clock when the request arrived.
    pub at: DateTime<Utc>,
    /// The HTTP method.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query parameters, decoded, in the order sent (unknown ones included).
    pub query: Vec<(String, String)>,
    /// The position the `offset` parameter pointed to, when it carried a valid signature.
    pub offset: Option<CursorPosition>,
    /// The status sent; `None` when the connection was reset before any response.
    pub status: Option<u16>,
    /// The fault applied to this request, if any ([`Fault::Delay`] is reported in `delay`).
    pub fault: Option<Fault>,
    /// Extra time the response was held back (latency and scripted delays).
    pub delay: Duration,
    /// How many events the response's `data` held (0 for errors and replaced responses).
    pub events_returned: usize,
}

impl RequestRecord {
    /// The value of query parameter `name` (the last one when repeated).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}
