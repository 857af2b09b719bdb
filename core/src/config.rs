//! [`Config`]: everything a server's shards are started with.
//!
//! Every timed behaviour is a field here so tests can run in milliseconds.

use std::net::SocketAddr;
use std::time::Duration;

/// Size limits on what a client may send.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Largest request head (request line + headers), in bytes. Over it: 431.
    pub max_head_bytes: usize,
    /// Most header lines in one request. Over it: 431.
    pub max_headers: usize,
    /// Longest request target, in bytes. Over it: 414.
    pub max_uri_bytes: usize,
    /// Largest request body, in bytes; `None` for no limit. Over it: 413.
    pub max_body_bytes: Option<u64>,
    /// Most pipelined requests parsed ahead of the one being answered.
    pub max_pipeline_depth: usize,
    /// How many unread request-body bytes are drained after a response so the
    /// connection can be reused; a larger remainder closes the connection.
    pub max_drain_bytes: u64,
    /// Most connections one shard holds open; further accepts wait.
    pub max_connections_per_shard: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_head_bytes: 16 * 1024,
            max_headers: 100,
            max_uri_bytes: 8 * 1024,
            max_body_bytes: Some(100 * 1024 * 1024),
            max_pipeline_depth: 16,
            max_drain_bytes: 256 * 1024,
            max_connections_per_shard: 100_000,
        }
    }
}

/// Every duration the server enforces.
#[derive(Debug, Clone)]
pub struct Timeouts {
    /// A request head must be complete within this long of its first byte
    /// (and a new connection must send one within it). Over it: 408 (slowloris).
    pub header_read: Duration,
    /// An idle keep-alive connection is closed quietly after this long.
    pub keepalive_idle: Duration,
    /// A request body that stalls for this long fails with 408.
    pub body_read: Duration,
    /// A response write that makes no progress for this long closes the connection.
    pub write_stall: Duration,
    /// After a request's client goes away, its handler keeps running this
    /// long (to notice the cancel flag and clean up) before it is dropped.
    pub cancel_grace: Duration,
    /// On shutdown, in-flight requests get this long to finish before their
    /// connections are closed.
    pub drain: Duration,
    /// On a graceful shutdown (`Server::run_until_signal`), how long the
    /// server keeps serving while it already reports not-ready (the admin
    /// listener's `/readyz` answers 503), so load balancers stop sending
    /// before the listeners close. Default zero.
    pub drain_delay: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            keepalive_idle: Duration::from_secs(75),
            body_read: Duration::from_secs(30),
            write_stall: Duration::from_secs(60),
            cancel_grace: Duration::from_millis(100),
            drain: Duration::from_secs(30),
            drain_delay: Duration::ZERO,
        }
    }
}

/// What happens to a WebSocket upgrade from an address that already holds
/// [`WsConfig::max_per_ip`] sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverIpLimit {
    /// Refuse the upgrade with `429 Too Many Requests` (the script never runs).
    Reject,
    /// Complete the upgrade, then close at once with 1013 "Try Again Later"
    /// (for clients that surface close codes better than HTTP statuses).
    CloseTryAgain,
}

/// WebSocket limits and timers.
#[derive(Debug, Clone)]
pub struct WsConfig {
    /// Largest message (all fragments together), in bytes. Over it: close 1009.
    pub max_message_bytes: usize,
    /// After this long without hearing from the peer, the server pings it;
    /// `None` turns the heartbeat off.
    pub ping_interval: Option<Duration>,
    /// A peer that sends nothing (no pong) this long after a ping is dead:
    /// its connection is dropped and the script sees close 1006.
    pub pong_timeout: Duration,
    /// With no message in either direction for this long, the server closes
    /// with 1001 "idle timeout"; `None`: never.
    pub idle_timeout: Option<Duration>,
    /// After a close frame is sent, the peer's has to arrive within this long,
    /// or the connection is dropped (the script sees 1006).
    pub close_timeout: Duration,
    /// Most open WebSockets per client address on a shard; `None`: no limit.
    pub max_per_ip: Option<usize>,
    /// What an upgrade over `max_per_ip` gets.
    pub over_ip_limit: OverIpLimit,
    /// Bytes the script may queue for a peer that does not read before the
    /// socket is closed with 1008; past half of it the server stops reading
    /// the peer's messages (so an echo cannot outrun a slow reader).
    pub max_buffered_bytes: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 1 << 20,
            ping_interval: Some(Duration::from_secs(30)),
            pong_timeout: Duration::from_secs(10),
            idle_timeout: None,
            close_timeout: Duration::from_secs(5),
            max_per_ip: None,
            over_ip_limit: OverIpLimit::Reject,
            max_buffered_bytes: 16 << 20,
        }
    }
}

/// Outbound connections made by scripts: `fetch()`, outbound WebSockets and
/// TCP sockets (`connect()`), and the keepalive tokens they hold.
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    /// A TCP connect (plus TLS handshake) must finish within this long.
    pub connect_timeout: Duration,
    /// A whole `fetch()` (connect, request, response head and body) must end
    /// within this long; `None`: no limit (as in Workers).
    pub total_timeout: Option<Duration>,
    /// Idle keep-alive connections kept per origin (scheme, host, port).
    /// It must cover the subrequests in flight to one origin at once, or
    /// each burst opens new connections (measured: 32 at 64 in flight made
    /// 294 connects per 1,000 fetches; `bench/RESULTS.md` §6).
    pub max_idle_per_origin: usize,
    /// An idle pooled connection is closed after this long.
    pub pool_idle_timeout: Duration,
    /// Largest upstream response head, in bytes; over it the fetch fails.
    pub max_response_head_bytes: usize,
    /// Most subrequests (`fetch()`, outbound WebSockets, `connect()`) one
    /// incoming request may make.
    pub subrequest_limit: usize,
    /// A PEM file of extra CA certificates trusted for `https://`/`wss://`
    /// besides the webpki roots (e.g. a local test CA).
    pub extra_ca_file: Option<std::path::PathBuf>,
    /// Longest an outbound WebSocket or TCP socket pins its owner (a
    /// keepalive token); after it the connection keeps working but no
    /// longer keeps its owner resident.
    pub keepalive_cap: Duration,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            total_timeout: None,
            max_idle_per_origin: 256,
            pool_idle_timeout: Duration::from_secs(30),
            max_response_head_bytes: 64 * 1024,
            subrequest_limit: 1000,
            extra_ca_file: None,
            keepalive_cap: Duration::from_secs(15 * 60),
        }
    }
}

/// The admin listener: where, and how much a tail client may lag.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Address every shard's admin listener binds (with `SO_REUSEPORT`);
    /// keep it on loopback or a private network.
    pub listen: SocketAddr,
    /// Events queued for one tail client across all shards; a shard that
    /// finds the queue full drops the client (it never waits for it).
    pub tail_queue: usize,
    /// Bytes of events waiting to be sent to one tail client (a client that
    /// does not read); over it the client is dropped (close 1008).
    pub tail_max_buffered_bytes: usize,
}

impl AdminConfig {
    /// An admin listener on `listen` with default limits (4,096 queued
    /// events, 1 MiB unsent).
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            tail_queue: 4096,
            tail_max_buffered_bytes: 1 << 20,
        }
    }
}

/// A server's configuration, shared read-only by all its shards.
///
/// ```
/// use std::time::Duration;
/// use ringworker_core::Config;
/// let mut cfg = Config::new("127.0.0.1:0".parse().unwrap());
/// cfg.shards = 2;
/// cfg.timeouts.header_read = Duration::from_millis(50);
/// assert_eq!(cfg.limits.max_headers, 100);
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    /// Address every shard's listener binds (with `SO_REUSEPORT`).
    pub listen: SocketAddr,
    /// Number of shards (threads); defaults to the CPUs the process may run
    /// on ([`cpus::allowed_cpus`](crate::cpus::allowed_cpus)).
    pub shards: usize,
    /// Pin shard N to the N-th CPU the process may run on (more shards than
    /// those CPUs fails at launch); false: shards run unpinned.
    pub pin_shards: bool,
    /// Listen backlog per shard.
    pub backlog: i32,
    /// Pinned I/O memory per shard for glommio's rings, in bytes. The memlock
    /// limit (`ulimit -l`) must cover `shards * io_memory`.
    pub io_memory: usize,
    /// io_uring submission depth per ring.
    pub ring_depth: usize,
    /// Whether a client's FIN while a request is in flight is treated as a
    /// half-close (keep answering) rather than a disconnect (cancel it).
    pub allow_half_close: bool,
    /// Size limits.
    pub limits: HttpLimits,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// WebSocket limits and timers.
    pub ws: WsConfig,
    /// Outbound connections from scripts.
    pub outbound: OutboundConfig,
    /// When a shard runs out of work, it first waits this long for network
    /// events in its own io_uring before parking in glommio. An event that
    /// comes within it is taken at once, without glommio's park and wake-up
    /// (its timer re-arms, ring flushes and eventfd read): lower latency and
    /// CPU per event on a shard that is idle between events. Script timers
    /// are completions of that ring, so they end the wait; glommio's timers and
    /// cross-shard messages may wait up to this long (the shard parks in
    /// glommio at least once per this long). It is used only while
    /// the shard's idle gaps are typically over 20 µs (a busy shard's
    /// events come too close together for a sleep here to pay). Default
    /// 2 ms; zero: park at once. Measured (`bench/RESULTS.md` §3b): a
    /// keep-alive hello over one connection spends half the CPU per request,
    /// the disconnect cycle ~20 % less, a busy shard the same.
    pub idle_ring_wait: Duration,
    /// A second listener for operators (metrics, health, stats, the live
    /// page, tail clients), served by the shards beside the main one; `None`
    /// (the default): no admin listener.
    pub admin: Option<AdminConfig>,
    /// Every response gets this header with its request's id (as `cf-ray`
    /// does); `None` (the default): no such header.
    pub request_id_header: Option<String>,
}

impl Config {
    /// A configuration with defaults, listening on `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            shards: crate::cpus::default_shards(),
            pin_shards: true,
            backlog: 4096,
            io_memory: 512 * 1024,
            ring_depth: 256,
            allow_half_close: false,
            limits: HttpLimits::default(),
            timeouts: Timeouts::default(),
            ws: WsConfig::default(),
            outbound: OutboundConfig::default(),
            idle_ring_wait: Duration::from_millis(2),
            admin: None,
            request_id_header: None,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::new(SocketAddr::from(([127, 0, 0, 1], 8080)))
    }
}
