//! [`Stamp`]: a point in time in 8 bytes, for state kept per socket or
//! stored in an atomic.

use std::num::NonZeroU64;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A monotonic point in time in 8 bytes (`Option<Stamp>` too): nanoseconds
/// since the process's clock base, plus one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp(NonZeroU64);

impl Stamp {
    fn base() -> Instant {
        static BASE: OnceLock<Instant> = OnceLock::new();
        *BASE.get_or_init(Instant::now)
    }

    /// Sets the clock base if it is not set yet (instants before it are
    /// stamped as the base).
    pub fn init() {
        Self::base();
    }

    /// `t` (the base if `t` is earlier).
    pub fn of(t: Instant) -> Self {
        let n = t.saturating_duration_since(Self::base()).as_nanos() as u64;
        Self(NonZeroU64::MIN.saturating_add(n))
    }

    /// Now.
    pub fn now() -> Self {
        Self::of(Instant::now())
    }

    /// The instant it stands for.
    pub fn at(self) -> Instant {
        Self::base() + Duration::from_nanos(self.0.get() - 1)
    }

    /// As a number (never 0: 0 can stand for "none" in an atomic).
    pub fn to_raw(self) -> u64 {
        self.0.get()
    }

    /// From [`to_raw`](Self::to_raw); `None` for 0.
    pub fn from_raw(n: u64) -> Option<Self> {
        NonZeroU64::new(n).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_keep_their_order() {
        let a = Stamp::now();
        let t = Instant::now() + Duration::from_millis(5);
        let b = Stamp::of(t);
        assert!(a < b);
        assert_eq!(b.at(), t);
        assert_eq!(Stamp::from_raw(b.to_raw()), Some(b));
        assert_eq!(Stamp::from_raw(0), None);
    }
}
