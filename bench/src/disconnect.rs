//! The `disconnect` scenario: how long after a client leaves a streaming
//! response does the server's script learn of it?
//!
//! Each client opens a streaming response (`GET <path>?id=N`), waits for its
//! first body bytes, lets it run for a random moment, stamps the wall clock
//! and leaves: FIN (`shutdown(SHUT_WR)`, then it drains until the server
//! closes, so no RST follows) or RST (`SO_LINGER 0`, then `close`). The
//! script stamps `performance.timeOrigin + performance.now()` in its abort
//! handler; afterwards `GET /stamps` returns `{ id: ms }`. Both stamps are
//! CLOCK_REALTIME on one machine, so their difference is the close-to-abort
//! delay. `bench/workers/disconnect.js` is such a script, portable to
//! ringworker, Bun and Deno.
//!
//! With `--cpu-pid`, the server's CPU time is also read over a quiet window
//! after every client left and the grace period passed: a script that
//! ignores the abort (`--path '/?ignore'`) should cost nothing there.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::Target;

/// How clients leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Fin,
    Rst,
    /// Alternate FIN and RST.
    Mixed,
}

pub struct Config {
    pub target: Target,
    pub count: usize,
    pub concurrency: usize,
    pub mode: Mode,
    /// Longest random wait between the first body bytes and leaving.
    pub max_hold: Duration,
    /// Wait after the last client left before collecting stamps.
    pub settle: Duration,
    pub cpu_pid: Option<u32>,
    pub idle_window: Duration,
    /// Where to write every disconnect (CSV), if anywhere.
    pub samples: Option<std::path::PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub url: String,
    pub mode: Mode,
    pub disconnects: usize,
    /// Clients whose disconnect the script never stamped.
    pub missed: usize,
    /// Clients that could not open a stream (error before leaving).
    pub failed: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub min_ms: f64,
    /// Wall time of the disconnect run (s).
    pub elapsed_s: f64,
    /// Server CPU during the disconnect run, per disconnect (us).
    pub server_cpu_us_per_disconnect: Option<f64>,
    /// Server CPU during the run / its wall time (1.0 = one core busy).
    pub server_load: Option<f64>,
    /// Server CPU over the quiet window after the run (ms), and its length.
    pub idle_cpu_ms: Option<f64>,
    pub idle_window_ms: f64,
}

fn wall_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1e3)
        .unwrap_or(0.0)
}

/// xorshift64*: enough randomness to spread the leaving moments.
fn rand(seed: &mut u64) -> u64 {
    *seed ^= *seed >> 12;
    *seed ^= *seed << 25;
    *seed ^= *seed >> 27;
    seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// Whether client `id` leaves with FIN (else RST).
fn fin(mode: Mode, id: usize) -> bool {
    match mode {
        Mode::Fin => true,
        Mode::Rst => false,
        Mode::Mixed => id % 2 == 0,
    }
}

/// One client: open the stream, hold it, leave. Returns the close stamp.
fn one(cfg: &Config, id: usize, seed: &mut u64) -> anyhow::Result<f64> {
    let t = &cfg.target;
    let mut s = TcpStream::connect(t.addr).context("connect")?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let sep = if t.path.contains('?') { '&' } else { '?' };
    write!(
        s,
        "GET {}{sep}id={id} HTTP/1.1\r\nHost: {}\r\n\r\n",
        t.path, t.authority
    )?;
    // Until the head and at least one body byte arrived.
    let mut buf = vec![0u8; 16 << 10];
    let mut got = Vec::new();
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            bail!("the server closed before streaming");
        }
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            if !got.starts_with(b"HTTP/1.1 200") {
                bail!(
                    "unexpected response: {}",
                    String::from_utf8_lossy(&got[..end])
                );
            }
            if got.len() > end + 4 {
                break;
            }
        }
    }
    let hold = cfg.max_hold.as_micros() as u64;
    if hold > 0 {
        std::thread::sleep(Duration::from_micros(rand(seed) % hold));
    }
    if fin(cfg.mode, id) {
        let at = wall_ms();
        s.shutdown(Shutdown::Write)?;
        // Drain until the server closes (bounded), so close() sends no RST.
        s.set_read_timeout(Some(Duration::from_millis(500)))?;
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            match s.read(&mut buf) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        Ok(at)
    } else {
        let sock = socket2::SockRef::from(&s);
        sock.set_linger(Some(Duration::ZERO))?;
        let at = wall_ms();
        drop(s);
        Ok(at)
    }
}

fn get_stamps(t: &Target) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let mut s = TcpStream::connect(t.addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET /stamps HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        t.authority
    )?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no response head from /stamps")?;
    let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
    let mut body = out[end + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body).context("bad chunked /stamps body")?;
    }
    let v: serde_json::Value = serde_json::from_slice(&body).context("/stamps is not JSON")?;
    match v {
        serde_json::Value::Object(m) => Ok(m),
        _ => bail!("/stamps is not a JSON object"),
    }
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..line]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[line + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn run(cfg: Config, url: String) -> anyhow::Result<Report> {
    if cfg.count == 0 || cfg.concurrency == 0 {
        bail!("--count and --concurrency must be > 0");
    }
    // Stale stamps of an earlier run are dropped.
    get_stamps(&cfg.target).context("GET /stamps before the run")?;
    let next = AtomicUsize::new(0);
    let closes = Mutex::new(Vec::with_capacity(cfg.count));
    let failed = AtomicUsize::new(0);
    let first_error = Mutex::new(None::<String>);
    let cpu0 = cfg.cpu_pid.map(crate::cpu::process_cpu).transpose()?;
    let started = Instant::now();
    std::thread::scope(|sc| {
        for w in 0..cfg.concurrency.min(cfg.count) {
            let (cfg, next, closes, failed, first_error) =
                (&cfg, &next, &closes, &failed, &first_error);
            sc.spawn(move || {
                let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ ((w as u64 + 1) << 17);
                let mut mine = Vec::new();
                loop {
                    let id = next.fetch_add(1, Ordering::Relaxed);
                    if id >= cfg.count {
                        break;
                    }
                    match one(cfg, id, &mut seed) {
                        Ok(at) => mine.push((id, at)),
                        Err(e) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            first_error
                                .lock()
                                .unwrap()
                                .get_or_insert_with(|| format!("{e:#}"));
                        }
                    }
                }
                closes.lock().unwrap().extend(mine);
            });
        }
    });
    let cpu1 = cfg.cpu_pid.map(crate::cpu::process_cpu).transpose()?;
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(e) = first_error.lock().unwrap().take() {
        eprintln!("warning: first client error: {e}");
    }
    std::thread::sleep(cfg.settle);
    let idle_cpu_ms = match cfg.cpu_pid {
        Some(pid) if !cfg.idle_window.is_zero() => {
            let a = crate::cpu::process_cpu(pid)?;
            std::thread::sleep(cfg.idle_window);
            let b = crate::cpu::process_cpu(pid)?;
            Some(b.since(&a).total().as_secs_f64() * 1e3)
        }
        _ => None,
    };
    let stamps = get_stamps(&cfg.target).context("GET /stamps after the run")?;
    let closes = closes.into_inner().unwrap();
    let mut delays = Vec::with_capacity(closes.len());
    let mut missed = 0;
    let mut csv = cfg
        .samples
        .as_ref()
        .map(|_| String::from("id,how,close_ms,delay_ms\n"));
    for (id, at) in &closes {
        match stamps.get(&id.to_string()).and_then(|v| v.as_f64()) {
            Some(aborted) => {
                delays.push(aborted - at);
                if let Some(csv) = csv.as_mut() {
                    let how = if fin(cfg.mode, *id) { "fin" } else { "rst" };
                    csv.push_str(&format!("{id},{how},{at:.3},{:.4}\n", aborted - at));
                }
            }
            None => missed += 1,
        }
    }
    if let (Some(path), Some(csv)) = (&cfg.samples, csv) {
        std::fs::write(path, csv).with_context(|| format!("writing {}", path.display()))?;
    }
    delays.sort_by(|a, b| a.total_cmp(b));
    let used = match (cpu0, cpu1) {
        (Some(a), Some(b)) => Some(b.since(&a).total().as_secs_f64()),
        _ => None,
    };
    let per = used
        .filter(|_| !closes.is_empty())
        .map(|u| u * 1e6 / closes.len() as f64);
    Ok(Report {
        url,
        mode: cfg.mode,
        disconnects: closes.len(),
        missed,
        failed: failed.into_inner(),
        p50_ms: percentile(&delays, 50.0),
        p90_ms: percentile(&delays, 90.0),
        p99_ms: percentile(&delays, 99.0),
        max_ms: delays.last().copied().unwrap_or(f64::NAN),
        min_ms: delays.first().copied().unwrap_or(f64::NAN),
        elapsed_s: elapsed,
        server_cpu_us_per_disconnect: per,
        server_load: used.map(|u| u / elapsed),
        idle_cpu_ms,
        idle_window_ms: cfg.idle_window.as_secs_f64() * 1e3,
    })
}

pub fn human(r: &Report) -> String {
    let mut s = format!(
        "{} disconnects ({:?}) of {}: close -> abort p50 {:.3} ms, p90 {:.3}, p99 {:.3}, max {:.3} (min {:.3}); missed {}, failed {}\n",
        r.disconnects,
        r.mode,
        r.url,
        r.p50_ms,
        r.p90_ms,
        r.p99_ms,
        r.max_ms,
        r.min_ms,
        r.missed,
        r.failed
    );
    if let (Some(c), Some(l)) = (r.server_cpu_us_per_disconnect, r.server_load) {
        s.push_str(&format!(
            "server CPU {c:.1} us per disconnect, load {:.0} % of a core over {:.2} s\n",
            l * 100.0,
            r.elapsed_s
        ));
    }
    if let Some(c) = r.idle_cpu_ms {
        s.push_str(&format!(
            "server CPU after the run: {c:.1} ms over {:.0} ms\n",
            r.idle_window_ms
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk(b"3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n").unwrap(),
            b"{\"a\":1}"
        );
        assert!(dechunk(b"zz\r\n").is_none());
    }

    #[test]
    fn percentiles_pick_ranks() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 51.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
