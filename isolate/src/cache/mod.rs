//! The Cache API's storage (`caches.default`, `caches.open(name)`; JS in
//! `js/80_cache.js`): one cache per process, shared by all shards, node-local
//! as Cloudflare's is colo-local, held in memory under an LRU byte budget.
//!
//! Nothing mutable is shared between shards. The cache is cut into
//! partitions, one per shard: a key (cache name + URL) belongs to the shard
//! its hash names, and only that shard reads or writes its entries. A
//! `put`/`match`/`delete` for a key of this shard is a call into the local
//! [`Store`]; for another shard's key it is a message through the cache's own
//! mailboxes ([`CacheMesh`], a [`Mesh`] like the actors'), answered the same
//! way. A hit elsewhere thus costs one message each way; the body crosses as
//! `Bytes` (a reference count, no copy).
//!
//! The budget (`--cache-mb`) is split evenly between the partitions (keys
//! spread evenly over them), and no entry may be larger than
//! [`CacheOptions::max_entry_bytes`].
//!
//! With a [`CacheDir`] (`--cache-dir`), each partition also keeps its
//! entries on disk, in a subdirectory of its own (`disk.rs`, `dir.rs`,
//! `format.rs`), under a byte budget of its own (`--cache-dir-mb`): they
//! survive a restart. The memory store stays in front as the hot tier; a
//! `put` resolves once the entry's file is written.

pub(crate) mod dir;
pub(crate) mod disk;
#[cfg(test)]
mod disk_tests;
pub(crate) mod format;
pub(crate) mod policy;
pub(crate) mod store;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use ringworker_core::mesh::Mesh;
use v8::MapFnTo;

use crate::runtime::{current_owner, host, throw_type_error, with_bytes};
pub use dir::{CacheDir, CacheDirError, OpenReport};
use disk::{DiskTier, Lookup};
use store::{Entry, Store};

/// How big the cache may grow. Part of [`crate::WorkerOptions`].
#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// The whole cache's budget in bytes (bodies, headers, bookkeeping).
    /// Default 128 MiB.
    pub budget_bytes: usize,
    /// The largest entry; `put` of a larger response rejects. Default 32 MiB.
    pub max_entry_bytes: usize,
    /// The shards' cache mailboxes (set by `serve_worker` when there are
    /// several shards; without it every shard has a cache of its own).
    pub mesh: Option<CacheMesh>,
    /// How many shards share the cache (set by `serve_worker`).
    pub shards: usize,
    /// The on-disk store (`--cache-dir`), if any: `serve_worker` opens it.
    pub disk: Option<CacheDir>,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            budget_bytes: 128 << 20,
            max_entry_bytes: 32 << 20,
            mesh: None,
            shards: 1,
            disk: None,
        }
    }
}

/// The shards' cache mailboxes. Made once per server, cloned into each
/// shard's options.
#[derive(Debug, Clone)]
pub struct CacheMesh(Mesh<CacheMessage>);

impl CacheMesh {
    /// Mailboxes for `shards` shards.
    pub fn new(shards: usize) -> std::io::Result<Self> {
        Ok(Self(Mesh::new(shards)?))
    }
}

/// What one cache operation asks of the key's partition.
#[derive(Debug)]
pub(crate) enum Op {
    Put(String, Entry),
    Match(String, Vec<(String, String)>),
    Delete(String),
}

/// Its answer.
#[derive(Debug)]
pub(crate) enum Answer {
    Stored(bool),
    Found(Option<Entry>),
    Deleted(bool),
}

/// A message between shards about the cache. `Send`.
#[derive(Debug)]
pub struct CacheMessage(Message);

#[derive(Debug)]
enum Message {
    Call { op: Op, from: usize, token: u64 },
    Answer { token: u64, answer: Answer },
}

/// An answer now, or one to wait for (file I/O).
pub(crate) enum Served {
    Now(Answer),
    Later(Pin<Box<dyn Future<Output = Answer>>>),
}

/// Where a call waits for its answer from another shard.
#[derive(Default)]
struct Slot {
    answer: RefCell<Option<Answer>>,
    waker: RefCell<Option<Waker>>,
}

/// This shard's side of the cache: its partition and its calls in flight.
pub(crate) struct CacheShard {
    store: RefCell<Store>,
    /// The on-disk tier behind the store (`--cache-dir`).
    disk: Option<Rc<DiskTier>>,
    mesh: Option<CacheMesh>,
    shard: usize,
    shards: usize,
    max_entry: usize,
    waiting: RefCell<HashMap<u64, Rc<Slot>>>,
    next: Cell<u64>,
}

impl std::fmt::Debug for CacheShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheShard")
            .field("shard", &self.shard)
            .field("store", &self.store.borrow().stats())
            .field("disk", &self.disk)
            .finish()
    }
}

/// The shard that owns `key` among `shards` (FNV-1a: stable everywhere,
/// and the hash that names the key's file on disk, so that the shard of a
/// file is known from its name).
fn owner_of(key: &str, shards: usize) -> usize {
    (format::key_hash(key) % shards.max(1) as u64) as usize
}

impl CacheShard {
    /// Shard `shard`'s side of the cache described by `options`; with a
    /// mesh, it starts serving its mailbox (call on the shard, once).
    pub(crate) fn start(options: &CacheOptions, shard: usize) -> Rc<Self> {
        let shards = if options.mesh.is_some() {
            options.shards.max(1)
        } else {
            1
        };
        let shard = if shards > 1 { shard } else { 0 };
        let disk = options
            .disk
            .as_ref()
            .and_then(|d| d.partition(shard, shards))
            .map(DiskTier::new);
        let me = Rc::new(Self {
            store: RefCell::new(Store::new(options.budget_bytes / shards)),
            disk,
            mesh: options.mesh.clone(),
            shard,
            shards,
            max_entry: options.max_entry_bytes,
            waiting: RefCell::new(HashMap::new()),
            next: Cell::new(0),
        });
        me.serve_mailbox();
        me
    }

    /// The largest entry allowed.
    pub(crate) fn max_entry(&self) -> usize {
        self.max_entry
    }

    fn serve_mailbox(self: &Rc<Self>) {
        let Some(mesh) = self.mesh.clone() else {
            return;
        };
        let Some(fd) = mesh.0.take_doorbell(self.shard) else {
            tracing::error!(shard = self.shard, "no cache mailbox for this shard");
            return;
        };
        let me = Rc::downgrade(self);
        glommio::spawn_local(async move {
            // (Shards build their handler before their network ring runs.)
            for _ in 0..64 {
                if ringworker_io::uring::NetRing::current().is_some() {
                    break;
                }
                futures_lite::future::yield_now().await;
            }
            let mut bell = ringworker_io::doorbell::Doorbell::new(fd);
            while bell.rung().await {
                let Some(me) = me.upgrade() else { return };
                mesh.0.drain(me.shard, |CacheMessage(m)| match m {
                    Message::Call { op, from, token } => match me.begin(op) {
                        Served::Now(answer) => reply(&mesh, me.shard, from, token, answer),
                        Served::Later(answer) => {
                            let (mesh, shard) = (mesh.clone(), me.shard);
                            glommio::spawn_local(async move {
                                let answer = answer.await;
                                reply(&mesh, shard, from, token, answer);
                            })
                            .detach();
                        }
                    },
                    Message::Answer { token, answer } => {
                        if let Some(slot) = me.waiting.borrow_mut().remove(&token) {
                            *slot.answer.borrow_mut() = Some(answer);
                            if let Some(w) = slot.waker.take() {
                                w.wake();
                            }
                        }
                    }
                });
            }
        })
        .detach();
    }

    /// Runs `op` on this shard's partition: at once in memory; with a
    /// disk tier, a `put` or `delete` (and a `match` the memory misses)
    /// answers once its file work is done. Every change to the partition's
    /// state is made here, before this returns, so operations take effect
    /// in the order they arrive.
    pub(crate) fn begin(self: &Rc<Self>, op: Op) -> Served {
        let now = Instant::now();
        let Some(disk) = &self.disk else {
            let mut store = self.store.borrow_mut();
            return Served::Now(match op {
                Op::Put(key, entry) => Answer::Stored(store.put(key, entry)),
                Op::Match(key, headers) => Answer::Found(store.get(&key, &headers, now)),
                Op::Delete(key) => Answer::Deleted(store.delete(&key, now)),
            });
        };
        let now_ms = dir::unix_ms_now();
        match op {
            Op::Put(key, entry) => {
                let in_memory = self.store.borrow_mut().put(key.clone(), entry.clone());
                match disk.put(&key, &entry, now_ms) {
                    Some(written) => Served::Later(Box::pin(async move {
                        Answer::Stored(written.wait().await || in_memory)
                    })),
                    None => Served::Now(Answer::Stored(in_memory)),
                }
            }
            Op::Match(key, headers) => {
                let mut store = self.store.borrow_mut();
                if let Some(e) = store.get(&key, &headers, now) {
                    return Served::Now(Answer::Found(Some(e)));
                }
                if store.contains(&key) {
                    // (Fresh in memory, for other `Vary` values: so on disk.)
                    return Served::Now(Answer::Found(None));
                }
                drop(store);
                match disk.lookup(&key, now_ms) {
                    Lookup::Miss => Served::Now(Answer::Found(None)),
                    Lookup::Now(e) => Served::Now(self.promote(key, e, &headers)),
                    Lookup::Read(read) => {
                        let me = self.clone();
                        Served::Later(Box::pin(async move {
                            match read.await {
                                Some(e) => me.promote(key, e, &headers),
                                None => Answer::Found(None),
                            }
                        }))
                    }
                }
            }
            Op::Delete(key) => {
                let in_memory = self.store.borrow_mut().delete(&key, now);
                match disk.delete(&key, now_ms) {
                    Some((fresh, removed)) => Served::Later(Box::pin(async move {
                        removed.wait().await;
                        Answer::Deleted(fresh || in_memory)
                    })),
                    None => Served::Now(Answer::Deleted(in_memory)),
                }
            }
        }
    }

    /// An entry read from disk goes back into the memory store; the answer
    /// for a request with `headers`.
    fn promote(&self, key: String, e: Entry, headers: &[(String, String)]) -> Answer {
        let selected = e.selected_by(headers);
        self.store.borrow_mut().put(key, e.clone());
        Answer::Found(selected.then_some(e))
    }

    /// Whether `op`'s key lives in this shard's partition (then
    /// [`Self::begin`] answers it).
    pub(crate) fn is_local(&self, op: &Op) -> bool {
        let key = match op {
            Op::Put(k, _) | Op::Match(k, _) | Op::Delete(k) => k,
        };
        self.mesh.is_none() || owner_of(key, self.shards) == self.shard
    }

    /// Runs `op` where its key lives: here, or on its shard by message.
    pub(crate) async fn call(self: &Rc<Self>, op: Op) -> Answer {
        let key = match &op {
            Op::Put(k, _) | Op::Match(k, _) | Op::Delete(k) => k,
        };
        let owner = owner_of(key, self.shards);
        let mesh = match &self.mesh {
            Some(m) if owner != self.shard => m,
            _ => {
                return match self.begin(op) {
                    Served::Now(a) => a,
                    Served::Later(a) => a.await,
                };
            }
        };
        let token = self.next.get() + 1;
        self.next.set(token);
        let slot = Rc::new(Slot::default());
        self.waiting.borrow_mut().insert(token, slot.clone());
        let msg = CacheMessage(Message::Call {
            op,
            from: self.shard,
            token,
        });
        if let Err(e) = mesh.0.send(owner, msg) {
            self.waiting.borrow_mut().remove(&token);
            tracing::warn!(shard = self.shard, "cache: shard {owner} unreachable: {e}");
            // (A miss, as a cache that lost its partition would answer.)
            return Answer::Found(None);
        }
        struct Forget<'a>(&'a CacheShard, u64);
        impl Drop for Forget<'_> {
            fn drop(&mut self) {
                self.0.waiting.borrow_mut().remove(&self.1);
            }
        }
        let _forget = Forget(self, token);
        std::future::poll_fn(|cx| match slot.answer.borrow_mut().take() {
            Some(a) => Poll::Ready(a),
            None => {
                *slot.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// The partition's counters (tests).
    #[cfg(test)]
    pub(crate) fn stats(&self) -> store::StoreStats {
        self.store.borrow().stats()
    }

    /// The disk tier's counters (tests).
    #[cfg(test)]
    pub(crate) fn disk_stats(&self) -> Option<disk::DiskStats> {
        self.disk.as_ref().map(|d| d.stats())
    }
}

/// Sends `answer` for call `token` back to shard `to`.
fn reply(mesh: &CacheMesh, shard: usize, to: usize, token: u64, answer: Answer) {
    let msg = CacheMessage(Message::Answer { token, answer });
    if let Err(e) = mesh.0.send(to, msg) {
        tracing::warn!(shard, "cache: cannot answer shard {to}: {e}");
    }
}

/// The isolate's handle on its shard's cache (an isolate slot).
pub(crate) struct CacheSlot(pub(crate) Rc<CacheShard>);

fn shard_cache(scope: &mut v8::PinScope) -> Rc<CacheShard> {
    if let Some(c) = scope.get_slot::<CacheSlot>() {
        return c.0.clone();
    }
    // A runtime made without a handler (embedders, tests): a cache of its own.
    let c = CacheShard::start(&CacheOptions::default(), 0);
    scope.set_slot(CacheSlot(c.clone()));
    c
}

/// This module's ops.
pub(crate) fn ops() -> Vec<(&'static str, v8::FunctionCallback)> {
    vec![
        ("cachePut", op_put.map_fn_to()),
        ("cacheMatch", op_match.map_fn_to()),
        ("cacheDelete", op_delete.map_fn_to()),
    ]
}

fn key(scope: &mut v8::PinScope, args: &v8::FunctionCallbackArguments) -> String {
    let name = args.get(0).to_rust_string_lossy(scope);
    let url = args.get(1).to_rust_string_lossy(scope);
    format!("{name}\u{0}{url}")
}

/// `[name, value, ...]` as pairs (lower-cased names).
fn pairs(scope: &mut v8::PinScope, v: v8::Local<v8::Value>) -> Vec<(String, String)> {
    crate::fetch::header_pairs(scope, v)
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

/// Runs `op` after this entry, then settles the returned promise with
/// `settle(answer)` built in JS, on behalf of the calling request.
fn spawn_call(
    scope: &mut v8::PinScope,
    rv: &mut v8::ReturnValue<v8::Value>,
    op: Op,
    settle: impl for<'s, 'i> FnOnce(&mut v8::PinScope<'s, 'i>, Answer) -> v8::Local<'s, v8::Value>
    + 'static,
) {
    let cache = shard_cache(scope);
    let Some((promise, resolver)) = crate::settle::new_promise(scope) else {
        return;
    };
    // A key of this shard's partition is answered now from memory (the
    // promise settles in this entry's microtasks), or after its file work;
    // another shard's, by message after this entry.
    let later: Pin<Box<dyn Future<Output = Answer>>> = if cache.is_local(&op) {
        match cache.begin(op) {
            Served::Now(answer) => {
                let r = v8::Local::new(scope, resolver);
                let v = settle(scope, answer);
                r.resolve(scope, v);
                rv.set(promise.into());
                return;
            }
            Served::Later(answer) => answer,
        }
    } else {
        Box::pin(async move { cache.call(op).await })
    };
    let owner = current_owner(scope);
    host(scope).borrow_mut().spawns.push(Box::new(move |weak| {
        Box::pin(async move {
            let answer = later.await;
            if let Some(rt) = weak.upgrade() {
                let _ = rt.enter_as(owner, |tc, _| {
                    let r = v8::Local::new(tc, resolver);
                    let v = settle(tc, answer);
                    r.resolve(tc, v);
                });
            }
        })
    }));
    rv.set(promise.into());
}

/// `cachePut(name, url, status, [name, value, ...], body, [varyName,
/// requestValue | null, ...])` -> a promise of whether it was stored (the
/// rules in `policy.rs`). Throws for a body over the entry limit.
fn op_put(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let key = key(scope, &args);
    let status = args.get(2).uint32_value(scope).unwrap_or(200) as u16;
    let mut headers = pairs(scope, args.get(3));
    let body = with_bytes(scope, args.get(4), Bytes::copy_from_slice).unwrap_or_default();
    let vary_flat = v8::Local::<v8::Array>::try_from(args.get(5)).ok();
    let mut vary = Vec::new();
    if let Some(a) = vary_flat {
        let mut i = 0;
        while i + 1 < a.length() {
            let n = a
                .get_index(scope, i)
                .map(|v| v.to_rust_string_lossy(scope).to_ascii_lowercase())
                .unwrap_or_default();
            let v = a
                .get_index(scope, i + 1)
                .filter(|v| !v.is_null_or_undefined())
                .map(|v| v.to_rust_string_lossy(scope));
            vary.push((n, v));
            i += 2;
        }
    }
    let cache = shard_cache(scope);
    if body.len() > cache.max_entry() {
        return throw_type_error(
            scope,
            &format!(
                "Cache.put: the response body ({} bytes) is larger than the cache's entry limit ({} bytes)",
                body.len(),
                cache.max_entry()
            ),
        );
    }
    let now_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let ttl = match policy::decide(&headers, now_unix) {
        policy::Decision::Store { ttl, strip } => {
            headers.retain(|(k, _)| !strip.contains(k));
            ttl
        }
        policy::Decision::Skip(why) => {
            tracing::debug!(target: "js", "cache.put not stored: {why}");
            let Some((promise, resolver)) = crate::settle::new_promise(scope) else {
                return;
            };
            let r = v8::Local::new(scope, resolver);
            let f = v8::Boolean::new(scope, false);
            r.resolve(scope, f.into());
            rv.set(promise.into());
            return;
        }
    };
    let entry = Entry {
        status,
        headers,
        body,
        vary,
        expires: Instant::now() + ttl,
    };
    spawn_call(scope, &mut rv, Op::Put(key, entry), |tc, a| {
        v8::Boolean::new(tc, matches!(a, Answer::Stored(true))).into()
    });
}

/// `cacheMatch(name, url, [name, value, ...])` -> a promise of `[status,
/// [name, value, ...], body]` or undefined. A `Range` request of a stored
/// 200 is answered from it: 206 with the slice, or 416.
fn op_match(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let key = key(scope, &args);
    let headers = pairs(scope, args.get(2));
    let range = headers
        .iter()
        .find(|(k, _)| k == "range")
        .map(|(_, v)| v.clone());
    spawn_call(scope, &mut rv, Op::Match(key, headers), move |tc, a| {
        let Answer::Found(Some(e)) = a else {
            return v8::undefined(tc).into();
        };
        let mut status = e.status;
        let mut headers = e.headers;
        let mut body = e.body;
        if let (Some(r), 200) = (range, status) {
            let len = body.len();
            match store::byte_range(&r, len) {
                Ok(Some((a, b))) => {
                    status = 206;
                    body = body.slice(a..=b);
                    headers.retain(|(k, _)| k != "content-length");
                    headers.push(("content-range".into(), format!("bytes {a}-{b}/{len}")));
                }
                Ok(None) => {}
                Err(()) => {
                    status = 416;
                    body = Bytes::new();
                    headers.retain(|(k, _)| k != "content-length" && k != "content-type");
                    headers.push(("content-range".into(), format!("bytes */{len}")));
                }
            }
        }
        headers.retain(|(k, _)| k != "cf-cache-status");
        headers.push(("cf-cache-status".into(), "HIT".into()));
        let flat = crate::settle::flat_headers(tc, &headers);
        let status = v8::Integer::new(tc, i32::from(status));
        let len = body.len();
        let ab = crate::runtime::array_buffer(tc, body.to_vec());
        let body: v8::Local<v8::Value> = match v8::Uint8Array::new(tc, ab, 0, len) {
            Some(b) => b.into(),
            None => v8::null(tc).into(),
        };
        v8::Array::new_with_elements(tc, &[status.into(), flat.into(), body]).into()
    });
}

/// `cacheDelete(name, url)` -> a promise of whether a fresh entry was there.
fn op_delete(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let key = key(scope, &args);
    spawn_call(scope, &mut rv, Op::Delete(key), |tc, a| {
        v8::Boolean::new(tc, matches!(a, Answer::Deleted(true))).into()
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `op`'s answer, which must come at once (memory only).
    fn now(c: &Rc<CacheShard>, op: Op) -> Answer {
        match c.begin(op) {
            Served::Now(a) => a,
            Served::Later(_) => panic!("a memory-only cache answered later"),
        }
    }

    #[test]
    fn keys_spread_over_the_shards() {
        let mut seen = [0usize; 4];
        for i in 0..4000 {
            seen[owner_of(&format!("default\u{0}https://h/{i}"), 4)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
        assert_eq!(owner_of("x", 1), 0);
    }

    #[test]
    fn a_shard_without_a_mesh_serves_every_key_itself_within_its_budget() {
        let options = CacheOptions {
            budget_bytes: 8 << 10,
            ..CacheOptions::default()
        };
        let c = CacheShard::start(&options, 3);
        let entry = || Entry {
            status: 200,
            headers: vec![],
            body: Bytes::from(vec![0u8; 1000]),
            vary: vec![],
            expires: Instant::now() + std::time::Duration::from_secs(60),
        };
        for i in 0..20 {
            let op = Op::Put(format!("k{i}"), entry());
            assert!(c.is_local(&op));
            assert!(matches!(now(&c, op), Answer::Stored(true)));
        }
        let st = c.stats();
        assert!(
            st.bytes <= 8 << 10 && st.entries < 20 && st.evictions > 0,
            "{st:?}"
        );
        assert!(matches!(
            now(&c, Op::Match("k19".into(), vec![])),
            Answer::Found(Some(_))
        ));
        assert!(matches!(
            now(&c, Op::Match("k0".into(), vec![])),
            Answer::Found(None)
        ));
    }
}
