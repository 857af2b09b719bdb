//! An idle shard answers as fast as a busy one (issue 20).
//!
//! Every benchmark keeps the shard busy; these tests let it fall asleep
//! first. Each event below reaches a shard that has had nothing to do for
//! 100 ms: a request on a keep-alive connection, a new connection, a
//! script timer, an outbound response, a client's close reaching the
//! script, a WebSocket frame to a dormant socket. The bug this guards
//! against made each of them wait ~15 ms for the kernel's deferred eventfd
//! signal; the bound (5 ms) is loose on purpose so a loaded machine does not
//! flake it, and still catches that. A keep-alive request must be prompt
//! every time but one, and never at the bug's delay (the regression
//! check); the paths that also need
//! another thread or process scheduled in time must be prompt in the median
//! and stall (15 ms, the bug's delay) at most a few times.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use ringworker::{Request, Response};

const IDLE: Duration = Duration::from_millis(100);
const PROMPT: Duration = Duration::from_millis(5);
const ROUNDS: usize = 20;

/// Asserts the latencies are under [`PROMPT`], naming them all if not. One
/// of the twenty may be a scheduling outlier on a loaded two-core machine
/// (seen: 6 ms, while a build ran on both cores), but none may reach the
/// bug's delay (15 ms): the bug made every one of them that slow.
fn assert_prompt(what: &str, lat: &[Duration]) {
    let slow = lat.iter().filter(|d| **d >= PROMPT).count();
    let stalled = lat.iter().filter(|d| **d >= 3 * PROMPT).count();
    assert!(
        slow <= 1 && stalled == 0,
        "{what}: {slow} of {} answers after {IDLE:?} idle took {PROMPT:?} or more \
         ({stalled} of them {:?} or more): {lat:?}",
        lat.len(),
        3 * PROMPT
    );
}

/// For paths where another thread or process of the test (an upstream, a
/// second connection's shard) must also be scheduled in time on a loaded
/// machine: the median under [`PROMPT`], and at most `spare` of them at the
/// bug's delay (15 ms) or more. The bug made every one of them that slow.
fn assert_mostly_prompt(what: &str, lat: &[Duration], spare: usize) {
    let mut sorted = lat.to_vec();
    sorted.sort();
    let median = sorted[sorted.len() / 2];
    let stalled = lat.iter().filter(|d| **d >= 3 * PROMPT).count();
    assert!(
        median < PROMPT && stalled <= spare,
        "{what}: after {IDLE:?} idle the median answer took {median:?} (bound {PROMPT:?}) and \
         {stalled} of {} took {:?} or more (at most {spare}): {lat:?}",
        lat.len(),
        3 * PROMPT
    );
}

/// `ringworker serve SCRIPT --shards N --no-pin ARGS` on a port of its own,
/// up and serving.
fn serve(script: &std::path::Path, shards: usize, extra: &[&str]) -> Spawned {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringworker"));
    cmd.arg("serve")
        .arg(script)
        .args(["--listen", "127.0.0.1:0", "--no-pin"])
        .args(["--shards", &shards.to_string()])
        .args(extra);
    spawn_listening(cmd)
}

fn script(name: &str, body: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringworker-idle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// Sends GET `path` on `r` after `IDLE`, returning the time to the whole answer.
fn idle_get(r: &mut Reader, path: &str) -> Duration {
    std::thread::sleep(IDLE);
    let t = Instant::now();
    write!(r.stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let resp = r.response(false).expect("an answer");
    let d = t.elapsed();
    assert_eq!(resp.status, 200, "{}", resp.text());
    d
}

/// Keep-alive requests, each after `IDLE` (after one untimed request: the
/// first may compile code or open storage).
fn keepalive_rounds(addr: SocketAddr, path: &str) -> Vec<Duration> {
    let mut r = Reader::new(connect(addr));
    idle_get(&mut r, path);
    (0..ROUNDS).map(|_| idle_get(&mut r, path)).collect()
}

/// A new connection per request, each opened after `IDLE`; timed from the
/// connect (the accept is an event of the idle shard too).
fn new_connection_rounds(addr: SocketAddr) -> Vec<Duration> {
    (0..ROUNDS)
        .map(|_| {
            std::thread::sleep(IDLE);
            let t = Instant::now();
            let mut r = Reader::new(connect(addr));
            write!(r.stream, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            assert_eq!(r.response(false).unwrap().status, 200);
            t.elapsed()
        })
        .collect()
}

#[test]
fn rust_handler_answers_an_idle_keepalive_connection_promptly() {
    let srv = start(test_config(), |_| {
        |_req: Request| async move { Response::text(200, "Hello World") }
    });
    let lat = keepalive_rounds(srv.local_addr(), "/");
    assert_prompt("Rust handler, keep-alive", &lat);
    let lat = new_connection_rounds(srv.local_addr());
    assert_mostly_prompt("Rust handler, new connections", &lat, 2);
    srv.shutdown();
    srv.join().unwrap();
}

#[test]
fn js_worker_on_two_shards_answers_idle_requests_promptly() {
    let cli = serve(&example("hello.js"), 2, &[]);
    let lat = keepalive_rounds(cli.addr, "/");
    assert_prompt("JS, 2 shards, keep-alive", &lat);
    let lat = new_connection_rounds(cli.addr);
    assert_mostly_prompt("JS, 2 shards, new connections", &lat, 2);
}

#[test]
fn script_timers_fire_on_time_on_an_idle_shard() {
    // The request arrives idle, then the shard sleeps again until the timer.
    let s = script(
        "timer.js",
        "export default { async fetch() {\n\
           await new Promise((r) => setTimeout(r, 20));\n\
           return new Response('late enough');\n\
         } };\n",
    );
    let cli = serve(&s, 1, &[]);
    let lat: Vec<_> = keepalive_rounds(cli.addr, "/")
        .into_iter()
        .map(|d| d.saturating_sub(Duration::from_millis(20)))
        .collect();
    assert_mostly_prompt("a 20 ms setTimeout, lateness", &lat, 2);
}

/// A keep-alive upstream that answers each request `delay` after it came
/// (the script's pool reuses the connection: only the response is timed).
fn slow_upstream(delay: Duration) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { return };
            std::thread::spawn(move || {
                c.set_nodelay(true).unwrap();
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                loop {
                    while let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        got.drain(..end + 4);
                        std::thread::sleep(delay);
                        if c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nup")
                            .is_err()
                        {
                            return;
                        }
                    }
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn an_outbound_response_to_an_idle_shard_is_taken_at_once() {
    // The shard sends the subrequest, then sleeps until the upstream answers.
    let up = slow_upstream(Duration::from_millis(30));
    let s = script(
        "outbound.js",
        &format!(
            "export default {{ async fetch() {{\n\
               const r = await fetch('http://{up}/');\n\
               return new Response(await r.text());\n\
             }} }};\n"
        ),
    );
    let cli = serve(&s, 1, &[]);
    let lat: Vec<_> = keepalive_rounds(cli.addr, "/")
        .into_iter()
        .map(|d| d.saturating_sub(Duration::from_millis(30)))
        .collect();
    assert_mostly_prompt("an outbound response 30 ms late, lateness", &lat, 2);
}

#[test]
fn a_client_leaving_reaches_the_script_of_an_idle_shard_at_once() {
    // The script holds the request open; when the client leaves, its abort
    // handler connects to our listener: the time from our close to that
    // connection is the idle shard's disconnect path plus a connect.
    let watcher = TcpListener::bind("127.0.0.1:0").unwrap();
    let w = watcher.local_addr().unwrap();
    let s = script(
        "abort.js",
        &format!(
            "import {{ connect }} from 'cloudflare:sockets';\n\
             export default {{ fetch(request) {{\n\
               request.signal.addEventListener('abort', () => {{ connect('{w}'); }});\n\
               return new Promise(() => {{}});\n\
             }} }};\n"
        ),
    );
    let cli = serve(&s, 1, &[]);
    let mut lat = Vec::new();
    for _ in 0..ROUNDS {
        let mut c = connect(cli.addr);
        c.write_all(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        std::thread::sleep(IDLE);
        let t = Instant::now();
        drop(c);
        let (_seen, _) = watcher.accept().unwrap();
        lat.push(t.elapsed());
    }
    assert_mostly_prompt("client close to the script's abort handler", &lat, 2);
}

#[test]
fn a_frame_to_a_dormant_websocket_is_echoed_promptly() {
    let cli = serve(&example("ws-echo.js"), 1, &[]);
    let (mut ws, _) = tungstenite::connect(format!("ws://{}/", cli.addr)).expect("upgrade");
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_mut() {
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    let mut lat = Vec::new();
    for i in 0..ROUNDS {
        std::thread::sleep(IDLE);
        let t = Instant::now();
        ws.send(tungstenite::Message::text(format!("ping {i}")))
            .unwrap();
        let m = ws.read().unwrap();
        lat.push(t.elapsed());
        assert_eq!(m.into_text().unwrap().as_str(), format!("ping {i}"));
    }
    assert_mostly_prompt("a WebSocket echo after idle", &lat, 2);
}

#[test]
fn a_message_from_another_shard_reaches_an_idle_shard_at_once() {
    // An actor lives on one of two shards; requests come in on connections
    // spread over both, so about half of them cross to the actor's shard
    // and back through the mailboxes, each after the shards sat idle.
    let s = script(
        "actor.js",
        "import { DurableObject } from 'cloudflare:workers';\n\
         export class Pinger extends DurableObject { ping() { return 'pong'; } }\n\
         export default { async fetch(request, env) {\n\
           return new Response(await env.PINGER.getByName('one').ping());\n\
         } };\n",
    );
    let state = std::env::temp_dir().join(format!("ringworker-idle-actors-{}", std::process::id()));
    let cli = serve(
        &s,
        2,
        &[
            "--actor",
            "PINGER=Pinger",
            "--actor-storage",
            state.to_str().unwrap(),
        ],
    );
    let mut conns: Vec<Reader> = (0..8).map(|_| Reader::new(connect(cli.addr))).collect();
    for c in &mut conns {
        idle_get(c, "/");
    }
    let lat: Vec<_> = (0..2 * ROUNDS)
        .map(|i| idle_get(&mut conns[i % 8], "/"))
        .collect();
    assert_mostly_prompt("an actor call across shards", &lat, 4);
    let _ = std::fs::remove_dir_all(&state);
}
