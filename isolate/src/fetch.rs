//! The native side of `fetch()` (`js/40_fetch.js`): one hop of an outbound
//! HTTP request on the shard's client.
//!
//! `fetchStart` checks what it can at once (the URL, the request's
//! subrequest budget) and queues the hop; it runs as a task after the JS
//! entry, on the shard's HTTP client (`ringworker_io::client`). Its response
//! body becomes a native body JS reads with `bodyRead`, or hands back whole
//! (a forwarded response). A plain fetch takes no keepalive token: it does
//! not keep its owner resident, even while its body streams.

use std::collections::HashMap;

use bytes::Bytes;
use ringworker_core::{CancelFlag, CancelReason};
use ringworker_io::client::{Client, OutboundBody, OutboundRequest};
use v8::MapFnTo;

use crate::runtime::{current_owner, host, new_string, throw_type_error, with_bytes};

/// A runtime's subrequests: their abort flags and each request's count.
#[derive(Default)]
pub(crate) struct Outbound {
    /// Hops in flight, by id, with the request that made them: cancelled
    /// by `fetchAbort`, or when that request is over.
    aborts: HashMap<u32, (u32, CancelFlag)>,
    next: u32,
    /// Subrequests made so far, by the incoming request that made them.
    per_request: HashMap<u32, u32>,
    /// Most subrequests per request (`WorkerOptions::subrequest_limit`).
    pub(crate) limit: usize,
}

impl Outbound {
    /// The request and its `waitUntil` work are over: its budget goes, and
    /// its hops still waiting for a response head are aborted.
    pub(crate) fn request_ended(&mut self, request: u32) {
        if !self.per_request.is_empty() {
            self.per_request.remove(&request);
        }
        if !self.aborts.is_empty() {
            self.aborts.retain(|_, (owner, flag)| {
                if *owner == request {
                    flag.cancel(CancelReason::Aborted);
                }
                *owner != request
            });
        }
    }

    /// Counts one subrequest against `owner`'s budget of `limit`; false when
    /// it is spent. Work outside a live request (timers at the top level,
    /// WebSocket events) has no budget.
    pub(crate) fn take_budget(&mut self, owner: u32, limit: usize, live: bool) -> bool {
        if owner == 0 || !live {
            return true;
        }
        let n = self.per_request.entry(owner).or_insert(0);
        if *n as usize >= limit {
            return false;
        }
        *n += 1;
        true
    }
}

/// This module's ops (named as the JS files call them on `ops`); also the
/// snapshot's external references.
pub(crate) fn ops() -> Vec<(&'static str, v8::FunctionCallback)> {
    vec![
        ("fetchStart", op_fetch_start.map_fn_to()),
        ("fetchAbort", op_fetch_abort.map_fn_to()),
    ]
}

/// A request body as the op received it; made into an [`OutboundBody`] in
/// the task (a JS stream needs the runtime to be pulled).
enum BodySpec {
    Empty,
    Bytes(Bytes),
    Native(Option<ringworker_io::Body>),
    Reader(v8::Global<v8::Object>),
}

/// `[name, value, ...]` -> pairs.
pub(crate) fn header_pairs(
    scope: &mut v8::PinScope,
    v: v8::Local<v8::Value>,
) -> Vec<(String, String)> {
    let Ok(flat) = v8::Local::<v8::Array>::try_from(v) else {
        return Vec::new();
    };
    let n = flat.length();
    let mut out = Vec::with_capacity(n as usize / 2);
    let mut i = 0;
    while i + 1 < n {
        let k = flat
            .get_index(scope, i)
            .unwrap()
            .to_rust_string_lossy(scope);
        let v = flat
            .get_index(scope, i + 1)
            .unwrap()
            .to_rust_string_lossy(scope);
        out.push((k, v));
        i += 2;
    }
    out
}

/// Claims one subrequest for the current request, or throws.
pub(crate) fn claim_subrequest(scope: &mut v8::PinScope) -> bool {
    let owner = current_owner(scope);
    let h = host(scope);
    let mut h = h.borrow_mut();
    let limit = h.outbound.limit;
    let live = h.owner_live(owner);
    if h.outbound.take_budget(owner, limit, live) {
        return true;
    }
    drop(h);
    throw_type_error(
        scope,
        &format!("Too many subrequests: a request may make at most {limit}"),
    );
    false
}

/// `fetchStart(method, url, [name, value, ...], bodyKind, body)` ->
/// `[id, promise]`; the promise resolves with
/// `[status, statusText, [name, value, ...], bodyId | null, length | -1]`
/// or rejects with a `TypeError`.
fn op_fetch_start(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let method = args.get(0).to_rust_string_lossy(scope);
    let url_text = args.get(1).to_rust_string_lossy(scope);
    let url = match url::Url::parse(&url_text) {
        Ok(u) => u,
        Err(e) => return throw_type_error(scope, &format!("fetch: invalid URL {url_text:?}: {e}")),
    };
    let headers = header_pairs(scope, args.get(2));
    let body = match args.get(3).uint32_value(scope).unwrap_or(0) {
        1 => {
            let v = args.get(4);
            if v.is_string() {
                BodySpec::Bytes(Bytes::from(v.to_rust_string_lossy(scope)))
            } else {
                // Copied: the script may write into its buffer afterwards.
                BodySpec::Bytes(with_bytes(scope, v, Bytes::copy_from_slice).unwrap_or_default())
            }
        }
        // Taken now: the request it belongs to may end before the hop starts.
        2 => {
            let id = args.get(4).uint32_value(scope).unwrap_or(0);
            BodySpec::Native(host(scope).borrow_mut().take_body(id))
        }
        3 => match v8::Local::<v8::Object>::try_from(args.get(4)) {
            Ok(reader) => BodySpec::Reader(v8::Global::new(scope, reader)),
            Err(_) => BodySpec::Empty,
        },
        _ => BodySpec::Empty,
    };
    let Some((owner, promise, resolver)) = crate::settle::start_subrequest(scope) else {
        return;
    };
    let cancel = CancelFlag::new();
    let h = host(scope);
    let id = {
        let mut h = h.borrow_mut();
        let o = &mut h.outbound;
        o.next = o.next.wrapping_add(1).max(1);
        let id = o.next;
        o.aborts.insert(id, (owner, cancel.clone()));
        h.spawns.push(Box::new(move |weak| {
            Box::pin(async move {
                let body = {
                    let Some(rt) = weak.upgrade() else { return };
                    match body {
                        BodySpec::Empty => OutboundBody::Empty,
                        BodySpec::Bytes(b) if b.is_empty() => OutboundBody::Empty,
                        BodySpec::Bytes(b) => OutboundBody::Full(b),
                        BodySpec::Native(Some(b)) => OutboundBody::Stream {
                            length: b.content_length(),
                            stream: Box::pin(b),
                        },
                        BodySpec::Native(None) => OutboundBody::Stream {
                            length: None,
                            stream: Box::pin(futures_lite::stream::once(Err(
                                ringworker_io::BodyError::Stream(
                                    "the request body was already consumed".into(),
                                ),
                            ))),
                        },
                        BodySpec::Reader(reader) => OutboundBody::Stream {
                            length: None,
                            stream: Box::pin(crate::body::JsBodyStream::upload(
                                rt.clone(),
                                reader,
                                owner,
                            )),
                        },
                    }
                };
                let req = OutboundRequest {
                    method,
                    url,
                    headers,
                    body,
                    cancel: Some(cancel.clone()),
                };
                let result = match Client::current() {
                    Ok(client) => client.send(req).await.map_err(|e| e.to_string()),
                    Err(e) => Err(format!("fetch failed: {e}")),
                };
                let Some(rt) = weak.upgrade() else { return };
                rt.host().borrow_mut().outbound.aborts.remove(&id);
                // A request that is over gets no body to leak: its
                // connection closes now.
                let wanted = owner == 0 || rt.host().borrow().owner_live(owner);
                let result = result.map(|resp| {
                    let length = resp.body.content_length();
                    let body = (!resp.body.is_empty() && wanted)
                        .then(|| rt.register_body(resp.body, owner, cancel));
                    (resp.status, resp.reason, resp.headers, body, length)
                });
                crate::settle::settle_with(
                    &rt,
                    owner,
                    resolver,
                    result,
                    |tc, (status, reason, headers, body, length)| {
                        let flat = crate::settle::flat_headers(tc, &headers);
                        let body: v8::Local<v8::Value> = match body {
                            Some(id) => v8::Integer::new_from_unsigned(tc, id).into(),
                            None => v8::null(tc).into(),
                        };
                        let length = length.map_or(-1.0, |l| l as f64);
                        let parts = [
                            v8::Integer::new(tc, i32::from(status)).into(),
                            new_string(tc, &reason).into(),
                            flat.into(),
                            body,
                            v8::Number::new(tc, length).into(),
                        ];
                        v8::Array::new_with_elements(tc, &parts).into()
                    },
                );
            })
        }));
        id
    };
    crate::settle::return_pair(scope, &mut rv, id, promise);
}

/// `fetchAbort(id)`: the request's signal aborted before its response head
/// arrived: the hop stops and its connection is closed.
fn op_fetch_abort(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    if let Some((_, flag)) = host(scope).borrow_mut().outbound.aborts.remove(&id) {
        flag.cancel(CancelReason::Aborted);
    }
}
