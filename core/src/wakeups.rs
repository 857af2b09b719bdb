//! The shard's upcoming timer deadlines, as far as the runtime knows them.
//!
//! An idle shard may wait for network events in its own io_uring instead
//! of parking in glommio (see `ringworker_io::uring`); while it does,
//! glommio's timers cannot fire. Timers whose lateness matters (a script's
//! `setTimeout`/`setInterval`) note their deadline here, and the wait ends
//! by the earliest one. Deadlines of timers cleared early stay until they
//! pass: a wait is then only shorter than it could be.
//!
//! ```
//! use std::time::{Duration, Instant};
//! let at = Instant::now() + Duration::from_millis(5);
//! ringworker_core::wakeups::note(at);
//! assert!(ringworker_core::wakeups::next().is_some_and(|n| n <= at));
//! ```

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// More noted deadlines than this and the passed ones are dropped at once.
const COMPACT_AT: usize = 4096;

thread_local! {
    static DEADLINES: RefCell<BinaryHeap<Reverse<Instant>>> = const { RefCell::new(BinaryHeap::new()) };
}

/// Notes that a timer on this thread is due at `at`.
pub fn note(at: Instant) {
    DEADLINES.with(|d| {
        let mut d = d.borrow_mut();
        if d.len() >= COMPACT_AT {
            let now = Instant::now();
            d.retain(|Reverse(t)| *t > now);
        }
        d.push(Reverse(at));
    });
}

/// The earliest noted deadline that has not passed yet.
pub fn next() -> Option<Instant> {
    DEADLINES.with(|d| {
        let mut d = d.borrow_mut();
        let now = Instant::now();
        while let Some(Reverse(t)) = d.peek() {
            if *t > now {
                return Some(*t);
            }
            d.pop();
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_earliest_future_deadline_wins_and_passed_ones_go() {
        let now = Instant::now();
        note(now + Duration::from_secs(10));
        note(now + Duration::from_secs(5));
        note(now - Duration::from_secs(1));
        assert_eq!(next(), Some(now + Duration::from_secs(5)));
        DEADLINES.with(|d| assert_eq!(d.borrow().len(), 2));
    }
}
