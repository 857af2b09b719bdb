//! The V8 side of WebCrypto: the ops `js/25_crypto.js` calls, the isolate's
//! key table, and `CryptoKey` as a structured-clone host object.
//!
//! A `CryptoKey` object carries its handle in a V8 private property (which
//! scripts cannot see or forge); the table maps it to an `Arc<Key>`. A weak
//! handle on the object drops its entry once V8 collects it, and the key's
//! material zeroes itself when the last `Arc` goes (a clone of the object
//! shares the `Arc`; an operation off the shard holds one while it runs).
//!
//! Operations run inline on the shard, except those that take long: RSA key
//! generation, RSA private-key operations from
//! [`sign::RSA_OFF_SHARD_BITS`], and PBKDF2 from
//! [`derive::PBKDF2_OFF_SHARD_ITERATIONS`]. Those run on glommio's
//! blocking pool (as DNS lookups do) and settle their promise afterwards,
//! so the shard keeps serving meanwhile.

use std::collections::HashMap;
use std::sync::Arc;

use v8::MapFnTo;
use zeroize::Zeroizing;

use super::algorithm::{Alg, Curve, Hash, usage};
use super::digest::{DigestAlg, Hasher};
use super::error::fail;
use super::format::{self, Exported, Format, KeyData};
use super::key::{Key, KeyType};
use super::params::Params;
use super::{CryptoError, Result, cipher, derive, generate, sign};
use crate::runtime::{array_buffer, current_owner, host, new_string, with_bytes};

/// What a handle points to.
enum Held {
    Key(Arc<Key>),
    Digest(Box<Hasher>),
}

struct Slot {
    held: Held,
    /// Set once a JS object owns the handle: dropping the entry when it
    /// is collected.
    weak: Option<v8::Weak<v8::Object>>,
}

/// The isolate's key table (an isolate slot).
#[derive(Default)]
pub(crate) struct CryptoState {
    slots: HashMap<u32, Slot>,
    next: u32,
    /// The private symbol that holds a handle.
    private: Option<v8::Global<v8::Private>>,
}

impl CryptoState {
    fn add(&mut self, held: Held) -> u32 {
        loop {
            self.next = self.next.wrapping_add(1).max(1);
            if !self.slots.contains_key(&self.next) {
                break;
            }
        }
        self.slots.insert(self.next, Slot { held, weak: None });
        self.next
    }
}

/// Sets up an isolate's key table.
pub(crate) fn install(isolate: &mut v8::Isolate) {
    isolate.set_slot(CryptoState::default());
}

fn state<'a>(scope: &'a mut v8::PinScope) -> &'a mut CryptoState {
    scope
        .get_slot_mut::<CryptoState>()
        .expect("the crypto state slot is set at start-up")
}

fn private<'s>(scope: &mut v8::PinScope<'s, '_>) -> v8::Local<'s, v8::Private> {
    if let Some(p) = &state(scope).private {
        let p = p.clone();
        return v8::Local::new(scope, p);
    }
    let name = new_string(scope, "ringworker.crypto.handle");
    let p = v8::Private::for_api(scope, Some(name));
    let g = v8::Global::new(scope, p);
    state(scope).private = Some(g);
    p
}

/// The handle an object carries, if it is a key or digest holder.
fn handle_of(scope: &mut v8::PinScope, v: v8::Local<v8::Value>) -> Option<u32> {
    let obj = v8::Local::<v8::Object>::try_from(v).ok()?;
    let p = private(scope);
    let h = obj.get_private(scope, p)?;
    if h.is_uint32() {
        h.uint32_value(scope)
    } else {
        None
    }
}

/// The key behind a `CryptoKey` object.
fn key_of(scope: &mut v8::PinScope, v: v8::Local<v8::Value>) -> Result<Arc<Key>> {
    let id = handle_of(scope, v);
    match id.and_then(|id| state(scope).slots.get(&id)) {
        Some(Slot {
            held: Held::Key(k), ..
        }) => Ok(k.clone()),
        _ => fail!(Type, "Expected a CryptoKey"),
    }
}

/// Ties handle `id` to `obj`: the private property, and the weak handle
/// that frees the entry when `obj` is collected.
fn adopt(scope: &mut v8::PinScope, obj: v8::Local<v8::Object>, id: u32) {
    let p = private(scope);
    let v = v8::Integer::new_from_unsigned(scope, id);
    obj.set_private(scope, p, v.into());
    let weak = v8::Weak::with_finalizer(
        scope,
        obj,
        Box::new(move |isolate: &mut v8::Isolate| {
            if let Some(st) = isolate.get_slot_mut::<CryptoState>() {
                st.slots.remove(&id);
            }
        }),
    );
    if let Some(slot) = state(scope).slots.get_mut(&id) {
        slot.weak = Some(weak);
    }
}

/// Whether `obj` is a `CryptoKey` (for the structured-clone serializer).
pub(crate) fn is_key(scope: &mut v8::PinScope, obj: v8::Local<v8::Object>) -> bool {
    key_of(scope, obj.into()).is_ok()
}

/// Writes a `CryptoKey` for the structured-clone serializer.
pub(crate) fn write_key(
    scope: &mut v8::PinScope,
    obj: v8::Local<v8::Object>,
    out: &dyn v8::ValueSerializerHelper,
) -> Option<bool> {
    let key = key_of(scope, obj.into()).ok()?;
    match super::clone::to_bytes(&key) {
        Ok(bytes) => {
            out.write_uint32(bytes.len() as u32);
            out.write_raw_bytes(&bytes);
            Some(true)
        }
        Err(e) => {
            throw_plain(scope, &e);
            None
        }
    }
}

/// Reads a `CryptoKey` the serializer wrote, as a new object of this isolate.
pub(crate) fn read_key<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    input: &dyn v8::ValueDeserializerHelper,
) -> Option<v8::Local<'s, v8::Object>> {
    let mut len = 0u32;
    if !input.read_uint32(&mut len) {
        return None;
    }
    let bytes = Zeroizing::new(input.read_raw_bytes(len as usize)?.to_vec());
    let key = match super::clone::from_bytes(&bytes) {
        Ok(k) => k,
        Err(e) => {
            throw_plain(scope, &e);
            return None;
        }
    };
    let obj = key_object(scope, Arc::new(key)).ok()?;
    v8::Local::<v8::Object>::try_from(obj).ok()
}

/// The exception for `e`: a `DOMException` with the spec's name (made by
/// `rw.cryptoError`), or a `TypeError`.
fn exception<'s>(scope: &mut v8::PinScope<'s, '_>, e: &CryptoError) -> v8::Local<'s, v8::Value> {
    let msg = new_string(scope, &e.to_string());
    if let CryptoError::Type(_) = e {
        return v8::Exception::type_error(scope, msg);
    }
    if let Some(f) = crate::runtime::rw_function(scope, "cryptoError") {
        let name = new_string(scope, e.name());
        let recv = v8::undefined(scope).into();
        if let Some(ex) = f.call(scope, recv, &[name.into(), msg.into()]) {
            return ex;
        }
    }
    v8::Exception::error(scope, msg)
}

/// A plain `Error` for `e`, for the structured-clone hooks, where V8 lets
/// no JS run (so no `DOMException` can be made).
fn throw_plain(scope: &mut v8::PinScope, e: &CryptoError) {
    let msg = new_string(scope, &format!("{}: {e}", e.name()));
    let ex = v8::Exception::error(scope, msg);
    scope.throw_exception(ex);
}

fn throw(scope: &mut v8::PinScope, e: &CryptoError) {
    let ex = exception(scope, e);
    scope.throw_exception(ex);
}

fn bytes_arg(scope: &mut v8::PinScope, v: v8::Local<v8::Value>, what: &str) -> Result<Vec<u8>> {
    match with_bytes(scope, v, |b| b.to_vec()) {
        Some(b) => Ok(b),
        None => fail!(Type, "{what} must be an ArrayBuffer or an ArrayBufferView"),
    }
}

fn string_arg(scope: &mut v8::PinScope, v: v8::Local<v8::Value>) -> String {
    v.to_rust_string_lossy(scope)
}

fn u32_of(scope: &mut v8::PinScope, v: v8::Local<v8::Value>) -> u32 {
    v.number_value(scope).map_or(0, |n| {
        if n.is_finite() && n >= 0.0 {
            n.min(u32::MAX as f64) as u32
        } else {
            0
        }
    })
}

/// The normalized algorithm `v` (a plain object `25_crypto.js` built).
fn read_params(scope: &mut v8::PinScope, v: v8::Local<v8::Value>) -> Result<Params> {
    let Ok(obj) = v8::Local::<v8::Object>::try_from(v) else {
        return fail!(Type, "Algorithm: expected an object");
    };
    let Some(names) = obj.get_own_property_names(scope, Default::default()) else {
        return fail!(Type, "Algorithm: cannot read its members");
    };
    let mut p = Params::default();
    for i in 0..names.length() {
        let Some(k) = names.get_index(scope, i) else {
            continue;
        };
        let name = k.to_rust_string_lossy(scope);
        let Some(v) = obj.get(scope, k) else { continue };
        if v.is_null_or_undefined() {
            continue;
        }
        match name.as_str() {
            "name" => p.alg = Some(Alg::from_name(&string_arg(scope, v))?),
            "hash" => {
                let h = string_arg(scope, v);
                match Hash::from_name(&h) {
                    Some(h) => p.hash = Some(h),
                    None => return fail!(NotSupported, "Unrecognized hash: {h}"),
                }
            }
            "namedCurve" => p.curve = Some(Curve::from_name(&string_arg(scope, v))?),
            "length" => p.length = Some(u32_of(scope, v)),
            "tagLength" => p.tag_length = Some(u32_of(scope, v)),
            "iterations" => p.iterations = Some(u32_of(scope, v)),
            "saltLength" => p.salt_length = Some(u32_of(scope, v)),
            "modulusLength" => p.modulus_length = Some(u32_of(scope, v)),
            "iv" | "counter" => p.iv = Some(bytes_arg(scope, v, &name)?),
            "additionalData" | "label" => p.aad = Some(bytes_arg(scope, v, &name)?),
            "salt" => p.salt = Some(bytes_arg(scope, v, "salt")?),
            "info" => p.info = Some(bytes_arg(scope, v, "info")?),
            "publicExponent" => p.public_exponent = Some(bytes_arg(scope, v, "publicExponent")?),
            "public" => p.public = Some(key_of(scope, v)?),
            _ => {}
        }
    }
    Ok(p)
}

/// Usage names (JS already checked them) as bits.
fn usages_arg(scope: &mut v8::PinScope, v: v8::Local<v8::Value>) -> u8 {
    u32_of(scope, v) as u8
}

/// Answers now with `work`'s value, or (if `slow`) a promise that the
/// blocking pool's result settles.
fn run<'s, T: Send + 'static>(
    scope: &mut v8::PinScope<'s, '_>,
    slow: bool,
    work: impl FnOnce() -> Result<T> + Send + 'static,
    make: impl for<'a, 'b> FnOnce(&mut v8::PinScope<'a, 'b>, T) -> Result<v8::Local<'a, v8::Value>>
    + 'static,
) -> Result<v8::Local<'s, v8::Value>> {
    if !slow {
        let v = work()?;
        return make(scope, v);
    }
    let Some((promise, resolver)) = crate::settle::new_promise(scope) else {
        return fail!(Operation, "Could not make a promise");
    };
    let owner = current_owner(scope);
    host(scope).borrow_mut().spawns.push(Box::new(move |weak| {
        Box::pin(async move {
            let result = glommio::executor().spawn_blocking(work).await;
            let Some(rt) = weak.upgrade() else { return };
            let _ = rt.enter_as(owner, |tc, _| {
                let resolver = v8::Local::new(tc, resolver);
                match result.and_then(|v| make(tc, v)) {
                    Ok(v) => {
                        resolver.resolve(tc, v);
                    }
                    Err(e) => {
                        let ex = exception(tc, &e);
                        resolver.reject(tc, ex);
                    }
                }
            });
        })
    }));
    Ok(promise.into())
}

fn ab<'s>(scope: &mut v8::PinScope<'s, '_>, bytes: &[u8]) -> v8::Local<'s, v8::Value> {
    array_buffer(scope, bytes.to_vec()).into()
}

/// A new `CryptoKey` object for `key`: an object of `CryptoKey.prototype`
/// (which `25_crypto.js` left in `rw.cryptoKeyPrototype`) carrying the
/// handle. Made without running JS, so the structured-clone deserializer
/// can use it too.
fn key_object<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    key: Arc<Key>,
) -> Result<v8::Local<'s, v8::Value>> {
    let proto = crate::runtime::rw_get(scope, "cryptoKeyPrototype");
    let Some(proto) = proto.filter(|p| p.is_object()) else {
        return fail!(Operation, "CryptoKey is not set up in this context");
    };
    let obj = v8::Object::new(scope);
    obj.set_prototype(scope, proto);
    let id = state(scope).add(Held::Key(key));
    adopt(scope, obj, id);
    Ok(obj.into())
}

fn new_key<'s>(scope: &mut v8::PinScope<'s, '_>, key: Key) -> Result<v8::Local<'s, v8::Value>> {
    key_object(scope, Arc::new(key))
}

fn int<'s>(scope: &mut v8::PinScope<'s, '_>, n: u32) -> v8::Local<'s, v8::Value> {
    v8::Integer::new_from_unsigned(scope, n).into()
}

macro_rules! op {
    ($name:ident, $imp:ident) => {
        fn $name<'s, 'i>(
            scope: &mut v8::PinScope<'s, 'i>,
            args: v8::FunctionCallbackArguments<'s>,
            mut rv: v8::ReturnValue<'s, v8::Value>,
        ) {
            match $imp(scope, &args) {
                Ok(v) => rv.set(v),
                Err(e) => throw(scope, &e),
            }
        }
    };
}

type Args<'s> = v8::FunctionCallbackArguments<'s>;
type Answer<'s> = Result<v8::Local<'s, v8::Value>>;

// `cryptoDigest(name, data)` -> ArrayBuffer.
op!(op_digest, digest);
fn digest<'s>(scope: &mut v8::PinScope<'s, '_>, args: &Args<'s>) -> Answer<'s> {
    let alg = DigestAlg::from_name(&string_arg(scope, args.get(0)))?;
    match with_bytes(scope, args.get(1), |b| super::digest::digest(alg, b)) {
        Some(d) => Ok(array_buffer(scope, d).into()),
        None => fail!(
            Type,
            "digest: data must be an ArrayBuffer or an ArrayBufferView"
        ),
    }
}

// `cryptoDigestStart(holder, name)`: `holder` now carries a running digest.
op!(op_digest_start, digest_start);
fn digest_start<'s>(scope: &mut v8::PinScope<'s, '_>, args: &Args<'s>) -> Answer<'s> {
    let Ok(holder) = v8::Local::<v8::Object>::try_from(args.get(0)) else {
        return fail!(Type, "DigestStream: bad holder");
    };
    let alg = DigestAlg::from_name(&string_arg(scope, args.get(1)))?;
    let id = state(scope).add(Held::Digest(Box::new(Hasher::new(alg))));
    adopt(scope, holder, id);
    Ok(v8::undefined(scope).into())
}

// `cryptoDigestUpdate(holder, bytes)`.
op!(op_digest_update, digest_update);
fn digest_update<'s>(scope: &mut v8::PinScope<'s, '_>, args: &Args<'s>) -> Answer<'s> {
    let id = handle_of(scope, args.get(0)).unwrap_or(0);
    let chunk = args.get(1);
    // Borrow the bytes and the table in turn (both come from the scope).
    let mut taken = match state(scope).slots.get_mut(&id) {
        Some(Slot {
            held: Held::Digest(h),
            ..
        }) => std::mem::replace(h, Box::new(Hasher::new(DigestAlg::Md5))),
        _ => return fail!(Type, "DigestStream: the digest is finished"),
    };
    let ok = with_bytes(scope, chunk, |b| taken.update(b)).is_some();
    if let Some(Slot {
        held: Held::Digest(h),
        ..
    }) = state(scope).slots.get_mut(&id)
    {
        *h = taken;
    }
    if !ok {
        return fail!(
            Type,
            "DigestStream: chunks must be ArrayBuffers or ArrayBufferViews"
        );
    }
    Ok(v8::undefined(scope).into())
}

// `cryptoDigestEnd(holder)` -> ArrayBuffer.
op!(op_digest_end, digest_end);
fn digest_end<'s>(scope: &mut v8::PinScope<'s, '_>, args: &Args<'s>) -> Answer<'s> {
    let id = handle_of(scope, args.get(0)).unwrap_or(0);
    match state(scope).slots.remove(&id) {
        Some(Slot {
            held: Held::Digest(h),
            ..
        }) => Ok(array_buffer(scope, h.finish()).into()),
        _ => fail!(Type, "DigestStream: the digest is finished"),
    }
}

// `cryptoKeyInfo(key)` -> [type, extractable, usages, name, hash, length,
// namedCurve, modulusLength, publicExponent] (a TypeError for an object
// that is no key: the getters' brand check).
op!(op_key_info, key_info);
fn key_info<'s>(scope: &mut v8::PinScope<'s, '_>, args: &Args<'s>) -> Answer<'s> {
    let Ok(key) = key_of(scope, args.get(0)) else {
        return fail!(Type, "Illegal invocation: not a CryptoKey");
    };
    let undefined: v8::Local<v8::Value> = v8::undefined(scope).into();
    let kind = new_string(scope, key.kind.name()).into();
    let extractable = v8::Boolean::new(scope, key.extractable).into();
    let usages = int(scope, key.usages as u32);
    let name = new_string(scope, key.alg.name()).into();
    let hash = key
        .hash
        .map_or(undefined, |h| new_string(scope, h.name()).into());
    let length = if key.length > 0 {
        int(scope, key.length)
    } else {
        undefined
    };
    let curve = key
        .curve
        .map_or(undefined, |c| new_string(scope, c.name()).into());
    let (modulus, exponent) = match key.rsa_params() {
        Some((bits, e)) => {
            let len = e.len();
            let buf = array_buffer(scope, e);
            let e = v8::Uint8Array::new(scope, buf, 0, len).map_or(undefined, |u| u.into());
            (int(scope, bits), e)
        }
        None => (undefined, undefined),
    };
    let info = [
        kind,
        extractable,
        usages,
        name,
        hash,
        length,
        curve,
        modulus,
        exponent,
    ];
    Ok(v8::Array::new_with_elements(scope, &info).into())
}

// `cryptoKeyClone(key)` -> a new CryptoKey sharing the key (structuredClone).
op!(op_key_clone, key_clone);
fn key_clone<'s>(scope: &mut v8::PinScope<'s, '_>, args: &Args<'s>) -> Answer<'s> {
    let key = key_of(scope, args.get(0))?;
    key_object(scope, key)
}

// `cryptoKeyIs(value)` -> whether it is a CryptoKey.
op!(op_key_is, key_is);
fn key_is<'s>(scope: &mut v8::PinScope<'s, '_>, args: &Args<'s>) -> Answer<'s> {
    let is = key_of(scope, args.get(0)).is_ok();
    Ok(v8::Boolean::new(scope, is).into())
}

// `cryptoGenerateKey(params, extractable, usages)` -> a CryptoKey, or [publicKey,
// privateKey], or a promise of it (RSA).
op!(op_generate_key, generate_key);
fn generate_key<'s>(scope: &mut v8::PinScope<'s, '_>, args: &Args<'s>) -> Answer<'s> {
    let p = read_params(scope, args.get(0))?;
    let extractable = args.get(1).is_true();
    let usages = usages_arg(scope, args.get(2));
    let slow = generate::is_slow(&p);
    run(
        scope,
        slow,
        move || generate::generate(&p, extractable, usages),
        |scope, g| {
            Ok(match g {
                generate::Generated::Secret(k) => new_key(scope, *k)?,
                generate::Generated::Pair { public, private } => {
                    let keys = [new_key(scope, *public)?, new_key(scope, *private)?];
                    v8::Array::new_with_elements(scope, &keys).into()
                }
            })
        },
    )
}

// `cryptoImportKey(params, format, data | jwkJson, extractable, usages)` -> a CryptoKey.
op!(op_import_key, import_key);
fn import_key<'s>(scope: &mut v8::PinScope<'s, '_>, args: &Args<'s>) -> Answer<'s> {
    let p = read_params(scope, args.get(0))?;
    let format = Format::from_name(&string_arg(scope, args.get(1)))?;
    let extractable = args.get(3).is_true();
    let usages = usages_arg(scope, args.get(4));
    let data = args.get(2);
    let key = if data.is_string() {
        let text = Zeroizing::new(string_arg(scope, data));
        format::import(format, KeyData::Jwk(&text), &p, extractable, usages)?
    } else {
        match with_bytes(scope, data, |b| {
            format::import(format, KeyData::Bytes(b), &p, extractable, usages)
        }) {
            Some(r) => r?,
            None => return fail!(Type, "Key data must be a BufferSource"),
        }
    };
    new_key(scope, key)
}

fn exported<'s>(scope: &mut v8::PinScope<'s, '_>, e: Exported) -> v8::Local<'s, v8::Value> {
    match e {
        Exported::Bytes(b) => ab(scope, &b),
        Exported::Jwk(text) => new_string(scope, &text).into(),
    }
}

// `cryptoExportKey(key, format)` -> ArrayBuffer, or JWK JSON text.
op!(op_export_key, export_key);
fn export_key<'s>(scope: &mut v8::PinScope<'s, '_>, args: &Args<'s>) -> Answer<'s> {
    let key = key_of(scope, args.get(0))?;
    let format = Format::from_name(&string_arg(scope, args.get(1)))?;
    let e = format::export(format, &key)?;
    Ok(exported(scope, e))
}

// `cryptoSign(params, key, data)` -> ArrayBuffer (or a promise of it).
op!(op_sign, sign_op);
fn sign_op<'s>(scope: &mut v8::PinScope<'s, '_>, args: &Args<'s>) -> Answer<'s> {
    let p = read_params(scope, args.get(0))?;
    let key = key_of(scope, args.get(1))?;
    if sign::is_slow(&key) {
        let data = bytes_arg(scope, args.get(2), "data")?;
        return run(
            scope,
            true,
            move || sign::sign(&key, &p, &data),
            |s, v| Ok(ab(s, &v)),
        );
    }
    match with_bytes(scope, args.get(2), |b| sign::sign(&key, &p, b)) {
        Some(r) => Ok(array_buffer(scope, r?).into()),
        None => fail!(Type, "data must be an ArrayBuffer or an ArrayBufferView"),
    }
}

// `cryptoVerify(params, key, signature, data)` -> boolean.
op!(op_verify, verify_op);
fn verify_op<'s>(scope: &mut v8::PinScope<'s, '_>, args: &Args<'s>) -> Answer<'s> {
    let p = read_params(scope, args.get(0))?;
    let key = key_of(scope, args.get(1))?;
    let signature = bytes_arg(scope, args.get(2), "signature")?;
    match with_bytes(scope, args.get(3), |b| {
        sign::verify(&key, &p, &signature, b)
    }) {
        Some(r) => Ok(v8::Boolean::new(scope, r?).into()),
        None => fail!(Type, "data must be an ArrayBuffer or an ArrayBufferView"),
    }
}

/// Whether decrypting (or unwrapping) with `key` leaves the shard.
fn slow_private(key: &Key) -> bool {
    key.kind == KeyType::Private && sign::is_slow(key)
}

// `cryptoEncrypt(params, key, data)` / `cryptoDecrypt(...)` -> ArrayBuffer
// (or a promise of it: RSA-OAEP decryption with a large key).
op!(op_encrypt, encrypt_op);
fn encrypt_op<'s>(scope: &mut v8::PinScope<'s, '_>, args: &Args<'s>) -> Answer<'s> {
    let p = read_params(scope, args.get(0))?;
    let key = key_of(scope, args.get(1))?;
    match with_bytes(scope, args.get(2), |b| cipher::encrypt(&key, &p, b)) {
        Some(r) => Ok(array_buffer(scope, r?).into()),
        None => fail!(Type, "data must be an ArrayBuffer or an ArrayBufferView"),
    }
}

op!(op_decrypt, decrypt_op);
fn decrypt_op<'s>(scope: &mut v8::PinScope<'s, '_>, args: &Args<'s>) -> Answer<'s> {
    let p = read_params(scope, args.get(0))?;
    let key = key_of(scope, args.get(1))?;
    if slow_private(&key) {
        let data = bytes_arg(scope, args.get(2), "data")?;
        return run(
            scope,
            true,
            move || cipher::decrypt(&key, &p, &data),
            |s, v| Ok(ab(s, &v)),
        );
    }
    match with_bytes(scope, args.get(2), |b| cipher::decrypt(&key, &p, b)) {
        Some(r) => Ok(array_buffer(scope, r?).into()),
        None => fail!(Type, "data must be an ArrayBuffer or an ArrayBufferView"),
    }
}

fn length_arg(scope: &mut v8::PinScope, v: v8::Local<v8::Value>) -> Option<u32> {
    (!v.is_null_or_undefined()).then(|| u32_of(scope, v))
}

// `cryptoDeriveBits(params, key, length | null)` -> ArrayBuffer (or a promise).
op!(op_derive_bits, derive_bits_op);
fn derive_bits_op<'s>(scope: &mut v8::PinScope<'s, '_>, args: &Args<'s>) -> Answer<'s> {
    let p = read_params(scope, args.get(0))?;
    let key = key_of(scope, args.get(1))?;
    let length = length_arg(scope, args.get(2));
    let slow = derive::is_slow(&p);
    run(
        scope,
        slow,
        move || {
            key.check(p.alg()?, usage::DERIVE_BITS)?;
            derive::derive_bits(&key, &p, length)
        },
        |s, v| Ok(ab(s, &v)),
    )
}

// `cryptoDeriveKey(params, baseKey, importParams, length | null,
// extractable, usages)` -> a CryptoKey (or a promise of it).
op!(op_derive_key, derive_key_op);
fn derive_key_op<'s>(scope: &mut v8::PinScope<'s, '_>, args: &Args<'s>) -> Answer<'s> {
    let p = read_params(scope, args.get(0))?;
    let key = key_of(scope, args.get(1))?;
    let import = read_params(scope, args.get(2))?;
    let length = length_arg(scope, args.get(3));
    let extractable = args.get(4).is_true();
    let usages = usages_arg(scope, args.get(5));
    let slow = derive::is_slow(&p);
    run(
        scope,
        slow,
        move || {
            key.check(p.alg()?, usage::DERIVE_KEY)?;
            let bits = derive::derive_bits(&key, &p, length)?;
            format::import(
                Format::Raw,
                KeyData::Bytes(&bits),
                &import,
                extractable,
                usages,
            )
        },
        new_key,
    )
}

// `cryptoWrapKey(format, key, wrappingKey, params)` -> ArrayBuffer.
op!(op_wrap_key, wrap_key_op);
fn wrap_key_op<'s>(scope: &mut v8::PinScope<'s, '_>, args: &Args<'s>) -> Answer<'s> {
    let format = Format::from_name(&string_arg(scope, args.get(0)))?;
    let key = key_of(scope, args.get(1))?;
    let wrapping = key_of(scope, args.get(2))?;
    let p = read_params(scope, args.get(3))?;
    wrapping.check(p.alg()?, usage::WRAP_KEY)?;
    let bytes = match format::export(format, &key)? {
        Exported::Bytes(b) => b,
        Exported::Jwk(text) => Zeroizing::new(text.as_bytes().to_vec()),
    };
    let wrapped = cipher::crypt(&wrapping, &p, &bytes, true)?;
    Ok(array_buffer(scope, wrapped).into())
}

// `cryptoUnwrapKey(format, wrapped, unwrappingKey, params, importParams,
// extractable, usages)` -> a CryptoKey (or a promise of it).
op!(op_unwrap_key, unwrap_key_op);
fn unwrap_key_op<'s>(scope: &mut v8::PinScope<'s, '_>, args: &Args<'s>) -> Answer<'s> {
    let format = Format::from_name(&string_arg(scope, args.get(0)))?;
    let wrapped = bytes_arg(scope, args.get(1), "wrappedKey")?;
    let unwrapping = key_of(scope, args.get(2))?;
    let p = read_params(scope, args.get(3))?;
    let import = read_params(scope, args.get(4))?;
    let extractable = args.get(5).is_true();
    let usages = usages_arg(scope, args.get(6));
    let slow = slow_private(&unwrapping);
    run(
        scope,
        slow,
        move || {
            unwrapping.check(p.alg()?, usage::UNWRAP_KEY)?;
            let bytes = Zeroizing::new(cipher::crypt(&unwrapping, &p, &wrapped, false)?);
            if format == Format::Jwk {
                let Ok(text) = std::str::from_utf8(&bytes) else {
                    return fail!(Data, "The unwrapped JWK is not UTF-8");
                };
                format::import(format, KeyData::Jwk(text), &import, extractable, usages)
            } else {
                format::import(format, KeyData::Bytes(&bytes), &import, extractable, usages)
            }
        },
        new_key,
    )
}

// `cryptoTimingSafeEqual(a, b)` -> boolean (JS checked the lengths).
op!(op_timing_safe_equal, timing_safe_equal_op);
fn timing_safe_equal_op<'s>(scope: &mut v8::PinScope<'s, '_>, args: &Args<'s>) -> Answer<'s> {
    let a = bytes_arg(scope, args.get(0), "a")?;
    match with_bytes(scope, args.get(1), |b| super::timing_safe_equal(&a, b)) {
        Some(eq) => Ok(v8::Boolean::new(scope, eq).into()),
        None => fail!(Type, "b must be an ArrayBuffer or an ArrayBufferView"),
    }
}

/// This module's ops (named as `25_crypto.js` calls them on `ops`); also
/// the snapshot's external references, so their order is fixed.
pub(crate) fn ops() -> Vec<(&'static str, v8::FunctionCallback)> {
    vec![
        ("cryptoDigest", op_digest.map_fn_to()),
        ("cryptoDigestStart", op_digest_start.map_fn_to()),
        ("cryptoDigestUpdate", op_digest_update.map_fn_to()),
        ("cryptoDigestEnd", op_digest_end.map_fn_to()),
        ("cryptoKeyInfo", op_key_info.map_fn_to()),
        ("cryptoKeyIs", op_key_is.map_fn_to()),
        ("cryptoKeyClone", op_key_clone.map_fn_to()),
        ("cryptoGenerateKey", op_generate_key.map_fn_to()),
        ("cryptoImportKey", op_import_key.map_fn_to()),
        ("cryptoExportKey", op_export_key.map_fn_to()),
        ("cryptoSign", op_sign.map_fn_to()),
        ("cryptoVerify", op_verify.map_fn_to()),
        ("cryptoEncrypt", op_encrypt.map_fn_to()),
        ("cryptoDecrypt", op_decrypt.map_fn_to()),
        ("cryptoDeriveBits", op_derive_bits.map_fn_to()),
        ("cryptoDeriveKey", op_derive_key.map_fn_to()),
        ("cryptoWrapKey", op_wrap_key.map_fn_to()),
        ("cryptoUnwrapKey", op_unwrap_key.map_fn_to()),
        ("cryptoTimingSafeEqual", op_timing_safe_equal.map_fn_to()),
    ]
}
