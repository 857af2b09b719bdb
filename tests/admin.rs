//! The admin listener end to end: `/metrics` read by a real Prometheus text
//! parser (Python's `prometheus_client`), `/stats`, `/readyz` through a
//! graceful shutdown, `/tail` with filters and a slow client, the
//! dashboard in headless Chromium, `ringworker tail` and the JSON logs.
//! The server runs `tests/scripts/admin.js`; every client is real.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::upstream::HttpUpstream;
use common::*;
use ringworker::{ActorBinding, AdminConfig, Config, WorkerOptions};
use serde_json::Value;
use tungstenite::Message;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/admin.js")
}

fn options(upstream: &str) -> WorkerOptions {
    let mut o = WorkerOptions::new(script());
    o.vars.push(("UPSTREAM".into(), upstream.into()));
    o.cpu_limit = Duration::from_millis(200);
    o.actors.bindings = vec![ActorBinding {
        binding: "COUNTER".into(),
        class: "Counter".into(),
    }];
    o.actors.storage_dir = None;
    o
}

/// A server with `shards` shards and an admin listener on a free port.
fn server(shards: usize, upstream: &str, tweak: impl FnOnce(&mut Config)) -> ringworker::Server {
    let mut cfg = test_config();
    cfg.shards = shards;
    cfg.admin = Some(AdminConfig::new("127.0.0.1:0".parse().unwrap()));
    tweak(&mut cfg);
    ringworker::serve_worker(cfg, options(upstream)).expect("script loads")
}

fn admin(srv: &ringworker::Server) -> SocketAddr {
    srv.admin_addr().expect("an admin listener")
}

/// Polls `cond` every 10 ms until it holds or `limit` passes.
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The families Python's `prometheus_client` parses out of `text`:
/// `{name: {"type": t, "samples": [[sample name, labels, value], ...]}}`.
fn parse_prometheus(text: &str) -> Value {
    const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    out[fam.name] = {"type": fam.type, "samples": [[s.name, s.labels, s.value] for s in fam.samples]}
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (README: Set-up)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client could not parse /metrics (pip install prometheus_client): {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The value of `sample` in family `family` whose labels include `labels`.
fn sample(fams: &Value, family: &str, sample: &str, labels: &[(&str, &str)]) -> f64 {
    let f = &fams[family];
    assert!(f.is_object(), "family {family} missing");
    let hits: Vec<f64> = f["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            s[0] == sample
                && labels.iter().all(|(k, v)| s[1][*k].as_str() == Some(*v))
                && labels.len() == s[1].as_object().unwrap().len()
        })
        .map(|s| s[2].as_f64().unwrap())
        .collect();
    assert_eq!(hits.len(), 1, "{family}/{sample} {labels:?}: {f}");
    hits[0]
}

/// `GET path` on the admin listener.
fn admin_get(srv: &ringworker::Server, path: &str) -> Resp {
    get(admin(srv), path)
}

#[test]
fn metrics_are_parsed_by_prometheus_client_and_match_what_was_sent() {
    let up = HttpUpstream::start();
    let srv = server(2, &up.url("/hello"), |_| {});
    let addr = srv.local_addr();
    for _ in 0..7 {
        assert_eq!(get(addr, "/ok").status, 200);
    }
    for _ in 0..3 {
        assert_eq!(get(addr, "/missing").status, 404);
    }
    for i in 0..2 {
        assert_eq!(get(addr, &format!("/throw?id={i}")).status, 500);
    }
    let spin = get(addr, "/spin");
    assert_eq!(spin.status, 503, "{}", spin.text());
    assert_eq!(get(addr, "/actor").text(), "1");
    assert_eq!(get(addr, "/fetch").text(), "hello");
    let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/ws")).unwrap();
    for m in ["one", "two"] {
        ws.send(Message::text(m)).unwrap();
        assert_eq!(ws.read().unwrap(), Message::text(m));
    }

    let scrape = admin_get(&srv, "/metrics");
    assert_eq!(scrape.status, 200);
    assert!(
        scrape
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        scrape.headers
    );
    let fams = parse_prometheus(&scrape.text());
    for name in ringworker::admin::metrics::family_names() {
        assert!(fams[&name].is_object(), "family {name} missing");
    }
    let total = |fam: &str, labels: &[(&str, &str)]| {
        let kind = fams[fam]["type"].as_str().unwrap();
        let name = if kind == "counter" {
            format!("{fam}_total")
        } else {
            fam.to_string()
        };
        sample(&fams, fam, &name, labels)
    };
    let status = |c| total("ringworker_requests", &[("status_class", c)]);
    assert_eq!(
        [
            status("1xx"),
            status("2xx"),
            status("3xx"),
            status("4xx"),
            status("5xx")
        ],
        [1.0, 9.0, 0.0, 3.0, 3.0]
    );
    let outcome = |o| total("ringworker_request_outcomes", &[("outcome", o)]);
    assert_eq!(
        [
            outcome("ok"),
            outcome("exception"),
            outcome("cpu_limit"),
            outcome("heap_limit"),
            outcome("client_disconnected")
        ],
        [13.0, 2.0, 1.0, 0.0, 0.0]
    );
    // The latency histogram: every request, summed and per shard.
    let h = "ringworker_request_duration_seconds";
    assert_eq!(sample(&fams, h, &format!("{h}_count"), &[]), 16.0);
    assert_eq!(
        sample(&fams, h, &format!("{h}_bucket"), &[("le", "+Inf")]),
        16.0
    );
    // The CPU-limited request took at least its 200 ms limit.
    assert!(sample(&fams, h, &format!("{h}_bucket"), &[("le", "0.025")]) <= 15.0);
    assert!(sample(&fams, h, &format!("{h}_sum"), &[]) >= 0.2);
    let hs = "ringworker_shard_request_duration_seconds";
    let per_shard: f64 = (0..2)
        .map(|i| {
            sample(
                &fams,
                hs,
                &format!("{hs}_count"),
                &[("shard", &i.to_string())],
            )
        })
        .sum();
    assert_eq!(per_shard, 16.0);
    let shard_reqs: f64 = ["0", "1"]
        .iter()
        .flat_map(|sh| {
            ["1xx", "2xx", "3xx", "4xx", "5xx"].map(|c| {
                sample(
                    &fams,
                    "ringworker_shard_requests",
                    "ringworker_shard_requests_total",
                    &[("shard", sh), ("status_class", c)],
                )
            })
        })
        .sum();
    assert_eq!(
        shard_reqs, 16.0,
        "the per-shard families add up to the sums"
    );
    assert_eq!(total("ringworker_connections_accepted", &[]), 16.0);
    assert_eq!(
        total("ringworker_connections_open", &[]),
        1.0,
        "the WebSocket"
    );
    assert_eq!(total("ringworker_websockets_open", &[]), 1.0);
    assert_eq!(total("ringworker_websockets_accepted", &[]), 1.0);
    assert_eq!(
        total(
            "ringworker_websocket_messages",
            &[("direction", "received")]
        ),
        2.0
    );
    assert_eq!(
        total("ringworker_websocket_messages", &[("direction", "sent")]),
        2.0
    );
    assert_eq!(total("ringworker_actors_resident", &[]), 1.0);
    assert_eq!(total("ringworker_actor_activations", &[]), 1.0);
    assert_eq!(total("ringworker_outbound_requests", &[]), 1.0);
    assert_eq!(total("ringworker_outbound_connects", &[]), 1.0);
    assert_eq!(total("ringworker_outbound_failures", &[]), 0.0);
    assert_eq!(
        total("ringworker_isolate_starts", &[]),
        2.0,
        "one per shard"
    );
    assert_eq!(total("ringworker_isolate_evictions", &[]), 0.0);
    assert_eq!(
        total("ringworker_v8_heap_limit_bytes", &[]),
        2.0 * 256.0 * 1048576.0
    );
    assert!(total("ringworker_v8_heap_used_bytes", &[]) > 0.0);
    assert_eq!(
        total("ringworker_keepalive_tokens_live", &[("kind", "websocket")]),
        0.0
    );
    assert_eq!(
        total(
            "ringworker_keepalive_tokens_ended",
            &[("cause", "cap_expired")]
        ),
        0.0
    );
    assert!(total("ringworker_received_bytes", &[]) > 15.0 * 30.0);
    assert!(total("ringworker_sent_bytes", &[]) > 15.0 * 60.0);
    assert!(total("ringworker_ring_enters", &[]) > 0.0);
    assert!(total("ringworker_ring_completions", &[]) > 0.0);
    assert!(total("ringworker_cpu_seconds", &[]) > 0.0);
    assert_eq!(total("ringworker_ready", &[]), 1.0);
    assert_eq!(total("ringworker_shards", &[]), 2.0);
    // Scrapes are not counted as requests.
    let again = parse_prometheus(&admin_get(&srv, "/metrics").text());
    assert_eq!(
        sample(&again, h, &format!("{h}_count"), &[]),
        16.0,
        "the admin listener's own requests are not in the metrics"
    );

    // /stats: the same figures as JSON.
    let stats = get_json(admin(&srv), "/stats");
    assert_eq!(stats["readiness"], "ready");
    assert_eq!(stats["shards"].as_array().unwrap().len(), 2);
    assert_eq!(stats["total"]["requests"], 16);
    assert_eq!(stats["total"]["status"]["5xx"], 3);
    assert_eq!(stats["total"]["outcomes"]["cpu_limit"], 1);
    assert_eq!(stats["total"]["latency_us"]["count"], 16);
    assert!(stats["total"]["shard"].is_null());
    let resident: Vec<&Value> = stats["shards"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["actor_report"]["resident"].as_array().unwrap())
        .collect();
    assert_eq!(resident.len(), 1, "{stats}");
    assert!(
        resident[0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("Counter:")
    );
    assert_eq!(admin_get(&srv, "/healthz").status, 200);
    assert_eq!(admin_get(&srv, "/readyz").text(), "ready\n");
    assert_eq!(admin_get(&srv, "/nope").status, 404);
    drop(ws);
    srv.shutdown();
    srv.join().unwrap();
}

/// A tail client: connected, and past the `attached` message.
fn tail_client(admin: SocketAddr, query: &str) -> tungstenite::WebSocket<TcpStream> {
    let s = connect(admin);
    let (mut ws, _) = tungstenite::client(format!("ws://{admin}/tail{query}"), s).unwrap();
    let hello: Value = serde_json::from_str(ws.read().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(hello["kind"], "attached", "{hello}");
    ws
}

/// The next event whose URL ends with `suffix`.
fn event_for(ws: &mut tungstenite::WebSocket<TcpStream>, suffix: &str) -> Value {
    loop {
        let msg = ws.read().expect("an event before the read timeout");
        let e: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
        if e["url"].as_str().is_some_and(|u| u.ends_with(suffix)) {
            return e;
        }
    }
}

#[test]
fn tail_streams_each_request_with_its_console_lines_and_request_id() {
    let srv = server(2, "http://127.0.0.1:1/", |c| {
        c.request_id_header = Some("x-request-id".into());
    });
    let addr = srv.local_addr();
    let mut all = tail_client(admin(&srv), "");
    let mut errors = tail_client(admin(&srv), "?status=error");
    let mut none = tail_client(admin(&srv), "?sampling=0");
    assert_eq!(get_json(admin(&srv), "/stats")["total"]["tail_clients"], 3);

    let r = get(addr, "/log?id=abc");
    assert_eq!(r.text(), "logged");
    let id = r
        .header("x-request-id")
        .expect("the request id header")
        .to_string();
    assert_eq!(id.len(), 16, "{id}");
    let e = event_for(&mut all, "/log?id=abc");
    assert_eq!(e["request_id"], id.as_str(), "{e}");
    assert_eq!(
        (e["status"].as_u64(), e["outcome"].as_str()),
        (Some(200), Some("ok"))
    );
    assert_eq!(
        (e["method"].as_str(), e["worker"].as_str()),
        (Some("GET"), Some("admin"))
    );
    let logs: Vec<(&str, &str)> = e["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["level"].as_str().unwrap(), l["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        logs,
        [
            ("log", "hello from /log abc"),
            ("warn", "after a timer abc")
        ],
        "console lines in order, the one after an await included"
    );
    assert!(e["cpu_ms"].as_f64().unwrap() > 0.0, "{e}");
    assert!(e["wall_ms"].as_f64().unwrap() >= 1.0, "the timer: {e}");

    let r = get(addr, "/throw?id=t1");
    assert_eq!(r.status, 500);
    let id = r.header("x-request-id").unwrap().to_string();
    for ws in [&mut all, &mut errors] {
        let e = event_for(ws, "/throw?id=t1");
        assert_eq!(e["request_id"], id.as_str());
        assert_eq!(
            (e["status"].as_u64(), e["outcome"].as_str()),
            (Some(500), Some("exception"))
        );
        assert_eq!(e["logs"][0]["message"], "about to throw t1");
        let ex = e["exceptions"][0]["message"].as_str().unwrap();
        assert!(ex.starts_with("Error: boom t1"), "{ex}");
        assert!(
            e["logs"][0]["at_ms"].as_f64() <= e["exceptions"][0]["at_ms"].as_f64(),
            "{e}"
        );
    }
    get(addr, "/reject");
    let e = event_for(&mut all, "/reject");
    assert!(
        e["exceptions"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nobody listens"),
        "{e}"
    );
    // An actor event: the stub's fetch() delivered to the Durable Object.
    let r = get(addr, "/actor");
    let id = r.header("x-request-id").unwrap().to_string();
    let e = loop {
        let msg = all.read().unwrap();
        let e: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
        if e["kind"] == "actor" {
            break e;
        }
    };
    assert_eq!(
        (e["method"].as_str(), e["outcome"].as_str()),
        (Some("fetch"), Some("ok")),
        "{e}"
    );
    assert!(e["actor"].as_str().unwrap().starts_with("Counter:"), "{e}");
    assert!(e["status"].is_null(), "{e}");
    // (The request that caused it, when the actor lives on its shard.)
    assert!(
        e["request_id"] == id.as_str() || e["request_id"].is_null(),
        "{e}"
    );
    // The error filter let only the error through, and sampling=0 nothing:
    // the next event each sees is the next error.
    get(addr, "/missing");
    let e = event_for(&mut errors, "");
    assert_eq!(
        e["url"].as_str().unwrap(),
        format!("http://t/missing"),
        "{e}"
    );
    none.get_ref()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(none.read().is_err(), "sampling=0 sends nothing");

    // Leaving detaches: the shards stop tracing.
    drop((all, errors, none));
    assert!(
        eventually(
            Duration::from_secs(5),
            || get_json(admin(&srv), "/stats")["total"]["tail_clients"] == 0
        ),
        "tail clients detach when they leave"
    );
    let bad = get(admin(&srv), "/tail?status=teapot");
    assert_eq!(bad.status, 426, "not an upgrade");
    let s = connect(admin(&srv));
    let refused = tungstenite::client(format!("ws://{}/tail?status=teapot", admin(&srv)), s);
    match refused {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            assert_eq!(r.status(), 400)
        }
        other => panic!("a bad filter is refused with 400: {other:?}"),
    }
    srv.shutdown();
    srv.join().unwrap();
}

#[test]
fn a_slow_tail_client_is_dropped_while_the_shard_keeps_serving() {
    let srv = server(1, "http://127.0.0.1:1/", |c| {
        let a = c.admin.as_mut().unwrap();
        a.tail_max_buffered_bytes = 64 << 10;
        a.tail_queue = 64;
    });
    let addr = srv.local_addr();
    // A client with a small receive buffer that stops reading after hello.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&admin(&srv).into()).unwrap();
    let stream: TcpStream = sock.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (mut slow, _) = tungstenite::client(format!("ws://{}/tail", admin(&srv)), stream).unwrap();
    let hello = slow.read().unwrap();
    assert!(hello.to_text().unwrap().contains("attached"));

    let mut c = Reader::new(connect(addr));
    let mut worst = Duration::ZERO;
    let mut sent = 0;
    let dropped = loop {
        let t0 = Instant::now();
        c.stream
            .write_all(b"GET /big-log?size=16384 HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let r = c.response(false).unwrap();
        assert_eq!(r.status, 200);
        worst = worst.max(t0.elapsed());
        sent += 1;
        if sent % 16 == 0 && get_json(admin(&srv), "/stats")["total"]["tail_clients"] == 0 {
            break true;
        }
        if sent >= 4000 {
            break false;
        }
    };
    assert!(
        dropped,
        "the slow client was still attached after {sent} requests"
    );
    // Loose: the shard never waited for the client (a request is ~1 ms).
    assert!(worst < Duration::from_secs(1), "worst request {worst:?}");
    // The server closed it (1008), after what it had sent.
    let end = loop {
        match slow.read() {
            Ok(Message::Close(f)) => break f.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(e) => panic!("expected a close frame, got {e}"),
        }
    };
    assert_eq!(end, Some(1008));
    // And the shard serves on.
    assert_eq!(get(addr, "/ok").status, 200);
    srv.shutdown();
    srv.join().unwrap();
}

/// Runs headless Chromium on `url` and returns the page's DOM after its
/// scripts ran for `budget_ms` of virtual time.
fn chromium_dom(url: &str, budget_ms: u32) -> String {
    let profile = std::env::temp_dir().join(format!(
        "ringworker-chromium-{}-{:?}",
        std::process::id(),
        Instant::now()
    ));
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--virtual-time-budget={budget_ms}"))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("chromium runs (README: Set-up: apt-get install chromium)");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The text of the element with `id` in `dom`.
fn text_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the page"));
    let rest = &dom[start..];
    let open = rest.find('>').unwrap() + 1;
    let close = rest[open..].find('<').unwrap();
    &rest[open..open + close]
}

#[test]
fn the_dashboard_loads_in_headless_chromium_and_shows_the_stats() {
    let srv = server(2, "http://127.0.0.1:1/", |_| {});
    let addr = srv.local_addr();
    for _ in 0..5 {
        get(addr, "/ok");
    }
    get(addr, "/missing");
    get(addr, "/throw?id=page");
    assert_eq!(get(addr, "/actor").text(), "1");
    let dom = chromium_dom(&format!("http://{}/?interval=200", admin(&srv)), 3000);
    let stats = get_json(admin(&srv), "/stats");
    let t = &stats["total"];
    assert!(
        text_of(&dom, "readiness").contains("ready"),
        "{}",
        text_of(&dom, "readiness")
    );
    assert_eq!(text_of(&dom, "total-requests"), t["requests"].to_string());
    assert_eq!(text_of(&dom, "total-requests"), "8");
    assert_eq!(text_of(&dom, "total-5xx"), t["status"]["5xx"].to_string());
    assert_eq!(text_of(&dom, "total-actors"), "1");
    assert_eq!(text_of(&dom, "shard-count"), "2");
    let polls: u32 = dom
        .split("data-polls=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|n| n.parse().ok())
        .expect("the page polled /stats");
    assert!(polls >= 2, "{polls} polls");
    // Five charts drawn by uPlot, one row per shard, the resident actor.
    assert_eq!(dom.matches("class=\"uplot").count(), 5, "{dom}");
    let shards_table = &dom[dom.find("id=\"shards\"").unwrap()..];
    let body = &shards_table[..shards_table.find("</tbody>").unwrap()];
    assert_eq!(body.matches("<tr>").count(), 1 + 2, "header and two shards");
    let actors = &dom[dom.find("id=\"actors\"").unwrap()..];
    assert!(actors[..actors.find("</table>").unwrap()].contains("Counter:"));
    srv.shutdown();
    srv.join().unwrap();
}

/// The `ringworker` binary serving `tests/scripts/admin.js` with `args`;
/// its stderr goes to `log`.
fn serve_bin(args: &[&str], log: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ringworker"))
        .args(["--log-format", "json", "serve"])
        .arg(script())
        .args([
            "--shards",
            "1",
            "--no-pin",
            "--actor",
            "COUNTER=Counter",
            "--actor-storage",
            "memory",
        ])
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("the ringworker binary runs")
}

fn up(addr: SocketAddr) -> bool {
    eventually(Duration::from_secs(20), || {
        TcpStream::connect(addr).is_ok_and(|mut s| {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            s.write_all(b"GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                .is_ok()
                && {
                    let mut b = String::new();
                    let _ = s.read_to_string(&mut b);
                    b.starts_with("HTTP/1.1 200")
                }
        })
    })
}

fn sigterm(child: &Child) {
    // SAFETY: plain kill(2) of our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
}

#[test]
fn readyz_turns_503_at_shutdown_before_the_listener_closes() {
    let (port, admin_port) = (free_port(), free_port());
    let log = std::env::temp_dir().join(format!("ringworker-readyz-{}.log", std::process::id()));
    let mut child = serve_bin(
        &[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--admin",
            &format!("127.0.0.1:{admin_port}"),
            "--drain-delay-ms",
            "1500",
        ],
        &log,
    );
    let (main, adm): (SocketAddr, SocketAddr) = (
        format!("127.0.0.1:{port}").parse().unwrap(),
        format!("127.0.0.1:{admin_port}").parse().unwrap(),
    );
    assert!(
        up(adm),
        "never ready: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(get(main, "/ok").status, 200);
    // A keep-alive client of the main listener, mid-conversation.
    let mut kept = Reader::new(connect(main));
    kept.stream
        .write_all(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(kept.response(false).unwrap().status, 200);

    let t0 = Instant::now();
    sigterm(&child);
    assert!(
        eventually(Duration::from_secs(2), || get(adm, "/readyz").status == 503),
        "/readyz still 200 after SIGTERM"
    );
    let unready = t0.elapsed();
    assert_eq!(get(adm, "/readyz").text(), "draining\n");
    // Not ready, and still serving: new connections and kept ones.
    assert_eq!(
        get(main, "/ok").status,
        200,
        "the listener closed with /readyz"
    );
    kept.stream
        .write_all(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(kept.response(false).unwrap().status, 200);
    // Then the listener closes.
    assert!(
        eventually(Duration::from_secs(10), || TcpStream::connect(main)
            .is_err()),
        "the main listener never closed"
    );
    let closed = t0.elapsed();
    assert!(unready < closed, "{unready:?} vs {closed:?}");
    assert!(
        closed >= Duration::from_millis(1500),
        "closed after {closed:?}, before the drain delay"
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_file(&log);
}

#[test]
fn ringworker_tail_prints_filtered_events_and_logs_carry_the_request_id() {
    let (port, admin_port) = (free_port(), free_port());
    let log = std::env::temp_dir().join(format!("ringworker-tail-{}.log", std::process::id()));
    let mut server = serve_bin(
        &[
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--admin",
            &format!("127.0.0.1:{admin_port}"),
            "--request-id-header",
            "x-request-id",
        ],
        &log,
    );
    let main: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let adm = format!("127.0.0.1:{admin_port}");
    assert!(up(adm.parse().unwrap()), "never ready");
    let tail = |format: &str| {
        let mut t = Command::new(env!("CARGO_BIN_EXE_ringworker"))
            .args(["tail", &adm, "--format", format, "--status", "error"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // It says so once every shard sends it events.
        let mut hello = String::new();
        BufReader::new(t.stderr.take().unwrap())
            .read_line(&mut hello)
            .unwrap();
        assert!(hello.starts_with("Connected to"), "{hello}");
        t
    };
    let mut json = tail("json");
    let mut pretty = tail("pretty");
    assert_eq!(get(main, "/ok").status, 200);
    let r = get(main, "/throw?id=cli");
    assert_eq!(r.status, 500);
    let id = r.header("x-request-id").unwrap().to_string();

    // JSON: the error only (the 200 before it was filtered out).
    let mut line = String::new();
    BufReader::new(json.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let e: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(e["request_id"], id.as_str(), "{e}");
    assert_eq!(e["status"], 500);
    // Pretty: a line for the request, its console line and exception under it.
    let mut out = BufReader::new(pretty.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..3 {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        lines.push(l.trim_end().to_string());
    }
    assert!(
        lines[0].contains("GET http://") && lines[0].contains("/throw?id=cli 500 exception"),
        "{lines:?}"
    );
    assert!(lines[0].contains(&id), "{lines:?}");
    assert_eq!(lines[1], "  (log) about to throw cli");
    assert!(lines[2].starts_with("  ✘ Error: boom cli"), "{lines:?}");
    for mut t in [json, pretty] {
        let _ = t.kill();
        let _ = t.wait();
    }

    // The logs: JSON lines; the script's console line and the failure
    // carry the worker and the request id of the response.
    sigterm(&server);
    assert!(server.wait().unwrap().success());
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let console = lines
        .iter()
        .find(|l| l["fields"]["message"] == "about to throw cli")
        .unwrap_or_else(|| panic!("no console line in {text}"));
    assert_eq!(console["target"], "js");
    assert_eq!(console["level"], "INFO");
    assert_eq!(console["fields"]["worker"], "admin");
    assert_eq!(console["fields"]["request_id"], id.as_str());
    let failed = lines
        .iter()
        .find(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("fetch handler failed: Error: boom cli"))
        })
        .unwrap_or_else(|| panic!("no failure line in {text}"));
    assert_eq!(failed["level"], "ERROR");
    assert_eq!(failed["fields"]["request_id"], id.as_str());
    let _ = std::fs::remove_file(&log);
}
