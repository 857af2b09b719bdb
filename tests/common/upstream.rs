//! Real upstream servers for the outbound end-to-end tests (`fetch()`,
//! outbound WebSockets, TCP `connect()`): an HTTP/1.1 server, a WebSocket
//! echo server and a TCP echo server with STARTTLS, each on an ephemeral
//! 127.0.0.1 port in plain std threads (one per connection), plus a test CA
//! whose leaf certificate makes any of them speak TLS.
//!
//! Every server records its connections ([`ConnRecord`]): when each was
//! accepted, the last request path and when it closed, so tests can prove
//! pool reuse (`connections()`) and prompt disconnects (`wait_closed`).
//! Dropping a server stops its accept loop and shuts down its open
//! connections. Server threads never panic: a client error ends only its
//! own connection.
//!
//! ```ignore
//! let up = HttpUpstream::start();
//! let url = up.url("/bytes?n=100");
//! // ... the script fetches `url` ...
//! let closed = up.wait_closed("/hold", Duration::from_secs(5)).expect("closed");
//! ```
#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConnection, StreamOwned};
use sha2::{Digest, Sha256};
use tungstenite::Message;
use tungstenite::handshake::server::{ErrorResponse, Request as WsRequest, Response as WsResponse};
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

/// How long a server connection may sit idle (or stall mid-read/write)
/// before the server gives up on it; bounds every server thread.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest any single wait a client asks for (`/slow-head`, `/stream`
/// delays, `/hold`) may last, so a forgotten connection cannot pin a thread.
const MAX_WAIT: Duration = Duration::from_secs(120);

/// Largest request head the HTTP server reads before answering 431.
const MAX_HEAD: usize = 64 * 1024;

// ---------------------------------------------------------------------------
// The deterministic body pattern.

/// Byte `i` of the pattern every generated body uses (`/bytes`, `/stream`,
/// `/fail-mid`): tests recompute it to check what arrived.
pub fn pattern_byte(i: u64) -> u8 {
    ((i * 31 + 7) % 251) as u8
}

/// `len` pattern bytes starting at stream offset `offset`.
pub fn pattern(offset: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    fill_pattern(offset, &mut v);
    v
}

/// Fills `buf` with the pattern starting at stream offset `offset`.
pub fn fill_pattern(offset: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = pattern_byte(offset + i as u64);
    }
}

/// Whether `data` is exactly the pattern starting at `offset`.
pub fn is_pattern(offset: u64, data: &[u8]) -> bool {
    data.iter()
        .enumerate()
        .all(|(i, &b)| b == pattern_byte(offset + i as u64))
}

/// Lower-case hex SHA-256 of `data` (what `/sha256` answers).
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

// ---------------------------------------------------------------------------
// Connection records.

/// Who ended a connection, as the server saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClosedBy {
    /// The client closed or reset it (a read returned EOF or an error other
    /// than a timeout, the peer's FIN/RST was polled, or a write failed).
    Peer,
    /// The server closed it: `Connection: close`, `/fail-mid`, `/close`,
    /// a WebSocket close it started, an idle timeout, a failed handshake,
    /// or the server being dropped.
    Server,
}

/// One accepted connection, as the server saw it.
#[derive(Clone, Debug)]
pub struct ConnRecord {
    /// Per-server sequence number, from 0 in accept order.
    pub id: u64,
    pub accepted_at: Instant,
    /// HTTP: the target (path and query) of the latest request on it;
    /// WebSocket: the handshake target; TCP echo: `None`.
    pub path: Option<String>,
    /// HTTP: requests read on it; WebSocket: data messages received;
    /// TCP echo: bytes echoed.
    pub count: u64,
    /// Whether the connection speaks TLS (TCP echo: after STARTTLS too).
    pub tls: bool,
    /// WebSocket only: the close frame the client sent, if any.
    pub close_frame: Option<(u16, String)>,
    /// When the server noticed the connection end.
    pub closed_at: Option<Instant>,
    pub closed_by: Option<ClosedBy>,
}

/// The records of one server, with a condition variable for waiters.
#[derive(Default)]
struct ConnLog {
    records: Mutex<Vec<ConnRecord>>,
    changed: Condvar,
}

impl ConnLog {
    fn lock(&self) -> MutexGuard<'_, Vec<ConnRecord>> {
        // A poisoned lock only means some thread panicked mid-update; the
        // records are still worth reading.
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open(&self, tls: bool) -> u64 {
        let mut r = self.lock();
        let id = r.len() as u64;
        r.push(ConnRecord {
            id,
            accepted_at: Instant::now(),
            path: None,
            count: 0,
            tls,
            close_frame: None,
            closed_at: None,
            closed_by: None,
        });
        id
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut ConnRecord)) {
        if let Some(rec) = self.lock().get_mut(id as usize) {
            f(rec);
        }
        self.changed.notify_all();
    }

    /// Records the first close only: later calls keep the earliest time.
    fn closed(&self, id: u64, by: ClosedBy) {
        let at = Instant::now();
        self.update(id, |r| {
            if r.closed_at.is_none() {
                r.closed_at = Some(at);
                r.closed_by = Some(by);
            }
        });
    }

    fn snapshot(&self) -> Vec<ConnRecord> {
        self.lock().clone()
    }

    /// The earliest close time among closed records matching `pred`.
    fn earliest_close(
        records: &[ConnRecord],
        pred: &impl Fn(&ConnRecord) -> bool,
    ) -> Option<Instant> {
        records
            .iter()
            .filter(|r| pred(r))
            .filter_map(|r| r.closed_at)
            .min()
    }

    fn wait_closed(
        &self,
        pred: impl Fn(&ConnRecord) -> bool,
        timeout: Duration,
    ) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        let mut r = self.lock();
        loop {
            if let Some(at) = Self::earliest_close(&r, &pred) {
                return Some(at);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            r = self
                .changed
                .wait_timeout(r, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

fn path_matches(r: &ConnRecord, prefix: &str) -> bool {
    r.path.as_deref().is_some_and(|p| p.starts_with(prefix))
}

// ---------------------------------------------------------------------------
// Accept loop.

/// Clones of the open connections, so dropping a server can shut them down.
#[derive(Default)]
struct LiveConns {
    next: AtomicU64,
    map: Mutex<HashMap<u64, TcpStream>>,
}

impl LiveConns {
    fn add(self: &Arc<Self>, s: &TcpStream) -> LiveGuard {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(c) = s.try_clone() {
            self.map
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, c);
        }
        LiveGuard {
            live: self.clone(),
            key,
        }
    }

    fn shutdown_all(&self) {
        for (_, s) in self.map.lock().unwrap_or_else(|e| e.into_inner()).drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

struct LiveGuard {
    live: Arc<LiveConns>,
    key: u64,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.live
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

/// A listener on 127.0.0.1:0 whose thread hands each accepted connection to
/// a new thread. Dropping it wakes the blocking `accept` by connecting to
/// itself, joins the loop, then shuts down the connections still open.
struct AcceptLoop {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    live: Arc<LiveConns>,
    thread: Option<JoinHandle<()>>,
}

impl AcceptLoop {
    fn start<F>(name: &str, idle_timeout: Duration, handle: F) -> AcceptLoop
    where
        F: Fn(TcpStream) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an upstream on loopback");
        let addr = listener.local_addr().expect("upstream address");
        let stop = Arc::new(AtomicBool::new(false));
        let live = Arc::new(LiveConns::default());
        let handle = Arc::new(handle);
        let thread = {
            let (stop, live, name) = (stop.clone(), live.clone(), name.to_string());
            thread::Builder::new()
                .name(format!("{name}-accept"))
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(s) = conn else {
                            // EMFILE and friends: back off instead of spinning.
                            thread::sleep(Duration::from_millis(5));
                            continue;
                        };
                        let _ = s.set_nodelay(true);
                        let _ = s.set_read_timeout(Some(idle_timeout));
                        let _ = s.set_write_timeout(Some(idle_timeout));
                        let guard = live.add(&s);
                        let handle = handle.clone();
                        let _ =
                            thread::Builder::new()
                                .name(format!("{name}-conn"))
                                .spawn(move || {
                                    let _guard = guard;
                                    handle(s);
                                });
                    }
                })
                .expect("spawn the accept thread")
        };
        AcceptLoop {
            addr,
            stop,
            live,
            thread: Some(thread),
        }
    }
}

impl Drop for AcceptLoop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.live.shutdown_all();
    }
}

/// Waits up to `dur` for the peer to close (FIN or RST) without reading;
/// true if it did. Data the peer sends meanwhile is left unread.
fn wait_peer_close(tcp: &TcpStream, dur: Duration) -> bool {
    let deadline = Instant::now() + dur.min(MAX_WAIT);
    loop {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let ms = (deadline - now).as_millis().clamp(1, i32::MAX as u128) as i32;
        let mut pfd = libc::pollfd {
            fd: tcp.as_raw_fd(),
            events: libc::POLLRDHUP,
            revents: 0,
        };
        // SAFETY: one valid pollfd for a socket this thread owns.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return false;
        }
        if r > 0
            && pfd.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
        {
            return true;
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A server-side byte stream, plain or TLS, with its TCP socket at hand.
trait Transport: Read + Write + Send {
    fn tcp(&self) -> &TcpStream;
    /// Ends the stream cleanly (TLS: a close_notify) before the socket closes.
    fn finish(&mut self) {}
}

impl Transport for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Transport for StreamOwned<ServerConnection, TcpStream> {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
    fn finish(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
    }
}

// ---------------------------------------------------------------------------
// Test CA.

static TEMP_SEQ: AtomicUsize = AtomicUsize::new(0);

/// A throwaway certificate authority and a leaf it signed for `localhost`,
/// `127.0.0.1` and `::1`. Each `TestCa::new()` is a different CA, so a
/// second one is the "untrusted certificate" case.
pub struct TestCa {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    leaf_der: CertificateDer<'static>,
    leaf_key_der: Vec<u8>,
    ca_path: PathBuf,
}

impl TestCa {
    pub fn new() -> TestCa {
        use rcgen::{
            BasicConstraints, CertificateParams, DistinguishedName, DnType,
            ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
        };
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "ringworker test CA");
        ca_params.distinguished_name = dn;
        let ca = ca_params.self_signed(&ca_key).expect("self-sign the CA");

        let leaf_key = KeyPair::generate().expect("leaf key");
        let mut leaf_params = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ])
        .expect("leaf params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "localhost");
        leaf_params.distinguished_name = dn;
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf_params.use_authority_key_identifier_extension = true;
        let leaf = leaf_params
            .signed_by(&leaf_key, &ca, &ca_key)
            .expect("sign the leaf");

        let ca_pem = ca.pem();
        let seq = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let ca_path = std::env::temp_dir().join(format!(
            "ringworker-test-ca-{}-{seq}.pem",
            std::process::id()
        ));
        std::fs::write(&ca_path, &ca_pem).expect("write the CA file");
        TestCa {
            ca_pem,
            ca_der: ca.der().clone(),
            leaf_der: leaf.der().clone(),
            leaf_key_der: leaf_key.serialize_der(),
            ca_path,
        }
    }

    /// The CA certificate as a PEM file (for `extra_ca_file`); removed when
    /// the `TestCa` drops.
    pub fn ca_pem_path(&self) -> &Path {
        &self.ca_path
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca_der.clone()
    }

    /// A server config presenting the leaf (chain: leaf, CA), no ALPN.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        Arc::new(self.server_config_with_alpn(&[]))
    }

    fn server_config_with_alpn(&self, alpn: &[&[u8]]) -> rustls::ServerConfig {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key_der.clone()));
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.leaf_der.clone(), self.ca_der.clone()], key)
            .expect("the leaf and its key match");
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        cfg
    }

    /// A client config that trusts this CA only.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).expect("add the CA root");
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_path);
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Connects to `addr` as a TLS client trusting `ca`, verifying `server_name`
/// (`"localhost"` or `"127.0.0.1"`), and completes the handshake.
pub fn tls_connect(
    addr: SocketAddr,
    ca: &TestCa,
    server_name: &str,
) -> io::Result<StreamOwned<rustls::ClientConnection, TcpStream>> {
    let tcp = TcpStream::connect(addr)?;
    tls_wrap(tcp, ca, server_name)
}

/// Starts TLS as a client over an already connected socket (after STARTTLS).
pub fn tls_wrap(
    tcp: TcpStream,
    ca: &TestCa,
    server_name: &str,
) -> io::Result<StreamOwned<rustls::ClientConnection, TcpStream>> {
    tcp.set_read_timeout(Some(Duration::from_secs(20)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(20)))?;
    tcp.set_nodelay(true)?;
    let name = rustls::pki_types::ServerName::try_from(server_name.to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let conn = rustls::ClientConnection::new(ca.client_config(), name)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut s = StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(s)
}

// ---------------------------------------------------------------------------
// HTTP upstream.

/// An HTTP/1.1 server with keep-alive, for `fetch()` tests.
///
/// Routes (any method unless noted; a query parameter that is missing or
/// malformed takes its default):
/// - `/hello` -> 200 `hello` (Content-Length).
/// - `/bytes?n=N` -> N pattern bytes ([`pattern_byte`]) with Content-Length.
/// - `/stream?chunks=N&size=S&delay_ms=D` -> chunked, N chunks of S pattern
///   bytes (one running offset), D ms between chunks (defaults 3, 16, 0).
/// - `/echo` -> 200 chunked, the request body streamed back as it is read.
/// - `/sha256` -> 200 JSON `{"len": N, "sha256": "hex"}` of the body.
/// - `/headers` -> 200 JSON: every request header by lower-case name
///   (repeats joined with `", "`), plus `"method"`, `"path"` (target with
///   query) and `"body_len"` (request body bytes read).
/// - `/status/N` -> status N (200..=999, else 400), empty body.
/// - `/redirect?status=302&to=<url-encoded>` -> that status with `Location`.
/// - `/redirect-chain?n=K` -> 302 to `/redirect-chain?n=K-1`; n=0 -> 200 `done`.
/// - `/redirect-loop` -> 302 to itself.
/// - `/slow-head?ms=M` -> waits M ms, then 200 `slow`.
/// - `/fail-mid?n=N` -> Content-Length N, N/2 pattern bytes, then a FIN
///   (TLS: no close_notify). `/reset-mid?n=N` -> the same, then an RST.
///   N defaults to 1000.
/// - `/hold` -> chunked, `tick\n` at once and every 20 ms until the client
///   closes; the close is recorded within a poll wakeup (`wait_closed`).
/// - `/response-headers?k=v&k=v2` -> 200 `ok` with each pair as a response header.
/// - `/close` -> 200 `bye` with `Connection: close`, then the server closes.
/// - `/close-after?ms=M` -> 200 `hello` with nothing saying close, then the
///   server closes the connection M ms later (a stale pooled connection).
/// - anything else -> 404 `not found`.
///
/// `HEAD` gets the head only. `Expect: 100-continue` gets a `100 Continue`.
pub struct HttpUpstream {
    accept: AcceptLoop,
    state: Arc<HttpState>,
    tls: bool,
}

#[derive(Default)]
struct HttpState {
    connections: AtomicUsize,
    requests: AtomicUsize,
    log: ConnLog,
    /// (connection id, method, target) of every request, in arrival order.
    request_log: Mutex<Vec<(u64, String, String)>>,
}

impl HttpUpstream {
    pub fn start() -> HttpUpstream {
        Self::start_with(None, DEFAULT_IDLE_TIMEOUT)
    }

    /// HTTPS with `ca`'s leaf (ALPN `http/1.1`).
    pub fn start_tls(ca: &TestCa) -> HttpUpstream {
        Self::start_with(Some(ca), DEFAULT_IDLE_TIMEOUT)
    }

    /// Either flavour, closing connections idle for `idle_timeout`.
    pub fn start_with(ca: Option<&TestCa>, idle_timeout: Duration) -> HttpUpstream {
        let state = Arc::new(HttpState::default());
        let tls_cfg = ca.map(|ca| Arc::new(ca.server_config_with_alpn(&[b"http/1.1"])));
        let tls = tls_cfg.is_some();
        let st = state.clone();
        let accept = AcceptLoop::start("http-upstream", idle_timeout, move |tcp| {
            st.connections.fetch_add(1, Ordering::SeqCst);
            let id = st.log.open(tls_cfg.is_some());
            let by = match &tls_cfg {
                None => serve_http(tcp, &st, id),
                Some(cfg) => match ServerConnection::new(cfg.clone()) {
                    Ok(conn) => serve_http(StreamOwned::new(conn, tcp), &st, id),
                    Err(_) => ClosedBy::Server,
                },
            };
            st.log.closed(id, by);
        });
        HttpUpstream { accept, state, tls }
    }

    pub fn addr(&self) -> SocketAddr {
        self.accept.addr
    }

    pub fn port(&self) -> u16 {
        self.accept.addr.port()
    }

    /// `http://127.0.0.1:PORT{path}` (`https://` for TLS: the leaf names
    /// `127.0.0.1`; use `https://localhost:PORT` to check a DNS name).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}{path}", self.port())
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Requests whose head was read so far.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// (connection id, method, target) of every request so far.
    pub fn request_log(&self) -> Vec<(u64, String, String)> {
        self.state
            .request_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every connection so far, in accept order.
    pub fn records(&self) -> Vec<ConnRecord> {
        self.state.log.snapshot()
    }

    /// When the first connection whose latest request target starts with
    /// `path_prefix` was seen closed, if one has been.
    pub fn closed_at(&self, path_prefix: &str) -> Option<Instant> {
        ConnLog::earliest_close(&self.state.log.snapshot(), &|r: &ConnRecord| {
            path_matches(r, path_prefix)
        })
    }

    /// Waits up to `timeout` for `closed_at(path_prefix)`.
    pub fn wait_closed(&self, path_prefix: &str, timeout: Duration) -> Option<Instant> {
        self.state
            .log
            .wait_closed(|r| path_matches(r, path_prefix), timeout)
    }
}

/// A request head.
struct Head {
    method: String,
    target: String,
    minor_version: u8,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    fn query(&self, key: &str) -> Option<String> {
        let q = self.target.split_once('?')?.1;
        q.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k) == key).then(|| percent_decode(v))
        })
    }

    fn query_num<T: std::str::FromStr>(&self, key: &str, default: T) -> T {
        self.query(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    fn wants_close(&self) -> bool {
        self.has_token("connection", "close")
            || (self.minor_version == 0 && !self.has_token("connection", "keep-alive"))
    }
}

fn percent_decode(s: &str) -> String {
    fn hex_val(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let escaped = (b[i] == b'%' && i + 2 < b.len())
            .then(|| Some(hex_val(b[i + 1])? * 16 + hex_val(b[i + 2])?))
            .flatten();
        match (escaped, b[i]) {
            (Some(v), _) => {
                out.push(v);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, c) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How a request body is framed, and how much of it is left.
enum BodyState {
    Length(u64),
    /// Bytes left in the current chunk; `first` until the first size line.
    Chunked {
        left: u64,
        first: bool,
    },
    Done,
}

/// A connection's stream plus the bytes read past the current position.
struct HttpConn<T> {
    io: T,
    buf: Vec<u8>,
    pos: usize,
}

impl<T: Transport> HttpConn<T> {
    fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Reads more into the buffer; Ok(0) at EOF.
    fn fill(&mut self) -> io::Result<usize> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + 64 * 1024, 0);
        let r = self.io.read(&mut self.buf[old..]);
        self.buf.truncate(old + *r.as_ref().unwrap_or(&0));
        r
    }

    /// Reads a request head; Ok(None) on a clean EOF before its first byte.
    fn read_head(&mut self) -> io::Result<Option<Result<Head, u16>>> {
        loop {
            if !self.buffered().is_empty() {
                let mut hs = [httparse::EMPTY_HEADER; 100];
                let mut req = httparse::Request::new(&mut hs);
                match req.parse(self.buffered()) {
                    Ok(httparse::Status::Complete(n)) => {
                        let head = Head {
                            method: req.method.unwrap_or("").to_string(),
                            target: req.path.unwrap_or("").to_string(),
                            minor_version: req.version.unwrap_or(1),
                            headers: req
                                .headers
                                .iter()
                                .map(|h| {
                                    (
                                        h.name.to_ascii_lowercase(),
                                        String::from_utf8_lossy(h.value).into_owned(),
                                    )
                                })
                                .collect(),
                        };
                        self.pos += n;
                        return Ok(Some(Ok(head)));
                    }
                    Ok(httparse::Status::Partial) if self.buffered().len() >= MAX_HEAD => {
                        return Ok(Some(Err(431)));
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(httparse::Error::TooManyHeaders) => return Ok(Some(Err(431))),
                    Err(_) => return Ok(Some(Err(400))),
                }
            }
            let had = self.buffered().len();
            if self.fill()? == 0 {
                return if had == 0 {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }

    /// Reads one CRLF-terminated line (without the CRLF), at most 4 KiB.
    fn read_line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(p) = self.buffered().windows(2).position(|w| w == b"\r\n") {
                let line = self.buffered()[..p].to_vec();
                self.pos += p + 2;
                return Ok(line);
            }
            if self.buffered().len() > 4096 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
            }
            if self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Reads up to `max` raw bytes (buffered ones first).
    fn read_raw(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.buffered().is_empty() {
            let n = self.io.read(out)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            return Ok(n);
        }
        let n = out.len().min(self.buffered().len());
        out[..n].copy_from_slice(&self.buffered()[..n]);
        self.pos += n;
        Ok(n)
    }

    /// Reads request-body bytes into `out`; Ok(0) once the body is complete.
    fn read_body(&mut self, body: &mut BodyState, out: &mut [u8]) -> io::Result<usize> {
        loop {
            match body {
                BodyState::Done => return Ok(0),
                BodyState::Length(0) => {
                    *body = BodyState::Done;
                    return Ok(0);
                }
                BodyState::Length(left) => {
                    let want = out.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                    let n = self.read_raw(&mut out[..want])?;
                    *left -= n as u64;
                    return Ok(n);
                }
                BodyState::Chunked { left: 0, first } => {
                    if !*first && !self.read_line()?.is_empty() {
                        return Err(bad_data("chunk data not followed by CRLF"));
                    }
                    let line = self.read_line()?;
                    let line = String::from_utf8_lossy(&line);
                    let size = line.split(';').next().unwrap_or("").trim();
                    let size =
                        u64::from_str_radix(size, 16).map_err(|_| bad_data("bad chunk size"))?;
                    if size == 0 {
                        while !self.read_line()?.is_empty() {} // trailers
                        *body = BodyState::Done;
                        return Ok(0);
                    }
                    *body = BodyState::Chunked {
                        left: size,
                        first: false,
                    };
                }
                BodyState::Chunked { left, .. } => {
                    let want = out.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                    let n = self.read_raw(&mut out[..want])?;
                    *left -= n as u64;
                    return Ok(n);
                }
            }
        }
    }

    /// Reads and discards the rest of the body; returns how many bytes.
    fn drain_body(&mut self, body: &mut BodyState) -> io::Result<u64> {
        let mut scratch = vec![0u8; 64 * 1024];
        let mut total = 0;
        loop {
            let n = self.read_body(body, &mut scratch)?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.io.write_all(data)?;
        self.io.flush()
    }
}

fn bad_data(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        404 => "Not Found",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// A response head. `body_len: None` means chunked.
fn head_bytes(
    status: u16,
    headers: &[(&str, &str)],
    body_len: Option<u64>,
    close: bool,
) -> Vec<u8> {
    let mut h = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (n, v) in headers {
        let _ = write!(h, "{n}: {v}\r\n");
    }
    let no_body = status < 200 || status == 204 || status == 304;
    match body_len {
        _ if no_body => {}
        Some(n) => {
            let _ = write!(h, "Content-Length: {n}\r\n");
        }
        None => h.push_str("Transfer-Encoding: chunked\r\n"),
    }
    if close {
        h.push_str("Connection: close\r\n");
    }
    h.push_str("\r\n");
    h.into_bytes()
}

fn chunk_bytes(data: &[u8]) -> Vec<u8> {
    let mut v = format!("{:x}\r\n", data.len()).into_bytes();
    v.extend_from_slice(data);
    v.extend_from_slice(b"\r\n");
    v
}

/// What the connection does after a route answered.
enum After {
    /// Keep reading requests (unless the request asked to close).
    Next,
    /// The server ends the connection after a clean response.
    Close,
    /// The server drops the connection as it is (mid-body failures).
    Abort,
    /// The server resets the connection.
    Reset,
    /// The server closes the connection after this delay.
    CloseIn(Duration),
    /// The peer closed (seen by poll or by a failed write).
    PeerGone,
}

/// Serves requests until the connection ends; returns who ended it.
fn serve_http<T: Transport>(io: T, st: &HttpState, id: u64) -> ClosedBy {
    let mut c = HttpConn {
        io,
        buf: Vec::new(),
        pos: 0,
    };
    loop {
        let head = match c.read_head() {
            Ok(Some(Ok(h))) => h,
            Ok(Some(Err(status))) => {
                let _ = c.write_all(&head_bytes(status, &[], Some(0), true));
                c.io.finish();
                return ClosedBy::Server;
            }
            Ok(None) => return ClosedBy::Peer,
            Err(e) if is_timeout(&e) => return ClosedBy::Server,
            Err(_) => return ClosedBy::Peer,
        };
        st.requests.fetch_add(1, Ordering::SeqCst);
        st.request_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((id, head.method.clone(), head.target.clone()));
        st.log.update(id, |r| {
            r.path = Some(head.target.clone());
            r.count += 1;
        });

        let chunked = head.has_token("transfer-encoding", "chunked");
        let mut body = if chunked {
            BodyState::Chunked {
                left: 0,
                first: true,
            }
        } else {
            match head
                .header("content-length")
                .map(|v| v.trim().parse::<u64>())
            {
                None => BodyState::Length(0),
                Some(Ok(n)) => BodyState::Length(n),
                Some(Err(_)) => {
                    let _ = c.write_all(&head_bytes(400, &[], Some(0), true));
                    c.io.finish();
                    return ClosedBy::Server;
                }
            }
        };
        let has_body = !matches!(body, BodyState::Length(0));
        if has_body
            && head.has_token("expect", "100-continue")
            && c.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err()
        {
            return ClosedBy::Peer;
        }

        let close = head.wants_close();
        let after = match route(&mut c, &head, &mut body, close) {
            Ok(a) => a,
            Err(e) if is_timeout(&e) => return ClosedBy::Server,
            Err(_) => return ClosedBy::Peer,
        };
        match after {
            After::Next if !close => {
                if c.drain_body(&mut body).is_err() {
                    return ClosedBy::Peer;
                }
            }
            After::Next | After::Close => {
                c.io.finish();
                return ClosedBy::Server;
            }
            After::Abort => return ClosedBy::Server,
            After::Reset => {
                let _ = socket2::SockRef::from(c.io.tcp()).set_linger(Some(Duration::ZERO));
                return ClosedBy::Server;
            }
            After::CloseIn(d) => {
                if wait_peer_close(c.io.tcp(), d) {
                    return ClosedBy::Peer;
                }
                c.io.finish();
                return ClosedBy::Server;
            }
            After::PeerGone => return ClosedBy::Peer,
        }
    }
}

/// Answers one request. `close` says the response must carry `Connection: close`.
fn route<T: Transport>(
    c: &mut HttpConn<T>,
    head: &Head,
    body: &mut BodyState,
    close: bool,
) -> io::Result<After> {
    let head_only = head.method == "HEAD";
    let path = head.path();
    // A fixed response: head and body in one write.
    let fixed =
        |c: &mut HttpConn<T>, status: u16, hs: &[(&str, &str)], data: &[u8], close: bool| {
            let mut out = head_bytes(status, hs, Some(data.len() as u64), close);
            if !head_only {
                out.extend_from_slice(data);
            }
            c.write_all(&out)
        };
    let text = [("Content-Type", "text/plain")];
    let json = [("Content-Type", "application/json")];
    match path {
        "/hello" => fixed(c, 200, &text, b"hello", close)?,
        "/bytes" => {
            let n: u64 = head.query_num("n", 0u64).min(1 << 34);
            c.write_all(&head_bytes(
                200,
                &[("Content-Type", "application/octet-stream")],
                Some(n),
                close,
            ))?;
            if !head_only {
                let mut off = 0u64;
                let mut buf = vec![0u8; 64 * 1024];
                while off < n {
                    let len = (n - off).min(buf.len() as u64) as usize;
                    fill_pattern(off, &mut buf[..len]);
                    c.io.write_all(&buf[..len])?;
                    off += len as u64;
                }
                c.io.flush()?;
            }
        }
        "/stream" => {
            let chunks: u64 = head.query_num("chunks", 3u64).min(1 << 20);
            let size: usize = head.query_num("size", 16usize).clamp(1, 16 << 20);
            let delay = Duration::from_millis(head.query_num("delay_ms", 0u64));
            c.write_all(&head_bytes(
                200,
                &[("Content-Type", "application/octet-stream")],
                None,
                close,
            ))?;
            if head_only {
                return Ok(After::Next);
            }
            for i in 0..chunks {
                if i > 0 && !delay.is_zero() && wait_peer_close(c.io.tcp(), delay) {
                    return Ok(After::PeerGone);
                }
                let data = pattern(i * size as u64, size);
                if c.write_all(&chunk_bytes(&data)).is_err() {
                    return Ok(After::PeerGone);
                }
            }
            c.write_all(b"0\r\n\r\n")?;
        }
        "/echo" => {
            c.write_all(&head_bytes(
                200,
                &[("Content-Type", "application/octet-stream")],
                None,
                close,
            ))?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = c.read_body(body, &mut buf)?;
                if n == 0 {
                    break;
                }
                if !head_only {
                    c.write_all(&chunk_bytes(&buf[..n]))?;
                }
            }
            if !head_only {
                c.write_all(b"0\r\n\r\n")?;
            }
        }
        "/sha256" => {
            let mut hasher = Sha256::new();
            let mut len = 0u64;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = c.read_body(body, &mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                len += n as u64;
            }
            let v = serde_json::json!({"len": len, "sha256": hex(&hasher.finalize())});
            fixed(c, 200, &json, v.to_string().as_bytes(), close)?;
        }
        "/headers" => {
            let body_len = c.drain_body(body)?;
            let mut m = serde_json::Map::new();
            for (n, v) in &head.headers {
                let joined = match m.get(n).and_then(|x| x.as_str()) {
                    Some(prev) => format!("{prev}, {v}"),
                    None => v.clone(),
                };
                m.insert(n.clone(), joined.into());
            }
            m.insert("method".into(), head.method.clone().into());
            m.insert("path".into(), head.target.clone().into());
            m.insert("body_len".into(), body_len.into());
            let v = serde_json::Value::Object(m);
            fixed(c, 200, &json, v.to_string().as_bytes(), close)?;
        }
        p if p.starts_with("/status/") => {
            let status = p["/status/".len()..]
                .parse::<u16>()
                .ok()
                .filter(|s| (200..=999).contains(s))
                .unwrap_or(400);
            fixed(c, status, &[], b"", close)?;
        }
        "/redirect" => {
            let status = head.query_num("status", 302u16);
            let to = head.query("to").unwrap_or_else(|| "/hello".into());
            fixed(c, status, &[("Location", &to)], b"", close)?;
        }
        "/redirect-chain" => {
            let n: u64 = head.query_num("n", 0u64);
            if n == 0 {
                fixed(c, 200, &text, b"done", close)?;
            } else {
                let to = format!("/redirect-chain?n={}", n - 1);
                fixed(c, 302, &[("Location", &to)], b"", close)?;
            }
        }
        "/redirect-loop" => fixed(c, 302, &[("Location", "/redirect-loop")], b"", close)?,
        "/slow-head" => {
            let ms = head.query_num("ms", 0u64);
            if wait_peer_close(c.io.tcp(), Duration::from_millis(ms)) {
                return Ok(After::PeerGone);
            }
            fixed(c, 200, &text, b"slow", close)?;
        }
        "/fail-mid" | "/reset-mid" => {
            let n: u64 = head.query_num("n", 1000u64).min(1 << 30);
            c.write_all(&head_bytes(
                200,
                &[("Content-Type", "application/octet-stream")],
                Some(n),
                false,
            ))?;
            c.write_all(&pattern(0, (n / 2) as usize))?;
            return Ok(if path == "/reset-mid" {
                After::Reset
            } else {
                After::Abort
            });
        }
        "/hold" => {
            c.write_all(&head_bytes(200, &text, None, close))?;
            if head_only {
                return Ok(After::Next);
            }
            let deadline = Instant::now() + MAX_WAIT;
            loop {
                if c.write_all(&chunk_bytes(b"tick\n")).is_err() {
                    return Ok(After::PeerGone);
                }
                if wait_peer_close(c.io.tcp(), Duration::from_millis(20)) {
                    return Ok(After::PeerGone);
                }
                if Instant::now() >= deadline {
                    c.write_all(b"0\r\n\r\n")?;
                    break;
                }
            }
        }
        "/response-headers" => {
            let pairs: Vec<(String, String)> = head
                .target
                .split_once('?')
                .map(|(_, q)| {
                    q.split('&')
                        .filter(|kv| !kv.is_empty())
                        .map(|kv| {
                            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                            (percent_decode(k), percent_decode(v))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let hs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            fixed(c, 200, &hs, b"ok", close)?;
        }
        "/close" => {
            fixed(c, 200, &text, b"bye", true)?;
            return Ok(After::Close);
        }
        "/close-after" => {
            fixed(c, 200, &text, b"hello", false)?;
            return Ok(After::CloseIn(Duration::from_millis(
                head.query_num("ms", 0u64),
            )));
        }
        _ => fixed(c, 404, &text, b"not found", close)?,
    }
    Ok(After::Next)
}

// ---------------------------------------------------------------------------
// WebSocket upstream.

/// A WebSocket echo server (tungstenite), for outbound WebSocket tests.
///
/// The handshake picks the first subprotocol the client offers (if any) and
/// answers with an `x-upstream-path` header echoing the request target. A
/// target starting `/reject/N` is refused with HTTP status N.
///
/// Messages: text and binary are echoed back as they came; the text
/// `close:<code>:<reason>` makes the server close with that code and reason;
/// the text `info` is answered with JSON `{"path", "protocol", "headers"}`
/// (the handshake target, the chosen subprotocol or null, and the request
/// headers by lower-case name). Pings are answered by tungstenite.
pub struct WsUpstream {
    accept: AcceptLoop,
    state: Arc<WsState>,
    tls: bool,
}

#[derive(Default)]
struct WsState {
    connections: AtomicUsize,
    messages: AtomicUsize,
    log: ConnLog,
}

impl WsUpstream {
    pub fn start() -> WsUpstream {
        Self::start_with(None)
    }

    /// `wss://` with `ca`'s leaf.
    pub fn start_tls(ca: &TestCa) -> WsUpstream {
        Self::start_with(Some(ca))
    }

    fn start_with(ca: Option<&TestCa>) -> WsUpstream {
        let state = Arc::new(WsState::default());
        let tls_cfg = ca.map(|ca| Arc::new(ca.server_config_with_alpn(&[b"http/1.1"])));
        let tls = tls_cfg.is_some();
        let st = state.clone();
        let accept = AcceptLoop::start("ws-upstream", DEFAULT_IDLE_TIMEOUT, move |tcp| {
            st.connections.fetch_add(1, Ordering::SeqCst);
            let id = st.log.open(tls_cfg.is_some());
            let by = match &tls_cfg {
                None => serve_ws(tcp, &st, id),
                Some(cfg) => match ServerConnection::new(cfg.clone()) {
                    Ok(conn) => serve_ws(StreamOwned::new(conn, tcp), &st, id),
                    Err(_) => ClosedBy::Server,
                },
            };
            st.log.closed(id, by);
        });
        WsUpstream { accept, state, tls }
    }

    pub fn addr(&self) -> SocketAddr {
        self.accept.addr
    }

    pub fn port(&self) -> u16 {
        self.accept.addr.port()
    }

    /// `ws://127.0.0.1:PORT{path}` (`wss://` for TLS).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://127.0.0.1:{}{path}", self.port())
    }

    /// TCP connections accepted so far (handshaken or not).
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Text and binary messages received so far, over all connections.
    pub fn messages(&self) -> usize {
        self.state.messages.load(Ordering::SeqCst)
    }

    /// Every connection so far: `path` is the handshake target, `count` the
    /// messages it received, `close_frame` the client's close code and reason.
    pub fn records(&self) -> Vec<ConnRecord> {
        self.state.log.snapshot()
    }

    /// Waits up to `timeout` until a connection whose handshake target starts
    /// with `path_prefix` has ended; the earliest such close time.
    pub fn wait_closed(&self, path_prefix: &str, timeout: Duration) -> Option<Instant> {
        self.state
            .log
            .wait_closed(|r| path_matches(r, path_prefix), timeout)
    }
}

// tungstenite fixes the callback's error type (an HTTP response).
#[allow(clippy::result_large_err)]
fn serve_ws<S: Read + Write>(io: S, st: &WsState, id: u64) -> ClosedBy {
    let mut info = serde_json::Value::Null;
    let callback = |req: &WsRequest, mut resp: WsResponse| -> Result<WsResponse, ErrorResponse> {
        let target = req.uri().to_string();
        st.log.update(id, |r| r.path = Some(target.clone()));
        if let Some(code) = target.strip_prefix("/reject/") {
            let code = code.parse::<u16>().unwrap_or(403);
            let mut err = ErrorResponse::new(Some(format!("rejected with {code}")));
            *err.status_mut() = tungstenite::http::StatusCode::from_u16(code)
                .unwrap_or(tungstenite::http::StatusCode::FORBIDDEN);
            return Err(err);
        }
        let protocol = req
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty());
        let mut headers = serde_json::Map::new();
        for (n, v) in req.headers() {
            headers.insert(
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned().into(),
            );
        }
        if let Some(p) = &protocol {
            if let Ok(v) = p.parse() {
                resp.headers_mut().insert("sec-websocket-protocol", v);
            }
        }
        if let Ok(v) = target.parse() {
            resp.headers_mut().insert("x-upstream-path", v);
        }
        info = serde_json::json!({"path": target, "protocol": protocol, "headers": headers});
        Ok(resp)
    };
    let mut ws = match tungstenite::accept_hdr(io, callback) {
        Ok(ws) => ws,
        Err(_) => return ClosedBy::Server,
    };
    // Set once the server starts a close, so the end counts as the server's.
    let mut server_closing = false;
    loop {
        let msg = match ws.read() {
            Ok(m) => m,
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return if server_closing {
                    ClosedBy::Server
                } else {
                    ClosedBy::Peer
                };
            }
            Err(tungstenite::Error::Io(e)) if is_timeout(&e) => return ClosedBy::Server,
            Err(_) => return ClosedBy::Peer,
        };
        let reply = match msg {
            Message::Text(t) => {
                st.messages.fetch_add(1, Ordering::SeqCst);
                st.log.update(id, |r| r.count += 1);
                if let Some(rest) = t.as_str().strip_prefix("close:") {
                    let (code, reason) = rest.split_once(':').unwrap_or((rest, ""));
                    let frame = CloseFrame {
                        code: CloseCode::from(code.parse::<u16>().unwrap_or(1000)),
                        reason: reason.to_string().into(),
                    };
                    if ws.close(Some(frame)).is_err() {
                        return ClosedBy::Peer;
                    }
                    server_closing = true;
                    // Read on until the client answers the close.
                    continue;
                }
                if t.as_str() == "info" {
                    Message::text(info.to_string())
                } else {
                    Message::Text(t)
                }
            }
            Message::Binary(b) => {
                st.messages.fetch_add(1, Ordering::SeqCst);
                st.log.update(id, |r| r.count += 1);
                Message::Binary(b)
            }
            Message::Close(frame) => {
                let f = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                st.log.update(id, |r| r.close_frame = f);
                // tungstenite queued the close reply; flush it, then read to the end.
                let _ = ws.flush();
                continue;
            }
            _ => {
                let _ = ws.flush();
                continue;
            }
        };
        if ws.send(reply).is_err() {
            return ClosedBy::Peer;
        }
    }
}

// ---------------------------------------------------------------------------
// TCP echo upstream.

/// A TCP echo server for `connect()` tests. If the first bytes a client
/// sends are `STARTTLS\r\n`, it answers `OK\r\n` and upgrades the same
/// connection to TLS (server side, `ca`'s leaf), echoing over TLS from then
/// on. Bytes that could still be the start of `STARTTLS\r\n` are held until
/// they match or stop matching. [`TcpEchoUpstream::start_tls`] speaks TLS
/// from the first byte instead (`secureTransport: "on"`).
pub struct TcpEchoUpstream {
    accept: AcceptLoop,
    state: Arc<EchoState>,
}

#[derive(Default)]
struct EchoState {
    connections: AtomicUsize,
    bytes: AtomicU64,
    log: ConnLog,
}

const STARTTLS: &[u8] = b"STARTTLS\r\n";

impl TcpEchoUpstream {
    pub fn start(ca: &TestCa) -> TcpEchoUpstream {
        Self::start_with(ca, false)
    }

    /// TLS from the first byte (no STARTTLS).
    pub fn start_tls(ca: &TestCa) -> TcpEchoUpstream {
        Self::start_with(ca, true)
    }

    fn start_with(ca: &TestCa, direct_tls: bool) -> TcpEchoUpstream {
        let state = Arc::new(EchoState::default());
        let cfg = Arc::new(ca.server_config_with_alpn(&[]));
        let st = state.clone();
        let accept = AcceptLoop::start("tcp-echo-upstream", DEFAULT_IDLE_TIMEOUT, move |tcp| {
            st.connections.fetch_add(1, Ordering::SeqCst);
            let id = st.log.open(direct_tls);
            let by = serve_echo(tcp, &cfg, direct_tls, &st, id);
            st.log.closed(id, by);
        });
        TcpEchoUpstream { accept, state }
    }

    pub fn addr(&self) -> SocketAddr {
        self.accept.addr
    }

    pub fn port(&self) -> u16 {
        self.accept.addr.port()
    }

    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Bytes echoed so far, over all connections.
    pub fn bytes_echoed(&self) -> u64 {
        self.state.bytes.load(Ordering::SeqCst)
    }

    /// Every connection so far: `count` is the bytes it echoed, `tls`
    /// whether it upgraded.
    pub fn records(&self) -> Vec<ConnRecord> {
        self.state.log.snapshot()
    }

    /// Waits up to `timeout` until some connection has ended; the earliest
    /// close time.
    pub fn wait_closed(&self, timeout: Duration) -> Option<Instant> {
        self.state.log.wait_closed(|_| true, timeout)
    }
}

/// A socket with bytes already read from it in front (TLS after STARTTLS,
/// when the ClientHello came with the command).
struct Prebuffered {
    pre: Vec<u8>,
    tcp: TcpStream,
}

impl Read for Prebuffered {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pre.is_empty() {
            return self.tcp.read(out);
        }
        let n = out.len().min(self.pre.len());
        out[..n].copy_from_slice(&self.pre[..n]);
        self.pre.drain(..n);
        Ok(n)
    }
}

impl Write for Prebuffered {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.tcp.write(data)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

fn serve_echo(
    mut tcp: TcpStream,
    cfg: &Arc<rustls::ServerConfig>,
    direct_tls: bool,
    st: &EchoState,
    id: u64,
) -> ClosedBy {
    let tls_over = |pre: Vec<u8>, tcp: TcpStream| -> ClosedBy {
        st.log.update(id, |r| r.tls = true);
        match ServerConnection::new(cfg.clone()) {
            Ok(conn) => echo_loop(StreamOwned::new(conn, Prebuffered { pre, tcp }), st, id),
            Err(_) => ClosedBy::Server,
        }
    };
    if direct_tls {
        return tls_over(Vec::new(), tcp);
    }
    // Collect bytes while they could still be the STARTTLS line.
    let mut first = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match tcp.read(&mut buf) {
            Ok(0) => return ClosedBy::Peer,
            Ok(n) => n,
            Err(e) if is_timeout(&e) => return ClosedBy::Server,
            Err(_) => return ClosedBy::Peer,
        };
        first.extend_from_slice(&buf[..n]);
        let k = first.len().min(STARTTLS.len());
        if first[..k] != STARTTLS[..k] {
            // Plain echo: send back what was held, then echo the rest.
            if tcp.write_all(&first).is_err() {
                return ClosedBy::Peer;
            }
            st.bytes.fetch_add(first.len() as u64, Ordering::SeqCst);
            st.log.update(id, |r| r.count += first.len() as u64);
            return echo_loop(tcp, st, id);
        }
        if first.len() >= STARTTLS.len() {
            if tcp.write_all(b"OK\r\n").is_err() {
                return ClosedBy::Peer;
            }
            let rest = first.split_off(STARTTLS.len());
            return tls_over(rest, tcp);
        }
    }
}

fn echo_loop<S: Read + Write>(mut s: S, st: &EchoState, id: u64) -> ClosedBy {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match s.read(&mut buf) {
            Ok(0) => return ClosedBy::Peer,
            Ok(n) => n,
            Err(e) if is_timeout(&e) => return ClosedBy::Server,
            Err(_) => return ClosedBy::Peer,
        };
        if s.write_all(&buf[..n]).and_then(|_| s.flush()).is_err() {
            return ClosedBy::Peer;
        }
        st.bytes.fetch_add(n as u64, Ordering::SeqCst);
        st.log.update(id, |r| r.count += n as u64);
    }
}
