//! [`CancelFlag`]: why an in-flight request, stream or socket ended.
//!
//! The I/O side sets it the moment it learns of the end (a read returning 0,
//! `ECONNRESET`, a failed write, a timeout, shutdown); every consumer checks it
//! with one atomic load, and may `.await` it. The first reason set wins.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crossbeam_queue::SegQueue;

use crate::clock::Stamp;

/// Why something was cancelled. Stored as one byte in a [`CancelFlag`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CancelReason {
    /// The peer closed its side of the connection (FIN).
    PeerClosed = 1,
    /// The peer reset the connection (RST / `ECONNRESET` / `EPIPE`).
    PeerReset = 2,
    /// A configured timeout expired.
    Timeout = 3,
    /// The server is shutting down and the drain deadline passed.
    Shutdown = 4,
    /// The owner was evicted (actor eviction, isolate recycling).
    Evicted = 5,
    /// The request's body was malformed or over its limit.
    BadInput = 6,
    /// The handler or script asked for it.
    Aborted = 7,
}

impl CancelReason {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::PeerClosed,
            2 => Self::PeerReset,
            3 => Self::Timeout,
            4 => Self::Shutdown,
            5 => Self::Evicted,
            6 => Self::BadInput,
            7 => Self::Aborted,
            _ => return None,
        })
    }

    /// Whether the reason means the client went away.
    pub fn is_disconnect(self) -> bool {
        matches!(self, Self::PeerClosed | Self::PeerReset)
    }

    /// A short human description, used in error messages and JS abort reasons.
    pub fn describe(self) -> &'static str {
        match self {
            Self::PeerClosed => "client disconnected",
            Self::PeerReset => "client connection reset",
            Self::Timeout => "timed out",
            Self::Shutdown => "server shutting down",
            Self::Evicted => "evicted",
            Self::BadInput => "malformed or oversized input",
            Self::Aborted => "aborted",
        }
    }
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

struct Inner {
    reason: AtomicU8,
    set_at: AtomicU64,
    waiters: SegQueue<Waker>,
}

/// A lock-free, cheaply clonable flag recording why something ended.
///
/// Checking it is one atomic load — no syscall — so hot paths (the JS
/// `enqueue()`, a forwarding pump, the keepalive ledger) can test it per chunk.
///
/// ```
/// use ringworker_core::{CancelFlag, CancelReason};
/// let flag = CancelFlag::new();
/// assert!(!flag.is_cancelled());
/// assert!(flag.cancel(CancelReason::PeerClosed));
/// assert!(!flag.cancel(CancelReason::Timeout)); // first reason wins
/// assert_eq!(flag.reason(), Some(CancelReason::PeerClosed));
/// ```
#[derive(Clone)]
pub struct CancelFlag(Arc<Inner>);

impl Default for CancelFlag {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CancelFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelFlag")
            .field("reason", &self.reason())
            .finish()
    }
}

impl CancelFlag {
    /// A new flag, not cancelled.
    pub fn new() -> Self {
        Self(Arc::new(Inner {
            reason: AtomicU8::new(0),
            set_at: AtomicU64::new(0),
            waiters: SegQueue::new(),
        }))
    }

    /// Records `reason` if no reason was recorded yet and wakes every waiter.
    /// Returns whether this call was the one that set it.
    pub fn cancel(&self, reason: CancelReason) -> bool {
        let won = self
            .0
            .reason
            .compare_exchange(0, reason as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if won {
            self.0
                .set_at
                .store(Stamp::now().to_raw(), Ordering::Release);
            while let Some(w) = self.0.waiters.pop() {
                w.wake();
            }
        }
        won
    }

    /// Whether a reason has been recorded. One atomic load.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.0.reason.load(Ordering::Acquire) != 0
    }

    /// The recorded reason, if any.
    #[inline]
    pub fn reason(&self) -> Option<CancelReason> {
        CancelReason::from_u8(self.0.reason.load(Ordering::Acquire))
    }

    /// When the reason was recorded (monotonic clock), if it was.
    pub fn cancelled_at(&self) -> Option<Instant> {
        Stamp::from_raw(self.0.set_at.load(Ordering::Acquire)).map(Stamp::at)
    }

    /// A future that resolves with the reason once the flag is set.
    ///
    /// # Cancel safety
    /// Dropping it loses nothing; a new one can be created at any time.
    pub fn cancelled(&self) -> Cancelled<'_> {
        Cancelled {
            flag: self,
            registered: None,
        }
    }

    /// Whether two handles refer to the same flag.
    pub fn same_as(&self, other: &CancelFlag) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Future returned by [`CancelFlag::cancelled`].
#[derive(Debug)]
pub struct Cancelled<'a> {
    flag: &'a CancelFlag,
    registered: Option<Waker>,
}

impl Future for Cancelled<'_> {
    type Output = CancelReason;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<CancelReason> {
        if let Some(r) = self.flag.reason() {
            return Poll::Ready(r);
        }
        // Register once per distinct waker, so re-polls do not grow the queue.
        let fresh = match &self.registered {
            Some(w) => !w.will_wake(cx.waker()),
            None => true,
        };
        if fresh {
            self.flag.0.waiters.push(cx.waker().clone());
            self.registered = Some(cx.waker().clone());
        }
        // Re-check: the flag may have been set between the load and the push.
        match self.flag.reason() {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    use crate::CountWake;

    #[test]
    fn first_reason_wins_and_wakes_waiters() {
        let flag = CancelFlag::new();
        let counter = Arc::new(CountWake(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut fut = Box::pin(flag.cancelled());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert!(fut.as_mut().poll(&mut cx).is_pending()); // no double registration
        assert_eq!(flag.0.waiters.len(), 1);
        assert!(flag.cancel(CancelReason::PeerReset));
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert_eq!(
            fut.as_mut().poll(&mut cx),
            Poll::Ready(CancelReason::PeerReset)
        );
        assert!(!flag.cancel(CancelReason::Timeout));
        assert_eq!(flag.reason(), Some(CancelReason::PeerReset));
        assert!(flag.cancelled_at().unwrap() <= Instant::now());
    }

    #[test]
    fn cancel_from_another_thread() {
        let flag = CancelFlag::new();
        let f2 = flag.clone();
        std::thread::spawn(move || f2.cancel(CancelReason::Shutdown))
            .join()
            .unwrap();
        assert_eq!(flag.reason(), Some(CancelReason::Shutdown));
        assert!(flag.reason().unwrap().describe().contains("shutting"));
    }
}
