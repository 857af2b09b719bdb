//! Response-head serialization: status line, user headers, and the headers
//! the server owns (`date`, framing and `connection`).
//!
//! Framing is decided here and nowhere else: user-supplied `content-length`,
//! `transfer-encoding`, `date` and `connection` headers are dropped, so a
//! handler cannot make the head disagree with the body that follows. User
//! headers that would split the response (CR, LF or NUL in a value, a
//! non-token name) are dropped too; [`is_valid_header_name`] and
//! [`is_valid_header_value`] let callers reject them earlier with an error.
//! Writing appends to a reusable buffer and does not allocate beyond growing it.

use super::date::with_http_date;

/// How the body after a response head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body bytes follow. Writes `content-length: 0`, except for 1xx, 204
    /// and 304, which never carry framing headers. For a HEAD response pass
    /// the framing a GET would have had (usually [`Length`](Self::Length))
    /// and send no body.
    None,
    /// Exactly this many body bytes follow: `content-length`.
    Length(u64),
    /// A chunked body follows: `transfer-encoding: chunked`. HTTP/1.0 clients
    /// cannot read it, so for them this becomes [`CloseDelimited`](Self::CloseDelimited).
    Chunked,
    /// The body runs until the server closes the connection: no length
    /// header, and `connection: close` whatever `keep_alive` says.
    CloseDelimited,
}

/// What a written head committed the connection to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadOutcome {
    /// How the body must be sent: [`BodyFraming::None`] means send no body
    /// bytes at all (1xx, 204, 304 or no body); [`BodyFraming::CloseDelimited`]
    /// means send it raw and close.
    pub framing: BodyFraming,
    /// Whether the connection may carry another request afterwards. False
    /// when the head says `connection: close`, and after `101`, when the
    /// connection belongs to the upgraded protocol.
    pub keep_alive: bool,
}

/// Appends a complete HTTP/1.1 response head to `out`, ending with the blank line.
///
/// Writes the status line, the valid user `headers` other than the
/// server-owned ones, `date`, the framing header for `framing`, and
/// `connection`: `upgrade` for 101, `close` when the connection will not be
/// reused, `keep-alive` for an HTTP/1.0 client (`http10`) that keeps it.
/// A `status` outside 100..=999 is written as 500. Returns what the head
/// committed to, which can differ from the arguments: honour it.
///
/// # Examples
///
/// ```
/// use ringworker_io::http::head_writer::{write_response_head, BodyFraming};
///
/// let mut out = Vec::new();
/// let headers: [(&[u8], &[u8]); 1] = [(b"content-type", b"text/plain")];
/// let outcome = write_response_head(&mut out, 200, headers, BodyFraming::Length(5), true, false);
/// assert!(out.starts_with(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ndate: "));
/// assert!(out.ends_with(b"\r\ncontent-length: 5\r\n\r\n"));
/// assert!(outcome.keep_alive);
/// ```
pub fn write_response_head<I, K, V>(
    out: &mut Vec<u8>,
    status: u16,
    headers: I,
    framing: BodyFraming,
    keep_alive: bool,
    http10: bool,
) -> HeadOutcome
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let status = checked_status(status);
    write_status_line(out, status);
    for (name, value) in headers {
        let (name, value) = (name.as_ref(), value.as_ref());
        if is_server_owned(name) || !is_valid_header_name(name) || !is_valid_header_value(value) {
            continue;
        }
        write_header(out, name, value);
    }
    write_date(out);

    let (framing, keep_alive) = if forbids_body(status) {
        (BodyFraming::None, keep_alive)
    } else {
        match framing {
            BodyFraming::None => {
                write_content_length(out, 0);
                (BodyFraming::None, keep_alive)
            }
            BodyFraming::Length(len) => {
                write_content_length(out, len);
                (BodyFraming::Length(len), keep_alive)
            }
            BodyFraming::Chunked if !http10 => {
                out.extend_from_slice(b"transfer-encoding: chunked\r\n");
                (BodyFraming::Chunked, keep_alive)
            }
            BodyFraming::Chunked | BodyFraming::CloseDelimited => {
                (BodyFraming::CloseDelimited, false)
            }
        }
    };

    let keep_alive = match status {
        101 => {
            out.extend_from_slice(b"connection: upgrade\r\n");
            false
        }
        // An interim response says nothing about the connection; the final one will.
        100..=199 => keep_alive,
        _ if !keep_alive => {
            out.extend_from_slice(b"connection: close\r\n");
            false
        }
        _ => {
            if http10 {
                out.extend_from_slice(b"connection: keep-alive\r\n");
            }
            true
        }
    };
    out.extend_from_slice(b"\r\n");
    HeadOutcome {
        framing,
        keep_alive,
    }
}

/// Appends `HTTP/1.1 100 Continue` and the blank line: the go-ahead for a
/// client that sent `Expect: 100-continue`.
pub fn write_continue(out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
}

/// Appends a complete `text/plain` response with `reason_body` as its body
/// and `connection: close`, for requests rejected before a handler runs
/// (e.g. a parse error's status and reason). A `status` outside 100..=999 is
/// written as 500; 1xx, 204 and 304 get no body.
///
/// # Examples
///
/// ```
/// use ringworker_io::http::head_writer::write_error_response;
///
/// let mut out = Vec::new();
/// write_error_response(&mut out, 431, "request header section too large");
/// assert!(out.starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"));
/// assert!(out.ends_with(b"connection: close\r\n\r\nrequest header section too large"));
/// ```
pub fn write_error_response(out: &mut Vec<u8>, status: u16, reason_body: &str) {
    let status = checked_status(status);
    write_status_line(out, status);
    let body = if forbids_body(status) {
        &b""[..]
    } else {
        out.extend_from_slice(b"content-type: text/plain; charset=utf-8\r\n");
        write_content_length(out, reason_body.len() as u64);
        reason_body.as_bytes()
    };
    write_date(out);
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out.extend_from_slice(body);
}

/// Whether `name` is a valid header name: a non-empty token (RFC 9110 §5.6.2).
pub fn is_valid_header_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| TCHAR[b as usize])
}

/// Whether `value` is safe to write as a header value: no CR, LF or NUL,
/// which could end the header early and split the response (the same rule
/// as the Fetch standard's header values).
pub fn is_valid_header_value(value: &[u8]) -> bool {
    !value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0))
}

/// The canonical reason phrase for `status`, or `""` for codes without one
/// (an empty reason is still a valid status line).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => "",
    }
}

/// Token characters (RFC 9110 §5.6.2), as a table: names are checked per byte.
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        i += 1;
    }
    table
};

/// Whether `byte` may appear in a token (RFC 9110 §5.6.2): header names,
/// methods, chunk-extension names.
#[inline]
pub(crate) fn is_tchar(byte: u8) -> bool {
    TCHAR[byte as usize]
}

/// A status that fits the three-digit status line, or 500.
fn checked_status(status: u16) -> u16 {
    if (100..=999).contains(&status) {
        status
    } else {
        500
    }
}

/// 1xx, 204 and 304 responses end at the head (RFC 9112 §6.3) and must not
/// carry `content-length` or `transfer-encoding` here.
pub(crate) fn forbids_body(status: u16) -> bool {
    status < 200 || status == 204 || status == 304
}

/// Headers whose values the server decides: framing, connection and date.
fn is_server_owned(name: &[u8]) -> bool {
    match name.len() {
        4 => name.eq_ignore_ascii_case(b"date"),
        10 => name.eq_ignore_ascii_case(b"connection"),
        14 => name.eq_ignore_ascii_case(b"content-length"),
        17 => name.eq_ignore_ascii_case(b"transfer-encoding"),
        _ => false,
    }
}

fn write_status_line(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn write_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn write_date(out: &mut Vec<u8>) {
    out.extend_from_slice(b"date: ");
    with_http_date(|date| out.extend_from_slice(date));
    out.extend_from_slice(b"\r\n");
}

fn write_content_length(out: &mut Vec<u8>, len: u64) {
    out.extend_from_slice(b"content-length: ");
    out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    type Headers<'a> = &'a [(&'a str, &'a str)];

    /// Writes a head and returns it as text with the date value replaced by
    /// `<date>`, after checking the date is a valid IMF-fixdate.
    fn render(
        status: u16,
        headers: Headers<'_>,
        framing: BodyFraming,
        keep_alive: bool,
        http10: bool,
    ) -> (String, HeadOutcome) {
        let mut out = Vec::new();
        let outcome = write_response_head(
            &mut out,
            status,
            headers.iter().copied(),
            framing,
            keep_alive,
            http10,
        );
        assert_parses_as_response(&out, status);
        (normalize_date(&out), outcome)
    }

    fn normalize_date(out: &[u8]) -> String {
        let text = String::from_utf8(out.to_vec()).unwrap();
        let start = text.find("\r\ndate: ").expect("a date header") + 8;
        let date = &text[start..start + 29];
        assert!(httpdate::parse_http_date(date).is_ok(), "bad date {date}");
        assert_eq!(&text[start + 29..start + 31], "\r\n");
        format!("{}<date>{}", &text[..start], &text[start + 29..])
    }

    /// The head is a complete, valid response head for httparse.
    fn assert_parses_as_response(out: &[u8], status: u16) {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let parsed = response.parse(out).expect("valid response head");
        assert!(parsed.is_complete());
        assert_eq!(response.code, Some(super::checked_status(status)));
        assert_eq!(response.version, Some(1));
    }

    #[test]
    fn ok_with_length() {
        let (text, outcome) = render(
            200,
            &[("content-type", "text/html"), ("x-id", "7")],
            BodyFraming::Length(1234),
            true,
            false,
        );
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\nx-id: 7\r\ndate: <date>\r\ncontent-length: 1234\r\n\r\n"
        );
        assert_eq!(
            outcome,
            HeadOutcome {
                framing: BodyFraming::Length(1234),
                keep_alive: true
            }
        );
    }

    #[test]
    fn chunked_for_http11() {
        let (text, outcome) = render(200, &[], BodyFraming::Chunked, true, false);
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ndate: <date>\r\ntransfer-encoding: chunked\r\n\r\n"
        );
        assert_eq!(outcome.framing, BodyFraming::Chunked);
        assert!(outcome.keep_alive);
    }

    #[test]
    fn chunked_for_http10_becomes_close_delimited() {
        let (text, outcome) = render(200, &[], BodyFraming::Chunked, true, true);
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ndate: <date>\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(
            outcome,
            HeadOutcome {
                framing: BodyFraming::CloseDelimited,
                keep_alive: false
            }
        );
    }

    #[test]
    fn close_delimited_forces_close() {
        for http10 in [false, true] {
            let (text, outcome) = render(200, &[], BodyFraming::CloseDelimited, true, http10);
            assert_eq!(
                text,
                "HTTP/1.1 200 OK\r\ndate: <date>\r\nconnection: close\r\n\r\n"
            );
            assert_eq!(outcome.framing, BodyFraming::CloseDelimited);
            assert!(!outcome.keep_alive);
        }
    }

    #[test]
    fn no_body_writes_zero_length() {
        let (text, outcome) = render(200, &[], BodyFraming::None, true, false);
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ndate: <date>\r\ncontent-length: 0\r\n\r\n"
        );
        assert_eq!(outcome.framing, BodyFraming::None);
    }

    #[test]
    fn connection_headers() {
        let (text, _) = render(404, &[], BodyFraming::Length(0), false, false);
        assert_eq!(
            text,
            "HTTP/1.1 404 Not Found\r\ndate: <date>\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        );
        let (text, outcome) = render(200, &[], BodyFraming::Length(2), true, true);
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ndate: <date>\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\n"
        );
        assert!(outcome.keep_alive);
        let (text, outcome) = render(200, &[], BodyFraming::Length(2), false, true);
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ndate: <date>\r\ncontent-length: 2\r\nconnection: close\r\n\r\n"
        );
        assert!(!outcome.keep_alive);
    }

    #[test]
    fn bodiless_statuses_get_no_framing() {
        for status in [100, 103, 204, 304] {
            for framing in [
                BodyFraming::None,
                BodyFraming::Length(10),
                BodyFraming::Chunked,
                BodyFraming::CloseDelimited,
            ] {
                let (text, outcome) = render(status, &[("etag", "\"x\"")], framing, true, false);
                assert!(!text.contains("content-length"), "{text}");
                assert!(!text.contains("transfer-encoding"), "{text}");
                assert!(!text.contains("connection"), "{text}");
                assert!(text.contains("etag: \"x\"\r\n"), "{text}");
                assert_eq!(outcome.framing, BodyFraming::None);
                assert!(outcome.keep_alive);
            }
        }
        let (text, _) = render(304, &[], BodyFraming::Length(10), true, false);
        assert_eq!(text, "HTTP/1.1 304 Not Modified\r\ndate: <date>\r\n\r\n");
    }

    #[test]
    fn switching_protocols() {
        let (text, outcome) = render(
            101,
            &[
                ("upgrade", "websocket"),
                ("connection", "Upgrade"),
                ("sec-websocket-accept", "abc="),
            ],
            BodyFraming::None,
            true,
            false,
        );
        assert_eq!(
            text,
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nsec-websocket-accept: abc=\r\n\
             date: <date>\r\nconnection: upgrade\r\n\r\n"
        );
        assert_eq!(
            outcome,
            HeadOutcome {
                framing: BodyFraming::None,
                keep_alive: false
            }
        );
    }

    #[test]
    fn server_owned_headers_are_dropped() {
        let (text, _) = render(
            200,
            &[
                ("Content-Length", "999"),
                ("TRANSFER-ENCODING", "chunked"),
                ("Date", "yesterday"),
                ("connection", "keep-alive"),
                ("x-kept", "yes"),
            ],
            BodyFraming::Length(3),
            true,
            false,
        );
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nx-kept: yes\r\ndate: <date>\r\ncontent-length: 3\r\n\r\n"
        );
    }

    #[test]
    fn response_splitting_headers_are_dropped() {
        let (text, _) = render(
            200,
            &[
                ("x-a", "1\r\nset-cookie: evil=1"),
                ("x-b", "2\nx: y"),
                ("x-c", "3\ry"),
                ("x-d", "4\0"),
                ("x y", "5"),
                ("x:y", "6"),
                ("", "7"),
                ("x\r\nz", "8"),
                ("x-ok", "tab\tand obs-text \u{e9}"),
                ("x-empty", ""),
            ],
            BodyFraming::Length(0),
            true,
            false,
        );
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\nx-ok: tab\tand obs-text \u{e9}\r\nx-empty: \r\ndate: <date>\r\ncontent-length: 0\r\n\r\n"
        );
    }

    #[test]
    fn accepts_byte_slices_and_owned_headers() {
        let owned: Vec<(Vec<u8>, Vec<u8>)> = vec![(b"x-a".to_vec(), b"1".to_vec())];
        let mut out = Vec::new();
        write_response_head(
            &mut out,
            200,
            owned.iter().map(|(k, v)| (k, v)),
            BodyFraming::Length(1),
            true,
            false,
        );
        assert!(normalize_date(&out).contains("x-a: 1\r\n"));
        let slices: [(&[u8], &[u8]); 1] = [(b"x-b", b"2")];
        write_response_head(&mut out, 200, slices, BodyFraming::Length(1), true, false);
        assert_eq!(
            normalize_date(&out).matches("HTTP/1.1 200 OK").count(),
            2,
            "appends"
        );
    }

    #[test]
    fn status_codes() {
        let (text, _) = render(599, &[], BodyFraming::None, true, false);
        assert!(text.starts_with("HTTP/1.1 599 \r\n"), "{text}");
        for bad in [0, 42, 99, 1000, u16::MAX] {
            let (text, _) = render(bad, &[], BodyFraming::None, true, false);
            assert!(
                text.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
                "{text}"
            );
        }
        let mut known = vec![100, 101, 102, 103, 226, 451];
        known.extend((200..=208).chain(300..=305).chain(307..=308));
        known.extend((400..=418).chain(421..=426).chain([428, 429, 431]));
        known.extend((500..=508).chain(510..=511));
        for status in known {
            assert!(!reason_phrase(status).is_empty(), "{status}");
            let (text, _) = render(status, &[], BodyFraming::None, true, false);
            assert!(text.starts_with(&format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status))));
        }
        assert_eq!(reason_phrase(306), "");
        assert_eq!(reason_phrase(414), "URI Too Long");
        assert_eq!(reason_phrase(505), "HTTP Version Not Supported");
    }

    #[test]
    fn large_content_length() {
        let (text, _) = render(200, &[], BodyFraming::Length(u64::MAX), true, false);
        assert!(text.contains("\r\ncontent-length: 18446744073709551615\r\n"));
    }

    #[test]
    fn continue_line() {
        let mut out = b"prefix".to_vec();
        write_continue(&mut out);
        assert_eq!(out, b"prefixHTTP/1.1 100 Continue\r\n\r\n");
    }

    #[test]
    fn error_response() {
        let mut out = Vec::new();
        write_error_response(&mut out, 400, "malformed header field");
        assert_parses_as_response(&out, 400);
        assert_eq!(
            normalize_date(&out),
            "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n\
             content-length: 22\r\ndate: <date>\r\nconnection: close\r\n\r\nmalformed header field"
        );

        let mut out = Vec::new();
        write_error_response(&mut out, 505, "");
        assert!(
            normalize_date(&out)
                .ends_with("content-length: 0\r\ndate: <date>\r\nconnection: close\r\n\r\n")
        );

        let mut out = Vec::new();
        write_error_response(&mut out, 304, "ignored");
        assert_eq!(
            normalize_date(&out),
            "HTTP/1.1 304 Not Modified\r\ndate: <date>\r\nconnection: close\r\n\r\n"
        );

        let mut out = Vec::new();
        write_error_response(&mut out, 7, "x");
        assert!(out.starts_with(b"HTTP/1.1 500 Internal Server Error\r\n"));
    }

    #[test]
    fn header_validators() {
        assert!(is_valid_header_name(b"x-custom_Header.1"));
        assert!(is_valid_header_name(b"!#$%&'*+-.^_`|~"));
        for bad in [
            &b""[..],
            b"a b",
            b"a:b",
            b"a\r",
            b"a\n",
            b"(a)",
            b"a\"",
            b"\xe9",
            b"a/b",
            b"a\0",
        ] {
            assert!(!is_valid_header_name(bad), "{bad:?}");
        }
        assert!(is_valid_header_value(b""));
        assert!(is_valid_header_value(b"a b\tc \xff \x01"));
        for bad in [&b"a\rb"[..], b"a\nb", b"a\0b", b"\r\n"] {
            assert!(!is_valid_header_value(bad), "{bad:?}");
        }
    }
}
