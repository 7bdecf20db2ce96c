//! Where a request's time went: the phases of the connection it opened
//! (name resolution, TCP, TLS), the wait for the response's head, whether
//! it reused a connection, and the peer's address.

use std::cell::OnceCell;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How a connection was made; the connector attaches it to the connection,
/// and hyper-util to every response that comes over it. A connect that
/// failed is noted for its request (see [`noting_connects`]) with the
/// phases it reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Made {
    /// When the connection was ready (or the connect failed).
    pub at: Instant,
    /// Name resolution; `None` when nothing was looked up (an address, a
    /// `resolve=` override, a proxy that resolves).
    pub dns: Option<Duration>,
    /// TCP (and any proxy's handshake), after the name was resolved;
    /// `None` when the lookup failed.
    pub connect: Option<Duration>,
    /// The TLS handshake with the origin; `None` for plain HTTP.
    pub tls: Option<Duration>,
    /// The address connected to (the proxy's, through one).
    pub peer: Option<SocketAddr>,
}

/// What the connect a request started itself reached, noted by the
/// connector for that request: a failed request has no connection to
/// carry its phases.
#[derive(Debug, Default)]
pub struct Tried(OnceLock<Made>);

impl Tried {
    /// The first connect's phases are the request's.
    pub fn note(&self, made: Made) {
        let _ = self.0.set(made);
    }
}

tokio::task_local! {
    /// Where the connector notes a connect for the send running in this
    /// task; made on first use, so a send over a pooled connection
    /// allocates nothing.
    static TRYING: OnceCell<Arc<Tried>>;
}

/// Where a connect started now notes its phases: the running send's, if
/// [`noting_connects`] runs it.
pub fn tried_by_this_send() -> Option<Arc<Tried>> {
    TRYING
        .try_with(|cell| Arc::clone(cell.get_or_init(Arc::default)))
        .ok()
}

/// Runs `sending` (kept small: it is moved in), noting in `tried` what
/// the connect it started reached, if it started one.
pub async fn noting_connects<F: Future>(sending: F, tried: &mut Option<Made>) -> F::Output {
    let mut scoped = std::pin::pin!(TRYING.scope(OnceCell::new(), sending));
    let output = scoped.as_mut().await;
    *tried = scoped
        .as_mut()
        .take_value()
        .and_then(OnceCell::into_inner)
        .and_then(|noted| noted.0.get().copied());
    output
}

/// A failed request's timings: as far as it got, and the time from
/// sending its last attempt to the failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedTimings {
    pub timings: Timings,
    pub after: Duration,
}

/// One request's timings, as a Response (or a failure) carries them:
/// small, as every Response has them (the connection's phases are shared
/// by its requests).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    /// The connection it went over (for a failure: the connect it
    /// started); `None` for a mock transport's answer.
    made: Option<Arc<Made>>,
    /// From sending (the connection slot held; a new connection's phases
    /// included) to the response's head, in microseconds.
    micros: u32,
    /// Attempts made (1 without retries).
    pub attempts: u16,
    /// Whether the connection was open before the request was sent; for
    /// a failure, whether the request started no connect of its own.
    pub reused: bool,
    /// Whether the response's head came (a failure's may not have).
    answered: bool,
}

impl Timings {
    /// The timings of a request sent at `sent`, answered now over the
    /// connection `made` describes.
    pub fn answered(sent: Instant, made: Option<&Arc<Made>>) -> Self {
        let first_byte = sent.elapsed();
        // A connection ready before this request was sent was there for it
        // to take: reused. One made since was opened for it (or for a
        // request beside it, whose phases it then shows).
        let reused = made.is_some_and(|made| made.at < sent);
        Self {
            made: made.cloned(),
            micros: micros(first_byte),
            attempts: 1,
            reused,
            answered: true,
        }
    }

    /// The timings of a request that failed before its head came, having
    /// started the connect `tried` describes (if it started one); its
    /// attempts and its time are noted when it has failed for good.
    pub fn tried(tried: Option<Arc<Made>>) -> Self {
        Self {
            reused: tried.is_none(),
            made: tried,
            micros: 0,
            attempts: 1,
            answered: false,
        }
    }

    /// A phase of the connection this request opened; `None` if it reused
    /// one or the phase did not happen.
    fn opened(&self, phase: impl Fn(&Made) -> Option<Duration>) -> Option<Duration> {
        self.made
            .as_deref()
            .filter(|_| !self.reused)
            .and_then(phase)
    }

    pub fn dns(&self) -> Option<Duration> {
        self.opened(|made| made.dns)
    }

    pub fn connect(&self) -> Option<Duration> {
        self.opened(|made| made.connect)
    }

    pub fn tls(&self) -> Option<Duration> {
        self.opened(|made| made.tls)
    }

    /// From sending to the response's head; `None` for a failure before it.
    pub fn first_byte(&self) -> Option<Duration> {
        self.answered
            .then(|| Duration::from_micros(u64::from(self.micros)))
    }

    /// The address connected to (the proxy's, through one).
    pub fn peer(&self) -> Option<SocketAddr> {
        self.made.as_ref().and_then(|made| made.peer)
    }
}

fn micros(duration: Duration) -> u32 {
    u32::try_from(duration.as_micros()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(at: Instant) -> Arc<Made> {
        Arc::new(Made {
            at,
            dns: Some(Duration::from_millis(3)),
            connect: Some(Duration::from_millis(2)),
            tls: None,
            peer: Some(SocketAddr::from(([127, 0, 0, 1], 8080))),
        })
    }

    #[test]
    fn a_connection_made_for_the_request_shows_its_phases() {
        let sent = Instant::now();
        let timings = Timings::answered(sent, Some(&made(Instant::now())));
        assert!(!timings.reused);
        assert_eq!(timings.dns(), Some(Duration::from_millis(3)));
        assert_eq!(timings.connect(), Some(Duration::from_millis(2)));
        assert_eq!(timings.tls(), None);
        assert_eq!(timings.attempts, 1);
    }

    #[test]
    fn a_connection_open_before_the_request_is_reused_and_shows_no_phases() {
        let earlier = Instant::now();
        let timings = Timings::answered(Instant::now(), Some(&made(earlier)));
        assert!(timings.reused);
        assert_eq!((timings.dns(), timings.connect()), (None, None));
        assert_eq!(
            timings.peer(),
            Some(SocketAddr::from(([127, 0, 0, 1], 8080)))
        );
    }

    #[test]
    fn a_failure_shows_the_phases_its_connect_reached_and_no_first_byte() {
        let timings = Timings::tried(Some(made(Instant::now())));
        assert!(!timings.reused);
        assert_eq!(timings.dns(), Some(Duration::from_millis(3)));
        assert_eq!(timings.first_byte(), None);
        let without = Timings::tried(None);
        assert!(without.reused);
        assert_eq!((without.connect(), without.first_byte()), (None, None));
    }

    #[tokio::test]
    async fn a_send_gets_what_its_own_connect_noted() {
        let mut none = None;
        noting_connects(async {}, &mut none).await;
        assert_eq!(none, None);
        let noted = *made(Instant::now());
        let mut got = None;
        noting_connects(
            async move {
                let tried = tried_by_this_send().expect("inside a send");
                // A connect spawned elsewhere still notes for the send.
                tokio::spawn(async move { tried.note(noted) })
                    .await
                    .unwrap();
            },
            &mut got,
        )
        .await;
        assert_eq!(got, Some(noted));
        assert!(tried_by_this_send().is_none());
    }

    #[test]
    fn a_response_without_a_connection_has_only_its_wait() {
        let timings = Timings::answered(Instant::now(), None);
        assert!(!timings.reused);
        assert_eq!((timings.dns(), timings.peer()), (None, None));
    }
}
