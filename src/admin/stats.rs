//! `GET /stats` (and `--stats-out`): every shard's [`ShardStats`] and their
//! sum as JSON, serialized by serde from the core types.

use serde::Serialize;

use ringworker_core::{Readiness, ShardStats};

/// The stats JSON: `{"readiness", "uptime_seconds", "shards": [...], "total": {...}}`.
/// Each shard object is a serialized [`ShardStats`] (its latency as
/// percentiles and fixed buckets, durations in milliseconds).
#[derive(Debug, Serialize)]
pub struct StatsDocument<'a> {
    /// Whether every shard serves.
    pub readiness: Readiness,
    /// Seconds since the server started.
    pub uptime_seconds: f64,
    /// One object per shard, in shard order.
    pub shards: &'a [ShardStats],
    /// The shards summed (`shard` is null).
    pub total: ShardStats,
}

impl<'a> StatsDocument<'a> {
    /// The document for `shards`.
    pub fn new(
        shards: &'a [ShardStats],
        readiness: Readiness,
        uptime: std::time::Duration,
    ) -> Self {
        Self {
            readiness,
            uptime_seconds: (uptime.as_secs_f64() * 1e3).round() / 1e3,
            shards,
            total: ShardStats::total(shards),
        }
    }

    /// As JSON text.
    pub fn to_json(&self) -> String {
        // (Plain data: serializing it cannot fail.)
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}
