//! The native side of `WebSocket` / `WebSocketPair` (`js/30_websocket.js`).
//!
//! `server.accept()` binds the JS server end to an io-level
//! [`WebSocket`]; returning the client end in a 101 response hands that
//! socket to the connection. Its events reach JS through the socket's
//! listener, called on the connection's task as frames are parsed: one
//! entry (`rw.wsDispatch`) per batch, and what the script sends in answer
//! goes out in the same round, with no task switch in between.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

use bytes::Bytes;
use ringworker_core::keepalive::Owner;
use ringworker_core::{CancelFlag, CancelReason};
use ringworker_io::ws::{Listener, Message, WebSocket, WsEvent};
use v8::MapFnTo;

use crate::runtime::{JsRuntime, current_owner, host, new_string, throw_type_error, with_bytes};

/// A shard isolate's accepted sockets.
#[derive(Default)]
pub(crate) struct Sockets {
    /// By id. Ids are sequential and not chosen by clients: no need for
    /// SipHash.
    live: HashMap<u32, WebSocket, BuildHasherDefault<IdHasher>>,
    next: u32,
    /// Accepted during the current entry: their listeners are set after it.
    starts: Vec<u32>,
    /// Accepted and not yet returned in a response: (request, socket id).
    /// Usually empty, so finishing a request costs nothing here.
    unreturned: Vec<(u32, u32)>,
    /// Sockets of `fetch()` with Upgrade the script has neither accepted
    /// nor returned: (request, socket id). Closed when their request is over.
    fetched: Vec<(u32, u32)>,
    /// The listener shared by every accepted socket (made on first use; it
    /// holds the runtime weakly).
    listener: Option<Listener>,
    /// Outbound sockets (`new WebSocket`, `fetch()` with Upgrade) an actor
    /// opened: (actor, socket id, a flag that ends the socket's keepalive
    /// token). They end with the actor (see `owner_ended`). A request's
    /// outbound sockets are not listed: they may outlive its response (the
    /// script may be relaying them to its client).
    actor_opened: Vec<(u32, u32, CancelFlag)>,
}

/// Removes `owner`'s entries from a list of (owner, socket id); returns
/// their socket ids.
fn take_owned(list: &mut Vec<(u32, u32)>, owner: u32) -> Vec<u32> {
    let mut mine = Vec::new();
    list.retain(|&(o, id)| {
        if o == owner {
            mine.push(id);
        }
        o != owner
    });
    mine
}

/// Hashes a `u32` id with one multiplication.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u32(&mut self, n: u32) {
        // (Spread over all 64 bits: the map reads its tag from the top ones.)
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl Sockets {
    pub(crate) fn get(&self, id: u32) -> Option<&WebSocket> {
        self.live.get(&id)
    }

    /// Registers `ws`, a socket the script got from a fetch (or from an
    /// actor on another shard), owned by request `owner` until the script
    /// accepts or returns it.
    pub(crate) fn add_fetched(&mut self, owner: u32, ws: WebSocket) -> u32 {
        self.next = self.next.wrapping_add(1).max(1);
        let id = self.next;
        self.live.insert(id, ws);
        if owner != 0 {
            self.fetched.push((owner, id));
        }
        id
    }

    /// A new native server socket; its events reach JS once the current
    /// entry returns. With `unreturned_by`, that request must return it in
    /// its 101 response or the socket fails.
    pub(crate) fn add_accepted(&mut self, unreturned_by: Option<u32>) -> u32 {
        self.next = self.next.wrapping_add(1).max(1);
        let id = self.next;
        let ws = WebSocket::new();
        // Quiet whenever idle: its connection may go dormant, holding no task
        // (see `ringworker_io::ws::WebSocket::set_parkable`).
        ws.set_parkable(true);
        self.live.insert(id, ws);
        if let Some(owner) = unreturned_by {
            self.unreturned.push((owner, id));
        }
        self.starts.push(id);
        id
    }

    /// Request (or actor) `owner` is over: the fetched sockets it never
    /// took close, and so does every outbound socket an actor opened, with
    /// 1001, its keepalive token ending at once.
    pub(crate) fn owner_ended(&mut self, owner: u32) {
        if !self.fetched.is_empty() {
            for id in take_owned(&mut self.fetched, owner) {
                if let Some(ws) = self.live.remove(&id) {
                    let _ = ws.close(Some(1001), "the request that fetched this WebSocket ended");
                }
            }
        }
        if !self.actor_opened.is_empty() {
            let mut mine = Vec::new();
            self.actor_opened.retain(|(o, id, token)| {
                if *o == owner {
                    mine.push((*id, token.clone()));
                }
                *o != owner
            });
            for (id, token) in mine {
                token.cancel(CancelReason::Evicted);
                if let Some(ws) = self.live.get(&id) {
                    let _ = ws.close(
                        Some(1001),
                        "the actor that opened this WebSocket was evicted",
                    );
                }
            }
        }
    }

    /// Forgets socket `id` (it closed, or was handed on); returns it.
    pub(crate) fn remove(&mut self, id: u32) -> Option<WebSocket> {
        if !self.actor_opened.is_empty() {
            self.actor_opened.retain(|&(_, i, _)| i != id);
        }
        self.live.remove(&id)
    }
}

/// This module's ops (named as the JS files call them on `ops`); also the
/// snapshot's external references.
pub(crate) fn ops() -> Vec<(&'static str, v8::FunctionCallback)> {
    vec![
        ("wsAccept", op_ws_accept.map_fn_to()),
        ("wsSend", op_ws_send.map_fn_to()),
        ("wsClose", op_ws_close.map_fn_to()),
        ("wsBuffered", op_ws_buffered.map_fn_to()),
        ("wsConnect", op_ws_connect.map_fn_to()),
        ("wsListen", op_ws_listen.map_fn_to()),
    ]
}

/// `wsAccept()` -> id of a new native socket owned by the current request.
fn op_ws_accept(
    scope: &mut v8::PinScope,
    _args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let owner = current_owner(scope);
    let host = host(scope);
    let mut h = host.borrow_mut();
    // (An actor's socket is returned by whichever request called it.)
    let is_request = owner != 0 && !h.actors.is_actor(owner);
    let id = h.sockets.add_accepted(is_request.then_some(owner));
    h.actors.socket_accepted(owner, id);
    rv.set(v8::Integer::new_from_unsigned(scope, id).into());
}

/// `wsConnect(url, [name, value, ...], [protocol, ...])` -> `[id, promise]`:
/// an outbound WebSocket. The socket exists at once (sends and a close queue
/// until it opens); the promise resolves with `[status, protocol,
/// [name, value, ...]]` once the handshake completed, or rejects with a
/// `TypeError`. While open it holds a keepalive token for its request.
fn op_ws_connect(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let text = args.get(0).to_rust_string_lossy(scope);
    let url = match url::Url::parse(&text) {
        Ok(u) => u,
        Err(e) => return throw_type_error(scope, &format!("WebSocket: invalid URL {text:?}: {e}")),
    };
    let headers = crate::fetch::header_pairs(scope, args.get(1));
    let protocols: Vec<String> = match v8::Local::<v8::Array>::try_from(args.get(2)) {
        Ok(a) => (0..a.length())
            .filter_map(|i| a.get_index(scope, i))
            .map(|v| v.to_rust_string_lossy(scope))
            .collect(),
        Err(_) => Vec::new(),
    };
    let fetched = args.get(3).is_true();
    let Some((owner, promise, resolver)) = crate::settle::start_subrequest(scope) else {
        return;
    };
    let host = host(scope);
    let id = {
        let mut h = host.borrow_mut();
        let s = &mut h.sockets;
        s.next = s.next.wrapping_add(1).max(1);
        let id = s.next;
        let ws = WebSocket::new();
        s.live.insert(id, ws.clone());
        if fetched && owner != 0 {
            s.fetched.push((owner, id));
        }
        let released = CancelFlag::new();
        if h.actors.is_actor(owner) {
            h.sockets.actor_opened.push((owner, id, released.clone()));
        }
        h.spawns.push(Box::new(move |weak| {
            Box::pin(async move {
                let result =
                    ringworker_io::ws::client::connect(ws.clone(), &url, headers, protocols)
                        .await
                        .map_err(|e| e.to_string());
                let Some(rt) = weak.upgrade() else { return };
                match &result {
                    Ok(hs) if hs.status == 101 => {
                        let who = rt.host().borrow().actors.ledger_owner(owner);
                        hold_keepalive(&ws, who, released)
                    }
                    // (Not 101: an HTTP answer, and no socket.)
                    _ => {
                        rt.host().borrow_mut().sockets.remove(id);
                    }
                }
                crate::settle::settle_with(&rt, owner, resolver, result, |tc, hs| {
                    let flat = crate::settle::flat_headers(tc, &hs.headers);
                    let parts = [
                        v8::Integer::new(tc, i32::from(hs.status)).into(),
                        new_string(tc, &hs.protocol).into(),
                        flat.into(),
                    ];
                    v8::Array::new_with_elements(tc, &parts).into()
                });
            })
        }));
        id
    };
    crate::settle::return_pair(scope, &mut rv, id, promise);
}

/// An open outbound socket pins its owner (a keepalive token) until it
/// closes, up to the ledger's cap, or until `released` is set (its actor
/// was evicted: the socket is closing, and pins nothing any more).
fn hold_keepalive(ws: &WebSocket, owner: Owner, released: CancelFlag) {
    use futures_lite::FutureExt;
    use ringworker_core::keepalive::{KeepaliveLedger, TokenEnd, TokenKind};
    let Some(ledger) = KeepaliveLedger::current() else {
        return;
    };
    let token = ledger.acquire(owner, TokenKind::WebSocket);
    let flag = ws.cancel_flag().clone();
    glommio::spawn_local(async move {
        let why = flag.cancelled().or(released.cancelled()).await;
        token.end(TokenEnd::from(why));
    })
    .detach();
}

/// `wsListen(id)`: deliver socket `id`'s events to JS (after this entry).
fn op_ws_listen(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let Some(id) = args.get(0).uint32_value(scope) else {
        return;
    };
    let h = host(scope);
    let mut h = h.borrow_mut();
    let s = &mut h.sockets;
    s.fetched.retain(|&(_, f)| f != id);
    s.starts.push(id);
}

/// Runs `f` on socket `id` (no handle clone: a send is a hot path).
fn with_socket<R>(
    scope: &mut v8::PinScope,
    v: v8::Local<v8::Value>,
    f: impl FnOnce(&WebSocket) -> R,
) -> Option<R> {
    let id = v.uint32_value(scope)?;
    let host = host(scope);
    let h = host.borrow();
    h.sockets.get(id).map(f)
}

/// `wsSend(id, string | ArrayBuffer | view)`.
fn op_ws_send(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let data = args.get(1);
    let msg = if data.is_string() {
        Message::Text(Bytes::from(data.to_rust_string_lossy(scope)))
    } else {
        match with_bytes(scope, data, Bytes::copy_from_slice) {
            Some(b) => Message::Binary(b),
            None => {
                return throw_type_error(scope, "send(): expected a string, ArrayBuffer or view");
            }
        }
    };
    match with_socket(scope, args.get(0), |ws| ws.send(msg)) {
        Some(Ok(())) => {}
        Some(Err(e)) => throw_type_error(scope, &format!("send(): {e}")),
        None => throw_type_error(scope, "send(): this WebSocket is closed"),
    }
}

/// `wsClose(id, code (-1: none), reason)`.
fn op_ws_close(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let code = args.get(1).int32_value(scope).unwrap_or(-1);
    let code = u16::try_from(code).ok();
    let reason = args.get(2).to_rust_string_lossy(scope);
    if let Some(Err(e)) = with_socket(scope, args.get(0), |ws| ws.close(code, &reason)) {
        throw_type_error(scope, &format!("close(): {e}"));
    }
}

/// `wsBuffered(id)` -> bytes queued and not yet sent.
fn op_ws_buffered(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let n = with_socket(scope, args.get(0), |ws| ws.buffered_amount()).unwrap_or(0);
    rv.set(v8::Number::new(scope, n as f64).into());
}

/// What became of a batch of socket events.
enum Delivered {
    /// Delivered; the socket is open.
    Open,
    /// Delivered, and it closed the socket.
    Closed,
    /// The script was terminated (CPU limit) during the batch.
    Terminated,
}

impl JsRuntime {
    /// The io socket the script accepted as `id` (for a 101 response).
    pub(crate) fn accepted_socket(&self, id: u32) -> Option<WebSocket> {
        self.host().borrow().sockets.get(id).cloned()
    }

    /// Takes outbound socket `id` from the script (it is spliced to a
    /// client's connection and no longer the script's).
    pub(crate) fn take_outbound_socket(&self, id: u32) -> Option<WebSocket> {
        let mut h = self.host().borrow_mut();
        h.sockets.fetched.retain(|&(_, f)| f != id);
        h.sockets.remove(id)
    }

    /// Sockets `request` accepted that it did not return in its response
    /// (`returned`) will never be attached: their scripts see close 1006.
    pub(crate) fn fail_unreturned_sockets(&self, request: u32, returned: Option<&WebSocket>) {
        let orphans: Vec<WebSocket> = {
            let mut h = self.host().borrow_mut();
            let s = &mut h.sockets;
            if s.unreturned.is_empty() {
                return;
            }
            take_owned(&mut s.unreturned, request)
                .iter()
                .filter_map(|id| s.live.get(id))
                .filter(|ws| !returned.is_some_and(|r| r.same_as(ws)))
                .cloned()
                .collect()
        };
        for ws in orphans {
            ws.fail_unattached("the WebSocket was accepted but not returned in a 101 response");
        }
    }

    /// Has the sockets accepted during the last entry deliver their events
    /// to JS: on the connection's task as they are parsed, a batch per entry.
    pub(crate) fn listen_to_accepted_sockets(self: &Rc<Self>) {
        let starts = std::mem::take(&mut self.host().borrow_mut().sockets.starts);
        for id in starts {
            let Some(ws) = self.accepted_socket(id) else {
                continue;
            };
            ws.set_key(id);
            ws.set_listener(self.socket_listener());
            // Events that queued before (an outbound socket's first frames,
            // a fetched socket accepted late) are delivered now, after this
            // entry, whether or not its session is still running.
            glommio::spawn_local(async move {
                futures_lite::future::yield_now().await;
                ws.deliver_pending();
            })
            .detach();
        }
    }

    /// The listener of every socket JS accepted (one for all: each socket
    /// carries its id as its key).
    fn socket_listener(self: &Rc<Self>) -> Listener {
        if let Some(l) = self.host().borrow().sockets.listener.as_ref() {
            return l.clone();
        }
        let rt = Rc::downgrade(self);
        let listener: Listener = Rc::new(
            move |ws: &WebSocket, events: &mut dyn Iterator<Item = WsEvent>| {
                let Some(rt) = rt.upgrade() else { return };
                let id = ws.key();
                match rt.dispatch_socket_events(id, ws, events) {
                    Delivered::Closed => {
                        let mut h = rt.host().borrow_mut();
                        h.sockets.remove(id);
                        h.actors.socket_closed(id);
                    }
                    Delivered::Open => {}
                    Delivered::Terminated => {
                        // The handler ran past its CPU limit: the rest of
                        // the batch was not delivered, so the socket cannot
                        // go on as if nothing happened.
                        tracing::error!(
                            target: "js",
                            shard = rt.shard(),
                            "a WebSocket handler ran past its CPU limit; closing the socket with 1011"
                        );
                        let _ = ws.close(Some(1011), "the script exceeded its CPU time limit");
                    }
                }
            },
        );
        self.host().borrow_mut().sockets.listener = Some(listener.clone());
        listener
    }

    /// Delivers a batch of events to the JS socket `id` in one entry.
    fn dispatch_socket_events(
        self: &Rc<Self>,
        id: u32,
        ws: &WebSocket,
        events: &mut dyn Iterator<Item = WsEvent>,
    ) -> Delivered {
        // A hibernatable socket's events go to its actor (woken if it
        // hibernated); its auto-response is answered here, without JS.
        let actor = self
            .host()
            .borrow()
            .actors
            .hibernatable_key(id)
            .map(str::to_owned);
        let mut owned;
        let events: &mut dyn Iterator<Item = WsEvent> = if actor.is_some() {
            let mut kept = Vec::new();
            for ev in events {
                if let WsEvent::Message(Message::Text(t)) = &ev {
                    let auto = self.host().borrow_mut().actors.auto_response(id, t);
                    if let Some(res) = auto {
                        let _ = ws.send(Message::Text(Bytes::from(res)));
                        continue;
                    }
                }
                kept.push(ev);
            }
            if kept.is_empty() {
                return Delivered::Open;
            }
            owned = kept.into_iter();
            &mut owned
        } else {
            events
        };
        let mut closed = false;
        let entered = self.enter(|tc, h| {
            let mut flat: Vec<v8::Local<v8::Value>> = Vec::with_capacity(4);
            for ev in events {
                match ev {
                    WsEvent::Message(Message::Text(b)) => {
                        // (Validated as UTF-8 by the session.)
                        let s = v8::String::new_from_utf8(tc, &b, v8::NewStringType::Normal)
                            .unwrap_or_else(|| v8::String::empty(tc));
                        flat.push(v8::Integer::new(tc, 0).into());
                        flat.push(s.into());
                    }
                    WsEvent::Message(Message::Binary(b)) => {
                        let u8a = crate::runtime::bytes_to_uint8array(tc, b);
                        flat.push(v8::Integer::new(tc, 1).into());
                        flat.push(u8a.into());
                    }
                    WsEvent::Error(msg) => {
                        flat.push(v8::Integer::new(tc, 2).into());
                        flat.push(new_string(tc, &msg).into());
                    }
                    WsEvent::Close {
                        code,
                        reason,
                        was_clean,
                    } => {
                        closed = true;
                        flat.push(v8::Integer::new(tc, 3).into());
                        flat.push(v8::Integer::new(tc, code as i32).into());
                        flat.push(new_string(tc, &reason).into());
                        flat.push(v8::Boolean::new(tc, was_clean).into());
                    }
                }
            }
            let batch = v8::Array::new_with_elements(tc, &flat);
            let recv = v8::undefined(tc).into();
            let id = v8::Integer::new_from_unsigned(tc, id);
            match &actor {
                Some(key) => {
                    let Some(f) = crate::actor::hook(tc, "socketEvents") else {
                        return;
                    };
                    let key = new_string(tc, key);
                    f.call(tc, recv, &[key.into(), id.into(), batch.into()]);
                }
                None => {
                    let f = v8::Local::new(tc, &h.ws_dispatch);
                    f.call(tc, recv, &[id.into(), batch.into()]);
                }
            }
        });
        match entered {
            _ if closed => Delivered::Closed,
            Ok(()) => Delivered::Open,
            Err(_) => Delivered::Terminated,
        }
    }
}
