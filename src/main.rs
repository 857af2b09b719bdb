//! The `ringworker` command line.
//!
//! ```text
//! ringworker serve worker.js --listen 127.0.0.1:8080 --shards 2 --var GREETING=hi
//! ringworker serve --config wrangler.toml
//! ringworker tail 127.0.0.1:9090 --status error
//! ```

use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::{Parser, Subcommand};
use ringworker::Config;
use ringworker::wrangler::Project;
use std::time::Duration;

use ringworker_isolate::{ActorBinding, WorkerOptions};

mod tail;

#[derive(Debug, Parser)]
#[command(
    name = "ringworker",
    version,
    about = "A JavaScript edge runtime on io_uring"
)]
struct Cli {
    /// How log lines are written to stderr: `text`, or `json` (one object per line).
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a Workers-style script (`export default { fetch(request, env, ctx) }`).
    Serve(Box<ServeArgs>),
    /// Follow a running server's requests, console lines and exceptions
    /// through its admin listener (as `wrangler tail` does).
    Tail(tail::TailArgs),
    /// Profile a workload: flame graph with JS frames, counters, cost per
    /// request (runs `ringworker-perf`; see `ringworker perf --help`).
    #[command(disable_help_flag = true)]
    Perf {
        /// Arguments for ringworker-perf.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
}

/// Runs `ringworker-perf` (built beside this binary) with `args`.
fn perf(args: Vec<std::ffi::OsString>) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?.with_file_name("ringworker-perf");
    if !exe.exists() {
        anyhow::bail!(
            "{} not found: build it with `cargo build --release -p ringworker-perf`",
            exe.display()
        );
    }
    let status = std::process::Command::new(&exe).args(args).status()?;
    std::process::exit(status.code().unwrap_or(1));
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// The main module. Optional with --config (its `main`).
    script: Option<PathBuf>,
    /// A Workers project's wrangler.toml: `main`, `[vars]` and
    /// `compatibility_date` are used; other keys are reported once and ignored.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// Number of shards (default: one per CPU the process may run on, as
    /// `taskset` or a cpuset allows).
    #[arg(long)]
    shards: Option<usize>,
    /// Do not pin shards to cores (pinned shards take the allowed CPUs in
    /// order; more shards than those CPUs needs this).
    #[arg(long)]
    no_pin: bool,
    /// An `env` variable, NAME=VALUE (repeatable; overrides `[vars]`).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// Longest one entry into the script may run before it is terminated
    /// (the request then gets 503), in milliseconds.
    #[arg(long, default_value_t = 50)]
    cpu_limit_ms: u64,
    /// Largest JS heap per isolate, in MiB; near it the running script is
    /// stopped (503) and the isolate replaced.
    #[arg(long, default_value_t = 256)]
    heap_limit_mb: usize,
    /// After a client disconnects, how long its request may react (abort
    /// handlers, closing its stream) before its timers are stopped, in ms.
    #[arg(long, default_value_t = 100)]
    cancel_grace_ms: u64,
    /// Once the script has not run for this long, a shard whose V8 heap grew
    /// by 4 MiB or more since the last time runs a memory-reducing
    /// collection and gives free memory back, in ms (0: never).
    #[arg(long, default_value_t = 500)]
    idle_gc_ms: u64,
    /// Largest multipart form `formData()` parses, in KiB; past it the call
    /// rejects with a TypeError and the rest of the body is not read.
    #[arg(long, default_value_t = 100 << 10)]
    form_data_max_kb: u64,
    /// Write a V8 CPU profile of the script (a `.cpuprofile` for Chrome
    /// DevTools) here at shutdown; shard N > 0 writes `<stem>.shardN.cpuprofile`.
    #[arg(long)]
    cpu_profile: Option<PathBuf>,
    /// On SIGINT/SIGTERM, write every shard's metrics to this file as JSON
    /// before shutting down (read by `ringworker perf`).
    #[arg(long)]
    stats_out: Option<PathBuf>,
    /// When a shard runs out of work, how long it waits for network events
    /// in its own io_uring before parking (lower latency and CPU per event on
    /// a shard idle between events; script timers end the wait), in µs (0: park at once).
    #[arg(long, default_value_t = 2000)]
    idle_ring_wait_us: u64,
    /// The Cache API's memory budget for the whole process (all shards), in MiB.
    #[arg(long, default_value_t = 128)]
    cache_mb: usize,
    /// The largest response the Cache API keeps, in MiB (a larger put rejects).
    #[arg(long, default_value_t = 32)]
    cache_max_entry_mb: usize,
    /// Keep the Cache API's entries on disk in this directory too, so they
    /// survive a restart (one subdirectory per shard; one process at a time).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// The on-disk cache's budget for the whole process (all shards), in
    /// MiB: least recently used entries are evicted beyond it.
    #[arg(long, default_value_t = 1024, value_name = "MB")]
    cache_dir_mb: u64,
    /// A compatibility flag (repeatable; adds to wrangler.toml's
    /// `compatibility_flags`): `nodejs_compat` makes Node's modules
    /// importable and adds `Buffer`, `process` and `global`.
    #[arg(long = "compat-flag", value_name = "FLAG")]
    compat_flags: Vec<String>,
    /// Answer wrangler's test route `/__scheduled?cron=PATTERN[&time=MS]` by
    /// running the script's `scheduled()` handler, as `wrangler dev --test-scheduled`.
    #[arg(long)]
    test_scheduled: bool,
    /// The cron schedule's clock starts at this time (ms since the Unix
    /// epoch) instead of now (for tests).
    #[arg(long, hide = true)]
    cron_start_ms: Option<i64>,
    /// The cron schedule's clock runs this many times faster than real time (for tests).
    #[arg(long, hide = true, default_value_t = 1.0)]
    cron_speed: f64,
    /// Serve the admin listener here (Prometheus /metrics, /healthz,
    /// /readyz, /stats, a live dashboard at /, /tail); keep it on loopback
    /// or a private network. Off by default.
    #[arg(long, value_name = "ADDR")]
    admin: Option<std::net::SocketAddr>,
    /// Send each request's id in this response header (e.g. `cf-ray`).
    #[arg(long, value_name = "NAME")]
    request_id_header: Option<String>,
    /// On SIGINT/SIGTERM, report not-ready (/readyz 503) and keep serving
    /// this long before the listeners close, in ms.
    #[arg(long, default_value_t = 0)]
    drain_delay_ms: u64,
    /// In-flight requests get this long to finish on shutdown before their
    /// connections are closed, in ms.
    #[arg(long, default_value_t = 30_000)]
    drain_timeout_ms: u64,
    #[command(flatten)]
    ws: WsArgs,
    #[command(flatten)]
    outbound: OutboundArgs,
    #[command(flatten)]
    actors: ActorArgs,
}

/// Actors (Durable Objects): bindings, storage, eviction and hibernation.
#[derive(Debug, clap::Args)]
struct ActorArgs {
    /// Bind an exported Durable Object class: BINDING=Class (repeatable;
    /// adds to wrangler.toml's `[[durable_objects.bindings]]`).
    #[arg(long = "actor", value_name = "BINDING=CLASS")]
    actors: Vec<String>,
    /// Where actors' SQLite databases live (`memory`: in memory, lost on
    /// eviction). Default: `.ringworker/state` beside wrangler.toml or the script.
    #[arg(long)]
    actor_storage: Option<String>,
    /// Make every storage write survive power loss (`synchronous=FULL`), not
    /// only a killed process.
    #[arg(long)]
    actor_durable_full: bool,
    /// An idle actor is evicted after a window drawn from MIN-MAX ms.
    #[arg(long, default_value = "70000-140000", value_name = "MIN-MAX")]
    actor_evict_ms: String,
    /// An idle actor with only hibernatable WebSockets hibernates after this, in ms.
    #[arg(long, default_value_t = 10_000)]
    hibernate_after_ms: u64,
    /// A failed alarm() is retried after this (doubling each time), in ms.
    #[arg(long, default_value_t = 2_000)]
    alarm_retry_ms: u64,
}

impl ActorArgs {
    fn options(
        &self,
        mut bindings: Vec<ActorBinding>,
        base: &Path,
    ) -> anyhow::Result<ringworker::ActorOptions> {
        for a in &self.actors {
            let Some((binding, class)) = a.split_once('=') else {
                bail!("--actor {a}: expected BINDING=CLASS");
            };
            bindings.retain(|b| b.binding != binding);
            bindings.push(ActorBinding {
                binding: binding.to_string(),
                class: class.to_string(),
            });
        }
        let (lo, hi) = match self.actor_evict_ms.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u64>()?, b.trim().parse::<u64>()?),
            None => {
                let v = self.actor_evict_ms.trim().parse::<u64>()?;
                (v, v)
            }
        };
        if hi < lo {
            bail!("--actor-evict-ms {}: MAX is below MIN", self.actor_evict_ms);
        }
        let storage_dir = match self.actor_storage.as_deref() {
            Some("memory") => None,
            Some(dir) => Some(PathBuf::from(dir)),
            None => Some(base.join(".ringworker").join("state")),
        };
        Ok(ringworker::ActorOptions {
            bindings,
            storage_dir,
            durable_full: self.actor_durable_full,
            evict_after: (Duration::from_millis(lo), Duration::from_millis(hi)),
            hibernate_after: Duration::from_millis(self.hibernate_after_ms),
            alarm_retry_base: Duration::from_millis(self.alarm_retry_ms),
            ..ringworker::ActorOptions::default()
        })
    }
}

/// Outbound connections made by scripts: fetch(), WebSockets, connect().
#[derive(Debug, clap::Args)]
struct OutboundArgs {
    /// A TCP connect plus TLS handshake must finish within this long, in ms.
    #[arg(long, default_value_t = 10_000)]
    connect_timeout_ms: u64,
    /// A whole fetch() (head and body) must end within this long, in ms (0: no limit).
    #[arg(long, default_value_t = 0)]
    fetch_timeout_ms: u64,
    /// Idle keep-alive connections kept per upstream origin.
    #[arg(long, default_value_t = 256)]
    pool_max_idle: usize,
    /// An idle pooled connection is closed after this long, in ms.
    #[arg(long, default_value_t = 30_000)]
    pool_idle_timeout_ms: u64,
    /// Most subrequests (fetch, outbound WebSockets, connect) per incoming request.
    #[arg(long, default_value_t = 1000)]
    subrequest_limit: usize,
    /// A PEM file of extra CA certificates trusted for https:// and wss:// (besides the webpki roots).
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Longest an outbound WebSocket or TCP socket keeps its owner resident, in ms.
    #[arg(long, default_value_t = 15 * 60 * 1000)]
    keepalive_cap_ms: u64,
}

impl OutboundArgs {
    fn config(&self) -> ringworker::OutboundConfig {
        let ms = std::time::Duration::from_millis;
        ringworker::OutboundConfig {
            connect_timeout: ms(self.connect_timeout_ms),
            total_timeout: (self.fetch_timeout_ms > 0).then(|| ms(self.fetch_timeout_ms)),
            max_idle_per_origin: self.pool_max_idle,
            pool_idle_timeout: ms(self.pool_idle_timeout_ms),
            subrequest_limit: self.subrequest_limit,
            extra_ca_file: self.ca_file.clone(),
            keepalive_cap: ms(self.keepalive_cap_ms),
            ..ringworker::OutboundConfig::default()
        }
    }
}

/// WebSocket limits and timers.
#[derive(Debug, clap::Args)]
struct WsArgs {
    /// Largest WebSocket message (all fragments), in bytes; over it: close 1009.
    #[arg(long, default_value_t = 1 << 20)]
    ws_max_message_bytes: usize,
    /// Ping a WebSocket peer after this long without hearing from it, in ms (0: never).
    #[arg(long, default_value_t = 30_000)]
    ws_ping_interval_ms: u64,
    /// A pinged peer that stays silent this long is dropped (close 1006), in ms.
    #[arg(long, default_value_t = 10_000)]
    ws_pong_timeout_ms: u64,
    /// Close a WebSocket with 1001 after this long without a message either way, in ms (0: never).
    #[arg(long, default_value_t = 0)]
    ws_idle_timeout_ms: u64,
    /// How long to wait for the peer's close frame after sending ours, in ms.
    #[arg(long, default_value_t = 5_000)]
    ws_close_timeout_ms: u64,
    /// Most open WebSockets per client address on a shard (0: no limit).
    #[arg(long, default_value_t = 0)]
    ws_max_per_ip: usize,
    /// Over --ws-max-per-ip: `reject` (HTTP 429) or `close` (upgrade, then close 1013).
    #[arg(long, default_value = "reject", value_parser = ["reject", "close"])]
    ws_over_ip_limit: String,
    /// Bytes a script may queue for a peer that does not read before the socket is closed (1008).
    #[arg(long, default_value_t = 16 << 20)]
    ws_max_buffered_bytes: usize,
}

impl WsArgs {
    fn config(&self) -> ringworker::WsConfig {
        let ms = std::time::Duration::from_millis;
        let nonzero = |v: u64| (v > 0).then(|| ms(v));
        ringworker::WsConfig {
            max_message_bytes: self.ws_max_message_bytes,
            ping_interval: nonzero(self.ws_ping_interval_ms),
            pong_timeout: ms(self.ws_pong_timeout_ms),
            idle_timeout: nonzero(self.ws_idle_timeout_ms),
            close_timeout: ms(self.ws_close_timeout_ms),
            max_per_ip: (self.ws_max_per_ip > 0).then_some(self.ws_max_per_ip),
            over_ip_limit: if self.ws_over_ip_limit == "close" {
                ringworker::OverIpLimit::CloseTryAgain
            } else {
                ringworker::OverIpLimit::Reject
            },
            max_buffered_bytes: self.ws_max_buffered_bytes,
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut project = match &args.config {
        Some(p) => Project::read(p)?,
        None => Project::default(),
    };
    let base = match (&args.config, &args.script) {
        (Some(c), _) => c.parent().unwrap_or(Path::new(".")).to_path_buf(),
        (None, Some(s)) => s.parent().unwrap_or(Path::new(".")).to_path_buf(),
        (None, None) => PathBuf::from("."),
    };
    let actors = args
        .actors
        .options(std::mem::take(&mut project.actors), &base)?;
    let Some(main) = args.script.clone().or(project.main) else {
        bail!("no script: pass a path, or --config with a wrangler.toml that sets `main`");
    };
    let mut vars = project.vars;
    for v in &args.vars {
        let Some((k, val)) = v.split_once('=') else {
            bail!("--var {v}: expected NAME=VALUE");
        };
        vars.retain(|(name, _)| name != k);
        vars.push((k.to_string(), val.to_string()));
    }
    let mut options = WorkerOptions::new(main);
    options.name = project.name;
    options.vars = vars;
    options.cpu_limit = std::time::Duration::from_millis(args.cpu_limit_ms);
    options.heap_limit = args.heap_limit_mb << 20;
    options.cpu_profile = args.cpu_profile.clone();
    options.actors = actors;
    options.idle_gc_after = std::time::Duration::from_millis(args.idle_gc_ms);
    options.crons = project.crons;
    options.compat_flags = project.compat_flags;
    options
        .compat_flags
        .extend(args.compat_flags.iter().cloned());
    options.cache.budget_bytes = args.cache_mb << 20;
    options.cache.max_entry_bytes = args.cache_max_entry_mb << 20;
    options.cache.disk = args
        .cache_dir
        .as_ref()
        .map(|d| ringworker_isolate::CacheDir::new(d, args.cache_dir_mb << 20));
    options.test_scheduled = args.test_scheduled;
    options.cron_clock = ringworker_isolate::CronClock {
        start_ms: args.cron_start_ms,
        speed: args.cron_speed,
    };
    options.form_data_limit = args.form_data_max_kb << 10;

    // A script that does not load fails every shard's start, and
    // serve_worker returns its error (file, line and column) before serving.
    let mut config = Config::new(args.listen);
    if let Some(n) = args.shards {
        config.shards = n;
    }
    config.pin_shards = !args.no_pin;
    config.timeouts.cancel_grace = std::time::Duration::from_millis(args.cancel_grace_ms);
    config.ws = args.ws.config();
    config.outbound = args.outbound.config();
    config.idle_ring_wait = std::time::Duration::from_micros(args.idle_ring_wait_us);
    config.admin = args.admin.map(ringworker::AdminConfig::new);
    config.request_id_header = args.request_id_header.clone();
    if let Some(name) = &config.request_id_header {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            bail!(
                "--request-id-header {name:?}: expected a header name (letters, digits, - and _)"
            );
        }
    }
    config.timeouts.drain_delay = Duration::from_millis(args.drain_delay_ms);
    config.timeouts.drain = Duration::from_millis(args.drain_timeout_ms);
    let server = ringworker::serve_worker(config, options)?;
    eprintln!(
        "ringworker: serving on http://{} with {} shards",
        server.local_addr(),
        server.shards()
    );
    if let Some(admin) = server.admin_addr() {
        eprintln!(
            "ringworker: admin listener on http://{admin}/ (/metrics, /healthz, /readyz, /stats, /tail)"
        );
    }
    server.run_until_signal_with_stats(args.stats_out)?;
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    ringworker::init_logging_as(if cli.log_format == "json" {
        ringworker::LogFormat::Json
    } else {
        ringworker::LogFormat::Text
    });
    let result = match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Tail(args) => tail::run(args),
        Command::Perf { args } => perf(args),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
