//! Actors on other shards: a stub whose actor's home is another shard sends
//! its `fetch()` or RPC call there as a message ([`ActorMesh`]), and the
//! answer comes back the same way. Nothing is shared between the shards but
//! the mailboxes.
//!
//! - `fetch()`: the request body and the response body are carried whole
//!   (buffered). A 101 response with a WebSocket joins the client's socket
//!   on this shard to the actor's on its home shard: each shard holds one
//!   end of a bridge (`ringworker_io::ws::bridge`), and frames cross as
//!   messages.
//! - RPC: arguments, results and thrown errors cross in V8's
//!   structured-clone format.

use std::collections::HashMap;
use std::rc::{Rc, Weak};

use ringworker_core::mesh::Mesh;
use ringworker_io::ws::WebSocket;
use ringworker_io::ws::bridge::{BridgeFrame, RemoteEnd, attach_remote};
use v8::MapFnTo;

use crate::runtime::{JsRuntime, current_owner, host, new_string, throw_type_error, with_bytes};

/// Who sent a call, and which actor it is for.
#[derive(Debug)]
pub struct Addressed {
    /// The sending shard.
    pub from: usize,
    /// The sender's id for the reply.
    pub token: u64,
    /// The actor's class.
    pub class: String,
    /// Its id: 64 hex digits.
    pub hex: String,
    /// Its name, for ids made with `idFromName`.
    pub name: Option<String>,
}

/// A message between shards about an actor. `Send`.
#[derive(Debug)]
pub enum ActorMessage {
    /// `stub.fetch()`.
    Fetch {
        /// Sender and actor.
        to: Addressed,
        /// The request.
        method: String,
        /// Its URL.
        url: String,
        /// Its header fields.
        headers: Vec<(String, String)>,
        /// Its body, whole.
        body: Option<Vec<u8>>,
        /// The sender's bridge id, should the answer be a WebSocket.
        bridge: u64,
    },
    /// An RPC call `stub.method(...args)`.
    Call {
        /// Sender and actor.
        to: Addressed,
        /// The method.
        method: String,
        /// The arguments array, structured-cloned.
        args: Vec<u8>,
    },
    /// The answer to a `Fetch` or `Call`.
    Reply {
        /// The sender's id.
        token: u64,
        /// What came of it.
        result: Result<RemoteReply, RemoteError>,
    },
    /// A WebSocket frame for bridge end `bridge` on the receiving shard.
    Frame {
        /// The receiving end.
        bridge: u64,
        /// The frame.
        frame: BridgeFrame,
    },
}

/// A successful answer.
#[derive(Debug)]
pub enum RemoteReply {
    /// A `fetch()` response.
    Response {
        /// Status.
        status: u16,
        /// Header fields.
        headers: Vec<(String, String)>,
        /// Body, whole (none for a 101).
        body: Option<Vec<u8>>,
        /// For a 101: the actor's bridge end.
        bridge: Option<u64>,
    },
    /// An RPC result, structured-cloned.
    Value(Vec<u8>),
}

/// A failed call: the thrown value structured-cloned, or (if it could not
/// be) its text.
#[derive(Debug)]
pub enum RemoteError {
    /// The thrown value.
    Thrown(Vec<u8>),
    /// Its text.
    Text(String),
}

/// The shards' actor mailboxes. Made once per server (`serve_worker` does it
/// when there are several shards and actor bindings), cloned into each
/// shard's options.
#[derive(Debug, Clone)]
pub struct ActorMesh(pub(crate) Mesh<ActorMessage>);

impl ActorMesh {
    /// Mailboxes for `shards` shards.
    pub fn new(shards: usize) -> std::io::Result<Self> {
        Ok(Self(Mesh::new(shards)?))
    }
}

/// A call waiting for its reply.
struct Waiting {
    resolver: v8::Global<v8::PromiseResolver>,
    owner: u32,
    /// Home shard and our bridge id (fetches: should the answer be a 101).
    home: usize,
    bridge: u64,
}

/// This shard's side of the mesh.
#[derive(Default)]
pub(crate) struct Remote {
    waiting: HashMap<u64, Waiting>,
    next_token: u64,
    bridges: HashMap<u64, RemoteEnd>,
    next_bridge: u64,
    drains: u64,
}

thread_local! {
    /// The runtime that serves mesh messages on this shard (the newest, if
    /// an isolate was replaced), and whether the inbox task runs.
    static SERVING: std::cell::RefCell<(Weak<JsRuntime>, bool)> =
        const { std::cell::RefCell::new((Weak::new(), false)) };
}

/// This module's ops.
pub(crate) fn ops() -> Vec<(&'static str, v8::FunctionCallback)> {
    vec![
        ("actorHome", op_home.map_fn_to()),
        ("actorRemoteFetch", op_remote_fetch.map_fn_to()),
        ("actorRemoteCall", op_remote_call.map_fn_to()),
    ]
}

/// `actorHome(hex)` -> the shard where actor `hex` lives.
fn op_home(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let hex = args.get(0).to_rust_string_lossy(scope);
    let h = host(scope);
    let h = h.borrow();
    let home = match &h.actors.options().mesh {
        Some(_) => crate::actor::home_shard(&hex, h.actors.options().shards),
        None => h.actors.shard(),
    };
    rv.set(v8::Integer::new_from_unsigned(scope, home as u32).into());
}

fn opt_string(scope: &mut v8::PinScope, v: v8::Local<v8::Value>) -> Option<String> {
    (!v.is_null_or_undefined()).then(|| v.to_rust_string_lossy(scope))
}

/// Sends `make(addressed, bridge)` to actor `class`/`hex`'s home and
/// returns a promise of the reply.
fn send_call(
    scope: &mut v8::PinScope,
    rv: &mut v8::ReturnValue<v8::Value>,
    args: &v8::FunctionCallbackArguments,
    make: impl FnOnce(Addressed, u64) -> ActorMessage,
) {
    let class = args.get(0).to_rust_string_lossy(scope);
    let hex = args.get(1).to_rust_string_lossy(scope);
    let name = opt_string(scope, args.get(2));
    let Some((promise, resolver)) = crate::settle::new_promise(scope) else {
        return;
    };
    let owner = current_owner(scope);
    let h = host(scope);
    let mut h = h.borrow_mut();
    let Some(mesh) = h.actors.options().mesh.clone() else {
        return throw_type_error(
            scope,
            "this actor's home is another shard, but no mesh is set up",
        );
    };
    let home = crate::actor::home_shard(&hex, h.actors.options().shards);
    let from = h.actors.shard();
    let r = &mut h.remote;
    r.next_token += 1;
    r.next_bridge += 1;
    let (token, bridge) = (r.next_token, r.next_bridge);
    r.waiting.insert(
        token,
        Waiting {
            resolver,
            owner,
            home,
            bridge,
        },
    );
    let to = Addressed {
        from,
        token,
        class,
        hex,
        name,
    };
    if let Err(e) = mesh.0.send(home, make(to, bridge)) {
        r.waiting.remove(&token);
        drop(h);
        return throw_type_error(scope, &format!("cannot reach the actor's shard: {e}"));
    }
    rv.set(promise.into());
}

/// `actorRemoteFetch(class, hex, name, method, url, [name, value, ...],
/// body | null)` -> a promise of `[status, [name, value, ...], body | null,
/// socketId]` (socketId 0 unless the answer is a 101 with a WebSocket).
fn op_remote_fetch(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let method = args.get(3).to_rust_string_lossy(scope);
    let url = args.get(4).to_rust_string_lossy(scope);
    let headers = crate::fetch::header_pairs(scope, args.get(5));
    let body = with_bytes(scope, args.get(6), <[u8]>::to_vec);
    send_call(scope, &mut rv, &args, move |to, bridge| {
        ActorMessage::Fetch {
            to,
            method,
            url,
            headers,
            body,
            bridge,
        }
    });
}

/// `actorRemoteCall(class, hex, name, method, args)` -> a promise of the
/// result (or a rejection with what the method threw).
fn op_remote_call(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let method = args.get(3).to_rust_string_lossy(scope);
    let Some(call_args) = crate::actor::serialize(scope, args.get(4)) else {
        return;
    };
    send_call(scope, &mut rv, &args, move |to, _| ActorMessage::Call {
        to,
        method,
        args: call_args,
    });
}

impl JsRuntime {
    /// Makes this runtime the one serving the shard's mailbox, and starts
    /// the inbox task once per shard.
    pub(crate) fn serve_mesh(self: &Rc<Self>) {
        let mesh = self.host().borrow().actors.options().mesh.clone();
        let Some(mesh) = mesh else { return };
        let shard = self.host().borrow().actors.shard();
        let start = SERVING.with(|s| {
            let mut s = s.borrow_mut();
            s.0 = Rc::downgrade(self);
            !std::mem::replace(&mut s.1, true)
        });
        if !start {
            return;
        }
        let Some(fd) = mesh.0.take_doorbell(shard) else {
            tracing::error!(
                shard,
                "no actor mailbox for this shard: actors on other shards cannot reach it"
            );
            return;
        };
        glommio::spawn_local(async move {
            // The handler (and its runtime) is built before the shard's
            // network ring starts: wait for the ring, briefly.
            for _ in 0..64 {
                if ringworker_io::uring::NetRing::current().is_some() {
                    break;
                }
                futures_lite::future::yield_now().await;
            }
            let mut bell = ringworker_io::doorbell::Doorbell::new(fd);
            while bell.rung().await {
                let mut msgs = Vec::new();
                mesh.0.drain(shard, |m| msgs.push(m));
                let Some(rt) = SERVING.with(|s| s.borrow().0.upgrade()) else {
                    continue;
                };
                for m in msgs {
                    rt.on_mesh_message(&mesh, m);
                }
                let mut h = rt.host().borrow_mut();
                h.remote.drains += 1;
                if h.remote.drains % 256 == 0 {
                    h.remote.bridges.retain(|_, e| !e.is_ended());
                }
            }
        })
        .detach();
    }

    fn on_mesh_message(self: &Rc<Self>, mesh: &ActorMesh, m: ActorMessage) {
        match m {
            ActorMessage::Frame { bridge, frame } => {
                let end = self.host().borrow().remote.bridges.get(&bridge).cloned();
                if let Some(end) = end {
                    end.frame(frame);
                    if end.is_ended() {
                        self.host().borrow_mut().remote.bridges.remove(&bridge);
                    }
                }
            }
            ActorMessage::Reply { token, result } => self.on_reply(mesh, token, result),
            ActorMessage::Fetch {
                to,
                method,
                url,
                headers,
                body,
                bridge,
            } => {
                let started = self.call_hook("remoteFetch", &to, &method, |tc| {
                    let flat = crate::settle::flat_headers(tc, &headers);
                    let body: v8::Local<v8::Value> = match body {
                        Some(b) => crate::runtime::array_buffer(tc, b).into(),
                        None => v8::null(tc).into(),
                    };
                    Some(vec![new_string(tc, &url).into(), flat.into(), body])
                });
                let from = to.from;
                self.answer(mesh.clone(), &to, started, move |rt, tc, v| {
                    rt.fetch_reply(tc, v, from, bridge)
                });
            }
            ActorMessage::Call { to, method, args } => {
                let started = self.call_hook("remoteCall", &to, &method, |tc| {
                    Some(vec![crate::actor::deserialize(tc, &args)?])
                });
                self.answer(mesh.clone(), &to, started, |_, tc, v| {
                    crate::actor::serialize(tc, v)
                        .map(RemoteReply::Value)
                        .ok_or_else(|| RemoteError::Text("the result cannot be cloned".into()))
                });
            }
        }
    }

    /// Calls `rw.actorHooks[hook](class, hex, name, method, ...rest)` for
    /// the call `to`, and watches the promise it returns.
    fn call_hook(
        self: &Rc<Self>,
        hook: &str,
        to: &Addressed,
        method: &str,
        rest: impl for<'s, 'i> FnOnce(
            &mut v8::PinScope<'s, 'i>,
        ) -> Option<Vec<v8::Local<'s, v8::Value>>>,
    ) -> Result<Option<u64>, crate::runtime::JsFailure> {
        self.enter(|tc, h| {
            let f = crate::actor::hook(tc, hook)?;
            let name: v8::Local<v8::Value> = match &to.name {
                Some(n) => new_string(tc, n).into(),
                None => v8::undefined(tc).into(),
            };
            let mut a = vec![
                new_string(tc, &to.class).into(),
                new_string(tc, &to.hex).into(),
                name,
                new_string(tc, method).into(),
            ];
            a.extend(rest(tc)?);
            let recv = v8::undefined(tc).into();
            let p = f.call(tc, recv, &a)?;
            let p = v8::Local::<v8::Promise>::try_from(p).ok()?;
            Some(self.watch_promise(tc, h, p))
        })
    }

    /// Waits for the call's promise and sends its outcome back to the
    /// caller of `to`.
    fn answer(
        self: &Rc<Self>,
        mesh: ActorMesh,
        to: &Addressed,
        started: Result<Option<u64>, crate::runtime::JsFailure>,
        ok: impl for<'s, 'i> FnOnce(
            &Rc<JsRuntime>,
            &mut v8::PinScope<'s, 'i>,
            v8::Local<'s, v8::Value>,
        ) -> Result<RemoteReply, RemoteError>
        + 'static,
    ) {
        let (from, token) = (to.from, to.token);
        let weak = Rc::downgrade(self);
        glommio::spawn_local(async move {
            let result = match started {
                Ok(Some(id)) => match weak.upgrade() {
                    Some(rt) => {
                        let outcome = rt.wait_value(id).await;
                        let rt2 = rt.clone();
                        rt.enter(move |tc, _| match outcome {
                            Some(Ok(v)) => {
                                let v = v8::Local::new(tc, v);
                                ok(&rt2, tc, v)
                            }
                            Some(Err(e)) => {
                                let e = v8::Local::new(tc, e);
                                Err(match crate::actor::serialize(tc, e) {
                                    Some(b) => RemoteError::Thrown(b),
                                    None => {
                                        tc.reset();
                                        RemoteError::Text(e.to_rust_string_lossy(tc))
                                    }
                                })
                            }
                            None => Err(RemoteError::Text(
                                "the actor's script was terminated".into(),
                            )),
                        })
                        .unwrap_or_else(|_| {
                            Err(RemoteError::Text(
                                "the actor's script was terminated".into(),
                            ))
                        })
                    }
                    None => Err(RemoteError::Text("the actor's shard is restarting".into())),
                },
                _ => Err(RemoteError::Text(
                    "the actor could not be reached (its script failed)".into(),
                )),
            };
            let _ = mesh.0.send(from, ActorMessage::Reply { token, result });
        })
        .detach();
    }

    /// A fetch's response, read into a reply: `[status, flat, body, socketId]`.
    fn fetch_reply(
        self: &Rc<Self>,
        tc: &mut v8::PinScope,
        v: v8::Local<v8::Value>,
        from: usize,
        bridge: u64,
    ) -> Result<RemoteReply, RemoteError> {
        let bad = || RemoteError::Text("the actor's fetch() did not return a Response".into());
        let parts = v8::Local::<v8::Array>::try_from(v).map_err(|_| bad())?;
        let status = parts
            .get_index(tc, 0)
            .and_then(|s| s.uint32_value(tc))
            .ok_or_else(bad)? as u16;
        let mut headers = Vec::new();
        if let Some(flat) = parts
            .get_index(tc, 1)
            .and_then(|f| v8::Local::<v8::Array>::try_from(f).ok())
        {
            let mut i = 0;
            while i + 1 < flat.length() {
                let n = flat.get_index(tc, i).unwrap().to_rust_string_lossy(tc);
                let v = flat.get_index(tc, i + 1).unwrap().to_rust_string_lossy(tc);
                headers.push((n, v));
                i += 2;
            }
        }
        let body = parts
            .get_index(tc, 2)
            .and_then(|b| with_bytes(tc, b, <[u8]>::to_vec));
        let socket = parts
            .get_index(tc, 3)
            .and_then(|s| s.uint32_value(tc))
            .unwrap_or(0);
        let mut reply_bridge = None;
        if socket != 0 {
            let ws = self.accepted_socket(socket).ok_or_else(|| {
                RemoteError::Text("the actor's WebSocket is already closed".into())
            })?;
            let mesh = self.host().borrow().actors.options().mesh.clone();
            let Some(mesh) = mesh else {
                return Err(bad());
            };
            let mut h = self.host().borrow_mut();
            h.remote.next_bridge += 1;
            let id = h.remote.next_bridge;
            drop(h);
            // (Frames go out after the reply: the mailbox keeps order.)
            let end = attach_remote(&ws, move |frame| {
                let _ = mesh.0.send(from, ActorMessage::Frame { bridge, frame });
            });
            self.host().borrow_mut().remote.bridges.insert(id, end);
            reply_bridge = Some(id);
        }
        Ok(RemoteReply::Response {
            status,
            headers,
            body,
            bridge: reply_bridge,
        })
    }

    fn on_reply(
        self: &Rc<Self>,
        mesh: &ActorMesh,
        token: u64,
        result: Result<RemoteReply, RemoteError>,
    ) {
        let Some(w) = self.host().borrow_mut().remote.waiting.remove(&token) else {
            return;
        };
        // A 101: this shard's end of the bridge, a socket the script sees
        // as a fetched WebSocket.
        let mut socket = 0;
        if let Ok(RemoteReply::Response {
            bridge: Some(theirs),
            ..
        }) = &result
        {
            let theirs = *theirs;
            let ws = WebSocket::new();
            let mesh = mesh.clone();
            let home = w.home;
            let end = attach_remote(&ws, move |frame| {
                let _ = mesh.0.send(
                    home,
                    ActorMessage::Frame {
                        bridge: theirs,
                        frame,
                    },
                );
            });
            let mut h = self.host().borrow_mut();
            h.remote.bridges.insert(w.bridge, end);
            socket = h.sockets.add_fetched(w.owner, ws);
        }
        let _ = self.enter_as(w.owner, |tc, _| {
            let resolver = v8::Local::new(tc, w.resolver);
            match result {
                Ok(RemoteReply::Value(b)) => match crate::actor::deserialize(tc, &b) {
                    Some(v) => {
                        resolver.resolve(tc, v);
                    }
                    None => {
                        let m = new_string(tc, "RPC: the result could not be read");
                        let e = v8::Exception::error(tc, m);
                        resolver.reject(tc, e);
                    }
                },
                Ok(RemoteReply::Response {
                    status,
                    headers,
                    body,
                    ..
                }) => {
                    let flat = crate::settle::flat_headers(tc, &headers);
                    let body: v8::Local<v8::Value> = match body {
                        Some(b) => {
                            let len = b.len();
                            let ab = crate::runtime::array_buffer(tc, b);
                            v8::Uint8Array::new(tc, ab, 0, len)
                                .map(Into::into)
                                .unwrap_or_else(|| v8::null(tc).into())
                        }
                        None => v8::null(tc).into(),
                    };
                    let parts = [
                        v8::Integer::new(tc, i32::from(status)).into(),
                        flat.into(),
                        body,
                        v8::Integer::new_from_unsigned(tc, socket).into(),
                    ];
                    let v = v8::Array::new_with_elements(tc, &parts);
                    resolver.resolve(tc, v.into());
                }
                Err(RemoteError::Thrown(b)) => {
                    let e = crate::actor::deserialize(tc, &b).unwrap_or_else(|| {
                        let m = new_string(tc, "the actor threw a value that could not be read");
                        v8::Exception::error(tc, m)
                    });
                    resolver.reject(tc, e);
                }
                Err(RemoteError::Text(t)) => {
                    let m = new_string(tc, &t);
                    let e = v8::Exception::error(tc, m);
                    resolver.reject(tc, e);
                }
            }
        });
    }
}
