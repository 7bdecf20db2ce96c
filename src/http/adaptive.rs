//! `per_host="auto"`: a host's concurrency that adapts to its answers, as
//! TCP's window does. It starts at 2 and grows by half each time the host has
//! answered as many requests as it has in flight (a window) until the host
//! is first overloaded (429, 503, a timeout, a lost connection); an
//! overload halves it, at most once a window, and remembers the level
//! below it as the host's ceiling. Under the ceiling it grows by one a
//! window; at the ceiling it probes one above after a number of quiet
//! windows that doubles with each failed probe (up to 64), so a host near
//! its capacity sees few refusals; a probe that holds raises the ceiling.
//!
//! Latency counts too: a window whose answers took on average much longer
//! than the host's usual (its fastest window's average, drifting up slowly
//! toward what it keeps answering in, so pages that are simply slow are
//! not held against it) says requests queue there; it does not grow the
//! limit, and cuts it by a quarter (as an overload does, remembered as the
//! ceiling), so a host that slows down rather than refuses is not piled on.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Requests in flight to a host at first.
pub const START: usize = 2;
/// Never more than this many, however well a host answers.
pub const MOST: usize = 256;
/// Quiet windows at the ceiling before the first probe above it.
const FIRST_PROBE: u32 = 4;
/// The most quiet windows between probes.
const LAST_PROBE: u32 = 64;
/// A window whose answers took on average more than this many times the
/// host's usual, plus `SLOW_MARGIN` (for hosts that answer in
/// microseconds), is slow.
const SLOW_FACTOR: u32 = 2;
const SLOW_MARGIN: Duration = Duration::from_millis(2);
/// The host's usual moves this fraction of the way up to a slower window.
const USUAL_DRIFT: u32 = 4;

/// How an attempt ended, as the host's limit sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Good,
    Overloaded,
    /// Neither (a 404, a request the client gave up): not counted.
    Neutral,
}

/// One host's adaptive limit.
pub struct HostLimit {
    semaphore: Arc<Semaphore>,
    state: Mutex<State>,
}

struct State {
    limit: usize,
    /// Good answers in this window; of them, how many were sent since the
    /// last cut, and the time those took in all.
    good: usize,
    timed: usize,
    took: Duration,
    /// The host's usual time to answer (see the module's doc).
    usual: Option<Duration>,
    /// Below the level the host was last overloaded at; `None` until then.
    ceiling: Option<usize>,
    /// Quiet windows at the ceiling so far, and how many a probe waits for.
    quiet: u32,
    probe_after: u32,
    /// Slots still to take back as they are given back (the limit was cut
    /// while they were held).
    debt: usize,
    /// When the limit was last cut: answers to requests started before it
    /// do not cut it again.
    cut_at: Option<Instant>,
}

impl State {
    /// Whether the window that just ended took on average much longer than
    /// the host's usual (which it then moves toward); a window mostly of
    /// answers sent before the last cut says nothing.
    fn window_queued(&mut self) -> bool {
        if self.timed * 2 < self.good {
            return false;
        }
        let mean = self.took / u32::try_from(self.timed).unwrap_or(u32::MAX);
        let queued = self
            .usual
            .is_some_and(|usual| mean > usual * SLOW_FACTOR + SLOW_MARGIN);
        self.usual = Some(self.usual.map_or(mean, |usual| {
            if mean < usual {
                mean
            } else {
                usual + (mean - usual) / USUAL_DRIFT
            }
        }));
        queued
    }
}

impl HostLimit {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            semaphore: Arc::new(Semaphore::new(START)),
            state: Mutex::new(State {
                limit: START,
                good: 0,
                timed: 0,
                took: Duration::ZERO,
                usual: None,
                ceiling: None,
                quiet: 0,
                probe_after: FIRST_PROBE,
                debt: 0,
                cut_at: None,
            }),
        })
    }

    /// A slot to send a request, waiting for one.
    pub async fn acquire(self: &Arc<Self>) -> Option<HostSlot> {
        let permit = Arc::clone(&self.semaphore).acquire_owned().await.ok()?;
        Some(HostSlot {
            permit: Some(permit),
            limit: Arc::clone(self),
        })
    }

    /// The limit now.
    #[cfg(test)]
    fn limit(&self) -> usize {
        self.state().limit
    }

    /// Counts the answer to a request sent at `sent`.
    pub fn answered(&self, answer: Answer, sent: Instant) {
        let mut state = self.state();
        match answer {
            Answer::Neutral => {}
            Answer::Good => {
                state.good += 1;
                // Answers to requests sent before a cut do not cut again.
                if state.cut_at.is_none_or(|cut| sent >= cut) {
                    state.timed += 1;
                    state.took += sent.elapsed();
                }
                if state.good < state.limit {
                    return;
                }
                let queued = state.window_queued();
                state.good = 0;
                state.timed = 0;
                state.took = Duration::ZERO;
                if queued {
                    // Requests queue at the host.
                    let kept = state.limit - (state.limit / 4).max(1);
                    if kept >= 1 {
                        self.cut(&mut state, kept);
                    }
                    return;
                }
                // A window answered well.
                let grown = match state.ceiling {
                    None => state.limit + state.limit.div_ceil(2),
                    Some(ceiling) if state.limit < ceiling => state.limit + 1,
                    Some(ceiling) => {
                        if state.limit > ceiling {
                            // The probe held: the host takes this many.
                            state.ceiling = Some(state.limit);
                            state.probe_after = FIRST_PROBE;
                        }
                        state.quiet += 1;
                        if state.quiet < state.probe_after {
                            return;
                        }
                        state.quiet = 0;
                        state.limit + 1
                    }
                };
                let grown = grown.min(MOST);
                let added = grown - state.limit;
                state.limit = grown;
                let repaid = added.min(state.debt);
                state.debt -= repaid;
                self.semaphore.add_permits(added - repaid);
            }
            Answer::Overloaded => {
                if state.cut_at.is_some_and(|cut| sent < cut) {
                    return;
                }
                let kept = (state.limit / 2).max(1);
                self.cut(&mut state, kept);
            }
        }
    }

    /// The host showed it is overloaded: down to `kept`, with the level
    /// below the one it failed at as its ceiling; a probe above the ceiling
    /// that failed makes the next one wait twice as long.
    fn cut(&self, state: &mut State, kept: usize) {
        if state.ceiling.is_some_and(|ceiling| state.limit > ceiling) {
            state.probe_after = (state.probe_after * 2).min(LAST_PROBE);
        }
        state.ceiling = Some((state.limit - 1).max(kept).max(1));
        let cut = state.limit.saturating_sub(kept);
        state.limit -= cut;
        state.good = 0;
        state.timed = 0;
        state.took = Duration::ZERO;
        state.quiet = 0;
        state.cut_at = Some(Instant::now());
        let taken = self.semaphore.forget_permits(cut);
        state.debt += cut - taken;
    }

    /// A slot given back: kept out of use while the limit owes it.
    fn give_back(&self, permit: OwnedSemaphorePermit) {
        let mut state = self.state();
        if state.debt > 0 {
            state.debt -= 1;
            permit.forget();
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request's slot under its host's adaptive limit.
pub struct HostSlot {
    permit: Option<OwnedSemaphorePermit>,
    limit: Arc<HostLimit>,
}

impl Drop for HostSlot {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.limit.give_back(permit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_window_much_slower_than_the_hosts_usual_cuts_a_quarter() {
        let host = HostLimit::new();
        for _ in 0..2 + 3 + 5 {
            host.answered(Answer::Good, Instant::now());
        }
        assert_eq!(host.limit(), 8);
        let sent = Instant::now()
            .checked_sub(Duration::from_millis(50))
            .expect("a clock past 50 ms");
        for _ in 0..8 {
            host.answered(Answer::Good, sent);
        }
        assert_eq!(host.limit(), 6, "a quarter off, not grown");
        assert_eq!(host.state().ceiling, Some(7));
        // The slow answers of requests sent before the cut do not cut again.
        for _ in 0..6 {
            host.answered(Answer::Good, sent);
        }
        assert_eq!(host.limit(), 7, "grown by one a window to the ceiling");
    }

    #[tokio::test]
    async fn a_window_of_good_answers_grows_the_limit_by_half_until_the_first_overload() {
        let host = HostLimit::new();
        let sent = Instant::now();
        for _ in 0..2 {
            host.answered(Answer::Good, sent);
        }
        assert_eq!(host.limit(), 3);
        for _ in 0..3 {
            host.answered(Answer::Good, sent);
        }
        assert_eq!(host.limit(), 5);
        assert_eq!(host.semaphore.available_permits(), 5);
    }

    #[tokio::test]
    async fn after_an_overload_it_grows_to_below_that_level_and_probes_ever_less() {
        let host = HostLimit::new();
        for _ in 0..2 + 3 + 5 {
            host.answered(Answer::Good, Instant::now());
        }
        let overloaded_at = host.limit();
        host.answered(Answer::Overloaded, Instant::now());
        assert_eq!(host.limit(), overloaded_at / 2);
        let window = |host: &HostLimit| {
            for _ in 0..host.limit() {
                host.answered(Answer::Good, Instant::now());
            }
        };
        // Up by one a window to the ceiling, then it stays for the quiet
        // windows before a probe.
        while host.limit() < overloaded_at - 1 {
            window(&host);
        }
        for _ in 0..FIRST_PROBE - 1 {
            window(&host);
            assert_eq!(host.limit(), overloaded_at - 1);
        }
        window(&host);
        assert_eq!(host.limit(), overloaded_at);
        // The probe fails: the next one waits twice as long.
        host.answered(Answer::Overloaded, Instant::now());
        let state = host.state();
        assert_eq!(state.probe_after, FIRST_PROBE * 2);
        assert_eq!(state.ceiling, Some(overloaded_at - 1));
    }

    #[tokio::test]
    async fn overload_halves_once_per_window_and_held_slots_are_owed() {
        let host = HostLimit::new();
        let sent = Instant::now();
        for _ in 0..2 + 3 + 5 + 8 + 12 {
            host.answered(Answer::Good, sent);
        }
        let grown = host.limit();
        assert!(grown > START);
        let mut held = Vec::new();
        for _ in 0..grown {
            held.push(host.acquire().await.unwrap());
        }
        let before_cut = Instant::now();
        host.answered(Answer::Overloaded, before_cut);
        assert_eq!(host.limit(), grown / 2);
        // Another answer from the same window does not cut again.
        host.answered(Answer::Overloaded, before_cut);
        assert_eq!(host.limit(), grown / 2);
        // Slots given back pay the debt before any is free again.
        held.clear();
        assert_eq!(host.semaphore.available_permits(), grown / 2);
    }
}
