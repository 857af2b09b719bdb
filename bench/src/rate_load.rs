//! Open-loop, fixed-rate HTTP/1.1 load (as wrk2 does): requests go out on a
//! schedule, whatever the server does, and each latency is measured from the
//! moment the request *should* have been sent. A closed loop (`http_load`,
//! `wrk`) waits for an answer before it sends again, so a server that stalls
//! for 15 ms is simply asked less during the stall and the stall hides in
//! the throughput ("coordinated omission"); here every request scheduled
//! during it is charged the wait.
//!
//! Each connection has its own schedule (`connections / rate` apart,
//! staggered so sends are spread evenly). A connection carries one request
//! at a time: when an answer comes after the next request was due, the next
//! one goes at once, and its latency still counts from when it was due. With
//! `new_connection`, every request opens its own connection (timed from its
//! scheduled start: the accept is part of it) and closes it after the answer.
//!
//! Timing: the loop sleeps in `epoll_wait` until a `timerfd` set to the next
//! scheduled send, so sends leave within microseconds of their schedule and
//! the load generator does not spin (its CPU counts in the machine's figure).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::http_load::{Errors, Stats, Timeline};
use crate::parser::RecvBuf;

const RECV_BUF: usize = 64 * 1024;
const TIMER: Token = Token(usize::MAX);
/// How often timeouts are looked for.
const SCAN: Duration = Duration::from_millis(10);

pub struct Config {
    pub addr: SocketAddr,
    /// One complete request, pre-built.
    pub request: Vec<u8>,
    /// Requests per second, all connections together.
    pub rate: f64,
    /// Connections the schedule is spread over (with `new_connection`: how
    /// many requests may be in flight at once).
    pub connections: usize,
    /// A new connection per request.
    pub new_connection: bool,
    pub timeout: Duration,
    pub expect_status: Option<u16>,
}

struct Conn {
    stream: Option<TcpStream>,
    /// The connection is up (its connect completed).
    up: bool,
    /// A request is due on it and not yet answered.
    owed: bool,
    rx: RecvBuf,
    /// When the request owed was due.
    due: Instant,
    /// When the next request is due.
    next: Instant,
    /// Bytes of the owed request written.
    written: usize,
}

/// Runs the schedule until `tl.end`, counting what falls in the window
/// (by scheduled time). `at_window_start`/`at_window_end` run on this thread
/// at the window's edges (CPU sampling); the loop keeps running meanwhile.
pub fn run(
    cfg: &Config,
    tl: Timeline,
    at_window_start: impl FnOnce(),
    at_window_end: impl FnOnce(),
) -> io::Result<Stats> {
    let mut w = Worker::new(cfg, tl)?;
    let mut start_cb = Some(at_window_start);
    let mut end_cb = Some(at_window_end);
    w.run(
        &mut || {
            if let Some(f) = start_cb.take() {
                f()
            }
        },
        &mut || {
            if let Some(f) = end_cb.take() {
                f()
            }
        },
    )?;
    Ok(w.stats)
}

struct Worker<'a> {
    cfg: &'a Config,
    tl: Timeline,
    poll: Poll,
    timer: OwnedFd,
    conns: Vec<Conn>,
    /// (next send, connection), earliest first.
    queue: BinaryHeap<Reverse<(Instant, usize)>>,
    interval: Duration,
    stats: Stats,
}

impl<'a> Worker<'a> {
    fn new(cfg: &'a Config, tl: Timeline) -> io::Result<Self> {
        let n = cfg.connections.max(1);
        let interval = Duration::from_secs_f64(n as f64 / cfg.rate);
        // The schedule starts a little ahead, so the first sends are on time.
        let t0 = Instant::now() + Duration::from_millis(5);
        let poll = Poll::new()?;
        // SAFETY: plain syscall; the descriptor is owned below.
        let tfd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if tfd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor, owned from here on.
        let timer = unsafe { OwnedFd::from_raw_fd(tfd) };
        poll.registry()
            .register(&mut SourceFd(&timer.as_raw_fd()), TIMER, Interest::READABLE)?;
        let mut conns = Vec::with_capacity(n);
        let mut queue = BinaryHeap::with_capacity(n);
        for i in 0..n {
            let first = t0 + interval.mul_f64(i as f64 / n as f64);
            conns.push(Conn {
                stream: None,
                up: false,
                owed: false,
                rx: RecvBuf::new(RECV_BUF, false),
                due: first,
                next: first,
                written: 0,
            });
            queue.push(Reverse((first, i)));
        }
        Ok(Worker {
            cfg,
            tl,
            poll,
            timer,
            conns,
            queue,
            interval,
            stats: Stats::new(),
        })
    }

    fn run(
        &mut self,
        window_start: &mut dyn FnMut(),
        window_end: &mut dyn FnMut(),
    ) -> io::Result<()> {
        if !self.cfg.new_connection {
            for i in 0..self.conns.len() {
                self.open(i);
            }
        }
        let mut events = Events::with_capacity(1024);
        let mut last_scan = Instant::now();
        let mut started = false;
        loop {
            let now = Instant::now();
            if !started && now >= self.tl.measure_start {
                window_start();
                started = true;
            }
            if now >= self.tl.end {
                window_end();
                break;
            }
            // Everything due goes now.
            while let Some(&Reverse((t, i))) = self.queue.peek() {
                if t > now {
                    break;
                }
                self.queue.pop();
                self.send(i, t);
            }
            if now.duration_since(last_scan) >= SCAN {
                self.scan(now);
                last_scan = now;
            }
            let next = self
                .queue
                .peek()
                .map(|Reverse((t, _))| *t)
                .unwrap_or(now + SCAN)
                .min(now + SCAN)
                .min(if started {
                    self.tl.end
                } else {
                    self.tl.measure_start
                });
            self.arm_timer(next.saturating_duration_since(Instant::now()))?;
            match self.poll.poll(&mut events, None) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for ev in events.iter() {
                let i = ev.token().0;
                if ev.token() == TIMER {
                    let mut b = [0u8; 8];
                    // SAFETY: reading the timerfd's 8-byte count into `b`.
                    unsafe { libc::read(self.timer.as_raw_fd(), b.as_mut_ptr().cast(), 8) };
                    continue;
                }
                let c = &self.conns[i];
                if c.stream.is_none() {
                    continue;
                }
                if !c.up {
                    if ev.is_writable() || ev.is_error() || ev.is_write_closed() {
                        self.connected(i);
                    }
                    continue;
                }
                if ev.is_writable() && c.owed && c.written < self.cfg.request.len() {
                    self.flush(i);
                }
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    self.on_readable(i);
                }
            }
        }
        Ok(())
    }

    /// Sets the timerfd to fire after `d` (at least 1 µs: zero disarms it).
    fn arm_timer(&self, d: Duration) -> io::Result<()> {
        let d = d.max(Duration::from_micros(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: d.as_secs() as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: a valid itimerspec for our timerfd.
        let r = unsafe {
            libc::timerfd_settime(self.timer.as_raw_fd(), 0, &spec, std::ptr::null_mut())
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn counts(&self, due: Instant) -> bool {
        due >= self.tl.measure_start && due < self.tl.end
    }

    /// Opens connection `i` (non-blocking); false if that failed.
    fn open(&mut self, i: usize) -> bool {
        match TcpStream::connect(self.cfg.addr) {
            Ok(mut s) => {
                if self
                    .poll
                    .registry()
                    .register(&mut s, Token(i), Interest::READABLE | Interest::WRITABLE)
                    .is_err()
                {
                    return false;
                }
                let c = &mut self.conns[i];
                c.rx.reset();
                c.stream = Some(s);
                c.up = false;
                true
            }
            Err(_) => false,
        }
    }

    /// The request due at `due` goes out on connection `i` (once it is up).
    fn send(&mut self, i: usize, due: Instant) {
        let c = &mut self.conns[i];
        c.due = due;
        c.next = due + self.interval;
        c.owed = true;
        c.written = 0;
        if (self.cfg.new_connection || c.stream.is_none()) && !self.open(i) {
            self.failed(i, |e| e.connect += 1);
            return;
        }
        if self.conns[i].up {
            self.flush(i);
        }
    }

    /// The connect of `i` finished (or failed).
    fn connected(&mut self, i: usize) {
        let c = &mut self.conns[i];
        let Some(s) = c.stream.as_ref() else { return };
        match s.take_error() {
            Ok(None) => {}
            _ => return self.failed(i, |e| e.connect += 1),
        }
        match s.peer_addr() {
            Ok(_) => {}
            // Still in progress (a spurious wake-up).
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
            Err(_) => return self.failed(i, |e| e.connect += 1),
        }
        let _ = s.set_nodelay(true);
        c.up = true;
        if c.owed {
            self.flush(i);
        }
    }

    fn flush(&mut self, i: usize) {
        let c = &mut self.conns[i];
        let Some(s) = c.stream.as_mut() else { return };
        while c.written < self.cfg.request.len() {
            match s.write(&self.cfg.request[c.written..]) {
                Ok(0) => return self.failed(i, |e| e.write += 1),
                Ok(n) => c.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.failed(i, |e| e.write += 1),
            }
        }
    }

    /// Connection `i` failed: count it against the request owed (if it
    /// falls in the window), drop the connection, schedule the next.
    fn failed(&mut self, i: usize, count: impl FnOnce(&mut Errors)) {
        let owed = self.conns[i].owed;
        if owed && self.counts(self.conns[i].due) {
            count(&mut self.stats.errors);
        }
        self.close(i);
        // (Not owed: its next send is queued already.)
        if owed {
            self.reschedule(i);
        }
    }

    fn on_readable(&mut self, i: usize) {
        loop {
            let c = &mut self.conns[i];
            let Some(s) = c.stream.as_mut() else { return };
            let spare = c.rx.spare();
            let room = spare.len();
            let n = match s.read(spare) {
                Ok(0) => {
                    return match c.rx.parser.eof() {
                        // A body delimited by the close.
                        Some(status) if c.owed => self.answered(i, status, true),
                        // An idle keep-alive connection the server closed.
                        _ if !c.owed => self.close(i),
                        _ => self.failed(i, |e| e.read += 1),
                    };
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return self.failed(i, |e| e.read += 1),
            };
            if !c.owed {
                // Bytes nobody asked for.
                return self.failed(i, |e| e.parse += 1);
            }
            let mut done = None;
            let parsed = c.rx.advance(n, |status, close| {
                done = Some((status, close));
                false
            });
            if self.counts(self.conns[i].due) {
                self.stats.bytes_read += n as u64;
            }
            if parsed.is_err() {
                return self.failed(i, |e| e.parse += 1);
            }
            if let Some((status, close)) = done {
                return self.answered(i, status, close);
            }
            if n < room {
                return;
            }
        }
    }

    /// The answer to connection `i`'s request came: count it, schedule the
    /// next (at once if it is already due).
    fn answered(&mut self, i: usize, status: u16, close: bool) {
        let now = Instant::now();
        let due = self.conns[i].due;
        if self.counts(due) {
            let s = &mut self.stats;
            s.requests += 1;
            s.hist
                .saturating_record((now.duration_since(due).as_nanos() as u64).max(1));
            s.status[usize::from(status).min(999)] += 1;
            let bad = match self.cfg.expect_status {
                Some(x) => status != x,
                None => status >= 400,
            };
            if bad {
                s.errors.status += 1;
            }
        }
        self.conns[i].owed = false;
        if close || self.cfg.new_connection {
            self.close(i);
        } else {
            self.conns[i].rx.reset();
        }
        self.reschedule(i);
    }

    fn reschedule(&mut self, i: usize) {
        let c = &mut self.conns[i];
        c.owed = false;
        self.queue.push(Reverse((c.next, i)));
    }

    fn close(&mut self, i: usize) {
        let c = &mut self.conns[i];
        if let Some(mut s) = c.stream.take() {
            let _ = self.poll.registry().deregister(&mut s);
        }
        c.up = false;
        c.rx.reset();
    }

    /// Requests without an answer after the timeout are errors.
    fn scan(&mut self, now: Instant) {
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            if c.owed && now.duration_since(c.due) >= self.cfg.timeout {
                self.failed(i, |e| e.timeout += 1);
            }
        }
    }
}
