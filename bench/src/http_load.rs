//! Closed-loop HTTP/1.1 load engine: one mio (epoll, edge-triggered) event
//! loop per OS thread, keep-alive connections, pre-built request bytes, no
//! per-request allocation.
//!
//! Per request (pipeline 1) the hot path is one `write` and usually one
//! `read` (a short read means the socket was drained; edge-triggered epoll
//! reports any later arrival), plus an amortised `epoll_wait`.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use serde::Serialize;

use crate::parser::RecvBuf;

/// Receive buffer per connection. Only response heads must fit.
const RECV_BUF: usize = 64 * 1024;
/// Upper bound on how long the loop sleeps, for timeouts and the deadline.
const TICK: Duration = Duration::from_millis(10);
/// Delay before retrying after a failed connect.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);
/// Highest latency the histogram tracks (ns); larger values saturate.
const HIST_MAX_NS: u64 = 3_600 * 1_000_000_000;

pub struct Config {
    pub addr: SocketAddr,
    /// One complete request, pre-built.
    pub request: Vec<u8>,
    pub pipeline: u32,
    pub connections: usize,
    pub threads: usize,
    pub timeout: Duration,
    pub expect_status: Option<u16>,
    /// Requests are HEAD: responses have no body.
    pub head_method: bool,
}

/// Wall-clock plan shared by all threads.
#[derive(Clone, Copy)]
pub struct Timeline {
    /// Measurement starts (end of warm-up).
    pub measure_start: Instant,
    /// Measurement (and the run) ends.
    pub end: Instant,
}

/// Count an error if `now` falls in the measured window.
#[inline]
fn count(tl: &Timeline, errors: &mut Errors, now: Instant, f: impl FnOnce(&mut Errors)) {
    if tl.counts(now) {
        f(errors);
    }
}

impl Timeline {
    #[inline]
    fn counts(&self, t: Instant) -> bool {
        t >= self.measure_start && t < self.end
    }
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Errors {
    /// Failed connection attempts.
    pub connect: u64,
    /// Read failures, and requests lost when the server closed mid-flight.
    pub read: u64,
    /// Write failures.
    pub write: u64,
    /// Requests with no complete response within `--timeout`.
    pub timeout: u64,
    /// Responses whose status was not the expected one.
    pub status: u64,
    /// Malformed or unsolicited responses.
    pub parse: u64,
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.connect + self.read + self.write + self.timeout + self.status + self.parse
    }

    fn merge(&mut self, o: &Errors) {
        self.connect += o.connect;
        self.read += o.read;
        self.write += o.write;
        self.timeout += o.timeout;
        self.status += o.status;
        self.parse += o.parse;
    }
}

/// Everything counted inside the measured window.
pub struct Stats {
    /// Latency in nanoseconds.
    pub hist: Histogram<u64>,
    pub requests: u64,
    pub bytes_read: u64,
    /// Count per status code (index = code, 0..1000).
    pub status: Vec<u64>,
    pub errors: Errors,
    pub reconnects: u64,
}

impl Stats {
    pub(crate) fn new() -> Self {
        Stats {
            hist: Histogram::new_with_bounds(1, HIST_MAX_NS, 3).expect("histogram bounds"),
            requests: 0,
            bytes_read: 0,
            status: vec![0; 1000],
            errors: Errors::default(),
            reconnects: 0,
        }
    }

    fn merge(&mut self, o: &Stats) {
        self.hist.add(&o.hist).expect("same histogram bounds");
        self.requests += o.requests;
        self.bytes_read += o.bytes_read;
        for (a, b) in self.status.iter_mut().zip(&o.status) {
            *a += b;
        }
        self.errors.merge(&o.errors);
        self.reconnects += o.reconnects;
    }
}

/// Run the load on `cfg.threads` threads until `tl.end`. `at_window_start`
/// runs on the calling thread at `tl.measure_start` (CPU sampling) and
/// `at_window_end` at `tl.end`.
pub fn run(
    cfg: &Config,
    tl: Timeline,
    at_window_start: impl FnOnce(),
    at_window_end: impl FnOnce(),
) -> io::Result<Stats> {
    let threads = cfg.threads.clamp(1, cfg.connections.max(1));
    let results: Vec<io::Result<Stats>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let n = cfg.connections / threads + usize::from(i < cfg.connections % threads);
                std::thread::Builder::new()
                    .name(format!("load-{i}"))
                    .spawn_scoped(s, move || Worker::new(cfg, tl, n)?.run())
                    .expect("spawn load thread")
            })
            .collect();
        sleep_until(tl.measure_start);
        at_window_start();
        sleep_until(tl.end);
        at_window_end();
        handles
            .into_iter()
            .map(|h| h.join().expect("load thread panicked"))
            .collect()
    });
    let mut total = Stats::new();
    for r in results {
        total.merge(&r?);
    }
    Ok(total)
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    /// Waiting for a connect backoff to expire.
    Backoff(Instant),
    /// Non-blocking connect in progress.
    Connecting,
    /// Connected; a batch is in flight.
    Open,
}

struct Conn {
    stream: Option<TcpStream>,
    state: ConnState,
    rx: RecvBuf,
    /// Responses still expected for the current batch.
    inflight: u32,
    /// When the current batch write started.
    sent_at: Instant,
    /// Bytes of the current batch written so far.
    written: usize,
}

/// The connection has to be torn down and re-established (any error has
/// already been counted).
struct Reset;

struct Worker<'a> {
    cfg: &'a Config,
    tl: Timeline,
    poll: Poll,
    /// `cfg.request` repeated `pipeline` times.
    batch: Vec<u8>,
    conns: Vec<Conn>,
    stats: Stats,
}

impl<'a> Worker<'a> {
    fn new(cfg: &'a Config, tl: Timeline, n: usize) -> io::Result<Self> {
        let now = Instant::now();
        let conns = (0..n)
            .map(|_| Conn {
                stream: None,
                state: ConnState::Backoff(now),
                rx: RecvBuf::new(RECV_BUF, cfg.head_method),
                inflight: 0,
                sent_at: now,
                written: 0,
            })
            .collect();
        Ok(Worker {
            cfg,
            tl,
            poll: Poll::new()?,
            batch: cfg.request.repeat(cfg.pipeline as usize),
            conns,
            stats: Stats::new(),
        })
    }

    fn run(mut self) -> io::Result<Stats> {
        let mut events = Events::with_capacity(1024);
        for i in 0..self.conns.len() {
            self.connect(i, Instant::now());
        }
        let mut last_scan = Instant::now();
        loop {
            let now = Instant::now();
            if now >= self.tl.end {
                break;
            }
            if now.duration_since(last_scan) >= TICK {
                self.scan(now);
                last_scan = now;
            }
            let wait = (self.tl.end - now).min(TICK);
            match self.poll.poll(&mut events, Some(wait)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for ev in events.iter() {
                let i = ev.token().0;
                match self.conns[i].state {
                    ConnState::Backoff(_) => {}
                    ConnState::Connecting => {
                        if ev.is_writable() || ev.is_error() || ev.is_write_closed() {
                            self.finish_connect(i);
                        }
                    }
                    ConnState::Open => {
                        let c = &self.conns[i];
                        if ev.is_writable() && c.written < self.batch.len() && c.inflight > 0 {
                            if let Err(d) = self.flush(i) {
                                self.drop_conn(i, d);
                                continue;
                            }
                        }
                        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                            if let Err(d) = self.on_readable(i) {
                                self.drop_conn(i, d);
                            }
                        }
                    }
                }
            }
        }
        Ok(self.stats)
    }

    /// Timeouts and connect retries.
    fn scan(&mut self, now: Instant) {
        for i in 0..self.conns.len() {
            match self.conns[i].state {
                ConnState::Backoff(t) if now >= t => self.connect(i, now),
                ConnState::Open | ConnState::Connecting => {
                    let c = &self.conns[i];
                    if now.duration_since(c.sent_at) >= self.cfg.timeout {
                        if self.conns[i].state == ConnState::Connecting {
                            count(&self.tl, &mut self.stats.errors, now, |e| e.connect += 1);
                        } else {
                            let lost = u64::from(c.inflight);
                            count(&self.tl, &mut self.stats.errors, now, |e| e.timeout += lost);
                        }
                        self.drop_conn(i, Reset);
                    }
                }
                ConnState::Backoff(_) => {}
            }
        }
    }

    fn connect(&mut self, i: usize, now: Instant) {
        let c = &mut self.conns[i];
        c.rx.reset();
        c.inflight = 0;
        c.written = 0;
        c.sent_at = now;
        match TcpStream::connect(self.cfg.addr) {
            Ok(mut s) => {
                if let Err(_e) = self.poll.registry().register(
                    &mut s,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                ) {
                    count(&self.tl, &mut self.stats.errors, now, |e| e.connect += 1);
                    self.conns[i].state = ConnState::Backoff(now + CONNECT_BACKOFF);
                    return;
                }
                let c = &mut self.conns[i];
                c.stream = Some(s);
                c.state = ConnState::Connecting;
            }
            Err(_) => {
                count(&self.tl, &mut self.stats.errors, now, |e| e.connect += 1);
                self.conns[i].state = ConnState::Backoff(now + CONNECT_BACKOFF);
            }
        }
    }

    fn finish_connect(&mut self, i: usize) {
        let now = Instant::now();
        let c = &mut self.conns[i];
        let Some(s) = c.stream.as_ref() else { return };
        let ok = match s.take_error() {
            Ok(Some(_)) | Err(_) => false,
            Ok(None) => match s.peer_addr() {
                Ok(_) => true,
                // Still in progress (spurious wakeup).
                Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => return,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(_) => false,
            },
        };
        if !ok {
            count(&self.tl, &mut self.stats.errors, now, |e| e.connect += 1);
            self.close(i);
            self.conns[i].state = ConnState::Backoff(now + CONNECT_BACKOFF);
            return;
        }
        let _ = s.set_nodelay(true);
        c.state = ConnState::Open;
        if let Err(d) = self.send_batch(i) {
            self.drop_conn(i, d);
        }
    }

    fn send_batch(&mut self, i: usize) -> Result<(), Reset> {
        let c = &mut self.conns[i];
        c.inflight = self.cfg.pipeline;
        c.written = 0;
        c.sent_at = Instant::now();
        self.flush(i)
    }

    fn flush(&mut self, i: usize) -> Result<(), Reset> {
        let c = &mut self.conns[i];
        let s = c.stream.as_mut().ok_or(Reset)?;
        while c.written < self.batch.len() {
            match s.write(&self.batch[c.written..]) {
                Ok(0) => {
                    count(&self.tl, &mut self.stats.errors, Instant::now(), |e| {
                        e.write += 1
                    });
                    return Err(Reset);
                }
                Ok(n) => c.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    let lost = u64::from(c.inflight);
                    count(&self.tl, &mut self.stats.errors, Instant::now(), |e| {
                        e.write += lost.max(1)
                    });
                    return Err(Reset);
                }
            }
        }
        Ok(())
    }

    fn on_readable(&mut self, i: usize) -> Result<(), Reset> {
        loop {
            let c = &mut self.conns[i];
            let s = c.stream.as_mut().ok_or(Reset)?;
            let spare = c.rx.spare();
            let room = spare.len();
            let n = match s.read(spare) {
                Ok(0) => return Err(self.on_eof(i)),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    let lost = u64::from(c.inflight).max(1);
                    count(&self.tl, &mut self.stats.errors, Instant::now(), |e| {
                        e.read += lost
                    });
                    return Err(Reset);
                }
            };
            let now = Instant::now();
            let counting = self.tl.counts(now);
            if counting {
                self.stats.bytes_read += n as u64;
            }

            let c = &mut self.conns[i];
            let stats = &mut self.stats;
            let expect = self.cfg.expect_status;
            let latency = now.duration_since(c.sent_at).as_nanos() as u64;
            let mut unsolicited = false;
            let mut close = false;
            let inflight = &mut c.inflight;
            let parsed = c.rx.advance(n, |status, cl| {
                if *inflight == 0 {
                    unsolicited = true;
                    return false;
                }
                *inflight -= 1;
                if counting {
                    stats.requests += 1;
                    stats.hist.saturating_record(latency.max(1));
                    stats.status[usize::from(status).min(999)] += 1;
                    let bad = match expect {
                        Some(x) => status != x,
                        None => status >= 400,
                    };
                    if bad {
                        stats.errors.status += 1;
                    }
                }
                if cl {
                    close = true;
                    return false;
                }
                true
            });
            if parsed.is_err() || unsolicited {
                let lost = u64::from(self.conns[i].inflight).max(1);
                count(&self.tl, &mut self.stats.errors, now, |e| e.parse += lost);
                return Err(Reset);
            }
            if close {
                // Requests pipelined behind a `Connection: close` are lost.
                let lost = u64::from(self.conns[i].inflight);
                count(&self.tl, &mut self.stats.errors, now, |e| e.read += lost);
                return Err(Reset);
            }
            if self.conns[i].inflight == 0 && now < self.tl.end {
                self.send_batch(i)?;
            }
            if n < room {
                // Short read: the socket is drained.
                return Ok(());
            }
        }
    }

    fn on_eof(&mut self, i: usize) -> Reset {
        let now = Instant::now();
        let c = &mut self.conns[i];
        if let Some(status) = c.rx.parser.eof() {
            // Response delimited by connection close.
            if c.inflight > 0 {
                c.inflight -= 1;
                if self.tl.counts(now) {
                    let lat = now.duration_since(c.sent_at).as_nanos() as u64;
                    self.stats.requests += 1;
                    self.stats.hist.saturating_record(lat.max(1));
                    self.stats.status[usize::from(status).min(999)] += 1;
                }
            }
        }
        let lost = u64::from(self.conns[i].inflight);
        count(&self.tl, &mut self.stats.errors, now, |e| e.read += lost);
        Reset
    }

    fn close(&mut self, i: usize) {
        if let Some(mut s) = self.conns[i].stream.take() {
            let _ = self.poll.registry().deregister(&mut s);
        }
    }

    fn drop_conn(&mut self, i: usize, _: Reset) {
        self.close(i);
        let now = Instant::now();
        if now >= self.tl.end {
            return;
        }
        if self.tl.counts(now) {
            self.stats.reconnects += 1;
        }
        self.connect(i, now);
    }
}
