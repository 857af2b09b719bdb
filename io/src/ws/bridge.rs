//! [`attach_remote`]: drives a [`WebSocket`] whose peer lives on another
//! shard (an actor's socket, reached from the shard that holds the client's
//! connection).
//!
//! Each shard holds one end; an end is a session whose "wire" is the mesh:
//! what the handler queues on its socket (messages, a close) is handed to
//! `forward` as [`BridgeFrame`]s, and frames from the other end go in with
//! [`RemoteEnd::frame`]. A close either way ends both ends cleanly.

use std::cell::Cell;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;

use super::message::Message;
use super::socket::{Outbound, ReadyState, WebSocket, WsEvent, WsShared};

/// What crosses between the two ends. `Send`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeFrame {
    /// A message from the other end's handler.
    Message(Message),
    /// The other end closed (its handler's close, or its peer's): code and
    /// reason (1005: none given).
    Close(u16, String),
}

/// This shard's end of a bridged socket: feed it the other end's frames.
#[derive(Clone)]
pub struct RemoteEnd {
    ws: Rc<WsShared>,
    ended: Rc<Cell<bool>>,
}

impl std::fmt::Debug for RemoteEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteEnd")
            .field("ended", &self.ended.get())
            .finish()
    }
}

impl RemoteEnd {
    /// A frame from the other end.
    pub fn frame(&self, f: BridgeFrame) {
        if self.ended.get() {
            return;
        }
        match f {
            BridgeFrame::Message(m) => self.ws.emit(WsEvent::Message(m)),
            BridgeFrame::Close(code, reason) => {
                self.end(code, reason);
            }
        }
        self.ws.deliver();
    }

    /// Whether this end is over (closed either way).
    pub fn is_ended(&self) -> bool {
        self.ended.get()
    }

    fn end(&self, code: u16, reason: String) {
        if self.ended.replace(true) {
            return;
        }
        if self.ws.state.get() != ReadyState::Closed {
            self.ws.emit(WsEvent::Close {
                code,
                reason,
                was_clean: true,
            });
        }
        self.ws.cancel(ringworker_core::CancelReason::PeerClosed);
        self.ws.wake_session();
    }
}

/// Makes `ws` (not attached to a connection) one end of a bridge: it opens,
/// and a local task hands what its handler queues to `forward` (starting
/// after the caller's current task yields). Returns the end that takes the
/// other end's frames.
pub fn attach_remote(ws: &WebSocket, forward: impl Fn(BridgeFrame) + 'static) -> RemoteEnd {
    let shared = ws.0.clone();
    if shared.state.get() == ReadyState::Connecting {
        shared.state.set(ReadyState::Open);
    }
    let end = RemoteEnd {
        ws: shared.clone(),
        ended: Rc::new(Cell::new(false)),
    };
    let task_end = end.clone();
    glommio::spawn_local(async move {
        // glommio runs a new task at once: yield first, so what the caller
        // does next (telling the other end this one exists) goes before the
        // frames already queued here.
        futures_lite::future::yield_now().await;
        let ws = task_end.ws.clone();
        poll_fn(|cx| {
            while let Some(o) = ws.take_out() {
                match o {
                    Outbound::Message(m) => forward(BridgeFrame::Message(m)),
                    Outbound::Close(c) => {
                        let (code, reason) = c.unwrap_or((1005, String::new()));
                        forward(BridgeFrame::Close(code, reason.clone()));
                        task_end.end(code, reason);
                        ws.deliver();
                        return Poll::Ready(());
                    }
                }
            }
            if task_end.ended.get() {
                return Poll::Ready(());
            }
            if ws.abandoned.get() {
                // Nobody holds this end any more: the other one closes.
                forward(BridgeFrame::Close(1001, "the other side is gone".into()));
                task_end.end(1001, String::new());
                return Poll::Ready(());
            }
            ws.set_session_waker(cx.waker());
            Poll::Pending
        })
        .await;
    })
    .detach();
    end.ws.deliver();
    end
}
