//! Work that leaves the loop's dispatcher for a tokio task of its own.
//!
//! The dispatcher polls the work of all of a loop's awaitables in one task,
//! which keeps their first steps in the order they were started (a request
//! waiting for a connection slot stays first come, first served) but puts
//! all of it on one worker thread. Work that reaches [`on_own_task`] there
//! leaves: its rest, with the hand-over of its outcome to the loop, runs as
//! a task of its own, so a process's single requests spread over every
//! worker and the dispatcher only starts them.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::task::JoinError;
use tokio_util::task::AbortOnDropHandle;

/// What the dispatcher polls: it finishes, or hands back the rest of
/// itself to be spawned.
pub type Dispatched = BoxFuture<'static, Option<BoxFuture<'static, ()>>>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Offer {
    /// Nothing polling here can move the work.
    None,
    /// The dispatcher is polling work it can move.
    Open,
    /// The work asked to move.
    Taken,
}

thread_local! {
    static OFFER: Cell<Offer> = const { Cell::new(Offer::None) };
}

/// Runs `work` as a tokio task of its own. Polled by the dispatcher, the
/// whole awaitable's work moves to a new task and `work` runs inline
/// there; polled anywhere else (inside another awaitable's work), `work`
/// is spawned and awaited, and aborted if this future is dropped.
pub async fn on_own_task<Work>(work: Work) -> Result<Work::Output, JoinError>
where
    Work: Future + Send + 'static,
    Work::Output: Send + 'static,
{
    if ask_to_move().await {
        Ok(work.await)
    } else {
        AbortOnDropHandle::new(tokio::spawn(work)).await
    }
}

/// True once the work has moved; false when it cannot move from here.
fn ask_to_move() -> impl Future<Output = bool> {
    let mut asked = false;
    std::future::poll_fn(move |_| {
        if asked {
            // Polled again: by the new task.
            return Poll::Ready(true);
        }
        if OFFER.get() != Offer::Open {
            return Poll::Ready(false);
        }
        OFFER.set(Offer::Taken);
        asked = true;
        // No waker is kept: the dispatcher spawns the work, whose task
        // polls it again at once.
        Poll::Pending
    })
}

/// Wraps `work` for the dispatcher: `finish` gets its outcome, from the
/// dispatcher or from the task the work moved to.
pub fn dispatched<Work, Finish>(work: Work, finish: Finish) -> Dispatched
where
    Work: Future + Send + 'static,
    Finish: FnOnce(Work::Output) + Send + 'static,
{
    let mut work = Some(Box::pin(work));
    let mut finish = Some(finish);
    std::future::poll_fn(move |cx: &mut Context<'_>| {
        let Some(running) = work.as_mut() else {
            return Poll::Ready(None);
        };
        let (polled, moved) = polled_with_offer(running.as_mut(), cx);
        match polled {
            Poll::Ready(outcome) => {
                work = None;
                if let Some(finish) = finish.take() {
                    finish(outcome);
                }
                Poll::Ready(None)
            }
            Poll::Pending if moved => {
                let (Some(running), Some(finish)) = (work.take(), finish.take()) else {
                    return Poll::Ready(None);
                };
                Poll::Ready(Some(running.map(finish).boxed()))
            }
            Poll::Pending => Poll::Pending,
        }
    })
    .boxed()
}

/// Polls `work` with the offer open; whether it took it.
fn polled_with_offer<Work: Future + ?Sized>(
    work: Pin<&mut Work>,
    cx: &mut Context<'_>,
) -> (Poll<Work::Output>, bool) {
    let outer = OFFER.replace(Offer::Open);
    let polled = work.poll(cx);
    let moved = OFFER.replace(outer) == Offer::Taken;
    (polled, moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_polled_by_the_dispatcher_moves_and_finishes_from_its_task() {
        let finished = Arc::new(Mutex::new(None));
        let record = Arc::clone(&finished);
        let work = async {
            let before = tokio::task::try_id();
            let after = on_own_task(async { tokio::task::try_id() }).await.ok();
            (before, after.flatten())
        };
        let rest = dispatched(work, move |ids| *record.lock().unwrap() = Some(ids)).await;
        // The dispatcher got the rest back instead of an outcome.
        assert!(finished.lock().unwrap().is_none());
        let rest = rest.expect("the work asked to move");
        tokio::spawn(rest).await.unwrap();
        let (before, after) = finished.lock().unwrap().take().unwrap();
        assert_ne!(before, after);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_polled_elsewhere_spawns_what_it_runs_on_its_own_task() {
        let here = tokio::task::try_id();
        let there = on_own_task(async { tokio::task::try_id() }).await.unwrap();
        assert_ne!(here, there);
        // The offer never leaks out of a dispatcher's poll.
        assert!(OFFER.get() == Offer::None);
    }

    #[tokio::test]
    async fn work_that_never_asks_finishes_in_the_dispatcher() {
        let finished = Arc::new(Mutex::new(None));
        let record = Arc::clone(&finished);
        let rest = dispatched(async { 7 }, move |value| {
            *record.lock().unwrap() = Some(value)
        })
        .await;
        assert!(rest.is_none());
        assert_eq!(*finished.lock().unwrap(), Some(7));
    }
}
