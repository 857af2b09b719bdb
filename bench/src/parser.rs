//! Minimal incremental HTTP/1.x response parser for the load generator.
//!
//! The head is parsed with `httparse`; bodies are *skipped* (only counted),
//! so nothing is allocated or copied per response. Supports
//! `Content-Length`, `Transfer-Encoding: chunked` (with extensions and
//! trailers), bodiless responses (1xx, 204, 304, replies to HEAD) and
//! read-until-close bodies. Interim 1xx responses (e.g. `100 Continue`) are
//! skipped and never reported as a completed response.

use std::fmt;

/// Maximum number of response headers accepted.
const MAX_HEADERS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// `httparse` rejected the response head.
    Head(httparse::Error),
    /// Malformed `Content-Length`.
    ContentLength,
    /// Malformed chunked framing.
    Chunked,
    /// `101 Switching Protocols` is not something a load generator speaks.
    Upgrade,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Head(e) => write!(f, "bad response head: {e}"),
            ParseError::ContentLength => f.write_str("bad content-length"),
            ParseError::Chunked => f.write_str("bad chunked encoding"),
            ParseError::Upgrade => f.write_str("unexpected 101 switching protocols"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Result of feeding bytes to the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// `consumed` bytes were used but no response completed. `consumed == 0`
    /// means more input is required before any progress can be made (an
    /// incomplete head: the caller must keep those bytes and append more).
    NeedMore { consumed: usize },
    /// A full response (head and body) ended after `consumed` bytes.
    Done {
        consumed: usize,
        status: u16,
        /// The server announced it will close the connection.
        close: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading the hex chunk size; `digits` counts hex digits seen.
    Size { value: u64, digits: u8 },
    /// Skipping a chunk extension up to CR.
    Ext { value: u64 },
    /// Expecting LF after the chunk-size line.
    SizeLf { value: u64 },
    /// Skipping chunk data.
    Data { remaining: u64 },
    /// Expecting CR (or bare LF) after chunk data.
    DataCr,
    /// Expecting LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Skipping a trailer field line up to LF.
    TrailerLine,
    /// Expecting the LF of the final empty line.
    FinalLf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Length { remaining: u64 },
    Chunked(Chunk),
    UntilClose,
}

/// Incremental response parser. One per connection; reused for every
/// response on it.
#[derive(Debug)]
pub struct Parser {
    state: State,
    status: u16,
    close: bool,
    /// The requests are HEAD requests: responses carry no body.
    head_method: bool,
    /// Total body bytes skipped (for tests and sanity checks).
    pub body_bytes: u64,
}

impl Parser {
    pub fn new(head_method: bool) -> Self {
        Parser {
            state: State::Head,
            status: 0,
            close: false,
            head_method,
            body_bytes: 0,
        }
    }

    /// Forget any partial response (after a reconnect).
    pub fn reset(&mut self) {
        self.state = State::Head;
        self.status = 0;
        self.close = false;
    }

    /// True if the parser sits between responses (no partial data pending).
    #[cfg(test)]
    pub fn at_boundary(&self) -> bool {
        self.state == State::Head
    }

    /// Feed bytes. In the head state nothing is consumed until the whole
    /// head is available; in body states everything available (up to the
    /// end of the response) is consumed.
    pub fn feed(&mut self, data: &[u8]) -> Result<Progress, ParseError> {
        match self.state {
            State::Head => self.parse_head(data),
            State::Length { remaining } => {
                let take = remaining.min(data.len() as u64);
                self.body_bytes += take;
                let remaining = remaining - take;
                if remaining == 0 {
                    Ok(self.finish(take as usize))
                } else {
                    self.state = State::Length { remaining };
                    Ok(Progress::NeedMore {
                        consumed: take as usize,
                    })
                }
            }
            State::Chunked(c) => self.chunked(c, data),
            State::UntilClose => {
                self.body_bytes += data.len() as u64;
                Ok(Progress::NeedMore {
                    consumed: data.len(),
                })
            }
        }
    }

    /// The peer closed the connection. Returns the status of a response
    /// whose body was delimited by the close, if one was in progress.
    pub fn eof(&mut self) -> Option<u16> {
        if self.state == State::UntilClose {
            self.state = State::Head;
            Some(self.status)
        } else {
            None
        }
    }

    fn finish(&mut self, consumed: usize) -> Progress {
        self.state = State::Head;
        Progress::Done {
            consumed,
            status: self.status,
            close: self.close,
        }
    }

    fn parse_head(&mut self, data: &[u8]) -> Result<Progress, ParseError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let head_len = match resp.parse(data) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(Progress::NeedMore { consumed: 0 }),
            Err(e) => return Err(ParseError::Head(e)),
        };
        let status = resp.code.unwrap_or(0);
        let version = resp.version.unwrap_or(1);

        let mut content_length: Option<u64> = None;
        let mut chunked = false;
        // HTTP/1.0 closes unless told otherwise; 1.1 keeps alive unless told otherwise.
        let mut close = version == 0;
        for h in resp.headers.iter() {
            let name = h.name.as_bytes();
            if name.eq_ignore_ascii_case(b"content-length") {
                let v = parse_decimal(h.value).ok_or(ParseError::ContentLength)?;
                if content_length.is_some_and(|old| old != v) {
                    return Err(ParseError::ContentLength);
                }
                content_length = Some(v);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                // Chunked only counts if it is the final coding.
                chunked = last_token_is(h.value, b"chunked");
            } else if name.eq_ignore_ascii_case(b"connection") {
                if has_token(h.value, b"close") {
                    close = true;
                } else if has_token(h.value, b"keep-alive") {
                    close = false;
                }
            }
        }

        if status == 101 {
            return Err(ParseError::Upgrade);
        }
        if (100..200).contains(&status) {
            // Interim response: skip it, the final one follows.
            return Ok(Progress::NeedMore { consumed: head_len });
        }

        self.status = status;
        self.close = close;
        if self.head_method || status == 204 || status == 304 {
            return Ok(self.finish(head_len));
        }
        if chunked {
            self.state = State::Chunked(Chunk::Size {
                value: 0,
                digits: 0,
            });
            return Ok(Progress::NeedMore { consumed: head_len });
        }
        match content_length {
            Some(0) => Ok(self.finish(head_len)),
            Some(n) => {
                self.state = State::Length { remaining: n };
                Ok(Progress::NeedMore { consumed: head_len })
            }
            None => {
                self.state = State::UntilClose;
                self.close = true;
                Ok(Progress::NeedMore { consumed: head_len })
            }
        }
    }

    fn chunked(&mut self, mut c: Chunk, data: &[u8]) -> Result<Progress, ParseError> {
        let mut i = 0;
        while i < data.len() {
            if let Chunk::Data { remaining } = c {
                let take = remaining.min((data.len() - i) as u64);
                self.body_bytes += take;
                i += take as usize;
                let remaining = remaining - take;
                c = if remaining == 0 {
                    Chunk::DataCr
                } else {
                    Chunk::Data { remaining }
                };
                continue;
            }
            let b = data[i];
            i += 1;
            c = match c {
                Chunk::Size { value, digits } => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        if digits >= 15 {
                            return Err(ParseError::Chunked);
                        }
                        let d = (b as char).to_digit(16).unwrap_or(0) as u64;
                        Chunk::Size {
                            value: value * 16 + d,
                            digits: digits + 1,
                        }
                    }
                    _ if digits == 0 => return Err(ParseError::Chunked),
                    b';' | b' ' | b'\t' => Chunk::Ext { value },
                    b'\r' => Chunk::SizeLf { value },
                    b'\n' => after_size(value),
                    _ => return Err(ParseError::Chunked),
                },
                Chunk::Ext { value } => match b {
                    b'\r' => Chunk::SizeLf { value },
                    b'\n' => after_size(value),
                    _ => Chunk::Ext { value },
                },
                Chunk::SizeLf { value } => {
                    if b != b'\n' {
                        return Err(ParseError::Chunked);
                    }
                    after_size(value)
                }
                Chunk::Data { .. } => unreachable!(),
                Chunk::DataCr => match b {
                    b'\r' => Chunk::DataLf,
                    b'\n' => Chunk::Size {
                        value: 0,
                        digits: 0,
                    },
                    _ => return Err(ParseError::Chunked),
                },
                Chunk::DataLf => {
                    if b != b'\n' {
                        return Err(ParseError::Chunked);
                    }
                    Chunk::Size {
                        value: 0,
                        digits: 0,
                    }
                }
                Chunk::TrailerStart => match b {
                    b'\r' => Chunk::FinalLf,
                    b'\n' => return Ok(self.finish(i)),
                    _ => Chunk::TrailerLine,
                },
                Chunk::TrailerLine => {
                    if b == b'\n' {
                        Chunk::TrailerStart
                    } else {
                        Chunk::TrailerLine
                    }
                }
                Chunk::FinalLf => {
                    if b != b'\n' {
                        return Err(ParseError::Chunked);
                    }
                    return Ok(self.finish(i));
                }
            };
        }
        self.state = State::Chunked(c);
        Ok(Progress::NeedMore { consumed: i })
    }
}

fn after_size(value: u64) -> Chunk {
    if value == 0 {
        Chunk::TrailerStart
    } else {
        Chunk::Data { remaining: value }
    }
}

fn parse_decimal(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (b - b'0') as u64;
    }
    Some(n)
}

fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

fn last_token_is(value: &[u8], token: &[u8]) -> bool {
    value
        .rsplit(|&b| b == b',')
        .next()
        .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// Per-connection receive buffer plus parser: bytes are appended at `end`,
/// complete responses are consumed from `start`. Only a partial response
/// head is ever kept (moved to the front); bodies are skipped in place.
pub struct RecvBuf {
    pub buf: Box<[u8]>,
    pub start: usize,
    pub end: usize,
    pub parser: Parser,
}

impl RecvBuf {
    pub fn new(capacity: usize, head_method: bool) -> Self {
        RecvBuf {
            buf: vec![0u8; capacity].into_boxed_slice(),
            start: 0,
            end: 0,
            parser: Parser::new(head_method),
        }
    }

    pub fn reset(&mut self) {
        self.start = 0;
        self.end = 0;
        self.parser.reset();
    }

    /// Free space to read into.
    pub fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.end..]
    }

    /// Parse everything buffered after `n` new bytes were written into
    /// `spare()`. Calls `on_response(status, close)` per completed response;
    /// if it returns `false`, parsing stops (the rest stays buffered).
    /// Errors if the data is malformed or a head does not fit the buffer.
    pub fn advance(
        &mut self,
        n: usize,
        mut on_response: impl FnMut(u16, bool) -> bool,
    ) -> Result<(), ParseError> {
        self.end += n;
        loop {
            match self.parser.feed(&self.buf[self.start..self.end])? {
                Progress::NeedMore { consumed: 0 } => break,
                Progress::NeedMore { consumed } => self.start += consumed,
                Progress::Done {
                    consumed,
                    status,
                    close,
                } => {
                    self.start += consumed;
                    if !on_response(status, close) {
                        break;
                    }
                }
            }
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.end == self.buf.len() {
            // Only a partial head can remain: move it to the front.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.start == 0 && self.end == self.buf.len() {
            return Err(ParseError::Head(httparse::Error::TooManyHeaders));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream of responses exercising every framing; returns
    /// (bytes, expected statuses, expected body bytes).
    fn sample_stream() -> (Vec<u8>, Vec<u16>, u64) {
        let mut s = Vec::new();
        let mut st = Vec::new();
        let mut body = 0u64;
        s.extend_from_slice(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nHello World",
        );
        st.push(200);
        body += 11;
        s.extend_from_slice(
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nHello\r\n\
              1A;name=value\r\nabcdefghijklmnopqrstuvwxyz\r\n\
              0\r\n\r\n",
        );
        st.push(201);
        body += 5 + 26;
        s.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        s.extend_from_slice(
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n\
              HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n",
        );
        st.extend([404, 204]);
        s.extend_from_slice(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
              a\r\n0123456789\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n",
        );
        st.push(200);
        body += 10 + 16;
        s.extend_from_slice(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n");
        st.push(304);
        s.extend_from_slice(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
        );
        st.push(500);
        body += 3;
        (s, st, body)
    }

    /// Feed `stream` in the given pieces through a RecvBuf of `cap` bytes.
    fn run_pieces(pieces: &[&[u8]], cap: usize) -> (Vec<(u16, bool)>, u64) {
        let mut rb = RecvBuf::new(cap, false);
        let mut out = Vec::new();
        for p in pieces {
            let mut p = *p;
            while !p.is_empty() {
                let spare = rb.spare();
                let n = spare.len().min(p.len());
                assert!(n > 0, "buffer full");
                spare[..n].copy_from_slice(&p[..n]);
                p = &p[n..];
                rb.advance(n, |s, c| {
                    out.push((s, c));
                    true
                })
                .expect("parse");
            }
        }
        assert!(rb.parser.at_boundary());
        assert_eq!(rb.start, rb.end);
        (out, rb.parser.body_bytes)
    }

    #[test]
    fn split_at_every_byte_boundary() {
        let (s, statuses, body) = sample_stream();
        for split in 0..=s.len() {
            let (a, b) = s.split_at(split);
            let (out, got_body) = run_pieces(&[a, b], 4096);
            let got: Vec<u16> = out.iter().map(|r| r.0).collect();
            assert_eq!(got, statuses, "split at {split}");
            assert_eq!(got_body, body, "split at {split}");
            assert!(out.last().unwrap().1, "connection: close seen");
            assert!(!out[0].1);
        }
    }

    #[test]
    fn byte_by_byte_and_small_buffer() {
        let (s, statuses, body) = sample_stream();
        let pieces: Vec<&[u8]> = s.chunks(1).collect();
        let (out, got_body) = run_pieces(&pieces, 4096);
        assert_eq!(out.iter().map(|r| r.0).collect::<Vec<_>>(), statuses);
        assert_eq!(got_body, body);
        // A buffer barely larger than the largest head forces compaction.
        for cap in [80usize, 97, 128] {
            for split in 0..=s.len() {
                let (a, b) = s.split_at(split);
                let (out, got_body) = run_pieces(&[a, b], cap);
                assert_eq!(out.iter().map(|r| r.0).collect::<Vec<_>>(), statuses);
                assert_eq!(got_body, body);
            }
        }
    }

    #[test]
    fn chunked_split_every_boundary_three_pieces() {
        let s: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              3;a=b\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n";
        for i in 0..=s.len() {
            for j in i..=s.len() {
                let (out, body) = run_pieces(&[&s[..i], &s[i..j], &s[j..]], 256);
                assert_eq!(out, vec![(200, false)], "split {i}/{j}");
                assert_eq!(body, 5);
            }
        }
    }

    #[test]
    fn rejects_garbage() {
        let mut p = Parser::new(false);
        assert!(p.feed(b"NOT HTTP\r\n\r\n").is_err());
        let mut p = Parser::new(false);
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(matches!(
            p.feed(head),
            Ok(Progress::NeedMore { consumed }) if consumed == head.len()
        ));
        assert!(p.feed(b"zz\r\n").is_err());
        let mut p = Parser::new(false);
        assert!(
            p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n")
                .is_err()
        );
    }

    #[test]
    fn head_method_and_until_close() {
        let mut p = Parser::new(true);
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n";
        assert_eq!(
            p.feed(r).unwrap(),
            Progress::Done {
                consumed: r.len(),
                status: 200,
                close: false
            }
        );
        let mut p = Parser::new(false);
        let r = b"HTTP/1.0 200 OK\r\n\r\n";
        assert_eq!(p.feed(r).unwrap(), Progress::NeedMore { consumed: r.len() });
        assert_eq!(p.feed(b"body").unwrap(), Progress::NeedMore { consumed: 4 });
        assert_eq!(p.eof(), Some(200));
        assert_eq!(p.body_bytes, 4);
    }
}
