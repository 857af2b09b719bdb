//! Settling the promises of outbound ops: the shapes `fetch.rs`,
//! `websocket.rs` and `sockets.rs` share (an op returns `[id, promise]`; a
//! task later resolves it with a value built in JS's context, or rejects it
//! with a `TypeError` carrying the io layer's message).

use std::rc::Rc;

use crate::runtime::{JsRuntime, new_string};

/// A new promise and a handle to its resolver for a task to settle.
pub(crate) fn new_promise<'s>(
    scope: &mut v8::PinScope<'s, '_>,
) -> Option<(v8::Local<'s, v8::Promise>, v8::Global<v8::PromiseResolver>)> {
    let resolver = v8::PromiseResolver::new(scope)?;
    let promise = resolver.get_promise(scope);
    Some((promise, v8::Global::new(scope, resolver)))
}

/// Starts a subrequest (`fetch()`, an outbound WebSocket, `connect()`) for
/// the request the current code runs for: counts it against that request's
/// budget (throwing past it) and makes its promise. Returns the owner too.
pub(crate) fn start_subrequest<'s>(
    scope: &mut v8::PinScope<'s, '_>,
) -> Option<(
    u32,
    v8::Local<'s, v8::Promise>,
    v8::Global<v8::PromiseResolver>,
)> {
    if !crate::fetch::claim_subrequest(scope) {
        return None;
    }
    let owner = crate::runtime::current_owner(scope);
    let (promise, resolver) = new_promise(scope)?;
    Some((owner, promise, resolver))
}

/// Returns `[id, promise]` from an op.
pub(crate) fn return_pair(
    scope: &mut v8::PinScope,
    rv: &mut v8::ReturnValue<v8::Value>,
    id: u32,
    promise: v8::Local<v8::Promise>,
) {
    let id = v8::Integer::new_from_unsigned(scope, id);
    let pair = v8::Array::new_with_elements(scope, &[id.into(), promise.into()]);
    rv.set(pair.into());
}

/// `[name, value, ...]` for JS.
pub(crate) fn flat_headers<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    headers: &[(String, String)],
) -> v8::Local<'s, v8::Array> {
    let mut flat: Vec<v8::Local<v8::Value>> = Vec::with_capacity(headers.len() * 2);
    for (k, v) in headers {
        flat.push(new_string(scope, k).into());
        flat.push(new_string(scope, v).into());
    }
    v8::Array::new_with_elements(scope, &flat)
}

/// Settles `resolver` on behalf of request `owner`: with the value `make`
/// builds, or a `TypeError` with the message. (If the runtime cannot be
/// entered any more, nobody is waiting.)
pub(crate) fn settle_with<T>(
    rt: &Rc<JsRuntime>,
    owner: u32,
    resolver: v8::Global<v8::PromiseResolver>,
    outcome: Result<T, String>,
    make: impl for<'s, 'i> FnOnce(&mut v8::PinScope<'s, 'i>, T) -> v8::Local<'s, v8::Value>,
) {
    let _ = rt.enter_as(owner, |tc, _| {
        let resolver = v8::Local::new(tc, resolver);
        match outcome {
            Ok(v) => {
                let value = make(tc, v);
                resolver.resolve(tc, value);
            }
            Err(msg) => {
                let m = new_string(tc, &msg);
                let err = v8::Exception::type_error(tc, m);
                resolver.reject(tc, err);
            }
        }
    });
}
