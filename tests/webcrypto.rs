//! WebCrypto end to end, over real sockets with `ringworker serve`:
//! round trips with Python's `cryptography` for every algorithm, and real
//! npm libraries (hono's jwt / basic-auth / bearer-auth / etag middleware,
//! jose) bundled with esbuild as wrangler bundles them (format esm,
//! platform browser, target es2022, conditions workerd/worker/browser).
//!
//! Needs `npm ci` in tests/npm (`.ci/run` does it) and Python 3 with the
//! `cryptography` package.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `ringworker serve SCRIPT` on a free port, up and accepting; killed on drop.
struct Serve {
    child: Child,
    addr: SocketAddr,
}

impl Serve {
    fn start(script: &Path) -> Serve {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringworker"))
            .arg("serve")
            .arg(script)
            .args(["--listen", &addr.to_string(), "--shards", "1", "--no-pin"])
            // RSA and P-521 work in a debug build takes more than the
            // default 50 ms of CPU per entry.
            .args(["--cpu-limit-ms", "5000"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ringworker serve");
        let t0 = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("ringworker serve {} exited: {status}", script.display());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the server did not come up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Serve { child, addr }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Bundles `tests/npm/workers/NAME` with the installed esbuild, the way
/// wrangler does, into a fresh directory; returns the bundle's path.
fn bundle(name: &str) -> PathBuf {
    let npm = root().join("tests/npm");
    let esbuild = npm.join("node_modules/.bin/esbuild");
    assert!(
        esbuild.exists(),
        "{} is missing: run `npm ci` in tests/npm (the README's set-up; .ci/run does it)",
        esbuild.display()
    );
    let out = std::env::temp_dir().join(format!("ringworker-npm-{}-{name}", std::process::id()));
    let status = Command::new(&esbuild)
        .arg(npm.join("workers").join(name))
        .args([
            "--bundle",
            "--format=esm",
            "--platform=browser",
            "--target=es2022",
            "--conditions=workerd,worker,browser",
            "--log-level=warning",
        ])
        .arg(format!("--outfile={}", out.display()))
        .current_dir(&npm)
        .status()
        .expect("run esbuild");
    assert!(status.success(), "esbuild failed for {name}");
    out
}

fn python(script: &str, url: &str) -> String {
    let out = Command::new("python3")
        .arg(root().join("tests/scripts").join(script))
        .arg(url)
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The number in Python's "...: N checks ok".
fn checks(report: &str) -> usize {
    report
        .split_whitespace()
        .rev()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no check count in {report:?}"))
}

fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let mut raw = format!("{method} {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    for (k, v) in headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    raw.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    roundtrip(addr, raw.as_bytes())
}

#[test]
fn every_algorithm_round_trips_with_python_cryptography() {
    let srv = Serve::start(&root().join("tests/scripts/webcrypto-rpc.js"));
    let report = python("webcrypto_interop.py", &format!("http://{}/", srv.addr));
    assert!(checks(&report) >= 50, "{report}");
}

#[test]
fn jose_signs_and_verifies_jwts_with_python() {
    let srv = Serve::start(&bundle("jose.js"));
    let report = python("jwt_interop.py", &format!("http://{}", srv.addr));
    assert!(checks(&report) >= 20, "{report}");
}

#[test]
fn hono_jwt_basic_auth_bearer_auth_and_etag_run_unchanged() {
    let srv = Serve::start(&bundle("hono-auth.js"));
    let a = srv.addr;
    // hono/jwt: a token it signs passes its middleware; a tampered one does not.
    let token = get(a, "/token");
    assert_eq!(token.status, 200, "{}", token.text());
    let token = token.text();
    assert_eq!(token.split('.').count(), 3, "{token}");
    let bearer = format!("Bearer {token}");
    let me = request(a, "GET", "/jwt/me", &[("Authorization", &bearer)], "");
    assert_eq!(me.status, 200, "{}", me.text());
    let payload: serde_json::Value = serde_json::from_slice(&me.body).unwrap();
    assert_eq!(
        (payload["sub"].as_str(), payload["role"].as_str()),
        (Some("ada"), Some("admin"))
    );
    let mut forged = token.clone();
    forged.replace_range(forged.len() - 3.., "AAA");
    let bad = request(
        a,
        "GET",
        "/jwt/me",
        &[("Authorization", &format!("Bearer {forged}"))],
        "",
    );
    assert_eq!(bad.status, 401);
    assert_eq!(get(a, "/jwt/me").status, 401, "no token");
    // A token from elsewhere, through hono's verify().
    let other = request(
        a,
        "POST",
        "/verify",
        &[("Content-Type", "application/json")],
        &format!(r#"{{"token":"{token}","secret":"a-secret-long-enough-for-hs256!!"}}"#),
    );
    let v: serde_json::Value = serde_json::from_slice(&other.body).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    let wrong = request(
        a,
        "POST",
        "/verify",
        &[("Content-Type", "application/json")],
        &format!(r#"{{"token":"{token}","secret":"another-secret"}}"#),
    );
    let v: serde_json::Value = serde_json::from_slice(&wrong.body).unwrap();
    assert_eq!(v["ok"], false, "{v}");

    // hono/basic-auth and hono/bearer-auth compare SHA-256 digests.
    let good = request(
        a,
        "GET",
        "/basic/hi",
        &[("Authorization", "Basic YWRhOmxvdmVsYWNl")],
        "",
    );
    assert_eq!((good.status, good.text().as_str()), (200, "hello ada"));
    let bad = request(
        a,
        "GET",
        "/basic/hi",
        &[("Authorization", "Basic YWRhOmJhYmJhZ2U=")],
        "",
    );
    assert_eq!(bad.status, 401);
    let good = request(
        a,
        "GET",
        "/bearer/hi",
        &[("Authorization", "Bearer s3cret-token")],
        "",
    );
    assert_eq!((good.status, good.text().as_str()), (200, "bearer ok"));
    let bad = request(
        a,
        "GET",
        "/bearer/hi",
        &[("Authorization", "Bearer s3cret-tokem")],
        "",
    );
    assert_eq!(bad.status, 401);

    // hono/etag: the ETag is the body's SHA-1, and a match answers 304.
    let doc = get(a, "/etag/doc");
    assert_eq!(doc.status, 200);
    let etag = doc.header("etag").expect("an ETag header").to_string();
    use sha1::Digest as _;
    let sha1: String = sha1::Sha1::digest(&doc.body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(etag, format!("\"{sha1}\""));
    let again = request(a, "GET", "/etag/doc", &[("If-None-Match", &etag)], "");
    assert_eq!(again.status, 304);
}

#[test]
fn a_long_pbkdf2_runs_off_the_shard_while_it_keeps_serving() {
    let srv = Serve::start(&root().join("tests/scripts/webcrypto-offshard.js"));
    let a = srv.addr;
    // About a second of PBKDF2 on the blocking pool (~0.3 µs per iteration).
    let slow = std::thread::spawn(move || {
        let r = get(a, "/slow?iterations=3000000");
        (r.status, r.text(), Instant::now())
    });
    // While it runs, the shard answers other requests (inline, this
    // request would have to wait for it; its CPU limit would also end it).
    std::thread::sleep(Duration::from_millis(200));
    let mut answered = 0;
    let mut last = Instant::now();
    for _ in 0..20 {
        let r = get(a, "/fast");
        assert_eq!((r.status, r.text().as_str()), (200, "fast"));
        answered += 1;
        last = Instant::now();
    }
    let (status, text, done) = slow.join().unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.starts_with("32 bytes in "), "{text}");
    assert_eq!(answered, 20);
    assert!(
        last < done,
        "the fast requests were answered while PBKDF2 ran ({text})"
    );
}

#[test]
fn a_crypto_key_crosses_to_an_actor_on_another_shard_by_rpc() {
    use ringworker::{ActorBinding, ActorOptions, WorkerOptions};
    let mut cfg = test_config();
    cfg.shards = 2;
    let mut o = WorkerOptions::new(root().join("tests/scripts/webcrypto-actor.js"));
    o.cpu_limit = Duration::from_secs(5);
    o.actors = ActorOptions {
        bindings: vec![ActorBinding {
            binding: "SIGNER".into(),
            class: "Signer".into(),
        }],
        storage_dir: None,
        ..ActorOptions::default()
    };
    let srv = ringworker::serve_worker(cfg, o).expect("script loads");
    let a = srv.local_addr();
    // 24 actors spread over both shards, each called from connections that
    // land on either: about half the calls cross shards.
    for i in 0..24 {
        let r = get_json(a, &format!("/?name=n{i}"));
        assert_eq!(r["isKey"], true, "{r}");
        assert_eq!(
            r["slots"],
            serde_json::json!(["secret", false, {"name": "HMAC", "hash": {"name": "SHA-256"}, "length": 32}, ["sign"]]),
            "{r}"
        );
        let mac = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(
            (r["mac"].as_str(), r["storedMac"].as_str()),
            (Some(mac), Some(mac)),
            "{r}"
        );
        assert_eq!(
            r["exported"], "InvalidAccessError",
            "still not extractable: {r}"
        );
    }
    let stats = srv.stats();
    assert!(stats.iter().all(|s| s.requests > 0), "both shards served");
    assert!(
        stats.iter().all(|s| s.actors.activations > 0),
        "actors live on both shards: {:?}",
        stats
            .iter()
            .map(|s| s.actors.activations)
            .collect::<Vec<_>>()
    );
    srv.shutdown();
    srv.join().unwrap();
}
