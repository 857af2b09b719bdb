//! `node:crypto`'s native side: hashes and HMACs fed piece by piece
//! (`createHash`, `createHmac`, on `hash.rs`) and `timingSafeEqual`.
//!
//! A digest in progress lives here by id; it goes when JS takes the digest,
//! or when V8 collects the JS object that holds it (a hash never finished).

use std::collections::HashMap;

use v8::MapFnTo;

use crate::hash::{HashAlg, Hasher, HmacState};
use crate::runtime::{array_buffer, throw_type_error, with_bytes};

enum State {
    Hash(Hasher),
    Hmac(HmacState),
}

/// Digests in progress (an isolate slot, made on first use).
#[derive(Default)]
struct Digests {
    live: HashMap<u32, (State, Option<v8::Weak<v8::Object>>)>,
    next: u32,
}

fn digests(scope: &mut v8::Isolate) -> &mut Digests {
    if scope.get_slot::<Digests>().is_none() {
        scope.set_slot(Digests::default());
    }
    scope.get_slot_mut::<Digests>().expect("just set")
}

/// This module's ops.
pub(crate) fn ops() -> Vec<(&'static str, v8::FunctionCallback)> {
    vec![
        ("nodeHashNew", op_hash_new.map_fn_to()),
        ("nodeHashUpdate", op_hash_update.map_fn_to()),
        ("nodeHashDigest", op_hash_digest.map_fn_to()),
        ("nodeHashCopy", op_hash_copy.map_fn_to()),
        ("nodeHashNames", op_hash_names.map_fn_to()),
        ("nodeTimingSafeEqual", op_timing_safe_equal.map_fn_to()),
    ]
}

/// Keeps `state` for `holder` (its JS object); returns its id.
fn keep(scope: &mut v8::PinScope, state: State, holder: v8::Local<v8::Value>) -> u32 {
    let d = digests(scope);
    d.next = d.next.wrapping_add(1).max(1);
    let id = d.next;
    d.live.insert(id, (state, None));
    if let Ok(holder) = v8::Local::<v8::Object>::try_from(holder) {
        let weak = v8::Weak::with_finalizer(
            scope,
            holder,
            Box::new(move |isolate: &mut v8::Isolate| {
                if let Some(d) = isolate.get_slot_mut::<Digests>() {
                    d.live.remove(&id);
                }
            }),
        );
        if let Some(e) = digests(scope).live.get_mut(&id) {
            e.1 = Some(weak);
        }
    }
    id
}

/// `nodeHashNew(holder, algorithm, key | undefined)` -> an id, or 0 if the
/// algorithm is not supported. With a key (bytes) it is an HMAC.
fn op_hash_new(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let name = args.get(1).to_rust_string_lossy(scope);
    let Some(alg) = HashAlg::from_name(&name) else {
        rv.set(v8::Integer::new(scope, 0).into());
        return;
    };
    let state = if args.get(2).is_undefined() {
        State::Hash(Hasher::new(alg))
    } else {
        match with_bytes(scope, args.get(2), |k| HmacState::new(alg, k)) {
            Some(h) => State::Hmac(h),
            None => return throw_type_error(scope, "the HMAC key must be bytes"),
        }
    };
    let id = keep(scope, state, args.get(0));
    rv.set(v8::Integer::new_from_unsigned(scope, id).into());
}

/// `nodeHashUpdate(id, bytes)`.
fn op_hash_update(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    let Some(mut state) = digests(scope).live.remove(&id) else {
        return throw_type_error(scope, "Digest already called");
    };
    let ok = with_bytes(scope, args.get(1), |b| match &mut state.0 {
        State::Hash(h) => h.update(b),
        State::Hmac(h) => h.update(b),
    });
    digests(scope).live.insert(id, state);
    if ok.is_none() {
        throw_type_error(scope, "the data must be bytes");
    }
}

/// `nodeHashDigest(id)` -> the digest's bytes (the state is gone after).
fn op_hash_digest(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    let Some((state, _)) = digests(scope).live.remove(&id) else {
        return throw_type_error(scope, "Digest already called");
    };
    let out = match state {
        State::Hash(h) => h.finish(),
        State::Hmac(h) => h.finish(),
    };
    let len = out.len();
    let ab = array_buffer(scope, out);
    if let Some(v) = v8::Uint8Array::new(scope, ab, 0, len) {
        rv.set(v.into());
    }
}

/// `nodeHashCopy(id, holder)` -> the id of a copy of hash `id` (Node's `hash.copy()`).
fn op_hash_copy(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    let copy = match digests(scope).live.get(&id) {
        Some((State::Hash(h), _)) => State::Hash(h.clone()),
        Some((State::Hmac(h), _)) => State::Hmac(h.clone()),
        None => return throw_type_error(scope, "Digest already called"),
    };
    let id = keep(scope, copy, args.get(1));
    rv.set(v8::Integer::new_from_unsigned(scope, id).into());
}

/// `nodeHashNames()` -> the algorithms `createHash` takes.
fn op_hash_names(
    scope: &mut v8::PinScope,
    _args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let names: Vec<v8::Local<v8::Value>> = HashAlg::NAMES
        .iter()
        .map(|n| crate::runtime::new_string(scope, n).into())
        .collect();
    rv.set(v8::Array::new_with_elements(scope, &names).into());
}

/// `nodeTimingSafeEqual(a, b)` -> whether two equally long byte views are
/// equal, compared in time that does not depend on where they differ.
fn op_timing_safe_equal(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let a = with_bytes(scope, args.get(0), <[u8]>::to_vec);
    let b = args.get(1);
    let eq = a.and_then(|a| with_bytes(scope, b, |b| crate::crypto::timing_safe_equal(&a, b)));
    match eq {
        Some(eq) => rv.set(v8::Boolean::new(scope, eq).into()),
        None => throw_type_error(scope, "timingSafeEqual: expected two byte views"),
    }
}
