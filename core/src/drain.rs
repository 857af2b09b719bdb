//! [`DrainSignal`]: a shard-local broadcast of the shutdown stages.
//!
//! `Running` -> `Draining` (stop accepting, finish in-flight work, no new
//! keep-alive) -> `Forced` (the drain deadline passed: close what is left).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A shutdown stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DrainStage {
    /// Serving normally.
    Running,
    /// Shutdown requested: finish in-flight requests, accept nothing new.
    Draining,
    /// The drain deadline passed: close everything now.
    Forced,
}

#[derive(Debug)]
struct Inner {
    stage: Cell<DrainStage>,
    waiters: RefCell<Vec<Waker>>,
    /// Long-lived subscribers (one per connection), woken on every advance.
    /// Slots are reused so a shard serving millions of connections keeps a
    /// list as long as its peak of concurrent ones.
    subscribers: RefCell<Vec<Option<Waker>>>,
    free: RefCell<Vec<usize>>,
}

/// Shard-local shutdown broadcast; clones share the state. Not `Send`.
#[derive(Debug, Clone)]
pub struct DrainSignal(Rc<Inner>);

impl Default for DrainSignal {
    fn default() -> Self {
        Self::new()
    }
}

impl DrainSignal {
    /// A signal in the `Running` stage.
    pub fn new() -> Self {
        Self(Rc::new(Inner {
            stage: Cell::new(DrainStage::Running),
            waiters: RefCell::new(Vec::new()),
            subscribers: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
        }))
    }

    /// The current stage.
    #[inline]
    pub fn stage(&self) -> DrainStage {
        self.0.stage.get()
    }

    /// Whether shutdown has begun.
    #[inline]
    pub fn is_draining(&self) -> bool {
        self.stage() >= DrainStage::Draining
    }

    /// Moves to `stage` if it is later than the current one, waking waiters.
    pub fn advance(&self, stage: DrainStage) {
        if stage > self.0.stage.get() {
            self.0.stage.set(stage);
            let waiters = std::mem::take(&mut *self.0.waiters.borrow_mut());
            for w in waiters {
                w.wake();
            }
            let subs: Vec<Waker> = self
                .0
                .subscribers
                .borrow()
                .iter()
                .flatten()
                .cloned()
                .collect();
            for w in subs {
                w.wake();
            }
        }
    }

    /// Registers `waker` to be woken on every stage change until the returned
    /// guard is dropped. For tasks that check [`stage`](Self::stage) on each
    /// poll and whose waker does not change (a connection task): one
    /// registration instead of one per poll.
    pub fn subscribe(&self, waker: &Waker) -> DrainSubscription {
        let slot = match self.0.free.borrow_mut().pop() {
            Some(i) => {
                self.0.subscribers.borrow_mut()[i] = Some(waker.clone());
                i
            }
            None => {
                let mut subs = self.0.subscribers.borrow_mut();
                subs.push(Some(waker.clone()));
                subs.len() - 1
            }
        };
        DrainSubscription {
            signal: self.clone(),
            slot,
        }
    }

    /// Resolves once the stage is at least `stage`.
    pub fn reached(&self, stage: DrainStage) -> Reached {
        Reached {
            signal: self.clone(),
            stage,
        }
    }
}

/// Keeps a [`DrainSignal::subscribe`] registration alive.
#[derive(Debug)]
pub struct DrainSubscription {
    signal: DrainSignal,
    slot: usize,
}

impl Drop for DrainSubscription {
    fn drop(&mut self) {
        self.signal.0.subscribers.borrow_mut()[self.slot] = None;
        self.signal.0.free.borrow_mut().push(self.slot);
    }
}

/// Future returned by [`DrainSignal::reached`].
#[derive(Debug)]
pub struct Reached {
    signal: DrainSignal,
    stage: DrainStage,
}

impl Future for Reached {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.signal.stage() >= self.stage {
            return Poll::Ready(());
        }
        let mut w = self.signal.0.waiters.borrow_mut();
        if !w.iter().any(|x| x.will_wake(cx.waker())) {
            w.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::CountWake as Count;

    #[test]
    fn subscribers_are_woken_per_stage_and_slots_reused() {
        let d = DrainSignal::new();
        let c = Arc::new(Count(AtomicUsize::new(0)));
        let w = Waker::from(c.clone());
        let a = d.subscribe(&w);
        let b = d.subscribe(&w);
        drop(a);
        let _c2 = d.subscribe(&w); // reuses a's slot
        assert_eq!(d.0.subscribers.borrow().len(), 2);
        d.advance(DrainStage::Draining);
        assert_eq!(c.0.load(Ordering::SeqCst), 2);
        d.advance(DrainStage::Draining); // no change, no wake
        d.advance(DrainStage::Forced);
        assert_eq!(c.0.load(Ordering::SeqCst), 4);
        drop(b);
        assert!(d.is_draining());
    }
}
