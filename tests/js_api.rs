//! The JS API test runner: every `isolate/tests/js/*.test.js` runs inside a
//! real isolate on a real shard (served, then fetched over a socket); each
//! file reports "passed N failed M" plus one line per failure.

mod common;

use std::path::PathBuf;

use common::*;
use ringworker::WorkerOptions;

#[test]
fn js_api_tests_pass_inside_a_real_isolate() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("isolate/tests/js");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.js"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no JS tests found in {}", dir.display());
    let mut failures = Vec::new();
    let mut total = 0;
    for file in files {
        let mut options = WorkerOptions::new(&file);
        // Generous CPU limit: a whole test file may run in one entry into JS.
        options.cpu_limit = std::time::Duration::from_secs(5);
        options.expose_internals = true;
        let srv = ringworker::serve_worker(test_config(), options)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let resp = roundtrip(
            srv.local_addr(),
            b"GET /run HTTP/1.1\r\nHost: js-tests\r\n\r\n",
        );
        let report = resp.text();
        eprintln!(
            "{}: {}",
            file.file_name().unwrap().to_string_lossy(),
            report.lines().next().unwrap_or("")
        );
        let first = report.lines().next().unwrap_or("").to_string();
        let mut words = first.split_whitespace();
        let passed: usize = match (words.next(), words.next()) {
            (Some("passed"), Some(n)) => n.parse().unwrap_or(0),
            _ => {
                failures.push(format!(
                    "{}: no report (status {}): {report}",
                    file.display(),
                    resp.status
                ));
                continue;
            }
        };
        total += passed;
        failures.extend(
            report
                .lines()
                .skip(1)
                .map(|l| format!("{}: {l}", file.display())),
        );
        srv.shutdown();
        srv.join().unwrap();
    }
    assert!(
        failures.is_empty(),
        "{} JS test failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(total > 0);
}
