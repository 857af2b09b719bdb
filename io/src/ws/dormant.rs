//! Dormant WebSockets: idle parkable sockets that the shard holds without a
//! task.
//!
//! A hibernatable actor's sockets are quiet most of the time, and a session
//! task per socket (its future, its timers, its buffers) is most of what an
//! idle socket costs. When a session on a parkable socket (see
//! [`super::WebSocket::set_parkable`]) is idle with nothing half-done, its task
//! ends and the socket joins this set, keeping only its descriptor, its
//! handler state and three timestamps ([`Idle`]).
//!
//! Each entry has a waker of its own (a number: no allocation), registered
//! wherever the session task's would be (the receive side, the send side, the handler's queue).
//! A wake puts the entry on a ready queue; the shard's dormant driver then
//! takes a *step*: it builds the session from the entry, polls it once, and
//! if the session is idle again the entry stays. So a message is parsed and
//! delivered, the handler's answers go out, pings and auto-responses are
//! answered, all without a task. A step that finds more than one round of
//! work (a close handshake, a fragmented message, backpressure, shutdown)
//! hands the session's state to a new task, which parks the socket again
//! when it is idle.
//!
//! Heartbeats and timeouts: each entry keeps its next deadline; the driver
//! scans the set when the earliest one is due, at most once per tick (an
//! eighth of the shortest interval configured), so a dormant socket's ping
//! may go out up to a tick late.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Context, RawWaker, RawWakerVTable, Waker};
use std::time::{Duration, Instant};

use ringworker_core::WsConfig;

use super::session::Idle;
use super::socket::WsShared;
use crate::socket::Socket;
use ringworker_core::clock::Stamp;

/// One dormant socket.
pub(crate) struct Entry {
    pub(crate) sock: Socket,
    pub(crate) ws: Rc<WsShared>,
    pub(crate) idle: Idle,
    /// When its session next has something to do on its own.
    pub(crate) deadline: Option<Stamp>,
}

/// What the entries' wakers feed and the driver drains. Reached through a
/// thread-local registry, so that a waker is just a number (set, key): no
/// allocation per socket. Every place a dormant socket's waker is
/// registered (its receive and send sides, its handler's queue) belongs to
/// the shard's thread, so it is woken there.
struct Ready {
    id: u32,
    keys: RefCell<Vec<u32>>,
    /// One bit per key: on `keys` already (one step serves every wake until
    /// then).
    queued: RefCell<Vec<u64>>,
    driver: RefCell<Option<Waker>>,
}

impl Ready {
    fn push(&self, key: u32) {
        let (word, bit) = ((key / 64) as usize, 1u64 << (key % 64));
        let mut q = self.queued.borrow_mut();
        if q.len() <= word {
            q.resize(word + 1, 0);
        }
        if q[word] & bit != 0 {
            return;
        }
        q[word] |= bit;
        drop(q);
        self.keys.borrow_mut().push(key);
        if let Some(w) = self.driver.borrow().as_ref() {
            w.wake_by_ref();
        }
    }

    fn unqueue(&self, key: u32) {
        let (word, bit) = ((key / 64) as usize, 1u64 << (key % 64));
        if let Some(w) = self.queued.borrow_mut().get_mut(word) {
            *w &= !bit;
        }
    }
}

thread_local! {
    /// This thread's dormant sets (one per shard served on it, in practice).
    static SETS: RefCell<Vec<Rc<Ready>>> = const { RefCell::new(Vec::new()) };
}

static NEXT_SET: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// An entry's waker: (set id << 32 | key) as its data, no allocation.
fn entry_waker(set: u32, key: u32) -> Waker {
    let data = ((u64::from(set) << 32) | u64::from(key)) as usize as *const ();
    // SAFETY: the data is a plain number and the functions below only read
    // thread-locals, so they are safe to call from any thread.
    unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(
    |data| RawWaker::new(data, &VTABLE),
    wake_entry,
    wake_entry,
    |_| {},
);

fn wake_entry(data: *const ()) {
    let v = data as usize as u64;
    let (set, key) = ((v >> 32) as u32, v as u32);
    let ready = SETS.with(|sets| sets.borrow().iter().find(|r| r.id == set).cloned());
    match ready {
        Some(r) => r.push(key),
        // (Not reachable: see `Ready`. Were it, the socket would be stepped
        // at its next deadline instead.)
        None => debug_assert!(false, "a dormant socket woken off its shard"),
    }
}

/// A shard's dormant sockets (see the module docs).
pub(crate) struct DormantSet {
    slots: RefCell<Vec<Option<Entry>>>,
    free: RefCell<Vec<u32>>,
    ready: Rc<Ready>,
    len: Cell<usize>,
    /// The earliest deadline among the entries, as far as known (it may be
    /// early: an entry's deadline moves later without a rescan).
    earliest: Cell<Option<Instant>>,
    last_scan: Cell<Instant>,
    tick: Duration,
    /// Sockets that gave back their buffers since the allocator was last
    /// asked to return free pages, and when that was.
    trimmed: Cell<usize>,
    trimmed_before: Cell<usize>,
    last_release: Cell<Option<Instant>>,
}

impl Drop for DormantSet {
    fn drop(&mut self) {
        let id = self.ready.id;
        let _ = SETS.try_with(|sets| sets.borrow_mut().retain(|r| r.id != id));
    }
}

impl DormantSet {
    pub(crate) fn new(cfg: &WsConfig) -> Self {
        let shortest = [cfg.ping_interval, Some(cfg.pong_timeout), cfg.idle_timeout]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(Duration::from_secs(8));
        Stamp::init();
        let ready = Rc::new(Ready {
            id: NEXT_SET.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            keys: RefCell::new(Vec::new()),
            queued: RefCell::new(Vec::new()),
            driver: RefCell::new(None),
        });
        SETS.with(|sets| sets.borrow_mut().push(ready.clone()));
        Self {
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            ready,
            len: Cell::new(0),
            earliest: Cell::new(None),
            last_scan: Cell::new(Instant::now()),
            tick: (shortest / 8).clamp(Duration::from_millis(1), Duration::from_millis(100)),
            trimmed: Cell::new(0),
            trimmed_before: Cell::new(0),
            last_release: Cell::new(None),
        }
    }

    /// Sockets in the set.
    pub(crate) fn len(&self) -> usize {
        self.len.get()
    }

    /// Adds a socket; returns its key. Step it at once: until then the wakers
    /// registered on it are its last task's.
    pub(crate) fn insert(&self, sock: Socket, ws: Rc<WsShared>, idle: Idle) -> u32 {
        let mut slots = self.slots.borrow_mut();
        let key = self.free.borrow_mut().pop().unwrap_or_else(|| {
            if slots.len() == slots.capacity() {
                // Grown in steps, not doubled: 10,000 sockets should cost
                // 10,000 entries, not up to 16,384.
                let step = slots.capacity().clamp(16, 1024);
                slots.reserve_exact(step);
            }
            slots.push(None);
            (slots.len() - 1) as u32
        });
        slots[key as usize] = Some(Entry {
            sock,
            ws,
            idle,
            deadline: None,
        });
        self.len.set(self.len.get() + 1);
        key
    }

    /// Takes entry `key` out for a step (`None` if it left meanwhile).
    pub(crate) fn take(&self, key: u32) -> Option<Entry> {
        let e = self.slots.borrow_mut().get_mut(key as usize)?.take()?;
        self.len.set(self.len.get() - 1);
        Some(e)
    }

    /// Puts a stepped entry back under its key, idle until `deadline`.
    pub(crate) fn put_back(&self, key: u32, e: Entry) {
        if let Some(d) = e.deadline.map(Stamp::at) {
            if self.earliest.get().is_none_or(|x| d < x) {
                self.earliest.set(Some(d));
                // The driver may be asleep with no alarm, or a later one.
                if let Some(w) = self.ready.driver.borrow().as_ref() {
                    w.wake_by_ref();
                }
            }
        }
        self.slots.borrow_mut()[key as usize] = Some(e);
        self.len.set(self.len.get() + 1);
    }

    /// Frees key `key` (its entry left the set for good or for a task).
    pub(crate) fn release(&self, key: u32) {
        if self.len.get() == 0 {
            // The set emptied (a step takes out one entry at a time, and this
            // is it): its slab and free list go, not just the key.
            *self.slots.borrow_mut() = Vec::new();
            *self.free.borrow_mut() = Vec::new();
            return;
        }
        self.free.borrow_mut().push(key);
    }

    /// Entry `key`'s waker (for a step's `Context`); the entry counts as
    /// not queued from now on.
    pub(crate) fn waker(&self, key: u32) -> Waker {
        self.ready.unqueue(key);
        entry_waker(self.ready.id, key)
    }

    /// Registers the driver's waker.
    pub(crate) fn register(&self, cx: &Context<'_>) {
        let mut d = self.ready.driver.borrow_mut();
        if !d.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *d = Some(cx.waker().clone());
        }
    }

    /// The woken entries, oldest first, taken all at once into `batch`
    /// (cleared first); the queue keeps `batch`'s capacity, so a driver
    /// that passes the same Vec every round allocates neither.
    pub(crate) fn take_ready(&self, batch: &mut Vec<u32>) {
        batch.clear();
        std::mem::swap(batch, &mut *self.ready.keys.borrow_mut());
    }

    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.keys.borrow().is_empty()
    }

    /// When the driver should scan for deadlines next.
    pub(crate) fn next_scan(&self) -> Option<Instant> {
        self.earliest
            .get()
            .map(|d| d.max(self.last_scan.get() + self.tick))
    }

    /// The entries whose deadline passed (and recomputes the earliest).
    pub(crate) fn due(&self, now: Instant) -> Vec<u32> {
        let mut due = Vec::new();
        if self.next_scan().is_none_or(|t| now < t) {
            return due;
        }
        self.last_scan.set(now);
        let mut earliest: Option<Instant> = None;
        for (key, e) in self.slots.borrow().iter().enumerate() {
            let Some(d) = e.as_ref().and_then(|e| e.deadline).map(Stamp::at) else {
                continue;
            };
            if d <= now {
                due.push(key as u32);
            } else if earliest.is_none_or(|x| d < x) {
                earliest = Some(d);
            }
        }
        self.earliest.set(earliest);
        due
    }

    /// A socket gave back its buffers.
    pub(crate) fn trimmed(&self) {
        self.trimmed.set(self.trimmed.get() + 1);
    }

    /// Once many sockets gave back their buffers (or a burst of them
    /// ended), [`crate::release_free_memory`], at most once a second.
    pub(crate) fn release_memory(&self) {
        let n = self.trimmed.get();
        let burst_over = n > 0 && n == self.trimmed_before.get();
        self.trimmed_before.set(n);
        if !(n >= 1024 || (burst_over && n >= 64)) {
            return;
        }
        if self
            .last_release
            .get()
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.trimmed.set(0);
        self.trimmed_before.set(0);
        self.last_release.set(Some(Instant::now()));
        crate::release_free_memory();
    }

    /// Every key in the set (for shutdown).
    pub(crate) fn keys(&self) -> Vec<u32> {
        let slots = self.slots.borrow();
        (0..slots.len() as u32)
            .filter(|&k| slots[k as usize].is_some())
            .collect()
    }
}
