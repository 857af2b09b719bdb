//! Streaming bodies through the real example binaries: 64 MiB round trips
//! through `examples/echo` (Content-Length and chunked) with matching
//! checksums, curl against `examples/hello` and `examples/echo`, and
//! backpressure (a handler that does not read stops the socket reads).

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use ringworker::{Request, Response};
use sha2::{Digest, Sha256};

/// An example binary on port 0 (its reported address), killed on drop.
fn run_example(name: &str) -> Spawned {
    let mut cmd = Command::new(example_bin(name));
    cmd.args(["--listen", "127.0.0.1:0", "--shards", "2", "--no-pin"]);
    spawn_listening(cmd)
}

/// Deterministic pseudo-random bytes (so a shifted or dropped chunk shows).
fn payload(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E3779B97F4A7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Sends `data` as the body (chunked if `chunked`) while reading the echo
/// concurrently; returns the sha256 of what came back.
fn echo_roundtrip(addr: SocketAddr, data: &[u8], chunked: bool) -> [u8; 32] {
    let s = connect(addr);
    let mut w = s.try_clone().unwrap();
    let data = data.to_vec();
    let writer = std::thread::spawn(move || {
        if chunked {
            w.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap();
            // Uneven chunk sizes exercise the decoder's split handling.
            let mut off = 0;
            let mut size = 1;
            while off < data.len() {
                let n = size.min(data.len() - off);
                write!(w, "{n:x}\r\n").unwrap();
                w.write_all(&data[off..off + n]).unwrap();
                w.write_all(b"\r\n").unwrap();
                off += n;
                size = (size * 7 + 13) % 300_000 + 1;
            }
            w.write_all(b"0\r\n\r\n").unwrap();
        } else {
            write!(
                w,
                "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                data.len()
            )
            .unwrap();
            for part in data.chunks(1 << 20) {
                w.write_all(part).unwrap();
            }
        }
    });
    let resp = Reader::new(s).response(false).unwrap();
    writer.join().unwrap();
    assert_eq!(resp.status, 200);
    if chunked {
        assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
    } else {
        assert_eq!(
            resp.header("content-length")
                .map(|v| v.parse::<usize>().unwrap()),
            Some(resp.body.len())
        );
    }
    Sha256::digest(&resp.body).into()
}

#[test]
fn echo_example_round_trips_64_mib_both_framings() {
    let ex = run_example("echo");
    let data = payload(64 << 20);
    let want: [u8; 32] = Sha256::digest(&data).into();
    assert_eq!(
        echo_roundtrip(ex.addr, &data, false),
        want,
        "Content-Length body"
    );
    assert_eq!(echo_roundtrip(ex.addr, &data, true), want, "chunked body");
}

fn curl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30"])
        .args(args)
        .output()
        .expect("curl is installed (see README set-up)");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn curl_talks_to_hello_and_echo_examples() {
    let hello = run_example("hello");
    let url = format!("http://{}/", hello.addr);
    assert_eq!(curl(&[&url]), b"Hello World");
    // Several requests on one curl connection (keep-alive).
    assert_eq!(
        curl(&[&url, &url, &url]),
        b"Hello WorldHello WorldHello World"
    );
    let head = String::from_utf8(curl(&["-i", &url])).unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.to_ascii_lowercase().contains("\r\ndate: "));

    let echo = run_example("echo");
    let url = format!("http://{}/", echo.addr);
    assert_eq!(
        curl(&["--data-binary", "hello from curl", &url]),
        b"hello from curl"
    );
    // A 3 MiB upload from a file: curl sends `Expect: 100-continue` for it.
    let data = payload(3 << 20);
    let path = std::env::temp_dir().join(format!("ringworker-curl-{}.bin", std::process::id()));
    std::fs::write(&path, &data).unwrap();
    let got = curl(&["--data-binary", &format!("@{}", path.display()), &url]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(Sha256::digest(&got), Sha256::digest(&data));
    // Chunked upload.
    let got = curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        "chunky",
        &url,
    ]);
    assert_eq!(got, b"chunky");
}

#[test]
fn a_handler_that_does_not_read_stops_the_socket_reads() {
    let mut cfg = test_config();
    cfg.limits.max_body_bytes = None;
    let srv = start(cfg, |_| {
        |req: Request| async move {
            // Hold the body unread until the client goes away.
            req.cancel_flag().cancelled().await;
            drop(req);
            Response::text(200, "never sent")
        }
    });
    let mut s = connect(srv.local_addr());
    s.set_nonblocking(true).unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n")
        .ok();
    let chunk = vec![0u8; 65536];
    let mut pushed = 0usize;
    let t0 = Instant::now();
    // Push until the kernel buffers are full and writes would block for a while.
    let mut blocked_since: Option<Instant> = None;
    while t0.elapsed() < Duration::from_secs(10) {
        match s.write(&chunk) {
            Ok(n) => {
                pushed += n;
                blocked_since = None;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let since = *blocked_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_millis(300) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("write failed: {e}"),
        }
    }
    let read_by_server = srv.stats()[0].bytes_in;
    // The server takes one body window (64 KiB) for the handler; what the
    // kernel had already received when the pause (a cancel of the
    // multishot receive) took effect waits in the connection's read buffer
    // (bounded by the ring's provided buffers, 4 MiB) and is not counted
    // as read. The rest of the 1 GB sits in kernel buffers.
    assert!(
        read_by_server < 2 << 20,
        "server read {read_by_server} bytes of an unread body"
    );
    assert!(
        pushed < 200 << 20,
        "client pushed {pushed} bytes: nothing pushed back"
    );
    drop(s);
}
