//! The keep-alive pool: idle connections per origin (scheme, host, port).
//!
//! At most `max_idle_per_origin` wait per origin (the oldest goes first);
//! a request takes the most recently used one. One sweeper task per pool
//! keeps them honest without a task or timer per connection: every idle
//! connection's receive wakes it, so a connection the server closed (or
//! sent anything on) is dropped as soon as that arrives, and one alarm at
//! the earliest idle deadline closes those idle for `pool_idle_timeout`.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::Conn;
use crate::http::conn::Alarm;

/// Where a connection goes: pooled connections are only reused for the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Origin {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

#[derive(Debug)]
struct Idle {
    conn: Conn,
    since: Instant,
}

#[derive(Debug)]
struct Shared {
    idle: RefCell<HashMap<Origin, VecDeque<Idle>>>,
    count: Cell<usize>,
    max_per_origin: usize,
    idle_timeout: Duration,
    sweeper: RefCell<Option<Waker>>,
    sweeper_started: Cell<bool>,
    /// The sweeper's alarm is set for the earliest idle deadline.
    alarm_set: Cell<bool>,
}

/// A client's pool.
#[derive(Debug)]
pub(crate) struct Pool {
    shared: Rc<Shared>,
}

impl Pool {
    pub(crate) fn new(max_per_origin: usize, idle_timeout: Duration) -> Self {
        Self {
            shared: Rc::new(Shared {
                idle: RefCell::new(HashMap::new()),
                count: Cell::new(0),
                max_per_origin,
                idle_timeout,
                sweeper: RefCell::new(None),
                sweeper_started: Cell::new(false),
                alarm_set: Cell::new(false),
            }),
        }
    }

    /// Idle connections now.
    pub(crate) fn idle_count(&self) -> usize {
        self.shared.count.get()
    }

    /// The most recently pooled usable connection to `origin`.
    pub(crate) fn take(&self, origin: &Origin) -> Option<Conn> {
        let s = &self.shared;
        let mut map = s.idle.borrow_mut();
        let list = map.get_mut(origin)?;
        let now = Instant::now();
        let mut found = None;
        while let Some(e) = list.pop_back() {
            s.count.set(s.count.get() - 1);
            // (A stale one is dropped here: closed.)
            if e.conn.is_reusable() && now < e.since + s.idle_timeout {
                found = Some(e.conn);
                break;
            }
        }
        if list.is_empty() {
            map.remove(origin);
        }
        found
    }

    /// Keeps `conn` for the next request to `origin`, if it may be reused
    /// and there is room.
    pub(crate) fn put(&self, origin: Origin, conn: Conn) {
        let s = &self.shared;
        if s.max_per_origin == 0 || !conn.is_reusable() || !sends_done(&conn) {
            return;
        }
        if let Some(w) = s.sweeper.borrow().as_ref() {
            // The sweeper learns of anything arriving on it from now on.
            if conn.poll_recv(&mut Context::from_waker(w), true).is_ready() || !conn.is_reusable() {
                return;
            }
        }
        {
            let mut map = s.idle.borrow_mut();
            let list = map.entry(origin).or_default();
            if list.len() >= s.max_per_origin {
                list.pop_front();
                s.count.set(s.count.get() - 1);
            }
            list.push_back(Idle {
                conn,
                since: Instant::now(),
            });
            s.count.set(s.count.get() + 1);
        }
        if !s.sweeper_started.replace(true) {
            glommio::spawn_local(sweep(Rc::downgrade(s))).detach();
        } else if !s.alarm_set.get() {
            // Its alarm is unset (the pool was empty): set one for this one.
            if let Some(w) = s.sweeper.borrow().as_ref() {
                w.wake_by_ref();
            }
        }
    }
}

/// Whether every send queued on `conn` completed (a response that came
/// before the whole request was sent leaves the connection unusable).
fn sends_done(conn: &Conn) -> bool {
    matches!(
        conn.poll_sent(&mut Context::from_waker(Waker::noop()), 0),
        Poll::Ready(Ok(()))
    )
}

/// The sweeper: drops idle connections that ended, got unasked bytes, or
/// idled too long. Ends once the pool is gone (the closing of its last
/// connections wakes it).
async fn sweep(pool: Weak<Shared>) {
    let mut alarm = Alarm::new();
    poll_fn(|cx| {
        let Some(s) = pool.upgrade() else {
            return Poll::Ready(());
        };
        {
            let mut w = s.sweeper.borrow_mut();
            if !w.as_ref().is_some_and(|x| x.will_wake(cx.waker())) {
                *w = Some(cx.waker().clone());
            }
        }
        let now = Instant::now();
        let mut earliest: Option<Instant> = None;
        let mut count = 0;
        let mut map = s.idle.borrow_mut();
        map.retain(|_, list| {
            list.retain(|e| {
                let deadline = e.since + s.idle_timeout;
                if now >= deadline {
                    return false;
                }
                // Registers this task for the connection's next receive.
                if e.conn.poll_recv(cx, true).is_ready() || !e.conn.is_reusable() {
                    return false;
                }
                earliest = Some(earliest.map_or(deadline, |t| t.min(deadline)));
                true
            });
            count += list.len();
            !list.is_empty()
        });
        drop(map);
        s.count.set(count);
        s.alarm_set.set(earliest.is_some());
        if alarm.poll(cx, earliest) {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    })
    .await
}
