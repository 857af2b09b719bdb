//! Real npm libraries as a Workers project uses them: Hono (`parseBody` with
//! multipart and urlencoded forms, `hono/compress`) and itty-router, pinned
//! in `tests/npm/package.json`, bundled with esbuild the way wrangler
//! bundles a worker, served by `ringworker serve` and driven with curl.
//! `.ci/run` installs them (`npm ci --prefix tests/npm`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::cli::*;

fn npm_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/npm")
}

/// Bundles `entry` (in tests/npm) as wrangler does: one ES module, the
/// workerd/worker/browser export conditions, no Node built-ins.
fn bundle(entry: &str) -> PathBuf {
    let esbuild = npm_dir().join("node_modules/.bin/esbuild");
    assert!(
        esbuild.exists(),
        "{} is missing: install the test packages with `npm ci --prefix tests/npm` (.ci/run does)",
        esbuild.display()
    );
    let dir = std::env::temp_dir().join(format!("ringworker-npm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(entry);
    let status = Command::new(&esbuild)
        .arg(npm_dir().join(entry))
        .args([
            "--bundle",
            "--format=esm",
            "--platform=neutral",
            "--target=es2022",
            "--conditions=workerd,worker,browser",
            "--main-fields=workerd,worker,browser,module,main",
            "--log-level=warning",
        ])
        .arg(format!("--outfile={}", out.display()))
        .status()
        .expect("run esbuild");
    assert!(status.success(), "esbuild failed on {entry}");
    out
}

/// curl ARGS against `url`: (status, lower-cased headers, body).
fn curl(url: &str, args: &[&str]) -> (u16, String, Vec<u8>) {
    let head = std::env::temp_dir().join(format!(
        "ringworker-npm-head-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-D"])
        .arg(&head)
        .args(args)
        .arg(url)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {args:?} {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let headers = std::fs::read_to_string(&head).unwrap().to_ascii_lowercase();
    let _ = std::fs::remove_file(&head);
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, headers, out.stdout)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

fn serve(bundle: &Path) -> Cli {
    Cli::start(&[bundle.as_os_str()])
}

#[test]
fn hono_parses_forms_and_compresses_responses() {
    let cli = serve(&bundle("hono-app.js"));
    let base = format!("http://{}", cli.addr);

    let (status, _, body) = curl(&format!("{base}/"), &[]);
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8_lossy(&body),
        "hello from workerd",
        "Hono recognizes a Workers runtime by navigator.userAgent"
    );

    // parseBody: multipart with repeated fields and a file.
    let upload = std::env::temp_dir().join(format!("ringworker-npm-{}.csv", std::process::id()));
    std::fs::write(&upload, "a,b\n1,2\n").unwrap();
    let file_arg = format!("upload=@{};type=text/csv", upload.display());
    let (status, _, body) = curl(
        &format!("{base}/form"),
        &[
            "-F", "name=ada", "-F", "tag=a", "-F", "tag=b", "-F", &file_arg,
        ],
    );
    let _ = std::fs::remove_file(&upload);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v = json(&body);
    assert_eq!(v["name"], serde_json::json!(["ada"]));
    assert_eq!(v["tag"], serde_json::json!(["a", "b"]));
    let file = &v["upload"][0];
    assert!(file["file"].as_str().unwrap().ends_with(".csv"), "{v}");
    assert_eq!(file["type"], "text/csv");
    assert_eq!(file["size"], 8);
    assert_eq!(file["text"], "a,b\n1,2\n");

    // parseBody: urlencoded.
    let (status, _, body) = curl(
        &format!("{base}/form"),
        &["--data", "x=1&y=two+words&y=%C3%A9"],
    );
    assert_eq!(status, 200);
    assert_eq!(
        json(&body),
        serde_json::json!({ "x": ["1"], "y": ["two words", "é"] })
    );

    // hono/compress: gzip, deflate, or nothing, as the client accepts.
    let text = "compressible text, ".repeat(4000);
    let (status, headers, raw) = curl(&format!("{base}/big"), &["-H", "Accept-Encoding: gzip"]);
    assert_eq!(status, 200);
    assert!(headers.contains("content-encoding: gzip"), "{headers}");
    assert_eq!(&raw[..2], &[0x1f, 0x8b], "a gzip stream");
    assert!(
        raw.len() < text.len() / 20,
        "{} bytes for {}",
        raw.len(),
        text.len()
    );
    let (_, _, plain) = curl(&format!("{base}/big"), &["--compressed"]);
    assert_eq!(
        String::from_utf8_lossy(&plain),
        text,
        "curl decompresses it back"
    );
    let (_, headers, raw) = curl(&format!("{base}/big"), &["-H", "Accept-Encoding: deflate"]);
    assert!(headers.contains("content-encoding: deflate"), "{headers}");
    assert_eq!(raw[0], 0x78, "a zlib stream");
    let (_, headers, raw) = curl(&format!("{base}/big"), &["-H", "Accept-Encoding: identity"]);
    assert!(!headers.contains("content-encoding"), "{headers}");
    assert_eq!(raw.len(), text.len());

    let (status, _, _) = curl(&format!("{base}/nope"), &[]);
    assert_eq!(status, 404);
    let log = cli.stop();
    assert!(!log.contains("Uncaught"), "{log}");
}

#[test]
fn itty_router_routes_requests() {
    let cli = serve(&bundle("itty-app.js"));
    let base = format!("http://{}", cli.addr);
    let (status, headers, body) = curl(&format!("{base}/items/42?q=x"), &[]);
    assert_eq!(status, 200);
    assert!(
        headers.contains("content-type: application/json"),
        "{headers}"
    );
    assert_eq!(json(&body), serde_json::json!({ "id": "42", "q": "x" }));
    let (status, _, body) = curl(
        &format!("{base}/echo"),
        &[
            "-H",
            "Content-Type: application/json",
            "--data",
            r#"{"a":[1,2]}"#,
        ],
    );
    assert_eq!(status, 200);
    assert_eq!(
        json(&body),
        serde_json::json!({ "got": { "a": [1, 2] }, "type": "application/json" })
    );
    let (_, _, body) = curl(&format!("{base}/pattern"), &[]);
    assert_eq!(
        json(&body),
        serde_json::json!({ "matched": true, "agent": "Cloudflare-Workers" })
    );
    let (status, _, body) = curl(&format!("{base}/missing"), &[]);
    assert_eq!(status, 404);
    assert_eq!(json(&body)["error"], "nothing here");
    cli.stop();
}
