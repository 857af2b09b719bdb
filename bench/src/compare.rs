//! `ringworker-bench compare`: the same workloads on ringworker, workerd,
//! Deno, Bun and Node, driven by this load generator, written up as
//! `bench/RESULTS-peers.md` with an SVG chart per cell.
//!
//! Method: each server runs pinned to one core (`taskset`), this process
//! (the load generator, the proxy's upstream) to another. Every cell is
//! measured in `rounds` rounds, alternating between the runtimes within a
//! round, each after a warm-up; the report gives the median, the min–max
//! range and the ratio to ringworker. Beside requests/s it gives the
//! server's CPU time per request and the load generator's own CPU use: a
//! cell where the load generator's core was saturated is marked, since
//! there the throughput says more about the load generator than about
//! the server.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::{Target, build_request_with, disconnect, http_load, measure_http, parse_url, ws_load};

/// A runtime under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Peer {
    Ringworker,
    Workerd,
    Deno,
    Bun,
    Node,
    /// tokio + hyper (`hyper-hello`, built beside this binary): the Rust
    /// baseline, for the cells a hello answers.
    #[value(name = "hyper-hello")]
    Hyper,
}

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Peer::Ringworker => "ringworker",
            Peer::Workerd => "workerd",
            Peer::Deno => "deno",
            Peer::Bun => "bun",
            Peer::Node => "node",
            Peer::Hyper => "hyper-hello",
        }
    }

    /// Whether it runs `scenario` (hyper-hello answers hello to everything).
    fn runs(self, scenario: Scenario) -> bool {
        match self {
            Peer::Hyper => matches!(
                scenario,
                Scenario::Hello | Scenario::IdleLatency | Scenario::Rate | Scenario::ColdStart
            ),
            // (Node's adapter does not carry these routes: they are Web APIs.)
            Peer::Node => !matches!(scenario, Scenario::Gzip | Scenario::Formdata),
            _ => true,
        }
    }

    /// Whether it can run the disconnect scenario's script and report
    /// when the script saw the client leave.
    fn reports_disconnects(self) -> bool {
        matches!(self, Peer::Ringworker | Peer::Deno | Peer::Bun)
    }
}

/// A group of cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// GET / at 64 and at 256 connections.
    Hello,
    /// A 64 x 1 KiB streaming response, 64 connections.
    Stream,
    /// POST a small JSON body, JSON answer, 64 connections.
    Json,
    /// fetch() forward to a local upstream, 64 connections.
    Proxy,
    /// WebSocket echo round trips, 64 connections.
    WsEcho,
    /// How soon the script sees a client leave a streaming response.
    Disconnect,
    /// Process start to the first 200.
    ColdStart,
    /// RSS idle, right after load, and with idle WebSockets open.
    Memory,
    /// One hello every 100 ms (100 of them), on a keep-alive connection and
    /// on new connections: the latency of a shard woken from idle.
    IdleLatency,
    /// Hello at a fixed 1k, 10k and 50k requests/s over 64 connections
    /// (open loop): latency percentiles and CPU per request at realistic load.
    Rate,
    /// 64 KiB of text streamed through CompressionStream("gzip"), 64 connections.
    Gzip,
    /// `request.formData()` of a 1 MiB multipart upload, 16 connections.
    Formdata,
}

pub struct Options {
    pub peers: Vec<Peer>,
    pub scenarios: Vec<Scenario>,
    pub rounds: usize,
    pub duration: Duration,
    pub warmup: Duration,
    /// Where `bench/peers/setup.sh` installed the peers.
    pub peers_dir: PathBuf,
    pub ringworker: PathBuf,
    /// The repository (for bench/peers/*.js).
    pub repo: PathBuf,
    pub out: PathBuf,
    pub server_cpu: usize,
    pub loadgen_cpu: usize,
    pub ws_sockets: usize,
    pub cold_runs: usize,
    pub disconnects: usize,
    /// The command line, for the report.
    pub command: String,
    /// The CPUs each runtime's threads were allowed on, read from
    /// `/proc/PID/task/*/status` once it served (for the report: checked,
    /// not assumed).
    pub cpus_seen: std::cell::RefCell<BTreeMap<Peer, std::collections::BTreeSet<String>>>,
}

/// One measurement of one cell on one runtime.
#[derive(Debug, Clone, Default)]
struct Sample {
    value: f64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    p999_ms: Option<f64>,
    max_ms: Option<f64>,
    server_cpu_us: Option<f64>,
    /// The whole machine's busy CPU per request.
    machine_cpu_us: Option<f64>,
    loadgen_util: Option<f64>,
}

/// What a cell measures.
struct Cell {
    key: &'static str,
    title: &'static str,
    unit: &'static str,
    higher_is_better: bool,
}

const CELLS: &[Cell] = &[
    Cell {
        key: "hello-64",
        title: "hello, 64 connections",
        unit: "req/s",
        higher_is_better: true,
    },
    Cell {
        key: "hello-256",
        title: "hello, 256 connections",
        unit: "req/s",
        higher_is_better: true,
    },
    Cell {
        key: "stream",
        title: "64 x 1 KiB streaming response, 64 connections",
        unit: "responses/s",
        higher_is_better: true,
    },
    Cell {
        key: "json",
        title: "JSON API (POST, parse, answer JSON), 64 connections",
        unit: "req/s",
        higher_is_better: true,
    },
    Cell {
        key: "proxy",
        title: "proxy: fetch() forward to a local upstream, 64 connections",
        unit: "req/s",
        higher_is_better: true,
    },
    Cell {
        key: "ws-echo",
        title: "WebSocket echo, 64 connections, 32-byte messages",
        unit: "round trips/s",
        higher_is_better: true,
    },
    Cell {
        key: "gzip",
        title: "gzip: a 64 KiB streamed response through CompressionStream, 64 connections",
        unit: "responses/s",
        higher_is_better: true,
    },
    Cell {
        key: "formdata",
        title: "formData() of a 1 MiB multipart upload, 16 connections",
        unit: "req/s",
        higher_is_better: true,
    },
    Cell {
        key: "disconnect",
        title: "disconnect seen by the script (p50 of the close-to-abort delay)",
        unit: "ms",
        higher_is_better: false,
    },
    Cell {
        key: "cold-start",
        title: "cold start: process start to the first 200",
        unit: "ms",
        higher_is_better: false,
    },
    Cell {
        key: "rss-idle",
        title: "RSS idle (1 s after start)",
        unit: "MiB",
        higher_is_better: false,
    },
    Cell {
        key: "rss-load",
        title: "RSS right after the hello load",
        unit: "MiB",
        higher_is_better: false,
    },
    Cell {
        key: "rss-ws",
        title: "RSS with idle WebSockets open",
        unit: "MiB",
        higher_is_better: false,
    },
    Cell {
        key: "idle-keepalive",
        title: "idle latency: one hello every 100 ms on a keep-alive connection (p50)",
        unit: "ms",
        higher_is_better: false,
    },
    Cell {
        key: "idle-new-conn",
        title: "idle latency: one hello every 100 ms, each on a new connection (p50)",
        unit: "ms",
        higher_is_better: false,
    },
    Cell {
        key: "rate-1k",
        title: "hello at a fixed 1,000 req/s, 64 connections (p99)",
        unit: "ms",
        higher_is_better: false,
    },
    Cell {
        key: "rate-10k",
        title: "hello at a fixed 10,000 req/s, 64 connections (p99)",
        unit: "ms",
        higher_is_better: false,
    },
    Cell {
        key: "rate-50k",
        title: "hello at a fixed 50,000 req/s, 64 connections (p99)",
        unit: "ms",
        higher_is_better: false,
    },
];

/// Results: cell key -> runtime -> samples.
type Results = BTreeMap<&'static str, BTreeMap<Peer, Vec<Sample>>>;

pub fn run(o: &Options) -> anyhow::Result<()> {
    // (Read before pinning: the pinned process sees one core.)
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    pin_self(o.loadgen_cpu)?;
    crate::raise_nofile();
    for p in &o.peers {
        peer_binary(*p, o)?;
    }
    let upstream = Upstream::start()?;
    let mut results: Results = BTreeMap::new();
    let mut notes: Vec<String> = Vec::new();
    for round in 0..o.rounds {
        // Alternate the order too, so no runtime always goes first.
        let mut order = o.peers.clone();
        if round % 2 == 1 {
            order.reverse();
        }
        for &scenario in &o.scenarios {
            for &peer in order.iter().filter(|p| p.runs(scenario)) {
                eprintln!(
                    "round {}/{}: {:?} on {}",
                    round + 1,
                    o.rounds,
                    scenario,
                    peer.name()
                );
                if let Err(e) = run_scenario(o, peer, scenario, &upstream, &mut results) {
                    let note = format!("{} / {:?}: {e:#}", peer.name(), scenario);
                    eprintln!("  failed: {note}");
                    notes.push(note);
                }
            }
        }
    }
    let md = write_report(o, cores, &results, &notes)?;
    std::fs::write(&o.out, md).with_context(|| format!("writing {}", o.out.display()))?;
    let charts = write_charts(o, &results)?;
    eprintln!("wrote {} and {} charts", o.out.display(), charts);
    Ok(())
}

fn run_scenario(
    o: &Options,
    peer: Peer,
    scenario: Scenario,
    upstream: &Upstream,
    results: &mut Results,
) -> anyhow::Result<()> {
    let mut put = |key: &'static str, s: Sample| {
        results
            .entry(key)
            .or_default()
            .entry(peer)
            .or_default()
            .push(s);
    };
    match scenario {
        Scenario::Hello => {
            let srv = Server::start(o, peer, Workload::Main, upstream)?;
            put("hello-64", http_cell(o, &srv, "GET", "/", None, 64)?);
            put("hello-256", http_cell(o, &srv, "GET", "/", None, 256)?);
        }
        Scenario::Stream => {
            let srv = Server::start(o, peer, Workload::Main, upstream)?;
            put("stream", http_cell(o, &srv, "GET", "/stream", None, 64)?);
        }
        Scenario::Json => {
            let srv = Server::start(o, peer, Workload::Main, upstream)?;
            let body = r#"{"id":42,"items":[{"sku":"a","price":3.5,"qty":2},{"sku":"b","price":1.25,"qty":4}]}"#;
            put("json", http_cell(o, &srv, "POST", "/json", Some(body), 64)?);
        }
        Scenario::Gzip => {
            let srv = Server::start(o, peer, Workload::Main, upstream)?;
            put("gzip", http_cell(o, &srv, "GET", "/gzip", None, 64)?);
        }
        Scenario::Formdata => {
            let srv = Server::start(o, peer, Workload::Main, upstream)?;
            let (content_type, body) = multipart_upload(1 << 20);
            put(
                "formdata",
                http_cell_with(o, &srv, "POST", "/formdata", &[content_type], &body, 16)?,
            );
        }
        Scenario::Proxy => {
            let srv = Server::start(o, peer, Workload::Main, upstream)?;
            put("proxy", http_cell(o, &srv, "GET", "/proxy", None, 64)?);
        }
        Scenario::WsEcho => {
            let srv = Server::start(o, peer, Workload::Main, upstream)?;
            let r = ws_load::echo(&ws_load::EchoConfig {
                target: srv.target("/ws")?,
                connections: 64,
                message_bytes: 32,
                warmup: o.warmup,
                duration: o.duration,
                cpu_pid: Some(srv.pid),
            })?;
            if r.errors > 0 {
                bail!("{} WebSocket errors", r.errors);
            }
            put(
                "ws-echo",
                Sample {
                    value: r.round_trips_per_s,
                    p50_ms: Some(r.latency_us.p50 / 1000.0),
                    p99_ms: Some(r.latency_us.p99 / 1000.0),
                    server_cpu_us: r.server_cpu_us_per_round_trip,
                    loadgen_util: Some(r.loadgen_cpu_util),
                    ..Sample::default()
                },
            );
        }
        Scenario::Disconnect => {
            if !peer.reports_disconnects() {
                return Ok(());
            }
            let srv = Server::start(o, peer, Workload::Disconnect, upstream)?;
            let r = disconnect::run(
                disconnect::Config {
                    target: srv.target("/")?,
                    count: o.disconnects,
                    concurrency: 4,
                    mode: disconnect::Mode::Mixed,
                    max_hold: Duration::from_millis(20),
                    settle: Duration::from_millis(300),
                    cpu_pid: None,
                    idle_window: Duration::ZERO,
                    samples: None,
                },
                srv.url("/"),
            )?;
            // A runtime that missed stamps would be ranked on the ones it kept.
            if (r.missed + r.failed) * 100 > r.disconnects {
                bail!(
                    "{} of {} disconnects missed and {} failed",
                    r.missed,
                    r.disconnects,
                    r.failed
                );
            }
            put(
                "disconnect",
                Sample {
                    value: r.p50_ms,
                    p50_ms: Some(r.p50_ms),
                    p99_ms: Some(r.p99_ms),
                    ..Sample::default()
                },
            );
        }
        Scenario::ColdStart => {
            for _ in 0..o.cold_runs {
                let t0 = Instant::now();
                let mut srv = Server::spawn(o, peer, Workload::Main, upstream)?;
                let took = srv.first_200("/", t0, Duration::from_secs(20))?;
                put(
                    "cold-start",
                    Sample {
                        value: took.as_secs_f64() * 1000.0,
                        ..Sample::default()
                    },
                );
            }
        }
        Scenario::Memory => {
            let srv = Server::start(o, peer, Workload::Main, upstream)?;
            std::thread::sleep(Duration::from_secs(1));
            put("rss-idle", mib(ws_load::rss_bytes(srv.pid)?));
            http_cell(o, &srv, "GET", "/", None, 64)?;
            put("rss-load", mib(ws_load::rss_bytes(srv.pid)?));
            let r = ws_load::idle(
                &srv.target("/ws")?,
                o.ws_sockets,
                srv.pid,
                Duration::from_secs(1),
            )
            .with_context(|| {
                // Say whether the server ran out of descriptors.
                let open =
                    std::fs::read_dir(format!("/proc/{}/fd", srv.pid)).map_or(0, |d| d.count());
                let limit = std::fs::read_to_string(format!("/proc/{}/limits", srv.pid))
                    .ok()
                    .and_then(|l| {
                        l.lines()
                            .find(|x| x.starts_with("Max open files"))
                            .and_then(|x| x.split_whitespace().nth(3).map(str::to_owned))
                    })
                    .unwrap_or_default();
                format!("the server had {open} descriptors open (its limit: {limit})")
            })?;
            if r.sample_alive < r.sample {
                bail!(
                    "only {}/{} sampled idle sockets still echo",
                    r.sample_alive,
                    r.sample
                );
            }
            put("rss-ws", mib(r.rss_after_bytes));
        }
        Scenario::IdleLatency => {
            let srv = Server::start(o, peer, Workload::Main, upstream)?;
            // 100 requests, 100 ms apart: a 10 s window whatever --duration.
            let idle = |new_connection| {
                rate_cell(
                    &srv,
                    10.0,
                    1,
                    new_connection,
                    Duration::from_secs(10),
                    |r| r.latency_us.p50 / 1000.0,
                )
            };
            put("idle-keepalive", idle(false)?);
            put("idle-new-conn", idle(true)?);
        }
        Scenario::Rate => {
            let srv = Server::start(o, peer, Workload::Main, upstream)?;
            for (key, rate) in [("rate-1k", 1e3), ("rate-10k", 1e4), ("rate-50k", 5e4)] {
                put(
                    key,
                    rate_cell(&srv, rate, 64, false, o.duration, |r| {
                        r.latency_us.p99 / 1000.0
                    })?,
                );
            }
        }
    }
    Ok(())
}

/// GET / at a fixed `rate` for `duration` (after a short warm-up); the
/// cell's value is `value` of the report. A run that could not keep the
/// rate (errors, or under 95 % of it answered) fails the cell: its
/// percentiles would describe a different load.
fn rate_cell(
    srv: &Server,
    rate: f64,
    connections: usize,
    new_connection: bool,
    duration: Duration,
    value: impl Fn(&crate::report::Report) -> f64,
) -> anyhow::Result<Sample> {
    let url = srv.url("/");
    let target = parse_url(&url)?;
    let cfg = crate::rate_load::Config {
        addr: target.addr,
        request: build_request_with("GET", &target, &[], b"")?,
        rate,
        connections,
        new_connection,
        timeout: Duration::from_secs(5),
        expect_status: Some(200),
    };
    let warmup = Duration::from_millis(500).min(duration);
    let r = crate::measure_rate(&cfg, &url, warmup, duration, &[srv.pid])?.run;
    if r.errors.total > 0 {
        bail!("{} errors in {} requests", r.errors.total, r.requests);
    }
    if r.rps < rate * 0.95 {
        bail!("kept only {:.0} of {rate:.0} req/s", r.rps);
    }
    Ok(Sample {
        value: value(&r),
        p50_ms: Some(r.latency_us.p50 / 1000.0),
        p99_ms: Some(r.latency_us.p99 / 1000.0),
        p999_ms: Some(r.latency_us.p999 / 1000.0),
        max_ms: Some(r.latency_us.max / 1000.0),
        server_cpu_us: r.server_cpu_us_per_req,
        machine_cpu_us: r.machine_cpu_us_per_req,
        loadgen_util: Some(r.loadgen_cpu_util),
    })
}

fn mib(bytes: u64) -> Sample {
    Sample {
        value: bytes as f64 / 1048576.0,
        ..Sample::default()
    }
}

fn http_cell(
    o: &Options,
    srv: &Server,
    method: &str,
    path: &str,
    body: Option<&str>,
    connections: usize,
) -> anyhow::Result<Sample> {
    let headers = match body {
        Some(_) => vec!["Content-Type: application/json".to_string()],
        None => Vec::new(),
    };
    let body = body.unwrap_or("").as_bytes();
    http_cell_with(o, srv, method, path, &headers, body, connections)
}

/// A multipart/form-data upload: a short field and a file of `size` bytes
/// (text, as an upload of a document would be). -> (Content-Type header, body)
fn multipart_upload(size: usize) -> (String, Vec<u8>) {
    let boundary = "----ringworkerBenchBoundary7MA4YWxk";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nbench\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"upload.txt\"\r\n\
         Content-Type: text/plain\r\n\r\n"
    )
    .into_bytes();
    let line = b"0123456789 the quick brown fox jumps over the lazy dog, a line of an upload\n";
    body.extend(line.iter().cycle().take(size));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (
        format!("Content-Type: multipart/form-data; boundary={boundary}"),
        body,
    )
}

fn http_cell_with(
    o: &Options,
    srv: &Server,
    method: &str,
    path: &str,
    headers: &[String],
    body: &[u8],
    connections: usize,
) -> anyhow::Result<Sample> {
    let url = srv.url(path);
    let target = parse_url(&url)?;
    let request = build_request_with(method, &target, headers, body)?;
    let cfg = http_load::Config {
        addr: target.addr,
        request,
        pipeline: 1,
        connections,
        threads: 1,
        timeout: Duration::from_secs(10),
        expect_status: Some(200),
        head_method: false,
    };
    let r = measure_http(&cfg, &url, o.warmup, o.duration, &[srv.pid])?;
    let errors = r.errors.total;
    if errors > r.requests / 100 {
        bail!("{errors} errors in {} requests", r.requests);
    }
    Ok(Sample {
        value: r.rps,
        p50_ms: Some(r.latency_us.p50 / 1000.0),
        p99_ms: Some(r.latency_us.p99 / 1000.0),
        p999_ms: Some(r.latency_us.p999 / 1000.0),
        max_ms: Some(r.latency_us.max / 1000.0),
        server_cpu_us: r.server_cpu_us_per_req,
        machine_cpu_us: r.machine_cpu_us_per_req,
        loadgen_util: Some(r.loadgen_cpu_util),
    })
}

// ------------------------------------------------------------------ servers

#[derive(Clone, Copy)]
enum Workload {
    /// bench/peers/workload.js
    Main,
    /// bench/workers/disconnect.js
    Disconnect,
}

fn peer_binary(p: Peer, o: &Options) -> anyhow::Result<PathBuf> {
    let nm = o.peers_dir.join("node_modules");
    let path = match p {
        Peer::Ringworker => o.ringworker.clone(),
        Peer::Workerd => nm.join("@cloudflare/workerd-linux-64/bin/workerd"),
        Peer::Deno => nm.join("@deno/linux-x64-glibc/deno"),
        Peer::Bun => nm.join("@oven/bun-linux-x64/bin/bun"),
        Peer::Node => PathBuf::from("node"),
        Peer::Hyper => o.ringworker.with_file_name("hyper-hello"),
    };
    if p == Peer::Node {
        if !nm.join("ws").is_dir() {
            bail!(
                "the ws package is not in {}: run bench/peers/setup.sh",
                nm.display()
            );
        }
    } else if !path.is_file() {
        bail!(
            "{} not found at {} (run bench/peers/setup.sh [DIR], then pass --peers-dir DIR)",
            p.name(),
            path.display()
        );
    }
    Ok(path)
}

struct Server {
    child: Child,
    pid: u32,
    port: u16,
    _dir: Option<TempDir>,
}

impl Server {
    /// Starts `peer` and waits until it answers.
    fn start(o: &Options, peer: Peer, w: Workload, upstream: &Upstream) -> anyhow::Result<Server> {
        let mut srv = Self::spawn(o, peer, w, upstream)?;
        let path = match w {
            Workload::Main => "/",
            Workload::Disconnect => "/stamps",
        };
        srv.first_200(path, Instant::now(), Duration::from_secs(20))?;
        o.cpus_seen
            .borrow_mut()
            .entry(peer)
            .or_default()
            .extend(threads_cpus(srv.pid));
        Ok(srv)
    }

    fn spawn(o: &Options, peer: Peer, w: Workload, upstream: &Upstream) -> anyhow::Result<Server> {
        let port = free_port()?;
        let bin = peer_binary(peer, o)?;
        let script = match w {
            Workload::Main => o.repo.join("bench/peers/workload.js"),
            Workload::Disconnect => o.repo.join("bench/workers/disconnect.js"),
        };
        if !script.is_file() {
            bail!(
                "{} not found: run from the repository or pass --repo",
                script.display()
            );
        }
        let peers = o.repo.join("bench/peers");
        let mut dir = None;
        let mut cmd = Command::new("taskset");
        cmd.arg("-c").arg(o.server_cpu.to_string()).arg(&bin);
        let up = upstream.url();
        match peer {
            Peer::Ringworker => {
                cmd.arg("serve")
                    .arg(&script)
                    .args([
                        "--listen",
                        &format!("127.0.0.1:{port}"),
                        "--shards",
                        "1",
                        "--no-pin",
                    ])
                    .args(["--var", &format!("UPSTREAM={up}")]);
            }
            Peer::Workerd => {
                let d = TempDir::new("workerd")?;
                std::fs::copy(&script, d.0.join("worker.js"))?;
                std::fs::write(d.0.join("config.capnp"), workerd_config(port, &up))?;
                cmd.arg("serve").arg(d.0.join("config.capnp"));
                dir = Some(d);
            }
            Peer::Deno => {
                cmd.args(["run", "-A"])
                    .arg(peers.join("deno-serve.js"))
                    .arg(&script);
            }
            Peer::Bun => {
                cmd.arg(peers.join("bun-serve.js")).arg(&script);
            }
            Peer::Node => {
                cmd.arg(peers.join("node-serve.mjs"));
            }
            Peer::Hyper => {
                cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--threads", "1"]);
            }
        }
        cmd.env("PORT", port.to_string())
            .env("UPSTREAM", &up)
            .env("NODE_PATH", o.peers_dir.join("node_modules"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Server {
            pid: child.id(),
            child,
            port,
            _dir: dir,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn target(&self, path: &str) -> anyhow::Result<Target> {
        parse_url(&self.url(path))
    }

    /// Time from `t0` until GET `path` answers 200 (within `limit`).
    fn first_200(&mut self, path: &str, t0: Instant, limit: Duration) -> anyhow::Result<Duration> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let req = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n");
        loop {
            if let Ok(mut s) = TcpStream::connect(addr) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = [0u8; 12];
                if s.write_all(req.as_bytes()).is_ok()
                    && s.read_exact(&mut head).is_ok()
                    && &head[9..12] == b"200"
                {
                    return Ok(t0.elapsed());
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!("the server exited ({status}) before GET {path} answered 200");
            }
            if t0.elapsed() > limit {
                bail!("no 200 for GET {path} within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM, then SIGKILL if it has not exited within 10 s.
        unsafe { libc::kill(self.pid as i32, libc::SIGTERM) };
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn workerd_config(port: u16, upstream: &str) -> String {
    format!(
        r#"using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:{port}", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed "worker.js") ],
  compatibilityDate = "2025-01-01",
  bindings = [ (name = "UPSTREAM", text = "{upstream}") ],
  globalOutbound = "internet",
);
"#
    )
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> anyhow::Result<TempDir> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!(
            "ringworker-compare-{tag}-{}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(&d)?;
        Ok(TempDir(d))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The distinct `Cpus_allowed_list`s of `pid`'s threads.
fn threads_cpus(pid: u32) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        if let Ok(st) = std::fs::read_to_string(t.path().join("status")) {
            if let Some(l) = st.lines().find(|l| l.starts_with("Cpus_allowed_list:")) {
                out.insert(l["Cpus_allowed_list:".len()..].trim().to_string());
            }
        }
    }
    out
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub(crate) fn pin_self(cpu: usize) -> anyhow::Result<()> {
    // SAFETY: a zeroed cpu_set_t with one bit set, for this process.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            bail!(
                "cannot pin the load generator to CPU {cpu}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}

// ----------------------------------------------------------------- upstream

/// The proxy's upstream: keep-alive HTTP/1.1 answering every request with
/// the same small body, a thread per connection (on the load generator's
/// core, the same for every runtime).
struct Upstream {
    port: u16,
}

impl Upstream {
    fn start() -> anyhow::Result<Upstream> {
        let l = TcpListener::bind("127.0.0.1:0")?;
        let port = l.local_addr()?.port();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                std::thread::spawn(move || upstream_conn(s));
            }
        });
        Ok(Upstream { port })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

fn upstream_conn(mut s: TcpStream) {
    let _ = s.set_nodelay(true);
    let body = b"Hello from upstream";
    let resp = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let mut out = resp.into_bytes();
    out.extend_from_slice(body);
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        // Answer every complete head (requests here have no body).
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            if s.write_all(&out).is_err() {
                return;
            }
        }
        match s.read(&mut tmp) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

// ------------------------------------------------------------------- report

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Median, min and max of one field over the samples that have it.
fn stat(samples: &[Sample], f: impl Fn(&Sample) -> Option<f64>) -> Option<(f64, f64, f64)> {
    let mut v: Vec<f64> = samples.iter().filter_map(&f).collect();
    if v.is_empty() {
        return None;
    }
    let m = median(&mut v);
    Some((m, v[0], v[v.len() - 1]))
}

fn fmt_value(x: f64, unit: &str) -> String {
    match unit {
        "ms" => format!("{x:.2}"),
        "MiB" => format!("{x:.1}"),
        _ => format!("{x:.0}"),
    }
}

fn cmd_output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn write_report(
    o: &Options,
    cores: usize,
    results: &Results,
    notes: &[String],
) -> anyhow::Result<String> {
    let mut md = String::new();
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    let versions = std::fs::read_to_string(o.peers_dir.join("versions.txt")).unwrap_or_default();
    let rw_version = cmd_output(&o.ringworker.to_string_lossy(), &["--version"]);
    let commit = cmd_output(
        "git",
        &[
            "-C",
            &o.repo.to_string_lossy(),
            "rev-parse",
            "--short",
            "HEAD",
        ],
    );
    writeln!(
        md,
        "# ringworker side by side with workerd, Deno, Bun and Node\n"
    )?;
    writeln!(
        md,
        "Written by `ringworker-bench compare` on {} (UTC).\n",
        cmd_output("date", &["-u", "+%Y-%m-%d %H:%M"])
    )?;
    writeln!(md, "```sh\n{}\n```\n", o.command)?;
    writeln!(
        md,
        "- Machine: {cpu_model}, {cores} cores, kernel {}.",
        cmd_output("uname", &["-r"])
    )?;
    writeln!(md, "- ringworker: {rw_version} at `{commit}`.")?;
    for l in versions.lines() {
        writeln!(md, "- {l}")?;
    }
    writeln!(
        md,
        "- Method: each server on CPU {}, the load generator (`ringworker-bench`, one thread) and the proxy's \
         upstream on CPU {}; {} rounds alternating between the runtimes; {:?} warm-up and {:?} measured per cell; \
         medians, with min–max over the rounds. \"vs ringworker\" is the runtime's median over ringworker's \
         (for throughput above 1 means faster than ringworker; for times and memory above 1 means more).",
        o.server_cpu, o.loadgen_cpu, o.rounds, o.warmup, o.duration
    )?;
    writeln!(
        md,
        "- Server CPU per request is the server process's CPU time (`/proc/PID/stat`, all its threads) over \
         the measured window divided by the requests. Load gen CPU is the load generator's share of its core: \
         at 90 % or more the cell is marked **LG-bound**, and its throughput is a floor for that runtime. \
         Machine CPU per request is the whole machine's busy time (`/proc/stat`: every core, all but idle and \
         iowait) over the window per request: it includes softirq work no process is charged for, and the load \
         generator.\n"
    )?;
    let own = threads_cpus(std::process::id());
    writeln!(
        md,
        "- CPUs, read from `/proc/PID/task/*/status` during the run: load generator {}; {}.\n",
        own.into_iter().collect::<Vec<_>>().join(" / "),
        o.cpus_seen
            .borrow()
            .iter()
            .map(|(p, c)| format!(
                "{} {}",
                p.name(),
                c.iter().cloned().collect::<Vec<_>>().join(" / ")
            ))
            .collect::<Vec<_>>()
            .join("; ")
    )?;
    writeln!(
        md,
        "Workloads: `bench/peers/workload.js` (Workers syntax; ringworker and workerd run it unchanged; \
        `deno-serve.js`, `bun-serve.js` adapt it, `node-serve.mjs` is the same routes on `node:http` + `ws`). \
        The disconnect cell runs `bench/workers/disconnect.js`, on the runtimes whose script can stamp the \
        moment it saw the client leave (workerd and Node are not measured there).\n"
    )?;
    let mut behind = Vec::new();
    for cell in CELLS {
        let Some(by_peer) = results.get(cell.key) else {
            continue;
        };
        writeln!(md, "## {}\n", cell.title)?;
        writeln!(md, "![{}]({})\n", cell.title, chart_name(cell.key))?;
        writeln!(
            md,
            "| runtime | {} (median) | min–max | vs ringworker | p50 ms | p99 ms | p99.9 ms | max ms | server CPU µs/req | machine CPU µs/req | load gen CPU |",
            cell.unit
        )?;
        writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|")?;
        let rw = by_peer
            .get(&Peer::Ringworker)
            .and_then(|s| stat(s, |x| Some(x.value)))
            .map(|s| s.0);
        let mut best: Option<(Peer, f64)> = None;
        for (peer, samples) in by_peer {
            let Some((m, lo, hi)) = stat(samples, |x| Some(x.value)) else {
                continue;
            };
            let better = |a: f64, b: f64| if cell.higher_is_better { a > b } else { a < b };
            if best.is_none_or(|(_, b)| better(m, b)) {
                best = Some((*peer, m));
            }
            let opt = |v: Option<(f64, f64, f64)>, d: usize| {
                v.map_or("–".to_string(), |(m, _, _)| format!("{m:.d$}"))
            };
            let lg = stat(samples, |x| x.loadgen_util);
            let lg_s = lg.map_or("–".to_string(), |(m, _, _)| {
                let mark = if m >= 0.9 { " **LG-bound**" } else { "" };
                format!("{:.0} %{mark}", m * 100.0)
            });
            writeln!(
                md,
                "| {} | **{}** | {}–{} | {} | {} | {} | {} | {} | {} | {} | {} |",
                peer.name(),
                fmt_value(m, cell.unit),
                fmt_value(lo, cell.unit),
                fmt_value(hi, cell.unit),
                rw.map_or("–".to_string(), |r| format!("{:.2}", m / r)),
                opt(stat(samples, |x| x.p50_ms), 2),
                opt(stat(samples, |x| x.p99_ms), 2),
                opt(stat(samples, |x| x.p999_ms), 2),
                opt(stat(samples, |x| x.max_ms), 2),
                opt(stat(samples, |x| x.server_cpu_us), 1),
                opt(stat(samples, |x| x.machine_cpu_us), 1),
                lg_s,
            )?;
        }
        writeln!(md)?;
        if let (Some((bp, bm)), Some(r)) = (best, rw) {
            if bp != Peer::Ringworker {
                behind.push(format!(
                    "- **{}**: {} is ahead ({} {} against ringworker's {}).",
                    cell.title,
                    bp.name(),
                    fmt_value(bm, cell.unit),
                    cell.unit,
                    fmt_value(r, cell.unit)
                ));
            }
        }
    }
    writeln!(md, "## Where ringworker is behind\n")?;
    if behind.is_empty() {
        writeln!(
            md,
            "Nowhere in this run: ringworker has the best median in every cell measured.\n"
        )?;
    } else {
        for b in &behind {
            writeln!(md, "{b}")?;
        }
        writeln!(md)?;
    }
    if !notes.is_empty() {
        writeln!(md, "## Cells that failed\n")?;
        for n in notes {
            writeln!(md, "- {n}")?;
        }
        writeln!(md)?;
    }
    Ok(md)
}

fn chart_name(key: &str) -> String {
    format!("peers-{key}.svg")
}

/// One bar chart per cell: the median per runtime, with min–max error bars.
fn write_charts(o: &Options, results: &Results) -> anyhow::Result<usize> {
    use plotters::prelude::*;
    let dir = o.out.parent().unwrap_or(Path::new("."));
    let mut n = 0;
    for cell in CELLS {
        let Some(by_peer) = results.get(cell.key) else {
            continue;
        };
        let bars: Vec<(String, f64, f64, f64)> = by_peer
            .iter()
            .filter_map(|(p, s)| {
                stat(s, |x| Some(x.value)).map(|(m, lo, hi)| (p.name().to_string(), m, lo, hi))
            })
            .collect();
        if bars.is_empty() {
            continue;
        }
        let path = dir.join(chart_name(cell.key));
        let top = bars.iter().map(|b| b.3).fold(0.0, f64::max) * 1.15;
        let top = if top > 0.0 { top } else { 1.0 };
        let root = SVGBackend::new(&path, (640, 360)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(cell.title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..bars.len() as f64, 0.0..top)?;
        let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.len() * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - i as f64 - 0.5).abs() < 0.01 {
                    labels.get(i).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(cell.unit)
            .y_label_formatter(&|y| fmt_value(*y, cell.unit))
            .light_line_style(WHITE)
            .draw()?;
        for (i, (name, m, lo, hi)) in bars.iter().enumerate() {
            let x0 = i as f64 + 0.2;
            let x1 = i as f64 + 0.8;
            let color = if name == "ringworker" {
                RGBColor(214, 96, 26)
            } else {
                RGBColor(90, 110, 150)
            };
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x0, 0.0), (x1, *m)],
                color.filled(),
            )))?;
            let xc = i as f64 + 0.5;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(xc, *lo), (xc, *hi)],
                BLACK.stroke_width(2),
            )))?;
            for y in [*lo, *hi] {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(xc - 0.08, y), (xc + 0.08, y)],
                    BLACK.stroke_width(2),
                )))?;
            }
        }
        root.present()?;
        n += 1;
    }
    Ok(n)
}
