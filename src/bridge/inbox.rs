//! The completion inbox of one event loop: tokio threads push finished
//! results, and the loop thread is woken through one file descriptor that
//! is written only when the inbox goes from empty to non-empty.

use std::io;
use std::os::fd::RawFd;
// The real fds; under loom the wake-up is a model.
#[cfg(not(fastio_loom))]
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::PoisonError;

// Under loom the lock is loom's, so its model checker can interleave it.
#[cfg(fastio_loom)]
use loom::sync::Mutex;
#[cfg(not(fastio_loom))]
use std::sync::Mutex;

/// A queue of plain Rust values plus the fd that wakes its reader.
pub struct Inbox<T> {
    items: Mutex<Vec<T>>,
    wake: WakeFd,
}

impl<T> Inbox<T> {
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            items: Mutex::new(Vec::new()),
            wake: WakeFd::new()?,
        })
    }

    /// The fd to watch for readability.
    pub fn fd(&self) -> RawFd {
        self.wake.read_fd()
    }

    /// Adds items; signals the fd only if the inbox was empty, so a burst
    /// of completions costs the reader one wake-up.
    pub fn push_all(&self, new_items: impl IntoIterator<Item = T>) {
        let was_empty = {
            let mut items = self.items.lock().unwrap_or_else(PoisonError::into_inner);
            let was_empty = items.is_empty();
            items.extend(new_items);
            was_empty && !items.is_empty()
        };
        if was_empty {
            self.wake.signal();
        }
    }

    /// Takes items in arrival order until their total `weight` reaches
    /// `max_weight` (at least one item), and reports whether more remain.
    /// The fd is cleared before taking, so a push that lands after the take
    /// always signals again and no wake-up is lost.
    pub fn take_batch(&self, max_weight: usize, weight: impl Fn(&T) -> usize) -> (Vec<T>, bool) {
        self.wake.clear();
        let mut items = self.items.lock().unwrap_or_else(PoisonError::into_inner);
        let mut total = 0;
        let count = items
            .iter()
            .take_while(|item| {
                let fits = total == 0 || total < max_weight;
                total += weight(item);
                fits
            })
            .count();
        if count == items.len() {
            (std::mem::take(&mut *items), false)
        } else {
            (items.drain(..count).collect(), true)
        }
    }
}

/// Under loom: a flag with an eventfd's semantics (`signal` makes it
/// readable, `clear` empties it), which loom can interleave.
#[cfg(fastio_loom)]
struct WakeFd {
    readable: loom::sync::atomic::AtomicBool,
}

#[cfg(fastio_loom)]
impl WakeFd {
    fn new() -> io::Result<Self> {
        Ok(Self {
            readable: loom::sync::atomic::AtomicBool::new(false),
        })
    }

    fn read_fd(&self) -> RawFd {
        -1
    }

    fn signal(&self) {
        self.readable
            .store(true, loom::sync::atomic::Ordering::SeqCst);
    }

    fn clear(&self) {
        self.readable
            .store(false, loom::sync::atomic::Ordering::SeqCst);
    }

    fn is_readable(&self) -> bool {
        self.readable.load(loom::sync::atomic::Ordering::SeqCst)
    }
}

/// Linux: one eventfd. Elsewhere: a pipe.
#[cfg(not(fastio_loom))]
struct WakeFd {
    read: OwnedFd,
    #[cfg(not(target_os = "linux"))]
    write: OwnedFd,
}

#[cfg(not(fastio_loom))]
impl WakeFd {
    #[cfg(target_os = "linux")]
    fn new() -> io::Result<Self> {
        // SAFETY: eventfd has no memory-safety preconditions.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
        Ok(Self {
            read: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn new() -> io::Result<Self> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors pipe writes.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors are fresh and owned by nothing else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for fd in [&read, &write] {
            // SAFETY: plain fcntl calls on descriptors we own.
            unsafe {
                libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK);
                libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        Ok(Self { read, write })
    }

    fn read_fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    #[cfg(target_os = "linux")]
    fn write_fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    #[cfg(not(target_os = "linux"))]
    fn write_fd(&self) -> RawFd {
        self.write.as_raw_fd()
    }

    /// Makes the fd readable. A failed write means the counter or pipe is
    /// already full, which leaves it readable anyway.
    fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local.
        unsafe {
            libc::write(
                self.write_fd(),
                (&one as *const u64).cast::<libc::c_void>(),
                std::mem::size_of::<u64>(),
            )
        };
    }

    /// Consumes every pending signal without blocking.
    fn clear(&self) {
        let mut buffer = [0_u8; 64];
        loop {
            // SAFETY: reads into a live local buffer of the stated size.
            let read = unsafe {
                libc::read(
                    self.read_fd(),
                    buffer.as_mut_ptr().cast::<libc::c_void>(),
                    buffer.len(),
                )
            };
            // An eventfd is emptied by one read; a pipe may need several.
            if read <= 0 || cfg!(target_os = "linux") {
                break;
            }
        }
    }
}

/// The wake-up protocol under loom's model checker: every interleaving of
/// pushes from tokio threads with the loop thread's drain.
/// `make loom` runs them.
#[cfg(all(test, fastio_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    fn pushers(inbox: &Arc<Inbox<u32>>, count: u32) -> Vec<thread::JoinHandle<()>> {
        (0..count)
            .map(|number| {
                let inbox = Arc::clone(inbox);
                thread::spawn(move || inbox.push_all([number]))
            })
            .collect()
    }

    fn queued(inbox: &Inbox<u32>) -> usize {
        inbox
            .items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    #[test]
    fn a_push_racing_a_drain_always_leaves_the_fd_readable() {
        loom::model(|| {
            let inbox = Arc::new(Inbox::new().unwrap());
            let threads = pushers(&inbox, 2);
            // The loop's reader callback, racing the pushes.
            let mut received = Vec::new();
            if inbox.wake.is_readable() {
                received.extend(inbox.take_batch(usize::MAX, |_| 1).0);
            }
            for thread in threads {
                thread.join().unwrap();
            }
            // Anything still queued must have the fd readable, so the loop
            // is woken for it: no result waits forever.
            if queued(&inbox) > 0 {
                assert!(inbox.wake.is_readable());
            }
            received.extend(inbox.take_batch(usize::MAX, |_| 1).0);
            received.sort_unstable();
            assert_eq!(received, vec![0, 1]);
        });
    }

    #[test]
    fn a_sliced_drain_says_when_more_remain() {
        loom::model(|| {
            let inbox = Arc::new(Inbox::new().unwrap());
            let threads = pushers(&inbox, 2);
            let mut more = false;
            let mut received = Vec::new();
            if inbox.wake.is_readable() {
                // One item per slice: the rest is the reader's to reschedule.
                let (items, remaining) = inbox.take_batch(1, |_| 1);
                received.extend(items);
                more = remaining;
            }
            for thread in threads {
                thread.join().unwrap();
            }
            if queued(&inbox) > 0 {
                assert!(more || inbox.wake.is_readable());
            }
            received.extend(inbox.take_batch(usize::MAX, |_| 1).0);
            received.sort_unstable();
            assert_eq!(received, vec![0, 1]);
        });
    }
}

#[cfg(all(test, not(fastio_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn is_readable(fd: RawFd) -> bool {
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polls one live descriptor without waiting.
        let ready = unsafe { libc::poll(&mut poll, 1, 0) };
        ready == 1 && poll.revents & libc::POLLIN != 0
    }

    #[cfg(target_os = "linux")]
    fn eventfd_count(fd: RawFd) -> u64 {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a live local.
        let read = unsafe {
            libc::read(
                fd,
                (&mut count as *mut u64).cast::<libc::c_void>(),
                std::mem::size_of::<u64>(),
            )
        };
        if read == 8 {
            count
        } else {
            0
        }
    }

    fn one<T>(_: &T) -> usize {
        1
    }

    #[test]
    fn heavy_items_end_a_batch_early() -> io::Result<()> {
        let inbox = Inbox::new()?;
        inbox.push_all([600_usize, 600, 10, 10]);
        let (first, more) = inbox.take_batch(1000, |weight| *weight);
        assert_eq!(first, vec![600, 600]);
        assert!(more);
        let (giant, _) = {
            inbox.push_all([5000]);
            inbox.take_batch(1000, |weight| *weight)
        };
        assert_eq!(giant, vec![10, 10, 5000]);
        Ok(())
    }

    #[test]
    fn pushing_nothing_does_not_signal() -> io::Result<()> {
        let inbox: Inbox<u8> = Inbox::new()?;
        inbox.push_all([]);
        assert!(!is_readable(inbox.fd()));
        Ok(())
    }

    #[test]
    fn an_empty_inbox_is_not_readable() -> io::Result<()> {
        let inbox: Inbox<u32> = Inbox::new()?;
        assert!(!is_readable(inbox.fd()));
        Ok(())
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_burst_of_pushes_signals_once() -> io::Result<()> {
        let inbox = Inbox::new()?;
        for value in 0..100 {
            inbox.push_all([value]);
        }
        assert_eq!(eventfd_count(inbox.fd()), 1);
        Ok(())
    }

    #[test]
    fn take_batch_keeps_order_and_respects_the_limit() -> io::Result<()> {
        let inbox = Inbox::new()?;
        for value in 0..10 {
            inbox.push_all([value]);
        }
        let (first, more) = inbox.take_batch(4, one);
        assert_eq!(first, vec![0, 1, 2, 3]);
        assert!(more);
        let (rest, more) = inbox.take_batch(100, one);
        assert_eq!(rest, vec![4, 5, 6, 7, 8, 9]);
        assert!(!more);
        assert!(!is_readable(inbox.fd()));
        Ok(())
    }

    #[test]
    fn a_push_after_draining_signals_again() -> io::Result<()> {
        let inbox = Inbox::new()?;
        inbox.push_all([1]);
        let _ = inbox.take_batch(10, one);
        assert!(!is_readable(inbox.fd()));
        inbox.push_all([2]);
        assert!(is_readable(inbox.fd()));
        assert_eq!(inbox.take_batch(10, one).0, vec![2]);
        Ok(())
    }

    #[test]
    fn pushes_from_many_threads_all_arrive() -> io::Result<()> {
        let inbox = Arc::new(Inbox::new()?);
        let writers: Vec<_> = (0..4)
            .map(|thread| {
                let inbox = Arc::clone(&inbox);
                std::thread::spawn(move || {
                    for value in 0..1000 {
                        inbox.push_all([thread * 1000 + value]);
                    }
                })
            })
            .collect();
        let mut seen = Vec::new();
        while seen.len() < 4000 {
            seen.extend(inbox.take_batch(256, one).0);
            if writers.iter().all(|writer| writer.is_finished()) {
                seen.extend(inbox.take_batch(usize::MAX, one).0);
            }
        }
        for writer in writers {
            assert!(writer.join().is_ok());
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..4000).collect::<Vec<_>>());
        Ok(())
    }
}
