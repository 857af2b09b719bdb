//! Outbound `fetch()`, WebSockets and TCP from scripts, end to end: the real
//! server runs `tests/scripts/outbound.js` against real local upstreams
//! (`common::upstream`: HTTP/1.1 plain and TLS with a local CA, a WebSocket
//! echo server, a TCP echo server with STARTTLS).

mod common;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use common::upstream::*;
use common::*;
use ringworker::{Config, WorkerOptions};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts")
        .join(name)
}

/// Held by every test's server, shared; a test that measures a few
/// milliseconds takes it alone, so the other tests of this binary (64 MiB
/// transfers among them) do not compete with it for the 2 cores.
static QUIET: RwLock<()> = RwLock::new(());

/// A test's server, with its hold on [`QUIET`] (dropped after the server).
struct TestServer {
    srv: ringworker::Server,
    _hold: Hold,
}

enum Hold {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Alone(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

impl std::ops::Deref for TestServer {
    type Target = ringworker::Server;
    fn deref(&self) -> &ringworker::Server {
        &self.srv
    }
}

fn server(tweak: impl FnOnce(&mut Config)) -> TestServer {
    // (A test that failed holding it poisons it; the others go on.)
    let hold = Hold::Shared(QUIET.read().unwrap_or_else(|e| e.into_inner()));
    start_server(tweak, hold)
}

/// [`server`], running while no other test of this binary does.
fn server_alone(tweak: impl FnOnce(&mut Config)) -> TestServer {
    let hold = Hold::Alone(QUIET.write().unwrap_or_else(|e| e.into_inner()));
    start_server(tweak, hold)
}

fn start_server(tweak: impl FnOnce(&mut Config), hold: Hold) -> TestServer {
    let mut cfg = test_config();
    tweak(&mut cfg);
    let srv = ringworker::serve_worker(cfg, WorkerOptions::new(script("outbound.js")))
        .expect("script loads");
    TestServer { srv, _hold: hold }
}

/// Percent-encodes a query value (enough for URLs and paths).
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[test]
fn fetch_reads_status_headers_and_body_and_hides_hop_by_hop_headers() {
    let up = HttpUpstream::start();
    let srv = server(|_| {});
    let addr = srv.local_addr();
    let v = get_json(addr, &format!("/get?up={}&path=/hello", enc(&up.url(""))));
    assert_eq!(v["status"], 200);
    assert_eq!(v["body"], "hello");
    assert_eq!(v["url"], up.url("/hello"));
    assert_eq!(v["redirected"], false);
    let names: Vec<&str> = v["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h[0].as_str().unwrap())
        .collect();
    assert!(names.contains(&"content-length"), "{names:?}");
    // A chunked upstream answer: the script sees no transfer-encoding.
    let v = get_json(
        addr,
        &format!(
            "/get?up={}&path={}",
            enc(&up.url("")),
            enc("/stream?chunks=4&size=5")
        ),
    );
    assert_eq!(v["bytes"], 20);
    let names = v["headers"].to_string();
    assert!(!names.contains("transfer-encoding"), "{names}");
}

#[test]
fn a_forwarded_request_carries_its_headers_but_not_its_hop_fields() {
    let up = HttpUpstream::start();
    let srv = server(|_| {});
    let addr = srv.local_addr();
    let r = roundtrip(
        addr,
        format!(
            "GET /forward?up={}&path=/headers HTTP/1.1\r\nHost: front.example\r\nX-Trace: 42\r\nConnection: close\r\n\r\n",
            enc(&up.url(""))
        )
        .as_bytes(),
    );
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["x-trace"], "42", "{v}");
    assert_eq!(v["host"], format!("127.0.0.1:{}", up.port()), "{v}");
    assert!(v.get("connection").is_none_or(|c| c != "close"), "{v}");
}

#[test]
fn forwarded_responses_stream_byte_exact_and_reuse_pooled_connections() {
    let up = HttpUpstream::start();
    let srv = server(|_| {});
    let addr = srv.local_addr();
    let base = enc(&up.url(""));
    // Content-Length and chunked upstream bodies, forwarded natively.
    let r = get(
        addr,
        &format!("/forward?up={base}&path={}", enc("/bytes?n=3000000")),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 3_000_000);
    assert!(is_pattern(0, &r.body));
    let r = get(
        addr,
        &format!(
            "/forward?up={base}&path={}",
            enc("/stream?chunks=100&size=10000")
        ),
    );
    assert_eq!(
        (r.status, r.body.len()),
        (200, 1_000_000),
        "{:?} {:?}",
        r.headers,
        String::from_utf8_lossy(&r.body[..r.body.len().min(200)])
    );
    assert!(is_pattern(0, &r.body));
    // Twenty sequential fetches on one connection.
    let before = up.connections();
    let v = get_json(addr, &format!("/sequential?up={base}&n=20"));
    assert_eq!(v["total"], 100);
    // (The pool may already hold the forwards' connection: 0 or 1 new.)
    assert!(
        up.connections() - before <= 1,
        "one pooled connection serves all twenty: {} new",
        up.connections() - before
    );
    // The shard's stats say the same.
    let o = srv.stats()[0].outbound;
    assert!(o.requests >= 22 && o.reuses >= 19, "{o:?}");
    assert_eq!(o.failed, 0, "{o:?}");
}

#[test]
fn a_js_stream_uploads_64_mib_chunked_with_the_right_checksum() {
    let up = HttpUpstream::start();
    let srv = server(|_| {});
    let n: u64 = 64 << 20;
    let v = get_json(
        srv.local_addr(),
        &format!("/upload?up={}&n={n}", enc(&up.url(""))),
    );
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0;
    while off < n {
        fill_pattern(off, &mut buf);
        h.update(&buf);
        off += buf.len() as u64;
    }
    let want = format!("{:x}", h.finalize());
    assert_eq!(v["len"], n);
    assert_eq!(v["sha256"], want);
}

#[test]
fn the_request_body_streams_to_the_upstream_and_back_64_mib() {
    let up = HttpUpstream::start();
    let srv = server(|_| {});
    let addr = srv.local_addr();
    let n: u64 = 64 << 20;
    let mut s = connect(addr);
    let head = format!(
        "POST /echo?up={} HTTP/1.1\r\nHost: t\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n",
        enc(&up.url(""))
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let mut buf = vec![0u8; 256 << 10];
        let mut off = 0;
        while off < n {
            fill_pattern(off, &mut buf);
            w.write_all(&buf).unwrap();
            off += buf.len() as u64;
        }
    });
    let mut r = Reader::new(s);
    let resp = r.response(false).unwrap();
    writer.join().unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.len() as u64, n);
    assert!(is_pattern(0, &resp.body), "echoed bytes differ");
}

#[test]
fn redirects_follow_manual_and_error_modes() {
    let up = HttpUpstream::start();
    let srv = server(|_| {});
    let addr = srv.local_addr();
    let base = enc(&up.url(""));
    let v = get_json(
        addr,
        &format!("/redirect?up={base}&path={}", enc("/redirect-chain?n=3")),
    );
    assert_eq!(v["status"], 200);
    assert_eq!(v["redirected"], true);
    assert_eq!(v["url"], up.url("/redirect-chain?n=0"));
    let v = get_json(
        addr,
        &format!(
            "/redirect?up={base}&mode=manual&path={}",
            enc("/redirect-chain?n=3")
        ),
    );
    assert_eq!(v["status"], 302);
    assert_eq!(v["location"], "/redirect-chain?n=2");
    let v = get_json(
        addr,
        &format!(
            "/redirect?up={base}&mode=error&path={}",
            enc("/redirect-chain?n=1")
        ),
    );
    assert_eq!(v["error"]["isTypeError"], true, "{v}");
    let v = get_json(addr, &format!("/redirect?up={base}&path=/redirect-loop"));
    assert_eq!(v["error"]["isTypeError"], true, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("more than 20 redirects"),
        "{v}"
    );
}

#[test]
fn failures_reach_the_script_as_type_errors_with_a_message() {
    let srv = server(|_| {});
    let addr = srv.local_addr();
    let v = get_json(addr, &format!("/error?url={}", enc("http://127.0.0.1:1/")));
    assert_eq!(v["error"]["isTypeError"], true, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("connection refused") && msg.contains("127.0.0.1:1"),
        "{msg}"
    );
    let v = get_json(addr, &format!("/error?url={}", enc("ftp://127.0.0.1/")));
    assert_eq!(v["error"]["isTypeError"], true, "{v}");
}

#[test]
fn an_upstream_failing_mid_body_fails_only_that_body() {
    let up = HttpUpstream::start();
    let srv = server(|_| {});
    let addr = srv.local_addr();
    let base = enc(&up.url(""));
    // The forwarded body ends early: the client sees a truncated response
    // (the connection closes), and the next request is unaffected.
    let mut s = connect(addr);
    write!(
        s,
        "GET /forward?up={base}&path={} HTTP/1.1\r\nHost: t\r\n\r\n",
        enc("/fail-mid?n=100000")
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let head_end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(all.starts_with(b"HTTP/1.1 200"));
    assert_eq!(
        all.len() - head_end,
        50_000,
        "half the body, then the connection closed"
    );
    let v = get_json(addr, &format!("/get?up={base}&path=/hello"));
    assert_eq!(v["body"], "hello");
}

#[test]
fn abort_and_partial_reads_close_the_upstream_connection() {
    let up = HttpUpstream::start();
    let srv = server(|_| {});
    let addr = srv.local_addr();
    let base = enc(&up.url(""));
    let v = get_json(
        addr,
        &format!("/abort?up={base}&ms=60&path={}", enc("/hold?id=abort")),
    );
    assert_eq!(v["error"]["name"], "AbortError", "{v}");
    assert!(
        up.wait_closed("/hold?id=abort", Duration::from_secs(2))
            .is_some()
    );
    let v = get_json(
        addr,
        &format!("/partial?up={base}&path={}", enc("/hold?id=partial")),
    );
    assert!(v["first"].as_u64().unwrap() > 0);
    assert!(
        up.wait_closed("/hold?id=partial", Duration::from_secs(2))
            .is_some()
    );
    // Never read: closed when the request ends.
    let v = get_json(
        addr,
        &format!("/unread?up={base}&path={}", enc("/hold?id=unread")),
    );
    assert_eq!(v["status"], 200);
    assert!(
        up.wait_closed("/hold?id=unread", Duration::from_secs(2))
            .is_some()
    );
    // Aborted before the head arrived.
    let v = get_json(
        addr,
        &format!("/abort?up={base}&ms=30&path={}", enc("/slow-head?ms=3000")),
    );
    assert_eq!(v["error"]["name"], "AbortError", "{v}");
    assert!(
        up.wait_closed("/slow-head", Duration::from_secs(2))
            .is_some()
    );
}

#[test]
fn a_client_leaving_a_forwarded_stream_closes_the_upstream_within_5_ms() {
    // Alone: with the binary's other tests running, its threads waited
    // several ms for a core now and then (max 4-7 ms over 7 closes).
    let srv = server_alone(|_| {});
    let up = HttpUpstream::start();
    let addr = srv.local_addr();
    let base = enc(&up.url(""));
    let mut delays = Vec::new();
    for i in 0..7 {
        let id = format!("/hold?id=fwd{i}");
        let mut s = connect(addr);
        write!(
            s,
            "GET /forward?up={base}&path={} HTTP/1.1\r\nHost: t\r\n\r\n",
            enc(&id)
        )
        .unwrap();
        // Wait for the head and the first tick.
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.windows(5).any(|w| w == b"tick\n") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        let t0 = Instant::now();
        drop(s);
        let closed = up
            .wait_closed(&id, Duration::from_secs(2))
            .expect("upstream saw the close");
        delays.push(closed.saturating_duration_since(t0));
    }
    delays.sort();
    eprintln!("client close to upstream close: {delays:?}");
    // Every close, not the median: a close noticed late some of the time
    // (at the upstream's next 20 ms tick, or by a shard that sleeps through
    // the FIN, as before issue 20's fix: 6-15 ms now and then) is the bug.
    // Typical: 0.1-0.3 ms. One close of the 7 may be a scheduling outlier
    // (a thread waiting for one of the 2 cores: up to ~9 ms seen at a load
    // average of 12, 1 run in 4), but never as late as a tick.
    let (max, next) = (delays[delays.len() - 1], delays[delays.len() - 2]);
    assert!(
        next < Duration::from_millis(5) && max < Duration::from_millis(20),
        "close reached the upstream after {delays:?}"
    );
}

#[test]
fn timeouts_and_the_subrequest_limit_are_enforced() {
    let up = HttpUpstream::start();
    let base = enc(&up.url(""));
    let srv = server(|c| {
        c.outbound.total_timeout = Some(Duration::from_millis(150));
        c.outbound.subrequest_limit = 5;
    });
    let addr = srv.local_addr();
    let t0 = Instant::now();
    let v = get_json(
        addr,
        &format!("/redirect?up={base}&path={}", enc("/slow-head?ms=3000")),
    );
    assert_eq!(v["error"]["isTypeError"], true, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{v}"
    );
    // The 150 ms total timeout, bounded both ways: not before it, and not
    // anywhere near the upstream's 3 s (10x the timeout for a loaded box).
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(145) && waited < Duration::from_millis(1500),
        "timed out after {waited:?}"
    );
    // The subrequest limit, on a server without the 150 ms timeout (which a
    // fetch on a loaded box can outlast: 4 of 5 seen at a load of 12).
    drop(srv);
    let srv = server(|c| c.outbound.subrequest_limit = 5);
    let v = get_json(srv.local_addr(), &format!("/subrequests?up={base}&n=7"));
    assert_eq!(v["ok"], 5, "{v}");
    assert!(
        v["last"].as_str().unwrap().contains("Too many subrequests"),
        "{v}"
    );
}

#[test]
fn https_with_a_local_ca_and_a_clear_error_for_an_unknown_one() {
    let ca = TestCa::new();
    let up = HttpUpstream::start_tls(&ca);
    let srv = server(|c| c.outbound.extra_ca_file = Some(ca.ca_pem_path().to_path_buf()));
    let addr = srv.local_addr();
    let v = get_json(addr, &format!("/get?up={}&path=/hello", enc(&up.url(""))));
    assert_eq!(v["body"], "hello", "{v}");
    let r = get(
        addr,
        &format!(
            "/forward?up={}&path={}",
            enc(&up.url("")),
            enc("/bytes?n=500000")
        ),
    );
    assert!(is_pattern(0, &r.body) && r.body.len() == 500_000);
    // A server whose CA is not trusted.
    let other = TestCa::new();
    let stranger = HttpUpstream::start_tls(&other);
    let v = get_json(
        addr,
        &format!("/error?url={}", enc(&stranger.url("/hello"))),
    );
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("TLS") || msg.contains("certificate"), "{msg}");
}

#[test]
fn outbound_websockets_with_new_websocket_and_fetch_upgrade() {
    let up = WsUpstream::start();
    let srv = server(|_| {});
    let addr = srv.local_addr();
    let v = get_json(
        addr,
        &format!("/ws?ws={}&proto=chat", enc(&up.url("/echo"))),
    );
    assert_eq!(v["got"][0], "one", "{v}");
    assert_eq!(v["got"][1], serde_json::json!([1, 2, 3]), "{v}");
    assert_eq!(v["close"]["code"], 4001, "{v}");
    assert_eq!(v["close"]["reason"], "bye", "{v}");
    assert_eq!(v["protocol"], "chat");
    // The upstream started that close; our side answered it with a close
    // frame echoing its code (RFC 6455 5.5.1), then the connection ended.
    assert!(up.wait_closed("/echo", Duration::from_secs(2)).is_some());
    let echo = up
        .records()
        .into_iter()
        .find(|r| r.path.as_deref() == Some("/echo"));
    let echo = echo.expect("the /echo connection is recorded");
    assert_eq!(
        echo.close_frame.as_ref().map(|(code, _)| *code),
        Some(4001),
        "{echo:?}"
    );
    let v = get_json(addr, &format!("/ws-fetch?ws={}", enc(&up.url("/f"))));
    assert_eq!(v["status"], 101, "{v}");
    assert_eq!(v["got"], serde_json::json!(["a", "b"]), "{v}");
    assert_eq!(v["close"]["code"], 1000, "{v}");
    // The upstream saw our close frame, with the script's code and reason,
    // not just the TCP connection ending.
    assert!(up.wait_closed("/f", Duration::from_secs(2)).is_some());
    let f = up
        .records()
        .into_iter()
        .find(|r| r.path.as_deref() == Some("/f"));
    let f = f.expect("the /f connection is recorded");
    assert_eq!(f.close_frame, Some((1000, "done".to_string())), "{f:?}");
    assert_eq!(f.closed_by, Some(ClosedBy::Peer), "{f:?}");
}

#[test]
fn tcp_connect_echoes_and_start_tls_upgrades() {
    let ca = TestCa::new();
    let up = TcpEchoUpstream::start(&ca);
    let srv = server(|c| c.outbound.extra_ca_file = Some(ca.ca_pem_path().to_path_buf()));
    let addr = srv.local_addr();
    let v = get_json(addr, &format!("/tcp?host=127.0.0.1&port={}", up.port()));
    assert_eq!(v["echo"], "ping\n", "{v}");
    assert_eq!(v["remote"], format!("127.0.0.1:{}", up.port()));
    let v = get_json(addr, &format!("/starttls?port={}", up.port()));
    assert_eq!(v["ok"], "OK\r\n", "{v}");
    assert_eq!(v["echo"], "secret\n", "{v}");
    assert_eq!(v["upgraded"], true);
    assert!(up.records().iter().any(|r| r.tls));
}

#[test]
fn finishing_cancelling_or_failing_subrequests_never_touches_an_outbound_websocket() {
    let up = HttpUpstream::start();
    let ws = WsUpstream::start();
    let srv = server(|_| {});
    let v = get_json(
        srv.local_addr(),
        &format!(
            "/mixed?up={}&ws={}",
            enc(&up.url("")),
            enc(&ws.url("/live"))
        ),
    );
    assert_eq!(v["outcomes"]["drained"], 40, "{v}");
    assert_eq!(v["outcomes"]["cancelled"], 30, "{v}");
    assert_eq!(v["outcomes"]["failed"], 30, "{v}");
    assert_eq!(v["closed"], Value::Null, "the WebSocket closed: {v}");
    let sent = v["sent"].as_u64().unwrap();
    assert!(sent >= 30, "{v}");
    assert_eq!(
        v["got"].as_u64().unwrap(),
        sent,
        "every message echoed: {v}"
    );
}

fn keepalive(srv: &ringworker::Server) -> ringworker::KeepaliveTotals {
    let mut t = ringworker::KeepaliveTotals::default();
    for s in srv.stats() {
        t.add(&s.keepalive);
    }
    t
}

#[test]
fn outbound_sockets_hold_keepalive_tokens_up_to_the_cap_and_plain_fetch_holds_none() {
    let ca = TestCa::new();
    let ws = WsUpstream::start();
    let tcp = TcpEchoUpstream::start(&ca);
    let up = HttpUpstream::start();
    let srv = server(|c| c.outbound.keepalive_cap = Duration::from_millis(200));
    let addr = srv.local_addr();
    // A streaming fetch read partway holds no token.
    get_json(
        addr,
        &format!(
            "/partial?up={}&path={}",
            enc(&up.url("")),
            enc("/hold?id=k")
        ),
    );
    assert_eq!(keepalive(&srv).acquired, 0);
    // Two WebSockets and a TCP socket, held 600 ms by one request.
    let target = format!(
        "/hold-all?ms=600&port={}&ws={}",
        tcp.port(),
        enc(&ws.url("/k"))
    );
    let held = std::thread::spawn(move || get_json(addr, &target));
    let t0 = Instant::now();
    let t = loop {
        let t = keepalive(&srv);
        if t.acquired == 3 || t0.elapsed() > Duration::from_secs(3) {
            break t;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(
        (t.acquired, t.live, t.live_websocket, t.live_tcp),
        (3, 3, 2, 1),
        "{t:?}"
    );
    // Past the cap (200 ms) the tokens stop pinning; the sockets keep working.
    let t = wait_for(Duration::from_secs(3), "the tokens to expire", || {
        let t = keepalive(&srv);
        (t.live == 0).then_some(t)
    });
    assert!(
        t0.elapsed() >= Duration::from_millis(200),
        "expired before the cap"
    );
    assert_eq!(t.expired_by_cap(), 3, "{t:?}");
    let v = held.join().unwrap();
    assert_eq!(
        v["echoes"],
        serde_json::json!(["still here", "still here"]),
        "{v}"
    );
    assert_eq!(v["tcp"], "tcp still here", "{v}");
    let t = keepalive(&srv);
    assert_eq!(t.past_cap, 0, "{t:?}");
    assert_eq!(t.released_after_cap, 3, "{t:?}");
    // Released before the cap: counted by why they ended.
    get_json(addr, &format!("/ws-hold?n=1&ws={}", enc(&ws.url("/k2"))));
    assert_eq!(keepalive(&srv).live, 1);
    get_json(addr, "/ws-release");
    let t = keepalive(&srv);
    assert_eq!((t.live, t.acquired, t.ended.total()), (0, 4, 4), "{t:?}");
    // A TCP socket the script forgets closes when its request ends.
    let before = tcp.connections();
    get_json(addr, &format!("/tcp-forget?port={}", tcp.port()));
    // (wait_closed matches any connection, and the earlier ones closed
    // already: wait for the forgotten one to be accepted, then for every
    // record to be closed.)
    let t0 = Instant::now();
    while tcp.connections() == before || tcp.records().iter().any(|r| r.closed_at.is_none()) {
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "the forgotten socket stayed open"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let t = keepalive(&srv);
    assert_eq!(t.ended.owner_ended, 1, "{t:?}");
}

#[test]
fn wss_websockets_use_tls_with_the_local_ca() {
    let ca = TestCa::new();
    let up = WsUpstream::start_tls(&ca);
    let srv = server(|c| c.outbound.extra_ca_file = Some(ca.ca_pem_path().to_path_buf()));
    let v = get_json(
        srv.local_addr(),
        &format!("/ws?ws={}", enc(&up.url("/secure"))),
    );
    assert!(up.url("/secure").starts_with("wss://"));
    assert_eq!(v["got"][0], "one", "{v}");
    assert_eq!(v["close"]["code"], 4001, "{v}");
    assert!(up.records().iter().any(|r| r.tls));
}

#[test]
fn returning_a_fetched_websocket_proxies_the_client_to_the_upstream() {
    let up = WsUpstream::start();
    let srv = server(|_| {});
    let url = format!(
        "ws://{}/ws-proxy?ws={}",
        srv.local_addr(),
        enc(&up.url("/proxied"))
    );
    let mut req = tungstenite::client::IntoClientRequest::into_client_request(url).unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", "chat, other".parse().unwrap());
    let (mut ws, resp) = tungstenite::connect(req).expect("handshake through the proxy");
    assert_eq!(resp.status(), 101);
    assert_eq!(
        resp.headers().get("sec-websocket-protocol").unwrap(),
        "chat",
        "the upstream's choice"
    );
    for i in 0..50 {
        ws.send(tungstenite::Message::text(format!("m{i}")))
            .unwrap();
        let m = ws.read().unwrap();
        assert_eq!(m.into_text().unwrap().as_str(), format!("m{i}"));
    }
    ws.send(tungstenite::Message::binary(vec![7u8; 100_000]))
        .unwrap();
    assert_eq!(ws.read().unwrap().into_data().len(), 100_000);
    // The upstream closes: the client sees its code.
    ws.send(tungstenite::Message::text("close:4002:upstream done"))
        .unwrap();
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(Some(f))) => {
                assert_eq!(u16::from(f.code), 4002);
                assert_eq!(f.reason.as_str(), "upstream done");
                break;
            }
            Ok(_) => continue,
            Err(e) => panic!("no close frame: {e}"),
        }
    }
    assert_eq!(up.messages(), 52);
}

#[test]
fn clones_tee_fetched_bodies_and_forwarded_requests_pass_redirects_through() {
    let up = HttpUpstream::start();
    let srv = server(|_| {});
    let addr = srv.local_addr();
    let base = enc(&up.url(""));
    let r = get(
        addr,
        &format!("/clone?up={base}&path={}", enc("/bytes?n=200000")),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-clone-bytes"), Some("200000"));
    assert_eq!(
        r.header("x-clone-url"),
        Some(up.url("/bytes?n=200000").as_str())
    );
    assert_eq!(r.body.len(), 200_000);
    assert!(is_pattern(0, &r.body));
    // `fetch(url, request)` keeps the incoming request's redirect mode,
    // "manual" as in Workers: the client gets the 302 itself.
    let r = get(
        addr,
        &format!("/forward?up={base}&path={}", enc("/redirect-chain?n=2")),
    );
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/redirect-chain?n=1"));
}

#[test]
fn a_script_terminated_after_an_await_answers_503() {
    let up = HttpUpstream::start();
    let srv = server(|_| {});
    let r = get(
        srv.local_addr(),
        &format!("/spin-after-fetch?up={}", enc(&up.url(""))),
    );
    assert_eq!(r.status, 503, "{}", r.text());
    // The shard keeps serving.
    let v = get_json(
        srv.local_addr(),
        &format!("/get?up={}&path=/hello", enc(&up.url(""))),
    );
    assert_eq!(v["body"], "hello");
}

#[test]
fn refused_upgrades_and_early_closes_follow_the_websocket_api() {
    let up = WsUpstream::start();
    let srv = server(|_| {});
    let addr = srv.local_addr();
    let v = get_json(
        addr,
        &format!("/ws-reject?ws={}", enc(&up.url("/reject/403"))),
    );
    assert_eq!(v["status"], 403, "{v}");
    assert_eq!(v["webSocket"], Value::Null, "{v}");
    assert_eq!(
        v["events"],
        serde_json::json!(["error", "close 1006"]),
        "{v}"
    );
    let v = get_json(
        addr,
        &format!("/ws-close-early?ws={}", enc(&up.url("/early"))),
    );
    assert_eq!(
        v["states"],
        serde_json::json!([0, 2]),
        "CONNECTING, then CLOSING at once: {v}"
    );
    assert_eq!(
        v["events"],
        serde_json::json!(["close"]),
        "no open event: {v}"
    );
}

#[test]
fn start_tls_right_after_connect() {
    let ca = TestCa::new();
    let up = TcpEchoUpstream::start_tls(&ca);
    let srv = server(|c| c.outbound.extra_ca_file = Some(ca.ca_pem_path().to_path_buf()));
    let v = get_json(srv.local_addr(), &format!("/tls-now?port={}", up.port()));
    assert_eq!(v["echo"], "right away\n", "{v}");
}

/// Reads one server frame from `buf` (filled from `s`): (opcode, payload
/// length), or None at the end of the connection.
fn read_frame(s: &mut std::net::TcpStream, buf: &mut Vec<u8>) -> Option<(u8, usize)> {
    loop {
        if let Some(e) = ringworker::ws::frame::extent(buf) {
            let total = e.total() as usize;
            if buf.len() >= total {
                let op = e.first & 0x0f;
                if op == 8 {
                    eprintln!(
                        "close frame: {}",
                        String::from_utf8_lossy(&buf[e.header_len..total])
                    );
                }
                buf.drain(..total);
                return Some((op, total - e.header_len));
            }
        }
        let mut tmp = [0u8; 65536];
        match s.read(&mut tmp) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

#[test]
fn backpressure_crosses_a_websocket_proxy() {
    let up = WsUpstream::start();
    let srv = server(|c| c.ws.max_buffered_bytes = 1 << 20);
    // A small receive buffer: what the client does not read piles up in the
    // proxy quickly (past 1 MiB it would be closed with 1008, not paused).
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(64 << 10).unwrap();
    sock.connect(&srv.local_addr().into()).unwrap();
    let mut s: std::net::TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET /ws-proxy?ws={} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        enc(&up.url("/bp"))
    )
    .unwrap();
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut tmp).unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&tmp[..n]);
    }
    assert!(
        buf.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&buf)
    );
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    buf.drain(..end);
    // 64 MiB of echoes while the client does not read for a while: the proxy
    // must stop reading (the pause reaches the upstream and back to the
    // client's writes) instead of queueing until 1008, and lose nothing.
    const MSG: usize = 64 << 10;
    const COUNT: usize = 1024;
    let written = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut w = s.try_clone().unwrap();
    let counter = written.clone();
    let writer = std::thread::spawn(move || {
        let payload = vec![0x5au8; MSG];
        let mut frame = Vec::new();
        for _ in 0..COUNT {
            frame.clear();
            ringworker::ws::frame::encode(&mut frame, 0x82, &payload, Some([1, 2, 3, 4]));
            if w.write_all(&frame).is_err() {
                return;
            }
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    // Where the client's writes come to rest: the pause must reach them
    // through the proxy and the upstream well before all 64 MiB are taken
    // (the figure used to be printed in a panic message only, never checked).
    let stalled_at = settled(
        Duration::from_millis(300),
        Duration::from_secs(20),
        "the client's writes",
        || written.load(std::sync::atomic::Ordering::SeqCst),
    );
    eprintln!("the client's writes stalled at {stalled_at} of {COUNT} messages");
    // Four loopback sockets lie between the writer and the proxy's queue,
    // and Linux grows their receive buffers (tcp_rmem's max is 32 MiB here):
    // 320-430 messages (20-27 MiB) are taken before the writes stop. A
    // proxy that read on would take all 1024 (or close with 1008).
    assert!(
        stalled_at < COUNT * 3 / 4,
        "the proxy kept reading a client that does not read ({stalled_at} of {COUNT} messages taken)"
    );
    let mut echoed = 0;
    while echoed < COUNT * MSG {
        match read_frame(&mut s, &mut buf) {
            Some((2, n)) => echoed += n,
            Some((8, _)) => {
                panic!("closed after {echoed} bytes (stalled at {stalled_at} messages)")
            }
            Some(_) => {}
            None => panic!("connection ended after {echoed} bytes"),
        }
    }
    writer.join().unwrap();
}
