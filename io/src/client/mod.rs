//! The outbound HTTP/1.1 client behind scripts' `fetch()`, and the
//! connections outbound WebSockets and raw TCP sockets use.
//!
//! One [`Client`] per shard, on the shard's [`NetRing`]: connections are
//! ring sockets ([`Conn`], plain or TLS), names are resolved off the shard
//! thread ([`dns`]), and idle keep-alive connections wait in a per-origin
//! pool that drops them the moment the server closes them.
//!
//! [`Client::send`] makes one hop (no redirects) and resolves with the
//! response head; the body streams as its consumer reads it. Each exchange
//! runs as its own task that owns its connection, so finishing, cancelling
//! or failing one never touches another: dropping a response body before
//! its end closes that connection at once (a downstream disconnect reaches
//! the upstream within a driver round), and the request's [`CancelFlag`]
//! and the configured total timeout end that exchange alone.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ringworker_io::client::{Client, OutboundBody, OutboundRequest};
//! let client = Client::current()?; // the shard's, on its network ring
//! let resp = client
//!     .send(OutboundRequest {
//!         method: "GET".into(),
//!         url: "http://127.0.0.1:8080/".parse()?,
//!         headers: vec![],
//!         body: OutboundBody::Empty,
//!         cancel: None,
//!     })
//!     .await?;
//! let body = resp.body.collect(1 << 20).await?;
//! # let _ = body; Ok(()) }
//! ```

pub mod conn;
pub mod dns;
mod http;
mod pool;
mod tls;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use ringworker_core::{CancelFlag, OutboundConfig};

pub use conn::Conn;
pub use dns::DnsError;

use crate::http::{Body, BodyError};
use crate::uring::NetRing;

/// An outbound request: one hop.
pub struct OutboundRequest {
    /// The method, e.g. `GET` (a token).
    pub method: String,
    /// `http` or `https`; anything else fails with [`FetchError::Unsupported`].
    pub url: url::Url,
    /// Header fields to send, in order. `Host` is added unless given;
    /// `Content-Length`/`Transfer-Encoding` are set from the body (given
    /// ones are dropped); `Connection: close` is honoured.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: OutboundBody,
    /// Cancelling it aborts the exchange: the connection is closed, the
    /// pending `send` fails with [`FetchError::Aborted`], a streaming
    /// response body with a [`BodyError`].
    pub cancel: Option<CancelFlag>,
}

impl fmt::Debug for OutboundRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundRequest")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("headers", &self.headers)
            .field("body", &self.body)
            .finish()
    }
}

/// An outbound request body.
pub enum OutboundBody {
    /// No body.
    Empty,
    /// The whole body at once (sent from its own buffer; replayable, so a
    /// request on a stale pooled connection can be retried).
    Full(Bytes),
    /// Chunks as a stream yields them, sent with backpressure: the next
    /// chunk is pulled once the previous ones are (mostly) sent.
    /// `length: None` sends it chunked.
    Stream {
        /// The body's length, if known (sent as `Content-Length`; the stream
        /// must yield exactly that many bytes).
        length: Option<u64>,
        /// The chunks.
        stream: Pin<Box<dyn futures_lite::Stream<Item = Result<Bytes, BodyError>>>>,
    },
}

impl fmt::Debug for OutboundBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("Empty"),
            Self::Full(b) => f.debug_tuple("Full").field(&b.len()).finish(),
            Self::Stream { length, .. } => {
                f.debug_struct("Stream").field("length", length).finish()
            }
        }
    }
}

/// A response: its head, and its body streaming as the consumer reads it.
#[derive(Debug)]
pub struct OutboundResponse {
    /// The status code.
    pub status: u16,
    /// The reason phrase as received.
    pub reason: String,
    /// Header fields as received (names as the server sent them).
    pub headers: Vec<(String, String)>,
    /// The body; [`Body::empty`] when there is none (HEAD, 204, 304,
    /// `Content-Length: 0`, and 101, whose connection [`Client::upgrade`]
    /// hands over instead). Dropping it before its end closes the connection.
    pub body: Body,
    /// Whether the request went on a pooled keep-alive connection.
    pub conn_reused: bool,
}

/// The head of a response to [`Client::upgrade`].
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// The status code (101 when the server switched protocols).
    pub status: u16,
    /// The reason phrase as received.
    pub reason: String,
    /// Header fields as received.
    pub headers: Vec<(String, String)>,
}

impl ResponseHead {
    /// The first value of `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a fetch failed. The messages are what a script's `TypeError` says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Not an `http:` or `https:` URL.
    #[error("fetch failed: unsupported URL scheme {0:?} (only http and https)")]
    Unsupported(String),
    /// A method, URL or header that cannot be sent.
    #[error("fetch failed: invalid request: {0}")]
    InvalidRequest(String),
    /// The name did not resolve.
    #[error("fetch failed: {0}")]
    Dns(DnsError),
    /// Nothing listens there.
    #[error("fetch failed: connection refused to {0}")]
    Refused(SocketAddr),
    /// The connect failed otherwise (unreachable, ...).
    #[error("fetch failed: cannot connect to {addr}: {reason}")]
    Connect {
        /// The address tried.
        addr: SocketAddr,
        /// The system's reason.
        reason: String,
    },
    /// Connect plus TLS handshake took longer than `connect_timeout`.
    #[error("fetch failed: connect timeout to {addr} after {after:?}")]
    ConnectTimeout {
        /// The address (or name) tried.
        addr: String,
        /// The configured timeout.
        after: Duration,
    },
    /// The TLS handshake failed (e.g. an untrusted certificate).
    #[error("fetch failed: TLS handshake with {addr} failed: {reason}")]
    Tls {
        /// The server's address.
        addr: String,
        /// rustls's reason.
        reason: String,
    },
    /// The response head is larger than `max_response_head_bytes`.
    #[error("fetch failed: upstream response head exceeds {0} bytes")]
    HeadTooLarge(usize),
    /// The response could not be parsed.
    #[error("fetch failed: malformed response from {origin}: {reason}")]
    Malformed {
        /// `scheme://host:port`.
        origin: String,
        /// What was wrong.
        reason: String,
    },
    /// The connection ended before a complete response head.
    #[error("fetch failed: {origin} closed the connection before the response ({reason})")]
    Closed {
        /// `scheme://host:port`.
        origin: String,
        /// How it ended.
        reason: String,
    },
    /// The request body's stream failed.
    #[error("fetch failed: request body: {0}")]
    RequestBody(BodyError),
    /// The request's cancel flag was set.
    #[error("The operation was aborted")]
    Aborted,
    /// The exchange took longer than `total_timeout`.
    #[error("fetch failed: timed out after {0:?}")]
    Timeout(Duration),
    /// Another I/O failure.
    #[error("fetch failed: {0}")]
    Io(String),
}

/// Why a [`Client`] could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// No network ring runs on this thread (not on a shard).
    #[error("no network ring on this thread (outbound connections need a shard)")]
    NoRing,
    /// The extra CA file could not be used.
    #[error("cannot use the extra CA file {path}: {reason}")]
    CaFile {
        /// The configured path.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Tls(String),
}

/// Counters of a [`Client`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Connections opened (TCP connects that succeeded).
    pub connects: u64,
    /// Requests sent on a pooled connection.
    pub reuses: u64,
    /// Requests retried on a fresh connection after a stale pooled one failed.
    pub retries: u64,
    /// Idle connections in the pool now.
    pub idle: usize,
    /// System name lookups (`getaddrinfo`) made: cached answers and requests
    /// that joined a lookup in flight are not counted.
    pub dns_lookups: u64,
}

thread_local! {
    /// The outbound configuration for clients made by [`Client::current`].
    static CONFIG: RefCell<Option<Rc<OutboundConfig>>> = const { RefCell::new(None) };
}

/// A shard's outbound HTTP/1.1 client (shard-local; `Rc`).
pub struct Client {
    ring: Rc<NetRing>,
    cfg: Rc<OutboundConfig>,
    tls: tls::TlsConfigs,
    resolver: dns::Resolver,
    pool: pool::Pool,
    connects: Cell<u64>,
    reuses: Cell<u64>,
    retries: Cell<u64>,
    /// The shard's metrics, which export these counters too.
    metrics: Option<Rc<ringworker_core::ShardMetrics>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Client {
    /// A client on `ring` with `cfg`: loads the TLS roots (webpki plus
    /// `cfg.extra_ca_file`) and builds the TLS configuration once.
    ///
    /// # Errors
    /// [`ClientError::CaFile`] if the extra CA file cannot be read or holds
    /// no certificate.
    pub fn new(ring: Rc<NetRing>, cfg: &OutboundConfig) -> Result<Rc<Client>, ClientError> {
        let tls = tls::TlsConfigs::load(cfg.extra_ca_file.as_deref())?;
        Ok(Rc::new(Client {
            ring,
            pool: pool::Pool::new(cfg.max_idle_per_origin, cfg.pool_idle_timeout),
            cfg: Rc::new(cfg.clone()),
            tls,
            resolver: dns::Resolver::default(),
            metrics: ringworker_core::ShardMetrics::current(),
            connects: Cell::new(0),
            reuses: Cell::new(0),
            retries: Cell::new(0),
        }))
    }

    /// Sets the configuration of the clients [`Client::current`] makes on
    /// this thread; a client made with an earlier one is replaced (its idle
    /// connections closed) at the next `current()`.
    pub fn install_config(cfg: OutboundConfig) {
        CONFIG.with(|c| *c.borrow_mut() = Some(Rc::new(cfg)));
        if let Some(ring) = NetRing::current() {
            drop(ring.take_local::<Client>());
        }
    }

    /// The configuration installed on this thread (the default if none was).
    pub fn config() -> Rc<OutboundConfig> {
        CONFIG.with(|c| c.borrow_mut().get_or_insert_with(Default::default).clone())
    }

    /// The shard's client: made on first use from [`NetRing::current`] and
    /// the [installed](Self::install_config) configuration, and kept with the
    /// ring (dropped when it stops).
    ///
    /// # Errors
    /// [`ClientError::NoRing`] off a shard; [`ClientError::CaFile`] as in
    /// [`Client::new`].
    pub fn current() -> Result<Rc<Client>, ClientError> {
        let ring = NetRing::current().ok_or(ClientError::NoRing)?;
        if let Some(c) = ring.local::<Client>() {
            return Ok(c);
        }
        let client = Client::new(ring.clone(), &Self::config())?;
        ring.set_local(client.clone());
        Ok(client)
    }

    /// This client's configuration.
    pub fn outbound_config(&self) -> &OutboundConfig {
        &self.cfg
    }

    /// Connections opened and reused, retries, and idle connections now.
    pub fn stats(&self) -> ClientStats {
        ClientStats {
            connects: self.connects.get(),
            reuses: self.reuses.get(),
            retries: self.retries.get(),
            idle: self.pool.idle_count(),
            dns_lookups: self.resolver.lookups(),
        }
    }

    /// Sends one request (one hop: redirects are the caller's) and resolves
    /// with the response once its head arrived; the body streams after.
    ///
    /// # Errors
    /// See [`FetchError`]: the request, the connect, the head, a cancel or
    /// the total timeout.
    ///
    /// # Cancel safety
    /// Dropping the future before it resolves aborts the exchange and
    /// closes its connection.
    pub async fn send(
        self: &Rc<Self>,
        req: OutboundRequest,
    ) -> Result<OutboundResponse, FetchError> {
        self.count(|c| c.requests += 1);
        let r = http::send(self, req).await;
        if r.is_err() {
            self.count(|c| c.failed += 1);
        }
        r
    }

    /// Updates the shard's outbound counters (when on a shard).
    pub(crate) fn count(&self, f: impl FnOnce(&mut ringworker_core::OutboundCounters)) {
        if let Some(m) = &self.metrics {
            m.count_outbound(f);
        }
    }

    /// Sends an upgrade request (e.g. a WebSocket handshake) on a new
    /// connection and hands the connection over with the response head;
    /// bytes the server sent after the head are left in its
    /// [`rbuf`](Conn::rbuf). Check `head.status` (101 when it switched).
    ///
    /// # Errors
    /// As [`send`](Self::send); a streaming body is refused.
    pub async fn upgrade(
        self: &Rc<Self>,
        req: OutboundRequest,
    ) -> Result<(ResponseHead, Conn), FetchError> {
        http::upgrade(self, req).await
    }

    /// Opens a raw TCP connection (TLS if `tls`, with no ALPN) to
    /// `host:port`, within the connect timeout: `cloudflare:sockets`'s
    /// `connect()`. [`Conn::start_tls`] upgrades a plain one later.
    ///
    /// # Errors
    /// DNS, connect, TLS and timeout errors as [`FetchError`]s.
    pub async fn connect(&self, host: &str, port: u16, tls: bool) -> Result<Conn, FetchError> {
        let target = conn::Target {
            host,
            port,
            tls: tls.then_some(&self.tls.raw),
        };
        let c = conn::connect(
            &self.ring,
            &self.resolver,
            target,
            &self.tls.raw,
            self.cfg.connect_timeout,
        )
        .await?;
        self.connects.set(self.connects.get() + 1);
        self.count(|c| c.connects += 1);
        Ok(c)
    }
}
