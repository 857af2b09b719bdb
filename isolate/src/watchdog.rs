//! The CPU-time guard: a script stuck in a loop is terminated, not waited for.
//!
//! Every entry into JS (a `fetch` call, a timer, a promise continuation) runs
//! synchronously on its shard, so its wall time is its CPU time. Entering
//! stores a deadline in the isolate's [`Watch`] (one atomic store); one
//! process-wide watchdog thread looks at the deadlines while isolates are
//! entering JS and calls V8's `terminate_execution` on those past theirs.
//! Deadlines are wall-clock, but before terminating, the watchdog reads the
//! shard thread's CPU clock: time the thread spent preempted (a busy
//! machine, a parallel build) is not charged to the script, which gets the
//! rest of its limit in CPU time, as Workers promise.
//! It sleeps until the earliest deadline of an entry in progress, and
//! otherwise for a quarter of the smallest limit any entry used (1-20 ms):
//! an entry that starts while it sleeps is seen well before its deadline.
//! (It used to look every 2 ms: 500 wake-ups a second, each a context
//! switch on a shard's core whenever the process is confined to one.)
//! After a short stretch with no entry (`IDLE_PARK`, 40 ms) it parks, and the
//! next entry wakes it — so an idle server has no periodic wake-ups, and a
//! busy one never pays a syscall to enter JS (waking the watchdog on every
//! entry cost a futex call and a context switch each time a lightly loaded
//! shard went into JS).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Bounds of how long the watchdog sleeps between looks while isolates are
/// entering JS (a quarter of the smallest limit, within these).
const TICK_MIN: Duration = Duration::from_millis(1);
const TICK_MAX: Duration = Duration::from_millis(20);

/// How long without any entry before the watchdog parks: two of its
/// longest ticks. Each park costs the next entry one futex wake; each tick
/// costs a wake-up of its own, so parking sooner is cheaper as soon as the
/// gaps between entries are longer than a couple of ticks (at 10 requests
/// a second, 200 ms here meant ~8 ticks per request, ~25 ms of CPU in 8 s).
const IDLE_PARK: Duration = Duration::from_millis(40);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_nanos() -> u64 {
    epoch().elapsed().as_nanos() as u64 + 1
}

/// One isolate's deadline, shared with the watchdog.
#[derive(Debug)]
pub(crate) struct Watch {
    handle: v8::IsolateHandle,
    /// Nanoseconds since the epoch by which the current entry must end; 0 when
    /// the isolate is not running JS.
    deadline: AtomicU64,
    /// Nanoseconds since the epoch when JS was last entered (never reset).
    entered: AtomicU64,
    terminated: AtomicBool,
    /// The CPU clock of the thread that runs the isolate (None if unknown).
    cpu_clock: Option<libc::clockid_t>,
    /// The watchdog's own notes on the entry it last saw: which entry (its
    /// `entered`), and the thread's CPU time and the wall time then.
    seen_entry: AtomicU64,
    seen_cpu: AtomicU64,
    seen_wall: AtomicU64,
}

struct Registry {
    watches: Mutex<Vec<std::sync::Weak<Watch>>>,
    /// The smallest limit any entry used (nanoseconds).
    min_limit: AtomicU64,
    parked: AtomicBool,
    wake: Condvar,
    lock: Mutex<()>,
}

fn registry() -> &'static Registry {
    static REG: OnceLock<&'static Registry> = OnceLock::new();
    REG.get_or_init(|| {
        let reg: &'static Registry = Box::leak(Box::new(Registry {
            watches: Mutex::new(Vec::new()),
            min_limit: AtomicU64::new(u64::MAX),
            parked: AtomicBool::new(false),
            wake: Condvar::new(),
            lock: Mutex::new(()),
        }));
        std::thread::Builder::new()
            .name("js-watchdog".into())
            .spawn(move || {
                crate::platform::unpin_current_thread();
                watchdog(reg)
            })
            .expect("spawn the JS watchdog thread");
        reg
    })
}

/// How long the watchdog sleeps between looks while isolates enter JS: a
/// quarter of the smallest limit any entry used, within the bounds.
fn tick_nanos(reg: &Registry) -> u64 {
    let limit = reg.min_limit.load(Ordering::Relaxed);
    (Duration::from_nanos(limit / 4).clamp(TICK_MIN, TICK_MAX)).as_nanos() as u64
}

/// The CPU time charged to an entry that started at `entered` and that the
/// watchdog first saw at `seen_wall`, having used `cpu_since_seen` of its
/// thread's CPU clock since. Before the watchdog saw it, the entry is
/// charged its wall time — but at most one `tick`: a watchdog on time sees
/// every entry within a tick, so wall time beyond that is the watchdog's
/// own lateness (a starved process, a parallel build), not the script's
/// CPU. A script that really spins is then stopped by its CPU clock within
/// the rest of its limit.
fn charged(entered: u64, seen_wall: u64, cpu_since_seen: u64, tick: u64) -> u64 {
    seen_wall.saturating_sub(entered).min(tick) + cpu_since_seen
}

fn watchdog(reg: &'static Registry) {
    let idle = IDLE_PARK.as_nanos() as u64;
    loop {
        let now = now_nanos();
        let mut busy = false;
        // The earliest deadline still ahead.
        let mut next = u64::MAX;
        if let Ok(mut watches) = reg.watches.lock() {
            watches.retain(|w| w.strong_count() > 0);
            for w in watches.iter().filter_map(|w| w.upgrade()) {
                if w.entered.load(Ordering::Relaxed) + idle > now {
                    busy = true;
                }
                let d = w.deadline.load(Ordering::Acquire);
                if d == 0 {
                    continue;
                }
                busy = true;
                let entered = w.entered.load(Ordering::Acquire);
                if w.seen_entry.swap(entered, Ordering::Relaxed) != entered {
                    // A new entry: note the thread's CPU time now.
                    w.seen_cpu
                        .store(w.thread_cpu().unwrap_or(0), Ordering::Relaxed);
                    w.seen_wall.store(now, Ordering::Relaxed);
                }
                if now > d {
                    match w.cpu_left(d, entered, now, tick_nanos(reg)) {
                        // Preempted for part of it: look again when the rest
                        // of its CPU time could be spent.
                        Some(left) => next = next.min(now + left.as_nanos() as u64),
                        None => {
                            if !w.terminated.swap(true, Ordering::AcqRel) {
                                w.handle.terminate_execution();
                            }
                        }
                    }
                } else {
                    next = next.min(d);
                }
            }
        }
        if busy {
            let tick = Duration::from_nanos(tick_nanos(reg));
            let until_due = Duration::from_nanos(next.saturating_sub(now) + 1);
            std::thread::sleep(tick.min(until_due));
        } else {
            // Park until an entry announces itself.
            let guard = reg.lock.lock().unwrap_or_else(|e| e.into_inner());
            reg.parked.store(true, Ordering::SeqCst);
            // An entry that started before it could see `parked` is visible
            // now (both sides are SeqCst): then do not sleep through it.
            let entered = reg.watches.lock().is_ok_and(|ws| {
                ws.iter()
                    .filter_map(|w| w.upgrade())
                    .any(|w| w.deadline.load(Ordering::SeqCst) != 0)
            });
            if !entered {
                let _ = reg
                    .wake
                    .wait_timeout(guard, Duration::from_secs(1))
                    .map(|(g, _)| drop(g));
            }
            reg.parked.store(false, Ordering::SeqCst);
        }
    }
}

impl Watch {
    /// Registers `isolate` with the watchdog. Call on the thread that runs it.
    pub(crate) fn new(isolate: &v8::Isolate) -> Arc<Watch> {
        let mut clock: libc::clockid_t = 0;
        // SAFETY: pthread_self is this thread; `clock` is a valid out pointer.
        let cpu_clock = (unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) }
            == 0)
            .then_some(clock);
        let w = Arc::new(Watch {
            handle: isolate.thread_safe_handle(),
            deadline: AtomicU64::new(0),
            entered: AtomicU64::new(0),
            terminated: AtomicBool::new(false),
            cpu_clock,
            seen_entry: AtomicU64::new(0),
            seen_cpu: AtomicU64::new(0),
            seen_wall: AtomicU64::new(0),
        });
        if let Ok(mut all) = registry().watches.lock() {
            all.push(Arc::downgrade(&w));
        }
        w
    }

    /// JS is entered and may run for `limit`.
    pub(crate) fn enter(&self, limit: Duration) {
        let now = now_nanos();
        let limit = limit.as_nanos() as u64;
        self.entered.store(now, Ordering::Relaxed);
        self.deadline.store(now + limit, Ordering::SeqCst);
        let reg = registry();
        if limit < reg.min_limit.load(Ordering::Relaxed) {
            reg.min_limit.fetch_min(limit, Ordering::Relaxed);
        }
        if reg.parked.load(Ordering::SeqCst) {
            let _g = reg.lock.lock();
            reg.wake.notify_one();
        }
    }

    /// Runs `f`, native work inside an entry that is not the script's CPU
    /// (storage: SQLite may wait for the disk), with the deadline held off
    /// while it runs and then moved out by as long as it took.
    pub(crate) fn excluding<R>(&self, f: impl FnOnce() -> R) -> R {
        let d = self.deadline.swap(u64::MAX, Ordering::AcqRel);
        let t0 = now_nanos();
        let r = f();
        if d != 0 {
            let took = now_nanos().saturating_sub(t0);
            self.deadline
                .store(d.saturating_add(took), Ordering::Release);
        } else {
            self.deadline.store(0, Ordering::Release);
        }
        r
    }

    /// The CPU time the isolate's thread has used, in nanoseconds.
    fn thread_cpu(&self) -> Option<u64> {
        let clock = self.cpu_clock?;
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid out pointer; a clock of a thread that has
        // exited fails with EINVAL (then the wall clock decides).
        (unsafe { libc::clock_gettime(clock, &mut ts) } == 0)
            .then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
    }

    /// For an entry past its wall-clock deadline `d`: how much CPU time it
    /// may still use, or None if its limit is spent (or the CPU clock is
    /// unknown). What it is charged: see [`charged`].
    fn cpu_left(&self, d: u64, entered: u64, now: u64, tick: u64) -> Option<Duration> {
        if self.seen_entry.load(Ordering::Relaxed) != entered {
            return None;
        }
        let cpu = self.thread_cpu()?;
        let seen_cpu = self.seen_cpu.load(Ordering::Relaxed);
        if seen_cpu == 0 {
            return None;
        }
        let seen_wall = self.seen_wall.load(Ordering::Relaxed);
        let used = charged(entered, seen_wall, cpu.saturating_sub(seen_cpu), tick);
        let limit = d.saturating_sub(entered);
        // (Past ten times its limit in wall time it stops anyway.)
        if used >= limit || now.saturating_sub(entered) > limit.saturating_mul(10) {
            return None;
        }
        Some(Duration::from_nanos(limit - used))
    }

    /// JS returned. Whether the watchdog terminated it (the caller must then
    /// cancel the termination before using the isolate again).
    pub(crate) fn exit(&self) -> bool {
        self.deadline.store(0, Ordering::Release);
        self.terminated.swap(false, Ordering::AcqRel)
    }
}

#[cfg(test)]
mod tests {
    use super::charged;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_watchdog_on_time_charges_the_wall_time_before_it_looked() {
        // Seen 10 ms after entry (within its 12.5 ms tick), then 30 ms of CPU.
        assert_eq!(
            charged(100 * MS, 110 * MS, 30 * MS, 12 * MS + MS / 2),
            40 * MS
        );
    }

    #[test]
    fn a_late_watchdog_does_not_charge_its_own_lateness() {
        // A starved watchdog first looks 200 ms after a light entry that has
        // used 1 ms since: it is charged one tick plus that, far from a 50 ms
        // limit (it used to be charged the whole 200 ms and terminated).
        let tick = 12 * MS + MS / 2;
        assert_eq!(charged(100 * MS, 300 * MS, MS, tick), tick + MS);
        assert!(charged(100 * MS, 300 * MS, MS, tick) < 50 * MS);
        // A script that spins is still charged every nanosecond of CPU.
        assert_eq!(charged(100 * MS, 300 * MS, 60 * MS, tick), tick + 60 * MS);
    }
}
