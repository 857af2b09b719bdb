//! Workers-style scripts end to end: the real CLI binary and in-process
//! servers running real V8 isolates, talked to over real sockets (and curl).

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::cli::*;
use common::*;
use ringworker::Timeouts;
use ringworker_isolate::{JsHandler, JsRuntime, WorkerOptions};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn js_server(main: PathBuf, vars: &[(&str, &str)], shards: usize) -> ringworker::Server {
    let mut options = WorkerOptions::new(main);
    options.vars = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    js_server_with(options, shards, Timeouts::default().cancel_grace)
}

/// A server for `options` on `shards` shards with a cancellation grace period
/// of `grace`.
fn js_server_with(options: WorkerOptions, shards: usize, grace: Duration) -> ringworker::Server {
    let mut cfg = test_config();
    cfg.shards = shards;
    cfg.timeouts.cancel_grace = grace;
    ringworker::serve_worker(cfg, options).expect("script loads")
}

fn get(addr: SocketAddr, path: &str) -> Resp {
    roundtrip(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: test.local\r\nX-Test: abc\r\n\r\n").as_bytes(),
    )
}

#[test]
fn hello_js_answers_over_keepalive_on_every_shard() {
    // Isolates start from the snapshot made at build time (build.rs), unless
    // V8's flags were changed for a diagnosis.
    if std::env::var_os("RINGWORKER_V8_FLAGS").is_none() {
        assert!(ringworker::use_builtin_snapshot());
    }
    let srv = js_server(examples().join("hello.js"), &[], 2);
    let mut r = Reader::new(connect(srv.local_addr()));
    for _ in 0..100 {
        r.stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let resp = r.response(false).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.text(), "Hello World");
        assert_eq!(
            resp.header("content-type"),
            Some("text/plain;charset=UTF-8")
        );
    }
}

#[test]
fn json_api_routes_env_timers_and_imports() {
    let srv = js_server(
        examples().join("json-api/worker.js"),
        &[("GREETING", "hi from env")],
        1,
    );
    let a = srv.local_addr();
    let resp = get(a, "/hello");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.text(), r#"{"greeting":"hi from env","method":"GET"}"#);

    let t0 = Instant::now();
    let resp = get(a, "/later");
    assert_eq!(resp.text(), "waited");
    assert!(
        t0.elapsed() >= Duration::from_millis(19),
        "the timer was honoured"
    );

    let resp = get(a, "/headers");
    assert!(resp.text().contains(r#""x-test":"abc""#), "{}", resp.text());
    assert_eq!(get(a, "/missing").status, 404);
}

#[test]
fn concurrent_requests_waiting_on_timers_share_one_isolate() {
    let srv = js_server(examples().join("json-api/worker.js"), &[], 1);
    let a = srv.local_addr();
    let t0 = Instant::now();
    let handles: Vec<_> = (0..20)
        .map(|_| std::thread::spawn(move || get(a, "/later").text()))
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), "waited");
    }
    // Twenty 20 ms waits overlap on one shard instead of queueing.
    assert!(
        t0.elapsed() < Duration::from_millis(400),
        "{:?}",
        t0.elapsed()
    );
}

#[test]
fn uncaught_exception_is_a_500_and_the_isolate_keeps_serving() {
    let srv = js_server(examples().join("json-api/worker.js"), &[], 1);
    let a = srv.local_addr();
    assert_eq!(get(a, "/throw").status, 500);
    assert_eq!(get(a, "/hello").status, 200);
}

#[test]
fn rejected_promises_and_bad_return_values_are_500s() {
    let p = write_script(
        "reject.js",
        r#"export default {
            async fetch(req) {
                if (req.url.endsWith("/reject")) throw new TypeError("nope");
                if (req.url.endsWith("/string")) return "not a response";
                return new Response(new Uint8Array([104, 105]));
            },
        };"#,
    );
    let srv = js_server(p, &[], 1);
    let a = srv.local_addr();
    assert_eq!(get(a, "/reject").status, 500);
    assert_eq!(get(a, "/string").status, 500);
    assert_eq!(get(a, "/bytes").text(), "hi");
}

#[test]
fn startup_errors_name_file_line_and_column_and_exit_nonzero() {
    let bad = write_script(
        "syntax.js",
        "export default {\n  fetch() { return new Response(\"x\" }\n};\n",
    );
    let out = Command::new(ringworker_bin())
        .args(["serve"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("syntax.js:2:"), "{err}");
    assert!(err.contains("SyntaxError"), "{err}");

    let nofetch = write_script("nofetch.js", "export default { hello() {} };\n");
    let out = Command::new(ringworker_bin())
        .args(["serve"])
        .arg(&nofetch)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no fetch"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let missing_import = write_script(
        "imports.js",
        "import { x } from './nowhere.js';\nexport default { fetch() {} };\n",
    );
    let out = Command::new(ringworker_bin())
        .args(["serve"])
        .arg(&missing_import)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("./nowhere.js"));
}

#[test]
fn cli_serves_a_wrangler_project_to_curl() {
    let config = examples().join("json-api/wrangler.toml");
    let cli = Cli::start(&["--config".as_ref(), config.as_os_str()]);
    let url = format!("http://{}/hello", cli.addr);
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", &url])
        .output()
        .unwrap();
    cli.stop();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        r#"{"greeting":"hi from wrangler.toml","method":"GET"}"#
    );
}

#[test]
fn runaway_script_is_terminated_with_503_and_the_shard_keeps_serving() {
    let p = write_script(
        "spin.js",
        r#"export default {
            fetch(req) {
                if (req.url.endsWith("/spin")) { for (;;) {} }
                if (req.url.endsWith("/spin-later")) {
                    return new Promise((resolve) => setTimeout(() => { for (;;) {} }, 1));
                }
                return new Response("still here");
            },
        };"#,
    );
    let srv = js_server(p, &[], 1);
    let a = srv.local_addr();
    // The default CPU limit is 50 ms: the 503 comes after it (wall time is
    // at least the CPU time), and within 20x of it: a thread preempted on a
    // loaded 2-core box is not charged for the time off the CPU, so its
    // 50 ms of CPU can take a few hundred ms of wall time.
    let limit = WorkerOptions::new("x.js").cpu_limit;
    assert_eq!(limit, Duration::from_millis(50));
    let t0 = Instant::now();
    let resp = get(a, "/spin");
    let took = t0.elapsed();
    assert_eq!(resp.status, 503);
    assert!(took >= limit && took < limit * 20, "{took:?}");
    // The isolate is usable again right away, and timers that spin are
    // stopped too: that request gets its own 503, just as promptly.
    assert_eq!(get(a, "/ok").text(), "still here");
    let t0 = Instant::now();
    let mut r = Reader::new(connect(a));
    r.stream
        .write_all(b"GET /spin-later HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let resp = r.response(false).unwrap();
    let took = t0.elapsed();
    assert_eq!(resp.status, 503, "{}", resp.text());
    assert!(took >= limit && took < limit * 20, "{took:?}");
    assert_eq!(get(a, "/ok").text(), "still here");
}

#[test]
fn runaway_top_level_code_fails_startup_instead_of_hanging() {
    let p = write_script(
        "spin-top.js",
        "for (;;) {}\nexport default { fetch() {} };\n",
    );
    let mut o = WorkerOptions::new(p);
    o.startup_limit = Duration::from_millis(100);
    let err = JsRuntime::new(o).unwrap_err().to_string();
    assert!(err.contains("terminated"), "{err}");
}

/// Deterministic bytes, so a dropped or reordered chunk changes the checksum.
fn payload(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x12345678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn echo_js_streams_request_bodies_back_byte_exact() {
    let srv = js_server(examples().join("echo.js"), &[], 1);
    let data = payload(8 << 20);
    for chunked in [false, true] {
        let s = connect(srv.local_addr());
        let mut w = s.try_clone().unwrap();
        let d = data.clone();
        let writer = std::thread::spawn(move || {
            if chunked {
                w.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                    .unwrap();
                for part in d.chunks(100_000) {
                    write!(w, "{:x}\r\n", part.len()).unwrap();
                    w.write_all(part).unwrap();
                    w.write_all(b"\r\n").unwrap();
                }
                w.write_all(b"0\r\n\r\n").unwrap();
            } else {
                write!(
                    w,
                    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                    d.len()
                )
                .unwrap();
                w.write_all(&d).unwrap();
            }
        });
        let resp = Reader::new(s).response(false).unwrap();
        writer.join().unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body.len(), data.len(), "chunked={chunked}");
        assert!(resp.body == data, "echoed bytes differ (chunked={chunked})");
    }
}

#[test]
fn request_body_methods_read_the_streamed_body() {
    let p = write_script(
        "read-body.js",
        r#"export default {
            async fetch(req) {
                if (req.url.endsWith("/json")) {
                    const v = await req.json();
                    return Response.json({ got: v, used: req.bodyUsed });
                }
                if (req.url.endsWith("/text")) {
                    const t = await req.text();
                    return Response.json([...t].map((c) => c.codePointAt(0)));
                }
                if (req.url.endsWith("/twice")) {
                    await req.text();
                    try { await req.text(); } catch (e) { return new Response(`${e.name}: ${e.message}`); }
                }
                const b = await req.arrayBuffer();
                return new Response(`${b.byteLength}`);
            },
        };"#,
    );
    let srv = js_server(p, &[], 1);
    let a = srv.local_addr();
    let body = r#"{"a":[1,2,3]}"#;
    assert_eq!(
        post(a, "/json", body.as_bytes()),
        r#"{"got":{"a":[1,2,3]},"used":true}"#
    );
    // Whole when the handler runs: taken at once; chunked, the same.
    let raw = format!(
        "POST /json HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    assert_eq!(
        roundtrip(a, raw.as_bytes()).text(),
        r#"{"got":{"a":[1,2,3]},"used":true}"#
    );
    // The body still on its way when the handler runs: it waits for it.
    let mut s = connect(a);
    s.write_all(
        format!(
            "POST /json HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{}",
            body.len(),
            &body[..4]
        )
        .as_bytes(),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    s.write_all(&body.as_bytes()[4..]).unwrap();
    let resp = Reader::new(s).response(false).expect("a response");
    assert_eq!(resp.text(), r#"{"got":{"a":[1,2,3]},"used":true}"#);
    // text(): UTF-8 with a leading BOM dropped and bad bytes as U+FFFD.
    for (bytes, want) in [
        (&b"\xEF\xBB\xBFhi"[..], "[104,105]"),
        (&b"a\xC3\xA9\xF0\x9F\x98\x80"[..], "[97,233,128512]"),
        (&b"a\xFFb\xE2\x82"[..], "[97,65533,98,65533]"),
    ] {
        assert_eq!(post(a, "/text", bytes), want, "{bytes:?}");
    }
    assert!(post(a, "/twice", b"hi").starts_with("TypeError"));
    assert_eq!(post(a, "/len", &vec![b'z'; 300_000]), "300000");
}

/// POSTs `body` (with a Content-Length) to `path`; the response's text.
fn post(a: SocketAddr, path: &str, body: &[u8]) -> String {
    let mut raw = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    roundtrip(a, &raw).text()
}

#[test]
fn stream_js_sends_chunks_as_they_are_produced() {
    let srv = js_server(examples().join("stream.js"), &[], 1);
    let resp = get(srv.local_addr(), "/?chunks=64&size=1024");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
    assert_eq!(resp.body.len(), 64 * 1024);
    assert!(resp.body.iter().all(|&b| b == b'x'));
    // With a pause between chunks, the first bytes arrive long before the last.
    let mut s = connect(srv.local_addr());
    s.write_all(b"GET /?chunks=5&size=10&interval=60 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let t0 = Instant::now();
    let mut seen = Vec::new();
    let mut first_at = None;
    while !seen.ends_with(b"0\r\n\r\n") {
        let mut buf = [0u8; 4096];
        let n = std::io::Read::read(&mut s, &mut buf).unwrap();
        assert!(n > 0, "connection closed mid-stream");
        first_at.get_or_insert_with(|| t0.elapsed());
        seen.extend_from_slice(&buf[..n]);
    }
    let first_at = first_at.unwrap();
    let total = t0.elapsed();
    assert!(
        first_at < Duration::from_millis(150),
        "head and first chunk came after {first_at:?}"
    );
    assert!(
        total >= Duration::from_millis(240),
        "the whole stream took only {total:?}"
    );
}

#[test]
fn service_worker_syntax_is_served_too() {
    let p = write_script(
        "sw.js",
        r#"addEventListener("fetch", (event) => {
            event.respondWith(handle(event.request));
        });
        async function handle(request) {
            return new Response(`sw: ${request.method} ${GREETING}`);
        }"#,
    );
    let srv = js_server(p, &[("GREETING", "hello")], 1);
    assert_eq!(get(srv.local_addr(), "/").text(), "sw: GET hello");

    let p = write_script(
        "sw-none.js",
        r#"addEventListener("fetch", (event) => { /* never responds */ });"#,
    );
    let srv = js_server(p, &[], 1);
    assert_eq!(get(srv.local_addr(), "/").status, 500);
}

#[test]
fn an_isolate_out_of_heap_is_replaced_and_the_shard_keeps_serving() {
    let p = write_script(
        "hog.js",
        r#"let served = 0;
        const hoard = [];
        export default {
            fetch(req) {
                served++;
                if (req.url.endsWith("/hog")) {
                    for (;;) hoard.push(new Array(100000).fill(served));
                }
                if (req.url.endsWith("/wait")) {
                    return new Promise(() => {}); // never settles on its own
                }
                return new Response(`served ${served}`);
            },
        };"#,
    );
    let mut o = WorkerOptions::new(p);
    o.heap_limit = 48 << 20;
    o.cpu_limit = Duration::from_secs(10); // the heap limit must be what stops it
    let srv = ringworker::try_serve(test_config(), move |_| JsHandler::start(o.clone())).unwrap();
    let a = srv.local_addr();
    assert_eq!(get(a, "/a").text(), "served 1");
    assert_eq!(get(a, "/b").text(), "served 2");
    // A request left waiting on the old isolate fails cleanly when it goes.
    let waiting = std::thread::spawn(move || get(a, "/wait").status);
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    assert_eq!(get(a, "/hog").status, 503);
    assert_eq!(waiting.join().unwrap(), 503);
    assert!(t0.elapsed() < Duration::from_secs(5));
    // A fresh isolate: the module state starts over.
    assert_eq!(get(a, "/c").text(), "served 1");
    assert_eq!(get(a, "/d").text(), "served 2");
}

#[test]
fn floating_rejections_are_logged_and_the_request_still_answers() {
    let p = write_script(
        "floating.js",
        r#"export default {
            fetch() {
                Promise.reject(new Error("nobody catches this"));
                const handledLater = Promise.reject(new Error("caught later"));
                handledLater.catch(() => {});
                return new Response("fine");
            },
        };"#,
    );
    let cli = Cli::start(&[p.as_os_str()]);
    assert_eq!(get(cli.addr, "/").text(), "fine");
    cli.child.wait_for_log(
        "Uncaught (in promise) Error: nobody catches this",
        Duration::from_secs(5),
    );
    let err = cli.stop();
    assert!(
        err.contains("Uncaught (in promise) Error: nobody catches this"),
        "{err}"
    );
    assert!(!err.contains("caught later"), "{err}");
}

#[test]
fn a_client_leaving_is_seen_by_the_script_which_may_clean_up() {
    let p = write_script(
        "disconnect.js",
        r#"const seen = [];
        export default {
            async fetch(request) {
                const path = new URL(request.url).pathname;
                if (path === "/report") return Response.json(seen);
                if (path === "/wait") {
                    // Non-streaming: the handler waits; request.signal tells it the client left.
                    await new Promise((resolve) => request.signal.addEventListener("abort", resolve));
                    seen.push(`request.signal: ${request.signal.reason.name}: ${request.signal.reason.message}`);
                    return new Response("nobody reads this");
                }
                let ticker;
                const body = new ReadableStream({
                    start(controller) {
                        controller.signal.addEventListener("abort", () => {
                            seen.push(`controller.signal aborted: ${controller.signal.reason.message}`);
                            try {
                                controller.enqueue(new Uint8Array([1]));
                                seen.push("enqueue did not throw");
                            } catch (e) {
                                seen.push(`enqueue threw ${e.name}: ${e.message}`);
                            }
                            try {
                                controller.close();
                                seen.push("close is safe");
                            } catch (e) {
                                seen.push(`close threw ${e}`);
                            }
                            clearInterval(ticker);
                        });
                        ticker = setInterval(() => {
                            try { controller.enqueue(new TextEncoder().encode("tick\n")); } catch {}
                        }, 5);
                    },
                    cancel(reason) {
                        seen.push(`cancel(${reason.name})`);
                    },
                });
                return new Response(body);
            },
        };"#,
    );
    let srv = js_server(p, &[], 1);
    let a = srv.local_addr();
    let mut s = connect(a);
    s.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 256];
    let n = std::io::Read::read(&mut s, &mut buf).unwrap();
    assert!(n > 0);
    drop(s); // FIN mid-stream

    let mut w = connect(a);
    w.write_all(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    drop(w); // FIN while the handler waits

    let wants = [
        "controller.signal aborted: The client disconnected (client disconnected)",
        "enqueue threw TypeError: Cannot enqueue: client disconnected",
        "close is safe",
        "cancel(AbortError)",
        "request.signal: AbortError: The client disconnected (client disconnected)",
    ];
    wait_for(
        Duration::from_secs(5),
        &format!("all of {wants:?} in /report"),
        || {
            let report = get(a, "/report").text();
            wants.iter().all(|w| report.contains(w)).then_some(())
        },
    );
}

#[test]
fn long_chains_of_zero_delay_timers_do_not_nest() {
    // glommio runs a spawned task at once; a timer fired inside the entry
    // that scheduled it would nest until the JS stack overflowed (~150 deep).
    let p = write_script(
        "chain.js",
        r#"export default {
            fetch() {
                return new Promise((resolve) => {
                    let i = 0;
                    const step = () => (++i >= 3000 ? resolve(new Response(`done ${i}`)) : setTimeout(step, 0));
                    setTimeout(step, 0);
                });
            },
        };"#,
    );
    let srv = js_server(p, &[], 1);
    assert_eq!(get(srv.local_addr(), "/").text(), "done 3000");
}

#[test]
fn sse_clock_notices_curl_killed_by_timeout() {
    let sse = examples().join("sse.js");
    let cli = Cli::start(&[sse.as_os_str()]);
    let addr = cli.addr;
    // curl -N streams until `timeout` kills it.
    let out = Command::new("timeout")
        .args(["0.5", "curl", "-sN", &format!("http://{addr}/?interval=50")])
        .output()
        .unwrap();
    let events = String::from_utf8_lossy(&out.stdout);
    assert!(events.matches("event: tick").count() >= 3, "{events}");
    cli.child
        .wait_for_log("sse: client left after", Duration::from_secs(5));
    cli.stop();
}

#[test]
fn many_streams_with_some_clients_leaving_leave_the_rest_byte_exact() {
    raise_nofile();
    let srv = js_server(examples().join("stream.js"), &[], 1);
    let a = srv.local_addr();
    // 1,000 streams of 32 x 1 KiB at 2 ms per chunk; every 10th client
    // leaves early (half by FIN, half by RST).
    let mut conns: Vec<(usize, Reader)> = (0..1000)
        .map(|i| {
            let mut r = Reader::new(connect(a));
            r.stream
                .write_all(b"GET /?chunks=32&size=1024&interval=2 HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            (i, r)
        })
        .collect();
    let mut leavers = Vec::new();
    conns.retain_mut(|(i, r)| {
        if *i % 10 == 0 {
            let mut buf = [0u8; 64];
            let _ = std::io::Read::read(&mut r.stream, &mut buf);
            let how = if *i % 20 == 0 { Leave::Rst } else { Leave::Fin };
            leavers.push((r.stream.try_clone().unwrap(), how));
            false
        } else {
            true
        }
    });
    assert_eq!(leavers.len(), 100);
    for (s, how) in leavers {
        leave(s, how);
    }
    for (i, mut r) in conns {
        let resp = r
            .response(false)
            .unwrap_or_else(|e| panic!("stream {i}: {e}"));
        assert_eq!(
            resp.body.len(),
            32 * 1024,
            "stream {i}: {} {:?} {:?}",
            resp.status,
            resp.headers,
            String::from_utf8_lossy(&resp.body[..resp.body.len().min(300)])
        );
        assert!(resp.body.iter().all(|&b| b == b'x'), "stream {i} corrupted");
    }
}

/// How a test client leaves mid-response.
#[derive(Debug, Clone, Copy)]
enum Leave {
    /// close(): the server's pending read completes with 0 bytes.
    Fin,
    /// SO_LINGER 0 then close(): the server's read fails with ECONNRESET.
    Rst,
}

fn leave(s: std::net::TcpStream, how: Leave) {
    match how {
        Leave::Rst => {
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
            drop(s);
        }
        Leave::Fin => {
            // close() with unread bytes would send RST: shut down the sending
            // side (FIN) and keep reading until the server closes.
            s.shutdown(std::net::Shutdown::Write).unwrap();
            std::thread::spawn(move || {
                let mut s = s;
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut buf = [0u8; 16 << 10];
                while matches!(std::io::Read::read(&mut s, &mut buf), Ok(n) if n > 0) {}
            });
        }
    }
}

/// Opens `path` and reads until the first bytes of the response arrived.
fn open_stream(a: SocketAddr, path: &str) -> std::net::TcpStream {
    let mut s = connect(a);
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut buf = [0u8; 256];
    let n = std::io::Read::read(&mut s, &mut buf).unwrap();
    assert!(n > 0);
    s
}

const GRACE_SCRIPT: &str = r#"const seen = [];
const ticks = {};
export default {
    async fetch(request, env, ctx) {
        const url = new URL(request.url);
        const name = url.searchParams.get("name");
        switch (url.pathname) {
            case "/report": return Response.json({ seen, ticks });
            case "/wait":
                // Non-streaming: the handler waits; request.signal tells it the client left.
                await new Promise((resolve) => request.signal.addEventListener("abort", resolve));
                seen.push(`${name}: request.signal ${request.signal.reason.name}: ${request.signal.reason.message}`);
                return new Response("nobody reads this");
            case "/ignore":
                // Keeps producing (and swallowing enqueue's error) forever: only the
                // grace period stops it.
                ticks[name] = 0;
                return new Response(new ReadableStream({
                    async start(controller) {
                        controller.signal.addEventListener("abort", () => {
                            seen.push(`${name}: aborted`);
                            setTimeout(() => seen.push(`${name}: cleanup within grace`), 10);
                            setTimeout(() => seen.push(`${name}: timer after grace`), 250);
                            if (url.searchParams.has("save")) {
                                ctx.waitUntil(new Promise((r) => setTimeout(r, 200))
                                    .then(() => seen.push(`${name}: saved by waitUntil`)));
                            }
                        });
                        // (Work scheduled after an await still belongs to this request.)
                        await new Promise((r) => setTimeout(r, 1));
                        setInterval(() => {
                            ticks[name]++;
                            try { controller.enqueue(new TextEncoder().encode("tick\n")); } catch {}
                        }, 2);
                    },
                }));
        }
        return new Response("?", { status: 404 });
    },
};"#;

fn report(a: SocketAddr) -> serde_json::Value {
    serde_json::from_str(&get(a, "/report").text()).unwrap()
}

#[test]
fn after_the_grace_period_a_script_that_ignores_the_disconnect_stops_running() {
    let p = write_script("grace.js", GRACE_SCRIPT);
    let srv = js_server_with(WorkerOptions::new(p), 1, Duration::from_millis(50));
    let a = srv.local_addr();

    for how in [Leave::Fin, Leave::Rst] {
        let gone = format!("gone-{how:?}");
        let stays = format!("stays-{how:?}");
        let mut staying = Reader::new(connect(a));
        staying
            .stream
            .write_all(format!("GET /ignore?name={stays} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        leave(open_stream(a, &format!("/ignore?name={gone}")), how);
        // Past the grace period (50 ms), the ticker of the request that was
        // left stops (it ticks every 2 ms: 100 ms without one is stopped);
        // the other one goes on.
        settled(
            Duration::from_millis(100),
            Duration::from_secs(5),
            "the abandoned request's ticks",
            || report(a)["ticks"][&gone].clone(),
        );
        let r1 = report(a);
        std::thread::sleep(Duration::from_millis(200));
        let r2 = report(a);
        assert_eq!(
            r1["ticks"][&gone], r2["ticks"][&gone],
            "{how:?}: the abandoned request kept running: {r1} then {r2}"
        );
        assert!(
            r2["ticks"][&stays].as_u64() > r1["ticks"][&stays].as_u64(),
            "{how:?}: the other request was stopped too: {r1} then {r2}"
        );
        let seen = r2["seen"].to_string();
        assert!(seen.contains(&format!("{gone}: aborted")), "{seen}");
        assert!(
            seen.contains(&format!("{gone}: cleanup within grace")),
            "{seen}"
        );
        assert!(
            !seen.contains(&format!("{gone}: timer after grace")),
            "{seen}"
        );
        assert!(!seen.contains(&format!("{stays}: aborted")), "{seen}");
        // The request that stayed is still streaming ticks.
        let mut buf = [0u8; 64];
        let n = std::io::Read::read(&mut staying.stream, &mut buf).unwrap();
        assert!(n > 0);
        leave(staying.stream, how);
    }
}

#[test]
fn wait_until_work_of_a_cancelled_request_runs_to_completion() {
    let p = write_script("grace-save.js", GRACE_SCRIPT);
    let srv = js_server_with(WorkerOptions::new(p), 1, Duration::from_millis(50));
    let a = srv.local_addr();
    let t0 = Instant::now();
    leave(open_stream(a, "/ignore?name=saver&save"), Leave::Rst);
    // waitUntil's 200 ms of work (past the 50 ms grace) finishes...
    wait_for(Duration::from_secs(5), "saved by waitUntil", || {
        let seen = report(a)["seen"].to_string();
        seen.contains("saver: saved by waitUntil").then_some(())
    });
    assert!(t0.elapsed() >= Duration::from_millis(200));
    // ...and its request's other timers stop once it did (a tick every
    // 2 ms: 100 ms without one is stopped).
    let r1 = report(a);
    let ticks = settled(
        Duration::from_millis(100),
        Duration::from_secs(5),
        "the saved request's ticks",
        || report(a)["ticks"]["saver"].clone(),
    );
    assert!(ticks.as_u64().unwrap() > 0, "{r1}");
}

#[test]
fn request_signal_aborts_on_fin_rst_and_a_killed_curl() {
    let p = write_script("signal.js", GRACE_SCRIPT);
    let srv = js_server(p, &[], 1);
    let a = srv.local_addr();
    for how in [Leave::Fin, Leave::Rst] {
        let mut s = connect(a);
        s.write_all(format!("GET /wait?name={how:?} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        std::thread::sleep(Duration::from_millis(30));
        leave(s, how);
    }
    let out = Command::new("timeout")
        .args(["0.3", "curl", "-sN", &format!("http://{a}/wait?name=curl")])
        .output()
        .unwrap();
    assert!(out.stdout.is_empty());
    let seen = wait_for(Duration::from_secs(5), "three aborts", || {
        let seen = report(a)["seen"].to_string();
        (seen.matches("request.signal AbortError").count() >= 3).then_some(seen)
    });
    for who in ["Fin", "Rst", "curl"] {
        let want = format!("{who}: request.signal AbortError: The client disconnected");
        assert!(seen.contains(&want), "missing {want:?} in {seen}");
    }
    assert!(
        seen.contains(
            "Rst: request.signal AbortError: The client disconnected (client connection reset)"
        ),
        "{seen}"
    );
}

#[test]
fn scripts_do_not_see_the_internal_stream_hooks() {
    let p = write_script(
        "internals.js",
        r#"export default {
            fetch() {
                return new Response(String(globalThis[Symbol.for("ringworker.internal.streams")]));
            },
        };"#,
    );
    let srv = js_server(p, &[], 1);
    assert_eq!(get(srv.local_addr(), "/").text(), "undefined");
}

/// With a long idle wait in the shard's ring, script timers still fire on
/// time (their deadlines end the wait), requests are answered at once, and
/// shutdown is prompt.
#[test]
fn idle_ring_wait_keeps_timers_requests_and_shutdown_prompt() {
    let dir = std::env::temp_dir().join(format!("rw-idle-wait-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let main = dir.join("timer.js");
    std::fs::write(
        &main,
        "export default { async fetch() {\n\
           const t0 = performance.now();\n\
           await new Promise((r) => setTimeout(r, 20));\n\
           return new Response(`${performance.now() - t0}`);\n\
         } };\n",
    )
    .unwrap();
    let mut cfg = test_config();
    cfg.idle_ring_wait = Duration::from_millis(300);
    let srv = ringworker::serve_worker(cfg, WorkerOptions::new(&main)).expect("script loads");
    for _ in 0..5 {
        // Let the shard go idle (into its ring wait) first.
        std::thread::sleep(Duration::from_millis(50));
        let t0 = Instant::now();
        let r = get(srv.local_addr(), "/");
        let waited: f64 = r.text().parse().unwrap();
        assert!(
            (19.0..150.0).contains(&waited),
            "the 20 ms timer took {waited} ms"
        );
        assert!(
            t0.elapsed() < Duration::from_millis(250),
            "{:?}",
            t0.elapsed()
        );
    }
    let t0 = Instant::now();
    srv.shutdown();
    srv.join().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Streams whose request is over (read to the end, or left by the client)
/// must not outlive it in V8's young generation. They did: the streams
/// implementation assigned function literals straight to properties
/// (`c.pullSteps = (r) => ...`), which V8 allocates in old space as likely
/// long-lived methods, and each dead old-space closure kept its request's
/// young objects alive through every scavenge until a full GC. Scavenges
/// then copied ~1 MB each (1.5-4 ms pauses, the tail of the disconnect
/// benchmark); now they keep a few KB.
#[test]
fn streams_whose_request_is_over_do_not_survive_young_collections() {
    let script = write_script(
        "young.js",
        r#"const line = new TextEncoder().encode("data: tick\n\n");
export default {
    fetch(request) {
        const close = request.url.endsWith("?close");
        const body = new ReadableStream({
            start(controller) {
                controller.signal.addEventListener("abort", () => {});
                controller.enqueue(line);
                if (close) controller.close();
            },
            cancel() {},
        });
        return new Response(body, { headers: { "content-type": "text/event-stream" } });
    },
};"#,
    );
    let srv = js_server(script, &[], 1);
    let a = srv.local_addr();
    // Four clients, each a new connection per request: half read the stream
    // to its end, half reset the connection after the first bytes.
    let clients: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..600 {
                    if (i + t) % 2 == 0 {
                        let r = roundtrip(
                            a,
                            b"GET /?close HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                        );
                        assert_eq!(r.status, 200);
                    } else {
                        leave(open_stream(a, "/"), Leave::Rst);
                    }
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let v8 = srv.stats()[0].v8;
    assert!(
        v8.minor_gc_count >= 3,
        "expected young collections over 2,400 streams: {v8:?}"
    );
    let kept = v8.minor_gc_survived_bytes / v8.minor_gc_count;
    assert!(
        kept < 128 << 10,
        "each young collection kept {kept} bytes on average (streams outlived their requests): {v8:?}"
    );
}

/// V8 finishes some work on the isolate's thread through tasks it posts to
/// the platform: an asynchronous WebAssembly compile or instantiate resolves
/// only when that task runs, and FinalizationRegistry callbacks are such
/// tasks too. (Nothing ran them once: `await WebAssembly.instantiate(bytes)`
/// never settled.)
#[test]
fn async_webassembly_and_finalization_callbacks_complete() {
    let script = write_script(
        "tasks.js",
        r#"// (module (func (export "add") (param i32 i32) (result i32)
//   local.get 0 local.get 1 i32.add))
const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 7, 1, 96, 2, 127, 127, 1, 127,
    3, 2, 1, 0, 7, 7, 1, 3, 97, 100, 100, 0, 0, 10, 9, 1, 7, 0, 32, 0, 32, 1, 106, 11]);
let cleaned = 0;
const registry = new FinalizationRegistry(() => { cleaned++; });
export default {
    async fetch(request) {
        const path = new URL(request.url).pathname;
        if (path === "/instantiate") {
            const { instance } = await WebAssembly.instantiate(bytes);
            return new Response(String(instance.exports.add(2, 3)));
        }
        if (path === "/compile") {
            const module = await WebAssembly.compile(bytes);
            const instance = await WebAssembly.instantiate(module);
            return new Response(String(instance.exports.add(20, 22)));
        }
        // Garbage with finalizers; the callbacks run some time after a GC.
        for (let i = 0; i < 2000; i++) registry.register({ pad: new Array(64) }, i);
        return new Response(String(cleaned));
    },
};"#,
    );
    let srv = js_server(script, &[], 1);
    let a = srv.local_addr();
    assert_eq!(get(a, "/instantiate").text(), "5");
    assert_eq!(get(a, "/compile").text(), "42");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let cleaned: u64 = get(a, "/garbage").text().parse().unwrap();
        if cleaned > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no FinalizationRegistry callback ran"
        );
    }
}

/// The CPU limit counts the shard thread's CPU time, not the wall time of
/// an entry: a thread that is not running (here blocked in `Atomics.wait`;
/// in practice preempted on a busy machine) is not charged for it, while a
/// loop that spins as long is stopped.
#[test]
fn time_off_the_cpu_is_not_charged_to_the_cpu_limit() {
    let script = write_script(
        "offcpu.js",
        r#"export default {
    fetch(request) {
        const t0 = Date.now();
        if (request.url.endsWith("/spin")) {
            // Far past the 50 ms of CPU even for a thread that gets a small
            // share of a loaded machine (it spun 150 ms of wall time, which
            // on a busy 2-core box held less than 50 ms of CPU: a 200).
            while (Date.now() - t0 < 5000) {}
        } else {
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 150);
        }
        return new Response(`after ${Date.now() - t0} ms`);
    },
};"#,
    );
    let mut options = WorkerOptions::new(script);
    options.cpu_limit = Duration::from_millis(50);
    let srv = js_server_with(options, 1, Timeouts::default().cancel_grace);
    let a = srv.local_addr();
    let r = get(a, "/wait");
    assert_eq!(r.status, 200, "{}", r.text());
    let t0 = Instant::now();
    assert_eq!(get(a, "/spin").status, 503);
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
}
