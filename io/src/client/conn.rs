//! [`Conn`]: an outbound connection, plain or TLS, with the shape of a
//! [`Socket`] — the one connection type the HTTP client, outbound WebSockets
//! and raw TCP sockets use.
//!
//! Plain, it is the socket itself (multishot receive, batched sends through
//! the ring, FIN/RST seen at once). With TLS, the same calls go through a
//! TLS session that decrypts into its own buffer and encrypts into sends.

use std::cell::RefMut;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_lite::FutureExt;
use rustls::ClientConfig;

use super::FetchError;
use super::dns::Resolver;
use super::tls::{self, TlsSession};
use crate::socket::Socket;
use crate::uring::{NetRing, RecvEnd};

/// An outbound connection, plain or TLS.
///
/// Its methods mirror [`Socket`]'s and take `&self`, so one task may read and
/// write it from two joined futures. Dropping it closes it at once (both
/// directions shut down): the peer sees the end within a driver round.
#[derive(Debug)]
pub struct Conn {
    sock: Socket,
    tls: Option<Box<TlsSession>>,
    /// The configuration [`start_tls`](Self::start_tls) uses, and its deadline.
    tls_config: Arc<ClientConfig>,
    handshake_timeout: Duration,
}

impl Conn {
    /// A plain connection over `sock`.
    pub(crate) fn plain(
        sock: Socket,
        tls_config: Arc<ClientConfig>,
        handshake_timeout: Duration,
    ) -> Self {
        Self {
            sock,
            tls: None,
            tls_config,
            handshake_timeout,
        }
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.peer_addr()
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// Whether the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The protocol the server chose by ALPN, if TLS and it chose one.
    pub fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.tls.as_ref().and_then(|t| t.alpn())
    }

    /// The received plaintext not yet consumed: split off what you use. Do
    /// not hold across an `.await`.
    pub fn rbuf(&self) -> RefMut<'_, BytesMut> {
        match &self.tls {
            None => self.sock.rbuf(),
            Some(t) => t.plain(),
        }
    }

    /// Waits for more received bytes; `want` false pauses receiving
    /// (backpressure reaches the peer's TCP window).
    ///
    /// Ready when the receive side ended, or (TLS) when this call decrypted
    /// more plaintext into [`rbuf`](Self::rbuf); otherwise the task is woken
    /// when bytes arrive. As with [`Socket::poll_recv`], compare
    /// `rbuf().len()` with what you saw, and check [`recv_end`](Self::recv_end).
    pub fn poll_recv(&self, cx: &mut Context<'_>, want: bool) -> Poll<()> {
        let Some(t) = &self.tls else {
            return self.sock.poll_recv(cx, want);
        };
        let added = t.decrypt(&self.sock);
        if t.end().is_some() {
            return Poll::Ready(());
        }
        let ended = self.sock.poll_recv(cx, want).is_ready();
        if ended {
            // Whatever arrived with the end, and the end itself.
            t.decrypt(&self.sock);
            return Poll::Ready(());
        }
        if added {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// How the receive side ended (FIN, close_notify, a reset or a TLS
    /// error), if it did. See [`tls_error`](Self::tls_error) for the latter.
    pub fn recv_end(&self) -> Option<RecvEnd> {
        match &self.tls {
            None => self.sock.recv_end(),
            Some(t) => t.end().or_else(|| {
                // Not yet seen by a `poll_recv`: the socket's end counts once
                // every byte before it was decrypted.
                if self.sock.rbuf().is_empty() {
                    self.sock.recv_end()
                } else {
                    None
                }
            }),
        }
    }

    /// Why the TLS layer failed, if it did (a bad record, an alert).
    pub fn tls_error(&self) -> Option<String> {
        self.tls.as_ref().and_then(|t| t.error())
    }

    /// Queues `head` then `chunks` (plaintext; chunked framing if `chunked`)
    /// to be sent after earlier sends; `head` is left empty for reuse.
    /// Plain: the chunks are sent from their own buffers (no copy). Returns
    /// the plaintext bytes queued.
    pub fn send(&self, head: &mut Vec<u8>, chunks: &[Bytes], chunked: bool) -> usize {
        match &self.tls {
            None => self.sock.send(head, chunks, chunked),
            Some(t) => t.send(&self.sock, head, chunks, chunked),
        }
    }

    /// Ready once at most `max_queued` sends are queued, or with the error
    /// that failed one.
    pub fn poll_sent(&self, cx: &mut Context<'_>, max_queued: usize) -> Poll<io::Result<()>> {
        self.sock.poll_sent(cx, max_queued)
    }

    /// Sends everything queued, then ends the write side: TLS sends
    /// close_notify first, then FIN.
    ///
    /// # Errors
    /// The error that failed a queued send.
    pub async fn shutdown_write(&self) -> io::Result<()> {
        if let Some(t) = &self.tls {
            t.close_notify(&self.sock);
        }
        // A FIN now would overtake sends still queued in the ring.
        poll_fn(|cx| self.sock.poll_sent(cx, 0)).await?;
        self.sock.shutdown_write();
        Ok(())
    }

    /// The sends queued on the socket (the one in flight included) and the
    /// bytes they have left (encrypted bytes, for TLS).
    pub fn queued(&self) -> (usize, usize) {
        self.sock.queued()
    }

    /// Frees buffer capacity an idle long-lived connection does not need.
    pub fn shrink_buffers(&self) {
        self.sock.shrink_buffers();
    }

    /// Upgrades a plain connection to TLS in place (the `cloudflare:sockets`
    /// `startTls()`), verifying the server's certificate for `server_name`.
    /// Bytes already received stay and are read as ciphertext.
    ///
    /// # Errors
    /// [`FetchError::Tls`] if it already is TLS, the name is invalid or the
    /// handshake fails; [`FetchError::ConnectTimeout`] after the client's
    /// connect timeout.
    pub async fn start_tls(mut self, server_name: &str) -> Result<Conn, FetchError> {
        let peer = self.peer_text();
        let tls_err = |reason: String| FetchError::Tls {
            addr: peer.clone(),
            reason,
        };
        if self.tls.is_some() {
            return Err(tls_err("the connection already uses TLS".into()));
        }
        let name = tls::server_name(server_name).map_err(&tls_err)?;
        let session = TlsSession::new(self.tls_config.clone(), name).map_err(&tls_err)?;
        let timeout = self.handshake_timeout;
        handshake_within(
            &self.sock,
            &session,
            &peer,
            Instant::now() + timeout,
            timeout,
        )
        .await?;
        self.tls = Some(Box::new(session));
        Ok(self)
    }

    /// Closes both directions at once (also what dropping does).
    pub(crate) fn abort(&self) {
        self.sock.abort();
    }

    /// Whether a pooled connection can carry another request: the server
    /// has not closed it and sent nothing unasked.
    pub(crate) fn is_reusable(&self) -> bool {
        if let Some(t) = &self.tls {
            // Records that carry no data (a TLS 1.3 session ticket) may have
            // arrived since: they do not make it unusable.
            t.decrypt(&self.sock);
        }
        self.recv_end().is_none() && self.rbuf().is_empty() && self.sock.rbuf().is_empty()
    }

    fn peer_text(&self) -> String {
        self.sock
            .peer_addr()
            .map_or_else(|_| "the server".to_string(), |a| a.to_string())
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.abort();
    }
}

async fn handshake_within(
    sock: &Socket,
    session: &TlsSession,
    peer: &str,
    deadline: Instant,
    timeout: Duration,
) -> Result<(), FetchError> {
    let handshake = async {
        session
            .handshake(sock)
            .await
            .map_err(|reason| FetchError::Tls {
                addr: peer.to_string(),
                reason,
            })
    };
    handshake
        .or(async {
            glommio::timer::sleep(deadline.saturating_duration_since(Instant::now())).await;
            Err(FetchError::ConnectTimeout {
                addr: peer.to_string(),
                after: timeout,
            })
        })
        .await
}

/// Where to connect and how.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub host: &'a str,
    pub port: u16,
    /// TLS with this configuration (and `host` as the server name).
    pub tls: Option<&'a Arc<ClientConfig>>,
}

/// Resolves, connects and (for TLS) handshakes, all within `timeout`.
/// Addresses are tried in order; the first one's failure is reported if all fail.
pub(crate) async fn connect(
    ring: &Rc<NetRing>,
    resolver: &Resolver,
    target: Target<'_>,
    raw_tls: &Arc<ClientConfig>,
    timeout: Duration,
) -> Result<Conn, FetchError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let addrs = async {
        resolver
            .resolve(target.host, target.port)
            .await
            .map_err(FetchError::Dns)
    }
    .or(async {
        glommio::timer::sleep(timeout).await;
        Err(FetchError::Dns(super::dns::DnsError {
            host: target.host.to_string(),
            reason: format!("timed out after {timeout:?}"),
        }))
    })
    .await?;
    let mut first_err = None;
    let mut sock = None;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = async { Some(Socket::connect(ring, addr).await) }
            .or(async {
                glommio::timer::sleep(left).await;
                None
            })
            .await;
        match attempt {
            Some(Ok(s)) => {
                sock = Some(s);
                break;
            }
            Some(Err(e)) => {
                let err = if e.kind() == io::ErrorKind::ConnectionRefused {
                    FetchError::Refused(addr)
                } else {
                    FetchError::Connect {
                        addr,
                        reason: e.to_string(),
                    }
                };
                first_err.get_or_insert(err);
            }
            None => {
                return Err(first_err.unwrap_or(FetchError::ConnectTimeout {
                    addr: addr.to_string(),
                    after: timeout,
                }));
            }
        }
    }
    let Some(sock) = sock else {
        return Err(first_err.unwrap_or_else(|| FetchError::Io("no address to connect to".into())));
    };
    let mut conn = Conn::plain(sock, raw_tls.clone(), timeout);
    if let Some(config) = target.tls {
        let peer = conn.peer_text();
        let tls_err = |reason: String| FetchError::Tls {
            addr: peer.clone(),
            reason,
        };
        let name = tls::server_name(target.host).map_err(tls_err)?;
        let session = TlsSession::new(config.clone(), name).map_err(tls_err)?;
        handshake_within(&conn.sock, &session, &peer, deadline, timeout).await?;
        conn.tls = Some(Box::new(session));
    }
    Ok(conn)
}
