//! Request-head parsing: turns the bytes of one HTTP/1.x request head into a
//! [`ParsedHead`] of spans into the read buffer and decides how the body is
//! framed.
//!
//! [`parse_request_head`] is a pure function over a byte slice. httparse does
//! the tokenizing; this module adds what httparse leaves to its caller and what
//! request smuggling feeds on: bare-LF line endings, conflicting or malformed
//! `Content-Length`, `Content-Length` together with `Transfer-Encoding`,
//! codings other than `chunked`, and the size limits. Every rejection is a
//! [`ParseError`] that names its HTTP status (400, 414, 431 or 505).
//!
//! Apart from the one `Vec` of header spans per complete head, parsing does
//! not allocate, and it never copies header bytes.

use std::mem::MaybeUninit;
use std::ops::Range;

use super::target::{self, TargetForm};

/// Hard ceiling on [`Limits::max_headers`]: httparse's header scratch lives on
/// the stack (32 bytes a slot), so a larger configured value is clamped to it.
pub const MAX_HEADERS_CAP: usize = 256;

/// Room left for the method, the two spaces and the version when deciding,
/// before the target is complete, that it can no longer fit the target limit.
const REQUEST_LINE_SLACK: usize = 64;

/// Size limits for one request head.
///
/// Mirrors the head-related fields of `ringworker_core::HttpLimits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head (request line, headers and the final CRLF), in
    /// bytes; spans are `u32`, so values above `u32::MAX` act as `u32::MAX`.
    /// Over it: 431.
    pub max_head_bytes: usize,
    /// Most header lines in one request, at most [`MAX_HEADERS_CAP`]. Over it: 431.
    pub max_headers: usize,
    /// Longest request target, in bytes. Over it: 414.
    pub max_uri_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_head_bytes: 16 * 1024,
            max_headers: 100,
            max_uri_bytes: 8 * 1024,
        }
    }
}

/// The HTTP version of a request; others are rejected with 505.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `HTTP/1.0`
    Http10,
    /// `HTTP/1.1`
    Http11,
}

/// How the request body is framed (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body: neither header present, or `Content-Length: 0`.
    Empty,
    /// Exactly this many bytes follow the head (never 0).
    Length(u64),
    /// `Transfer-Encoding: chunked`; decode with `ChunkedDecoder`.
    Chunked,
}

/// A byte range into the buffer a head was parsed from.
///
/// `u32` offsets keep a header entry at 16 bytes; a head never exceeds
/// [`Limits::max_head_bytes`], which is clamped to `u32::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Span {
    /// Offset of the first byte.
    pub start: u32,
    /// Length in bytes.
    pub len: u32,
}

impl Span {
    /// The range this span covers, for slicing.
    pub fn range(self) -> Range<usize> {
        let start = self.start as usize;
        start..start.saturating_add(self.len as usize)
    }

    /// The bytes of this span in `buf` (the buffer the head was parsed from);
    /// empty if the span does not lie within `buf`.
    pub fn get(self, buf: &[u8]) -> &[u8] {
        buf.get(self.range()).unwrap_or_default()
    }

    /// Length in bytes.
    pub fn len(self) -> usize {
        self.len as usize
    }

    /// Whether the span covers no bytes.
    pub fn is_empty(self) -> bool {
        self.len == 0
    }
}

/// Header name/value spans; up to 16 live inline (no allocation for typical
/// requests).
pub type HeaderSpans = smallvec::SmallVec<[(Span, Span); 16]>;

/// A complete, validated request head: spans into the parse buffer plus the
/// facts the connection needs (framing, keep-alive, expectations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedHead {
    /// Bytes of the head, including leading empty lines and the final CRLFCRLF;
    /// the body (or the next pipelined request) starts here.
    pub head_len: usize,
    /// The method token, e.g. `GET` (case-sensitive).
    pub method: Span,
    /// The request target as sent (origin-, absolute-, authority- or asterisk-form).
    pub target: Span,
    /// Which of the four forms the target takes (checked against the method).
    pub form: TargetForm,
    /// The authority of the target URI (RFC 9112 §3.3): an absolute- or
    /// authority-form target's own, else the `Host` header's value (checked
    /// with [`target::is_authority`]); `None` for an HTTP/1.0 request
    /// without `Host` (or with an empty one).
    pub authority: Option<Span>,
    /// The path and query of the target URI: the whole of an origin-form
    /// target, what follows an absolute-form target's authority (possibly
    /// empty), and empty for the other forms.
    pub path: Span,
    /// The protocol version.
    pub version: Version,
    /// Header `(name, value)` spans in arrival order; values exclude the
    /// whitespace around them.
    pub headers: HeaderSpans,
    /// How the body is framed.
    pub body: BodyKind,
    /// Whether the connection may be reused after this exchange: HTTP/1.1
    /// unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    pub keep_alive: bool,
    /// HTTP/1.1 request with `Expect: 100-continue`: send `100 Continue`
    /// before reading the body (RFC 9110 §10.1.1 says to ignore it in HTTP/1.0).
    pub expect_continue: bool,
    /// HTTP/1.1 request whose `Connection` lists `upgrade` and that carries an
    /// `Upgrade` header.
    pub upgrade: bool,
    /// The request asks for a WebSocket (`Upgrade: websocket`), whether or
    /// not the rest of its handshake is valid.
    pub websocket: bool,
    /// The method is `HEAD`: the response carries no body.
    pub is_head: bool,
    /// The method is `CONNECT` (and the target is in authority-form).
    pub is_connect: bool,
}

impl ParsedHead {
    /// The method bytes in `buf`, the buffer this head was parsed from.
    pub fn method_bytes<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        self.method.get(buf)
    }

    /// The request-target bytes in `buf`, the buffer this head was parsed from.
    pub fn target_bytes<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        self.target.get(buf)
    }

    /// The headers as `(name, value)` byte slices of `buf`, in arrival order.
    pub fn header_pairs<'a>(&'a self, buf: &'a [u8]) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
        self.headers
            .iter()
            .map(move |&(name, value)| (name.get(buf), value.get(buf)))
    }
}

/// Why a request head was rejected. Each variant maps to one HTTP status
/// ([`ParseError::status`]) and a short body text ([`ParseError::reason`]);
/// after any of them the connection must be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Malformed request line: bad or empty target, extra spaces, junk after
    /// the version. 400.
    #[error("malformed request line")]
    BadRequestLine,
    /// The method is not a token. 400.
    #[error("invalid request method")]
    InvalidMethod,
    /// A header line is malformed: bad name, whitespace before the colon,
    /// control characters, or obs-fold continuation lines. 400.
    #[error("malformed header field")]
    BadHeader,
    /// A bare LF or a CR without LF: framing peers may disagree on. 400.
    #[error("malformed line ending")]
    InvalidLineEnding,
    /// More than one `Host` header (RFC 9112 §3.2). 400.
    #[error("duplicate host header")]
    DuplicateHost,
    /// An HTTP/1.1 request without `Host` (RFC 9112 §3.2). 400.
    #[error("missing host header")]
    MissingHost,
    /// A `Host` that is not `host[:port]` (RFC 9112 §3.2), or an empty one
    /// where it names the target. 400.
    #[error("invalid host header")]
    InvalidHost,
    /// A request target of a form the method does not allow, or malformed
    /// in its form (see [`target::classify`]). 400.
    #[error("invalid request target")]
    InvalidTarget,
    /// `Content-Length` is not a list of decimal numbers fitting in `u64`. 400.
    #[error("invalid content-length")]
    InvalidContentLength,
    /// `Content-Length` values disagree (RFC 9110 §8.6). 400.
    #[error("conflicting content-length")]
    ConflictingContentLength,
    /// `Content-Length` together with `Transfer-Encoding`: the classic
    /// smuggling setup (RFC 9112 §6.1). 400.
    #[error("content-length with transfer-encoding")]
    ContentLengthWithTransferEncoding,
    /// `Transfer-Encoding` other than exactly one `chunked` (RFC 9112 §6.3). 400.
    #[error("unsupported transfer-encoding")]
    UnsupportedTransferEncoding,
    /// `Transfer-Encoding` in an HTTP/1.0 request (RFC 9112 §6.1). 400.
    #[error("transfer-encoding in HTTP/1.0 request")]
    TransferEncodingInHttp10,
    /// The request target exceeds [`Limits::max_uri_bytes`]. 414.
    #[error("request target too long")]
    UriTooLong,
    /// The head exceeds [`Limits::max_head_bytes`]. 431.
    #[error("request header section too large")]
    HeadTooLarge,
    /// More header lines than [`Limits::max_headers`]. 431.
    #[error("too many header fields")]
    TooManyHeaders,
    /// A well-formed HTTP version other than 1.0 or 1.1. 505.
    #[error("HTTP version not supported")]
    VersionNotSupported,
}

impl From<target::InvalidTarget> for ParseError {
    fn from(_: target::InvalidTarget) -> Self {
        ParseError::InvalidTarget
    }
}

impl ParseError {
    /// The HTTP status to answer with.
    pub const fn status(&self) -> u16 {
        match self {
            Self::UriTooLong => 414,
            Self::HeadTooLarge | Self::TooManyHeaders => 431,
            Self::VersionNotSupported => 505,
            _ => 400,
        }
    }

    /// A short text for the response body (the same as `Display`).
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::BadRequestLine => "malformed request line",
            Self::InvalidMethod => "invalid request method",
            Self::BadHeader => "malformed header field",
            Self::InvalidLineEnding => "malformed line ending",
            Self::DuplicateHost => "duplicate host header",
            Self::MissingHost => "missing host header",
            Self::InvalidHost => "invalid host header",
            Self::InvalidTarget => "invalid request target",
            Self::InvalidContentLength => "invalid content-length",
            Self::ConflictingContentLength => "conflicting content-length",
            Self::ContentLengthWithTransferEncoding => "content-length with transfer-encoding",
            Self::UnsupportedTransferEncoding => "unsupported transfer-encoding",
            Self::TransferEncodingInHttp10 => "transfer-encoding in HTTP/1.0 request",
            Self::UriTooLong => "request target too long",
            Self::HeadTooLarge => "request header section too large",
            Self::TooManyHeaders => "too many header fields",
            Self::VersionNotSupported => "HTTP version not supported",
        }
    }
}

/// Parses the request head at the start of `buf`.
///
/// Returns `Ok(None)` while the head is incomplete (read more and call again
/// with the grown buffer), `Ok(Some(head))` once it is complete; the body or
/// the next pipelined request starts at `head.head_len`. Limits are enforced
/// on incomplete input too, so a client cannot make the caller buffer more
/// than [`Limits::max_head_bytes`], and httparse never scans past that limit.
///
/// # Errors
///
/// A [`ParseError`] once the bytes can no longer become an acceptable head;
/// answer with its [`status`](ParseError::status) and close the connection.
///
/// # Examples
///
/// ```
/// use ringworker_io::http::parse::{parse_request_head, BodyKind, Limits};
///
/// let buf = b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
/// let limits = Limits::default();
/// assert_eq!(parse_request_head(&buf[..20], &limits), Ok(None));
/// let head = parse_request_head(buf, &limits).unwrap().unwrap();
/// assert_eq!(head.method_bytes(buf), b"POST");
/// assert_eq!(head.body, BodyKind::Length(5));
/// assert_eq!(&buf[head.head_len..], b"hello");
/// ```
pub fn parse_request_head(buf: &[u8], limits: &Limits) -> Result<Option<ParsedHead>, ParseError> {
    if buf.is_empty() {
        return Ok(None);
    }
    let max_head = limits.max_head_bytes.min(u32::MAX as usize);
    // No acceptable head extends past the limit, so httparse never looks further.
    let window = &buf[..buf.len().min(max_head)];
    parse_window(buf.len(), window, limits, max_head)
}

/// [`parse_request_head`] over the first `max_head` bytes of the buffer
/// (`window`; the whole buffer is `buf_len` bytes).
fn parse_window(
    buf_len: usize,
    window: &[u8],
    limits: &Limits,
    max_head: usize,
) -> Result<Option<ParsedHead>, ParseError> {
    // Uninitialized slots: the scratch costs nothing until httparse fills it.
    let mut scratch = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
    let slots = limits.max_headers.min(MAX_HEADERS_CAP);
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(window, &mut scratch[..slots]) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return incomplete(buf_len, window, req.path, limits, max_head);
        }
        // RFC 9110 §6.2: a later minor version of HTTP/1 is served as
        // HTTP/1.1, the highest we implement. httparse knows only 1.0 and
        // 1.1, so it parses a copy that says 1.1; the spans are the same
        // (rare: one copy of the head for such a request).
        Err(httparse::Error::Version)
            if req.path.is_some_and(|t| {
                t.len() <= limits.max_uri_bytes
                    && later_minor_version(window, t.as_bytes()).is_some()
            }) =>
        {
            let target = req.path.unwrap_or_default().as_bytes();
            let minor = later_minor_version(window, target).unwrap_or_default();
            let mut copy = window.to_vec();
            copy[minor] = b'1';
            return parse_window(buf_len, &copy, limits, max_head);
        }
        Err(e) => return Err(rejected(e, &req, window, limits)),
    };
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(ParseError::BadRequestLine);
    };
    if target_too_long(window, target, limits) {
        return Err(ParseError::UriTooLong);
    }
    // httparse accepts a bare LF wherever it accepts CRLF; a proxy in front
    // may not, and disagreeing on where lines end is how requests get smuggled.
    if has_bare_lf(window.get(..head_len).unwrap_or(window)) {
        return Err(ParseError::InvalidLineEnding);
    }
    let version = match minor {
        0 => Version::Http10,
        1 => Version::Http11,
        _ => return Err(ParseError::VersionNotSupported),
    };

    let mut facts = HeaderFacts::default();
    let mut headers = HeaderSpans::with_capacity(req.headers.len());
    for header in req.headers.iter() {
        let name = header.name.as_bytes();
        facts.observe(name, header.value)?;
        headers.push((span_of(window, name), span_of(window, header.value)));
    }
    let (form, authority, path) = target_parts(window, method.as_bytes(), target, &facts, version)?;

    if facts.chunked {
        if version == Version::Http10 {
            return Err(ParseError::TransferEncodingInHttp10);
        }
        if facts.content_length.is_some() {
            return Err(ParseError::ContentLengthWithTransferEncoding);
        }
    }
    let body = match (facts.chunked, facts.content_length) {
        (true, _) => BodyKind::Chunked,
        (false, None | Some(0)) => BodyKind::Empty,
        (false, Some(n)) => BodyKind::Length(n),
    };
    let http11 = version == Version::Http11;
    let keep_alive = !facts.conn_close && (http11 || facts.conn_keep_alive);

    Ok(Some(ParsedHead {
        head_len,
        method: span_of(window, method.as_bytes()),
        target: span_of(window, target.as_bytes()),
        form,
        authority,
        path,
        version,
        headers,
        body,
        keep_alive,
        expect_continue: http11 && facts.expect_continue,
        // RFC 9110 §7.8: an Upgrade header in an HTTP/1.0 request is ignored.
        upgrade: http11 && facts.conn_upgrade && facts.upgrade_header,
        websocket: facts.upgrade_websocket,
        is_head: method == "HEAD",
        is_connect: form == TargetForm::Authority,
    }))
}

/// The target's form and the target URI's authority and path-and-query
/// (RFC 9112 §3.2–3.3), after checking the target against the method and
/// the `Host` header: present once in HTTP/1.1, well formed wherever it is,
/// and naming a host when it is what names the target.
fn target_parts(
    window: &[u8],
    method: &[u8],
    target: &str,
    facts: &HeaderFacts<'_>,
    version: Version,
) -> Result<(TargetForm, Option<Span>, Span), ParseError> {
    let bytes = target.as_bytes();
    let t = target::classify(method, bytes)?;
    let sub = |r: Range<usize>| span_of(window, &bytes[r]);
    let host = match facts.host {
        None if version == Version::Http11 => return Err(ParseError::MissingHost),
        None => None,
        Some([]) => None,
        Some(h) if target::is_authority(h) => Some(span_of(window, h)),
        Some(_) => return Err(ParseError::InvalidHost),
    };
    let authority = match t.authority {
        Some(r) => Some(sub(r)),
        // An empty Host names no host, which an http URI must have
        // (RFC 9110 §4.2.1); HTTP/1.0 may leave it out (a default applies).
        None if host.is_none() && facts.host.is_some() => return Err(ParseError::InvalidHost),
        None => host,
    };
    Ok((t.form, authority, sub(t.path)))
}

/// The value of the first header named `name` (ASCII case-insensitive), as a
/// slice of `buf`, the buffer `head` was parsed from.
///
/// # Examples
///
/// ```
/// use ringworker_io::http::parse::{header_value, parse_request_head, Limits};
///
/// let buf = b"GET / HTTP/1.1\r\nHost:  example.com \r\n\r\n";
/// let head = parse_request_head(buf, &Limits::default()).unwrap().unwrap();
/// assert_eq!(header_value(buf, &head, "host"), Some(&b"example.com"[..]));
/// assert_eq!(header_value(buf, &head, "accept"), None);
/// ```
pub fn header_value<'a>(buf: &'a [u8], head: &ParsedHead, name: &str) -> Option<&'a [u8]> {
    head.headers
        .iter()
        .find(|(n, _)| n.get(buf).eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| v.get(buf))
}

/// The verdict on a head httparse found incomplete: wait for more bytes,
/// unless no continuation could fit the limits.
fn incomplete(
    buf_len: usize,
    window: &[u8],
    target: Option<&str>,
    limits: &Limits,
    max_head: usize,
) -> Result<Option<ParsedHead>, ParseError> {
    match target {
        Some(target) if target_too_long(window, target, limits) => {
            return Err(ParseError::UriTooLong);
        }
        // Still inside the method or target with this many bytes: the target
        // is too long, whatever follows.
        None if window.len() > limits.max_uri_bytes.saturating_add(REQUEST_LINE_SLACK) => {
            return Err(ParseError::UriTooLong);
        }
        _ => {}
    }
    // Incomplete within `max_head` bytes means the head needs more than that.
    if buf_len >= max_head {
        return Err(ParseError::HeadTooLarge);
    }
    Ok(None)
}

/// Whether a complete target is over the limit, or ended only after the
/// request line had run past `max_uri_bytes` plus the slack (a long method
/// does that): every prefix that stopped inside the method or the target
/// there was already refused 414 (see [`incomplete`]), so the whole is too.
fn target_too_long(window: &[u8], target: &str, limits: &Limits) -> bool {
    let end = offset_of(window, target.as_bytes()) + target.len();
    target.len() > limits.max_uri_bytes
        || end > limits.max_uri_bytes.saturating_add(REQUEST_LINE_SLACK)
}

/// The verdict on a window httparse rejected. A limit that a shorter prefix
/// already broke wins over the error further on, so the verdict does not
/// depend on how the bytes arrived: the target was complete and too long, or
/// the request line was still open past the target limit (what
/// [`incomplete`] answers for that prefix).
fn rejected(
    err: httparse::Error,
    req: &httparse::Request<'_, '_>,
    window: &[u8],
    limits: &Limits,
) -> ParseError {
    let open_line_limit = limits.max_uri_bytes.saturating_add(REQUEST_LINE_SLACK);
    match req.path {
        Some(target) if target_too_long(window, target, limits) => return ParseError::UriTooLong,
        None if window.len() > open_line_limit => {
            // Still inside the method or target: was the line still open,
            // with no error yet, one byte past the limit?
            let mut prefix = httparse::Request::new(&mut []);
            if let Ok(httparse::Status::Partial) = prefix.parse(&window[..open_line_limit + 1]) {
                if prefix.path.is_none() {
                    return ParseError::UriTooLong;
                }
            }
        }
        _ => {}
    }
    classify_httparse_error(err, req, window)
}

/// Maps an httparse error to ours, using how far httparse got.
fn classify_httparse_error(
    err: httparse::Error,
    req: &httparse::Request<'_, '_>,
    window: &[u8],
) -> ParseError {
    match err {
        httparse::Error::Token if req.method.is_none() => ParseError::InvalidMethod,
        httparse::Error::Token | httparse::Error::Status => ParseError::BadRequestLine,
        httparse::Error::Version => match req.path {
            Some(target) => classify_version(window, target.as_bytes()),
            None => ParseError::BadRequestLine,
        },
        httparse::Error::NewLine => ParseError::InvalidLineEnding,
        httparse::Error::HeaderName | httparse::Error::HeaderValue => ParseError::BadHeader,
        httparse::Error::TooManyHeaders => ParseError::TooManyHeaders,
    }
}

/// httparse rejects every version but 1.0 and 1.1 alike; a well-formed other
/// version (`HTTP/2.0`, `HTTP/1.2`) earns 505, anything else 400.
fn classify_version(window: &[u8], target: &[u8]) -> ParseError {
    let start = offset_of(window, target) + target.len() + 1;
    let rest = window.get(start..).unwrap_or_default();
    let token = rest
        .split(|&b| matches!(b, b'\r' | b'\n' | b' '))
        .next()
        .unwrap_or_default();
    if is_http_version_syntax(token) {
        ParseError::VersionNotSupported
    } else {
        ParseError::BadRequestLine
    }
}

/// Where the minor digit of an `HTTP/1.2` … `HTTP/1.9` version is in
/// `window` (the request line after `target`), if that is the version.
fn later_minor_version(window: &[u8], target: &[u8]) -> Option<usize> {
    let start = offset_of(window, target) + target.len() + 1;
    let rest = window.get(start..)?;
    let minor = rest.get(7)?;
    let ends = matches!(rest.get(8), None | Some(b'\r'));
    (rest.starts_with(b"HTTP/1.") && (b'2'..=b'9').contains(minor) && ends).then_some(start + 7)
}

/// Whether a version token httparse rejected names some other HTTP version
/// (`HTTP/2`, `HTTP/2.0`, `HTTP/1.2`, `HTTP/10.0`) rather than garbage. It
/// looks only as far as httparse did before failing, so a longer prefix of
/// the same request never changes the verdict.
fn is_http_version_syntax(token: &[u8]) -> bool {
    let Some(numbers) = token.strip_prefix(b"HTTP/") else {
        return false;
    };
    match numbers {
        [b'1', b'.', minor, ..] => minor.is_ascii_digit(),
        [b'1', next, ..] => next.is_ascii_digit(),
        [major, ..] => major.is_ascii_digit(),
        [] => false,
    }
}

/// Whether some LF in `head` is not preceded by CR.
fn has_bare_lf(head: &[u8]) -> bool {
    let mut prev = 0u8;
    for &b in head {
        if b == b'\n' && prev != b'\r' {
            return true;
        }
        prev = b;
    }
    false
}

/// Offset of `part` within `whole`; `part` must be a subslice of `whole`
/// (httparse hands out subslices of the buffer it parsed).
fn offset_of(whole: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize)
}

/// The span of `part`, a subslice of `window`; `window` is at most
/// `u32::MAX` bytes long, so both fields fit.
fn span_of(window: &[u8], part: &[u8]) -> Span {
    Span {
        start: offset_of(window, part) as u32,
        len: part.len() as u32,
    }
}

/// What the framing- and connection-relevant headers of one head say.
#[derive(Debug, Default)]
struct HeaderFacts<'a> {
    content_length: Option<u64>,
    chunked: bool,
    /// The `Host` value (trimmed), if there was one.
    host: Option<&'a [u8]>,
    conn_close: bool,
    conn_keep_alive: bool,
    conn_upgrade: bool,
    upgrade_header: bool,
    upgrade_websocket: bool,
    expect_continue: bool,
}

impl<'a> HeaderFacts<'a> {
    /// Folds one header into the facts; rejects what makes framing ambiguous.
    fn observe(&mut self, name: &[u8], value: &'a [u8]) -> Result<(), ParseError> {
        // The length check first keeps the common, uninteresting header cheap.
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                if self.host.is_some() {
                    return Err(ParseError::DuplicateHost);
                }
                self.host = Some(value);
            }
            6 if name.eq_ignore_ascii_case(b"expect") => {
                self.expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
            }
            7 if name.eq_ignore_ascii_case(b"upgrade") => {
                self.upgrade_header = true;
                self.upgrade_websocket |=
                    list_items(value).any(|t| t.eq_ignore_ascii_case(b"websocket"));
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in list_items(value) {
                    if token.eq_ignore_ascii_case(b"close") {
                        self.conn_close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        self.conn_keep_alive = true;
                    } else if token.eq_ignore_ascii_case(b"upgrade") {
                        self.conn_upgrade = true;
                    }
                }
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                for item in list_items(value) {
                    let n = parse_decimal(item).ok_or(ParseError::InvalidContentLength)?;
                    match self.content_length {
                        Some(prev) if prev != n => {
                            return Err(ParseError::ConflictingContentLength);
                        }
                        _ => self.content_length = Some(n),
                    }
                }
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                // Exactly one `chunked` and nothing else: we implement no other
                // coding, a repeated `chunked` is invalid, and an empty element
                // is a parser-differential risk not worth tolerating.
                for item in list_items(value) {
                    if self.chunked || !item.eq_ignore_ascii_case(b"chunked") {
                        return Err(ParseError::UnsupportedTransferEncoding);
                    }
                    self.chunked = true;
                }
                if !self.chunked {
                    return Err(ParseError::UnsupportedTransferEncoding);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The elements of a comma-separated header list, trimmed of optional
/// whitespace (empty elements included, as empty slices; an empty value
/// yields one empty element).
fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim_ows)
}

/// `value` without leading and trailing spaces and tabs.
fn trim_ows(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    value.get(start..end).unwrap_or_default()
}

/// A non-empty run of ASCII digits as a `u64`; `None` on anything else
/// (signs, spaces, overflow).
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &[u8]) -> Result<Option<ParsedHead>, ParseError> {
        parse_request_head(buf, &Limits::default())
    }

    fn ok(buf: &[u8]) -> ParsedHead {
        match parse(buf) {
            Ok(Some(head)) => head,
            other => panic!(
                "expected a complete head for {:?}, got {other:?}",
                String::from_utf8_lossy(buf)
            ),
        }
    }

    fn err(buf: &[u8]) -> ParseError {
        match parse(buf) {
            Err(e) => e,
            other => panic!(
                "expected an error for {:?}, got {other:?}",
                String::from_utf8_lossy(buf)
            ),
        }
    }

    /// Every strict prefix is either incomplete or already fails the same way
    /// as the whole input: feeding bytes one at a time never changes a verdict.
    fn assert_prefixes_consistent(buf: &[u8], limits: &Limits) {
        let full = parse_request_head(buf, limits);
        for cut in 0..buf.len() {
            match parse_request_head(&buf[..cut], limits) {
                Ok(None) => {}
                Err(e) => assert_eq!(Err(e), full, "prefix of {cut} bytes"),
                Ok(Some(head)) => assert_eq!(Ok(Some(head)), full, "prefix of {cut} bytes"),
            }
        }
    }

    #[test]
    fn simple_get() {
        let buf = b"GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
        let head = ok(buf);
        assert_eq!(head.head_len, buf.len());
        assert_eq!(head.method_bytes(buf), b"GET");
        assert_eq!(head.target_bytes(buf), b"/index.html?q=1");
        assert_eq!(head.version, Version::Http11);
        assert_eq!(head.body, BodyKind::Empty);
        assert!(head.keep_alive);
        assert!(!head.expect_continue && !head.upgrade && !head.is_head);
        let pairs: Vec<_> = head.header_pairs(buf).collect();
        assert_eq!(
            pairs,
            vec![
                (&b"Host"[..], &b"example.com"[..]),
                (&b"Accept"[..], &b"*/*"[..])
            ]
        );
    }

    #[test]
    fn head_len_excludes_body_and_pipelined_bytes() {
        let buf = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: h\r\n\r\n";
        let head = ok(buf);
        assert_eq!(head.body, BodyKind::Length(3));
        assert_eq!(&buf[head.head_len..head.head_len + 3], b"abc");
    }

    #[test]
    fn leading_empty_lines_are_counted() {
        let buf = b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
        let head = ok(buf);
        assert_eq!(head.head_len, buf.len());
        assert_eq!(head.method.start, 4);
        assert_eq!(head.method_bytes(buf), b"GET");
        assert_eq!(head.target_bytes(buf), b"/");
    }

    #[test]
    fn header_values_are_trimmed_spans() {
        let buf =
            b"GET / HTTP/1.1\r\nHost: h\r\nX-A: \t padded \t \r\nX-Empty:\r\nX-Sp:   \r\n\r\n";
        let head = ok(buf);
        assert_eq!(header_value(buf, &head, "x-a"), Some(&b"padded"[..]));
        assert_eq!(header_value(buf, &head, "X-EMPTY"), Some(&b""[..]));
        assert_eq!(header_value(buf, &head, "x-sp"), Some(&b""[..]));
        assert_eq!(header_value(buf, &head, "x-missing"), None);
        for (name, value) in &head.headers {
            assert!(name.range().end <= head.head_len && value.range().end <= head.head_len);
        }
    }

    #[test]
    fn header_value_returns_first_match() {
        let buf = b"GET / HTTP/1.1\r\nHost: h\r\nX-Dup: one\r\nx-dup: two\r\n\r\n";
        let head = ok(buf);
        assert_eq!(header_value(buf, &head, "X-Dup"), Some(&b"one"[..]));
    }

    #[test]
    fn span_get_out_of_bounds_is_empty() {
        let span = Span { start: 10, len: 5 };
        assert_eq!(span.get(b"short"), b"");
        assert_eq!(span.len(), 5);
        assert!(!span.is_empty());
        assert!(Span::default().is_empty());
    }

    #[test]
    fn every_split_of_a_valid_head() {
        let buf = b"\r\nPUT /items/42 HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nExpect: 100-continue\r\n\r\n0123456789";
        let head = ok(buf);
        let head_len = head.head_len;
        assert_eq!(&buf[head_len..], b"0123456789");
        for cut in 0..head_len {
            assert_eq!(parse(&buf[..cut]), Ok(None), "prefix of {cut} bytes");
        }
        for cut in head_len..=buf.len() {
            assert_eq!(
                parse(&buf[..cut]),
                Ok(Some(head.clone())),
                "prefix of {cut} bytes"
            );
        }
        assert!(head.expect_continue && head.upgrade && head.keep_alive);
    }

    #[test]
    fn every_split_of_invalid_heads_is_consistent() {
        let cases: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
            b"GET / HTTP/1.1\nHost: a\n\n",
            b"GET / HTTP/1.1\r\nHost: a\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET / HTTP/1.2\r\n\r\n",
            b"GET / HTTP/10.0\r\n\r\n",
            b"GET / HTTP/1.x\r\n\r\n",
            b"GET / HTTX/1.1\r\n\r\n",
            b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nX : a\r\n\r\n",
        ];
        for case in cases {
            assert!(parse(case).is_err(), "{:?}", String::from_utf8_lossy(case));
            assert_prefixes_consistent(case, &Limits::default());
        }
    }

    #[test]
    fn keep_alive_rules() {
        assert!(ok(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").keep_alive);
        assert!(!ok(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(!ok(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, CLOSE\r\n\r\n").keep_alive);
        assert!(!ok(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(ok(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(ok(b"GET / HTTP/1.0\r\nConnection: te,  keep-alive \r\n\r\n").keep_alive);
        // `close` wins over `keep-alive`.
        assert!(!ok(b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
        assert!(
            !ok(
                b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"
            )
            .keep_alive
        );
        // A token is matched whole, not as a substring.
        assert!(ok(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n").keep_alive);
        assert_eq!(ok(b"GET / HTTP/1.0\r\n\r\n").version, Version::Http10);
    }

    #[test]
    fn expect_continue() {
        assert!(
            ok(b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n")
                .expect_continue
        );
        assert!(
            !ok(b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continuex\r\n\r\n").expect_continue
        );
        assert!(!ok(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expect_continue);
    }

    #[test]
    fn upgrade_needs_token_and_header() {
        assert!(
            ok(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
                .upgrade
        );
        assert!(!ok(b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n").upgrade);
        assert!(!ok(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n").upgrade);
        assert!(
            !ok(b"GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n").upgrade
        );
    }

    #[test]
    fn head_method() {
        assert!(ok(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n").is_head);
        // Methods are case-sensitive.
        assert!(!ok(b"head / HTTP/1.1\r\nHost: h\r\n\r\n").is_head);
    }

    #[test]
    fn content_length_framing() {
        assert_eq!(
            ok(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n").body,
            BodyKind::Empty
        );
        assert_eq!(
            ok(b"POST / HTTP/1.1\r\nHost: h\r\ncontent-length: 42\r\n\r\n").body,
            BodyKind::Length(42)
        );
        assert_eq!(
            ok(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\n").body,
            BodyKind::Length(u64::MAX)
        );
        assert_eq!(
            ok(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 007\r\n\r\n").body,
            BodyKind::Length(7)
        );
        // Identical duplicates and lists are allowed (RFC 9110 §8.6).
        assert_eq!(
            ok(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n")
                .body,
            BodyKind::Length(5)
        );
        assert_eq!(
            ok(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5 ,5\r\n\r\n").body,
            BodyKind::Length(5)
        );
        assert_eq!(
            ok(b"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\n").body,
            BodyKind::Length(2)
        );
    }

    #[test]
    fn bad_content_length_is_400() {
        let conflicting: &[&[u8]] = &[
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 00\r\nContent-Length: 1\r\n\r\n",
        ];
        for case in conflicting {
            assert_eq!(err(case), ParseError::ConflictingContentLength);
        }
        let invalid: &[&[u8]] = &[
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5 5\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1.5\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ,5\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \xd9\xa3\r\n\r\n",
        ];
        for case in invalid {
            let e = err(case);
            assert_eq!(
                e,
                ParseError::InvalidContentLength,
                "{:?}",
                String::from_utf8_lossy(case)
            );
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn chunked_framing() {
        let head = ok(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(head.body, BodyKind::Chunked);
        assert_eq!(
            ok(b"POST / HTTP/1.1\r\nHost: h\r\ntransfer-encoding:  CHUNKED \r\n\r\n").body,
            BodyKind::Chunked
        );
    }

    #[test]
    fn smuggling_transfer_encoding_cases_are_400() {
        let cases: &[(&[u8], ParseError)] = &[
            (
                b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
                ParseError::ContentLengthWithTransferEncoding,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n",
                ParseError::ContentLengthWithTransferEncoding,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
                ParseError::ContentLengthWithTransferEncoding,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                ParseError::UnsupportedTransferEncoding,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                ParseError::UnsupportedTransferEncoding,
            ),
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", ParseError::UnsupportedTransferEncoding),
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n", ParseError::UnsupportedTransferEncoding),
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\n\r\n", ParseError::UnsupportedTransferEncoding),
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked,\r\n\r\n", ParseError::UnsupportedTransferEncoding),
            (
                b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
                ParseError::UnsupportedTransferEncoding,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                ParseError::UnsupportedTransferEncoding,
            ),
            (
                b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
                ParseError::UnsupportedTransferEncoding,
            ),
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", ParseError::UnsupportedTransferEncoding),
            (
                b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;q=1\r\n\r\n",
                ParseError::UnsupportedTransferEncoding,
            ),
            (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", ParseError::TransferEncodingInHttp10),
            // Whitespace before the colon is the classic `Transfer-Encoding : chunked` trick.
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n", ParseError::BadHeader),
            // An obs-folded value (`Transfer-Encoding:\r\n chunked`).
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", ParseError::BadHeader),
            // Control characters inside a value.
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \x0bchunked\r\n\r\n", ParseError::BadHeader),
        ];
        for (case, expected) in cases {
            let e = err(case);
            assert_eq!(e, *expected, "{:?}", String::from_utf8_lossy(case));
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn malformed_syntax_is_400() {
        let cases: &[(&[u8], ParseError)] = &[
            (
                b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
                ParseError::InvalidMethod,
            ),
            (
                b" GET / HTTP/1.1\r\nHost: h\r\n\r\n",
                ParseError::InvalidMethod,
            ),
            (
                b"GE\x00T / HTTP/1.1\r\nHost: h\r\n\r\n",
                ParseError::InvalidMethod,
            ),
            (
                b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
                ParseError::BadRequestLine,
            ),
            (
                b"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n",
                ParseError::BadRequestLine,
            ),
            (
                b"GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n",
                ParseError::BadRequestLine,
            ),
            (
                b"GET /\xff HTTP/1.1\r\nHost: h\r\n\r\n",
                ParseError::BadRequestLine,
            ),
            (b"GET / HTTP/1.1 \r\n\r\n", ParseError::InvalidLineEnding),
            (b"GET / HTTX/1.1\r\n\r\n", ParseError::BadRequestLine),
            (b"GET / http/1.1\r\n\r\n", ParseError::BadRequestLine),
            (b"GET / HTTP/1.x\r\n\r\n", ParseError::BadRequestLine),
            (b"GET / HTTP/1x1\r\n\r\n", ParseError::BadRequestLine),
            // obs-fold (a header line starting with SP or HTAB).
            (
                b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n",
                ParseError::BadHeader,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\tb\r\n\r\n",
                ParseError::BadHeader,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: h\r\n Host: a\r\n\r\n",
                ParseError::BadHeader,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: h\r\n: empty-name\r\n\r\n",
                ParseError::BadHeader,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: h\r\nNo-Colon\r\n\r\n",
                ParseError::BadHeader,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n",
                ParseError::BadHeader,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n",
                ParseError::BadHeader,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: h\r\nX(A): a\r\n\r\n",
                ParseError::BadHeader,
            ),
            // Bare LF anywhere in the head.
            (b"GET / HTTP/1.1\n\n", ParseError::InvalidLineEnding),
            (
                b"GET / HTTP/1.1\nHost: a\r\n\r\n",
                ParseError::InvalidLineEnding,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\n\r\n",
                ParseError::InvalidLineEnding,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\n\n",
                ParseError::InvalidLineEnding,
            ),
            (
                b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
                ParseError::InvalidLineEnding,
            ),
            // A CR that is not followed by LF.
            (
                b"\rGET / HTTP/1.1\r\nHost: h\r\n\r\n",
                ParseError::InvalidLineEnding,
            ),
            (
                b"GET / HTTP/1.1\rHost: a\r\n\r\n",
                ParseError::InvalidLineEnding,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\n\rX",
                ParseError::InvalidLineEnding,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                ParseError::DuplicateHost,
            ),
        ];
        for (case, expected) in cases {
            let e = err(case);
            assert_eq!(e, *expected, "{:?}", String::from_utf8_lossy(case));
            assert_eq!(e.status(), 400);
        }
    }

    #[test]
    fn other_versions_are_505() {
        for case in [
            &b"GET / HTTP/2.0\r\n\r\n"[..],
            b"GET / HTTP/0.9\r\n\r\n",
            b"GET / HTTP/3\r\n\r\n",
            b"GET / HTTP/2",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ] {
            let e = err(case);
            assert_eq!(
                e,
                ParseError::VersionNotSupported,
                "{:?}",
                String::from_utf8_lossy(case)
            );
            assert_eq!(e.status(), 505);
        }
        // Partial but still possibly 1.x: wait.
        assert_eq!(parse(b"GET / HTTP/1"), Ok(None));
        assert_eq!(parse(b"GET / HTTP/1."), Ok(None));
    }

    #[test]
    fn version_syntax() {
        for yes in [
            &b"HTTP/2"[..],
            b"HTTP/2.",
            b"HTTP/2.0",
            b"HTTP/1.2",
            b"HTTP/10.10",
            b"HTTP/0.9",
        ] {
            assert!(is_http_version_syntax(yes), "{yes:?}");
        }
        for no in [
            &b"HTTP/"[..],
            b"HTTP/1.",
            b"HTTP/1.x",
            b"HTTP/1x",
            b"HTTP/x",
            b"HTTPS/1.1",
            b"http/2",
        ] {
            assert!(!is_http_version_syntax(no), "{no:?}");
        }
    }

    #[test]
    fn long_target_is_414() {
        let limits = Limits::default();
        let mut buf = b"GET /".to_vec();
        buf.resize(4 + limits.max_uri_bytes + 1, b'a');
        buf.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(err(&buf), ParseError::UriTooLong);
        assert_eq!(err(&buf).status(), 414);

        // Exactly at the limit is fine.
        let mut buf = b"GET /".to_vec();
        buf.resize(4 + limits.max_uri_bytes, b'a');
        buf.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(ok(&buf).target.len(), limits.max_uri_bytes);
    }

    #[test]
    fn long_target_is_414_before_the_line_completes() {
        let limits = Limits::default();
        let mut buf = b"GET /".to_vec();
        buf.resize(limits.max_uri_bytes + REQUEST_LINE_SLACK, b'a');
        assert_eq!(parse(&buf), Ok(None));
        buf.push(b'a');
        assert_eq!(err(&buf), ParseError::UriTooLong);

        // Target complete but too long, head still incomplete.
        let mut buf = b"GET /".to_vec();
        buf.resize(4 + limits.max_uri_bytes + 1, b'a');
        buf.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n");
        assert_eq!(err(&buf), ParseError::UriTooLong);
    }

    #[test]
    fn small_uri_limit() {
        let limits = Limits {
            max_uri_bytes: 10,
            ..Limits::default()
        };
        let ok_case = b"GET /123456789 HTTP/1.1\r\nHost: h\r\n\r\n";
        assert!(parse_request_head(ok_case, &limits).unwrap().is_some());
        let bad = b"GET /1234567890 HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(
            parse_request_head(bad, &limits),
            Err(ParseError::UriTooLong)
        );
        assert_prefixes_consistent(bad, &limits);
        let early = [b'a'; 10 + REQUEST_LINE_SLACK + 1];
        assert_eq!(
            parse_request_head(&early, &limits),
            Err(ParseError::UriTooLong)
        );
    }

    #[test]
    fn big_head_is_431() {
        let limits = Limits::default();
        // Incomplete and already over the limit.
        let mut buf = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: ".to_vec();
        buf.resize(limits.max_head_bytes - 1, b'v');
        assert_eq!(parse(&buf), Ok(None));
        buf.push(b'v');
        assert_eq!(err(&buf), ParseError::HeadTooLarge);
        assert_eq!(err(&buf).status(), 431);
        // Complete, but longer than the limit.
        buf.extend_from_slice(b"\r\n\r\n");
        assert_eq!(err(&buf), ParseError::HeadTooLarge);
    }

    #[test]
    fn head_exactly_at_the_limit_is_accepted() {
        let base = b"GET / HTTP/1.1\r\nHost: h\r\nX: \r\n\r\n";
        let limits = Limits {
            max_head_bytes: base.len() + 10,
            ..Limits::default()
        };
        let buf = b"GET / HTTP/1.1\r\nHost: h\r\nX: 0123456789\r\n\r\nbody-bytes-beyond-the-limit";
        let head = parse_request_head(buf, &limits).unwrap().unwrap();
        assert_eq!(head.head_len, limits.max_head_bytes);
        let over = b"GET / HTTP/1.1\r\nHost: h\r\nX: 0123456789a\r\n\r\n";
        assert_eq!(
            parse_request_head(over, &limits),
            Err(ParseError::HeadTooLarge)
        );
        assert_prefixes_consistent(over, &limits);
    }

    #[test]
    fn too_many_headers_is_431() {
        let mut buf = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        for i in 1..100 {
            buf.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        let mut complete = buf.clone();
        complete.extend_from_slice(b"\r\n");
        assert_eq!(ok(&complete).headers.len(), 100);

        buf.extend_from_slice(b"X-100: v\r\n");
        // Detected as soon as the 101st line is complete.
        assert_eq!(err(&buf), ParseError::TooManyHeaders);
        assert_eq!(err(&buf).status(), 431);
    }

    #[test]
    fn max_headers_is_clamped_to_the_cap() {
        let limits = Limits {
            max_headers: 10_000,
            max_head_bytes: 1 << 20,
            ..Limits::default()
        };
        let mut buf = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        for i in 0..=MAX_HEADERS_CAP {
            buf.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        assert_eq!(
            parse_request_head(&buf, &limits),
            Err(ParseError::TooManyHeaders)
        );

        let zero = Limits {
            max_headers: 0,
            ..Limits::default()
        };
        assert!(
            parse_request_head(b"GET / HTTP/1.0\r\n\r\n", &zero)
                .unwrap()
                .is_some()
        );
        assert_eq!(
            parse_request_head(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", &zero),
            Err(ParseError::TooManyHeaders)
        );
    }

    #[test]
    fn empty_input_waits() {
        assert_eq!(parse(b""), Ok(None));
        assert_eq!(parse(b"\r\n"), Ok(None));
        assert_eq!(
            parse_request_head(
                b"",
                &Limits {
                    max_head_bytes: 0,
                    ..Limits::default()
                }
            ),
            Ok(None)
        );
    }

    #[test]
    fn errors_have_matching_reason_and_display() {
        let all = [
            ParseError::BadRequestLine,
            ParseError::InvalidMethod,
            ParseError::BadHeader,
            ParseError::InvalidLineEnding,
            ParseError::DuplicateHost,
            ParseError::MissingHost,
            ParseError::InvalidHost,
            ParseError::InvalidTarget,
            ParseError::InvalidContentLength,
            ParseError::ConflictingContentLength,
            ParseError::ContentLengthWithTransferEncoding,
            ParseError::UnsupportedTransferEncoding,
            ParseError::TransferEncodingInHttp10,
            ParseError::UriTooLong,
            ParseError::HeadTooLarge,
            ParseError::TooManyHeaders,
            ParseError::VersionNotSupported,
        ];
        for e in all {
            assert_eq!(e.to_string(), e.reason());
            assert!(matches!(e.status(), 400 | 414 | 431 | 505));
        }
    }

    #[test]
    fn a_fault_after_a_too_long_target_is_414_as_its_prefixes_are() {
        // Found by fuzz/http_head: a long target whose bytes are not UTF-8
        // (httparse refuses it only once the target ends) was 400, while a
        // prefix of it was already 414.
        let limits = Limits {
            max_uri_bytes: 64,
            ..Limits::default()
        };
        let mut line = b"GET /".to_vec();
        line.extend(std::iter::repeat_n(b'a', 200));
        line.extend_from_slice(b"\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            parse_request_head(&line, &limits),
            Err(ParseError::UriTooLong)
        );
        assert_prefix_consistent(&line, &limits);
        // A complete long target, then a bad version or a bad header.
        for tail in [
            &b" HTTP/9.9\r\n\r\n"[..],
            b" HTTP/1.1\r\nBad Header\r\n\r\n",
        ] {
            let mut req = b"GET /".to_vec();
            req.extend(std::iter::repeat_n(b'a', 100));
            req.extend_from_slice(tail);
            assert_eq!(
                parse_request_head(&req, &limits),
                Err(ParseError::UriTooLong)
            );
            assert_prefix_consistent(&req, &limits);
        }
        // Found by fuzz/http_head after the rebase: a method long enough to
        // keep the line open past the limit, then a short target and a bad
        // version: 414 in pieces, so 414 whole.
        let mut long_method = vec![b'G'; 200];
        long_method.extend_from_slice(b" /x HTTP/1x\r\n\r\n");
        assert_eq!(
            parse_request_head(&long_method, &limits),
            Err(ParseError::UriTooLong)
        );
        assert_prefix_consistent(&long_method, &limits);
        // A short target with the same faults keeps its own verdict.
        assert_eq!(
            parse_request_head(b"GET /\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n", &limits),
            Err(ParseError::BadRequestLine)
        );
    }

    #[test]
    fn later_minor_versions_are_http11() {
        let buf = b"GET /a HTTP/1.2\r\nHost: h\r\n\r\n";
        let head = ok(buf);
        assert_eq!(head.version, Version::Http11);
        assert_eq!(head.target_bytes(buf), b"/a");
        assert_eq!(header_value(buf, &head, "host"), Some(&b"h"[..]));
        assert_eq!(
            ok(b"GET / HTTP/1.9\r\nHost: h\r\n\r\n").version,
            Version::Http11
        );
        assert_eq!(parse(b"GET / HTTP/1.2"), Ok(None));
        assert_eq!(parse(b"GET / HTTP/1.2\r\nHost: h\r\n"), Ok(None));
        assert_prefix_consistent(buf, &Limits::default());
    }

    #[test]
    fn host_rules() {
        // RFC 9112 §3.2: HTTP/1.1 needs exactly one valid Host.
        assert_eq!(err(b"GET / HTTP/1.1\r\n\r\n"), ParseError::MissingHost);
        assert_eq!(
            err(b"GET / HTTP/1.1\r\nHost:\r\n\r\n"),
            ParseError::InvalidHost
        );
        assert_eq!(
            err(b"GET / HTTP/1.1\r\nHost: x/admin?\r\n\r\n"),
            ParseError::InvalidHost
        );
        assert_eq!(
            err(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
            ParseError::DuplicateHost
        );
        assert_eq!(
            err(b"GET / HTTP/1.0\r\nHost: a b\r\n\r\n"),
            ParseError::InvalidHost
        );
        // HTTP/1.0 may do without.
        assert_eq!(ok(b"GET / HTTP/1.0\r\n\r\n").authority, None);
        let buf = b"GET /p?q HTTP/1.1\r\nHost: h:81\r\n\r\n";
        let head = ok(buf);
        assert_eq!(head.authority.map(|a| a.get(buf)), Some(&b"h:81"[..]));
        assert_eq!(head.path.get(buf), b"/p?q");
        assert_eq!(head.form, TargetForm::Origin);
        // Absolute-form: the target's authority wins; Host must still be
        // there in HTTP/1.1 (it may be empty) and well formed.
        let buf = b"GET http://o.example/p HTTP/1.1\r\nHost:\r\n\r\n";
        let head = ok(buf);
        assert_eq!(head.authority.map(|a| a.get(buf)), Some(&b"o.example"[..]));
        assert_eq!(head.path.get(buf), b"/p");
        assert_eq!(
            err(b"GET http://o.example/p HTTP/1.1\r\n\r\n"),
            ParseError::MissingHost
        );
        assert_eq!(
            err(b"GET http://o.example/p HTTP/1.1\r\nHost: a/b\r\n\r\n"),
            ParseError::InvalidHost
        );
        // Forms against methods.
        assert_eq!(
            err(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n"),
            ParseError::InvalidTarget
        );
        assert_eq!(
            err(b"GET h:1 HTTP/1.1\r\nHost: h\r\n\r\n"),
            ParseError::InvalidTarget
        );
        assert_eq!(
            err(b"CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n"),
            ParseError::InvalidTarget
        );
        let head = ok(b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n");
        assert!(head.is_connect && head.form == TargetForm::Authority && head.path.is_empty());
        let head = ok(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(head.form == TargetForm::Asterisk && !head.is_connect && head.path.is_empty());
    }

    #[test]
    fn absolute_and_asterisk_forms() {
        let buf = b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_eq!(ok(buf).target_bytes(buf), b"*");
        let buf = b"GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n";
        assert_eq!(ok(buf).target_bytes(buf), b"http://example.com/x");
    }

    /// The verdicts of every prefix of `buf` must be prefix-consistent, as a
    /// connection reading the bytes in any chunking needs: "need more" until
    /// the first decisive verdict, then that same verdict for every longer
    /// prefix; a complete head is decided exactly where it ends.
    fn assert_prefix_consistent(buf: &[u8], limits: &Limits) {
        let mut decided: Option<(usize, Result<Option<ParsedHead>, ParseError>)> = None;
        for k in 0..=buf.len() {
            let verdict = parse_request_head(&buf[..k], limits);
            match &decided {
                None if verdict == Ok(None) => {}
                None => {
                    if let Ok(Some(head)) = &verdict {
                        assert_eq!(
                            head.head_len,
                            k,
                            "a head decided before its end, in {:?} with {limits:?}",
                            String::from_utf8_lossy(buf)
                        );
                    }
                    decided = Some((k, verdict));
                }
                Some((at, first)) => assert_eq!(
                    &verdict,
                    first,
                    "{:?} with {limits:?}: {} bytes gave {first:?}, {k} bytes {verdict:?}",
                    String::from_utf8_lossy(buf),
                    at
                ),
            }
        }
    }

    #[test]
    fn prefix_consistency_is_checked() {
        // The checker itself fails on a verdict that changes (a parser that
        // answered differently for a longer prefix would be caught).
        let buf = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        assert_prefix_consistent(buf, &Limits::default());
        let tight = Limits {
            max_head_bytes: 20,
            ..Limits::default()
        };
        assert_prefix_consistent(buf, &tight);
        assert_eq!(
            parse_request_head(buf, &tight),
            Err(ParseError::HeadTooLarge)
        );
    }

    #[test]
    fn a_limit_a_shorter_prefix_broke_wins_over_a_later_error() {
        // The target is complete and over the limit before a bad header
        // follows: 414 whether the bad byte came in the same read or later
        // (it used to be 414 for a short read and 400 for the whole head).
        let limits = Limits {
            max_uri_bytes: 1,
            ..Limits::default()
        };
        let buf = b"POST /p?q HTTP/1.1\r\nHost: h\r\nCont\0nt-Length: 3\r\n\r\n";
        assert_eq!(
            parse_request_head(&buf[..10], &limits),
            Err(ParseError::UriTooLong)
        );
        assert_eq!(
            parse_request_head(buf, &limits),
            Err(ParseError::UriTooLong)
        );
        assert_prefix_consistent(buf, &limits);
        // Still inside the target past the limit, then a byte httparse refuses.
        let limits = Limits {
            max_uri_bytes: 4,
            ..Limits::default()
        };
        let mut buf = b"GET /".to_vec();
        buf.resize(5 + REQUEST_LINE_SLACK + 10, b'a');
        buf.extend_from_slice(b"\0 HTTP/1.1\r\n\r\n");
        assert_eq!(
            parse_request_head(&buf, &limits),
            Err(ParseError::UriTooLong)
        );
        assert_prefix_consistent(&buf, &limits);
        // An error before the limit is reached stays that error.
        let buf = b"GET /a\0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\r\n";
        assert_eq!(
            parse_request_head(buf, &limits),
            Err(ParseError::BadRequestLine)
        );
        assert_prefix_consistent(buf, &limits);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small deterministic fuzz: mutations (one to four bytes) of a valid
        // head must give a verdict (any verdict) without panicking, and stay
        // prefix-consistent (200 000 rounds found nothing more).
        let base = b"POST /p?q HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc";
        let alphabet = b"\r\n :,\t\x00\x7fHTTP/1.0chunked-";
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut buf = base.to_vec();
            for m in 0..(1 + seed % 4) {
                let r = seed.rotate_left(16 * m as u32);
                let pos = (r % buf.len() as u64) as usize;
                buf[pos] = alphabet[((r >> 32) % alphabet.len() as u64) as usize];
            }
            let limits = Limits {
                max_head_bytes: 40 + (seed >> 50) as usize % 80,
                max_headers: (seed >> 20) as usize % 4,
                max_uri_bytes: (seed >> 40) as usize % 10,
            };
            assert_prefix_consistent(&buf, &limits);
            assert_prefix_consistent(&buf, &Limits::default());
        }
    }
}
