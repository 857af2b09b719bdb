//! `ringworker-bench rate`: requests leave on schedule, and latency counts
//! from the schedule, so a server's stall is charged to every request that
//! was due during it (not only to the one that was in flight).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

/// A keep-alive HTTP/1.1 server on one thread that answers at once, except
/// that it stalls for `stall` before its `nth` answer.
fn stalling_server(nth: usize, stall: Duration) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut served = 0;
        for conn in l.incoming() {
            let Ok(mut c) = conn else { return };
            c.set_nodelay(true).unwrap();
            let mut buf = Vec::new();
            let mut tmp = [0u8; 4096];
            loop {
                while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    buf.drain(..end + 4);
                    served += 1;
                    if served == nth {
                        std::thread::sleep(stall);
                    }
                    if c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .is_err()
                    {
                        break;
                    }
                }
                match c.read(&mut tmp) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                }
            }
        }
    });
    addr
}

fn rate(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ringworker-bench"))
        .arg("rate")
        .args(args)
        .arg("--json")
        .output()
        .expect("ringworker-bench runs");
    assert!(
        out.status.success(),
        "rate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn a_stall_is_charged_to_every_request_due_during_it() {
    // 200 req/s on one connection, 2 s measured after 0.5 s: ~400 requests.
    // The 200th answer (inside the window) waits 300 ms: ~60 requests were
    // due meanwhile. A closed loop would record one slow request (p99 fast);
    // counted from the schedule, ~12 % of them are 50 ms or later.
    let addr = stalling_server(200, Duration::from_millis(300));
    let r = rate(&[
        "--url",
        &format!("http://{addr}/"),
        "--rate",
        "200",
        "-c",
        "1",
        "-d",
        "2s",
        "--warmup",
        "500ms",
    ]);
    let requests = r["requests"].as_u64().unwrap();
    assert!((360..=440).contains(&requests), "{r}");
    assert_eq!(r["errors"]["total"], 0, "{r}");
    let lat = &r["latency_us"];
    assert!(
        lat["p90"].as_f64().unwrap() >= 50_000.0,
        "the stall hid: {r}"
    );
    assert!(lat["max"].as_f64().unwrap() >= 290_000.0, "{r}");
    // Outside the stall, answers are quick.
    assert!(lat["p50"].as_f64().unwrap() < 50_000.0, "{r}");
}

#[test]
fn new_connections_and_cpu_figures() {
    let addr = stalling_server(usize::MAX, Duration::ZERO);
    let r = rate(&[
        "--url",
        &format!("http://{addr}/"),
        "--rate",
        "100",
        "-c",
        "2",
        "-d",
        "1s",
        "--warmup",
        "200ms",
        "--new-connections",
        "--cpu-pid",
        &std::process::id().to_string(),
    ]);
    assert_eq!(r["new_connections"], true, "{r}");
    assert_eq!(r["target_rps"], 100.0, "{r}");
    let requests = r["requests"].as_u64().unwrap();
    assert!((90..=110).contains(&requests), "{r}");
    assert_eq!(r["errors"]["total"], 0, "{r}");
    assert!(r["server_cpu_us_per_req"].as_f64().is_some(), "{r}");
    assert!(r["machine_cpu_us_per_req"].as_f64().unwrap() > 0.0, "{r}");
}
