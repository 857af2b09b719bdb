//! Actors (Durable-Object-style): the native side of `js/60_actors.js`.
//!
//! An actor is one instance of an exported class per id, living in its
//! home shard's isolate (a stable hash of the id). Its JS object is held by
//! `60_actors.js`; this module owns what must outlive it or be decided
//! natively:
//! - the registry (owner id per live actor, events in flight, idle since),
//!   and the eviction sweeper that drops idle actors (and hibernates those
//!   whose only activity is hibernatable WebSockets);
//! - storage: one SQLite database per actor (`ringworker_io::storage`),
//!   values in V8's structured-clone wire format;
//! - alarms: due times persisted in the actor's database and in the
//!   shard-shared alarm index, fired (and retried) from here;
//! - hibernatable WebSockets: tags, attachment bytes and auto-responses, so
//!   a socket keeps working while its actor's JS object is gone.
//!
//! Code runs "as" an actor (its owner id carried through promise reactions,
//! like a request's), so what it opens (timers, outbound sockets and their
//! keepalive tokens) belongs to the actor and ends with its eviction.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ringworker_core::ActorCounters;
use ringworker_core::keepalive::{KeepaliveLedger, Owner};
use ringworker_io::storage::{ActorStore, AlarmIndex, Durability, ListOptions, SqlValue};
use sha2::Digest;
use v8::{MapFnTo, ValueDeserializerHelper, ValueSerializerHelper};

use crate::runtime::{JsRuntime, host, new_string, throw_type_error, with_bytes};

/// One `[[durable_objects.bindings]]` entry: `env[binding]` is the
/// namespace of the exported class `class`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorBinding {
    /// The `env` property (`name` in wrangler.toml).
    pub binding: String,
    /// The exported class (`class_name`).
    pub class: String,
}

/// How actors live, sleep and store. Every duration is configurable so
/// tests run in milliseconds.
#[derive(Debug, Clone)]
pub struct ActorOptions {
    /// Namespaces bound in `env`.
    pub bindings: Vec<ActorBinding>,
    /// Where each actor's database lives (`DIR/<class>/<id>.sqlite`) and the
    /// alarm index (`DIR/alarms.sqlite`). `None`: in memory, lost when the
    /// actor is evicted (for tests and throwaway runs).
    pub storage_dir: Option<PathBuf>,
    /// `synchronous=FULL` (survives power loss) instead of the default
    /// `NORMAL` (survives a killed process).
    pub durable_full: bool,
    /// An idle actor is evicted after a window drawn from this range
    /// (jittered, so a crowd of actors does not go at once). Default 70–140 s.
    pub evict_after: (Duration, Duration),
    /// An idle actor whose only activity is hibernatable WebSockets
    /// hibernates after this long. Default 10 s (as workerd).
    pub hibernate_after: Duration,
    /// A failed `alarm()` is retried after this, doubling each time.
    /// Default 2 s.
    pub alarm_retry_base: Duration,
    /// How many times a failed `alarm()` is retried. Default 6.
    pub alarm_retries: u32,
    /// How many shards serve the script (an actor's home is its id's hash
    /// modulo this).
    pub shards: usize,
    /// The shards' actor mailboxes, with several shards (`serve_worker`
    /// makes it): a stub whose actor lives on another shard goes through it.
    pub mesh: Option<crate::remote::ActorMesh>,
}

impl Default for ActorOptions {
    fn default() -> Self {
        Self {
            bindings: Vec::new(),
            storage_dir: None,
            durable_full: false,
            evict_after: (Duration::from_secs(70), Duration::from_secs(140)),
            hibernate_after: Duration::from_secs(10),
            alarm_retry_base: Duration::from_secs(2),
            alarm_retries: 6,
            shards: 1,
            mesh: None,
        }
    }
}

/// After this many sockets' actors hibernated, the isolate is asked to
/// collect garbage (see `sweep`).
const GC_AFTER_HIBERNATED: usize = 1000;
/// The least time between two of those collections.
const GC_INTERVAL: Duration = Duration::from_secs(1);

/// The longest attachment a WebSocket may carry (serialized).
const MAX_ATTACHMENT: usize = 16 << 10;

/// A live actor (its JS object exists).
struct Actor {
    key: String,
    class: String,
    hex: String,
    /// Its database, opened on first use.
    store: Option<ActorStore>,
    /// Events delivered or queued and not yet settled.
    busy: u32,
    /// When `busy` last reached 0.
    idle_since: Instant,
    /// This actor's eviction window (drawn once from `evict_after`).
    evict_after: Duration,
    /// Sockets it accepted with `ws.accept()`: they keep it resident.
    plain_sockets: HashSet<u32>,
    /// Its ledger identity.
    ledger: Owner,
}

/// A WebSocket accepted with `ctx.acceptWebSocket()`: survives its actor's
/// hibernation with nothing but this and the io socket.
struct HibernatableSocket {
    /// Its actor's key, shared by all the actor's sockets.
    key: Rc<Box<str>>,
    /// Its tags (`None`: none). Boxed for a thin pointer: this struct is
    /// kept per hibernated socket, in a table of tens of thousands.
    #[allow(clippy::box_collection)]
    tags: Option<Box<Vec<String>>>,
    /// Its attachment, serialized (other sockets' are in `attachments`).
    attachment: Option<Box<[u8]>>,
    /// When the auto-response last answered on it (ms since the epoch; NaN:
    /// never).
    auto_at: f64,
}

/// Why an actor left memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Eviction {
    /// Idle past its window with nothing holding it.
    Idle,
    /// Idle with only hibernatable WebSockets: they stay open.
    Hibernated,
    /// `ctx.abort()`, or its constructor / `blockConcurrencyWhile` failed.
    Aborted,
}

impl Eviction {
    fn describe(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Hibernated => "hibernated",
            Self::Aborted => "aborted",
        }
    }
}

/// A shard isolate's actors (see the module docs).
#[derive(Default)]
pub(crate) struct Actors {
    options: Rc<ActorOptions>,
    shard: usize,
    by_owner: HashMap<u32, Actor>,
    by_key: HashMap<String, u32>,
    /// Hibernatable sockets by socket id.
    hibernatable: HashMap<u32, HibernatableSocket, IdHash>,
    /// The actor that `ws.accept()`ed each socket it holds (see
    /// `Actor::plain_sockets`).
    plain_owner: HashMap<u32, u32, IdHash>,
    /// The same hibernatable sockets by actor key, in id order.
    sockets_of: HashMap<String, std::collections::BTreeSet<u32>>,
    /// Attachments of the sockets that are not hibernatable, by socket id
    /// (any socket may carry one).
    attachments: HashMap<u32, Box<[u8]>, IdHash>,
    /// Auto-responses by actor key: (request text, response text).
    auto_response: HashMap<String, (String, String)>,
    /// Alarms scheduled on this shard by actor key: (due ms, generation).
    alarms: HashMap<String, (f64, u64)>,
    alarm_generation: u64,
    /// Alarm schedules made during the current entry (started after it).
    alarm_starts: Vec<String>,
    index: Option<AlarmIndex>,
    /// Why recent actors left (newest last, at most `EVICTION_LOG`).
    evictions: std::collections::VecDeque<(String, Eviction)>,
    counters: ActorCounters,
    sweeper: bool,
    /// The actor whose code was running when the current entry was
    /// terminated (see `runAs`).
    pub(crate) terminated_in: Option<u32>,
    /// Events being traced for tail clients, by the token `actorBusy`
    /// handed out: (actor owner, trace, the request that caused it).
    traces: HashMap<u32, ActorTrace>,
    next_trace: u32,
}

/// An actor event traced for tail clients (see `op_busy`).
struct ActorTrace {
    owner: u32,
    trace: Rc<ringworker_core::RequestTrace>,
    cause: Option<ringworker_core::RequestId>,
}

/// Socket ids are sequential and not chosen by clients: one multiplication
/// hashes them (no SipHash on each WebSocket batch's lookup).
type IdHash = std::hash::BuildHasherDefault<crate::websocket::IdHasher>;

/// How many recent evictions are remembered for `actorStats()`.
const EVICTION_LOG: usize = 256;

impl Actors {
    /// Configures the registry (at runtime creation).
    pub(crate) fn configure(&mut self, options: ActorOptions, shard: usize) {
        self.options = Rc::new(options);
        self.shard = shard;
    }

    /// Has the shard's stats report this isolate's actors: what holds each
    /// resident one, and why recent ones left.
    pub(crate) fn report_to_metrics(host: &crate::runtime::HostRef) {
        let Some(m) = ringworker_core::ShardMetrics::current() else {
            return;
        };
        if host.borrow().actors.options.bindings.is_empty() {
            return;
        }
        let weak = Rc::downgrade(host);
        m.set_actor_reporter(Some(Box::new(move || {
            use ringworker_core::{ACTOR_ROWS, ActorReport, ActorRow};
            let Some(h) = weak.upgrade() else {
                return ActorReport::default();
            };
            let Ok(h) = h.try_borrow() else {
                return ActorReport::default();
            };
            let ledger = KeepaliveLedger::current();
            let resident = h
                .actors
                .by_owner
                .iter()
                .take(ACTOR_ROWS)
                .map(|(&owner, a)| ActorRow {
                    actor: a.key.clone(),
                    why: h.resident_because(owner, a, ledger.as_deref()),
                })
                .collect();
            let skip = h.actors.evictions.len().saturating_sub(ACTOR_ROWS);
            let evicted = h
                .actors
                .evictions
                .iter()
                .skip(skip)
                .map(|(k, why)| ActorRow {
                    actor: k.clone(),
                    why: why.describe().to_string(),
                })
                .collect();
            ActorReport { resident, evicted }
        })));
    }

    /// The options actors run with.
    pub(crate) fn options(&self) -> &ActorOptions {
        &self.options
    }

    /// This shard.
    pub(crate) fn shard(&self) -> usize {
        self.shard
    }

    /// Whether `owner` is a live actor.
    pub(crate) fn is_actor(&self, owner: u32) -> bool {
        self.by_owner.contains_key(&owner)
    }

    /// The ledger identity of code running as `owner`: its actor's, or the
    /// request's.
    pub(crate) fn ledger_owner(&self, owner: u32) -> Owner {
        match self.by_owner.get(&owner) {
            Some(a) => a.ledger,
            None => Owner::Request(u64::from(owner)),
        }
    }

    /// Socket `id` was accepted with `ws.accept()` by code running as
    /// `owner`: if that is an actor, the socket keeps it resident.
    pub(crate) fn socket_accepted(&mut self, owner: u32, id: u32) {
        if let Some(a) = self.by_owner.get_mut(&owner) {
            a.plain_sockets.insert(id);
            self.plain_owner.insert(id, owner);
        }
    }

    /// Socket `id` closed.
    pub(crate) fn socket_closed(&mut self, id: u32) {
        if let Some(s) = self.hibernatable.remove(&id) {
            if let Some(set) = self.sockets_of.get_mut(&**s.key) {
                set.remove(&id);
                if set.is_empty() {
                    self.sockets_of.remove(&**s.key);
                }
            }
            self.publish();
        }
        self.attachments.remove(&id);
        if let Some(owner) = self.plain_owner.remove(&id) {
            if let Some(a) = self.by_owner.get_mut(&owner) {
                a.plain_sockets.remove(&id);
            }
        }
    }

    /// Socket `id`'s attachment, serialized.
    fn attachment(&self, id: u32) -> Option<&[u8]> {
        match self.hibernatable.get(&id) {
            Some(s) => s.attachment.as_deref(),
            None => self.attachments.get(&id).map(|b| &b[..]),
        }
    }

    fn set_attachment(&mut self, id: u32, bytes: Option<Box<[u8]>>) {
        if let Some(s) = self.hibernatable.get_mut(&id) {
            s.attachment = bytes;
            return;
        }
        match bytes {
            Some(b) => {
                self.attachments.insert(id, b);
            }
            None => {
                self.attachments.remove(&id);
            }
        }
    }

    /// The actor key of hibernatable socket `id`.
    pub(crate) fn hibernatable_key(&self, id: u32) -> Option<&str> {
        self.hibernatable.get(&id).map(|s| &**s.key)
    }

    /// The auto-response for a text message on hibernatable socket `id`.
    pub(crate) fn auto_response(&mut self, id: u32, text: &[u8]) -> Option<String> {
        let s = self.hibernatable.get_mut(&id)?;
        let (req, res) = self.auto_response.get(&**s.key)?;
        if req.as_bytes() != text {
            return None;
        }
        s.auto_at = now_ms();
        self.counters.auto_responses += 1;
        if let Some(m) = ringworker_core::ShardMetrics::current() {
            m.set_actors(self.counters);
        }
        Some(res.clone())
    }

    fn store(&mut self, owner: u32) -> Result<&mut ActorStore, String> {
        let dir = self.options.storage_dir.clone();
        let durable_full = self.options.durable_full;
        let a = self
            .by_owner
            .get_mut(&owner)
            .ok_or("storage: this actor was evicted; use a new stub")?;
        if a.store.is_none() {
            let store = match &dir {
                Some(d) => ActorStore::open(
                    &d.join(&a.class).join(format!("{}.sqlite", a.hex)),
                    if durable_full {
                        Durability::Full
                    } else {
                        Durability::Normal
                    },
                ),
                None => ActorStore::open_in_memory(),
            }
            .map_err(|e| format!("storage: {e}"))?;
            a.store = Some(store);
        }
        Ok(a.store.as_mut().expect("opened above"))
    }

    fn index(&mut self) -> Option<&mut AlarmIndex> {
        if self.index.is_none() {
            let dir = self.options.storage_dir.as_ref()?;
            match AlarmIndex::open(&dir.join("alarms.sqlite")) {
                Ok(i) => self.index = Some(i),
                Err(e) => {
                    tracing::error!(shard = self.shard, "cannot open the alarm index: {e}");
                    return None;
                }
            }
        }
        self.index.as_mut()
    }

    /// Publishes the counters (and the gauges) to the shard's metrics.
    fn publish(&mut self) {
        self.counters.live = self.by_owner.len() as u64;
        // Sockets of actors not in memory: all of them, less the live
        // actors' (usually few).
        let live: usize = self
            .by_key
            .keys()
            .filter_map(|k| self.sockets_of.get(k))
            .map(|s| s.len())
            .sum();
        self.counters.hibernated_sockets = (self.hibernatable.len() - live) as u64;
        if let Some(m) = ringworker_core::ShardMetrics::current() {
            m.set_actors(self.counters);
        }
    }

    fn log_eviction(&mut self, key: String, why: Eviction) {
        match why {
            Eviction::Idle => self.counters.evicted_idle += 1,
            Eviction::Hibernated => self.counters.hibernated += 1,
            Eviction::Aborted => self.counters.aborted += 1,
        }
        if self.evictions.len() >= EVICTION_LOG {
            self.evictions.pop_front();
        }
        self.evictions.push_back((key, why));
        self.publish();
    }
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// The home shard of actor `hex` among `shards`.
pub(crate) fn home_shard(hex: &str, shards: usize) -> usize {
    let head = u64::from_str_radix(hex.get(..16).unwrap_or("0"), 16).unwrap_or(0);
    (head % shards.max(1) as u64) as usize
}

fn is_actor_id(hex: &str) -> bool {
    hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// This module's ops (named as `js/60_actors.js` calls them on `ops`).
pub(crate) fn ops() -> Vec<(&'static str, v8::FunctionCallback)> {
    vec![
        ("actorIdFromName", op_id_from_name.map_fn_to()),
        ("actorUniqueId", op_unique_id.map_fn_to()),
        ("actorActivate", op_activate.map_fn_to()),
        ("actorBusy", op_busy.map_fn_to()),
        ("actorEvicted", op_evicted.map_fn_to()),
        ("runAs", op_run_as.map_fn_to()),
        ("stGet", op_st_get.map_fn_to()),
        ("stGetMany", op_st_get_many.map_fn_to()),
        ("stPut", op_st_put.map_fn_to()),
        ("stPutMany", op_st_put_many.map_fn_to()),
        ("stDelete", op_st_delete.map_fn_to()),
        ("stDeleteMany", op_st_delete_many.map_fn_to()),
        ("stList", op_st_list.map_fn_to()),
        ("stDeleteAll", op_st_delete_all.map_fn_to()),
        ("stTxn", op_st_txn.map_fn_to()),
        ("stCommit", op_st_commit.map_fn_to()),
        ("stSql", op_st_sql.map_fn_to()),
        ("stSize", op_st_size.map_fn_to()),
        ("stGetAlarm", op_st_get_alarm.map_fn_to()),
        ("stSetAlarm", op_st_set_alarm.map_fn_to()),
        ("actorAcceptWebSocket", op_accept_ws.map_fn_to()),
        ("actorSockets", op_sockets.map_fn_to()),
        ("actorSocketTags", op_socket_tags.map_fn_to()),
        ("actorAutoResponse", op_auto_response.map_fn_to()),
        ("actorAutoResponseAt", op_auto_response_at.map_fn_to()),
        ("wsSetAttachment", op_set_attachment.map_fn_to()),
        ("wsGetAttachment", op_get_attachment.map_fn_to()),
    ]
}

// ------------------------------------------------------------- ids, registry

/// `actorIdFromName(class, name)` -> 64 hex digits, the same for the same
/// class and name on every shard and every run.
fn op_id_from_name(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let class = args.get(0).to_rust_string_lossy(scope);
    let name = args.get(1).to_rust_string_lossy(scope);
    let mut h = sha2::Sha256::new();
    h.update(b"ringworker-actor\0");
    h.update(class.as_bytes());
    h.update(b"\0");
    h.update(name.as_bytes());
    let hex = to_hex(&h.finalize());
    rv.set(new_string(scope, &hex).into());
}

/// `actorUniqueId()` -> 64 random hex digits.
fn op_unique_id(
    scope: &mut v8::PinScope,
    _args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let mut b = [0u8; 32];
    if getrandom::fill(&mut b).is_err() {
        return throw_type_error(scope, "newUniqueId(): no randomness available");
    }
    rv.set(new_string(scope, &to_hex(&b)).into());
}

/// `actorActivate(class, hex)` -> the owner id of a new live actor (its JS
/// object is being constructed).
fn op_activate(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let class = args.get(0).to_rust_string_lossy(scope);
    let hex = args.get(1).to_rust_string_lossy(scope);
    if !is_actor_id(&hex) {
        return throw_type_error(scope, "actor id must be 64 lowercase hex digits");
    }
    let h = host(scope);
    let owner = h.borrow_mut().new_owner();
    let mut hb = h.borrow_mut();
    let key = format!("{class}:{hex}");
    let (lo, hi) = hb.actors.options.evict_after;
    let evict_after = if hi > lo {
        let mut r = [0u8; 8];
        let _ = getrandom::fill(&mut r);
        lo + (hi - lo).mul_f64((u64::from_le_bytes(r) % 10_000) as f64 / 10_000.0)
    } else {
        lo
    };
    let ledger = Owner::Actor(u64::from_str_radix(&hex[..16], 16).unwrap_or(0));
    let a = &mut hb.actors;
    a.counters.activations += 1;
    a.by_key.insert(key.clone(), owner);
    a.by_owner.insert(
        owner,
        Actor {
            key,
            class,
            hex,
            store: None,
            busy: 0,
            idle_since: Instant::now(),
            evict_after,
            plain_sockets: HashSet::new(),
            ledger,
        },
    );
    a.publish();
    let start_sweeper = !std::mem::replace(&mut a.sweeper, true);
    if start_sweeper {
        hb.spawns.push(Box::new(|weak| Box::pin(sweep(weak))));
    }
    rv.set(v8::Integer::new_from_unsigned(scope, owner).into());
}

/// `actorBusy(owner, +1, event)`: an event for the actor (`fetch`,
/// `alarm`, an RPC method, `webSocketMessage`...) was queued or delivered;
/// returns a trace token while a tail client is attached to the shard (0
/// otherwise). `actorBusy(owner, -1, token, ok, error)`: it settled; a
/// traced event goes to the tail clients.
fn op_busy(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let owner = args.get(0).uint32_value(scope).unwrap_or(0);
    let delta = args.get(1).int32_value(scope).unwrap_or(0);
    let hr = host(scope);
    let mut h = hr.borrow_mut();
    // Traced only while a tail client listens (a flag check otherwise).
    let tracing = h.tail().is_some();
    let Some(a) = h.actors.by_owner.get_mut(&owner) else {
        return;
    };
    if delta > 0 {
        a.busy += 1;
        if !tracing {
            return;
        }
        let key = a.key.clone();
        let event = args.get(2).to_rust_string_lossy(scope);
        let trace = ringworker_core::RequestTrace::for_actor(key, event);
        trace.set_worker(h.worker_name());
        // The request (if any) whose code delivered it.
        let (cause, _) = h.request_of(crate::runtime::current_owner(scope));
        h.set_trace(owner, Some(trace.clone()));
        let acts = &mut h.actors;
        acts.next_trace = acts.next_trace.wrapping_add(1).max(1);
        let token = acts.next_trace;
        acts.traces.insert(
            token,
            ActorTrace {
                owner,
                trace,
                cause,
            },
        );
        rv.set(v8::Integer::new_from_unsigned(scope, token).into());
        return;
    }
    a.busy = a.busy.saturating_sub(1);
    if a.busy == 0 {
        a.idle_since = Instant::now();
    }
    let token = args.get(2).uint32_value(scope).unwrap_or(0);
    let Some(t) = h.actors.traces.remove(&token) else {
        return;
    };
    h.set_trace_done(owner, &t.trace);
    let shard = h.actors.shard;
    drop(h);
    let ok = args.get(3).is_true();
    if !ok {
        let text = crate::runtime::value_text(scope, args.get(4));
        t.trace.exception(text);
    }
    let outcome = if ok {
        ringworker_core::Outcome::Ok
    } else {
        ringworker_core::Outcome::Exception
    };
    if let Some(hub) = hr.borrow().tail() {
        hub.publish(shard, t.cause, &t.trace, None, outcome);
    }
}

/// `actorEvicted(owner, reason)`: JS dropped the actor (`ctx.abort()`, a
/// failed constructor); its native side goes too.
fn op_evicted(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let owner = args.get(0).uint32_value(scope).unwrap_or(0);
    host(scope)
        .borrow_mut()
        .release_actor(owner, Eviction::Aborted);
}

/// `runAs(owner, fn)` -> `fn()`, run on behalf of `owner` (an actor): what
/// it schedules, also from its promise reactions, is the actor's.
fn op_run_as(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let owner = args.get(0).uint32_value(scope).unwrap_or(0);
    let Ok(f) = v8::Local::<v8::Function>::try_from(args.get(1)) else {
        return throw_type_error(scope, "runAs: expected a function");
    };
    let before = scope.get_continuation_preserved_embedder_data();
    let data: v8::Local<v8::Value> = v8::Integer::new_from_unsigned(scope, owner).into();
    scope.set_continuation_preserved_embedder_data(data);
    let recv = v8::undefined(scope).into();
    let r = f.call(scope, recv, &[]);
    scope.set_continuation_preserved_embedder_data(before);
    if r.is_none() && scope.is_execution_terminating() {
        // Terminated (CPU limit) inside the actor: the entry resets it.
        host(scope).borrow_mut().actors.terminated_in = Some(owner);
    }
    if let Some(r) = r {
        rv.set(r);
    }
}

impl crate::runtime::Host {
    /// Why actor `owner` is resident now (for `actorStats()`).
    fn resident_because(&self, owner: u32, a: &Actor, ledger: Option<&KeepaliveLedger>) -> String {
        let mut why = Vec::new();
        if a.busy > 0 {
            why.push(format!("{} event(s) in flight", a.busy));
        }
        if let Some(l) = ledger {
            let n = l.live_tokens(a.ledger);
            if n > 0 {
                why.push(format!("{n} keepalive token(s)"));
            }
        }
        if self.has_wait_until(owner) {
            why.push("waitUntil work".into());
        }
        if !a.plain_sockets.is_empty() {
            why.push(format!("{} accepted WebSocket(s)", a.plain_sockets.len()));
        }
        if why.is_empty() {
            // Whole milliseconds under 10 s, whole seconds above: a
            // dashboard row, not a debug print.
            let idle = a.idle_since.elapsed();
            why.push(if idle < Duration::from_secs(10) {
                format!("idle for {} ms", idle.as_millis())
            } else {
                format!("idle for {} s", idle.as_secs())
            });
        }
        why.join(", ")
    }

    /// Whether actor `owner` may leave memory now, and how: `None` while
    /// something holds it.
    fn evictable(&self, owner: u32, ledger: Option<&KeepaliveLedger>) -> Option<Eviction> {
        let a = self.actors.by_owner.get(&owner)?;
        if a.busy > 0
            || !a.plain_sockets.is_empty()
            || self.has_wait_until(owner)
            || ledger.is_some_and(|l| l.pins(a.ledger))
        {
            return None;
        }
        let idle = a.idle_since.elapsed();
        if self.actors.sockets_of.contains_key(&a.key) {
            // A pending timer is work the actor expects to do awake.
            (idle >= self.actors.options.hibernate_after && !self.has_timers(owner))
                .then_some(Eviction::Hibernated)
        } else {
            (idle >= a.evict_after).then_some(Eviction::Idle)
        }
    }

    /// Drops actor `owner`'s native side: its registry entry, database
    /// connection, timers and the I/O it opened (not its hibernatable
    /// sockets).
    pub(crate) fn release_actor(&mut self, owner: u32, why: Eviction) {
        let Some(a) = self.actors.by_owner.remove(&owner) else {
            return;
        };
        self.actors.by_key.remove(&a.key);
        self.actors.log_eviction(a.key.clone(), why);
        self.actors.traces.retain(|_, t| t.owner != owner);
        for id in &a.plain_sockets {
            self.actors.plain_owner.remove(id);
            if let Some(ws) = self.sockets.get(*id) {
                let _ = ws.close(Some(1001), "the actor was evicted");
            }
        }
        self.end_owner(owner);
    }
}

/// The eviction sweeper: one task per runtime while it has actors, waking
/// at a quarter of the shortest window.
async fn sweep(weak: Weak<JsRuntime>) {
    let mut last_gc: Option<Instant> = None;
    let mut hibernated_sockets = 0usize;
    loop {
        let tick = {
            let Some(rt) = weak.upgrade() else { return };
            let h = rt.host().borrow();
            let o = &h.actors.options;
            (o.hibernate_after.min(o.evict_after.0) / 4)
                .clamp(Duration::from_millis(5), Duration::from_secs(1))
        };
        glommio::timer::sleep(tick).await;
        let Some(rt) = weak.upgrade() else { return };
        let ledger = KeepaliveLedger::current();
        let done = {
            let mut h = rt.host().borrow_mut();
            let done = h.actors.by_owner.is_empty();
            if done {
                h.actors.sweeper = false;
            }
            done
        };
        if done {
            // The last of a burst of hibernations is collected too.
            if hibernated_sockets >= GC_AFTER_HIBERNATED / 10 {
                if let Some(wait) =
                    last_gc.and_then(|t: Instant| GC_INTERVAL.checked_sub(t.elapsed()))
                {
                    glommio::timer::sleep(wait).await;
                }
                rt.release_memory();
            }
            return;
        }
        let due: Vec<(u32, Eviction)> = {
            let h = rt.host().borrow();
            h.actors
                .by_owner
                .keys()
                .filter_map(|&o| h.evictable(o, ledger.as_deref()).map(|why| (o, why)))
                .collect()
        };
        {
            let h = rt.host().borrow();
            for (owner, why) in &due {
                if *why == Eviction::Hibernated {
                    let key = h.actors.by_owner.get(owner).map(|a| &a.key);
                    hibernated_sockets += key
                        .and_then(|k| h.actors.sockets_of.get(k))
                        .map_or(0, |s| s.len());
                }
            }
        }
        let quiet = due.iter().all(|(_, why)| *why != Eviction::Hibernated);
        for (owner, why) in due {
            rt.evict_actor(owner, why);
        }
        // What hibernated actors held (their objects, their sockets' JS
        // wrappers) is garbage now: once many sockets went to sleep (or a
        // burst of a hundred or more ended), collect it rather than keep it
        // resident: a full GC of a few ms, and the allocator's free pages
        // given back; at most once per GC_INTERVAL.
        let enough = hibernated_sockets >= GC_AFTER_HIBERNATED
            || (quiet && hibernated_sockets >= GC_AFTER_HIBERNATED / 10);
        if enough && last_gc.is_none_or(|t: Instant| t.elapsed() >= GC_INTERVAL) {
            hibernated_sockets = 0;
            last_gc = Some(Instant::now());
            rt.release_memory();
        }
    }
}

impl JsRuntime {
    /// Drops actor `owner`: JS forgets its object, then its native side goes.
    pub(crate) fn evict_actor(self: &Rc<Self>, owner: u32, why: Eviction) {
        let _ = self.enter(|tc, _| {
            if let Some(f) = hook(tc, "evict") {
                let o = v8::Integer::new_from_unsigned(tc, owner).into();
                let w = new_string(tc, why.describe()).into();
                let recv = v8::undefined(tc).into();
                f.call(tc, recv, &[o, w]);
            }
        });
        self.host().borrow_mut().release_actor(owner, why);
        tracing::debug!(
            shard = self.shard(),
            owner,
            why = why.describe(),
            "actor left memory"
        );
    }

    /// Schedules the alarms this shard owns from the alarm index (after a
    /// restart). Call once at start.
    pub(crate) fn start_actors(self: &Rc<Self>) {
        self.serve_mesh();
        let rows = {
            let mut h = self.host().borrow_mut();
            let shards = h.actors.options.shards;
            let shard = h.actors.shard;
            if h.actors.options.bindings.is_empty() {
                return;
            }
            match h.actors.index().map(|i| i.all()) {
                Some(Ok(rows)) => rows
                    .into_iter()
                    .filter(|(_, id, _)| home_shard(id, shards) == shard)
                    .collect::<Vec<_>>(),
                Some(Err(e)) => {
                    tracing::error!(shard, "cannot read the alarm index: {e}");
                    Vec::new()
                }
                None => Vec::new(),
            }
        };
        for (class, hex, at) in rows {
            let key = format!("{class}:{hex}");
            self.host()
                .borrow_mut()
                .actors
                .schedule_alarm(&key, Some(at as f64));
        }
        self.start_alarms();
    }

    /// Starts the alarm tasks scheduled during the last entry.
    pub(crate) fn start_alarms(self: &Rc<Self>) {
        let starts = std::mem::take(&mut self.host().borrow_mut().actors.alarm_starts);
        for key in starts {
            let Some(&(at, generation)) = self.host().borrow().actors.alarms.get(&key) else {
                continue;
            };
            let weak = Rc::downgrade(self);
            glommio::spawn_local(run_alarm(weak, key, at, generation)).detach();
        }
    }
}

impl Actors {
    /// Notes `key`'s alarm due at `at` (ms since the epoch; `None`: none);
    /// a task starts after the current entry, and an older one stands down.
    fn schedule_alarm(&mut self, key: &str, at: Option<f64>) {
        self.alarm_generation += 1;
        match at {
            Some(at) => {
                self.alarms
                    .insert(key.to_string(), (at, self.alarm_generation));
                self.alarm_starts.push(key.to_string());
            }
            None => {
                self.alarms.remove(key);
            }
        }
    }
}

/// Waits for alarm `key` and runs the actor's `alarm()`, retrying it with
/// backoff when it throws; stands down if the alarm was changed meanwhile.
async fn run_alarm(weak: Weak<JsRuntime>, key: String, at: f64, generation: u64) {
    let current = |rt: &JsRuntime| {
        rt.host().borrow().actors.alarms.get(&key).map(|&(_, g)| g) == Some(generation)
    };
    let wait = (at - now_ms()).max(0.0);
    glommio::timer::sleep(Duration::from_secs_f64(wait / 1000.0)).await;
    let mut retry = 0u32;
    loop {
        let Some(rt) = weak.upgrade() else { return };
        if !current(&rt) {
            return;
        }
        let Some((class, hex)) = key.split_once(':') else {
            return;
        };
        let started = rt.enter(|tc, h| {
            let f = hook(tc, "alarm")?;
            let c = new_string(tc, class).into();
            let x = new_string(tc, hex).into();
            let n = v8::Integer::new_from_unsigned(tc, retry).into();
            let recv = v8::undefined(tc).into();
            let p = f.call(tc, recv, &[c, x, n])?;
            let p = v8::Local::<v8::Promise>::try_from(p).ok()?;
            Some(rt.watch_promise(tc, h, p))
        });
        let ok = match started {
            Ok(Some(id)) => rt.wait_settled(id).await,
            _ => false,
        };
        {
            let mut h = rt.host().borrow_mut();
            h.actors.counters.alarms_fired += 1;
            h.actors.publish();
        }
        if !current(&rt) {
            // The handler set a new alarm (or deleted it): that one stands.
            return;
        }
        let (base, retries) = {
            let h = rt.host().borrow();
            (
                h.actors.options.alarm_retry_base,
                h.actors.options.alarm_retries,
            )
        };
        if ok || retry >= retries {
            if !ok {
                tracing::error!(shard = rt.shard(), actor = %key, "alarm() failed {} times; giving up", retry + 1);
            }
            let mut h = rt.host().borrow_mut();
            h.actors.alarms.remove(&key);
            clear_alarm(&mut h, &key);
            return;
        }
        {
            let mut h = rt.host().borrow_mut();
            h.actors.counters.alarm_retries += 1;
            h.actors.publish();
        }
        let backoff = base.saturating_mul(1 << retry.min(16));
        retry += 1;
        drop(rt);
        glommio::timer::sleep(backoff).await;
    }
}

/// Forgets `key`'s fired alarm in its database (when the actor is live)
/// and in the index.
fn clear_alarm(h: &mut crate::runtime::Host, key: &str) {
    if let Some(&owner) = h.actors.by_key.get(key) {
        if let Ok(s) = h.actors.store(owner) {
            let _ = s.set_alarm(None);
        }
    } else if let Some((class, hex)) = key.split_once(':') {
        // Evicted meanwhile: open its database just for this.
        if let Some(dir) = h.actors.options.storage_dir.clone() {
            if let Ok(mut s) = ActorStore::open(
                &dir.join(class).join(format!("{hex}.sqlite")),
                Durability::Normal,
            ) {
                let _ = s.set_alarm(None);
            }
        }
    }
    if let Some((class, hex)) = key.split_once(':') {
        if let Some(i) = h.actors.index() {
            let _ = i.set(class, hex, None);
        }
    }
}

/// `rw.actorHooks[name]`, the functions `60_actors.js` gives the runtime.
pub(crate) fn hook<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    name: &str,
) -> Option<v8::Local<'s, v8::Function>> {
    let hooks = crate::runtime::rw_get(scope, "actorHooks")?;
    let hooks = v8::Local::<v8::Object>::try_from(hooks).ok()?;
    let k = new_string(scope, name);
    let f = hooks.get(scope, k.into())?;
    v8::Local::<v8::Function>::try_from(f).ok()
}

// ------------------------------------------------------------------ storage

struct Serializer;

impl v8::ValueSerializerImpl for Serializer {
    fn throw_data_clone_error<'s>(
        &self,
        scope: &mut v8::PinScope<'s, '_>,
        message: v8::Local<'s, v8::String>,
    ) {
        let e = v8::Exception::error(scope, message);
        scope.throw_exception(e);
    }

    // `CryptoKey`s are host objects: their material crosses as bytes
    // (crypto/clone.rs), as workerd's do.
    fn has_custom_host_object(&self, _isolate: &v8::Isolate) -> bool {
        true
    }

    fn is_host_object<'s>(
        &self,
        scope: &mut v8::PinScope<'s, '_>,
        object: v8::Local<'s, v8::Object>,
    ) -> Option<bool> {
        Some(crate::crypto::ops::is_key(scope, object))
    }

    fn write_host_object<'s>(
        &self,
        scope: &mut v8::PinScope<'s, '_>,
        object: v8::Local<'s, v8::Object>,
        value_serializer: &dyn v8::ValueSerializerHelper,
    ) -> Option<bool> {
        crate::crypto::ops::write_key(scope, object, value_serializer)
    }
}

struct Deserializer;

impl v8::ValueDeserializerImpl for Deserializer {
    fn read_host_object<'s>(
        &self,
        scope: &mut v8::PinScope<'s, '_>,
        value_deserializer: &dyn v8::ValueDeserializerHelper,
    ) -> Option<v8::Local<'s, v8::Object>> {
        crate::crypto::ops::read_key(scope, value_deserializer)
    }
}

/// `v` in V8's structured-clone wire format (what Durable Objects store);
/// `None` with an exception thrown if it cannot be cloned.
pub(crate) fn serialize(scope: &mut v8::PinScope, v: v8::Local<v8::Value>) -> Option<Vec<u8>> {
    let s = v8::ValueSerializer::new(scope, Box::new(Serializer));
    s.write_header();
    let context = scope.get_current_context();
    s.write_value(context, v)?;
    Some(s.release())
}

/// The value `bytes` (from [`serialize`]) encodes.
pub(crate) fn deserialize<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    bytes: &[u8],
) -> Option<v8::Local<'s, v8::Value>> {
    let d = v8::ValueDeserializer::new(scope, Box::new(Deserializer), bytes);
    let context = scope.get_current_context();
    d.read_header(context)?;
    d.read_value(context)
}

/// Runs `f` on the database of the actor `args[0]` names, throwing its
/// error as a JS `Error`.
fn with_store<R>(
    scope: &mut v8::PinScope,
    args: &v8::FunctionCallbackArguments,
    f: impl FnOnce(&mut ActorStore) -> Result<R, String>,
) -> Option<R> {
    let owner = args.get(0).uint32_value(scope).unwrap_or(0);
    let h = host(scope);
    let r = {
        let mut h = h.borrow_mut();
        let watch = h.watch.clone();
        let run = || h.actors.store(owner).and_then(f);
        match watch {
            Some(w) => w.excluding(run),
            None => run(),
        }
    };
    match r {
        Ok(r) => Some(r),
        Err(msg) => {
            let m = new_string(scope, &msg);
            let e = v8::Exception::error(scope, m);
            scope.throw_exception(e);
            None
        }
    }
}

fn strings(scope: &mut v8::PinScope, v: v8::Local<v8::Value>) -> Vec<String> {
    match v8::Local::<v8::Array>::try_from(v) {
        Ok(a) => (0..a.length())
            .filter_map(|i| a.get_index(scope, i))
            .map(|v| v.to_rust_string_lossy(scope))
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn set_pairs(
    scope: &mut v8::PinScope,
    rv: &mut v8::ReturnValue<v8::Value>,
    pairs: Vec<(String, Vec<u8>)>,
) {
    let mut flat: Vec<v8::Local<v8::Value>> = Vec::with_capacity(pairs.len() * 2);
    for (k, v) in pairs {
        let Some(v) = deserialize(scope, &v) else {
            return;
        };
        flat.push(new_string(scope, &k).into());
        flat.push(v);
    }
    rv.set(v8::Array::new_with_elements(scope, &flat).into());
}

/// `stGet(owner, key)` -> the value, or undefined.
fn op_st_get(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let key = args.get(1).to_rust_string_lossy(scope);
    let Some(v) = with_store(scope, &args, |s| s.get(&key).map_err(|e| e.to_string())) else {
        return;
    };
    if let Some(v) = v.and_then(|b| deserialize(scope, &b)) {
        rv.set(v);
    }
}

/// `stGetMany(owner, keys)` -> `[key, value, ...]` of the keys found.
fn op_st_get_many(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let keys = strings(scope, args.get(1));
    if keys.len() > 128 {
        return throw_type_error(scope, "get(): at most 128 keys at once");
    }
    if let Some(pairs) = with_store(scope, &args, |s| {
        s.get_many(&keys).map_err(|e| e.to_string())
    }) {
        set_pairs(scope, &mut rv, pairs);
    }
}

/// `stPut(owner, key, value)`.
fn op_st_put(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let key = args.get(1).to_rust_string_lossy(scope);
    let Some(bytes) = serialize(scope, args.get(2)) else {
        return;
    };
    with_store(scope, &args, |s| {
        s.put(&key, &bytes).map_err(|e| e.to_string())
    });
}

/// `stPutMany(owner, [key, value, ...])`: all or nothing.
fn op_st_put_many(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let Ok(flat) = v8::Local::<v8::Array>::try_from(args.get(1)) else {
        return throw_type_error(scope, "put(): expected an object of entries");
    };
    let n = flat.length();
    if n / 2 > 128 {
        return throw_type_error(scope, "put(): at most 128 entries at once");
    }
    let mut entries = Vec::with_capacity(n as usize / 2);
    let mut i = 0;
    while i + 1 < n {
        let k = flat
            .get_index(scope, i)
            .map(|k| k.to_rust_string_lossy(scope))
            .unwrap_or_default();
        let v = flat
            .get_index(scope, i + 1)
            .unwrap_or_else(|| v8::undefined(scope).into());
        let Some(bytes) = serialize(scope, v) else {
            return;
        };
        entries.push((k, bytes));
        i += 2;
    }
    with_store(scope, &args, |s| {
        s.put_many(&entries).map_err(|e| e.to_string())
    });
}

/// `stDelete(owner, key)` -> whether it existed.
fn op_st_delete(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let key = args.get(1).to_rust_string_lossy(scope);
    if let Some(existed) = with_store(scope, &args, |s| s.delete(&key).map_err(|e| e.to_string())) {
        rv.set(v8::Boolean::new(scope, existed).into());
    }
}

/// `stDeleteMany(owner, keys)` -> how many existed.
fn op_st_delete_many(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let keys = strings(scope, args.get(1));
    if keys.len() > 128 {
        return throw_type_error(scope, "delete(): at most 128 keys at once");
    }
    if let Some(n) = with_store(scope, &args, |s| {
        s.delete_many(&keys).map_err(|e| e.to_string())
    }) {
        rv.set(v8::Number::new(scope, n as f64).into());
    }
}

fn opt_string(scope: &mut v8::PinScope, v: v8::Local<v8::Value>) -> Option<String> {
    (!v.is_null_or_undefined()).then(|| v.to_rust_string_lossy(scope))
}

/// `stList(owner, start, startAfter, end, prefix, reverse, limit)` ->
/// `[key, value, ...]`.
fn op_st_list(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let opts = ListOptions {
        start: opt_string(scope, args.get(1)),
        start_after: opt_string(scope, args.get(2)),
        end: opt_string(scope, args.get(3)),
        prefix: opt_string(scope, args.get(4)),
        reverse: args.get(5).is_true(),
        limit: {
            let l = args.get(6);
            if l.is_null_or_undefined() {
                None
            } else {
                l.number_value(scope)
                    .filter(|n| n.is_finite() && *n >= 0.0)
                    .map(|n| n as usize)
            }
        },
    };
    if let Some(pairs) = with_store(scope, &args, |s| s.list(&opts).map_err(|e| e.to_string())) {
        set_pairs(scope, &mut rv, pairs);
    }
}

/// `stDeleteAll(owner)`.
fn op_st_delete_all(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    with_store(scope, &args, |s| s.delete_all().map_err(|e| e.to_string()));
}

/// `stTxn(owner, 0 begin | 1 commit | 2 roll back)` -> the depth after.
fn op_st_txn(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let what = args.get(1).int32_value(scope).unwrap_or(0);
    if let Some(depth) = with_store(scope, &args, |s| {
        match what {
            0 => s.savepoint(),
            1 => s.release(),
            _ => s.rollback(),
        }
        .map_err(|e| e.to_string())?;
        Ok(s.depth())
    }) {
        rv.set(v8::Number::new(scope, depth as f64).into());
    }
}

/// `stCommit(owner, [key, value, ...], [key, ...], alarm)`: what a
/// `transaction()` wrote, in one SQLite transaction (`alarm`: undefined
/// leaves it, null clears it, a number sets it).
fn op_st_commit(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let Ok(flat) = v8::Local::<v8::Array>::try_from(args.get(1)) else {
        return throw_type_error(scope, "transaction: expected the entries written");
    };
    let mut puts = Vec::with_capacity(flat.length() as usize / 2);
    let mut i = 0;
    while i + 1 < flat.length() {
        let k = flat
            .get_index(scope, i)
            .map(|k| k.to_rust_string_lossy(scope))
            .unwrap_or_default();
        let v = flat
            .get_index(scope, i + 1)
            .unwrap_or_else(|| v8::undefined(scope).into());
        let Some(bytes) = serialize(scope, v) else {
            return;
        };
        puts.push((k, bytes));
        i += 2;
    }
    let deletes = strings(scope, args.get(2));
    let alarm_arg = args.get(3);
    let alarm = if alarm_arg.is_undefined() {
        None
    } else {
        Some(alarm_ms(scope, alarm_arg))
    };
    if with_store(scope, &args, |s| {
        s.commit(&puts, &deletes, alarm).map_err(|e| e.to_string())
    })
    .is_none()
    {
        return;
    }
    if let Some(at) = alarm {
        let owner = args.get(0).uint32_value(scope).unwrap_or(0);
        alarm_changed(scope, owner, at);
    }
}

fn sql_param(scope: &mut v8::PinScope, v: v8::Local<v8::Value>) -> Result<SqlValue, String> {
    if v.is_null_or_undefined() {
        return Ok(SqlValue::Null);
    }
    if v.is_boolean() {
        return Ok(SqlValue::Integer(i64::from(v.is_true())));
    }
    if v.is_number() {
        let n = v.number_value(scope).unwrap_or(0.0);
        return Ok(if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
            SqlValue::Integer(n as i64)
        } else {
            SqlValue::Real(n)
        });
    }
    if v.is_big_int() {
        let b = v8::Local::<v8::BigInt>::try_from(v).map_err(|e| e.to_string())?;
        let (n, lossless) = b.i64_value();
        if !lossless {
            return Err("sql.exec(): a BigInt binding does not fit in 64 bits".into());
        }
        return Ok(SqlValue::Integer(n));
    }
    if v.is_string() {
        return Ok(SqlValue::Text(v.to_rust_string_lossy(scope)));
    }
    with_bytes(scope, v, |b| SqlValue::Blob(b.to_vec())).ok_or_else(|| {
        "sql.exec(): a binding must be a string, number, boolean, bigint, null or ArrayBuffer/view"
            .to_string()
    })
}

/// `stSql(owner, query, [binding, ...])` -> `[columns, rows, rowsRead,
/// rowsWritten]`, rows as arrays; integers as numbers, blobs as
/// ArrayBuffers.
fn op_st_sql(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let sql = args.get(1).to_rust_string_lossy(scope);
    let mut params = Vec::new();
    if let Ok(a) = v8::Local::<v8::Array>::try_from(args.get(2)) {
        for i in 0..a.length() {
            let v = a
                .get_index(scope, i)
                .unwrap_or_else(|| v8::undefined(scope).into());
            match sql_param(scope, v) {
                Ok(p) => params.push(p),
                Err(e) => return throw_type_error(scope, &e),
            }
        }
    }
    let Some(r) = with_store(scope, &args, |s| {
        s.exec(&sql, &params).map_err(|e| e.to_string())
    }) else {
        return;
    };
    let cols: Vec<v8::Local<v8::Value>> = r
        .columns
        .iter()
        .map(|c| new_string(scope, c).into())
        .collect();
    let cols = v8::Array::new_with_elements(scope, &cols);
    let rows: Vec<v8::Local<v8::Value>> = r
        .rows
        .into_iter()
        .map(|row| {
            let cells: Vec<v8::Local<v8::Value>> = row
                .into_iter()
                .map(|c| match c {
                    SqlValue::Null => v8::null(scope).into(),
                    SqlValue::Integer(n) => v8::Number::new(scope, n as f64).into(),
                    SqlValue::Real(n) => v8::Number::new(scope, n).into(),
                    SqlValue::Text(t) => new_string(scope, &t).into(),
                    SqlValue::Blob(b) => crate::runtime::array_buffer(scope, b).into(),
                })
                .collect();
            v8::Array::new_with_elements(scope, &cells).into()
        })
        .collect();
    let rows = v8::Array::new_with_elements(scope, &rows);
    let read = v8::Number::new(scope, r.rows_read as f64).into();
    let written = v8::Number::new(scope, r.rows_written as f64).into();
    rv.set(v8::Array::new_with_elements(scope, &[cols.into(), rows.into(), read, written]).into());
}

/// `stSize(owner)` -> the database's size in bytes.
fn op_st_size(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    if let Some(n) = with_store(scope, &args, |s| s.size_bytes().map_err(|e| e.to_string())) {
        rv.set(v8::Number::new(scope, n as f64).into());
    }
}

/// `stGetAlarm(owner)` -> ms since the epoch, or null.
fn op_st_get_alarm(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    match with_store(scope, &args, |s| s.alarm().map_err(|e| e.to_string())) {
        Some(Some(at)) => rv.set(v8::Number::new(scope, at as f64).into()),
        Some(None) => rv.set(v8::null(scope).into()),
        None => {}
    }
}

/// `stSetAlarm(owner, ms | null)`: stored, indexed and scheduled.
fn op_st_set_alarm(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let owner = args.get(0).uint32_value(scope).unwrap_or(0);
    let at = alarm_ms(scope, args.get(1));
    if with_store(scope, &args, |s| s.set_alarm(at).map_err(|e| e.to_string())).is_none() {
        return;
    }
    alarm_changed(scope, owner, at);
}

/// An alarm time from JS: milliseconds since the epoch, or `None` for
/// null, undefined or a number that is not finite.
fn alarm_ms(scope: &mut v8::PinScope, v: v8::Local<v8::Value>) -> Option<i64> {
    if v.is_null_or_undefined() {
        return None;
    }
    v.number_value(scope)
        .filter(|n| n.is_finite())
        .map(|n| n.round() as i64)
}

/// Actor `owner`'s stored alarm became `at`: indexed and scheduled.
fn alarm_changed(scope: &mut v8::PinScope, owner: u32, at: Option<i64>) {
    let h = host(scope);
    let mut h = h.borrow_mut();
    let Some(a) = h.actors.by_owner.get(&owner) else {
        return;
    };
    let (key, class, hex) = (a.key.clone(), a.class.clone(), a.hex.clone());
    if let Some(i) = h.actors.index() {
        if let Err(e) = i.set(&class, &hex, at) {
            tracing::error!("cannot index the alarm of {key}: {e}");
        }
    }
    h.actors.schedule_alarm(&key, at.map(|t| t as f64));
}

// -------------------------------------------------------- hibernatable sockets

/// `actorAcceptWebSocket(owner, [tag, ...])` -> id of a new native socket
/// whose events go to the actor (waking it if it hibernated).
fn op_accept_ws(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let owner = args.get(0).uint32_value(scope).unwrap_or(0);
    let tags = strings(scope, args.get(1));
    if tags.len() > 10 || tags.iter().any(|t| t.len() > 256) {
        return throw_type_error(
            scope,
            "acceptWebSocket(): at most 10 tags of at most 256 characters",
        );
    }
    let h = host(scope);
    let mut h = h.borrow_mut();
    let Some(key) = h.actors.by_owner.get(&owner).map(|a| a.key.clone()) else {
        return throw_type_error(scope, "acceptWebSocket(): this actor was evicted");
    };
    let count = h.actors.sockets_of.get(&key).map_or(0, |s| s.len());
    if count >= 32_768 {
        return throw_type_error(
            scope,
            "acceptWebSocket(): an actor may hold at most 32,768 WebSockets",
        );
    }
    let id = h.sockets.add_accepted(None);
    let a = &mut h.actors;
    let set = a.sockets_of.entry(key.clone()).or_default();
    let shared_key = set
        .first()
        .and_then(|other| a.hibernatable.get(other))
        .map_or_else(|| Rc::new(key.as_str().into()), |s| s.key.clone());
    set.insert(id);
    a.hibernatable.insert(
        id,
        HibernatableSocket {
            key: shared_key,
            tags: (!tags.is_empty()).then(|| Box::new(tags)),
            attachment: None,
            auto_at: f64::NAN,
        },
    );
    rv.set(v8::Integer::new_from_unsigned(scope, id).into());
}

/// `actorSockets(owner, tag | undefined)` -> ids of its hibernatable sockets.
fn op_sockets(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let owner = args.get(0).uint32_value(scope).unwrap_or(0);
    let tag = opt_string(scope, args.get(1));
    let h = host(scope);
    let h = h.borrow();
    let Some(key) = h.actors.by_owner.get(&owner).map(|a| &a.key) else {
        return;
    };
    let ids: Vec<u32> = h
        .actors
        .sockets_of
        .get(key)
        .into_iter()
        .flatten()
        .copied()
        .filter(|id| {
            tag.as_ref().is_none_or(|t| {
                h.actors
                    .hibernatable
                    .get(id)
                    .is_some_and(|s| s.tags.as_ref().is_some_and(|tags| tags.contains(t)))
            })
        })
        // (A socket whose close is being delivered is no longer listed.)
        .filter(|id| {
            h.sockets.get(*id).is_some_and(|ws| {
                !matches!(ws.ready_state(), ringworker_io::ws::ReadyState::Closed)
            })
        })
        .collect();
    let ids: Vec<v8::Local<v8::Value>> = ids
        .into_iter()
        .map(|id| v8::Integer::new_from_unsigned(scope, id).into())
        .collect();
    rv.set(v8::Array::new_with_elements(scope, &ids).into());
}

/// `actorSocketTags(id)` -> its tags.
fn op_socket_tags(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    let h = host(scope);
    let tags: Vec<String> = match h.borrow().actors.hibernatable.get(&id) {
        Some(s) => s.tags.as_deref().cloned().unwrap_or_default(),
        None => {
            return throw_type_error(
                scope,
                "getTags(): this WebSocket was not accepted with ctx.acceptWebSocket()",
            );
        }
    };
    let tags: Vec<v8::Local<v8::Value>> =
        tags.iter().map(|t| new_string(scope, t).into()).collect();
    rv.set(v8::Array::new_with_elements(scope, &tags).into());
}

/// `actorAutoResponse(owner, request | undefined, response)`: set or (with
/// no request) clear the actor's auto-response.
fn op_auto_response(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let owner = args.get(0).uint32_value(scope).unwrap_or(0);
    let req = opt_string(scope, args.get(1));
    let res = args.get(2).to_rust_string_lossy(scope);
    let h = host(scope);
    let mut h = h.borrow_mut();
    let Some(key) = h.actors.by_owner.get(&owner).map(|a| a.key.clone()) else {
        return;
    };
    match req {
        Some(req) => {
            h.actors.auto_response.insert(key, (req, res));
        }
        None => {
            h.actors.auto_response.remove(&key);
        }
    }
}

/// `actorAutoResponseAt(id)` -> when the auto-response last answered on
/// socket `id` (ms since the epoch), or null.
fn op_auto_response_at(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    let at = host(scope)
        .borrow()
        .actors
        .hibernatable
        .get(&id)
        .map(|s| s.auto_at)
        .filter(|t| !t.is_nan());
    match at {
        Some(t) => rv.set(v8::Number::new(scope, t).into()),
        None => rv.set(v8::null(scope).into()),
    }
}

/// `wsSetAttachment(id, value)`: kept natively (so it survives
/// hibernation), at most 16 KiB serialized.
fn op_set_attachment(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    let v = args.get(1);
    let h = host(scope);
    if v.is_null_or_undefined() {
        h.borrow_mut().actors.set_attachment(id, None);
        return;
    }
    let Some(bytes) = serialize(scope, v) else {
        return;
    };
    if bytes.len() > MAX_ATTACHMENT {
        return throw_type_error(
            scope,
            &format!(
                "serializeAttachment(): the attachment is {} bytes serialized; at most {MAX_ATTACHMENT}",
                bytes.len()
            ),
        );
    }
    h.borrow_mut()
        .actors
        .set_attachment(id, Some(bytes.into_boxed_slice()));
}

/// `wsGetAttachment(id)` -> a fresh copy of the attachment, or null.
fn op_get_attachment(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    let bytes = host(scope)
        .borrow()
        .actors
        .attachment(id)
        .map(<[u8]>::to_vec);
    match bytes.and_then(|b| deserialize(scope, &b)) {
        Some(v) => rv.set(v),
        None => rv.set(v8::null(scope).into()),
    }
}
