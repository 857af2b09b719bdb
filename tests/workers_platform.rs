//! The rest of the Workers platform end to end, through the real CLI and
//! real sockets: cron triggers (`scheduled()`), HTMLRewriter, the Cache API
//! and nodejs_compat.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::cli::*;
use common::*;

/// A wrangler project in a fresh directory: `wrangler.toml` and `worker.js`.
fn project(name: &str, toml: &str, script: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ringworker-platform-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("worker.js"), script).unwrap();
    let config = dir.join("wrangler.toml");
    std::fs::write(&config, toml).unwrap();
    config
}

/// `text` without terminal colour codes (the log is coloured).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

const CRON_WORKER: &str = r#"
export default {
  async fetch() { return new Response("ok"); },
  async scheduled(controller, env, ctx) {
    if (controller.cron === "fail") throw new Error("cron failed on purpose");
    if (controller.cron === "no-retry") { controller.noRetry(); throw new Error("once"); }
    await new Promise((r) => setTimeout(r, 1));
    ctx.waitUntil(Promise.resolve());
    console.log(`scheduled ran cron=${controller.cron} at=${controller.scheduledTime} type=${controller.type}`);
  },
};
"#;

#[test]
fn cron_triggers_run_scheduled_on_one_shard_at_each_minute_of_a_fast_clock() {
    let config = project(
        "cron",
        "name = \"cron\"\nmain = \"worker.js\"\n\n[triggers]\ncrons = [\"* * * * *\", \"*/2 * * * *\"]\n",
        CRON_WORKER,
    );
    // 2026-06-07 12:00:00 UTC, minus 50 ms; 600x: a minute every 100 ms.
    let start: i64 = 1_780_833_600_000 - 50;
    let cli = Cli::start_shards(
        &[
            "--config".as_ref(),
            config.as_os_str(),
            "--cron-start-ms".as_ref(),
            start.to_string().as_ref(),
            "--cron-speed".as_ref(),
            "600".as_ref(),
        ],
        2,
    );
    std::thread::sleep(Duration::from_millis(450));
    let log = strip_ansi(&cli.stop());
    let runs: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("scheduled ran"))
        .collect();
    let every: Vec<&str> = runs
        .iter()
        .copied()
        .filter(|l| l.contains("cron=* * * * *"))
        .collect();
    let even: Vec<&str> = runs
        .iter()
        .copied()
        .filter(|l| l.contains("cron=*/2 * * * *"))
        .collect();
    assert!(every.len() >= 3, "{log}");
    assert!(!even.is_empty() && even.len() < every.len(), "{log}");
    assert!(
        runs.iter().all(|l| l.contains("shard=0")),
        "one shard runs the schedule:\n{log}"
    );
    assert!(log.contains("at=1780833600000 type=scheduled"), "{log}");
    // Each minute once, on the minute.
    let mut times: Vec<&str> = every
        .iter()
        .map(|l| l.split("at=").nth(1).unwrap().split(' ').next().unwrap())
        .collect();
    let n = times.len();
    times.dedup();
    assert_eq!(times.len(), n, "{log}");
    assert!(
        times
            .iter()
            .all(|t| t.parse::<i64>().unwrap() % 60_000 == 0)
    );
}

#[test]
fn an_invalid_cron_is_a_startup_error_naming_its_line() {
    let config = project(
        "badcron",
        "name = \"bad\"\nmain = \"worker.js\"\n\n[triggers]\ncrons = [\n  \"0 * * * *\",\n  \"61 * * * *\",\n]\n",
        CRON_WORKER,
    );
    let out = std::process::Command::new(ringworker_bin())
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("wrangler.toml:7:"), "{err}");
    assert!(err.contains("61 * * * *"), "{err}");

    let no_handler = project(
        "nohandler",
        "main = \"worker.js\"\n[triggers]\ncrons = [\"* * * * *\"]\n",
        "export default { fetch() { return new Response('x'); } };\n",
    );
    let out = std::process::Command::new(ringworker_bin())
        .args(["serve", "--config"])
        .arg(&no_handler)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no scheduled("));
}

#[test]
fn the_test_scheduled_route_runs_the_handler_only_when_enabled() {
    let script = write_script("cron-route.js", CRON_WORKER);
    let cli = Cli::start(&[script.as_os_str(), "--test-scheduled".as_ref()]);
    let a = cli.addr;
    let ok = get(a, "/__scheduled?cron=*+*+*+*+*&time=1000");
    assert_eq!(
        (ok.status, ok.text().as_str()),
        (200, "Ran scheduled event")
    );
    let failed = get(a, "/__scheduled?cron=fail");
    assert_eq!(failed.status, 500);
    assert!(
        failed.text().contains("cron failed on purpose"),
        "{}",
        failed.text()
    );
    assert_eq!(failed.header("ringworker-no-retry"), None);
    let once = get(a, "/__scheduled?cron=no-retry");
    assert_eq!(once.status, 500);
    assert_eq!(once.header("ringworker-no-retry"), Some("true"));
    let log = cli.stop();
    assert!(
        log.contains("scheduled ran cron=* * * * * at=1000"),
        "{log}"
    );

    // Without the flag the route is the script's.
    let cli = Cli::start(&[script.as_os_str()]);
    let plain = get(cli.addr, "/__scheduled?cron=*");
    cli.stop();
    assert_eq!((plain.status, plain.text().as_str()), (200, "ok"));
}

#[test]
fn the_cache_is_one_per_process_whichever_shard_a_request_lands_on() {
    let script = write_script(
        "cache-shards.js",
        r#"export default {
          async fetch(req) {
            const u = new URL(req.url);
            const key = "https://cached.example/" + u.searchParams.get("k");
            if (u.pathname === "/put") {
              await caches.default.put(key, new Response("v-" + u.searchParams.get("k"), { headers: { "cache-control": "max-age=60" } }));
              return new Response("stored");
            }
            if (u.pathname === "/delete") return new Response(String(await caches.default.delete(key)));
            const hit = await caches.default.match(key);
            return new Response(hit ? await hit.text() : "miss");
          },
        };"#,
    );
    let mut cfg = test_config();
    cfg.shards = 2;
    let srv = ringworker::serve_worker(cfg, ringworker::WorkerOptions::new(script)).unwrap();
    let a = srv.local_addr();
    // Each request on a new connection: SO_REUSEPORT spreads them over both
    // shards, so keys are put on one shard and read on either.
    for k in 0..24 {
        assert_eq!(get(a, &format!("/put?k={k}")).text(), "stored");
    }
    for round in 0..3 {
        for k in 0..24 {
            assert_eq!(
                get(a, &format!("/get?k={k}")).text(),
                format!("v-{k}"),
                "round {round}"
            );
        }
    }
    assert_eq!(get(a, "/get?k=nope").text(), "miss");
    assert_eq!(get(a, "/delete?k=3").text(), "true");
    for _ in 0..4 {
        assert_eq!(get(a, "/get?k=3").text(), "miss");
    }
    let served: Vec<u64> = srv.stats().iter().map(|s| s.requests).collect();
    assert!(
        served.iter().all(|&n| n > 0),
        "both shards served: {served:?}"
    );
    srv.shutdown();
    srv.join().unwrap();
}

/// `tests/node_compat/worker.js` bundled with esbuild as wrangler bundles a
/// nodejs_compat worker (the packages come from `npm ci` in that folder,
/// which `.ci/run` does).
fn bundle_node_compat_worker() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node_compat");
    assert!(
        dir.join("node_modules/esbuild").exists(),
        "tests/node_compat/node_modules is missing: run `npm ci --prefix tests/node_compat` (see the README's set-up)"
    );
    let out =
        std::env::temp_dir().join(format!("ringworker-node-compat-{}.js", std::process::id()));
    let status = std::process::Command::new("node")
        .current_dir(&dir)
        .args(["build.mjs", "worker.js"])
        .arg(&out)
        .status()
        .expect("node runs esbuild");
    assert!(status.success(), "esbuild failed");
    out
}

#[test]
fn npm_code_bundled_by_esbuild_runs_with_nodejs_compat() {
    let bundle = bundle_node_compat_worker();
    let cli = Cli::start_shards(
        &[
            bundle.as_os_str(),
            "--compat-flag".as_ref(),
            "nodejs_compat".as_ref(),
            "--var".as_ref(),
            "SECRET=s3cr3t".as_ref(),
        ],
        2,
    );
    let a = cli.addr;
    assert_eq!(get(a, "/env").text(), "s3cr3t|function");
    let signed = get_json(a, "/sign?v=hello");
    assert_eq!(signed["back"], "hello");
    assert_eq!(signed["tampered"], false);
    assert!(signed["signed"].as_str().unwrap().starts_with("hello."));
    assert_eq!(get(a, "/events?v=hi").text(), "aGk=");
    // Hono's contextStorage(): every concurrent request sees its own context
    // after awaits and timers (AsyncLocalStorage through continuations).
    let threads: Vec<_> = (0..16)
        .map(|i| {
            std::thread::spawn(move || {
                let raw = format!(
                    "GET /ctx?ms={} HTTP/1.1\r\nHost: t\r\nX-Id: req-{i}\r\n\r\n",
                    16 - i
                );
                (i, roundtrip(a, raw.as_bytes()).text())
            })
        })
        .collect();
    for t in threads {
        let (i, text) = t.join().unwrap();
        assert_eq!(text, format!("req-{i}"));
    }
    let log = cli.stop();
    assert!(!log.contains("ERROR"), "{log}");

    // Without the flag, the node: imports are refused at start, naming it.
    let out = std::process::Command::new(ringworker_bin())
        .arg("serve")
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nodejs_compat"), "{err}");
}

#[test]
fn the_html_rewriter_example_rewrites_its_origin_through_curl() {
    let config =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/html-rewriter/wrangler.toml");
    // (A debug build rewrites slowly: a generous CPU limit per entry.)
    let cli = Cli::start(&[
        "--config".as_ref(),
        config.as_os_str(),
        "--cpu-limit-ms".as_ref(),
        "5000".as_ref(),
    ]);
    let curl = |path: &str| {
        let out = std::process::Command::new("curl")
            .args(["-sS", "-i", "--max-time", "10"])
            .arg(format!("http://{}{path}", cli.addr))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let raw = curl("/origin/?rows=3");
    let page = curl("/?rows=1000");
    let log = cli.stop();
    assert!(raw.contains("href=\"http://shop.example/item/1\""), "{raw}");
    assert!(raw.contains("<x-include src=\"banner\">"));
    let (head, body) = page.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "streamed: {head}"
    );
    assert!(
        body.contains("<title>Catalogue · ringworker</title>"),
        "{body}"
    );
    assert!(body.contains("<p class=\"banner\">Free shipping this week!</p>"));
    assert!(!body.contains("x-include"));
    assert_eq!(
        body.matches("href=\"https://shop.example/item/").count(),
        1000
    );
    assert!(!body.contains("http://shop.example"));
    assert_eq!(body.matches("loading=\"lazy\"").count(), 1000);
    assert!(
        !body.contains("generated by the origin"),
        "comments removed"
    );
    assert!(
        body.ends_with("<!-- rewritten by ringworker -->\n"),
        "{}",
        &body[body.len() - 80..]
    );
    assert!(!log.contains("ERROR"), "{log}");
}

#[test]
fn a_stream_whose_pull_is_terminated_ends_the_response_instead_of_hanging() {
    // The pull spins after an await: the CPU limit terminates it in a later
    // entry than the one that made the response.
    let script = write_script(
        "spin-pull.js",
        r#"export default {
          fetch() {
            return new Response(new ReadableStream({
              async pull(c) {
                c.enqueue(new TextEncoder().encode("first"));
                await new Promise((r) => setTimeout(r, 1));
                for (;;) {}
              },
            }, { highWaterMark: 0 }));
          },
        };"#,
    );
    let cli = Cli::start(&[script.as_os_str(), "--cpu-limit-ms".as_ref(), "20".as_ref()]);
    let mut s = connect(cli.addr);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    std::io::Write::write_all(
        &mut s,
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut got = Vec::new();
    let r = std::io::Read::read_to_end(&mut s, &mut got);
    let text = String::from_utf8_lossy(&got).into_owned();
    cli.stop();
    assert!(
        r.is_ok(),
        "the connection must close, not hang: {r:?} after {text:?}"
    );
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("first"), "{text}");
    assert!(!text.ends_with("0\r\n\r\n"), "not a clean end: {text:?}");
}
