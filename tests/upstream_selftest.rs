//! The local upstream servers of `tests/common/upstream.rs`, checked with
//! plain std, rustls and tungstenite clients, so the outbound-fetch tests can
//! trust them.

mod common;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::upstream::*;
use common::wait_for;
use serde_json::Value;
use tungstenite::Message;
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;

/// A parsed response.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("a JSON body ({e}): {self:?}"))
    }
}

/// A keep-alive HTTP/1.1 client over any stream (plain or TLS).
struct Client<S> {
    s: S,
    buf: Vec<u8>,
}

impl<S: Read + Write> Client<S> {
    fn new(s: S) -> Self {
        Client { s, buf: Vec::new() }
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 64 * 1024];
        let n = self.s.read(&mut tmp)?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    fn send(&mut self, raw: &[u8]) {
        self.s.write_all(raw).unwrap();
        self.s.flush().unwrap();
    }

    fn get(&mut self, target: &str) -> Resp {
        self.send(format!("GET {target} HTTP/1.1\r\nHost: up\r\n\r\n").as_bytes());
        self.response().unwrap()
    }

    fn head(&mut self) -> io::Result<Resp> {
        loop {
            let mut hs = [httparse::EMPTY_HEADER; 64];
            let mut r = httparse::Response::new(&mut hs);
            if let httparse::Status::Complete(n) = r.parse(&self.buf).unwrap() {
                let resp = Resp {
                    status: r.code.unwrap(),
                    headers: r
                        .headers
                        .iter()
                        .map(|h| {
                            let v = String::from_utf8_lossy(h.value).into_owned();
                            (h.name.to_ascii_lowercase(), v)
                        })
                        .collect(),
                    body: Vec::new(),
                };
                self.buf.drain(..n);
                return Ok(resp);
            }
            if self.fill()? == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
        }
    }

    fn response(&mut self) -> io::Result<Resp> {
        let mut resp = self.head()?;
        while resp.status < 200 {
            resp = self.head()?;
        }
        if resp.status == 204 || resp.status == 304 {
            return Ok(resp);
        }
        if let Some(cl) = resp.header("content-length") {
            let cl: usize = cl.parse().unwrap();
            while self.buf.len() < cl {
                if self.fill()? == 0 {
                    return Err(ErrorKind::UnexpectedEof.into());
                }
            }
            resp.body = self.buf.drain(..cl).collect();
        } else if resp.header("transfer-encoding") == Some("chunked") {
            while let Some(chunk) = self.chunk()? {
                resp.body.extend_from_slice(&chunk);
            }
        } else {
            while self.fill()? > 0 {}
            resp.body = std::mem::take(&mut self.buf);
        }
        Ok(resp)
    }

    fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(p) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let l = String::from_utf8_lossy(&self.buf[..p]).into_owned();
                self.buf.drain(..p + 2);
                return Ok(l);
            }
            if self.fill()? == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// One chunk of a chunked body; None after the last.
    fn chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let size = usize::from_str_radix(&self.line()?, 16).unwrap();
        if size == 0 {
            assert_eq!(self.line()?, "", "no trailers");
            return Ok(None);
        }
        while self.buf.len() < size + 2 {
            if self.fill()? == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
        }
        let data = self.buf[..size].to_vec();
        assert_eq!(&self.buf[size..size + 2], b"\r\n");
        self.buf.drain(..size + 2);
        Ok(Some(data))
    }

    /// Reads until EOF or an error; the bytes and how it ended.
    fn read_to_end(&mut self) -> (Vec<u8>, io::Result<()>) {
        loop {
            match self.fill() {
                Ok(0) => return (std::mem::take(&mut self.buf), Ok(())),
                Ok(_) => {}
                Err(e) => return (std::mem::take(&mut self.buf), Err(e)),
            }
        }
    }

    /// Panics unless the server closes the connection (EOF or a reset)
    /// without sending anything more. The read timeout is an error here,
    /// never a close.
    #[track_caller]
    fn assert_closed(&mut self) {
        let (rest, end) = self.read_to_end();
        assert!(rest.is_empty(), "bytes after the end: {rest:?}");
        if let Err(e) = end {
            assert_eq!(e.kind(), ErrorKind::ConnectionReset, "not a close: {e}");
        }
    }
}

fn tcp(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

fn plain(addr: SocketAddr) -> Client<TcpStream> {
    Client::new(tcp(addr))
}

#[test]
fn http_routes_on_one_keepalive_connection() {
    let up = HttpUpstream::start();
    assert!(up.url("/x").starts_with("http://127.0.0.1:"));
    let mut c = plain(up.addr());

    let r = c.get("/hello");
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));
    assert_eq!(r.header("content-length"), Some("5"));

    let r = c.get("/bytes?n=100000");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("100000"));
    assert_eq!(r.body.len(), 100_000);
    assert!(is_pattern(0, &r.body));
    assert_eq!(
        r.body[..3],
        [pattern_byte(0), pattern_byte(1), pattern_byte(2)]
    );

    let r = c.get("/bytes?n=0");
    assert_eq!((r.status, r.body.len()), (200, 0));

    for s in [200, 204, 404, 418, 503] {
        let r = c.get(&format!("/status/{s}"));
        assert_eq!((r.status, r.body.len()), (s, 0));
    }

    c.send(b"GET /headers?q=1 HTTP/1.1\r\nHost: up\r\nX-Custom: One\r\nX-Multi: a\r\nX-Multi: b\r\n\r\n");
    let j = c.response().unwrap().json();
    assert_eq!(j["method"], "GET");
    assert_eq!(j["path"], "/headers?q=1");
    assert_eq!(j["host"], "up");
    assert_eq!(j["x-custom"], "One");
    assert_eq!(j["x-multi"], "a, b");
    assert_eq!(j["body_len"], 0);

    let r = c.get("/nope");
    assert_eq!(r.status, 404);

    let r = c.get("/response-headers?set-cookie=a%3D1&set-cookie=b%3D2&x-y=z");
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    let cookies: Vec<_> = r
        .headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(r.header("x-y"), Some("z"));

    c.send(b"HEAD /bytes?n=50 HTTP/1.1\r\nHost: up\r\n\r\n");
    let r = c.head().unwrap();
    assert_eq!(r.header("content-length"), Some("50"));
    assert_eq!(c.get("/hello").text(), "hello", "HEAD sent no body");

    assert_eq!(up.connections(), 1, "all on one connection");
    assert_eq!(up.requests(), 13);
    let log = up.request_log();
    assert_eq!(log.len(), 13);
    assert!(log.iter().all(|(id, _, _)| *id == 0));
    assert_eq!(log[0].1, "GET");
    assert_eq!(log[0].2, "/hello");

    // `Connection: close` is honoured: the server answers, then closes.
    c.send(b"GET /hello HTTP/1.1\r\nHost: up\r\nConnection: close\r\n\r\n");
    let r = c.response().unwrap();
    assert_eq!(r.header("connection"), Some("close"));
    c.assert_closed();
    assert!(up.wait_closed("/hello", Duration::from_secs(5)).is_some());
    let rec = &up.records()[0];
    assert_eq!((rec.count, rec.closed_by), (14, Some(ClosedBy::Server)));

    // HTTP/1.0 without keep-alive closes too.
    let mut c = plain(up.addr());
    c.send(b"GET /hello HTTP/1.0\r\n\r\n");
    assert_eq!(c.response().unwrap().text(), "hello");
    c.assert_closed();
    assert_eq!(up.connections(), 2);
}

#[test]
fn http_request_bodies() {
    let up = HttpUpstream::start();
    let mut c = plain(up.addr());

    let body = pattern(5, 1 << 20);
    c.send(
        format!(
            "POST /sha256 HTTP/1.1\r\nHost: up\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    c.send(&body);
    let j = c.response().unwrap().json();
    assert_eq!(j["len"], body.len());
    assert_eq!(j["sha256"], sha256_hex(&body));

    // Chunked, in uneven chunks, with an extension and a trailer.
    c.send(b"POST /sha256 HTTP/1.1\r\nHost: up\r\nTransfer-Encoding: chunked\r\n\r\n");
    let mut off = 0;
    for size in [1usize, 4096, 70_000, 3] {
        c.send(format!("{size:X};ext=1\r\n").as_bytes());
        c.send(&body[off..off + size]);
        c.send(b"\r\n");
        off += size;
    }
    c.send(b"0\r\nx-trailer: 1\r\n\r\n");
    let j = c.response().unwrap().json();
    assert_eq!(j["len"], off);
    assert_eq!(j["sha256"], sha256_hex(&body[..off]));

    // A body sent to a route that ignores it is drained, not taken as a request.
    c.send(b"POST /hello HTTP/1.1\r\nHost: up\r\nContent-Length: 5\r\n\r\nGET /");
    assert_eq!(c.response().unwrap().text(), "hello");
    assert_eq!(c.get("/hello").text(), "hello");
    assert_eq!(up.requests(), 4, "the body was not read as a request");

    c.send(b"POST /headers HTTP/1.1\r\nHost: up\r\nContent-Length: 3\r\n\r\nabc");
    let j = c.response().unwrap().json();
    assert_eq!(
        (j["method"].as_str(), j["body_len"].as_u64()),
        (Some("POST"), Some(3))
    );

    // Expect: 100-continue gets an interim response first.
    c.send(
        b"POST /sha256 HTTP/1.1\r\nHost: up\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n",
    );
    assert_eq!(c.head().unwrap().status, 100);
    c.send(b"hi");
    assert_eq!(c.response().unwrap().json()["len"], 2);

    assert_eq!(up.connections(), 1);
}

#[test]
fn http_echo_streams_both_ways() {
    let up = HttpUpstream::start();
    let total: usize = 16 << 20;
    let s = tcp(up.addr());
    let mut w = s.try_clone().unwrap();
    let writer = thread::spawn(move || {
        w.write_all(
            format!("POST /echo HTTP/1.1\r\nHost: up\r\nContent-Length: {total}\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        let mut off = 0;
        let mut buf = vec![0u8; 256 * 1024];
        while off < total {
            let n = buf.len().min(total - off);
            fill_pattern(off as u64, &mut buf[..n]);
            w.write_all(&buf[..n]).unwrap();
            off += n;
        }
    });
    let mut c = Client::new(s);
    let r = c.head().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    // Checked as it arrives, never held whole.
    let mut off = 0u64;
    while let Some(chunk) = c.chunk().unwrap() {
        assert!(is_pattern(off, &chunk), "echo differs near offset {off}");
        off += chunk.len() as u64;
    }
    assert_eq!(off, total as u64);
    writer.join().unwrap();

    // Chunked in, chunked out, and an empty body.
    c.send(b"POST /echo HTTP/1.1\r\nHost: up\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    assert_eq!(c.response().unwrap().text(), "hello world");
    c.send(b"POST /echo HTTP/1.1\r\nHost: up\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(c.response().unwrap().body.len(), 0);
    assert_eq!(up.connections(), 1);
}

#[test]
fn http_stream_chunks_with_delays() {
    let up = HttpUpstream::start();
    let mut c = plain(up.addr());
    let t0 = Instant::now();
    c.send(b"GET /stream?chunks=5&size=1000&delay_ms=15 HTTP/1.1\r\nHost: up\r\n\r\n");
    let r = c.head().unwrap();
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let mut got = Vec::new();
    let mut sizes = Vec::new();
    while let Some(chunk) = c.chunk().unwrap() {
        sizes.push(chunk.len());
        got.extend_from_slice(&chunk);
    }
    assert!(t0.elapsed() >= Duration::from_millis(60), "4 gaps of 15 ms");
    assert_eq!(sizes, [1000; 5]);
    assert!(is_pattern(0, &got));

    let r = c.get("/stream");
    assert_eq!(r.body, pattern(0, 48), "defaults: 3 chunks of 16");
}

#[test]
fn http_redirects() {
    let up = HttpUpstream::start();
    let mut c = plain(up.addr());
    let r = c.get("/redirect?status=307&to=%2Fhello%3Fx%3D1");
    assert_eq!((r.status, r.header("location")), (307, Some("/hello?x=1")));
    let to = format!("http://127.0.0.1:{}/headers", up.port());
    let r = c.get(&format!(
        "/redirect?to={}",
        to.replace(':', "%3A").replace('/', "%2F")
    ));
    assert_eq!((r.status, r.header("location")), (302, Some(to.as_str())));

    let r = c.get("/redirect-chain?n=3");
    assert_eq!(
        (r.status, r.header("location")),
        (302, Some("/redirect-chain?n=2"))
    );
    let r = c.get("/redirect-chain?n=0");
    assert_eq!((r.status, r.text().as_str()), (200, "done"));
    let r = c.get("/redirect-loop");
    assert_eq!(
        (r.status, r.header("location")),
        (302, Some("/redirect-loop"))
    );
}

#[test]
fn http_slow_head_and_its_disconnect() {
    let up = HttpUpstream::start();
    let mut c = plain(up.addr());
    let t0 = Instant::now();
    let r = c.get("/slow-head?ms=150");
    assert!(t0.elapsed() >= Duration::from_millis(150));
    assert_eq!(r.text(), "slow");

    // A client that gives up while the server waits is seen closing at once.
    let mut c = plain(up.addr());
    c.send(b"GET /slow-head?ms=10000&id=gone HTTP/1.1\r\nHost: up\r\n\r\n");
    thread::sleep(Duration::from_millis(50));
    let t_close = Instant::now();
    drop(c);
    let at = up
        .wait_closed("/slow-head?ms=10000", Duration::from_secs(5))
        .expect("close seen");
    assert!(at >= t_close);
    assert!(
        at - t_close < Duration::from_millis(100),
        "{:?}",
        at - t_close
    );
}

#[test]
fn http_fail_and_reset_mid_body() {
    let up = HttpUpstream::start();
    let mut c = plain(up.addr());
    c.send(b"GET /fail-mid?n=10000 HTTP/1.1\r\nHost: up\r\n\r\n");
    let r = c.head().unwrap();
    assert_eq!(r.header("content-length"), Some("10000"));
    let (body, end) = c.read_to_end();
    assert!(end.is_ok(), "a plain FIN: {end:?}");
    assert_eq!(body.len(), 5000);
    assert!(is_pattern(0, &body));

    let mut c = plain(up.addr());
    c.send(b"GET /reset-mid?n=10000 HTTP/1.1\r\nHost: up\r\n\r\n");
    let r = c.head().unwrap();
    assert_eq!(r.header("content-length"), Some("10000"));
    // Wait for the RST to land so the read sees it.
    assert!(
        up.wait_closed("/reset-mid", Duration::from_secs(5))
            .is_some()
    );
    thread::sleep(Duration::from_millis(20));
    let (body, end) = c.read_to_end();
    assert!(body.len() < 10000);
    assert_eq!(end.unwrap_err().kind(), ErrorKind::ConnectionReset);

    let recs = up.records();
    assert!(recs.iter().all(|r| r.closed_by == Some(ClosedBy::Server)));
}

#[test]
fn http_hold_records_the_client_close_promptly() {
    let up = HttpUpstream::start();
    let mut c = plain(up.addr());
    c.send(b"GET /hold HTTP/1.1\r\nHost: up\r\n\r\n");
    let r = c.head().unwrap();
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(c.chunk().unwrap().unwrap(), b"tick\n");
    assert_eq!(c.chunk().unwrap().unwrap(), b"tick\n", "ticks keep coming");
    assert!(up.closed_at("/hold").is_none());
    let t_close = Instant::now();
    drop(c);
    let at = up
        .wait_closed("/hold", Duration::from_secs(5))
        .expect("close seen");
    let lag = at.saturating_duration_since(t_close);
    assert!(at >= t_close);
    assert!(lag < Duration::from_millis(50), "close seen after {lag:?}");
    assert_eq!(up.records()[0].closed_by, Some(ClosedBy::Peer));
}

#[test]
fn http_server_side_closes() {
    let up = HttpUpstream::start();
    let mut c = plain(up.addr());
    let r = c.get("/close");
    assert_eq!(
        (r.text().as_str(), r.header("connection")),
        ("bye", Some("close"))
    );
    c.assert_closed();

    // `/close-after` looks reusable, then the server closes it.
    let mut c = plain(up.addr());
    let r = c.get("/close-after?ms=30");
    assert_eq!((r.text().as_str(), r.header("connection")), ("hello", None));
    let t0 = Instant::now();
    c.assert_closed();
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(20) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_eq!(up.connections(), 2);

    // A short idle timeout closes idle keep-alive connections.
    let up = HttpUpstream::start_with(None, Duration::from_millis(100));
    let mut c = plain(up.addr());
    assert_eq!(c.get("/hello").text(), "hello");
    c.assert_closed();
    let closed = up.wait_closed("/hello", Duration::from_secs(5)).unwrap();
    assert!(closed - up.records()[0].accepted_at >= Duration::from_millis(100));
    assert_eq!(up.records()[0].closed_by, Some(ClosedBy::Server));
}

#[test]
fn http_over_tls() {
    let ca = TestCa::new();
    let pem = std::fs::read_to_string(ca.ca_pem_path()).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(pem, ca.ca_pem());

    let up = HttpUpstream::start_tls(&ca);
    assert!(up.url("/hello").starts_with("https://127.0.0.1:"));
    for name in ["localhost", "127.0.0.1"] {
        let mut c = Client::new(tls_connect(up.addr(), &ca, name).unwrap());
        assert_eq!(c.get("/hello").text(), "hello");
        let r = c.get("/bytes?n=300000");
        assert!(r.body.len() == 300_000 && is_pattern(0, &r.body));
        c.send(b"POST /echo HTTP/1.1\r\nHost: up\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!(c.response().unwrap().text(), "hello");
    }
    assert_eq!(up.connections(), 2);
    assert!(up.records().iter().all(|r| r.tls));

    // `Connection: close` over TLS ends with a close_notify (a clean EOF).
    let mut c = Client::new(tls_connect(up.addr(), &ca, "localhost").unwrap());
    c.send(b"GET /hello HTTP/1.1\r\nHost: up\r\nConnection: close\r\n\r\n");
    assert_eq!(c.response().unwrap().text(), "hello");
    let (rest, end) = c.read_to_end();
    assert!(rest.is_empty() && end.is_ok(), "{end:?}");

    // The client disconnect probe works over TLS too.
    let mut c = Client::new(tls_connect(up.addr(), &ca, "localhost").unwrap());
    c.send(b"GET /hold?tls HTTP/1.1\r\nHost: up\r\n\r\n");
    c.head().unwrap();
    assert_eq!(c.chunk().unwrap().unwrap(), b"tick\n");
    let t_close = Instant::now();
    drop(c);
    let at = up.wait_closed("/hold?tls", Duration::from_secs(5)).unwrap();
    assert!(at.saturating_duration_since(t_close) < Duration::from_millis(50));

    // A client trusting another CA refuses the certificate.
    let other = TestCa::new();
    let err = tls_connect(up.addr(), &other, "localhost").expect_err("untrusted");
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    let path = ca.ca_pem_path().to_path_buf();
    drop(up);
    drop(ca);
    assert!(!path.exists(), "the CA file is removed with the TestCa");
}

#[test]
fn dropping_a_server_stops_it() {
    let up = HttpUpstream::start();
    let addr = up.addr();
    let mut c = plain(addr);
    assert_eq!(c.get("/hello").text(), "hello");
    drop(up);
    c.assert_closed(); // open connections are shut down
    let err = TcpStream::connect(addr).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

fn ws_connect<S: Read + Write>(
    stream: S,
    url: &str,
    protocols: Option<&str>,
) -> (
    tungstenite::WebSocket<S>,
    tungstenite::handshake::client::Response,
) {
    let mut req = url.into_client_request().unwrap();
    if let Some(p) = protocols {
        req.headers_mut()
            .insert("sec-websocket-protocol", p.parse().unwrap());
    }
    tungstenite::client(req, stream)
        .map_err(|e| e.to_string())
        .unwrap()
}

#[test]
fn websocket_echo_and_close() {
    let up = WsUpstream::start();
    let url = up.url("/room?x=1");
    assert!(url.starts_with("ws://127.0.0.1:"));
    let (mut ws, resp) = ws_connect(tcp(up.addr()), &url, Some("chat, other"));
    assert_eq!(resp.headers()["sec-websocket-protocol"], "chat");
    assert_eq!(resp.headers()["x-upstream-path"], "/room?x=1");

    ws.send(Message::text("hi")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("hi"));
    let big = pattern(0, 300_000);
    ws.send(Message::binary(big.clone())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(big));
    ws.send(Message::text("info")).unwrap();
    let info: Value = serde_json::from_str(ws.read().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(info["path"], "/room?x=1");
    assert_eq!(info["protocol"], "chat");
    assert_eq!(info["headers"]["sec-websocket-protocol"], "chat, other");

    // The server closes on request with the code and reason asked for.
    ws.send(Message::text("close:4001:bye now")).unwrap();
    match ws.read().unwrap() {
        Message::Close(Some(f)) => {
            assert_eq!((u16::from(f.code), f.reason.as_str()), (4001, "bye now"));
        }
        m => panic!("expected a close, got {m:?}"),
    }
    assert!(matches!(
        ws.read(),
        Err(tungstenite::Error::ConnectionClosed)
    ));
    up.wait_closed("/room", Duration::from_secs(5)).unwrap();
    let rec = &up.records()[0];
    assert_eq!(rec.count, 4);
    assert_eq!(rec.close_frame, Some((4001, "bye now".to_string())));
    assert_eq!(rec.closed_by, Some(ClosedBy::Server));

    // A client-initiated close is recorded; no subprotocol offered, none chosen.
    let (mut ws, resp) = ws_connect(tcp(up.addr()), &up.url("/second"), None);
    assert!(resp.headers().get("sec-websocket-protocol").is_none());
    ws.send(Message::text("x")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("x"));
    ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "done".into(),
    }))
    .unwrap();
    loop {
        match ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    up.wait_closed("/second", Duration::from_secs(5)).unwrap();
    let rec = &up.records()[1];
    assert_eq!(rec.close_frame, Some((1000, "done".to_string())));
    assert_eq!(rec.closed_by, Some(ClosedBy::Peer));
    assert_eq!((up.connections(), up.messages()), (2, 5));

    // A rejected handshake gets the HTTP status asked for.
    let req = up.url("/reject/404").into_client_request().unwrap();
    match tungstenite::client(req, tcp(up.addr())) {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            assert_eq!(r.status(), 404);
        }
        Err(e) => panic!("unexpected: {e}"),
        Ok(_) => panic!("the handshake should fail"),
    }

    // A dropped socket is seen as closed at once.
    let (ws, _) = ws_connect(tcp(up.addr()), &up.url("/dropped"), None);
    let t_close = Instant::now();
    drop(ws);
    let at = up.wait_closed("/dropped", Duration::from_secs(5)).unwrap();
    assert!(at.saturating_duration_since(t_close) < Duration::from_millis(50));
}

#[test]
fn websocket_over_tls() {
    let ca = TestCa::new();
    let up = WsUpstream::start_tls(&ca);
    let url = up.url("/secure");
    assert!(url.starts_with("wss://127.0.0.1:"));
    let stream = tls_connect(up.addr(), &ca, "localhost").unwrap();
    let (mut ws, _) = ws_connect(stream, &url, Some("v1"));
    ws.send(Message::text("over tls")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("over tls"));
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
    up.wait_closed("/secure", Duration::from_secs(5)).unwrap();
    assert!(up.records()[0].tls);
}

#[test]
fn tcp_echo_plain_and_starttls() {
    let ca = TestCa::new();
    let up = TcpEchoUpstream::start(&ca);

    let mut s = tcp(up.addr());
    s.write_all(b"hello\r\n").unwrap();
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello\r\n");
    // Bytes that start like STARTTLS but are not it are echoed as well.
    s.write_all(b"STARTLE").unwrap();
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"STARTLE");
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    up.wait_closed(Duration::from_secs(5)).unwrap();

    // A held prefix that stops matching is released.
    let mut s = tcp(up.addr());
    s.write_all(b"STAR").unwrap();
    thread::sleep(Duration::from_millis(20));
    s.write_all(b"K\n").unwrap();
    let mut buf = [0u8; 6];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"STARK\n");
    drop(s);

    // STARTTLS upgrades the same connection.
    let mut s = tcp(up.addr());
    s.write_all(b"STARTTLS\r\n").unwrap();
    let mut ok = [0u8; 4];
    s.read_exact(&mut ok).unwrap();
    assert_eq!(&ok, b"OK\r\n");
    let mut t = tls_wrap(s, &ca, "localhost").unwrap();
    let data = pattern(3, 200_000);
    // Echo in pieces, reading each back before the next, so neither side blocks.
    let mut got = vec![0u8; 10_000];
    for piece in data.chunks(10_000) {
        t.write_all(piece).unwrap();
        t.flush().unwrap();
        t.read_exact(&mut got[..piece.len()]).unwrap();
        assert_eq!(&got[..piece.len()], piece);
    }
    let t_close = Instant::now();
    t.conn.send_close_notify();
    t.flush().unwrap();
    drop(t);
    let recs = wait_for(Duration::from_secs(5), "the TLS connection's end", || {
        let recs = up.records();
        (recs.len() == 3 && recs[2].closed_at.is_some()).then_some(recs)
    });
    let rec = &recs[2];
    assert!(rec.tls);
    assert_eq!(rec.count, 200_000);
    assert!(rec.closed_at.is_some_and(|at| at >= t_close));
    assert_eq!(up.connections(), 3);
    assert_eq!(up.bytes_echoed(), 7 + 7 + 6 + 200_000);

    // TLS from the first byte.
    let up = TcpEchoUpstream::start_tls(&ca);
    let mut t = tls_connect(up.addr(), &ca, "127.0.0.1").unwrap();
    t.write_all(b"direct").unwrap();
    t.flush().unwrap();
    let mut buf = [0u8; 6];
    t.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"direct");
    drop(t);
    up.wait_closed(Duration::from_secs(5)).unwrap();
    assert!(up.records()[0].tls);
}
