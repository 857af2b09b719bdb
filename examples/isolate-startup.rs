//! Measures how long a shard takes to get a runtime for a script: a new V8
//! isolate and context, the API surface, and the script's module graph.
//!
//! `cargo run --release --example isolate-startup -- examples/hello.js 50`

use std::time::{Duration, Instant};

use ringworker_isolate::{JsRuntime, WorkerOptions};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let script = args.next().unwrap_or_else(|| "examples/hello.js".into());
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(50);
    // The first isolate also initializes V8 itself; report it apart.
    // RINGWORKER_SNAPSHOT=runtime measures it with the snapshot made at start.
    let t0 = Instant::now();
    let builtin = std::env::var("RINGWORKER_SNAPSHOT").as_deref() != Ok("runtime")
        && ringworker::use_builtin_snapshot();
    drop(JsRuntime::new(WorkerOptions::new(&script)).map_err(|e| anyhow::anyhow!("{e}"))?);
    let first = t0.elapsed();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let rt = JsRuntime::new(WorkerOptions::new(&script)).expect("loads");
            let d = t.elapsed();
            drop(rt);
            d
        })
        .collect();
    times.sort();
    println!(
        "{script}: first (with V8 init{}) {first:?}; then over {runs} runs: min {:?} p50 {:?} p90 {:?} max {:?}",
        if builtin {
            ", build-time snapshot"
        } else {
            ", snapshot made at start"
        },
        times[0],
        times[runs / 2],
        times[runs * 9 / 10],
        times[runs - 1]
    );
    Ok(())
}
