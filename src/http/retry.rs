//! When to send a request again, and after how long (backoff, and the
//! server's `Retry-After`), per attempt.
//!
//! A connect error or connect timeout is retried for every method (nothing
//! reached the server); a timeout, a connection lost while reading, and
//! 429/502/503/504 only for idempotent methods, where sending twice does no
//! harm.

use std::time::{Duration, SystemTime};

use http::{Method, StatusCode};

use super::defaults;
use super::error::{ErrorKind, FastioError};

/// Waits between attempts never grow beyond this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A set of HTTP methods, by their place in [`RETRYABLE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Methods(u16);

/// The methods a retry policy can name.
pub const RETRYABLE: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::OPTIONS,
    Method::PUT,
    Method::DELETE,
    Method::TRACE,
    Method::POST,
    Method::PATCH,
    Method::CONNECT,
];

impl Methods {
    /// The idempotent ones (RFC 9110 §9.2.2): sending twice does no harm.
    pub const IDEMPOTENT: Methods = Methods(0b11_1111);

    /// The set of `names`; `Err` names one that is not a method here.
    pub fn of<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Methods, String> {
        let mut bits = 0;
        for name in names {
            let upper = name.to_ascii_uppercase();
            let place = RETRYABLE
                .iter()
                .position(|method| method.as_str() == upper)
                .ok_or_else(|| format!("{name:?} is not an HTTP method fastio can retry"))?;
            bits |= 1 << place;
        }
        Ok(Methods(bits))
    }

    fn contains(self, method: &Method) -> bool {
        RETRYABLE
            .iter()
            .position(|known| known == method)
            .is_some_and(|place| self.0 & (1 << place) != 0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first; 0 sends once.
    pub retries: u32,
    /// Methods retried after a timeout, a lost connection or a retryable
    /// status (a connect error is retried for every method).
    pub methods: Methods,
    /// The wait before the first retry, doubled for each next one.
    pub backoff: Duration,
    /// A longer `Retry-After` is not waited for: the response is returned.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 0,
            methods: Methods::IDEMPOTENT,
            backoff: defaults::RETRY_BACKOFF,
            max_retry_after: defaults::MAX_RETRY_AFTER,
        }
    }
}

fn is_retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

impl RetryPolicy {
    /// How long to wait before attempt `attempt + 1`, after attempt number
    /// `attempt` (from 1) failed with `error`; `None`: give up.
    pub fn after_error(
        &self,
        method: &Method,
        attempt: u32,
        error: &FastioError,
    ) -> Option<Duration> {
        if attempt > self.retries {
            return None;
        }
        let retryable = match error.kind {
            // Nothing reached the server.
            ErrorKind::Connect | ErrorKind::Proxy | ErrorKind::ConnectTimeout | ErrorKind::Dns => {
                true
            }
            ErrorKind::Timeout | ErrorKind::ReadTimeout | ErrorKind::Read | ErrorKind::Write => {
                self.methods.contains(method)
            }
            _ => false,
        };
        retryable.then(|| self.backoff(attempt))
    }

    /// As [`Self::after_error`], for a response with `status`: `None` keeps it.
    pub fn after_status(
        &self,
        method: &Method,
        attempt: u32,
        status: StatusCode,
        retry_after: Option<&[u8]>,
    ) -> Option<Duration> {
        if attempt > self.retries || !is_retryable_status(status) || !self.methods.contains(method)
        {
            return None;
        }
        match retry_after.and_then(|value| wait_asked(value, SystemTime::now())) {
            Some(wait) if wait > self.max_retry_after => None,
            Some(wait) => Some(wait),
            None => Some(self.backoff(attempt)),
        }
    }

    /// How long a 429 or 503 asks, with its `Retry-After`, that its host be
    /// sent nothing more; `None` for any other answer, or a wait longer than
    /// `max_retry_after`.
    pub fn hold(&self, status: StatusCode, retry_after: Option<&[u8]>) -> Option<Duration> {
        if !matches!(status.as_u16(), 429 | 503) {
            return None;
        }
        retry_after
            .and_then(|value| wait_asked(value, SystemTime::now()))
            .filter(|wait| *wait <= self.max_retry_after)
    }

    /// Exponential, with "equal jitter": between half and all of
    /// `backoff * 2^(attempt-1)`, so many clients retrying at once spread out.
    fn backoff(&self, attempt: u32) -> Duration {
        let full = self
            .backoff
            .saturating_mul(2_u32.saturating_pow(attempt.saturating_sub(1)))
            .min(MAX_BACKOFF);
        full / 2 + full.mul_f64(fastrand::f64() / 2.0)
    }
}

/// The wait a `Retry-After` value asks for: delay-seconds or an HTTP date
/// (RFC 9110 §10.2.3); unparsable values are ignored.
fn wait_asked(retry_after: &[u8], now: SystemTime) -> Option<Duration> {
    let text = std::str::from_utf8(retry_after).ok()?.trim();
    if !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()) {
        // Too many digits for u64 is a very long wait, not none.
        return Some(Duration::from_secs(text.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let date = httpdate::parse_http_date(text).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_retry_after_value_is_read_or_ignored(value in proptest::collection::vec(any::<u8>(), 0..40)) {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
            // Never panics; a number of seconds is read as exactly that.
            let wait = wait_asked(&value, now);
            let text = String::from_utf8_lossy(&value);
            if let Ok(seconds) = text.trim().parse::<u64>() {
                prop_assert_eq!(wait, Some(Duration::from_secs(seconds)));
            }
        }

        #[test]
        fn backoff_stays_within_its_bounds(attempt in 1_u32..100, millis in 0_u64..10_000) {
            let retry = RetryPolicy {
                retries: 100,
                backoff: Duration::from_millis(millis),
                ..RetryPolicy::default()
            };
            let wait = retry.backoff(attempt);
            prop_assert!(wait <= MAX_BACKOFF);
        }
    }

    fn policy(retries: u32) -> RetryPolicy {
        RetryPolicy {
            retries,
            methods: Methods::IDEMPOTENT,
            backoff: Duration::from_millis(100),
            max_retry_after: Duration::from_secs(5),
        }
    }

    fn error(kind: ErrorKind) -> FastioError {
        FastioError::for_request(kind, "GET", "http://127.0.0.1:1/", "failed")
    }

    #[test]
    fn connect_errors_retry_for_every_method_others_only_idempotent() {
        let retry = policy(2);
        assert!(retry
            .after_error(&Method::POST, 1, &error(ErrorKind::Connect))
            .is_some());
        assert!(retry
            .after_error(&Method::POST, 1, &error(ErrorKind::Timeout))
            .is_none());
        assert!(retry
            .after_error(&Method::GET, 1, &error(ErrorKind::Timeout))
            .is_some());
        assert!(retry
            .after_error(&Method::GET, 1, &error(ErrorKind::Tls))
            .is_none());
        assert!(retry
            .after_error(&Method::GET, 3, &error(ErrorKind::Connect))
            .is_none());
        // A connect that timed out sent nothing; a read that did, maybe.
        assert!(retry
            .after_error(&Method::POST, 1, &error(ErrorKind::ConnectTimeout))
            .is_some());
        assert!(retry
            .after_error(&Method::POST, 1, &error(ErrorKind::ReadTimeout))
            .is_none());
        assert!(retry
            .after_error(&Method::GET, 1, &error(ErrorKind::ReadTimeout))
            .is_some());
    }

    #[test]
    fn posts_are_retried_only_when_named() {
        let posts = RetryPolicy {
            methods: Methods::of(["get", "POST"]).unwrap(),
            ..policy(2)
        };
        let timeout = error(ErrorKind::Timeout);
        assert!(posts.after_error(&Method::POST, 1, &timeout).is_some());
        assert!(posts.after_error(&Method::PUT, 1, &timeout).is_none());
        assert!(policy(2).after_error(&Method::POST, 1, &timeout).is_none());
        assert!(Methods::of(["PROPFIND"]).is_err());
        assert_eq!(
            Methods::of(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]),
            Ok(Methods::IDEMPOTENT)
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let retry = policy(50);
        for attempt in 1..=4 {
            let full = Duration::from_millis(100) * 2_u32.pow(attempt - 1);
            let wait = retry.backoff(attempt);
            assert!(wait >= full / 2 && wait <= full, "{attempt}: {wait:?}");
        }
        assert!(retry.backoff(40) <= MAX_BACKOFF);
    }

    #[test]
    fn statuses_honour_retry_after_up_to_the_limit() {
        let retry = policy(3);
        assert!(retry
            .after_status(&Method::GET, 1, StatusCode::SERVICE_UNAVAILABLE, None)
            .is_some());
        assert!(retry
            .after_status(&Method::POST, 1, StatusCode::SERVICE_UNAVAILABLE, None)
            .is_none());
        assert!(retry
            .after_status(&Method::GET, 1, StatusCode::INTERNAL_SERVER_ERROR, None)
            .is_none());
        assert_eq!(
            retry.after_status(&Method::GET, 1, StatusCode::TOO_MANY_REQUESTS, Some(b"2")),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry.after_status(&Method::GET, 1, StatusCode::TOO_MANY_REQUESTS, Some(b"600")),
            None
        );
    }

    #[test]
    fn a_retry_after_beyond_u64_is_a_long_wait() {
        let now = SystemTime::now();
        assert_eq!(
            wait_asked(b"99999999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        let policy = RetryPolicy {
            retries: 3,
            backoff: Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        assert_eq!(
            policy.after_status(
                &Method::GET,
                1,
                StatusCode::SERVICE_UNAVAILABLE,
                Some(b"99999999999999999999999999")
            ),
            None
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            wait_asked("7".as_bytes(), now),
            Some(Duration::from_secs(7))
        );
        // 2015-10-21 07:28:00 GMT is 1445412480.
        assert_eq!(
            wait_asked("Wed, 21 Oct 2015 07:28:30 GMT".as_bytes(), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            wait_asked("Wed, 21 Oct 2015 07:00:00 GMT".as_bytes(), now),
            Some(Duration::ZERO)
        );
        assert_eq!(wait_asked("soon".as_bytes(), now), None);
    }
}
