//! WebSockets end to end: real V8 scripts and a Rust handler behind the real
//! server, driven by a raw frame-level client (for bad input and exact
//! bytes), tungstenite's client, and Python's `websockets` package.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::*;
use ringworker::ws::{WebSocket, WsEvent, frame};
use ringworker::{Config, OverIpLimit, Request, Response, WorkerOptions};
use serde_json::Value;

fn probe_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/ws_probe.js")
}

fn probe_server(tweak: impl FnOnce(&mut Config)) -> ringworker::Server {
    let mut cfg = test_config();
    tweak(&mut cfg);
    ringworker::serve_worker(cfg, WorkerOptions::new(probe_script())).expect("script loads")
}

/// What the probe script logged for socket `id`, once it holds `n` entries
/// (fails the test if it does not within 10 s).
fn probe_log(addr: SocketAddr, id: &str, n: usize) -> Vec<Value> {
    wait_for(
        Duration::from_secs(10),
        &format!("{n} log entries for {id}"),
        || {
            let resp = roundtrip(addr, b"GET /log HTTP/1.1\r\nHost: t\r\n\r\n");
            let all: Vec<Value> = serde_json::from_slice(&resp.body).unwrap();
            let mine: Vec<Value> = all.into_iter().filter(|e| e["id"] == id).collect();
            (mine.len() >= n).then_some(mine)
        },
    )
}

/// A frame as the raw client reads it.
#[derive(Debug)]
struct Frame {
    fin: bool,
    opcode: u8,
    masked: bool,
    payload: Vec<u8>,
}

impl Frame {
    fn close_code(&self) -> Option<u16> {
        assert_eq!(self.opcode, 8, "expected a close frame, got {self:?}");
        (self.payload.len() >= 2).then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
    fn text(&self) -> String {
        String::from_utf8(self.payload.clone()).unwrap()
    }
}

/// A frame-level client over a plain socket.
struct Raw {
    s: TcpStream,
    buf: Vec<u8>,
    status: u16,
    head: String,
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

impl Raw {
    /// Sends an upgrade request for `path` with `extra` header lines.
    fn open_with(addr: SocketAddr, path: &str, extra: &str) -> Raw {
        let mut s = connect(addr);
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut raw = Raw {
            s,
            buf: Vec::new(),
            status: 0,
            head: String::new(),
        };
        loop {
            if let Some(end) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                raw.head = String::from_utf8_lossy(&raw.buf[..end]).into_owned();
                raw.buf.drain(..end + 4);
                raw.status = raw.head[9..12].parse().unwrap();
                return raw;
            }
            assert!(raw.fill() > 0, "connection closed before the response head");
        }
    }

    fn open(addr: SocketAddr, path: &str) -> Raw {
        let r = Raw::open_with(addr, path, "");
        assert_eq!(r.status, 101, "upgrade refused: {}", r.head);
        r
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    fn fill(&mut self) -> usize {
        let mut tmp = [0u8; 65536];
        match self.s.read(&mut tmp) {
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                n
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => 0,
            Err(e) => panic!("read: {e}"),
        }
    }

    /// Sends one frame: `first` is the FIN/RSV/opcode byte.
    fn send_raw(&mut self, first: u8, payload: &[u8], masked: bool) {
        let mut out = Vec::new();
        frame::encode(
            &mut out,
            first,
            payload,
            masked.then_some([0x37, 0xfa, 0x21, 0x3d]),
        );
        self.s.write_all(&out).unwrap();
    }

    fn send_text(&mut self, t: &str) {
        self.send_raw(0x81, t.as_bytes(), true);
    }

    /// Reads one frame; `None` if the server closed the connection.
    fn read(&mut self) -> Option<Frame> {
        loop {
            if let Some(e) = frame::extent(&self.buf) {
                let total = e.total() as usize;
                if self.buf.len() >= total {
                    let payload = self.buf[e.header_len..total].to_vec();
                    self.buf.drain(..total);
                    return Some(Frame {
                        fin: e.first & 0x80 != 0,
                        opcode: e.first & 0x0f,
                        masked: e.masked,
                        payload,
                    });
                }
            }
            if self.fill() == 0 {
                return None;
            }
        }
    }

    /// Reads frames until a close frame; returns it.
    fn read_close(&mut self) -> Frame {
        loop {
            let f = self
                .read()
                .expect("a close frame before the connection ends");
            if f.opcode == 8 {
                return f;
            }
        }
    }

    /// After the close handshake the server closes the TCP connection.
    fn expect_eof(&mut self) {
        assert!(self.read().is_none(), "expected the server to close");
    }
}

#[test]
fn handshake_echo_fragments_and_pings_answered_without_the_script() {
    let srv = probe_server(|_| {});
    let a = srv.local_addr();
    let mut ws = Raw::open(a, "/?id=basic");
    assert_eq!(ws.header("sec-websocket-accept").as_deref(), Some(ACCEPT));
    assert_eq!(ws.header("upgrade").as_deref(), Some("websocket"));
    assert_eq!(
        ws.header("connection").map(|c| c.to_lowercase()).as_deref(),
        Some("upgrade")
    );

    ws.send_text("hello");
    let f = ws.read().unwrap();
    assert!(f.fin && !f.masked && f.opcode == 1, "{f:?}");
    assert_eq!(f.text(), "hello");

    // Binary, with a 16-bit and a 64-bit length.
    for len in [300usize, 70_000] {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        ws.send_raw(0x82, &data, true);
        let f = ws.read().unwrap();
        assert_eq!((f.opcode, f.payload.len()), (2, len));
        assert_eq!(f.payload, data);
    }

    // A fragmented text message with a ping between its fragments and a
    // code point ("€", 3 bytes) split across them: the pong comes back
    // first, then the whole message.
    let euro = "€".as_bytes();
    ws.send_raw(0x01, &[b"ab", &euro[..1]].concat(), true);
    ws.send_raw(0x89, b"are you there", true);
    ws.send_raw(0x00, &euro[1..2], true);
    ws.send_raw(0x80, &[&euro[2..], b"cd"].concat(), true);
    let pong = ws.read().unwrap();
    assert_eq!(
        (pong.opcode, &pong.payload[..]),
        (0xA, &b"are you there"[..])
    );
    assert_eq!(ws.read().unwrap().text(), "ab€cd");

    // Clean close: the server echoes our code; the script sees it, clean.
    ws.send_raw(0x88, &[&1000u16.to_be_bytes()[..], b"bye"].concat(), true);
    let close = ws.read_close();
    assert_eq!(close.close_code(), Some(1000));
    ws.expect_eof();
    let log = probe_log(a, "basic", 1);
    assert_eq!(log[0]["code"], 1000);
    assert_eq!(log[0]["reason"], "bye");
    assert_eq!(log[0]["wasClean"], true);
    assert_eq!(log[0]["readyState"], 3);
}

#[test]
fn bad_input_gets_the_right_close_code_and_a_clean_close() {
    let srv = probe_server(|c| c.ws.max_message_bytes = 1000);
    let a = srv.local_addr();
    type Case = (&'static str, u16, fn(&mut Raw));
    let cases: [Case; 10] = [
        ("unmasked", 1002, |w| w.send_raw(0x81, b"hi", false)),
        ("rsv1", 1002, |w| w.send_raw(0xC1, b"hi", true)),
        ("opcode3", 1002, |w| w.send_raw(0x83, b"hi", true)),
        ("opcode11", 1002, |w| w.send_raw(0x8B, b"hi", true)),
        ("fragmented-ping", 1002, |w| w.send_raw(0x09, b"hi", true)),
        ("long-ping", 1002, |w| w.send_raw(0x89, &[7; 126], true)),
        ("bad-utf8", 1007, |w| w.send_raw(0x81, b"ok\xff", true)),
        ("split-utf8", 1007, |w| {
            let euro = "€".as_bytes();
            w.send_raw(0x01, &euro[..2], true);
            w.send_raw(0x80, b"x", true); // the code point never completes
        }),
        ("too-big", 1009, |w| w.send_raw(0x82, &[0; 1001], true)),
        ("too-big-fragmented", 1009, |w| {
            w.send_raw(0x02, &[0; 600], true);
            w.send_raw(0x80, &[0; 600], true);
        }),
    ];
    for (id, code, send) in cases {
        let mut ws = Raw::open(a, &format!("/?id={id}"));
        send(&mut ws);
        let close = ws.read_close();
        assert_eq!(close.close_code(), Some(code), "case {id}");
        // We answer the close; the server then closes the connection.
        ws.send_raw(0x88, &code.to_be_bytes(), true);
        ws.expect_eof();
        let log = probe_log(a, id, 2);
        assert!(log[0]["error"].is_string(), "case {id}: {log:?}");
        assert_eq!(log[1]["code"], code, "case {id}: {log:?}");
        assert_eq!(log[1]["wasClean"], false, "case {id}");
    }
}

#[test]
fn close_without_code_is_1005_and_a_dropped_connection_is_1006() {
    let srv = probe_server(|_| {});
    let a = srv.local_addr();
    let mut ws = Raw::open(a, "/?id=nocode");
    ws.send_raw(0x88, b"", true);
    let close = ws.read_close();
    assert!(close.payload.is_empty(), "1005 is never sent: {close:?}");
    ws.expect_eof();
    let log = probe_log(a, "nocode", 1);
    assert_eq!(
        (log[0]["code"].as_u64(), log[0]["wasClean"].as_bool()),
        (Some(1005), Some(true))
    );

    // The client vanishes: the script sees 1006 at once, not clean.
    let ws = Raw::open(a, "/?id=dropped");
    let t0 = Instant::now();
    drop(ws);
    let log = probe_log(a, "dropped", 1);
    assert_eq!(log[0]["code"], 1006);
    assert_eq!(log[0]["wasClean"], false);
    assert!(t0.elapsed() < Duration::from_secs(2));

    // A close code that may not be sent (1005) is a protocol error.
    let mut ws = Raw::open(a, "/?id=wire1005");
    ws.send_raw(0x88, &1005u16.to_be_bytes(), true);
    assert_eq!(ws.read_close().close_code(), Some(1002));
}

#[test]
fn the_script_closes_and_the_peer_answers() {
    let srv = probe_server(|_| {});
    let a = srv.local_addr();
    let mut ws = Raw::open(a, "/?id=scriptclose");
    ws.send_text("close-me");
    let close = ws.read_close();
    assert_eq!(close.close_code(), Some(4000));
    assert_eq!(&close.payload[2..], b"asked");
    ws.send_raw(0x88, &4000u16.to_be_bytes(), true);
    ws.expect_eof();
    let log = probe_log(a, "scriptclose", 1);
    assert_eq!(
        (log[0]["code"].as_u64(), log[0]["wasClean"].as_bool()),
        (Some(4000), Some(true))
    );

    // Messages sent before the 101 went out are delivered after it.
    let mut ws = Raw::open(a, "/?id=early&early=1");
    assert_eq!(
        ws.read().unwrap().text(),
        "sent before the handshake completed"
    );
}

#[test]
fn bad_handshakes_are_refused_before_the_script_runs() {
    let srv = probe_server(|_| {});
    let a = srv.local_addr();
    let resp = roundtrip(
        a,
        format!(
            "GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 8\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(resp.status, 426);
    assert_eq!(resp.header("sec-websocket-version"), Some("13"));
    for (what, req) in [
        (
            "no key",
            "GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n".to_string(),
        ),
        (
            "short key",
            "GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: abc\r\nSec-WebSocket-Version: 13\r\n\r\n".to_string(),
        ),
        (
            "no Connection: upgrade",
            format!("GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"),
        ),
        (
            "POST",
            format!("POST / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"),
        ),
    ] {
        let resp = roundtrip(a, req.as_bytes());
        assert_eq!(resp.status, 400, "{what}: {}", resp.text());
    }
    // Not an upgrade: the script answers.
    assert_eq!(
        roundtrip(a, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").status,
        426
    );
    // An unaccepted client end cannot be returned.
    let resp = Raw::open_with(a, "/unaccepted", "");
    assert_eq!(resp.status, 500);
}

#[test]
fn subprotocols_are_negotiated_through_the_scripts_headers() {
    let srv = probe_server(|_| {});
    let a = srv.local_addr();
    let ws = Raw::open_with(a, "/?id=p1", "Sec-WebSocket-Protocol: chat, superchat\r\n");
    assert_eq!(ws.status, 101);
    assert_eq!(ws.header("sec-websocket-protocol").as_deref(), Some("chat"));
    let ws = Raw::open_with(
        a,
        "/?id=p2&protocol=superchat",
        "Sec-WebSocket-Protocol: chat, superchat\r\n",
    );
    assert_eq!(
        ws.header("sec-websocket-protocol").as_deref(),
        Some("superchat")
    );
    // Choosing one the client did not offer is the script's bug: 500, and
    // its socket sees 1006.
    let ws = Raw::open_with(
        a,
        "/?id=p3&protocol=other",
        "Sec-WebSocket-Protocol: chat\r\n",
    );
    assert_eq!(ws.status, 500);
    let log = probe_log(a, "p3", 1);
    assert_eq!(log[0]["code"], 1006);
}

#[test]
fn heartbeat_drops_a_silent_peer_and_keeps_an_answering_one() {
    let srv = probe_server(|c| {
        c.ws.ping_interval = Some(Duration::from_millis(60));
        c.ws.pong_timeout = Duration::from_millis(60);
    });
    let a = srv.local_addr();
    // The silent peer reads the ping and never answers.
    let mut silent = Raw::open(a, "/?id=silent");
    let t0 = Instant::now();
    let ping = silent.read().unwrap();
    assert_eq!(ping.opcode, 9);
    assert!(silent.read().is_none(), "dropped after the pong timeout");
    assert!(
        t0.elapsed() >= Duration::from_millis(100),
        "{:?}",
        t0.elapsed()
    );
    let log = probe_log(a, "silent", 1);
    assert_eq!(
        (log[0]["code"].as_u64(), log[0]["reason"].as_str()),
        (Some(1006), Some("heartbeat timeout"))
    );

    // tungstenite answers pings as it reads: it stays connected.
    let (mut client, _) =
        tungstenite::connect(format!("ws://{a}/?id=lively")).expect("tungstenite connects");
    let end = Instant::now() + Duration::from_millis(400);
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = client.get_mut() {
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    }
    while Instant::now() < end {
        match client.read() {
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("the answering peer was dropped: {e}"),
        }
        let _ = client.flush();
    }
    client.send("still here".into()).unwrap();
    loop {
        match client.read() {
            Ok(tungstenite::Message::Text(t)) => {
                assert_eq!(t.as_str(), "still here");
                break;
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn idle_sockets_are_closed_with_1001() {
    let srv = probe_server(|c| c.ws.idle_timeout = Some(Duration::from_millis(80)));
    let a = srv.local_addr();
    let mut ws = Raw::open(a, "/?id=idle");
    ws.send_text("one");
    assert_eq!(ws.read().unwrap().text(), "one");
    let t0 = Instant::now();
    let close = ws.read_close();
    assert!(t0.elapsed() >= Duration::from_millis(60));
    assert_eq!(close.close_code(), Some(1001));
    assert_eq!(&close.payload[2..], b"idle timeout");
    ws.send_raw(0x88, &1001u16.to_be_bytes(), true);
    ws.expect_eof();
    let log = probe_log(a, "idle", 1);
    assert_eq!(
        (log[0]["code"].as_u64(), log[0]["wasClean"].as_bool()),
        (Some(1001), Some(true))
    );
}

#[test]
fn the_per_address_limit_refuses_with_429_or_closes_with_1013() {
    let srv = probe_server(|c| c.ws.max_per_ip = Some(2));
    let a = srv.local_addr();
    let first = Raw::open(a, "/?id=l1");
    let _second = Raw::open(a, "/?id=l2");
    let third = Raw::open_with(a, "/?id=l3", "");
    assert_eq!(third.status, 429);
    let opened = roundtrip(a, b"GET /opened HTTP/1.1\r\nHost: t\r\n\r\n");
    let opened: Vec<String> = serde_json::from_slice(&opened.body).unwrap();
    assert_eq!(
        opened,
        ["l1", "l2"],
        "the script never ran for the refused one"
    );
    // One leaves: there is room again.
    drop(first);
    probe_log(a, "l1", 1);
    let _fourth = Raw::open(a, "/?id=l4");

    let srv = probe_server(|c| {
        c.ws.max_per_ip = Some(1);
        c.ws.over_ip_limit = OverIpLimit::CloseTryAgain;
    });
    let a = srv.local_addr();
    let _one = Raw::open(a, "/?id=m1");
    let mut two = Raw::open(a, "/?id=m2");
    let close = two.read_close();
    assert_eq!(close.close_code(), Some(1013));
    assert_eq!(&close.payload[2..], b"Try Again Later");
}

#[test]
fn shutdown_sends_1001_to_every_socket() {
    let srv = probe_server(|c| c.timeouts.drain = Duration::from_secs(5));
    let a = srv.local_addr();
    let mut socks: Vec<Raw> = (0..3)
        .map(|i| Raw::open(a, &format!("/?id=s{i}")))
        .collect();
    for s in &mut socks {
        s.send_text("ping");
        assert_eq!(s.read().unwrap().text(), "ping");
    }
    srv.shutdown();
    for s in &mut socks {
        let close = s.read_close();
        assert_eq!(close.close_code(), Some(1001));
        assert_eq!(&close.payload[2..], b"Going Away");
        s.send_raw(0x88, &1001u16.to_be_bytes(), true);
        s.expect_eof();
    }
    srv.join().unwrap();
}

#[test]
fn a_peer_that_does_not_read_is_bounded_and_buffered_amount_shows_the_queue() {
    let srv = probe_server(|c| c.ws.max_buffered_bytes = 8 << 20);
    let a = srv.local_addr();
    // bufferedAmount: 4 MiB queued in one go is more than the socket takes.
    let mut ws = Raw::open(a, "/?id=flood");
    ws.send_text("flood");
    let report = loop {
        let f = ws.read().expect("the flood and the bufferedAmount report");
        assert_ne!(f.opcode, 8, "closed: {f:?}");
        if f.opcode == 1 {
            break f.text();
        }
    };
    let queued: usize = report.trim_start_matches("buffered=").parse().unwrap();
    assert!(queued > 0 && queued <= 64 * 65536, "{report}");

    // An echo whose peer does not read: the server stops reading it, so the
    // peer's writes stall instead of the server's memory growing; once the
    // peer reads again, everything arrives — paused, not dropped.
    const FRAMES: usize = 1000; // 64 MiB, far more than the buffers in between
    let mut ws = Raw::open(a, "/?id=stall");
    let mut frame = Vec::new();
    frame::encode(&mut frame, 0x82, &[b'x'; 64 * 1024], Some([1, 2, 3, 4]));
    let written = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer = {
        let mut s = ws.s.try_clone().unwrap();
        let written = written.clone();
        std::thread::spawn(move || {
            for _ in 0..FRAMES {
                s.write_all(&frame).unwrap();
                written.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })
    };
    // Where the writer comes to rest (it blocks once every buffer between
    // is full), not a count after a fixed sleep: a slow start on a loaded
    // box cannot pass for a stall, and a server that reads on runs into
    // FRAMES.
    let stalled_at = settled(
        Duration::from_millis(300),
        Duration::from_secs(20),
        "the peer's writes",
        || written.load(std::sync::atomic::Ordering::Relaxed),
    );
    eprintln!("the peer's writes stalled at {stalled_at} of {FRAMES} frames");
    assert!(
        stalled_at < FRAMES / 2,
        "the server kept reading a peer that does not read ({stalled_at} of {FRAMES} frames taken)"
    );
    for i in 0..FRAMES {
        let f = ws.read().expect("every echo arrives once the peer reads");
        assert_eq!((f.opcode, f.payload.len()), (2, 64 * 1024), "echo {i}");
    }
    writer.join().unwrap();
    assert!(
        probe_log(a, "stall", 0).is_empty(),
        "the socket stayed open"
    );
}

#[test]
fn javascript_api_errors_and_states() {
    let srv = probe_server(|_| {});
    let resp = roundtrip(
        srv.local_addr(),
        b"GET /api-errors HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let v: Value = serde_json::from_slice(&resp.body).unwrap();
    let starts = |k: &str, prefix: &str| {
        let s = v[k].as_str().unwrap_or_default();
        assert!(s.starts_with(prefix), "{k}: {s}");
    };
    starts("sendBeforeAccept", "TypeError: send(): call accept()");
    starts(
        "acceptClientEnd",
        "TypeError: accept() is called on the server end",
    );
    starts(
        "acceptTwice",
        "TypeError: accept(): this WebSocket was already accepted",
    );
    starts("badCode", "InvalidAccessError:");
    starts("longReason", "SyntaxError:");
    starts(
        "outbound",
        "SyntaxError: WebSocket: the URL's scheme must be ws: or wss:",
    );
    starts("status101WithoutSocket", "RangeError:");
    starts("socketWith200", "RangeError:");
    starts("sendAfterClose", "TypeError:");
    assert_eq!(v["closeTwice"], "no error");
    assert_eq!(v["states"], serde_json::json!([0, 1, 2, 3, 1]));
    assert_eq!(v["binaryType"], "arraybuffer");
    assert_eq!(v["binaryTypeAfter"], "blob");
    assert_eq!(v["readyStateAfterClose"], 2);

    // binaryType "blob" delivers Blobs.
    let mut ws = Raw::open(srv.local_addr(), "/?id=blob&binaryType=blob");
    ws.send_raw(0x82, &[1, 2, 3], true);
    assert_eq!(ws.read().unwrap().text(), "blob:3");
}

#[test]
fn python_websockets_interoperates() {
    let srv = probe_server(|_| {});
    let a = srv.local_addr();
    let script = format!(
        r#"
import asyncio, sys
import websockets
async def main():
    async with websockets.connect("ws://{a}/?id=python", subprotocols=["chat"], max_size=None) as ws:
        assert ws.subprotocol == "chat", ws.subprotocol
        for msg in ["hello", "é€😀" * 1000, b"\x00\xff" * 40000]:
            await ws.send(msg)
            echo = await ws.recv()
            assert echo == msg, (type(echo), len(echo))
        # Fragmented, from an async iterator.
        async def parts():
            for p in ["frag", "mented"]:
                yield p
        await ws.send(parts())
        assert await ws.recv() == "fragmented"
        pong = await ws.ping(b"x")
        await pong
        await ws.close(code=4001, reason="done")
    assert ws.close_code == 4001, ws.close_code
    print("ok")
asyncio.run(main())
"#
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3 runs (the README's set-up installs it with `websockets`)");
    assert!(
        out.status.success(),
        "python websockets client failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let log = probe_log(a, "python", 1);
    assert_eq!(
        (log[0]["code"].as_u64(), log[0]["reason"].as_str()),
        (Some(4001), Some("done"))
    );
}

#[test]
fn a_rust_handler_echoes_over_the_same_session() {
    // Two ways to take events: a task awaiting `next_event`, or a listener
    // called on the connection's task.
    let srv = start(test_config(), |_| {
        |req: Request| async move {
            let ws = WebSocket::new();
            if req.path() == "/listener" {
                ws.set_listener(Rc::new(
                    |ws: &WebSocket, events: &mut dyn Iterator<Item = WsEvent>| {
                        for ev in events {
                            if let WsEvent::Message(m) = ev {
                                let _ = ws.send(m);
                            }
                        }
                    },
                ));
                return Response::websocket(ws);
            }
            let peer = ws.clone();
            glommio::spawn_local(async move {
                while let Some(ev) = peer.next_event().await {
                    if let WsEvent::Message(m) = ev {
                        let _ = peer.send(m);
                    }
                }
            })
            .detach();
            Response::websocket(ws)
        }
    });
    for path in ["/", "/listener"] {
        let (mut client, resp) =
            tungstenite::connect(format!("ws://{}{path}", srv.local_addr())).expect("connects");
        assert_eq!(resp.status(), 101);
        for i in 0..100 {
            client.send(format!("m{i}").into()).unwrap();
            assert_eq!(
                client.read().unwrap().into_text().unwrap().as_str(),
                format!("m{i}")
            );
        }
        client.close(None).unwrap();
        loop {
            match client.read() {
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => break,
                Err(e) => panic!("{path}: {e}"),
            }
        }
    }
}

#[test]
fn the_chat_example_broadcasts_to_every_socket_of_the_shard() {
    let main = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/chat.js");
    let srv = ringworker::serve_worker(test_config(), WorkerOptions::new(main)).unwrap();
    let a = srv.local_addr();
    let mut ada = Raw::open(a, "/?name=ada");
    assert_eq!(ada.read().unwrap().text(), r#"{"joined":"ada","online":1}"#);
    let mut bob = Raw::open(a, "/?name=bob");
    assert_eq!(bob.read().unwrap().text(), r#"{"joined":"bob","online":2}"#);
    assert_eq!(ada.read().unwrap().text(), r#"{"joined":"bob","online":2}"#);
    ada.send_text("hi all");
    for r in [&mut ada, &mut bob] {
        assert_eq!(
            r.read().unwrap().text(),
            r#"{"from":"ada","text":"hi all"}"#
        );
    }
    // Bob leaves (no close frame): Ada hears of it at once, with 1006.
    drop(bob);
    assert_eq!(
        ada.read().unwrap().text(),
        r#"{"left":"bob","code":1006,"online":1}"#
    );
}

#[test]
fn a_handler_that_spins_or_throws_does_not_take_the_socket_or_the_shard_down() {
    let mut options = WorkerOptions::new(probe_script());
    options.cpu_limit = Duration::from_millis(50);
    let srv = ringworker::serve_worker(test_config(), options).unwrap();
    let a = srv.local_addr();
    // An exception in a handler is reported; the next messages still arrive.
    let mut thrower = Raw::open(a, "/?id=throw");
    thrower.send_text("throw");
    thrower.send_text("after the throw");
    assert_eq!(thrower.read().unwrap().text(), "after the throw");
    // A handler stuck in a loop is terminated at the CPU limit and its
    // socket closed with 1011; everything else on the shard carries on.
    let mut spinner = Raw::open(a, "/?id=spin");
    let mut other = Raw::open(a, "/?id=other");
    spinner.send_text("spin");
    spinner.send_text("lost with the terminated batch");
    let close = spinner.read_close();
    assert_eq!(close.close_code(), Some(1011));
    spinner.send_raw(0x88, &1011u16.to_be_bytes(), true);
    spinner.expect_eof();
    let log = probe_log(a, "spin", 1);
    assert_eq!(log[0]["code"], 1011);
    other.send_text("me too");
    assert_eq!(other.read().unwrap().text(), "me too");
    thrower.send_text("and me");
    assert_eq!(thrower.read().unwrap().text(), "and me");
    assert_eq!(
        roundtrip(a, b"GET /log HTTP/1.1\r\nHost: t\r\n\r\n").status,
        200
    );
}

#[test]
fn a_quiet_shard_gives_back_the_heap_a_burst_of_sockets_grew() {
    raise_nofile();
    let main = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/ws-echo.js");
    let mut options = WorkerOptions::new(main);
    options.idle_gc_after = Duration::from_millis(50);
    let srv = ringworker::serve_worker(test_config(), options).unwrap();
    let a = srv.local_addr();
    let v8 = |srv: &ringworker::Server| srv.stats()[0].v8;
    // A burst of upgrades grows V8's heap (each makes a Request, a
    // Response, a WebSocketPair...).
    let mut socks: Vec<Raw> = (0..3000).map(|_| Raw::open(a, "/")).collect();
    assert!(socks.iter().all(|s| s.status == 101));
    // Quiet: one memory-reducing collection gives memory back.
    let deadline = Instant::now() + Duration::from_secs(5);
    while v8(&srv).idle_collections == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // (Once, or more if the burst itself paused long enough.)
    std::thread::sleep(Duration::from_millis(200));
    let after_burst = v8(&srv);
    assert!(after_burst.idle_collections >= 1, "{after_burst:?}");
    assert!(after_burst.idle_freed_bytes > 0, "{after_burst:?}");
    // Every socket still works, and a few messages (no growth to speak of)
    // bring no second collection.
    for s in socks.iter_mut().step_by(100) {
        s.send_text("still here");
        assert_eq!(s.read().unwrap().text(), "still here");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        v8(&srv).idle_collections,
        after_burst.idle_collections,
        "{:?}",
        v8(&srv)
    );
}

#[test]
fn a_64_bit_length_with_the_top_bit_set_is_a_protocol_error() {
    // RFC 6455 §5.2: the most significant bit of a 64-bit length must be 0.
    let srv = probe_server(|_| {});
    let mut ws = Raw::open(srv.local_addr(), "/?id=len63");
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 63).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    ws.s.write_all(&header).unwrap();
    assert_eq!(ws.read_close().close_code(), Some(1002));
}

#[test]
fn a_message_that_arrives_with_the_close_is_answered_before_the_close() {
    // The message and the close frame in one packet: the script still gets
    // the message while the socket is open, its reply goes out, and then the
    // close handshake completes (RFC 6455 §5.5.1: the side that has not
    // sent its close frame may keep sending).
    let srv = probe_server(|_| {});
    let a = srv.local_addr();
    let mut ws = Raw::open(a, "/?id=lastwords");
    let mut both = Vec::new();
    frame::encode(&mut both, 0x81, b"last words", Some([9, 8, 7, 6]));
    frame::encode(&mut both, 0x88, &1000u16.to_be_bytes(), Some([1, 2, 3, 4]));
    ws.s.write_all(&both).unwrap();
    let reply = ws.read().expect("the reply, then the close");
    assert_eq!((reply.opcode, reply.text()), (1, "last words".to_string()));
    assert_eq!(ws.read_close().close_code(), Some(1000));
    ws.expect_eof();
    let log = probe_log(a, "lastwords", 1);
    assert_eq!(log.len(), 1, "no error, one close: {log:?}");
    assert_eq!(
        (log[0]["code"].as_u64(), log[0]["wasClean"].as_bool()),
        (Some(1000), Some(true))
    );
}

#[test]
fn pongs_to_a_peer_that_does_not_read_are_bounded() {
    // A peer that pings and never reads: the pongs count against the send
    // limit like every other send. Either reading it pauses (its writes
    // stall) or, past the limit, it is closed with 1008; the pongs never
    // pile up without bound.
    let srv = probe_server(|c| {
        c.ws.max_buffered_bytes = 64 << 10;
        c.ws.ping_interval = None;
    });
    let mut ws = Raw::open(srv.local_addr(), "/?id=pinger");
    const PINGS: usize = 400_000; // 52 MB of pings, 51 MB of pongs
    let mut burst = Vec::new();
    for _ in 0..1000 {
        frame::encode(&mut burst, 0x89, &[b'p'; 125], Some([1, 2, 3, 4]));
    }
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let mut s = ws.s.try_clone().unwrap();
        let done = done.clone();
        std::thread::spawn(move || {
            for _ in 0..PINGS / 1000 {
                if s.write_all(&burst).is_err() {
                    break; // closed by the server: fine
                }
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
        })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stalled = !done.load(std::sync::atomic::Ordering::Relaxed);
    // Now read: pongs, and (unless reading merely paused) the close. (Frames
    // are counted in place: hundreds of thousands of them.)
    let mut pongs = 0usize;
    let mut close = None;
    let mut buf = std::mem::take(&mut ws.buf);
    let mut at = 0;
    let mut tmp = vec![0u8; 1 << 20];
    'read: loop {
        while let Some(e) = frame::extent(&buf[at..]) {
            let total = e.total() as usize;
            if buf.len() - at < total {
                break;
            }
            match e.first & 0x0f {
                0xA => pongs += 1,
                8 => {
                    let p = &buf[at + e.header_len..at + total];
                    close = (p.len() >= 2).then(|| u16::from_be_bytes([p[0], p[1]]));
                    break 'read;
                }
                op => panic!("unexpected frame {op}"),
            }
            at += total;
        }
        if stalled && pongs == PINGS {
            break;
        }
        buf.drain(..at);
        at = 0;
        match ws.s.read(&mut tmp) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
    drop(ws);
    writer.join().unwrap();
    assert!(
        stalled || close == Some(1008),
        "the server took all {PINGS} pings from a peer that reads nothing \
         ({pongs} pongs queued, close {close:?})"
    );
}
