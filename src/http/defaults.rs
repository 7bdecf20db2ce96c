//! What every option is when it is not given: the one home of fastio's
//! defaults. The Python API takes its signature defaults from here too
//! (exported as `fastio._fastio.DEFAULT_*`).

use std::time::Duration;

/// How long a connection may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The total deadline of one request, as httpx's default.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Connections one session opens at most, as in httpx and aiohttp: enough
/// for any one server, and far from a process's file descriptor limit.
pub const MAX_CONNECTIONS: usize = 100;

/// Idle keep-alive connections kept per host when no limit says how many
/// may be open (else as many as may be open), and for how long: an idle
/// pool holds a bounded number of descriptors, not for long.
pub const MAX_IDLE_PER_HOST: usize = 100;
pub const IDLE_EXPIRY: Duration = Duration::from_secs(15);

/// Redirects followed before `TooManyRedirects`, as in httpx and requests.
pub const MAX_REDIRECTS: usize = 10;

/// The wait before the first retry (then 2×, 4×, ...).
pub const RETRY_BACKOFF: Duration = Duration::from_millis(500);

/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Requests in flight at most in one bulk call.
pub const CONCURRENCY: usize = 100;

/// The body bytes one bulk call may hold at once: a machine with a few GiB
/// of memory survives it at any concurrency.
pub const BYTES_IN_FLIGHT: u64 = 1024 * 1024 * 1024;

/// A limit as asked for: not given (what it starts from applies), none,
/// or this long.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Limit {
    #[default]
    Default,
    Disabled,
    Seconds(Duration),
}

impl Limit {
    /// The limit, given the one "default" stands for.
    pub fn or(self, default: Option<Duration>) -> Option<Duration> {
        match self {
            Limit::Default => default,
            Limit::Disabled => None,
            Limit::Seconds(limit) => Some(limit),
        }
    }

    pub fn is_default(self) -> bool {
        self == Limit::Default
    }

    /// This limit if given, else `base`.
    pub fn over(self, base: Limit) -> Limit {
        if self.is_default() {
            base
        } else {
            self
        }
    }
}
