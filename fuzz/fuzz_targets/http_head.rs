//! The HTTP/1.1 request-head parser (`http::parse`) and what becomes of a
//! head that passes: its target and `Host` (`http::target`) and the URL a
//! script sees. A verdict for every input, never a panic; spans inside the
//! head; an accepted authority always names the URL's host, whatever the
//! path holds; feeding the bytes in two parts changes no verdict.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringworker_io::http::parse::{Limits, ParsedHead, parse_request_head};
use ringworker_io::http::target::{self, TargetUri};

fn check(buf: &[u8], head: &ParsedHead) {
    assert!(head.head_len <= buf.len());
    let spans = [Some(head.method), Some(head.target), Some(head.path), head.authority];
    for span in spans.into_iter().flatten() {
        assert!(span.range().end <= head.head_len, "{span:?} past the head");
    }
    for (n, v) in &head.headers {
        assert!(n.range().end <= head.head_len && v.range().end <= head.head_len);
    }
    let target = head.target_bytes(buf);
    assert!(target.is_ascii(), "a non-ASCII target passed");
    let path = std::str::from_utf8(head.path.get(buf)).expect("ASCII");
    let Some(authority) = head.authority.map(|a| a.get(buf)) else {
        return;
    };
    assert!(target::is_authority(authority), "{authority:?} passed");
    if !target::is_url_host(authority) {
        return;
    }
    let mut uris = TargetUri::new();
    let url = uris.build(authority, path).expect("an accepted host builds").clone();
    assert_eq!(url.scheme(), "http");
    // Nothing in the path can move the host or the port.
    let host = std::str::from_utf8(authority).unwrap();
    let expect = url::Url::parse(&format!("http://{host}/")).expect("the authority alone parses");
    assert_eq!(url.host(), expect.host(), "{host:?} + {path:?} -> {url}");
    assert_eq!(url.port(), expect.port(), "{host:?} + {path:?} -> {url}");
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_head_bytes: 4096,
        max_headers: 32,
        max_uri_bytes: 1024,
    };
    let whole = parse_request_head(data, &limits);
    if let Ok(Some(head)) = &whole {
        check(data, head);
    }
    // A prefix is incomplete or already has the whole input's verdict.
    let cut = data.len() / 2;
    match parse_request_head(&data[..cut], &limits) {
        Ok(None) => {}
        other => assert_eq!(other, whole, "prefix of {cut} bytes"),
    }
});
