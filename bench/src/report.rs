//! Turning merged stats into the JSON object and the human table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::cpu::CpuTimes;
use crate::http_load::{Errors, Stats};

#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

#[derive(Debug, Serialize)]
pub struct ErrorsOut {
    #[serde(flatten)]
    pub kinds: Errors,
    pub total: u64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub url: String,
    pub requests: u64,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub rps: f64,
    pub bytes_read: u64,
    pub errors: ErrorsOut,
    pub reconnects: u64,
    pub status: BTreeMap<String, u64>,
    pub latency_us: Latency,
    pub connections: usize,
    pub threads: usize,
    pub pipeline: u32,
    /// Fraction of one core the load generator used in the window.
    pub loadgen_cpu_util: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_us_per_req: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_user_us_per_req: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_sys_us_per_req: Option<f64>,
    /// Server CPU over the window as a fraction of one core.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_util: Option<f64>,
    /// The whole machine's busy CPU (`/proc/stat`, every core, all but idle
    /// and iowait) over the window, per request: unlike the server's own
    /// figure it includes softirq work no process is charged for, and the
    /// load generator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine_cpu_us_per_req: Option<f64>,
    /// The other processes given with `--cpu-pid`, over the same window.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_cpu: Vec<ProcessCpu>,
}

/// One more process's CPU time over the measured window.
#[derive(Debug, Serialize)]
pub struct ProcessCpu {
    pub pid: u32,
    pub cpu_us_per_req: f64,
    pub cpu_user_us_per_req: f64,
    pub cpu_sys_us_per_req: f64,
    /// As a fraction of one core.
    pub cpu_util: f64,
}

pub struct Meta {
    pub url: String,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub connections: usize,
    pub threads: usize,
    pub pipeline: u32,
}

fn us(ns: u64) -> f64 {
    round2(ns as f64 / 1000.0)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

pub fn build(
    meta: Meta,
    stats: &Stats,
    loadgen_cpu: CpuTimes,
    server: Option<(u32, CpuTimes)>,
    others: &[(u32, CpuTimes)],
    machine: Option<std::time::Duration>,
) -> Report {
    let h = &stats.hist;
    let latency_us = if h.is_empty() {
        Latency {
            p50: 0.0,
            p90: 0.0,
            p99: 0.0,
            p999: 0.0,
            max: 0.0,
            mean: 0.0,
        }
    } else {
        Latency {
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
            mean: round2(h.mean() / 1000.0),
        }
    };
    let status = stats
        .status
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(code, n)| (code.to_string(), *n))
        .collect();
    let per_req = |d: std::time::Duration| {
        if stats.requests == 0 {
            0.0
        } else {
            round4(d.as_nanos() as f64 / 1000.0 / stats.requests as f64)
        }
    };
    let window = meta.duration_s;
    Report {
        url: meta.url,
        requests: stats.requests,
        duration_s: window,
        warmup_s: meta.warmup_s,
        rps: round2(stats.requests as f64 / window),
        bytes_read: stats.bytes_read,
        errors: ErrorsOut {
            kinds: stats.errors,
            total: stats.errors.total(),
        },
        reconnects: stats.reconnects,
        status,
        latency_us,
        connections: meta.connections,
        threads: meta.threads,
        pipeline: meta.pipeline,
        loadgen_cpu_util: round4(loadgen_cpu.total().as_secs_f64() / window),
        server_pid: server.map(|s| s.0),
        server_cpu_us_per_req: server.map(|(_, c)| per_req(c.total())),
        server_cpu_user_us_per_req: server.map(|(_, c)| per_req(c.user)),
        server_cpu_sys_us_per_req: server.map(|(_, c)| per_req(c.system)),
        server_cpu_util: server.map(|(_, c)| round4(c.total().as_secs_f64() / window)),
        machine_cpu_us_per_req: machine.map(per_req),
        other_cpu: others
            .iter()
            .map(|&(pid, c)| ProcessCpu {
                pid,
                cpu_us_per_req: per_req(c.total()),
                cpu_user_us_per_req: per_req(c.user),
                cpu_sys_us_per_req: per_req(c.system),
                cpu_util: round4(c.total().as_secs_f64() / window),
            })
            .collect(),
    }
}

pub fn human(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{}: {} connections, {} thread(s), pipeline {}, {:.2}s measured after {:.2}s warm-up",
        r.url, r.connections, r.threads, r.pipeline, r.duration_s, r.warmup_s
    );
    let _ = writeln!(o, "  requests      {:>14}", r.requests);
    let _ = writeln!(o, "  req/s         {:>14.1}", r.rps);
    let _ = writeln!(
        o,
        "  bytes read    {:>14}  ({:.2} MB/s)",
        r.bytes_read,
        r.bytes_read as f64 / r.duration_s / 1e6
    );
    let l = &r.latency_us;
    let _ = writeln!(
        o,
        "  latency (us)  p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  mean {:.1}",
        l.p50, l.p90, l.p99, l.p999, l.max, l.mean
    );
    let status: Vec<String> = r.status.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let _ = writeln!(
        o,
        "  status        {}",
        if status.is_empty() {
            "-".to_string()
        } else {
            status.join(", ")
        }
    );
    let e = &r.errors.kinds;
    let _ = writeln!(
        o,
        "  errors        {} (connect {}, read {}, write {}, timeout {}, status {}, parse {})",
        r.errors.total, e.connect, e.read, e.write, e.timeout, e.status, e.parse
    );
    let _ = writeln!(o, "  reconnects    {:>14}", r.reconnects);
    if let (Some(pid), Some(t), Some(u), Some(s), Some(util)) = (
        r.server_pid,
        r.server_cpu_us_per_req,
        r.server_cpu_user_us_per_req,
        r.server_cpu_sys_us_per_req,
        r.server_cpu_util,
    ) {
        let _ = writeln!(
            o,
            "  server cpu    {t:.2} us/req (user {u:.2}, sys {s:.2}), {util:.2} cores  [pid {pid}]"
        );
    }
    for p in &r.other_cpu {
        let _ = writeln!(
            o,
            "  also cpu      {:.2} us/req (user {:.2}, sys {:.2}), {:.2} cores  [pid {}]",
            p.cpu_us_per_req, p.cpu_user_us_per_req, p.cpu_sys_us_per_req, p.cpu_util, p.pid
        );
    }
    if let Some(m) = r.machine_cpu_us_per_req {
        let _ = writeln!(o, "  machine cpu   {m:.2} us/req (all cores, busy)");
    }
    let _ = writeln!(o, "  loadgen cpu   {:.2} cores", r.loadgen_cpu_util);
    if r.errors.total > 0 {
        let _ = writeln!(
            o,
            "  WARNING: {} errors in the measured window",
            r.errors.total
        );
    }
    if r.loadgen_cpu_util > 0.9 * r.threads as f64 {
        let _ = writeln!(
            o,
            "  WARNING: load generator near CPU saturation; figures may be loadgen-bound"
        );
    }
    o
}
