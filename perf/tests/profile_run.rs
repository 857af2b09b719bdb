//! A short real profiling run: the server, the load generator and `perf`,
//! end to end, on examples/hello.js.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// ringworker-perf runs the `ringworker` and `ringworker-bench` binaries
/// built beside it; a filtered test run may not have built them.
fn build_siblings() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "ringworker", "-p", "ringworker-bench"])
        .current_dir(root())
        .status()
        .expect("run cargo");
    assert!(
        status.success(),
        "building ringworker and ringworker-bench failed"
    );
}

/// The runs pin to the same two cores: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn profile(out: &Path, path_env: Option<&Path>, extra: &[&str]) -> std::process::Output {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringworker-perf"));
    cmd.arg(root().join("examples/hello.js"))
        .args([
            "--scenario",
            "http",
            "-c",
            "8",
            "-d",
            "1s",
            "--warmup",
            "1s",
        ])
        .args(["--frequency", "4999"])
        .args(extra)
        .arg("--out")
        .arg(out);
    if let Some(p) = path_env {
        cmd.env("PATH", p);
    }
    cmd.output().expect("ringworker-perf runs")
}

#[test]
fn a_short_run_makes_a_flame_graph_with_js_frames_and_a_full_report() {
    build_siblings();
    let out = std::env::temp_dir().join(format!("ringworker-perf-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let run = profile(&out, None, &["--cpu-profile"]);
    assert!(
        run.status.success(),
        "ringworker-perf failed:\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );

    // The flame graph is SVG, with the script's fetch handler and the runtime in it.
    let svg = std::fs::read_to_string(out.join("flamegraph.svg")).expect("flamegraph.svg");
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true, // inferno writes the SVG 1.1 doctype
        ..Default::default()
    };
    let doc =
        roxmltree::Document::parse_with_options(&svg, opts).expect("the flame graph parses as XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let titles: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("title"))
        .filter_map(|n| n.text())
        .collect();
    assert!(
        titles
            .iter()
            .any(|t| t.starts_with("JS:") && t.contains("fetch") && t.contains("hello.js")),
        "no JS frame for hello.js's fetch among {} frames:\n{}",
        titles.len(),
        titles
            .iter()
            .filter(|t| t.starts_with("JS:"))
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        titles.iter().any(|t| t.starts_with("ringworker_")),
        "no runtime frame"
    );

    // report.json has every figure, with plausible values.
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let num = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k} missing: {r}"));
    assert!(num("requests") > 0.0);
    assert!(num("requests_per_s") > 0.0);
    assert!(num("server_cpu_us_per_req") > 0.0);
    assert!(num("server_cpu_user_us_per_req") > 0.0);
    assert!(num("server_cpu_sys_us_per_req") >= 0.0);
    for k in [
        "context_switches_per_req",
        "page_faults_per_req",
        "syscalls_per_req",
        "ring_enters_per_req",
    ] {
        assert!(num(k) >= 0.0, "{k}");
    }
    assert!(num("ring_submissions_per_req") > 0.0);
    assert!(num("ring_completions_per_req") > 0.0);
    assert!(r["latency_us"]["p99"].as_f64().unwrap() > 0.0);
    let shards = r["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 1);
    assert!(shards[0]["requests"].as_u64().unwrap() > 0);
    assert!(r["v8"]["heap_used_bytes"].as_u64().unwrap() > 0);
    assert!(r["v8"]["gc_count"].is_u64());
    assert!(
        matches!(r["sampling_event"].as_str(), Some("cpu-clock" | "cycles")),
        "{}",
        r["sampling_event"]
    );
    let top = r["top_functions"].as_array().unwrap();
    assert!(!top.is_empty() && top.len() <= 20);
    let origins = r["self_time_by_origin"].as_object().unwrap();
    assert!(
        origins.contains_key("kernel") && origins.contains_key("runtime"),
        "{origins:?}"
    );
    assert!(
        std::fs::read_to_string(out.join("report.md"))
            .unwrap()
            .contains("server CPU per request")
    );

    // --cpu-profile: a V8 CPU profile DevTools can load, with the handler in it.
    let profile: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("profile.cpuprofile")).unwrap())
            .expect("the CPU profile is JSON");
    let nodes = profile["nodes"].as_array().expect("profile nodes");
    assert!(profile["samples"].as_array().is_some_and(|s| !s.is_empty()));
    assert!(
        nodes
            .iter()
            .any(|n| n["callFrame"]["functionName"] == "fetch"
                && n["callFrame"]["url"]
                    .as_str()
                    .is_some_and(|u| u.ends_with("hello.js"))),
        "no node for hello.js's fetch in the CPU profile"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn without_perf_the_report_is_still_written_and_says_how_to_get_perf() {
    build_siblings();
    // A PATH with taskset but no perf.
    let bin = std::env::temp_dir().join(format!("ringworker-perf-noperf-{}", std::process::id()));
    std::fs::create_dir_all(&bin).unwrap();
    let taskset = Command::new("sh")
        .args(["-c", "command -v taskset"])
        .output()
        .unwrap();
    let taskset = String::from_utf8_lossy(&taskset.stdout).trim().to_string();
    let _ = std::os::unix::fs::symlink(&taskset, bin.join("taskset"));
    let out = bin.join("out");
    let run = profile(&out, Some(&bin), &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(String::from_utf8_lossy(&run.stderr).contains("apt-get install linux-perf"));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert!(r["requests"].as_u64().unwrap() > 0);
    assert!(r["perf_note"].as_str().unwrap().contains("linux-perf"));
    assert!(!out.join("flamegraph.svg").exists());
    let _ = std::fs::remove_dir_all(&bin);
}
