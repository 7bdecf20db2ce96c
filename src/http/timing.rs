//! Where a request's time went: the phases of the connection it opened
//! (name resolution, TCP, TLS), the wait for the response's head, whether
//! it reused a connection, and the peer's address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a connection was made; the connector attaches it to the connection,
/// and hyper-util to every response that comes over it.
#[derive(Clone, Copy, Debug)]
pub struct Made {
    /// When the connection was ready.
    pub at: Instant,
    /// Name resolution; `None` when nothing was looked up (an address, a
    /// `resolve=` override, a proxy that resolves).
    pub dns: Option<Duration>,
    /// TCP (and any proxy's handshake), after the name was resolved.
    pub connect: Duration,
    /// The TLS handshake with the origin; `None` for plain HTTP.
    pub tls: Option<Duration>,
    /// The address connected to (the proxy's, through one).
    pub peer: Option<SocketAddr>,
}

/// One request's timings, as a Response carries them: small, as every
/// Response has them (the connection's phases are shared by its requests).
#[derive(Clone, Debug, Default)]
pub struct Timings {
    /// The connection it went over; `None` for a mock transport's answer.
    made: Option<Arc<Made>>,
    /// From sending (the connection slot held; a new connection's phases
    /// included) to the response's head, in microseconds.
    first_byte_micros: u32,
    /// Attempts made (1 without retries).
    pub attempts: u16,
    /// Whether the connection was open before the request was sent.
    pub reused: bool,
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
            first_byte_micros: u32::try_from(first_byte.as_micros()).unwrap_or(u32::MAX),
            attempts: 1,
            reused,
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
        self.opened(|made| Some(made.connect))
    }

    pub fn tls(&self) -> Option<Duration> {
        self.opened(|made| made.tls)
    }

    pub fn first_byte(&self) -> Duration {
        Duration::from_micros(u64::from(self.first_byte_micros))
    }

    /// The address connected to (the proxy's, through one).
    pub fn peer(&self) -> Option<SocketAddr> {
        self.made.as_ref().and_then(|made| made.peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(at: Instant) -> Arc<Made> {
        Arc::new(Made {
            at,
            dns: Some(Duration::from_millis(3)),
            connect: Duration::from_millis(2),
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
    fn a_response_without_a_connection_has_only_its_wait() {
        let timings = Timings::answered(Instant::now(), None);
        assert!(!timings.reused);
        assert_eq!((timings.dns(), timings.peer()), (None, None));
    }
}
