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
