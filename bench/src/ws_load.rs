//! The `ws` scenarios.
//!
//! - **echo**: N connections, each in a closed loop: send one masked text
//!   message, wait for its echo, send the next. Reports round trips/s,
//!   latency percentiles, and (with `--cpu-pid`) the server's CPU time per
//!   round trip over the measured window.
//! - **idle**: opens N WebSockets and keeps them idle; reports the server's
//!   resident memory per connection (`VmRSS` from `/proc/PID/status`, before
//!   and after), then checks a sample of them still echoes.
//!
//! One thread, non-blocking sockets over mio (like `http`).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};
use serde::Serialize;

use crate::Target;
use crate::cpu;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Opens a WebSocket with a blocking handshake; returns the socket and any
/// bytes read past the 101 head.
pub fn handshake(t: &Target) -> anyhow::Result<(TcpStream, Vec<u8>)> {
    let mut s = TcpStream::connect(t.addr).with_context(|| format!("connect {}", t.addr))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        t.path, t.authority
    );
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        let n = s.read(&mut tmp)?;
        if n == 0 {
            bail!("the server closed the connection during the handshake");
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            if !head.starts_with("HTTP/1.1 101") {
                bail!(
                    "upgrade refused: {}",
                    head.lines().next().unwrap_or_default()
                );
            }
            return Ok((s, buf[end + 4..].to_vec()));
        }
    }
}

/// A masked client text frame with `payload`.
pub fn client_frame(payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut f = vec![0x81, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Length of the first complete server frame in `buf` (unmasked), if any.
fn frame_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < 2 {
        return None;
    }
    let (len, off) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (
            u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize,
            10,
        ),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    (buf.len() >= off + len).then_some(off + len)
}

pub struct EchoConfig {
    pub target: Target,
    pub connections: usize,
    pub message_bytes: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub cpu_pid: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct EchoReport {
    pub url: String,
    pub connections: usize,
    pub message_bytes: usize,
    pub duration_s: f64,
    pub round_trips: u64,
    pub round_trips_per_s: f64,
    pub latency_us: crate::report::Latency,
    pub errors: u64,
    pub loadgen_cpu_util: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_us_per_round_trip: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_util: Option<f64>,
}

struct EchoConn {
    s: MioStream,
    rx: Vec<u8>,
    sent_at: Instant,
}

pub fn echo(cfg: &EchoConfig) -> anyhow::Result<EchoReport> {
    let payload = vec![b'x'; cfg.message_bytes];
    let frame = client_frame(&payload);
    let mut poll = Poll::new()?;
    let mut conns = Vec::with_capacity(cfg.connections);
    for i in 0..cfg.connections {
        let (s, rest) = handshake(&cfg.target)?;
        s.set_nonblocking(true)?;
        let mut s = MioStream::from_std(s);
        poll.registry()
            .register(&mut s, Token(i), Interest::READABLE)?;
        conns.push(EchoConn {
            s,
            rx: rest,
            sent_at: Instant::now(),
        });
    }
    let start = Instant::now();
    let measure_from = start + cfg.warmup;
    let end = measure_from + cfg.duration;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    let mut round_trips = 0u64;
    let mut errors = 0u64;
    for c in &mut conns {
        c.sent_at = Instant::now();
        c.s.write_all(&frame)?;
    }
    let mut events = Events::with_capacity(1024);
    let mut tmp = vec![0u8; 64 * 1024];
    let mut marks: Option<(Instant, cpu::CpuTimes, Option<cpu::CpuTimes>)> = None;
    loop {
        let now = Instant::now();
        if marks.is_none() && now >= measure_from {
            let server = cfg.cpu_pid.map(cpu::process_cpu).transpose()?;
            marks = Some((now, cpu::self_cpu(), server));
        }
        if now >= end {
            break;
        }
        poll.poll(&mut events, Some(Duration::from_millis(10)))?;
        for ev in events.iter() {
            let c = &mut conns[ev.token().0];
            loop {
                match c.s.read(&mut tmp) {
                    Ok(0) => {
                        bail!("the server closed a connection");
                    }
                    Ok(n) => c.rx.extend_from_slice(&tmp[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e.into()),
                }
            }
            while let Some(len) = frame_len(&c.rx) {
                let op = c.rx[0] & 0x0f;
                c.rx.drain(..len);
                if op != 1 {
                    if op == 8 {
                        bail!("the server closed a WebSocket");
                    }
                    continue; // a ping: ignore (tiny)
                }
                let t = Instant::now();
                if marks.is_some() && t < end {
                    round_trips += 1;
                    let _ = hist.record(t.duration_since(c.sent_at).as_nanos() as u64);
                }
                c.sent_at = t;
                if c.s.write_all(&frame).is_err() {
                    errors += 1;
                }
            }
        }
    }
    let (t0, self0, server0) = marks.context("the run ended before measuring")?;
    let elapsed = t0.elapsed().as_secs_f64();
    let self_cpu = cpu::self_cpu().since(&self0);
    let server = match (cfg.cpu_pid, server0) {
        (Some(pid), Some(s0)) => Some(cpu::process_cpu(pid)?.since(&s0)),
        _ => None,
    };
    let us = |ns: u64| ns as f64 / 1000.0;
    Ok(EchoReport {
        url: format!("ws://{}{}", cfg.target.authority, cfg.target.path),
        connections: cfg.connections,
        message_bytes: cfg.message_bytes,
        duration_s: elapsed,
        round_trips,
        round_trips_per_s: round_trips as f64 / elapsed,
        latency_us: crate::report::Latency {
            p50: us(hist.value_at_quantile(0.5)),
            p90: us(hist.value_at_quantile(0.9)),
            p99: us(hist.value_at_quantile(0.99)),
            p999: us(hist.value_at_quantile(0.999)),
            max: us(hist.max()),
            mean: hist.mean() / 1000.0,
        },
        errors,
        loadgen_cpu_util: self_cpu.total().as_secs_f64() / elapsed,
        server_cpu_us_per_round_trip: server
            .map(|s| s.total().as_secs_f64() * 1e6 / round_trips.max(1) as f64),
        server_cpu_util: server.map(|s| s.total().as_secs_f64() / elapsed),
    })
}

pub fn human_echo(r: &EchoReport) -> String {
    let mut out = format!(
        "{} round trips in {:.2}s over {} connections ({}-byte messages): {:.0}/s\n\
         latency p50 {:.1} us  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}\n\
         load generator CPU {:.0}%  errors {}\n",
        r.round_trips,
        r.duration_s,
        r.connections,
        r.message_bytes,
        r.round_trips_per_s,
        r.latency_us.p50,
        r.latency_us.p90,
        r.latency_us.p99,
        r.latency_us.p999,
        r.latency_us.max,
        r.loadgen_cpu_util * 100.0,
        r.errors
    );
    if let (Some(c), Some(u)) = (r.server_cpu_us_per_round_trip, r.server_cpu_util) {
        out.push_str(&format!(
            "server CPU {c:.2} us per round trip ({:.0}% of a core)\n",
            u * 100.0
        ));
    }
    out
}

/// Resident memory of a process, in bytes.
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    status_kb(pid, "VmRSS:")
}

/// Resident anonymous memory of a process (the heap and other mappings not
/// backed by a file: not its code), in bytes.
pub fn anon_rss_bytes(pid: u32) -> anyhow::Result<u64> {
    status_kb(pid, "RssAnon:")
}

fn status_kb(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/PID/status"))?;
    Ok(kb * 1024)
}

#[derive(Debug, Serialize)]
pub struct IdleReport {
    pub url: String,
    pub sockets: usize,
    pub rss_before_bytes: u64,
    pub rss_after_bytes: u64,
    pub bytes_per_socket: f64,
    /// Of a sample of the idle sockets, how many still echoed afterwards.
    pub sample_alive: usize,
    pub sample: usize,
}

pub fn idle(
    target: &Target,
    count: usize,
    pid: u32,
    settle: Duration,
) -> anyhow::Result<IdleReport> {
    let before = rss_bytes(pid)?;
    let mut socks = Vec::with_capacity(count);
    for i in 0..count {
        let (s, _) = handshake(target).with_context(|| format!("socket {i} of {count}"))?;
        socks.push(s);
    }
    std::thread::sleep(settle);
    let after = rss_bytes(pid)?;
    let step = (count / 100).max(1);
    let mut sample = 0;
    let mut alive = 0;
    for s in socks.iter_mut().step_by(step) {
        sample += 1;
        let f = client_frame(b"still there?");
        if s.write_all(&f).is_err() {
            continue;
        }
        let mut buf = Vec::new();
        let mut tmp = [0u8; 256];
        while frame_len(&buf).is_none() {
            match s.read(&mut tmp) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        if frame_len(&buf).is_some() && &buf[2..frame_len(&buf).unwrap()] == b"still there?" {
            alive += 1;
        }
    }
    Ok(IdleReport {
        url: format!("ws://{}{}", target.authority, target.path),
        sockets: count,
        rss_before_bytes: before,
        rss_after_bytes: after,
        bytes_per_socket: (after.saturating_sub(before)) as f64 / count as f64,
        sample_alive: alive,
        sample,
    })
}

pub fn human_idle(r: &IdleReport) -> String {
    format!(
        "{} idle WebSockets: server RSS {:.1} MiB -> {:.1} MiB, {:.0} bytes per socket; {}/{} sampled sockets still echo\n",
        r.sockets,
        r.rss_before_bytes as f64 / 1048576.0,
        r.rss_after_bytes as f64 / 1048576.0,
        r.bytes_per_socket,
        r.sample_alive,
        r.sample
    )
}

pub struct HibernateConfig {
    /// Its path has `{room}` where the room number goes.
    pub target: Target,
    pub sockets: usize,
    pub rooms: usize,
    pub pid: u32,
    /// Wait after opening them (past the hibernation window) before
    /// reading the memory.
    pub settle: Duration,
    pub wakes: usize,
    pub idle: Duration,
}

#[derive(Debug, Serialize)]
pub struct HibernateReport {
    pub url: String,
    pub sockets: usize,
    pub rooms: usize,
    pub rss_before_bytes: u64,
    pub rss_after_bytes: u64,
    pub bytes_per_socket: f64,
    /// Anonymous RSS (not the code's pages) once the first 1 % of the
    /// sockets hibernated (the warm baseline), and with all of them.
    pub anon_base_bytes: u64,
    pub anon_after_bytes: u64,
    /// Anonymous RSS growth per socket past the warm baseline: what each
    /// hibernated socket costs, without the once-only costs of the first.
    pub marginal_bytes_per_socket: f64,
    /// Round trip of a message to a hibernated room (wake, construct,
    /// webSocketMessage, reply), microseconds.
    pub wake_us: crate::report::Latency,
    /// The same to the room just woken (already in memory).
    pub awake_us: crate::report::Latency,
    pub wakes: usize,
}

/// The payload of the next server frame on `s` (`buf` keeps what follows).
fn read_frame(s: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<Vec<u8>> {
    let mut tmp = [0u8; 512];
    loop {
        if let Some(n) = frame_len(buf) {
            let off = if buf[1] & 0x7f == 126 { 4 } else { 2 };
            let payload = buf[off..n].to_vec();
            buf.drain(..n);
            return Ok(payload);
        }
        let n = s.read(&mut tmp)?;
        if n == 0 {
            bail!("the server closed a socket");
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

fn percentiles(mut v: Vec<f64>) -> crate::report::Latency {
    v.sort_by(f64::total_cmp);
    let q = |p: f64| {
        if v.is_empty() {
            0.0
        } else {
            v[((v.len() - 1) as f64 * p).round() as usize]
        }
    };
    crate::report::Latency {
        p50: q(0.5),
        p90: q(0.9),
        p99: q(0.99),
        p999: q(0.999),
        max: q(1.0),
        mean: if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        },
    }
}

pub fn hibernate(cfg: &HibernateConfig) -> anyhow::Result<HibernateReport> {
    let before = rss_bytes(cfg.pid)?;
    let mut socks: Vec<(TcpStream, Vec<u8>)> = Vec::with_capacity(cfg.sockets);
    // The first sockets (`warmup`, 1 %) pay what any first traffic pays
    // once: code paged in, the JS heap's pages, allocator arenas. The
    // memory after they hibernated is the baseline of the per-socket cost.
    let warmup = (cfg.sockets / 100).max(1);
    let mut base = anon_rss_bytes(cfg.pid)?;
    for i in 0..cfg.sockets {
        if i == warmup {
            std::thread::sleep(cfg.settle);
            base = anon_rss_bytes(cfg.pid)?;
        }
        let mut t = cfg.target.clone();
        t.path = t.path.replace("{room}", &(i % cfg.rooms).to_string());
        let (s, rest) = handshake(&t).with_context(|| format!("socket {i} of {}", cfg.sockets))?;
        socks.push((s, rest));
    }
    std::thread::sleep(cfg.settle);
    let after = rss_bytes(cfg.pid)?;
    let anon_after = anon_rss_bytes(cfg.pid)?;
    // Wake rooms in turn; a room is visited again only after `idle`.
    let per_room = (cfg.sockets / cfg.rooms).max(1);
    let mut last_use = vec![Instant::now(); cfg.rooms];
    let mut wake = Vec::with_capacity(cfg.wakes);
    let mut awake = Vec::with_capacity(cfg.wakes);
    for k in 0..cfg.wakes {
        let room = k % cfg.rooms;
        let since = last_use[room].elapsed();
        if since < cfg.idle {
            std::thread::sleep(cfg.idle - since);
        }
        let (s, buf) = &mut socks[room + cfg.rooms * ((k / cfg.rooms) % per_room)];
        for out in [&mut wake, &mut awake] {
            let t0 = Instant::now();
            s.write_all(&client_frame(b"wake?"))?;
            let reply = read_frame(s, buf)?;
            out.push(t0.elapsed().as_secs_f64() * 1e6);
            if reply != b"wake?" {
                bail!("unexpected reply {:?}", String::from_utf8_lossy(&reply));
            }
        }
        last_use[room] = Instant::now();
    }
    Ok(HibernateReport {
        url: format!("ws://{}{}", cfg.target.authority, cfg.target.path),
        sockets: cfg.sockets,
        rooms: cfg.rooms,
        rss_before_bytes: before,
        rss_after_bytes: after,
        bytes_per_socket: after.saturating_sub(before) as f64 / cfg.sockets as f64,
        anon_base_bytes: base,
        anon_after_bytes: anon_after,
        marginal_bytes_per_socket: anon_after.saturating_sub(base) as f64
            / cfg.sockets.saturating_sub(warmup).max(1) as f64,
        wake_us: percentiles(wake),
        awake_us: percentiles(awake),
        wakes: cfg.wakes,
    })
}

pub fn human_hibernate(r: &HibernateReport) -> String {
    format!(
        "{} hibernated WebSockets in {} rooms: server RSS {:.1} MiB -> {:.1} MiB, {:.0} bytes per socket \
         ({:.0} bytes of anonymous memory per socket past the first 1 %)\n\
         {} wakes: round trip to a hibernated room p50 {:.0} us, p99 {:.0} us; to the awake room p50 {:.0} us, p99 {:.0} us\n",
        r.sockets,
        r.rooms,
        r.rss_before_bytes as f64 / 1048576.0,
        r.rss_after_bytes as f64 / 1048576.0,
        r.bytes_per_socket,
        r.marginal_bytes_per_socket,
        r.wakes,
        r.wake_us.p50,
        r.wake_us.p99,
        r.awake_us.p50,
        r.awake_us.p99,
    )
}
