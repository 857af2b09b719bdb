//! Request bodies as a script sees them, over real sockets: a body taken
//! natively (whole, or forwarded) is still a real ReadableStream the moment
//! the script looks, and spent after it was read; `formData()` of uploads
//! from curl; and bounded memory for hostile bodies: a 1 GiB multipart
//! upload past the form limit, an unterminated boundary, a gzip bomb.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::cli::*;
use common::*;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/bodies.js")
}

fn serve(extra: &[&str]) -> Cli {
    let script = script();
    let mut args: Vec<&std::ffi::OsStr> = vec![script.as_os_str()];
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    Cli::start(&args)
}

/// curl ARGS URL -> (status, body).
fn curl(url: &str, args: &[&str]) -> (u16, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut body = out.stdout;
    let cut = body.iter().rposition(|&b| b == b'\n').unwrap();
    let status = std::str::from_utf8(&body[cut + 1..])
        .unwrap()
        .parse()
        .unwrap();
    body.truncate(cut);
    (status, body)
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let p = std::env::temp_dir().join(format!("ringworker-bodies-{}-{name}", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Peak resident memory of a process, in bytes (`VmHWM`).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb << 10
}

#[test]
fn an_incoming_body_is_a_stream_when_looked_at_and_spent_once_taken() {
    let cli = serve(&[]);
    let base = format!("http://{}", cli.addr);
    for size in [10usize, 3 << 20] {
        let file = temp_file(&format!("peek{size}"), &vec![b'p'; size]);
        let data = format!("@{}", file.display());
        let (status, body) = curl(&format!("{base}/peek"), &["--data-binary", &data]);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(
            json(&body),
            serde_json::json!({
                "before": { "isStream": true, "locked": false, "used": false },
                "bytes": size,
                "after": { "locked": true, "used": true },
            })
        );
        // Taken whole (all arrived) or read through a stream (3 MiB): the
        // script sees the same afterwards.
        let (status, body) = curl(&format!("{base}/text"), &["--data-binary", &data]);
        assert_eq!(status, 200);
        assert_eq!(
            json(&body),
            serde_json::json!({
                "length": size, "used": true, "isStream": true, "locked": true,
                "getReader": "TypeError", "again": "TypeError",
            })
        );
        let _ = std::fs::remove_file(file);
    }
    cli.stop();
}

#[test]
fn bodies_looked_at_are_still_forwarded_whole() {
    let cli = serve(&[]);
    let base = format!("http://{}", cli.addr);
    let payload: Vec<u8> = (0..(256u32 << 10)).map(|i| (i % 251) as u8).collect();
    let file = temp_file("echo", &payload);
    let (status, body) = curl(
        &format!("{base}/echo-looked"),
        &["--data-binary", &format!("@{}", file.display())],
    );
    let _ = std::fs::remove_file(file);
    assert_eq!(status, 200);
    assert!(body == payload, "the echo differs ({} bytes)", body.len());
    let resp = get(cli.addr, "/whole-looked");
    assert_eq!(resp.text(), "whole body");
    assert_eq!(resp.header("x-locked-before"), Some("false"));
    cli.stop();
}

#[test]
fn form_data_of_uploads_and_of_a_malformed_body() {
    let cli = serve(&[]);
    let base = format!("http://{}", cli.addr);
    let file = temp_file("upload.bin", &vec![7u8; 100_000]);
    let (status, body) = curl(
        &format!("{base}/form"),
        &[
            "-F",
            "title=report",
            "-F",
            &format!("doc=@{};type=application/x-bin", file.display()),
        ],
    );
    let _ = std::fs::remove_file(&file);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v = json(&body);
    assert_eq!(v[0], serde_json::json!(["title", "report"]));
    assert_eq!(v[1][1]["type"], "application/x-bin");
    assert_eq!(v[1][1]["size"], 100_000);
    // No closing boundary: a 400 from the script's TypeError.
    let (status, body) = curl(
        &format!("{base}/form"),
        &[
            "-H",
            "Content-Type: multipart/form-data; boundary=XYZ",
            "--data-binary",
            "--XYZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
        ],
    );
    assert_eq!(status, 400);
    let v = json(&body);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("TypeError: formData: malformed multipart body"),
        "{v}"
    );
    assert!(
        v["error"].as_str().unwrap().contains("closing boundary"),
        "{v}"
    );
    let log = cli.stop();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn a_1_gib_multipart_upload_stops_at_the_form_limit_with_bounded_memory() {
    let cli = serve(&["--form-data-max-kb", "1024"]);
    let pid = cli.child.child.id();
    let before = peak_rss(pid);
    let mut s = TcpStream::connect(cli.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(
        b"POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=B\r\n\
          Transfer-Encoding: chunked\r\n\r\n",
    )
    .unwrap();
    let head = b"--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"big\"\r\n\r\n";
    s.write_all(format!("{:x}\r\n", head.len()).as_bytes())
        .unwrap();
    s.write_all(head).unwrap();
    s.write_all(b"\r\n").unwrap();
    // Up to 1 GiB of file data, until the server stops taking it.
    let mut writer = s.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let chunk = vec![b'x'; 64 << 10];
        let mut sent: u64 = 0;
        while sent < 1 << 30 {
            let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
            if writer.write_all(&frame).is_err() {
                break;
            }
            sent += chunk.len() as u64;
        }
        sent
    });
    let t0 = Instant::now();
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while !reply.windows(4).any(|w| w == b"\r\n\r\n") || !reply.ends_with(b"}") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
        }
    }
    let reply = String::from_utf8_lossy(&reply).into_owned();
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(
        reply.contains("larger than the limit of 1048576 bytes"),
        "{reply}"
    );
    assert!(t0.elapsed() < Duration::from_secs(20));
    // The server stops reading: the client cannot push the gigabyte.
    let _ = s.shutdown(std::net::Shutdown::Both);
    let sent = sender.join().unwrap();
    assert!(sent < 256 << 20, "the client sent {} MiB", sent >> 20);
    let grew = peak_rss(pid).saturating_sub(before);
    assert!(grew < 64 << 20, "peak RSS grew by {} MiB", grew >> 20);
    cli.stop();
}

#[test]
fn a_gzip_bomb_decompresses_in_bounded_chunks_with_bounded_memory() {
    use flate2::write::GzEncoder;
    // 1 GiB of zeros in ~1 MiB of gzip.
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        enc.write_all(&zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 2 << 20, "{}", bomb.len());
    let cli = serve(&["--cpu-limit-ms", "60000"]);
    let pid = cli.child.child.id();
    let before = peak_rss(pid);
    let file = temp_file("bomb.gz", &bomb);
    let (status, body) = curl(
        &format!("http://{}/gunzip", cli.addr),
        &[
            "--data-binary",
            &format!("@{}", file.display()),
            "--max-time",
            "120",
        ],
    );
    let _ = std::fs::remove_file(file);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v = json(&body);
    assert_eq!(v["total"], 1u64 << 30);
    assert!(v["biggest"].as_u64().unwrap() <= 64 << 10, "{v}");
    // Read output chunks are garbage until V8 collects them (it does on
    // their external memory's pressure): memory stays far below the 1 GiB
    // the bomb expands to, and does not grow with it.
    let grew = peak_rss(pid).saturating_sub(before);
    assert!(grew < 160 << 20, "peak RSS grew by {} MiB", grew >> 20);
    // A truncated one is a TypeError the script sees.
    let file = temp_file("cut.gz", &bomb[..bomb.len() / 2]);
    let (status, body) = curl(
        &format!("http://{}/gunzip", cli.addr),
        &["--data-binary", &format!("@{}", file.display())],
    );
    let _ = std::fs::remove_file(file);
    assert_eq!(status, 400);
    assert!(
        json(&body)["error"].as_str().unwrap().contains("truncated"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    cli.stop();
}
