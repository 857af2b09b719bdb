//! # ringworker
//!
//! A JavaScript edge-runtime core in Rust: thread-per-core shards, each
//! driving its own io_uring (glommio), serving HTTP/1.1 with streaming bodies.
//! This crate is the embedding API; the `ringworker` binary is built on it.
//!
//! ## Embedding
//!
//! A [`Handler`] answers requests on one shard. It is built by a factory on
//! each shard, so it need not be `Send` (it may hold `Rc`s, caches, an
//! isolate). [`serve`] binds one `SO_REUSEPORT` listener per shard and starts
//! the shards; the returned [`Server`] reads metrics, shuts down and joins.
//!
//! ```no_run
//! use ringworker::{Config, Request, Response};
//!
//! let mut config = Config::new("127.0.0.1:8080".parse().unwrap());
//! config.shards = 2;
//! let server = ringworker::serve(config, |_shard| {
//!     |req: Request| async move {
//!         Response::text(200, format!("Hello from {}", req.path()))
//!     }
//! })
//! .unwrap();
//! println!("listening on {}", server.local_addr());
//! server.run_until_signal().unwrap(); // SIGINT/SIGTERM -> graceful shutdown
//! ```
//!
//! ## Guarantees
//!
//! - Requests on one connection are answered in order (pipelining).
//! - A request body is read from the socket only as fast as the handler reads
//!   it; a response body is produced only as fast as the client takes it.
//! - When a client closes or resets its connection while a request is in
//!   flight, the request's [`CancelFlag`] is set as soon as the shard sees the
//!   FIN/RST (a read is kept pending for this), not on the next write.
//! - A panic in a handler answers 500 and leaves the shard serving.
//!
//! ## WebSockets
//!
//! A handler accepts a WebSocket handshake by returning
//! [`Response::websocket`] with a [`ws::WebSocket`] it keeps a clone of; the
//! server validates the handshake before the handler runs, answers pings,
//! runs the heartbeat and idle timers of [`WsConfig`] and sends 1001 on
//! shutdown. See `examples/ws-echo.rs`.
//!
//! ## Operating it
//!
//! With [`Config::admin`] set, every shard also serves the [`admin`]
//! listener: Prometheus metrics, health and readiness probes, the stats as
//! JSON, a live dashboard and a WebSocket of finished requests (`tail`).
#![warn(missing_docs, missing_debug_implementations)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod admin;
pub mod wrangler;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use ringworker_core::keepalive::{KeepaliveTotals, OwnerStats};
pub use ringworker_core::{
    ActorCounters, AdminConfig, CancelFlag, CancelReason, Config, DormantCounters, HttpLimits,
    OutboundConfig, Outcome, OverIpLimit, Readiness, RequestId, ShardController, ShardId,
    ShardStats, TailFilter, Timeouts, WsConfig,
};
pub use ringworker_io::client;
pub use ringworker_io::http::response::ReceiverGone;
pub use ringworker_io::ws;
pub use ringworker_io::{Body, BodyError, BodySender, Handler, Request, Response, ResponseBody};
pub use ringworker_isolate::{ActorBinding, ActorOptions, JsHandler, WorkerOptions};

use ringworker_core::{ShardError, ShardSet};

/// Why a server could not start or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Binding the listen address failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A shard failed.
    #[error(transparent)]
    Shard(#[from] ShardError),
    /// Installing the signal handler failed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// The Cache API's directory (`--cache-dir`) cannot be used.
    #[error(transparent)]
    CacheDir(#[from] ringworker_isolate::CacheDirError),
}

/// A running server: its shards, seen from outside.
#[derive(Debug)]
pub struct Server {
    shards: ShardSet,
    local_addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    started: Instant,
    drain_delay: std::time::Duration,
}

/// Starts `config.shards` shards serving HTTP/1.1 on `config.listen`, each
/// with a handler built by `factory(shard)` on that shard.
///
/// Returns once every shard accepts connections.
pub fn serve<F, H>(config: Config, factory: F) -> Result<Server, Error>
where
    F: Fn(ShardId) -> H + Send + Sync + Clone + 'static,
    H: Handler,
{
    try_serve(config, move |shard| {
        Ok::<H, std::convert::Infallible>(factory(shard))
    })
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event (time, level, target, fields).
    #[default]
    Text,
    /// One JSON object per event (`tracing-subscriber`'s format: `timestamp`,
    /// `level`, `target`, `fields` with `message`, `shard`, `request_id`...).
    Json,
}

/// Logs to stderr through `tracing` as text, filtered by `RUST_LOG`
/// (default `info`).
pub fn init_logging() {
    init_logging_as(LogFormat::Text);
}

/// Logs to stderr through `tracing` in `format`, filtered by `RUST_LOG`
/// (default `info`). Script `console.*` lines are events of target `js`
/// with their `shard`, `worker` and `request_id`.
pub fn init_logging_as(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a terminal: a log file or collector gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The V8 startup snapshot made by this crate's build script (empty if it could
/// not be made there), aligned as V8 reads it.
#[repr(C, align(16))]
struct Aligned<B: ?Sized>(B);
static STARTUP_SNAPSHOT: &Aligned<[u8]> =
    &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/startup.snap")));

/// Hands the startup snapshot made when this crate was built to the isolate
/// layer, so the first isolate of the process does not wait ~30 ms for one to
/// be made. [`serve_worker`] calls it; call it yourself before creating a
/// [`ringworker_isolate::JsRuntime`] directly. Returns whether the snapshot
/// is used (not while `RINGWORKER_V8_FLAGS` is set: see
/// [`ringworker_isolate::use_startup_snapshot`]).
pub fn use_builtin_snapshot() -> bool {
    static USED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *USED.get_or_init(|| ringworker_isolate::use_startup_snapshot(&STARTUP_SNAPSHOT.0))
}

/// Serves a Workers-style script (`export default { fetch }`): one isolate
/// per shard, built from `options` on that shard. The runtime's cancellation
/// grace period is taken from `config.timeouts.cancel_grace`, so the
/// connection and the script agree on when a cancelled request's work ends.
pub fn serve_worker(config: Config, options: WorkerOptions) -> Result<Server, Error> {
    use_builtin_snapshot();
    let mut options = options;
    options.cancel_grace = config.timeouts.cancel_grace;
    options.subrequest_limit = config.outbound.subrequest_limit;
    options.actors.shards = config.shards.max(1);
    if options.actors.shards > 1 && !options.actors.bindings.is_empty() {
        options.actors.mesh = Some(
            ringworker_isolate::ActorMesh::new(options.actors.shards).map_err(|e| {
                Error::Shard(ShardError::Start {
                    shard: ringworker_core::ShardId(0),
                    reason: format!("cannot create the actor mailboxes: {e}"),
                })
            })?,
        );
    }
    options.cache.shards = config.shards.max(1);
    if options.cache.shards > 1 {
        options.cache.mesh = Some(
            ringworker_isolate::CacheMesh::new(options.cache.shards).map_err(|e| {
                Error::Shard(ShardError::Start {
                    shard: ringworker_core::ShardId(0),
                    reason: format!("cannot create the cache mailboxes: {e}"),
                })
            })?,
        );
    }
    if let Some(dir) = options.cache.disk.as_mut() {
        // (Before the shards start: each takes the partition read here.)
        dir.open(options.cache.shards)?;
    }
    try_serve(config, move |shard| {
        let mut o = options.clone();
        o.shard = shard.0;
        JsHandler::start(o)
    })
}

/// Like [`serve`], with a factory that may fail on a shard (a script that does
/// not load, say): then no shard serves and the error is returned.
pub fn try_serve<F, H, E>(config: Config, factory: F) -> Result<Server, Error>
where
    F: Fn(ShardId) -> Result<H, E> + Send + Sync + Clone + 'static,
    H: Handler,
    E: std::fmt::Display,
{
    let started = Instant::now();
    let shards = config.shards.max(1);
    let bind = |addr: SocketAddr| {
        let listeners = ringworker_io::listener::bind_reuseport(addr, shards, config.backlog)
            .map_err(|source| Error::Bind { addr, source })?;
        let local = listeners[0]
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        // Handed out once per shard at start-up; never touched on a request path.
        let slots: Arc<Vec<Mutex<Option<std::net::TcpListener>>>> =
            Arc::new(listeners.into_iter().map(|l| Mutex::new(Some(l))).collect());
        Ok::<_, Error>((slots, local))
    };
    let (listeners, local_addr) = bind(config.listen)?;
    let admin = match &config.admin {
        Some(a) => {
            let (slots, local) = bind(a.listen)?;
            Some((slots, local, a.clone()))
        }
        None => None,
    };
    let admin_addr = admin.as_ref().map(|(_, a, _)| *a);
    let drain_delay = config.timeouts.drain_delay;
    let mut config = config;
    config.shards = shards;
    let shard_set = ShardSet::launch(Arc::new(config), move |ctx| {
        let take = |slots: &Arc<Vec<Mutex<Option<std::net::TcpListener>>>>| {
            slots[ctx.id.0].lock().ok().and_then(|mut l| l.take())
        };
        let listener = take(&listeners);
        let side = admin.as_ref().and_then(|(slots, _, cfg)| {
            Some(ringworker_io::SideListener {
                listener: take(slots)?,
                handler: admin::AdminHandler::new(ctx.controller.clone(), cfg.clone(), started),
            })
        });
        let wants_admin = admin.is_some();
        let handler = factory(ctx.id).map_err(|e| e.to_string());
        async move {
            let listener = listener.ok_or_else(|| ShardError::Start {
                shard: ctx.id,
                reason: "no listener for this shard".into(),
            })?;
            if wants_admin && side.is_none() {
                return Err(ShardError::Start {
                    shard: ctx.id,
                    reason: "no admin listener for this shard".into(),
                });
            }
            let handler = handler.map_err(|reason| ShardError::Start {
                shard: ctx.id,
                reason,
            })?;
            ringworker_io::serve_shard_with(&ctx, listener, handler, side).await
        }
    })?;
    Ok(Server {
        shards: shard_set,
        local_addr,
        admin_addr,
        started,
        drain_delay,
    })
}

impl Server {
    /// The address the shards listen on (with port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of the admin listener, if [`Config::admin`] was set
    /// (with port 0 resolved).
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The stats document of every shard right now: what `GET /stats` on
    /// the admin listener and `--stats-out` give.
    pub fn stats_json(&self) -> String {
        let shards = self.stats();
        let ctl = self.controller();
        admin::StatsDocument::new(&shards, ctl.readiness(), self.started.elapsed()).to_json()
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// A metrics snapshot from every shard (one message each; no lock).
    pub fn stats(&self) -> Vec<ShardStats> {
        self.shards.stats()
    }

    /// A `Send + Clone` handle for stats and shutdown from other threads.
    pub fn controller(&self) -> ShardController {
        self.shards.controller()
    }

    /// Begins graceful shutdown: stop accepting, let in-flight requests finish
    /// within `config.timeouts.drain`, then close. Returns at once.
    pub fn shutdown(&self) {
        self.shards.shutdown();
    }

    /// Waits for every shard to exit.
    pub fn join(self) -> Result<(), Error> {
        Ok(self.shards.join()?)
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully and waits.
    pub fn run_until_signal(self) -> Result<(), Error> {
        self.run_until_signal_with_stats(None)
    }

    /// [`Self::run_until_signal`], and when the signal comes, first writes
    /// every shard's metrics to `stats_out` as JSON (see
    /// [`admin::StatsDocument`]: the same as `GET /stats`) — what `ringworker
    /// perf` reads. SIGUSR1 writes them too and the server goes on (what
    /// `ringworker-bench soak` samples).
    ///
    /// Shutting down, the server first reports not-ready (the admin
    /// listener's `/readyz` answers 503) and keeps serving for
    /// `config.timeouts.drain_delay`, then stops accepting and drains.
    pub fn run_until_signal_with_stats(
        self,
        stats_out: Option<std::path::PathBuf>,
    ) -> Result<(), Error> {
        use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGUSR1])
            .map_err(Error::Signals)?;
        let controller = self.controller();
        let handle = signals.handle();
        let (started, delay) = (self.started, self.drain_delay);
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    if sig != SIGUSR1 {
                        // Not ready from now on: load balancers stop sending
                        // while the listeners still accept.
                        controller.begin_draining();
                    }
                    if let Some(path) = &stats_out {
                        let shards = controller.stats();
                        let doc = admin::StatsDocument::new(
                            &shards,
                            controller.readiness(),
                            started.elapsed(),
                        );
                        // Written whole, then renamed: a reader never sees half.
                        let tmp = path.with_extension("tmp");
                        if let Err(e) = std::fs::write(&tmp, doc.to_json())
                            .and_then(|()| std::fs::rename(&tmp, path))
                        {
                            tracing::error!("cannot write stats to {}: {e}", path.display());
                        }
                    }
                    if sig == SIGUSR1 {
                        continue;
                    }
                    tracing::info!(signal = sig, ?delay, "shutting down");
                    if !delay.is_zero() {
                        std::thread::sleep(delay);
                    }
                    controller.shutdown();
                    break;
                }
            })
            .map_err(Error::Signals)?;
        let r = self.join();
        handle.close();
        r
    }
}
