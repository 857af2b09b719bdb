//! TLS for outbound connections with rustls, as a thin layer over a
//! [`Socket`]: ciphertext the ring received is fed to rustls from the
//! socket's buffer and the plaintext lands in the session's own buffer;
//! plaintext to send is encrypted into one buffer handed to the ring.
//!
//! The client configurations (roots, ALPN) are built once per shard
//! ([`TlsConfigs::load`]); a session ([`TlsSession`]) per connection.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Arc;
use std::task::Poll;

use bytes::{Buf, Bytes, BytesMut};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use super::ClientError;
use crate::socket::Socket;
use crate::uring::RecvEnd;

/// A shard's TLS client configurations: one offering `http/1.1` by ALPN (for
/// `https://` and `wss://`), one offering nothing (for raw sockets'
/// `startTls()`), with the same roots.
#[derive(Debug, Clone)]
pub(crate) struct TlsConfigs {
    pub(crate) http: Arc<ClientConfig>,
    pub(crate) raw: Arc<ClientConfig>,
}

impl TlsConfigs {
    /// Trusts the webpki roots plus every certificate in `extra_ca_file`.
    /// (Reads the file synchronously: once per shard, at its first fetch.)
    pub(crate) fn load(extra_ca_file: Option<&Path>) -> Result<Self, ClientError> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = extra_ca_file {
            let ca_err = |reason: String| ClientError::CaFile {
                path: path.display().to_string(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| ca_err(format!("bad PEM: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| ca_err(format!("bad certificate: {e}")))?;
                added += 1;
            }
            if added == 0 {
                return Err(ca_err("no certificates in it".into()));
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let raw = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = raw.clone();
        http.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            http: Arc::new(http),
            raw: Arc::new(raw),
        })
    }
}

/// The name a certificate must match: an IP address (brackets stripped) or
/// a DNS name.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(bare.to_string()).map_err(|e| format!("invalid server name {host:?}: {e}"))
}

/// One connection's TLS state. Its methods take `&self` (like [`Socket`]'s),
/// so a reader and a writer in one task can share the connection.
pub(crate) struct TlsSession {
    session: RefCell<ClientConnection>,
    /// Plaintext received and not yet consumed.
    plain: RefCell<BytesMut>,
    /// The plaintext side ended: close_notify, a TLS error, or the socket's end.
    end: Cell<Option<RecvEnd>>,
    error: RefCell<Option<String>>,
    /// Ciphertext to send (a buffer the ring hands back emptied).
    out: RefCell<Vec<u8>>,
}

impl std::fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSession")
            .field("end", &self.end.get())
            .field("plain", &self.plain.borrow().len())
            .finish()
    }
}

impl TlsSession {
    pub(crate) fn new(
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<Self, String> {
        let mut session = ClientConnection::new(config, name).map_err(|e| e.to_string())?;
        // The ring's send queue and the callers' waits on it bound what is
        // buffered; rustls must not refuse plaintext on top of that.
        session.set_buffer_limit(None);
        Ok(Self {
            session: RefCell::new(session),
            plain: RefCell::new(BytesMut::new()),
            end: Cell::new(None),
            error: RefCell::new(None),
            out: RefCell::new(Vec::new()),
        })
    }

    pub(crate) fn plain(&self) -> std::cell::RefMut<'_, BytesMut> {
        self.plain.borrow_mut()
    }

    pub(crate) fn end(&self) -> Option<RecvEnd> {
        self.end.get()
    }

    pub(crate) fn error(&self) -> Option<String> {
        self.error.borrow().clone()
    }

    pub(crate) fn alpn(&self) -> Option<Vec<u8>> {
        self.session.borrow().alpn_protocol().map(<[u8]>::to_vec)
    }

    /// Runs the ciphertext received so far through rustls, appending the
    /// plaintext to [`plain`](Self::plain). Returns whether plaintext was added.
    pub(crate) fn decrypt(&self, sock: &Socket) -> bool {
        let mut added = false;
        if self.end.get().is_none() {
            let mut tls = self.session.borrow_mut();
            loop {
                let mut rbuf = sock.rbuf();
                if rbuf.is_empty() {
                    break;
                }
                let mut input: &[u8] = &rbuf;
                let n = match tls.read_tls(&mut input) {
                    Ok(n) => n,
                    Err(e) => {
                        self.fail(format!("TLS receive failed: {e}"));
                        break;
                    }
                };
                rbuf.advance(n);
                drop(rbuf);
                match tls.process_new_packets() {
                    Ok(state) => {
                        let mut plain = self.plain.borrow_mut();
                        let mut reader = tls.reader();
                        loop {
                            match reader.fill_buf() {
                                Ok([]) => {
                                    // A clean close_notify.
                                    self.end.set(Some(RecvEnd::Eof));
                                    break;
                                }
                                Ok(bytes) => {
                                    let len = bytes.len();
                                    plain.extend_from_slice(bytes);
                                    reader.consume(len);
                                    added = true;
                                }
                                Err(_) => break, // no more for now
                            }
                        }
                        if state.peer_has_closed() {
                            self.end.set(Some(RecvEnd::Eof));
                        }
                    }
                    Err(e) => {
                        self.fail(e.to_string());
                        break;
                    }
                }
                if n == 0 || self.end.get().is_some() {
                    break;
                }
            }
            drop(tls);
            // Alerts, and answers rustls owes the peer (key updates).
            self.flush(sock);
        }
        if self.end.get().is_none() && sock.rbuf().is_empty() {
            // Every byte the socket got went through rustls: its end is ours.
            // (A close without close_notify counts as a close: many servers
            // skip it, and HTTP framing catches a truncated body anyway.)
            if let Some(e) = sock.recv_end() {
                self.end.set(Some(e));
            }
        }
        added
    }

    fn fail(&self, reason: String) {
        self.error.borrow_mut().get_or_insert(reason);
        self.end.set(Some(RecvEnd::Error(libc::EPROTO)));
    }

    /// Hands whatever rustls has to send to the socket; returns the bytes.
    pub(crate) fn flush(&self, sock: &Socket) -> usize {
        let mut tls = self.session.borrow_mut();
        let mut out = self.out.borrow_mut();
        while tls.wants_write() {
            match tls.write_tls(&mut *out) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        if out.is_empty() {
            0
        } else {
            sock.send(&mut out, &[], false)
        }
    }

    /// Encrypts `head` then `chunks` (chunked framing if `chunked`) and
    /// queues the records; `head` is left empty. Returns plaintext bytes.
    pub(crate) fn send(
        &self,
        sock: &Socket,
        head: &mut Vec<u8>,
        chunks: &[Bytes],
        chunked: bool,
    ) -> usize {
        let mut n = head.len();
        {
            let mut tls = self.session.borrow_mut();
            let mut w = tls.writer();
            // With no buffer limit these writes take everything.
            let _ = w.write_all(head);
            head.clear();
            let mut line = [0u8; 18];
            for c in chunks {
                if chunked {
                    let l = crate::http::chunked::write_chunk_header(c.len(), &mut line);
                    let _ = w.write_all(&line[..l]);
                }
                let _ = w.write_all(c);
                if chunked {
                    let _ = w.write_all(crate::http::chunked::CHUNK_TRAILER);
                }
                n += c.len();
            }
        }
        self.flush(sock);
        n
    }

    /// Queues a close_notify alert.
    pub(crate) fn close_notify(&self, sock: &Socket) {
        self.session.borrow_mut().send_close_notify();
        self.flush(sock);
    }

    /// Runs the handshake to its end.
    pub(crate) async fn handshake(&self, sock: &Socket) -> Result<(), String> {
        loop {
            self.flush(sock);
            if let Some(e) = self.error() {
                return Err(e);
            }
            if !self.session.borrow().is_handshaking() {
                return Ok(());
            }
            match self.end.get() {
                Some(RecvEnd::Eof) => {
                    return Err("the server closed the connection during the handshake".into());
                }
                Some(RecvEnd::Error(e)) => {
                    return Err(format!(
                        "the connection failed during the handshake: {}",
                        std::io::Error::from_raw_os_error(e)
                    ));
                }
                None => {}
            }
            poll_fn(|cx| {
                if !sock.rbuf().is_empty() || sock.poll_recv(cx, true).is_ready() {
                    return Poll::Ready(());
                }
                if sock.rbuf().is_empty() {
                    Poll::Pending
                } else {
                    Poll::Ready(())
                }
            })
            .await;
            self.decrypt(sock);
        }
    }
}
