//! HTTP/1.1 protocol behaviour over real loopback sockets: keep-alive,
//! pipelining order, HTTP/1.0, `Connection: close`, `Expect: 100-continue`,
//! HEAD, the `Date` header, handler panics.

mod common;

use std::io::Write;
use std::time::Duration;

use common::*;
use ringworker::{Request, Response, ResponseBody};

fn path_echo_server() -> ringworker::Server {
    start(test_config(), |_| {
        |req: Request| async move {
            // Vary the latency so a server that answered out of order would show it.
            let delay = match req.path() {
                "/slow" => 30,
                "/medium" => 10,
                _ => 0,
            };
            if delay > 0 {
                glommio::timer::sleep(Duration::from_millis(delay)).await;
            }
            if req.path() == "/panic" {
                panic!("handler exploded on purpose");
            }
            Response::text(200, format!("{} {}", req.method(), req.target()))
        }
    })
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let srv = path_echo_server();
    let mut r = Reader::new(connect(srv.local_addr()));
    for i in 0..50 {
        write!(r.stream, "GET /n/{i} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let resp = r.response(false).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.text(), format!("GET /n/{i}"));
        assert!(
            resp.header("date")
                .is_some_and(|d| d.ends_with(" GMT") && d.len() == 29)
        );
    }
    srv.shutdown();
    srv.join().unwrap();
}

#[test]
fn pipelined_responses_come_back_in_request_order() {
    let srv = path_echo_server();
    let mut r = Reader::new(connect(srv.local_addr()));
    let paths = ["/slow", "/fast", "/medium", "/fast2", "/slow", "/x?y=1"];
    let mut batch = Vec::new();
    for p in paths {
        batch.extend_from_slice(format!("GET {p} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    // One write: every request arrives before the first answer.
    r.stream.write_all(&batch).unwrap();
    for p in paths {
        let resp = r.response(false).unwrap();
        assert_eq!(resp.text(), format!("GET {p}"));
    }
    // Deep pipelines (more than the parse-ahead depth) too.
    let mut batch = Vec::new();
    for i in 0..200 {
        batch.extend_from_slice(format!("GET /p{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    }
    r.stream.write_all(&batch).unwrap();
    for i in 0..200 {
        assert_eq!(r.response(false).unwrap().text(), format!("GET /p{i}"));
    }
}

#[test]
fn http10_and_connection_close() {
    let srv = path_echo_server();
    // HTTP/1.0 without keep-alive: answered, then closed.
    let mut s = connect(srv.local_addr());
    s.write_all(b"GET /old HTTP/1.0\r\n\r\n").unwrap();
    let mut r = Reader::new(s);
    let resp = r.response(false).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "GET /old");
    r.assert_closed();

    // HTTP/1.0 with keep-alive: stays open.
    let mut r = Reader::new(connect(srv.local_addr()));
    for _ in 0..3 {
        r.stream
            .write_all(b"GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let resp = r.response(false).unwrap();
        assert_eq!(resp.header("connection"), Some("keep-alive"));
    }

    // HTTP/1.1 with Connection: close: answered with `connection: close`, then closed.
    let mut r = Reader::new(connect(srv.local_addr()));
    r.stream
        .write_all(b"GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let resp = r.response(false).unwrap();
    assert_eq!(resp.header("connection"), Some("close"));
    r.assert_closed();
}

#[test]
fn http10_streaming_body_is_close_delimited() {
    let srv = start(test_config(), |_| {
        |_req: Request| async move {
            let (tx, body) = ResponseBody::channel(2, None);
            glommio::spawn_local(async move {
                for i in 0..3 {
                    tx.send(bytes::Bytes::from(format!("part{i};")))
                        .await
                        .unwrap();
                }
            })
            .detach();
            Response::new(200).body(body)
        }
    });
    let mut s = connect(srv.local_addr());
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let resp = Reader::new(s).response(false).unwrap();
    assert!(resp.header("transfer-encoding").is_none());
    assert_eq!(resp.text(), "part0;part1;part2;");
}

#[test]
fn head_gets_headers_without_body() {
    let srv = path_echo_server();
    let mut r = Reader::new(connect(srv.local_addr()));
    r.stream
        .write_all(b"HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let resp = r.response(true).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-length"), Some("7")); // "HEAD /h"
    // The next response on the connection starts right after the head.
    r.stream
        .write_all(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(r.response(false).unwrap().text(), "GET /after");
}

#[test]
fn expect_100_continue_is_answered_when_the_body_is_read() {
    let srv = start(test_config(), |_| {
        |mut req: Request| async move {
            let body = req.take_body().collect(1 << 20).await.unwrap();
            Response::text(200, format!("got {} bytes", body.len()))
        }
    });
    let mut r = Reader::new(connect(srv.local_addr()));
    r.stream
        .write_all(
            b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap();
    let interim = r.response(false).unwrap();
    assert_eq!(interim.status, 100);
    r.stream.write_all(b"hello").unwrap();
    let resp = r.response(false).unwrap();
    assert_eq!(resp.text(), "got 5 bytes");
    // A body over the limit with Expect is refused before it is sent.
    drop(r);
    let mut cfg = test_config();
    cfg.limits.max_body_bytes = Some(10);
    let srv2 = start(cfg, |_| {
        |_req: Request| async { Response::text(200, "never") }
    });
    let resp = roundtrip(
        srv2.local_addr(),
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n",
    );
    assert_eq!(resp.status, 413);
}

#[test]
fn handler_panic_answers_500_and_the_shard_keeps_serving() {
    let srv = path_echo_server();
    let resp = roundtrip(srv.local_addr(), b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(resp.status, 500);
    let resp = roundtrip(srv.local_addr(), b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(resp.status, 200);
    let stats = srv.stats();
    assert_eq!(stats.len(), 1);
    assert!(stats[0].server_errors() >= 1);
    assert!(stats[0].requests >= 2);
}

#[test]
fn invalid_response_header_from_handler_is_refused_not_sent() {
    let srv = start(test_config(), |_| {
        |_req: Request| async {
            Response::text(200, "x").header("x-evil", "a\r\nset-cookie: pwned=1")
        }
    });
    let resp = roundtrip(srv.local_addr(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(resp.status, 500);
    assert!(resp.header("set-cookie").is_none());
}

#[test]
fn shards_share_one_port_and_report_stats() {
    let mut cfg = test_config();
    cfg.shards = 2;
    let srv = start(cfg, |shard| {
        move |_req: Request| async move { Response::text(200, shard.to_string()) }
    });
    let mut seen = std::collections::HashSet::new();
    for _ in 0..64 {
        let resp = roundtrip(
            srv.local_addr(),
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        seen.insert(resp.text());
    }
    // Both shards took connections on the one port (SO_REUSEPORT spreads
    // them by the 4-tuple: all 64 on one shard is a 2^-63 chance, or a bug).
    let both: std::collections::HashSet<String> = ["shard-0".into(), "shard-1".into()].into();
    assert_eq!(seen, both);
    let stats = srv.stats();
    assert_eq!(stats.len(), 2);
    assert!(stats.iter().all(|s| s.requests > 0), "{stats:?}");
    let total = ringworker::ShardStats::total(&stats);
    assert_eq!(total.requests, 64);
    assert_eq!(total.latency_us.len(), 64);
}
