//! `ringworker-bench`: a closed-loop HTTP/1.1 load generator.
//!
//! ```text
//! ringworker-bench http --url http://127.0.0.1:8080/ --connections 64 \
//!     --duration 10s --warmup 2s [--pipeline 1] [--threads 1] [--json]
//! ringworker-bench rate --url http://127.0.0.1:8080/ --rate 10000 \
//!     --connections 64 --duration 10s [--new-connections] [--cpu-pid PID]
//! ringworker-bench disconnect --url http://127.0.0.1:8080/ --count 10000 \
//!     --mode rst [--cpu-pid PID] [--json]
//! ringworker-bench ws --url ws://127.0.0.1:8080/ --connections 64 \
//!     --message-bytes 32 --duration 10s [--cpu-pid PID] [--json]
//! ringworker-bench ws --scenario idle --url ws://127.0.0.1:8080/ \
//!     --sockets 10000 --rss-pid PID [--json]
//! ringworker-bench compare [--peers ringworker,workerd,deno,bun,node] \
//!     [--scenarios hello,stream,...,gzip,formdata] [--rounds 3] [--duration 5s]
//! ringworker-bench soak [--duration 1h] [--interval 10s] [--rate 200] \
//!     [--idle-sockets 100] [--server-cpu 0 --loadgen-cpu 1] [--json FILE] [--svg FILE]
//! ```

mod compare;
mod cpu;
mod disconnect;
mod http_load;
mod parser;
mod rate_load;
mod report;
mod soak;
mod ws_load;

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ringworker-bench",
    version,
    about = "Load generators for ringworker"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Closed-loop HTTP/1.1 keep-alive load (like wrk).
    Http(HttpArgs),
    /// Open-loop load at a fixed rate (like wrk2): latency from each
    /// request's scheduled time, so a stalled server cannot hide its stalls.
    Rate(RateArgs),
    /// Clients leave streaming responses; how soon does the script notice?
    /// (Serve bench/workers/disconnect.js.)
    Disconnect(DisconnectArgs),
    /// WebSocket echo round trips (closed loop), or memory per idle socket.
    Ws(WsArgs),
    /// The same workloads on ringworker, workerd, Deno, Bun and Node, side
    /// by side: writes bench/RESULTS-peers.md and an SVG chart per cell.
    /// Install the peers first with bench/peers/setup.sh.
    Compare(CompareArgs),
    /// Mixed traffic for a given time against a ringworker it starts
    /// (bench/workers/soak.js), sampling the server's RSS, descriptors, V8
    /// heap and latency; fails if a request fails or one of them trends
    /// upward after the warm-up.
    Soak(SoakArgs),
}

#[derive(Args)]
struct SoakArgs {
    /// How long the traffic runs.
    #[arg(short = 'd', long, default_value = "60s", value_parser = parse_duration)]
    duration: Duration,
    /// How often the server is sampled.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    interval: Duration,
    /// Samples before this are shown but not judged (default: a fifth of
    /// the duration).
    #[arg(long, value_parser = parse_duration)]
    warmup: Option<Duration>,
    /// HTTP requests per second over all kinds (each kind gets a share).
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// Idle WebSockets kept open, answering the heartbeat.
    #[arg(long, default_value_t = 100)]
    idle_sockets: usize,
    /// Server shards.
    #[arg(long, default_value_t = 1)]
    shards: usize,
    /// Pin the server to this core.
    #[arg(long)]
    server_cpu: Option<usize>,
    /// Pin this load generator to this core.
    #[arg(long)]
    loadgen_cpu: Option<usize>,
    /// The ringworker binary (default: the one next to this binary).
    #[arg(long)]
    ringworker: Option<std::path::PathBuf>,
    /// The worker.
    #[arg(long, default_value = "bench/workers/soak.js")]
    script: std::path::PathBuf,
    /// Also write the samples and the verdict as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Also draw the RSS and the p99 latency over time (SVG).
    #[arg(long)]
    svg: Option<std::path::PathBuf>,
    /// The server's --cpu-limit-ms (its wall-time backstop, ten times it,
    /// also fires when an overloaded machine keeps the shard off the CPU).
    #[arg(long, default_value_t = 50)]
    cpu_limit_ms: u64,
}

fn run_soak(a: SoakArgs) -> anyhow::Result<()> {
    if a.interval.is_zero() || a.duration < a.interval {
        bail!("--interval must be non-zero and at most --duration");
    }
    if let Some(cpu) = a.loadgen_cpu {
        compare::pin_self(cpu)?;
    }
    let ringworker = match a.ringworker {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .context("this binary has no folder")?
            .join("ringworker"),
    };
    let report = soak::run(&soak::SoakConfig {
        ringworker,
        script: a.script,
        duration: a.duration,
        interval: a.interval,
        warmup: a.warmup.unwrap_or(a.duration / 5),
        rate: a.rate,
        idle_sockets: a.idle_sockets,
        shards: a.shards,
        server_cpu: a.server_cpu,
        cpu_limit_ms: a.cpu_limit_ms,
    })?;
    print!("{}", soak::human(&report));
    if let Some(path) = a.json {
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("write {}", path.display()))?;
    }
    if let Some(path) = a.svg {
        soak::write_chart(&report, &path)?;
    }
    if !report.passed {
        bail!("the soak failed");
    }
    Ok(())
}

#[derive(Args)]
struct CompareArgs {
    /// Runtimes to run (ringworker is always useful: ratios are to it).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [compare::Peer::Ringworker, compare::Peer::Workerd, compare::Peer::Deno, compare::Peer::Bun, compare::Peer::Node, compare::Peer::Hyper])]
    peers: Vec<compare::Peer>,
    /// Scenarios to run.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [compare::Scenario::Hello, compare::Scenario::Stream, compare::Scenario::Json, compare::Scenario::Proxy, compare::Scenario::WsEcho, compare::Scenario::Disconnect, compare::Scenario::ColdStart, compare::Scenario::Memory, compare::Scenario::IdleLatency, compare::Scenario::Rate])]
    scenarios: Vec<compare::Scenario>,
    /// Rounds (each runs every runtime once per scenario, in alternating order).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Measured window per cell.
    #[arg(short = 'd', long, default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// Load before each measured window.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Where bench/peers/setup.sh installed the peers (default
    /// $RINGWORKER_PEERS, else ~/.cache/ringworker-peers).
    #[arg(long)]
    peers_dir: Option<std::path::PathBuf>,
    /// The ringworker binary (default: the one next to this binary).
    #[arg(long)]
    ringworker: Option<std::path::PathBuf>,
    /// The repository root (for bench/peers/*.js).
    #[arg(long, default_value = ".")]
    repo: std::path::PathBuf,
    /// The report to write; the charts go next to it.
    #[arg(long, default_value = "bench/RESULTS-peers.md")]
    out: std::path::PathBuf,
    /// The core the servers run on.
    #[arg(long, default_value_t = 0)]
    server_cpu: usize,
    /// The core this load generator runs on.
    #[arg(long, default_value_t = 1)]
    loadgen_cpu: usize,
    /// Memory: idle WebSockets to open.
    #[arg(long, default_value_t = 10_000)]
    ws_sockets: usize,
    /// Cold start: starts per runtime per round.
    #[arg(long, default_value_t = 5)]
    cold_runs: usize,
    /// Disconnect: clients that leave, per runtime per round.
    #[arg(long, default_value_t = 2000)]
    disconnects: usize,
}

fn run_compare(a: CompareArgs) -> anyhow::Result<()> {
    if a.rounds == 0 || a.peers.is_empty() || a.scenarios.is_empty() {
        bail!("--rounds, --peers and --scenarios must not be empty");
    }
    let peers_dir = a
        .peers_dir
        .or_else(|| std::env::var_os("RINGWORKER_PEERS").map(Into::into))
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| std::path::PathBuf::from(h).join(".cache/ringworker-peers"))
        })
        .context("no --peers-dir, $RINGWORKER_PEERS or $HOME")?;
    let ringworker = match a.ringworker {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .context("this binary has no folder")?
            .join("ringworker"),
    };
    let mut peers = a.peers;
    peers.sort();
    peers.dedup();
    compare::run(&compare::Options {
        peers,
        scenarios: a.scenarios,
        rounds: a.rounds,
        duration: a.duration,
        warmup: a.warmup,
        peers_dir,
        ringworker,
        repo: a.repo,
        out: a.out,
        server_cpu: a.server_cpu,
        loadgen_cpu: a.loadgen_cpu,
        ws_sockets: a.ws_sockets,
        cold_runs: a.cold_runs,
        disconnects: a.disconnects,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        cpus_seen: Default::default(),
    })
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum WsScenario {
    Echo,
    Idle,
    /// Sockets spread over actor rooms (`{room}` in the URL path) that
    /// hibernate: memory per hibernated socket, then the round trip of a
    /// message that wakes a hibernated room vs one to an awake room.
    Hibernate,
}

#[derive(Args)]
struct WsArgs {
    /// The echo endpoint, ws://host:port/path.
    #[arg(long)]
    url: String,
    #[arg(long, value_enum, default_value = "echo")]
    scenario: WsScenario,
    /// Echo: connections, each with one message in flight.
    #[arg(short = 'c', long, default_value_t = 64)]
    connections: usize,
    /// Echo: message size in bytes (< 126).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u8).range(1..126))]
    message_bytes: u8,
    /// Echo: length of the measured window.
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Echo: load applied before measuring.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Echo: report this server process's CPU time per round trip.
    #[arg(long)]
    cpu_pid: Option<u32>,
    /// Idle: sockets to open.
    #[arg(long, default_value_t = 10_000)]
    sockets: usize,
    /// Idle: the server process whose resident memory is read.
    #[arg(long)]
    rss_pid: Option<u32>,
    /// Idle: wait after opening them before reading the memory.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    settle: Duration,
    /// Hibernate: rooms the sockets are spread over.
    #[arg(long, default_value_t = 100)]
    rooms: usize,
    /// Hibernate: messages that wake a hibernated room (each followed by
    /// one to the now-awake room).
    #[arg(long, default_value_t = 1000)]
    wakes: usize,
    /// Hibernate: how long a room must be left alone before it counts as
    /// hibernated again (the server's window plus its sweep).
    #[arg(long, default_value = "150ms", value_parser = parse_duration)]
    idle: Duration,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn run_ws(a: WsArgs) -> anyhow::Result<()> {
    let Some(rest) = a.url.strip_prefix("ws://") else {
        bail!("only ws:// URLs are supported: {}", a.url);
    };
    let target = parse_url(&format!("http://{rest}"))?;
    match a.scenario {
        WsScenario::Echo => {
            if a.connections == 0 {
                bail!("--connections must be > 0");
            }
            let r = ws_load::echo(&ws_load::EchoConfig {
                target,
                connections: a.connections,
                message_bytes: a.message_bytes as usize,
                warmup: a.warmup,
                duration: a.duration,
                cpu_pid: a.cpu_pid,
            })?;
            print_report(a.json, &r, ws_load::human_echo)?;
        }
        WsScenario::Hibernate => {
            let pid = a.rss_pid.context("--scenario hibernate needs --rss-pid")?;
            raise_nofile();
            let r = ws_load::hibernate(&ws_load::HibernateConfig {
                target,
                sockets: a.sockets,
                rooms: a.rooms.max(1),
                pid,
                settle: a.settle,
                wakes: a.wakes,
                idle: a.idle,
            })?;
            print_report(a.json, &r, ws_load::human_hibernate)?;
        }
        WsScenario::Idle => {
            let pid = a.rss_pid.context("--scenario idle needs --rss-pid")?;
            raise_nofile();
            let r = ws_load::idle(&target, a.sockets, pid, a.settle)?;
            print_report(a.json, &r, ws_load::human_idle)?;
        }
    }
    Ok(())
}

/// Idle WebSockets need a descriptor each, here and in the server (which
/// inherits the limit; some runtimes use more than one per socket). Raised
/// to 1,048,576 where allowed (root), else to the hard limit.
fn raise_nofile() {
    // SAFETY: plain getrlimit/setrlimit on this process.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return;
        }
        let want = r.rlim_max.max(1 << 20);
        let high = libc::rlimit {
            rlim_cur: want,
            rlim_max: want,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &high) != 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

#[derive(Args)]
struct DisconnectArgs {
    /// The streaming endpoint, http://host:port/path (`id=N` is appended).
    #[arg(long)]
    url: String,
    /// Disconnects in all.
    #[arg(short = 'n', long, default_value_t = 10_000)]
    count: usize,
    /// Clients at once (one thread each).
    #[arg(short = 'c', long, default_value_t = 16)]
    concurrency: usize,
    /// How clients leave.
    #[arg(long, value_enum, default_value = "mixed")]
    mode: disconnect::Mode,
    /// Longest random hold between the first body bytes and leaving.
    #[arg(long, default_value = "5ms", value_parser = parse_duration)]
    max_hold: Duration,
    /// Wait after the last client left before collecting (past any grace period).
    #[arg(long, default_value = "300ms", value_parser = parse_duration)]
    settle: Duration,
    /// Server process whose CPU is read during the run and over the quiet
    /// window after it.
    #[arg(long)]
    cpu_pid: Option<u32>,
    /// Length of that quiet window.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    idle_window: Duration,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Also write every disconnect as CSV (id, how, close wall-clock ms,
    /// close-to-abort ms) to this file, for looking at the tail.
    #[arg(long)]
    samples: Option<std::path::PathBuf>,
}

fn run_disconnect(a: DisconnectArgs) -> anyhow::Result<()> {
    let target = parse_url(&a.url)?;
    let rep = disconnect::run(
        disconnect::Config {
            target,
            count: a.count,
            concurrency: a.concurrency,
            mode: a.mode,
            max_hold: a.max_hold,
            settle: a.settle,
            cpu_pid: a.cpu_pid,
            idle_window: a.idle_window,
            samples: a.samples.clone(),
        },
        a.url.clone(),
    )?;
    print_report(a.json, &rep, disconnect::human)?;
    Ok(())
}

#[derive(Args)]
struct HttpArgs {
    /// Target, http://host\[:port\]/path (no TLS).
    #[arg(long)]
    url: String,
    /// Concurrent keep-alive connections (total over all threads).
    #[arg(short = 'c', long, default_value_t = 64)]
    connections: usize,
    /// Length of the measured window (e.g. 10s, 500ms, 1m).
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Load applied before measuring; its results are discarded.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Requests written back-to-back per connection before awaiting responses.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pipeline: u32,
    /// Load threads; connections are split evenly between them.
    #[arg(short = 't', long, default_value_t = 1)]
    threads: usize,
    /// Request method.
    #[arg(short = 'm', long, default_value = "GET")]
    method: String,
    /// Request body size in bytes (sent with Content-Length).
    #[arg(long, default_value_t = 0)]
    body_size: usize,
    /// Request body: this text (sent with Content-Length; instead of
    /// --body-size), e.g. '{"id":42}' with -H 'Content-Type: application/json'.
    #[arg(long, conflicts_with = "body_size")]
    body: Option<String>,
    /// Extra request header, 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Status every response must have (default: any status < 400 is fine).
    #[arg(long)]
    expect_status: Option<u16>,
    /// A request without a full response after this long is an error.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    timeout: Duration,
    /// Report the CPU time of this server process per request. Repeatable:
    /// the first is the server (`server_cpu_*`), the others (e.g. the
    /// upstream behind a proxy) are reported in `other_cpu`.
    #[arg(long)]
    cpu_pid: Vec<u32>,
}

#[derive(Args)]
struct RateArgs {
    /// Target, http://host\[:port\]/path (no TLS).
    #[arg(long)]
    url: String,
    /// Requests per second, all connections together.
    #[arg(short = 'r', long)]
    rate: f64,
    /// Keep-alive connections the schedule is spread over (with
    /// --new-connections: requests in flight at most).
    #[arg(short = 'c', long, default_value_t = 64)]
    connections: usize,
    /// A new connection for every request (timed from its scheduled start,
    /// connect included).
    #[arg(long)]
    new_connections: bool,
    /// Length of the measured window.
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Load applied before measuring; its results are discarded.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    warmup: Duration,
    /// Extra request header, 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Status every response must have (default: any status < 400 is fine).
    #[arg(long)]
    expect_status: Option<u16>,
    /// A request without a full response this long after it was due is an error.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    timeout: Duration,
    /// Report this server process's CPU time per request (repeatable, as
    /// for `http`).
    #[arg(long)]
    cpu_pid: Vec<u32>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// A fixed-rate run's report: the closed-loop report's figures, plus the
/// rate asked for.
#[derive(serde::Serialize)]
struct RateReport {
    target_rps: f64,
    new_connections: bool,
    #[serde(flatten)]
    run: report::Report,
}

fn human_rate(r: &RateReport) -> String {
    let mut s = format!(
        "fixed rate {:.0} req/s{} (latency from each request's scheduled time)\n",
        r.target_rps,
        if r.new_connections {
            ", a new connection per request"
        } else {
            ""
        }
    );
    s.push_str(&report::human(&r.run));
    s
}

fn run_rate(a: RateArgs) -> anyhow::Result<()> {
    if a.connections == 0 || !(a.rate > 0.0 && a.rate.is_finite()) {
        bail!("--connections and --rate must be > 0");
    }
    let target = parse_url(&a.url)?;
    let request = build_request("GET", &target, &a.headers, 0)?;
    let cfg = rate_load::Config {
        addr: target.addr,
        request,
        rate: a.rate,
        connections: a.connections,
        new_connection: a.new_connections,
        timeout: a.timeout,
        expect_status: a.expect_status,
    };
    let rep = measure_rate(&cfg, &a.url, a.warmup, a.duration, &a.cpu_pid)?;
    print_report(a.json, &rep, human_rate)?;
    Ok(())
}

/// Runs `cfg`'s schedule for `warmup` then `duration` and reports the
/// window (requests counted by their scheduled time).
fn measure_rate(
    cfg: &rate_load::Config,
    url: &str,
    warmup: Duration,
    duration: Duration,
    cpu_pid: &[u32],
) -> anyhow::Result<RateReport> {
    let meta = report::Meta {
        url: url.to_string(),
        duration_s: duration.as_secs_f64(),
        warmup_s: warmup.as_secs_f64(),
        connections: cfg.connections,
        threads: 1,
        pipeline: 1,
    };
    Ok(RateReport {
        target_rps: cfg.rate,
        new_connections: cfg.new_connection,
        run: measure_window(cpu_pid, warmup, duration, meta, |tl, at_start, at_end| {
            rate_load::run(cfg, tl, at_start, at_end)
        })?,
    })
}

/// Runs a load for `warmup` then `duration` (`run` calls its two callbacks
/// at the edges of the measured window) and reports the window with the
/// CPU of this process, each `cpu_pid` and the machine over it.
fn measure_window(
    cpu_pid: &[u32],
    warmup: Duration,
    duration: Duration,
    meta: report::Meta,
    run: impl FnOnce(
        http_load::Timeline,
        &mut dyn FnMut(),
        &mut dyn FnMut(),
    ) -> std::io::Result<http_load::Stats>,
) -> anyhow::Result<report::Report> {
    for &pid in cpu_pid {
        cpu::process_cpu(pid).with_context(|| format!("reading CPU of pid {pid}"))?;
    }
    let start = Instant::now();
    let tl = http_load::Timeline {
        measure_start: start + warmup,
        end: start + warmup + duration,
    };
    let mut samples_start = None;
    let mut samples_end = None;
    let stats = run(
        tl,
        &mut || samples_start = Some(CpuSample::take(cpu_pid)),
        &mut || samples_end = Some(CpuSample::take(cpu_pid)),
    )?;
    Ok(CpuSample::report(
        meta,
        &stats,
        cpu_pid,
        samples_start.expect("window start sampled"),
        samples_end.expect("window end sampled"),
    ))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?} (use e.g. 10s, 500ms, 1m)"))?;
    let secs = match unit.trim() {
        "" | "s" => v,
        "ms" => v / 1e3,
        "us" => v / 1e6,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        u => return Err(format!("bad duration unit {u:?} in {s:?}")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("bad duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    /// Value for the Host header (authority as written in the URL).
    authority: String,
    path: String,
}

fn parse_url(url: &str) -> anyhow::Result<Target> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("only http:// URLs are supported: {url}");
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() {
        bail!("missing host in {url}");
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']').context("unterminated [ in host")?;
        let port = v6[end + 1..].strip_prefix(':');
        (&v6[..end], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port: u16 = match port {
        Some(p) => p.parse().with_context(|| format!("bad port in {url}"))?,
        None => 80,
    };
    let addr = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .next()
        .with_context(|| format!("{host} resolved to no address"))?;
    Ok(Target {
        addr,
        authority: authority.to_string(),
        path,
    })
}

fn build_request(
    method: &str,
    t: &Target,
    headers: &[String],
    body_size: usize,
) -> anyhow::Result<Vec<u8>> {
    build_request_with(method, t, headers, &vec![b'x'; body_size])
}

/// One request with `body` (and its Content-Length).
fn build_request_with(
    method: &str,
    t: &Target,
    headers: &[String],
    body: &[u8],
) -> anyhow::Result<Vec<u8>> {
    let mut r = format!("{method} {} HTTP/1.1\r\n", t.path);
    let mut has_host = false;
    for h in headers {
        let (name, value) = h
            .split_once(':')
            .with_context(|| format!("header {h:?} is not 'Name: value'"))?;
        let name = name.trim();
        if name.is_empty() || name.contains(|c: char| c.is_ascii_whitespace()) {
            bail!("bad header name in {h:?}");
        }
        if name.eq_ignore_ascii_case("content-length") {
            bail!("Content-Length is set from --body-size");
        }
        has_host |= name.eq_ignore_ascii_case("host");
        r.push_str(&format!("{name}: {}\r\n", value.trim()));
    }
    if !has_host {
        r.insert_str(
            r.find("\r\n").unwrap() + 2,
            &format!("Host: {}\r\n", t.authority),
        );
    }
    let needs_length = !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH");
    if needs_length {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(body);
    Ok(bytes)
}

fn run_http(a: HttpArgs) -> anyhow::Result<()> {
    if a.connections == 0 {
        bail!("--connections must be > 0");
    }
    if a.duration.is_zero() {
        bail!("--duration must be > 0");
    }
    if a.timeout.is_zero() {
        bail!("--timeout must be > 0");
    }
    if a.method.is_empty() || !a.method.bytes().all(|b| b.is_ascii_uppercase()) {
        bail!("--method must be an upper-case token, e.g. GET");
    }
    let target = parse_url(&a.url)?;
    let request = match &a.body {
        Some(b) => build_request_with(&a.method, &target, &a.headers, b.as_bytes())?,
        None => build_request(&a.method, &target, &a.headers, a.body_size)?,
    };
    let threads = a.threads.clamp(1, a.connections);
    let cfg = http_load::Config {
        addr: target.addr,
        request,
        pipeline: a.pipeline,
        connections: a.connections,
        threads,
        timeout: a.timeout,
        expect_status: a.expect_status,
        head_method: a.method == "HEAD",
    };
    let rep = measure_http(&cfg, &a.url, a.warmup, a.duration, &a.cpu_pid)?;
    print_report(a.json, &rep, report::human)?;
    Ok(())
}

/// Runs `cfg`'s load for `warmup` then `duration` and reports the window,
/// with the CPU time of `cpu_pid` (the first is the server) over it.
fn measure_http(
    cfg: &http_load::Config,
    url: &str,
    warmup: Duration,
    duration: Duration,
    cpu_pid: &[u32],
) -> anyhow::Result<report::Report> {
    let meta = report::Meta {
        url: url.to_string(),
        duration_s: duration.as_secs_f64(),
        warmup_s: warmup.as_secs_f64(),
        connections: cfg.connections,
        threads: cfg.threads,
        pipeline: cfg.pipeline,
    };
    measure_window(cpu_pid, warmup, duration, meta, |tl, at_start, at_end| {
        http_load::run(cfg, tl, at_start, at_end)
    })
}

/// CPU times at one edge of a measured window: this process's, each
/// `--cpu-pid` process's and the whole machine's.
struct CpuSample {
    own: cpu::CpuTimes,
    procs: Vec<std::io::Result<cpu::CpuTimes>>,
    machine: std::io::Result<Duration>,
}

impl CpuSample {
    fn take(pids: &[u32]) -> CpuSample {
        CpuSample {
            own: cpu::self_cpu(),
            procs: pids.iter().map(|&p| cpu::process_cpu(p)).collect(),
            machine: cpu::machine_busy(),
        }
    }

    /// The report of a window from its two edges.
    fn report(
        meta: report::Meta,
        stats: &http_load::Stats,
        cpu_pid: &[u32],
        a: CpuSample,
        b: CpuSample,
    ) -> report::Report {
        let (self0, srv0) = (a.own, a.procs);
        let (self1, srv1) = (b.own, b.procs);
        // Kept in --cpu-pid order: an unreadable first process is no server figure.
        let procs: Vec<_> = cpu_pid
            .iter()
            .zip(srv0.into_iter().zip(srv1))
            .map(|(&pid, (c0, c1))| match (c0, c1) {
                (Ok(c0), Ok(c1)) => Some((pid, c1.since(&c0))),
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("warning: CPU of pid {pid} unavailable: {e}");
                    None
                }
            })
            .collect();
        let server = procs.first().copied().flatten();
        let others: Vec<_> = procs.iter().skip(1).flatten().copied().collect();
        let machine = match (a.machine, b.machine) {
            (Ok(m0), Ok(m1)) => Some(m1.saturating_sub(m0)),
            _ => None,
        };
        report::build(meta, stats, self1.since(&self0), server, &others, machine)
    }
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Http(a) => run_http(a),
        Cmd::Rate(a) => run_rate(a),
        Cmd::Disconnect(a) => run_disconnect(a),
        Cmd::Ws(a) => run_ws(a),
        Cmd::Compare(a) => run_compare(a),
        Cmd::Soak(a) => run_soak(a),
    }
}

/// Prints a run's report: one JSON object with `--json`, else `human`'s text.
fn print_report<T: serde::Serialize>(
    json: bool,
    report: &T,
    human: fn(&T) -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        print!("{}", human(report));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("5q").is_err());
    }

    #[test]
    fn request_bytes() {
        let t = parse_url("http://127.0.0.1:8080/a?b=1").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        let r = build_request("GET", &t, &["X-A: 1".into()], 0).unwrap();
        assert_eq!(
            r,
            b"GET /a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nX-A: 1\r\n\r\n"
        );
        let r = build_request("POST", &t, &[], 3).unwrap();
        assert!(r.ends_with(b"Content-Length: 3\r\n\r\nxxx"));
        let t = parse_url("http://[::1]:9/").unwrap();
        assert_eq!(t.addr.port(), 9);
        assert!(parse_url("https://x/").is_err());
    }
}
