//! The side-by-side pipeline in its short mode, so the runner cannot rot:
//! `ringworker-bench compare` starts a real server, loads it, and writes
//! the report and a chart.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `compare` runs the `ringworker` binary built beside it; a filtered test
/// run may not have built it.
fn build_ringworker() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "ringworker"])
        .current_dir(root())
        .status()
        .expect("run cargo");
    assert!(status.success(), "building ringworker failed");
}

#[test]
fn a_short_compare_run_writes_the_report_and_a_chart() {
    build_ringworker();
    let out = std::env::temp_dir().join(format!("ringworker-compare-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let report = out.join("RESULTS-peers.md");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let loadgen = if cores > 1 { "1" } else { "0" };
    let run = Command::new(env!("CARGO_BIN_EXE_ringworker-bench"))
        .current_dir(root())
        .args(["compare", "--peers", "ringworker", "--scenarios", "hello"])
        .args(["--rounds", "1", "-d", "1s", "--warmup", "200ms"])
        .args(["--server-cpu", "0", "--loadgen-cpu", loadgen])
        .arg("--peers-dir")
        .arg(&out)
        .arg("--out")
        .arg(&report)
        .output()
        .expect("ringworker-bench compare runs");
    assert!(
        run.status.success(),
        "compare failed:\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let md = std::fs::read_to_string(&report).expect("the report");
    assert!(md.contains("## hello, 64 connections"), "{md}");
    assert!(md.contains("## hello, 256 connections"), "{md}");
    let row = md
        .lines()
        .find(|l| l.starts_with("| ringworker | **"))
        .unwrap_or_else(|| panic!("no ringworker row:\n{md}"));
    // A real measurement: some requests per second, and a CPU figure.
    let rps: f64 = row.split("**").nth(1).unwrap().parse().unwrap();
    assert!(rps > 100.0, "{row}");
    // | runtime | value | min–max | vs | p50 | p99 | p99.9 | max | server CPU
    // µs/req | machine CPU µs/req | load gen |
    let cpu: f64 = row.split('|').nth(9).unwrap().trim().parse().unwrap_or(0.0);
    assert!(cpu > 0.0, "no server CPU figure: {row}");
    let machine: f64 = row
        .split('|')
        .nth(10)
        .unwrap()
        .trim()
        .parse()
        .unwrap_or(0.0);
    assert!(machine >= cpu * 0.5, "no machine CPU figure: {row}");
    // Where the server ran, read from /proc rather than assumed.
    assert!(
        md.contains("- CPUs, read from `/proc/PID/task/*/status`"),
        "{md}"
    );
    assert!(md.contains("ringworker 0"), "{md}");
    assert!(!md.contains("## Cells that failed"), "{md}");
    let svg = std::fs::read_to_string(out.join("peers-hello-64.svg")).expect("the chart");
    assert!(
        svg.starts_with("<svg") && svg.contains("ringworker"),
        "{svg}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
