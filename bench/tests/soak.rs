//! `ringworker-bench soak` for 60 s (issue 21): mixed traffic against the
//! real server, sampled every 2 s; it must end with no failed request and
//! no metric trending upward after the warm-up.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn a_minute_of_mixed_traffic_leaks_nothing_and_fails_nothing() {
    // The soak starts the `ringworker` binary built beside it; a filtered
    // test run may not have built it.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "ringworker"])
        .current_dir(root())
        .status()
        .expect("run cargo");
    assert!(status.success(), "building ringworker failed");
    let json =
        std::env::temp_dir().join(format!("ringworker-soak-test-{}.json", std::process::id()));
    let run = Command::new(env!("CARGO_BIN_EXE_ringworker-bench"))
        .current_dir(root())
        .args([
            "soak",
            "--duration",
            "60s",
            "--interval",
            "2s",
            "--warmup",
            "12s",
        ])
        .args(["--rate", "150", "--idle-sockets", "50"])
        // A loaded CI machine can keep the shard off the CPU for the CPU
        // limit's wall-time backstop (500 ms at the default 50 ms); the
        // hour-long run in bench/RESULTS.md saw that once. This test is
        // about leaks and failures of the runtime, not of the machine.
        .args(["--cpu-limit-ms", "1000"])
        .arg("--json")
        .arg(&json)
        .arg("--svg")
        .arg(json.with_extension("svg"))
        .output()
        .expect("ringworker-bench soak runs");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success(), "the soak failed:\n{out}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("the JSON report")).unwrap();
    assert_eq!(report["passed"], true, "{out}");
    assert_eq!(report["failures"], 0, "{out}");
    let samples = report["samples"].as_array().unwrap();
    assert!(samples.len() >= 25, "{} samples:\n{out}", samples.len());
    // Real traffic, and real readings of the server.
    assert!(report["requests"].as_u64().unwrap() > 3000, "{out}");
    for s in samples {
        assert!(
            s["rss_bytes"].as_u64().unwrap() > 0 && s["fds"].as_u64().unwrap() > 0,
            "{s}"
        );
        assert!(
            s["heap_bytes"].as_u64().unwrap() > 0,
            "no V8 heap reading: {s}"
        );
    }
    let svg = std::fs::read_to_string(json.with_extension("svg")).expect("the chart");
    assert!(svg.starts_with("<svg") && svg.contains("RSS"), "{svg}");
    let _ = std::fs::remove_file(&json);
    let _ = std::fs::remove_file(json.with_extension("svg"));
}
