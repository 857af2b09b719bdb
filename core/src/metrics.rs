//! Per-shard metrics: counters in plain `Cell`s (a shard is one thread) and an
//! hdrhistogram of request latency. Read from outside by asking each shard for a
//! [`ShardStats`] snapshot over the [`control`](crate::control) plane; the
//! snapshot also carries the shard's [`KeepaliveLedger`] figures.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::keepalive::{KeepaliveLedger, KeepaliveTotals, OwnerStats};

/// Latency is recorded in microseconds from 1 us to 60 s, 3 significant digits.
const HIST_MAX_US: u64 = 60_000_000;

/// How many keepalive owner rows (the longest pinned) a snapshot carries.
pub const KEEPALIVE_OWNERS_IN_STATS: usize = 32;

/// One actor and why it is in memory, or why it left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorRow {
    /// `Class:id`.
    pub actor: String,
    /// What holds it ("2 keepalive token(s)", "idle for 3s"), or how it
    /// left ("idle", "hibernated", "aborted").
    pub why: String,
}

/// The shard's actors as its isolate reports them when a snapshot is taken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActorReport {
    /// Actors in memory and what holds each (at most [`ACTOR_ROWS`]).
    pub resident: Vec<ActorRow>,
    /// The most recent evictions, oldest first (at most [`ACTOR_ROWS`]).
    pub evicted: Vec<ActorRow>,
}

/// Most rows of each kind in an [`ActorReport`].
pub const ACTOR_ROWS: usize = 32;

type ActorReporter = Box<dyn Fn() -> ActorReport>;

/// One shard's live counters. Not `Send`: it lives and is updated on its shard.
pub struct ShardMetrics {
    requests: Cell<u64>,
    bytes_in: Cell<u64>,
    bytes_out: Cell<u64>,
    open_connections: Cell<u64>,
    accepted: Cell<u64>,
    client_errors: Cell<u64>,
    server_errors: Cell<u64>,
    disconnects: Cell<u64>,
    dormant: Cell<DormantCounters>,
    latency_us: RefCell<Histogram<u64>>,
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
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
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

/// The shard's network ring: work per `io_uring_enter`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RingCounters {
    /// `io_uring_enter` calls.
    pub enters: u64,
    /// Submission entries handed to the kernel.
    pub submissions: u64,
    /// Completions handled.
    pub completions: u64,
}

/// The shard's V8 isolate(s).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct V8Counters {
    /// JS heap in use at the last reading, in bytes.
    pub heap_used_bytes: u64,
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
}

thread_local! {
    static CURRENT: RefCell<Option<std::rc::Rc<ShardMetrics>>> = const { RefCell::new(None) };
}

impl Default for ShardMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ShardMetrics {
    /// Zeroed metrics.
    pub fn new() -> Self {
        Self {
            requests: Cell::new(0),
            bytes_in: Cell::new(0),
            bytes_out: Cell::new(0),
            open_connections: Cell::new(0),
            accepted: Cell::new(0),
            client_errors: Cell::new(0),
            server_errors: Cell::new(0),
            disconnects: Cell::new(0),
            dormant: Cell::new(DormantCounters::default()),
            latency_us: RefCell::new(
                Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("static histogram bounds"),
            ),
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

    /// Counts one finished request with its status and latency.
    #[inline]
    pub fn request_done(&self, status: u16, latency: Duration) {
        self.requests.set(self.requests.get() + 1);
        if (400..500).contains(&status) {
            self.client_errors.set(self.client_errors.get() + 1);
        } else if status >= 500 {
            self.server_errors.set(self.server_errors.get() + 1);
        }
        let us = (latency.as_micros() as u64).clamp(1, HIST_MAX_US);
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

    /// Connections open right now.
    pub fn open_connections(&self) -> u64 {
        self.open_connections.get()
    }

    /// A `Send` copy of the figures, for readers outside the shard.
    pub fn snapshot(&self, shard: usize) -> ShardStats {
        ShardStats {
            shard,
            requests: self.requests.get(),
            bytes_in: self.bytes_in.get(),
            bytes_out: self.bytes_out.get(),
            open_connections: self.open_connections.get(),
            accepted: self.accepted.get(),
            client_errors: self.client_errors.get(),
            server_errors: self.server_errors.get(),
            disconnects: self.disconnects.get(),
            dormant: self.dormant.get(),
            latency_us: self.latency_us.borrow().clone(),
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
        }
    }
}

/// A snapshot of one shard's metrics.
#[derive(Debug, Clone)]
pub struct ShardStats {
    /// Which shard.
    pub shard: usize,
    /// Requests answered.
    pub requests: u64,
    /// Bytes read from clients.
    pub bytes_in: u64,
    /// Bytes written to clients.
    pub bytes_out: u64,
    /// Connections open at the time of the snapshot.
    pub open_connections: u64,
    /// Connections accepted since start.
    pub accepted: u64,
    /// Responses with a 4xx status.
    pub client_errors: u64,
    /// Responses with a 5xx status.
    pub server_errors: u64,
    /// Requests whose client went away while they were in flight.
    pub disconnects: u64,
    /// WebSockets without a task of their own (see `ringworker_io::ws`).
    pub dormant: DormantCounters,
    /// Request latency (head parsed -> response written), microseconds.
    pub latency_us: Histogram<u64>,
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
}

impl ShardStats {
    /// Adds `ledger`'s totals and longest-pinned owners to this snapshot.
    pub fn with_keepalive(mut self, ledger: &KeepaliveLedger) -> ShardStats {
        self.keepalive = ledger.totals();
        self.keepalive_owners = ledger.longest_pinned(KEEPALIVE_OWNERS_IN_STATS);
        self
    }

    /// Sums several shards' snapshots into one (shard = `usize::MAX`).
    pub fn total(all: &[ShardStats]) -> ShardStats {
        let mut t = ShardMetrics::new().snapshot(usize::MAX);
        for s in all {
            t.requests += s.requests;
            t.bytes_in += s.bytes_in;
            t.bytes_out += s.bytes_out;
            t.open_connections += s.open_connections;
            t.accepted += s.accepted;
            t.client_errors += s.client_errors;
            t.server_errors += s.server_errors;
            t.disconnects += s.disconnects;
            t.dormant.now += s.dormant.now;
            t.dormant.steps += s.dormant.steps;
            t.dormant.resumed += s.dormant.resumed;
            t.ring.enters += s.ring.enters;
            t.ring.submissions += s.ring.submissions;
            t.ring.completions += s.ring.completions;
            t.v8.heap_used_bytes += s.v8.heap_used_bytes;
            t.v8.gc_count += s.v8.gc_count;
            t.v8.gc_total_us += s.v8.gc_total_us;
            t.v8.gc_max_us = t.v8.gc_max_us.max(s.v8.gc_max_us);
            t.v8.minor_gc_count += s.v8.minor_gc_count;
            t.v8.minor_gc_survived_bytes += s.v8.minor_gc_survived_bytes;
            t.v8.idle_collections += s.v8.idle_collections;
            t.v8.idle_freed_bytes += s.v8.idle_freed_bytes;
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
            t.keepalive.add(&s.keepalive);
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
            m.request_done(
                if i % 10 == 0 { 500 } else { 200 },
                Duration::from_micros(i),
            );
        }
        m.connection_opened();
        m.add_bytes_in(10);
        let s = m.snapshot(3);
        assert_eq!(s.requests, 100);
        assert_eq!(s.server_errors, 10);
        assert_eq!(s.open_connections, 1);
        assert_eq!(s.latency_us.value_at_quantile(0.5), 50);
        let t = ShardStats::total(&[s.clone(), s]);
        assert_eq!(t.requests, 200);
        assert_eq!(t.latency_us.len(), 200);
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
