//! `ringworker-perf` (also `ringworker perf`): one command that runs a
//! workload under load and hands back where its time went.
//!
//! ```text
//! ringworker perf examples/hello.js --scenario http --connections 64 --duration 10s --out perf-out/
//! ringworker perf --server target/release/examples/hello --scenario http --out perf-rust/
//! ringworker perf examples/hello.js --compare perf-out/report.json --out perf-after/
//! ```
//!
//! It starts the server on one core (V8 with its perf map, so JS functions
//! have names), warms up, drives `ringworker-bench` from the other core, and
//! meanwhile samples the server with `perf record -g` (the `cycles` event
//! where the machine has hardware counters, else `cpu-clock`). Into `--out`
//! it writes `flamegraph.svg`, `report.json`, `report.md` and the raw
//! `perf.data`, `folded.txt`, `server-stats.json`, `bench.json`,
//! `server.log`.

mod report;
mod stacks;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "ringworker-perf",
    version,
    about = "Profile a ringworker workload"
)]
pub struct Args {
    /// The worker script to serve with `ringworker serve`.
    script: Option<PathBuf>,
    /// Profile this server binary instead (a Rust embedding, e.g.
    /// target/release/examples/hello); it gets `--listen ADDR --shards 1
    /// --no-pin --stats-out FILE`.
    #[arg(long, conflicts_with = "script")]
    server: Option<PathBuf>,
    /// Workload: `http` (GET, keep-alive), `stream` (a streaming response),
    /// `ws` (WebSocket echo).
    #[arg(long, value_parser = ["http", "stream", "ws"], default_value = "http")]
    scenario: String,
    /// Request path (default: / for http and ws, /?chunks=64&size=1024 for stream).
    #[arg(long)]
    path: Option<String>,
    /// Load-generator connections.
    #[arg(short = 'c', long, default_value_t = 64)]
    connections: usize,
    /// Measured (and sampled) window.
    #[arg(short = 'd', long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Load before sampling starts.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    warmup: Duration,
    /// Output directory.
    #[arg(long, default_value = "perf-out")]
    out: PathBuf,
    /// Sampling frequency, Hz.
    #[arg(long, default_value_t = 999)]
    frequency: u32,
    /// CPU for the server; the load generator gets `--loadgen-cpu`.
    #[arg(long, default_value_t = 0)]
    server_cpu: usize,
    #[arg(long, default_value_t = 1)]
    loadgen_cpu: usize,
    /// Print the deltas against an earlier run's report.json.
    #[arg(long)]
    compare: Option<PathBuf>,
    /// Also a V8 CPU profile of the script, `profile.cpuprofile` (load it in
    /// Chrome DevTools' Performance panel). Scripts only.
    #[arg(long)]
    cpu_profile: bool,
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit.trim() {
        "" | "s" => v,
        "ms" => v / 1e3,
        "m" => v * 60.0,
        u => return Err(format!("bad duration unit {u:?} in {s:?}")),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// A sibling binary of this one (same target directory).
fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let p = exe.with_file_name(name);
    if !p.exists() {
        bail!(
            "{} not found next to {} — build it first: cargo build --release -p ringworker -p ringworker-bench",
            p.display(),
            exe.display()
        );
    }
    Ok(p)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn wait_for_port(port: u16, server: &mut Child) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Some(status) = server.try_wait()? {
            bail!("the server exited before it listened ({status})");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("the server did not listen on port {port} within 30 s")
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: plain kill(2) on a child we started.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

/// Whether `perf` can sample here, and with which event; or why not.
pub fn perf_event() -> Result<&'static str, String> {
    let v = Command::new("perf").arg("--version").output();
    if !v.is_ok_and(|o| o.status.success()) {
        return Err(
            "`perf` is not installed: on Debian `apt-get install linux-perf` (the report is still written, without the flame graph)".into(),
        );
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let paranoid: i32 = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(2);
    if !root && paranoid > 1 {
        return Err(format!(
            "perf may not sample other processes here (kernel.perf_event_paranoid = {paranoid}): run as root or `sysctl kernel.perf_event_paranoid=1` (the report is still written, without the flame graph)"
        ));
    }
    let cycles = Command::new("perf")
        .args(["stat", "-x,", "-e", "cycles", "--", "true"])
        .output();
    let hw = cycles.is_ok_and(|o| {
        let e = String::from_utf8_lossy(&o.stderr);
        o.status.success() && !e.contains("not supported") && !e.contains("not counted")
    });
    Ok(if hw { "cycles" } else { "cpu-clock" })
}

/// CPU time, page faults and context switches of a process so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcCounters {
    pub user_s: f64,
    pub sys_s: f64,
    pub minor_faults: u64,
    pub major_faults: u64,
    pub ctx_switches: u64,
}

pub fn proc_counters(pid: u32) -> anyhow::Result<ProcCounters> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = &stat[stat.rfind(')').context("bad /proc/PID/stat")? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the comm: state(0) ppid pgrp session tty tpgid flags minflt(7)
    // cminflt majflt(9) cmajflt utime(11) stime(12)
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let mut ctx = 0;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("status")) {
                for l in s.lines() {
                    if let Some(v) = l
                        .strip_prefix("voluntary_ctxt_switches:")
                        .or_else(|| l.strip_prefix("nonvoluntary_ctxt_switches:"))
                    {
                        ctx += v.trim().parse::<u64>().unwrap_or(0);
                    }
                }
            }
        }
    }
    Ok(ProcCounters {
        user_s: num(11) as f64 / hz,
        sys_s: num(12) as f64 / hz,
        minor_faults: num(7),
        major_faults: num(9),
        ctx_switches: ctx,
    })
}

fn bench_args(a: &Args, port: u16, duration: Duration, pid: u32) -> Vec<String> {
    let secs = format!("{}ms", duration.as_millis());
    let mut v: Vec<String> = match a.scenario.as_str() {
        "ws" => vec![
            "ws".into(),
            "--url".into(),
            format!("ws://127.0.0.1:{port}{}", a.path.as_deref().unwrap_or("/")),
        ],
        scen => {
            let default = if scen == "stream" {
                "/?chunks=64&size=1024"
            } else {
                "/"
            };
            vec![
                "http".into(),
                "--url".into(),
                format!(
                    "http://127.0.0.1:{port}{}",
                    a.path.as_deref().unwrap_or(default)
                ),
            ]
        }
    };
    v.extend([
        "-c".into(),
        a.connections.to_string(),
        "-d".into(),
        secs,
        "--warmup".into(),
        "0s".into(),
        "--json".into(),
        "--cpu-pid".into(),
        pid.to_string(),
    ]);
    v
}

fn run_bench(a: &Args, bench: &Path, args: &[String]) -> anyhow::Result<serde_json::Value> {
    let out = Command::new("taskset")
        .arg("-c")
        .arg(a.loadgen_cpu.to_string())
        .arg(bench)
        .args(args)
        .output()
        .context("running ringworker-bench under taskset")?;
    if !out.status.success() {
        bail!(
            "ringworker-bench failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).with_context(|| format!("ringworker-bench printed {line:?}"))
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(a: &Args) -> anyhow::Result<()> {
    if a.cpu_profile && a.server.is_some() {
        bail!("--cpu-profile profiles a script's isolate; a --server binary has none");
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let out = a.out.canonicalize()?;
    let bench = sibling("ringworker-bench")?;
    let port = free_port()?;
    let stats_path = out.join("server-stats.json");
    let _ = std::fs::remove_file(&stats_path);

    // 1. The server, pinned, with V8's perf map.
    let mut cmd = Command::new("taskset");
    cmd.arg("-c").arg(a.server_cpu.to_string());
    let label = match (&a.script, &a.server) {
        (Some(script), None) => {
            cmd.arg(sibling("ringworker")?).arg("serve").arg(script);
            // The perf map makes V8's first compilations slow: a generous CPU
            // limit keeps the warm-up's first entries from being cut off.
            cmd.args(["--cpu-limit-ms", "1000"]);
            if a.cpu_profile {
                let p = out.join("profile.cpuprofile");
                let _ = std::fs::remove_file(&p);
                cmd.arg("--cpu-profile").arg(p);
            }
            cmd.env(
                "RINGWORKER_V8_FLAGS",
                // (Not with --interpreted-frames-native-stack: with both
                // flags this V8 build crashes on async stream pulls.)
                "--perf-basic-prof",
            );
            script.display().to_string()
        }
        (None, Some(bin)) => {
            cmd.arg(bin);
            bin.display().to_string()
        }
        _ => bail!("give a script to serve, or --server BINARY"),
    };
    cmd.args([
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--shards",
        "1",
        "--no-pin",
        "--stats-out",
    ])
    .arg(&stats_path)
    .stdout(Stdio::null())
    // (A file, not a pipe: a pipe nobody reads would block a chatty server.)
    .stderr(std::fs::File::create(out.join("server.log"))?);
    let mut server = cmd.spawn().context("starting the server")?;
    let pid = server.id();
    let result = profile(a, &out, &bench, port, pid, &mut server, &label);
    // The server writes its stats on SIGTERM, then drains and exits.
    signal(&server, libc::SIGTERM);
    let waited = Instant::now();
    while server.try_wait()?.is_none() {
        if waited.elapsed() > Duration::from_secs(30) {
            let _ = server.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_file(format!("/tmp/perf-{pid}.map"));
    let mut run = result?;
    run.server_stats = std::fs::read_to_string(&stats_path)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok());
    let rep = report::build(a, &run)?;
    std::fs::write(out.join("report.json"), serde_json::to_string_pretty(&rep)?)?;
    let md = report::markdown(&rep);
    std::fs::write(out.join("report.md"), &md)?;
    print!("{md}");
    if let Some(base) = &a.compare {
        let base: report::Report = serde_json::from_str(
            &std::fs::read_to_string(base)
                .with_context(|| format!("reading {}", base.display()))?,
        )
        .with_context(|| format!("{} is not a ringworker-perf report.json", base.display()))?;
        print!("{}", report::compare(&base, &rep));
    }
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// What a profiling run measured, before it is turned into a report.
pub struct Run {
    pub label: String,
    pub bench: serde_json::Value,
    pub warmup: Option<serde_json::Value>,
    pub before: ProcCounters,
    pub after: ProcCounters,
    pub window_s: f64,
    pub perf_event: Result<&'static str, String>,
    pub syscalls: Option<u64>,
    pub breakdown: Option<stacks::Breakdown>,
    pub server_stats: Option<serde_json::Value>,
}

fn profile(
    a: &Args,
    out: &Path,
    bench: &Path,
    port: u16,
    pid: u32,
    server: &mut Child,
    label: &str,
) -> anyhow::Result<Run> {
    wait_for_port(port, server)?;
    // 2. Warm-up (its results are dropped).
    let warmup = if a.warmup.is_zero() {
        None
    } else {
        Some(run_bench(a, bench, &bench_args(a, port, a.warmup, pid))?)
    };
    // 3. Sampling and counting over the measured window.
    let event = perf_event();
    let perf_data = out.join("perf.data");
    let mut recorder = None;
    let mut counter = None;
    match &event {
        Ok(ev) => {
            recorder = Some(
                Command::new("perf")
                    .args(["record", "-q", "-g", "-e", ev, "-F"])
                    .arg(a.frequency.to_string())
                    .arg("-p")
                    .arg(pid.to_string())
                    .arg("-o")
                    .arg(&perf_data)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .context("starting perf record")?,
            );
            counter = Command::new("perf")
                .args(["stat", "-x,", "-e", "raw_syscalls:sys_enter", "-p"])
                .arg(pid.to_string())
                .arg("-o")
                .arg(out.join("perf-stat.csv"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ok();
            std::thread::sleep(Duration::from_millis(200)); // let them attach
        }
        Err(why) => eprintln!("note: {why}"),
    }
    let before = proc_counters(pid)?;
    let t0 = Instant::now();
    let bench_out = run_bench(a, bench, &bench_args(a, port, a.duration, pid));
    let window_s = t0.elapsed().as_secs_f64();
    let after = proc_counters(pid)?;
    for p in [&recorder, &counter].into_iter().flatten() {
        signal(p, libc::SIGINT);
    }
    for p in [recorder.as_mut(), counter.as_mut()].into_iter().flatten() {
        let _ = p.wait();
    }
    let bench_out = bench_out?;
    std::fs::write(
        out.join("bench.json"),
        serde_json::to_string_pretty(&bench_out)?,
    )?;
    let syscalls = std::fs::read_to_string(out.join("perf-stat.csv"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.contains("raw_syscalls:sys_enter"))
                .and_then(|l| l.split(',').next())
                .and_then(|n| n.trim().parse::<u64>().ok())
        });
    // 4. Stacks -> folded -> flame graph.
    let mut breakdown = None;
    if recorder.is_some() && perf_data.exists() {
        let script = Command::new("perf")
            .arg("script")
            .arg("-i")
            .arg(&perf_data)
            .stderr(Stdio::null())
            .output()
            .context("running perf script")?;
        let mut folded = Vec::new();
        stacks::fold(&script.stdout[..], &mut folded)?;
        let folded = String::from_utf8_lossy(&folded).into_owned();
        std::fs::write(out.join("folded.txt"), &folded)?;
        if !folded.trim().is_empty() {
            let title = format!("ringworker perf: {label} ({} scenario)", a.scenario);
            let svg = std::fs::File::create(out.join("flamegraph.svg"))?;
            stacks::flamegraph(&folded, &title, std::io::BufWriter::new(svg))?;
        }
        breakdown = Some(stacks::breakdown(&folded, 20));
    }
    Ok(Run {
        label: label.to_string(),
        bench: bench_out,
        warmup,
        before,
        after,
        window_s,
        perf_event: event,
        syscalls,
        breakdown,
        server_stats: None,
    })
}
