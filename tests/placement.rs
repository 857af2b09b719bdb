//! Shards run on the CPUs the process was given (`taskset`, a cpuset),
//! never on CPU ids outside them; `--shards` defaults to how many there are.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::{Spawned, spawn_listening};

/// The highest CPU this test may use: with two or more, not CPU 0, so a
/// shard pinned to "CPU number = shard number" would show.
fn a_cpu() -> usize {
    *ringworker_core::cpus::allowed_cpus()
        .unwrap()
        .last()
        .expect("at least one CPU")
}

fn hello() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/hello.js")
}

/// `taskset -c CPUS ringworker serve hello.js --listen 127.0.0.1:0 ARGS`.
fn serve_on(cpus: &str, args: &[&str]) -> Command {
    let mut c = Command::new("taskset");
    c.args(["-c", cpus])
        .arg(env!("CARGO_BIN_EXE_ringworker"))
        .arg("serve")
        .arg(hello())
        .args(["--listen", "127.0.0.1:0"])
        .args(args);
    c
}

/// (thread name, Cpus_allowed_list) of every `shard-N` thread of `srv`.
fn shard_cpus(srv: &Spawned) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{}/task", srv.child.id())).unwrap() {
        let status = std::fs::read_to_string(t.unwrap().path().join("status")).unwrap();
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
                .unwrap()
        };
        let name = field("Name:");
        if name.starts_with("shard-") {
            out.push((name, field("Cpus_allowed_list:")));
        }
    }
    out.sort();
    out
}

#[test]
fn a_pinned_shard_runs_on_the_cpu_taskset_gave() {
    let cpu = a_cpu();
    let srv = spawn_listening(serve_on(&cpu.to_string(), &["--shards", "1"]));
    let shards = shard_cpus(&srv);
    assert!(!shards.is_empty(), "no shard thread found");
    for (name, cpus) in &shards {
        assert_eq!(
            cpus,
            &cpu.to_string(),
            "{name} runs outside `taskset -c {cpu}`"
        );
    }
}

#[test]
fn shards_default_to_the_allowed_cpus() {
    let cpu = a_cpu();
    let srv = spawn_listening(serve_on(&cpu.to_string(), &[]));
    let names: std::collections::BTreeSet<_> =
        shard_cpus(&srv).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        vec!["shard-0".to_string()],
        "one allowed CPU, one shard"
    );
}

#[test]
fn more_pinned_shards_than_cpus_fail_at_start_naming_both() {
    let cpu = a_cpu();
    let out: Output = serve_on(&cpu.to_string(), &["--shards", "2"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "it started anyway");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 pinned shards"), "{err}");
    assert!(err.contains(&format!("only 1 CPU(s) ({cpu})")), "{err}");
    assert!(err.contains("--no-pin"), "{err}");
}

#[test]
fn unpinned_shards_stay_inside_the_allowed_set() {
    let cpu = a_cpu();
    let srv = spawn_listening(serve_on(&cpu.to_string(), &["--shards", "2", "--no-pin"]));
    let shards = shard_cpus(&srv);
    let names: std::collections::BTreeSet<_> = shards.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(names.len(), 2, "{shards:?}");
    for (name, cpus) in &shards {
        assert_eq!(cpus, &cpu.to_string(), "{name}");
    }
}
