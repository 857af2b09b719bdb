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
//! Each entry has a small waker of its own, registered wherever the session
//! task's would be (the receive side, the send side, the handler's queue).
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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

use atomic_waker::AtomicWaker;
use crossbeam_queue::SegQueue;
use ringworker_core::WsConfig;

use super::session::Idle;
use super::socket::WsShared;
use crate::socket::Socket;

/// One dormant socket.
pub(crate) struct Entry {
    pub(crate) sock: Socket,
    pub(crate) ws: Rc<WsShared>,
    pub(crate) idle: Idle,
    /// When its session next has something to do on its own.
    pub(crate) deadline: Option<Instant>,
    wake: Arc<EntryWake>,
}

impl Entry {
    /// The entry's waker (for a step's `Context`), marking it not queued.
    pub(crate) fn waker(&self) -> Waker {
        self.wake.queued.store(false, Ordering::Relaxed);
        Waker::from(self.wake.clone())
    }
}

/// The ready queue the entries' wakers feed and the driver drains.
#[derive(Default)]
struct Ready {
    keys: SegQueue<u32>,
    driver: AtomicWaker,
}

struct EntryWake {
    key: u32,
    /// On the ready queue already (one step serves every wake until then).
    queued: AtomicBool,
    ready: Arc<Ready>,
}

impl Wake for EntryWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::Relaxed) {
            self.ready.keys.push(self.key);
            self.ready.driver.wake();
        }
    }
}

/// A shard's dormant sockets (see the module docs).
pub(crate) struct DormantSet {
    slots: RefCell<Vec<Option<Entry>>>,
    free: RefCell<Vec<u32>>,
    ready: Arc<Ready>,
    len: Cell<usize>,
    /// The earliest deadline among the entries, as far as known (it may be
    /// early: an entry's deadline moves later without a rescan).
    earliest: Cell<Option<Instant>>,
    last_scan: Cell<Instant>,
    tick: Duration,
}

impl DormantSet {
    pub(crate) fn new(cfg: &WsConfig) -> Self {
        let shortest = [cfg.ping_interval, Some(cfg.pong_timeout), cfg.idle_timeout]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(Duration::from_secs(8));
        Self {
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            ready: Arc::default(),
            len: Cell::new(0),
            earliest: Cell::new(None),
            last_scan: Cell::new(Instant::now()),
            tick: (shortest / 8).clamp(Duration::from_millis(1), Duration::from_secs(1)),
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
        let wake = Arc::new(EntryWake {
            key,
            queued: AtomicBool::new(false),
            ready: self.ready.clone(),
        });
        slots[key as usize] = Some(Entry {
            sock,
            ws,
            idle,
            deadline: None,
            wake,
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
        if let Some(d) = e.deadline {
            if self.earliest.get().is_none_or(|x| d < x) {
                self.earliest.set(Some(d));
            }
        }
        let mut slots = self.slots.borrow_mut();
        if slots.len() <= key as usize {
            // (The tail was trimmed while it was out.)
            slots.resize_with(key as usize + 1, || None);
        }
        slots[key as usize] = Some(e);
        self.len.set(self.len.get() + 1);
    }

    /// Frees key `key` (its entry left the set for good or for a task).
    pub(crate) fn release(&self, key: u32) {
        self.free.borrow_mut().push(key);
        // The slab shrinks back when its tail empties.
        let mut slots = self.slots.borrow_mut();
        if slots.len() > 64 && self.len.get() < slots.len() / 4 {
            while slots.last().is_some_and(Option::is_none) {
                slots.pop();
            }
            let n = slots.len() as u32;
            let mut free = self.free.borrow_mut();
            free.retain(|&k| k < n);
            let (ns, nf) = (slots.len() * 2, free.len() * 2);
            slots.shrink_to(ns);
            free.shrink_to(nf);
        }
    }

    /// Registers the driver's waker.
    pub(crate) fn register(&self, cx: &Context<'_>) {
        self.ready.driver.register(cx.waker());
    }

    /// The next woken entry.
    pub(crate) fn pop_ready(&self) -> Option<u32> {
        self.ready.keys.pop()
    }

    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.keys.is_empty()
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
            let Some(d) = e.as_ref().and_then(|e| e.deadline) else {
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

    /// Every key in the set (for shutdown).
    pub(crate) fn keys(&self) -> Vec<u32> {
        let slots = self.slots.borrow();
        (0..slots.len() as u32)
            .filter(|&k| slots[k as usize].is_some())
            .collect()
    }
}
