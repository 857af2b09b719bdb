//! Self-tests of the shared test helpers in `tests/common`: each shows the
//! helper fails when it should, against a plain std peer on a real socket,
//! so a check built on it cannot pass by accident. (The upstream servers
//! have their own, `upstream_selftest.rs`; the JS harness is checked by
//! `js_api.rs`.)

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use common::*;

/// A connected pair: our test-side `Reader` and the raw peer it reads from.
fn pair() -> (Reader, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = connect(l.local_addr().unwrap());
    let (peer, _) = l.accept().unwrap();
    (Reader::new(client), peer)
}

/// The panic message of `f`, which must panic.
fn panic_text(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("it must panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn a_clean_close_is_eof() {
    let (mut r, peer) = pair();
    drop(peer);
    assert_eq!(r.ending(CLOSE_WAIT), Ending::Eof);
    let (mut r, peer) = pair();
    drop(peer);
    assert!(r.is_closed());
    let (mut r, peer) = pair();
    drop(peer);
    r.assert_closed();
}

#[test]
fn a_reset_counts_as_closed() {
    let (mut r, peer) = pair();
    // Linger 0: close() sends a RST instead of a FIN.
    socket2::SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer);
    assert_eq!(r.ending(CLOSE_WAIT), Ending::Reset);
}

#[test]
fn a_connection_left_open_is_not_closed_a_timeout_is_a_failure() {
    let (mut r, _peer) = pair();
    let t0 = Instant::now();
    let wait = Duration::from_millis(50);
    assert_eq!(r.ending(wait), Ending::Open(wait));
    assert!(t0.elapsed() >= wait && t0.elapsed() < Duration::from_secs(2));
    // The stream's own read timeout is back as it was (connect's 20 s).
    assert_eq!(
        r.stream.read_timeout().unwrap(),
        Some(Duration::from_secs(20))
    );
    // is_closed and assert_closed give the same verdict after their wait
    // (shortened here; CLOSE_WAIT is short too, well under connect's 20 s).
    r.close_wait = wait;
    assert!(!r.is_closed());
    let text = panic_text(|| r.assert_closed());
    assert!(text.contains("Open(50ms)"), "{text}");
    assert!(CLOSE_WAIT <= Duration::from_secs(3));
}

#[test]
fn more_bytes_are_not_a_close() {
    let (mut r, mut peer) = pair();
    peer.write_all(b"HTTP/1.1 200 OK\r\n").unwrap();
    assert_eq!(
        r.ending(CLOSE_WAIT),
        Ending::Bytes("HTTP/1.1 200 OK\r\n".into())
    );
    let (mut r, mut peer) = pair();
    peer.write_all(b"more").unwrap();
    assert!(!r.is_closed());
    let (mut r, mut peer) = pair();
    peer.write_all(b"more").unwrap();
    drop(peer); // bytes, then the close: the bytes are what the test sees first
    let text = panic_text(|| r.assert_closed());
    assert!(text.contains("Bytes(\"more\")"), "{text}");
}

#[test]
fn bytes_already_read_past_a_response_are_not_a_close() {
    let (mut r, mut peer) = pair();
    // A response, then a second one the test did not expect, then the close.
    peer.write_all(b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    drop(peer);
    assert_eq!(r.response(false).unwrap().status, 204);
    match r.ending(CLOSE_WAIT) {
        Ending::Bytes(b) => assert!(b.starts_with("HTTP/1.1 200 OK"), "{b:?}"),
        other => panic!("expected the buffered bytes, got {other:?}"),
    }
}

/// A child that logs `line` on stderr, then stays up (or exits at once).
fn sh(script: &str) -> std::process::Command {
    let mut c = std::process::Command::new("sh");
    c.args(["-c", script]);
    c
}

#[test]
fn spawn_listening_takes_the_address_the_child_reports() {
    let mut s = spawn_listening(sh(
        "echo 'starting' >&2; echo 'demo: listening on http://127.0.0.1:4321 with 2 shards' >&2; echo after >&2; exec sleep 30",
    ));
    assert_eq!(s.addr, "127.0.0.1:4321".parse().unwrap());
    assert!(s.alive());
    let log = s.stop();
    assert!(
        log.contains("starting\n") && log.contains("with 2 shards\n"),
        "{log}"
    );
    // The CLI's wording too.
    let s = spawn_listening(sh(
        "echo 'ringworker: serving on http://127.0.0.1:5555 with 1 shards' >&2; exec sleep 30",
    ));
    assert_eq!(s.addr.port(), 5555);
}

#[test]
fn spawn_listening_fails_for_a_child_that_exits_or_stays_silent() {
    let t0 = Instant::now();
    let text = panic_text(|| {
        spawn_listening(sh("echo 'bad flag --nope' >&2; exit 3"));
    });
    assert!(
        text.contains("exited") && text.contains("bad flag --nope"),
        "{text}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "noticed the exit at once"
    );
    // Silent (or logging something else): a timeout is a failure.
    let text = panic_text(|| {
        spawn_listening_within(
            sh("echo 'listening on nothing' >&2; exec sleep 30"),
            Duration::from_millis(300),
        );
    });
    assert!(text.contains("no address within 300ms"), "{text}");
}

#[test]
fn wait_for_returns_the_value_or_fails_at_the_deadline() {
    let t0 = Instant::now();
    let mut n = 0;
    let v = wait_for(Duration::from_secs(5), "the third poll", || {
        n += 1;
        (n == 3).then_some("three")
    });
    assert_eq!((v, n), ("three", 3));
    assert!(t0.elapsed() < Duration::from_secs(2));
    let text = panic_text(|| {
        wait_for(
            Duration::from_millis(50),
            "something that never happens",
            || None::<()>,
        );
    });
    assert!(
        text.contains("timed out after 50ms waiting for something that never happens"),
        "{text}"
    );
}

#[test]
fn settled_waits_for_a_value_to_rest_and_fails_if_it_never_does() {
    // A counter that moves for ~100 ms, then rests.
    let t0 = Instant::now();
    let v = settled(
        Duration::from_millis(100),
        Duration::from_secs(5),
        "the counter",
        || t0.elapsed().as_millis().min(100) / 10,
    );
    assert_eq!(v, 10);
    assert!(t0.elapsed() >= Duration::from_millis(200));
    // One that keeps moving.
    let text = panic_text(|| {
        settled(
            Duration::from_millis(100),
            Duration::from_millis(300),
            "a clock",
            || t0.elapsed(),
        );
    });
    assert!(
        text.contains("a clock still changing after 300ms"),
        "{text}"
    );
}
