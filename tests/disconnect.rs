//! Disconnect detection: a client that closes (FIN) or resets (RST) while its
//! request is in flight — with the handler neither reading nor writing — has
//! the request's cancel flag set within a millisecond, from the socket itself.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use ringworker::{CancelReason, Request, Response, ResponseBody};

enum Event {
    Started,
    Cancelled(Instant, CancelReason),
}

fn detection_server() -> (ringworker::Server, mpsc::Receiver<Event>) {
    let (tx, rx) = mpsc::channel::<Event>();
    let srv = start(test_config(), move |_| {
        let tx = tx.clone();
        move |req: Request| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(Event::Started);
                let reason = req.cancel_flag().cancelled().await;
                let at = req.cancel_flag().cancelled_at().unwrap();
                let _ = tx.send(Event::Cancelled(at, reason));
                Response::text(200, "client is gone anyway")
            }
        }
    });
    (srv, rx)
}

fn measure(reset: bool, rounds: usize) -> Vec<Duration> {
    let (srv, rx) = detection_server();
    let mut delays = Vec::new();
    for _ in 0..rounds {
        let mut s = connect(srv.local_addr());
        s.write_all(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert!(matches!(
            rx.recv_timeout(Duration::from_secs(5)).unwrap(),
            Event::Started
        ));
        // Let the server settle into waiting (no read or write in progress).
        std::thread::sleep(Duration::from_millis(2));
        if reset {
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
        }
        let t0 = Instant::now();
        drop(s);
        match rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the cancel flag is set")
        {
            Event::Cancelled(at, reason) => {
                let want = if reset {
                    CancelReason::PeerReset
                } else {
                    CancelReason::PeerClosed
                };
                assert_eq!(reason, want);
                delays.push(at.saturating_duration_since(t0));
            }
            Event::Started => panic!("unexpected request"),
        }
    }
    let stats = srv.stats();
    assert_eq!(stats[0].disconnects, rounds as u64);
    delays.sort();
    delays
}

#[test]
fn disconnect_sets_the_cancel_flag_within_a_millisecond() {
    for reset in [false, true] {
        let d = measure(reset, 200);
        let p50 = d[d.len() / 2];
        let p90 = d[d.len() * 9 / 10];
        let p99 = d[d.len() * 99 / 100];
        let max = *d.last().unwrap();
        eprintln!(
            "{} -> cancel flag: p50 {p50:?} p90 {p90:?} p99 {p99:?} max {max:?} over {} disconnects",
            if reset { "RST" } else { "FIN" },
            d.len()
        );
        // Typical on this 2-core box, even at a load average of 14: p50
        // ~0.09 ms, p90 ~0.2 ms. The bounds are about 10x that, so they hold
        // under load and still catch a detection that waits for something
        // (a timer tick, the next read) instead of the socket event.
        assert!(
            p50 < Duration::from_millis(1),
            "median detection delay {p50:?}"
        );
        assert!(
            p90 < Duration::from_millis(2),
            "p90 detection delay {p90:?}"
        );
        // The tail: before issue 20's fix, a shard idle since the request
        // came (the 2 ms above outlast idle_ring_wait) saw the FIN/RST
        // 14-18 ms late at p99. Now p99 is 0.2-0.4 ms, and 3-4 ms in runs
        // where other work competes for the 2 cores (load average ~10); the
        // bound sits between the two.
        assert!(
            p99 < Duration::from_millis(10),
            "p99 detection delay {p99:?}"
        );
    }
}

#[test]
fn disconnect_mid_stream_stops_the_producer_and_spares_other_connections() {
    let (tx, rx) = mpsc::channel::<bool>();
    let srv = start(test_config(), move |_| {
        let tx = tx.clone();
        move |req: Request| {
            let tx = tx.clone();
            async move {
                let (body_tx, body) = ResponseBody::channel(1, None);
                let slow = req.path() == "/slow";
                glommio::spawn_local(async move {
                    let mut i = 0u64;
                    loop {
                        if body_tx
                            .send(bytes::Bytes::from(format!("tick {i}\n")))
                            .await
                            .is_err()
                        {
                            // The receiver is gone: the client left.
                            let _ = tx.send(true);
                            return;
                        }
                        i += 1;
                        if !slow && i == 20 {
                            return;
                        }
                        glommio::timer::sleep(Duration::from_millis(if slow { 20 } else { 5 }))
                            .await;
                    }
                })
                .detach();
                Response::new(200).body(body)
            }
        }
    });
    // A long stream whose client leaves after the first chunk.
    let mut leaver = Reader::new(connect(srv.local_addr()));
    leaver
        .stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // Meanwhile a neighbour streams to completion on another connection.
    let addr = srv.local_addr();
    let neighbour = std::thread::spawn(move || {
        let mut r = Reader::new(connect(addr));
        r.stream
            .write_all(b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let resp = r.response(false).unwrap();
        let want: String = (0..20).map(|i| format!("tick {i}\n")).collect();
        assert_eq!(resp.text(), want);
    });
    let mut first = [0u8; 64];
    let _ = std::io::Read::read(&mut leaver.stream, &mut first).unwrap();
    drop(leaver);
    assert!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap(),
        "producer saw the client leave"
    );
    neighbour.join().unwrap();
}

#[test]
fn disconnect_mid_body_fails_the_body_read() {
    let (tx, rx) = mpsc::channel::<String>();
    let srv = start(test_config(), move |_| {
        let tx = tx.clone();
        move |mut req: Request| {
            let tx = tx.clone();
            async move {
                let r = req.take_body().collect(1 << 20).await;
                let _ = tx.send(format!("{r:?} {:?}", req.cancel_flag().reason()));
                Response::text(200, "x")
            }
        }
    });
    let mut s = TcpStream::connect(srv.local_addr()).unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\npartial")
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    drop(s);
    let got = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        got.contains("Incomplete") && got.contains("PeerClosed"),
        "{got}"
    );
}
