//! `ringworker-bench soak`: mixed traffic against a ringworker it starts
//! itself, for a given time, sampling the server's resident memory, open
//! descriptors, V8 heap and latency every interval. It fails if a request
//! fails, or if any of those trends upward after the warm-up.
//!
//! The traffic (`bench/workers/soak.js`): keep-alive hellos, streamed
//! responses, RPCs to Durable Objects that write their storage (on a set of
//! names that are evicted and woken again), `fetch()` to a local upstream
//! (read whole and forwarded natively), WebSocket echo, idle WebSockets
//! that answer the server's heartbeat, and clients that leave abruptly:
//! FIN or RST in the middle of a streamed response, half a request head, a
//! WebSocket reset after its handshake, a connection closed unused.
//!
//! Every loop is paced (`--rate`) and bounded by the run's duration; all
//! traffic goes to 127.0.0.1.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::Target;
use crate::ws_load;

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// The `ringworker` binary.
    pub ringworker: PathBuf,
    /// The worker (`bench/workers/soak.js`).
    pub script: PathBuf,
    /// How long the traffic runs.
    pub duration: Duration,
    /// How often the server is sampled.
    pub interval: Duration,
    /// Samples before this are shown but not judged (allocators and V8
    /// grow to their working size first).
    pub warmup: Duration,
    /// HTTP requests per second, over all kinds together.
    pub rate: u32,
    /// Idle WebSockets kept open (answering the heartbeat).
    pub idle_sockets: usize,
    /// Server shards.
    pub shards: usize,
    /// Pin the server to this core (`taskset`).
    pub server_cpu: Option<usize>,
    /// The server's `--cpu-limit-ms`. Its wall-time backstop (ten times
    /// the limit) also ends an entry whose thread was kept off the CPU that
    /// long, which an overloaded machine does.
    pub cpu_limit_ms: u64,
}

/// One sample of the server.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds since the traffic started.
    pub t_s: f64,
    /// Resident memory (`VmRSS`).
    pub rss_bytes: u64,
    /// Open file descriptors.
    pub fds: u64,
    /// V8 heap in use, summed over shards (from the server's stats).
    pub heap_bytes: u64,
    /// Requests and WebSocket round trips completed in this interval.
    pub requests: u64,
    /// Latency of those, in microseconds.
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// Failures so far.
    pub failures: u64,
}

/// Whether one metric rose: the mean of the last third of the judged
/// samples against the mean of the first third, with a tolerance.
#[derive(Debug, Clone, Serialize)]
pub struct Trend {
    pub metric: &'static str,
    pub early: f64,
    pub late: f64,
    /// `late` may not exceed this.
    pub limit: f64,
    pub rising: bool,
}

/// A run's outcome.
#[derive(Debug, Serialize)]
pub struct SoakReport {
    pub duration_s: f64,
    pub interval_s: f64,
    pub warmup_s: f64,
    pub requests: u64,
    pub failures: u64,
    /// The first failures, as they were reported.
    pub failure_examples: Vec<String>,
    pub samples: Vec<Sample>,
    pub trends: Vec<Trend>,
    pub passed: bool,
}

/// What every traffic thread shares.
struct Shared {
    stop: AtomicBool,
    latency: Mutex<Histogram<u64>>,
    done: AtomicU64,
    failures: AtomicU64,
    examples: Mutex<Vec<String>>,
}

impl Shared {
    fn record(&self, started: Instant) {
        let us = started.elapsed().as_micros().clamp(1, 60_000_000) as u64;
        let _ = self.latency.lock().unwrap().record(us);
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    fn fail(&self, what: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let mut ex = self.examples.lock().unwrap();
        if ex.len() < 20 {
            // Said at once too: an hour-long run shows what failed when.
            eprintln!("soak failure: {what}");
            ex.push(what);
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sleeps `d` in small steps, so a stop is seen at once.
    fn pause(&self, d: Duration) {
        let end = Instant::now() + d;
        while !self.stopped() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }
}

/// Runs the soak; the report says whether it passed.
pub fn run(cfg: &SoakConfig) -> anyhow::Result<SoakReport> {
    let upstream = Upstream::start()?;
    let state = std::env::temp_dir().join(format!("ringworker-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&state)?;
    let stats = state.join("stats.json");
    let port = {
        let l = TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let mut server = start_server(cfg, port, upstream.addr, &state, &stats)?;
    let result = soak(cfg, &mut server, port, &stats);
    // SIGTERM: a graceful shutdown (it also writes the stats once more).
    // SAFETY: plain kill(2) on our child.
    unsafe {
        libc::kill(server.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.try_wait()?.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = server.kill();
    let _ = server.wait();
    upstream.stop();
    let _ = std::fs::remove_dir_all(&state);
    result
}

fn start_server(
    cfg: &SoakConfig,
    port: u16,
    upstream: SocketAddr,
    state: &Path,
    stats: &Path,
) -> anyhow::Result<Child> {
    let mut cmd = match cfg.server_cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(&cfg.ringworker);
            c
        }
        None => Command::new(&cfg.ringworker),
    };
    cmd.arg("serve")
        .arg(&cfg.script)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--shards", &cfg.shards.to_string(), "--no-pin"])
        .args(["--var", &format!("UPSTREAM=http://{upstream}")])
        .args(["--actor", "SOAK=SoakCounter"])
        .args(["--cpu-limit-ms", &cfg.cpu_limit_ms.to_string()])
        .arg("--actor-storage")
        .arg(state.join("actors"))
        // Actors come and go during the run: evicted after 1-2 s idle.
        .args(["--actor-evict-ms", "1000-2000"])
        // The idle sockets exchange heartbeats all along.
        .args([
            "--ws-ping-interval-ms",
            "2000",
            "--ws-pong-timeout-ms",
            "5000",
        ])
        .arg("--stats-out")
        .arg(stats)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("start {}", cfg.ringworker.display()))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("ringworker exited at start: {status}");
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(child);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("ringworker did not listen on port {port} within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn soak(
    cfg: &SoakConfig,
    server: &mut Child,
    port: u16,
    stats: &Path,
) -> anyhow::Result<SoakReport> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        latency: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3)?),
        done: AtomicU64::new(0),
        failures: AtomicU64::new(0),
        examples: Mutex::new(Vec::new()),
    });
    // The HTTP kinds share the rate evenly; each gets one thread.
    let kinds: [Kind; 5] = [
        ("hello", |_| "/".into(), Check::Exact(b"Hello World")),
        (
            "stream",
            |_| "/stream?chunks=16&size=1024".into(),
            Check::Len(16 * 1024),
        ),
        (
            "actor",
            |i| format!("/actor?name=s{}", i % 24),
            Check::Number,
        ),
        ("fetch", |_| "/fetch".into(), Check::Exact(UPSTREAM_BODY)),
        (
            "forward",
            |_| "/forward".into(),
            Check::Exact(UPSTREAM_BODY),
        ),
    ];
    let per_kind = Duration::from_secs_f64(kinds.len() as f64 / f64::from(cfg.rate.max(1)));
    let mut threads = Vec::new();
    for (name, path, check) in kinds {
        let sh = shared.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("soak-{name}"))
                .spawn(move || http_loop(&sh, addr, name, path, check, per_kind))?,
        );
    }
    {
        let sh = shared.clone();
        let pace = per_kind;
        threads.push(std::thread::spawn(move || ws_echo_loop(&sh, addr, pace)));
    }
    {
        let sh = shared.clone();
        let n = cfg.idle_sockets;
        threads.push(std::thread::spawn(move || idle_ws_loop(&sh, addr, n)));
    }
    {
        let sh = shared.clone();
        threads.push(std::thread::spawn(move || disconnect_loop(&sh, addr)));
    }

    let pid = server.id();
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut next = started + cfg.interval;
    while started.elapsed() < cfg.duration {
        if let Some(status) = server.try_wait()? {
            shared.stop.store(true, Ordering::Relaxed);
            bail!("ringworker exited during the soak: {status}");
        }
        let now = Instant::now();
        if now < next {
            std::thread::sleep((next - now).min(Duration::from_millis(100)));
            continue;
        }
        next += cfg.interval;
        let s = sample(&shared, pid, stats, started)?;
        println!(
            "{:>7.1}s  rss {:>7.1} MiB  fds {:>4}  heap {:>6.1} MiB  {:>6} done  p50 {:>6} us  p99 {:>7} us  max {:>8} us  failures {}",
            s.t_s,
            s.rss_bytes as f64 / 1048576.0,
            s.fds,
            s.heap_bytes as f64 / 1048576.0,
            s.requests,
            s.p50_us,
            s.p99_us,
            s.max_us,
            s.failures
        );
        samples.push(s);
    }
    shared.stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let failures = shared.failures.load(Ordering::Relaxed);
    let judged: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.t_s >= cfg.warmup.as_secs_f64())
        .collect();
    let trends = judge(&judged);
    let passed = failures == 0 && trends.iter().all(|t| !t.rising) && judged.len() >= 3;
    let total = samples.iter().map(|s| s.requests).sum();
    Ok(SoakReport {
        duration_s: cfg.duration.as_secs_f64(),
        interval_s: cfg.interval.as_secs_f64(),
        warmup_s: cfg.warmup.as_secs_f64(),
        requests: total,
        failures,
        failure_examples: shared.examples.lock().unwrap().clone(),
        samples,
        trends,
        passed,
    })
}

/// Reads the server's memory, descriptors and heap, and the latency of the
/// interval that just ended.
fn sample(shared: &Shared, pid: u32, stats: &Path, started: Instant) -> anyhow::Result<Sample> {
    let hist = {
        let mut h = shared.latency.lock().unwrap();
        let fresh = Histogram::new_from(&*h);
        std::mem::replace(&mut *h, fresh)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    Ok(Sample {
        t_s: started.elapsed().as_secs_f64(),
        rss_bytes: ws_load::rss_bytes(pid)?,
        fds,
        heap_bytes: heap_bytes(pid, stats).unwrap_or(0),
        requests: hist.len(),
        p50_us: hist.value_at_quantile(0.5),
        p99_us: hist.value_at_quantile(0.99),
        max_us: hist.max(),
        failures: shared.failures.load(Ordering::Relaxed),
    })
}

/// Asks the server for its stats (SIGUSR1 writes `--stats-out`) and sums
/// the V8 heap in use over its shards.
fn heap_bytes(pid: u32, stats: &Path) -> anyhow::Result<u64> {
    let before = std::fs::metadata(stats)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    // SAFETY: plain kill(2) on our child.
    unsafe {
        libc::kill(pid as i32, libc::SIGUSR1);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let modified = std::fs::metadata(stats).and_then(|m| m.modified()).ok();
        if modified.is_some_and(|m| m > before) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the server wrote no stats");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(stats)?)?;
    json["total"]["v8"]["heap_used_bytes"]
        .as_u64()
        .context("the stats document has no total.v8.heap_used_bytes")
}

/// Per metric: how much the late samples may exceed the early ones
/// (relative, absolute). Loose enough for a noisy machine; a leak of a few
/// KiB per request still crosses them within minutes.
const TOLERANCE: [(&str, f64, f64); 4] = [
    ("rss_bytes", 0.10, 8.0 * 1048576.0),
    ("fds", 0.10, 8.0),
    ("heap_bytes", 0.25, 4.0 * 1048576.0),
    ("p99_us", 2.0, 5_000.0),
];

/// Whether each metric rose over the judged samples.
pub fn judge(samples: &[&Sample]) -> Vec<Trend> {
    TOLERANCE
        .iter()
        .map(|&(metric, rel, abs)| {
            let values: Vec<f64> = samples
                .iter()
                .map(|s| match metric {
                    "rss_bytes" => s.rss_bytes as f64,
                    "fds" => s.fds as f64,
                    "heap_bytes" => s.heap_bytes as f64,
                    _ => s.p99_us as f64,
                })
                .collect();
            trend(metric, &values, rel, abs)
        })
        .collect()
}

fn trend(metric: &'static str, values: &[f64], rel: f64, abs: f64) -> Trend {
    let third = values.len() / 3;
    if third == 0 {
        return Trend {
            metric,
            early: 0.0,
            late: 0.0,
            limit: 0.0,
            rising: false,
        };
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let early = mean(&values[..third]);
    let late = mean(&values[values.len() - third..]);
    let limit = early * (1.0 + rel) + abs;
    Trend {
        metric,
        early,
        late,
        limit,
        rising: late > limit,
    }
}

/// A human summary of a report.
pub fn human(r: &SoakReport) -> String {
    let mut out = format!(
        "soak: {:.0} s, {} requests and round trips, {} failures; trends after {:.0} s of warm-up:\n",
        r.duration_s, r.requests, r.failures, r.warmup_s
    );
    for t in &r.trends {
        out.push_str(&format!(
            "  {:<10} early {:>14.1}  late {:>14.1}  limit {:>14.1}  {}\n",
            t.metric,
            t.early,
            t.late,
            t.limit,
            if t.rising { "RISING" } else { "flat" }
        ));
    }
    for e in &r.failure_examples {
        out.push_str(&format!("  failure: {e}\n"));
    }
    out.push_str(if r.passed { "PASSED\n" } else { "FAILED\n" });
    out
}

/// RSS and p99 latency over time, two panels in one SVG.
pub fn write_chart(r: &SoakReport, path: &Path) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (800, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(260);
    let t_max = r.samples.last().map_or(1.0, |s| s.t_s).max(1.0);
    let series = [
        (
            top,
            "server RSS (MiB)",
            r.samples
                .iter()
                .map(|s| (s.t_s, s.rss_bytes as f64 / 1048576.0))
                .collect::<Vec<_>>(),
        ),
        (
            bottom,
            "p99 latency (ms)",
            r.samples
                .iter()
                .map(|s| (s.t_s, s.p99_us as f64 / 1000.0))
                .collect(),
        ),
    ];
    for (area, title, points) in series {
        let y_max = points.iter().map(|p| p.1).fold(0.0, f64::max) * 1.15;
        let mut chart = ChartBuilder::on(&area)
            .caption(title, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(28)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..t_max, 0.0..y_max.max(1.0))?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .light_line_style(WHITE)
            .draw()?;
        chart.draw_series(std::iter::once(PathElement::new(
            points.clone(),
            RGBColor(214, 96, 26).stroke_width(2),
        )))?;
        // The warm-up, whose samples are not judged.
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(r.warmup_s, 0.0), (r.warmup_s, y_max.max(1.0))],
            RGBColor(150, 150, 150).stroke_width(1),
        )))?;
    }
    root.present()?;
    Ok(())
}

// ---------------------------------------------------------------- traffic

const UPSTREAM_BODY: &[u8] = b"upstream data: 0123456789abcdefghijklmnopqrstuvwxyz";

/// One kind of HTTP request: its name, its target (from the request's
/// number) and what its body must be.
type Kind = (&'static str, fn(u64) -> String, Check);

#[derive(Clone, Copy)]
enum Check {
    Exact(&'static [u8]),
    Len(usize),
    Number,
}

impl Check {
    fn ok(self, body: &[u8]) -> bool {
        match self {
            Check::Exact(b) => body == b,
            Check::Len(n) => body.len() == n,
            Check::Number => std::str::from_utf8(body).is_ok_and(|t| t.parse::<u64>().is_ok()),
        }
    }
}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    Ok(s)
}

/// Keep-alive requests of one kind, `pace` apart; the connection is
/// replaced every 100 requests.
fn http_loop(
    sh: &Shared,
    addr: SocketAddr,
    name: &str,
    path: fn(u64) -> String,
    check: Check,
    pace: Duration,
) {
    let mut conn: Option<Conn> = None;
    let mut i = 0u64;
    while !sh.stopped() {
        let started = Instant::now();
        if conn.is_none() || i % 100 == 0 {
            conn = match connect(addr) {
                Ok(s) => Some(Conn::new(s)),
                Err(e) => {
                    sh.fail(format!("{name}: connect: {e}"));
                    sh.pause(pace);
                    continue;
                }
            };
        }
        let c = conn.as_mut().expect("connected");
        let target = path(i);
        i += 1;
        match c.get(&target) {
            Ok((200, body)) if check.ok(&body) => sh.record(started),
            Ok((status, body)) => sh.fail(format!(
                "{name} {target}: {status} {:?}",
                String::from_utf8_lossy(&body[..body.len().min(80)])
            )),
            Err(e) => {
                sh.fail(format!("{name} {target}: {e}"));
                conn = None;
            }
        }
        sh.pause(pace.saturating_sub(started.elapsed()));
    }
}

/// A keep-alive HTTP/1.1 client connection.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn new(s: TcpStream) -> Self {
        Self { s, buf: Vec::new() }
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut tmp = [0u8; 16384];
        let n = self.s.read(&mut tmp)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(())
    }

    /// `GET target`: the status and the body (Content-Length or chunked).
    fn get(&mut self, target: &str) -> io::Result<(u16, Vec<u8>)> {
        self.s
            .write_all(format!("GET {target} HTTP/1.1\r\nHost: soak\r\n\r\n").as_bytes())?;
        let (status, len, chunked) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut r = httparse::Response::new(&mut headers);
            match r.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let header = |name: &str| {
                        r.headers
                            .iter()
                            .find(|h| h.name.eq_ignore_ascii_case(name))
                            .map(|h| String::from_utf8_lossy(h.value).into_owned())
                    };
                    let len = header("content-length").and_then(|v| v.parse::<usize>().ok());
                    let chunked =
                        header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
                    let status = r.code.unwrap_or(0);
                    self.buf.drain(..n);
                    break (status, len, chunked);
                }
                Ok(httparse::Status::Partial) => self.fill()?,
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        };
        let body = if chunked {
            self.chunked()?
        } else {
            let n = len.unwrap_or(0);
            while self.buf.len() < n {
                self.fill()?;
            }
            self.buf.drain(..n).collect()
        };
        Ok((status, body))
    }

    fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(p) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let l = String::from_utf8_lossy(&self.buf[..p]).into_owned();
                self.buf.drain(..p + 2);
                return Ok(l);
            }
            self.fill()?;
        }
    }

    fn chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let line = self.line()?;
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if size == 0 {
                while !self.line()?.is_empty() {}
                return Ok(out);
            }
            while self.buf.len() < size + 2 {
                self.fill()?;
            }
            out.extend_from_slice(&self.buf[..size]);
            self.buf.drain(..size + 2);
        }
    }
}

fn ws_target(addr: SocketAddr) -> Target {
    Target {
        addr,
        authority: "soak".into(),
        path: "/ws".into(),
    }
}

/// A masked client frame.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0x11, 0x3c, 0x77];
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// The first complete server frame in `buf`: (opcode, payload, length).
fn server_frame(buf: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let (len, off) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().ok()?) as usize, 10),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    (buf.len() >= off + len).then(|| (buf[0] & 0x0f, buf[off..off + len].to_vec(), off + len))
}

/// Reads server frames until a data frame; answers pings on the way.
fn read_message(s: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    loop {
        while let Some((op, payload, n)) = server_frame(buf) {
            buf.drain(..n);
            match op {
                0x9 => s.write_all(&client_frame(0xA, &payload))?,
                0xA => {}
                0x8 => {
                    return Err(io::Error::other(format!(
                        "closed by the server: {payload:?}"
                    )));
                }
                _ => return Ok(payload),
            }
        }
        let mut tmp = [0u8; 4096];
        let n = s.read(&mut tmp)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

/// WebSocket echo round trips on one socket, `pace` apart.
fn ws_echo_loop(sh: &Shared, addr: SocketAddr, pace: Duration) {
    let mut sock: Option<(TcpStream, Vec<u8>)> = None;
    let mut i = 0u64;
    while !sh.stopped() {
        let started = Instant::now();
        if sock.is_none() {
            match ws_load::handshake(&ws_target(addr)) {
                Ok(s) => sock = Some(s),
                Err(e) => {
                    sh.fail(format!("ws echo: handshake: {e}"));
                    sh.pause(pace);
                    continue;
                }
            }
        }
        let (s, buf) = sock.as_mut().expect("open");
        i += 1;
        let msg = format!("echo {i}");
        let r = s
            .write_all(&client_frame(0x1, msg.as_bytes()))
            .and_then(|()| read_message(s, buf));
        match r {
            Ok(m) if m == msg.as_bytes() => sh.record(started),
            Ok(m) => sh.fail(format!("ws echo: got {:?}", String::from_utf8_lossy(&m))),
            Err(e) => {
                sh.fail(format!("ws echo: {e}"));
                sock = None;
            }
        }
        sh.pause(pace.saturating_sub(started.elapsed()));
    }
}

/// `n` idle WebSockets: they answer the server's pings, and one of them
/// echoes a message now and then to show it is alive.
fn idle_ws_loop(sh: &Shared, addr: SocketAddr, n: usize) {
    let mut socks = Vec::with_capacity(n);
    for _ in 0..n {
        match ws_load::handshake(&ws_target(addr)) {
            Ok((s, buf)) => {
                let _ = s.set_nonblocking(true);
                socks.push((s, buf));
            }
            Err(e) => sh.fail(format!("idle ws: handshake: {e}")),
        }
        if sh.stopped() {
            return;
        }
    }
    let mut turn = 0usize;
    let mut last_probe = Instant::now();
    while !sh.stopped() && !socks.is_empty() {
        // A socket the server closed is a failure, counted once.
        socks.retain_mut(|(s, buf)| {
            let mut tmp = [0u8; 1024];
            match s.read(&mut tmp) {
                Ok(0) => {
                    sh.fail("idle ws: closed by the server".into());
                    return false;
                }
                Ok(k) => buf.extend_from_slice(&tmp[..k]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    sh.fail(format!("idle ws: {e}"));
                    return false;
                }
            }
            while let Some((op, payload, k)) = server_frame(buf) {
                buf.drain(..k);
                match op {
                    0x9 => {
                        let _ = s.write_all(&client_frame(0xA, &payload));
                    }
                    0x8 => {
                        sh.fail("idle ws: close frame from the server".into());
                        return false;
                    }
                    _ => {}
                }
            }
            true
        });
        if socks.is_empty() {
            break;
        }
        if last_probe.elapsed() >= Duration::from_secs(1) {
            last_probe = Instant::now();
            turn = (turn + 1) % socks.len();
            let (s, buf) = &mut socks[turn];
            let started = Instant::now();
            let _ = s.set_nonblocking(false);
            let r = s
                .write_all(&client_frame(0x1, b"still here"))
                .and_then(|()| read_message(s, buf));
            let _ = s.set_nonblocking(true);
            match r {
                Ok(m) if m == b"still here" => sh.record(started),
                Ok(m) => sh.fail(format!("idle ws: got {:?}", String::from_utf8_lossy(&m))),
                Err(e) => sh.fail(format!("idle ws probe: {e}")),
            }
        }
        sh.pause(Duration::from_millis(50));
    }
}

/// Sets SO_LINGER 0: closing the socket then sends an RST.
fn reset_on_close(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
}

/// Clients that leave abruptly, about twenty a second, in turn: FIN or RST
/// in the middle of a slow streamed response, half a request head then RST,
/// a WebSocket reset after its handshake, a connection closed unused.
fn disconnect_loop(sh: &Shared, addr: SocketAddr) {
    let mut i = 0u64;
    while !sh.stopped() {
        let started = Instant::now();
        i += 1;
        let r: io::Result<()> = (|| {
            match i % 5 {
                0 | 1 => {
                    let mut s = connect(addr)?;
                    s.write_all(b"GET /stream?chunks=100000&size=512&interval=5 HTTP/1.1\r\nHost: soak\r\n\r\n")?;
                    let mut tmp = [0u8; 2048];
                    // The head and the first chunk arrive, then the client leaves.
                    let mut got = 0;
                    while got < 600 {
                        let n = s.read(&mut tmp)?;
                        if n == 0 {
                            return Err(io::ErrorKind::UnexpectedEof.into());
                        }
                        got += n;
                    }
                    if i % 5 == 1 {
                        reset_on_close(&s);
                    }
                }
                2 => {
                    let mut s = connect(addr)?;
                    s.write_all(b"GET /half HTTP/1.1\r\nHost: so")?;
                    reset_on_close(&s);
                }
                3 => {
                    let (s, _) = ws_load::handshake(&ws_target(addr))
                        .map_err(|e| io::Error::other(e.to_string()))?;
                    reset_on_close(&s);
                }
                _ => drop(connect(addr)?),
            }
            Ok(())
        })();
        if let Err(e) = r {
            sh.fail(format!("disconnect case {}: {e}", i % 5));
        }
        sh.pause(Duration::from_millis(50).saturating_sub(started.elapsed()));
    }
}

// ---------------------------------------------------------------- upstream

/// A keep-alive HTTP/1.1 server on 127.0.0.1 answering every request with
/// [`UPSTREAM_BODY`]: what the worker's `fetch()` reaches.
struct Upstream {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Upstream {
    fn start() -> anyhow::Result<Upstream> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        std::thread::Builder::new()
            .name("soak-upstream".into())
            .spawn(move || {
                while !st.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            let st = st.clone();
                            std::thread::spawn(move || serve_upstream(s, &st));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })?;
        Ok(Upstream { addr, stop })
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve_upstream(mut s: TcpStream, stop: &AtomicBool) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let response = {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
            UPSTREAM_BODY.len()
        )
        .into_bytes();
        r.extend_from_slice(UPSTREAM_BODY);
        r
    };
    while !stop.load(Ordering::Relaxed) {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            if s.write_all(&response).is_err() {
                return;
            }
        }
        match s.read(&mut tmp) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rss_mib: f64) -> Sample {
        Sample {
            t_s: 0.0,
            rss_bytes: (rss_mib * 1048576.0) as u64,
            fds: 40,
            heap_bytes: 10 << 20,
            requests: 100,
            p50_us: 200,
            p99_us: 900,
            max_us: 3000,
            failures: 0,
        }
    }

    #[test]
    fn a_flat_run_passes_and_a_leak_does_not() {
        let flat: Vec<Sample> = [60.0, 62.0, 61.0, 63.0, 60.5, 62.0].map(at).to_vec();
        let refs: Vec<&Sample> = flat.iter().collect();
        assert!(judge(&refs).iter().all(|t| !t.rising), "{:?}", judge(&refs));
        let leak: Vec<Sample> = [60.0, 64.0, 68.0, 72.0, 76.0, 80.0].map(at).to_vec();
        let refs: Vec<&Sample> = leak.iter().collect();
        let t = judge(&refs);
        assert!(
            t.iter().find(|t| t.metric == "rss_bytes").unwrap().rising,
            "{t:?}"
        );
        // Too few samples to judge: nothing is called rising.
        assert!(judge(&refs[..2]).iter().all(|t| !t.rising));
    }

    #[test]
    fn frames() {
        let f = client_frame(1, b"hi");
        assert_eq!((f[0], f[1] & 0x7f), (0x81, 2));
        let server = [0x81, 2, b'o', b'k', 0x89];
        assert_eq!(server_frame(&server), Some((1, b"ok".to_vec(), 4)));
        assert_eq!(server_frame(&server[4..]), None);
    }
}
