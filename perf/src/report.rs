//! `report.json` / `report.md`, and the comparison of two runs.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::stacks::SelfTime;
use crate::{Args, Run};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardRow {
    pub shard: u64,
    pub requests: u64,
    pub latency_us: Latency,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct V8 {
    pub heap_used_bytes: u64,
    pub gc_count: u64,
    pub gc_total_ms: f64,
    pub gc_max_ms: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    pub target: String,
    pub scenario: String,
    pub connections: usize,
    pub duration_s: f64,
    /// What one "request" is: an HTTP request, or a WebSocket round trip.
    pub unit: String,
    pub requests: u64,
    pub requests_per_s: f64,
    pub latency_us: Latency,
    pub server_cpu_us_per_req: f64,
    pub server_cpu_user_us_per_req: f64,
    pub server_cpu_sys_us_per_req: f64,
    pub server_cpu_util: f64,
    pub loadgen_cpu_util: f64,
    pub context_switches_per_req: f64,
    pub page_faults_per_req: f64,
    /// From `perf stat -e raw_syscalls:sys_enter`; null without perf.
    pub syscalls_per_req: Option<f64>,
    /// The network ring's own counters, over the whole run (warm-up too).
    pub ring_enters_per_req: f64,
    pub ring_submissions_per_req: f64,
    pub ring_completions_per_req: f64,
    pub shards: Vec<ShardRow>,
    pub v8: V8,
    /// `cycles` or `cpu-clock`; null when perf could not sample.
    pub sampling_event: Option<String>,
    /// Why there is no flame graph, if there is none.
    pub perf_note: Option<String>,
    /// The samples' summed periods (perf's weights): nanoseconds of CPU for
    /// `cpu-clock`, cycles for `cycles`.
    pub sample_weight: u64,
    /// Share of samples by the origin of their leaf frame, percent.
    pub self_time_by_origin: std::collections::BTreeMap<String, f64>,
    pub top_functions: Vec<SelfTime>,
}

fn f(v: &serde_json::Value, k: &str) -> f64 {
    v.get(k).and_then(|x| x.as_f64()).unwrap_or(0.0)
}

fn latency(v: &serde_json::Value) -> Latency {
    let l = v.get("latency_us").cloned().unwrap_or_default();
    Latency {
        p50: f(&l, "p50"),
        p90: f(&l, "p90"),
        p99: f(&l, "p99"),
        p999: f(&l, "p999"),
        max: f(&l, "max"),
    }
}

/// Requests (or round trips) a bench JSON counted.
fn work(v: &serde_json::Value) -> f64 {
    v.get("requests")
        .or_else(|| v.get("round_trips"))
        .and_then(|x| x.as_f64())
        .unwrap_or(0.0)
}

pub fn build(a: &Args, run: &Run) -> anyhow::Result<Report> {
    let requests = work(&run.bench);
    let per = |x: f64| if requests > 0.0 { x / requests } else { 0.0 };
    let user = run.after.user_s - run.before.user_s;
    let sys = run.after.sys_s - run.before.sys_s;
    let faults = (run.after.minor_faults + run.after.major_faults)
        .saturating_sub(run.before.minor_faults + run.before.major_faults);
    let ctx = run
        .after
        .ctx_switches
        .saturating_sub(run.before.ctx_switches);
    let all_work = requests + run.warmup.as_ref().map(work).unwrap_or(0.0);
    let stats = run
        .server_stats
        .as_ref()
        // `{"shards": [...]}` (the stats document), or a bare array.
        .and_then(|s| s.get("shards").unwrap_or(s).as_array().cloned())
        .unwrap_or_default();
    let sum = |k1: &str, k2: &str| -> f64 {
        stats
            .iter()
            .map(|s| s.get(k1).map(|o| f(o, k2)).unwrap_or(0.0))
            .sum()
    };
    let per_all = |x: f64| if all_work > 0.0 { x / all_work } else { 0.0 };
    let (samples, by_origin, top) = match &run.breakdown {
        Some(b) => (
            b.samples,
            b.by_origin.clone().into_iter().collect(),
            b.top.clone(),
        ),
        None => (0, Default::default(), Vec::new()),
    };
    Ok(Report {
        target: run.label.clone(),
        scenario: a.scenario.clone(),
        connections: a.connections,
        duration_s: run.window_s,
        unit: if a.scenario == "ws" {
            "WebSocket echo round trip".into()
        } else {
            "HTTP request".into()
        },
        requests: requests as u64,
        requests_per_s: f(&run.bench, "rps").max(f(&run.bench, "round_trips_per_s")),
        latency_us: latency(&run.bench),
        server_cpu_us_per_req: per((user + sys) * 1e6),
        server_cpu_user_us_per_req: per(user * 1e6),
        server_cpu_sys_us_per_req: per(sys * 1e6),
        server_cpu_util: (user + sys) / run.window_s,
        loadgen_cpu_util: f(&run.bench, "loadgen_cpu_util"),
        context_switches_per_req: per(ctx as f64),
        page_faults_per_req: per(faults as f64),
        syscalls_per_req: run.syscalls.map(|n| per(n as f64)),
        ring_enters_per_req: per_all(sum("ring", "enters")),
        ring_submissions_per_req: per_all(sum("ring", "submissions")),
        ring_completions_per_req: per_all(sum("ring", "completions")),
        shards: stats
            .iter()
            .map(|s| ShardRow {
                shard: f(s, "shard") as u64,
                requests: f(s, "requests") as u64,
                latency_us: latency(s),
            })
            .collect(),
        v8: V8 {
            heap_used_bytes: sum("v8", "heap_used_bytes") as u64,
            gc_count: sum("v8", "gc_count") as u64,
            gc_total_ms: sum("v8", "gc_total_us") / 1000.0,
            gc_max_ms: stats
                .iter()
                .map(|s| s.get("v8").map(|o| f(o, "gc_max_us")).unwrap_or(0.0))
                .fold(0.0, f64::max)
                / 1000.0,
        },
        sampling_event: run.perf_event.as_ref().ok().map(|e| e.to_string()),
        perf_note: run.perf_event.as_ref().err().cloned(),
        sample_weight: samples,
        self_time_by_origin: by_origin,
        top_functions: top,
    })
}

pub fn markdown(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# ringworker perf: {} ({} scenario)\n",
        r.target, r.scenario
    );
    let _ = writeln!(
        o,
        "{} connections, {:.1} s measured; one request = one {}.\n",
        r.connections, r.duration_s, r.unit
    );
    let _ = writeln!(o, "| figure | value |\n|---|---|");
    let rows: Vec<(&str, String)> = vec![
        ("requests/s", format!("{:.0}", r.requests_per_s)),
        (
            "latency p50 / p90 / p99 / max",
            format!(
                "{:.0} / {:.0} / {:.0} / {:.0} µs",
                r.latency_us.p50, r.latency_us.p90, r.latency_us.p99, r.latency_us.max
            ),
        ),
        (
            "**server CPU per request**",
            format!(
                "**{:.2} µs** (user {:.2}, system {:.2}); {:.0} % of a core",
                r.server_cpu_us_per_req,
                r.server_cpu_user_us_per_req,
                r.server_cpu_sys_us_per_req,
                r.server_cpu_util * 100.0
            ),
        ),
        (
            "load generator",
            format!("{:.0} % of a core", r.loadgen_cpu_util * 100.0),
        ),
        (
            "context switches / page faults per request",
            format!(
                "{:.3} / {:.3}",
                r.context_switches_per_req, r.page_faults_per_req
            ),
        ),
        (
            "syscalls per request",
            r.syscalls_per_req
                .map(|v| format!("{v:.2}"))
                .unwrap_or_else(|| "n/a (needs perf)".into()),
        ),
        (
            "io_uring enters / submissions / completions per request",
            format!(
                "{:.3} / {:.3} / {:.3}",
                r.ring_enters_per_req, r.ring_submissions_per_req, r.ring_completions_per_req
            ),
        ),
        (
            "V8 heap used; GC count, total, longest",
            format!(
                "{:.1} MiB; {} GCs, {:.1} ms, {:.2} ms",
                r.v8.heap_used_bytes as f64 / 1048576.0,
                r.v8.gc_count,
                r.v8.gc_total_ms,
                r.v8.gc_max_ms
            ),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(o, "| {k} | {v} |");
    }
    let _ = writeln!(
        o,
        "\n## Shards\n\n| shard | requests | p50 µs | p99 µs | max µs |\n|---|---|---|---|---|"
    );
    for s in &r.shards {
        let _ = writeln!(
            o,
            "| {} | {} | {:.0} | {:.0} | {:.0} |",
            s.shard, s.requests, s.latency_us.p50, s.latency_us.p99, s.latency_us.max
        );
    }
    match (&r.sampling_event, &r.perf_note) {
        (Some(ev), _) => {
            let weight = if ev == "cpu-clock" {
                format!("{:.0} ms of sampled CPU", r.sample_weight as f64 / 1e6)
            } else {
                format!("{} {ev}", r.sample_weight)
            };
            let _ = writeln!(
                o,
                "\n## Where the time goes (`{ev}` samples, {weight}; flamegraph.svg)\n"
            );
            let origins: Vec<String> = r
                .self_time_by_origin
                .iter()
                .map(|(k, v)| format!("{k} {v:.1} %"))
                .collect();
            let _ = writeln!(o, "Self time by origin: {}.\n", origins.join(", "));
            let _ = writeln!(o, "| self % | origin | function |\n|---|---|---|");
            for t in &r.top_functions {
                let _ = writeln!(
                    o,
                    "| {:.2} | {:?} | `{}` |",
                    t.percent,
                    t.origin,
                    t.function.replace('|', "\\|")
                );
            }
        }
        (None, Some(note)) => {
            let _ = writeln!(o, "\nNo flame graph: {note}");
        }
        _ => {}
    }
    o
}

/// The deltas of the headline figures, `base` -> `new`.
pub fn compare(base: &Report, new: &Report) -> String {
    let mut o = String::from(
        "\n## Compared with the base run\n\n| figure | base | now | change |\n|---|---|---|---|\n",
    );
    let rows = [
        ("requests/s", base.requests_per_s, new.requests_per_s),
        (
            "server CPU µs/request",
            base.server_cpu_us_per_req,
            new.server_cpu_us_per_req,
        ),
        (
            "  user",
            base.server_cpu_user_us_per_req,
            new.server_cpu_user_us_per_req,
        ),
        (
            "  system",
            base.server_cpu_sys_us_per_req,
            new.server_cpu_sys_us_per_req,
        ),
        ("p99 µs", base.latency_us.p99, new.latency_us.p99),
        (
            "context switches/request",
            base.context_switches_per_req,
            new.context_switches_per_req,
        ),
        (
            "ring enters/request",
            base.ring_enters_per_req,
            new.ring_enters_per_req,
        ),
        ("GC total ms", base.v8.gc_total_ms, new.v8.gc_total_ms),
    ];
    for (k, b, n) in rows {
        let pct = if b != 0.0 { (n - b) / b * 100.0 } else { 0.0 };
        let _ = writeln!(o, "| {k} | {b:.3} | {n:.3} | {pct:+.1} % |");
    }
    o
}
