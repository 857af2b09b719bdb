//! [`Request`] and its streaming [`Body`].
//!
//! The head is one refcounted slice of the connection's read buffer (no copy
//! of header bytes); the method, target and headers are ranges into it. Body
//! chunks are further slices of read buffers, delivered as the handler asks
//! for them: a handler that does not read stops the socket reads.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use ringworker_core::{CancelFlag, RequestId, RequestTrace, ShardId};

use super::parse::{HeaderSpans, Span};

/// Why a request body could not be read to its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The client closed or reset the connection before the body ended.
    #[error("client disconnected before the request body ended")]
    Incomplete,
    /// The body is larger than the configured limit.
    #[error("request body exceeds the limit of {0} bytes")]
    TooLarge(u64),
    /// The chunked framing was malformed.
    #[error("malformed chunked request body: {0}")]
    Malformed(String),
    /// The client stopped sending the body for longer than the body timeout.
    #[error("request body timed out")]
    Timeout,
    /// A producer of a response body failed.
    #[error("body stream failed: {0}")]
    Stream(String),
}

impl BodyError {
    /// The HTTP status that answers this error when no response was sent yet.
    pub fn status(&self) -> u16 {
        match self {
            Self::TooLarge(_) => 413,
            Self::Timeout => 408,
            Self::Malformed(_) => 400,
            Self::Incomplete => 400,
            Self::Stream(_) => 500,
        }
    }
}

/// State shared by a [`Body`] (consumer) and the connection reader (producer).
#[derive(Debug, Default)]
pub(crate) struct BodyShared {
    chunks: RefCell<VecDeque<Bytes>>,
    queued: Cell<usize>,
    pub(crate) received: Cell<u64>,
    done: Cell<bool>,
    error: RefCell<Option<BodyError>>,
    /// The consumer is waiting for a chunk.
    want: Cell<bool>,
    /// The consumer dropped the body (or the response finished): drain the rest.
    abandoned: Cell<bool>,
    /// `Expect: 100-continue` was asked and not yet answered.
    pub(crate) expect_continue: Cell<bool>,
    consumer: RefCell<Option<Waker>>,
    producer: RefCell<Option<Waker>>,
}

impl BodyShared {
    pub(crate) fn new(expect_continue: bool) -> Rc<Self> {
        let s = Self::default();
        s.expect_continue.set(expect_continue);
        Rc::new(s)
    }

    pub(crate) fn queued_bytes(&self) -> usize {
        self.queued.get()
    }
    pub(crate) fn wants(&self) -> bool {
        self.want.get()
    }
    pub(crate) fn is_abandoned(&self) -> bool {
        self.abandoned.get()
    }
    pub(crate) fn is_finished(&self) -> bool {
        self.done.get() || self.error.borrow().is_some()
    }
    pub(crate) fn error(&self) -> Option<BodyError> {
        self.error.borrow().clone()
    }

    pub(crate) fn set_producer(&self, w: &Waker) {
        let mut p = self.producer.borrow_mut();
        if !p.as_ref().is_some_and(|x| x.will_wake(w)) {
            *p = Some(w.clone());
        }
    }

    fn wake_consumer(&self) {
        if let Some(w) = self.consumer.borrow_mut().take() {
            w.wake();
        }
    }

    fn wake_producer(&self) {
        if let Some(w) = self.producer.borrow().as_ref() {
            w.wake_by_ref();
        }
    }

    pub(crate) fn push(&self, chunk: Bytes) {
        self.received.set(self.received.get() + chunk.len() as u64);
        if self.abandoned.get() {
            return;
        }
        self.queued.set(self.queued.get() + chunk.len());
        self.chunks.borrow_mut().push_back(chunk);
        self.want.set(false);
        self.wake_consumer();
    }

    pub(crate) fn finish(&self) {
        self.done.set(true);
        self.want.set(false);
        self.wake_consumer();
    }

    pub(crate) fn fail(&self, err: BodyError) {
        if self.is_finished() {
            return;
        }
        *self.error.borrow_mut() = Some(err);
        self.want.set(false);
        self.wake_consumer();
    }

    pub(crate) fn abandon(&self) {
        if !self.abandoned.replace(true) {
            self.chunks.borrow_mut().clear();
            self.queued.set(0);
            self.wake_producer();
        }
    }

    /// Everything that is left, if all of it has arrived (and nothing
    /// failed): one buffer, without waiting.
    fn take_if_complete(&self) -> Option<Bytes> {
        if !self.done.get() || self.error.borrow().is_some() {
            return None;
        }
        let mut chunks = self.chunks.borrow_mut();
        self.queued.set(0);
        match chunks.len() {
            0 => Some(Bytes::new()),
            1 => chunks.pop_front(),
            _ => {
                let mut all = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
                for c in chunks.drain(..) {
                    all.extend_from_slice(&c);
                }
                Some(all.freeze())
            }
        }
    }

    fn poll_chunk(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        if let Some(c) = self.chunks.borrow_mut().pop_front() {
            self.queued.set(self.queued.get() - c.len());
            // Room freed: the reader may read ahead again.
            self.wake_producer();
            return Poll::Ready(Some(Ok(c)));
        }
        if let Some(e) = self.error.borrow().clone() {
            return Poll::Ready(Some(Err(e)));
        }
        if self.done.get() {
            return Poll::Ready(None);
        }
        if !self.want.replace(true) {
            self.wake_producer();
        }
        let mut c = self.consumer.borrow_mut();
        if !c.as_ref().is_some_and(|x| x.will_wake(cx.waker())) {
            *c = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// A streaming request body.
///
/// Chunks arrive as the handler asks for them (backpressure reaches the
/// socket). Dropping the body unread lets the connection drain and discard it.
pub struct Body {
    shared: Option<Rc<BodyShared>>,
    length: Option<u64>,
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("length", &self.length)
            .finish()
    }
}

impl Body {
    /// A body with no bytes.
    pub fn empty() -> Self {
        Self {
            shared: None,
            length: Some(0),
        }
    }

    pub(crate) fn streaming(shared: Rc<BodyShared>, length: Option<u64>) -> Self {
        Self {
            shared: Some(shared),
            length,
        }
    }

    /// The declared length (`Content-Length`), if the body is not chunked.
    pub fn content_length(&self) -> Option<u64> {
        self.length
    }

    /// Whether the request was declared with no body at all.
    pub fn is_empty(&self) -> bool {
        self.shared.is_none()
    }

    /// Polls for the next chunk; `None` at the end of the body.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        match &self.shared {
            None => Poll::Ready(None),
            Some(s) => s.poll_chunk(cx),
        }
    }

    /// The rest of the body in one buffer, if all of it has already arrived
    /// (a small body usually comes with its head); `None` if some is still
    /// on its way, when the body is left as it was. No copy for a body that
    /// arrived in one piece.
    pub fn take_if_complete(&mut self) -> Option<Bytes> {
        match &self.shared {
            None => Some(Bytes::new()),
            Some(s) => s.take_if_complete(),
        }
    }

    /// The next chunk; `None` at the end of the body.
    ///
    /// # Cancel safety
    /// Cancel-safe: a chunk is only taken when the future completes.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, BodyError>> {
        poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// Reads the whole body into one buffer, failing over `limit` bytes.
    pub async fn collect(mut self, limit: usize) -> Result<Bytes, BodyError> {
        let mut out = BytesMut::new();
        let mut first: Option<Bytes> = None;
        while let Some(c) = self.chunk().await {
            let c = c?;
            let total = out.len() + first.as_ref().map_or(0, |f| f.len()) + c.len();
            if total > limit {
                return Err(BodyError::TooLarge(limit as u64));
            }
            // One chunk needs no copy; several are joined once.
            match first.take() {
                None if out.is_empty() => first = Some(c),
                Some(f) => {
                    out.extend_from_slice(&f);
                    out.extend_from_slice(&c);
                }
                None => out.extend_from_slice(&c),
            }
        }
        Ok(first.unwrap_or_else(|| out.freeze()))
    }
}

impl futures_lite::Stream for Body {
    type Item = Result<Bytes, BodyError>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_chunk(cx)
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        if let Some(s) = &self.shared {
            if !s.is_finished() {
                s.abandon();
            }
        }
    }
}

/// The parsed head of a request: ranges into one shared buffer.
#[derive(Clone)]
pub(crate) struct Head {
    pub(crate) buf: Bytes,
    pub(crate) method: Span,
    pub(crate) target: Span,
    /// The target URI's authority (see `ParsedHead::authority`).
    pub(crate) authority: Option<Span>,
    /// The target URI's path and query (see `ParsedHead::path`).
    pub(crate) path: Span,
    pub(crate) headers: HeaderSpans,
    pub(crate) http10: bool,
}

impl Head {
    fn slice(&self, r: &Span) -> &[u8] {
        r.get(&self.buf)
    }
}

/// The request's headers, in arrival order; names compare case-insensitively.
#[derive(Clone, Copy)]
pub struct Headers<'a> {
    head: &'a Head,
}

impl<'a> Headers<'a> {
    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.get_all(name).next()
    }

    /// Every value of `name` (case-insensitive), in order.
    pub fn get_all<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + 'n
    where
        'a: 'n,
    {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// Every `(name, value)` pair.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let head = self.head;
        head.headers
            .iter()
            .map(move |(n, v)| (head.slice(n), head.slice(v)))
    }

    /// How many header lines there are.
    pub fn len(&self) -> usize {
        self.head.headers.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.head.headers.is_empty()
    }
}

impl fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            }))
            .finish()
    }
}

/// An HTTP request as a handler sees it.
///
/// A handle to one heap block: it moves through the pipeline queue and into
/// the handler's future as one pointer, not as a few hundred bytes.
pub struct Request {
    parts: Box<RequestParts>,
}

pub(crate) struct RequestParts {
    pub(crate) head: Head,
    pub(crate) body: Body,
    pub(crate) cancel: CancelFlag,
    pub(crate) peer: SocketAddr,
    pub(crate) shard: ShardId,
    pub(crate) id: RequestId,
    pub(crate) trace: Option<Rc<RequestTrace>>,
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method())
            .field("target", &self.target())
            .field("headers", &self.headers())
            .field("peer", &self.parts.peer)
            .field("id", &self.parts.id)
            .finish()
    }
}

impl Request {
    pub(crate) fn new(parts: RequestParts) -> Self {
        Self {
            parts: Box::new(parts),
        }
    }

    pub(crate) fn set_trace(&mut self, trace: Rc<RequestTrace>) {
        self.parts.trace = Some(trace);
    }

    /// The method, e.g. `GET` (a validated token).
    pub fn method(&self) -> &str {
        std::str::from_utf8(self.parts.head.slice(&self.parts.head.method)).unwrap_or("")
    }

    /// The request target as sent, e.g. `/path?q=1` (or, rarely,
    /// `http://host/path`, `*` for `OPTIONS`, `host:port` for `CONNECT`).
    /// Always ASCII: the parser refuses other bytes.
    pub fn target(&self) -> &str {
        self.text(self.parts.head.target)
    }

    /// The authority of the target URI (RFC 9112 §3.3): the target's own in
    /// absolute- or authority-form, otherwise the `Host` header's value;
    /// checked to be `host[:port]` (see [`crate::http::target::is_authority`]).
    /// `None` only for an HTTP/1.0 request without a `Host`.
    pub fn authority(&self) -> Option<&str> {
        self.parts.head.authority.map(|a| self.text(a))
    }

    /// The path and query of the target URI, e.g. `/path?q=1`: the target
    /// itself in origin-form, what follows the authority in absolute-form
    /// (which may be empty), empty for `*` and for `CONNECT`.
    pub fn path_and_query(&self) -> &str {
        self.text(self.parts.head.path)
    }

    /// The path of the target URI (before `?`).
    pub fn path(&self) -> &str {
        let t = self.path_and_query();
        t.split_once('?').map_or(t, |(p, _)| p)
    }

    /// The query of the target URI (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.path_and_query().split_once('?').map(|(_, q)| q)
    }

    /// A span of the head as text; the parser let only ASCII into the
    /// target and the authority.
    fn text(&self, span: Span) -> &str {
        std::str::from_utf8(self.parts.head.slice(&span)).unwrap_or("")
    }

    /// Whether the client spoke HTTP/1.0.
    pub fn is_http10(&self) -> bool {
        self.parts.head.http10
    }

    /// The headers.
    pub fn headers(&self) -> Headers<'_> {
        Headers {
            head: &self.parts.head,
        }
    }

    /// The first value of a header (case-insensitive), as bytes.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers().get(name)
    }

    /// The body, to read in place.
    pub fn body_mut(&mut self) -> &mut Body {
        &mut self.parts.body
    }

    /// Takes the body out (an empty body is left behind).
    pub fn take_body(&mut self) -> Body {
        std::mem::replace(&mut self.parts.body, Body::empty())
    }

    /// The flag that is set when the client goes away (or the request times
    /// out, or the server shuts down) while this request is in flight.
    pub fn cancel_flag(&self) -> &CancelFlag {
        &self.parts.cancel
    }

    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.parts.peer
    }

    /// The shard serving this request.
    pub fn shard(&self) -> ShardId {
        self.parts.shard
    }

    /// This request's id (in its log lines, its tail event and, if
    /// configured, its response's request-id header).
    pub fn id(&self) -> RequestId {
        self.parts.id
    }

    /// Where the handler records what the request produced (console lines,
    /// exceptions, script time) for tail clients: present only while a tail
    /// client is attached to the shard.
    pub fn trace(&self) -> Option<&Rc<RequestTrace>> {
        self.parts.trace.as_ref()
    }
}
