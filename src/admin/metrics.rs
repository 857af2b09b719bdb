//! `GET /metrics`: the shards' [`ShardStats`] in the Prometheus text format
//! (0.0.4), encoded by the `prometheus-client` crate.
//!
//! Every family comes twice: summed over the shards (`ringworker_<name>`),
//! and per shard with a `shard` label (`ringworker_shard_<name>`). Two
//! families rather than one with a `shard="total"` series, so that a
//! PromQL `sum()` over either never counts a request twice. Names follow
//! Prometheus' conventions: counters end in `_total`, and the unit
//! (`_seconds`, `_bytes`) comes before it; the encoder adds both.
//!
//! A series' labels are built in one place ([`Scope::labels`]), so the
//! `worker` label of a multi-worker engine is one more field there.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};
use ringworker_core::keepalive::TokenEnd;
use ringworker_core::{LATENCY_BUCKETS_US, Outcome, Readiness, ShardStats};

/// The `Content-Type` of the Prometheus text format.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

#[derive(Debug, Clone, Copy)]
enum Value {
    Int(u64),
    Float(f64),
}

#[derive(Debug, Clone, Copy)]
enum Suffix {
    None,
    Seconds,
    Bytes,
}

/// One family: what it is and how to read its series from a snapshot.
struct Family {
    name: &'static str,
    help: &'static str,
    unit: Suffix,
    kind: Kind,
    /// The label that tells this family's series apart, if any.
    label: Option<&'static str>,
    /// The series: (label value, value); one with `""` for an unlabelled family.
    read: fn(&ShardStats) -> Vec<(&'static str, Value)>,
}

fn one(v: u64) -> Vec<(&'static str, Value)> {
    vec![("", Value::Int(v))]
}

fn secs(us: u64) -> Value {
    Value::Float(us as f64 / 1e6)
}

use Kind::{Counter, Gauge};

/// Every family but the latency histogram, in the order they are written.
const FAMILIES: &[Family] = &[
    Family {
        name: "requests",
        help: "HTTP responses sent, by status class (1xx: accepted WebSockets).",
        unit: Suffix::None,
        kind: Counter,
        label: Some("status_class"),
        read: |s| {
            s.status
                .by_class()
                .into_iter()
                .map(|(c, n)| (c, Value::Int(n)))
                .collect()
        },
    },
    Family {
        name: "request_outcomes",
        help: "Requests by how they ended: ok, exception, cpu_limit, heap_limit, client_disconnected.",
        unit: Suffix::None,
        kind: Counter,
        label: Some("outcome"),
        read: |s| {
            Outcome::ALL
                .into_iter()
                .map(|o| (o.name(), Value::Int(s.outcomes.get(o))))
                .collect()
        },
    },
    Family {
        name: "received",
        help: "Bytes read from clients (HTTP and WebSocket).",
        unit: Suffix::Bytes,
        kind: Counter,
        label: None,
        read: |s| one(s.bytes_in),
    },
    Family {
        name: "sent",
        help: "Bytes written to clients (HTTP and WebSocket).",
        unit: Suffix::Bytes,
        kind: Counter,
        label: None,
        read: |s| one(s.bytes_out),
    },
    Family {
        name: "connections_open",
        help: "Client connections open now (WebSockets included).",
        unit: Suffix::None,
        kind: Gauge,
        label: None,
        read: |s| one(s.open_connections),
    },
    Family {
        name: "connections_accepted",
        help: "Client connections accepted.",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.accepted),
    },
    Family {
        name: "client_disconnects",
        help: "Requests whose client went away while they were in flight.",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.disconnects),
    },
    Family {
        name: "websockets_open",
        help: "Client WebSockets open now (dormant ones included).",
        unit: Suffix::None,
        kind: Gauge,
        label: None,
        read: |s| one(s.websockets.open),
    },
    Family {
        name: "websockets_accepted",
        help: "Client WebSocket upgrades accepted.",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.websockets.accepted),
    },
    Family {
        name: "websockets_dormant",
        help: "Idle client WebSockets held without a task now.",
        unit: Suffix::None,
        kind: Gauge,
        label: None,
        read: |s| one(s.dormant.now),
    },
    Family {
        name: "websockets_hibernated",
        help: "Hibernatable WebSockets whose actor is not in memory now.",
        unit: Suffix::None,
        kind: Gauge,
        label: None,
        read: |s| one(s.actors.hibernated_sockets),
    },
    Family {
        name: "websocket_messages",
        help: "WebSocket messages exchanged with clients, by direction.",
        unit: Suffix::None,
        kind: Counter,
        label: Some("direction"),
        read: |s| {
            vec![
                ("received", Value::Int(s.websockets.messages_received)),
                ("sent", Value::Int(s.websockets.messages_sent)),
            ]
        },
    },
    Family {
        name: "websocket_dormant_steps",
        help: "Steps taken on dormant WebSockets (a message, a send, a heartbeat).",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.dormant.steps),
    },
    Family {
        name: "websocket_dormant_resumes",
        help: "Dormant WebSockets given a task again.",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.dormant.resumed),
    },
    Family {
        name: "v8_heap_used",
        help: "V8 heap in use at the last reading.",
        unit: Suffix::Bytes,
        kind: Gauge,
        label: None,
        read: |s| one(s.v8.heap_used_bytes),
    },
    Family {
        name: "v8_heap_limit",
        help: "V8 heap limit of the isolates.",
        unit: Suffix::Bytes,
        kind: Gauge,
        label: None,
        read: |s| one(s.v8.heap_limit_bytes),
    },
    Family {
        name: "v8_gc",
        help: "V8 garbage collections.",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.v8.gc_count),
    },
    Family {
        name: "v8_gc_pause",
        help: "Time scripts were paused for V8 garbage collections.",
        unit: Suffix::Seconds,
        kind: Counter,
        label: None,
        read: |s| vec![("", secs(s.v8.gc_total_us))],
    },
    Family {
        name: "v8_gc_pause_max",
        help: "The longest V8 garbage-collection pause since start.",
        unit: Suffix::Seconds,
        kind: Gauge,
        label: None,
        read: |s| vec![("", secs(s.v8.gc_max_us))],
    },
    Family {
        name: "v8_minor_gc",
        help: "V8 young-generation collections (scavenges).",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.v8.minor_gc_count),
    },
    Family {
        name: "v8_idle_collections",
        help: "Memory-reducing collections run because the script went quiet.",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.v8.idle_collections),
    },
    Family {
        name: "v8_idle_freed",
        help: "V8 heap memory given back by idle collections.",
        unit: Suffix::Bytes,
        kind: Counter,
        label: None,
        read: |s| one(s.v8.idle_freed_bytes),
    },
    Family {
        name: "isolate_starts",
        help: "V8 isolates created (the first per shard, and replacements).",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.v8.isolates_started),
    },
    Family {
        name: "isolate_evictions",
        help: "V8 isolates thrown away at their heap limit.",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.v8.isolates_evicted),
    },
    Family {
        name: "outbound_requests",
        help: "Outbound HTTP requests sent by scripts (fetch), one per hop.",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.outbound.requests),
    },
    Family {
        name: "outbound_failures",
        help: "Outbound HTTP requests that failed before a response head arrived.",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.outbound.failed),
    },
    Family {
        name: "outbound_connects",
        help: "Outbound connections opened.",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.outbound.connects),
    },
    Family {
        name: "outbound_reuses",
        help: "Outbound requests sent on a pooled keep-alive connection.",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.outbound.reuses),
    },
    Family {
        name: "outbound_retries",
        help: "Outbound requests retried after a stale pooled connection failed.",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.outbound.retries),
    },
    Family {
        name: "actors_resident",
        help: "Actors (Durable Objects) in memory now.",
        unit: Suffix::None,
        kind: Gauge,
        label: None,
        read: |s| one(s.actors.live),
    },
    Family {
        name: "actor_activations",
        help: "Actors constructed (first use, or again after eviction).",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.actors.activations),
    },
    Family {
        name: "actor_evictions",
        help: "Actors taken out of memory, by cause.",
        unit: Suffix::None,
        kind: Counter,
        label: Some("cause"),
        read: |s| {
            vec![
                ("idle", Value::Int(s.actors.evicted_idle)),
                ("hibernated", Value::Int(s.actors.hibernated)),
                ("aborted", Value::Int(s.actors.aborted)),
            ]
        },
    },
    Family {
        name: "actor_alarms",
        help: "Actor alarm() runs (retries included).",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.actors.alarms_fired),
    },
    Family {
        name: "actor_alarm_retries",
        help: "Actor alarm() runs that failed and were retried.",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.actors.alarm_retries),
    },
    Family {
        name: "actor_auto_responses",
        help: "WebSocket messages answered by an auto-response without waking the actor.",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.actors.auto_responses),
    },
    Family {
        name: "keepalive_tokens_live",
        help: "Keepalive tokens pinning their owner now, by connection kind.",
        unit: Suffix::None,
        kind: Gauge,
        label: Some("kind"),
        read: |s| {
            vec![
                ("websocket", Value::Int(s.keepalive.live_websocket)),
                ("tcp", Value::Int(s.keepalive.live_tcp)),
            ]
        },
    },
    Family {
        name: "keepalive_tokens_past_cap",
        help: "Keepalive tokens still held but past the cap (no longer pinning).",
        unit: Suffix::None,
        kind: Gauge,
        label: None,
        read: |s| one(s.keepalive.past_cap),
    },
    Family {
        name: "keepalive_tokens_acquired",
        help: "Keepalive tokens taken by outbound WebSockets and TCP sockets.",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.keepalive.acquired),
    },
    Family {
        name: "keepalive_tokens_ended",
        help: "Keepalive tokens that stopped pinning, by cause (cap_expired: the cap passed).",
        unit: Suffix::None,
        kind: Counter,
        label: Some("cause"),
        read: |s| {
            TokenEnd::ALL
                .into_iter()
                .map(|e| (e.label(), Value::Int(s.keepalive.ended.get(e))))
                .collect()
        },
    },
    Family {
        name: "keepalive_pinned_owners",
        help: "Requests and actors pinned by a keepalive token now.",
        unit: Suffix::None,
        kind: Gauge,
        label: None,
        read: |s| one(s.keepalive.pinned_owners),
    },
    Family {
        name: "keepalive_pinned",
        help: "Time owners were pinned by keepalive tokens, summed over owners.",
        unit: Suffix::Seconds,
        kind: Counter,
        label: None,
        read: |s| vec![("", Value::Float(s.keepalive.pinned_time.as_secs_f64()))],
    },
    Family {
        name: "ring_enters",
        help: "io_uring_enter calls of the network ring.",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.ring.enters),
    },
    Family {
        name: "ring_submissions",
        help: "Submission entries handed to the network ring.",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.ring.submissions),
    },
    Family {
        name: "ring_completions",
        help: "Completions the network ring handled.",
        unit: Suffix::None,
        kind: Counter,
        label: None,
        read: |s| one(s.ring.completions),
    },
    Family {
        name: "tail_clients",
        help: "Tail clients attached (admin listener /tail); each attaches to every shard.",
        unit: Suffix::None,
        kind: Gauge,
        label: None,
        read: |s| one(s.tail_clients),
    },
    Family {
        name: "cpu",
        help: "CPU time of the shard threads.",
        unit: Suffix::Seconds,
        kind: Counter,
        label: None,
        read: |s| vec![("", Value::Float(s.cpu_time.as_secs_f64()))],
    },
];

/// The names of every family written, summed and per shard (for tests
/// and the README): `ringworker_requests`, `ringworker_shard_requests`, ...
/// as Python's `prometheus_client` parser names them (without `_total`).
pub fn family_names() -> Vec<String> {
    let mut out = vec!["ringworker_ready".to_string(), "ringworker_shards".into()];
    for per_shard in [false, true] {
        let p = if per_shard {
            "ringworker_shard_"
        } else {
            "ringworker_"
        };
        for f in FAMILIES {
            out.push(match f.unit {
                Suffix::None => format!("{p}{}", f.name),
                Suffix::Seconds => format!("{p}{}_seconds", f.name),
                Suffix::Bytes => format!("{p}{}_bytes", f.name),
            });
        }
        out.push(format!("{p}request_duration_seconds"));
    }
    out
}

/// Which series a snapshot feeds: the sum (no `shard` label) or one shard.
#[derive(Debug, Clone, Copy)]
struct Scope<'a> {
    shard: Option<usize>,
    stats: &'a ShardStats,
}

impl Scope<'_> {
    /// The series' labels: its scope's, then the family's own.
    fn labels(&self, family: Option<(&'static str, &'static str)>) -> Vec<(&'static str, String)> {
        let mut l = Vec::with_capacity(2);
        if let Some(shard) = self.shard {
            l.push(("shard", shard.to_string()));
        }
        if let Some((k, v)) = family {
            l.push((k, v.to_string()));
        }
        l
    }
}

/// One scrape's figures, handed to the encoder.
#[derive(Debug)]
struct Scrape {
    shards: Vec<ShardStats>,
    total: ShardStats,
    readiness: Readiness,
}

impl Scrape {
    fn family(
        &self,
        enc: &mut DescriptorEncoder,
        f: &Family,
        per_shard: bool,
    ) -> Result<(), fmt::Error> {
        let name = if per_shard {
            format!("shard_{}", f.name)
        } else {
            f.name.to_string()
        };
        let unit = match f.unit {
            Suffix::None => None,
            Suffix::Seconds => Some(Unit::Seconds),
            Suffix::Bytes => Some(Unit::Bytes),
        };
        let ty = match f.kind {
            Counter => MetricType::Counter,
            Gauge => MetricType::Gauge,
        };
        let mut m = enc.encode_descriptor(&name, f.help, unit.as_ref(), ty)?;
        for scope in self.scopes(per_shard) {
            for (label, value) in (f.read)(scope.stats) {
                let labels = scope.labels(f.label.map(|k| (k, label)));
                let series = m.encode_family(&labels)?;
                match (f.kind, value) {
                    (Counter, Value::Int(v)) => ConstCounter::new(v).encode(series)?,
                    (Counter, Value::Float(v)) => ConstCounter::new(v).encode(series)?,
                    (Gauge, Value::Int(v)) => ConstGauge::new(v).encode(series)?,
                    (Gauge, Value::Float(v)) => ConstGauge::new(v).encode(series)?,
                }
            }
        }
        Ok(())
    }

    fn latency(&self, enc: &mut DescriptorEncoder, per_shard: bool) -> Result<(), fmt::Error> {
        let name = if per_shard {
            "shard_request_duration"
        } else {
            "request_duration"
        };
        let mut m = enc.encode_descriptor(
            name,
            "Request latency, from the head parsed to the response written.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for scope in self.scopes(per_shard) {
            let s = scope.stats;
            let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS_US
                .iter()
                .zip(s.latency_buckets())
                .map(|(&le, n)| (le as f64 / 1e6, n))
                .collect();
            let labels = scope.labels(None);
            let mut series = m.encode_family(&labels)?;
            series.encode_histogram::<NoLabelSet>(
                s.latency_sum_us as f64 / 1e6,
                s.latency_us.len(),
                &buckets,
                None,
            )?;
        }
        Ok(())
    }

    fn scopes(&self, per_shard: bool) -> Vec<Scope<'_>> {
        if per_shard {
            self.shards
                .iter()
                .map(|s| Scope {
                    shard: Some(s.shard),
                    stats: s,
                })
                .collect()
        } else {
            vec![Scope {
                shard: None,
                stats: &self.total,
            }]
        }
    }
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), fmt::Error> {
        let ready = i64::from(self.readiness == Readiness::Ready);
        ConstGauge::new(ready).encode(enc.encode_descriptor(
            "ready",
            "1 while every shard serves; 0 while starting or draining.",
            None,
            MetricType::Gauge,
        )?)?;
        ConstGauge::new(self.shards.len() as i64).encode(enc.encode_descriptor(
            "shards",
            "Shards that answered this scrape.",
            None,
            MetricType::Gauge,
        )?)?;
        for per_shard in [false, true] {
            for f in FAMILIES {
                self.family(&mut enc, f, per_shard)?;
            }
            self.latency(&mut enc, per_shard)?;
        }
        Ok(())
    }
}

/// The Prometheus text for `shards` (one snapshot per shard).
pub fn encode(shards: Vec<ShardStats>, readiness: Readiness) -> String {
    let total = ShardStats::total(&shards);
    let mut registry = Registry::with_prefix("ringworker");
    registry.register_collector(Box::new(Scrape {
        shards,
        total,
        readiness,
    }));
    let mut out = String::with_capacity(64 * 1024);
    // (Writing into a String cannot fail.)
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_family_is_written_summed_and_per_shard() {
        let a = ringworker_core::ShardMetrics::new();
        a.request_done(200, Outcome::Ok, Duration::from_micros(300));
        a.request_done(503, Outcome::CpuLimit, Duration::from_millis(60));
        let text = encode(vec![a.snapshot(0), a.snapshot(1)], Readiness::Ready);
        for name in family_names() {
            assert!(
                text.contains(&format!("# TYPE {name}")),
                "{name} missing:\n{text}"
            );
        }
        assert!(
            text.contains("ringworker_requests_total{status_class=\"2xx\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("ringworker_shard_requests_total{shard=\"1\",status_class=\"5xx\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("ringworker_request_outcomes_total{outcome=\"cpu_limit\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("ringworker_request_duration_seconds_bucket{le=\"0.0005\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("ringworker_request_duration_seconds_bucket{le=\"+Inf\"} 4\n"),
            "{text}"
        );
        assert!(text.contains("ringworker_ready 1\n"), "{text}");
    }
}
