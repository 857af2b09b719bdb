//! ringworker-core: the shard engine underneath the runtime.
//!
//! It owns what every other layer builds on and knows neither sockets nor V8:
//! the [`Config`], the thread-per-core [`shard`] launcher, the lock-free
//! [`CancelFlag`] that records why a stream ended, the per-shard
//! [`KeepaliveLedger`] of outbound connections pinning their owners,
//! per-shard [`metrics`], the [`tail`] hubs that stream finished requests to
//! tail clients, and the [`control`] plane that reaches shards from outside
//! (stats, tail clients, shutdown) by message, never by lock.
#![warn(missing_docs, missing_debug_implementations)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod cancel;
pub mod clock;
pub mod config;
pub mod control;
pub mod cpus;
pub mod drain;
pub mod keepalive;
pub mod mesh;
pub mod metrics;
pub mod request_id;
pub mod shard;
pub mod tail;

/// A waker that counts its wake-ups, for the unit tests.
#[cfg(test)]
pub(crate) struct CountWake(pub(crate) std::sync::atomic::AtomicUsize);

#[cfg(test)]
impl std::task::Wake for CountWake {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

pub use cancel::{CancelFlag, CancelReason, Cancelled};
pub use config::{
    AdminConfig, Config, HttpLimits, OutboundConfig, OverIpLimit, Timeouts, WsConfig,
};
pub use control::{ControlError, ShardCommand};
pub use drain::{DrainSignal, DrainStage, DrainSubscription};
pub use keepalive::{
    EndCounts, KeepaliveLedger, KeepaliveToken, KeepaliveTotals, Owner, OwnerStats, TokenEnd,
    TokenKind,
};
pub use metrics::{
    ACTOR_ROWS, ActorCounters, ActorReport, ActorRow, DormantCounters, LATENCY_BUCKETS_US,
    OutboundCounters, Outcome, OutcomeCounts, RingCounters, ShardMetrics, ShardStats, StatusCounts,
    V8Counters, WsCounters,
};
pub use request_id::RequestId;
pub use shard::{Readiness, ShardContext, ShardController, ShardError, ShardId, ShardSet};
pub use tail::{RequestTrace, TailFilter, TailHub, TailSubscription};
