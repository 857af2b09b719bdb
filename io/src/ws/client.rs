//! Outbound WebSockets: the client handshake over the shard's HTTP client,
//! then the same [`Session`] the server side runs, as the client end
//! (masked frames out, unmasked in).
//!
//! The caller makes the [`WebSocket`] first (a script may queue sends and a
//! close before it opens); [`connect`] binds it to a connection once the
//! handshake succeeded and runs its session as its own task. Nothing of it
//! is shared with other connections: one socket's end never touches another.

use std::cell::RefCell;
use std::rc::Rc;

use ringworker_core::{DrainSignal, ShardMetrics, WsConfig};

use super::session::{Role, Session, Transport};
use super::socket::WebSocket;
use crate::client::{Client, Conn, FetchError, OutboundBody, OutboundRequest};
use crate::uring::RecvEnd;

thread_local! {
    static CONFIG: RefCell<Rc<WsConfig>> = RefCell::new(Rc::new(WsConfig::default()));
}

/// Sets the limits and timers outbound WebSockets on this shard use (the
/// server's [`WsConfig`]: message size, heartbeat, close timeout, buffer).
pub fn configure(cfg: WsConfig) {
    CONFIG.with(|c| *c.borrow_mut() = Rc::new(cfg));
}

/// What the server answered to the handshake.
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    /// 101, or the status the server refused the upgrade with.
    pub status: u16,
    /// The subprotocol the server chose ("" for none).
    pub protocol: String,
    /// The response's headers.
    pub headers: Vec<(String, String)>,
}

impl Transport for Conn {
    fn rbuf(&self) -> std::cell::RefMut<'_, bytes::BytesMut> {
        Conn::rbuf(self)
    }
    fn poll_recv(&self, cx: &mut std::task::Context<'_>, want: bool) -> std::task::Poll<()> {
        Conn::poll_recv(self, cx, want)
    }
    fn recv_end(&self) -> Option<RecvEnd> {
        Conn::recv_end(self)
    }
    fn send(&self, head: &mut Vec<u8>, chunks: &[bytes::Bytes]) -> usize {
        Conn::send(self, head, chunks, false)
    }
    fn poll_sent(
        &self,
        cx: &mut std::task::Context<'_>,
        max_queued: usize,
    ) -> std::task::Poll<std::io::Result<()>> {
        Conn::poll_sent(self, cx, max_queued)
    }
    fn queued(&self) -> (usize, usize) {
        Conn::queued(self)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Opens an outbound WebSocket to `url` (`ws:`/`wss:`; `http:`/`https:` are
/// taken as them) offering `protocols`, and binds `ws` to it: its session
/// runs as a task until the socket closes.
///
/// # Errors
/// A [`FetchError`] when the connection or the handshake fails: a refused
/// connection, a TLS failure, a wrong `Sec-WebSocket-Accept`, a subprotocol
/// that was not offered. An answer other than 101 is not an error: it comes
/// back with its status, and `ws` stays unattached.
pub async fn connect(
    ws: WebSocket,
    url: &url::Url,
    headers: Vec<(String, String)>,
    protocols: Vec<String>,
) -> Result<ClientHandshake, FetchError> {
    let mut http = url.clone();
    let scheme = match url.scheme() {
        "ws" | "http" => "http",
        "wss" | "https" => "https",
        other => return Err(FetchError::Unsupported(other.to_string())),
    };
    // (Both are special schemes, so this cannot fail.)
    let _ = http.set_scheme(scheme);
    let key = tungstenite::handshake::client::generate_key();
    let mut h: Vec<(String, String)> = headers
        .into_iter()
        .filter(|(n, _)| {
            let n = n.to_ascii_lowercase();
            n != "upgrade" && n != "connection" && !n.starts_with("sec-websocket-")
        })
        .collect();
    h.push(("Upgrade".into(), "websocket".into()));
    h.push(("Connection".into(), "Upgrade".into()));
    h.push(("Sec-WebSocket-Key".into(), key.clone()));
    h.push(("Sec-WebSocket-Version".into(), "13".into()));
    if !protocols.is_empty() {
        h.push(("Sec-WebSocket-Protocol".into(), protocols.join(", ")));
    }
    let client = Client::current().map_err(|e| FetchError::Io(e.to_string()))?;
    let req = OutboundRequest {
        method: "GET".into(),
        url: http,
        headers: h,
        body: OutboundBody::Empty,
        cancel: Some(ws.cancel_flag().clone()),
    };
    let (resp, conn) = client.upgrade(req).await?;
    let fail =
        |why: String| FetchError::Io(format!("WebSocket handshake with {url} failed: {why}"));
    if resp.status != 101 {
        // Refused: the caller gets the answer, and no socket (the connection
        // closes here).
        return Ok(ClientHandshake {
            status: resp.status,
            protocol: String::new(),
            headers: resp.headers,
        });
    }
    let expected = tungstenite::handshake::derive_accept_key(key.as_bytes());
    if header(&resp.headers, "sec-websocket-accept") != Some(expected.as_str()) {
        return Err(fail("wrong Sec-WebSocket-Accept".into()));
    }
    let protocol = header(&resp.headers, "sec-websocket-protocol")
        .unwrap_or("")
        .trim()
        .to_string();
    if !protocol.is_empty() && !protocols.contains(&protocol) {
        return Err(fail(format!(
            "the server chose subprotocol \"{protocol}\", which was not offered"
        )));
    }
    ws.set_protocol(protocol.clone());
    let shared = ws.0.clone();
    glommio::spawn_local(async move {
        let cfg = CONFIG.with(|c| c.borrow().clone());
        let metrics = ShardMetrics::current().unwrap_or_default();
        // Outbound sockets close with their shard; no drain of their own.
        let drain = DrainSignal::new();
        let _ = Session::new(&conn, Role::Client, shared, &cfg, &drain, &metrics)
            .run()
            .await;
        // Dropping the connection closes it.
    })
    .detach();
    Ok(ClientHandshake {
        status: resp.status,
        protocol,
        headers: resp.headers,
    })
}
