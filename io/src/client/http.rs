//! One HTTP/1.1 exchange on an outbound connection.
//!
//! [`send`] checks the request, then runs the exchange as its own task
//! ([`run`]), which owns the connection from connect to pool (or close):
//! - the **writer** sends the head (with a whole body in the same send), then
//!   a streaming body chunk by chunk, pulling the next chunks only once the
//!   ring has (nearly) sent the previous ones;
//! - the **reader**, concurrently (a server may answer before it read the
//!   whole body, or echo it as it reads), parses the head, skips 1xx, hands
//!   the response to `send`'s caller, then feeds the body to its consumer as
//!   the consumer asks: chunks are split off the receive buffer without a
//!   copy, and receiving stops while the consumer's queue is full.
//!
//! Invariants:
//! 1. The connection goes back to the pool only when the response ended
//!    cleanly, both sides allow keep-alive, every send completed and
//!    nothing unasked was received.
//! 2. An abandoned body, a cancel, the total timeout or any failure closes
//!    the connection at once (dropped, both directions shut down), never
//!    drains it: the upstream sees the end within a driver round.
//! 3. A request on a pooled connection that ends before any response byte
//!    is retried once on a new connection, if its method is idempotent and
//!    its body replayable: a stale pooled connection never fails a request.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_lite::FutureExt;
use ringworker_core::CancelFlag;

use super::conn::{self, Conn, Target};
use super::pool::Origin;
use super::{Client, FetchError, OutboundBody, OutboundRequest, OutboundResponse, ResponseHead};
use crate::http::chunked::{self, ChunkedDecoder, Decoded};
use crate::http::head_writer::{is_valid_header_name, is_valid_header_value};
use crate::http::request::BodyShared;
use crate::http::{Body, BodyError};
use crate::uring::RecvEnd;

/// Response body bytes queued for the consumer before receiving stops.
const BODY_WINDOW: usize = 64 * 1024;
/// Whole request bodies up to this size are copied next to the head (one
/// buffer beats an extra iovec); larger ones are sent from their own.
const COPY_BODY_MAX: usize = 4 * 1024;
/// Streaming request chunks gathered into one send, at most.
const GATHER_CHUNKS: usize = 16;
const GATHER_BYTES: usize = 256 * 1024;
/// Header fields parsed in a response head, at most.
const MAX_RESPONSE_HEADERS: usize = 128;

/// A checked request, its head serialized.
struct Prepared {
    origin: Origin,
    /// `scheme://host[:port]`, for messages.
    origin_text: String,
    head: Vec<u8>,
    body: OutboundBody,
    is_head: bool,
    /// The caller did not ask `Connection: close`.
    keep_alive: bool,
    /// Idempotent with an empty or whole body: safe to send twice.
    replayable: bool,
    cancel: Option<CancelFlag>,
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && is_valid_header_name(s.as_bytes())
}

fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

fn prepare(req: OutboundRequest) -> Result<Prepared, FetchError> {
    let url = &req.url;
    let tls = match url.scheme() {
        "http" => false,
        "https" => true,
        other => return Err(FetchError::Unsupported(other.to_string())),
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| FetchError::InvalidRequest(format!("{url} has no host")))?;
    let port = url
        .port_or_known_default()
        .unwrap_or(if tls { 443 } else { 80 });
    if !is_token(&req.method) {
        return Err(FetchError::InvalidRequest(format!(
            "invalid method {:?}",
            req.method
        )));
    }
    let method = req.method.as_str();
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(method.as_bytes());
    head.push(b' ');
    head.extend_from_slice(url.path().as_bytes());
    if let Some(q) = url.query() {
        head.push(b'?');
        head.extend_from_slice(q.as_bytes());
    }
    head.extend_from_slice(b" HTTP/1.1\r\n");
    let mut keep_alive = true;
    let mut has_host = false;
    for (name, value) in &req.headers {
        if !is_token(name) || !is_valid_header_value(value.as_bytes()) {
            return Err(FetchError::InvalidRequest(format!(
                "invalid header {name:?}: {value:?}"
            )));
        }
        if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            continue; // the body decides the framing
        }
        if name.eq_ignore_ascii_case("host") {
            has_host = true;
        }
        if name.eq_ignore_ascii_case("connection") && has_token(value, "close") {
            keep_alive = false;
        }
        head.extend_from_slice(name.as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if !has_host {
        head.extend_from_slice(b"host: ");
        head.extend_from_slice(host.as_bytes());
        if let Some(p) = url.port() {
            head.push(b':');
            head.extend_from_slice(itoa::Buffer::new().format(p).as_bytes());
        }
        head.extend_from_slice(b"\r\n");
    }
    let length = match &req.body {
        OutboundBody::Empty => matches!(method, "POST" | "PUT" | "PATCH").then_some(0),
        OutboundBody::Full(b) => Some(b.len() as u64),
        OutboundBody::Stream { length, .. } => *length,
    };
    match (length, &req.body) {
        (Some(n), _) => {
            head.extend_from_slice(b"content-length: ");
            head.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        (None, OutboundBody::Stream { .. }) => {
            head.extend_from_slice(b"transfer-encoding: chunked\r\n")
        }
        (None, _) => {}
    }
    head.extend_from_slice(b"\r\n");
    let idempotent = matches!(
        method,
        "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
    );
    let replayable = idempotent && !matches!(req.body, OutboundBody::Stream { .. });
    let default_port = if tls { 443 } else { 80 };
    let origin_text = if port == default_port {
        format!("{}://{host}", url.scheme())
    } else {
        format!("{}://{host}:{port}", url.scheme())
    };
    Ok(Prepared {
        origin: Origin {
            tls,
            host: host.to_string(),
            port,
        },
        origin_text,
        head,
        is_head: method == "HEAD",
        keep_alive,
        replayable,
        body: req.body,
        cancel: req.cancel,
    })
}

// ---------------------------------------------------------------------------
// The response head
// ---------------------------------------------------------------------------

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    Close,
}

#[derive(Debug)]
struct Head {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    framing: Framing,
    keep_alive: bool,
}

/// Parses a response head at the start of `buf`: `Ok(None)` if incomplete,
/// else the head and its length.
fn parse_head(
    buf: &[u8],
    limit: usize,
    is_head: bool,
    origin: &str,
) -> Result<Option<(Head, usize)>, FetchError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut resp = httparse::Response::new(&mut fields);
    let malformed = |reason: String| FetchError::Malformed {
        origin: origin.to_string(),
        reason,
    };
    let parsed = httparse::ParserConfig::default()
        .allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .parse_response(&mut resp, buf);
    let len = match parsed {
        Ok(httparse::Status::Complete(n)) if n > limit => {
            return Err(FetchError::HeadTooLarge(limit));
        }
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > limit => {
            return Err(FetchError::HeadTooLarge(limit));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            // Too large wins over too many; and a head not yet complete may
            // still turn out too large.
            if buf.len() > limit {
                return Err(FetchError::HeadTooLarge(limit));
            }
            if !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                return Ok(None);
            }
            return Err(malformed(format!(
                "more than {MAX_RESPONSE_HEADERS} header fields"
            )));
        }
        Err(e) => return Err(malformed(e.to_string())),
    };
    let status = resp.code.unwrap_or(0);
    let http11 = resp.version == Some(1);
    let mut headers = Vec::with_capacity(resp.headers.len());
    let mut length: Option<u64> = None;
    let mut chunked = None;
    let mut keep_alive = http11;
    for h in resp.headers.iter() {
        let value = String::from_utf8_lossy(h.value).into_owned();
        if h.name.eq_ignore_ascii_case("content-length") {
            for v in value.split(',') {
                let n: u64 = v
                    .trim()
                    .parse()
                    .map_err(|_| malformed(format!("invalid content-length {value:?}")))?;
                if length.is_some_and(|l| l != n) {
                    return Err(malformed("conflicting content-length values".into()));
                }
                length = Some(n);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Only a final `chunked` delimits the body; any other coding
            // runs to the close.
            let last = value.rsplit(',').next().unwrap_or("").trim();
            chunked = Some(last.eq_ignore_ascii_case("chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            if has_token(&value, "close") {
                keep_alive = false;
            } else if has_token(&value, "keep-alive") {
                keep_alive = true;
            }
        }
        headers.push((h.name.to_string(), value));
    }
    let framing = if is_head || (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::None
    } else if let Some(chunked) = chunked {
        if chunked {
            Framing::Chunked
        } else {
            Framing::Close
        }
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::Close
    };
    if framing == Framing::Close {
        keep_alive = false;
    }
    Ok(Some((
        Head {
            status,
            reason: resp.reason.unwrap_or("").to_string(),
            headers,
            framing,
            keep_alive,
        },
        len,
    )))
}

/// Why no head was read.
enum HeadFail {
    /// The connection ended before any response byte.
    Silent(RecvEnd),
    Fetch(FetchError),
}

/// Waits until `conn` has bytes beyond the `seen` ones, or its receive side
/// ended (checked by the caller with `recv_end`).
async fn more_bytes(conn: &Conn, seen: usize) {
    poll_fn(|cx| {
        if conn.rbuf().len() > seen
            || conn.poll_recv(cx, true).is_ready()
            || conn.rbuf().len() > seen
        {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await
}

fn end_text(conn: &Conn, end: RecvEnd) -> String {
    match (end, conn.tls_error()) {
        (_, Some(e)) => format!("TLS error: {e}"),
        (RecvEnd::Eof, None) => "end of stream".into(),
        (RecvEnd::Error(e), None) => std::io::Error::from_raw_os_error(e).to_string(),
    }
}

/// Reads the final response head (1xx other than 101 skipped), leaving the
/// bytes after it in `conn.rbuf()`.
async fn read_head(
    conn: &Conn,
    limit: usize,
    is_head: bool,
    origin: &str,
) -> Result<Head, HeadFail> {
    let mut any = false;
    loop {
        let seen = {
            let mut rbuf = conn.rbuf();
            if !rbuf.is_empty() {
                any = true;
            }
            match parse_head(&rbuf, limit, is_head, origin).map_err(HeadFail::Fetch)? {
                Some((head, len)) => {
                    rbuf.advance(len);
                    if (100..200).contains(&head.status) && head.status != 101 {
                        continue; // 100 Continue, 103 Early Hints: the real one follows
                    }
                    return Ok(head);
                }
                None => rbuf.len(),
            }
        };
        if let Some(end) = conn.recv_end() {
            if !any {
                return Err(HeadFail::Silent(end));
            }
            return Err(HeadFail::Fetch(FetchError::Closed {
                origin: origin.to_string(),
                reason: format!("{} in the middle of the head", end_text(conn, end)),
            }));
        }
        more_bytes(conn, seen).await;
    }
}

// ---------------------------------------------------------------------------
// The exchange
// ---------------------------------------------------------------------------

/// Where `send` waits for the response head: filled by the exchange task.
#[derive(Default)]
struct HeadSlot {
    result: RefCell<Option<Result<OutboundResponse, FetchError>>>,
    delivered: Cell<bool>,
    /// `send`'s future went away.
    gone: Cell<bool>,
    waiter: RefCell<Option<Waker>>,
    task: RefCell<Option<Waker>>,
}

impl HeadSlot {
    fn deliver(&self, r: Result<OutboundResponse, FetchError>) {
        if self.delivered.replace(true) {
            return;
        }
        if self.gone.get() {
            return; // dropped here: an unread body is abandoned
        }
        *self.result.borrow_mut() = Some(r);
        if let Some(w) = self.waiter.borrow_mut().take() {
            w.wake();
        }
    }
}

/// `send`'s side of the slot.
struct Receiver(Rc<HeadSlot>);

impl Future for Receiver {
    type Output = Result<OutboundResponse, FetchError>;
    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        if let Some(r) = self.0.result.borrow_mut().take() {
            return Poll::Ready(r);
        }
        *self.0.waiter.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.0.gone.set(true);
        // A response not taken goes now, so its body counts as abandoned.
        drop(self.0.result.borrow_mut().take());
        if let Some(w) = self.0.task.borrow_mut().take() {
            w.wake();
        }
    }
}

pub(super) async fn send(
    client: &Rc<Client>,
    req: OutboundRequest,
) -> Result<OutboundResponse, FetchError> {
    let p = prepare(req)?;
    if p.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
        return Err(FetchError::Aborted);
    }
    let slot = Rc::new(HeadSlot::default());
    glommio::spawn_local(run(client.clone(), p, slot.clone())).detach();
    Receiver(slot).await
}

/// What ended an exchange from outside.
enum Abort {
    Cancelled,
    Timeout(Duration),
    /// `send`'s caller dropped its future before the head.
    Gone,
}

/// Resolves when the request's flag is cancelled, its total time is up, or
/// (with a slot) the caller no longer waits for the head.
async fn aborted(
    cancel: Option<&CancelFlag>,
    total: Option<Duration>,
    slot: Option<&HeadSlot>,
) -> Abort {
    let by_cancel = async {
        match cancel {
            Some(c) => {
                c.cancelled().await;
                Abort::Cancelled
            }
            None => std::future::pending().await,
        }
    };
    let by_time = async {
        match total {
            Some(t) => {
                glommio::timer::sleep(t).await;
                Abort::Timeout(t)
            }
            None => std::future::pending().await,
        }
    };
    let by_caller = poll_fn(|cx| match slot {
        Some(s) if s.gone.get() && !s.delivered.get() => Poll::Ready(Abort::Gone),
        Some(s) => {
            *s.task.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
        None => Poll::Pending,
    });
    by_cancel.or(by_time).or(by_caller).await
}

/// The exchange task.
async fn run(client: Rc<Client>, mut p: Prepared, slot: Rc<HeadSlot>) {
    let body: RefCell<Option<Rc<BodyShared>>> = RefCell::new(None);
    let cancel = p.cancel.take();
    let total = client.cfg.total_timeout;
    let outcome = async {
        exchange(&client, &mut p, &slot, &body).await;
        None
    }
    .or(async { Some(aborted(cancel.as_ref(), total, Some(&slot)).await) })
    .await;
    // (The exchange's future is gone, and its connection with it: closed.)
    let Some(abort) = outcome else {
        // Every way out of `exchange` answers `send`; this only guards it
        // from waiting forever should one not.
        slot.deliver(Err(FetchError::Io(
            "the exchange ended without a response".into(),
        )));
        return;
    };
    let (fetch_err, body_err) = match abort {
        Abort::Gone => return,
        Abort::Cancelled => (
            FetchError::Aborted,
            BodyError::Stream("The operation was aborted".into()),
        ),
        Abort::Timeout(t) => (FetchError::Timeout(t), BodyError::Timeout),
    };
    if !slot.delivered.get() {
        slot.deliver(Err(fetch_err));
    } else if let Some(b) = body.borrow().as_ref() {
        b.fail(body_err);
    }
}

/// How one attempt on one connection ended.
enum Attempt {
    /// The response ended cleanly: the connection may be pooled.
    Reuse,
    /// Done (or failed after the head): close the connection.
    Close,
    /// Failed before the head.
    Failed(FetchError),
    /// A pooled connection ended before any response byte.
    Stale(FetchError),
}

async fn exchange(
    client: &Rc<Client>,
    p: &mut Prepared,
    slot: &HeadSlot,
    body: &RefCell<Option<Rc<BodyShared>>>,
) {
    let mut retried = false;
    loop {
        let (conn, reused) = match checkout(client, p).await {
            Ok(c) => c,
            Err(e) => return slot.deliver(Err(e)),
        };
        let may_retry = reused && p.replayable && !retried;
        let head_copy = may_retry.then(|| p.head.clone());
        match attempt(client, &conn, reused, p, slot, body).await {
            Attempt::Reuse => {
                client.pool.put(p.origin.clone(), conn);
                return;
            }
            Attempt::Close => return,
            Attempt::Stale(_) if may_retry => {
                tracing::debug!(origin = %p.origin_text, "pooled connection was stale; retrying on a new one");
                drop(conn);
                p.head = head_copy.unwrap_or_default();
                client.retries.set(client.retries.get() + 1);
                client.count(|c| c.retries += 1);
                retried = true;
            }
            Attempt::Stale(e) | Attempt::Failed(e) => {
                if slot.delivered.get() {
                    if let Some(b) = body.borrow().as_ref() {
                        b.fail(BodyError::Stream(e.to_string()));
                    }
                } else {
                    slot.deliver(Err(e));
                }
                return;
            }
        }
    }
}

/// A pooled connection to the origin, or a new one.
async fn checkout(client: &Client, p: &Prepared) -> Result<(Conn, bool), FetchError> {
    if let Some(c) = client.pool.take(&p.origin) {
        client.reuses.set(client.reuses.get() + 1);
        client.count(|c| c.reuses += 1);
        return Ok((c, true));
    }
    Ok((fresh_conn(client, p).await?, false))
}

/// A new connection to `p`'s origin (TLS with ALPN `http/1.1` for https),
/// counted.
async fn fresh_conn(client: &Client, p: &Prepared) -> Result<Conn, FetchError> {
    let target = Target {
        host: &p.origin.host,
        port: p.origin.port,
        tls: p.origin.tls.then_some(&client.tls.http),
    };
    let c = conn::connect(
        &client.ring,
        &client.resolver,
        target,
        &client.tls.raw,
        client.cfg.connect_timeout,
    )
    .await?;
    client.connects.set(client.connects.get() + 1);
    client.count(|c| c.connects += 1);
    Ok(c)
}

/// Queues the head, with a whole body.
fn send_head(conn: &Conn, head: &mut Vec<u8>, body: &OutboundBody) {
    match body {
        OutboundBody::Full(b) if b.len() <= COPY_BODY_MAX => {
            head.extend_from_slice(b);
            conn.send(head, &[], false);
        }
        OutboundBody::Full(b) => {
            conn.send(head, std::slice::from_ref(b), false);
        }
        _ => {
            conn.send(head, &[], false);
        }
    }
}

/// Why the writer stopped early.
enum WriteFail {
    /// The request body's stream failed or broke its declared length.
    Body(BodyError),
    /// The connection failed (the reader will see how).
    Io,
}

/// Sends a streaming body; other bodies went with the head.
async fn write_body(conn: &Conn, body: &mut OutboundBody) -> Result<(), WriteFail> {
    let OutboundBody::Stream { length, stream } = body else {
        return Ok(());
    };
    let length = *length;
    let chunked = length.is_none();
    let mut sent: u64 = 0;
    let mut batch: Vec<Bytes> = Vec::with_capacity(GATHER_CHUNKS);
    let mut empty = Vec::new();
    let mut ended = false;
    while !ended {
        // One send in flight at most while the producer makes the next: the
        // producer runs no further ahead of the socket than that.
        poll_fn(|cx| conn.poll_sent(cx, 1))
            .await
            .map_err(|_| WriteFail::Io)?;
        let first = poll_fn(|cx| stream.as_mut().poll_next(cx)).await;
        let mut next = Some(first);
        let mut bytes = 0;
        // Whatever else is ready goes in the same send.
        while let Some(item) = next.take() {
            match item {
                Some(Ok(c)) => {
                    sent += c.len() as u64;
                    if length.is_some_and(|n| sent > n) {
                        return Err(WriteFail::Body(BodyError::Stream(
                            "request body longer than its content-length".into(),
                        )));
                    }
                    if !c.is_empty() {
                        bytes += c.len();
                        batch.push(c);
                    }
                }
                Some(Err(e)) => return Err(WriteFail::Body(e)),
                None => {
                    ended = true;
                    break;
                }
            }
            if batch.len() >= GATHER_CHUNKS || bytes >= GATHER_BYTES {
                break;
            }
            next =
                futures_lite::future::poll_once(poll_fn(|cx| stream.as_mut().poll_next(cx))).await;
        }
        if !batch.is_empty() {
            conn.send(&mut empty, &batch, chunked);
            batch.clear();
        }
        if ended {
            if length.is_some_and(|n| sent != n) {
                return Err(WriteFail::Body(BodyError::Stream(
                    "request body shorter than its content-length".into(),
                )));
            }
            if chunked {
                empty.extend_from_slice(chunked::LAST_CHUNK);
                conn.send(&mut empty, &[], false);
            }
        }
    }
    poll_fn(|cx| conn.poll_sent(cx, 0))
        .await
        .map_err(|_| WriteFail::Io)
}

/// What the reader needs of the request.
struct ReadCtx<'a> {
    origin_text: &'a str,
    is_head: bool,
    keep_alive: bool,
    limit: usize,
    reused: bool,
    /// `send`'s caller takes the response here.
    slot: &'a HeadSlot,
    body: &'a RefCell<Option<Rc<BodyShared>>>,
}

/// Reads the response: head (delivered to the caller), then the body.
async fn read_response(conn: &Conn, cx: ReadCtx<'_>) -> Attempt {
    let head = match read_head(conn, cx.limit, cx.is_head, cx.origin_text).await {
        Ok(h) => h,
        Err(HeadFail::Fetch(e)) => return Attempt::Failed(e),
        Err(HeadFail::Silent(end)) => {
            let e = FetchError::Closed {
                origin: cx.origin_text.to_string(),
                reason: end_text(conn, end),
            };
            return if cx.reused {
                Attempt::Stale(e)
            } else {
                Attempt::Failed(e)
            };
        }
    };
    let keep_alive = head.keep_alive && cx.keep_alive;
    let (body, decoder) = match head.framing {
        Framing::None | Framing::Length(0) => (Body::empty(), None),
        f => {
            let shared = BodyShared::new(false);
            let (length, dec) = match f {
                Framing::Length(n) => (Some(n), BodyDecoder::Length(n)),
                Framing::Chunked => (None, BodyDecoder::Chunked(Box::default())),
                _ => (None, BodyDecoder::Close),
            };
            *cx.body.borrow_mut() = Some(shared.clone());
            (Body::streaming(shared.clone(), length), Some((shared, dec)))
        }
    };
    let status = head.status;
    cx.slot.deliver(Ok(OutboundResponse {
        status,
        reason: head.reason,
        headers: head.headers,
        body,
        conn_reused: cx.reused,
    }));
    if status == 101 {
        return Attempt::Close; // `send` does not upgrade: see `upgrade`
    }
    match decoder {
        None => {
            if keep_alive {
                Attempt::Reuse
            } else {
                Attempt::Close
            }
        }
        Some((shared, dec)) => {
            if pump_body(conn, &shared, dec).await && keep_alive {
                Attempt::Reuse
            } else {
                Attempt::Close
            }
        }
    }
}

/// One attempt: send the request, read the response, both at once.
async fn attempt(
    client: &Client,
    conn: &Conn,
    reused: bool,
    p: &mut Prepared,
    slot: &HeadSlot,
    body: &RefCell<Option<Rc<BodyShared>>>,
) -> Attempt {
    send_head(conn, &mut p.head, &p.body);
    let ctx = ReadCtx {
        origin_text: &p.origin_text,
        is_head: p.is_head,
        keep_alive: p.keep_alive,
        limit: client.cfg.max_response_head_bytes,
        reused,
        slot,
        body,
    };
    let mut write = pin!(write_body(conn, &mut p.body));
    let mut read = pin!(read_response(conn, ctx));
    let mut written: Option<bool> = None;
    let outcome = poll_fn(|cx| {
        if written.is_none() {
            match write.as_mut().poll(cx) {
                Poll::Ready(Err(WriteFail::Body(e))) => {
                    // The upstream waits for a body that will not come.
                    return Poll::Ready(Attempt::Failed(FetchError::RequestBody(e)));
                }
                Poll::Ready(r) => written = Some(r.is_ok()),
                Poll::Pending => {}
            }
        }
        read.as_mut().poll(cx)
    })
    .await;
    match outcome {
        // A response that ended before the request was sent: the rest of
        // the request would be read as the next one.
        Attempt::Reuse if written != Some(true) => Attempt::Close,
        other => other,
    }
}

enum BodyDecoder {
    Length(u64),
    Chunked(Box<ChunkedDecoder>),
    Close,
}

/// Feeds the response body to its consumer as it asks. Returns true when
/// the body ended cleanly by its framing (so the connection may be reused).
async fn pump_body(conn: &Conn, shared: &BodyShared, mut dec: BodyDecoder) -> bool {
    loop {
        {
            let mut rbuf = conn.rbuf();
            if shared.is_abandoned() {
                // Invariant 2: the consumer left; close, do not drain.
                return false;
            }
            while !rbuf.is_empty() && shared.queued_bytes() < BODY_WINDOW {
                match &mut dec {
                    BodyDecoder::Length(rem) => {
                        let n = (*rem).min(rbuf.len() as u64) as usize;
                        shared.push(rbuf.split_to(n).freeze());
                        *rem -= n as u64;
                        if *rem == 0 {
                            shared.finish();
                            return true;
                        }
                    }
                    BodyDecoder::Chunked(d) => match d.decode(&rbuf) {
                        Ok((used, Decoded::Data(range))) => {
                            let part = rbuf.split_to(used).freeze();
                            shared.push(part.slice(range));
                        }
                        Ok((used, Decoded::NeedMore)) => rbuf.advance(used),
                        Ok((used, Decoded::Done)) => {
                            rbuf.advance(used);
                            shared.finish();
                            return true;
                        }
                        Err(e) => {
                            shared
                                .fail(BodyError::Malformed(format!("upstream response body: {e}")));
                            return false;
                        }
                    },
                    BodyDecoder::Close => {
                        shared.push(rbuf.split().freeze());
                    }
                }
            }
        }
        if let Some(end) = conn.recv_end() {
            if conn.rbuf().is_empty() {
                match (&dec, end) {
                    (BodyDecoder::Close, RecvEnd::Eof) => shared.finish(),
                    (BodyDecoder::Close, e) => shared.fail(BodyError::Stream(format!(
                        "upstream connection failed before the body ended: {}",
                        end_text(conn, e)
                    ))),
                    _ => shared.fail(BodyError::Stream(
                        "upstream closed the connection before the body ended".into(),
                    )),
                }
                return false;
            }
        }
        poll_fn(|cx| {
            shared.set_producer(cx.waker());
            if shared.is_abandoned() {
                return Poll::Ready(());
            }
            if shared.queued_bytes() >= BODY_WINDOW {
                // Full: stop receiving (the consumer's read wakes us).
                let _ = conn.poll_recv(cx, false);
                return Poll::Pending;
            }
            if !conn.rbuf().is_empty()
                || conn.poll_recv(cx, true).is_ready()
                || !conn.rbuf().is_empty()
            {
                return Poll::Ready(());
            }
            Poll::Pending
        })
        .await;
    }
}

// ---------------------------------------------------------------------------
// Upgrades
// ---------------------------------------------------------------------------

pub(super) async fn upgrade(
    client: &Rc<Client>,
    req: OutboundRequest,
) -> Result<(ResponseHead, Conn), FetchError> {
    let mut p = prepare(req)?;
    if matches!(p.body, OutboundBody::Stream { .. }) {
        return Err(FetchError::InvalidRequest(
            "an upgrade request cannot stream a body".into(),
        ));
    }
    let cancel = p.cancel.take();
    if cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
        return Err(FetchError::Aborted);
    }
    let work = async {
        let conn = fresh_conn(client, &p).await?;
        send_head(&conn, &mut p.head, &p.body);
        let limit = client.cfg.max_response_head_bytes;
        let head = read_head(&conn, limit, false, &p.origin_text)
            .await
            .map_err(|e| match e {
                HeadFail::Fetch(e) => e,
                HeadFail::Silent(end) => FetchError::Closed {
                    origin: p.origin_text.clone(),
                    reason: end_text(&conn, end),
                },
            })?;
        Ok((
            ResponseHead {
                status: head.status,
                reason: head.reason,
                headers: head.headers,
            },
            conn,
        ))
    };
    let total = client.cfg.total_timeout;
    work.or(async {
        Err(match aborted(cancel.as_ref(), total, None).await {
            Abort::Timeout(t) => FetchError::Timeout(t),
            _ => FetchError::Aborted,
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: OutboundBody,
    ) -> OutboundRequest {
        OutboundRequest {
            method: method.into(),
            url: url.parse().unwrap(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body,
            cancel: None,
        }
    }

    fn head_text(p: &Prepared) -> String {
        String::from_utf8(p.head.clone()).unwrap()
    }

    #[test]
    fn request_heads() {
        let p = prepare(req(
            "GET",
            "http://example.com/a/b?x=1#frag",
            &[],
            OutboundBody::Empty,
        ))
        .unwrap();
        assert_eq!(
            head_text(&p),
            "GET /a/b?x=1 HTTP/1.1\r\nhost: example.com\r\n\r\n"
        );
        assert!(p.replayable && p.keep_alive);
        assert_eq!(p.origin_text, "http://example.com");

        let p = prepare(req(
            "POST",
            "https://[::1]:8443/",
            &[("Connection", "close"), ("content-length", "99")],
            OutboundBody::Full(Bytes::from_static(b"hi")),
        ))
        .unwrap();
        assert_eq!(
            head_text(&p),
            "POST / HTTP/1.1\r\nConnection: close\r\nhost: [::1]:8443\r\ncontent-length: 2\r\n\r\n"
        );
        assert!(!p.keep_alive && !p.replayable && p.origin.tls);
        assert_eq!(p.origin.port, 8443);

        let p = prepare(req(
            "PUT",
            "http://h:81/",
            &[("Host", "other")],
            OutboundBody::Stream {
                length: None,
                stream: Box::pin(futures_lite::stream::empty()),
            },
        ))
        .unwrap();
        assert_eq!(
            head_text(&p),
            "PUT / HTTP/1.1\r\nHost: other\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        assert!(!p.replayable);

        let p = prepare(req("POST", "http://h/", &[], OutboundBody::Empty)).unwrap();
        assert!(head_text(&p).contains("content-length: 0\r\n"));
    }

    #[test]
    fn bad_requests() {
        let e = |r| prepare(r).err().unwrap().to_string();
        assert_eq!(
            e(req("GET", "ftp://h/", &[], OutboundBody::Empty)),
            "fetch failed: unsupported URL scheme \"ftp\" (only http and https)"
        );
        assert!(e(req("GE T", "http://h/", &[], OutboundBody::Empty)).contains("invalid method"));
        assert!(
            e(req(
                "GET",
                "http://h/",
                &[("a", "b\r\nc: d")],
                OutboundBody::Empty
            ))
            .contains("invalid header")
        );
        assert!(
            e(req(
                "GET",
                "http://h/",
                &[("a b", "c")],
                OutboundBody::Empty
            ))
            .contains("invalid header")
        );
    }

    fn parse(buf: &[u8], is_head: bool) -> Result<Option<(Head, usize)>, FetchError> {
        parse_head(buf, 1024, is_head, "http://h")
    }

    #[test]
    fn response_framing() {
        let (h, n) = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false)
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.status, h.framing, h.keep_alive, n),
            (200, Framing::Length(5), true, 38)
        );
        assert_eq!(
            h.headers,
            vec![("Content-Length".to_string(), "5".to_string())]
        );
        let (h, _) = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.framing, Framing::Chunked);
        let (h, _) = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert_eq!((h.framing, h.keep_alive), (Framing::Close, false));
        let (h, _) = parse(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive);
        let (h, _) = parse(
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert!(h.keep_alive);
        let (h, _) = parse(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert!(!h.keep_alive);
        let (h, _) = parse(
            b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.framing, Framing::None);
        let (h, _) = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true)
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::None);
        let (h, _) = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Length(7));
        assert!(
            parse(
                b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n",
                false
            )
            .is_err()
        );
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false).is_err());
        assert!(
            parse(b"HTTP/1.1 200 OK\r\nContent", false)
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            parse(b"NOT HTTP\r\n\r\n", false),
            Err(FetchError::Malformed { .. })
        ));
    }

    #[test]
    fn head_limit() {
        let mut big = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        big.resize(2000, b'a');
        assert_eq!(
            parse(&big, false).err(),
            Some(FetchError::HeadTooLarge(1024))
        );
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            parse(&big, false).err(),
            Some(FetchError::HeadTooLarge(1024))
        );
        assert_eq!(
            FetchError::HeadTooLarge(65536).to_string(),
            "fetch failed: upstream response head exceeds 65536 bytes"
        );
    }
}
