//! The client's settings, declared once: their defaults, their checks and how they print.
//!
//! [`ClientBuilder`](crate::ClientBuilder) fills a [`Settings`] in, [`Settings::validate`] checks
//! it when the client is built (before anything is sent), and the HTTP layer keeps the validated
//! value as it is. A new setting is a field here, its default, its check, and one builder method.

use std::fmt;
use std::time::Duration;

use reqwest::Url;

use crate::error::Error;
use crate::http::{API_MAX_CONCURRENCY, RetryPolicy};

/// Every client setting but the token and the `reqwest` builder (neither can be printed).
#[derive(Clone)]
pub(crate) struct Settings {
    /// The API base URL, without a trailing `/` once validated.
    pub(crate) base_url: String,
    /// The limit for one request, body included.
    pub(crate) timeout: Duration,
    /// The limit for opening a connection.
    pub(crate) connect_timeout: Duration,
    /// The `User-Agent` header.
    pub(crate) user_agent: String,
    /// How transient failures are retried.
    pub(crate) retry: RetryPolicy,
    /// The most requests in any 60 seconds, all streams together; `None`: no limit.
    pub(crate) requests_per_minute: Option<u32>,
    /// The most requests in flight at once, all streams together.
    pub(crate) max_concurrent_requests: usize,
    /// The largest response body accepted; `None`: no cap.
    pub(crate) max_response_bytes: Option<u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            base_url: crate::client::DEFAULT_BASE_URL.to_owned(),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            user_agent: concat!("asana-audit-log-rs/", env!("CARGO_PKG_VERSION")).to_owned(),
            retry: RetryPolicy::default(),
            requests_per_minute: Some(1500),
            max_concurrent_requests: 10,
            max_response_bytes: Some(asana_audit_log_api::DEFAULT_MAX_BODY_BYTES),
        }
    }
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        setting,
        reason: reason.into(),
    }
}

impl Settings {
    /// Writes the settings as the `Debug` form of `name`, with `token` standing for the token
    /// (never its value).
    pub(crate) fn debug(
        &self,
        name: &str,
        token: &dyn fmt::Debug,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        f.debug_struct(name)
            .field("base_url", &self.base_url)
            .field("token", token)
            .field("user_agent", &self.user_agent)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("retry", &self.retry)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }

    /// Checks every setting; the base URL comes back normalized.
    pub(crate) fn validate(mut self) -> Result<Settings, Error> {
        self.base_url = check_base_url(&self.base_url)?;
        if self.max_concurrent_requests == 0 {
            return Err(invalid("max_concurrent_requests", "must be at least 1"));
        }
        if self.max_concurrent_requests > API_MAX_CONCURRENCY {
            return Err(invalid(
                "max_concurrent_requests",
                format!(
                    "the API serves at most {API_MAX_CONCURRENCY} concurrent reads per token, got {}",
                    self.max_concurrent_requests
                ),
            ));
        }
        if self.max_response_bytes == Some(0) {
            return Err(invalid(
                "max_response_bytes",
                "must be at least 1 (use None to turn the cap off)",
            ));
        }
        if self.requests_per_minute == Some(0) {
            return Err(invalid(
                "requests_per_minute",
                "must be at least 1 (use no_rate_limit() to turn the limit off)",
            ));
        }
        if self.retry.max_delay < self.retry.min_delay {
            return Err(invalid(
                "retry_policy",
                format!(
                    "max_delay ({:?}) is shorter than min_delay ({:?})",
                    self.retry.max_delay, self.retry.min_delay
                ),
            ));
        }
        Ok(self)
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// Checks the base URL: HTTPS, or plain HTTP to a loopback host (tests, local mocks).
fn check_base_url(base_url: &str) -> Result<String, Error> {
    let invalid = |reason: String| invalid("base_url", reason);
    let url =
        Url::parse(base_url).map_err(|e| invalid(format!("{base_url:?} is not a URL: {e}")))?;
    if url.cannot_be_a_base() || url.host_str().is_none() {
        return Err(invalid(format!("{base_url:?} has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "credentials in the URL are not allowed; the token is sent as a header".into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(format!(
            "{base_url:?} must not have a query or fragment"
        )));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(invalid(format!(
                "{base_url:?} is plain HTTP; the token is only sent over HTTPS (plain HTTP is \
                 allowed for loopback hosts only)"
            )));
        }
        other => return Err(invalid(format!("unsupported scheme {other:?}"))),
    }
    Ok(base_url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            check_base_url("https://app.asana.com/api/1.0/").unwrap(),
            "https://app.asana.com/api/1.0"
        );
        for ok in [
            "http://127.0.0.1:8080/api/1.0",
            "http://127.5.6.7/x",
            "http://[::1]:9/",
            "http://LOCALHOST:1",
        ] {
            check_base_url(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "http://app.asana.com/api/1.0",
            "http://10.0.0.1/",
            "http://localhost.example.com/",
            "ftp://127.0.0.1/",
            "https://user:pw@app.asana.com/",
            "https://app.asana.com/?x=1",
            "not a url",
        ] {
            assert!(
                matches!(
                    check_base_url(bad),
                    Err(Error::InvalidConfig {
                        setting: "base_url",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn retry_delays_are_checked_not_clamped() {
        let mut settings = Settings::default();
        settings.retry = settings
            .retry
            .with_delays(Duration::from_secs(2), Duration::from_secs(1));
        assert!(matches!(
            settings.validate(),
            Err(Error::InvalidConfig {
                setting: "retry_policy",
                ..
            })
        ));
    }
}
