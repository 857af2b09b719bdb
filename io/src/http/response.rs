//! [`Response`]: status, headers and a full or streaming [`ResponseBody`].

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_lite::Stream;
use ringworker_core::Outcome;

use super::BodyError;
use crate::ws::WebSocket;

/// A stream of body chunks, produced on the shard.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Bytes, BodyError>>>>;

/// A response body.
pub enum ResponseBody {
    /// No body bytes (`Content-Length: 0` where a length is allowed).
    Empty,
    /// All bytes at once.
    Full(Bytes),
    /// Chunks as they are produced. With a `length`, it is sent with
    /// `Content-Length` (and must produce exactly that many bytes); without,
    /// it is sent chunked (or close-delimited to HTTP/1.0 clients).
    Stream {
        /// The exact length, if known.
        length: Option<u64>,
        /// The producer.
        stream: ChunkStream,
    },
    /// Status 101: the connection becomes this WebSocket. Only valid in
    /// answer to a WebSocket handshake (see [`Response::websocket`]).
    WebSocket(WebSocket),
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("Empty"),
            Self::Full(b) => write!(f, "Full({} bytes)", b.len()),
            Self::Stream { length, .. } => write!(f, "Stream(length: {length:?})"),
            Self::WebSocket(_) => f.write_str("WebSocket"),
        }
    }
}

impl ResponseBody {
    /// A streaming body from any `Stream` of chunks.
    pub fn stream(
        length: Option<u64>,
        s: impl Stream<Item = Result<Bytes, BodyError>> + 'static,
    ) -> Self {
        Self::Stream {
            length,
            stream: Box::pin(s),
        }
    }

    /// A bounded channel: the [`BodySender`] end produces chunks, the body end
    /// is handed to a [`Response`]. `send` waits while `capacity` chunks are
    /// queued, so a slow client slows the producer.
    pub fn channel(capacity: usize, length: Option<u64>) -> (BodySender, ResponseBody) {
        let shared = Rc::new(ChannelShared {
            queue: RefCell::new(VecDeque::with_capacity(capacity.max(1))),
            capacity: capacity.max(1),
            closed: Cell::new(false),
            receiver_gone: Cell::new(false),
            sender_waker: RefCell::new(None),
            receiver_waker: RefCell::new(None),
        });
        (
            BodySender {
                shared: shared.clone(),
            },
            ResponseBody::Stream {
                length,
                stream: Box::pin(ChannelReceiver { shared }),
            },
        )
    }
}

struct ChannelShared {
    queue: RefCell<VecDeque<Result<Bytes, BodyError>>>,
    capacity: usize,
    closed: Cell<bool>,
    receiver_gone: Cell<bool>,
    sender_waker: RefCell<Option<Waker>>,
    receiver_waker: RefCell<Option<Waker>>,
}

fn wake(slot: &RefCell<Option<Waker>>) {
    if let Some(w) = slot.borrow_mut().take() {
        w.wake();
    }
}

/// The producing end of [`ResponseBody::channel`].
pub struct BodySender {
    shared: Rc<ChannelShared>,
}

impl fmt::Debug for BodySender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodySender")
            .field("queued", &self.shared.queue.borrow().len())
            .finish()
    }
}

/// The response body's consumer (the connection) is gone: the client
/// disconnected or the response was abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the response body's receiver is gone (client disconnected)")]
pub struct ReceiverGone;

impl BodySender {
    /// Queues a chunk, waiting for room first.
    ///
    /// # Cancel safety
    /// Cancel-safe: the chunk is queued only when the future completes.
    pub async fn send(&self, chunk: Bytes) -> Result<(), ReceiverGone> {
        poll_fn(|cx| self.poll_ready(cx)).await?;
        self.shared.queue.borrow_mut().push_back(Ok(chunk));
        wake(&self.shared.receiver_waker);
        Ok(())
    }

    /// Ready when a chunk can be queued without exceeding the capacity.
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<Result<(), ReceiverGone>> {
        if self.shared.receiver_gone.get() {
            return Poll::Ready(Err(ReceiverGone));
        }
        if self.shared.queue.borrow().len() < self.shared.capacity {
            return Poll::Ready(Ok(()));
        }
        *self.shared.sender_waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.shared.receiver_gone.get()
    }

    /// Ends the body with an error: the connection is closed without a clean
    /// end of message, so the client sees a truncated response.
    pub fn abort(self, reason: &str) {
        self.shared
            .queue
            .borrow_mut()
            .push_back(Err(BodyError::Stream(reason.to_string())));
    }
}

impl Drop for BodySender {
    fn drop(&mut self) {
        self.shared.closed.set(true);
        wake(&self.shared.receiver_waker);
    }
}

struct ChannelReceiver {
    shared: Rc<ChannelShared>,
}

impl Stream for ChannelReceiver {
    type Item = Result<Bytes, BodyError>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let s = &self.shared;
        if let Some(c) = s.queue.borrow_mut().pop_front() {
            wake(&s.sender_waker);
            return Poll::Ready(Some(c));
        }
        if s.closed.get() {
            return Poll::Ready(None);
        }
        *s.receiver_waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for ChannelReceiver {
    fn drop(&mut self) {
        self.shared.receiver_gone.set(true);
        self.shared.queue.borrow_mut().clear();
        wake(&self.shared.sender_waker);
    }
}

/// An HTTP response.
///
/// ```
/// use ringworker_io::Response;
/// let r = Response::text(200, "Hello World").header("x-served-by", "ringworker");
/// assert_eq!(r.status, 200);
/// ```
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header lines, in order. Framing headers (`content-length`,
    /// `transfer-encoding`, `connection`, `date`) are set by the server.
    pub headers: Vec<(Bytes, Bytes)>,
    /// The body.
    pub body: ResponseBody,
    /// How the handler ended ([`Outcome::Ok`] unless it says otherwise: a
    /// script that threw or ran out of CPU or heap), for the per-outcome
    /// counters and tail clients.
    pub outcome: Outcome,
}

impl Response {
    /// A response with `status` and no body.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: ResponseBody::Empty,
            outcome: Outcome::Ok,
        }
    }

    /// Records how the handler ended (see [`Self::outcome`](Response#structfield.outcome)).
    pub fn with_outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    /// A `text/plain` response.
    pub fn text(status: u16, body: impl Into<Bytes>) -> Self {
        Self::new(status)
            .header("content-type", "text/plain; charset=utf-8")
            .body(ResponseBody::Full(body.into()))
    }

    /// A response with a full body and no content type.
    pub fn bytes(status: u16, body: impl Into<Bytes>) -> Self {
        Self::new(status).body(ResponseBody::Full(body.into()))
    }

    /// Adds a header line.
    pub fn header(mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: ResponseBody) -> Self {
        self.body = body;
        self
    }

    /// Accepts a WebSocket handshake: `101 Switching Protocols`, after which
    /// the connection carries `ws`. The server adds `Upgrade`, `Connection`
    /// and `Sec-WebSocket-Accept`; a chosen subprotocol goes in with
    /// [`WebSocket::set_protocol`] (or a `sec-websocket-protocol` header).
    pub fn websocket(ws: WebSocket) -> Self {
        Self::new(101).body(ResponseBody::WebSocket(ws))
    }
}
