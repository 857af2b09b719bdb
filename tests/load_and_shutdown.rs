//! Many concurrent keep-alive connections, and graceful shutdown.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use ringworker::{Request, Response};

#[test]
fn serves_1000_concurrent_keepalive_connections() {
    raise_nofile();
    let mut cfg = test_config();
    cfg.shards = 2;
    let srv = start(cfg, |_| {
        |req: Request| async move {
            glommio::timer::sleep(Duration::from_millis(1)).await;
            Response::text(200, req.target().to_string())
        }
    });
    let mut conns: Vec<Reader> = (0..1000)
        .map(|_| Reader::new(connect(srv.local_addr())))
        .collect();
    for round in 0..3 {
        // Every connection has a request in flight at once.
        for (i, c) in conns.iter_mut().enumerate() {
            write!(c.stream, "GET /{round}/{i} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        }
        for (i, c) in conns.iter_mut().enumerate() {
            let resp = c.response(false).unwrap();
            assert_eq!(resp.status, 200);
            assert_eq!(resp.text(), format!("/{round}/{i}"));
        }
    }
    let total = ringworker::ShardStats::total(&srv.stats());
    assert_eq!(total.requests, 3000);
    assert_eq!(total.open_connections, 1000);
    assert_eq!(total.accepted, 1000);
    drop(conns);
    srv.shutdown();
    srv.join().unwrap();
}

#[test]
fn graceful_shutdown_finishes_the_in_flight_request() {
    let (started, rx) = std::sync::mpsc::channel();
    let srv = start(test_config(), move |_| {
        let started = started.clone();
        move |_req: Request| {
            let _ = started.send(());
            async move {
                glommio::timer::sleep(Duration::from_millis(300)).await;
                Response::text(200, "finished despite shutdown")
            }
        }
    });
    let addr = srv.local_addr();
    let idle = connect(addr);
    let mut busy = Reader::new(connect(addr));
    busy.stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // Shut down once the request is in flight (and the idle connection,
    // accepted before it on the same shard, is open).
    rx.recv_timeout(Duration::from_secs(5))
        .expect("the request started");
    let t0 = Instant::now();
    srv.shutdown();
    // The in-flight request completes, marked as the connection's last.
    let resp = busy.response(false).unwrap();
    assert_eq!(resp.text(), "finished despite shutdown");
    assert_eq!(resp.header("connection"), Some("close"));
    busy.assert_closed();
    // The idle keep-alive connection was closed without a response.
    Reader::new(idle).assert_closed();
    srv.join().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5));
    // Nothing listens any more.
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn drain_deadline_closes_what_does_not_finish() {
    let mut cfg = test_config();
    cfg.timeouts.drain = Duration::from_millis(200);
    let (started, rx) = std::sync::mpsc::channel();
    let srv = start(cfg, move |_| {
        let started = started.clone();
        move |req: Request| {
            let _ = started.send(());
            async move {
                // Ignores the world until cancelled.
                req.cancel_flag().cancelled().await;
                Response::text(200, "too late")
            }
        }
    });
    let mut stuck = Reader::new(connect(srv.local_addr()));
    stuck
        .stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    rx.recv_timeout(Duration::from_secs(5))
        .expect("the request started");
    let t0 = Instant::now();
    srv.shutdown();
    srv.join().unwrap();
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(180) && took < Duration::from_secs(3),
        "{took:?}"
    );
    stuck.assert_closed();
}
