//! Bad input gets a precise status and a clean close; nothing else on the
//! shard is affected. Timeouts are shortened through the config.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::*;
use ringworker::{Request, Response};

fn server_with(cfg: ringworker::Config) -> ringworker::Server {
    start(cfg, |_| {
        |mut req: Request| async move {
            match req.take_body().collect(64 << 20).await {
                Ok(b) => Response::text(200, format!("ok {}", b.len())),
                Err(e) => Response::text(e.status(), e.to_string()),
            }
        }
    })
}

/// Sends `raw`, expects `status`, then expects the server to close.
fn expect_status_and_close(addr: std::net::SocketAddr, raw: &[u8], status: u16) {
    let mut s = connect(addr);
    s.write_all(raw).unwrap();
    let mut r = Reader::new(s);
    let resp = r
        .response(false)
        .unwrap_or_else(|e| panic!("no response to {:?}: {e}", String::from_utf8_lossy(raw)));
    assert_eq!(
        resp.status,
        status,
        "for {:?}: {}",
        String::from_utf8_lossy(raw),
        resp.text()
    );
    assert_eq!(resp.header("connection"), Some("close"));
    assert_eq!(
        r.ending(CLOSE_WAIT),
        Ending::Eof,
        "the connection must close after {status}"
    );
}

#[test]
fn malformed_requests_get_400() {
    let srv = server_with(test_config());
    let a = srv.local_addr();
    let cases: &[&[u8]] = &[
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n",
        // Request smuggling: both framings.
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        // Differing duplicate Content-Length.
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        // obs-fold.
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
        // Unsupported transfer coding.
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        // Bare LF line endings.
        b"GET / HTTP/1.1\nHost: x\n\n",
    ];
    for raw in cases {
        expect_status_and_close(a, raw, 400);
    }
    // Identical duplicate Content-Length is allowed.
    let resp = roundtrip(
        a,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi",
    );
    assert_eq!(resp.text(), "ok 2");
}

#[test]
fn bad_chunk_size_gets_400() {
    let srv = server_with(test_config());
    for body in [
        &b"zz\r\nhello\r\n0\r\n\r\n"[..],
        b"5\r\nhelloXX0\r\n\r\n",
        b"fffffffffffffffffff\r\n",
    ] {
        let mut raw = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        raw.extend_from_slice(body);
        expect_status_and_close(srv.local_addr(), &raw, 400);
    }
}

#[test]
fn long_uri_gets_414_and_big_heads_get_431() {
    let srv = server_with(test_config());
    let a = srv.local_addr();
    let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    expect_status_and_close(a, long.as_bytes(), 414);
    // 17 KiB of headers (default limit 16 KiB).
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(17 * 1024)
    );
    expect_status_and_close(a, big.as_bytes(), 431);
    // 101 header lines (default limit 100).
    let mut many = String::from("GET / HTTP/1.1\r\n");
    for i in 0..101 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    expect_status_and_close(a, many.as_bytes(), 431);
    // HTTP/2 prior knowledge on an HTTP/1 port.
    expect_status_and_close(a, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505);
}

#[test]
fn body_over_the_cap_gets_413() {
    let mut cfg = test_config();
    cfg.limits.max_body_bytes = Some(1000);
    let srv = server_with(cfg);
    let a = srv.local_addr();
    // Declared too large: refused before any byte is read.
    expect_status_and_close(
        a,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n",
        413,
    );
    // Chunked, found too large while streaming.
    let mut raw = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        raw.extend_from_slice(b"190\r\n");
        raw.extend_from_slice(&[b'x'; 400]);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    expect_status_and_close(a, &raw, 413);
    // At the cap is fine.
    let mut raw = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n".to_vec();
    raw.extend_from_slice(&[b'y'; 1000]);
    assert_eq!(roundtrip(a, &raw).text(), "ok 1000");
}

#[test]
fn slowloris_head_gets_408_within_the_header_timeout() {
    let mut cfg = test_config();
    cfg.timeouts.header_read = Duration::from_millis(150);
    let srv = server_with(cfg);
    let s = connect(srv.local_addr());
    let t0 = Instant::now();
    // Trickle a head that never completes, a header every 20 ms, for far
    // longer than the timeout: a timer that restarted on every read would
    // never fire while this goes on. The 408 must come on time regardless.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trickler = {
        let mut w = s.try_clone().unwrap();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let _ = w.write_all(b"GET / HTTP/1.1\r\n");
            while !stop.load(std::sync::atomic::Ordering::SeqCst)
                && t0.elapsed() < Duration::from_secs(4)
            {
                std::thread::sleep(Duration::from_millis(20));
                if w.write_all(b"X-Slow: 1\r\n").is_err() {
                    break; // the server closed it
                }
            }
        })
    };
    let mut r = Reader::new(s);
    let resp = r.response(false).unwrap();
    let waited = t0.elapsed();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(resp.status, 408);
    assert!(
        waited >= Duration::from_millis(140),
        "408 came too early: {waited:?}"
    );
    // Loose for a loaded box (10x the timeout), yet far under the 4 s of
    // trickling that a restarting timer would wait out.
    assert!(
        waited < Duration::from_millis(1500),
        "408 came too late (does each read restart the timer?): {waited:?}"
    );
    r.assert_closed();
    trickler.join().unwrap();
}

#[test]
fn stalled_body_gets_408() {
    let mut cfg = test_config();
    cfg.timeouts.body_read = Duration::from_millis(150);
    let srv = server_with(cfg);
    let mut s = connect(srv.local_addr());
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-part")
        .unwrap();
    let mut r = Reader::new(s);
    let resp = r.response(false).unwrap();
    assert_eq!(resp.status, 408);
    r.assert_closed();
}

#[test]
fn idle_keepalive_connection_closes_quietly() {
    let mut cfg = test_config();
    cfg.timeouts.keepalive_idle = Duration::from_millis(100);
    let srv = server_with(cfg);
    let mut r = Reader::new(connect(srv.local_addr()));
    r.stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(r.response(false).unwrap().status, 200);
    let t0 = Instant::now();
    // No bytes, just EOF: a quiet close.
    let mut rest = Vec::new();
    r.stream.read_to_end(&mut rest).unwrap();
    assert!(
        rest.is_empty(),
        "idle close must not send anything: {rest:?}"
    );
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(90) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

#[test]
fn a_bad_client_does_not_disturb_a_good_one() {
    let srv = server_with(test_config());
    let mut good = Reader::new(connect(srv.local_addr()));
    good.stream
        .write_all(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(good.response(false).unwrap().status, 200);
    for _ in 0..20 {
        expect_status_and_close(srv.local_addr(), b"\x00\x01\x02 nonsense\r\n\r\n", 400);
    }
    good.stream
        .write_all(b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(good.response(false).unwrap().status, 200);
}
