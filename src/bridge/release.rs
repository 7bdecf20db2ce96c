//! Dropping chains of awaitables without recursion.
//!
//! An awaitable can hold others (a gather its children), so freeing the
//! outermost of a chain 100,000 deep would free each inner one inside the
//! drop of the one above it, and overflow the native stack. CPython's own
//! containers avoid this with its "trashcan"; this is the same idea: a drop
//! that starts inside another one is queued, and the outermost drains the
//! queue in a loop, so the stack stays as deep as one level.

use std::any::Any;
use std::cell::RefCell;

thread_local! {
    /// `Some` while this thread is draining: what is dropped meanwhile waits here.
    static QUEUED: RefCell<Option<Vec<Box<dyn Any>>>> = const { RefCell::new(None) };
}

/// Drops `value` now, or after the drop already running on this thread.
pub fn release<T: 'static>(value: T) {
    let mut value = Some(value);
    let queued = QUEUED.try_with(|queued| match queued.borrow_mut().as_mut() {
        Some(list) => {
            if let Some(value) = value.take() {
                list.push(Box::new(value));
            }
            true
        }
        None => false,
    });
    if queued != Ok(false) {
        // Queued behind a running drain, or this thread is exiting (its
        // queue is gone): dropped here.
        drop(value);
        return;
    }
    let _ = QUEUED.try_with(|queued| *queued.borrow_mut() = Some(Vec::new()));
    drop(value);
    while let Some(next) = QUEUED
        .try_with(|queued| queued.borrow_mut().as_mut().and_then(Vec::pop))
        .ok()
        .flatten()
    {
        drop(next);
    }
    let _ = QUEUED.try_with(|queued| *queued.borrow_mut() = None);
}

#[cfg(test)]
mod tests {
    use super::release;

    /// A linked chain whose plain drop recurses once per link.
    struct Link(Option<Box<Link>>);

    impl Drop for Link {
        fn drop(&mut self) {
            if let Some(next) = self.0.take() {
                release(next);
            }
        }
    }

    #[test]
    fn a_long_chain_is_dropped_without_deep_recursion() {
        let mut chain = Link(None);
        for _ in 0..1_000_000 {
            chain = Link(Some(Box::new(chain)));
        }
        // Run on a small stack: a recursive drop of a million links overflows it.
        let dropped = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || release(chain))
            .and_then(|thread| {
                thread
                    .join()
                    .map_err(|_| std::io::Error::other("the drop panicked"))
            });
        assert!(dropped.is_ok());
    }
}
