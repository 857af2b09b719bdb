//! The JS API test runner: every `isolate/tests/js/*.test.js` runs inside a
//! real isolate on a real shard (served, then fetched over a socket); each
//! file reports "passed N failed M" plus one line per failure. A second test
//! runs `harness-fails.js`, whose tests must all fail, to show the harness
//! and this runner report a failure as one.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use ringworker::WorkerOptions;

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("isolate/tests/js")
}

/// One file's report: its counts and its failure lines.
struct Report {
    passed: usize,
    failed: usize,
    text: String,
}

/// Serves `file` in a real isolate and GETs its report.
fn run_file(file: &Path) -> Result<Report, String> {
    let mut options = WorkerOptions::new(file);
    // Generous CPU limit: a whole test file may run in one entry into JS.
    options.cpu_limit = std::time::Duration::from_secs(5);
    options.expose_internals = true;
    // A first line `// compatibility_flags: a, b` runs the file with those flags.
    let source = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    if let Some(flags) = source
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("// compatibility_flags:"))
    {
        options.compat_flags = flags.split(',').map(|f| f.trim().to_string()).collect();
    }
    let srv = ringworker::serve_worker(test_config(), options)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let resp = roundtrip(
        srv.local_addr(),
        b"GET /run HTTP/1.1\r\nHost: js-tests\r\n\r\n",
    );
    srv.shutdown();
    srv.join().unwrap();
    let text = resp.text();
    let first = text.lines().next().unwrap_or("");
    let counts: Vec<&str> = first.split_whitespace().collect();
    match counts[..] {
        ["passed", p, "failed", f] if resp.status == 200 => Ok(Report {
            passed: p.parse().map_err(|_| format!("bad count in {first:?}"))?,
            failed: f.parse().map_err(|_| format!("bad count in {first:?}"))?,
            text,
        }),
        _ => Err(format!(
            "{}: no report (status {}): {text}",
            file.display(),
            resp.status
        )),
    }
}

#[test]
fn js_api_tests_pass_inside_a_real_isolate() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(js_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.js"))
        // RINGWORKER_JS_TESTS=name runs only the files whose name contains it.
        .filter(|p| match std::env::var("RINGWORKER_JS_TESTS") {
            Ok(only) => p.to_string_lossy().contains(&only),
            Err(_) => true,
        })
        .collect();
    files.sort();
    // All of them, unless a filter picked some (then at least one).
    let least = if std::env::var_os("RINGWORKER_JS_TESTS").is_some() {
        1
    } else {
        5
    };
    assert!(
        files.len() >= least,
        "JS tests missing in {}",
        js_dir().display()
    );
    let mut failures = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        match run_file(&file) {
            Ok(r) => {
                eprintln!("{name}: passed {} failed {}", r.passed, r.failed);
                if r.failed > 0 || r.passed == 0 {
                    failures.push(format!("{name}: {}", r.text));
                }
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(
        failures.is_empty(),
        "JS test failures:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_js_harness_reports_failing_hung_and_sloppy_tests_as_failures() {
    let r = run_file(&js_dir().join("harness-fails.js")).unwrap();
    let failures: Vec<&str> = r.text.lines().filter(|l| l.starts_with("FAIL ")).collect();
    // Each expected failure: the test's name and a piece of its message.
    let expected = [
        ("fails: assert(false)", "deliberate"),
        (
            "fails: an async test that throws after an await",
            "different objects that look alike",
        ),
        ("fails: throws a non-error", "a plain string"),
        (
            "fails: the old try/assert(false)/catch pattern with a promise that resolves",
            "expected Error(\"Error\", \"expected\"), got AssertionError",
        ),
        (
            "fails: an assertRejects that is not awaited, though it would pass",
            "not awaited",
        ),
        (
            "fails: an assertRejectsWith that is not awaited and would fail",
            "not awaited",
        ),
        (
            "fails: hangs past the test timeout",
            "did not finish within 200 ms",
        ),
        (
            "fails: a sync test that returns normally but left a pending check",
            "not awaited",
        ),
    ];
    for (name, detail) in expected {
        let line = failures
            .iter()
            .find(|l| l.starts_with(&format!("FAIL {name}: ")))
            .unwrap_or_else(|| panic!("{name:?} was not reported as failing:\n{}", r.text));
        assert!(line.contains(detail), "{name:?}: {line:?} lacks {detail:?}");
    }
    assert_eq!(
        (r.passed, r.failed, failures.len()),
        (1, expected.len(), expected.len()),
        "{}",
        r.text
    );
}
