//! Requests built to steer or confuse the server (issue 21): the request
//! target and `Host` rules of RFC 9112 §3.2–3.3 as `request.url` shows
//! them, `CONNECT`, HTTP versions and chunk sizes. Real server, real V8,
//! raw sockets.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use ringworker::{Handler, Request, Response, WorkerOptions};
use serde_json::Value;

fn probe() -> ringworker::Server {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/target_probe.js");
    ringworker::serve_worker(test_config(), WorkerOptions::new(script)).expect("script loads")
}

/// Sends `raw` on a new connection: the one response, and whether the
/// server then closed the connection.
fn exchange(addr: SocketAddr, raw: &[u8]) -> (Resp, bool) {
    let mut s = connect(addr);
    s.write_all(raw).unwrap();
    let mut r = Reader::new(s);
    let resp = r
        .response(false)
        .unwrap_or_else(|e| panic!("no response to {:?}: {e}", String::from_utf8_lossy(raw)));
    let closed = resp.header("connection") == Some("close") && r.is_closed();
    (resp, closed)
}

/// What the script saw of `raw`'s URL (the request must be answered 200).
fn seen_by_script(addr: SocketAddr, raw: &str) -> Value {
    let (resp, _) = exchange(addr, raw.as_bytes());
    assert_eq!(resp.status, 200, "{raw:?}: {}", resp.text());
    serde_json::from_slice(&resp.body).unwrap()
}

#[test]
fn host_and_target_cannot_steer_the_url() {
    let srv = probe();
    let a = srv.local_addr();
    // Refused with 400 and a close, before the script runs.
    for raw in [
        // The Host header smuggling a path, a query, user info, a second port.
        "GET /public HTTP/1.1\r\nHost: x/admin?\r\n\r\n",
        "GET /public HTTP/1.1\r\nHost: x?admin\r\n\r\n",
        "GET /public HTTP/1.1\r\nHost: x#admin\r\n\r\n",
        "GET /public HTTP/1.1\r\nHost: user@x\r\n\r\n",
        "GET /public HTTP/1.1\r\nHost: x:80:81\r\n\r\n",
        "GET /public HTTP/1.1\r\nHost: x:99999\r\n\r\n",
        "GET /public HTTP/1.1\r\nHost: x\\admin\r\n\r\n",
        // A host the URL standard refuses once decoded.
        "GET /public HTTP/1.1\r\nHost: x%2fadmin\r\n\r\n",
        // Missing, empty, repeated.
        "GET /public HTTP/1.1\r\n\r\n",
        "GET /public HTTP/1.1\r\nHost:\r\n\r\n",
        "GET /public HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        // Targets that are no origin-form path.
        "GET @other.example/p HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET :8080/p HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET other.example:443 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /p#frag HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET https://other.example/p HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET http://u@other.example/p HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET javascript:alert(1) HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let (resp, closed) = exchange(a, raw.as_bytes());
        assert_eq!(resp.status, 400, "{raw:?}: {}", resp.text());
        assert!(closed, "{raw:?}: the connection must close");
    }
    let seen = get_json(a, "/seen");
    assert_eq!(
        seen,
        serde_json::json!([]),
        "refused requests reached the script"
    );

    // Accepted, and the URL is made of the checked parts.
    let v = seen_by_script(a, "GET /a/../b?q=1 HTTP/1.1\r\nHost: X.Example:80\r\n\r\n");
    assert_eq!(v["url"], "http://x.example/b?q=1");
    let v = seen_by_script(a, "GET //evil.example/p HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        (v["host"].as_str(), v["pathname"].as_str()),
        (Some("x"), Some("//evil.example/p"))
    );
    let v = seen_by_script(a, "GET /@other.example/p HTTP/1.1\r\nHost: x:8080\r\n\r\n");
    assert_eq!(v["url"], "http://x:8080/@other.example/p");
    let v = seen_by_script(a, "GET /p HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
    assert_eq!(v["host"], "[::1]:8080");
    // Absolute-form: its authority wins over Host (RFC 9112 §3.2.2).
    let v = seen_by_script(
        a,
        "GET http://other.example/abs?x HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(v["url"], "http://other.example/abs?x");
    let v = seen_by_script(a, "GET http://other.example HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(v["url"], "http://other.example/");
    // Asterisk-form, for OPTIONS only: the server as a whole.
    let v = seen_by_script(a, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        (v["method"].as_str(), v["url"].as_str()),
        (Some("OPTIONS"), Some("http://x/"))
    );
    // HTTP/1.0 may leave Host out; a default authority applies.
    let v = seen_by_script(a, "GET /old HTTP/1.0\r\n\r\n");
    assert_eq!(v["url"], "http://localhost/old");
}

#[test]
fn connect_is_refused_and_nothing_after_it_is_parsed() {
    let srv = probe();
    let a = srv.local_addr();
    let (resp, closed) = exchange(
        a,
        b"CONNECT other.example:443 HTTP/1.1\r\nHost: other.example:443\r\n\r\n\
          GET /SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(resp.status, 501, "{}", resp.text());
    assert!(closed, "the connection must close after a refused CONNECT");
    // CONNECT with a target in another form is malformed.
    let (resp, closed) = exchange(a, b"CONNECT / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(resp.status, 400);
    assert!(closed);
    assert_eq!(get_json(a, "/seen"), serde_json::json!([]));
}

/// A Rust handler that asks for CONNECT.
struct Tunnelless;

impl Handler for Tunnelless {
    async fn call(&self, req: Request) -> Response {
        Response::text(
            200,
            format!("{} {} {:?}", req.method(), req.target(), req.authority()),
        )
    }
    fn handles_connect(&self) -> bool {
        true
    }
}

#[test]
fn an_embedder_may_take_connect_but_the_connection_still_ends() {
    let srv = start(test_config(), |_| Tunnelless);
    let (resp, closed) = exchange(
        srv.local_addr(),
        b"CONNECT other.example:443 HTTP/1.1\r\nHost: other.example:443\r\n\r\n\
          GET /SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.text(),
        "CONNECT other.example:443 Some(\"other.example:443\")"
    );
    assert!(
        closed,
        "nothing after a CONNECT head is parsed as a request"
    );
}

#[test]
fn later_http1_minor_versions_are_served_as_1_1() {
    let srv = probe();
    let a = srv.local_addr();
    // RFC 9110 §6.2: a higher minor version of a major version we implement
    // is processed as the highest minor version we do.
    let mut s = connect(a);
    s.write_all(b"GET /one HTTP/1.2\r\nHost: x\r\n\r\nGET /two HTTP/1.9\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut r = Reader::new(s);
    for path in ["/one", "/two"] {
        let resp = r.response(false).unwrap();
        assert_eq!(resp.status, 200, "{path}: {}", resp.text());
        let v: Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(v["pathname"], path);
    }
    // Another major version on an HTTP/1 connection is still refused.
    for raw in [
        "GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        "GET / HTTP/3.0\r\nHost: x\r\n\r\n",
    ] {
        let (resp, closed) = exchange(a, raw.as_bytes());
        assert_eq!(resp.status, 505, "{raw:?}");
        assert!(closed);
    }
}

#[test]
fn an_absurd_chunk_size_is_refused_at_once() {
    // A handler that reads the whole body.
    let srv = start(test_config(), |_| {
        |mut req: Request| async move {
            match req.take_body().collect(64 << 20).await {
                Ok(b) => Response::text(200, format!("ok {}", b.len())),
                Err(e) => Response::text(e.status(), e.to_string()),
            }
        }
    });
    let started = Instant::now();
    let mut s = connect(srv.local_addr());
    s.write_all(
        b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc",
    )
    .unwrap();
    // The client keeps the connection open and sends nothing more: the
    // answer must come from the size line alone, not from a limit or a timer.
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = Reader::new(s);
    let resp = r.response(false).expect("an answer to the size line alone");
    assert!(
        resp.status == 400 || resp.status == 413,
        "{}: {}",
        resp.status,
        resp.text()
    );
    assert!(r.is_closed());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}
