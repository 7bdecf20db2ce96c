//! The bytes all the bodies of one bulk call may hold while they arrive.
//!
//! Each body's own limit (`max_body_size`) bounds one response; at a
//! concurrency of 1,000 that is still 1,000 limits. A [`BodyBudget`] bounds
//! their sum: a body that would take it past its total waits (so reads no
//! more from its connection) until others finish. The body that started
//! holding first never waits, so the bodies in flight always make progress;
//! the most held at once is the total plus one body's limit.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// Bodies take the budget in steps of at least this much, so a body of
/// many small pieces takes its lock a few times, not once per piece.
const STEP: u64 = 256 * 1024;

/// The shared total of one bulk call.
pub struct BodyBudget {
    total: u64,
    ledger: Mutex<Ledger>,
    freed: Notify,
}

#[derive(Default)]
struct Ledger {
    used: u64,
    /// The tickets of the bodies holding part of the budget.
    holders: BTreeSet<u64>,
    next_ticket: u64,
}

impl BodyBudget {
    /// A budget of `total` bytes.
    pub fn new(total: u64) -> Arc<Self> {
        Arc::new(Self {
            total,
            ledger: Mutex::new(Ledger::default()),
            freed: Notify::new(),
        })
    }

    /// The total it was made with.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// A share for one body, holding nothing yet. Bodies that ask earlier
    /// go first when the budget is short.
    pub fn share(self: &Arc<Self>) -> Share {
        let ticket = {
            let mut ledger = self.lock();
            ledger.next_ticket += 1;
            ledger.next_ticket
        };
        Share {
            budget: Arc::clone(self),
            ticket,
            held: 0,
            used: 0,
        }
    }

    /// Bytes held by all shares now.
    pub fn used(&self) -> u64 {
        self.lock().used
    }

    fn lock(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One body's part of a [`BodyBudget`], given back when dropped.
pub struct Share {
    budget: Arc<BodyBudget>,
    ticket: u64,
    /// Bytes taken from the budget.
    held: u64,
    /// Bytes of the body counted so far (at most `held`).
    used: u64,
}

impl Share {
    /// Counts `amount` more bytes of the body, first waiting until the
    /// budget has room for them.
    pub async fn take(&mut self, amount: u64) {
        let wanted = self.used.saturating_add(amount);
        if wanted > self.held {
            let more = (wanted - self.held).max(STEP);
            self.acquire(more).await;
        }
        self.used = wanted;
    }

    async fn acquire(&mut self, more: u64) {
        let budget = Arc::clone(&self.budget);
        loop {
            let freed = budget.freed.notified();
            tokio::pin!(freed);
            // Registered before looking, so a release in between wakes it.
            freed.as_mut().enable();
            {
                let mut ledger = budget.lock();
                let first = ledger
                    .holders
                    .first()
                    .is_none_or(|&ticket| ticket == self.ticket);
                if first || ledger.used.saturating_add(more) <= budget.total {
                    ledger.used = ledger.used.saturating_add(more);
                    ledger.holders.insert(self.ticket);
                    self.held = self.held.saturating_add(more);
                    return;
                }
            }
            freed.await;
        }
    }
}

impl std::fmt::Debug for Share {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Share")
            .field("ticket", &self.ticket)
            .field("held", &self.held)
            .finish_non_exhaustive()
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        if self.held == 0 {
            return;
        }
        {
            let mut ledger = self.budget.lock();
            ledger.used = ledger.used.saturating_sub(self.held);
            ledger.holders.remove(&self.ticket);
        }
        self.budget.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn shares_within_the_total_do_not_wait() {
        let budget = BodyBudget::new(4 * STEP);
        let mut first = budget.share();
        let mut second = budget.share();
        first.take(STEP).await;
        second.take(2 * STEP).await;
        assert_eq!(budget.used(), 3 * STEP);
        drop(first);
        drop(second);
        assert_eq!(budget.used(), 0);
    }

    #[tokio::test]
    async fn a_later_share_waits_until_room_is_freed() {
        let budget = BodyBudget::new(2 * STEP);
        let mut first = budget.share();
        let mut second = budget.share();
        first.take(2 * STEP).await;
        let waiting = tokio::spawn(async move {
            second.take(STEP).await;
            second
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "it should wait for room");
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken once room is freed")
            .expect("no panic");
        assert_eq!(budget.used(), STEP);
        drop(second);
    }

    #[tokio::test]
    async fn the_first_holder_never_waits_so_bodies_progress() {
        let budget = BodyBudget::new(2 * STEP);
        let mut first = budget.share();
        let mut second = budget.share();
        first.take(STEP).await;
        second.take(STEP).await;
        // Full, and both want more: the first goes on past the total.
        tokio::time::timeout(Duration::from_secs(5), first.take(10 * STEP))
            .await
            .expect("the first holder does not wait");
        assert_eq!(budget.used(), 12 * STEP);
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), second.take(STEP))
            .await
            .expect("now first itself");
    }
}
