//! Per-shard metrics: counters in plain `Cell`s (a shard is one thread) and an
//! hdrhistogram of request latency. Read from outside by asking each shard for a
//! [`ShardStats`] snapshot over the [`control`](crate::control) plane; the
//! snapshot also carries the shard's [`KeepaliveLedger`] figures.
//!
//! The snapshot types derive `serde::Serialize`: the admin listener's
//! `/stats` and `--stats-out` are these types as JSON, and its `/metrics` is
//! encoded from them (the Prometheus names live with the encoder).

use std::cell::{Cell, RefCell};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Serialize, Serializer};

use crate::keepalive::{KeepaliveLedger, KeepaliveTotals, OwnerStats};

/// Latency is recorded in microseconds from 1 us to 60 s, 3 significant digits.
const HIST_MAX_US: u64 = 60_000_000;

/// How many keepalive owner rows (the longest pinned) a snapshot carries.
pub const KEEPALIVE_OWNERS_IN_STATS: usize = 32;

/// The fixed latency buckets (upper bounds, microseconds) the hdrhistogram
/// is folded into for Prometheus and the dashboard: 100 µs to 60 s, about
/// 2.5x apart. A value lands in the first bucket whose bound is at least the
/// bottom of its histogram bin (exact below 2 ms, within 0.1 % above).
pub const LATENCY_BUCKETS_US: [u64; 18] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
];

/// One actor and why it is in memory, or why it left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActorRow {
    /// `Class:id`.
    pub actor: String,
    /// What holds it ("2 keepalive token(s)", "idle for 3 s"), or how it
    /// left ("idle", "hibernated", "aborted").
    pub why: String,
}

/// The shard's actors as its isolate reports them when a snapshot is taken.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ActorReport {
    /// Actors in memory and what holds each (at most [`ACTOR_ROWS`]).
    pub resident: Vec<ActorRow>,
    /// The most recent evictions, oldest first (at most [`ACTOR_ROWS`]).
    pub evicted: Vec<ActorRow>,
}

/// Most rows of each kind in an [`ActorReport`].
pub const ACTOR_ROWS: usize = 32;

type ActorReporter = Box<dyn Fn() -> ActorReport>;

/// How a request ended, as counted per outcome and shown to `tail` clients.
///
/// ```
/// use ringworker_core::Outcome;
/// assert_eq!(Outcome::CpuLimit.name(), "cpu_limit");
/// assert_eq!(Outcome::parse("heap_limit"), Some(Outcome::HeapLimit));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The handler answered (whatever the status).
    #[default]
    Ok,
    /// The script threw (or its promise rejected), or a Rust handler panicked.
    Exception,
    /// The script ran past its CPU limit and was terminated.
    CpuLimit,
    /// The isolate reached its heap limit while serving it.
    HeapLimit,
    /// The client went away before the response was complete.
    ClientDisconnected,
}

impl Outcome {
    /// Every outcome, in declaration order.
    pub const ALL: [Outcome; 5] = [
        Self::Ok,
        Self::Exception,
        Self::CpuLimit,
        Self::HeapLimit,
        Self::ClientDisconnected,
    ];

    /// Its snake_case name (a metric label, the JSON value).
    pub fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Exception => "exception",
            Self::CpuLimit => "cpu_limit",
            Self::HeapLimit => "heap_limit",
            Self::ClientDisconnected => "client_disconnected",
        }
    }

    /// The outcome named `name` (see [`Self::name`]).
    pub fn parse(name: &str) -> Option<Outcome> {
        Self::ALL.into_iter().find(|o| o.name() == name)
    }
}

/// Requests per outcome.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OutcomeCounts {
    /// [`Outcome::Ok`].
    pub ok: u64,
    /// [`Outcome::Exception`].
    pub exception: u64,
    /// [`Outcome::CpuLimit`].
    pub cpu_limit: u64,
    /// [`Outcome::HeapLimit`].
    pub heap_limit: u64,
    /// [`Outcome::ClientDisconnected`].
    pub client_disconnected: u64,
}

impl OutcomeCounts {
    /// The count for one outcome.
    pub fn get(&self, o: Outcome) -> u64 {
        match o {
            Outcome::Ok => self.ok,
            Outcome::Exception => self.exception,
            Outcome::CpuLimit => self.cpu_limit,
            Outcome::HeapLimit => self.heap_limit,
            Outcome::ClientDisconnected => self.client_disconnected,
        }
    }

    fn slot(&mut self, o: Outcome) -> &mut u64 {
        match o {
            Outcome::Ok => &mut self.ok,
            Outcome::Exception => &mut self.exception,
            Outcome::CpuLimit => &mut self.cpu_limit,
            Outcome::HeapLimit => &mut self.heap_limit,
            Outcome::ClientDisconnected => &mut self.client_disconnected,
        }
    }

    fn add(&mut self, other: &OutcomeCounts) {
        for o in Outcome::ALL {
            *self.slot(o) += other.get(o);
        }
    }
}

/// Responses per status class.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    /// 1xx (101 for an accepted WebSocket).
    #[serde(rename = "1xx")]
    pub informational: u64,
    /// 2xx.
    #[serde(rename = "2xx")]
    pub success: u64,
    /// 3xx.
    #[serde(rename = "3xx")]
    pub redirection: u64,
    /// 4xx.
    #[serde(rename = "4xx")]
    pub client_error: u64,
    /// 5xx.
    #[serde(rename = "5xx")]
    pub server_error: u64,
}

impl StatusCounts {
    /// The classes' names (`1xx`..`5xx`) with their counts.
    pub fn by_class(&self) -> [(&'static str, u64); 5] {
        [
            ("1xx", self.informational),
            ("2xx", self.success),
            ("3xx", self.redirection),
            ("4xx", self.client_error),
            ("5xx", self.server_error),
        ]
    }

    fn count(&mut self, status: u16) {
        match status {
            0..=199 => self.informational += 1,
            200..=299 => self.success += 1,
            300..=399 => self.redirection += 1,
            400..=499 => self.client_error += 1,
            _ => self.server_error += 1,
        }
    }

    fn add(&mut self, o: &StatusCounts) {
        self.informational += o.informational;
        self.success += o.success;
        self.redirection += o.redirection;
        self.client_error += o.client_error;
        self.server_error += o.server_error;
    }
}

/// One shard's live counters. Not `Send`: it lives and is updated on its shard.
pub struct ShardMetrics {
    requests: Cell<u64>,
    status: Cell<StatusCounts>,
    outcomes: Cell<OutcomeCounts>,
    bytes_in: Cell<u64>,
    bytes_out: Cell<u64>,
    open_connections: Cell<u64>,
    accepted: Cell<u64>,
    disconnects: Cell<u64>,
    dormant: Cell<DormantCounters>,
    websockets: Cell<WsCounters>,
    latency_us: RefCell<Histogram<u64>>,
    latency_sum_us: Cell<u64>,
    ring: Cell<RingCounters>,
    v8: Cell<V8Counters>,
    outbound: Cell<OutboundCounters>,
    actors: Cell<ActorCounters>,
    actor_report: RefCell<Option<ActorReporter>>,
}

impl std::fmt::Debug for ShardMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardMetrics")
            .field("requests", &self.requests.get())
            .field("open_connections", &self.open_connections.get())
            .finish_non_exhaustive()
    }
}

/// The shard's actors (Durable Objects): how many live, why they left.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ActorCounters {
    /// Actors in memory now.
    pub live: u64,
    /// Hibernatable WebSockets whose actor is not in memory now.
    pub hibernated_sockets: u64,
    /// Actors constructed (first use, or again after eviction).
    pub activations: u64,
    /// Evicted after their idle window with nothing holding them.
    pub evicted_idle: u64,
    /// Hibernated: evicted with only hibernatable WebSockets, which stay open.
    pub hibernated: u64,
    /// Dropped by `ctx.abort()` or a failed constructor.
    pub aborted: u64,
    /// Messages answered by an auto-response, without waking the actor.
    pub auto_responses: u64,
    /// `alarm()` runs (retries included).
    pub alarms_fired: u64,
    /// `alarm()` runs that failed and were retried.
    pub alarm_retries: u64,
}

/// The shard's outbound HTTP client (`fetch()` from scripts).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OutboundCounters {
    /// Requests sent (one per hop; redirects count each).
    pub requests: u64,
    /// Requests that failed before a response head arrived.
    pub failed: u64,
    /// Connections opened (TCP connects that succeeded).
    pub connects: u64,
    /// Requests sent on a pooled keep-alive connection.
    pub reuses: u64,
    /// Requests retried on a fresh connection after a stale pooled one failed.
    pub retries: u64,
}

/// Dormant WebSockets: idle parkable sockets held by the shard without a
/// task; their traffic is handled in steps.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DormantCounters {
    /// Dormant right now.
    pub now: u64,
    /// Steps taken on dormant sockets (a message, a send, a heartbeat).
    pub steps: u64,
    /// Times a step found more to do than a step can (a close, a
    /// fragmented message, backpressure, shutdown) and gave the socket a
    /// task again.
    pub resumed: u64,
}

/// The shard's server-side WebSockets (upgraded client connections).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WsCounters {
    /// Open right now (dormant ones included).
    pub open: u64,
    /// Upgrades accepted since start.
    pub accepted: u64,
    /// Messages received from clients.
    pub messages_received: u64,
    /// Messages sent to clients.
    pub messages_sent: u64,
}

/// The shard's network ring: work per `io_uring_enter`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RingCounters {
    /// `io_uring_enter` calls.
    pub enters: u64,
    /// Submission entries handed to the kernel.
    pub submissions: u64,
    /// Completions handled.
    pub completions: u64,
}

/// The shard's V8 isolate(s).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct V8Counters {
    /// JS heap in use at the last reading, in bytes.
    pub heap_used_bytes: u64,
    /// The isolate's heap limit, in bytes (0 without an isolate).
    pub heap_limit_bytes: u64,
    /// Garbage collections.
    pub gc_count: u64,
    /// Time the script was paused for them, microseconds.
    pub gc_total_us: u64,
    /// The longest one, microseconds.
    pub gc_max_us: u64,
    /// Young-generation collections (scavenges) among them.
    pub minor_gc_count: u64,
    /// Young-generation bytes still in use right after each of those,
    /// summed: over `minor_gc_count`, what an average scavenge had to keep
    /// (and copy). Objects that outlive their request show up here long
    /// before they show up in the heap size.
    pub minor_gc_survived_bytes: u64,
    /// Memory-reducing collections run because the script went quiet after
    /// the heap grew (`WorkerOptions::idle_gc_after`).
    pub idle_collections: u64,
    /// V8 heap memory they gave back (committed bytes before minus after),
    /// summed.
    pub idle_freed_bytes: u64,
    /// Isolates created on the shard (the first one, and replacements).
    pub isolates_started: u64,
    /// Isolates thrown away because they reached their heap limit.
    pub isolates_evicted: u64,
}

thread_local! {
    static CURRENT: RefCell<Option<std::rc::Rc<ShardMetrics>>> = const { RefCell::new(None) };
}

impl Default for ShardMetrics {
    fn default() -> Self {
        Self::new()
    }
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("static histogram bounds")
}

/// CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: plain clock read into a local.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl ShardMetrics {
    /// Zeroed metrics.
    pub fn new() -> Self {
        Self {
            requests: Cell::new(0),
            status: Cell::new(StatusCounts::default()),
            outcomes: Cell::new(OutcomeCounts::default()),
            bytes_in: Cell::new(0),
            bytes_out: Cell::new(0),
            open_connections: Cell::new(0),
            accepted: Cell::new(0),
            disconnects: Cell::new(0),
            dormant: Cell::new(DormantCounters::default()),
            websockets: Cell::new(WsCounters::default()),
            latency_us: RefCell::new(new_histogram()),
            latency_sum_us: Cell::new(0),
            ring: Cell::new(RingCounters::default()),
            v8: Cell::new(V8Counters::default()),
            outbound: Cell::new(OutboundCounters::default()),
            actors: Cell::new(ActorCounters::default()),
            actor_report: RefCell::new(None),
        }
    }

    /// Makes `m` this thread's (the shard's) metrics, for layers that are
    /// built without a handle to them (the network ring, the isolate).
    pub fn set_current(m: Option<std::rc::Rc<ShardMetrics>>) {
        CURRENT.with(|c| *c.borrow_mut() = m);
    }

    /// This shard's metrics, if the thread runs a shard.
    pub fn current() -> Option<std::rc::Rc<ShardMetrics>> {
        CURRENT.with(|c| c.borrow().clone())
    }

    /// Counts one `io_uring_enter` of the network ring.
    #[inline]
    pub fn ring_enter(&self, submitted: u32) {
        let mut r = self.ring.get();
        r.enters += 1;
        r.submissions += u64::from(submitted);
        self.ring.set(r);
    }

    /// Counts completions the network ring handled.
    #[inline]
    pub fn ring_completions(&self, n: usize) {
        let mut r = self.ring.get();
        r.completions += n as u64;
        self.ring.set(r);
    }

    /// Counts one garbage-collection pause.
    pub fn gc_pause(&self, pause: Duration) {
        let mut v = self.v8.get();
        let us = pause.as_micros() as u64;
        v.gc_count += 1;
        v.gc_total_us += us;
        v.gc_max_us = v.gc_max_us.max(us);
        self.v8.set(v);
    }

    /// Counts one young-generation collection that left `survived` bytes
    /// in the young generation.
    pub fn minor_gc(&self, survived: u64) {
        let mut v = self.v8.get();
        v.minor_gc_count += 1;
        v.minor_gc_survived_bytes += survived;
        self.v8.set(v);
    }

    /// Counts one idle collection that gave back `freed` bytes of V8 heap.
    pub fn idle_collection(&self, freed: u64) {
        let mut v = self.v8.get();
        v.idle_collections += 1;
        v.idle_freed_bytes += freed;
        self.v8.set(v);
    }

    /// Counts an isolate created on the shard with a heap limit of
    /// `heap_limit` bytes.
    pub fn isolate_started(&self, heap_limit: u64) {
        let mut v = self.v8.get();
        v.isolates_started += 1;
        v.heap_limit_bytes = heap_limit;
        self.v8.set(v);
    }

    /// Counts an isolate thrown away at its heap limit.
    pub fn isolate_evicted(&self) {
        let mut v = self.v8.get();
        v.isolates_evicted += 1;
        self.v8.set(v);
    }

    /// Updates the outbound client's counters.
    pub fn count_outbound(&self, f: impl FnOnce(&mut OutboundCounters)) {
        let mut c = self.outbound.get();
        f(&mut c);
        self.outbound.set(c);
    }

    /// Registers what reports the shard's actors (resident, recently
    /// evicted) into each snapshot: the isolate that hosts them.
    pub fn set_actor_reporter(&self, f: Option<ActorReporter>) {
        *self.actor_report.borrow_mut() = f;
    }

    /// Sets the actor counters.
    pub fn set_actors(&self, c: ActorCounters) {
        self.actors.set(c);
    }

    /// Records the JS heap in use.
    pub fn set_heap_used(&self, bytes: u64) {
        let mut v = self.v8.get();
        v.heap_used_bytes = bytes;
        self.v8.set(v);
    }

    /// Counts one finished request with its status, outcome and latency.
    #[inline]
    pub fn request_done(&self, status: u16, outcome: Outcome, latency: Duration) {
        self.requests.set(self.requests.get() + 1);
        let mut s = self.status.get();
        s.count(status);
        self.status.set(s);
        let mut o = self.outcomes.get();
        *o.slot(outcome) += 1;
        self.outcomes.set(o);
        let us = (latency.as_micros() as u64).clamp(1, HIST_MAX_US);
        self.latency_sum_us.set(self.latency_sum_us.get() + us);
        let _ = self.latency_us.borrow_mut().record(us);
    }

    /// Adds bytes read from clients.
    #[inline]
    pub fn add_bytes_in(&self, n: usize) {
        self.bytes_in.set(self.bytes_in.get() + n as u64);
    }

    /// Adds bytes written to clients.
    #[inline]
    pub fn add_bytes_out(&self, n: usize) {
        self.bytes_out.set(self.bytes_out.get() + n as u64);
    }

    /// A connection was accepted.
    pub fn connection_opened(&self) {
        self.accepted.set(self.accepted.get() + 1);
        self.open_connections.set(self.open_connections.get() + 1);
    }

    /// A connection was closed.
    pub fn connection_closed(&self) {
        self.open_connections
            .set(self.open_connections.get().saturating_sub(1));
    }

    /// A client went away while a request was in flight.
    pub fn disconnect_detected(&self) {
        self.disconnects.set(self.disconnects.get() + 1);
    }

    /// Dormant WebSockets: `f` updates the counters.
    pub fn count_dormant(&self, f: impl FnOnce(&mut DormantCounters)) {
        let mut c = self.dormant.get();
        f(&mut c);
        self.dormant.set(c);
    }

    /// Server-side WebSockets: `f` updates the counters.
    #[inline]
    pub fn count_websockets(&self, f: impl FnOnce(&mut WsCounters)) {
        let mut c = self.websockets.get();
        f(&mut c);
        self.websockets.set(c);
    }

    /// Connections open right now.
    pub fn open_connections(&self) -> u64 {
        self.open_connections.get()
    }

    /// A `Send` copy of the figures, for readers outside the shard. Call it
    /// on the shard's thread: it reads that thread's CPU time.
    pub fn snapshot(&self, shard: usize) -> ShardStats {
        ShardStats {
            shard,
            cpu_time: thread_cpu_time(),
            requests: self.requests.get(),
            status: self.status.get(),
            outcomes: self.outcomes.get(),
            bytes_in: self.bytes_in.get(),
            bytes_out: self.bytes_out.get(),
            open_connections: self.open_connections.get(),
            accepted: self.accepted.get(),
            disconnects: self.disconnects.get(),
            dormant: self.dormant.get(),
            websockets: self.websockets.get(),
            latency_us: self.latency_us.borrow().clone(),
            latency_sum_us: self.latency_sum_us.get(),
            ring: self.ring.get(),
            v8: self.v8.get(),
            outbound: self.outbound.get(),
            actors: self.actors.get(),
            actor_report: self
                .actor_report
                .borrow()
                .as_ref()
                .map(|f| f())
                .unwrap_or_default(),
            keepalive: KeepaliveTotals::default(),
            keepalive_owners: Vec::new(),
            tail_clients: 0,
        }
    }
}

/// A snapshot of one shard's metrics (or of all of them, [`Self::total`]).
///
/// Serialized (the admin listener's `/stats`), the latency histogram
/// becomes its percentiles and the fixed buckets of
/// [`LATENCY_BUCKETS_US`], durations become milliseconds, and a total's
/// `shard` is `null`.
#[derive(Debug, Clone, Serialize)]
pub struct ShardStats {
    /// Which shard (`usize::MAX` in a [`total`](Self::total)).
    #[serde(serialize_with = "shard_index")]
    pub shard: usize,
    /// CPU time the shard's thread has used.
    #[serde(rename = "cpu_ms", serialize_with = "millis_f64")]
    pub cpu_time: Duration,
    /// Requests answered.
    pub requests: u64,
    /// Responses by status class.
    pub status: StatusCounts,
    /// Requests by how they ended.
    pub outcomes: OutcomeCounts,
    /// Bytes read from clients.
    pub bytes_in: u64,
    /// Bytes written to clients.
    pub bytes_out: u64,
    /// Connections open at the time of the snapshot.
    pub open_connections: u64,
    /// Connections accepted since start.
    pub accepted: u64,
    /// Requests whose client went away while they were in flight.
    pub disconnects: u64,
    /// WebSockets without a task of their own (see `ringworker_io::ws`).
    pub dormant: DormantCounters,
    /// Server-side WebSockets: open, accepted, messages.
    pub websockets: WsCounters,
    /// Request latency (head parsed -> response written), microseconds.
    #[serde(serialize_with = "latency_summary")]
    pub latency_us: Histogram<u64>,
    /// The recorded latencies summed, microseconds (the histogram's sum).
    pub latency_sum_us: u64,
    /// The network ring's work.
    pub ring: RingCounters,
    /// The V8 isolate's heap and garbage collections.
    pub v8: V8Counters,
    /// The outbound HTTP client: requests, failures, connects, pool reuse.
    pub outbound: OutboundCounters,
    /// Actors: live, hibernated sockets, evictions by cause, alarms.
    pub actors: ActorCounters,
    /// Which actors are in memory and why; which left recently and why.
    pub actor_report: ActorReport,
    /// Keepalive tokens of outbound WebSockets and TCP sockets: live,
    /// ended by reason, expired by the cap, pinned time.
    pub keepalive: KeepaliveTotals,
    /// The [`KEEPALIVE_OWNERS_IN_STATS`] owners pinned longest (rows of
    /// owners holding tokens or recently idle); empty in a [`total`](Self::total).
    pub keepalive_owners: Vec<OwnerStats>,
    /// Tail clients attached to the shard (see [`crate::tail`]). A client
    /// attaches to every shard, so a [`total`](Self::total) has the
    /// largest count, not the sum.
    pub tail_clients: u64,
}

fn shard_index<S: Serializer>(shard: &usize, s: S) -> Result<S::Ok, S::Error> {
    if *shard == usize::MAX {
        s.serialize_none()
    } else {
        s.serialize_some(shard)
    }
}

fn millis_f64<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}

/// One fixed latency bucket in the stats JSON: requests at or under `le_us`.
#[derive(Serialize)]
struct BucketJson {
    le_us: Option<u64>,
    count: u64,
}

#[derive(Serialize)]
struct LatencyJson {
    count: u64,
    p50: u64,
    p90: u64,
    p99: u64,
    p999: u64,
    max: u64,
    mean: f64,
    /// Cumulative, as Prometheus' buckets; the last (`le_us: null`) is all.
    buckets: Vec<BucketJson>,
}

fn latency_summary<S: Serializer>(h: &Histogram<u64>, s: S) -> Result<S::Ok, S::Error> {
    let q = |p: f64| {
        if h.is_empty() {
            0
        } else {
            h.value_at_quantile(p)
        }
    };
    let mut cumulative = 0;
    let mut buckets: Vec<BucketJson> = latency_buckets(h)
        .iter()
        .zip(LATENCY_BUCKETS_US)
        .map(|(&n, le)| {
            cumulative += n;
            BucketJson {
                le_us: Some(le),
                count: cumulative,
            }
        })
        .collect();
    buckets.push(BucketJson {
        le_us: None,
        count: h.len(),
    });
    LatencyJson {
        count: h.len(),
        p50: q(0.5),
        p90: q(0.9),
        p99: q(0.99),
        p999: q(0.999),
        max: h.max(),
        mean: if h.is_empty() {
            0.0
        } else {
            (h.mean() * 10.0).round() / 10.0
        },
        buckets,
    }
    .serialize(s)
}

/// `h` folded into [`LATENCY_BUCKETS_US`]: the count in each bucket (not
/// cumulative); values over the last bound are in none.
pub fn latency_buckets(h: &Histogram<u64>) -> [u64; LATENCY_BUCKETS_US.len()] {
    let mut out = [0u64; LATENCY_BUCKETS_US.len()];
    for v in h.iter_recorded() {
        // (The bin's lowest value: a value clamped to the histogram's top
        // still lands in the last bucket.)
        let low = h.lowest_equivalent(v.value_iterated_to());
        if let Some(i) = LATENCY_BUCKETS_US.iter().position(|&b| low <= b) {
            out[i] += v.count_at_value();
        }
    }
    out
}

impl ShardStats {
    /// Adds `ledger`'s totals and longest-pinned owners to this snapshot.
    pub fn with_keepalive(mut self, ledger: &KeepaliveLedger) -> ShardStats {
        self.keepalive = ledger.totals();
        self.keepalive_owners = ledger.longest_pinned(KEEPALIVE_OWNERS_IN_STATS);
        self
    }

    /// Responses with a 4xx status.
    pub fn client_errors(&self) -> u64 {
        self.status.client_error
    }

    /// Responses with a 5xx status.
    pub fn server_errors(&self) -> u64 {
        self.status.server_error
    }

    /// The latency histogram folded into [`LATENCY_BUCKETS_US`] (see
    /// [`latency_buckets`]).
    pub fn latency_buckets(&self) -> [u64; LATENCY_BUCKETS_US.len()] {
        latency_buckets(&self.latency_us)
    }

    /// Sums several shards' snapshots into one (shard = `usize::MAX`):
    /// counters and gauges add up, `v8.gc_max_us` and `tail_clients` are the largest, the
    /// histograms merge, actor rows are concatenated (each names its actor).
    pub fn total(all: &[ShardStats]) -> ShardStats {
        let mut t = ShardMetrics::new().snapshot(usize::MAX);
        t.cpu_time = Duration::ZERO;
        for s in all {
            t.cpu_time += s.cpu_time;
            t.requests += s.requests;
            t.status.add(&s.status);
            t.outcomes.add(&s.outcomes);
            t.bytes_in += s.bytes_in;
            t.bytes_out += s.bytes_out;
            t.open_connections += s.open_connections;
            t.accepted += s.accepted;
            t.disconnects += s.disconnects;
            t.dormant.now += s.dormant.now;
            t.dormant.steps += s.dormant.steps;
            t.dormant.resumed += s.dormant.resumed;
            let (w, x) = (&mut t.websockets, &s.websockets);
            w.open += x.open;
            w.accepted += x.accepted;
            w.messages_received += x.messages_received;
            w.messages_sent += x.messages_sent;
            t.ring.enters += s.ring.enters;
            t.ring.submissions += s.ring.submissions;
            t.ring.completions += s.ring.completions;
            let (v, x) = (&mut t.v8, &s.v8);
            v.heap_used_bytes += x.heap_used_bytes;
            v.heap_limit_bytes += x.heap_limit_bytes;
            v.gc_count += x.gc_count;
            v.gc_total_us += x.gc_total_us;
            v.gc_max_us = v.gc_max_us.max(x.gc_max_us);
            v.minor_gc_count += x.minor_gc_count;
            v.minor_gc_survived_bytes += x.minor_gc_survived_bytes;
            v.idle_collections += x.idle_collections;
            v.idle_freed_bytes += x.idle_freed_bytes;
            v.isolates_started += x.isolates_started;
            v.isolates_evicted += x.isolates_evicted;
            t.outbound.requests += s.outbound.requests;
            t.outbound.failed += s.outbound.failed;
            t.outbound.connects += s.outbound.connects;
            t.outbound.reuses += s.outbound.reuses;
            t.outbound.retries += s.outbound.retries;
            let (a, b) = (&mut t.actors, &s.actors);
            a.live += b.live;
            a.hibernated_sockets += b.hibernated_sockets;
            a.activations += b.activations;
            a.evicted_idle += b.evicted_idle;
            a.hibernated += b.hibernated;
            a.aborted += b.aborted;
            a.auto_responses += b.auto_responses;
            a.alarms_fired += b.alarms_fired;
            a.alarm_retries += b.alarm_retries;
            t.actor_report
                .resident
                .extend(s.actor_report.resident.iter().cloned());
            t.actor_report
                .evicted
                .extend(s.actor_report.evicted.iter().cloned());
            t.keepalive.add(&s.keepalive);
            t.tail_clients = t.tail_clients.max(s.tail_clients);
            t.latency_sum_us += s.latency_sum_us;
            let _ = t.latency_us.add(&s.latency_us);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_percentiles() {
        let m = ShardMetrics::new();
        for i in 1..=100u64 {
            let (status, outcome) = if i % 10 == 0 {
                (500, Outcome::Exception)
            } else {
                (200, Outcome::Ok)
            };
            m.request_done(status, outcome, Duration::from_micros(i));
        }
        m.connection_opened();
        m.add_bytes_in(10);
        let s = m.snapshot(3);
        assert_eq!(s.requests, 100);
        assert_eq!(s.server_errors(), 10);
        assert_eq!((s.status.success, s.outcomes.ok), (90, 90));
        assert_eq!(s.outcomes.get(Outcome::Exception), 10);
        assert_eq!(s.latency_sum_us, 5050);
        assert_eq!(s.open_connections, 1);
        assert_eq!(s.latency_us.value_at_quantile(0.5), 50);
        let t = ShardStats::total(&[s.clone(), s]);
        assert_eq!(t.requests, 200);
        assert_eq!(t.latency_us.len(), 200);
        assert_eq!(t.status.server_error, 20);
    }

    #[test]
    fn latency_folds_into_fixed_buckets() {
        let m = ShardMetrics::new();
        for us in [50, 100, 101, 999, 1_000, 40_000, 70_000_000] {
            m.request_done(200, Outcome::Ok, Duration::from_micros(us));
        }
        let b = m.snapshot(0).latency_buckets();
        // <=100: 50, 100; <=250: 101; <=1000: 999, 1000; <=50ms: 40ms;
        // 70 s is clamped to the histogram's 60 s, the last bucket.
        assert_eq!(&b[..4], &[2, 1, 0, 2]);
        assert_eq!(b[8], 1);
        assert_eq!(b[17], 1);
        assert_eq!(b.iter().sum::<u64>(), 7);
    }

    #[test]
    fn snapshots_serialize_with_summaries_and_buckets() {
        let m = ShardMetrics::new();
        m.request_done(404, Outcome::Ok, Duration::from_micros(300));
        let s = m.snapshot(1);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["shard"], 1);
        assert_eq!(v["status"]["4xx"], 1);
        assert_eq!(v["outcomes"]["ok"], 1);
        assert_eq!(v["latency_us"]["count"], 1);
        assert_eq!(v["latency_us"]["p50"], 300);
        let buckets = v["latency_us"]["buckets"].as_array().unwrap();
        assert_eq!(buckets.len(), LATENCY_BUCKETS_US.len() + 1);
        assert_eq!(buckets[1]["count"], 0);
        assert_eq!(buckets[2]["count"], 1); // le 500 us, cumulative
        assert!(buckets.last().unwrap()["le_us"].is_null());
        let t = serde_json::to_value(ShardStats::total(&[s])).unwrap();
        assert!(t["shard"].is_null());
    }

    #[test]
    fn snapshots_carry_the_keepalive_ledger() {
        use crate::keepalive::{Owner, TokenKind};
        let ledger = KeepaliveLedger::new(Duration::from_secs(60));
        let _live = ledger.acquire(Owner::Actor(1), TokenKind::WebSocket);
        drop(ledger.acquire(Owner::Request(2), TokenKind::Tcp));
        let s = ShardMetrics::new().snapshot(0).with_keepalive(&ledger);
        assert_eq!((s.keepalive.acquired, s.keepalive.live), (2, 1));
        assert_eq!(s.keepalive.ended.closed, 1);
        assert_eq!(s.keepalive_owners.len(), 2);
        let t = ShardStats::total(&[s.clone(), s]);
        assert_eq!((t.keepalive.acquired, t.keepalive.live_websocket), (4, 2));
        assert!(t.keepalive_owners.is_empty());
    }
}
