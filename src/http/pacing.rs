//! `rate_limit`'s turns: request starts spaced evenly per host. A request
//! that gives up before its turn (cancelled, timed out) hands the turn
//! back, so the requests after it do not wait for requests that never went.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The start times handed out per host.
#[derive(Default)]
pub struct Pacer {
    hosts: Mutex<HashMap<String, Turns>>,
}

struct Turns {
    /// The first start time never handed out.
    next: Instant,
    /// Start times handed out and given back before they came.
    returned: BTreeSet<Instant>,
}

impl Pacer {
    /// The start time of the next request to `host`, `interval` after the
    /// one before it (or a turn given back, the earliest first).
    pub fn take(&self, host: &str, interval: Duration, now: Instant) -> Instant {
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        let turns = hosts.entry(host.to_owned()).or_insert_with(|| Turns {
            next: now,
            returned: BTreeSet::new(),
        });
        // A turn whose time has passed is gone: taking it would burst.
        turns.returned = turns.returned.split_off(&now);
        if let Some(turn) = turns.returned.pop_first() {
            return turn;
        }
        let start = turns.next.max(now);
        turns.next = start + interval;
        start
    }

    /// Gives back `start`, taken for `host` and not used.
    pub fn give_back(&self, host: &str, start: Instant, interval: Duration) {
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(turns) = hosts.get_mut(host) else {
            return;
        };
        if start + interval != turns.next {
            turns.returned.insert(start);
            return;
        }
        // The last turn handed out: the schedule shrinks, with any given-back
        // turns just before it.
        turns.next = start;
        while let Some(&last) = turns.returned.last() {
            if last + interval != turns.next {
                break;
            }
            turns.returned.pop_last();
            turns.next = last;
        }
    }
}

/// A turn taken and not yet used: dropped before [`Turn::used`], it is
/// given back.
pub struct Turn<'a> {
    pacer: &'a Pacer,
    host: String,
    pub start: Instant,
    interval: Duration,
    used: bool,
}

impl<'a> Turn<'a> {
    pub fn take(pacer: &'a Pacer, host: String, interval: Duration) -> Self {
        let start = pacer.take(&host, interval, Instant::now());
        Self {
            pacer,
            host,
            start,
            interval,
            used: false,
        }
    }

    /// The request went out at its turn.
    pub fn used(mut self) {
        self.used = true;
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if !self.used {
            self.pacer.give_back(&self.host, self.start, self.interval);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: Duration = Duration::from_millis(100);

    #[test]
    fn starts_are_spaced_by_the_interval() {
        let pacer = Pacer::default();
        let now = Instant::now();
        let starts: Vec<_> = (0..3).map(|_| pacer.take("h", STEP, now)).collect();
        assert_eq!(starts, vec![now, now + STEP, now + STEP * 2]);
        assert_eq!(pacer.take("other", STEP, now), now);
    }

    #[test]
    fn turns_given_back_are_not_waited_for() {
        let pacer = Pacer::default();
        let now = Instant::now();
        let taken: Vec<_> = (0..100).map(|_| pacer.take("h", STEP, now)).collect();
        // All cancelled, in any order: the next request starts at once.
        for start in taken.iter().rev().step_by(2).chain(taken.iter().step_by(2)) {
            pacer.give_back("h", *start, STEP);
        }
        assert_eq!(pacer.take("h", STEP, now), now);
        assert_eq!(pacer.take("h", STEP, now), now + STEP);
    }

    #[test]
    fn a_turn_in_the_middle_goes_to_the_next_request() {
        let pacer = Pacer::default();
        let now = Instant::now();
        let taken: Vec<_> = (0..3).map(|_| pacer.take("h", STEP, now)).collect();
        pacer.give_back("h", taken[1], STEP);
        assert_eq!(pacer.take("h", STEP, now), taken[1]);
        assert_eq!(pacer.take("h", STEP, now), now + STEP * 3);
    }

    #[test]
    fn a_turn_whose_time_passed_is_not_reused() {
        let pacer = Pacer::default();
        let now = Instant::now();
        let taken: Vec<_> = (0..3).map(|_| pacer.take("h", STEP, now)).collect();
        pacer.give_back("h", taken[0], STEP);
        let later = now + STEP / 2;
        assert_eq!(pacer.take("h", STEP, later), now + STEP * 3);
    }

    #[test]
    fn a_dropped_turn_is_given_back_and_a_used_one_kept() {
        let pacer = Pacer::default();
        Turn::take(&pacer, "h".to_owned(), STEP).used();
        drop(Turn::take(&pacer, "h".to_owned(), STEP));
        let now = Instant::now();
        let next = pacer.take("h", STEP, now);
        assert!(next > now && next <= now + STEP, "{next:?} vs {now:?}");
    }
}
