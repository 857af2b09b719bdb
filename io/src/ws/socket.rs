//! [`WebSocket`]: the handler's end of a WebSocket connection.
//!
//! The handler (a Rust embedder, or the JS layer behind `WebSocketPair`)
//! queues messages and a close, and takes events; the connection's session
//! task moves both across the wire. They share one task-local state, so
//! nothing here locks.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use ringworker_core::{CancelFlag, CancelReason};

use super::frame::is_valid_close_code;
use super::message::Message;

/// Something that happened on a WebSocket, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    /// A message from the peer.
    Message(Message),
    /// The peer broke the protocol or the connection failed; a `Close`
    /// follows.
    Error(String),
    /// The socket is closed; the last event. `code` is the peer's close code,
    /// 1005 if its close frame had none, 1006 if the connection dropped
    /// without a close handshake.
    Close {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
        /// Whether the close handshake completed.
        was_clean: bool,
    },
}

/// The ready state, as the WebSocket API numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ReadyState {
    /// Not attached to a connection yet (messages queue).
    Connecting = 0,
    /// Open.
    Open = 1,
    /// A close frame was queued or received; no more messages go out.
    Closing = 2,
    /// Closed.
    Closed = 3,
}

/// Why `send` or `close` refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// The socket is closing or closed.
    #[error("WebSocket is already closing or closed")]
    Closed,
    /// A close code that may not be sent.
    #[error(
        "invalid close code {0}: use 1000, 1001-1003, 1007-1014 or 3000-4999 (1005, 1006 and 1015 are reserved)"
    )]
    InvalidCode(u16),
    /// A close reason over 123 bytes of UTF-8.
    #[error("close reason is {0} bytes; at most 123 bytes of UTF-8 fit in a close frame")]
    ReasonTooLong(usize),
}

/// What the handler queued for the wire.
#[derive(Debug)]
pub(crate) enum Outbound {
    Message(Message),
    Close(Option<(u16, String)>),
}

pub(crate) struct WsShared {
    pub(crate) out: RefCell<VecDeque<Outbound>>,
    /// Payload bytes in `out` (the `bufferedAmount`).
    pub(crate) out_bytes: Cell<usize>,
    events: RefCell<VecDeque<WsEvent>>,
    pub(crate) state: Cell<ReadyState>,
    /// The session task (woken when the handler queues something).
    session: RefCell<Option<Waker>>,
    /// Who takes the events: a consumer waiting in
    /// [`WebSocket::poll_event`], or a listener that takes them synchronously
    /// on the connection's task (see [`WebSocket::set_listener`]).
    taker: RefCell<Taker>,
    /// Set when the peer goes away (or the connection is failed or shut
    /// down). Made on first use (most sockets never ask, and a flag is a few
    /// hundred bytes); `cancelled` keeps the reason until then.
    cancel: std::cell::OnceCell<CancelFlag>,
    cancelled: Cell<Option<CancelReason>>,
    /// The subprotocol the handler chose (`Sec-WebSocket-Protocol`).
    pub(crate) protocol: RefCell<Option<Box<str>>>,
    /// The handler dropped every handle and set no listener: the session
    /// closes with 1000.
    pub(crate) abandoned: Cell<bool>,
    handles: Cell<usize>,
    /// The socket this one's messages are relayed to (see
    /// [`WebSocket::splice`]): reading pauses while its queue is full.
    pub(crate) relay_to: RefCell<std::rc::Weak<WsShared>>,
    /// An idle server session may go dormant (see [`WebSocket::set_parkable`]).
    pub(crate) parkable: Cell<bool>,
    /// The handler's number for it (see [`WebSocket::set_key`]).
    key: Cell<u32>,
}

impl WsShared {
    /// Records why the socket is over and sets its flag (if anyone made it).
    pub(crate) fn cancel(&self, why: CancelReason) {
        if self.cancelled.get().is_none() {
            self.cancelled.set(Some(why));
        }
        if let Some(flag) = self.cancel.get() {
            flag.cancel(why);
        }
    }

    fn cancel_flag(&self) -> &CancelFlag {
        self.cancel.get_or_init(|| {
            let flag = CancelFlag::new();
            if let Some(why) = self.cancelled.get() {
                flag.cancel(why);
            }
            flag
        })
    }

    /// Gives back the capacity of empty queues (a dormant socket keeps only
    /// what it needs).
    pub(crate) fn shrink(&self) {
        let mut out = self.out.borrow_mut();
        if out.is_empty() && out.capacity() > 0 {
            *out = VecDeque::new();
        }
        let mut events = self.events.borrow_mut();
        if events.is_empty() && events.capacity() > 0 {
            *events = VecDeque::new();
        }
    }

    pub(crate) fn wake_session(&self) {
        if let Some(w) = self.session.borrow_mut().take() {
            w.wake();
        }
    }

    pub(crate) fn set_session_waker(&self, w: &Waker) {
        let mut slot = self.session.borrow_mut();
        if !slot.as_ref().is_some_and(|s| s.will_wake(w)) {
            *slot = Some(w.clone());
        }
    }

    /// Queues an event for the handler.
    pub(crate) fn emit(&self, ev: WsEvent) {
        if matches!(ev, WsEvent::Close { .. }) {
            self.state.set(ReadyState::Closed);
        }
        self.events.borrow_mut().push_back(ev);
        let waiting = {
            let mut t = self.taker.borrow_mut();
            match &*t {
                Taker::Waiting(_) => std::mem::replace(&mut *t, Taker::Nobody),
                _ => Taker::Nobody,
            }
        };
        if let Taker::Waiting(w) = waiting {
            w.wake();
        }
    }

    /// Events the handler has not taken yet.
    pub(crate) fn events_pending(&self) -> usize {
        self.events.borrow().len()
    }

    /// A new handle (counted, so dropping the last one can close).
    fn handle(self: &Rc<Self>) -> WebSocket {
        self.handles.set(self.handles.get() + 1);
        WebSocket(self.clone())
    }

    /// Hands the queued events to the listener, if there is one. Call only
    /// where running the handler's code is safe (no borrow of this socket
    /// held, not inside the handler).
    pub(crate) fn deliver(self: &Rc<Self>) {
        let listener = match &*self.taker.borrow() {
            Taker::Listener(l) => l.clone(),
            _ => return,
        };
        let mut batch = std::mem::take(&mut *self.events.borrow_mut());
        if batch.is_empty() {
            return;
        }
        // A handle for the listener's answers (it may not keep one itself).
        listener(&self.handle(), &mut batch.drain(..));
        // Keep the allocation for the next batch.
        let mut events = self.events.borrow_mut();
        if events.is_empty() {
            *events = batch;
        }
    }

    pub(crate) fn take_out(&self) -> Option<Outbound> {
        let o = self.out.borrow_mut().pop_front()?;
        if let Outbound::Message(m) = &o {
            self.out_bytes.set(self.out_bytes.get() - m.bytes().len());
            if self.out_bytes.get() == 0 {
                // Drained: a spliced peer paused on our queue reads again.
                if let Some(peer) = self.relay_to.borrow().upgrade() {
                    peer.wake_session();
                }
            }
        }
        Some(o)
    }

    /// Bytes queued on the socket this one relays to (0 if none).
    pub(crate) fn relay_backlog(&self) -> usize {
        self.relay_to
            .borrow()
            .upgrade()
            .map_or(0, |p| p.out_bytes.get())
    }
}

/// Who takes a socket's events (one field: a socket has one or the other).
enum Taker {
    Nobody,
    Waiting(Waker),
    Listener(Listener),
}

/// A handler's event callback: see [`WebSocket::set_listener`].
pub type Listener = Rc<dyn Fn(&WebSocket, &mut dyn Iterator<Item = WsEvent>)>;

/// The handler's end of a WebSocket. Clones share the socket; when the last
/// one is dropped without `close` (and no listener was set), the connection
/// is closed with 1000.
///
/// ```no_run
/// use ringworker_io::{Handler, Request, Response};
/// use ringworker_io::ws::{Message, WebSocket, WsEvent};
/// struct Echo;
/// impl Handler for Echo {
///     async fn call(&self, req: Request) -> Response {
///         let ws = WebSocket::new();
///         let peer = ws.clone();
///         glommio::spawn_local(async move {
///             while let Some(ev) = peer.next_event().await {
///                 if let WsEvent::Message(m) = ev {
///                     let _ = peer.send(m);
///                 }
///             }
///         })
///         .detach();
///         Response::websocket(ws)
///     }
/// }
/// ```
pub struct WebSocket(pub(crate) Rc<WsShared>);

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("state", &self.0.state.get())
            .field("buffered", &self.0.out_bytes.get())
            .finish()
    }
}

impl Default for WebSocket {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for WebSocket {
    fn clone(&self) -> Self {
        self.0.handle()
    }
}

impl Drop for WebSocket {
    fn drop(&mut self) {
        let n = self.0.handles.get() - 1;
        self.0.handles.set(n);
        // Without handles and without a listener nobody can answer: close.
        if n == 0 && !matches!(*self.0.taker.borrow(), Taker::Listener(_)) {
            self.0.abandoned.set(true);
            self.0.wake_session();
        }
    }
}

impl WebSocket {
    /// A socket not yet attached: hand it to [`crate::Response::websocket`].
    /// Messages sent before the handshake completes are queued.
    pub fn new() -> Self {
        Self(Rc::new(WsShared {
            out: RefCell::new(VecDeque::new()),
            out_bytes: Cell::new(0),
            events: RefCell::new(VecDeque::new()),
            state: Cell::new(ReadyState::Connecting),
            session: RefCell::new(None),
            taker: RefCell::new(Taker::Nobody),
            cancel: std::cell::OnceCell::new(),
            cancelled: Cell::new(None),
            protocol: RefCell::new(None),
            abandoned: Cell::new(false),
            handles: Cell::new(1),
            relay_to: RefCell::new(std::rc::Weak::new()),
            parkable: Cell::new(false),
            key: Cell::new(0),
        }))
    }

    /// Queues a message.
    pub fn send(&self, msg: Message) -> Result<(), WsError> {
        if matches!(self.0.state.get(), ReadyState::Closing | ReadyState::Closed) {
            return Err(WsError::Closed);
        }
        self.0
            .out_bytes
            .set(self.0.out_bytes.get() + msg.bytes().len());
        self.0.out.borrow_mut().push_back(Outbound::Message(msg));
        self.0.wake_session();
        Ok(())
    }

    /// Queues a text message.
    pub fn send_text(&self, text: impl Into<String>) -> Result<(), WsError> {
        self.send(Message::text(text))
    }

    /// Queues a binary message.
    pub fn send_binary(&self, data: impl Into<Bytes>) -> Result<(), WsError> {
        self.send(Message::Binary(data.into()))
    }

    /// Starts the close handshake after the queued messages: `code` `None`
    /// sends a close frame without a code. Closing a closing socket is a no-op.
    pub fn close(&self, code: Option<u16>, reason: &str) -> Result<(), WsError> {
        if let Some(c) = code {
            if !is_valid_close_code(c) {
                return Err(WsError::InvalidCode(c));
            }
        }
        if reason.len() > 123 {
            return Err(WsError::ReasonTooLong(reason.len()));
        }
        if matches!(self.0.state.get(), ReadyState::Closing | ReadyState::Closed) {
            return Ok(());
        }
        self.0.state.set(ReadyState::Closing);
        let close = code.map(|c| (c, reason.to_string()));
        self.0.out.borrow_mut().push_back(Outbound::Close(close));
        self.0.wake_session();
        Ok(())
    }

    /// Payload bytes queued and not yet handed to the socket.
    pub fn buffered_amount(&self) -> usize {
        self.0.out_bytes.get()
    }

    /// The ready state.
    pub fn ready_state(&self) -> ReadyState {
        self.0.state.get()
    }

    /// Set when the peer goes away, the connection is failed, or the server
    /// shuts down; one atomic load to check.
    pub fn cancel_flag(&self) -> &CancelFlag {
        self.0.cancel_flag()
    }

    /// Lets the server end of this socket go dormant whenever it is idle: its
    /// connection task ends, and the socket waits in the shard's dormant set
    /// holding only its descriptor, this handle's state and three
    /// timestamps. Messages, sends, heartbeats and auto-responses are then
    /// handled there without a task; anything more (a close, a fragmented
    /// message, backpressure, shutdown) starts a session task again. Meant
    /// for sockets that are quiet for long stretches, like a hibernatable
    /// actor's.
    pub fn set_parkable(&self, parkable: bool) {
        self.0.parkable.set(parkable);
        self.0.wake_session();
    }

    /// Chooses the subprotocol (one the client offered) before the response
    /// is returned.
    pub fn set_protocol(&self, protocol: impl Into<String>) {
        *self.0.protocol.borrow_mut() = Some(protocol.into().into_boxed_str());
    }

    /// The next event, or `Ready(None)` after the close event was taken or
    /// once a listener takes the events (see [`set_listener`](Self::set_listener)).
    pub fn poll_event(&self, cx: &mut Context<'_>) -> Poll<Option<WsEvent>> {
        if let Some(ev) = self.0.events.borrow_mut().pop_front() {
            return Poll::Ready(Some(ev));
        }
        if self.0.state.get() == ReadyState::Closed {
            return Poll::Ready(None);
        }
        let mut t = self.0.taker.borrow_mut();
        // (With a listener the events go to it: none will come here, and a
        // waiter left pending would never be woken.)
        if matches!(*t, Taker::Listener(_)) {
            return Poll::Ready(None);
        }
        *t = Taker::Waiting(cx.waker().clone());
        Poll::Pending
    }

    /// Has events delivered by calling `listener` on the connection's own
    /// task, as they are parsed — no task switch per message; whatever it
    /// sends goes out in the same round. Events queued before (or while
    /// the socket is not attached) are taken the same way when the session
    /// next delivers; `next_event` then sees none. The listener is handed
    /// the socket to answer on; it must not capture a handle of its own
    /// (that would be a reference cycle).
    ///
    /// ```no_run
    /// use std::rc::Rc;
    /// use ringworker_io::ws::{WebSocket, WsEvent};
    /// let ws = WebSocket::new();
    /// ws.set_listener(Rc::new(|ws: &WebSocket, events: &mut dyn Iterator<Item = WsEvent>| {
    ///     for ev in events {
    ///         if let WsEvent::Message(m) = ev {
    ///             let _ = ws.send(m); // an echo
    ///         }
    ///     }
    /// }));
    /// ```
    pub fn set_listener(&self, listener: Listener) {
        let old = self.0.taker.replace(Taker::Listener(listener));
        if let Taker::Waiting(w) = old {
            w.wake();
        }
    }

    /// Gives the socket a number of the handler's choosing, so that one
    /// listener shared by many sockets can tell them apart (see
    /// [`key`](Self::key)) instead of a closure per socket.
    pub fn set_key(&self, key: u32) {
        self.0.key.set(key);
    }

    /// The number given with [`set_key`](Self::set_key) (0 if none).
    pub fn key(&self) -> u32 {
        self.0.key.get()
    }

    /// Hands the events that queued before a listener was set to it now,
    /// and wakes the session (which may be waiting on it). Call right after
    /// [`set_listener`](Self::set_listener) from where running the listener
    /// is safe (not inside it).
    pub fn deliver_pending(&self) {
        self.0.deliver();
        self.0.wake_session();
    }

    /// Joins this socket to `other` (a WebSocket proxy): every message one
    /// receives is sent on the other, on the receiving connection's task with
    /// no handler in between, and a close on either side closes the other
    /// with the same code (a lost connection becomes 1011). Events already
    /// queued on either side are relayed at once. Backpressure crosses the
    /// splice: a side stops reading while the other's queue is over half of
    /// `max_buffered_bytes`, until it drained.
    pub fn splice(&self, other: &WebSocket) {
        fn relay(from: &WebSocket, to: &WebSocket) {
            // Weakly: an unattached side that is dropped frees both.
            let to = Rc::downgrade(&to.0);
            from.set_listener(Rc::new(
                move |me: &WebSocket, events: &mut dyn Iterator<Item = WsEvent>| {
                    let Some(to) = to.upgrade().map(|sh| sh.handle()) else {
                        let _ = me.close(Some(1001), "the other side is gone");
                        return;
                    };
                    for ev in events {
                        match ev {
                            WsEvent::Message(m) => {
                                let _ = to.send(m);
                            }
                            WsEvent::Error(_) => {}
                            WsEvent::Close { code, reason, .. } => {
                                let _ = match code {
                                    1005 => to.close(None, ""),
                                    c if super::frame::is_valid_close_code(c) => {
                                        to.close(Some(c), &reason)
                                    }
                                    _ => {
                                        to.close(Some(1011), "the other side's connection was lost")
                                    }
                                };
                            }
                        }
                    }
                },
            ));
        }
        relay(self, other);
        relay(other, self);
        *self.0.relay_to.borrow_mut() = Rc::downgrade(&other.0);
        *other.0.relay_to.borrow_mut() = Rc::downgrade(&self.0);
        self.0.deliver();
        other.0.deliver();
        self.0.wake_session();
        other.0.wake_session();
    }

    /// Waits for the next event; `None` once the close event was taken or
    /// a listener takes the events.
    pub async fn next_event(&self) -> Option<WsEvent> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    /// A socket that will never be attached (its 101 response was not sent,
    /// or never returned): the handler sees close 1006 with `reason`.
    /// No-op once the socket is attached or closed.
    pub fn fail_unattached(&self, reason: &str) {
        if self.0.state.get() == ReadyState::Connecting {
            self.0.out.borrow_mut().clear();
            self.0.out_bytes.set(0);
            self.0.cancel(CancelReason::Aborted);
            self.0.emit(WsEvent::Close {
                code: 1006,
                reason: reason.to_string(),
                was_clean: false,
            });
            self.0.deliver();
        }
    }

    /// Whether two handles are the same socket.
    pub fn same_as(&self, other: &WebSocket) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiter_for_events_is_let_go_when_a_listener_takes_them() {
        use std::sync::atomic::{AtomicBool, Ordering};
        struct Flag(AtomicBool);
        impl std::task::Wake for Flag {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let ws = WebSocket::new();
        let woken = std::sync::Arc::new(Flag(AtomicBool::new(false)));
        let waker = std::task::Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(ws.poll_event(&mut cx).is_pending());
        ws.set_listener(Rc::new(
            |_: &WebSocket, _: &mut dyn Iterator<Item = WsEvent>| {},
        ));
        assert!(woken.0.load(Ordering::Relaxed), "the waiter is woken");
        assert!(matches!(ws.poll_event(&mut cx), Poll::Ready(None)));
    }
}
