//! [`JsRuntime`]: one shard's isolate and context, running a Workers script.
//!
//! The shard's executor drives the event loop: a request calls the script's
//! `fetch`, microtasks run right after, and a returned promise that is still
//! pending is awaited as a Rust future (V8 calls back into a slot the future
//! watches). Timers are timeouts on the shard's network ring (glommio timers off a
//! shard) that call back into the isolate.
//! Nothing here blocks the shard.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use ringworker_core::Outcome;
use ringworker_io::http::target::TargetUri;
use ringworker_io::{Request, Response, ResponseBody};

use v8::MapFnTo;

use crate::error::ScriptError;
use crate::module;
use crate::platform::init_v8;
use crate::watchdog::Watch;
use std::sync::Arc;

/// The JS files of the API surface, evaluated in order (see `js/00_bootstrap.js`).
pub(crate) const BOOTSTRAP: &[(&str, &str)] = &[
    (
        "ringworker:00_bootstrap.js",
        include_str!("js/00_bootstrap.js"),
    ),
    ("ringworker:05_web.js", include_str!("js/05_web.js")),
    ("ringworker:10_events.js", include_str!("js/10_events.js")),
    ("ringworker:20_streams.js", include_str!("js/20_streams.js")),
    (
        "ringworker:22_formdata.js",
        include_str!("js/22_formdata.js"),
    ),
    ("ringworker:25_crypto.js", include_str!("js/25_crypto.js")),
    (
        "ringworker:25_compression.js",
        include_str!("js/25_compression.js"),
    ),
    (
        "ringworker:27_urlpattern.js",
        include_str!("js/27_urlpattern.js"),
    ),
    (
        "ringworker:30_websocket.js",
        include_str!("js/30_websocket.js"),
    ),
    ("ringworker:35_globals.js", include_str!("js/35_globals.js")),
    ("ringworker:40_fetch.js", include_str!("js/40_fetch.js")),
    ("ringworker:50_sockets.js", include_str!("js/50_sockets.js")),
    ("ringworker:60_actors.js", include_str!("js/60_actors.js")),
    (
        "ringworker:70_htmlrewriter.js",
        include_str!("js/70_htmlrewriter.js"),
    ),
    (
        "ringworker:75_scheduled.js",
        include_str!("js/75_scheduled.js"),
    ),
    ("ringworker:80_cache.js", include_str!("js/80_cache.js")),
    ("ringworker:90_node.js", include_str!("js/90_node.js")),
];

/// What a shard's runtime runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The main module (an ES module with `export default { fetch }`).
    pub main: PathBuf,
    /// The worker's name in its log lines and tail events (wrangler.toml's
    /// `name`); `None`: the main module's file name without its extension.
    pub name: Option<String>,
    /// Write a V8 CPU profile of the isolate here (a `.cpuprofile` Chrome
    /// DevTools loads) when the runtime is dropped; shard N > 0 writes
    /// `<stem>.shardN.cpuprofile`.
    pub cpu_profile: Option<PathBuf>,
    /// `env` bindings: plain-text variables (`--var`, `[vars]`).
    pub vars: Vec<(String, String)>,
    /// The shard this runtime lives on (for logs).
    pub shard: usize,
    /// Longest a single entry into JS (a `fetch` call, a timer callback, with
    /// the microtasks it queues) may run before it is terminated; `fetch`
    /// then answers 503. Default 50 ms.
    pub cpu_limit: Duration,
    /// The same limit for evaluating the script at start-up. Default 2 s.
    pub startup_limit: Duration,
    /// Largest JS heap of the isolate. Near it, the running entry is
    /// terminated (its request answers 503), the runtime is marked exhausted
    /// and [`JsHandler`](crate::JsHandler) replaces it for new requests.
    /// Default 256 MiB.
    pub heap_limit: usize,
    /// How long a request whose client went away may keep running after it
    /// was told (its `request.signal` / `controller.signal` aborted) before
    /// its timers are cancelled and new ones refused. `ringworker::serve_worker`
    /// sets it from the server's `Timeouts::cancel_grace`. Default 100 ms.
    pub cancel_grace: Duration,
    /// Longest `ctx.waitUntil()` work of a cancelled request may hold off
    /// that tear-down. Default 30 s (as in Workers).
    pub wait_until_limit: Duration,
    /// Most subrequests (`fetch()`, outbound WebSockets, `connect()`) one
    /// incoming request may make; past it they throw a `TypeError`.
    /// Default 1,000 (`ringworker::serve_worker` sets it from
    /// `OutboundConfig::subrequest_limit`).
    pub subrequest_limit: usize,
    /// Publishes internal stream helpers to the script as
    /// `globalThis[Symbol.for("ringworker.internal.streams")]`: for the JS
    /// API tests only. Default false.
    #[doc(hidden)]
    pub expose_internals: bool,
    /// Actors (Durable-Object classes) the script's `env` binds, and how
    /// they are stored, evicted and hibernated.
    pub actors: crate::actor::ActorOptions,
    /// Once the script has not run for this long, if V8's heap grew by
    /// [`IDLE_GC_GROWTH`] or more since the last time, the isolate runs a
    /// memory-reducing collection and the shard's allocator gives free
    /// memory back (after a burst of WebSocket upgrades, say). V8's own
    /// memory reducer does the same only after ~10-30 s. Zero: never.
    /// Default 500 ms.
    pub idle_gc_after: Duration,
    /// Compatibility flags (wrangler.toml's `compatibility_flags`,
    /// `--compat-flag`); `nodejs_compat` makes Node's modules importable
    /// (`node:buffer`, ...) and adds `Buffer`, `process` and `global`.
    pub compat_flags: Vec<String>,
    /// Cron patterns (wrangler.toml's `[triggers] crons`) on which shard 0
    /// runs the script's `scheduled()` handler (see `scheduled.rs`).
    pub crons: Vec<String>,
    /// The clock the cron schedule runs by (tests speed it up).
    pub cron_clock: crate::scheduled::CronClock,
    /// The Cache API's budget and, with several shards, its mailboxes.
    pub cache: crate::cache::CacheOptions,
    /// Answer wrangler's test route `/__scheduled?cron=...` by running
    /// `scheduled()` (`--test-scheduled`). Default false.
    pub test_scheduled: bool,
    /// Largest multipart form `request.formData()` / `response.formData()`
    /// parses: past it the call rejects with a `TypeError` and the rest of
    /// the body is not read. Default [`DEFAULT_FORM_DATA_LIMIT`](crate::DEFAULT_FORM_DATA_LIMIT)
    /// (100 MiB).
    pub form_data_limit: u64,
}

impl WorkerOptions {
    /// The worker's name: [`Self::name`], or the main module's file stem.
    pub fn worker_name(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => self
                .main
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "worker".into()),
        }
    }
}

/// How much V8's committed heap must have grown since the last idle
/// collection for the next one to run (see [`WorkerOptions::idle_gc_after`]).
pub const IDLE_GC_GROWTH: usize = 4 << 20;

impl WorkerOptions {
    /// Options for `main` with default limits and no variables.
    pub fn new(main: impl Into<PathBuf>) -> Self {
        Self {
            main: main.into(),
            name: None,
            vars: Vec::new(),
            shard: 0,
            cpu_limit: Duration::from_millis(50),
            startup_limit: Duration::from_secs(2),
            heap_limit: 256 << 20,
            cancel_grace: Duration::from_millis(100),
            wait_until_limit: Duration::from_secs(30),
            expose_internals: false,
            cpu_profile: None,
            subrequest_limit: 1000,
            actors: crate::actor::ActorOptions::default(),
            idle_gc_after: Duration::from_millis(500),
            compat_flags: Vec::new(),
            crons: Vec::new(),
            cron_clock: crate::scheduled::CronClock::default(),
            test_scheduled: false,
            cache: crate::cache::CacheOptions::default(),
            form_data_limit: crate::formdata::DEFAULT_FORM_DATA_LIMIT,
        }
    }
}

/// A promise the runtime is waiting on, settled by V8 callbacks.
#[derive(Default)]
struct Pending {
    outcome: Option<Result<v8::Global<v8::Value>, v8::Global<v8::Value>>>,
    waker: Option<Waker>,
    /// The script was terminated (CPU limit) while running on behalf of the
    /// request that waits here: it will never settle.
    terminated: bool,
    /// The request (or actor) on whose behalf it was watched.
    owner: u32,
}

/// How a pending entry ended (see [`JsRuntime::take_settled`]).
pub(crate) enum Settled {
    /// Fulfilled (`Ok`) or rejected (`Err`) with this value.
    Value(Result<v8::Global<v8::Value>, v8::Global<v8::Value>>),
    /// The script was terminated while running for the request that waits
    /// here: the promise will never settle.
    Terminated,
}

/// A request in flight: its cancel flag, and a watch once its script looked
/// at `request.signal` (most never do, and pay nothing for it).
struct Tracked {
    flag: ringworker_core::CancelFlag,
    watch: Option<Rc<RequestWatch>>,
    /// The incoming request's id (none for an actor's owner id).
    rid: Option<ringworker_core::RequestId>,
    /// Where its console lines, exceptions and JS time go while a tail
    /// client is attached.
    trace: Option<Rc<ringworker_core::RequestTrace>>,
}

/// A request whose `request.signal` must abort when its client goes away.
struct RequestWatch {
    flag: ringworker_core::CancelFlag,
    signal: v8::Global<v8::Object>,
    ended: std::cell::Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl RequestWatch {
    fn end(&self) {
        self.ended.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// A scheduled callback, its period if it is an interval, and the request
/// whose work scheduled it (0: none, e.g. the script's top level).
struct Timer {
    callback: v8::Global<v8::Function>,
    /// Extra arguments given to `setTimeout`/`setInterval`, passed on each call.
    args: Rc<[v8::Global<v8::Value>]>,
    repeat: Option<Duration>,
    owner: u32,
    /// The async context it was scheduled in, if it holds stores.
    frame: Option<v8::Global<v8::Value>>,
}

/// The doom sweeper sleeps at least this long, so a stream of disconnects
/// wakes it at most this often.
const DOOM_TICK: Duration = Duration::from_millis(5);

/// How many recently torn-down requests are remembered (see `Host::torn_down`).
const TORN_DOWN_MEMORY: usize = 4096;

/// Per-isolate state reachable from V8 callbacks (an isolate slot).
#[derive(Default)]
pub(crate) struct Host {
    /// Promises rejected with no handler during the current entry, with their
    /// reasons; whatever is still here when the entry ends is logged.
    unhandled: Vec<(v8::Global<v8::Promise>, v8::Global<v8::Value>)>,
    /// Rejected promises that got a handler after the entry they were
    /// rejected in (a `rejectionhandled` event if they were reported).
    handled_late: Vec<v8::Global<v8::Promise>>,
    /// Requests in flight, by id: their cancel flags and, once a script looked
    /// at `request.signal`, that signal (see `op_watch_request`).
    requests: HashMap<u32, Tracked>,
    next_request: u32,
    /// Requests whose signal needs a watcher task (started after the entry).
    watch_queue: Vec<u32>,
    /// Native bodies JS may read (request bodies, `fetch()` response
    /// bodies), by id (see `op_body_read`).
    bodies: HashMap<u32, BodyEntry>,
    /// Bodies of `fetch()` responses by the request that fetched them: an
    /// unread one would hold its upstream connection, so they are dropped
    /// when the request (and its `waitUntil` work) is over.
    fetch_bodies: HashMap<u32, Vec<u32>>,
    next_body: u32,
    /// Reads JS asked for during the current entry: (body, resolver, the
    /// request the reading code runs for).
    body_reads: Vec<(u32, v8::Global<v8::PromiseResolver>, u32)>,
    pending: HashMap<u64, Pending>,
    next_pending: u64,
    /// Live timers by id; a timer's task finds its entry gone once cleared.
    timers: HashMap<u32, Timer>,
    /// Timers scheduled during the current entry, whose tasks start after it.
    timer_starts: Vec<(u32, Duration)>,
    next_timer: u32,
    /// `ctx.waitUntil()` promises still pending, by the request that made them.
    wait_until: HashMap<u32, u32>,
    /// Cancelled requests whose grace ended while waitUntil work was pending:
    /// torn down when it settles.
    doomed: std::collections::HashSet<u32>,
    /// Requests whose work was torn down (the most recent ones): code still
    /// running on their behalf may not schedule timers.
    torn_down: std::collections::BTreeSet<u32>,
    /// Requests to tear down once the current entry returns.
    teardown_queue: Vec<u32>,
    /// Accepted WebSockets (see `websocket.rs`).
    pub(crate) sockets: crate::websocket::Sockets,
    /// Outbound work (fetches, connects) JS started during the current
    /// entry: each becomes a task once the entry returns.
    pub(crate) spawns: Vec<Spawn>,
    /// Subrequests in flight or done, and their abort flags (see `fetch.rs`).
    pub(crate) outbound: crate::fetch::Outbound,
    /// Outbound TCP sockets (see `sockets.rs`).
    pub(crate) tcp: crate::sockets::TcpSockets,
    /// Actors living in this isolate (see `actor.rs`).
    pub(crate) actors: crate::actor::Actors,
    /// Calls to actors on other shards, and WebSocket bridges to them (see
    /// `remote.rs`).
    pub(crate) remote: crate::remote::Remote,
    /// The isolate's CPU-time watch (storage time is held out of it).
    pub(crate) watch: Option<Arc<Watch>>,
    shard: usize,
    /// The worker's name, in its log lines and tail events.
    worker: Rc<str>,
    /// The shard's tail subscribers: while none is attached, entries skip
    /// the tracing work (one flag check).
    tail: Option<Rc<ringworker_core::TailHub>>,
}

pub(crate) type HostRef = Rc<RefCell<Host>>;

/// A native body JS may read.
struct BodyEntry {
    /// The body; `None` while a read holds it.
    body: Option<ringworker_io::Body>,
    /// Dropped while a read held it: the read lets it go.
    dropped: bool,
    /// A `fetch()` body's exchange: cancelled when the body is dropped, so
    /// its upstream stops at once (abort, cancel, request over).
    flag: Option<ringworker_core::CancelFlag>,
    /// A `fetch()` body's GC watch on its `Response`: let go of unread, it
    /// releases the upstream connection.
    weak: Option<v8::Weak<v8::Object>>,
}

impl BodyEntry {
    fn new(body: ringworker_io::Body, flag: Option<ringworker_core::CancelFlag>) -> Self {
        Self {
            body: Some(body),
            dropped: false,
            flag,
            weak: None,
        }
    }
}

/// Work an op queued: given the runtime, the task to run after the entry.
pub(crate) type Spawn = Box<
    dyn FnOnce(
        std::rc::Weak<JsRuntime>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
>;

/// The handles a runtime keeps into its context.
pub(crate) struct Handles {
    pub(crate) context: v8::Global<v8::Context>,
    make_request: v8::Global<v8::Function>,
    response_parts: v8::Global<v8::Function>,
    pub(crate) client_gone: v8::Global<v8::Function>,
    /// `readerPull`, `readerTake`, `readerWait`: a body stream's reads (body.rs).
    pub(crate) reader_pull: v8::Global<v8::Function>,
    pub(crate) reader_take: v8::Global<v8::Function>,
    pub(crate) reader_wait: v8::Global<v8::Function>,
    abort_with_disconnect: v8::Global<v8::Function>,
    /// `watchPromise(promise, id)`: reports the outcome through `settled`.
    watch_promise: v8::Global<v8::Function>,
    pub(crate) ws_dispatch: v8::Global<v8::Function>,
    /// `rw.reportRejections(unhandled, handled)` (js/35_globals.js).
    report_rejections: v8::Global<v8::Function>,
    /// `rw.onUncaught(error)` -> whether a listener cancelled it.
    on_uncaught: v8::Global<v8::Function>,
    pub(crate) handler: v8::Global<v8::Value>,
    fetch: v8::Global<v8::Function>,
    pub(crate) env: v8::Global<v8::Value>,
    pub(crate) ctx: v8::Global<v8::Value>,
    watch: Arc<Watch>,
}

struct Inner {
    // Field order matters: the handles, the profiler and the queued
    // foreground tasks drop before the isolate.
    h: Handles,
    profile: Option<crate::profiler::CpuProfile>,
    tasks: Option<crate::platform::IsolateTasks>,
    isolate: v8::OwnedIsolate,
}

/// A shard's JS runtime. Shard-local: not `Send`, used through an `Rc`.
pub struct JsRuntime {
    /// None once the isolate was disposed (it ran out of heap).
    inner: RefCell<Option<Inner>>,
    /// Cancelled requests waiting out their grace period, by deadline.
    dooms: RefCell<std::collections::VecDeque<(std::time::Instant, u32)>>,
    /// Whether the task that dooms them is running.
    doom_sweeper: std::cell::Cell<bool>,
    /// What the GC callbacks write to (dropped after the isolate).
    gc_clock: Option<Box<GcClock>>,
    /// Entries since the heap size was last read into the shard's metrics.
    entries: std::cell::Cell<u32>,
    /// Whether the task that waits for the script to go quiet runs, and
    /// V8's committed heap after the last idle collection (see
    /// `WorkerOptions::idle_gc_after`).
    idle_watch: std::cell::Cell<bool>,
    idle_heap_base: std::cell::Cell<usize>,
    /// Set by V8's near-heap-limit callback; shared with it through a raw pointer.
    heap: Box<HeapGuard>,
    host: HostRef,
    options: WorkerOptions,
    /// The doorbell of the isolate's foreground-task inbox, until the task
    /// that serves it starts (see [`Self::serve_foreground_tasks`]).
    tasks_bell: std::cell::Cell<Option<std::os::fd::OwnedFd>>,
    /// Builds `request.url` from the parts the HTTP parser checked (and
    /// keeps the last one's host: see [`TargetUri`]).
    target_uri: RefCell<TargetUri>,
}

/// GC pause accounting for the shard's metrics, at a stable address.
struct GcClock {
    metrics: Rc<ringworker_core::ShardMetrics>,
    started: std::cell::Cell<Option<std::time::Instant>>,
}

unsafe extern "C" fn gc_started(
    _isolate: v8::UnsafeRawIsolatePtr,
    _type: v8::GCType,
    _flags: v8::GCCallbackFlags,
    data: *mut std::ffi::c_void,
) {
    // SAFETY: `data` is the runtime's boxed GcClock, alive as long as the isolate.
    let clock = unsafe { &*(data as *const GcClock) };
    clock.started.set(Some(std::time::Instant::now()));
}

unsafe extern "C" fn gc_ended(
    mut isolate: v8::UnsafeRawIsolatePtr,
    gc_type: v8::GCType,
    _flags: v8::GCCallbackFlags,
    data: *mut std::ffi::c_void,
) {
    // SAFETY: as in `gc_started`.
    let clock = unsafe { &*(data as *const GcClock) };
    if let Some(t) = clock.started.take() {
        clock.metrics.gc_pause(t.elapsed());
    }
    let minor = v8::GCType::kGCTypeScavenge.0 | v8::GCType::kGCTypeMinorMarkSweep.0;
    if gc_type.0 & minor != 0 {
        // SAFETY: V8 calls this on the isolate's thread with a live isolate.
        let isolate = unsafe { v8::Isolate::ref_from_raw_isolate_ptr_mut(&mut isolate) };
        clock.metrics.minor_gc(young_bytes(isolate));
    }
}

/// Bytes in use in the young generation (new space and its large objects).
fn young_bytes(isolate: &mut v8::Isolate) -> u64 {
    (0..isolate.number_of_heap_spaces())
        .filter_map(|i| isolate.get_heap_space_statistics(i))
        .filter(|s| {
            let name = s.space_name().to_bytes();
            name == b"new_space" || name == b"new_large_object_space"
        })
        .map(|s| s.space_used_size() as u64)
        .sum()
}

/// What the near-heap-limit callback needs, at a stable address.
struct HeapGuard {
    handle: v8::IsolateHandle,
    exhausted: std::sync::atomic::AtomicBool,
}

/// V8 reports rejections without a handler (and handlers added later).
extern "C" fn promise_reject(msg: v8::PromiseRejectMessage) {
    v8::callback_scope!(unsafe scope, &msg);
    let promise = msg.get_promise();
    let Some(h) = scope.get_slot::<HostRef>().cloned() else {
        return;
    };
    match msg.get_event() {
        v8::PromiseRejectEvent::PromiseRejectWithNoHandler => {
            let value = msg
                .get_value()
                .unwrap_or_else(|| v8::undefined(scope).into());
            let entry = (
                v8::Global::new(scope, promise),
                v8::Global::new(scope, value),
            );
            h.borrow_mut().unhandled.push(entry);
        }
        v8::PromiseRejectEvent::PromiseHandlerAddedAfterReject => {
            let mut h = h.borrow_mut();
            let before = h.unhandled.len();
            h.unhandled.retain(|(p, _)| *p != promise);
            if h.unhandled.len() == before {
                // Reported in an earlier entry (if it was at all).
                h.handled_late.push(v8::Global::new(scope, promise));
            }
        }
        _ => {}
    }
}

/// V8 calls this when the heap nears its limit: stop the running script and
/// give V8 room to unwind it instead of aborting the process.
unsafe extern "C" fn near_heap_limit(
    data: *mut std::ffi::c_void,
    current: usize,
    _initial: usize,
) -> usize {
    // SAFETY: `data` is the runtime's boxed HeapGuard, alive as long as the isolate.
    let guard = unsafe { &*(data as *const HeapGuard) };
    if !guard
        .exhausted
        .swap(true, std::sync::atomic::Ordering::AcqRel)
    {
        guard.handle.terminate_execution();
    }
    current + (32 << 20)
}

impl std::fmt::Debug for JsRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsRuntime")
            .field("main", &self.options.main)
            .finish()
    }
}

pub(crate) fn new_string<'s>(scope: &v8::PinScope<'s, '_>, s: &str) -> v8::Local<'s, v8::String> {
    v8::String::new(scope, s).unwrap_or_else(|| v8::String::empty(scope))
}

/// `bytes` decoded as UTF-8, invalid sequences replaced with U+FFFD, and
/// with `drop_bom` a leading BOM dropped (as a body's `text()` does). Valid
/// text (nearly all) goes to V8 without a copy in Rust, ASCII as one-byte
/// characters.
pub(crate) fn utf8_text<'s>(
    scope: &v8::PinScope<'s, '_>,
    bytes: &[u8],
    drop_bom: bool,
) -> v8::Local<'s, v8::String> {
    let bytes = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) if drop_bom => rest,
        _ => bytes,
    };
    // (V8 replaces bad sequences as the Encoding Standard does.)
    v8::String::new_from_utf8(scope, bytes, v8::NewStringType::Normal)
        .unwrap_or_else(|| v8::String::empty(scope))
}

/// An `ArrayBuffer` over `bytes` (moved in, not copied).
pub(crate) fn array_buffer<'s>(
    scope: &v8::PinScope<'s, '_>,
    bytes: Vec<u8>,
) -> v8::Local<'s, v8::ArrayBuffer> {
    let store = v8::ArrayBuffer::new_backing_store_from_vec(bytes).make_shared();
    v8::ArrayBuffer::with_backing_store(scope, &store)
}

pub(crate) fn throw_type_error(scope: &mut v8::PinScope, msg: &str) {
    let m = new_string(scope, msg);
    let e = v8::Exception::type_error(scope, m);
    scope.throw_exception(e);
}

pub(crate) fn host(scope: &v8::PinScope) -> HostRef {
    scope
        .get_slot::<HostRef>()
        .expect("host slot is set at start-up")
        .clone()
}

// ------------------------------------------------------------------ native ops

/// A request id as a log field: `-` when the code runs for no request (the
/// script's top level, an actor's own work).
pub(crate) struct Rid(pub(crate) Option<ringworker_core::RequestId>);

impl std::fmt::Display for Rid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(r) => r.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// `log(level, text)`: a `console.*` line (0 debug, 1 log, 2 warn, 3
/// error, 4 info). It goes to the log with the worker and the request it
/// runs for, and to that request's trace while a tail client is attached.
fn op_log(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let level = args.get(0).int32_value(scope).unwrap_or(1);
    let msg = args.get(1).to_rust_string_lossy(scope);
    let owner = current_owner(scope);
    let h = host(scope);
    let h = h.borrow();
    let (rid, trace) = h.request_of(owner);
    let (shard, worker) = (h.shard, &*h.worker);
    let console_level = match level {
        0 => "debug",
        2 => "warn",
        3 => "error",
        4 => "info",
        _ => "log",
    };
    let rid = Rid(rid);
    match level {
        0 => tracing::debug!(target: "js", shard, worker, request_id = %rid, "{msg}"),
        2 => tracing::warn!(target: "js", shard, worker, request_id = %rid, "{msg}"),
        3 => tracing::error!(target: "js", shard, worker, request_id = %rid, "{msg}"),
        _ => tracing::info!(target: "js", shard, worker, request_id = %rid, "{msg}"),
    }
    if let Some(t) = trace {
        t.log(console_level, msg);
    }
}

fn op_utf8_encode(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let s = args.get(0).to_rust_string_lossy(scope);
    let len = s.len();
    let ab = array_buffer(scope, s.into_bytes());
    if let Some(u8a) = v8::Uint8Array::new(scope, ab, 0, len) {
        rv.set(u8a.into());
    }
}

/// `utf8Decode(bytes, dropBom)` -> the text (see [`utf8_text`]).
fn op_utf8_decode(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let drop_bom = args.get(1).is_true();
    match with_bytes_in(scope, args.get(0), |s, b| utf8_text(s, b, drop_bom)) {
        Some(text) => rv.set(text.into()),
        None => throw_type_error(scope, "expected an ArrayBuffer or a view"),
    }
}

/// `setTimeout` / `setInterval`: schedules the callback and returns its id.
fn timer_op(
    scope: &mut v8::PinScope,
    args: &v8::FunctionCallbackArguments,
    rv: &mut v8::ReturnValue<v8::Value>,
    repeat: bool,
) {
    let Ok(callback) = v8::Local::<v8::Function>::try_from(args.get(0)) else {
        throw_type_error(scope, "setTimeout/setInterval: callback must be a function");
        return;
    };
    let ms = args.get(1).number_value(scope).unwrap_or(0.0);
    let ms = if ms.is_finite() && ms > 0.0 { ms } else { 0.0 };
    let delay = Duration::from_secs_f64(ms / 1000.0);
    let owner = current_owner(scope);
    let frame = current_frame(scope);
    let h = host(scope);
    let mut h = h.borrow_mut();
    h.next_timer = h.next_timer.wrapping_add(1).max(1);
    let id = h.next_timer;
    // A request whose grace period is over may not schedule anything (the
    // id is still valid to clear).
    if owner == 0 || !h.torn_down.contains(&owner) {
        let callback = v8::Global::new(scope, callback);
        let args = (2..args.length())
            .map(|i| v8::Global::new(scope, args.get(i)))
            .collect();
        h.timers.insert(
            id,
            Timer {
                callback,
                args,
                repeat: repeat.then_some(delay),
                owner,
                frame,
            },
        );
        h.timer_starts.push((id, delay));
    }
    drop(h);
    rv.set(v8::Integer::new_from_unsigned(scope, id).into());
}

/// The request on whose behalf JS is running now: V8 carries it through
/// promise reactions (continuation-preserved embedder data), and the runtime
/// sets it when it calls in for a request, a timer or a stream (0: none).
pub(crate) fn current_owner(scope: &v8::PinScope) -> u32 {
    let v = scope.get_continuation_preserved_embedder_data();
    if v.is_uint32() {
        v.uint32_value(scope).unwrap_or(0)
    } else if let Ok(frame) = v8::Local::<v8::Array>::try_from(v) {
        // An async context (AsyncLocalStorage, `node/mod.rs`): [owner, stores].
        frame
            .get_index(scope, 0)
            .and_then(|o| o.uint32_value(scope))
            .unwrap_or(0)
    } else {
        0
    }
}

/// The current async context if it holds more than the owner (an
/// AsyncLocalStorage frame): what a timer scheduled now runs in.
fn current_frame(scope: &v8::PinScope) -> Option<v8::Global<v8::Value>> {
    let v = scope.get_continuation_preserved_embedder_data();
    v.is_array().then(|| v8::Global::new(scope, v))
}

fn set_owner(scope: &v8::PinScope, owner: u32) {
    let v: v8::Local<v8::Value> = if owner == 0 {
        v8::undefined(scope).into()
    } else {
        v8::Integer::new_from_unsigned(scope, owner).into()
    };
    scope.set_continuation_preserved_embedder_data(v);
}

/// `waitUntil(promise)`: work of the current request that must finish even
/// if its client goes away; it holds off the request's tear-down (up to
/// `wait_until_limit`).
fn op_wait_until(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let owner = current_owner(scope);
    let Ok(promise) = v8::Local::<v8::Promise>::try_from(args.get(0)) else {
        return;
    };
    if owner == 0 || promise.state() != v8::PromiseState::Pending {
        rv.set(v8::Integer::new(scope, 0).into());
        return;
    }
    *host(scope)
        .borrow_mut()
        .wait_until
        .entry(owner)
        .or_insert(0) += 1;
    // JS reports the promise's settling with `waitUntilDone(owner)`.
    rv.set(v8::Integer::new_from_unsigned(scope, owner).into());
}

/// `waitUntilDone(owner)`: one of `owner`'s `waitUntil` promises settled.
fn op_wait_until_done(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let owner = args.get(0).uint32_value(scope).unwrap_or(0);
    let h = host(scope);
    let mut h = h.borrow_mut();
    let left = match h.wait_until.get_mut(&owner) {
        Some(n) => {
            *n -= 1;
            *n
        }
        None => return,
    };
    if left == 0 {
        h.wait_until.remove(&owner);
        if !h.requests.contains_key(&owner) {
            h.request_over(owner);
        }
        if h.doomed.remove(&owner) {
            h.teardown_queue.push(owner);
        }
    }
}

fn op_set_timeout(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    timer_op(scope, &args, &mut rv, false);
}

fn op_set_interval(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    timer_op(scope, &args, &mut rv, true);
}

fn op_clear_timer(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    if let Some(id) = args.get(0).uint32_value(scope) {
        host(scope).borrow_mut().timers.remove(&id);
    }
}

/// `bodyRead(id)` -> a promise of the next request-body chunk (a Uint8Array
/// over the socket's bytes, no copy) or null at the end. The read itself
/// starts when the current JS entry returns (see `after_entry`).
fn op_body_read(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    let owner = current_owner(scope);
    let Some(resolver) = v8::PromiseResolver::new(scope) else {
        return;
    };
    let promise = resolver.get_promise(scope);
    host(scope)
        .borrow_mut()
        .body_reads
        .push((id, v8::Global::new(scope, resolver), owner));
    rv.set(promise.into());
}

/// `bodyTakeAll(id, asText)` -> the whole request body as a Uint8Array (no
/// copy for a body that arrived in one piece), or with `asText` as its UTF-8
/// text (see [`utf8_text`]), if all of it is already here, else
/// undefined (then it is read with `bodyRead`). `text()`, `json()` and the
/// like of a small request body take it this way: no stream, no reads after
/// the entry, no second entry to settle them.
fn op_body_take_all(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    let bytes = {
        let h = host(scope);
        let mut h = h.borrow_mut();
        let Some(e) = h.bodies.get_mut(&id) else {
            return;
        };
        // (A fetch() response's body streams from its upstream.)
        if e.flag.is_some() {
            return;
        }
        let Some(bytes) = e.body.as_mut().and_then(|b| b.take_if_complete()) else {
            return;
        };
        h.bodies.remove(&id);
        bytes
    };
    if args.get(1).is_true() {
        let text = utf8_text(scope, &bytes, true);
        rv.set(text.into());
    } else {
        let v = bytes_to_uint8array(scope, bytes);
        rv.set(v.into());
    }
}

/// `watchRequest(id, signal)`: the script looked at `request.signal`; abort
/// it when the client goes away. Returns the reason if it already went.
fn op_watch_request(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    mut rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    let Ok(signal) = v8::Local::<v8::Object>::try_from(args.get(1)) else {
        return;
    };
    let h = host(scope);
    let flag = match h.borrow().requests.get(&id) {
        Some(t) => t.flag.clone(),
        None => return,
    };
    if let Some(reason) = flag.reason() {
        let r = new_string(scope, reason.describe());
        rv.set(r.into());
        return;
    }
    let watch = Rc::new(RequestWatch {
        flag,
        signal: v8::Global::new(scope, signal),
        ended: std::cell::Cell::new(false),
        waker: RefCell::new(None),
    });
    let mut h = h.borrow_mut();
    if let Some(t) = h.requests.get_mut(&id) {
        t.watch = Some(watch);
        h.watch_queue.push(id);
    }
}

/// `bodyWatchGc(stream, id)`: `stream` reads `fetch()` body `id`; if the
/// script lets go of it unread, the body is dropped when V8 collects it
/// (its upstream connection closes rather than staying open forever).
fn op_body_watch_gc(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let Ok(stream) = v8::Local::<v8::Object>::try_from(args.get(0)) else {
        return;
    };
    let id = args.get(1).uint32_value(scope).unwrap_or(0);
    if !host(scope).borrow().bodies.contains_key(&id) {
        return;
    }
    let weak = v8::Weak::with_finalizer(
        scope,
        stream,
        Box::new(move |isolate: &mut v8::Isolate| {
            if let Some(h) = isolate.get_slot::<HostRef>() {
                let h = h.clone();
                // (A GC may run while the host is borrowed: then the body
                // is left for the request's end.)
                if let Ok(mut h) = h.try_borrow_mut() {
                    h.drop_body(id);
                };
            }
        }),
    );
    if let Some(e) = host(scope).borrow_mut().bodies.get_mut(&id) {
        e.weak = Some(weak);
    }
}

/// `bodyCancel(id)`: the script no longer wants the body; drop it (the
/// connection drains or closes).
fn op_body_cancel(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let id = args.get(0).uint32_value(scope).unwrap_or(0);
    host(scope).borrow_mut().drop_body(id);
}

impl Host {
    /// Drops body `id` (its source stops: a socket drains or closes, an
    /// upstream exchange is aborted), also when a read of it is in flight.
    pub(crate) fn drop_body(&mut self, id: u32) {
        let Some(e) = self.bodies.get_mut(&id) else {
            return;
        };
        // Its exchange stops at once, even with a read in flight.
        if let Some(flag) = e.flag.take() {
            flag.cancel(ringworker_core::CancelReason::Aborted);
        }
        e.weak = None;
        if e.body.is_some() {
            self.bodies.remove(&id);
        } else {
            e.dropped = true;
        }
    }

    /// Takes body `id` out whole (its watches go; its exchange goes on).
    pub(crate) fn take_body(&mut self, id: u32) -> Option<ringworker_io::Body> {
        let e = self.bodies.get_mut(&id)?;
        let b = e.body.take()?;
        self.bodies.remove(&id);
        Some(b)
    }

    /// A new owner id (a request's or an actor's), tracked like a request.
    pub(crate) fn new_owner(&mut self) -> u32 {
        self.next_request = self.next_request.wrapping_add(1).max(1);
        let id = self.next_request;
        self.requests.insert(
            id,
            Tracked {
                flag: ringworker_core::CancelFlag::new(),
                watch: None,
                rid: None,
                trace: None,
            },
        );
        id
    }

    /// The incoming request `owner` stands for: its id and (while a tail
    /// client is attached) its trace. Nothing for an actor or no owner.
    pub(crate) fn request_of(
        &self,
        owner: u32,
    ) -> (
        Option<ringworker_core::RequestId>,
        Option<Rc<ringworker_core::RequestTrace>>,
    ) {
        match self.requests.get(&owner) {
            Some(t) => (t.rid, t.trace.clone()),
            None => (None, None),
        }
    }

    /// Makes `trace` where owner `owner`'s console lines and exceptions go
    /// (an actor's event, while a tail client is attached).
    pub(crate) fn set_trace(
        &mut self,
        owner: u32,
        trace: Option<Rc<ringworker_core::RequestTrace>>,
    ) {
        if let Some(t) = self.requests.get_mut(&owner) {
            t.trace = trace;
        }
    }

    /// Owner `owner`'s event traced by `trace` is over: its lines stop going
    /// there (an overlapping later event of the same actor keeps its own).
    pub(crate) fn set_trace_done(&mut self, owner: u32, trace: &Rc<ringworker_core::RequestTrace>) {
        if let Some(t) = self.requests.get_mut(&owner) {
            if t.trace.as_ref().is_some_and(|x| Rc::ptr_eq(x, trace)) {
                t.trace = None;
            }
        }
    }

    /// The worker's name (in log lines and tail events).
    pub(crate) fn worker_name(&self) -> Rc<str> {
        self.worker.clone()
    }

    /// The shard's tail hub, if a tail client is attached to it now.
    pub(crate) fn tail(&self) -> Option<&Rc<ringworker_core::TailHub>> {
        self.tail.as_ref().filter(|t| t.is_active())
    }

    /// Whether `owner` handed work to `waitUntil()` that is still pending.
    pub(crate) fn has_wait_until(&self, owner: u32) -> bool {
        self.wait_until.contains_key(&owner)
    }

    /// Whether `owner` has a timer scheduled.
    pub(crate) fn has_timers(&self, owner: u32) -> bool {
        self.timers.values().any(|t| t.owner == owner)
    }

    /// Owner `owner` (an evicted actor) is gone: its timers stop and its
    /// I/O closes, as at the end of a request.
    pub(crate) fn end_owner(&mut self, owner: u32) {
        if let Some(t) = self.requests.remove(&owner) {
            t.flag.cancel(ringworker_core::CancelReason::Evicted);
        }
        self.wait_until.remove(&owner);
        self.timers.retain(|_, t| t.owner != owner);
        if self.torn_down.len() >= TORN_DOWN_MEMORY {
            self.torn_down.pop_first();
        }
        self.torn_down.insert(owner);
        self.request_over(owner);
    }

    /// Whether request `owner` or its `waitUntil` work is still going.
    pub(crate) fn owner_live(&self, owner: u32) -> bool {
        self.requests.contains_key(&owner) || self.wait_until.contains_key(&owner)
    }

    /// Request `owner` and its `waitUntil` work are over: what it left
    /// open goes (unread fetch() bodies, fetches still in flight, its TCP
    /// sockets, fetched WebSockets it never accepted), as in Workers, where
    /// a request's I/O ends with it.
    fn request_over(&mut self, owner: u32) {
        if let Some(ids) = self.fetch_bodies.remove(&owner) {
            for id in ids {
                self.drop_body(id);
            }
        }
        self.outbound.request_ended(owner);
        self.tcp.owner_ended(owner);
        self.sockets.owner_ended(owner);
    }

    /// The script was terminated while running for request `owner`: every
    /// promise watched on its behalf (its response, a streaming body's
    /// read) will never settle, so their waiters learn it now.
    fn terminate_waiter(&mut self, owner: u32) {
        for p in self.pending.values_mut().filter(|p| p.owner == owner) {
            p.terminated = true;
            if let Some(w) = p.waker.take() {
                w.wake();
            }
        }
    }
}

/// A Uint8Array over `bytes` without copying: V8 owns a boxed `Bytes` and
/// drops it when the buffer is collected.
pub(crate) fn bytes_to_uint8array<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    bytes: Bytes,
) -> v8::Local<'s, v8::Uint8Array> {
    let len = bytes.len();
    if len == 0 {
        let ab = v8::ArrayBuffer::new(scope, 0);
        return v8::Uint8Array::new(scope, ab, 0, 0).expect("empty view");
    }
    unsafe extern "C" fn drop_bytes(
        _data: *mut std::ffi::c_void,
        _len: usize,
        owner: *mut std::ffi::c_void,
    ) {
        // SAFETY: `owner` is the Box<Bytes> leaked below, dropped exactly once by V8.
        drop(unsafe { Box::from_raw(owner as *mut Bytes) });
    }
    let owner = Box::new(bytes);
    let data = owner.as_ptr() as *mut std::ffi::c_void;
    // SAFETY: `data` stays valid until V8 calls `drop_bytes` (the Box keeps the
    // Bytes alive). The connection split these bytes off its read buffer and
    // never reads them again, so JS writing into the view harms nothing.
    let store = unsafe {
        v8::ArrayBuffer::new_backing_store_from_ptr(
            data,
            len,
            drop_bytes,
            Box::into_raw(owner) as *mut std::ffi::c_void,
        )
    }
    .make_shared();
    let ab = v8::ArrayBuffer::with_backing_store(scope, &store);
    v8::Uint8Array::new(scope, ab, 0, len).expect("view within its buffer")
}

/// `settled(id, fulfilled, value)`: pending entry `id` (see
/// [`JsRuntime::watch_promise`]) settled.
fn op_settled(
    scope: &mut v8::PinScope,
    args: v8::FunctionCallbackArguments,
    _rv: v8::ReturnValue<v8::Value>,
) {
    let Some(id) = args.get(0).integer_value(scope) else {
        return;
    };
    let fulfilled = args.get(1).is_true();
    let h = host(scope);
    let mut h = h.borrow_mut();
    if let Some(p) = h.pending.get_mut(&(id as u64)) {
        let value = v8::Global::new(scope, args.get(2));
        p.outcome = Some(if fulfilled { Ok(value) } else { Err(value) });
        if let Some(w) = p.waker.take() {
            w.wake();
        }
    }
}

/// Runs `f` over the bytes of an ArrayBuffer or view, without copying.
pub(crate) fn with_bytes<R>(
    scope: &mut v8::PinScope,
    v: v8::Local<v8::Value>,
    f: impl FnOnce(&[u8]) -> R,
) -> Option<R> {
    with_bytes_in(scope, v, |_, b| f(b))
}

/// [`with_bytes`], with the scope for making values from the bytes (a shared
/// reference: enough to make a string, not to run JS).
pub(crate) fn with_bytes_in<'s, R>(
    scope: &mut v8::PinScope<'s, '_>,
    v: v8::Local<v8::Value>,
    f: impl FnOnce(&v8::PinScope<'s, '_>, &[u8]) -> R,
) -> Option<R> {
    let (ab, offset, len) = if let Ok(view) = v8::Local::<v8::ArrayBufferView>::try_from(v) {
        (view.buffer(scope)?, view.byte_offset(), view.byte_length())
    } else if let Ok(ab) = v8::Local::<v8::ArrayBuffer>::try_from(v) {
        let len = ab.byte_length();
        (ab, 0, len)
    } else {
        return None;
    };
    if len == 0 {
        return Some(f(scope, &[]));
    }
    let data = ab.data()?;
    // SAFETY: the buffer holds at least `offset + len` bytes (V8 keeps views
    // in bounds) and stays alive and unmoved while `f`, which runs no JS, reads.
    let bytes =
        unsafe { std::slice::from_raw_parts((data.as_ptr() as *const u8).add(offset), len) };
    Some(f(scope, bytes))
}

// --------------------------------------------------------------------- runtime

/// Turns the value the bootstrap returned for a body into bytes.
fn body_bytes(scope: &mut v8::PinScope, v: v8::Local<v8::Value>) -> Bytes {
    if v.is_null_or_undefined() {
        return Bytes::new();
    }
    if let Ok(s) = v8::Local::<v8::String>::try_from(v) {
        return Bytes::from(s.to_rust_string_lossy(scope));
    }
    with_bytes(scope, v, Bytes::copy_from_slice).unwrap_or_default()
}

/// The context's embedder-data slot that holds `rw` (survives the snapshot).
pub(crate) const RW_SLOT: i32 = 1;

/// The ops handed to the JS files as `ops`, every module's.
pub(crate) fn all_ops() -> Vec<(&'static str, v8::FunctionCallback)> {
    let mut v: Vec<(&'static str, v8::FunctionCallback)> = vec![
        ("watchRequest", op_watch_request.map_fn_to()),
        ("waitUntil", op_wait_until.map_fn_to()),
        ("waitUntilDone", op_wait_until_done.map_fn_to()),
        ("settled", op_settled.map_fn_to()),
        ("bodyRead", op_body_read.map_fn_to()),
        ("bodyTakeAll", op_body_take_all.map_fn_to()),
        ("bodyCancel", op_body_cancel.map_fn_to()),
        ("bodyWatchGc", op_body_watch_gc.map_fn_to()),
        ("log", op_log.map_fn_to()),
        ("utf8Encode", op_utf8_encode.map_fn_to()),
        ("utf8Decode", op_utf8_decode.map_fn_to()),
    ];
    v.extend(crate::web::ops());
    v.extend(crate::websocket::ops());
    v.extend(crate::fetch::ops());
    v.extend(crate::sockets::ops());
    v.extend(crate::actor::ops());
    v.extend(crate::remote::ops());
    v.extend(crate::crypto::ops::ops());
    v.extend(crate::htmlrewriter::ops());
    v.extend(crate::cache::ops());
    v.extend(crate::node::ops());
    v.extend(crate::formdata::ops());
    v.extend(crate::compression::ops());
    v.extend(crate::urlpattern::ops());
    v
}

/// Every native function the API surface is built with: a snapshot refers to
/// them by index in this list.
pub(crate) fn native_functions() -> Vec<v8::FunctionCallback> {
    let mut v: Vec<v8::FunctionCallback> = vec![
        op_set_timeout.map_fn_to(),
        op_set_interval.map_fn_to(),
        op_clear_timer.map_fn_to(),
    ];
    v.extend(all_ops().into_iter().map(|(_, f)| f));
    v
}

/// Installs the Workers API surface into `context` (natives, ops, every JS
/// file in order) and returns `rw`, also stored in the context's embedder
/// data so it survives a snapshot.
pub(crate) fn install_surface<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    context: v8::Local<'s, v8::Context>,
) -> Result<v8::Local<'s, v8::Object>, ScriptError> {
    let global = context.global(scope);
    // Timers are globals implemented natively.
    let natives: [(&str, v8::FunctionCallback); 4] = [
        ("setTimeout", op_set_timeout.map_fn_to()),
        ("setInterval", op_set_interval.map_fn_to()),
        ("clearTimeout", op_clear_timer.map_fn_to()),
        ("clearInterval", op_clear_timer.map_fn_to()),
    ];
    for (name, f) in natives {
        let f = v8::Function::new_raw(scope, f).unwrap();
        let k = new_string(scope, name);
        global.set(scope, k.into(), f.into());
    }
    // The ops object handed to the JS files.
    let ops = v8::Object::new(scope);
    for (name, f) in all_ops() {
        let f = v8::Function::new_raw(scope, f).unwrap();
        let k = new_string(scope, name);
        ops.set(scope, k.into(), f.into());
    }
    let rw = v8::Object::new(scope);
    for (name, src) in BOOTSTRAP {
        v8::tc_scope!(let tc, scope);
        let code = new_string(tc, src);
        let origin = module::script_origin(tc, name, false);
        let result = v8::Script::compile(tc, code, Some(&origin))
            .and_then(|s| s.run(tc))
            .and_then(|f| v8::Local::<v8::Function>::try_from(f).ok())
            .and_then(|f| {
                let recv = v8::undefined(tc).into();
                f.call(tc, recv, &[ops.into(), rw.into()])
            });
        if result.is_none() {
            let (file, line, column, message) = module::describe_exception(tc, name);
            return Err(ScriptError::Compile {
                file,
                line,
                column,
                message,
            });
        }
    }
    context.set_embedder_data(RW_SLOT, rw.into());
    Ok(rw)
}

/// `rw[name]` in the current context: what the JS files put on the runtime's
/// object (`RW_SLOT`) for Rust to call or read.
pub(crate) fn rw_get<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    name: &str,
) -> Option<v8::Local<'s, v8::Value>> {
    let context = scope.get_current_context();
    let rw = context.get_embedder_data(scope, RW_SLOT)?;
    let rw = v8::Local::<v8::Object>::try_from(rw).ok()?;
    let k = new_string(scope, name);
    rw.get(scope, k.into())
}

/// `rw[name]` as a function (see [`rw_get`]).
pub(crate) fn rw_function<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    name: &str,
) -> Option<v8::Local<'s, v8::Function>> {
    rw_get(scope, name).and_then(|f| v8::Local::<v8::Function>::try_from(f).ok())
}

/// Per-isolate state the ops need (isolate slots), set on every isolate,
/// including the one that makes the snapshot.
pub(crate) fn set_slots(isolate: &mut v8::Isolate, shard: usize) -> HostRef {
    let host: HostRef = Rc::new(RefCell::new(Host {
        shard,
        ..Host::default()
    }));
    isolate.set_slot(host.clone());
    isolate.set_slot(crate::web::WebState::new());
    crate::crypto::ops::install(isolate);
    host
}

impl JsRuntime {
    /// Creates the isolate and context, evaluates the API surface and the
    /// script, and finds its handler. Call on the shard that will own it.
    pub fn new(options: WorkerOptions) -> Result<Rc<JsRuntime>, ScriptError> {
        init_v8();
        let mut params = v8::CreateParams::default().heap_limits(0, options.heap_limit);
        if let Some(blob) = crate::snapshot::blob() {
            params = params
                .snapshot_blob(v8::StartupData::from(blob))
                .external_references(std::borrow::Cow::Borrowed(
                    crate::snapshot::external_references(),
                ));
        }
        let mut isolate = v8::Isolate::new(params);
        let (tasks, tasks_bell) = match crate::platform::IsolateTasks::register(&isolate) {
            Some((t, bell)) => (Some(t), Some(bell)),
            None => (None, None),
        };
        isolate.set_microtasks_policy(v8::MicrotasksPolicy::Explicit);
        isolate.set_promise_reject_callback(promise_reject);
        let heap = Box::new(HeapGuard {
            handle: isolate.thread_safe_handle(),
            exhausted: std::sync::atomic::AtomicBool::new(false),
        });
        isolate.add_near_heap_limit_callback(
            near_heap_limit,
            &*heap as *const HeapGuard as *mut std::ffi::c_void,
        );
        let host = set_slots(&mut isolate, options.shard);
        host.borrow_mut().worker = options.worker_name().into();
        host.borrow_mut().tail = ringworker_core::TailHub::current();
        host.borrow_mut().outbound.limit = options.subrequest_limit;
        isolate.set_slot(crate::formdata::FormLimit(options.form_data_limit));
        host.borrow_mut()
            .actors
            .configure(options.actors.clone(), options.shard);
        crate::actor::Actors::report_to_metrics(&host);
        // On a shard, GC pauses and the heap size go into its metrics.
        if let Some(m) = ringworker_core::ShardMetrics::current() {
            m.isolate_started(options.heap_limit as u64);
        }
        let gc_clock = ringworker_core::ShardMetrics::current().map(|metrics| {
            Box::new(GcClock {
                metrics,
                started: std::cell::Cell::new(None),
            })
        });
        if let Some(clock) = &gc_clock {
            let data = &**clock as *const GcClock as *mut std::ffi::c_void;
            isolate.add_gc_prologue_callback(gc_started, data, v8::GCType::kGCTypeAll);
            isolate.add_gc_epilogue_callback(gc_ended, data, v8::GCType::kGCTypeAll);
        }
        let watch = Watch::new(&isolate);
        host.borrow_mut().watch = Some(watch.clone());
        let main_name = options.main.display().to_string();
        let built = {
            v8::scope!(let scope, &mut isolate);
            let context = v8::Context::new(scope, Default::default());
            let scope = &mut v8::ContextScope::new(scope, context);
            // From the snapshot the API surface is already in the context;
            // without one it is built here.
            let rw = match context
                .get_embedder_data(scope, RW_SLOT)
                .and_then(|v| v8::Local::<v8::Object>::try_from(v).ok())
            {
                Some(rw) => rw,
                None => install_surface(scope, context)?,
            };
            // What a snapshot cannot hold is set up per context (rw.initContext).
            {
                let k = new_string(scope, "initContext");
                let init = rw
                    .get(scope, k.into())
                    .and_then(|f| v8::Local::<v8::Function>::try_from(f).ok())
                    .expect("00_bootstrap sets rw.initContext");
                let recv = v8::undefined(scope).into();
                if init.call(scope, recv, &[]).is_none() {
                    return Err(ScriptError::Evaluate(
                        "the API surface's per-context set-up failed".into(),
                    ));
                }
            }
            if options.expose_internals {
                let k = new_string(scope, "streamsInternals");
                if let Some(v) = rw.get(scope, k.into()) {
                    let name = new_string(scope, "ringworker.internal.streams");
                    let sym = v8::Symbol::for_key(scope, name);
                    context.global(scope).set(scope, sym.into(), v);
                }
            }
            let hooks_key = new_string(scope, "hooks");
            let hooks = rw
                .get(scope, hooks_key.into())
                .expect("bootstrap sets rw.hooks");
            let hooks = v8::Local::<v8::Object>::try_from(hooks).expect("rw.hooks is an object");
            let get_fn = |scope: &mut v8::PinScope, name: &str| {
                let k = new_string(scope, name);
                let f = hooks.get(scope, k.into()).unwrap();
                v8::Global::new(scope, v8::Local::<v8::Function>::try_from(f).unwrap())
            };
            let make_request = get_fn(scope, "makeRequest");
            let response_parts = get_fn(scope, "responseParts");
            let client_gone = get_fn(scope, "clientGone");
            let reader_pull = get_fn(scope, "readerPull");
            let reader_take = get_fn(scope, "readerTake");
            let reader_wait = get_fn(scope, "readerWait");
            let abort_with_disconnect = get_fn(scope, "abortWithDisconnect");
            let watch_promise = get_fn(scope, "watchPromise");
            let rw_fn = |scope: &mut v8::PinScope, name: &str| {
                let k = new_string(scope, name);
                let f = rw.get(scope, k.into()).unwrap();
                v8::Global::new(scope, v8::Local::<v8::Function>::try_from(f).unwrap())
            };
            // (30_websocket sets rw.wsDispatch; 35_globals the other two.)
            let ws_dispatch = rw_fn(scope, "wsDispatch");
            let report_rejections = rw_fn(scope, "reportRejections");
            let on_uncaught = rw_fn(scope, "onUncaught");

            let node_modules = crate::node::enabled_modules(&options.compat_flags);
            if !node_modules.is_empty() {
                let k = new_string(scope, "enableNodeCompat");
                let f = rw
                    .get(scope, k.into())
                    .and_then(|f| v8::Local::<v8::Function>::try_from(f).ok())
                    .expect("90_node.js sets rw.enableNodeCompat");
                let flat: Vec<v8::Local<v8::Value>> = options
                    .vars
                    .iter()
                    .flat_map(|(k, v)| [new_string(scope, k).into(), new_string(scope, v).into()])
                    .collect();
                let flat = v8::Array::new_with_elements(scope, &flat);
                let modules: Vec<v8::Local<v8::Value>> = node_modules
                    .iter()
                    .map(|m| new_string(scope, m).into())
                    .collect();
                let modules = v8::Array::new_with_elements(scope, &modules);
                let recv = v8::undefined(scope).into();
                f.call(scope, recv, &[flat.into(), modules.into()]);
            }
            watch.enter(options.startup_limit);
            let loaded = module::load_main(scope, &options.main, node_modules);
            if watch.exit() {
                scope.cancel_terminate_execution();
                return Err(ScriptError::Evaluate(format!(
                    "{main_name}: start-up ran longer than {:?} and was terminated",
                    options.startup_limit
                )));
            }
            let ns = loaded?;
            let default_key = new_string(scope, "default");
            let default_fetch = ns
                .get(scope, default_key.into())
                .filter(|v| v.is_object())
                .and_then(|h| {
                    let obj = v8::Local::<v8::Object>::try_from(h).ok()?;
                    let k = new_string(scope, "fetch");
                    let f = obj.get(scope, k.into())?;
                    let f = v8::Local::<v8::Function>::try_from(f).ok()?;
                    Some((h, f))
                });
            let has_listeners = {
                let f = get_fn(scope, "hasFetchListeners");
                let f = v8::Local::new(scope, f);
                let recv = v8::undefined(scope).into();
                f.call(scope, recv, &[]).is_some_and(|v| v.is_true())
            };
            let service_worker = default_fetch.is_none() && has_listeners;
            let (handler, fetch) = match default_fetch {
                Some(hf) => hf,
                None if service_worker => {
                    // Service-worker syntax: the runtime dispatches a FetchEvent.
                    let f = get_fn(scope, "dispatchFetch");
                    (v8::undefined(scope).into(), v8::Local::new(scope, f))
                }
                None => {
                    let has_default = ns
                        .get(scope, default_key.into())
                        .is_some_and(|v| v.is_object());
                    return Err(ScriptError::NoHandler {
                        file: main_name,
                        message: if has_default {
                            "the default export has no fetch(request, env, ctx) method".into()
                        } else {
                            "no default export: expected `export default { fetch(request, env, ctx) { ... } }` (or addEventListener(\"fetch\", ...))".into()
                        },
                    });
                }
            };
            if !options.crons.is_empty() {
                let k = new_string(scope, "scheduled");
                let has_scheduled = v8::Local::<v8::Object>::try_from(handler)
                    .ok()
                    .and_then(|o| o.get(scope, k.into()))
                    .is_some_and(|f| f.is_function());
                if !has_scheduled {
                    return Err(ScriptError::NoHandler {
                        file: main_name,
                        message: "[triggers] crons are set, but the default export has no scheduled(controller, env, ctx) method".into(),
                    });
                }
            }
            if service_worker {
                // Service-worker scripts see their bindings as globals, as in Workers.
                let global = context.global(scope);
                for (k, v) in &options.vars {
                    let k = new_string(scope, k);
                    let v = new_string(scope, v);
                    global.set(scope, k.into(), v.into());
                }
            }

            let env = v8::Object::new(scope);
            for (k, v) in &options.vars {
                let k = new_string(scope, k);
                let v = new_string(scope, v);
                env.set(scope, k.into(), v.into());
            }
            // Actor namespaces: env[binding] for each exported class bound.
            for b in &options.actors.bindings {
                let k = new_string(scope, &b.class);
                let class = ns
                    .get(scope, k.into())
                    .filter(|v| v.is_function())
                    .ok_or_else(|| {
                        ScriptError::Evaluate(format!(
                            "{main_name}: the binding {} names the class {}, but the script exports no class of that name",
                            b.binding, b.class
                        ))
                    })?;
                let register = crate::actor::hook(scope, "register")
                    .expect("60_actors.js sets rw.actorHooks.register");
                let recv = v8::undefined(scope).into();
                let shard = v8::Integer::new_from_unsigned(scope, options.shard as u32);
                let namespace = register
                    .call(scope, recv, &[k.into(), class, env.into(), shard.into()])
                    .ok_or_else(|| {
                        ScriptError::Evaluate(format!("{main_name}: cannot bind {}", b.binding))
                    })?;
                let k = new_string(scope, &b.binding);
                env.set(scope, k.into(), namespace);
            }
            // ctx: waitUntil(p) (the work runs on, and holds off a cancelled
            // request's tear-down), passThroughOnException() (a no-op).
            let ctx = {
                let f = get_fn(scope, "makeCtx");
                let f = v8::Local::new(scope, f);
                let recv = v8::undefined(scope).into();
                f.call(scope, recv, &[]).expect("makeCtx returns the ctx")
            };

            let profile = options
                .cpu_profile
                .clone()
                .map(|path| crate::profiler::CpuProfile::start(scope, context, path));
            let h = Handles {
                context: v8::Global::new(scope, context),
                make_request,
                response_parts,
                client_gone,
                reader_pull,
                reader_take,
                reader_wait,
                abort_with_disconnect,
                watch_promise,
                ws_dispatch,
                report_rejections,
                on_uncaught,
                handler: v8::Global::new(scope, handler),
                fetch: v8::Global::new(scope, fetch),
                env: v8::Global::new(scope, v8::Local::<v8::Value>::from(env)),
                ctx: v8::Global::new(scope, ctx),
                watch,
            };
            (h, profile)
        };
        let (h, profile) = built;
        let committed = isolate.get_heap_statistics().total_heap_size();
        let rt = Rc::new(JsRuntime {
            inner: RefCell::new(Some(Inner {
                h,
                profile,
                tasks,
                isolate,
            })),
            gc_clock,
            entries: std::cell::Cell::new(0),
            idle_watch: std::cell::Cell::new(false),
            idle_heap_base: std::cell::Cell::new(committed),
            dooms: RefCell::new(std::collections::VecDeque::new()),
            doom_sweeper: std::cell::Cell::new(false),
            heap,
            host,
            options,
            tasks_bell: std::cell::Cell::new(tasks_bell),
            target_uri: RefCell::new(TargetUri::new()),
        });
        Ok(rt)
    }

    /// Whether the isolate was disposed (after running out of heap).
    pub(crate) fn is_disposed(&self) -> bool {
        self.inner.borrow().is_none()
    }

    /// Asks V8 to collect garbage now and give freed memory back (after
    /// actors hibernated: their objects and their sockets' wrappers).
    pub(crate) fn release_memory(&self) {
        self.reduce_memory(true);
    }

    /// A memory-reducing collection, then the allocator's free memory given
    /// back (what the sockets and requests that went quiet used is free
    /// too: see `release_free_memory`). `thorough` repeats full collections
    /// until nothing more is freed; otherwise one. Returns V8's committed
    /// heap before and after, which becomes the idle collection's base.
    fn reduce_memory(&self, thorough: bool) -> Option<(usize, usize)> {
        let (before, after) = {
            let mut inner = self.inner.borrow_mut();
            let isolate = &mut inner.as_mut()?.isolate;
            let before = isolate.get_heap_statistics().total_heap_size();
            if thorough {
                isolate.low_memory_notification();
            } else {
                isolate.memory_pressure_notification(v8::MemoryPressureLevel::Critical);
            }
            (before, isolate.get_heap_statistics().total_heap_size())
        };
        self.idle_heap_base.set(after);
        ringworker_io::release_free_memory();
        Some((before, after))
    }

    /// Waits until the script has not run for `idle_gc_after`, then gives
    /// memory back if the heap grew by [`IDLE_GC_GROWTH`] since the last
    /// time. One task at a time, started by the first entry after it ended:
    /// a shard that stays quiet has none.
    fn watch_for_idle(self: &Rc<Self>) {
        let quiet = self.options.idle_gc_after;
        if quiet.is_zero() {
            return;
        }
        self.idle_watch.set(true);
        let weak = Rc::downgrade(self);
        let mut seen = self.entries.get();
        glommio::spawn_local(async move {
            loop {
                glommio::timer::sleep(quiet).await;
                let Some(rt) = weak.upgrade() else { return };
                let now = rt.entries.get();
                if now != seen {
                    seen = now;
                    continue;
                }
                rt.idle_watch.set(false);
                rt.collect_if_grown();
                return;
            }
        })
        .detach();
    }

    /// The idle collection (see [`Self::watch_for_idle`]).
    fn collect_if_grown(&self) {
        let committed = match self.inner.borrow_mut().as_mut() {
            Some(inner) => inner.isolate.get_heap_statistics().total_heap_size(),
            None => return,
        };
        if committed < self.idle_heap_base.get() + IDLE_GC_GROWTH {
            return;
        }
        let t0 = std::time::Instant::now();
        let Some((before, after)) = self.reduce_memory(false) else {
            return;
        };
        if let Some(clock) = &self.gc_clock {
            clock
                .metrics
                .idle_collection(before.saturating_sub(after) as u64);
        }
        tracing::debug!(
            target: "js",
            shard = self.options.shard,
            "idle: V8 heap {} -> {} KiB committed, in {:?}",
            before >> 10,
            after >> 10,
            t0.elapsed()
        );
    }

    /// Whether the isolate ran out of heap: it must not take new requests.
    pub fn is_exhausted(&self) -> bool {
        self.heap
            .exhausted
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Starts the timers the script's top level scheduled. Call once, on the
    /// shard's executor, after [`JsRuntime::new`].
    pub fn start(self: &Rc<Self>) {
        self.after_entry();
        self.start_actors();
        self.start_crons();
        self.serve_foreground_tasks();
    }

    /// Runs the foreground tasks V8 posts for this isolate (finishing an
    /// asynchronous WebAssembly compile, FinalizationRegistry callbacks, GC
    /// jobs) on the shard, each as a JS entry: when the inbox's doorbell
    /// rings, and delayed ones when they are due.
    fn serve_foreground_tasks(self: &Rc<Self>) {
        let Some(bell) = self.tasks_bell.take() else {
            return;
        };
        let weak = Rc::downgrade(self);
        glommio::spawn_local(async move {
            let mut bell = ringworker_io::doorbell::Doorbell::new(bell);
            let ring = ringworker_io::uring::NetRing::current();
            loop {
                let next = {
                    let Some(rt) = weak.upgrade() else { return };
                    rt.next_delayed_task()
                };
                let rang = match next {
                    Some(due) => {
                        let wait = due.saturating_duration_since(std::time::Instant::now());
                        let timer = async {
                            match &ring {
                                Some(r) => r.sleep(wait).await,
                                None => glommio::timer::sleep(wait).await,
                            }
                            true
                        };
                        futures_lite::future::or(bell.rung(), timer).await
                    }
                    None => bell.rung().await,
                };
                let Some(rt) = weak.upgrade() else { return };
                if !rang || !rt.run_foreground_tasks() {
                    return;
                }
            }
        })
        .detach();
    }

    /// When the earliest delayed foreground task is due.
    fn next_delayed_task(&self) -> Option<std::time::Instant> {
        let inner = self.inner.borrow();
        let tasks = inner.as_ref()?.tasks.as_ref()?;
        tasks.delayed.borrow().iter().map(|(t, _)| *t).min()
    }

    /// Runs what was posted and is due; false once the isolate is gone.
    fn run_foreground_tasks(self: &Rc<Self>) -> bool {
        let now = std::time::Instant::now();
        let due = {
            let inner = self.inner.borrow();
            let Some(tasks) = inner.as_ref().and_then(|i| i.tasks.as_ref()) else {
                return false;
            };
            let mut due = Vec::new();
            let mut delayed = tasks.delayed.borrow_mut();
            tasks.drain(|p| match p.due {
                Some(t) if t > now => delayed.push((t, p.task)),
                _ => due.push(p.task),
            });
            let mut i = 0;
            while i < delayed.len() {
                if delayed[i].0 <= now {
                    due.push(delayed.swap_remove(i).1);
                } else {
                    i += 1;
                }
            }
            due
        };
        for task in due {
            // (A JS entry: callbacks it runs are under the CPU limit, and
            // the microtasks it queues run after it.)
            if self.enter(|_, _| task.run()).is_err() && self.is_disposed() {
                return false;
            }
        }
        true
    }

    /// Answers one HTTP request with the script's `fetch`.
    pub async fn fetch(self: &Rc<Self>, mut req: Request) -> Response {
        if self.options.test_scheduled && req.path() == "/__scheduled" {
            let query = req.query().unwrap_or("").to_string();
            return crate::scheduled::test_route(self, &query).await;
        }
        let ids = {
            let mut h = self.host.borrow_mut();
            let body = req.take_body();
            let body = (!body.is_empty()).then(|| {
                h.next_body = h.next_body.wrapping_add(1).max(1);
                let id = h.next_body;
                h.bodies.insert(id, BodyEntry::new(body, None));
                id
            });
            h.next_request = h.next_request.wrapping_add(1).max(1);
            let request = h.next_request;
            if let Some(t) = req.trace() {
                t.set_worker(h.worker.clone());
            }
            h.requests.insert(
                request,
                Tracked {
                    flag: req.cancel_flag().clone(),
                    watch: None,
                    rid: Some(req.id()),
                    trace: req.trace().cloned(),
                },
            );
            RequestIds { body, request }
        };
        let mut in_flight = InFlight {
            rt: self,
            ids: Some(ids),
        };
        let response = self.fetch_inner(&req, ids).await;
        in_flight.ids = None;
        let returned = match &response.body {
            ResponseBody::WebSocket(ws) => Some(ws),
            _ => None,
        };
        self.fail_unreturned_sockets(ids.request(), returned);
        // A streaming response may still read the body (echo) and watch the
        // client; it releases them when it ends.
        if !matches!(response.body, ResponseBody::Stream { .. }) {
            ids.release(self);
        }
        response
    }

    async fn fetch_inner(self: &Rc<Self>, req: &Request, ids: RequestIds) -> Response {
        // (`enter` starts the timers and reads the handler queued, which the
        // promise may wait on.)
        let started = self.call_fetch(req, ids);
        let outcome = match started {
            Ok(Call::Refused(why)) => return Response::text(400, why),
            Ok(Call::Done(r)) => Ok(r),
            Ok(Call::Wait(id)) => self.wait(id).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(global) => self.to_response(global, ids),
            // (`enter` logged why.)
            Err(JsFailure::Terminated) => self.terminated_response(),
            Err(JsFailure::Exception(message)) => {
                tracing::error!(
                    target: "js",
                    shard = self.options.shard,
                    worker = %self.host.borrow().worker,
                    request_id = %req.id(),
                    "fetch handler failed: {message}"
                );
                if let Some(t) = req.trace() {
                    t.exception(message);
                }
                Response::text(500, "Internal Server Error").with_outcome(Outcome::Exception)
            }
        }
    }

    /// The answer to a request whose script was stopped: by its CPU limit,
    /// or because the isolate reached its heap limit.
    fn terminated_response(&self) -> Response {
        if self.is_exhausted() {
            Response::text(503, "Service Unavailable: the isolate ran out of memory")
                .with_outcome(Outcome::HeapLimit)
        } else {
            Response::text(
                503,
                "Service Unavailable: script exceeded its CPU time limit",
            )
            .with_outcome(Outcome::CpuLimit)
        }
    }

    fn call_fetch(self: &Rc<Self>, req: &Request, ids: RequestIds) -> Result<Call, JsFailure> {
        self.enter_as(ids.request, |tc, h| self.call_fetch_in(tc, h, req, ids))?
            .map_err(JsFailure::Exception)
    }

    fn call_fetch_in(
        &self,
        tc: &mut v8::PinnedRef<v8::TryCatch<v8::HandleScope>>,
        h: &Handles,
        req: &Request,
        ids: RequestIds,
    ) -> Result<Call, String> {
        // (An HTTP/1.0 request may name no host: a default applies, RFC 9112 §3.3.)
        let authority = req.authority().unwrap_or("localhost");
        let url = match self
            .target_uri
            .borrow_mut()
            .build(authority.as_bytes(), req.path_and_query())
        {
            Ok(url) => new_string(tc, url.as_str()),
            Err(e) => return Ok(Call::Refused(format!("Bad Request: {e}"))),
        };
        let method = new_string(tc, req.method());
        let flat: Vec<v8::Local<v8::Value>> = req
            .headers()
            .iter()
            .flat_map(|(n, v)| {
                let n = v8::String::new_from_one_byte(tc, n, v8::NewStringType::Normal).unwrap();
                let v = v8::String::new_from_utf8(tc, v, v8::NewStringType::Normal)
                    .unwrap_or_else(|| v8::String::empty(tc));
                [n.into(), v.into()]
            })
            .collect();
        let flat = v8::Array::new_with_elements(tc, &flat);
        let make = v8::Local::new(tc, &h.make_request);
        let recv = v8::undefined(tc).into();
        let body_arg: v8::Local<v8::Value> = match ids.body {
            Some(id) => v8::Integer::new_from_unsigned(tc, id).into(),
            None => v8::null(tc).into(),
        };
        let Some(js_req) = make.call(
            tc,
            recv,
            &[
                method.into(),
                url.into(),
                flat.into(),
                body_arg,
                v8::Integer::new_from_unsigned(tc, ids.request).into(),
            ],
        ) else {
            return Err(exception_text(tc));
        };
        let fetch = v8::Local::new(tc, &h.fetch);
        let this = v8::Local::new(tc, &h.handler);
        let env = v8::Local::new(tc, &h.env);
        let ctx = v8::Local::new(tc, &h.ctx);
        let result = fetch.call(tc, this, &[js_req, env, ctx]);
        let Some(result) = result else {
            return Err(exception_text(tc));
        };
        tc.perform_microtask_checkpoint();
        let Ok(promise) = v8::Local::<v8::Promise>::try_from(result) else {
            return Ok(Call::Done(v8::Global::new(tc, result)));
        };
        match promise.state() {
            v8::PromiseState::Fulfilled => Ok(Call::Done(v8::Global::new(tc, promise.result(tc)))),
            v8::PromiseState::Rejected => {
                promise.mark_as_handled();
                // Reported as the request's failure, not as an unhandled rejection.
                self.host
                    .borrow_mut()
                    .unhandled
                    .retain(|(p, _)| *p != promise);
                let r = promise.result(tc);
                Err(value_text(tc, r))
            }
            v8::PromiseState::Pending => Ok(Call::Wait(self.watch_promise(tc, h, promise))),
        }
    }

    async fn wait(self: &Rc<Self>, id: u64) -> Result<v8::Global<v8::Value>, JsFailure> {
        // (If this future is dropped, the connection gave up: the entry goes.)
        let outcome = self.wait_value(id).await;
        let Some(outcome) = outcome else {
            return Err(JsFailure::Terminated);
        };
        match outcome {
            Ok(v) => Ok(v),
            Err(e) => {
                let text = self.enter(|tc, _| {
                    let e = v8::Local::new(tc, e);
                    value_text(tc, e)
                })?;
                Err(JsFailure::Exception(text))
            }
        }
    }

    fn to_response(self: &Rc<Self>, value: v8::Global<v8::Value>, ids: RequestIds) -> Response {
        let rt = self.clone();
        self.enter_as(ids.request, |tc, h| rt.response_in(tc, h, value, ids))
            .unwrap_or_else(|_| self.terminated_response())
    }

    fn response_in(
        self: &Rc<Self>,
        tc: &mut v8::PinnedRef<v8::TryCatch<v8::HandleScope>>,
        h: &Handles,
        value: v8::Global<v8::Value>,
        ids: RequestIds,
    ) -> Response {
        let parts_fn = v8::Local::new(tc, &h.response_parts);
        let value = v8::Local::new(tc, value);
        let recv = v8::undefined(tc).into();
        let Some(parts) = parts_fn.call(tc, recv, &[value]) else {
            let msg = exception_text(tc);
            let (rid, trace) = self.host.borrow().request_of(ids.request);
            tracing::error!(target: "js", shard = self.options.shard, request_id = %Rid(rid), "{msg}");
            if let Some(t) = trace {
                t.exception(msg);
            }
            return Response::text(500, "Internal Server Error").with_outcome(Outcome::Exception);
        };
        let parts =
            v8::Local::<v8::Array>::try_from(parts).expect("responseParts returns an array");
        let status = parts
            .get_index(tc, 0)
            .and_then(|v| v.uint32_value(tc))
            .unwrap_or(500) as u16;
        let mut resp = Response::new(status);
        if let Some(flat) = parts
            .get_index(tc, 1)
            .and_then(|v| v8::Local::<v8::Array>::try_from(v).ok())
        {
            let n = flat.length();
            let mut i = 0;
            while i + 1 < n {
                let k = flat.get_index(tc, i).unwrap().to_rust_string_lossy(tc);
                let v = flat.get_index(tc, i + 1).unwrap().to_rust_string_lossy(tc);
                resp.headers.push((Bytes::from(k), Bytes::from(v)));
                i += 2;
            }
        }
        if let Some(reader) = parts
            .get_index(tc, 3)
            .and_then(|r| v8::Local::<v8::Object>::try_from(r).ok())
        {
            // A ReadableStream body: pulled chunk by chunk as the socket takes it.
            let reader = v8::Global::new(tc, reader);
            let gone = parts
                .get_index(tc, 4)
                .and_then(|p| v8::Local::<v8::Object>::try_from(p).ok())
                .map(|p| v8::Global::new(tc, p));
            let flag = self
                .host
                .borrow()
                .requests
                .get(&ids.request)
                .map(|t| t.flag.clone());
            resp.body = ResponseBody::stream(
                None,
                crate::body::JsBodyStream::new(self.clone(), reader, ids, gone.zip(flag)),
            );
            return resp;
        }
        if let Some(id) = parts
            .get_index(tc, 5)
            .filter(|v| v.is_uint32())
            .and_then(|v| v.uint32_value(tc))
        {
            // A 101 with the client end of a WebSocketPair: the connection
            // becomes the accepted server end.
            return match self.accepted_socket(id) {
                Some(ws) => {
                    resp.body = ResponseBody::WebSocket(ws);
                    resp
                }
                None => {
                    tracing::error!(target: "js", shard = self.options.shard, request_id = %Rid(self.host.borrow().request_of(ids.request).0), "the WebSocket of this 101 response is already closed");
                    Response::text(500, "Internal Server Error")
                }
            };
        }
        if let Some(id) = parts
            .get_index(tc, 7)
            .filter(|v| v.is_uint32())
            .and_then(|v| v.uint32_value(tc))
        {
            // The unaccepted socket of a fetch() with Upgrade: the client's
            // connection is joined to it, frames relayed natively.
            return match self.take_outbound_socket(id) {
                Some(upstream) => {
                    let inbound = ringworker_io::ws::WebSocket::new();
                    inbound.splice(&upstream);
                    resp.body = ResponseBody::WebSocket(inbound);
                    resp
                }
                None => {
                    tracing::error!(target: "js", shard = self.options.shard, request_id = %Rid(self.host.borrow().request_of(ids.request).0), "the fetched WebSocket of this 101 response is already closed");
                    Response::text(502, "Bad Gateway")
                }
            };
        }
        if let Some(id) = parts
            .get_index(tc, 6)
            .filter(|v| v.is_uint32())
            .and_then(|v| v.uint32_value(tc))
        {
            // A body straight from a socket (the request's, or a fetch()
            // response's): the connection pulls it natively, and dropping it
            // (the client left) closes its source at once. The script is done
            // with the request.
            let body = self.take_body(id);
            ids.release(self);
            return match body {
                Some(body) => {
                    resp.body = ResponseBody::stream(body.content_length(), body);
                    resp
                }
                None => {
                    tracing::error!(target: "js", shard = self.options.shard, request_id = %Rid(self.host.borrow().request_of(ids.request).0), "the response body was already consumed");
                    Response::text(500, "Internal Server Error")
                }
            };
        }
        let body = parts
            .get_index(tc, 2)
            .map(|b| body_bytes(tc, b))
            .unwrap_or_default();
        resp.body = ResponseBody::Full(body);
        resp
    }

    /// Starts the asynchronous work JS queued during the last entry: body
    /// reads and timers.
    pub(crate) fn after_entry(self: &Rc<Self>) {
        let watches = std::mem::take(&mut self.host.borrow_mut().watch_queue);
        for id in watches {
            let w = self
                .host
                .borrow()
                .requests
                .get(&id)
                .and_then(|t| t.watch.clone());
            let Some(w) = w else { continue };
            let rt = Rc::downgrade(self);
            spawn_after_entry(async move {
                let mut gone = std::pin::pin!(w.flag.cancelled());
                let reason = std::future::poll_fn(|cx| {
                    if w.ended.get() {
                        return Poll::Ready(None);
                    }
                    *w.waker.borrow_mut() = Some(cx.waker().clone());
                    gone.as_mut().poll(cx).map(Some)
                })
                .await;
                let (Some(reason), Some(rt)) = (reason, rt.upgrade()) else {
                    return;
                };
                let _ = rt.enter_as(id, |tc, h| {
                    let f = v8::Local::new(tc, &h.abort_with_disconnect);
                    let signal = v8::Local::new(tc, &w.signal);
                    let why = new_string(tc, reason.describe());
                    let recv = v8::undefined(tc).into();
                    f.call(tc, recv, &[signal.into(), why.into()]);
                });
            });
        }
        let reads = std::mem::take(&mut self.host.borrow_mut().body_reads);
        for (id, resolver, owner) in reads {
            // (The entry stays, without its body, while the read holds it.)
            let body = self
                .host
                .borrow_mut()
                .bodies
                .get_mut(&id)
                .and_then(|e| e.body.take());
            let rt = Rc::downgrade(self);
            spawn_after_entry(async move {
                let (body, chunk) = match body {
                    Some(mut b) => {
                        let c = b.chunk().await;
                        (Some(b), c)
                    }
                    None => (None, None),
                };
                if let Some(rt) = rt.upgrade() {
                    rt.finish_body_read(id, body, resolver, chunk, owner);
                }
            });
        }
        let starts = std::mem::take(&mut self.host.borrow_mut().timer_starts);
        for (id, delay) in starts {
            let rt = Rc::downgrade(self);
            spawn_after_entry(async move {
                let mut delay = delay;
                // On a shard, a timer is a completion of its network ring: a
                // shard idle in that ring wakes for it directly.
                let ring = ringworker_io::uring::NetRing::current();
                loop {
                    match &ring {
                        Some(r) => r.sleep(delay).await,
                        None => glommio::timer::sleep(delay).await,
                    }
                    let Some(rt) = rt.upgrade() else { return };
                    match rt.fire_timer(id) {
                        Some(next) => delay = next,
                        None => return,
                    }
                }
            });
        }
        self.listen_to_accepted_sockets();
        self.start_alarms();
        let spawns = std::mem::take(&mut self.host.borrow_mut().spawns);
        for s in spawns {
            spawn_after_entry(s(Rc::downgrade(self)));
        }
        let teardowns = std::mem::take(&mut self.host.borrow_mut().teardown_queue);
        for r in teardowns {
            self.teardown(r);
        }
    }

    /// A request was cancelled (its client left) and it was told: after the
    /// grace period its work stops (see [`Self::doom`]).
    ///
    /// One sweeper task serves every pending doom (they all have the same
    /// grace, so they queue in deadline order), waking at most every
    /// `DOOM_TICK`: a burst of disconnects costs one timer wake-up, not one
    /// per request.
    pub(crate) fn doom_after(self: &Rc<Self>, request: u32, grace: Duration) {
        let due = std::time::Instant::now() + grace;
        self.dooms.borrow_mut().push_back((due, request));
        if self.doom_sweeper.replace(true) {
            return;
        }
        let weak = Rc::downgrade(self);
        glommio::spawn_local(async move {
            loop {
                let next = {
                    let Some(rt) = weak.upgrade() else { return };
                    let front = rt.dooms.borrow().front().map(|(t, _)| *t);
                    match front {
                        Some(t) => t,
                        None => {
                            rt.doom_sweeper.set(false);
                            return;
                        }
                    }
                };
                let now = std::time::Instant::now();
                if next > now {
                    glommio::timer::sleep((next - now).max(DOOM_TICK)).await;
                }
                let Some(rt) = weak.upgrade() else { return };
                let now = std::time::Instant::now();
                loop {
                    let due = {
                        let mut q = rt.dooms.borrow_mut();
                        match q.front() {
                            Some((t, _)) if *t <= now => q.pop_front().map(|(_, r)| r),
                            _ => None,
                        }
                    };
                    match due {
                        Some(r) => rt.doom(r),
                        None => break,
                    }
                }
            }
        })
        .detach();
    }

    /// Stops a cancelled request's work now — or, if it handed work to
    /// `ctx.waitUntil()`, once that settled (`wait_until_limit` at the latest).
    pub(crate) fn doom(self: &Rc<Self>, request: u32) {
        let waiting = {
            let mut h = self.host.borrow_mut();
            let waiting = h.wait_until.contains_key(&request);
            if waiting {
                h.doomed.insert(request);
            }
            waiting
        };
        if !waiting {
            self.teardown(request);
            return;
        }
        let weak = Rc::downgrade(self);
        let limit = self.options.wait_until_limit;
        glommio::spawn_local(async move {
            glommio::timer::sleep(limit).await;
            let Some(rt) = weak.upgrade() else { return };
            let late = rt.host.borrow_mut().doomed.remove(&request);
            if late {
                tracing::warn!(
                    target: "js",
                    shard = rt.options.shard,
                    "waitUntil work of a cancelled request ran past {limit:?}; stopping it"
                );
                rt.teardown(request);
            }
        })
        .detach();
    }

    /// Stops a cancelled request's work: its timers are cancelled, and code
    /// still running on its behalf may not schedule new ones.
    fn teardown(&self, request: u32) {
        let mut h = self.host.borrow_mut();
        h.doomed.remove(&request);
        let before = h.timers.len();
        h.timers.retain(|_, t| t.owner != request);
        let cancelled = before - h.timers.len();
        if h.torn_down.len() >= TORN_DOWN_MEMORY {
            h.torn_down.pop_first();
        }
        h.torn_down.insert(request);
        if cancelled > 0 {
            tracing::debug!(
                target: "js",
                shard = h.shard,
                "request {request}: grace period over, {cancelled} timer(s) cancelled"
            );
        }
    }

    /// Makes a `fetch()` response body readable from JS as `bodyRead(id)`;
    /// returns the id. It is dropped (and `flag`, its exchange's abort flag,
    /// cancelled) when the script cancels it, when its `Response` is
    /// garbage-collected unread, or when `owner` (the request that fetched
    /// it) is over.
    pub(crate) fn register_body(
        &self,
        body: ringworker_io::Body,
        owner: u32,
        flag: ringworker_core::CancelFlag,
    ) -> u32 {
        let mut h = self.host.borrow_mut();
        h.next_body = h.next_body.wrapping_add(1).max(1);
        let id = h.next_body;
        h.bodies.insert(id, BodyEntry::new(body, Some(flag)));
        if owner != 0 {
            h.fetch_bodies.entry(owner).or_default().push(id);
        }
        id
    }

    /// Takes back a body JS has not read from (a native stream handed over
    /// whole, see `rw.takeNativeBody`).
    pub(crate) fn take_body(&self, id: u32) -> Option<ringworker_io::Body> {
        self.host.borrow_mut().take_body(id)
    }

    /// Settles a `bodyRead` promise with the chunk that arrived.
    fn finish_body_read(
        self: &Rc<Self>,
        id: u32,
        body: Option<ringworker_io::Body>,
        resolver: v8::Global<v8::PromiseResolver>,
        chunk: Option<Result<Bytes, ringworker_io::BodyError>>,
        owner: u32,
    ) {
        {
            let mut h = self.host.borrow_mut();
            match (h.bodies.get_mut(&id), body, &chunk) {
                // More may come: the body goes back for the next read.
                (Some(e), Some(b), Some(Ok(_))) if !e.dropped => e.body = Some(b),
                // Ended, failed, or dropped meanwhile: it goes.
                (Some(_), _, _) => {
                    h.bodies.remove(&id);
                }
                (None, _, _) => {}
            }
        }
        let _ = self.enter_as(owner, |tc, _| {
            let resolver = v8::Local::new(tc, resolver);
            match chunk {
                Some(Ok(bytes)) => {
                    let v = bytes_to_uint8array(tc, bytes);
                    resolver.resolve(tc, v.into());
                }
                None => {
                    let n = v8::null(tc).into();
                    resolver.resolve(tc, n);
                }
                Some(Err(e)) => {
                    let m = new_string(tc, &format!("request body: {e}"));
                    let err = v8::Exception::type_error(tc, m);
                    resolver.reject(tc, err);
                }
            }
        });
    }

    /// Runs `f` inside the runtime's context with a try-catch, under the CPU
    /// limit, then runs microtasks and starts the work JS queued.
    pub(crate) fn enter<R>(
        self: &Rc<Self>,
        f: impl FnOnce(&mut v8::PinnedRef<v8::TryCatch<v8::HandleScope>>, &Handles) -> R,
    ) -> Result<R, JsFailure> {
        self.enter_as(0, f)
    }

    /// [`Self::enter`] on behalf of request `owner`: what the script
    /// schedules from here (timers, also from promise reactions) belongs to
    /// that request and stops if it is torn down.
    pub(crate) fn enter_as<R>(
        self: &Rc<Self>,
        owner: u32,
        f: impl FnOnce(&mut v8::PinnedRef<v8::TryCatch<v8::HandleScope>>, &Handles) -> R,
    ) -> Result<R, JsFailure> {
        if self.is_exhausted() {
            // In-flight requests of a recycled isolate fail cleanly.
            return Err(JsFailure::Terminated);
        }
        let mut reset_actor = None;
        // While a tail client is attached, the entry's time goes to the
        // request's trace (entries are synchronous: this is CPU time).
        let trace = {
            let h = self.host.borrow();
            h.tail().and_then(|_| h.request_of(owner).1)
        };
        // (Looked up only for a log line: entries are the hot path.)
        let rid = || self.host.borrow().request_of(owner).0;
        let entered = trace.as_ref().map(|_| std::time::Instant::now());
        let (r, terminated) = {
            let mut inner = self.inner.borrow_mut();
            let Some(Inner { h, isolate, .. }) = inner.as_mut() else {
                return Err(JsFailure::Terminated);
            };
            h.watch.enter(self.options.cpu_limit);
            v8::scope!(let scope, isolate);
            let context = v8::Local::new(scope, &h.context);
            let scope = &mut v8::ContextScope::new(scope, context);
            v8::tc_scope!(let tc, scope);
            if owner != 0 {
                set_owner(tc, owner);
            }
            let r = f(tc, h);
            // (Also drops an async context the entry set.)
            set_owner(tc, 0);
            tc.perform_microtask_checkpoint();
            self.report_rejections(tc, h, &rid, trace.as_deref());
            let terminated = h.watch.exit();
            if terminated {
                // Terminated in a continuation of a request (after an
                // await): its response promise will never settle, so its
                // waiter learns it now (503). The request is the entry's
                // owner, or the one whose continuation was running (V8
                // carries it through promise jobs).
                let stuck = if owner != 0 { owner } else { current_owner(tc) };
                tc.cancel_terminate_execution();
                if stuck != 0 {
                    self.host.borrow_mut().terminate_waiter(stuck);
                }
                let mut h = self.host.borrow_mut();
                reset_actor = h
                    .actors
                    .terminated_in
                    .take()
                    .or_else(|| h.actors.is_actor(stuck).then_some(stuck));
            }
            // The heap size, now and then (reading it is not free).
            let n = self.entries.get().wrapping_add(1);
            self.entries.set(n);
            if !self.idle_watch.get() {
                self.watch_for_idle();
            }
            if n % 256 == 1 {
                if let Some(clock) = &self.gc_clock {
                    let used = tc.get_heap_statistics().used_heap_size();
                    clock.metrics.set_heap_used(used as u64);
                }
            }
            (r, terminated)
        };
        if let (Some(t), Some(at)) = (&trace, entered) {
            t.add_cpu(at.elapsed());
        }
        if self.is_exhausted() {
            tracing::error!(
                target: "js",
                shard = self.options.shard,
                request_id = %Rid(rid()),
                "the isolate reached its heap limit of {} MiB; the script was stopped and the isolate will be replaced",
                self.options.heap_limit >> 20
            );
            if let Some(t) = &trace {
                t.exception("the isolate reached its heap limit".into());
            }
            if let Some(m) = ringworker_core::ShardMetrics::current() {
                m.isolate_evicted();
            }
            // Dispose of it now: V8 wants a thread's isolates dropped in the
            // reverse order of creation, so this one must go before its
            // replacement exists. Requests still holding it fail cleanly.
            self.host.borrow_mut().timers.clear();
            let dead = self.inner.borrow_mut().take();
            drop(dead);
            // Whoever waits on a promise of the dead isolate learns it now.
            let wakers: Vec<Waker> = self
                .host
                .borrow_mut()
                .pending
                .values_mut()
                .filter_map(|p| p.waker.take())
                .collect();
            for w in wakers {
                w.wake();
            }
            return Err(JsFailure::Terminated);
        }
        self.after_entry();
        if terminated {
            tracing::error!(
                target: "js",
                shard = self.options.shard,
                request_id = %Rid(rid()),
                "script ran longer than {:?} and was terminated",
                self.options.cpu_limit
            );
            if let Some(t) = &trace {
                t.exception(format!(
                    "script ran longer than {:?} and was terminated",
                    self.options.cpu_limit
                ));
            }
            if let Some(owner) = reset_actor {
                // Its input gate and queued events cannot be trusted: the
                // actor is reset, as Durable Objects are.
                self.evict_actor(owner, crate::actor::Eviction::Aborted);
            }
            return Err(JsFailure::Terminated);
        }
        Ok(r)
    }

    /// Promises rejected with no handler during the entry that just ran
    /// (and reported ones that got a handler since): `unhandledrejection` /
    /// `rejectionhandled` events at the global scope, then the rejections
    /// no listener cancelled are logged. Listeners may reject more
    /// promises; a few rounds settle that.
    fn report_rejections(
        &self,
        tc: &mut v8::PinnedRef<v8::TryCatch<v8::HandleScope>>,
        h: &Handles,
        rid: &dyn Fn() -> Option<ringworker_core::RequestId>,
        trace: Option<&ringworker_core::RequestTrace>,
    ) {
        let log = |text: String| {
            tracing::error!(target: "js", shard = self.options.shard, request_id = %Rid(rid()), "Uncaught (in promise) {text}");
            if let Some(t) = trace {
                t.exception(format!("Uncaught (in promise) {text}"));
            }
        };
        for _ in 0..4 {
            let (unhandled, late) = {
                let mut host = self.host.borrow_mut();
                if host.unhandled.is_empty() && host.handled_late.is_empty() {
                    return;
                }
                (
                    std::mem::take(&mut host.unhandled),
                    std::mem::take(&mut host.handled_late),
                )
            };
            let mut flat: Vec<v8::Local<v8::Value>> = Vec::with_capacity(unhandled.len() * 2);
            for (p, reason) in &unhandled {
                flat.push(v8::Local::new(tc, p).into());
                flat.push(v8::Local::new(tc, reason));
            }
            let flat = v8::Array::new_with_elements(tc, &flat);
            let late: Vec<v8::Local<v8::Value>> =
                late.iter().map(|p| v8::Local::new(tc, p).into()).collect();
            let late = v8::Array::new_with_elements(tc, &late);
            let hook = v8::Local::new(tc, &h.report_rejections);
            let recv = v8::undefined(tc).into();
            let to_log = hook
                .call(tc, recv, &[flat.into(), late.into()])
                .and_then(|v| v8::Local::<v8::Array>::try_from(v).ok());
            let Some(to_log) = to_log else {
                if tc.has_terminated() {
                    return;
                }
                // (The hook failed: log them all.)
                tc.reset();
                for (_, reason) in unhandled {
                    let reason = v8::Local::new(tc, reason);
                    log(value_text(tc, reason));
                }
                return;
            };
            for i in 0..to_log.length() {
                let reason = to_log
                    .get_index(tc, i)
                    .unwrap_or_else(|| v8::undefined(tc).into());
                log(value_text(tc, reason));
            }
            tc.perform_microtask_checkpoint();
        }
    }

    /// Waits for pending entry `id`: its promise's value or rejection, or
    /// `None` if the script was terminated (or the isolate disposed).
    #[allow(clippy::type_complexity)]
    pub(crate) async fn wait_value(
        self: &Rc<Self>,
        id: u64,
    ) -> Option<Result<v8::Global<v8::Value>, v8::Global<v8::Value>>> {
        struct Forget<'a>(&'a JsRuntime, u64);
        impl Drop for Forget<'_> {
            fn drop(&mut self) {
                self.0.forget_pending(self.1);
            }
        }
        let _forget = Forget(self, id);
        std::future::poll_fn(|cx| {
            if self.is_disposed() {
                return Poll::Ready(None);
            }
            match self.take_settled(id, cx.waker()) {
                Some(Settled::Value(o)) => Poll::Ready(Some(o)),
                Some(Settled::Terminated) => Poll::Ready(None),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// Waits for pending entry `id` (see [`Self::watch_promise`]): true if
    /// its promise was fulfilled, false if it was rejected (the reason is
    /// logged) or the script was terminated.
    pub(crate) async fn wait_settled(self: &Rc<Self>, id: u64) -> bool {
        match self.wait(id).await {
            Ok(_) => true,
            Err(JsFailure::Exception(text)) => {
                tracing::error!(target: "js", shard = self.options.shard, "{text}");
                false
            }
            Err(JsFailure::Terminated) => false,
        }
    }

    /// Registers `promise` to settle pending entry `id` (see [`Self::take_settled`]).
    pub(crate) fn watch_promise(
        &self,
        tc: &mut v8::PinScope,
        handles: &Handles,
        promise: v8::Local<v8::Promise>,
    ) -> u64 {
        let owner = current_owner(tc);
        let id = {
            let mut h = self.host.borrow_mut();
            h.next_pending += 1;
            let id = h.next_pending;
            h.pending.insert(
                id,
                Pending {
                    owner,
                    ..Pending::default()
                },
            );
            id
        };
        let watch = v8::Local::new(tc, &handles.watch_promise);
        let id_value: v8::Local<v8::Value> = v8::Number::new(tc, id as f64).into();
        let recv = v8::undefined(tc).into();
        watch.call(tc, recv, &[promise.into(), id_value]);
        id
    }

    /// The outcome of pending entry `id` once settled (then forgotten);
    /// otherwise registers `waker`.
    #[allow(clippy::type_complexity)]
    pub(crate) fn take_settled(&self, id: u64, waker: &Waker) -> Option<Settled> {
        let mut h = self.host.borrow_mut();
        let p = h.pending.get_mut(&id)?;
        let settled = if p.terminated {
            Settled::Terminated
        } else {
            match p.outcome.take() {
                Some(o) => Settled::Value(o),
                None => {
                    p.waker = Some(waker.clone());
                    return None;
                }
            }
        };
        h.pending.remove(&id);
        Some(settled)
    }

    /// Forgets pending entry `id` (its waiter is gone).
    pub(crate) fn forget_pending(&self, id: u64) {
        self.host.borrow_mut().pending.remove(&id);
    }

    /// How long a cancelled request may react before its work stops.
    pub(crate) fn cancel_grace(&self) -> Duration {
        self.options.cancel_grace
    }

    /// Gives the isolate its shard's cache (see `cache/mod.rs`); without
    /// one, the first cache operation makes a cache of this isolate's own.
    pub(crate) fn set_cache(&self, cache: Rc<crate::cache::CacheShard>) {
        if let Some(inner) = self.inner.borrow_mut().as_mut() {
            inner.isolate.set_slot(crate::cache::CacheSlot(cache));
        }
    }

    /// The isolate's host state.
    pub(crate) fn host(&self) -> &HostRef {
        &self.host
    }

    /// The options this runtime was made with.
    pub(crate) fn options(&self) -> &WorkerOptions {
        &self.options
    }

    /// The shard this runtime serves (for logs).
    pub(crate) fn shard(&self) -> usize {
        self.options.shard
    }

    /// Calls timer `id`'s callback; returns the next delay for an interval.
    fn fire_timer(self: &Rc<Self>, id: u32) -> Option<Duration> {
        let (callback, args, repeat, owner, frame) = {
            let mut h = self.host.borrow_mut();
            let t = h.timers.get(&id)?;
            let entry = (
                t.callback.clone(),
                t.args.clone(),
                t.repeat,
                t.owner,
                t.frame.clone(),
            );
            if entry.2.is_none() {
                h.timers.remove(&id);
            }
            entry
        };
        let shard = self.options.shard;
        let trace = {
            let h = self.host.borrow();
            h.tail().and_then(|_| h.request_of(owner).1)
        };
        let rt = self.clone();
        let ran = self.enter_as(owner, |tc, h| {
            if let Some(frame) = frame {
                let frame = v8::Local::new(tc, frame);
                tc.set_continuation_preserved_embedder_data(frame);
            }
            let f = v8::Local::new(tc, callback);
            let recv = v8::undefined(tc).into();
            let args: Vec<v8::Local<v8::Value>> =
                args.iter().map(|a| v8::Local::new(tc, a)).collect();
            if f.call(tc, recv, &args).is_none() && !tc.has_terminated() {
                // An ErrorEvent at the global scope first; logged unless a
                // listener cancelled it.
                let msg = exception_text(tc);
                let handled = tc.exception().is_some_and(|e| {
                    tc.reset();
                    let hook = v8::Local::new(tc, &h.on_uncaught);
                    let recv = v8::undefined(tc).into();
                    hook.call(tc, recv, &[e]).is_some_and(|v| v.is_true())
                });
                if !handled {
                    let rid = rt.host.borrow().request_of(owner).0;
                    tracing::error!(target: "js", shard, request_id = %Rid(rid), "uncaught exception in timer: {msg}");
                    if let Some(t) = trace {
                        t.exception(format!("Uncaught {msg}"));
                    }
                }
            }
        });
        if ran.is_err() {
            // Terminated: an interval that spins is not run again.
            self.host.borrow_mut().timers.remove(&id);
            return None;
        }
        // (An interval cleared or torn down by its own callback stops.)
        repeat.filter(|_| self.host.borrow().timers.contains_key(&id))
    }
}

impl Drop for JsRuntime {
    fn drop(&mut self) {
        // A CPU profile is written when the runtime goes (shard shutdown).
        let shard = self.options.shard;
        if let Some(inner) = self.inner.get_mut().as_mut() {
            if let Some(p) = inner.profile.take() {
                v8::scope!(let scope, &mut inner.isolate);
                let context = v8::Local::new(scope, &inner.h.context);
                let _scope = &mut v8::ContextScope::new(scope, context);
                p.finish(shard);
            }
        }
    }
}

/// A request whose `fetch` has not produced a response yet. If the
/// connection drops it (the client left and the grace period passed, or the
/// server shuts down), the request is released and its work stopped.
struct InFlight<'a> {
    rt: &'a Rc<JsRuntime>,
    ids: Option<RequestIds>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(ids) = self.ids.take() {
            ids.release(self.rt);
            self.rt.fail_unreturned_sockets(ids.request, None);
            self.rt.doom(ids.request);
        }
    }
}

/// Runs work a JS entry queued, as its own task. glommio polls a task the
/// moment it is spawned, and this work must not run inside the entry's call
/// stack (a chain of `setTimeout(f, 0)` would nest without bound), so the task
/// first yields once to the executor.
fn spawn_after_entry(work: impl std::future::Future<Output = ()> + 'static) {
    glommio::spawn_local(async move {
        futures_lite::future::yield_now().await;
        work.await;
    })
    .detach();
}

/// A request's entries in the runtime: its body (if it has one) and its
/// tracking. Released when the response no longer needs them: at once for a
/// full response, when the stream ends for a streaming one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestIds {
    body: Option<u32>,
    request: u32,
}

impl RequestIds {
    /// The ids of an event that is not an HTTP request (a scheduled event):
    /// owner `owner` (see [`Host::new_owner`]), no body.
    pub(crate) fn for_owner(owner: u32) -> Self {
        Self {
            body: None,
            request: owner,
        }
    }

    pub(crate) fn request(&self) -> u32 {
        self.request
    }

    pub(crate) fn release(self, rt: &JsRuntime) {
        let tracked = {
            let mut h = rt.host.borrow_mut();
            if let Some(b) = self.body {
                h.drop_body(b);
            }
            let tracked = h.requests.remove(&self.request);
            if !h.wait_until.contains_key(&self.request) {
                h.request_over(self.request);
            }
            tracked
        };
        // A signal watcher (if any) stops.
        if let Some(w) = tracked.and_then(|t| t.watch) {
            w.end();
        }
    }
}

enum Call {
    Done(v8::Global<v8::Value>),
    Wait(u64),
    /// Answered 400 without running the script (a host the URL standard refuses).
    Refused(String),
}

/// Why a script did not produce a response.
pub(crate) enum JsFailure {
    /// It threw (or its promise rejected); the text has the stack.
    Exception(String),
    /// It ran past its CPU limit and was terminated.
    Terminated,
}

pub(crate) fn value_text(scope: &mut v8::PinScope, v: v8::Local<v8::Value>) -> String {
    if let Ok(obj) = v8::Local::<v8::Object>::try_from(v) {
        let k = new_string(scope, "stack");
        if let Some(stack) = obj.get(scope, k.into()).filter(|s| s.is_string()) {
            return stack.to_rust_string_lossy(scope);
        }
    }
    v.to_rust_string_lossy(scope)
}

fn exception_text(tc: &mut v8::PinnedRef<v8::TryCatch<v8::HandleScope>>) -> String {
    match tc.exception() {
        Some(e) => {
            let s = tc.stack_trace().filter(|s| s.is_string());
            match s {
                Some(s) => s.to_rust_string_lossy(tc),
                None => e.to_rust_string_lossy(tc),
            }
        }
        None if tc.has_terminated() => "terminated".to_string(),
        None => "unknown error".to_string(),
    }
}
