//! The native side of `connect()` from "cloudflare:sockets"
//! (`js/50_sockets.js`): outbound TCP and TLS connections owned by the
//! isolate's requests.
//!
//! A connection is an io-level [`Conn`] (the shard's ring; TLS in user
//! space). Reads hand JS what arrived, split off the receive buffer without
//! a copy; a write resolves once the connection took the bytes, so a slow
//! peer slows the script's writer. An open socket holds a keepalive token
//! for its owner; closing it (or the peer ending it) releases the token.

use std::collections::HashMap;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;

use bytes::Bytes;
use futures_lite::FutureExt;
use ringworker_core::keepalive::{KeepaliveLedger, KeepaliveToken, TokenEnd, TokenKind};
use ringworker_core::{CancelFlag, CancelReason};
use ringworker_io::client::{Client, Conn};
use v8::MapFnTo;

use crate::runtime::{
    JsRuntime, bytes_to_uint8array, current_owner, host, new_string, throw_type_error, with_bytes,
};

/// Most bytes one read hands to JS.
const READ_MAX: usize = 64 * 1024;

/// An open socket: its connection (once connected), keepalive token, the
/// request it belongs to, and a flag its pending reads and writes race
/// against (set when it closes or upgrades to TLS).
struct TcpSocket {
    conn: Option<Rc<Conn>>,
    token: Option<KeepaliveToken>,
    owner: u32,
    stop: CancelFlag,
}

/// A runtime's TCP sockets by id.
#[derive(Default)]
pub(crate) struct TcpSockets {
    live: HashMap<u32, TcpSocket>,
    next: u32,
}

impl TcpSockets {
    fn add(&mut self, owner: u32) -> u32 {
        self.next = self.next.wrapping_add(1).max(1);
        self.live.insert(
            self.next,
            TcpSocket {
                conn: None,
                token: None,
                owner,
                stop: CancelFlag::new(),
            },
        );
        self.next
    }

    /// The connection of socket `id` and its stop flag.
    fn conn(&self, id: u32) -> Option<(Rc<Conn>, CancelFlag)> {
        let s = self.live.get(&id)?;
        Some((s.conn.clone()?, s.stop.clone()))
    }

    /// Closes socket `id`: its pending reads and writes end, and the
    /// connection closes once they let go of it.
    fn close(&mut self, id: u32, why: TokenEnd) -> Option<Rc<Conn>> {
        let mut s = self.live.remove(&id)?;
        s.stop.cancel(CancelReason::Aborted);
        if let Some(t) = s.token.take() {
            t.end(why);
        }
        s.conn
    }

    /// Request `owner` is over: its sockets close, as a request's I/O does
    /// in Workers.
    pub(crate) fn owner_ended(&mut self, owner: u32) {
        if self.live.is_empty() {
            return;
        }
        let mine: Vec<u32> = self
            .live
            .iter()
            .filter(|(_, s)| s.owner == owner)
            .map(|(id, _)| *id)
            .collect();
        for id in mine {
            self.close(id, TokenEnd::OwnerEnded);
        }
    }
}

/// This module's ops (named as the JS files call them on `ops`); also the
/// snapshot's external references.
pub(crate) fn ops() -> Vec<(&'static str, v8::FunctionCallback)> {
    vec![
        ("tcpConnect", op_tcp_connect.map_fn_to()),
        ("tcpRead", op_tcp_read.map_fn_to()),
        ("tcpWrite", op_tcp_write.map_fn_to()),
        ("tcpShutdown", op_tcp_shutdown.map_fn_to()),
        ("tcpClose", op_tcp_close.map_fn_to()),
        ("tcpStartTls", op_tcp_start_tls.map_fn_to()),
    ]
}

/// What a task settles its promise with.
enum Settle {
    /// `[remoteAddress, localAddress]`.
    Opened(String, String),
    Chunk(Bytes),
    Eof,
    Done,
    Error(String),
}

fn settle(rt: &Rc<JsRuntime>, owner: u32, resolver: v8::Global<v8::PromiseResolver>, s: Settle) {
    let outcome = match s {
        Settle::Error(msg) => Err(msg),
        other => Ok(other),
    };
    crate::settle::settle_with(rt, owner, resolver, outcome, |tc, s| match s {
        Settle::Opened(remote, local) => {
            let r = new_string(tc, &remote).into();
            let l = new_string(tc, &local).into();
            v8::Array::new_with_elements(tc, &[r, l]).into()
        }
        Settle::Chunk(b) => bytes_to_uint8array(tc, b).into(),
        Settle::Eof => v8::null(tc).into(),
        Settle::Done | Settle::Error(_) => v8::undefined(tc).into(),
    });
}

/// Connected: the socket gets its connection and a keepalive token.
fn opened(rt: &Rc<JsRuntime>, id: u32, owner: u32, conn: Conn) -> Option<Settle> {
    let info = Settle::Opened(
        conn.peer_addr().map(|a| a.to_string()).unwrap_or_default(),
        conn.local_addr().map(|a| a.to_string()).unwrap_or_default(),
    );
    let mut h = rt.host().borrow_mut();
    // Closed while connecting: the connection just drops.
    let s = h.tcp.live.get_mut(&id)?;
    s.conn = Some(Rc::new(conn));
    let who = h.actors.ledger_owner(owner);
    let s = h.tcp.live.get_mut(&id)?;
    s.token = KeepaliveLedger::current().map(|l| l.acquire(who, TokenKind::Tcp));
    Some(info)
}

/// `tcpConnect(hostname, port, tls)` -> `[id, opened]`: `opened` resolves
/// with `[remoteAddress, localAddress]` or rejects with a `TypeError`.
fn op_tcp_connect(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let hostname = args.get(0).to_rust_string_lossy(scope);
    let port = args.get(1).uint32_value(scope).unwrap_or(0);
    let tls = args.get(2).is_true();
    let Ok(port) = u16::try_from(port) else {
        return throw_type_error(scope, "connect: invalid port");
    };
    let Some((owner, promise, resolver)) = crate::settle::start_subrequest(scope) else {
        return;
    };
    let host = host(scope);
    let mut h = host.borrow_mut();
    let id = h.tcp.add(owner);
    h.spawns.push(Box::new(move |weak| {
        Box::pin(async move {
            let result = match Client::current() {
                Ok(c) => c
                    .connect(&hostname, port, tls)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(format!("connect failed: {e}")),
            };
            let Some(rt) = weak.upgrade() else { return };
            let s = match result {
                Ok(conn) => match opened(&rt, id, owner, conn) {
                    Some(s) => s,
                    None => Settle::Error("connect: the socket was closed".into()),
                },
                Err(msg) => {
                    rt.host().borrow_mut().tcp.live.remove(&id);
                    Settle::Error(msg)
                }
            };
            settle(&rt, owner, resolver, s);
        })
    }));
    drop(h);
    crate::settle::return_pair(scope, &mut rv, id, promise);
}

/// `tcpRead(id)` -> a promise of the next bytes (a Uint8Array), or null once
/// the peer finished sending.
fn op_tcp_read(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    queue(scope, &mut rv, id, |conn| async move {
        poll_fn(|cx| {
            loop {
                {
                    let mut buf = conn.rbuf();
                    if !buf.is_empty() {
                        let n = buf.len().min(READ_MAX);
                        return Poll::Ready(Settle::Chunk(buf.split_to(n).freeze()));
                    }
                }
                if let Some(end) = conn.recv_end() {
                    return Poll::Ready(match end {
                        ringworker_io::uring::RecvEnd::Eof => Settle::Eof,
                        ringworker_io::uring::RecvEnd::Error(e) => {
                            Settle::Error(format!("read: {}", std::io::Error::from_raw_os_error(e)))
                        }
                    });
                }
                // (Ready means bytes arrived or the receive side ended.)
                if conn.poll_recv(cx, true).is_pending() {
                    return Poll::Pending;
                }
            }
        })
        .await
    });
}

/// `tcpWrite(id, bytes)` -> a promise that resolves once the connection
/// took the bytes.
fn op_tcp_write(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    // Copied: the script may reuse its buffer once the write resolves, and
    // a TLS connection encrypts from it anyway.
    let Some(bytes) = with_bytes(scope, args.get(1), Bytes::copy_from_slice) else {
        return throw_type_error(scope, "write: expected an ArrayBuffer or a view");
    };
    queue(scope, &mut rv, id, move |conn| async move {
        conn.send(&mut Vec::new(), std::slice::from_ref(&bytes), false);
        match poll_fn(|cx| conn.poll_sent(cx, 1)).await {
            Ok(()) => Settle::Done,
            Err(e) => Settle::Error(format!("write: {e}")),
        }
    });
}

/// Runs `work` on socket `id`'s connection as a task after this entry and
/// returns a promise of its outcome; closing the socket meanwhile ends the
/// work (and its hold on the connection) with an error.
fn queue<F, Fut>(scope: &mut v8::PinScope, rv: &mut v8::ReturnValue<v8::Value>, id: u32, work: F)
where
    F: FnOnce(Rc<Conn>) -> Fut + 'static,
    Fut: std::future::Future<Output = Settle> + 'static,
{
    let owner = current_owner(scope);
    let Some((promise, resolver)) = crate::settle::new_promise(scope) else {
        return;
    };
    host(scope).borrow_mut().spawns.push(Box::new(move |weak| {
        Box::pin(async move {
            let found = match weak.upgrade() {
                Some(rt) => rt.host().borrow().tcp.conn(id),
                None => return,
            };
            let s = match found {
                None => Settle::Error("the socket is closed".into()),
                Some((conn, stop)) => {
                    work(conn)
                        .or(async move {
                            stop.cancelled().await;
                            Settle::Error("the socket was closed".into())
                        })
                        .await
                }
            };
            if let Some(rt) = weak.upgrade() {
                settle(&rt, owner, resolver, s);
            }
        })
    }));
    rv.set(promise.into());
}

/// `tcpShutdown(id)`: no more writes (FIN to the peer; TLS sends
/// close_notify first).
fn op_tcp_shutdown(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    if let Some((conn, _)) = host(scope).borrow().tcp.conn(id) {
        // (It waits for the queued writes: a FIN must not overtake them.)
        glommio::spawn_local(async move {
            let _ = conn.shutdown_write().await;
        })
        .detach();
    }
}

/// `tcpClose(id)`: the socket is done; its connection closes and its
/// keepalive token is released.
fn op_tcp_close(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    let _ = host(scope).borrow_mut().tcp.close(id, TokenEnd::Closed);
}

/// `tcpStartTls(id, serverName)` -> `[newId, opened]`: the connection of
/// socket `id` continues as TLS under a new socket, once it is open (the
/// script may call `startTls()` right after `connect()`); `id` names
/// nothing any more and its pending reads end.
fn op_tcp_start_tls(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    let name = args.get(1).to_rust_string_lossy(scope);
    let owner = current_owner(scope);
    let Some((promise, resolver)) = crate::settle::new_promise(scope) else {
        return;
    };
    let host = host(scope);
    let new_id = host.borrow_mut().tcp.add(owner);
    host.borrow_mut().spawns.push(Box::new(move |weak| {
        Box::pin(async move {
            // The plain socket's connect first (JS chains on its `opened`,
            // so by now it is open, failed or closed).
            let conn = match weak.upgrade() {
                Some(rt) => rt.host().borrow_mut().tcp.close(id, TokenEnd::Closed),
                None => return,
            };
            let conn = match conn {
                Some(mut c) => {
                    // Pending reads and writes were told to stop: they let
                    // go of the connection within a round or two.
                    let mut rounds = 0;
                    loop {
                        match Rc::try_unwrap(c) {
                            Ok(c) => break Some(c),
                            Err(back) if rounds < 64 => {
                                c = back;
                                rounds += 1;
                                futures_lite::future::yield_now().await;
                            }
                            Err(_) => break None,
                        }
                    }
                }
                None => None,
            };
            let result = match conn {
                Some(c) => c.start_tls(&name).await.map_err(|e| e.to_string()),
                None => Err("startTls(): the socket is closed or still in use".to_string()),
            };
            let Some(rt) = weak.upgrade() else { return };
            let s = match result {
                Ok(conn) => opened(&rt, new_id, owner, conn)
                    .unwrap_or_else(|| Settle::Error("startTls(): the socket was closed".into())),
                Err(msg) => {
                    rt.host().borrow_mut().tcp.live.remove(&new_id);
                    Settle::Error(msg)
                }
            };
            settle(&rt, owner, resolver, s);
        })
    }));
    crate::settle::return_pair(scope, &mut rv, new_id, promise);
}
