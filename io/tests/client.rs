//! The outbound client against real upstreams on 127.0.0.1: small std-thread
//! HTTP servers (plain and rustls) started by each test, the client on a
//! glommio executor with its own network ring.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use glommio::{LocalExecutorBuilder, Placement};
use ringworker_core::{CancelFlag, OutboundConfig};
use ringworker_io::BodyError;
use ringworker_io::client::{Client, FetchError, OutboundBody, OutboundRequest};
use ringworker_io::uring::{NetRing, NetRingConfig};

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// Runs `f` on a fresh glommio executor with a started network ring.
fn on_shard<F, Fut>(f: F)
where
    F: FnOnce(Rc<NetRing>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(256 << 10)
        .ring_depth(64)
        .spawn(move || async move {
            let ring = NetRing::start(NetRingConfig {
                entries: 256,
                recv_buffers: 64,
                recv_buffer_size: 16 * 1024,
                ..NetRingConfig::default()
            })
            .expect("network ring");
            f(ring.clone()).await;
            ring.stop();
        })
        .expect("executor")
        .join()
        .expect("test thread");
}

fn cfg() -> OutboundConfig {
    OutboundConfig {
        connect_timeout: Duration::from_secs(5),
        ..OutboundConfig::default()
    }
}

/// GETs `url` and reads the whole body (at most `limit` bytes).
async fn get_body(client: &std::rc::Rc<Client>, url: &str, limit: usize) -> Bytes {
    client
        .send(get(url))
        .await
        .unwrap()
        .body
        .collect(limit)
        .await
        .unwrap()
}

fn get(url: &str) -> OutboundRequest {
    request("GET", url, OutboundBody::Empty)
}

fn request(method: &str, url: &str, body: OutboundBody) -> OutboundRequest {
    OutboundRequest {
        method: method.into(),
        url: url.parse().unwrap(),
        headers: vec![],
        body,
        cancel: None,
    }
}

fn fnv(data: &[u8], mut h: u64) -> u64 {
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}
const FNV0: u64 = 0xcbf2_9ce4_8422_2325;

/// Deterministic pseudo-random bytes.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A request as the test upstream read it.
#[derive(Debug, Clone)]
struct Req {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request (head and body, content-length or chunked); `None` at EOF.
fn read_request<R: BufRead>(r: &mut R) -> Option<Req> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).ok()? == 0 {
            return None;
        }
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':')?;
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    let mut req = Req {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    if req
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            req.body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = req
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        req.body.resize(n, 0);
        r.read_exact(&mut req.body).ok()?;
    }
    Some(req)
}

/// What a handler learns about its request's place.
struct At {
    /// Which accepted connection (0-based).
    conn: usize,
    /// Which request on that connection (0-based).
    nth: usize,
}

/// A plain HTTP upstream: each connection on its own thread; `handler`
/// writes the whole response itself and says whether to keep the connection.
struct Upstream {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

fn upstream<F>(handler: F) -> Upstream
where
    F: Fn(&Req, &mut TcpStream, At) -> bool + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { return };
            let conn = count.fetch_add(1, Ordering::SeqCst);
            let handler = handler.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(s.try_clone().unwrap());
                let mut w = s;
                let mut nth = 0;
                while let Some(req) = read_request(&mut reader) {
                    if !handler(&req, &mut w, At { conn, nth }) {
                        break;
                    }
                    nth += 1;
                }
            });
        }
    });
    Upstream { addr, accepted }
}

fn respond(w: &mut impl Write, status: &str, headers: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\n{headers}\r\n",
        body.len()
    );
    w.write_all(head.as_bytes()).unwrap();
    w.write_all(body).unwrap();
}

/// An address nothing listens on.
fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

// ---------------------------------------------------------------------------
// Plain HTTP
// ---------------------------------------------------------------------------

#[test]
fn get_with_content_length() {
    let up = upstream(|req, w, _| {
        assert_eq!(req.method, "GET");
        let host = req.header("host").unwrap().to_string();
        respond(
            w,
            "200 Fine",
            &format!("X-Echo-Host: {host}\r\nX-Target: {}\r\n", req.target),
            b"hello",
        );
        true
    });
    let url = format!("http://{}/path?q=1", up.addr);
    let addr = up.addr;
    on_shard(move |ring| async move {
        let client = Client::new(ring, &cfg()).unwrap();
        let resp = client.send(get(&url)).await.unwrap();
        assert_eq!((resp.status, resp.reason.as_str()), (200, "Fine"));
        assert!(!resp.conn_reused);
        let h = |n: &str| {
            resp.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(h("X-Echo-Host"), Some(addr.to_string()));
        assert_eq!(h("X-Target").as_deref(), Some("/path?q=1"));
        assert_eq!(resp.body.content_length(), Some(5));
        assert_eq!(&resp.body.collect(1 << 20).await.unwrap()[..], b"hello");
    });
}

#[test]
fn chunked_response_in_pieces() {
    let up = upstream(|_, w, _| {
        w.write_all(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .unwrap();
        for piece in [
            &b"5\r\nhello\r\n"[..],
            b"1;ext=1\r\n \r\n",
            b"5\r\nwor",
            b"ld\r\n0\r\nX-T: 1\r\n\r\n",
        ] {
            w.write_all(piece).unwrap();
            w.flush().unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    });
    let url = format!("http://{}/", up.addr);
    on_shard(move |ring| async move {
        let client = Client::new(ring, &cfg()).unwrap();
        let resp = client.send(get(&url)).await.unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body.content_length(), None);
        assert_eq!(
            &resp.body.collect(1 << 20).await.unwrap()[..],
            b"hello world"
        );
        // The chunked body ended cleanly: its connection went back to the pool.
        glommio::timer::sleep(Duration::from_millis(5)).await;
        assert_eq!(client.stats().idle, 1);
        let again = client.send(get(&url)).await.unwrap();
        assert!(again.conn_reused);
        assert_eq!(
            &again.body.collect(1 << 20).await.unwrap()[..],
            b"hello world"
        );
    });
}

#[test]
fn head_and_no_content_have_no_body() {
    let up = upstream(|req, w, _| {
        if req.method == "HEAD" {
            w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
                .unwrap();
        } else {
            w.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
        }
        true
    });
    let url = format!("http://{}/", up.addr);
    let accepted = up.accepted.clone();
    on_shard(move |ring| async move {
        let client = Client::new(ring, &cfg()).unwrap();
        let resp = client
            .send(request("HEAD", &url, OutboundBody::Empty))
            .await
            .unwrap();
        assert!(resp.body.is_empty());
        let resp = client.send(get(&url)).await.unwrap();
        assert_eq!(resp.status, 204);
        assert!(resp.body.is_empty() && resp.conn_reused);
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    });
}

fn body_summary(req: &Req) -> String {
    let framing = if req.header("transfer-encoding").is_some() {
        "chunked".to_string()
    } else {
        format!("length {}", req.header("content-length").unwrap_or("-"))
    };
    format!("{} {:x} {framing}", req.body.len(), fnv(&req.body, FNV0))
}

#[test]
fn streaming_request_bodies() {
    let up = upstream(|req, w, _| {
        respond(w, "200 OK", "", body_summary(req).as_bytes());
        true
    });
    let url = format!("http://{}/upload", up.addr);
    on_shard(move |ring| async move {
        let client = Client::new(ring, &cfg()).unwrap();
        let data = noise(3 << 20, 7);
        let expected_sum = fnv(&data, FNV0);
        for known in [false, true] {
            let chunks: Vec<Result<Bytes, BodyError>> = data
                .chunks(50_000)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            let body = OutboundBody::Stream {
                length: known.then_some(data.len() as u64),
                stream: Box::pin(futures_lite::stream::iter(chunks)),
            };
            let resp = client.send(request("POST", &url, body)).await.unwrap();
            let summary = resp.body.collect(1024).await.unwrap();
            let framing = if known {
                format!("length {}", data.len())
            } else {
                "chunked".into()
            };
            assert_eq!(
                std::str::from_utf8(&summary).unwrap(),
                format!("{} {expected_sum:x} {framing}", data.len())
            );
        }
        // A whole body goes with a content-length.
        let big = Bytes::from(noise(100_000, 9));
        let resp = client
            .send(request("PUT", &url, OutboundBody::Full(big.clone())))
            .await
            .unwrap();
        let summary = resp.body.collect(1024).await.unwrap();
        assert_eq!(
            std::str::from_utf8(&summary).unwrap(),
            format!("100000 {:x} length 100000", fnv(&big, FNV0))
        );
        assert_eq!(client.stats().connects, 1);
    });
}

#[test]
fn request_body_waits_for_the_socket() {
    // The upstream reads the head, then nothing for a while: the producer
    // must stop being pulled once the socket buffers are full.
    let (tx, rx) = mpsc::channel::<()>();
    let rx = Mutex::new(rx);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        while r.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        rx.lock().unwrap().recv().unwrap();
        let mut sink = vec![0u8; 1 << 16];
        while r.read(&mut sink).unwrap_or(0) > 0 {}
    });
    let url = format!("http://{addr}/");
    on_shard(move |ring| async move {
        let client = Client::new(ring, &cfg()).unwrap();
        let pulled = Rc::new(std::cell::Cell::new(0usize));
        let p = pulled.clone();
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        let stream = futures_lite::stream::repeat_with(move || {
            p.set(p.get() + 1);
            Ok(chunk.clone())
        });
        let body = OutboundBody::Stream {
            length: None,
            stream: Box::pin(stream),
        };
        let cancel = CancelFlag::new();
        let mut req = request("POST", &url, body);
        req.cancel = Some(cancel.clone());
        let c2 = client.clone();
        let task = glommio::spawn_local(async move { c2.send(req).await });
        glommio::timer::sleep(Duration::from_millis(300)).await;
        let at_300 = pulled.get();
        glommio::timer::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            pulled.get(),
            at_300,
            "the producer was pulled while the socket was full"
        );
        assert!(
            at_300 * 64 * 1024 < 64 << 20,
            "{at_300} chunks pulled ahead"
        );
        cancel.cancel(ringworker_core::CancelReason::Aborted);
        assert_eq!(task.await.err(), Some(FetchError::Aborted));
        tx.send(()).unwrap();
    });
}

#[test]
fn sequential_requests_share_one_connection() {
    let up = upstream(|req, w, at| {
        respond(
            w,
            "200 OK",
            "",
            format!("{} {}", at.conn, at.nth).as_bytes(),
        );
        let _ = req;
        true
    });
    let url = format!("http://{}/", up.addr);
    let accepted = up.accepted.clone();
    on_shard(move |ring| async move {
        let client = Client::new(ring, &cfg()).unwrap();
        for i in 0..5 {
            let resp = client.send(get(&url)).await.unwrap();
            assert_eq!(resp.conn_reused, i > 0);
            let body = resp.body.collect(100).await.unwrap();
            assert_eq!(std::str::from_utf8(&body).unwrap(), format!("0 {i}"));
        }
        let s = client.stats();
        assert_eq!((s.connects, s.reuses, s.idle), (1, 4, 1));
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn connection_close_is_honoured_both_ways() {
    let up = upstream(|req, w, _| {
        if req.target == "/server-closes" {
            respond(w, "200 OK", "connection: close\r\n", b"x");
            return false;
        }
        respond(w, "200 OK", "", b"x");
        true
    });
    let base = format!("http://{}", up.addr);
    let accepted = up.accepted.clone();
    on_shard(move |ring| async move {
        let client = Client::new(ring, &cfg()).unwrap();
        let mut req = get(&format!("{base}/"));
        req.headers.push(("Connection".into(), "close".into()));
        client
            .send(req)
            .await
            .unwrap()
            .body
            .collect(10)
            .await
            .unwrap();
        let resp = client
            .send(get(&format!("{base}/server-closes")))
            .await
            .unwrap();
        resp.body.collect(10).await.unwrap();
        client
            .send(get(&format!("{base}/")))
            .await
            .unwrap()
            .body
            .collect(10)
            .await
            .unwrap();
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
        assert_eq!(client.stats().reuses, 0);
    });
}

#[test]
fn a_pooled_connection_the_server_closed_is_dropped() {
    // The server closes the connection after its first response, when told.
    let (close_tx, close_rx) = mpsc::channel::<()>();
    let close_rx = Mutex::new(close_rx);
    let up = upstream(move |_, w, _| {
        respond(w, "200 OK", "", b"ok");
        let _ = close_rx.lock().unwrap().recv();
        let _ = w.shutdown(std::net::Shutdown::Both);
        false
    });
    let url = format!("http://{}/", up.addr);
    on_shard(move |ring| async move {
        let client = Client::new(ring, &cfg()).unwrap();
        get_body(&client, &url, 10).await;
        assert_eq!(client.stats().idle, 1);
        close_tx.send(()).unwrap();
        // The FIN reaches the pool's sweeper: the connection goes at once,
        // without a request having to find it stale.
        let started = Instant::now();
        while client.stats().idle > 0 {
            assert!(started.elapsed() < Duration::from_secs(2), "still pooled");
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        eprintln!(
            "closed pooled connection dropped after {:?}",
            started.elapsed()
        );
        close_tx.send(()).unwrap();
        let resp = client.send(get(&url)).await.unwrap();
        assert!(!resp.conn_reused);
        assert_eq!(client.stats().connects, 2);
    });
}

#[test]
fn a_stale_pooled_connection_is_retried_on_a_new_one() {
    // Every second request on a connection is met with a close and no
    // response: the race of a keep-alive timeout on the server.
    let up = upstream(|_, w, at| {
        if at.nth == 1 {
            let _ = w.shutdown(std::net::Shutdown::Both);
            return false;
        }
        respond(w, "200 OK", "", b"ok");
        true
    });
    let url = format!("http://{}/", up.addr);
    let accepted = up.accepted.clone();
    on_shard(move |ring| async move {
        let client = Client::new(ring, &cfg()).unwrap();
        get_body(&client, &url, 10).await;
        let resp = client
            .send(request(
                "PUT",
                &url,
                OutboundBody::Full(Bytes::from_static(b"again")),
            ))
            .await
            .unwrap();
        assert_eq!(&resp.body.collect(10).await.unwrap()[..], b"ok");
        let s = client.stats();
        assert_eq!((s.connects, s.reuses, s.retries), (2, 1, 1));
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        // A POST is not retried: it may have been acted on.
        let resp = client
            .send(request("POST", &url, OutboundBody::Empty))
            .await;
        match resp {
            Err(FetchError::Closed { .. }) => {}
            other => panic!("expected a closed-connection error, got {other:?}"),
        }
    });
}

#[test]
fn dropping_the_body_closes_the_upstream_connection_at_once() {
    let (tx, rx) = mpsc::channel::<Instant>();
    let tx = Mutex::new(tx);
    let up = upstream(move |_, w, _| {
        w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000000\r\n\r\n")
            .unwrap();
        let block = vec![b'z'; 256 * 1024];
        // Writes until the client is gone; then reports when it noticed.
        while w.write_all(&block).is_ok() {}
        tx.lock().unwrap().send(Instant::now()).unwrap();
        false
    });
    let url = format!("http://{}/", up.addr);
    on_shard(move |ring| async move {
        let client = Client::new(ring, &cfg()).unwrap();
        let mut resp = client.send(get(&url)).await.unwrap();
        let first = resp.body.chunk().await.unwrap().unwrap();
        assert!(!first.is_empty());
        // Let the upstream fill every buffer and block in its write.
        glommio::timer::sleep(Duration::from_millis(50)).await;
        let dropped = Instant::now();
        drop(resp);
        glommio::timer::sleep(Duration::from_millis(100)).await;
        let noticed = rx
            .recv_timeout(Duration::from_secs(2))
            .expect("the upstream saw the close");
        let after = noticed.saturating_duration_since(dropped);
        eprintln!("upstream saw the dropped body's close after {after:?}");
        assert!(
            after < Duration::from_millis(50),
            "upstream noticed after {after:?}"
        );
        assert_eq!(client.stats().idle, 0);
    });
}

#[test]
fn cancel_aborts_a_pending_request() {
    let (tx, rx) = mpsc::channel::<Instant>();
    let tx = Mutex::new(tx);
    let up = upstream(move |_, w, _| {
        // Never answers; reports when the client went away.
        let mut buf = [0u8; 16];
        let _ = w.read(&mut buf);
        tx.lock().unwrap().send(Instant::now()).unwrap();
        false
    });
    let url = format!("http://{}/", up.addr);
    on_shard(move |ring| async move {
        let client = Client::new(ring, &cfg()).unwrap();
        let cancel = CancelFlag::new();
        let mut req = get(&url);
        req.cancel = Some(cancel.clone());
        let c2 = client.clone();
        let task = glommio::spawn_local(async move { c2.send(req).await });
        glommio::timer::sleep(Duration::from_millis(30)).await;
        let at = Instant::now();
        cancel.cancel(ringworker_core::CancelReason::Aborted);
        let err = task.await.unwrap_err();
        assert_eq!(err, FetchError::Aborted);
        assert_eq!(err.to_string(), "The operation was aborted");
        let noticed = rx
            .recv_timeout(Duration::from_secs(2))
            .expect("the upstream saw the close");
        let after = noticed.saturating_duration_since(at);
        eprintln!("upstream saw the cancelled request's close after {after:?}");
        assert!(after < Duration::from_millis(50));
        // A flag cancelled before the request: nothing is sent.
        let mut req = get(&url);
        req.cancel = Some(cancel);
        assert_eq!(client.send(req).await.unwrap_err(), FetchError::Aborted);
    });
}

#[test]
fn cancel_fails_a_streaming_body() {
    let up = upstream(|_, w, _| {
        w.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_secs(2));
        false
    });
    let url = format!("http://{}/", up.addr);
    on_shard(move |ring| async move {
        let client = Client::new(ring, &cfg()).unwrap();
        let cancel = CancelFlag::new();
        let mut req = get(&url);
        req.cancel = Some(cancel.clone());
        let mut resp = client.send(req).await.unwrap();
        assert_eq!(&resp.body.chunk().await.unwrap().unwrap()[..], b"first");
        cancel.cancel(ringworker_core::CancelReason::Aborted);
        let err = resp.body.chunk().await.unwrap().unwrap_err();
        assert_eq!(err, BodyError::Stream("The operation was aborted".into()));
    });
}

#[test]
fn an_upstream_failing_mid_body_fails_that_body_only() {
    let size = 2 << 20;
    let data = Arc::new(noise(size, 3));
    let d = data.clone();
    let up = upstream(move |req, w, _| {
        w.write_all(format!("HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n").as_bytes())
            .unwrap();
        if req.target == "/fails" {
            w.write_all(&d[..size / 2]).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            let _ = w.shutdown(std::net::Shutdown::Both);
            return false;
        }
        for part in d.chunks(128 * 1024) {
            w.write_all(part).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    });
    let base = format!("http://{}", up.addr);
    on_shard(move |ring| async move {
        let client = Client::new(ring, &cfg()).unwrap();
        let (a, b) = futures_lite::future::zip(
            client.send(get(&format!("{base}/fails"))),
            client.send(get(&format!("{base}/ok"))),
        )
        .await;
        let (a, b) = (a.unwrap(), b.unwrap());
        let (ra, rb) =
            futures_lite::future::zip(a.body.collect(16 << 20), b.body.collect(16 << 20)).await;
        assert_eq!(
            ra.unwrap_err(),
            BodyError::Stream("upstream closed the connection before the body ended".into())
        );
        let rb = rb.unwrap();
        assert_eq!(rb.len(), size);
        assert!(rb[..] == data[..], "the other body is byte-exact");
        assert_eq!(client.stats().connects, 2);
    });
}

#[test]
fn connection_refused() {
    let addr = closed_port();
    on_shard(move |ring| async move {
        let client = Client::new(ring, &cfg()).unwrap();
        let err = client
            .send(get(&format!("http://{addr}/")))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("fetch failed: connection refused to {addr}")
        );
        // `localhost` tries both loopback addresses.
        let err = client
            .send(get(&format!("http://localhost:{}/", addr.port())))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Refused(_)), "{err}");
    });
}

#[test]
fn dns_failure_is_clear() {
    on_shard(move |ring| async move {
        let client = Client::new(ring, &cfg()).unwrap();
        let err = client
            .send(get("http://no-such-host.invalid/"))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("fetch failed: DNS lookup of no-such-host.invalid failed: "),
            "{text}"
        );
    });
}

#[test]
fn a_burst_to_a_new_name_makes_one_lookup() {
    // The machine's own name, if the system resolver maps it to 127.0.0.1
    // (from /etc/hosts); otherwise there is no name to test with offline.
    let mut buf = [0u8; 256];
    // SAFETY: a buffer of the given length.
    let n = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let name =
        String::from_utf8_lossy(&buf[..buf.iter().position(|b| *b == 0).unwrap_or(0)]).into_owned();
    use std::net::ToSocketAddrs;
    let loopback = n == 0
        && !name.is_empty()
        && (name.as_str(), 0)
            .to_socket_addrs()
            .is_ok_and(|mut a| a.all(|a| a.ip() == std::net::Ipv4Addr::LOCALHOST));
    if !loopback {
        eprintln!("skipped: the host name {name:?} does not resolve to 127.0.0.1 only");
        return;
    }
    let up = upstream(|_, w, _| {
        respond(w, "200 OK", "", b"ok");
        true
    });
    let url = format!("http://{name}:{}/", up.addr.port());
    on_shard(move |ring| async move {
        let client = Client::new(ring, &cfg()).unwrap();
        // Eight at once: one lookup, the others wait for it.
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (client, url) = (client.clone(), url.clone());
                glommio::spawn_local(async move {
                    let resp = client.send(get(&url)).await.unwrap();
                    resp.body.collect(10).await.unwrap()
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(&t.await[..], b"ok");
        }
        // And the answer is cached.
        get_body(&client, &url, 10).await;
        assert_eq!(client.stats().dns_lookups, 1);
    });
}

#[test]
fn response_head_too_large() {
    let up = upstream(|_, w, _| {
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..200 {
            head.extend_from_slice(format!("x-filler-{i}: {}\r\n", "v".repeat(50)).as_bytes());
        }
        head.extend_from_slice(b"content-length: 0\r\n\r\n");
        let _ = w.write_all(&head);
        true
    });
    let url = format!("http://{}/", up.addr);
    on_shard(move |ring| async move {
        let client = Client::new(
            ring,
            &OutboundConfig {
                max_response_head_bytes: 4096,
                ..cfg()
            },
        )
        .unwrap();
        let err = client.send(get(&url)).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "fetch failed: upstream response head exceeds 4096 bytes"
        );
    });
}

#[test]
fn malformed_response() {
    let up = upstream(|_, w, _| {
        let _ = w.write_all(b"SPDY/9 nonsense\r\n\r\n");
        false
    });
    let url = format!("http://{}/", up.addr);
    on_shard(move |ring| async move {
        let client = Client::new(ring, &cfg()).unwrap();
        let err = client.send(get(&url)).await.unwrap_err().to_string();
        assert!(
            err.starts_with("fetch failed: malformed response from http://127.0.0.1:"),
            "{err}"
        );
    });
}

#[test]
fn connect_timeout() {
    // A listener that never accepts, with its backlog filled: Linux drops
    // further SYNs, so a connect neither succeeds nor fails.
    let listener =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&addr.into());
        fillers.push(s);
    }
    std::thread::sleep(Duration::from_millis(50));
    on_shard(move |ring| async move {
        let client = Client::new(
            ring,
            &OutboundConfig {
                connect_timeout: Duration::from_millis(200),
                ..cfg()
            },
        )
        .unwrap();
        let started = Instant::now();
        let err = client
            .send(get(&format!("http://{addr}/")))
            .await
            .unwrap_err();
        let took = started.elapsed();
        assert_eq!(
            err.to_string(),
            format!("fetch failed: connect timeout to {addr} after 200ms")
        );
        assert!(
            took >= Duration::from_millis(190) && took < Duration::from_millis(1000),
            "{took:?}"
        );
        drop(fillers);
        drop(listener);
    });
}

#[test]
fn total_timeout_covers_head_and_body() {
    let up = upstream(|req, w, _| {
        if req.target == "/slow-head" {
            std::thread::sleep(Duration::from_millis(500));
            return false;
        }
        let _ = w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nsome");
        std::thread::sleep(Duration::from_millis(500));
        false
    });
    let base = format!("http://{}", up.addr);
    on_shard(move |ring| async move {
        let client = Client::new(
            ring,
            &OutboundConfig {
                total_timeout: Some(Duration::from_millis(100)),
                ..cfg()
            },
        )
        .unwrap();
        let started = Instant::now();
        let err = client
            .send(get(&format!("{base}/slow-head")))
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "fetch failed: timed out after 100ms");
        assert!(started.elapsed() < Duration::from_millis(400));
        let mut resp = client
            .send(get(&format!("{base}/slow-body")))
            .await
            .unwrap();
        assert_eq!(&resp.body.chunk().await.unwrap().unwrap()[..], b"some");
        assert_eq!(
            resp.body.chunk().await.unwrap().unwrap_err(),
            BodyError::Timeout
        );
    });
}

#[test]
fn upgrade_hands_over_the_connection() {
    let up = upstream(|req, w, _| {
        assert_eq!(req.header("upgrade"), Some("test-proto"));
        w.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: test-proto\r\nConnection: Upgrade\r\n\r\nearly bytes")
            .unwrap();
        let mut buf = [0u8; 4];
        let mut r = w.try_clone().unwrap();
        r.read_exact(&mut buf).unwrap();
        w.write_all(&buf).unwrap();
        false
    });
    let url = format!("http://{}/", up.addr);
    on_shard(move |ring| async move {
        let client = Client::new(ring, &cfg()).unwrap();
        let mut req = get(&url);
        req.headers.push(("Upgrade".into(), "test-proto".into()));
        req.headers.push(("Connection".into(), "Upgrade".into()));
        let (head, conn) = client.upgrade(req).await.unwrap();
        assert_eq!(head.status, 101);
        assert_eq!(head.header("upgrade"), Some("test-proto"));
        assert_eq!(&conn.rbuf()[..], b"early bytes");
        conn.rbuf().clear();
        conn.send(&mut b"ping".to_vec(), &[], false);
        let echoed = read_at_least(&conn, 4).await;
        assert_eq!(&echoed[..], b"ping");
    });
}

/// Reads until `conn` holds `n` bytes (or ended); takes them.
async fn read_at_least(conn: &ringworker_io::client::Conn, n: usize) -> Bytes {
    std::future::poll_fn(|cx| {
        loop {
            if conn.rbuf().len() >= n || conn.recv_end().is_some() {
                return std::task::Poll::Ready(());
            }
            let before = conn.rbuf().len();
            if conn.poll_recv(cx, true).is_pending() && conn.rbuf().len() == before {
                return std::task::Poll::Pending;
            }
        }
    })
    .await;
    conn.rbuf().split().freeze()
}

#[test]
fn raw_connection_half_close() {
    // The server reads to the end of the stream, then answers with its length.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        s.write_all(format!("got {}", all.len()).as_bytes())
            .unwrap();
    });
    on_shard(move |ring| async move {
        let client = Client::new(ring, &cfg()).unwrap();
        let conn = client
            .connect("localhost", addr.port(), false)
            .await
            .unwrap();
        conn.send(
            &mut b"abc".to_vec(),
            &[Bytes::from(vec![b'd'; 100_000])],
            false,
        );
        conn.shutdown_write().await.unwrap();
        let got = read_at_least(&conn, 100).await;
        assert_eq!(&got[..], b"got 100003");
        assert_eq!(conn.recv_end(), Some(ringworker_io::uring::RecvEnd::Eof));
    });
}

#[test]
fn current_client_follows_the_ring() {
    on_shard(move |ring| async move {
        Client::install_config(OutboundConfig {
            max_idle_per_origin: 3,
            ..cfg()
        });
        let a = Client::current().unwrap();
        let b = Client::current().unwrap();
        assert!(Rc::ptr_eq(&a, &b));
        assert_eq!(a.outbound_config().max_idle_per_origin, 3);
        assert_eq!(Client::config().max_idle_per_origin, 3);
        ring.stop();
        assert!(NetRing::current().is_none());
        assert!(Client::current().is_err());
    });
}

// ---------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------

struct TestCa {
    ca_file: PathBuf,
    server: Arc<rustls::ServerConfig>,
}

fn test_ca() -> TestCa {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ringworker test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    static N: AtomicUsize = AtomicUsize::new(0);
    let ca_file = std::env::temp_dir().join(format!(
        "ringworker-client-ca-{}-{}.pem",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    TestCa {
        ca_file,
        server: Arc::new(server),
    }
}

/// An HTTPS upstream answering every request with its ALPN protocol and
/// the request count on the connection.
fn tls_upstream(server: Arc<rustls::ServerConfig>) -> Upstream {
    let mut server = (*server).clone();
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    let server = Arc::new(server);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { return };
            count.fetch_add(1, Ordering::SeqCst);
            let server = server.clone();
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(server).unwrap();
                let mut tls = BufReader::new(rustls::StreamOwned::new(conn, s));
                let mut nth = 0;
                while let Some(req) = read_request(&mut tls) {
                    let alpn = tls
                        .get_ref()
                        .conn
                        .alpn_protocol()
                        .map(|p| String::from_utf8_lossy(p).into_owned())
                        .unwrap_or_default();
                    let body = format!("{alpn} {nth} {}", req.body.len());
                    let w = tls.get_mut();
                    respond(w, "200 OK", "", body.as_bytes());
                    if w.flush().is_err() {
                        return;
                    }
                    nth += 1;
                }
            });
        }
    });
    Upstream { addr, accepted }
}

#[test]
fn https_with_an_extra_ca() {
    let ca = test_ca();
    let up = tls_upstream(ca.server.clone());
    let port = up.addr.port();
    let ca_file = ca.ca_file.clone();
    on_shard(move |ring| async move {
        let client = Client::new(
            ring,
            &OutboundConfig {
                extra_ca_file: Some(ca_file.clone()),
                ..cfg()
            },
        )
        .unwrap();
        for (i, host) in ["127.0.0.1", "127.0.0.1", "localhost"].iter().enumerate() {
            let url = format!("https://{host}:{port}/");
            let resp = client
                .send(request(
                    "POST",
                    &url,
                    OutboundBody::Full(Bytes::from(noise(70_000, 1))),
                ))
                .await
                .unwrap();
            assert_eq!(resp.status, 200);
            let body = resp.body.collect(100).await.unwrap();
            let nth = if i == 1 { 1 } else { 0 };
            assert_eq!(
                std::str::from_utf8(&body).unwrap(),
                format!("http/1.1 {nth} 70000")
            );
        }
        // (localhost is another origin: its own connection.)
        assert_eq!(client.stats().connects, 2);
        // A streaming (chunked) request body, encrypted.
        let data = noise(300_000, 5);
        let chunks: Vec<Result<Bytes, BodyError>> = data
            .chunks(20_000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let body = OutboundBody::Stream {
            length: None,
            stream: Box::pin(futures_lite::stream::iter(chunks)),
        };
        let url = format!("https://127.0.0.1:{port}/");
        let resp = client.send(request("POST", &url, body)).await.unwrap();
        assert!(resp.conn_reused);
        let body = resp.body.collect(100).await.unwrap();
        assert_eq!(std::str::from_utf8(&body).unwrap(), "http/1.1 2 300000");
        // A raw TLS connection offers no ALPN; HTTP by hand works over it.
        let conn = client.connect("127.0.0.1", port, true).await.unwrap();
        assert!(conn.is_tls() && conn.alpn_protocol().is_none());
        conn.send(
            &mut b"GET / HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(),
            &[],
            false,
        );
        let resp = read_at_least(&conn, 40).await;
        let text = String::from_utf8_lossy(&resp);
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with(" 0 0"),
            "{text}"
        );
        conn.shutdown_write().await.unwrap();
        let _ = std::fs::remove_file(&ca_file);
    });
}

#[test]
fn https_with_an_untrusted_certificate_fails_clearly() {
    let ca = test_ca();
    let up = tls_upstream(ca.server.clone());
    let addr = up.addr;
    let _ = std::fs::remove_file(&ca.ca_file);
    on_shard(move |ring| async move {
        let client = Client::new(ring, &cfg()).unwrap();
        let err = client
            .send(get(&format!("https://{addr}/")))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "fetch failed: TLS handshake with {addr} failed: invalid peer certificate: UnknownIssuer"
            )
        );
    });
}

#[test]
fn a_missing_ca_file_is_a_clear_error() {
    on_shard(move |ring| async move {
        let err = Client::new(
            ring,
            &OutboundConfig {
                extra_ca_file: Some("/nonexistent/ca.pem".into()),
                ..cfg()
            },
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot use the extra CA file /nonexistent/ca.pem: ")
        );
    });
}

#[test]
fn start_tls_upgrades_a_plain_connection() {
    let ca = test_ca();
    let server = ca.server.clone();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        // Plaintext first: a STARTTLS exchange.
        let mut line = [0u8; 9];
        s.read_exact(&mut line).unwrap();
        assert_eq!(&line, b"STARTTLS\n");
        s.write_all(b"OK\n").unwrap();
        let conn = rustls::ServerConnection::new(server).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, s);
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).unwrap();
        tls.write_all(b"echo:").unwrap();
        tls.write_all(&buf).unwrap();
        tls.conn.send_close_notify();
        tls.flush().unwrap();
    });
    let ca_file = ca.ca_file.clone();
    on_shard(move |ring| async move {
        let client = Client::new(
            ring,
            &OutboundConfig {
                extra_ca_file: Some(ca_file.clone()),
                ..cfg()
            },
        )
        .unwrap();
        let conn = client
            .connect("127.0.0.1", addr.port(), false)
            .await
            .unwrap();
        assert!(!conn.is_tls());
        conn.send(&mut b"STARTTLS\n".to_vec(), &[], false);
        assert_eq!(&read_at_least(&conn, 3).await[..], b"OK\n");
        let conn = conn.start_tls("localhost").await.unwrap();
        assert!(conn.is_tls());
        conn.send(&mut b"ping".to_vec(), &[], false);
        assert_eq!(&read_at_least(&conn, 9).await[..], b"echo:ping");
        // The server's close_notify ends the stream cleanly.
        let rest = read_at_least(&conn, 1).await;
        assert!(rest.is_empty());
        assert_eq!(conn.recv_end(), Some(ringworker_io::uring::RecvEnd::Eof));
        let _ = std::fs::remove_file(&ca_file);
    });
}
